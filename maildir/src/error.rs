//! The error type of every fallible operation, with the distinction a mail server needs:
//! temporary (try again later: LMTP `452`, sysexits `75`) or permanent.

use std::io;
use std::path::PathBuf;

/// A store error. [`Error::is_temporary`] tells a delivery agent whether to ask the sender
/// to retry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file system is full (`ENOSPC`) or the user's file-system quota is used up
    /// (`EDQUOT`). Nothing partial was left in `new/` or `cur/`. Temporary.
    #[error("no space left while writing {path}: {source}")]
    StorageFull {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The Maildir++ quota (`maildirsize`) does not allow this message. Temporary by
    /// default (the user may delete mail); a server may map it to a permanent reply.
    #[error("quota exceeded: {resource} used {used} of {limit}, message needs {needed}")]
    QuotaExceeded {
        /// Bytes or messages.
        resource: QuotaResource,
        /// The limit.
        limit: u64,
        /// Current use.
        used: u64,
        /// What the message would add.
        needed: u64,
    },
    /// The message is larger than the configured maximum. Permanent.
    #[error("message larger than the limit of {limit} bytes")]
    MessageTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A lock file could not be obtained in time. Temporary.
    #[error("timed out waiting for lock {path}")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
    },
    /// Another I/O error. Temporary unless it is a permission problem.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A metadata file could not be used (for example a `dovecot-uidlist` this crate cannot
    /// extend). Temporary: a later attempt after a rebuild may succeed.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The folder does not exist. Permanent.
    #[error("no such folder: {0}")]
    NoSuchFolder(String),
    /// The folder already exists. Permanent.
    #[error("folder already exists: {0}")]
    FolderExists(String),
    /// The folder name is not allowed. Permanent.
    #[error("invalid folder name {name:?}: {reason}")]
    InvalidFolderName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The message does not exist (any more). Permanent.
    #[error("no message with UID {0}")]
    NoSuchMessage(u32),
    /// A keyword name is not a valid IMAP atom, or the folder already maps all 26 keyword
    /// letters. Permanent.
    #[error("keyword {0:?} cannot be stored")]
    Keyword(String),
    /// The operation is not supported (e.g. on a read-only view). Permanent.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
}

/// The two Maildir++ quota resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaResource {
    /// Storage in bytes (`S`).
    Bytes,
    /// Number of messages (`C`).
    Messages,
}

impl std::fmt::Display for QuotaResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bytes => "bytes",
            Self::Messages => "messages",
        })
    }
}

impl Error {
    /// True when a later attempt may succeed: a delivery agent answers LMTP `452`/`451`
    /// or exits with `EX_TEMPFAIL` (75).
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::StorageFull { .. }
            | Self::QuotaExceeded { .. }
            | Self::LockTimeout { .. }
            | Self::Corrupt { .. } => true,
            Self::Io { source, .. } => source.kind() != io::ErrorKind::PermissionDenied,
            _ => false,
        }
    }

    /// Wraps an I/O error, classifying "disk full" and "file-system quota" apart.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if is_full(&source) {
            Self::StorageFull { path, source }
        } else {
            Self::Io { op, path, source }
        }
    }
}

/// `ENOSPC` or `EDQUOT`.
pub(crate) fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
    )
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds path context to `io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
