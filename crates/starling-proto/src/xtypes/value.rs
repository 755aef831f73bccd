//! [`DynamicValue`]: a sample of a [`DynamicType`].

use super::types::{DynamicType, PrimitiveKind};

/// A value of a [`DynamicType`]. The type gives it meaning: a value does not carry member names.
#[derive(Clone, Debug, PartialEq)]
pub enum DynamicValue {
    /// `boolean`.
    Bool(bool),
    /// `octet` / `byte`.
    Byte(u8),
    /// `char` (one octet).
    Char8(u8),
    /// `wchar` (one UTF-16 code unit).
    Char16(u16),
    /// `int8`.
    Int8(i8),
    /// `uint8`.
    UInt8(u8),
    /// `int16`.
    Int16(i16),
    /// `uint16`.
    UInt16(u16),
    /// `int32`.
    Int32(i32),
    /// `uint32`.
    UInt32(u32),
    /// `int64`.
    Int64(i64),
    /// `uint64`.
    UInt64(u64),
    /// `float32`.
    Float32(f32),
    /// `float64`.
    Float64(f64),
    /// `float128`, as its raw IEEE 754 binary128 bits.
    Float128(u128),
    /// `string` / `string<N>`.
    String(String),
    /// `wstring` / `wstring<N>`.
    WString(String),
    /// An enumerator, by value.
    Enum(i32),
    /// A bitmask, as its bits.
    Bitmask(u64),
    /// A bitset, as its packed bits (see [`Bitfield::get`](super::Bitfield::get) for the fields).
    Bitset(u64),
    /// A `fixed<digits, scale>` value, as its unscaled integer (`12.34` in a `fixed<5, 2>` is 1234).
    Fixed(i128),
    /// A struct: one entry per member of [`StructType::all_members`](super::StructType::all_members), in
    /// that order; `None` is an absent `@optional` member.
    Struct(Vec<Option<DynamicValue>>),
    /// A union: the discriminator value and the selected branch (`None` when no branch is selected).
    Union {
        /// Discriminator (enums by value, booleans as 0/1, chars by code).
        discriminator: i64,
        /// The value of the selected branch.
        value: Option<Box<DynamicValue>>,
    },
    /// A sequence.
    Sequence(Vec<DynamicValue>),
    /// An array, all dimensions flattened in row-major order.
    Array(Vec<DynamicValue>),
    /// A map, as key/value pairs in wire order.
    Map(Vec<(DynamicValue, DynamicValue)>),
}

impl DynamicValue {
    /// The default value of a type: zero, false, empty, the default enumerator, absent optionals, and for a
    /// union the [default discriminator](super::UnionType::default_discriminator) with its branch's default.
    pub fn default_for(ty: &DynamicType) -> DynamicValue {
        match ty.resolve() {
            DynamicType::Primitive(p) => primitive_default(*p),
            DynamicType::String { .. } => DynamicValue::String(String::new()),
            DynamicType::WString { .. } => DynamicValue::WString(String::new()),
            DynamicType::Enum(e) => DynamicValue::Enum(e.default_value()),
            DynamicType::Bitmask(_) => DynamicValue::Bitmask(0),
            DynamicType::Bitset(_) => DynamicValue::Bitset(0),
            DynamicType::Fixed { .. } => DynamicValue::Fixed(0),
            DynamicType::Alias(_) => DynamicValue::Bool(false), // unreachable: resolved above
            DynamicType::Struct(s) => DynamicValue::Struct(
                s.all_members()
                    .into_iter()
                    .map(|m| if m.optional { None } else { Some(DynamicValue::default_for(&m.ty)) })
                    .collect(),
            ),
            DynamicType::Union(u) => {
                let discriminator = u.default_discriminator();
                let value = u.case_for(discriminator).map(|(_, c)| Box::new(DynamicValue::default_for(&c.ty)));
                DynamicValue::Union { discriminator, value }
            }
            DynamicType::Sequence(_) => DynamicValue::Sequence(Vec::new()),
            DynamicType::Array(a) => {
                let n = a.dims.iter().map(|d| *d as usize).product::<usize>();
                // Arrays are sized by their type, not by input; cap the eager fill to stay reasonable.
                let e = DynamicValue::default_for(&a.element);
                DynamicValue::Array(vec![e; n.min(1 << 20)])
            }
            DynamicType::Map(_) => DynamicValue::Map(Vec::new()),
        }
    }

    /// A short name of the value's variant, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            DynamicValue::Bool(_) => "boolean",
            DynamicValue::Byte(_) => "octet",
            DynamicValue::Char8(_) => "char",
            DynamicValue::Char16(_) => "wchar",
            DynamicValue::Int8(_) => "int8",
            DynamicValue::UInt8(_) => "uint8",
            DynamicValue::Int16(_) => "int16",
            DynamicValue::UInt16(_) => "uint16",
            DynamicValue::Int32(_) => "int32",
            DynamicValue::UInt32(_) => "uint32",
            DynamicValue::Int64(_) => "int64",
            DynamicValue::UInt64(_) => "uint64",
            DynamicValue::Float32(_) => "float32",
            DynamicValue::Float64(_) => "float64",
            DynamicValue::Float128(_) => "float128",
            DynamicValue::String(_) => "string",
            DynamicValue::WString(_) => "wstring",
            DynamicValue::Enum(_) => "enum",
            DynamicValue::Bitmask(_) => "bitmask",
            DynamicValue::Bitset(_) => "bitset",
            DynamicValue::Fixed(_) => "fixed",
            DynamicValue::Struct(_) => "struct",
            DynamicValue::Union { .. } => "union",
            DynamicValue::Sequence(_) => "sequence",
            DynamicValue::Array(_) => "array",
            DynamicValue::Map(_) => "map",
        }
    }

    /// An integer-like value (integers, chars, booleans, enums) as i64; used for union discriminators.
    pub fn as_discriminator(&self) -> Option<i64> {
        Some(match *self {
            DynamicValue::Bool(b) => i64::from(b),
            DynamicValue::Byte(v) | DynamicValue::UInt8(v) | DynamicValue::Char8(v) => i64::from(v),
            DynamicValue::Char16(v) | DynamicValue::UInt16(v) => i64::from(v),
            DynamicValue::Int8(v) => i64::from(v),
            DynamicValue::Int16(v) => i64::from(v),
            DynamicValue::Int32(v) | DynamicValue::Enum(v) => i64::from(v),
            DynamicValue::UInt32(v) => i64::from(v),
            DynamicValue::Int64(v) => v,
            DynamicValue::UInt64(v) => v as i64,
            _ => return None,
        })
    }
}

/// The zero value of a primitive.
pub(crate) fn primitive_default(p: PrimitiveKind) -> DynamicValue {
    use PrimitiveKind::*;
    match p {
        Bool => DynamicValue::Bool(false),
        Byte => DynamicValue::Byte(0),
        Char8 => DynamicValue::Char8(0),
        Char16 => DynamicValue::Char16(0),
        Int8 => DynamicValue::Int8(0),
        UInt8 => DynamicValue::UInt8(0),
        Int16 => DynamicValue::Int16(0),
        UInt16 => DynamicValue::UInt16(0),
        Int32 => DynamicValue::Int32(0),
        UInt32 => DynamicValue::UInt32(0),
        Int64 => DynamicValue::Int64(0),
        UInt64 => DynamicValue::UInt64(0),
        Float32 => DynamicValue::Float32(0.0),
        Float64 => DynamicValue::Float64(0.0),
        Float128 => DynamicValue::Float128(0),
    }
}
