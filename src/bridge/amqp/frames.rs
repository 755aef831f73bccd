//! AMQP 0-9-1 frame codec: the bridge's own framing around the `amq-protocol` method and
//! property codecs.
//!
//! The outer frame (type, channel, size, frame-end octet) is read here so that an oversized
//! frame is refused from its 7-byte header, before its payload is buffered, and so that a
//! body frame is sliced out of the receive buffer without a copy. Method arguments and content
//! header properties are decoded and encoded with `amq-protocol`, which covers every class of
//! 0-9-1 including RabbitMQ's extensions (basic.nack, exchange.bind, confirm.select).
//!
//! Decode errors map to the reply codes a RabbitMQ client expects; see [`FrameError::reply_code`].

use amq_protocol::frame::{gen_frame, AMQPContentHeader, AMQPFrame, WriteContext};
use amq_protocol::protocol::basic::{parse_properties, AMQPProperties};
use amq_protocol::protocol::{parse_class, AMQPClass};
use bytes::{Buf, Bytes, BytesMut};

/// The protocol header a 0-9-1 client sends and the server answers with on a mismatch.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// Frame type octets.
const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;
/// Frame header (type, channel, size) plus the frame-end octet.
pub const FRAME_OVERHEAD: usize = 8;
/// Smallest frame-max a peer may negotiate.
pub const FRAME_MIN_SIZE: u32 = 4096;

/// Reply codes (AMQP 0-9-1 constants).
#[allow(missing_docs)]
pub mod reply {
    pub const SUCCESS: u16 = 200;
    pub const CONTENT_TOO_LARGE: u16 = 311;
    pub const NO_ROUTE: u16 = 312;
    pub const NO_CONSUMERS: u16 = 313;
    pub const CONNECTION_FORCED: u16 = 320;
    pub const INVALID_PATH: u16 = 402;
    pub const ACCESS_REFUSED: u16 = 403;
    pub const NOT_FOUND: u16 = 404;
    pub const RESOURCE_LOCKED: u16 = 405;
    pub const PRECONDITION_FAILED: u16 = 406;
    pub const FRAME_ERROR: u16 = 501;
    pub const SYNTAX_ERROR: u16 = 502;
    pub const COMMAND_INVALID: u16 = 503;
    pub const CHANNEL_ERROR: u16 = 504;
    pub const UNEXPECTED_FRAME: u16 = 505;
    pub const RESOURCE_ERROR: u16 = 506;
    pub const NOT_ALLOWED: u16 = 530;
    pub const NOT_IMPLEMENTED: u16 = 540;
    pub const INTERNAL_ERROR: u16 = 541;

    /// The symbolic name RabbitMQ puts in front of reply texts.
    #[must_use]
    pub fn name(code: u16) -> &'static str {
        match code {
            SUCCESS => "OK",
            CONTENT_TOO_LARGE => "CONTENT_TOO_LARGE",
            NO_ROUTE => "NO_ROUTE",
            NO_CONSUMERS => "NO_CONSUMERS",
            CONNECTION_FORCED => "CONNECTION_FORCED",
            INVALID_PATH => "INVALID_PATH",
            ACCESS_REFUSED => "ACCESS_REFUSED",
            NOT_FOUND => "NOT_FOUND",
            RESOURCE_LOCKED => "RESOURCE_LOCKED",
            PRECONDITION_FAILED => "PRECONDITION_FAILED",
            FRAME_ERROR => "FRAME_ERROR",
            SYNTAX_ERROR => "SYNTAX_ERROR",
            COMMAND_INVALID => "COMMAND_INVALID",
            CHANNEL_ERROR => "CHANNEL_ERROR",
            UNEXPECTED_FRAME => "UNEXPECTED_FRAME",
            RESOURCE_ERROR => "RESOURCE_ERROR",
            NOT_ALLOWED => "NOT_ALLOWED",
            NOT_IMPLEMENTED => "NOT_IMPLEMENTED",
            _ => "INTERNAL_ERROR",
        }
    }
}

/// One decoded inbound frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A method frame.
    Method {
        /// Channel number.
        channel: u16,
        /// The decoded method.
        method: Box<AMQPClass>,
    },
    /// A content header frame.
    Header {
        /// Channel number.
        channel: u16,
        /// Content class (60 for basic).
        class_id: u16,
        /// Total body size announced.
        body_size: u64,
        /// Basic properties.
        properties: Box<AMQPProperties>,
    },
    /// A content body frame (sliced from the receive buffer).
    Body {
        /// Channel number.
        channel: u16,
        /// Body bytes.
        data: Bytes,
    },
    /// A heartbeat frame.
    Heartbeat {
        /// Channel number (must be 0).
        channel: u16,
    },
}

impl Frame {
    /// The frame's channel.
    #[must_use]
    pub fn channel(&self) -> u16 {
        match self {
            Self::Method { channel, .. }
            | Self::Header { channel, .. }
            | Self::Body { channel, .. }
            | Self::Heartbeat { channel } => *channel,
        }
    }
}

/// Why bytes could not be decoded as a frame. All are connection errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame announced more than the negotiated frame-max.
    #[error("frame size {size} exceeds frame-max {max}")]
    TooLarge {
        /// Announced payload size plus overhead.
        size: u64,
        /// Negotiated maximum.
        max: u32,
    },
    /// The octet after the payload was not 0xCE.
    #[error("frame end octet {0:#04x}, expected 0xce")]
    BadFrameEnd(u8),
    /// An unknown frame type octet.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// A method frame for a class/method this server does not know.
    #[error("unknown method {class}.{method}")]
    UnknownMethod {
        /// Class id.
        class: u16,
        /// Method id.
        method: u16,
    },
    /// A known method or a content header whose arguments did not decode.
    #[error("cannot decode {what} {class}.{method}")]
    Malformed {
        /// "method" or "content header".
        what: &'static str,
        /// Class id.
        class: u16,
        /// Method id (0 for content headers).
        method: u16,
    },
}

impl FrameError {
    /// The connection.close reply code for this error.
    #[must_use]
    pub fn reply_code(&self) -> u16 {
        match self {
            Self::UnknownMethod { .. } => reply::NOT_IMPLEMENTED,
            Self::TooLarge { .. } | Self::BadFrameEnd(_) | Self::UnknownType(_) | Self::Malformed { .. } => {
                reply::FRAME_ERROR
            }
        }
    }

    /// Class and method ids to report in connection.close.
    #[must_use]
    pub fn ids(&self) -> (u16, u16) {
        match self {
            Self::UnknownMethod { class, method } | Self::Malformed { class, method, .. } => (*class, *method),
            _ => (0, 0),
        }
    }
}

fn known_method(class: u16, method: u16) -> bool {
    match class {
        10 => matches!(method, 10 | 11 | 20 | 21 | 30 | 31 | 40 | 41 | 50 | 51 | 60 | 61 | 70 | 71),
        20 => matches!(method, 10 | 11 | 20 | 21 | 40 | 41),
        30 => matches!(method, 10 | 11),
        40 => matches!(method, 10 | 11 | 20 | 21 | 30 | 31 | 40 | 51),
        50 => matches!(method, 10 | 11 | 20 | 21 | 30 | 31 | 40 | 41 | 50 | 51),
        60 => (10..=120).contains(&method) && method % 10 <= 2,
        85 => matches!(method, 10 | 11),
        90 => matches!(method, 10 | 11 | 20 | 21 | 30 | 31),
        _ => false,
    }
}

/// Decodes one frame from the front of `buf`, removing it. `Ok(None)` means more bytes are
/// needed. `frame_max` is the negotiated maximum frame size including the 8 octets of overhead
/// (0 means no limit beyond [`u32::MAX`]).
pub fn decode(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 7 {
        return Ok(None);
    }
    let kind = buf[0];
    let channel = u16::from_be_bytes([buf[1], buf[2]]);
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
    if !matches!(kind, FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT) {
        return Err(FrameError::UnknownType(kind));
    }
    let total = size as u64 + FRAME_OVERHEAD as u64;
    if frame_max != 0 && total > u64::from(frame_max) {
        return Err(FrameError::TooLarge { size: total, max: frame_max });
    }
    if buf.len() < size + FRAME_OVERHEAD {
        return Ok(None);
    }
    let end = buf[7 + size];
    if end != FRAME_END {
        return Err(FrameError::BadFrameEnd(end));
    }
    buf.advance(7);
    let payload = buf.split_to(size).freeze();
    buf.advance(1);
    let frame = match kind {
        FRAME_METHOD => {
            let ids = |p: &[u8]| match p {
                [a, b, c, d, ..] => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
                [a, b, ..] => (u16::from_be_bytes([*a, *b]), 0),
                _ => (0, 0),
            };
            let (class, method) = ids(&payload);
            if !known_method(class, method) {
                return Err(FrameError::UnknownMethod { class, method });
            }
            match parse_class(&payload[..]) {
                Ok((&[], m)) => Frame::Method { channel, method: Box::new(m) },
                _ => return Err(FrameError::Malformed { what: "method", class, method }),
            }
        }
        FRAME_HEADER => decode_header(channel, &payload)?,
        FRAME_BODY => Frame::Body { channel, data: payload },
        _ => {
            if size != 0 {
                return Err(FrameError::Malformed { what: "heartbeat", class: 0, method: 0 });
            }
            Frame::Heartbeat { channel }
        }
    };
    Ok(Some(frame))
}

fn decode_header(channel: u16, p: &[u8]) -> Result<Frame, FrameError> {
    let bad = FrameError::Malformed { what: "content header", class: 60, method: 0 };
    if p.len() < 14 {
        return Err(bad);
    }
    let class_id = u16::from_be_bytes([p[0], p[1]]);
    let weight = u16::from_be_bytes([p[2], p[3]]);
    let mut size = [0u8; 8];
    size.copy_from_slice(&p[4..12]);
    let body_size = u64::from_be_bytes(size);
    if weight != 0 {
        return Err(bad);
    }
    match parse_properties(&p[12..]) {
        Ok((&[], props)) => Ok(Frame::Header { channel, class_id, body_size, properties: Box::new(props) }),
        _ => Err(bad),
    }
}

fn gen(frame: &AMQPFrame, out: &mut Vec<u8>) {
    let buf = std::mem::take(out);
    match gen_frame(frame)(WriteContext::from(buf)) {
        Ok(ctx) => *out = ctx.write,
        // Generation into a Vec only fails on values that cannot be represented (e.g. a
        // short string over 255 bytes); such a frame is dropped rather than sent corrupted.
        Err(e) => tracing::warn!("cannot encode AMQP frame: {e:?}"),
    }
}

/// Appends a method frame.
pub fn encode_method(channel: u16, method: AMQPClass, out: &mut Vec<u8>) {
    let start = out.len();
    gen(&AMQPFrame::Method(channel, method), out);
    debug_assert!(out.len() > start);
}

/// Appends a heartbeat frame.
pub fn encode_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Appends a content header frame and the body frames for `body`, each at most `frame_max`
/// octets long.
pub fn encode_content(channel: u16, properties: &AMQPProperties, body: &[u8], frame_max: u32, out: &mut Vec<u8>) {
    let header = AMQPContentHeader { class_id: 60, body_size: body.len() as u64, properties: properties.clone() };
    gen(&AMQPFrame::Header(channel, 60, Box::new(header)), out);
    let max_chunk = (frame_max.max(FRAME_MIN_SIZE) as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    for chunk in body.chunks(max_chunk) {
        out.push(FRAME_BODY);
        out.extend_from_slice(&channel.to_be_bytes());
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(chunk);
        out.push(FRAME_END);
    }
}

/// Serializes basic properties alone (flags and values), as stored by the durable store.
#[must_use]
pub fn encode_properties(properties: &AMQPProperties) -> Vec<u8> {
    let mut out = Vec::new();
    let header = AMQPContentHeader { class_id: 60, body_size: 0, properties: properties.clone() };
    gen(&AMQPFrame::Header(0, 60, Box::new(header)), &mut out);
    // Strip the frame header (7), class/weight/size (12) and the frame end (1).
    if out.len() >= 20 {
        out.truncate(out.len() - 1);
        out.drain(..19);
    }
    out
}

/// Parses properties written by [`encode_properties`].
#[must_use]
pub fn decode_properties(bytes: &[u8]) -> Option<AMQPProperties> {
    match parse_properties(bytes) {
        Ok((&[], p)) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::protocol::{basic, queue};
    use amq_protocol::types::{AMQPValue, FieldTable};

    fn round_trip(method: AMQPClass) {
        let mut out = Vec::new();
        encode_method(7, method.clone(), &mut out);
        let mut buf = BytesMut::from(&out[..]);
        let f = decode(&mut buf, 131_072).unwrap().unwrap();
        assert_eq!(f, Frame::Method { channel: 7, method: Box::new(method) });
        assert!(buf.is_empty());
    }

    #[test]
    fn methods_round_trip() {
        let mut args = FieldTable::default();
        args.insert("x-message-ttl".into(), AMQPValue::LongInt(500));
        round_trip(AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: "q".into(),
            durable: true,
            arguments: args,
            ..Default::default()
        })));
        round_trip(AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack {
            delivery_tag: 42,
            multiple: true,
            requeue: false,
        })));
    }

    #[test]
    fn content_round_trip_and_split() {
        let mut headers = FieldTable::default();
        headers.insert("k".into(), AMQPValue::LongString("v".into()));
        let props = AMQPProperties::default()
            .with_content_type("text/plain".into())
            .with_headers(headers)
            .with_delivery_mode(2)
            .with_priority(3)
            .with_correlation_id("c".into())
            .with_reply_to("r".into())
            .with_expiration("1000".into())
            .with_message_id("m".into())
            .with_timestamp(1_700_000_000)
            .with_type("t".into())
            .with_user_id("guest".into())
            .with_app_id("a".into());
        let body = vec![7u8; 10_000];
        let mut out = Vec::new();
        encode_content(3, &props, &body, 4096, &mut out);
        let mut buf = BytesMut::from(&out[..]);
        let Some(Frame::Header { channel: 3, class_id: 60, body_size: 10_000, properties }) =
            decode(&mut buf, 4096).unwrap()
        else {
            panic!("header expected")
        };
        assert_eq!(*properties, props);
        let mut got = Vec::new();
        while let Some(f) = decode(&mut buf, 4096).unwrap() {
            let Frame::Body { channel: 3, data } = f else { panic!("body expected") };
            assert!(data.len() <= 4096 - FRAME_OVERHEAD);
            got.extend_from_slice(&data);
        }
        assert_eq!(got, body);
        assert_eq!(decode_properties(&encode_properties(&props)), Some(props));
        assert_eq!(decode_properties(&encode_properties(&AMQPProperties::default())), Some(AMQPProperties::default()));
    }

    #[test]
    fn framing_errors() {
        let mut b = BytesMut::from(&[1u8, 0, 1, 0, 1, 0, 0][..]);
        assert_eq!(decode(&mut b, 4096), Err(FrameError::TooLarge { size: 65_544, max: 4096 }));
        let mut b = BytesMut::from(&[8u8, 0, 0, 0, 0, 0, 0, 0xCD][..]);
        assert_eq!(decode(&mut b, 4096), Err(FrameError::BadFrameEnd(0xCD)));
        let mut b = BytesMut::from(&[9u8, 0, 0, 0, 0, 0, 0, 0xCE][..]);
        assert_eq!(decode(&mut b, 4096).map_err(|e| e.reply_code()), Err(reply::FRAME_ERROR));
        let mut b = BytesMut::from(&[1u8, 0, 1, 0, 0, 0, 4, 0, 99, 0, 10, 0xCE][..]);
        assert_eq!(decode(&mut b, 4096).map_err(|e| e.reply_code()), Err(reply::NOT_IMPLEMENTED));
        // queue.declare with its arguments cut short.
        let mut b = BytesMut::from(&[1u8, 0, 1, 0, 0, 0, 6, 0, 50, 0, 10, 0, 0, 0xCE][..]);
        assert_eq!(decode(&mut b, 4096).map_err(|e| e.reply_code()), Err(reply::FRAME_ERROR));
        let mut b = BytesMut::from(&[8u8, 0, 0, 0, 0][..]);
        assert_eq!(decode(&mut b, 4096), Ok(None));
        let mut b = BytesMut::from(&[8u8, 0, 0, 0, 0, 0, 0, 0xCE][..]);
        assert_eq!(decode(&mut b, 4096), Ok(Some(Frame::Heartbeat { channel: 0 })));
    }
}
