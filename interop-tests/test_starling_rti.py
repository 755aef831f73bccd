"""Starling <-> RTI Connext interoperability: ShapeType keyed by color, both directions, best-effort and reliable,
dispose propagation, and discovery as shown by `starling ls`."""
import pytest

import starling_cases as cases

PEER = "rti"


@pytest.mark.parametrize("reliable", [True, False], ids=["reliable", "best-effort"])
def test_rti_to_starling(netns, starling_bin, reliable):
    cases.peer_to_starling(netns, starling_bin, PEER, reliable)


@pytest.mark.parametrize("reliable", [True, False], ids=["reliable", "best-effort"])
def test_starling_to_rti(netns, starling_bin, reliable):
    cases.starling_to_peer(netns, starling_bin, PEER, reliable)


@pytest.mark.parametrize("kind", ["reader", "writer"])
def test_ls_lists_rti(netns, starling_bin, kind):
    cases.ls_sees_peer(netns, starling_bin, PEER, kind)
