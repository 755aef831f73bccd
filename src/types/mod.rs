//! Built-in topic data types.
//!
//! - [`ShapeType`]: the OMG interoperability demo type (topics `Square`, `Circle`, `Triangle`).

pub mod shape;

pub use shape::ShapeType;
