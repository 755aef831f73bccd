//! PAD (0x01).

use super::{id, write_submessage};
use crate::wire::error::DecodeError;

/// PAD: carries nothing; its body, if any, is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pad;

impl Pad {
    /// Decodes a PAD body (anything is accepted).
    pub fn decode(_flags: u8, _body: &[u8]) -> Result<Self, DecodeError> {
        Ok(Pad)
    }

    /// Appends a 4-byte PAD submessage with an empty body to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_submessage(out, id::PAD, 0, |_| {});
    }
}
