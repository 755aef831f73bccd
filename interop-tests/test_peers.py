"""Sanity checks of the harness and of the third-party peers on their own (no Starling involved)."""
import pytest

from netns import Watcher
from shapes import peer_argv, check_shapes

COUNT, INSTANCES = 1000, 4


@pytest.mark.parametrize("pub_peer,sub_peer", [
    ("cyclone", "cyclone"),
    ("rti", "cyclone"),
    ("cyclone", "rti"),
    ("rti", "rti"),
])
def test_peer_to_peer_reliable(netns, pub_peer, sub_peer):
    sub = Watcher(netns.popen(peer_argv(sub_peer, "sub", "Square", count=COUNT, instances=INSTANCES,
                                        dispose=True, timeout=60)), f"{sub_peer} sub")
    assert sub.wait_stderr("sub: ready", 30), sub.describe()
    # RTI Connector's reader stops acknowledging at 256 unconsumed samples when a writer bursts faster than
    # the Python loop takes them (seen with Cyclone as the writer: its write() then times out). Pacing the
    # publisher keeps this a test of the peers' interoperability, not of the Connector's resource limits.
    rate = 500 if sub_peer == "rti" else None
    pub = Watcher(netns.popen(peer_argv(pub_peer, "pub", "Square", count=COUNT, instances=INSTANCES,
                                        dispose=True, wait_match=30, timeout=30, rate=rate)), f"{pub_peer} pub")
    done = sub.wait_until(lambda w: len(w.data()) >= COUNT and len(set(w.disposes())) >= INSTANCES, 90)
    assert done, sub.describe() + "\n" + pub.describe()
    assert sub.wait_exit(30) == 0, sub.describe()
    assert pub.wait_exit(60) == 0, pub.describe()
    assert not sub.bad_lines, sub.describe()
    check_shapes(sub.data(), sub.disposes(), COUNT, INSTANCES, reliable=True)
