//! Encoding and decoding [`DynamicValue`]s in XCDR1 and XCDR2, key payloads and key hashes.
//!
//! The layout follows XTypes 1.3 §7.4 as Cyclone DDS implements it (checked byte for byte against Cyclone
//! DDS 11.0.1's Python serializer, see the tests):
//! - XCDR1: primitives aligned to their size (max 8); enums always 4 bytes; appendable = final; mutable
//!   structs are parameter lists with PID_EXTENDED member headers and a PID_LIST_END sentinel; `@optional`
//!   members of final/appendable structs are PID_EXTENDED parameters (length 0 when absent).
//! - XCDR2: alignment capped at 4; enums sized by `@bit_bound`; appendable structs/unions and collections of
//!   non-primitive elements carry a DHEADER; mutable structs are DHEADER + EMHEADER per member; optional
//!   members of final/appendable structs are preceded by a presence octet.
//!
//! Key hash input ([`key_hash`]): the key members, big-endian, in declaration order, with no DHEADERs or
//! member headers (a nested struct contributes its own key members, or all members if it has none). Key
//! payloads ([`encode_key_payload`]): the KeyHolder type, i.e. the type restricted to its key members with
//! its headers kept, which is what `ShapeType::serialize_key_payload` and Cyclone write.

use md5::{Digest, Md5};

use super::error::DynamicError;
use super::types::{DynamicType, EnumType, PrimitiveKind, StructMember, StructType, UnionType};
use super::value::DynamicValue;
use crate::cdr::{
    split_encapsulation, version_for_representation, CdrError, CdrReader, CdrWriter, Encapsulation, Extensibility,
    XcdrVersion,
};
use crate::wire::{Endian, KeyHash};

/// XCDR1 PID_LIST_END with the must-understand flag, as Cyclone writes it.
const PL_LIST_END_MU: u16 = 0x7f02;
/// Upper bound on the element count of one array type that the decoder will materialize.
const MAX_ARRAY_ELEMENTS: usize = 1 << 24;

/// What part of a value is written or read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// The whole sample.
    Full,
    /// The KeyHolder: key members only (all members of a struct without keys), headers kept.
    KeyHolder,
    /// Key hash input: key members only, plain (no DHEADER/EMHEADER/parameter headers).
    KeyPlain,
}

/// Appends a complete serialized payload: encapsulation header (chosen from the type's extensibility),
/// body, and zero padding to a multiple of 4 recorded in the options, like [`crate::cdr::encode_sample`].
/// `representation` is 0 (XCDR1) or 2 (XCDR2). On error `out` is left unchanged.
pub fn encode(
    ty: &DynamicType,
    value: &DynamicValue,
    representation: i16,
    endian: Endian,
    out: &mut Vec<u8>,
) -> Result<(), DynamicError> {
    encode_mode(ty, value, representation, endian, out, Mode::Full)
}

/// Appends a serialized key payload (the KeyHolder encoding carried by DATA with the K flag), framed like
/// [`encode`].
pub fn encode_key_payload(
    ty: &DynamicType,
    value: &DynamicValue,
    representation: i16,
    endian: Endian,
    out: &mut Vec<u8>,
) -> Result<(), DynamicError> {
    encode_mode(ty, value, representation, endian, out, Mode::KeyHolder)
}

fn encode_mode(
    ty: &DynamicType,
    value: &DynamicValue,
    representation: i16,
    endian: Endian,
    out: &mut Vec<u8>,
    mode: Mode,
) -> Result<(), DynamicError> {
    let version = version_for_representation(representation)?;
    let encap = Encapsulation::for_type(version, ty.extensibility(), endian);
    let start = out.len();
    out.extend_from_slice(&encap.id());
    out.extend_from_slice(&[0, 0]);
    let result = {
        let mut w = CdrWriter::new(out, version, endian);
        write(&mut w, ty, value, mode)
    };
    if let Err(e) = result {
        out.truncate(start);
        return Err(e);
    }
    let pad = (4 - (out.len() - start) % 4) % 4;
    out.resize(out.len() + pad, 0);
    out[start + 3] = pad as u8;
    Ok(())
}

/// Decodes a serialized payload of any supported encapsulation (XCDR1/XCDR2, plain, delimited or parameter
/// list; the version and byte order come from its header).
///
/// Appendable and mutable types tolerate members they do not know (skipped) and, for appendable types,
/// missing trailing members (set to their defaults). Mutable members that are missing take their defaults
/// (absent for `@optional`). Unknown must-understand members are an error.
pub fn decode(ty: &DynamicType, payload: &[u8]) -> Result<DynamicValue, DynamicError> {
    let (encap, _options, body) = split_encapsulation(payload)?;
    let mut r = CdrReader::new(body, encap.version(), encap.endian());
    read(&mut r, ty, Mode::Full)
}

/// Decodes a serialized key payload: key members are set, the others take their defaults.
pub fn decode_key_payload(ty: &DynamicType, payload: &[u8]) -> Result<DynamicValue, DynamicError> {
    let (encap, _options, body) = split_encapsulation(payload)?;
    let mut r = CdrReader::new(body, encap.version(), encap.endian());
    read(&mut r, ty, Mode::KeyHolder)
}

/// Writes the body of `value` (no encapsulation header) to `w`.
pub fn write_value(w: &mut CdrWriter<'_>, ty: &DynamicType, value: &DynamicValue) -> Result<(), DynamicError> {
    write(w, ty, value, Mode::Full)
}

/// Reads a body written by [`write_value`] (or by a peer) from `r`.
pub fn read_value(r: &mut CdrReader<'_>, ty: &DynamicType) -> Result<DynamicValue, DynamicError> {
    read(r, ty, Mode::Full)
}

/// The key-hash input: key members serialized big-endian in `version`, without headers.
pub fn key_bytes(ty: &DynamicType, value: &DynamicValue, version: XcdrVersion) -> Result<Vec<u8>, DynamicError> {
    let mut buf = Vec::new();
    if ty.is_keyed() {
        let mut w = CdrWriter::new(&mut buf, version, Endian::Big);
        write(&mut w, ty, value, Mode::KeyPlain)?;
    }
    Ok(buf)
}

/// The RTPS key hash of `value` (facts §7): the [`key_bytes`] zero-padded to 16 if their maximum size
/// ([`key_max_size`]) is at most 16, else their MD5. Unkeyed types give all zeros.
pub fn key_hash(ty: &DynamicType, value: &DynamicValue, version: XcdrVersion) -> Result<KeyHash, DynamicError> {
    let mut out = [0u8; 16];
    if !ty.is_keyed() {
        return Ok(KeyHash(out));
    }
    let bytes = key_bytes(ty, value, version)?;
    match key_max_size(ty, version) {
        Some(max) if max <= 16 && bytes.len() <= 16 => out[..bytes.len()].copy_from_slice(&bytes),
        _ => out.copy_from_slice(&Md5::digest(&bytes)),
    }
    Ok(KeyHash(out))
}

/// The maximum size of the [`key_bytes`] of a type in `version`, or `None` if it is unbounded (an unbounded
/// string or sequence, a map or union key) or too large to be worth computing (which also means "> 16").
pub fn key_max_size(ty: &DynamicType, version: XcdrVersion) -> Option<usize> {
    let mut pos = 0usize;
    let mut exact = true;
    max_grow(ty, version, Mode::KeyPlain, &mut pos, &mut exact, 0)?;
    Some(pos)
}

fn align_of(size: usize, version: XcdrVersion) -> usize {
    match version {
        XcdrVersion::V1 => size.clamp(1, 8),
        XcdrVersion::V2 => size.clamp(1, 4),
    }
}

fn max_prim(size: usize, version: XcdrVersion, pos: &mut usize, exact: &mut bool) {
    let a = align_of(size, version);
    if *exact {
        *pos = pos.div_ceil(a) * a;
    } else {
        *pos += a - 1;
    }
    *pos += size;
}

fn max_grow(
    ty: &DynamicType,
    version: XcdrVersion,
    mode: Mode,
    pos: &mut usize,
    exact: &mut bool,
    depth: usize,
) -> Option<()> {
    if depth > 64 || *pos > 4096 {
        return None;
    }
    match ty.resolve() {
        DynamicType::Primitive(p) => max_prim(p.size(), version, pos, exact),
        DynamicType::Enum(e) => max_prim(enum_size(e, version), version, pos, exact),
        DynamicType::Bitmask(b) => max_prim(bitmask_size(b.bit_bound), version, pos, exact),
        DynamicType::Bitset(b) => max_prim(bitmask_size(b.bit_bound), version, pos, exact),
        // Packed BCD: no alignment.
        DynamicType::Fixed { digits, .. } => *pos += usize::from(*digits / 2 + 1),
        DynamicType::String { bound } | DynamicType::WString { bound } => {
            if *bound == 0 {
                return None;
            }
            max_prim(4, version, pos, exact);
            let unit = if matches!(ty.resolve(), DynamicType::WString { .. }) { 2 } else { 1 };
            *pos += *bound as usize * unit + usize::from(unit == 1);
            *exact = false;
        }
        DynamicType::Struct(s) => {
            let members = s.all_members();
            for i in selected(&members, mode) {
                max_grow(&members[i].ty, version, mode, pos, exact, depth + 1)?;
            }
        }
        DynamicType::Array(a) => {
            let n = element_count(&a.dims)?;
            if n > 256 {
                return None;
            }
            for _ in 0..n {
                max_grow(&a.element, version, Mode::Full, pos, exact, depth + 1)?;
            }
        }
        DynamicType::Sequence(s) => {
            if s.bound == 0 || s.bound > 256 {
                return None;
            }
            max_prim(4, version, pos, exact);
            for _ in 0..s.bound {
                max_grow(&s.element, version, Mode::Full, pos, exact, depth + 1)?;
            }
        }
        _ => return None,
    }
    Some(())
}

fn element_count(dims: &[u32]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d as usize))
}

/// Encoded size of an enum in `version`.
pub(crate) fn enum_size(e: &EnumType, version: XcdrVersion) -> usize {
    match version {
        XcdrVersion::V1 => 4,
        XcdrVersion::V2 => match e.bit_bound {
            0..=8 => 1,
            9..=16 => 2,
            _ => 4,
        },
    }
}

/// Encoded size of a bitmask or a bitset of `bit_bound` bits.
pub(crate) fn bitmask_size(bit_bound: u16) -> usize {
    match bit_bound {
        0..=8 => 1,
        9..=16 => 2,
        17..=32 => 4,
        _ => 8,
    }
}

/// Indices of the members a mode covers: all, or the key members (all if there are none).
fn selected(members: &[&StructMember], mode: Mode) -> Vec<usize> {
    let keys: Vec<usize> = members.iter().enumerate().filter(|(_, m)| m.key).map(|(i, _)| i).collect();
    if mode == Mode::Full || keys.is_empty() {
        (0..members.len()).collect()
    } else {
        keys
    }
}

fn mismatch(ty: &DynamicType, v: &DynamicValue) -> DynamicError {
    DynamicError::Mismatch { expected: ty.describe(), found: v.kind_name() }
}

/// The EMHEADER length code Cyclone uses for a member of this type.
fn length_code(ty: &DynamicType, version: XcdrVersion) -> u32 {
    let size_lc = |n: usize| match n {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => 4,
    };
    match ty.resolve() {
        DynamicType::Primitive(p) => size_lc(p.size()),
        DynamicType::Enum(e) => size_lc(enum_size(e, version)),
        DynamicType::Bitmask(b) => size_lc(bitmask_size(b.bit_bound)),
        // A bitset is no primitive: NEXTINT, like the generated code.
        DynamicType::String { .. } | DynamicType::WString { .. } => 5,
        DynamicType::Sequence(s) if s.element.is_primitive_like() => match prim_like_size(&s.element, version) {
            1 => 5,
            4 => 6,
            8 => 7,
            _ => 4,
        },
        DynamicType::Sequence(_) => 5,
        DynamicType::Array(a) if !a.element.is_primitive_like() => 5,
        _ => 4,
    }
}

fn prim_like_size(ty: &DynamicType, version: XcdrVersion) -> usize {
    match ty.resolve() {
        DynamicType::Primitive(p) => p.size(),
        DynamicType::Enum(e) => enum_size(e, version),
        DynamicType::Bitmask(b) => bitmask_size(b.bit_bound),
        _ => 0,
    }
}

fn write(w: &mut CdrWriter<'_>, ty: &DynamicType, v: &DynamicValue, mode: Mode) -> Result<(), DynamicError> {
    match ty.resolve() {
        DynamicType::Primitive(p) => write_prim(w, *p, v).ok_or_else(|| mismatch(ty, v)),
        DynamicType::String { bound } => match v {
            DynamicValue::String(s) => Ok(w.bounded_string(s, bound_or_max(*bound))?),
            _ => Err(mismatch(ty, v)),
        },
        DynamicType::WString { bound } => match v {
            DynamicValue::WString(s) => {
                let units: Vec<u16> = s.encode_utf16().collect();
                if *bound != 0 && units.len() > *bound as usize {
                    return Err(CdrError::BoundExceeded { len: units.len(), bound: *bound as usize }.into());
                }
                w.seq_len(units.len() * 2);
                for u in units {
                    w.u16(u);
                }
                Ok(())
            }
            _ => Err(mismatch(ty, v)),
        },
        DynamicType::Enum(e) => match v {
            DynamicValue::Enum(x) => {
                if e.by_value(*x).is_none() {
                    return Err(CdrError::InvalidEnum(*x as u32).into());
                }
                write_enum(w, e, *x);
                Ok(())
            }
            _ => Err(mismatch(ty, v)),
        },
        DynamicType::Bitmask(b) => match v {
            DynamicValue::Bitmask(x) => {
                match bitmask_size(b.bit_bound) {
                    1 => w.u8(*x as u8),
                    2 => w.u16(*x as u16),
                    4 => w.u32(*x as u32),
                    _ => w.u64(*x),
                }
                Ok(())
            }
            _ => Err(mismatch(ty, v)),
        },
        DynamicType::Bitset(b) => match v {
            DynamicValue::Bitset(x) => {
                match bitmask_size(b.bit_bound) {
                    1 => w.u8(*x as u8),
                    2 => w.u16(*x as u16),
                    4 => w.u32(*x as u32),
                    _ => w.u64(*x),
                }
                Ok(())
            }
            _ => Err(mismatch(ty, v)),
        },
        DynamicType::Fixed { digits, .. } => match v {
            DynamicValue::Fixed(x) => Ok(crate::cdr::fixed::write_fixed_bcd(w, *x, u32::from(*digits))?),
            _ => Err(mismatch(ty, v)),
        },
        DynamicType::Struct(s) => write_struct(w, s, v, mode),
        DynamicType::Union(u) => write_union(w, u, v),
        DynamicType::Sequence(s) => {
            let DynamicValue::Sequence(items) = v else { return Err(mismatch(ty, v)) };
            if s.bound != 0 && items.len() > s.bound as usize {
                return Err(CdrError::BoundExceeded { len: items.len(), bound: s.bound as usize }.into());
            }
            let d = (!s.element.is_primitive_like()).then(|| w.begin_dheader());
            w.seq_len(items.len());
            for item in items {
                write(w, &s.element, item, Mode::Full)?;
            }
            if let Some(d) = d {
                w.end_dheader(d);
            }
            Ok(())
        }
        DynamicType::Array(a) => {
            let DynamicValue::Array(items) = v else { return Err(mismatch(ty, v)) };
            let n = element_count(&a.dims).ok_or_else(|| DynamicError::Unsupported("array too large".into()))?;
            if items.len() != n {
                return Err(DynamicError::ArrayLength { expected: n, found: items.len() });
            }
            let d = (!a.element.is_primitive_like()).then(|| w.begin_dheader());
            for item in items {
                write(w, &a.element, item, Mode::Full)?;
            }
            if let Some(d) = d {
                w.end_dheader(d);
            }
            Ok(())
        }
        DynamicType::Map(m) => {
            let DynamicValue::Map(items) = v else { return Err(mismatch(ty, v)) };
            if m.bound != 0 && items.len() > m.bound as usize {
                return Err(CdrError::BoundExceeded { len: items.len(), bound: m.bound as usize }.into());
            }
            let plain = m.key.is_primitive_like() && m.value.is_primitive_like();
            let d = (!plain).then(|| w.begin_dheader());
            w.seq_len(items.len());
            for (k, val) in items {
                write(w, &m.key, k, Mode::Full)?;
                write(w, &m.value, val, Mode::Full)?;
            }
            if let Some(d) = d {
                w.end_dheader(d);
            }
            Ok(())
        }
        DynamicType::Alias(_) => Err(DynamicError::Unsupported("alias did not resolve".into())),
    }
}

fn bound_or_max(bound: u32) -> usize {
    if bound == 0 {
        usize::MAX
    } else {
        bound as usize
    }
}

fn write_prim(w: &mut CdrWriter<'_>, p: PrimitiveKind, v: &DynamicValue) -> Option<()> {
    use PrimitiveKind as P;
    match (p, v) {
        (P::Bool, DynamicValue::Bool(x)) => w.bool(*x),
        (P::Byte, DynamicValue::Byte(x)) | (P::UInt8, DynamicValue::UInt8(x)) | (P::Char8, DynamicValue::Char8(x)) => {
            w.u8(*x)
        }
        (P::Int8, DynamicValue::Int8(x)) => w.i8(*x),
        (P::Char16, DynamicValue::Char16(x)) | (P::UInt16, DynamicValue::UInt16(x)) => w.u16(*x),
        (P::Int16, DynamicValue::Int16(x)) => w.i16(*x),
        (P::Int32, DynamicValue::Int32(x)) => w.i32(*x),
        (P::UInt32, DynamicValue::UInt32(x)) => w.u32(*x),
        (P::Int64, DynamicValue::Int64(x)) => w.i64(*x),
        (P::UInt64, DynamicValue::UInt64(x)) => w.u64(*x),
        (P::Float32, DynamicValue::Float32(x)) => w.f32(*x),
        (P::Float64, DynamicValue::Float64(x)) => w.f64(*x),
        (P::Float128, DynamicValue::Float128(x)) => {
            w.align(8);
            let b = match w.endian() {
                Endian::Big => x.to_be_bytes(),
                Endian::Little => x.to_le_bytes(),
            };
            w.bytes(&b);
        }
        _ => return None,
    }
    Some(())
}

fn write_enum(w: &mut CdrWriter<'_>, e: &EnumType, x: i32) {
    match enum_size(e, w.version()) {
        1 => w.u8(x as u8),
        2 => w.u16(x as u16),
        _ => w.i32(x),
    }
}

fn write_struct(w: &mut CdrWriter<'_>, s: &StructType, v: &DynamicValue, mode: Mode) -> Result<(), DynamicError> {
    let DynamicValue::Struct(fields) = v else {
        return Err(DynamicError::Mismatch { expected: format!("struct {}", s.name), found: v.kind_name() });
    };
    let members = s.all_members();
    if fields.len() != members.len() {
        return Err(DynamicError::MemberCount { name: s.name.clone(), expected: members.len(), found: fields.len() });
    }
    let sel = selected(&members, mode);
    if mode == Mode::KeyPlain {
        for i in sel {
            let m = members[i];
            let f = fields[i].as_ref().ok_or_else(|| DynamicError::MissingMember(m.name.clone()))?;
            write(w, &m.ty, f, mode)?;
        }
        return Ok(());
    }
    match s.extensibility {
        Extensibility::Final | Extensibility::Appendable => {
            let d = (s.extensibility == Extensibility::Appendable).then(|| w.begin_dheader());
            for i in sel {
                let m = members[i];
                match (&fields[i], m.optional) {
                    (Some(f), false) => write(w, &m.ty, f, mode)?,
                    (None, false) => return Err(DynamicError::MissingMember(m.name.clone())),
                    (f, true) => match w.version() {
                        XcdrVersion::V2 => {
                            w.bool(f.is_some());
                            if let Some(f) = f {
                                write(w, &m.ty, f, mode)?;
                            }
                        }
                        XcdrVersion::V1 => {
                            let t = w.begin_member_extended(m.id, m.must_understand);
                            if let Some(f) = f {
                                write(w, &m.ty, f, mode)?;
                            }
                            w.end_member(t);
                        }
                    },
                }
            }
            if let Some(d) = d {
                w.end_dheader(d);
            }
        }
        Extensibility::Mutable => {
            let d = w.begin_dheader();
            for i in sel {
                let m = members[i];
                let Some(f) = &fields[i] else {
                    if m.optional {
                        continue;
                    }
                    return Err(DynamicError::MissingMember(m.name.clone()));
                };
                let t = w.begin_member_extended(m.id, m.must_understand);
                write(w, &m.ty, f, mode)?;
                let lc = length_code(&m.ty, w.version());
                w.end_member_lc(t, lc);
            }
            if w.version() == XcdrVersion::V1 {
                w.align(4);
                w.u16(PL_LIST_END_MU);
                w.u16(0);
            }
            w.end_dheader(d);
        }
    }
    Ok(())
}

fn write_discriminator(w: &mut CdrWriter<'_>, ty: &DynamicType, d: i64) -> Result<(), DynamicError> {
    use PrimitiveKind as P;
    let bad = || DynamicError::Discriminator(d);
    match ty.resolve() {
        DynamicType::Enum(e) => {
            let x = i32::try_from(d).map_err(|_| bad())?;
            write_enum(w, e, x);
        }
        DynamicType::Primitive(p) => match p {
            P::Bool => w.bool(match d {
                0 => false,
                1 => true,
                _ => return Err(bad()),
            }),
            P::Byte | P::UInt8 | P::Char8 => w.u8(u8::try_from(d).map_err(|_| bad())?),
            P::Int8 => w.i8(i8::try_from(d).map_err(|_| bad())?),
            P::Int16 => w.i16(i16::try_from(d).map_err(|_| bad())?),
            P::UInt16 | P::Char16 => w.u16(u16::try_from(d).map_err(|_| bad())?),
            P::Int32 => w.i32(i32::try_from(d).map_err(|_| bad())?),
            P::UInt32 => w.u32(u32::try_from(d).map_err(|_| bad())?),
            P::Int64 => w.i64(d),
            P::UInt64 => w.u64(d as u64),
            _ => return Err(DynamicError::Unsupported(format!("{} discriminator", p.idl_name()))),
        },
        other => return Err(DynamicError::Unsupported(format!("{} discriminator", other.describe()))),
    }
    Ok(())
}

fn read_discriminator(r: &mut CdrReader<'_>, ty: &DynamicType) -> Result<i64, DynamicError> {
    use PrimitiveKind as P;
    Ok(match ty.resolve() {
        DynamicType::Enum(e) => read_enum(r, e)?.into(),
        DynamicType::Primitive(p) => match p {
            P::Bool => r.bool()?.into(),
            P::Byte | P::UInt8 | P::Char8 => r.u8()?.into(),
            P::Int8 => r.i8()?.into(),
            P::Int16 => r.i16()?.into(),
            P::UInt16 | P::Char16 => r.u16()?.into(),
            P::Int32 => r.i32()?.into(),
            P::UInt32 => r.u32()?.into(),
            P::Int64 => r.i64()?,
            P::UInt64 => r.u64()? as i64,
            _ => return Err(DynamicError::Unsupported(format!("{} discriminator", p.idl_name()))),
        },
        other => return Err(DynamicError::Unsupported(format!("{} discriminator", other.describe()))),
    })
}

fn write_union(w: &mut CdrWriter<'_>, u: &UnionType, v: &DynamicValue) -> Result<(), DynamicError> {
    let DynamicValue::Union { discriminator, value } = v else {
        return Err(DynamicError::Mismatch { expected: format!("union {}", u.name), found: v.kind_name() });
    };
    let case = u.case_for(*discriminator);
    let branch = match (case, value) {
        (Some((_, c)), Some(val)) => Some((c, val.as_ref())),
        (None, _) => None,
        (Some((_, c)), None) => return Err(DynamicError::MissingMember(c.name.clone())),
    };
    match u.extensibility {
        Extensibility::Final | Extensibility::Appendable => {
            let d = (u.extensibility == Extensibility::Appendable).then(|| w.begin_dheader());
            write_discriminator(w, &u.discriminator, *discriminator)?;
            if let Some((c, val)) = branch {
                write(w, &c.ty, val, Mode::Full)?;
            }
            if let Some(d) = d {
                w.end_dheader(d);
            }
        }
        Extensibility::Mutable => {
            let d = w.begin_dheader();
            let t = w.begin_member_extended(0, true);
            write_discriminator(w, &u.discriminator, *discriminator)?;
            let lc = length_code(&u.discriminator, w.version());
            w.end_member_lc(t, lc);
            if let Some((c, val)) = branch {
                let t = w.begin_member_extended(c.id, false);
                write(w, &c.ty, val, Mode::Full)?;
                let lc = length_code(&c.ty, w.version());
                w.end_member_lc(t, lc);
            }
            if w.version() == XcdrVersion::V1 {
                w.align(4);
                w.u16(PL_LIST_END_MU);
                w.u16(0);
            }
            w.end_dheader(d);
        }
    }
    Ok(())
}

/// A lower bound on the encoded size of a value of this type, at least 1 (used to reject impossible
/// element counts before allocating).
fn min_size(ty: &DynamicType) -> usize {
    match ty.resolve() {
        DynamicType::Primitive(p) => p.size(),
        DynamicType::String { .. } | DynamicType::WString { .. } | DynamicType::Sequence(_) | DynamicType::Map(_) => 4,
        _ => 1,
    }
}

fn read(r: &mut CdrReader<'_>, ty: &DynamicType, mode: Mode) -> Result<DynamicValue, DynamicError> {
    match ty.resolve() {
        DynamicType::Primitive(p) => read_prim(r, *p),
        DynamicType::String { bound } => Ok(DynamicValue::String(r.bounded_string(bound_or_max(*bound))?)),
        DynamicType::WString { bound } => {
            let n = r.u32()? as usize;
            if n % 2 != 0 || n > r.remaining() {
                return Err(CdrError::Invalid("bad wstring length").into());
            }
            if *bound != 0 && n / 2 > *bound as usize {
                return Err(CdrError::BoundExceeded { len: n / 2, bound: *bound as usize }.into());
            }
            let mut units = Vec::with_capacity(n / 2);
            for _ in 0..n / 2 {
                units.push(r.u16()?);
            }
            Ok(DynamicValue::WString(String::from_utf16(&units).map_err(|_| CdrError::InvalidUtf8)?))
        }
        DynamicType::Enum(e) => Ok(DynamicValue::Enum(read_enum(r, e)?)),
        DynamicType::Bitmask(b) => Ok(DynamicValue::Bitmask(match bitmask_size(b.bit_bound) {
            1 => r.u8()?.into(),
            2 => r.u16()?.into(),
            4 => r.u32()?.into(),
            _ => r.u64()?,
        })),
        DynamicType::Bitset(b) => Ok(DynamicValue::Bitset(match bitmask_size(b.bit_bound) {
            1 => r.u8()?.into(),
            2 => r.u16()?.into(),
            4 => r.u32()?.into(),
            _ => r.u64()?,
        })),
        DynamicType::Fixed { digits, .. } => {
            Ok(DynamicValue::Fixed(crate::cdr::fixed::read_fixed_bcd(r, u32::from(*digits))?))
        }
        DynamicType::Struct(s) => read_struct(r, s, mode),
        DynamicType::Union(u) => read_union(r, u),
        DynamicType::Sequence(s) => {
            let primitive = s.element.is_primitive_like() || r.version() == XcdrVersion::V1;
            let mut sub = if primitive { r.clone() } else { r.dheader()? };
            let n = sub.seq_len(min_size(&s.element))?;
            if s.bound != 0 && n > s.bound as usize {
                return Err(CdrError::BoundExceeded { len: n, bound: s.bound as usize }.into());
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(read(&mut sub, &s.element, Mode::Full)?);
            }
            finish_sub(r, sub, primitive);
            Ok(DynamicValue::Sequence(items))
        }
        DynamicType::Array(a) => {
            let primitive = a.element.is_primitive_like() || r.version() == XcdrVersion::V1;
            let mut sub = if primitive { r.clone() } else { r.dheader()? };
            let n = element_count(&a.dims).filter(|n| *n <= MAX_ARRAY_ELEMENTS).ok_or(CdrError::Truncated)?;
            if n.checked_mul(min_size(&a.element)).is_none_or(|need| need > sub.remaining()) {
                return Err(CdrError::Truncated.into());
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(read(&mut sub, &a.element, Mode::Full)?);
            }
            finish_sub(r, sub, primitive);
            Ok(DynamicValue::Array(items))
        }
        DynamicType::Map(m) => {
            let primitive =
                (m.key.is_primitive_like() && m.value.is_primitive_like()) || r.version() == XcdrVersion::V1;
            let mut sub = if primitive { r.clone() } else { r.dheader()? };
            let n = sub.seq_len(min_size(&m.key) + min_size(&m.value))?;
            if m.bound != 0 && n > m.bound as usize {
                return Err(CdrError::BoundExceeded { len: n, bound: m.bound as usize }.into());
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let k = read(&mut sub, &m.key, Mode::Full)?;
                let v = read(&mut sub, &m.value, Mode::Full)?;
                items.push((k, v));
            }
            finish_sub(r, sub, primitive);
            Ok(DynamicValue::Map(items))
        }
        DynamicType::Alias(_) => Err(DynamicError::Unsupported("alias did not resolve".into())),
    }
}

/// Continues `r` after a collection read either in place (a clone of `r`) or through a DHEADER sub-reader.
fn finish_sub<'a>(r: &mut CdrReader<'a>, sub: CdrReader<'a>, in_place: bool) {
    if in_place {
        *r = sub;
    } else {
        r.skip_to_end_of(&sub);
    }
}

fn read_prim(r: &mut CdrReader<'_>, p: PrimitiveKind) -> Result<DynamicValue, DynamicError> {
    use PrimitiveKind as P;
    Ok(match p {
        P::Bool => DynamicValue::Bool(r.bool()?),
        P::Byte => DynamicValue::Byte(r.u8()?),
        P::Char8 => DynamicValue::Char8(r.u8()?),
        P::Char16 => DynamicValue::Char16(r.u16()?),
        P::Int8 => DynamicValue::Int8(r.i8()?),
        P::UInt8 => DynamicValue::UInt8(r.u8()?),
        P::Int16 => DynamicValue::Int16(r.i16()?),
        P::UInt16 => DynamicValue::UInt16(r.u16()?),
        P::Int32 => DynamicValue::Int32(r.i32()?),
        P::UInt32 => DynamicValue::UInt32(r.u32()?),
        P::Int64 => DynamicValue::Int64(r.i64()?),
        P::UInt64 => DynamicValue::UInt64(r.u64()?),
        P::Float32 => DynamicValue::Float32(r.f32()?),
        P::Float64 => DynamicValue::Float64(r.f64()?),
        P::Float128 => {
            r.align(8)?;
            let b = r.bytes(16)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            DynamicValue::Float128(match r.endian() {
                Endian::Big => u128::from_be_bytes(a),
                Endian::Little => u128::from_le_bytes(a),
            })
        }
    })
}

fn read_enum(r: &mut CdrReader<'_>, e: &EnumType) -> Result<i32, DynamicError> {
    let x = match enum_size(e, r.version()) {
        1 => i32::from(r.u8()?),
        2 => i32::from(r.u16()?),
        _ => r.i32()?,
    };
    if e.by_value(x).is_none() {
        return Err(CdrError::InvalidEnum(x as u32).into());
    }
    Ok(x)
}

fn read_struct(r: &mut CdrReader<'_>, s: &StructType, mode: Mode) -> Result<DynamicValue, DynamicError> {
    let members = s.all_members();
    let sel = selected(&members, mode);
    let mut fields: Vec<Option<DynamicValue>> =
        members.iter().map(|m| if m.optional { None } else { Some(DynamicValue::default_for(&m.ty)) }).collect();
    match s.extensibility {
        Extensibility::Final | Extensibility::Appendable => {
            let appendable_v2 = s.extensibility == Extensibility::Appendable && r.version() == XcdrVersion::V2;
            let mut sub = if appendable_v2 { r.dheader()? } else { r.clone() };
            for i in sel {
                if appendable_v2 && sub.remaining() == 0 {
                    break; // older writer: missing trailing members keep their defaults
                }
                let m = members[i];
                fields[i] =
                    if m.optional { read_optional(&mut sub, m, mode)? } else { Some(read(&mut sub, &m.ty, mode)?) };
            }
            finish_sub(r, sub, !appendable_v2);
        }
        Extensibility::Mutable => {
            let v2 = r.version() == XcdrVersion::V2;
            let mut sub = if v2 { r.dheader()? } else { r.clone() };
            while let Some((id, must_understand, mut body)) = sub.next_member()? {
                match sel.iter().find(|&&i| members[i].id == id) {
                    Some(&i) => fields[i] = Some(read(&mut body, &members[i].ty, mode)?),
                    // XCDR1 PID_EXTENDED headers always carry the M flag (Cyclone sets it on every member), so
                    // it only means "must understand" in XCDR2.
                    None if must_understand && v2 && !members.iter().any(|m| m.id == id) => {
                        return Err(CdrError::UnknownMember(id).into())
                    }
                    None => {}
                }
            }
            finish_sub(r, sub, !v2);
        }
    }
    Ok(DynamicValue::Struct(fields))
}

fn read_optional(r: &mut CdrReader<'_>, m: &StructMember, mode: Mode) -> Result<Option<DynamicValue>, DynamicError> {
    match r.version() {
        XcdrVersion::V2 => {
            if r.bool()? {
                Ok(Some(read(r, &m.ty, mode)?))
            } else {
                Ok(None)
            }
        }
        XcdrVersion::V1 => match r.next_member()? {
            None => Err(CdrError::Invalid("optional member header missing").into()),
            Some((_, _, body)) if body.remaining() == 0 => Ok(None),
            Some((_, _, mut body)) => Ok(Some(read(&mut body, &m.ty, mode)?)),
        },
    }
}

fn read_union(r: &mut CdrReader<'_>, u: &UnionType) -> Result<DynamicValue, DynamicError> {
    match u.extensibility {
        Extensibility::Final | Extensibility::Appendable => {
            let v2 = u.extensibility == Extensibility::Appendable && r.version() == XcdrVersion::V2;
            let mut sub = if v2 { r.dheader()? } else { r.clone() };
            let discriminator = read_discriminator(&mut sub, &u.discriminator)?;
            let value = match u.case_for(discriminator) {
                Some((_, c)) => Some(Box::new(read(&mut sub, &c.ty, Mode::Full)?)),
                None => None,
            };
            finish_sub(r, sub, !v2);
            Ok(DynamicValue::Union { discriminator, value })
        }
        Extensibility::Mutable => {
            let v2 = r.version() == XcdrVersion::V2;
            let mut sub = if v2 { r.dheader()? } else { r.clone() };
            let Some((_, _, mut body)) = sub.next_member()? else {
                return Err(CdrError::Invalid("mutable union without discriminator").into());
            };
            let discriminator = read_discriminator(&mut body, &u.discriminator)?;
            let mut value = None;
            if let Some((_, c)) = u.case_for(discriminator) {
                if let Some((_, _, mut body)) = sub.next_member()? {
                    value = Some(Box::new(read(&mut body, &c.ty, Mode::Full)?));
                }
            }
            if !v2 {
                // Skip to PID_LIST_END.
                while sub.next_member()?.is_some() {}
            }
            finish_sub(r, sub, !v2);
            let value = match (u.case_for(discriminator), value) {
                (Some((_, c)), None) => Some(Box::new(DynamicValue::default_for(&c.ty))),
                (_, v) => v,
            };
            Ok(DynamicValue::Union { discriminator, value })
        }
    }
}

/// The members of a struct that [`decode_projected`] decodes: indices into
/// [`StructType::all_members`], each with the projection of its own members when it is a struct itself
/// (`None`: the whole member).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    /// Member index and its sub-projection.
    pub members: Vec<(usize, Option<Projection>)>,
}

/// Decodes only the members `projection` names, as a content filter needs: the others keep their default
/// values (absent for `@optional`), and are stepped over without being built (strings and sequences of
/// primitives are skipped by their length). For a type that is not a struct, decodes everything.
pub fn decode_projected(
    ty: &DynamicType,
    payload: &[u8],
    projection: &Projection,
) -> Result<DynamicValue, DynamicError> {
    let (encap, _options, body) = split_encapsulation(payload)?;
    let mut r = CdrReader::new(body, encap.version(), encap.endian());
    read_projected(&mut r, ty, projection, true)
}

/// Reads a struct, decoding only the projected members. `outermost`: nothing follows the struct, so reading may
/// stop after the last projected member.
fn read_projected(
    r: &mut CdrReader<'_>,
    ty: &DynamicType,
    p: &Projection,
    outermost: bool,
) -> Result<DynamicValue, DynamicError> {
    let DynamicType::Struct(s) = ty.resolve() else { return read(r, ty, Mode::Full) };
    let members = s.all_members();
    let mut fields: Vec<Option<DynamicValue>> =
        members.iter().map(|m| if m.optional { None } else { Some(DynamicValue::default_for(&m.ty)) }).collect();
    let wanted = |i: usize| p.members.iter().find(|(j, _)| *j == i).map(|(_, sub)| sub.as_ref());
    let read_member = |r: &mut CdrReader<'_>, m: &StructMember, sub: Option<&Projection>| match sub {
        Some(sub) => read_projected(r, &m.ty, sub, false),
        None => read(r, &m.ty, Mode::Full),
    };
    match s.extensibility {
        Extensibility::Final | Extensibility::Appendable => {
            let appendable_v2 = s.extensibility == Extensibility::Appendable && r.version() == XcdrVersion::V2;
            let mut sub = if appendable_v2 { r.dheader()? } else { r.clone() };
            let last = p.members.iter().map(|(i, _)| *i).max();
            for (i, m) in members.iter().enumerate() {
                if appendable_v2 && sub.remaining() == 0 {
                    break;
                }
                // Past the last member wanted: stop, unless the caller must continue after this struct.
                if (outermost || appendable_v2) && last.is_none_or(|l| i > l) {
                    break;
                }
                match wanted(i) {
                    Some(proj) if m.optional => {
                        fields[i] = match r.version() {
                            XcdrVersion::V2 => {
                                if sub.bool()? {
                                    Some(read_member(&mut sub, m, proj)?)
                                } else {
                                    None
                                }
                            }
                            XcdrVersion::V1 => read_optional(&mut sub, m, Mode::Full)?,
                        }
                    }
                    Some(proj) => fields[i] = Some(read_member(&mut sub, m, proj)?),
                    None if m.optional => {
                        read_optional(&mut sub, m, Mode::Full)?;
                    }
                    None => skip(&mut sub, &m.ty)?,
                }
            }
            if appendable_v2 {
                r.skip_to_end_of(&sub);
            } else if !outermost {
                *r = sub;
            }
        }
        Extensibility::Mutable => {
            let v2 = r.version() == XcdrVersion::V2;
            let mut sub = if v2 { r.dheader()? } else { r.clone() };
            while let Some((id, _, mut body)) = sub.next_member()? {
                if let Some((i, m)) = members.iter().enumerate().find(|(_, m)| m.id == id) {
                    if let Some(proj) = wanted(i) {
                        fields[i] = Some(read_member(&mut body, m, proj)?);
                    }
                }
            }
            finish_sub(r, sub, !v2);
        }
    }
    Ok(DynamicValue::Struct(fields))
}

/// Steps over a value without building it where that is cheap (primitives, strings, sequences of primitives);
/// anything else is read and dropped.
fn skip(r: &mut CdrReader<'_>, ty: &DynamicType) -> Result<(), DynamicError> {
    match ty.resolve() {
        DynamicType::Primitive(p) if *p != PrimitiveKind::Float128 => {
            r.align(p.size())?;
            r.bytes(p.size())?;
        }
        DynamicType::String { .. } => {
            let n = r.u32()? as usize;
            r.bytes(n)?;
        }
        DynamicType::Sequence(s) => match s.element.resolve() {
            DynamicType::Primitive(p) if *p != PrimitiveKind::Float128 => {
                let n = r.u32()? as usize;
                if n > 0 {
                    r.align(p.size())?;
                    r.bytes(n.checked_mul(p.size()).ok_or(CdrError::Truncated)?)?;
                }
            }
            _ => {
                read(r, ty, Mode::Full)?;
            }
        },
        _ => {
            read(r, ty, Mode::Full)?;
        }
    }
    Ok(())
}
