//! The AMQP 0-9-1 endpoint of the bridge: the AMQP server plus a link between its broker and the
//! hub.
//!
//! # DDS → AMQP
//! Each DDS sample of a route becomes one message published on `amq.topic` and on the headers
//! exchanges `amq.headers` and `amq.match`, with routing key = the route's broker name in dotted
//! form plus one level per key value (`shapes/square` + `RED` → `shapes.square.RED`). The body
//! is the route's format (DDS-JSON or encapsulated CDR); the metadata is in the headers table
//! (`type-name`, `writer-guid`, `source-timestamp`, `sequence-number`, `topic`, and
//! `dds-instance-state: disposed` on the empty message that stands for a disposed instance, all
//! as strings, so `x-match` bindings can select on them), and in the basic properties:
//! `content-type`, `type` (the type name), `timestamp` (source timestamp, seconds),
//! `expiration` (the writer's LIFESPAN, milliseconds, counted from when the bridge forwards the
//! sample: how much of it is left is not known to a DDS reader), `correlation_id` (the sample's identity,
//! 48 hex digits: writer GUID and sequence number) and `app-id` `starling-bridge`.
//!
//! # Request/reply
//! - AMQP requester, DDS replier: a message on `amq.topic` with `reply_to` (a queue name, as
//!   pika and kombu set it) on a route towards DDS is written to DDS and remembered by its sample
//!   identity; a DDS sample on a from-DDS route whose related sample identity names it is
//!   published once through the default exchange to the `reply_to` queue, with the request's
//!   `correlation_id` (and the header `related-sample-identity`). Replies go to AMQP only.
//!   RabbitMQ's direct reply-to pseudo-queue `amq.rabbitmq.reply-to` is not supported: declare
//!   a reply queue.
//! - DDS requester, AMQP responder: a message with a `correlation_id` of 48 hex digits (as on
//!   every message from DDS) and no `reply_to` is written as a DDS reply whose related sample
//!   identity is that identity.
//!
//! # AMQP → DDS
//! `expiration` (per-message TTL) cannot become the DDS sample's lifespan: LIFESPAN is a
//! DataWriter QoS, and a reader computes a sample's expiry from its source timestamp and the
//! writer's LIFESPAN, so there is no per-sample lifespan on the wire. One writer per TTL value
//! was rejected (each would be a new DDS writer that readers must discover before it can
//! deliver, with no order between writers and instances split across them), and so was
//! shifting the source timestamp (it would falsify the sample's metadata). Instead the bridge
//! drops a message whose TTL has run out before it is written (e.g. while it waits for a busy
//! DDS side), and the written sample lives as long as the route writer's LIFESPAN QoS says
//! (`<lifespan>` in the route's QoS profile; give a route that carries TTL'd messages a
//! LIFESPAN no longer than their TTL).
//!
//! A tap on `amq.topic` copies every client message whose routing key matches a route towards
//! DDS (the hub's inbound filters, `+` → `*`); the routing key is turned back into the MQTT form
//! and handed to the DDS side, which takes missing key members from the key levels and reads an
//! empty body as a dispose of the instance the key levels name.
//!
//! # Loop guard
//! Messages the link publishes (from DDS) never reach the tap
//! ([`AmqpBroker::publish_external`]), and the DDS side never forwards samples of the bridge's
//! own writers, so nothing an AMQP client publishes into DDS comes back to AMQP through DDS.

use super::mapping::{escape_level, from_dotted, to_dotted, unescape_level, NameError, Separator};
use super::{
    hex, identity_from_hex, props, BoxFuture, BridgeError, Endpoint, EndpointContext, Hub, Inbound, ListenerConfig,
    Outbound, Protocol, ReplyVia, RequestReply,
};
use crate::bridge::amqp::broker::TappedMessage;
use crate::bridge::amqp::{AmqpBroker, AmqpServer, AmqpServerConfig};
use crate::bridge::listener::ListenerSpec;
use crate::bridge::mqtt::auth::Authenticator;
use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::{AMQPValue, FieldTable, LongString, ShortString};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Exchanges every DDS sample is published on.
pub const DDS_EXCHANGES: [&str; 3] = ["amq.topic", "amq.headers", "amq.match"];

/// `app-id` of the messages the bridge publishes.
pub const APP_ID: &str = "starling-bridge";

/// Client messages waiting for the DDS side in the tap.
const TAP_CAPACITY: usize = 4096;

/// The AMQP 0-9-1 endpoint (`amqp://` and, with TLS, `amqps://` listeners).
#[derive(Debug, Clone, Default)]
pub struct AmqpEndpoint {
    /// Server settings (the address is taken from the configuration's listener).
    pub server: AmqpServerConfig,
}

impl Endpoint for AmqpEndpoint {
    fn protocols(&self) -> &'static [Protocol] {
        &[Protocol::Amqp]
    }

    fn bind(
        &self,
        listeners: Vec<ListenerConfig>,
        ctx: EndpointContext,
    ) -> BoxFuture<Result<BoxFuture<()>, BridgeError>> {
        let mut cfg = self.server.clone();
        Box::pin(async move {
            let Some(l) = listeners.first() else {
                return Ok(Box::pin(async {}) as BoxFuture<()>);
            };
            cfg.addr = l.address;
            cfg.tls = l.tls.as_ref().map(super::tls::server_config).transpose()?;
            cfg.listeners.clear();
            for x in &listeners[1..] {
                let tls = x.tls.as_ref().map(super::tls::server_config).transpose()?;
                cfg.listeners.push(ListenerSpec { addr: x.address, websocket: false, tls });
            }
            let secure: Vec<bool> = listeners.iter().map(|l| l.tls.is_some()).collect();
            let auth: Arc<dyn Authenticator> = ctx.auth.clone();
            let server = AmqpServer::bind(cfg, auth)
                .await
                .map_err(|e| BridgeError::Bind { addr: l.address, message: e.to_string() })?;
            for (tls, a) in secure.iter().zip(server.local_addrs()) {
                let scheme = if *tls { "amqps" } else { "amqp" };
                eprintln!("starling bridge: AMQP 0-9-1 listening on {scheme}://{a}");
            }
            let broker = server.broker();
            let keys: Vec<String> = ctx.hub.inbound_filters().iter().filter_map(|f| binding_key(f)).collect();
            let tap = if keys.is_empty() {
                None
            } else {
                Some(broker.tap_topic(&keys, TAP_CAPACITY).map_err(|e| BridgeError::Bind {
                    addr: l.address,
                    message: format!("cannot tap amq.topic: {e}"),
                })?)
            };
            let mut stop = ctx.shutdown.clone();
            let hub = ctx.hub.clone();
            let fut: BoxFuture<()> = Box::pin(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                // The link stops once the server has closed every connection, so that a message
                // confirmed to its client during shutdown still reaches the DDS side.
                let (closed_tx, closed_rx) = tokio::sync::watch::channel(false);
                let serve = async move {
                    server.run(shutdown).await;
                    let _ = closed_tx.send(true);
                };
                tokio::join!(serve, link(broker, hub, tap, closed_rx));
            });
            Ok(fut)
        })
    }
}

async fn link(
    broker: AmqpBroker,
    hub: Hub,
    mut tap: Option<mpsc::Receiver<TappedMessage>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut rx = hub.subscribe();
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(m) => publish(&broker, &m),
                Err(RecvError::Lagged(n)) => tracing::warn!("bridge: AMQP side lagged, {n} DDS samples skipped"),
                Err(RecvError::Closed) => return,
            },
            m = async { match &mut tap { Some(t) => t.recv().await, None => std::future::pending().await } } => {
                let Some(m) = m else { tap = None; continue };
                to_dds(&hub, &m).await;
            }
            _ = stop.changed() => {
                // Every connection is closed: what clients published goes to DDS.
                if let Some(t) = &mut tap {
                    while let Ok(m) = t.try_recv() {
                        to_dds(&hub, &m).await;
                    }
                }
                return;
            }
        }
    }
}

async fn to_dds(hub: &Hub, m: &TappedMessage) {
    match inbound(m) {
        Ok(i) => {
            if !hub.to_dds(i).await {
                tracing::warn!("bridge: DDS side stopped, AMQP message with key {} not written", m.routing_key);
            }
        }
        Err(e) => tracing::warn!("bridge: AMQP routing key {} not mapped to DDS: {e}", m.routing_key),
    }
}

fn publish(broker: &AmqpBroker, m: &Outbound) {
    if m.reply && m.rpc.via != ReplyVia::Amqp {
        return;
    }
    let Some((key, props)) = outbound(m) else { return };
    // A reply goes to the requester's queue through the default exchange.
    let exchanges: &[&str] = if m.reply { &[""] } else { &DDS_EXCHANGES };
    for r in broker.publish_external_to(exchanges, &key, props, m.payload.clone()) {
        if let Err(e) = r {
            tracing::warn!("bridge: DDS sample for {key} not published to AMQP: {e}");
        }
    }
}

/// The AMQP topic binding key for an MQTT topic filter (`+` → `*`, levels re-escaped for `.`).
pub fn binding_key(filter: &str) -> Option<String> {
    let mut out = Vec::new();
    for l in filter.split('/') {
        out.push(match l {
            "+" => "*".to_string(),
            "#" => "#".to_string(),
            l => escape_level(&unescape_level(l).ok()?, Separator::Dot),
        });
    }
    Some(out.join("."))
}

/// Routing key and properties of the AMQP message for a DDS sample (None if the name does not
/// convert). For a reply to an AMQP request the routing key is the request's `reply_to` queue.
#[must_use]
pub fn outbound(m: &Outbound) -> Option<(String, AMQPProperties)> {
    let key = if m.reply {
        m.name.clone()
    } else {
        match to_dotted(&m.name) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!("bridge: {} has no AMQP routing key: {e}", m.name);
                return None;
            }
        }
    };
    let mut headers = FieldTable::default();
    let mut p = AMQPProperties::default().with_app_id(ShortString::from(APP_ID));
    for (k, v) in &m.properties {
        headers.insert(ShortString::from(k.as_str()), AMQPValue::LongString(LongString::from(v.as_bytes())));
        if k == props::TYPE_NAME {
            p = p.with_type(ShortString::from(v.as_str()));
        } else if k == props::SOURCE_TIMESTAMP {
            if let Ok(ns) = v.parse::<u64>() {
                p = p.with_timestamp(ns / 1_000_000_000);
            }
        }
    }
    if !m.disposed {
        p = p.with_content_type(ShortString::from(m.content_type));
    }
    if let Some(d) = m.expiry {
        p = p.with_expiration(ShortString::from(d.as_millis().max(1).to_string()));
    }
    if let Some(c) = &m.rpc.correlation_data {
        // A reply carries the requester's own correlation_id; other samples their identity.
        let id = if m.reply { String::from_utf8_lossy(c).into_owned() } else { hex(c) };
        p = p.with_correlation_id(ShortString::from(id));
    }
    Some((key, p.with_headers(headers)))
}

/// The hub message for a client message copied from `amq.topic`.
pub fn inbound(m: &TappedMessage) -> Result<Inbound, NameError> {
    let name = from_dotted(&m.routing_key)?;
    let properties = m
        .properties
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .filter_map(|(k, v)| match v {
                    AMQPValue::LongString(s) => {
                        Some((k.as_str().to_string(), String::from_utf8_lossy(s.as_bytes()).into_owned()))
                    }
                    AMQPValue::ShortString(s) => Some((k.as_str().to_string(), s.as_str().to_string())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Inbound {
        name,
        payload: m.body.clone(),
        properties,
        rpc: rpc_of(&m.properties),
        expires_at: expires_at(&m.properties),
    })
}

/// The deadline of a message's `expiration` (per-message TTL, milliseconds, counted from now).
/// `0` (RabbitMQ: delivered only if a consumer takes it at once) is taken as no deadline, since
/// the bridge hands the message to the DDS side at once; an unparsable value is ignored.
fn expires_at(p: &AMQPProperties) -> Option<std::time::Instant> {
    let ms: u64 = p.expiration().as_ref()?.as_str().trim().parse().ok()?;
    (ms > 0).then(|| std::time::Instant::now() + std::time::Duration::from_millis(ms))
}

/// Request/reply data of a client message: `reply_to` with `correlation_id` (a request), or a
/// `correlation_id` that names a DDS sample (a reply to it).
fn rpc_of(p: &AMQPProperties) -> RequestReply {
    let correlation = p.correlation_id().as_ref().map(|c| c.as_str().to_owned());
    match p.reply_to().as_ref().map(ShortString::as_str).filter(|q| !q.is_empty()) {
        Some(q) => RequestReply {
            response_topic: Some(q.to_owned()),
            correlation_data: correlation.map(bytes::Bytes::from),
            via: ReplyVia::Amqp,
        },
        None => RequestReply {
            response_topic: None,
            correlation_data: correlation.as_deref().and_then(identity_from_hex),
            via: ReplyVia::Amqp,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::amqp::broker::{Broker, BrokerConfig, QueueOptions};
    use bytes::Bytes;
    use std::time::{Duration, Instant};

    fn sample(name: &str, disposed: bool) -> Outbound {
        Outbound {
            name: name.into(),
            payload: if disposed { Bytes::new() } else { Bytes::from_static(b"{\"color\":\"RED\"}") },
            disposed,
            properties: vec![
                (props::SOURCE_TIMESTAMP.into(), "1700000000123456789".into()),
                (props::WRITER_GUID.into(), "01.02".into()),
                (props::TYPE_NAME.into(), "ShapeType".into()),
            ],
            expiry: Some(Duration::from_millis(1500)),
            content_type: "application/json",
            rpc: RequestReply::default(),
            reply: false,
        }
    }

    fn header<'a>(p: &'a AMQPProperties, k: &str) -> Option<&'a AMQPValue> {
        p.headers().as_ref()?.inner().get(k)
    }

    #[test]
    fn filters_to_binding_keys() {
        assert_eq!(binding_key("shapes/circle/#").as_deref(), Some("shapes.circle.#"));
        assert_eq!(binding_key("a/+/c").as_deref(), Some("a.*.c"));
        assert_eq!(binding_key("#").as_deref(), Some("#"));
        assert_eq!(binding_key("dds/p.1/T").as_deref(), Some("dds.p%2E1.T"));
        assert_eq!(binding_key("bad/%zz"), None);
    }

    #[test]
    fn sample_to_message() {
        let (key, p) = outbound(&sample("shapes/square/RED", false)).unwrap();
        assert_eq!(key, "shapes.square.RED");
        assert_eq!(p.content_type().as_ref().map(ShortString::as_str), Some("application/json"));
        assert_eq!(p.kind().as_ref().map(ShortString::as_str), Some("ShapeType"));
        assert_eq!(*p.timestamp(), Some(1_700_000_000));
        assert_eq!(p.expiration().as_ref().map(ShortString::as_str), Some("1500"));
        assert_eq!(p.app_id().as_ref().map(ShortString::as_str), Some(APP_ID));
        assert_eq!(header(&p, "type-name"), Some(&AMQPValue::LongString("ShapeType".into())));
        assert_eq!(header(&p, "writer-guid"), Some(&AMQPValue::LongString("01.02".into())));
        let mut d = sample("dds/we.ird/T/BLUE", true);
        d.properties.push((props::INSTANCE_STATE.into(), "disposed".into()));
        let (key, p) = outbound(&d).unwrap();
        assert_eq!(key, "dds.we%2Eird.T.BLUE");
        assert_eq!(*p.content_type(), None);
        assert_eq!(header(&p, "dds-instance-state"), Some(&AMQPValue::LongString("disposed".into())));
    }

    #[test]
    fn request_reply_and_expiration_properties() {
        let ident = "0102030405060708090a0b0c000001c2000000000000002a";
        let tapped = |p: AMQPProperties| TappedMessage {
            routing_key: Arc::from("rpc.request.RED"),
            properties: p,
            body: Bytes::from_static(b"{}"),
        };
        // A request: reply_to and correlation_id, and a TTL.
        let p = AMQPProperties::default()
            .with_reply_to("amq.gen-1".into())
            .with_correlation_id("c-9".into())
            .with_expiration("60000".into());
        let i = inbound(&tapped(p)).unwrap();
        assert_eq!(i.rpc.response_topic.as_deref(), Some("amq.gen-1"));
        assert_eq!(i.rpc.correlation_data.as_deref(), Some(&b"c-9"[..]));
        assert_eq!(i.rpc.via, ReplyVia::Amqp);
        let now = Instant::now();
        assert!(!i.expired(now) && i.expired(now + Duration::from_secs(61)));
        // An answer to a DDS sample: its identity in correlation_id, no reply_to.
        let i = inbound(&tapped(AMQPProperties::default().with_correlation_id(ident.into()))).unwrap();
        assert_eq!(i.rpc.response_topic, None);
        assert_eq!(i.rpc.correlation_data.map(|c| hex(&c)).as_deref(), Some(ident));
        assert_eq!(i.expires_at, None);
        // Neither: no request/reply data; expiration 0 is no deadline.
        let i = inbound(&tapped(AMQPProperties::default().with_correlation_id("x".into()).with_expiration("0".into())))
            .unwrap();
        assert_eq!((i.rpc.response_topic, i.rpc.correlation_data, i.expires_at), (None, None, None));
        // DDS -> AMQP: a sample's identity as correlation_id; a reply to the requester's queue
        // with its own correlation_id.
        let mut s = sample("rpc/request/RED", false);
        s.rpc.correlation_data = identity_from_hex(ident);
        let (_, p) = outbound(&s).unwrap();
        assert_eq!(p.correlation_id().as_ref().map(ShortString::as_str), Some(ident));
        s.reply = true;
        s.name = "amq.gen-1".into();
        s.rpc = RequestReply { response_topic: None, correlation_data: Some("c-9".into()), via: ReplyVia::Amqp };
        let (key, p) = outbound(&s).unwrap();
        assert_eq!((key.as_str(), p.correlation_id().as_ref().map(ShortString::as_str)), ("amq.gen-1", Some("c-9")));
    }

    #[test]
    fn tapped_to_inbound() {
        let mut h = FieldTable::default();
        h.insert("k".into(), AMQPValue::LongString("v".into()));
        h.insert("n".into(), AMQPValue::LongInt(3));
        let m = TappedMessage {
            routing_key: Arc::from("shapes.circle.RED%2E1"),
            properties: AMQPProperties::default().with_headers(h),
            body: Bytes::from_static(b"{}"),
        };
        let i = inbound(&m).unwrap();
        assert_eq!(i.name, "shapes/circle/RED.1");
        assert_eq!(i.properties, vec![("k".to_string(), "v".to_string())]);
        let bad = TappedMessage { routing_key: Arc::from("a.%zz"), ..m };
        assert!(inbound(&bad).is_err());
    }

    /// DDS samples reach queues bound to amq.topic and to amq.headers with an x-match on the
    /// metadata, and never the tap; client messages reach the tap once, however many
    /// filters match.
    #[test]
    fn headers_binding_and_loop_guard() {
        let broker = AmqpBroker::new(Broker::new(BrokerConfig::default()));
        let now = Instant::now();
        let mut tap = broker.tap_topic(&["shapes.#".to_string(), "shapes.square.*".to_string()], 16).unwrap();
        {
            let mut b = broker.lock();
            for q in ["t", "h", "h2"] {
                b.declare_queue(now, 1, q, &QueueOptions::default()).unwrap();
            }
            b.bind_queue(1, "t", "amq.topic", "shapes.square.#", &FieldTable::default()).unwrap();
            let mut args = FieldTable::default();
            args.insert("x-match".into(), AMQPValue::LongString("all".into()));
            args.insert("type-name".into(), AMQPValue::LongString("ShapeType".into()));
            b.bind_queue(1, "h", "amq.headers", "", &args).unwrap();
            let mut args = FieldTable::default();
            args.insert("type-name".into(), AMQPValue::LongString("Other".into()));
            b.bind_queue(1, "h2", "amq.match", "", &args).unwrap();
        }
        publish(&broker, &sample("shapes/square/RED", false));
        {
            let b = broker.lock();
            assert_eq!((b.queue_len("t"), b.queue_len("h"), b.queue_len("h2")), (Some(1), Some(1), Some(0)));
        }
        assert!(tap.try_recv().is_err(), "a DDS sample must not go back towards DDS");
        let msg = crate::bridge::amqp::broker::Message {
            exchange: Arc::from("amq.topic"),
            routing_key: Arc::from("shapes.square.BLUE"),
            properties: AMQPProperties::default(),
            body: Bytes::from_static(b"{}"),
        };
        broker.lock().publish(now, msg).unwrap();
        assert_eq!(&*tap.try_recv().unwrap().routing_key, "shapes.square.BLUE");
        assert!(tap.try_recv().is_err(), "one copy per message");
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use crate::bridge::listener::test_support::{connect, tls_and_plain, TlsFixture};
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// AMQP over TLS: the protocol header gets connection.start; a plaintext client on the TLS
    /// port is closed and the TLS client goes on.
    #[tokio::test]
    async fn amqps_and_plaintext_refused() {
        let TlsFixture { listeners: l, dir, cert, tls_port, plain_port } = tls_and_plain("amqp", "amqp-tls");
        let (hub, _inbound) = Hub::new(vec!["shapes/#".into()]);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let ctx = EndpointContext {
            hub,
            auth: Arc::new(crate::bridge::mqtt::auth::MemoryAuth::default()),
            shutdown: stop_rx,
        };
        let serve = tokio::spawn(AmqpEndpoint::default().bind(l, ctx).await.unwrap());
        // connection.start: a method frame (type 1) on channel 0, class 10 method 10.
        let start = [1u8, 0, 0];
        let tls_addr: SocketAddr = ([127, 0, 0, 1], tls_port).into();
        let mut c = connect(tls_addr, &cert).await.expect("TLS handshake");
        let mut p = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
        p.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), p.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the plaintext connection was not closed");
        assert!(!rest.starts_with(&start), "a plaintext client must not get connection.start");
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        c.flush().await.unwrap();
        let mut head = [0u8; 11];
        c.read_exact(&mut head).await.unwrap();
        assert_eq!(&head[..3], &start);
        assert_eq!(&head[7..11], &[0, 10, 0, 10]);
        // The plain listener serves as before.
        let mut q = tokio::net::TcpStream::connect(("127.0.0.1", plain_port)).await.unwrap();
        q.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        q.read_exact(&mut head).await.unwrap();
        assert_eq!(&head[7..11], &[0, 10, 0, 10]);
        let _ = stop_tx.send(true);
        serve.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
