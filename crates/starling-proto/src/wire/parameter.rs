//! Parameter lists (PL_CDR): SPDP/SEDP payloads and inline QoS.
//!
//! Each parameter is `pid: u16, length: u16, value[length]` in the list's byte
//! order; the list ends with PID_SENTINEL. Values are padded to 4 bytes.

use super::cursor::{ByteReader, ByteWriter, Endian};
use super::error::DecodeError;

/// Parameter ids.
pub mod pid {
    #![allow(missing_docs)]
    pub const PAD: u16 = 0x0000;
    pub const SENTINEL: u16 = 0x0001;
    pub const USER_DATA: u16 = 0x002c;
    pub const TOPIC_NAME: u16 = 0x0005;
    pub const TYPE_NAME: u16 = 0x0007;
    pub const GROUP_DATA: u16 = 0x002d;
    pub const TOPIC_DATA: u16 = 0x002e;
    pub const DURABILITY: u16 = 0x001d;
    pub const DURABILITY_SERVICE: u16 = 0x001e;
    pub const DEADLINE: u16 = 0x0023;
    pub const LATENCY_BUDGET: u16 = 0x0027;
    pub const LIVELINESS: u16 = 0x001b;
    pub const RELIABILITY: u16 = 0x001a;
    pub const LIFESPAN: u16 = 0x002b;
    pub const DESTINATION_ORDER: u16 = 0x0025;
    pub const HISTORY: u16 = 0x0040;
    pub const RESOURCE_LIMITS: u16 = 0x0041;
    pub const OWNERSHIP: u16 = 0x001f;
    pub const OWNERSHIP_STRENGTH: u16 = 0x0006;
    pub const PRESENTATION: u16 = 0x0021;
    pub const PARTITION: u16 = 0x0029;
    pub const TIME_BASED_FILTER: u16 = 0x0004;
    pub const TRANSPORT_PRIORITY: u16 = 0x0049;
    pub const DOMAIN_ID: u16 = 0x000f;
    pub const DOMAIN_TAG: u16 = 0x4014;
    pub const PROTOCOL_VERSION: u16 = 0x0015;
    pub const VENDORID: u16 = 0x0016;
    pub const UNICAST_LOCATOR: u16 = 0x002f;
    pub const MULTICAST_LOCATOR: u16 = 0x0030;
    pub const DEFAULT_UNICAST_LOCATOR: u16 = 0x0031;
    pub const DEFAULT_MULTICAST_LOCATOR: u16 = 0x0048;
    pub const METATRAFFIC_UNICAST_LOCATOR: u16 = 0x0032;
    pub const METATRAFFIC_MULTICAST_LOCATOR: u16 = 0x0033;
    pub const EXPECTS_INLINE_QOS: u16 = 0x0043;
    pub const PARTICIPANT_MANUAL_LIVELINESS_COUNT: u16 = 0x0034;
    pub const PARTICIPANT_BUILTIN_ENDPOINTS: u16 = 0x0044;
    pub const PARTICIPANT_LEASE_DURATION: u16 = 0x0002;
    pub const CONTENT_FILTER_PROPERTY: u16 = 0x0035;
    pub const PARTICIPANT_GUID: u16 = 0x0050;
    pub const GROUP_GUID: u16 = 0x0052;
    pub const BUILTIN_ENDPOINT_SET: u16 = 0x0058;
    pub const PROPERTY_LIST: u16 = 0x0059;
    pub const TYPE_MAX_SIZE_SERIALIZED: u16 = 0x0060;
    pub const ENTITY_NAME: u16 = 0x0062;
    pub const ENDPOINT_GUID: u16 = 0x005a;
    pub const CONTENT_FILTER_INFO: u16 = 0x0055;
    pub const COHERENT_SET: u16 = 0x0056;
    pub const DIRECTED_WRITE: u16 = 0x0057;
    pub const ORIGINAL_WRITER_INFO: u16 = 0x0061;
    /// RTPS 2.5 inline QoS: the group coherent set a change belongs to (SequenceNumber_t, the group
    /// sequence number of the set's first change).
    pub const GROUP_COHERENT_SET: u16 = 0x0063;
    /// RTPS 2.5 inline QoS: the change's group sequence number (SequenceNumber_t), counted per Publisher.
    pub const GROUP_SEQ_NUM: u16 = 0x0064;
    /// RTPS 2.5 inline QoS: WriterGroupInfo_t (a GroupDigest_t of the writers in a group coherent set).
    /// Recognised, not sent: Starling sends the set's writers as [`STARLING_GROUP_SET_WRITERS`].
    pub const WRITER_GROUP_INFO: u16 = 0x0065;
    /// Starling vendor PID (read only from vendor 01 ff): on a group coherent set's end
    /// marker, the writers of the publisher that wrote in the set and how many changes each wrote, as
    /// `uint32 n` then `n × (EntityId_t writer, uint32 count)`.
    pub const STARLING_GROUP_SET_WRITERS: u16 = 0x8063;
    pub const KEY_HASH: u16 = 0x0070;
    pub const STATUS_INFO: u16 = 0x0071;
    pub const DATA_REPRESENTATION: u16 = 0x0073;
    pub const TYPE_CONSISTENCY_ENFORCEMENT: u16 = 0x0074;
    pub const TYPE_INFORMATION: u16 = 0x0075;
    pub const BUILTIN_ENDPOINT_QOS: u16 = 0x0077;
    pub const RELATED_SAMPLE_IDENTITY: u16 = 0x0083;
    /// The legacy related sample identity PID that RTI Connext and older Fast DDS send (0x800f);
    /// accepted on receive, never sent.
    pub const RELATED_SAMPLE_IDENTITY_LEGACY: u16 = 0x800f;
    /// Vendor-specific bit: meaningful only with the sender's vendor id.
    pub const VENDOR_SPECIFIC_FLAG: u16 = 0x8000;
    /// "Incompatible if unrecognized" bit.
    pub const MUST_UNDERSTAND_FLAG: u16 = 0x4000;
    /// Cyclone (vendor 01 10): the reader wants KEY_HASH inline.
    pub const CYCLONE_REQUESTS_KEYHASH: u16 = 0x801c;
}

/// A borrowed, not yet decoded parameter list in a known byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParameterList<'a> {
    /// The raw bytes, starting at the first parameter header (sentinel included if present).
    pub bytes: &'a [u8],
    /// Byte order of the list.
    pub endian: Endian,
}

impl<'a> ParameterList<'a> {
    /// Wraps raw parameter-list bytes.
    pub fn new(bytes: &'a [u8], endian: Endian) -> Self {
        ParameterList { bytes, endian }
    }

    /// Iterates over `(pid, value)` pairs until the sentinel or the end.
    /// PID_PAD entries are skipped. A truncated parameter yields an error and ends the iteration.
    pub fn iter(&self) -> ParameterIter<'a> {
        ParameterIter { r: ByteReader::new(self.bytes, self.endian), done: false }
    }

    /// Finds the first value of `pid`.
    pub fn find(&self, wanted: u16) -> Option<&'a [u8]> {
        self.iter().filter_map(Result::ok).find(|(p, _)| *p == wanted).map(|(_, v)| v)
    }

    /// Length in bytes of the list up to and including its sentinel, checking every header.
    /// Used to find where inline QoS ends inside a DATA submessage.
    pub fn measure(bytes: &[u8], endian: Endian) -> Result<usize, DecodeError> {
        let mut r = ByteReader::new(bytes, endian);
        loop {
            let p = r.u16()?;
            let len = r.u16()? as usize;
            if p == pid::SENTINEL {
                return Ok(r.position());
            }
            r.skip(len)?;
        }
    }
}

/// Iterator over a [`ParameterList`].
#[derive(Clone, Debug)]
pub struct ParameterIter<'a> {
    r: ByteReader<'a>,
    done: bool,
}

impl<'a> Iterator for ParameterIter<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done || self.r.is_empty() {
                return None;
            }
            let res = (|| {
                let p = self.r.u16()?;
                let len = self.r.u16()? as usize;
                let v = self.r.take(len)?;
                Ok((p, v))
            })();
            match res {
                Ok((pid::SENTINEL, _)) => {
                    self.done = true;
                    return None;
                }
                Ok((pid::PAD, _)) => continue,
                Ok(item) => return Some(Ok(item)),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Builds a parameter list; values are padded to 4 bytes automatically.
#[derive(Debug)]
pub struct ParameterListWriter<'a> {
    w: ByteWriter<'a>,
}

impl<'a> ParameterListWriter<'a> {
    /// Starts a list appended to `buf` in `endian` order.
    pub fn new(buf: &'a mut Vec<u8>, endian: Endian) -> Self {
        ParameterListWriter { w: ByteWriter::new(buf, endian) }
    }

    /// Writes one parameter whose value is produced by `f` (which writes in the
    /// list's byte order, with alignment relative to the value's start).
    pub fn param(&mut self, p: u16, f: impl FnOnce(&mut ByteWriter<'_>)) {
        self.w.u16(p);
        let len_pos = self.w.position();
        self.w.u16(0);
        let start = self.w.position();
        f(&mut self.w);
        self.w.align(4);
        let len = self.w.position() - start;
        self.w.patch_u16(len_pos, len.min(u16::MAX as usize) as u16);
    }

    /// Writes a CDR string parameter (length with NUL, bytes, NUL).
    pub fn string(&mut self, p: u16, s: &str) {
        self.param(p, |w| write_cdr_string(w, s));
    }

    /// Writes a u32 parameter.
    pub fn u32(&mut self, p: u16, v: u32) {
        self.param(p, |w| w.u32(v));
    }

    /// Writes a raw-bytes parameter.
    pub fn raw(&mut self, p: u16, v: &[u8]) {
        self.param(p, |w| w.bytes(v));
    }

    /// Writes the sentinel, ending the list.
    pub fn finish(mut self) {
        self.w.u16(pid::SENTINEL);
        self.w.u16(0);
    }
}

/// Writes a CDR string: u32 length including the NUL, the bytes, the NUL.
pub fn write_cdr_string(w: &mut ByteWriter<'_>, s: &str) {
    w.u32(s.len() as u32 + 1);
    w.bytes(s.as_bytes());
    w.u8(0);
}

/// Reads a CDR string (length includes the NUL); tolerates a missing NUL and
/// replaces invalid UTF-8.
pub fn read_cdr_string(r: &mut ByteReader<'_>) -> Result<String, DecodeError> {
    let len = r.u32()? as usize;
    let b = r.take(len)?;
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    Ok(String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_both_endians() {
        for endian in [Endian::Little, Endian::Big] {
            let mut buf = Vec::new();
            let mut w = ParameterListWriter::new(&mut buf, endian);
            w.string(pid::TOPIC_NAME, "Square");
            w.u32(pid::DOMAIN_ID, 7);
            w.finish();
            assert_eq!(buf.len() % 4, 0);
            let pl = ParameterList::new(&buf, endian);
            let items: Vec<_> = pl.iter().map(Result::unwrap).collect();
            assert_eq!(items.len(), 2);
            assert_eq!(items[0].0, pid::TOPIC_NAME);
            assert_eq!(items[0].1.len(), 12);
            let mut r = ByteReader::new(items[0].1, endian);
            assert_eq!(read_cdr_string(&mut r).unwrap(), "Square");
            assert_eq!(ParameterList::measure(&buf, endian).unwrap(), buf.len());
        }
    }

    #[test]
    fn truncated_value_is_an_error() {
        let bytes = [0x05, 0x00, 0x10, 0x00, 1, 2, 3];
        let pl = ParameterList::new(&bytes, Endian::Little);
        let items: Vec<_> = pl.iter().collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
        assert!(ParameterList::measure(&bytes, Endian::Little).is_err());
    }
}
