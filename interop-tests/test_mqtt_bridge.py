"""`starling bridge` as an MQTT broker for paho-mqtt clients (3.1.1 and 5.0), in a private namespace."""
import os
import queue
import socket
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest

from mqtt_helpers import Client, inside, start_bridge, wait_port
from shapes import starling_argv

VERSIONS = pytest.mark.parametrize("v", [4, 5], ids=["3.1.1", "5.0"])


@pytest.fixture
def bridge(netns, starling_bin):
    start_bridge(netns, starling_bin)
    with inside(netns):
        yield netns


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pubsub_qos(bridge, v, qos):
    s = Client(v, "s")
    s.sub("a/b", qos)
    p = Client(v, "p")
    for i in range(20):
        p.pub("a/b", b"m%d" % i, qos=qos)
    got = [s.get() for _ in range(20)]
    assert [m.payload for m in got] == [b"m%d" % i for i in range(20)]
    assert all(m.qos == qos for m in got)
    p.close()
    s.close()


@VERSIONS
def test_retained(bridge, v):
    p = Client(v, "p")
    p.pub("r/1", b"one", qos=1, retain=True)
    p.pub("r/2", b"two", qos=1, retain=True)
    p.pub("r/2", b"", qos=1, retain=True)  # clears
    s = Client(v, "s")
    s.sub("r/#", 1)
    got = s.drain()
    assert [(m.topic, m.payload, m.retain) for m in got] == [("r/1", b"one", True)]
    p.pub("r/1", b"live", qos=1, retain=True)
    m = s.get()
    assert m.payload == b"live" and not m.retain


@VERSIONS
def test_will_on_abnormal_close_not_on_disconnect(bridge, v):
    w = Client(v, "watch")
    w.sub("will/#", 1)
    a = Client(v, "a", will=("will/a", b"a-gone", 1))
    a.close()
    assert w.drain() == []
    b = Client(v, "b", will=("will/b", b"b-gone", 1))
    b.drop()
    assert w.get().payload == b"b-gone"


def test_will_delay_v5(bridge):
    w = Client(5, "watch")
    w.sub("will/#", 1)
    wp = mqtt.Properties(mqtt.PacketTypes.WILLMESSAGE)
    wp.WillDelayInterval = 2
    c = Client(5, "c", will=("will/c", b"late", 1, wp), session_expiry=60)
    t0 = time.time()
    c.drop()
    m = w.get(timeout=5)
    assert m.payload == b"late" and time.time() - t0 >= 1.8
    # Reconnecting within the delay cancels the will.
    d = Client(5, "d", will=("will/d", b"never", 1, wp), session_expiry=60)
    d.drop()
    time.sleep(0.5)
    d2 = Client(5, "d", clean=False, session_expiry=60)
    assert d2.session_present
    assert w.drain(2.5) == []


@VERSIONS
def test_wildcards_and_sys_exclusion(bridge, v):
    s = Client(v, "s")
    s.sub("#", 0)
    s.sub("x/+/z", 0)
    sys = Client(v, "sys")
    sys.sub("$SYS/#", 0)
    p = Client(v, "p")
    p.pub("$SYS/load", b"1")
    p.pub("x/y/z", b"2")
    p.pub("x/y", b"3")
    got = sorted((m.topic, m.payload) for m in s.drain())
    assert ("$SYS/load", b"1") not in got
    assert ("x/y/z", b"2") in got and ("x/y", b"3") in got
    # The bridge's own counters ($SYS/starling/mqtt/…, retained) come too.
    assert [m.topic for m in sys.drain() if not m.topic.startswith("$SYS/starling/")] == ["$SYS/load"]


@VERSIONS
def test_shared_subscription_round_robin(bridge, v):
    members = [Client(v, f"m{i}") for i in range(3)]
    for m in members:
        m.sub("$share/workers/jobs/#", 1)
    p = Client(v, "p")
    for i in range(30):
        p.pub("jobs/x", b"%d" % i, qos=1)
    counts = [len(m.drain(0.3)) for m in members]
    assert sum(counts) == 30 and counts == [10, 10, 10], counts


@VERSIONS
def test_persistent_session_redelivery(bridge, v):
    s = Client(v, "keeper", clean=False, session_expiry=300)
    s.sub("q/t", 1)
    s.close()
    p = Client(v, "p")
    for i in range(5):
        p.pub("q/t", b"%d" % i, qos=1)
    s2 = Client(v, "keeper", clean=False, session_expiry=300)
    assert s2.session_present
    got = [s2.get().payload for _ in range(5)]
    assert got == [b"%d" % i for i in range(5)]


def test_unacked_inflight_redelivered_with_dup(bridge):
    s = Client(5, "k", clean=False, session_expiry=300, manual_ack=True)
    s.sub("d/t", 1)
    p = Client(5, "p")
    p.pub("d/t", b"x", qos=1)
    m = s.get()
    assert not m.dup
    s.drop()  # never acknowledged
    s2 = Client(5, "k", clean=False, session_expiry=300)
    m = s2.get()
    assert m.payload == b"x" and m.dup


def test_topic_alias_v5(bridge):
    cp = mqtt.Properties(mqtt.PacketTypes.CONNECT)
    cp.TopicAliasMaximum = 5
    s = Client(5, "s", props=cp)
    s.sub("alias/#", 0)
    p = Client(5, "p")
    pp = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    pp.TopicAlias = 1
    p.pub("alias/long/topic/name", b"1", props=pp)
    p.pub("", b"2", props=pp)
    got = [s.get() for _ in range(2)]
    # Inbound alias resolved by the bridge; outbound: the bridge assigns its own alias to the
    # subscriber (topic sent once, then empty; paho 2.2 does not resolve received aliases).
    assert [m.payload for m in got] == [b"1", b"2"]
    assert got[0].topic == "alias/long/topic/name"
    a = got[0].properties.TopicAlias
    assert got[1].topic == "" and got[1].properties.TopicAlias == a


def test_maximum_packet_size(netns, starling_bin):
    start_bridge(netns, starling_bin, "--max-packet-size", "1024")
    with inside(netns):
        cp = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        cp.MaximumPacketSize = 200
        small = Client(5, "small", props=cp)
        small.sub("big/#", 0)
        big = Client(5, "big")
        big.sub("big/#", 0)
        p = Client(5, "p")
        p.pub("big/a", b"x" * 500)
        p.pub("big/a", b"tiny")
        assert [m.payload for m in small.drain()] == [b"tiny"]
        assert len(big.drain()) == 2
        # Above the server's limit: the publisher is disconnected with 0x95.
        p.pub("big/a", b"x" * 2000)
        rc = p.disconnects.get(timeout=5)
        assert rc.value == 0x95, rc
        assert big.drain() == []


def test_receive_maximum_v5(bridge):
    cp = mqtt.Properties(mqtt.PacketTypes.CONNECT)
    cp.ReceiveMaximum = 2
    s = Client(5, "s", props=cp, manual_ack=True)
    s.sub("rm", 1)
    p = Client(5, "p")
    for i in range(6):
        p.pub("rm", b"%d" % i, qos=1)
    first = s.drain(0.5)
    assert len(first) == 2
    for m in first:
        s.c.ack(m.mid, m.qos)
    second = s.drain(0.5)
    assert len(second) == 2


def raw_connect(keepalive=60, client_id=b"raw"):
    body = b"\x00\x04MQTT\x04\x02" + keepalive.to_bytes(2, "big") + len(client_id).to_bytes(2, "big") + client_id
    s = socket.create_connection(("127.0.0.1", 1883))
    s.sendall(bytes([0x10, len(body)]) + body)
    assert s.recv(4) == b"\x20\x02\x00\x00"
    return s


def closed(s, timeout=3.0):
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(100)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_keep_alive_timeout_publishes_will(bridge):
    w = Client(4, "w")
    w.sub("will/ka", 0)
    body = (b"\x00\x04MQTT\x04\x06\x00\x01\x00\x02ka" + b"\x00\x07will/ka" + b"\x00\x04dead")
    s = socket.create_connection(("127.0.0.1", 1883))
    s.sendall(bytes([0x10, len(body)]) + body)
    assert s.recv(4) == b"\x20\x02\x00\x00"
    t0 = time.time()
    assert closed(s, 5)
    assert 1.2 <= time.time() - t0 <= 3.0
    assert w.get().payload == b"dead"


@pytest.mark.parametrize("bad", [
    b"\x30\xff\xff\xff\xff\x01",            # remaining length with a 5th byte
    b"\x30\x05\x00\x03a\xc3\x28",            # invalid UTF-8 in the topic
    b"\x30\x04\x00\x02a\x00",                # U+0000 in the topic
    b"\xc1\x00",                             # PINGREQ with reserved flags
    b"\x62\x02\x00\x00",                     # PUBREL with packet id 0
    b"\x30\xff\xff\xff\x7f",                 # announces 256 MiB: above the maximum packet size
], ids=["remaining-length", "utf8", "nul", "reserved-flags", "pkid-0", "oversized"])
def test_malformed_closes_only_that_connection(bridge, bad):
    good_s = Client(5, "good-s")
    good_s.sub("ok", 1)
    good_p = Client(4, "good-p")
    s = raw_connect()
    s.sendall(bad)
    assert closed(s)
    good_p.pub("ok", b"still", qos=1)
    assert good_s.get().payload == b"still"


def test_websocket(netns, starling_bin):
    start_bridge(netns, starling_bin, "--mqtt-ws", "127.0.0.1:8083")
    with inside(netns):
        wait_port(8083)
        s = Client(5, "ws-s", port=8083, transport="websockets")
        s.sub("w/t", 1)
        p = Client(4, "tcp-p")
        p.pub("w/t", b"over-ws", qos=1)
        assert s.get().payload == b"over-ws"


def test_sigterm_shuts_down(netns, starling_bin):
    proc = start_bridge(netns, starling_bin)
    with inside(netns):
        c = Client(5, "c")
    netns.stop(proc, grace=5)
    assert proc.returncode == 0, proc.stderr.read()
    rc = c.disconnects.get(timeout=3)
    assert rc.value in (0x8B, 0x80, 7) or rc.is_failure


def test_request_reply_properties_v5(bridge):
    """MQTT 5 request/response: Response Topic and Correlation Data reach the responder unchanged, and the reply
    published to that response topic reaches the requester with the same correlation data."""
    req = Client(5, "requester")
    req.sub("rr/reply/requester", 1)
    resp = Client(5, "responder")
    resp.sub("rr/request", 1)
    pp = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    pp.ResponseTopic = "rr/reply/requester"
    pp.CorrelationData = b"\x00corr-42\xff"
    pp.ContentType = "text/plain"
    req.pub("rr/request", b"ping", qos=1, props=pp)
    m = resp.get()
    assert m.payload == b"ping"
    assert m.properties.ResponseTopic == "rr/reply/requester"
    assert m.properties.CorrelationData == b"\x00corr-42\xff"
    assert m.properties.ContentType == "text/plain"
    rp = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    rp.CorrelationData = m.properties.CorrelationData
    resp.pub(m.properties.ResponseTopic, b"pong", qos=1, props=rp)
    r = req.get()
    assert (r.topic, r.payload, r.properties.CorrelationData) == ("rr/reply/requester", b"pong", b"\x00corr-42\xff")
    req.close()
    resp.close()


def test_message_expiry_v5(bridge):
    """Message Expiry Interval: forwarded with the time left; an expired retained message is not delivered."""
    s = Client(5, "s")
    s.sub("exp/live", 1)
    pp = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    pp.MessageExpiryInterval = 60
    p = Client(5, "p")
    p.pub("exp/live", b"x", qos=1, props=pp)
    m = s.get()
    assert 0 < m.properties.MessageExpiryInterval <= 60
    short = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    short.MessageExpiryInterval = 1
    p.pub("exp/retained/short", b"gone", qos=1, retain=True, props=short)
    p.pub("exp/retained/keep", b"kept", qos=1, retain=True)
    time.sleep(2.2)  # the 1 s expiry has passed for certain
    late = Client(5, "late")
    late.sub("exp/retained/#", 1)
    # Both retained messages are queued at subscription time: once "keep" is here, "short" would be too.
    got = [late.get(timeout=10)] + late.drain(0.5)
    assert [(m.topic, m.payload) for m in got] == [("exp/retained/keep", b"kept")]
    p.close()
    s.close()
    late.close()


def _example_guest_hash():
    import re
    xml = open(os.path.join(os.path.dirname(__file__), "..", "examples", "bridge.xml")).read()
    return re.search(r'<user name="guest" password_hash="([^"]+)"', xml).group(1)


def test_guest_only_from_loopback(netns, starling_bin, tmp_path):
    """As in a fresh RabbitMQ: guest/guest (the shipped example's login) is accepted from loopback only;
    anonymous clients are accepted from anywhere the listener is reachable. The non-loopback address is added to
    the test namespace's lo, so nothing leaves the namespace."""
    cfg = tmp_path / "bridge.xml"
    cfg.write_text(f"""<dds><bridge>
  <listener protocol="mqtt" address="0.0.0.0:1883"/>
  <anonymous allowed="true"/>
  <users><user name="guest" password_hash="{_example_guest_hash()}"/></users>
</bridge></dds>""")
    # A non-loopback address on the namespace's own lo: connections to it come from it.
    subprocess.run(["ip", "-n", netns.name, "addr", "add", "10.254.0.1/32", "dev", "lo"], check=True)
    netns.popen(starling_argv(starling_bin, "bridge", "--config", str(cfg)))
    with inside(netns):
        wait_port(1883)
        for v in (4, 5):
            Client(v, f"guest-lo-{v}", login=("guest", "guest")).close()
            Client(v, f"anon-remote-{v}", host="10.254.0.1").close()
            bad = Client(v, f"guest-bad-{v}", login=("guest", "nope"), expect_refusal=True)
            assert bad.rc.value in (4, 0x86), bad.rc
            remote = Client(v, f"guest-remote-{v}", host="10.254.0.1", login=("guest", "guest"),
                            expect_refusal=True)
            assert remote.rc.value in (5, 0x87), remote.rc
