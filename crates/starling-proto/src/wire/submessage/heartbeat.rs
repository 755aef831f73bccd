//! HEARTBEAT (0x07).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::{EntityId, SequenceNumber};

/// HEARTBEAT: the range of sequence numbers a writer has available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Destination reader (or unknown for all readers).
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// First available sequence number.
    pub first_sn: SequenceNumber,
    /// Last available sequence number.
    pub last_sn: SequenceNumber,
    /// Heartbeat counter, incremented for each new heartbeat.
    pub count: u32,
    /// F: no ACKNACK is required in reply.
    pub final_flag: bool,
    /// L: the heartbeat asserts the writer's liveliness.
    pub liveliness_flag: bool,
}

impl Heartbeat {
    /// F flag.
    pub const FLAG_FINAL: u8 = 0x02;
    /// L flag.
    pub const FLAG_LIVELINESS: u8 = 0x04;

    /// Decodes a HEARTBEAT body; trailing bytes (e.g. RTPS 2.5 group information) are ignored.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        Ok(Heartbeat {
            reader_id: EntityId::read(&mut r)?,
            writer_id: EntityId::read(&mut r)?,
            first_sn: SequenceNumber::read(&mut r)?,
            last_sn: SequenceNumber::read(&mut r)?,
            count: r.u32()?,
            final_flag: flags & Self::FLAG_FINAL != 0,
            liveliness_flag: flags & Self::FLAG_LIVELINESS != 0,
        })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.final_flag {
            flags |= Self::FLAG_FINAL;
        }
        if self.liveliness_flag {
            flags |= Self::FLAG_LIVELINESS;
        }
        write_submessage(out, id::HEARTBEAT, flags, |w| {
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.first_sn.write(w);
            self.last_sn.write(w);
            w.u32(self.count);
        });
    }
}
