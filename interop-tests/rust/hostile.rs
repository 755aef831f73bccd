//! Hostile-input tests on real sockets.
//!
//! Two live participants (DDS API) exchange ShapeType samples over `lo`
//! while a raw UDP socket sends them crafted datagrams: forged ACKNACKs,
//! DATA_FRAG with absurd fragment counts and sample sizes, sequence numbers
//! near `i64::MAX`, floods of fake participants and endpoints, endless GAPs,
//! truncated headers and garbage. After each attack the tests check that the
//! process is still alive, that the real stream still flows in order, that
//! the counters moved where expected, and that resident memory stays under a
//! generous bound (the figures are printed).
//!
//! Like `runtime.rs`, each test re-executes this binary inside a private
//! network namespace (`unshare -n`, needs root). Waits are bounded; no bare
//! sleeps.

mod common;
use common::in_netns;
use starling::dds::{DataReader, DataWriter, DomainParticipant, ParticipantLimits};
use starling::qos::{EndpointQos, History, Reliability, XCDR1, XCDR2};
use starling::types::ShapeType;
use starling_proto::core::Stats;
use starling_proto::discovery::{EndpointData, ParticipantData};
use starling_proto::wire::{
    AckNack, Data, DataFrag, EntityId, Gap, GuidPrefix, Header, Heartbeat, Locator, MessageBuilder, ParameterList,
    ParameterListWriter, ProtocolVersion, SequenceNumber, SequenceNumberSet, VendorId,
};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// Resident set size of this process in KiB (VmRSS).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS line")
}

fn shape(color: &str, x: i32) -> ShapeType {
    starling::cli::JsonSample::from_json(serde_json::json!({"color": color, "x": x, "y": 2 * x, "shapesize": 30}))
        .expect("valid shape")
}

/// Two participants on `lo`, a reliable KEEP_ALL writer in `pa` matched with a reader in `pb`, and a raw socket.
struct Rig {
    pa: DomainParticipant,
    pb: DomainParticipant,
    writer: DataWriter<ShapeType>,
    reader: DataReader<ShapeType>,
    raw: UdpSocket,
    next_x: i32,
    rss_start: u64,
}

fn ports(p: &DomainParticipant) -> (SocketAddr, SocketAddr) {
    let meta = 7410 + 2 * p.participant_id() as u16;
    (SocketAddr::from((Ipv4Addr::LOCALHOST, meta)), SocketAddr::from((Ipv4Addr::LOCALHOST, meta + 1)))
}

impl Rig {
    fn new() -> Rig {
        Rig::with_limits(None)
    }

    /// The rig, with `limits` on the subscribing participant `pb` when given.
    fn with_limits(limits: Option<ParticipantLimits>) -> Rig {
        let pa = DomainParticipant::builder(0).interface("lo").name("victim-pub").build().expect("participant a");
        let mut b = DomainParticipant::builder(0).interface("lo").name("victim-sub");
        if let Some(l) = limits {
            b = b.limits(l);
        }
        let pb = b.build().expect("participant b");
        let mut wq = EndpointQos::writer_default();
        wq.reliability = Reliability::reliable();
        wq.history = History::KeepAll;
        let mut rq = EndpointQos::reader_default();
        rq.reliability = Reliability::reliable();
        rq.history = History::KeepAll;
        rq.data_representation = vec![XCDR1, XCDR2];
        let writer = pa.create_datawriter(&pa.create_topic::<ShapeType>("Square"), Some(wq)).expect("writer");
        let reader = pb.create_datareader(&pb.create_topic::<ShapeType>("Square"), Some(rq)).expect("reader");
        writer.wait_for_subscribers_blocking(1, WAIT).expect("writer matches the reader");
        reader.wait_for_publishers_blocking(1, WAIT).expect("reader matches the writer");
        let raw = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("raw socket");
        let mut rig = Rig { pa, pb, writer, reader, raw, next_x: 0, rss_start: 0 };
        rig.flows(20, "before any attack");
        rig.rss_start = rss_kib();
        rig
    }

    /// Writes `n` samples and checks that the reader takes exactly those, in order.
    fn flows(&mut self, n: i32, when: &str) {
        let first = self.next_x;
        for x in first..first + n {
            self.writer.write(&shape(if x % 2 == 0 { "BLUE" } else { "RED" }, x)).expect("write");
        }
        let mut got = Vec::new();
        let deadline = Instant::now() + WAIT;
        while got.len() < n as usize {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reader.take_next_blocking(left) {
                Ok(s) => {
                    if let Some(d) = s.data.filter(|_| s.info.valid_data) {
                        got.push(d.x);
                    }
                }
                Err(e) => panic!("{when}: only {} of {n} samples arrived ({e}): {got:?}", got.len()),
            }
        }
        assert_eq!(got, (first..first + n).collect::<Vec<_>>(), "{when}: samples out of order or foreign");
        self.next_x += n;
    }

    /// Sends `dgrams` to `to`, pacing so that the socket buffers never overflow: after each batch it waits
    /// (bounded) until `victim` has handled them all.
    fn send_all(&self, victim: &DomainParticipant, to: SocketAddr, dgrams: &[Vec<u8>]) {
        for batch in dgrams.chunks(256) {
            let before = victim.stats().datagrams_received;
            for d in batch {
                self.raw.send_to(d, to).expect("send crafted datagram");
            }
            let want = before + batch.len() as u64;
            wait_until(Duration::from_secs(10), || victim.stats().datagrams_received >= want);
        }
    }

    /// Final checks and the memory figure: traffic flows, RSS grew by at most `bound_mib`.
    fn finish(mut self, what: &str, bound_mib: u64) -> (Stats, Stats) {
        self.flows(50, &format!("after {what}"));
        let rss = rss_kib();
        let grown = rss.saturating_sub(self.rss_start);
        eprintln!(
            "[hostile] {what}: RSS {} KiB -> {} KiB (+{} KiB); pub stats {:?}; sub stats {:?}",
            self.rss_start,
            rss,
            grown,
            self.pa.stats(),
            self.pb.stats()
        );
        assert!(grown < bound_mib * 1024, "{what}: RSS grew by {grown} KiB (bound {bound_mib} MiB)");
        (self.pa.stats(), self.pb.stats())
    }
}

/// Polls `cond` until it holds or `limit` passes (returns its final value).
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(2));
    }
    cond()
}

fn header(prefix: GuidPrefix) -> Header {
    Header { version: ProtocolVersion::V2_5, vendor_id: VendorId::STARLING, guid_prefix: prefix }
}

fn fake_prefix(i: u32) -> GuidPrefix {
    let mut p = [0xeeu8; 12];
    p[8..].copy_from_slice(&i.to_be_bytes());
    GuidPrefix(p)
}

fn full_set(base: i64) -> SequenceNumberSet {
    SequenceNumberSet { base: SequenceNumber(base), num_bits: 256, bitmap: [u32::MAX; 8] }
}

fn msg(prefix: GuidPrefix, dst: Option<GuidPrefix>, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut m = MessageBuilder::new(header(prefix));
    if let Some(d) = dst {
        m.info_dst(d);
    }
    f(m.buf_mut());
    m.finish()
}

/// A DATA carrying a serialized discovery payload, with the key hash as inline QoS.
fn discovery_data(
    prefix: GuidPrefix,
    writer: EntityId,
    reader: EntityId,
    sn: i64,
    key: [u8; 16],
    payload: &[u8],
) -> Vec<u8> {
    let mut qos = Vec::new();
    let mut w = ParameterListWriter::new(&mut qos, starling_proto::wire::Endian::Little);
    w.raw(starling_proto::wire::pid::KEY_HASH, &key);
    w.finish();
    msg(prefix, None, |b| {
        Data {
            reader_id: reader,
            writer_id: writer,
            writer_sn: SequenceNumber(sn),
            inline_qos: Some(ParameterList::new(&qos, starling_proto::wire::Endian::Little)),
            serialized_payload: Some(payload),
            key_flag: false,
            non_standard_payload: false,
        }
        .encode(b)
    })
}

fn spdp(prefix: GuidPrefix, lease_secs: i32) -> Vec<u8> {
    let mut pd = ParticipantData::new(prefix);
    pd.domain_id = Some(0);
    // Locators nobody listens on: the victim's replies go nowhere.
    pd.metatraffic_unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 9)];
    pd.default_unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 9)];
    pd.lease_duration = starling_proto::wire::Duration { seconds: lease_secs, fraction: 0 };
    pd.builtin_endpoints = 0x3f; // SPDP + SEDP publications/subscriptions announcers and detectors
    let mut payload = Vec::new();
    pd.encode(&mut payload);
    discovery_data(prefix, EntityId::SPDP_WRITER, EntityId::SPDP_READER, 1, pd.guid().to_bytes(), &payload)
}

#[test]
fn garbage_and_truncated_datagrams() {
    if !in_netns("garbage_and_truncated_datagrams") {
        return;
    }
    let rig = Rig::new();
    let before = rig.pb.stats();
    let real = msg(fake_prefix(1), None, |b| {
        Heartbeat {
            reader_id: EntityId::UNKNOWN,
            writer_id: EntityId::new(1, 2),
            first_sn: SequenceNumber(1),
            last_sn: SequenceNumber(5),
            count: 1,
            final_flag: false,
            liveliness_flag: false,
        }
        .encode(b)
    });
    let mut dgrams: Vec<Vec<u8>> = Vec::new();
    // Every truncation of a valid message, and every single-byte corruption of its submessage header.
    for n in 0..real.len() {
        dgrams.push(real[..n].to_vec());
    }
    for i in 20..24 {
        for v in [0x00, 0x7f, 0xff] {
            let mut d = real.clone();
            d[i] = v;
            dgrams.push(d);
        }
    }
    // Submessage lengths pointing past the end, zero-length submessages, wrong versions, pseudo-random garbage.
    let mut d = real.clone();
    d[22] = 0xff;
    d[23] = 0xff;
    dgrams.push(d);
    dgrams.push([&real[..20], &[0x07, 0x01, 0x00, 0x00][..]].concat());
    dgrams.push([b"RTPS\x03\x00".as_slice(), &real[6..]].concat());
    dgrams.push([b"RTPS\x02\x05\x01\xff".as_slice(), &[0u8; 12], &[0x15, 0x01, 0xff, 0xff]].concat());
    let mut seed = 0x1234_5678_9abc_def0u64;
    for i in 0..2000 {
        let len = 1 + (i * 37) % 1400;
        let mut g = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            g.push(seed as u8);
        }
        if i % 2 == 0 && len > 24 {
            g[..4].copy_from_slice(b"RTPS");
            g[4] = 2;
        }
        dgrams.push(g);
    }
    let (meta, user) = ports(&rig.pb);
    rig.send_all(&rig.pb, meta, &dgrams);
    rig.send_all(&rig.pb, user, &dgrams);
    let after = rig.pb.stats();
    let bad =
        (after.datagrams_malformed + after.datagrams_ignored) - (before.datagrams_malformed + before.datagrams_ignored);
    assert!(after.datagrams_malformed > before.datagrams_malformed, "{before:?} -> {after:?}");
    assert!(bad >= 2000, "only {bad} of {} crafted datagrams were counted as malformed/ignored", 2 * dgrams.len());
    rig.finish("garbage and truncated headers", 64);
}

#[test]
fn forged_acknacks() {
    if !in_netns("forged_acknacks") {
        return;
    }
    let rig = Rig::new();
    let wid = rig.writer.guid().entity_id;
    let real_reader = rig.reader.guid();
    let mut dgrams = Vec::new();
    for (i, base) in [1i64, 0, -5, 1 << 40, i64::MAX - 300, i64::MAX, i64::MIN].into_iter().enumerate() {
        for count in [1u32, u32::MAX] {
            let an = |reader_id| AckNack {
                reader_id,
                writer_id: wid,
                reader_sn_state: full_set(base),
                count: count.wrapping_add(i as u32),
                final_flag: false,
            };
            // From an unknown reader, and spoofing the real reader (same prefix and entity id).
            dgrams.push(msg(fake_prefix(7), Some(rig.pa.guid_prefix()), |b| an(EntityId::new(1, 7)).encode(b)));
            dgrams.push(msg(real_reader.prefix, Some(rig.pa.guid_prefix()), |b| an(real_reader.entity_id).encode(b)));
        }
    }
    // Bitmaps claiming more bits than the wire allows: patch num_bits to 2^32-1 in an encoded ACKNACK.
    let mut big = msg(fake_prefix(8), None, |b| {
        AckNack {
            reader_id: EntityId::new(1, 7),
            writer_id: wid,
            reader_sn_state: full_set(1),
            count: 1,
            final_flag: false,
        }
        .encode(b)
    });
    let nb = 20 + 4 + 8 + 8; // header, submessage header, ids, base
    big[nb..nb + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    dgrams.push(big);
    let repeat: Vec<Vec<u8>> = dgrams.iter().cycle().take(dgrams.len() * 50).cloned().collect();
    let (meta, user) = ports(&rig.pa);
    rig.send_all(&rig.pa, user, &repeat);
    rig.send_all(&rig.pa, meta, &dgrams);
    let (pa, _) = rig.finish("forged ACKNACKs", 64);
    assert!(pa.datagrams_malformed >= 1, "the oversized bitmap was not counted as malformed: {pa:?}");
}

#[test]
fn data_frag_bombs() {
    if !in_netns("data_frag_bombs") {
        return;
    }
    let rig = Rig::new();
    let wguid = rig.writer.guid();
    let rid = rig.reader.guid().entity_id;
    let before = rig.pb.stats();
    let chunk = [0u8; 1024];
    let frag = |sn: i64, start: u32, count: u16, size: u16, sample: u32, data: &[u8]| {
        // Spoofing the real writer, so that the fragments reach the matched reader.
        msg(wguid.prefix, None, |b| {
            DataFrag {
                reader_id: rid,
                writer_id: wguid.entity_id,
                writer_sn: SequenceNumber(sn),
                fragment_starting_num: start,
                fragments_in_submessage: count,
                fragment_size: size,
                sample_size: sample,
                inline_qos: None,
                key_flag: false,
                data,
            }
            .encode(b)
        })
    };
    let mut dgrams = Vec::new();
    let far = 1_000_000i64;
    // Sample sizes of 4 GB, fragment numbers at 2^32-1, fragment counts that overflow, zero-size fragments.
    dgrams.push(frag(far, 1, 1, 1024, u32::MAX, &chunk));
    dgrams.push(frag(far + 1, u32::MAX, 1, 1024, u32::MAX, &chunk));
    dgrams.push(frag(far + 2, u32::MAX - 1, u16::MAX, 1024, 100_000, &chunk));
    dgrams.push(frag(far + 3, 1, 1, 0, 100_000, &chunk));
    dgrams.push(frag(far + 4, 0, 1, 1024, 100_000, &chunk));
    dgrams.push(frag(far + 5, 1, 1, 1024, 0, &chunk));
    dgrams.push(frag(far + 6, 1, 1, u16::MAX, 4096, &chunk));
    dgrams.push(frag(i64::MAX, 1, 1, 1024, 200 * 1024 * 1024, &chunk));
    // Many half-announced large samples (under max_sample_size): does reassembly memory stay bounded?
    for i in 0..2000 {
        dgrams.push(frag(far + 100 + i, 1, 1, 1024, 200 * 1024 * 1024, &chunk));
    }
    let (_, user) = ports(&rig.pb);
    rig.send_all(&rig.pb, user, &dgrams);
    let after = rig.pb.stats();
    eprintln!(
        "[hostile] DATA_FRAG: fragments_dropped {} -> {}, malformed {} -> {}",
        before.fragments_dropped, after.fragments_dropped, before.datagrams_malformed, after.datagrams_malformed
    );
    assert!(
        after.fragments_dropped + after.datagrams_malformed > before.fragments_dropped + before.datagrams_malformed,
        "no DATA_FRAG was refused: {after:?}"
    );
    rig.finish("DATA_FRAG bombs", 256);
}

#[test]
fn sequence_numbers_near_max_and_endless_gaps_from_unknown_writers() {
    if !in_netns("sequence_numbers_near_max_and_endless_gaps_from_unknown_writers") {
        return;
    }
    let rig = Rig::new();
    let rid = rig.reader.guid().entity_id;
    let fake_writer = EntityId::new(0x77, 2);
    let mut dgrams = Vec::new();
    for (i, sn) in [i64::MAX, i64::MAX - 1, i64::MIN, -1, 0, 1 << 62].into_iter().enumerate() {
        let p = fake_prefix(100 + i as u32);
        dgrams.push(msg(p, None, |b| {
            Heartbeat {
                reader_id: rid,
                writer_id: fake_writer,
                first_sn: SequenceNumber(1),
                last_sn: SequenceNumber(sn),
                count: 1,
                final_flag: false,
                liveliness_flag: true,
            }
            .encode(b)
        }));
        dgrams.push(msg(p, None, |b| {
            Data {
                reader_id: rid,
                writer_id: fake_writer,
                writer_sn: SequenceNumber(sn),
                inline_qos: None,
                serialized_payload: Some(&[0, 1, 0, 0, 1, 2, 3, 4]),
                key_flag: false,
                non_standard_payload: false,
            }
            .encode(b)
        }));
    }
    for i in 0..5000i64 {
        dgrams.push(msg(fake_prefix(200), None, |b| {
            Gap {
                reader_id: rid,
                writer_id: fake_writer,
                gap_start: SequenceNumber(1 + i * 256),
                gap_list: full_set(i64::MAX - 256),
            }
            .encode(b)
        }));
    }
    let (_, user) = ports(&rig.pb);
    rig.send_all(&rig.pb, user, &dgrams);
    rig.finish("SNs near i64::MAX and endless GAPs from unknown writers", 64);
}

/// The same sequence-number attacks, but spoofing the real writer's GUID (RTPS has no authentication, so a
/// peer on the path can do this): the real stream must survive a GAP or HEARTBEAT that jumps to i64::MAX.
#[test]
fn sequence_numbers_near_max_spoofing_the_real_writer() {
    if !in_netns("sequence_numbers_near_max_spoofing_the_real_writer") {
        return;
    }
    let rig = Rig::new();
    let w = rig.writer.guid();
    let rid = rig.reader.guid().entity_id;
    let mut dgrams = Vec::new();
    dgrams.push(msg(w.prefix, None, |b| {
        Heartbeat {
            reader_id: rid,
            writer_id: w.entity_id,
            first_sn: SequenceNumber(1),
            last_sn: SequenceNumber(i64::MAX),
            count: u32::MAX,
            final_flag: false,
            liveliness_flag: false,
        }
        .encode(b)
    }));
    dgrams.push(msg(w.prefix, None, |b| {
        Data {
            reader_id: rid,
            writer_id: w.entity_id,
            writer_sn: SequenceNumber(i64::MAX),
            inline_qos: None,
            serialized_payload: Some(&[0, 1, 0, 0, 1, 2, 3, 4]),
            key_flag: false,
            non_standard_payload: false,
        }
        .encode(b)
    }));
    let (_, user) = ports(&rig.pb);
    rig.send_all(&rig.pb, user, &dgrams);
    rig.finish("HEARTBEAT/DATA at i64::MAX spoofing the real writer", 64);
}

#[test]
fn thousands_of_fake_participants() {
    if !in_netns("thousands_of_fake_participants") {
        return;
    }
    let rig = Rig::new();
    const N: u32 = 5000;
    let dgrams: Vec<Vec<u8>> = (0..N).map(|i| spdp(fake_prefix(i), 300)).collect();
    let (meta, _) = ports(&rig.pb);
    let t = Instant::now();
    rig.send_all(&rig.pb, meta, &dgrams);
    let took = t.elapsed();
    let known = rig.pb.discovered_participants().len();
    let s = rig.pb.stats();
    eprintln!(
        "[hostile] {N} fake SPDP participants handled in {took:?}: {known} kept, {} rejected",
        s.participants_rejected
    );
    assert!(known <= 1025 + 1, "participant table is not bounded: {known} entries after {N} fake participants");
    assert!(s.participants_rejected > 0, "{s:?}");
    rig.finish("5000 fake participants", 128);
}

#[test]
fn thousands_of_fake_endpoints() {
    if !in_netns("thousands_of_fake_endpoints") {
        return;
    }
    let rig = Rig::new();
    let fake = fake_prefix(0xabcd);
    let (meta, _) = ports(&rig.pb);
    rig.send_all(&rig.pb, meta, &[spdp(fake, 300)]);
    assert!(
        wait_until(WAIT, || rig.pb.discovered_participants().iter().any(|p| p.guid_prefix == fake)),
        "the fake participant was not discovered"
    );
    const N: u32 = 20_000;
    let mut dgrams = Vec::new();
    for i in 0..N {
        let guid = starling_proto::wire::Guid::new(fake, EntityId::new(i + 1, 2));
        // Half of them on the victim's topic, so they match the real reader.
        let topic = if i % 2 == 0 { "Square" } else { "Other" };
        let mut ep = EndpointData::new(guid, topic, "ShapeType", EndpointQos::writer_default());
        ep.unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 9)];
        let mut payload = Vec::new();
        ep.encode(&mut payload);
        dgrams.push(discovery_data(
            fake,
            EntityId::SEDP_PUBLICATIONS_WRITER,
            EntityId::SEDP_PUBLICATIONS_READER,
            i64::from(i) + 1,
            guid.to_bytes(),
            &payload,
        ));
    }
    let t = Instant::now();
    rig.send_all(&rig.pb, meta, &dgrams);
    let took = t.elapsed();
    let known = rig.pb.discovered_writers().len();
    let s = rig.pb.stats();
    eprintln!(
        "[hostile] {N} fake SEDP writers handled in {took:?}: {known} kept, {} rejected; reader matched {}",
        s.endpoints_rejected,
        rig.reader.subscription_matched_status().current_count
    );
    assert!(known <= 16_384 + 1, "endpoint table is not bounded: {known}");
    rig.finish("20000 fake endpoints", 256);
}

/// Endless GAPs spoofing the real writer for sequence numbers already delivered change nothing.
#[test]
fn forged_gaps_for_delivered_sequence_numbers() {
    if !in_netns("forged_gaps_for_delivered_sequence_numbers") {
        return;
    }
    let rig = Rig::new();
    let w = rig.writer.guid();
    let rid = rig.reader.guid().entity_id;
    // 20 samples were written and delivered by Rig::new (sequence numbers 1..=20).
    let dgrams: Vec<Vec<u8>> = (0..5000i64)
        .map(|i| {
            msg(w.prefix, None, |b| {
                Gap {
                    reader_id: rid,
                    writer_id: w.entity_id,
                    gap_start: SequenceNumber(1 + i % 20),
                    gap_list: SequenceNumberSet::new(SequenceNumber(1 + i % 20)),
                }
                .encode(b)
            })
        })
        .collect();
    let (_, user) = ports(&rig.pb);
    rig.send_all(&rig.pb, user, &dgrams);
    rig.finish("5000 GAPs for delivered sequence numbers, spoofing the real writer", 64);
}

/// A GAP spoofing the real writer that declares sequence numbers irrelevant before the writer has even
/// announced them (21..=1020, while it has written 20). RTPS has no authentication, but a reader could refuse
/// GAP ranges beyond the highest sequence number the writer announced (HEARTBEAT last_sn / DATA), and
/// Starling's does: the real samples must keep arriving.
#[test]
fn forged_gap_for_future_sequence_numbers() {
    if !in_netns("forged_gap_for_future_sequence_numbers") {
        return;
    }
    let rig = Rig::new();
    let w = rig.writer.guid();
    let rid = rig.reader.guid().entity_id;
    let future = msg(w.prefix, None, |b| {
        Gap {
            reader_id: rid,
            writer_id: w.entity_id,
            gap_start: SequenceNumber(21),
            gap_list: SequenceNumberSet::new(SequenceNumber(1021)),
        }
        .encode(b)
    });
    let (_, user) = ports(&rig.pb);
    rig.send_all(&rig.pb, user, &[future]);
    rig.finish("a forged GAP for future sequence numbers", 64);
}

/// Tracing output of this process (the test body runs alone in its re-executed process), WARN and above.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install() -> Captured {
        let c = Captured::default();
        let w = c.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || w.clone())
            .init();
        c
    }

    /// Lines that contain `needle`.
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).lines().filter(|l| l.contains(needle)).count()
    }
}

/// Limits set with `DomainParticipantBuilder::limits` hold on a live participant: fake participants beyond
/// `max_participants`, endpoints beyond `max_endpoints_per_participant`, and fragmented samples beyond
/// `max_sample_size` are dropped and counted; each kind of limit is logged once however many datagrams hit it;
/// the real stream keeps flowing.
#[test]
fn configured_limits_are_enforced_and_logged_once() {
    if !in_netns("configured_limits_are_enforced_and_logged_once") {
        return;
    }
    let log = Captured::install();
    let limits = ParticipantLimits {
        max_participants: 8,
        max_remote_endpoints: 256,
        max_endpoints_per_participant: 16,
        max_sample_size: 64 * 1024,
        max_reassembly_bytes: 256 * 1024,
        max_fragmented_samples_per_writer: 2,
    };
    let rig = Rig::with_limits(Some(limits));
    let (meta, user) = ports(&rig.pb);
    // 200 fake participants: the real one (pa) and 7 fakes fit.
    let spdps: Vec<Vec<u8>> = (0..200).map(|i| spdp(fake_prefix(i), 300)).collect();
    rig.send_all(&rig.pb, meta, &spdps);
    let known: Vec<GuidPrefix> = rig.pb.discovered_participants().iter().map(|p| p.guid_prefix).collect();
    assert!(known.len() <= 8, "{} participants known with max_participants 8", known.len());
    assert!(known.contains(&rig.pa.guid_prefix()), "the real peer was pushed out");
    let fake = *known.iter().find(|p| **p != rig.pa.guid_prefix()).expect("some fake participant was accepted");
    // 100 endpoints from one accepted fake participant: 16 fit.
    let seds: Vec<Vec<u8>> = (0..100u32)
        .map(|i| {
            let guid = starling_proto::wire::Guid::new(fake, EntityId::new(i + 1, 2));
            let mut ep = EndpointData::new(guid, "Other", "ShapeType", EndpointQos::writer_default());
            ep.unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 9)];
            let mut payload = Vec::new();
            ep.encode(&mut payload);
            discovery_data(
                fake,
                EntityId::SEDP_PUBLICATIONS_WRITER,
                EntityId::SEDP_PUBLICATIONS_READER,
                i64::from(i) + 1,
                guid.to_bytes(),
                &payload,
            )
        })
        .collect();
    rig.send_all(&rig.pb, meta, &seds);
    let fake_writers = rig.pb.discovered_writers().iter().filter(|w| w.guid.prefix == fake).count();
    assert!(fake_writers <= 16, "{fake_writers} endpoints of one participant with max_endpoints_per_participant 16");
    // 300 first fragments of samples over max_sample_size, spoofing the real writer.
    let w = rig.writer.guid();
    let rid = rig.reader.guid().entity_id;
    let chunk = [0u8; 1024];
    let frags: Vec<Vec<u8>> = (0..300i64)
        .map(|i| {
            msg(w.prefix, None, |b| {
                DataFrag {
                    reader_id: rid,
                    writer_id: w.entity_id,
                    writer_sn: SequenceNumber(1_000_000 + i),
                    fragment_starting_num: 1,
                    fragments_in_submessage: 1,
                    fragment_size: 1024,
                    sample_size: 100 * 1024,
                    inline_qos: None,
                    key_flag: false,
                    data: &chunk,
                }
                .encode(b)
            })
        })
        .collect();
    rig.send_all(&rig.pb, user, &frags);
    let s = rig.pb.stats();
    eprintln!("[hostile] configured limits: {s:?}");
    assert!(s.participants_rejected >= 190, "{s:?}");
    assert!(s.endpoints_rejected >= 84, "{s:?}");
    assert!(s.fragments_dropped >= 300, "{s:?}");
    rig.finish("floods against configured limits", 64);
    assert_eq!(log.count("remote participants (max_participants): limit reached"), 1, "participant limit log");
    assert_eq!(log.count("remote endpoints (max_remote_endpoints"), 1, "endpoint limit log");
    assert_eq!(log.count("fragment reassembly (max_sample_size"), 1, "reassembly limit log");
}
