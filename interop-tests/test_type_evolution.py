"""XTypes type evolution against Cyclone DDS: Cyclone holds version 1 of a type (peers/cyclone_evolution.py),
Starling version 2 from IDL (idl/evolution.idl, loaded at run time with `--idl`). A mutable type that gained an
optional member is assignable: samples flow both ways, the new member absent on the Starling side. A final type
whose member changed type is not: neither side matches the other (Starling checks assignability through
TypeLookup, as Cyclone does)."""
import os
import sys

from netns import Watcher
from shapes import starling_argv

HERE = os.path.dirname(os.path.abspath(__file__))
IDL = os.path.join(HERE, "idl", "evolution.idl")
PEER = os.path.join(HERE, "peers", "cyclone_evolution.py")


def cyclone(netns, *args):
    return netns.popen([sys.executable, "-u", PEER, *[str(a) for a in args]])


def test_cyclone_v1_to_starling_v2(netns, starling_bin):
    sub = Watcher(netns.popen(starling_argv(starling_bin, "sub", "Readings", "--idl", IDL, "--type", "evo::Reading",
                                            "--count", 4, "--timeout", 40)), "starling sub")
    pub = Watcher(cyclone(netns, "pub", "--type", "Reading", "--topic", "Readings", "--count", 4), "cyclone pub")
    assert pub.wait_exit(60) == 0, pub.describe() + sub.describe()
    assert sub.wait_exit(40) == 0, sub.describe()
    got = [(r["id"], r["value"], r.get("unit")) for r in sub.records]
    assert got == [(0, 0.0, None), (1, 1.5, None), (0, 3.0, None), (1, 4.5, None)], sub.describe()


def test_starling_v2_to_cyclone_v1(netns, starling_bin):
    """The Cyclone reader requests XCDR2 only, so the Starling writer offers it (`--xcdr2`)."""
    sub = Watcher(cyclone(netns, "sub", "--type", "Reading", "--topic", "Readings", "--count", 3, "--timeout", 40),
                  "cyclone sub")
    samples = ['{"id": 7, "value": 0.5, "unit": "C"}', '{"id": 8, "value": 1.5}', '{"id": 7, "value": 2.5}']
    pub = Watcher(netns.popen(starling_argv(starling_bin, "pub", "Readings", "--idl", IDL, "--type", "evo::Reading",
                                            "--reliable", "--xcdr2", "--wait-subscribers", 1, "--wait-timeout", 30,
                                            *samples)), "starling pub")
    assert pub.wait_exit(60) == 0, pub.describe() + sub.describe()
    assert sub.wait_exit(40) == 0, sub.describe()
    # Cyclone's take() groups by instance: compare per instance, in order.
    per = {}
    for r in sub.records:
        per.setdefault(r["id"], []).append(r["value"])
    assert per == {7: [0.5, 2.5], 8: [1.5]}, sub.describe()


def test_not_assignable_types_do_not_match(netns, starling_bin):
    """Starling's `evo::Level` has `string level`, Cyclone's `long level`: both final, not assignable. Starling's
    writer never counts the Cyclone reader, and the Cyclone writer never counts Starling's reader."""
    csub = Watcher(cyclone(netns, "sub", "--type", "Level", "--topic", "Levels", "--count", 1, "--timeout", 12),
                   "cyclone sub")
    spub = Watcher(netns.popen(starling_argv(starling_bin, "pub", "Levels", "--idl", IDL, "--type", "evo::Level",
                                             "--reliable", "--xcdr2", "--wait-subscribers", 1, "--wait-timeout", 8,
                                             '{"id": 1, "level": "high"}')), "starling pub")
    assert spub.wait_exit(40) not in (0, None), "Starling's writer matched a reader of a non-assignable type\n" \
        + spub.describe()
    assert "fewer than 1 subscribers matched" in "\n".join(spub.stderr), spub.describe()
    assert csub.wait_exit(40) == 0, csub.describe()
    assert csub.records == [] and "cyclone evolution sub: matched 0" in "\n".join(csub.stderr), csub.describe()
    ssub = Watcher(netns.popen(starling_argv(starling_bin, "sub", "Levels", "--idl", IDL, "--type", "evo::Level",
                                             "--count", 1, "--timeout", 12)), "starling sub")
    cpub = Watcher(cyclone(netns, "pub", "--type", "Level", "--topic", "Levels", "--count", 1, "--wait-match", 8),
                   "cyclone pub")
    assert cpub.wait_exit(40) == 3, "Cyclone's writer matched Starling's reader\n" + cpub.describe()
    assert ssub.wait_exit(40) == 0, ssub.describe()
    assert ssub.records == [], ssub.describe()
