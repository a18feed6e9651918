//! A small, crash-safe filesystem script store that answers [`ScriptRequest`]s for one
//! user (Unix only).
//!
//! Layout of the user's directory:
//!
//! ```text
//! <dir>/<name>.sieve     one file per script; '/', '%' and a leading '.' in the name are
//!                        written %2F, %25, %2E; everything else (UTF-8) as it is
//! <dir>/.active          symlink to the active script's file ("<name>.sieve"), or absent
//! <dir>/.tmp/            new files and links are made here, then renamed into place
//! <dir>/.lock            flock(2) lock: exclusive for changes, shared for reads
//! ```
//!
//! Every change is atomic and durable: a script is written to `.tmp/`, fsynced, renamed
//! over its final name, and the directory is fsynced; the active link is replaced the same
//! way (a new symlink renamed over `.active`), so a reader — the delivery agent following
//! `.active` — always sees either the old or the new script, never a partial one, and
//! PUTSCRIPT on the active script switches its content atomically. RENAMESCRIPT links the
//! new name first (`link(2)` refuses an existing name atomically), moves `.active` if needed,
//! then removes the old name: a crash in between leaves both names, never neither.
//!
//! Limits ([`StoreLimits`]) give the RFC 5804 quota response codes: `QUOTA/MAXSCRIPTS`,
//! `QUOTA/MAXSIZE`, and `QUOTA` for the total size. A full disk is reported as `QUOTA`,
//! other I/O errors as `TRYLATER`. Script names whose file name would exceed 255 octets
//! are refused with `NO` (never truncated).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::server::{ScriptEntry, ScriptReply, ScriptRequest, StoreError};
use super::types::{QuotaKind, ScriptName};

/// Quotas of one user's store.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreLimits {
    /// Most scripts (default 64).
    pub max_scripts: Option<usize>,
    /// Largest script in octets (default 1 MiB, the server session's default).
    pub max_script_size: Option<u64>,
    /// Largest total of all scripts in octets (default 16 MiB).
    pub max_total_size: Option<u64>,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_scripts: Some(64),
            max_script_size: Some(1 << 20),
            max_total_size: Some(16 << 20),
        }
    }
}

/// One user's scripts in a directory; see the module docs.
#[derive(Debug)]
pub struct FsScriptStore {
    dir: PathBuf,
    limits: StoreLimits,
}

const SUFFIX: &str = ".sieve";
const ACTIVE: &str = ".active";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// The file name of a script: see the module docs.
fn file_name(name: &ScriptName) -> Result<String, StoreError> {
    let mut out = String::with_capacity(name.as_str().len() + SUFFIX.len());
    for (i, c) in name.as_str().chars().enumerate() {
        match c {
            '/' => out.push_str("%2F"),
            '%' => out.push_str("%25"),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    out.push_str(SUFFIX);
    if out.len() > 255 {
        return Err(StoreError::Refused(
            "Script name too long for this server".into(),
        ));
    }
    Ok(out)
}

/// The script name of a file name, if it is a script file.
fn script_name(file: &str) -> Option<ScriptName> {
    let stem = file.strip_suffix(SUFFIX)?;
    if stem.starts_with('.') {
        return None;
    }
    let mut bytes = Vec::with_capacity(stem.len());
    let raw = stem.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    ScriptName::from_bytes(&bytes).ok()
}

fn io_error(e: &io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded {
        StoreError::Quota(QuotaKind::Any)
    } else {
        StoreError::TryLater("Storage is temporarily unavailable".into())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl FsScriptStore {
    /// Opens (creating if needed) the store in `dir`, with default limits.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        Self::with_limits(dir, StoreLimits::default())
    }

    /// Opens (creating if needed) the store in `dir`. Temporary files a crash left in
    /// `.tmp/` more than an hour ago are removed (younger ones may belong to a session
    /// writing right now).
    pub fn with_limits(dir: impl Into<PathBuf>, limits: StoreLimits) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(dir.join(".tmp"))?;
        let store = Self { dir, limits };
        store.sweep_tmp(std::time::Duration::from_hours(1));
        Ok(store)
    }

    /// Removes leftovers in `.tmp/` older than `age` (best effort).
    fn sweep_tmp(&self, age: std::time::Duration) {
        let Ok(entries) = fs::read_dir(self.dir.join(".tmp")) else {
            return;
        };
        let now = std::time::SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|d| d > age);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path a delivery agent reads the active script from (the `.active` link); it
    /// may not exist.
    pub fn active_path(&self) -> PathBuf {
        self.dir.join(ACTIVE)
    }

    fn lock(&self, exclusive: bool) -> Result<File, StoreError> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))
            .map_err(|e| io_error(&e))?;
        let locked = if exclusive { f.lock() } else { f.lock_shared() };
        locked.map_err(|e| io_error(&e))?;
        Ok(f)
    }

    fn temp_path(&self, what: &str) -> PathBuf {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(".tmp")
            .join(format!("{what}.{}.{n}", std::process::id()))
    }

    /// Answers one request (what a host does with [`ServerEvent::Script`](super::server::ServerEvent::Script)).
    pub fn execute(&self, request: &ScriptRequest) -> Result<ScriptReply, StoreError> {
        match request {
            ScriptRequest::HaveSpace { name, size } => self
                .have_space(name, u64::from(*size))
                .map(|()| ScriptReply::Done),
            ScriptRequest::Put { name, script } => {
                self.put(name, script).map(|()| ScriptReply::Done)
            }
            ScriptRequest::List => self.list().map(ScriptReply::List),
            ScriptRequest::SetActive { name } => {
                self.set_active(name.as_ref()).map(|()| ScriptReply::Done)
            }
            ScriptRequest::Get { name } => self.get(name).map(ScriptReply::Script),
            ScriptRequest::Delete { name } => self.delete(name).map(|()| ScriptReply::Done),
            ScriptRequest::Rename { old, new } => self.rename(old, new).map(|()| ScriptReply::Done),
        }
    }

    /// Script files and their sizes.
    fn scan(&self) -> Result<Vec<(ScriptName, u64)>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| io_error(&e))? {
            let entry = entry.map_err(|e| io_error(&e))?;
            let Some(name) = entry.file_name().to_str().and_then(script_name) else {
                continue;
            };
            let meta = entry.metadata().map_err(|e| io_error(&e))?;
            if meta.is_file() {
                out.push((name, meta.len()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn check_quota(&self, name: &ScriptName, size: u64) -> Result<(), StoreError> {
        if self.limits.max_script_size.is_some_and(|max| size > max) {
            return Err(StoreError::Quota(QuotaKind::MaxSize));
        }
        file_name(name)?;
        let scripts = self.scan()?;
        let existing = scripts.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        if existing.is_none()
            && self
                .limits
                .max_scripts
                .is_some_and(|max| scripts.len() >= max)
        {
            return Err(StoreError::Quota(QuotaKind::MaxScripts));
        }
        let total: u64 = scripts.iter().map(|(_, s)| *s).sum::<u64>() - existing.unwrap_or(0);
        if self
            .limits
            .max_total_size
            .is_some_and(|max| total.saturating_add(size) > max)
        {
            return Err(StoreError::Quota(QuotaKind::Any));
        }
        Ok(())
    }

    /// HAVESPACE: would a script of this name and size fit?
    pub fn have_space(&self, name: &ScriptName, size: u64) -> Result<(), StoreError> {
        let _lock = self.lock(false)?;
        self.check_quota(name, size)
    }

    /// PUTSCRIPT: stores a (validated) script atomically, replacing any of the same name.
    pub fn put(&self, name: &ScriptName, script: &[u8]) -> Result<(), StoreError> {
        let _lock = self.lock(true)?;
        self.check_quota(name, script.len() as u64)?;
        let target = self.dir.join(file_name(name)?);
        let tmp = self.temp_path("script");
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(script)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)?;
            sync_dir(&self.dir)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(&e)
        })
    }

    /// The active script's name, if there is one and its file exists.
    pub fn active(&self) -> Result<Option<ScriptName>, StoreError> {
        let link = match fs::read_link(self.active_path()) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&e)),
        };
        let Some(name) = link.to_str().and_then(script_name) else {
            return Ok(None);
        };
        Ok(self.dir.join(&link).is_file().then_some(name))
    }

    /// LISTSCRIPTS.
    pub fn list(&self) -> Result<Vec<ScriptEntry>, StoreError> {
        let _lock = self.lock(false)?;
        let active = self.active()?;
        Ok(self
            .scan()?
            .into_iter()
            .map(|(name, _)| ScriptEntry {
                active: active.as_ref() == Some(&name),
                name,
            })
            .collect())
    }

    fn point_active_to(&self, file: Option<&str>) -> io::Result<()> {
        match file {
            Some(file) => {
                let tmp = self.temp_path("active");
                symlink(file, &tmp)?;
                if let Err(e) = fs::rename(&tmp, self.active_path()) {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            }
            None => match fs::remove_file(self.active_path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            },
        }
        sync_dir(&self.dir)
    }

    /// SETACTIVE: makes `name` the only active script, or deactivates (`None`).
    pub fn set_active(&self, name: Option<&ScriptName>) -> Result<(), StoreError> {
        let _lock = self.lock(true)?;
        let file = match name {
            Some(n) => {
                let file = file_name(n)?;
                if !self.dir.join(&file).is_file() {
                    return Err(StoreError::NonExistent);
                }
                Some(file)
            }
            None => None,
        };
        self.point_active_to(file.as_deref())
            .map_err(|e| io_error(&e))
    }

    /// GETSCRIPT.
    pub fn get(&self, name: &ScriptName) -> Result<Vec<u8>, StoreError> {
        let _lock = self.lock(false)?;
        match fs::read(self.dir.join(file_name(name)?)) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NonExistent),
            Err(e) => Err(io_error(&e)),
        }
    }

    /// DELETESCRIPT (not the active script).
    pub fn delete(&self, name: &ScriptName) -> Result<(), StoreError> {
        let _lock = self.lock(true)?;
        if self.active()?.as_ref() == Some(name) {
            return Err(StoreError::Active);
        }
        match fs::remove_file(self.dir.join(file_name(name)?)) {
            Ok(()) => sync_dir(&self.dir).map_err(|e| io_error(&e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NonExistent),
            Err(e) => Err(io_error(&e)),
        }
    }

    /// RENAMESCRIPT (an active script stays active under its new name).
    pub fn rename(&self, old: &ScriptName, new: &ScriptName) -> Result<(), StoreError> {
        let _lock = self.lock(true)?;
        let old_file = file_name(old)?;
        let new_file = file_name(new)?;
        let old_path = self.dir.join(&old_file);
        if !old_path.is_file() {
            return Err(StoreError::NonExistent);
        }
        if old == new {
            return Err(StoreError::AlreadyExists);
        }
        let was_active = self.active()?.as_ref() == Some(old);
        match fs::hard_link(&old_path, self.dir.join(&new_file)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists);
            }
            Err(e) => return Err(io_error(&e)),
        }
        let finish = || -> io::Result<()> {
            if was_active {
                self.point_active_to(Some(&new_file))?;
            }
            fs::remove_file(&old_path)?;
            sync_dir(&self.dir)
        };
        finish().map_err(|e| io_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ScriptName {
        ScriptName::new(s).unwrap()
    }

    #[test]
    fn file_names_round_trip() {
        for n in [
            "a",
            "clever\"script",
            "a/b",
            "100%",
            ".hidden",
            "..",
            "ünï ✓",
            "x.sieve",
        ] {
            let f = file_name(&name(n)).unwrap();
            assert!(!f.contains('/'), "{f}");
            assert!(!f.starts_with('.'), "{f}");
            assert_eq!(script_name(&f), Some(name(n)), "{f}");
        }
        assert!(file_name(&name(&"é".repeat(130))).is_err());
        assert!(file_name(&name(&"x".repeat(249))).is_ok());
        assert_eq!(script_name(".active"), None);
        assert_eq!(script_name("bad%zz.sieve"), None);
    }

    #[test]
    fn stale_temp_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(".tmp")).unwrap();
        let old = dir.path().join(".tmp/script.1.1");
        let young = dir.path().join(".tmp/script.1.2");
        fs::write(&old, b"partial").unwrap();
        fs::write(&young, b"in progress").unwrap();
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_hours(2);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        let _store = FsScriptStore::open(dir.path()).unwrap();
        assert!(!old.exists());
        assert!(young.exists());
    }

    #[test]
    fn operations() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsScriptStore::with_limits(
            dir.path(),
            StoreLimits {
                max_scripts: Some(2),
                max_script_size: Some(100),
                max_total_size: Some(150),
            },
        )
        .unwrap();
        assert_eq!(store.list().unwrap(), vec![]);
        store.put(&name("a"), b"keep;").unwrap();
        store.put(&name("b/c"), b"discard;").unwrap();
        assert_eq!(
            store.put(&name("x"), b"keep;"),
            Err(StoreError::Quota(QuotaKind::MaxScripts))
        );
        // Replacing an existing script is not a new script.
        store.put(&name("a"), b"stop;").unwrap();
        assert_eq!(store.get(&name("a")).unwrap(), b"stop;");
        assert_eq!(
            store.have_space(&name("a"), 101),
            Err(StoreError::Quota(QuotaKind::MaxSize))
        );
        assert_eq!(
            store.put(&name("a"), &[b'#'; 100]),
            Ok(()),
            "replacing counts the old size out"
        );
        assert_eq!(store.have_space(&name("a"), 100), Ok(()),);
        assert_eq!(
            store.set_active(Some(&name("zz"))),
            Err(StoreError::NonExistent)
        );
        store.set_active(Some(&name("b/c"))).unwrap();
        assert_eq!(store.active().unwrap(), Some(name("b/c")));
        assert_eq!(store.delete(&name("b/c")), Err(StoreError::Active));
        assert_eq!(
            fs::read(store.active_path()).unwrap(),
            b"discard;",
            "the delivery agent follows the link"
        );
        store.put(&name("b/c"), b"keep;").unwrap();
        assert_eq!(fs::read(store.active_path()).unwrap(), b"keep;");
        assert_eq!(
            store.rename(&name("b/c"), &name("a")),
            Err(StoreError::AlreadyExists)
        );
        store.rename(&name("b/c"), &name("d")).unwrap();
        assert_eq!(store.active().unwrap(), Some(name("d")));
        assert_eq!(
            store.list().unwrap(),
            vec![
                ScriptEntry {
                    name: name("a"),
                    active: false
                },
                ScriptEntry {
                    name: name("d"),
                    active: true
                },
            ]
        );
        store.set_active(None).unwrap();
        store.set_active(None).unwrap();
        store.delete(&name("d")).unwrap();
        assert_eq!(store.delete(&name("d")), Err(StoreError::NonExistent));
        assert_eq!(store.get(&name("d")), Err(StoreError::NonExistent));
        assert_eq!(
            store.rename(&name("d"), &name("e")),
            Err(StoreError::NonExistent)
        );
        // Nothing is left behind in .tmp.
        assert_eq!(fs::read_dir(dir.path().join(".tmp")).unwrap().count(), 0);
    }
}
