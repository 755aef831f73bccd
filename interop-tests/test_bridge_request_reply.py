"""MQTT 5 request/response, STOMP reply-to/correlation-id and AMQP reply_to/correlation_id <-> DDS request/reply (related sample identity) through `starling bridge`, in a private
network namespace: an MQTT request answered by a DDS replier comes back on the request's Response Topic with its
Correlation Data, and an MQTT responder echoing a DDS sample's Correlation Data writes a DDS reply whose related
sample identity names that sample. The same with stomp.py (reply-to destination, correlation-id header) and pika
(reply_to queue, correlation_id property)."""
import json
import queue
import time

import pika
import stomp

import paho.mqtt.client as mqtt
import pytest

from mqtt_helpers import Client, inside, start_config_bridge
from netns import Watcher
from shapes import starling_argv

CONFIG = """<dds>
  <qos_library name="Bridge">
    <qos_profile name="Rpc">
      <datawriter_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
      </datawriter_qos>
      <datareader_qos>
        <reliability><kind>RELIABLE_RELIABILITY_QOS</kind></reliability>
        <history><kind>KEEP_ALL_HISTORY_QOS</kind></history>
      </datareader_qos>
    </qos_profile>
  </qos_library>
  <bridge>
    <listener protocol="mqtt" address="127.0.0.1:1883"/>
    <listener protocol="stomp" address="127.0.0.1:61613"/>
    <listener protocol="amqp" address="127.0.0.1:5672"/>
    <route topic="Request" type="ShapeType" broker_name="rpc/request" direction="both" qos_profile="Bridge::Rpc"/>
    <route topic="Reply" type="ShapeType" broker_name="rpc/reply" direction="both" qos_profile="Bridge::Rpc"/>
  </bridge>
</dds>
"""


@pytest.fixture
def bridge(netns, starling_bin, tmp_path):
    yield start_config_bridge(netns, starling_bin, tmp_path, CONFIG, [1883, 61613, 5672])


def publish_props(**kw):
    p = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def test_mqtt_request_dds_replier_mqtt_response(netns, bridge, starling_bin):
    with inside(netns):
        # The DDS replier's request reader: prints each request with its sample identity.
        replier = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Request", "--type", "ShapeType",
                                                    "--identity", "--count", "1", "--timeout", "40")), "replier")
        assert replier.wait_stderr("publications matched", 30), replier.describe() + bridge.describe()
        requester = Client(5, "requester")
        requester.sub("client/replies", 1)
        requester.pub("rpc/request/RED", json.dumps({"x": 1, "y": 2, "shapesize": 3}), qos=1,
                      props=publish_props(ResponseTopic="client/replies", CorrelationData=b"req-42"))
        assert replier.wait_exit(40) == 0, replier.describe() + bridge.describe()
        [req] = replier.records
        assert req["data"]["color"] == "RED" and req["data"]["x"] == 1, req
        assert req["related_sample_identity"] is None, req
        ident = req["sample_identity"]
        assert len(ident) == 48, req
        # The DDS replier answers with the request's identity as the related sample identity.
        pub = netns.run(starling_argv(starling_bin, "pub", "Reply", "--type", "ShapeType", "--related", ident,
                                      "--wait-subscribers", "1",
                                      json.dumps({"color": "RED", "x": 10, "y": 20, "shapesize": 30})), timeout=40)
        assert pub.returncode == 0, pub.stderr + bridge.describe()
        m = requester.get(timeout=20)
        assert m.topic == "client/replies", (m.topic, m.payload)
        assert m.properties.CorrelationData == b"req-42", m.properties
        assert not m.retain
        assert json.loads(m.payload)["x"] == 10
        up = dict(getattr(m.properties, "UserProperty", None) or [])
        assert up.get("related-sample-identity") == ident, up
        # One reply, one message.
        assert requester.drain(1.0) == []
        requester.close()


def test_dds_request_mqtt_responder_dds_reply(netns, bridge, starling_bin):
    with inside(netns):
        responder = Client(5, "responder")
        responder.sub("rpc/request/#", 1)
        # The DDS requester's reply reader.
        replies = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Reply", "--type", "ShapeType",
                                                    "--identity", "--count", "1", "--timeout", "40")), "replies")
        assert replies.wait_stderr("publications matched", 30), replies.describe() + bridge.describe()
        pub = netns.run(starling_argv(starling_bin, "pub", "Request", "--type", "ShapeType", "--wait-subscribers",
                                      "1", json.dumps({"color": "BLUE", "x": 5, "y": 6, "shapesize": 7})), timeout=40)
        assert pub.returncode == 0, pub.stderr + bridge.describe()
        m = responder.get(timeout=20)
        assert m.topic == "rpc/request/BLUE"
        corr = m.properties.CorrelationData
        assert len(corr) == 24, corr
        up = dict(getattr(m.properties, "UserProperty", None) or [])
        # The Correlation Data is the sample identity: GUID, then the sequence number (big-endian high, low).
        assert int.from_bytes(corr[16:20], "big") * 2**32 + int.from_bytes(corr[20:24], "big") == \
            int(up["sequence-number"]), (corr, up)
        # The MQTT responder echoes the Correlation Data (and sets no Response Topic).
        responder.pub("rpc/reply/BLUE", json.dumps({"x": 50, "y": 60, "shapesize": 70}), qos=1,
                      props=publish_props(CorrelationData=corr))
        assert replies.wait_exit(40) == 0, replies.describe() + bridge.describe()
        [rep] = replies.records
        assert rep["data"] == {"color": "BLUE", "x": 50, "y": 60, "shapesize": 70,
                               "additional_payload_size": []} or rep["data"]["x"] == 50, rep
        assert rep["related_sample_identity"] == corr.hex(), (rep, corr.hex())
        responder.close()


def test_cyclone_reads_samples_with_related_identity(netns, starling_bin):
    """Cyclone DDS accepts DATA carrying inline QoS PID_RELATED_SAMPLE_IDENTITY (0x0083): every sample arrives."""
    from shapes import peer_argv
    sub = Watcher(netns.popen(peer_argv("cyclone", "sub", "Square", count=3, instances=1, timeout=40)), "cyclone sub")
    ident = "0102030405060708090a0b0c000001c2" + "00000000" + "0000002a"
    samples = [json.dumps({"color": "RED", "x": i, "y": 3 * i, "shapesize": 30}) for i in range(3)]
    pub = netns.run(starling_argv(starling_bin, "pub", "Square", "--type", "ShapeType", "--related", ident,
                                  "--wait-subscribers", "1", *samples), timeout=40)
    assert pub.returncode == 0, pub.stderr + sub.describe()
    assert sub.wait_exit(40) == 0, sub.describe()
    assert [d["x"] for d in sub.data()] == [0, 1, 2], sub.describe()


# ---- STOMP and AMQP ----------------------------------------------------------------------------------------------

class StompListener(stomp.ConnectionListener):
    def __init__(self):
        self.msgs = queue.Queue()
        self.receipts = queue.Queue()

    def on_message(self, frame):
        self.msgs.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])


def stomp_client():
    c = stomp.Connection12([("127.0.0.1", 61613)])
    listener = StompListener()
    c.set_listener("", listener)
    c.connect(wait=True)
    return c, listener


def stomp_sub(c, listener, dest, id_):
    c.subscribe(dest, id_, headers={"receipt": f"sub-{id_}"})
    assert listener.receipts.get(timeout=15) == f"sub-{id_}"


def pika_channel():
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672,
                                                          credentials=pika.PlainCredentials("guest", "guest")))
    return c, c.channel()


def pika_get(ch, q, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m, p, b = ch.basic_get(q, auto_ack=True)
        if m is not None:
            return m, p, b
        time.sleep(0.02)
    raise TimeoutError(f"nothing on queue {q}")


def dds_replier(netns, starling_bin, bridge):
    """A DDS replier's request reader, matched with the bridge's request writer."""
    replier = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Request", "--type", "ShapeType",
                                                "--identity", "--count", "1", "--timeout", "40")), "replier")
    assert replier.wait_stderr("publications matched", 30), replier.describe() + bridge.describe()
    return replier


def dds_reply(netns, starling_bin, bridge, replier, color):
    """Waits for the request at the DDS replier and answers it; returns the request's sample identity."""
    assert replier.wait_exit(40) == 0, replier.describe() + bridge.describe()
    [req] = replier.records
    assert req["data"]["color"] == color and req["data"]["x"] == 1, req
    ident = req["sample_identity"]
    assert len(ident) == 48, req
    pub = netns.run(starling_argv(starling_bin, "pub", "Reply", "--type", "ShapeType", "--related", ident,
                                  "--wait-subscribers", "1",
                                  json.dumps({"color": color, "x": 10, "y": 20, "shapesize": 30})), timeout=40)
    assert pub.returncode == 0, pub.stderr + bridge.describe()
    return ident


def dds_reply_reader(netns, starling_bin, bridge):
    replies = Watcher(netns.popen(starling_argv(starling_bin, "-v", "sub", "Reply", "--type", "ShapeType",
                                                "--identity", "--count", "1", "--timeout", "40")), "replies")
    assert replies.wait_stderr("publications matched", 30), replies.describe() + bridge.describe()
    return replies


def dds_request(netns, starling_bin, bridge, color):
    pub = netns.run(starling_argv(starling_bin, "pub", "Request", "--type", "ShapeType", "--wait-subscribers",
                                  "1", json.dumps({"color": color, "x": 5, "y": 6, "shapesize": 7})), timeout=40)
    assert pub.returncode == 0, pub.stderr + bridge.describe()


def test_stomp_request_dds_replier(netns, bridge, starling_bin):
    with inside(netns):
        replier = dds_replier(netns, starling_bin, bridge)
        c, listener = stomp_client()
        stomp_sub(c, listener, "/queue/stomp-replies", "1")
        c.send("/topic/rpc.request.GREEN", json.dumps({"x": 1, "y": 2, "shapesize": 3}),
               headers={"reply-to": "/queue/stomp-replies", "correlation-id": "stomp-req-7", "receipt": "sent"})
        assert listener.receipts.get(timeout=15) == "sent"
        ident = dds_reply(netns, starling_bin, bridge, replier, "GREEN")
        m = listener.msgs.get(timeout=20)
        assert m.headers["destination"] == "/queue/stomp-replies", m.headers
        assert m.headers["correlation-id"] == "stomp-req-7", m.headers
        assert m.headers["related-sample-identity"] == ident, m.headers
        assert json.loads(m.body)["x"] == 10
        # One reply, one message.
        with pytest.raises(queue.Empty):
            listener.msgs.get(timeout=1.0)
        c.disconnect()


def test_dds_request_stomp_responder(netns, bridge, starling_bin):
    with inside(netns):
        c, listener = stomp_client()
        stomp_sub(c, listener, "/topic/rpc.request.*", "1")
        replies = dds_reply_reader(netns, starling_bin, bridge)
        dds_request(netns, starling_bin, bridge, "BLUE")
        m = listener.msgs.get(timeout=20)
        assert m.headers["destination"] == "/topic/rpc.request.BLUE", m.headers
        corr = m.headers["correlation-id"]
        assert len(corr) == 48, m.headers
        assert int(corr[32:40], 16) * 2**32 + int(corr[40:48], 16) == int(m.headers["sequence-number"]), m.headers
        # The STOMP responder echoes the correlation-id (and sets no reply-to).
        c.send("/topic/rpc.reply.BLUE", json.dumps({"x": 50, "y": 60, "shapesize": 70}),
               headers={"correlation-id": corr})
        assert replies.wait_exit(40) == 0, replies.describe() + bridge.describe()
        [rep] = replies.records
        assert rep["data"]["x"] == 50 and rep["data"]["color"] == "BLUE", rep
        assert rep["related_sample_identity"] == corr, (rep, corr)
        c.disconnect()


def test_amqp_request_dds_replier(netns, bridge, starling_bin):
    with inside(netns):
        replier = dds_replier(netns, starling_bin, bridge)
        conn, ch = pika_channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.confirm_delivery()
        ch.basic_publish("amq.topic", "rpc.request.YELLOW", json.dumps({"x": 1, "y": 2, "shapesize": 3}),
                         properties=pika.BasicProperties(reply_to=q, correlation_id="amqp-req-9"))
        ident = dds_reply(netns, starling_bin, bridge, replier, "YELLOW")
        m, p, body = pika_get(ch, q)
        assert p.correlation_id == "amqp-req-9", p
        assert p.headers["related-sample-identity"] in (ident, ident.encode()), p.headers
        assert json.loads(body)["x"] == 10
        assert m.routing_key == q and m.exchange == "", m
        # One reply, one message.
        time.sleep(0.5)
        assert ch.basic_get(q, auto_ack=True)[0] is None
        conn.close()


def test_dds_request_amqp_responder(netns, bridge, starling_bin):
    with inside(netns):
        conn, ch = pika_channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, "amq.topic", "rpc.request.*")
        replies = dds_reply_reader(netns, starling_bin, bridge)
        dds_request(netns, starling_bin, bridge, "ORANGE")
        m, p, body = pika_get(ch, q)
        assert m.routing_key == "rpc.request.ORANGE", m
        corr = p.correlation_id
        assert corr is not None and len(corr) == 48, p
        ch.confirm_delivery()
        ch.basic_publish("amq.topic", "rpc.reply.ORANGE", json.dumps({"x": 50, "y": 60, "shapesize": 70}),
                         properties=pika.BasicProperties(correlation_id=corr))
        assert replies.wait_exit(40) == 0, replies.describe() + bridge.describe()
        [rep] = replies.records
        assert rep["data"]["x"] == 50 and rep["data"]["color"] == "ORANGE", rep
        assert rep["related_sample_identity"] == corr, (rep, corr)
        conn.close()
