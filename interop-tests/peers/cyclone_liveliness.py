#!/usr/bin/env python3
"""LIVELINESS peer using the Eclipse Cyclone DDS Python binding (ShapeType, see cyclone_shape.py).

  writer --kind {automatic,manual-by-participant,manual-by-topic} --lease SECS
         [--assert-for SECS] [--pause SECS] [--resume-for SECS]
      Waits for a reader, writes one sample, asserts liveliness every lease/4 for --assert-for seconds
      (manual-by-participant: dds_assert_liveliness on the participant; manual-by-topic: on the writer; automatic:
      nothing), stays silent for --pause seconds, then asserts again for --resume-for seconds. Logs
      "writer: asserting", "writer: silent", "writer: resumed" on stderr.

  reader --timeout SECS
      Prints every change of its LIVELINESS_CHANGED status as a JSON line
      {"liveliness": {"alive_count": A, "not_alive_count": N}} and every sample as its JSON, until the timeout.

The binding has no assert_liveliness, so dds_assert_liveliness is called through ctypes.
"""
import argparse
import ctypes
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault(
    "CYCLONEDDS_URI", "file://" + os.path.join(os.path.dirname(HERE), "cyclonedds-lo.xml"))

from cyclonedds.core import Qos, Policy  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.internal import load_cyclonedds  # noqa: E402
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.sub import DataReader  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402

from cyclone_shape import ShapeType  # noqa: E402

KINDS = {
    "automatic": Policy.Liveliness.Automatic,
    "manual-by-participant": Policy.Liveliness.ManualByParticipant,
    "manual-by-topic": Policy.Liveliness.ManualByTopic,
}


def log(msg):
    print(f"cyclone liveliness {msg}", file=sys.stderr, flush=True)


def assert_liveliness(entity):
    lib = load_cyclonedds()
    lib.dds_assert_liveliness.argtypes = [ctypes.c_int32]
    lib.dds_assert_liveliness.restype = ctypes.c_int32
    rc = lib.dds_assert_liveliness(entity._ref)
    if rc != 0:
        log(f"dds_assert_liveliness returned {rc}")


def run_writer(args, dp, topic):
    qos = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(seconds=1)),
              Policy.History.KeepLast(1),
              KINDS[args.kind](lease_duration=duration(seconds=args.lease)))
    writer = DataWriter(dp, topic, qos=qos)
    deadline = time.monotonic() + args.wait_match
    while writer.get_publication_matched_status().current_count < 1:
        if time.monotonic() >= deadline:
            log("writer: no reader matched")
            return 1
        time.sleep(0.02)
    writer.write(ShapeType(color="RED", x=1, y=2, shapesize=30, additional_payload_size=[]))
    target = dp if args.kind == "manual-by-participant" else writer

    def asserting(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if args.kind != "automatic":
                assert_liveliness(target)
            time.sleep(args.lease / 4)

    log("writer: asserting")
    asserting(args.assert_for)
    log("writer: silent")
    time.sleep(args.pause)
    log("writer: resumed")
    asserting(args.resume_for)
    log("writer: done")
    return 0


def run_reader(args, dp, topic):
    reader = DataReader(dp, topic, qos=Qos(Policy.Reliability.Reliable(max_blocking_time=duration(seconds=1))))
    log("reader: ready")
    last = None
    end = time.monotonic() + args.timeout
    while time.monotonic() < end:
        st = reader.get_liveliness_changed_status()
        now = (st.alive_count, st.not_alive_count)
        if now != last:
            print(json.dumps({"liveliness": {"alive_count": now[0], "not_alive_count": now[1]}}), flush=True)
            last = now
        for s in reader.take(N=16):
            if hasattr(s, "color"):
                print(json.dumps({"color": s.color, "x": s.x, "y": s.y, "shapesize": s.shapesize}), flush=True)
        time.sleep(0.05)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["writer", "reader"])
    ap.add_argument("--topic", default="Lively")
    ap.add_argument("--domain", type=int, default=0)
    ap.add_argument("--kind", choices=sorted(KINDS), default="manual-by-participant")
    ap.add_argument("--lease", type=float, default=1.0)
    ap.add_argument("--assert-for", type=float, default=3.0)
    ap.add_argument("--pause", type=float, default=4.0)
    ap.add_argument("--resume-for", type=float, default=3.0)
    ap.add_argument("--wait-match", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    dp = DomainParticipant(args.domain)
    topic = Topic(dp, args.topic, ShapeType)
    return run_writer(args, dp, topic) if args.mode == "writer" else run_reader(args, dp, topic)


if __name__ == "__main__":
    sys.exit(main())
