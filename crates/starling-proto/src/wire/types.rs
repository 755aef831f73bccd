//! RTPS primitive types: GUIDs, entity ids, sequence numbers and their sets,
//! locators, time and duration, vendor and protocol version.
//!
//! Encoding of each type lives next to it, on top of [`ByteReader`] and
//! [`ByteWriter`], so that submessages and parameter lists share one codec.

use super::cursor::{ByteReader, ByteWriter};
use super::error::DecodeError;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The 12-byte prefix shared by every entity of one participant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GuidPrefix(pub [u8; 12]);

impl GuidPrefix {
    /// The all-zero prefix ("unknown", or "any destination" in INFO_DST).
    pub const UNKNOWN: GuidPrefix = GuidPrefix([0; 12]);

    /// Reads 12 bytes (never byte-swapped).
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        Ok(GuidPrefix(r.array::<12>()?))
    }

    /// Writes 12 bytes.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.bytes(&self.0);
    }
}

impl fmt::Debug for GuidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for GuidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.chunks(4).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            for b in chunk {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Entity id: a 3-byte key and a 1-byte kind, always in this byte order on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EntityId(pub [u8; 4]);

impl EntityId {
    /// ENTITYID_UNKNOWN.
    pub const UNKNOWN: EntityId = EntityId([0, 0, 0, 0]);
    /// The participant itself.
    pub const PARTICIPANT: EntityId = EntityId([0, 0, 1, 0xc1]);
    /// SEDP topics writer (DCPSTopic).
    pub const SEDP_TOPICS_WRITER: EntityId = EntityId([0, 0, 2, 0xc2]);
    /// SEDP topics reader.
    pub const SEDP_TOPICS_READER: EntityId = EntityId([0, 0, 2, 0xc7]);
    /// SEDP publications writer (DCPSPublication).
    pub const SEDP_PUBLICATIONS_WRITER: EntityId = EntityId([0, 0, 3, 0xc2]);
    /// SEDP publications reader.
    pub const SEDP_PUBLICATIONS_READER: EntityId = EntityId([0, 0, 3, 0xc7]);
    /// SEDP subscriptions writer (DCPSSubscription).
    pub const SEDP_SUBSCRIPTIONS_WRITER: EntityId = EntityId([0, 0, 4, 0xc2]);
    /// SEDP subscriptions reader.
    pub const SEDP_SUBSCRIPTIONS_READER: EntityId = EntityId([0, 0, 4, 0xc7]);
    /// SPDP participant writer (DCPSParticipant).
    pub const SPDP_WRITER: EntityId = EntityId([0, 1, 0, 0xc2]);
    /// SPDP participant reader.
    pub const SPDP_READER: EntityId = EntityId([0, 1, 0, 0xc7]);
    /// Participant message (liveliness) writer.
    pub const P2P_MESSAGE_WRITER: EntityId = EntityId([0, 2, 0, 0xc2]);
    /// Participant message (liveliness) reader.
    pub const P2P_MESSAGE_READER: EntityId = EntityId([0, 2, 0, 0xc7]);
    /// TypeLookup request writer.
    pub const TL_REQUEST_WRITER: EntityId = EntityId([0, 3, 0, 0xc3]);
    /// TypeLookup request reader.
    pub const TL_REQUEST_READER: EntityId = EntityId([0, 3, 0, 0xc4]);
    /// TypeLookup reply writer.
    pub const TL_REPLY_WRITER: EntityId = EntityId([0, 3, 1, 0xc3]);
    /// TypeLookup reply reader.
    pub const TL_REPLY_READER: EntityId = EntityId([0, 3, 1, 0xc4]);

    /// Entity kind: user writer with key.
    pub const KIND_WRITER_WITH_KEY: u8 = 0x02;
    /// Entity kind: user writer without key.
    pub const KIND_WRITER_NO_KEY: u8 = 0x03;
    /// Entity kind: user reader without key.
    pub const KIND_READER_NO_KEY: u8 = 0x04;
    /// Entity kind: user reader with key.
    pub const KIND_READER_WITH_KEY: u8 = 0x07;

    /// Builds an id from a 24-bit key and a kind byte.
    pub fn new(key: u32, kind: u8) -> Self {
        let k = key.to_be_bytes();
        EntityId([k[1], k[2], k[3], kind])
    }

    /// The kind byte.
    pub fn kind(&self) -> u8 {
        self.0[3]
    }

    /// True for writer kinds (user, built-in or vendor): low 6 bits 2 or 3.
    pub fn is_writer(&self) -> bool {
        matches!(self.kind() & 0x3f, 0x02 | 0x03)
    }

    /// True for reader kinds: low 6 bits 4 or 7.
    pub fn is_reader(&self) -> bool {
        matches!(self.kind() & 0x3f, 0x04 | 0x07)
    }

    /// True when the kind says the topic is keyed.
    pub fn is_keyed(&self) -> bool {
        matches!(self.kind() & 0x3f, 0x02 | 0x07)
    }

    /// True for built-in entities (top two bits `11`).
    pub fn is_builtin(&self) -> bool {
        self.kind() & 0xc0 == 0xc0
    }

    /// Reads 4 bytes (never byte-swapped).
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        Ok(EntityId(r.array::<4>()?))
    }

    /// Writes 4 bytes.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.bytes(&self.0);
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// A globally unique entity identifier: prefix + entity id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid {
    /// The participant's prefix.
    pub prefix: GuidPrefix,
    /// The entity within the participant.
    pub entity_id: EntityId,
}

impl Guid {
    /// The all-zero GUID.
    pub const UNKNOWN: Guid = Guid { prefix: GuidPrefix::UNKNOWN, entity_id: EntityId::UNKNOWN };

    /// Builds a GUID.
    pub fn new(prefix: GuidPrefix, entity_id: EntityId) -> Self {
        Guid { prefix, entity_id }
    }

    /// The 16 wire bytes.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(&self.prefix.0);
        b[12..].copy_from_slice(&self.entity_id.0);
        b
    }

    /// From 16 wire bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        let mut p = [0u8; 12];
        p.copy_from_slice(&b[..12]);
        Guid { prefix: GuidPrefix(p), entity_id: EntityId([b[12], b[13], b[14], b[15]]) }
    }

    /// Reads 16 bytes.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Guid::from_bytes(r.array::<16>()?))
    }

    /// Writes 16 bytes.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.bytes(&self.to_bytes());
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.prefix, self.entity_id)
    }
}

/// RTPS sequence number, 64-bit signed; the first sample is 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct SequenceNumber(pub i64);

impl SequenceNumber {
    /// SEQUENCENUMBER_UNKNOWN {high = -1, low = 0}.
    pub const UNKNOWN: SequenceNumber = SequenceNumber(-(1i64 << 32));
    /// Zero: "nothing yet".
    pub const ZERO: SequenceNumber = SequenceNumber(0);

    /// Reads {int32 high; uint32 low} in the reader's byte order.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        let high = r.i32()?;
        let low = r.u32()?;
        Ok(SequenceNumber(((high as i64) << 32) | low as i64))
    }

    /// Writes {int32 high; uint32 low}.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.i32((self.0 >> 32) as i32);
        w.u32(self.0 as u32);
    }

    /// The next sequence number (saturating).
    pub fn next(self) -> Self {
        SequenceNumber(self.0.saturating_add(1))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `DDS::SampleIdentity`: the writer GUID and sequence number that name one sample.
/// Request/reply links a reply to its request with it (inline QoS `PID_RELATED_SAMPLE_IDENTITY`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct SampleIdentity {
    /// The writer that wrote the sample.
    pub writer_guid: Guid,
    /// The sample's sequence number in that writer.
    pub sequence_number: SequenceNumber,
}

impl SampleIdentity {
    /// Encoded size: GUID (16) + SequenceNumber (8).
    pub const WIRE_SIZE: usize = 24;

    /// Builds an identity.
    pub fn new(writer_guid: Guid, sequence_number: SequenceNumber) -> Self {
        SampleIdentity { writer_guid, sequence_number }
    }

    /// Reads GUID (16 bytes) then SequenceNumber {int32 high; uint32 low} in the reader's byte order.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        let writer_guid = Guid::read(r)?;
        let sequence_number = SequenceNumber::read(r)?;
        Ok(SampleIdentity { writer_guid, sequence_number })
    }

    /// Writes GUID then SequenceNumber in the writer's byte order.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        self.writer_guid.write(w);
        self.sequence_number.write(w);
    }

    /// A fixed 24-byte form (GUID, then the sequence number as big-endian high int32 and low uint32),
    /// independent of any list's byte order; used outside RTPS (e.g. MQTT correlation data).
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..16].copy_from_slice(&self.writer_guid.to_bytes());
        b[16..20].copy_from_slice(&((self.sequence_number.0 >> 32) as i32).to_be_bytes());
        b[20..].copy_from_slice(&(self.sequence_number.0 as u32).to_be_bytes());
        b
    }

    /// Parses [`SampleIdentity::to_bytes`]'s form; `None` unless exactly 24 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 24 {
            return None;
        }
        let mut g = [0u8; 16];
        g.copy_from_slice(&b[..16]);
        let high = i32::from_be_bytes([b[16], b[17], b[18], b[19]]);
        let low = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        Some(SampleIdentity {
            writer_guid: Guid::from_bytes(g),
            sequence_number: SequenceNumber((i64::from(high) << 32) | i64::from(low)),
        })
    }
}

/// The largest number of bits a sequence or fragment number set may carry.
pub const MAX_SET_BITS: u32 = 256;

/// A bitmap set of sequence numbers starting at `base` (ACKNACK, GAP).
///
/// Bit *i* means `base + i`; at most 256 bits, stored MSB-first in 32-bit words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SequenceNumberSet {
    /// The first sequence number the bitmap can name.
    pub base: SequenceNumber,
    /// How many bits are meaningful (0..=256).
    pub num_bits: u32,
    /// The bitmap words.
    pub bitmap: [u32; 8],
}

impl SequenceNumberSet {
    /// An empty set at `base`.
    pub fn new(base: SequenceNumber) -> Self {
        SequenceNumberSet { base, num_bits: 0, bitmap: [0; 8] }
    }

    /// Adds `sn` if it lies in `base .. base + 256`; returns false otherwise.
    pub fn insert(&mut self, sn: SequenceNumber) -> bool {
        let off = sn.0.wrapping_sub(self.base.0);
        if !(0..MAX_SET_BITS as i64).contains(&off) {
            return false;
        }
        let i = off as u32;
        self.bitmap[(i / 32) as usize] |= 1 << (31 - i % 32);
        self.num_bits = self.num_bits.max(i + 1);
        true
    }

    /// True when `sn` is in the set.
    pub fn contains(&self, sn: SequenceNumber) -> bool {
        let off = sn.0.wrapping_sub(self.base.0);
        if off < 0 || off >= self.num_bits as i64 {
            return false;
        }
        let i = off as u32;
        self.bitmap[(i / 32) as usize] & (1 << (31 - i % 32)) != 0
    }

    /// The sequence numbers in the set, ascending. Bits that would name a
    /// sequence number beyond `i64::MAX` (a hostile base) are left out.
    pub fn iter(&self) -> impl Iterator<Item = SequenceNumber> + '_ {
        (0..self.num_bits)
            .filter(|i| self.bitmap[(i / 32) as usize] & (1 << (31 - i % 32)) != 0)
            .map_while(|i| self.base.0.checked_add(i64::from(i)).map(SequenceNumber))
    }

    /// Reads base, numBits and the bitmap; rejects numBits > 256.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        let base = SequenceNumber::read(r)?;
        let num_bits = r.u32()?;
        if num_bits > MAX_SET_BITS {
            return Err(DecodeError::Invalid("sequence number set has more than 256 bits"));
        }
        let mut bitmap = [0u32; 8];
        for word in bitmap.iter_mut().take(num_bits.div_ceil(32) as usize) {
            *word = r.u32()?;
        }
        Ok(SequenceNumberSet { base, num_bits, bitmap })
    }

    /// Writes base, numBits and ⌈numBits/32⌉ words.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        self.base.write(w);
        w.u32(self.num_bits);
        for word in self.bitmap.iter().take(self.num_bits.div_ceil(32) as usize) {
            w.u32(*word);
        }
    }
}

/// A bitmap set of fragment numbers (NACK_FRAG); fragment numbers start at 1.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragmentNumberSet {
    /// The first fragment number the bitmap can name.
    pub base: u32,
    /// How many bits are meaningful (0..=256).
    pub num_bits: u32,
    /// The bitmap words.
    pub bitmap: [u32; 8],
}

impl FragmentNumberSet {
    /// An empty set at `base`.
    pub fn new(base: u32) -> Self {
        FragmentNumberSet { base, num_bits: 0, bitmap: [0; 8] }
    }

    /// Adds fragment `n` if it lies in `base .. base + 256`.
    pub fn insert(&mut self, n: u32) -> bool {
        let off = n.wrapping_sub(self.base);
        if n < self.base || off >= MAX_SET_BITS {
            return false;
        }
        self.bitmap[(off / 32) as usize] |= 1 << (31 - off % 32);
        self.num_bits = self.num_bits.max(off + 1);
        true
    }

    /// The fragment numbers in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.num_bits)
            .filter(|i| self.bitmap[(i / 32) as usize] & (1 << (31 - i % 32)) != 0)
            .map(|i| self.base.saturating_add(i))
    }

    /// Reads base, numBits and the bitmap; rejects numBits > 256.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        let base = r.u32()?;
        let num_bits = r.u32()?;
        if num_bits > MAX_SET_BITS {
            return Err(DecodeError::Invalid("fragment number set has more than 256 bits"));
        }
        let mut bitmap = [0u32; 8];
        for word in bitmap.iter_mut().take(num_bits.div_ceil(32) as usize) {
            *word = r.u32()?;
        }
        Ok(FragmentNumberSet { base, num_bits, bitmap })
    }

    /// Writes base, numBits and ⌈numBits/32⌉ words.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.u32(self.base);
        w.u32(self.num_bits);
        for word in self.bitmap.iter().take(self.num_bits.div_ceil(32) as usize) {
            w.u32(*word);
        }
    }
}

/// Locator kinds Starling understands.
pub mod locator_kind {
    /// Invalid locator.
    pub const INVALID: i32 = -1;
    /// UDP over IPv4.
    pub const UDPV4: i32 = 1;
    /// UDP over IPv6.
    pub const UDPV6: i32 = 2;
}

/// A transport address: kind, port, 16-byte address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Locator {
    /// Locator kind (see [`locator_kind`]); vendor kinds are kept but not used.
    pub kind: i32,
    /// Port; 0 is invalid.
    pub port: u32,
    /// Address; UDPv4 keeps the IPv4 octets in the last 4 bytes.
    pub address: [u8; 16],
}

impl Locator {
    /// A UDPv4 locator.
    pub fn udpv4(addr: Ipv4Addr, port: u16) -> Self {
        let mut address = [0u8; 16];
        address[12..].copy_from_slice(&addr.octets());
        Locator { kind: locator_kind::UDPV4, port: port as u32, address }
    }

    /// A UDPv6 locator.
    pub fn udpv6(addr: Ipv6Addr, port: u16) -> Self {
        Locator { kind: locator_kind::UDPV6, port: port as u32, address: addr.octets() }
    }

    /// The socket address for UDP locators with a usable port; `None` for other kinds.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        if self.port == 0 || self.port > u16::MAX as u32 {
            return None;
        }
        let port = self.port as u16;
        match self.kind {
            locator_kind::UDPV4 => {
                let a = Ipv4Addr::new(self.address[12], self.address[13], self.address[14], self.address[15]);
                Some(SocketAddr::V4(SocketAddrV4::new(a, port)))
            }
            locator_kind::UDPV6 => Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(self.address), port, 0, 0))),
            _ => None,
        }
    }

    /// From a socket address.
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => Locator::udpv4(*a.ip(), a.port()),
            SocketAddr::V6(a) => Locator::udpv6(*a.ip(), a.port()),
        }
    }

    /// True for a UDPv4/UDPv6 multicast address.
    pub fn is_multicast(&self) -> bool {
        self.to_socket_addr().is_some_and(|a| a.ip().is_multicast())
    }

    /// Reads the 24-byte Locator_t.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        let kind = r.i32()?;
        let port = r.u32()?;
        let address = r.array::<16>()?;
        Ok(Locator { kind, port, address })
    }

    /// Writes the 24-byte Locator_t.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.i32(self.kind);
        w.u32(self.port);
        w.bytes(&self.address);
    }
}

impl fmt::Debug for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_socket_addr() {
            Some(a) if self.kind == locator_kind::UDPV4 => write!(f, "udp/{a}"),
            Some(a) => write!(f, "udp6/{a}"),
            None => write!(f, "kind{}:{}", self.kind, self.port),
        }
    }
}

/// RTPS Time_t: seconds and 2^-32 fractions since the UNIX epoch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Time {
    /// Seconds.
    pub seconds: u32,
    /// Fraction of a second in units of 2^-32 s.
    pub fraction: u32,
}

impl Time {
    /// TIME_ZERO.
    pub const ZERO: Time = Time { seconds: 0, fraction: 0 };
    /// TIME_INVALID.
    pub const INVALID: Time = Time { seconds: 0xffff_ffff, fraction: 0xffff_ffff };
    /// TIME_INFINITE.
    pub const INFINITE: Time = Time { seconds: 0xffff_ffff, fraction: 0xffff_fffe };

    /// From nanoseconds since the UNIX epoch.
    pub fn from_nanos(nanos: u64) -> Self {
        let seconds = (nanos / 1_000_000_000) as u32;
        let sub = nanos % 1_000_000_000;
        Time { seconds, fraction: ((sub << 32) / 1_000_000_000) as u32 }
    }

    /// Nanoseconds since the UNIX epoch.
    pub fn to_nanos(&self) -> u64 {
        self.seconds as u64 * 1_000_000_000 + ((self.fraction as u64 * 1_000_000_000) >> 32)
    }

    /// Reads {uint32 seconds; uint32 fraction}.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Time { seconds: r.u32()?, fraction: r.u32()? })
    }

    /// Writes {uint32 seconds; uint32 fraction}.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.u32(self.seconds);
        w.u32(self.fraction);
    }
}

/// RTPS Duration_t: {int32 seconds; uint32 fraction (2^-32 s)}.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Duration {
    /// Seconds.
    pub seconds: i32,
    /// Fraction in units of 2^-32 s.
    pub fraction: u32,
}

impl Duration {
    /// DURATION_ZERO.
    pub const ZERO: Duration = Duration { seconds: 0, fraction: 0 };
    /// DURATION_INFINITE.
    pub const INFINITE: Duration = Duration { seconds: 0x7fff_ffff, fraction: 0xffff_ffff };

    /// True for DURATION_INFINITE.
    pub fn is_infinite(&self) -> bool {
        *self == Duration::INFINITE
    }

    /// From a std duration; durations too long for the wire become infinite.
    pub fn from_std(d: std::time::Duration) -> Self {
        if d.as_secs() >= 0x7fff_ffff {
            return Duration::INFINITE;
        }
        let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
        Duration { seconds: d.as_secs() as i32, fraction: frac as u32 }
    }

    /// To a std duration; `None` for infinite, negative durations clamp to zero.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        if self.is_infinite() {
            return None;
        }
        if self.seconds < 0 {
            return Some(std::time::Duration::ZERO);
        }
        let nanos = (self.fraction as u64 * 1_000_000_000) >> 32;
        Some(std::time::Duration::new(self.seconds as u64, nanos as u32))
    }

    /// From whole milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        Duration::from_std(std::time::Duration::from_millis(ms))
    }

    /// Reads {int32 seconds; uint32 fraction}.
    pub fn read(r: &mut ByteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Duration { seconds: r.i32()?, fraction: r.u32()? })
    }

    /// Writes {int32 seconds; uint32 fraction}.
    pub fn write(&self, w: &mut ByteWriter<'_>) {
        w.i32(self.seconds);
        w.u32(self.fraction);
    }
}

/// Two-byte vendor id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct VendorId(pub [u8; 2]);

impl VendorId {
    /// Unknown vendor.
    pub const UNKNOWN: VendorId = VendorId([0, 0]);
    /// RTI Connext DDS.
    pub const RTI: VendorId = VendorId([1, 1]);
    /// OpenDDS.
    pub const OPENDDS: VendorId = VendorId([1, 3]);
    /// RTI Connext Micro.
    pub const RTI_MICRO: VendorId = VendorId([1, 0x0a]);
    /// eProsima Fast DDS.
    pub const FASTDDS: VendorId = VendorId([1, 0x0f]);
    /// Eclipse Cyclone DDS.
    pub const CYCLONE: VendorId = VendorId([1, 0x10]);
    /// Atostek RustDDS.
    pub const RUSTDDS: VendorId = VendorId([1, 0x12]);
    /// Starling. Starling has no OMG-assigned vendor id, so it claims none of the
    /// assigned ones: `01 ff` is outside the assigned table.
    pub const STARLING: VendorId = VendorId([1, 0xff]);

    /// A short product name for display.
    pub fn name(&self) -> &'static str {
        match self.0 {
            [1, 1] => "RTI Connext",
            [1, 2] => "OpenSplice",
            [1, 3] => "OpenDDS",
            [1, 6] => "CoreDX",
            [1, 0x0a] => "RTI Connext Micro",
            [1, 0x0f] => "Fast DDS",
            [1, 0x10] => "Cyclone DDS",
            [1, 0x11] => "GurumDDS",
            [1, 0x12] => "RustDDS",
            [1, 0x14] => "dust_dds",
            [1, 0xff] => "Starling",
            _ => "unknown",
        }
    }

    /// True for RTI Connext (full or Micro).
    pub fn is_rti(&self) -> bool {
        *self == VendorId::RTI || *self == VendorId::RTI_MICRO
    }
}

/// Protocol version major.minor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ProtocolVersion {
    /// Major version (2).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl ProtocolVersion {
    /// RTPS 2.5.
    pub const V2_5: ProtocolVersion = ProtocolVersion { major: 2, minor: 5 };
}

impl Default for ProtocolVersion {
    fn default() -> Self {
        ProtocolVersion::V2_5
    }
}

/// A 16-byte instance key hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct KeyHash(pub [u8; 16]);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::cursor::Endian;

    #[test]
    fn sn_set_roundtrip_and_bit_order() {
        let mut s = SequenceNumberSet::new(SequenceNumber(10));
        assert!(s.insert(SequenceNumber(10)));
        assert!(s.insert(SequenceNumber(42)));
        assert!(!s.insert(SequenceNumber(9)));
        assert!(!s.insert(SequenceNumber(10 + 256)));
        assert_eq!(s.bitmap[0], 0x8000_0000);
        assert_eq!(s.bitmap[1], 0x8000_0000);
        assert_eq!(s.num_bits, 33);
        let mut buf = Vec::new();
        s.write(&mut ByteWriter::new(&mut buf, Endian::Little));
        assert_eq!(buf.len(), 8 + 4 + 8);
        let back = SequenceNumberSet::read(&mut ByteReader::new(&buf, Endian::Little)).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.iter().collect::<Vec<_>>(), vec![SequenceNumber(10), SequenceNumber(42)]);
    }

    #[test]
    fn sn_set_iter_near_i64_max_does_not_overflow() {
        let set = SequenceNumberSet { base: SequenceNumber(i64::MAX - 1), num_bits: 256, bitmap: [u32::MAX; 8] };
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![SequenceNumber(i64::MAX - 1), SequenceNumber(i64::MAX)]);
    }

    #[test]
    fn sn_set_rejects_too_many_bits() {
        let mut buf = Vec::new();
        let mut w = ByteWriter::new(&mut buf, Endian::Big);
        SequenceNumber(1).write(&mut w);
        w.u32(257);
        assert!(SequenceNumberSet::read(&mut ByteReader::new(&buf, Endian::Big)).is_err());
    }

    #[test]
    fn sequence_number_unknown_bytes() {
        let mut buf = Vec::new();
        SequenceNumber::UNKNOWN.write(&mut ByteWriter::new(&mut buf, Endian::Big));
        assert_eq!(buf, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    }

    #[test]
    fn locator_udpv4() {
        let l = Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400);
        assert!(l.is_multicast());
        assert_eq!(l.to_socket_addr(), Some("239.255.0.1:7400".parse().unwrap()));
        assert_eq!(&l.address[12..], &[239, 255, 0, 1]);
    }

    #[test]
    fn time_nanos_roundtrip() {
        let t = Time::from_nanos(1_700_000_000_500_000_000);
        assert_eq!(t.seconds, 1_700_000_000);
        let back = t.to_nanos();
        assert!((back as i64 - 1_700_000_000_500_000_000i64).abs() < 2);
    }

    #[test]
    fn duration_std() {
        let d = Duration::from_millis(1500);
        assert_eq!(d.seconds, 1);
        assert_eq!(d.to_std().unwrap().as_millis(), 1499.max(d.to_std().unwrap().as_millis()));
        assert_eq!(Duration::INFINITE.to_std(), None);
    }
}
