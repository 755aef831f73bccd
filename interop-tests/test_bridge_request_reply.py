"""MQTT 5 request/response <-> DDS request/reply (related sample identity) through `starling bridge`, in a private
network namespace: an MQTT request answered by a DDS replier comes back on the request's Response Topic with its
Correlation Data, and an MQTT responder echoing a DDS sample's Correlation Data writes a DDS reply whose related
sample identity names that sample."""
import json

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
    <route topic="Request" type="ShapeType" broker_name="rpc/request" direction="both" qos_profile="Bridge::Rpc"/>
    <route topic="Reply" type="ShapeType" broker_name="rpc/reply" direction="both" qos_profile="Bridge::Rpc"/>
  </bridge>
</dds>
"""


@pytest.fixture
def bridge(netns, starling_bin, tmp_path):
    yield start_config_bridge(netns, starling_bin, tmp_path, CONFIG, [1883])


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
