"""TLS listeners of `starling bridge --config` with real clients, in a private network namespace: stomp.py over
TLS (`set_ssl`), STOMP over secure WebSocket (websocket-client, `wss://`), pika over TLS (`pika.SSLOptions`) and
paho-mqtt over TLS, each verifying a self-signed certificate made by `openssl` for this test. Messages cross
between TLS and plain clients of the same broker. A plaintext client on a TLS port fails cleanly (its connection
is closed, the bridge logs the failed handshake) and the TLS clients already connected go on working."""
import queue
import socket
import ssl
import subprocess
import time

import paho.mqtt.client as mqtt
import pika
import pytest
import stomp
import websocket

from mqtt_helpers import inside, start_config_bridge

STOMP, STOMPS, WSS = 61613, 61614, 15673
AMQP, AMQPS = 5672, 5671
MQTTS = 8883


def make_cert(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_bridge(netns, starling_bin, tmp_path):
    cert, key = make_cert(tmp_path)
    tls = f'tls="true" cert="{cert}" key="{key}"'
    config = f"""<starling_bridge>
  <listener protocol="stomp" address="127.0.0.1:{STOMP}"/>
  <listener protocol="stomp" address="127.0.0.1:{STOMPS}" {tls}/>
  <listener protocol="stomp-ws" address="127.0.0.1:{WSS}" {tls}/>
  <listener protocol="amqp" address="127.0.0.1:{AMQP}"/>
  <listener protocol="amqp" address="127.0.0.1:{AMQPS}" {tls}/>
  <listener protocol="mqtt" address="127.0.0.1:{MQTTS}" {tls}/>
</starling_bridge>
"""
    bridge = start_config_bridge(netns, starling_bin, tmp_path, config, [STOMP, STOMPS, WSS, AMQP, AMQPS, MQTTS])
    with inside(netns):
        yield bridge, str(cert)


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.msgs = queue.Queue()
        self.receipts = queue.Queue()

    def on_message(self, frame):
        self.msgs.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])


def stomp_client(port, cert=None):
    c = stomp.Connection12([("127.0.0.1", port)], reconnect_attempts_max=1, timeout=10)
    if cert:
        c.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=cert, ssl_version=ssl.PROTOCOL_TLS_CLIENT)
    listener = Listener()
    c.set_listener("", listener)
    c.connect(wait=True, with_connect_command=True)
    return c, listener


def stomp_sub(c, listener, dest, id_):
    c.subscribe(dest, id_, headers={"receipt": f"sub-{id_}"})
    assert listener.receipts.get(timeout=10) == f"sub-{id_}"


def ws_frame(ws, timeout=10):
    """The next STOMP frame (heart-beat newlines skipped) from a websocket-client connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        f = ws.recv()
        f = f.decode() if isinstance(f, bytes) else f
        if f.strip("\n"):
            return f.lstrip("\n")
    raise TimeoutError("no STOMP frame over wss")


def pika_conn(port, cert=None):
    kw = {}
    if cert:
        ctx = ssl.create_default_context(cafile=cert)
        kw["ssl_options"] = pika.SSLOptions(ctx, "localhost")
    params = pika.ConnectionParameters("127.0.0.1", port, credentials=pika.PlainCredentials("guest", "guest"),
                                       connection_attempts=1, socket_timeout=10, blocked_connection_timeout=10, **kw)
    return pika.BlockingConnection(params)


def get_one(ch, q, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m, p, b = ch.basic_get(q, auto_ack=True)
        if m is not None:
            return m, p, b
        time.sleep(0.02)
    raise TimeoutError(f"nothing on queue {q}")


def test_stomp_over_tls_and_wss(tls_bridge):
    bridge, cert = tls_bridge
    secure, secure_l = stomp_client(STOMPS, cert)
    plain, plain_l = stomp_client(STOMP)
    stomp_sub(secure, secure_l, "/topic/tls.test", "1")
    stomp_sub(plain, plain_l, "/topic/tls.test", "2")
    # Secure WebSocket: STOMP frames over wss://, verified against the test's certificate.
    ws = websocket.create_connection(f"wss://127.0.0.1:{WSS}/", subprotocols=["v12.stomp"], timeout=10,
                                     sslopt={"ca_certs": cert, "cert_reqs": ssl.CERT_REQUIRED})
    ws.send("CONNECT\naccept-version:1.2\nhost:/\n\n\x00")
    assert ws_frame(ws).startswith("CONNECTED")
    ws.send("SUBSCRIBE\nid:3\ndestination:/topic/tls.test\nreceipt:r3\n\n\x00")
    assert "receipt-id:r3" in ws_frame(ws)
    # From the plain client to the TLS and wss clients, and from the TLS client to the plain one.
    plain.send("/topic/tls.test", "from-plain")
    assert secure_l.msgs.get(timeout=10).body == "from-plain"
    assert "from-plain" in ws_frame(ws)
    assert plain_l.msgs.get(timeout=10).body == "from-plain"
    secure.send("/topic/tls.test", "from-tls")
    assert plain_l.msgs.get(timeout=10).body == "from-tls"
    assert "from-tls" in ws_frame(ws)
    ws.close()
    secure.disconnect()
    plain.disconnect()


def test_plaintext_client_on_tls_ports_fails_cleanly(tls_bridge):
    bridge, cert = tls_bridge
    # A client that connects to the TLS port and never starts the handshake holds up nobody.
    idle = socket.create_connection(("127.0.0.1", STOMPS), timeout=5)
    secure, secure_l = stomp_client(STOMPS, cert)
    stomp_sub(secure, secure_l, "/topic/tls.still", "1")
    amqps = pika_conn(AMQPS, cert)
    ch = amqps.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.topic", "tls.still")
    # A plaintext STOMP client on the STOMP-over-TLS port: no CONNECTED, the connection is closed.
    with pytest.raises(stomp.exception.StompException):
        c = stomp.Connection12([("127.0.0.1", STOMPS)], reconnect_attempts_max=1, timeout=5)
        try:
            c.connect(wait=True)
        finally:
            c.disconnect() if c.is_connected() else None
    # A plaintext AMQP client on the amqps port.
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika_conn(AMQPS)
    # A plaintext MQTT client on the mqtts port: paho reports the connection lost, not a CONNACK.
    m = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    events = queue.Queue()
    m.on_connect = lambda c, u, f, rc, p: events.put(("connack", rc))
    m.on_disconnect = lambda c, u, f, rc, p: events.put(("disconnect", rc))
    m.connect("127.0.0.1", MQTTS, 60)
    m.loop_start()
    kind, _ = events.get(timeout=20)
    assert kind == "disconnect"
    m.loop_stop()
    assert bridge.wait_stderr("TLS handshake failed", 20), bridge.describe()
    # The TLS clients connected before go on working.
    secure.send("/topic/tls.still", "still-here")
    assert secure_l.msgs.get(timeout=10).body == "still-here"
    ch.basic_publish("amq.topic", "tls.still", b"from-amqps")
    _, _, body = get_one(ch, q)
    assert body == b"from-amqps"
    amqps.close()
    secure.disconnect()
    idle.close()


def test_mqtt_over_tls(tls_bridge):
    bridge, cert = tls_bridge
    got = queue.Queue()
    acks = queue.Queue()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tls", protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=cert)
    c.on_connect = lambda cl, u, f, rc, p: acks.put(rc)
    c.on_subscribe = lambda cl, u, mid, rcs, p: acks.put(mid)
    c.on_message = lambda cl, u, msg: got.put(msg)
    c.connect("127.0.0.1", MQTTS, 60)
    c.loop_start()
    assert not acks.get(timeout=20).is_failure
    _, mid = c.subscribe("tls/#", 1)
    assert acks.get(timeout=20) == mid
    c.publish("tls/x", b"over-tls", qos=1).wait_for_publish(10)
    assert got.get(timeout=10).payload == b"over-tls"
    c.loop_stop()
    c.disconnect()
