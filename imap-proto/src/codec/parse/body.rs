//! FETCH sections, message data items, ENVELOPE and BODYSTRUCTURE.

use std::num::NonZeroU32;

use super::{P, R, kw_match, up};
use crate::types::body::{
    Address, BodyExtension, BodyFields, BodyKind, BodyParams, BodyStructure, DispositionExt,
    Envelope, Language, LanguageExt, LocationExt, MultiPartExt, SinglePartExt,
};
use crate::types::core::{IString, StrForm, Vec1};
use crate::types::fetch::{FetchData, MessageDataItem, Part, Section};

/// `section = "[" [section-spec] "]"`; `None` is `[]`.
pub(crate) fn section<'a>(p: &mut P<'a>) -> R<Option<Section<'a>>> {
    p.byte(b'[', "[")?;
    if p.eat(b']')? {
        return Ok(None);
    }
    let mut part = Vec::new();
    let s = loop {
        if p.peek()?.is_ascii_digit() {
            part.push(p.nz_number()?);
            if p.eat(b'.')? {
                continue;
            }
            break Section::Part(Part(Vec1::unvalidated(part)));
        }
        let w = p.word()?;
        let mut buf = [0u8; 32];
        let part = if part.is_empty() {
            None
        } else {
            Some(Part(Vec1::unvalidated(std::mem::take(&mut part))))
        };
        break match up(w, &mut buf) {
            b"HEADER" => Section::Header(part),
            b"TEXT" => Section::Text(part),
            b"MIME" => match part {
                Some(part) => Section::Mime(part),
                None => return p.fail("a part number before MIME"),
            },
            b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
                p.sp()?;
                let fields = p.paren_list1(P::astring)?;
                if w.len() > 13 {
                    Section::HeaderFieldsNot(part, fields)
                } else {
                    Section::HeaderFields(part, fields)
                }
            }
            _ => {
                p.i -= w.len();
                return p.fail("HEADER, HEADER.FIELDS, TEXT or MIME");
            }
        };
    };
    p.byte(b']', "]")?;
    Ok(Some(s))
}

/// `section-binary = "[" [section-part] "]"`
pub(crate) fn section_binary(p: &mut P<'_>) -> R<Vec<NonZeroU32>> {
    p.byte(b'[', "[")?;
    let mut v = Vec::new();
    if p.eat(b']')? {
        return Ok(v);
    }
    loop {
        v.push(p.nz_number()?);
        if !p.eat(b'.')? {
            break;
        }
    }
    p.byte(b']', "]")?;
    Ok(v)
}

/// `* n FETCH (msg-att ...)` after `n FETCH SP`.
pub(crate) fn fetch_data<'a>(p: &mut P<'a>, seq: NonZeroU32) -> R<FetchData<'a>> {
    let items = p.paren_list1(msg_att)?;
    Ok(FetchData { seq, items })
}

#[allow(clippy::too_many_lines)]
fn msg_att<'a>(p: &mut P<'a>) -> R<MessageDataItem<'a>> {
    let (w, k) = p.word_key()?;
    Ok(kw_match!(k, {
        b"FLAGS" => {
            p.sp()?;
            MessageDataItem::Flags(p.paren_list(P::flag_fetch)?)
        },
        b"UID" => {
            p.sp()?;
            MessageDataItem::Uid(p.nz_number()?)
        },
        b"RFC822.SIZE" => {
            p.sp()?;
            MessageDataItem::Rfc822Size(p.number64()?)
        },
        b"INTERNALDATE" => {
            p.sp()?;
            MessageDataItem::InternalDate(p.date_time()?)
        },
        b"ENVELOPE" => {
            p.sp()?;
            MessageDataItem::Envelope(Box::new(envelope(p)?))
        },
        b"RFC822" => {
            p.sp()?;
            MessageDataItem::Rfc822(p.nstring()?)
        },
        b"RFC822.HEADER" => {
            p.sp()?;
            MessageDataItem::Rfc822Header(p.nstring()?)
        },
        b"RFC822.TEXT" => {
            p.sp()?;
            MessageDataItem::Rfc822Text(p.nstring()?)
        },
        b"BODYSTRUCTURE" => {
            p.sp()?;
            MessageDataItem::BodyStructure(Box::new(body(p)?))
        },
        b"BODY" => {
            if p.peek_is(b'[')? {
                let section = section(p)?;
                let origin = origin(p)?;
                p.sp()?;
                MessageDataItem::BodySection {
                    section,
                    origin,
                    data: p.nstring()?,
                }
            } else {
                p.sp()?;
                MessageDataItem::Body(Box::new(body(p)?))
            }
        },
        b"BINARY" => {
            let part = section_binary(p)?;
            let origin = origin(p)?;
            p.sp()?;
            MessageDataItem::Binary {
                part,
                origin,
                data: super::command::nstring8(p)?,
            }
        },
        b"BINARY.SIZE" => {
            let part = section_binary(p)?;
            p.sp()?;
            MessageDataItem::BinarySize {
                part,
                size: p.number64()?,
            }
        },
        b"MODSEQ" => {
            p.sp()?;
            p.byte(b'(', "(")?;
            let m = p.number64()?;
            p.byte(b')', ")")?;
            MessageDataItem::ModSeq(m)
        },
        b"EMAILID" => {
            p.sp()?;
            MessageDataItem::EmailId(IString::unvalidated(objectid(p)?, StrForm::Atom))
        },
        b"THREADID" => {
            p.sp()?;
            if p.is_nil()? {
                p.i += 3;
                MessageDataItem::ThreadId(None)
            } else {
                MessageDataItem::ThreadId(Some(IString::unvalidated(objectid(p)?, StrForm::Atom)))
            }
        },
        b"SAVEDATE" => {
            p.sp()?;
            if p.is_nil()? {
                p.i += 3;
                MessageDataItem::SaveDate(None)
            } else {
                MessageDataItem::SaveDate(Some(p.date_time()?))
            }
        },
        b"PREVIEW" => {
            p.sp()?;
            MessageDataItem::Preview(p.nstring()?)
        },
        _ => {
            p.i -= w.len();
            return p.fail("a message data item");
        },
    }))
}

/// `"(" objectid ")"`; objectid = 1*255(ALPHA / DIGIT / "_" / "-")
pub(crate) fn objectid<'a>(p: &mut P<'a>) -> R<&'a [u8]> {
    p.byte(b'(', "(")?;
    let id = p.take_while(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')?;
    if id.is_empty() || id.len() > 255 {
        return p.fail("an object id");
    }
    p.byte(b')', ")")?;
    Ok(id)
}

fn origin(p: &mut P<'_>) -> R<Option<u32>> {
    if !p.eat(b'<')? {
        return Ok(None);
    }
    let n = p.number()?;
    p.byte(b'>', ">")?;
    Ok(Some(n))
}

/// `envelope`
pub(crate) fn envelope<'a>(p: &mut P<'a>) -> R<Envelope<'a>> {
    p.byte(b'(', "(")?;
    let date = p.nstring()?;
    p.sp()?;
    let subject = p.nstring()?;
    p.sp()?;
    let from = addresses(p)?;
    p.sp()?;
    let sender = addresses(p)?;
    p.sp()?;
    let reply_to = addresses(p)?;
    p.sp()?;
    let to = addresses(p)?;
    p.sp()?;
    let cc = addresses(p)?;
    p.sp()?;
    let bcc = addresses(p)?;
    p.sp()?;
    let in_reply_to = p.nstring()?;
    p.sp()?;
    let message_id = p.nstring()?;
    p.byte(b')', ")")?;
    Ok(Envelope {
        date,
        subject,
        from,
        sender,
        reply_to,
        to,
        cc,
        bcc,
        in_reply_to,
        message_id,
    })
}

/// `"(" 1*address ")" / nil`
fn addresses<'a>(p: &mut P<'a>) -> R<Vec<Address<'a>>> {
    if p.is_nil()? {
        p.i += 3;
        return Ok(Vec::new());
    }
    p.byte(b'(', "(")?;
    // Most address lists hold one address.
    let mut v = Vec::with_capacity(1);
    loop {
        v.push(address(p)?);
        if p.opts.quirk_spaces_between_addresses && p.peek_is(b' ')? {
            p.i += 1;
        }
        if p.eat(b')')? {
            return Ok(v);
        }
    }
}

fn address<'a>(p: &mut P<'a>) -> R<Address<'a>> {
    p.byte(b'(', "(")?;
    let name = p.nstring()?;
    p.sp()?;
    let adl = p.nstring()?;
    p.sp()?;
    let mailbox = p.nstring()?;
    p.sp()?;
    let host = p.nstring()?;
    p.byte(b')', ")")?;
    Ok(Address {
        name,
        adl,
        mailbox,
        host,
    })
}

/// `body = "(" (body-type-1part / body-type-mpart) ")"`
pub(crate) fn body<'a>(p: &mut P<'a>) -> R<BodyStructure<'a>> {
    p.enter()?;
    p.byte(b'(', "(")?;
    let b = if p.peek_is(b'(')? {
        multipart(p)?
    } else {
        single(p)?
    };
    p.byte(b')', ")")?;
    p.leave();
    Ok(b)
}

fn multipart<'a>(p: &mut P<'a>) -> R<BodyStructure<'a>> {
    // Room for a few parts at once (growing from one part would move them all).
    let mut parts = Vec::with_capacity(4);
    parts.push(body(p)?);
    while p.peek_is(b'(')? {
        parts.push(body(p)?);
    }
    p.sp()?;
    let media_subtype = p.string()?;
    let ext = if p.eat(b' ')? {
        let params = body_params(p)?;
        Some(MultiPartExt {
            params,
            tail: disposition_ext(p)?,
        })
    } else {
        None
    };
    Ok(BodyStructure::Multi {
        parts: Vec1::unvalidated(parts),
        media_subtype,
        ext,
    })
}

fn single<'a>(p: &mut P<'a>) -> R<BodyStructure<'a>> {
    let media_type = p.string()?;
    p.sp()?;
    let media_subtype = p.string()?;
    p.sp()?;
    let fields = body_fields(p)?;
    let t = media_type.as_bytes();
    let kind = if t.eq_ignore_ascii_case(b"TEXT") {
        p.sp()?;
        BodyKind::Text { lines: p.number()? }
    } else if t.eq_ignore_ascii_case(b"MESSAGE")
        && (media_subtype.as_bytes().eq_ignore_ascii_case(b"RFC822")
            || media_subtype.as_bytes().eq_ignore_ascii_case(b"GLOBAL"))
    {
        p.sp()?;
        let envelope = Box::new(envelope(p)?);
        p.sp()?;
        let body = Box::new(body(p)?);
        p.sp()?;
        BodyKind::Message {
            envelope,
            body,
            lines: p.number()?,
        }
    } else {
        BodyKind::Basic
    };
    let ext = if p.eat(b' ')? {
        let md5 = p.nstring()?;
        Some(SinglePartExt {
            md5,
            tail: disposition_ext(p)?,
        })
    } else {
        None
    };
    Ok(BodyStructure::Single {
        media_type,
        media_subtype,
        fields,
        kind,
        ext,
    })
}

/// `body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP
/// body-fld-octets`
fn body_fields<'a>(p: &mut P<'a>) -> R<BodyFields<'a>> {
    let params = body_params(p)?;
    p.sp()?;
    let id = p.nstring()?;
    p.sp()?;
    let description = p.nstring()?;
    p.sp()?;
    let encoding = if p.opts.quirk_body_fld_enc_nil && p.is_nil()? {
        p.i += 3;
        IString::unvalidated(b"", StrForm::Quoted)
    } else {
        p.string()?
    };
    p.sp()?;
    let octets = p.number()?;
    Ok(BodyFields {
        params,
        id,
        description,
        encoding,
        octets,
    })
}

/// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`
fn body_params<'a>(p: &mut P<'a>) -> R<BodyParams<'a>> {
    if p.is_nil()? {
        p.i += 3;
        return Ok(Vec::new());
    }
    let start = p.i;
    let v = p.paren_list(|p| {
        let k = p.string()?;
        p.sp()?;
        let v = if p.opts.quirk_body_fld_param_nil && p.is_nil()? {
            p.i += 3;
            IString::unvalidated(b"", StrForm::Quoted)
        } else {
            p.string()?
        };
        Ok((k, v))
    })?;
    if v.is_empty() && !p.opts.quirk_empty_body_fld_param {
        p.i = start;
        return p.fail("NIL or parameters");
    }
    Ok(v)
}

fn disposition_ext<'a>(p: &mut P<'a>) -> R<Option<DispositionExt<'a>>> {
    if !p.eat(b' ')? {
        return Ok(None);
    }
    let disposition = if p.is_nil()? {
        p.i += 3;
        None
    } else {
        p.byte(b'(', "(")?;
        let t = p.string()?;
        p.sp()?;
        let params = body_params(p)?;
        p.byte(b')', ")")?;
        Some((t, params))
    };
    let tail = if p.eat(b' ')? {
        let language = if p.peek_is(b'(')? {
            Language::List(p.paren_list1(P::string)?)
        } else {
            Language::Single(p.nstring()?)
        };
        let tail = if p.eat(b' ')? {
            let location = p.nstring()?;
            let mut extensions = Vec::new();
            while p.eat(b' ')? {
                extensions.push(body_extension(p)?);
            }
            Some(LocationExt {
                location,
                extensions,
            })
        } else {
            None
        };
        Some(LanguageExt { language, tail })
    } else {
        None
    };
    Ok(Some(DispositionExt { disposition, tail }))
}

fn body_extension<'a>(p: &mut P<'a>) -> R<BodyExtension<'a>> {
    match p.peek()? {
        b'(' => {
            p.enter()?;
            let v = p.paren_list1(body_extension)?;
            p.leave();
            Ok(BodyExtension::List(v))
        }
        c if c.is_ascii_digit() => Ok(BodyExtension::Number(p.number64()?)),
        _ => Ok(BodyExtension::NString(p.nstring()?)),
    }
}
