//! Session and broker driven together with simulated time: a tiny driver stands in for the
//! tokio task (no authentication, everything allowed).

use super::*;
use crate::bridge::mqtt::broker::{Broker, BrokerConfig, ConnectOutcome, Outbox};
use crate::bridge::mqtt::codec::{decode, encode, LastWill, Publish, RetainHandling};
use bytes::Bytes;

const MAX: usize = 1 << 24;

struct Client {
    s: Session,
    v: Version,
    conn: Option<u64>,
    outbox: Option<Arc<Outbox>>,
    rx: BytesMut,
    pending: Vec<Packet>,
}

struct Sim {
    now: Instant,
    broker: Broker,
    cfg: SessionConfig,
}

impl Sim {
    fn new() -> Self {
        Self { now: Instant::now(), broker: Broker::new(BrokerConfig::default()), cfg: SessionConfig::default() }
    }
    fn advance(&mut self, secs: f64) {
        self.now += Duration::from_secs_f64(secs);
        self.broker.tick(self.now);
    }

    fn connect(&mut self, v: Version, id: &str, f: impl FnOnce(&mut Connect)) -> (Client, ConnAck) {
        let mut c = Connect {
            version: v,
            client_id: id.into(),
            clean_start: true,
            keep_alive: 0,
            properties: Properties::default(),
            will: None,
            username: None,
            password: None,
        };
        f(&mut c);
        let mut cl = Client {
            s: Session::new(self.cfg.clone(), self.now),
            v,
            conn: None,
            outbox: None,
            rx: BytesMut::new(),
            pending: Vec::new(),
        };
        self.send(&mut cl, Packet::Connect(Box::new(c)));
        let mut p = self.recv(&mut cl);
        if p.is_empty() {
            panic!("no CONNACK");
        }
        let first = p.remove(0);
        cl.pending = p;
        match Some(first) {
            Some(Packet::ConnAck(a)) => (cl, a),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    fn send(&mut self, c: &mut Client, p: Packet) {
        let mut b = BytesMut::new();
        encode(&p, c.v, &mut b, MAX).unwrap();
        self.send_raw(c, &b);
    }

    fn send_raw(&mut self, c: &mut Client, bytes: &[u8]) {
        let mut b = BytesMut::from(bytes);
        while c.s.handle_read(self.now, &mut b) {
            self.actions(c);
        }
        self.actions(c);
    }

    fn actions(&mut self, c: &mut Client) {
        while let Some(a) = c.s.poll_action() {
            match a {
                Action::Connect(req) => {
                    let expiry = match req.version {
                        Version::V5 => req.properties.session_expiry_interval.unwrap_or(0),
                        Version::V311 if req.clean_start => 0,
                        Version::V311 => u32::MAX,
                    };
                    match self.broker.connect(self.now, &req.client_id, req.clean_start, expiry) {
                        ConnectOutcome::Accepted { conn, outbox, session_present, restored, .. } => {
                            c.conn = Some(conn);
                            c.outbox = Some(outbox);
                            c.s.accept(self.now, Arc::from(req.client_id.as_str()), false, session_present, restored);
                        }
                        ConnectOutcome::Busy(_) => c.s.reject(ReasonCode::SERVER_BUSY),
                    }
                }
                Action::Publish { msg, pkid } => {
                    let q = msg.qos;
                    let n = self.broker.publish(self.now, *msg);
                    if let Some(id) = pkid {
                        c.s.publish_done(
                            id,
                            q,
                            if n == 0 { ReasonCode::NO_MATCHING_SUBSCRIBERS } else { ReasonCode::SUCCESS },
                        );
                    }
                }
                Action::Subscribe { pkid, requests } => {
                    let id = c.s.client_id().clone();
                    let codes = requests
                        .into_iter()
                        .map(|r| match r.refused {
                            Some(x) => x,
                            None => match self.broker.subscribe(self.now, &id, &r.filter, r.opts, r.id) {
                                Ok(q) => ReasonCode(q as u8),
                                Err(e) => e,
                            },
                        })
                        .collect();
                    c.s.suback(pkid, codes);
                }
                Action::Unsubscribe { pkid, filters } => {
                    let id = c.s.client_id().clone();
                    let codes = filters
                        .iter()
                        .map(|f| {
                            if self.broker.unsubscribe(&id, f) {
                                ReasonCode::SUCCESS
                            } else {
                                ReasonCode::NO_SUBSCRIPTION_EXISTED
                            }
                        })
                        .collect();
                    c.s.unsuback(pkid, codes);
                }
                Action::Close { .. } => {
                    if let Some(conn) = c.conn.take() {
                        let end = c.s.finish();
                        let id = c.s.client_id().clone();
                        self.broker.disconnected(self.now, &id, conn, end.state, end.expiry, end.will);
                    }
                }
            }
        }
    }

    /// Lets the client's task run: drain its outbox into the session; returns decoded output.
    fn recv(&mut self, c: &mut Client) -> Vec<Packet> {
        if let (Some(ob), true) = (&c.outbox, c.s.is_connected()) {
            let mut batch = Vec::new();
            ob.drain(self.now, c.s.send_quota(), &mut batch, self.broker.metrics());
            for d in batch {
                c.s.deliver(self.now, d);
            }
        }
        let out = c.s.output().split();
        c.rx.extend_from_slice(&out);
        let mut v = std::mem::take(&mut c.pending);
        while let Some(p) = decode(&mut c.rx, Some(c.v), MAX).unwrap() {
            v.push(p);
        }
        v
    }

    fn subscribe(
        &mut self,
        c: &mut Client,
        filter: &str,
        opts: SubscriptionOptions,
        id: Option<u32>,
    ) -> Vec<ReasonCode> {
        let properties = Properties { subscription_identifiers: id.into_iter().collect(), ..Properties::default() };
        self.send(c, Packet::Subscribe(Subscribe { pkid: 1, properties, filters: vec![(filter.into(), opts)] }));
        let mut codes = None;
        for p in self.recv(c) {
            if let Packet::SubAck(a) = p {
                codes = Some(a.codes);
            } else {
                c.pending.push(p);
            }
        }
        codes.expect("SUBACK")
    }

    fn publish(&mut self, c: &mut Client, topic: &str, payload: &'static [u8], qos: QoS, retain: bool, pkid: u16) {
        let p = Publish {
            dup: false,
            qos,
            retain,
            topic: topic.into(),
            pkid,
            properties: Properties::default(),
            payload: Bytes::from_static(payload),
        };
        self.send(c, Packet::Publish(p));
    }
}

fn q(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos, ..Default::default() }
}

fn publishes(ps: &[Packet]) -> Vec<&Publish> {
    ps.iter().filter_map(|p| if let Packet::Publish(p) = p { Some(p) } else { None }).collect()
}

fn closed_with(c: &Client) -> Option<ReasonCode> {
    c.s.close_reason()
}

#[test]
fn qos2_both_directions() {
    for v in [Version::V311, Version::V5] {
        let mut sim = Sim::new();
        let (mut sub, _) = sim.connect(v, "sub", |_| {});
        assert_eq!(sim.subscribe(&mut sub, "t", q(QoS::ExactlyOnce), None), vec![ReasonCode(2)]);
        let (mut publ, _) = sim.connect(v, "pub", |_| {});
        sim.publish(&mut publ, "t", b"m", QoS::ExactlyOnce, false, 5);
        assert!(matches!(sim.recv(&mut publ)[..], [Packet::PubRec(ref r)] if r.pkid == 5));
        // Retransmission before PUBREL is not routed twice.
        let mut dup = Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: "t".into(),
            pkid: 5,
            properties: Properties::default(),
            payload: Bytes::from_static(b"m"),
        };
        sim.send(&mut publ, Packet::Publish(dup.clone()));
        assert!(matches!(sim.recv(&mut publ)[..], [Packet::PubRec(_)]));
        sim.send(&mut publ, Packet::PubRel(PubResp::new(5)));
        assert!(
            matches!(sim.recv(&mut publ)[..], [Packet::PubComp(ref r)] if r.pkid == 5 && r.reason == ReasonCode::SUCCESS)
        );
        let got = sim.recv(&mut sub);
        let ps = publishes(&got);
        assert_eq!(ps.len(), 1);
        let id = ps[0].pkid;
        assert_eq!(ps[0].qos, QoS::ExactlyOnce);
        sim.send(&mut sub, Packet::PubRec(PubResp::new(id)));
        assert!(matches!(sim.recv(&mut sub)[..], [Packet::PubRel(ref r)] if r.pkid == id));
        sim.send(&mut sub, Packet::PubComp(PubResp::new(id)));
        assert_eq!(sub.s.send_quota(), if v == Version::V5 { 65535 } else { 64 });
        dup.pkid = 6;
        let _ = dup;
    }
}

#[test]
fn keep_alive_expires_after_one_and_a_half_intervals_and_publishes_will() {
    for v in [Version::V311, Version::V5] {
        let mut sim = Sim::new();
        let (mut w, _) = sim.connect(v, "watcher", |_| {});
        sim.subscribe(&mut w, "will/#", q(QoS::AtLeastOnce), None);
        let (mut c, _) = sim.connect(v, "c", |c| {
            c.keep_alive = 10;
            c.will = Some(LastWill {
                topic: "will/c".into(),
                payload: Bytes::from_static(b"gone"),
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Properties::default(),
            });
        });
        sim.advance(9.0);
        sim.send(&mut c, Packet::PingReq);
        assert_eq!(sim.recv(&mut c), vec![Packet::PingResp]);
        sim.advance(14.9);
        c.s.handle_timeout(sim.now);
        assert!(!c.s.is_closed());
        sim.advance(0.2);
        c.s.handle_timeout(sim.now);
        sim.actions(&mut c);
        assert_eq!(closed_with(&c), Some(ReasonCode::KEEP_ALIVE_TIMEOUT));
        if v == Version::V5 {
            assert!(
                matches!(sim.recv(&mut c)[..], [Packet::Disconnect(ref d)] if d.reason == ReasonCode::KEEP_ALIVE_TIMEOUT)
            );
        }
        let got = sim.recv(&mut w);
        assert_eq!(publishes(&got).len(), 1);
        assert_eq!(&publishes(&got)[0].payload[..], b"gone");
    }
}

#[test]
fn will_not_sent_on_normal_disconnect_but_on_0x04_and_delayed() {
    let mut sim = Sim::new();
    let (mut w, _) = sim.connect(Version::V5, "watcher", |_| {});
    sim.subscribe(&mut w, "will/#", q(QoS::AtMostOnce), None);
    let will = |delay: Option<u32>| LastWill {
        topic: "will/x".into(),
        payload: Bytes::from_static(b"w"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties { will_delay_interval: delay, ..Properties::default() },
    };
    let (mut a, _) = sim.connect(Version::V5, "a", |c| c.will = Some(will(None)));
    sim.send(&mut a, Packet::Disconnect(Disconnect::new(ReasonCode::SUCCESS)));
    assert!(publishes(&sim.recv(&mut w)).is_empty());
    let (mut b, _) = sim.connect(Version::V5, "b", |c| c.will = Some(will(None)));
    sim.send(&mut b, Packet::Disconnect(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL)));
    assert_eq!(publishes(&sim.recv(&mut w)).len(), 1);
    // Will delay 5 s with session expiry 60 s: published after 5 s.
    let (mut c, _) = sim.connect(Version::V5, "c", |c| {
        c.will = Some(will(Some(5)));
        c.properties.session_expiry_interval = Some(60);
    });
    c.s.connection_lost();
    sim.actions(&mut c);
    sim.advance(4.0);
    assert!(publishes(&sim.recv(&mut w)).is_empty());
    sim.advance(1.5);
    assert_eq!(publishes(&sim.recv(&mut w)).len(), 1);
    // Reconnecting within the delay cancels the will.
    let (mut d, _) = sim.connect(Version::V5, "d", |c| {
        c.will = Some(will(Some(5)));
        c.properties.session_expiry_interval = Some(60);
    });
    d.s.connection_lost();
    sim.actions(&mut d);
    sim.advance(2.0);
    let (_d2, ack) = sim.connect(Version::V5, "d", |c| c.clean_start = false);
    assert!(ack.session_present);
    sim.advance(10.0);
    assert!(publishes(&sim.recv(&mut w)).is_empty());
}

#[test]
fn persistent_session_queues_offline_and_redelivers_inflight_with_dup() {
    for v in [Version::V311, Version::V5] {
        let mut sim = Sim::new();
        let persistent = |c: &mut Connect| {
            c.clean_start = false;
            c.properties.session_expiry_interval = if c.version == Version::V5 { Some(300) } else { None };
        };
        let (mut s, ack) = sim.connect(v, "s", persistent);
        assert!(!ack.session_present);
        sim.subscribe(&mut s, "t", q(QoS::AtLeastOnce), None);
        let (mut p, _) = sim.connect(v, "p", |_| {});
        sim.publish(&mut p, "t", b"1", QoS::AtLeastOnce, false, 1);
        let got = sim.recv(&mut s);
        assert_eq!(publishes(&got).len(), 1);
        assert!(!publishes(&got)[0].dup);
        // Not acknowledged; the connection drops; another message arrives while offline.
        s.s.connection_lost();
        sim.actions(&mut s);
        sim.publish(&mut p, "t", b"2", QoS::AtLeastOnce, false, 2);
        sim.publish(&mut p, "t", b"q0", QoS::AtMostOnce, false, 0);
        let (mut s2, ack) = sim.connect(v, "s", persistent);
        assert!(ack.session_present);
        let got = sim.recv(&mut s2);
        let ps = publishes(&got);
        assert_eq!(ps.len(), 3, "{got:?}");
        assert!(ps[0].dup && &ps[0].payload[..] == b"1");
        assert!(!ps[1].dup && &ps[1].payload[..] == b"2");
        // A clean start drops the session.
        let (_s3, ack) = sim.connect(v, "s", |_| {});
        assert!(!ack.session_present);
    }
}

#[test]
fn session_expiry_ends_the_session() {
    let mut sim = Sim::new();
    let (mut s, _) = sim.connect(Version::V5, "s", |c| c.properties.session_expiry_interval = Some(10));
    sim.subscribe(&mut s, "t", q(QoS::AtLeastOnce), None);
    s.s.connection_lost();
    sim.actions(&mut s);
    assert_eq!(sim.broker.session_count(), 1);
    sim.advance(11.0);
    assert_eq!(sim.broker.session_count(), 0);
}

#[test]
fn retained_messages_and_retain_handling() {
    let mut sim = Sim::new();
    let (mut p, _) = sim.connect(Version::V5, "p", |_| {});
    sim.publish(&mut p, "r/a", b"A", QoS::AtLeastOnce, true, 1);
    sim.publish(&mut p, "r/b", b"B", QoS::AtMostOnce, true, 0);
    sim.publish(&mut p, "r/c", b"C", QoS::AtMostOnce, true, 0);
    sim.publish(&mut p, "r/c", b"", QoS::AtMostOnce, true, 0); // clears
    assert_eq!(sim.broker.retained_count(), 2);
    let (mut s, _) = sim.connect(Version::V5, "s", |_| {});
    sim.subscribe(&mut s, "r/+", q(QoS::AtLeastOnce), None);
    let got = sim.recv(&mut s);
    let mut ps: Vec<_> = publishes(&got).into_iter().map(|p| (p.payload.clone(), p.retain, p.qos)).collect();
    ps.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ps,
        vec![(Bytes::from_static(b"A"), true, QoS::AtLeastOnce), (Bytes::from_static(b"B"), true, QoS::AtMostOnce)]
    );
    // Retain handling 1: only for a new subscription; 2: never.
    let rh = |h| SubscriptionOptions { retain_handling: h, ..q(QoS::AtMostOnce) };
    sim.subscribe(&mut s, "r/a", rh(RetainHandling::SendIfNew), None);
    assert_eq!(publishes(&sim.recv(&mut s)).len(), 1);
    sim.subscribe(&mut s, "r/a", rh(RetainHandling::SendIfNew), None);
    assert_eq!(publishes(&sim.recv(&mut s)).len(), 0);
    sim.subscribe(&mut s, "r/#", rh(RetainHandling::DoNotSend), None);
    assert_eq!(publishes(&sim.recv(&mut s)).len(), 0);
    // Live messages: retain flag cleared unless retain-as-published.
    let (mut s2, _) = sim.connect(Version::V5, "s2", |_| {});
    sim.subscribe(
        &mut s2,
        "live",
        SubscriptionOptions {
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
            ..q(QoS::AtMostOnce)
        },
        None,
    );
    let (mut s3, _) = sim.connect(Version::V5, "s3", |_| {});
    sim.subscribe(&mut s3, "live", q(QoS::AtMostOnce), None);
    sim.recv(&mut s3);
    sim.publish(&mut p, "live", b"L", QoS::AtMostOnce, true, 0);
    assert!(publishes(&sim.recv(&mut s2))[0].retain);
    assert!(!publishes(&sim.recv(&mut s3))[0].retain);
}

#[test]
fn wildcards_skip_dollar_topics_and_no_local_and_sub_ids() {
    let mut sim = Sim::new();
    let (mut s, _) = sim.connect(Version::V5, "s", |_| {});
    sim.subscribe(&mut s, "#", q(QoS::AtMostOnce), Some(7));
    sim.subscribe(&mut s, "+/x", q(QoS::AtMostOnce), Some(8));
    sim.subscribe(&mut s, "$SYS/#", q(QoS::AtMostOnce), Some(9));
    let (mut p, _) = sim.connect(Version::V5, "p", |_| {});
    sim.publish(&mut p, "$SYS/x", b"sys", QoS::AtMostOnce, false, 0);
    sim.publish(&mut p, "a/x", b"ax", QoS::AtMostOnce, false, 0);
    let got = sim.recv(&mut s);
    let ps = publishes(&got);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].properties.subscription_identifiers, vec![9]);
    let mut ids = ps[1].properties.subscription_identifiers.clone();
    ids.sort_unstable();
    assert_eq!(ids, vec![7, 8]);
    // No Local: own messages are not echoed.
    sim.subscribe(&mut p, "own", SubscriptionOptions { no_local: true, ..q(QoS::AtMostOnce) }, None);
    sim.publish(&mut p, "own", b"o", QoS::AtMostOnce, false, 0);
    assert!(publishes(&sim.recv(&mut p)).is_empty());
    assert_eq!(publishes(&sim.recv(&mut s)).len(), 1);
    // Invalid filter → 0x8F (5.0) / 0x80 (3.1.1).
    assert_eq!(sim.subscribe(&mut s, "a/#/b", q(QoS::AtMostOnce), None), vec![ReasonCode::TOPIC_FILTER_INVALID]);
    let (mut o, _) = sim.connect(Version::V311, "o", |_| {});
    assert_eq!(sim.subscribe(&mut o, "a+", q(QoS::AtMostOnce), None), vec![ReasonCode(0x80)]);
}

#[test]
fn shared_subscriptions_round_robin() {
    let mut sim = Sim::new();
    let mut members = Vec::new();
    for i in 0..3 {
        let (mut c, _) = sim.connect(Version::V5, &format!("m{i}"), |_| {});
        assert_eq!(sim.subscribe(&mut c, "$share/g/jobs/+", q(QoS::AtLeastOnce), None), vec![ReasonCode(1)]);
        members.push(c);
    }
    let (mut plain, _) = sim.connect(Version::V311, "plain", |_| {});
    sim.subscribe(&mut plain, "jobs/#", q(QoS::AtMostOnce), None);
    let (mut p, _) = sim.connect(Version::V5, "p", |_| {});
    for i in 0..9u16 {
        sim.publish(&mut p, "jobs/a", b"j", QoS::AtLeastOnce, false, i + 1);
    }
    for m in &mut members {
        assert_eq!(publishes(&sim.recv(m)).len(), 3);
    }
    assert_eq!(publishes(&sim.recv(&mut plain)).len(), 9);
}

#[test]
fn topic_alias_both_directions() {
    let mut sim = Sim::new();
    let (mut s, _) = sim.connect(Version::V5, "s", |c| c.properties.topic_alias_maximum = Some(2));
    sim.subscribe(&mut s, "#", q(QoS::AtMostOnce), None);
    let (mut p, ack) = sim.connect(Version::V5, "p", |_| {});
    assert_eq!(ack.properties.topic_alias_maximum, Some(256));
    let mut pb = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "long/topic".into(),
        pkid: 0,
        properties: Properties { topic_alias: Some(1), ..Properties::default() },
        payload: Bytes::from_static(b"1"),
    };
    sim.send(&mut p, Packet::Publish(pb.clone()));
    pb.topic = String::new();
    sim.send(&mut p, Packet::Publish(pb.clone()));
    sim.publish(&mut p, "b", b"3", QoS::AtMostOnce, false, 0);
    sim.publish(&mut p, "c", b"4", QoS::AtMostOnce, false, 0);
    let got = sim.recv(&mut s);
    let ps = publishes(&got);
    let seen: Vec<(&str, Option<u16>)> = ps.iter().map(|p| (p.topic.as_str(), p.properties.topic_alias)).collect();
    assert_eq!(seen, vec![("long/topic", Some(1)), ("", Some(1)), ("b", Some(2)), ("c", None)]);
    // Alias beyond our maximum → DISCONNECT 0x94.
    pb.properties.topic_alias = Some(257);
    pb.topic = "x".into();
    sim.send(&mut p, Packet::Publish(pb));
    assert_eq!(closed_with(&p), Some(ReasonCode::TOPIC_ALIAS_INVALID));
    // Unknown alias with empty topic → protocol error.
    let (mut p2, _) = sim.connect(Version::V5, "p2", |_| {});
    let pb = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: String::new(),
        pkid: 0,
        properties: Properties { topic_alias: Some(3), ..Properties::default() },
        payload: Bytes::new(),
    };
    sim.send(&mut p2, Packet::Publish(pb));
    assert_eq!(closed_with(&p2), Some(ReasonCode::PROTOCOL_ERROR));
}

#[test]
fn receive_maximum_limits_outbound_window_and_inbound_qos2() {
    let mut sim = Sim::new();
    sim.cfg.receive_maximum = 2;
    let (mut s, _) = sim.connect(Version::V5, "s", |c| c.properties.receive_maximum = Some(3));
    sim.subscribe(&mut s, "t", q(QoS::AtLeastOnce), None);
    let (mut p, _) = sim.connect(Version::V5, "p", |_| {});
    for i in 0..5u16 {
        sim.publish(&mut p, "t", b"x", QoS::AtLeastOnce, false, i + 1);
    }
    let got = sim.recv(&mut s);
    let ps = publishes(&got);
    assert_eq!(ps.len(), 3);
    let first = ps[0].pkid;
    sim.send(&mut s, Packet::PubAck(PubResp::new(first)));
    assert_eq!(publishes(&sim.recv(&mut s)).len(), 1);
    // Inbound: a third unreleased QoS 2 exceeds our Receive Maximum of 2.
    for id in 1..=2 {
        sim.publish(&mut p, "t", b"y", QoS::ExactlyOnce, false, 100 + id);
    }
    assert!(!p.s.is_closed());
    sim.publish(&mut p, "t", b"y", QoS::ExactlyOnce, false, 103);
    assert_eq!(closed_with(&p), Some(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED));
}

#[test]
fn maximum_packet_size_drops_oversize_outbound() {
    let mut sim = Sim::new();
    let (mut s, _) = sim.connect(Version::V5, "s", |c| c.properties.maximum_packet_size = Some(64));
    sim.subscribe(&mut s, "t", q(QoS::AtLeastOnce), None);
    let (mut p, _) = sim.connect(Version::V5, "p", |_| {});
    sim.publish(&mut p, "t", &[b'x'; 100], QoS::AtLeastOnce, false, 1);
    sim.publish(&mut p, "t", b"small", QoS::AtLeastOnce, false, 2);
    let got = sim.recv(&mut s);
    assert_eq!(publishes(&got).len(), 1);
    assert_eq!(s.s.dropped_oversize(), 1);
    // Inbound oversize → DISCONNECT 0x95.
    sim.cfg.max_packet_size = 50;
    let (mut c, _) = sim.connect(Version::V5, "c", |_| {});
    sim.publish(&mut c, "t", &[b'x'; 100], QoS::AtMostOnce, false, 0);
    assert_eq!(closed_with(&c), Some(ReasonCode::PACKET_TOO_LARGE));
}

#[test]
fn protocol_violations_close_with_reason() {
    let mut sim = Sim::new();
    let (mut c, _) = sim.connect(Version::V5, "c", |_| {});
    sim.send_raw(&mut c, &[0x60, 2, 0, 1]); // PUBREL with bad flags
    assert_eq!(closed_with(&c), Some(ReasonCode::MALFORMED_PACKET));
    assert!(matches!(sim.recv(&mut c)[..], [Packet::Disconnect(ref d)] if d.reason == ReasonCode::MALFORMED_PACKET));
    let (mut c, _) = sim.connect(Version::V311, "c3", |_| {});
    sim.send(
        &mut c,
        Packet::Connect(Box::new(Connect {
            version: Version::V311,
            client_id: "x".into(),
            clean_start: true,
            keep_alive: 0,
            properties: Properties::default(),
            will: None,
            username: None,
            password: None,
        })),
    );
    assert_eq!(closed_with(&c), Some(ReasonCode::PROTOCOL_ERROR));
    // Unsupported protocol level → CONNACK 0x01 (3.1.1 layout).
    let mut c = Client {
        s: Session::new(sim.cfg.clone(), sim.now),
        v: Version::V311,
        conn: None,
        outbox: None,
        rx: BytesMut::new(),
        pending: Vec::new(),
    };
    sim.send_raw(&mut c, &[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 7, 2, 0, 0, 0, 1, b'x']);
    assert!(matches!(sim.recv(&mut c)[..], [Packet::ConnAck(ref a)] if a.code == ReasonCode(1)));
    // First packet not CONNECT.
    let mut c = Client {
        s: Session::new(sim.cfg.clone(), sim.now),
        v: Version::V311,
        conn: None,
        outbox: None,
        rx: BytesMut::new(),
        pending: Vec::new(),
    };
    sim.send_raw(&mut c, &[0xC0, 0]);
    assert!(c.s.is_closed());
}

#[test]
fn connect_timeout() {
    let mut sim = Sim::new();
    let mut c = Client {
        s: Session::new(sim.cfg.clone(), sim.now),
        v: Version::V311,
        conn: None,
        outbox: None,
        rx: BytesMut::new(),
        pending: Vec::new(),
    };
    sim.advance(11.0);
    c.s.handle_timeout(sim.now);
    assert!(c.s.is_closed());
}

#[test]
fn slow_client_overflow_policy() {
    let mut sim = Sim::new();
    sim.broker = Broker::new(BrokerConfig { queue_capacity: 4, ..BrokerConfig::default() });
    let (mut slow0, _) = sim.connect(Version::V5, "slow0", |_| {});
    sim.subscribe(&mut slow0, "t0", q(QoS::AtMostOnce), None);
    let (mut slow1, _) = sim.connect(Version::V5, "slow1", |c| c.properties.receive_maximum = Some(1));
    sim.subscribe(&mut slow1, "t1", q(QoS::AtLeastOnce), None);
    let (mut fast, _) = sim.connect(Version::V5, "fast", |_| {});
    sim.subscribe(&mut fast, "t0", q(QoS::AtMostOnce), None);
    let (mut p, _) = sim.connect(Version::V5, "p", |_| {});
    let mut fast_got = 0;
    for _ in 0..10 {
        sim.publish(&mut p, "t0", b"x", QoS::AtMostOnce, false, 0);
        fast_got += publishes(&sim.recv(&mut fast)).len();
    }
    assert_eq!(fast_got, 10);
    assert_eq!(publishes(&sim.recv(&mut slow0)).len(), 4); // oldest dropped
    assert_eq!(crate::bridge::mqtt::broker::Metrics::get(&sim.broker.metrics().dropped_qos0), 6);
    for i in 0..6u16 {
        sim.publish(&mut p, "t1", b"x", QoS::AtLeastOnce, false, i + 1);
    }
    assert_eq!(slow1.outbox.as_ref().unwrap().kicked(), Some(ReasonCode::QUOTA_EXCEEDED));
    assert_eq!(crate::bridge::mqtt::broker::Metrics::get(&sim.broker.metrics().quota_disconnects), 1);
}

/// A direct sink backed by a bounded channel, as the bridge's link into DDS.
struct ChanSink(tokio::sync::mpsc::Sender<crate::bridge::mqtt::broker::Delivery>);

impl crate::bridge::mqtt::broker::DirectSink for ChanSink {
    fn admit(&self, d: crate::bridge::mqtt::broker::Delivery) -> crate::bridge::mqtt::broker::Admission {
        let tx = self.0.clone();
        Box::pin(async move {
            let _ = tx.send(d).await;
        })
    }
}

#[tokio::test]
async fn direct_sink_waits_instead_of_dropping_and_others_keep_their_outbox() {
    use futures_util::FutureExt;
    let now = Instant::now();
    let mut b = Broker::new(BrokerConfig { queue_capacity: 2, ..BrokerConfig::default() });
    let attach = |b: &mut Broker, id: &str| match b.connect(now, id, true, u32::MAX) {
        ConnectOutcome::Accepted { outbox, .. } => outbox,
        ConnectOutcome::Busy(_) => panic!("busy"),
    };
    let sink_box = attach(&mut b, "sink");
    let other_box = attach(&mut b, "other");
    let opts = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: false,
        retain_handling: RetainHandling::DoNotSend,
    };
    b.subscribe(now, "sink", "t/#", opts, None).unwrap();
    b.subscribe(now, "other", "t/a", opts, None).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    b.set_direct("sink", Arc::new(ChanSink(tx)));
    let msg = |i: u8| Message {
        topic: "t/a".into(),
        payload: Bytes::from(vec![i]),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
        expires_at: None,
        origin: Some("p".into()),
    };
    // More than both the sink's channel and the outbox capacity.
    let mut pending = Vec::new();
    for i in 0..5u8 {
        let (n, adm) = b.publish_direct(now, msg(i));
        assert_eq!(n, 2);
        pending.push(adm.expect("the sink takes it"));
    }
    // The sink's outbox is bypassed: never full, never kicked.
    assert_eq!(sink_box.len(), 0);
    assert_eq!(sink_box.kicked(), None);
    // The channel takes two; the third admission waits (the message is not dropped).
    let mut pending = pending.into_iter();
    for _ in 0..2 {
        assert!(pending.next().unwrap().now_or_never().is_some());
    }
    let mut third = pending.next().unwrap();
    assert!((&mut third).now_or_never().is_none());
    assert_eq!(rx.recv().await.unwrap().msg.payload[..], [0]);
    tokio::time::timeout(Duration::from_secs(10), third).await.unwrap();
    for (i, a) in pending.enumerate() {
        assert_eq!(rx.recv().await.unwrap().msg.payload[..], [u8::try_from(i).unwrap() + 1]);
        tokio::time::timeout(Duration::from_secs(10), a).await.unwrap();
    }
    for i in 3..5u8 {
        assert_eq!(rx.recv().await.unwrap().msg.payload[..], [i]);
    }
    // Another MQTT subscriber is served through its outbox as before: capacity 2, then 0x97.
    assert_eq!(other_box.len(), 2);
    assert_eq!(other_box.kicked(), Some(ReasonCode::QUOTA_EXCEEDED));
    // Plain publishes (wills, in-process publishers) still use the sink's outbox.
    b.publish(now, msg(9));
    assert_eq!(sink_box.len(), 1);
}
