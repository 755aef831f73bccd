//! DATA_FRAG (0x16).

use super::data::split_inline_qos;
use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::parameter::ParameterList;
use crate::wire::types::{EntityId, SequenceNumber};

/// DATA_FRAG: consecutive fragments of one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFrag<'a> {
    /// Destination reader (or unknown for all readers).
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// Sequence number of the sample.
    pub writer_sn: SequenceNumber,
    /// Number of the first fragment carried (fragments are numbered from 1).
    pub fragment_starting_num: u32,
    /// How many fragments this submessage carries.
    pub fragments_in_submessage: u16,
    /// Size of every fragment but the last of the sample.
    pub fragment_size: u16,
    /// Size of the whole serialized sample.
    pub sample_size: u32,
    /// Inline QoS (Q flag), up to and including its sentinel.
    pub inline_qos: Option<ParameterList<'a>>,
    /// K: the sample is a serialized key.
    pub key_flag: bool,
    /// The fragment bytes, without trailing padding.
    pub data: &'a [u8],
}

impl<'a> DataFrag<'a> {
    /// Q flag: inline QoS present.
    pub const FLAG_INLINE_QOS: u8 = 0x02;
    /// K flag: key payload (note: 0x08 in DATA).
    pub const FLAG_KEY: u8 = 0x04;
    /// N flag: non-standard payload.
    pub const FLAG_NON_STANDARD: u8 = 0x08;
    /// octetsToInlineQos that this codec writes.
    pub const OCTETS_TO_INLINE_QOS: u16 = 28;

    /// Decodes a DATA_FRAG body.
    ///
    /// Checks that fragment numbering starts at 1, that the fragment size is not zero, that the fragments named
    /// lie within the sample and that the body holds all of their bytes. `data` is cut to exactly those bytes
    /// (the last fragment of a sample may be shorter; padding may follow).
    pub fn decode(flags: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let endian = endian_of(flags);
        let mut r = ByteReader::new(body, endian);
        let _extra_flags = r.u16()?;
        let octets_to_inline_qos = r.u16()?;
        let reader_id = EntityId::read(&mut r)?;
        let writer_id = EntityId::read(&mut r)?;
        let writer_sn = SequenceNumber::read(&mut r)?;
        let fragment_starting_num = r.u32()?;
        let fragments_in_submessage = r.u16()?;
        let fragment_size = r.u16()?;
        let sample_size = r.u32()?;
        if fragment_starting_num == 0 {
            return Err(DecodeError::Invalid("DATA_FRAG fragment numbers start at 1"));
        }
        if fragment_size == 0 {
            return Err(DecodeError::Invalid("DATA_FRAG fragment size 0"));
        }
        if fragments_in_submessage == 0 {
            return Err(DecodeError::Invalid("DATA_FRAG without fragments"));
        }
        // All in u64: at most 2^32 * 2^16, no overflow.
        let size = u64::from(fragment_size);
        let first_offset = u64::from(fragment_starting_num - 1) * size;
        let last_offset = first_offset + (u64::from(fragments_in_submessage) - 1) * size;
        if last_offset >= u64::from(sample_size) {
            return Err(DecodeError::Invalid("DATA_FRAG fragments lie beyond the sample size"));
        }
        let (inline_qos, rest) = split_inline_qos(
            body,
            octets_to_inline_qos,
            Self::OCTETS_TO_INLINE_QOS,
            flags & Self::FLAG_INLINE_QOS != 0,
            endian,
        )?;
        let expected = (u64::from(fragments_in_submessage) * size).min(u64::from(sample_size) - first_offset);
        // `expected` is at most 2^32, so it fits in a usize on 64-bit targets; elsewhere a value that does not fit
        // is larger than any slice anyway.
        let expected = usize::try_from(expected).unwrap_or(usize::MAX);
        let data = rest.get(..expected).ok_or(DecodeError::Truncated { needed: expected, available: rest.len() })?;
        Ok(DataFrag {
            reader_id,
            writer_id,
            writer_sn,
            fragment_starting_num,
            fragments_in_submessage,
            fragment_size,
            sample_size,
            inline_qos,
            key_flag: flags & Self::FLAG_KEY != 0,
            data,
        })
    }

    /// Appends the whole submessage to `out` (octetsToInlineQos 28).
    ///
    /// The inline QoS bytes are written as they are, so they must be little-endian and end with the sentinel.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.inline_qos.is_some() {
            flags |= Self::FLAG_INLINE_QOS;
        }
        if self.key_flag {
            flags |= Self::FLAG_KEY;
        }
        write_submessage(out, id::DATA_FRAG, flags, |w| {
            w.u16(0);
            w.u16(Self::OCTETS_TO_INLINE_QOS);
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.writer_sn.write(w);
            w.u32(self.fragment_starting_num);
            w.u16(self.fragments_in_submessage);
            w.u16(self.fragment_size);
            w.u32(self.sample_size);
            if let Some(qos) = &self.inline_qos {
                debug_assert!(qos.endian.is_little(), "inline QoS must be little-endian to be written as is");
                w.bytes(qos.bytes);
            }
            w.bytes(self.data);
        });
    }
}
