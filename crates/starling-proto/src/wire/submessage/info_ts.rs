//! INFO_TS (0x09).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::ByteReader;
use crate::wire::error::DecodeError;
use crate::wire::types::Time;

/// INFO_TS: the source timestamp of the following submessages, or `None` to invalidate it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoTs {
    /// The timestamp; `None` when the I flag is set (no body).
    pub timestamp: Option<Time>,
}

impl InfoTs {
    /// I flag: the timestamp is invalidated and the body is empty.
    pub const FLAG_INVALIDATE: u8 = 0x02;

    /// Decodes an INFO_TS body.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        if flags & Self::FLAG_INVALIDATE != 0 {
            return Ok(InfoTs { timestamp: None });
        }
        let mut r = ByteReader::new(body, endian_of(flags));
        Ok(InfoTs { timestamp: Some(Time::read(&mut r)?) })
    }

    /// Appends the whole submessage to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self.timestamp {
            Some(t) => write_submessage(out, id::INFO_TS, 0, |w| t.write(w)),
            None => write_submessage(out, id::INFO_TS, Self::FLAG_INVALIDATE, |_| {}),
        }
    }
}
