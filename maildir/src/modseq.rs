//! MODSEQ for CONDSTORE/QRESYNC (RFC 7162), kept in a file of our own so that Dovecot,
//! which keeps its modseqs in its index, reads the same Maildir undisturbed.
//!
//! `maildir-modseq` (in each folder directory; its name does not start with `.`, so no
//! Maildir++ reader takes it for a folder, and Dovecot ignores files it does not know) is
//! an append-only log, written under the `dovecot-uidlist` lock:
//!
//! ```text
//! file    = header LF *(entry LF)
//! header  = "MODSEQ 1 " uidvalidity SP highest
//! entry   = uid SP modseq SP "+" flags      ; the message has these info flags since modseq
//!         / "X" uid SP modseq               ; the message was expunged at modseq
//! ```
//!
//! The flags are recorded so that a flag change made by another program (Dovecot, a MUA
//! renaming the file) is noticed as a change and gets a new modseq on the next sync. The log
//! is compacted (rewritten through a temporary file and `rename`) when it holds more than
//! twice as many entries as live state. A torn last line is ignored. If the file is lost, a
//! rebuilt log starts above any value a client can have seen: at the current time in
//! microseconds (modseqs are 63-bit, RFC 7162 §3.1.6).

use std::collections::BTreeMap;

/// The file name inside a folder directory.
pub const FILE_NAME: &str = "maildir-modseq";

/// At most this many expunge tombstones are kept for QRESYNC `VANISHED (EARLIER)` (when
/// there are more, the oldest tenth is forgotten at once).
pub const MAX_TOMBSTONES: usize = 10_000;

/// The parsed log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModseqLog {
    /// The UIDVALIDITY the log belongs to.
    pub uid_validity: u32,
    /// HIGHESTMODSEQ.
    pub highest: u64,
    /// Per UID: (modseq, info flags string).
    pub messages: BTreeMap<u32, (u64, String)>,
    /// Expunged UIDs with their modseq (the most recent, at most [`MAX_TOMBSTONES`]).
    pub expunged: BTreeMap<u32, u64>,
    /// The lowest modseq from which the expunge tombstones are complete.
    pub tombstones_since: u64,
    /// Number of entry lines read (to decide on compaction).
    pub entries: usize,
}

/// Why a log could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("maildir-modseq line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// A decimal number of digits only (no sign), within `u64`.
fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
            .flatten()
    })
}

impl ModseqLog {
    /// An empty log starting at `highest`.
    pub fn new(uid_validity: u32, highest: u64) -> Self {
        Self {
            uid_validity,
            highest,
            tombstones_since: highest,
            ..Self::default()
        }
    }

    /// Parses a file. A torn last line (no LF) is ignored.
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        // Whole lines only: a torn last line (no LF) is ignored.
        let complete = memchr::memrchr(b'\n', data).map_or(&data[..0], |i| &data[..=i]);
        let mut lines = complete.split_inclusive(|&b| b == b'\n');
        let header = lines.next().ok_or(ParseError {
            line: 1,
            reason: "empty file",
        })?;
        let header = header.strip_suffix(b"\n").unwrap_or(header);
        let header = std::str::from_utf8(header).unwrap_or("");
        let mut it = header.split(' ');
        let (Some("MODSEQ"), Some("1"), Some(v), Some(h), None) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return Err(ParseError {
                line: 1,
                reason: "bad header",
            });
        };
        let bad = ParseError {
            line: 1,
            reason: "bad number",
        };
        let mut log = Self::new(
            v.parse().map_err(|_| bad.clone())?,
            h.parse().map_err(|_| bad)?,
        );
        for (i, line) in lines.enumerate() {
            log.apply_line(line.strip_suffix(b"\n").unwrap_or(line), i + 2)?;
        }
        Ok(log)
    }

    /// Applies more entry lines (each ending in LF; a torn tail is ignored). Returns the
    /// bytes used.
    pub fn append(&mut self, data: &[u8], first_line: usize) -> Result<usize, ParseError> {
        let mut used = 0;
        for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
            let Some(body) = line.strip_suffix(b"\n") else {
                break;
            };
            self.apply_line(body, first_line + i)?;
            used += line.len();
        }
        Ok(used)
    }

    fn apply_line(&mut self, body: &[u8], lineno: usize) -> Result<(), ParseError> {
        let bad = |reason| ParseError {
            line: lineno,
            reason,
        };
        if body.is_empty() {
            return Err(bad("empty line"));
        }
        // Bytes, not text: only the flags need to be UTF-8 (100,000 lines are read at
        // every cold open of a large folder).
        let mut fields = body.splitn(3, |&b| b == b' ');
        let first = fields.next().unwrap_or_default();
        if let Some(u) = first.strip_prefix(b"X") {
            let (Some(m), None) = (fields.next(), fields.next()) else {
                return Err(bad("bad expunge entry"));
            };
            let uid = number(u).ok_or_else(|| bad("bad UID"))?;
            let ms = number(m).ok_or_else(|| bad("bad modseq"))?;
            self.expunge(u32::try_from(uid).map_err(|_| bad("bad UID"))?, ms);
        } else {
            let (Some(m), Some(f)) = (fields.next(), fields.next()) else {
                return Err(bad("bad entry"));
            };
            let uid = number(first).ok_or_else(|| bad("bad UID"))?;
            let ms = number(m).ok_or_else(|| bad("bad modseq"))?;
            let flags = f
                .strip_prefix(b"+")
                .ok_or_else(|| bad("flags must start with +"))?;
            let flags = std::str::from_utf8(flags).map_err(|_| bad("not UTF-8"))?;
            self.set(u32::try_from(uid).map_err(|_| bad("bad UID"))?, ms, flags);
        }
        self.entries += 1;
        Ok(())
    }

    /// Records that `uid` has `flags` since `modseq`.
    pub fn set(&mut self, uid: u32, modseq: u64, flags: &str) {
        self.highest = self.highest.max(modseq);
        self.messages.insert(uid, (modseq, flags.to_owned()));
    }

    /// Records an expunge.
    pub fn expunge(&mut self, uid: u32, modseq: u64) {
        self.highest = self.highest.max(modseq);
        self.messages.remove(&uid);
        self.expunged.insert(uid, modseq);
        if self.expunged.len() > MAX_TOMBSTONES {
            // Forget the oldest tenth at once (one pass, not one per expunge); from then
            // on answers are complete only above the newest modseq forgotten.
            let mut by_age: Vec<(u64, u32)> = self.expunged.iter().map(|(u, m)| (*m, *u)).collect();
            let forget = self.expunged.len() - MAX_TOMBSTONES * 9 / 10;
            by_age.select_nth_unstable(forget - 1);
            for &(m, u) in &by_age[..forget] {
                self.expunged.remove(&u);
                self.tombstones_since = self.tombstones_since.max(m);
            }
        }
    }

    /// One entry line for a change.
    pub fn set_line(uid: u32, modseq: u64, flags: &str) -> String {
        format!("{uid} {modseq} +{flags}\n")
    }

    /// One entry line for an expunge.
    pub fn expunge_line(uid: u32, modseq: u64) -> String {
        format!("X{uid} {modseq}\n")
    }

    /// True when the log holds much more history than state.
    pub fn wants_compaction(&self) -> bool {
        self.entries > 2 * (self.messages.len() + self.expunged.len()) + 64
    }

    /// The compacted file.
    pub fn serialize(&self) -> Vec<u8> {
        let mut s = format!("MODSEQ 1 {} {}\n", self.uid_validity, self.highest);
        let mut exp: Vec<_> = self.expunged.iter().collect();
        exp.sort_by_key(|(_, m)| **m);
        for (u, m) in exp {
            s.push_str(&Self::expunge_line(*u, *m));
        }
        for (u, (m, f)) in &self.messages {
            s.push_str(&Self::set_line(*u, *m, f));
        }
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fold() {
        let data = b"MODSEQ 1 77 5\n1 2 +S\n2 3 +\n1 4 +FS\nX2 5\n3 6 +Sa\n3 7 tor";
        let log = ModseqLog::parse(data).unwrap();
        assert_eq!(log.uid_validity, 77);
        assert_eq!(log.highest, 6);
        assert_eq!(log.messages[&1], (4, "FS".to_owned()));
        assert_eq!(log.messages[&3], (6, "Sa".to_owned()));
        assert!(!log.messages.contains_key(&2));
        assert_eq!(log.expunged[&2], 5);
        let again = ModseqLog::parse(&log.serialize()).unwrap();
        assert_eq!(again.messages, log.messages);
        assert_eq!(again.expunged, log.expunged);
        assert_eq!(again.highest, 6);
    }

    #[test]
    fn errors() {
        assert!(ModseqLog::parse(b"").is_err());
        assert!(ModseqLog::parse(b"MODSEQ 2 1 1\n").is_err());
        assert_eq!(
            ModseqLog::parse(b"MODSEQ 1 1 1\nx 1 +S\n")
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(
            ModseqLog::parse(b"MODSEQ 1 1 1\n1 1 S\n").unwrap_err().line,
            2
        );
        assert_eq!(
            ModseqLog::parse(b"MODSEQ 1 1 1\n1 1 +\n1 1\n")
                .unwrap_err()
                .line,
            3
        );
    }

    #[test]
    fn tombstones_are_bounded() {
        let mut log = ModseqLog::new(1, 0);
        let max = MAX_TOMBSTONES as u32;
        for uid in 1..=max {
            log.expunge(uid, u64::from(uid));
        }
        assert_eq!(log.expunged.len(), MAX_TOMBSTONES);
        assert_eq!(log.tombstones_since, 0);
        // One more: the oldest tenth goes, and answers are complete above its newest.
        log.expunge(max + 1, u64::from(max + 1));
        let forgotten = u64::from(max + 1 - max * 9 / 10);
        assert_eq!(log.expunged.len(), MAX_TOMBSTONES * 9 / 10);
        assert_eq!(log.tombstones_since, forgotten);
        assert_eq!(log.expunged.keys().next(), Some(&(forgotten as u32 + 1)));
        // 100,000 expunges stay fast (this was one scan of all tombstones per expunge).
        for uid in max + 2..max + 100_000 {
            log.expunge(uid, u64::from(uid));
        }
        assert!(log.expunged.len() <= MAX_TOMBSTONES);
        assert_eq!(log.expunged.keys().next_back(), Some(&(max + 99_999)));
        let since = log.tombstones_since;
        assert!(log.expunged.values().all(|&m| m > since));
    }

    #[test]
    fn numbers_are_digits_only() {
        for bad in [
            &b"MODSEQ 1 5 9\n+1 2 +S\n"[..],
            b"MODSEQ 1 5 9\n1 -2 +S\n",
            b"MODSEQ 1 5 9\nX1 99999999999999999999999\n",
            b"MODSEQ 1 5 9\nX4294967296 3\n",
            b"MODSEQ 1 5 9\nX1 2 3\n",
            b"MODSEQ 1 5 9\n1 2 S\n",
            b"MODSEQ 1 5 9\n1 2 +\xff\n",
        ] {
            assert_eq!(ModseqLog::parse(bad).unwrap_err().line, 2, "{bad:?}");
        }
        let log =
            ModseqLog::parse(b"MODSEQ 1 5 9\n1 2 +S\nX3 18446744073709551615\n7 8 +").unwrap();
        assert_eq!(log.messages.get(&1), Some(&(2, "S".to_string())));
        assert_eq!(log.highest, u64::MAX);
        assert_eq!(log.entries, 2);
    }
}
