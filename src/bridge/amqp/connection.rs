//! One AMQP connection's protocol state machine (sans-IO, time passed in).
//!
//! # Call order (the connection task's loop)
//! 1. [`Connection::handle_input`] with the bytes read so far and the locked broker;
//! 2. if [`Connection::poll_auth`] yields credentials, check them off the runtime and call
//!    [`Connection::auth_done`];
//! 3. [`Connection::pump`] to move deliveries from the broker's outbox into the output;
//! 4. write [`Connection::take_output`] to the socket;
//! 5. wait for input, the outbox's `Notify`, or [`Connection::poll_timeout`] (then call
//!    [`Connection::handle_timeout`]);
//! 6. once [`Connection::is_closed`], call [`Connection::finish`] so unacknowledged messages
//!    return to their queues.
//!
//! Errors follow the 0-9-1 spec as RabbitMQ applies it: a soft error (403, 404, 405, 406)
//! closes the channel with channel.close; a hard error (5xx, 320, 402) closes the connection
//! with connection.close. After sending channel.close, frames on that channel are discarded
//! until channel.close-ok; after connection.close, everything except close/close-ok is.

use super::broker::{AmqpError, Broker, Message, Outgoing, Queued, Settle};
use super::frames::{self, decode, encode_content, encode_heartbeat, encode_method, reply, Frame, PROTOCOL_HEADER};
use crate::bridge::mqtt::auth::{Authenticator, Principal};
use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::protocol::{basic, channel, connection, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-connection limits and server identity.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Largest frame the server accepts and proposes (connection.tune frame-max).
    pub frame_max: u32,
    /// Highest channel number (connection.tune channel-max).
    pub channel_max: u16,
    /// Heartbeat interval proposed, in seconds (0 disables).
    pub heartbeat: u16,
    /// Time allowed from the TCP connect to connection.open.
    pub handshake_timeout: Duration,
    /// Accept `guest`/`guest` from loopback peers without asking the authenticator.
    pub guest_loopback: bool,
    /// Largest message body accepted.
    pub max_message_size: u64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            handshake_timeout: Duration::from_secs(10),
            guest_loopback: true,
            max_message_size: 128 * 1024 * 1024,
        }
    }
}

/// Credentials to check (see [`Connection::poll_auth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// SASL mechanism used.
    pub mechanism: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    StartOk,
    Authenticating,
    TuneOk,
    Open,
    Running,
    /// connection.close sent; waiting for close-ok.
    Closing(Instant),
    Closed,
}

struct Content {
    publish: basic::Publish,
    properties: Option<AMQPProperties>,
    size: u64,
    body: Vec<Bytes>,
    received: u64,
}

struct Unacked {
    queue: Arc<str>,
    item: Queued,
    consumer: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy)]
enum TxSettle {
    Ack { tag: u64, multiple: bool },
    Reject { tag: u64, multiple: bool, requeue: bool },
}

#[derive(Default)]
struct Channel {
    closing: bool,
    content: Option<Content>,
    next_tag: u64,
    unacked: BTreeMap<u64, Unacked>,
    consumers: HashSet<Arc<str>>,
    confirm: bool,
    next_seq: u64,
    confirms: Vec<(u64, bool)>,
    tx: Option<(Vec<Message>, Vec<TxSettle>)>,
}

/// One AMQP 0-9-1 connection (see the module docs for the call order).
pub struct Connection {
    cfg: ConnectionConfig,
    id: u64,
    loopback: bool,
    phase: Phase,
    started: Instant,
    out: Vec<u8>,
    channels: HashMap<u16, Channel>,
    frame_max: u32,
    channel_max: u16,
    heartbeat: Option<Duration>,
    last_recv: Instant,
    last_send: Instant,
    auth: Option<AuthRequest>,
    user: String,
    /// The user's publish/subscribe permissions (`None`: everything is allowed).
    access: Option<Box<Access>>,
    cancel_notify: bool,
    auth_failure_close: bool,
    close_reason: Option<(u16, String)>,
}

/// Who a connection's user is, and the authenticator that knows their permissions.
struct Access {
    auth: Arc<dyn Authenticator>,
    who: Principal,
}

/// The name a publish to `exchange` with `routing_key`, or a binding of that key, is checked as
/// against a user's `publish`/`subscribe` patterns: the STOMP destination with the same meaning,
/// without its leading `/`: `queue/KEY` for the default exchange, `topic/KEY` for `amq.topic`,
/// `exchange/NAME/KEY` otherwise. Consuming from (or `basic.get` on) queue `Q` is checked as
/// subscribing to `queue/Q`.
#[must_use]
pub fn acl_name(exchange: &str, routing_key: &str) -> String {
    match exchange {
        "" => format!("queue/{routing_key}"),
        "amq.topic" => format!("topic/{routing_key}"),
        e => format!("exchange/{e}/{routing_key}"),
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).field("phase", &self.phase).finish_non_exhaustive()
    }
}

fn table(entries: Vec<(&str, AMQPValue)>) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(k.into(), v);
    }
    t
}

fn lstr(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// Parses a SASL response for PLAIN (`authzid\0user\0pass`) or AMQPLAIN (a field table
/// without its length prefix, with LOGIN and PASSWORD).
#[must_use]
pub fn parse_sasl(mechanism: &str, response: &[u8]) -> Option<(String, Vec<u8>)> {
    match mechanism {
        "PLAIN" => {
            let mut parts = response.split(|b| *b == 0);
            let _authzid = parts.next()?;
            let user = parts.next()?;
            let pass = parts.next()?;
            if parts.next().is_some() {
                return None;
            }
            Some((String::from_utf8(user.to_vec()).ok()?, pass.to_vec()))
        }
        "AMQPLAIN" => {
            let mut buf = Vec::with_capacity(response.len() + 4);
            buf.extend_from_slice(&u32::try_from(response.len()).ok()?.to_be_bytes());
            buf.extend_from_slice(response);
            let (rest, t) = amq_protocol::types::parsing::parse_field_table(&buf[..]).ok()?;
            if !rest.is_empty() {
                return None;
            }
            let get = |k: &str| -> Option<Vec<u8>> {
                match t.inner().get(k)? {
                    AMQPValue::LongString(s) => Some(s.as_bytes().to_vec()),
                    AMQPValue::ShortString(s) => Some(s.as_str().as_bytes().to_vec()),
                    _ => None,
                }
            };
            Some((String::from_utf8(get("LOGIN")?).ok()?, get("PASSWORD")?))
        }
        _ => None,
    }
}

impl Connection {
    /// A new connection with broker connection id `id`; `loopback` says whether the peer's
    /// address is a loopback one (for the guest rule).
    #[must_use]
    pub fn new(cfg: ConnectionConfig, id: u64, loopback: bool, now: Instant) -> Self {
        Self {
            frame_max: cfg.frame_max,
            channel_max: cfg.channel_max,
            cfg,
            id,
            loopback,
            phase: Phase::Header,
            started: now,
            out: Vec::with_capacity(16 * 1024),
            channels: HashMap::new(),
            heartbeat: None,
            last_recv: now,
            last_send: now,
            auth: None,
            user: String::new(),
            access: None,
            cancel_notify: false,
            auth_failure_close: false,
            close_reason: None,
        }
    }

    /// The broker's id for this connection.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The authenticated user name.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether the socket should be closed now (after writing the remaining output).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The reply code and text this connection was closed with, if it was closed by an error.
    #[must_use]
    pub fn close_reason(&self) -> Option<&(u16, String)> {
        self.close_reason.as_ref()
    }

    /// Bytes to write; marks the send time for heartbeats.
    pub fn take_output(&mut self, now: Instant) -> Vec<u8> {
        if !self.out.is_empty() {
            self.last_send = now;
        }
        std::mem::take(&mut self.out)
    }

    /// Bytes waiting to be written.
    #[must_use]
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Credentials waiting to be checked.
    pub fn poll_auth(&mut self) -> Option<AuthRequest> {
        self.auth.take()
    }

    /// The socket was closed or failed.
    pub fn connection_lost(&mut self) {
        self.phase = Phase::Closed;
    }

    /// When [`Self::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed => None,
            Phase::Closing(since) => Some(since + Duration::from_secs(3)),
            Phase::Running => self.heartbeat.map(|h| (self.last_send + h / 2).min(self.last_recv + h * 2)),
            _ => Some(self.started + self.cfg.handshake_timeout),
        }
    }

    /// Heartbeats out, peer liveness, handshake and close timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Closed => {}
            Phase::Closing(since) => {
                if now >= since + Duration::from_secs(3) {
                    self.phase = Phase::Closed;
                }
            }
            Phase::Running => {
                let Some(h) = self.heartbeat else { return };
                if now >= self.last_recv + h * 2 {
                    tracing::debug!("AMQP connection {}: missed heartbeats", self.id);
                    self.close_reason = Some((0, "missed heartbeats from client".into()));
                    self.phase = Phase::Closed;
                } else if now >= self.last_send + h / 2 && self.out.is_empty() {
                    encode_heartbeat(&mut self.out);
                }
            }
            _ => {
                if now >= self.started + self.cfg.handshake_timeout {
                    self.phase = Phase::Closed;
                }
            }
        }
    }

    fn send(&mut self, channel: u16, m: AMQPClass) {
        encode_method(channel, m, &mut self.out);
    }

    /// Sends connection.close and waits for close-ok.
    pub fn close(&mut self, now: Instant, code: u16, text: &str, ids: (u16, u16)) {
        if matches!(self.phase, Phase::Closing(_) | Phase::Closed) {
            return;
        }
        if self.phase == Phase::Header {
            self.phase = Phase::Closed;
            return;
        }
        self.close_reason = Some((code, text.to_owned()));
        self.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
                reply_code: code,
                reply_text: text.into(),
                class_id: ids.0,
                method_id: ids.1,
            })),
        );
        self.phase = Phase::Closing(now);
    }

    fn hard(&mut self, now: Instant, e: &AmqpError, ids: (u16, u16)) {
        self.close(now, e.code, &e.text.clone(), ids);
    }

    /// Decodes and handles every complete frame in `buf`.
    pub fn handle_input(&mut self, now: Instant, buf: &mut BytesMut, broker: &mut Broker) {
        if !buf.is_empty() {
            self.last_recv = now;
        }
        loop {
            match self.phase {
                Phase::Closed | Phase::Authenticating => break,
                Phase::Header => {
                    if buf.len() < 8 {
                        if !buf.is_empty() && !PROTOCOL_HEADER.starts_with(&buf[..]) {
                            self.out.extend_from_slice(PROTOCOL_HEADER);
                            self.phase = Phase::Closed;
                        }
                        break;
                    }
                    let hdr = buf.split_to(8);
                    if &hdr[..] != PROTOCOL_HEADER {
                        self.out.extend_from_slice(PROTOCOL_HEADER);
                        self.phase = Phase::Closed;
                        break;
                    }
                    self.send_start();
                    self.phase = Phase::StartOk;
                }
                _ => {
                    let max = if self.phase == Phase::Running { self.frame_max } else { self.cfg.frame_max };
                    match decode(buf, max) {
                        Ok(None) => break,
                        Ok(Some(f)) => self.handle_frame(now, f, broker),
                        Err(e) => {
                            buf.clear();
                            let e2 = AmqpError::new(e.reply_code(), e.to_string());
                            self.hard(now, &e2, e.ids());
                            break;
                        }
                    }
                }
            }
        }
        self.flush_confirms();
    }

    fn send_start(&mut self) {
        let caps = table(vec![
            ("publisher_confirms", AMQPValue::Boolean(true)),
            ("exchange_exchange_bindings", AMQPValue::Boolean(true)),
            ("basic.nack", AMQPValue::Boolean(true)),
            ("consumer_cancel_notify", AMQPValue::Boolean(true)),
            ("connection.blocked", AMQPValue::Boolean(true)),
            ("consumer_priorities", AMQPValue::Boolean(false)),
            ("authentication_failure_close", AMQPValue::Boolean(true)),
            ("per_consumer_qos", AMQPValue::Boolean(true)),
            ("direct_reply_to", AMQPValue::Boolean(false)),
        ]);
        let props = table(vec![
            ("capabilities", AMQPValue::FieldTable(caps)),
            ("cluster_name", lstr("starling")),
            ("copyright", lstr("Starling contributors")),
            ("information", lstr("Starling DDS bridge, AMQP 0-9-1 endpoint")),
            ("platform", lstr("Rust")),
            ("product", lstr("Starling")),
            ("version", lstr(env!("CARGO_PKG_VERSION"))),
        ]);
        self.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Start(connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: props,
                mechanisms: "PLAIN AMQPLAIN".into(),
                locales: "en_US".into(),
            })),
        );
    }

    /// Sets the authenticated user's permissions, checked from then on for every publish (as
    /// [`acl_name`] of its exchange and routing key), `queue.bind` (the same name, as a subscription)
    /// and `basic.consume`/`basic.get` (`queue/NAME`); a refusal closes the channel with 403.
    pub fn set_access(&mut self, auth: Arc<dyn Authenticator>, who: Principal) {
        self.access = Some(Box::new(Access { auth, who }));
    }

    /// Checks a publish (`publish`) or a subscription to `name` against the user's permissions.
    fn permit(&self, publish: bool, name: &str) -> Result<(), AmqpError> {
        let Some(a) = &self.access else { return Ok(()) };
        let ok = if publish { a.auth.can_publish(&a.who, name) } else { a.auth.can_subscribe(&a.who, name) };
        if ok {
            return Ok(());
        }
        let what = if publish { "write" } else { "read" };
        Err(AmqpError::new(
            reply::ACCESS_REFUSED,
            format!("{what} access to '{name}' refused for user '{}'", self.user),
        ))
    }

    /// Result of checking [`AuthRequest`] credentials: `Ok(user)` or `Err(())` for refused.
    pub fn auth_done(&mut self, now: Instant, result: Result<String, ()>) {
        if self.phase != Phase::Authenticating {
            return;
        }
        match result {
            Ok(user) => {
                self.user = user;
                self.send(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::Tune(connection::Tune {
                        channel_max: self.cfg.channel_max,
                        frame_max: self.cfg.frame_max,
                        heartbeat: self.cfg.heartbeat,
                    })),
                );
                self.phase = Phase::TuneOk;
            }
            Err(()) => {
                if self.auth_failure_close {
                    self.phase = Phase::StartOk;
                    self.close(
                        now,
                        reply::ACCESS_REFUSED,
                        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
                        (0, 0),
                    );
                    self.phase = Phase::Closed;
                } else {
                    self.phase = Phase::Closed;
                }
            }
        }
    }

    /// Whether `guest` should be refused outright (non-loopback peer) or accepted (loopback).
    #[must_use]
    pub fn guest_rule(&self, req: &AuthRequest) -> Option<bool> {
        if !self.cfg.guest_loopback || req.username != "guest" {
            return None;
        }
        Some(self.loopback && req.password == b"guest")
    }

    fn handle_frame(&mut self, now: Instant, f: Frame, broker: &mut Broker) {
        if let Phase::Closing(_) = self.phase {
            if let Frame::Method { channel: 0, method } = &f {
                match **method {
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => self.phase = Phase::Closed,
                    AMQPClass::Connection(connection::AMQPMethod::Close(_)) => {
                        self.send(0, AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})));
                        self.phase = Phase::Closed;
                    }
                    _ => {}
                }
            }
            return;
        }
        if let Frame::Heartbeat { channel } = f {
            if channel != 0 {
                self.close(now, reply::FRAME_ERROR, "FRAME_ERROR - heartbeat frame on a non-zero channel", (0, 0));
            }
            return;
        }
        if self.phase != Phase::Running {
            self.handshake_frame(now, f);
            return;
        }
        let ch = f.channel();
        if ch == 0 {
            match f {
                Frame::Method { method, .. } => match *method {
                    AMQPClass::Connection(connection::AMQPMethod::Close(_)) => {
                        self.send(0, AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})));
                        self.phase = Phase::Closed;
                    }
                    AMQPClass::Connection(
                        connection::AMQPMethod::Blocked(_)
                        | connection::AMQPMethod::Unblocked(_)
                        | connection::AMQPMethod::UpdateSecret(_),
                    ) => {}
                    m => {
                        let ids = (m.get_amqp_class_id(), m.get_amqp_method_id());
                        self.close(
                            now,
                            reply::COMMAND_INVALID,
                            "COMMAND_INVALID - unexpected method on channel 0",
                            ids,
                        );
                    }
                },
                _ => self.close(now, reply::UNEXPECTED_FRAME, "UNEXPECTED_FRAME - content frame on channel 0", (0, 0)),
            }
            return;
        }
        if ch > self.channel_max {
            self.close(now, reply::CHANNEL_ERROR, &format!("CHANNEL_ERROR - channel {ch} above channel-max"), (20, 10));
            return;
        }
        self.channel_frame(now, ch, f, broker);
    }

    fn handshake_frame(&mut self, now: Instant, f: Frame) {
        let Frame::Method { channel: 0, method } = f else {
            self.close(
                now,
                reply::COMMAND_INVALID,
                "COMMAND_INVALID - expected a connection method on channel 0",
                (0, 0),
            );
            return;
        };
        let ids = (method.get_amqp_class_id(), method.get_amqp_method_id());
        match (self.phase, *method) {
            (Phase::StartOk, AMQPClass::Connection(connection::AMQPMethod::StartOk(s))) => {
                if let Some(AMQPValue::FieldTable(caps)) = s.client_properties.inner().get("capabilities") {
                    let on = |k: &str| matches!(caps.inner().get(k), Some(AMQPValue::Boolean(true)));
                    self.cancel_notify = on("consumer_cancel_notify");
                    self.auth_failure_close = on("authentication_failure_close");
                }
                let mech = s.mechanism.as_str().to_owned();
                match parse_sasl(&mech, s.response.as_bytes()) {
                    Some((username, password)) => {
                        self.auth = Some(AuthRequest { mechanism: mech, username, password });
                        self.phase = Phase::Authenticating;
                    }
                    None => {
                        self.close(
                            now,
                            reply::ACCESS_REFUSED,
                            &format!("ACCESS_REFUSED - unsupported mechanism or malformed response for '{mech}'"),
                            ids,
                        );
                    }
                }
            }
            (Phase::TuneOk, AMQPClass::Connection(connection::AMQPMethod::TuneOk(t))) => {
                if t.frame_max != 0 && t.frame_max < frames::FRAME_MIN_SIZE {
                    self.close(now, reply::SYNTAX_ERROR, "SYNTAX_ERROR - frame_max below the minimum 4096", ids);
                    return;
                }
                if t.frame_max > self.cfg.frame_max || (t.frame_max == 0 && self.cfg.frame_max != 0) {
                    self.close(
                        now,
                        reply::NOT_ALLOWED,
                        &format!("NOT_ALLOWED - frame_max={} > {} max size", t.frame_max, self.cfg.frame_max),
                        ids,
                    );
                    return;
                }
                self.frame_max = t.frame_max;
                self.channel_max =
                    if t.channel_max == 0 { self.cfg.channel_max } else { t.channel_max.min(self.cfg.channel_max) };
                self.heartbeat = (t.heartbeat > 0).then(|| Duration::from_secs(u64::from(t.heartbeat)));
                self.phase = Phase::Open;
            }
            (Phase::Open, AMQPClass::Connection(connection::AMQPMethod::Open(o))) => {
                if o.virtual_host.as_str() != "/" {
                    self.close(
                        now,
                        reply::NOT_ALLOWED,
                        &format!("NOT_ALLOWED - vhost {} not found", o.virtual_host.as_str()),
                        ids,
                    );
                    return;
                }
                self.send(0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(connection::OpenOk {})));
                self.phase = Phase::Running;
            }
            (_, AMQPClass::Connection(connection::AMQPMethod::Close(_))) => {
                self.send(0, AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})));
                self.phase = Phase::Closed;
            }
            _ => {
                self.close(now, reply::COMMAND_INVALID, "COMMAND_INVALID - unexpected method during the handshake", ids)
            }
        }
    }

    fn channel_frame(&mut self, now: Instant, ch: u16, f: Frame, broker: &mut Broker) {
        let Some(c) = self.channels.get_mut(&ch) else {
            match f {
                Frame::Method { method, .. } if matches!(*method, AMQPClass::Channel(channel::AMQPMethod::Open(_))) => {
                    self.channels.insert(ch, Channel { next_tag: 1, next_seq: 1, ..Channel::default() });
                    self.send(ch, AMQPClass::Channel(channel::AMQPMethod::OpenOk(channel::OpenOk {})));
                }
                Frame::Method { method, .. } => {
                    let ids = (method.get_amqp_class_id(), method.get_amqp_method_id());
                    self.close(
                        now,
                        reply::CHANNEL_ERROR,
                        &format!("CHANNEL_ERROR - expected 'channel.open' on channel {ch}"),
                        ids,
                    );
                }
                _ => {
                    self.close(now, reply::CHANNEL_ERROR, &format!("CHANNEL_ERROR - channel {ch} is not open"), (0, 0))
                }
            }
            return;
        };
        if c.closing {
            if let Frame::Method { method, .. } = f {
                match *method {
                    AMQPClass::Channel(channel::AMQPMethod::CloseOk(_)) => {
                        self.channels.remove(&ch);
                    }
                    AMQPClass::Channel(channel::AMQPMethod::Close(_)) => {
                        self.send(ch, AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})));
                        self.channels.remove(&ch);
                    }
                    _ => {}
                }
            }
            return;
        }
        match f {
            Frame::Method { method, .. } => {
                if c.content.is_some() {
                    let ids = (method.get_amqp_class_id(), method.get_amqp_method_id());
                    self.close(now, reply::UNEXPECTED_FRAME, "UNEXPECTED_FRAME - expected content header or body", ids);
                    return;
                }
                let ids = (method.get_amqp_class_id(), method.get_amqp_method_id());
                if let Err(e) = self.method(now, ch, *method, broker) {
                    if e.is_hard() {
                        self.hard(now, &e, ids);
                    } else {
                        self.close_channel(now, ch, &e, ids, broker);
                    }
                }
            }
            Frame::Header { class_id, body_size, properties, .. } => {
                let Some(content) = c.content.as_mut().filter(|ct| ct.properties.is_none()) else {
                    self.close(
                        now,
                        reply::UNEXPECTED_FRAME,
                        "UNEXPECTED_FRAME - content header without basic.publish",
                        (60, 40),
                    );
                    return;
                };
                if class_id != 60 {
                    self.close(
                        now,
                        reply::FRAME_ERROR,
                        "FRAME_ERROR - content header for a class other than basic",
                        (60, 40),
                    );
                    return;
                }
                if body_size > self.cfg.max_message_size {
                    let e = AmqpError::new(
                        reply::PRECONDITION_FAILED,
                        format!(
                            "message size {body_size} is larger than configured max size {}",
                            self.cfg.max_message_size
                        ),
                    );
                    self.hard(now, &AmqpError { code: reply::FRAME_ERROR, ..e }, (60, 40));
                    return;
                }
                content.properties = Some(*properties);
                content.size = body_size;
                if body_size == 0 {
                    self.content_complete(now, ch, broker);
                }
            }
            Frame::Body { data, .. } => {
                let Some(content) = c.content.as_mut().filter(|ct| ct.properties.is_some()) else {
                    self.close(
                        now,
                        reply::UNEXPECTED_FRAME,
                        "UNEXPECTED_FRAME - content body without header",
                        (60, 40),
                    );
                    return;
                };
                content.received += data.len() as u64;
                content.body.push(data);
                if content.received > content.size {
                    self.close(now, reply::FRAME_ERROR, "FRAME_ERROR - content body longer than announced", (60, 40));
                } else if content.received == content.size {
                    self.content_complete(now, ch, broker);
                }
            }
            Frame::Heartbeat { .. } => {}
        }
    }

    fn close_channel(&mut self, now: Instant, ch: u16, e: &AmqpError, ids: (u16, u16), broker: &mut Broker) {
        self.release_channel(now, ch, broker);
        if let Some(c) = self.channels.get_mut(&ch) {
            c.closing = true;
        }
        self.send(
            ch,
            AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: e.code,
                reply_text: e.text.as_str().into(),
                class_id: ids.0,
                method_id: ids.1,
            })),
        );
    }

    /// Returns a channel's unacknowledged messages to their queues and ends its consumers.
    fn release_channel(&mut self, now: Instant, ch: u16, broker: &mut Broker) {
        let Some(c) = self.channels.get_mut(&ch) else { return };
        let unacked = std::mem::take(&mut c.unacked);
        c.consumers.clear();
        c.content = None;
        c.tx = None;
        c.confirms.clear();
        for (_, u) in unacked.into_iter().rev() {
            broker.settle(now, self.id, ch, u.consumer.as_ref(), &u.queue, u.item, Settle::Requeue);
        }
        broker.close_channel(now, self.id, ch);
    }

    fn content_complete(&mut self, now: Instant, ch: u16, broker: &mut Broker) {
        let Some(c) = self.channels.get_mut(&ch) else { return };
        let Some(content) = c.content.take() else { return };
        let body = if content.body.len() == 1 {
            content.body.into_iter().next().unwrap_or_default()
        } else {
            let mut b = BytesMut::with_capacity(content.received as usize);
            for part in content.body {
                b.extend_from_slice(&part);
            }
            b.freeze()
        };
        let msg = Message {
            exchange: Arc::from(content.publish.exchange.as_str()),
            routing_key: Arc::from(content.publish.routing_key.as_str()),
            properties: content.properties.unwrap_or_default(),
            body,
        };
        let ids = (60, 40);
        if let Some(uid) = msg.properties.user_id() {
            if uid.as_str() != self.user {
                let e = AmqpError::new(
                    reply::PRECONDITION_FAILED,
                    format!("user_id property set to '{}' but authenticated user was '{}'", uid.as_str(), self.user),
                );
                self.close_channel(now, ch, &e, ids, broker);
                return;
            }
        }
        if let Err(e) = super::broker::parse_expiration(&msg.properties) {
            self.close_channel(now, ch, &e, ids, broker);
            return;
        }
        if let Err(e) = broker.check_publish(&msg.exchange) {
            self.close_channel(now, ch, &e, ids, broker);
            return;
        }
        if let Err(e) = self.permit(true, &acl_name(&msg.exchange, &msg.routing_key)) {
            self.close_channel(now, ch, &e, ids, broker);
            return;
        }
        let Some(c) = self.channels.get_mut(&ch) else { return };
        if let Some((pubs, _)) = &mut c.tx {
            pubs.push(msg);
            return;
        }
        let mandatory = content.publish.mandatory;
        self.do_publish(now, ch, msg, mandatory, broker);
    }

    fn do_publish(&mut self, now: Instant, ch: u16, msg: Message, mandatory: bool, broker: &mut Broker) {
        let ret = mandatory.then(|| msg.clone());
        let res = broker.publish(now, msg);
        let ok = match res {
            Ok(r) => {
                if r.queues == 0 {
                    if let Some(m) = ret {
                        self.send(
                            ch,
                            AMQPClass::Basic(basic::AMQPMethod::Return(basic::Return {
                                reply_code: reply::NO_ROUTE,
                                reply_text: "NO_ROUTE".into(),
                                exchange: m.exchange.as_ref().into(),
                                routing_key: m.routing_key.as_ref().into(),
                            })),
                        );
                        encode_content(ch, &m.properties, &m.body, self.frame_max, &mut self.out);
                    }
                }
                r.stored_ok
            }
            Err(e) => {
                self.close_channel(now, ch, &e, (60, 40), broker);
                return;
            }
        };
        if let Some(c) = self.channels.get_mut(&ch) {
            if c.confirm {
                let seq = c.next_seq;
                c.next_seq += 1;
                c.confirms.push((seq, ok));
            }
        }
    }

    /// Sends pending publisher confirms, coalescing runs of acks into one `multiple` ack.
    fn flush_confirms(&mut self) {
        let mut out = Vec::new();
        for (ch, c) in &mut self.channels {
            if c.confirms.is_empty() {
                continue;
            }
            let list = std::mem::take(&mut c.confirms);
            let mut i = 0;
            while i < list.len() {
                let (seq, ok) = list[i];
                if !ok {
                    out.push((
                        *ch,
                        AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack {
                            delivery_tag: seq,
                            multiple: false,
                            requeue: false,
                        })),
                    ));
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j + 1 < list.len() && list[j + 1].1 {
                    j += 1;
                }
                out.push((
                    *ch,
                    AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: list[j].0, multiple: j > i })),
                ));
                i = j + 1;
            }
        }
        for (ch, m) in out {
            self.send(ch, m);
        }
    }

    /// Moves deliveries and server-side cancels from the broker into the output, stopping when
    /// about `budget` bytes are waiting.
    pub fn pump(&mut self, now: Instant, broker: &mut Broker, budget: usize) {
        if self.phase != Phase::Running {
            return;
        }
        let mut items = Vec::new();
        while self.out.len() < budget {
            items.clear();
            broker.take_outgoing(self.id, 64, &mut items);
            if items.is_empty() {
                break;
            }
            for o in items.drain(..) {
                self.outgoing(now, o, broker);
            }
        }
    }

    fn outgoing(&mut self, now: Instant, o: Outgoing, broker: &mut Broker) {
        match o {
            Outgoing::Cancel { channel: ch, consumer_tag } => {
                let Some(c) = self.channels.get_mut(&ch) else { return };
                if c.closing || !c.consumers.remove(&consumer_tag) {
                    return;
                }
                if self.cancel_notify {
                    self.send(
                        ch,
                        AMQPClass::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
                            consumer_tag: consumer_tag.as_ref().into(),
                            nowait: true,
                        })),
                    );
                }
            }
            Outgoing::Deliver(d) => {
                let tag_arc = d.consumer_tag.clone();
                let live = self.channels.get(&d.channel).is_some_and(|c| !c.closing && c.consumers.contains(&tag_arc));
                if !live {
                    let consumer = (!d.no_ack).then_some(&tag_arc);
                    if !d.no_ack {
                        broker.settle(now, self.id, d.channel, consumer, &d.queue, d.item, Settle::Requeue);
                    }
                    return;
                }
                let Some(c) = self.channels.get_mut(&d.channel) else { return };
                let tag = c.next_tag;
                c.next_tag += 1;
                let msg = d.item.msg.clone();
                let redelivered = d.item.redelivered;
                if !d.no_ack {
                    c.unacked.insert(tag, Unacked { queue: d.queue, item: d.item, consumer: Some(tag_arc.clone()) });
                }
                self.send(
                    d.channel,
                    AMQPClass::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
                        consumer_tag: tag_arc.as_ref().into(),
                        delivery_tag: tag,
                        redelivered,
                        exchange: msg.exchange.as_ref().into(),
                        routing_key: msg.routing_key.as_ref().into(),
                    })),
                );
                encode_content(d.channel, &msg.properties, &msg.body, self.frame_max, &mut self.out);
            }
        }
    }

    /// Ends the connection in the broker: unacknowledged messages are requeued, consumers and
    /// exclusive queues removed.
    pub fn finish(&mut self, now: Instant, broker: &mut Broker) {
        let chans: Vec<u16> = self.channels.keys().copied().collect();
        for ch in chans {
            self.release_channel(now, ch, broker);
        }
        self.channels.clear();
        broker.disconnect(now, self.id);
        self.phase = Phase::Closed;
    }
}

mod methods;
