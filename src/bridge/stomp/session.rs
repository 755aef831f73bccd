//! Per-connection STOMP state machine (sans-IO).
//!
//! # Call order (the driver's loop)
//! 1. Append received bytes to a `BytesMut` and call [`Session::received`]; call
//!    [`Session::handle_read`] with a [`Host`] that
//!    reaches the broker. It handles every complete frame in the buffer, stopping early while
//!    credentials are being checked or once the session is closed.
//! 2. If [`Session::take_auth`] returns credentials, check them (off the async runtime: hashing
//!    is slow) and call [`Session::accept`] or [`Session::reject`]; then go back to 1.
//! 3. Feed queued deliveries with [`Session::deliver`] (a delivery for a subscription that no
//!    longer exists comes back, for the driver to requeue).
//! 4. Write [`Session::take_output`] to the socket.
//! 5. Sleep until [`Session::poll_timeout`], then call [`Session::handle_timeout`].
//! 6. Once [`Session::is_closed`], flush the output, close the socket and hand
//!    [`Session::finish`] to the broker (subscriptions to remove, unacknowledged messages to
//!    requeue).
//!
//! Time is always passed in; the session never reads the clock.
//!
//! # Heart-beating
//! The CONNECTED frame offers `heart-beat:sx,sy` from [`SessionConfig::heart_beat`]. Per the
//! spec the server sends an EOL when it has sent nothing for `max(sx, cy)` ms (if both are
//! non-zero), and expects something from the client every `max(cx, sy)` ms; a client silent
//! for that interval times [`SessionConfig::heart_beat_grace`] is disconnected.
//!
//! # Errors
//! A protocol violation queues an ERROR frame (`message` header, `receipt-id` of the offending
//! frame if it asked for a receipt, a short text body) and closes only this session.
//!
//! # Choices where the specification leaves room
//! - `host` is not required (1.1/1.2 say it is); it is passed on with the credentials.
//! - `accept-version` absent means 1.0; otherwise the highest common version wins. No common
//!   version: ERROR with `version:1.0,1.1,1.2`.
//! - ACK/NACK of an id that is not outstanding is an error (like RabbitMQ's unknown delivery
//!   tag); UNSUBSCRIBE of an unknown id is not (it still gets its RECEIPT).
//! - ACK/NACK inside a transaction are checked when received and applied at COMMIT; a
//!   transaction's frames are dropped by ABORT or when the connection ends.
//! - NACK of a queue message redelivers it (`redelivered:true`, next consumer round-robin); NACK
//!   of a topic message drops it. Unacknowledged queue messages are redelivered when their
//!   subscription or connection ends.
//! - `expires`, `persistent`, `reply-to`, `content-type` and custom headers are carried to
//!   subscribers unchanged (nothing is persisted). `expires` (milliseconds since the Unix
//!   epoch, as ActiveMQ; `0` means never) is enforced by the driver: a message still queued
//!   when it expires is dropped instead of delivered.
//! - MESSAGE frames always carry `content-length`; in 1.2 `ack` equals `message-id`.
//! - `reply-to:/temp-queue/NAME` on SEND (RabbitMQ's temporary reply queues): the first use
//!   creates a queue private to the connection (`amq.gen-<session>-NAME`), subscribed with the
//!   id `/temp-queue/NAME`, and the header reaches receivers as `/reply-queue/amq.gen-…`, a
//!   destination they can SEND replies to. The queue goes away with the connection.
//! - Prefetch: SUBSCRIBE with `prefetch-count:N` (RabbitMQ) or `activemq.prefetchSize:N`
//!   (ActiveMQ) in a client ack mode has at most N unacknowledged messages on that subscription;
//!   further deliveries wait in the session ([`Session::is_holding`]) until ACK/NACK opens the
//!   window (while any wait, the driver stops taking from the connection's outbox). `0`, or an
//!   auto-ack subscription, means no limit.

use super::broker::{AckMode, Delivery, Destination, Message};
use super::codec::{encode, encode_header, Command, DecodeError, Decoder, Frame, Header, Item, Limits, Version};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-connection limits and settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Decoder limits (frame size, header count and length).
    pub limits: Limits,
    /// `(sx, sy)` offered in CONNECTED, milliseconds: how often the server can send
    /// heart-beats and how often it wants them (0 = not at all).
    pub heart_beat: (u32, u32),
    /// A client is dropped after `interval * heart_beat_grace` of silence.
    pub heart_beat_grace: f32,
    /// Time allowed between connecting and CONNECT.
    pub connect_timeout: Duration,
    /// Most subscriptions per connection.
    pub max_subscriptions: usize,
    /// Most transactions open at once per connection.
    pub max_transactions: usize,
    /// Most frames buffered in one transaction.
    pub max_transaction_frames: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            heart_beat: (10_000, 10_000),
            heart_beat_grace: 1.5,
            connect_timeout: Duration::from_secs(10),
            max_subscriptions: 256,
            max_transactions: 16,
            max_transaction_frames: 10_000,
        }
    }
}

/// The broker operations a session needs while handling frames.
pub trait Host {
    /// Routes a message (after an ACL check); `Err` is the ERROR message.
    fn send(&mut self, dest: &Destination, msg: Message) -> Result<(), String>;
    /// Adds a subscription (after an ACL check); `Err` is the ERROR message.
    fn subscribe(&mut self, id: &Arc<str>, dest: &Destination) -> Result<(), String>;
    /// Removes a subscription.
    fn unsubscribe(&mut self, id: &str, dest: &Destination);
    /// Gives back queue messages (NACKed or left unacknowledged by an unsubscription).
    fn requeue(&mut self, deliveries: Vec<Delivery>);
}

/// Credentials from CONNECT, to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `login` header.
    pub login: Option<String>,
    /// `passcode` header.
    pub passcode: Option<String>,
    /// `host` header (virtual host; informational).
    pub host: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitConnect,
    Authenticating,
    Connected,
    Closed,
}

#[derive(Debug)]
struct Sub {
    id: Arc<str>,
    dest: Destination,
    ack: AckMode,
    /// Most unacknowledged messages at once (`prefetch-count` / `activemq.prefetchSize`).
    prefetch: Option<usize>,
}

#[derive(Debug)]
struct Unacked {
    ack_id: u64,
    d: Delivery,
}

/// What a finished session leaves for the broker.
#[derive(Debug, Default)]
pub struct Ending {
    /// Subscriptions to remove.
    pub subscriptions: Vec<(Arc<str>, Destination)>,
    /// Unacknowledged deliveries (queue ones are to be requeued).
    pub unacked: Vec<Delivery>,
}

/// Headers a SEND does not carry through to subscribers.
const NOT_CARRIED: &[&str] =
    &["destination", "content-length", "receipt", "transaction", "subscription", "message-id", "ack", "redelivered"];

/// One connection's protocol state (see the module docs).
#[derive(Debug)]
pub struct Session {
    cfg: Arc<SessionConfig>,
    phase: Phase,
    version: Option<Version>,
    decoder: Decoder,
    out: BytesMut,
    connect_deadline: Instant,
    last_rx: Instant,
    last_tx: Instant,
    hb_send: Option<Duration>,
    hb_recv: Option<Duration>,
    client_hb: (u32, u32),
    auth: Option<Box<Credentials>>,
    subs: Vec<Sub>,
    unacked: VecDeque<Unacked>,
    /// Deliveries waiting for their subscription's prefetch window to open.
    held: VecDeque<Delivery>,
    tx: Vec<(Box<str>, Vec<Frame>)>,
    next_id: u64,
    error: Option<String>,
    /// The `session` of CONNECTED (names this connection's temporary queues).
    name: Box<str>,
}

impl Session {
    /// A session for a connection accepted at `now`.
    #[must_use]
    pub fn new(cfg: Arc<SessionConfig>, now: Instant) -> Self {
        let connect_deadline = now + cfg.connect_timeout;
        Self {
            cfg,
            phase: Phase::AwaitConnect,
            version: None,
            decoder: Decoder::new(),
            out: BytesMut::new(),
            connect_deadline,
            last_rx: now,
            last_tx: now,
            hb_send: None,
            hb_recv: None,
            client_hb: (0, 0),
            auth: None,
            subs: Vec::new(),
            unacked: VecDeque::new(),
            held: VecDeque::new(),
            tx: Vec::new(),
            next_id: 1,
            error: None,
            name: Box::default(),
        }
    }

    /// The negotiated version (after CONNECT).
    #[must_use]
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// True once the connection is over (output may still need flushing).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// True after a successful CONNECT.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// The message of the ERROR that closed the session, or why it closed otherwise.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Negotiated heart-beat intervals: (server sends every, client must send every).
    #[must_use]
    pub fn heart_beats(&self) -> (Option<Duration>, Option<Duration>) {
        (self.hb_send, self.hb_recv)
    }

    /// Number of subscriptions.
    #[must_use]
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Number of unacknowledged deliveries.
    #[must_use]
    pub fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// Takes the bytes to write (the session's buffer starts empty again, so a burst does not
    /// leave a large allocation behind).
    pub fn take_output(&mut self) -> Option<BytesMut> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// Credentials of a CONNECT waiting to be checked.
    pub fn take_auth(&mut self) -> Option<Box<Credentials>> {
        self.auth.take()
    }

    /// True while waiting for [`Self::accept`] / [`Self::reject`].
    #[must_use]
    pub fn is_authenticating(&self) -> bool {
        self.phase == Phase::Authenticating
    }

    /// Call when bytes arrived at `now` (any bytes count as the client's heart-beat).
    pub fn received(&mut self, now: Instant) {
        self.last_rx = now;
    }

    /// Handles every complete frame in `buf` (see the module docs).
    pub fn handle_read(&mut self, now: Instant, buf: &mut BytesMut, host: &mut dyn Host) {
        while matches!(self.phase, Phase::AwaitConnect | Phase::Connected) {
            let version = if self.phase == Phase::Connected { self.version } else { None };
            match self.decoder.decode(buf, version, &self.cfg.limits) {
                Ok(None) => break,
                Ok(Some(Item::HeartBeat)) => {}
                Ok(Some(Item::Frame(f))) => self.handle_frame(now, f, host),
                Err(e) => {
                    buf.clear();
                    self.fail_decode(&e);
                }
            }
        }
        if self.phase == Phase::Closed {
            buf.clear();
        }
    }

    fn fail_decode(&mut self, e: &DecodeError) {
        self.fail(&e.to_string(), None);
    }

    /// Queues an ERROR frame with `message` (and `receipt-id`) and closes the session.
    pub fn fail(&mut self, message: &str, receipt: Option<&str>) {
        if self.phase == Phase::Closed {
            return;
        }
        let v = self.version.unwrap_or(Version::V12);
        let mut f = Frame::new(Command::Error).with("message", message).with("content-type", "text/plain");
        if let Some(r) = receipt {
            f = f.with("receipt-id", r);
        }
        f.body = bytes::Bytes::copy_from_slice(message.as_bytes());
        encode(&f, v, &mut self.out);
        self.error = Some(message.to_owned());
        self.close();
    }

    /// Closes without sending anything more.
    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.auth = None;
    }

    /// The transport ended.
    pub fn connection_lost(&mut self) {
        if self.phase != Phase::Closed {
            self.error.get_or_insert_with(|| "connection lost".to_owned());
            self.close();
        }
    }

    /// The server is shutting down: an ERROR tells the client.
    pub fn shutdown(&mut self) {
        self.fail("server shutting down", None);
    }

    fn receipt(&mut self, f: &Frame) {
        if let Some(r) = f.header("receipt") {
            let r: Box<str> = r.into();
            self.receipt_id(&r);
        }
    }

    fn receipt_id(&mut self, r: &str) {
        let v = self.version.unwrap_or(Version::V12);
        self.out.extend_from_slice(b"RECEIPT\n");
        encode_header(&mut self.out, Command::Receipt, "receipt-id", r, v);
        self.out.extend_from_slice(b"\n\0");
    }

    fn handle_frame(&mut self, now: Instant, f: Frame, host: &mut dyn Host) {
        if self.phase == Phase::AwaitConnect {
            match f.command {
                Command::Connect | Command::Stomp => self.handle_connect(&f),
                _ => self.fail("expected CONNECT or STOMP frame", f.header("receipt")),
            }
            return;
        }
        let _ = now;
        match f.command {
            Command::Connect | Command::Stomp => self.fail("already connected", f.header("receipt")),
            Command::Send => {
                if let Some(t) = f.header("transaction") {
                    self.buffer_tx(t, f.clone());
                } else if self.do_send(&f, host) {
                    self.receipt(&f);
                }
            }
            Command::Subscribe => self.handle_subscribe(&f, host),
            Command::Unsubscribe => self.handle_unsubscribe(&f, host),
            Command::Ack | Command::Nack => {
                if f.command == Command::Nack && self.version == Some(Version::V10) {
                    self.fail("NACK is not supported in STOMP 1.0", f.header("receipt"));
                } else if let Some(t) = f.header("transaction") {
                    // Checked now, applied at COMMIT.
                    if self.ack_target(&f).is_some() {
                        self.buffer_tx(t, f.clone());
                    }
                } else if self.do_ack(&f, host) {
                    self.receipt(&f);
                }
            }
            Command::Begin => self.handle_begin(&f),
            Command::Commit | Command::Abort => self.handle_end_tx(&f, host),
            Command::Disconnect => {
                self.receipt(&f);
                self.error.get_or_insert_with(|| "client disconnected".to_owned());
                self.close();
            }
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                self.fail("unexpected server frame from client", f.header("receipt"));
            }
        }
    }

    fn handle_connect(&mut self, f: &Frame) {
        let version = match f.header("accept-version") {
            None => Version::V10,
            Some(list) => match list.split(',').filter_map(Version::parse).max() {
                Some(v) => v,
                None => {
                    let mut e = Frame::new(Command::Error)
                        .with("message", "unsupported protocol version")
                        .with("version", "1.0,1.1,1.2")
                        .with("content-type", "text/plain");
                    e.body = bytes::Bytes::from_static(b"Supported protocol versions are 1.0 1.1 1.2");
                    encode(&e, Version::V10, &mut self.out);
                    self.error = Some("unsupported protocol version".to_owned());
                    self.close();
                    return;
                }
            },
        };
        if f.command == Command::Stomp && version == Version::V10 {
            self.fail("STOMP frame requires accept-version 1.1 or later", None);
            return;
        }
        self.version = Some(version);
        if version != Version::V10 {
            if let Some(hb) = f.header("heart-beat") {
                match parse_heart_beat(hb) {
                    Some(v) => self.client_hb = v,
                    None => {
                        self.fail("invalid heart-beat header", None);
                        return;
                    }
                }
            }
        }
        self.auth = Some(Box::new(Credentials {
            login: f.header("login").map(str::to_owned),
            passcode: f.header("passcode").map(str::to_owned),
            host: f.header("host").map(str::to_owned),
        }));
        self.phase = Phase::Authenticating;
    }

    /// Credentials accepted: sends CONNECTED (`session` is its session header).
    pub fn accept(&mut self, now: Instant, session: &str) {
        if self.phase != Phase::Authenticating {
            return;
        }
        let v = self.version.unwrap_or(Version::V10);
        let (sx, sy) = self.cfg.heart_beat;
        let (cx, cy) = self.client_hb;
        let iv = |a: u32, b: u32| (a != 0 && b != 0).then(|| Duration::from_millis(u64::from(a.max(b))));
        let mut f = Frame::new(Command::Connected);
        if v != Version::V10 {
            self.hb_send = iv(sx, cy);
            self.hb_recv = iv(cx, sy);
            f = f.with("version", v.as_str()).with("heart-beat", &format!("{sx},{sy}"));
        }
        f = f.with("server", concat!("Starling/", env!("CARGO_PKG_VERSION"))).with("session", session);
        self.name = session.into();
        encode(&f, v, &mut self.out);
        self.phase = Phase::Connected;
        self.last_rx = now;
        self.last_tx = now;
    }

    /// Credentials refused: ERROR with `message`, then close.
    pub fn reject(&mut self, message: &str) {
        if self.phase == Phase::Authenticating {
            self.phase = Phase::Connected; // so that `fail` encodes with the negotiated version
            self.fail(message, None);
        }
    }

    fn do_send(&mut self, f: &Frame, host: &mut dyn Host) -> bool {
        let Some(dest) = f.header("destination") else {
            self.fail("missing destination header", f.header("receipt"));
            return false;
        };
        let d = match Destination::parse(dest) {
            Ok(d) => d,
            Err(e) => {
                self.fail(e, f.header("receipt"));
                return false;
            }
        };
        let mut headers: Vec<Header> = Vec::new();
        for (n, v) in &f.headers {
            if NOT_CARRIED.contains(&&**n) || headers.iter().any(|(h, _)| h == n) {
                continue;
            }
            headers.push((n.clone(), v.clone()));
        }
        if let Some(i) = headers.iter().position(|(n, v)| &**n == "reply-to" && v.starts_with("/temp-queue/")) {
            match self.temp_queue(&headers[i].1, host) {
                Ok(reply) => headers[i].1 = reply.into(),
                Err(e) => {
                    self.fail(&e, f.header("receipt"));
                    return false;
                }
            }
        }
        let msg = Message::new(d.name().clone(), headers, f.body.clone());
        match host.send(&d, msg) {
            Ok(()) => true,
            Err(e) => {
                self.fail(&e, f.header("receipt"));
                false
            }
        }
    }

    /// `reply-to:/temp-queue/NAME` (RabbitMQ): a queue private to this connection, subscribed
    /// with the id `/temp-queue/NAME` on first use; returns the `/reply-queue/…` destination that
    /// replaces the header.
    fn temp_queue(&mut self, temp: &str, host: &mut dyn Host) -> Result<String, String> {
        let name = &temp["/temp-queue/".len()..];
        if name.is_empty() || name.contains(['/', '\0']) {
            return Err("invalid temp-queue destination".to_owned());
        }
        let queue = format!("amq.gen-{}-{name}", self.name);
        if !self.subs.iter().any(|s| &*s.id == temp) {
            if self.subs.len() >= self.cfg.max_subscriptions {
                return Err("too many subscriptions".to_owned());
            }
            let id: Arc<str> = temp.into();
            let dest = Destination::Queue(format!("/queue/{queue}").into());
            host.subscribe(&id, &dest)?;
            self.subs.push(Sub { id, dest, ack: AckMode::Auto, prefetch: None });
        }
        Ok(format!("/reply-queue/{queue}"))
    }

    fn handle_subscribe(&mut self, f: &Frame, host: &mut dyn Host) {
        let receipt = f.header("receipt");
        let Some(dest) = f.header("destination") else {
            return self.fail("missing destination header", receipt);
        };
        let id: Arc<str> = match (f.header("id"), self.version) {
            (Some(id), _) => id.into(),
            (None, Some(Version::V10)) => dest.into(),
            (None, _) => return self.fail("missing id header", receipt),
        };
        let Some(ack) = AckMode::parse(f.header("ack")) else {
            return self.fail("invalid ack mode", receipt);
        };
        let d = match Destination::parse(dest) {
            Ok(d) => d,
            Err(e) => return self.fail(e, receipt),
        };
        if self.subs.iter().any(|s| s.id == id) {
            return self.fail("duplicate subscription id", receipt);
        }
        if self.subs.len() >= self.cfg.max_subscriptions {
            return self.fail("too many subscriptions", receipt);
        }
        let prefetch = match f.header("prefetch-count").or_else(|| f.header("activemq.prefetchSize")) {
            None => None,
            Some(p) => match p.trim().parse::<usize>() {
                Ok(0) => None,
                Ok(n) => (ack != AckMode::Auto).then_some(n),
                Err(_) => return self.fail("invalid prefetch-count header", receipt),
            },
        };
        if let Err(e) = host.subscribe(&id, &d) {
            return self.fail(&e, receipt);
        }
        self.subs.push(Sub { id, dest: d, ack, prefetch });
        self.receipt(f);
    }

    fn handle_unsubscribe(&mut self, f: &Frame, host: &mut dyn Host) {
        let key = f.header("id").or(if self.version == Some(Version::V10) { f.header("destination") } else { None });
        let Some(key) = key else {
            return self.fail("missing id header", f.header("receipt"));
        };
        let idx = self.subs.iter().position(|s| &*s.id == key).or_else(|| {
            // 1.0 clients may unsubscribe by destination.
            (self.version == Some(Version::V10))
                .then(|| self.subs.iter().position(|s| &**s.dest.name() == key))
                .flatten()
        });
        if let Some(i) = idx {
            let s = self.subs.remove(i);
            host.unsubscribe(&s.id, &s.dest);
            let mut back = Vec::new();
            self.unacked.retain(|u| {
                if u.d.sub_id == s.id {
                    back.push(u.d.clone());
                    false
                } else {
                    true
                }
            });
            self.held.retain(|d| {
                if d.sub_id == s.id {
                    back.push(d.clone());
                    false
                } else {
                    true
                }
            });
            if !back.is_empty() {
                host.requeue(back);
            }
        }
        self.receipt(f);
    }

    /// The unacked entry an ACK/NACK names: index into `unacked`. Fails the session if none.
    fn ack_target(&mut self, f: &Frame) -> Option<usize> {
        let receipt = f.header("receipt");
        let id = match self.version {
            Some(Version::V12) => f.header("id"),
            _ => f.header("message-id"),
        };
        let Some(id) = id else {
            let h = if self.version == Some(Version::V12) { "missing id header" } else { "missing message-id header" };
            self.fail(h, receipt);
            return None;
        };
        let found = id.parse::<u64>().ok().and_then(|n| self.unacked.iter().position(|u| u.ack_id == n));
        match found {
            Some(i) => {
                if self.version == Some(Version::V11) {
                    if let Some(sub) = f.header("subscription") {
                        if *self.unacked[i].d.sub_id != *sub {
                            self.fail("subscription does not match message-id", receipt);
                            return None;
                        }
                    }
                }
                Some(i)
            }
            None => {
                self.fail("unknown or already acknowledged message id", receipt);
                None
            }
        }
    }

    fn do_ack(&mut self, f: &Frame, host: &mut dyn Host) -> bool {
        let Some(i) = self.ack_target(f) else { return false };
        let (ack_id, sub) = (self.unacked[i].ack_id, self.unacked[i].d.sub_id.clone());
        let cumulative = self.subs.iter().find(|s| s.id == sub).is_none_or(|s| s.ack == AckMode::Client);
        let mut taken = Vec::new();
        if cumulative {
            self.unacked.retain(|u| {
                if u.d.sub_id == sub && u.ack_id <= ack_id {
                    taken.push(u.d.clone());
                    false
                } else {
                    true
                }
            });
        } else if let Some(u) = self.unacked.remove(i) {
            taken.push(u.d);
        }
        if self.unacked.is_empty() && self.unacked.capacity() > 64 {
            self.unacked = VecDeque::new();
        }
        if f.command == Command::Nack {
            taken.retain(|d| d.queue.is_some());
            if !taken.is_empty() {
                host.requeue(taken);
            }
        }
        self.release_held();
        true
    }

    /// Delivers held messages whose subscription's prefetch window has room again.
    fn release_held(&mut self) {
        for d in std::mem::take(&mut self.held) {
            if let Err(d) = self.deliver(d) {
                // The subscription is gone; keep it for `finish` to hand back.
                self.held.push_back(d);
            }
        }
    }

    /// True while deliveries wait for a prefetch window: the driver should not hand over more
    /// (so that the outbox, not the session, bounds what is queued).
    #[must_use]
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    fn buffer_tx(&mut self, name: &str, f: Frame) {
        let max = self.cfg.max_transaction_frames;
        let receipt: Option<Box<str>> = f.header("receipt").map(Into::into);
        let err = match self.tx.iter_mut().find(|(n, _)| &**n == name) {
            Some((_, frames)) if frames.len() < max => {
                frames.push(f);
                None
            }
            Some(_) => Some("too many frames in transaction"),
            None => Some("unknown transaction"),
        };
        match (err, receipt) {
            (Some(e), r) => self.fail(e, r.as_deref()),
            (None, Some(r)) => self.receipt_id(&r),
            (None, None) => {}
        }
    }

    fn handle_begin(&mut self, f: &Frame) {
        let receipt = f.header("receipt");
        let Some(name) = f.header("transaction") else {
            return self.fail("missing transaction header", receipt);
        };
        if self.tx.iter().any(|(n, _)| &**n == name) {
            return self.fail("transaction already started", receipt);
        }
        if self.tx.len() >= self.cfg.max_transactions {
            return self.fail("too many transactions", receipt);
        }
        self.tx.push((name.into(), Vec::new()));
        self.receipt(f);
    }

    fn handle_end_tx(&mut self, f: &Frame, host: &mut dyn Host) {
        let receipt = f.header("receipt");
        let Some(name) = f.header("transaction") else {
            return self.fail("missing transaction header", receipt);
        };
        let Some(i) = self.tx.iter().position(|(n, _)| &**n == name) else {
            return self.fail("unknown transaction", receipt);
        };
        let (_, frames) = self.tx.swap_remove(i);
        if f.command == Command::Commit {
            for g in frames {
                let ok = match g.command {
                    Command::Send => self.do_send(&g, host),
                    _ => self.do_ack(&g, host),
                };
                if !ok {
                    return;
                }
            }
        }
        self.receipt(f);
    }

    /// Writes a MESSAGE for `d`; gives it back if its subscription is gone.
    pub fn deliver(&mut self, d: Delivery) -> Result<(), Delivery> {
        if self.phase != Phase::Connected {
            return Err(d);
        }
        let Some(sub) = self.subs.iter().find(|s| s.id == d.sub_id) else { return Err(d) };
        let ack = sub.ack;
        if let Some(max) = sub.prefetch {
            if self.unacked.iter().filter(|u| u.d.sub_id == d.sub_id).count() >= max {
                self.held.push_back(d);
                return Ok(());
            }
        }
        let v = self.version.unwrap_or(Version::V10);
        let id = self.next_id;
        self.next_id += 1;
        let mut idbuf = String::new();
        let _ = write!(idbuf, "{id}");
        let out = &mut self.out;
        let m = &d.msg;
        out.reserve(64 + m.destination.len() + m.body.len() + d.sub_id.len());
        out.extend_from_slice(b"MESSAGE\n");
        let c = Command::Message;
        encode_header(out, c, "subscription", &d.sub_id, v);
        encode_header(out, c, "message-id", &idbuf, v);
        encode_header(out, c, "destination", &m.destination, v);
        if ack != AckMode::Auto && v == Version::V12 {
            encode_header(out, c, "ack", &idbuf, v);
        }
        if d.redelivered {
            encode_header(out, c, "redelivered", "true", v);
        }
        for (n, val) in &m.headers {
            encode_header(out, c, n, val, v);
        }
        let mut len = String::new();
        let _ = write!(len, "{}", m.body.len());
        encode_header(out, c, "content-length", &len, v);
        out.extend_from_slice(b"\n");
        out.extend_from_slice(&m.body);
        out.extend_from_slice(b"\0");
        if ack != AckMode::Auto {
            self.unacked.push_back(Unacked { ack_id: id, d });
        }
        Ok(())
    }

    /// The next instant [`Self::handle_timeout`] is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::AwaitConnect | Phase::Authenticating => Some(self.connect_deadline),
            Phase::Closed => None,
            Phase::Connected => {
                let tx = self.hb_send.map(|i| self.last_tx + i);
                let rx = self.hb_recv.map(|i| self.last_rx + i.mul_f32(self.cfg.heart_beat_grace));
                match (tx, rx) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// Call when the output was written at `now` (resets the outbound heart-beat clock).
    pub fn sent(&mut self, now: Instant) {
        self.last_tx = now;
    }

    /// Handles timers due at `now`: connect timeout, missed client heart-beats, and our own
    /// heart-beat EOLs.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::AwaitConnect | Phase::Authenticating if now >= self.connect_deadline => {
                self.error = Some("no CONNECT frame in time".to_owned());
                self.close();
            }
            Phase::Connected => {
                if let Some(i) = self.hb_recv {
                    if now >= self.last_rx + i.mul_f32(self.cfg.heart_beat_grace) {
                        self.error = Some("heart-beat timeout".to_owned());
                        self.close();
                        return;
                    }
                }
                if let Some(i) = self.hb_send {
                    if now >= self.last_tx + i && self.out.is_empty() {
                        self.out.extend_from_slice(b"\n");
                        self.last_tx = now;
                    }
                }
            }
            _ => {}
        }
    }

    /// Ends the session: what the broker must undo.
    pub fn finish(&mut self) -> Ending {
        self.close();
        Ending {
            subscriptions: self.subs.drain(..).map(|s| (s.id, s.dest)).collect(),
            unacked: self.unacked.drain(..).map(|u| u.d).chain(self.held.drain(..)).collect(),
        }
    }
}

fn parse_heart_beat(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
