//! The deterministic in-memory network shared by the simulation tests (`sim*.rs`).
//!
//! Participants of the sans-IO core exchange datagrams through [`Net`]: per-link loss (independent or bursty),
//! duplication, delay with jitter (which also reorders), one-way or two-way blocks (partitions), crashes and
//! restarts, an optional hook that drops datagrams by content, and an optional link MTU below which large datagrams
//! are lost per IP fragment. Time is simulated; a seeded xorshift RNG
//! makes every run replay from its seed. No sockets, no clock.
#![allow(dead_code)] // each test file uses its own subset

use bytes::Bytes;
use starling_proto::core::{ChangeKind, EndpointConfig, Event, Participant, ParticipantConfig, WriteChange};
use starling_proto::qos::EndpointQos;
use starling_proto::wire::{Guid, GuidPrefix, KeyHash, Locator};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// xorshift64*: failures replay from the seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with `percent` % probability (draws nothing when `percent` is 0).
    pub fn chance(&mut self, percent: u64) -> bool {
        percent > 0 && self.next() % 100 < percent
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The seeds to run: `range`, or only `$SIM_SEED` when set (to replay a failure).
pub fn seeds(range: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    match std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) => vec![s],
        None => range.collect(),
    }
}

/// Independent faults on every link, in percent per datagram.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Lost.
    pub loss: u64,
    /// Delivered twice.
    pub dup: u64,
    /// Held back 1–20 ms, so that later datagrams overtake it.
    pub reorder: u64,
}

/// A perfect network.
pub const NONE: Faults = Faults { loss: 0, dup: 0, reorder: 0 };

/// Two-state bursty loss: in the good state a datagram is lost with `good_loss` %, in the bad state with
/// `bad_loss` %; before each datagram the state flips with `to_bad` % (good) or `to_good` % (bad).
#[derive(Clone, Copy, Debug)]
pub struct GilbertElliott {
    pub to_bad: u64,
    pub to_good: u64,
    pub good_loss: u64,
    pub bad_loss: u64,
}

/// Impairments of one directed link.
#[derive(Clone, Copy, Default)]
struct Link {
    loss: u64,
    blocked: bool,
    ge: Option<GilbertElliott>,
    ge_bad: bool,
}

struct InFlight {
    at: Instant,
    order: u64,
    from: usize,
    to: usize,
    data: Vec<u8>,
}

/// Decides, from the sender's index and the bytes, whether a datagram is dropped before the link faults apply.
pub type DropHook = Box<dyn FnMut(usize, &[u8]) -> bool>;

/// The simulated network and its participants.
pub struct Net {
    pub start: Instant,
    pub now: Instant,
    pub rng: Rng,
    pub parts: Vec<Participant>,
    configs: Vec<ParticipantConfig>,
    alive: Vec<bool>,
    addr: HashMap<Locator, usize>,
    links: Vec<Vec<Link>>,
    /// Duplication, in percent per datagram.
    pub dup: u64,
    /// Extra 1–20 ms hold (reordering), in percent per datagram.
    pub reorder: u64,
    /// Delay of every datagram: base and jitter (uniform in `0..=jitter`), in milliseconds.
    pub delay_ms: (u64, u64),
    /// The longest simulated step when no timer or delivery is due sooner.
    pub max_step: Duration,
    /// When set, links carry frames of this MTU: a datagram larger than one frame crosses as IPv4 fragments, the
    /// link's loss applies to each of them, and the datagram is lost with any one (as on a real lossy link).
    pub mtu: Option<usize>,
    drop_hook: Option<DropHook>,
    in_flight: Vec<InFlight>,
    order: u64,
    /// Every event each participant raised, with the simulated time it was polled.
    pub events: Vec<Vec<(Instant, Event)>>,
    /// When participant `to` received a datagram from `from`: `rx[to][from]`, as (time, global order).
    pub rx: Vec<Vec<Vec<(Instant, u64)>>>,
    /// Global order of each entry of `events` (same shape), so same-instant events and receptions compare.
    pub event_order: Vec<Vec<u64>>,
    tick: u64,
    /// Datagrams each participant sent to the user-data multicast group.
    pub group_sends: Vec<u64>,
}

/// The SPDP multicast group every participant sends to and listens on.
pub fn spdp_group() -> Locator {
    Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400)
}

/// A user-data multicast group (for tests that configure one).
pub fn user_group() -> Locator {
    Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7401)
}

/// The GUID prefix of participant `i` in its `generation` (a restart is a new generation).
pub fn prefix(i: usize, generation: u8) -> GuidPrefix {
    let mut p = [0u8; 12];
    p[0] = 0x01;
    p[10] = generation;
    p[11] = i as u8 + 1;
    GuidPrefix(p)
}

impl Net {
    /// `n` participants on a perfect network; `tweak` adjusts each one's configuration.
    pub fn new(n: usize, seed: u64, tweak: impl Fn(usize, &mut ParticipantConfig)) -> Net {
        let start = Instant::now();
        let mut addr = HashMap::new();
        let mut configs = Vec::new();
        for i in 0..n {
            let mut c = ParticipantConfig::new(0, i as u32, prefix(i, 0));
            let ip = Ipv4Addr::new(10, 0, 0, i as u8 + 1);
            c.metatraffic_unicast = vec![Locator::udpv4(ip, 7410)];
            c.default_unicast = vec![Locator::udpv4(ip, 7411)];
            c.metatraffic_multicast = vec![spdp_group()];
            c.spdp_destinations = vec![spdp_group()];
            addr.insert(c.metatraffic_unicast[0], i);
            addr.insert(c.default_unicast[0], i);
            tweak(i, &mut c);
            configs.push(c);
        }
        let parts = configs.iter().map(|c| Participant::new(c.clone(), start)).collect();
        Net {
            start,
            now: start,
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1)),
            parts,
            configs,
            alive: vec![true; n],
            addr,
            links: vec![vec![Link::default(); n]; n],
            dup: 0,
            reorder: 0,
            delay_ms: (0, 0),
            max_step: Duration::from_millis(50),
            mtu: None,
            drop_hook: None,
            in_flight: Vec::new(),
            order: 0,
            events: (0..n).map(|_| Vec::new()).collect(),
            rx: vec![vec![Vec::new(); n]; n],
            event_order: vec![Vec::new(); n],
            tick: 0,
            group_sends: vec![0; n],
        }
    }

    /// `n` participants with the same independent `faults` on every link.
    pub fn faulty(n: usize, seed: u64, faults: Faults) -> Net {
        Net::faulty_with(n, seed, faults, |_, _| {})
    }

    /// Like [`Net::faulty`], with `tweak` adjusting each participant's configuration.
    pub fn faulty_with(n: usize, seed: u64, faults: Faults, tweak: impl Fn(usize, &mut ParticipantConfig)) -> Net {
        let mut net = Net::new(n, seed, tweak);
        net.set_loss(faults.loss);
        net.dup = faults.dup;
        net.reorder = faults.reorder;
        net
    }

    /// Sets the same loss on every link.
    pub fn set_loss(&mut self, percent: u64) {
        for row in &mut self.links {
            for l in row.iter_mut() {
                l.loss = percent;
            }
        }
    }

    /// Bursty loss on every link.
    pub fn set_ge(&mut self, ge: GilbertElliott) {
        for row in &mut self.links {
            for l in row.iter_mut() {
                l.ge = Some(ge);
            }
        }
    }

    /// Sets the loss of the directed link `from -> to`.
    pub fn set_link_loss(&mut self, from: usize, to: usize, percent: u64) {
        self.links[from][to].loss = percent;
    }

    /// Blocks (or unblocks) the directed link `from -> to`.
    pub fn block(&mut self, from: usize, to: usize, blocked: bool) {
        self.links[from][to].blocked = blocked;
    }

    /// Drops every datagram for which `hook(sender, bytes)` is true (`None`: drop nothing by content).
    pub fn set_drop_hook(&mut self, hook: Option<DropHook>) {
        self.drop_hook = hook;
    }

    /// The events participant `idx` raised, in order.
    pub fn events_of(&self, idx: usize) -> impl Iterator<Item = &Event> {
        self.events[idx].iter().map(|(_, e)| e)
    }

    /// The values (see [`change`]) of every alive sample participant `idx` received, in delivery order.
    pub fn values(&self, idx: usize) -> Vec<u32> {
        self.events_of(idx)
            .filter_map(|e| match e {
                Event::Sample { sample, .. } if sample.kind == ChangeKind::Alive => {
                    let p = sample.payload.as_ref()?;
                    Some(u32::from_le_bytes([p[4], p[5], p[6], p[7]]))
                }
                _ => None,
            })
            .collect()
    }

    /// How many PublicationMatched (matched) events participant `idx` raised.
    pub fn publications_matched(&self, idx: usize) -> usize {
        self.events_of(idx).filter(|e| matches!(e, Event::PublicationMatched { matched: true, .. })).count()
    }

    /// Whether participant `idx` raised a SubscriptionMatched (matched) event.
    pub fn subscription_matched(&self, idx: usize) -> bool {
        self.events_of(idx).any(|e| matches!(e, Event::SubscriptionMatched { matched: true, .. }))
    }

    /// (alive) of every LivelinessChanged participant `idx` saw for `writer`.
    pub fn liveliness_of(&self, idx: usize, writer: Guid) -> Vec<bool> {
        self.events_of(idx)
            .filter_map(|e| match e {
                Event::LivelinessChanged { writer: w, alive, .. } if *w == writer => Some(*alive),
                _ => None,
            })
            .collect()
    }

    /// How many LivelinessLost events participant `idx` raised for its `writer`.
    pub fn lost_count(&self, idx: usize, writer: Guid) -> usize {
        self.events_of(idx).filter(|e| matches!(e, Event::LivelinessLost { writer: w } if *w == writer)).count()
    }

    /// Whether a datagram on `from -> to` is lost, advancing the link's bursty-loss state.
    fn lost(&mut self, from: usize, to: usize) -> bool {
        let mut l = self.links[from][to];
        if l.blocked {
            return true;
        }
        let mut loss = l.loss;
        if let Some(ge) = l.ge {
            let flip = if l.ge_bad { ge.to_good } else { ge.to_bad };
            if self.rng.chance(flip) {
                l.ge_bad = !l.ge_bad;
            }
            loss = if l.ge_bad { ge.bad_loss } else { ge.good_loss };
            self.links[from][to] = l;
        }
        self.rng.chance(loss)
    }

    fn hold(&mut self) -> Duration {
        let (d, j) = self.delay_ms;
        let mut ms = d + if j > 0 { self.rng.below(j + 1) } else { 0 };
        if self.rng.chance(self.reorder) {
            ms += 1 + self.rng.below(20);
        }
        Duration::from_millis(ms)
    }

    /// Collects what every live participant sends (applying faults) and the events it raised.
    pub fn collect(&mut self) {
        for i in 0..self.parts.len() {
            while let Some(t) = self.parts[i].poll_transmit() {
                if !self.alive[i] {
                    continue;
                }
                if let Some(hook) = self.drop_hook.as_mut() {
                    if hook(i, &t.payload) {
                        continue;
                    }
                }
                for d in &t.destinations {
                    if *d == user_group() {
                        self.group_sends[i] += 1;
                    }
                    let targets: Vec<usize> = if *d == spdp_group() || *d == user_group() {
                        (0..self.parts.len()).collect()
                    } else {
                        self.addr.get(d).copied().into_iter().collect()
                    };
                    // IPv4 fragments of the UDP datagram (8-byte UDP header, 20-byte IP header per fragment).
                    let frames = self.mtu.map_or(1, |mtu| (t.payload.len() + 8).div_ceil(mtu - 20));
                    for to in targets {
                        if to != i && (0..frames).any(|_| self.lost(i, to)) {
                            continue;
                        }
                        let copies = if self.rng.chance(self.dup) { 2 } else { 1 };
                        for _ in 0..copies {
                            let at = self.now + self.hold();
                            self.order += 1;
                            self.in_flight.push(InFlight {
                                at,
                                order: self.order,
                                from: i,
                                to,
                                data: t.payload.to_vec(),
                            });
                        }
                    }
                }
            }
            self.drain_events(i);
        }
    }

    fn drain_events(&mut self, i: usize) {
        while let Some(e) = self.parts[i].poll_event() {
            self.tick += 1;
            self.events[i].push((self.now, e));
            self.event_order[i].push(self.tick);
        }
    }

    /// Delivers everything due, then advances time to the next timer or delivery (at most `max_step`).
    pub fn step(&mut self, max_step: Duration) {
        for _ in 0..10_000 {
            self.collect();
            let now = self.now;
            let mut due: Vec<InFlight> = Vec::new();
            let mut later = Vec::with_capacity(self.in_flight.len());
            for f in self.in_flight.drain(..) {
                if f.at <= now {
                    due.push(f);
                } else {
                    later.push(f);
                }
            }
            self.in_flight = later;
            if due.is_empty() {
                break;
            }
            due.sort_by_key(|f| (f.at, f.order));
            for f in due {
                if self.alive[f.to] {
                    self.drain_events(f.to);
                    self.tick += 1;
                    self.rx[f.to][f.from].push((now, self.tick));
                    self.parts[f.to].handle_datagram(now, &f.data);
                    self.drain_events(f.to);
                }
            }
        }
        let timers = self.parts.iter().zip(&self.alive).filter(|(_, a)| **a).filter_map(|(p, _)| p.poll_timeout());
        let deliveries = self.in_flight.iter().map(|f| f.at);
        let next = timers.chain(deliveries).min().unwrap_or(self.now + max_step);
        self.now = next.max(self.now).min(self.now + max_step);
        for i in 0..self.parts.len() {
            if self.alive[i] {
                self.parts[i].handle_timeout(self.now);
                self.drain_events(i);
            }
        }
    }

    /// Runs until `done` holds or `limit` of simulated time has passed; returns whether `done` holds.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step(self.max_step);
        }
        done(self)
    }

    /// Lets the network run for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Participant `i` stops sending and receiving at once (no goodbye).
    pub fn crash(&mut self, i: usize) {
        self.alive[i] = false;
        self.in_flight.retain(|f| f.from != i && f.to != i);
    }

    /// Participant `i` comes back as a new participant (new GUID prefix), same addresses.
    pub fn restart(&mut self, i: usize, generation: u8) {
        let mut c = self.configs[i].clone();
        c.guid_prefix = prefix(i, generation);
        self.parts[i] = Participant::new(c.clone(), self.now);
        self.configs[i] = c;
        self.alive[i] = true;
    }

    /// Writes `c` with writer `w` of participant `p`, now.
    pub fn write(&mut self, p: usize, w: Guid, c: WriteChange) {
        let now = self.now;
        self.parts[p].write(now, w, c).expect("write accepted");
    }
}

/// An endpoint of the keyed type `Blob` on `topic`.
pub fn endpoint(topic: &str, qos: EndpointQos) -> EndpointConfig {
    EndpointConfig {
        topic_name: topic.into(),
        type_name: "Blob".into(),
        keyed: true,
        qos,
        type_information: None,
        content_filter: None,
        group: None,
    }
}

/// An alive sample carrying `i` (little-endian after a CDR_LE header) on instance `instance`.
pub fn change(i: u32, instance: u8) -> WriteChange {
    let mut payload = vec![0x00, 0x01, 0x00, 0x00];
    payload.extend_from_slice(&i.to_le_bytes());
    let mut c = alive(Bytes::from(payload));
    c.key_hash.0[0] = instance;
    c
}

/// An alive sample on instance 0 with `payload` (CDR encapsulation header included).
pub fn alive(payload: Bytes) -> WriteChange {
    WriteChange {
        kind: ChangeKind::Alive,
        key_hash: KeyHash([0; 16]),
        payload,
        source_timestamp: None,
        related_sample_identity: None,
        original_writer: None,
    }
}
