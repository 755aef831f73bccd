//! Tokio listener and connection tasks: the only part of the AMQP endpoint with sockets.
//!
//! Each connection is one task owning its TCP socket. It feeds bytes to its [`Connection`]
//! with the shared [`Broker`] locked (a `std::sync::Mutex`, never held across an `.await`),
//! checks credentials on the blocking pool (Argon2 is slow on purpose), moves deliveries from
//! its outbox into the output up to a byte budget, and writes. A consumer that reads slowly
//! only stalls its own task; the broker stops handing it messages once its prefetch window
//! or outbox buffer is full.
//!
//! # TLS
//! With [`AmqpServerConfig::tls`] (and for [`AmqpServerConfig::listeners`] that carry one) the
//! listener speaks AMQP over TLS (`amqps://`, conventionally port 5671): the handshake runs in
//! the connection's task ([`tls_handshake`]), and a failed one closes only that connection.

use super::broker::{AmqpError, Broker, BrokerConfig, Message, Routed, TappedMessage};
use super::connection::{Connection, ConnectionConfig};
use super::store::StoreError;
use crate::bridge::listener::{tls_handshake, Bound, ListenerSpec};
use crate::bridge::mqtt::auth::{Authenticator, Principal};
use amq_protocol::protocol::basic::AMQPProperties;
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Listener address, limits and the data directory.
#[derive(Debug, Clone)]
pub struct AmqpServerConfig {
    /// Listen address (default 127.0.0.1:5672).
    pub addr: SocketAddr,
    /// TLS on `addr` (rustls); `None` for plain TCP.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// More listeners (other addresses, TLS), besides `addr`.
    pub listeners: Vec<ListenerSpec>,
    /// Directory of the durable store; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Per-connection settings.
    pub connection: ConnectionConfig,
    /// Broker settings.
    pub broker: BrokerConfig,
}

impl Default for AmqpServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 5672)),
            tls: None,
            listeners: Vec::new(),
            data_dir: None,
            connection: ConnectionConfig::default(),
            broker: BrokerConfig::default(),
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmqpServerError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The durable store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A cloneable handle on the broker for the bridge's route layer (see the
/// [`broker`](super::broker) module docs).
#[derive(Clone)]
pub struct AmqpBroker(Arc<Mutex<Broker>>);

impl std::fmt::Debug for AmqpBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBroker").finish_non_exhaustive()
    }
}

impl AmqpBroker {
    /// Wraps a broker.
    #[must_use]
    pub fn new(broker: Broker) -> Self {
        Self(Arc::new(Mutex::new(broker)))
    }

    /// Locks the broker (never hold the guard across an `.await`).
    pub fn lock(&self) -> MutexGuard<'_, Broker> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes a message from outside AMQP (e.g. a DDS sample) as if a client had published
    /// it to `exchange` with `routing_key`, except that taps do not see it (so it never returns
    /// to its source); returns how many queues it reached.
    pub fn publish_external(
        &self,
        exchange: &str,
        routing_key: &str,
        properties: AMQPProperties,
        body: Bytes,
    ) -> Result<Routed, AmqpError> {
        self.publish_external_to(&[exchange], routing_key, properties, body)
            .pop()
            .unwrap_or(Ok(Routed { queues: 0, stored_ok: true }))
    }

    /// [`Self::publish_external`] to several exchanges under one lock of the broker; one result
    /// per exchange.
    pub fn publish_external_to(
        &self,
        exchanges: &[&str],
        routing_key: &str,
        properties: AMQPProperties,
        body: Bytes,
    ) -> Vec<Result<Routed, AmqpError>> {
        let routing_key: Arc<str> = Arc::from(routing_key);
        let now = Instant::now();
        let mut b = self.lock();
        exchanges
            .iter()
            .map(|x| {
                let msg = Message {
                    exchange: Arc::from(*x),
                    routing_key: routing_key.clone(),
                    properties: properties.clone(),
                    body: body.clone(),
                };
                b.publish_untapped(now, msg)
            })
            .collect()
    }

    /// Copies messages routed through `amq.topic` whose routing key matches one of the topic
    /// binding keys `binding_keys` (e.g. `dds.#`) into a bounded channel, once per message;
    /// copies are dropped while it is full. Dropping the receiver removes the tap.
    pub fn tap_topic(
        &self,
        binding_keys: &[String],
        capacity: usize,
    ) -> Result<tokio::sync::mpsc::Receiver<TappedMessage>, AmqpError> {
        self.lock().tap("amq.topic", binding_keys, capacity)
    }
}

/// A running AMQP endpoint.
pub struct AmqpServer {
    broker: AmqpBroker,
    /// `addr` first, then the extra listeners.
    listeners: Vec<Bound>,
    auth: Arc<dyn Authenticator>,
    cfg: AmqpServerConfig,
}

impl std::fmt::Debug for AmqpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpServer").field("addr", &self.local_addr()).finish_non_exhaustive()
    }
}

impl AmqpServer {
    /// Opens the store (if configured) and binds the listener.
    pub async fn bind(cfg: AmqpServerConfig, auth: Arc<dyn Authenticator>) -> Result<Self, AmqpServerError> {
        let broker = match &cfg.data_dir {
            Some(dir) => Broker::open(cfg.broker.clone(), dir, Instant::now())?,
            None => Broker::new(cfg.broker.clone()),
        };
        let first = ListenerSpec { addr: cfg.addr, websocket: false, tls: cfg.tls.clone() };
        let mut listeners = Vec::with_capacity(1 + cfg.listeners.len());
        for spec in std::iter::once(first).chain(cfg.listeners.iter().cloned()) {
            let addr = spec.addr;
            listeners.push(Bound::bind(spec).await.map_err(|source| AmqpServerError::Bind { addr, source })?);
        }
        Ok(Self { broker: AmqpBroker::new(broker), listeners, auth, cfg })
    }

    /// The bound address of `addr`.
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listeners.first().and_then(Bound::local_addr)
    }

    /// The bound addresses: `addr`, then the extra listeners in configuration order.
    #[must_use]
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(Bound::local_addr).collect()
    }

    /// The broker handle (for the route layer).
    #[must_use]
    pub fn broker(&self) -> AmqpBroker {
        self.broker.clone()
    }

    /// Serves until `shutdown` completes; connections then get connection.close 320
    /// (CONNECTION_FORCED) and this returns within about a second.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let shared = Arc::new(Shared { broker: self.broker.clone(), auth: self.auth, cfg: self.cfg.connection });
        for b in self.listeners {
            let tls = b.acceptor();
            tasks.spawn(accept_loop(b.listener, tls, shared.clone(), stop_rx.clone()));
        }
        tasks.spawn(ticker(self.broker.clone(), stop_rx));
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ =
            tokio::time::timeout(Duration::from_secs(1), async { while tasks.join_next().await.is_some() {} }).await;
    }
}

struct Shared {
    broker: AmqpBroker,
    auth: Arc<dyn Authenticator>,
    cfg: ConnectionConfig,
}

async fn ticker(broker: AmqpBroker, mut stop: watch::Receiver<bool>) {
    let mut iv = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = iv.tick() => broker.lock().tick(Instant::now()),
            _ = stop.changed() => return,
        }
    }
}

async fn accept_loop(
    l: TcpListener,
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
                    match tls.clone() {
                        None => {
                            conns.spawn(connection(shared.clone(), stream, peer, stop.clone()));
                        }
                        Some(acceptor) => {
                            let (shared, stop) = (shared.clone(), stop.clone());
                            conns.spawn(async move {
                                if let Some(s) = tls_handshake(&acceptor, stream, peer, "AMQP").await {
                                    connection(shared, s, peer, stop).await;
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("AMQP accept failed: {e}");
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

/// Bytes of deliveries moved into the output per write.
const PUMP_BUDGET: usize = 256 * 1024;

async fn connection<S>(shared: Arc<Shared>, mut sock: S, peer: SocketAddr, mut stop: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let (id, notify) = shared.broker.lock().connect();
    let mut c = Connection::new(shared.cfg.clone(), id, peer.ip().is_loopback(), Instant::now());
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    loop {
        {
            let mut b = shared.broker.lock();
            c.handle_input(Instant::now(), &mut rbuf, &mut b);
        }
        if let Some(req) = c.poll_auth() {
            let ok = match c.guest_rule(&req) {
                Some(ok) => ok.then(|| (req.username.clone(), Principal::User(req.username.clone()))),
                None => {
                    let auth = shared.auth.clone();
                    let r = tokio::task::spawn_blocking(move || {
                        auth.authenticate(Some(&req.username), Some(&req.password)).map(|p| {
                            let name = match &p {
                                Principal::User(u) => u.clone(),
                                Principal::Anonymous => req.username.clone(),
                            };
                            (name, p)
                        })
                    })
                    .await;
                    r.ok().and_then(Result::ok)
                }
            };
            let ok = ok.map(|(name, who)| {
                c.set_access(shared.auth.clone(), who);
                name
            });
            c.auth_done(Instant::now(), ok.ok_or(()));
            continue;
        }
        if !c.is_closed() {
            let mut b = shared.broker.lock();
            c.pump(Instant::now(), &mut b, PUMP_BUDGET);
        }
        let out = c.take_output(Instant::now());
        // Flushed: a TLS stream may keep written bytes in its buffer until then.
        if !out.is_empty() && (sock.write_all(&out).await.is_err() || sock.flush().await.is_err()) {
            c.connection_lost();
        }
        if c.is_closed() {
            break;
        }
        let deadline = c.poll_timeout().map(tokio::time::Instant::from_std);
        if rbuf.capacity() - rbuf.len() < 8192 {
            rbuf.reserve(64 * 1024);
        }
        tokio::select! {
            r = sock.read_buf(&mut rbuf) => match r {
                Ok(n) if n > 0 => {}
                _ => c.connection_lost(),
            },
            () = notify.notified() => {}
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                c.handle_timeout(Instant::now());
            }
            _ = stop.changed() => {
                c.close(Instant::now(), super::frames::reply::CONNECTION_FORCED, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'", (0, 0));
                let out = c.take_output(Instant::now());
                let _ = sock.write_all(&out).await;
                let _ = sock.flush().await;
                break;
            }
        }
    }
    if let Some((code, text)) = c.close_reason() {
        tracing::debug!("AMQP connection {id} from {peer} closed: {code} {text}");
    }
    c.finish(Instant::now(), &mut shared.broker.lock());
}
