#!/usr/bin/env python3
"""ShapeType publisher/subscriber using the Eclipse Cyclone DDS Python binding (pip package `cyclonedds`).

See shape_common.py for the CLI and the output format. Unless CYCLONEDDS_URI is set, the peer uses
interop-tests/cyclonedds-lo.xml (loopback only, SPDP-only multicast, well-known ports, unicast peer 127.0.0.1).
"""
import os
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault(
    "CYCLONEDDS_URI", "file://" + os.path.join(os.path.dirname(HERE), "cyclonedds-lo.xml"))

from cyclonedds.core import Qos, Policy, ReadCondition, WaitSet, SampleState, ViewState, InstanceState  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.idl import IdlStruct  # noqa: E402
from cyclonedds.idl.annotations import key, appendable  # noqa: E402
from cyclonedds.idl.types import int32, uint8, sequence, bounded_str  # noqa: E402
from cyclonedds.internal import InvalidSample  # noqa: E402
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.sub import DataReader  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402

import shape_common as sc  # noqa: E402


@dataclass
@appendable
class ShapeType(IdlStruct, typename="ShapeType"):
    color: bounded_str[128]
    key("color")
    x: int32
    y: int32
    shapesize: int32
    additional_payload_size: sequence[uint8]


def make_qos(args):
    policies = [
        Policy.Reliability.Reliable(max_blocking_time=duration(seconds=10)) if args.reliable
        else Policy.Reliability.BestEffort,
        Policy.Durability.Transient if args.transient else
        Policy.Durability.TransientLocal if args.transient_local else Policy.Durability.Volatile,
        Policy.History.KeepAll,
    ]
    if args.xcdr2:
        policies.append(Policy.DataRepresentation(use_xcdrv2_representation=True))
    return Qos(*policies)


def run_pub(args, dp, topic):
    writer = DataWriter(dp, topic, qos=make_qos(args))
    sc.log("cyclone pub: ready")
    deadline = time.monotonic() + args.wait_match
    while writer.get_publication_matched_status().current_count < 1:
        if time.monotonic() >= deadline:
            sc.log("cyclone pub: no reader matched within --wait-match; writing anyway")
            break
        time.sleep(0.02)
    pacer = sc.Pacer(args.rate)
    for color, x, y in sc.samples(args.count, args.instances):
        writer.write(ShapeType(color=color, x=x, y=y, shapesize=sc.SHAPESIZE, additional_payload_size=[]))
        pacer.wait()
    if args.dispose:
        for color in sc.COLORS[:args.instances]:
            writer.dispose(ShapeType(color=color, x=0, y=0, shapesize=0, additional_payload_size=[]))
    if args.reliable:
        if not writer.wait_for_acks(duration(seconds=max(1.0, args.timeout))):
            sc.log("cyclone pub: not all samples acknowledged before the timeout")
    # Linger so that late ACKNACK/retransmit exchanges and best-effort deliveries complete.
    time.sleep(1.0)
    sc.log(f"cyclone pub: wrote {args.count} samples")
    return 0


def run_sub(args, dp, topic):
    reader = DataReader(dp, topic, qos=make_qos(args))
    cond = ReadCondition(reader, SampleState.Any | ViewState.Any | InstanceState.Any)
    ws = WaitSet(dp)
    ws.attach(cond)
    sc.log("cyclone sub: ready")
    want_disposes = args.instances if args.dispose else 0
    got, disposes, matched = 0, set(), 0
    deadline = time.monotonic() + args.timeout
    while (got < args.count or len(disposes) < want_disposes) and time.monotonic() < deadline:
        ws.wait(duration(milliseconds=100))
        m = reader.get_subscription_matched_status().current_count
        if m != matched:
            # Tests wait for this line before publishing towards this reader.
            matched = m
            sc.log(f"cyclone sub: matched {m} writers")
        batch = reader.take(N=256)
        disposed_now = []
        for s in batch:
            info = s.sample_info
            if isinstance(s, InvalidSample):
                color = s.key_sample.color
            else:
                color = s.color
                sc.emit_sample(s.color, s.x, s.y, s.shapesize)
                got += 1
            # A dispose shows up as an invalid sample, or only as the instance state of data samples taken
            # after the dispose arrived; report it once, after this batch's data for the instance.
            if info.instance_state == InstanceState.NotAliveDisposed and color not in disposes \
                    and color not in disposed_now:
                disposed_now.append(color)
        for color in disposed_now:
            sc.emit_dispose(color)
            disposes.add(color)
    sc.log(f"cyclone sub: received {got} samples, {len(disposes)} disposes")
    return 0


def main():
    args = sc.parse_args()
    dp = DomainParticipant(args.domain)
    topic = Topic(dp, args.topic, ShapeType)
    return run_pub(args, dp, topic) if args.mode == "pub" else run_sub(args, dp, topic)


if __name__ == "__main__":
    sys.exit(main())
