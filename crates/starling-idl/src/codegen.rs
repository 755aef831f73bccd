//! Rust code generation.
