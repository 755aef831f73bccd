//! ACKNACK (0x06).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::{EntityId, SequenceNumberSet};

/// ACKNACK: a reader acknowledges everything below `reader_sn_state.base` and asks for the sequence numbers in
/// the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckNack {
    /// The reader.
    pub reader_id: EntityId,
    /// The writer addressed.
    pub writer_id: EntityId,
    /// Acknowledged base and the missing sequence numbers.
    ///
    /// Decoded as sent: RTI, Fast DDS and others send pre-emptive ACKNACKs with base 0 and 0 bits.
    pub reader_sn_state: SequenceNumberSet,
    /// Counter, incremented for each new ACKNACK.
    pub count: u32,
    /// F: the writer need not reply with a HEARTBEAT.
    pub final_flag: bool,
}

impl AckNack {
    /// F flag.
    pub const FLAG_FINAL: u8 = 0x02;

    /// Decodes an ACKNACK body; trailing bytes are ignored.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        Ok(AckNack {
            reader_id: EntityId::read(&mut r)?,
            writer_id: EntityId::read(&mut r)?,
            reader_sn_state: SequenceNumberSet::read(&mut r)?,
            count: r.u32()?,
            final_flag: flags & Self::FLAG_FINAL != 0,
        })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let flags = if self.final_flag { Self::FLAG_FINAL } else { 0 };
        write_submessage(out, id::ACKNACK, flags, |w| {
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.reader_sn_state.write(w);
            w.u32(self.count);
        });
    }
}
