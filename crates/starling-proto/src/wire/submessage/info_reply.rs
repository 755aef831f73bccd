//! INFO_REPLY (0x0f).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::{ByteReader, ByteWriter};
use crate::wire::error::DecodeError;
use crate::wire::types::Locator;

/// Encoded size of one Locator_t.
const LOCATOR_LEN: usize = 24;

/// INFO_REPLY: where replies to the following submessages should be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoReply {
    /// Unicast reply locators.
    pub unicast_locators: Vec<Locator>,
    /// Multicast reply locators (present on the wire only when not empty, M flag).
    pub multicast_locators: Vec<Locator>,
}

impl InfoReply {
    /// M flag: a multicast locator list follows the unicast list.
    pub const FLAG_MULTICAST: u8 = 0x02;

    /// Decodes an INFO_REPLY body. The locator count is checked against the remaining bytes before anything is
    /// allocated.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        let unicast_locators = read_locator_list(&mut r)?;
        let multicast_locators =
            if flags & Self::FLAG_MULTICAST != 0 { read_locator_list(&mut r)? } else { Vec::new() };
        Ok(InfoReply { unicast_locators, multicast_locators })
    }

    /// Appends the whole submessage to `out`; the M flag is set when there are multicast locators.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let multicast = !self.multicast_locators.is_empty();
        let flags = if multicast { Self::FLAG_MULTICAST } else { 0 };
        write_submessage(out, id::INFO_REPLY, flags, |w| {
            write_locator_list(w, &self.unicast_locators);
            if multicast {
                write_locator_list(w, &self.multicast_locators);
            }
        });
    }
}

fn read_locator_list(r: &mut ByteReader<'_>) -> Result<Vec<Locator>, DecodeError> {
    let count = r.u32()? as usize;
    let needed = count.checked_mul(LOCATOR_LEN).ok_or(DecodeError::Invalid("locator count overflows"))?;
    if needed > r.remaining() {
        return Err(DecodeError::Truncated { needed, available: r.remaining() });
    }
    let mut list = Vec::with_capacity(count);
    for _ in 0..count {
        list.push(Locator::read(r)?);
    }
    Ok(list)
}

fn write_locator_list(w: &mut ByteWriter<'_>, list: &[Locator]) {
    w.u32(list.len() as u32);
    for l in list {
        l.write(w);
    }
}
