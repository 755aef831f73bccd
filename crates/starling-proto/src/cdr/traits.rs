//! [`CdrSerialize`]: the per-value codec that generated (IDL-compiled) types implement, with implementations for
//! the primitive types, `String`, `Vec<T>`, `[T; N]` and `Option<T>`, plus helpers for IDL types that
//! [`CdrWriter`] / [`CdrReader`] do not cover directly (`wstring`, `long double`).

use super::encapsulation::XcdrVersion;
use super::error::CdrError;
use super::reader::CdrReader;
use super::writer::CdrWriter;
use crate::wire::Endian;

/// A value that can be written to and read from a CDR stream on its own (as a member of a larger type).
///
/// Generated types implement it; [`TopicType`](super::TopicType) implementations of generated structs delegate
/// to it. The key methods default to the full encoding, which is right for primitives and strings.
pub trait CdrSerialize: Sized {
    /// True for types XCDR2 treats as primitive in collections (no DHEADER in front of a sequence/array of
    /// them): integers, floats, booleans, characters, enums and bitmasks.
    const CDR_PRIMITIVE: bool = false;

    /// Writes the value (including its own DHEADER/EMHEADERs, according to `w.version()`).
    fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError>;

    /// Reads a value written by [`write_cdr`](Self::write_cdr).
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError>;

    /// Writes the key members only, plain (no headers), in declaration order: the key-hash input.
    /// Types with no key members write everything.
    fn write_cdr_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        self.write_cdr(w)
    }

    /// The largest stream offset [`write_cdr_key`](Self::write_cdr_key) can end at when it starts at
    /// `offset`, or `None` if unbounded.
    fn cdr_key_max_end(version: XcdrVersion, offset: usize) -> Option<usize>;

    /// Writes the KeyHolder form: the type's own framing with only the key members.
    fn write_cdr_key_holder(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        self.write_cdr(w)
    }

    /// Reads the KeyHolder form: key members set, everything else default.
    fn read_cdr_key_holder(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Self::read_cdr(r)
    }
}

/// Rounds `offset` up to the alignment of a primitive of `size` bytes in `version`.
pub fn align_offset(version: XcdrVersion, offset: usize, size: usize) -> usize {
    let a = match version {
        XcdrVersion::V1 => size.max(1),
        XcdrVersion::V2 => size.clamp(1, 4),
    };
    offset.div_ceil(a) * a
}

macro_rules! prim_impl {
    ($($t:ty, $w:ident, $size:expr;)*) => {
        $(
            impl CdrSerialize for $t {
                const CDR_PRIMITIVE: bool = true;
                fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
                    w.$w(*self);
                    Ok(())
                }
                fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
                    r.$w()
                }
                fn cdr_key_max_end(version: XcdrVersion, offset: usize) -> Option<usize> {
                    Some(align_offset(version, offset, $size) + $size)
                }
            }
        )*
    };
}

prim_impl! {
    bool, bool, 1;
    u8, u8, 1;
    i8, i8, 1;
    u16, u16, 2;
    i16, i16, 2;
    u32, u32, 4;
    i32, i32, 4;
    u64, u64, 8;
    i64, i64, 8;
    f32, f32, 4;
    f64, f64, 8;
}

impl CdrSerialize for String {
    fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        w.string(self);
        Ok(())
    }
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        r.string()
    }
    fn cdr_key_max_end(_version: XcdrVersion, _offset: usize) -> Option<usize> {
        None
    }
}

impl<T: CdrSerialize> CdrSerialize for Vec<T> {
    fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        let d = (!T::CDR_PRIMITIVE).then(|| w.begin_dheader());
        w.seq_len(self.len());
        for v in self {
            v.write_cdr(w)?;
        }
        if let Some(d) = d {
            w.end_dheader(d);
        }
        Ok(())
    }
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        if T::CDR_PRIMITIVE {
            read_seq(r, 1, T::read_cdr)
        } else {
            read_delimited(r, |r| read_seq(r, 1, T::read_cdr))
        }
    }
    fn write_cdr_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        w.seq_len(self.len());
        self.iter().try_for_each(|v| v.write_cdr_key(w))
    }
    fn cdr_key_max_end(_version: XcdrVersion, _offset: usize) -> Option<usize> {
        None
    }
}

impl<T: CdrSerialize, const N: usize> CdrSerialize for [T; N] {
    fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        let d = (!T::CDR_PRIMITIVE).then(|| w.begin_dheader());
        for v in self {
            v.write_cdr(w)?;
        }
        if let Some(d) = d {
            w.end_dheader(d);
        }
        Ok(())
    }
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let read_all = |r: &mut CdrReader<'_>| -> Result<Self, CdrError> {
            let v = (0..N).map(|_| T::read_cdr(r)).collect::<Result<Vec<T>, CdrError>>()?;
            v.try_into().map_err(|_| CdrError::Invalid("array length"))
        };
        if T::CDR_PRIMITIVE {
            read_all(r)
        } else {
            read_delimited(r, read_all)
        }
    }
    fn write_cdr_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        self.iter().try_for_each(|v| v.write_cdr_key(w))
    }
    fn cdr_key_max_end(version: XcdrVersion, offset: usize) -> Option<usize> {
        (0..N).try_fold(offset, |o, _| T::cdr_key_max_end(version, o))
    }
}

impl<T: CdrSerialize> CdrSerialize for Option<T> {
    /// XCDR2 form of an optional member of a final/appendable type: a boolean, then the value if present.
    fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        w.bool(self.is_some());
        match self {
            Some(v) => v.write_cdr(w),
            None => Ok(()),
        }
    }
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        if r.bool()? {
            T::read_cdr(r).map(Some)
        } else {
            Ok(None)
        }
    }
    fn cdr_key_max_end(_version: XcdrVersion, _offset: usize) -> Option<usize> {
        None
    }
}

impl<T: CdrSerialize> CdrSerialize for Box<T> {
    const CDR_PRIMITIVE: bool = T::CDR_PRIMITIVE;
    fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        (**self).write_cdr(w)
    }
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        T::read_cdr(r).map(Box::new)
    }
    fn write_cdr_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        (**self).write_cdr_key(w)
    }
    fn cdr_key_max_end(version: XcdrVersion, offset: usize) -> Option<usize> {
        T::cdr_key_max_end(version, offset)
    }
    fn write_cdr_key_holder(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        (**self).write_cdr_key_holder(w)
    }
    fn read_cdr_key_holder(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        T::read_cdr_key_holder(r).map(Box::new)
    }
}

/// Reads a sequence length (checking `min_elem_size` bytes per element remain) and then that many elements.
pub fn read_seq<T>(
    r: &mut CdrReader<'_>,
    min_elem_size: usize,
    mut read: impl FnMut(&mut CdrReader<'_>) -> Result<T, CdrError>,
) -> Result<Vec<T>, CdrError> {
    let n = r.seq_len(min_elem_size.max(1))?;
    let mut out = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        out.push(read(r)?);
    }
    Ok(out)
}

/// Reads a DHEADER-delimited value: in XCDR2 `f` reads from a sub-reader limited by the DHEADER and the
/// reader continues after it (skipping unread trailing data); in XCDR1 (no DHEADER) `f` reads from `r` itself.
pub fn read_delimited<'a, T>(
    r: &mut CdrReader<'a>,
    f: impl FnOnce(&mut CdrReader<'a>) -> Result<T, CdrError>,
) -> Result<T, CdrError> {
    match r.version() {
        XcdrVersion::V1 => f(r),
        XcdrVersion::V2 => {
            let mut body = r.dheader()?;
            let v = f(&mut body)?;
            r.skip_to_end_of(&body);
            Ok(v)
        }
    }
}

/// Reads the members of a mutable type: XCDR2 EMHEADER members inside a DHEADER, or XCDR1 PL_CDR members up to
/// PID_LIST_END. `f` gets each member id and a reader over its body and returns whether it knew the id;
/// an unknown member flagged must-understand is an error.
pub fn read_mutable_members<'a>(
    r: &mut CdrReader<'a>,
    mut f: impl FnMut(u32, &mut CdrReader<'a>) -> Result<bool, CdrError>,
) -> Result<(), CdrError> {
    read_delimited(r, |body| {
        while let Some((id, must_understand, mut m)) = body.next_member()? {
            if !f(id, &mut m)? && must_understand {
                return Err(CdrError::UnknownMember(id));
            }
        }
        Ok(())
    })
}

/// Ends the members of a mutable type in XCDR1: PID_LIST_END with the must-understand flag (`0x7f02`, length
/// 0), as Cyclone DDS writes it and as the dynamic codec does. No-op in XCDR2.
pub fn end_parameter_list(w: &mut CdrWriter<'_>) {
    if w.version() == XcdrVersion::V1 {
        w.align(4);
        w.u16(0x7f02);
        w.u16(0);
    }
}

/// The "unbounded" answer of [`CdrSerialize::cdr_key_max_end`], for use with `?` in generated code.
pub fn unbounded_key() -> Option<usize> {
    None
}

/// Fails with [`CdrError::BoundExceeded`] if `len > bound`.
pub fn check_bound(len: usize, bound: usize) -> Result<(), CdrError> {
    if len > bound {
        Err(CdrError::BoundExceeded { len, bound })
    } else {
        Ok(())
    }
}

/// Writes a `wstring`: a `uint32` byte count, then UTF-16 code units (no terminator), as XCDR2 specifies.
/// `bound` (if any) limits the number of UTF-16 code units.
pub fn write_wstring(w: &mut CdrWriter<'_>, s: &str, bound: Option<usize>) -> Result<(), CdrError> {
    let units: Vec<u16> = s.encode_utf16().collect();
    if let Some(bound) = bound {
        check_bound(units.len(), bound)?;
    }
    w.seq_len(units.len().saturating_mul(2));
    for u in units {
        w.u16(u);
    }
    Ok(())
}

/// Reads a `wstring` written by [`write_wstring`].
pub fn read_wstring(r: &mut CdrReader<'_>, bound: Option<usize>) -> Result<String, CdrError> {
    let bytes = r.seq_len(1)?;
    if bytes % 2 != 0 {
        return Err(CdrError::Invalid("odd wstring byte count"));
    }
    let n = bytes / 2;
    if let Some(bound) = bound {
        check_bound(n, bound)?;
    }
    let units = (0..n).map(|_| r.u16()).collect::<Result<Vec<u16>, CdrError>>()?;
    String::from_utf16(&units).map_err(|_| CdrError::InvalidUtf8)
}

/// Writes a `wchar` (one UTF-16 code unit).
pub fn write_wchar(w: &mut CdrWriter<'_>, c: u16) {
    w.u16(c);
}

/// Converts an `f64` to IEEE 754 binary128 bits (exact: every `f64` is representable).
fn f64_to_binary128(v: f64) -> u128 {
    let bits = v.to_bits();
    let sign = u128::from(bits >> 63) << 127;
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = u128::from(bits & ((1 << 52) - 1));
    if exp == 0x7ff {
        return sign | (0x7fff << 112) | (frac << 60);
    }
    if exp == 0 {
        if frac == 0 {
            return sign;
        }
        // Subnormal f64: normalize.
        let p = 127 - i64::from(frac.leading_zeros());
        let m = (frac << (112 - p)) & ((1 << 112) - 1);
        let e = (p - 1074 + 16383) as u128;
        return sign | (e << 112) | m;
    }
    let e = (exp - 1023 + 16383) as u128;
    sign | (e << 112) | (frac << 60)
}

/// Converts IEEE 754 binary128 bits to the nearest-below `f64` (truncating extra precision).
fn binary128_to_f64(b: u128) -> f64 {
    let sign = ((b >> 127) as u64) << 63;
    let exp = ((b >> 112) & 0x7fff) as i64;
    let frac = b & ((1u128 << 112) - 1);
    if exp == 0x7fff {
        let f = (frac >> 60) as u64;
        let f = if frac != 0 && f == 0 { 1 } else { f };
        return f64::from_bits(sign | (0x7ff << 52) | f);
    }
    let e = exp - 16383 + 1023;
    if exp == 0 || e <= -53 {
        return f64::from_bits(sign);
    }
    if e <= 0 {
        // f64 subnormal: value = (2^112 + frac) * 2^(exp - 16383 - 112), in units of 2^-1074.
        let shift = 16383 + 112 - 1074 - exp;
        return f64::from_bits(sign | (((1u128 << 112) | frac) >> shift) as u64);
    }
    if e >= 0x7ff {
        return f64::from_bits(sign | (0x7ff << 52));
    }
    f64::from_bits(sign | ((e as u64) << 52) | (frac >> 60) as u64)
}

/// Writes an IDL `long double` (16 bytes, IEEE binary128) from an `f64`; aligned to 8 (XCDR1) or 4 (XCDR2).
pub fn write_long_double(w: &mut CdrWriter<'_>, v: f64) {
    w.align(8);
    let b = f64_to_binary128(v);
    match w.endian() {
        Endian::Big => w.bytes(&b.to_be_bytes()),
        Endian::Little => w.bytes(&b.to_le_bytes()),
    }
}

/// Reads an IDL `long double` into an `f64` (extra precision is truncated).
pub fn read_long_double(r: &mut CdrReader<'_>) -> Result<f64, CdrError> {
    r.align(8)?;
    let raw = r.bytes(16)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(raw);
    let b = match r.endian() {
        Endian::Big => u128::from_be_bytes(a),
        Endian::Little => u128::from_le_bytes(a),
    };
    Ok(binary128_to_f64(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_double_round_trips() {
        for v in [0.0, -0.0, 1.0, -2.5, 1e300, 5e-324, f64::MAX, f64::INFINITY, 3.25e-310] {
            assert_eq!(binary128_to_f64(f64_to_binary128(v)).to_bits(), v.to_bits(), "{v}");
        }
        assert_eq!(f64_to_binary128(1.0), 0x3fff_u128 << 112);
    }

    #[test]
    fn wstring_round_trips() {
        let mut buf = Vec::new();
        let mut w = CdrWriter::new(&mut buf, XcdrVersion::V2, Endian::Little);
        write_wstring(&mut w, "h\u{e9}\u{1f600}", Some(4)).expect("fits");
        assert!(write_wstring(&mut w, "abcde", Some(4)).is_err());
        let mut r = CdrReader::new(&buf, XcdrVersion::V2, Endian::Little);
        assert_eq!(read_wstring(&mut r, None).expect("read"), "h\u{e9}\u{1f600}");
    }
}
