//! Test support used by the generated `Random` impls: a seeded generator and the traits it fills in.

use starling_proto::cdr::TopicType;

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A collection length in `0..=max`.
    pub fn len(&mut self, max: usize) -> usize {
        self.below(max + 1)
    }

    /// A string of at most `bound` characters (UTF-16 units for wide strings), mixing ASCII and non-ASCII.
    pub fn string(&mut self, bound: Option<usize>, wide: bool) -> String {
        let max = bound.unwrap_or(12).min(12);
        let n = self.len(max);
        let mut s = String::new();
        for _ in 0..n {
            let c = match self.below(8) {
                0 if wide => '\u{e9}',
                1 if wide => '\u{4e2d}',
                _ => char::from(b'a' + self.below(26) as u8),
            };
            // Narrow strings are counted in bytes: keep them ASCII so the bound holds.
            s.push(c);
        }
        s
    }
}

/// Values that can be generated at random within the type's constraints.
pub trait Random: Sized {
    /// A random value.
    fn random(g: &mut Rng) -> Self;
}

macro_rules! int_random {
    ($($t:ty),*) => {
        $(
            impl Random for $t {
                fn random(g: &mut Rng) -> Self {
                    g.next_u64() as $t
                }
            }
        )*
    };
}

int_random!(u8, i8, u16, i16, u32, i32, u64, i64);

impl Random for bool {
    fn random(g: &mut Rng) -> Self {
        g.next_u64() & 1 == 1
    }
}

impl Random for f32 {
    fn random(g: &mut Rng) -> Self {
        (g.next_u64() as i32) as f32 / 7.0
    }
}

impl Random for f64 {
    fn random(g: &mut Rng) -> Self {
        (g.next_u64() as i64) as f64 / 3.0
    }
}

impl Random for String {
    fn random(g: &mut Rng) -> Self {
        g.string(None, false)
    }
}

/// Something that is called once per generated topic type.
pub trait Visitor {
    /// Called with the type and its scoped name.
    fn visit<T: TopicType + Random + PartialEq + std::fmt::Debug + Clone>(&mut self, name: &str);
}
