"""Starling <-> Starling: ShapeType keyed by color, best-effort and reliable, dispose propagation,
and discovery of another Starling process as shown by `starling ls`."""
import json
import re

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
    # The GUID and name columns: Starling's vendor id (01.ff) opens the prefix, the endpoint's GUID is the prefix
    # plus an entity id, and the CLI names its participant.
    assert re.fullmatch(r"01ff[0-9a-f]{4}:[0-9a-f]{8}:[0-9a-f]{8}", participant["guid_prefix"]), participant
    assert re.fullmatch(re.escape(participant["guid_prefix"]) + r":[0-9a-f]{8}", ep["guid"]), (participant, ep)
    assert participant["name"] == "starling-cli", participant
    assert any(loc.startswith("udp/127.0.0.1:") for loc in participant["locators"]), participant


@pytest.mark.parametrize("flags,value", [
    (["--peer", "not-a-host"], "not-a-host"),
    (["--peer", "10.1.2.3:99999"], "10.1.2.3:99999"),
    (["--interface", "nosuch0"], "nosuch0"),
    (["--interface", "10.254.254.254"], "10.254.254.254"),
    (["--domain", "233"], "233"),
], ids=["peer-host", "peer-port", "interface-name", "interface-addr", "domain-233"])
def test_bad_global_flags_give_one_line_error_naming_the_value(netns, starling_bin, flags, value):
    """A bad `--peer`, `--interface` or `--domain` fails at once (non-zero exit) with one line on stderr that
    names the value (clap, which checks the domain range, adds its usual hint line)."""
    res = netns.run([starling_bin, *flags, "ls", "--wait", "1"], timeout=30)
    assert res.returncode != 0, res
    lines = [l for l in res.stderr.splitlines() if l.strip() and l != "For more information, try '--help'."]
    assert len(lines) == 1, res.stderr
    assert value in lines[0], res.stderr
    assert res.stdout == "", res.stdout


def test_domain_232_is_accepted(netns, starling_bin):
    """The highest domain id works (its ports are the last the mapping gives)."""
    res = netns.run([starling_bin, "--domain", "232", "--interface", "lo", "ls", "--wait", "1", "--json"],
                    timeout=30)
    assert res.returncode == 0, res.stderr
    assert set(json.loads(res.stdout)) >= {"participants", "topics"}, res.stdout
