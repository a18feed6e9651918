//! A Maildir and Maildir++ message store that does not lose mail.
//!
//! This crate is the storage layer a mail server and an IMAP session share: delivery that
//! reports success only after the message and its directory entry are on disk, listing,
//! flags, Maildir++ folders, stable IMAP UIDs kept in Dovecot's `dovecot-uidlist` format, and
//! Maildir++ quota. It uses `std::fs` directly and has no async runtime; a server calls it
//! from a blocking thread.
//!
//! ```text
//!  LMTP / deliver tool            IMAP sessions (one View each)       other processes, Dovecot
//!        │ Folder::deliver              │ View::sync / store / expunge          │
//!        ▼ (lock-free)                  ▼                                       ▼
//!  tmp/ ─fsync─► new/ ─fsync dir──► Folder (shared per process) ◄── dovecot-uidlist(.lock)
//!                                     │  UIDs, keywords, modseqs        dovecot-keywords
//!                                     ▼                                 maildir-modseq, maildirsize
//!                                   cur/ (flags in file names)
//! ```
//!
//! # What is here today
//!
//! - [`deliver`]: unique names (time, microseconds, PID, sequence, 64 random bits, host),
//!   `tmp/` → fsync → `link()` into `new/` → fsync of `new/` → success; quota and size limit
//!   checked before the message becomes visible; stale `tmp/` cleanup (36 h).
//! - [`folder`]: [`Folder`], the store handle of one folder, shared by all sessions of a
//!   process: sync under `dovecot-uidlist.lock` (listing only directories whose mtime
//!   changed), UIDs, `\Recent` (new → cur), STORE with CONDSTORE `UNCHANGEDSINCE`, EXPUNGE,
//!   APPEND with `APPENDUID`, COPY/MOVE with `COPYUID` (hard links), cheap
//!   [`Folder::has_changed`] for IDLE and NOOP.
//! - [`view`]: [`View`], a session's sequence-number ↔ UID map that moves only at sync, with
//!   the changes to report (EXPUNGE in a valid order, EXISTS, RECENT, FETCH FLAGS MODSEQ).
//! - [`store`]: [`Maildir`], a user's Maildir++ tree: folders (create, rename, delete, list
//!   with special use), `subscriptions`, quota, delivery into folders; a new account gets
//!   Drafts, Sent, Junk, Trash and Archive.
//! - [`uidlist`], [`keywords`], [`quota`], [`modseq`]: the metadata files, parsed strictly and
//!   written so that Dovecot can share the Maildir: `dovecot-uidlist` version 3,
//!   `dovecot-keywords`, Maildir++ `maildirsize`, and our own `maildir-modseq` log (Dovecot
//!   keeps its modseqs in its index; this file does not disturb it).
//! - [`lock`]: dot-locks compatible with Dovecot's (`O_EXCL`, stale after 120 s without
//!   change or when the owning PID on this host is gone, replace-by-rename).
//! - [`name`], [`flags`], [`mutf7`]: file names and their `:2,` flags, IMAP flag sets, and
//!   the modified UTF-7 of folder directory names.
//!
//! ```
//! use maildir::{Access, Expunges, Flag, FlagSet, Maildir, Options, StoreOp, View};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let md = Maildir::create_account(dir.path().join("Maildir"), Options::default())?;
//! let inbox = md.inbox()?;
//! inbox.deliver(&b"Subject: hi\r\n\r\nhello\r\n"[..])?; // durable when this returns
//!
//! // An IMAP session: SELECT, then NOOP/IDLE polling.
//! let mut view = View::open(&inbox, Access::ReadWrite)?;
//! assert_eq!((view.len(), view.recent_count()), (1, 1));
//! let uid = view.uid(1).unwrap();
//! view.store(&[uid], StoreOp::Add, &FlagSet::new().with(Flag::Seen), None)?;
//! if inbox.has_changed()? {
//!     let changes = view.sync(Expunges::Report)?;
//!     for seq in changes.expunged { /* "* {seq} EXPUNGE" */ }
//!     if let Some(n) = changes.exists { /* "* {n} EXISTS" */ }
//!     for f in changes.flags { /* "* {f.seq} FETCH (FLAGS ... MODSEQ ...)" */ }
//! }
//! # Ok::<(), maildir::Error>(())
//! ```
//!
//! The name parser on its own:
//!
//! ```
//! use maildir::name::{Flag, MessageName};
//!
//! let n = MessageName::parse("1276528487.M364837P9451.kurkku,S=1355,W=1394:2,SR", ':');
//! assert_eq!(n.size(), Some(1355));
//! assert!(n.flags().contains(Flag::Seen) && n.flags().contains(Flag::Replied));
//! let mut flags = n.flags().clone();
//! flags.insert(Flag::Flagged);
//! assert_eq!(n.with_flags(&flags, ':'), "1276528487.M364837P9451.kurkku,S=1355,W=1394:2,FRS");
//! ```
//!
//! # Threads and processes
//!
//! [`Folder`] and [`Maildir`] are `Send + Sync`; call them from blocking threads
//! (`tokio::task::spawn_blocking`). Several processes, and Dovecot, may use one Maildir at
//! once: every change of metadata and every rename happens under `dovecot-uidlist.lock`,
//! deliveries need no lock.
//!
//! # What this crate never does
//!
//! It never acknowledges a write before `fsync` of the file and of its directory (unless
//! told so with [`Options::dangerous_no_fsync`]), never leaves a partial message in `new/`
//! or `cur/`, never reuses a UID within a UIDVALIDITY, and never panics on odd file names or
//! broken metadata found on disk. It does no network I/O, needs no async runtime and has no
//! `unsafe` code. It does not support NFS (MD-010): Maildir on NFS needs attribute-cache
//! flushes this crate does not do.
//!
//! # Feature flags
//!
//! None.
#![forbid(unsafe_code)]

pub mod deliver;
pub mod error;
pub mod flags;
pub mod folder;
mod fsutil;
mod index;
pub mod keywords;
pub mod lock;
pub mod modseq;
pub mod mutf7;
pub mod name;
pub mod options;
pub mod quota;
pub mod store;
pub mod uidlist;
pub mod view;

pub use deliver::Delivered;
pub use error::{Error, QuotaResource, Result};
pub use flags::{FlagSet, StoreOp};
pub use folder::{Folder, MessageInfo, StoreReport, SyncReport};
pub use name::Flag;
pub use options::Options;
pub use store::{FolderEntry, Maildir, SpecialUse};
pub use view::{Access, Changes, Expunges, FlagUpdate, View};
