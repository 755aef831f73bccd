//! One struct per MQTT packet, with the body codec for both protocol versions.

use super::properties::{Properties, WILL};
use super::{
    check_utf8, packet_type as pt, put_binary, put_string, put_varint, varint_len, DecodeError, EncodeError, Packet,
    QoS, Reader, ReasonCode, Version, MAX_REMAINING_LENGTH,
};
use bytes::{BufMut, Bytes, BytesMut};

/// The will message carried by CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Will topic.
    pub topic: String,
    /// Will payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will retain flag.
    pub retain: bool,
    /// Will properties (5.0), incl. Will Delay Interval.
    pub properties: Properties,
}

/// CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol version the client asked for.
    pub version: Version,
    /// Client identifier (may be empty).
    pub client_id: String,
    /// Clean Start (5.0) / Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep alive in seconds (0 = off).
    pub keep_alive: u16,
    /// CONNECT properties (5.0).
    pub properties: Properties,
    /// Will message.
    pub will: Option<LastWill>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
}

/// CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present.
    pub session_present: bool,
    /// Reason code (5.0) or return code (3.1.1).
    pub code: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

/// PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name (empty when a 5.0 Topic Alias stands for it).
    pub topic: String,
    /// Packet identifier (0 for QoS 0).
    pub pkid: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// Application payload.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResp {
    /// Packet identifier.
    pub pkid: u16,
    /// Reason code (5.0; always success in 3.1.1).
    pub reason: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

impl PubResp {
    /// A success response for `pkid`.
    #[must_use]
    pub fn new(pkid: u16) -> Self {
        Self { pkid, reason: ReasonCode::SUCCESS, properties: Properties::default() }
    }
}

/// Retain handling subscription option (5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at subscribe.
    #[default]
    SendAtSubscribe,
    /// 1: send only if the subscription did not exist.
    SendIfNew,
    /// 2: do not send.
    DoNotSend,
}

/// Options of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub pkid: u16,
    /// Properties (5.0): Subscription Identifier, User Property.
    pub properties: Properties,
    /// Topic filters with options (filters not yet syntax-checked; see `validate_topic_filter`).
    pub filters: Vec<(String, SubscriptionOptions)>,
}

/// SUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier.
    pub pkid: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// One code per filter.
    pub codes: Vec<ReasonCode>,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub pkid: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// Topic filters.
    pub filters: Vec<String>,
}

/// UNSUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier.
    pub pkid: u16,
    /// Properties (5.0).
    pub properties: Properties,
    /// One code per filter (5.0; empty in 3.1.1).
    pub codes: Vec<ReasonCode>,
}

/// DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code (5.0).
    pub reason: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

impl Disconnect {
    /// A DISCONNECT with `reason` and no properties.
    #[must_use]
    pub fn new(reason: ReasonCode) -> Self {
        Self { reason, properties: Properties::default() }
    }
}

/// AUTH (5.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Reason code: 0x00, 0x18 or 0x19.
    pub reason: ReasonCode,
    /// Properties: Authentication Method/Data, Reason String, User Property.
    pub properties: Properties,
}

fn v5(version: Option<Version>) -> bool {
    version == Some(Version::V5)
}

fn check_reason(code: u8, ptype: u8, allowed: &[u8]) -> Result<ReasonCode, DecodeError> {
    if allowed.contains(&code) {
        Ok(ReasonCode(code))
    } else {
        Err(DecodeError::InvalidReasonCode { code, packet_type: ptype })
    }
}

const PUBACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_CODES: &[u8] = &[0x00, 0x92];
const SUBACK_CODES: &[u8] = &[0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2];
const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B,
    0x9C, 0x9D, 0x9F,
];
const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
const AUTH_CODES: &[u8] = &[0x00, 0x18, 0x19];

pub(super) fn decode_body(ptype: u8, flags: u8, body: Bytes, version: Option<Version>) -> Result<Packet, DecodeError> {
    let mut r = Reader::new(body);
    let packet = match ptype {
        pt::CONNECT => Packet::Connect(Box::new(decode_connect(&mut r)?)),
        pt::CONNACK => {
            let ack_flags = r.u8()?;
            if ack_flags & 0xFE != 0 {
                return Err(DecodeError::ReservedFlags { packet_type: ptype, flags: ack_flags });
            }
            let code = r.u8()?;
            let (code, properties) = if v5(version) {
                (check_reason(code, ptype, CONNACK_CODES)?, Properties::decode(&mut r, ptype)?)
            } else {
                (check_reason(code, ptype, &[0, 1, 2, 3, 4, 5])?, Properties::default())
            };
            Packet::ConnAck(ConnAck { session_present: ack_flags & 1 == 1, code, properties })
        }
        pt::PUBLISH => Packet::Publish(decode_publish(&mut r, flags, version)?),
        pt::PUBACK | pt::PUBREC | pt::PUBREL | pt::PUBCOMP => {
            let pkid = r.packet_id()?;
            let mut resp = PubResp::new(pkid);
            if v5(version) && r.remaining() > 0 {
                let codes = if matches!(ptype, pt::PUBREL | pt::PUBCOMP) { PUBREL_CODES } else { PUBACK_CODES };
                resp.reason = check_reason(r.u8()?, ptype, codes)?;
                if r.remaining() > 0 {
                    resp.properties = Properties::decode(&mut r, ptype)?;
                }
            }
            match ptype {
                pt::PUBACK => Packet::PubAck(resp),
                pt::PUBREC => Packet::PubRec(resp),
                pt::PUBREL => Packet::PubRel(resp),
                _ => Packet::PubComp(resp),
            }
        }
        pt::SUBSCRIBE => {
            let pkid = r.packet_id()?;
            let properties = if v5(version) { Properties::decode(&mut r, ptype)? } else { Properties::default() };
            let mut filters = Vec::new();
            while r.remaining() > 0 {
                let f = r.string()?;
                let o = r.u8()?;
                let reserved = if v5(version) { 0xC0 } else { 0xFC };
                if o & reserved != 0 {
                    return Err(DecodeError::InvalidSubscriptionOptions(o));
                }
                let retain_handling = match (o >> 4) & 3 {
                    0 => RetainHandling::SendAtSubscribe,
                    1 => RetainHandling::SendIfNew,
                    2 => RetainHandling::DoNotSend,
                    _ => return Err(DecodeError::InvalidSubscriptionOptions(o)),
                };
                let opts = SubscriptionOptions {
                    qos: QoS::from_u8(o & 3)?,
                    no_local: o & 0x04 != 0,
                    retain_as_published: o & 0x08 != 0,
                    retain_handling,
                };
                filters.push((f, opts));
            }
            if filters.is_empty() {
                return Err(DecodeError::NoTopicFilter);
            }
            Packet::Subscribe(Subscribe { pkid, properties, filters })
        }
        pt::SUBACK => {
            let pkid = r.packet_id()?;
            let properties = if v5(version) { Properties::decode(&mut r, ptype)? } else { Properties::default() };
            let mut codes = Vec::new();
            while r.remaining() > 0 {
                let c = r.u8()?;
                codes.push(if v5(version) {
                    check_reason(c, ptype, SUBACK_CODES)?
                } else {
                    check_reason(c, ptype, &[0, 1, 2, 0x80])?
                });
            }
            Packet::SubAck(SubAck { pkid, properties, codes })
        }
        pt::UNSUBSCRIBE => {
            let pkid = r.packet_id()?;
            let properties = if v5(version) { Properties::decode(&mut r, ptype)? } else { Properties::default() };
            let mut filters = Vec::new();
            while r.remaining() > 0 {
                filters.push(r.string()?);
            }
            if filters.is_empty() {
                return Err(DecodeError::NoTopicFilter);
            }
            Packet::Unsubscribe(Unsubscribe { pkid, properties, filters })
        }
        pt::UNSUBACK => {
            let pkid = r.packet_id()?;
            let mut ack = UnsubAck { pkid, properties: Properties::default(), codes: Vec::new() };
            if v5(version) {
                ack.properties = Properties::decode(&mut r, ptype)?;
                while r.remaining() > 0 {
                    ack.codes.push(check_reason(r.u8()?, ptype, UNSUBACK_CODES)?);
                }
            }
            Packet::UnsubAck(ack)
        }
        pt::PINGREQ => Packet::PingReq,
        pt::PINGRESP => Packet::PingResp,
        pt::DISCONNECT => {
            let mut d = Disconnect::new(ReasonCode::SUCCESS);
            if v5(version) && r.remaining() > 0 {
                d.reason = check_reason(r.u8()?, ptype, DISCONNECT_CODES)?;
                if r.remaining() > 0 {
                    d.properties = Properties::decode(&mut r, ptype)?;
                }
            }
            Packet::Disconnect(d)
        }
        pt::AUTH => {
            let mut a = Auth { reason: ReasonCode::SUCCESS, properties: Properties::default() };
            if r.remaining() > 0 {
                a.reason = check_reason(r.u8()?, ptype, AUTH_CODES)?;
                if r.remaining() > 0 {
                    a.properties = Properties::decode(&mut r, ptype)?;
                }
            }
            Packet::Auth(a)
        }
        other => return Err(DecodeError::InvalidPacketType(other)),
    };
    r.finish()?;
    if version.is_none() && ptype != pt::CONNECT {
        // Before CONNECT only a CONNECT is acceptable; callers treat this as a protocol error.
        return Err(DecodeError::InvalidPacketType(ptype));
    }
    Ok(packet)
}

fn decode_connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let name_len = usize::from(r.u16()?);
    let name = check_utf8(r.take(name_len)?)?.to_owned();
    let level = r.u8()?;
    let version = match (name.as_str(), level) {
        ("MQTT", 4) => Version::V311,
        ("MQTT", 5) => Version::V5,
        _ => return Err(DecodeError::UnsupportedProtocol { name, level }),
    };
    let flags = r.u8()?;
    let bad = || DecodeError::InvalidConnectFlags(flags);
    if flags & 0x01 != 0 {
        return Err(bad());
    }
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 3;
    let will_retain = flags & 0x20 != 0;
    let has_password = flags & 0x40 != 0;
    let has_user = flags & 0x80 != 0;
    if !will_flag && (will_qos != 0 || will_retain) {
        return Err(bad());
    }
    if will_qos == 3 {
        return Err(bad());
    }
    if version == Version::V311 && has_password && !has_user {
        return Err(bad());
    }
    let keep_alive = r.u16()?;
    let properties = if version == Version::V5 { Properties::decode(r, pt::CONNECT)? } else { Properties::default() };
    let client_id = r.string()?;
    let will = if will_flag {
        let wprops = if version == Version::V5 { Properties::decode(r, WILL)? } else { Properties::default() };
        let topic = r.string()?;
        if super::validate_topic_name(&topic).is_err() {
            return Err(DecodeError::InvalidTopicName);
        }
        let payload = r.binary()?;
        Some(LastWill { topic, payload, qos: QoS::from_u8(will_qos)?, retain: will_retain, properties: wprops })
    } else {
        None
    };
    let username = if has_user { Some(r.string()?) } else { None };
    let password = if has_password { Some(r.binary()?) } else { None };
    Ok(Connect { version, client_id, clean_start: flags & 0x02 != 0, keep_alive, properties, will, username, password })
}

fn decode_publish(r: &mut Reader, flags: u8, version: Option<Version>) -> Result<Publish, DecodeError> {
    let dup = flags & 0x08 != 0;
    let qos = QoS::from_u8((flags >> 1) & 3)?;
    let retain = flags & 0x01 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::DupOnQos0);
    }
    let topic = r.string()?;
    if topic.contains(['+', '#']) {
        return Err(DecodeError::InvalidTopicName);
    }
    let pkid = if qos == QoS::AtMostOnce { 0 } else { r.packet_id()? };
    let properties = if v5(version) { Properties::decode(r, pt::PUBLISH)? } else { Properties::default() };
    if topic.is_empty() && properties.topic_alias.is_none() {
        return Err(DecodeError::InvalidTopicName);
    }
    let payload = r.rest();
    Ok(Publish { dup, qos, retain, topic, pkid, properties, payload })
}

// ---- encoding ----

fn header(out: &mut BytesMut, first: u8, remaining: usize, max_size: usize) -> Result<(), EncodeError> {
    let total = 1 + varint_len(remaining) + remaining;
    if remaining > MAX_REMAINING_LENGTH || total > max_size {
        return Err(EncodeError::TooLarge { size: total, max: max_size.min(MAX_REMAINING_LENGTH + 5) });
    }
    out.reserve(total);
    out.put_u8(first);
    put_varint(out, remaining);
    Ok(())
}

fn reason_props(b: &mut Vec<u8>, reason: ReasonCode, props: &Properties) -> Result<(), EncodeError> {
    // Short forms: omit properties when empty, and the reason too when it is success.
    if reason != ReasonCode::SUCCESS || !props.is_empty() {
        b.put_u8(reason.0);
        if !props.is_empty() {
            props.encode(b)?;
        }
    }
    Ok(())
}

pub(super) fn encode_packet(p: &Packet, version: Version, out: &mut BytesMut, max: usize) -> Result<(), EncodeError> {
    let is5 = version == Version::V5;
    let mut b: Vec<u8> = Vec::new();
    let first: u8 = match p {
        Packet::Connect(c) => {
            put_string(&mut b, "MQTT")?;
            b.put_u8(c.version.level());
            let mut flags = 0u8;
            if c.clean_start {
                flags |= 0x02;
            }
            if let Some(w) = &c.will {
                flags |= 0x04 | ((w.qos as u8) << 3);
                if w.retain {
                    flags |= 0x20;
                }
            }
            if c.password.is_some() {
                flags |= 0x40;
            }
            if c.username.is_some() {
                flags |= 0x80;
            }
            b.put_u8(flags);
            b.put_u16(c.keep_alive);
            let is5 = c.version == Version::V5;
            if is5 {
                c.properties.encode(&mut b)?;
            }
            put_string(&mut b, &c.client_id)?;
            if let Some(w) = &c.will {
                if is5 {
                    w.properties.encode(&mut b)?;
                }
                put_string(&mut b, &w.topic)?;
                put_binary(&mut b, &w.payload)?;
            }
            if let Some(u) = &c.username {
                put_string(&mut b, u)?;
            }
            if let Some(pw) = &c.password {
                put_binary(&mut b, pw)?;
            }
            pt::CONNECT << 4
        }
        Packet::ConnAck(a) => {
            b.put_u8(u8::from(a.session_present));
            b.put_u8(a.code.0);
            if is5 {
                a.properties.encode(&mut b)?;
            }
            pt::CONNACK << 4
        }
        Packet::Publish(pb) => {
            return encode_publish(
                out,
                version,
                max,
                PublishHeader { dup: pb.dup, qos: pb.qos, retain: pb.retain, pkid: pb.pkid },
                &pb.topic,
                &pb.properties,
                &pb.payload,
            );
        }
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            b.put_u16(r.pkid);
            if is5 {
                reason_props(&mut b, r.reason, &r.properties)?;
            }
            match p {
                Packet::PubAck(_) => pt::PUBACK << 4,
                Packet::PubRec(_) => pt::PUBREC << 4,
                Packet::PubRel(_) => (pt::PUBREL << 4) | 0b0010,
                _ => pt::PUBCOMP << 4,
            }
        }
        Packet::Subscribe(s) => {
            b.put_u16(s.pkid);
            if is5 {
                s.properties.encode(&mut b)?;
            }
            for (f, o) in &s.filters {
                put_string(&mut b, f)?;
                let mut byte = o.qos as u8;
                if is5 {
                    byte |= u8::from(o.no_local) << 2 | u8::from(o.retain_as_published) << 3;
                    byte |= (o.retain_handling as u8) << 4;
                }
                b.put_u8(byte);
            }
            (pt::SUBSCRIBE << 4) | 0b0010
        }
        Packet::SubAck(s) => {
            b.put_u16(s.pkid);
            if is5 {
                s.properties.encode(&mut b)?;
            }
            b.extend(s.codes.iter().map(|c| c.0));
            pt::SUBACK << 4
        }
        Packet::Unsubscribe(u) => {
            b.put_u16(u.pkid);
            if is5 {
                u.properties.encode(&mut b)?;
            }
            for f in &u.filters {
                put_string(&mut b, f)?;
            }
            (pt::UNSUBSCRIBE << 4) | 0b0010
        }
        Packet::UnsubAck(u) => {
            b.put_u16(u.pkid);
            if is5 {
                u.properties.encode(&mut b)?;
                b.extend(u.codes.iter().map(|c| c.0));
            }
            pt::UNSUBACK << 4
        }
        Packet::PingReq => pt::PINGREQ << 4,
        Packet::PingResp => pt::PINGRESP << 4,
        Packet::Disconnect(d) => {
            if is5 {
                reason_props(&mut b, d.reason, &d.properties)?;
            }
            pt::DISCONNECT << 4
        }
        Packet::Auth(a) => {
            reason_props(&mut b, a.reason, &a.properties)?;
            pt::AUTH << 4
        }
    };
    header(out, first, b.len(), max)?;
    out.extend_from_slice(&b);
    Ok(())
}

/// Fixed-header fields of a PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishHeader {
    /// DUP flag.
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Packet identifier (ignored for QoS 0).
    pub pkid: u16,
}

/// Appends a PUBLISH built from borrowed parts (no intermediate `Publish` value).
pub fn encode_publish(
    out: &mut BytesMut,
    version: Version,
    max: usize,
    h: PublishHeader,
    topic: &str,
    props: &Properties,
    payload: &[u8],
) -> Result<(), EncodeError> {
    let topic_len = u16::try_from(topic.len()).map_err(|_| EncodeError::FieldTooLong)?;
    let mut pbuf = Vec::new();
    if version == Version::V5 {
        props.encode(&mut pbuf)?;
    }
    let pkid_len = if h.qos == QoS::AtMostOnce { 0 } else { 2 };
    let remaining = 2 + topic.len() + pkid_len + pbuf.len() + payload.len();
    let flags = (u8::from(h.dup) << 3) | ((h.qos as u8) << 1) | u8::from(h.retain);
    header(out, (pt::PUBLISH << 4) | flags, remaining, max)?;
    out.put_u16(topic_len);
    out.extend_from_slice(topic.as_bytes());
    if pkid_len > 0 {
        out.put_u16(h.pkid);
    }
    out.extend_from_slice(&pbuf);
    out.extend_from_slice(payload);
    Ok(())
}
