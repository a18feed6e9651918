//! Dot-lock files compatible with Dovecot's (`dovecot-uidlist.lock`, `subscriptions.lock`,
//! `dovecot-keywords.lock`).
//!
//! The lock for `F` is the file `F.lock`, created with `O_CREAT|O_EXCL`. While held, the
//! owner may append to `F`; to replace `F` it writes the new content into the lock file
//! itself and renames it over `F`, which releases the lock in the same atomic step (Dovecot's
//! `file_dotlock_replace`). A waiter treats a lock as stale when
//!
//! - it contains `<pid>:<host>` with our host name, is older than 2 seconds and that
//!   process no longer exists (checked through `/proc/<pid>`), or
//! - it is empty and older than 5 seconds (its owner died between creating it and writing
//!   `<pid>:<host>`), or
//! - neither the lock nor `F` has changed for the stale timeout (120 s for
//!   `dovecot-uidlist`, 30 s for `subscriptions`, as in Dovecot),
//!
//! and then removes it (after checking it is still the same file) and tries again, until the
//! lock timeout gives [`crate::Error::LockTimeout`]. A long holder
//! refreshes its lock with [`DotLock::touch`].

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, Stamp};
use crate::options::Options;

/// A dot-lock must be at least this old before its PID is checked (as Dovecot).
const PID_CHECK_AGE: Duration = Duration::from_secs(2);

/// A lock file that is still empty this long after it was made belongs to a process that
/// died between creating it and writing its `<pid>:<host>` (killed with SIGKILL at that
/// moment): the owner writes right after the create, so an empty lock this old is stale.
const EMPTY_LOCK_AGE: Duration = Duration::from_secs(5);

/// A held dot-lock. Dropping it removes the lock file (if it is still ours).
#[derive(Debug)]
pub struct DotLock {
    target: PathBuf,
    lock: PathBuf,
    file: Option<File>,
    stamp: Stamp,
    fsync: bool,
}

/// How long to wait and when to call a lock stale.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockTimes {
    pub(crate) timeout: Duration,
    pub(crate) stale_after: Duration,
}

impl DotLock {
    /// Takes the lock for `target` (the lock file is `target` + `.lock`).
    pub(crate) fn acquire(target: &Path, times: LockTimes, opts: &Options) -> Result<Self> {
        let mut lock = target.as_os_str().to_owned();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        let started = Instant::now();
        let mut wait = Duration::from_micros(500);
        let mut seen: Option<(Stamp, Option<Stamp>)> = None;
        let mut last_change = opts.now();
        loop {
            match fsutil::create_new(&lock, opts.file_mode) {
                Ok(mut file) => {
                    // `<pid>:<host>`, as Dovecot writes it: a waiter on this host can tell
                    // at once that the owner died (a crash while holding the lock).
                    let _ = write!(file, "{}:{}", opts.pid, opts.hostname);
                    let stamp = Stamp::of(&file.metadata().ctx("stat", &lock)?);
                    return Ok(Self {
                        target: target.to_owned(),
                        lock,
                        file: Some(file),
                        stamp,
                        fsync: opts.fsync,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create lock", &lock, e)),
            }
            // Someone holds it: is it stale?
            let now = opts.now();
            let lock_meta = match fs::symlink_metadata(&lock) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("stat lock", &lock, e)),
            };
            let lock_stamp = Stamp::of(&lock_meta);
            let target_stamp = Stamp::read(target)?;
            match seen {
                None => {
                    // First look: the lock's own age counts.
                    let mtime = lock_meta.modified().unwrap_or(now);
                    let tmtime = fs::metadata(target)
                        .and_then(|m| m.modified())
                        .unwrap_or(mtime);
                    last_change = mtime.max(tmtime).min(now);
                }
                Some((l, t)) if l != lock_stamp || t != target_stamp => last_change = now,
                Some(_) => {}
            }
            seen = Some((lock_stamp, target_stamp));
            let age = now.duration_since(last_change).unwrap_or(Duration::ZERO);
            let lock_age = now
                .duration_since(lock_meta.modified().unwrap_or(now))
                .unwrap_or(Duration::ZERO);
            let dead_owner = lock_age >= PID_CHECK_AGE
                && owner_is_dead(&lock, &opts.hostname, lock_age >= EMPTY_LOCK_AGE);
            if dead_owner || age > times.stale_after {
                override_stale(&lock, lock_stamp)?;
                seen = None;
                continue;
            }
            if started.elapsed() >= times.timeout {
                return Err(Error::LockTimeout { path: lock });
            }
            // Randomised back-off so that waiters do not move in lock step.
            let jitter = Duration::from_micros(opts.random.next_u64() % 500);
            std::thread::sleep(wait + jitter);
            wait = (wait * 2).min(Duration::from_millis(50));
        }
    }

    /// The file this lock protects.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Refreshes the lock's mtime so that waiters do not take it for stale.
    pub fn touch(&mut self) -> Result<()> {
        if let Some(f) = &self.file {
            f.set_modified(SystemTime::now()).ctx("touch", &self.lock)?;
            self.stamp = Stamp::of(&f.metadata().ctx("stat", &self.lock)?);
        }
        Ok(())
    }

    /// Replaces the protected file with `data` and releases the lock in one rename.
    pub(crate) fn replace(mut self, data: &[u8]) -> Result<()> {
        let Some(mut f) = self.file.take() else {
            return Err(Error::Unsupported("lock already released"));
        };
        let res = (|| {
            // The lock holds "<pid>:<host>": replace it from the start.
            f.set_len(0).ctx("truncate", &self.lock)?;
            f.seek(SeekFrom::Start(0)).ctx("seek", &self.lock)?;
            f.write_all(data).ctx("write", &self.lock)?;
            if self.fsync {
                f.sync_all().ctx("fsync", &self.lock)?;
            }
            self.check_still_ours()?;
            fs::rename(&self.lock, &self.target).ctx("rename", &self.target)?;
            if self.fsync
                && let Some(dir) = self.target.parent()
            {
                fsutil::sync_dir(dir)?;
            }
            Ok(())
        })();
        if res.is_err() {
            self.release();
        }
        res
    }

    fn check_still_ours(&self) -> Result<()> {
        match Stamp::read(&self.lock)? {
            Some(s) if s.ino == self.stamp.ino && s.dev == self.stamp.dev => Ok(()),
            _ => Err(Error::Corrupt {
                path: self.lock.clone(),
                reason: "our lock was overridden as stale".into(),
            }),
        }
    }

    fn release(&mut self) {
        if self.file.take().is_some() && self.check_still_ours().is_ok() {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// True when the lock holds `<pid>:<host>` for our host and that process is gone.
fn owner_is_dead(lock: &Path, host: &str, empty_is_dead: bool) -> bool {
    let Ok(content) = fs::read_to_string(lock) else {
        return false;
    };
    if content.is_empty() {
        return empty_is_dead;
    }
    let Some((pid, h)) = content.trim_end().split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    h == host && pid != 0 && !Path::new("/proc").join(pid.to_string()).exists()
}

fn override_stale(lock: &Path, judged: Stamp) -> Result<()> {
    // Only remove the very file we judged stale.
    if Stamp::read(lock)?.is_some_and(|s| s.ino == judged.ino && s.dev == judged.dev) {
        match fs::remove_file(lock) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove stale lock", lock, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(timeout_ms: u64, stale_s: u64) -> LockTimes {
        LockTimes {
            timeout: Duration::from_millis(timeout_ms),
            stale_after: Duration::from_secs(stale_s),
        }
    }

    #[test]
    fn exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dovecot-uidlist");
        let opts = Options::default();
        let l = DotLock::acquire(&target, times(50, 120), &opts).unwrap();
        assert!(dir.path().join("dovecot-uidlist.lock").exists());
        let e = DotLock::acquire(&target, times(50, 120), &opts).unwrap_err();
        assert!(matches!(e, Error::LockTimeout { .. }) && e.is_temporary());
        drop(l);
        assert!(!dir.path().join("dovecot-uidlist.lock").exists());
        DotLock::acquire(&target, times(50, 120), &opts).unwrap();
    }

    #[test]
    fn replace_writes_target_and_releases() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("subscriptions");
        let opts = Options::default();
        let l = DotLock::acquire(&target, times(50, 30), &opts).unwrap();
        l.replace(b"V\t2\n\nINBOX\n").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"V\t2\n\nINBOX\n");
        assert!(!dir.path().join("subscriptions.lock").exists());
    }

    #[test]
    fn old_unchanged_lock_is_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dovecot-uidlist");
        let lock = dir.path().join("dovecot-uidlist.lock");
        let f = File::create(&lock).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_mins(5))
            .unwrap();
        drop(f);
        let opts = Options::default();
        DotLock::acquire(&target, times(1000, 120), &opts).unwrap();
    }

    #[test]
    fn fresh_lock_is_respected_until_stale_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dovecot-uidlist");
        File::create(dir.path().join("dovecot-uidlist.lock")).unwrap();
        let opts = Options::default();
        // Not stale for 120 s: times out.
        assert!(matches!(
            DotLock::acquire(&target, times(30, 120), &opts),
            Err(Error::LockTimeout { .. })
        ));
        // With a clock two minutes ahead it is stale.
        let mut opts = Options::default();
        let clock = std::sync::Arc::new(crate::options::FixedClock::new(
            crate::options::unix_secs(SystemTime::now()) + 200,
        ));
        opts.clock(clock);
        DotLock::acquire(&target, times(1000, 120), &opts).unwrap();
    }

    #[test]
    fn lock_of_dead_process_on_this_host_is_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        let lock = dir.path().join("x.lock");
        let opts = Options::default();
        // PID 0x7fff_fff0 does not exist.
        fs::write(&lock, format!("{}:{}", 0x7fff_fff0_u32, opts.hostname)).unwrap();
        let f = File::options().write(true).open(&lock).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(5))
            .unwrap();
        drop(f);
        DotLock::acquire(&target, times(1000, 120), &opts).unwrap();
        // A live process (ours) keeps its lock.
        drop(fs::remove_file(&lock));
        fs::write(&lock, format!("{}:{}", std::process::id(), opts.hostname)).unwrap();
        let f = File::options().write(true).open(&lock).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(5))
            .unwrap();
        drop(f);
        assert!(DotLock::acquire(&target, times(30, 120), &opts).is_err());
    }

    #[test]
    fn empty_lock_is_overridden_only_when_old() {
        // An owner killed between creating the lock and writing `<pid>:<host>` leaves an
        // empty file (the crash test hit this and waited for the 120 s stale timeout).
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        let lock = dir.path().join("x.lock");
        let opts = Options::default();
        let age = |secs| {
            let f = File::options().write(true).open(&lock).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(secs))
                .unwrap();
        };
        fs::write(&lock, "").unwrap();
        age(3);
        assert!(DotLock::acquire(&target, times(30, 120), &opts).is_err());
        age(6);
        DotLock::acquire(&target, times(1000, 120), &opts).unwrap();
    }
}
