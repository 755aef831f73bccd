"""Bridge core behaviour across processes, in a private network namespace: a route's TRANSIENT_LOCAL history of
depth N served to late-joining DDS readers, and the loop guard between two bridges on one DDS domain."""
import json

import pytest

from mqtt_helpers import Client, inside, start_config_bridge
from netns import Watcher
from shapes import starling_argv

TL_CONFIG = """<starling_bridge>
  <listener protocol="mqtt" address="127.0.0.1:1883"/>
  <route topic="Square" type="ShapeType" broker_name="shapes/square" direction="to_dds"
         reliability="reliable" durability="transient_local" history_depth="3"/>
</starling_bridge>"""


def test_transient_local_depth_n_to_late_dds_joiners(netns, starling_bin, tmp_path):
    """MQTT -> DDS on a TRANSIENT_LOCAL route with history_depth 3: a DDS reader that joins after five samples per
    instance were written gets exactly the last three of each instance."""
    bridge = start_config_bridge(netns, starling_bin, tmp_path, TL_CONFIG, [1883])
    early = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Square", "--type", "ShapeType",
                                              "--reliable", "--count", "10", "--timeout", "60")), "early sub")
    assert early.wait_stderr("publications matched", 30), early.describe() + bridge.describe()
    with inside(netns):
        p = Client(5, "tl-pub")
        for i in range(10):
            color = ["RED", "BLUE"][i % 2]
            p.pub(f"shapes/square/{color}", json.dumps({"x": i // 2, "y": i, "shapesize": 30}), qos=1)
        p.close()
    # The early (volatile) reader has all ten: every sample is in the route writer's history now.
    assert early.wait_exit(60) == 0, early.describe() + bridge.describe()
    assert len(early.data()) == 10, early.data()
    late = Watcher(netns.popen(starling_argv(starling_bin, "sub", "Square", "--type", "ShapeType", "--reliable",
                                             "--transient-local", "--count", "100", "--timeout", "8")), "late sub")
    assert late.wait_exit(60) == 0, late.describe()
    got = sorted((d["color"], d["x"]) for d in late.data())
    assert got == [("BLUE", 2), ("BLUE", 3), ("BLUE", 4), ("RED", 2), ("RED", 3), ("RED", 4)], late.data()


def two_bridge_config(port, forward):
    return f"""<starling_bridge>
  <listener protocol="mqtt" address="127.0.0.1:{port}"/>
  <route topic="Triangle" type="ShapeType" broker_name="shapes/triangle" direction="both"
         reliability="reliable" durability="transient_local"/>
  <loop_guard forward_other_bridges="{'true' if forward else 'false'}"/>
</starling_bridge>"""


@pytest.mark.parametrize("forward", [True, False], ids=["forward-other-bridges", "default"])
def test_loop_guard_between_two_bridges(netns, starling_bin, tmp_path, forward):
    """Two bridges on one DDS domain, both bridging Triangle both ways. A message an MQTT client sends to bridge A is
    written into DDS once; bridge B hands it to its own MQTT clients only with forward_other_bridges, and never
    writes it back into DDS, so nothing goes round between the bridges."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_config_bridge(netns, starling_bin, tmp_path / "a", two_bridge_config(1883, forward), [1883])
    b = start_config_bridge(netns, starling_bin, tmp_path / "b", two_bridge_config(1884, forward), [1884])
    dds = Watcher(netns.popen(starling_argv(starling_bin, "sub", "Triangle", "--type", "ShapeType", "--reliable",
                                            "--transient-local", "--count", "100", "--timeout", "60")), "dds sub")
    with inside(netns):
        on_a = Client(5, "on-a", port=1883)
        on_a.sub("shapes/triangle/#", 1)
        on_b = Client(5, "on-b", port=1884)
        on_b.sub("shapes/triangle/#", 1)
        p = Client(5, "pub-a", port=1883)
        p.pub("shapes/triangle/GREEN", json.dumps({"x": 1, "y": 2, "shapesize": 3}), qos=1)
        assert dds.wait_until(lambda w: len(w.data()) >= 1, 30), dds.describe() + a.describe() + b.describe()
        if forward:
            got_b = on_b.collect(1, timeout=30, settle=3.0)
            assert [(m.topic, json.loads(m.payload)["x"]) for m in got_b] == [("shapes/triangle/GREEN", 1)], \
                [(m.topic, m.payload) for m in got_b]
        else:
            assert on_b.drain(3.0) == []
        got_a = on_a.drain(0.5)
        # Bridge A's own client gets the message once, from A's broker; nothing comes back through B and DDS.
        assert [m.topic for m in got_a] == ["shapes/triangle/GREEN"], [(m.topic, m.payload) for m in got_a]
        assert [(d["color"], d["x"]) for d in dds.data()] == [("GREEN", 1)], dds.data()
        for c in (on_a, on_b, p):
            c.close()


SHUTDOWN_CONFIG = """<starling_bridge>
  <listener protocol="mqtt" address="127.0.0.1:1883"/>
  <route topic="Circle" type="ShapeType" broker_name="shapes/circle" direction="to_dds"
         reliability="reliable" history_depth="1000"/>
</starling_bridge>"""


def test_sigterm_completes_acknowledged_messages_into_dds(netns, starling_bin, tmp_path):
    """Graceful shutdown: every QoS 1 message the bridge acknowledged (PUBACK) before SIGTERM is written into DDS
    and delivered to a reliable DDS reader before the bridge exits."""
    n = 300
    bridge = start_config_bridge(netns, starling_bin, tmp_path, SHUTDOWN_CONFIG, [1883])
    sub = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Circle", "--type", "ShapeType",
                                            "--reliable", "--count", str(n), "--timeout", "60")), "dds sub")
    assert sub.wait_stderr("publications matched", 30), sub.describe() + bridge.describe()
    with inside(netns):
        p = Client(5, "burst")
        infos = [p.c.publish("shapes/circle/RED", json.dumps({"x": i, "y": 0, "shapesize": 30}), qos=1)
                 for i in range(n)]
        for info in infos:
            info.wait_for_publish(30)
        assert all(info.is_published() for info in infos)
        netns.stop(bridge.proc, grace=15)
    assert bridge.proc.returncode == 0, bridge.describe()
    assert sub.wait_exit(60) == 0, sub.describe()
    assert [d["x"] for d in sub.data()] == list(range(n)), sub.describe()


DEFAULT_MAPPING_CONFIG = """<starling_bridge>
  <listener protocol="mqtt" address="127.0.0.1:1883"/>
  <default_mapping prefix="dds" allow="Sq*" deny="SquareSecret"/>
</starling_bridge>"""


def test_default_mapping_allow_and_deny(netns, starling_bin, tmp_path):
    """Topics without a route: the default mapping bridges an allowed topic found by discovery (type learned from
    the writer) as `prefix/Topic/key`, and not a denied one nor one outside the allow patterns."""
    bridge = start_config_bridge(netns, starling_bin, tmp_path, DEFAULT_MAPPING_CONFIG, [1883])
    with inside(netns):
        mq = Client(5, "dm")
        mq.sub("dds/#", 1)
        pubs = []
        for topic, color in [("SquareSecret", "RED"), ("Circle", "BLUE"), ("Square", "GREEN")]:
            sample = json.dumps({"color": color, "x": 1, "y": 2, "shapesize": 30})
            pubs.append(Watcher(netns.popen(starling_argv(starling_bin, "pub", topic, "--type", "ShapeType",
                                                          "--rate", "5", "--count", "100", sample)), topic))
        got = mq.collect(1, timeout=40, settle=3.0)
        for p in pubs:
            netns.stop(p.proc)
        topics = {m.topic for m in got}
        assert topics == {"dds/Square/GREEN"}, (topics, bridge.describe())
        s = json.loads(got[0].payload)
        assert (s["color"], s["x"], s["y"]) == ("GREEN", 1, 2), s
        mq.close()
