//! The sans-IO core in memory: the writer history, and the whole writer → datagram → reader path between
//! two participants (write, poll_transmit, handle_datagram, poll_event), per sample.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use starling_proto::core::{EndpointConfig, Participant, ParticipantConfig};
use starling_proto::wire::GuidPrefix;
use std::time::Instant;

#[path = "support/mempair.rs"]
mod mempair;

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];

/// Writes into a writer that has no remote reader: history insert and eviction (KEEP_LAST) or trimming
/// (KEEP_ALL, nothing to wait for), plus the participant's write bookkeeping.
fn bench_history(c: &mut Criterion) {
    let mut g = c.benchmark_group("core/history_no_readers");
    g.throughput(Throughput::Elements(1));
    for (name, keep_all, keys) in
        [("keep_last1_1key", false, 1u8), ("keep_last1_64keys", false, 64), ("keep_all", true, 1)]
    {
        let now = Instant::now();
        let mut p = Participant::new(ParticipantConfig::new(0, 0, GuidPrefix([9; 12])), now);
        let w = p.create_writer(
            now,
            EndpointConfig {
                topic_name: "H".into(),
                type_name: "T".into(),
                keyed: true,
                qos: mempair::endpoint_qos(true, keep_all, false),
                type_information: None,
                content_filter: None,
                group: None,
            },
        );
        while p.poll_transmit().is_some() {}
        while p.poll_event().is_some() {}
        let payload = mempair::payload(64);
        let mut i = 0u8;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = i.wrapping_add(1) % keys;
                p.write(now, w, mempair::make_change(payload.clone(), i)).is_ok()
            })
        });
    }
    g.finish();
}

fn bench_path(c: &mut Criterion, name: &str, reliable: bool) {
    let mut g = c.benchmark_group(format!("core/write_to_read/{name}"));
    for size in SIZES {
        let mut pair = mempair::Pair::new(reliable, true);
        let payload: Bytes = mempair::payload(size);
        g.throughput(Throughput::Bytes(size as u64));
        let mut n = 0u64;
        g.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                pair.write(payload.clone(), 1);
                n += 1;
                // Reliable: one heartbeat/ACKNACK round per 256 samples (amortised into the figure).
                if reliable && n % 256 == 0 {
                    pair.settle();
                }
            })
        });
        assert!(pair.delivered >= n, "delivered {} of {n}", pair.delivered);
    }
    g.finish();
}

fn bench_paths(c: &mut Criterion) {
    bench_path(c, "best_effort", false);
    bench_path(c, "reliable_keep_all", true);
}

criterion_group!(benches, bench_history, bench_paths);
criterion_main!(benches);
