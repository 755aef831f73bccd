//! Configuration, mapping and loop guard tests.

use super::config::{BridgeConfig, ConfigError, Direction, Format, Protocol};
use super::dds_side::test_support::{LoopGuard, PendingRequests};
use super::BRIDGE_USER_DATA;
use starling_proto::wire::types::{EntityId, Guid, GuidPrefix};
use std::path::{Path, PathBuf};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$wvoQn3DYWT5tSp/qn/jVLA$4Khdou5RHcN/LmhKkZJ8JsOpJ+PdxaIYHhHjWiVb048";

fn parse(text: &str) -> Result<BridgeConfig, ConfigError> {
    BridgeConfig::parse(Path::new("b.xml"), text)
}

fn err(text: &str) -> String {
    parse(text).expect_err("config should be rejected").to_string()
}

#[test]
fn good_config() {
    let text = format!(
        r##"<dds>
  <qos_library name="L"><qos_profile name="P">
    <datawriter_qos><durability><kind>TRANSIENT_LOCAL_DURABILITY_QOS</kind></durability></datawriter_qos>
  </qos_profile></qos_library>
  <bridge>
    <listener protocol="mqtt" address="127.0.0.1:1883"/>
    <listener protocol="stomp" address="127.0.0.1:61613"/>
    <route domain="3" partition="p" topic="Square" type="ShapeType" broker_name="shapes/sq" direction="to_dds"
           format="cdr" qos_profile="L::P"/>
    <route topic="Circle" history_depth="5" reliability="best_effort"/>
    <default_mapping prefix="dds/" allow="Sq*,Tri*" deny="Triangle"/>
    <anonymous allowed="false"/>
    <users><user name="guest" password_hash="{HASH}" publish="a/#, b/+" subscribe="#"/></users>
    <loop_guard forward_other_bridges="true"/>
  </bridge>
</dds>"##
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[1].protocol, Protocol::Stomp);
    let r = &c.routes[0];
    assert_eq!((r.domain, r.partition.as_str(), r.broker_name.as_str()), (3, "p", "shapes/sq"));
    assert_eq!((r.direction, r.format), (Direction::ToDds, Format::Cdr));
    assert_eq!(r.writer_qos.durability, crate::qos::DurabilityKind::TransientLocal);
    assert_eq!(r.writer_qos.partition, vec!["p".to_string()]);
    assert!(r.ty.as_ref().is_some_and(|t| t.is_keyed()));
    let r = &c.routes[1];
    assert_eq!(r.broker_name, "Circle");
    assert!(r.ty.is_none());
    assert_eq!(r.writer_qos.history, crate::qos::History::KeepLast(5));
    assert_eq!(c.default_mapping.prefix, "dds");
    assert!(c.default_mapping.allows("Square"));
    assert!(!c.default_mapping.allows("Triangle"));
    assert!(!c.default_mapping.allows("Circle"));
    assert!(!c.default_mapping.allows("DCPSParticipant"));
    assert!(!c.anonymous.allowed);
    assert_eq!(c.users[0].publish.as_deref(), Some(&["a/#".to_string(), "b/+".to_string()][..]));
    assert!(c.loop_guard.forward_other_bridges);
    let auth = c.authenticator().unwrap();
    use crate::bridge::mqtt::auth::{Authenticator, Principal};
    let who = auth.authenticate(Some("guest"), Some(b"guest")).unwrap();
    assert_eq!(who, Principal::User("guest".into()));
    assert!(auth.can_publish(&who, "a/x/y"));
    assert!(!auth.can_publish(&who, "c"));
    assert!(auth.authenticate(None, None).is_err());
}

#[test]
fn bare_root_and_shipped_example() {
    let c = parse("<starling_bridge>\n<listener protocol=\"mqtt-ws\" address=\"[::1]:8083\"/>\n</starling_bridge>")
        .unwrap();
    assert_eq!(c.listeners[0].protocol, Protocol::MqttWs);
    assert!(c.anonymous.allowed);
    let ex = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/bridge.xml");
    let c = BridgeConfig::load(&ex).unwrap();
    assert!(c.listeners.iter().all(|l| l.address.ip().is_loopback()));
    assert!(c.anonymous.allowed);
    let auth = c.authenticator().unwrap();
    use crate::bridge::mqtt::auth::Authenticator;
    assert!(auth.authenticate(Some("guest"), Some(b"guest")).is_ok());
    assert!(auth.authenticate(Some("guest"), Some(b"nope")).is_err());
}

#[test]
fn errors_name_file_line_and_column() {
    let l = "<listener protocol=\"mqtt\" address=\"127.0.0.1:1883\"/>";
    let cases: Vec<(String, &str)> = vec![
        ("<bridge/>".into(), "b.xml:1:1: the root element must be <dds>"),
        ("<dds>\n</dds>".into(), "b.xml:1:1: <dds> holds no <bridge> element"),
        ("<starling_bridge>\n</starling_bridge>".into(), "b.xml:1:1: no <listener>"),
        (format!("<starling_bridge>\n  {l}\n  <listener protocol=\"xmpp\" address=\"1.2.3.4:5\"/>\n</starling_bridge>"),
            "b.xml:3:13: unknown protocol 'xmpp'"),
        ("<starling_bridge>\n<listener protocol=\"mqtt\" address=\"localhost\"/>\n</starling_bridge>".into(),
            "b.xml:2:27: address 'localhost' is not IP:PORT"),
        (format!("<starling_bridge>\n{l}\n{l}\n</starling_bridge>"), "b.xml:3:1: address 127.0.0.1:1883 is used by another listener"),
        (format!("<starling_bridge>\n{l}\n<listener protocol=\"mqtt\" address=\"127.0.0.1:1\" tls=\"true\"/>\n</starling_bridge>"),
            "b.xml:3:1: tls=\"true\" needs 'cert'"),
        (format!("<starling_bridge>\n{l}\n<route topic=\"T\" direction=\"sideways\"/>\n</starling_bridge>"),
            "b.xml:3:18: direction 'sideways' is not one of to_dds, from_dds, both"),
        (format!("<starling_bridge>\n{l}\n<route topic=\"T\" type=\"Nope\"/>\n</starling_bridge>"),
            "b.xml:3:18: type 'Nope' is not in the IDL files nor built in"),
        (format!("<starling_bridge>\n{l}\n<route topic=\"T\" broker_name=\"a/#\"/>\n</starling_bridge>"),
            "b.xml:3:18: broker_name 'a/#' is not a topic name"),
        (format!("<starling_bridge>\n{l}\n<route topic=\"T\"/>\n<route topic=\"T\"/>\n</starling_bridge>"),
            "b.xml:4:1: broker_name 'T' is already used by the route on line 3"),
        (format!("<starling_bridge>\n{l}\n<route topic=\"T\" qos_profile=\"X::Y\"/>\n</starling_bridge>"),
            "b.xml:3:18: no QoS profile 'X::Y'"),
        (format!("<starling_bridge>\n{l}\n<route topic=\"T\" colour=\"red\"/>\n</starling_bridge>"),
            "b.xml:3:18: unknown attribute 'colour' on <route>"),
        (format!("<starling_bridge>\n{l}\n<routes/>\n</starling_bridge>"), "b.xml:3:1: unknown element <routes>"),
        (format!("<starling_bridge>\n{l}\n<users><user name=\"u\" password_hash=\"plain\"/></users>\n</starling_bridge>"),
            "b.xml:3:23: password_hash is not an Argon2 PHC string"),
        (format!("<starling_bridge>\n{l}\n<anonymous allowed=\"yes\"/>\n</starling_bridge>"),
            "b.xml:3:12: allowed=\"yes\" is not a boolean"),
        (format!("<starling_bridge>\n{l}\n<users><user name=\"u\" password_hash=\"{HASH}\" publish=\"a/#/b\"/></users>\n</starling_bridge>"),
            "is not a topic pattern"),
        (format!("<starling_bridge>\n{l}\n<idl file=\"missing.idl\"/>\n</starling_bridge>"), "b.xml:3:6: IDL file missing.idl not found"),
        ("<starling_bridge>\n<listener>\n</starling_bridge>".into(), "b.xml:"),
    ];
    for (text, want) in cases {
        let got = err(&text);
        assert!(got.contains(want), "got {got:?}, want {want:?} for\n{text}");
    }
}

#[test]
fn idl_types_from_config() {
    let dir = std::env::temp_dir().join(format!("starling-bridge-cfg-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.idl"), "module M { struct Reading { @key string id; double value; }; };").unwrap();
    std::fs::write(dir.join("bad.idl"), "module M { struct X { long }; };").unwrap();
    let text = "<starling_bridge>\n<listener protocol=\"mqtt\" address=\"127.0.0.1:1\"/>\n<idl file=\"t.idl\"/>\n\
                <route topic=\"R\" type=\"M::Reading\"/>\n</starling_bridge>";
    let c = BridgeConfig::parse(&dir.join("b.xml"), text).unwrap();
    assert_eq!(c.routes[0].ty.as_ref().and_then(|t| t.name()), Some("M::Reading"));
    let bad = text.replace("t.idl", "bad.idl");
    let e = BridgeConfig::parse(&dir.join("b.xml"), &bad).unwrap_err().to_string();
    assert!(e.contains("b.xml:3:1: IDL files do not compile"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn loop_guard() {
    let own = GuidPrefix([1; 12]);
    let other = GuidPrefix([2; 12]);
    let w = |p| Guid { prefix: p, entity_id: EntityId([0, 0, 1, 2]) };
    let g = LoopGuard::new([own], Default::default());
    assert!(!g.forward(&w(own), None), "the bridge's own samples never go back out");
    assert!(!g.forward(&w(other), Some(BRIDGE_USER_DATA)), "other bridges' samples are not re-bridged");
    assert!(g.forward(&w(other), Some(b"app")));
    assert!(g.forward(&w(other), None));
    let g = LoopGuard::new([own], super::config::LoopGuardConfig { forward_other_bridges: true });
    assert!(g.forward(&w(other), Some(BRIDGE_USER_DATA)));
    assert!(!g.forward(&w(own), None));
}

fn identity(n: i64) -> starling_proto::wire::types::SampleIdentity {
    starling_proto::wire::types::SampleIdentity::new(
        Guid::new(GuidPrefix([7; 12]), EntityId([0, 0, 1, 2])),
        starling_proto::wire::types::SequenceNumber(n),
    )
}

#[test]
fn pending_requests_found_until_they_expire() {
    let t0 = std::time::Instant::now();
    let mut p = PendingRequests::default();
    let rr = |to: &str, c: Option<&'static [u8]>, via| super::RequestReply {
        response_topic: Some(to.into()),
        correlation_data: c.map(bytes::Bytes::from_static),
        via,
    };
    p.insert(t0, identity(1), rr("replies/a", Some(b"c1"), super::ReplyVia::Mqtt));
    p.insert(t0, identity(2), rr("/queue/b", None, super::ReplyVia::Stomp));
    let found = p.lookup(t0, &identity(1));
    assert_eq!(found, Some(rr("replies/a", Some(b"c1"), super::ReplyVia::Mqtt)));
    assert_eq!(p.lookup(t0, &identity(2)).map(|r| r.via), Some(super::ReplyVia::Stomp));
    // Several replies to one request: still there after a lookup.
    assert!(p.lookup(t0, &identity(1)).is_some());
    assert_eq!(p.lookup(t0, &identity(3)), None);
    let later = t0 + PendingRequests::TTL;
    assert_eq!(p.lookup(later, &identity(1)), None);
    assert_eq!(p.len(), 0);
}

#[test]
fn pending_requests_are_bounded() {
    let t0 = std::time::Instant::now();
    let mut p = PendingRequests::default();
    let n = PendingRequests::CAPACITY as i64 + 10;
    for i in 1..=n {
        p.insert(t0, identity(i), super::RequestReply::default());
    }
    assert_eq!(p.len(), PendingRequests::CAPACITY);
    // The oldest went first.
    assert_eq!(p.lookup(t0, &identity(1)), None);
    assert!(p.lookup(t0, &identity(n)).is_some());
}

fn inbound(i: usize) -> super::Inbound {
    super::Inbound {
        name: "shapes/square".into(),
        payload: bytes::Bytes::from(i.to_string()),
        properties: Vec::new(),
        rpc: super::RequestReply::default(),
        expires_at: None,
    }
}

/// A batch larger than the queue goes in parts, each waiting for room; everything arrives in order
/// and the room comes back as the receiver takes messages out.
#[tokio::test]
async fn batch_larger_than_the_queue_arrives_complete_and_in_order() {
    use super::{Hub, INBOUND_CAPACITY};
    let (hub, mut rx) = Hub::new(vec!["shapes/#".into()]);
    let total = 2 * INBOUND_CAPACITY + 5;
    let sender = tokio::spawn({
        let hub = hub.clone();
        async move { hub.to_dds_many((0..total).map(inbound).collect()).await }
    });
    let mut got = Vec::new();
    while got.len() < total {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv_many(&mut got, 1000))
            .await
            .expect("the sender never made progress");
        assert!(n > 0, "the queue closed early");
    }
    assert!(tokio::time::timeout(std::time::Duration::from_secs(20), sender).await.unwrap().unwrap());
    let order: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect();
    assert_eq!(order, (0..total).map(|i| i.to_string()).collect::<Vec<_>>());
    // All the room is back: a full queue's worth goes in without waiting.
    let full: Vec<_> = (0..INBOUND_CAPACITY).map(inbound).collect();
    assert!(tokio::time::timeout(std::time::Duration::from_secs(20), hub.to_dds_many(full)).await.unwrap());
    assert_eq!(rx.try_recv_many(&mut Vec::new(), usize::MAX), INBOUND_CAPACITY);
}

/// A sender waiting for room learns that the DDS side is gone.
#[tokio::test]
async fn waiting_sender_fails_when_the_dds_side_is_gone() {
    use super::{Hub, INBOUND_CAPACITY};
    let (hub, rx) = Hub::new(vec!["shapes/#".into()]);
    assert!(hub.to_dds_many((0..INBOUND_CAPACITY).map(inbound).collect()).await);
    let waiting = tokio::spawn({
        let hub = hub.clone();
        async move { hub.to_dds(inbound(0)).await }
    });
    drop(rx);
    let ok = tokio::time::timeout(std::time::Duration::from_secs(20), waiting).await.unwrap().unwrap();
    assert!(!ok);
}
