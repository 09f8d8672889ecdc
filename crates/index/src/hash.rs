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
pub fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// Folds one word into a state.
#[inline(always)]
pub fn step(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(K1).rotate_left(29).wrapping_add(K2)
}

/// The state after `bytes` (length included, so no input is a prefix of
/// another's encoding).
///
/// The last partial word is read with loads that may overlap bytes
/// already read (as wyhash does), never copied to a buffer first: a copy
/// to the stack and a wider load of it stall the CPU on every short key.
/// With the length folded in first, the words still determine the bytes.
#[inline]
pub fn feed(mut h: u64, bytes: &[u8]) -> u64 {
    let len = bytes.len();
    h = step(h, len as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = step(h, word8(c));
    }
    let rest = chunks.remainder().len();
    if rest == 0 {
        return h;
    }
    let last = if len >= 8 {
        // The last eight bytes, some of them hashed already.
        word8(&bytes[len - 8..])
    } else if len >= 4 {
        word4(&bytes[..4]) | word4(&bytes[len - 4..]) << 32
    } else {
        u64::from(bytes[0]) | u64::from(bytes[len / 2]) << 8 | u64::from(bytes[len - 1]) << 16
    };
    step(h, last)
}

/// The first eight bytes of `b` (at least eight long), little-endian.
#[inline(always)]
fn word8(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// The first four bytes of `b` (at least four long), little-endian.
#[inline(always)]
fn word4(b: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u64::from(u32::from_le_bytes(w))
}

/// The hash of `bytes` under `seed`.
#[inline]
pub fn hash(seed: u64, bytes: &[u8]) -> u64 {
    avalanche(feed(seed, bytes))
}

/// The hash of a few words.
#[inline]
pub fn hash_words(words: &[u64]) -> u64 {
    avalanche(words.iter().fold(K2, |h, &w| step(h, w)))
}

/// A `Hasher` for the index's maps: ids (strings) and fingerprints (which
/// are hashes already and are used as they are).
#[derive(Default)]
pub struct FastHasher(u64);

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
        // Every byte counts, whichever load of the tail reads it.
        for len in 1..40 {
            let base: Vec<u8> = (0..len as u8).map(|i| b'a' + i % 26).collect();
            for at in 0..len {
                let mut other = base.clone();
                other[at] ^= 0x20;
                assert_ne!(hash(1, &base), hash(1, &other), "len {len}, byte {at}");
            }
        }
        assert_eq!(hash(1, b"same"), hash(1, b"same"));
    }
}
