"""Return codes and the subscriber check functions of the shape_main contract (§4, §6), written from its text."""
import re

from .app import SAMPLE_RE, TIMEOUT, EOF

CODES = {
    "OK": 0, "TOPIC_NOT_CREATED": 1, "READER_NOT_CREATED": 2, "WRITER_NOT_CREATED": 3, "FILTER_NOT_CREATED": 4,
    "INCOMPATIBLE_QOS": 5, "READER_NOT_MATCHED": 6, "DATA_NOT_RECEIVED": 9, "DATA_NOT_SENT": 10,
    "DATA_NOT_CORRECT": 11, "RECEIVING_FROM_ONE": 12, "RECEIVING_FROM_BOTH": 13, "DEADLINE_MISSED": 14,
    "ORDERED_ACCESS_INSTANCE": 15, "ORDERED_ACCESS_TOPIC": 16, "PUB_UNSUPPORTED_FEATURE": 17,
    "SUB_UNSUPPORTED_FEATURE": 18,
}
UNSUPPORTED = ("PUB_UNSUPPORTED_FEATURE", "SUB_UNSUPPORTED_FEATURE")

NOT_SUPPORTED = re.compile(r"not supported", re.IGNORECASE)
# Samples a check reads in the contract; --max-samples may shorten it.
CONTRACT_MAX_SAMPLES = 500


class Sample:
    def __init__(self, m):
        self.topic, self.color = m.group(1), m.group(2)
        self.x, self.y, self.size = int(m.group(3)), int(m.group(4)), int(m.group(5))
        self.payload = m.group(6)


def _next(app, timeout, extra=()):
    """The next sample (or extra pattern index) from the app; None on timeout or exit."""
    r = app.expect([SAMPLE_RE, *extra], timeout)
    if r in (TIMEOUT, EOF):
        return None
    if r == 0:
        return Sample(app.match)
    return r


def _samples(app, first, timeout):
    """Yields the first sample, then the following ones until silence or exit."""
    yield first
    while True:
        s = _next(app, timeout)
        if s is None:
            return
        yield s


def test_order_w_instances(app, first, cfg, consecutive=False):
    last, count = {}, 0
    for s in _samples(app, first, cfg.timeout):
        if s.color in last:
            ok = s.size == last[s.color] + 1 if consecutive else s.size > last[s.color]
            if not ok:
                return "DATA_NOT_CORRECT"
        last[s.color] = s.size
        if s.color == first.color:
            count += 1
            if count >= cfg.max_samples:
                return "OK"
    return "DATA_NOT_RECEIVED"


def test_reliability_no_losses_w_instances(app, first, cfg):
    return test_order_w_instances(app, first, cfg, consecutive=True)


def test_size_receivers(app, first, cfg):
    sizes, result, n = [first.size], "RECEIVING_FROM_ONE", 0
    for s in _samples(app, first, cfg.timeout):
        n += 1
        if s.size != sizes[-1]:
            if s.size in sizes:
                return "RECEIVING_FROM_BOTH"
            sizes.append(s.size)
            if len(sizes) > 2:
                return "RECEIVING_FROM_BOTH"
        if n >= cfg.max_samples:
            break
    return result


def test_color_receivers(app, first, cfg):
    n = 0
    for s in _samples(app, first, cfg.timeout):
        n += 1
        if s.color != first.color:
            return "RECEIVING_FROM_BOTH"
        if n >= cfg.max_samples:
            break
    return "RECEIVING_FROM_ONE"


def test_size_less_than_20(app, first, cfg):
    n = 0
    for s in _samples(app, first, cfg.timeout):
        if not 1 <= s.size <= 20:
            return "DATA_NOT_CORRECT"
        n += 1
        if n >= min(250, cfg.max_samples):
            return "OK"
    return "DATA_NOT_RECEIVED"


def test_durability_volatile(app, first, cfg):
    return "OK" if first.size >= 5 else "DATA_NOT_CORRECT"


def test_durability_transient_local(app, first, cfg):
    return "OK" if first.size == 1 else "DATA_NOT_CORRECT"


def test_deadline_missed(app, first, cfg):
    while True:
        r = _next(app, cfg.timeout, extra=[r"on_requested_deadline_missed"])
        if r is None:
            return "OK"
        if r == 1:
            return "DEADLINE_MISSED"


def test_reading_1_sample_every_10_samples_w_instances(app, first, cfg):
    last, gaps, count = {}, {}, 0
    for s in _samples(app, first, cfg.timeout):
        if s.color in last:
            gaps[s.color] = gaps.get(s.color, 0) + 1
            if gaps[s.color] > 1 and not 9 <= s.size - last[s.color] <= 19:
                return "DATA_NOT_CORRECT"
        last[s.color] = s.size
        if s.color == first.color:
            count += 1
            if count >= 50:
                return "OK"
    return "DATA_NOT_RECEIVED"


def _instance_state_check(app, first, cfg, wanted):
    state_re = r"(\S+)\s+(\S+)\s+(NOT_ALIVE_NO_WRITERS|NOT_ALIVE_DISPOSED)_INSTANCE_STATE"
    seen, ended = {first.color}, set()
    while True:
        r = app.expect([SAMPLE_RE, state_re], cfg.timeout)
        if r in (TIMEOUT, EOF):
            return "DATA_NOT_CORRECT"
        if r == 0:
            seen.add(app.match.group(2))
        elif app.match.group(3) == wanted:
            ended.add(app.match.group(2))
            if seen <= ended:
                return "OK"


def test_unregistering_w_instances(app, first, cfg):
    return _instance_state_check(app, first, cfg, "NOT_ALIVE_NO_WRITERS")


def test_disposing_w_instances(app, first, cfg):
    return _instance_state_check(app, first, cfg, "NOT_ALIVE_DISPOSED")


def test_large_data(app, first, cfg):
    n = 0
    for s in _samples(app, first, cfg.timeout):
        if s.payload != "255":
            return "DATA_NOT_CORRECT"
        n += 1
        if n >= cfg.max_samples:
            return "OK"
    return "DATA_NOT_RECEIVED"


def test_lifespan_2_3_consecutive_samples_w_instances(app, first, cfg):
    last, run, runs_done, breaks, count = {}, {}, {}, 0, 0
    for s in _samples(app, first, cfg.timeout):
        c = s.color
        if c in last and s.size == last[c] + 1:
            run[c] += 1
        else:
            if c in last:
                breaks += 1
                if runs_done.get(c, 0) >= 1 and run[c] not in (2, 3):
                    return "DATA_NOT_CORRECT"
                runs_done[c] = runs_done.get(c, 0) + 1
            run[c] = 1
        last[c] = s.size
        if c == first.color:
            count += 1
            if count >= 50:
                return "OK" if breaks else "DATA_NOT_CORRECT"
    return "DATA_NOT_RECEIVED"


def ordered_access_w_instances(app, first, cfg):
    same = change = n = 0
    prev = first.color
    while n < cfg.max_samples:
        r = _next(app, cfg.timeout, extra=[r"Reading with ordered access"])
        if r is None:
            break
        if r == 1:
            prev = None
            continue
        n += 1
        if prev is not None:
            if r.color == prev:
                same += 1
            else:
                change += 1
        prev = r.color
    if same + change == 0:
        return "DATA_NOT_RECEIVED"
    return "ORDERED_ACCESS_INSTANCE" if same > change else "ORDERED_ACCESS_TOPIC"


def coherent_sets_w_instances(app, first, cfg, set_size=3):
    counts = {(first.topic, first.color): 1}
    n, passes = 1, 0
    # Read at least one whole pass: a late joiner's first pass can hold more than a shortened
    # --max-samples (history of 3 topics x 4 instances), and a check cut inside it would see no set.
    while n < cfg.max_samples or (passes == 0 and n < CONTRACT_MAX_SAMPLES):
        r = _next(app, cfg.timeout, extra=[r"Reading coherent sets"])
        if r is None:
            break
        if r == 1:
            if any(v % set_size for v in counts.values()):
                return "DATA_NOT_CORRECT"
            if counts:
                passes += 1
            counts = {}
            continue
        n += 1
        counts[(r.topic, r.color)] = counts.get((r.topic, r.color), 0) + 1
    return "OK" if passes else "DATA_NOT_RECEIVED"


CHECKS = {f.__name__: f for f in (
    test_order_w_instances, test_reliability_no_losses_w_instances, test_size_receivers, test_color_receivers,
    test_size_less_than_20, test_durability_volatile, test_durability_transient_local, test_deadline_missed,
    test_reading_1_sample_every_10_samples_w_instances, test_unregistering_w_instances,
    test_disposing_w_instances, test_large_data, test_lifespan_2_3_consecutive_samples_w_instances,
    ordered_access_w_instances, coherent_sets_w_instances)}
