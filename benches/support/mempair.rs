//! Two sans-IO participants wired back to back in memory, for benchmarks and allocation tests.
//!
//! Participant `a` owns a writer, `b` a matching reader. Every datagram one side sends goes to the other
//! (once, whatever its destination list says); sent datagrams are handed back with `recycle_transmit`, as the
//! runtime does, so that their buffers and destination lists are reused, and delivered payloads go back to
//! `b`'s payload pool, as the DDS reader gives them back. Time only moves when [`Pair::advance`]
//! is called.

#![allow(dead_code)]

use bytes::Bytes;
use starling_proto::core::{ChangeKind, EndpointConfig, Event, Participant, ParticipantConfig, WriteChange};
use starling_proto::qos::{EndpointQos, History, Reliability};
use starling_proto::wire::{Guid, GuidPrefix, KeyHash, Locator, Time};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Writer side `a`, reader side `b`.
pub struct Pair {
    /// Simulated time.
    pub now: Instant,
    /// The writing participant.
    pub a: Participant,
    /// The reading participant.
    pub b: Participant,
    /// The writer on `a`.
    pub writer: Guid,
    /// The reader on `b`.
    pub reader: Guid,
    /// Samples delivered to `b`'s reader so far.
    pub delivered: u64,
    /// Bytes of delivered payloads so far.
    pub delivered_bytes: u64,
    /// Datagrams moved between the two so far.
    pub datagrams: u64,
    /// The writer matched the reader.
    pub writer_matched: bool,
    /// The reader matched the writer.
    pub reader_matched: bool,
}

fn participant(i: u8, now: Instant) -> Participant {
    let mut prefix = [0u8; 12];
    prefix[0] = 0x01;
    prefix[11] = i;
    let mut c = ParticipantConfig::new(0, u32::from(i), GuidPrefix(prefix));
    let ip = Ipv4Addr::new(10, 0, 0, i);
    c.metatraffic_unicast = vec![Locator::udpv4(ip, 7410)];
    c.default_unicast = vec![Locator::udpv4(ip, 7411)];
    c.metatraffic_multicast = vec![Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400)];
    c.spdp_destinations = vec![Locator::udpv4(Ipv4Addr::new(239, 255, 0, 1), 7400)];
    Participant::new(c, now)
}

/// Endpoint QoS for the pair: reliable or best-effort, KEEP_ALL or KEEP_LAST(1).
pub fn endpoint_qos(reliable: bool, keep_all: bool, reader: bool) -> EndpointQos {
    let mut q = if reader { EndpointQos::reader_default() } else { EndpointQos::writer_default() };
    q.reliability = if reliable { Reliability::reliable() } else { Reliability::best_effort() };
    q.history = if keep_all { History::KeepAll } else { History::KeepLast(1) };
    q
}

impl Pair {
    /// Creates both participants and runs discovery until writer and reader matched on both sides.
    pub fn new(reliable: bool, keep_all: bool) -> Pair {
        let now = Instant::now();
        let mut a = participant(1, now);
        let mut b = participant(2, now);
        let ep = |reader: bool| EndpointConfig {
            topic_name: "Bench".into(),
            type_name: "BenchType".into(),
            keyed: true,
            qos: endpoint_qos(reliable, keep_all, reader),
            type_information: None,
            content_filter: None,
            group: None,
        };
        let writer = a.create_writer(now, ep(false));
        let reader = b.create_reader(now, ep(true));
        let mut pair = Pair {
            now,
            a,
            b,
            writer,
            reader,
            delivered: 0,
            delivered_bytes: 0,
            datagrams: 0,
            writer_matched: false,
            reader_matched: false,
        };
        for _ in 0..2000 {
            pair.shuttle();
            if pair.writer_matched && pair.reader_matched {
                // Let the last discovery messages settle.
                pair.advance(Duration::from_millis(200));
                return pair;
            }
            pair.advance(Duration::from_millis(20));
        }
        panic!("the in-memory pair did not match");
    }

    /// Moves datagrams both ways until neither side has anything to send; counts delivered samples.
    pub fn shuttle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                self.b.handle_datagram(self.now, &t.payload);
                self.a.recycle_transmit(t);
                self.datagrams += 1;
                moved = true;
            }
            while let Some(e) = self.a.poll_event() {
                if let Event::PublicationMatched { matched, .. } = e {
                    self.writer_matched = matched;
                }
            }
            while let Some(t) = self.b.poll_transmit() {
                self.a.handle_datagram(self.now, &t.payload);
                self.b.recycle_transmit(t);
                self.datagrams += 1;
                moved = true;
            }
            while let Some(e) = self.b.poll_event() {
                match e {
                    Event::Sample { sample, .. } if sample.kind == ChangeKind::Alive => {
                        self.delivered += 1;
                        self.delivered_bytes += sample.payload.as_ref().map_or(0, |p| p.len() as u64);
                        // Done with it, as the DDS reader is once it decoded it: the buffer is reused.
                        if let Some(p) = sample.payload {
                            self.b.payload_pool().give(p);
                        }
                    }
                    Event::SubscriptionMatched { matched, .. } => self.reader_matched = matched,
                    _ => {}
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Advances time by `dt`, runs both participants' timers and shuttles the result.
    pub fn advance(&mut self, dt: Duration) {
        self.now += dt;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.shuttle();
    }

    /// Writes one change and shuttles until it (and everything it caused) is delivered.
    pub fn write(&mut self, payload: Bytes, key: u8) {
        let change = make_change(payload, key);
        let now = self.now;
        if self.a.write(now, self.writer, change).is_err() {
            panic!("write refused");
        }
        self.shuttle();
    }

    /// Runs heartbeat/ACKNACK rounds until the writer's history is acknowledged.
    pub fn settle(&mut self) {
        for _ in 0..50 {
            if self.a.is_acked_by_all(self.writer) {
                return;
            }
            self.advance(Duration::from_millis(100));
        }
    }
}

/// An Alive change with the given encapsulated payload and a key hash whose first byte is `key`.
pub fn make_change(payload: Bytes, key: u8) -> WriteChange {
    let mut k = [0u8; 16];
    k[0] = key;
    WriteChange {
        kind: ChangeKind::Alive,
        key_hash: KeyHash(k),
        payload,
        source_timestamp: Some(Time::from_nanos(1_700_000_000_000_000_000)),
        related_sample_identity: None,
        original_writer: None,
    }
}

/// An XCDR1 little-endian encapsulated payload of `size` bytes in total.
pub fn payload(size: usize) -> Bytes {
    let mut v = vec![0x00, 0x01, 0x00, 0x00];
    v.resize(size.max(4), 0x5a);
    Bytes::from(v)
}
