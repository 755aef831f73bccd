//! Type support: how the DDS API encodes, decodes and hashes samples of a
//! topic's type. Compile-time types ([`TopicType`], hand-written or generated
//! from IDL) and run-time types ([`DynamicType`], from IDL parsed at run time
//! or learned through TypeLookup) both plug in here.

use starling_proto::cdr::{
    decode_key_payload, decode_sample, encode_key_payload, encode_sample, key_hash, CdrError, TopicType, XcdrVersion,
};
use starling_proto::wire::{Endian, KeyHash};
use starling_proto::xtypes::{self, DynamicError, DynamicType, DynamicValue};
use std::marker::PhantomData;

/// Why a sample could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// From a compile-time type's CDR codec.
    #[error(transparent)]
    Cdr(#[from] CdrError),
    /// From the dynamic-type codec.
    #[error(transparent)]
    Dynamic(#[from] DynamicError),
}

/// Encodes, decodes and hashes samples of type `T` for one topic type.
pub trait TypeSupport<T>: Send + Sync + 'static {
    /// The registered type name (fully scoped, e.g. `demo::Track`).
    fn type_name(&self) -> &str;
    /// Whether the type has key members.
    fn is_keyed(&self) -> bool;
    /// Appends the encapsulated sample.
    fn encode(&self, sample: &T, representation: i16, endian: Endian, out: &mut Vec<u8>) -> Result<(), CodecError>;
    /// Appends the encapsulated key payload (dispose/unregister).
    fn encode_key(&self, sample: &T, representation: i16, endian: Endian, out: &mut Vec<u8>) -> Result<(), CodecError>;
    /// Decodes an encapsulated sample.
    fn decode(&self, payload: &[u8]) -> Result<T, CodecError>;
    /// Decodes an encapsulated key payload into a key holder.
    fn decode_key(&self, payload: &[u8]) -> Result<T, CodecError>;
    /// The instance key hash in the given XCDR version.
    fn key_hash(&self, sample: &T, version: XcdrVersion) -> KeyHash;
    /// The type's XTypes description, if it has one.
    fn dynamic_type(&self) -> Option<DynamicType>;
    /// The sample itself as a value of [`dynamic_type`](Self::dynamic_type), when samples already are
    /// [`DynamicValue`]s (content filters then evaluate on it without decoding the payload again).
    fn as_dynamic<'a>(&self, _sample: &'a T) -> Option<&'a DynamicValue> {
        None
    }
}

/// Type support for a compile-time [`TopicType`].
pub struct StaticSupport<T>(PhantomData<fn() -> T>);

impl<T> Default for StaticSupport<T> {
    fn default() -> Self {
        StaticSupport(PhantomData)
    }
}

impl<T: TopicType> TypeSupport<T> for StaticSupport<T> {
    fn type_name(&self) -> &str {
        T::type_name()
    }
    fn is_keyed(&self) -> bool {
        T::is_keyed()
    }
    fn encode(&self, s: &T, representation: i16, endian: Endian, out: &mut Vec<u8>) -> Result<(), CodecError> {
        Ok(encode_sample(s, representation, endian, out)?)
    }
    fn encode_key(&self, s: &T, representation: i16, endian: Endian, out: &mut Vec<u8>) -> Result<(), CodecError> {
        Ok(encode_key_payload(s, representation, endian, out)?)
    }
    fn decode(&self, payload: &[u8]) -> Result<T, CodecError> {
        Ok(decode_sample::<T>(payload)?)
    }
    fn decode_key(&self, payload: &[u8]) -> Result<T, CodecError> {
        Ok(decode_key_payload::<T>(payload)?)
    }
    fn key_hash(&self, s: &T, version: XcdrVersion) -> KeyHash {
        key_hash(s, version)
    }
    fn dynamic_type(&self) -> Option<DynamicType> {
        T::dynamic_type()
    }
}

/// Type support for a run-time [`DynamicType`]; samples are [`DynamicValue`]s.
#[derive(Debug, Clone)]
pub struct DynamicSupport {
    ty: DynamicType,
    name: String,
    keyed: bool,
}

impl DynamicSupport {
    /// Support for `ty`, registered under its own name. Fails for a type that is
    /// not a named struct or union (topics need one).
    pub fn new(ty: DynamicType) -> Result<Self, DynamicError> {
        let name = ty.name().ok_or(DynamicError::Unsupported("a topic type must be a named struct or union".into()))?;
        let name = name.to_string();
        let keyed = has_key(&ty);
        Ok(DynamicSupport { ty, name, keyed })
    }

    /// The type.
    pub fn ty(&self) -> &DynamicType {
        &self.ty
    }
}

fn has_key(ty: &DynamicType) -> bool {
    fn struct_has_key(s: &xtypes::StructType) -> bool {
        s.members.iter().any(|m| m.key) || s.base.as_deref().is_some_and(struct_has_key)
    }
    match ty {
        DynamicType::Struct(s) => struct_has_key(s),
        DynamicType::Alias(a) => has_key(&a.target),
        _ => false,
    }
}

impl TypeSupport<DynamicValue> for DynamicSupport {
    fn type_name(&self) -> &str {
        &self.name
    }
    fn is_keyed(&self) -> bool {
        self.keyed
    }
    fn encode(
        &self,
        v: &DynamicValue,
        representation: i16,
        endian: Endian,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        Ok(xtypes::encode(&self.ty, v, representation, endian, out)?)
    }
    fn encode_key(
        &self,
        v: &DynamicValue,
        representation: i16,
        endian: Endian,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        Ok(xtypes::encode_key_payload(&self.ty, v, representation, endian, out)?)
    }
    fn decode(&self, payload: &[u8]) -> Result<DynamicValue, CodecError> {
        Ok(xtypes::decode(&self.ty, payload)?)
    }
    fn decode_key(&self, payload: &[u8]) -> Result<DynamicValue, CodecError> {
        Ok(xtypes::decode_key_payload(&self.ty, payload)?)
    }
    fn key_hash(&self, v: &DynamicValue, version: XcdrVersion) -> KeyHash {
        xtypes::key_hash(&self.ty, v, version).unwrap_or_default()
    }
    fn dynamic_type(&self) -> Option<DynamicType> {
        Some(self.ty.clone())
    }
    fn as_dynamic<'a>(&self, sample: &'a DynamicValue) -> Option<&'a DynamicValue> {
        Some(sample)
    }
}
