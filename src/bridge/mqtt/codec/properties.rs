//! The MQTT 5 property list (§2.2.2): every property, with per-packet validation.

use super::{packet_type as pt, put_binary, put_string, put_varint, DecodeError, EncodeError, Reader};
use bytes::{BufMut, Bytes};

/// Property identifiers.
#[allow(missing_docs)]
pub mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// Pseudo packet type for the will properties inside CONNECT.
pub const WILL: u8 = 16;

/// All MQTT 5 properties; absent ones are `None` (or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Properties {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    /// One in SUBSCRIBE; any number in a PUBLISH sent by the server.
    pub subscription_identifiers: Vec<u32>,
    pub session_expiry_interval: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub server_keep_alive: Option<u16>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
    pub request_problem_information: Option<u8>,
    pub will_delay_interval: Option<u32>,
    pub request_response_information: Option<u8>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub reason_string: Option<String>,
    pub receive_maximum: Option<u16>,
    pub topic_alias_maximum: Option<u16>,
    pub topic_alias: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<u8>,
    pub user_properties: Vec<(String, String)>,
    pub maximum_packet_size: Option<u32>,
    pub wildcard_subscription_available: Option<u8>,
    pub subscription_identifier_available: Option<u8>,
    pub shared_subscription_available: Option<u8>,
}

/// Whether property `id` may appear in packet type `ptype` ([`WILL`] for will properties).
#[must_use]
pub fn allowed(id: u8, ptype: u8) -> bool {
    use id::*;
    match id {
        PAYLOAD_FORMAT_INDICATOR | MESSAGE_EXPIRY_INTERVAL | CONTENT_TYPE | RESPONSE_TOPIC | CORRELATION_DATA => {
            matches!(ptype, pt::PUBLISH | WILL)
        }
        SUBSCRIPTION_IDENTIFIER => matches!(ptype, pt::PUBLISH | pt::SUBSCRIBE),
        SESSION_EXPIRY_INTERVAL => matches!(ptype, pt::CONNECT | pt::CONNACK | pt::DISCONNECT),
        ASSIGNED_CLIENT_IDENTIFIER
        | SERVER_KEEP_ALIVE
        | RESPONSE_INFORMATION
        | MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => ptype == pt::CONNACK,
        AUTHENTICATION_METHOD | AUTHENTICATION_DATA => matches!(ptype, pt::CONNECT | pt::CONNACK | pt::AUTH),
        REQUEST_PROBLEM_INFORMATION | REQUEST_RESPONSE_INFORMATION => ptype == pt::CONNECT,
        WILL_DELAY_INTERVAL => ptype == WILL,
        SERVER_REFERENCE => matches!(ptype, pt::CONNACK | pt::DISCONNECT),
        REASON_STRING => matches!(
            ptype,
            pt::CONNACK
                | pt::PUBACK
                | pt::PUBREC
                | pt::PUBREL
                | pt::PUBCOMP
                | pt::SUBACK
                | pt::UNSUBACK
                | pt::DISCONNECT
                | pt::AUTH
        ),
        RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | MAXIMUM_PACKET_SIZE => matches!(ptype, pt::CONNECT | pt::CONNACK),
        TOPIC_ALIAS => ptype == pt::PUBLISH,
        USER_PROPERTY => true,
        _ => false,
    }
}

fn set_once<T>(slot: &mut Option<T>, id: u8, v: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(id));
    }
    *slot = Some(v);
    Ok(())
}

fn byte01(r: &mut Reader, id: u8) -> Result<u8, DecodeError> {
    match r.u8()? {
        v @ (0 | 1) => Ok(v),
        _ => Err(DecodeError::InvalidPropertyValue(id)),
    }
}

impl Properties {
    /// True if no property is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }

    /// Reads a property length and list, checking each property against packet type `ptype`.
    pub(crate) fn decode(r: &mut Reader, ptype: u8) -> Result<Self, DecodeError> {
        use id::*;
        let len = r.varint()? as usize;
        if len > r.remaining() {
            return Err(DecodeError::Truncated);
        }
        let end = r.remaining() - len;
        let mut p = Properties::default();
        while r.remaining() > end {
            let pid = r.varint()?;
            let pid =
                u8::try_from(pid).map_err(|_| DecodeError::PropertyNotAllowed { id: 0xFF, packet_type: ptype })?;
            if !allowed(pid, ptype) {
                return Err(DecodeError::PropertyNotAllowed { id: pid, packet_type: ptype });
            }
            match pid {
                PAYLOAD_FORMAT_INDICATOR => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.payload_format_indicator, pid, v)?
                }
                MESSAGE_EXPIRY_INTERVAL => set_once(&mut p.message_expiry_interval, pid, r.u32()?)?,
                CONTENT_TYPE => set_once(&mut p.content_type, pid, r.string()?)?,
                RESPONSE_TOPIC => {
                    let t = r.string()?;
                    if super::validate_topic_name(&t).is_err() {
                        return Err(DecodeError::InvalidPropertyValue(pid));
                    }
                    set_once(&mut p.response_topic, pid, t)?
                }
                CORRELATION_DATA => set_once(&mut p.correlation_data, pid, r.binary()?)?,
                SUBSCRIPTION_IDENTIFIER => {
                    let v = r.varint()?;
                    if v == 0 {
                        return Err(DecodeError::InvalidPropertyValue(pid));
                    }
                    if ptype == pt::SUBSCRIBE && !p.subscription_identifiers.is_empty() {
                        return Err(DecodeError::DuplicateProperty(pid));
                    }
                    p.subscription_identifiers.push(v);
                }
                SESSION_EXPIRY_INTERVAL => set_once(&mut p.session_expiry_interval, pid, r.u32()?)?,
                ASSIGNED_CLIENT_IDENTIFIER => set_once(&mut p.assigned_client_identifier, pid, r.string()?)?,
                SERVER_KEEP_ALIVE => set_once(&mut p.server_keep_alive, pid, r.u16()?)?,
                AUTHENTICATION_METHOD => set_once(&mut p.authentication_method, pid, r.string()?)?,
                AUTHENTICATION_DATA => set_once(&mut p.authentication_data, pid, r.binary()?)?,
                REQUEST_PROBLEM_INFORMATION => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.request_problem_information, pid, v)?
                }
                WILL_DELAY_INTERVAL => set_once(&mut p.will_delay_interval, pid, r.u32()?)?,
                REQUEST_RESPONSE_INFORMATION => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.request_response_information, pid, v)?
                }
                RESPONSE_INFORMATION => set_once(&mut p.response_information, pid, r.string()?)?,
                SERVER_REFERENCE => set_once(&mut p.server_reference, pid, r.string()?)?,
                REASON_STRING => set_once(&mut p.reason_string, pid, r.string()?)?,
                RECEIVE_MAXIMUM => {
                    let v = r.u16()?;
                    if v == 0 {
                        return Err(DecodeError::InvalidPropertyValue(pid));
                    }
                    set_once(&mut p.receive_maximum, pid, v)?
                }
                TOPIC_ALIAS_MAXIMUM => set_once(&mut p.topic_alias_maximum, pid, r.u16()?)?,
                TOPIC_ALIAS => set_once(&mut p.topic_alias, pid, r.u16()?)?,
                MAXIMUM_QOS => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.maximum_qos, pid, v)?
                }
                RETAIN_AVAILABLE => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.retain_available, pid, v)?
                }
                USER_PROPERTY => {
                    let k = r.string()?;
                    let v = r.string()?;
                    p.user_properties.push((k, v));
                }
                MAXIMUM_PACKET_SIZE => {
                    let v = r.u32()?;
                    if v == 0 {
                        return Err(DecodeError::InvalidPropertyValue(pid));
                    }
                    set_once(&mut p.maximum_packet_size, pid, v)?
                }
                WILDCARD_SUBSCRIPTION_AVAILABLE => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.wildcard_subscription_available, pid, v)?
                }
                SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.subscription_identifier_available, pid, v)?
                }
                SHARED_SUBSCRIPTION_AVAILABLE => {
                    let v = byte01(r, pid)?;
                    set_once(&mut p.shared_subscription_available, pid, v)?
                }
                _ => return Err(DecodeError::PropertyNotAllowed { id: pid, packet_type: ptype }),
            }
            if r.remaining() < end {
                return Err(DecodeError::Truncated);
            }
        }
        Ok(p)
    }

    /// Appends the property length and list to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut body = Vec::new();
        self.encode_list(&mut body)?;
        put_varint(out, body.len());
        out.extend_from_slice(&body);
        Ok(())
    }

    fn encode_list(&self, b: &mut Vec<u8>) -> Result<(), EncodeError> {
        use id::*;
        fn byte(b: &mut Vec<u8>, id: u8, v: Option<u8>) {
            if let Some(v) = v {
                b.put_u8(id);
                b.put_u8(v);
            }
        }
        fn u16p(b: &mut Vec<u8>, id: u8, v: Option<u16>) {
            if let Some(v) = v {
                b.put_u8(id);
                b.put_u16(v);
            }
        }
        fn u32p(b: &mut Vec<u8>, id: u8, v: Option<u32>) {
            if let Some(v) = v {
                b.put_u8(id);
                b.put_u32(v);
            }
        }
        fn strp(b: &mut Vec<u8>, id: u8, v: &Option<String>) -> Result<(), EncodeError> {
            if let Some(v) = v {
                b.put_u8(id);
                put_string(b, v)?;
            }
            Ok(())
        }
        fn binp(b: &mut Vec<u8>, id: u8, v: &Option<Bytes>) -> Result<(), EncodeError> {
            if let Some(v) = v {
                b.put_u8(id);
                put_binary(b, v)?;
            }
            Ok(())
        }
        byte(b, PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        u32p(b, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        strp(b, CONTENT_TYPE, &self.content_type)?;
        strp(b, RESPONSE_TOPIC, &self.response_topic)?;
        binp(b, CORRELATION_DATA, &self.correlation_data)?;
        for &s in &self.subscription_identifiers {
            b.put_u8(SUBSCRIPTION_IDENTIFIER);
            put_varint(b, s as usize);
        }
        u32p(b, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        strp(b, ASSIGNED_CLIENT_IDENTIFIER, &self.assigned_client_identifier)?;
        u16p(b, SERVER_KEEP_ALIVE, self.server_keep_alive);
        strp(b, AUTHENTICATION_METHOD, &self.authentication_method)?;
        binp(b, AUTHENTICATION_DATA, &self.authentication_data)?;
        byte(b, REQUEST_PROBLEM_INFORMATION, self.request_problem_information);
        u32p(b, WILL_DELAY_INTERVAL, self.will_delay_interval);
        byte(b, REQUEST_RESPONSE_INFORMATION, self.request_response_information);
        strp(b, RESPONSE_INFORMATION, &self.response_information)?;
        strp(b, SERVER_REFERENCE, &self.server_reference)?;
        strp(b, REASON_STRING, &self.reason_string)?;
        u16p(b, RECEIVE_MAXIMUM, self.receive_maximum);
        u16p(b, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        u16p(b, TOPIC_ALIAS, self.topic_alias);
        byte(b, MAXIMUM_QOS, self.maximum_qos);
        byte(b, RETAIN_AVAILABLE, self.retain_available);
        for (k, v) in &self.user_properties {
            b.put_u8(USER_PROPERTY);
            put_string(b, k)?;
            put_string(b, v)?;
        }
        u32p(b, MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        byte(b, WILDCARD_SUBSCRIPTION_AVAILABLE, self.wildcard_subscription_available);
        byte(b, SUBSCRIPTION_IDENTIFIER_AVAILABLE, self.subscription_identifier_available);
        byte(b, SHARED_SUBSCRIPTION_AVAILABLE, self.shared_subscription_available);
        Ok(())
    }
}
