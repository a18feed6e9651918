//! One folder (a directory with `cur/ new/ tmp/`): a store handle shared by every session of a
//! process, kept in step with the disk and with other processes (Dovecot included).
//!
//! ```text
//!  deliveries (lock-free) ──► new/ ─┐
//!  other processes, Dovecot ──► cur/ ├─► Folder::sync ── under dovecot-uidlist.lock ──┐
//!                                   │    scan only the directories whose mtime changed │
//!  dovecot-uidlist, -keywords ──────┘    assign UIDs, record modseqs, new → cur (\Recent)
//!                                                                                      ▼
//!                                      Folder state (UID-sorted messages) ──► View (per session)
//! ```
//!
//! Sync holds the `dovecot-uidlist` lock while it lists directories and while it renames
//! files, as Dovecot does: `readdir` can miss a file that is renamed during the listing,
//! which would look like an expunge. Deliveries need no lock. A directory is listed again
//! only when its mtime changed (or is within a second of the last listing, where a change
//! in the same clock tick could hide), so a folder with 100,000 messages in `cur/` is not
//! re-listed when only `new/` changed, and [`Folder::has_changed`] costs a few `stat`s.
//!
//! A cold open (a new process: no state in memory) reads `dovecot-uidlist` and
//! `maildir-modseq` once and lists both directories without a `stat` per file (the entry
//! type comes from `readdir`); names are matched to UIDs through tables keyed by borrowed
//! base names. For 100,000 messages this takes about 0.18 s of CPU (`benches/`: `maildir`),
//! of which the kernel's `readdir` of `cur/` is about a quarter.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::deliver::{self, Delivered, Target};
use crate::error::{Error, IoContext, Result};
use crate::flags::{FlagSet, StoreOp};
use crate::fsutil::{self, Stamp};
use crate::index::{BaseIndex, FastState, base_of};
use crate::keywords::Keywords;
use crate::lock::{DotLock, LockTimes};
use crate::modseq::{self, ModseqLog};
use crate::name::{Flags, Info, MessageName};
use crate::options::Options;
use crate::uidlist::{Record, UidList};

/// `dovecot-uidlist`.
pub const UIDLIST: &str = "dovecot-uidlist";
/// `dovecot-keywords`.
pub const KEYWORDS: &str = "dovecot-keywords";

/// A folder handle. Cheap to clone; clones share state. `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Folder {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) opts: Arc<Options>,
    state: Mutex<State>,
}

/// One message as the folder knows it.
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub(crate) uid: u32,
    /// The length of the base (the name before the info separator) within `file`; the
    /// base never changes when flags do.
    base_len: u32,
    pub(crate) file: Box<str>,
    pub(crate) in_new: bool,
    pub(crate) flags: Flags,
    pub(crate) modseq: u64,
    pub(crate) size: Option<u64>,
    pub(crate) vsize: Option<u64>,
}

impl Msg {
    /// The base of the file name, which identifies the message.
    pub(crate) fn base(&self) -> &str {
        self.file
            .get(..self.base_len as usize)
            .unwrap_or(&self.file)
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    loaded: bool,
    pub(crate) uid_validity: u32,
    uidlist: Option<UidList>,
    uidlist_stamp: Option<Stamp>,
    uidlist_read: u64,
    /// Base name → position in `uidlist.records`.
    by_base: BaseIndex,
    pub(crate) msgs: Vec<Msg>,
    new_stamp: Option<Stamp>,
    cur_stamp: Option<Stamp>,
    new_dirty: bool,
    cur_dirty: bool,
    pub(crate) keywords: Keywords,
    keywords_stamp: Option<Stamp>,
    pub(crate) modseq: ModseqLog,
    modseq_stamp: Option<Stamp>,
    modseq_read: u64,
    pub(crate) expunge_gen: u64,
    last_tmp_clean: Option<Instant>,
}

/// What a sync found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// UIDs assigned to messages seen for the first time (by anyone).
    pub new_uids: Vec<u32>,
    /// UIDs moved from `new/` to `cur/` by this sync: `\Recent` for the caller.
    pub recent: Vec<u32>,
    /// UIDs whose files disappeared.
    pub expunged: Vec<u32>,
    /// UIDs whose flags changed on disk.
    pub flags_changed: Vec<u32>,
    /// The directories listed (0 to 2): a measure of the work done.
    pub dirs_listed: u8,
}

/// A message as seen through [`Folder::message`] or a [`crate::View`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageInfo {
    /// The UID.
    pub uid: u32,
    /// Flags and keywords.
    pub flags: FlagSet,
    /// Its modification sequence (CONDSTORE).
    pub modseq: u64,
    /// Size in bytes (from `,S=` or `stat`).
    pub size: Option<u64>,
    /// RFC822.SIZE (from `,W=`), when known.
    pub vsize: Option<u64>,
    /// The file's current path.
    pub path: PathBuf,
    /// The file name.
    pub file_name: String,
}

/// Result of a STORE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreReport {
    /// Messages whose flags changed: UID, new flags, new modseq.
    pub changed: Vec<(u32, FlagSet, u64)>,
    /// UIDs not stored because their modseq was above `UNCHANGEDSINCE` (RFC 7162
    /// `MODIFIED`).
    pub modified: Vec<u32>,
    /// UIDs that no longer exist.
    pub missing: Vec<u32>,
}

impl Folder {
    /// Opens the folder in `dir` (which must exist; missing `cur/ new/ tmp/` are created).
    /// `root` is the Maildir++ root (quota and UIDVALIDITY counter); for INBOX it is `dir`.
    pub(crate) fn open_in(
        name: &str,
        dir: PathBuf,
        root: PathBuf,
        opts: Arc<Options>,
    ) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::NoSuchFolder(name.to_owned()));
        }
        for sub in ["cur", "new", "tmp"] {
            let p = dir.join(sub);
            if !p.is_dir() {
                fsutil::create_dir_all(&p, opts.dir_mode)?;
            }
        }
        Ok(Self {
            shared: Arc::new(Shared {
                name: name.to_owned(),
                dir,
                root,
                opts,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// Opens a stand-alone Maildir (its own root), creating it when missing.
    pub fn open_dir(dir: impl Into<PathBuf>, opts: Options) -> Result<Self> {
        let dir = dir.into();
        fsutil::create_dir_all(&dir, opts.dir_mode)?;
        Self::open_in("INBOX", dir.clone(), dir, Arc::new(opts))
    }

    /// The folder's name (`INBOX`, `Lists.rust`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The folder's directory.
    pub fn path(&self) -> &Path {
        &self.shared.dir
    }

    /// The options in use.
    pub fn options(&self) -> &Options {
        &self.shared.opts
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was at a consistent point
        // of the disk protocol; continue with it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state())
    }

    fn lock_times(&self) -> LockTimes {
        LockTimes {
            timeout: self.shared.opts.lock_timeout,
            stale_after: self.shared.opts.uidlist_stale_after,
        }
    }

    /// Delivers a message into `new/` without taking any lock (MD-001): see
    /// [`crate::deliver`]. The message gets its UID at the next sync.
    pub fn deliver(&self, mut msg: impl Read) -> Result<Delivered> {
        deliver::write_message(
            &self.shared.dir,
            &self.shared.root,
            &mut msg,
            &Target::New,
            &self.shared.opts,
        )
    }

    /// Stores a message in `cur/` with `flags` and an optional internal date (the file's
    /// mtime) and returns its UID at once (IMAP APPEND, `APPENDUID`).
    pub fn append(
        &self,
        mut msg: impl Read,
        flags: &FlagSet,
        date: Option<SystemTime>,
    ) -> Result<u32> {
        let mut st = self.state();
        let lock = DotLock::acquire(&self.uidlist_path(), self.lock_times(), &self.shared.opts)?;
        self.sync_locked(&mut st, false, &mut SyncReport::default())?;
        let mut kw = st.keywords.clone();
        let (disk, kw_changed) = flags
            .to_disk(&Flags::new(), &mut kw)
            .map_err(Error::Keyword)?;
        if kw_changed {
            self.write_keywords(&mut st, kw)?;
        }
        let d = deliver::write_message(
            &self.shared.dir,
            &self.shared.root,
            &mut msg,
            &Target::Cur {
                flags: &disk.to_string(),
                date,
            },
            &self.shared.opts,
        )?;
        let uid = self.register(&mut st, vec![(d.name.clone(), false)])?[0];
        self.finish(&mut st, lock)?;
        Ok(uid)
    }

    /// Brings the folder state up to date with the disk and returns what changed. With
    /// `claim_recent`, messages in `new/` move to `cur/` and are returned as `\Recent` for
    /// the caller (MD-009): the session that first sees a message gets its `\Recent`.
    pub fn sync(&self, claim_recent: bool) -> Result<SyncReport> {
        let mut st = self.state();
        let mut report = SyncReport::default();
        if st.loaded && !self.needs_sync(&st, claim_recent)? {
            return Ok(report);
        }
        let lock = DotLock::acquire(&self.uidlist_path(), self.lock_times(), &self.shared.opts)?;
        self.sync_locked(&mut st, claim_recent, &mut report)?;
        self.finish(&mut st, lock)?;
        Ok(report)
    }

    /// True when something on disk changed since the last sync (a few `stat` calls; for
    /// IDLE and NOOP polling).
    pub fn has_changed(&self) -> Result<bool> {
        let st = self.state();
        if !st.loaded {
            return Ok(true);
        }
        self.needs_sync(&st, false)
    }

    fn needs_sync(&self, st: &State, claim_recent: bool) -> Result<bool> {
        let d = &self.shared.dir;
        Ok(st.new_dirty
            || st.cur_dirty
            || (claim_recent && st.msgs.iter().any(|m| m.in_new))
            || Stamp::read(&d.join("new"))? != st.new_stamp
            || Stamp::read(&d.join("cur"))? != st.cur_stamp
            || Stamp::read(&self.uidlist_path())? != st.uidlist_stamp
            || Stamp::read(&d.join(modseq::FILE_NAME))? != st.modseq_stamp
            || Stamp::read(&d.join(KEYWORDS))? != st.keywords_stamp)
    }

    fn uidlist_path(&self) -> PathBuf {
        self.shared.dir.join(UIDLIST)
    }

    /// UIDVALIDITY (syncs first if the folder was never synced).
    pub fn uid_validity(&self) -> Result<u32> {
        self.ensure_loaded()?;
        Ok(self.state().uid_validity)
    }

    /// The UID the next message will get.
    pub fn uid_next(&self) -> Result<u32> {
        self.ensure_loaded()?;
        Ok(self.state().uidlist.as_ref().map_or(1, UidList::next_uid))
    }

    /// HIGHESTMODSEQ.
    pub fn highest_modseq(&self) -> Result<u64> {
        self.ensure_loaded()?;
        Ok(self.state().modseq.highest)
    }

    /// Number of messages.
    pub fn len(&self) -> Result<usize> {
        self.ensure_loaded()?;
        Ok(self.state().msgs.len())
    }

    /// True when the folder holds no message.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// All UIDs in ascending order.
    pub fn uids(&self) -> Result<Vec<u32>> {
        self.ensure_loaded()?;
        Ok(self.state().msgs.iter().map(|m| m.uid).collect())
    }

    /// Expunged UIDs with a modseq above `modseq` (QRESYNC `VANISHED (EARLIER)`); `None`
    /// when the tombstones do not reach back that far.
    pub fn expunged_since(&self, modseq: u64) -> Result<Option<Vec<u32>>> {
        self.ensure_loaded()?;
        let st = self.state();
        if modseq < st.modseq.tombstones_since {
            return Ok(None);
        }
        Ok(Some(
            st.modseq
                .expunged
                .iter()
                .filter(|(_, m)| **m > modseq)
                .map(|(u, _)| *u)
                .collect(),
        ))
    }

    fn ensure_loaded(&self) -> Result<()> {
        if !self.state().loaded {
            self.sync(false)?;
        }
        Ok(())
    }

    /// The message with this UID.
    pub fn message(&self, uid: u32) -> Result<Option<MessageInfo>> {
        self.ensure_loaded()?;
        let st = self.state();
        Ok(find(&st.msgs, uid).map(|i| self.info(&st, &st.msgs[i])))
    }

    pub(crate) fn info(&self, st: &State, m: &Msg) -> MessageInfo {
        MessageInfo {
            uid: m.uid,
            flags: FlagSet::from_disk(&m.flags, &st.keywords),
            modseq: m.modseq,
            size: m.size,
            vsize: m.vsize,
            path: self
                .shared
                .dir
                .join(if m.in_new { "new" } else { "cur" })
                .join(&*m.file),
            file_name: m.file.to_string(),
        }
    }

    /// Opens a message for reading. A file renamed meanwhile by another process is found
    /// again through a sync.
    pub fn open_message(&self, uid: u32) -> Result<fs::File> {
        for attempt in 0..2 {
            let Some(info) = self.message(uid)? else {
                return Err(Error::NoSuchMessage(uid));
            };
            match fs::File::open(&info.path) {
                Ok(f) => return Ok(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 0 => {
                    self.mark_dirty();
                    self.sync(false)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::NoSuchMessage(uid));
                }
                Err(e) => return Err(Error::io("open", &info.path, e)),
            }
        }
        Err(Error::NoSuchMessage(uid))
    }

    fn mark_dirty(&self) {
        let mut st = self.state();
        st.new_dirty = true;
        st.cur_dirty = true;
    }

    /// Changes flags (IMAP STORE). With `unchanged_since`, messages modified after that
    /// modseq are left alone and reported in [`StoreReport::modified`] (RFC 7162).
    pub fn store(
        &self,
        uids: &[u32],
        op: StoreOp,
        change: &FlagSet,
        unchanged_since: Option<u64>,
    ) -> Result<StoreReport> {
        let mut st = self.state();
        let lock = DotLock::acquire(&self.uidlist_path(), self.lock_times(), &self.shared.opts)?;
        self.sync_locked(&mut st, false, &mut SyncReport::default())?;
        let mut report = StoreReport::default();
        let mut kw = st.keywords.clone();
        let mut plans = Vec::new();
        for &uid in uids {
            let Some(i) = find(&st.msgs, uid) else {
                report.missing.push(uid);
                continue;
            };
            let m = &st.msgs[i];
            if unchanged_since.is_some_and(|u| m.modseq > u) {
                report.modified.push(uid);
                continue;
            }
            let old = FlagSet::from_disk(&m.flags, &kw);
            let new = op.apply(&old, change);
            let (disk, _) = new.to_disk(&m.flags, &mut kw).map_err(Error::Keyword)?;
            if disk != m.flags {
                plans.push((i, disk));
            }
        }
        if kw != st.keywords {
            self.write_keywords(&mut st, kw)?;
        }
        let sep = self.shared.opts.separator;
        let mut log = String::new();
        for (i, disk) in plans {
            let (uid, sub, old_file) = {
                let m = &st.msgs[i];
                (m.uid, if m.in_new { "new" } else { "cur" }, m.file.clone())
            };
            let from = self.shared.dir.join(sub).join(&*old_file);
            let new_name = MessageName::parse(&old_file, sep).with_flags(&disk, sep);
            let to = self.shared.dir.join(sub).join(&new_name);
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Renamed or expunged by a lock-ignoring program: seen at next sync.
                    st.new_dirty = true;
                    st.cur_dirty = true;
                    report.missing.push(uid);
                    continue;
                }
                Err(e) => return Err(Error::io("rename", &from, e)),
            }
            st.modseq.highest += 1;
            let ms = st.modseq.highest;
            let flags_s = disk.to_string();
            log.push_str(&ModseqLog::set_line(uid, ms, &flags_s));
            st.modseq.set(uid, ms, &flags_s);
            let info = FlagSet::from_disk(&disk, &st.keywords);
            let m = &mut st.msgs[i];
            m.file = new_name.into();
            m.flags = disk;
            m.modseq = ms;
            report.changed.push((uid, info, ms));
        }
        self.append_modseq(&mut st, &log)?;
        self.finish(&mut st, lock)?;
        Ok(report)
    }

    /// Removes messages (IMAP EXPUNGE of `\Deleted` messages is the caller's selection).
    /// Returns the UIDs actually removed.
    pub fn expunge(&self, uids: &[u32]) -> Result<Vec<u32>> {
        let mut st = self.state();
        let lock = DotLock::acquire(&self.uidlist_path(), self.lock_times(), &self.shared.opts)?;
        self.sync_locked(&mut st, false, &mut SyncReport::default())?;
        let mut removed = Vec::new();
        let mut freed = (0i64, 0i64);
        for &uid in uids {
            let Some(i) = find(&st.msgs, uid) else {
                continue;
            };
            let m = &st.msgs[i];
            let path = self
                .shared
                .dir
                .join(if m.in_new { "new" } else { "cur" })
                .join(&*m.file);
            let size = m.size.or_else(|| fs::metadata(&path).ok().map(|x| x.len()));
            match fs::remove_file(&path) {
                Ok(()) => {
                    freed.0 += size.map_or(0, |s| i64::try_from(s).unwrap_or(0));
                    freed.1 += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path, e)),
            }
            removed.push(uid);
        }
        let mut log = String::new();
        Self::drop_msgs(&mut st, &removed, &mut log);
        self.append_modseq(&mut st, &log)?;
        if freed.1 > 0 {
            let _ = (crate::quota::Quota {
                root: &self.shared.root,
                opts: &self.shared.opts,
            })
            .add(-freed.0, -freed.1);
        }
        self.finish(&mut st, lock)?;
        Ok(removed)
    }

    /// Copies messages into `dest` (hard links where possible, so no data is rewritten)
    /// and returns `(source UID, destination UID)` pairs (`COPYUID`). Keywords are mapped by
    /// name into the destination's keyword table.
    pub fn copy_to(&self, uids: &[u32], dest: &Self) -> Result<Vec<(u32, u32)>> {
        if Arc::ptr_eq(&self.shared, &dest.shared) || self.shared.dir == dest.shared.dir {
            return Err(Error::Unsupported("copy into the same folder"));
        }
        // Snapshot the sources first (never hold both folders' state locks at once).
        self.sync(false)?;
        let sources: Vec<MessageInfo> = {
            let st = self.state();
            uids.iter()
                .filter_map(|&u| find(&st.msgs, u).map(|i| self.info(&st, &st.msgs[i])))
                .collect()
        };
        let opts = &dest.shared.opts;
        let mut st = dest.state();
        let lock = DotLock::acquire(&dest.uidlist_path(), dest.lock_times(), opts)?;
        dest.sync_locked(&mut st, false, &mut SyncReport::default())?;
        let mut kw = st.keywords.clone();
        let mut planned = Vec::new();
        for src in &sources {
            let (disk, _) = src
                .flags
                .to_disk(&Flags::new(), &mut kw)
                .map_err(Error::Keyword)?;
            planned.push((src, disk));
        }
        if kw != st.keywords {
            dest.write_keywords(&mut st, kw)?;
        }
        let quota = crate::quota::Quota {
            root: &dest.shared.root,
            opts,
        };
        let mut names = Vec::new();
        let cur = dest.shared.dir.join("cur");
        for (src, disk) in planned {
            let size = src
                .size
                .or_else(|| fs::metadata(&src.path).ok().map(|m| m.len()))
                .unwrap_or(0);
            quota.check(size)?;
            let sep = opts.separator;
            let mut base = format!("{},S={size}", deliver::unique_name(opts));
            if let Some(w) = src.vsize {
                let _ = write!(base, ",W={w}");
            }
            let name = format!("{base}{sep}2,{disk}");
            let to = cur.join(&name);
            match deliver::link_or_rename_copy(&src.path, &to, opts) {
                Ok(()) => {}
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    continue; // expunged meanwhile
                }
                Err(e) => return Err(e),
            }
            let _ = quota.add(i64::try_from(size).unwrap_or(0), 1);
            names.push((src.uid, name));
        }
        if opts.fsync && !names.is_empty() {
            fsutil::sync_dir(&cur)?;
        }
        let new_uids = dest.register(
            &mut st,
            names.iter().map(|(_, n)| (n.clone(), false)).collect(),
        )?;
        dest.finish(&mut st, lock)?;
        Ok(names
            .iter()
            .map(|(u, _)| *u)
            .zip(new_uids)
            .collect::<Vec<_>>())
    }

    /// Moves messages into `dest` (copy, then expunge here); returns the UID pairs.
    pub fn move_to(&self, uids: &[u32], dest: &Self) -> Result<Vec<(u32, u32)>> {
        let pairs = self.copy_to(uids, dest)?;
        let moved: Vec<u32> = pairs.iter().map(|(s, _)| *s).collect();
        self.expunge(&moved)?;
        Ok(pairs)
    }

    /// Removes stale files from `tmp/` (see [`deliver::clean_tmp`]).
    pub fn clean_tmp(&self) -> Result<usize> {
        deliver::clean_tmp(&self.shared.dir, &self.shared.opts)
    }

    // ---- the sync machinery; every function below runs with the dot-lock held ----

    fn sync_locked(
        &self,
        st: &mut State,
        claim_recent: bool,
        report: &mut SyncReport,
    ) -> Result<()> {
        let dir = &self.shared.dir;
        let opts = &self.shared.opts;
        let now = opts.now();
        if st
            .last_tmp_clean
            .is_none_or(|t| t.elapsed() > Duration::from_hours(1))
        {
            st.last_tmp_clean = Some(Instant::now());
            let _ = deliver::clean_tmp(dir, opts);
        }
        self.read_uidlist(st)?;
        if st.uidlist.is_none() {
            self.uidlist_mut(st)?;
        }
        self.read_keywords(st)?;
        self.read_modseq(st)?;

        let new_stamp = Stamp::read(&dir.join("new"))?;
        let cur_stamp = Stamp::read(&dir.join("cur"))?;
        if new_stamp.is_none() || cur_stamp.is_none() {
            if !dir.is_dir() {
                return Err(Error::NoSuchFolder(self.shared.name.clone()));
            }
            for sub in ["cur", "new", "tmp"] {
                fsutil::create_dir_all(&dir.join(sub), opts.dir_mode)?;
            }
            return self.sync_locked(st, claim_recent, report);
        }
        let scan_new = !st.loaded || st.new_dirty || new_stamp != st.new_stamp;
        let mut scan_cur = !st.loaded || st.cur_dirty || cur_stamp != st.cur_stamp;
        let sep = opts.separator;
        // The listing: file names of new/ first, then of cur/, each with its place.
        let mut listing: Vec<(String, bool)> = Vec::new();
        if scan_new {
            Self::list(&dir.join("new"), true, &mut listing)?;
            report.dirs_listed += 1;
        }
        // A message that left new/ may have moved into cur/: list cur/ too.
        if scan_new && !scan_cur && st.msgs.iter().any(|m| m.in_new) {
            let bases: std::collections::HashSet<&str, FastState> =
                listing.iter().map(|(f, _)| base_of(f, sep)).collect();
            scan_cur = st
                .msgs
                .iter()
                .any(|m| m.in_new && !bases.contains(m.base()));
        }
        if scan_cur {
            Self::list(&dir.join("cur"), false, &mut listing)?;
            report.dirs_listed += 1;
        }
        let scanned = |in_new: bool| if in_new { scan_new } else { scan_cur };
        // base → position in the listing; keys borrowed from the listing.
        let mut present: HashMap<&str, usize, FastState> =
            HashMap::with_capacity_and_hasher(listing.len(), FastState::new());
        for (i, (f, in_new)) in listing.iter().enumerate() {
            match present.entry(base_of(f, sep)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
                // The same base in new/ and cur/ (a copy left by a crashed mover): cur/
                // wins. Twice in one directory: the first one listed stays.
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    if listing[*o.get()].1 && !in_new {
                        o.insert(i);
                    }
                }
            }
        }
        let mut gone = Vec::new();
        let mut log = String::new();
        for m in &mut st.msgs {
            if let Some(i) = present.remove(m.base()) {
                let (file, in_new) = (&listing[i].0, listing[i].1);
                if **file != *m.file || in_new != m.in_new {
                    let n = MessageName::parse(file, sep);
                    let flags = if n.info() == Info::Flags {
                        n.flags().clone()
                    } else {
                        Flags::new()
                    };
                    m.file = file.as_str().into();
                    m.in_new = in_new;
                    if flags != m.flags {
                        m.flags = flags;
                        report.flags_changed.push(m.uid);
                    }
                }
            } else if scanned(m.in_new) {
                gone.push(m.uid);
            }
        }
        // Files no message of ours points to: known to the uidlist, or new.
        let mut rest: Vec<usize> = present.into_values().collect();
        rest.sort_unstable();
        Self::drop_msgs(st, &gone, &mut log);
        report.expunged.extend(&gone);
        if !rest.is_empty() {
            let files: Vec<(String, bool)> = rest
                .into_iter()
                .map(|i| (std::mem::take(&mut listing[i].0), listing[i].1))
                .collect();
            report.new_uids = self.register_inner(st, files, &mut log)?;
        }
        // Flag changes: the modseq another process of ours recorded for exactly these
        // flags, else (a program that keeps no modseqs, e.g. Dovecot or a MUA) a new one.
        for &uid in &report.flags_changed {
            if let Some(i) = find(&st.msgs, uid) {
                let f = st.msgs[i].flags.to_string();
                let ms = match st.modseq.messages.get(&uid) {
                    Some((ms, rec)) if *rec == f && *ms > st.msgs[i].modseq => *ms,
                    _ => {
                        st.modseq.highest += 1;
                        let ms = st.modseq.highest;
                        log.push_str(&ModseqLog::set_line(uid, ms, &f));
                        st.modseq.set(uid, ms, &f);
                        ms
                    }
                };
                st.msgs[i].modseq = ms;
            }
        }
        if claim_recent {
            let cur = dir.join("cur");
            for i in 0..st.msgs.len() {
                if !st.msgs[i].in_new {
                    continue;
                }
                let m = &st.msgs[i];
                let n = MessageName::parse(&m.file, sep);
                let target = match n.info() {
                    Info::None => format!("{}{sep}2,", m.file),
                    _ => m.file.to_string(),
                };
                match fs::rename(dir.join("new").join(&*m.file), cur.join(&target)) {
                    Ok(()) => {
                        let m = &mut st.msgs[i];
                        m.file = target.into();
                        m.in_new = false;
                        report.recent.push(m.uid);
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        st.new_dirty = true;
                        st.cur_dirty = true;
                    }
                    Err(e) => return Err(Error::io("rename", dir.join("new"), e)),
                }
            }
        }
        self.append_modseq(st, &log)?;
        st.loaded = true;
        if scan_new {
            st.new_stamp = new_stamp;
            st.new_dirty = new_stamp.is_some_and(|s| s.is_recent(now));
        }
        if scan_cur {
            st.cur_stamp = cur_stamp;
            st.cur_dirty = cur_stamp.is_some_and(|s| s.is_recent(now));
        }
        Ok(())
    }

    /// Lists one directory's message files into `out` (name, in_new).
    fn list(dir: &Path, in_new: bool, out: &mut Vec<(String, bool)>) -> Result<()> {
        for e in fs::read_dir(dir).ctx("list", dir)? {
            let e = e.ctx("list", dir)?;
            // Names that are not UTF-8 cannot be written into dovecot-uidlist as we keep
            // it; they are left alone (never deleted, never shown).
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            // The directory entry's type, without a stat where the file system reports it.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            out.push((name, in_new));
        }
        Ok(())
    }

    /// Registers files that were just added by us (append, copy) and returns their UIDs.
    fn register(&self, st: &mut State, files: Vec<(String, bool)>) -> Result<Vec<u32>> {
        let mut log = String::new();
        let uids = self.register_inner(st, files, &mut log)?;
        self.append_modseq(st, &log)?;
        Ok(uids)
    }

    /// Gives files UIDs: the one the uidlist already has for their base (another process
    /// assigned it), else the next free UIDs in arrival order. Returns the UIDs in the
    /// order of `files`.
    fn register_inner(
        &self,
        st: &mut State,
        files: Vec<(String, bool)>,
        log: &mut String,
    ) -> Result<Vec<u32>> {
        let sep = self.shared.opts.separator;
        let mut out = vec![0u32; files.len()];
        let mut fresh: Vec<(usize, (u64, u64))> = Vec::new();
        {
            let records = st.uidlist.as_ref().map_or(&[][..], |l| &l.records[..]);
            for (i, (file, _)) in files.iter().enumerate() {
                let base = base_of(file, sep);
                match st.by_base.get(records, sep, base).map(|r| records[r].uid) {
                    // Assigned by another process. Not if it is live (a second file with
                    // the same base) or was reported expunged (a file restored from a
                    // backup): UIDs are never reused.
                    Some(uid)
                        if find(&st.msgs, uid).is_none()
                            && !st.modseq.expunged.contains_key(&uid) =>
                    {
                        out[i] = uid;
                    }
                    _ => fresh.push((i, arrival_key(base))),
                }
            }
        }
        // Two files given the same UID (the same base twice): only the first is new.
        if files.len() > 1 {
            let mut seen: std::collections::HashSet<u32, FastState> =
                std::collections::HashSet::with_capacity_and_hasher(files.len(), FastState::new());
            for i in 0..files.len() {
                if out[i] != 0 && !seen.insert(out[i]) {
                    out[i] = 0;
                    fresh.push((i, arrival_key(base_of(&files[i].0, sep))));
                }
            }
        }
        fresh.sort_by(|a, b| {
            a.1.cmp(&b.1)
                .then_with(|| files[a.0].0.as_str().cmp(files[b.0].0.as_str()))
        });
        if !fresh.is_empty() {
            self.uidlist_mut(st)?;
            let list = st.uidlist.as_mut().expect("created above");
            let mut text = String::new();
            let first = list.records.len();
            for (next, (i, _)) in (list.next_uid()..).zip(fresh.iter()) {
                if next == u32::MAX {
                    return Err(Error::Corrupt {
                        path: self.uidlist_path(),
                        reason: "UIDs exhausted; the folder needs a new UIDVALIDITY".into(),
                    });
                }
                let rec = Record {
                    uid: next,
                    ext: Vec::new(),
                    filename: base_of(&files[*i].0, sep).to_owned(),
                };
                rec.write_line(&mut text);
                list.records.push(rec);
                out[*i] = next;
            }
            for r in first..list.records.len() {
                st.by_base.insert(&list.records, sep, r);
            }
            self.append_uidlist(st, &text)?;
        }
        // Names parsed in listing order (the strings were allocated in that order), then
        // sorted by UID, so that the modseq lookups walk the log in order.
        let first_new = st.msgs.len();
        st.msgs.reserve(files.len());
        for (i, (file, in_new)) in files.into_iter().enumerate() {
            let n = MessageName::parse(&file, sep);
            let flags = if n.info() == Info::Flags {
                n.flags().clone()
            } else {
                Flags::new()
            };
            let (size, vsize) = (n.size(), n.vsize());
            let base_len = u32::try_from(n.base().len()).unwrap_or(u32::MAX);
            st.msgs.push(Msg {
                uid: out[i],
                base_len,
                file: file.into_boxed_str(),
                in_new,
                flags,
                modseq: 0,
                size,
                vsize,
            });
        }
        st.msgs[first_new..].sort_unstable_by_key(|m| m.uid);
        let mut fs_ = String::new();
        for m in &mut st.msgs[first_new..] {
            fs_.clear();
            let _ = write!(fs_, "{}", m.flags);
            // Known to the modseq log with these flags (a restart): keep its modseq.
            m.modseq = match st.modseq.messages.get(&m.uid) {
                Some((ms, f)) if *f == fs_ => *ms,
                _ => {
                    st.modseq.highest += 1;
                    let ms = st.modseq.highest;
                    log.push_str(&ModseqLog::set_line(m.uid, ms, &fs_));
                    st.modseq.set(m.uid, ms, &fs_);
                    ms
                }
            };
        }
        if st.msgs.windows(2).any(|w| w[0].uid >= w[1].uid) {
            st.msgs.sort_by_key(|m| m.uid);
            st.msgs.dedup_by_key(|m| m.uid);
        }
        Ok(out)
    }

    fn drop_msgs(st: &mut State, uids: &[u32], log: &mut String) {
        if uids.is_empty() {
            return;
        }
        let set: std::collections::HashSet<u32> = uids.iter().copied().collect();
        st.msgs.retain(|m| !set.contains(&m.uid));
        for &uid in uids {
            st.modseq.highest += 1;
            let ms = st.modseq.highest;
            log.push_str(&ModseqLog::expunge_line(uid, ms));
            st.modseq.expunge(uid, ms);
        }
        st.expunge_gen += 1;
    }

    /// The uidlist, created (with a fresh UIDVALIDITY and GUID) when there is none.
    fn uidlist_mut<'s>(&self, st: &'s mut State) -> Result<&'s mut UidList> {
        if st.uidlist.is_none() {
            let v = self.next_uid_validity();
            let g = format!(
                "{:016x}{:016x}",
                self.shared.opts.random.next_u64(),
                self.shared.opts.random.next_u64()
            );
            let list = UidList::new(v, Some(g));
            let data = list.serialize();
            // Created under the lock we hold; written whole through a temporary file.
            fsutil::write_atomic(
                &self.uidlist_path(),
                &format!(".tmp.{}", self.shared.opts.pid),
                &data,
                self.shared.opts.file_mode,
                self.shared.opts.fsync,
            )?;
            st.uidlist_stamp = Stamp::read(&self.uidlist_path())?;
            st.uidlist_read = data.len() as u64;
            if st.uid_validity != v {
                Self::reset_for_validity(st, v);
            }
            st.uidlist = Some(list);
        }
        Ok(st.uidlist.as_mut().expect("just set"))
    }

    /// A UIDVALIDITY for a new uidlist: the current time, but always above the last one
    /// handed out in this Maildir++ root (Dovecot's `dovecot-uidvalidity` counter, kept in
    /// hex), so that a folder deleted and created again never repeats one.
    fn next_uid_validity(&self) -> u32 {
        let path = self.shared.root.join("dovecot-uidvalidity");
        let last = fs::read_to_string(&path)
            .ok()
            .and_then(|s| u32::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        let now = u32::try_from(self.shared.opts.now_secs()).unwrap_or(u32::MAX - 1);
        let v = now.max(last.saturating_add(1)).max(1);
        let _ = fsutil::write_atomic(
            &path,
            &format!(
                ".tmp.{}.{}",
                self.shared.opts.pid,
                self.shared.opts.random.next_u64()
            ),
            format!("{v:08x}").as_bytes(),
            self.shared.opts.file_mode,
            self.shared.opts.fsync,
        );
        v
    }

    fn reset_for_validity(st: &mut State, v: u32) {
        st.uid_validity = v;
        st.msgs.clear();
        st.by_base.clear();
        st.expunge_gen += 1;
        st.loaded = false;
        st.new_stamp = None;
        st.cur_stamp = None;
        // Modseqs continue upwards across a UIDVALIDITY change.
        let highest = st.modseq.highest;
        st.modseq = ModseqLog::new(v, highest);
        st.modseq_stamp = None;
        st.modseq_read = 0;
    }

    fn read_uidlist(&self, st: &mut State) -> Result<()> {
        let path = self.uidlist_path();
        let stamp = Stamp::read(&path)?;
        if stamp == st.uidlist_stamp && st.uidlist.is_some() {
            return Ok(());
        }
        let Some(stamp) = stamp else {
            // No uidlist (new folder, or removed): a new one is made when a UID is needed.
            if st.uidlist.is_some() {
                st.uidlist = None;
                st.uidlist_stamp = None;
            }
            return Ok(());
        };
        // Appended only (same file, grown): read the tail.
        if let (Some(old), Some(list)) = (st.uidlist_stamp, st.uidlist.as_mut())
            && old.ino == stamp.ino
            && old.dev == stamp.dev
            && stamp.size > st.uidlist_read
        {
            let mut f = fs::File::open(&path).ctx("open", &path)?;
            f.seek(SeekFrom::Start(st.uidlist_read))
                .ctx("seek", &path)?;
            let mut tail = Vec::new();
            f.read_to_end(&mut tail).ctx("read", &path)?;
            let before = list.records.len();
            if let Ok(used) = list.parse_appended(&tail, 0) {
                for r in before..list.records.len() {
                    st.by_base
                        .insert(&list.records, self.shared.opts.separator, r);
                }
                st.uidlist_read += used as u64;
                st.uidlist_stamp = Some(stamp);
                return Ok(());
            }
        }
        let data = fs::read(&path).ctx("read", &path)?;
        match UidList::parse(&data) {
            Ok(Some(list)) => {
                if st.uid_validity != 0 && st.uid_validity != list.uid_validity {
                    Self::reset_for_validity(st, list.uid_validity);
                }
                st.uid_validity = list.uid_validity;
                st.by_base
                    .rebuild(&list.records, self.shared.opts.separator);
                st.uidlist_read = data.len() as u64;
                st.uidlist = Some(list);
                st.uidlist_stamp = Some(stamp);
            }
            Ok(None) => {
                st.uidlist = None;
                st.uidlist_stamp = Some(stamp);
            }
            Err(e) => {
                // Broken: like Dovecot, start a new list (a new UIDVALIDITY) rather than
                // guess at UIDs. The old file is kept beside it for inspection.
                let _ = fs::rename(&path, self.shared.dir.join("dovecot-uidlist.broken"));
                let _ = e;
                st.uidlist = None;
                st.uidlist_stamp = None;
            }
        }
        Ok(())
    }

    fn read_keywords(&self, st: &mut State) -> Result<()> {
        let path = self.shared.dir.join(KEYWORDS);
        let stamp = Stamp::read(&path)?;
        if stamp == st.keywords_stamp {
            return Ok(());
        }
        st.keywords = match stamp {
            Some(_) => match fs::read(&path) {
                Ok(d) => Keywords::parse(&d),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Keywords::new(),
                Err(e) => return Err(Error::io("read", &path, e)),
            },
            None => Keywords::new(),
        };
        st.keywords_stamp = stamp;
        Ok(())
    }

    fn write_keywords(&self, st: &mut State, kw: Keywords) -> Result<()> {
        let path = self.shared.dir.join(KEYWORDS);
        let lock = DotLock::acquire(&path, self.lock_times(), &self.shared.opts)?;
        lock.replace(&kw.serialize())?;
        st.keywords = kw;
        st.keywords_stamp = Stamp::read(&path)?;
        Ok(())
    }

    fn read_modseq(&self, st: &mut State) -> Result<()> {
        let path = self.shared.dir.join(modseq::FILE_NAME);
        let stamp = Stamp::read(&path)?;
        if stamp == st.modseq_stamp && (stamp.is_some() || st.loaded) {
            return Ok(());
        }
        if let (Some(old), Some(new)) = (st.modseq_stamp, stamp)
            && old.ino == new.ino
            && new.size > st.modseq_read
        {
            let mut f = fs::File::open(&path).ctx("open", &path)?;
            f.seek(SeekFrom::Start(st.modseq_read)).ctx("seek", &path)?;
            let mut tail = Vec::new();
            f.read_to_end(&mut tail).ctx("read", &path)?;
            let mut log = st.modseq.clone();
            if let Ok(used) = log.append(&tail, 0) {
                Self::apply_modseq_log(st, log);
                st.modseq_read += used as u64;
                st.modseq_stamp = Some(new);
                return Ok(());
            }
        }
        let parsed = match fs::read(&path) {
            Ok(d) => ModseqLog::parse(&d).ok().map(|l| (l, d.len() as u64)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        match parsed {
            Some((log, len)) if st.uid_validity == 0 || log.uid_validity == st.uid_validity => {
                Self::apply_modseq_log(st, log);
                st.modseq_read = len;
                st.modseq_stamp = stamp;
            }
            _ => {
                // Missing, broken or of another UIDVALIDITY: start a new log above any modseq
                // a client may have seen (see the module docs of `modseq`).
                let had_history = st.uidlist.as_ref().is_some_and(|l| !l.records.is_empty());
                let base = if had_history {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1))
                } else {
                    0
                };
                let highest = st.modseq.highest.max(base);
                st.modseq = ModseqLog::new(st.uid_validity, highest);
                self.rewrite_modseq(st)?;
            }
        }
        Ok(())
    }

    fn apply_modseq_log(st: &mut State, log: ModseqLog) {
        // Other processes' changes: take their modseqs for messages whose flags match.
        for m in &mut st.msgs {
            if let Some((ms, f)) = log.messages.get(&m.uid)
                && *ms > m.modseq
                && *f == m.flags.to_string()
            {
                m.modseq = *ms;
            }
        }
        st.modseq = log;
    }

    fn append_modseq(&self, st: &mut State, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let path = self.shared.dir.join(modseq::FILE_NAME);
        if st.modseq_stamp.is_none() || st.modseq.wants_compaction() {
            st.modseq.entries = 0;
            return self.rewrite_modseq(st);
        }
        let mut f = OpenOptions::new()
            .append(true)
            .mode(self.shared.opts.file_mode)
            .open(&path)
            .ctx("open", &path)?;
        f.write_all(text.as_bytes()).ctx("append", &path)?;
        if self.shared.opts.fsync {
            f.sync_data().ctx("fsync", &path)?;
        }
        st.modseq.entries += text.matches('\n').count();
        st.modseq_read += text.len() as u64;
        st.modseq_stamp = Stamp::read(&path)?;
        Ok(())
    }

    fn rewrite_modseq(&self, st: &mut State) -> Result<()> {
        let path = self.shared.dir.join(modseq::FILE_NAME);
        st.modseq.uid_validity = st.uid_validity;
        let data = st.modseq.serialize();
        fsutil::write_atomic(
            &path,
            &format!(".tmp.{}", self.shared.opts.pid),
            &data,
            self.shared.opts.file_mode,
            self.shared.opts.fsync,
        )?;
        st.modseq_read = data.len() as u64;
        st.modseq_stamp = Stamp::read(&path)?;
        Ok(())
    }

    fn append_uidlist(&self, st: &mut State, text: &str) -> Result<()> {
        let path = self.uidlist_path();
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .ctx("open", &path)?;
        f.write_all(text.as_bytes()).ctx("append", &path)?;
        if self.shared.opts.fsync {
            f.sync_data().ctx("fsync", &path)?;
        }
        st.uidlist_read += text.len() as u64;
        st.uidlist_stamp = Stamp::read(&path)?;
        Ok(())
    }

    /// Ends a locked operation: rewrites the uidlist when it carries many stale records
    /// (releasing the lock with the same rename), else just releases the lock.
    fn finish(&self, st: &mut State, lock: DotLock) -> Result<()> {
        let Some(list) = st.uidlist.as_mut() else {
            return Ok(());
        };
        let stale = list.records.len().saturating_sub(st.msgs.len());
        if stale > 1000.max(st.msgs.len() / 2) || list.version != 3 {
            let live: HashMap<u32, &Msg> = st.msgs.iter().map(|m| (m.uid, m)).collect();
            let next = list.next_uid();
            list.records.retain_mut(|r| match live.get(&r.uid) {
                Some(m) => {
                    r.filename = m.base().to_string();
                    true
                }
                None => false,
            });
            st.by_base
                .rebuild(&list.records, self.shared.opts.separator);
            list.header_next_uid = next;
            list.version = 3;
            let data = list.serialize();
            lock.replace(&data)?;
            st.uidlist_read = data.len() as u64;
            st.uidlist_stamp = Stamp::read(&self.uidlist_path())?;
        }
        Ok(())
    }
}

/// Binary search by UID.
pub(crate) fn find(msgs: &[Msg], uid: u32) -> Option<usize> {
    msgs.binary_search_by_key(&uid, |m| m.uid).ok()
}

/// Sort key for arrival order: the seconds and the `M<usecs>` field of a name.
fn arrival_key(base: &str) -> (u64, u64) {
    let mut parts = base.split('.');
    let secs = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let usecs = parts
        .next()
        .and_then(|p| p.strip_prefix('M'))
        .map_or(0, |p| {
            p.bytes().take_while(u8::is_ascii_digit).fold(0u64, |a, b| {
                a.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            })
        });
    (secs, usecs)
}
