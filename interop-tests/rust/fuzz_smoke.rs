//! A short fuzz run on the stable toolchain of the cargo-fuzz target bodies (in `fuzz/bodies/`) that need the root
//! package: `user_types` (XCDR decoding of types compiled from IDL), `mqtt_decode`, `stomp_decode` and
//! `amqp_frame`. Each is fed its seeds (valid samples and frames, the committed regression inputs) and then
//! thousands of seeded mutations of them. The RTPS receive path (`datagram`, `discovery`, `participant`,
//! `reassembly`) runs in starling-proto's `fuzz_smoke`, so `cargo test --release --workspace --test fuzz_smoke`
//! runs every body. Harness, variables and replay: `fuzz/smoke.rs`.

#[path = "../../fuzz/bodies/amqp_frame.rs"]
mod amqp_frame;
#[path = "../../fuzz/bodies/mqtt_decode.rs"]
mod mqtt_decode;
#[path = "../../fuzz/smoke.rs"]
mod smoke;
#[path = "../../fuzz/bodies/stomp_decode.rs"]
mod stomp_decode;
#[path = "../../fuzz/bodies/user_types.rs"]
mod user_types;

use smoke::{corpus, iterations, smoke};

#[test]
fn user_type_decoders() {
    let seeds = user_types::seeds();
    eprintln!("user_types: {} types, {} seeds", user_types::types().len(), seeds.len());
    assert!(user_types::types().len() >= 20, "{} types", user_types::types().len());
    assert!(seeds.len() >= 100, "{} seeds", seeds.len());
    // Every seed is a valid sample: it must decode (and the body checks that it round-trips).
    for s in &seeds {
        let (ty, payload) = user_types::pick(s).expect("a seed names its type");
        let ok = starling_proto::xtypes::decode(ty, payload).is_ok()
            || starling_proto::xtypes::decode_key_payload(ty, payload).is_ok();
        assert!(ok, "seed for {:?} does not decode", ty.name());
    }
    let mut all = seeds;
    all.extend(corpus("user_types"));
    smoke("user_types", &all, iterations() * 2, user_types::run);
}

#[test]
fn mqtt_codec_and_session() {
    let connect5: &[u8] = b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03abc";
    let connect311: &[u8] = b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03abc";
    let subscribe5: &[u8] = b"\x82\x0b\x00\x01\x00\x00\x05a/b/#\x01";
    let subscribe311: &[u8] = b"\x82\x0a\x00\x01\x00\x05a/b/#\x01";
    let publish5: &[u8] = b"\x32\x0d\x00\x03a/b\x00\x02\x00hello";
    let publish311: &[u8] = b"\x32\x0c\x00\x03a/b\x00\x02hello";
    let rest: &[u8] = b"\xc0\x00\xe0\x00";
    let seeds = vec![
        [connect5, subscribe5, publish5, rest].concat(),
        [connect311, subscribe311, publish311, rest].concat(),
        [connect5, publish5, b"\x40\x02\x00\x02".as_slice()].concat(),
        connect311.to_vec(),
    ];
    smoke("mqtt_decode", &seeds, iterations(), mqtt_decode::run);
}

#[test]
fn stomp_codec_and_session() {
    let mut seeds: Vec<Vec<u8>> = [
        "CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:0,0\n\n\0",
        "STOMP\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/q\nack:client-individual\n\n\0SEND\ndestination:/queue/q\ncontent-length:5\n\nhello\0ACK\nid:1\n\n\0",
        "CONNECT\naccept-version:1.1\nhost:/\n\n\0BEGIN\ntransaction:t\n\n\0SEND\ndestination:/topic/a.b\ntransaction:t\nreceipt:r1\n\nx\0COMMIT\ntransaction:t\n\n\0DISCONNECT\nreceipt:r2\n\n\0",
        "CONNECT\naccept-version:1.2\nhost:/\n\n\0SEND\ndestination:/topic/x\nk\\cey:v\\n\\r\\\\\n\nbody\0\n\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    seeds.extend(corpus("stomp_decode"));
    smoke("stomp_decode", &seeds, iterations(), stomp_decode::run);
}

#[test]
fn amqp_frames_and_connection() {
    use amq_protocol::protocol::{basic, channel, queue, AMQPClass};
    use starling::bridge::amqp::frames::encode_method;
    let mut open = Vec::new();
    encode_method(1, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})), &mut open);
    let mut declare = open.clone();
    let q = queue::Declare { queue: "q".into(), ..Default::default() };
    encode_method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(q)), &mut declare);
    let mut consume = declare.clone();
    let c = basic::Consume { queue: "q".into(), consumer_tag: "c".into(), ..Default::default() };
    encode_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(c)), &mut consume);
    let mut publish = declare.clone();
    let p = basic::Publish { exchange: "".into(), routing_key: "q".into(), ..Default::default() };
    encode_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(p)), &mut publish);
    // A content header (class 60, body size 5, no properties) and a body frame.
    publish
        .extend_from_slice(b"\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\xce");
    publish.extend_from_slice(b"\x03\x00\x01\x00\x00\x00\x05hello\xce");
    let seeds = vec![open, declare, consume, publish];
    smoke("amqp_frame", &seeds, iterations(), amqp_frame::run);
}
