//! RTPS datagram decode and encode: a DATA message as the core sends it (INFO_TS + DATA with a KEY_HASH
//! inline QoS), at several payload sizes, plus HEARTBEAT and ACKNACK.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use starling_proto::wire::{
    parse, Data, EntityId, GuidPrefix, Header, MessageBuilder, ParameterList, ParameterListWriter, SequenceNumber,
    Submessage, Time, VendorId,
};
use starling_proto::wire::{pid, Endian, ProtocolVersion};

#[path = "support/mempair.rs"]
mod mempair;

fn header() -> Header {
    Header { version: ProtocolVersion::V2_5, vendor_id: VendorId::STARLING, guid_prefix: GuidPrefix([7; 12]) }
}

/// The datagram the core sends for one write of `size` payload bytes (at most 64 000).
fn captured_data(size: usize) -> Vec<u8> {
    let mut pair = mempair::Pair::new(true, true);
    let now = pair.now;
    let w = pair.writer;
    pair.a.write(now, w, mempair::make_change(mempair::payload(size), 1)).expect("write");
    pair.a.poll_transmit().expect("a datagram").payload
}

/// Heartbeat and acknack datagrams of a reliable exchange.
fn captured_control() -> (Vec<u8>, Vec<u8>) {
    let has = |dg: &[u8], want: fn(&Submessage<'_>) -> bool| {
        parse(dg).map(|(_, subs)| subs.flatten().any(|s| want(&s))).unwrap_or(false)
    };
    let mut pair = mempair::Pair::new(true, true);
    let now = pair.now;
    let w = pair.writer;
    pair.a.write(now, w, mempair::make_change(mempair::payload(64), 1)).expect("write");
    pair.now += std::time::Duration::from_millis(150);
    let now = pair.now;
    pair.a.handle_timeout(now);
    let (mut hb, mut ack) = (None, None);
    while let Some(t) = pair.a.poll_transmit() {
        if has(&t.payload, |s| matches!(s, Submessage::Heartbeat(_))) {
            hb = Some(t.payload.clone());
        }
        pair.b.handle_datagram(now, &t.payload);
    }
    while let Some(t) = pair.b.poll_transmit() {
        if has(&t.payload, |s| matches!(s, Submessage::AckNack(_))) {
            ack = Some(t.payload);
        }
    }
    (hb.expect("a heartbeat"), ack.expect("an acknack"))
}

fn decode_all(dg: &[u8]) -> usize {
    let Ok((_h, subs)) = parse(dg) else { return 0 };
    let mut n = 0;
    for s in subs {
        match s {
            Ok(Submessage::Data(d)) => n += d.serialized_payload.map_or(0, <[u8]>::len),
            Ok(_) => n += 1,
            Err(_) => return 0,
        }
    }
    n
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire/decode");
    for size in [16usize, 1024, 64_000] {
        let dg = captured_data(size);
        g.throughput(Throughput::Bytes(dg.len() as u64));
        g.bench_with_input(BenchmarkId::new("data", size), &dg, |b, dg| b.iter(|| decode_all(black_box(dg))));
    }
    let (hb, ack) = captured_control();
    g.throughput(Throughput::Elements(1));
    g.bench_function("heartbeat", |b| b.iter(|| decode_all(black_box(&hb))));
    g.bench_function("acknack", |b| b.iter(|| decode_all(black_box(&ack))));
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire/encode");
    let mut qos = Vec::new();
    {
        let mut pl = ParameterListWriter::new(&mut qos, Endian::Little);
        pl.raw(pid::KEY_HASH, &[1; 16]);
        pl.finish();
    }
    for size in [16usize, 1024, 64_000] {
        let payload = mempair::payload(size);
        let mut buf = Vec::with_capacity(size + 128);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("data", size), |b| {
            b.iter(|| {
                let mut m = MessageBuilder::with_buffer(std::mem::take(&mut buf), header());
                m.info_ts(Some(Time::from_nanos(1_700_000_000_000_000_000)));
                Data {
                    reader_id: EntityId::UNKNOWN,
                    writer_id: EntityId::new(1, EntityId::KIND_WRITER_WITH_KEY),
                    writer_sn: SequenceNumber(42),
                    inline_qos: Some(ParameterList::new(&qos, Endian::Little)),
                    serialized_payload: Some(&payload[..]),
                    key_flag: false,
                    non_standard_payload: false,
                }
                .encode(m.buf_mut());
                let out = m.finish();
                let n = out.len();
                buf = out;
                buf.clear();
                black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
