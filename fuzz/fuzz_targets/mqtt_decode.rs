//! cargo-fuzz entry for `bodies/mqtt_decode.rs` (also replayed on stable by the `fuzz_smoke` test).
#![no_main]

#[path = "../bodies/mqtt_decode.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
