//! Command grammar (RFC 3501 §9 / RFC 9051 §9 `command`, plus extensions).

use std::borrow::Cow;

use base64::Engine as _;

use super::{P, PErr, R, kw_match, up};
use crate::types::command::{
    AppendMessage, AuthenticateData, Command, CommandBody, ListPatterns, ListReturnOpt,
    ListSelectOpt, LiteralData, MetadataDepth, MetadataOption, Notify, NotifyEvent, NotifyFilter,
    NotifyGroup, QResync, SelectParam, StatusItem, StoreKind,
};
use crate::types::core::{Atom, C_ATOM, Secret, Vec1};
use crate::types::fetch::{FetchAttr, FetchItems, FetchModifier, NString8};
use crate::types::search::{EntryType, SearchKey, SearchReturnOpt, SortCriterion, SortKey};

/// `command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF`
pub(crate) fn command<'a>(p: &mut P<'a>) -> R<Command<'a>> {
    let tag = p.tag()?;
    p.sp()?;
    // Names are matched by their key (one integer comparison each, see `super::key`); no
    // command name is longer than 16 bytes, and a longer word (key 0) is an unknown command.
    let (name, k) = p.run_key(C_ATOM, "a command name")?;
    let body = if k == const { super::key(b"UID") } {
        p.sp()?;
        let (_, sub) = p.run_key(C_ATOM, "a UID command")?;
        kw_match!(sub, {
            b"FETCH" => fetch(p, true)?,
            b"STORE" => store(p, true)?,
            b"COPY" => copy_move(p, true, false)?,
            b"MOVE" => copy_move(p, true, true)?,
            b"SEARCH" => search(p, true)?,
            b"SORT" => sort(p, true)?,
            b"THREAD" => thread(p, true)?,
            b"EXPUNGE" => {
                p.sp()?;
                CommandBody::UidExpunge(p.sequence_set(true, true)?)
            },
            _ => return p.fail("a UID command"),
        })
    } else {
        body(p, k, name)?
    };
    p.crlf()?;
    Ok(Command { tag, body })
}

#[allow(clippy::too_many_lines)]
fn body<'a>(p: &mut P<'a>, k: u128, name: &'a [u8]) -> R<CommandBody<'a>> {
    Ok(kw_match!(k, {
        b"CAPABILITY" => CommandBody::Capability,
        b"NOOP" => CommandBody::Noop,
        b"LOGOUT" => CommandBody::Logout,
        b"STARTTLS" => CommandBody::StartTls,
        b"NAMESPACE" => CommandBody::Namespace,
        b"IDLE" => CommandBody::Idle,
        b"CHECK" => CommandBody::Check,
        b"CLOSE" => CommandBody::Close,
        b"UNSELECT" => CommandBody::Unselect,
        b"EXPUNGE" => CommandBody::Expunge,
        b"UNAUTHENTICATE" => CommandBody::Unauthenticate,
        b"ID" => {
            p.sp()?;
            CommandBody::Id(id_params(p)?)
        },
        b"AUTHENTICATE" => {
            p.sp()?;
            let mechanism = p.atom()?;
            let initial_response = if p.eat(b' ')? {
                Some(Secret::new(initial_response(p)?))
            } else {
                None
            };
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            }
        },
        b"LOGIN" => {
            p.sp()?;
            let username = p.astring()?;
            p.sp()?;
            let password = Secret::new(p.astring()?);
            CommandBody::Login { username, password }
        },
        b"ENABLE" => {
            let mut caps = Vec::new();
            while p.eat(b' ')? {
                caps.push(p.atom()?);
            }
            match Vec1::try_from(caps) {
                Ok(v) => CommandBody::Enable(v),
                Err(_) => return p.fail("SP capability"),
            }
        },
        b"SELECT" | b"EXAMINE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let mut params = Vec::new();
            if p.eat(b' ')? {
                params = p.paren_list(select_param)?;
                if params.is_empty() {
                    return p.fail("a select parameter");
                }
            }
            if k == const { super::key(b"SELECT") } {
                CommandBody::Select { mailbox, params }
            } else {
                CommandBody::Examine { mailbox, params }
            }
        },
        b"CREATE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let mut special_use = Vec::new();
            if p.eat(b' ')? {
                p.byte(b'(', "(")?;
                p.kw(b"USE")?;
                p.sp()?;
                special_use = p.paren_list(P::mailbox_attr)?;
                p.byte(b')', ")")?;
            }
            CommandBody::Create {
                mailbox,
                special_use,
            }
        },
        b"DELETE" => {
            p.sp()?;
            CommandBody::Delete(p.mailbox()?)
        },
        b"SUBSCRIBE" => {
            p.sp()?;
            CommandBody::Subscribe(p.mailbox()?)
        },
        b"UNSUBSCRIBE" => {
            p.sp()?;
            CommandBody::Unsubscribe(p.mailbox()?)
        },
        b"RENAME" => {
            p.sp()?;
            let from = p.mailbox()?;
            p.sp()?;
            let to = p.mailbox()?;
            CommandBody::Rename { from, to }
        },
        b"LIST" => list(p)?,
        b"LSUB" => {
            p.sp()?;
            let reference = p.mailbox()?;
            p.sp()?;
            let pattern = p.list_mailbox()?;
            CommandBody::Lsub { reference, pattern }
        },
        b"STATUS" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            p.sp()?;
            let items = p.paren_list1(status_item)?;
            CommandBody::Status { mailbox, items }
        },
        b"APPEND" => append(p)?,
        b"GETQUOTA" => {
            p.sp()?;
            CommandBody::GetQuota(p.astring()?)
        },
        b"GETQUOTAROOT" => {
            p.sp()?;
            CommandBody::GetQuotaRoot(p.mailbox()?)
        },
        b"SETQUOTA" => {
            p.sp()?;
            let root = p.astring()?;
            p.sp()?;
            let limits = p.paren_list(|p| {
                let name = p.atom()?;
                p.sp()?;
                Ok((name, p.number64()?))
            })?;
            CommandBody::SetQuota { root, limits }
        },
        b"GETMETADATA" => {
            p.sp()?;
            let mut options = Vec::new();
            if p.peek_is(b'(')? {
                options = p.paren_list(metadata_option)?;
                p.sp()?;
            }
            let mailbox = p.mailbox()?;
            p.sp()?;
            let entries = if p.peek_is(b'(')? {
                p.paren_list1(P::astring)?
            } else {
                Vec1::new(p.astring()?)
            };
            CommandBody::GetMetadata {
                options,
                mailbox,
                entries,
            }
        },
        b"SETMETADATA" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            p.sp()?;
            let entries = p.paren_list1(|p| {
                let e = p.astring()?;
                p.sp()?;
                Ok((e, nstring8(p)?))
            })?;
            CommandBody::SetMetadata { mailbox, entries }
        },
        b"COMPRESS" => {
            p.sp()?;
            CommandBody::Compress(p.atom()?)
        },
        b"NOTIFY" => {
            p.sp()?;
            notify(p)?
        },
        b"FETCH" => fetch(p, false)?,
        b"STORE" => store(p, false)?,
        b"COPY" => copy_move(p, false, false)?,
        b"MOVE" => copy_move(p, false, true)?,
        b"SEARCH" => search(p, false)?,
        b"SORT" => sort(p, false)?,
        b"THREAD" => thread(p, false)?,
        _ => {
            let start = p.i;
            skip_to_crlf(p)?;
            CommandBody::Other {
                name: Atom::unvalidated(super::ascii(name)),
                arguments: Cow::Borrowed(&p.b[start..p.i]),
            }
        },
    }))
}

/// Skips raw bytes (and any literals they announce) up to, not including, the final CRLF.
pub(crate) fn skip_to_crlf(p: &mut P<'_>) -> R<()> {
    loop {
        let rest = &p.b[p.i..];
        let Some(n) = memchr::memchr(b'\n', rest) else {
            return Err(PErr::Incomplete);
        };
        let line_end = p.i + n; // index of LF
        if n == 0 || p.b[line_end - 1] != b'\r' {
            if p.opts.crlf_relaxed {
                return skip_literal_or_stop(p, line_end, line_end);
            }
            p.i = line_end;
            return p.fail("CRLF");
        }
        let cr = line_end - 1;
        if memchr::memchr(0, &p.b[p.i..cr]).is_some() {
            return p.fail("no NUL");
        }
        skip_literal_or_stop(p, cr, line_end)?;
        if p.i == cr {
            return Ok(());
        }
    }
}

/// If the line `[p.i, eol)` ends with a literal header, skips past its data; else stops at
/// `eol` (the CR, or the LF in relaxed mode).
fn skip_literal_or_stop(p: &mut P<'_>, eol: usize, lf: usize) -> R<()> {
    if let Some((len, mode)) = crate::fragment::literal_header(&p.b[p.i..eol]) {
        let data = lf + 1;
        let avail = p.b.len() - data;
        if (avail as u64) < u64::from(len) {
            return Err(if avail == 0 {
                PErr::Literal { length: len, mode }
            } else {
                PErr::Incomplete
            });
        }
        p.i = data + len as usize;
        return Ok(());
    }
    p.i = eol;
    Ok(())
}

fn initial_response<'a>(p: &mut P<'a>) -> R<Cow<'a, [u8]>> {
    if p.eat(b'=')? {
        return Ok(Cow::Borrowed(&[]));
    }
    base64_data(p)
}

fn base64_data<'a>(p: &mut P<'a>) -> R<Cow<'a, [u8]>> {
    let start = p.i;
    let d = p.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))?;
    match base64::engine::general_purpose::STANDARD.decode(d) {
        Ok(v) => Ok(Cow::Owned(v)),
        Err(_) => Err(PErr::Fail {
            offset: start,
            expected: "base64",
        }),
    }
}

/// `authenticate-data = base64 CRLF / "*" CRLF` (an empty line is an empty response).
pub(crate) fn authenticate_data<'a>(p: &mut P<'a>) -> R<AuthenticateData<'a>> {
    if p.eat(b'*')? {
        p.crlf()?;
        return Ok(AuthenticateData::Cancel);
    }
    let d = if p.peek()? == b'\r' || p.peek()? == b'\n' {
        Cow::Borrowed(&[][..])
    } else if p.peek_is(b'=')? && matches!(p.b.get(p.i + 1), Some(b'\r')) {
        // Some clients send "=" for an empty response, as in SASL-IR.
        p.i += 1;
        Cow::Borrowed(&[][..])
    } else {
        base64_data(p)?
    };
    p.crlf()?;
    Ok(AuthenticateData::Continue(Secret::new(d)))
}

/// `idle-done = "DONE" CRLF`
pub(crate) fn idle_done(p: &mut P<'_>) -> R<()> {
    p.kw(b"DONE")?;
    p.crlf()
}

type IdParams<'a> = Option<
    Vec<(
        crate::types::core::IString<'a>,
        crate::types::core::NString<'a>,
    )>,
>;

pub(crate) fn id_params<'a>(p: &mut P<'a>) -> R<IdParams<'a>> {
    if p.is_nil()? {
        p.i += 3;
        return Ok(None);
    }
    p.paren_list(|p| {
        let k = p.string()?;
        p.sp()?;
        Ok((k, p.nstring()?))
    })
    .map(Some)
}

fn select_param(p: &mut P<'_>) -> R<SelectParam> {
    let w = p.word()?;
    let mut buf = [0u8; 32];
    match up(w, &mut buf) {
        b"CONDSTORE" => Ok(SelectParam::CondStore),
        b"QRESYNC" => {
            p.sp()?;
            p.byte(b'(', "(")?;
            let uid_validity = p.nz_number()?;
            p.sp()?;
            let modseq = p.nz_number64()?.get();
            let mut known_uids = None;
            let mut seq_match = None;
            if p.eat(b' ')? {
                if p.peek_is(b'(')? {
                    seq_match = Some(seq_match_data(p)?);
                } else {
                    known_uids = Some(p.sequence_set(true, false)?);
                    if p.eat(b' ')? {
                        seq_match = Some(seq_match_data(p)?);
                    }
                }
            }
            p.byte(b')', ")")?;
            Ok(SelectParam::QResync(QResync {
                uid_validity,
                modseq,
                known_uids,
                seq_match,
            }))
        }
        _ => p.fail("CONDSTORE or QRESYNC"),
    }
}

fn seq_match_data(
    p: &mut P<'_>,
) -> R<(
    crate::types::sequence::SequenceSet,
    crate::types::sequence::SequenceSet,
)> {
    p.byte(b'(', "(")?;
    let a = p.sequence_set(true, false)?;
    p.sp()?;
    let b = p.sequence_set(true, false)?;
    p.byte(b')', ")")?;
    Ok((a, b))
}

pub(crate) fn status_item(p: &mut P<'_>) -> R<StatusItem> {
    let (_, k) = p.word_key()?;
    Ok(kw_match!(k, {
        b"MESSAGES" => StatusItem::Messages,
        b"UIDNEXT" => StatusItem::UidNext,
        b"UIDVALIDITY" => StatusItem::UidValidity,
        b"UNSEEN" => StatusItem::Unseen,
        b"DELETED" => StatusItem::Deleted,
        b"SIZE" => StatusItem::Size,
        b"RECENT" => StatusItem::Recent,
        b"HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        b"APPENDLIMIT" => StatusItem::AppendLimit,
        b"MAILBOXID" => StatusItem::MailboxId,
        _ => return p.fail("a status item"),
    }))
}

fn list<'a>(p: &mut P<'a>) -> R<CommandBody<'a>> {
    p.sp()?;
    let mut select = None;
    if p.peek_is(b'(')? {
        select = Some(p.paren_list(|p| {
            let a = p.atom()?;
            let mut buf = [0u8; 32];
            Ok(match up(a.as_str().as_bytes(), &mut buf) {
                b"SUBSCRIBED" => ListSelectOpt::Subscribed,
                b"REMOTE" => ListSelectOpt::Remote,
                b"RECURSIVEMATCH" => ListSelectOpt::RecursiveMatch,
                b"SPECIAL-USE" => ListSelectOpt::SpecialUse,
                _ => ListSelectOpt::Other(a),
            })
        })?);
        p.sp()?;
    }
    let reference = p.mailbox()?;
    p.sp()?;
    let patterns = if p.peek_is(b'(')? {
        ListPatterns::Multiple(p.paren_list1(P::list_mailbox)?)
    } else {
        ListPatterns::Single(p.list_mailbox()?)
    };
    let mut return_opts = None;
    if p.eat(b' ')? {
        p.kw(b"RETURN")?;
        p.sp()?;
        return_opts = Some(p.paren_list(|p| {
            let a = p.atom()?;
            let mut buf = [0u8; 32];
            Ok(match up(a.as_str().as_bytes(), &mut buf) {
                b"SUBSCRIBED" => ListReturnOpt::Subscribed,
                b"CHILDREN" => ListReturnOpt::Children,
                b"SPECIAL-USE" => ListReturnOpt::SpecialUse,
                b"STATUS" => {
                    p.sp()?;
                    ListReturnOpt::Status(p.paren_list1(status_item)?)
                }
                _ => ListReturnOpt::Other(a),
            })
        })?);
    }
    Ok(CommandBody::List {
        select,
        reference,
        patterns,
        return_opts,
    })
}

fn append<'a>(p: &mut P<'a>) -> R<CommandBody<'a>> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    let mut messages = Vec::new();
    while p.eat(b' ')? {
        let mut flags = None;
        let mut date = None;
        if p.peek_is(b'(')? {
            flags = Some(p.paren_list(P::flag)?);
            p.sp()?;
        }
        if p.peek_is(b'"')? {
            date = Some(p.date_time()?);
            p.sp()?;
        }
        let (data, mode, binary) = p.literal_any(true)?;
        messages.push(AppendMessage {
            flags,
            date,
            data: LiteralData {
                data: Cow::Borrowed(data),
                mode,
                binary,
            },
        });
    }
    match Vec1::try_from(messages) {
        Ok(messages) => Ok(CommandBody::Append { mailbox, messages }),
        Err(_) => p.fail("SP message"),
    }
}

/// What precedes one APPEND message's data: `SP [flag-list SP] [date-time SP] literal-header`.
pub(crate) struct AppendHead<'a> {
    pub(crate) flags: Option<Vec<crate::types::flag::Flag<'a>>>,
    pub(crate) date: Option<crate::types::datetime::DateTime>,
    pub(crate) length: u32,
    pub(crate) binary: bool,
}

/// `tag SP "APPEND" SP mailbox` (streaming APPEND: the data is not in the buffer).
pub(crate) fn append_start<'a>(
    p: &mut P<'a>,
) -> R<(
    crate::types::core::Tag<'a>,
    crate::types::mailbox::Mailbox<'a>,
)> {
    let tag = p.tag()?;
    p.sp()?;
    p.kw(b"APPEND")?;
    p.sp()?;
    Ok((tag, p.mailbox()?))
}

/// One message's head up to and including the literal header's CRLF, data excluded.
pub(crate) fn append_message_head<'a>(p: &mut P<'a>) -> R<AppendHead<'a>> {
    p.sp()?;
    let mut flags = None;
    let mut date = None;
    if p.peek_is(b'(')? {
        flags = Some(p.paren_list(P::flag)?);
        p.sp()?;
    }
    if p.peek_is(b'"')? {
        date = Some(p.date_time()?);
        p.sp()?;
    }
    let binary = p.eat(b'~')?;
    p.byte(b'{', "a literal")?;
    let length = p.number()?;
    p.eat(b'+')?;
    p.byte(b'}', "}")?;
    p.crlf()?;
    Ok(AppendHead {
        flags,
        date,
        length,
        binary,
    })
}

/// `nstring / literal8` (METADATA values).
pub(crate) fn nstring8<'a>(p: &mut P<'a>) -> R<NString8<'a>> {
    if p.peek_is(b'~')? {
        let (data, mode, _) = p.literal_any(true)?;
        return Ok(NString8::Literal8 {
            data: Cow::Borrowed(data),
            mode,
        });
    }
    Ok(NString8::NString(p.nstring()?))
}

fn metadata_option(p: &mut P<'_>) -> R<MetadataOption> {
    let w = p.word()?;
    let mut buf = [0u8; 32];
    match up(w, &mut buf) {
        b"MAXSIZE" => {
            p.sp()?;
            Ok(MetadataOption::MaxSize(p.number()?))
        }
        b"DEPTH" => {
            p.sp()?;
            let d = p.word()?;
            let mut b2 = [0u8; 32];
            Ok(MetadataOption::Depth(match up(d, &mut b2) {
                b"0" => MetadataDepth::Zero,
                b"1" => MetadataDepth::One,
                b"INFINITY" => MetadataDepth::Infinity,
                _ => return p.fail("0, 1 or infinity"),
            }))
        }
        _ => p.fail("MAXSIZE or DEPTH"),
    }
}

fn notify<'a>(p: &mut P<'a>) -> R<CommandBody<'a>> {
    let w = p.word()?;
    let mut buf = [0u8; 32];
    match up(w, &mut buf) {
        b"NONE" => Ok(CommandBody::Notify(Notify::None)),
        b"SET" => {
            p.sp()?;
            let mut status = false;
            if p.looking_at(b"STATUS")? {
                p.i += 6;
                p.sp()?;
                status = true;
            }
            let mut groups = vec![notify_group(p)?];
            while p.eat(b' ')? {
                groups.push(notify_group(p)?);
            }
            Ok(CommandBody::Notify(Notify::Set {
                status,
                groups: Vec1::unvalidated(groups),
            }))
        }
        _ => p.fail("NONE or SET"),
    }
}

fn mailboxes1<'a>(p: &mut P<'a>) -> R<Vec1<crate::types::mailbox::Mailbox<'a>>> {
    if p.peek_is(b'(')? {
        p.paren_list1(P::mailbox)
    } else {
        Ok(Vec1::new(p.mailbox()?))
    }
}

fn notify_group<'a>(p: &mut P<'a>) -> R<NotifyGroup<'a>> {
    p.byte(b'(', "(")?;
    let w = p.word()?;
    let mut buf = [0u8; 32];
    let filter = match up(w, &mut buf) {
        b"SELECTED" => NotifyFilter::Selected,
        b"SELECTED-DELAYED" => NotifyFilter::SelectedDelayed,
        b"INBOXES" => NotifyFilter::Inboxes,
        b"PERSONAL" => NotifyFilter::Personal,
        b"SUBSCRIBED" => NotifyFilter::Subscribed,
        b"SUBTREE" => {
            p.sp()?;
            NotifyFilter::Subtree(mailboxes1(p)?)
        }
        b"MAILBOXES" => {
            p.sp()?;
            NotifyFilter::Mailboxes(mailboxes1(p)?)
        }
        _ => return p.fail("a NOTIFY filter"),
    };
    p.sp()?;
    let events = if p.peek_is(b'(')? {
        let v = p.paren_list(notify_event)?;
        if v.is_empty() {
            return p.fail("an event");
        }
        v
    } else {
        p.kw(b"NONE")?;
        Vec::new()
    };
    p.byte(b')', ")")?;
    Ok(NotifyGroup { filter, events })
}

fn notify_event<'a>(p: &mut P<'a>) -> R<NotifyEvent<'a>> {
    let a = p.atom()?;
    let mut buf = [0u8; 32];
    Ok(match up(a.as_str().as_bytes(), &mut buf) {
        b"MESSAGENEW" => {
            let mut atts = Vec::new();
            if p.peek_is(b' ')? && p.b.get(p.i + 1) == Some(&b'(') {
                p.i += 1;
                atts = p.paren_list(fetch_att)?;
            }
            NotifyEvent::MessageNew(atts)
        }
        b"MESSAGEEXPUNGE" => NotifyEvent::MessageExpunge,
        b"FLAGCHANGE" => NotifyEvent::FlagChange,
        b"ANNOTATIONCHANGE" => NotifyEvent::AnnotationChange,
        b"MAILBOXNAME" => NotifyEvent::MailboxName,
        b"SUBSCRIPTIONCHANGE" => NotifyEvent::SubscriptionChange,
        b"MAILBOXMETADATACHANGE" => NotifyEvent::MailboxMetadataChange,
        b"SERVERMETADATACHANGE" => NotifyEvent::ServerMetadataChange,
        _ => NotifyEvent::Other(a),
    })
}

fn fetch<'a>(p: &mut P<'a>, uid: bool) -> R<CommandBody<'a>> {
    p.sp()?;
    let set = p.sequence_set(true, true)?;
    p.sp()?;
    let items = if p.peek_is(b'(')? {
        FetchItems::Attrs(p.paren_list1(fetch_att)?)
    } else {
        let save = p.i;
        let w = p.word()?;
        let mut buf = [0u8; 32];
        match up(w, &mut buf) {
            b"ALL" => FetchItems::All,
            b"FULL" => FetchItems::Full,
            b"FAST" => FetchItems::Fast,
            _ => {
                p.i = save;
                FetchItems::Attrs(Vec1::new(fetch_att(p)?))
            }
        }
    };
    let mut modifiers = Vec::new();
    if p.eat(b' ')? {
        modifiers = p.paren_list(|p| {
            let w = p.word()?;
            let mut buf = [0u8; 32];
            match up(w, &mut buf) {
                b"CHANGEDSINCE" => {
                    p.sp()?;
                    Ok(FetchModifier::ChangedSince(p.nz_number64()?.get()))
                }
                b"VANISHED" => Ok(FetchModifier::Vanished),
                _ => p.fail("CHANGEDSINCE or VANISHED"),
            }
        })?;
        if modifiers.is_empty() {
            return p.fail("a fetch modifier");
        }
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        modifiers,
    })
}

/// `fetch-att`
pub(crate) fn fetch_att<'a>(p: &mut P<'a>) -> R<FetchAttr<'a>> {
    let w = p.word()?;
    let mut buf = [0u8; 32];
    Ok(match up(w, &mut buf) {
        b"ENVELOPE" => FetchAttr::Envelope,
        b"FLAGS" => FetchAttr::Flags,
        b"INTERNALDATE" => FetchAttr::InternalDate,
        b"RFC822" => FetchAttr::Rfc822,
        b"RFC822.HEADER" => FetchAttr::Rfc822Header,
        b"RFC822.SIZE" => FetchAttr::Rfc822Size,
        b"RFC822.TEXT" => FetchAttr::Rfc822Text,
        b"BODYSTRUCTURE" => FetchAttr::BodyStructure,
        b"UID" => FetchAttr::Uid,
        b"MODSEQ" => FetchAttr::ModSeq,
        b"EMAILID" => FetchAttr::EmailId,
        b"THREADID" => FetchAttr::ThreadId,
        b"SAVEDATE" => FetchAttr::SaveDate,
        b"PREVIEW" => {
            let mut lazy = false;
            if p.looking_at(b" (LAZY)")? {
                p.i += 7;
                lazy = true;
            }
            FetchAttr::Preview { lazy }
        }
        b"BODY" => {
            if p.peek_is(b'[')? {
                let section = super::body::section(p)?;
                let partial = partial(p)?;
                FetchAttr::BodySection {
                    section,
                    partial,
                    peek: false,
                }
            } else {
                FetchAttr::Body
            }
        }
        b"BODY.PEEK" => {
            let section = super::body::section(p)?;
            let partial = partial(p)?;
            FetchAttr::BodySection {
                section,
                partial,
                peek: true,
            }
        }
        b"BINARY" | b"BINARY.PEEK" => {
            let peek = w.len() > 6;
            let part = super::body::section_binary(p)?;
            let partial = partial(p)?;
            FetchAttr::Binary {
                part,
                partial,
                peek,
            }
        }
        b"BINARY.SIZE" => FetchAttr::BinarySize {
            part: super::body::section_binary(p)?,
        },
        _ => {
            p.i -= w.len();
            return p.fail("a fetch item");
        }
    })
}

fn partial(p: &mut P<'_>) -> R<Option<crate::types::fetch::Partial>> {
    if !p.eat(b'<')? {
        return Ok(None);
    }
    let origin = p.number()?;
    p.byte(b'.', ".")?;
    let count = p.nz_number()?;
    p.byte(b'>', ">")?;
    Ok(Some(crate::types::fetch::Partial { origin, count }))
}

fn store<'a>(p: &mut P<'a>, uid: bool) -> R<CommandBody<'a>> {
    p.sp()?;
    let set = p.sequence_set(true, true)?;
    p.sp()?;
    let mut unchanged_since = None;
    if p.peek_is(b'(')? {
        p.i += 1;
        p.kw(b"UNCHANGEDSINCE")?;
        p.sp()?;
        unchanged_since = Some(p.number64()?);
        p.byte(b')', ")")?;
        p.sp()?;
    }
    let kind = match p.peek()? {
        b'+' => {
            p.i += 1;
            StoreKind::Add
        }
        b'-' => {
            p.i += 1;
            StoreKind::Remove
        }
        _ => StoreKind::Replace,
    };
    p.kw(b"FLAGS")?;
    let silent = if p.looking_at(b".SILENT")? {
        p.i += 7;
        true
    } else {
        false
    };
    p.sp()?;
    let flags = if p.peek_is(b'(')? {
        p.paren_list(P::flag)?
    } else {
        let mut v = vec![p.flag()?];
        while p.eat(b' ')? {
            v.push(p.flag()?);
        }
        v
    };
    Ok(CommandBody::Store {
        uid,
        set,
        unchanged_since,
        kind,
        silent,
        flags,
    })
}

fn copy_move<'a>(p: &mut P<'a>, uid: bool, is_move: bool) -> R<CommandBody<'a>> {
    p.sp()?;
    let set = p.sequence_set(true, true)?;
    p.sp()?;
    let mailbox = p.mailbox()?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}

fn return_opts<'a>(p: &mut P<'a>) -> R<Option<Vec<SearchReturnOpt<'a>>>> {
    if !p.looking_at(b" RETURN ")? {
        return Ok(None);
    }
    p.i += 8;
    p.paren_list(|p| {
        let a = p.atom()?;
        let mut buf = [0u8; 32];
        Ok(match up(a.as_str().as_bytes(), &mut buf) {
            b"MIN" => SearchReturnOpt::Min,
            b"MAX" => SearchReturnOpt::Max,
            b"ALL" => SearchReturnOpt::All,
            b"COUNT" => SearchReturnOpt::Count,
            b"SAVE" => SearchReturnOpt::Save,
            _ => SearchReturnOpt::Other(a),
        })
    })
    .map(Some)
}

fn search_keys<'a>(p: &mut P<'a>) -> R<Vec1<SearchKey<'a>>> {
    let mut keys = Vec::new();
    while p.eat(b' ')? {
        keys.push(search_key(p)?);
    }
    Vec1::try_from(keys).map_err(|_| PErr::Fail {
        offset: p.i,
        expected: "SP search-key",
    })
}

fn search<'a>(p: &mut P<'a>, uid: bool) -> R<CommandBody<'a>> {
    let return_opts = return_opts(p)?;
    let mut charset = None;
    if p.looking_at(b" CHARSET ")? {
        p.i += 9;
        charset = Some(p.astring()?);
    }
    let criteria = search_keys(p)?;
    Ok(CommandBody::Search {
        uid,
        return_opts,
        charset,
        criteria,
    })
}

fn sort<'a>(p: &mut P<'a>, uid: bool) -> R<CommandBody<'a>> {
    let return_opts = return_opts(p)?;
    p.sp()?;
    let sort = p.paren_list1(|p| {
        let mut reverse = false;
        if p.looking_at(b"REVERSE ")? {
            p.i += 8;
            reverse = true;
        }
        let w = p.word()?;
        let mut buf = [0u8; 32];
        let key = match up(w, &mut buf) {
            b"ARRIVAL" => SortKey::Arrival,
            b"CC" => SortKey::Cc,
            b"DATE" => SortKey::Date,
            b"FROM" => SortKey::From,
            b"SIZE" => SortKey::Size,
            b"SUBJECT" => SortKey::Subject,
            b"TO" => SortKey::To,
            b"DISPLAYFROM" => SortKey::DisplayFrom,
            b"DISPLAYTO" => SortKey::DisplayTo,
            _ => return p.fail("a sort key"),
        };
        Ok(SortCriterion { reverse, key })
    })?;
    p.sp()?;
    let charset = p.astring()?;
    let criteria = search_keys(p)?;
    Ok(CommandBody::Sort {
        uid,
        return_opts,
        sort,
        charset,
        criteria,
    })
}

fn thread<'a>(p: &mut P<'a>, uid: bool) -> R<CommandBody<'a>> {
    p.sp()?;
    let algorithm = p.atom()?;
    p.sp()?;
    let charset = p.astring()?;
    let criteria = search_keys(p)?;
    Ok(CommandBody::Thread {
        uid,
        algorithm,
        charset,
        criteria,
    })
}

/// `search-key`
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
pub(crate) fn search_key<'a>(p: &mut P<'a>) -> R<SearchKey<'a>> {
    let c = p.peek()?;
    if c == b'(' {
        p.enter()?;
        p.i += 1;
        let mut v = vec![search_key(p)?];
        while p.eat(b' ')? {
            v.push(search_key(p)?);
        }
        p.byte(b')', ")")?;
        p.leave();
        return Ok(SearchKey::And(Vec1::unvalidated(v)));
    }
    if c.is_ascii_digit() || c == b'*' || c == b'$' {
        return Ok(SearchKey::SequenceSet(p.sequence_set(true, true)?));
    }
    let w = p.word()?;
    let mut buf = [0u8; 32];
    macro_rules! arg {
        ($f:ident, $variant:ident) => {{
            p.sp()?;
            SearchKey::$variant(p.$f()?)
        }};
    }
    Ok(match up(w, &mut buf) {
        b"ALL" => SearchKey::All,
        b"ANSWERED" => SearchKey::Answered,
        b"BCC" => arg!(astring, Bcc),
        b"BEFORE" => arg!(date, Before),
        b"BODY" => arg!(astring, Body),
        b"CC" => arg!(astring, Cc),
        b"DELETED" => SearchKey::Deleted,
        b"DRAFT" => SearchKey::Draft,
        b"FLAGGED" => SearchKey::Flagged,
        b"FROM" => arg!(astring, From),
        b"HEADER" => {
            p.sp()?;
            let f = p.astring()?;
            p.sp()?;
            SearchKey::Header(f, p.astring()?)
        }
        b"KEYWORD" => arg!(atom, Keyword),
        b"LARGER" => arg!(number64, Larger),
        b"NEW" => SearchKey::New,
        b"NOT" => {
            p.sp()?;
            p.enter()?;
            let k = search_key(p)?;
            p.leave();
            SearchKey::Not(Box::new(k))
        }
        b"OLD" => SearchKey::Old,
        b"ON" => arg!(date, On),
        b"OR" => {
            p.enter()?;
            p.sp()?;
            let a = search_key(p)?;
            p.sp()?;
            let b = search_key(p)?;
            p.leave();
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        b"RECENT" => SearchKey::Recent,
        b"SEEN" => SearchKey::Seen,
        b"SENTBEFORE" => arg!(date, SentBefore),
        b"SENTON" => arg!(date, SentOn),
        b"SENTSINCE" => arg!(date, SentSince),
        b"SINCE" => arg!(date, Since),
        b"SMALLER" => arg!(number64, Smaller),
        b"SUBJECT" => arg!(astring, Subject),
        b"TEXT" => arg!(astring, Text),
        b"TO" => arg!(astring, To),
        b"UID" => {
            p.sp()?;
            SearchKey::Uid(p.sequence_set(true, true)?)
        }
        b"UNANSWERED" => SearchKey::Unanswered,
        b"UNDELETED" => SearchKey::Undeleted,
        b"UNDRAFT" => SearchKey::Undraft,
        b"UNFLAGGED" => SearchKey::Unflagged,
        b"UNKEYWORD" => arg!(atom, Unkeyword),
        b"UNSEEN" => SearchKey::Unseen,
        b"OLDER" => arg!(nz_number, Older),
        b"YOUNGER" => arg!(nz_number, Younger),
        b"SAVEDBEFORE" => arg!(date, SavedBefore),
        b"SAVEDON" => arg!(date, SavedOn),
        b"SAVEDSINCE" => arg!(date, SavedSince),
        b"SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
        b"EMAILID" => arg!(atom, EmailId),
        b"THREADID" => arg!(atom, ThreadId),
        b"MODSEQ" => {
            p.sp()?;
            let mut entry = None;
            if p.peek_is(b'"')? {
                let name = p.quoted()?;
                p.sp()?;
                let t = p.word()?;
                let mut b2 = [0u8; 32];
                let ty = match up(t, &mut b2) {
                    b"PRIV" => EntryType::Private,
                    b"SHARED" => EntryType::Shared,
                    b"ALL" => EntryType::All,
                    _ => return p.fail("priv, shared or all"),
                };
                p.sp()?;
                entry = Some((name, ty));
            }
            SearchKey::ModSeq {
                entry,
                modseq: p.number64()?,
            }
        }
        _ => {
            p.i -= w.len();
            return p.fail("a search key");
        }
    })
}
