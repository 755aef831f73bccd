"""Shared CLI and output helpers for the ShapeType interop peers (Cyclone DDS and RTI Connector).

CLI (both peers):
  pub|sub --topic T [--domain N] [--reliable|--best-effort] [--transient-local] [--count N]
          [--instances K] [--dispose] [--wait-match SECS] [--timeout SECS] [--xcdr2] [--rate HZ]

Output of `sub`: one JSON object per line, flushed per line:
  {"color":"BLUE","x":10,"y":20,"shapesize":30}     a data sample
  {"dispose":{"color":"BLUE"}}                        an instance disposed by the writer
"""
import argparse
import json
import sys
import time

COLORS = ["RED", "BLUE", "GREEN", "YELLOW", "ORANGE", "CYAN", "MAGENTA", "PURPLE"]
SHAPESIZE = 30


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="ShapeType interop peer")
    p.add_argument("mode", choices=["pub", "sub"])
    p.add_argument("--topic", required=True)
    p.add_argument("--domain", type=int, default=0)
    rel = p.add_mutually_exclusive_group()
    rel.add_argument("--reliable", dest="reliable", action="store_true", default=True)
    rel.add_argument("--best-effort", dest="reliable", action="store_false")
    p.add_argument("--transient-local", action="store_true")
    p.add_argument("--transient", action="store_true",
                   help="TRANSIENT durability (Cyclone peer only; a durability service serves late joiners)")
    p.add_argument("--count", type=int, default=10,
                   help="pub: samples to write; sub: data samples to receive before exiting")
    p.add_argument("--instances", type=int, default=1,
                   help="number of instances (colors); sub: disposes to expect with --dispose")
    p.add_argument("--dispose", action="store_true",
                   help="pub: dispose every instance at the end; sub: also wait for those disposes")
    p.add_argument("--wait-match", type=float, default=10.0,
                   help="pub: seconds to wait for a matched reader before writing")
    p.add_argument("--timeout", type=float, default=30.0, help="overall time limit in seconds")
    p.add_argument("--xcdr2", action="store_true", help="use the XCDR2 data representation")
    p.add_argument("--rate", type=float, default=0.0,
                   help="pub: samples per second (0 = as fast as possible)")
    a = p.parse_args(argv)
    if not 1 <= a.instances <= len(COLORS):
        p.error(f"--instances must be between 1 and {len(COLORS)}")
    return a


def samples(count, instances):
    """(color, x, y) for sample i: round-robin colors, x = per-instance counter, y = global index."""
    per_instance = [0] * instances
    for i in range(count):
        k = i % instances
        yield COLORS[k], per_instance[k], i
        per_instance[k] += 1


class Pacer:
    """Keeps a publisher at a bounded rate (no-op when rate <= 0)."""

    def __init__(self, rate):
        self.period = 1.0 / rate if rate and rate > 0 else 0.0
        self.next = time.monotonic()

    def wait(self):
        if not self.period:
            return
        self.next += self.period
        delay = self.next - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def emit_sample(color, x, y, shapesize):
    emit({"color": color, "x": int(x), "y": int(y), "shapesize": int(shapesize)})


def emit_dispose(color):
    emit({"dispose": {"color": color}})


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
