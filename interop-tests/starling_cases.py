"""Test bodies shared by the Starling interop tests (peer -> Starling, Starling -> peer, `starling ls`)."""
import json
import re
import os
import tempfile

from netns import Watcher
from shapes import (peer_argv, starling_argv, sample_lines, check_shapes, find_endpoint, VENDOR_NAMES)

COUNT, INSTANCES = 1000, 4
BEST_EFFORT_RATE = 1000  # Hz: bounded publication rate for best-effort runs
RTI_RATE = 500  # Hz: reliable publication rate towards RTI Connector (see starling_pub)


def qos_flag(reliable):
    return "--reliable" if reliable else "--best-effort"


def wait_delivery(sub, pub, reliable):
    """Reliable: every sample and every dispose must arrive. Best effort guarantees nothing, so wait for the
    publisher to finish and then (bounded) for the disposes; what arrived is checked by check_shapes."""
    if reliable:
        assert sub.wait_until(complete(reliable), 90), sub.describe() + "\n" + pub.describe()
        assert pub.wait_exit(60) == 0, pub.describe()
    else:
        assert pub.wait_exit(90) == 0, pub.describe()
        sub.wait_until(complete(reliable), 10)


def complete(reliable):
    """Condition: every dispose seen, and for reliable also every sample (disposes are written last)."""
    def pred(w):
        if len(set(w.disposes())) < INSTANCES:
            return False
        return not reliable or len(w.data()) >= COUNT
    return pred


def starling_pub(ns, binary, publisher, topic, reliable, count=COUNT):
    """Start `starling pub` reading COUNT samples + INSTANCES disposes from stdin."""
    fd, path = tempfile.mkstemp(prefix="starling-pub-", suffix=".jsonl")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(sample_lines(count, INSTANCES, dispose=True)) + "\n")
    cmd = ["pub", topic, "--type", "ShapeType", qos_flag(reliable), "--wait-subscribers", 1,
           "--wait-timeout", 30, "--linger", 10]
    if not reliable:
        cmd += ["--rate", BEST_EFFORT_RATE]
    elif publisher == "rti":
        # RTI Connector's reader stops acknowledging at 256 unconsumed samples when a writer bursts faster than
        # the Python loop takes them (as in test_peers.py, seen with Cyclone as the writer too). Pace the burst.
        cmd += ["--rate", RTI_RATE]
    stdin = open(path)
    try:
        return Watcher(ns.popen(starling_argv(binary, *cmd), stdin=stdin), f"starling pub -> {publisher}")
    finally:
        stdin.close()
        os.unlink(path)


def peer_to_starling(ns, binary, peer, reliable, topic="Square"):
    # No --count: the subscriber is stopped once the disposes (written last) have arrived, so that dispose
    # lines after the last data sample are not cut off.
    sub = Watcher(ns.popen(starling_argv(binary, "sub", topic, "--type", "ShapeType", qos_flag(reliable),
                                         "--timeout", 90)), "starling sub")
    pub = Watcher(ns.popen(peer_argv(peer, "pub", topic, reliable=reliable, count=COUNT, instances=INSTANCES,
                                     dispose=True, wait_match=30, timeout=30,
                                     rate=None if reliable else BEST_EFFORT_RATE)), f"{peer} pub")
    try:
        wait_delivery(sub, pub, reliable)
    finally:
        ns.stop(sub.proc)
        sub.wait_exit(10)
    assert not sub.bad_lines, sub.describe()
    check_shapes(sub.data(), sub.disposes(), COUNT, INSTANCES, reliable, dispose_expected=reliable)


def starling_to_peer(ns, binary, peer, reliable, topic="Square"):
    sub = Watcher(ns.popen(peer_argv(peer, "sub", topic, reliable=reliable, count=COUNT, instances=INSTANCES,
                                     dispose=True, timeout=90)), f"{peer} sub")
    try:
        assert sub.wait_stderr("sub: ready", 30), sub.describe()
        pub = starling_pub(ns, binary, peer, topic, reliable)
        wait_delivery(sub, pub, reliable)
    finally:
        ns.stop(sub.proc)
        sub.wait_exit(10)
    assert not sub.bad_lines, sub.describe()
    check_shapes(sub.data(), sub.disposes(), COUNT, INSTANCES, reliable, dispose_expected=reliable)


def starling_to_starling(ns, binary, reliable, topic="Square"):
    sub = Watcher(ns.popen(starling_argv(binary, "sub", topic, "--type", "ShapeType", qos_flag(reliable),
                                         "--timeout", 90)), "starling sub")
    try:
        pub = starling_pub(ns, binary, "starling", topic, reliable)
        wait_delivery(sub, pub, reliable)
    finally:
        ns.stop(sub.proc)
        sub.wait_exit(10)
    assert not sub.bad_lines, sub.describe()
    check_shapes(sub.data(), sub.disposes(), COUNT, INSTANCES, reliable, dispose_expected=reliable)


def run_ls(ns, binary):
    res = ns.run(starling_argv(binary, "ls", "--wait", 3, "--json"), timeout=30)
    assert res.returncode == 0, f"starling ls failed ({res.returncode}): {res.stderr}"
    return json.loads(res.stdout)


def ls_sees_peer(ns, binary, peer, kind, topic="LsProbe"):
    """`starling ls` lists a running peer's participant (with its vendor) and its endpoint on `topic`."""
    if kind == "reader":
        argv = peer_argv(peer, "sub", topic, count=1, timeout=60)
    else:  # a writer with no reader waits (up to --wait-match) before writing, so it stays up
        argv = peer_argv(peer, "pub", topic, count=1, wait_match=60, timeout=5)
    p = Watcher(ns.popen(argv), f"{peer} {kind}")
    try:
        assert p.wait_stderr(": ready", 30), p.describe()
        ls = run_ls(ns, binary)
    finally:
        ns.stop(p.proc)
        p.wait_exit(10)
    participant, ep = find_endpoint(ls, topic, kind, VENDOR_NAMES[peer])
    assert participant is not None, f"no {VENDOR_NAMES[peer]} {kind} on {topic} in: {json.dumps(ls, indent=1)}"
    assert participant["locators"], participant
    # The GUID columns: the participant's prefix is three 8-digit hex groups, and the endpoint's GUID is that
    # prefix plus its entity id.
    assert re.fullmatch(r"[0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f]{8}", participant["guid_prefix"]), participant
    assert re.fullmatch(re.escape(participant["guid_prefix"]) + r":[0-9a-f]{8}", ep["guid"]), (participant, ep)
    assert ep["type_name"] == "ShapeType" and ep["reliability"] == "reliable" \
        and ep["durability"] == "volatile", ep
    assert {"name": topic, "type_name": "ShapeType"} in [
        {"name": t["name"], "type_name": t["type_name"]} for t in ls["topics"]], ls["topics"]
