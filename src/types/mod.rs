//! Built-in topic data types.
//!
//! - [`ShapeType`]: the OMG interoperability demo type (topics `Square`, `Circle`, `Triangle`).
//! - [`perf::PerfSample`]: the sample type of `starling perf` and the benchmarks.

pub mod perf;
pub mod shape;

pub use shape::ShapeType;
