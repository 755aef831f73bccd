//! Per-connection MQTT protocol state machine (sans-IO).
//!
//! # Call order (the driver's loop)
//! 1. Append received bytes to a `BytesMut`; call [`Session::handle_read`] repeatedly: each
//!    call decodes and handles at most one packet. After each call, drain
//!    [`Session::poll_action`] and answer actions that need the broker:
//!    [`Action::Connect`] → [`Session::accept`] / [`Session::reject`];
//!    [`Action::Publish`] → route, then [`Session::publish_done`];
//!    [`Action::Subscribe`] → [`Session::suback`]; [`Action::Unsubscribe`] → [`Session::unsuback`].
//! 2. While [`Session::send_quota`] allows, feed queued deliveries with [`Session::deliver`].
//! 3. Write [`Session::output`] to the socket.
//! 4. Sleep until [`Session::poll_timeout`]; then call [`Session::handle_timeout`].
//! 5. After [`Action::Close`], flush the output, close the socket and hand [`Session::finish`]
//!    to the broker.
//!
//! Time is always passed in; the session never reads the clock.

use super::broker::{Delivery, Message, SessionState};
use super::codec::{
    self, encode_publish, properties::Properties, validate_topic_filter, validate_topic_name, ConnAck, Connect,
    DecodeError, Disconnect, Packet, PubResp, PublishHeader, QoS, ReasonCode, SubAck, Subscribe, SubscriptionOptions,
    UnsubAck, Version,
};
use bytes::BytesMut;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Server-side limits a session enforces and advertises.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Maximum Packet Size accepted from clients (bytes, fixed header included).
    pub max_packet_size: u32,
    /// Receive Maximum advertised to 5.0 clients (inbound QoS 2 exchanges in progress).
    pub receive_maximum: u16,
    /// Topic Alias Maximum advertised to 5.0 clients.
    pub topic_alias_maximum: u16,
    /// Outbound QoS 1/2 window for 3.1.1 clients (5.0 clients set their Receive Maximum).
    pub default_inflight: u16,
    /// Time allowed between connecting and CONNECT.
    pub connect_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_packet_size: 16 * 1024 * 1024,
            receive_maximum: 1024,
            topic_alias_maximum: 256,
            default_inflight: 64,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// One filter of a SUBSCRIBE, for the broker.
#[derive(Debug, Clone)]
pub struct SubRequest {
    /// Topic filter.
    pub filter: String,
    /// Options.
    pub opts: SubscriptionOptions,
    /// Subscription identifier (5.0).
    pub id: Option<u32>,
    /// Set when the session already refused this filter (e.g. 0x8F invalid syntax).
    pub refused: Option<ReasonCode>,
}

/// What the session asks of its driver.
#[derive(Debug)]
pub enum Action {
    /// A valid CONNECT: authenticate, attach to the broker, then `accept` or `reject`.
    Connect(Box<Connect>),
    /// Route a message; for QoS 1/2, `publish_done(pkid, ..)` sends the acknowledgement.
    Publish {
        /// The message.
        msg: Box<Message>,
        /// Packet id to acknowledge (QoS 1/2).
        pkid: Option<u16>,
    },
    /// Subscribe; answer with `suback`.
    Subscribe {
        /// Packet id.
        pkid: u16,
        /// One request per filter.
        requests: Vec<SubRequest>,
    },
    /// Unsubscribe; answer with `unsuback`.
    Unsubscribe {
        /// Packet id.
        pkid: u16,
        /// Filters.
        filters: Vec<String>,
    },
    /// The connection is over: flush output and close the socket.
    Close {
        /// Reason (a DISCONNECT with it has been queued for 5.0 clients where appropriate).
        reason: ReasonCode,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitConnect,
    Authenticating,
    Connected,
    Closed,
}

/// What the broker needs when a connection ends.
#[derive(Debug)]
pub struct Ending {
    /// In-flight state to keep with the session.
    pub state: SessionState,
    /// Final Session Expiry Interval (seconds; 0 ends the session).
    pub expiry: u32,
    /// Will to publish, with its delay in seconds.
    pub will: Option<(Message, u32)>,
}

/// Topic aliases of one connection (MQTT 5).
#[derive(Debug, Default)]
struct Aliases {
    /// Client → server.
    inbound: HashMap<u16, Arc<str>>,
    /// Server → client.
    outbound: HashMap<Arc<str>, u16>,
}

/// Per-connection protocol state. See the module docs for the call order.
#[derive(Debug)]
pub struct Session {
    /// Shared by every connection of a listener.
    cfg: Arc<SessionConfig>,
    phase: Phase,
    version: Option<Version>,
    client_id: Arc<str>,
    /// Keep Alive in seconds (0: none).
    keep_alive: u16,
    last_rx: Instant,
    expiry: u32,
    /// Boxed: most clients have no will, and the session lives as long as the connection.
    will: Option<Box<codec::LastWill>>,
    publish_will: bool,
    client_max_packet: usize,
    client_receive_max: u16,
    client_alias_max: u16,
    /// Topic aliases, made on first use (most connections use none).
    aliases: Option<Box<Aliases>>,
    /// In-flight state, made on first use (idle connections have none).
    state: Option<Box<SessionState>>,
    out: BytesMut,
    actions: std::collections::VecDeque<Action>,
    close_reason: Option<ReasonCode>,
    dropped_oversize: u64,
}

fn seconds(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl Session {
    /// A new connection at `now`, waiting for CONNECT.
    #[must_use]
    pub fn new(cfg: SessionConfig, now: Instant) -> Self {
        Self::with_config(Arc::new(cfg), now)
    }

    /// As [`Session::new`], with a configuration shared between sessions.
    #[must_use]
    pub fn with_config(cfg: Arc<SessionConfig>, now: Instant) -> Self {
        Self {
            cfg,
            phase: Phase::AwaitConnect,
            version: None,
            client_id: Arc::from(""),
            keep_alive: 0,
            last_rx: now,
            expiry: 0,
            will: None,
            publish_will: false,
            client_max_packet: codec::MAX_REMAINING_LENGTH + 5,
            client_receive_max: 0,
            client_alias_max: 0,
            aliases: None,
            state: None,
            out: BytesMut::new(),
            actions: std::collections::VecDeque::new(),
            close_reason: None,
            dropped_oversize: 0,
        }
    }

    fn st(&mut self) -> &mut SessionState {
        self.state.get_or_insert_with(Box::default)
    }

    /// Client identifier (after CONNECT).
    #[must_use]
    pub fn client_id(&self) -> &Arc<str> {
        &self.client_id
    }

    /// Protocol version (after CONNECT).
    #[must_use]
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// True once closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// True while connected (CONNACK sent).
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// Bytes to write to the socket; the driver takes them (e.g. with `split`).
    pub fn output(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Frees the action queue and output buffers if they are empty, so that a connection that
    /// goes idle holds no buffers (the driver calls this before waiting for input).
    pub fn release_idle_buffers(&mut self) {
        if self.actions.is_empty() && self.actions.capacity() > 0 {
            self.actions = std::collections::VecDeque::new();
        }
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = BytesMut::new();
        }
    }

    /// Deliveries dropped so far because they exceeded the client's Maximum Packet Size.
    #[must_use]
    pub fn dropped_oversize(&self) -> u64 {
        self.dropped_oversize
    }

    /// When `handle_timeout` must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            // No packet has been decoded yet, so `last_rx` is when the connection started.
            Phase::AwaitConnect => Some(self.last_rx + self.cfg.connect_timeout),
            Phase::Connected if self.keep_alive != 0 => {
                Some(self.last_rx + Duration::from_millis(u64::from(self.keep_alive) * 1500))
            }
            _ => None,
        }
    }

    /// Closes the connection if the keep-alive (1.5 × the client's value) or the CONNECT
    /// timeout ran out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(t) = self.poll_timeout() {
            if now >= t {
                self.close(ReasonCode::KEEP_ALIVE_TIMEOUT, "keep alive timeout", true);
            }
        }
    }

    /// Decodes and handles at most one packet from `buf`; returns false when `buf` holds no
    /// complete packet (or the session is closed).
    pub fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) -> bool {
        if matches!(self.phase, Phase::Closed | Phase::Authenticating) {
            return false;
        }
        match codec::decode(buf, self.version, self.cfg.max_packet_size as usize) {
            Ok(None) => false,
            Ok(Some(p)) => {
                self.last_rx = now;
                self.handle_packet(now, p);
                true
            }
            Err(e) => {
                self.decode_error(&e);
                false
            }
        }
    }

    fn decode_error(&mut self, e: &DecodeError) {
        let reason = e.reason_code();
        if self.phase == Phase::AwaitConnect {
            // Before CONNACK, failures are reported in a CONNACK.
            let version = match e {
                DecodeError::UnsupportedProtocol { level, .. } if *level == 5 => Some(Version::V5),
                DecodeError::UnsupportedProtocol { .. } => Some(Version::V311),
                _ => None,
            };
            if let Some(v) = version {
                self.version = Some(v);
                self.send_connack_error(reason);
            }
            self.finish_close(reason, true);
        } else {
            self.close(reason, &e.to_string(), true);
        }
    }

    fn send(&mut self, p: &Packet) {
        let v = self.version.unwrap_or(Version::V311);
        // Control packets are small; if one does not fit the client's limit it is dropped.
        let _ = codec::encode(p, v, &mut self.out, self.client_max_packet);
    }

    fn send_connack_error(&mut self, reason: ReasonCode) {
        let code = if self.version == Some(Version::V5) {
            reason
        } else {
            ReasonCode(match reason {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION => 0x01,
                ReasonCode::CLIENT_IDENTIFIER_NOT_VALID => 0x02,
                ReasonCode::SERVER_UNAVAILABLE | ReasonCode::SERVER_BUSY => 0x03,
                ReasonCode::BAD_USER_NAME_OR_PASSWORD => 0x04,
                ReasonCode::NOT_AUTHORIZED => 0x05,
                _ => return, // 3.1.1 has no code for other errors: just close.
            })
        };
        self.send(&Packet::ConnAck(ConnAck { session_present: false, code, properties: Properties::default() }));
    }

    /// Server-initiated close: a DISCONNECT with `reason` for 5.0 clients, then Close.
    pub fn close(&mut self, reason: ReasonCode, why: &str, publish_will: bool) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.phase == Phase::Connected && self.version == Some(Version::V5) {
            let mut d = Disconnect::new(reason);
            d.properties.reason_string = Some(why.to_owned());
            self.send(&Packet::Disconnect(d));
        }
        self.finish_close(reason, publish_will);
    }

    fn finish_close(&mut self, reason: ReasonCode, publish_will: bool) {
        if reason.is_error() && reason != ReasonCode::KEEP_ALIVE_TIMEOUT {
            tracing::debug!(client = %self.client_id, reason = reason.0, "closing MQTT connection");
        }
        self.publish_will = publish_will;
        self.phase = Phase::Closed;
        self.close_reason = Some(reason);
        self.actions.push_back(Action::Close { reason });
    }

    /// The socket closed without DISCONNECT (the will is published).
    pub fn connection_lost(&mut self) {
        if self.phase != Phase::Closed {
            self.finish_close(ReasonCode::UNSPECIFIED_ERROR, true);
        }
    }

    fn protocol_error(&mut self, why: &str) {
        self.close(ReasonCode::PROTOCOL_ERROR, why, true);
    }

    fn handle_packet(&mut self, now: Instant, p: Packet) {
        if self.phase == Phase::AwaitConnect {
            match p {
                Packet::Connect(c) => self.handle_connect(c),
                _ => self.finish_close(ReasonCode::PROTOCOL_ERROR, false),
            }
            return;
        }
        match p {
            Packet::Connect(_) => self.protocol_error("second CONNECT"),
            Packet::Publish(p) => self.handle_publish(now, p),
            Packet::PubAck(r) => {
                if let Some(i) = self
                    .st()
                    .inflight
                    .iter()
                    .position(|(id, d, rel)| *id == r.pkid && !rel && d.qos == QoS::AtLeastOnce)
                {
                    self.st().inflight.remove(i);
                }
            }
            Packet::PubRec(r) => {
                let pos = self.st().inflight.iter().position(|(id, d, _)| *id == r.pkid && d.qos == QoS::ExactlyOnce);
                match pos {
                    Some(i) if r.reason.is_error() => {
                        self.st().inflight.remove(i);
                    }
                    Some(i) => {
                        self.st().inflight[i].2 = true;
                        self.send(&Packet::PubRel(PubResp::new(r.pkid)));
                    }
                    None => {
                        let mut resp = PubResp::new(r.pkid);
                        resp.reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                        self.send(&Packet::PubRel(resp));
                    }
                }
            }
            Packet::PubComp(r) => {
                if let Some(i) = self.st().inflight.iter().position(|(id, _, rel)| *id == r.pkid && *rel) {
                    self.st().inflight.remove(i);
                }
            }
            Packet::PubRel(r) => {
                let mut resp = PubResp::new(r.pkid);
                if !self.st().incoming_qos2.remove(&r.pkid) {
                    resp.reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.send(&Packet::PubComp(resp));
            }
            Packet::Subscribe(s) => self.handle_subscribe(s),
            Packet::Unsubscribe(u) => {
                self.actions.push_back(Action::Unsubscribe { pkid: u.pkid, filters: u.filters });
            }
            Packet::PingReq => self.send(&Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(e) = d.properties.session_expiry_interval {
                    if self.expiry == 0 && e != 0 {
                        self.protocol_error("session expiry set on DISCONNECT after 0 at CONNECT");
                        return;
                    }
                    self.expiry = e;
                }
                let will = d.reason == ReasonCode::DISCONNECT_WITH_WILL;
                self.finish_close(d.reason, will);
            }
            Packet::Auth(_) => self.protocol_error("AUTH without an authentication method"),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.protocol_error("server-to-client packet sent by the client")
            }
        }
    }

    fn handle_connect(&mut self, c: Box<Connect>) {
        self.version = Some(c.version);
        if c.properties.authentication_method.is_some() {
            self.send_connack_error(ReasonCode::BAD_AUTHENTICATION_METHOD);
            self.finish_close(ReasonCode::BAD_AUTHENTICATION_METHOD, false);
            return;
        }
        self.keep_alive = c.keep_alive;
        self.expiry = match c.version {
            Version::V5 => c.properties.session_expiry_interval.unwrap_or(0),
            Version::V311 if c.clean_start => 0,
            Version::V311 => u32::MAX,
        };
        self.client_max_packet =
            c.properties.maximum_packet_size.map_or(codec::MAX_REMAINING_LENGTH + 5, |m| m as usize);
        self.client_receive_max = match c.version {
            Version::V5 => c.properties.receive_maximum.unwrap_or(u16::MAX),
            Version::V311 => self.cfg.default_inflight,
        };
        self.client_alias_max = c.properties.topic_alias_maximum.unwrap_or(0);
        self.will = c.will.clone().map(Box::new);
        self.phase = Phase::Authenticating;
        self.actions.push_back(Action::Connect(c));
    }

    /// Completes CONNECT: `client_id` is the id in use (assigned if the client sent none),
    /// `assigned` says whether to report it. `restored` in-flight state is redelivered (DUP).
    pub fn accept(
        &mut self,
        now: Instant,
        client_id: Arc<str>,
        assigned: bool,
        session_present: bool,
        restored: Option<SessionState>,
    ) {
        self.client_id = client_id;
        self.phase = Phase::Connected;
        self.last_rx = now;
        let mut props = Properties::default();
        if self.version == Some(Version::V5) {
            props.receive_maximum = Some(self.cfg.receive_maximum);
            props.topic_alias_maximum = Some(self.cfg.topic_alias_maximum);
            props.maximum_packet_size = Some(self.cfg.max_packet_size);
            if assigned {
                props.assigned_client_identifier = Some(self.client_id.to_string());
            }
        }
        self.send(&Packet::ConnAck(ConnAck { session_present, code: ReasonCode::SUCCESS, properties: props }));
        if let Some(st) = restored {
            self.state = Some(Box::new(st));
            let inflight = std::mem::take(&mut self.st().inflight);
            for (pkid, d, released) in &inflight {
                if *released {
                    self.send(&Packet::PubRel(PubResp::new(*pkid)));
                } else {
                    // Redelivery never uses topic aliases (they belong to the old connection).
                    let _ = self.encode_delivery(now, d, *pkid, true, false);
                }
            }
            self.st().inflight = inflight;
        }
    }

    /// Refuses CONNECT with `reason` (CONNACK, then close).
    pub fn reject(&mut self, reason: ReasonCode) {
        self.send_connack_error(reason);
        self.finish_close(reason, false);
    }

    fn handle_publish(&mut self, now: Instant, p: codec::Publish) {
        let mut topic: Arc<str> = if p.topic.is_empty() { Arc::from("") } else { Arc::from(p.topic.as_str()) };
        if let Some(alias) = p.properties.topic_alias {
            if alias == 0 || alias > self.cfg.topic_alias_maximum {
                self.close(ReasonCode::TOPIC_ALIAS_INVALID, "topic alias out of range", true);
                return;
            }
            if topic.is_empty() {
                match self.aliases.as_ref().and_then(|a| a.inbound.get(&alias)) {
                    Some(t) => topic = t.clone(),
                    None => {
                        self.protocol_error("unknown topic alias");
                        return;
                    }
                }
            } else {
                self.aliases.get_or_insert_with(Box::default).inbound.insert(alias, topic.clone());
            }
        }
        if validate_topic_name(&topic).is_err() {
            self.close(ReasonCode::TOPIC_NAME_INVALID, "invalid topic name", true);
            return;
        }
        if !p.properties.subscription_identifiers.is_empty() {
            self.protocol_error("subscription identifier in a client PUBLISH");
            return;
        }
        let pkid = (p.qos != QoS::AtMostOnce).then_some(p.pkid);
        if p.qos == QoS::ExactlyOnce {
            if self.st().incoming_qos2.contains(&p.pkid) {
                // A retransmission: already routed; acknowledge again.
                self.send(&Packet::PubRec(PubResp::new(p.pkid)));
                return;
            }
            if self.st().incoming_qos2.len() >= usize::from(self.cfg.receive_maximum) {
                self.close(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, "receive maximum exceeded", true);
                return;
            }
        }
        if p.properties.payload_format_indicator == Some(1) && std::str::from_utf8(&p.payload).is_err() {
            if let Some(id) = pkid {
                self.publish_done(id, p.qos, ReasonCode::PAYLOAD_FORMAT_INVALID);
            }
            return;
        }
        let mut properties = p.properties;
        properties.topic_alias = None;
        let expires_at = properties.message_expiry_interval.map(|s| now + seconds(s));
        let msg = Message {
            topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            properties,
            expires_at,
            origin: Some(self.client_id.clone()),
        };
        self.actions.push_back(Action::Publish { msg: Box::new(msg), pkid });
    }

    /// Acknowledges an inbound QoS 1/2 PUBLISH after routing (`reason` 0x00, 0x10, 0x87, …).
    pub fn publish_done(&mut self, pkid: u16, qos: QoS, reason: ReasonCode) {
        let mut resp = PubResp::new(pkid);
        if self.version == Some(Version::V5) {
            resp.reason = reason;
        }
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(&Packet::PubAck(resp)),
            QoS::ExactlyOnce => {
                if !reason.is_error() {
                    self.st().incoming_qos2.insert(pkid);
                }
                self.send(&Packet::PubRec(resp));
            }
        }
    }

    fn handle_subscribe(&mut self, s: Subscribe) {
        let id = s.properties.subscription_identifiers.first().copied();
        let requests = s
            .filters
            .into_iter()
            .map(|(filter, opts)| {
                let mut refused = validate_topic_filter(&filter).err().map(|_| ReasonCode::TOPIC_FILTER_INVALID);
                if refused.is_none() && filter.starts_with("$share/") && opts.no_local {
                    // No Local on a shared subscription is a protocol error (5.0 §3.8.3.1).
                    refused = Some(ReasonCode::PROTOCOL_ERROR);
                }
                SubRequest { filter, opts, id, refused }
            })
            .collect::<Vec<_>>();
        if requests.iter().any(|r| r.refused == Some(ReasonCode::PROTOCOL_ERROR)) {
            self.protocol_error("No Local on a shared subscription");
            return;
        }
        self.actions.push_back(Action::Subscribe { pkid: s.pkid, requests });
    }

    /// Answers a SUBSCRIBE: one code per filter (granted QoS or an error code).
    pub fn suback(&mut self, pkid: u16, codes: Vec<ReasonCode>) {
        let codes = if self.version == Some(Version::V5) {
            codes
        } else {
            codes.into_iter().map(|c| if c.is_error() { ReasonCode(0x80) } else { c }).collect()
        };
        self.send(&Packet::SubAck(SubAck { pkid, properties: Properties::default(), codes }));
    }

    /// Answers an UNSUBSCRIBE: one code per filter (0x00 or 0x11; ignored for 3.1.1).
    pub fn unsuback(&mut self, pkid: u16, codes: Vec<ReasonCode>) {
        let codes = if self.version == Some(Version::V5) { codes } else { Vec::new() };
        self.send(&Packet::UnsubAck(UnsubAck { pkid, properties: Properties::default(), codes }));
    }

    /// How many more QoS 1/2 deliveries the client's window accepts now.
    #[must_use]
    pub fn send_quota(&self) -> usize {
        if self.phase != Phase::Connected {
            return 0;
        }
        usize::from(self.client_receive_max).saturating_sub(self.state.as_ref().map_or(0, |st| st.inflight.len()))
    }

    fn next_pkid(&mut self) -> u16 {
        loop {
            self.st().last_pkid = self.st().last_pkid.wrapping_add(1);
            let id = self.st().last_pkid;
            if id != 0 && !self.st().inflight.iter().any(|(p, _, _)| *p == id) {
                return id;
            }
        }
    }

    /// Sends one delivery (QoS 1/2 only when `send_quota() > 0`). Returns false if it was
    /// dropped (too large for the client, or expired).
    pub fn deliver(&mut self, now: Instant, d: Delivery) -> bool {
        if self.phase != Phase::Connected {
            return false;
        }
        if d.msg.expired(now) {
            return false;
        }
        let pkid = if d.qos == QoS::AtMostOnce { 0 } else { self.next_pkid() };
        if !self.encode_delivery(now, &d, pkid, false, true) {
            self.dropped_oversize += 1;
            return false;
        }
        if d.qos != QoS::AtMostOnce {
            self.st().inflight.push_back((pkid, d, false));
        }
        true
    }

    fn encode_delivery(&mut self, now: Instant, d: &Delivery, pkid: u16, dup: bool, use_alias: bool) -> bool {
        let version = self.version.unwrap_or(Version::V311);
        let h = PublishHeader { dup, qos: d.qos, retain: d.retain, pkid };
        let m = &d.msg;
        let needs_props = version == Version::V5
            && (!m.properties.is_empty()
                || !d.sub_ids.is_empty()
                || m.expires_at.is_some()
                || self.client_alias_max > 0);
        if !needs_props {
            return encode_publish(
                &mut self.out,
                version,
                self.client_max_packet,
                h,
                &m.topic,
                &Properties::default(),
                &m.payload,
            )
            .is_ok();
        }
        let mut props = m.properties.clone();
        props.subscription_identifiers.clone_from(&d.sub_ids);
        if let Some(t) = m.expires_at {
            let left = t.saturating_duration_since(now).as_secs();
            props.message_expiry_interval = Some(u32::try_from(left).unwrap_or(u32::MAX));
        }
        let mut topic: &str = &m.topic;
        let mut new_alias = None;
        if use_alias && self.client_alias_max > 0 {
            let known = self.aliases.as_ref().map_or(0, |a| a.outbound.len());
            if let Some(a) = self.aliases.as_ref().and_then(|a| a.outbound.get(&m.topic)).copied() {
                props.topic_alias = Some(a);
                topic = "";
            } else if known < usize::from(self.client_alias_max) {
                let a = known as u16 + 1;
                props.topic_alias = Some(a);
                new_alias = Some(a);
            }
        }
        let ok = encode_publish(&mut self.out, version, self.client_max_packet, h, topic, &props, &m.payload).is_ok();
        if ok {
            if let Some(a) = new_alias {
                self.aliases.get_or_insert_with(Box::default).outbound.insert(m.topic.clone(), a);
            }
        }
        ok
    }

    /// Hands the session's lasting state to the broker after `Close`.
    pub fn finish(&mut self) -> Ending {
        let will = if self.publish_will { self.will.take() } else { None };
        let will = will.map(|w| {
            let w = *w;
            let delay = w.properties.will_delay_interval.unwrap_or(0);
            let mut properties = w.properties;
            properties.will_delay_interval = None;
            let expires_at = None;
            let msg = Message {
                topic: Arc::from(w.topic.as_str()),
                payload: w.payload,
                qos: w.qos,
                retain: w.retain,
                properties,
                expires_at,
                origin: Some(self.client_id.clone()),
            };
            (msg, delay)
        });
        Ending { state: self.state.take().map(|b| *b).unwrap_or_default(), expiry: self.expiry, will }
    }

    /// The reason the session closed.
    #[must_use]
    pub fn close_reason(&self) -> Option<ReasonCode> {
        self.close_reason
    }
}

#[cfg(test)]
mod tests;
