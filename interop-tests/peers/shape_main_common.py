"""Vendor-independent part of the Python `shape_main` peers (shape_main_cyclone.py, shape_main_rti.py).

It implements the OMG DDS-RTPS interoperability `shape_main` command-line contract (flags, defaults, the exact
stdout lines) and the publisher/subscriber loops. A vendor backend supplies the DDS entities through a small
interface (see `Backend`). Exit codes: 0 normal end (`Done.`), 1 usage or setup error, 2 a requested feature is
not supported (a `... not supported` line was printed).
"""
import argparse
import random
import signal
import sys
import threading
import time

EXIT_UNSUPPORTED = 2
TYPE_NAME = "ShapeType"

_out_lock = threading.Lock()


def out(line):
    """Print one line and flush; a lock keeps listener lines from other threads whole."""
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def warn(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def sample_line(topic, color, x, y, size, last_payload_byte=None):
    line = "%-10s %-10s %03d %03d [%d]" % (topic, color, x, y, size)
    if last_payload_byte is not None:
        line += " {%u}" % last_payload_byte
    return line


def publication_matched_line(topic, current, change):
    return "on_publication_matched() topic: '%s'  type: '%s' : matched readers %d (change = %d)" % (
        topic, TYPE_NAME, current, change)


def subscription_matched_line(topic, current, change):
    return "on_subscription_matched() topic: '%s'  type: '%s' : matched writers %d (change = %d)" % (
        topic, TYPE_NAME, current, change)


POLICY_NAMES = {1: "USERDATA", 2: "DURABILITY", 3: "PRESENTATION", 4: "DEADLINE", 5: "LATENCYBUDGET",
                6: "OWNERSHIP", 7: "OWNERSHIPSTRENGTH", 8: "LIVELINESS", 9: "TIMEBASEDFILTER", 10: "PARTITION",
                11: "RELIABILITY", 12: "DESTINATIONORDER", 13: "HISTORY", 14: "RESOURCELIMITS",
                21: "LIFESPAN", 22: "DURABILITYSERVICE", 23: "DATA_REPRESENTATION",
                24: "TYPE_CONSISTENCY_ENFORCEMENT"}


def incompatible_line(kind, topic, policy_id):
    return "%s() topic: '%s'  type: '%s' : %d (%s)" % (
        kind, topic, TYPE_NAME, policy_id, POLICY_NAMES.get(policy_id, "UNKNOWN"))


def deadline_line(kind, topic, total, change):
    return "%s() topic: '%s'  type: '%s' : (total = %d, change = %d)" % (kind, topic, TYPE_NAME, total, change)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        warn("error: " + message)
        self.print_usage(sys.stderr)
        sys.exit(1)


def parse_args(argv=None, prog="shape_main"):
    p = _Parser(prog=prog, add_help=False, description="OMG shape_main-compatible DDS peer")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-P", dest="publish", action="store_true")
    p.add_argument("-S", dest="subscribe", action="store_true")
    p.add_argument("-t", dest="topic")
    p.add_argument("-d", dest="domain", type=int, default=0)
    p.add_argument("-b", dest="reliable", action="store_false", default=True)
    p.add_argument("-r", dest="reliable", action="store_true")
    p.add_argument("-k", dest="depth", type=int, default=None)
    p.add_argument("-f", dest="deadline", type=int, default=0)
    p.add_argument("-s", dest="strength", type=int, default=-1)
    p.add_argument("-c", dest="color")
    p.add_argument("-p", dest="partition")
    p.add_argument("-D", dest="durability", choices=list("vltp"), default="v")
    p.add_argument("-x", dest="xcdr", type=int, choices=[1, 2], default=1)
    p.add_argument("-w", dest="print_writes", action="store_true")
    p.add_argument("-z", dest="size", type=int, default=20)
    p.add_argument("-R", dest="use_read", action="store_true")
    p.add_argument("-v", dest="verbosity", choices=["e", "d"], default="e")
    p.add_argument("--write-period", type=int, default=33)
    p.add_argument("--read-period", type=int, default=100)
    p.add_argument("--time-filter", type=int, default=0)
    p.add_argument("--lifespan", type=int, default=0)
    p.add_argument("--num-iterations", type=int, default=0)
    p.add_argument("--num-instances", type=int, default=1)
    p.add_argument("--num-topics", type=int, default=1)
    p.add_argument("--final-instance-state", choices=["u", "d"], action="append")
    p.add_argument("--access-scope", choices=list("itg"), default="i")
    p.add_argument("--coherent", action="store_true")
    p.add_argument("--ordered", action="store_true")
    p.add_argument("--coherent-sample-count", type=int, default=0)
    p.add_argument("--additional-payload-size", type=int, default=0)
    p.add_argument("--take-read", action="store_true")
    p.add_argument("--periodic-announcement", type=int, default=0)
    p.add_argument("--datafrag-size", type=int, default=0)
    p.add_argument("--cft")
    p.add_argument("--size-modulo", type=int, default=0)
    a = p.parse_args(argv)
    if a.help:
        p.print_help()
        sys.exit(0)
    if a.publish == a.subscribe:
        p.error("exactly one of -P or -S is required")
    if not a.topic:
        p.error("-t TOPIC is required")
    if a.strength < -1:
        p.error("-s must be -1 or >= 0")
    if a.final_instance_state and len(a.final_instance_state) > 1:
        p.error("--final-instance-state given more than once")
    a.final_instance_state = a.final_instance_state[0] if a.final_instance_state else None
    if a.subscribe and a.color and a.cft:
        p.error("-c and --cft cannot be combined on a subscriber")
    if a.num_instances < 1 or a.num_topics < 1:
        p.error("--num-instances and --num-topics must be at least 1")
    if a.publish and not a.color:
        warn("warning: no color given (-c); publishing BLUE")
        a.color = "BLUE"
    if a.subscribe and a.lifespan:
        warn("warning: --lifespan is ignored on a subscriber")
        a.lifespan = 0
    if a.publish and a.time_filter:
        warn("warning: --time-filter is ignored on a publisher")
        a.time_filter = 0
    return a


def topic_names(a):
    return [a.topic if i == 0 else "%s%d" % (a.topic, i) for i in range(a.num_topics)]


class Stop:
    """Set by SIGINT/SIGTERM; loops wait on it instead of sleeping blindly."""

    def __init__(self):
        self.event = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: self.event.set())
        signal.signal(signal.SIGTERM, lambda *_: self.event.set())

    def wait(self, seconds):
        """Wait up to `seconds`; True when stopping."""
        return self.event.wait(seconds)


class SimpleFilter:
    """Reader-side content filter for the peers whose API has none: `color = 'X'`, or a conjunction of
    `<field> <op> <integer>` comparisons on x, y, shapesize (`shapesize <= 20`)."""

    OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<>": lambda a, b: a != b,
           "<": lambda a, b: a < b, ">": lambda a, b: a > b, "=": lambda a, b: a == b}

    def __init__(self, color=None, expression=None):
        self.color = color
        self.terms = []
        if expression:
            for part in expression.replace(" and ", " AND ").split(" AND "):
                for op in ("<=", ">=", "<>", "<", ">", "="):
                    if op in part:
                        field, value = (s.strip() for s in part.split(op, 1))
                        if field not in ("x", "y", "shapesize"):
                            raise ValueError("unsupported field " + field)
                        self.terms.append((field, self.OPS[op], int(value)))
                        break
                else:
                    raise ValueError("unsupported expression " + part)

    def accepts(self, color, x, y, size):
        if self.color is not None and color != self.color:
            return False
        vals = {"x": x, "y": y, "shapesize": size}
        return all(op(vals[f], v) for f, op, v in self.terms)


class Mover:
    """The publisher's moving shape (random start in 240x270, speed 1..5 per axis, bouncing)."""

    WIDTH, HEIGHT = 240, 270

    def __init__(self, size):
        self.x = random.randrange(self.WIDTH)
        self.y = random.randrange(self.HEIGHT)
        self.dx = random.randint(1, 5) * random.choice((1, -1))
        self.dy = random.randint(1, 5) * random.choice((1, -1))
        self.size = size

    def step(self, grow, modulo):
        self.x += self.dx
        self.y += self.dy
        if self.x < 0:
            self.x, self.dx = -self.x, -self.dx
        elif self.x > self.WIDTH:
            self.x, self.dx = 2 * self.WIDTH - self.x, -self.dx
        if self.y < 0:
            self.y, self.dy = -self.y, -self.dy
        elif self.y > self.HEIGHT:
            self.y, self.dy = 2 * self.HEIGHT - self.y, -self.dy
        if grow:
            self.size = (self.size % modulo) + 1 if modulo else self.size + 1


class Backend:
    """What a vendor supplies. Writers/readers are opaque objects passed back to the backend.

    - create_topic(args, name): create the topic (and register the type) ahead of the writer/reader
    - unsupported(args) -> list of `not supported` lines (empty when everything is supported)
    - create_writer(args, topic) / create_reader(args, topic, flt) -> entity (prints listener lines itself,
      or from poll())
    - write(w, color, x, y, size, payload), dispose(w, color), unregister(w, color)
    - take(r, args) -> list of (valid, color, x, y, size, last_payload_byte, state) with state one of
      "ALIVE", "NOT_ALIVE_DISPOSED", "NOT_ALIVE_NO_WRITERS"; color may be None for invalid samples
    - poll() called every loop iteration (for backends that print status changes by polling)
    - begin_coherent() / end_coherent() (optional): begin/end coherent changes on the publisher; a backend
      without them must report `--coherent --coherent-sample-count N` as not supported
    - wait_acks(writers, seconds), close()
    """


def run(backend, args):
    stop = Stop()
    try:
        code = _run_pub(backend, args, stop) if args.publish else _run_sub(backend, args, stop)
    finally:
        backend.close()
    if code == 0:
        out("Done.")
    return code


def _run_pub(backend, a, stop):
    writers = []
    for name in topic_names(a):
        out("Create topic: %s" % name)
        backend.create_topic(a, name)
        out("Create writer for topic: %s color: %s" % (name, a.color))
        lines = backend.unsupported(a)
        if lines:
            for line in lines:
                out(line)
            return EXIT_UNSUPPORTED
        writers.append((name, backend.create_writer(a, name)))
    instances = [a.color if i == 0 else "%s%d" % (a.color, i) for i in range(a.num_instances)]
    shape = Mover(a.size)
    payload = [255] * a.additional_payload_size
    last = 255 if payload else None
    iteration = 0
    sets = (a.coherent or a.ordered) and a.coherent_sample_count > 0
    count = max(a.coherent_sample_count, 1)
    set_open = False
    while not (a.num_iterations and iteration >= a.num_iterations):
        iteration += 1
        shape.step(a.size == 0, a.size_modulo)
        if sets and (iteration - 1) % count == 0:
            out("Started Coherent Set")
            if a.coherent and hasattr(backend, "begin_coherent"):
                backend.begin_coherent()
                set_open = True
        for name, w in writers:
            for color in instances:
                backend.write(w, color, shape.x, shape.y, shape.size, payload)
                if a.print_writes:
                    out(sample_line(name, color, shape.x, shape.y, shape.size, last))
        if sets and iteration % count == 0:
            out("Finished Coherent Set")
            if set_open:
                backend.end_coherent()
                set_open = False
        backend.poll()
        if stop.wait(a.write_period / 1000.0):
            break
    for _, w in writers:
        for color in instances:
            if a.final_instance_state == "u":
                backend.unregister(w, color)
            elif a.final_instance_state == "d":
                backend.dispose(w, color)
    backend.wait_acks([w for _, w in writers], 1.0)
    return 0


def _run_sub(backend, a, stop):
    readers = []
    for name in topic_names(a):
        out("Create topic: %s" % name)
        backend.create_topic(a, name)
        flt = None
        if a.color or a.cft:
            try:
                flt = backend.make_filter(a, name)
            except Exception as e:  # noqa: BLE001 - any failure means no filtered topic
                warn("content filter: %s" % e)
                out("failed to create content filtered topic")
                return 1
        out("Create reader for topic: %s" % (name + "_filtered" if flt is not None else name))
        lines = backend.unsupported(a)
        if lines:
            for line in lines:
                out(line)
            return EXIT_UNSUPPORTED
        readers.append((name, backend.create_reader(a, name, flt), {}))
    iteration = 0
    while not stop.wait(a.read_period / 1000.0):
        if a.coherent:
            out("Reading coherent sets, iteration %d" % iteration)
        if a.ordered:
            out("Reading with ordered access, iteration %d" % iteration)
        iteration += 1
        backend.poll()
        for name, r, colors in readers:
            samples = backend.take(r, a)
            if not a.take_read:
                order, groups = [], {}
                for s in samples:
                    key = s[1]
                    if key not in groups:
                        order.append(key)
                        groups[key] = []
                    groups[key].append(s)
                samples = [s for k in order for s in groups[k]]
            for valid, color, x, y, size, last, state in samples:
                if valid:
                    out(sample_line(name, color, x, y, size, last))
                if state != "ALIVE" and color:
                    out("%-10s %-10s %s_INSTANCE_STATE" % (name, color, state))
    return 0
