//! INFO_SRC (0x0c).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::{GuidPrefix, ProtocolVersion, VendorId};

/// INFO_SRC: the following submessages come from another participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoSrc {
    /// Protocol version of the source.
    pub protocol_version: ProtocolVersion,
    /// Vendor of the source.
    pub vendor_id: VendorId,
    /// GUID prefix of the source participant.
    pub guid_prefix: GuidPrefix,
}

impl InfoSrc {
    /// Decodes an INFO_SRC body (an unused u32 comes first).
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        r.skip(4)?;
        let major = r.u8()?;
        let minor = r.u8()?;
        Ok(InfoSrc {
            protocol_version: ProtocolVersion { major, minor },
            vendor_id: VendorId(r.array::<2>()?),
            guid_prefix: GuidPrefix::read(&mut r)?,
        })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_submessage(out, id::INFO_SRC, 0, |w| {
            w.u32(0);
            w.u8(self.protocol_version.major);
            w.u8(self.protocol_version.minor);
            w.bytes(&self.vendor_id.0);
            self.guid_prefix.write(w);
        });
    }
}
