use super::*;
use crate::bridge::stomp::codec::Decoder;
use bytes::Bytes;

#[derive(Default)]
struct Mock {
    sent: Vec<Message>,
    subs: Vec<(Arc<str>, Destination)>,
    requeued: Vec<Delivery>,
}

impl Host for Mock {
    fn send(&mut self, dest: &Destination, msg: Message) -> Result<(), String> {
        if dest.acl_topic() == "topic/forbidden" {
            return Err("access refused".into());
        }
        self.sent.push(msg);
        Ok(())
    }
    fn subscribe(&mut self, id: &Arc<str>, dest: &Destination) -> Result<(), String> {
        self.subs.push((id.clone(), dest.clone()));
        Ok(())
    }
    fn unsubscribe(&mut self, id: &str, _dest: &Destination) {
        self.subs.retain(|(i, _)| &**i != id);
    }
    fn requeue(&mut self, deliveries: Vec<Delivery>) {
        self.requeued.extend(deliveries);
    }
}

struct T {
    s: Session,
    h: Mock,
    now: Instant,
    dec: Decoder,
}

impl T {
    fn new(connect: &str) -> Self {
        let cfg = SessionConfig { heart_beat: (1000, 1000), ..SessionConfig::default() };
        let now = Instant::now();
        let mut t = T { s: Session::new(Arc::new(cfg), now), h: Mock::default(), now, dec: Decoder::new() };
        t.input(connect);
        if let Some(_c) = t.s.take_auth() {
            t.s.accept(t.now, "s1");
        }
        t
    }
    fn input(&mut self, s: &str) {
        let mut b = BytesMut::from(s.as_bytes());
        self.s.received(self.now);
        self.s.handle_read(self.now, &mut b, &mut self.h);
    }
    fn output(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        if let Some(mut b) = self.s.take_output() {
            let v = self.s.version();
            while let Ok(Some(i)) = self.dec.decode(&mut b, v, &Limits::default()) {
                if let Item::Frame(f) = i {
                    out.push(f);
                }
            }
        }
        out
    }
    fn deliver(&mut self, sub: &str, body: &'static [u8], queue: bool) {
        let msg = Arc::new(Message {
            destination: "/queue/q".into(),
            headers: vec![("reply-to".into(), "/queue/r".into())],
            body: Bytes::from_static(body),
            expires: None,
        });
        let d = Delivery { msg, sub_id: sub.into(), queue: queue.then(|| "/queue/q".into()), redelivered: false };
        assert!(self.s.deliver(d).is_ok());
    }
}

const C12: &str = "CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:500,2000\n\n\0";

#[test]
fn version_negotiation() {
    let mut t = T::new(C12);
    let f = t.output();
    assert_eq!(f[0].command, Command::Connected);
    assert_eq!(f[0].header("version"), Some("1.2"));
    assert_eq!(f[0].header("heart-beat"), Some("1000,1000"));
    let mut t = T::new("CONNECT\naccept-version:1.1\n\n\0");
    assert_eq!(t.output()[0].header("version"), Some("1.1"));
    let mut t = T::new("CONNECT\n\n\0");
    assert_eq!(t.s.version(), Some(Version::V10));
    assert_eq!(t.output()[0].header("version"), None);
    let mut t = T::new("CONNECT\naccept-version:2.0\n\n\0");
    let f = t.output();
    assert_eq!(f[0].command, Command::Error);
    assert_eq!(f[0].header("message"), Some("unsupported protocol version"));
    assert_eq!(f[0].header("version"), Some("1.0,1.1,1.2"));
    assert!(t.s.is_closed());
    let mut t = T::new("SEND\ndestination:/topic/a\nreceipt:r\n\n\0");
    let f = t.output();
    assert_eq!(f[0].header("message"), Some("expected CONNECT or STOMP frame"));
    assert_eq!(f[0].header("receipt-id"), Some("r"));
}

#[test]
fn heart_beats_both_ways() {
    let mut t = T::new(C12);
    t.output();
    // Server sends every max(1000, 2000) ms, expects every max(500, 1000) ms (grace 1.5).
    assert_eq!(t.s.heart_beats(), (Some(Duration::from_millis(2000)), Some(Duration::from_millis(1000))));
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_millis(1500)));
    t.now += Duration::from_millis(1400);
    t.input("\n");
    t.now += Duration::from_millis(600);
    t.s.handle_timeout(t.now);
    assert_eq!(t.s.take_output().as_deref(), Some(&b"\n"[..]));
    t.s.sent(t.now);
    assert!(!t.s.is_closed());
    t.now += Duration::from_millis(900);
    t.s.handle_timeout(t.now);
    assert!(t.s.is_closed());
    assert_eq!(t.s.error(), Some("heart-beat timeout"));
    // No heart-beats when the client asks for none.
    let t = T::new("CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
    assert_eq!(t.s.poll_timeout(), None);
}

#[test]
fn connect_timeout() {
    let cfg = Arc::new(SessionConfig::default());
    let now = Instant::now();
    let mut s = Session::new(cfg, now);
    s.handle_timeout(now + Duration::from_secs(11));
    assert!(s.is_closed());
}

#[test]
fn send_carries_headers_and_receipt() {
    let mut t = T::new(C12);
    t.output();
    t.input("SEND\ndestination:/topic/a\nreceipt:7\npersistent:true\nx:1\nx:2\ncontent-type:text/plain\n\nhi\0");
    let f = t.output();
    assert_eq!(f[0].command, Command::Receipt);
    assert_eq!(f[0].header("receipt-id"), Some("7"));
    let m = &t.h.sent[0];
    assert_eq!(&*m.destination, "/topic/a");
    let names: Vec<_> = m.headers.iter().map(|(n, v)| format!("{n}={v}")).collect();
    assert_eq!(names, ["persistent=true", "x=1", "content-type=text/plain"]);
    t.input("SEND\ndestination:/topic/forbidden\nreceipt:8\n\n\0");
    let f = t.output();
    assert_eq!(f[0].header("message"), Some("access refused"));
    assert_eq!(f[0].header("receipt-id"), Some("8"));
    assert!(t.s.is_closed());
}

#[test]
fn transactions_buffer_until_commit() {
    let mut t = T::new(C12);
    t.input("BEGIN\ntransaction:t1\n\n\0SEND\ndestination:/topic/a\ntransaction:t1\n\n1\0");
    assert!(t.h.sent.is_empty());
    t.input("COMMIT\ntransaction:t1\nreceipt:c\n\n\0");
    assert_eq!(t.h.sent.len(), 1);
    t.input("BEGIN\ntransaction:t2\n\n\0SEND\ndestination:/topic/a\ntransaction:t2\n\n2\0ABORT\ntransaction:t2\n\n\0");
    assert_eq!(t.h.sent.len(), 1);
    t.input("COMMIT\ntransaction:t2\nreceipt:z\n\n\0");
    let f = t.output();
    let e = f.last().unwrap();
    assert_eq!(e.header("message"), Some("unknown transaction"));
    assert_eq!(e.header("receipt-id"), Some("z"));
}

#[test]
fn ack_modes() {
    let mut t = T::new(C12);
    t.input("SUBSCRIBE\nid:c\ndestination:/queue/q\nack:client\n\n\0");
    t.input("SUBSCRIBE\nid:i\ndestination:/queue/q\nack:client-individual\n\n\0");
    t.input("SUBSCRIBE\nid:a\ndestination:/topic/t\n\n\0");
    t.output();
    for b in [b"1", b"2", b"3"] {
        t.deliver("c", b, true);
    }
    t.deliver("i", b"4", true);
    t.deliver("i", b"5", true);
    t.deliver("a", b"6", false);
    let f = t.output();
    assert_eq!(f.len(), 6);
    assert_eq!(f[0].header("ack"), Some("1"));
    assert_eq!(f[0].header("reply-to"), Some("/queue/r"));
    assert_eq!(f[5].header("ack"), None);
    assert_eq!(t.s.unacked_count(), 5);
    // Cumulative ACK of message 2 covers 1 and 2.
    t.input("ACK\nid:2\n\n\0");
    assert_eq!(t.s.unacked_count(), 3);
    // Individual ACK of 5 leaves 4.
    t.input("ACK\nid:5\n\n\0");
    assert_eq!(t.s.unacked_count(), 2);
    // NACK 4 requeues it.
    t.input("NACK\nid:4\nreceipt:n\n\n\0");
    assert_eq!(t.h.requeued.len(), 1);
    assert_eq!(&t.h.requeued[0].msg.body[..], b"4");
    assert_eq!(t.output()[0].header("receipt-id"), Some("n"));
    // ACK inside a transaction waits for COMMIT.
    t.input("BEGIN\ntransaction:x\n\n\0ACK\nid:3\ntransaction:x\n\n\0");
    assert_eq!(t.s.unacked_count(), 1);
    t.input("COMMIT\ntransaction:x\n\n\0");
    assert_eq!(t.s.unacked_count(), 0);
    // An unknown id is an error.
    t.input("ACK\nid:99\nreceipt:q\n\n\0");
    let f = t.output();
    assert_eq!(f[0].header("message"), Some("unknown or already acknowledged message id"));
}

#[test]
fn ack_v11_uses_message_id_and_disconnect_requeues() {
    let mut t = T::new("CONNECT\naccept-version:1.1\n\n\0");
    t.input("SUBSCRIBE\nid:s\ndestination:/queue/q\nack:client-individual\n\n\0");
    t.output();
    t.deliver("s", b"1", true);
    t.deliver("s", b"2", true);
    let f = t.output();
    assert_eq!(f.len(), 2);
    let mid = f[1].header("message-id").unwrap().to_owned();
    assert_eq!(f[1].header("ack"), None);
    t.input(&format!("ACK\nmessage-id:{mid}\nsubscription:s\n\n\0"));
    assert_eq!(t.s.unacked_count(), 1);
    t.input("DISCONNECT\nreceipt:bye\n\n\0");
    assert_eq!(t.output()[0].header("receipt-id"), Some("bye"));
    assert!(t.s.is_closed());
    let end = t.s.finish();
    assert_eq!(end.unacked.len(), 1);
    assert_eq!(end.subscriptions.len(), 1);
}

#[test]
fn unsubscribe_requeues_and_limits() {
    let mut t = T::new(C12);
    t.input("SUBSCRIBE\nid:s\ndestination:/queue/q\nack:client\n\n\0");
    t.deliver("s", b"1", true);
    t.input("UNSUBSCRIBE\nid:s\nreceipt:u\n\n\0");
    assert_eq!(t.h.requeued.len(), 1);
    assert!(t.h.subs.is_empty());
    t.output();
    t.input("SUBSCRIBE\nid:s\ndestination:/queue/q\n\n\0SUBSCRIBE\nid:s\ndestination:/queue/q\nreceipt:d\n\n\0");
    let f = t.output();
    assert_eq!(f[0].header("message"), Some("duplicate subscription id"));
    assert_eq!(f[0].header("receipt-id"), Some("d"));
    let mut t = T::new(C12);
    t.input("SUBSCRIBE\ndestination:/queue/q\n\n\0");
    assert_eq!(t.output()[1].header("message"), Some("missing id header"));
    let mut t = T::new(C12);
    t.input("SUBSCRIBE\nid:1\ndestination:/nowhere\n\n\0");
    assert_eq!(t.output()[1].header("message"), Some("unknown destination"));
    let mut t = T::new(C12);
    t.input("SEND\ndestination:/topic/a\nbad\n\n\0");
    assert_eq!(t.output()[1].header("message"), Some("malformed header"));
}

#[test]
fn max_subscriptions() {
    let cfg = SessionConfig { max_subscriptions: 2, ..SessionConfig::default() };
    let now = Instant::now();
    let mut s = Session::new(Arc::new(cfg), now);
    let mut h = Mock::default();
    let mut b = BytesMut::from(&b"CONNECT\naccept-version:1.2\n\n\0"[..]);
    s.handle_read(now, &mut b, &mut h);
    assert!(s.take_auth().is_some());
    s.accept(now, "x");
    let mut b = BytesMut::from(
        &b"SUBSCRIBE\nid:1\ndestination:/topic/a\n\n\0SUBSCRIBE\nid:2\ndestination:/topic/a\n\n\0SUBSCRIBE\nid:3\ndestination:/topic/a\n\n\0"[..],
    );
    s.handle_read(now, &mut b, &mut h);
    assert_eq!(s.error(), Some("too many subscriptions"));
    assert_eq!(s.subscription_count(), 2);
}

#[test]
fn prefetch_limits_unacked_per_subscription() {
    let mut t = T::new(C12);
    t.input("SUBSCRIBE\nid:p\ndestination:/queue/q\nack:client-individual\nprefetch-count:2\n\n\0");
    t.input("SUBSCRIBE\nid:a\ndestination:/topic/t\nprefetch-count:1\n\n\0");
    t.output();
    for b in [b"1", b"2", b"3", b"4"] {
        t.deliver("p", b, true);
    }
    // Auto-ack subscriptions ignore the prefetch header.
    t.deliver("a", b"x", false);
    t.deliver("a", b"y", false);
    let f = t.output();
    let bodies: Vec<&[u8]> = f.iter().map(|f| &f.body[..]).collect();
    assert_eq!(bodies, [&b"1"[..], b"2", b"x", b"y"]);
    assert!(t.s.is_holding());
    // Each ACK opens the window by one, in order.
    t.input("ACK\nid:1\n\n\0");
    let f = t.output();
    assert_eq!(f.iter().map(|f| &f.body[..]).collect::<Vec<_>>(), [b"3"]);
    t.input("NACK\nid:2\n\n\0");
    let f = t.output();
    assert_eq!(f.iter().map(|f| &f.body[..]).collect::<Vec<_>>(), [b"4"]);
    assert!(!t.s.is_holding());
    assert_eq!(t.s.unacked_count(), 2);
    t.deliver("p", b"5", true);
    assert!(t.s.is_holding());
    // Held messages go back to the queue with the unacknowledged ones when the connection ends.
    let end = t.s.finish();
    let mut back: Vec<u8> = end.unacked.iter().map(|d| d.msg.body[0]).collect();
    back.sort_unstable();
    assert_eq!(back, b"345");
    // A bad prefetch value is an error.
    let mut t = T::new(C12);
    t.input("SUBSCRIBE\nid:p\ndestination:/queue/q\nack:client\nprefetch-count:lots\nreceipt:r\n\n\0");
    let f = t.output();
    assert_eq!(f.last().and_then(|f| f.header("message")), Some("invalid prefetch-count header"));
}

#[test]
fn temp_queue_reply_to() {
    let mut t = T::new(C12);
    t.output();
    for _ in 0..2 {
        t.input("SEND\ndestination:/queue/rpc\nreply-to:/temp-queue/r\n\nq\0");
    }
    // One private queue, subscribed once with the temp-queue destination as its id.
    assert_eq!(t.h.subs, vec![("/temp-queue/r".into(), Destination::Queue("/queue/amq.gen-s1-r".into()))]);
    assert_eq!(t.s.subscription_count(), 1);
    for m in &t.h.sent {
        assert!(m.headers.iter().any(|(n, v)| &**n == "reply-to" && &**v == "/reply-queue/amq.gen-s1-r"));
    }
    // Replies arrive with the temp-queue subscription id.
    t.deliver("/temp-queue/r", b"answer", true);
    let f = t.output();
    assert_eq!(f[0].header("subscription"), Some("/temp-queue/r"));
    t.input("SEND\ndestination:/queue/rpc\nreply-to:/temp-queue/\nreceipt:x\n\n\0");
    assert_eq!(t.output()[0].header("message"), Some("invalid temp-queue destination"));
}
