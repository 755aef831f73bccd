#!/usr/bin/env python3
"""`sensors::Reading` of idl/sensors.idl (repository root), with the Eclipse Cyclone DDS Python binding: the peer of
the build.rs-generated example (examples/typed-sensors) in test_generated_types.py.

    cyclone_sensors.py pub|sub [--topic T] [--count N] [--wait-match S] [--timeout S]

pub: waits (bounded) for a reader, writes N readings of sensors c-0/c-1, waits for acknowledgements.
sub: prints one JSON line per reading until N arrived or the timeout.
Loopback only (interop-tests/cyclonedds-lo.xml) unless CYCLONEDDS_URI is set.
"""
import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault(
    "CYCLONEDDS_URI", "file://" + os.path.join(os.path.dirname(HERE), "cyclonedds-lo.xml"))

from cyclonedds.core import Qos, Policy  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.idl import IdlStruct, IdlEnum  # noqa: E402
from cyclonedds.idl.annotations import key, appendable  # noqa: E402
from cyclonedds.idl.types import int64, float64, bounded_str  # noqa: E402
from cyclonedds.internal import InvalidSample  # noqa: E402
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.sub import DataReader  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402


class Unit(IdlEnum, typename="sensors::Unit"):
    CELSIUS = 0
    PASCAL = 1
    PERCENT = 2


@dataclass
@appendable
class Reading(IdlStruct, typename="sensors::Reading"):
    sensor_id: bounded_str[64]
    key("sensor_id")
    timestamp_ns: int64
    value: float64
    unit: Unit
    note: Optional[bounded_str[256]] = None


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pub", "sub"])
    ap.add_argument("--topic", default="SensorReadings")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--wait-match", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=40.0)
    a = ap.parse_args()
    dp = DomainParticipant(0)
    topic = Topic(dp, a.topic, Reading)
    qos = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(seconds=10)), Policy.History.KeepAll)
    if a.mode == "pub":
        w = DataWriter(dp, topic, qos=qos)
        deadline = time.monotonic() + a.wait_match
        while w.get_publication_matched_status().current_count < 1:
            if time.monotonic() >= deadline:
                log("cyclone sensors pub: no reader matched")
                return 3
            time.sleep(0.05)
        for i in range(a.count):
            w.write(Reading(sensor_id=f"c-{i % 2}", timestamp_ns=1000 + i, value=i * 0.5, unit=Unit.PERCENT,
                            note="hello" if i == 1 else None))
        w.wait_for_acks(duration(seconds=a.timeout))
        time.sleep(0.5)
        log(f"cyclone sensors pub: wrote {a.count}")
        return 0
    r = DataReader(dp, topic, qos=qos)
    got = 0
    deadline = time.monotonic() + a.timeout
    while got < a.count and time.monotonic() < deadline:
        for s in r.take(N=64):
            if isinstance(s, InvalidSample):
                continue
            print(json.dumps({"sensor_id": s.sensor_id, "timestamp_ns": s.timestamp_ns, "value": s.value,
                              "unit": s.unit.name, "note": s.note}), flush=True)
            got += 1
        time.sleep(0.02)
    log(f"cyclone sensors sub: received {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
