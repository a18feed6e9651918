//! A user's Maildir++ tree: INBOX in the root, folders as `.Name` directories with `.` as
//! the hierarchy separator (MD-004), subscriptions, special-use folders and the quota.
//!
//! ```text
//! ~/Maildir/                  INBOX (cur/ new/ tmp/ dovecot-uidlist ...)
//! ~/Maildir/.Sent/            "Sent"           (+ an empty `maildirfolder` file)
//! ~/Maildir/.Lists.rust/      "Lists.rust"     (child of "Lists", which may not exist)
//! ~/Maildir/.Entw&APw-rfe/    "Entwürfe"       (modified UTF-7, as Dovecot stores it)
//! ~/Maildir/subscriptions     "V\t2\n\n" then one name a line, levels separated by TAB
//! ~/Maildir/maildirsize       Maildir++ quota
//! ```
//!
//! Names starting with `..` are never folders (they are how a deletion in progress is
//! hidden). Folder handles are shared: asking twice for the same folder in one process
//! gives handles on the same state, so every session of the process sees the others'
//! changes at its next sync without re-reading the disk.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use crate::deliver::Delivered;
use crate::error::{Error, IoContext, Result};
use crate::folder::{Folder, Shared};
use crate::fsutil;
use crate::lock::{DotLock, LockTimes};
use crate::mutf7;
use crate::options::Options;
use crate::quota::{Quota, QuotaLimits, QuotaUsage};

/// The special-use folders a new account gets (RFC 6154), with their default names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialUse {
    /// `\Drafts`
    Drafts,
    /// `\Sent`
    Sent,
    /// `\Junk`
    Junk,
    /// `\Trash`
    Trash,
    /// `\Archive`
    Archive,
}

impl SpecialUse {
    /// All of them, in the order they are created.
    pub const ALL: [Self; 5] = [
        Self::Drafts,
        Self::Sent,
        Self::Junk,
        Self::Trash,
        Self::Archive,
    ];

    /// The LIST attribute (`\Sent`).
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Drafts => "\\Drafts",
            Self::Sent => "\\Sent",
            Self::Junk => "\\Junk",
            Self::Trash => "\\Trash",
            Self::Archive => "\\Archive",
        }
    }

    /// The default folder name (`Sent`).
    pub fn default_name(self) -> &'static str {
        match self {
            Self::Drafts => "Drafts",
            Self::Sent => "Sent",
            Self::Junk => "Junk",
            Self::Trash => "Trash",
            Self::Archive => "Archive",
        }
    }

    /// The special use of a top-level folder name, by the default names (case-insensitive).
    pub fn of_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.default_name().eq_ignore_ascii_case(name))
    }
}

/// A folder in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FolderEntry {
    /// The name (`INBOX`, `Lists.rust`), UTF-8.
    pub name: String,
    /// Whether a folder directory exists (false for a parent that exists only because a
    /// child does: IMAP `\NonExistent`/`\Noselect`).
    pub exists: bool,
    /// Whether it has child folders.
    pub has_children: bool,
    /// Its special use, if any.
    pub special_use: Option<SpecialUse>,
    /// Whether it is subscribed.
    pub subscribed: bool,
}

/// The longest folder name accepted, in bytes of its directory name.
pub const MAX_FOLDER_NAME: usize = 250;

/// A user's Maildir++ tree.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    opts: Arc<Options>,
    open: Mutex<HashMap<String, Weak<Shared>>>,
}

impl Maildir {
    /// Opens the Maildir at `root`, creating the root and INBOX's `cur/ new/ tmp/` when
    /// missing (MD-005: a missing INBOX is not an error).
    pub fn open(root: impl Into<PathBuf>, opts: Options) -> Result<Self> {
        let root = root.into();
        for sub in ["cur", "new", "tmp"] {
            fsutil::create_dir_all(&root.join(sub), opts.dir_mode)?;
        }
        Ok(Self {
            root,
            opts: Arc::new(opts),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Opens (creating when missing) a Maildir for a new account: INBOX and the
    /// special-use folders Drafts, Sent, Junk, Trash, Archive, all subscribed.
    pub fn create_account(root: impl Into<PathBuf>, opts: Options) -> Result<Self> {
        let md = Self::open(root, opts)?;
        md.subscribe("INBOX")?;
        for s in SpecialUse::ALL {
            match md.create_folder(s.default_name()) {
                Ok(_) | Err(Error::FolderExists(_)) => {}
                Err(e) => return Err(e),
            }
            md.subscribe(s.default_name())?;
        }
        Ok(md)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// INBOX.
    pub fn inbox(&self) -> Result<Folder> {
        self.folder("INBOX")
    }

    /// An existing folder (INBOX always exists).
    pub fn folder(&self, name: &str) -> Result<Folder> {
        let (key, dir) = self.locate(name)?;
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(shared) = open.get(&key).and_then(Weak::upgrade)
            && shared.dir.is_dir()
        {
            return Ok(Folder { shared });
        }
        let f = Folder::open_in(&key, dir, self.root.clone(), self.opts.clone())?;
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(key, Arc::downgrade(&f.shared));
        Ok(f)
    }

    /// Creates a folder (and nothing else: parents are implied by the name).
    pub fn create_folder(&self, name: &str) -> Result<Folder> {
        let (key, dir) = self.locate(name)?;
        if key == "INBOX" {
            return Err(Error::FolderExists(key));
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::FolderExists(key));
            }
            Err(e) => return Err(Error::io("create folder", &dir, e)),
        }
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(self.opts.dir_mode));
        }
        for sub in ["cur", "new", "tmp"] {
            fsutil::create_dir_all(&dir.join(sub), self.opts.dir_mode)?;
        }
        // Maildir++ marks subfolders with an empty `maildirfolder` file.
        fsutil::create_new(&dir.join("maildirfolder"), self.opts.file_mode)
            .or_else(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    fs::File::open(dir.join("maildirfolder"))
                } else {
                    Err(e)
                }
            })
            .ctx("create", &dir.join("maildirfolder"))?;
        if self.opts.fsync {
            fsutil::sync_dir(&dir)?;
            fsutil::sync_dir(&self.root)?;
        }
        self.folder(&key)
    }

    /// Deletes a folder and its messages (not its children). The directory is first
    /// renamed to a `..` name, so a crash never leaves a half-deleted folder visible.
    pub fn delete_folder(&self, name: &str) -> Result<()> {
        let (key, dir) = self.locate(name)?;
        if key == "INBOX" {
            return Err(Error::Unsupported("deleting INBOX"));
        }
        if !dir.is_dir() {
            return Err(Error::NoSuchFolder(key));
        }
        let trash = self.root.join(format!(
            "..deleted.{}",
            crate::deliver::unique_name(&self.opts)
        ));
        fs::rename(&dir, &trash).ctx("rename", &dir)?;
        if self.opts.fsync {
            fsutil::sync_dir(&self.root)?;
        }
        fs::remove_dir_all(&trash).ctx("remove", &trash)?;
        self.forget(&key);
        let _ = self.unsubscribe(&key);
        Ok(())
    }

    /// Renames a folder and its children (`A` → `B` moves `A.x` to `B.x`). Subscriptions
    /// follow. Renaming INBOX is not supported.
    pub fn rename_folder(&self, from: &str, to: &str) -> Result<()> {
        let (from_key, from_dir) = self.locate(from)?;
        let (to_key, to_dir) = self.locate(to)?;
        if from_key == "INBOX" {
            return Err(Error::Unsupported("renaming INBOX"));
        }
        if to_key == "INBOX" || to_dir.exists() {
            return Err(Error::FolderExists(to_key));
        }
        if to_key.starts_with(&format!("{from_key}.")) {
            return Err(Error::InvalidFolderName {
                name: to_key,
                reason: "cannot move a folder into itself",
            });
        }
        let children: Vec<String> = self
            .folder_names()?
            .into_iter()
            .filter(|n| n.starts_with(&format!("{from_key}.")))
            .collect();
        if !from_dir.is_dir() && children.is_empty() {
            return Err(Error::NoSuchFolder(from_key));
        }
        let subs = self.subscriptions()?;
        if from_dir.is_dir() {
            fs::rename(&from_dir, &to_dir).ctx("rename", &from_dir)?;
        }
        for child in &children {
            let new_name = format!("{to_key}{}", &child[from_key.len()..]);
            let (_, a) = self.locate(child)?;
            let (_, b) = self.locate(&new_name)?;
            fs::rename(&a, &b).ctx("rename", &a)?;
        }
        if self.opts.fsync {
            fsutil::sync_dir(&self.root)?;
        }
        for old in std::iter::once(&from_key).chain(children.iter()) {
            self.forget(old);
            if subs.iter().any(|s| s == old) {
                let new_name = format!("{to_key}{}", &old[from_key.len()..]);
                self.unsubscribe(old)?;
                self.subscribe(&new_name)?;
            }
        }
        Ok(())
    }

    fn forget(&self, key: &str) {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }

    /// The names of existing folders (INBOX first, then sorted).
    fn folder_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for e in fs::read_dir(&self.root).ctx("list", &self.root)? {
            let e = e.ctx("list", &self.root)?;
            let fname = e.file_name();
            let Some(fname) = fname.to_str() else {
                continue;
            };
            let Some(enc) = fname.strip_prefix('.') else {
                continue;
            };
            if enc.is_empty() || enc.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            // A name that is not modified UTF-7 (written by a UTF-8 tool) is shown as is.
            names.push(mutf7::decode(enc).unwrap_or_else(|| enc.to_owned()));
        }
        names.sort();
        Ok(names)
    }

    /// Lists all folders, with the parents implied by child names, special use and
    /// subscription state.
    pub fn list_folders(&self) -> Result<Vec<FolderEntry>> {
        let names = self.folder_names()?;
        let subs = self.subscriptions()?;
        let mut all: Vec<(String, bool)> = vec![("INBOX".into(), true)];
        let mut seen: std::collections::HashSet<String> = names.iter().cloned().collect();
        for n in &names {
            all.push((n.clone(), true));
            let mut parent = n.as_str();
            while let Some(i) = parent.rfind('.') {
                parent = &parent[..i];
                if seen.insert(parent.to_owned()) {
                    all.push((parent.to_owned(), false));
                }
            }
        }
        all[1..].sort();
        Ok(all
            .iter()
            .map(|(n, exists)| FolderEntry {
                has_children: all.iter().any(|(c, _)| {
                    c.len() > n.len() + 1
                        && c.starts_with(n.as_str())
                        && c.as_bytes()[n.len()] == b'.'
                }),
                special_use: if n.contains('.') {
                    None
                } else {
                    SpecialUse::of_name(n)
                },
                subscribed: subs.iter().any(|s| s == n),
                name: n.clone(),
                exists: *exists,
            })
            .collect())
    }

    /// The subscribed folder names (from `subscriptions`, Dovecot's version 2 or the
    /// Courier-style version 1 file).
    pub fn subscriptions(&self) -> Result<Vec<String>> {
        let path = self.root.join("subscriptions");
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        Ok(parse_subscriptions(&data))
    }

    /// Subscribes to a folder (it need not exist, as IMAP allows).
    pub fn subscribe(&self, name: &str) -> Result<()> {
        let key = Self::check_name(name)?;
        self.edit_subscriptions(|subs| {
            if subs.contains(&key) {
                false
            } else {
                subs.push(key.clone());
                true
            }
        })
    }

    /// Unsubscribes.
    pub fn unsubscribe(&self, name: &str) -> Result<()> {
        let key = Self::check_name(name)?;
        self.edit_subscriptions(|subs| {
            let before = subs.len();
            subs.retain(|s| *s != key);
            subs.len() != before
        })
    }

    fn edit_subscriptions(&self, edit: impl FnOnce(&mut Vec<String>) -> bool) -> Result<()> {
        let path = self.root.join("subscriptions");
        // Dovecot's subscription lock: 120 s timeout, stale after 30 s unchanged.
        let lock = DotLock::acquire(
            &path,
            LockTimes {
                timeout: self.opts.lock_timeout,
                stale_after: std::time::Duration::from_secs(30),
            },
            &self.opts,
        )?;
        let mut subs = self.subscriptions()?;
        if edit(&mut subs) {
            lock.replace(&serialize_subscriptions(&subs))?;
        }
        Ok(())
    }

    /// Quota limits and use, `None` when no quota applies.
    pub fn quota(&self) -> Result<Option<(QuotaLimits, QuotaUsage)>> {
        Quota {
            root: &self.root,
            opts: &self.opts,
        }
        .read()
    }

    /// Sets the quota limits in `maildirsize` (recalculating the use).
    pub fn set_quota(&self, limits: QuotaLimits) -> Result<QuotaUsage> {
        Quota {
            root: &self.root,
            opts: &self.opts,
        }
        .recalculate(limits)
    }

    /// Delivers into a folder (INBOX, or a folder created on the way when `create`, as
    /// Sieve's `fileinto :create`).
    pub fn deliver(&self, folder: &str, msg: impl Read, create: bool) -> Result<Delivered> {
        let f = match self.folder(folder) {
            Err(Error::NoSuchFolder(_)) if create => match self.create_folder(folder) {
                Ok(f) => f,
                Err(Error::FolderExists(_)) => self.folder(folder)?,
                Err(e) => return Err(e),
            },
            other => other?,
        };
        f.deliver(msg)
    }

    /// Validates a name and returns (canonical name, directory).
    fn locate(&self, name: &str) -> Result<(String, PathBuf)> {
        let key = Self::check_name(name)?;
        if key == "INBOX" {
            return Ok((key, self.root.clone()));
        }
        let dir = self.root.join(format!(".{}", mutf7::encode(&key)));
        Ok((key, dir))
    }

    fn check_name(name: &str) -> Result<String> {
        let bad = |reason| Error::InvalidFolderName {
            name: name.to_owned(),
            reason,
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok("INBOX".to_owned());
        }
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.split('.').any(str::is_empty) {
            return Err(bad(
                "empty hierarchy level (leading, trailing or double '.')",
            ));
        }
        if name.contains('/') {
            return Err(bad("'/' is not allowed"));
        }
        if name.starts_with('~') {
            return Err(bad("a leading '~' is not allowed"));
        }
        if name.chars().any(char::is_control) {
            return Err(bad("control characters are not allowed"));
        }
        if mutf7::encode(name).len() + 1 > MAX_FOLDER_NAME {
            return Err(bad("too long"));
        }
        Ok(name.to_owned())
    }
}

/// Parses a `subscriptions` file (version 2 with its `V\t2\n\n` header, TAB between
/// hierarchy levels and `\x01` escapes; or version 1, one name a line).
pub fn parse_subscriptions(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let (v2, body) = match text.strip_prefix("V\t2\n\n") {
        Some(b) => (true, b),
        None => (false, &*text),
    };
    let mut out = Vec::new();
    for line in body.lines() {
        if line.is_empty() {
            continue;
        }
        let name = if v2 {
            line.split('\t')
                .map(unescape_tab)
                .collect::<Vec<_>>()
                .join(".")
        } else {
            line.to_owned()
        };
        let name = mutf7::decode(&name).unwrap_or(name);
        // An escape sequence alone ("\x01") decodes to nothing: not a name.
        if name.is_empty() {
            continue;
        }
        let name = if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_owned()
        } else {
            name
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Writes a version 2 `subscriptions` file.
pub fn serialize_subscriptions(names: &[String]) -> Vec<u8> {
    let mut s = String::from("V\t2\n\n");
    for n in names {
        let enc = if n == "INBOX" {
            n.clone()
        } else {
            mutf7::encode(n)
        };
        let levels: Vec<String> = enc.split('.').map(escape_tab).collect();
        s.push_str(&levels.join("\t"));
        s.push('\n');
    }
    s.into_bytes()
}

fn escape_tab(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\x01' => o.push_str("\x011"),
            '\t' => o.push_str("\x01t"),
            '\r' => o.push_str("\x01r"),
            '\n' => o.push_str("\x01n"),
            c => o.push(c),
        }
    }
    o
}

fn unescape_tab(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\x01' {
            match it.next() {
                Some('1') => o.push('\x01'),
                Some('t') => o.push('\t'),
                Some('r') => o.push('\r'),
                Some('n') => o.push('\n'),
                Some(x) => o.push(x),
                None => {}
            }
        } else {
            o.push(c);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_formats() {
        // What Dovecot 2.3.19 wrote here.
        let dovecot = b"V\t2\n\nExp\tEntw&APw-rfe\nSub2\n";
        assert_eq!(parse_subscriptions(dovecot), ["Exp.Entwürfe", "Sub2"]);
        assert_eq!(
            serialize_subscriptions(&["Exp.Entwürfe".into(), "Sub2".into()]),
            dovecot
        );
        assert_eq!(
            parse_subscriptions(b"INBOX\nLists.rust\ninbox\n"),
            ["INBOX", "Lists.rust"]
        );
        assert_eq!(unescape_tab(&escape_tab("a\tb\x01c")), "a\tb\x01c");
        // Found by the maildir_subscriptions fuzz target.
        assert!(parse_subscriptions(b"V\t2\n\n\x01\n").is_empty());
    }

    #[test]
    fn name_rules() {
        for bad in ["", ".a", "a.", "a..b", "a/b", "~x", "a\nb"] {
            assert!(
                matches!(
                    Maildir::check_name(bad),
                    Err(Error::InvalidFolderName { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(Maildir::check_name("inbox").unwrap(), "INBOX");
        assert!(Maildir::check_name(&"x".repeat(300)).is_err());
    }
}
