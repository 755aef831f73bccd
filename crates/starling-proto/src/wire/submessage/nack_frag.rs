//! NACK_FRAG (0x12).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::{EntityId, FragmentNumberSet, SequenceNumber};

/// NACK_FRAG: the fragments of one sample a reader is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NackFrag {
    /// The reader.
    pub reader_id: EntityId,
    /// The writer addressed.
    pub writer_id: EntityId,
    /// The fragmented sample.
    pub writer_sn: SequenceNumber,
    /// The missing fragments.
    pub fragment_number_state: FragmentNumberSet,
    /// Counter, incremented for each new NACK_FRAG.
    pub count: u32,
}

impl NackFrag {
    /// Decodes a NACK_FRAG body; trailing bytes are ignored.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        Ok(NackFrag {
            reader_id: EntityId::read(&mut r)?,
            writer_id: EntityId::read(&mut r)?,
            writer_sn: SequenceNumber::read(&mut r)?,
            fragment_number_state: FragmentNumberSet::read(&mut r)?,
            count: r.u32()?,
        })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_submessage(out, id::NACK_FRAG, 0, |w| {
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.writer_sn.write(w);
            self.fragment_number_state.write(w);
            w.u32(self.count);
        });
    }
}
