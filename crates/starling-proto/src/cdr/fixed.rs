//! IDL `fixed<D, S>`: a decimal of at most `D` digits, `S` of them after the point.
//!
//! The value is stored exactly as its unscaled integer (`12.34` in a `fixed<5, 2>` is 1234): no binary
//! floating point, and no arithmetic beyond what parsing and printing need.
//!
//! CDR encoding (CORBA 3.4 Part 2 §9.3.2.8, which XCDR keeps for the types it has no rule of its own for):
//! packed BCD, most significant digit first, two digits an octet, no alignment and no byte-order dependence.
//! There are `D / 2 + 1` octets; when `D` is even the first half-octet is zero. The last half-octet is the
//! sign: `0xC` for positive values and zero, `0xD` for negative ones.
//!
//! DDS-XTypes 1.3 defines no TypeKind for `fixed`, so a type holding one has no TypeObject: Starling
//! announces no TypeInformation for it and peers match it by name.

use core::fmt;
use core::str::FromStr;

use super::{CdrError, CdrReader, CdrSerialize, CdrWriter, XcdrVersion};

/// The largest number of digits IDL allows in a `fixed` type.
pub const FIXED_MAX_DIGITS: u32 = 31;

/// Why a decimal does not fit a `fixed<D, S>`.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FixedError {
    /// Not a decimal number (`-12.5`, `7`, `.5`).
    #[error("`{0}` is not a decimal number")]
    Syntax(String),
    /// More digits before the point than `D - S`.
    #[error("{value} has more than {max} digit(s) before the decimal point")]
    TooLarge {
        /// The value as given.
        value: String,
        /// `D - S`.
        max: u32,
    },
    /// More (non-zero) digits after the point than `S`; the value would have to be rounded.
    #[error("{value} has more than {scale} digit(s) after the decimal point")]
    TooPrecise {
        /// The value as given.
        value: String,
        /// `S`.
        scale: u32,
    },
    /// `D` or `S` is out of range (`1 <= D <= 31`, `S <= D`).
    #[error("fixed<{digits}, {scale}> is not a valid fixed-point type")]
    BadType {
        /// Total digits.
        digits: u32,
        /// Fractional digits.
        scale: u32,
    },
}

/// Checks a `fixed<digits, scale>` type.
pub fn check_fixed_type(digits: u32, scale: u32) -> Result<(), FixedError> {
    if digits == 0 || digits > FIXED_MAX_DIGITS || scale > digits {
        return Err(FixedError::BadType { digits, scale });
    }
    Ok(())
}

/// 10^n for n <= 38.
fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// Parses a decimal string into the unscaled value of a `fixed<digits, scale>`.
pub fn parse_fixed(s: &str, digits: u32, scale: u32) -> Result<i128, FixedError> {
    check_fixed_type(digits, scale)?;
    let t = s.trim();
    let t = t.strip_suffix(['d', 'D']).unwrap_or(t);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(FixedError::Syntax(s.to_string()));
    }
    let int = int.trim_start_matches('0');
    let frac_kept = frac.trim_end_matches('0');
    if int.len() > (digits - scale) as usize {
        return Err(FixedError::TooLarge { value: s.to_string(), max: digits - scale });
    }
    if frac_kept.len() > scale as usize {
        return Err(FixedError::TooPrecise { value: s.to_string(), scale });
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac_kept.bytes()) {
        v = v * 10 + i128::from(b - b'0');
    }
    v *= pow10(scale - frac_kept.len() as u32);
    Ok(if neg { -v } else { v })
}

/// Formats the unscaled value of a `fixed<_, scale>`: exactly `scale` digits after the point (none, and no
/// point, when `scale` is 0).
pub fn format_fixed(unscaled: i128, scale: u32) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let mag = unscaled.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{mag}");
    }
    let p = 10u128.pow(scale);
    format!("{sign}{}.{:0width$}", mag / p, mag % p, width = scale as usize)
}

/// Writes the packed-BCD form of `unscaled` (which must have at most `digits` digits).
pub fn write_fixed_bcd(w: &mut CdrWriter<'_>, unscaled: i128, digits: u32) -> Result<(), CdrError> {
    if digits == 0 || digits > FIXED_MAX_DIGITS || unscaled.unsigned_abs() >= 10u128.pow(digits) {
        return Err(CdrError::Invalid("fixed-point value has more digits than its type"));
    }
    let n = (digits / 2 + 1) as usize;
    let mut out = [0u8; 16];
    let mut mag = unscaled.unsigned_abs();
    // Half-octets from the end: the sign, then the digits from the least significant one.
    let mut nibble = 2 * n - 1;
    let put = |out: &mut [u8; 16], k: usize, v: u8| {
        out[k / 2] |= if k % 2 == 0 { v << 4 } else { v };
    };
    put(&mut out, nibble, if unscaled < 0 { 0xd } else { 0xc });
    for _ in 0..digits {
        nibble -= 1;
        put(&mut out, nibble, (mag % 10) as u8);
        mag /= 10;
    }
    w.bytes(&out[..n]);
    Ok(())
}

/// Reads the packed-BCD form of a `fixed<digits, _>` and returns its unscaled value.
pub fn read_fixed_bcd(r: &mut CdrReader<'_>, digits: u32) -> Result<i128, CdrError> {
    if digits == 0 || digits > FIXED_MAX_DIGITS {
        return Err(CdrError::Invalid("bad fixed-point type"));
    }
    let n = (digits / 2 + 1) as usize;
    let b = r.bytes(n)?;
    let nib = |k: usize| if k % 2 == 0 { b[k / 2] >> 4 } else { b[k / 2] & 0xf };
    let sign = nib(2 * n - 1);
    let neg = match sign {
        0xd | 0xb => true,
        0xa | 0xc | 0xe | 0xf => false,
        _ => return Err(CdrError::Invalid("bad fixed-point sign half-octet")),
    };
    let mut v: i128 = 0;
    for k in 0..2 * n - 1 {
        let d = nib(k);
        if d > 9 {
            return Err(CdrError::Invalid("fixed-point digit is not a decimal digit"));
        }
        v = v * 10 + i128::from(d);
    }
    if v >= pow10(digits) {
        return Err(CdrError::Invalid("fixed-point value has more digits than its type"));
    }
    Ok(if neg { -v } else { v })
}

/// IDL `fixed<DIGITS, SCALE>`: an exact decimal stored as its unscaled integer.
///
/// ```
/// use starling_proto::cdr::Fixed;
/// let price: Fixed<5, 2> = "-123.4".parse().unwrap();
/// assert_eq!(price.unscaled(), -12340);
/// assert_eq!(price.to_string(), "-123.40");
/// assert!("1234.5".parse::<Fixed<5, 2>>().is_err()); // 4 integer digits > 5 - 2
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed<const DIGITS: u32, const SCALE: u32>(i128);

impl<const DIGITS: u32, const SCALE: u32> Fixed<DIGITS, SCALE> {
    /// Zero.
    pub const ZERO: Self = Fixed(0);

    /// The value `unscaled / 10^SCALE`; `None` if it has more than `DIGITS` digits.
    pub fn from_unscaled(unscaled: i128) -> Option<Self> {
        (check_fixed_type(DIGITS, SCALE).is_ok() && unscaled.unsigned_abs() < 10u128.pow(DIGITS))
            .then_some(Fixed(unscaled))
    }

    /// The unscaled integer (`12.34` in a `fixed<5, 2>` is 1234).
    pub fn unscaled(self) -> i128 {
        self.0
    }

    /// Total digits (`DIGITS`).
    pub const fn digits() -> u32 {
        DIGITS
    }

    /// Digits after the decimal point (`SCALE`).
    pub const fn scale() -> u32 {
        SCALE
    }
}

impl<const DIGITS: u32, const SCALE: u32> FromStr for Fixed<DIGITS, SCALE> {
    type Err = FixedError;

    fn from_str(s: &str) -> Result<Self, FixedError> {
        parse_fixed(s, DIGITS, SCALE).map(Fixed)
    }
}

impl<const DIGITS: u32, const SCALE: u32> fmt::Display for Fixed<DIGITS, SCALE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_fixed(self.0, SCALE))
    }
}

impl<const DIGITS: u32, const SCALE: u32> fmt::Debug for Fixed<DIGITS, SCALE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}d", format_fixed(self.0, SCALE))
    }
}

impl<const DIGITS: u32, const SCALE: u32> CdrSerialize for Fixed<DIGITS, SCALE> {
    fn write_cdr(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        write_fixed_bcd(w, self.0, DIGITS)
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        read_fixed_bcd(r, DIGITS).map(Fixed)
    }

    fn cdr_key_max_end(_version: XcdrVersion, offset: usize) -> Option<usize> {
        Some(offset + (DIGITS / 2 + 1) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Endian;

    fn bcd<const D: u32, const S: u32>(v: &str) -> Vec<u8> {
        let f: Fixed<D, S> = v.parse().expect("parse");
        let mut out = Vec::new();
        f.write_cdr(&mut CdrWriter::new(&mut out, XcdrVersion::V2, Endian::Little)).expect("write");
        let back = Fixed::<D, S>::read_cdr(&mut CdrReader::new(&out, XcdrVersion::V1, Endian::Big)).expect("read");
        assert_eq!(back, f, "{v}");
        out
    }

    #[test]
    fn packed_bcd_layout() {
        // Odd digit count: the first digit fills the first half-octet.
        assert_eq!(bcd::<5, 2>("123.45"), [0x12, 0x34, 0x5c]);
        assert_eq!(bcd::<5, 2>("-1.5"), [0x00, 0x15, 0x0d]);
        // Even digit count: a zero half-octet first.
        assert_eq!(bcd::<4, 1>("123.4"), [0x01, 0x23, 0x4c]);
        assert_eq!(bcd::<2, 0>("-7"), [0x00, 0x7d]);
        assert_eq!(bcd::<1, 1>("0.9"), [0x9c]);
        assert_eq!(
            bcd::<31, 0>("9999999999999999999999999999999"),
            [0x99; 15].into_iter().chain([0x9c]).collect::<Vec<_>>()
        );
        // Zero is positive.
        assert_eq!(bcd::<3, 3>("-0.000"), [0x00, 0x0c]);
    }

    #[test]
    fn parse_and_format_are_exact() {
        let f: Fixed<10, 4> = "+0012.50".parse().expect("parse");
        assert_eq!((f.unscaled(), f.to_string()), (125_000, "12.5000".to_string()));
        assert_eq!("7".parse::<Fixed<3, 0>>().expect("int").to_string(), "7");
        assert_eq!(".5d".parse::<Fixed<2, 1>>().expect("suffix").to_string(), "0.5");
        assert_eq!(format!("{:?}", "-3.25".parse::<Fixed<4, 2>>().expect("neg")), "-3.25d");
        assert_eq!("1.230".parse::<Fixed<3, 2>>().expect("trailing zeros").unscaled(), 123);
        assert!(matches!("1.234".parse::<Fixed<4, 2>>(), Err(FixedError::TooPrecise { scale: 2, .. })));
        assert!(matches!("123.4".parse::<Fixed<4, 2>>(), Err(FixedError::TooLarge { max: 2, .. })));
        for bad in ["", ".", "1e5", "--1", "1.2.3", "abc", "0x10"] {
            assert!(matches!(bad.parse::<Fixed<5, 2>>(), Err(FixedError::Syntax(_))), "{bad}");
        }
        assert!(Fixed::<3, 1>::from_unscaled(999).is_some());
        assert!(Fixed::<3, 1>::from_unscaled(-1000).is_none());
        assert!(matches!(check_fixed_type(32, 0), Err(FixedError::BadType { .. })));
        assert!(matches!(check_fixed_type(3, 4), Err(FixedError::BadType { .. })));
    }

    #[test]
    fn hostile_bcd_is_rejected() {
        let read = |b: &[u8]| read_fixed_bcd(&mut CdrReader::new(b, XcdrVersion::V2, Endian::Little), 3);
        assert_eq!(read(&[0x12, 0x3c]), Ok(123));
        assert_eq!(read(&[0x12, 0x3d]), Ok(-123));
        assert!(read(&[0x1a, 0x3c]).is_err()); // not a digit
        assert!(read(&[0x12, 0x35]).is_err()); // not a sign
        assert!(read(&[0x12]).is_err()); // truncated
    }
}
