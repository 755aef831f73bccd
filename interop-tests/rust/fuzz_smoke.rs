//! A short fuzz run on the stable toolchain: every cargo-fuzz target body in `fuzz/bodies/` is fed its seeds
//! (the committed regression inputs, real RTPS traffic of two participants, valid MQTT/STOMP/AMQP frames) and then
//! thousands of seeded mutations of them. Not coverage-guided like `cargo fuzz run`, but it runs in CI
//! with the rest of the tests and keeps every decoder honest against malformed input.
//!
//! `FUZZ_SMOKE_ITERS=N` sets the mutations per target (default 20,000); `FUZZ_SMOKE_SEED=S` the RNG seed
//! (default fixed, so a CI failure replays). A failing input is written to
//! `target/fuzz-smoke/<target>-<n>.bin`, where `cargo fuzz run <target> <file>` replays it.

#[path = "../../fuzz/bodies/amqp_frame.rs"]
mod amqp_frame;
#[path = "../../fuzz/bodies/datagram.rs"]
mod datagram;
#[path = "../../fuzz/bodies/discovery.rs"]
mod discovery;
#[path = "../../fuzz/bodies/mqtt_decode.rs"]
mod mqtt_decode;
#[path = "../../fuzz/bodies/participant.rs"]
mod participant;
#[path = "../../fuzz/bodies/reassembly.rs"]
mod reassembly;
#[path = "../../fuzz/bodies/stomp_decode.rs"]
mod stomp_decode;
#[path = "../../fuzz/bodies/user_types.rs"]
mod user_types;

use bytes::Bytes;
use starling_proto::core::{ChangeKind, EndpointConfig, Participant, ParticipantConfig, WriteChange};
use starling_proto::qos::{DurabilityKind, EndpointQos, Reliability};
use starling_proto::wire::types::KeyHash;
use starling_proto::wire::{parse, GuidPrefix, Locator, Submessage};
use std::net::Ipv4Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u32; 10] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, 0xffff_ffff];

/// One to four mutations of `input` (with `others` for splicing).
fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(v.len() + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            3 if !v.is_empty() => {
                let at = rng.below(v.len());
                let n = 1 + rng.below((v.len() - at).min(32));
                v.drain(at..at + n);
            }
            4 if !v.is_empty() => {
                let at = rng.below(v.len());
                let n = 1 + rng.below((v.len() - at).min(64));
                let copy = v[at..at + n].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, copy);
            }
            5 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let cut = rng.below(v.len() + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            6 if v.len() >= 4 => {
                let width = [1usize, 2, 4][rng.below(3)];
                let at = rng.below(v.len() - width + 1);
                let val = INTERESTING[rng.below(INTERESTING.len())];
                let bytes = if rng.below(2) == 0 { val.to_le_bytes() } else { val.to_be_bytes() };
                let start = if rng.below(2) == 0 { 0 } else { 4 - width };
                v[at..at + width].copy_from_slice(&bytes[start..start + width]);
            }
            _ => {
                let keep = rng.below(v.len() + 1);
                v.truncate(keep);
            }
        }
    }
    v
}

fn iterations() -> usize {
    std::env::var("FUZZ_SMOKE_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SMOKE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_57a2_1146)
}

/// Runs `target` on every seed and `iterations` mutations; saves and reports the first input that panics.
fn smoke(name: &str, seeds: &[Vec<u8>], iterations: usize, target: fn(&[u8])) {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut rng =
        Rng(seed()
            ^ name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)));
    let inputs = seeds.iter().cloned().chain((0..iterations).map(|_| {
        let base = &seeds[rng.below(seeds.len())];
        mutate(&mut rng, base, seeds)
    }));
    let mut count = 0usize;
    for (n, input) in inputs.enumerate() {
        count += 1;
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{n}.bin"));
            let _ = std::fs::write(&file, &input);
            panic!("{name}: input {n} panicked ({} bytes, saved to {}): {:02x?}", input.len(), file.display(), input);
        }
    }
    eprintln!("{name}: {count} inputs from {} seeds, no panic", seeds.len());
}

/// The inputs of a cargo-fuzz target on disk: its local libFuzzer corpus (`fuzz/corpus/<target>`, not committed)
/// and the committed inputs that once found a bug (`fuzz/regressions/<target>`), which therefore run in CI.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d).join(target)).ok())
        .flat_map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())))
        .collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Real datagrams: two participants with a reliable transient-local writer and reader each discover each
/// other, match and exchange samples (SPDP, SEDP, DATA, HEARTBEAT, ACKNACK, GAP, and DATA_FRAG for a big one).
fn rtps_traffic() -> Vec<Vec<u8>> {
    let t0 = Instant::now();
    let make = |n: u8| {
        let mut c = ParticipantConfig::new(0, n.into(), GuidPrefix([n; 12]));
        c.metatraffic_unicast = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7410 + 2 * u16::from(n))];
        c.default_unicast = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7411 + 2 * u16::from(n))];
        c.spdp_destinations =
            vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7410), Locator::udpv4(Ipv4Addr::LOCALHOST, 7412)];
        let mut p = Participant::new(c, t0);
        let mut q = EndpointQos::writer_default();
        q.reliability = Reliability::reliable();
        q.durability = DurabilityKind::TransientLocal;
        let desc = |qos| EndpointConfig {
            topic_name: "Square".into(),
            type_name: "ShapeType".into(),
            keyed: true,
            qos,
            type_information: None,
            content_filter: None,
            group: None,
        };
        let w = p.create_writer(t0, desc(q.clone()));
        p.create_reader(t0, desc(q));
        (p, w)
    };
    let (mut a, wa) = make(1);
    let (mut b, _) = make(2);
    let mut out = Vec::new();
    let mut t = t0;
    for round in 0..40u32 {
        if round % 4 == 1 {
            let size = if round == 21 { 70_000 } else { 24 };
            let mut payload = vec![0x00, 0x01, 0x00, 0x00];
            payload.extend((0..size).map(|i| (i * 7 + round as usize) as u8));
            let change = WriteChange {
                kind: if round == 33 { ChangeKind::Disposed } else { ChangeKind::Alive },
                key_hash: KeyHash([round as u8; 16]),
                payload: Bytes::from(payload),
                source_timestamp: None,
                related_sample_identity: None,
                original_writer: None,
            };
            let _ = a.write(t, wa, change);
        }
        t += Duration::from_millis(50);
        a.handle_timeout(t);
        b.handle_timeout(t);
        let mut to_b = Vec::new();
        while let Some(x) = a.poll_transmit() {
            to_b.push(x.payload);
        }
        let mut to_a = Vec::new();
        while let Some(x) = b.poll_transmit() {
            to_a.push(x.payload);
        }
        // Drop every fifth datagram so repairs (ACKNACK with bitmaps, retransmits) appear too.
        for (i, d) in to_b.iter().enumerate() {
            if (i + round as usize) % 5 != 0 {
                b.handle_datagram(t, d);
            }
        }
        for d in &to_a {
            a.handle_datagram(t, d);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        out.extend(to_b);
        out.extend(to_a);
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn datagram_decoder() {
    let seeds = rtps_traffic();
    assert!(seeds.len() >= 20, "the traffic generator produced {} datagrams", seeds.len());
    smoke("datagram", &seeds, iterations() * 4, datagram::run);
}

#[test]
fn discovery_decoders() {
    // The serialized payloads of every DATA submessage: SPDP and SEDP parameter lists, user samples.
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for d in rtps_traffic() {
        let Ok((_, subs)) = parse(&d) else { continue };
        for sub in subs {
            if let Ok(Submessage::Data(data)) = sub {
                if let Some(p) = data.serialized_payload {
                    seeds.push(p.to_vec());
                }
            }
        }
    }
    seeds.sort();
    seeds.dedup();
    assert!(seeds.len() >= 5, "{} DATA payloads", seeds.len());
    smoke("discovery", &seeds, iterations() * 2, discovery::run);
}

#[test]
fn live_participant() {
    // Inputs are 2-byte-length-prefixed datagram sequences, like the committed corpus.
    let mut seeds = corpus("participant");
    for chunk in rtps_traffic().chunks(3) {
        let mut input = Vec::new();
        for d in chunk {
            input.extend_from_slice(&(d.len() as u16).to_le_bytes());
            input.extend_from_slice(d);
        }
        seeds.push(input);
    }
    // The participant target is the slowest (a participant per input): fewer mutations.
    smoke("participant", &seeds, iterations() / 2, participant::run);
}

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
fn fragment_reassembly() {
    let mut seeds = reassembly::seeds();
    let found = corpus("reassembly");
    assert!(!found.is_empty() || !PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").is_dir());
    seeds.extend(found);
    // The seeds deliver whole samples: check that the rig matches and reassembles at all.
    let delivered = reassembly::delivered(&seeds[0]);
    assert_eq!(delivered, vec![(1, 2200), (1, 2200)], "the whole-sample seed");
    smoke("reassembly", &seeds, iterations() / 2, reassembly::run);
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
    let seeds: Vec<Vec<u8>> = [
        "CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:0,0\n\n\0",
        "STOMP\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/q\nack:client-individual\n\n\0SEND\ndestination:/queue/q\ncontent-length:5\n\nhello\0ACK\nid:1\n\n\0",
        "CONNECT\naccept-version:1.1\nhost:/\n\n\0BEGIN\ntransaction:t\n\n\0SEND\ndestination:/topic/a.b\ntransaction:t\nreceipt:r1\n\nx\0COMMIT\ntransaction:t\n\n\0DISCONNECT\nreceipt:r2\n\n\0",
        "CONNECT\naccept-version:1.2\nhost:/\n\n\0SEND\ndestination:/topic/x\nk\\cey:v\\n\\r\\\\\n\nbody\0\n\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
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
