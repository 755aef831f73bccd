//! Feeds arbitrary bytes to the MQTT codec (before CONNECT, as 3.1.1 and as 5.0) and to a live
//! server session, in random chunk sizes. Nothing may panic; whatever decodes must re-encode and
//! decode to the same packet.
use bytes::BytesMut;
use starling::bridge::mqtt::codec::{decode, encode, Version};
use starling::bridge::mqtt::session::{Session, SessionConfig};
use std::time::{Duration, Instant};

/// Runs one input; panics on a bug.
pub fn run(data: &[u8]) {
    for version in [None, Some(Version::V311), Some(Version::V5)] {
        let mut buf = BytesMut::from(data);
        while let Ok(Some(p)) = decode(&mut buf, version, 1 << 20) {
            let v = version.unwrap_or(Version::V5);
            let v = match &p {
                starling::bridge::mqtt::codec::Packet::Connect(c) => c.version,
                _ => v,
            };
            let mut out = BytesMut::new();
            if encode(&p, v, &mut out, usize::MAX).is_ok() {
                let again = decode(&mut out, Some(v), usize::MAX).ok().flatten();
                if version.is_some() {
                    assert_eq!(again.as_ref(), Some(&p));
                }
            }
        }
    }
    // A session fed the bytes in chunks whose sizes come from the first byte.
    let now = Instant::now();
    let mut s = Session::new(SessionConfig { max_packet_size: 4096, ..SessionConfig::default() }, now);
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut buf = BytesMut::new();
    for (i, part) in data.chunks(chunk).enumerate() {
        buf.extend_from_slice(part);
        let t = now + Duration::from_millis(i as u64 * 100);
        while s.handle_read(t, &mut buf) {
            while let Some(a) = s.poll_action() {
                if let starling::bridge::mqtt::session::Action::Connect(c) = a {
                    s.accept(t, c.client_id.as_str().into(), false, false, None);
                }
            }
        }
        s.output().clear();
        if s.is_closed() {
            break;
        }
    }
}
