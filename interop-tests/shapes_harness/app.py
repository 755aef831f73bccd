"""One running shape application: its stdout as a line list, and `expect` on it (first matching line wins)."""
import os
import re
import signal
import subprocess
import threading
import time

TIMEOUT = -1
EOF = -2

SAMPLE_RE = re.compile(r"(\S+)\s+(\S+)\s+(-?[0-9]+) (-?[0-9]+) \[([0-9]+)\](?: \{([0-9]+)\})?")
STARTED_RE = re.compile(r"Create (writer|reader) for topic|not supported|failed to create content filtered topic",
                        re.IGNORECASE)


class App:
    """A shape application started in a network namespace, with its output collected by reader threads."""

    def __init__(self, ns, argv, label):
        self.label = label
        self.argv = [str(a) for a in argv]
        self.lines = []
        self.err = []
        self.pos = 0
        self.match = None
        self.eof = False
        self.cond = threading.Condition()
        self.started_at = time.monotonic()
        self.proc = ns.popen(self.argv, bufsize=1)
        self.threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines, True), daemon=True),
                        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err, False), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, stream, sink, is_stdout):
        for line in stream:
            with self.cond:
                sink.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            if is_stdout:
                self.eof = True
            self.cond.notify_all()

    def expect(self, patterns, timeout):
        """Scan the lines after the cursor for the first line matching any of `patterns` (regexes, checked in
        order for each line). Returns the pattern's index and leaves the cursor after that line (the match is in
        `self.match`), or TIMEOUT / EOF."""
        compiled = [p if isinstance(p, re.Pattern) else re.compile(p) for p in patterns]
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                while self.pos < len(self.lines):
                    line = self.lines[self.pos]
                    self.pos += 1
                    for i, p in enumerate(compiled):
                        m = p.search(line)
                        if m:
                            self.match = m
                            return i
                if self.eof:
                    return EOF
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return TIMEOUT
                self.cond.wait(min(remaining, 0.5))

    def wait_started(self, timeout):
        """Wait (without moving the cursor) until the app printed its writer/reader line, reported something
        unsupported, or exited. Used to start the apps of a case one after the other."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.eof and not any(STARTED_RE.search(l) for l in self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(min(remaining, 0.5))
            return True

    def stop(self, grace):
        """SIGINT (as the contract says), then SIGKILL after `grace` seconds. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        for t in self.threads:
            t.join(timeout=5)
        return self.proc.returncode

    def transcript(self):
        with self.cond:
            return "\n".join(["$ " + " ".join(self.argv), "--- stdout ---", *self.lines, "--- stderr ---",
                              *self.err[-200:], "--- exit code: %s ---" % self.proc.returncode])
