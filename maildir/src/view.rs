//! A session's view of a folder: the sequence-number ↔ UID map an IMAP session works with,
//! which moves only when the session syncs (so sequence numbers stay stable between the
//! points where IMAP allows them to change).
//!
//! ```text
//!  Folder (shared, current) ──sync()──► View (per session)
//!                                        │  Changes { expunged seqs, EXISTS, RECENT,
//!                                        │            flag updates with modseq }
//!                                        ▼
//!                            the IMAP session turns them into untagged responses
//! ```
//!
//! Between syncs the view keeps its numbering even if other sessions expunge messages:
//! [`View::message`] then returns `None` for a message that is gone. A sync with
//! [`Expunges::Defer`] (during FETCH, STORE, SEARCH, where RFC 9051 §7.5.1 forbids
//! EXPUNGE responses) reports new messages and flag changes but keeps expunged ones in the
//! numbering until a sync with [`Expunges::Report`].

use std::collections::BTreeSet;

use crate::error::Result;
use crate::flags::{FlagSet, StoreOp};
use crate::folder::{Folder, MessageInfo, StoreReport, find};

/// Whether a view may move messages from `new/` to `cur/` and change flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// SELECT: claims `\Recent`, may store flags and expunge.
    ReadWrite,
    /// EXAMINE: changes nothing on disk.
    ReadOnly,
}

/// Whether a sync may renumber (report expunges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expunges {
    /// Report them (NOOP, IDLE, CHECK, after a command that allows EXPUNGE responses).
    Report,
    /// Keep expunged messages in the numbering for now.
    Defer,
}

/// A flag change to report (an unsolicited `FETCH (FLAGS ... MODSEQ ...)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagUpdate {
    /// The message's sequence number.
    pub seq: u32,
    /// Its UID.
    pub uid: u32,
    /// Its flags now.
    pub flags: FlagSet,
    /// Its modseq now.
    pub modseq: u64,
}

/// What changed since the last sync of this view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// Sequence numbers to report as `EXPUNGE`, in the order to send them (descending, so
    /// each is valid when sent).
    pub expunged: Vec<u32>,
    /// The UIDs of those messages (for QRESYNC `VANISHED`).
    pub vanished: Vec<u32>,
    /// The new message count, when it changed (`EXISTS`).
    pub exists: Option<u32>,
    /// The new `\Recent` count, when it changed (`RECENT`, IMAP4rev1 only).
    pub recent: Option<u32>,
    /// Flag changes of messages the view already had.
    pub flags: Vec<FlagUpdate>,
    /// The folder got a new UIDVALIDITY: the session must drop its state (IMAP servers
    /// typically close the mailbox).
    pub uid_validity_changed: bool,
}

/// A session's view. Not shared between sessions; each session makes its own from the
/// shared [`Folder`].
#[derive(Debug)]
pub struct View {
    folder: Folder,
    access: Access,
    uid_validity: u32,
    uids: Vec<u32>,
    known_modseq: u64,
    expunge_gen: u64,
    recent: BTreeSet<u32>,
}

impl View {
    /// Opens a view (IMAP SELECT or EXAMINE). A read-write view claims `\Recent` for
    /// messages it is the first to see.
    pub fn open(folder: &Folder, access: Access) -> Result<Self> {
        let report = folder.sync(access == Access::ReadWrite)?;
        let recent: BTreeSet<u32> = report.recent.into_iter().collect();
        Ok(folder.with_state(|st| Self {
            folder: folder.clone(),
            access,
            uid_validity: st.uid_validity,
            uids: st.msgs.iter().map(|m| m.uid).collect(),
            known_modseq: st.modseq.highest,
            expunge_gen: st.expunge_gen,
            recent,
        }))
    }

    /// The folder.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }

    /// Read-write or read-only.
    pub fn access(&self) -> Access {
        self.access
    }

    /// UIDVALIDITY as of the last sync.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// Number of messages (`EXISTS`).
    pub fn len(&self) -> u32 {
        u32::try_from(self.uids.len()).unwrap_or(u32::MAX)
    }

    /// True when the view has no message.
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// Number of `\Recent` messages of this session.
    pub fn recent_count(&self) -> u32 {
        u32::try_from(self.recent.len()).unwrap_or(u32::MAX)
    }

    /// True when the message is `\Recent` for this session.
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.contains(&uid)
    }

    /// The UIDs in sequence order (index 0 is sequence number 1).
    pub fn uids(&self) -> &[u32] {
        &self.uids
    }

    /// The UID of sequence number `seq` (1-based).
    pub fn uid(&self, seq: u32) -> Option<u32> {
        self.uids.get((seq as usize).checked_sub(1)?).copied()
    }

    /// The sequence number of `uid`.
    pub fn seq(&self, uid: u32) -> Option<u32> {
        self.uids
            .binary_search(&uid)
            .ok()
            .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
    }

    /// The sequence numbers of the UIDs in `lo..=hi` (for `UID FETCH lo:hi`): a range of
    /// sequence numbers, empty when none.
    pub fn seq_range(&self, lo: u32, hi: u32) -> std::ops::Range<u32> {
        let a = self.uids.partition_point(|&u| u < lo);
        let b = self.uids.partition_point(|&u| u <= hi);
        let c = |x: usize| u32::try_from(x + 1).unwrap_or(u32::MAX);
        if a >= b { c(a)..c(a) } else { c(a)..c(b) }
    }

    /// The message at sequence number `seq`; `None` when out of range or expunged since the
    /// last sync.
    pub fn message(&self, seq: u32) -> Option<MessageInfo> {
        let uid = self.uid(seq)?;
        self.folder
            .with_state(|st| find(&st.msgs, uid).map(|i| self.folder.info(st, &st.msgs[i])))
    }

    /// The highest modseq this view has reported.
    pub fn known_modseq(&self) -> u64 {
        self.known_modseq
    }

    /// Syncs with the folder (and the disk) and returns what to tell the client.
    pub fn sync(&mut self, expunges: Expunges) -> Result<Changes> {
        let old_recent = self.recent.len();
        let report = self.folder.sync(self.access == Access::ReadWrite)?;
        self.recent.extend(report.recent);
        let mut ch = Changes::default();
        let old_len = self.uids.len();
        self.folder.with_state(|st| {
            if st.uid_validity != self.uid_validity {
                ch.uid_validity_changed = true;
                self.uid_validity = st.uid_validity;
                self.uids = st.msgs.iter().map(|m| m.uid).collect();
                self.recent.clear();
                self.known_modseq = st.modseq.highest;
                self.expunge_gen = st.expunge_gen;
                ch.exists = Some(u32::try_from(self.uids.len()).unwrap_or(u32::MAX));
                return;
            }
            // Expunges: walk both UID-sorted lists.
            if expunges == Expunges::Report && st.expunge_gen != self.expunge_gen {
                let mut kept = Vec::with_capacity(self.uids.len());
                let mut j = 0;
                for (i, &uid) in self.uids.iter().enumerate() {
                    while j < st.msgs.len() && st.msgs[j].uid < uid {
                        j += 1;
                    }
                    if j < st.msgs.len() && st.msgs[j].uid == uid {
                        kept.push(uid);
                    } else {
                        ch.expunged.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
                        ch.vanished.push(uid);
                        self.recent.remove(&uid);
                    }
                }
                ch.expunged.reverse();
                self.uids = kept;
                self.expunge_gen = st.expunge_gen;
            }
            // Flag changes of messages we have, then new messages.
            let max_uid = self.uids.last().copied().unwrap_or(0);
            for m in &st.msgs {
                if m.modseq > self.known_modseq
                    && m.uid <= max_uid
                    && let Ok(i) = self.uids.binary_search(&m.uid)
                {
                    ch.flags.push(FlagUpdate {
                        seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                        uid: m.uid,
                        flags: FlagSet::from_disk(&m.flags, &st.keywords),
                        modseq: m.modseq,
                    });
                }
            }
            let mut added = false;
            for m in &st.msgs {
                if m.uid > max_uid {
                    self.uids.push(m.uid);
                    added = true;
                } else if self.uids.binary_search(&m.uid).is_err() {
                    // A message registered by another process below our highest UID (rare:
                    // it was invisible to an earlier listing). Keep the numbering sorted.
                    let pos = self.uids.partition_point(|&u| u < m.uid);
                    self.uids.insert(pos, m.uid);
                    added = true;
                }
            }
            if added || self.uids.len() != old_len {
                ch.exists = Some(u32::try_from(self.uids.len()).unwrap_or(u32::MAX));
            }
            self.known_modseq = st.modseq.highest;
        });
        if self.recent.len() != old_recent {
            ch.recent = Some(self.recent_count());
        }
        Ok(ch)
    }

    /// STORE through this view (read-only views refuse). The changed messages are also
    /// reported to other views at their next sync; this view's own report is the result.
    pub fn store(
        &mut self,
        uids: &[u32],
        op: StoreOp,
        change: &FlagSet,
        unchanged_since: Option<u64>,
    ) -> Result<StoreReport> {
        if self.access == Access::ReadOnly {
            return Err(crate::Error::Unsupported("STORE in a read-only view"));
        }
        self.folder.store(uids, op, change, unchanged_since)
    }

    /// Expunges the messages flagged `\Deleted` (IMAP EXPUNGE; `only` restricts to some
    /// UIDs, for UID EXPUNGE), then syncs. Returns the changes to report.
    pub fn expunge_deleted(&mut self, only: Option<&[u32]>) -> Result<Changes> {
        if self.access == Access::ReadOnly {
            return Err(crate::Error::Unsupported("EXPUNGE in a read-only view"));
        }
        let doomed: Vec<u32> = self.folder.with_state(|st| {
            st.msgs
                .iter()
                .filter(|m| m.flags.contains(crate::name::Flag::Trashed))
                .map(|m| m.uid)
                .filter(|u| only.is_none_or(|o| o.contains(u)))
                .collect()
        });
        self.folder.expunge(&doomed)?;
        self.sync(Expunges::Report)
    }
}
