//! Generated types round-trip through XCDR1 and XCDR2 in both byte orders; bounds, ranges, unions, member ids
//! and key hashes behave as specified; the generated ShapeType matches the hand-written one byte for byte.

use md5::{Digest, Md5};
use starling_idl_tests::examples::common;
use starling_idl_tests::examples::ex;
use starling_idl_tests::testing::{Random, Rng, Visitor};
use starling_proto::cdr::{
    decode_key_payload, decode_sample, encode_key_payload, encode_sample, key_hash, CdrError, CdrWriter, TopicType,
    XcdrVersion,
};
use starling_proto::qos::{XCDR1, XCDR2};
use starling_proto::wire::Endian;

const ENCODINGS: [(i16, Endian, XcdrVersion); 4] = [
    (XCDR1, Endian::Little, XcdrVersion::V1),
    (XCDR1, Endian::Big, XcdrVersion::V1),
    (XCDR2, Endian::Little, XcdrVersion::V2),
    (XCDR2, Endian::Big, XcdrVersion::V2),
];

fn encode<T: TopicType>(v: &T, rep: i16, endian: Endian) -> Result<Vec<u8>, CdrError> {
    let mut out = Vec::new();
    encode_sample(v, rep, endian, &mut out)?;
    Ok(out)
}

struct RoundTrip {
    seeds: u64,
    types: usize,
    /// Types the dynamic (XTypes) codec could describe, and those where it disagreed with the generated code.
    described: usize,
    dynamic_mismatches: Vec<String>,
}

impl RoundTrip {
    fn new(seeds: u64) -> Self {
        RoundTrip { seeds, types: 0, described: 0, dynamic_mismatches: Vec::new() }
    }
}

/// The generated codec and the dynamic codec (driven by the generated `dynamic_type()`) agree on `bytes`:
/// the dynamic codec decodes them and re-encodes the same bytes, with the same key hash.
fn dynamic_agrees<T: TopicType>(
    v: &T,
    bytes: &[u8],
    rep: i16,
    endian: Endian,
    version: XcdrVersion,
) -> Result<(), String> {
    let Some(ty) = T::dynamic_type() else { return Ok(()) };
    let dv = starling_proto::xtypes::decode(&ty, bytes).map_err(|e| format!("dynamic decode: {e}"))?;
    let mut again = Vec::new();
    starling_proto::xtypes::encode(&ty, &dv, rep, endian, &mut again).map_err(|e| format!("dynamic encode: {e}"))?;
    if again != bytes {
        return Err(format!("dynamic re-encoding differs (rep {rep} {endian:?})\n{bytes:02x?}\n{again:02x?}"));
    }
    let kh = starling_proto::xtypes::key_hash(&ty, &dv, version).map_err(|e| format!("dynamic key hash: {e}"))?;
    if kh != key_hash(v, version) {
        return Err(format!("key hash differs (rep {rep})"));
    }
    Ok(())
}

impl Visitor for RoundTrip {
    fn visit<T: TopicType + Random + PartialEq + std::fmt::Debug + Clone>(&mut self, name: &str) {
        assert_eq!(T::type_name(), name);
        self.types += 1;
        if T::dynamic_type().is_some() {
            self.described += 1;
        }
        let mut mismatch = None;
        let salt = name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        for seed in 0..self.seeds {
            let v = T::random(&mut Rng::new(seed ^ salt));
            for (rep, endian, version) in ENCODINGS {
                let bytes = encode(&v, rep, endian).unwrap_or_else(|e| panic!("{name} seed {seed} rep {rep}: {e}"));
                let back: T = decode_sample(&bytes)
                    .unwrap_or_else(|e| panic!("{name} seed {seed} rep {rep} {endian:?}: {e}\n{v:?}\n{bytes:02x?}"));
                assert_eq!(back, v, "{name} seed {seed} rep {rep} {endian:?}");
                if mismatch.is_none() {
                    mismatch = dynamic_agrees(&v, &bytes, rep, endian, version).err();
                }
                if T::is_keyed() {
                    let mut kp = Vec::new();
                    encode_key_payload(&v, rep, endian, &mut kp).unwrap_or_else(|e| panic!("{name}: {e}"));
                    let k: T = decode_key_payload(&kp).unwrap_or_else(|e| panic!("{name} key payload: {e}"));
                    assert_eq!(key_hash(&k, version), key_hash(&v, version), "{name} seed {seed}");
                    // Small keys are the serialized key itself.
                    if T::key_max_size(version).is_some_and(|m| m <= 16) {
                        let mut kb = Vec::new();
                        v.serialize_key(&mut CdrWriter::new(&mut kb, version, Endian::Big)).expect("key");
                        kb.resize(16, 0);
                        assert_eq!(key_hash(&v, version).0.to_vec(), kb, "{name}");
                    }
                }
            }
        }
        if let Some(m) = mismatch {
            self.dynamic_mismatches.push(format!("{name}: {m}"));
        }
    }
}

#[test]
fn examples_round_trip() {
    let mut rt = RoundTrip::new(40);
    starling_idl_tests::examples::visit_types(&mut rt);
    assert!(rt.types >= 14, "{}", rt.types);
    // Everything is described (bitsets included), and the dynamic codec agrees byte for byte.
    assert_eq!(rt.described, rt.types);
    assert!(rt.dynamic_mismatches.is_empty(), "{:#?}", rt.dynamic_mismatches);
}

#[test]
fn corpus_types_round_trip() {
    use starling_idl_tests::corpus::*;
    let mut rt = RoundTrip::new(6);
    aliases::visit_types(&mut rt);
    annotations::visit_types(&mut rt);
    appendable::visit_types(&mut rt);
    arrays::visit_types(&mut rt);
    bitsets::visit_types(&mut rt);
    constants::visit_types(&mut rt);
    declarations::visit_types(&mut rt);
    enumerations::visit_types(&mut rt);
    external::visit_types(&mut rt);
    final_::visit_types(&mut rt);
    inheritance::visit_types(&mut rt);
    key::visit_types(&mut rt);
    maps::visit_types(&mut rt);
    member_id::visit_types(&mut rt);
    mutable::visit_types(&mut rt);
    optional::visit_types(&mut rt);
    primitives::visit_types(&mut rt);
    sequences::visit_types(&mut rt);
    strings::visit_types(&mut rt);
    structures::visit_types(&mut rt);
    unions::visit_types(&mut rt);
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/idl-corpus");
    assert!(rt.types > 300 || !corpus.is_dir(), "{}", rt.types);
    eprintln!("corpus: {} of {} types described", rt.described, rt.types);
    assert!(rt.described * 10 > rt.types * 9, "{} of {} described", rt.described, rt.types);
    assert!(rt.dynamic_mismatches.is_empty(), "{:#?}", rt.dynamic_mismatches);
}

#[test]
fn generated_shape_type_matches_hand_written() {
    use starling::types::ShapeType as Hand;
    use starling_idl_tests::shape::ShapeType as Gen;
    assert_eq!(Gen::type_name(), Hand::type_name());
    assert_eq!(Gen::dynamic_type(), Hand::dynamic_type());
    assert_eq!(Gen::extensibility(), Hand::extensibility());
    for seed in 0..50u64 {
        let mut g = Rng::new(seed);
        let gen = Gen::random(&mut g);
        let hand = Hand {
            color: gen.color.clone(),
            x: gen.x,
            y: gen.y,
            shapesize: gen.shapesize,
            additional_payload_size: gen.additional_payload_size.clone(),
        };
        for (rep, endian, version) in ENCODINGS {
            assert_eq!(encode(&gen, rep, endian), encode(&hand, rep, endian), "seed {seed}");
            assert_eq!(key_hash(&gen, version), key_hash(&hand, version));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encode_key_payload(&gen, rep, endian, &mut a).expect("gen key");
            encode_key_payload(&hand, rep, endian, &mut b).expect("hand key");
            assert_eq!(a, b);
            assert_eq!(Gen::key_max_size(version), Hand::key_max_size(version));
        }
    }
    let blue = Gen { color: "BLUE".into(), ..Gen::default() };
    let want = [0xca, 0xc2, 0x17, 0xc3, 0x18, 0x36, 0x3f, 0x8e, 0xf1, 0x16, 0x0e, 0xee, 0xde, 0xf9, 0xe8, 0x86];
    assert_eq!(key_hash(&blue, XcdrVersion::V2).0, want);
    let too_long = Gen { color: "x".repeat(129), ..Gen::default() };
    assert_eq!(encode(&too_long, XCDR2, Endian::Little), Err(CdrError::BoundExceeded { len: 129, bound: 128 }));
}

#[test]
fn bounds_are_checked_on_write_and_read() {
    let ok = ex::Collections::default();
    assert!(encode(&ok, XCDR2, Endian::Little).is_ok());
    let cases: Vec<(ex::Collections, usize, usize)> = vec![
        (ex::Collections { short_text: "abcdef".into(), ..ex::Collections::default() }, 6, 5),
        (ex::Collections { short_wtext: "abcde".into(), ..ex::Collections::default() }, 5, 4),
        (ex::Collections { bytes: vec![0; 9], ..ex::Collections::default() }, 9, 8),
        (ex::Collections { names: vec![String::new(); 4], ..ex::Collections::default() }, 4, 3),
        (ex::Collections { names: vec!["toolong".into()], ..ex::Collections::default() }, 7, 4),
        (ex::Collections { nested: vec![vec![1, 2, 3]], ..ex::Collections::default() }, 3, 2),
        (
            ex::Collections {
                by_name: (0..5).map(|i| (format!("k{i}"), ex::Forwarded::default())).collect(),
                ..ex::Collections::default()
            },
            5,
            4,
        ),
    ];
    for (v, len, bound) in cases {
        for (rep, endian, _) in ENCODINGS {
            assert_eq!(encode(&v, rep, endian), Err(CdrError::BoundExceeded { len, bound }), "{v:?}");
        }
    }
    // A peer that ignores the bound is rejected when reading.
    let mut bytes = encode(&ex::Forwarded { name: "x".repeat(16), value: 1 }, XCDR2, Endian::Little).expect("fits");
    // Grow the string length prefix past the 16-character bound (`common::Name` is string<16>).
    bytes[4] = 18;
    bytes.splice(8..8, [b'x']);
    assert_eq!(decode_sample::<ex::Forwarded>(&bytes), Err(CdrError::BoundExceeded { len: 17, bound: 16 }));
}

#[test]
fn ranges_and_union_discriminators_are_checked() {
    let v = ex::Keyed { percent: 101, ..ex::Keyed::default() };
    assert_eq!(encode(&v, XCDR2, Endian::Little), Err(CdrError::Invalid("value outside its @range")));
    let v = ex::Keyed { percent: -1, ..ex::Keyed::default() };
    assert!(encode(&v, XCDR1, Endian::Big).is_err());
    assert_eq!(ex::Keyed::default().seven, 7);
    let bad = ex::Derived { number: ex::ByNumber::Small(3, 1.0), ..ex::Derived::default() };
    assert!(matches!(encode(&bad, XCDR2, Endian::Little), Err(CdrError::Invalid(_))));
    let bad = ex::Derived { number: ex::ByNumber::Other(1, vec![]), ..ex::Derived::default() };
    assert!(matches!(encode(&bad, XCDR2, Endian::Little), Err(CdrError::Invalid(_))));
    let ok = ex::Derived {
        number: ex::ByNumber::Other(9, vec![1]),
        flag: ex::ByBool::Unselected(false),
        ..ex::Derived::default()
    };
    let bytes = encode(&ok, XCDR2, Endian::Little).expect("valid");
    assert_eq!(decode_sample::<ex::Derived>(&bytes), Ok(ok));
    assert_eq!(ex::ByNumber::Small(2, 0.5).discriminator(), 2);
    assert_eq!(ex::Choice::AsText("x".into()).discriminator(), common::Color::GREEN);
}

#[test]
fn layout_details() {
    // Enum values: GREEN is 10.
    assert_eq!(common::Color::GREEN as i32, 10);
    assert_eq!(common::Color::BLUE as i32, 11);
    assert_eq!(common::Color::default(), common::Color::RED);
    // Constants.
    assert_eq!(common::MAX_ITEMS, 8);
    assert_eq!(common::MASK, 0xfc);
    assert_eq!(common::SHIFTED, 16);
    assert_eq!(common::HALF, 0.5);
    assert_eq!(common::GREETING, "hi there");
    assert_eq!(common::LETTER, b'x');
    const { assert!(common::YES) };
    assert_eq!(common::FAVOURITE, common::Color::GREEN);
    // Bitmask and bitset.
    assert_eq!(ex::Permissions::EXECUTE.0, 1 << 5);
    assert!((ex::Permissions::READ | ex::Permissions::WRITE).contains(ex::Permissions::WRITE));
    let p = ex::Packed { small: 5, flag: true, signed_field: -3, wide: 0xabc };
    let mut buf = Vec::new();
    starling_proto::cdr::CdrSerialize::write_cdr(&p, &mut CdrWriter::new(&mut buf, XcdrVersion::V2, Endian::Little))
        .expect("bitset");
    // 3 + 1 + 4 (padding) + 6 + 12 = 26 bits → uint32.
    let bits = 5 | 1 << 3 | (((-3i64) as u64) & 0x3f) << 8 | 0xabc << 14;
    assert_eq!(buf, (bits as u32).to_le_bytes());
    // Mutable member ids: `id` is @id(5), 4 bytes (LC 2). Keys carry no must-understand flag (as Cyclone
    // writes them).
    let m = ex::MutableThing { id: 0x01020304, ..ex::MutableThing::default() };
    let bytes = encode(&m, XCDR2, Endian::Little).expect("mutable");
    assert_eq!(&bytes[..2], &[0, 0x0b]);
    assert_eq!(&bytes[8..16], &[5, 0, 0, 0x20, 4, 3, 2, 1]);
    // XCDR1: PL_CDR with PID_EXTENDED headers (M flag, length 8, member id, member length), as Cyclone writes
    // mutable members.
    let bytes = encode(&m, XCDR1, Endian::Little).expect("mutable v1");
    assert_eq!(&bytes[..2], &[0, 0x03]);
    assert_eq!(&bytes[4..20], &[0x01, 0x7f, 8, 0, 5, 0, 0, 0, 4, 0, 0, 0, 4, 3, 2, 1]);
    // The @hashid member follows.
    let name_id = u32::from_le_bytes(Md5::digest(b"name")[..4].try_into().expect("4 bytes")) & 0x0fff_ffff;
    let bytes = encode(&m, XCDR2, Endian::Little).expect("mutable");
    let h = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    assert_eq!(h & 0x0fff_ffff, name_id);
    // Appendable: a DHEADER; final: none.
    let bytes = encode(&ex::Forwarded::default(), XCDR2, Endian::Little).expect("final");
    assert_eq!(&bytes[..2], &[0, 0x07]);
    let bytes = encode(&ex::Collections::default(), XCDR2, Endian::Little).expect("appendable");
    assert_eq!(&bytes[..2], &[0, 0x09]);
    let dheader = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    assert!(dheader + 8 <= bytes.len() && bytes.len() - dheader - 8 < 4);
}

#[test]
fn key_hashes() {
    // Point's key is {x, y}: 8 bytes at most, so the hash is the big-endian bytes themselves.
    let p = ex::Point { x: 1, y: -2, weight: 3.0 };
    let want = [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(key_hash(&p, XcdrVersion::V1).0, want);
    assert_eq!(key_hash(&p, XcdrVersion::V2).0, want);
    // Keyed: id, the nested key (x, y) and a bounded string: 4 + 8 + 4 + 13 = 29 bytes max, so MD5.
    assert_eq!(ex::Keyed::key_max_size(XcdrVersion::V2), Some(29));
    let k = ex::Keyed {
        id: 7,
        r#where: ex::Point { x: 1, y: 2, weight: 9.0 },
        label: "ab".into(),
        note: Some("not part of the key".into()),
        ..ex::Keyed::default()
    };
    let key_bytes = [0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, b'a', b'b', 0];
    let digest: [u8; 16] = Md5::digest(key_bytes).into();
    assert_eq!(key_hash(&k, XcdrVersion::V2).0, digest);
    // Non-key members do not change the hash.
    let k2 =
        ex::Keyed { note: None, percent: 50, r#where: ex::Point { weight: 1.0, ..k.r#where.clone() }, ..k.clone() };
    assert_eq!(key_hash(&k, XcdrVersion::V2), key_hash(&k2, XcdrVersion::V2));
    // Unkeyed types hash to zero; key payload of a keyed type carries only the key.
    assert_eq!(key_hash(&ex::Forwarded::default(), XcdrVersion::V2).0, [0; 16]);
    let mut kp = Vec::new();
    encode_key_payload(&k, XCDR2, Endian::Little, &mut kp).expect("key payload");
    let back: ex::Keyed = decode_key_payload(&kp).expect("decode key payload");
    assert_eq!(back.id, 7);
    assert_eq!(back.label, "ab");
    assert_eq!(back.note, None);
    assert_eq!(back.r#where.weight, 0.0);
}

#[test]
fn fixed_and_valuetypes_encode_as_specified() {
    use starling_idl_tests::examples::money::{Account, Priced, Savings};
    fn fx<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().expect("decimal")
    }
    // A valuetype is a struct with its base's members first; private and public members alike.
    let s = Savings { id: 7, balance: fx("-12.5"), rate: fx("0.0125"), history: vec![fx("1")] };
    assert_eq!(Savings::type_name(), "money::Savings");
    assert!(Account::is_keyed() && Savings::is_keyed());
    let bytes = encode(&s, XCDR2, Endian::Little).expect("encode");
    // id; fixed<9, 2> -12.50 as packed BCD (5 octets, sign 0xD); fixed<4, 4> 0.0125 (3 octets, a leading zero
    // half-octet, sign 0xC); the sequence of fixed has a DHEADER (fixed is no primitive type).
    let body: String = bytes[4..].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        body,
        "07000000".to_owned() + "000001250d" + "00125c" + "09000000" + "01000000" + "000000100c" + "000000"
    );
    let back: Savings = decode_sample(&bytes).expect("decode");
    assert_eq!(back, s);
    assert_eq!(back.balance.to_string(), "-12.50");
    // The dynamic description carries the base, and encodes the same bytes.
    let ty = Savings::dynamic_type().expect("described");
    let dv = starling_proto::xtypes::decode(&ty, &bytes).expect("dynamic decode");
    let mut again = Vec::new();
    starling_proto::xtypes::encode(&ty, &dv, XCDR2, Endian::Little, &mut again).expect("dynamic encode");
    assert_eq!(again, bytes);
    // No TypeObject for a type holding a fixed: XTypes has no TypeKind for it.
    assert!(starling_proto::xtypes::typeobject::TypeInformation::for_type(&ty).is_err());
    // Macro-generated members are there.
    let p = Priced { low_min: fx("1.25"), high_max: fx("-1"), ..Default::default() };
    assert_eq!((p.low_min.unscaled(), p.high_max.unscaled()), (125, -100));
}
