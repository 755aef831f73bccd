"""Runs shape_main test cases for publisher/subscriber program pairs, each case in its own network namespace, and
writes a JUnit XML file, a markdown matrix and a JSON result file.

    python3 -m shapes_harness --pair starling:cyclone --pair cyclone:starling --jobs 2 \
        --out /tmp/shapes --markdown /tmp/shapes/matrix.md --junit /tmp/shapes/junit.xml

Programs: `starling` (examples/shape_main: $STARLING_SHAPE_MAIN, else target/release/examples/shape_main under
$CARGO_TARGET_DIR or the repository), `cyclone` (peers/shape_main_cyclone.py), `rti` (peers/shape_main_rti.py),
or `NAME=/path/to/exe` for any other shape_main-compatible program.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shlex
import sys
import threading
import time
import xml.etree.ElementTree as ET

from . import checks
from .app import App, SAMPLE_RE, TIMEOUT, EOF

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS_DIR)
sys.path.insert(0, TESTS_DIR)

from netns import NetNS  # noqa: E402

TABLE = os.path.join(HERE, "test_table.json")


def starling_shape_main():
    if os.environ.get("STARLING_SHAPE_MAIN"):
        return os.environ["STARLING_SHAPE_MAIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "release", "examples", "shape_main")


def program(name):
    """The argv prefix of a program name."""
    if "=" in name:
        return shlex.split(name.split("=", 1)[1])
    if name == "starling":
        return [starling_shape_main()]
    if name in ("cyclone", "rti"):
        return [sys.executable, "-u", os.path.join(TESTS_DIR, "peers", "shape_main_%s.py" % name)]
    raise ValueError("unknown program %r (starling, cyclone, rti or NAME=/path)" % name)


def program_label(name):
    return name.split("=", 1)[0]


class Config:
    def __init__(self, timeout=15.0, max_samples=500, stop_grace=10.0, log_dir=None, start_gap=1.0):
        self.timeout = timeout
        # The contract starts the apps of a case 1 s apart; Durability_16 (a late volatile reader must not see
        # the first samples) depends on that spacing.
        self.start_gap = start_gap
        self.max_samples = max_samples
        self.stop_grace = stop_grace
        self.log_dir = log_dir


def load_table(path=TABLE):
    with open(path) as f:
        return json.load(f)


def app_params(params):
    """The contract's rule: add `-x 2` to every app whose parameters lack `-x `."""
    args = shlex.split(params)
    if "-x" not in args:
        args += ["-x", "2"]
    return args


def publisher_steps(app, params, cfg):
    t = cfg.timeout
    r = app.expect([r"Create topic:", checks.NOT_SUPPORTED], t)
    if r == 1:
        return "PUB_UNSUPPORTED_FEATURE"
    if r != 0:
        return "TOPIC_NOT_CREATED"
    r = app.expect([r"Create writer for topic", checks.NOT_SUPPORTED], t)
    if r == 1:
        return "PUB_UNSUPPORTED_FEATURE"
    if r != 0:
        return "WRITER_NOT_CREATED"
    r = app.expect([r"on_publication_matched\(\)", r"on_offered_incompatible_qos\(\)", checks.NOT_SUPPORTED], t)
    if r in (TIMEOUT, EOF):
        return "READER_NOT_MATCHED"
    if r == 1:
        return "INCOMPATIBLE_QOS"
    if r == 2:
        return "PUB_UNSUPPORTED_FEATURE"
    if "-w" in shlex.split(params):
        r = app.expect([r"\[[0-9]+\]", r"on_offered_deadline_missed\(\)"], t)
        if r == 1:
            return "DEADLINE_MISSED"
        if r != 0:
            return "DATA_NOT_SENT"
    return "OK"


def subscriber_steps(app, check, cfg):
    t = cfg.timeout
    r = app.expect([r"Create topic:", checks.NOT_SUPPORTED], t)
    if r == 1:
        return "SUB_UNSUPPORTED_FEATURE"
    if r != 0:
        return "TOPIC_NOT_CREATED"
    r = app.expect([r"Create reader for topic:", r"failed to create content filtered topic", checks.NOT_SUPPORTED],
                   t)
    if r == 1:
        return "FILTER_NOT_CREATED"
    if r == 2:
        return "SUB_UNSUPPORTED_FEATURE"
    if r != 0:
        return "READER_NOT_CREATED"
    r = app.expect([SAMPLE_RE, r"on_requested_incompatible_qos\(\)", r"on_requested_deadline_missed\(\)",
                    checks.NOT_SUPPORTED], t)
    if r in (TIMEOUT, EOF):
        return "DATA_NOT_RECEIVED"
    if r == 1:
        return "INCOMPATIBLE_QOS"
    if r == 2:
        return "DEADLINE_MISSED"
    if r == 3:
        return "SUB_UNSUPPORTED_FEATURE"
    first = checks.Sample(app.match)
    if first.size == 0:
        return "DATA_NOT_CORRECT"
    if check:
        return checks.CHECKS[check](app, first, cfg)
    return "OK"


def classify(codes, expected):
    if codes == expected:
        return "pass"
    if any(c in checks.UNSUPPORTED for c in codes):
        return "unsupported"
    return "fail"


def run_case(case, pub, sub, cfg):
    """Runs one case with publisher program `pub` and subscriber program `sub` in a fresh namespace.
    Returns a result dict (name, pair, codes, expected, status, seconds)."""
    start = time.monotonic()
    ns = NetNS()
    cap = None
    if os.environ.get("SHAPES_PCAP_DIR"):
        # Debugging aid: capture the case's traffic (lo inside the namespace) to DIR/CASE-PUB-SUB.pcap.
        path = os.path.join(os.environ["SHAPES_PCAP_DIR"],
                            "%s-%s-%s.pcap" % (case["name"], program_label(pub), program_label(sub)))
        cap = ns.popen(["python3", os.path.join(TESTS_DIR, "tools", "rtps_capture.py"), path])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (os.path.exists(path) and os.path.getsize(path) >= 24):
            time.sleep(0.05)
    apps, roles = [], []
    spacing = threading.Event()  # never set: waiting on it paces the app starts
    try:
        for role, prog, params in [("pub", pub, p) for p in case["publishers"]] + \
                [("sub", sub, p) for p in case["subscribers"]]:
            if apps:
                # Start the next app once the previous one created its writer/reader (or gave up), and no sooner
                # than the contract's spacing after the previous start.
                apps[-1].wait_started(cfg.timeout)
                spacing.wait(apps[-1].started_at + cfg.start_gap - time.monotonic())
            apps.append(App(ns, program(prog) + app_params(params), role))
            roles.append((role, params))
        codes = [None] * len(apps)

        def work(i):
            role, params = roles[i]
            try:
                if role == "pub":
                    codes[i] = publisher_steps(apps[i], params, cfg)
                else:
                    codes[i] = subscriber_steps(apps[i], case.get("check"), cfg)
            except Exception as e:  # noqa: BLE001 - a harness error fails the case, visibly
                codes[i] = "HARNESS_ERROR: %s" % e

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(apps))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        exit_codes = [a.stop(cfg.stop_grace) for a in reversed(apps)][::-1]
        if cap is not None:
            cap.terminate()
            cap.wait()
        ns.close()
    result = {"name": case["name"], "pub": program_label(pub), "sub": program_label(sub), "codes": codes,
              "expected": case["expected"], "exit_codes": exit_codes,
              "status": classify(codes, case["expected"]), "seconds": round(time.monotonic() - start, 1)}
    if cfg.log_dir:
        d = os.path.join(cfg.log_dir, "%s-%s" % (result["pub"], result["sub"]))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, case["name"] + ".log"), "w") as f:
            f.write(json.dumps(result) + "\n")
            for a in apps:
                f.write("\n=== %s ===\n%s\n" % (a.label, a.transcript()))
    return result


def pair_key(r):
    return "%s→%s" % (r["pub"], r["sub"])


def write_junit(results, path):
    suites = ET.Element("testsuites")
    by_pair = {}
    for r in results:
        by_pair.setdefault(pair_key(r), []).append(r)
    for pair, rs in by_pair.items():
        s = ET.SubElement(suites, "testsuite", name="shapes %s" % pair, tests=str(len(rs)),
                          failures=str(sum(r["status"] == "fail" for r in rs)),
                          skipped=str(sum(r["status"] == "unsupported" for r in rs)))
        for r in rs:
            tc = ET.SubElement(s, "testcase", classname="shapes.%s_%s" % (r["pub"], r["sub"]), name=r["name"],
                               time=str(r["seconds"]))
            detail = "expected %s, got %s" % (", ".join(r["expected"]), ", ".join(map(str, r["codes"])))
            if r["status"] == "fail":
                ET.SubElement(tc, "failure", message=detail)
            elif r["status"] == "unsupported":
                ET.SubElement(tc, "skipped", message="unsupported: " + detail)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def markdown(results, table, command=None):
    pairs = []
    for r in results:
        if pair_key(r) not in pairs:
            pairs.append(pair_key(r))
    cell = {(r["name"], pair_key(r)): r for r in results}
    out = []
    if command:
        out += ["Produced by: `%s`" % command, ""]
    out += ["| Pair (publisher → subscriber) | pass | unsupported | fail | cases |", "|---|---|---|---|---|"]
    for p in pairs:
        rs = [r for r in results if pair_key(r) == p]
        out.append("| %s | %d | %d | %d | %d |" % (p, sum(r["status"] == "pass" for r in rs),
                                                  sum(r["status"] == "unsupported" for r in rs),
                                                  sum(r["status"] == "fail" for r in rs), len(rs)))
    out += ["", "| Test | " + " | ".join(pairs) + " |", "|---|" + "---|" * len(pairs)]
    for case in table:
        row = []
        for p in pairs:
            r = cell.get((case["name"], p))
            if r is None:
                row.append("")
            elif r["status"] == "pass":
                row.append("pass")
            elif r["status"] == "unsupported":
                row.append("unsupported")
            else:
                row.append("**FAIL** (%s)" % ", ".join(map(str, r["codes"])))
        if any(row):
            out.append("| %s | %s |" % (case["name"], " | ".join(row)))
    return "\n".join(out) + "\n"


def run_matrix(pairs, cases, cfg, jobs=1, progress=None):
    work = [(c, p, s) for (p, s) in pairs for c in cases]
    results = [None] * len(work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = {ex.submit(run_case, c, p, s, cfg): i for i, (c, p, s) in enumerate(work)}
        for f in concurrent.futures.as_completed(futs):
            r = f.result()
            results[futs[f]] = r
            if progress:
                progress(r)
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m shapes_harness", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", action="append", default=[],
                    help="PUB:SUB program pair (repeatable); default: every Starling pair with starling, cyclone, rti")
    ap.add_argument("--cases", default=".*", help="regex on test names (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="cases run in parallel (each in its own namespace)")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds per expect step (contract: 15)")
    ap.add_argument("--max-samples", type=int, default=500, help="samples a check reads (contract: 500)")
    ap.add_argument("--stop-grace", type=float, default=10.0, help="seconds after SIGINT before SIGKILL")
    ap.add_argument("--start-gap", type=float, default=1.0, help="seconds between app starts (contract: 1)")
    ap.add_argument("--table", default=TABLE, help="test table (JSON)")
    ap.add_argument("--out", default="shapes-results", help="directory for logs and results.json")
    ap.add_argument("--junit", help="JUnit XML path (default OUT/junit.xml)")
    ap.add_argument("--markdown", help="markdown matrix path (default OUT/matrix.md)")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        ap.error("needs root (ip netns)")
    pairs = [tuple(p.split(":", 1)) for p in a.pair] or [
        ("starling", "starling"), ("starling", "cyclone"), ("cyclone", "starling"), ("starling", "rti"),
        ("rti", "starling")]
    for p in {x for pair in pairs for x in pair}:
        exe = program(p)[0]
        if not os.access(exe, os.X_OK):
            ap.error("program %s: %s is not executable (build it, or set STARLING_SHAPE_MAIN)" % (p, exe))
    table = load_table(a.table)
    cases = [c for c in table if re.search(a.cases, c["name"])]
    os.makedirs(a.out, exist_ok=True)
    cfg = Config(timeout=a.timeout, max_samples=a.max_samples, stop_grace=a.stop_grace, start_gap=a.start_gap,
                 log_dir=os.path.join(a.out, "logs"))
    done = [0]
    total = len(cases) * len(pairs)

    def progress(r):
        done[0] += 1
        print("[%d/%d] %-28s %-20s %-11s %s (%.1fs)" % (done[0], total, r["name"], pair_key(r), r["status"],
                                                      ",".join(map(str, r["codes"])), r["seconds"]), flush=True)

    started = time.monotonic()
    results = run_matrix(pairs, cases, cfg, jobs=a.jobs, progress=progress)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_junit(results, a.junit or os.path.join(a.out, "junit.xml"))
    command = "python3 -m shapes_harness " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    with open(a.markdown or os.path.join(a.out, "matrix.md"), "w") as f:
        f.write(markdown(results, table, command))
    print("done in %.0f s: %d pass, %d unsupported, %d fail" % (
        time.monotonic() - started, sum(r["status"] == "pass" for r in results),
        sum(r["status"] == "unsupported" for r in results), sum(r["status"] == "fail" for r in results)))
    return 0 if not any(r["status"] == "fail" for r in results) else 1
