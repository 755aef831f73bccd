//! The STOMP endpoint of the bridge: the STOMP server (TCP and WebSocket) plus a link between its
//! broker and the hub.
//!
//! # Mapping
//! A hub name (MQTT form, `shapes/square/RED`) is the STOMP destination `/topic/` followed by the
//! name in dotted form ([`to_dotted`]: `/topic/shapes.square.RED`); `/exchange/amq.topic/KEY` is
//! the same destination. Default-mapped topics appear as `/topic/dds.[partition.]Topic`.
//!
//! # DDS → STOMP
//! Each [`Outbound`] is published into the broker as if a client had sent it: a MESSAGE to every
//! subscription matching the destination (wildcards included), with
//! - `content-type` `application/json` (DDS-JSON) or `application/cdr` (encapsulated CDR), per route;
//! - the metadata headers of [`props`](super::props): `source-timestamp`, `writer-guid`,
//!   `sequence-number`, `type-name`, and `dds-instance-state:disposed` (empty body) for a
//!   disposed instance;
//! - `expires` (absolute, milliseconds since the Unix epoch, as ActiveMQ) when the writer has a
//!   LIFESPAN; the broker drops such a message if it is still queued when it expires.
//!
//! - `correlation-id`: the sample's identity (writer GUID and sequence number, 48 hex digits),
//!   which a STOMP responder echoes to answer the sample (below).
//!
//! # Request/reply
//! - STOMP requester, DDS replier: a SEND with a `reply-to` destination (`/queue/…`,
//!   `/topic/…`, `/reply-queue/…`) on a route towards DDS is written to DDS and remembered by its
//!   sample identity; a DDS sample on a from-DDS route whose related sample identity names it is
//!   sent once to the `reply-to` destination with the request's `correlation-id` (and the header
//!   `related-sample-identity`). Replies go to STOMP only.
//! - DDS requester, STOMP responder: a SEND with a `correlation-id` of 48 hex digits (as on every
//!   MESSAGE from DDS) and no `reply-to` is written as a DDS reply whose related sample identity is
//!   that identity.
//!
//! # STOMP → DDS
//! No message is lost between the client and DDS: the route hook hands the mapped SENDs of one
//! read of a client's socket to the DDS side's bounded queue ([`super::INBOUND_CAPACITY`]) in one
//! operation ([`Hub::to_dds_many`], which waits for room), and the sending connection awaits that
//! (outside the broker lock) before it writes the SENDs' RECEIPTs or reads further frames. A DDS side slower than the publishers therefore slows them down through TCP
//! instead of dropping. The queue is shared by every route towards DDS: a DDS write that is slow
//! for one route delays the others too.
//!
//! A SEND whose `expires` time has passed when the bridge is about to write it is dropped; the
//! written sample lives as long as the route writer's LIFESPAN QoS allows (DDS has no
//! per-sample lifespan, see [`super::Inbound::expired`]).
//!
//! A SEND to `/topic/KEY` whose hub name matches [`Hub::inbound_filters`] is handed to the DDS
//! side (of its headers only `dds-instance-state` travels, as a property): the body is a DDS-JSON sample (or CDR, per route); key
//! members absent from the body come from the destination's key levels; an empty body, or the
//! header `dds-instance-state:disposed`, disposes the instance. A SEND whose key has a `*` or
//! `#` word (a wildcard) is not forwarded.
//!
//! # Loop guard
//! Samples the bridge itself wrote are never forwarded to clients (see the core's docs), and
//! what this endpoint publishes into the broker does not reach the route hook, so nothing
//! travels in a circle.

use super::mapping::{from_dotted, to_dotted};
use super::{
    hex, identity_from_hex, props, BoxFuture, BridgeError, Endpoint, EndpointContext, Hub, Inbound, ListenerConfig,
    Outbound, Protocol, ReplyVia, RequestReply,
};
use crate::bridge::listener::ListenerSpec;
use crate::bridge::mqtt::codec::topic::matches;
use crate::bridge::stomp::broker::Message;
use crate::bridge::stomp::codec::Header;
use crate::bridge::stomp::{Admission, RouteHook, ServerConfig, StompHandle, StompServer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;

/// The STOMP (TCP and WebSocket) endpoint.
#[derive(Debug, Clone, Default)]
pub struct StompEndpoint {
    /// Server limits (the listener addresses are taken from the configuration).
    pub server: ServerConfig,
}

impl Endpoint for StompEndpoint {
    fn protocols(&self) -> &'static [Protocol] {
        &[Protocol::Stomp, Protocol::StompWs]
    }

    fn bind(
        &self,
        listeners: Vec<ListenerConfig>,
        ctx: EndpointContext,
    ) -> BoxFuture<Result<BoxFuture<()>, BridgeError>> {
        let mut cfg = self.server.clone();
        Box::pin(async move {
            cfg.tcp = None;
            cfg.ws = None;
            cfg.listeners.clear();
            for l in &listeners {
                let tls = l.tls.as_ref().map(super::tls::server_config).transpose()?;
                cfg.listeners.push(ListenerSpec { addr: l.address, websocket: l.protocol == Protocol::StompWs, tls });
            }
            let specs = cfg.listeners.clone();
            let first: SocketAddr = listeners.first().map_or_else(|| ([0, 0, 0, 0], 0).into(), |l| l.address);
            let server = StompServer::bind(cfg, ctx.auth.clone())
                .await
                .map_err(|e| BridgeError::Bind { addr: first, message: e.to_string() })?;
            for (spec, a) in specs.iter().zip(server.listener_addrs()) {
                eprintln!("starling bridge: STOMP listening on {}://{a}", spec.scheme("stomp", "stomp+ssl"));
            }
            let handle = server.handle();
            handle.set_route_hook(Arc::new(ToDds { hub: ctx.hub.clone() }));
            let mut stop = ctx.shutdown.clone();
            let hub = ctx.hub.clone();
            let fut: BoxFuture<()> = Box::pin(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                tokio::join!(server.run(shutdown), from_dds(handle, hub, ctx.shutdown.clone()));
            });
            Ok(fut)
        })
    }
}

/// The STOMP destination of a hub name, if it has a dotted form.
#[must_use]
pub fn destination_of(name: &str) -> Option<String> {
    to_dotted(name).ok().map(|k| format!("/topic/{k}"))
}

/// The hub name a STOMP destination (canonical form) stands for, if it is a `/topic/` without
/// wildcard words.
#[must_use]
pub fn name_of(destination: &str) -> Option<String> {
    let key = destination.strip_prefix("/topic/")?;
    if key.split('.').any(|w| w == "*" || w == "#") {
        return None;
    }
    from_dotted(key).ok()
}

/// Milliseconds since the Unix epoch.
fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The MESSAGE headers of a DDS sample (see the module docs).
#[must_use]
pub fn headers_of(m: &Outbound, now_ms: u64) -> Vec<Header> {
    let mut h: Vec<Header> = Vec::with_capacity(m.properties.len() + 2);
    if !m.disposed {
        h.push(("content-type".into(), m.content_type.into()));
    }
    if let Some(d) = m.expiry {
        let at = now_ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).max(1);
        h.push(("expires".into(), at.to_string().into()));
    }
    for (k, v) in &m.properties {
        h.push((k.as_str().into(), v.as_str().into()));
    }
    if let Some(c) = &m.rpc.correlation_data {
        // A reply carries the requester's own correlation-id; other samples their identity.
        let id = if m.reply { String::from_utf8_lossy(c).into_owned() } else { hex(c) };
        h.push(("correlation-id".into(), id.into()));
    }
    h
}

/// Where a DDS sample goes: its `/topic/` destination, or for a reply to a STOMP request the
/// request's `reply-to` (None: not for STOMP).
fn target_of(m: &Outbound) -> Option<String> {
    if m.reply {
        return (m.rpc.via == ReplyVia::Stomp).then(|| m.name.clone());
    }
    destination_of(&m.name)
}

/// Request/reply data of a client message: `reply-to` with `correlation-id` (a request), or a
/// `correlation-id` that names a DDS sample (a reply to it).
fn rpc_of(headers: &[Header]) -> RequestReply {
    let get = |name: &str| headers.iter().find(|(k, _)| &**k == name).map(|(_, v)| v.to_string());
    let correlation = get("correlation-id");
    match get("reply-to") {
        Some(to) => RequestReply {
            response_topic: Some(to),
            correlation_data: correlation.map(bytes::Bytes::from),
            via: ReplyVia::Stomp,
        },
        None => RequestReply {
            response_topic: None,
            correlation_data: correlation.as_deref().and_then(identity_from_hex),
            via: ReplyVia::Stomp,
        },
    }
}

/// Publishes DDS samples from the hub into the STOMP broker until shutdown.
async fn from_dds(handle: StompHandle, hub: Hub, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut rx = hub.subscribe();
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(m) => {
                    let Some(dest) = target_of(&m) else {
                        tracing::debug!("bridge: {} has no STOMP destination", m.name);
                        continue;
                    };
                    if let Err(e) = handle.publish_external(&dest, headers_of(&m, epoch_ms()), m.payload.clone()) {
                        tracing::debug!("bridge: {dest}: {e}");
                    }
                }
                Err(RecvError::Lagged(n)) => tracing::warn!("bridge: STOMP side lagged, {n} DDS samples skipped"),
                Err(RecvError::Closed) => return,
            },
            _ = stop.changed() => return,
        }
    }
}

/// The broker's route hook: client messages on mapped destinations go to DDS.
struct ToDds {
    hub: Hub,
}

impl ToDds {
    fn inbound(&self, msg: &Message) -> Option<Inbound> {
        let name = name_of(&msg.destination)?;
        if !self.hub.inbound_filters().iter().any(|f| matches(f, &name)) {
            return None;
        }
        // Only the headers the DDS side reads travel with the message (a DDS sample has no place
        // for the others): `dds-instance-state`.
        let properties = msg
            .headers
            .iter()
            .filter(|(k, _)| &**k == props::INSTANCE_STATE)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // `expires` is absolute (ms since the epoch): turned into the local monotonic clock.
        let expires_at = msg.expires.map(|at| {
            let now = std::time::Instant::now();
            now + std::time::Duration::from_millis(at.saturating_sub(epoch_ms()))
        });
        Some(Inbound { name, payload: msg.body.clone(), properties, rpc: rpc_of(&msg.headers), expires_at })
    }
}

impl RouteHook for ToDds {
    fn on_send(&self, msgs: &[Arc<Message>]) -> Option<Admission> {
        let batch: Vec<Inbound> = msgs.iter().filter_map(|m| self.inbound(m)).collect();
        if batch.is_empty() {
            return None;
        }
        let hub = self.hub.clone();
        // Awaited by the sending connection before the RECEIPTs: one queue operation for all the
        // messages of one read.
        Some(Box::pin(async move {
            let n = batch.len();
            if !hub.to_dds_many(batch).await {
                tracing::warn!("bridge: DDS side stopped, {n} STOMP messages not written");
            }
        }))
    }
    fn on_subscribe(&self, _destination: &str) {}
    fn on_unsubscribe(&self, _destination: &str) {}
}

#[cfg(test)]
mod tests {
    use super::super::props;
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    #[test]
    fn names_and_destinations() {
        assert_eq!(destination_of("shapes/square/RED").as_deref(), Some("/topic/shapes.square.RED"));
        assert_eq!(destination_of("dds/p.1/Sq").as_deref(), Some("/topic/dds.p%2E1.Sq"));
        assert_eq!(name_of("/topic/shapes.square.RED").as_deref(), Some("shapes/square/RED"));
        assert_eq!(name_of("/topic/dds.p%2E1.Sq").as_deref(), Some("dds/p.1/Sq"));
        assert_eq!(name_of("/topic/shapes.*.RED"), None);
        assert_eq!(name_of("/topic/shapes.#"), None);
        assert_eq!(name_of("/queue/shapes"), None);
        assert_eq!(name_of("/exchange/logs/a.b"), None);
        assert_eq!(name_of("/topic/bad%zz"), None);
    }

    fn outbound(disposed: bool, expiry: Option<Duration>) -> Outbound {
        Outbound {
            name: "shapes/square/RED".into(),
            payload: if disposed { Bytes::new() } else { Bytes::from_static(b"{}") },
            disposed,
            properties: vec![
                (props::TYPE_NAME.into(), "ShapeType".into()),
                (props::WRITER_GUID.into(), "1.2.3".into()),
            ],
            expiry,
            content_type: "application/json",
            rpc: RequestReply::default(),
            reply: false,
        }
    }

    #[test]
    fn headers_carry_metadata_and_lifespan() {
        let h = headers_of(&outbound(false, Some(Duration::from_millis(1500))), 10_000);
        let get = |h: &[Header], k: &str| h.iter().find(|(n, _)| &**n == k).map(|(_, v)| v.to_string());
        assert_eq!(get(&h, "content-type").as_deref(), Some("application/json"));
        assert_eq!(get(&h, "expires").as_deref(), Some("11500"));
        assert_eq!(get(&h, "type-name").as_deref(), Some("ShapeType"));
        let h = headers_of(&outbound(true, None), 10_000);
        assert_eq!(get(&h, "content-type"), None);
        assert_eq!(get(&h, "expires"), None);
        assert_eq!(get(&h, "writer-guid").as_deref(), Some("1.2.3"));
    }

    #[test]
    fn request_reply_headers() {
        let ident = "0102030405060708090a0b0c000001c2000000000000002a";
        let h =
            |pairs: &[(&str, &str)]| -> Vec<Header> { pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect() };
        let r = rpc_of(&h(&[("reply-to", "/queue/r"), ("correlation-id", "c-1")]));
        assert_eq!(r.response_topic.as_deref(), Some("/queue/r"));
        assert_eq!(r.correlation_data.as_deref(), Some(&b"c-1"[..]));
        assert_eq!(r.via, ReplyVia::Stomp);
        let r = rpc_of(&h(&[("correlation-id", ident)]));
        assert_eq!((r.response_topic, r.correlation_data.map(|c| hex(&c))), (None, Some(ident.to_string())));
        let r = rpc_of(&h(&[("correlation-id", "not-an-identity")]));
        assert_eq!((r.response_topic, r.correlation_data), (None, None));
        // DDS -> STOMP: the identity as correlation-id; a reply only to a STOMP requester's reply-to.
        let mut m = outbound(false, None);
        m.rpc.correlation_data = identity_from_hex(ident);
        let get = |h: &[Header], k: &str| h.iter().find(|(n, _)| &**n == k).map(|(_, v)| v.to_string());
        assert_eq!(get(&headers_of(&m, 0), "correlation-id").as_deref(), Some(ident));
        assert_eq!(target_of(&m).as_deref(), Some("/topic/shapes.square.RED"));
        m.reply = true;
        m.name = "/queue/r".into();
        m.rpc = RequestReply { response_topic: None, correlation_data: Some("c-1".into()), via: ReplyVia::Stomp };
        assert_eq!(get(&headers_of(&m, 0), "correlation-id").as_deref(), Some("c-1"));
        assert_eq!(target_of(&m).as_deref(), Some("/queue/r"));
        m.rpc.via = ReplyVia::Mqtt;
        assert_eq!(target_of(&m), None);
    }

    #[tokio::test]
    async fn only_mapped_sends_go_to_dds() {
        let (hub, mut rx) = Hub::new(vec!["shapes/square".into(), "shapes/square/#".into()]);
        let hook = ToDds { hub };
        let msg = |d: &str| {
            Arc::new(Message {
                destination: d.into(),
                headers: vec![("x-a".into(), "1".into())],
                body: Bytes::from_static(b"{\"x\":1}"),
                expires: None,
            })
        };
        hook.on_send(&[msg("/topic/shapes.square.RED")]).expect("taken").await;
        assert!(hook.on_send(&[msg("/topic/shapes.circle.RED")]).is_none());
        assert!(hook.on_send(&[msg("/topic/shapes.square.*")]).is_none());
        assert!(hook.on_send(&[msg("/queue/shapes.square")]).is_none());
        // A batch: the mapped messages in order, the others left out.
        let mut disposed = (*msg("/topic/shapes.square.BLUE")).clone();
        disposed.headers.push((props::INSTANCE_STATE.into(), "disposed".into()));
        hook.on_send(&[msg("/queue/shapes.square"), msg("/topic/shapes.square.GREEN"), Arc::new(disposed)])
            .expect("taken")
            .await;
        let mut got = Vec::new();
        assert_eq!(rx.try_recv_many(&mut got, 100), 3);
        let names: Vec<&str> = got.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["shapes/square/RED", "shapes/square/GREEN", "shapes/square/BLUE"]);
        // Only the header the DDS side reads travels.
        assert!(got[0].properties.is_empty());
        assert_eq!(got[2].properties, vec![(props::INSTANCE_STATE.to_string(), "disposed".to_string())]);
        assert_eq!(&got[0].payload[..], b"{\"x\":1}");
        assert_eq!(rx.try_recv_many(&mut got, 100), 0);
    }

    #[tokio::test]
    async fn full_dds_queue_waits_instead_of_dropping() {
        let (hub, mut rx) = Hub::new(vec!["shapes/#".into()]);
        let hook = ToDds { hub };
        let msg = |i: usize| {
            Arc::new(Message {
                destination: "/topic/shapes.square".into(),
                headers: Vec::new(),
                body: Bytes::from(format!("{{\"x\":{i}}}")),
                expires: None,
            })
        };
        for i in 0..super::super::INBOUND_CAPACITY {
            hook.on_send(&[msg(i)]).expect("taken").await;
        }
        // The queue is full: the next admission waits (the old code dropped the message here).
        let mut last = tokio::spawn(hook.on_send(&[msg(super::super::INBOUND_CAPACITY)]).expect("taken"));
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut last).await.is_err());
        for i in 0..=super::super::INBOUND_CAPACITY {
            let m = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            assert_eq!(m.payload, Bytes::from(format!("{{\"x\":{i}}}")));
            if i == 0 {
                tokio::time::timeout(Duration::from_secs(10), &mut last).await.unwrap().unwrap();
            }
        }
    }

    async fn frame(s: &mut tokio::net::TcpStream) -> String {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).await.unwrap_or(0) == 1 && b[0] != 0 {
            buf.push(b[0]);
        }
        String::from_utf8_lossy(&buf).trim_start_matches('\n').to_owned()
    }

    fn listeners(text: &str) -> Vec<ListenerConfig> {
        let xml = format!("<starling_bridge>{text}</starling_bridge>");
        super::super::BridgeConfig::parse(std::path::Path::new("b.xml"), &xml).unwrap().listeners
    }

    #[tokio::test]
    async fn bind_serve_and_bridge_both_ways() {
        use tokio::io::AsyncWriteExt;
        let ep = StompEndpoint::default();
        let (hub, mut inbound) = Hub::new(vec!["shapes/#".into()]);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let ctx = EndpointContext {
            hub: hub.clone(),
            auth: Arc::new(crate::bridge::mqtt::auth::MemoryAuth::default()),
            shutdown: stop_rx,
        };
        // A listener that cannot be bound fails the whole endpoint.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let two = listeners(&format!(
            r#"<listener protocol="stomp" address="127.0.0.1:0"/><listener protocol="stomp" address="127.0.0.1:{port}"/>"#
        ));
        assert!(ep.bind(two, ctx.clone()).await.is_err());
        drop(taken);
        let l = listeners(r#"<listener protocol="stomp-ws" address="127.0.0.1:0"/>"#);
        assert_eq!(l[0].protocol, Protocol::StompWs);
        // Find a free port for the TCP listener.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let l = listeners(&format!(r#"<listener protocol="stomp" address="127.0.0.1:{port}"/>"#));
        let serve = tokio::spawn(ep.bind(l, ctx).await.unwrap());
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(b"CONNECT\naccept-version:1.2\n\n\0").await.unwrap();
        assert!(frame(&mut c).await.starts_with("CONNECTED"));
        c.write_all(b"SUBSCRIBE\nid:1\ndestination:/topic/shapes.square.*\nreceipt:r\n\n\0").await.unwrap();
        assert!(frame(&mut c).await.contains("receipt-id:r"));
        // DDS -> STOMP, through the hub.
        hub.publish(outbound(false, Some(Duration::from_secs(60))));
        let m = frame(&mut c).await;
        assert!(m.starts_with("MESSAGE\n") && m.contains("destination:/topic/shapes.square.RED\n"), "{m}");
        assert!(m.contains("type-name:ShapeType\n") && m.contains("expires:") && m.ends_with("\n\n{}"), "{m}");
        hub.publish(outbound(true, None));
        let m = frame(&mut c).await;
        assert!(m.contains("writer-guid:1.2.3\n") && m.contains("content-length:0\n"), "{m}");
        // STOMP -> DDS, through the hub; not echoed by the hub to STOMP.
        c.write_all(b"SEND\ndestination:/topic/shapes.circle.RED\nreceipt:s\n\n{\"x\":2}\0").await.unwrap();
        assert!(frame(&mut c).await.contains("receipt-id:s"));
        let i = inbound.recv().await.unwrap();
        assert_eq!((i.name.as_str(), &i.payload[..]), ("shapes/circle/RED", &b"{\"x\":2}"[..]));
        let _ = stop_tx.send(true);
        serve.await.unwrap();
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use crate::bridge::listener::test_support::{connect, tls_and_plain, TlsFixture};
    use std::time::Duration;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

    async fn frame<S: AsyncRead + Unpin>(s: &mut S) -> String {
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).await.unwrap_or(0) == 1 && b[0] != 0 {
            buf.push(b[0]);
        }
        String::from_utf8_lossy(&buf).trim_start_matches('\n').to_owned()
    }

    /// STOMP over TLS and over secure WebSocket next to plain STOMP; a plaintext client on the
    /// TLS port is closed without affecting the TLS clients.
    #[tokio::test]
    async fn stomp_over_tls_and_plaintext_refused() {
        let TlsFixture { listeners: l, dir, cert, tls_port, plain_port } = tls_and_plain("stomp", "stomp-tls");
        let (hub, _inbound) = Hub::new(vec!["shapes/#".into()]);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let ctx = EndpointContext {
            hub: hub.clone(),
            auth: Arc::new(crate::bridge::mqtt::auth::MemoryAuth::default()),
            shutdown: stop_rx,
        };
        let serve = tokio::spawn(StompEndpoint::default().bind(l, ctx).await.unwrap());
        let tls_addr: SocketAddr = ([127, 0, 0, 1], tls_port).into();
        let mut c = connect(tls_addr, &cert).await.expect("TLS handshake");
        c.write_all(b"CONNECT\naccept-version:1.2\n\n\0").await.unwrap();
        c.flush().await.unwrap();
        assert!(frame(&mut c).await.starts_with("CONNECTED"));
        c.write_all(b"SUBSCRIBE\nid:1\ndestination:/topic/t\nreceipt:r\n\n\0").await.unwrap();
        c.flush().await.unwrap();
        assert!(frame(&mut c).await.contains("receipt-id:r"));
        // A plaintext STOMP client on the TLS port: the handshake fails and only it is closed.
        let mut p = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
        p.write_all(b"CONNECT\naccept-version:1.2\n\n\0").await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), p.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the plaintext connection was not closed");
        assert!(!String::from_utf8_lossy(&rest).contains("CONNECTED"));
        // The TLS client still works, and messages cross between TLS and plain clients.
        let mut q = tokio::net::TcpStream::connect(("127.0.0.1", plain_port)).await.unwrap();
        q.write_all(b"CONNECT\naccept-version:1.2\n\n\0").await.unwrap();
        assert!(frame(&mut q).await.starts_with("CONNECTED"));
        q.write_all(b"SEND\ndestination:/topic/t\n\nhello\0").await.unwrap();
        let m = frame(&mut c).await;
        assert!(m.starts_with("MESSAGE\n") && m.ends_with("\n\nhello"), "{m}");
        let _ = stop_tx.send(true);
        serve.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
