"""Statically typed topics generated from IDL by a build.rs (examples/typed-sensors, type sensors::Reading of
idl/sensors.idl: @appendable, string key, enum, optional member) against Cyclone DDS with the same IDL (the Python
binding, peers/cyclone_sensors.py), both directions, field by field."""
import os
import sys

import pytest

from netns import Watcher

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peers", "cyclone_sensors.py")


@pytest.fixture
def example_bin(starling_bin):
    path = os.path.join(os.path.dirname(starling_bin), "starling-example-sensors")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built (cargo build --release -p starling-example-sensors)")
    return path


def by_sensor(records):
    out = {}
    for r in records:
        out.setdefault(r["sensor_id"], []).append(r)
    return out


def test_generated_pub_to_cyclone_sub(netns, example_bin):
    sub = Watcher(netns.popen([sys.executable, "-u", PEER, "sub", "--count", 10]), "cyclone sub")
    pub = Watcher(netns.popen([example_bin, "pub", "--interface", "lo"]), "example pub")
    assert pub.wait_exit(60) == 0, pub.describe() + sub.describe()
    assert sub.wait_exit(60) == 0, sub.describe()
    per = by_sensor(sub.records)
    assert sorted(per) == ["sensor-0", "sensor-1"], sub.describe()
    for sensor, rs in per.items():
        n = int(sensor[-1])
        idx = [n + 2 * k for k in range(5)]
        assert [r["timestamp_ns"] for r in rs] == [1_700_000_000_000_000_000 + i * 1_000_000 for i in idx]
        assert [r["value"] for r in rs] == [20.0 + i / 4 for i in idx]
        assert all(r["unit"] == "CELSIUS" for r in rs)
        assert [r["note"] for r in rs] == [("first" if i == 0 else None) for i in idx]


def test_cyclone_pub_to_generated_sub(netns, example_bin):
    sub = Watcher(netns.popen([example_bin, "sub", "--interface", "lo"]), "example sub")
    pub = Watcher(netns.popen([sys.executable, "-u", PEER, "pub", "--count", 10]), "cyclone pub")
    assert pub.wait_exit(60) == 0, pub.describe() + sub.describe()
    assert sub.wait_exit(60) == 0, sub.describe()
    lines = [line for line in sub.bad_lines]  # the example prints text lines, not JSON
    assert len(lines) == 10, sub.describe()
    per = {}
    for line in lines:
        sensor, value, unit, *note = line.split()
        per.setdefault(sensor, []).append((float(value), unit, " ".join(note)))
    assert per == {
        "c-0": [(i * 0.5, "PERCENT", "") for i in range(0, 10, 2)],
        "c-1": [(i * 0.5, "PERCENT", "hello" if i == 1 else "") for i in range(1, 10, 2)],
    }, sub.describe()
