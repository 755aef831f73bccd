"""Content-filtered topics with other vendors.

- A Starling reader on a ContentFilteredTopic (`starling sub --filter`) receives only the matching samples from a
  Cyclone DDS writer and from an RTI Connext writer. Both accept the reader's SEDP CONTENT_FILTER_PROPERTY (they
  match it) and send everything; the Starling reader filters on arrival.
- An RTI Connext reader with a content filter (a `builtin.sql` content-filtered topic, through
  peers/shape_main_rti.py `--cft`) receives only the matching samples from a Starling writer. Starling writers
  filter at the source only for Starling readers, so this checks that the RTI reader's own filtering and
  Starling's decoding of its SEDP data (CONTENT_FILTER_PROPERTY included) work together.

Cyclone DDS readers are not tested with a filter: Cyclone has no SQL content-filtered topic (its C API's
`dds_set_topic_filter*` takes a local function that is not announced in SEDP, and the Python binding exposes none).
"""
import os
import re
import sys
import tempfile

import pytest

from netns import Watcher
from shapes import peer_argv, sample_lines, starling_argv

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE_MAIN_RTI = os.path.join(HERE, "peers", "shape_main_rti.py")
COUNT, INSTANCES = 200, 4  # colors RED, BLUE, GREEN, YELLOW; x = 0..49 per color
RATE = 500  # Hz: RTI Connector's Python loop keeps up with a paced stream (see starling_cases.RTI_RATE)
WANT = [("BLUE", x) for x in range(40, 50)]


@pytest.mark.parametrize("peer", ["cyclone", "rti"])
def test_peer_writer_to_starling_filtered_reader(netns, starling_bin, peer):
    sub = Watcher(netns.popen(starling_argv(starling_bin, "sub", "CftSquare", "--type", "ShapeType", "--reliable",
                                            "--filter", "x >= %0 AND color = 'BLUE'", "--filter-param", "40",
                                            "--timeout", 90)), "starling sub")
    pub = Watcher(netns.popen(peer_argv(peer, "pub", "CftSquare", reliable=True, count=COUNT, instances=INSTANCES,
                                        wait_match=30, timeout=30, rate=RATE if peer == "rti" else None)),
                  f"{peer} pub")
    try:
        assert sub.wait_until(lambda w: len(w.data()) >= len(WANT), 90), sub.describe() + "\n" + pub.describe()
        # The reliable writer waits for acknowledgements before it exits: everything it sent has arrived.
        assert pub.wait_exit(60) == 0, pub.describe()
    finally:
        netns.stop(sub.proc)
        sub.wait_exit(10)
    assert not sub.bad_lines, sub.describe()
    got = [(d["color"], d["x"]) for d in sub.data()]
    assert got == WANT, sub.describe()


SAMPLE_LINE = re.compile(r"^CftSquare\s+(\S+)\s+(\d+)\s+(\d+)\s+\[(\d+)\]")


def rti_samples(w):
    with w.cond:
        lines = list(w.bad_lines)
    return [(m.group(1), int(m.group(2))) for m in map(SAMPLE_LINE.match, lines) if m]


def test_starling_writer_to_rti_filtered_reader(netns, starling_bin):
    sub = Watcher(netns.popen([sys.executable, "-u", SHAPE_MAIN_RTI, "-S", "-t", "CftSquare", "-r", "-k", "0",
                               "--cft", "x >= 40 AND color = 'BLUE'"]), "rti shape_main")
    fd, path = tempfile.mkstemp(prefix="starling-pub-", suffix=".jsonl")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(sample_lines(COUNT, INSTANCES, dispose=False)) + "\n")
    try:
        created = "Create reader for topic: CftSquare_filtered"
        assert sub.wait_until(lambda w: created in w.bad_lines, 30), sub.describe()
        with open(path) as stdin:
            pub = Watcher(netns.popen(starling_argv(starling_bin, "pub", "CftSquare", "--type", "ShapeType",
                                                    "--reliable", "--rate", RATE, "--wait-subscribers", 1,
                                                    "--wait-timeout", 30, "--linger", 10), stdin=stdin),
                          "starling pub")
        assert pub.wait_exit(60) == 0, pub.describe()
        assert sub.wait_until(lambda w: len(rti_samples(w)) >= len(WANT), 30), sub.describe()
    finally:
        os.unlink(path)
        netns.stop(sub.proc)
        sub.wait_exit(10)
    assert rti_samples(sub) == WANT, sub.describe()
