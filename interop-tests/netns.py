"""Private network namespaces for interop tests, and helpers to watch the processes run inside them.

Every test creates its own namespace (only `lo`, with multicast on and 239.0.0.0/8 routed to it), runs all of
its processes there with `ip netns exec`, and deletes it at teardown. No test traffic reaches a real interface.
"""
import json
import os
import secrets
import signal
import subprocess
import threading
import time


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class NetNS:
    def __init__(self):
        self.name = "st-" + secrets.token_hex(4)
        self.procs = []
        _ip("netns", "add", self.name)
        try:
            _ip("-n", self.name, "link", "set", "lo", "up")
            _ip("-n", self.name, "link", "set", "lo", "multicast", "on")
            _ip("-n", self.name, "route", "add", "239.0.0.0/8", "dev", "lo")
        except Exception:
            self.close()
            raise

    def _argv(self, argv):
        return ["ip", "netns", "exec", self.name, *[str(a) for a in argv]]

    def popen(self, argv, **kw):
        """Start argv inside the namespace (own process group). Default: stdout/stderr piped, text mode."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("text", True)
        p = subprocess.Popen(self._argv(argv), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def run(self, argv, timeout, **kw):
        """Run argv inside the namespace to completion (bounded by timeout); returns CompletedProcess."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self._argv(argv), timeout=timeout, **kw)

    @staticmethod
    def stop(p, grace=3.0):
        """SIGTERM the process group of p, then SIGKILL after `grace` seconds."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=grace)

    def close(self):
        for p in self.procs:
            self.stop(p)
        # Anything still running in the namespace was started by this test: kill it by pid.
        res = _ip("netns", "pids", self.name, check=False)
        for pid in res.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip("netns", "del", self.name, check=False)


class Watcher:
    """Collects a process's stdout (JSON lines) and stderr in background threads; wait on conditions."""

    def __init__(self, proc, label=""):
        self.proc = proc
        self.label = label
        self.records = []      # parsed JSON objects from stdout, in order
        self.bad_lines = []    # stdout lines that are not JSON objects
        self.stderr = []
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._pump_out, daemon=True),
                        threading.Thread(target=self._pump_err, daemon=True)]
        for t in self.threads:
            t.start()

    def _pump_out(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            with self.cond:
                try:
                    obj = json.loads(line)
                    if isinstance(obj, dict):
                        self.records.append(obj)
                    else:
                        self.bad_lines.append(line)
                except ValueError:
                    self.bad_lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _pump_err(self):
        for line in self.proc.stderr:
            with self.cond:
                self.stderr.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_until(self, predicate, timeout):
        """Wait until predicate(self) is true or the deadline passes; returns the final predicate value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(min(remaining, 0.2))
            return True

    def wait_stderr(self, text, timeout):
        return self.wait_until(lambda w: any(text in l for l in w.stderr), timeout)

    def wait_exit(self, timeout):
        """Wait for the process to exit (bounded); returns its return code or None."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self.threads:
            t.join(timeout=5)
        return rc

    def data(self):
        with self.cond:
            return [r for r in self.records if "color" in r]

    def disposes(self):
        with self.cond:
            return [r["dispose"]["color"] for r in self.records if "dispose" in r]

    def describe(self):
        with self.cond:
            return (f"[{self.label}] rc={self.proc.poll()} records={len(self.records)} "
                    f"bad_lines={self.bad_lines[:5]} stderr(last 20)=\n" + "\n".join(self.stderr[-20:]))
