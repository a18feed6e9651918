//! Maildir++ quota: the `maildirsize` file in the Maildir++ root (MD-012, SRV-020).
//!
//! ```text
//! file   = limits LF *(delta LF)
//! limits = [bytes "S"] ["," count "C"]        ; e.g. "1000000S,1000C"; empty = no limit
//! delta  = bytes SP count                     ; signed integers, e.g. "1234 1", "-1234 -1"
//! ```
//!
//! Use is the sum of the deltas. A delivery appends its line with one `write` in append
//! mode (atomic for short writes); an expunge appends a negative line. The file is
//! recalculated (every message of every folder counted, sizes from `,S=` or `stat`) when it
//! is missing, when it reaches 5120 bytes, or when a delivery would exceed the quota and the
//! file is older than 15 minutes, as the Maildir++ specification says. The recalculated
//! file is written to a temporary file and renamed into place.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, IoContext, QuotaResource, Result};
use crate::options::Options;

/// Quota limits; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Storage limit in bytes.
    pub bytes: Option<u64>,
    /// Message count limit.
    pub messages: Option<u64>,
}

/// Current use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    /// Bytes stored.
    pub bytes: i64,
    /// Messages stored.
    pub messages: i64,
}

/// A parsed `maildirsize`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaildirSize {
    /// The limits in the first line.
    pub limits: QuotaLimits,
    /// The sum of all delta lines.
    pub usage: QuotaUsage,
    /// Number of delta lines.
    pub lines: usize,
}

/// The file name.
pub const FILE_NAME: &str = "maildirsize";
/// Recalculate once the file reaches this size (Maildir++ specification).
pub const RECALC_SIZE: u64 = 5120;
/// Recalculate an over-quota file older than this (Maildir++ specification).
pub const RECALC_AGE: Duration = Duration::from_mins(15);

/// Why a `maildirsize` could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("maildirsize line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl QuotaLimits {
    /// Parses the first line (`1000000S,1000C`, either part optional, any order).
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        let mut l = Self::default();
        for part in line.trim().split(',').filter(|p| !p.trim().is_empty()) {
            let part = part.trim();
            // The unit is the last character (not necessarily ASCII in a broken file).
            let unit_len = part.chars().next_back().map_or(0, char::len_utf8);
            let (n, unit) = part.split_at(part.len() - unit_len);
            let bad = ParseError {
                line: 1,
                reason: "limit is not <number>S or <number>C",
            };
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            let v: u64 = n.parse().map_err(|_| bad.clone())?;
            // 0 means "no limit" in Maildir++ practice.
            let v = (v > 0).then_some(v);
            match unit {
                "S" => l.bytes = v,
                "C" => l.messages = v,
                _ => return Err(bad),
            }
        }
        Ok(l)
    }

    /// The first line of a `maildirsize` for these limits.
    pub fn to_line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = self.bytes {
            parts.push(format!("{b}S"));
        }
        if let Some(c) = self.messages {
            parts.push(format!("{c}C"));
        }
        if parts.is_empty() {
            "0S".to_owned()
        } else {
            parts.join(",")
        }
    }

    /// Checks whether `add` more bytes and `add_msgs` messages fit.
    pub fn check(&self, used: QuotaUsage, add: u64, add_msgs: u64) -> Result<()> {
        let used_b = u64::try_from(used.bytes.max(0)).unwrap_or(0);
        let used_m = u64::try_from(used.messages.max(0)).unwrap_or(0);
        if let Some(limit) = self.bytes
            && used_b.saturating_add(add) > limit
        {
            return Err(Error::QuotaExceeded {
                resource: QuotaResource::Bytes,
                limit,
                used: used_b,
                needed: add,
            });
        }
        if let Some(limit) = self.messages
            && used_m.saturating_add(add_msgs) > limit
        {
            return Err(Error::QuotaExceeded {
                resource: QuotaResource::Messages,
                limit,
                used: used_m,
                needed: add_msgs,
            });
        }
        Ok(())
    }
}

impl MaildirSize {
    /// Parses a whole file. A torn last line (no LF) is ignored.
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(data).map_err(|_| ParseError {
            line: 1,
            reason: "not UTF-8",
        })?;
        let mut lines: Vec<&str> = text.split('\n').collect();
        // After the final LF there is an empty string; a non-empty one is a torn append.
        lines.pop();
        let Some(first) = lines.first() else {
            return Err(ParseError {
                line: 1,
                reason: "empty file",
            });
        };
        let mut m = Self {
            limits: QuotaLimits::parse(first)?,
            ..Self::default()
        };
        for (i, line) in lines.iter().enumerate().skip(1) {
            let mut it = line.split_ascii_whitespace();
            let bad = ParseError {
                line: i + 1,
                reason: "expected <bytes> <count>",
            };
            let (Some(b), Some(c), None) = (it.next(), it.next(), it.next()) else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(bad);
            };
            let b: i64 = b.parse().map_err(|_| bad.clone())?;
            let c: i64 = c.parse().map_err(|_| bad.clone())?;
            m.usage.bytes = m.usage.bytes.saturating_add(b);
            m.usage.messages = m.usage.messages.saturating_add(c);
            m.lines += 1;
        }
        Ok(m)
    }
}

/// The quota of one Maildir++ root.
#[derive(Debug)]
pub(crate) struct Quota<'a> {
    pub(crate) root: &'a Path,
    pub(crate) opts: &'a Options,
}

impl Quota<'_> {
    fn path(&self) -> std::path::PathBuf {
        self.root.join(FILE_NAME)
    }

    /// Reads limits and use; `None` when there is no quota at all (no file, no override).
    pub(crate) fn read(&self) -> Result<Option<(QuotaLimits, QuotaUsage)>> {
        let path = self.path();
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return match self.opts.quota_override {
                    None => Ok(None),
                    Some(l) => {
                        let usage = self.recalculate(l)?;
                        Ok(Some((l, usage)))
                    }
                };
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let parsed = MaildirSize::parse(&data);
        let limits = match (&parsed, self.opts.quota_override) {
            (_, Some(l)) => l,
            (Ok(m), None) => m.limits,
            (Err(_), None) => return Ok(None),
        };
        match parsed {
            Ok(m) if (data.len() as u64) < RECALC_SIZE && m.limits == limits => {
                Ok(Some((limits, m.usage)))
            }
            _ => Ok(Some((limits, self.recalculate(limits)?))),
        }
    }

    /// Checks that a message of `size` bytes fits, recalculating a stale over-quota file
    /// once before refusing.
    pub(crate) fn check(&self, size: u64) -> Result<()> {
        let Some((limits, usage)) = self.read()? else {
            return Ok(());
        };
        match limits.check(usage, size, 1) {
            Ok(()) => Ok(()),
            Err(e) => {
                let old = fs::metadata(self.path())
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| self.opts.now().duration_since(t).ok())
                    .is_none_or(|age| age > RECALC_AGE);
                if old {
                    let usage = self.recalculate(limits)?;
                    limits.check(usage, size, 1)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Appends a delta line if the file exists (a missing file is rebuilt on next read).
    pub(crate) fn add(&self, bytes: i64, messages: i64) -> Result<()> {
        let path = self.path();
        let line = format!("{bytes} {messages}\n");
        match OpenOptions::new()
            .append(true)
            .mode(self.opts.file_mode)
            .open(&path)
        {
            Ok(mut f) => f.write_all(line.as_bytes()).ctx("append", &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("open", &path, e)),
        }
    }

    /// Counts every message of the root and its folders and rewrites the file.
    pub(crate) fn recalculate(&self, limits: QuotaLimits) -> Result<QuotaUsage> {
        let mut usage = QuotaUsage::default();
        let mut dirs = vec![self.root.to_owned()];
        for e in fs::read_dir(self.root).ctx("list", self.root)? {
            let e = e.ctx("list", self.root)?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && !name.starts_with("..") && e.path().is_dir() {
                dirs.push(e.path());
            }
        }
        for d in dirs {
            for sub in ["cur", "new"] {
                let sd = d.join(sub);
                let rd = match fs::read_dir(&sd) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("list", &sd, e)),
                };
                for e in rd {
                    let e = e.ctx("list", &sd)?;
                    let name = e.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if name.starts_with('.') {
                        continue;
                    }
                    let parsed = crate::name::MessageName::parse(name, self.opts.separator);
                    let size = match parsed.size() {
                        Some(s) => s,
                        None => match e.metadata() {
                            Ok(m) => m.len(),
                            Err(_) => continue, // expunged meanwhile
                        },
                    };
                    usage.bytes += i64::try_from(size).unwrap_or(i64::MAX);
                    usage.messages += 1;
                }
            }
        }
        let content = format!("{}\n{} {}\n", limits.to_line(), usage.bytes, usage.messages);
        let suffix = format!(".tmp.{}.{}", self.opts.pid, self.opts.random.next_u64());
        crate::fsutil::write_atomic(
            &self.path(),
            &suffix,
            content.as_bytes(),
            self.opts.file_mode,
            self.opts.fsync,
        )?;
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_spec_forms() {
        let m = MaildirSize::parse(b"1000000S,1000C\n1234 1\n-234 -1\n10 1\n").unwrap();
        assert_eq!(m.limits.bytes, Some(1_000_000));
        assert_eq!(m.limits.messages, Some(1000));
        assert_eq!(
            m.usage,
            QuotaUsage {
                bytes: 1010,
                messages: 1
            }
        );
        assert_eq!(m.lines, 3);
        let m = MaildirSize::parse(b"500C\n  12   1\n7 1 torn").unwrap();
        assert_eq!((m.limits.bytes, m.limits.messages), (None, Some(500)));
        assert_eq!(m.usage.bytes, 12);
        assert_eq!(QuotaLimits::parse("0S").unwrap(), QuotaLimits::default());
        assert!(MaildirSize::parse(b"12X\n").is_err());
        // Found by the maildir_maildirsize fuzz target: a multi-byte last character.
        assert!(MaildirSize::parse("\0\0\0\u{70a}\n".as_bytes()).is_err());
        assert!(MaildirSize::parse(b"10S\nabc 1\n").is_err());
        assert!(MaildirSize::parse(b"").is_err());
        assert_eq!(
            QuotaLimits {
                bytes: Some(5),
                messages: Some(2)
            }
            .to_line(),
            "5S,2C"
        );
    }

    #[test]
    fn check_limits() {
        let l = QuotaLimits {
            bytes: Some(100),
            messages: Some(2),
        };
        let u = QuotaUsage {
            bytes: 90,
            messages: 1,
        };
        assert!(l.check(u, 10, 1).is_ok());
        let e = l.check(u, 11, 1).unwrap_err();
        assert!(matches!(
            e,
            Error::QuotaExceeded {
                resource: QuotaResource::Bytes,
                limit: 100,
                used: 90,
                needed: 11
            }
        ));
        assert!(e.is_temporary());
        let u = QuotaUsage {
            bytes: 0,
            messages: 2,
        };
        assert!(matches!(
            l.check(u, 1, 1),
            Err(Error::QuotaExceeded {
                resource: QuotaResource::Messages,
                ..
            })
        ));
    }
}
