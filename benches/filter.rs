//! Content-filter evaluation per received `ShapeType` sample, `x > 100 AND color = 'RED'` (the sample fails on
//! `x`), at a 12 B and a 1 KB body, three ways:
//! - `json`: the sample already decoded as the typed `ShapeType`, converted to JSON and evaluated (how
//!   `starling sub --filter` and shape_main `--cft` filtered before ContentFilteredTopic);
//! - `dynamic_decode`: the whole payload decoded with the type's dynamic description and evaluated on that value;
//! - `dynamic_projected`: only the members the filter names decoded (`xtypes::decode_projected`), the others
//!   stepped over, then evaluated (a typed reader on a ContentFilteredTopic, and a writer filtering at the
//!   source);
//! - `dynamic_value`: evaluated on an already decoded `DynamicValue` (a reader of a dynamic type, whose samples
//!   are the values the filter looks at).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use starling::dynamic::shape_type;
use starling::filter::{projection, DynamicSample, Filter};
use starling::types::ShapeType;
use starling_proto::cdr::{decode_sample, encode_sample};
use starling_proto::qos::XCDR1;
use starling_proto::wire::Endian;
use starling_proto::xtypes;

fn shape(size: usize) -> ShapeType {
    let fixed = 4 + 4 + 5 + 3 + 12 + 4;
    ShapeType {
        color: "RED".into(),
        x: 10,
        y: 20,
        shapesize: 30,
        additional_payload_size: vec![7; size.saturating_sub(fixed)],
    }
}

fn bench(c: &mut Criterion) {
    let filter = Filter::new("x > 100 AND color = 'RED'").expect("filter");
    let ty = shape_type();
    let mut g = c.benchmark_group("filter");
    for size in [12usize, 1024] {
        let mut payload = Vec::new();
        encode_sample(&shape(size), XCDR1, Endian::Little, &mut payload).expect("encode");
        let typed: ShapeType = decode_sample(&payload).expect("decode");
        let value = xtypes::decode(&ty, &payload).expect("dynamic decode");
        assert!(!filter.matches(&serde_json::to_value(&typed).expect("json")));
        assert!(!filter.matches(&DynamicSample::new(&ty, &value)));
        g.bench_with_input(BenchmarkId::new("json", size), &typed, |b, s| {
            b.iter(|| filter.matches(&serde_json::to_value(black_box(s)).unwrap_or_default()))
        });
        g.bench_with_input(BenchmarkId::new("dynamic_decode", size), &payload, |b, p| {
            b.iter(|| xtypes::decode(&ty, black_box(p)).is_ok_and(|v| filter.matches(&DynamicSample::new(&ty, &v))))
        });
        let proj = projection(&ty, &filter);
        g.bench_with_input(BenchmarkId::new("dynamic_projected", size), &payload, |b, p| {
            b.iter(|| {
                xtypes::decode_projected(&ty, black_box(p), &proj)
                    .is_ok_and(|v| filter.matches(&DynamicSample::new(&ty, &v)))
            })
        });
        g.bench_with_input(BenchmarkId::new("dynamic_value", size), &value, |b, v| {
            b.iter(|| filter.matches(&DynamicSample::new(&ty, black_box(v))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
