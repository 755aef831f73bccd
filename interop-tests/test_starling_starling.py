"""Starling <-> Starling: ShapeType keyed by color, best-effort and reliable, dispose propagation,
and discovery of another Starling process as shown by `starling ls`."""
import json

import pytest

import starling_cases as cases
from netns import Watcher
from shapes import starling_argv, find_endpoint


@pytest.mark.parametrize("reliable", [True, False], ids=["reliable", "best-effort"])
def test_starling_to_starling(netns, starling_bin, reliable):
    cases.starling_to_starling(netns, starling_bin, reliable)


def test_sub_count_exits(netns, starling_bin):
    """`starling sub --count N` exits 0 after N samples; `pub --count` with a JSON argument repeats it."""
    sub = Watcher(netns.popen(starling_argv(starling_bin, "sub", "Square", "--type", "ShapeType",
                                            "--count", 10, "--timeout", 60)), "starling sub")
    pub = Watcher(netns.popen(starling_argv(
        starling_bin, "pub", "Square", "--type", "ShapeType", "--rate", 50, "--count", 10,
        "--wait-subscribers", 1, "--wait-timeout", 30, '{"color":"BLUE","x":1,"y":2,"shapesize":30}')),
        "starling pub")
    assert sub.wait_exit(60) == 0, sub.describe() + "\n" + pub.describe()
    assert pub.wait_exit(30) == 0, pub.describe()
    assert sub.data() == [{"color": "BLUE", "x": 1, "y": 2, "shapesize": 30}] * 10, sub.describe()


def test_ls_lists_starling_writer(netns, starling_bin):
    pub = Watcher(netns.popen(starling_argv(
        starling_bin, "pub", "LsProbe", "--type", "ShapeType", "--reliable", "--wait-subscribers", 1,
        "--wait-timeout", 60, '{"color":"RED","x":0,"y":0,"shapesize":30}')), "starling pub")
    try:
        ls = cases.run_ls(netns, starling_bin)
    finally:
        netns.stop(pub.proc)
        pub.wait_exit(10)
    participant, ep = find_endpoint(ls, "LsProbe", "writer")
    assert participant is not None, json.dumps(ls, indent=1)
    assert ep["type_name"] == "ShapeType" and ep["reliability"] == "reliable", ep
