//! Deterministic simulations of the LIVELINESS protocol: ParticipantMessage
//! (PMD) assertions, liveliness HEARTBEATs, lease expiry of remote writers as
//! a reader sees it and LIVELINESS_LOST as the writer sees it, with PMD
//! datagrams or a whole participant's traffic dropped. Simulated time only.

use starling_proto::core::{Event, Participant, ParticipantMessageData, MANUAL_LIVELINESS_UPDATE};
use starling_proto::qos::{EndpointQos, Liveliness, LivelinessKind, Reliability};
use starling_proto::wire::{self, EntityId, Guid, Submessage};
use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::{Duration, Instant};

mod common;
use common::{change, endpoint, Net as SimNet};

/// Which datagrams the network drops.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Drop {
    Nothing,
    /// Every datagram with a submessage to or from a ParticipantMessage endpoint.
    Pmd,
    /// Everything participant 0 sends.
    AllFrom0,
}

/// The shared simulated network, plus what these tests drop and count.
struct Net {
    sim: SimNet,
    drop: Rc<Cell<Drop>>,
    /// Manual PMDs seen leaving participant 0 (dropped or not).
    manual_pmds: Rc<Cell<usize>>,
}

impl Deref for Net {
    type Target = SimNet;
    fn deref(&self) -> &SimNet {
        &self.sim
    }
}

impl DerefMut for Net {
    fn deref_mut(&mut self) -> &mut SimNet {
        &mut self.sim
    }
}

fn is_pmd(datagram: &[u8]) -> bool {
    let Ok((_, iter)) = wire::parse(datagram) else { return false };
    let pmd = |id: EntityId| id == EntityId::P2P_MESSAGE_WRITER || id == EntityId::P2P_MESSAGE_READER;
    iter.map_while(Result::ok).any(|sm| match sm {
        Submessage::Data(d) => pmd(d.writer_id),
        Submessage::Heartbeat(h) => pmd(h.writer_id),
        Submessage::Gap(g) => pmd(g.writer_id),
        Submessage::AckNack(a) => pmd(a.writer_id),
        _ => false,
    })
}

fn manual_pmd_count(datagram: &[u8]) -> usize {
    let Ok((_, iter)) = wire::parse(datagram) else { return 0 };
    iter.map_while(Result::ok)
        .filter(|sm| match sm {
            Submessage::Data(d) if d.writer_id == EntityId::P2P_MESSAGE_WRITER => d
                .serialized_payload
                .and_then(|p| ParticipantMessageData::decode(p).ok())
                .is_some_and(|m| m.kind == MANUAL_LIVELINESS_UPDATE),
            _ => false,
        })
        .count()
}

impl Net {
    fn new(n: usize) -> Net {
        let mut sim = SimNet::new(n, 1, |_, _| {});
        sim.max_step = Duration::from_millis(20);
        let drop = Rc::new(Cell::new(Drop::Nothing));
        let manual_pmds = Rc::new(Cell::new(0));
        let (d, m) = (drop.clone(), manual_pmds.clone());
        sim.set_drop_hook(Some(Box::new(move |from, datagram| {
            if from == 0 {
                m.set(m.get() + manual_pmd_count(datagram));
            }
            match d.get() {
                Drop::Nothing => false,
                Drop::Pmd => is_pmd(datagram),
                Drop::AllFrom0 => from == 0,
            }
        })));
        Net { sim, drop, manual_pmds }
    }

    fn set_drop(&mut self, drop: Drop) {
        self.drop.set(drop);
    }

    fn manual_pmds(&self) -> usize {
        self.manual_pmds.get()
    }

    /// Runs for `d`, calling `f` on participant 0 every `every`.
    fn run_asserting(&mut self, d: Duration, every: Duration, mut f: impl FnMut(&mut Participant, Instant)) {
        let end = self.now + d;
        let mut next = self.now;
        while self.now < end {
            if self.now >= next {
                let now = self.now;
                f(&mut self.parts[0], now);
                next = now + every;
            }
            let step = self.max_step;
            self.step(step);
        }
    }
}

fn lease(kind: LivelinessKind, ms: u64) -> Liveliness {
    Liveliness { kind, lease_duration: wire::Duration::from_std(Duration::from_millis(ms)) }
}

/// Participant 0 with a writer of `liveliness`, participant 1 with a reader that accepts it, matched.
fn matched_pair(liveliness: Liveliness) -> (Net, Guid, Guid) {
    let mut net = Net::new(2);
    let mut wq = EndpointQos::writer_default();
    wq.reliability = Reliability::reliable();
    wq.liveliness = liveliness;
    let w = net.sim.parts[0].create_writer(net.sim.now, endpoint("T", wq));
    let mut rq = EndpointQos::reader_default();
    rq.reliability = Reliability::reliable();
    let r = net.sim.parts[1].create_reader(net.sim.now, endpoint("T", rq));
    let ok = net.run_until(Duration::from_secs(5), |n| n.subscription_matched(1));
    assert!(ok, "never matched");
    (net, w, r)
}

#[test]
fn spdp_announces_the_pmd_endpoints() {
    let mut net = Net::new(2);
    assert!(net.run_until(Duration::from_secs(2), |n| n.parts[1].discovered_participants().count() == 1));
    let p = net.parts[1].discovered_participants().next().expect("participant");
    assert_eq!(p.builtin_endpoints & (1 << 10), 1 << 10, "PMD writer bit");
    assert_eq!(p.builtin_endpoints & (1 << 11), 1 << 11, "PMD reader bit");
}

#[test]
fn manual_by_participant_assertions_travel_as_pmd() {
    let (mut net, w, r) = matched_pair(lease(LivelinessKind::ManualByParticipant, 1000));
    // Asserting the participant every 300 ms (several per lease) keeps the writer alive on both sides.
    net.run_asserting(Duration::from_secs(4), Duration::from_millis(300), |p, now| {
        p.assert_participant_liveliness(now)
    });
    assert!(net.liveliness_of(1, w).is_empty(), "no change while asserted: {:?}", net.liveliness_of(1, w));
    assert_eq!(net.lost_count(0, w), 0);
    assert!(net.manual_pmds() >= 10, "one manual PMD per assertion, got {}", net.manual_pmds());
    // Silence: the reader sees the writer die, the writer sees LIVELINESS_LOST.
    assert!(net.run_until(Duration::from_secs(3), |n| n.liveliness_of(1, w) == [false]));
    assert!(net.run_until(Duration::from_secs(1), |n| n.lost_count(0, w) == 1));
    assert!(!net.parts[1].writer_alive(&w));
    // The reader is named in the event.
    assert!(net.events[1].iter().any(|(_, e)| matches!(e, Event::LivelinessChanged { reader, .. } if *reader == r)));
    // One assertion brings it back.
    let now = net.now;
    net.parts[0].assert_participant_liveliness(now);
    assert!(net.run_until(Duration::from_millis(500), |n| n.liveliness_of(1, w) == [false, true]));
    assert!(net.parts[1].writer_alive(&w));
}

#[test]
fn dropped_pmds_make_a_manual_by_participant_writer_not_alive() {
    let (mut net, w, _) = matched_pair(lease(LivelinessKind::ManualByParticipant, 1000));
    net.set_drop(Drop::Pmd);
    net.run_asserting(Duration::from_secs(3), Duration::from_millis(300), |p, now| {
        p.assert_participant_liveliness(now)
    });
    assert_eq!(net.liveliness_of(1, w), [false], "the reader never heard an assertion");
    assert_eq!(net.lost_count(0, w), 0, "the writer did assert");
    assert!(net.parts[1].discovered_participants().count() == 1, "the participant itself is alive");
    // The PMDs get through again: alive.
    net.set_drop(Drop::Nothing);
    net.run_asserting(Duration::from_secs(2), Duration::from_millis(300), |p, now| {
        p.assert_participant_liveliness(now)
    });
    assert_eq!(net.liveliness_of(1, w), [false, true]);
}

#[test]
fn writes_assert_manual_by_participant_and_come_after_the_revival() {
    let (mut net, w, _) = matched_pair(lease(LivelinessKind::ManualByParticipant, 1000));
    assert!(net.run_until(Duration::from_secs(3), |n| n.liveliness_of(1, w) == [false]));
    let now = net.now;
    net.parts[0].write(now, w, change(7, 1)).expect("write");
    assert!(net.run_until(Duration::from_secs(1), |n| n.liveliness_of(1, w) == [false, true]));
    // The reader hears of the revival before the sample that caused it.
    let order: Vec<&str> = net.events[1]
        .iter()
        .filter_map(|(_, e)| match e {
            Event::LivelinessChanged { alive: true, .. } => Some("alive"),
            Event::Sample { .. } => Some("sample"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["alive", "sample"]);
    // Writes every 300 ms keep it alive; a burst of writes sends few PMDs.
    let before = net.manual_pmds();
    for i in 0..20 {
        let now = net.now;
        net.parts[0].write(now, w, change(i, 1)).expect("write");
    }
    net.run_for(Duration::from_millis(200));
    assert!(net.manual_pmds() - before <= 3, "burst rate-limited, got {}", net.manual_pmds() - before);
    net.run_asserting(Duration::from_secs(3), Duration::from_millis(300), |p, now| {
        let _ = p.write(now, w, change(1, 1));
    });
    assert_eq!(net.liveliness_of(1, w), [false, true]);
}

#[test]
fn manual_by_topic_liveliness_heartbeats() {
    let (mut net, w, _) = matched_pair(lease(LivelinessKind::ManualByTopic, 1000));
    // PMDs do not assert a manual-by-topic writer, heartbeats with the liveliness flag do.
    net.run_asserting(Duration::from_secs(4), Duration::from_millis(300), |p, now| p.assert_liveliness(now, w));
    assert!(net.liveliness_of(1, w).is_empty());
    assert_eq!(net.lost_count(0, w), 0);
    net.run_asserting(Duration::from_secs(3), Duration::from_millis(300), |p, now| {
        p.assert_participant_liveliness(now)
    });
    assert_eq!(net.liveliness_of(1, w), [false]);
    assert_eq!(net.lost_count(0, w), 1);
    // A write asserts it again.
    let now = net.now;
    net.parts[0].write(now, w, change(3, 1)).expect("write");
    assert!(net.run_until(Duration::from_secs(1), |n| n.liveliness_of(1, w) == [false, true]));
    // Dropping the PMD traffic does not matter to it.
    net.set_drop(Drop::Pmd);
    net.run_asserting(Duration::from_secs(3), Duration::from_millis(300), |p, now| p.assert_liveliness(now, w));
    assert_eq!(net.liveliness_of(1, w), [false, true]);
}

#[test]
fn automatic_writers_stay_alive_through_pmds_and_die_with_silence() {
    let (mut net, w, _) = matched_pair(lease(LivelinessKind::Automatic, 1000));
    // No writes at all, and SPDP comes only every 3 s: the automatic PMDs keep it alive.
    net.run_for(Duration::from_secs(8));
    assert!(net.liveliness_of(1, w).is_empty(), "{:?}", net.liveliness_of(1, w));
    // Nothing from participant 0 for 2.5 s (well inside its 10 s participant lease): not alive.
    net.set_drop(Drop::AllFrom0);
    net.run_for(Duration::from_millis(2500));
    assert_eq!(net.liveliness_of(1, w), [false]);
    assert_eq!(net.parts[1].discovered_participants().count(), 1, "the participant lease still runs");
    assert_eq!(net.lost_count(0, w), 0, "automatic writers never lose liveliness locally");
    net.set_drop(Drop::Nothing);
    assert!(net.run_until(Duration::from_secs(2), |n| n.liveliness_of(1, w) == [false, true]));
}

#[test]
fn a_writer_that_is_not_alive_when_matched_is_reported() {
    let mut net = Net::new(2);
    let mut wq = EndpointQos::writer_default();
    wq.liveliness = lease(LivelinessKind::ManualByTopic, 500);
    let w = net.sim.parts[0].create_writer(net.sim.now, endpoint("T", wq));
    // A local reader matched with the writer sees it die too.
    let local = net.sim.parts[0].create_reader(net.sim.now, endpoint("T", EndpointQos::reader_default()));
    assert!(net.run_until(Duration::from_secs(2), |n| n.lost_count(0, w) == 1));
    assert!(net.events[0]
        .iter()
        .any(|(_, e)| matches!(e, Event::LivelinessChanged { reader, alive: false, .. } if *reader == local)));
    // A local reader created later learns that at match time; a remote one once the lease it
    // starts at discovery runs out without an assertion.
    let late = net.sim.parts[0].create_reader(net.sim.now, endpoint("T", EndpointQos::reader_default()));
    net.run_for(Duration::from_millis(100));
    assert!(net.events[0]
        .iter()
        .any(|(_, e)| matches!(e, Event::LivelinessChanged { reader, alive: false, .. } if *reader == late)));
    net.set_drop(Drop::Nothing);
    let _r = net.sim.parts[1].create_reader(net.sim.now, endpoint("T", EndpointQos::reader_default()));
    assert!(net.run_until(Duration::from_secs(5), |n| n.liveliness_of(1, w) == [false]));
}
