"""`starling bridge --amqp` as a RabbitMQ-compatible AMQP 0-9-1 broker for pika and kombu, in a
private namespace. Protocol violations are sent over raw sockets and checked for the close code."""
import socket
import struct
import threading
import time

import pika
import pytest

from mqtt_helpers import inside, wait_port

PORT = 5672
MQTT_PORT = 1883


def start(ns, starling_bin, *extra):
    p = ns.popen([starling_bin, "bridge", "--mqtt", f"127.0.0.1:{MQTT_PORT}", "--amqp", f"127.0.0.1:{PORT}", *extra])
    with inside(ns):
        wait_port(PORT)
    return p


@pytest.fixture
def bridge(netns, starling_bin):
    start(netns, starling_bin)
    with inside(netns):
        yield netns


def conn(**kw):
    params = pika.ConnectionParameters("127.0.0.1", PORT, credentials=pika.PlainCredentials("guest", "guest"), **kw)
    return pika.BlockingConnection(params)


def get_n(ch, q, n, timeout=5.0):
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m, p, b = ch.basic_get(q, auto_ack=True)
        if m is None:
            time.sleep(0.02)
            continue
        out.append((m, p, b))
    return out


# ---- negotiation ----------------------------------------------------------------------------

def test_handshake_server_properties(bridge):
    c = conn()
    props = c._impl.server_properties
    caps = props["capabilities"]
    for k in ["publisher_confirms", "basic.nack", "consumer_cancel_notify", "exchange_exchange_bindings",
              "per_consumer_qos", "connection.blocked", "authentication_failure_close"]:
        assert caps[k] is True, k
    assert props["product"] == b"Starling" or props["product"] == "Starling"
    assert c._impl.params.frame_max <= 131072
    c.close()


def test_amqplain_and_heartbeat(bridge):
    # pika uses PLAIN; AMQPLAIN is checked over a raw socket below. Heartbeats: 1 s interval; pika
    # drops the connection if the server's heartbeats stop, and the server drops a silent client.
    c = conn(heartbeat=1)
    ch = c.channel()
    c.sleep(3.5)
    ch.queue_declare("hb")
    assert c.is_open
    c.close()
    s = RawClient()  # negotiated heartbeat 0 by RawClient: set 1 s and then stay silent
    s.close()
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    raw.sendall(b"AMQP\x00\x00\x09\x01")
    time.sleep(0.2)
    raw.recv(4096)
    raw.sendall(method_frame(0, 10, 11, struct.pack(">I", 0) + shortstr("PLAIN") + longstr(b"\x00guest\x00guest")
                             + shortstr("en_US")))
    time.sleep(0.2)
    raw.recv(4096)
    raw.sendall(method_frame(0, 10, 31, struct.pack(">HIH", 0, 131072, 1))
                + method_frame(0, 10, 40, shortstr("/") + shortstr("") + b"\x00"))
    t0 = time.time()
    frames = b""
    while True:
        d = raw.recv(4096)
        if not d:
            break
        frames += d
    assert 1.5 < time.time() - t0 < 5
    assert struct.pack(">BHI", 8, 0, 0) + b"\xce" in frames  # the server sent heartbeats
    raw.close()


def test_guest_wrong_password_refused(bridge):
    params = pika.ConnectionParameters("127.0.0.1", PORT, credentials=pika.PlainCredentials("guest", "nope"),
                                       connection_attempts=1)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(params)


def test_unknown_vhost(bridge):
    params = pika.ConnectionParameters("127.0.0.1", PORT, virtual_host="other",
                                       credentials=pika.PlainCredentials("guest", "guest"))
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as e:
        pika.BlockingConnection(params)
    assert "530" in str(e.value) and "NOT_ALLOWED" in str(e.value)


# ---- exchanges and routing ------------------------------------------------------------------

def test_all_properties_round_trip(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("props")
    props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                 headers={"a": 1, "b": "two", "c": [1, 2], "d": {"x": True}}, delivery_mode=2,
                                 priority=5, correlation_id="corr", reply_to="back", expiration="60000",
                                 message_id="mid", timestamp=1700000000, type="kind", user_id="guest", app_id="app")
    body = bytes(range(256)) * 1000  # larger than frame-max: several body frames
    ch.basic_publish("", "props", body, props)
    [(m, p, b)] = get_n(ch, "props", 1)
    assert b == body
    for k in ["content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
              "expiration", "message_id", "timestamp", "type", "user_id", "app_id"]:
        assert getattr(p, k) == getattr(props, k), k
    assert p.headers["a"] == 1 and p.headers["b"] in ("two", b"two") and p.headers["c"] == [1, 2]
    assert m.exchange == "" and m.routing_key == "props"
    c.close()


def test_user_id_mismatch_is_406(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("uid")
    ch.basic_publish("", "uid", b"x", pika.BasicProperties(user_id="mallory"))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.queue_declare("uid")
    assert e.value.reply_code == 406
    assert c.is_open
    c.close()


def test_direct_topic_fanout_headers(bridge):
    c = conn()
    ch = c.channel()
    ch.exchange_declare("d", "direct")
    ch.exchange_declare("t", "topic", durable=True)
    ch.exchange_declare("f", "fanout", auto_delete=True)
    ch.exchange_declare("h", "headers")
    for q in ["qd", "qt1", "qt2", "qf1", "qf2", "qh_all", "qh_any"]:
        ch.queue_declare(q)
    ch.queue_bind("qd", "d", "red")
    ch.queue_bind("qt1", "t", "a.*.c")
    ch.queue_bind("qt2", "t", "a.#")
    ch.queue_bind("qf1", "f")
    ch.queue_bind("qf2", "f", "ignored")
    ch.queue_bind("qh_all", "h", arguments={"x-match": "all", "k1": "v1", "k2": 2})
    ch.queue_bind("qh_any", "h", arguments={"x-match": "any", "k1": "v1", "k3": "zz"})
    ch.basic_publish("d", "red", b"d1")
    ch.basic_publish("d", "blue", b"d2")
    ch.basic_publish("t", "a.b.c", b"t1")
    ch.basic_publish("t", "a", b"t2")
    ch.basic_publish("t", "b.b.c", b"t3")
    ch.basic_publish("f", "whatever", b"f1")
    ch.basic_publish("h", "", b"h1", pika.BasicProperties(headers={"k1": "v1", "k2": 2}))
    ch.basic_publish("h", "", b"h2", pika.BasicProperties(headers={"k1": "v1"}))
    want = {"qd": [b"d1"], "qt1": [b"t1"], "qt2": [b"t1", b"t2"], "qf1": [b"f1"], "qf2": [b"f1"],
            "qh_all": [b"h1"], "qh_any": [b"h1", b"h2"]}
    for q, bodies in want.items():
        got = [b for _, _, b in get_n(ch, q, len(bodies))]
        assert got == bodies, q
        assert ch.basic_get(q)[0] is None, q
    c.close()


def test_standard_exchanges(bridge):
    c = conn()
    ch = c.channel()
    for name, kind in [("amq.direct", "direct"), ("amq.topic", "topic"), ("amq.fanout", "fanout"),
                       ("amq.headers", "headers"), ("amq.match", "headers")]:
        ch.exchange_declare(name, kind, passive=True)
        ch.exchange_declare(name, kind, durable=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    assert q.startswith("amq.gen-")
    ch.queue_bind(q, "amq.topic", "dds.#")
    ch.basic_publish("amq.topic", "dds.DemoTopic", b"x")
    assert [b for _, _, b in get_n(ch, q, 1)] == [b"x"]
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.exchange_declare("amq.custom", "direct")
    assert e.value.reply_code == 403
    c.close()


def test_exchange_to_exchange_and_internal(bridge):
    c = conn()
    ch = c.channel()
    ch.exchange_declare("src", "topic")
    ch.exchange_declare("mid", "fanout", internal=True)
    ch.queue_declare("e2e")
    ch.exchange_bind("mid", "src", "x.#")
    ch.queue_bind("e2e", "mid")
    ch.basic_publish("src", "x.y", b"1")
    ch.basic_publish("src", "z", b"2")
    assert [b for _, _, b in get_n(ch, "e2e", 1)] == [b"1"]
    ch.exchange_unbind("mid", "src", "x.#")
    ch.basic_publish("src", "x.y", b"3")
    time.sleep(0.1)
    assert ch.basic_get("e2e")[0] is None
    ch.basic_publish("mid", "", b"4")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.queue_declare("e2e", passive=True)
    assert e.value.reply_code == 403
    c.close()


def test_exchange_declare_errors(bridge):
    c = conn()
    ch = c.channel()
    ch.exchange_declare("x1", "direct")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.exchange_declare("x1", "topic")
    assert e.value.reply_code == 406
    ch = c.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.exchange_declare("nope", "direct", passive=True)
    assert e.value.reply_code == 404
    ch = c.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.basic_publish("nope", "k", b"x")
        ch.queue_declare("sync")
    assert e.value.reply_code == 404
    ch = c.channel()
    ch.exchange_declare("x2", "fanout")
    ch.queue_declare("x2q")
    ch.queue_bind("x2q", "x2")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.exchange_delete("x2", if_unused=True)
    assert e.value.reply_code == 406
    ch = c.channel()
    ch.exchange_delete("x2")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.exchange_declare("x2", "fanout", passive=True)
    assert e.value.reply_code == 404
    assert c.is_open
    c.close()


# ---- queues ---------------------------------------------------------------------------------

def test_queue_lifecycle(bridge):
    c = conn()
    ch = c.channel()
    r = ch.queue_declare("life")
    assert (r.method.message_count, r.method.consumer_count) == (0, 0)
    for i in range(5):
        ch.basic_publish("", "life", b"%d" % i)
    assert ch.queue_declare("life", passive=True).method.message_count == 5
    assert ch.queue_purge("life").method.message_count == 5
    ch.basic_publish("", "life", b"x")
    assert ch.queue_delete("life").method.message_count == 1
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.queue_declare("life", passive=True)
    assert e.value.reply_code == 404
    ch = c.channel()
    ch.queue_declare("eq", durable=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.queue_declare("eq", durable=False)
    assert e.value.reply_code == 406
    ch = c.channel()
    ch.queue_declare("busy")
    ch.basic_publish("", "busy", b"x")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.queue_delete("busy", if_empty=True)
    assert e.value.reply_code == 406
    c.close()


def test_exclusive_and_auto_delete(bridge):
    a = conn()
    cha = a.channel()
    cha.queue_declare("excl", exclusive=True)
    b = conn()
    chb = b.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        chb.queue_declare("excl")
    assert e.value.reply_code == 405
    chb = b.channel()
    cha.queue_declare("ad", auto_delete=True)
    tag = cha.basic_consume("ad", lambda *a: None)
    cha.basic_cancel(tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        chb.queue_declare("ad", passive=True)
    assert e.value.reply_code == 404
    a.close()
    chb = b.channel()
    chb.queue_declare("excl")  # the owner left: the exclusive queue is gone
    b.close()


def test_ttl_max_length_expires(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("ttl", arguments={"x-message-ttl": 200})
    ch.basic_publish("", "ttl", b"old")
    ch.queue_declare("ttl2")
    ch.basic_publish("", "ttl2", b"short", pika.BasicProperties(expiration="100"))
    ch.basic_publish("", "ttl2", b"long", pika.BasicProperties(expiration="60000"))
    ch.queue_declare("maxlen", arguments={"x-max-length": 3})
    for i in range(6):
        ch.basic_publish("", "maxlen", b"%d" % i)
    ch.queue_declare("tmp", arguments={"x-expires": 300})
    time.sleep(0.8)
    assert ch.basic_get("ttl")[0] is None
    assert [b for _, _, b in get_n(ch, "ttl2", 1)] == [b"long"]
    assert [b for _, _, b in get_n(ch, "maxlen", 3)] == [b"3", b"4", b"5"]
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.queue_declare("tmp", passive=True)
    assert e.value.reply_code == 404
    c.close()


def test_mandatory_return(bridge):
    c = conn()
    ch = c.channel()
    returned = []
    ch.add_on_return_callback(lambda ch_, m, p, b: returned.append((m.reply_code, m.routing_key, b)))
    ch.basic_publish("amq.direct", "nobody", b"bounce", mandatory=True)
    ch.basic_publish("amq.direct", "nobody", b"silent")
    deadline = time.time() + 3
    while not returned and time.time() < deadline:
        c.process_data_events(0.1)
    assert returned == [(312, "nobody", b"bounce")]
    c.close()


# ---- consuming and acknowledgements ---------------------------------------------------------

def test_consume_ack_nack_reject_redelivered(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("acks")
    for i in range(4):
        ch.basic_publish("", "acks", b"%d" % i)
    got = []

    def on(ch_, m, p, b):
        got.append((m.delivery_tag, m.redelivered, b, m.consumer_tag))
    tag = ch.basic_consume("acks", on, consumer_tag="my-tag")
    while len(got) < 4:
        c.process_data_events(0.1)
    assert [g[2] for g in got] == [b"0", b"1", b"2", b"3"] and all(g[3] == "my-tag" for g in got)
    ch.basic_ack(got[1][0], multiple=True)        # acks 0 and 1
    ch.basic_reject(got[2][0], requeue=True)      # 2 comes back redelivered
    ch.basic_nack(got[3][0], requeue=False)       # 3 is dropped
    while len(got) < 5:
        c.process_data_events(0.1)
    assert got[4][1:3] == (True, b"2")
    ch.basic_nack(got[4][0], multiple=True, requeue=True)
    while len(got) < 6:
        c.process_data_events(0.1)
    assert got[5][1:3] == (True, b"2")
    ch.basic_ack(got[5][0])
    ch.basic_cancel(tag)
    assert ch.queue_declare("acks", passive=True).method.message_count == 0
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.basic_ack(999)
        ch.queue_declare("acks", passive=True)
    assert e.value.reply_code == 406
    c.close()


def test_get_and_get_empty_and_recover(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("g")
    assert ch.basic_get("g") == (None, None, None)
    ch.basic_publish("", "g", b"a")
    ch.basic_publish("", "g", b"b")
    m, p, b = ch.basic_get("g")
    assert b == b"a" and m.message_count == 1 and not m.redelivered
    ch.basic_recover(requeue=True)
    m, p, b = ch.basic_get("g")
    assert b == b"a" and m.redelivered
    ch.basic_ack(m.delivery_tag)
    c.close()
    c = conn()
    ch = c.channel()
    assert ch.queue_declare("g", passive=True).method.message_count == 1  # "b", never taken


def test_unacked_requeued_when_channel_closes(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("rq")
    ch.basic_publish("", "rq", b"x")
    m, _, _ = ch.basic_get("rq")
    ch.close()
    ch = c.channel()
    m, _, b = ch.basic_get("rq")
    assert b == b"x" and m.redelivered
    c.close()


def test_prefetch_per_consumer_and_slow_consumer(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("pf")
    ch.basic_qos(prefetch_count=2)
    for i in range(10):
        ch.basic_publish("", "pf", b"%d" % i)
    slow = []
    ch.basic_consume("pf", lambda ch_, m, p, b: slow.append(m.delivery_tag))
    # A second consumer on another connection gets the rest while the first holds 2 unacked.
    c2 = conn()
    ch2 = c2.channel()
    fast = []

    def on_fast(ch_, m, p, b):
        fast.append(b)
        ch_.basic_ack(m.delivery_tag)
    ch2.basic_consume("pf", on_fast)
    deadline = time.time() + 5
    while len(fast) < 8 and time.time() < deadline:
        c.process_data_events(0.05)
        c2.process_data_events(0.05)
    assert len(slow) == 2 and len(fast) == 8
    c.close()
    c2.close()


def test_channel_global_prefetch(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("gp1")
    ch.queue_declare("gp2")
    ch.basic_qos(prefetch_count=3, global_qos=True)
    for i in range(5):
        ch.basic_publish("", "gp1", b"a")
        ch.basic_publish("", "gp2", b"b")
    got = []
    ch.basic_consume("gp1", lambda ch_, m, p, b: got.append(m))
    ch.basic_consume("gp2", lambda ch_, m, p, b: got.append(m))
    c.process_data_events(1.0)
    assert len(got) == 3
    ch.basic_ack(got[-1].delivery_tag, multiple=True)
    c.process_data_events(1.0)
    assert len(got) == 6
    c.close()


def test_server_cancel_on_queue_delete(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("victim")
    cancelled = []
    ch.basic_consume("victim", lambda *a: None, consumer_tag="ct")
    ch.add_on_cancel_callback(lambda m: cancelled.append(m.method.consumer_tag))
    c2 = conn()
    c2.channel().queue_delete("victim")
    deadline = time.time() + 3
    while not cancelled and time.time() < deadline:
        c.process_data_events(0.1)
    assert cancelled == ["ct"]
    c.close()
    c2.close()


def test_exclusive_consumer_and_tag_reuse(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("xc")
    ch.basic_consume("xc", lambda *a: None, exclusive=True)
    c2 = conn()
    ch2 = c2.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch2.basic_consume("xc", lambda *a: None)
    assert e.value.reply_code == 403
    ch.queue_declare("xc2")
    ch.basic_consume("xc2", lambda *a: None, consumer_tag="same")
    with pytest.raises(pika.exceptions.DuplicateConsumerTag):
        ch.basic_consume("xc2", lambda *a: None, consumer_tag="same")
    c.close()
    c2.close()


def test_channel_flow(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("flow")
    got = []
    ch.basic_consume("flow", lambda ch_, m, p, b: got.append(b), auto_ack=True)
    ch._impl.flow(False)
    c.process_data_events(0.2)
    ch.basic_publish("", "flow", b"held")
    c.process_data_events(0.5)
    assert got == []
    ch._impl.flow(True)
    deadline = time.time() + 3
    while not got and time.time() < deadline:
        c.process_data_events(0.1)
    assert got == [b"held"]
    c.close()


# ---- confirms and transactions --------------------------------------------------------------

def test_publisher_confirms(bridge):
    c = conn()
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare("conf")
    for i in range(50):
        ch.basic_publish("", "conf", b"%d" % i)  # raises if nacked
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("amq.direct", "nowhere", b"x", mandatory=True)
    assert ch.queue_declare("conf", passive=True).method.message_count == 50
    c.close()


def test_confirm_multiple_acks_raw(bridge):
    """Publishes a burst in one write: the confirms come back coalesced with multiple=true."""
    s = RawClient()
    s.open_channel(1)
    s.send_method(1, 85, 10, b"\x00")  # confirm.select
    assert s.expect_method(1)[:2] == (85, 11)
    data = b""
    for i in range(20):
        data += method_frame(1, 60, 40, b"\x00\x00" + shortstr("") + shortstr("amq.fanout") + b"\x00")
        data += header_frame(1, 1) + body_frame(1, b"x")
    s.sock.sendall(data)
    acked = 0
    multiple_seen = False
    while acked < 20:
        cls, meth, args = s.expect_method(1)
        assert (cls, meth) == (60, 80)
        tag, flags = struct.unpack(">QB", args)
        multiple_seen |= bool(flags & 1)
        acked = tag
    assert multiple_seen
    s.close()


def test_transactions(bridge):
    c = conn()
    ch = c.channel()
    ch.queue_declare("txq")
    ch.tx_select()
    ch.basic_publish("", "txq", b"rolled")
    ch.tx_rollback()
    ch.basic_publish("", "txq", b"committed")
    assert ch.queue_declare("txq", passive=True).method.message_count == 0
    ch.tx_commit()
    assert ch.queue_declare("txq", passive=True).method.message_count == 1
    m, _, b = ch.basic_get("txq")
    assert b == b"committed"
    ch.basic_ack(m.delivery_tag)
    ch.tx_rollback()  # the ack is undone: the message stays unacked on this channel
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.confirm_delivery()
    assert e.value.reply_code == 406
    c.close()


# ---- raw protocol violations ----------------------------------------------------------------

def shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def method_frame(ch, cls, meth, args=b""):
    payload = struct.pack(">HH", cls, meth) + args
    return struct.pack(">BHI", 1, ch, len(payload)) + payload + b"\xce"


def header_frame(ch, size, flags=0):
    payload = struct.pack(">HHQH", 60, 0, size, flags)
    return struct.pack(">BHI", 2, ch, len(payload)) + payload + b"\xce"


def body_frame(ch, data):
    return struct.pack(">BHI", 3, ch, len(data)) + data + b"\xce"


class RawClient:
    def __init__(self, mechanism="PLAIN", response=b"\x00guest\x00guest", vhost="/", open_conn=True):
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        self.buf = b""
        if not open_conn:
            return
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        assert self.expect_method(0)[:2] == (10, 10)
        self.send_method(0, 10, 11, struct.pack(">I", 0) + shortstr(mechanism) + longstr(response) + shortstr("en_US"))
        cls, meth, args = self.expect_method(0)
        assert (cls, meth) == (10, 30), (cls, meth, args)
        self.send_method(0, 10, 31, struct.pack(">HIH", 0, 131072, 0))
        self.send_method(0, 10, 40, shortstr(vhost) + shortstr("") + b"\x00")
        assert self.expect_method(0)[:2] == (10, 41)

    def send_method(self, ch, cls, meth, args=b""):
        self.sock.sendall(method_frame(ch, cls, meth, args))

    def read_frame(self):
        while True:
            if len(self.buf) >= 7:
                t, ch, size = struct.unpack(">BHI", self.buf[:7])
                if len(self.buf) >= size + 8:
                    payload = self.buf[7:7 + size]
                    self.buf = self.buf[size + 8:]
                    return t, ch, payload
            d = self.sock.recv(65536)
            if not d:
                return None
            self.buf += d

    def expect_method(self, ch):
        while True:
            f = self.read_frame()
            assert f is not None, "connection closed"
            t, c, payload = f
            if t == 8:
                continue
            assert t == 1 and c == ch, f
            cls, meth = struct.unpack(">HH", payload[:4])
            return cls, meth, payload[4:]

    def open_channel(self, ch):
        self.send_method(ch, 20, 10, shortstr(""))
        assert self.expect_method(ch)[:2] == (20, 11)

    def expect_close(self, ch):
        """Reads until channel.close (ch > 0) or connection.close (ch 0): returns the reply code."""
        while True:
            f = self.read_frame()
            assert f is not None, "socket closed without a close method"
            t, c, payload = f
            if t != 1:
                continue
            cls, meth = struct.unpack(">HH", payload[:4])
            if (cls, meth) in ((10, 50), (20, 40)):
                assert c == ch, (c, ch)
                return struct.unpack(">H", payload[4:6])[0]

    def closed(self):
        try:
            return self.read_frame() is None
        except OSError:
            return True

    def close(self):
        self.sock.close()


def test_raw_bad_protocol_header(bridge):
    s = RawClient(open_conn=False)
    s.sock.sendall(b"AMQP\x00\x00\x08\x00")
    assert s.sock.recv(8) == b"AMQP\x00\x00\x09\x01"
    assert s.closed()


def test_raw_amqplain(bridge):
    table = shortstr("LOGIN") + b"S" + longstr(b"guest") + shortstr("PASSWORD") + b"S" + longstr(b"guest")
    s = RawClient(mechanism="AMQPLAIN", response=table)
    s.open_channel(1)
    s.close()


def test_raw_bad_mechanism(bridge):
    s = RawClient(open_conn=False)
    s.sock.sendall(b"AMQP\x00\x00\x09\x01")
    s.expect_method(0)
    s.send_method(0, 10, 11, struct.pack(">I", 0) + shortstr("CRAM") + longstr(b"x") + shortstr("en_US"))
    assert s.expect_close(0) == 403


@pytest.mark.parametrize("case,code", [
    ("oversized", 501), ("bad_end", 501), ("bad_type", 501), ("unknown_method", 540), ("truncated_args", 501),
    ("closed_channel", 504), ("header_without_publish", 505), ("method_mid_content", 505),
    ("heartbeat_on_channel", 501), ("immediate", 540), ("body_too_long", 501), ("channel_method_on_0", 503),
])
def test_raw_connection_errors(bridge, case, code):
    s = RawClient()
    s.open_channel(1)
    frames = {
        "oversized": struct.pack(">BHI", 1, 1, 1 << 20) + b"\x00" * 16,
        "bad_end": method_frame(1, 20, 10, shortstr(""))[:-1] + b"\x00",
        "bad_type": struct.pack(">BHI", 7, 1, 0) + b"\xce",
        "unknown_method": method_frame(1, 99, 1),
        "truncated_args": method_frame(1, 50, 10, b"\x00\x00"),
        "closed_channel": method_frame(5, 50, 10, b"\x00\x00" + shortstr("q") + b"\x00" + struct.pack(">I", 0)),
        "header_without_publish": header_frame(1, 3),
        "method_mid_content": method_frame(1, 60, 40, b"\x00\x00" + shortstr("") + shortstr("q") + b"\x00")
        + method_frame(1, 50, 10, b"\x00\x00" + shortstr("q") + b"\x00" + struct.pack(">I", 0)),
        "heartbeat_on_channel": struct.pack(">BHI", 8, 1, 0) + b"\xce",
        "immediate": method_frame(1, 60, 40, b"\x00\x00" + shortstr("") + shortstr("q") + b"\x02"),
        "body_too_long": method_frame(1, 60, 40, b"\x00\x00" + shortstr("") + shortstr("q") + b"\x00")
        + header_frame(1, 1) + body_frame(1, b"xy"),
        "channel_method_on_0": method_frame(0, 50, 10, b"\x00\x00" + shortstr("q") + b"\x00" + struct.pack(">I", 0)),
    }
    s.sock.sendall(frames[case])
    assert s.expect_close(0) == code
    s.send_method(0, 10, 51)  # close-ok
    assert s.closed()


def test_raw_channel_error_keeps_connection(bridge):
    """A soft error closes only its channel: the other channel and the connection keep working."""
    s = RawClient()
    s.open_channel(1)
    s.open_channel(2)
    # queue.declare passive of a missing queue on channel 1 → channel.close 404
    s.send_method(1, 50, 10, b"\x00\x00" + shortstr("missing") + b"\x01" + struct.pack(">I", 0))
    assert s.expect_close(1) == 404
    # Frames on the closing channel are ignored until close-ok.
    s.send_method(1, 50, 10, b"\x00\x00" + shortstr("other") + b"\x00" + struct.pack(">I", 0))
    s.send_method(1, 20, 41)
    s.send_method(2, 50, 10, b"\x00\x00" + shortstr("ok") + b"\x00" + struct.pack(">I", 0))
    cls, meth, _ = s.expect_method(2)
    assert (cls, meth) == (50, 11)
    s.open_channel(1)  # reusable after close-ok
    s.close()


# ---- durability -----------------------------------------------------------------------------

def test_durable_queue_survives_restart(netns, starling_bin, tmp_path):
    data = str(tmp_path / "amqp")
    p = start(netns, starling_bin, "--amqp-data", data)
    with inside(netns):
        c = conn()
        ch = c.channel()
        ch.exchange_declare("dx", "topic", durable=True)
        ch.queue_declare("dq", durable=True)
        ch.queue_declare("tq", durable=False)
        ch.queue_bind("dq", "dx", "k.#")
        ch.confirm_delivery()
        for i in range(10):
            ch.basic_publish("dx", "k.a", b"p%d" % i, pika.BasicProperties(delivery_mode=2, message_id=str(i)))
        ch.basic_publish("dx", "k.a", b"transient", pika.BasicProperties(delivery_mode=1))
        ch.basic_publish("", "tq", b"gone", pika.BasicProperties(delivery_mode=2))
        m, _, _ = ch.basic_get("dq")
        ch.basic_ack(m.delivery_tag)  # p0 acknowledged: not restored
        c.close()
    p.terminate()
    p.wait(timeout=10)
    start(netns, starling_bin, "--amqp-data", data)
    with inside(netns):
        c = conn()
        ch = c.channel()
        r = ch.queue_declare("dq", durable=True, passive=True)
        assert r.method.message_count == 9
        got = get_n(ch, "dq", 9)
        assert [b for _, _, b in got] == [b"p%d" % i for i in range(1, 10)]
        assert got[0][1].message_id == "1" and got[0][1].delivery_mode == 2
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            ch.queue_declare("tq", passive=True)
        ch = c.channel()
        ch.basic_publish("dx", "k.b", b"after")  # the binding survived too
        assert [b for _, _, b in get_n(ch, "dq", 1)] == [b"after"]
        c.close()


# ---- a second client library ----------------------------------------------------------------

def test_kombu_round_trip(bridge):
    from kombu import Connection, Exchange, Producer, Queue

    ex = Exchange("tasks", type="direct", durable=True)
    q = Queue("celery-like", exchange=ex, routing_key="task.run", durable=True)
    with Connection("amqp://guest:guest@127.0.0.1:5672//") as kc:
        with kc.channel() as ch:
            producer = Producer(ch, exchange=ex, serializer="json")
            for i in range(5):
                producer.publish({"task": "add", "args": [i, i]}, routing_key="task.run", declare=[q],
                                 correlation_id=f"id-{i}", reply_to="results")
        got = []

        def on_message(body, message):
            got.append((body, message.properties.get("correlation_id")))
            message.ack()
        with kc.Consumer(q, callbacks=[on_message], accept=["json"]):
            deadline = time.time() + 5
            while len(got) < 5 and time.time() < deadline:
                try:
                    kc.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
        assert [g[0]["args"] for g in got] == [[i, i] for i in range(5)]
        assert got[0][1] == "id-0"
        sq = kc.SimpleQueue("simple")
        sq.put({"hello": "world"})
        msg = sq.get(timeout=5)
        assert msg.payload == {"hello": "world"}
        msg.ack()
        sq.close()
