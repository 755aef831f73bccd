#!/usr/bin/env python3
"""OMG shape_main-compatible application on Eclipse Cyclone DDS (pip package `cyclonedds`, Cyclone 11).

Command line and stdout lines: see shape_main_common.py (the shape_main contract). Unless CYCLONEDDS_URI is set,
Cyclone uses interop-tests/cyclonedds-lo.xml (loopback only, SPDP-only multicast, well-known ports, unicast peer
127.0.0.1).

Limits (printed as `not supported`): Cyclone DDS implements PRESENTATION matching but not coherent sets
(`dds_begin_coherent` returns UNSUPPORTED and its readers ignore PID_COHERENT_SET), so a publisher that must write
sets (`--coherent --coherent-sample-count N`) and a subscriber with `--coherent` report coherent access as not
supported; a publisher with `--coherent` and no sets only offers the QoS. Ordered access is honoured where Cyclone
gives it by construction: a writer's samples go out in order, and a reader returns each instance's samples in
order (INSTANCE scope); TOPIC-scope ordered reading and GROUP scope are reported as not supported.
TRANSIENT/PERSISTENT writers behave as Cyclone makes them without a durability service: like TRANSIENT_LOCAL,
serving their DURABILITY_SERVICE history to late joiners while they live. The content filter (`-c` or `--cft`
on a subscriber) is applied in this program, because the Python binding offers no SQL content-filtered topic;
`--cft` accepts comparisons of x, y or shapesize with integers joined by AND.
"""
import os
import sys
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault(
    "CYCLONEDDS_URI", "file://" + os.path.join(os.path.dirname(HERE), "cyclonedds-lo.xml"))

from cyclonedds.core import Listener, InstanceState  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.idl import IdlStruct  # noqa: E402
from cyclonedds.idl.annotations import key, appendable  # noqa: E402
from cyclonedds.idl.types import int32, uint8, sequence, bounded_str  # noqa: E402
from cyclonedds.internal import InvalidSample  # noqa: E402
from cyclonedds.pub import DataWriter, Publisher  # noqa: E402
from cyclonedds.qos import Policy, Qos  # noqa: E402
from cyclonedds.sub import DataReader, Subscriber  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402

import shape_main_common as sm  # noqa: E402


@dataclass
@appendable
class ShapeType(IdlStruct, typename="ShapeType"):
    color: bounded_str[128]
    key("color")
    x: int32
    y: int32
    shapesize: int32
    additional_payload_size: sequence[uint8]


STATES = {InstanceState.Alive: "ALIVE", InstanceState.NotAliveDisposed: "NOT_ALIVE_DISPOSED",
          InstanceState.NotAliveNoWriters: "NOT_ALIVE_NO_WRITERS"}


class CycloneBackend:
    def __init__(self, a):
        self.dp = DomainParticipant(a.domain)
        self.topics = {}
        scope = {"i": Policy.PresentationAccessScope.Instance, "t": Policy.PresentationAccessScope.Topic,
                 "g": Policy.PresentationAccessScope.Group}[a.access_scope]
        group = [scope(coherent_access=a.coherent, ordered_access=a.ordered)]
        if a.partition:
            group.append(Policy.Partition(partitions=[a.partition]))
        self.pub = Publisher(self.dp, qos=Qos(*group)) if a.publish else None
        self.sub = Subscriber(self.dp, qos=Qos(*group)) if a.subscribe else None

    def unsupported(self, a):
        lines = []
        if a.coherent and (a.subscribe or a.coherent_sample_count > 0):
            lines.append("    Presentation Coherent Access = not supported")
        if a.ordered and (a.access_scope == "g" or (a.subscribe and a.access_scope == "t")):
            lines.append("    Presentation Ordered Access = not supported")
        return lines

    def create_topic(self, a, name):
        # Registering the type (XTypes type information) takes a while in Python; doing it here keeps the
        # writer's first write close to its creation.
        self._topic(name)

    def _topic(self, name):
        if name not in self.topics:
            self.topics[name] = Topic(self.dp, name, ShapeType)
        return self.topics[name]

    def _qos(self, a):
        p = [Policy.Reliability.Reliable(max_blocking_time=duration(seconds=1)) if a.reliable
             else Policy.Reliability.BestEffort,
             {"v": Policy.Durability.Volatile, "l": Policy.Durability.TransientLocal,
              "t": Policy.Durability.Transient, "p": Policy.Durability.Persistent}[a.durability],
             Policy.DataRepresentation(use_cdrv0_representation=a.xcdr == 1,
                                       use_xcdrv2_representation=a.xcdr == 2)]
        if a.depth is not None:
            history = Policy.History.KeepAll if a.depth == 0 else Policy.History.KeepLast(depth=a.depth)
        else:
            history = Policy.History.KeepLast(depth=1)
        p.append(history)
        if a.publish and a.durability != "v":
            # Cyclone keeps DURABILITY_SERVICE.history (default KEEP_LAST 1) for late joiners of a transient-local
            # writer, not HISTORY; make it the writer's history, as the other vendors' writers behave.
            p.append(Policy.DurabilityService(cleanup_delay=0, history=history, max_samples=-1, max_instances=-1,
                                              max_samples_per_instance=-1))
        if a.deadline > 0:
            p.append(Policy.Deadline(deadline=duration(milliseconds=a.deadline)))
        if a.strength >= 0:
            p.append(Policy.Ownership.Exclusive)
            if a.publish:
                p.append(Policy.OwnershipStrength(strength=a.strength))
        else:
            p.append(Policy.Ownership.Shared)
        if a.lifespan > 0:
            p.append(Policy.Lifespan(lifespan=duration(milliseconds=a.lifespan)))
        if a.time_filter > 0:
            p.append(Policy.TimeBasedFilter(filter_time=duration(milliseconds=a.time_filter)))
        if a.publish and a.final_instance_state == "u":
            p.append(Policy.WriterDataLifecycle(autodispose=False))
        return Qos(*p)

    def create_writer(self, a, name):
        def matched(w, s):
            sm.out(sm.publication_matched_line(name, s.current_count, s.current_count_change))

        def incompatible(w, s):
            sm.out(sm.incompatible_line("on_offered_incompatible_qos", name, s.last_policy_id))

        def missed(w, s):
            sm.out(sm.deadline_line("on_offered_deadline_missed", name, s.total_count, s.total_count_change))

        listener = Listener(on_publication_matched=matched, on_offered_incompatible_qos=incompatible,
                            on_offered_deadline_missed=missed)
        return DataWriter(self.pub, self._topic(name), qos=self._qos(a), listener=listener)

    def make_filter(self, a, name):
        return sm.SimpleFilter(color=a.color, expression=a.cft)

    def create_reader(self, a, name, flt):
        def matched(r, s):
            sm.out(sm.subscription_matched_line(name, s.current_count, s.current_count_change))

        def incompatible(r, s):
            sm.out(sm.incompatible_line("on_requested_incompatible_qos", name, s.last_policy_id))

        def missed(r, s):
            sm.out(sm.deadline_line("on_requested_deadline_missed", name, s.total_count, s.total_count_change))

        listener = Listener(on_subscription_matched=matched, on_requested_incompatible_qos=incompatible,
                            on_requested_deadline_missed=missed)
        reader = DataReader(self.sub, self._topic(name), qos=self._qos(a), listener=listener)
        return (reader, flt)

    def write(self, w, color, x, y, size, payload):
        w.write(ShapeType(color=color, x=x, y=y, shapesize=size, additional_payload_size=payload))

    def dispose(self, w, color):
        w.dispose(ShapeType(color=color, x=0, y=0, shapesize=0, additional_payload_size=[]))

    def unregister(self, w, color):
        w.unregister_instance(ShapeType(color=color, x=0, y=0, shapesize=0, additional_payload_size=[]))

    def take(self, entry, a):
        reader, flt = entry
        batch = reader.read(N=1000) if a.use_read else reader.take(N=1000)
        res = []
        for s in batch:
            state = STATES.get(s.sample_info.instance_state, "ALIVE")
            if isinstance(s, InvalidSample):
                color = s.key_sample.color if s.key_sample is not None else None
                if flt is not None and flt.color is not None and color != flt.color:
                    continue
                res.append((False, color, 0, 0, 0, None, state))
                continue
            if flt is not None and not flt.accepts(s.color, s.x, s.y, s.shapesize):
                continue
            last = s.additional_payload_size[-1] if len(s.additional_payload_size) else None
            res.append((True, s.color, s.x, s.y, s.shapesize, last, state))
        return res

    def poll(self):
        pass

    def wait_acks(self, writers, seconds):
        for w in writers:
            try:
                w.wait_for_acks(duration(seconds=seconds))
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    def close(self):
        pass


def main():
    a = sm.parse_args(prog="shape_main_cyclone")
    return sm.run(CycloneBackend(a), a)


if __name__ == "__main__":
    sys.exit(main())
