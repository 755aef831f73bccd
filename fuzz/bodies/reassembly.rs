//! Fragment reassembly in a live participant: a reliable and a best-effort reader, both matched (through crafted
//! SPDP and SEDP) with one remote writer, receive a sequence of DATA_FRAG, HEARTBEAT_FRAG, HEARTBEAT and GAP
//! submessages whose numbers (sequence number, first fragment, fragment count, fragment size, sample size, bytes
//! carried) come from the input. Reassembly limits are small (64 KiB samples, 256 KiB in flight) so that the
//! limits are hit too.
//!
//! The fragment bytes are a function of the sequence number and the byte's offset in the sample, so every
//! delivered sample can be checked: its bytes must be exactly that function's, its size one that a DATA_FRAG
//! announced for it, and each reader's deliveries must come in strictly increasing sequence numbers (reliable:
//! also no sample skipped unless a GAP or HEARTBEAT allowed it; not checked here). Nothing may panic and the
//! output must stay bounded.
use starling_proto::core::{EndpointConfig, Event, Participant, ParticipantConfig};
use starling_proto::discovery::{EndpointData, ParticipantData};
use starling_proto::qos::{EndpointQos, Reliability};
use starling_proto::wire::{
    DataFrag, Endian, EntityId, Gap, Guid, GuidPrefix, Header, Heartbeat, HeartbeatFrag, Locator, MessageBuilder,
    ParameterList, ParameterListWriter, ProtocolVersion, SequenceNumber, SequenceNumberSet, VendorId,
};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const REMOTE: GuidPrefix = GuidPrefix([0x5a; 12]);
const WRITER: EntityId = EntityId([0, 0, 1, 0x02]);
const TOPIC: &str = "Frag";

/// The byte at `offset` of sample `sn`.
pub fn pattern(sn: i64, offset: usize) -> u8 {
    (sn as usize).wrapping_mul(131).wrapping_add(offset.wrapping_mul(7)).wrapping_add(offset >> 8) as u8
}

fn message(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut m = MessageBuilder::new(Header {
        version: ProtocolVersion::V2_5,
        vendor_id: VendorId::STARLING,
        guid_prefix: REMOTE,
    });
    f(m.buf_mut());
    m.finish()
}

fn discovery(writer: EntityId, reader: EntityId, key: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let mut qos = Vec::new();
    let mut w = ParameterListWriter::new(&mut qos, Endian::Little);
    w.raw(starling_proto::wire::pid::KEY_HASH, &key);
    w.finish();
    message(|b| {
        starling_proto::wire::Data {
            reader_id: reader,
            writer_id: writer,
            writer_sn: SequenceNumber(1),
            inline_qos: Some(ParameterList::new(&qos, Endian::Little)),
            serialized_payload: Some(payload),
            key_flag: false,
            non_standard_payload: false,
        }
        .encode(b)
    })
}

/// A participant with the two readers, matched with the remote writer.
fn victim(now: Instant) -> (Participant, [Guid; 2]) {
    let mut c = ParticipantConfig::new(0, 0, GuidPrefix([9; 12]));
    c.metatraffic_unicast = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7410)];
    c.default_unicast = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 7411)];
    c.max_sample_size = 64 * 1024;
    c.max_reassembly_bytes = 256 * 1024;
    let mut p = Participant::new(c, now);
    let mut readers = [Guid::new(GuidPrefix([9; 12]), EntityId::UNKNOWN); 2];
    for (i, reliable) in [true, false].into_iter().enumerate() {
        let mut q = EndpointQos::reader_default();
        q.reliability = if reliable { Reliability::reliable() } else { Reliability::best_effort() };
        readers[i] = p.create_reader(
            now,
            EndpointConfig {
                topic_name: TOPIC.into(),
                type_name: "Blob".into(),
                keyed: false,
                qos: q,
                type_information: None,
                content_filter: None,
                group: None,
            },
        );
    }
    let mut pd = ParticipantData::new(REMOTE);
    pd.domain_id = Some(0);
    pd.metatraffic_unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 9)];
    pd.default_unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 9)];
    pd.builtin_endpoints = 0x3f;
    let mut payload = Vec::new();
    pd.encode(&mut payload);
    p.handle_datagram(now, &discovery(EntityId::SPDP_WRITER, EntityId::SPDP_READER, pd.guid().to_bytes(), &payload));
    let guid = Guid::new(REMOTE, WRITER);
    let mut wq = EndpointQos::writer_default();
    wq.reliability = Reliability::reliable();
    let mut ep = EndpointData::new(guid, TOPIC, "Blob", wq);
    ep.unicast_locators = vec![Locator::udpv4(Ipv4Addr::LOCALHOST, 9)];
    let mut payload = Vec::new();
    ep.encode(&mut payload);
    p.handle_datagram(
        now,
        &discovery(EntityId::SEDP_PUBLICATIONS_WRITER, EntityId::SEDP_PUBLICATIONS_READER, guid.to_bytes(), &payload),
    );
    (p, readers)
}

/// Reads little-endian numbers off the input; zero when it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let n = N.min(self.0.len());
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        b
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
}

/// A sequence number from one input byte: mostly 1..=16 so that fragments of a sample meet, sometimes extreme.
fn seq(b: u8) -> i64 {
    match b {
        0xff => i64::MAX,
        0xfe => i64::MAX - 1,
        0xfd => 0,
        0xfc => -1,
        _ => 1 + i64::from(b % 16),
    }
}

/// Runs one input; panics on a bug.
pub fn run(input: &[u8]) {
    delivered(input);
}

/// Runs one input and returns the samples delivered (sequence number and size, for both readers in order);
/// panics on a bug.
pub fn delivered(input: &[u8]) -> Vec<(i64, usize)> {
    let mut out = Vec::new();
    let mut now = Instant::now();
    let (mut p, readers) = victim(now);
    assert!(
        p.discovered_writers().any(|w| w.guid == Guid::new(REMOTE, WRITER)),
        "the crafted SEDP did not announce the writer"
    );
    let mut announced: HashMap<i64, HashSet<usize>> = HashMap::new();
    let mut last: HashMap<Guid, i64> = HashMap::new();
    let mut data = vec![0u8; 0];
    let mut inp = Input(input);
    let mut steps = 0;
    while !inp.0.is_empty() && steps < 256 {
        steps += 1;
        let kind = inp.u8();
        let sn = seq(inp.u8());
        let dgram = match kind % 8 {
            0..=4 => {
                let start = match inp.u8() {
                    0xff => u32::MAX,
                    0xfe => u32::MAX - 1,
                    b => u32::from(b),
                };
                let count = u16::from(inp.u8());
                let fsize = match inp.u8() {
                    0 => 0,
                    1 => u16::MAX,
                    b => u16::from(b) * 64,
                };
                let (hi, lo) = (inp.u8(), inp.u8());
                let sample_size = match hi {
                    0xff => u32::MAX,
                    0xfe => 1 << 20,
                    b => u32::from(b) * 300 + u32::from(lo),
                };
                // A multiple of 4: the encoder pads the submessage with zeros, which the receiver cannot tell from data.
                let len = (usize::from(inp.u16()) % 16_384 + 3) & !3;
                announced.entry(sn).or_default().insert(sample_size as usize);
                let base = (start.max(1) as usize - 1).saturating_mul(usize::from(fsize));
                data.clear();
                data.extend((0..len).map(|k| pattern(sn, base.wrapping_add(k))));
                let key_flag = kind & 0x80 != 0;
                message(|b| {
                    DataFrag {
                        reader_id: EntityId::UNKNOWN,
                        writer_id: WRITER,
                        writer_sn: SequenceNumber(sn),
                        fragment_starting_num: start,
                        fragments_in_submessage: count,
                        fragment_size: fsize,
                        sample_size,
                        inline_qos: None,
                        key_flag,
                        data: &data,
                    }
                    .encode(b)
                })
            }
            5 => message(|b| {
                HeartbeatFrag {
                    reader_id: EntityId::UNKNOWN,
                    writer_id: WRITER,
                    writer_sn: SequenceNumber(sn),
                    last_fragment_num: inp.u32(),
                    count: u32::from(inp.u8()),
                }
                .encode(b)
            }),
            6 => message(|b| {
                Heartbeat {
                    reader_id: EntityId::UNKNOWN,
                    writer_id: WRITER,
                    first_sn: SequenceNumber(seq(inp.u8())),
                    last_sn: SequenceNumber(sn),
                    count: u32::from(inp.u8()),
                    final_flag: false,
                    liveliness_flag: false,
                }
                .encode(b)
            }),
            _ => message(|b| {
                Gap {
                    reader_id: EntityId::UNKNOWN,
                    writer_id: WRITER,
                    gap_start: SequenceNumber(sn),
                    gap_list: SequenceNumberSet::new(SequenceNumber(seq(inp.u8()))),
                }
                .encode(b)
            }),
        };
        p.handle_datagram(now, &dgram);
        now += Duration::from_millis(u64::from(inp.u8() % 50));
        p.handle_timeout(now);
        let mut n = 0;
        while p.poll_transmit().is_some() {
            n += 1;
            assert!(n < 10_000, "unbounded output");
        }
        while let Some(ev) = p.poll_event() {
            let Event::Sample { reader, sample } = ev else { continue };
            assert!(readers.contains(&reader), "a sample for an unknown reader");
            let sn = sample.sequence_number.0;
            if let Some(prev) = last.insert(reader, sn) {
                assert!(sn > prev, "reader {reader:?} got {sn} after {prev}");
            }
            let Some(payload) = sample.payload else { continue };
            out.push((sn, payload.len()));
            let sizes = announced.get(&sn).cloned().unwrap_or_default();
            assert!(sizes.contains(&payload.len()), "sample {sn} of {} bytes; announced {sizes:?}", payload.len());
            for (i, b) in payload.iter().enumerate() {
                assert_eq!(*b, pattern(sn, i), "sample {sn}: byte {i} differs");
            }
        }
    }
    let s = p.stats();
    assert!(s.samples_delivered <= steps as u64 * 2 + 8, "{s:?}");
    out
}

#[allow(dead_code)] // used by fuzz_smoke, not by the cargo-fuzz target
/// Seeds: a 3-fragment sample sent whole, in order, out of order, with duplicates and with a HEARTBEAT_FRAG;
/// two samples interleaved; a GAP then a fragment; the limits.
pub fn seeds() -> Vec<Vec<u8>> {
    // kind, sn byte, start, count, fsize byte (x64), sample size (b*300 + extra), data len (u16), time step
    let frag = |sn: u8, start: u8, count: u8, fsize: u8, size: (u8, u8), len: u16| {
        let mut v = vec![0u8, sn, start, count, fsize, size.0, size.1];
        v.extend_from_slice(&len.to_le_bytes());
        v.push(3);
        v
    };
    // Fragments of 16 * 64 = 1024 bytes, samples of 7 * 300 + 100 = 2200 bytes (3 fragments).
    let s = (7u8, 100u8);
    let whole = frag(0, 1, 3, 16, s, 2200);
    let f1 = frag(0, 1, 1, 16, s, 1024);
    let f2 = frag(0, 2, 1, 16, s, 1024);
    let f3 = frag(0, 3, 1, 16, s, 152);
    let g1 = frag(1, 1, 2, 16, s, 2048);
    let g3 = frag(1, 3, 1, 16, s, 152);
    let hbf = vec![5u8, 0, 3, 0, 0, 0, 1, 2];
    let hb = vec![6u8, 1, 0, 1, 2];
    let gap = vec![7u8, 0, 2, 2];
    let big = frag(2, 1, 1, 200, (0xfe, 0), 12_800);
    vec![
        whole.clone(),
        [f1.clone(), f2.clone(), f3.clone()].concat(),
        [f3.clone(), f1.clone(), f2.clone(), f2.clone()].concat(),
        [f1.clone(), hbf, f2.clone(), f3.clone(), g1, g3].concat(),
        [gap, whole.clone(), hb, f1, f2, f3].concat(),
        [big.clone(), big, whole].concat(),
    ]
}
