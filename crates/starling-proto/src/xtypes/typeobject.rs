//! TypeObjects, TypeIdentifiers and TypeInformation (XTypes 1.3 §7.3.4, facts §8).
//!
//! [`TypeObject`]s are built from a [`DynamicType`] and kept in their serialized form (XCDR2, normally
//! little-endian, which is what the equivalence hash covers). The layout follows the XTypes type-object IDL as
//! Cyclone DDS compiles it, including its extensibility choices (for example `CommonEnumeratedLiteral` and
//! the bitmask types are appendable), and the flag values Cyclone sets (`TRY_CONSTRUCT1` on every member,
//! `TRY_CONSTRUCT1 | MUST_UNDERSTAND` on union discriminators, the extensibility bit on enums, `EK_BOTH` in
//! plain collections of fully descriptive elements). The tests check hashes and bytes against Cyclone DDS
//! 11.0.1's Python type builder and against a real Cyclone SEDP capture.

use md5::{Digest, Md5};

use super::error::DynamicError;
use super::types::{
    name_hash, AutoId, BitmaskType, BitsetType, DynamicType, EnumType, Extensibility, PrimitiveKind, StructMember,
    StructType, UnionType,
};
use crate::cdr::{CdrError, CdrReader, CdrWriter, XcdrVersion};
use crate::wire::Endian;

/// EquivalenceKind of minimal TypeObjects / hash TypeIdentifiers.
pub const EK_MINIMAL: u8 = 0xf1;
/// EquivalenceKind of complete TypeObjects / hash TypeIdentifiers.
pub const EK_COMPLETE: u8 = 0xf2;
/// EquivalenceKind for plain collections whose element needs no hash.
pub const EK_BOTH: u8 = 0xf3;

const TI_STRING8_SMALL: u8 = 0x70;
const TI_STRING8_LARGE: u8 = 0x71;
const TI_STRING16_SMALL: u8 = 0x72;
const TI_STRING16_LARGE: u8 = 0x73;
const TI_PLAIN_SEQUENCE_SMALL: u8 = 0x80;
const TI_PLAIN_SEQUENCE_LARGE: u8 = 0x81;
const TI_PLAIN_ARRAY_SMALL: u8 = 0x90;
const TI_PLAIN_ARRAY_LARGE: u8 = 0x91;
const TI_PLAIN_MAP_SMALL: u8 = 0xa0;
const TI_PLAIN_MAP_LARGE: u8 = 0xa1;
const TK_NONE: u8 = 0x00;
const TK_ALIAS: u8 = 0x30;
const TK_ENUM: u8 = 0x40;
const TK_BITMASK: u8 = 0x41;
const TK_STRUCTURE: u8 = 0x51;
const TK_UNION: u8 = 0x52;
const TK_BITSET: u8 = 0x53;
const TK_SEQUENCE: u8 = 0x60;
const TK_ARRAY: u8 = 0x61;
const TK_MAP: u8 = 0x62;

/// Member flag TRY_CONSTRUCT1 (DISCARD).
pub const MEMBER_TRY_CONSTRUCT1: u16 = 1 << 0;
/// Member flag EXTERNAL.
pub const MEMBER_EXTERNAL: u16 = 1 << 2;
/// Member flag OPTIONAL.
pub const MEMBER_OPTIONAL: u16 = 1 << 3;
/// Member flag MUST_UNDERSTAND.
pub const MEMBER_MUST_UNDERSTAND: u16 = 1 << 4;
/// Member flag KEY.
pub const MEMBER_KEY: u16 = 1 << 5;
/// Member flag DEFAULT (union default branch, default enumerator).
pub const MEMBER_DEFAULT: u16 = 1 << 6;
/// Type flag FINAL.
pub const TYPE_FINAL: u16 = 1 << 0;
/// Type flag APPENDABLE.
pub const TYPE_APPENDABLE: u16 = 1 << 1;
/// Type flag MUTABLE.
pub const TYPE_MUTABLE: u16 = 1 << 2;
/// Type flag NESTED.
pub const TYPE_NESTED: u16 = 1 << 3;
/// Type flag AUTOID_HASH.
pub const TYPE_AUTOID_HASH: u16 = 1 << 4;

/// Maximum nesting of TypeIdentifiers and TypeObjects the decoder accepts.
const MAX_DEPTH: usize = 32;

/// Which of the two TypeObject representations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EquivalenceKind {
    /// MINIMAL: names replaced by hashes; what assignability uses.
    Minimal,
    /// COMPLETE: names and annotations kept.
    Complete,
}

impl EquivalenceKind {
    /// The EK_* octet.
    pub fn octet(self) -> u8 {
        match self {
            EquivalenceKind::Minimal => EK_MINIMAL,
            EquivalenceKind::Complete => EK_COMPLETE,
        }
    }
}

/// The header of a plain collection TypeIdentifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PlainCollectionHeader {
    /// EK_MINIMAL, EK_COMPLETE, or EK_BOTH when the element needs no hash.
    pub equiv_kind: u8,
    /// Member flags of the elements.
    pub element_flags: u16,
}

/// A TypeIdentifier.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum TypeIdentifier {
    /// TK_NONE (for example "no base type").
    None,
    /// A primitive.
    Primitive(PrimitiveKind),
    /// `string<bound>` (0 = unbounded); SMALL form when the bound is below 256.
    String8 {
        /// Bound.
        bound: u32,
    },
    /// `wstring<bound>` (0 = unbounded).
    String16 {
        /// Bound.
        bound: u32,
    },
    /// A plain sequence.
    PlainSequence {
        /// Collection header.
        header: PlainCollectionHeader,
        /// Bound (0 = unbounded).
        bound: u32,
        /// Element type.
        element: Box<TypeIdentifier>,
    },
    /// A plain array.
    PlainArray {
        /// Collection header.
        header: PlainCollectionHeader,
        /// Dimensions.
        dims: Vec<u32>,
        /// Element type.
        element: Box<TypeIdentifier>,
    },
    /// A plain map.
    PlainMap {
        /// Collection header.
        header: PlainCollectionHeader,
        /// Bound (0 = unbounded).
        bound: u32,
        /// Value type.
        element: Box<TypeIdentifier>,
        /// Member flags of the keys.
        key_flags: u16,
        /// Key type.
        key: Box<TypeIdentifier>,
    },
    /// EK_MINIMAL + the 14-byte equivalence hash.
    Minimal([u8; 14]),
    /// EK_COMPLETE + the 14-byte equivalence hash.
    Complete([u8; 14]),
}

impl TypeIdentifier {
    /// True for the hash forms.
    pub fn is_hash(&self) -> bool {
        matches!(self, TypeIdentifier::Minimal(_) | TypeIdentifier::Complete(_))
    }

    /// True when the identifier describes the type fully, without any hash inside.
    pub fn is_fully_descriptive(&self) -> bool {
        match self {
            TypeIdentifier::Minimal(_) | TypeIdentifier::Complete(_) => false,
            TypeIdentifier::PlainSequence { element, .. } | TypeIdentifier::PlainArray { element, .. } => {
                element.is_fully_descriptive()
            }
            TypeIdentifier::PlainMap { element, key, .. } => {
                element.is_fully_descriptive() && key.is_fully_descriptive()
            }
            _ => true,
        }
    }

    /// Serializes the identifier (a final union with an octet discriminator).
    pub fn write(&self, w: &mut CdrWriter<'_>) {
        match self {
            TypeIdentifier::None => w.u8(TK_NONE),
            TypeIdentifier::Primitive(p) => w.u8(p.type_kind()),
            TypeIdentifier::String8 { bound } | TypeIdentifier::String16 { bound } => {
                let wide = matches!(self, TypeIdentifier::String16 { .. });
                if *bound < 256 {
                    w.u8(if wide { TI_STRING16_SMALL } else { TI_STRING8_SMALL });
                    w.u8(*bound as u8);
                } else {
                    w.u8(if wide { TI_STRING16_LARGE } else { TI_STRING8_LARGE });
                    w.u32(*bound);
                }
            }
            TypeIdentifier::PlainSequence { header, bound, element } => {
                let small = *bound < 256;
                w.u8(if small { TI_PLAIN_SEQUENCE_SMALL } else { TI_PLAIN_SEQUENCE_LARGE });
                write_collection_header(w, header);
                if small {
                    w.u8(*bound as u8);
                } else {
                    w.u32(*bound);
                }
                element.write(w);
            }
            TypeIdentifier::PlainArray { header, dims, element } => {
                let small = dims.iter().all(|d| *d < 256);
                w.u8(if small { TI_PLAIN_ARRAY_SMALL } else { TI_PLAIN_ARRAY_LARGE });
                write_collection_header(w, header);
                w.seq_len(dims.len());
                for d in dims {
                    if small {
                        w.u8(*d as u8);
                    } else {
                        w.u32(*d);
                    }
                }
                element.write(w);
            }
            TypeIdentifier::PlainMap { header, bound, element, key_flags, key } => {
                let small = *bound < 256;
                w.u8(if small { TI_PLAIN_MAP_SMALL } else { TI_PLAIN_MAP_LARGE });
                write_collection_header(w, header);
                if small {
                    w.u8(*bound as u8);
                } else {
                    w.u32(*bound);
                }
                element.write(w);
                w.u16(*key_flags);
                key.write(w);
            }
            TypeIdentifier::Minimal(h) => {
                w.u8(EK_MINIMAL);
                w.bytes(h);
            }
            TypeIdentifier::Complete(h) => {
                w.u8(EK_COMPLETE);
                w.bytes(h);
            }
        }
    }

    /// Reads an identifier written by [`write`](Self::write). Strongly-connected-component ids are rejected.
    pub fn read(r: &mut CdrReader<'_>) -> Result<Self, DynamicError> {
        Self::read_depth(r, 0)
    }

    fn read_depth(r: &mut CdrReader<'_>, depth: usize) -> Result<Self, DynamicError> {
        if depth > MAX_DEPTH {
            return Err(DynamicError::TypeObject("TypeIdentifier nested too deeply"));
        }
        let d = r.u8()?;
        Ok(match d {
            TK_NONE => TypeIdentifier::None,
            TI_STRING8_SMALL => TypeIdentifier::String8 { bound: r.u8()?.into() },
            TI_STRING8_LARGE => TypeIdentifier::String8 { bound: r.u32()? },
            TI_STRING16_SMALL => TypeIdentifier::String16 { bound: r.u8()?.into() },
            TI_STRING16_LARGE => TypeIdentifier::String16 { bound: r.u32()? },
            TI_PLAIN_SEQUENCE_SMALL | TI_PLAIN_SEQUENCE_LARGE => {
                let header = read_collection_header(r)?;
                let bound = if d == TI_PLAIN_SEQUENCE_SMALL { r.u8()?.into() } else { r.u32()? };
                let element = Box::new(Self::read_depth(r, depth + 1)?);
                TypeIdentifier::PlainSequence { header, bound, element }
            }
            TI_PLAIN_ARRAY_SMALL | TI_PLAIN_ARRAY_LARGE => {
                let header = read_collection_header(r)?;
                let small = d == TI_PLAIN_ARRAY_SMALL;
                let n = r.seq_len(if small { 1 } else { 4 })?;
                let mut dims = Vec::with_capacity(n);
                for _ in 0..n {
                    dims.push(if small { r.u8()?.into() } else { r.u32()? });
                }
                let element = Box::new(Self::read_depth(r, depth + 1)?);
                TypeIdentifier::PlainArray { header, dims, element }
            }
            TI_PLAIN_MAP_SMALL | TI_PLAIN_MAP_LARGE => {
                let header = read_collection_header(r)?;
                let bound = if d == TI_PLAIN_MAP_SMALL { r.u8()?.into() } else { r.u32()? };
                let element = Box::new(Self::read_depth(r, depth + 1)?);
                let key_flags = r.u16()?;
                let key = Box::new(Self::read_depth(r, depth + 1)?);
                TypeIdentifier::PlainMap { header, bound, element, key_flags, key }
            }
            EK_MINIMAL | EK_COMPLETE => {
                let mut h = [0u8; 14];
                h.copy_from_slice(r.bytes(14)?);
                if d == EK_MINIMAL {
                    TypeIdentifier::Minimal(h)
                } else {
                    TypeIdentifier::Complete(h)
                }
            }
            other => match PrimitiveKind::from_type_kind(other) {
                Some(p) => TypeIdentifier::Primitive(p),
                None => return Err(DynamicError::TypeObject("unsupported TypeIdentifier kind")),
            },
        })
    }

    /// The identifier serialized on its own (XCDR2 little-endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = CdrWriter::new(&mut buf, XcdrVersion::V2, Endian::Little);
        self.write(&mut w);
        buf
    }
}

impl core::fmt::Display for TypeIdentifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.to_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn write_collection_header(w: &mut CdrWriter<'_>, h: &PlainCollectionHeader) {
    w.u8(h.equiv_kind);
    w.u16(h.element_flags);
}

fn read_collection_header(r: &mut CdrReader<'_>) -> Result<PlainCollectionHeader, DynamicError> {
    Ok(PlainCollectionHeader { equiv_kind: r.u8()?, element_flags: r.u16()? })
}

/// A serialized TypeObject (the `TypeObject` union with its DHEADER and EK_* discriminator).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypeObject {
    /// The serialization, XCDR2 without encapsulation header.
    pub bytes: Vec<u8>,
    /// The byte order of `bytes` (TypeObjects built here are little-endian).
    pub endian: Endian,
}

impl TypeObject {
    /// MINIMAL or COMPLETE, from the discriminator after the DHEADER.
    pub fn kind(&self) -> Option<EquivalenceKind> {
        match self.bytes.get(4) {
            Some(&EK_MINIMAL) => Some(EquivalenceKind::Minimal),
            Some(&EK_COMPLETE) => Some(EquivalenceKind::Complete),
            _ => None,
        }
    }

    /// The equivalence hash TypeIdentifier: EK + the first 14 bytes of MD5 over the little-endian bytes.
    /// `None` for big-endian objects (re-serializing them is not supported) or an unknown kind.
    pub fn type_identifier(&self) -> Option<TypeIdentifier> {
        if self.endian != Endian::Little {
            return None;
        }
        let d = Md5::digest(&self.bytes);
        let mut h = [0u8; 14];
        h.copy_from_slice(&d[..14]);
        Some(match self.kind()? {
            EquivalenceKind::Minimal => TypeIdentifier::Minimal(h),
            EquivalenceKind::Complete => TypeIdentifier::Complete(h),
        })
    }

    /// Writes the object into a stream (it is appendable, so it carries its own DHEADER).
    pub fn write(&self, w: &mut CdrWriter<'_>) -> Result<(), DynamicError> {
        if w.endian() != self.endian {
            return Err(DynamicError::TypeObject("TypeObject byte order differs from the stream"));
        }
        w.align(4);
        w.bytes(&self.bytes);
        Ok(())
    }

    /// Reads an object from a stream: its DHEADER tells its length.
    pub fn read(r: &mut CdrReader<'_>) -> Result<Self, DynamicError> {
        r.align(4)?;
        let start = r.position();
        let mut peek = r.clone();
        let len = peek.u32()? as usize;
        let total = len.checked_add(4).ok_or(CdrError::Truncated)?;
        let bytes = r.bytes(total)?.to_vec();
        debug_assert!(r.position() == start + total);
        Ok(TypeObject { bytes, endian: r.endian() })
    }
}

/// The flags of a struct or union TypeObject.
fn type_flags(ext: Extensibility, nested: bool, autoid: AutoId) -> u16 {
    let mut f = match ext {
        Extensibility::Final => TYPE_FINAL,
        Extensibility::Appendable => TYPE_APPENDABLE,
        Extensibility::Mutable => TYPE_MUTABLE,
    };
    if nested {
        f |= TYPE_NESTED;
    }
    if autoid == AutoId::Hash {
        f |= TYPE_AUTOID_HASH;
    }
    f
}

/// The TypeIdentifier of a type: plain for primitives, strings and collections, a hash of its TypeObject for
/// enums, bitmasks, aliases, structs and unions.
pub fn type_identifier(ty: &DynamicType, kind: EquivalenceKind) -> Result<TypeIdentifier, DynamicError> {
    type_identifier_depth(ty, kind, 0)
}

fn type_identifier_depth(
    ty: &DynamicType,
    kind: EquivalenceKind,
    depth: usize,
) -> Result<TypeIdentifier, DynamicError> {
    if depth > MAX_DEPTH {
        return Err(DynamicError::Unsupported("type nested too deeply".into()));
    }
    let header = |element: &TypeIdentifier| PlainCollectionHeader {
        equiv_kind: if element.is_fully_descriptive() { EK_BOTH } else { kind.octet() },
        element_flags: MEMBER_TRY_CONSTRUCT1,
    };
    Ok(match ty {
        DynamicType::Primitive(p) => TypeIdentifier::Primitive(*p),
        DynamicType::String { bound } => TypeIdentifier::String8 { bound: *bound },
        DynamicType::WString { bound } => TypeIdentifier::String16 { bound: *bound },
        DynamicType::Fixed { digits, scale } => {
            return Err(DynamicError::Unsupported(format!(
                "fixed<{digits}, {scale}> has no XTypes TypeKind, so no TypeIdentifier"
            )))
        }
        DynamicType::Sequence(s) => {
            let element = type_identifier_depth(&s.element, kind, depth + 1)?;
            TypeIdentifier::PlainSequence { header: header(&element), bound: s.bound, element: Box::new(element) }
        }
        DynamicType::Array(a) => {
            let element = type_identifier_depth(&a.element, kind, depth + 1)?;
            TypeIdentifier::PlainArray { header: header(&element), dims: a.dims.clone(), element: Box::new(element) }
        }
        DynamicType::Map(m) => {
            let element = type_identifier_depth(&m.value, kind, depth + 1)?;
            let key = type_identifier_depth(&m.key, kind, depth + 1)?;
            let mut h = header(&element);
            if !key.is_fully_descriptive() {
                h.equiv_kind = kind.octet();
            }
            TypeIdentifier::PlainMap {
                header: h,
                bound: m.bound,
                element: Box::new(element),
                key_flags: MEMBER_TRY_CONSTRUCT1,
                key: Box::new(key),
            }
        }
        _ => build_type_object_depth(ty, kind, depth)?
            .type_identifier()
            .ok_or(DynamicError::TypeObject("no hash for TypeObject"))?,
    })
}

/// Builds the MINIMAL or COMPLETE TypeObject of a named type (struct, union, enum, bitmask, alias).
pub fn build_type_object(ty: &DynamicType, kind: EquivalenceKind) -> Result<TypeObject, DynamicError> {
    build_type_object_depth(ty, kind, 0)
}

fn build_type_object_depth(ty: &DynamicType, kind: EquivalenceKind, depth: usize) -> Result<TypeObject, DynamicError> {
    let mut buf = Vec::new();
    {
        let mut w = CdrWriter::new(&mut buf, XcdrVersion::V2, Endian::Little);
        let d = w.begin_dheader();
        w.u8(kind.octet());
        let complete = kind == EquivalenceKind::Complete;
        let ti = |t: &DynamicType| type_identifier_depth(t, kind, depth + 1);
        match ty {
            DynamicType::Struct(s) => write_struct_object(&mut w, s, kind, depth)?,
            DynamicType::Union(u) => write_union_object(&mut w, u, kind, depth)?,
            DynamicType::Enum(e) => write_enum_object(&mut w, e, complete),
            DynamicType::Bitmask(b) => write_bitmask_object(&mut w, b, complete),
            DynamicType::Bitset(b) => write_bitset_object(&mut w, b, complete),
            DynamicType::Alias(a) => {
                let target = ti(&a.target)?;
                w.u8(TK_ALIAS);
                w.u16(0);
                let h = w.begin_dheader();
                if complete {
                    write_complete_type_detail(&mut w, &a.name);
                }
                w.end_dheader(h);
                let b = w.begin_dheader();
                w.u16(0);
                target.write(&mut w);
                if complete {
                    w.bool(false);
                    w.bool(false);
                }
                w.end_dheader(b);
            }
            other => {
                return Err(DynamicError::Unsupported(format!("{} has no TypeObject of its own", other.describe())))
            }
        }
        w.end_dheader(d);
    }
    Ok(TypeObject { bytes: buf, endian: Endian::Little })
}

fn write_complete_type_detail(w: &mut CdrWriter<'_>, name: &str) {
    w.bool(false); // ann_builtin
    w.bool(false); // ann_custom
    w.string(name);
}

fn write_member_detail(w: &mut CdrWriter<'_>, name: &str, complete: bool) {
    if complete {
        w.string(name);
        w.bool(false);
        w.bool(false);
    } else {
        w.bytes(&name_hash(name));
    }
}

fn write_struct_object(
    w: &mut CdrWriter<'_>,
    s: &StructType,
    kind: EquivalenceKind,
    depth: usize,
) -> Result<(), DynamicError> {
    let complete = kind == EquivalenceKind::Complete;
    let base = match &s.base {
        Some(b) => type_identifier_depth(&DynamicType::Struct((**b).clone()), kind, depth + 1)?,
        None => TypeIdentifier::None,
    };
    let mut ids = Vec::with_capacity(s.members.len());
    for m in &s.members {
        ids.push(type_identifier_depth(&m.ty, kind, depth + 1)?);
    }
    w.u8(TK_STRUCTURE);
    w.u16(type_flags(s.extensibility, s.nested, s.autoid));
    let h = w.begin_dheader();
    base.write(w);
    if complete {
        write_complete_type_detail(w, &s.name);
    }
    w.end_dheader(h);
    let seq = w.begin_dheader();
    w.seq_len(s.members.len());
    for (m, id) in s.members.iter().zip(ids) {
        let md = w.begin_dheader();
        w.u32(m.id);
        let mut flags = MEMBER_TRY_CONSTRUCT1;
        if m.external {
            flags |= MEMBER_EXTERNAL;
        }
        if m.optional {
            flags |= MEMBER_OPTIONAL;
        }
        if m.must_understand {
            flags |= MEMBER_MUST_UNDERSTAND;
        }
        if m.key {
            flags |= MEMBER_KEY;
        }
        w.u16(flags);
        id.write(w);
        write_member_detail(w, &m.name, complete);
        w.end_dheader(md);
    }
    w.end_dheader(seq);
    Ok(())
}

fn write_union_object(
    w: &mut CdrWriter<'_>,
    u: &UnionType,
    kind: EquivalenceKind,
    depth: usize,
) -> Result<(), DynamicError> {
    let complete = kind == EquivalenceKind::Complete;
    let disc = type_identifier_depth(&u.discriminator, kind, depth + 1)?;
    let mut ids = Vec::with_capacity(u.cases.len());
    for c in &u.cases {
        ids.push(type_identifier_depth(&c.ty, kind, depth + 1)?);
    }
    w.u8(TK_UNION);
    w.u16(type_flags(u.extensibility, u.nested, u.autoid));
    let h = w.begin_dheader();
    if complete {
        write_complete_type_detail(w, &u.name);
    }
    w.end_dheader(h);
    let dm = w.begin_dheader();
    w.u16(MEMBER_TRY_CONSTRUCT1 | MEMBER_MUST_UNDERSTAND);
    disc.write(w);
    if complete {
        w.bool(false);
        w.bool(false);
    }
    w.end_dheader(dm);
    let seq = w.begin_dheader();
    w.seq_len(u.cases.len());
    for (c, id) in u.cases.iter().zip(ids) {
        let md = w.begin_dheader();
        w.u32(c.id);
        let mut flags = MEMBER_TRY_CONSTRUCT1;
        if c.external {
            flags |= MEMBER_EXTERNAL;
        }
        if c.is_default {
            flags |= MEMBER_DEFAULT;
        }
        w.u16(flags);
        id.write(w);
        w.seq_len(c.labels.len());
        for l in &c.labels {
            w.i32(*l as i32);
        }
        write_member_detail(w, &c.name, complete);
        w.end_dheader(md);
    }
    w.end_dheader(seq);
    Ok(())
}

fn write_enum_object(w: &mut CdrWriter<'_>, e: &EnumType, complete: bool) {
    w.u8(TK_ENUM);
    w.u16(type_flags(e.extensibility, false, AutoId::Sequential));
    let h = w.begin_dheader();
    w.u16(e.bit_bound);
    if complete {
        write_complete_type_detail(w, &e.name);
    }
    w.end_dheader(h);
    let seq = w.begin_dheader();
    w.seq_len(e.literals.len());
    for l in &e.literals {
        let ld = w.begin_dheader();
        let cd = w.begin_dheader();
        w.i32(l.value);
        w.u16(if l.default { MEMBER_DEFAULT } else { 0 });
        w.end_dheader(cd);
        write_member_detail(w, &l.name, complete);
        w.end_dheader(ld);
    }
    w.end_dheader(seq);
}

fn write_bitmask_object(w: &mut CdrWriter<'_>, b: &BitmaskType, complete: bool) {
    w.u8(TK_BITMASK);
    let outer = w.begin_dheader();
    w.u16(0);
    let h = w.begin_dheader();
    w.u16(b.bit_bound);
    if complete {
        write_complete_type_detail(w, &b.name);
    }
    w.end_dheader(h);
    let seq = w.begin_dheader();
    w.seq_len(b.flags.len());
    for f in &b.flags {
        let fd = w.begin_dheader();
        w.u16(f.position);
        w.u16(0);
        write_member_detail(w, &f.name, complete);
        w.end_dheader(fd);
    }
    w.end_dheader(seq);
    w.end_dheader(outer);
}

/// CompleteBitsetType / MinimalBitsetType (both appendable): flags, header (the type detail, or empty), and
/// the fields by position, each CommonBitfield (position, flags, bitcount, holder TypeKind) with its
/// CompleteMemberDetail or NameHash.
fn write_bitset_object(w: &mut CdrWriter<'_>, b: &BitsetType, complete: bool) {
    w.u8(TK_BITSET);
    let outer = w.begin_dheader();
    w.u16(0);
    let h = w.begin_dheader();
    if complete {
        write_complete_type_detail(w, &b.name);
    }
    w.end_dheader(h);
    let seq = w.begin_dheader();
    w.seq_len(b.fields.len());
    for f in &b.fields {
        let fd = w.begin_dheader();
        w.u16(f.position);
        w.u16(0);
        w.u8(f.bitcount);
        w.u8(f.holder.type_kind());
        write_member_detail(w, &f.name, complete);
        w.end_dheader(fd);
    }
    w.end_dheader(seq);
    w.end_dheader(outer);
}

/// A TypeIdentifier with the size of its serialized TypeObject (0 for plain identifiers).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypeIdentifierWithSize {
    /// The identifier.
    pub type_id: TypeIdentifier,
    /// Size of the TypeObject's serialization in bytes.
    pub typeobject_serialized_size: u32,
}

/// A TypeIdentifier with its dependencies.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypeIdentifierWithDependencies {
    /// The type itself.
    pub typeid_with_size: TypeIdentifierWithSize,
    /// Number of dependencies (-1 = not computed).
    pub dependent_typeid_count: i32,
    /// The (possibly partial) list of hashed types this type refers to, directly or not.
    pub dependent_typeids: Vec<TypeIdentifierWithSize>,
}

/// The TypeInformation parameter (PID `0x0075`) of SEDP data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TypeInformation {
    /// Member id 0x1001.
    pub minimal: TypeIdentifierWithDependencies,
    /// Member id 0x1002.
    pub complete: TypeIdentifierWithDependencies,
}

fn write_tiws(w: &mut CdrWriter<'_>, t: &TypeIdentifierWithSize) {
    let d = w.begin_dheader();
    t.type_id.write(w);
    w.u32(t.typeobject_serialized_size);
    w.end_dheader(d);
}

fn read_tiws(r: &mut CdrReader<'_>) -> Result<TypeIdentifierWithSize, DynamicError> {
    let mut sub = r.dheader()?;
    let type_id = TypeIdentifier::read(&mut sub)?;
    let typeobject_serialized_size = sub.u32()?;
    r.skip_to_end_of(&sub);
    Ok(TypeIdentifierWithSize { type_id, typeobject_serialized_size })
}

fn write_tiwd(w: &mut CdrWriter<'_>, t: &TypeIdentifierWithDependencies) {
    let d = w.begin_dheader();
    write_tiws(w, &t.typeid_with_size);
    w.i32(t.dependent_typeid_count);
    write_tiws_seq(w, &t.dependent_typeids);
    w.end_dheader(d);
}

/// Writes a `sequence<TypeIdentifierWithSize>` (DHEADER + length + elements).
pub(crate) fn write_tiws_seq(w: &mut CdrWriter<'_>, items: &[TypeIdentifierWithSize]) {
    let s = w.begin_dheader();
    w.seq_len(items.len());
    for t in items {
        write_tiws(w, t);
    }
    w.end_dheader(s);
}

/// Reads a `sequence<TypeIdentifierWithSize>`.
pub(crate) fn read_tiws_seq(r: &mut CdrReader<'_>) -> Result<Vec<TypeIdentifierWithSize>, DynamicError> {
    let mut sub = r.dheader()?;
    let n = sub.seq_len(8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_tiws(&mut sub)?);
    }
    r.skip_to_end_of(&sub);
    Ok(out)
}

fn read_tiwd(r: &mut CdrReader<'_>) -> Result<TypeIdentifierWithDependencies, DynamicError> {
    let mut sub = r.dheader()?;
    let typeid_with_size = read_tiws(&mut sub)?;
    let (dependent_typeid_count, dependent_typeids) = if sub.remaining() == 0 {
        (-1, Vec::new())
    } else {
        let c = sub.i32()?;
        let deps = if sub.remaining() == 0 { Vec::new() } else { read_tiws_seq(&mut sub)? };
        (c, deps)
    };
    r.skip_to_end_of(&sub);
    Ok(TypeIdentifierWithDependencies { typeid_with_size, dependent_typeid_count, dependent_typeids })
}

impl TypeInformation {
    /// Computes the TypeInformation of a named type: its minimal and complete hash identifiers, the sizes of
    /// their TypeObjects, and all hashed types it depends on (dependencies before dependents).
    pub fn for_type(ty: &DynamicType) -> Result<Self, DynamicError> {
        let one = |kind| -> Result<TypeIdentifierWithDependencies, DynamicError> {
            let obj = build_type_object(ty, kind)?;
            let type_id = obj.type_identifier().ok_or(DynamicError::TypeObject("no hash"))?;
            let deps = dependencies(ty, kind)?;
            Ok(TypeIdentifierWithDependencies {
                typeid_with_size: TypeIdentifierWithSize {
                    type_id,
                    typeobject_serialized_size: obj.bytes.len() as u32,
                },
                dependent_typeid_count: deps.len() as i32,
                dependent_typeids: deps
                    .into_iter()
                    .map(|(id, o)| TypeIdentifierWithSize {
                        type_id: id,
                        typeobject_serialized_size: o.bytes.len() as u32,
                    })
                    .collect(),
            })
        };
        Ok(TypeInformation { minimal: one(EquivalenceKind::Minimal)?, complete: one(EquivalenceKind::Complete)? })
    }

    /// Writes the body of the mutable `TypeInformation` struct (DHEADER, then an EMHEADER per member).
    pub fn write(&self, w: &mut CdrWriter<'_>) {
        let d = w.begin_dheader();
        for (id, t) in [(0x1001, &self.minimal), (0x1002, &self.complete)] {
            let m = w.begin_member(id, false);
            write_tiwd(w, t);
            w.end_member_lc(m, 4);
        }
        w.end_dheader(d);
    }

    /// The parameter value as XCDR2 in the given byte order (the byte order of the parameter list).
    pub fn to_bytes(&self, endian: Endian) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = CdrWriter::new(&mut buf, XcdrVersion::V2, endian);
        self.write(&mut w);
        buf
    }

    /// Reads the `TypeInformation` struct; unknown members are skipped, a missing member is an error.
    pub fn read(r: &mut CdrReader<'_>) -> Result<Self, DynamicError> {
        let mut sub = r.dheader()?;
        let (mut minimal, mut complete) = (None, None);
        while let Some((id, _mu, mut body)) = sub.next_member()? {
            match id {
                0x1001 => minimal = Some(read_tiwd(&mut body)?),
                0x1002 => complete = Some(read_tiwd(&mut body)?),
                _ => {}
            }
        }
        r.skip_to_end_of(&sub);
        match (minimal, complete) {
            (Some(minimal), Some(complete)) => Ok(TypeInformation { minimal, complete }),
            _ => Err(DynamicError::TypeObject("TypeInformation lacks minimal or complete")),
        }
    }

    /// Parses a PID_TYPE_INFORMATION value (XCDR2 in the parameter list's byte order).
    pub fn from_bytes(bytes: &[u8], endian: Endian) -> Result<Self, DynamicError> {
        let mut r = CdrReader::new(bytes, XcdrVersion::V2, endian);
        Self::read(&mut r)
    }
}

/// The hashed types `ty` refers to (directly or through other types), each once, dependencies first, with
/// their TypeObjects. `ty` itself is not included.
pub fn dependencies(
    ty: &DynamicType,
    kind: EquivalenceKind,
) -> Result<Vec<(TypeIdentifier, TypeObject)>, DynamicError> {
    let mut out = Vec::new();
    for child in children(ty) {
        collect(child, kind, &mut out, 0)?;
    }
    Ok(out)
}

/// The hashed types reachable from `ty` including `ty` itself (if hashed), dependencies first: what a
/// TypeLookup getTypes reply for `ty` and its dependencies carries.
pub fn type_objects(
    ty: &DynamicType,
    kind: EquivalenceKind,
) -> Result<Vec<(TypeIdentifier, TypeObject)>, DynamicError> {
    let mut out = Vec::new();
    collect(ty, kind, &mut out, 0)?;
    Ok(out)
}

fn children(ty: &DynamicType) -> Vec<&DynamicType> {
    match ty {
        DynamicType::Struct(s) => {
            // The base's own object lists the base's members; this struct refers to the base type only.
            let mut v: Vec<&DynamicType> = Vec::new();
            v.extend(s.members.iter().map(|m| &m.ty));
            v
        }
        DynamicType::Union(u) => {
            let mut v = vec![u.discriminator.as_ref()];
            v.extend(u.cases.iter().map(|c| &c.ty));
            v
        }
        DynamicType::Alias(a) => vec![a.target.as_ref()],
        DynamicType::Sequence(s) => vec![s.element.as_ref()],
        DynamicType::Array(a) => vec![a.element.as_ref()],
        DynamicType::Map(m) => vec![m.key.as_ref(), m.value.as_ref()],
        _ => Vec::new(),
    }
}

fn collect(
    ty: &DynamicType,
    kind: EquivalenceKind,
    out: &mut Vec<(TypeIdentifier, TypeObject)>,
    depth: usize,
) -> Result<(), DynamicError> {
    if depth > MAX_DEPTH {
        return Err(DynamicError::Unsupported("type nested too deeply".into()));
    }
    if let DynamicType::Struct(s) = ty {
        if let Some(b) = &s.base {
            collect(&DynamicType::Struct((**b).clone()), kind, out, depth + 1)?;
        }
    }
    for c in children(ty) {
        collect(c, kind, out, depth + 1)?;
    }
    if ty.name().is_some() {
        let obj = build_type_object(ty, kind)?;
        let id = obj.type_identifier().ok_or(DynamicError::TypeObject("no hash"))?;
        if !out.iter().any(|(i, _)| *i == id) {
            out.push((id, obj));
        }
    }
    Ok(())
}

/// Resolves hash TypeIdentifiers met while decoding a TypeObject into a [`DynamicType`].
pub trait TypeResolver {
    /// The type a hash identifier stands for.
    fn resolve(&mut self, id: &TypeIdentifier, depth: usize) -> Result<DynamicType, DynamicError>;
}

/// Resolves hash identifiers from a list of (identifier, COMPLETE TypeObject) pairs, such as a TypeLookup
/// getTypes reply.
#[derive(Debug)]
pub struct ObjectList<'a>(pub &'a [(TypeIdentifier, TypeObject)]);

impl TypeResolver for ObjectList<'_> {
    fn resolve(&mut self, id: &TypeIdentifier, depth: usize) -> Result<DynamicType, DynamicError> {
        let (_, obj) = self.0.iter().find(|(i, _)| i == id).ok_or_else(|| DynamicError::Unresolved(id.to_string()))?;
        obj.to_dynamic_depth(self, depth + 1)
    }
}

/// The [`DynamicType`] an identifier describes; hash identifiers are looked up in `objects` (COMPLETE
/// TypeObjects only: minimal objects have no names).
pub fn resolve_type(
    id: &TypeIdentifier,
    objects: &[(TypeIdentifier, TypeObject)],
) -> Result<DynamicType, DynamicError> {
    identifier_to_dynamic(id, &mut ObjectList(objects), 0)
}

/// The [`DynamicType`] of a plain identifier, or of a hash identifier through `resolver`.
pub fn identifier_to_dynamic(
    id: &TypeIdentifier,
    resolver: &mut dyn TypeResolver,
    depth: usize,
) -> Result<DynamicType, DynamicError> {
    if depth > MAX_DEPTH {
        return Err(DynamicError::TypeObject("types nested too deeply (or recursive)"));
    }
    Ok(match id {
        TypeIdentifier::None => return Err(DynamicError::TypeObject("TK_NONE used as a member type")),
        TypeIdentifier::Primitive(p) => DynamicType::Primitive(*p),
        TypeIdentifier::String8 { bound } => DynamicType::String { bound: *bound },
        TypeIdentifier::String16 { bound } => DynamicType::WString { bound: *bound },
        TypeIdentifier::PlainSequence { bound, element, .. } => {
            DynamicType::sequence(identifier_to_dynamic(element, resolver, depth + 1)?, *bound)
        }
        TypeIdentifier::PlainArray { dims, element, .. } => {
            DynamicType::array(identifier_to_dynamic(element, resolver, depth + 1)?, dims)
        }
        TypeIdentifier::PlainMap { bound, element, key, .. } => DynamicType::map(
            identifier_to_dynamic(key, resolver, depth + 1)?,
            identifier_to_dynamic(element, resolver, depth + 1)?,
            *bound,
        ),
        TypeIdentifier::Minimal(_) | TypeIdentifier::Complete(_) => resolver.resolve(id, depth)?,
    })
}

fn skip_optional_appendable(r: &mut CdrReader<'_>) -> Result<(), DynamicError> {
    if r.bool()? {
        let sub = r.dheader()?;
        r.skip_to_end_of(&sub);
    }
    Ok(())
}

fn read_complete_type_detail(r: &mut CdrReader<'_>) -> Result<String, DynamicError> {
    skip_optional_appendable(r)?; // ann_builtin (appendable struct)
    skip_optional_appendable(r)?; // ann_custom (sequence of appendable structs: DHEADER)
    Ok(r.string()?)
}

fn read_complete_member_detail(r: &mut CdrReader<'_>) -> Result<String, DynamicError> {
    let name = r.string()?;
    skip_optional_appendable(r)?;
    skip_optional_appendable(r)?;
    Ok(name)
}

fn extensibility_of(flags: u16) -> Extensibility {
    if flags & TYPE_MUTABLE != 0 {
        Extensibility::Mutable
    } else if flags & TYPE_APPENDABLE != 0 {
        Extensibility::Appendable
    } else {
        Extensibility::Final
    }
}

fn autoid_of(flags: u16) -> AutoId {
    if flags & TYPE_AUTOID_HASH != 0 {
        AutoId::Hash
    } else {
        AutoId::Sequential
    }
}

/// Reads a CompleteCollectionElement and returns its type.
fn read_collection_element(
    r: &mut CdrReader<'_>,
    resolver: &mut dyn TypeResolver,
    depth: usize,
) -> Result<DynamicType, DynamicError> {
    let mut e = r.dheader()?;
    let _flags = e.u16()?;
    let id = TypeIdentifier::read(&mut e)?;
    r.skip_to_end_of(&e);
    identifier_to_dynamic(&id, resolver, depth + 1)
}

/// Reads a CompleteCollectionHeader and returns its bound.
fn read_collection_header_bound(r: &mut CdrReader<'_>) -> Result<u32, DynamicError> {
    let mut h = r.dheader()?;
    let bound = h.u32()?;
    if h.bool()? {
        read_complete_type_detail(&mut h)?;
    }
    r.skip_to_end_of(&h);
    Ok(bound)
}

impl TypeObject {
    /// Decodes a COMPLETE TypeObject into a [`DynamicType`] (structs, unions, enums, bitmasks, aliases,
    /// sequences, arrays, maps). Hash identifiers inside are resolved through `resolver`.
    pub fn to_dynamic(&self, resolver: &mut dyn TypeResolver) -> Result<DynamicType, DynamicError> {
        self.to_dynamic_depth(resolver, 0)
    }

    fn to_dynamic_depth(&self, resolver: &mut dyn TypeResolver, depth: usize) -> Result<DynamicType, DynamicError> {
        if depth > MAX_DEPTH {
            return Err(DynamicError::TypeObject("types nested too deeply (or recursive)"));
        }
        let mut outer = CdrReader::new(&self.bytes, XcdrVersion::V2, self.endian);
        let mut r = outer.dheader()?;
        match r.u8()? {
            EK_COMPLETE => {}
            EK_MINIMAL => return Err(DynamicError::TypeObject("minimal TypeObjects carry no names")),
            _ => return Err(DynamicError::TypeObject("unknown TypeObject kind")),
        }
        let tk = r.u8()?;
        let ty = match tk {
            TK_STRUCTURE => {
                let flags = r.u16()?;
                let mut h = r.dheader()?;
                let base = TypeIdentifier::read(&mut h)?;
                let name = read_complete_type_detail(&mut h)?;
                r.skip_to_end_of(&h);
                let mut s = StructType::new(name, extensibility_of(flags)).nested(flags & TYPE_NESTED != 0);
                s.autoid = autoid_of(flags);
                if base != TypeIdentifier::None {
                    match identifier_to_dynamic(&base, resolver, depth + 1)? {
                        DynamicType::Struct(b) => s.base = Some(Box::new(b)),
                        _ => return Err(DynamicError::TypeObject("struct base is not a struct")),
                    }
                }
                let mut seq = r.dheader()?;
                let n = seq.seq_len(4)?;
                for _ in 0..n {
                    let mut m = seq.dheader()?;
                    let id = m.u32()?;
                    let mflags = m.u16()?;
                    let tid = TypeIdentifier::read(&mut m)?;
                    let name = read_complete_member_detail(&mut m)?;
                    seq.skip_to_end_of(&m);
                    let ty = identifier_to_dynamic(&tid, resolver, depth + 1)?;
                    let mut member = StructMember::new(name, ty).id(id);
                    member.key = mflags & MEMBER_KEY != 0;
                    member.optional = mflags & MEMBER_OPTIONAL != 0;
                    member.must_understand = mflags & MEMBER_MUST_UNDERSTAND != 0;
                    member.external = mflags & MEMBER_EXTERNAL != 0;
                    s.members.push(member);
                }
                r.skip_to_end_of(&seq);
                DynamicType::Struct(s)
            }
            TK_UNION => {
                let flags = r.u16()?;
                let mut h = r.dheader()?;
                let name = read_complete_type_detail(&mut h)?;
                r.skip_to_end_of(&h);
                let mut d = r.dheader()?;
                let _dflags = d.u16()?;
                let did = TypeIdentifier::read(&mut d)?;
                r.skip_to_end_of(&d);
                let disc = identifier_to_dynamic(&did, resolver, depth + 1)?;
                let mut u = UnionType::new(name, extensibility_of(flags), disc);
                u.nested = flags & TYPE_NESTED != 0;
                u.autoid = autoid_of(flags);
                let mut seq = r.dheader()?;
                let n = seq.seq_len(4)?;
                for _ in 0..n {
                    let mut m = seq.dheader()?;
                    let id = m.u32()?;
                    let mflags = m.u16()?;
                    let tid = TypeIdentifier::read(&mut m)?;
                    let nl = m.seq_len(4)?;
                    let mut labels = Vec::with_capacity(nl);
                    for _ in 0..nl {
                        labels.push(i64::from(m.i32()?));
                    }
                    let name = read_complete_member_detail(&mut m)?;
                    seq.skip_to_end_of(&m);
                    let ty = identifier_to_dynamic(&tid, resolver, depth + 1)?;
                    u.cases.push(super::types::UnionCase {
                        id,
                        name,
                        ty,
                        labels,
                        is_default: mflags & MEMBER_DEFAULT != 0,
                        external: mflags & MEMBER_EXTERNAL != 0,
                    });
                }
                r.skip_to_end_of(&seq);
                DynamicType::Union(u)
            }
            TK_ENUM => {
                let flags = r.u16()?;
                let mut h = r.dheader()?;
                let bit_bound = h.u16()?;
                let name = read_complete_type_detail(&mut h)?;
                r.skip_to_end_of(&h);
                let mut e = EnumType::new(name).bit_bound(bit_bound);
                e.extensibility = extensibility_of(flags);
                let mut seq = r.dheader()?;
                let n = seq.seq_len(4)?;
                for _ in 0..n {
                    let mut l = seq.dheader()?;
                    let mut c = l.dheader()?;
                    let value = c.i32()?;
                    let lflags = c.u16()?;
                    l.skip_to_end_of(&c);
                    let name = read_complete_member_detail(&mut l)?;
                    seq.skip_to_end_of(&l);
                    e.literals.push(super::types::EnumLiteral { name, value, default: lflags & MEMBER_DEFAULT != 0 });
                }
                r.skip_to_end_of(&seq);
                DynamicType::Enum(e)
            }
            TK_BITMASK => {
                let mut b = r.dheader()?;
                let _flags = b.u16()?;
                let mut h = b.dheader()?;
                let bit_bound = h.u16()?;
                let name = read_complete_type_detail(&mut h)?;
                b.skip_to_end_of(&h);
                let mut bm = BitmaskType::new(name).bit_bound(bit_bound);
                let mut seq = b.dheader()?;
                let n = seq.seq_len(4)?;
                for _ in 0..n {
                    let mut f = seq.dheader()?;
                    let position = f.u16()?;
                    let _ff = f.u16()?;
                    let name = read_complete_member_detail(&mut f)?;
                    seq.skip_to_end_of(&f);
                    bm.flags.push(super::types::BitFlag { name, position });
                }
                b.skip_to_end_of(&seq);
                r.skip_to_end_of(&b);
                DynamicType::Bitmask(bm)
            }
            TK_BITSET => {
                let mut b = r.dheader()?;
                let _flags = b.u16()?;
                let mut h = b.dheader()?;
                let name = read_complete_type_detail(&mut h)?;
                b.skip_to_end_of(&h);
                let mut bs = BitsetType::new(name);
                let mut seq = b.dheader()?;
                let n = seq.seq_len(4)?;
                for _ in 0..n {
                    let mut f = seq.dheader()?;
                    let position = f.u16()?;
                    let _ff = f.u16()?;
                    let bitcount = f.u8()?;
                    let holder = PrimitiveKind::from_type_kind(f.u8()?)
                        .ok_or(DynamicError::TypeObject("bitfield holder is not a primitive type"))?;
                    let name = read_complete_member_detail(&mut f)?;
                    seq.skip_to_end_of(&f);
                    if bitcount == 0 || bitcount > 64 || u32::from(position) + u32::from(bitcount) > 64 {
                        return Err(DynamicError::TypeObject("bitfield outside 64 bits"));
                    }
                    bs = bs.field(name, position, bitcount, holder);
                }
                b.skip_to_end_of(&seq);
                r.skip_to_end_of(&b);
                DynamicType::Bitset(bs)
            }
            TK_ALIAS => {
                let _flags = r.u16()?;
                let mut h = r.dheader()?;
                let name = read_complete_type_detail(&mut h)?;
                r.skip_to_end_of(&h);
                let mut b = r.dheader()?;
                let _rflags = b.u16()?;
                let tid = TypeIdentifier::read(&mut b)?;
                r.skip_to_end_of(&b);
                DynamicType::alias(name, identifier_to_dynamic(&tid, resolver, depth + 1)?)
            }
            TK_SEQUENCE => {
                let _flags = r.u16()?;
                let bound = read_collection_header_bound(&mut r)?;
                let element = read_collection_element(&mut r, resolver, depth)?;
                DynamicType::sequence(element, bound)
            }
            TK_ARRAY => {
                let mut a = r.dheader()?;
                let _flags = a.u16()?;
                let mut h = a.dheader()?;
                let n = h.seq_len(4)?;
                let mut dims = Vec::with_capacity(n);
                for _ in 0..n {
                    dims.push(h.u32()?);
                }
                a.skip_to_end_of(&h);
                let element = read_collection_element(&mut a, resolver, depth)?;
                r.skip_to_end_of(&a);
                DynamicType::array(element, &dims)
            }
            TK_MAP => {
                let _flags = r.u16()?;
                let bound = read_collection_header_bound(&mut r)?;
                let key = read_collection_element(&mut r, resolver, depth)?;
                let value = read_collection_element(&mut r, resolver, depth)?;
                DynamicType::map(key, value, bound)
            }
            _ => return Err(DynamicError::TypeObject("unsupported TypeObject kind")),
        };
        Ok(ty)
    }
}
