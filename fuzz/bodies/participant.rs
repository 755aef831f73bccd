//! Feeds arbitrary datagrams to a live participant that has a writer and a
//! reader, with time advancing between them. Nothing may panic, and the
//! participant must keep producing output only in bounded amounts.
use starling_proto::core::{EndpointConfig, Participant, ParticipantConfig};
use starling_proto::qos::{EndpointQos, Reliability};
use starling_proto::wire::{GuidPrefix, Locator};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Runs one input; panics on a bug.
pub fn run(input: &[u8]) {
    let now = Instant::now();
    let mut c = ParticipantConfig::new(0, 0, GuidPrefix([9; 12]));
    c.metatraffic_unicast = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7410)];
    c.default_unicast = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7411)];
    let mut p = Participant::new(c, now);
    let mut rq = EndpointQos::reader_default();
    rq.reliability = Reliability::reliable();
    for (topic, keyed) in [("Square", true), ("Blob", false)] {
        let desc = |qos| EndpointConfig {
            topic_name: topic.into(),
            type_name: "ShapeType".into(),
            keyed,
            qos,
            type_information: None,
            content_filter: None,
            group: None,
        };
        p.create_writer(now, desc(EndpointQos::writer_default()));
        p.create_reader(now, desc(rq.clone()));
    }
    // The input is a sequence of datagrams, each prefixed by a 2-byte length.
    let mut rest = input;
    let mut t = now;
    while rest.len() >= 2 {
        let len = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let (dg, tail) = rest[2..].split_at(len);
        rest = tail;
        p.handle_datagram(t, dg);
        t += Duration::from_millis(37);
        p.handle_timeout(t);
        let mut n = 0;
        while p.poll_transmit().is_some() {
            n += 1;
            assert!(n < 100_000, "unbounded output");
        }
        while p.poll_event().is_some() {}
    }
}
