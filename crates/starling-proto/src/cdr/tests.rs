//! Codec tests. Vectors marked "Cyclone" came from Cyclone DDS 11.0.1's Python serializer
//! (`IdlStruct.serialize(use_version_2=…, endianness=…)` and `serialize_key`), with types declared as:
//!
//! ```python
//! @dataclass
//! @mutable
//! class MutableProbe(IdlStruct, typename="MutableProbe"):
//!     id: uint32
//!     key("id")
//!     count: uint64
//!     name: str
//!     ratio: float64
//!     small: uint8
//!
//! @dataclass
//! @final
//! class AlignProbe(IdlStruct, typename="AlignProbe"):
//!     a: uint8
//!     b: uint64
//!     c: uint16
//!     d: float64
//! ```
//!
//! Cyclone's serializer does not pad the payload to a multiple of 4; where Starling pads, the tests say so.

use proptest::prelude::*;

use super::*;
use crate::qos::{XCDR1, XCDR2};
use crate::wire::Endian;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("test vector hex")).collect()
}

/// `@final struct AlignProbe { uint8 a; uint64 b; uint16 c; double d; }`
#[derive(Clone, Debug, PartialEq)]
struct AlignProbe {
    a: u8,
    b: u64,
    c: u16,
    d: f64,
}

impl TopicType for AlignProbe {
    fn type_name() -> &'static str {
        "AlignProbe"
    }
    fn extensibility() -> Extensibility {
        Extensibility::Final
    }
    fn is_keyed() -> bool {
        false
    }
    fn serialize(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        w.u8(self.a);
        w.u64(self.b);
        w.u16(self.c);
        w.f64(self.d);
        Ok(())
    }
    fn deserialize(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Ok(AlignProbe { a: r.u8()?, b: r.u64()?, c: r.u16()?, d: r.f64()? })
    }
    fn serialize_key(&self, _w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        Ok(())
    }
    fn key_max_size(_version: XcdrVersion) -> Option<usize> {
        Some(0)
    }
    fn serialize_key_payload(&self, _w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        Ok(())
    }
    fn deserialize_key_payload(_r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Err(CdrError::Invalid("unkeyed type"))
    }
}

/// `@mutable struct MutableProbe { @key uint32 id; uint64 count; string name; double ratio; uint8 small; }`
/// with member ids 0..=4.
#[derive(Clone, Debug, PartialEq, Default)]
struct MutableProbe {
    id: u32,
    count: u64,
    name: String,
    ratio: f64,
    small: u8,
}

impl TopicType for MutableProbe {
    fn type_name() -> &'static str {
        "MutableProbe"
    }
    fn extensibility() -> Extensibility {
        Extensibility::Mutable
    }
    fn is_keyed() -> bool {
        true
    }
    fn serialize(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        let d = w.begin_dheader();
        let m = w.begin_member(0, false);
        w.u32(self.id);
        w.end_member(m);
        let m = w.begin_member(1, false);
        w.u64(self.count);
        w.end_member(m);
        let m = w.begin_member(2, false);
        w.string(&self.name);
        w.end_member(m);
        let m = w.begin_member(3, false);
        w.f64(self.ratio);
        w.end_member(m);
        let m = w.begin_member(4, false);
        w.u8(self.small);
        w.end_member(m);
        w.end_mutable_xcdr1();
        w.end_dheader(d);
        Ok(())
    }
    fn deserialize(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let mut out = MutableProbe::default();
        let mut body = r.dheader()?;
        while let Some((id, must_understand, mut m)) = body.next_member()? {
            match id {
                0 => out.id = m.u32()?,
                1 => out.count = m.u64()?,
                2 => out.name = m.string()?,
                3 => out.ratio = m.f64()?,
                4 => out.small = m.u8()?,
                other if must_understand => return Err(CdrError::UnknownMember(other)),
                _ => {}
            }
        }
        r.skip_to_end_of(&body);
        Ok(out)
    }
    fn serialize_key(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        w.u32(self.id);
        Ok(())
    }
    fn key_max_size(_version: XcdrVersion) -> Option<usize> {
        Some(4)
    }
    fn serialize_key_payload(&self, w: &mut CdrWriter<'_>) -> Result<(), CdrError> {
        let d = w.begin_dheader();
        let m = w.begin_member(0, false);
        w.u32(self.id);
        w.end_member(m);
        w.end_mutable_xcdr1();
        w.end_dheader(d);
        Ok(())
    }
    fn deserialize_key_payload(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let mut out = MutableProbe::default();
        let mut body = r.dheader()?;
        while let Some((id, _, mut m)) = body.next_member()? {
            if id == 0 {
                out.id = m.u32()?;
            }
        }
        r.skip_to_end_of(&body);
        Ok(out)
    }
}

fn probe() -> MutableProbe {
    MutableProbe { id: 7, count: 0x0102_0304_0506_0708, name: "hi".into(), ratio: 1.5, small: 9 }
}

fn encode<T: TopicType>(v: &T, rep: i16, endian: Endian) -> Vec<u8> {
    let mut out = Vec::new();
    encode_sample(v, rep, endian, &mut out).expect("encode");
    out
}

// Cyclone.
const ALIGN_V1_LE: &str = "00 01 00 00 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 \
                           00 00 00 00 00 00 10 40";
const ALIGN_V1_BE: &str = "00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 00 03 00 00 00 00 00 00 \
                           40 10 00 00 00 00 00 00";
const ALIGN_V2_LE: &str = "00 07 00 00 01 00 00 00 02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 00 00 10 40";
const ALIGN_V2_BE: &str = "00 06 00 00 01 00 00 00 00 00 00 00 00 00 00 02 00 03 00 00 40 10 00 00 00 00 00 00";

#[test]
fn xcdr1_aligns_8_and_xcdr2_aligns_4() {
    let v = AlignProbe { a: 1, b: 2, c: 3, d: 4.0 };
    for (rep, endian, want) in [
        (XCDR1, Endian::Little, ALIGN_V1_LE),
        (XCDR1, Endian::Big, ALIGN_V1_BE),
        (XCDR2, Endian::Little, ALIGN_V2_LE),
        (XCDR2, Endian::Big, ALIGN_V2_BE),
    ] {
        let want = hex(want);
        assert_eq!(encode(&v, rep, endian), want, "rep {rep} {endian:?}");
        assert_eq!(decode_sample::<AlignProbe>(&want).expect("decode"), v);
    }
    // The u64 starts at offset 8 in XCDR1 and at offset 4 in XCDR2.
    assert_eq!(hex(ALIGN_V1_LE)[4 + 8], 2);
    assert_eq!(hex(ALIGN_V2_LE)[4 + 4], 2);
}

// Cyclone.
const MUT_V2_LE: &str = "00 0b 00 00 31 00 00 00 00 00 00 20 07 00 00 00 01 00 00 30 08 07 06 05 04 03 02 01 \
                         02 00 00 50 03 00 00 00 68 69 00 00 03 00 00 30 00 00 00 00 00 00 f8 3f 04 00 00 00 09";
const MUT_V2_BE: &str = "00 0a 00 00 00 00 00 31 20 00 00 00 00 00 00 07 30 00 00 01 01 02 03 04 05 06 07 08 \
                         50 00 00 02 00 00 00 03 68 69 00 00 30 00 00 03 3f f8 00 00 00 00 00 00 00 00 00 04 09";
// Cyclone: every member in PID_EXTENDED form with the M flag, sentinel 0x7f02; member bodies aligned from
// their own start (the uint64 sits at stream offset 28).
const MUT_V1_LE: &str = "00 03 00 00 01 7f 08 00 00 00 00 00 04 00 00 00 07 00 00 00 01 7f 08 00 01 00 00 00 \
                         08 00 00 00 08 07 06 05 04 03 02 01 01 7f 08 00 02 00 00 00 08 00 00 00 03 00 00 00 \
                         68 69 00 00 01 7f 08 00 03 00 00 00 08 00 00 00 00 00 00 00 00 00 f8 3f 01 7f 08 00 \
                         04 00 00 00 04 00 00 00 09 00 00 00 02 7f 00 00";
const MUT_V1_BE: &str = "00 02 00 00 7f 01 00 08 00 00 00 00 00 00 00 04 00 00 00 07 7f 01 00 08 00 00 00 01 \
                         00 00 00 08 01 02 03 04 05 06 07 08 7f 01 00 08 00 00 00 02 00 00 00 08 00 00 00 03 \
                         68 69 00 00 7f 01 00 08 00 00 00 03 00 00 00 08 3f f8 00 00 00 00 00 00 7f 01 00 08 \
                         00 00 00 04 00 00 00 04 09 00 00 00 7f 02 00 00";

#[test]
fn mutable_xcdr2_matches_cyclone() {
    for (endian, want) in [(Endian::Little, MUT_V2_LE), (Endian::Big, MUT_V2_BE)] {
        let cyclone = hex(want);
        assert_eq!(decode_sample::<MutableProbe>(&cyclone).expect("decode"), probe());
        // Starling pads the 57-byte payload with 3 zeros and records that in the options.
        let mut padded = cyclone.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        padded[3] = 3;
        assert_eq!(encode(&probe(), XCDR2, endian), padded);
        assert_eq!(decode_sample::<MutableProbe>(&padded).expect("decode"), probe());
    }
}

#[test]
fn mutable_xcdr1_decodes_cyclone_and_round_trips() {
    for (endian, want) in [(Endian::Little, MUT_V1_LE), (Endian::Big, MUT_V1_BE)] {
        let cyclone = hex(want);
        assert_eq!(decode_sample::<MutableProbe>(&cyclone).expect("decode"), probe());
        let ours = encode(&probe(), XCDR1, endian);
        assert_eq!(decode_sample::<MutableProbe>(&ours).expect("decode"), probe());
    }
    // Starling uses the short PL_CDR form: PID, length (padding included), body aligned from its start.
    let want = hex("00 03 00 00 00 00 04 00 07 00 00 00 01 00 08 00 08 07 06 05 04 03 02 01 02 00 08 00 03 00 00 00 \
         68 69 00 00 03 00 08 00 00 00 00 00 00 00 f8 3f 04 00 04 00 09 00 00 00 02 3f 00 00");
    assert_eq!(encode(&probe(), XCDR1, Endian::Little), want);
}

#[test]
fn mutable_key_payload_matches_cyclone() {
    // Cyclone serialize_key output (no encapsulation header).
    for (rep, endian, body) in [
        (XCDR2, Endian::Little, "08 00 00 00 00 00 00 20 07 00 00 00"),
        (XCDR2, Endian::Big, "00 00 00 08 20 00 00 00 00 00 00 07"),
        (XCDR1, Endian::Little, "01 7f 08 00 00 00 00 00 04 00 00 00 07 00 00 00 02 7f 00 00"),
        (XCDR1, Endian::Big, "7f 01 00 08 00 00 00 00 00 00 00 04 00 00 00 07 7f 02 00 00"),
    ] {
        let version = version_for_representation(rep).expect("rep");
        let encap = Encapsulation::for_type(version, Extensibility::Mutable, endian);
        let mut payload = encap.id().to_vec();
        payload.extend_from_slice(&[0, 0]);
        payload.extend_from_slice(&hex(body));
        let got = decode_key_payload::<MutableProbe>(&payload).expect("decode key");
        assert_eq!(got, MutableProbe { id: 7, ..Default::default() });
        let mut ours = Vec::new();
        encode_key_payload(&probe(), rep, endian, &mut ours).expect("encode key");
        if rep == XCDR2 {
            assert_eq!(ours, payload);
        }
        assert_eq!(decode_key_payload::<MutableProbe>(&ours).expect("decode key"), got);
    }
    // key_max_size 4 <= 16: the hash is the big-endian key, zero-padded.
    let h = key_hash(&probe(), XcdrVersion::V2);
    assert_eq!(h.0, [0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(key_hash(&AlignProbe { a: 1, b: 2, c: 3, d: 4.0 }, XcdrVersion::V1).0, [0; 16]);
}

#[test]
fn emheader_all_length_codes() {
    // One member per LC code 0..=7, XCDR2 little-endian, inside a DHEADER.
    let body = hex("00 00 00 00 \
         01 00 00 80 aa 00 00 00 \
         02 00 00 10 bb bb 00 00 \
         03 00 00 20 cc cc cc cc \
         04 00 00 30 01 02 03 04 05 06 07 08 \
         05 00 00 40 03 00 00 00 61 62 63 00 \
         06 00 00 50 02 00 00 00 78 79 00 00 \
         07 00 00 60 02 00 00 00 01 00 00 00 02 00 00 00 \
         08 00 00 70 01 00 00 00 11 22 33 44 55 66 77 88");
    let mut body = body;
    let len = (body.len() - 4) as u32;
    body[..4].copy_from_slice(&len.to_le_bytes());
    let mut r = CdrReader::new(&body, XcdrVersion::V2, Endian::Little);
    let mut d = r.dheader().expect("dheader");
    let mut seen = Vec::new();
    while let Some((id, mu, m)) = d.next_member().expect("member") {
        seen.push((id, mu, m.remaining()));
    }
    r.skip_to_end_of(&d);
    assert_eq!(r.remaining(), 0);
    assert_eq!(
        seen,
        vec![
            (1, true, 1),
            (2, false, 2),
            (3, false, 4),
            (4, false, 8),
            (5, false, 3),
            (6, false, 6),
            (7, false, 12),
            (8, false, 12)
        ]
    );
}

#[test]
fn pl_cdr_extended_and_ignore() {
    // A large member switches to PID_EXTENDED; so does an id >= 0x3f00.
    let mut buf = Vec::new();
    let mut w = CdrWriter::new(&mut buf, XcdrVersion::V1, Endian::Big);
    let m = w.begin_member(0x4000, true);
    w.u32(5);
    w.end_member(m);
    let m = w.begin_member(2, false);
    w.u8(1);
    w.u64(0xdead_beef);
    w.bytes(&[7; 70_000]);
    w.end_member(m);
    w.end_mutable_xcdr1();
    assert_eq!(&buf[..12], &[0x7f, 0x01, 0, 8, 0, 0, 0x40, 0, 0, 0, 0, 4]);
    // Insert a PID_IGNORE parameter before the sentinel.
    let end = buf.len() - 4;
    buf.splice(end..end, [0x3f, 0x03, 0, 4, 9, 9, 9, 9]);
    let mut r = CdrReader::new(&buf, XcdrVersion::V1, Endian::Big);
    let (id, mu, mut m) = r.next_member().expect("ok").expect("member");
    assert_eq!((id, mu, m.u32().expect("u32")), (0x4000, true, 5));
    let (id, _, mut m) = r.next_member().expect("ok").expect("member");
    assert_eq!(id, 2);
    assert_eq!(m.u8().expect("u8"), 1);
    // Alignment counts from the member body, which moved by 8 bytes when the header grew.
    assert_eq!(m.u64().expect("u64"), 0xdead_beef);
    assert_eq!(m.bytes(70_000).expect("bytes").len(), 70_000);
    assert_eq!(m.remaining(), 0);
    assert!(r.next_member().expect("ok").is_none());
    assert_eq!(r.remaining(), 0);
}

#[test]
fn strings_and_sequences_are_checked() {
    let mut buf = Vec::new();
    let mut w = CdrWriter::new(&mut buf, XcdrVersion::V2, Endian::Little);
    assert_eq!(w.bounded_string("abcd", 3), Err(CdrError::BoundExceeded { len: 4, bound: 3 }));
    w.string("abcd");
    let mut r = CdrReader::new(&buf, XcdrVersion::V2, Endian::Little);
    assert_eq!(r.clone().bounded_string(3), Err(CdrError::BoundExceeded { len: 4, bound: 3 }));
    assert_eq!(r.bounded_string(4).as_deref(), Ok("abcd"));
    // Huge sequence length against a short buffer: rejected before anything is allocated.
    let mut r = CdrReader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2], XcdrVersion::V1, Endian::Little);
    assert_eq!(r.seq_len(1), Err(CdrError::Truncated));
    let mut r = CdrReader::new(&[2, 0, 0, 0, b'a', b'b'], XcdrVersion::V1, Endian::Little);
    assert_eq!(r.string(), Err(CdrError::Invalid("string not NUL-terminated")));
    let mut r = CdrReader::new(&[2], XcdrVersion::V1, Endian::Little);
    assert_eq!(r.bool(), Err(CdrError::InvalidBool(2)));
    let mut r = CdrReader::new(&[2, 0, 0, 0, 0xff, 0], XcdrVersion::V1, Endian::Little);
    assert_eq!(r.string(), Err(CdrError::InvalidUtf8));
}

#[test]
fn encapsulation_ids() {
    for e in [
        Encapsulation::CdrBe,
        Encapsulation::CdrLe,
        Encapsulation::PlCdrBe,
        Encapsulation::PlCdrLe,
        Encapsulation::Cdr2Be,
        Encapsulation::Cdr2Le,
        Encapsulation::DCdr2Be,
        Encapsulation::DCdr2Le,
        Encapsulation::PlCdr2Be,
        Encapsulation::PlCdr2Le,
    ] {
        assert_eq!(Encapsulation::from_id(e.id()), Ok(e));
        let ext = match e {
            Encapsulation::PlCdrBe | Encapsulation::PlCdrLe | Encapsulation::PlCdr2Be | Encapsulation::PlCdr2Le => {
                Extensibility::Mutable
            }
            Encapsulation::DCdr2Be | Encapsulation::DCdr2Le => Extensibility::Appendable,
            _ => Extensibility::Final,
        };
        assert_eq!(Encapsulation::for_type(e.version(), ext, e.endian()), e);
    }
    assert_eq!(Encapsulation::from_id([0, 4]), Err(CdrError::UnknownEncapsulation([0, 4])));
    assert_eq!(Encapsulation::for_type(XcdrVersion::V1, Extensibility::Appendable, Endian::Big), Encapsulation::CdrBe);
    assert_eq!(version_for_representation(1), Err(CdrError::UnsupportedRepresentation(1)));
}

proptest! {
    #[test]
    fn mutable_round_trip(id: u32, count: u64, name in "[^\0]{0,40}", ratio in -1e9f64..1e9, small: u8,
                          v2: bool, big: bool) {
        let v = MutableProbe { id, count, name, ratio, small };
        let endian = if big { Endian::Big } else { Endian::Little };
        let out = encode(&v, if v2 { XCDR2 } else { XCDR1 }, endian);
        prop_assert_eq!(out.len() % 4, 0);
        prop_assert_eq!(decode_sample::<MutableProbe>(&out).expect("decode"), v);
    }

    #[test]
    fn align_round_trip(a: u8, b: u64, c: u16, d in -1e300f64..1e300, v2: bool, big: bool) {
        let v = AlignProbe { a, b, c, d };
        let endian = if big { Endian::Big } else { Endian::Little };
        let out = encode(&v, if v2 { XCDR2 } else { XCDR1 }, endian);
        prop_assert_eq!(decode_sample::<AlignProbe>(&out).expect("decode"), v);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_sample::<MutableProbe>(&bytes);
        let _ = decode_key_payload::<MutableProbe>(&bytes);
        let _ = decode_sample::<AlignProbe>(&bytes);
        for version in [XcdrVersion::V1, XcdrVersion::V2] {
            let mut r = CdrReader::new(&bytes, version, Endian::Little);
            let _ = r.string();
            let _ = r.seq_len(8);
            let mut r = CdrReader::new(&bytes, version, Endian::Big);
            while let Ok(Some((_, _, mut m))) = r.next_member() {
                let _ = m.f64();
            }
        }
    }

    #[test]
    fn emheader_garbage_inside_valid_header(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut payload = vec![0x00, 0x0b, 0, 0];
        payload.extend_from_slice(&(tail.len() as u32).to_le_bytes());
        payload.extend_from_slice(&tail);
        let _ = decode_sample::<MutableProbe>(&payload);
        payload[1] = 0x03;
        let _ = decode_sample::<MutableProbe>(&payload);
    }
}
