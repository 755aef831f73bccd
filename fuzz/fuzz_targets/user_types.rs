//! cargo-fuzz entry for `bodies/user_types.rs` (also replayed on stable by the `fuzz_smoke` test).
#![no_main]

#[path = "../bodies/user_types.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
