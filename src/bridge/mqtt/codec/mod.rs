//! MQTT 3.1.1 and 5.0 wire codec: sans-IO, incremental, strict.
//!
//! [`decode`] takes a `BytesMut` that may hold a partial packet and returns `Ok(None)` until a
//! whole packet is buffered; it then splits the packet off the buffer, so the payload of a
//! PUBLISH is a zero-copy [`Bytes`] slice of what was read from the socket. [`encode`] appends a
//! packet to an output buffer.
//!
//! Validation follows the OASIS specifications: the Remaining Length uses at most four bytes,
//! strings are well-formed UTF-8 without U+0000, reserved header flags are checked, packet
//! identifiers must be non-zero where one is required, each MQTT 5 property must be allowed for
//! its packet and appear at most once (except User Property and Subscription Identifier in a
//! PUBLISH), and a packet bigger than the receiver's Maximum Packet Size is refused as soon as
//! its fixed header is read. Every [`DecodeError`] maps to the reason code a server sends before
//! closing the connection ([`DecodeError::reason_code`]).
//!
//! # Layout
//! - this file: fixed header, primitives, errors, [`Packet`], [`decode`]/[`encode`];
//! - [`properties`]: the MQTT 5 property list;
//! - `packets.rs`: one struct per packet type with its body codec;
//! - [`topic`]: topic name and topic filter syntax.

mod packets;
pub mod properties;
pub mod topic;

use bytes::{BufMut, Bytes, BytesMut};

pub use packets::{
    encode_publish, Auth, ConnAck, Connect, Disconnect, LastWill, PubResp, Publish, PublishHeader, RetainHandling,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
pub use properties::Properties;
pub use topic::{validate_topic_filter, validate_topic_name};

/// Protocol version negotiated by CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl Version {
    /// The protocol level byte.
    #[must_use]
    pub fn level(self) -> u8 {
        match self {
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }
}

/// Quality of service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// From the two-bit wire value; 3 is malformed.
    pub fn from_u8(v: u8) -> Result<Self, DecodeError> {
        match v {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            _ => Err(DecodeError::InvalidQos(v)),
        }
    }
}

/// An MQTT reason code (MQTT 5 §2.4); also used for 3.1.1 return codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReasonCode(pub u8);

#[allow(missing_docs)]
impl ReasonCode {
    pub const SUCCESS: Self = Self(0x00);
    pub const GRANTED_QOS_1: Self = Self(0x01);
    pub const GRANTED_QOS_2: Self = Self(0x02);
    pub const DISCONNECT_WITH_WILL: Self = Self(0x04);
    pub const NO_MATCHING_SUBSCRIBERS: Self = Self(0x10);
    pub const NO_SUBSCRIPTION_EXISTED: Self = Self(0x11);
    pub const CONTINUE_AUTHENTICATION: Self = Self(0x18);
    pub const REAUTHENTICATE: Self = Self(0x19);
    pub const UNSPECIFIED_ERROR: Self = Self(0x80);
    pub const MALFORMED_PACKET: Self = Self(0x81);
    pub const PROTOCOL_ERROR: Self = Self(0x82);
    pub const IMPLEMENTATION_SPECIFIC_ERROR: Self = Self(0x83);
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(0x84);
    pub const CLIENT_IDENTIFIER_NOT_VALID: Self = Self(0x85);
    pub const BAD_USER_NAME_OR_PASSWORD: Self = Self(0x86);
    pub const NOT_AUTHORIZED: Self = Self(0x87);
    pub const SERVER_UNAVAILABLE: Self = Self(0x88);
    pub const SERVER_BUSY: Self = Self(0x89);
    pub const BANNED: Self = Self(0x8A);
    pub const SERVER_SHUTTING_DOWN: Self = Self(0x8B);
    pub const BAD_AUTHENTICATION_METHOD: Self = Self(0x8C);
    pub const KEEP_ALIVE_TIMEOUT: Self = Self(0x8D);
    pub const SESSION_TAKEN_OVER: Self = Self(0x8E);
    pub const TOPIC_FILTER_INVALID: Self = Self(0x8F);
    pub const TOPIC_NAME_INVALID: Self = Self(0x90);
    pub const PACKET_IDENTIFIER_IN_USE: Self = Self(0x91);
    pub const PACKET_IDENTIFIER_NOT_FOUND: Self = Self(0x92);
    pub const RECEIVE_MAXIMUM_EXCEEDED: Self = Self(0x93);
    pub const TOPIC_ALIAS_INVALID: Self = Self(0x94);
    pub const PACKET_TOO_LARGE: Self = Self(0x95);
    pub const MESSAGE_RATE_TOO_HIGH: Self = Self(0x96);
    pub const QUOTA_EXCEEDED: Self = Self(0x97);
    pub const ADMINISTRATIVE_ACTION: Self = Self(0x98);
    pub const PAYLOAD_FORMAT_INVALID: Self = Self(0x99);
    pub const RETAIN_NOT_SUPPORTED: Self = Self(0x9A);
    pub const QOS_NOT_SUPPORTED: Self = Self(0x9B);
    pub const USE_ANOTHER_SERVER: Self = Self(0x9C);
    pub const SERVER_MOVED: Self = Self(0x9D);
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: Self = Self(0x9E);
    pub const CONNECTION_RATE_EXCEEDED: Self = Self(0x9F);
    pub const MAXIMUM_CONNECT_TIME: Self = Self(0xA0);
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: Self = Self(0xA1);
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: Self = Self(0xA2);

    /// True for codes 0x80 and above.
    #[must_use]
    pub fn is_error(self) -> bool {
        self.0 >= 0x80
    }
}

/// The largest Remaining Length that four bytes can encode (256 MiB - 1).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The Remaining Length field is longer than four bytes.
    #[error("remaining length uses more than 4 bytes")]
    MalformedRemainingLength,
    /// Packet type 0, or AUTH on a 3.1.1 connection.
    #[error("invalid packet type {0}")]
    InvalidPacketType(u8),
    /// The fixed header flags are not the ones the packet type requires.
    #[error("reserved flags {flags:#06b} set on packet type {packet_type}")]
    ReservedFlags {
        /// Packet type (upper nibble).
        packet_type: u8,
        /// The flags nibble.
        flags: u8,
    },
    /// The packet is larger than the Maximum Packet Size.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// Total packet size (fixed header included).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A field runs past the end of the packet.
    #[error("packet ends inside a field")]
    Truncated,
    /// Bytes follow the last field.
    #[error("{0} unexpected bytes after the last field")]
    TrailingBytes(usize),
    /// A string is not well-formed UTF-8.
    #[error("string is not well-formed UTF-8")]
    InvalidUtf8,
    /// A string contains U+0000.
    #[error("string contains U+0000")]
    NullCharacter,
    /// QoS 3.
    #[error("invalid QoS {0}")]
    InvalidQos(u8),
    /// DUP set on a QoS 0 PUBLISH.
    #[error("DUP flag set on a QoS 0 PUBLISH")]
    DupOnQos0,
    /// A packet identifier of 0 where a non-zero one is required.
    #[error("packet identifier 0")]
    ZeroPacketId,
    /// Protocol name is not "MQTT" or the level is not 4 or 5.
    #[error("unsupported protocol {name:?} level {level}")]
    UnsupportedProtocol {
        /// Protocol name.
        name: String,
        /// Protocol level.
        level: u8,
    },
    /// CONNECT flags break a rule (reserved bit, will flags, password without user name in 3.1.1).
    #[error("invalid CONNECT flags {0:#010b}")]
    InvalidConnectFlags(u8),
    /// A PUBLISH topic name is invalid (wildcards, or empty without a topic alias).
    #[error("invalid topic name")]
    InvalidTopicName,
    /// SUBSCRIBE or UNSUBSCRIBE with no topic filter.
    #[error("no topic filter in (UN)SUBSCRIBE")]
    NoTopicFilter,
    /// Subscription options with reserved bits set or retain handling 3.
    #[error("invalid subscription options {0:#010b}")]
    InvalidSubscriptionOptions(u8),
    /// A property identifier unknown, or not allowed in this packet.
    #[error("property {id:#04x} not allowed in packet type {packet_type}")]
    PropertyNotAllowed {
        /// Property identifier.
        id: u8,
        /// Packet type.
        packet_type: u8,
    },
    /// A property that may appear once appears twice.
    #[error("property {0:#04x} appears more than once")]
    DuplicateProperty(u8),
    /// A property has a value outside its range (e.g. Receive Maximum 0).
    #[error("property {0:#04x} has an invalid value")]
    InvalidPropertyValue(u8),
    /// A reason code not defined for this packet.
    #[error("reason code {code:#04x} not valid in packet type {packet_type}")]
    InvalidReasonCode {
        /// The code.
        code: u8,
        /// Packet type.
        packet_type: u8,
    },
    /// A variable byte integer (not the Remaining Length) is longer than four bytes.
    #[error("variable byte integer longer than 4 bytes")]
    MalformedVarInt,
}

impl DecodeError {
    /// The reason code to send (CONNACK or DISCONNECT) before closing the connection.
    #[must_use]
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            DecodeError::UnsupportedProtocol { .. } => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            DecodeError::InvalidTopicName => ReasonCode::TOPIC_NAME_INVALID,
            DecodeError::ZeroPacketId
            | DecodeError::DuplicateProperty(_)
            | DecodeError::InvalidPropertyValue(_)
            | DecodeError::InvalidPacketType(_)
            | DecodeError::NoTopicFilter => ReasonCode::PROTOCOL_ERROR,
            _ => ReasonCode::MALFORMED_PACKET,
        }
    }
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet would exceed the Remaining Length limit or the peer's Maximum Packet Size.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A string or binary field is longer than 65,535 bytes.
    #[error("field longer than 65535 bytes")]
    FieldTooLong,
}

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubResp),
    PubRec(PubResp),
    PubRel(PubResp),
    PubComp(PubResp),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

/// Packet type numbers (upper nibble of the first byte).
#[allow(missing_docs)]
pub mod packet_type {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
    pub const AUTH: u8 = 15;
}

impl Packet {
    /// The packet type number.
    #[must_use]
    pub fn packet_type(&self) -> u8 {
        use packet_type::*;
        match self {
            Packet::Connect(_) => CONNECT,
            Packet::ConnAck(_) => CONNACK,
            Packet::Publish(_) => PUBLISH,
            Packet::PubAck(_) => PUBACK,
            Packet::PubRec(_) => PUBREC,
            Packet::PubRel(_) => PUBREL,
            Packet::PubComp(_) => PUBCOMP,
            Packet::Subscribe(_) => SUBSCRIBE,
            Packet::SubAck(_) => SUBACK,
            Packet::Unsubscribe(_) => UNSUBSCRIBE,
            Packet::UnsubAck(_) => UNSUBACK,
            Packet::PingReq => PINGREQ,
            Packet::PingResp => PINGRESP,
            Packet::Disconnect(_) => DISCONNECT,
            Packet::Auth(_) => AUTH,
        }
    }
}

/// Parses a fixed header at the start of `buf`: `Ok(None)` if incomplete, else
/// `(first byte, remaining length, header length)`.
pub fn parse_fixed_header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, DecodeError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else { return Ok(None) };
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((first, value, 2 + i)));
        }
    }
    Err(DecodeError::MalformedRemainingLength)
}

/// Decodes one packet from the front of `buf`.
///
/// `version` is the connection's protocol version (`None` before CONNECT: then only a CONNECT
/// decodes; it carries its own version). `max_size` is the Maximum Packet Size this side
/// accepts, fixed header included. Returns `Ok(None)` while the packet is incomplete; on success
/// the packet's bytes are removed from `buf`. After an error the connection must be closed.
pub fn decode(buf: &mut BytesMut, version: Option<Version>, max_size: usize) -> Result<Option<Packet>, DecodeError> {
    let Some((first, remaining, header_len)) = parse_fixed_header(buf)? else {
        return Ok(None);
    };
    let total = header_len + remaining;
    if total > max_size {
        return Err(DecodeError::PacketTooLarge { size: total, max: max_size });
    }
    let ptype = first >> 4;
    let flags = first & 0x0F;
    // Check the header before waiting for the body, so garbage is refused early.
    check_flags(ptype, flags, version)?;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mut packet = buf.split_to(total);
    let _ = packet.split_to(header_len);
    let body = packet.freeze();
    packets::decode_body(ptype, flags, body, version).map(Some)
}

fn check_flags(ptype: u8, flags: u8, version: Option<Version>) -> Result<(), DecodeError> {
    use packet_type::*;
    let ok = match ptype {
        0 => return Err(DecodeError::InvalidPacketType(0)),
        PUBLISH => {
            if (flags >> 1) & 3 == 3 {
                return Err(DecodeError::InvalidQos(3));
            }
            true
        }
        PUBREL | SUBSCRIBE | UNSUBSCRIBE => flags == 0b0010,
        AUTH if version != Some(Version::V5) => return Err(DecodeError::InvalidPacketType(AUTH)),
        _ => flags == 0,
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::ReservedFlags { packet_type: ptype, flags })
    }
}

/// Appends `packet` to `out`. `version` selects the 3.1.1 or 5.0 layout; `max_size` is the
/// peer's Maximum Packet Size (the packet is not written if it would exceed it).
pub fn encode(packet: &Packet, version: Version, out: &mut BytesMut, max_size: usize) -> Result<(), EncodeError> {
    packets::encode_packet(packet, version, out, max_size)
}

// ---- primitives ----

/// Cursor over a packet body.
pub(crate) struct Reader {
    body: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(body: Bytes) -> Self {
        Self { body, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.body.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let s = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn take_bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let b = self.body.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }
    pub(crate) fn rest(&mut self) -> Bytes {
        let b = self.body.slice(self.pos..);
        self.pos = self.body.len();
        b
    }
    pub(crate) fn packet_id(&mut self) -> Result<u16, DecodeError> {
        match self.u16()? {
            0 => Err(DecodeError::ZeroPacketId),
            id => Ok(id),
        }
    }
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let n = usize::from(self.u16()?);
        self.take_bytes(n)
    }
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let n = usize::from(self.u16()?);
        let s = self.take(n)?;
        check_utf8(s).map(str::to_owned)
    }
    pub(crate) fn varint(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for i in 0..4 {
            let b = self.u8()?;
            value |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::MalformedVarInt)
    }
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Checks MQTT's UTF-8 rules: well-formed (no surrogates) and no U+0000.
pub fn check_utf8(s: &[u8]) -> Result<&str, DecodeError> {
    let s = std::str::from_utf8(s).map_err(|_| DecodeError::InvalidUtf8)?;
    if s.as_bytes().contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    Ok(s)
}

pub(crate) fn put_varint(out: &mut impl BufMut, mut v: usize) {
    loop {
        let mut b = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            b |= 0x80;
        }
        out.put_u8(b);
        if v == 0 {
            break;
        }
    }
}

pub(crate) fn varint_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub(crate) fn put_binary(out: &mut Vec<u8>, b: &[u8]) -> Result<(), EncodeError> {
    let n = u16::try_from(b.len()).map_err(|_| EncodeError::FieldTooLong)?;
    out.put_u16(n);
    out.put_slice(b);
    Ok(())
}

pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    put_binary(out, s.as_bytes())
}

#[cfg(test)]
mod tests;
