//! A hasher whose output depends only on the bytes written: no random keys,
//! no dependence on the Rust release. Used to name RNG streams and to digest
//! event traces.

use std::hash::{Hash, Hasher};

/// 64-bit FNV-1a. Integers are written little-endian whatever the platform.
#[derive(Clone, Debug)]
pub struct StableHasher(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(FNV_OFFSET)
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    fn write_u16(&mut self, i: u16) {
        self.write(&i.to_le_bytes());
    }
    fn write_u32(&mut self, i: u32) {
        self.write(&i.to_le_bytes());
    }
    fn write_u64(&mut self, i: u64) {
        self.write(&i.to_le_bytes());
    }
    fn write_u128(&mut self, i: u128) {
        self.write(&i.to_le_bytes());
    }
    fn write_usize(&mut self, i: usize) {
        self.write(&(i as u64).to_le_bytes());
    }
    fn write_i64(&mut self, i: i64) {
        self.write(&i.to_le_bytes());
    }
    fn write_isize(&mut self, i: isize) {
        self.write(&(i as i64).to_le_bytes());
    }
}

/// 64-bit FNV-1a folded a 64-bit word at a time: one xor and one multiply per
/// word instead of eight. Stable like [`StableHasher`] but with other values for
/// the same integers, so it never names an RNG stream; it is for ids that are
/// only compared for equality (prompt block ids, prefix-cache keys), which are
/// hashed per request and per block.
pub fn word_hash(words: &[u64]) -> u64 {
    words
        .iter()
        .fold(FNV_OFFSET, |h, &w| (h ^ w).wrapping_mul(FNV_PRIME))
}

/// The stable hash of any `Hash` value.
pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::default();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // FNV-1a 64 reference values.
        let mut h = StableHasher::default();
        h.write(b"");
        assert_eq!(h.finish(), 0xcbf2_9ce4_8422_2325);
        let mut h = StableHasher::default();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(&1u64), stable_hash(&1usize));
    }

    #[test]
    fn word_hash_is_fnv_over_words() {
        assert_eq!(word_hash(&[]), FNV_OFFSET);
        assert_eq!(word_hash(&[0]), FNV_OFFSET.wrapping_mul(FNV_PRIME));
        assert_eq!(word_hash(&[1, 2]), 0x082f_2407_b4e8_902a);
        assert_ne!(word_hash(&[1, 2]), word_hash(&[2, 1]));
        assert_ne!(word_hash(&[1, 2]), word_hash(&[1, 2, 0]));
    }
}
