//! Endianness-aware, bounds-checked byte reader and writer.
//!
//! Every read checks the remaining length first and returns
//! [`DecodeError::Truncated`] rather than panicking. Nothing here allocates in
//! proportion to a length field: callers get slices of the input.

use super::error::DecodeError;

/// Byte order of a submessage body or an encapsulated payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Endian {
    /// Big-endian (network order).
    Big,
    /// Little-endian.
    Little,
}

impl Endian {
    /// The E flag value of a submessage header (1 = little-endian).
    pub fn from_flag(e: bool) -> Self {
        if e {
            Endian::Little
        } else {
            Endian::Big
        }
    }

    /// True for little-endian.
    pub fn is_little(self) -> bool {
        self == Endian::Little
    }

    /// The host's native order.
    pub const NATIVE: Endian = if cfg!(target_endian = "little") { Endian::Little } else { Endian::Big };
}

/// A bounds-checked reader over a byte slice.
#[derive(Clone, Debug)]
pub struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
    endian: Endian,
}

macro_rules! read_int {
    ($name:ident, $ty:ty, $n:expr) => {
        #[doc = concat!("Reads a `", stringify!($ty), "` in the reader's byte order.")]
        pub fn $name(&mut self) -> Result<$ty, DecodeError> {
            let b = self.array::<$n>()?;
            Ok(match self.endian {
                Endian::Big => <$ty>::from_be_bytes(b),
                Endian::Little => <$ty>::from_le_bytes(b),
            })
        }
    };
}

impl<'a> ByteReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8], endian: Endian) -> Self {
        ByteReader { buf, pos: 0, endian }
    }

    /// The byte order in use.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Changes the byte order for the following reads.
    pub fn set_endian(&mut self, endian: Endian) {
        self.endian = endian;
    }

    /// Current offset from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread rest of the buffer.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes `n` bytes as a slice of the input.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated { needed: n, available: self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    /// Skips padding so that the position is a multiple of `align`
    /// (counted from the start of this reader's buffer).
    pub fn align(&mut self, align: usize) -> Result<(), DecodeError> {
        let pad = (align - self.pos % align) % align;
        self.skip(pad)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    read_int!(u16, u16, 2);
    read_int!(i16, i16, 2);
    read_int!(u32, u32, 4);
    read_int!(i32, i32, 4);
    read_int!(u64, u64, 8);
    read_int!(i64, i64, 8);
}

/// An appending writer into a `Vec<u8>` with a fixed byte order.
#[derive(Debug)]
pub struct ByteWriter<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    endian: Endian,
}

macro_rules! write_int {
    ($name:ident, $ty:ty) => {
        #[doc = concat!("Writes a `", stringify!($ty), "` in the writer's byte order.")]
        pub fn $name(&mut self, v: $ty) {
            match self.endian {
                Endian::Big => self.buf.extend_from_slice(&v.to_be_bytes()),
                Endian::Little => self.buf.extend_from_slice(&v.to_le_bytes()),
            }
        }
    };
}

impl<'a> ByteWriter<'a> {
    /// A writer appending to `buf`; alignment counts from the current end of `buf`.
    pub fn new(buf: &'a mut Vec<u8>, endian: Endian) -> Self {
        let start = buf.len();
        ByteWriter { buf, start, endian }
    }

    /// The byte order in use.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Bytes written through this writer so far.
    pub fn position(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends zero bytes until the position is a multiple of `align`.
    pub fn align(&mut self, align: usize) {
        let pad = (align - self.position() % align) % align;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Writes one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    write_int!(u16, u16);
    write_int!(i16, i16);
    write_int!(u32, u32);
    write_int!(i32, i32);
    write_int!(u64, u64);
    write_int!(i64, i64);

    /// Overwrites a u16 at `pos` (relative to this writer's start), e.g. a length
    /// written after its body.
    pub fn patch_u16(&mut self, pos: usize, v: u16) {
        let b = match self.endian {
            Endian::Big => v.to_be_bytes(),
            Endian::Little => v.to_le_bytes(),
        };
        let at = self.start + pos;
        self.buf[at..at + 2].copy_from_slice(&b);
    }

    /// Overwrites a u32 at `pos` (relative to this writer's start).
    pub fn patch_u32(&mut self, pos: usize, v: u32) {
        let b = match self.endian {
            Endian::Big => v.to_be_bytes(),
            Endian::Little => v.to_le_bytes(),
        };
        let at = self.start + pos;
        self.buf[at..at + 4].copy_from_slice(&b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_is_an_error() {
        let mut r = ByteReader::new(&[1, 2, 3], Endian::Big);
        assert!(r.u32().is_err());
        assert_eq!(r.u16().unwrap(), 0x0102);
    }

    #[test]
    fn endianness() {
        let mut v = Vec::new();
        let mut w = ByteWriter::new(&mut v, Endian::Little);
        w.u32(1);
        w.align(8);
        w.u16(2);
        assert_eq!(v, [1, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
    }
}
