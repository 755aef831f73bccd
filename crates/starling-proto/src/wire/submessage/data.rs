//! DATA (0x15).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::{ByteReader, Endian};
use crate::wire::error::DecodeError;
use crate::wire::parameter::ParameterList;
use crate::wire::types::{EntityId, SequenceNumber};

/// DATA: one sample, or a serialized key (dispose/unregister), with optional inline QoS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    /// Destination reader (or unknown for all readers).
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// Sequence number of the sample.
    pub writer_sn: SequenceNumber,
    /// Inline QoS (Q flag), up to and including its sentinel.
    pub inline_qos: Option<ParameterList<'a>>,
    /// The SerializedPayload (D or K flag): everything after the inline QoS, including any trailing padding.
    pub serialized_payload: Option<&'a [u8]>,
    /// K: the payload is a serialized key rather than data.
    pub key_flag: bool,
    /// N: the payload is not formatted as a standard SerializedPayload.
    pub non_standard_payload: bool,
}

impl<'a> Data<'a> {
    /// Q flag: inline QoS present.
    pub const FLAG_INLINE_QOS: u8 = 0x02;
    /// D flag: data payload present.
    pub const FLAG_DATA: u8 = 0x04;
    /// K flag: key payload present.
    pub const FLAG_KEY: u8 = 0x08;
    /// N flag: non-standard payload.
    pub const FLAG_NON_STANDARD: u8 = 0x10;
    /// octetsToInlineQos that this codec writes.
    pub const OCTETS_TO_INLINE_QOS: u16 = 16;

    /// Decodes a DATA body, honouring whatever octetsToInlineQos says (extra bytes are skipped).
    pub fn decode(flags: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let endian = endian_of(flags);
        let mut r = ByteReader::new(body, endian);
        let _extra_flags = r.u16()?;
        let octets_to_inline_qos = r.u16()?;
        let reader_id = EntityId::read(&mut r)?;
        let writer_id = EntityId::read(&mut r)?;
        let writer_sn = SequenceNumber::read(&mut r)?;
        let has_data = flags & Self::FLAG_DATA != 0;
        let key_flag = flags & Self::FLAG_KEY != 0;
        if has_data && key_flag {
            return Err(DecodeError::Invalid("DATA with both D and K flags"));
        }
        let (inline_qos, rest) = split_inline_qos(
            body,
            octets_to_inline_qos,
            Self::OCTETS_TO_INLINE_QOS,
            flags & Self::FLAG_INLINE_QOS != 0,
            endian,
        )?;
        Ok(Data {
            reader_id,
            writer_id,
            writer_sn,
            inline_qos,
            serialized_payload: (has_data || key_flag).then_some(rest),
            key_flag,
            non_standard_payload: flags & Self::FLAG_NON_STANDARD != 0,
        })
    }

    /// Appends the whole submessage to `out` (octetsToInlineQos 16).
    ///
    /// The inline QoS bytes are written as they are, so they must be little-endian and end with the sentinel.
    /// Q is set when there is inline QoS; K when `key_flag` is set, otherwise D when there is a payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.inline_qos.is_some() {
            flags |= Self::FLAG_INLINE_QOS;
        }
        if self.key_flag {
            flags |= Self::FLAG_KEY;
        } else if self.serialized_payload.is_some() {
            flags |= Self::FLAG_DATA;
        }
        if self.non_standard_payload {
            flags |= Self::FLAG_NON_STANDARD;
        }
        write_submessage(out, id::DATA, flags, |w| {
            w.u16(0);
            w.u16(Self::OCTETS_TO_INLINE_QOS);
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.writer_sn.write(w);
            if let Some(qos) = &self.inline_qos {
                debug_assert!(qos.endian.is_little(), "inline QoS must be little-endian to be written as is");
                w.bytes(qos.bytes);
            }
            if let Some(payload) = self.serialized_payload {
                w.bytes(payload);
            }
        });
    }
}

/// Finds the inline QoS of a DATA or DATA_FRAG body and what follows it.
///
/// `octets_to_inline_qos` counts from body offset 4 and must be at least `fixed` (the length of the fixed
/// fields after it) and stay inside the body. With `has_qos`, the parameter list there is measured up to and
/// including its sentinel.
pub(super) fn split_inline_qos(
    body: &[u8],
    octets_to_inline_qos: u16,
    fixed: u16,
    has_qos: bool,
    endian: Endian,
) -> Result<(Option<ParameterList<'_>>, &[u8]), DecodeError> {
    if octets_to_inline_qos < fixed {
        return Err(DecodeError::Invalid("octetsToInlineQos points into the fixed fields"));
    }
    let after = body
        .get(4 + octets_to_inline_qos as usize..)
        .ok_or(DecodeError::Invalid("octetsToInlineQos points past the end of the submessage"))?;
    if !has_qos {
        return Ok((None, after));
    }
    let len = ParameterList::measure(after, endian)?;
    let (qos, rest) = after.split_at(len);
    Ok((Some(ParameterList::new(qos, endian)), rest))
}
