//! The per-user store of Sieve tracking ids: `duplicate` (RFC 7352) and the vacation
//! response tracking of RFC 5230 §4.2, in `HOME/sieve-duplicates`.
//!
//! One line per id: `EXPIRY_UNIX_SECONDS KEY`, where the key is the hex SHA-256 of the
//! runtime's opaque id (which may hold any byte). Expired lines are dropped on every
//! write; the file never holds more than [`MAX_ENTRIES`] ids (the oldest go first). Writes
//! replace the file atomically. A process-wide lock serialises the users' read-modify-write
//! cycles; a lost update between two processes only means one extra vacation reply.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// Most ids kept per user.
pub const MAX_ENTRIES: usize = 10_000;

/// The file name inside the account's home.
pub const FILE_NAME: &str = "sieve-duplicates";

static LOCK: Mutex<()> = Mutex::new(());

fn read(path: &Path, now: u64) -> HashMap<String, u64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|l| {
            let (exp, id) = l.split_once(' ')?;
            let exp: u64 = exp.parse().ok()?;
            (exp > now).then(|| (id.to_string(), exp))
        })
        .collect()
}

fn key(id: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, id.as_bytes())
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Whether `id` was recorded and has not expired at `now` (Unix seconds).
pub fn seen(home: &Path, id: &str, now: u64) -> bool {
    let _g = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    read(&home.join(FILE_NAME), now).contains_key(&key(id))
}

/// Records ids with their periods (seconds) at `now`.
pub fn record(home: &Path, ids: &[(String, u64)], now: u64) -> std::io::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let _g = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let path = home.join(FILE_NAME);
    let mut map = read(&path, now);
    for (id, period) in ids {
        map.insert(key(id), now.saturating_add(*period));
    }
    let mut entries: Vec<(String, u64)> = map.into_iter().collect();
    if entries.len() > MAX_ENTRIES {
        entries.sort_by_key(|(_, exp)| std::cmp::Reverse(*exp));
        entries.truncate(MAX_ENTRIES);
    }
    let mut text = String::new();
    for (id, exp) in entries {
        let _ = writeln!(text, "{exp} {id}");
    }
    std::fs::create_dir_all(home)?;
    super::users::write_atomically(&path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_expire_and_bound() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("u");
        assert!(!seen(&home, "a", 100));
        record(&home, &[("a".into(), 50), ("b c\0\n".into(), 60)], 100).unwrap();
        assert!(seen(&home, "a", 149));
        assert!(!seen(&home, "a", 150));
        assert!(seen(&home, "b c\0\n", 150));
        assert!(!seen(&home, "b", 120));
        let many: Vec<(String, u64)> = (0..MAX_ENTRIES as u64 + 10)
            .map(|i| (format!("id{i}"), 1000 + i))
            .collect();
        record(&home, &many, 100).unwrap();
        assert!(seen(&home, &format!("id{}", MAX_ENTRIES + 9), 100));
        assert!(
            !seen(&home, "id0", 100),
            "the oldest-expiring ids are dropped first"
        );
        let lines = std::fs::read_to_string(home.join(FILE_NAME))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, MAX_ENTRIES);
    }
}
