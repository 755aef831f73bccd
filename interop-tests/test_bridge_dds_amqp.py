"""`starling bridge --config`: DDS (Cyclone DDS) <-> AMQP 0-9-1 (pika, kombu) through the bridge's routes, in
a private network namespace. DDS samples arrive on amq.topic (routing key shapes.circle.RED) and on the headers
exchanges (x-match on the DDS metadata headers); JSON payload field by field, dispose -> empty message with
dds-instance-state; pika publishes on amq.topic -> DDS writes (key from the routing key, empty body disposes);
nothing an AMQP client sends into DDS comes back to AMQP."""
import json
import socket
import time

import pika
import pytest

from mqtt_helpers import inside, start_config_bridge
from netns import Watcher
from shapes import peer_argv

PORT = 5672

CONFIG = """<dds>
  <qos_library name="Bridge">
    <qos_profile name="State">
      <datawriter_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <history><kind>KEEP_ALL_HISTORY_QOS</kind></history>
      </datawriter_qos>
      <datareader_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <history><kind>KEEP_ALL_HISTORY_QOS</kind></history>
      </datareader_qos>
    </qos_profile>
    <!-- Towards DDS: a late-matching reader still gets every sample, so the test cannot race discovery. -->
    <qos_profile name="Durable" base_name="Bridge::State">
      <datawriter_qos>
        <durability><kind>TRANSIENT_LOCAL_DURABILITY_QOS</kind></durability>
      </datawriter_qos>
    </qos_profile>
  </qos_library>
  <bridge>
    <listener protocol="amqp" address="127.0.0.1:5672"/>
    <route topic="Circle" type="ShapeType" broker_name="shapes/circle" direction="from_dds"
           qos_profile="Bridge::State"/>
    <route topic="Square" type="ShapeType" broker_name="shapes/square" direction="to_dds"
           qos_profile="Bridge::Durable"/>
    <route topic="Triangle" type="ShapeType" broker_name="shapes/triangle" direction="both"
           qos_profile="Bridge::Durable"/>
    <route topic="Pentagon" type="ShapeType" broker_name="cdr/pentagon" direction="from_dds" format="cdr"
           qos_profile="Bridge::State"/>
  </bridge>
</dds>
"""


@pytest.fixture
def bridge(netns, starling_bin, tmp_path):
    yield start_config_bridge(netns, starling_bin, tmp_path, CONFIG, [PORT])


def conn():
    params = pika.ConnectionParameters("127.0.0.1", PORT, credentials=pika.PlainCredentials("guest", "guest"))
    return pika.BlockingConnection(params)


def get_until(ch, q, pred, timeout):
    """basic.get from q until pred(messages) holds or the deadline passes; returns the messages."""
    out = []
    deadline = time.time() + timeout
    while not pred(out) and time.time() < deadline:
        m, p, b = ch.basic_get(q, auto_ack=True)
        if m is None:
            time.sleep(0.05)
            continue
        out.append((m, p, b))
    return out


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def headers(p):
    return {k: text(v) for k, v in (p.headers or {}).items()}


def check_sample(m, p, b, color):
    s = json.loads(b)
    assert set(s) == {"color", "x", "y", "shapesize", "additional_payload_size"}, s
    assert s["color"] == color and s["shapesize"] == 30 and s["additional_payload_size"] == [], s
    assert s["y"] % 3 == ["RED", "BLUE", "GREEN"].index(color) and s["x"] == s["y"] // 3, s
    h = headers(p)
    assert h["type-name"] == "ShapeType" and h["topic"] == "Circle", h
    assert h["writer-guid"] and int(h["source-timestamp"]) > 0 and int(h["sequence-number"]) > 0, h
    assert "dds-instance-state" not in h, h
    assert p.content_type == "application/json" and p.type == "ShapeType", p
    assert abs(p.timestamp - time.time()) < 3600, p
    return s["x"]


def test_cyclone_to_pika(netns, bridge):
    with inside(netns):
        c = conn()
        ch = c.channel()
        for q in ["by-key", "red-only", "by-headers", "disposes"]:
            ch.queue_declare(q)
        ch.queue_bind("by-key", "amq.topic", "shapes.circle.#")
        ch.queue_bind("red-only", "amq.topic", "shapes.circle.RED")
        ch.queue_bind("by-headers", "amq.headers",
                      arguments={"x-match": "all", "type-name": "ShapeType", "topic": "Circle"})
        ch.queue_bind("disposes", "amq.match", arguments={"x-match": "any", "dds-instance-state": "disposed"})
        pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Circle", count=12, instances=3, dispose=True,
                                            wait_match=20, rate=20)), "cyclone pub")
        assert pub.wait_exit(60) == 0, pub.describe() + bridge.describe()
        got = get_until(ch, "by-key", lambda ms: len(ms) >= 15, 20)
        assert len(got) == 15, [(m.routing_key, b) for m, _, b in got] + [bridge.describe()]
        data = [(m, p, b) for m, p, b in got if b]
        per = {}
        for m, p, b in data:
            assert m.exchange == "amq.topic"
            color = m.routing_key.rsplit(".", 1)[1]
            assert m.routing_key == f"shapes.circle.{color}", m.routing_key
            per.setdefault(color, []).append(check_sample(m, p, b, color))
        assert sorted(per) == ["BLUE", "GREEN", "RED"]
        assert all(xs == [0, 1, 2, 3] for xs in per.values()), per
        disposes = [(m, p) for m, p, b in got if not b]
        assert sorted(m.routing_key for m, _ in disposes) == \
            ["shapes.circle.BLUE", "shapes.circle.GREEN", "shapes.circle.RED"]
        assert all(headers(p)["dds-instance-state"] == "disposed" for _, p in disposes)
        red = get_until(ch, "red-only", lambda ms: len(ms) >= 5, 10)
        assert [json.loads(b)["x"] for _, _, b in red if b] == [0, 1, 2, 3] and not red[-1][2]
        hdr = get_until(ch, "by-headers", lambda ms: len(ms) >= 15, 10)
        assert [(m.routing_key, b) for m, _, b in hdr] == [(m.routing_key, b) for m, _, b in got]
        assert all(m.exchange == "amq.headers" for m, _, _ in hdr)
        disp = get_until(ch, "disposes", lambda ms: len(ms) >= 3, 10)
        assert sorted(m.routing_key for m, _, _ in disp) == sorted(m.routing_key for m, _ in disposes)
        for q in ["by-key", "red-only", "by-headers", "disposes"]:
            assert ch.basic_get(q)[0] is None, q
        c.close()


def test_pika_to_cyclone(netns, bridge):
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Square", count=6, instances=2, dispose=True,
                                        timeout=60, transient_local=True)), "cyclone sub")
    assert sub.wait_stderr("cyclone sub: matched", 30), sub.describe() + bridge.describe()
    with inside(netns):
        c = conn()
        ch = c.channel()
        ch.confirm_delivery()
        per = {"RED": 0, "BLUE": 0}
        for i in range(6):
            color = ["RED", "BLUE"][i % 2]
            body = {"x": per[color], "y": i, "shapesize": 30}
            if i >= 4:
                body["color"] = color  # the key may also be in the body
            # The key comes from the routing key's last level; the body may leave it out.
            ch.basic_publish("amq.topic", f"shapes.square.{color}", json.dumps(body),
                             pika.BasicProperties(content_type="application/json"))
            per[color] += 1
        ch.basic_publish("amq.topic", "shapes.square.RED", b"")
        ch.basic_publish("amq.topic", "shapes.square.BLUE", b"")
        assert sub.wait_exit(60) == 0, sub.describe() + bridge.describe()
        c.close()
    # A reader takes samples grouped by instance: check the order per instance.
    for color, ys in [("RED", [0, 2, 4]), ("BLUE", [1, 3, 5])]:
        assert [(d["x"], d["y"], d["shapesize"]) for d in sub.data() if d["color"] == color] == \
            [(x, y, 30) for x, y in enumerate(ys)], sub.data()
    assert len(sub.data()) == 6, sub.data()
    assert sorted(sub.disposes()) == ["BLUE", "RED"]


def test_loop_guard(netns, bridge):
    """pika -> bridge -> Cyclone sub, and Cyclone pub -> bridge -> pika; what the bridge writes into DDS for an
    AMQP client does not come back to AMQP."""
    with inside(netns):
        c = conn()
        ch = c.channel()
        ch.confirm_delivery()
        ch.queue_declare("watch")
        ch.queue_bind("watch", "amq.topic", "shapes.triangle.#")
        sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Triangle", count=1, instances=1, timeout=60,
                                            transient_local=True)), "cyclone sub")
        assert sub.wait_stderr("cyclone sub: matched", 30), sub.describe() + bridge.describe()
        ch.basic_publish("amq.topic", "shapes.triangle.GREEN", json.dumps({"x": 1, "y": 2, "shapesize": 3}))
        assert sub.wait_exit(60) == 0, sub.describe() + bridge.describe()
        assert [(d["color"], d["x"], d["y"]) for d in sub.data()] == [("GREEN", 1, 2)]
        # A Cyclone sample after it: anything echoed through DDS would have been queued before it.
        pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Triangle", count=1, instances=1, wait_match=20)),
                      "cyclone pub")
        assert pub.wait_exit(60) == 0, pub.describe() + bridge.describe()
        got = get_until(ch, "watch", lambda ms: any(m.routing_key == "shapes.triangle.RED" for m, _, _ in ms), 20)
        assert [(m.routing_key, json.loads(b)) for m, _, b in got] == [
            ("shapes.triangle.GREEN", {"x": 1, "y": 2, "shapesize": 3}),
            ("shapes.triangle.RED", {"color": "RED", "x": 0, "y": 0, "shapesize": 30, "additional_payload_size": []}),
        ], [(m.routing_key, b) for m, _, b in got]
        assert headers(got[1][1])["type-name"] == "ShapeType"
        c.close()


def test_kombu_consumer(netns, bridge):
    from kombu import Connection, Exchange, Queue

    ex = Exchange("amq.topic", type="topic", durable=True, no_declare=True)
    q = Queue("kombu-circles", exchange=ex, routing_key="shapes.circle.*")
    got = []

    def on_message(body, message):
        got.append((message.delivery_info["routing_key"], body))
        message.ack()

    with inside(netns):
        with Connection(f"amqp://guest:guest@127.0.0.1:{PORT}//") as kc:
            with kc.Consumer(q, callbacks=[on_message], accept=["json"]):
                pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Circle", count=2, instances=1,
                                                    wait_match=20)), "cyclone pub")
                deadline = time.time() + 30
                while len(got) < 2 and time.time() < deadline:
                    try:
                        kc.drain_events(timeout=0.5)
                    except socket.timeout:
                        pass
                assert pub.wait_exit(60) == 0, pub.describe()
    assert [(k, b["color"], b["x"], b["y"]) for k, b in got] == [
        ("shapes.circle.RED", "RED", 0, 0), ("shapes.circle.RED", "RED", 1, 1)], got


def test_cdr_route(netns, bridge):
    """A route with format="cdr": the body is the encapsulated sample, content-type application/cdr."""
    with inside(netns):
        c = conn()
        ch = c.channel()
        ch.queue_declare("cdr")
        ch.queue_bind("cdr", "amq.topic", "cdr.pentagon.*")
        pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Pentagon", count=2, instances=1, wait_match=20)),
                      "cyclone pub")
        assert pub.wait_exit(60) == 0, pub.describe() + bridge.describe()
        got = get_until(ch, "cdr", lambda ms: len(ms) >= 2, 20)
        assert [m.routing_key for m, _, _ in got] == ["cdr.pentagon.RED"] * 2, got
        for _, p, b in got:
            assert p.content_type == "application/cdr" and headers(p)["type-name"] == "ShapeType", p
            # Encapsulation header (representation id, options), then the key string "RED".
            assert b[0] == 0 and b[1] in (0, 1, 6, 7, 8, 9, 10, 11) and len(b) >= 24, b
            assert b"RED\x00" in b[4:16], b
        c.close()
