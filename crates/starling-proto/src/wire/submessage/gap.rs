//! GAP (0x08).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::{EntityId, SequenceNumber, SequenceNumberSet};

/// GAP: sequence numbers `gap_start .. gap_list.base` and those in `gap_list` will never be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Destination reader.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// First irrelevant sequence number.
    pub gap_start: SequenceNumber,
    /// End of the contiguous range (its base) and further irrelevant sequence numbers.
    pub gap_list: SequenceNumberSet,
}

impl Gap {
    /// Decodes a GAP body; trailing bytes (e.g. RTPS 2.5 group information) are ignored.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        Ok(Gap {
            reader_id: EntityId::read(&mut r)?,
            writer_id: EntityId::read(&mut r)?,
            gap_start: SequenceNumber::read(&mut r)?,
            gap_list: SequenceNumberSet::read(&mut r)?,
        })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_submessage(out, id::GAP, 0, |w| {
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.gap_start.write(w);
            self.gap_list.write(w);
        });
    }
}
