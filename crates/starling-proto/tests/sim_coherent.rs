//! Deterministic simulations of PRESENTATION coherent sets through the public core API: a writer publishes
//! coherent sets over a network that loses, duplicates and reorders datagrams, and a reader with coherent
//! access must see every set whole or not at all, never a part of one.
//!
//! Every scenario runs over many seeds; a failure names its seed.

use bytes::Bytes;
use starling_proto::core::{EndpointConfig, Event, WriteChange};
use starling_proto::qos::{EndpointQos, History, Reliability};
use starling_proto::wire::Guid;
use std::time::Duration;

mod common;
use common::{seeds, Faults, Net};

/// An endpoint on topic `T`.
fn endpoint(qos: EndpointQos) -> EndpointConfig {
    common::endpoint("T", qos)
}

fn qos(writer: bool, reliable: bool, coherent: bool, history: History) -> EndpointQos {
    let mut q = if writer { EndpointQos::writer_default() } else { EndpointQos::reader_default() };
    q.reliability = if reliable { Reliability::reliable() } else { Reliability::best_effort() };
    q.presentation.coherent_access = coherent;
    q.presentation.access_scope = starling_proto::qos::AccessScope::Topic;
    q.history = history;
    q
}

/// A change on instance `member` whose payload carries (set, member).
/// Member `member` of coherent set `set`: the set number, then the member byte; instance `member`.
fn change(set: u32, member: u8) -> WriteChange {
    let mut c = common::change(set, member);
    let mut payload = c.payload.to_vec();
    payload.push(member);
    c.payload = Bytes::from(payload);
    c
}

fn decode(p: &Option<Bytes>) -> (u32, u8) {
    let p = p.as_ref().expect("a delivered sample has a payload");
    (u32::from_le_bytes([p[4], p[5], p[6], p[7]]), p[8])
}

/// What the reader got: whole sets (as delivered in one event) and single samples.
#[derive(Debug, Default)]
struct Seen {
    sets: Vec<Vec<(u32, u8)>>,
    singles: Vec<(u32, u8)>,
    empty_payloads: usize,
}

fn seen(net: &Net, idx: usize) -> Seen {
    let mut s = Seen::default();
    for e in net.events_of(idx) {
        match e {
            Event::CoherentSet { samples, .. } => s.sets.push(samples.iter().map(|x| decode(&x.payload)).collect()),
            Event::Sample { sample, .. } if sample.payload.is_none() => s.empty_payloads += 1,
            Event::Sample { sample, .. } => s.singles.push(decode(&sample.payload)),
            _ => {}
        }
    }
    s
}

fn matched(net: &Net) -> bool {
    net.publications_matched(0) > 0 && net.subscription_matched(1)
}

const SET_SIZE: u8 = 3;

/// Writes `sets` coherent sets of SET_SIZE changes; every fourth set is followed by a plain change (set
/// number with member 99), which is outside any set.
fn publish(net: &mut Net, w: Guid, sets: u32, pace: Duration) {
    for set in 0..sets {
        let now = net.now;
        net.parts[0].begin_coherent_set(w);
        for m in 0..SET_SIZE {
            net.parts[0].write(now, w, change(set, m)).expect("write");
            // One datagram per change, so that loss can take part of a set.
            net.collect();
        }
        net.parts[0].end_coherent_set(now, w);
        if set % 4 == 3 {
            net.parts[0].write(now, w, change(set, 99)).expect("write");
        }
        net.run_for(pace);
    }
}

/// Every delivered set is exactly one writer's set, whole and in order.
fn assert_whole(s: &Seen, seed: u64) {
    for set in &s.sets {
        let n = set[0].0;
        let want: Vec<(u32, u8)> = (0..SET_SIZE).map(|m| (n, m)).collect();
        assert_eq!(set, &want, "seed {seed}: a delivered set is not whole");
    }
    assert!(s.singles.iter().all(|(_, m)| *m == 99), "seed {seed}: a member of a set arrived on its own: {s:?}");
    assert_eq!(s.empty_payloads, 0, "seed {seed}: an end marker reached the application");
}

#[test]
fn reliable_reader_gets_every_set_whole_under_faults() {
    for seed in seeds(1..=25) {
        let faults = Faults { loss: 20, dup: 10, reorder: 30 };
        let mut net = Net::faulty(2, seed, faults);
        let w = net.parts[0].create_writer(net.now, endpoint(qos(true, true, true, History::KeepAll)));
        net.parts[1].create_reader(net.now, endpoint(qos(false, true, true, History::KeepAll)));
        assert!(net.run_until(Duration::from_secs(60), matched), "seed {seed}: no match");
        publish(&mut net, w, 40, Duration::from_millis(20));
        let done = net.run_until(Duration::from_secs(120), |n| seen(n, 1).sets.len() == 40);
        let s = seen(&net, 1);
        assert!(done, "seed {seed}: got {} of 40 sets", s.sets.len());
        assert_whole(&s, seed);
        assert_eq!(s.sets.iter().map(|x| x[0].0).collect::<Vec<_>>(), (0..40).collect::<Vec<_>>(), "seed {seed}");
        assert_eq!(s.singles.len(), 10, "seed {seed}: plain samples between sets");
        assert_eq!(net.parts[1].stats().incomplete_coherent_sets, 0, "seed {seed}");
    }
}

#[test]
fn best_effort_reader_never_sees_part_of_a_set() {
    let mut dropped_somewhere = false;
    for seed in seeds(1..=25) {
        let faults = Faults { loss: 15, dup: 5, reorder: 20 };
        let mut net = Net::faulty(2, seed, faults);
        let w = net.parts[0].create_writer(net.now, endpoint(qos(true, false, true, History::KeepAll)));
        net.parts[1].create_reader(net.now, endpoint(qos(false, false, true, History::KeepAll)));
        assert!(net.run_until(Duration::from_secs(60), matched), "seed {seed}: no match");
        publish(&mut net, w, 40, Duration::from_millis(20));
        net.run_for(Duration::from_secs(2));
        let s = seen(&net, 1);
        assert_whole(&s, seed);
        assert!(!s.sets.is_empty(), "seed {seed}: no set made it at 15% loss");
        let dropped = net.parts[1].stats().incomplete_coherent_sets;
        dropped_somewhere |= dropped > 0;
        // A set is either delivered or counted as dropped; a set whose every datagram was lost is neither.
        assert!(s.sets.len() as u64 + dropped <= 40, "seed {seed}");
    }
    assert!(dropped_somewhere, "loss never broke a set: the test does not exercise dropping");
}

#[test]
fn keep_last_writer_gaps_drop_sets_whole() {
    // A KEEP_LAST(1) writer keeps only the newest change per instance: a change lost on the way and already
    // replaced is answered with a GAP, and its set must be dropped, not delivered in part.
    let mut dropped_somewhere = false;
    for seed in seeds(1..=25) {
        let faults = Faults { loss: 25, dup: 0, reorder: 20 };
        let mut net = Net::faulty(2, seed, faults);
        let w = net.parts[0].create_writer(net.now, endpoint(qos(true, true, true, History::KeepLast(1))));
        net.parts[1].create_reader(net.now, endpoint(qos(false, true, true, History::KeepAll)));
        assert!(net.run_until(Duration::from_secs(60), matched), "seed {seed}: no match");
        publish(&mut net, w, 40, Duration::ZERO);
        net.run_for(Duration::from_secs(30));
        let s = seen(&net, 1);
        assert_whole(&s, seed);
        let dropped = net.parts[1].stats().incomplete_coherent_sets;
        dropped_somewhere |= dropped > 0;
        // The last set is still in the writer's history, so it always arrives.
        assert_eq!(s.sets.last().map(|x| x[0].0), Some(39), "seed {seed}: the newest set is missing");
    }
    assert!(dropped_somewhere, "no set was ever GAPped: the test does not exercise dropping");
}

#[test]
fn reader_without_coherent_access_gets_plain_samples_and_no_markers() {
    let mut net = Net::faulty(2, 7, Faults { loss: 10, dup: 5, reorder: 10 });
    let w = net.parts[0].create_writer(net.now, endpoint(qos(true, true, true, History::KeepAll)));
    net.parts[1].create_reader(net.now, endpoint(qos(false, true, false, History::KeepAll)));
    assert!(net.run_until(Duration::from_secs(60), matched));
    publish(&mut net, w, 8, Duration::from_millis(10));
    assert!(net.run_until(Duration::from_secs(60), |n| seen(n, 1).singles.len() == 8 * 3 + 2));
    let s = seen(&net, 1);
    assert!(s.sets.is_empty());
    assert_eq!(s.empty_payloads, 0, "end markers must not reach the application");
}

#[test]
fn reader_joining_in_the_middle_of_a_set_drops_that_set() {
    let mut net = Net::faulty(2, 3, Faults { loss: 0, dup: 0, reorder: 0 });
    let w = net.parts[0].create_writer(net.now, endpoint(qos(true, true, true, History::KeepAll)));
    net.run_for(Duration::from_millis(100));
    let now = net.now;
    net.parts[0].begin_coherent_set(w);
    net.parts[0].write(now, w, change(100, 0)).expect("write");
    net.parts[0].write(now, w, change(100, 1)).expect("write");
    // The (volatile) reader matches now: it never sees the first two changes of set 0.
    net.parts[1].create_reader(net.now, endpoint(qos(false, true, true, History::KeepAll)));
    assert!(net.run_until(Duration::from_secs(60), matched));
    let now = net.now;
    net.parts[0].write(now, w, change(100, 2)).expect("write");
    net.parts[0].end_coherent_set(now, w);
    publish(&mut net, w, 2, Duration::from_millis(10));
    assert!(net.run_until(Duration::from_secs(30), |n| seen(n, 1).sets.len() == 2));
    let s = seen(&net, 1);
    assert_eq!(s.sets, [vec![(0, 0), (0, 1), (0, 2)], vec![(1, 0), (1, 1), (1, 2)]]);
    assert!(s.singles.is_empty(), "the tail of the partial set leaked: {s:?}");
    assert_eq!(net.parts[1].stats().incomplete_coherent_sets, 1);
}

#[test]
fn local_reader_gets_sets_whole() {
    let mut net = Net::faulty(1, 1, Faults { loss: 0, dup: 0, reorder: 0 });
    let w = net.parts[0].create_writer(net.now, endpoint(qos(true, true, true, History::KeepAll)));
    net.parts[0].create_reader(net.now, endpoint(qos(false, true, true, History::KeepAll)));
    let now = net.now;
    net.parts[0].begin_coherent_set(w);
    net.parts[0].write(now, w, change(5, 0)).expect("write");
    net.parts[0].write(now, w, change(5, 1)).expect("write");
    net.collect();
    assert!(seen(&net, 0).sets.is_empty(), "a set was delivered before it ended");
    net.parts[0].write(now, w, change(5, 2)).expect("write");
    net.parts[0].end_coherent_set(now, w);
    net.collect();
    let s = seen(&net, 0);
    assert_eq!(s.sets, [vec![(5, 0), (5, 1), (5, 2)]]);
    assert_eq!(s.empty_payloads, 0);
}

// ----- GROUP access scope ---------------------------------------------------------------------

/// The GROUP-scope topics: one writer and one reader each.
const TOPICS: [&str; 3] = ["G0", "G1", "G2"];

fn group_qos(writer: bool, reliable: bool, coherent: bool, ordered: bool) -> EndpointQos {
    let mut q = qos(writer, reliable, coherent, History::KeepAll);
    q.presentation.access_scope = starling_proto::qos::AccessScope::Group;
    q.presentation.ordered_access = ordered;
    q
}

/// A publisher (participant 0) with one writer per topic and a subscriber (participant 1) with one reader
/// per topic, all of GROUP scope, matched. Returns the writers and the readers.
fn group_setup(net: &mut Net, reliable: bool, coherent: bool, ordered: bool) -> (Vec<Guid>, Vec<Guid>) {
    let pub_group = net.parts[0].create_group(true);
    let sub_group = net.parts[1].create_group(false);
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for t in TOPICS {
        let mut w = endpoint(group_qos(true, reliable, coherent, ordered));
        w.topic_name = t.into();
        w.group = Some(pub_group);
        writers.push(net.parts[0].create_writer(net.now, w));
        let mut r = endpoint(group_qos(false, reliable, coherent, ordered));
        r.topic_name = t.into();
        r.group = Some(sub_group);
        readers.push(net.parts[1].create_reader(net.now, r));
    }
    let all_matched = |n: &Net| {
        let count = |i: usize, w: bool| {
            n.events_of(i)
                .filter(|e| match e {
                    Event::PublicationMatched { matched, .. } => w && *matched,
                    Event::SubscriptionMatched { matched, .. } => !w && *matched,
                    _ => false,
                })
                .count()
        };
        count(0, true) >= TOPICS.len() && count(1, false) >= TOPICS.len()
    };
    assert!(net.run_until(Duration::from_secs(60), all_matched), "group endpoints never matched");
    (writers, readers)
}

/// The members writer `w` writes in group set `set`: writer 0 always two, writer 1 one, writer 2 two in
/// every other set and none otherwise (a set need not span every writer). Members are numbered
/// `10 * w + m`.
fn group_members(set: u32, w: usize) -> Vec<u8> {
    let n = match w {
        0 => 2,
        1 => 1,
        _ if set % 2 == 0 => 2,
        _ => 0,
    };
    (0..n).map(|m| 10 * w as u8 + m).collect()
}

/// Writes `sets` group coherent sets across the writers, interleaving the writers' changes; every third
/// set is followed by a plain change on writer 1 (member 99).
fn publish_group(net: &mut Net, writers: &[Guid], sets: u32, pace: Duration) {
    for set in 0..sets {
        let now = net.now;
        for w in writers {
            net.parts[0].begin_coherent_set(*w);
        }
        let per: Vec<Vec<u8>> = (0..writers.len()).map(|i| group_members(set, i)).collect();
        for round in 0..2 {
            for (i, w) in writers.iter().enumerate() {
                if let Some(m) = per[i].get(round) {
                    net.parts[0].write(now, *w, change(set, *m)).expect("write");
                    net.collect();
                }
            }
        }
        for w in writers {
            net.parts[0].end_coherent_set(now, *w);
        }
        if set % 3 == 2 {
            net.parts[0].write(now, writers[1], change(set, 99)).expect("write");
        }
        net.run_for(pace);
    }
}

/// A delivered sample of a group set: reader index, (set, member), group sequence number.
type GroupSample = (usize, (u32, u8), Option<i64>);

/// Group sets as delivered (one event each: every reader's share), and anything else readers got.
#[derive(Debug, Default)]
struct GroupSeen {
    /// Per delivered set: (reader index, (set, member), group sequence number).
    sets: Vec<Vec<GroupSample>>,
    /// Samples delivered on their own.
    singles: Vec<(usize, (u32, u8))>,
    /// Per-writer coherent set events (must not happen with GROUP scope).
    writer_sets: usize,
}

fn group_seen(net: &Net, readers: &[Guid]) -> GroupSeen {
    let idx = |g: &Guid| readers.iter().position(|r| r == g).expect("a known reader");
    let mut s = GroupSeen::default();
    for e in net.events_of(1) {
        match e {
            Event::GroupCoherentSet { parts } => s.sets.push(
                parts
                    .iter()
                    .flat_map(|(r, v)| {
                        v.iter().map(move |x| {
                            (idx(r), decode(&x.payload), x.group.as_ref().and_then(|g| g.seq).map(|q| q.0))
                        })
                    })
                    .collect(),
            ),
            Event::Sample { reader, sample } if sample.payload.is_some() => {
                s.singles.push((idx(reader), decode(&sample.payload)))
            }
            Event::CoherentSet { .. } => s.writer_sets += 1,
            _ => {}
        }
    }
    s
}

/// Every delivered group set is whole across the readers: exactly the members each writer wrote in it,
/// each at the reader of the writer's topic, in the writer's order, with group sequence numbers rising.
fn assert_group_whole(s: &GroupSeen, seed: u64) {
    for set in &s.sets {
        let n = set[0].1 .0;
        let mut want: Vec<(usize, (u32, u8))> = Vec::new();
        for w in 0..TOPICS.len() {
            want.extend(group_members(n, w).into_iter().map(|m| (w, (n, m))));
        }
        let mut got: Vec<(usize, (u32, u8))> = set.iter().map(|(r, x, _)| (*r, *x)).collect();
        got.sort();
        assert_eq!(got, want, "seed {seed}: group set {n} is not whole");
        for r in 0..TOPICS.len() {
            let seqs: Vec<i64> =
                set.iter().filter(|(x, _, _)| *x == r).map(|(_, _, q)| q.expect("a group seq")).collect();
            assert!(seqs.windows(2).all(|p| p[0] < p[1]), "seed {seed}: set {n} out of the publisher's order");
        }
    }
    assert!(s.singles.iter().all(|(_, (_, m))| *m == 99), "seed {seed}: a member of a group set arrived alone");
    assert_eq!(s.writer_sets, 0, "seed {seed}: a writer's part was delivered on its own");
}

#[test]
fn group_sets_arrive_whole_across_writers_under_faults() {
    for seed in seeds(1..=20) {
        let mut net = Net::faulty(2, seed, Faults { loss: 15, dup: 10, reorder: 30 });
        let (writers, readers) = group_setup(&mut net, true, true, true);
        publish_group(&mut net, &writers, 30, Duration::from_millis(20));
        let done = net.run_until(Duration::from_secs(120), |n| group_seen(n, &readers).sets.len() == 30);
        let s = group_seen(&net, &readers);
        assert!(done, "seed {seed}: got {} of 30 group sets", s.sets.len());
        assert_group_whole(&s, seed);
        let order: Vec<u32> = s.sets.iter().map(|x| x[0].1 .0).collect();
        assert_eq!(order, (0..30).collect::<Vec<_>>(), "seed {seed}: sets out of order");
        assert_eq!(s.singles.len(), 10, "seed {seed}: plain samples between sets");
        assert_eq!(net.parts[1].stats().incomplete_group_sets, 0, "seed {seed}");
    }
}

#[test]
fn best_effort_group_sets_are_whole_or_dropped_whole() {
    let mut dropped_somewhere = false;
    for seed in seeds(1..=20) {
        let mut net = Net::faulty(2, seed, Faults { loss: 10, dup: 5, reorder: 20 });
        let (writers, readers) = group_setup(&mut net, false, true, false);
        publish_group(&mut net, &writers, 30, Duration::from_millis(20));
        net.run_for(Duration::from_secs(2));
        let s = group_seen(&net, &readers);
        assert_group_whole(&s, seed);
        assert!(!s.sets.is_empty(), "seed {seed}: no group set made it at 10% loss");
        let dropped = net.parts[1].stats().incomplete_group_sets;
        dropped_somewhere |= dropped > 0;
        assert!(s.sets.len() as u64 + dropped <= 30, "seed {seed}: more sets than written");
    }
    assert!(dropped_somewhere, "loss never broke a group set: the test does not exercise dropping");
}

#[test]
fn ordered_group_access_numbers_samples_in_the_publishers_order() {
    // Ordered access without coherent sets: every sample carries its group sequence number, so that the
    // subscriber can put the samples of all its readers back into the order the publisher wrote them.
    for seed in seeds(1..=10) {
        let mut net = Net::faulty(2, seed, Faults { loss: 15, dup: 10, reorder: 40 });
        let (writers, readers) = group_setup(&mut net, true, false, true);
        let mut written = Vec::new();
        for i in 0..60u32 {
            let w = (i as usize * 7 + seed as usize) % writers.len();
            net.parts[0].write(net.now, writers[w], change(i, w as u8)).expect("write");
            written.push((w, i));
            net.collect();
            net.run_for(Duration::from_millis(1));
        }
        assert!(net.run_until(Duration::from_secs(120), |n| group_seen(n, &readers).singles.len() == 60));
        let mut got: Vec<(i64, usize, u32)> = Vec::new();
        for e in net.events_of(1) {
            if let Event::Sample { reader, sample } = e {
                let seq = sample.group.as_ref().and_then(|g| g.seq).expect("a group sequence number").0;
                got.push((seq, readers.iter().position(|r| r == reader).expect("reader"), decode(&sample.payload).0));
            }
        }
        got.sort();
        let by_seq: Vec<(usize, u32)> = got.iter().map(|(_, r, i)| (*r, *i)).collect();
        assert_eq!(by_seq, written, "seed {seed}: group sequence numbers do not give the publisher's order");
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), (1..=60).collect::<Vec<_>>(), "seed {seed}");
    }
}

fn filter_property() -> starling_proto::discovery::ContentFilterProperty {
    starling_proto::discovery::ContentFilterProperty {
        content_filtered_topic_name: "T_filtered".into(),
        related_topic_name: "T".into(),
        filter_class_name: "DDSSQL".into(),
        filter_expression: "member <> 1".into(),
        expression_parameters: Vec::new(),
    }
}

#[test]
fn content_filtered_reader_gets_sets_minus_the_filtered_changes() {
    // The writer filters member 1 out for the reader (it sends a GAP instead): each set must still be
    // delivered, without member 1, not dropped as incomplete. Also when the filtered change is the set's
    // first.
    for seed in seeds(1..=15) {
        let mut net = Net::faulty(2, seed, Faults { loss: 15, dup: 5, reorder: 20 });
        let w = net.parts[0].create_writer(net.now, endpoint(qos(true, true, true, History::KeepAll)));
        let mut rq = endpoint(qos(false, true, true, History::KeepAll));
        rq.content_filter = Some(filter_property());
        let r = net.parts[1].create_reader(net.now, rq);
        assert!(net.run_until(Duration::from_secs(60), matched), "seed {seed}: no match");
        for set in 0..20u32 {
            let now = net.now;
            net.parts[0].begin_coherent_set(w);
            let first = if set % 2 == 0 { [1u8, 0, 2] } else { [0, 1, 2] };
            for m in first {
                let out = if m == 1 { vec![r] } else { Vec::new() };
                net.parts[0].write_filtered(now, w, change(set, m), out).expect("write");
                net.collect();
            }
            net.parts[0].end_coherent_set(now, w);
            net.run_for(Duration::from_millis(20));
        }
        let done = net.run_until(Duration::from_secs(120), |n| seen(n, 1).sets.len() == 20);
        let s = seen(&net, 1);
        assert!(
            done,
            "seed {seed}: got {} of 20 sets ({} dropped)",
            s.sets.len(),
            net.parts[1].stats().incomplete_coherent_sets
        );
        for (i, set) in s.sets.iter().enumerate() {
            let mut members: Vec<u8> = set.iter().map(|x| x.1).collect();
            members.sort();
            assert_eq!(members, [0, 2], "seed {seed}: set {i}");
            assert!(set.iter().all(|x| x.0 == i as u32), "seed {seed}: set {i}");
        }
        assert_eq!(net.parts[1].stats().incomplete_coherent_sets, 0, "seed {seed}");
    }
}

#[test]
fn content_filtered_group_reader_gets_group_sets_minus_the_filtered_changes() {
    // GROUP scope: reader 1 filters out every change of writer 1 (its share is all GAPs): the group sets
    // still arrive, with nothing at reader 1.
    for seed in seeds(1..=10) {
        let mut net = Net::faulty(2, seed, Faults { loss: 10, dup: 5, reorder: 20 });
        let pub_group = net.parts[0].create_group(true);
        let sub_group = net.parts[1].create_group(false);
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for t in TOPICS {
            let mut w = endpoint(group_qos(true, true, true, false));
            w.topic_name = t.into();
            w.group = Some(pub_group);
            writers.push(net.parts[0].create_writer(net.now, w));
            let mut r = endpoint(group_qos(false, true, true, false));
            r.topic_name = t.into();
            r.group = Some(sub_group);
            if t == "G1" {
                r.content_filter = Some(filter_property());
            }
            readers.push(net.parts[1].create_reader(net.now, r));
        }
        let ok = net.run_until(Duration::from_secs(60), |n| {
            n.events_of(1).filter(|e| matches!(e, Event::SubscriptionMatched { matched: true, .. })).count() >= 3
                && n.publications_matched(0) >= 3
        });
        assert!(ok, "seed {seed}: no match");
        for set in 0..15u32 {
            let now = net.now;
            for w in &writers {
                net.parts[0].begin_coherent_set(*w);
            }
            for (i, w) in writers.iter().enumerate() {
                let out = if i == 1 { vec![readers[1]] } else { Vec::new() };
                net.parts[0].write_filtered(now, *w, change(set, 10 * i as u8), out).expect("write");
                net.collect();
            }
            for w in &writers {
                net.parts[0].end_coherent_set(now, *w);
            }
            net.run_for(Duration::from_millis(20));
        }
        let done = net.run_until(Duration::from_secs(120), |n| group_seen(n, &readers).sets.len() == 15);
        let s = group_seen(&net, &readers);
        assert!(done, "seed {seed}: got {} of 15 group sets", s.sets.len());
        for set in &s.sets {
            let mut got: Vec<(usize, u8)> = set.iter().map(|(r, x, _)| (*r, x.1)).collect();
            got.sort();
            assert_eq!(got, [(0, 0), (2, 20)], "seed {seed}");
        }
        assert_eq!(net.parts[1].stats().incomplete_group_sets, 0, "seed {seed}");
    }
}

#[test]
fn topic_scope_reader_of_a_group_writer_gets_per_writer_sets() {
    // A reader of TOPIC scope (like another vendor's) still sees each writer's share as a coherent set.
    let mut net = Net::faulty(2, 5, Faults { loss: 10, dup: 5, reorder: 20 });
    let pub_group = net.parts[0].create_group(true);
    let mut wq = endpoint(group_qos(true, true, true, false));
    wq.topic_name = "G0".into();
    wq.group = Some(pub_group);
    let w = net.parts[0].create_writer(net.now, wq);
    let mut rq = endpoint(qos(false, true, true, History::KeepAll));
    rq.topic_name = "G0".into();
    net.parts[1].create_reader(net.now, rq);
    assert!(net.run_until(Duration::from_secs(60), matched));
    publish(&mut net, w, 10, Duration::from_millis(10));
    assert!(net.run_until(Duration::from_secs(60), |n| seen(n, 1).sets.len() == 10));
    assert_whole(&seen(&net, 1), 5);
}
