//! Response grammar: greeting, status responses and codes, untagged data, continuations.

use std::borrow::Cow;

use super::{P, PErr, R, kw_match};
use crate::types::core::{Atom, C_ATOM, C_TAG, Tag, Text, Vec1};
use crate::types::response::{
    Code, ContinueReq, Data, ExtValue, Greeting, ListData, NamespaceDesc, QuotaResource, Response,
    StatusKind, StatusResponse, StatusValue, Thread,
};
use crate::types::search::SearchReturnData;

/// `greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`
pub(crate) fn greeting<'a>(p: &mut P<'a>) -> R<Greeting<'a>> {
    p.byte(b'*', "*")?;
    p.sp()?;
    let (w, k) = p.run_key(C_ATOM, "OK, PREAUTH or BYE")?;
    let kind = kw_match!(k, {
        b"OK" => StatusKind::Ok,
        b"PREAUTH" => StatusKind::PreAuth,
        b"BYE" => StatusKind::Bye,
        _ => {
            p.i -= w.len();
            return p.fail("OK, PREAUTH or BYE");
        },
    });
    let (code, text) = resp_text(p)?;
    p.crlf()?;
    Ok(Greeting { kind, code, text })
}

/// `response = continue-req / response-data / response-tagged` (one message).
pub(crate) fn response<'a>(p: &mut P<'a>) -> R<Response<'a>> {
    let r = match p.peek()? {
        b'+' => {
            p.i += 1;
            let (code, text) = resp_text(p)?;
            Response::Continue(ContinueReq { code, text })
        }
        b'*' => {
            p.i += 1;
            p.sp()?;
            untagged(p)?
        }
        _ => {
            let start = p.i;
            let tag = p.run(C_TAG, "a tag")?;
            p.sp()?;
            let (w, k) = p.run_key(C_ATOM, "OK, NO or BAD")?;
            let kind = kw_match!(k, {
                b"OK" => StatusKind::Ok,
                b"NO" => StatusKind::No,
                b"BAD" => StatusKind::Bad,
                _ => {
                    p.i -= w.len();
                    return p.fail("OK, NO or BAD");
                },
            });
            let (code, text) = resp_text_bytes(p)?;
            // The tag and the text as `&str` from one UTF-8 check of the whole line (the
            // tag is ASCII, the text starts after an ASCII byte, so both are char
            // boundaries); apart only when the line is not all UTF-8.
            let line = std::str::from_utf8(&p.b[start..p.i]).ok();
            let text_at = p.i - text.len() - start;
            let tag = match line.and_then(|l| l.get(..tag.len())) {
                Some(t) => Tag::unvalidated(t),
                None => Tag::unvalidated(super::ascii(tag)),
            };
            let text = match line.and_then(|l| l.get(text_at..)) {
                Some(t) => Text::unvalidated(t),
                None => super::text_of(text),
            };
            Response::Status(StatusResponse {
                tag: Some(tag),
                kind,
                code,
                text,
            })
        }
    };
    p.crlf()?;
    Ok(r)
}

/// `[SP] ["[" resp-text-code "]" [SP]] [text]`, up to (not including) CRLF.
///
/// The leading SP is required by the grammar but often missing after a bare `+` or a bare
/// status keyword (`a OK\r\n`), which is unambiguous, so both are accepted.
fn resp_text<'a>(p: &mut P<'a>) -> R<(Option<Code<'a>>, Text<'a>)> {
    let (code, text) = resp_text_bytes(p)?;
    Ok((code, super::text_of(text)))
}

/// [`resp_text`] with the text's bytes, not yet checked for UTF-8.
fn resp_text_bytes<'a>(p: &mut P<'a>) -> R<(Option<Code<'a>>, &'a [u8])> {
    if !p.eat(b' ')? {
        return match p.peek()? {
            b'\r' | b'\n' => Ok((None, &[])),
            _ => p.fail("SP"),
        };
    }
    if p.peek_is(b'[')? {
        let save = p.i;
        p.i += 1;
        match code_then_sp(p) {
            Ok(code) => return Ok((Some(code), p.text_bytes()?)),
            Err(PErr::Fail { .. }) => {
                // Not a valid code: the bracket is part of the free-form text.
                p.i = save;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((None, p.text_bytes()?))
}

/// `resp-text-code "]"` followed by SP (text follows) or the line end (no text).
fn code_then_sp<'a>(p: &mut P<'a>) -> R<Code<'a>> {
    let code = resp_code(p)?;
    p.byte(b']', "]")?;
    if !p.eat(b' ')? && !matches!(p.peek()?, b'\r' | b'\n') {
        return p.fail("SP");
    }
    Ok(code)
}

#[allow(clippy::too_many_lines)]
fn resp_code<'a>(p: &mut P<'a>) -> R<Code<'a>> {
    let (raw, k) = p.run_key(C_ATOM, "an atom")?;
    if let Some(c) = simple_code(k, raw) {
        return Ok(c);
    }
    Ok(kw_match!(k, {
        b"BADCHARSET" => {
            let mut v = Vec::new();
            if p.eat(b' ')? {
                v = p.paren_list(P::charset)?;
                if v.is_empty() {
                    return p.fail("a charset");
                }
            }
            Code::BadCharset(v)
        },
        b"CAPABILITY" => Code::Capability(capabilities(p)?),
        b"PERMANENTFLAGS" => {
            p.sp()?;
            Code::PermanentFlags(p.paren_list(P::flag_perm)?)
        },
        b"UIDNEXT" => {
            p.sp()?;
            Code::UidNext(p.nz_number()?)
        },
        b"UIDVALIDITY" => {
            p.sp()?;
            Code::UidValidity(p.nz_number()?)
        },
        b"UNSEEN" => {
            p.sp()?;
            Code::Unseen(p.nz_number()?)
        },
        b"APPENDUID" => {
            p.sp()?;
            let uid_validity = p.nz_number()?;
            p.sp()?;
            Code::AppendUid {
                uid_validity,
                uids: p.sequence_set(false, false)?,
            }
        },
        b"COPYUID" => {
            p.sp()?;
            let uid_validity = p.nz_number()?;
            p.sp()?;
            let source = p.sequence_set(false, false)?;
            p.sp()?;
            Code::CopyUid {
                uid_validity,
                source,
                target: p.sequence_set(false, false)?,
            }
        },
        b"HIGHESTMODSEQ" => {
            p.sp()?;
            Code::HighestModSeq(p.nz_number64()?.get())
        },
        b"MODIFIED" => {
            p.sp()?;
            Code::Modified(p.sequence_set(false, false)?)
        },
        b"MAILBOXID" => {
            p.sp()?;
            let id = super::body::objectid(p)?;
            Code::MailboxId(Atom::unvalidated(super::ascii(id)))
        },
        b"METADATA" => {
            p.sp()?;
            let (_, k2) = p.word_key()?;
            kw_match!(k2, {
                b"LONGENTRIES" => {
                    p.sp()?;
                    Code::MetadataLongEntries(p.number()?)
                },
                b"MAXSIZE" => {
                    p.sp()?;
                    Code::MetadataMaxSize(p.number()?)
                },
                b"TOOMANY" => Code::MetadataTooMany,
                b"NOPRIVATE" => Code::MetadataNoPrivate,
                _ => return p.fail("a METADATA code"),
            })
        },
        _ => {
            let mut arg = None;
            if p.eat(b' ')? {
                let t = p.take_while(|c| c != b']' && c != b'\r' && c != b'\n' && c != 0)?;
                if t.is_empty() {
                    return p.fail("code text");
                }
                arg = Some(match std::str::from_utf8(t) {
                    Ok(s) => Cow::Borrowed(s),
                    Err(_) => Cow::Owned(String::from_utf8_lossy(t).into_owned()),
                });
            }
            Code::Other(Atom::unvalidated(super::ascii(raw)), arg)
        },
    }))
}

/// The codes without arguments, by [`super::key`] (and by name for the few longer than 16
/// bytes, whose key is 0).
fn simple_code(k: u128, raw: &[u8]) -> Option<Code<'static>> {
    if k == 0 {
        return [
            (&b"NOTIFICATIONOVERFLOW"[..], Code::NotificationOverflow),
            (b"COMPRESSIONACTIVE", Code::CompressionActive),
            (b"AUTHENTICATIONFAILED", Code::AuthenticationFailed),
            (b"AUTHORIZATIONFAILED", Code::AuthorizationFailed),
        ]
        .into_iter()
        .find(|(n, _)| raw.eq_ignore_ascii_case(n))
        .map(|(_, c)| c);
    }
    Some(kw_match!(k, {
        b"ALERT" => Code::Alert,
        b"PARSE" => Code::Parse,
        b"READ-ONLY" => Code::ReadOnly,
        b"READ-WRITE" => Code::ReadWrite,
        b"TRYCREATE" => Code::TryCreate,
        b"CLOSED" => Code::Closed,
        b"UIDNOTSTICKY" => Code::UidNotSticky,
        b"NOMODSEQ" => Code::NoModSeq,
        b"TOOBIG" => Code::TooBig,
        b"USEATTR" => Code::UseAttr,
        b"UNKNOWN-CTE" => Code::UnknownCte,
        b"NOTSAVED" => Code::NotSaved,
        b"HASCHILDREN" => Code::HasChildren,
        b"CLIENTBUG" => Code::ClientBug,
        b"SERVERBUG" => Code::ServerBug,
        b"CANNOT" => Code::Cannot,
        b"LIMIT" => Code::Limit,
        b"OVERQUOTA" => Code::OverQuota,
        b"ALREADYEXISTS" => Code::AlreadyExists,
        b"NONEXISTENT" => Code::NonExistent,
        b"UNAVAILABLE" => Code::Unavailable,
        b"EXPIRED" => Code::Expired,
        b"PRIVACYREQUIRED" => Code::PrivacyRequired,
        b"CONTACTADMIN" => Code::ContactAdmin,
        b"NOPERM" => Code::NoPerm,
        b"INUSE" => Code::InUse,
        b"EXPUNGEISSUED" => Code::ExpungeIssued,
        b"CORRUPTION" => Code::Corruption,
        _ => return None,
    }))
}

/// `1*(SP capability)`
fn capabilities<'a>(p: &mut P<'a>) -> R<Vec1<Atom<'a>>> {
    let mut v = Vec::new();
    while p.eat(b' ')? {
        if p.opts.quirk_trailing_space && matches!(p.peek()?, b'\r' | b']') {
            break;
        }
        v.push(p.atom()?);
    }
    Vec1::try_from(v).map_err(|_| PErr::Fail {
        offset: p.i,
        expected: "SP capability",
    })
}

#[allow(clippy::too_many_lines)]
fn untagged<'a>(p: &mut P<'a>) -> R<Response<'a>> {
    if p.peek()?.is_ascii_digit() {
        let n = p.number()?;
        p.sp()?;
        let (w, k) = p.run_key(C_ATOM, "EXISTS, RECENT, EXPUNGE or FETCH")?;
        let nz = |p: &P<'a>| {
            std::num::NonZeroU32::new(n).ok_or(PErr::Fail {
                offset: p.i,
                expected: "a non-zero number",
            })
        };
        return Ok(Response::Data(kw_match!(k, {
            b"EXISTS" => Data::Exists(n),
            b"RECENT" => Data::Recent(n),
            b"EXPUNGE" => Data::Expunge(nz(p)?),
            b"FETCH" => {
                p.sp()?;
                Data::Fetch(super::body::fetch_data(p, nz(p)?)?)
            },
            _ => {
                p.i -= w.len();
                return p.fail("EXISTS, RECENT, EXPUNGE or FETCH");
            },
        })));
    }
    let (w, k) = p.run_key(C_ATOM, "a response name")?;
    let kind = kw_match!(k, {
        b"OK" => Some(StatusKind::Ok),
        b"NO" => Some(StatusKind::No),
        b"BAD" => Some(StatusKind::Bad),
        b"BYE" => Some(StatusKind::Bye),
        b"PREAUTH" => Some(StatusKind::PreAuth),
        _ => None,
    });
    if let Some(kind) = kind {
        let (code, text) = resp_text(p)?;
        return Ok(Response::Status(StatusResponse {
            tag: None,
            kind,
            code,
            text,
        }));
    }
    Ok(Response::Data(kw_match!(k, {
        b"CAPABILITY" => Data::Capability(capabilities(p)?),
        b"LIST" => Data::List(list_data(p)?),
        b"LSUB" => Data::Lsub(list_data(p)?),
        b"STATUS" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            p.sp()?;
            Data::Status {
                mailbox,
                items: p.paren_list(status_value)?,
            }
        },
        b"SEARCH" | b"SORT" => {
            let mut numbers = Vec::new();
            let mut modseq = None;
            while p.eat(b' ')? {
                match p.peek()? {
                    b'(' => {
                        p.i += 1;
                        p.kw(b"MODSEQ")?;
                        p.sp()?;
                        modseq = Some(p.nz_number64()?.get());
                        p.byte(b')', ")")?;
                        break;
                    }
                    b'\r' if p.opts.quirk_trailing_space => break,
                    _ => numbers.push(p.nz_number()?),
                }
            }
            if k == const { super::key(b"SEARCH") } {
                Data::Search { numbers, modseq }
            } else {
                Data::Sort { numbers, modseq }
            }
        },
        b"ESEARCH" => esearch(p)?,
        b"THREAD" => {
            let mut threads = Vec::new();
            if p.eat(b' ')? {
                while p.peek_is(b'(')? {
                    threads.push(thread(p)?);
                }
                if threads.is_empty() {
                    return p.fail("a thread");
                }
            }
            Data::Thread(threads)
        },
        b"FLAGS" => {
            p.sp()?;
            Data::Flags(p.paren_list(P::flag)?)
        },
        b"ENABLED" => {
            let mut v = Vec::new();
            while p.eat(b' ')? {
                v.push(p.atom()?);
            }
            Data::Enabled(v)
        },
        b"NAMESPACE" => {
            p.sp()?;
            let personal = namespace(p)?;
            p.sp()?;
            let other = namespace(p)?;
            p.sp()?;
            let shared = namespace(p)?;
            Data::Namespace {
                personal,
                other,
                shared,
            }
        },
        b"QUOTA" => {
            p.sp()?;
            let root = p.astring()?;
            p.sp()?;
            let resources = p.paren_list(|p| {
                let name = p.atom()?;
                p.sp()?;
                let usage = p.number64()?;
                p.sp()?;
                let limit = p.number64()?;
                Ok(QuotaResource { name, usage, limit })
            })?;
            Data::Quota { root, resources }
        },
        b"QUOTAROOT" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let mut roots = Vec::new();
            while p.eat(b' ')? {
                roots.push(p.astring()?);
            }
            Data::QuotaRoot { mailbox, roots }
        },
        b"METADATA" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            p.sp()?;
            if p.peek_is(b'(')? {
                let values = p.paren_list1(|p| {
                    let e = p.astring()?;
                    p.sp()?;
                    Ok((e, super::command::nstring8(p)?))
                })?;
                Data::Metadata { mailbox, values }
            } else {
                let mut entries = vec![p.astring()?];
                while p.eat(b' ')? {
                    entries.push(p.astring()?);
                }
                Data::MetadataChanged {
                    mailbox,
                    entries: Vec1::unvalidated(entries),
                }
            }
        },
        b"ID" => {
            p.sp()?;
            Data::Id(super::command::id_params(p)?)
        },
        b"VANISHED" => {
            p.sp()?;
            let mut earlier = false;
            if p.looking_at(b"(EARLIER) ")? {
                p.i += 10;
                earlier = true;
            }
            Data::Vanished {
                earlier,
                uids: p.sequence_set(false, false)?,
            }
        },
        _ => {
            let start = p.i;
            super::command::skip_to_crlf(p)?;
            Data::Other {
                name: Atom::unvalidated(super::ascii(w)),
                data: Cow::Borrowed(&p.b[start..p.i]),
            }
        },
    })))
}

/// `mailbox-list` after the LIST/LSUB keyword.
fn list_data<'a>(p: &mut P<'a>) -> R<ListData<'a>> {
    p.sp()?;
    let attributes = p.paren_list(P::mailbox_attr)?;
    p.sp()?;
    let delimiter = p.delimiter()?;
    p.sp()?;
    let mailbox = p.mailbox()?;
    let mut extended = None;
    if p.eat(b' ')? {
        extended = Some(p.paren_list(|p| {
            let tag = p.astring()?;
            p.sp()?;
            Ok((tag, ext_value(p)?))
        })?);
    }
    Ok(ListData {
        attributes,
        delimiter,
        mailbox,
        extended,
    })
}

/// `tagged-ext-val`, generalized: astrings, numbers and nested lists.
fn ext_value<'a>(p: &mut P<'a>) -> R<ExtValue<'a>> {
    if p.peek_is(b'(')? {
        p.enter()?;
        let v = p.paren_list(ext_value)?;
        p.leave();
        return Ok(ExtValue::List(v));
    }
    Ok(ExtValue::String(p.astring()?))
}

fn status_value<'a>(p: &mut P<'a>) -> R<StatusValue<'a>> {
    let (w, k) = p.word_key()?;
    p.sp()?;
    Ok(kw_match!(k, {
        b"MESSAGES" => StatusValue::Messages(p.number()?),
        b"UIDNEXT" => StatusValue::UidNext(p.nz_number()?),
        b"UIDVALIDITY" => StatusValue::UidValidity(p.nz_number()?),
        b"UNSEEN" => StatusValue::Unseen(p.number()?),
        b"DELETED" => StatusValue::Deleted(p.number()?),
        b"SIZE" => StatusValue::Size(p.number64()?),
        b"RECENT" => StatusValue::Recent(p.number()?),
        b"HIGHESTMODSEQ" => StatusValue::HighestModSeq(p.number64()?),
        b"APPENDLIMIT" => {
            if p.is_nil()? {
                p.i += 3;
                StatusValue::AppendLimit(None)
            } else {
                StatusValue::AppendLimit(Some(p.number64()?))
            }
        },
        b"MAILBOXID" => {
            let id = super::body::objectid(p)?;
            StatusValue::MailboxId(Atom::unvalidated(super::ascii(id)))
        },
        _ => {
            p.i -= w.len() + 1;
            return p.fail("a status item");
        },
    }))
}

fn esearch<'a>(p: &mut P<'a>) -> R<Data<'a>> {
    let mut tag = None;
    let mut uid = false;
    if p.looking_at(b" (")? {
        p.i += 2;
        p.kw(b"TAG")?;
        p.sp()?;
        tag = Some(p.astring()?);
        p.byte(b')', ")")?;
    }
    if p.looking_at(b" UID")? && matches!(p.b.get(p.i + 4), Some(b' ' | b'\r' | b'\n')) {
        p.i += 4;
        uid = true;
    }
    let mut items = Vec::new();
    while p.eat(b' ')? {
        let (raw, k) = p.run_key(C_ATOM, "an atom")?;
        p.sp()?;
        items.push(kw_match!(k, {
            b"MIN" => SearchReturnData::Min(p.nz_number()?),
            b"MAX" => SearchReturnData::Max(p.nz_number()?),
            b"ALL" => SearchReturnData::All(p.sequence_set(false, false)?),
            b"COUNT" => SearchReturnData::Count(p.number()?),
            b"MODSEQ" => SearchReturnData::ModSeq(p.nz_number64()?.get()),
            _ => {
                let v = match ext_value(p)? {
                    ExtValue::String(s) => s,
                    ExtValue::List(_) => return p.fail("a simple extension value"),
                };
                SearchReturnData::Other(Atom::unvalidated(super::ascii(raw)), v)
            },
        }));
    }
    Ok(Data::ESearch { tag, uid, items })
}

/// `thread-list = "(" (thread-members / thread-nested) ")"`
fn thread(p: &mut P<'_>) -> R<Thread> {
    p.enter()?;
    p.byte(b'(', "(")?;
    let mut messages = Vec::new();
    let mut children = Vec::new();
    loop {
        match p.peek()? {
            b')' => break,
            b'(' => children.push(thread(p)?),
            b' ' if !messages.is_empty() && children.is_empty() => p.i += 1,
            _ if children.is_empty() => messages.push(p.nz_number()?),
            _ => return p.fail("( or )"),
        }
    }
    p.i += 1;
    p.leave();
    if messages.is_empty() && children.is_empty() {
        return p.fail("a thread member");
    }
    Ok(Thread { messages, children })
}

/// `namespace = nil / "(" 1*namespace-descr ")"`
fn namespace<'a>(p: &mut P<'a>) -> R<Option<Vec1<NamespaceDesc<'a>>>> {
    if p.is_nil()? {
        p.i += 3;
        return Ok(None);
    }
    p.byte(b'(', "(")?;
    let mut v = Vec::new();
    loop {
        p.byte(b'(', "(")?;
        let prefix = p.string()?;
        p.sp()?;
        let delimiter = p.delimiter()?;
        let mut extensions = Vec::new();
        while p.eat(b' ')? {
            let name = p.string()?;
            p.sp()?;
            let vals = p.paren_list1(P::string)?;
            extensions.push((name, vals));
        }
        p.byte(b')', ")")?;
        v.push(NamespaceDesc {
            prefix,
            delimiter,
            extensions,
        });
        if p.eat(b')')? {
            break;
        }
    }
    Ok(Some(Vec1::unvalidated(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DecodeOptions;

    fn tagged(wire: &[u8]) -> R<StatusResponse<'_>> {
        match response(&mut P::new(wire, DecodeOptions::default()))? {
            Response::Status(s) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    /// Tag and text come from one UTF-8 check of the line; a line that is not all UTF-8
    /// (in the text or in a code's argument) still gives the tag and a lossy text.
    #[test]
    fn tagged_tag_and_text_with_and_without_utf8() {
        let s = tagged(b"a3 OK [READ-WRITE] SELECT completed\r\n").unwrap();
        assert_eq!(s.tag.unwrap().as_str(), "a3");
        assert_eq!(s.code, Some(Code::ReadWrite));
        assert_eq!(s.text.as_str(), "SELECT completed");
        let s = tagged("x1 NO Données\r\n".as_bytes()).unwrap();
        assert_eq!(
            (s.tag.unwrap().as_str(), s.text.as_str()),
            ("x1", "Données")
        );
        let s = tagged(b"x2 NO d\xe9j\xe0\r\n").unwrap();
        assert_eq!(
            (s.tag.unwrap().as_str(), s.text.as_str()),
            ("x2", "d\u{fffd}j\u{fffd}")
        );
        let s = tagged(b"x3 BAD [X-CODE a\xff] fine\r\n").unwrap();
        assert_eq!((s.tag.unwrap().as_str(), s.text.as_str()), ("x3", "fine"));
        assert!(matches!(s.code, Some(Code::Other(..))));
        let s = tagged(b"x4 OK\r\n").unwrap();
        assert_eq!((s.tag.unwrap().as_str(), s.text.as_str()), ("x4", ""));
        assert!(matches!(tagged(b"x5 OK a\0b\r\n"), Err(PErr::Fail { .. })));
        assert_eq!(tagged(b"x6 OK abc"), Err(PErr::Incomplete));
        // Controls other than CR, LF and NUL stay in the text (the word scan stops on them).
        let s = tagged(b"x7 OK a\tb\x0bc\x01d 0123456789abcdef\r\n").unwrap();
        assert_eq!(s.text.as_str(), "a\tb\x0bc\x01d 0123456789abcdef");
    }
}
