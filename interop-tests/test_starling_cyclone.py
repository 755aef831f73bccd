"""Starling <-> Cyclone DDS interoperability: ShapeType keyed by color, both directions, best-effort and reliable,
dispose propagation, and discovery as shown by `starling ls`."""
import pytest

import starling_cases as cases

PEER = "cyclone"


@pytest.mark.parametrize("reliable", [True, False], ids=["reliable", "best-effort"])
def test_cyclone_to_starling(netns, starling_bin, reliable):
    cases.peer_to_starling(netns, starling_bin, PEER, reliable)


@pytest.mark.parametrize("reliable", [True, False], ids=["reliable", "best-effort"])
def test_starling_to_cyclone(netns, starling_bin, reliable):
    cases.starling_to_peer(netns, starling_bin, PEER, reliable)


@pytest.mark.parametrize("kind", ["reader", "writer"])
def test_ls_lists_cyclone(netns, starling_bin, kind):
    cases.ls_sees_peer(netns, starling_bin, PEER, kind)


def test_starling_sub_learns_type_from_cyclone(netns, starling_bin):
    """`starling sub TOPIC` with no --type: the type comes from the Cyclone writer's TypeInformation through the
    XTypes TypeLookup service, and samples print as JSON."""
    from netns import Watcher
    from shapes import peer_argv, starling_argv

    pub = Watcher(netns.popen(peer_argv("cyclone", "pub", "Learned", reliable=True, count=40, instances=2,
                                        rate=20)), "cyclone pub")
    sub = Watcher(netns.popen(starling_argv(starling_bin, "sub", "Learned", "--count", "10", "--timeout", "30")),
                  "starling sub")
    try:
        assert sub.wait_exit(40) == 0, sub.describe() + "\n" + pub.describe()
        data = sub.data()
        assert len(data) == 10, sub.describe()
        colors = {d["color"] for d in data}
        assert colors <= {"RED", "BLUE"} and colors, data
        for d in data:
            assert set(d) == {"color", "x", "y", "shapesize", "additional_payload_size"}, d
            assert d["shapesize"] == 30
    finally:
        netns.stop(pub.proc)
        netns.stop(sub.proc)
