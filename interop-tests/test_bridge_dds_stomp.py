"""`starling bridge --config`: DDS (Cyclone DDS, Starling) <-> STOMP (stomp.py) through the bridge's routes, in a
private network namespace. ShapeType keyed by color: DDS topic Square is /topic/shapes.square.<color>, JSON checked
field by field, metadata headers, dispose -> empty MESSAGE with dds-instance-state:disposed, STOMP SEND -> DDS
writes (key from the destination or the body), disposes from STOMP, and the loop guard."""
import json
import queue
import socket
import threading
import time

import pytest
import stomp

from mqtt_helpers import bursts_reach_dds, inside, start_config_bridge
from netns import Watcher
from shapes import peer_argv, starling_argv

PORT = 61613
WS_PORT = 15674

CONFIG = """<dds>
  <qos_library name="Bridge">
    <qos_profile name="State">
      <datawriter_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <history><kind>KEEP_LAST_HISTORY_QOS</kind><depth>16</depth></history>
      </datawriter_qos>
      <datareader_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <history><kind>KEEP_ALL_HISTORY_QOS</kind></history>
      </datareader_qos>
    </qos_profile>
    <qos_profile name="Stream">
      <datawriter_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <history><kind>KEEP_ALL_HISTORY_QOS</kind></history>
      </datawriter_qos>
    </qos_profile>
  </qos_library>
  <bridge>
    <listener protocol="stomp" address="127.0.0.1:61613"/>
    <listener protocol="stomp-ws" address="127.0.0.1:15674"/>
    <route topic="Square" type="ShapeType" broker_name="shapes/square" direction="from_dds"
           qos_profile="Bridge::State"/>
    <route topic="Circle" type="ShapeType" broker_name="shapes/circle" direction="to_dds"
           qos_profile="Bridge::State"/>
    <route topic="Triangle" type="ShapeType" broker_name="shapes/triangle" direction="both"
           qos_profile="Bridge::State"/>
    <route topic="Pentagon" type="ShapeType" broker_name="shapes/pentagon" direction="both" format="cdr"
           qos_profile="Bridge::State"/>
    <route topic="Star" type="ShapeType" broker_name="shapes/star" direction="to_dds"
           qos_profile="Bridge::Stream"/>
  </bridge>
</dds>
"""


@pytest.fixture
def bridge(netns, starling_bin, tmp_path):
    yield start_config_bridge(netns, starling_bin, tmp_path, CONFIG, [PORT, WS_PORT])


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.msgs = queue.Queue()
        self.receipts = queue.Queue()

    def on_message(self, frame):
        self.msgs.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])


class Client:
    def __init__(self, binary=False, ws=False):
        if ws:
            self.c = stomp.WSStompConnection([("127.0.0.1", WS_PORT)], ws_path="/", heartbeats=(0, 0))
        else:
            self.c = stomp.Connection12([("127.0.0.1", PORT)], heartbeats=(0, 0), auto_decode=not binary)
        self.l = Listener()
        self.c.set_listener("", self.l)
        self.c.connect(wait=True)
        self.n = 0

    def _receipt(self):
        self.n += 1
        return f"r{self.n}"

    def sub(self, dest, id_):
        r = self._receipt()
        self.c.subscribe(dest, id_, ack="auto", headers={"receipt": r})
        assert self.l.receipts.get(timeout=10) == r

    def send(self, dest, body, **headers):
        r = self._receipt()
        self.c.send(dest, body, headers={"receipt": r, **headers})
        assert self.l.receipts.get(timeout=10) == r

    def collect(self, n, timeout):
        """Up to n messages, waiting at most `timeout` seconds in all."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.l.msgs.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    def close(self):
        self.c.disconnect()


def shape(color, x, y, size=30):
    return {"color": color, "x": x, "y": y, "shapesize": size, "additional_payload_size": []}


def test_cyclone_to_stomp(netns, bridge):
    with inside(netns):
        live = Client()
        live.sub("/topic/shapes.square.#", "all")
        red = Client()
        red.sub("/exchange/amq.topic/shapes.square.RED", "red")
        pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Square", count=12, instances=3, dispose=True,
                                            wait_match=20, rate=20)), "cyclone pub")
        got = live.collect(15, 60)
        assert pub.wait_exit(60) == 0, pub.describe() + bridge.describe()
        assert len(got) == 15, str([(m.headers, m.body) for m in got]) + bridge.describe() + pub.describe()
        data = [m for m in got if m.body]
        assert len(data) == 12
        per = {}
        for m in data:
            per.setdefault(m.headers["destination"], []).append(m)
        assert set(per) == {"/topic/shapes.square.RED", "/topic/shapes.square.BLUE", "/topic/shapes.square.GREEN"}
        for dest, ms in per.items():
            color = dest.rsplit(".", 1)[1]
            k = ["RED", "BLUE", "GREEN"].index(color)
            samples = [json.loads(m.body) for m in ms]
            assert samples == [shape(color, x, 3 * x + k) for x in range(4)], samples
            for m in ms:
                h = m.headers
                assert h["content-type"] == "application/json" and h["type-name"] == "ShapeType", h
                assert h["subscription"] == "all" and int(h["content-length"]) == len(m.body.encode()), h
                assert len(h["writer-guid"]) > 0 and int(h["source-timestamp"]) > 0, h
                assert int(h["sequence-number"]) > 0 and "dds-instance-state" not in h, h
            seqs = [int(m.headers["sequence-number"]) for m in ms]
            assert seqs == sorted(seqs)
        disposes = [m for m in got if not m.body]
        assert sorted(m.headers["destination"] for m in disposes) == sorted(per)
        for m in disposes:
            assert m.headers["dds-instance-state"] == "disposed" and m.headers["type-name"] == "ShapeType"
            assert "content-type" not in m.headers
        # The RabbitMQ-style alias subscription got the RED instance only: 4 samples and the dispose.
        reds = red.collect(5, 10)
        assert [json.loads(m.body)["x"] if m.body else None for m in reds] == [0, 1, 2, 3, None]
        assert all(m.headers["destination"] == "/topic/shapes.square.RED" for m in reds)
        live.close()
        red.close()


def probe_until_matched(client, sub, dest, color, timeout=30):
    """Send samples of `color` until the Cyclone reader shows one: the bridge's writer has then matched it, so
    what follows is delivered reliably."""
    assert sub.wait_stderr("cyclone sub: matched 1", timeout), sub.describe()
    deadline = time.monotonic() + timeout
    i = 0
    while not any(d["color"] == color for d in sub.data()):
        assert time.monotonic() < deadline, sub.describe()
        client.send(dest, json.dumps({"color": color, "x": i, "y": 0, "shapesize": 1}))
        i += 1
        sub.wait_until(lambda w: any(d["color"] == color for d in w.data()), 0.3)


def test_stomp_to_cyclone(netns, bridge):
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Circle", count=1000, instances=2, timeout=90)),
                  "cyclone sub")
    with inside(netns):
        p = Client()
        probe_until_matched(p, sub, "/topic/shapes.circle.PURPLE", "PURPLE")
        per = {"RED": 0, "BLUE": 0}
        for i in range(6):
            color = ["RED", "BLUE"][i % 2]
            # The key comes from the destination level; the body may leave it out. BLUE goes through the
            # RabbitMQ-style alias of the same destination.
            dest = "/topic/shapes.circle.RED" if color == "RED" else "/exchange/amq.topic/shapes.circle.BLUE"
            p.send(dest, json.dumps({"x": per[color], "y": i, "shapesize": 30}), **{"content-type": "application/json"})
            per[color] += 1
        # Dispose: empty body on the instance's destination, or the dispose header with the key in the body.
        p.send("/topic/shapes.circle.RED", "")
        p.send("/topic/shapes.circle", json.dumps({"color": "BLUE"}), **{"dds-instance-state": "disposed"})

        def done(w):
            return len([d for d in w.data() if d["color"] != "PURPLE"]) >= 6 and len(w.disposes()) >= 2

        assert sub.wait_until(done, 30), sub.describe() + bridge.describe()
        p.close()
    data = [d for d in sub.data() if d["color"] != "PURPLE"]
    # In order per instance (the Cyclone peer takes samples in batches grouped by instance).
    per = {c: [(d["x"], d["y"], d["shapesize"]) for d in data if d["color"] == c] for c in ("RED", "BLUE")}
    assert per == {"RED": [(0, 0, 30), (1, 2, 30), (2, 4, 30)], "BLUE": [(0, 1, 30), (1, 3, 30), (2, 5, 30)]}, data
    assert len(data) == 6, data
    assert sorted(sub.disposes()) == ["BLUE", "RED"]


def test_expired_send_not_written_to_dds(netns, bridge):
    """A SEND whose `expires` has passed is not written into DDS; one that has time left is."""
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Circle", count=1000, instances=2, timeout=90)),
                  "cyclone sub")
    with inside(netns):
        p = Client()
        probe_until_matched(p, sub, "/topic/shapes.circle.PURPLE", "PURPLE")
        now_ms = int(time.time() * 1000)
        p.send("/topic/shapes.circle.GREEN", json.dumps({"x": 99, "y": 0, "shapesize": 30}),
               expires=str(now_ms - 1000))
        p.send("/topic/shapes.circle.GREEN", json.dumps({"x": 1, "y": 0, "shapesize": 30}),
               expires=str(now_ms + 600000))
        assert sub.wait_until(lambda w: any(d["color"] == "GREEN" for d in w.data()), 30), \
            sub.describe() + bridge.describe()
        p.close()
    # Samples of one instance arrive in order: the expired one, sent first, was dropped.
    assert [d["x"] for d in sub.data() if d["color"] == "GREEN"] == [1], sub.describe()


def test_loop_guard_and_starling_pub(netns, bridge, starling_bin):
    """stomp.py -> bridge -> Cyclone reader, with no echo back to STOMP through DDS; `starling pub` -> bridge ->
    stomp.py with the metadata headers."""
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Triangle", count=1000, instances=2, timeout=90)),
                  "cyclone sub")
    with inside(netns):
        p = Client()
        probe_until_matched(p, sub, "/topic/shapes.triangle.PURPLE", "PURPLE")
        watch = Client()
        watch.sub("/topic/shapes.triangle.GREEN", "g")
        p.send("/topic/shapes.triangle.GREEN", json.dumps({"x": 1, "y": 2, "shapesize": 3}), **{"x-app": "demo"})
        assert sub.wait_until(lambda w: any(d["color"] == "GREEN" for d in w.data()), 20), sub.describe()
        # The sample reached DDS; STOMP subscribers have exactly the client's own message (from the broker), with
        # its custom header, and no echo through DDS (which would carry writer-guid).
        got = watch.collect(2, 2.0)
        assert [json.loads(m.body) for m in got] == [{"x": 1, "y": 2, "shapesize": 3}], [m.body for m in got]
        assert got[0].headers["x-app"] == "demo" and "writer-guid" not in got[0].headers
        watch.sub("/topic/shapes.triangle.CYAN", "c")
        # Two subscribers: the bridge's reader and the Cyclone reader.
        res = netns.run(starling_argv(starling_bin, "pub", "Triangle", "--type", "ShapeType", "--wait-subscribers",
                                      "2", json.dumps({"color": "CYAN", "x": 5, "y": 6, "shapesize": 7})), timeout=30)
        assert res.returncode == 0, res.stderr
        m = watch.collect(1, 20)
        assert len(m) == 1, bridge.describe()
        assert json.loads(m[0].body) == shape("CYAN", 5, 6, 7)
        h = m[0].headers
        assert h["destination"] == "/topic/shapes.triangle.CYAN" and h["type-name"] == "ShapeType", h
        assert h["content-type"] == "application/json" and int(h["sequence-number"]) == 1, h
        p.close()
        watch.close()


def test_cdr_route_both_ways(netns, bridge):
    """A route with format="cdr": DDS samples arrive as encapsulated CDR (application/cdr), and a CDR body sent
    by a STOMP client is written to DDS; the dispose header with a CDR body disposes."""
    with inside(netns):
        c = Client(binary=True)
        c.sub("/topic/shapes.pentagon.#", "cdr")
        pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Pentagon", count=2, instances=1, wait_match=20,
                                            rate=20)), "cyclone pub")
        got = c.collect(2, 60)
        assert pub.wait_exit(60) == 0, pub.describe()
        assert len(got) == 2, bridge.describe()
        for i, m in enumerate(got):
            h = m.headers
            assert h["content-type"] == "application/cdr" and h["destination"] == "/topic/shapes.pentagon.RED", h
            body = m.body
            assert isinstance(body, bytes) and int(h["content-length"]) == len(body)
            # Encapsulation header (CDR/PL_CDR/CDR2/D_CDR2/PL_CDR2, either endianness), then the color string.
            assert body[0] == 0 and body[1] in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11), body
            assert b"RED\x00" in body
        # Back into DDS: the same CDR bytes, then a dispose of that instance.
        sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Pentagon", count=1000, instances=1, timeout=90)),
                      "cyclone sub")
        assert sub.wait_stderr("cyclone sub: matched 1", 30), sub.describe()
        deadline = time.monotonic() + 30
        while not sub.data():
            assert time.monotonic() < deadline, sub.describe() + bridge.describe()
            c.send("/topic/shapes.pentagon.RED", got[1].body, **{"content-type": "application/cdr"})
            sub.wait_until(lambda w: w.data(), 0.3)
        assert sub.data()[0] == {"color": "RED", "x": 1, "y": 1, "shapesize": 30}, sub.data()
        c.send("/topic/shapes.pentagon.RED", got[1].body, **{"dds-instance-state": "disposed"})
        assert sub.wait_until(lambda w: w.disposes() == ["RED"], 30), sub.describe()
        c.close()


def test_websocket_listener(netns, bridge):
    """The stomp-ws listener of the configuration: DDS -> STOMP over WebSocket, and back into DDS."""
    with inside(netns):
        ws = Client(ws=True)
        ws.sub("/topic/shapes.square.*", "ws")
        pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Square", count=2, instances=1, wait_match=20,
                                            rate=20)), "cyclone pub")
        got = ws.collect(2, 60)
        assert pub.wait_exit(60) == 0, pub.describe()
        assert [json.loads(m.body) for m in got] == [shape("RED", 0, 0), shape("RED", 1, 1)], bridge.describe()
        assert all(m.headers["type-name"] == "ShapeType" for m in got)
        sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Circle", count=1000, instances=1, timeout=90)),
                      "cyclone sub")
        probe_until_matched(ws, sub, "/topic/shapes.circle.ORANGE", "ORANGE")
        ws.close()


def burst(n, color, port=PORT):
    """One raw STOMP 1.2 connection: `n` pipelined SENDs of `color` (x = sequence number), each asking for a
    RECEIPT; a reader thread collects the receipt ids while the frames are written. Returns the ids received."""
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0")
    got, buf = [], b""
    while b"\0" not in buf:
        buf += s.recv(4096)
    assert buf.startswith(b"CONNECTED"), buf
    buf = buf[buf.index(b"\0") + 1:]

    def read():
        nonlocal buf
        while len(got) < n:
            while b"\0" in buf:
                f, buf = buf.split(b"\0", 1)
                f = f.lstrip(b"\n")
                if f.startswith(b"RECEIPT"):
                    got.append(f.split(b"receipt-id:", 1)[1].split(b"\n", 1)[0].decode())
                elif f:
                    got.append("ERROR " + f.decode(errors="replace"))
            if len(got) >= n:
                break
            d = s.recv(65536)
            if not d:
                break
            buf += d

    t = threading.Thread(target=read)
    t.start()
    out = bytearray()
    for i in range(n):
        body = json.dumps({"x": i, "y": 0, "shapesize": 1}).encode()
        out += (f"SEND\ndestination:/topic/shapes.star.{color}\ncontent-type:application/json\nreceipt:{i}\n"
                f"content-length:{len(body)}\n\n").encode() + body + b"\0"
        if len(out) > 256 * 1024:
            s.sendall(out)
            out = bytearray()
    s.sendall(out)
    t.join(180)
    s.close()
    return got


def test_burst_larger_than_the_dds_queue_arrives_complete(netns, bridge):
    """20,000 pipelined SENDs with receipts from 4 connections at once (five times the bridge's 4,096-message queue
    towards DDS): every receipted message reaches the DDS reader, in order per connection. The bridge used to drop
    messages when that queue was full, after the client had its RECEIPT."""
    colors, per = ["RED", "GREEN", "BLUE", "YELLOW"], 5000
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Star", count=len(colors) * per + 1000, instances=5,
                                        timeout=240)), "cyclone sub")
    with inside(netns):
        p = Client()
        probe_until_matched(p, sub, "/topic/shapes.star.PURPLE", "PURPLE")
        p.close()
        bursts_reach_dds(sub, bridge, colors, per, burst, [str(i) for i in range(per)], "receipted")
