"""TRANSIENT and PERSISTENT durability with the `starling durability` service: a writer writes and exits, the
service holds its samples (per the writer's DURABILITY_SERVICE policy) and serves them to late-joining readers,
PERSISTENT samples survive a restart of the service, disposed instances are dropped; and across vendors, a
Cyclone DDS TRANSIENT reader late-joining gets the samples the Starling service holds (and the service holds a
Cyclone TRANSIENT writer's samples for a late Starling reader). Each test runs in its own network namespace."""
import json
import os
import tempfile

from netns import Watcher
from shapes import SHAPESIZE, peer_argv, starling_argv

WAIT = 30


def shape(color, x):
    return json.dumps({"color": color, "x": x, "y": 0, "shapesize": SHAPESIZE})


def start_service(netns, starling_bin, *extra):
    svc = Watcher(netns.popen(starling_argv(starling_bin, "durability", *extra)), "durability")
    assert svc.wait_until(lambda w: "durability service ready" in w.bad_lines, WAIT), svc.describe()
    return svc


def status(svc, topic, **want):
    """True once the service printed a status line for `topic` with the wanted fields."""
    return svc.wait_until(
        lambda w: any(r.get("topic") == topic and all(r.get(k) == v for k, v in want.items()) for r in w.records),
        WAIT)


def publish(netns, starling_bin, topic, kind, samples, *extra, services=1):
    """A Starling writer that waits for the services' readers, writes `samples`, waits for acks and exits."""
    p = netns.run(starling_argv(starling_bin, "pub", topic, "--type", "ShapeType", f"--{kind}", "--reliable",
                                "--wait-subscribers", services, "--wait-timeout", WAIT, "--linger", "10", *extra,
                                *samples), timeout=WAIT + 30)
    assert p.returncode == 0, p.stderr


def late_reader(netns, starling_bin, topic, kind, count, timeout=20):
    sub = Watcher(netns.popen(starling_argv(starling_bin, "sub", topic, "--type", "ShapeType", f"--{kind}",
                                            "--reliable", "--count", count, "--timeout", timeout)), "late sub")
    assert sub.wait_exit(timeout + 20) == 0, sub.describe()
    return sub


def test_transient_samples_outlive_the_writer(netns, starling_bin):
    svc = start_service(netns, starling_bin)
    written = [shape("RED", 1), shape("BLUE", 2), shape("RED", 3), shape("BLUE", 4)]
    publish(netns, starling_bin, "DurT", "transient", written)
    # The writer is gone; the service holds its samples and serves them.
    assert status(svc, "DurT", samples=4, writers=0, serving=True), svc.describe()
    sub = late_reader(netns, starling_bin, "DurT", "transient", 4)
    got = [(d["color"], d["x"]) for d in sub.data()]
    assert sorted(got) == [("BLUE", 2), ("BLUE", 4), ("RED", 1), ("RED", 3)], sub.describe()
    assert [x for c, x in got if c == "RED"] == [1, 3], got


def test_history_depth_of_durability_service(netns, starling_bin):
    """The writer's DURABILITY_SERVICE history is KEEP_LAST 2 (`pub --depth 2`): the service keeps the newest two
    samples per instance, and a late reader gets those and nothing older."""
    svc = start_service(netns, starling_bin)
    written = [shape(c, x) for x in range(5) for c in ("RED", "BLUE")]
    publish(netns, starling_bin, "DurDepth", "transient", written, "--depth", "2", "--rate", "50")
    assert status(svc, "DurDepth", samples=4, instances=2, writers=0, serving=True), svc.describe()
    # Asks for more than is held, so the reader runs to its timeout and shows everything it was sent.
    sub = late_reader(netns, starling_bin, "DurDepth", "transient", 5, timeout=6)
    got = sorted((d["color"], d["x"]) for d in sub.data())
    assert got == [("BLUE", 3), ("BLUE", 4), ("RED", 3), ("RED", 4)], sub.describe()


def test_persistent_samples_survive_a_service_restart(netns, starling_bin):
    with tempfile.TemporaryDirectory(prefix="starling-durability-") as store:
        svc = start_service(netns, starling_bin, "--store", store)
        written = [shape("GREEN", 10), shape("GREEN", 11), shape("ORANGE", 12)]
        publish(netns, starling_bin, "DurP", "persistent", written)
        assert status(svc, "DurP", samples=3, writers=0, serving=True), svc.describe()
        netns.stop(svc.proc)
        assert svc.wait_exit(10) is not None
        assert any(f.startswith("t-") and f.endswith(".log") for f in os.listdir(store)), os.listdir(store)

        svc2 = start_service(netns, starling_bin, "--store", store)
        assert status(svc2, "DurP", samples=3, serving=True), svc2.describe()
        sub = late_reader(netns, starling_bin, "DurP", "persistent", 3)
        got = sorted((d["color"], d["x"]) for d in sub.data())
        assert got == [("GREEN", 10), ("GREEN", 11), ("ORANGE", 12)], sub.describe()


def test_disposed_instance_is_dropped(netns, starling_bin):
    """service_cleanup_delay 0: an instance disposed by a writer that then leaves is not served."""
    svc = start_service(netns, starling_bin)
    samples = [shape("RED", 1), shape("BLUE", 2), json.dumps({"dispose": {"color": "RED"}})]
    publish(netns, starling_bin, "DurDispose", "transient", samples)
    assert status(svc, "DurDispose", samples=1, instances=1, writers=0, serving=True), svc.describe()
    sub = late_reader(netns, starling_bin, "DurDispose", "transient", 2, timeout=6)
    assert [(d["color"], d["x"]) for d in sub.data()] == [("BLUE", 2)], sub.describe()


def test_cyclone_transient_reader_gets_held_samples(netns, starling_bin):
    svc = start_service(netns, starling_bin)
    written = [shape("RED", x) for x in range(3)] + [shape("BLUE", x) for x in range(3)]
    publish(netns, starling_bin, "DurCyc", "transient", written)
    assert status(svc, "DurCyc", samples=6, writers=0, serving=True), svc.describe()
    argv = peer_argv("cyclone", "sub", "DurCyc", reliable=True, count=6, instances=2, timeout=30)
    sub = Watcher(netns.popen(argv + ["--transient"]), "cyclone sub")
    assert sub.wait_exit(60) == 0, sub.describe()
    got = sorted((d["color"], d["x"]) for d in sub.data())
    assert got == sorted([("RED", x) for x in range(3)] + [("BLUE", x) for x in range(3)]), sub.describe()


def test_service_holds_cyclone_transient_writer(netns, starling_bin):
    """The Cyclone writer leaves DURABILITY_SERVICE at its default, KEEP_LAST 1: the service holds the newest
    sample of each instance."""
    svc = start_service(netns, starling_bin)
    argv = peer_argv("cyclone", "pub", "DurFromCyc", reliable=True, count=4, instances=2, timeout=20)
    pub = Watcher(netns.popen(argv + ["--transient"]), "cyclone pub")
    assert pub.wait_exit(60) == 0, pub.describe()
    assert status(svc, "DurFromCyc", samples=2, instances=2, writers=0, serving=True), svc.describe()
    sub = late_reader(netns, starling_bin, "DurFromCyc", "transient", 3, timeout=6)
    got = sorted((d["color"], d["x"]) for d in sub.data())
    assert got == [("BLUE", 1), ("RED", 1)], sub.describe()


def xs_of(sub, color):
    return [d["x"] for d in sub.data() if d["color"] == color]


def test_late_reader_gets_history_after_writer_crash(netns, starling_bin):
    """A TRANSIENT writer that is killed (kill -9) stays alive in discovery until its lease (10 s) runs out; a
    reader joining in that window gets the history from the service, each sample once and in order. A reader
    joining while the writer is alive gets each sample once too, though the writer and the service both serve
    it (the service's copies carry PID_ORIGINAL_WRITER_INFO and the reader drops what it already has)."""
    svc = start_service(netns, starling_bin)
    written = [shape("RED", x) for x in range(6)]
    pub = Watcher(netns.popen(starling_argv(starling_bin, "pub", "DurCrash", "--type", "ShapeType", "--transient",
                                            "--reliable", "--wait-subscribers", "1", "--wait-timeout", WAIT,
                                            "--linger", "10", "--stay", "120", *written)), "writer")
    assert pub.wait_stderr("staying", WAIT + 20), pub.describe()
    assert status(svc, "DurCrash", samples=6, writers=1), svc.describe()

    # The writer is alive: it and the service both serve the late reader, which delivers each sample once.
    # (It asks for one more than was written, so it runs to its timeout and shows any duplicate.)
    sub = late_reader(netns, starling_bin, "DurCrash", "transient", 7, timeout=6)
    assert xs_of(sub, "RED") == list(range(6)), sub.describe()

    pub.proc.kill()  # SIGKILL: no goodbye; the writer's lease has not run out for a while
    assert pub.wait_exit(10) is not None
    sub = late_reader(netns, starling_bin, "DurCrash", "transient", 6, timeout=20)
    assert xs_of(sub, "RED") == list(range(6)), sub.describe()
    # Once the lease ran out the service serves every late joiner; the history is the same.
    assert status(svc, "DurCrash", samples=6, writers=0, serving=True), svc.describe()
    sub = late_reader(netns, starling_bin, "DurCrash", "transient", 7, timeout=6)
    assert xs_of(sub, "RED") == list(range(6)), sub.describe()


def test_two_services_serve_once_and_align(netns, starling_bin):
    """Two services: a late reader gets each sample once; a service started later aligns with the running one
    (holds what it holds, relayed with the original identities), so the data survives a restart of either."""
    a = start_service(netns, starling_bin)
    written = [shape("RED", 1), shape("BLUE", 2), shape("RED", 3), shape("BLUE", 4)]
    publish(netns, starling_bin, "DurTwo", "transient", written)
    assert status(a, "DurTwo", samples=4, writers=0, serving=True), a.describe()

    # B starts after the writer is gone: it gets the samples from A.
    b = start_service(netns, starling_bin)
    assert status(b, "DurTwo", samples=4, writers=0, peers=1), b.describe()
    sub = late_reader(netns, starling_bin, "DurTwo", "transient", 5, timeout=6)
    assert xs_of(sub, "RED") == [1, 3] and xs_of(sub, "BLUE") == [2, 4], sub.describe()

    # A restarts (TRANSIENT: memory only) while B runs, and aligns from B; then B goes and A serves alone.
    netns.stop(a.proc)
    assert a.wait_exit(10) is not None
    a2 = start_service(netns, starling_bin)
    assert status(a2, "DurTwo", samples=4, peers=1), a2.describe()
    netns.stop(b.proc)
    assert b.wait_exit(10) is not None
    assert status(a2, "DurTwo", samples=4, peers=0, serving=True), a2.describe()
    sub = late_reader(netns, starling_bin, "DurTwo", "transient", 5, timeout=6)
    assert xs_of(sub, "RED") == [1, 3] and xs_of(sub, "BLUE") == [2, 4], sub.describe()


def test_two_services_cyclone_reader_gets_each_sample_once(netns, starling_bin):
    """Cyclone readers do not drop relayed duplicates: only one of two services serves them."""
    a = start_service(netns, starling_bin)
    b = start_service(netns, starling_bin)
    written = [shape("RED", x) for x in range(3)] + [shape("BLUE", x) for x in range(3)]
    publish(netns, starling_bin, "DurTwoCyc", "transient", written, services=2)
    assert status(a, "DurTwoCyc", samples=6, writers=0, serving=True, peers=1), a.describe()
    assert status(b, "DurTwoCyc", samples=6, writers=0, serving=True, peers=1), b.describe()
    # Asks for more than is held, so it runs to its timeout and shows any duplicate.
    argv = peer_argv("cyclone", "sub", "DurTwoCyc", reliable=True, count=7, instances=2, timeout=8)
    sub = Watcher(netns.popen(argv + ["--transient"]), "cyclone sub")
    assert sub.wait_exit(60) is not None, sub.describe()
    got = sorted((d["color"], d["x"]) for d in sub.data())
    assert got == sorted([("RED", x) for x in range(3)] + [("BLUE", x) for x in range(3)]), sub.describe()
