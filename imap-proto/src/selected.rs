//! The selected-mailbox state tracker: message sequence numbers ↔ UIDs, EXISTS, EXPUNGE,
//! VANISHED, MODSEQ — one model that servers and clients both keep.
//!
//! A **server** tells it what changed in the store ([`SelectedMailbox::append`],
//! [`SelectedMailbox::expunge_uids`]) and gets back the exact untagged responses to send, with
//! sequence numbers that stay correct while they are being renumbered. A **client** feeds it
//! the untagged responses it receives ([`SelectedMailbox::apply`]) and asks it to translate
//! between sequence numbers and UIDs.
//!
//! ```text
//!   seq:   1    2    3    4          EXPUNGE 2       seq:  1    2    3
//!   uid:  10   11   15   16    ───────────────▶      uid: 10   15   16
//! ```
//!
//! UIDs are strictly ascending with the sequence number (RFC 9051 §2.3.1.1), so lookups by UID
//! are binary searches. A client that has not yet learned a message's UID holds 0 for it.

use std::num::NonZeroU32;

use crate::types::fetch::{FetchData, MessageDataItem};
use crate::types::response::{Code, Data, StatusKind, StatusResponse};
use crate::types::sequence::SequenceSet;

/// Why a change could not be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailboxError {
    /// A UID not greater than the last one (UIDs only grow).
    UidNotAscending {
        /// The rejected UID.
        uid: u32,
    },
    /// A sequence number beyond the messages that exist.
    NoSuchMessage {
        /// The rejected number.
        seq: u32,
    },
    /// EXISTS shrank without EXPUNGE (a protocol violation by the server).
    ExistsShrank {
        /// Messages known.
        known: u32,
        /// The EXISTS value received.
        exists: u32,
    },
    /// A FETCH gave a message a different UID than it had.
    UidChanged {
        /// The message.
        seq: u32,
    },
}

impl std::fmt::Display for MailboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UidNotAscending { uid } => write!(f, "UID {uid} is not above the last UID"),
            Self::NoSuchMessage { seq } => write!(f, "no message {seq}"),
            Self::ExistsShrank { known, exists } => {
                write!(f, "EXISTS {exists} below the {known} known messages")
            }
            Self::UidChanged { seq } => write!(f, "message {seq} changed its UID"),
        }
    }
}

impl std::error::Error for MailboxError {}

/// What a selected mailbox looks like to one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectedMailbox {
    /// UID of each message, by sequence number − 1 (0 = not yet known, client side).
    uids: Vec<u32>,
    /// MODSEQ of each message (CONDSTORE), 0 = unknown.
    modseqs: Vec<u64>,
    uid_validity: Option<NonZeroU32>,
    uid_next: Option<NonZeroU32>,
    highest_modseq: Option<u64>,
    read_only: bool,
    /// QRESYNC enabled: expunges are reported as VANISHED (RFC 7162 §3.2.10).
    qresync: bool,
}

impl SelectedMailbox {
    /// A mailbox with these messages (UIDs ascending), as a server opens it.
    pub fn with_uids(
        uid_validity: NonZeroU32,
        uids: Vec<u32>,
        uid_next: NonZeroU32,
    ) -> Result<Self, MailboxError> {
        let mut last = 0;
        for &u in &uids {
            if u <= last {
                return Err(MailboxError::UidNotAscending { uid: u });
            }
            last = u;
        }
        if uid_next.get() <= last {
            return Err(MailboxError::UidNotAscending {
                uid: uid_next.get(),
            });
        }
        let n = uids.len();
        Ok(Self {
            uids,
            modseqs: vec![0; n],
            uid_validity: Some(uid_validity),
            uid_next: Some(uid_next),
            ..Self::default()
        })
    }

    /// An empty tracker, as a client starts it before the SELECT responses arrive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports expunges as VANISHED from now on (QRESYNC enabled).
    pub fn set_qresync(&mut self, on: bool) {
        self.qresync = on;
    }

    /// Whether the mailbox was opened read-only (EXAMINE, or `[READ-ONLY]`).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Marks the mailbox read-only or read-write.
    pub fn set_read_only(&mut self, ro: bool) {
        self.read_only = ro;
    }

    /// Number of messages (EXISTS).
    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    /// UIDVALIDITY, once known.
    pub fn uid_validity(&self) -> Option<NonZeroU32> {
        self.uid_validity
    }

    /// UIDNEXT, once known.
    pub fn uid_next(&self) -> Option<NonZeroU32> {
        self.uid_next
    }

    /// HIGHESTMODSEQ, once known.
    pub fn highest_modseq(&self) -> Option<u64> {
        self.highest_modseq
    }

    /// Sets HIGHESTMODSEQ (a server after a change; a client from the response code).
    pub fn set_highest_modseq(&mut self, m: u64) {
        self.highest_modseq = Some(m);
    }

    /// The UID of message `seq` (1-based); `None` if there is no such message or (client) it
    /// is not known yet.
    pub fn uid(&self, seq: u32) -> Option<NonZeroU32> {
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        NonZeroU32::new(*self.uids.get(i)?)
    }

    /// The sequence number of `uid`, if the message is here (and its UID known).
    pub fn seq(&self, uid: u32) -> Option<NonZeroU32> {
        // Unknown UIDs (0) break the ordering on the client side; fall back to a scan then.
        if self.uids.iter().all(|&u| u != 0) {
            self.uids
                .binary_search(&uid)
                .ok()
                .and_then(|i| NonZeroU32::new(i as u32 + 1))
        } else {
            self.uids
                .iter()
                .position(|&u| u == uid && u != 0)
                .and_then(|i| NonZeroU32::new(i as u32 + 1))
        }
    }

    /// MODSEQ of message `seq`, if known.
    pub fn modseq(&self, seq: u32) -> Option<u64> {
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        self.modseqs.get(i).copied().filter(|&m| m != 0)
    }

    /// All UIDs in sequence order (0 = unknown, client side).
    pub fn uids(&self) -> &[u32] {
        &self.uids
    }

    /// Resolves a sequence set to `(seq, uid)` pairs in ascending order: as message sequence
    /// numbers, or as UIDs when `uid` (UID FETCH, UID STORE, ...). `*` is the last message
    /// (RFC 9051 §6.4.8: with UIDs, `*` is the highest UID in the mailbox, so `n:*` always
    /// includes the last message). `$` resolves to nothing: use the saved result.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<(NonZeroU32, u32)> {
        let n = self.uids.len() as u32;
        let mut out = Vec::new();
        if n == 0 {
            return out;
        }
        if uid {
            let largest = self.uids[n as usize - 1];
            for (a, b) in set.ranges(largest, false) {
                let lo = self.uids.partition_point(|&u| u < a);
                let hi = self.uids.partition_point(|&u| u <= b);
                for i in lo..hi {
                    out.push((
                        NonZeroU32::new(i as u32 + 1).unwrap_or(NonZeroU32::MIN),
                        self.uids[i],
                    ));
                }
            }
            out.dedup();
        } else {
            for (a, b) in set.ranges(n, true) {
                for s in a..=b {
                    out.push((
                        NonZeroU32::new(s).unwrap_or(NonZeroU32::MIN),
                        self.uids[s as usize - 1],
                    ));
                }
            }
        }
        out
    }

    /// Whether every number of a message sequence set names an existing message (a server
    /// answers `BAD` otherwise, RFC 9051 §6.4.5 "invalid sequence number").
    pub fn valid_seq_set(&self, set: &SequenceSet) -> bool {
        let n = self.uids.len() as u32;
        set.items().is_none_or(|items| {
            items.iter().all(|s| {
                let (a, b) = s.bounds(n);
                a >= 1 && b <= n
            })
        })
    }

    // --- server side -------------------------------------------------------------------------

    /// A new message with `uid` was added (APPEND, COPY into this mailbox, delivery). Returns
    /// the `EXISTS` response to send.
    pub fn append(&mut self, uid: u32, modseq: u64) -> Result<Data<'static>, MailboxError> {
        if self.uids.last().is_some_and(|&l| uid <= l) || uid == 0 {
            return Err(MailboxError::UidNotAscending { uid });
        }
        self.uids.push(uid);
        self.modseqs.push(modseq);
        self.uid_next = NonZeroU32::new(uid.saturating_add(1));
        if modseq > self.highest_modseq.unwrap_or(0) {
            self.highest_modseq = Some(modseq);
        }
        Ok(Data::Exists(self.exists()))
    }

    /// Messages with these UIDs were expunged. Returns the responses that tell the client:
    /// `EXPUNGE` for each, with numbers valid at the moment each is read (highest first would
    /// also be valid; we send them ascending like RFC 3501 §6.4.3's example, adjusting each
    /// for the ones before it), or one `VANISHED` under QRESYNC. UIDs not present are ignored.
    pub fn expunge_uids(&mut self, uids: &[u32]) -> Vec<Data<'static>> {
        let mut seqs: Vec<usize> = uids
            .iter()
            .filter_map(|&u| self.uids.binary_search(&u).ok())
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        if seqs.is_empty() {
            return Vec::new();
        }
        let gone: Vec<u32> = seqs.iter().map(|&i| self.uids[i]).collect();
        // Remove in one pass.
        let mut k = 0;
        let mut keep_uids = Vec::with_capacity(self.uids.len() - seqs.len());
        let mut keep_mod = Vec::with_capacity(self.uids.len() - seqs.len());
        for (i, (&u, &m)) in self.uids.iter().zip(&self.modseqs).enumerate() {
            if k < seqs.len() && seqs[k] == i {
                k += 1;
            } else {
                keep_uids.push(u);
                keep_mod.push(m);
            }
        }
        self.uids = keep_uids;
        self.modseqs = keep_mod;
        if self.qresync {
            return match SequenceSet::from_numbers(&gone) {
                Ok(uids) => vec![Data::Vanished {
                    earlier: false,
                    uids,
                }],
                Err(_) => Vec::new(),
            };
        }
        seqs.iter()
            .enumerate()
            .filter_map(|(shift, &i)| NonZeroU32::new((i - shift) as u32 + 1).map(Data::Expunge))
            .collect()
    }

    /// Records a new MODSEQ for message `seq` (after a STORE).
    pub fn set_modseq(&mut self, seq: u32, modseq: u64) -> Result<(), MailboxError> {
        let i = (seq as usize)
            .checked_sub(1)
            .filter(|&i| i < self.uids.len())
            .ok_or(MailboxError::NoSuchMessage { seq })?;
        self.modseqs[i] = modseq;
        if modseq > self.highest_modseq.unwrap_or(0) {
            self.highest_modseq = Some(modseq);
        }
        Ok(())
    }

    /// The untagged responses a server sends on SELECT/EXAMINE for this mailbox's state
    /// (IMAP-010): `EXISTS`, `UIDVALIDITY`, `UIDNEXT`, and `HIGHESTMODSEQ` when `condstore`.
    /// FLAGS, PERMANENTFLAGS, LIST (rev2) and RECENT/UNSEEN (rev1) depend on the store and are
    /// the host's to add.
    pub fn select_responses(
        &self,
        condstore: bool,
    ) -> Vec<crate::types::response::Response<'static>> {
        use crate::types::core::Text;
        use crate::types::response::Response;
        let mut v = vec![Response::Data(Data::Exists(self.exists()))];
        if let Some(uv) = self.uid_validity {
            v.push(Response::Status(StatusResponse::untagged(
                StatusKind::Ok,
                Some(Code::UidValidity(uv)),
                Text::unvalidated("UIDs valid"),
            )));
        }
        if let Some(un) = self.uid_next {
            v.push(Response::Status(StatusResponse::untagged(
                StatusKind::Ok,
                Some(Code::UidNext(un)),
                Text::unvalidated("Predicted next UID"),
            )));
        }
        if condstore {
            let code = match self.highest_modseq {
                Some(m) if m > 0 => Code::HighestModSeq(m),
                _ => Code::NoModSeq,
            };
            v.push(Response::Status(StatusResponse::untagged(
                StatusKind::Ok,
                Some(code),
                Text::unvalidated("Highest"),
            )));
        }
        v
    }

    // --- client side -------------------------------------------------------------------------

    /// Applies an untagged response received while this mailbox is selected. Responses that do
    /// not concern the mailbox state are ignored.
    pub fn apply(&mut self, data: &Data<'_>) -> Result<(), MailboxError> {
        match data {
            Data::Exists(n) => {
                let known = self.exists();
                if *n < known {
                    return Err(MailboxError::ExistsShrank { known, exists: *n });
                }
                self.uids.resize(*n as usize, 0);
                self.modseqs.resize(*n as usize, 0);
            }
            Data::Expunge(seq) => {
                let i = seq.get() as usize - 1;
                if i >= self.uids.len() {
                    return Err(MailboxError::NoSuchMessage { seq: seq.get() });
                }
                self.uids.remove(i);
                self.modseqs.remove(i);
            }
            Data::Vanished {
                earlier: false,
                uids,
            } => {
                let mut keep_u = Vec::with_capacity(self.uids.len());
                let mut keep_m = Vec::with_capacity(self.uids.len());
                for (&u, &m) in self.uids.iter().zip(&self.modseqs) {
                    if u == 0 || !uids.contains(u, u32::MAX) {
                        keep_u.push(u);
                        keep_m.push(m);
                    }
                }
                self.uids = keep_u;
                self.modseqs = keep_m;
            }
            Data::Fetch(f) => self.apply_fetch(f)?,
            _ => {}
        }
        Ok(())
    }

    fn apply_fetch(&mut self, f: &FetchData<'_>) -> Result<(), MailboxError> {
        let seq = f.seq.get();
        let i = seq as usize - 1;
        if i >= self.uids.len() {
            return Err(MailboxError::NoSuchMessage { seq });
        }
        for item in &f.items {
            match item {
                MessageDataItem::Uid(u) => {
                    let old = self.uids[i];
                    if old != 0 && old != u.get() {
                        return Err(MailboxError::UidChanged { seq });
                    }
                    self.uids[i] = u.get();
                    if self.uid_next.is_none_or(|n| n.get() <= u.get()) {
                        self.uid_next = NonZeroU32::new(u.get().saturating_add(1));
                    }
                }
                MessageDataItem::ModSeq(m) => {
                    self.modseqs[i] = *m;
                    if *m > self.highest_modseq.unwrap_or(0) {
                        self.highest_modseq = Some(*m);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies a status response's code (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, READ-ONLY,
    /// READ-WRITE).
    pub fn apply_code(&mut self, code: &Code<'_>) {
        match code {
            Code::UidValidity(v) => {
                if self.uid_validity.is_some_and(|old| old != *v) {
                    // A new UIDVALIDITY invalidates every UID we knew.
                    self.uids.iter_mut().for_each(|u| *u = 0);
                }
                self.uid_validity = Some(*v);
            }
            Code::UidNext(n) => self.uid_next = Some(*n),
            Code::HighestModSeq(m) => self.highest_modseq = Some(*m),
            Code::NoModSeq => self.highest_modseq = None,
            Code::ReadOnly => self.read_only = true,
            Code::ReadWrite => self.read_only = false,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn server_expunge_numbers_are_adjusted() {
        // RFC 3501 §6.4.3: messages 3, 4, 7 and 11 are deleted: "* 3 EXPUNGE * 3 EXPUNGE
        // * 5 EXPUNGE * 8 EXPUNGE".
        let uids: Vec<u32> = (1..=11).map(|i| i * 10).collect();
        let mut m = SelectedMailbox::with_uids(nz(1), uids, nz(200)).unwrap();
        let out = m.expunge_uids(&[30, 40, 70, 110]);
        let seqs: Vec<u32> = out
            .iter()
            .map(|d| match d {
                Data::Expunge(n) => n.get(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seqs, vec![3, 3, 5, 8]);
        assert_eq!(m.exists(), 7);
        assert_eq!(m.uids(), &[10, 20, 50, 60, 80, 90, 100]);
        // A client applying them in order reaches the same state.
        let mut c = SelectedMailbox::new();
        c.apply(&Data::Exists(11)).unwrap();
        for i in 1..=11 {
            c.apply_fetch(&FetchData {
                seq: nz(i),
                items: crate::types::core::Vec1::new(MessageDataItem::Uid(nz(i * 10))),
            })
            .unwrap();
        }
        for d in &out {
            c.apply(d).unwrap();
        }
        assert_eq!(c.uids(), m.uids());
    }

    #[test]
    fn qresync_vanished() {
        let mut m = SelectedMailbox::with_uids(nz(1), vec![1, 2, 3, 5, 8], nz(9)).unwrap();
        m.set_qresync(true);
        let out = m.expunge_uids(&[2, 3, 8, 99]);
        assert_eq!(
            out,
            vec![Data::Vanished {
                earlier: false,
                uids: SequenceSet::from_numbers(&[2, 3, 8]).unwrap()
            }]
        );
        let mut c = SelectedMailbox::with_uids(nz(1), vec![1, 2, 3, 5, 8], nz(9)).unwrap();
        c.apply(&out[0]).unwrap();
        assert_eq!(c.uids(), &[1, 5]);
    }

    #[test]
    fn resolve_and_lookup() {
        let m = SelectedMailbox::with_uids(nz(7), vec![4, 9, 15, 16], nz(20)).unwrap();
        assert_eq!(m.seq(15), Some(nz(3)));
        assert_eq!(m.uid(2), Some(nz(9)));
        assert_eq!(m.uid(5), None);
        assert_eq!(m.uid(0), None);
        let pairs = |set: &str, uid: bool| -> Vec<(u32, u32)> {
            let wire = format!("a FETCH {set} UID\r\n");
            let (_, cmd) = crate::codec::CommandCodec::default()
                .decode(wire.as_bytes())
                .unwrap();
            let crate::types::CommandBody::Fetch { set, .. } = cmd.body else {
                panic!()
            };
            m.resolve(&set, uid)
                .into_iter()
                .map(|(s, u)| (s.get(), u))
                .collect()
        };
        assert_eq!(pairs("2:*", false), vec![(2, 9), (3, 15), (4, 16)]);
        assert_eq!(pairs("10:12", true), vec![]);
        assert_eq!(pairs("10:*", true), vec![(3, 15), (4, 16)]);
        // RFC 9051: "UID range of 559:* always includes the UID of the last message".
        assert_eq!(pairs("559:*", true), vec![(4, 16)]);
        assert_eq!(pairs("1,3", false), vec![(1, 4), (3, 15)]);
        assert!(!m.valid_seq_set(&SequenceSet::single(5).unwrap()));
        assert!(m.valid_seq_set(&SequenceSet::all()));
    }

    #[test]
    fn invariants() {
        assert!(SelectedMailbox::with_uids(nz(1), vec![3, 2], nz(9)).is_err());
        assert!(SelectedMailbox::with_uids(nz(1), vec![3], nz(3)).is_err());
        let mut m = SelectedMailbox::with_uids(nz(1), vec![3], nz(4)).unwrap();
        assert!(m.append(3, 0).is_err());
        assert_eq!(m.append(4, 7).unwrap(), Data::Exists(2));
        assert_eq!(m.uid_next(), Some(nz(5)));
        assert_eq!(m.highest_modseq(), Some(7));
        let mut c = SelectedMailbox::new();
        c.apply(&Data::Exists(3)).unwrap();
        assert!(c.apply(&Data::Exists(2)).is_err());
        assert!(c.apply(&Data::Expunge(nz(4))).is_err());
        c.apply_code(&Code::UidValidity(nz(5)));
        assert_eq!(c.uid_validity(), Some(nz(5)));
    }
}
