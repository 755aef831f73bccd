//! The shared MQTT core: topic tree, retained messages, sessions that outlive connections,
//! shared subscriptions, wills, and per-client bounded outbound queues.
//!
//! The broker is plain data with no I/O and no clock: every call that depends on time takes
//! `now`. The server keeps it behind a `std::sync::Mutex` and never holds that lock across an
//! `.await`. Each client has an [`Outbox`] (its own small lock and a waker slot); publishing pushes
//! deliveries into the subscribers' outboxes and wakes their connection tasks, so a slow client
//! only ever fills its own queue.
//!
//! # Outbound queue overflow policy
//! Every outbox holds at most [`BrokerConfig::queue_capacity`] deliveries. When it is full:
//! - the oldest queued QoS 0 delivery is dropped to make room (counted in
//!   [`Metrics::dropped_qos0`]); a new QoS 0 delivery is dropped if there is no QoS 0 entry;
//! - if the queue holds only QoS 1/2 deliveries and a QoS 1/2 delivery arrives, an online
//!   client is disconnected with reason 0x97 (Quota exceeded, [`Metrics::quota_disconnects`]),
//!   and its session (if persistent) keeps the queue; an offline persistent session drops the
//!   new delivery ([`Metrics::dropped_offline`]).
//!
//! # Direct sinks (backpressure instead of queueing)
//! A client registered with [`Broker::set_direct`] (the bridge's link into DDS) can take
//! deliveries without its outbox: [`Broker::publish_direct`], used for messages that client
//! connections publish, hands each delivery for that client to its [`DirectSink`], which returns
//! an [`Admission`] (e.g. a `send().await` into a bounded channel). The publishing connection
//! awaits the admissions after releasing the broker lock and before it acknowledges the message
//! (PUBACK / PUBREC) or reads further packets, so a publisher faster than the sink is slowed
//! through TCP instead of having its acknowledged messages dropped by the overflow policy above.
//! Messages of every QoS take that path, so one publisher's messages keep their order. Other
//! publishes ([`Broker::publish`]: wills, `$SYS`, in-process publishers) still go through the
//! client's outbox.
//!
//! The counters are published every `sys_interval` as retained `$SYS/starling/mqtt/NAME`
//! messages (see [`super::server::publish_sys`]).

use super::codec::topic::{matches, split_shared};
use super::codec::{Properties, QoS, ReasonCode, RetainHandling, SubscriptionOptions};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// An application message as routed by the broker.
#[derive(Debug, Clone)]
pub struct Message {
    /// Topic name.
    pub topic: Arc<str>,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// Retain flag it was published with.
    pub retain: bool,
    /// Properties forwarded to subscribers (5.0): payload format, content type, response
    /// topic, correlation data, user properties. Topic alias and subscription ids are removed.
    pub properties: Properties,
    /// When the Message Expiry Interval runs out.
    pub expires_at: Option<Instant>,
    /// Client id of the publisher (for No Local); `None` for wills of ended sessions etc.
    pub origin: Option<Arc<str>>,
}

impl Message {
    /// True if the message expired at `now`.
    #[must_use]
    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// One message on its way to one client.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub msg: Arc<Message>,
    /// Effective QoS (min of published and subscribed).
    pub qos: QoS,
    /// Retain flag to send.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions (5.0).
    pub sub_ids: Vec<u32>,
}

/// Counters for the whole broker.
#[derive(Debug, Default)]
pub struct Metrics {
    /// PUBLISH packets received from clients (and wills published).
    pub messages_in: AtomicU64,
    /// Deliveries queued for clients.
    pub deliveries: AtomicU64,
    /// QoS 0 deliveries dropped because a queue was full.
    pub dropped_qos0: AtomicU64,
    /// QoS 1/2 deliveries dropped for an offline session whose queue was full.
    pub dropped_offline: AtomicU64,
    /// Deliveries dropped because they exceeded the client's Maximum Packet Size.
    pub dropped_oversize: AtomicU64,
    /// Deliveries dropped because their message expired.
    pub dropped_expired: AtomicU64,
    /// Clients disconnected with 0x97 because they fell too far behind.
    pub quota_disconnects: AtomicU64,
    /// Connections accepted (CONNACK success).
    pub connections: AtomicU64,
    /// Connections closed for a protocol violation.
    pub protocol_errors: AtomicU64,
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

#[derive(Debug)]
struct OutboxInner {
    queue: VecDeque<Delivery>,
    kick: Option<ReasonCode>,
    online: bool,
}

/// A client's bounded outbound queue, shared between the broker and its connection task.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<OutboxInner>,
    capacity: usize,
    /// Set when the connection has something to look at (deliveries, a kick); kept until the
    /// connection next waits, like one stored permit.
    signalled: AtomicBool,
    /// The waiting connection's waker: a slot rather than a waiter list, so that waiting needs
    /// no state in the connection's future (one connection waits on an outbox at a time).
    waker: AtomicWaker,
}

impl Outbox {
    fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(OutboxInner { queue: VecDeque::new(), kick: None, online: false }),
            capacity: capacity.max(1),
            signalled: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Completes when deliveries arrive or the connection must close (at once if that
    /// happened since the last wait).
    pub fn notified(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_notified(cx))
    }

    /// Polling form of [`Outbox::notified`].
    pub fn poll_notified(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.signalled.swap(false, Ordering::AcqRel) {
            return std::task::Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.signalled.swap(false, Ordering::AcqRel) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    fn signal(&self) {
        self.signalled.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn push(&self, d: Delivery, metrics: &Metrics) {
        let mut g = self.lock();
        if g.queue.len() >= self.capacity {
            if let Some(i) = g.queue.iter().position(|d| d.qos == QoS::AtMostOnce) {
                g.queue.remove(i);
                Metrics::inc(&metrics.dropped_qos0);
            } else if d.qos == QoS::AtMostOnce {
                Metrics::inc(&metrics.dropped_qos0);
                return;
            } else if g.online {
                if g.kick.is_none() {
                    g.kick = Some(ReasonCode::QUOTA_EXCEEDED);
                    Metrics::inc(&metrics.quota_disconnects);
                }
                drop(g);
                self.signal();
                return;
            } else {
                Metrics::inc(&metrics.dropped_offline);
                return;
            }
        }
        g.queue.push_back(d);
        Metrics::inc(&metrics.deliveries);
        let wake = g.online;
        drop(g);
        if wake {
            self.signal();
        }
    }

    /// Asks the connection to close with `reason`.
    pub fn kick(&self, reason: ReasonCode) {
        self.lock().kick.get_or_insert(reason);
        self.signal();
    }

    /// The reason the connection must close, if any.
    #[must_use]
    pub fn kicked(&self) -> Option<ReasonCode> {
        self.lock().kick
    }

    /// Takes up to `max_qos_out` QoS 1/2 deliveries (and any QoS 0 ones around them) from the
    /// front, dropping expired messages. Stops at the first QoS 1/2 delivery that exceeds the
    /// window, so order is kept.
    pub fn drain(&self, now: Instant, mut max_qos_out: usize, out: &mut Vec<Delivery>, metrics: &Metrics) {
        let mut g = self.lock();
        while let Some(front) = g.queue.front() {
            if front.msg.expired(now) {
                g.queue.pop_front();
                Metrics::inc(&metrics.dropped_expired);
                continue;
            }
            if front.qos != QoS::AtMostOnce {
                if max_qos_out == 0 {
                    break;
                }
                max_qos_out -= 1;
            }
            if let Some(d) = g.queue.pop_front() {
                out.push(d);
            }
        }
    }

    /// Number of queued deliveries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// True if nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// In-flight state of a session that survives reconnects.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// Outbound QoS 1/2 deliveries not yet completed, in send order: `(packet id, delivery,
    /// PUBREC received)`.
    pub inflight: VecDeque<(u16, Delivery, bool)>,
    /// Inbound QoS 2 packet ids awaiting PUBREL.
    pub incoming_qos2: BTreeSet<u16>,
    /// Last packet id used.
    pub last_pkid: u16,
}

/// Broker limits.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Capacity of each client's outbound queue.
    pub queue_capacity: usize,
    /// Upper bound for a requested Session Expiry Interval (seconds).
    pub max_session_expiry: u32,
    /// Maximum number of retained messages.
    pub max_retained: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self { queue_capacity: 10_000, max_session_expiry: 7 * 24 * 3600, max_retained: 100_000 }
    }
}

#[derive(Debug, Clone)]
struct Sub {
    opts: SubscriptionOptions,
    id: Option<u32>,
    outbox: Arc<Outbox>,
}

#[derive(Debug, Default)]
struct SharedGroup {
    members: Vec<(Arc<str>, Sub)>,
    next: usize,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    subs: HashMap<Arc<str>, Sub>,
    shared: HashMap<Box<str>, SharedGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subs.is_empty() && self.shared.is_empty()
    }

    fn collect<'a>(&'a self, levels: &[&str], first: bool, out: &mut Vec<&'a Node>) {
        let Some((level, rest)) = levels.split_first() else {
            out.push(self);
            // "a/#" also matches "a".
            if let Some(n) = self.children.get("#") {
                out.push(n);
            }
            return;
        };
        let dollar = first && level.starts_with('$');
        if let Some(n) = self.children.get(*level) {
            n.collect(rest, false, out);
        }
        if !dollar {
            if let Some(n) = self.children.get("+") {
                n.collect(rest, false, out);
            }
            if let Some(n) = self.children.get("#") {
                out.push(n);
            }
        }
    }

    fn node_mut(&mut self, filter: &str) -> &mut Node {
        let mut n = self;
        for level in filter.split('/') {
            n = n.children.entry(level.into()).or_default();
        }
        n
    }

    /// Removes a subscription; prunes empty nodes. Returns true if it existed.
    fn remove(&mut self, levels: &[&str], client: &str, group: Option<&str>) -> bool {
        let Some((level, rest)) = levels.split_first() else {
            return match group {
                None => self.subs.remove(client).is_some(),
                Some(g) => {
                    let Some(grp) = self.shared.get_mut(g) else { return false };
                    let before = grp.members.len();
                    grp.members.retain(|(c, _)| &**c != client);
                    let removed = grp.members.len() != before;
                    if grp.members.is_empty() {
                        self.shared.remove(g);
                    }
                    removed
                }
            };
        };
        let Some(child) = self.children.get_mut(*level) else { return false };
        let removed = child.remove(rest, client, group);
        if child.is_empty() {
            self.children.remove(*level);
        }
        removed
    }
}

#[derive(Debug)]
struct ClientEntry {
    outbox: Arc<Outbox>,
    /// The client's subscriptions; boxed and made on the first SUBSCRIBE, as many clients only
    /// publish.
    // Boxed on purpose: 8 bytes in every entry instead of an empty map's 48.
    #[allow(clippy::box_collection)]
    filters: Option<Box<HashMap<String, ()>>>,
    conn: Option<u64>,
    saved: Option<Box<SessionState>>,
    expiry: u32,
    offline_since: Option<Instant>,
    /// Notified when the connection detaches; made only when a second connection waits to
    /// take the session over.
    released: Option<Arc<Notify>>,
}

/// Size of the broker's per-client entry (for the idle-memory test).
#[cfg(test)]
pub(crate) fn client_entry_size() -> usize {
    std::mem::size_of::<ClientEntry>()
}

#[derive(Debug)]
struct PendingWill {
    client: Arc<str>,
    at: Instant,
    msg: Message,
}

/// Result of [`Broker::connect`].
#[derive(Debug)]
pub enum ConnectOutcome {
    /// The client is attached.
    Accepted {
        /// Connection number (pass back to [`Broker::disconnected`]).
        conn: u64,
        /// The client id, shared with the broker's entry (one allocation per client).
        client: Arc<str>,
        /// Its outbound queue.
        outbox: Arc<Outbox>,
        /// A previous session was resumed.
        session_present: bool,
        /// In-flight state of the resumed session.
        restored: Option<SessionState>,
    },
    /// Another connection holds this client id; it has been asked to close (0x8E). Wait on
    /// the `Notify` (or a short timeout) and call `connect` again.
    Busy(Arc<Notify>),
}

/// Waiting until a [`DirectSink`] has taken a delivery; awaited without the broker lock.
pub type Admission = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Takes the deliveries for a client registered with [`Broker::set_direct`] instead of its
/// outbox. Called with the broker lock held: it must not block; waiting goes into the returned
/// [`Admission`].
pub trait DirectSink: Send + Sync {
    /// Takes `d`; the publisher acknowledges the message only once the admission completed.
    fn admit(&self, d: Delivery) -> Admission;
}

/// The client whose deliveries go to a [`DirectSink`].
struct Direct {
    client: Arc<str>,
    sink: Arc<dyn DirectSink>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").field("client", &self.client).finish_non_exhaustive()
    }
}

/// The broker core. See the module docs.
#[derive(Debug)]
pub struct Broker {
    direct: Option<Direct>,
    cfg: BrokerConfig,
    root: Node,
    clients: HashMap<Arc<str>, ClientEntry>,
    retained: HashMap<Arc<str>, Arc<Message>>,
    wills: Vec<PendingWill>,
    metrics: Arc<Metrics>,
    next_conn: u64,
}

impl Broker {
    /// An empty broker.
    #[must_use]
    pub fn new(cfg: BrokerConfig) -> Self {
        Self {
            direct: None,
            cfg,
            root: Node::default(),
            clients: HashMap::new(),
            retained: HashMap::new(),
            wills: Vec::new(),
            metrics: Arc::default(),
            next_conn: 0,
        }
    }

    /// The counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The limits.
    #[must_use]
    pub fn config(&self) -> &BrokerConfig {
        &self.cfg
    }

    /// Attaches a connection to the session `client` (creating or resuming it).
    pub fn connect(&mut self, now: Instant, client: &str, clean_start: bool, expiry: u32) -> ConnectOutcome {
        if let Some(e) = self.clients.get_mut(client) {
            if e.conn.is_some() {
                e.outbox.kick(ReasonCode::SESSION_TAKEN_OVER);
                let released = e.released.get_or_insert_with(Arc::default).clone();
                return ConnectOutcome::Busy(released);
            }
        }
        // A pending will of this client: a resumed session cancels it, a new session ends the
        // old one and so publishes it now.
        if let Some(i) = self.wills.iter().position(|w| &*w.client == client) {
            let w = self.wills.swap_remove(i);
            if clean_start {
                self.publish(now, w.msg);
            }
        }
        if clean_start {
            self.remove_client(client);
        }
        self.next_conn += 1;
        let conn = self.next_conn;
        let (client_arc, session_present) = match self.clients.get_key_value(client) {
            Some((k, _)) => (k.clone(), true),
            None => (Arc::<str>::from(client), false),
        };
        let cap = self.cfg.queue_capacity;
        let key = client_arc.clone();
        let e = self.clients.entry(client_arc).or_insert_with(|| ClientEntry {
            outbox: Arc::new(Outbox::new(cap)),
            filters: None,
            conn: None,
            saved: None,
            expiry: 0,
            offline_since: None,
            released: None,
        });
        e.conn = Some(conn);
        e.expiry = expiry.min(self.cfg.max_session_expiry);
        e.offline_since = None;
        {
            let mut g = e.outbox.lock();
            g.online = true;
            g.kick = None;
        }
        Metrics::inc(&self.metrics.connections);
        ConnectOutcome::Accepted {
            conn,
            client: key,
            outbox: e.outbox.clone(),
            session_present,
            restored: e.saved.take().map(|b| *b),
        }
    }

    /// Asks every attached connection to close with `reason` (through its outbox).
    pub fn kick_all(&self, reason: ReasonCode) {
        for e in self.clients.values().filter(|e| e.conn.is_some()) {
            e.outbox.kick(reason);
        }
    }

    /// Detaches whatever connection holds `client` without its in-flight state (used when a
    /// taken-over connection does not release the session in time).
    pub fn force_detach(&mut self, now: Instant, client: &str) {
        if let Some(e) = self.clients.get_mut(client) {
            e.conn = None;
            e.outbox.lock().online = false;
            e.offline_since = Some(now);
        }
    }

    /// Detaches connection `conn` of `client`. `expiry` is the final Session Expiry Interval
    /// (0 ends the session now); `will` is published after `will_delay` seconds (or when the
    /// session ends, if sooner), unless the client reconnects first.
    pub fn disconnected(
        &mut self,
        now: Instant,
        client: &str,
        conn: u64,
        state: SessionState,
        expiry: u32,
        will: Option<(Message, u32)>,
    ) {
        let Some(e) = self.clients.get_mut(client) else { return };
        if e.conn != Some(conn) {
            return;
        }
        e.conn = None;
        e.outbox.lock().online = false;
        if let Some(r) = e.released.take() {
            r.notify_one();
        }
        let expiry = expiry.min(self.cfg.max_session_expiry);
        let ends_now = expiry == 0;
        if let Some((msg, delay)) = will {
            let delay = delay.min(expiry);
            if delay == 0 {
                self.publish(now, msg);
            } else {
                let client =
                    self.clients.get_key_value(client).map(|(k, _)| k.clone()).unwrap_or_else(|| client.into());
                self.wills.push(PendingWill { client, at: now + Duration::from_secs(delay.into()), msg });
            }
        }
        if ends_now {
            self.remove_client(client);
        } else if let Some(e) = self.clients.get_mut(client) {
            e.expiry = expiry;
            e.saved = Some(Box::new(state));
            e.offline_since = Some(now);
        }
    }

    fn remove_client(&mut self, client: &str) {
        let Some(e) = self.clients.remove(client) else { return };
        for f in e.filters.iter().flat_map(|m| m.keys()) {
            let (group, filter) = split_shared(f);
            let levels: Vec<&str> = filter.split('/').collect();
            self.root.remove(&levels, client, group);
        }
    }

    /// Expires offline sessions and publishes wills whose delay has passed.
    pub fn tick(&mut self, now: Instant) {
        let due: Vec<PendingWill> = {
            let (due, keep) = std::mem::take(&mut self.wills).into_iter().partition(|w| w.at <= now);
            self.wills = keep;
            due
        };
        for w in due {
            self.publish(now, w.msg);
        }
        let expired: Vec<Arc<str>> = self
            .clients
            .iter()
            .filter(|(_, e)| {
                e.offline_since
                    .is_some_and(|t| now.saturating_duration_since(t) >= Duration::from_secs(e.expiry.into()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for c in expired {
            // The session ends: a will still waiting is published now.
            if let Some(i) = self.wills.iter().position(|w| w.client == c) {
                let w = self.wills.swap_remove(i);
                self.publish(now, w.msg);
            }
            self.remove_client(&c);
        }
    }

    /// Earliest time `tick` has work to do.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        let wills = self.wills.iter().map(|w| w.at);
        let sessions =
            self.clients.values().filter_map(|e| e.offline_since.map(|t| t + Duration::from_secs(e.expiry.into())));
        wills.chain(sessions).min()
    }

    /// Sends the deliveries for `client` to `sink` in [`Broker::publish_direct`] instead of
    /// queueing them in its outbox (see the module docs).
    pub fn set_direct(&mut self, client: &str, sink: Arc<dyn DirectSink>) {
        self.direct = Some(Direct { client: client.into(), sink });
    }

    /// Routes a message to all matching subscriptions and updates the retained store.
    /// Returns the number of deliveries queued.
    pub fn publish(&mut self, now: Instant, msg: Message) -> usize {
        self.route(now, msg, None)
    }

    /// As [`Broker::publish`], but a delivery for the client registered with
    /// [`Broker::set_direct`] goes to its sink; the returned admission is to be awaited (without
    /// the broker lock) before the message is acknowledged. Returns the number of deliveries.
    pub fn publish_direct(&mut self, now: Instant, msg: Message) -> (usize, Option<Admission>) {
        let mut admission = None;
        let n = self.route(now, msg, Some(&mut admission));
        (n, admission)
    }

    fn route(&mut self, now: Instant, msg: Message, admission: Option<&mut Option<Admission>>) -> usize {
        Metrics::inc(&self.metrics.messages_in);
        if msg.expired(now) {
            Metrics::inc(&self.metrics.dropped_expired);
            return 0;
        }
        let msg = Arc::new(msg);
        if msg.retain {
            if msg.payload.is_empty() {
                self.retained.remove(&*msg.topic);
            } else if self.retained.len() < self.cfg.max_retained || self.retained.contains_key(&*msg.topic) {
                let mut stored = (*msg).clone();
                stored.origin = None;
                self.retained.insert(msg.topic.clone(), Arc::new(stored));
            }
        }
        let levels: Vec<&str> = msg.topic.split('/').collect();
        let mut nodes = Vec::new();
        self.root.collect(&levels, true, &mut nodes);
        // Several subscriptions of one client: one delivery with the highest QoS and all ids.
        let mut per_client: Vec<(Arc<str>, Delivery, Arc<Outbox>)> = Vec::new();
        let add =
            |client: &Arc<str>, sub: &Sub, shared: bool, per_client: &mut Vec<(Arc<str>, Delivery, Arc<Outbox>)>| {
                if sub.opts.no_local && !shared && msg.origin.as_deref() == Some(&**client) {
                    return;
                }
                let qos = sub.opts.qos.min(msg.qos);
                let retain = msg.retain && sub.opts.retain_as_published;
                if let Some((_, d, _)) = per_client.iter_mut().find(|e| &e.0 == client) {
                    d.qos = d.qos.max(qos);
                    d.retain |= retain;
                    d.sub_ids.extend(sub.id);
                } else {
                    let d = Delivery { msg: msg.clone(), qos, retain, sub_ids: sub.id.into_iter().collect() };
                    per_client.push((client.clone(), d, sub.outbox.clone()));
                }
            };
        let mut any_shared = false;
        for n in &nodes {
            for (c, s) in &n.subs {
                add(c, s, false, &mut per_client);
            }
            any_shared |= !n.shared.is_empty();
        }
        drop(nodes);
        if any_shared {
            // Walk again mutably to advance the round-robin cursors of the matching groups.
            let mut picks = Vec::new();
            pick_shared(&mut self.root, &levels, true, &mut picks);
            for (c, s) in picks {
                add(&c, &s, true, &mut per_client);
            }
        }
        let n = per_client.len();
        let direct = admission.and_then(|a| self.direct.as_ref().map(|d| (a, d)));
        match direct {
            Some((admission, direct)) => {
                // One delivery per client: at most one admission.
                for (client, d, outbox) in per_client {
                    if client == direct.client {
                        Metrics::inc(&self.metrics.deliveries);
                        *admission = Some(direct.sink.admit(d));
                    } else {
                        outbox.push(d, &self.metrics);
                    }
                }
            }
            None => {
                for (_, d, outbox) in per_client {
                    outbox.push(d, &self.metrics);
                }
            }
        }
        n
    }

    /// Publishes a message of the broker's own (`$SYS/…` counters) without counting it in
    /// [`Metrics::messages_in`], so that publishing the counters does not change them.
    pub fn publish_sys(&mut self, now: Instant, msg: Message) -> usize {
        let n = self.publish(now, msg);
        self.metrics.messages_in.fetch_sub(1, Ordering::Relaxed);
        n
    }

    /// Adds or replaces a subscription of `client`. Retained messages are queued to the client
    /// according to the retain handling option. Returns the granted QoS.
    pub fn subscribe(
        &mut self,
        now: Instant,
        client: &str,
        filter: &str,
        opts: SubscriptionOptions,
        id: Option<u32>,
    ) -> Result<QoS, ReasonCode> {
        let Some(e) = self.clients.get_mut(client) else { return Err(ReasonCode::UNSPECIFIED_ERROR) };
        let outbox = e.outbox.clone();
        let existed = e.filters.get_or_insert_with(Box::default).insert(filter.to_owned(), ()).is_some();
        let client_arc = self.clients.get_key_value(client).map(|(k, _)| k.clone()).unwrap_or_else(|| client.into());
        let (group, plain) = split_shared(filter);
        let node = self.root.node_mut(plain);
        let sub = Sub { opts, id, outbox: outbox.clone() };
        match group {
            None => {
                node.subs.insert(client_arc, sub);
            }
            Some(g) => {
                let grp = node.shared.entry(g.into()).or_default();
                if let Some(m) = grp.members.iter_mut().find(|(c, _)| *c == client_arc) {
                    m.1 = sub;
                } else {
                    grp.members.push((client_arc, sub));
                }
            }
        }
        // Retained messages are not sent for shared subscriptions (MQTT 5 §4.8.2).
        let send = group.is_none()
            && match opts.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
        if send {
            let mut expired = Vec::new();
            for (t, m) in &self.retained {
                if m.expired(now) {
                    expired.push(t.clone());
                    continue;
                }
                if matches(plain, t) {
                    // Retained messages are always sent with RETAIN set on subscribe.
                    let d = Delivery {
                        msg: m.clone(),
                        qos: opts.qos.min(m.qos),
                        retain: true,
                        sub_ids: id.into_iter().collect(),
                    };
                    outbox.push(d, &self.metrics);
                }
            }
            for t in expired {
                self.retained.remove(&t);
            }
        }
        Ok(opts.qos)
    }

    /// Removes a subscription; returns whether it existed.
    pub fn unsubscribe(&mut self, client: &str, filter: &str) -> bool {
        let Some(e) = self.clients.get_mut(client) else { return false };
        if e.filters.as_mut().and_then(|m| m.remove(filter)).is_none() {
            return false;
        }
        let (group, plain) = split_shared(filter);
        let levels: Vec<&str> = plain.split('/').collect();
        self.root.remove(&levels, client, group)
    }

    /// Number of retained messages.
    #[must_use]
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// Number of sessions (online or offline).
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.clients.len()
    }
}

fn pick_shared(node: &mut Node, levels: &[&str], first: bool, out: &mut Vec<(Arc<str>, Sub)>) {
    fn pick(node: &mut Node, out: &mut Vec<(Arc<str>, Sub)>) {
        for grp in node.shared.values_mut() {
            let n = grp.members.len();
            if n == 0 {
                continue;
            }
            // Round-robin, preferring members that are online.
            let start = grp.next % n;
            let idx = (0..n).map(|k| (start + k) % n).find(|&i| grp.members[i].1.outbox.lock().online).unwrap_or(start);
            grp.next = idx + 1;
            let (c, s) = &grp.members[idx];
            out.push((c.clone(), s.clone()));
        }
    }
    let Some((level, rest)) = levels.split_first() else {
        pick(node, out);
        if let Some(n) = node.children.get_mut("#") {
            pick(n, out);
        }
        return;
    };
    let dollar = first && level.starts_with('$');
    if let Some(n) = node.children.get_mut(*level) {
        pick_shared(n, rest, false, out);
    }
    if !dollar {
        if let Some(n) = node.children.get_mut("+") {
            pick_shared(n, rest, false, out);
        }
        if let Some(n) = node.children.get_mut("#") {
            pick(n, out);
        }
    }
}
