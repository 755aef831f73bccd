//! HEARTBEAT_FRAG (0x13).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::{EntityId, SequenceNumber};

/// HEARTBEAT_FRAG: the fragments of one sample a writer has available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatFrag {
    /// Destination reader.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// The fragmented sample.
    pub writer_sn: SequenceNumber,
    /// Highest fragment number available (fragments are numbered from 1).
    pub last_fragment_num: u32,
    /// Counter, incremented for each new HEARTBEAT_FRAG.
    pub count: u32,
}

impl HeartbeatFrag {
    /// Decodes a HEARTBEAT_FRAG body; trailing bytes are ignored.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        Ok(HeartbeatFrag {
            reader_id: EntityId::read(&mut r)?,
            writer_id: EntityId::read(&mut r)?,
            writer_sn: SequenceNumber::read(&mut r)?,
            last_fragment_num: r.u32()?,
            count: r.u32()?,
        })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_submessage(out, id::HEARTBEAT_FRAG, 0, |w| {
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.writer_sn.write(w);
            w.u32(self.last_fragment_num);
            w.u32(self.count);
        });
    }
}
