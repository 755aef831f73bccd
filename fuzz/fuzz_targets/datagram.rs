//! cargo-fuzz entry for `bodies/datagram.rs` (also replayed on stable by the `fuzz_smoke` test).
#![no_main]

#[path = "../bodies/datagram.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
