//! HEARTBEAT_VIRTUAL (0x1e), RTI Connext's submessage (not in the RTPS specification).
//!
//! A Connext reader in a Subscriber with PRESENTATION access scope GROUP announces the RTI vendor parameter
//! EXPECTS_VIRTUAL_HB (`0x8009`) and keeps every received sample in its group collator until a
//! HEARTBEAT_VIRTUAL tells it which virtual sequence numbers the writer's virtual GUID has; a plain HEARTBEAT
//! does not release them (see interop-tests/RESULTS.md). Connext accepts it from any vendor.
//!
//! Layout as Connext 6.1 sends it for one virtual GUID with one writer (no flag but E): readerId, writerId,
//! virtual GUID (16), number of writers (u32, 1), first and last virtual sequence number, first and last RTPS
//! sequence number, count.

use super::write_submessage;
use crate::wire::types::{EntityId, Guid, SequenceNumber};

/// Submessage id of HEARTBEAT_VIRTUAL.
pub const HEARTBEAT_VIRTUAL: u8 = 0x1e;

/// HEARTBEAT_VIRTUAL for one virtual GUID and one writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatVirtual {
    /// Destination reader.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// The virtual GUID the samples belong to (for a writer without one: its own GUID).
    pub virtual_guid: Guid,
    /// First available virtual sequence number.
    pub first_virtual_sn: SequenceNumber,
    /// Last available virtual sequence number.
    pub last_virtual_sn: SequenceNumber,
    /// First available RTPS sequence number.
    pub first_sn: SequenceNumber,
    /// Last available RTPS sequence number.
    pub last_sn: SequenceNumber,
    /// Counter, incremented for each new heartbeat.
    pub count: u32,
}

impl HeartbeatVirtual {
    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_submessage(out, HEARTBEAT_VIRTUAL, 0, |w| {
            self.reader_id.write(w);
            self.writer_id.write(w);
            self.virtual_guid.write(w);
            w.u32(1);
            self.first_virtual_sn.write(w);
            self.last_virtual_sn.write(w);
            self.first_sn.write(w);
            self.last_sn.write(w);
            w.u32(self.count);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a HEARTBEAT_VIRTUAL that Connext 6.1.2 sent (rti→rti, Test_CoherentSets_8 of the shapes
    /// matrix), re-encoded from its fields.
    #[test]
    fn encodes_as_connext_does() {
        let hb = HeartbeatVirtual {
            reader_id: EntityId([0x80, 0, 0, 0x07]),
            writer_id: EntityId([0x80, 0, 0, 0x02]),
            virtual_guid: Guid::from_bytes(*b"\xbc\x44\x2c\x8a\x0b\xe2\x4f\xde\xfb\xfd\xbe\x88\xf3\x37\x91\xd4"),
            first_virtual_sn: SequenceNumber(30),
            last_virtual_sn: SequenceNumber(85),
            first_sn: SequenceNumber(30),
            last_sn: SequenceNumber(85),
            count: 1,
        };
        let mut out = Vec::new();
        hb.encode(&mut out);
        let body = concat!(
            "80000007",
            "80000002",
            "bc442c8a0be24fdefbfdbe88f33791d4",
            "01000000",
            "00000000",
            "1e000000",
            "00000000",
            "55000000",
            "00000000",
            "1e000000",
            "00000000",
            "55000000",
            "01000000"
        );
        assert_eq!(out[..4], [0x1e, 0x01, 64, 0]);
        assert_eq!(hex(&out[4..]), body);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
