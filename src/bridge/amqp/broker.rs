//! The shared AMQP model: exchanges, queues, bindings, consumers and the durable store.
//!
//! The broker is plain data with no sockets and no clock: calls that depend on time take `now`.
//! The server keeps it behind a `std::sync::Mutex`, locked only between awaits. The durable
//! store (if configured) is written synchronously from here, one `write` per operation.
//!
//! # Delivery and flow control
//! Each connection has an outbox (a queue of [`Outgoing`] plus a `Notify`). A queue hands a
//! message to a consumer only while that consumer has room: fewer than
//! [`BrokerConfig::consumer_buffer`] deliveries waiting in the outbox, and, with a prefetch
//! set, fewer than prefetch deliveries waiting or unacknowledged (per consumer, and per
//! channel for `basic.qos global=true`). Consumers without room are skipped in the queue's
//! round robin, so a slow consumer only holds back its own deliveries; messages stay in the
//! queue, bounded by `x-max-length` if set.
//!
//! # Interface for the route layer
//! [`AmqpBroker`](super::AmqpBroker) wraps the broker for code outside the AMQP endpoint:
//! `publish_external` injects a message as if a client had published it (but never into a tap,
//! which is the AMQP half of the bridge's loop guard), and `tap_topic` copies every message
//! routed through `amq.topic` whose routing key matches one of a set of binding keys into a
//! bounded channel. DDS topics attach there (MQTT's mapping: topic `a/b` ⇄ key `a.b`; see
//! `bridge::core::amqp_endpoint`).

use super::frames::reply;
use super::routing::{headers_match, topic_matches, x_match};
use super::store::{BindingDef, Definitions, ExchangeDef, QueueDef, Store, StoreError};
use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::{AMQPValue, FieldTable};
use bytes::Bytes;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A protocol error: the reply code and text for channel.close or connection.close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {text}")]
#[non_exhaustive]
pub struct AmqpError {
    /// Reply code (see [`reply`]).
    pub code: u16,
    /// Reply text, starting with the code's symbolic name as RabbitMQ does.
    pub text: String,
}

impl AmqpError {
    /// An error with `code` and `text` (the symbolic name is prefixed).
    #[must_use]
    pub fn new(code: u16, text: impl std::fmt::Display) -> Self {
        Self { code, text: format!("{} - {text}", reply::name(code)) }
    }

    /// Whether this error closes the connection rather than the channel.
    #[must_use]
    pub fn is_hard(&self) -> bool {
        self.code >= 500 || self.code == reply::CONNECTION_FORCED || self.code == reply::INVALID_PATH
    }
}

fn not_found(what: &str, name: &str) -> AmqpError {
    AmqpError::new(reply::NOT_FOUND, format!("no {what} '{name}' in vhost '/'"))
}

/// Broker limits.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Deliveries a consumer may have waiting in its connection's outbox.
    pub consumer_buffer: u32,
    /// Largest message body accepted, in bytes.
    pub max_message_size: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self { consumer_buffer: 256, max_message_size: 128 * 1024 * 1024 }
    }
}

/// A published message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Exchange it was published to.
    pub exchange: Arc<str>,
    /// Routing key.
    pub routing_key: Arc<str>,
    /// Basic properties.
    pub properties: AMQPProperties,
    /// Body.
    pub body: Bytes,
}

impl Message {
    fn persistent(&self) -> bool {
        self.properties.delivery_mode() == &Some(2)
    }
}

/// A message in (or taken from) a queue.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The message.
    pub msg: Arc<Message>,
    /// Broker-wide id (the store's record id).
    pub id: u64,
    /// Delivered before.
    pub redelivered: bool,
    /// Per-queue TTL or per-message expiration.
    pub expires_at: Option<Instant>,
    /// Written to the store.
    pub stored: bool,
}

/// A message on its way to a consumer.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Channel of the consumer.
    pub channel: u16,
    /// Consumer tag.
    pub consumer_tag: Arc<str>,
    /// Source queue.
    pub queue: Arc<str>,
    /// The message.
    pub item: Queued,
    /// Consumer does not acknowledge.
    pub no_ack: bool,
}

/// What a connection task has to send, in order.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// basic.deliver.
    Deliver(Delivery),
    /// Server-side basic.cancel (the queue went away).
    Cancel {
        /// Channel.
        channel: u16,
        /// Consumer tag.
        consumer_tag: Arc<str>,
    },
}

/// Exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Exact routing-key match.
    Direct,
    /// Dot-separated words with `*` and `#`.
    Topic,
    /// Every binding.
    Fanout,
    /// Header table match.
    Headers,
}

impl ExchangeKind {
    /// Parses a type name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "direct" => Self::Direct,
            "topic" => Self::Topic,
            "fanout" => Self::Fanout,
            "headers" => Self::Headers,
            _ => return None,
        })
    }

    /// The type name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Topic => "topic",
            Self::Fanout => "fanout",
            Self::Headers => "headers",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Binding {
    dest: Arc<str>,
    to_exchange: bool,
    key: String,
    args: FieldTable,
}

/// A message copied out of `amq.topic` for the route layer.
#[derive(Debug, Clone)]
pub struct TappedMessage {
    /// Routing key.
    pub routing_key: Arc<str>,
    /// Properties.
    pub properties: AMQPProperties,
    /// Body.
    pub body: Bytes,
}

struct Tap {
    patterns: Vec<String>,
    tx: tokio::sync::mpsc::Sender<TappedMessage>,
}

struct Exchange {
    kind: ExchangeKind,
    durable: bool,
    auto_delete: bool,
    internal: bool,
    arguments: FieldTable,
    bindings: Vec<Binding>,
    taps: Vec<Tap>,
}

/// Identifies a consumer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerKey {
    /// Connection id.
    pub conn: u64,
    /// Channel.
    pub channel: u16,
    /// Consumer tag.
    pub tag: Arc<str>,
}

struct Consumer {
    queue: Arc<str>,
    no_ack: bool,
    prefetch: u16,
    pending: u32,
    unacked: u32,
}

#[derive(Default)]
struct ChannelInfo {
    consumer_prefetch: u16,
    global_prefetch: u16,
    pending: u32,
    unacked: u32,
    paused: bool,
}

struct Queue {
    durable: bool,
    owner: Option<u64>,
    auto_delete: bool,
    arguments: FieldTable,
    ttl: Option<Duration>,
    max_length: Option<usize>,
    expires: Option<Duration>,
    last_used: Instant,
    messages: VecDeque<Queued>,
    consumers: Vec<ConsumerKey>,
    rr: usize,
    had_consumer: bool,
    exclusive_consumer: bool,
}

struct ConnOutbox {
    items: VecDeque<Outgoing>,
    notify: Arc<Notify>,
}

/// Result of routing a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    /// Queues the message was enqueued on.
    pub queues: usize,
    /// Whether every store write succeeded and every DDS tap took its copy (a confirm is a nack
    /// otherwise).
    pub stored_ok: bool,
}

/// What happens to an unacknowledged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Acknowledged: gone.
    Ack,
    /// Rejected without requeue: gone.
    Drop,
    /// Back to the queue, marked redelivered.
    Requeue,
}

/// Options of queue.declare.
#[derive(Debug, Clone, Default)]
pub struct QueueOptions {
    /// Only check existence.
    pub passive: bool,
    /// Survive restarts.
    pub durable: bool,
    /// Owned by the declaring connection.
    pub exclusive: bool,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// Arguments (`x-message-ttl`, `x-max-length`, `x-expires`, `x-overflow`).
    pub arguments: FieldTable,
}

/// The AMQP broker state (see the module docs).
pub struct Broker {
    cfg: BrokerConfig,
    exchanges: HashMap<Arc<str>, Exchange>,
    queues: HashMap<Arc<str>, Queue>,
    consumers: HashMap<ConsumerKey, Consumer>,
    channels: HashMap<(u64, u16), ChannelInfo>,
    outboxes: HashMap<u64, ConnOutbox>,
    store: Option<Store>,
    next_id: u64,
    next_conn: u64,
    /// Store write failures since start.
    pub store_errors: u64,
    /// Copies a full DDS tap refused (their publishes were nacked to publishers with confirms).
    pub tap_overflows: u64,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("exchanges", &self.exchanges.len())
            .field("queues", &self.queues.len())
            .field("consumers", &self.consumers.len())
            .finish_non_exhaustive()
    }
}

fn int_arg(args: &FieldTable, key: &str) -> Result<Option<i128>, AmqpError> {
    let Some(v) = args.inner().get(key) else { return Ok(None) };
    let n = match v {
        AMQPValue::ShortShortInt(x) => i128::from(*x),
        AMQPValue::ShortShortUInt(x) => i128::from(*x),
        AMQPValue::ShortInt(x) => i128::from(*x),
        AMQPValue::ShortUInt(x) => i128::from(*x),
        AMQPValue::LongInt(x) => i128::from(*x),
        AMQPValue::LongUInt(x) => i128::from(*x),
        AMQPValue::LongLongInt(x) => i128::from(*x),
        other => {
            return Err(AmqpError::new(
                reply::PRECONDITION_FAILED,
                format!("invalid arg '{key}' for queue: {other:?} is not an integer"),
            ))
        }
    };
    Ok(Some(n))
}

fn args_eq(a: &FieldTable, b: &FieldTable) -> bool {
    a == b
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22).map(|_| ALPHABET[rand::random::<usize>() % 64] as char).collect()
}

/// Parses the `expiration` property (milliseconds as a decimal string).
pub fn parse_expiration(props: &AMQPProperties) -> Result<Option<Duration>, AmqpError> {
    match props.expiration() {
        None => Ok(None),
        Some(s) => s
            .as_str()
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| AmqpError::new(reply::PRECONDITION_FAILED, format!("invalid expiration '{}'", s.as_str()))),
    }
}

impl Broker {
    /// A broker without persistence, with the standard exchanges.
    #[must_use]
    pub fn new(cfg: BrokerConfig) -> Self {
        let mut b = Self {
            cfg,
            exchanges: HashMap::new(),
            queues: HashMap::new(),
            consumers: HashMap::new(),
            channels: HashMap::new(),
            outboxes: HashMap::new(),
            store: None,
            next_id: 1,
            next_conn: 1,
            store_errors: 0,
            tap_overflows: 0,
        };
        for (name, kind) in [
            ("", ExchangeKind::Direct),
            ("amq.direct", ExchangeKind::Direct),
            ("amq.topic", ExchangeKind::Topic),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.headers", ExchangeKind::Headers),
            ("amq.match", ExchangeKind::Headers),
        ] {
            b.exchanges.insert(
                Arc::from(name),
                Exchange {
                    kind,
                    durable: true,
                    auto_delete: false,
                    internal: false,
                    arguments: FieldTable::default(),
                    bindings: Vec::new(),
                    taps: Vec::new(),
                },
            );
        }
        b
    }

    /// A broker persisting durable entities and persistent messages in `dir`, restoring what
    /// a previous run left there.
    pub fn open(cfg: BrokerConfig, dir: &Path, now: Instant) -> Result<Self, StoreError> {
        let (store, defs, mut messages) = Store::open(dir)?;
        let mut b = Self::new(cfg);
        for e in defs.exchanges {
            let Some(kind) = ExchangeKind::parse(&e.kind) else { continue };
            b.exchanges.insert(
                Arc::from(e.name.as_str()),
                Exchange {
                    kind,
                    durable: true,
                    auto_delete: e.auto_delete,
                    internal: e.internal,
                    arguments: e.arguments,
                    bindings: Vec::new(),
                    taps: Vec::new(),
                },
            );
        }
        for q in defs.queues {
            let opts = QueueOptions {
                durable: true,
                auto_delete: q.auto_delete,
                arguments: q.arguments,
                ..Default::default()
            };
            let Ok(name) = b.declare_queue(now, 0, &q.name, &opts).map(|r| r.0) else { continue };
            let Some(queue) = b.queues.get_mut(&name) else { continue };
            for m in messages.remove(&q.name).unwrap_or_default() {
                b.next_id = b.next_id.max(m.id + 1);
                let msg = Message {
                    exchange: Arc::from(m.exchange.as_str()),
                    routing_key: Arc::from(m.routing_key.as_str()),
                    properties: m.properties,
                    body: m.body,
                };
                queue.messages.push_back(Queued {
                    msg: Arc::new(msg),
                    id: m.id,
                    redelivered: false,
                    expires_at: None,
                    stored: true,
                });
            }
        }
        for bd in defs.bindings {
            if let Some(x) = b.exchanges.get_mut(bd.source.as_str()) {
                x.bindings.push(Binding {
                    dest: Arc::from(bd.destination.as_str()),
                    to_exchange: bd.to_exchange,
                    key: bd.routing_key,
                    args: bd.arguments,
                });
            }
        }
        b.store = Some(store);
        Ok(b)
    }

    /// Registers a connection; returns its id and the `Notify` woken when its outbox fills.
    pub fn connect(&mut self) -> (u64, Arc<Notify>) {
        let id = self.next_conn;
        self.next_conn += 1;
        let notify = Arc::new(Notify::new());
        self.outboxes.insert(id, ConnOutbox { items: VecDeque::new(), notify: notify.clone() });
        (id, notify)
    }

    fn save_definitions(&mut self) {
        let Some(store) = &self.store else { return };
        let mut defs = Definitions::default();
        for (name, x) in &self.exchanges {
            if x.durable && !name.is_empty() && !name.starts_with("amq.") {
                defs.exchanges.push(ExchangeDef {
                    name: name.to_string(),
                    kind: x.kind.name().into(),
                    auto_delete: x.auto_delete,
                    internal: x.internal,
                    arguments: x.arguments.clone(),
                });
            }
        }
        for (name, q) in &self.queues {
            if q.durable && q.owner.is_none() {
                defs.queues.push(QueueDef {
                    name: name.to_string(),
                    auto_delete: q.auto_delete,
                    arguments: q.arguments.clone(),
                });
            }
        }
        for (src, x) in &self.exchanges {
            if !x.durable {
                continue;
            }
            for bd in &x.bindings {
                let durable = if bd.to_exchange {
                    self.exchanges.get(&bd.dest).is_some_and(|d| d.durable)
                } else {
                    self.queues.get(&bd.dest).is_some_and(|q| q.durable && q.owner.is_none())
                };
                if durable {
                    defs.bindings.push(BindingDef {
                        source: src.to_string(),
                        destination: bd.dest.to_string(),
                        to_exchange: bd.to_exchange,
                        routing_key: bd.key.clone(),
                        arguments: bd.args.clone(),
                    });
                }
            }
        }
        defs.exchanges.sort_by(|a, b| a.name.cmp(&b.name));
        defs.queues.sort_by(|a, b| a.name.cmp(&b.name));
        if let Err(e) = store.save_definitions(&defs) {
            self.store_errors += 1;
            tracing::warn!("AMQP store: {e}");
        }
    }

    // ---- exchanges -------------------------------------------------------------------------

    /// exchange.declare.
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    pub fn declare_exchange(
        &mut self,
        name: &str,
        kind: &str,
        passive: bool,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: &FieldTable,
    ) -> Result<(), AmqpError> {
        if let Some(x) = self.exchanges.get(name) {
            if passive {
                return Ok(());
            }
            if name.is_empty() || name.starts_with("amq.") {
                if x.kind.name() == kind && x.durable == durable && !auto_delete && !internal {
                    return Ok(());
                }
                return Err(AmqpError::new(
                    reply::ACCESS_REFUSED,
                    format!("exchange name '{name}' contains reserved prefix 'amq.*'"),
                ));
            }
            let mismatch = if x.kind.name() != kind {
                Some(("type", x.kind.name().to_owned(), kind.to_owned()))
            } else if x.durable != durable {
                Some(("durable", x.durable.to_string(), durable.to_string()))
            } else if x.auto_delete != auto_delete {
                Some(("auto_delete", x.auto_delete.to_string(), auto_delete.to_string()))
            } else if x.internal != internal {
                Some(("internal", x.internal.to_string(), internal.to_string()))
            } else {
                None
            };
            if let Some((what, cur, got)) = mismatch {
                return Err(AmqpError::new(
                    reply::PRECONDITION_FAILED,
                    format!(
                        "inequivalent arg '{what}' for exchange '{name}' in vhost '/': received '{got}' but current is '{cur}'"
                    ),
                ));
            }
            return Ok(());
        }
        if passive {
            return Err(not_found("exchange", name));
        }
        if name.is_empty() || name.starts_with("amq.") {
            return Err(AmqpError::new(
                reply::ACCESS_REFUSED,
                format!("exchange name '{name}' contains reserved prefix 'amq.*'"),
            ));
        }
        let Some(k) = ExchangeKind::parse(kind) else {
            return Err(AmqpError::new(reply::COMMAND_INVALID, format!("invalid exchange type '{kind}'")));
        };
        self.exchanges.insert(
            Arc::from(name),
            Exchange {
                kind: k,
                durable,
                auto_delete,
                internal,
                arguments: arguments.clone(),
                bindings: Vec::new(),
                taps: Vec::new(),
            },
        );
        if durable {
            self.save_definitions();
        }
        Ok(())
    }

    /// exchange.delete. Deleting an exchange that does not exist succeeds.
    pub fn delete_exchange(&mut self, name: &str, if_unused: bool) -> Result<(), AmqpError> {
        if name.is_empty() || name.starts_with("amq.") {
            return Err(AmqpError::new(reply::ACCESS_REFUSED, format!("operation not permitted on exchange '{name}'")));
        }
        let Some(x) = self.exchanges.get(name) else { return Ok(()) };
        if if_unused && !x.bindings.is_empty() {
            return Err(AmqpError::new(reply::PRECONDITION_FAILED, format!("exchange '{name}' in vhost '/' in use")));
        }
        let durable = x.durable;
        self.exchanges.remove(name);
        self.remove_bindings_to(name, true);
        if durable {
            self.save_definitions();
        }
        Ok(())
    }

    /// Removes every binding whose destination is `dest`; auto-delete exchanges left without
    /// bindings go too.
    fn remove_bindings_to(&mut self, dest: &str, to_exchange: bool) {
        let mut emptied = Vec::new();
        for (name, x) in &mut self.exchanges {
            let before = x.bindings.len();
            x.bindings.retain(|b| !(b.to_exchange == to_exchange && &*b.dest == dest));
            if x.auto_delete && before > 0 && x.bindings.is_empty() {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            self.exchanges.remove(&name);
            self.remove_bindings_to(&name, true);
        }
    }

    fn check_bindable(&self, source: &str) -> Result<(), AmqpError> {
        if source.is_empty() {
            return Err(AmqpError::new(reply::ACCESS_REFUSED, "operation not permitted on the default exchange"));
        }
        if !self.exchanges.contains_key(source) {
            return Err(not_found("exchange", source));
        }
        Ok(())
    }

    fn add_binding(&mut self, source: &str, b: Binding) -> Result<(), AmqpError> {
        if let Some(x) = self.exchanges.get(source) {
            if x.kind == ExchangeKind::Headers {
                x_match(&b.args).map_err(|e| AmqpError::new(reply::PRECONDITION_FAILED, e))?;
            }
        }
        let Some(x) = self.exchanges.get_mut(source) else { return Err(not_found("exchange", source)) };
        if !x.bindings.contains(&b) {
            let durable = x.durable;
            x.bindings.push(b);
            if durable {
                self.save_definitions();
            }
        }
        Ok(())
    }

    fn remove_binding(&mut self, source: &str, b: &Binding) {
        let Some(x) = self.exchanges.get_mut(source) else { return };
        let before = x.bindings.len();
        x.bindings.retain(|e| e != b);
        let removed = x.bindings.len() != before;
        if removed && x.auto_delete && x.bindings.is_empty() {
            self.exchanges.remove(source);
            self.remove_bindings_to(source, true);
        }
        if removed {
            self.save_definitions();
        }
    }

    /// exchange.bind (destination ← source).
    pub fn bind_exchange(
        &mut self,
        destination: &str,
        source: &str,
        key: &str,
        args: &FieldTable,
    ) -> Result<(), AmqpError> {
        self.check_bindable(source)?;
        self.check_bindable(destination)?;
        self.add_binding(
            source,
            Binding { dest: Arc::from(destination), to_exchange: true, key: key.into(), args: args.clone() },
        )
    }

    /// exchange.unbind.
    pub fn unbind_exchange(
        &mut self,
        destination: &str,
        source: &str,
        key: &str,
        args: &FieldTable,
    ) -> Result<(), AmqpError> {
        self.check_bindable(source)?;
        self.check_bindable(destination)?;
        let b = Binding { dest: Arc::from(destination), to_exchange: true, key: key.into(), args: args.clone() };
        self.remove_binding(source, &b);
        Ok(())
    }

    // ---- queues ----------------------------------------------------------------------------

    fn queue_access(&self, conn: u64, name: &str) -> Result<&Queue, AmqpError> {
        let q = self.queues.get(name).ok_or_else(|| not_found("queue", name))?;
        match q.owner {
            Some(o) if o != conn => Err(AmqpError::new(
                reply::RESOURCE_LOCKED,
                format!("cannot obtain exclusive access to locked queue '{name}' in vhost '/'"),
            )),
            _ => Ok(q),
        }
    }

    /// queue.declare: returns the name (generated for an empty one), message and consumer
    /// counts.
    pub fn declare_queue(
        &mut self,
        now: Instant,
        conn: u64,
        name: &str,
        o: &QueueOptions,
    ) -> Result<(Arc<str>, u32, u32), AmqpError> {
        if let Some(q) = self.queues.get(name) {
            self.queue_access(conn, name)?;
            if !o.passive {
                let mismatch = if q.durable != o.durable {
                    Some(("durable", q.durable, o.durable))
                } else if q.owner.is_some() != o.exclusive {
                    Some(("exclusive", q.owner.is_some(), o.exclusive))
                } else if q.auto_delete != o.auto_delete {
                    Some(("auto_delete", q.auto_delete, o.auto_delete))
                } else {
                    None
                };
                if let Some((what, cur, got)) = mismatch {
                    return Err(AmqpError::new(
                        reply::PRECONDITION_FAILED,
                        format!(
                            "inequivalent arg '{what}' for queue '{name}' in vhost '/': received '{got}' but current is '{cur}'"
                        ),
                    ));
                }
                if !args_eq(&q.arguments, &o.arguments) {
                    return Err(AmqpError::new(
                        reply::PRECONDITION_FAILED,
                        format!("inequivalent arguments for queue '{name}' in vhost '/'"),
                    ));
                }
            }
            let (key, q) = self.queues.get_key_value(name).ok_or_else(|| not_found("queue", name))?;
            let r = (key.clone(), q.messages.len() as u32, q.consumers.len() as u32);
            if let Some(q) = self.queues.get_mut(name) {
                q.last_used = now;
            }
            return Ok(r);
        }
        if o.passive {
            return Err(not_found("queue", name));
        }
        if name.starts_with("amq.") {
            return Err(AmqpError::new(
                reply::ACCESS_REFUSED,
                format!("queue name '{name}' contains reserved prefix 'amq.*'"),
            ));
        }
        let ttl = int_arg(&o.arguments, "x-message-ttl")?;
        let max_length = int_arg(&o.arguments, "x-max-length")?;
        let expires = int_arg(&o.arguments, "x-expires")?;
        let bad =
            |what: &str| AmqpError::new(reply::PRECONDITION_FAILED, format!("invalid arg '{what}' for queue '{name}'"));
        if ttl.is_some_and(|v| !(0..=i128::from(u32::MAX)).contains(&v)) {
            return Err(bad("x-message-ttl"));
        }
        if max_length.is_some_and(|v| v < 0) {
            return Err(bad("x-max-length"));
        }
        if expires.is_some_and(|v| !(1..=i128::from(u32::MAX)).contains(&v)) {
            return Err(bad("x-expires"));
        }
        match o.arguments.inner().get("x-overflow") {
            None => {}
            Some(AMQPValue::LongString(s)) if s.as_bytes() == b"drop-head" => {}
            Some(AMQPValue::ShortString(s)) if s.as_str() == "drop-head" => {}
            Some(_) => return Err(bad("x-overflow")),
        }
        let name: Arc<str> =
            if name.is_empty() { Arc::from(format!("amq.gen-{}", random_suffix())) } else { Arc::from(name) };
        let exclusive = o.exclusive;
        self.queues.insert(
            name.clone(),
            Queue {
                durable: o.durable,
                owner: exclusive.then_some(conn),
                auto_delete: o.auto_delete,
                arguments: o.arguments.clone(),
                ttl: ttl.map(|v| Duration::from_millis(v as u64)),
                max_length: max_length.map(|v| usize::try_from(v).unwrap_or(usize::MAX)),
                expires: expires.map(|v| Duration::from_millis(v as u64)),
                last_used: now,
                messages: VecDeque::new(),
                consumers: Vec::new(),
                rr: 0,
                had_consumer: false,
                exclusive_consumer: false,
            },
        );
        // Every queue is bound to the default exchange by its name (implicitly, in routing).
        if o.durable && !exclusive {
            self.save_definitions();
        }
        Ok((name, 0, 0))
    }

    /// queue.bind.
    pub fn bind_queue(
        &mut self,
        conn: u64,
        queue: &str,
        exchange: &str,
        key: &str,
        args: &FieldTable,
    ) -> Result<(), AmqpError> {
        self.queue_access(conn, queue)?;
        self.check_bindable(exchange)?;
        self.add_binding(
            exchange,
            Binding { dest: Arc::from(queue), to_exchange: false, key: key.into(), args: args.clone() },
        )
    }

    /// queue.unbind.
    pub fn unbind_queue(
        &mut self,
        conn: u64,
        queue: &str,
        exchange: &str,
        key: &str,
        args: &FieldTable,
    ) -> Result<(), AmqpError> {
        self.queue_access(conn, queue)?;
        self.check_bindable(exchange)?;
        let b = Binding { dest: Arc::from(queue), to_exchange: false, key: key.into(), args: args.clone() };
        self.remove_binding(exchange, &b);
        Ok(())
    }

    /// queue.purge: removes ready messages, returns how many.
    pub fn purge_queue(&mut self, conn: u64, name: &str) -> Result<u32, AmqpError> {
        self.queue_access(conn, name)?;
        let Some(q) = self.queues.get_mut(name) else { return Err(not_found("queue", name)) };
        let drained: Vec<Queued> = q.messages.drain(..).collect();
        for m in &drained {
            self.unstore(name, m);
        }
        Ok(drained.len() as u32)
    }

    /// queue.delete: returns the number of ready messages deleted. Deleting a queue that does
    /// not exist succeeds with 0.
    pub fn delete_queue(&mut self, conn: u64, name: &str, if_unused: bool, if_empty: bool) -> Result<u32, AmqpError> {
        if !self.queues.contains_key(name) {
            return Ok(0);
        }
        let q = self.queue_access(conn, name)?;
        if if_unused && !q.consumers.is_empty() {
            return Err(AmqpError::new(reply::PRECONDITION_FAILED, format!("queue '{name}' in vhost '/' in use")));
        }
        if if_empty && !q.messages.is_empty() {
            return Err(AmqpError::new(
                reply::PRECONDITION_FAILED,
                format!("queue '{name}' in vhost '/' is not empty"),
            ));
        }
        Ok(self.remove_queue(name))
    }

    fn remove_queue(&mut self, name: &str) -> u32 {
        let Some(q) = self.queues.remove(name) else { return 0 };
        for key in &q.consumers {
            if let Some(c) = self.consumers.remove(key) {
                if let Some(ch) = self.channels.get_mut(&(key.conn, key.channel)) {
                    ch.pending = ch.pending.saturating_sub(c.pending);
                }
            }
            if let Some(ob) = self.outboxes.get_mut(&key.conn) {
                ob.items.retain(
                    |o| !matches!(o, Outgoing::Deliver(d) if d.channel == key.channel && d.consumer_tag == key.tag),
                );
                ob.items.push_back(Outgoing::Cancel { channel: key.channel, consumer_tag: key.tag.clone() });
                ob.notify.notify_one();
            }
        }
        if let Some(store) = &mut self.store {
            store.drop_queue(name);
        }
        self.remove_bindings_to(name, false);
        if q.durable {
            self.save_definitions();
        }
        q.messages.len() as u32
    }

    fn unstore(&mut self, queue: &str, m: &Queued) {
        if !m.stored {
            return;
        }
        if let Some(store) = &mut self.store {
            if let Err(e) = store.remove(queue, m.id) {
                self.store_errors += 1;
                tracing::warn!("AMQP store: {e}");
            }
        }
    }

    // ---- publishing ------------------------------------------------------------------------

    /// Checks that a client may publish to `exchange`.
    pub fn check_publish(&self, exchange: &str) -> Result<(), AmqpError> {
        match self.exchanges.get(exchange) {
            None => Err(not_found("exchange", exchange)),
            Some(x) if x.internal => Err(AmqpError::new(
                reply::ACCESS_REFUSED,
                format!("cannot publish to internal exchange '{exchange}' in vhost '/'"),
            )),
            Some(_) => Ok(()),
        }
    }

    fn route(&self, exchange: &str, msg: &Message, out: &mut Vec<Arc<str>>, seen: &mut HashSet<Arc<str>>) {
        let Some((xname, x)) = self.exchanges.get_key_value(exchange) else { return };
        if !seen.insert(xname.clone()) {
            return;
        }
        if exchange.is_empty() {
            if let Some((qn, _)) = self.queues.get_key_value(&*msg.routing_key) {
                out.push(qn.clone());
            }
            return;
        }
        for b in &x.bindings {
            let hit = match x.kind {
                ExchangeKind::Direct => b.key == *msg.routing_key,
                ExchangeKind::Fanout => true,
                ExchangeKind::Topic => topic_matches(&b.key, &msg.routing_key),
                ExchangeKind::Headers => headers_match(&b.args, msg.properties.headers().as_ref()),
            };
            if !hit {
                continue;
            }
            if b.to_exchange {
                self.route(&b.dest, msg, out, seen);
            } else if !out.contains(&b.dest) {
                out.push(b.dest.clone());
            }
        }
    }

    /// Copies `msg` into the matching taps; false when a tap was full and did not take it.
    fn feed_taps(&mut self, exchange: &str, msg: &Message) -> bool {
        let Some(x) = self.exchanges.get_mut(exchange) else { return true };
        x.taps.retain(|t| !t.tx.is_closed());
        let mut all = true;
        for t in &x.taps {
            if t.patterns.iter().any(|p| topic_matches(p, &msg.routing_key)) {
                let copy = TappedMessage {
                    routing_key: msg.routing_key.clone(),
                    properties: msg.properties.clone(),
                    body: msg.body.clone(),
                };
                if t.tx.try_send(copy).is_err() {
                    all = false;
                }
            }
        }
        if !all {
            self.tap_overflows += 1;
        }
        all
    }

    /// Routes and enqueues a message. The exchange must exist (see [`Self::check_publish`]).
    pub fn publish(&mut self, now: Instant, msg: Message) -> Result<Routed, AmqpError> {
        self.publish_with(now, msg, true)
    }

    /// Like [`Self::publish`], but the message is not copied to any tap: for messages the route
    /// layer injects, so that they never return to where they came from.
    pub fn publish_untapped(&mut self, now: Instant, msg: Message) -> Result<Routed, AmqpError> {
        self.publish_with(now, msg, false)
    }

    fn publish_with(&mut self, now: Instant, msg: Message, tapped: bool) -> Result<Routed, AmqpError> {
        if !self.exchanges.contains_key(&*msg.exchange) {
            return Err(not_found("exchange", &msg.exchange));
        }
        let expiration = parse_expiration(&msg.properties)?;
        let mut targets = Vec::new();
        let mut seen = HashSet::new();
        self.route(&msg.exchange, &msg, &mut targets, &mut seen);
        // A DDS tap that is full refuses the copy: the publisher's confirm becomes a nack, so a client
        // using confirms never has a message acknowledged that did not reach the DDS side.
        let mut stored_ok = true;
        if tapped {
            for x in &seen {
                if self.exchanges.get(x).is_some_and(|e| !e.taps.is_empty()) {
                    let x = x.clone();
                    stored_ok &= self.feed_taps(&x, &msg);
                }
            }
        }
        let msg = Arc::new(msg);
        let id = self.next_id;
        self.next_id += 1;
        for qn in &targets {
            let Some(q) = self.queues.get_mut(qn) else { continue };
            let ttl = match (q.ttl, expiration) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if ttl == Some(Duration::ZERO) && q.consumers.is_empty() {
                // RabbitMQ drops a zero-TTL message that cannot be delivered at once.
                continue;
            }
            let stored = q.durable && q.owner.is_none() && msg.persistent() && self.store.is_some();
            let item = Queued { msg: msg.clone(), id, redelivered: false, expires_at: ttl.map(|t| now + t), stored };
            q.messages.push_back(item);
            let mut dropped = Vec::new();
            if let Some(max) = q.max_length {
                while q.messages.len() > max {
                    if let Some(m) = q.messages.pop_front() {
                        dropped.push(m);
                    }
                }
            }
            if stored {
                if let Some(store) = &mut self.store {
                    if let Err(e) = store.append(qn, id, &msg.exchange, &msg.routing_key, &msg.properties, &msg.body) {
                        self.store_errors += 1;
                        stored_ok = false;
                        tracing::warn!("AMQP store: {e}");
                    }
                }
            }
            for m in dropped {
                self.unstore(qn, &m);
            }
            self.dispatch(now, qn);
        }
        Ok(Routed { queues: targets.len(), stored_ok })
    }

    // ---- consuming -------------------------------------------------------------------------

    /// basic.qos for a channel.
    pub fn qos(&mut self, conn: u64, channel: u16, prefetch: u16, global: bool) {
        let ch = self.channels.entry((conn, channel)).or_default();
        if global {
            ch.global_prefetch = prefetch;
        } else {
            ch.consumer_prefetch = prefetch;
        }
        let queues: Vec<Arc<str>> = self
            .consumers
            .iter()
            .filter(|(k, _)| k.conn == conn && k.channel == channel)
            .map(|(_, c)| c.queue.clone())
            .collect();
        for q in queues {
            self.dispatch_now(&q);
        }
    }

    /// channel.flow from the client: pause or resume deliveries on a channel.
    pub fn set_flow(&mut self, conn: u64, channel: u16, active: bool) {
        self.channels.entry((conn, channel)).or_default().paused = !active;
        if active {
            self.redispatch_channel(conn, channel);
        }
    }

    fn redispatch_channel(&mut self, conn: u64, channel: u16) {
        let queues: Vec<Arc<str>> = self
            .consumers
            .iter()
            .filter(|(k, _)| k.conn == conn && k.channel == channel)
            .map(|(_, c)| c.queue.clone())
            .collect();
        for q in queues {
            self.dispatch_now(&q);
        }
    }

    /// basic.consume: returns the consumer tag (generated for an empty one).
    #[allow(clippy::too_many_arguments)]
    pub fn consume(
        &mut self,
        now: Instant,
        conn: u64,
        channel: u16,
        queue: &str,
        tag: &str,
        no_ack: bool,
        exclusive: bool,
    ) -> Result<Arc<str>, AmqpError> {
        let q = self.queue_access(conn, queue)?;
        if q.exclusive_consumer || (exclusive && !q.consumers.is_empty()) {
            return Err(AmqpError::new(
                reply::ACCESS_REFUSED,
                format!("queue '{queue}' in vhost '/' in exclusive use"),
            ));
        }
        let tag: Arc<str> =
            if tag.is_empty() { Arc::from(format!("amq.ctag-{}", random_suffix())) } else { Arc::from(tag) };
        let key = ConsumerKey { conn, channel, tag: tag.clone() };
        if self.consumers.contains_key(&key) {
            return Err(AmqpError::new(reply::NOT_ALLOWED, format!("attempt to reuse consumer tag '{tag}'")));
        }
        let prefetch = self.channels.entry((conn, channel)).or_default().consumer_prefetch;
        let qname =
            self.queues.get_key_value(queue).map(|(k, _)| k.clone()).ok_or_else(|| not_found("queue", queue))?;
        self.consumers.insert(key.clone(), Consumer { queue: qname.clone(), no_ack, prefetch, pending: 0, unacked: 0 });
        if let Some(q) = self.queues.get_mut(queue) {
            q.consumers.push(key);
            q.had_consumer = true;
            q.exclusive_consumer = exclusive;
            q.last_used = now;
        }
        self.dispatch(now, &qname);
        Ok(tag)
    }

    /// basic.cancel (or the end of a channel): removes the consumer; deliveries still in the
    /// outbox go back to the queue. Unknown tags are ignored.
    pub fn cancel(&mut self, now: Instant, conn: u64, channel: u16, tag: &str) {
        let key = ConsumerKey { conn, channel, tag: Arc::from(tag) };
        let Some(c) = self.consumers.remove(&key) else { return };
        let mut back = Vec::new();
        if let Some(ob) = self.outboxes.get_mut(&conn) {
            ob.items.retain(|o| match o {
                Outgoing::Deliver(d) if d.channel == channel && *d.consumer_tag == *tag => {
                    back.push(d.item.clone());
                    false
                }
                _ => true,
            });
        }
        if let Some(ch) = self.channels.get_mut(&(conn, channel)) {
            ch.pending = ch.pending.saturating_sub(c.pending);
            ch.unacked = ch.unacked.saturating_sub(c.unacked);
        }
        if let Some(q) = self.queues.get_mut(&c.queue) {
            q.consumers.retain(|k| *k != key);
            q.exclusive_consumer = false;
            q.last_used = now;
            for item in back.into_iter().rev() {
                q.messages.push_front(item);
            }
            if q.auto_delete && q.had_consumer && q.consumers.is_empty() {
                self.remove_queue(&c.queue);
                return;
            }
        }
        self.dispatch(now, &c.queue);
    }

    fn eligible(&self, key: &ConsumerKey) -> bool {
        let Some(c) = self.consumers.get(key) else { return false };
        let ch = self.channels.get(&(key.conn, key.channel));
        if ch.is_some_and(|ch| ch.paused) || c.pending >= self.cfg.consumer_buffer {
            return false;
        }
        if !c.no_ack && c.prefetch > 0 && c.pending + c.unacked >= u32::from(c.prefetch) {
            return false;
        }
        !matches!(ch, Some(ch) if !c.no_ack && ch.global_prefetch > 0 && ch.pending + ch.unacked >= u32::from(ch.global_prefetch))
    }

    fn drop_expired(&mut self, now: Instant, queue: &str) {
        let mut gone = Vec::new();
        if let Some(q) = self.queues.get_mut(queue) {
            // Expired messages leave from the head, as in RabbitMQ.
            while q.messages.front().is_some_and(|m| m.expires_at.is_some_and(|t| t <= now)) {
                if let Some(m) = q.messages.pop_front() {
                    gone.push(m);
                }
            }
        }
        for m in gone {
            self.unstore(queue, &m);
        }
    }

    fn dispatch_now(&mut self, queue: &str) {
        // Without a clock at hand, expiry is left to the next timed call.
        self.dispatch_inner(None, queue);
    }

    /// Hands ready messages of `queue` to consumers with room.
    pub fn dispatch(&mut self, now: Instant, queue: &str) {
        self.dispatch_inner(Some(now), queue);
    }

    fn dispatch_inner(&mut self, now: Option<Instant>, queue: &str) {
        if let Some(now) = now {
            self.drop_expired(now, queue);
        }
        loop {
            let Some(q) = self.queues.get(queue) else { return };
            if q.messages.is_empty() || q.consumers.is_empty() {
                return;
            }
            let n = q.consumers.len();
            let start = q.rr % n;
            let Some(idx) = (0..n).map(|i| (start + i) % n).find(|&i| self.eligible(&q.consumers[i])) else { return };
            let key = q.consumers[idx].clone();
            let Some(q) = self.queues.get_mut(queue) else { return };
            q.rr = idx + 1;
            let Some(item) = q.messages.pop_front() else { return };
            let qname = self.queues.get_key_value(queue).map(|(k, _)| k.clone()).unwrap_or_else(|| Arc::from(queue));
            let Some(c) = self.consumers.get_mut(&key) else { return };
            c.pending += 1;
            let no_ack = c.no_ack;
            self.channels.entry((key.conn, key.channel)).or_default().pending += 1;
            if no_ack {
                self.unstore(queue, &item);
            }
            if let Some(ob) = self.outboxes.get_mut(&key.conn) {
                ob.items.push_back(Outgoing::Deliver(Delivery {
                    channel: key.channel,
                    consumer_tag: key.tag.clone(),
                    queue: qname,
                    item,
                    no_ack,
                }));
                ob.notify.notify_one();
            }
        }
    }

    /// Takes up to `max` items from a connection's outbox. Deliveries move from "waiting" to
    /// "unacknowledged" in the flow-control counts.
    pub fn take_outgoing(&mut self, conn: u64, max: usize, out: &mut Vec<Outgoing>) {
        let Some(ob) = self.outboxes.get_mut(&conn) else { return };
        let n = ob.items.len().min(max);
        out.extend(ob.items.drain(..n));
        let mut touched = Vec::new();
        for o in out.iter().rev().take(n) {
            let Outgoing::Deliver(d) = o else { continue };
            let key = ConsumerKey { conn, channel: d.channel, tag: d.consumer_tag.clone() };
            if let Some(c) = self.consumers.get_mut(&key) {
                c.pending = c.pending.saturating_sub(1);
                if !c.no_ack {
                    c.unacked += 1;
                }
                if !touched.contains(&c.queue) {
                    touched.push(c.queue.clone());
                }
            }
            if let Some(ch) = self.channels.get_mut(&(conn, d.channel)) {
                ch.pending = ch.pending.saturating_sub(1);
                if !d.no_ack {
                    ch.unacked += 1;
                }
            }
        }
        for q in touched {
            self.dispatch_now(&q);
        }
    }

    /// basic.get: the next ready message and how many remain.
    pub fn get(
        &mut self,
        now: Instant,
        conn: u64,
        queue: &str,
        no_ack: bool,
    ) -> Result<Option<(Queued, u32)>, AmqpError> {
        self.queue_access(conn, queue)?;
        self.drop_expired(now, queue);
        let Some(q) = self.queues.get_mut(queue) else { return Err(not_found("queue", queue)) };
        q.last_used = now;
        let Some(item) = q.messages.pop_front() else { return Ok(None) };
        let left = q.messages.len() as u32;
        if no_ack {
            self.unstore(queue, &item);
        }
        Ok(Some((item, left)))
    }

    /// Settles one unacknowledged message taken by `consumer` (`None` for basic.get).
    #[allow(clippy::too_many_arguments)]
    pub fn settle(
        &mut self,
        now: Instant,
        conn: u64,
        channel: u16,
        consumer: Option<&Arc<str>>,
        queue: &str,
        mut item: Queued,
        how: Settle,
    ) {
        if let Some(tag) = consumer {
            let key = ConsumerKey { conn, channel, tag: tag.clone() };
            if let Some(c) = self.consumers.get_mut(&key) {
                c.unacked = c.unacked.saturating_sub(1);
            }
            if let Some(ch) = self.channels.get_mut(&(conn, channel)) {
                ch.unacked = ch.unacked.saturating_sub(1);
            }
        }
        match how {
            Settle::Ack | Settle::Drop => self.unstore(queue, &item),
            Settle::Requeue => {
                if let Some(q) = self.queues.get_mut(queue) {
                    item.redelivered = true;
                    q.messages.push_front(item);
                } else {
                    // The queue is gone: so is the message.
                }
            }
        }
        self.dispatch(now, queue);
        if consumer.is_some() {
            self.redispatch_channel(conn, channel);
        }
    }

    /// A channel closed: its consumers go (their waiting deliveries return to the queues).
    /// Unacknowledged messages must be settled with [`Settle::Requeue`] first.
    pub fn close_channel(&mut self, now: Instant, conn: u64, channel: u16) {
        let tags: Vec<Arc<str>> =
            self.consumers.keys().filter(|k| k.conn == conn && k.channel == channel).map(|k| k.tag.clone()).collect();
        for t in tags {
            self.cancel(now, conn, channel, &t);
        }
        self.channels.remove(&(conn, channel));
        if let Some(ob) = self.outboxes.get_mut(&conn) {
            ob.items.retain(|o| !matches!(o, Outgoing::Cancel { channel: c, .. } if *c == channel));
        }
    }

    /// A connection ended: exclusive queues it owned are deleted.
    pub fn disconnect(&mut self, now: Instant, conn: u64) {
        let chans: Vec<u16> = self.channels.keys().filter(|(c, _)| *c == conn).map(|(_, ch)| *ch).collect();
        let tag_chans: Vec<u16> = self.consumers.keys().filter(|k| k.conn == conn).map(|k| k.channel).collect();
        for ch in chans.into_iter().chain(tag_chans) {
            self.close_channel(now, conn, ch);
        }
        self.outboxes.remove(&conn);
        let owned: Vec<Arc<str>> =
            self.queues.iter().filter(|(_, q)| q.owner == Some(conn)).map(|(n, _)| n.clone()).collect();
        for q in owned {
            self.remove_queue(&q);
        }
    }

    /// Periodic work: expiry of messages and unused queues (`x-expires`), store compaction.
    pub fn tick(&mut self, now: Instant) {
        let names: Vec<Arc<str>> = self.queues.keys().cloned().collect();
        for n in names {
            self.drop_expired(now, &n);
            let expired = self.queues.get(&n).is_some_and(|q| {
                q.consumers.is_empty() && q.expires.is_some_and(|e| now.saturating_duration_since(q.last_used) >= e)
            });
            if expired {
                self.remove_queue(&n);
            }
        }
        if let Some(store) = &mut self.store {
            if let Err(e) = store.compact() {
                self.store_errors += 1;
                tracing::warn!("AMQP store: {e}");
            }
        }
    }

    /// Ready messages in a queue (for tests and metrics).
    #[must_use]
    pub fn queue_len(&self, name: &str) -> Option<usize> {
        self.queues.get(name).map(|q| q.messages.len())
    }

    /// Whether an exchange exists.
    #[must_use]
    pub fn has_exchange(&self, name: &str) -> bool {
        self.exchanges.contains_key(name)
    }

    /// Copies messages routed through `exchange` (normally `amq.topic`) whose routing key
    /// matches one of the topic patterns `binding_keys` into a bounded channel of `capacity`
    /// (once per message, however many patterns match); when the channel is full, the copy is
    /// refused, counted in `tap_overflows`, and the publish reports `stored_ok: false` (a
    /// nack for a publisher with confirms). Messages published with [`Self::publish_untapped`] are not copied. The tap ends
    /// when the receiver is dropped.
    pub fn tap(
        &mut self,
        exchange: &str,
        binding_keys: &[String],
        capacity: usize,
    ) -> Result<tokio::sync::mpsc::Receiver<TappedMessage>, AmqpError> {
        let x = self.exchanges.get_mut(exchange).ok_or_else(|| not_found("exchange", exchange))?;
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        x.taps.push(Tap { patterns: binding_keys.to_vec(), tx });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests;
