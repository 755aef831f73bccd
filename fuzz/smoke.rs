//! The harness of the fuzz smoke tests (`fuzz_smoke` of the root package for the bridge codecs and user types,
//! `fuzz_smoke` of starling-proto for the RTPS receive path): seeded mutations of seed inputs fed to a cargo-fuzz
//! target body from `fuzz/bodies/`, the first panicking input saved. Included by both with `#[path]`.
//!
//! `FUZZ_SMOKE_ITERS=N` sets the base number of mutations per target (default 20,000); `FUZZ_SMOKE_SEED=S` the
//! RNG seed (default fixed, so a CI failure replays). A failing input is written to
//! `<target dir>/tmp/fuzz-smoke/<target>-<n>.bin`, where `cargo fuzz run <target> <file>` replays it.
#![allow(dead_code)] // each test file uses its own subset

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The repository's `fuzz/` directory, from the root package or a crate under `crates/`.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("fuzz"))
        .find(|d| d.join("bodies").is_dir())
        .expect("fuzz/bodies above the package")
}

/// xorshift64*: small, seeded, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u32; 10] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, 0xffff_ffff];

/// One to four mutations of `input` (with `others` for splicing).
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(v.len() + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            3 if !v.is_empty() => {
                let at = rng.below(v.len());
                let n = 1 + rng.below((v.len() - at).min(32));
                v.drain(at..at + n);
            }
            4 if !v.is_empty() => {
                let at = rng.below(v.len());
                let n = 1 + rng.below((v.len() - at).min(64));
                let copy = v[at..at + n].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, copy);
            }
            5 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let cut = rng.below(v.len() + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            6 if v.len() >= 4 => {
                let width = [1usize, 2, 4][rng.below(3)];
                let at = rng.below(v.len() - width + 1);
                let val = INTERESTING[rng.below(INTERESTING.len())];
                let bytes = if rng.below(2) == 0 { val.to_le_bytes() } else { val.to_be_bytes() };
                let start = if rng.below(2) == 0 { 0 } else { 4 - width };
                v[at..at + width].copy_from_slice(&bytes[start..start + width]);
            }
            _ => {
                let keep = rng.below(v.len() + 1);
                v.truncate(keep);
            }
        }
    }
    v
}

pub fn iterations() -> usize {
    std::env::var("FUZZ_SMOKE_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000)
}

pub fn seed() -> u64 {
    std::env::var("FUZZ_SMOKE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_57a2_1146)
}

/// Runs `target` on every seed and `iterations` mutations; saves and reports the first input that panics.
pub fn smoke(name: &str, seeds: &[Vec<u8>], iterations: usize, target: fn(&[u8])) {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut rng =
        Rng(seed()
            ^ name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)));
    let inputs = seeds.iter().cloned().chain((0..iterations).map(|_| {
        let base = &seeds[rng.below(seeds.len())];
        mutate(&mut rng, base, seeds)
    }));
    let mut count = 0usize;
    for (n, input) in inputs.enumerate() {
        count += 1;
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{n}.bin"));
            let _ = std::fs::write(&file, &input);
            panic!("{name}: input {n} panicked ({} bytes, saved to {}): {:02x?}", input.len(), file.display(), input);
        }
    }
    eprintln!("{name}: {count} inputs from {} seeds, no panic", seeds.len());
}

/// The inputs of a cargo-fuzz target on disk: its local libFuzzer corpus (`fuzz/corpus/<target>`, not committed)
/// and the committed inputs that once found a bug (`fuzz/regressions/<target>`), which therefore run in CI.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let root = fuzz_dir();
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d).join(target)).ok())
        .flat_map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())))
        .collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}
