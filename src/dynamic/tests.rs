//! Tests of JSON conversion and of the dynamic ShapeType against the hand-written one.

use super::*;
use crate::types::ShapeType;
use serde_json::json;
use starling_proto::cdr::XcdrVersion;
use starling_proto::cdr::{
    decode_key_payload as typed_decode_key, encode_key_payload as typed_key, encode_sample, key_hash,
};
use starling_proto::wire::Endian;
use starling_proto::xtypes::{self, BitmaskType, BitsetType, DynamicValue as V, EnumType, PrimitiveKind, UnionType};

fn everything() -> DynamicType {
    let color = EnumType::new("M::Color").literal("RED").literal("GREEN").literal("BLUE").build();
    let point = StructType::new("M::Point", Extensibility::Final)
        .member("x", DynamicType::int32())
        .member("y", DynamicType::int32())
        .build();
    let u = UnionType::new("M::U", Extensibility::Appendable, color.clone())
        .case("p", point.clone(), &[0])
        .case("s", DynamicType::string(0), &[1])
        .default_case("n", DynamicType::int64(), &[])
        .build();
    StructType::new("M::All", Extensibility::Mutable)
        .key_member("id", DynamicType::primitive(PrimitiveKind::UInt64))
        .member("i64", DynamicType::int64())
        .member("b", DynamicType::bool())
        .member("c", DynamicType::primitive(PrimitiveKind::Char8))
        .member("wc", DynamicType::primitive(PrimitiveKind::Char16))
        .member("f", DynamicType::primitive(PrimitiveKind::Float32))
        .member("d", DynamicType::float64())
        .member("ld", DynamicType::primitive(PrimitiveKind::Float128))
        .member("s", DynamicType::string(8))
        .member("ws", DynamicType::wstring(0))
        .member("color", color)
        .member("bits", BitmaskType::new("M::Bits").flag("r").flag("w").flag("x").build())
        .member(
            "flags",
            BitsetType::new("M::Flags")
                .field("ready", 0, 1, PrimitiveKind::Bool)
                .field("level", 1, 4, PrimitiveKind::Int8)
                .field("count", 8, 20, PrimitiveKind::UInt32)
                .build(),
        )
        .member("price", DynamicType::fixed(9, 3))
        .member("pos", point.clone())
        .member("grid", DynamicType::array(DynamicType::primitive(PrimitiveKind::Int16), &[2, 3]))
        .member("bytes", DynamicType::sequence(DynamicType::primitive(PrimitiveKind::Byte), 0))
        .member("names", DynamicType::sequence(DynamicType::string(0), 3))
        .member("u", u)
        .member("m", DynamicType::map(DynamicType::string(0), point.clone(), 0))
        .member("mi", DynamicType::map(DynamicType::int32(), DynamicType::bool(), 0))
        .optional_member("opt", DynamicType::int32())
        .member("alias", DynamicType::alias("M::Count", DynamicType::primitive(PrimitiveKind::UInt16)))
        .build()
}

fn sample_json() -> serde_json::Value {
    json!({
        "id": u64::MAX,
        "i64": i64::MIN,
        "b": true,
        "c": "z",
        "wc": "é",
        "f": 0.1,
        "d": "NaN",
        "ld": "0x0000000000000000000000000000abcd",
        "s": "hello",
        "ws": "wide ✓",
        "color": "GREEN",
        "bits": ["r", "x"],
        "flags": {"ready": true, "level": -3, "count": 1048575},
        "price": "-123456.789",
        "pos": {"x": 1, "y": -2},
        "grid": [[1, 2, 3], [4, 5, 6]],
        "bytes": [0, 255, 7],
        "names": ["a", "b"],
        "u": {"discriminator": "BLUE", "n": 9007199254740993i64},
        "m": {"k1": {"x": 3, "y": 4}},
        "mi": {"-5": true, "7": false},
        "alias": 65535
    })
}

#[test]
fn json_round_trip_exact() {
    let ty = everything();
    let j = sample_json();
    let v = from_json(&ty, &j).expect("from_json");
    let back = to_json(&ty, &v).expect("to_json");
    assert_eq!(back, j);
    // 64-bit integers survive exactly, also through XCDR.
    for rep in [0, 2] {
        for e in [Endian::Little, Endian::Big] {
            let mut buf = Vec::new();
            xtypes::encode(&ty, &v, rep, e, &mut buf).expect("encode");
            let dec = xtypes::decode(&ty, &buf).expect("decode");
            assert_eq!(to_json(&ty, &dec).expect("json"), j);
        }
    }
    // Member order follows the declaration.
    let keys: Vec<&String> = back.as_object().expect("object").keys().collect();
    assert_eq!(keys.first().map(|k| k.as_str()), Some("id"));
    assert_eq!(keys.last().map(|k| k.as_str()), Some("alias"));
}

#[test]
fn json_inputs_accepted() {
    let ty = everything();
    // Defaults for missing members, enum by number, union without discriminator, null optional.
    let v = from_json(&ty, &json!({"color": 2, "u": {"s": "x"}, "opt": null, "price": 2.5})).expect("parse");
    let j = to_json(&ty, &v).expect("json");
    // A fixed-point number given as a JSON number comes back as its exact string.
    assert_eq!(j["price"], json!("2.500"));
    assert_eq!(j["flags"], json!({"ready": false, "level": 0, "count": 0}));
    assert_eq!(j["color"], json!("BLUE"));
    assert_eq!(j["u"], json!({"discriminator": "GREEN", "s": "x"}));
    assert_eq!(j["id"], json!(0));
    assert!(j.get("opt").is_none());
    let v = from_json(&ty, &json!({"u": {"n": 5}, "opt": 3})).expect("parse");
    let j = to_json(&ty, &v).expect("json");
    assert_eq!(j["u"], json!({"discriminator": "BLUE", "n": 5}));
    assert_eq!(j["opt"], json!(3));
}

#[test]
fn json_errors_name_the_path() {
    let ty = everything();
    let cases = [
        (json!({"pos": {"x": "abc"}}), "$.pos.x: expected int32, found \"abc\""),
        (json!({"alias": 70000}), "$.alias: 70000 out of range for uint16"),
        (json!({"grid": [[1, 2, 3], [4, 5]]}), "$.grid[1]: expected 3 elements, found 2"),
        (json!({"names": ["a", 1]}), "$.names[1]: expected string, found 1"),
        (json!({"nope": 1}), "$.nope: struct M::All has no member nope"),
        (json!({"color": "PINK"}), "$.color: expected an enumerator of M::Color, found \"PINK\""),
        (json!({"s": "123456789"}), "$.s: string of length 9 exceeds bound 8"),
        (json!({"u": {"discriminator": "RED", "s": "x"}}), "$.u: discriminator selects branch p, but s was given"),
        (json!({"c": "ab"}), "$.c: expected char (a one-character string), found \"ab\""),
        (json!({"i64": 1.5}), "$.i64: expected int64, found 1.5"),
        (json!({"price": "1.2345"}), "$.price: 1.2345 has more than 3 digit(s) after the decimal point"),
        (json!({"price": 1234567.0}), "$.price: 1234567.0 has more than 6 digit(s) before the decimal point"),
        (json!({"price": true}), "$.price: expected fixed<9, 3> (a decimal string), found true"),
        (json!({"flags": {"level": 8}}), "$.flags.level: 8 out of range for a 4-bit field"),
        (json!({"flags": {"count": -1}}), "$.flags.count: -1 out of range for a 20-bit field"),
        (json!({"flags": {"nope": 1}}), "$.flags.nope: bitset M::Flags has no field nope"),
        (json!({"flags": [1]}), "$.flags: expected bitset M::Flags (an object), found [1]"),
        (json!({"m": {"k": {"x": true}}}), "$.m[\"k\"].x: expected int32, found true"),
    ];
    for (input, msg) in cases {
        let e = from_json(&ty, &input).expect_err(msg);
        assert_eq!(e.to_string(), msg);
    }
}

fn shape(color: &str, x: i32, payload: Vec<u8>) -> (ShapeType, V) {
    let s = ShapeType { color: color.into(), x, y: -x, shapesize: 30, additional_payload_size: payload.clone() };
    let v = V::Struct(vec![
        Some(V::String(color.into())),
        Some(V::Int32(x)),
        Some(V::Int32(-x)),
        Some(V::Int32(30)),
        Some(V::Sequence(payload.into_iter().map(V::UInt8).collect())),
    ]);
    (s, v)
}

#[test]
fn dynamic_shape_type_matches_hand_written() {
    let ty = shape_type();
    for (i, color) in ["", "BLUE", "a much longer color name, still under 128"].iter().enumerate() {
        let (s, v) = shape(color, i as i32 * 1000 - 7, (0..i as u8 * 5).collect());
        for rep in [0, 2] {
            for e in [Endian::Little, Endian::Big] {
                let mut a = Vec::new();
                let mut b = Vec::new();
                encode_sample(&s, rep, e, &mut a).expect("typed");
                xtypes::encode(&ty, &v, rep, e, &mut b).expect("dynamic");
                assert_eq!(a, b);
                assert_eq!(xtypes::decode(&ty, &a).expect("decode"), v);
                let mut ka = Vec::new();
                let mut kb = Vec::new();
                typed_key(&s, rep, e, &mut ka).expect("typed key");
                xtypes::encode_key_payload(&ty, &v, rep, e, &mut kb).expect("dynamic key");
                assert_eq!(ka, kb);
                let back: ShapeType = typed_decode_key(&kb).expect("typed decode key");
                assert_eq!(back.color, s.color);
            }
        }
        for version in [XcdrVersion::V1, XcdrVersion::V2] {
            assert_eq!(xtypes::key_hash(&ty, &v, version).expect("hash"), key_hash(&s, version));
        }
        // JSON: the same object the hand-written type produces when the payload is non-empty.
        if !s.additional_payload_size.is_empty() {
            assert_eq!(to_json(&ty, &v).expect("json"), serde_json::to_value(&s).expect("serde"));
        }
    }
}
