//! Deterministic in-memory tests of the protocol core: participants exchange
//! datagrams through a simulated network with seeded loss, duplication and
//! reordering, and simulated time. No sockets, no clock.

use bytes::Bytes;
use starling_proto::core::{ChangeKind, EndpointConfig, Event, Participant, ParticipantConfig};
use starling_proto::qos::{DurabilityKind, EndpointQos, History, Reliability};
use starling_proto::wire::GuidPrefix;
use std::time::Duration;

mod common;
use common::{alive, change, endpoint, seeds, Faults, Net, NONE};

fn reliable(mut q: EndpointQos) -> EndpointQos {
    q.reliability = Reliability::reliable();
    q
}

#[test]
fn discovery_and_matching_without_loss() {
    let mut net = Net::faulty(2, 1, NONE);
    let w = net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    let _r = net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0), "writer never matched");
    assert!(net.subscription_matched(1));
    for i in 0..100 {
        let now = net.now;
        net.parts[0].write(now, w, change(i, (i % 4) as u8)).unwrap();
    }
    assert!(net.run_until(Duration::from_secs(5), |n| n.values(1).len() == 100));
    assert_eq!(net.values(1), (0..100).collect::<Vec<_>>());
    assert!(net.run_until(Duration::from_secs(2), |n| n.parts[0].is_acked_by_all(w)));
}

/// Reliable delivery under loss, duplication and reordering, over many seeds:
/// every sample exactly once and in order (KEEP_ALL).
#[test]
fn reliable_keep_all_under_faults_many_seeds() {
    for seed in seeds(1..=200) {
        let mut net = Net::faulty(2, seed, Faults { loss: 20, dup: 10, reorder: 30 });
        let mut wq = EndpointQos::writer_default();
        wq.history = History::KeepAll;
        let mut rq = reliable(EndpointQos::reader_default());
        rq.history = History::KeepAll;
        let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
        net.parts[1].create_reader(net.now, endpoint("T", rq));
        assert!(net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) > 0), "seed {seed}: no match");
        for i in 0..50 {
            let now = net.now;
            net.parts[0].write(now, w, change(i, (i % 3) as u8)).unwrap();
            net.step(Duration::from_millis(1));
        }
        let ok = net.run_until(Duration::from_secs(60), |n| n.values(1).len() >= 50);
        assert!(ok, "seed {seed}: got {} of 50", net.values(1).len());
        assert_eq!(net.values(1), (0..50).collect::<Vec<_>>(), "seed {seed}");
        assert!(net.run_until(Duration::from_secs(30), |n| n.parts[0].is_acked_by_all(w)), "seed {seed}: not acked");
    }
}

/// With a nack response delay, a writer collects the requests of several readers and sends a sample that more
/// than one of them missed once, to all of them; with a heartbeat response delay, readers answer HEARTBEATs
/// late, once. Under loss, duplication and reordering every reader still gets every sample once and in order.
#[test]
fn delayed_repairs_are_shared_between_readers() {
    let mut shared = 0;
    for seed in seeds(1..=20) {
        let mut net = Net::faulty_with(4, seed, Faults { loss: 20, dup: 5, reorder: 20 }, |_, c| {
            c.nack_response_delay = Duration::from_millis(20);
            // Odd seeds: readers also wait before answering HEARTBEATs.
            if seed % 2 == 1 {
                c.heartbeat_response_delay = Duration::from_millis(10);
            }
        });
        let mut wq = EndpointQos::writer_default();
        wq.history = History::KeepAll;
        let mut rq = reliable(EndpointQos::reader_default());
        rq.history = History::KeepAll;
        let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
        for r in 1..4 {
            net.parts[r].create_reader(net.now, endpoint("T", rq.clone()));
        }
        let all_matched = |n: &Net| n.publications_matched(0) == 3;
        assert!(net.run_until(Duration::from_secs(30), all_matched), "seed {seed}: no match");
        for i in 0..60 {
            let now = net.now;
            net.parts[0].write(now, w, change(i, (i % 3) as u8)).unwrap();
            net.step(Duration::from_millis(1));
        }
        let ok = net.run_until(Duration::from_secs(60), |n| (1..4).all(|r| n.values(r).len() >= 60));
        assert!(ok, "seed {seed}: {:?}", (1..4).map(|r| net.values(r).len()).collect::<Vec<_>>());
        for r in 1..4 {
            assert_eq!(net.values(r), (0..60).collect::<Vec<_>>(), "seed {seed}, reader {r}");
        }
        assert!(net.run_until(Duration::from_secs(30), |n| n.parts[0].is_acked_by_all(w)), "seed {seed}: not acked");
        shared += net.parts[0].stats().shared_repairs;
    }
    assert!(shared > 0, "no repair was shared");
}

/// Best-effort never delivers a sample twice or out of order.
#[test]
fn best_effort_no_duplicates_no_reordering() {
    for seed in seeds(1..=50) {
        let mut net = Net::faulty(2, seed, Faults { loss: 10, dup: 20, reorder: 40 });
        let mut wq = EndpointQos::writer_default();
        wq.reliability = Reliability::best_effort();
        let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
        net.parts[1].create_reader(net.now, endpoint("T", EndpointQos::reader_default()));
        assert!(net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) > 0 && !n.events[1].is_empty()));
        // Let the reader's side match as well.
        net.run_until(Duration::from_secs(2), |_| false);
        for i in 0..100 {
            let now = net.now;
            net.parts[0].write(now, w, change(i, 0)).unwrap();
            if i % 5 == 0 {
                net.step(Duration::from_millis(1));
            }
        }
        net.run_until(Duration::from_secs(2), |_| false);
        let got = net.values(1);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "seed {seed}: {got:?}");
        assert!(!got.is_empty(), "seed {seed}: nothing arrived");
    }
}

/// A transient-local late joiner receives the writer's history in order.
#[test]
fn transient_local_late_joiner() {
    let mut net = Net::faulty(2, 7, Faults { loss: 10, dup: 0, reorder: 0 });
    let mut wq = EndpointQos::writer_default();
    wq.durability = DurabilityKind::TransientLocal;
    wq.history = History::KeepLast(2);
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    for i in 0..10 {
        let now = net.now;
        net.parts[0].write(now, w, change(i, (i % 2) as u8)).unwrap();
    }
    let mut rq = reliable(EndpointQos::reader_default());
    rq.durability = DurabilityKind::TransientLocal;
    net.parts[1].create_reader(net.now, endpoint("T", rq));
    assert!(net.run_until(Duration::from_secs(30), |n| n.values(1).len() >= 4));
    assert_eq!(net.values(1), vec![6, 7, 8, 9]);
}

/// A volatile late joiner gets only what is written after it matched.
#[test]
fn volatile_late_joiner_gets_only_new_data() {
    let mut net = Net::faulty(2, 3, NONE);
    let w = net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    for i in 0..5 {
        let now = net.now;
        net.parts[0].write(now, w, change(i, 0)).unwrap();
    }
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    net.run_until(Duration::from_secs(1), |_| false);
    let now = net.now;
    net.parts[0].write(now, w, change(100, 0)).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| !n.values(1).is_empty()));
    net.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(net.values(1), vec![100]);
}

/// Incompatible reliability is reported on both sides and prevents matching.
#[test]
fn incompatible_qos_is_reported() {
    let mut net = Net::faulty(2, 5, NONE);
    let mut wq = EndpointQos::writer_default();
    wq.reliability = Reliability::best_effort();
    net.parts[0].create_writer(net.now, endpoint("T", wq));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| {
        n.events_of(0).any(|e| matches!(e, Event::OfferedIncompatibleQos { .. }))
            && n.events_of(1).any(|e| matches!(e, Event::RequestedIncompatibleQos { .. }))
    }));
    assert_eq!(net.publications_matched(0), 0);
}

/// Large samples travel as DATA_FRAG and are reassembled, also under loss.
#[test]
fn large_samples_fragmented() {
    let mut net = Net::faulty(2, 11, Faults { loss: 10, dup: 5, reorder: 10 });
    let w = net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) > 0));
    let mut payload = vec![0x00, 0x01, 0x00, 0x00];
    payload.extend((0..300_000u32).map(|i| (i % 251) as u8));
    let big = Bytes::from(payload);
    let now = net.now;
    net.parts[0].write(now, w, alive(big.clone())).unwrap();
    assert!(net.run_until(Duration::from_secs(60), |n| n.events_of(1).any(|e| matches!(e, Event::Sample { .. }))));
    let got = net.events_of(1).find_map(|e| match e {
        Event::Sample { sample, .. } => sample.payload.clone(),
        _ => None,
    });
    assert_eq!(got.as_deref(), Some(&big[..]));
}

/// Dispose reaches the reader as a NOT_ALIVE change carrying the key hash.
#[test]
fn dispose_is_delivered() {
    let mut net = Net::faulty(2, 13, NONE);
    let w = net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    let mut c = change(1, 9);
    c.kind = ChangeKind::Disposed;
    let now = net.now;
    net.parts[0].write(now, w, c).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| n.events_of(1)
        .any(|e| matches!(e, Event::Sample { sample, .. } if sample.kind == ChangeKind::Disposed && sample.key_hash.map(|k| k.0[0]) == Some(9)))));
}

/// When a participant stops announcing, its lease expires and its endpoints unmatch.
#[test]
fn lease_expiry_removes_participant() {
    let mut net = Net::faulty(2, 17, NONE);
    net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    // Partition: everything from now on is lost.
    net.set_loss(100);
    assert!(net.run_until(Duration::from_secs(30), |n| n.events_of(0).any(|e| matches!(e, Event::ParticipantLost(_)))
        && n.events_of(0).any(|e| matches!(e, Event::PublicationMatched { matched: false, .. }))));
}

/// Graceful shutdown tells peers at once, without waiting for the lease.
#[test]
fn shutdown_is_seen_immediately() {
    let mut net = Net::faulty(2, 19, NONE);
    net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    let start = net.now;
    let now = net.now;
    net.parts[0].shutdown(now);
    assert!(net.run_until(Duration::from_secs(2), |n| n.events_of(1).any(|e| matches!(e, Event::ParticipantLost(_)))));
    assert!(net.now - start < Duration::from_secs(2));
}

/// Malformed datagrams are counted and do not disturb the participant.
#[test]
fn malformed_datagrams_are_counted() {
    let mut net = Net::faulty(2, 23, NONE);
    let now = net.now;
    net.parts[1].handle_datagram(now, b"RTPS\x02\x05\x01\x0f0123456789ab\x15\x01\xff\x00");
    net.parts[1].handle_datagram(now, b"RTPX garbage");
    net.parts[1].handle_datagram(now, b"RTP");
    let s = net.parts[1].stats();
    assert!(s.datagrams_malformed >= 1, "{s:?}");
    assert!(s.datagrams_ignored + s.datagrams_malformed >= 3, "{s:?}");
    let w = net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    let now = net.now;
    net.parts[0].write(now, w, change(5, 0)).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| n.values(1) == vec![5]));
}

/// A writer and a reader in the same participant match and exchange data directly.
#[test]
fn local_writer_and_reader() {
    let mut net = Net::faulty(1, 29, NONE);
    let w = net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    net.parts[0].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    let now = net.now;
    net.parts[0].write(now, w, change(42, 0)).unwrap();
    net.collect();
    assert!(net.publications_matched(0) > 0);
    assert_eq!(net.values(0), vec![42]);
}

/// A KEEP_ALL writer with `max_samples` refuses writes (handing the change back)
/// while a reader has not acknowledged, and accepts them again once it has.
#[test]
fn keep_all_history_limit() {
    let mut net = Net::faulty(2, 31, NONE);
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    wq.resource_limits.max_samples = 5;
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    net.set_loss(100);
    for i in 0..5 {
        let now = net.now;
        net.parts[0].write(now, w, change(i, 0)).unwrap();
    }
    let now = net.now;
    let err = net.parts[0].write(now, w, change(5, 0)).unwrap_err();
    assert_eq!(err.kind, starling_proto::core::WriteErrorKind::HistoryFull);
    assert_eq!(&err.change.payload[4..8], &5u32.to_le_bytes());
    net.set_loss(0);
    assert!(net.run_until(Duration::from_secs(10), |n| n.parts[0].is_acked_by_all(w)));
    let now = net.now;
    net.parts[0].write(now, w, change(5, 0)).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| n.values(1) == (0..6).collect::<Vec<_>>()));
}

/// Past `max_participants`, new participants are ignored and counted.
#[test]
fn participant_limit() {
    let mut net = Net::faulty_with(4, 37, NONE, |i, c| {
        if i == 0 {
            c.max_participants = 2;
        }
    });
    net.run_until(Duration::from_secs(3), |_| false);
    assert_eq!(net.parts[0].discovered_participants().count(), 2);
    assert!(net.parts[0].stats().participants_rejected > 0);
    assert_eq!(net.parts[1].discovered_participants().count(), 3);
}

/// A fragmented sample larger than `max_sample_size` is dropped and counted;
/// smaller samples keep flowing.
#[test]
fn oversized_fragmented_sample_dropped() {
    let mut net = Net::faulty_with(2, 41, NONE, |i, c| {
        if i == 1 {
            c.max_sample_size = 100_000;
        }
    });
    let mut wq = EndpointQos::writer_default();
    wq.reliability = Reliability::best_effort();
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    net.parts[1].create_reader(net.now, endpoint("T", EndpointQos::reader_default()));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0 && n.subscription_matched(1)));
    let mut payload = vec![0x00, 0x01, 0x00, 0x00];
    payload.extend(std::iter::repeat_n(7u8, 200_000));
    let now = net.now;
    let big = alive(Bytes::from(payload));
    net.parts[0].write(now, w, big).unwrap();
    net.run_until(Duration::from_secs(1), |_| false);
    assert!(net.parts[1].stats().fragments_dropped > 0);
    let now = net.now;
    net.parts[0].write(now, w, change(9, 0)).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| n.values(1) == vec![9]));
}

/// Large samples under heavy loss are repaired fragment by fragment (NACK_FRAG),
/// over several seeds.
#[test]
fn large_samples_repaired_with_nack_frag() {
    for seed in seeds(1..=10) {
        let mut net = Net::faulty(2, seed, Faults { loss: 30, dup: 5, reorder: 20 });
        let mut wq = EndpointQos::writer_default();
        wq.history = History::KeepAll;
        let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
        let mut rq = reliable(EndpointQos::reader_default());
        rq.history = History::KeepAll;
        net.parts[1].create_reader(net.now, endpoint("T", rq));
        assert!(net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) > 0), "seed {seed}");
        for i in 0..3u32 {
            let mut payload = vec![0x00, 0x01, 0x00, 0x00];
            payload.extend_from_slice(&i.to_le_bytes());
            payload.extend((0..100_000u32).map(|j| (j % 13) as u8));
            let now = net.now;
            let c = alive(Bytes::from(payload));
            net.parts[0].write(now, w, c).unwrap();
        }
        assert!(
            net.run_until(Duration::from_secs(60), |n| n.values(1).len() == 3),
            "seed {seed}: got {:?}",
            net.values(1)
        );
        assert_eq!(net.values(1), vec![0, 1, 2], "seed {seed}");
    }
}

/// A flow-limited writer paces its data: the samples all arrive, in order, but
/// no faster than the configured rate allows.
#[test]
fn flow_limit_paces_writes() {
    use starling_proto::core::FlowLimit;
    let mut net = Net::faulty_with(2, 43, NONE, |i, c| {
        if i == 0 {
            c.writer_flow_limit = Some(FlowLimit { bytes_per_sec: 100_000, burst_bytes: 10_000 });
        }
    });
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    let mut rq = reliable(EndpointQos::reader_default());
    rq.history = History::KeepAll;
    net.parts[1].create_reader(net.now, endpoint("T", rq));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    let start = net.now;
    // 100 samples of ~1 KB = ~110 KB at 100 KB/s with a 10 KB burst: about a second.
    for i in 0..100u32 {
        let mut payload = vec![0x00, 0x01, 0x00, 0x00];
        payload.extend_from_slice(&i.to_le_bytes());
        payload.extend(std::iter::repeat_n(1u8, 1000));
        let now = net.now;
        let c = alive(Bytes::from(payload));
        net.parts[0].write(now, w, c).unwrap();
    }
    assert!(net.run_until(Duration::from_secs(10), |n| n.values(1).len() == 100));
    assert_eq!(net.values(1), (0..100).collect::<Vec<_>>());
    let took = net.now - start;
    assert!(took >= Duration::from_millis(900), "flow limit not applied: {took:?}");
    assert!(took <= Duration::from_millis(2500), "too slow: {took:?}");
}

/// A reader's participant learns a remote writer's type through the
/// TypeLookup service (request and reply over the built-in endpoints, under
/// loss) and resolves it to the same dynamic type.
#[test]
fn type_lookup_resolves_remote_type() {
    use starling_proto::wire::Endian;
    use starling_proto::xtypes::typeobject::{type_objects, EquivalenceKind, TypeInformation};
    use starling_proto::xtypes::{DynamicType, Extensibility, StructType};
    let inner = StructType::new("demo::Point", Extensibility::Final)
        .member("x", DynamicType::int32())
        .member("y", DynamicType::int32())
        .build();
    let ty = StructType::new("demo::Track", Extensibility::Appendable)
        .key_member("id", DynamicType::int32())
        .member("pos", inner)
        .member("label", DynamicType::string(0))
        .build();
    let info = TypeInformation::for_type(&ty).unwrap();
    let mut objects = type_objects(&ty, EquivalenceKind::Complete).unwrap();
    objects.extend(type_objects(&ty, EquivalenceKind::Minimal).unwrap());
    for seed in seeds(1..=5) {
        let mut net = Net::faulty(2, seed, Faults { loss: 20, dup: 5, reorder: 10 });
        net.parts[0].register_type(&info, objects.clone());
        let mut desc = endpoint("Tracks", EndpointQos::writer_default());
        desc.type_name = "demo::Track".into();
        desc.type_information = Some(info.to_bytes(Endian::Little));
        let w = net.parts[0].create_writer(net.now, desc);
        let ok = net.run_until(Duration::from_secs(30), |n| {
            n.events_of(1).any(|e| matches!(e, Event::TypesReceived(_))) && n.parts[1].resolve_remote_type(&w).is_some()
        });
        assert!(ok, "seed {seed}: type never resolved");
        let resolved = net.parts[1].resolve_remote_type(&w).unwrap().unwrap();
        assert_eq!(resolved, ty, "seed {seed}");
    }
}

/// An endpoint announcing `ty` (its TypeInformation), with the type's TypeObjects registered on `part`.
fn typed_endpoint(
    part: &mut Participant,
    topic: &str,
    ty: &starling_proto::xtypes::DynamicType,
    qos: EndpointQos,
) -> EndpointConfig {
    use starling_proto::wire::Endian;
    use starling_proto::xtypes::typeobject::{type_objects, EquivalenceKind, TypeInformation};
    let info = TypeInformation::for_type(ty).expect("type information");
    let mut objects = type_objects(ty, EquivalenceKind::Complete).expect("complete objects");
    objects.extend(type_objects(ty, EquivalenceKind::Minimal).expect("minimal objects"));
    part.register_type(&info, objects);
    let mut desc = endpoint(topic, qos);
    desc.type_name = "demo::Reading".into();
    desc.type_information = Some(info.to_bytes(Endian::Little));
    desc
}

/// Same type name, different types: a writer whose type is assignable to the reader's (a mutable type that gained
/// a member) matches once the reader's participant has looked the writer's type up, and delivers; a writer whose
/// type is not assignable (a final type whose member changed type) is reported as TYPE_CONSISTENCY_ENFORCEMENT
/// incompatible on both sides and never matches.
#[test]
fn type_assignability_decides_matching() {
    use starling_proto::qos::QosPolicyId;
    use starling_proto::xtypes::{DynamicType, Extensibility, StructType};
    let v1 = StructType::new("demo::Reading", Extensibility::Mutable)
        .key_member("id", DynamicType::int32())
        .member("value", DynamicType::float64())
        .build();
    let v2 = StructType::new("demo::Reading", Extensibility::Mutable)
        .key_member("id", DynamicType::int32())
        .member("value", DynamicType::float64())
        .optional_member("unit", DynamicType::string(16))
        .build();
    for seed in seeds(1..=3) {
        let mut net = Net::faulty(2, seed, Faults { loss: 10, dup: 5, reorder: 10 });
        let wdesc = typed_endpoint(&mut net.parts[0], "Readings", &v1, reliable(EndpointQos::writer_default()));
        let w = net.parts[0].create_writer(net.now, wdesc);
        let rdesc = typed_endpoint(&mut net.parts[1], "Readings", &v2, reliable(EndpointQos::reader_default()));
        net.parts[1].create_reader(net.now, rdesc);
        assert!(
            net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) > 0 && n.subscription_matched(1)),
            "seed {seed}: no match"
        );
        let learned = net.events_of(1).position(|e| matches!(e, Event::TypesReceived(_)));
        let sub = net.events_of(1).position(|e| matches!(e, Event::SubscriptionMatched { matched: true, .. }));
        assert!(learned.is_some() && learned < sub, "seed {seed}: matched before the writer's type was known");
        for i in 0..5 {
            net.parts[0].write(net.now, w, change(i, 1)).expect("write");
        }
        assert!(net.run_until(Duration::from_secs(30), |n| n.values(1).len() == 5), "seed {seed}");
        assert_eq!(net.values(1), vec![0, 1, 2, 3, 4]);
    }

    let final_int = StructType::new("demo::Reading", Extensibility::Final)
        .key_member("id", DynamicType::int32())
        .member("value", DynamicType::int32())
        .build();
    let final_text = StructType::new("demo::Reading", Extensibility::Final)
        .key_member("id", DynamicType::int32())
        .member("value", DynamicType::string(0))
        .build();
    let mut net = Net::faulty(2, 9, NONE);
    let wdesc = typed_endpoint(&mut net.parts[0], "Readings", &final_int, reliable(EndpointQos::writer_default()));
    net.parts[0].create_writer(net.now, wdesc);
    let rdesc = typed_endpoint(&mut net.parts[1], "Readings", &final_text, reliable(EndpointQos::reader_default()));
    net.parts[1].create_reader(net.now, rdesc);
    let incompatible = |n: &Net| {
        n.events_of(0).any(|e| matches!(e, Event::OfferedIncompatibleQos { policy: QosPolicyId::TypeConsistency, .. }))
            && n.events_of(1)
                .any(|e| matches!(e, Event::RequestedIncompatibleQos { policy: QosPolicyId::TypeConsistency, .. }))
    };
    assert!(net.run_until(Duration::from_secs(30), incompatible));
    net.run_until(Duration::from_secs(3), |_| false);
    assert!(!net.publications_matched(0) > 0 && !net.subscription_matched(1));
}

/// One remote participant cannot fill the endpoint table: past
/// `max_endpoints_per_participant` its endpoints are ignored and counted.
#[test]
fn per_participant_endpoint_limit() {
    let mut net = Net::faulty_with(2, 47, NONE, |i, c| {
        if i == 1 {
            c.max_endpoints_per_participant = 3;
        }
    });
    for t in 0..5 {
        let now = net.now;
        net.parts[0].create_writer(now, endpoint(&format!("T{t}"), EndpointQos::writer_default()));
    }
    net.run_until(Duration::from_secs(3), |_| false);
    assert_eq!(net.parts[1].discovered_writers().count(), 3);
    assert_eq!(net.parts[1].stats().endpoints_rejected, 2);
}

/// A change written with a related sample identity (request/reply) arrives with it, both as one DATA and as
/// DATA_FRAGs, and a change written without one arrives without.
#[test]
fn related_sample_identity_travels_as_inline_qos() {
    use starling_proto::wire::{Guid, SampleIdentity, SequenceNumber};
    let mut net = Net::faulty(2, 3, NONE);
    let w = net.parts[0].create_writer(net.now, endpoint("T", reliable(EndpointQos::writer_default())));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0), "writer never matched");
    let mut g = [0u8; 16];
    g.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8 + 1);
    // A sequence number above 2^32 checks the high/low split.
    let rel = SampleIdentity::new(Guid::from_bytes(g), SequenceNumber((3 << 32) + 77));
    let mut small = change(1, 0);
    small.related_sample_identity = Some(rel);
    let mut payload = vec![0, 1, 0, 0];
    payload.extend_from_slice(&2u32.to_le_bytes());
    payload.extend(std::iter::repeat_n(9u8, 100_000));
    let mut big = change(2, 0);
    big.payload = Bytes::from(payload);
    big.related_sample_identity = Some(rel);
    let plain = change(3, 0);
    for c in [small, big, plain] {
        let now = net.now;
        net.parts[0].write(now, w, c).unwrap();
    }
    assert!(net.run_until(Duration::from_secs(10), |n| n.values(1).len() == 3));
    let rels: Vec<_> = net
        .events_of(1)
        .filter_map(|e| match e {
            Event::Sample { sample, .. } => Some(sample.related_sample_identity),
            _ => None,
        })
        .collect();
    assert_eq!(rels, vec![Some(rel), Some(rel), None]);
}

/// A 100 MB sample crosses a lossy, duplicating, reordering network in DATA_FRAGs and arrives whole and
/// byte-exact, repaired through NACK_FRAG; a small sample written after it still comes after it.
#[test]
fn hundred_megabyte_sample_under_loss() {
    const SIZE: usize = 100 * 1024 * 1024;
    let mut net = Net::faulty(2, 100, Faults { loss: 10, dup: 2, reorder: 10 });
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    let w = net.parts[0].create_writer(net.now, endpoint("Big", wq));
    let mut rq = reliable(EndpointQos::reader_default());
    rq.history = History::KeepAll;
    net.parts[1].create_reader(net.now, endpoint("Big", rq));
    assert!(net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) > 0), "no match");
    let mut payload = vec![0x00, 0x01, 0x00, 0x00];
    payload.extend_from_slice(&7u32.to_le_bytes());
    let mut x = 0x9e37_79b9u32;
    payload.extend((0..SIZE).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let big = Bytes::from(payload);
    let c = alive(big.clone());
    let now = net.now;
    net.parts[0].write(now, w, c).unwrap();
    let now = net.now;
    net.parts[0].write(now, w, change(8, 0)).unwrap();
    assert!(net.run_until(Duration::from_secs(600), |n| n.values(1).len() == 2), "got {:?}", net.values(1));
    assert_eq!(net.values(1), vec![7, 8]);
    let got = net
        .events_of(1)
        .find_map(|e| match e {
            Event::Sample { sample, .. } => sample.payload.clone(),
            _ => None,
        })
        .expect("the big sample");
    assert_eq!(got.len(), big.len());
    assert!(got[..] == big[..], "payload differs");
}

fn content_filter(expression: &str, parameters: &[&str]) -> starling_proto::discovery::ContentFilterProperty {
    starling_proto::discovery::ContentFilterProperty {
        content_filtered_topic_name: "T_filtered".into(),
        related_topic_name: "T".into(),
        filter_class_name: "DDSSQL".into(),
        filter_expression: expression.into(),
        expression_parameters: parameters.iter().map(|p| p.to_string()).collect(),
    }
}

/// Writer-side content filtering: a reader's CONTENT_FILTER_PROPERTY reaches the writer through SEDP (and
/// again when the reader changes it); changes written with that reader left out never reach it, a reliable
/// one gets GAPs for them so that it still delivers everything else in order and acknowledges everything, and
/// an unfiltered reader still gets every change. Under loss, duplication and reordering, over several seeds.
#[test]
fn writer_side_content_filter_sends_gaps_instead_of_data() {
    for seed in seeds(1..=30) {
        let faults = if seed == 1 { NONE } else { Faults { loss: 20, dup: 5, reorder: 20 } };
        let mut net = Net::faulty(4, seed, faults);
        let mut wq = EndpointQos::writer_default();
        wq.history = History::KeepAll;
        let mut rq = reliable(EndpointQos::reader_default());
        rq.history = History::KeepAll;
        let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
        let mut filtered = endpoint("T", rq.clone());
        filtered.content_filter = Some(content_filter("x > %0", &["10"]));
        let r1 = net.parts[1].create_reader(net.now, filtered);
        net.parts[2].create_reader(net.now, endpoint("T", rq));
        let mut best_effort = endpoint("T", EndpointQos::reader_default());
        best_effort.content_filter = Some(content_filter("x < 5", &[]));
        let r3 = net.parts[3].create_reader(net.now, best_effort);
        let all_matched = |n: &Net| n.publications_matched(0) == 3;
        assert!(net.run_until(Duration::from_secs(30), all_matched), "seed {seed}: no match");
        let filters: Vec<_> = net.parts[0]
            .matched_filtered_readers(w)
            .map(|d| (d.guid, d.content_filter.clone().map(|f| f.expression_parameters)))
            .collect();
        assert_eq!(filters.len(), 2, "seed {seed}: {filters:?}");
        assert!(filters.contains(&(r1, Some(vec!["10".to_string()]))), "seed {seed}: {filters:?}");
        // Odd samples do not pass reader 1's filter; reader 3 (best effort) takes only the first five.
        for i in 0..60u32 {
            let mut out = Vec::new();
            if i % 2 == 1 {
                out.push(r1);
            }
            if i >= 5 {
                out.push(r3);
            }
            let now = net.now;
            net.parts[0].write_filtered(now, w, change(i, (i % 3) as u8), out).unwrap();
            net.step(Duration::from_millis(1));
        }
        let evens: Vec<u32> = (0..60).filter(|i| i % 2 == 0).collect();
        let ok = net.run_until(Duration::from_secs(60), |n| n.values(1).len() >= 30 && n.values(2).len() >= 60);
        assert!(ok, "seed {seed}: got {} and {}", net.values(1).len(), net.values(2).len());
        assert!(net.run_until(Duration::from_secs(30), |n| n.parts[0].is_acked_by_all(w)), "seed {seed}: not acked");
        assert_eq!(net.values(1), evens, "seed {seed}");
        assert_eq!(net.values(2), (0..60).collect::<Vec<_>>(), "seed {seed}");
        assert!(net.values(3).iter().all(|i| *i < 5), "seed {seed}: {:?}", net.values(3));
        if seed == 1 {
            assert_eq!(net.values(3), vec![0, 1, 2, 3, 4]);
        }
        assert_eq!(net.parts[0].samples_filtered(w), 30 + 55, "seed {seed}");
        assert_eq!(net.parts[0].stats().samples_filtered, 30 + 55, "seed {seed}");

        // The reader changes its parameters: the writer sees the new ones.
        let now = net.now;
        net.parts[1].set_reader_content_filter(now, r1, Some(content_filter("x > %0", &["50"])));
        let updated = |n: &Net| {
            n.parts[0]
                .matched_filtered_readers(w)
                .any(|d| d.guid == r1 && d.content_filter.as_ref().is_some_and(|f| f.expression_parameters == ["50"]))
        };
        assert!(net.run_until(Duration::from_secs(30), updated), "seed {seed}: new parameters not seen");
    }
}

/// Forged NACK_FRAGs spoofing a matched reader (fragment number 0, which the spec does not allow, numbers near
/// 2^32, sequence numbers never written) make the writer send at most the fragments that exist, and do not
/// disturb the stream: the next sample still arrives. (Fragment 0 used to underflow when the writer computed
/// the fragment's offset: a panic where overflow checks are on, as in debug and fuzzing builds.)
#[test]
fn forged_nack_frags_are_bounded_and_harmless() {
    use starling_proto::wire::{
        FragmentNumberSet, Header, MessageBuilder, NackFrag, ProtocolVersion, SequenceNumber, VendorId,
    };
    let mut net = Net::faulty(2, 7, NONE);
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    let r = net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    let big = |i: u32| {
        let mut payload = vec![0x00, 0x01, 0x00, 0x00];
        payload.extend_from_slice(&i.to_le_bytes());
        payload.extend((0..100_000u32).map(|j| (j % 13) as u8));
        alive(Bytes::from(payload))
    };
    let now = net.now;
    net.parts[0].write(now, w, big(0)).unwrap();
    assert!(net.run_until(Duration::from_secs(10), |n| n.values(1) == vec![0]));
    let mut count = 1000u32;
    for sn in [1i64, 2, 0, -1, i64::MAX] {
        for base in [0u32, 1, 7, u32::MAX - 255, u32::MAX] {
            count += 1;
            let mut m = MessageBuilder::new(Header {
                version: ProtocolVersion::V2_5,
                vendor_id: VendorId::STARLING,
                guid_prefix: r.prefix,
            });
            m.info_dst(w.prefix);
            NackFrag {
                reader_id: r.entity_id,
                writer_id: w.entity_id,
                writer_sn: SequenceNumber(sn),
                fragment_number_state: FragmentNumberSet { base, num_bits: 256, bitmap: [u32::MAX; 8] },
                count,
            }
            .encode(m.buf_mut());
            let now = net.now;
            net.parts[0].handle_datagram(now, &m.finish());
            let mut out = 0;
            while net.parts[0].poll_transmit().is_some() {
                out += 1;
            }
            // 100 kB in fragments of at least 1 kB: at most 100 fragments, a datagram each at worst.
            assert!(out <= 110, "NACK_FRAG sn {sn} base {base}: {out} datagrams");
        }
    }
    let now = net.now;
    net.parts[0].write(now, w, big(1)).unwrap();
    assert!(net.run_until(Duration::from_secs(10), |n| n.values(1) == vec![0, 1]), "{:?}", net.values(1));
}

/// A reliable writer piggy-backs a HEARTBEAT on its data every `piggyback_heartbeat_every` samples (32 by
/// default), in the same datagram as the DATA it follows, so that readers acknowledge bursts without waiting
/// for the periodic heartbeat.
#[test]
fn reliable_writer_piggybacks_heartbeats_on_data() {
    use starling_proto::wire::{parse, Submessage};
    let mut net = Net::faulty(2, 11, NONE);
    let mut wq = reliable(EndpointQos::writer_default());
    wq.history = History::KeepAll;
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    while net.parts[0].poll_transmit().is_some() {}
    let now = net.now;
    for i in 0..100 {
        net.parts[0].write(now, w, change(i, (i % 4) as u8)).unwrap();
    }
    // HEARTBEATs of the user writer inside datagrams that also carry its DATA.
    let (mut with_data, mut user_data) = (0, 0);
    while let Some(t) = net.parts[0].poll_transmit() {
        let Ok((_, subs)) = parse(&t.payload) else { panic!("the writer sent a malformed datagram") };
        let subs: Vec<Submessage> = subs.filter_map(Result::ok).collect();
        let data = subs.iter().filter(|s| matches!(s, Submessage::Data(d) if d.writer_id == w.entity_id)).count();
        user_data += data;
        let hbs = subs.iter().filter(|s| matches!(s, Submessage::Heartbeat(h) if h.writer_id == w.entity_id)).count();
        if data > 0 {
            with_data += hbs;
        }
    }
    assert_eq!(user_data, 100, "all samples go out at once");
    assert!(with_data >= 3, "{with_data} HEARTBEATs travelled with the DATA of 100 samples");
}

/// HEARTBEATs and DATA spoofing a matched writer with sequence numbers at the very end of the range
/// (first_sn = i64::MAX - 255, then i64::MAX) are handled in bounded time and without overflow. The reader's
/// list of missing samples once counted up to i64::MAX inclusive with `sn += 1`, which wrapped and looped
/// (practically) forever in release builds, and overflowed in debug ones.
#[test]
fn spoofed_sequence_numbers_at_the_end_of_the_range_are_bounded() {
    use starling_proto::wire::{Data, Header, Heartbeat, MessageBuilder, ProtocolVersion, SequenceNumber, VendorId};
    let mut net = Net::faulty(2, 5, NONE);
    let w = net.parts[0].create_writer(net.now, endpoint("T", reliable(EndpointQos::writer_default())));
    let r = net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    let from_writer = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut m = MessageBuilder::new(Header {
            version: ProtocolVersion::V2_5,
            vendor_id: VendorId::STARLING,
            guid_prefix: w.prefix,
        });
        f(m.buf_mut());
        m.finish()
    };
    let hb = |first: i64, count: u32| {
        from_writer(&|b: &mut Vec<u8>| {
            Heartbeat {
                reader_id: r.entity_id,
                writer_id: w.entity_id,
                first_sn: SequenceNumber(first),
                last_sn: SequenceNumber(i64::MAX),
                count,
                final_flag: false,
                liveliness_flag: false,
            }
            .encode(b)
        })
    };
    let data = |sn: i64| {
        from_writer(&|b: &mut Vec<u8>| {
            Data {
                reader_id: r.entity_id,
                writer_id: w.entity_id,
                writer_sn: SequenceNumber(sn),
                inline_qos: None,
                serialized_payload: Some(&[0, 1, 0, 0, 9, 9, 9, 9]),
                key_flag: false,
                non_standard_payload: false,
            }
            .encode(b)
        })
    };
    let dgrams =
        [hb(i64::MAX - 255, 100), data(i64::MAX - 1), data(i64::MAX), hb(i64::MAX, 101), data(i64::MAX), hb(1, 102)];
    for d in &dgrams {
        let now = net.now;
        net.parts[1].handle_datagram(now, d);
        net.parts[1].handle_timeout(now + Duration::from_millis(10));
        let mut out = 0;
        while net.parts[1].poll_transmit().is_some() {
            out += 1;
            assert!(out < 1000, "unbounded output");
        }
    }
    let sns: Vec<i64> = std::mem::take(&mut net.events[1])
        .into_iter()
        .map(|(_, e)| e)
        .chain(std::iter::from_fn(|| net.parts[1].poll_event()))
        .filter_map(|e| match e {
            Event::Sample { sample, .. } => Some(sample.sequence_number.0),
            _ => None,
        })
        .collect();
    assert!(!sns.contains(&i64::MAX), "a sample at i64::MAX was delivered: {sns:?}");
    let mut sorted = sns.clone();
    sorted.dedup();
    assert_eq!(sorted, sns, "duplicates: {sns:?}");
}

/// Streams `count` 1 KB samples from a KEEP_ALL writer with a 256-sample history (written as soon as there is
/// room, like `starling perf pub`) over a 1,500-byte-MTU link losing `loss` % of the frames in both directions.
/// With `fit`, both participants size their datagrams to the MTU. Returns the samples delivered within
/// `limit` of simulated time and the time it took.
fn stream_over_frame_loss(seed: u64, fit: bool, loss: u64, count: u32, limit: Duration) -> (Vec<u32>, Duration) {
    let mut net = Net::new(2, seed, |_, c| {
        if fit {
            c.fit_to_mtu(1500);
        }
    });
    net.mtu = Some(1500);
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    wq.resource_limits.max_samples = 256;
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    let mut rq = reliable(EndpointQos::reader_default());
    rq.history = History::KeepAll;
    net.parts[1].create_reader(net.now, endpoint("T", rq));
    assert!(net.run_until(Duration::from_secs(10), |n| n.publications_matched(0) > 0), "seed {seed}: no match");
    net.set_loss(loss);
    let start = net.now;
    let end = start + limit;
    let mut next = 0u32;
    while next < count && net.now < end {
        let mut payload = vec![0x00, 0x01, 0x00, 0x00];
        payload.extend_from_slice(&next.to_le_bytes());
        payload.resize(1024, 7);
        let c = alive(Bytes::from(payload));
        let now = net.now;
        match net.parts[0].write(now, w, c) {
            Ok(_) => next += 1,
            Err(e) if e.kind == starling_proto::core::WriteErrorKind::HistoryFull => net.step(Duration::from_millis(1)),
            Err(e) => panic!("seed {seed}: write failed: {e:?}"),
        }
    }
    let left = end.saturating_duration_since(net.now);
    net.run_until(left, |n| n.values(1).len() >= count as usize);
    (net.values(1), net.now - start)
}

/// Datagrams larger than the link MTU are IP-fragmented and lost with any fragment: at 20 % frame loss a
/// 65,000-byte datagram (45 frames) almost never arrives, so a writer batching into them (first sends and
/// repairs) barely progresses. Sized to the MTU (`ParticipantConfig::fit_to_mtu`), the same stream is delivered
/// completely and in order, over several seeds.
#[test]
fn datagrams_fitted_to_the_mtu_survive_frame_loss() {
    let mut c = ParticipantConfig::new(0, 0, GuidPrefix([1; 12]));
    c.fit_to_mtu(1500);
    assert_eq!((c.max_message_size, c.fragment_size), (1472, 1344));
    c.fit_to_mtu(65536);
    assert_eq!((c.max_message_size, c.fragment_size), (1472, 1344), "fit_to_mtu never raises the sizes");
    let limit = Duration::from_secs(60);
    for seed in seeds(1..=5) {
        let (got, took) = stream_over_frame_loss(seed, true, 20, 2000, limit);
        assert_eq!(got, (0..2000).collect::<Vec<_>>(), "seed {seed}: fitted stream incomplete after {took:?}");
        eprintln!("seed {seed}: fitted: 2000 in {took:?}");
    }
    let (got, took) = stream_over_frame_loss(1, false, 20, 2000, limit);
    eprintln!("unfitted: {} in {took:?}", got.len());
    assert!(got.len() < 1000, "65,000-byte datagrams over a 1,500-byte MTU delivered {} of 2000", got.len());
}

/// A KEEP_ALL writer whose history is full sends its periodic HEARTBEAT ten times as often (a full writer sends
/// no DATA and so no piggy-backed HEARTBEAT; a lost HEARTBEAT or ACKNACK would otherwise stall it a whole period).
/// Once matched, the network drops every datagram (counting the writer's HEARTBEATs), so nothing is acknowledged.
#[test]
fn full_writer_heartbeats_faster() {
    use starling_proto::wire::{parse, Submessage};
    use std::cell::Cell;
    use std::rc::Rc;
    let mut net = Net::new(2, 13, |_, _| {});
    let mut wq = EndpointQos::writer_default();
    wq.history = History::KeepAll;
    wq.resource_limits.max_samples = 8;
    let w = net.parts[0].create_writer(net.now, endpoint("T", wq));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0));
    let heartbeats = Rc::new(Cell::new(0usize));
    let counted = heartbeats.clone();
    net.set_drop_hook(Some(Box::new(move |from, bytes| {
        if from == 0 {
            let Ok((_, subs)) = parse(bytes) else { panic!("the writer sent a malformed datagram") };
            let n = subs
                .filter_map(Result::ok)
                .filter(|s| matches!(s, Submessage::Heartbeat(h) if h.writer_id == w.entity_id))
                .count();
            counted.set(counted.get() + n);
        }
        true
    })));
    // Periodic HEARTBEATs of the user writer during one simulated second, nothing delivered.
    let heartbeats_in_a_second = |net: &mut Net| {
        let before = heartbeats.get();
        net.run_for(Duration::from_secs(1));
        heartbeats.get() - before
    };
    for i in 0..4 {
        net.write(0, w, change(i, 0));
    }
    let not_full = heartbeats_in_a_second(&mut net);
    for i in 4..8 {
        net.write(0, w, change(i, 0));
    }
    let full = heartbeats_in_a_second(&mut net);
    assert!((8..=12).contains(&not_full), "{not_full} HEARTBEATs in a second with room in the history");
    assert!(full >= 80, "{full} HEARTBEATs in a second with a full history");
}

/// `deadline_after_write` names every deadline a write brings forward: after each write to a matched
/// reliable reader it is never later than the participant's next deadline (`poll_timeout`) whenever that one
/// moved earlier with the write, it is the writer's own deadline (the piggy-backed or periodic HEARTBEAT) or
/// the liveliness timer's, and a write that also reached a local reader asks for the full `poll_timeout`.
#[test]
fn deadline_after_write_covers_what_a_write_moves() {
    let mut net = Net::faulty(2, 7, NONE);
    let w = net.parts[0].create_writer(net.now, endpoint("T", EndpointQos::writer_default()));
    net.parts[1].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 0), "writer never matched");
    assert!(net.run_until(Duration::from_secs(2), |n| n.parts[0].is_acked_by_all(w)));
    for i in 0..20 {
        let now = net.now;
        let before = net.parts[0].poll_timeout();
        net.parts[0].write(now, w, change(i, 0)).expect("write accepted");
        let after = net.parts[0].poll_timeout();
        let hint = net.parts[0].deadline_after_write(w).expect("no local reader: a hint");
        let hint = hint.expect("a reliable writer with unacknowledged data has a deadline");
        assert!(after.is_some_and(|a| a <= hint), "the hint is a real deadline: {after:?} vs {hint:?}");
        if after < before {
            assert_eq!(after, Some(hint), "write {i} brought the deadline forward to what the hint says");
        }
        net.run_for(Duration::from_millis(20));
    }
    // A local reader of the same topic: the write reaches it, and only poll_timeout tells.
    net.parts[0].create_reader(net.now, endpoint("T", reliable(EndpointQos::reader_default())));
    assert!(net.run_until(Duration::from_secs(5), |n| n.publications_matched(0) > 1), "local reader never matched");
    let now = net.now;
    net.parts[0].write(now, w, change(99, 0)).expect("write accepted");
    assert_eq!(net.parts[0].deadline_after_write(w), None);
}
