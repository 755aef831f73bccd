"""`starling bridge --stomp` as a STOMP 1.0/1.1/1.2 broker for stomp.py clients, in a private namespace.

Also raw-socket tests: malformed frames get an ERROR frame and close only their own connection."""
import queue
import socket
import time

import pytest
import stomp

from mqtt_helpers import inside, wait_port

PORT = 61613
WS_PORT = 15674
VERSIONS = pytest.mark.parametrize("v", ["1.0", "1.1", "1.2"])


def start(netns, starling_bin, *extra):
    p = netns.popen([starling_bin, "bridge", "--mqtt", "127.0.0.1:1883", "--stomp", f"127.0.0.1:{PORT}",
                     "--stomp-ws", f"127.0.0.1:{WS_PORT}", *extra])
    with inside(netns):
        wait_port(PORT)
    return p


@pytest.fixture
def bridge(netns, starling_bin):
    start(netns, starling_bin, "--stomp-heart-beat", "200,200", "--stomp-max-frame", "65536")
    with inside(netns):
        yield netns


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.msgs = queue.Queue()
        self.errors = queue.Queue()
        self.receipts = queue.Queue()
        self.disconnected = queue.Queue()

    def on_message(self, frame):
        self.msgs.put(frame)

    def on_error(self, frame):
        self.errors.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])

    def on_disconnected(self):
        self.disconnected.put(True)


CONN = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}


class Client:
    def __init__(self, v="1.2", heartbeats=(0, 0), login=None, passcode=None, ws=False):
        self.v = v
        if ws:
            self.c = stomp.WSStompConnection([("127.0.0.1", WS_PORT)], ws_path="/", heartbeats=heartbeats)
        elif v == "1.0":
            self.c = stomp.Connection10([("127.0.0.1", PORT)])
        else:
            self.c = CONN[v]([("127.0.0.1", PORT)], heartbeats=heartbeats)
        self.l = Listener()
        self.c.set_listener("", self.l)
        self.c.connect(login, passcode, wait=True)

    def sub(self, dest, id_, ack="auto", **headers):
        r = f"sub-{id_}"
        if self.v == "1.0":
            self.c.subscribe(dest, id=id_, ack=ack, headers={"receipt": r, **headers})
        else:
            self.c.subscribe(dest, id_, ack=ack, headers={"receipt": r, **headers})
        assert self.l.receipts.get(timeout=5) == r

    def get(self, timeout=5):
        return self.l.msgs.get(timeout=timeout)

    def drain(self, wait=0.5):
        out = []
        deadline = time.time() + wait
        while True:
            try:
                out.append(self.l.msgs.get(timeout=max(0.0, deadline - time.time())))
            except queue.Empty:
                return out

    def ack(self, m, nack=False, transaction=None):
        fn = self.c.nack if nack else self.c.ack
        if self.v == "1.2":
            fn(m.headers["ack"], transaction=transaction)
        elif self.v == "1.1":
            fn(m.headers["message-id"], m.headers["subscription"], transaction=transaction)
        else:
            fn(m.headers["message-id"], transaction=transaction)

    def close(self):
        self.c.disconnect()


@VERSIONS
def test_topic_pubsub_headers(bridge, v):
    s = Client(v)
    s.sub("/topic/sensors.temp", "1")
    p = Client(v)
    hdrs = {"persistent": "true", "expires": "0", "reply-to": "/queue/replies", "content-type": "text/plain",
            "x-site": "plant-7"}
    for i in range(10):
        p.c.send("/topic/sensors.temp", "m%d" % i, headers=hdrs)
    got = [s.get() for _ in range(10)]
    assert [m.body for m in got] == ["m%d" % i for i in range(10)]
    h = got[0].headers
    for k, val in hdrs.items():
        assert h[k] == val
    assert h["destination"] == "/topic/sensors.temp" and h["subscription"] == "1"
    p.close()
    s.close()


@pytest.mark.parametrize("v", ["1.1", "1.2"])
def test_header_escaping(bridge, v):
    s = Client(v)
    s.sub("/topic/esc", "1")
    p = Client(v)
    value = "a:b\\c\nd"
    p.c.send("/topic/esc", "x", headers={"x-odd": value})
    assert s.get().headers["x-odd"] == value


def test_wildcards_and_exchange_aliases(bridge):
    s = Client()
    s.sub("/topic/sensors.*.temp", "w")
    s.sub("/exchange/amq.topic/alarms.#", "x")
    p = Client()
    p.c.send("/exchange/amq.topic/sensors.a.temp", "one")
    p.c.send("/topic/alarms.fire.floor2", "two")
    p.c.send("/topic/sensors.a.hum", "no")
    got = sorted((m.headers["subscription"], m.body) for m in s.drain(1.0))
    assert got == [("w", "one"), ("x", "two")]


def test_queue_round_robin_and_amq_queue(bridge):
    a, b = Client(), Client()
    a.sub("/queue/jobs", "a")
    b.sub("/amq/queue/jobs", "b")
    p = Client()
    for i in range(10):
        p.c.send("/queue/jobs", str(i))
    ga, gb = [m.body for m in a.drain(1.0)], [m.body for m in b.drain(0.2)]
    assert len(ga) == 5 and len(gb) == 5
    assert sorted(ga + gb, key=int) == [str(i) for i in range(10)]


def test_queue_waits_for_consumer(bridge):
    p = Client()
    for i in range(3):
        p.c.send("/queue/later", str(i), headers={"receipt": f"r{i}"})
        p.l.receipts.get(timeout=5)
    s = Client()
    s.sub("/queue/later", "1")
    assert [m.body for m in s.drain(1.0)] == ["0", "1", "2"]


@pytest.mark.parametrize("v", ["1.1", "1.2"])
def test_nack_redelivers_to_other_consumer(bridge, v):
    a = Client(v)
    a.sub("/queue/work", "a", ack="client-individual")
    p = Client(v)
    p.c.send("/queue/work", "job")
    m = a.get()
    assert "redelivered" not in m.headers
    b = Client(v)
    b.sub("/queue/work", "b", ack="client-individual")
    a.ack(m, nack=True)
    # Round-robin: the redelivery goes to the next consumer.
    got = [x for x in a.drain(0.5) + b.drain(0.5)]
    assert len(got) == 1 and got[0].body == "job" and got[0].headers.get("redelivered") == "true"


@VERSIONS
def test_disconnect_redelivers_unacked(bridge, v):
    a = Client(v)
    a.sub("/queue/dq", "a", ack="client")
    p = Client(v)
    for i in range(3):
        p.c.send("/queue/dq", str(i))
    got = [a.get() for _ in range(3)]
    a.ack(got[0])
    a.close()
    b = Client(v)
    b.sub("/queue/dq", "b", ack="auto")
    re = b.drain(1.0)
    assert [m.body for m in re] == ["1", "2"]
    assert all(m.headers.get("redelivered") == "true" for m in re)


def test_client_ack_is_cumulative(bridge):
    a = Client()
    a.sub("/queue/cum", "a", ack="client")
    p = Client()
    for i in range(3):
        p.c.send("/queue/cum", str(i))
    got = [a.get() for _ in range(3)]
    a.ack(got[1])  # acknowledges 0 and 1
    # Acknowledging 0 again is now an error.
    a.ack(got[0])
    err = a.l.errors.get(timeout=5)
    assert err.headers["message"] == "unknown or already acknowledged message id"
    b = Client()
    b.sub("/queue/cum", "b")
    assert [m.body for m in b.drain(1.0)] == ["2"]


@pytest.mark.parametrize("v", ["1.1", "1.2"])
def test_transactions(bridge, v):
    s = Client(v)
    s.sub("/topic/tx", "1")
    p = Client(v)
    p.c.begin("t1")
    p.c.send("/topic/tx", "a", transaction="t1")
    p.c.send("/topic/tx", "b", transaction="t1")
    assert s.drain(0.3) == []
    p.c.commit("t1")
    assert [m.body for m in s.drain(0.5)] == ["a", "b"]
    p.c.begin("t2")
    p.c.send("/topic/tx", "c", transaction="t2")
    p.c.abort("t2")
    assert s.drain(0.3) == []
    # ACK inside a transaction.
    q = Client(v)
    q.sub("/queue/txq", "q", ack="client-individual")
    p.c.send("/queue/txq", "job")
    m = q.get()
    q.c.begin("ta")
    q.ack(m, transaction="ta")
    q.c.abort("ta")  # the ACK is discarded: still unacked
    q.close()
    r = Client(v)
    r.sub("/queue/txq", "r")
    assert r.get().headers.get("redelivered") == "true"


def test_receipts_and_disconnect_receipt(bridge):
    c = Client()
    for i, fn in enumerate([lambda h: c.c.send("/topic/x", "b", headers=h),
                            lambda h: c.c.begin("tt", headers=h),
                            lambda h: c.c.commit("tt", headers=h),
                            lambda h: c.c.unsubscribe("nope", headers=h)]):
        fn({"receipt": f"r{i}"})
        assert c.l.receipts.get(timeout=5) == f"r{i}"
    c.c.disconnect(receipt="bye")
    assert c.l.receipts.get(timeout=5) == "bye"


def test_error_frames(bridge):
    c = Client()
    c.c.send("/nowhere", "x", headers={"receipt": "e1"})
    e = c.l.errors.get(timeout=5)
    assert e.headers["message"] == "unknown destination" and e.headers["receipt-id"] == "e1"
    assert c.l.disconnected.get(timeout=5)
    c = Client()
    c.c.commit("never")
    assert c.l.errors.get(timeout=5).headers["message"] == "unknown transaction"
    c = Client()
    c.c.subscribe("/topic/a", "1")
    c.c.subscribe("/topic/b", "1")
    assert c.l.errors.get(timeout=5).headers["message"] == "duplicate subscription id"


def test_heart_beats(bridge):
    # The client heart-beats every 200 ms and expects ours: it stays connected.
    c = Client("1.2", heartbeats=(200, 200))
    time.sleep(1.5)
    assert c.l.disconnected.empty()
    c.c.send("/topic/hb", "still here", headers={"receipt": "hb"})
    assert c.l.receipts.get(timeout=5) == "hb"
    c.close()
    # A raw client that promises heart-beats and goes silent is dropped after the grace period.
    s = raw()
    s.sendall(b"CONNECT\naccept-version:1.2\nheart-beat:200,0\n\n\0")
    hdr = recv_frame(s)
    assert hdr.startswith(b"CONNECTED") and b"heart-beat:200,200" in hdr
    t0 = time.time()
    s.settimeout(5)
    while s.recv(100):
        pass
    assert 0.2 < time.time() - t0 < 2.0


def test_server_sends_heart_beats(bridge):
    s = raw()
    s.sendall(b"CONNECT\naccept-version:1.2\nheart-beat:0,100\n\n\0")
    recv_frame(s)
    s.settimeout(2)
    assert s.recv(10) == b"\n"


def test_websocket(bridge):
    s = Client(ws=True)
    s.sub("/topic/ws", "1")
    p = Client()
    p.c.send("/topic/ws", "over ws")
    assert s.get().body == "over ws"


def test_version_negotiation_raw(bridge):
    for accept, want in [(b"1.0,1.1,1.2", b"version:1.2"), (b"1.1", b"version:1.1"), (b"1.0", None)]:
        s = raw()
        s.sendall(b"CONNECT\naccept-version:" + accept + b"\nhost:/\n\n\0")
        f = recv_frame(s)
        assert f.startswith(b"CONNECTED\n")
        if want:
            assert want in f
        else:
            assert b"version:" not in f
    s = raw()
    s.sendall(b"STOMP\naccept-version:1.2\nhost:/\n\n\0")
    assert recv_frame(s).startswith(b"CONNECTED\n")


def test_content_length_and_nul_bodies(bridge):
    sub = Client()
    sub.sub("/topic/bin", "1")
    s = raw()
    s.sendall(b"CONNECT\naccept-version:1.2\n\n\0")
    recv_frame(s)
    s.sendall(b"SEND\ndestination:/topic/bin\ncontent-length:5\n\na\0b\0c\0\n"
              b"SEND\ndestination:/topic/bin\ndestination:/topic/other\n\nplain\0")
    a, b = sub.get(), sub.get()
    assert a.headers["content-length"] == "5"
    assert b.body == "plain" and b.headers["destination"] == "/topic/bin"


def raw():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    return s


def recv_frame(s):
    buf = b""
    while b"\0" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return buf


MALFORMED = [
    (b"SEND\ndestination:/topic/a\ncontent-length:3\n\nabcd\0", b"frame not terminated by NUL"),
    (b"SEND\ndestination:/topic/a\nx:bad\\tescape\n\n\0", b"invalid escape sequence in header"),
    (b"SEND\n" + b"".join(b"h%d:v\n" % i for i in range(100)) + b"\n\0", b"too many headers"),
    (b"SEND\ndestination:/topic/a\nx:" + b"a" * 20000 + b"\n\n\0", b"header too long"),
    (b"SEND\ndestination:/topic/a\ncontent-length:100000\n\n", b"frame too large"),
    (b"SEND\ndestination:/topic/a\n\n" + b"x" * 70000, b"frame too large"),
    (b"FROB\n\n\0", b"unknown command"),
    (b"SEND\nnocolon\n\n\0", b"malformed header"),
    (b"SEND\ndestination:/topic/a\ncontent-length:abc\n\n\0", b"invalid content-length"),
]


@pytest.mark.parametrize("bad,message", MALFORMED, ids=[m.decode() for _, m in MALFORMED])
def test_malformed_closes_only_that_connection(bridge, bad, message):
    good = Client()
    good.sub("/topic/ok", "1")
    s = raw()
    s.sendall(b"CONNECT\naccept-version:1.2\n\n\0")
    recv_frame(s)
    s.sendall(bad)
    f = recv_frame(s)
    assert f.startswith(b"ERROR\n") and b"message:" + message + b"\n" in f, f[:200]
    s.settimeout(5)
    assert s.recv(100) == b""  # closed
    p = Client()
    p.c.send("/topic/ok", "still fine")
    assert good.get().body == "still fine"


def test_wrong_version_and_frame_before_connect(bridge):
    s = raw()
    s.sendall(b"CONNECT\naccept-version:3.0\n\n\0")
    f = recv_frame(s)
    assert f.startswith(b"ERROR\n") and b"message:unsupported protocol version" in f and b"version:1.0,1.1,1.2" in f
    s = raw()
    s.sendall(b"SEND\ndestination:/topic/a\nreceipt:x\n\n\0")
    f = recv_frame(s)
    assert b"message:expected CONNECT or STOMP frame" in f and b"receipt-id:x" in f


def test_max_subscriptions(bridge):
    c = Client()
    for i in range(256):
        c.c.subscribe(f"/topic/t{i}", str(i))
    c.c.subscribe("/topic/one-too-many", "x")
    assert c.l.errors.get(timeout=5).headers["message"] == "too many subscriptions"


def test_graceful_shutdown(netns, starling_bin):
    p = start(netns, starling_bin)
    with inside(netns):
        c = Client()
        p.send_signal(2)
        e = c.l.errors.get(timeout=5)
        assert e.headers["message"] == "server shutting down"
    assert p.wait(timeout=5) == 0


def test_websocket_subprotocol_and_raw_frames(bridge):
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{WS_PORT}/", subprotocols=["v10.stomp", "v12.stomp", "v11.stomp"])
    assert ws.getsubprotocol() == "v12.stomp"
    ws.send("CONNECT\naccept-version:1.2\nhost:/\n\n\0")
    assert ws.recv().startswith("CONNECTED\n")
    ws.send("SUBSCRIBE\nid:1\ndestination:/topic/wsraw\n\n\0")
    ws.send("SEND\ndestination:/topic/wsraw\n\nhello\0")
    m = ws.recv()
    assert m.startswith("MESSAGE\n") and m.endswith("\n\nhello\0")
    ws.close()


def test_unsubscribe_redelivers_unacked(bridge):
    a = Client()
    a.sub("/queue/uq", "a", ack="client-individual")
    p = Client()
    p.c.send("/queue/uq", "job")
    assert a.get().body == "job"
    a.c.unsubscribe("a", headers={"receipt": "u"})
    assert a.l.receipts.get(timeout=5) == "u"
    b = Client()
    b.sub("/queue/uq", "b")
    m = b.get()
    assert m.body == "job" and m.headers.get("redelivered") == "true"


def test_expires_is_honoured(bridge):
    """A message whose `expires` time (ms since the epoch, as ActiveMQ) has passed is not delivered; later ones
    keep their header."""
    later = str(int(time.time() * 1000) + 600_000)
    # Queued while the queue has no consumer, then handed out: the expired one is dropped.
    p = Client()
    p.c.send("/queue/exp", "old", headers={"expires": "1"})
    p.c.send("/queue/exp", "fresh", headers={"expires": later})
    p.c.send("/queue/exp", "plain", headers={"expires": "0", "receipt": "q"})
    assert p.l.receipts.get(timeout=5) == "q"
    s = Client()
    s.sub("/queue/exp", "q")
    got = [s.get(), s.get()]
    assert [m.body for m in got] == ["fresh", "plain"]
    assert got[0].headers["expires"] == later
    # Topics too.
    s.sub("/topic/exp", "t")
    p.c.send("/topic/exp", "old", headers={"expires": "1"})
    p.c.send("/topic/exp", "new")
    assert s.get().body == "new"
    p.close()
    s.close()


@pytest.mark.parametrize("header", ["prefetch-count", "activemq.prefetchSize"])
def test_prefetch_limits_unacked(bridge, header):
    """RabbitMQ `prefetch-count` / ActiveMQ `activemq.prefetchSize` on SUBSCRIBE in a client ack mode: at most N
    unacknowledged messages; each ACK lets one more through, in order."""
    s = Client()
    s.sub("/queue/pf", "p", ack="client-individual", **{header: "2"})
    p = Client()
    for i in range(5):
        p.c.send("/queue/pf", f"m{i}")
    first = [s.get(), s.get()]
    assert [m.body for m in first] == ["m0", "m1"]
    assert s.drain(0.5) == []
    s.ack(first[0])
    nxt = s.get()
    assert nxt.body == "m2"
    # A NACK opens the window too; the NACKed message goes back to the queue, behind what this consumer holds.
    s.ack(first[1], nack=True)
    m3 = s.get()
    assert m3.body == "m3"
    s.ack(nxt)
    assert s.get().body == "m4"
    s.ack(m3)
    again = s.get()
    assert again.body == "m1" and again.headers.get("redelivered") == "true"
    p.close()
    s.close()


def test_temp_queue_request_reply(bridge):
    """RabbitMQ-style `reply-to:/temp-queue/NAME`: the requester gets a private reply queue; the responder sees a
    `/reply-queue/...` destination it can SEND to, and the reply arrives with `subscription:/temp-queue/NAME`."""
    server = Client()
    server.sub("/queue/rpc", "srv")
    client = Client()
    client.c.send("/queue/rpc", "ping", headers={"reply-to": "/temp-queue/answers"})
    req = server.get()
    assert req.body == "ping" and req.headers["reply-to"].startswith("/reply-queue/"), req.headers
    server.c.send(req.headers["reply-to"], "pong")
    rep = client.get()
    assert rep.body == "pong" and rep.headers["subscription"] == "/temp-queue/answers", rep.headers
    # Private: another connection's temp queue of the same name is a different queue.
    other = Client()
    other.c.send("/queue/rpc", "ping2", headers={"reply-to": "/temp-queue/answers"})
    req2 = server.get()
    assert req2.headers["reply-to"] != req.headers["reply-to"]
    server.c.send(req2.headers["reply-to"], "pong2")
    assert other.get().body == "pong2"
    assert client.drain(0.3) == []
    for c in (server, client, other):
        c.close()
