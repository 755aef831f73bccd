//! ShapeType encoding tests.
//!
//! V1–V4 and the key hash are from `shared/interop/shapetype-xcdr2-vector.md`. The vectors marked "Cyclone"
//! came from Cyclone DDS 11.0.1's Python serializer (`IdlStruct.serialize(use_version_2=…, endianness=…)` and
//! `serialize_key`), with ShapeType declared as an `@appendable` dataclass with `bounded_str[128]` key `color`.
//! That serializer does not pad payloads to a multiple of 4; where Starling pads, the tests add the padding.

use super::*;
use starling_proto::cdr::{decode_key_payload, decode_sample, encode_key_payload, encode_sample, key_hash};
use starling_proto::qos::{XCDR1, XCDR2};
use starling_proto::wire::Endian;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("test vector hex")).collect()
}

fn shape(color: &str, x: i32, y: i32, shapesize: i32, payload: &[u8]) -> ShapeType {
    ShapeType { color: color.into(), x, y, shapesize, additional_payload_size: payload.to_vec() }
}

fn encode(v: &ShapeType, rep: i16, endian: Endian) -> Vec<u8> {
    let mut out = Vec::new();
    encode_sample(v, rep, endian, &mut out).expect("encode");
    out
}

/// Cyclone's unpadded bytes, padded to a multiple of 4 as Starling writes them.
fn padded(mut v: Vec<u8>) -> Vec<u8> {
    let pad = (4 - v.len() % 4) % 4;
    v.resize(v.len() + pad, 0);
    v[3] |= pad as u8;
    v
}

fn check(v: &ShapeType, rep: i16, endian: Endian, cyclone: &str) {
    let cyclone = hex(cyclone);
    assert_eq!(&decode_sample::<ShapeType>(&cyclone).expect("decode"), v);
    let ours = encode(v, rep, endian);
    assert_eq!(ours, padded(cyclone), "{v:?} rep {rep} {endian:?}");
    assert_eq!(&decode_sample::<ShapeType>(&ours).expect("decode"), v);
}

const V1: &str = "00 09 00 00 1c 00 00 00 05 00 00 00 42 4c 55 45 00 00 00 00 01 00 00 00 02 00 00 00 \
                  01 00 00 00 00 00 00 00";
const V2: &str = "00 08 00 00 00 00 00 1c 00 00 00 05 42 4c 55 45 00 00 00 00 00 00 00 01 00 00 00 02 \
                  00 00 00 01 00 00 00 00";
const V3_LE: &str = "00 01 00 00 05 00 00 00 42 4c 55 45 00 00 00 00 01 00 00 00 02 00 00 00 01 00 00 00 \
                     00 00 00 00";
const V3_BE: &str = "00 00 00 00 00 00 00 05 42 4c 55 45 00 00 00 00 00 00 00 01 00 00 00 02 00 00 00 01 \
                     00 00 00 00";
const V4: &str = "00 09 00 00 1b 00 00 00 04 00 00 00 52 45 44 00 0a 00 00 00 c8 00 00 00 1e 00 00 00 \
                  03 00 00 00 ff ff ff";

#[test]
fn vectors_v1_to_v3() {
    let blue = shape("BLUE", 1, 2, 1, &[]);
    check(&blue, XCDR2, Endian::Little, V1);
    check(&blue, XCDR2, Endian::Big, V2);
    check(&blue, XCDR1, Endian::Little, V3_LE);
    check(&blue, XCDR1, Endian::Big, V3_BE);
}

#[test]
fn vector_v4_padding() {
    let red = shape("RED", 10, 200, 30, &[255, 255, 255]);
    let unpadded = hex(V4);
    assert_eq!(unpadded.len(), 35);
    let mut with_pad = unpadded.clone();
    with_pad.push(0);
    with_pad[3] = 1;
    assert_eq!(encode(&red, XCDR2, Endian::Little), with_pad);
    assert_eq!(decode_sample::<ShapeType>(&unpadded).expect("decode"), red);
    assert_eq!(decode_sample::<ShapeType>(&with_pad).expect("decode"), red);
    // A reader ignores the options: a pad byte without the options bits set is accepted too.
    with_pad[3] = 0;
    assert_eq!(decode_sample::<ShapeType>(&with_pad).expect("decode"), red);
}

#[test]
fn cyclone_vectors() {
    let red = shape("RED", 10, 200, 30, &[255, 255, 255]);
    // Cyclone.
    check(
        &red,
        XCDR1,
        Endian::Little,
        "00 01 00 00 04 00 00 00 52 45 44 00 0a 00 00 00 c8 00 00 00 1e 00 00 00 03 00 00 00 ff ff ff",
    );
    check(
        &red,
        XCDR2,
        Endian::Big,
        "00 08 00 00 00 00 00 1b 00 00 00 04 52 45 44 00 00 00 00 0a 00 00 00 c8 00 00 00 1e 00 00 00 03 ff ff ff",
    );
    let green = shape("GREEN", -5, i32::MAX, 0, &[1, 2, 3, 4, 5, 6, 7]);
    // Cyclone.
    check(
        &green,
        XCDR1,
        Endian::Big,
        "00 00 00 00 00 00 00 06 47 52 45 45 4e 00 00 00 ff ff ff fb 7f ff ff ff 00 00 00 00 00 00 00 07 \
         01 02 03 04 05 06 07",
    );
    check(
        &green,
        XCDR2,
        Endian::Little,
        "00 09 00 00 23 00 00 00 06 00 00 00 47 52 45 45 4e 00 00 00 fb ff ff ff ff ff ff 7f 00 00 00 00 \
         07 00 00 00 01 02 03 04 05 06 07",
    );
    // Cyclone: a 128-character color (the bound), DHEADER 0x99, string length 0x81.
    let long = "C".repeat(128);
    let v = shape(&long, 7, 8, 9, &[0xaa]);
    let tail = "07 00 00 00 08 00 00 00 09 00 00 00 01 00 00 00 aa";
    let cs = "43 ".repeat(128);
    check(&v, XCDR2, Endian::Little, &format!("00 09 00 00 99 00 00 00 81 00 00 00 {cs} 00 00 00 00 {tail}"));
    check(&v, XCDR1, Endian::Little, &format!("00 01 00 00 81 00 00 00 {cs} 00 00 00 00 {tail}"));
    let tail_be = "00 00 00 07 00 00 00 08 00 00 00 09 00 00 00 01 aa";
    check(&v, XCDR2, Endian::Big, &format!("00 08 00 00 00 00 00 99 00 00 00 81 {cs} 00 00 00 00 {tail_be}"));
    check(&v, XCDR1, Endian::Big, &format!("00 00 00 00 00 00 00 81 {cs} 00 00 00 00 {tail_be}"));
}

#[test]
fn color_bound_is_enforced() {
    let v = shape(&"C".repeat(129), 0, 0, 0, &[]);
    let mut out = vec![1, 2, 3];
    let err = encode_sample(&v, XCDR2, Endian::Little, &mut out).expect_err("over bound");
    assert_eq!(err, CdrError::BoundExceeded { len: 129, bound: 128 });
    assert_eq!(out, [1, 2, 3], "output left unchanged on error");
    // A peer's 129-character color is rejected on read.
    let mut payload = hex("00 01 00 00 82 00 00 00");
    payload.extend_from_slice(&[b'C'; 129]);
    payload.extend_from_slice(&[0; 19]);
    assert_eq!(decode_sample::<ShapeType>(&payload), Err(CdrError::BoundExceeded { len: 129, bound: 128 }));
}

#[test]
fn older_peer_without_payload_member() {
    // XCDR2 appendable: a DHEADER that ends before additional_payload_size.
    let bytes = hex("00 09 00 00 18 00 00 00 05 00 00 00 42 4c 55 45 00 00 00 00 01 00 00 00 02 00 00 00 01 00 00 00");
    assert_eq!(decode_sample::<ShapeType>(&bytes).expect("decode"), shape("BLUE", 1, 2, 1, &[]));
    // A newer peer's extra member after ours is skipped by the DHEADER.
    let bytes = hex("00 09 00 00 20 00 00 00 05 00 00 00 42 4c 55 45 00 00 00 00 01 00 00 00 02 00 00 00 01 00 00 00 \
         00 00 00 00 63 00 00 00");
    assert_eq!(decode_sample::<ShapeType>(&bytes).expect("decode"), shape("BLUE", 1, 2, 1, &[]));
}

#[test]
fn key_hash_blue() {
    let want = hex("ca c2 17 c3 18 36 3f 8e f1 16 0e ee de f9 e8 86");
    let blue = shape("BLUE", 1, 2, 1, &[]);
    assert_eq!(key_hash(&blue, XcdrVersion::V2).0.to_vec(), want);
    assert_eq!(key_hash(&blue, XcdrVersion::V1).0.to_vec(), want);
    // Only the key matters.
    assert_eq!(key_hash(&shape("BLUE", 9, 9, 9, &[1]), XcdrVersion::V2).0.to_vec(), want);
}

#[test]
fn key_payload_matches_cyclone() {
    let blue = shape("BLUE", 1, 2, 1, &[]);
    let key_only = shape("BLUE", 0, 0, 0, &[]);
    // Cyclone serialize_key: XCDR2 has the DHEADER of the KeyHolder, XCDR1 just the string.
    for (rep, endian, want) in [
        (XCDR2, Endian::Little, "00 09 00 00 09 00 00 00 05 00 00 00 42 4c 55 45 00"),
        (XCDR2, Endian::Big, "00 08 00 00 00 00 00 09 00 00 00 05 42 4c 55 45 00"),
        (XCDR1, Endian::Little, "00 01 00 00 05 00 00 00 42 4c 55 45 00"),
        (XCDR1, Endian::Big, "00 00 00 00 00 00 00 05 42 4c 55 45 00"),
    ] {
        let cyclone = hex(want);
        assert_eq!(decode_key_payload::<ShapeType>(&cyclone).expect("decode"), key_only);
        let mut ours = Vec::new();
        encode_key_payload(&blue, rep, endian, &mut ours).expect("encode");
        assert_eq!(ours, padded(cyclone));
        assert_eq!(decode_key_payload::<ShapeType>(&ours).expect("decode"), key_only);
    }
}

#[test]
fn json_form() {
    let v = shape("BLUE", 10, 20, 30, &[]);
    let json = serde_json::to_string(&v).expect("json");
    assert_eq!(json, r#"{"color":"BLUE","x":10,"y":20,"shapesize":30}"#);
    assert_eq!(serde_json::from_str::<ShapeType>(&json).expect("parse"), v);
    let with = shape("RED", 1, 2, 3, &[4, 5]);
    let json = serde_json::to_string(&with).expect("json");
    assert_eq!(json, r#"{"color":"RED","x":1,"y":2,"shapesize":3,"additional_payload_size":[4,5]}"#);
    assert_eq!(serde_json::from_str::<ShapeType>(&json).expect("parse"), with);
    assert_eq!(ShapeType::type_name(), "ShapeType");
    assert_eq!(ShapeType::extensibility(), Extensibility::Appendable);
}

/// xorshift64*: a small deterministic generator, so the randomized tests need no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

#[test]
fn randomized_round_trips() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..2000 {
        let len = rng.below(129);
        let color: String = (0..len).map(|_| char::from(b' ' + rng.below(95) as u8)).collect();
        let payload: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let v = ShapeType {
            color,
            x: rng.next() as i32,
            y: rng.next() as i32,
            shapesize: rng.next() as i32,
            additional_payload_size: payload,
        };
        for rep in [XCDR1, XCDR2] {
            for endian in [Endian::Little, Endian::Big] {
                let out = encode(&v, rep, endian);
                assert_eq!(out.len() % 4, 0);
                assert_eq!(decode_sample::<ShapeType>(&out).expect("decode"), v);
                let mut key = Vec::new();
                encode_key_payload(&v, rep, endian, &mut key).expect("key");
                assert_eq!(decode_key_payload::<ShapeType>(&key).expect("key").color, v.color);
            }
        }
    }
}

#[test]
fn decoding_arbitrary_bytes_never_panics() {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let valid = hex(V4);
    for i in 0..20_000 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            // Pure noise behind a plausible header.
            let mut b = vec![0, [0, 1, 8, 9][rng.below(4)], 0, 0];
            b.extend((0..rng.below(80)).map(|_| rng.next() as u8));
            b
        } else {
            // A valid payload with a few bytes mutated and maybe truncated.
            let mut b = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() as u64);
                b[at] = rng.next() as u8;
            }
            b.truncate(rng.below(b.len() as u64 + 1));
            b
        };
        let _ = decode_sample::<ShapeType>(&bytes);
        let _ = decode_key_payload::<ShapeType>(&bytes);
    }
}
