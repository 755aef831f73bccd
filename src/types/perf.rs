//! The sample type of `starling perf`: a sequence number, a key and an opaque payload.
//!
//! ```idl
//! @final
//! struct PerfSample {   // PerfKeyedSample has @key on `key`
//!   uint32 seq;
//!   uint32 key;
//!   sequence<octet> payload;
//! };
//! ```
//!
//! The fixed part is 12 bytes, like the `KS` topic of Cyclone's `ddsperf`, so a sample of `--size N` bytes
//! (the serialized body, without the 4-byte encapsulation header) carries `N - 12` payload bytes in both
//! tools. The type comes in a keyed and an unkeyed flavour, chosen by the const parameter.

use starling_proto::cdr::{CdrError, CdrReader, CdrWriter, Extensibility, TopicType, XcdrVersion};

/// Bytes of a serialized sample that are not payload: `seq`, `key` and the sequence length.
pub const FIXED_SIZE: usize = 12;

/// One perf sample. `KEYED` selects whether `key` is a key member.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PerfSample<const KEYED: bool> {
    /// Sequence number, counted by the writer from 1 (ping/pong: the round-trip number).
    pub seq: u32,
    /// Instance key (0 when unkeyed).
    pub key: u32,
    /// Opaque payload bytes.
    pub payload: Vec<u8>,
}

/// The unkeyed perf sample (one instance).
pub type PerfUnkeyed = PerfSample<false>;
/// The keyed perf sample (`key` selects the instance).
pub type PerfKeyed = PerfSample<true>;

impl<const KEYED: bool> PerfSample<KEYED> {
    /// A sample whose serialized body is `size` bytes (at least [`FIXED_SIZE`]).
    pub fn with_size(size: usize) -> Self {
        PerfSample { seq: 0, key: 0, payload: vec![0xa5; size.saturating_sub(FIXED_SIZE)] }
    }

    /// The serialized body size of this sample.
    pub fn size(&self) -> usize {
        FIXED_SIZE + self.payload.len()
    }
}

impl<const KEYED: bool> TopicType for PerfSample<KEYED> {
    fn type_name() -> &'static str {
        if KEYED {
            "starling::perf::PerfKeyedSample"
        } else {
            "starling::perf::PerfSample"
        }
    }

    fn extensibility() -> Extensibility {
        Extensibility::Final
    }

    fn is_keyed() -> bool {
        KEYED
    }

    fn serialize(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        w.u32(self.seq);
        w.u32(self.key);
        w.seq_len(self.payload.len());
        w.bytes(&self.payload);
        Ok(())
    }

    fn deserialize(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let seq = r.u32()?;
        let key = r.u32()?;
        let n = r.seq_len(1)?;
        let payload = r.bytes(n)?.to_vec();
        Ok(PerfSample { seq, key, payload })
    }

    fn serialize_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        if KEYED {
            w.u32(self.key);
        }
        Ok(())
    }

    fn key_max_size(_version: XcdrVersion) -> Option<usize> {
        Some(if KEYED { 4 } else { 0 })
    }

    fn serialize_key_payload(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        // The KeyHolder of a final type: the key members only.
        self.serialize_key(w)
    }

    fn deserialize_key_payload(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let key = if KEYED { r.u32()? } else { 0 };
        Ok(PerfSample { key, ..PerfSample::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_proto::cdr::{decode_sample, encode_sample, key_hash};
    use starling_proto::qos::XCDR1;
    use starling_proto::wire::Endian;

    #[test]
    fn size_and_round_trip() {
        for size in [0, 12, 13, 1024, 65536] {
            let mut s = PerfKeyed::with_size(size);
            s.seq = 7;
            s.key = 3;
            assert_eq!(s.size(), size.max(FIXED_SIZE));
            let mut buf = Vec::new();
            encode_sample(&s, XCDR1, Endian::Little, &mut buf).expect("encode");
            // 4-byte encapsulation header, the body, padding to a multiple of 4.
            assert_eq!(buf.len(), 4 + s.size().div_ceil(4) * 4);
            assert_eq!(decode_sample::<PerfKeyed>(&buf).expect("decode"), s);
        }
    }

    #[test]
    fn key_hash_is_the_big_endian_key() {
        let s = PerfKeyed { seq: 1, key: 0x0102_0304, payload: Vec::new() };
        let h = key_hash(&s, XcdrVersion::V1);
        assert_eq!(&h.0[..4], &[1, 2, 3, 4]);
        assert!(h.0[4..].iter().all(|b| *b == 0));
        assert_eq!(key_hash(&PerfUnkeyed::default(), XcdrVersion::V1).0, [0; 16]);
    }
}
