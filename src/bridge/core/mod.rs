//! The bridge core: configuration, the protocol-neutral hub between DDS and the broker endpoints,
//! the DDS side (dynamic readers and writers per route), and the registry the protocol endpoints
//! plug into.
//!
//! # Data flow
//! - DDS → clients: each route's dynamic reader turns samples into [`Outbound`] messages (JSON or
//!   raw CDR, named `broker_name[/key…]`, with metadata) on the [`Hub`]'s broadcast channel. Each
//!   endpoint takes them from its own receiver; a lagging endpoint loses the oldest messages, so
//!   nothing on the broker side can slow the DDS side. The MQTT endpoint publishes them retained
//!   (the latest value per instance for late joiners) with MQTT 5 user properties; the AMQP
//!   endpoint publishes them on `amq.topic` (dotted routing key) and the headers exchanges, with
//!   the metadata in the headers table (see `amqp_endpoint`); the STOMP endpoint
//!   ([`stomp_endpoint`]) as MESSAGE frames on `/topic/<dotted name>` with headers.
//! - Clients → DDS: endpoints hand [`Inbound`] messages whose names match
//!   [`Hub::inbound_filters`] to [`Hub::to_dds`] (one message) or [`Hub::to_dds_many`] (all the
//!   messages one socket read produced), which wait while the bounded queue towards the DDS side
//!   ([`INBOUND_CAPACITY`] messages) is full (backpressure, never a drop); the DDS side takes
//!   every queued message at once, parses and writes them (one task for every route), with
//!   writer batching: the samples of one round share datagrams, flushed at the end of the round.
//!
//! # Loop guard
//! The bridge's DDS writers carry [`BRIDGE_USER_DATA`] in USER_DATA. Samples from the bridge's
//! own participant are never forwarded to clients (the client that sent them, and the others,
//! already got the message from the broker), and samples from other bridges' writers are not
//! re-bridged unless `<loop_guard forward_other_bridges="true"/>`. Endpoints publish with their
//! own origin and subscribe with No Local (AMQP: the bridge's publishes bypass the `amq.topic`
//! tap), so what the bridge publishes never returns to DDS.
//!
//! # Endpoints
//! A protocol endpoint implements [`Endpoint`] and is added to an [`EndpointRegistry`]; [`run`]
//! binds every listener of the configuration through the endpoint registered for its protocol
//! before anything starts, so a configuration naming a protocol that has no endpoint (or an
//! address that cannot be bound) fails as a whole.

mod amqp_endpoint;
pub mod config;
mod dds_side;
pub mod mapping;
mod mqtt_endpoint;
pub mod stomp_endpoint;
pub mod tls;

pub use amqp_endpoint::AmqpEndpoint;
pub use config::{BridgeConfig, ConfigError, Direction, Format, ListenerConfig, Protocol, RouteConfig};
pub use mqtt_endpoint::MqttEndpoint;
pub use stomp_endpoint::StompEndpoint;

use crate::bridge::mqtt::auth::MemoryAuth;
use crate::dds::{DdsError, DomainParticipant};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch, Semaphore};

/// USER_DATA of the bridge's DDS writers (and readers), so other bridges recognise them.
pub const BRIDGE_USER_DATA: &[u8] = b"starling-bridge";

/// MQTT 5 user property names the bridge sets and reads.
pub mod props {
    /// Source timestamp, nanoseconds since the Unix epoch.
    pub const SOURCE_TIMESTAMP: &str = "source-timestamp";
    /// The DDS writer's GUID.
    pub const WRITER_GUID: &str = "writer-guid";
    /// The writer's sequence number.
    pub const SEQUENCE_NUMBER: &str = "sequence-number";
    /// The registered DDS type name.
    pub const TYPE_NAME: &str = "type-name";
    /// `disposed` on the empty message that stands for a disposed instance.
    pub const INSTANCE_STATE: &str = "dds-instance-state";
    /// The DDS topic name.
    pub const TOPIC: &str = "topic";
    /// The sample a DDS sample answers (its related sample identity), as 48 hex digits in the
    /// Correlation Data layout (see [`super::RequestReply`]).
    pub const RELATED_SAMPLE_IDENTITY: &str = "related-sample-identity";
}

/// Request/reply data carried with a message: MQTT 5 Response Topic and Correlation Data, STOMP
/// `reply-to` and `correlation-id` headers, AMQP `reply_to` and `correlation_id` properties.
///
/// Mapping to DDS request/reply (DDS-RPC's related sample identity), shown for MQTT; STOMP and
/// AMQP work the same way with their own fields (see [`ReplyVia`]):
/// - An MQTT request (a message with a Response Topic R and Correlation Data C on a to-DDS route) is
///   written to DDS; the bridge remembers the written sample's identity → (R, C) in a bounded table
///   (entries expire after a while). A DDS sample that arrives on a from-DDS route with that identity
///   as its related sample identity (a DDS replier's answer) is also published, not retained, to R
///   with Correlation Data C.
/// - Every DDS sample forwarded to MQTT carries its own sample identity as Correlation Data: 24 bytes,
///   the writer GUID (16) then the sequence number as big-endian int32 high and uint32 low. An MQTT
///   responder that publishes to a to-DDS route with that Correlation Data and no Response Topic has
///   its message written as a DDS reply, with that identity as the related sample identity.
///
/// A DDS reply goes back only through the protocol its request came from ([`ReplyVia`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestReply {
    /// Where replies go: MQTT Response Topic (a topic name), STOMP `reply-to` (a destination,
    /// `/queue/…`, `/topic/…`, `/reply-queue/…`) or AMQP `reply_to` (a queue name, reached
    /// through the default exchange).
    pub response_topic: Option<String>,
    /// MQTT Correlation Data; the bytes of the STOMP `correlation-id` or AMQP `correlation_id`
    /// of a request. On a message towards DDS without `response_topic`, 24 bytes naming the DDS
    /// sample it answers (STOMP and AMQP carry those as 48 hex digits and are decoded by their
    /// endpoints).
    pub correlation_data: Option<Bytes>,
    /// The protocol of `response_topic`.
    pub via: ReplyVia,
}

/// The protocol a request came from: its reply is delivered through that endpoint only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ReplyVia {
    /// MQTT (Response Topic).
    #[default]
    Mqtt,
    /// STOMP (`reply-to` destination).
    Stomp,
    /// AMQP 0-9-1 (`reply_to` queue).
    Amqp,
}

/// Lower-case hex of `b` (sample identities in headers).
#[must_use]
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// The 24 bytes of a sample identity written as 48 hex digits (as in STOMP `correlation-id` and
/// AMQP `correlation_id`), if `s` is one.
#[must_use]
pub fn identity_from_hex(s: &str) -> Option<Bytes> {
    let s = s.trim();
    if s.len() != 48 || !s.is_ascii() {
        return None;
    }
    let out: Option<Vec<u8>> = (0..24).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect();
    out.map(Bytes::from)
}

/// A boxed future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Errors starting or running the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener names a protocol no endpoint is registered for.
    #[error("no endpoint for protocol '{0}' in this build")]
    NoEndpoint(&'static str),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        message: String,
    },
    /// The TLS files could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// From the DDS layer.
    #[error("DDS: {0}")]
    Dds(#[from] DdsError),
}

/// A DDS sample on its way to broker clients.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Name in MQTT form: `broker_name` plus one level per key value.
    pub name: String,
    /// JSON or encapsulated CDR; empty for a disposed instance.
    pub payload: Bytes,
    /// The instance was disposed.
    pub disposed: bool,
    /// Metadata: see [`props`].
    pub properties: Vec<(String, String)>,
    /// Remaining lifetime (from the writer's LIFESPAN).
    pub expiry: Option<Duration>,
    /// `application/json` or `application/cdr`.
    pub content_type: &'static str,
    /// Response topic and correlation data (see [`RequestReply`]).
    pub rpc: RequestReply,
    /// True for a DDS reply routed to a requester: `name` is then the request's reply address
    /// (MQTT Response Topic, STOMP `reply-to`, AMQP `reply_to` queue) in the protocol
    /// `rpc.via`, the only endpoint that delivers it; published once, not retained.
    pub reply: bool,
}

/// A client message on its way into DDS.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Name in MQTT form (see [`mapping::from_dotted`] for dotted names).
    pub name: String,
    /// The payload.
    pub payload: Bytes,
    /// User properties (MQTT 5) or headers.
    pub properties: Vec<(String, String)>,
    /// Response topic and correlation data (MQTT 5; see [`RequestReply`]).
    pub rpc: RequestReply,
    /// When the message expires (MQTT Message Expiry Interval, STOMP `expires`, AMQP
    /// `expiration`): the DDS side does not write it after that (see [`Inbound::expired`]).
    pub expires_at: Option<std::time::Instant>,
}

impl Inbound {
    /// True if the message has expired at `now`. DDS has no per-sample lifespan (LIFESPAN is a
    /// DataWriter QoS and readers compute a sample's expiry from its source timestamp and the
    /// writer's LIFESPAN), so a client message's time to live is applied by the bridge: a message
    /// that expires before it is written (e.g. while it waits for a busy DDS side) is dropped;
    /// once written, the sample lives as long as the route writer's LIFESPAN allows.
    #[must_use]
    pub fn expired(&self, now: std::time::Instant) -> bool {
        self.expires_at.is_some_and(|t| now > t)
    }
}

/// Client messages queued towards the DDS side at most; a full queue makes [`Hub::to_dds`] and
/// [`Hub::to_dds_many`] wait.
pub const INBOUND_CAPACITY: usize = 4096;

/// The DDS side's end of the queue of client messages (see [`Hub::to_dds_many`]).
///
/// The queue carries batches: an endpoint hands over everything one read from a client's socket
/// produced in one operation (one wake-up of the DDS side), and the DDS side takes every batch
/// waiting at once. Its room ([`INBOUND_CAPACITY`] messages) is counted in messages by a
/// semaphore: senders take permits for their messages before they enqueue them, the receiver gives
/// them back as it takes the messages out.
#[derive(Debug)]
pub struct InboundReceiver {
    rx: mpsc::UnboundedReceiver<Vec<Inbound>>,
    room: Arc<Semaphore>,
    /// Messages of a batch taken out by [`InboundReceiver::recv`] and not yet returned.
    pending: std::collections::VecDeque<Inbound>,
}

impl InboundReceiver {
    /// Waits for messages and moves every message queued (at least one batch, then what else is
    /// waiting, up to about `limit` messages) into `out`. Returns how many were moved; 0 once every
    /// sender is gone and the queue is empty.
    pub async fn recv_many(&mut self, out: &mut Vec<Inbound>, limit: usize) -> usize {
        let before = out.len();
        out.extend(self.pending.drain(..));
        if out.len() == before {
            match self.rx.recv().await {
                Some(b) => out.extend(b),
                None => return 0,
            }
        }
        self.drain_ready(out, before, limit);
        let n = out.len() - before;
        self.room.add_permits(n);
        n
    }

    /// Like [`InboundReceiver::recv_many`] without waiting: 0 if nothing is queued.
    pub fn try_recv_many(&mut self, out: &mut Vec<Inbound>, limit: usize) -> usize {
        let before = out.len();
        out.extend(self.pending.drain(..));
        self.drain_ready(out, before, limit);
        let n = out.len() - before;
        self.room.add_permits(n);
        n
    }

    fn drain_ready(&mut self, out: &mut Vec<Inbound>, before: usize, limit: usize) {
        while out.len() - before < limit {
            match self.rx.try_recv() {
                Ok(b) => out.extend(b),
                Err(_) => break,
            }
        }
    }

    /// The next message, one at a time (None once every sender is gone and the queue is empty).
    pub async fn recv(&mut self) -> Option<Inbound> {
        if self.pending.is_empty() {
            self.pending.extend(self.rx.recv().await?);
        }
        let m = self.pending.pop_front()?;
        self.room.add_permits(1);
        Some(m)
    }
}

impl Drop for InboundReceiver {
    fn drop(&mut self) {
        // Senders waiting for room learn that the DDS side is gone.
        self.room.close();
    }
}

/// The channel pair between the DDS side and the endpoints.
#[derive(Debug, Clone)]
pub struct Hub {
    out: broadcast::Sender<Arc<Outbound>>,
    inbound: mpsc::UnboundedSender<Vec<Inbound>>,
    room: Arc<Semaphore>,
    filters: Arc<Vec<String>>,
}

impl Hub {
    fn new(filters: Vec<String>) -> (Self, InboundReceiver) {
        let (out, _) = broadcast::channel(4096);
        let (inbound, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(INBOUND_CAPACITY));
        let receiver = InboundReceiver { rx, room: room.clone(), pending: std::collections::VecDeque::new() };
        (Self { out, inbound, room, filters: Arc::new(filters) }, receiver)
    }

    /// Messages from DDS from now on. A receiver that falls more than 4096 messages behind
    /// loses the oldest (`RecvError::Lagged`).
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Outbound>> {
        self.out.subscribe()
    }

    /// Hands a client message to the DDS side, waiting while its bounded queue
    /// ([`INBOUND_CAPACITY`]) is full: a fast publisher is slowed down, nothing is dropped. False
    /// only if the DDS side is gone (shutdown). Callers acknowledge the message to its client
    /// after this returns.
    pub async fn to_dds(&self, m: Inbound) -> bool {
        self.to_dds_many(vec![m]).await
    }

    /// Hands client messages to the DDS side in one queue operation (one wake-up of the DDS
    /// side), in order, waiting while the queue has no room for them (more than
    /// [`INBOUND_CAPACITY`] go in several parts). As [`Hub::to_dds`], nothing is dropped; false
    /// only if the DDS side is gone.
    pub async fn to_dds_many(&self, mut msgs: Vec<Inbound>) -> bool {
        while !msgs.is_empty() {
            let n = msgs.len().min(INBOUND_CAPACITY);
            let rest = if n < msgs.len() { msgs.split_off(n) } else { Vec::new() };
            // `n` ≤ INBOUND_CAPACITY, which fits in u32.
            match self.room.acquire_many(u32::try_from(n).unwrap_or(u32::MAX)).await {
                // Given back by the receiver as it takes the messages out.
                Ok(permit) => permit.forget(),
                Err(_) => return false,
            }
            if self.inbound.send(msgs).is_err() {
                return false;
            }
            msgs = rest;
        }
        true
    }

    /// MQTT topic filters whose messages go to DDS (routes towards DDS and the default mapping).
    #[must_use]
    pub fn inbound_filters(&self) -> &[String] {
        &self.filters
    }

    fn publish(&self, m: Outbound) {
        // No receiver: no endpoint is running; nothing to do.
        let _ = self.out.send(Arc::new(m));
    }
}

/// What an endpoint gets to serve its listeners.
#[derive(Clone)]
pub struct EndpointContext {
    /// The hub.
    pub hub: Hub,
    /// Users, passwords and ACLs.
    pub auth: Arc<MemoryAuth>,
    /// Flips to true when the bridge shuts down.
    pub shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for EndpointContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointContext").field("hub", &self.hub).finish_non_exhaustive()
    }
}

/// A protocol endpoint the bridge can start.
pub trait Endpoint: Send + Sync + 'static {
    /// The protocols it serves.
    fn protocols(&self) -> &'static [Protocol];
    /// Binds all `listeners` (all of this endpoint's protocols). The returned future serves
    /// until `ctx.shutdown` turns true and then closes every connection.
    fn bind(
        &self,
        listeners: Vec<ListenerConfig>,
        ctx: EndpointContext,
    ) -> BoxFuture<Result<BoxFuture<()>, BridgeError>>;
}

/// The endpoints available to [`run`].
#[derive(Default)]
pub struct EndpointRegistry {
    endpoints: Vec<Arc<dyn Endpoint>>,
}

impl std::fmt::Debug for EndpointRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p: Vec<&str> = self.endpoints.iter().flat_map(|e| e.protocols().iter().map(|p| p.name())).collect();
        f.debug_struct("EndpointRegistry").field("protocols", &p).finish()
    }
}

impl EndpointRegistry {
    /// A registry with the MQTT, AMQP and STOMP endpoints.
    #[must_use]
    pub fn with_builtin() -> Self {
        let mut r = Self::default();
        r.register(Arc::new(MqttEndpoint::default()));
        r.register(Arc::new(AmqpEndpoint::default()));
        r.register(Arc::new(StompEndpoint::default()));
        r
    }

    /// Adds an endpoint (a later one wins for the same protocol).
    pub fn register(&mut self, e: Arc<dyn Endpoint>) {
        self.endpoints.insert(0, e);
    }

    fn find(&self, p: Protocol) -> Option<&Arc<dyn Endpoint>> {
        self.endpoints.iter().find(|e| e.protocols().contains(&p))
    }
}

/// Creates the DDS participant of a domain.
pub type ParticipantFactory = Arc<dyn Fn(u32) -> Result<DomainParticipant, DdsError> + Send + Sync>;

/// Runs the bridge until `shutdown` completes. Everything is set up (TLS files loaded, every
/// listener bound, the DDS participants created) before anything is served; on any failure
/// nothing keeps running.
pub async fn run(
    cfg: BridgeConfig,
    registry: &EndpointRegistry,
    participants: ParticipantFactory,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BridgeError> {
    // Group the listeners by endpoint.
    let mut groups: Vec<(Arc<dyn Endpoint>, Vec<ListenerConfig>)> = Vec::new();
    for l in &cfg.listeners {
        let e = registry.find(l.protocol).ok_or(BridgeError::NoEndpoint(l.protocol.name()))?;
        if let Some(tls) = &l.tls {
            tls::server_config(tls)?;
        }
        match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, e)) {
            Some((_, v)) => v.push(l.clone()),
            None => groups.push((e.clone(), vec![l.clone()])),
        }
    }
    let auth = Arc::new(cfg.authenticator()?);
    let filters = dds_side::inbound_filters(&cfg);
    let (hub, inbound_rx) = Hub::new(filters);
    let (stop_tx, stop_rx) = watch::channel(false);
    let side = dds_side::DdsSide::start(&cfg, &participants, hub.clone(), inbound_rx, stop_rx.clone())?;
    let mut serving = Vec::new();
    for (e, listeners) in groups {
        let ctx = EndpointContext { hub: hub.clone(), auth: auth.clone(), shutdown: stop_rx.clone() };
        serving.push(e.bind(listeners, ctx).await?);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for f in serving {
        tasks.spawn(f);
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while tasks.join_next().await.is_some() {} }).await;
    side.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests;
