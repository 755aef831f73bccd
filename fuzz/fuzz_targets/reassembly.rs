//! cargo-fuzz entry for `bodies/reassembly.rs` (also replayed on stable by the `fuzz_smoke` test).
#![no_main]

#[path = "../bodies/reassembly.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
