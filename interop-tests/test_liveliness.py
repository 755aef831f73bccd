"""LIVELINESS against Cyclone DDS, both directions, in a private network namespace.

Cyclone writer (MANUAL_BY_PARTICIPANT: participant assertions as ParticipantMessageData; MANUAL_BY_TOPIC: writer
assertions as liveliness HEARTBEATs) -> `starling -v sub`, which logs every LIVELINESS_CHANGED status change:
alive while asserted, not alive once silent longer than the lease, alive again when it resumes.

Starling writer (`starling pub` with a QoS profile giving the liveliness, fed on stdin) -> Cyclone reader polling
its LIVELINESS_CHANGED status: MANUAL_BY_TOPIC and MANUAL_BY_PARTICIPANT writers stay alive through
`{"assert_liveliness":true}` lines (liveliness HEARTBEATs, manual ParticipantMessageData), die when they stop
writing and asserting, and come back with the next write; an AUTOMATIC writer with a short lease stays alive without writing (Starling's
automatic ParticipantMessageData keeps Cyclone's lease; before them Cyclone declared it dead).
"""
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest

from netns import Watcher
from shapes import starling_argv

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peers", "cyclone_liveliness.py")
LEASE = 2  # seconds; assertions come every LEASE/4, so a loaded machine has 1.5 s of slack
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHANGED = re.compile(r"LIVELINESS_CHANGED.*alive_count=(\d+) not_alive_count=(\d+)")


def cyclone(*args):
    return [sys.executable, "-u", PEER, *[str(a) for a in args]]


def starling_states(w):
    """(alive_count, not_alive_count) of every LIVELINESS_CHANGED line `starling -v sub` logged, in order."""
    out = []
    for line in list(w.stderr):
        m = CHANGED.search(ANSI.sub("", line))
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


def cyclone_states(w):
    with w.cond:
        return [(r["liveliness"]["alive_count"], r["liveliness"]["not_alive_count"])
                for r in w.records if "liveliness" in r]


@pytest.mark.parametrize("kind", ["manual-by-participant", "manual-by-topic"])
def test_cyclone_writer_liveliness_at_starling_reader(netns, starling_bin, kind):
    sub = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Lively", "--type", "ShapeType",
                                            "--reliable", "--timeout", 90)), "starling sub")
    pub = Watcher(netns.popen(cyclone("writer", "--kind", kind, "--lease", LEASE, "--assert-for", 3 * LEASE,
                                      "--pause", 3 * LEASE, "--resume-for", 3 * LEASE)), f"cyclone {kind} writer")
    try:
        def desc():
            return sub.describe() + "\n" + pub.describe()
        assert pub.wait_stderr("writer: asserting", 60), desc()
        assert sub.wait_until(lambda w: len(w.data()) == 1, 30), desc()
        assert sub.wait_until(lambda w: starling_states(w)[:1] == [(1, 0)], 30), desc()
        # Asserted faster than the lease: still alive when the writer falls silent.
        assert pub.wait_stderr("writer: silent", 60), desc()
        assert starling_states(sub) == [(1, 0)], desc()
        # Silent longer than the lease: not alive, and its instance has no writer left.
        assert sub.wait_until(lambda w: starling_states(w) == [(1, 0), (0, 1)], 4 * LEASE), desc()
        assert sub.wait_until(lambda w: any("unregister" in r for r in w.records), 10), desc()
        # Asserting again revives it.
        assert pub.wait_stderr("writer: resumed", 60), desc()
        assert sub.wait_until(lambda w: starling_states(w) == [(1, 0), (0, 1), (1, 0)], 4 * LEASE), desc()
        assert pub.wait_exit(60) == 0, desc()
    finally:
        netns.stop(pub.proc)
        netns.stop(sub.proc)


def profile_file(kind, lease):
    fd, path = tempfile.mkstemp(prefix="starling-liveliness-", suffix=".xml")
    with os.fdopen(fd, "w") as f:
        f.write(f"""<?xml version="1.0"?>
<dds>
  <qos_library name="Test">
    <qos_profile name="Lively">
      <datawriter_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <liveliness>
          <kind>{kind}_LIVELINESS_QOS</kind>
          <lease_duration><sec>{lease}</sec><nanosec>0</nanosec></lease_duration>
        </liveliness>
      </datawriter_qos>
    </qos_profile>
  </qos_library>
</dds>
""")
    return path


def start_starling_pub(netns, starling_bin, kind, lease):
    path = profile_file(kind, lease)
    proc = netns.popen(starling_argv(starling_bin, "--qos-file", path, "--profile", "Test::Lively", "pub",
                                     "Lively", "--type", "ShapeType", "--wait-subscribers", 1,
                                     "--wait-timeout", 60, "--linger", 5), stdin=subprocess.PIPE)
    return Watcher(proc, f"starling pub {kind}"), path


def assert_line(pub):
    pub.proc.stdin.write('{"assert_liveliness":true}\n')
    pub.proc.stdin.flush()


def write_line(pub, x):
    pub.proc.stdin.write('{"color":"RED","x":%d,"y":2,"shapesize":30}\n' % x)
    pub.proc.stdin.flush()


@pytest.mark.parametrize("kind", ["MANUAL_BY_TOPIC", "MANUAL_BY_PARTICIPANT"])
def test_starling_writer_liveliness_at_cyclone_reader(netns, starling_bin, kind):
    sub = Watcher(netns.popen(cyclone("reader", "--timeout", 90)), "cyclone reader")
    pub, path = start_starling_pub(netns, starling_bin, kind, LEASE)
    try:
        def desc():
            return sub.describe() + "\n" + pub.describe()
        assert sub.wait_until(lambda w: cyclone_states(w)[-1:] == [(1, 0)], 60), desc()
        write_line(pub, 1)
        assert sub.wait_until(lambda w: len(w.data()) == 1, 30), desc()
        # Assertions without writes (a ParticipantMessageData, or a liveliness HEARTBEAT) keep it alive.
        for _ in range(12):
            assert_line(pub)
            time.sleep(LEASE / 4)
        assert cyclone_states(sub)[-1:] == [(1, 0)] and (0, 1) not in cyclone_states(sub), desc()
        # No write (nor assertion) for longer than the lease: Cyclone sees the writer die.
        assert sub.wait_until(lambda w: cyclone_states(w)[-1:] == [(0, 1)], 4 * LEASE), desc()
        # The next write revives it.
        write_line(pub, 2)
        assert sub.wait_until(lambda w: len(w.data()) == 2, 30), desc()
        assert sub.wait_until(lambda w: cyclone_states(w)[-1:] == [(1, 0)], 4 * LEASE), desc()
        pub.proc.stdin.close()
        assert pub.wait_exit(30) == 0, desc()
        states = cyclone_states(sub)
        assert (0, 1) in states and states.index((0, 1)) < len(states) - 1, desc()
    finally:
        netns.stop(pub.proc)
        netns.stop(sub.proc)
        os.unlink(path)


def test_starling_automatic_writer_stays_alive_at_cyclone_reader(netns, starling_bin):
    """An AUTOMATIC writer with a 2 s lease that never writes: Starling's SPDP comes every 3 s, so only the
    automatic ParticipantMessageData (every 1 s) keeps Cyclone's lease for it."""
    sub = Watcher(netns.popen(cyclone("reader", "--timeout", 90)), "cyclone reader")
    pub, path = start_starling_pub(netns, starling_bin, "AUTOMATIC", LEASE)
    try:
        def desc():
            return sub.describe() + "\n" + pub.describe()
        assert sub.wait_until(lambda w: cyclone_states(w)[-1:] == [(1, 0)], 60), desc()
        # Five leases without a write.
        assert not sub.wait_until(lambda w: any(n > 0 for _, n in cyclone_states(w)), 5 * LEASE), desc()
        write_line(pub, 1)
        assert sub.wait_until(lambda w: len(w.data()) == 1, 30), desc()
        assert cyclone_states(sub) == [(0, 0), (1, 0)] or cyclone_states(sub) == [(1, 0)], desc()
        pub.proc.stdin.close()
        assert pub.wait_exit(30) == 0, desc()
    finally:
        netns.stop(pub.proc)
        netns.stop(sub.proc)
        os.unlink(path)
