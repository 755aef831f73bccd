//! The 20-byte RTPS message header.

use super::cursor::{ByteReader, ByteWriter, Endian};
use super::error::DecodeError;
use super::types::{GuidPrefix, ProtocolVersion, VendorId};

/// The RTPS message header: magic, protocol version, vendor id and the sender's GUID prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version of the sender (major must be 2).
    pub version: ProtocolVersion,
    /// Vendor of the sender.
    pub vendor_id: VendorId,
    /// GUID prefix of the sending participant.
    pub guid_prefix: GuidPrefix,
}

/// The protocol magic, `RTPS`.
const MAGIC: [u8; 4] = *b"RTPS";

impl Header {
    /// Encoded length in bytes.
    pub const LEN: usize = 20;

    /// Decodes the header at the start of `buf`.
    ///
    /// Anything shorter than [`Header::LEN`] or without the `RTPS` magic (RTI's `RTPX` packets, RTI's
    /// short `DDSPING` datagrams) is [`DecodeError::NotRtps`]; a major version other than 2 is
    /// [`DecodeError::UnsupportedVersion`]. Any 2.x minor version is accepted.
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        if buf.len() < Self::LEN || buf[..4] != MAGIC {
            return Err(DecodeError::NotRtps);
        }
        let mut r = ByteReader::new(&buf[4..Self::LEN], Endian::Big);
        let major = r.u8()?;
        let minor = r.u8()?;
        if major != 2 {
            return Err(DecodeError::UnsupportedVersion(major, minor));
        }
        let vendor_id = VendorId(r.array::<2>()?);
        let guid_prefix = GuidPrefix::read(&mut r)?;
        Ok(Header { version: ProtocolVersion { major, minor }, vendor_id, guid_prefix })
    }

    /// Appends the 20 header bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = ByteWriter::new(out, Endian::Big);
        w.bytes(&MAGIC);
        w.u8(self.version.major);
        w.u8(self.version.minor);
        w.bytes(&self.vendor_id.0);
        self.guid_prefix.write(&mut w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header { version: ProtocolVersion::V2_5, vendor_id: VendorId::CYCLONE, guid_prefix: GuidPrefix([7; 12]) }
    }

    #[test]
    fn roundtrip() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        assert_eq!(buf.len(), Header::LEN);
        assert_eq!(&buf[..8], b"RTPS\x02\x05\x01\x10");
        assert_eq!(Header::decode(&buf), Ok(sample()));
    }

    #[test]
    fn rejects_foreign_magic_and_short_pings() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        buf[3] = b'X';
        assert_eq!(Header::decode(&buf), Err(DecodeError::NotRtps));
        assert_eq!(Header::decode(b"RTPS\x02\x05\x01\x01\x00DDSPING"), Err(DecodeError::NotRtps));
        assert_eq!(Header::decode(b"RTPS"), Err(DecodeError::NotRtps));
        assert_eq!(Header::decode(b""), Err(DecodeError::NotRtps));
    }

    #[test]
    fn version_rules() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        buf[4] = 3;
        assert_eq!(Header::decode(&buf), Err(DecodeError::UnsupportedVersion(3, 5)));
        buf[4] = 2;
        buf[5] = 9;
        assert_eq!(Header::decode(&buf).unwrap().version, ProtocolVersion { major: 2, minor: 9 });
        buf[5] = 1;
        assert!(Header::decode(&buf).is_ok());
    }
}
