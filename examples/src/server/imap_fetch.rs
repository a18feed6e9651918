//! IMAP FETCH and SEARCH over the Maildir, for [`super::imap`].
//!
//! FETCH reads each message file only when an item needs its content, parses its structure
//! only for ENVELOPE/BODY/BODYSTRUCTURE (`imap_proto::message`), sets `\Seen` for non-PEEK
//! body fetches in a read-write mailbox, and flushes the connection every MiB so a FETCH of
//! a large mailbox does not queue it all in memory. SEARCH evaluates every key of RFC 9051
//! (and CONDSTORE's MODSEQ, WITHIN's OLDER/YOUNGER) per message, loading the content only
//! for the keys that need it; header keys match the raw and the RFC 2047-decoded values,
//! case-insensitively.

use std::num::NonZeroU32;
use std::time::{SystemTime, UNIX_EPOCH};

use imap_proto::message::{MessageStructure, header_fields, section};
use imap_proto::server::CommandId;
use imap_proto::types::{
    Data, DateTime, FetchAttr, FetchData, FetchItems, FetchModifier, IString, MessageDataItem,
    SearchKey, Section, SequenceSet, StatusKind, Vec1,
};
use maildir::{Flag as MdFlag, FlagSet, MessageInfo, StoreOp};

use super::imap::{blocking, to_fetch_flags};

type Conn = imap_proto::tokio::ServerConnection<tokio::net::TcpStream>;

/// Bytes queued before the connection is flushed during a FETCH.
const FLUSH_EVERY: usize = 1 << 20;

fn istring(data: &[u8]) -> IString<'static> {
    IString::new(data.to_vec()).unwrap_or_else(|_| {
        // IMAP strings cannot hold NUL: drop them rather than fail the FETCH.
        let clean: Vec<u8> = data.iter().copied().filter(|&b| b != 0).collect();
        IString::new(clean).unwrap_or_else(|_| IString::try_from("").expect("empty string"))
    })
}

fn header_end(b: &[u8]) -> usize {
    b.windows(4).position(|w| w == b"\r\n\r\n").map_or_else(
        || {
            b.windows(2)
                .position(|w| w == b"\n\n")
                .map_or(b.len(), |p| p + 2)
        },
        |p| p + 4,
    )
}

fn internal_date(info: &MessageInfo) -> i64 {
    std::fs::metadata(&info.path)
        .and_then(|m| m.modified())
        .ok()
        .or_else(|| {
            // The Maildir name starts with the delivery time.
            let secs: u64 = info.file_name.split('.').next()?.parse().ok()?;
            Some(UNIX_EPOCH + std::time::Duration::from_secs(secs))
        })
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn read_content(folder: &maildir::Folder, uid: u32) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut f = folder.open_message(uid).ok()?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).ok()?;
    Some(v)
}

fn needs_content(a: &FetchAttr<'_>) -> bool {
    matches!(
        a,
        FetchAttr::Envelope
            | FetchAttr::Body
            | FetchAttr::BodyStructure
            | FetchAttr::Rfc822
            | FetchAttr::Rfc822Header
            | FetchAttr::Rfc822Text
            | FetchAttr::BodySection { .. }
    )
}

fn section_data(raw: &[u8], sec: Option<&Section<'_>>) -> Vec<u8> {
    match sec {
        Some(Section::HeaderFields(part, names) | Section::HeaderFieldsNot(part, names)) => {
            let not = matches!(sec, Some(Section::HeaderFieldsNot(..)));
            let header = match part {
                Some(p) => {
                    section(raw, Some(&Section::Header(Some(p.clone())))).unwrap_or_default()
                }
                None => raw,
            };
            header_fields(header, names.as_slice(), not)
        }
        other => section(raw, other).map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

/// Runs a FETCH.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn fetch(
    host: &mut super::imap::Host,
    conn: &mut Conn,
    id: CommandId,
    uid: bool,
    set: &SequenceSet,
    items: &FetchItems<'_>,
    modifiers: &[FetchModifier],
) {
    let attrs = items.expand();
    let changed_since = modifiers.iter().find_map(|m| match m {
        FetchModifier::ChangedSince(n) => Some(*n),
        _ => None,
    });
    let condstore = host.condstore || changed_since.is_some() || attrs.contains(&FetchAttr::ModSeq);
    let Some(sel) = host.selected.as_mut() else {
        conn.session()
            .complete(id, StatusKind::Bad, None, "No mailbox selected");
        return;
    };
    let pairs = conn
        .session()
        .selected()
        .map(|m| m.resolve(set, uid))
        .unwrap_or_default();
    let content_needed = attrs.iter().any(needs_content);
    let sets_seen = !sel.read_only && attrs.iter().any(FetchAttr::sets_seen);
    let folder = sel.view.folder().clone();
    let mut queued = 0usize;
    let mut changed_any = false;
    for (seq, u) in pairs {
        let Some(mut info) = blocking(|| folder.message(u)).ok().flatten() else {
            // Expunged by another session since this one last synced: nothing to send.
            continue;
        };
        if let Some(n) = changed_since
            && info.modseq <= n
        {
            continue;
        }
        let content = if content_needed {
            match blocking(|| read_content(&folder, u)) {
                Some(c) => Some(c),
                None => continue,
            }
        } else {
            None
        };
        let mut add_flags = false;
        if sets_seen && !info.flags.contains(MdFlag::Seen) {
            let seen = FlagSet::new().with(MdFlag::Seen);
            if let Ok(r) = blocking(|| sel.view.store(&[u], StoreOp::Add, &seen, None))
                && let Some((_, fs, modseq)) = r.changed.into_iter().next()
            {
                info.flags = fs;
                info.modseq = modseq;
                add_flags = !attrs.contains(&FetchAttr::Flags);
                changed_any = true;
            }
        }
        let structure = if attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttr::Envelope | FetchAttr::Body | FetchAttr::BodyStructure
            )
        }) {
            content.as_deref().map(MessageStructure::parse)
        } else {
            None
        };
        let raw = content.as_deref().unwrap_or_default();
        let mut out: Vec<MessageDataItem<'static>> = Vec::with_capacity(attrs.len() + 2);
        if uid && !attrs.contains(&FetchAttr::Uid) {
            out.push(MessageDataItem::Uid(
                NonZeroU32::new(u).unwrap_or(NonZeroU32::MIN),
            ));
        }
        for a in &attrs {
            let item = match a {
                FetchAttr::Uid => {
                    MessageDataItem::Uid(NonZeroU32::new(u).unwrap_or(NonZeroU32::MIN))
                }
                FetchAttr::Flags => {
                    MessageDataItem::Flags(to_fetch_flags(&info.flags, sel.view.is_recent(u)))
                }
                FetchAttr::InternalDate => match DateTime::from_unix(internal_date(&info), 0) {
                    Ok(d) => MessageDataItem::InternalDate(d),
                    Err(_) => continue,
                },
                FetchAttr::Rfc822Size => MessageDataItem::Rfc822Size(
                    info.vsize
                        .or(info.size)
                        .or_else(|| content.as_ref().map(|c| c.len() as u64))
                        .unwrap_or(0),
                ),
                FetchAttr::Envelope => match &structure {
                    Some(s) => MessageDataItem::Envelope(Box::new(s.envelope.clone())),
                    None => continue,
                },
                FetchAttr::Body => match &structure {
                    Some(s) => {
                        MessageDataItem::Body(Box::new(s.body_structure.without_extensions()))
                    }
                    None => continue,
                },
                FetchAttr::BodyStructure => match &structure {
                    Some(s) => MessageDataItem::BodyStructure(Box::new(s.body_structure.clone())),
                    None => continue,
                },
                FetchAttr::Rfc822 => MessageDataItem::Rfc822(Some(istring(raw))),
                FetchAttr::Rfc822Header => {
                    MessageDataItem::Rfc822Header(Some(istring(&raw[..header_end(raw)])))
                }
                FetchAttr::Rfc822Text => {
                    MessageDataItem::Rfc822Text(Some(istring(&raw[header_end(raw)..])))
                }
                FetchAttr::BodySection {
                    section: sec,
                    partial,
                    ..
                } => {
                    let data = section_data(raw, sec.as_ref());
                    let (origin, data) = match partial {
                        Some(p) => {
                            let start = (p.origin as usize).min(data.len());
                            let end = start.saturating_add(p.count.get() as usize).min(data.len());
                            (Some(p.origin), data[start..end].to_vec())
                        }
                        None => (None, data),
                    };
                    MessageDataItem::BodySection {
                        section: sec.clone().map(imap_proto::types::IntoStatic::into_static),
                        origin,
                        data: Some(istring(&data)),
                    }
                }
                FetchAttr::ModSeq => MessageDataItem::ModSeq(info.modseq),
                _ => continue,
            };
            queued += match &item {
                MessageDataItem::BodySection { data: Some(d), .. }
                | MessageDataItem::Rfc822(Some(d)) => d.as_bytes().len(),
                _ => 64,
            };
            out.push(item);
        }
        if add_flags {
            out.push(MessageDataItem::Flags(to_fetch_flags(
                &info.flags,
                sel.view.is_recent(u),
            )));
        }
        if condstore && !attrs.contains(&FetchAttr::ModSeq) {
            out.push(MessageDataItem::ModSeq(info.modseq));
        }
        if let Ok(items) = Vec1::try_from(out) {
            conn.session()
                .untagged(&Data::Fetch(FetchData { seq, items }));
        }
        if queued >= FLUSH_EVERY {
            queued = 0;
            if conn.flush().await.is_err() {
                return;
            }
        }
    }
    if changed_any {
        host.bump();
    }
    conn.session()
        .complete(id, StatusKind::Ok, None, "FETCH completed");
}

/// What SEARCH needs of one message.
struct Msg<'a> {
    seq: u32,
    uid: u32,
    info: &'a MessageInfo,
    recent: bool,
    exists: u32,
    max_uid: u32,
    now: i64,
    content: Option<Vec<u8>>,
    /// The parsed message, once asked for (`Parsed::Failed` when mail-parser gave up).
    parsed: Parsed,
}

enum Parsed {
    NotYet,
    Failed,
    Done(Box<mail_parser::Message<'static>>),
}

fn needs_content_key(k: &SearchKey<'_>) -> bool {
    match k {
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_) => true,
        SearchKey::Not(k) => needs_content_key(k),
        SearchKey::Or(a, b) => needs_content_key(a) || needs_content_key(b),
        SearchKey::And(v) => v.as_slice().iter().any(needs_content_key),
        _ => false,
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn contains_str_ci(hay: &str, needle: &str) -> bool {
    needle.is_empty() || hay.to_lowercase().contains(&needle.to_lowercase())
}

impl Msg<'_> {
    fn parsed(&mut self) -> Option<&mail_parser::Message<'static>> {
        if matches!(self.parsed, Parsed::NotYet) {
            self.parsed = self
                .content
                .as_deref()
                .and_then(|c| mail_parser::MessageParser::default().parse(c))
                .map_or(Parsed::Failed, |m| Parsed::Done(Box::new(m.into_owned())));
        }
        match &self.parsed {
            Parsed::Done(m) => Some(m),
            _ => None,
        }
    }

    fn raw(&self) -> &[u8] {
        self.content.as_deref().unwrap_or_default()
    }

    /// Whether a header field `name` (raw value or decoded) contains `needle`.
    fn header_has(&mut self, name: &str, needle: &[u8]) -> bool {
        let raw_hit = {
            let raw = self.raw();
            let (head, _) = crate::split_message(raw);
            crate::header_fields(head)
                .into_iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .any(|(_, v)| {
                    let unfolded: Vec<u8> = v
                        .iter()
                        .copied()
                        .filter(|&b| b != b'\r' && b != b'\n')
                        .collect();
                    contains_ci(&unfolded, needle)
                })
        };
        if raw_hit {
            return true;
        }
        let needle = String::from_utf8_lossy(needle).into_owned();
        let Some(msg) = self.parsed() else {
            return false;
        };
        msg.headers()
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .any(|h| match &h.value {
                mail_parser::HeaderValue::Text(t) => contains_str_ci(t, &needle),
                mail_parser::HeaderValue::TextList(l) => {
                    l.iter().any(|t| contains_str_ci(t, &needle))
                }
                mail_parser::HeaderValue::Address(a) => a.iter().any(|x| {
                    x.name().is_some_and(|n| contains_str_ci(n, &needle))
                        || x.address().is_some_and(|n| contains_str_ci(n, &needle))
                }),
                _ => false,
            })
    }

    fn body_has(&mut self, needle: &[u8]) -> bool {
        let raw = self.raw();
        if contains_ci(&raw[header_end(raw)..], needle) {
            return true;
        }
        let needle = String::from_utf8_lossy(needle).into_owned();
        let Some(msg) = self.parsed() else {
            return false;
        };
        (0..msg.text_body.len() + msg.html_body.len()).any(|i| {
            msg.body_text(i)
                .is_some_and(|t| contains_str_ci(&t, &needle))
        })
    }

    fn sent_days(&mut self) -> Option<i64> {
        let d = *self.parsed()?.date()?;
        let date = imap_proto::types::Date::new(d.year, d.month, d.day).ok()?;
        Some(date.days_since_epoch())
    }

    fn matches(&mut self, k: &SearchKey<'_>) -> bool {
        let f = &self.info.flags;
        let internal = internal_date(self.info);
        let internal_days = internal.div_euclid(86_400);
        match k {
            SearchKey::All => true,
            SearchKey::Answered => f.contains(MdFlag::Replied),
            SearchKey::Unanswered => !f.contains(MdFlag::Replied),
            SearchKey::Deleted => f.contains(MdFlag::Trashed),
            SearchKey::Undeleted => !f.contains(MdFlag::Trashed),
            SearchKey::Draft => f.contains(MdFlag::Draft),
            SearchKey::Undraft => !f.contains(MdFlag::Draft),
            SearchKey::Flagged => f.contains(MdFlag::Flagged),
            SearchKey::Unflagged => !f.contains(MdFlag::Flagged),
            SearchKey::Seen => f.contains(MdFlag::Seen),
            SearchKey::Unseen => !f.contains(MdFlag::Seen),
            SearchKey::Keyword(a) => f.has_keyword(a.as_str()),
            SearchKey::Unkeyword(a) => !f.has_keyword(a.as_str()),
            SearchKey::Recent => self.recent,
            SearchKey::New => self.recent && !f.contains(MdFlag::Seen),
            SearchKey::Old => !self.recent,
            SearchKey::Larger(n) => self.info.vsize.or(self.info.size).unwrap_or(0) > *n,
            SearchKey::Smaller(n) => self.info.vsize.or(self.info.size).unwrap_or(0) < *n,
            SearchKey::Before(d) => internal_days < d.days_since_epoch(),
            SearchKey::On(d) => internal_days == d.days_since_epoch(),
            SearchKey::Since(d) => internal_days >= d.days_since_epoch(),
            SearchKey::SentBefore(d) => self.sent_days().is_some_and(|s| s < d.days_since_epoch()),
            SearchKey::SentOn(d) => self.sent_days().is_some_and(|s| s == d.days_since_epoch()),
            SearchKey::SentSince(d) => self.sent_days().is_some_and(|s| s >= d.days_since_epoch()),
            SearchKey::Older(n) => self.now - internal >= i64::from(n.get()),
            SearchKey::Younger(n) => self.now - internal <= i64::from(n.get()),
            SearchKey::From(s) => self.header_has("From", s.as_bytes()),
            SearchKey::To(s) => self.header_has("To", s.as_bytes()),
            SearchKey::Cc(s) => self.header_has("Cc", s.as_bytes()),
            SearchKey::Bcc(s) => self.header_has("Bcc", s.as_bytes()),
            SearchKey::Subject(s) => self.header_has("Subject", s.as_bytes()),
            SearchKey::Header(name, value) => {
                let name = String::from_utf8_lossy(name.as_bytes()).into_owned();
                if value.as_bytes().is_empty() {
                    let raw = self.raw();
                    let (head, _) = crate::split_message(raw);
                    crate::header_fields(head)
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                } else {
                    self.header_has(&name, value.as_bytes())
                }
            }
            SearchKey::Body(s) => self.body_has(s.as_bytes()),
            SearchKey::Text(s) => {
                let raw = self.raw();
                contains_ci(&raw[..header_end(raw)], s.as_bytes()) || self.body_has(s.as_bytes())
            }
            SearchKey::Uid(set) => set.contains(self.uid, self.max_uid),
            SearchKey::SequenceSet(set) => set.contains(self.seq, self.exists),
            SearchKey::ModSeq { modseq, .. } => self.info.modseq >= *modseq,
            SearchKey::Not(k) => !self.matches(k),
            SearchKey::Or(a, b) => self.matches(a) || self.matches(b),
            SearchKey::And(v) => v.as_slice().iter().all(|k| self.matches(k)),
            _ => false,
        }
    }
}

fn uses_modseq(k: &SearchKey<'_>) -> bool {
    match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(v) => v.as_slice().iter().any(uses_modseq),
        _ => false,
    }
}

/// Runs a SEARCH.
pub(crate) fn search(
    host: &mut super::imap::Host,
    conn: &mut Conn,
    id: CommandId,
    uid: bool,
    criteria: &[SearchKey<'_>],
) {
    let s = conn.session();
    let Some(sel) = host.selected.as_mut() else {
        s.complete(id, StatusKind::Bad, None, "No mailbox selected");
        return;
    };
    let Some(tracker) = s.selected().cloned() else {
        s.complete(id, StatusKind::Bad, None, "No mailbox selected");
        return;
    };
    let content = criteria.iter().any(needs_content_key);
    let modseq_used = criteria.iter().any(uses_modseq);
    let folder = sel.view.folder().clone();
    let exists = tracker.exists();
    let max_uid = tracker.uids().last().copied().unwrap_or(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let mut hits = Vec::new();
    let mut highest = 0u64;
    blocking(|| {
        for (i, &u) in tracker.uids().iter().enumerate() {
            let Some(info) = folder.message(u).ok().flatten() else {
                continue;
            };
            let mut m = Msg {
                seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                uid: u,
                info: &info,
                recent: sel.view.is_recent(u),
                exists,
                max_uid,
                now,
                content: if content {
                    read_content(&folder, u)
                } else {
                    None
                },
                parsed: Parsed::NotYet,
            };
            if criteria.iter().all(|k| m.matches(k)) {
                hits.push(if uid { u } else { m.seq });
                highest = highest.max(info.modseq);
            }
        }
    });
    s.search_done(id, &hits, modseq_used.then_some(highest));
}
