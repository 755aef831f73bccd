//! Deterministic simulations of hostile networks, using only the public core
//! API: partitions that heal, a participant that crashes and comes back with a
//! new GUID, bursty (Gilbert-Elliott) loss, delay and jitter, multicast
//! fan-out with independent loss per receiver, KEEP_LAST delivery of the
//! newest sample per instance, and participant lease expiry.
//!
//! Every scenario runs over many seeds. A failure names its seed; set
//! `SIM_SEED=<n>` to replay only that seed.

use starling_proto::core::{ChangeKind, Event};
use starling_proto::qos::{EndpointQos, History, Reliability};
use starling_proto::wire::Guid;
use std::time::{Duration, Instant};

mod common;
use common::{change, endpoint, seeds, user_group, GilbertElliott, Net};

fn writer_qos(history: History) -> EndpointQos {
    let mut q = EndpointQos::writer_default();
    q.reliability = Reliability::reliable();
    q.history = history;
    q
}

fn reader_qos(history: History) -> EndpointQos {
    let mut q = EndpointQos::reader_default();
    q.reliability = Reliability::reliable();
    q.history = history;
    q
}

/// (instance, value) of every data sample participant `idx` received, optionally only for reader `reader`.
fn received_by(net: &Net, idx: usize, reader: Option<Guid>) -> Vec<(u8, u32)> {
    net.events[idx]
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Sample { reader: r, sample }
                if sample.kind == ChangeKind::Alive && reader.is_none_or(|x| x == *r) =>
            {
                let p = sample.payload.as_ref()?;
                Some((sample.key_hash?.0[0], u32::from_le_bytes([p[4], p[5], p[6], p[7]])))
            }
            _ => None,
        })
        .collect()
}

/// Writer in participant 0, reader in participant 1, both matched (writer side and reader side).
fn pair(net: &mut Net, wh: History, rh: History) -> Guid {
    let now = net.now;
    let w = net.parts[0].create_writer(now, endpoint("T", writer_qos(wh)));
    net.parts[1].create_reader(now, endpoint("T", reader_qos(rh)));
    w
}

fn strictly_increasing(v: &[u32]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// A one-way or two-way partition shorter than the lease heals: the reader converges to every sample,
/// exactly once and in order, also for samples written while partitioned.
#[test]
fn partitions_shorter_than_the_lease_heal() {
    for seed in seeds(1..=450) {
        let mut net = Net::new(2, seed, |_, c| c.lease_duration = Duration::from_secs(30));
        let background = net.rng.below(15);
        net.set_loss(background);
        let w = pair(&mut net, History::KeepAll, History::KeepAll);
        assert!(
            net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) == 1 && n.subscription_matched(1)),
            "seed {seed}: no match"
        );
        let mode = net.rng.below(3); // 0: data direction, 1: ack direction, 2: both
        let part_ms = 500 + net.rng.below(8000);
        for i in 0..10 {
            net.write(0, w, change(i, (i % 3) as u8));
            net.step(Duration::from_millis(5));
        }
        if mode != 1 {
            net.block(0, 1, true);
        }
        if mode != 0 {
            net.block(1, 0, true);
        }
        let healed_at = net.now + Duration::from_millis(part_ms);
        for i in 10..30 {
            net.write(0, w, change(i, (i % 3) as u8));
            net.run_for(Duration::from_millis(part_ms / 20));
        }
        net.run_until(Duration::from_secs(30), |n| n.now >= healed_at);
        net.block(0, 1, false);
        net.block(1, 0, false);
        let ok = net.run_until(Duration::from_secs(60), |n| n.values(1).len() >= 30 && n.parts[0].is_acked_by_all(w));
        let got = net.values(1);
        assert!(
            ok && got == (0..30).collect::<Vec<_>>(),
            "seed {seed} (partition mode {mode}, {part_ms} ms, background loss {background}%): got {got:?}, acked {}",
            net.parts[0].is_acked_by_all(w)
        );
    }
}

/// A two-way partition longer than the lease: both sides drop each other and unmatch, then rediscover and
/// rematch after healing; samples written after the rematch arrive, nothing is delivered twice or out of order.
#[test]
fn partition_longer_than_the_lease_rediscovers() {
    for seed in seeds(1..=60) {
        let mut net = Net::new(2, seed, |_, c| {
            c.lease_duration = Duration::from_secs(3);
            c.spdp_period = Duration::from_secs(1);
        });
        let loss = net.rng.below(10);
        net.set_loss(loss);
        let w = pair(&mut net, History::KeepAll, History::KeepAll);
        assert!(
            net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) == 1 && n.subscription_matched(1)),
            "seed {seed}"
        );
        for i in 0..10 {
            net.write(0, w, change(i, 0));
        }
        assert!(net.run_until(Duration::from_secs(30), |n| n.values(1).len() >= 10), "seed {seed}: first batch");
        net.block(0, 1, true);
        net.block(1, 0, true);
        let lost = |n: &Net, i: usize| n.events[i].iter().any(|(_, e)| matches!(e, Event::ParticipantLost(_)));
        assert!(
            net.run_until(Duration::from_secs(10), |n| lost(n, 0) && lost(n, 1)),
            "seed {seed}: lease never expired"
        );
        for i in 10..20 {
            net.write(0, w, change(i, 0));
        }
        let ms = net.rng.below(3000);
        net.run_for(Duration::from_millis(ms));
        net.block(0, 1, false);
        net.block(1, 0, false);
        assert!(net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) == 2), "seed {seed}: no rematch");
        net.run_for(Duration::from_millis(500));
        for i in 100..110 {
            net.write(0, w, change(i, 0));
        }
        let ok = net.run_until(Duration::from_secs(30), |n| n.values(1).ends_with(&[109]));
        let got = net.values(1);
        assert!(ok, "seed {seed}: samples written after the rematch did not all arrive: {got:?}");
        assert!(strictly_increasing(&got), "seed {seed}: duplicate or out-of-order delivery: {got:?}");
        assert!(got.starts_with(&(0..10).collect::<Vec<_>>()), "seed {seed}: {got:?}");
        assert!(got.ends_with(&(100..110).collect::<Vec<_>>()), "seed {seed}: {got:?}");
    }
}

/// The reader's participant crashes (no goodbye) and restarts with a new GUID prefix: the writer drops the
/// dead reader when the lease expires (and not before), matches the new one, and the new reader gets every
/// sample written after it matched, in order.
#[test]
fn crash_and_restart_with_a_new_guid() {
    for seed in seeds(1..=100) {
        let lease = Duration::from_secs(4);
        let mut net = Net::new(2, seed, |_, c| {
            c.lease_duration = lease;
            c.spdp_period = Duration::from_secs(1);
        });
        let loss = net.rng.below(20);
        net.set_loss(loss);
        let w = pair(&mut net, History::KeepAll, History::KeepAll);
        assert!(
            net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) == 1 && n.subscription_matched(1)),
            "seed {seed}"
        );
        for i in 0..10 {
            net.write(0, w, change(i, 0));
        }
        assert!(net.run_until(Duration::from_secs(30), |n| n.values(1).len() >= 10), "seed {seed}");
        let crashed_at = net.now;
        let old = net.parts[1].guid_prefix();
        net.crash(1);
        for i in 10..15 {
            net.write(0, w, change(i, 0));
        }
        let ms = 200 + net.rng.below(2000);
        net.run_for(Duration::from_millis(ms));
        net.events[1].clear();
        net.restart(1, 1);
        let now = net.now;
        net.parts[1].create_reader(now, endpoint("T", reader_qos(History::KeepAll)));
        assert!(
            net.run_until(Duration::from_secs(30), |n| n.publications_matched(0) >= 2),
            "seed {seed}: new reader not matched"
        );
        let lost_at = |n: &Net| {
            n.events[0].iter().find_map(|(t, e)| matches!(e, Event::ParticipantLost(p) if *p == old).then_some(*t))
        };
        assert!(
            net.run_until(Duration::from_secs(30), |n| lost_at(n).is_some()),
            "seed {seed}: old participant never lost"
        );
        let last_heard =
            net.rx[0][1].iter().map(|r| r.0).filter(|t| *t <= crashed_at).max().expect("heard before crash");
        let t = lost_at(&net).expect("lost");
        assert!(
            t - last_heard >= lease,
            "seed {seed}: lease expired early: {:?} after the last datagram",
            t - last_heard
        );
        assert!(
            t - last_heard <= lease + Duration::from_millis(100),
            "seed {seed}: lease expired late: {:?}",
            t - last_heard
        );
        net.run_for(Duration::from_millis(300));
        for i in 100..120 {
            net.write(0, w, change(i, (i % 2) as u8));
            net.step(Duration::from_millis(2));
        }
        let ok =
            net.run_until(Duration::from_secs(60), |n| n.parts[0].is_acked_by_all(w) && n.values(1).ends_with(&[119]));
        let got = net.values(1);
        assert!(ok, "seed {seed}: acked {} got {got:?}", net.parts[0].is_acked_by_all(w));
        assert!(strictly_increasing(&got) && got.ends_with(&(100..120).collect::<Vec<_>>()), "seed {seed}: {got:?}");
    }
}

/// Bursty loss (Gilbert-Elliott: 5% -> bad, 30% -> good, 90% loss when bad, 1% when good), both ways:
/// reliable KEEP_ALL delivers everything exactly once, in order.
#[test]
fn bursty_gilbert_elliott_loss() {
    for seed in seeds(1..=450) {
        let mut net = Net::new(2, seed, |_, _| {});
        net.set_ge(GilbertElliott { to_bad: 5, to_good: 30, good_loss: 1, bad_loss: 90 });
        let w = pair(&mut net, History::KeepAll, History::KeepAll);
        assert!(
            net.run_until(Duration::from_secs(60), |n| n.publications_matched(0) == 1 && n.subscription_matched(1)),
            "seed {seed}"
        );
        for i in 0..40 {
            net.write(0, w, change(i, (i % 4) as u8));
            net.step(Duration::from_millis(2));
        }
        let ok = net.run_until(Duration::from_secs(60), |n| n.values(1).len() >= 40 && n.parts[0].is_acked_by_all(w));
        let got = net.values(1);
        assert!(ok && got == (0..40).collect::<Vec<_>>(), "seed {seed}: {got:?}");
    }
}

/// Delay 10-60 ms, jitter up to 80 ms (so datagrams overtake each other), 5% duplicates, 10% loss:
/// reliable KEEP_ALL delivers everything exactly once, in order.
#[test]
fn delay_jitter_duplication() {
    for seed in seeds(1..=450) {
        let mut net = Net::new(2, seed, |_, _| {});
        let base = 10 + net.rng.below(50);
        let jitter = net.rng.below(80);
        net.delay_ms = (base, jitter);
        net.dup = 5;
        net.reorder = 10;
        net.set_loss(10);
        let w = pair(&mut net, History::KeepAll, History::KeepAll);
        assert!(
            net.run_until(Duration::from_secs(60), |n| n.publications_matched(0) == 1 && n.subscription_matched(1)),
            "seed {seed}"
        );
        for i in 0..40 {
            net.write(0, w, change(i, (i % 4) as u8));
            net.step(Duration::from_millis(3));
        }
        let ok = net.run_until(Duration::from_secs(60), |n| n.values(1).len() >= 40 && n.parts[0].is_acked_by_all(w));
        let got = net.values(1);
        assert!(ok && got == (0..40).collect::<Vec<_>>(), "seed {seed} (delay {:?}): {got:?}", net.delay_ms);
    }
}

/// One writer sending user data by multicast to three readers whose links lose 5%, 20% and 40% independently:
/// every reader gets every sample exactly once, in order, and the writer sees all of them acknowledge.
#[test]
fn multicast_fan_out_with_independent_loss() {
    for seed in seeds(1..=150) {
        let mut net = Net::new(4, seed, |_, c| {
            c.default_multicast = vec![user_group()];
            c.use_multicast_for_data = true;
        });
        for (to, loss) in [(1, 5), (2, 20), (3, 40)] {
            net.set_link_loss(0, to, loss);
            net.set_link_loss(to, 0, loss / 2);
        }
        let now = net.now;
        let w = net.parts[0].create_writer(now, endpoint("T", writer_qos(History::KeepAll)));
        for r in 1..4 {
            net.parts[r].create_reader(now, endpoint("T", reader_qos(History::KeepAll)));
        }
        assert!(
            net.run_until(Duration::from_secs(60), |n| n.publications_matched(0) == 3
                && (1..4).all(|r| n.subscription_matched(r))),
            "seed {seed}: matching"
        );
        for i in 0..30 {
            net.write(0, w, change(i, (i % 2) as u8));
            net.step(Duration::from_millis(2));
        }
        let ok = net.run_until(Duration::from_secs(60), |n| {
            (1..4).all(|r| n.values(r).len() >= 30) && n.parts[0].is_acked_by_all(w)
        });
        for r in 1..4 {
            let got = net.values(r);
            assert!(ok && got == (0..30).collect::<Vec<_>>(), "seed {seed}: reader {r} got {got:?}");
        }
    }
}

/// A writer that uses multicast for data sends each new sample once to the readers' shared group, and with a
/// nack response delay a sample several readers missed is repaired once, to the group, not once per reader.
/// Every reader still gets every sample exactly once and in order.
#[test]
fn multicast_repairs_go_once_to_the_group() {
    let (mut multicast_repairs, mut shared) = (0, 0);
    for seed in seeds(1..=60) {
        let mut net = Net::new(4, seed, |_, c| {
            c.default_multicast = vec![user_group()];
            c.use_multicast_for_data = true;
            c.nack_response_delay = Duration::from_millis(30);
        });
        for to in 1..4 {
            net.set_link_loss(0, to, 25);
        }
        let now = net.now;
        let w = net.parts[0].create_writer(now, endpoint("T", writer_qos(History::KeepAll)));
        for r in 1..4 {
            net.parts[r].create_reader(now, endpoint("T", reader_qos(History::KeepAll)));
        }
        assert!(
            net.run_until(Duration::from_secs(60), |n| n.publications_matched(0) == 3
                && (1..4).all(|r| n.subscription_matched(r))),
            "seed {seed}: matching"
        );
        let before = net.group_sends[0];
        for i in 0..40 {
            net.write(0, w, change(i, (i % 2) as u8));
            net.step(Duration::from_millis(2));
        }
        let ok = net.run_until(Duration::from_secs(60), |n| {
            (1..4).all(|r| n.values(r).len() >= 40) && n.parts[0].is_acked_by_all(w)
        });
        for r in 1..4 {
            let got = net.values(r);
            assert!(ok && got == (0..40).collect::<Vec<_>>(), "seed {seed}: reader {r} got {got:?}");
        }
        // New data alone is 40 datagrams or fewer to the group (a datagram may carry several samples).
        assert!(net.group_sends[0] > before, "seed {seed}: nothing went to the group");
        let stats = net.parts[0].stats();
        multicast_repairs += stats.multicast_repairs;
        shared += stats.shared_repairs;
    }
    // Shared repairs also count the built-in (SEDP) writers', which reach peers by unicast.
    assert!(multicast_repairs > 0 && multicast_repairs <= shared, "{multicast_repairs} of {shared} to the group");
}

/// KEEP_LAST(1) writer and reader under 30% loss: samples may be skipped, but every instance ends with its
/// newest value, and per instance nothing is duplicated or reordered.
#[test]
fn keep_last_readers_get_the_newest_per_instance() {
    for seed in seeds(1..=450) {
        let mut net = Net::new(2, seed, |_, _| {});
        net.set_loss(30);
        net.dup = 5;
        let depth = 1 + net.rng.below(3) as i32;
        let w = pair(&mut net, History::KeepLast(depth), History::KeepLast(depth));
        assert!(
            net.run_until(Duration::from_secs(60), |n| n.publications_matched(0) == 1 && n.subscription_matched(1)),
            "seed {seed}"
        );
        let mut last = [0u32; 4];
        for i in 0..60 {
            let inst = net.rng.below(4) as u8;
            net.write(0, w, change(i, inst));
            last[inst as usize] = i;
            if net.rng.chance(30) {
                net.step(Duration::from_millis(1));
            }
        }
        let newest = |n: &Net| {
            let got = received_by(n, 1, None);
            (0..4u8).all(|k| {
                let written = (0..60).any(|i| i == last[k as usize]);
                !written || got.iter().rev().find(|(inst, _)| *inst == k).map(|(_, v)| *v) == Some(last[k as usize])
            })
        };
        let ok = net.run_until(Duration::from_secs(60), |n| newest(n) && n.parts[0].is_acked_by_all(w));
        let got = received_by(&net, 1, None);
        assert!(ok, "seed {seed} (depth {depth}): newest per instance {last:?} not reached: {got:?}");
        for k in 0..4u8 {
            let per: Vec<u32> = got.iter().filter(|(i, _)| *i == k).map(|(_, v)| *v).collect();
            assert!(strictly_increasing(&per), "seed {seed}: instance {k}: {per:?}");
        }
        assert!(strictly_increasing(&got.iter().map(|(_, v)| *v).collect::<Vec<_>>()), "seed {seed}: {got:?}");
    }
}

/// Participant lease expiry fires when, and only when, nothing was heard from the peer for longer than its
/// lease: random background loss on the peer's link, plus a silence of random length (sometimes shorter,
/// sometimes longer than the lease). Every ParticipantLost must follow a silence of at least the lease, and
/// every silence longer than the lease (plus one timer step) must produce one.
#[test]
fn lease_expiry_when_and_only_when_due() {
    let lease = Duration::from_secs(3);
    for seed in seeds(1..=450) {
        let mut net = Net::new(2, seed, |_, c| {
            c.lease_duration = lease;
            c.spdp_period = Duration::from_millis(700);
        });
        let loss = net.rng.below(40);
        net.set_link_loss(1, 0, loss);
        assert!(
            net.run_until(Duration::from_secs(10), |n| n.parts[0].discovered_participants().count() == 1),
            "seed {seed}"
        );
        let ms = net.rng.below(3000);
        net.run_for(Duration::from_millis(ms));
        let silence = Duration::from_millis(500 + net.rng.below(5000));
        net.block(1, 0, true);
        net.run_for(silence);
        net.block(1, 0, false);
        net.run_for(Duration::from_secs(6));
        let rx = net.rx[0][1].clone();
        let lost: Vec<(Instant, u64)> = net.events[0]
            .iter()
            .zip(&net.event_order[0])
            .filter_map(|((t, e), o)| matches!(e, Event::ParticipantLost(_)).then_some((*t, *o)))
            .collect();
        for (t, o) in &lost {
            let last = rx.iter().filter(|r| r.1 < *o).map(|r| r.0).max().expect("heard before losing");
            assert!(*t - last >= lease, "seed {seed}: lease fired after only {:?} of silence", *t - last);
        }
        // Every silence longer than the lease (+100 ms of timer slack) contains an expiry.
        let mut heard: Vec<Instant> = rx.iter().map(|r| r.0).collect();
        heard.push(net.now);
        for w in heard.windows(2) {
            if w[1] - w[0] > lease + Duration::from_millis(100) {
                assert!(
                    lost.iter().any(|(t, _)| *t >= w[0] + lease && *t <= w[0] + lease + Duration::from_millis(100)),
                    "seed {seed}: silence of {:?} from {:.3}s without a lease expiry (expiries at {:?})",
                    w[1] - w[0],
                    (w[0] - net.start).as_secs_f64(),
                    lost.iter().map(|(t, _)| (*t - net.start).as_secs_f64()).collect::<Vec<_>>()
                );
            }
        }
    }
}
