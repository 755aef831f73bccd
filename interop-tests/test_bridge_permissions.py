"""Per-user publish/subscribe permissions from the bridge configuration on the STOMP (stomp.py) and AMQP (pika)
endpoints. Patterns are MQTT topic filters over the STOMP destination without its leading `/` (`topic/KEY`,
`queue/NAME`, `exchange/NAME/KEY`); AMQP publishes and bindings are checked as the destination with the same
meaning (`amq.topic` → `topic/KEY`, the default exchange → `queue/KEY`), consuming as `queue/NAME`."""
import os
import queue
import re
import time

import pika
import pytest
import stomp

from mqtt_helpers import inside, start_config_bridge

STOMP_PORT = 61613
AMQP_PORT = 5672


def _guest_hash():
    xml = open(os.path.join(os.path.dirname(__file__), "..", "examples", "bridge.xml")).read()
    return re.search(r'<user name="guest" password_hash="([^"]+)"', xml).group(1)


@pytest.fixture
def bridge(netns, starling_bin, tmp_path):
    h = _guest_hash()
    cfg = f"""<starling_bridge>
  <listener protocol="stomp" address="127.0.0.1:{STOMP_PORT}"/>
  <listener protocol="amqp" address="127.0.0.1:{AMQP_PORT}"/>
  <anonymous allowed="false"/>
  <users>
    <user name="sensor" password_hash="{h}" publish="topic/sensors.temp" subscribe="queue/sensor-inbox"/>
    <user name="admin" password_hash="{h}"/>
  </users>
</starling_bridge>"""
    start_config_bridge(netns, starling_bin, tmp_path, cfg, [STOMP_PORT, AMQP_PORT])
    with inside(netns):
        yield netns


def amqp(user):
    creds = pika.PlainCredentials(user, "guest")
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", AMQP_PORT, credentials=creds))


def test_amqp_per_user_permissions(bridge):
    admin = amqp("admin").channel()
    admin.queue_declare("sensor-inbox")
    admin.queue_declare("watch")
    admin.queue_bind("watch", "amq.topic", "#")
    sensor_conn = amqp("sensor")
    ch = sensor_conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.topic", "sensors.temp", b"21.5")  # permitted: confirmed
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.basic_publish("amq.topic", "cmd.reboot", b"now")
    assert e.value.reply_code == 403, e.value
    ch = sensor_conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.queue_bind("sensor-inbox", "amq.topic", "cmd.reboot")
    assert e.value.reply_code == 403, e.value
    ch = sensor_conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.basic_get("watch")
    assert e.value.reply_code == 403, e.value
    ch = sensor_conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch.basic_consume("watch", lambda *a: None)
    assert e.value.reply_code == 403, e.value
    # What the sensor may read: its inbox, fed by the admin through the default exchange.
    ch = sensor_conn.channel()
    admin.basic_publish("", "sensor-inbox", b"calibrate")
    deadline = time.monotonic() + 10
    got = None
    while got is None and time.monotonic() < deadline:
        m, _, body = ch.basic_get("sensor-inbox", auto_ack=True)
        got = body if m else None
        if m is None:
            time.sleep(0.05)
    assert got == b"calibrate"
    # Only the permitted publish reached amq.topic.
    m, _, body = admin.basic_get("watch", auto_ack=True)
    assert (m.routing_key, body) == ("sensors.temp", b"21.5")
    assert admin.basic_get("watch")[0] is None
    sensor_conn.close()


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.msgs = queue.Queue()
        self.errors = queue.Queue()
        self.receipts = queue.Queue()

    def on_message(self, frame):
        self.msgs.put(frame)

    def on_error(self, frame):
        self.errors.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])


def stomp_client(user):
    c = stomp.Connection12([("127.0.0.1", STOMP_PORT)], heartbeats=(0, 0))
    ls = Listener()
    c.set_listener("", ls)
    c.connect(user, "guest", wait=True)
    return c, ls


def test_stomp_per_user_permissions(bridge):
    admin, al = stomp_client("admin")
    admin.subscribe("/topic/#", "all", headers={"receipt": "s-all"})
    assert al.receipts.get(timeout=10) == "s-all"
    sensor, sl = stomp_client("sensor")
    sensor.subscribe("/queue/sensor-inbox", "inbox", headers={"receipt": "s-in"})
    assert sl.receipts.get(timeout=10) == "s-in"
    sensor.send("/topic/sensors.temp", "21.5", headers={"receipt": "p-ok"})
    assert sl.receipts.get(timeout=10) == "p-ok"
    admin.send("/queue/sensor-inbox", "calibrate")
    assert sl.msgs.get(timeout=10).body == "calibrate"
    m = al.msgs.get(timeout=10)
    assert (m.headers["destination"], m.body) == ("/topic/sensors.temp", "21.5")
    # A SEND outside the user's publish patterns: ERROR with the frame's receipt, and only that connection ends.
    sensor.send("/topic/cmd.reboot", "now", headers={"receipt": "p-bad"})
    err = sl.errors.get(timeout=10)
    assert err.headers["message"] == "access refused" and err.headers["receipt-id"] == "p-bad", err.headers
    s2, l2 = stomp_client("sensor")
    s2.subscribe("/topic/cmd.reboot", "x", headers={"receipt": "s-bad"})
    err = l2.errors.get(timeout=10)
    assert err.headers["message"] == "access refused", err.headers
    admin.send("/topic/after", "still-here")
    assert al.msgs.get(timeout=10).body == "still-here"
    assert al.msgs.empty()
    admin.disconnect()
