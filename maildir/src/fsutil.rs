//! Small file-system helpers with the fsync discipline the store needs.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::SystemTime;

use crate::error::{IoContext, Result};

/// Flushes a directory's entries to disk (`fsync` on the directory; std's `sync_all` on an
/// opened directory does exactly that on Linux).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}

/// Creates `dir` (and missing parents) with `mode`; an existing directory is fine.
pub(crate) fn create_dir_all(dir: &Path, mode: u32) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .ctx("create directory", dir)
}

/// Opens a new file that must not exist yet (`O_CREAT|O_EXCL`).
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// Writes `data` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory (when `fsync`).
pub(crate) fn write_atomic(
    path: &Path,
    tmp_suffix: &str,
    data: &[u8],
    mode: u32,
    fsync: bool,
) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(tmp_suffix);
    let tmp = std::path::PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let res = (|| {
        let mut f = create_new(&tmp, mode).ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        if fsync {
            f.sync_all().ctx("fsync", &tmp)?;
        }
        fs::rename(&tmp, path).ctx("rename", path)?;
        if fsync && let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// What changes when a file or directory changes: inode, size and mtime (to the
/// nanosecond). Cheap change detection for IDLE and NOOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Stamp {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) mtime_nsec: i64,
}

impl Stamp {
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }

    /// The stamp of `path`, `None` when it does not exist.
    pub(crate) fn read(path: &Path) -> Result<Option<Self>> {
        match fs::metadata(path) {
            Ok(m) => Ok(Some(Self::of(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::Error::io("stat", path, e)),
        }
    }

    /// True when the mtime is so close to `now` that a change in the same clock tick could
    /// still follow unseen: such a directory is scanned again on the next sync.
    pub(crate) fn is_recent(&self, now: SystemTime) -> bool {
        let now = i64::try_from(crate::options::unix_secs(now)).unwrap_or(i64::MAX);
        self.mtime >= now - 1
    }
}
