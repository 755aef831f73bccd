//! Tokio listeners and connection tasks: the only part of the MQTT endpoint with sockets.
//!
//! Each connection is one task that owns its socket (TCP with `TCP_NODELAY`, or a WebSocket
//! carrying binary frames with subprotocol `mqtt`), feeds bytes to its [`Session`], applies the
//! session's actions to the shared [`Broker`] (a `std::sync::Mutex`, locked only between
//! awaits), drains its own [`Outbox`](super::broker::Outbox) within the client's in-flight
//! window, and writes the session's output. A client that reads slowly only blocks its own
//! task.
//!
//! Default addresses: MQTT over TCP on 127.0.0.1:1883 (the IANA port); MQTT over WebSocket is
//! off unless asked for, conventionally on 127.0.0.1:8083 (port 8083 for `ws://`, as several
//! brokers use; 8080 is too often taken by web servers).

use super::auth::{default_loopback_users, loopback_refused, Authenticator, Principal};
use super::broker::{Admission, Broker, BrokerConfig, ConnectOutcome, Delivery, Message, Metrics};
use super::codec::topic::split_shared;
use super::codec::{QoS, ReasonCode, Version};
use super::session::{Action, Session, SessionConfig};
use crate::bridge::listener::tls_handshake;
pub use crate::bridge::listener::ListenerSpec;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// Listener addresses and limits.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// MQTT over TCP (default 127.0.0.1:1883).
    pub tcp: Option<SocketAddr>,
    /// MQTT over WebSocket (off by default; conventionally 127.0.0.1:8083).
    pub ws: Option<SocketAddr>,
    /// More listeners (several addresses, TLS), besides `tcp` and `ws`.
    pub listeners: Vec<ListenerSpec>,
    /// Per-connection limits.
    pub session: SessionConfig,
    /// Broker limits.
    pub broker: BrokerConfig,
    /// Users accepted only from loopback addresses (default `guest`, as RabbitMQ's
    /// `loopback_users`); from any other address their CONNECT is refused with 0x87 (3.1.1: 5).
    pub loopback_users: Vec<String>,
    /// How often the counters are published as retained `$SYS/starling/mqtt/NAME` messages
    /// (see [`publish_sys`]); `None`: never. Default 10 s, like mosquitto's `sys_interval`.
    pub sys_interval: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tcp: Some(SocketAddr::from(([127, 0, 0, 1], 1883))),
            ws: None,
            listeners: Vec::new(),
            session: SessionConfig::default(),
            broker: BrokerConfig::default(),
            loopback_users: default_loopback_users(),
            sys_interval: Some(Duration::from_secs(10)),
        }
    }
}

/// Topic prefix of the counters [`publish_sys`] publishes.
pub const SYS_PREFIX: &str = "$SYS/starling/mqtt";

/// Publishes the broker's counters ([`Metrics`]) and sizes as retained messages
/// `$SYS/starling/mqtt/NAME` (decimal text): `messages_in`, `deliveries`, `dropped_qos0`,
/// `dropped_offline`, `dropped_oversize`, `dropped_expired`, `quota_disconnects`, `connections`,
/// `protocol_errors`, `sessions`, `retained`. Root wildcards (`#`, `+/…`) do not match `$` topics,
/// so only clients that subscribe to `$SYS/…` (and may, per their permissions) see them.
pub fn publish_sys(broker: &mut Broker, now: Instant) {
    let m = broker.metrics().clone();
    let mut values: Vec<(&str, u64)> = vec![
        ("messages_in", Metrics::get(&m.messages_in)),
        ("deliveries", Metrics::get(&m.deliveries)),
        ("dropped_qos0", Metrics::get(&m.dropped_qos0)),
        ("dropped_offline", Metrics::get(&m.dropped_offline)),
        ("dropped_oversize", Metrics::get(&m.dropped_oversize)),
        ("dropped_expired", Metrics::get(&m.dropped_expired)),
        ("quota_disconnects", Metrics::get(&m.quota_disconnects)),
        ("connections", Metrics::get(&m.connections)),
        ("protocol_errors", Metrics::get(&m.protocol_errors)),
    ];
    values.push(("sessions", broker.session_count() as u64));
    values.push(("retained", broker.retained_count() as u64));
    for (name, v) in values {
        let msg = super::broker::Message {
            topic: Arc::from(format!("{SYS_PREFIX}/{name}")),
            payload: bytes::Bytes::from(v.to_string()),
            qos: super::codec::QoS::AtMostOnce,
            retain: true,
            properties: super::codec::Properties::default(),
            expires_at: None,
            origin: None,
        };
        broker.publish_sys(now, msg);
    }
}

/// Client ids starting with this are reserved for the bridge's own sessions.
pub const RESERVED_CLIENT_PREFIX: &str = "$starling";

struct Shared {
    broker: Arc<Mutex<Broker>>,
    metrics: Arc<Metrics>,
    auth: Arc<dyn Authenticator>,
    session: Arc<SessionConfig>,
    loopback_users: Vec<String>,
    /// Set once the server shuts down.
    stopping: AtomicBool,
    /// Wakes connections that have no outbox yet (before CONNECT) when the server shuts down;
    /// attached connections are woken through their outbox instead, so that each connection
    /// waits on one notification only.
    stop: Notify,
}

impl Shared {
    fn broker(&self) -> MutexGuard<'_, Broker> {
        self.broker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Asks every connection to close: the flag first (seen by connections that attach later),
    /// then the connections waiting before CONNECT, then every attached connection's outbox.
    fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
        self.broker().kick_all(ReasonCode::SERVER_SHUTTING_DOWN);
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running MQTT endpoint.
pub struct MqttServer {
    shared: Arc<Shared>,
    tcp: Option<TcpListener>,
    ws: Option<TcpListener>,
    extra: Vec<(TcpListener, ListenerSpec)>,
    sys_interval: Option<Duration>,
}

impl std::fmt::Debug for MqttServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttServer").finish_non_exhaustive()
    }
}

impl MqttServer {
    /// Binds the configured listeners.
    pub async fn bind(cfg: ServerConfig, auth: Arc<dyn Authenticator>) -> Result<Self, ServerError> {
        async fn listen(addr: Option<SocketAddr>) -> Result<Option<TcpListener>, ServerError> {
            match addr {
                None => Ok(None),
                Some(addr) => {
                    TcpListener::bind(addr).await.map(Some).map_err(|source| ServerError::Bind { addr, source })
                }
            }
        }
        let broker = Broker::new(cfg.broker.clone());
        let metrics = broker.metrics().clone();
        let shared = Arc::new(Shared {
            broker: Arc::new(Mutex::new(broker)),
            metrics,
            auth,
            session: Arc::new(cfg.session.clone()),
            loopback_users: cfg.loopback_users.clone(),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
        });
        let mut extra = Vec::new();
        for spec in cfg.listeners {
            if let Some(l) = listen(Some(spec.addr)).await? {
                extra.push((l, spec));
            }
        }
        Ok(Self {
            shared,
            tcp: listen(cfg.tcp).await?,
            ws: listen(cfg.ws).await?,
            extra,
            sys_interval: cfg.sys_interval,
        })
    }

    /// The broker core, for in-process publishers and subscribers (the DDS side of the bridge).
    /// Lock it only briefly and never across an `.await`.
    #[must_use]
    pub fn broker(&self) -> Arc<Mutex<Broker>> {
        self.shared.broker.clone()
    }

    /// Bound addresses of the extra listeners, in configuration order.
    #[must_use]
    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.extra.iter().filter_map(|(l, _)| l.local_addr().ok()).collect()
    }

    /// Bound TCP address.
    #[must_use]
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Bound WebSocket address.
    #[must_use]
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The broker's counters.
    #[must_use]
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Serves until `shutdown` completes; then every connection is closed (5.0 clients get
    /// DISCONNECT 0x8B) and this returns after at most about a second.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(l) = self.tcp {
            tasks.spawn(accept_loop(l, false, None, self.shared.clone(), stop_rx.clone()));
        }
        if let Some(l) = self.ws {
            tasks.spawn(accept_loop(l, true, None, self.shared.clone(), stop_rx.clone()));
        }
        for (l, spec) in self.extra {
            let tls = spec.tls.map(tokio_rustls::TlsAcceptor::from);
            tasks.spawn(accept_loop(l, spec.websocket, tls, self.shared.clone(), stop_rx.clone()));
        }
        tasks.spawn(ticker(self.shared.clone(), self.sys_interval, stop_rx.clone()));
        shutdown.await;
        self.shared.begin_shutdown();
        let _ = stop_tx.send(true);
        let _ =
            tokio::time::timeout(Duration::from_secs(1), async { while tasks.join_next().await.is_some() {} }).await;
    }
}

async fn ticker(shared: Arc<Shared>, sys_interval: Option<Duration>, mut stop: watch::Receiver<bool>) {
    let mut iv = tokio::time::interval(Duration::from_millis(250));
    let mut next_sys = sys_interval.map(|_| Instant::now());
    loop {
        tokio::select! {
            _ = iv.tick() => {
                let now = Instant::now();
                let mut b = shared.broker();
                b.tick(now);
                if let (Some(at), Some(every)) = (next_sys, sys_interval) {
                    if now >= at {
                        publish_sys(&mut b, now);
                        next_sys = Some(now + every);
                    }
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn accept_loop(
    l: TcpListener,
    ws: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    // Plain TCP connections are counted rather than kept in the JoinSet (one entry less each).
    let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        tokio::select! {
            r = l.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    if tls.is_none() && !ws {
                        // Its own (small) task type: the TLS and WebSocket futures are much larger
                        // and would size every task.
                        let guard = LiveGuard::new(&live);
                        tokio::spawn(async move {
                            connection(shared, PlainTcp(stream), peer).await;
                            drop(guard);
                        });
                        continue;
                    }
                    let tls = tls.clone();
                    conns.spawn(async move {
                        match tls {
                            Some(acceptor) => {
                                if let Some(stream) = tls_handshake(&acceptor, stream, peer, "MQTT").await {
                                    serve(shared, stream, ws, peer).await;
                                }
                            }
                            None => serve(shared, stream, ws, peer).await,
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(900), async {
        while conns.join_next().await.is_some() {}
        while live.load(std::sync::atomic::Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Counts a live connection task until dropped.
struct LiveGuard(Arc<std::sync::atomic::AtomicUsize>);

impl LiveGuard {
    fn new(n: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        n.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Self(n.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

async fn serve<S>(shared: Arc<Shared>, stream: S, ws: bool, peer: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    if ws {
        if let Some(t) = WsTransport::accept(stream).await {
            connection(shared, t, peer).await;
        }
    } else {
        connection(shared, TcpTransport(stream), peer).await;
    }
}

/// A byte transport for one connection.
trait Transport: Send {
    /// Appends received bytes; `Ok(false)` at end of stream.
    fn read(&mut self, buf: &mut BytesMut) -> impl std::future::Future<Output = std::io::Result<bool>> + Send;
    /// Writes all of `data`.
    fn write(&mut self, data: &[u8]) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

struct TcpTransport<S>(S);

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Transport for TcpTransport<S> {
    async fn read(&mut self, buf: &mut BytesMut) -> std::io::Result<bool> {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        Ok(self.0.read_buf(buf).await? > 0)
    }
    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        // Flushed: a TLS stream may keep written bytes in its buffer until then.
        self.0.write_all(data).await?;
        self.0.flush().await
    }
}

/// Plain TCP: waits for readability before taking a read buffer, so an idle connection holds
/// no receive buffer at all.
struct PlainTcp(tokio::net::TcpStream);

impl Transport for PlainTcp {
    async fn read(&mut self, buf: &mut BytesMut) -> std::io::Result<bool> {
        loop {
            // The socket's own reader slot, rather than `readable()` and its waiter: less state
            // in every waiting connection's future.
            std::future::poll_fn(|cx| self.0.poll_read_ready(cx)).await?;
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(16 * 1024);
            }
            match self.0.try_read_buf(buf) {
                Ok(n) => return Ok(n > 0),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Readiness was stale: give the buffer back before waiting.
                    if buf.is_empty() {
                        *buf = BytesMut::new();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.0.write_all(data).await
    }
}

struct WsTransport<S>(tokio_tungstenite::WebSocketStream<S>);

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> WsTransport<S> {
    // The handshake callback's error type is tungstenite's HTTP response.
    #[allow(clippy::result_large_err)]
    async fn accept(stream: S) -> Option<Self> {
        use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
        use tokio_tungstenite::tungstenite::http::HeaderValue;
        let cb = |req: &Request, mut resp: Response| {
            let wants_mqtt = req
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| p.trim().eq_ignore_ascii_case("mqtt"));
            if wants_mqtt {
                resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
            }
            Ok(resp)
        };
        let ws = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::accept_hdr_async(stream, cb)).await;
        match ws {
            Ok(Ok(ws)) => Some(Self(ws)),
            _ => None,
        }
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Transport for WsTransport<S> {
    async fn read(&mut self, buf: &mut BytesMut) -> std::io::Result<bool> {
        use tokio_tungstenite::tungstenite::Message as M;
        loop {
            match self.0.next().await {
                None | Some(Ok(M::Close(_))) => return Ok(false),
                Some(Ok(M::Binary(b))) => {
                    buf.extend_from_slice(&b);
                    return Ok(true);
                }
                Some(Ok(M::Ping(_) | M::Pong(_) | M::Frame(_))) => {}
                // MQTT over WebSocket uses binary frames only.
                Some(Ok(M::Text(_))) => return Ok(false),
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
    }
    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        use tokio_tungstenite::tungstenite::Message as M;
        self.0.send(M::Binary(data.to_vec())).await.map_err(std::io::Error::other)
    }
}

struct Conn {
    /// Non-zero (the broker numbers connections from 1): `None` takes no extra word.
    conn: Option<std::num::NonZeroU64>,
    outbox: Option<Arc<super::broker::Outbox>>,
    principal: Principal,
    peer: SocketAddr,
}

// Not an `async fn`, and its state is made before the `async` block: an `async fn`'s
// arguments, and any value moved into a new binding inside the block, would be kept twice in
// the future (as captured value and as local); the block below uses the captured values in place.
fn connection<T: Transport>(
    shared: Arc<Shared>,
    mut t: T,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> + Send {
    let mut s = Session::with_config(shared.session.clone(), Instant::now());
    // Buffers are taken when there is something to read or write and given back when empty, so
    // idle connections cost little memory.
    let mut rbuf = BytesMut::new();
    let mut c = Conn { conn: None, outbox: None, principal: Principal::Anonymous, peer };
    let mut sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    async move {
        loop {
            // No `Instant` is kept in a local across an `.await`: each would be stored in the future.
            while s.handle_read(Instant::now(), &mut rbuf) {
                actions(&shared, &mut s, &mut c).await;
            }
            actions(&shared, &mut s, &mut c).await;
            if !s.is_closed() && shared.stopping() {
                s.close(ReasonCode::SERVER_SHUTTING_DOWN, "server shutting down", false);
            }
            if let (false, Some(ob)) = (s.is_closed(), &c.outbox) {
                if let Some(reason) = ob.kicked() {
                    let (why, will) = match reason {
                        ReasonCode::QUOTA_EXCEEDED => ("outbound queue full", true),
                        ReasonCode::SERVER_SHUTTING_DOWN => ("server shutting down", false),
                        _ => ("session taken over", reason != ReasonCode::SESSION_TAKEN_OVER),
                    };
                    s.close(reason, why, will);
                } else {
                    let now = Instant::now();
                    let mut batch: Vec<Delivery> = Vec::new();
                    ob.drain(now, s.send_quota(), &mut batch, &shared.metrics);
                    for d in batch {
                        if !s.deliver(now, d) {
                            shared.metrics.dropped_oversize.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            }
            if !s.output().is_empty() {
                let data = std::mem::take(s.output());
                if t.write(&data).await.is_err() {
                    s.connection_lost();
                }
            }
            if s.is_closed() {
                break;
            }
            if rbuf.is_empty() && rbuf.capacity() > 0 {
                rbuf = BytesMut::new();
            }
            s.release_idle_buffers();
            // The timer is boxed and only made when there is a deadline: an idle connection without
            // keep-alive then carries no timer state.
            match (&mut sleep, s.poll_timeout().map(tokio::time::Instant::from_std)) {
                (Some(t), Some(d)) if t.deadline() != d => t.as_mut().reset(d),
                (None, Some(d)) => sleep = Some(Box::pin(tokio::time::sleep_until(d))),
                (_, None) => sleep = None,
                _ => {}
            }
            let outbox = &c.outbox;
            tokio::select! {
                r = t.read(&mut rbuf) => match r {
                    Ok(true) => {}
                    Ok(false) | Err(_) => s.connection_lost(),
                },
                // One wake-up source: the outbox once attached (deliveries, take-over, shutdown), the
                // server's shutdown notification before that.
                _ = async {
                    match outbox {
                        Some(o) => o.notified().await,
                        // Boxed: only connections that have not sent CONNECT yet wait here.
                        None => {
                            let n = Box::pin(shared.stop.notified());
                            if !shared.stopping() {
                                n.await;
                            }
                        }
                    }
                } => {}
                _ = async { match &mut sleep { Some(t) => t.as_mut().await, None => std::future::pending().await } } => {
                    s.handle_timeout(Instant::now());
                }
            }
            if s.is_closed() {
                if !s.output().is_empty() {
                    let data = s.output().split();
                    let _ = t.write(&data).await;
                }
                break;
            }
        }
        if matches!(s.close_reason(), Some(r) if r == ReasonCode::MALFORMED_PACKET || r == ReasonCode::PROTOCOL_ERROR) {
            shared.metrics.protocol_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(conn) = c.conn.map(std::num::NonZeroU64::get) {
            let end = s.finish();
            let client = s.client_id().clone();
            shared.broker().disconnected(Instant::now(), &client, conn, end.state, end.expiry, end.will);
        }
    }
}

async fn actions(shared: &Arc<Shared>, s: &mut Session, c: &mut Conn) {
    while let Some(a) = s.poll_action() {
        // Boxed, and awaited at one point: the CONNECT handling (authentication, session
        // take-over) is the largest state and would otherwise be part of every connection's
        // future; the wait for the DDS side's admission of a message shares that slot.
        let wait: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>> = match a {
            Action::Connect(req) => Some(Box::pin(connect(shared, s, c, req))),
            Action::Publish { msg, pkid } => {
                let qos = msg.qos;
                let (reason, admission) = route_publish(shared, c, *msg);
                match admission {
                    // The direct sink (the DDS side) takes the message, waiting while it is full,
                    // before the acknowledgement and before more packets are read: backpressure.
                    Some(a) => Some(Box::pin(ack_when_admitted(a, s, pkid, qos, reason))),
                    None => {
                        if let Some(id) = pkid {
                            s.publish_done(id, qos, reason);
                        }
                        None
                    }
                }
            }
            Action::Subscribe { pkid, requests } => {
                let client = s.client_id().clone();
                let mut codes = Vec::with_capacity(requests.len());
                for r in requests {
                    let code = if let Some(refused) = r.refused {
                        refused
                    } else if !shared.auth.can_subscribe(&c.principal, split_shared(&r.filter).1) {
                        ReasonCode::NOT_AUTHORIZED
                    } else {
                        match shared.broker().subscribe(Instant::now(), &client, &r.filter, r.opts, r.id) {
                            Ok(q) => ReasonCode(q as u8),
                            Err(e) => e,
                        }
                    };
                    codes.push(code);
                }
                s.suback(pkid, codes);
                None
            }
            Action::Unsubscribe { pkid, filters } => {
                let client = s.client_id().clone();
                let codes = filters
                    .iter()
                    .map(|f| {
                        if shared.broker().unsubscribe(&client, f) {
                            ReasonCode::SUCCESS
                        } else {
                            ReasonCode::NO_SUBSCRIPTION_EXISTED
                        }
                    })
                    .collect();
                s.unsuback(pkid, codes);
                None
            }
            Action::Close { .. } => None,
        };
        if let Some(w) = wait {
            w.await;
        }
    }
}

/// Routes a client's message (the broker lock is released on return); the reason code for its
/// acknowledgement and the direct sink's admission, to be awaited before that acknowledgement.
fn route_publish(shared: &Shared, c: &Conn, msg: Message) -> (ReasonCode, Option<Admission>) {
    if !shared.auth.can_publish(&c.principal, &msg.topic) {
        return (ReasonCode::NOT_AUTHORIZED, None);
    }
    let (n, admission) = shared.broker().publish_direct(Instant::now(), msg);
    let reason = if n == 0 { ReasonCode::NO_MATCHING_SUBSCRIBERS } else { ReasonCode::SUCCESS };
    (reason, admission)
}

/// Waits for the direct sink's admission of a message, then acknowledges it.
async fn ack_when_admitted(a: Admission, s: &mut Session, pkid: Option<u16>, qos: QoS, reason: ReasonCode) {
    a.await;
    if let Some(id) = pkid {
        s.publish_done(id, qos, reason);
    }
}

async fn connect(shared: &Arc<Shared>, s: &mut Session, c: &mut Conn, req: Box<super::codec::Connect>) {
    let auth = shared.auth.clone();
    let (user, pass) = (req.username.clone(), req.password.clone());
    // Checking a password is deliberately slow: off the runtime. Without a user name
    // there is nothing to hash.
    let res = if user.is_none() {
        Ok(auth.authenticate(None, pass.as_deref()))
    } else {
        tokio::task::spawn_blocking(move || auth.authenticate(user.as_deref(), pass.as_deref())).await
    };
    match res {
        Ok(Ok(p)) if loopback_refused(&shared.loopback_users, &p, Some(c.peer.ip())) => {
            tracing::info!(peer = %c.peer, "refused a loopback-only user from a remote address");
            s.reject(ReasonCode::NOT_AUTHORIZED);
            return;
        }
        Ok(Ok(p)) => c.principal = p,
        Ok(Err(code)) => {
            s.reject(code);
            return;
        }
        Err(_) => {
            s.reject(ReasonCode::SERVER_UNAVAILABLE);
            return;
        }
    }
    let (id, assigned) = if req.client_id.is_empty() {
        if req.version == Version::V311 && !req.clean_start {
            s.reject(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            return;
        }
        (format!("auto-{:016x}", rand::random::<u64>()), true)
    } else if req.client_id.starts_with(RESERVED_CLIENT_PREFIX) {
        s.reject(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
        return;
    } else {
        (req.client_id.clone(), false)
    };
    let expiry = match req.version {
        Version::V5 => req.properties.session_expiry_interval.unwrap_or(0),
        Version::V311 if req.clean_start => 0,
        Version::V311 => u32::MAX,
    };
    let mut forced = false;
    loop {
        let outcome = shared.broker().connect(Instant::now(), &id, req.clean_start, expiry);
        match outcome {
            ConnectOutcome::Accepted { conn, client, outbox, session_present, restored } => {
                c.conn = std::num::NonZeroU64::new(conn);
                c.outbox = Some(outbox);
                s.accept(Instant::now(), client, assigned, session_present, restored);
                break;
            }
            ConnectOutcome::Busy(released) => {
                if forced {
                    s.reject(ReasonCode::SERVER_BUSY);
                    break;
                }
                let waited = tokio::time::timeout(Duration::from_secs(2), released.notified()).await;
                if waited.is_err() {
                    shared.broker().force_detach(Instant::now(), &id);
                    forced = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle connections must stay cheap (issue 8: at most twice mosquitto's memory per idle
    /// connection): the connection task's future and the broker's per-client entry are the
    /// largest parts, so their sizes are bounded here.
    #[tokio::test]
    async fn per_connection_state_stays_small() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind on loopback");
        let addr = l.local_addr().expect("local address");
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect on loopback");
        let (stream, peer) = l.accept().await.expect("accept");
        let broker = Broker::new(BrokerConfig::default());
        let metrics = broker.metrics().clone();
        let shared = Arc::new(Shared {
            broker: Arc::new(Mutex::new(broker)),
            metrics,
            auth: Arc::new(super::super::auth::MemoryAuth::default()),
            session: Arc::default(),
            loopback_users: Vec::new(),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
        });
        let fut = connection(shared, PlainTcp(stream), peer);
        let size = std::mem::size_of_val(&fut);
        eprintln!(
            "connection future {size} B, Session {} B, client entry {} B, outbox {} B",
            std::mem::size_of::<Session>(),
            super::super::broker::client_entry_size(),
            std::mem::size_of::<super::super::broker::Outbox>()
        );
        // 472: 448 before the wait for the DDS side's admission of a published message (one
        // boxed future in the actions' state) was added.
        assert!(size <= 472, "the connection future grew to {size} bytes");
        assert!(super::super::broker::client_entry_size() <= 80);
    }
}
