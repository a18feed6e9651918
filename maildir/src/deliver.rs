//! Delivery: `tmp/` → fsync → `new/` (or `cur/`) → fsync of the directory → success
//! (MD-001, MD-002, MD-011).
//!
//! ```text
//!   unique name ──► tmp/<unique>  (O_EXCL, written, fsync)
//!                     │  quota check (maildirsize), size limit
//!                     ▼
//!   link() ──► new/<unique>,S=<size>,W=<vsize>   (never overwrites)
//!                     │  fsync new/ ; unlink tmp/<unique>
//!                     ▼
//!                  Ok(Delivered)   ── only now may the caller say "250 OK"
//! ```
//!
//! Any failure removes what was written: a full disk (`ENOSPC`, `EDQUOT`) or an exceeded
//! quota is a temporary [`Error`] and leaves nothing in `new/` or `cur/`. A crash leaves at
//! most a file in `tmp/`, removed after 36 hours by [`clean_tmp`].

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::options::Options;

/// A delivered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The file name in `new/` or `cur/`.
    pub name: String,
    /// The full path.
    pub path: PathBuf,
    /// Size in bytes as stored.
    pub size: u64,
    /// Size with CRLF line ends (IMAP RFC822.SIZE).
    pub vsize: u64,
}

/// Where a written message goes.
#[derive(Clone, Debug)]
pub(crate) enum Target<'a> {
    /// `new/`, no info (a delivery).
    New,
    /// `cur/` with these info flags and optional internal date (IMAP APPEND).
    Cur {
        flags: &'a str,
        date: Option<SystemTime>,
    },
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A new unique name: `<secs>.M<usecs>P<pid>Q<seq>R<random>.<host>`.
///
/// Seconds and microseconds order names by arrival (UIDs are assigned in that order); the
/// per-process sequence number separates deliveries of one process within a microsecond;
/// 64 random bits separate processes whose PIDs collide (containers, PID reuse) and hosts
/// with the same name. The host name is escaped as the Maildir specification says.
pub fn unique_name(opts: &Options) -> String {
    let now = opts
        .now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}R{:016x}.{}",
        now.as_secs(),
        now.subsec_micros(),
        opts.pid,
        seq,
        opts.random.next_u64(),
        escape_host(&opts.hostname)
    )
}

fn escape_host(h: &str) -> String {
    let mut s = String::with_capacity(h.len());
    for c in h.chars() {
        match c {
            '/' => s.push_str("\\057"),
            ':' => s.push_str("\\072"),
            ',' => s.push_str("\\054"),
            c if c.is_control() || c == ' ' || c == ';' || c == '!' => s.push('_'),
            c => s.push(c),
        }
    }
    s
}

/// Counts size and CRLF size while writing.
#[derive(Default)]
struct Sizes {
    size: u64,
    lf: u64,
    crlf: u64,
    last_cr: bool,
}

impl Sizes {
    fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        for i in memchr::memchr_iter(b'\n', chunk) {
            self.lf += 1;
            let cr = if i == 0 {
                self.last_cr
            } else {
                chunk[i - 1] == b'\r'
            };
            if cr {
                self.crlf += 1;
            }
        }
        if let Some(&b) = chunk.last() {
            self.last_cr = b == b'\r';
        }
    }

    fn vsize(&self) -> u64 {
        self.size + self.lf - self.crlf
    }
}

/// Writes a message from `src` into folder directory `dir`; `quota_root` is the Maildir++
/// root whose `maildirsize` is checked and updated.
pub(crate) fn write_message(
    dir: &Path,
    quota_root: &Path,
    src: &mut dyn Read,
    target: &Target<'_>,
    opts: &Options,
) -> Result<Delivered> {
    let tmp_dir = dir.join("tmp");
    // A unique name that does not exist yet: O_EXCL, retried on the (unlikely) collision.
    let mut attempt = 0;
    let (unique, tmp_path, mut file) = loop {
        let unique = unique_name(opts);
        let tmp_path = tmp_dir.join(&unique);
        match fsutil::create_new(&tmp_path, opts.file_mode) {
            Ok(f) => break (unique, tmp_path, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 0 => {
                // tmp/ missing (a folder created by a tool that skips it): create it.
                fsutil::create_dir_all(&tmp_dir, opts.dir_mode)?;
                attempt += 1;
            }
            Err(e) => return Err(Error::io("create", &tmp_path, e)),
        }
    };
    let cleanup = |e: Error| {
        let _ = fs::remove_file(&tmp_path);
        e
    };
    let mut sizes = Sizes::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cleanup(Error::io("read message", &tmp_path, e))),
        };
        sizes.update(&buf[..n]);
        if sizes.size > opts.max_message_size {
            return Err(cleanup(Error::MessageTooLarge {
                limit: opts.max_message_size,
            }));
        }
        if let Err(e) = file.write_all(&buf[..n]) {
            return Err(cleanup(Error::io("write", &tmp_path, e)));
        }
    }
    if let Target::Cur {
        date: Some(date), ..
    } = target
        && let Err(e) = file.set_modified(*date)
    {
        return Err(cleanup(Error::io("set date", &tmp_path, e)));
    }
    if opts.fsync
        && let Err(e) = file.sync_all()
    {
        return Err(cleanup(Error::io("fsync", &tmp_path, e)));
    }
    drop(file);
    if let Err(e) = (crate::quota::Quota {
        root: quota_root,
        opts,
    })
    .check(sizes.size)
    {
        return Err(cleanup(e));
    }
    let base = format!("{unique},S={},W={}", sizes.size, sizes.vsize());
    let (sub, name) = match target {
        Target::New => ("new", base),
        Target::Cur { flags, .. } => ("cur", format!("{base}{}2,{flags}", opts.separator)),
    };
    let final_dir = dir.join(sub);
    let final_path = final_dir.join(&name);
    if let Err(e) = link_or_rename(&tmp_path, &final_path) {
        return Err(cleanup(e));
    }
    if opts.fsync
        && let Err(e) = fsutil::sync_dir(&final_dir)
    {
        // The entry may not be durable: take it back so that a retry cannot duplicate it.
        let _ = fs::remove_file(&final_path);
        return Err(cleanup(e));
    }
    let _ = fs::remove_file(&tmp_path);
    // Quota bookkeeping failure after a durable delivery must not turn it into a failure:
    // the next recalculation repairs the count.
    let _ = (crate::quota::Quota {
        root: quota_root,
        opts,
    })
    .add(i64::try_from(sizes.size).unwrap_or(i64::MAX), 1);
    Ok(Delivered {
        name,
        path: final_path,
        size: sizes.size,
        vsize: sizes.vsize(),
    })
}

/// `link()` (which never overwrites), or `rename()` where hard links are not supported.
pub(crate) fn link_or_rename(from: &Path, to: &Path) -> Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::io("link", to, e)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
            ) || e.raw_os_error() == Some(18) =>
        {
            if to.exists() {
                return Err(Error::io(
                    "rename",
                    to,
                    io::Error::from(io::ErrorKind::AlreadyExists),
                ));
            }
            fs::rename(from, to).ctx("rename", to)
        }
        Err(e) => Err(Error::io("link", to, e)),
    }
}

/// Puts a copy of `from` at `to`: a hard link (no data written), or where that is not
/// possible (another file system) a copy written into `tmp/`, fsynced and linked into place.
pub(crate) fn link_or_rename_copy(from: &Path, to: &Path, opts: &Options) -> Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
            ) =>
        {
            Err(Error::io("link", from, e))
        }
        Err(_) => {
            let folder = to
                .parent()
                .and_then(Path::parent)
                .ok_or(Error::Unsupported("copy target outside a folder"))?;
            let tmp = folder.join("tmp").join(unique_name(opts));
            let res = (|| {
                fs::copy(from, &tmp).map_err(|e| Error::io("copy", from, e))?;
                if opts.fsync {
                    fs::File::open(&tmp)
                        .and_then(|f| f.sync_all())
                        .ctx("fsync", &tmp)?;
                }
                link_or_rename(&tmp, to)
            })();
            let _ = fs::remove_file(&tmp);
            res
        }
    }
}

/// Removes files in `dir/tmp/` untouched (neither modified nor read) for longer than
/// the configured age (36 hours by default). Returns how many were removed.
pub fn clean_tmp(dir: &Path, opts: &Options) -> Result<usize> {
    let tmp = dir.join("tmp");
    let rd = match fs::read_dir(&tmp) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("list", &tmp, e)),
    };
    let now = opts.now();
    let mut removed = 0;
    for e in rd {
        let e = e.ctx("list", &tmp)?;
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let newest = [meta.modified().ok(), meta.accessed().ok()]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        if now
            .duration_since(newest)
            .is_ok_and(|age| age > opts.tmp_max_age)
            && fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sizes_count_crlf_across_chunks() {
        let mut s = Sizes::default();
        s.update(b"a\r");
        s.update(b"\nb\nc\r\n");
        assert_eq!((s.size, s.vsize()), (8, 9));
    }

    #[test]
    fn unique_names_are_unique_and_escaped() {
        let mut opts = Options::default();
        opts.hostname("mx/1:2,3").pid(42);
        let a = unique_name(&opts);
        let b = unique_name(&opts);
        assert_ne!(a, b);
        assert!(a.ends_with(".mx\\0571\\0722\\0543"), "{a}");
        assert!(a.contains("P42Q"));
        let n = crate::name::MessageName::parse(&a, ':');
        assert_eq!(n.unique(), a);
    }

    #[test]
    fn injected_clock_and_random_make_names_deterministic() {
        let mut opts = Options::default();
        opts.clock(Arc::new(crate::options::FixedClock::new(1_700_000_000)))
            .random(Arc::new(crate::options::SeededRandom::new(7)))
            .hostname("h")
            .pid(9);
        let n = unique_name(&opts);
        assert!(n.starts_with("1700000000.M0P9Q"), "{n}");
        assert!(n.rsplit('.').next() == Some("h"));
    }

    #[test]
    fn stale_tmp_files_are_removed_after_36_hours() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("tmp")).unwrap();
        let old = dir.path().join("tmp/old");
        let fresh = dir.path().join("tmp/fresh");
        fs::write(&old, b"x").unwrap();
        fs::write(&fresh, b"y").unwrap();
        let f = fs::File::options().write(true).open(&old).unwrap();
        let then = SystemTime::now() - Duration::from_hours(37);
        f.set_times(fs::FileTimes::new().set_modified(then).set_accessed(then))
            .unwrap();
        drop(f);
        let opts = Options::default();
        assert_eq!(clean_tmp(dir.path(), &opts).unwrap(), 1);
        assert!(!old.exists() && fresh.exists());
        // 35 hours later by the injected clock the fresh one is still kept, at 37 gone.
        let mut opts = Options::default();
        let clock = Arc::new(crate::options::FixedClock::new(crate::options::unix_secs(
            SystemTime::now(),
        )));
        opts.clock(clock.clone());
        clock.advance(Duration::from_hours(35));
        assert_eq!(clean_tmp(dir.path(), &opts).unwrap(), 0);
        clock.advance(Duration::from_hours(2));
        assert_eq!(clean_tmp(dir.path(), &opts).unwrap(), 1);
    }
}
