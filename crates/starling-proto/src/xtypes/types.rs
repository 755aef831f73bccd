//! The [`DynamicType`] model: a runtime description of an IDL type.

use md5::{Digest, Md5};

pub use crate::cdr::Extensibility;

/// A primitive (basic) type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PrimitiveKind {
    /// `boolean` (one octet, 0 or 1).
    Bool,
    /// `octet` / `byte`.
    Byte,
    /// `char` (one octet).
    Char8,
    /// `wchar` (one UTF-16 code unit).
    Char16,
    /// `int8`.
    Int8,
    /// `uint8`.
    UInt8,
    /// `short` / `int16`.
    Int16,
    /// `unsigned short` / `uint16`.
    UInt16,
    /// `long` / `int32`.
    Int32,
    /// `unsigned long` / `uint32`.
    UInt32,
    /// `long long` / `int64`.
    Int64,
    /// `unsigned long long` / `uint64`.
    UInt64,
    /// `float`.
    Float32,
    /// `double`.
    Float64,
    /// `long double` (16 octets, kept as raw bits).
    Float128,
}

impl PrimitiveKind {
    /// Encoded size in octets.
    pub fn size(self) -> usize {
        use PrimitiveKind::*;
        match self {
            Bool | Byte | Char8 | Int8 | UInt8 => 1,
            Char16 | Int16 | UInt16 => 2,
            Int32 | UInt32 | Float32 => 4,
            Int64 | UInt64 | Float64 => 8,
            Float128 => 16,
        }
    }

    /// The XTypes TypeKind octet (facts §8.1).
    pub fn type_kind(self) -> u8 {
        use PrimitiveKind::*;
        match self {
            Bool => 0x01,
            Byte => 0x02,
            Int16 => 0x03,
            Int32 => 0x04,
            Int64 => 0x05,
            UInt16 => 0x06,
            UInt32 => 0x07,
            UInt64 => 0x08,
            Float32 => 0x09,
            Float64 => 0x0a,
            Float128 => 0x0b,
            Int8 => 0x0c,
            UInt8 => 0x0d,
            Char8 => 0x10,
            Char16 => 0x11,
        }
    }

    /// The primitive for a TypeKind octet, if it names one.
    pub fn from_type_kind(kind: u8) -> Option<Self> {
        use PrimitiveKind::*;
        Some(match kind {
            0x01 => Bool,
            0x02 => Byte,
            0x03 => Int16,
            0x04 => Int32,
            0x05 => Int64,
            0x06 => UInt16,
            0x07 => UInt32,
            0x08 => UInt64,
            0x09 => Float32,
            0x0a => Float64,
            0x0b => Float128,
            0x0c => Int8,
            0x0d => UInt8,
            0x10 => Char8,
            0x11 => Char16,
            _ => return None,
        })
    }

    /// The IDL spelling, used in error messages.
    pub fn idl_name(self) -> &'static str {
        use PrimitiveKind::*;
        match self {
            Bool => "boolean",
            Byte => "octet",
            Char8 => "char",
            Char16 => "wchar",
            Int8 => "int8",
            UInt8 => "uint8",
            Int16 => "int16",
            UInt16 => "uint16",
            Int32 => "int32",
            UInt32 => "uint32",
            Int64 => "int64",
            UInt64 => "uint64",
            Float32 => "float32",
            Float64 => "float64",
            Float128 => "float128",
        }
    }
}

/// How member ids are assigned when not given explicitly (`@autoid`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum AutoId {
    /// `@autoid(SEQUENTIAL)` (the default): the previous member's id plus one, starting at 0.
    #[default]
    Sequential,
    /// `@autoid(HASH)`: [`member_hash_id`] of the member name.
    Hash,
}

/// The member id `@hashid` / `@autoid(HASH)` gives a name: the first 4 bytes of MD5(name) read little-endian,
/// masked to 28 bits (facts §8.4).
pub fn member_hash_id(name: &str) -> u32 {
    let d = Md5::digest(name.as_bytes());
    u32::from_le_bytes([d[0], d[1], d[2], d[3]]) & 0x0fff_ffff
}

/// The 4-byte NameHash of minimal TypeObjects: the first 4 bytes of MD5(name).
pub fn name_hash(name: &str) -> [u8; 4] {
    let d = Md5::digest(name.as_bytes());
    [d[0], d[1], d[2], d[3]]
}

/// Marker for a member id that [`StructType::with_member`] or [`UnionType::with_case`] assigns.
pub const AUTO_ID: u32 = u32::MAX;

/// A runtime description of an IDL type.
#[derive(Clone, Debug, PartialEq)]
pub enum DynamicType {
    /// A primitive.
    Primitive(PrimitiveKind),
    /// `string<bound>`; bound 0 means unbounded.
    String {
        /// Maximum length in bytes (0 = unbounded).
        bound: u32,
    },
    /// `wstring<bound>`; bound 0 means unbounded.
    WString {
        /// Maximum length in UTF-16 code units (0 = unbounded).
        bound: u32,
    },
    /// An enumeration.
    Enum(EnumType),
    /// A bitmask.
    Bitmask(BitmaskType),
    /// A bitset (named bit fields packed into one integer).
    Bitset(BitsetType),
    /// IDL `fixed<digits, scale>`: a decimal encoded as packed BCD (see [`crate::cdr::fixed`]). XTypes 1.3
    /// defines no TypeKind for it, so a type holding one has no TypeObject.
    Fixed {
        /// Total digits (1..=31).
        digits: u8,
        /// Digits after the decimal point (at most `digits`).
        scale: u8,
    },
    /// A typedef.
    Alias(AliasType),
    /// A structure.
    Struct(StructType),
    /// A discriminated union.
    Union(UnionType),
    /// `sequence<T, bound>`.
    Sequence(SequenceType),
    /// `T name[d0][d1]...`.
    Array(ArrayType),
    /// `map<K, V, bound>`.
    Map(MapType),
}

/// An enumeration type.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumType {
    /// Fully scoped name (`M::Color`).
    pub name: String,
    /// `@bit_bound` (1..=32; default 32). Selects the encoded size in XCDR2.
    pub bit_bound: u16,
    /// Extensibility (enums are final unless annotated).
    pub extensibility: Extensibility,
    /// The enumerators in declaration order.
    pub literals: Vec<EnumLiteral>,
}

/// One enumerator.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumLiteral {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: i32,
    /// `@default_literal` (the first literal when none is marked).
    pub default: bool,
}

/// A bitmask type.
#[derive(Clone, Debug, PartialEq)]
pub struct BitmaskType {
    /// Fully scoped name.
    pub name: String,
    /// `@bit_bound` (1..=64; default 32).
    pub bit_bound: u16,
    /// The flags in declaration order.
    pub flags: Vec<BitFlag>,
}

/// One bit of a bitmask.
#[derive(Clone, Debug, PartialEq)]
pub struct BitFlag {
    /// Its name.
    pub name: String,
    /// Bit position.
    pub position: u16,
}

/// A bitset type: named bit fields packed into one unsigned integer, the smallest of 8, 16, 32 or 64 bits
/// that holds [`bit_bound`](Self::bit_bound) bits.
#[derive(Clone, Debug, PartialEq)]
pub struct BitsetType {
    /// Fully scoped name.
    pub name: String,
    /// Total width in bits (1..=64), anonymous padding fields included; it selects the encoded size. A bitset
    /// learned from a TypeObject (which lists named fields only) ends at its last field.
    pub bit_bound: u16,
    /// The named fields in declaration order (inherited ones first).
    pub fields: Vec<Bitfield>,
}

/// One named field of a bitset.
#[derive(Clone, Debug, PartialEq)]
pub struct Bitfield {
    /// Its name.
    pub name: String,
    /// Offset of its least significant bit.
    pub position: u16,
    /// Width in bits (1..=64).
    pub bitcount: u8,
    /// The type the field's value is exposed as: boolean, octet or an integer type (signed types are
    /// sign-extended from `bitcount` bits).
    pub holder: PrimitiveKind,
}

impl Bitfield {
    /// The field's bits of a packed bitset value, as an unsigned number.
    pub fn get_raw(&self, bits: u64) -> u64 {
        let v = bits >> self.position.min(63);
        if self.bitcount >= 64 {
            v
        } else {
            v & ((1u64 << self.bitcount) - 1)
        }
    }

    /// The field's value sign-extended when its holder type is signed.
    pub fn get(&self, bits: u64) -> i128 {
        let raw = self.get_raw(bits);
        let signed = matches!(
            self.holder,
            PrimitiveKind::Int8 | PrimitiveKind::Int16 | PrimitiveKind::Int32 | PrimitiveKind::Int64
        );
        if signed && self.bitcount > 0 && self.bitcount < 64 && raw >> (self.bitcount - 1) & 1 == 1 {
            i128::from(raw) - (1i128 << self.bitcount)
        } else if signed && self.bitcount >= 64 {
            i128::from(raw as i64)
        } else {
            i128::from(raw)
        }
    }

    /// The range of values the field holds: `[min, max]`.
    pub fn range(&self) -> (i128, i128) {
        let n = u32::from(self.bitcount.clamp(1, 64));
        match self.holder {
            PrimitiveKind::Int8 | PrimitiveKind::Int16 | PrimitiveKind::Int32 | PrimitiveKind::Int64 => {
                (-(1i128 << (n - 1)), (1i128 << (n - 1)) - 1)
            }
            _ => (0, (1i128 << n) - 1),
        }
    }

    /// `bits` with this field set to `value` (which must be within [`range`](Self::range)).
    pub fn set(&self, bits: u64, value: i128) -> u64 {
        let mask = if self.bitcount >= 64 { u64::MAX } else { (1u64 << self.bitcount) - 1 };
        let pos = u32::from(self.position.min(63));
        (bits & !(mask << pos)) | (((value as u64) & mask) << pos)
    }
}

impl BitsetType {
    /// An empty bitset.
    pub fn new(name: impl Into<String>) -> Self {
        BitsetType { name: name.into(), bit_bound: 0, fields: Vec::new() }
    }

    /// Adds a field at `position`; the bit bound grows to cover it.
    pub fn field(mut self, name: impl Into<String>, position: u16, bitcount: u8, holder: PrimitiveKind) -> Self {
        self.bit_bound = self.bit_bound.max(position + u16::from(bitcount));
        self.fields.push(Bitfield { name: name.into(), position, bitcount, holder });
        self
    }

    /// Sets the total width (to cover trailing padding).
    pub fn bit_bound(mut self, bits: u16) -> Self {
        self.bit_bound = bits;
        self
    }

    /// The field with this name.
    pub fn by_name(&self, name: &str) -> Option<&Bitfield> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Finishes the builder.
    pub fn build(self) -> DynamicType {
        DynamicType::Bitset(self)
    }
}

/// A typedef.
#[derive(Clone, Debug, PartialEq)]
pub struct AliasType {
    /// Fully scoped name.
    pub name: String,
    /// The aliased type.
    pub target: Box<DynamicType>,
}

/// A structure type.
#[derive(Clone, Debug, PartialEq)]
pub struct StructType {
    /// Fully scoped name.
    pub name: String,
    /// Extensibility kind.
    pub extensibility: Extensibility,
    /// How ids were assigned to members added without one.
    pub autoid: AutoId,
    /// `@nested`.
    pub nested: bool,
    /// The base struct, if this struct inherits.
    pub base: Option<Box<StructType>>,
    /// The members declared by this struct (not the base's), in declaration order.
    pub members: Vec<StructMember>,
}

/// A structure member.
#[derive(Clone, Debug, PartialEq)]
pub struct StructMember {
    /// Member id ([`AUTO_ID`] until added to a struct).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Type.
    pub ty: DynamicType,
    /// `@key`.
    pub key: bool,
    /// `@optional`.
    pub optional: bool,
    /// `@must_understand`.
    pub must_understand: bool,
    /// `@external`.
    pub external: bool,
}

/// A union type.
#[derive(Clone, Debug, PartialEq)]
pub struct UnionType {
    /// Fully scoped name.
    pub name: String,
    /// Extensibility kind.
    pub extensibility: Extensibility,
    /// How ids were assigned to cases added without one.
    pub autoid: AutoId,
    /// `@nested`.
    pub nested: bool,
    /// The discriminator type: an integer, char, boolean or enum type (or an alias of one).
    pub discriminator: Box<DynamicType>,
    /// The cases in declaration order.
    pub cases: Vec<UnionCase>,
}

/// One union branch.
#[derive(Clone, Debug, PartialEq)]
pub struct UnionCase {
    /// Member id ([`AUTO_ID`] until added to a union).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Type.
    pub ty: DynamicType,
    /// Case labels (discriminator values; enum labels by value, booleans as 0/1, chars by code).
    pub labels: Vec<i64>,
    /// True for the `default:` branch.
    pub is_default: bool,
    /// `@external`.
    pub external: bool,
}

/// A sequence type.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceType {
    /// Element type.
    pub element: Box<DynamicType>,
    /// Maximum length (0 = unbounded).
    pub bound: u32,
}

/// An array type.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrayType {
    /// Element type.
    pub element: Box<DynamicType>,
    /// Dimensions, outermost first.
    pub dims: Vec<u32>,
}

/// A map type.
#[derive(Clone, Debug, PartialEq)]
pub struct MapType {
    /// Key type.
    pub key: Box<DynamicType>,
    /// Value type.
    pub value: Box<DynamicType>,
    /// Maximum number of entries (0 = unbounded).
    pub bound: u32,
}

impl DynamicType {
    /// A primitive type.
    pub fn primitive(kind: PrimitiveKind) -> Self {
        DynamicType::Primitive(kind)
    }
    /// `boolean`.
    pub fn bool() -> Self {
        DynamicType::Primitive(PrimitiveKind::Bool)
    }
    /// `int32`.
    pub fn int32() -> Self {
        DynamicType::Primitive(PrimitiveKind::Int32)
    }
    /// `int64`.
    pub fn int64() -> Self {
        DynamicType::Primitive(PrimitiveKind::Int64)
    }
    /// `float64`.
    pub fn float64() -> Self {
        DynamicType::Primitive(PrimitiveKind::Float64)
    }
    /// `uint8`.
    pub fn uint8() -> Self {
        DynamicType::Primitive(PrimitiveKind::UInt8)
    }
    /// `string<bound>` (0 = unbounded).
    pub fn string(bound: u32) -> Self {
        DynamicType::String { bound }
    }
    /// `wstring<bound>` (0 = unbounded).
    pub fn wstring(bound: u32) -> Self {
        DynamicType::WString { bound }
    }
    /// `sequence<element, bound>` (0 = unbounded).
    pub fn sequence(element: DynamicType, bound: u32) -> Self {
        DynamicType::Sequence(SequenceType { element: Box::new(element), bound })
    }
    /// An array with the given dimensions (outermost first).
    pub fn array(element: DynamicType, dims: &[u32]) -> Self {
        DynamicType::Array(ArrayType { element: Box::new(element), dims: dims.to_vec() })
    }
    /// `map<key, value, bound>` (0 = unbounded).
    pub fn map(key: DynamicType, value: DynamicType, bound: u32) -> Self {
        DynamicType::Map(MapType { key: Box::new(key), value: Box::new(value), bound })
    }
    /// `fixed<digits, scale>`.
    pub fn fixed(digits: u8, scale: u8) -> Self {
        DynamicType::Fixed { digits, scale }
    }
    /// `typedef target name;`.
    pub fn alias(name: impl Into<String>, target: DynamicType) -> Self {
        DynamicType::Alias(AliasType { name: name.into(), target: Box::new(target) })
    }

    /// The type behind any aliases.
    pub fn resolve(&self) -> &DynamicType {
        let mut t = self;
        while let DynamicType::Alias(a) = t {
            t = &a.target;
        }
        t
    }

    /// The fully scoped name of a named type (enum, bitmask, bitset, alias, struct, union).
    pub fn name(&self) -> Option<&str> {
        match self {
            DynamicType::Enum(e) => Some(&e.name),
            DynamicType::Bitmask(b) => Some(&b.name),
            DynamicType::Bitset(b) => Some(&b.name),
            DynamicType::Alias(a) => Some(&a.name),
            DynamicType::Struct(s) => Some(&s.name),
            DynamicType::Union(u) => Some(&u.name),
            _ => None,
        }
    }

    /// The extensibility used for the encapsulation of a top-level value of this type.
    pub fn extensibility(&self) -> Extensibility {
        match self.resolve() {
            DynamicType::Struct(s) => s.extensibility,
            DynamicType::Union(u) => u.extensibility,
            _ => Extensibility::Final,
        }
    }

    /// True for primitives, enums and bitmasks (after aliases): element types whose collections have no DHEADER.
    pub fn is_primitive_like(&self) -> bool {
        matches!(self.resolve(), DynamicType::Primitive(_) | DynamicType::Enum(_) | DynamicType::Bitmask(_))
    }

    /// True if this is a struct with at least one key member (including inherited ones).
    pub fn is_keyed(&self) -> bool {
        match self.resolve() {
            DynamicType::Struct(s) => s.all_members().iter().any(|m| m.key),
            _ => false,
        }
    }

    /// A short description of the type for error messages (`int32`, `string<8>`, `struct M::Inner`).
    pub fn describe(&self) -> String {
        match self {
            DynamicType::Primitive(p) => p.idl_name().to_string(),
            DynamicType::String { bound: 0 } => "string".into(),
            DynamicType::String { bound } => format!("string<{bound}>"),
            DynamicType::WString { bound: 0 } => "wstring".into(),
            DynamicType::WString { bound } => format!("wstring<{bound}>"),
            DynamicType::Enum(e) => format!("enum {}", e.name),
            DynamicType::Bitmask(b) => format!("bitmask {}", b.name),
            DynamicType::Bitset(b) => format!("bitset {}", b.name),
            DynamicType::Fixed { digits, scale } => format!("fixed<{digits}, {scale}>"),
            DynamicType::Alias(a) => a.name.clone(),
            DynamicType::Struct(s) => format!("struct {}", s.name),
            DynamicType::Union(u) => format!("union {}", u.name),
            DynamicType::Sequence(_) => "sequence".into(),
            DynamicType::Array(_) => "array".into(),
            DynamicType::Map(_) => "map".into(),
        }
    }
}

impl EnumType {
    /// An empty enumeration with bit bound 32.
    pub fn new(name: impl Into<String>) -> Self {
        EnumType { name: name.into(), bit_bound: 32, extensibility: Extensibility::Final, literals: Vec::new() }
    }

    /// Adds an enumerator with the next value (previous + 1, starting at 0).
    pub fn literal(self, name: impl Into<String>) -> Self {
        let value = self.literals.last().map_or(0, |l| l.value.wrapping_add(1));
        self.literal_value(name, value)
    }

    /// Adds an enumerator with an explicit value (`@value`).
    pub fn literal_value(mut self, name: impl Into<String>, value: i32) -> Self {
        let default = self.literals.is_empty();
        self.literals.push(EnumLiteral { name: name.into(), value, default });
        self
    }

    /// Sets `@bit_bound`.
    pub fn bit_bound(mut self, bits: u16) -> Self {
        self.bit_bound = bits;
        self
    }

    /// The value of the default literal.
    pub fn default_value(&self) -> i32 {
        self.literals.iter().find(|l| l.default).or(self.literals.first()).map_or(0, |l| l.value)
    }

    /// The literal with this value.
    pub fn by_value(&self, value: i32) -> Option<&EnumLiteral> {
        self.literals.iter().find(|l| l.value == value)
    }

    /// The literal with this name.
    pub fn by_name(&self, name: &str) -> Option<&EnumLiteral> {
        self.literals.iter().find(|l| l.name == name)
    }

    /// Finishes the builder.
    pub fn build(self) -> DynamicType {
        DynamicType::Enum(self)
    }
}

impl BitmaskType {
    /// An empty bitmask with bit bound 32.
    pub fn new(name: impl Into<String>) -> Self {
        BitmaskType { name: name.into(), bit_bound: 32, flags: Vec::new() }
    }

    /// Adds a flag at the next position (previous + 1, starting at 0).
    pub fn flag(self, name: impl Into<String>) -> Self {
        let position = self.flags.last().map_or(0, |f| f.position.saturating_add(1));
        self.flag_at(name, position)
    }

    /// Adds a flag at an explicit position (`@position`).
    pub fn flag_at(mut self, name: impl Into<String>, position: u16) -> Self {
        self.flags.push(BitFlag { name: name.into(), position });
        self
    }

    /// Sets `@bit_bound`.
    pub fn bit_bound(mut self, bits: u16) -> Self {
        self.bit_bound = bits;
        self
    }

    /// Finishes the builder.
    pub fn build(self) -> DynamicType {
        DynamicType::Bitmask(self)
    }
}

impl StructMember {
    /// A plain member with an id to be assigned when it is added.
    pub fn new(name: impl Into<String>, ty: DynamicType) -> Self {
        StructMember {
            id: AUTO_ID,
            name: name.into(),
            ty,
            key: false,
            optional: false,
            must_understand: false,
            external: false,
        }
    }
    /// Marks it `@key`.
    pub fn key(mut self) -> Self {
        self.key = true;
        self
    }
    /// Marks it `@optional`.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    /// Marks it `@must_understand`.
    pub fn must_understand(mut self) -> Self {
        self.must_understand = true;
        self
    }
    /// Marks it `@external`.
    pub fn external(mut self) -> Self {
        self.external = true;
        self
    }
    /// Gives it an explicit id (`@id`), or `@hashid` with [`member_hash_id`].
    pub fn id(mut self, id: u32) -> Self {
        self.id = id & 0x0fff_ffff;
        self
    }
}

impl StructType {
    /// An empty struct.
    pub fn new(name: impl Into<String>, extensibility: Extensibility) -> Self {
        StructType {
            name: name.into(),
            extensibility,
            autoid: AutoId::Sequential,
            nested: false,
            base: None,
            members: Vec::new(),
        }
    }

    /// Sets `@autoid`; affects members added afterwards.
    pub fn autoid(mut self, autoid: AutoId) -> Self {
        self.autoid = autoid;
        self
    }

    /// Sets `@nested`.
    pub fn nested(mut self, nested: bool) -> Self {
        self.nested = nested;
        self
    }

    /// Sets the base struct (inheritance). Call before adding members so sequential ids continue after it.
    pub fn base(mut self, base: StructType) -> Self {
        self.base = Some(Box::new(base));
        self
    }

    /// Adds a member, assigning its id if it has none.
    pub fn with_member(mut self, mut member: StructMember) -> Self {
        if member.id == AUTO_ID {
            member.id = match self.autoid {
                AutoId::Hash => member_hash_id(&member.name),
                AutoId::Sequential => {
                    let all = self.all_members();
                    all.last().map_or(0, |m| m.id.wrapping_add(1) & 0x0fff_ffff)
                }
            };
        }
        self.members.push(member);
        self
    }

    /// Adds a plain member.
    pub fn member(self, name: impl Into<String>, ty: DynamicType) -> Self {
        self.with_member(StructMember::new(name, ty))
    }

    /// Adds a `@key` member.
    pub fn key_member(self, name: impl Into<String>, ty: DynamicType) -> Self {
        self.with_member(StructMember::new(name, ty).key())
    }

    /// Adds an `@optional` member.
    pub fn optional_member(self, name: impl Into<String>, ty: DynamicType) -> Self {
        self.with_member(StructMember::new(name, ty).optional())
    }

    /// All members, the base's first (inheritance flattened), in declaration order.
    pub fn all_members(&self) -> Vec<&StructMember> {
        let mut out = match &self.base {
            Some(b) => b.all_members(),
            None => Vec::new(),
        };
        out.extend(self.members.iter());
        out
    }

    /// Finishes the builder.
    pub fn build(self) -> DynamicType {
        DynamicType::Struct(self)
    }
}

impl UnionType {
    /// An empty union with the given discriminator type.
    pub fn new(name: impl Into<String>, extensibility: Extensibility, discriminator: DynamicType) -> Self {
        UnionType {
            name: name.into(),
            extensibility,
            autoid: AutoId::Sequential,
            nested: false,
            discriminator: Box::new(discriminator),
            cases: Vec::new(),
        }
    }

    /// Adds a case, assigning its id (sequential from 0, or hashed) if it has none.
    pub fn with_case(mut self, mut case: UnionCase) -> Self {
        if case.id == AUTO_ID {
            case.id = match self.autoid {
                AutoId::Hash => member_hash_id(&case.name),
                AutoId::Sequential => self.cases.last().map_or(0, |c| c.id.wrapping_add(1) & 0x0fff_ffff),
            };
        }
        self.cases.push(case);
        self
    }

    /// Adds `case l0: case l1: ... ty name;`.
    pub fn case(self, name: impl Into<String>, ty: DynamicType, labels: &[i64]) -> Self {
        self.with_case(UnionCase {
            id: AUTO_ID,
            name: name.into(),
            ty,
            labels: labels.to_vec(),
            is_default: false,
            external: false,
        })
    }

    /// Adds the `default:` branch (optionally with labels of its own).
    pub fn default_case(self, name: impl Into<String>, ty: DynamicType, labels: &[i64]) -> Self {
        self.with_case(UnionCase {
            id: AUTO_ID,
            name: name.into(),
            ty,
            labels: labels.to_vec(),
            is_default: true,
            external: false,
        })
    }

    /// The case selected by a discriminator value: the one listing it, else the default branch.
    pub fn case_for(&self, discriminator: i64) -> Option<(usize, &UnionCase)> {
        self.cases
            .iter()
            .enumerate()
            .find(|(_, c)| c.labels.contains(&discriminator))
            .or_else(|| self.cases.iter().enumerate().find(|(_, c)| c.is_default))
    }

    /// The discriminator value a default-constructed union uses: the first label of the first case, or
    /// for a union with only a default branch, a value no case lists.
    pub fn default_discriminator(&self) -> i64 {
        if let Some(l) = self.cases.iter().flat_map(|c| c.labels.iter()).next() {
            return *l;
        }
        0
    }

    /// Finishes the builder.
    pub fn build(self) -> DynamicType {
        DynamicType::Union(self)
    }
}
