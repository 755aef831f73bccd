//! Tokio listeners and connection tasks: the only part of the STOMP endpoint with sockets.
//!
//! Each connection is one task that owns its socket (TCP with `TCP_NODELAY`, or a WebSocket
//! with subprotocol `v12.stomp`, `v11.stomp` or `v10.stomp`, text or binary messages), feeds
//! bytes to its [`Session`], and drains its own [`Outbox`]. The shared [`StompBroker`] sits
//! behind a `std::sync::Mutex` that is only locked between awaits.
//!
//! # Memory per idle connection
//! An idle connection holds no read or write buffer: TCP reads wait for readiness and then copy
//! from a stack buffer into a `BytesMut` that is freed as soon as it has been consumed; the
//! session's output is handed over to the socket and not kept. What remains is the task, the
//! session (a few hundred bytes), the outbox and the socket.
//!
//! # TLS
//! Listeners in [`ServerConfig::listeners`] may carry a rustls configuration: STOMP over TLS
//! (`stomp+ssl://`, conventionally port 61614) and STOMP over secure WebSocket (`wss://`). The
//! handshake runs in the connection's task ([`tls_handshake`]); a failed one closes only that
//! connection.
//!
//! Default address: STOMP over TCP on 127.0.0.1:61613 (the conventional STOMP port); STOMP over
//! WebSocket is off unless asked for (conventionally 127.0.0.1:15674, as RabbitMQ's Web-STOMP).

use super::broker::{BrokerConfig, Delivery, Destination, Message, Metrics, Outbox, RouteHook, StompBroker};
use super::codec::Header;
use super::session::{Host, Session, SessionConfig};
use crate::bridge::listener::{tls_handshake, Bound, ListenerSpec};
use crate::bridge::mqtt::auth::{Authenticator, Principal};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Listener addresses and limits.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// STOMP over TCP (default 127.0.0.1:61613).
    pub tcp: Option<SocketAddr>,
    /// STOMP over WebSocket (off by default).
    pub ws: Option<SocketAddr>,
    /// More listeners (several addresses, TLS), besides `tcp` and `ws`.
    pub listeners: Vec<ListenerSpec>,
    /// Per-connection limits.
    pub session: SessionConfig,
    /// Broker limits.
    pub broker: BrokerConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tcp: Some(SocketAddr::from(([127, 0, 0, 1], 61613))),
            ws: None,
            listeners: Vec::new(),
            session: SessionConfig::default(),
            broker: BrokerConfig::default(),
        }
    }
}

struct Shared {
    broker: Mutex<StompBroker>,
    metrics: Arc<Metrics>,
    auth: Arc<dyn Authenticator>,
    session: Arc<SessionConfig>,
}

impl Shared {
    fn broker(&self) -> MutexGuard<'_, StompBroker> {
        self.broker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// A handle on a running endpoint's broker, for the route layer (see
/// [`broker`](super::broker) "Attaching DDS").
#[derive(Clone)]
pub struct StompHandle(Arc<Shared>);

impl std::fmt::Debug for StompHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompHandle").finish_non_exhaustive()
    }
}

impl StompHandle {
    /// Routes a message from outside STOMP to `destination`; see
    /// [`StompBroker::publish_external`].
    pub fn publish_external(
        &self,
        destination: &str,
        headers: Vec<Header>,
        body: Bytes,
    ) -> Result<usize, super::broker::BrokerError> {
        self.0.broker().publish_external(destination, headers, body)
    }

    /// Installs the route layer's hook; see [`StompBroker::set_route_hook`].
    pub fn set_route_hook(&self, hook: Arc<dyn RouteHook>) {
        self.0.broker().set_route_hook(hook);
    }

    /// The broker's counters.
    #[must_use]
    pub fn metrics(&self) -> Arc<Metrics> {
        self.0.metrics.clone()
    }
}

/// A bound STOMP endpoint.
pub struct StompServer {
    shared: Arc<Shared>,
    tcp: Option<TcpListener>,
    ws: Option<TcpListener>,
    extra: Vec<Bound>,
}

impl std::fmt::Debug for StompServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompServer").finish_non_exhaustive()
    }
}

impl StompServer {
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
        let broker = StompBroker::new(cfg.broker.clone());
        let metrics = broker.metrics().clone();
        let shared =
            Arc::new(Shared { broker: Mutex::new(broker), metrics, auth, session: Arc::new(cfg.session.clone()) });
        let mut extra = Vec::with_capacity(cfg.listeners.len());
        for spec in cfg.listeners {
            let addr = spec.addr;
            extra.push(Bound::bind(spec).await.map_err(|source| ServerError::Bind { addr, source })?);
        }
        Ok(Self { shared, tcp: listen(cfg.tcp).await?, ws: listen(cfg.ws).await?, extra })
    }

    /// Bound addresses of [`ServerConfig::listeners`], in configuration order.
    #[must_use]
    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.extra.iter().filter_map(Bound::local_addr).collect()
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

    /// A handle for the route layer and for metrics.
    #[must_use]
    pub fn handle(&self) -> StompHandle {
        StompHandle(self.shared.clone())
    }

    /// Serves until `shutdown` completes; then every client gets an ERROR
    /// `server shutting down`, unacknowledged queue messages go back to their queues, and this
    /// returns after at most about a second.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(l) = self.tcp {
            tasks.spawn(accept_loop(l, false, None, self.shared.clone(), stop_rx.clone()));
        }
        if let Some(l) = self.ws {
            tasks.spawn(accept_loop(l, true, None, self.shared.clone(), stop_rx.clone()));
        }
        for b in self.extra {
            let tls = b.acceptor();
            tasks.spawn(accept_loop(b.listener, b.spec.websocket, tls, self.shared.clone(), stop_rx.clone()));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ =
            tokio::time::timeout(Duration::from_secs(1), async { while tasks.join_next().await.is_some() {} }).await;
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
    loop {
        tokio::select! {
            r = l.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let stop = stop.clone();
                    // One task type per kind of connection: the TLS and WebSocket futures are
                    // much larger and would size every plain TCP connection's task.
                    match (tls.clone(), ws) {
                        (None, false) => {
                            conns.spawn(connection(shared, TcpTransport(stream), stop));
                        }
                        (None, true) => {
                            conns.spawn(async move {
                                if let Some(t) = WsTransport::accept(stream).await {
                                    connection(shared, t, stop).await;
                                }
                            });
                        }
                        (Some(acceptor), ws) => {
                            conns.spawn(async move {
                                let Some(stream) = tls_handshake(&acceptor, stream, peer, "STOMP").await else {
                                    return;
                                };
                                if !ws {
                                    connection(shared, StreamTransport(stream), stop).await;
                                } else if let Some(t) = WsTransport::accept(stream).await {
                                    connection(shared, t, stop).await;
                                }
                            });
                        }
                    }
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
    let _ =
        tokio::time::timeout(Duration::from_millis(900), async { while conns.join_next().await.is_some() {} }).await;
}

/// A byte transport for one connection.
trait Transport: Send {
    /// Appends received bytes; `Ok(false)` at end of stream.
    fn read(&mut self, buf: &mut BytesMut) -> impl std::future::Future<Output = std::io::Result<bool>> + Send;
    /// Writes all of `data`.
    fn write(&mut self, data: BytesMut) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
    /// Closes gracefully: the peer gets what was written before it sees the end.
    fn close(&mut self) -> impl std::future::Future<Output = ()> + Send;
}

struct TcpTransport(TcpStream);

/// Reads what is ready through a stack buffer, so an idle connection keeps no read buffer.
fn try_read_into(s: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() >= 8192 {
        return s.try_read_buf(buf);
    }
    let mut tmp = [0u8; 8192];
    let n = s.try_read(&mut tmp)?;
    buf.extend_from_slice(&tmp[..n]);
    Ok(n)
}

impl Transport for TcpTransport {
    async fn read(&mut self, buf: &mut BytesMut) -> std::io::Result<bool> {
        loop {
            self.0.readable().await?;
            match try_read_into(&self.0, buf) {
                Ok(n) => return Ok(n > 0),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
    async fn write(&mut self, data: BytesMut) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.0.write_all(&data).await
    }
    async fn close(&mut self) {
        use tokio::io::AsyncWriteExt;
        // Send FIN, then discard what the peer still sends for a moment: closing with unread
        // input would reset the connection and could destroy the ERROR frame in flight.
        if self.0.shutdown().await.is_err() {
            return;
        }
        let drain = async {
            let mut discarded = 0usize;
            let mut tmp = BytesMut::new();
            while discarded < 1 << 20 {
                tmp.clear();
                match self.read(&mut tmp).await {
                    Ok(true) => discarded += tmp.len(),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    }
}

/// Any byte stream (a TLS stream): buffered reads through `read_buf`.
struct StreamTransport<S>(S);

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Transport for StreamTransport<S> {
    async fn read(&mut self, buf: &mut BytesMut) -> std::io::Result<bool> {
        use tokio::io::AsyncReadExt;
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        Ok(self.0.read_buf(buf).await? > 0)
    }
    async fn write(&mut self, data: BytesMut) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.0.write_all(&data).await?;
        self.0.flush().await
    }
    async fn close(&mut self) {
        use tokio::io::AsyncWriteExt;
        // As for TCP: end the stream (TLS close_notify and FIN), then read what the peer still
        // sends for a moment, so the last frame is not lost to a reset.
        if self.0.shutdown().await.is_err() {
            return;
        }
        let drain = async {
            let mut discarded = 0usize;
            let mut tmp = BytesMut::new();
            while discarded < 1 << 20 {
                tmp.clear();
                match self.read(&mut tmp).await {
                    Ok(true) => discarded += tmp.len(),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
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
            let offered: Vec<String> = req
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|p| p.trim().to_ascii_lowercase())
                .collect();
            if let Some(p) =
                ["v12.stomp", "v11.stomp", "v10.stomp"].into_iter().find(|p| offered.iter().any(|o| o == p))
            {
                resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(p));
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
                Some(Ok(M::Text(t))) => {
                    buf.extend_from_slice(t.as_bytes());
                    return Ok(true);
                }
                Some(Ok(M::Ping(_) | M::Pong(_) | M::Frame(_))) => {}
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
    }
    async fn write(&mut self, data: BytesMut) -> std::io::Result<()> {
        use tokio_tungstenite::tungstenite::Message as M;
        let msg = match String::from_utf8(data.to_vec()) {
            Ok(s) => M::Text(s),
            Err(e) => M::Binary(e.into_bytes()),
        };
        self.0.send(msg).await.map_err(std::io::Error::other)
    }
    async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.0.close(None)).await;
    }
}

/// The connection's view of the broker while a frame is handled.
struct BrokerHost<'a> {
    shared: &'a Shared,
    conn: u64,
    outbox: Option<&'a Arc<Outbox>>,
    principal: &'a Principal,
    queue_subs: &'a mut bool,
    /// Messages sent since the last hand-over to the route hook (only while one is installed).
    sent: &'a mut Vec<Arc<Message>>,
}

impl Host for BrokerHost<'_> {
    fn send(&mut self, dest: &Destination, msg: Message) -> Result<(), String> {
        if !self.shared.auth.can_publish(self.principal, dest.acl_topic()) {
            return Err("access refused".to_owned());
        }
        let mut b = self.shared.broker();
        let (_, msg) = b.send(dest, msg);
        if b.has_route_hook() {
            self.sent.push(msg);
        }
        Ok(())
    }
    fn subscribe(&mut self, id: &Arc<str>, dest: &Destination) -> Result<(), String> {
        if !self.shared.auth.can_subscribe(self.principal, dest.acl_topic()) {
            return Err("access refused".to_owned());
        }
        let Some(outbox) = self.outbox else { return Err("not connected".to_owned()) };
        if matches!(dest, Destination::Queue(_)) {
            *self.queue_subs = true;
        }
        self.shared.broker().subscribe(self.conn, outbox, id.clone(), dest);
        Ok(())
    }
    fn unsubscribe(&mut self, id: &str, dest: &Destination) {
        self.shared.broker().unsubscribe(self.conn, id, dest);
    }
    fn requeue(&mut self, deliveries: Vec<Delivery>) {
        self.shared.broker().requeue(deliveries);
    }
}

struct Conn {
    id: u64,
    outbox: Option<Arc<Outbox>>,
    principal: Principal,
    queue_subs: bool,
    /// Messages of the current read for the route hook (see [`hand_to_route_layer`]).
    sent: Vec<Arc<Message>>,
}

/// Deliveries moved from the outbox to the session per round, so output stays bounded.
const BATCH: usize = 128;

async fn connection<T: Transport>(shared: Arc<Shared>, mut t: T, mut stop: watch::Receiver<bool>) {
    let mut s = Session::new(shared.session.clone(), Instant::now());
    let mut rbuf = BytesMut::new();
    let mut c = Conn { id: 0, outbox: None, principal: Principal::Anonymous, queue_subs: false, sent: Vec::new() };
    loop {
        let now = Instant::now();
        read_frames(&shared, &mut s, &mut c, &mut rbuf, now).await;
        // The route layer accepts the messages just sent (waiting while it is full) before their
        // RECEIPTs go out and before more frames are read: backpressure, not loss.
        hand_to_route_layer(&shared, &mut c.sent).await;
        let mut more = false;
        if let (false, Some(ob)) = (s.is_closed(), c.outbox.clone()) {
            if let Some(why) = ob.kicked() {
                s.fail(why, None);
            } else if !s.is_holding() {
                more = deliver(&shared, &mut s, &c, &ob);
            }
        }
        if let Some(data) = s.take_output() {
            if t.write(data).await.is_err() {
                s.connection_lost();
            }
            s.sent(Instant::now());
        }
        if s.is_closed() {
            break;
        }
        let deadline = s.poll_timeout().map(tokio::time::Instant::from_std);
        let outbox = c.outbox.clone();
        tokio::select! {
            r = t.read(&mut rbuf) => match r {
                Ok(true) => s.received(Instant::now()),
                Ok(false) | Err(_) => s.connection_lost(),
            },
            () = async { match &outbox { Some(o) => o.notify().notified().await, None => std::future::pending().await } } => {}
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                s.handle_timeout(Instant::now());
            }
            _ = stop.changed() => s.shutdown(),
            // More deliveries are waiting: go round again, still reading whatever arrived.
            () = std::future::ready(()), if more => {}
        }
        if s.is_closed() {
            if let Some(data) = s.take_output() {
                let _ = t.write(data).await;
            }
            break;
        }
    }
    if s.error().is_some_and(|e| !matches!(e, "connection lost" | "client disconnected" | "server shutting down")) {
        shared.metrics.protocol_errors.fetch_add(1, Ordering::Relaxed);
    }
    let end = s.finish();
    if let Some(ob) = &c.outbox {
        let mut b = shared.broker();
        for (id, d) in &end.subscriptions {
            b.unsubscribe(c.id, id, d);
        }
        b.requeue(end.unacked.into_iter().chain(ob.take_all()));
    }
    // Subscriptions are gone before the socket lingers in its graceful close.
    if s.error() != Some("connection lost") {
        t.close().await;
    }
}

/// Decodes and handles frames, checking credentials when a CONNECT asks for it.
async fn read_frames(shared: &Arc<Shared>, s: &mut Session, c: &mut Conn, rbuf: &mut BytesMut, now: Instant) {
    loop {
        {
            let mut host = BrokerHost {
                shared,
                conn: c.id,
                outbox: c.outbox.as_ref(),
                principal: &c.principal,
                queue_subs: &mut c.queue_subs,
                sent: &mut c.sent,
            };
            s.handle_read(now, rbuf, &mut host);
        }
        if rbuf.is_empty() {
            // Free the read buffer between bursts.
            *rbuf = BytesMut::new();
        }
        let Some(cred) = s.take_auth() else { return };
        let auth = shared.auth.clone();
        let res = tokio::task::spawn_blocking(move || {
            auth.authenticate(cred.login.as_deref(), cred.passcode.as_deref().map(str::as_bytes))
        })
        .await;
        match res {
            Ok(Ok(p)) => {
                c.principal = p;
                let (id, outbox) = shared.broker().connect();
                c.id = id;
                c.outbox = Some(outbox);
                s.accept(Instant::now(), &format!("session-{id}"));
            }
            Ok(Err(_)) => s.reject("access refused"),
            Err(_) => s.reject("server error"),
        }
    }
}

/// Hands the messages of one read to the route hook in one call and awaits its admission.
async fn hand_to_route_layer(shared: &Shared, sent: &mut Vec<Arc<Message>>) {
    if sent.is_empty() {
        return;
    }
    let hook = shared.broker().route_hook();
    let admission = hook.and_then(|h| h.on_send(sent));
    sent.clear();
    if sent.capacity() > 1024 {
        // Free what a burst grew.
        *sent = Vec::new();
    }
    if let Some(a) = admission {
        a.await;
    }
}

/// Milliseconds since the Unix epoch (the clock of `expires` headers).
fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Moves a batch from the outbox into the session (dropping expired messages); true if more are
/// waiting.
fn deliver(shared: &Shared, s: &mut Session, c: &Conn, ob: &Arc<Outbox>) -> bool {
    let mut batch = Vec::new();
    ob.drain(BATCH, &mut batch);
    let got = batch.len();
    let mut back = Vec::new();
    let now_ms = batch.iter().any(|d| d.msg.expires.is_some()).then(epoch_ms);
    for d in batch {
        if now_ms.is_some_and(|t| d.msg.expired(t)) {
            shared.metrics.expired.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Err(d) = s.deliver(d) {
            back.push(d);
        }
    }
    if !back.is_empty() || (c.queue_subs && got > 0) {
        let mut b = shared.broker();
        b.requeue(back);
        b.refill();
    }
    got == BATCH
}

#[cfg(test)]
mod tests {
    use super::super::broker::Admission;
    use super::*;
    use crate::bridge::mqtt::auth::{hash_password, MemoryAuth};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn frame(s: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).await.unwrap_or(0) == 1 && b[0] != 0 {
            buf.push(b[0]);
        }
        String::from_utf8_lossy(&buf).trim_start_matches('\n').to_owned()
    }

    #[derive(Default)]
    struct Hook(Mutex<Vec<String>>);

    impl RouteHook for Hook {
        fn on_send(&self, msgs: &[Arc<Message>]) -> Option<Admission> {
            for msg in msgs {
                self.0.lock().unwrap().push(format!("send {}", msg.destination));
            }
            None
        }
        fn on_subscribe(&self, destination: &str) {
            self.0.lock().unwrap().push(format!("sub {destination}"));
        }
        fn on_unsubscribe(&self, destination: &str) {
            self.0.lock().unwrap().push(format!("unsub {destination}"));
        }
    }

    #[tokio::test]
    async fn login_acl_and_route_layer_interface() {
        let mut auth = MemoryAuth::default();
        auth.allow_anonymous(false);
        let acl = vec![crate::bridge::mqtt::auth::AclRule::all("topic/#")];
        auth.add_user("ops", &hash_password(b"pw").unwrap(), Some(acl)).unwrap();
        let cfg = ServerConfig { tcp: Some(SocketAddr::from(([127, 0, 0, 1], 0))), ..ServerConfig::default() };
        let server = StompServer::bind(cfg, Arc::new(auth)).await.unwrap();
        let addr = server.tcp_addr().unwrap();
        let handle = server.handle();
        let hook = Arc::new(Hook::default());
        handle.set_route_hook(hook.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(server.run(async move {
            let _ = stop_rx.await;
        }));

        let mut bad = TcpStream::connect(addr).await.unwrap();
        bad.write_all(b"CONNECT\naccept-version:1.2\nlogin:ops\npasscode:nope\n\n\0").await.unwrap();
        assert!(frame(&mut bad).await.contains("message:access refused"));
        let mut anon = TcpStream::connect(addr).await.unwrap();
        anon.write_all(b"CONNECT\naccept-version:1.2\n\n\0").await.unwrap();
        assert!(frame(&mut anon).await.starts_with("ERROR"));

        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"CONNECT\naccept-version:1.2\nlogin:ops\npasscode:pw\n\n\0").await.unwrap();
        assert!(frame(&mut c).await.starts_with("CONNECTED"));
        c.write_all(b"SUBSCRIBE\nid:1\ndestination:/topic/dds.Temp\nreceipt:r\n\n\0").await.unwrap();
        assert!(frame(&mut c).await.contains("receipt-id:r"));
        // A sample from the route layer reaches the STOMP subscriber.
        let n = handle
            .publish_external("/topic/dds.Temp", vec![("content-type".into(), "application/json".into())], "{}".into())
            .unwrap();
        assert_eq!(n, 1);
        let m = frame(&mut c).await;
        assert!(m.starts_with("MESSAGE") && m.contains("content-type:application/json") && m.ends_with("{}"), "{m}");
        c.write_all(b"SEND\ndestination:/topic/dds.Cmd\nreceipt:s\n\ngo\0").await.unwrap();
        assert!(frame(&mut c).await.contains("receipt-id:s"));
        // The ACL allows topic/# only.
        c.write_all(b"SEND\ndestination:/queue/jobs\n\nx\0").await.unwrap();
        assert!(frame(&mut c).await.contains("message:access refused"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*hook.0.lock().unwrap(), ["sub /topic/dds.Temp", "send /topic/dds.Cmd", "unsub /topic/dds.Temp"]);
        assert!(handle.publish_external("/bad", vec![], Bytes::new()).is_err());
        let _ = stop_tx.send(());
        run.await.unwrap();
    }
}
