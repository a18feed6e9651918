//! Sequence sets: `sequence-set`, `uid-set` and SEARCHRES's `$`.

use std::num::NonZeroU32;

use crate::error::ValidationError;
use crate::types::core::{IntoStatic, Vec1};

/// One end of a range: a number or `*` (the largest number in use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqNum {
    /// A message sequence number or UID.
    Value(NonZeroU32),
    /// `*`
    Largest,
}

impl SeqNum {
    /// Resolves `*` to `largest`.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            Self::Value(v) => v.get(),
            Self::Largest => largest,
        }
    }
}

/// `seq-number` or `seq-range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sequence {
    /// One number.
    Single(SeqNum),
    /// `a:b`; RFC 9051: `a:b` and `b:a` mean the same.
    Range(SeqNum, SeqNum),
}

impl Sequence {
    /// The inclusive bounds, with `*` resolved to `largest`, smallest first.
    pub fn bounds(self, largest: u32) -> (u32, u32) {
        match self {
            Self::Single(n) => {
                let v = n.resolve(largest);
                (v, v)
            }
            Self::Range(a, b) => {
                let (a, b) = (a.resolve(largest), b.resolve(largest));
                (a.min(b), a.max(b))
            }
        }
    }
}

/// A sequence set: a non-empty list of numbers and ranges, or `$` (the saved SEARCH result,
/// RFC 5182).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SequenceSet {
    /// Numbers and ranges.
    Set(Vec1<Sequence>),
    /// `$`
    Saved,
}

impl SequenceSet {
    /// One number.
    pub fn single(n: u32) -> Result<Self, ValidationError> {
        Ok(Self::Set(Vec1::new(Sequence::Single(SeqNum::Value(nz(
            n,
        )?)))))
    }

    /// `a:b`.
    pub fn range(a: u32, b: u32) -> Result<Self, ValidationError> {
        Ok(Self::Set(Vec1::new(Sequence::Range(
            SeqNum::Value(nz(a)?),
            SeqNum::Value(nz(b)?),
        ))))
    }

    /// `n:*`.
    pub fn from(n: u32) -> Result<Self, ValidationError> {
        Ok(Self::Set(Vec1::new(Sequence::Range(
            SeqNum::Value(nz(n)?),
            SeqNum::Largest,
        ))))
    }

    /// `1:*`.
    pub fn all() -> Self {
        Self::Set(Vec1::new(Sequence::Range(
            SeqNum::Value(NonZeroU32::MIN),
            SeqNum::Largest,
        )))
    }

    /// The compact set for the given numbers (sorted, deduplicated, runs become ranges).
    pub fn from_numbers(numbers: &[u32]) -> Result<Self, ValidationError> {
        let mut v: Vec<u32> = numbers.to_vec();
        v.sort_unstable();
        v.dedup();
        let mut out = Vec::new();
        let mut i = 0;
        while i < v.len() {
            let start = v[i];
            let mut end = start;
            while i + 1 < v.len() && v[i + 1] == end + 1 {
                i += 1;
                end = v[i];
            }
            out.push(if start == end {
                Sequence::Single(SeqNum::Value(nz(start)?))
            } else {
                Sequence::Range(SeqNum::Value(nz(start)?), SeqNum::Value(nz(end)?))
            });
            i += 1;
        }
        Ok(Self::Set(Vec1::try_from(out)?))
    }

    /// The items, or `None` for `$`.
    pub fn items(&self) -> Option<&[Sequence]> {
        match self {
            Self::Set(v) => Some(v),
            Self::Saved => None,
        }
    }

    /// Whether `n` is in the set (`*` = `largest`). `$` contains nothing here: resolve it
    /// against the saved result first.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.items().is_some_and(|items| {
            items.iter().any(|s| {
                let (a, b) = s.bounds(largest);
                (a..=b).contains(&n)
            })
        })
    }

    /// Whether the set uses `*`.
    pub fn uses_largest(&self) -> bool {
        self.items().is_some_and(|items| {
            items.iter().any(|s| match s {
                Sequence::Single(n) => *n == SeqNum::Largest,
                Sequence::Range(a, b) => *a == SeqNum::Largest || *b == SeqNum::Largest,
            })
        })
    }

    /// The sorted, merged inclusive ranges with `*` resolved to `largest`, clipped to
    /// `1..=largest` when `clip` (message sequence numbers beyond EXISTS do not exist; UID
    /// ranges are not clipped by the caller's largest UID unless asked).
    pub fn ranges(&self, largest: u32, clip: bool) -> Vec<(u32, u32)> {
        let Some(items) = self.items() else {
            return Vec::new();
        };
        let mut r: Vec<(u32, u32)> = items
            .iter()
            .map(|s| s.bounds(largest))
            .filter_map(|(a, b)| {
                if clip {
                    if a > largest || largest == 0 {
                        None
                    } else {
                        Some((a, b.min(largest)))
                    }
                } else {
                    Some((a, b))
                }
            })
            .collect();
        r.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(r.len());
        for (a, b) in r {
            if let Some(last) = merged.last_mut()
                && a <= last.1.saturating_add(1)
            {
                last.1 = last.1.max(b);
                continue;
            }
            merged.push((a, b));
        }
        merged
    }
}

impl IntoStatic for SequenceSet {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

fn nz(n: u32) -> Result<NonZeroU32, ValidationError> {
    NonZeroU32::new(n).ok_or(ValidationError::new("nz-number", "not zero"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_ranges() {
        let s = SequenceSet::from_numbers(&[5, 1, 2, 3, 9, 10]).unwrap();
        assert_eq!(s.items().unwrap().len(), 3);
        assert_eq!(s.ranges(100, true), vec![(1, 3), (5, 5), (9, 10)]);
        assert!(s.contains(10, 100));
        assert!(!s.contains(4, 100));
        assert!(SequenceSet::from_numbers(&[]).is_err());
        assert!(SequenceSet::single(0).is_err());
        let all = SequenceSet::all();
        assert_eq!(all.ranges(0, true), vec![]);
        assert_eq!(all.ranges(7, true), vec![(1, 7)]);
        // 5:* with largest 3 means 3:5 → clipped to 3:3 (RFC 9051 §6.4.1 order rule).
        assert_eq!(SequenceSet::from(5).unwrap().ranges(3, true), vec![(3, 3)]);
        assert!(SequenceSet::from(5).unwrap().uses_largest());
    }
}
