//! CDR encode/decode of `ShapeType` and the perf sample at 12 B, 1 KB and 64 KB, key hashing, and the
//! bridge's JSON → CDR step for a ShapeType body.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use starling::types::perf::{PerfKeyed, FIXED_SIZE};
use starling::types::ShapeType;
use starling_proto::cdr::{decode_sample, encode_sample, key_hash, TopicType, XcdrVersion};
use starling_proto::qos::{XCDR1, XCDR2};
use starling_proto::wire::Endian;

const SIZES: [usize; 3] = [12, 1024, 64 * 1024];

/// A ShapeType whose body is about `size` bytes ("BLUE", three ints, the rest extra payload).
fn shape(size: usize) -> ShapeType {
    let fixed = 4 + 4 + 5 + 3 + 12 + 4;
    ShapeType {
        color: "BLUE".into(),
        x: 10,
        y: 20,
        shapesize: 30,
        additional_payload_size: vec![7; size.saturating_sub(fixed)],
    }
}

fn perf(size: usize) -> PerfKeyed {
    let mut s = PerfKeyed::with_size(size.max(FIXED_SIZE));
    s.seq = 12345;
    s.key = 3;
    s
}

fn bench_type<T: TopicType>(c: &mut Criterion, name: &str, make: impl Fn(usize) -> T) {
    for (rep, rep_name) in [(XCDR1, "xcdr1"), (XCDR2, "xcdr2")] {
        let mut g = c.benchmark_group(format!("cdr/{name}/{rep_name}"));
        for size in SIZES {
            let v = make(size);
            let mut buf = Vec::new();
            encode_sample(&v, rep, Endian::Little, &mut buf).expect("encode");
            g.throughput(Throughput::Bytes(buf.len() as u64));
            g.bench_with_input(BenchmarkId::new("encode_reused_buf", size), &v, |b, v| {
                let mut out = Vec::with_capacity(buf.len());
                b.iter(|| {
                    out.clear();
                    encode_sample(black_box(v), rep, Endian::Little, &mut out).expect("encode");
                    out.len()
                })
            });
            // A fresh, presized buffer per sample: what DataWriter::write does when no pooled buffer of the
            // sample's size is free (always, before the payload pool).
            g.bench_with_input(BenchmarkId::new("encode_fresh_buf", size), &v, |b, v| {
                b.iter(|| {
                    let mut out = Vec::with_capacity(buf.len());
                    encode_sample(black_box(v), rep, Endian::Little, &mut out).expect("encode");
                    out
                })
            });
            g.bench_with_input(BenchmarkId::new("decode", size), &buf, |b, buf| {
                b.iter(|| decode_sample::<T>(black_box(buf)).expect("decode"))
            });
        }
        g.finish();
    }
    let v = make(12);
    c.bench_function(&format!("cdr/{name}/key_hash"), |b| b.iter(|| key_hash(black_box(&v), XcdrVersion::V1)));
}

/// The bridge's STOMP/MQTT → DDS step for a JSON body: parse, convert to the route's dynamic type, encode.
fn bench_json_to_cdr(c: &mut Criterion) {
    let ty = starling::dynamic::shape_type();
    let body = br#"{"color":"BLUE","x":123456,"y":42,"shapesize":987654321}"#;
    let mut out = Vec::with_capacity(256);
    c.bench_function("cdr/shape/json_to_cdr", |b| {
        b.iter(|| {
            let j: serde_json::Value = serde_json::from_slice(black_box(body)).expect("json");
            let v = starling::dynamic::from_json(&ty, &j).expect("value");
            out.clear();
            starling_proto::xtypes::encode(&ty, &v, 0, Endian::Little, &mut out).expect("encode");
            black_box(&out);
        })
    });
}

fn benches_all(c: &mut Criterion) {
    bench_json_to_cdr(c);
    bench_type(c, "shape", shape);
    bench_type(c, "perf_sample", perf);
}

criterion_group!(benches, benches_all);
criterion_main!(benches);
