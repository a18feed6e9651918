//! The single-pass scanner: the common, well-formed command lines (DATA, RSET, QUIT, NOOP,
//! HELO/EHLO/LHLO, BDAT, AUTH, and MAIL/RCPT with a dot-string or quoted local part, a
//! domain and known or unknown parameters) parsed in one pass over the bytes, every byte
//! checked against the grammar as it is read, every value a slice of the input.
//!
//! The scanner only ever *accepts*: whatever it does not take (any error, an address
//! literal, a source route, a quoted pair, `<Postmaster>`, an unbracketed path, ...) goes to
//! the reference parser ([`CommandParser::parse_reference`]), which decides it; so errors
//! and their precedence are the reference's by construction. What the scanner accepts, it
//! accepts with exactly the reference's value: the unit tests and the `smtp_command` fuzz
//! target compare the two on every input.

use std::borrow::Cow;

use super::{
    Command, CommandError, CommandParser, HelloVerb, MailParams, RcptParams, mail_param,
    rcpt_param, tag,
};
use crate::types::{ForwardPath, MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH, Mailbox, ReversePath};

/// A path scanned from `<` to `>`.
struct Path<'a> {
    /// `None` for `<>`; else the local part (quotes removed) and the domain.
    mailbox: Option<(&'a str, &'a str)>,
    /// Any byte above 0x7f in the local part or domain (needs SMTPUTF8 on MAIL).
    non_ascii: bool,
}

impl CommandParser {
    /// The single-pass parse of `line` (no CRLF); whatever it does not take is
    /// `fallback()` (the reference parser). The command is built in the return slot: an
    /// `Option<Command>` converted to a `Result` costs a copy of the whole command.
    #[inline]
    pub(super) fn parse_fast<'a>(
        self,
        line: &'a [u8],
        fallback: impl FnOnce() -> Result<Command<'a>, CommandError>,
    ) -> Result<Command<'a>, CommandError> {
        let mut end = line.len();
        while end > 0 && matches!(line[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        let line = &line[..end];
        let Some((&head, rest)) = line.split_first_chunk::<4>() else {
            return fallback();
        };
        let verb = u32::from_be_bytes(head) | 0x2020_2020;
        // Arguments start after exactly one space, as the reference's verb split does.
        let has_args = match rest.first() {
            None => false,
            Some(b' ') => true,
            Some(_) => return fallback(),
        };
        match verb {
            v if v == tag(*b"data") && !has_args => Ok(Command::Data),
            v if v == tag(*b"rset") && !has_args => Ok(Command::Rset),
            v if v == tag(*b"quit") && !has_args => Ok(Command::Quit),
            v if v == tag(*b"noop") && rest.is_ascii() => Ok(Command::Noop),
            _ if !has_args => fallback(),
            v if v == tag(*b"mail") => match std::str::from_utf8(line) {
                Ok(line) => self.mail_fast(line, fallback),
                Err(_) => fallback(),
            },
            v if v == tag(*b"rcpt") => match std::str::from_utf8(line) {
                Ok(line) => self.rcpt_fast(line, fallback),
                Err(_) => fallback(),
            },
            v if v == tag(*b"ehlo") => hello_fast(HelloVerb::Ehlo, line, fallback),
            v if v == tag(*b"helo") => hello_fast(HelloVerb::Helo, line, fallback),
            v if v == tag(*b"lhlo") => hello_fast(HelloVerb::Lhlo, line, fallback),
            v if v == tag(*b"bdat") => bdat_fast(line, fallback),
            v if v == tag(*b"auth") => auth_fast(line, fallback),
            _ => fallback(),
        }
    }

    /// `MAIL FROM:<path> params` (the line is UTF-8, verb included).
    fn mail_fast<'a>(
        self,
        line: &'a str,
        fallback: impl FnOnce() -> Result<Command<'a>, CommandError>,
    ) -> Result<Command<'a>, CommandError> {
        let Some((path, text)) = self.path_fast(line, b"FROM:") else {
            return fallback();
        };
        // Built in place in the result: moving a finished 200-byte MailParams into it
        // would cost a copy.
        let mut out = Ok(Command::Mail {
            from: ReversePath::Null,
            params: MailParams::default(),
        });
        if let Ok(Command::Mail { from, params }) = &mut out {
            if !text.is_empty()
                && params_fast(text, |k, v| mail_param(params, k, v).is_ok()).is_none()
            {
                return fallback();
            }
            match path.mailbox {
                None => {}
                // Non-ASCII needs SMTPUTF8 (RFC 6531 §3.4); the reference gives the error.
                Some(_) if path.non_ascii && !params.smtputf8 => return fallback(),
                Some((local, domain)) => {
                    *from = ReversePath::Mailbox(Mailbox::from_checked_parts(local, domain));
                }
            }
        }
        out
    }

    /// `RCPT TO:<path> params`.
    fn rcpt_fast<'a>(
        self,
        line: &'a str,
        fallback: impl FnOnce() -> Result<Command<'a>, CommandError>,
    ) -> Result<Command<'a>, CommandError> {
        // `<>` is refused by the reference.
        let Some((
            Path {
                mailbox: Some((local, domain)),
                ..
            },
            text,
        )) = self.path_fast(line, b"TO:")
        else {
            return fallback();
        };
        let mut out = Ok(Command::Rcpt {
            // The MAIL's SMTPUTF8 governs non-ASCII recipients: the session checks it.
            to: ForwardPath::Mailbox(Mailbox::from_checked_parts(local, domain)),
            params: RcptParams::default(),
        });
        if let Ok(Command::Rcpt { params, .. }) = &mut out
            && !text.is_empty()
            && params_fast(text, |k, v| rcpt_param(params, k, v).is_ok()).is_none()
        {
            return fallback();
        }
        out
    }

    /// After the verb: spaces, `prefix` (`FROM:`/`TO:`, any case), the optional spaces
    /// after the colon, and the bracketed path; returns it and the parameter text (empty or
    /// starting with a space).
    fn path_fast<'a>(self, line: &'a str, prefix: &[u8]) -> Option<(Path<'a>, &'a str)> {
        let b = line.as_bytes();
        let mut i = 5;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if !b.get(i..i + prefix.len())?.eq_ignore_ascii_case(prefix) {
            return None;
        }
        i += prefix.len();
        if b.get(i) == Some(&b' ') {
            if !self.allow_space_after_colon {
                return None;
            }
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
        }
        if b.get(i) != Some(&b'<') {
            return None;
        }
        let (path, end) = scan_path(line, i)?;
        let params = &line[end..];
        if !params.is_empty() && !params.starts_with(' ') {
            return None;
        }
        Some((path, params))
    }
}

/// The index of the first byte of `b` from `i` on that is not a space.
fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    i
}

/// The end of the printable-ASCII word starting at `i` (no space, no control).
fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], 0x21..=0x7e) {
        i += 1;
    }
    i
}

/// `HELO`/`EHLO`/`LHLO` name: the first word (printable ASCII here; anything else goes to
/// the reference), words after it ignored as the reference does.
fn hello_fast<'a>(
    verb: HelloVerb,
    line: &'a [u8],
    fallback: impl FnOnce() -> Result<Command<'a>, CommandError>,
) -> Result<Command<'a>, CommandError> {
    let start = skip_spaces(line, 5);
    let end = word_end(line, start);
    if end == start || (end < line.len() && line[end] != b' ') || !line[end..].is_ascii() {
        return fallback();
    }
    match std::str::from_utf8(&line[start..end]) {
        Ok(name) => Ok(Command::Hello {
            verb,
            name: Cow::Borrowed(name),
        }),
        Err(_) => fallback(),
    }
}

/// `BDAT size [LAST]`: up to 20 digits without overflow, then optionally `LAST`.
fn bdat_fast<'a>(
    line: &'a [u8],
    fallback: impl FnOnce() -> Result<Command<'a>, CommandError>,
) -> Result<Command<'a>, CommandError> {
    let mut i = skip_spaces(line, 5);
    let digits = i;
    let mut size: u64 = 0;
    while i < line.len() && line[i].is_ascii_digit() {
        let Some(n) = size
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(line[i] - b'0')))
        else {
            return fallback();
        };
        size = n;
        i += 1;
    }
    if i == digits || i - digits > 20 {
        return fallback();
    }
    if i == line.len() {
        return Ok(Command::Bdat { size, last: false });
    }
    if line[i] != b' ' {
        return fallback();
    }
    let word = skip_spaces(line, i);
    if line[word..].eq_ignore_ascii_case(b"LAST") {
        Ok(Command::Bdat { size, last: true })
    } else {
        fallback()
    }
}

/// `AUTH mechanism [initial-response]`: a mechanism of 1 to 20 letters, digits, `-`, `_`,
/// and an optional printable-ASCII response.
fn auth_fast<'a>(
    line: &'a [u8],
    fallback: impl FnOnce() -> Result<Command<'a>, CommandError>,
) -> Result<Command<'a>, CommandError> {
    let start = skip_spaces(line, 5);
    let mut i = start;
    while i < line.len() && (line[i].is_ascii_alphanumeric() || matches!(line[i], b'-' | b'_')) {
        i += 1;
    }
    let mech_end = i;
    if mech_end == start || mech_end - start > 20 || (i < line.len() && line[i] != b' ') {
        return fallback();
    }
    let ir_start = skip_spaces(line, i);
    let ir_end = word_end(line, ir_start);
    if ir_end != line.len() {
        return fallback();
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return fallback();
    };
    Ok(Command::Auth {
        mechanism: Cow::Borrowed(&text[start..mech_end]),
        initial_response: (ir_start < ir_end).then(|| Cow::Borrowed(&text[ir_start..ir_end])),
    })
}

/// Scans `"<" [ Local-part "@" Domain ] ">"` starting at `lt`, checking as it goes:
/// Dot-string (atext, no empty atom) or a Quoted-string without quoted pairs, local part at
/// most 64 octets, labels of letters, digits, inner hyphens (and UTF-8 bytes) of at most 63
/// octets, domain at most 255 and path at most 256 octets. Returns the path and the index
/// after `>`.
fn scan_path(line: &str, lt: usize) -> Option<(Path<'_>, usize)> {
    let b = line.as_bytes();
    let len = b.len();
    let start = lt + 1;
    let mut i = start;
    let local = match *b.get(i)? {
        b'>' => {
            return Some((
                Path {
                    mailbox: None,
                    non_ascii: false,
                },
                i + 1,
            ));
        }
        b'"' => {
            // qtextSMTP (and UTF-8) up to the closing quote; a quoted pair or a control is
            // left to the reference.
            i += 1;
            while i < len && class(b[i]) & QTEXT != 0 {
                i += 1;
            }
            if i == len || b[i] != b'"' {
                return None;
            }
            i += 1;
            &line[start + 1..i - 1]
        }
        _ => {
            // Atom *("." Atom): runs of atext, each at least one long, joined by dots.
            loop {
                let atom = i;
                while i < len && class(b[i]) & ATEXT != 0 {
                    i += 1;
                }
                if i == atom {
                    return None; // empty, a leading, doubled or trailing dot
                }
                if i == len || b[i] != b'.' {
                    break;
                }
                i += 1;
            }
            &line[start..i]
        }
    };
    // The limit counts the local part as sent, quotes included.
    if i == len || b[i] != b'@' || i - start > MAX_LOCAL_PART {
        return None;
    }
    i += 1;
    let domain_start = i;
    // sub-domain *("." sub-domain): labels of 1 to 63 letters, digits, inner hyphens (and
    // UTF-8 bytes, U-labels), up to the `>`. Anything else (an address literal, a bad byte)
    // is left to the reference.
    loop {
        let label = i;
        while i < len && class(b[i]) & LABEL != 0 {
            i += 1;
        }
        if i == label || i - label > 63 || b[label] == b'-' || b[i - 1] == b'-' || i == len {
            return None;
        }
        match b[i] {
            b'.' => i += 1,
            b'>' => break,
            _ => return None,
        }
    }
    if i - domain_start > MAX_DOMAIN || i - lt + 1 > MAX_PATH {
        return None;
    }
    Some((
        Path {
            mailbox: Some((local, &line[domain_start..i])),
            non_ascii: !b[start..i].is_ascii(),
        },
        i + 1,
    ))
}

/// `atext` (RFC 5322) and UTF-8 bytes (RFC 6531).
const ATEXT: u8 = 1;
/// A domain label byte: letter, digit, `-` (placement checked apart), UTF-8.
const LABEL: u8 = 2;
/// `esmtp-keyword` after its first byte: letter, digit, `-`.
const KEY: u8 = 4;
/// `esmtp-value`: `%d33-60 / %d62-126` and UTF-8 bytes.
const VALUE: u8 = 8;
/// `qtextSMTP = %d32-33 / %d35-91 / %d93-126` and UTF-8 bytes.
const QTEXT: u8 = 16;

/// The classes of every byte: one load per byte in the scanning loops.
const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut k = 0;
        if crate::types::ATEXT[c] {
            k |= ATEXT;
        }
        if b.is_ascii_alphanumeric() || b == b'-' {
            k |= LABEL | KEY;
        }
        if b >= 0x80 {
            k |= LABEL | VALUE | QTEXT;
        }
        if matches!(b, 33..=60 | 62..=126) {
            k |= VALUE;
        }
        if matches!(b, 32..=33 | 35..=91 | 93..=126) {
            k |= QTEXT;
        }
        t[c] = k;
        c += 1;
    }
    t
};

#[inline]
fn class(c: u8) -> u8 {
    CLASSES[usize::from(c)]
}

/// `esmtp-param *(SP esmtp-param)`, each checked and applied as it is read.
fn params_fast<'a>(
    text: &'a str,
    mut apply: impl FnMut(&'a str, Option<&'a str>) -> bool,
) -> Option<()> {
    let b = text.as_bytes();
    let len = b.len();
    let mut i = 0;
    while i < len {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        if !b[i].is_ascii_alphanumeric() {
            return None;
        }
        let key_start = i;
        i += 1;
        while i < len && class(b[i]) & KEY != 0 {
            i += 1;
        }
        let key = &text[key_start..i];
        let value = if i < len && b[i] == b'=' {
            i += 1;
            let value_start = i;
            while i < len && class(b[i]) & VALUE != 0 {
                i += 1;
            }
            if i == value_start {
                return None;
            }
            Some(text.get(value_start..i)?)
        } else {
            None
        };
        if (i < len && b[i] != b' ') || !apply(key, value) {
            return None;
        }
    }
    Some(())
}
