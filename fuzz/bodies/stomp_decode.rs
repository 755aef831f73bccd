//! Feeds arbitrary bytes to the STOMP decoder (before CONNECT and as each version) and to a live
//! session, in random chunk sizes. Nothing may panic; whatever decodes must re-encode and decode
//! to the same frame.
use bytes::BytesMut;
use starling::bridge::stomp::broker::{Delivery, Destination, Message};
use starling::bridge::stomp::codec::{encode, Decoder, Item, Limits, Version};
use starling::bridge::stomp::session::{Host, Session, SessionConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Null;

impl Host for Null {
    fn send(&mut self, _: &Destination, _: Message) -> Result<(), String> {
        Ok(())
    }
    fn subscribe(&mut self, _: &Arc<str>, _: &Destination) -> Result<(), String> {
        Ok(())
    }
    fn unsubscribe(&mut self, _: &str, _: &Destination) {}
    fn requeue(&mut self, _: Vec<Delivery>) {}
}

/// Runs one input; panics on a bug.
pub fn run(data: &[u8]) {
    let limits = Limits { max_frame_size: 1 << 16, max_headers: 32, max_header_len: 1024 };
    for version in [None, Some(Version::V10), Some(Version::V11), Some(Version::V12)] {
        let mut d = Decoder::new();
        let mut buf = BytesMut::from(data);
        while let Ok(Some(item)) = d.decode(&mut buf, version, &limits) {
            let Item::Frame(f) = item else { continue };
            let v = version.unwrap_or(Version::V12);
            let mut out = BytesMut::new();
            encode(&f, v, &mut out);
            let mut d2 = Decoder::new();
            // Re-encoding may add a content-length header (the 33rd of 32 allowed) and escaping lengthens
            // lines: the second decode is not bound by the first one's limits.
            let unlimited = Limits { max_frame_size: usize::MAX, max_headers: usize::MAX, max_header_len: usize::MAX };
            let again = d2.decode(&mut out, Some(v), &unlimited);
            let Ok(Some(Item::Frame(g))) = again else { panic!("re-encoded frame does not decode") };
            assert_eq!(g.command, f.command);
            assert_eq!(g.body, f.body);
            // Without escaping (1.0, CONNECT) a value with a newline does not survive, nor one ending
            // in CR in 1.1; with 1.2 escaping every header must.
            if version == Some(Version::V12) && f.command.escapes_headers() {
                assert_eq!(g.headers[..f.headers.len()], f.headers[..]);
            }
        }
    }
    let now = Instant::now();
    let cfg = SessionConfig { limits, heart_beat: (100, 100), ..SessionConfig::default() };
    let mut s = Session::new(Arc::new(cfg), now);
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut buf = BytesMut::new();
    for (i, part) in data.chunks(chunk).enumerate() {
        buf.extend_from_slice(part);
        let t = now + Duration::from_millis(i as u64 * 50);
        s.received(t);
        s.handle_read(t, &mut buf, &mut Null);
        if s.take_auth().is_some() {
            s.accept(t, "fuzz");
            s.handle_read(t, &mut buf, &mut Null);
        }
        s.handle_timeout(t);
        let _ = s.take_output();
        if s.is_closed() {
            break;
        }
    }
    let _ = s.finish();
}
