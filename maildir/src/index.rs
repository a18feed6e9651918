//! In-memory lookup tables for a sync of a large folder: a fast seeded string hash and the
//! base-name → UID index over `dovecot-uidlist` records.
//!
//! Opening a folder of 100,000 messages hashes every base name two or three times (the
//! uidlist index, the directory listing); with SipHash and one allocated key per entry this
//! was a third of the cold-open time. Here keys are borrowed (from the listing, or from the
//! uidlist records themselves) and the hash is a seeded multiply-rotate over 8-byte words.
//! The seed is random per table, and the keys are message file names, which a remote
//! sender does not choose (the delivery agent does), so hash flooding is not a concern.

use std::hash::{BuildHasher, Hasher, RandomState};

use crate::uidlist::Record;

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// A seeded [`BuildHasher`] for short strings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastState {
    seed: u64,
}

impl FastState {
    pub(crate) fn new() -> Self {
        Self {
            seed: RandomState::new().hash_one(0x006d_6169_6c64_6972_u64),
        }
    }
}

impl Default for FastState {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.seed)
    }
}

/// The hasher of [`FastState`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        // The length goes in with the tail so that "a\0" and "a" differ.
        self.word(u64::from_le_bytes(last) ^ ((bytes.len() as u64) << 56));
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.word(u64::from(b));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // murmur3's finalizer: every input bit reaches the low bits (bucket index) and
        // the high bits (hashbrown's control byte).
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The base of a file name: everything before the last info separator.
#[inline]
pub(crate) fn base_of(name: &str, sep: char) -> &str {
    // An ASCII separator (always, in practice) is one byte: the SIMD search of `memchr`
    // is several times faster than `str::rfind` on 60-byte names.
    let i = if sep.is_ascii() {
        memchr::memrchr(sep as u8, name.as_bytes())
    } else {
        name.rfind(sep)
    };
    i.map_or(name, |i| &name[..i])
}

/// Base name → position in the uidlist's records, without owning a copy of any name: an
/// open-addressing table of record positions, compared against the records themselves.
/// When one base appears in several records, the last one wins (as a rewrite would keep).
#[derive(Clone, Debug, Default)]
pub(crate) struct BaseIndex {
    /// (record position + 1, 32 bits of the hash); position 0 marks an empty slot.
    slots: Vec<(u32, u32)>,
    used: usize,
    state: FastState,
}

impl BaseIndex {
    fn hash(&self, base: &str) -> u64 {
        self.state.hash_one(base)
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.used = 0;
    }

    /// Indexes all `records` (after a full read or a rewrite).
    pub(crate) fn rebuild(&mut self, records: &[Record], sep: char) {
        self.clear();
        self.reserve(records.len());
        for i in 0..records.len() {
            self.insert(records, sep, i);
        }
    }

    fn reserve(&mut self, n: usize) {
        let want = (n.max(8) * 2).next_power_of_two();
        if want > self.slots.len() {
            let old = std::mem::replace(&mut self.slots, vec![(0, 0); want]);
            self.used = 0;
            for (pos, h) in old.into_iter().filter(|s| s.0 != 0) {
                self.place(pos, h);
            }
        }
    }

    fn place(&mut self, pos: u32, h: u32) {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        while self.slots[i].0 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (pos, h);
        self.used += 1;
    }

    /// Indexes `records[index]`.
    pub(crate) fn insert(&mut self, records: &[Record], sep: char, index: usize) {
        let Ok(pos) = u32::try_from(index + 1) else {
            return; // more than 4 billion records: a uidlist this large is refused earlier
        };
        self.reserve(self.used + 1);
        let base = base_of(&records[index].filename, sep);
        let h = self.hash(base) as u32;
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let (p, sh) = self.slots[i];
            if p == 0 {
                self.slots[i] = (pos, h);
                self.used += 1;
                return;
            }
            if sh == h && base_of(&records[p as usize - 1].filename, sep) == base {
                self.slots[i].0 = pos;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The record position for `base`, if any.
    pub(crate) fn get(&self, records: &[Record], sep: char, base: &str) -> Option<usize> {
        if self.used == 0 {
            return None;
        }
        let h = self.hash(base) as u32;
        // Exactly `base_of(record) == base`, but without searching the (cold) record name
        // when it has the length of `base`, as the records we write do.
        let plain = base_of(base, sep).len() == base.len();
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let (p, sh) = self.slots[i];
            if p == 0 {
                return None;
            }
            if sh == h {
                let r = records.get(p as usize - 1)?;
                let name = r.filename.as_str();
                if name.len() == base.len() && plain && name == base
                    || name.len() > base.len() && base_of(name, sep) == base
                {
                    return Some(p as usize - 1);
                }
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(uid: u32, f: &str) -> Record {
        Record {
            uid,
            ext: Vec::new(),
            filename: f.into(),
        }
    }

    #[test]
    fn index_finds_every_base_and_nothing_else() {
        let mut records: Vec<Record> = (1..=5000)
            .map(|u| rec(u, &format!("17000{u}.M{u}P1.host,S={u}:2,S")))
            .collect();
        let mut idx = BaseIndex::default();
        idx.rebuild(&records, ':');
        for (i, r) in records.iter().enumerate() {
            let base = base_of(&r.filename, ':');
            assert_eq!(idx.get(&records, ':', base), Some(i));
            assert_eq!(idx.get(&records, ':', &r.filename), None);
        }
        assert_eq!(idx.get(&records, ':', ""), None);
        // A record name with two separators: its base is before the last one only.
        let two: Vec<Record> = vec![rec(1, "a:b"), rec(2, "c:d:2,S")];
        let mut idx2 = BaseIndex::default();
        idx2.rebuild(&two, ':');
        assert_eq!(idx2.get(&two, ':', "a"), Some(0));
        assert_eq!(idx2.get(&two, ':', "a:b"), None);
        assert_eq!(idx2.get(&two, ':', "c:d"), Some(1));
        // Appended records, and a base seen again: the last record wins.
        records.push(rec(6000, "new.one"));
        idx.insert(&records, ':', 5000);
        records.push(rec(6001, "17001.M1P1.host,S=1:2,FS"));
        idx.insert(&records, ':', 5001);
        assert_eq!(idx.get(&records, ':', "new.one"), Some(5000));
        assert_eq!(idx.get(&records, ':', "17001.M1P1.host,S=1"), Some(5001));
        idx.clear();
        assert_eq!(idx.get(&records, ':', "new.one"), None);
    }

    #[test]
    fn hash_distinguishes_lengths_and_tails() {
        let s = FastState::new();
        let mut seen = std::collections::HashSet::new();
        for t in ["", "a", "a\0", "\0", "abcdefgh", "abcdefgh\0", "abcdefghi"] {
            assert!(seen.insert(s.hash_one(t)), "{t:?}");
        }
    }
}
