//! The shared STOMP core: destinations, subscriptions, queues and per-connection outboxes.
//!
//! The broker is plain data with no I/O and no clock. The server keeps it behind a
//! `std::sync::Mutex` and never holds that lock across an `.await`. Each connection has an
//! [`Outbox`] (its own small lock and a `Notify`): routing a message pushes [`Delivery`]s into
//! the subscribers' outboxes and wakes their connection tasks, so a slow client only ever fills
//! its own queue.
//!
//! # Destinations
//! - `/topic/KEY`: publish-subscribe. Subscriptions may use RabbitMQ-style wildcards on
//!   dot-separated words: `*` matches one word, `#` zero or more (`/topic/sensors.*.temp`).
//! - `/exchange/amq.topic/KEY` is the same as `/topic/KEY`; `/exchange/NAME/KEY` for another
//!   exchange name is a publish-subscribe namespace of its own, with the same wildcards on KEY.
//! - `/queue/NAME` (and `/amq/queue/NAME` and `/reply-queue/NAME`, the same queue): competing
//!   consumers. Each message goes to one subscriber, round-robin; a message NACKed, or
//!   unacknowledged when its consumer disconnects or unsubscribes, is offered again with
//!   `redelivered:true`. Messages
//!   sent while a queue has no subscriber wait in the queue (bounded by
//!   [`BrokerConfig::queue_backlog`]).
//!
//! # Outbound queue overflow policy
//! Every outbox holds at most [`BrokerConfig::queue_capacity`] deliveries.
//! - A topic delivery to a full outbox is dropped and counted in [`Metrics::dropped_full`];
//!   with [`Overflow::Disconnect`] the client is also disconnected (ERROR
//!   `slow consumer: outbound queue full`, [`Metrics::slow_disconnects`]).
//! - A queue message is offered to the next subscriber whose outbox has room; if none has, it
//!   stays in the queue's backlog and is handed out when a consumer's outbox drains
//!   ([`StompBroker::refill`]). A full backlog drops the newest message
//!   ([`Metrics::dropped_backlog`]).
//!
//! # Attaching DDS (the route layer's interface)
//! - [`StompBroker::publish_external`] injects a message (from a DDS sample) into a
//!   destination, exactly as if a STOMP client had sent it.
//! - [`StompBroker::set_route_hook`] installs a [`RouteHook`] that is told about every message
//!   STOMP clients send (to forward to DDS) and about the first subscription to and the last
//!   unsubscription from each destination (to create or delete DDS readers lazily). The
//!   subscription calls run with the broker lock held: they must not block or call back into the
//!   broker. Sent messages reach the hook in batches, without the broker lock: a connection
//!   collects the messages [`StompBroker::send`] routed from one read of its socket and hands them
//!   to [`RouteHook::on_send`] at once (in the order they were sent). For the messages it takes
//!   the hook returns one [`Admission`] (e.g. a wait for room in a bounded queue), which the
//!   connection awaits before it writes their RECEIPTs or reads more frames: a full route layer
//!   slows publishers down, and nothing is acknowledged before the route layer has accepted it.

use super::codec::Header;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Subscription acknowledgement mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// No ACK expected.
    Auto,
    /// Cumulative: an ACK acknowledges every earlier message of the subscription too.
    Client,
    /// Each message is acknowledged on its own.
    ClientIndividual,
}

impl AckMode {
    /// Parses the `ack` header of SUBSCRIBE (absent means `auto`).
    #[must_use]
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("auto") => Some(Self::Auto),
            Some("client") => Some(Self::Client),
            Some("client-individual") => Some(Self::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// A parsed destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Publish-subscribe; `name` is canonical (`/topic/KEY` or `/exchange/NAME/KEY`) and
    /// `key_start` is where KEY begins in it.
    Topic {
        /// Canonical destination.
        name: Arc<str>,
        /// Byte offset of the routing key in `name`.
        key_start: usize,
    },
    /// Competing consumers; canonical `/queue/NAME`.
    Queue(Arc<str>),
}

impl Destination {
    /// Parses a destination header; `Err` is the ERROR message.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        fn ok_name(n: &str) -> Result<(), &'static str> {
            if n.is_empty() || n.bytes().any(|b| b < 0x20) {
                Err("invalid destination")
            } else {
                Ok(())
            }
        }
        if let Some(k) = s.strip_prefix("/topic/") {
            ok_name(k)?;
            Ok(Self::Topic { name: s.into(), key_start: 7 })
        } else if let Some(q) = s
            .strip_prefix("/queue/")
            .or_else(|| s.strip_prefix("/amq/queue/"))
            .or_else(|| s.strip_prefix("/reply-queue/"))
        {
            ok_name(q)?;
            Ok(Self::Queue(format!("/queue/{q}").into()))
        } else if let Some(rest) = s.strip_prefix("/exchange/") {
            let (ex, key) = rest.split_once('/').unwrap_or((rest, ""));
            ok_name(ex)?;
            if ex == "amq.topic" {
                ok_name(key)?;
                Ok(Self::Topic { name: format!("/topic/{key}").into(), key_start: 7 })
            } else {
                let name: Arc<str> = format!("/exchange/{ex}/{key}").into();
                Ok(Self::Topic { key_start: name.len() - key.len(), name })
            }
        } else {
            Err("unknown destination")
        }
    }

    /// The canonical name.
    #[must_use]
    pub fn name(&self) -> &Arc<str> {
        match self {
            Self::Topic { name, .. } | Self::Queue(name) => name,
        }
    }

    /// The destination as an ACL topic (no leading `/`), e.g. `topic/a.b`, `queue/jobs`.
    #[must_use]
    pub fn acl_topic(&self) -> &str {
        let n = self.name();
        n.strip_prefix('/').unwrap_or(n)
    }
}

/// Does routing key `key` match subscription pattern `pat` (`*` one word, `#` any words)?
#[must_use]
pub fn key_matches(pat: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pat.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

fn has_wildcard(key: &str) -> bool {
    key.split('.').any(|w| w == "*" || w == "#")
}

/// An application message as routed by the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Canonical destination.
    pub destination: Arc<str>,
    /// Headers carried to subscribers (persistent, expires, reply-to, content-type, custom
    /// headers), first occurrence of each name only.
    pub headers: Vec<Header>,
    /// Body.
    pub body: Bytes,
    /// When the message expires, in milliseconds since the Unix epoch (from its `expires`
    /// header; `None` for absent or `0`). An expired message still queued is not delivered.
    pub expires: Option<u64>,
}

impl Message {
    /// A message; `expires` is taken from the `expires` header.
    #[must_use]
    pub fn new(destination: Arc<str>, headers: Vec<Header>, body: Bytes) -> Self {
        let expires = expires_of(&headers);
        Self { destination, headers, body, expires }
    }

    /// True if the message has expired at `now_ms` (milliseconds since the Unix epoch).
    #[must_use]
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires.is_some_and(|e| e <= now_ms)
    }
}

/// The `expires` header as milliseconds since the Unix epoch (absent, `0` or unparsable: never).
#[must_use]
pub fn expires_of(headers: &[Header]) -> Option<u64> {
    let (_, v) = headers.iter().find(|(n, _)| &**n == "expires")?;
    v.trim().parse::<u64>().ok().filter(|&e| e > 0)
}

/// One message on its way to one subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub msg: Arc<Message>,
    /// Subscription id on the receiving connection.
    pub sub_id: Arc<str>,
    /// For queue messages: the queue, so an unacknowledged message can go back to it.
    pub queue: Option<Arc<str>>,
    /// Already delivered once before (sent with `redelivered:true`).
    pub redelivered: bool,
}

/// What to do when a topic delivery meets a full outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop the delivery (counted).
    #[default]
    DropNewest,
    /// Drop it and disconnect the client.
    Disconnect,
}

/// Broker limits.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Outbound queue capacity per connection (deliveries).
    pub queue_capacity: usize,
    /// Messages a `/queue/` destination keeps while no consumer can take them.
    pub queue_backlog: usize,
    /// Topic overflow policy.
    pub overflow: Overflow,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self { queue_capacity: 1000, queue_backlog: 100_000, overflow: Overflow::DropNewest }
    }
}

/// Counters for the whole broker.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages received (SEND and external).
    pub messages_in: AtomicU64,
    /// Deliveries queued for connections.
    pub deliveries: AtomicU64,
    /// Topic deliveries dropped at a full outbox.
    pub dropped_full: AtomicU64,
    /// Queue messages dropped at a full backlog.
    pub dropped_backlog: AtomicU64,
    /// Clients disconnected by [`Overflow::Disconnect`].
    pub slow_disconnects: AtomicU64,
    /// Messages redelivered (NACK, disconnect, unsubscribe with unacked messages).
    pub redeliveries: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections closed with an ERROR for a protocol violation.
    pub protocol_errors: AtomicU64,
    /// Messages not delivered because their `expires` time had passed while they were queued.
    pub expired: AtomicU64,
}

impl Metrics {
    fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    /// Reads a counter.
    #[must_use]
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct OutboxInner {
    queue: VecDeque<Delivery>,
    kick: Option<&'static str>,
}

/// A connection's bounded outbound queue, shared between the broker and the connection task.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<OutboxInner>,
    capacity: usize,
    notify: Notify,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` deliveries.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { inner: Mutex::new(OutboxInner::default()), capacity: capacity.max(1), notify: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes when deliveries arrive or the connection must close.
    pub fn notify(&self) -> &Notify {
        &self.notify
    }

    /// Queues `d` unless full; returns it back when full.
    fn try_push(&self, d: Delivery) -> Result<(), Delivery> {
        let mut g = self.lock();
        if g.queue.len() >= self.capacity {
            return Err(d);
        }
        g.queue.push_back(d);
        drop(g);
        self.notify.notify_one();
        Ok(())
    }

    fn has_room(&self) -> bool {
        self.lock().queue.len() < self.capacity
    }

    /// Asks the connection to close with an ERROR saying `why`.
    pub fn kick(&self, why: &'static str) {
        self.lock().kick.get_or_insert(why);
        self.notify.notify_one();
    }

    /// Why the connection must close, if it must.
    #[must_use]
    pub fn kicked(&self) -> Option<&'static str> {
        self.lock().kick
    }

    /// Moves up to `max` deliveries into `out`.
    pub fn drain(&self, max: usize, out: &mut Vec<Delivery>) {
        let mut g = self.lock();
        let n = g.queue.len().min(max);
        out.extend(g.queue.drain(..n));
        if g.queue.is_empty() && g.queue.capacity() > 64 {
            g.queue = VecDeque::new();
        }
    }

    /// Takes every queued delivery (at disconnect).
    pub fn take_all(&self) -> Vec<Delivery> {
        std::mem::take(&mut self.lock().queue).into()
    }
}

/// What a route hook hands back for a client message it takes: a future that completes once the
/// route layer has accepted the message (e.g. a bounded channel towards DDS had room). The
/// connection awaits it, outside the broker lock, before it writes the RECEIPT and reads further
/// frames, so a publisher faster than the route layer is slowed down instead of losing messages.
pub type Admission = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// The route layer's view of STOMP traffic (see the module docs). Implementations must not
/// block; waiting goes into the returned [`Admission`].
pub trait RouteHook: Send + Sync + 'static {
    /// A STOMP client sent `msgs` (in this order, already routed to STOMP subscribers; called
    /// without the broker lock, once per read of the client's socket). Returns the admission the
    /// sending connection awaits before acknowledging the frames, if the route layer takes any of
    /// them.
    fn on_send(&self, msgs: &[Arc<Message>]) -> Option<Admission>;
    /// The first subscription to `destination` (canonical, possibly a wildcard pattern) appeared.
    fn on_subscribe(&self, destination: &str);
    /// The last subscription to `destination` went away.
    fn on_unsubscribe(&self, destination: &str);
}

#[derive(Debug, Clone)]
struct SubRef {
    conn: u64,
    sub_id: Arc<str>,
    outbox: Arc<Outbox>,
}

#[derive(Debug, Default)]
struct QueueState {
    subs: Vec<SubRef>,
    next: usize,
    backlog: VecDeque<(Arc<Message>, bool)>,
}

/// Errors from broker calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The destination string is not one the broker knows.
    #[error("{0}")]
    BadDestination(&'static str),
}

/// The shared routing state (see the module docs).
pub struct StompBroker {
    cfg: BrokerConfig,
    metrics: Arc<Metrics>,
    /// Exact-key topic subscriptions by canonical destination.
    topics: HashMap<Arc<str>, Vec<SubRef>>,
    /// Wildcard topic subscriptions: (pattern destination, key offset, subscriber).
    wild: Vec<(Arc<str>, usize, SubRef)>,
    queues: HashMap<Arc<str>, QueueState>,
    /// Queues that have a backlog.
    backlogged: usize,
    hook: Option<Arc<dyn RouteHook>>,
    next_conn: u64,
}

impl std::fmt::Debug for StompBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompBroker")
            .field("topics", &self.topics.len())
            .field("wildcards", &self.wild.len())
            .field("queues", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl StompBroker {
    /// An empty broker.
    #[must_use]
    pub fn new(cfg: BrokerConfig) -> Self {
        Self {
            cfg,
            metrics: Arc::default(),
            topics: HashMap::new(),
            wild: Vec::new(),
            queues: HashMap::new(),
            backlogged: 0,
            hook: None,
            next_conn: 1,
        }
    }

    /// The counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Installs the route layer's hook (replacing any previous one).
    pub fn set_route_hook(&mut self, hook: Arc<dyn RouteHook>) {
        self.hook = Some(hook);
    }

    /// Registers a connection: its id and outbox.
    pub fn connect(&mut self) -> (u64, Arc<Outbox>) {
        let id = self.next_conn;
        self.next_conn += 1;
        Metrics::inc(&self.metrics.connections);
        (id, Arc::new(Outbox::new(self.cfg.queue_capacity)))
    }

    /// Routes a message from the route layer (e.g. a DDS sample) to `destination`; returns the
    /// number of subscriptions it reached (queue messages: 1, or 0 if kept in the backlog).
    pub fn publish_external(
        &mut self,
        destination: &str,
        headers: Vec<Header>,
        body: Bytes,
    ) -> Result<usize, BrokerError> {
        let d = Destination::parse(destination).map_err(BrokerError::BadDestination)?;
        let msg = Arc::new(Message::new(d.name().clone(), headers, body));
        Ok(self.route(&d, msg))
    }

    /// Routes a message a STOMP client sent. Returns the number of subscriptions reached and the
    /// message, which the caller hands to the [`route_hook`](StompBroker::route_hook) (without
    /// the broker lock, batched with the other messages of the same read) before acknowledging it.
    pub fn send(&mut self, d: &Destination, msg: Message) -> (usize, Arc<Message>) {
        let msg = Arc::new(msg);
        let n = self.route(d, msg.clone());
        (n, msg)
    }

    /// True if a route hook is installed.
    #[must_use]
    pub fn has_route_hook(&self) -> bool {
        self.hook.is_some()
    }

    /// The installed route hook, if any.
    #[must_use]
    pub fn route_hook(&self) -> Option<Arc<dyn RouteHook>> {
        self.hook.clone()
    }

    fn route(&mut self, d: &Destination, msg: Arc<Message>) -> usize {
        Metrics::inc(&self.metrics.messages_in);
        match d {
            Destination::Topic { name, key_start } => {
                let mut n = 0;
                let key = &name[*key_start..];
                let prefix = &name[..*key_start];
                let exact = self.topics.get(name).into_iter().flatten();
                let wild = self
                    .wild
                    .iter()
                    .filter(|(p, ks, _)| p[..*ks] == *prefix && key_matches(&p[*ks..], key))
                    .map(|(_, _, s)| s);
                for s in exact.chain(wild) {
                    let del = Delivery { msg: msg.clone(), sub_id: s.sub_id.clone(), queue: None, redelivered: false };
                    if s.outbox.try_push(del).is_ok() {
                        Metrics::inc(&self.metrics.deliveries);
                        n += 1;
                    } else {
                        Metrics::inc(&self.metrics.dropped_full);
                        if self.cfg.overflow == Overflow::Disconnect && s.outbox.kicked().is_none() {
                            Metrics::inc(&self.metrics.slow_disconnects);
                            s.outbox.kick("slow consumer: outbound queue full");
                        }
                    }
                }
                n
            }
            Destination::Queue(q) => usize::from(self.enqueue(q, msg)),
        }
    }

    /// Offers a queue message to the next consumer with room; else keeps it in the backlog.
    fn enqueue(&mut self, q: &Arc<str>, msg: Arc<Message>) -> bool {
        let limit = self.cfg.queue_backlog;
        let qs = self.queues.entry(q.clone()).or_default();
        if qs.backlog.is_empty() && offer(qs, q, &msg, false) {
            Metrics::inc(&self.metrics.deliveries);
            return true;
        }
        if qs.backlog.len() >= limit {
            Metrics::inc(&self.metrics.dropped_backlog);
            return false;
        }
        if qs.backlog.is_empty() {
            self.backlogged += 1;
        }
        qs.backlog.push_back((msg, false));
        false
    }

    /// Whether any queue holds a backlog (so connections should call [`Self::refill`]).
    #[must_use]
    pub fn has_backlog(&self) -> bool {
        self.backlogged > 0
    }

    /// Hands queue backlog to consumers whose outboxes have room.
    pub fn refill(&mut self) {
        if self.backlogged == 0 {
            return;
        }
        for (name, qs) in &mut self.queues {
            if qs.backlog.is_empty() || qs.subs.is_empty() {
                continue;
            }
            while let Some((m, r)) = qs.backlog.front().cloned() {
                if !offer(qs, name, &m, r) {
                    break;
                }
                Metrics::inc(&self.metrics.deliveries);
                qs.backlog.pop_front();
            }
            if qs.backlog.is_empty() {
                self.backlogged -= 1;
                qs.backlog = VecDeque::new();
            }
        }
    }

    /// Puts unacknowledged queue deliveries back (NACK, disconnect, unsubscribe), ahead of
    /// the backlog and in their original order; topic deliveries are ignored.
    pub fn requeue(&mut self, deliveries: impl IntoIterator<Item = Delivery>) {
        let limit = self.cfg.queue_backlog;
        let mut front: HashMap<Arc<str>, usize> = HashMap::new();
        for d in deliveries {
            let Some(q) = d.queue else { continue };
            Metrics::inc(&self.metrics.redeliveries);
            let qs = self.queues.entry(q.clone()).or_default();
            let pos = front.entry(q.clone()).or_insert(0);
            if *pos == 0 && qs.backlog.is_empty() && offer(qs, &q, &d.msg, true) {
                Metrics::inc(&self.metrics.deliveries);
                continue;
            }
            if qs.backlog.len() >= limit {
                Metrics::inc(&self.metrics.dropped_backlog);
                continue;
            }
            if qs.backlog.is_empty() {
                self.backlogged += 1;
            }
            qs.backlog.insert(*pos, (d.msg, true));
            *pos += 1;
        }
    }

    /// Adds a subscription of connection `conn`.
    pub fn subscribe(&mut self, conn: u64, outbox: &Arc<Outbox>, sub_id: Arc<str>, d: &Destination) {
        let s = SubRef { conn, sub_id, outbox: outbox.clone() };
        let first = match d {
            Destination::Topic { name, key_start } => {
                let first = !self.topics.contains_key(name) && !self.wild.iter().any(|(p, _, _)| p == name);
                if has_wildcard(&name[*key_start..]) {
                    self.wild.push((name.clone(), *key_start, s));
                } else {
                    self.topics.entry(name.clone()).or_default().push(s);
                }
                first
            }
            Destination::Queue(q) => {
                let qs = self.queues.entry(q.clone()).or_default();
                qs.subs.push(s);
                let first = qs.subs.len() == 1;
                self.refill();
                first
            }
        };
        if first {
            if let Some(h) = &self.hook {
                h.on_subscribe(d.name());
            }
        }
    }

    /// Removes a subscription of connection `conn`.
    pub fn unsubscribe(&mut self, conn: u64, sub_id: &str, d: &Destination) {
        let is = |s: &SubRef| s.conn == conn && &*s.sub_id == sub_id;
        let last = match d {
            Destination::Topic { name, .. } => {
                if let Some(v) = self.topics.get_mut(name) {
                    v.retain(|s| !is(s));
                    if v.is_empty() {
                        self.topics.remove(name);
                    }
                }
                self.wild.retain(|(_, _, s)| !is(s));
                !self.topics.contains_key(name) && !self.wild.iter().any(|(p, _, _)| p == name)
            }
            Destination::Queue(q) => {
                let Some(qs) = self.queues.get_mut(q) else { return };
                qs.subs.retain(|s| !is(s));
                let last = qs.subs.is_empty();
                if last && qs.backlog.is_empty() {
                    self.queues.remove(q);
                }
                last
            }
        };
        if last {
            if let Some(h) = &self.hook {
                h.on_unsubscribe(d.name());
            }
        }
    }
}

/// Round-robin offer to a consumer with room.
fn offer(qs: &mut QueueState, q: &Arc<str>, msg: &Arc<Message>, redelivered: bool) -> bool {
    let n = qs.subs.len();
    for i in 0..n {
        let idx = (qs.next + i) % n;
        let s = &qs.subs[idx];
        if !s.outbox.has_room() {
            continue;
        }
        let d = Delivery { msg: msg.clone(), sub_id: s.sub_id.clone(), queue: Some(q.clone()), redelivered };
        if s.outbox.try_push(d).is_ok() {
            qs.next = (idx + 1) % n;
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(Destination::parse("/exchange/amq.topic/a.b").unwrap(), Destination::parse("/topic/a.b").unwrap());
        assert_eq!(Destination::parse("/amq/queue/q").unwrap(), Destination::Queue("/queue/q".into()));
        assert_eq!(Destination::parse("/reply-queue/q").unwrap(), Destination::Queue("/queue/q".into()));
        assert_eq!(Destination::parse("/foo"), Err("unknown destination"));
        assert_eq!(Destination::parse("/topic/"), Err("invalid destination"));
        let d = Destination::parse("/exchange/logs/x.y").unwrap();
        assert_eq!(d.acl_topic(), "exchange/logs/x.y");
        assert!(key_matches("a.*.c", "a.b.c"));
        assert!(key_matches("a.#", "a"));
        assert!(key_matches("#.c", "a.b.c"));
        assert!(!key_matches("a.*", "a.b.c"));
    }

    #[test]
    fn queue_round_robin_backlog_and_requeue() {
        let mut b = StompBroker::new(BrokerConfig { queue_capacity: 2, ..BrokerConfig::default() });
        let q = Destination::parse("/queue/jobs").unwrap();
        let m = |i: u8| Message::new("/queue/jobs".into(), vec![], Bytes::from(vec![i]));
        b.send(&q, m(0));
        let (c1, o1) = b.connect();
        let (c2, o2) = b.connect();
        b.subscribe(c1, &o1, "s".into(), &q);
        b.subscribe(c2, &o2, "s".into(), &q);
        for i in 1..5 {
            b.send(&q, m(i));
        }
        let mut a = Vec::new();
        o1.drain(10, &mut a);
        let mut c = Vec::new();
        o2.drain(10, &mut c);
        assert_eq!(a.iter().map(|d| d.msg.body[0]).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(c.iter().map(|d| d.msg.body[0]).collect::<Vec<_>>(), [2, 3]);
        assert!(b.has_backlog());
        b.refill();
        o1.drain(10, &mut a);
        assert_eq!(a.iter().map(|d| d.msg.body[0]).collect::<Vec<_>>(), [0, 1, 4]);
        b.unsubscribe(c1, "s", &q);
        b.requeue(a);
        let mut r = Vec::new();
        o2.drain(10, &mut r);
        assert_eq!(r.iter().map(|d| (d.msg.body[0], d.redelivered)).collect::<Vec<_>>(), [(0, true), (1, true)]);
    }
}
