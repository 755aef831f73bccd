"""Unit tests of the shapes harness's expect logic and check functions on canned output (no processes, no root)."""
import threading

from shapes_harness import checks, runner
from shapes_harness.app import App, SAMPLE_RE


class CannedApp(App):
    """An App whose output is a fixed list of lines (already at EOF)."""

    def __init__(self, lines):  # noqa: super().__init__ starts a process; not wanted here
        self.lines, self.err, self.pos, self.match, self.eof = list(lines), [], 0, None, True
        self.cond = threading.Condition()


CFG = runner.Config(timeout=0.1, max_samples=3)


def first(app):
    assert app.expect([SAMPLE_RE], 0.1) == 0
    return checks.Sample(app.match)


def test_publisher_steps():
    app = CannedApp(["Create topic: Square", "Create writer for topic: Square color: BLUE",
                     "on_publication_matched() topic: 'Square'  type: 'ShapeType' : matched readers 1 (change = 1)"])
    assert runner.publisher_steps(app, "-P -t Square", CFG) == "OK"
    app = CannedApp(["Create topic: Square", "Create writer for topic: Square color: BLUE",
                     "    Durability = TRANSIENT_DURABILITY_QOS : not supported"])
    assert runner.publisher_steps(app, "-P -t Square -D t", CFG) == "PUB_UNSUPPORTED_FEATURE"
    app = CannedApp(["Create topic: Square", "Create writer for topic: Square color: BLUE"])
    assert runner.publisher_steps(app, "-P -t Square", CFG) == "READER_NOT_MATCHED"


def test_subscriber_steps_and_checks():
    lines = ["Create topic: Square", "Create reader for topic: Square"] + [
        "Square     BLUE       001 002 [%d]" % i for i in (1, 2, 3, 4)]
    assert runner.subscriber_steps(CannedApp(lines), "test_reliability_no_losses_w_instances", CFG) == "OK"
    assert runner.subscriber_steps(CannedApp(lines), "test_durability_transient_local", CFG) == "OK"
    assert runner.subscriber_steps(CannedApp(lines), "test_durability_volatile", CFG) == "DATA_NOT_CORRECT"
    gap = lines[:3] + ["Square     BLUE       001 002 [3]"]
    assert runner.subscriber_steps(CannedApp(gap), "test_reliability_no_losses_w_instances", CFG) == \
        "DATA_NOT_CORRECT"


def test_receivers():
    one = ["Square     BLUE       001 002 [20]", "Square     BLUE       001 002 [30]",
           "Square     BLUE       001 002 [30]"]
    assert checks.test_size_receivers(CannedApp(one[1:]), first(CannedApp(one)), CFG) == "RECEIVING_FROM_ONE"
    both = one + ["Square     BLUE       001 002 [20]"]
    app = CannedApp(both)
    assert checks.test_size_receivers(app, first(app), runner.Config(timeout=0.1)) == "RECEIVING_FROM_BOTH"
    app = CannedApp(["Square     RED        001 002 [20]", "Square     BLUE       001 002 [20]"])
    assert checks.test_color_receivers(app, first(app), CFG) == "RECEIVING_FROM_BOTH"


def test_instance_states_and_classify():
    app = CannedApp(["Square     BLUE       001 002 [20]", "Square     RED        001 002 [20]",
                     "Square     BLUE       NOT_ALIVE_DISPOSED_INSTANCE_STATE",
                     "Square     RED        NOT_ALIVE_DISPOSED_INSTANCE_STATE"])
    assert checks.test_disposing_w_instances(app, first(app), CFG) == "OK"
    assert runner.classify(["OK", "OK"], ["OK", "OK"]) == "pass"
    assert runner.classify(["OK", "SUB_UNSUPPORTED_FEATURE"], ["OK", "OK"]) == "unsupported"
    assert runner.classify(["OK", "DATA_NOT_RECEIVED"], ["OK", "OK"]) == "fail"
    assert runner.app_params('-S -t Square --cft "shapesize <= 20"') == \
        ["-S", "-t", "Square", "--cft", "shapesize <= 20", "-x", "2"]


def test_coherent_sets_check_reads_a_whole_first_pass():
    # A late joiner's first pass (history replayed) is longer than a shortened --max-samples: the check
    # still reads on to the first pass boundary instead of giving up with no set seen.
    first_pass = ["Square%s    BLUE%s      001 002 [%d]" % (t, i, s)
                  for s in (1, 2, 3, 4, 5, 6) for t in ("", "1") for i in ("", "1")]
    second = ["Square     BLUE       001 002 [%d]" % s for s in (7, 8, 9)]
    lines = first_pass + ["Reading coherent sets, iteration 1"] + second + ["Reading coherent sets, iteration 2"]
    app = CannedApp(lines)
    assert checks.coherent_sets_w_instances(app, first(app), CFG) == "OK"
    broken = first_pass[:-1] + ["Reading coherent sets, iteration 1"]
    app = CannedApp(broken)
    assert checks.coherent_sets_w_instances(app, first(app), CFG) == "DATA_NOT_CORRECT"
