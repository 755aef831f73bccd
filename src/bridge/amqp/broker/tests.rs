//! Broker and connection semantics with simulated time.

use super::*;
use crate::bridge::amqp::connection::{Connection, ConnectionConfig};
use crate::bridge::amqp::frames::{decode, encode_content, encode_method, Frame};
use amq_protocol::protocol::{basic, channel, confirm, connection, queue, tx, AMQPClass};
use bytes::BytesMut;

fn msg(ex: &str, rk: &str, body: &str) -> Message {
    Message {
        exchange: Arc::from(ex),
        routing_key: Arc::from(rk),
        properties: AMQPProperties::default(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

fn bodies(b: &mut Broker, now: Instant, q: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Some((m, _))) = b.get(now, 0, q, true) {
        out.push(String::from_utf8_lossy(&m.msg.body).into_owned());
    }
    out
}

#[test]
fn ttl_and_max_length_with_simulated_time() {
    let t0 = Instant::now();
    let mut b = Broker::new(BrokerConfig::default());
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(1000));
    b.declare_queue(t0, 0, "ttl", &QueueOptions { arguments: args, ..Default::default() }).unwrap();
    b.publish(t0, msg("", "ttl", "a")).unwrap();
    let mut m = msg("", "ttl", "short");
    m.properties = m.properties.with_expiration("100".into());
    b.publish(t0 + Duration::from_millis(500), m).unwrap();
    b.tick(t0 + Duration::from_millis(999));
    assert_eq!(b.queue_len("ttl"), Some(2));
    // Expiry happens at the head: "a" goes at 1000 ms, then "short" (expired at 600 ms).
    b.tick(t0 + Duration::from_millis(1000));
    assert_eq!(b.queue_len("ttl"), Some(0));

    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::ShortShortUInt(2));
    b.declare_queue(t0, 0, "max", &QueueOptions { arguments: args, ..Default::default() }).unwrap();
    for x in ["1", "2", "3", "4"] {
        b.publish(t0, msg("", "max", x)).unwrap();
    }
    assert_eq!(bodies(&mut b, t0, "max"), ["3", "4"]);

    let mut args = FieldTable::default();
    args.insert("x-expires".into(), AMQPValue::LongInt(5000));
    b.declare_queue(t0, 0, "exp", &QueueOptions { arguments: args, ..Default::default() }).unwrap();
    b.tick(t0 + Duration::from_millis(4999));
    assert!(b.queue_len("exp").is_some());
    b.tick(t0 + Duration::from_millis(5000));
    assert!(b.queue_len("exp").is_none());
}

#[test]
fn declare_errors_and_routing() {
    let t0 = Instant::now();
    let mut b = Broker::new(BrokerConfig::default());
    let o = QueueOptions::default();
    assert_eq!(b.declare_queue(t0, 1, "amq.x", &o).unwrap_err().code, reply::ACCESS_REFUSED);
    let ex = QueueOptions { exclusive: true, ..Default::default() };
    b.declare_queue(t0, 1, "ex", &ex).unwrap();
    assert_eq!(b.declare_queue(t0, 2, "ex", &ex).unwrap_err().code, reply::RESOURCE_LOCKED);
    assert_eq!(b.declare_queue(t0, 1, "ex", &o).unwrap_err().code, reply::PRECONDITION_FAILED);
    let passive = QueueOptions { passive: true, ..Default::default() };
    assert_eq!(b.declare_queue(t0, 1, "none", &passive).unwrap_err().code, reply::NOT_FOUND);
    let (gen, _, _) = b.declare_queue(t0, 1, "", &o).unwrap();
    assert!(gen.starts_with("amq.gen-"));
    let e = b.declare_exchange("x", "bogus", false, false, false, false, &FieldTable::default()).unwrap_err();
    assert_eq!(e.code, reply::COMMAND_INVALID);
    assert!(e.is_hard());
    b.declare_exchange("t", "topic", false, false, false, false, &FieldTable::default()).unwrap();
    assert_eq!(
        b.declare_exchange("t", "direct", false, false, false, false, &FieldTable::default()).unwrap_err().code,
        reply::PRECONDITION_FAILED
    );
    assert_eq!(b.bind_queue(1, &gen, "", "k", &FieldTable::default()).unwrap_err().code, reply::ACCESS_REFUSED);
    b.bind_queue(1, &gen, "t", "a.#", &FieldTable::default()).unwrap();
    b.bind_queue(1, &gen, "amq.fanout", "", &FieldTable::default()).unwrap();
    // Routed once even when two paths lead to the queue (t → amq.fanout → q, t → q).
    b.bind_exchange("amq.fanout", "t", "a.b", &FieldTable::default()).unwrap();
    assert_eq!(b.publish(t0, msg("t", "a.b", "x")).unwrap().queues, 1);
    assert_eq!(b.publish(t0, msg("t", "b", "x")).unwrap().queues, 0);
    // An exchange-binding cycle terminates.
    b.bind_exchange("t", "amq.fanout", "", &FieldTable::default()).unwrap();
    assert_eq!(b.publish(t0, msg("amq.fanout", "z", "x")).unwrap().queues, 1);
    assert_eq!(b.publish(t0, msg("nope", "z", "x")).unwrap_err().code, reply::NOT_FOUND);
    b.disconnect(t0, 1);
    assert!(b.queue_len("ex").is_none());
}

/// A test client driving a [`Connection`] frame by frame.
struct Client {
    c: Connection,
    now: Instant,
}

impl Client {
    fn new(b: &mut Broker, now: Instant) -> Self {
        let (id, _) = b.connect();
        let mut c = Connection::new(ConnectionConfig::default(), id, true, now);
        let mut input = BytesMut::from(&b"AMQP\x00\x00\x09\x01"[..]);
        let mut out = Vec::new();
        let so = connection::StartOk {
            mechanism: "PLAIN".into(),
            response: "\0guest\0guest".into(),
            locale: "en_US".into(),
            ..Default::default()
        };
        encode_method(0, AMQPClass::Connection(connection::AMQPMethod::StartOk(so)), &mut out);
        input.extend_from_slice(&out);
        c.handle_input(now, &mut input, b);
        let req = c.poll_auth().expect("auth request");
        assert_eq!(req.username, "guest");
        c.auth_done(now, Ok(req.username));
        let mut out = Vec::new();
        let tune = connection::TuneOk { channel_max: 0, frame_max: 131_072, heartbeat: 10 };
        encode_method(0, AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune)), &mut out);
        encode_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open { virtual_host: "/".into() })),
            &mut out,
        );
        encode_method(1, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})), &mut out);
        let mut input = BytesMut::from(&out[..]);
        c.handle_input(now, &mut input, b);
        let mut me = Self { c, now };
        let got = me.frames();
        assert!(matches!(got.last(), Some(Frame::Method { channel: 1, .. })), "{got:?}");
        me
    }

    fn send(&mut self, b: &mut Broker, ch: u16, m: AMQPClass) -> Vec<Frame> {
        let mut out = Vec::new();
        encode_method(ch, m, &mut out);
        self.input(b, &out)
    }

    fn publish(&mut self, b: &mut Broker, ex: &str, rk: &str, body: &[u8], mandatory: bool) -> Vec<Frame> {
        let mut out = Vec::new();
        let p = basic::Publish { exchange: ex.into(), routing_key: rk.into(), mandatory, immediate: false };
        encode_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(p)), &mut out);
        encode_content(1, &AMQPProperties::default(), body, 4096, &mut out);
        self.input(b, &out)
    }

    fn input(&mut self, b: &mut Broker, bytes: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(bytes);
        self.c.handle_input(self.now, &mut buf, b);
        self.c.pump(self.now, b, 1 << 20);
        self.frames()
    }

    fn frames(&mut self) -> Vec<Frame> {
        let out = self.c.take_output(self.now);
        let mut buf = BytesMut::from(&out[..]);
        let mut v = Vec::new();
        while let Ok(Some(f)) = decode(&mut buf, 0) {
            v.push(f);
        }
        v
    }
}

fn methods(frames: &[Frame]) -> Vec<AMQPClass> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Method { method, .. } => Some((**method).clone()),
            _ => None,
        })
        .collect()
}

fn declare(name: &str) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare { queue: name.into(), ..Default::default() }))
}

#[test]
fn confirms_coalesce_and_mandatory_returns() {
    let now = Instant::now();
    let mut b = Broker::new(BrokerConfig::default());
    let mut c = Client::new(&mut b, now);
    c.send(&mut b, 1, declare("q"));
    let r = c.send(&mut b, 1, AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select { nowait: false })));
    assert!(matches!(methods(&r)[..], [AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))]));
    // Three publishes in one read: one ack with multiple=true.
    let mut bytes = Vec::new();
    for _ in 0..3 {
        let p = basic::Publish { exchange: "".into(), routing_key: "q".into(), mandatory: false, immediate: false };
        encode_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(p)), &mut bytes);
        encode_content(1, &AMQPProperties::default(), b"x", 4096, &mut bytes);
    }
    let r = c.input(&mut b, &bytes);
    assert_eq!(methods(&r), [AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: 3, multiple: true }))]);
    let r = c.publish(&mut b, "amq.direct", "none", b"bounce", true);
    let m = methods(&r);
    assert!(matches!(&m[0], AMQPClass::Basic(basic::AMQPMethod::Return(x)) if x.reply_code == reply::NO_ROUTE));
    assert_eq!(m[1], AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: 4, multiple: false })));
    assert_eq!(b.queue_len("q"), Some(3));
}

#[test]
fn requeue_redelivered_prefetch_and_tx() {
    let now = Instant::now();
    let mut b = Broker::new(BrokerConfig::default());
    let mut c = Client::new(&mut b, now);
    c.send(&mut b, 1, declare("q"));
    for i in 0..5 {
        c.publish(&mut b, "", "q", format!("{i}").as_bytes(), false);
    }
    c.send(&mut b, 1, AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos { prefetch_count: 2, global: false })));
    let consume = basic::Consume { queue: "q".into(), consumer_tag: "c1".into(), ..Default::default() };
    let r = c.send(&mut b, 1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)));
    let delivered: Vec<basic::Deliver> = methods(&r)
        .into_iter()
        .filter_map(|m| match m {
            AMQPClass::Basic(basic::AMQPMethod::Deliver(d)) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(delivered.len(), 2, "prefetch 2");
    assert_eq!(b.queue_len("q"), Some(3));
    // Reject tag 1 with requeue: it comes back redelivered (the window has room for one).
    let r = c.send(
        &mut b,
        1,
        AMQPClass::Basic(basic::AMQPMethod::Reject(basic::Reject { delivery_tag: 1, requeue: true })),
    );
    let m = methods(&r);
    assert!(
        matches!(&m[..], [AMQPClass::Basic(basic::AMQPMethod::Deliver(d))] if d.redelivered && d.delivery_tag == 3)
    );
    // Transaction: the ack is held until commit.
    c.send(&mut b, 1, AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})));
    let r = c.send(&mut b, 1, AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: 3, multiple: true })));
    assert!(methods(&r).is_empty(), "nothing delivered before commit");
    c.publish(&mut b, "", "q", b"in-tx", false);
    assert_eq!(b.queue_len("q"), Some(3));
    let r = c.send(&mut b, 1, AMQPClass::Tx(tx::AMQPMethod::Commit(tx::Commit {})));
    let m = methods(&r);
    assert!(m.contains(&AMQPClass::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {}))));
    assert_eq!(m.iter().filter(|x| matches!(x, AMQPClass::Basic(basic::AMQPMethod::Deliver(_)))).count(), 2);
    assert_eq!(b.queue_len("q"), Some(2));
    // Unknown delivery tag: channel.close 406, the connection stays.
    let r =
        c.send(&mut b, 1, AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: 99, multiple: false })));
    assert!(
        matches!(&methods(&r)[..], [AMQPClass::Channel(channel::AMQPMethod::Close(x))] if x.reply_code == reply::PRECONDITION_FAILED)
    );
    assert!(!c.c.is_closed());
    // The channel's two unacked messages went back to the queue.
    assert_eq!(b.queue_len("q"), Some(4));
}

#[test]
fn heartbeats_with_simulated_time() {
    let t0 = Instant::now();
    let mut b = Broker::new(BrokerConfig::default());
    let mut c = Client::new(&mut b, t0);
    // Negotiated 10 s: a heartbeat goes out after 5 s of silence, the peer is dropped after 20 s.
    let t = c.c.poll_timeout().unwrap();
    assert_eq!(t, t0 + Duration::from_secs(5));
    c.c.handle_timeout(t);
    assert_eq!(c.c.take_output(t), [8, 0, 0, 0, 0, 0, 0, 0xCE]);
    c.c.handle_timeout(t0 + Duration::from_secs(20));
    assert!(c.c.is_closed());
}

#[test]
fn full_dds_tap_nacks_instead_of_confirming() {
    let t0 = Instant::now();
    let mut b = Broker::new(BrokerConfig::default());
    let mut rx = b.tap("amq.topic", &["Square.#".to_string()], 2).unwrap();
    for i in 0..2 {
        let r = b.publish(t0, msg("amq.topic", "Square.RED", &i.to_string())).unwrap();
        assert!(r.stored_ok, "the tap has room for message {i}");
    }
    // The third copy finds the tap full: refused, counted, and reported so the confirm is a nack.
    let r = b.publish(t0, msg("amq.topic", "Square.RED", "2")).unwrap();
    assert!(!r.stored_ok);
    assert_eq!(b.tap_overflows, 1);
    // Messages the tap does not match are unaffected.
    assert!(b.publish(t0, msg("amq.topic", "Circle.RED", "x")).unwrap().stored_ok);
    assert_eq!(rx.try_recv().unwrap().body, Bytes::from_static(b"0"));
    assert!(b.publish(t0, msg("amq.topic", "Square.RED", "3")).unwrap().stored_ok);
}
