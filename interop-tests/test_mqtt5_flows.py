"""MQTT 5 features one by one against `starling bridge`, where paho hides the packets: QoS 2 flows both ways
with redelivery after reconnect (PUBLISH with DUP, then PUBREL), session expiry (at its end, and set to 0 on
DISCONNECT), server-side DISCONNECT with a reason code and a reason string (session take-over, receive maximum
exceeded, topic alias out of range), root wildcards and `$` topics (live and retained), and per-user
publish/subscribe permissions from the configuration (paho, both protocol versions). A raw client speaks the
packets itself so that each step can be checked byte for byte."""
import socket
import struct
import time

import paho.mqtt.client as mqtt
import pytest

from mqtt_helpers import Client, inside, start_bridge, start_config_bridge

PORT = 1883


@pytest.fixture
def bridge(netns, starling_bin):
    start_bridge(netns, starling_bin, "--receive-maximum", "4")
    with inside(netns):
        yield netns


# ---- a raw MQTT 5 client ---------------------------------------------------------------------

def varint(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


class Raw:
    """A blocking MQTT 5 client on a raw socket; `read()` returns (type, flags, body) of the next packet."""

    def __init__(self, client_id, clean=True, expiry=None, receive_max=None):
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        self.buf = b""
        p = b""
        if expiry is not None:
            p += b"\x11" + struct.pack(">I", expiry)
        if receive_max is not None:
            p += b"\x21" + struct.pack(">H", receive_max)
        flags = 0x02 if clean else 0x00
        body = utf8("MQTT") + bytes([5, flags]) + struct.pack(">H", 60) + props(p) + utf8(client_id)
        self.sock.sendall(packet(0x10, body))
        t, _, b = self.read()
        assert t == 2, (t, b)
        self.session_present = bool(b[0] & 1)
        assert b[1] == 0, b

    def read(self, timeout=10.0):
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 2:
                n, mult, i = 0, 1, 1
                while i < len(self.buf):
                    n += (self.buf[i] & 0x7F) * mult
                    mult *= 128
                    if not self.buf[i] & 0x80:
                        break
                    i += 1
                else:
                    i = None
                if i is not None and len(self.buf) >= i + 1 + n:
                    first, body = self.buf[0], self.buf[i + 1:i + 1 + n]
                    self.buf = self.buf[i + 1 + n:]
                    return first >> 4, first & 0x0F, body
            d = self.sock.recv(65536)
            if not d:
                return None
            self.buf += d

    def expect(self, ptype, timeout=10.0):
        """The next packet, which must be of `ptype`."""
        p = self.read(timeout)
        assert p is not None and p[0] == ptype, (ptype, p)
        return p

    def quiet(self, wait=0.5):
        """True if nothing arrives within `wait` seconds."""
        try:
            self.read(wait)
        except socket.timeout:
            return True
        return False

    def subscribe(self, topic, qos, pkid=1):
        self.sock.sendall(packet(0x82, struct.pack(">H", pkid) + props() + utf8(topic) + bytes([qos])))
        t, _, b = self.expect(9)
        assert struct.unpack(">H", b[:2])[0] == pkid and b[-1] == qos, b

    def publish(self, topic, payload, qos, pkid=0, dup=False, extra_props=b""):
        first = 0x30 | (qos << 1) | (0x08 if dup else 0)
        body = utf8(topic) + (struct.pack(">H", pkid) if qos else b"") + props(extra_props) + payload
        self.sock.sendall(packet(first, body))

    def ack(self, ptype, pkid):
        flags = 0x02 if ptype == 6 else 0x00
        self.sock.sendall(packet((ptype << 4) | flags, struct.pack(">H", pkid)))

    def disconnect(self, expiry=None):
        """DISCONNECT, then wait (bounded) until the bridge has closed the connection: by then it has detached
        the session, so a reconnect that follows cannot overtake the DISCONNECT."""
        p = b"" if expiry is None else b"\x11" + struct.pack(">I", expiry)
        self.sock.sendall(packet(0xE0, b"\x00" + props(p)))
        self.sock.settimeout(10)
        try:
            while self.sock.recv(4096):
                pass
        except OSError:
            pass
        self.sock.close()

    def drop(self):
        self.sock.close()


def parse_publish(flags, body):
    """(qos, dup, topic, pkid, payload) of a v5 PUBLISH body."""
    qos, dup = (flags >> 1) & 3, bool(flags & 8)
    n = struct.unpack(">H", body[:2])[0]
    topic, rest = body[2:2 + n].decode(), body[2 + n:]
    pkid = None
    if qos:
        pkid, rest = struct.unpack(">H", rest[:2])[0], rest[2:]
    plen, i, mult = 0, 0, 1
    while True:
        plen += (rest[i] & 0x7F) * mult
        mult *= 128
        i += 1
        if not rest[i - 1] & 0x80:
            break
    return qos, dup, topic, pkid, rest[i + plen:]


def resp(body):
    """(pkid, reason) of PUBACK/PUBREC/PUBREL/PUBCOMP (reason 0 when left out)."""
    return struct.unpack(">H", body[:2])[0], (body[2] if len(body) > 2 else 0)


def disconnect_reason(body):
    """(reason code, reason string or None) of a v5 DISCONNECT body."""
    code = body[0] if body else 0
    text = None
    if len(body) > 1:
        plen, i, mult = 0, 1, 1
        while True:
            plen += (body[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if not body[i - 1] & 0x80:
                break
        p, end = i, i + plen
        while p < end:
            pid = body[p]
            if pid == 0x1F:
                n = struct.unpack(">H", body[p + 1:p + 3])[0]
                text = body[p + 3:p + 3 + n].decode()
                p += 3 + n
            elif pid == 0x26:
                n = struct.unpack(">H", body[p + 1:p + 3])[0]
                m = struct.unpack(">H", body[p + 3 + n:p + 5 + n])[0]
                p += 5 + n + m
            else:
                break
    return code, text


# ---- QoS 2 both ways, with reconnects ---------------------------------------------------------

def test_qos2_outbound_redelivered_then_pubrel_resent_after_reconnect(bridge):
    s = Raw("q2-sub", clean=True, expiry=300)
    s.subscribe("q2/out", 2)
    p = Client(5, "q2-pub")
    p.pub("q2/out", b"once", qos=2)
    qos, dup, topic, pkid, payload = parse_publish(*s.expect(3)[1:])
    assert (qos, dup, topic, payload) == (2, False, "q2/out", b"once")
    s.drop()  # no PUBREC: the PUBLISH is redelivered with DUP on the resumed session
    s = Raw("q2-sub", clean=False, expiry=300)
    assert s.session_present
    qos, dup, topic, pkid2, payload = parse_publish(*s.expect(3)[1:])
    assert (qos, dup, pkid2, payload) == (2, True, pkid, b"once")
    s.ack(5, pkid)  # PUBREC
    assert resp(s.expect(6)[2]) == (pkid, 0)  # PUBREL
    s.drop()  # no PUBCOMP: after reconnecting the bridge resends PUBREL, not the message
    s = Raw("q2-sub", clean=False, expiry=300)
    assert s.session_present
    assert resp(s.expect(6)[2]) == (pkid, 0)
    s.ack(7, pkid)  # PUBCOMP ends the exchange
    assert s.quiet(1.0)
    s.disconnect()
    p.close()


def test_qos2_inbound_state_survives_reconnect(bridge):
    sub = Client(5, "q2-watch")
    sub.sub("q2/in", 2)
    c = Raw("q2-in", clean=True, expiry=300)
    c.publish("q2/in", b"first", qos=2, pkid=7)
    assert resp(c.expect(5)[2]) == (7, 0)  # PUBREC
    c.drop()  # before PUBREL
    c = Raw("q2-in", clean=False, expiry=300)
    assert c.session_present
    # The client resends PUBREL: the bridge still knows packet id 7 (0x92 would mean it forgot).
    c.ack(6, 7)
    assert resp(c.expect(7)[2]) == (7, 0)
    # A PUBLISH sent and then resent with DUP after a reconnect is routed once.
    c.publish("q2/in", b"second", qos=2, pkid=8)
    c.drop()
    c = Raw("q2-in", clean=False, expiry=300)
    c.publish("q2/in", b"second", qos=2, pkid=8, dup=True)
    assert resp(c.expect(5)[2]) == (8, 0)
    c.ack(6, 8)
    assert resp(c.expect(7)[2]) == (8, 0)
    got = sub.collect(2, timeout=10, settle=1.0)
    assert [m.payload for m in got] == [b"first", b"second"]
    c.disconnect()
    sub.close()


# ---- session expiry -------------------------------------------------------------------------------

def test_session_expiry_interval_ends_the_session(bridge):
    s = Raw("exp-sub", clean=True, expiry=1)
    s.subscribe("exp/t", 1)
    s.drop()
    p = Client(5, "exp-pub")
    p.pub("exp/t", b"while-offline", qos=1)
    # The interval (1 s) is the input here: well after it, the session and its queued message are gone.
    time.sleep(3.0)
    s = Raw("exp-sub", clean=False, expiry=1)
    assert not s.session_present
    assert s.quiet(1.0)
    s.disconnect()
    p.close()


def test_session_expiry_set_to_zero_on_disconnect(bridge):
    s = Raw("exp0", clean=True, expiry=300)
    s.subscribe("exp0/t", 1)
    s.disconnect(expiry=0)
    s = Raw("exp0", clean=False, expiry=300)
    assert not s.session_present
    s.disconnect()
    # And an interval kept on DISCONNECT keeps the session.
    s = Raw("exp1", clean=True, expiry=300)
    s.subscribe("exp1/t", 1)
    s.disconnect()
    s = Raw("exp1", clean=False, expiry=300)
    assert s.session_present
    s.disconnect()


# ---- server-side DISCONNECT with reason code and reason string ------------------------------------

def test_session_taken_over_disconnect_reason(bridge):
    a = Raw("twin")
    b = Client(5, "twin")
    code, text = disconnect_reason(a.expect(14)[2])
    assert code == 0x8E and text == "session taken over", (code, text)
    b.close()


def test_receive_maximum_exceeded_disconnect_reason(bridge):
    # The bridge advertises Receive Maximum 4 (--receive-maximum 4): a fifth unreleased QoS 2 PUBLISH is too many.
    c = Raw("rm-in")
    for i in range(1, 6):
        c.publish("rm/in", b"x", qos=2, pkid=i)
    for i in range(1, 5):
        assert resp(c.expect(5)[2]) == (i, 0x10)  # no matching subscribers
    code, text = disconnect_reason(c.expect(14)[2])
    assert code == 0x93 and text == "receive maximum exceeded", (code, text)
    assert c.read(5) is None


def test_topic_alias_out_of_range_disconnect_reason(bridge):
    c = Raw("alias-bad")
    c.publish("a/b", b"x", qos=0, extra_props=b"\x23" + struct.pack(">H", 0))
    code, text = disconnect_reason(c.expect(14)[2])
    assert code == 0x94 and text, (code, text)


# ---- root wildcards and `$` topics ------------------------------------------------------------------

@pytest.mark.parametrize("v", [4, 5], ids=["3.1.1", "5.0"])
def test_root_wildcards_skip_dollar_topics_live_and_retained(bridge, v):
    p = Client(v, "dollar-pub")
    p.pub("$internal/state", b"kept", qos=1, retain=True)
    p.pub("plain/state", b"kept", qos=1, retain=True)
    s = Client(v, "dollar-sub")
    s.sub("#", 1)
    s.sub("+/state", 1)
    d = Client(v, "dollar-explicit")
    d.sub("$internal/+", 1)
    p.pub("$internal/live", b"1", qos=1)
    p.pub("plain/live", b"2", qos=1)
    # The retained "plain/state" comes once per SUBSCRIBE (two), the live "plain/live" once (one delivery per
    # client); no `$` topic comes through a root wildcard, live or retained.
    got = s.collect(3, timeout=10, settle=1.0)
    topics = sorted(m.topic for m in got)
    assert topics == ["plain/live", "plain/state", "plain/state"], topics
    assert sorted(m.topic for m in d.collect(2, timeout=10, settle=0.5)) == ["$internal/live", "$internal/state"]
    for c in (p, s, d):
        c.close()


# ---- per-user permissions --------------------------------------------------------------------------

def _guest_hash():
    import os
    import re
    xml = open(os.path.join(os.path.dirname(__file__), "..", "examples", "bridge.xml")).read()
    return re.search(r'<user name="guest" password_hash="([^"]+)"', xml).group(1)


@pytest.mark.parametrize("v", [4, 5], ids=["3.1.1", "5.0"])
def test_per_user_publish_subscribe_permissions(netns, starling_bin, tmp_path, v):
    h = _guest_hash()
    cfg = f"""<starling_bridge>
  <listener protocol="mqtt" address="127.0.0.1:{PORT}"/>
  <anonymous allowed="false"/>
  <users>
    <user name="sensor" password_hash="{h}" publish="sensors/#" subscribe="cmd/#"/>
    <user name="admin" password_hash="{h}"/>
  </users>
</starling_bridge>"""
    start_config_bridge(netns, starling_bin, tmp_path, cfg, [PORT])
    with inside(netns):
        anon = Client(v, f"anon-{v}", expect_refusal=True)
        assert anon.rc.value in (4, 5, 0x86, 0x87), anon.rc
        admin = Client(v, f"admin-{v}", login=("admin", "guest"))
        admin.sub("#", 1)
        sensor = Client(v, f"sensor-{v}", login=("sensor", "guest"))
        granted = []
        sensor.c.on_subscribe = lambda c, u, mid, rcs, p: granted.append([r.value for r in rcs])
        for topic in ("cmd/#", "sensors/#"):
            r, _ = sensor.c.subscribe(topic, 1)
            assert r == mqtt.MQTT_ERR_SUCCESS
        deadline = time.monotonic() + 10
        while len(granted) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert granted == [[1], [0x87 if v == 5 else 0x80]], granted
        acks = []
        sensor.c.on_publish = lambda c, u, mid, rc, p: acks.append((mid, rc.value))
        ok = sensor.c.publish("sensors/t1", b"21.5", qos=1)
        denied = sensor.c.publish("cmd/reboot", b"now", qos=1)
        ok.wait_for_publish(10)
        denied.wait_for_publish(10)
        if v == 5:
            assert dict(acks) == {ok.mid: 0, denied.mid: 0x87}, acks
        admin.pub("cmd/reboot", b"from-admin", qos=1)
        assert [(m.topic, m.payload) for m in sensor.collect(1, timeout=10, settle=0.5)] == [
            ("cmd/reboot", b"from-admin")]
        seen = [(m.topic, m.payload) for m in admin.collect(2, timeout=10, settle=1.0)]
        assert seen == [("sensors/t1", b"21.5"), ("cmd/reboot", b"from-admin")], seen
        sensor.close()
        admin.close()


# ---- slow clients: overflow policy, counted and published in $SYS -----------------------------------

def test_slow_qos1_client_disconnected_and_counted_in_sys(netns, starling_bin):
    """A QoS 1 subscriber that acknowledges nothing (Receive Maximum 1) with a per-client queue of 4: the bridge
    disconnects it with 0x97 (Quota exceeded) and a reason string, other clients carry on, and the disconnect
    is counted in the retained `$SYS/starling/mqtt/quota_disconnects` counter."""
    start_bridge(netns, starling_bin, "--queue-capacity", "4", "--sys-interval", "1")
    with inside(netns):
        # Each subscription at most three counters: the watcher's own queue holds 4 messages too.
        watch = Client(5, "sys-watch")
        for name in ("quota_disconnects", "connections", "messages_in"):
            watch.sub(f"$SYS/starling/mqtt/{name}", 0)
        fast = Client(5, "fast")
        fast.sub("slow/t", 1)
        slow = Raw("slow", receive_max=1)
        slow.subscribe("slow/t", 1)
        p = Client(5, "slow-pub")
        for i in range(10):
            p.pub("slow/t", b"%d" % i, qos=1)
        kinds = []
        while True:
            pkt = slow.read(10)
            assert pkt is not None, kinds
            kinds.append(pkt[0])
            if pkt[0] == 14:
                break
        assert kinds[0] == 3 and kinds.count(3) == 1, kinds  # one PUBLISH (window 1), then DISCONNECT
        code, text = disconnect_reason(pkt[2])
        assert code == 0x97 and text == "outbound queue full", (code, text)
        assert [m.payload for m in fast.collect(10, timeout=10)] == [b"%d" % i for i in range(10)]
        deadline = time.monotonic() + 15
        seen = {}

        def done():
            return (seen.get("quota_disconnects") == b"1" and int(seen.get("connections", 0)) >= 4
                    and int(seen.get("messages_in", 0)) >= 10)

        while not done() and time.monotonic() < deadline:
            try:
                m = watch.get(timeout=1.0)
            except Exception:
                continue
            seen[m.topic.rsplit("/", 1)[1]] = m.payload
        assert done(), seen
        for c in (watch, fast, p):
            c.close()
