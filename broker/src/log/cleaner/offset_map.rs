//! The cleaner's offset map (Kafka's `SkimpyOffsetMap`): for each key of the dirty section,
//! the offset of its latest record. Below `cleaner::clean`, pure.
//!
//! Keys are not stored, only a 128-bit hash of them (Kafka stores a 16-byte MD5): the
//! 128-bit SipHash-1-3 of the key under a random key drawn when the map is made, so that
//! nobody can choose keys that collide. Two distinct keys with the same 128-bit hash would be taken
//! for one key and the older record of either dropped; with n keys the chance is about
//! n² / 2¹²⁹ (10⁹ keys: 10⁻²¹), the same bet Kafka makes with MD5.
//!
//! Memory is bounded as Kafka bounds it: `bytes` buys `bytes / 24` slots (16 bytes of hash
//! + 8 of offset), of which at most `load_factor` (Kafka's
//! `log.cleaner.io.buffer.load.factor`, 0.9) are filled; `put` refuses a key once that many
//! are in, and the cleaner then stops mapping there (the dirty section is cut at the last
//! offset mapped). The table underneath is a `HashMap`, whose own overhead is about a fifth
//! on top of the 24 bytes per entry; it grows with use, so a small log costs little. The
//! table does not hash its keys again: they already are uniform random 128-bit values, so
//! it takes their low 64 bits as they are (`Prehashed`).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use siphasher::sip128::{Hasher128, SipHasher13};

/// A `Hasher` for keys that are already random hashes: it keeps the bits it is given.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than u128 (none here); folds whatever it gets.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Bytes per slot: a 16-byte hash and an 8-byte offset (Kafka's figure).
pub const BYTES_PER_ENTRY: u64 = 24;
/// Kafka's `log.cleaner.io.buffer.load.factor` default.
pub const LOAD_FACTOR: f64 = 0.9;

pub struct OffsetMap {
    /// The random SipHash key.
    keys: (u64, u64),
    map: HashMap<u128, i64, BuildHasherDefault<Prehashed>>,
    max_entries: usize,
    latest: i64,
}

impl OffsetMap {
    /// A map that may use `bytes` bytes of memory.
    pub fn with_memory(bytes: u64) -> OffsetMap {
        let slots = bytes / BYTES_PER_ENTRY;
        let max_entries = ((slots as f64 * LOAD_FACTOR) as u64).min(usize::MAX as u64) as usize;
        // RandomState is seeded from the OS's randomness: its hashes of a constant are as
        // unpredictable as its own keys.
        let keys = (RandomState::new().hash_one(0u64), RandomState::new().hash_one(1u64));
        OffsetMap { keys, map: HashMap::default(), max_entries, latest: -1 }
    }

    pub fn hash(&self, key: &[u8]) -> u128 {
        let mut h = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        h.write(key);
        h.finish128().as_u128()
    }

    /// Records `offset` as the latest of `key`. False (and nothing recorded) when the map is
    /// full: the caller stops mapping before this record.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        if self.map.len() >= self.max_entries {
            return false;
        }
        let h = self.hash(key);
        self.map.insert(h, offset);
        self.latest = self.latest.max(offset);
        true
    }

    /// The latest offset of `key`, if mapped.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(&self.hash(key)).copied()
    }

    /// The highest offset put (-1 when empty).
    pub fn latest_offset(&self) -> i64 {
        self.latest
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many keys fit.
    pub fn capacity(&self) -> usize {
        self.max_entries
    }

    /// Fraction of the slots in use, as Kafka's log line reports it.
    pub fn utilization(&self) -> f64 {
        if self.max_entries == 0 {
            return 1.0;
        }
        self.map.len() as f64 / (self.max_entries as f64 / LOAD_FACTOR)
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.latest = -1;
    }
}
