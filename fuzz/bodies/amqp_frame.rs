//! Feeds arbitrary bytes to the AMQP 0-9-1 frame decoder and to a connection state machine that
//! has completed the handshake (so the bytes reach channels, content assembly, acks and the
//! broker). Nothing may panic; a decoded method must re-encode and decode to the same method.
use bytes::BytesMut;
use starling::bridge::amqp::broker::{Broker, BrokerConfig};
use starling::bridge::amqp::connection::{Connection, ConnectionConfig};
use starling::bridge::amqp::frames::{decode, encode_method, Frame};
use std::time::{Duration, Instant};

fn handshake() -> Vec<u8> {
    use amq_protocol::protocol::{connection, AMQPClass};
    let mut out = b"AMQP\x00\x00\x09\x01".to_vec();
    let start_ok = connection::StartOk {
        mechanism: "PLAIN".into(),
        response: "\0guest\0guest".into(),
        locale: "en_US".into(),
        ..Default::default()
    };
    encode_method(0, AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)), &mut out);
    let tune = connection::TuneOk { channel_max: 16, frame_max: 131_072, heartbeat: 0 };
    encode_method(0, AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune)), &mut out);
    let open = connection::Open { virtual_host: "/".into() };
    encode_method(0, AMQPClass::Connection(connection::AMQPMethod::Open(open)), &mut out);
    out
}

/// Runs one input; panics on a bug.
pub fn run(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = decode(&mut buf, 1 << 20) {
        if let Frame::Method { channel, method } = f {
            let mut out = Vec::new();
            encode_method(channel, (*method).clone(), &mut out);
            let mut again = BytesMut::from(&out[..]);
            assert_eq!(decode(&mut again, 1 << 20), Ok(Some(Frame::Method { channel, method })));
        }
    }

    let mut broker = Broker::new(BrokerConfig::default());
    let (id, _notify) = broker.connect();
    let t0 = Instant::now();
    let mut c = Connection::new(ConnectionConfig::default(), id, true, t0);
    let mut hs = BytesMut::from(&handshake()[..]);
    c.handle_input(t0, &mut hs, &mut broker);
    if let Some(req) = c.poll_auth() {
        c.auth_done(t0, Ok(req.username));
    }
    c.handle_input(t0, &mut hs, &mut broker);
    // Split the input in two chunks at a data-dependent point.
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut rbuf = BytesMut::new();
    for (i, chunk) in [&data[..cut], &data[cut..]].into_iter().enumerate() {
        let now = t0 + Duration::from_millis(10 * i as u64);
        rbuf.extend_from_slice(chunk);
        c.handle_input(now, &mut rbuf, &mut broker);
        c.pump(now, &mut broker, 1 << 20);
        let _ = c.take_output(now);
        broker.tick(now);
    }
    c.handle_timeout(t0 + Duration::from_secs(30));
    c.finish(t0 + Duration::from_secs(30), &mut broker);
}
