//! The CDR / XCDR1 / XCDR2 stream reader.

use super::encapsulation::XcdrVersion;
use super::error::CdrError;
use super::writer::{EM_FLAG_MUST_UNDERSTAND, MEMBER_ID_MASK, PID_EXTENDED, PID_FLAG_MUST_UNDERSTAND, PID_LIST_END};
use crate::wire::Endian;

/// XCDR1 parameter id of a member to skip.
const PID_IGNORE: u16 = 0x3f03;
/// Mask of the id bits of an XCDR1 parameter id (without the I and M flags).
const PID_MASK: u16 = 0x3fff;

/// A bounds-checked CDR reader over a byte slice.
///
/// Every read checks the remaining length first; nothing panics on malformed input and nothing allocates in
/// proportion to an unchecked length. Sub-readers (from [`dheader`](Self::dheader) and
/// [`next_member`](Self::next_member)) share the same underlying buffer with a smaller limit.
#[derive(Clone, Debug)]
pub struct CdrReader<'a> {
    /// The input up to this reader's limit.
    buf: &'a [u8],
    pos: usize,
    origin: usize,
    version: XcdrVersion,
    endian: Endian,
}

macro_rules! read_prim {
    ($(#[$doc:meta] $name:ident: $t:ty;)*) => {
        $(
            #[$doc]
            pub fn $name(&mut self) -> Result<$t, CdrError> {
                const N: usize = core::mem::size_of::<$t>();
                self.align(N)?;
                let b = self.take(N)?;
                let mut a = [0u8; N];
                a.copy_from_slice(b);
                Ok(match self.endian {
                    Endian::Big => <$t>::from_be_bytes(a),
                    Endian::Little => <$t>::from_le_bytes(a),
                })
            }
        )*
    };
}

impl<'a> CdrReader<'a> {
    /// A reader over `buf` (the bytes after the encapsulation header); alignment counts from `buf[0]`.
    pub fn new(buf: &'a [u8], version: XcdrVersion, endian: Endian) -> Self {
        CdrReader { buf, pos: 0, origin: 0, version, endian }
    }

    /// The XCDR version of the stream.
    pub fn version(&self) -> XcdrVersion {
        self.version
    }

    /// The byte order of the stream.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Bytes left before this reader's limit.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The current read position, counted from the start of the buffer given to [`new`](Self::new).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Skips padding so that the next byte is aligned for a primitive of `size` bytes.
    pub fn align(&mut self, size: usize) -> Result<(), CdrError> {
        let a = match self.version {
            XcdrVersion::V1 => size.max(1),
            XcdrVersion::V2 => size.clamp(1, 4),
        };
        let rel = self.pos.saturating_sub(self.origin);
        let pad = (a - rel % a) % a;
        self.take(pad).map(|_| ())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CdrError> {
        if n > self.remaining() {
            return Err(CdrError::Truncated);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a boolean octet; values other than 0 and 1 are rejected.
    pub fn bool(&mut self) -> Result<bool, CdrError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(CdrError::InvalidBool(v)),
        }
    }

    /// Reads an unsigned octet.
    pub fn u8(&mut self) -> Result<u8, CdrError> {
        Ok(self.take(1)?[0])
    }

    /// Reads a signed octet.
    pub fn i8(&mut self) -> Result<i8, CdrError> {
        Ok(self.u8()? as i8)
    }

    /// Reads an 8-bit character (`char` in IDL).
    pub fn char8(&mut self) -> Result<u8, CdrError> {
        self.u8()
    }

    read_prim! {
        /// Reads a `uint16`, aligned to 2.
        u16: u16;
        /// Reads an `int16`, aligned to 2.
        i16: i16;
        /// Reads a `uint32`, aligned to 4.
        u32: u32;
        /// Reads an `int32`, aligned to 4.
        i32: i32;
        /// Reads a `uint64`, aligned to 8 (XCDR1) or 4 (XCDR2).
        u64: u64;
        /// Reads an `int64`, aligned to 8 (XCDR1) or 4 (XCDR2).
        i64: i64;
        /// Reads a `float`, aligned to 4.
        f32: f32;
        /// Reads a `double`, aligned to 8 (XCDR1) or 4 (XCDR2).
        f64: f64;
    }

    /// Reads a string's bytes (without the NUL), checking the length against the remaining input first.
    fn string_bytes(&mut self) -> Result<&'a [u8], CdrError> {
        let len = self.u32()? as usize;
        if len == 0 {
            // Some implementations send an empty string as length 0 with no NUL.
            return Ok(&[]);
        }
        let b = self.take(len)?;
        match b.split_last() {
            Some((0, s)) => Ok(s),
            _ => Err(CdrError::Invalid("string not NUL-terminated")),
        }
    }

    /// Reads an unbounded string.
    pub fn string(&mut self) -> Result<String, CdrError> {
        let b = self.string_bytes()?;
        core::str::from_utf8(b).map(str::to_owned).map_err(|_| CdrError::InvalidUtf8)
    }

    /// Reads a string of at most `bound` bytes (excluding the NUL).
    pub fn bounded_string(&mut self, bound: usize) -> Result<String, CdrError> {
        let b = self.string_bytes()?;
        if b.len() > bound {
            return Err(CdrError::BoundExceeded { len: b.len(), bound });
        }
        core::str::from_utf8(b).map(str::to_owned).map_err(|_| CdrError::InvalidUtf8)
    }

    /// Takes `n` raw bytes, with no alignment.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], CdrError> {
        self.take(n)
    }

    /// Reads a sequence length and checks that `len * min_elem_size` bytes remain.
    pub fn seq_len(&mut self, min_elem_size: usize) -> Result<usize, CdrError> {
        let len = self.u32()? as usize;
        match len.checked_mul(min_elem_size) {
            Some(n) if n <= self.remaining() => Ok(len),
            _ => Err(CdrError::Truncated),
        }
    }

    /// A sub-reader over `len` bytes starting at the current position, with the given alignment origin.
    fn sub(&self, len: usize, origin: usize) -> Result<CdrReader<'a>, CdrError> {
        if len > self.remaining() {
            return Err(CdrError::Truncated);
        }
        Ok(CdrReader {
            buf: &self.buf[..self.pos + len],
            pos: self.pos,
            origin,
            version: self.version,
            endian: self.endian,
        })
    }

    /// Reads a DHEADER and returns a sub-reader limited to the bytes it covers.
    ///
    /// In XCDR1 nothing is read and the sub-reader covers the rest of this reader. Afterwards, call
    /// [`skip_to_end_of`](Self::skip_to_end_of) with the sub-reader to continue after it.
    pub fn dheader(&mut self) -> Result<CdrReader<'a>, CdrError> {
        match self.version {
            XcdrVersion::V1 => self.sub(self.remaining(), self.origin),
            XcdrVersion::V2 => {
                let len = self.u32()? as usize;
                self.sub(len, self.origin)
            }
        }
    }

    /// Moves this reader past the end of a sub-reader obtained from it (skipping unread members).
    pub fn skip_to_end_of(&mut self, sub: &CdrReader<'a>) {
        let end = sub.buf.len().min(self.buf.len());
        self.pos = self.pos.max(end);
    }

    /// Reads the next member header of a mutable type and returns `(id, must_understand, body)`.
    ///
    /// XCDR2: EMHEADER with any length code 0–7; `None` at the end of this reader (normally a DHEADER
    /// sub-reader). XCDR1: PL_CDR short or extended headers; `None` at PID_LIST_END or at the end of input.
    /// The body reader is positioned at the member value; this reader continues after it. For XCDR1
    /// PID_EXTENDED members the M flag of the outer header is reported (writers usually set it), and
    /// PID_IGNORE parameters are skipped.
    pub fn next_member(&mut self) -> Result<Option<(u32, bool, CdrReader<'a>)>, CdrError> {
        match self.version {
            XcdrVersion::V2 => self.next_member_v2(),
            XcdrVersion::V1 => self.next_member_v1(),
        }
    }

    fn next_member_v2(&mut self) -> Result<Option<(u32, bool, CdrReader<'a>)>, CdrError> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        self.align(4)?;
        if self.remaining() == 0 {
            return Ok(None);
        }
        let h = self.u32()?;
        let must_understand = h & EM_FLAG_MUST_UNDERSTAND != 0;
        let id = h & MEMBER_ID_MASK;
        let lc = (h >> 28) & 7;
        let size = match lc {
            0 => 1,
            1 => 2,
            2 => 4,
            3 => 8,
            _ => {
                // NEXTINT: for LC 4 it precedes the body; for LC 5-7 it is also the body's first word.
                let save = self.pos;
                let n = self.u32()? as usize;
                let size = match lc {
                    4 => Some(n),
                    5 => n.checked_add(4),
                    6 => n.checked_mul(4).and_then(|v| v.checked_add(4)),
                    _ => n.checked_mul(8).and_then(|v| v.checked_add(4)),
                };
                if lc != 4 {
                    self.pos = save;
                }
                size.ok_or(CdrError::Truncated)?
            }
        };
        let body = self.sub(size, self.origin)?;
        self.pos += size;
        Ok(Some((id, must_understand, body)))
    }

    fn next_member_v1(&mut self) -> Result<Option<(u32, bool, CdrReader<'a>)>, CdrError> {
        loop {
            if self.remaining() == 0 {
                return Ok(None);
            }
            self.align(4)?;
            if self.remaining() == 0 {
                return Ok(None);
            }
            let pid_raw = self.u16()?;
            let short_len = self.u16()? as usize;
            let must_understand = pid_raw & PID_FLAG_MUST_UNDERSTAND != 0;
            let pid = pid_raw & PID_MASK;
            let (id, size) = match pid {
                PID_LIST_END => return Ok(None),
                PID_IGNORE => {
                    self.take(short_len)?;
                    continue;
                }
                PID_EXTENDED => {
                    if short_len != 8 {
                        return Err(CdrError::Invalid("PID_EXTENDED length is not 8"));
                    }
                    let id = self.u32()? & MEMBER_ID_MASK;
                    let len = self.u32()? as usize;
                    (id, len)
                }
                0x3f00..=0x3fff => return Err(CdrError::Invalid("reserved parameter id in PL_CDR")),
                _ => (u32::from(pid), short_len),
            };
            let body = self.sub(size, self.pos)?;
            self.pos += size;
            return Ok(Some((id, must_understand, body)));
        }
    }
}
