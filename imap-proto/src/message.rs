//! ENVELOPE, BODY/BODYSTRUCTURE and `BODY[section]` data built from a message (feature
//! `mail-parser`), for servers that store raw messages (a Maildir).
//!
//! The message is parsed once with `mail-parser` 0.11 (MIME, RFC 2047/2231); the results
//! follow Dovecot on the wire: header values as sent (unfolded, encoded words kept), part sizes
//! in transfer-encoded octets, line counts as the number of LF in the encoded body, the
//! CRLF before a boundary belonging to the boundary, `text/plain; charset=us-ascii` and `7bit`
//! as defaults, `message/rfc822` as the default inside `multipart/digest`. Display names that
//! `mail-parser` had to decode are sent back RFC 2047-encoded when they are not ASCII.
//!
//! ```
//! use imap_proto::message::MessageStructure;
//! use imap_proto::types::{BodyKind, BodyStructure};
//!
//! let raw = b"From: Ann <ann@example.org>\r\nSubject: hi\r\n\r\nHello\r\n";
//! let m = MessageStructure::parse(raw);
//! assert_eq!(m.envelope.subject.as_ref().unwrap().as_bytes(), b"hi");
//! assert!(matches!(
//!     &m.body_structure,
//!     BodyStructure::Single { kind: BodyKind::Text { lines: 1 }, fields, .. } if fields.octets == 7
//! ));
//! assert_eq!(imap_proto::message::section(raw, None), Some(&raw[..]));
//! ```

use mail_parser::{HeaderName, Message, MessageParser, MessagePart, PartType};

use crate::types::body::{
    Address, BodyFields, BodyKind, BodyParams, BodyStructure, DispositionExt, Envelope, Language,
    LanguageExt, LocationExt, MultiPartExt, SinglePartExt,
};
use crate::types::core::{IString, StrForm, Vec1};
use crate::types::fetch::Section;

/// Nested messages deeper than this are described as opaque parts.
const MAX_DEPTH: usize = 16;

/// What a server needs to answer ENVELOPE, BODY and BODYSTRUCTURE for one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageStructure {
    /// The ENVELOPE.
    pub envelope: Envelope<'static>,
    /// The BODYSTRUCTURE (with extension data); BODY is
    /// [`BodyStructure::without_extensions`] of it.
    pub body_structure: BodyStructure<'static>,
}

impl MessageStructure {
    /// Describes a raw message. Never fails: what `mail-parser` cannot read is described as
    /// a text part holding the whole body.
    pub fn parse(raw: &[u8]) -> Self {
        let parser = MessageParser::default();
        match parser.parse(raw) {
            Some(msg) => Self {
                envelope: envelope(&msg, raw),
                body_structure: structure(&msg, raw, 0),
            },
            None => Self {
                envelope: Envelope::default(),
                body_structure: text_plain(raw.len(), count_lines(raw)),
            },
        }
    }
}

fn text_plain(octets: usize, lines: u32) -> BodyStructure<'static> {
    BodyStructure::Single {
        media_type: s("text"),
        media_subtype: s("plain"),
        fields: BodyFields {
            params: vec![(s("charset"), s("us-ascii"))],
            id: None,
            description: None,
            encoding: s("7bit"),
            octets: octets as u32,
        },
        kind: BodyKind::Text { lines },
        ext: None,
    }
}

fn s(v: &str) -> IString<'static> {
    let mut st = IString::try_from(v.replace('\0', ""))
        .unwrap_or_else(|_| IString::unvalidated(b"", StrForm::Quoted));
    if st.form() == StrForm::Atom {
        st.set_form(StrForm::Quoted);
    }
    st
}

fn count_lines(b: &[u8]) -> u32 {
    memchr::memchr_iter(b'\n', b).count() as u32
}

/// A header's raw value: unfolded (CR and LF removed, as Dovecot does), outer whitespace
/// trimmed; `None` when absent or empty.
fn raw_header(
    part: &MessagePart<'_>,
    raw: &[u8],
    name: &HeaderName<'_>,
) -> Option<IString<'static>> {
    // The last occurrence wins, as in Dovecot.
    let h = part.headers.iter().rfind(|h| &h.name == name)?;
    let v = raw.get(h.offset_start as usize..h.offset_end as usize)?;
    let unfolded: Vec<u8> = v
        .iter()
        .copied()
        .filter(|&c| c != b'\r' && c != b'\n' && c != 0)
        .collect();
    let t = trim(&unfolded);
    if t.is_empty() {
        return None;
    }
    let mut st = IString::new(t.to_vec()).ok()?;
    if st.form() == StrForm::Atom {
        st.set_form(StrForm::Quoted);
    }
    Some(st)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

fn envelope(msg: &Message<'_>, raw: &[u8]) -> Envelope<'static> {
    let root = msg.root_part();
    let from = addresses(root, &HeaderName::From);
    let mut sender = addresses(root, &HeaderName::Sender);
    let mut reply_to = addresses(root, &HeaderName::ReplyTo);
    // RFC 3501 §7.4.2: absent or empty Sender and Reply-To take the From value.
    if sender.is_empty() {
        sender.clone_from(&from);
    }
    if reply_to.is_empty() {
        reply_to.clone_from(&from);
    }
    Envelope {
        date: raw_header(root, raw, &HeaderName::Date),
        subject: raw_header(root, raw, &HeaderName::Subject),
        from,
        sender,
        reply_to,
        to: addresses(root, &HeaderName::To),
        cc: addresses(root, &HeaderName::Cc),
        bcc: addresses(root, &HeaderName::Bcc),
        in_reply_to: raw_header(root, raw, &HeaderName::InReplyTo),
        message_id: raw_header(root, raw, &HeaderName::MessageId),
    }
}

/// A display name for the envelope: as is when ASCII, else RFC 2047 encoded (mail-parser
/// has decoded it; rev1 clients need 7-bit).
fn display_name(name: &str) -> IString<'static> {
    use base64::Engine as _;
    if name.is_ascii() {
        return s(name);
    }
    let mut out = String::new();
    // Encoded words of at most 75 characters: 45 bytes of UTF-8 per word, split on char
    // boundaries.
    let mut chunk = String::new();
    let flush = |chunk: &mut String, out: &mut String| {
        if !chunk.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str("=?utf-8?b?");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(chunk.as_bytes()));
            out.push_str("?=");
            chunk.clear();
        }
    };
    for ch in name.chars() {
        if chunk.len() + ch.len_utf8() > 45 {
            flush(&mut chunk, &mut out);
        }
        chunk.push(ch);
    }
    flush(&mut chunk, &mut out);
    s(&out)
}

/// The host Dovecot reports for an address without a domain.
const MISSING_DOMAIN: &str = "MISSING_DOMAIN";

fn addr(name: Option<&str>, address: Option<&str>) -> Option<Address<'static>> {
    let (name, address) = match (name, address) {
        (n, Some(a)) if !a.is_empty() => (n, a),
        // A bare word (`From: Whomever`) is a mailbox without a domain.
        (Some(n), _) if !n.is_empty() => (None, n),
        _ => return None,
    };
    let (mailbox, host) = match address.rfind('@') {
        Some(at) if at + 1 < address.len() => (&address[..at], &address[at + 1..]),
        Some(at) => (&address[..at], MISSING_DOMAIN),
        None => (address, MISSING_DOMAIN),
    };
    Some(Address {
        name: name.filter(|n| !n.is_empty()).map(display_name),
        adl: None,
        mailbox: Some(s(mailbox)),
        host: Some(s(host)),
    })
}

fn addresses(part: &MessagePart<'_>, name: &HeaderName<'_>) -> Vec<Address<'static>> {
    let Some(h) = part.headers.iter().rfind(|h| &h.name == name) else {
        return Vec::new();
    };
    let Some(a) = h.value.as_address() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match a {
        mail_parser::Address::List(list) => {
            out.extend(
                list.iter()
                    .filter_map(|x| addr(x.name.as_deref(), x.address.as_deref())),
            );
        }
        mail_parser::Address::Group(groups) => {
            for g in groups {
                match &g.name {
                    // RFC 3501: a group is a start marker (mailbox = group name, host NIL),
                    // its members, and an end marker (mailbox and host NIL).
                    Some(gn) => {
                        out.push(Address {
                            name: None,
                            adl: None,
                            mailbox: Some(s(gn)),
                            host: None,
                        });
                        out.extend(
                            g.addresses
                                .iter()
                                .filter_map(|x| addr(x.name.as_deref(), x.address.as_deref())),
                        );
                        out.push(Address {
                            name: None,
                            adl: None,
                            mailbox: None,
                            host: None,
                        });
                    }
                    None => out.extend(
                        g.addresses
                            .iter()
                            .filter_map(|x| addr(x.name.as_deref(), x.address.as_deref())),
                    ),
                }
            }
        }
    }
    out
}

fn params_of(ct: Option<&mail_parser::ContentType<'_>>) -> BodyParams<'static> {
    ct.and_then(|c| c.attributes.as_ref())
        .map(|attrs| attrs.iter().map(|a| (s(&a.name), s(&a.value))).collect())
        .unwrap_or_default()
}

fn content_type<'p>(part: &'p MessagePart<'_>) -> Option<&'p mail_parser::ContentType<'p>> {
    part.headers
        .iter()
        .find(|h| h.name == HeaderName::ContentType)
        .and_then(|h| h.value.as_content_type())
}

fn disposition(part: &MessagePart<'_>) -> Option<(IString<'static>, BodyParams<'static>)> {
    let d = part
        .headers
        .iter()
        .find(|h| h.name == HeaderName::ContentDisposition)
        .and_then(|h| h.value.as_content_type())?;
    Some((s(&d.c_type), params_of(Some(d))))
}

fn language(part: &MessagePart<'_>) -> Language<'static> {
    let Some(h) = part
        .headers
        .iter()
        .find(|h| h.name == HeaderName::ContentLanguage)
    else {
        return Language::Single(None);
    };
    let list: Vec<IString<'static>> = match &h.value {
        mail_parser::HeaderValue::Text(t) => vec![s(t)],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| s(t)).collect(),
        _ => Vec::new(),
    };
    // Dovecot always sends the list form, one tag or many.
    match Vec1::try_from(list) {
        Ok(v) => Language::List(v),
        Err(_) => Language::Single(None),
    }
}

fn tail(part: &MessagePart<'_>, raw: &[u8]) -> DispositionExt<'static> {
    DispositionExt {
        disposition: disposition(part),
        tail: Some(LanguageExt {
            language: language(part),
            tail: Some(LocationExt {
                location: raw_header(part, raw, &HeaderName::ContentLocation),
                extensions: Vec::new(),
            }),
        }),
    }
}

/// The structure of `msg`'s root part (offsets are into `raw`, the bytes `msg` was parsed
/// from, which for a nested message are the outer message's).
fn structure(msg: &Message<'_>, raw: &[u8], depth: usize) -> BodyStructure<'static> {
    part_structure(msg, 0, raw, depth, false)
}

fn part_structure(
    msg: &Message<'_>,
    id: u32,
    raw: &[u8],
    depth: usize,
    in_digest: bool,
) -> BodyStructure<'static> {
    let Some(part) = msg.parts.get(id as usize) else {
        return text_plain(0, 0);
    };
    let ct = content_type(part);
    let body_raw = raw
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    if let PartType::Multipart(children) = &part.body
        && depth < MAX_DEPTH
        && !children.is_empty()
    {
        let subtype = ct
            .and_then(|c| c.c_subtype.as_deref())
            .unwrap_or("mixed")
            .to_owned();
        let digest = subtype.eq_ignore_ascii_case("digest");
        let parts: Vec<BodyStructure<'static>> = children
            .iter()
            .map(|&c| part_structure(msg, c, raw, depth + 1, digest))
            .collect();
        return BodyStructure::Multi {
            parts: Vec1::unvalidated(parts),
            media_subtype: s(&subtype),
            ext: Some(MultiPartExt {
                params: params_of(ct),
                tail: Some(tail(part, raw)),
            }),
        };
    }
    let (t, st) = match ct {
        Some(c) => (
            c.c_type.to_string(),
            c.c_subtype.as_deref().unwrap_or("").to_string(),
        ),
        None if in_digest => ("message".to_owned(), "rfc822".to_owned()),
        None => ("text".to_owned(), "plain".to_owned()),
    };
    let mut params = params_of(ct);
    // RFC 2045 §5.2: text without a charset is us-ascii; Dovecot states it.
    if t.eq_ignore_ascii_case("text")
        && !params
            .iter()
            .any(|(k, _)| k.as_bytes().eq_ignore_ascii_case(b"charset"))
    {
        params.push((s("charset"), s("us-ascii")));
    }
    // A transfer encoding that is not one token (`8 bit`) is ignored: the default applies.
    let encoding = raw_header(part, raw, &HeaderName::ContentTransferEncoding)
        .filter(|e| {
            !e.as_bytes()
                .iter()
                .any(|c| c.is_ascii_whitespace() || *c == b';')
        })
        .unwrap_or_else(|| s("7bit"));
    let fields = BodyFields {
        params,
        id: raw_header(part, raw, &HeaderName::ContentId),
        description: raw_header(part, raw, &HeaderName::ContentDescription),
        encoding,
        octets: body_raw.len() as u32,
    };
    let lines = count_lines(body_raw);
    let kind = if t.eq_ignore_ascii_case("text") {
        BodyKind::Text { lines }
    } else if t.eq_ignore_ascii_case("message")
        && (st.eq_ignore_ascii_case("rfc822") || st.eq_ignore_ascii_case("global"))
    {
        match &part.body {
            PartType::Message(inner) if depth < MAX_DEPTH => {
                let inner_raw: &[u8] = &inner.raw_message;
                BodyKind::Message {
                    envelope: Box::new(envelope(inner, inner_raw)),
                    body: Box::new(structure(inner, inner_raw, depth + 1)),
                    lines,
                }
            }
            _ => BodyKind::Message {
                envelope: Box::default(),
                body: Box::new(text_plain(0, 0)),
                lines,
            },
        }
    } else {
        BodyKind::Basic
    };
    BodyStructure::Single {
        media_type: s(&t),
        media_subtype: s(if st.is_empty() { "plain" } else { &st }),
        fields,
        kind,
        ext: Some(SinglePartExt {
            md5: raw_header(part, raw, &HeaderName::Other("Content-MD5".into())),
            tail: Some(tail(part, raw)),
        }),
    }
}

/// The bytes `BODY[section]` returns (RFC 9051 §6.4.5), or `None` if the message has no such
/// part. `None` as the section is `BODY[]`, the whole message.
///
/// Part numbers follow the body structure: in a non-multipart message, part 1 is the body;
/// `n.HEADER`/`n.TEXT` address the message inside a `message/rfc822` part; `n.MIME` is a
/// part's own MIME header. `HEADER.FIELDS` is not a contiguous range: use
/// [`header_fields`] for it.
pub fn section<'a>(raw: &'a [u8], section: Option<&Section<'_>>) -> Option<&'a [u8]> {
    let Some(sec) = section else {
        return Some(raw);
    };
    let parser = MessageParser::default();
    let msg = parser.parse(raw)?;
    let (path, what) = match sec {
        Section::Part(p) => (p.0.as_slice(), What::Content),
        Section::Header(p) => (p.as_ref().map_or(&[][..], |p| p.0.as_slice()), What::Header),
        Section::Text(p) => (p.as_ref().map_or(&[][..], |p| p.0.as_slice()), What::Text),
        Section::Mime(p) => (p.0.as_slice(), What::Mime),
        Section::HeaderFields(..) | Section::HeaderFieldsNot(..) => return None,
    };
    let (start, end) = locate(&msg, raw, path, what)?;
    raw.get(start..end)
}

#[derive(Clone, Copy, PartialEq)]
enum What {
    Content,
    Header,
    Text,
    Mime,
}

/// The byte range for a section, resolved through nested messages. Only inline (not
/// re-encoded) nested messages share the outer offsets; others are not addressable.
fn locate(
    msg: &Message<'_>,
    raw: &[u8],
    path: &[std::num::NonZeroU32],
    what: What,
) -> Option<(usize, usize)> {
    let mut cur = msg;
    let mut id: u32 = 0;
    let mut rest = path;
    // `id` is the part that the path so far names; start at the root.
    while let Some((&n, tail)) = rest.split_first() {
        let part = cur.parts.get(id as usize)?;
        match &part.body {
            PartType::Multipart(children) => {
                id = *children.get(n.get() as usize - 1)?;
            }
            PartType::Message(inner) if id != 0 || !std::ptr::eq(cur, msg) => {
                // Inside a message/rfc822 part: descend into the enclosed message.
                if inner.raw_message.len() != raw.len() {
                    return None;
                }
                cur = inner;
                id = 0;
                continue;
            }
            _ => {
                // A non-multipart part: only ".1" names it again (its body).
                if n.get() != 1 {
                    return None;
                }
            }
        }
        rest = tail;
        // A message/rfc822 part addressed with HEADER/TEXT (or further numbers) means the
        // enclosed message.
        if let Some(p) = cur.parts.get(id as usize)
            && let PartType::Message(inner) = &p.body
            && (!rest.is_empty() || matches!(what, What::Header | What::Text))
        {
            if inner.raw_message.len() != raw.len() {
                return None;
            }
            cur = inner;
            id = 0;
        }
    }
    let part = cur.parts.get(id as usize)?;
    let r = match what {
        What::Content => {
            if id == 0 && path.is_empty() {
                (part.offset_header as usize, part.offset_end as usize)
            } else {
                (part.offset_body as usize, part.offset_end as usize)
            }
        }
        What::Header | What::Mime => (part.offset_header as usize, part.offset_body as usize),
        What::Text => (part.offset_body as usize, part.offset_end as usize),
    };
    (r.0 <= r.1 && r.1 <= raw.len()).then_some(r)
}

/// `BODY[HEADER.FIELDS (...)]` / `.NOT`: the header lines of the top-level message whose names
/// are (or, with `not`, are not) in `names`, followed by the empty line.
pub fn header_fields(raw: &[u8], names: &[IString<'_>], not: bool) -> Vec<u8> {
    let end = raw
        .windows(2)
        .enumerate()
        .find_map(|(i, w)| {
            (w == b"\n\n").then_some(i + 1).or_else(|| {
                (w[0] == b'\n' && raw.get(i + 1..i + 3) == Some(b"\r\n")).then_some(i + 1)
            })
        })
        .unwrap_or(raw.len());
    let header = &raw[..end];
    let mut out = Vec::new();
    let mut i = 0;
    while i < header.len() {
        // One field: its first line and the continuation lines.
        let mut j = i;
        loop {
            let Some(lf) = memchr::memchr(b'\n', &header[j..]) else {
                j = header.len();
                break;
            };
            j += lf + 1;
            if j >= header.len() || !matches!(header[j], b' ' | b'\t') {
                break;
            }
        }
        let field = &header[i..j];
        let name = field.split(|&c| c == b':').next().unwrap_or_default();
        let name = trim(name);
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if listed != not && !field.iter().all(u8::is_ascii_whitespace) {
            out.extend_from_slice(field);
        }
        i = j;
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn part(p: &[u32]) -> crate::types::fetch::Part {
        crate::types::fetch::Part(Vec1::unvalidated(
            p.iter().map(|&n| NonZeroU32::new(n).unwrap()).collect(),
        ))
    }

    const MIXED: &[u8] = b"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nTo: a@example.org, Team: b@example.org, c@example.org;\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nline one\r\nline two\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: x@example.org\r\n\r\ninner body\r\n--b1--\r\n";

    #[test]
    fn envelope_and_structure() {
        let m = MessageStructure::parse(MIXED);
        let e = &m.envelope;
        assert_eq!(
            e.subject.as_ref().unwrap().as_bytes(),
            b"=?utf-8?q?gr=C3=BC=C3=9Fe?="
        );
        assert_eq!(e.from.len(), 1);
        assert_eq!(e.from[0].host.as_ref().unwrap().as_bytes(), b"example.org");
        assert_eq!(
            e.from[0].name.as_ref().unwrap().as_bytes(),
            b"=?utf-8?b?SsO2cmc=?="
        );
        assert_eq!(e.sender, e.from);
        // To: a plain address and a group of two: a, start marker, b, c, end marker.
        assert_eq!(e.to.len(), 5, "{:?}", e.to);
        assert_eq!(e.to[1].mailbox.as_ref().unwrap().as_bytes(), b"Team");
        assert!(e.to[1].host.is_none() && e.to[4].mailbox.is_none());
        let BodyStructure::Multi {
            parts,
            media_subtype,
            ..
        } = &m.body_structure
        else {
            panic!("{:?}", m.body_structure)
        };
        assert_eq!(media_subtype.as_bytes(), b"mixed");
        match &parts[0] {
            BodyStructure::Single {
                fields,
                kind: BodyKind::Text { lines },
                ..
            } => {
                assert_eq!(fields.octets, 18);
                assert_eq!(*lines, 1);
            }
            other => panic!("{other:?}"),
        }
        match &parts[1] {
            BodyStructure::Single {
                kind: BodyKind::Message { envelope, body, .. },
                ..
            } => {
                assert_eq!(envelope.subject.as_ref().unwrap().as_bytes(), b"inner");
                assert!(matches!(
                    **body,
                    BodyStructure::Single {
                        kind: BodyKind::Text { .. },
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
        // It serializes and parses back.
        let mut enc = crate::codec::encode::Enc::new(crate::codec::EncodeOptions::default(), false);
        enc.body(&m.body_structure);
        let wire = enc.finish().into_bytes();
        let back = crate::codec::parse_exact(
            &wire,
            crate::codec::DecodeOptions::default(),
            crate::codec::parse::body::body,
        )
        .unwrap();
        assert_eq!(back, m.body_structure);
    }

    #[test]
    fn sections() {
        assert_eq!(
            section(MIXED, Some(&Section::Part(part(&[1])))),
            Some(&b"line one\r\nline two"[..])
        );
        assert_eq!(
            section(MIXED, Some(&Section::Mime(part(&[1])))),
            Some(&b"Content-Type: text/plain; charset=utf-8\r\n\r\n"[..])
        );
        assert_eq!(
            section(MIXED, Some(&Section::Header(Some(part(&[2]))))),
            Some(&b"Subject: inner\r\nFrom: x@example.org\r\n\r\n"[..])
        );
        assert_eq!(
            section(MIXED, Some(&Section::Text(Some(part(&[2]))))),
            Some(&b"inner body"[..])
        );
        assert_eq!(section(MIXED, Some(&Section::Part(part(&[3])))), None);
        let h = section(MIXED, Some(&Section::Header(None))).unwrap();
        assert!(h.ends_with(b"\r\n\r\n") && h.starts_with(b"From:"));
        let plain = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(
            section(plain, Some(&Section::Part(part(&[1])))),
            Some(&b"body\r\n"[..])
        );
        assert_eq!(
            section(plain, Some(&Section::Text(None))),
            Some(&b"body\r\n"[..])
        );
        let f = header_fields(MIXED, &[IString::try_from("subject").unwrap()], false);
        assert_eq!(f, b"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\n");
        let f = header_fields(MIXED, &[IString::try_from("subject").unwrap()], true);
        assert!(f.starts_with(b"From:") && !f.windows(8).any(|w| w == b"Subject:"));
    }
}
