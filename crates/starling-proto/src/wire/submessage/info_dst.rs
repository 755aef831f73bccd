//! INFO_DST (0x0e).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::GuidPrefix;

/// INFO_DST: the participant the following submessages are meant for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoDst {
    /// Destination participant; all zeros means any destination.
    pub guid_prefix: GuidPrefix,
}

impl InfoDst {
    /// Decodes an INFO_DST body.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        Ok(InfoDst { guid_prefix: GuidPrefix::read(&mut r)? })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_submessage(out, id::INFO_DST, 0, |w| self.guid_prefix.write(w));
    }
}
