"""Helpers for the MQTT bridge tests: run `starling bridge` in the test's namespace and talk to it
with paho-mqtt from the test process itself, which enters that namespace (setns) for the test."""
import contextlib
import ctypes
import os
import queue
import socket
import threading
import time

import paho.mqtt.client as mqtt

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def inside(ns):
    """Run the body with this thread in namespace `ns` (sockets created here stay there)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{ns.name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns failed")
        yield
    finally:
        _libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


def start_config_bridge(ns, starling_bin, tmp_path, config, ports):
    """`starling -v bridge --config` with the XML text `config` (written under `tmp_path`), in namespace `ns`;
    returns its Watcher once every TCP port in `ports` accepts connections."""
    from netns import Watcher
    from shapes import starling_argv

    cfg = tmp_path / "bridge.xml"
    cfg.write_text(config)
    p = Watcher(ns.popen(starling_argv(starling_bin, "-v", "bridge", "--config", str(cfg))), "bridge")
    with inside(ns):
        for port in ports:
            wait_port(port)
    return p


def start_bridge(ns, starling_bin, *extra, port=1883):
    p = ns.popen([starling_bin, "bridge", "--mqtt", f"127.0.0.1:{port}", *extra])
    with inside(ns):
        wait_port(port)
    return p


class Client:
    """A paho client recording what it receives."""

    def __init__(self, version, client_id="", clean=True, keepalive=60, props=None, will=None, port=1883,
                 transport="tcp", manual_ack=False, session_expiry=None, host="127.0.0.1", login=None,
                 expect_refusal=False):
        proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        kw = {}
        if version != 5:
            kw["clean_session"] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto,
                             transport=transport, manual_ack=manual_ack, **kw)
        self.version = version
        self.msgs = queue.Queue()
        self.disconnects = queue.Queue()
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.on_disconnect = lambda c, u, f, rc, p: self.disconnects.put(rc)
        self.connack = queue.Queue()
        self.c.on_connect = lambda c, u, f, rc, p: self.connack.put((f.session_present, rc))
        self.subacks = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(mid)
        if login:
            self.c.username_pw_set(*login)
        if will:
            self.c.will_set(*will[:3], retain=False, properties=will[3] if len(will) > 3 else None)
        if version == 5:
            cp = props or mqtt.Properties(mqtt.PacketTypes.CONNECT)
            if session_expiry is not None:
                cp.SessionExpiryInterval = session_expiry
            self.c.connect(host, port, keepalive, clean_start=clean, properties=cp)
        else:
            self.c.connect(host, port, keepalive)
        self.c.loop_start()
        self.session_present, self.rc = self.connack.get(timeout=15)
        if expect_refusal:
            assert self.rc.is_failure, self.rc
            self.c.loop_stop()
        else:
            assert not self.rc.is_failure, self.rc

    def sub(self, topic, qos=0, **opts):
        if self.version == 5:
            o = mqtt.SubscribeOptions(qos=qos, **opts)
            r, mid = self.c.subscribe(topic, options=o)
        else:
            r, mid = self.c.subscribe(topic, qos)
        assert r == mqtt.MQTT_ERR_SUCCESS
        # Wait for the SUBACK (bounded), so that a publish that follows is routed to this subscription.
        deadline = time.monotonic() + 15.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no SUBACK for {topic}")
            if self.subacks.get(timeout=left) == mid:
                break

    def collect(self, n, timeout=20.0, settle=0.5):
        """Messages until `n` have arrived (or `timeout`), then whatever else comes within `settle` s."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.msgs.get(timeout=left))
            except queue.Empty:
                break
        return out + self.drain(settle)

    def pub(self, topic, payload, qos=0, retain=False, props=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if qos:
            info.wait_for_publish(5)
        return info

    def get(self, timeout=3.0):
        return self.msgs.get(timeout=timeout)

    def drain(self, wait=0.5):
        time.sleep(wait)
        out = []
        while not self.msgs.empty():
            out.append(self.msgs.get())
        return out

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Close the socket without DISCONNECT."""
        self.c.loop_stop()
        self.c.socket().close()


def bursts_reach_dds(sub, bridge, colors, per, burst, expected_acks, what):
    """Runs `burst(per, color)` for every colour at once, one thread (and connection) each, checks that each
    returned `expected_acks` (its acknowledgements, in the order the test compares them), then waits until the DDS
    reader `sub` has every message and checks them in order per colour (`x` = 0 .. per-1). The PURPLE samples of
    a matching probe are ignored. `what` names the acknowledgement in the failure message."""
    results = {}
    threads = [threading.Thread(target=lambda c=c: results.__setitem__(c, burst(per, c))) for c in colors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(220)
    for c in colors:
        got = results.get(c) or []
        assert got == expected_acks, (c, len(got), got[-3:])

    def done(w):
        return len([d for d in w.data() if d["color"] != "PURPLE"]) >= len(colors) * per

    complete = sub.wait_until(done, 120)
    data = [d for d in sub.data() if d["color"] != "PURPLE"]
    assert complete, f"{len(data)} of {len(colors) * per} {what} messages reached DDS" + bridge.describe()
    for c in colors:
        assert [d["x"] for d in data if d["color"] == c] == list(range(per)), c
