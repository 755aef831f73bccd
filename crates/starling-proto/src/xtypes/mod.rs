//! XTypes 1.3 dynamic types: a runtime type model, a value codec, TypeObjects and TypeLookup messages.
//!
//! - [`DynamicType`] and its builders ([`StructType`], [`UnionType`], [`EnumType`], ...): types described
//!   at run time, for example from IDL or from a peer's TypeObject.
//! - [`DynamicValue`] and [`codec`]: samples of such types in XCDR1/XCDR2, key payloads and key hashes.
//! - [`typeobject`]: MINIMAL and COMPLETE TypeObjects, their equivalence hashes, TypeInformation.
//! - [`typelookup`]: the TypeLookup service's getTypes / getTypeDependencies messages.
//! - [`assignable`]: whether data of one type can be read as another (XTypes §7.2.4, a subset).

pub mod assignable;
pub mod codec;
pub mod error;
pub mod typelookup;
pub mod typeobject;
pub mod types;
pub mod value;

pub use assignable::{is_assignable, is_assignable_with, TypeConsistency};
pub use codec::{
    decode, decode_key_payload, decode_projected, encode, encode_key_payload, key_hash, key_max_size, Projection,
};
pub use error::DynamicError;
pub use types::{
    member_hash_id, name_hash, AliasType, ArrayType, AutoId, BitFlag, Bitfield, BitmaskType, BitsetType, DynamicType,
    EnumLiteral, EnumType, Extensibility, MapType, PrimitiveKind, SequenceType, StructMember, StructType, UnionCase,
    UnionType, AUTO_ID,
};
pub use value::DynamicValue;

#[cfg(test)]
mod tests;
