#!/usr/bin/env python3
"""Version 1 of the types in interop-tests/idl/evolution.idl, published or subscribed with the Eclipse Cyclone DDS
Python binding, for the XTypes type-evolution interop tests.

    cyclone_evolution.py pub|sub --type Reading|Level --topic T [--count N] [--wait-match S] [--timeout S]

pub: waits (bounded) for a matched reader, writes N samples {id: i % 2, value/level: i}, waits for acknowledgements.
sub: prints one JSON line per sample until N arrived or the timeout.
Both print `matched` on stderr when the other side matched, and the final matched count on exit.
Loopback only (interop-tests/cyclonedds-lo.xml) unless CYCLONEDDS_URI is set.
"""
import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault(
    "CYCLONEDDS_URI", "file://" + os.path.join(os.path.dirname(HERE), "cyclonedds-lo.xml"))

from cyclonedds.core import Qos, Policy  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.idl import IdlStruct  # noqa: E402
from cyclonedds.idl.annotations import key, mutable, final  # noqa: E402
from cyclonedds.idl.types import int32, float64  # noqa: E402
from cyclonedds.internal import InvalidSample  # noqa: E402
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.sub import DataReader  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402


@dataclass
@mutable
class Reading(IdlStruct, typename="evo::Reading"):
    id: int32
    key("id")
    value: float64


@dataclass
@final
class Level(IdlStruct, typename="evo::Level"):
    id: int32
    key("id")
    level: int32


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pub", "sub"])
    ap.add_argument("--type", choices=["Reading", "Level"], default="Reading")
    ap.add_argument("--topic", default="Readings")
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--wait-match", type=float, default=20.0)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    ty = Reading if a.type == "Reading" else Level
    dp = DomainParticipant(0)
    topic = Topic(dp, a.topic, ty)
    qos = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(seconds=10)), Policy.History.KeepAll,
              Policy.DataRepresentation(use_xcdrv2_representation=True))
    if a.mode == "pub":
        w = DataWriter(dp, topic, qos=qos)
        deadline = time.monotonic() + a.wait_match
        while w.get_publication_matched_status().current_count < 1:
            if time.monotonic() >= deadline:
                log("cyclone evolution pub: matched 0")
                return 3
            time.sleep(0.05)
        log("matched")
        for i in range(a.count):
            w.write(Reading(id=i % 2, value=i * 1.5) if ty is Reading else Level(id=i % 2, level=i))
        w.wait_for_acks(duration(seconds=a.timeout))
        time.sleep(0.5)
        log("cyclone evolution pub: matched 1")
        return 0
    r = DataReader(dp, topic, qos=qos)
    got, matched = 0, False
    deadline = time.monotonic() + a.timeout
    while got < a.count and time.monotonic() < deadline:
        if not matched and r.get_subscription_matched_status().current_count > 0:
            matched = True
            log("matched")
        for s in r.take(N=64):
            if isinstance(s, InvalidSample):
                continue
            rec = {"id": s.id, "value": s.value} if ty is Reading else {"id": s.id, "level": s.level}
            print(json.dumps(rec), flush=True)
            got += 1
        time.sleep(0.02)
    log(f"cyclone evolution sub: matched {r.get_subscription_matched_status().current_count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
