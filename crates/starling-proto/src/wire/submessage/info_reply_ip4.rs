//! INFO_REPLY_IP4 (0x0d).

use super::{endian_of, id, write_submessage};
use crate::wire::cursor::{ByteReader, ByteWriter};
use crate::wire::error::DecodeError;
use crate::wire::types::{locator_kind, Locator};
use std::net::Ipv4Addr;

/// INFO_REPLY_IP4: compact IPv4 form of INFO_REPLY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoReplyIp4 {
    /// Unicast reply locator (UDPv4).
    pub unicast: Locator,
    /// Multicast reply locator (UDPv4), M flag.
    pub multicast: Option<Locator>,
}

impl InfoReplyIp4 {
    /// M flag: a multicast locator follows.
    pub const FLAG_MULTICAST: u8 = 0x02;

    /// Decodes an INFO_REPLY_IP4 body; each LocatorUDPv4 {u32 address, u32 port} becomes a UDPv4 [`Locator`].
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ByteReader::new(body, endian_of(flags));
        let unicast = read_udpv4(&mut r)?;
        let multicast = if flags & Self::FLAG_MULTICAST != 0 { Some(read_udpv4(&mut r)?) } else { None };
        Ok(InfoReplyIp4 { unicast, multicast })
    }

    /// Appends the whole submessage to `out`. Only the IPv4 part (the last 4 address bytes) and the port of each
    /// locator are written.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let flags = if self.multicast.is_some() { Self::FLAG_MULTICAST } else { 0 };
        write_submessage(out, id::INFO_REPLY_IP4, flags, |w| {
            write_udpv4(w, &self.unicast);
            if let Some(m) = &self.multicast {
                write_udpv4(w, m);
            }
        });
    }
}

fn read_udpv4(r: &mut ByteReader<'_>) -> Result<Locator, DecodeError> {
    let address = r.u32()?;
    let port = r.u32()?;
    let mut l = Locator::udpv4(Ipv4Addr::from(address), 0);
    l.port = port;
    Ok(l)
}

fn write_udpv4(w: &mut ByteWriter<'_>, l: &Locator) {
    debug_assert_eq!(l.kind, locator_kind::UDPV4, "INFO_REPLY_IP4 carries UDPv4 locators only");
    let a = [l.address[12], l.address[13], l.address[14], l.address[15]];
    w.u32(u32::from_be_bytes(a));
    w.u32(l.port);
}
