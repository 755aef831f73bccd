//! A short fuzz run of the RTPS receive path on the stable toolchain: the cargo-fuzz target bodies `datagram`,
//! `discovery`, `participant` and `reassembly` (in `fuzz/bodies/`) are fed their seeds (the committed regression
//! inputs and real RTPS traffic of two participants) and then thousands of seeded mutations of them. Not
//! coverage-guided like `cargo fuzz run`, but it runs in CI with the rest of the tests, and a second time with
//! integer overflow checks (`cargo test --profile fuzz-checked -p starling-proto --test fuzz_smoke`), which only
//! builds this crate and its few dependencies. The bodies that need the root package (bridge codecs, user types
//! compiled from IDL) run in the root package's `fuzz_smoke`. Harness, variables and replay: `fuzz/smoke.rs`.

#[path = "../../../fuzz/bodies/datagram.rs"]
mod datagram;
#[path = "../../../fuzz/bodies/discovery.rs"]
mod discovery;
#[path = "../../../fuzz/bodies/participant.rs"]
mod participant;
#[path = "../../../fuzz/bodies/reassembly.rs"]
mod reassembly;
#[path = "../../../fuzz/smoke.rs"]
mod smoke;

use bytes::Bytes;
use smoke::{corpus, fuzz_dir, iterations, smoke};
use starling_proto::core::{ChangeKind, EndpointConfig, Participant, ParticipantConfig, WriteChange};
use starling_proto::qos::{DurabilityKind, EndpointQos, Reliability};
use starling_proto::wire::types::KeyHash;
use starling_proto::wire::{parse, GuidPrefix, Locator, Submessage};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

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
fn fragment_reassembly() {
    let mut seeds = reassembly::seeds();
    let found = corpus("reassembly");
    assert!(!found.is_empty() || !fuzz_dir().join("regressions").is_dir());
    seeds.extend(found);
    // The seeds deliver whole samples: check that the rig matches and reassembles at all.
    let delivered = reassembly::delivered(&seeds[0]);
    assert_eq!(delivered, vec![(1, 2200), (1, 2200)], "the whole-sample seed");
    smoke("reassembly", &seeds, iterations() / 2, reassembly::run);
}
