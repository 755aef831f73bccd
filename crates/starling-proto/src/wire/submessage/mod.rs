//! RTPS submessages, one file per kind.
//!
//! Every submessage type has `decode(flags, body)`, where `body` is the bytes after the 4-byte submessage header
//! and the byte order comes from the E flag (bit 0 of `flags`), and `encode(out)`, which appends the whole
//! submessage (header and body) in little-endian order with octetsToNextHeader filled in and the body padded to a
//! multiple of 4 bytes.

mod acknack;
mod data;
mod data_frag;
mod gap;
mod heartbeat;
mod heartbeat_frag;
mod heartbeat_virtual;
mod info_dst;
mod info_reply;
mod info_reply_ip4;
mod info_src;
mod info_ts;
mod nack_frag;
mod pad;

pub use acknack::AckNack;
pub use data::Data;
pub use data_frag::DataFrag;
pub use gap::Gap;
pub use heartbeat::Heartbeat;
pub use heartbeat_frag::HeartbeatFrag;
pub use heartbeat_virtual::{HeartbeatVirtual, HEARTBEAT_VIRTUAL};
pub use info_dst::InfoDst;
pub use info_reply::InfoReply;
pub use info_reply_ip4::InfoReplyIp4;
pub use info_src::InfoSrc;
pub use info_ts::InfoTs;
pub use nack_frag::NackFrag;
pub use pad::Pad;

use super::cursor::{ByteWriter, Endian};
use super::error::DecodeError;

/// Submessage ids.
pub mod id {
    /// PAD: no content, used for alignment.
    pub const PAD: u8 = 0x01;
    /// ACKNACK: reader → writer acknowledgement and negative acknowledgement.
    pub const ACKNACK: u8 = 0x06;
    /// HEARTBEAT: writer → reader announcement of available sequence numbers.
    pub const HEARTBEAT: u8 = 0x07;
    /// GAP: sequence numbers that will never be sent.
    pub const GAP: u8 = 0x08;
    /// INFO_TS: source timestamp for the following submessages.
    pub const INFO_TS: u8 = 0x09;
    /// INFO_SRC: changes the source of the following submessages.
    pub const INFO_SRC: u8 = 0x0c;
    /// INFO_REPLY_IP4: IPv4 reply locators.
    pub const INFO_REPLY_IP4: u8 = 0x0d;
    /// INFO_DST: destination participant of the following submessages.
    pub const INFO_DST: u8 = 0x0e;
    /// INFO_REPLY: reply locator lists.
    pub const INFO_REPLY: u8 = 0x0f;
    /// NACK_FRAG: missing fragments of one sample.
    pub const NACK_FRAG: u8 = 0x12;
    /// HEARTBEAT_FRAG: fragments available for one sample.
    pub const HEARTBEAT_FRAG: u8 = 0x13;
    /// DATA: one sample (or key, or dispose/unregister).
    pub const DATA: u8 = 0x15;
    /// DATA_FRAG: some fragments of one sample.
    pub const DATA_FRAG: u8 = 0x16;
}

/// The E flag: the submessage is little-endian.
pub const FLAG_E: u8 = 0x01;

/// One decoded submessage, borrowing from the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submessage<'a> {
    /// DATA.
    Data(Data<'a>),
    /// DATA_FRAG.
    DataFrag(DataFrag<'a>),
    /// HEARTBEAT.
    Heartbeat(Heartbeat),
    /// HEARTBEAT_FRAG.
    HeartbeatFrag(HeartbeatFrag),
    /// ACKNACK.
    AckNack(AckNack),
    /// NACK_FRAG.
    NackFrag(NackFrag),
    /// GAP.
    Gap(Gap),
    /// INFO_TS.
    InfoTs(InfoTs),
    /// INFO_DST.
    InfoDst(InfoDst),
    /// INFO_SRC.
    InfoSrc(InfoSrc),
    /// INFO_REPLY.
    InfoReply(InfoReply),
    /// INFO_REPLY_IP4.
    InfoReplyIp4(InfoReplyIp4),
    /// PAD.
    Pad,
    /// A submessage this codec does not interpret (HeaderExtension, security, vendor-specific, …).
    Unknown {
        /// The submessage id.
        id: u8,
        /// The flags byte.
        flags: u8,
    },
}

impl<'a> Submessage<'a> {
    /// Decodes the body of a submessage with id `id`; unknown ids become [`Submessage::Unknown`].
    pub fn decode(id: u8, flags: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(match id {
            id::DATA => Submessage::Data(Data::decode(flags, body)?),
            id::DATA_FRAG => Submessage::DataFrag(DataFrag::decode(flags, body)?),
            id::HEARTBEAT => Submessage::Heartbeat(Heartbeat::decode(flags, body)?),
            id::HEARTBEAT_FRAG => Submessage::HeartbeatFrag(HeartbeatFrag::decode(flags, body)?),
            id::ACKNACK => Submessage::AckNack(AckNack::decode(flags, body)?),
            id::NACK_FRAG => Submessage::NackFrag(NackFrag::decode(flags, body)?),
            id::GAP => Submessage::Gap(Gap::decode(flags, body)?),
            id::INFO_TS => Submessage::InfoTs(InfoTs::decode(flags, body)?),
            id::INFO_DST => Submessage::InfoDst(InfoDst::decode(flags, body)?),
            id::INFO_SRC => Submessage::InfoSrc(InfoSrc::decode(flags, body)?),
            id::INFO_REPLY => Submessage::InfoReply(InfoReply::decode(flags, body)?),
            id::INFO_REPLY_IP4 => Submessage::InfoReplyIp4(InfoReplyIp4::decode(flags, body)?),
            id::PAD => {
                Pad::decode(flags, body)?;
                Submessage::Pad
            }
            _ => Submessage::Unknown { id, flags },
        })
    }
}

/// The byte order selected by the E flag of `flags`.
pub(crate) fn endian_of(flags: u8) -> Endian {
    Endian::from_flag(flags & FLAG_E != 0)
}

/// Appends a whole little-endian submessage: header with E set, the body written by `body`, zero padding to a
/// multiple of 4, and octetsToNextHeader. A body longer than 65535 bytes gets octetsToNextHeader 0 ("runs to the
/// end of the message"), so such a submessage must be the last one of its message.
pub(crate) fn write_submessage(out: &mut Vec<u8>, id: u8, flags: u8, body: impl FnOnce(&mut ByteWriter<'_>)) {
    out.push(id);
    out.push(flags | FLAG_E);
    out.extend_from_slice(&[0, 0]);
    let start = out.len();
    {
        let mut w = ByteWriter::new(out, Endian::Little);
        body(&mut w);
        w.align(4);
    }
    let len = u16::try_from(out.len() - start).unwrap_or(0);
    out[start - 2..start].copy_from_slice(&len.to_le_bytes());
}
