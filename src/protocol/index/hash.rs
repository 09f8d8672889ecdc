//! A small, fast 64-bit hash for fingerprints and the index's hash maps.
//!
//! Not cryptographic: it only has to tell apart the values a tool pushes,
//! which it does as well as any 64-bit hash (every step is a bijection of
//! the state, and the result goes through a full avalanche). Fixed keys, so
//! fingerprints compare across schemas and runs.

use std::hash::Hasher;

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
#[inline]
pub(crate) fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// Folds one word into a state.
#[inline(always)]
pub(crate) fn step(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(K1).rotate_left(29).wrapping_add(K2)
}

/// The state after `bytes` (length included, so no input is a prefix of
/// another's encoding).
#[inline]
pub(crate) fn feed(mut h: u64, bytes: &[u8]) -> u64 {
    h = step(h, bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        // One load: `c` is exactly eight bytes long.
        h = step(h, u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(last));
    }
    h
}

/// The hash of `bytes` under `seed`.
#[inline]
pub(crate) fn hash(seed: u64, bytes: &[u8]) -> u64 {
    avalanche(feed(seed, bytes))
}

/// The hash of a few words.
#[inline]
pub(crate) fn hash_words(words: &[u64]) -> u64 {
    avalanche(words.iter().fold(K2, |h, &w| step(h, w)))
}

/// A `Hasher` for the index's maps: ids (strings) and fingerprints (which
/// are hashes already and are used as they are).
#[derive(Default)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        avalanche(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = feed(self.0, bytes);
    }
    fn write_u8(&mut self, n: u8) {
        self.0 = step(self.0, u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = step(self.0, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_contents_both_count() {
        let all = [
            &b""[..],
            b"\0",
            b"\0\0",
            b"a",
            b"ab",
            b"abcdefgh",
            b"abcdefghi",
            b"abcdefgh\0",
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(hash(1, a), hash(1, b), "{a:?} {b:?}");
            }
        }
        assert_ne!(hash(1, b"x"), hash(2, b"x"));
        assert_eq!(hash(1, b"same"), hash(1, b"same"));
    }
}
