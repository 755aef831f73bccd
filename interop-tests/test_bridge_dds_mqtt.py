"""`starling bridge --config`: DDS (Cyclone DDS, Starling) <-> MQTT (paho) through the bridge's routes, in a
private network namespace. ShapeType keyed by color: JSON payload field by field, one retained message per
instance, dispose -> empty retained message, MQTT 5 user properties, MQTT -> DDS writes."""
import json
import os
import socket
import struct
import threading
import time

import pytest

from mqtt_helpers import Client, bursts_reach_dds, inside, start_config_bridge
from netns import Watcher
from shapes import peer_argv, starling_argv

CONFIG = """<dds>
  <qos_library name="Bridge">
    <qos_profile name="State">
      <datawriter_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <history><kind>KEEP_LAST_HISTORY_QOS</kind><depth>1</depth></history>
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
    <listener protocol="mqtt" address="127.0.0.1:1883"/>
    <route topic="Square" type="ShapeType" broker_name="shapes/square" direction="from_dds"
           qos_profile="Bridge::State"/>
    <route topic="Circle" type="ShapeType" broker_name="shapes/circle" direction="to_dds"
           qos_profile="Bridge::State"/>
    <route topic="Triangle" type="ShapeType" broker_name="shapes/triangle" direction="both"
           qos_profile="Bridge::State"/>
    <route topic="Star" type="ShapeType" broker_name="shapes/star" direction="to_dds"
           qos_profile="Bridge::Stream"/>
  </bridge>
</dds>
"""


@pytest.fixture
def bridge(netns, starling_bin, tmp_path):
    yield start_config_bridge(netns, starling_bin, tmp_path, CONFIG, [1883])


def props(m):
    up = getattr(m.properties, "UserProperty", None) if m.properties else None
    return dict(up or [])


def by_topic(msgs):
    out = {}
    for m in msgs:
        out.setdefault(m.topic, []).append(m)
    return out


def test_cyclone_to_mqtt(netns, bridge):
    pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Square", count=12, instances=3, dispose=True,
                                        wait_match=20, rate=20)), "cyclone pub")
    with inside(netns):
        live = Client(5, "live")
        live.sub("shapes/square/#", 1)
        assert pub.wait_exit(60) == 0, pub.describe() + bridge.describe()
        # 12 samples and 3 disposes; then a short settle catches any extra message.
        got = live.collect(15, timeout=30.0, settle=1.0)
        data = [m for m in got if m.payload]
        assert len(data) == 12, str([(m.topic, m.payload) for m in got]) + bridge.describe() + pub.describe()
        per = by_topic(data)
        assert set(per) == {"shapes/square/RED", "shapes/square/BLUE", "shapes/square/GREEN"}
        for topic, ms in per.items():
            color = topic.rsplit("/", 1)[1]
            xs = []
            for m in ms:
                s = json.loads(m.payload)
                assert s["color"] == color and s["shapesize"] == 30, s
                assert s["y"] % 3 == ["RED", "BLUE", "GREEN"].index(color) and s["x"] == s["y"] // 3, s
                assert s["additional_payload_size"] == []
                xs.append(s["x"])
                p = props(m)
                assert p.get("type-name") == "ShapeType", p
                assert "writer-guid" in p and int(p["source-timestamp"]) > 0 and int(p["sequence-number"]) > 0, p
            assert xs == sorted(xs) and len(xs) == 4
        disposes = [m for m in got if not m.payload]
        assert sorted(m.topic for m in disposes) == sorted(per), [(m.topic, props(m)) for m in disposes]
        assert all(props(m).get("dds-instance-state") == "disposed" for m in disposes)
        # Disposed instances leave no retained message.
        late = Client(5, "late")
        late.sub("shapes/square/#", 1)
        assert [m for m in late.drain(1.0)] == []
        live.close()
        late.close()


def test_retained_latest_per_instance(netns, bridge):
    pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Square", count=9, instances=3, wait_match=20, rate=20)),
                  "cyclone pub")
    assert pub.wait_exit(60) == 0, pub.describe()
    expected = {
        "shapes/square/RED": {"color": "RED", "x": 2, "y": 6, "shapesize": 30, "additional_payload_size": []},
        "shapes/square/BLUE": {"color": "BLUE", "x": 2, "y": 7, "shapesize": 30, "additional_payload_size": []},
        "shapes/square/GREEN": {"color": "GREEN", "x": 2, "y": 8, "shapesize": 30, "additional_payload_size": []},
    }
    with inside(netns):
        # The bridge may still be forwarding the last samples: late joiners until the retained set is the
        # latest value per instance (bounded).
        deadline = time.monotonic() + 20.0
        while True:
            late = Client(4, "late311")
            late.sub("shapes/square/+", 1)
            got = late.collect(3, timeout=3.0, settle=0.5)
            late.close()
            latest = {m.topic: json.loads(m.payload) for m in got}
            if latest == expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert all(m.retain for m in got)
        assert len(got) == 3, [(m.topic, m.payload) for m in got]
        assert latest == expected, latest


def test_mqtt_to_cyclone(netns, bridge):
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Circle", count=6, instances=2, dispose=True,
                                        timeout=40)), "cyclone sub")
    with inside(netns):
        pub = Client(5, "pub")
        # Discovery between the bridge's writer and the Cyclone reader.
        assert sub.wait_stderr("cyclone sub: matched", 30), sub.describe() + bridge.describe()
        per = {"RED": 0, "BLUE": 0}
        for i in range(6):
            color = ["RED", "BLUE"][i % 2]
            # The key comes from the topic level; the payload may leave it out.
            pub.pub(f"shapes/circle/{color}", json.dumps({"x": per[color], "y": i, "shapesize": 30}), qos=1)
            per[color] += 1
            time.sleep(0.05)
        time.sleep(0.5)
        pub.pub("shapes/circle/RED", b"", qos=1)
        pub.pub("shapes/circle/BLUE", b"", qos=1)
        assert sub.wait_exit(40) == 0, sub.describe() + bridge.describe()
        pub.close()
    data = sub.data()
    assert [(d["color"], d["x"], d["y"]) for d in data] == [
        ("RED", 0, 0), ("BLUE", 0, 1), ("RED", 1, 2), ("BLUE", 1, 3), ("RED", 2, 4), ("BLUE", 2, 5)], data
    assert sorted(sub.disposes()) == ["BLUE", "RED"]


def test_starling_pub_and_loop_guard(netns, bridge, starling_bin):
    """`starling pub` -> bridge -> paho, and paho -> bridge -> `starling sub`; what the bridge writes into DDS
    does not come back to MQTT."""
    with inside(netns):
        mq = Client(5, "watch")
        mq.sub("shapes/triangle/#", 1)
        sub = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Triangle", "--type", "ShapeType",
                                                "--count", "2", "--timeout", "30")), "starling sub")
        # The bridge's Triangle writer (volatile) must have matched the reader before GREEN is written.
        assert sub.wait_stderr("publications matched", 30), sub.describe() + bridge.describe()
        p = Client(5, "pubber")
        p.pub("shapes/triangle/GREEN", json.dumps({"x": 1, "y": 2, "shapesize": 3}), qos=1)
        got = mq.drain(2.0)
        # Exactly the client's own message (from the broker), no echo through DDS.
        assert [(m.topic, json.loads(m.payload)) for m in got] == [
            ("shapes/triangle/GREEN", {"x": 1, "y": 2, "shapesize": 3})], [(m.topic, m.payload) for m in got]
        # Two subscribers: the bridge's reader and `starling sub`'s; with one, the writer may be gone before the
        # second has matched it, and that reader never sees CYAN.
        pub = netns.run(starling_argv(starling_bin, "pub", "Triangle", "--type", "ShapeType", "--wait-subscribers",
                                      "2", json.dumps({"color": "CYAN", "x": 5, "y": 6, "shapesize": 7})), timeout=30)
        assert pub.returncode == 0, pub.stderr
        m = mq.get(timeout=20)
        assert m.topic == "shapes/triangle/CYAN"
        assert json.loads(m.payload)["x"] == 5 and props(m)["type-name"] == "ShapeType"
        assert sub.wait_exit(30) == 0, sub.describe()
        colors = [d["color"] for d in sub.data()]
        assert colors == ["GREEN", "CYAN"], colors
        mq.close()
        p.close()


LIFESPAN_QOS = """<dds><qos_library name="L"><qos_profile name="P"><datawriter_qos>
  <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
  <lifespan><duration><sec>30</sec><nanosec>0</nanosec></duration></lifespan>
</datawriter_qos></qos_profile></qos_library></dds>"""


def test_lifespan_to_message_expiry(netns, bridge, starling_bin, tmp_path):
    """A DDS writer's LIFESPAN becomes the MQTT 5 Message Expiry Interval (the time left) of the bridged message."""
    q = tmp_path / "qos.xml"
    q.write_text(LIFESPAN_QOS)
    with inside(netns):
        mq = Client(5, "exp")
        mq.sub("shapes/square/#", 1)
        pub = netns.run(starling_argv(starling_bin, "--qos-file", q, "--profile", "L::P", "pub", "Square", "--type",
                                      "ShapeType", "--wait-subscribers", "1",
                                      json.dumps({"color": "ORANGE", "x": 1, "y": 2, "shapesize": 3})), timeout=30)
        assert pub.returncode == 0, pub.stderr
        m = mq.get(timeout=20)
        assert m.topic == "shapes/square/ORANGE"
        assert 0 < m.properties.MessageExpiryInterval <= 30, m.properties
        mq.close()


def _packet(first, body):
    n, rl = len(body), bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        rl.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes([first]) + bytes(rl) + body


def _utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def qos1_burst(n, color):
    """One raw MQTT 3.1.1 connection: `n` pipelined QoS 1 PUBLISHes to shapes/star/`color` (x = sequence number,
    packet id = x + 1) while a reader thread collects the PUBACKed packet ids. Returns the ids acknowledged."""
    s = socket.create_connection(("127.0.0.1", 1883), timeout=120)
    s.sendall(_packet(0x10, _utf8("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 0) + _utf8(f"burst-{color}")))
    buf = b""
    while len(buf) < 4:
        d = s.recv(4)
        assert d, "closed before CONNACK"
        buf += d
    assert buf[0] == 0x20 and buf[3] == 0, buf
    acked = []

    def read():
        rbuf = b""
        while len(acked) < n:
            d = s.recv(65536)
            if not d:
                return
            rbuf += d
            # Only PUBACKs (4 bytes each) come back on this connection.
            while len(rbuf) >= 4:
                assert rbuf[0] == 0x40 and rbuf[1] == 2, rbuf[:8]
                acked.append(struct.unpack(">H", rbuf[2:4])[0])
                rbuf = rbuf[4:]

    t = threading.Thread(target=read)
    t.start()
    out = bytearray()
    topic = _utf8(f"shapes/star/{color}")
    for i in range(n):
        body = json.dumps({"x": i, "y": 0, "shapesize": 1}).encode()
        out += _packet(0x32, topic + struct.pack(">H", i + 1) + body)
        if len(out) > 256 * 1024:
            s.sendall(out)
            out = bytearray()
    s.sendall(out)
    t.join(200)
    s.close()
    return acked


def test_qos1_burst_larger_than_the_queues_arrives_complete(netns, bridge):
    """30,000 pipelined QoS 1 PUBLISHes from 4 connections at once (more than the bridge's outbox of 10,000
    plus its 4,096-message queue towards DDS): every PUBACKed message reaches the DDS reader, in order per
    connection. The bridge used to PUBACK once the message was in its internal session's outbox and to drop
    what overflowed that outbox."""
    colors, per = ["RED", "GREEN", "BLUE", "YELLOW"], 7500
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Star", count=len(colors) * per + 1000, instances=5,
                                        timeout=280)), "cyclone sub")
    with inside(netns):
        probe = Client(5, "probe")
        assert sub.wait_stderr("cyclone sub: matched 1", 30), sub.describe() + bridge.describe()
        # Until the reader has a sample, the bridge's writer may not have matched it yet.
        deadline = time.monotonic() + 30
        i = 0
        while not any(d["color"] == "PURPLE" for d in sub.data()):
            assert time.monotonic() < deadline, sub.describe() + bridge.describe()
            probe.pub("shapes/star/PURPLE", json.dumps({"x": i, "y": 0, "shapesize": 1}), qos=1)
            i += 1
            sub.wait_until(lambda w: any(d["color"] == "PURPLE" for d in w.data()), 0.3)
        probe.close()
        # Every packet id PUBACKed (in any order), then every message in DDS in order per connection.
        bursts_reach_dds(sub, bridge, colors, per, lambda n, c: sorted(qos1_burst(n, c)),
                         list(range(1, per + 1)), "PUBACKed")
