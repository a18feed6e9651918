//! Store options, and the clock and randomness the store uses, as injectable inputs.
//!
//! Time and randomness are inputs (the style guide's rule 3): unique names, the 36-hour
//! `tmp/` cleanup and stale-lock detection read [`Clock`]; names and mailbox GUIDs read
//! [`RandomSource`]. Tests pass fixed ones; a server uses the defaults.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the store reads the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until moved: for tests.
#[derive(Debug)]
pub struct FixedClock(AtomicU64);

impl FixedClock {
    /// A clock showing `secs` seconds after the Unix epoch.
    pub fn new(secs: u64) -> Self {
        Self(AtomicU64::new(secs * 1_000_000))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            u64::try_from(by.as_micros()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.0.load(Ordering::SeqCst))
    }
}

/// Where the store gets random numbers (unique names, mailbox GUIDs).
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// 64 random bits.
    fn next_u64(&self) -> u64;
}

/// The operating system's random generator (through `rand`'s thread-local generator).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn next_u64(&self) -> u64 {
        rand::random()
    }
}

/// A deterministic generator (splitmix64) for tests. Never use it for real stores: two
/// processes with the same seed would generate the same names (the store still refuses to
/// overwrite, but it has to retry).
#[derive(Debug)]
pub struct SeededRandom(AtomicU64);

impl SeededRandom {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }
}

impl RandomSource for SeededRandom {
    fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Store options. `Options::default()` is what a server should use; every limit has a
/// safe default and a setter.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) hostname: String,
    pub(crate) pid: u32,
    pub(crate) separator: char,
    pub(crate) fsync: bool,
    pub(crate) lock_timeout: Duration,
    pub(crate) uidlist_stale_after: Duration,
    pub(crate) tmp_max_age: Duration,
    pub(crate) max_message_size: u64,
    pub(crate) dir_mode: u32,
    pub(crate) file_mode: u32,
    pub(crate) quota_override: Option<crate::quota::QuotaLimits>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            hostname: system_hostname(),
            pid: std::process::id(),
            separator: ':',
            fsync: true,
            // Dovecot waits up to its mail_max_lock_timeout; half a minute is long enough
            // for any honest holder and short enough for an LMTP transaction.
            lock_timeout: Duration::from_secs(30),
            // Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT: a lock file that has not
            // changed (nor has dovecot-uidlist) for two minutes is overridden.
            uidlist_stale_after: Duration::from_mins(2),
            // The Maildir specification: files in tmp/ untouched for 36 hours are junk.
            tmp_max_age: Duration::from_hours(36),
            // Larger than any mail server's message size limit in practice.
            max_message_size: 256 << 20,
            dir_mode: 0o700,
            file_mode: 0o600,
            quota_override: None,
        }
    }
}

impl Options {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// The clock (default: the system clock).
    pub fn clock(&mut self, clock: Arc<dyn Clock>) -> &mut Self {
        self.clock = clock;
        self
    }

    /// The random source (default: the OS generator).
    pub fn random(&mut self, random: Arc<dyn RandomSource>) -> &mut Self {
        self.random = random;
        self
    }

    /// The host name written into unique names (default: the kernel's host name). `/`,
    /// `:` and `,` are escaped as `\057`, `\072`, `\054`.
    pub fn hostname(&mut self, host: &str) -> &mut Self {
        host.clone_into(&mut self.hostname);
        self
    }

    /// The process id written into unique names (default: this process).
    pub fn pid(&mut self, pid: u32) -> &mut Self {
        self.pid = pid;
        self
    }

    /// The info separator (default `:`; `;` or `!` where `:` is not allowed in names).
    pub fn separator(&mut self, sep: char) -> &mut Self {
        self.separator = sep;
        self
    }

    /// Whether to fsync files and directories before reporting success (default: yes).
    /// Turning it off makes delivery fast and unsafe: a power loss can lose mail that was
    /// acknowledged. Only for tests and benches.
    pub fn dangerous_no_fsync(&mut self, no_fsync: bool) -> &mut Self {
        self.fsync = !no_fsync;
        self
    }

    /// How long to wait for a lock file (default 30 s).
    pub fn lock_timeout(&mut self, t: Duration) -> &mut Self {
        self.lock_timeout = t;
        self
    }

    /// After how long without change a `dovecot-uidlist.lock` is considered stale
    /// (default 120 s, as Dovecot).
    pub fn stale_lock_after(&mut self, t: Duration) -> &mut Self {
        self.uidlist_stale_after = t;
        self
    }

    /// Age after which files in `tmp/` are removed (default 36 hours).
    pub fn tmp_max_age(&mut self, t: Duration) -> &mut Self {
        self.tmp_max_age = t;
        self
    }

    /// The largest message accepted, in bytes (default 256 MiB).
    pub fn max_message_size(&mut self, bytes: u64) -> &mut Self {
        self.max_message_size = bytes;
        self
    }

    /// Permission bits for new directories (default `0o700`).
    pub fn dir_mode(&mut self, mode: u32) -> &mut Self {
        self.dir_mode = mode;
        self
    }

    /// Permission bits for new files (default `0o600`).
    pub fn file_mode(&mut self, mode: u32) -> &mut Self {
        self.file_mode = mode;
        self
    }

    /// Quota limits that take precedence over the `maildirsize` header (e.g. from the user
    /// database, SRV-020). `None` (the default) uses the file's own limits.
    pub fn quota(&mut self, limits: Option<crate::quota::QuotaLimits>) -> &mut Self {
        self.quota_override = limits;
        self
    }

    /// The info separator in use.
    pub fn info_separator(&self) -> char {
        self.separator
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) fn now_secs(&self) -> u64 {
        unix_secs(self.now())
    }
}

/// Seconds since the Unix epoch (0 for earlier times).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The kernel's host name, without reading anything but `/proc` (no `libc`).
pub(crate) fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}
