//! The CDR / XCDR1 / XCDR2 stream writer.

use super::encapsulation::XcdrVersion;
use super::error::CdrError;
use crate::wire::Endian;

/// XCDR1 parameter id of the extended member header.
pub(crate) const PID_EXTENDED: u16 = 0x3f01;
/// XCDR1 parameter id that terminates a parameter list.
pub(crate) const PID_LIST_END: u16 = 0x3f02;
/// XCDR1 must-understand flag in a parameter id.
pub(crate) const PID_FLAG_MUST_UNDERSTAND: u16 = 0x4000;
/// XCDR2 EMHEADER must-understand flag.
pub(crate) const EM_FLAG_MUST_UNDERSTAND: u32 = 0x8000_0000;
/// Mask of the member id in an XCDR2 EMHEADER or an XCDR1 extended header.
pub(crate) const MEMBER_ID_MASK: u32 = 0x0fff_ffff;

/// Converts a length to the 32-bit field CDR uses; lengths beyond `u32::MAX` saturate.
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A handle returned by [`CdrWriter::begin_dheader`], to be passed to [`CdrWriter::end_dheader`].
#[must_use = "pass the token to end_dheader"]
#[derive(Debug)]
pub struct DHeaderToken {
    /// Buffer index of the 4-byte placeholder, or `None` when no DHEADER was written (XCDR1).
    at: Option<usize>,
}

/// A handle returned by [`CdrWriter::begin_member`], to be passed to [`CdrWriter::end_member`].
#[must_use = "pass the token to end_member"]
#[derive(Debug)]
pub struct MemberToken {
    /// Buffer index of the member header.
    header: usize,
    /// Buffer index of the first byte of the member body.
    body: usize,
    /// Member id (28 bits).
    id: u32,
    /// Must-understand flag.
    must_understand: bool,
    /// True when the XCDR1 header was written in extended form from the start.
    extended: bool,
    /// The alignment origin to restore when the member ends.
    saved_origin: usize,
}

/// Appends CDR-encoded values to a byte vector.
///
/// Alignment counts from the buffer length at the time the writer was created (the first byte after the
/// encapsulation header). XCDR1 aligns every primitive to its size; XCDR2 caps alignment at 4.
#[derive(Debug)]
pub struct CdrWriter<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    origin: usize,
    version: XcdrVersion,
    endian: Endian,
}

macro_rules! write_prim {
    ($(#[$doc:meta] $name:ident: $t:ty;)*) => {
        $(
            #[$doc]
            pub fn $name(&mut self, v: $t) {
                self.align(core::mem::size_of::<$t>());
                let bytes = match self.endian {
                    Endian::Big => v.to_be_bytes(),
                    Endian::Little => v.to_le_bytes(),
                };
                self.buf.extend_from_slice(&bytes);
            }
        )*
    };
}

impl<'a> CdrWriter<'a> {
    /// A writer appending to `buf`, with alignment counted from the current end of `buf`.
    pub fn new(buf: &'a mut Vec<u8>, version: XcdrVersion, endian: Endian) -> Self {
        let start = buf.len();
        CdrWriter { buf, start, origin: start, version, endian }
    }

    /// The XCDR version this writer follows.
    pub fn version(&self) -> XcdrVersion {
        self.version
    }

    /// The byte order this writer uses.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Number of bytes written since the writer was created.
    pub fn position(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Pads with zeros so that the next byte is aligned for a primitive of `size` bytes.
    pub fn align(&mut self, size: usize) {
        let a = match self.version {
            XcdrVersion::V1 => size.max(1),
            XcdrVersion::V2 => size.clamp(1, 4),
        };
        let rel = self.buf.len() - self.origin;
        let pad = (a - rel % a) % a;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Writes a boolean as one octet (0 or 1).
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Writes an unsigned octet.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes a signed octet.
    pub fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }

    /// Writes an 8-bit character (`char` in IDL).
    pub fn char8(&mut self, v: u8) {
        self.buf.push(v);
    }

    write_prim! {
        /// Writes a `uint16`, aligned to 2.
        u16: u16;
        /// Writes an `int16`, aligned to 2.
        i16: i16;
        /// Writes a `uint32`, aligned to 4.
        u32: u32;
        /// Writes an `int32`, aligned to 4.
        i32: i32;
        /// Writes a `uint64`, aligned to 8 (XCDR1) or 4 (XCDR2).
        u64: u64;
        /// Writes an `int64`, aligned to 8 (XCDR1) or 4 (XCDR2).
        i64: i64;
        /// Writes a `float`, aligned to 4.
        f32: f32;
        /// Writes a `double`, aligned to 8 (XCDR1) or 4 (XCDR2).
        f64: f64;
    }

    /// Writes an unbounded string: a `uint32` length that counts the terminating NUL, the bytes, a NUL.
    pub fn string(&mut self, s: &str) {
        self.u32(len32(s.len().saturating_add(1)));
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// Writes a string whose length in bytes (excluding the NUL) must not exceed `bound`.
    pub fn bounded_string(&mut self, s: &str, bound: usize) -> Result<(), CdrError> {
        if s.len() > bound {
            return Err(CdrError::BoundExceeded { len: s.len(), bound });
        }
        self.string(s);
        Ok(())
    }

    /// Appends raw bytes with no alignment or length prefix.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Writes a sequence length (a `uint32`; lengths beyond `u32::MAX` saturate).
    pub fn seq_len(&mut self, len: usize) {
        self.u32(len32(len));
    }

    /// Starts a DHEADER (XCDR2 appendable/mutable types): writes a placeholder size.
    ///
    /// In XCDR1 nothing is written, so type code may call this unconditionally.
    pub fn begin_dheader(&mut self) -> DHeaderToken {
        match self.version {
            XcdrVersion::V1 => DHeaderToken { at: None },
            XcdrVersion::V2 => {
                self.align(4);
                let at = self.buf.len();
                self.buf.extend_from_slice(&[0; 4]);
                DHeaderToken { at: Some(at) }
            }
        }
    }

    /// Ends a DHEADER: patches in the number of bytes written after it.
    pub fn end_dheader(&mut self, token: DHeaderToken) {
        if let Some(at) = token.at {
            let size = len32(self.buf.len() - (at + 4));
            self.patch_u32(at, size);
        }
    }

    /// Starts a member of a mutable type.
    ///
    /// XCDR2 writes an EMHEADER; XCDR1 writes a PL_CDR member header (short form when the id is below `0x3f00`
    /// and the member is shorter than 65536 bytes, PID_EXTENDED otherwise). `id` is truncated to 28 bits.
    /// In XCDR1 the member body's alignment counts from the start of the body (as Cyclone DDS does), the member
    /// length includes the padding to a multiple of 4, and PID_EXTENDED headers always carry the M flag.
    ///
    /// In XCDR2 [`end_member`](Self::end_member) picks the length code from the body: LC 0–3 for bodies of
    /// 1, 2, 4 or 8 bytes, LC 5/6/7 when the body's first `uint32` equals its remaining length in bytes /
    /// 4-byte / 8-byte units (strings and sequences), and LC 4 with an explicit NEXTINT otherwise. Every code
    /// describes the same body bytes, so a decoder gets the same result whichever is chosen.
    pub fn begin_member(&mut self, id: u32, must_understand: bool) -> MemberToken {
        let id = id & MEMBER_ID_MASK;
        self.align(4);
        let header = self.buf.len();
        let saved_origin = self.origin;
        let extended = match self.version {
            XcdrVersion::V2 => {
                // EMHEADER plus a NEXTINT slot; the slot is dropped at the end if a size-specific LC fits.
                self.buf.extend_from_slice(&[0; 8]);
                false
            }
            XcdrVersion::V1 if id < 0x3f00 => {
                self.buf.extend_from_slice(&[0; 4]);
                false
            }
            XcdrVersion::V1 => {
                self.buf.extend_from_slice(&[0; 12]);
                true
            }
        };
        let body = self.buf.len();
        if self.version == XcdrVersion::V1 {
            self.origin = body;
        }
        MemberToken { header, body, id, must_understand, extended, saved_origin }
    }

    /// Like [`begin_member`](Self::begin_member), but in XCDR1 always writes the PID_EXTENDED header form
    /// (as Cyclone DDS's Python serializer does for every mutable member and for optional members).
    pub fn begin_member_extended(&mut self, id: u32, must_understand: bool) -> MemberToken {
        let id = id & MEMBER_ID_MASK;
        if self.version == XcdrVersion::V2 {
            return self.begin_member(id, must_understand);
        }
        self.align(4);
        let header = self.buf.len();
        let saved_origin = self.origin;
        self.buf.extend_from_slice(&[0; 12]);
        let body = self.buf.len();
        self.origin = body;
        MemberToken { header, body, id, must_understand, extended: true, saved_origin }
    }

    /// Ends a member started by [`begin_member`](Self::begin_member), filling in its header.
    pub fn end_member(&mut self, token: MemberToken) {
        match self.version {
            XcdrVersion::V2 => self.end_member_v2(&token, None),
            XcdrVersion::V1 => self.end_member_v1(&token),
        }
        self.origin = token.saved_origin;
    }

    /// Ends a member like [`end_member`](Self::end_member), but in XCDR2 uses the EMHEADER length code `lc`
    /// when it describes the body correctly (falling back to the automatic choice otherwise). Length codes
    /// 0–3 need a body of 1/2/4/8 bytes; 5–7 need the body's first `uint32` to give its remaining length.
    pub fn end_member_lc(&mut self, token: MemberToken, lc: u32) {
        match self.version {
            XcdrVersion::V2 => self.end_member_v2(&token, Some(lc)),
            XcdrVersion::V1 => self.end_member_v1(&token),
        }
        self.origin = token.saved_origin;
    }

    fn end_member_v2(&mut self, t: &MemberToken, wanted: Option<u32>) {
        let size = self.buf.len() - t.body;
        let first = self.buf.get(t.body..t.body + 4).map(|b| self.read_u32_at(b));
        let fits = |lc: u32| match lc {
            0 => size == 1,
            1 => size == 2,
            2 => size == 4,
            3 => size == 8,
            4 => true,
            5 => first.is_some_and(|n| n as usize == size - 4),
            6 => first.is_some_and(|n| (n as usize).checked_mul(4) == Some(size - 4)),
            7 => first.is_some_and(|n| (n as usize).checked_mul(8) == Some(size - 4)),
            _ => false,
        };
        let lc: u32 = match wanted {
            Some(lc) if fits(lc) => lc,
            _ => (0..8).find(|&lc| lc != 4 && fits(lc)).unwrap_or(4),
        };
        let mu = if t.must_understand { EM_FLAG_MUST_UNDERSTAND } else { 0 };
        self.patch_u32(t.header, mu | (lc << 28) | t.id);
        if lc == 4 {
            self.patch_u32(t.header + 4, len32(size));
        } else {
            // Drop the NEXTINT slot; the body moves by 4, which keeps XCDR2 (max 4) alignment.
            self.buf.drain(t.header + 4..t.header + 8);
        }
    }

    fn end_member_v1(&mut self, t: &MemberToken) {
        // The member length includes the padding to a multiple of 4 (origin is the body start here).
        self.align(4);
        let size = self.buf.len() - t.body;
        let mu = if t.must_understand { PID_FLAG_MUST_UNDERSTAND } else { 0 };
        if !t.extended && size < 0x1_0000 {
            self.patch_u16(t.header, mu | t.id as u16);
            self.patch_u16(t.header + 2, size as u16);
            return;
        }
        if !t.extended {
            // Too long for the short form: make room for the extended header (the body keeps its own origin).
            self.buf.splice(t.header + 4..t.header + 4, [0u8; 8]);
        }
        self.patch_u16(t.header, PID_FLAG_MUST_UNDERSTAND | PID_EXTENDED);
        self.patch_u16(t.header + 2, 8);
        self.patch_u32(t.header + 4, t.id);
        self.patch_u32(t.header + 8, len32(size));
    }

    /// Ends an XCDR1 mutable type with the PID_LIST_END sentinel (`0x3f02`, length 0). No-op in XCDR2.
    pub fn end_mutable_xcdr1(&mut self) {
        if self.version == XcdrVersion::V1 {
            self.align(4);
            self.u16(PID_LIST_END);
            self.u16(0);
        }
    }

    fn read_u32_at(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self.endian {
            Endian::Big => u32::from_be_bytes(a),
            Endian::Little => u32::from_le_bytes(a),
        }
    }

    fn patch_u32(&mut self, at: usize, v: u32) {
        let bytes = match self.endian {
            Endian::Big => v.to_be_bytes(),
            Endian::Little => v.to_le_bytes(),
        };
        self.buf[at..at + 4].copy_from_slice(&bytes);
    }

    fn patch_u16(&mut self, at: usize, v: u16) {
        let bytes = match self.endian {
            Endian::Big => v.to_be_bytes(),
            Endian::Little => v.to_le_bytes(),
        };
        self.buf[at..at + 2].copy_from_slice(&bytes);
    }
}
