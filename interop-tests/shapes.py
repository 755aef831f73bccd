"""ShapeType test data, peer command lines and result checks shared by the interop tests."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COLORS = ["RED", "BLUE", "GREEN", "YELLOW", "ORANGE", "CYAN", "MAGENTA", "PURPLE"]
SHAPESIZE = 30
PEER_SCRIPTS = {
    "cyclone": os.path.join(HERE, "peers", "cyclone_shape.py"),
    "rti": os.path.join(HERE, "peers", "rti_shape.py"),
}
VENDOR_NAMES = {"cyclone": "Cyclone DDS", "rti": "RTI Connext"}


def sample_lines(count, instances, dispose):
    """The same sequence the peers publish: round-robin colors, x = per-instance counter, y = global index."""
    lines, per = [], [0] * instances
    for i in range(count):
        k = i % instances
        lines.append(json.dumps({"color": COLORS[k], "x": per[k], "y": i, "shapesize": SHAPESIZE}))
        per[k] += 1
    if dispose:
        lines += [json.dumps({"dispose": {"color": c}}) for c in COLORS[:instances]]
    return lines


def peer_argv(peer, mode, topic, reliable=True, count=1000, instances=4, dispose=False,
              wait_match=20, timeout=60, rate=None, transient_local=False, domain=0):
    argv = [sys.executable, "-u", PEER_SCRIPTS[peer], mode, "--topic", topic, "--domain", domain,
            "--reliable" if reliable else "--best-effort", "--count", count, "--instances", instances,
            "--wait-match", wait_match, "--timeout", timeout]
    if dispose:
        argv.append("--dispose")
    if transient_local:
        argv.append("--transient-local")
    if rate:
        argv += ["--rate", rate]
    return [str(a) for a in argv]


def starling_argv(binary, *cmd, domain=None):
    argv = [binary]
    if domain is not None:
        argv += ["--domain", str(domain)]
    return argv + ["--interface", "lo", *[str(c) for c in cmd]]


def check_shapes(data, disposes, count, instances, reliable, dispose_expected=True, min_fraction=0.5):
    """Verify content and per-instance order of received ShapeType samples.

    reliable: exactly `count` samples, every instance complete and in order.
    best-effort: no duplicates, per-instance order kept, at least min_fraction of `count` received.
    """
    colors = COLORS[:instances]
    per = {c: [] for c in colors}
    for s in data:
        assert set(s) == {"color", "x", "y", "shapesize"}, f"unexpected fields: {s}"
        assert s["color"] in per, f"unexpected color: {s}"
        k = colors.index(s["color"])
        assert s["shapesize"] == SHAPESIZE, f"bad shapesize: {s}"
        assert s["y"] % instances == k and s["x"] == s["y"] // instances, f"inconsistent sample: {s}"
        assert 0 <= s["y"] < count, f"y out of range: {s}"
        per[s["color"]].append(s["x"])
    for c, xs in per.items():
        assert all(a < b for a, b in zip(xs, xs[1:])), f"{c}: out of order or duplicated: {xs[:50]}"
    if reliable:
        assert len(data) == count, f"reliable: got {len(data)} samples, expected {count}"
        for k, c in enumerate(colors):
            expect = len(range(k, count, instances))
            assert per[c] == list(range(expect)), f"{c}: samples missing"
    else:
        assert len(data) >= min_fraction * count, \
            f"best-effort: only {len(data)} of {count} samples arrived"
    assert set(disposes) <= set(colors), f"dispose for an unknown instance: {disposes}"
    assert len(disposes) == len(set(disposes)), f"duplicate disposes: {disposes}"
    if dispose_expected:
        assert sorted(set(disposes)) == sorted(colors), f"disposes seen: {disposes}"


def find_endpoint(ls, topic, kind, vendor=None):
    """Return (participant, endpoint) from `starling ls --json` output for an endpoint on topic."""
    parts = {p["guid_prefix"]: p for p in ls["participants"]}
    for ep in ls["endpoints"]:
        if ep["topic"] == topic and ep["kind"] == kind:
            p = parts.get(ep["participant"])
            if p is not None and (vendor is None or p.get("vendor") == vendor):
                return p, ep
    return None, None
