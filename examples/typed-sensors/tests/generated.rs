//! The build-time generated `sensors::Reading` is a complete topic type: it round-trips through XCDR1 and XCDR2,
//! its key hash depends on the key only, and it describes itself as an XTypes type.

use starling::proto::cdr::{decode_sample, encode_sample, key_hash, TopicType, XcdrVersion};
use starling::proto::wire::Endian;
use starling_example_sensors::sensors::{Reading, Unit};

fn reading(id: &str, value: f64, note: Option<&str>) -> Reading {
    Reading { sensor_id: id.into(), timestamp_ns: 42, value, unit: Unit::PASCAL, note: note.map(str::to_string) }
}

#[test]
fn round_trips_in_both_encodings_and_byte_orders() {
    for r in [reading("a", 1.5, None), reading("b", -3.0, Some("calibrated"))] {
        for representation in [0i16, 2] {
            for endian in [Endian::Little, Endian::Big] {
                let mut buf = Vec::new();
                encode_sample(&r, representation, endian, &mut buf).expect("encode");
                assert_eq!(decode_sample::<Reading>(&buf).expect("decode"), r);
            }
        }
    }
}

#[test]
fn key_hash_follows_the_key_only() {
    let a = key_hash(&reading("sensor-1", 1.0, None), XcdrVersion::V2);
    assert_eq!(a, key_hash(&reading("sensor-1", 9.0, Some("x")), XcdrVersion::V2));
    assert_ne!(a, key_hash(&reading("sensor-2", 1.0, None), XcdrVersion::V2));
}

#[test]
fn describes_itself_from_the_idl() {
    assert_eq!(Reading::type_name(), "sensors::Reading");
    assert!(Reading::is_keyed());
    let ty = Reading::dynamic_type().expect("generated types carry their XTypes description");
    let text = format!("{ty:?}");
    for member in ["sensor_id", "timestamp_ns", "value", "unit", "note"] {
        assert!(text.contains(member), "{member} missing from {text}");
    }
}
