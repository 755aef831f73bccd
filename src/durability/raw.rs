//! Samples kept as their encapsulated CDR bytes: what the durability service reads, stores and writes again
//! without a compiled type. A [`DynamicType`] (learned through TypeLookup, built in, or restored from the
//! store) is needed only for the instance key hash and to change the representation when the service's writer
//! uses another one than the sample arrived in.

use crate::dds::{CodecError, DynamicSupport, TypeSupport};
use bytes::Bytes;
use starling_proto::cdr::{split_encapsulation, version_for_representation, XcdrVersion};
use starling_proto::wire::{Endian, KeyHash};
use starling_proto::xtypes::{DynamicError, DynamicType, DynamicValue};

/// An encapsulated sample (or key payload, for a dispose or unregister) as it travelled on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSample {
    /// The encapsulation header and the serialized data.
    pub payload: Bytes,
    /// True when `payload` holds only the key members (a key payload).
    pub key_only: bool,
}

/// [`TypeSupport`] for [`RawSample`]s of one type: the payload passes through unchanged when its XCDR version
/// is the one asked for, and is re-encoded through the dynamic type otherwise.
#[derive(Debug, Clone)]
pub struct RawSupport {
    inner: DynamicSupport,
    type_name: String,
}

impl RawSupport {
    /// Support for samples of `ty`, registered as `type_name` (the name the original writer used).
    pub fn new(ty: DynamicType, type_name: &str) -> Result<Self, DynamicError> {
        Ok(RawSupport { inner: DynamicSupport::new(ty)?, type_name: type_name.to_string() })
    }

    /// The type.
    pub fn ty(&self) -> &DynamicType {
        self.inner.ty()
    }

    fn value(&self, s: &RawSample) -> Result<DynamicValue, CodecError> {
        if s.key_only {
            self.inner.decode_key(&s.payload)
        } else {
            self.inner.decode(&s.payload)
        }
    }
}

fn version_of(payload: &[u8]) -> Option<XcdrVersion> {
    split_encapsulation(payload).ok().map(|(e, _, _)| e.version())
}

fn same_version(payload: &[u8], representation: i16) -> bool {
    match (version_of(payload), version_for_representation(representation)) {
        (Some(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl TypeSupport<RawSample> for RawSupport {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn is_keyed(&self) -> bool {
        self.inner.is_keyed()
    }

    fn encode(&self, s: &RawSample, representation: i16, endian: Endian, out: &mut Vec<u8>) -> Result<(), CodecError> {
        if !s.key_only && same_version(&s.payload, representation) {
            out.extend_from_slice(&s.payload);
            return Ok(());
        }
        let v = self.value(s)?;
        self.inner.encode(&v, representation, endian, out)
    }

    fn encode_key(
        &self,
        s: &RawSample,
        representation: i16,
        endian: Endian,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        if s.key_only && same_version(&s.payload, representation) {
            out.extend_from_slice(&s.payload);
            return Ok(());
        }
        let v = self.value(s)?;
        self.inner.encode_key(&v, representation, endian, out)
    }

    fn decode(&self, payload: &[u8]) -> Result<RawSample, CodecError> {
        // Decoded once to reject what the type cannot read (the key hash needs it anyway).
        self.inner.decode(payload)?;
        Ok(RawSample { payload: Bytes::copy_from_slice(payload), key_only: false })
    }

    fn decode_key(&self, payload: &[u8]) -> Result<RawSample, CodecError> {
        self.inner.decode_key(payload)?;
        Ok(RawSample { payload: Bytes::copy_from_slice(payload), key_only: true })
    }

    fn key_hash(&self, s: &RawSample, version: XcdrVersion) -> KeyHash {
        match self.value(s) {
            Ok(v) => self.inner.key_hash(&v, version),
            Err(_) => KeyHash::default(),
        }
    }

    fn dynamic_type(&self) -> Option<DynamicType> {
        self.inner.dynamic_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_proto::qos::{XCDR1, XCDR2};

    fn shape(color: &str) -> DynamicValue {
        let ty = crate::dynamic::shape_type();
        crate::dynamic::from_json(&ty, &serde_json::json!({"color": color, "x": 1, "y": 2, "shapesize": 3}))
            .expect("shape value")
    }

    #[test]
    fn passes_through_or_transcodes() {
        let ty = crate::dynamic::shape_type();
        let dynsup = DynamicSupport::new(ty.clone()).expect("support");
        let raw = RawSupport::new(ty, "ShapeType").expect("support");
        let mut v2 = Vec::new();
        dynsup.encode(&shape("RED"), XCDR2, Endian::Little, &mut v2).expect("encode");
        let s = raw.decode(&v2).expect("decode");
        let mut out = Vec::new();
        raw.encode(&s, XCDR2, Endian::Little, &mut out).expect("encode");
        assert_eq!(out, v2, "same representation: unchanged bytes");
        let mut out1 = Vec::new();
        raw.encode(&s, XCDR1, Endian::Little, &mut out1).expect("encode");
        assert_eq!(version_of(&out1), Some(XcdrVersion::V1));
        assert_eq!(dynsup.decode(&out1).expect("decode"), shape("RED"));
        assert_eq!(raw.key_hash(&s, XcdrVersion::V2), dynsup.key_hash(&shape("RED"), XcdrVersion::V2));
        let mut k = Vec::new();
        raw.encode_key(&s, XCDR2, Endian::Little, &mut k).expect("key");
        let key = raw.decode_key(&k).expect("decode key");
        assert!(key.key_only);
        assert_eq!(raw.key_hash(&key, XcdrVersion::V2), raw.key_hash(&s, XcdrVersion::V2));
        assert!(raw.decode(&[0, 7, 0, 0, 1]).is_err(), "garbage is rejected");
    }
}
