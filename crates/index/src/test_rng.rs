//! The tests' pseudo-random numbers: one 64-bit linear congruential
//! generator (Knuth's MMIX constants), seeded by each test, so every run
//! draws the same cases.

/// A seeded generator.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next state, all 64 bits of it (the high ones are the better).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 33) % n.max(1) as u64) as usize
    }
}
