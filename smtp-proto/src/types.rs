//! Envelope atoms as validated values: domains, address literals, mailboxes, paths
//! (RFC 5321 §4.1.2, §4.1.3 and §4.5.3.1, with the RFC 6531 SMTPUTF8 extensions).
//!
//! ```text
//! Reverse-path   = Path / "<>"
//! Forward-path   = Path                      ; plus "<Postmaster>" (case-insensitive)
//! Path           = "<" [ A-d-l ":" ] Mailbox ">"   ; the source route is accepted and ignored
//! A-d-l          = At-domain *( "," At-domain )
//! At-domain      = "@" Domain
//! Mailbox        = Local-part "@" ( Domain / address-literal )
//! Local-part     = Dot-string / Quoted-string
//! Dot-string     = Atom *("." Atom)
//! Atom           = 1*atext                   ; RFC 6531: atext =/ UTF8-non-ascii
//! Quoted-string  = DQUOTE *QcontentSMTP DQUOTE
//! QcontentSMTP   = qtextSMTP / quoted-pairSMTP
//! quoted-pairSMTP = %d92 %d32-126
//! qtextSMTP      = %d32-33 / %d35-91 / %d93-126   ; RFC 6531: / UTF8-non-ascii
//! Domain         = sub-domain *("." sub-domain)
//! sub-domain     = Let-dig [Ldh-str]          ; RFC 6531: / U-label
//! address-literal = "[" ( IPv4-address-literal / IPv6-address-literal
//!                        / General-address-literal ) "]"
//! General-address-literal = Standardized-tag ":" 1*dcontent
//! ```
//!
//! Limits (RFC 5321 §4.5.3.1): local part 64 octets, domain 255 octets, path 256 octets
//! (brackets included), each label 63 octets.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Longest domain (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// Longest path, angle brackets included (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Why an address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressError {
    /// The grammar does not allow it.
    Syntax,
    /// A part exceeds its RFC 5321 §4.5.3.1 limit.
    TooLong,
    /// Non-ASCII where SMTPUTF8 was not requested (RFC 6531 §3.4).
    NeedsSmtpUtf8,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "address syntax error",
            Self::TooLong => "address too long",
            Self::NeedsSmtpUtf8 => "non-ASCII address without SMTPUTF8",
        })
    }
}

impl std::error::Error for AddressError {}

/// A domain name as written (case preserved; compare with [`Domain::eq_ignore_case`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain<'a>(Cow<'a, str>);

impl<'a> Domain<'a> {
    /// Validates a domain: `sub-domain *("." sub-domain)`, each label 1..=63 octets of
    /// letters, digits and inner hyphens (or UTF-8 U-labels when `utf8`), at most 255 octets.
    pub fn parse(text: &'a str, utf8: bool) -> Result<Self, AddressError> {
        validate_domain(text.as_bytes(), utf8)?;
        Ok(Self(Cow::Borrowed(text)))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// ASCII-case-insensitive comparison (RFC 5321 §2.4: domains are case-insensitive).
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }

    /// True when any label is non-ASCII (an U-label).
    pub fn is_utf8(&self) -> bool {
        !self.0.is_ascii()
    }

    /// An owned copy.
    pub fn into_owned(self) -> Domain<'static> {
        Domain(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for Domain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn validate_domain(b: &[u8], utf8: bool) -> Result<(), AddressError> {
    if b.is_empty() {
        return Err(AddressError::Syntax);
    }
    if b.len() > MAX_DOMAIN {
        return Err(AddressError::TooLong);
    }
    // One pass over the bytes: labels of 1 to 63 letters, digits, inner hyphens (and UTF-8
    // bytes, U-labels). Per label, as before: empty is a syntax error, then too long, then
    // a bad character.
    let mut non_ascii = false;
    let mut start = 0;
    let mut bad = false;
    for (i, &c) in b.iter().chain(std::iter::once(&b'.')).enumerate() {
        match c {
            b'.' => {
                let len = i - start;
                if len == 0 {
                    return Err(AddressError::Syntax);
                }
                if len > 63 {
                    return Err(AddressError::TooLong);
                }
                if bad || b[i - 1] == b'-' {
                    return Err(AddressError::Syntax);
                }
                start = i + 1;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => {}
            b'-' if i > start => {}
            0x80.. => non_ascii = true,
            _ => bad = true,
        }
    }
    if non_ascii && !utf8 {
        return Err(AddressError::NeedsSmtpUtf8);
    }
    Ok(())
}

/// An address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]` or `[tag:content]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressLiteral<'a> {
    /// `[a.b.c.d]`
    Ipv4(Ipv4Addr),
    /// `[IPv6:...]`
    Ipv6(Ipv6Addr),
    /// `[tag:content]`, a General-address-literal (kept, never interpreted).
    General {
        /// The standardized tag.
        tag: Cow<'a, str>,
        /// The content after the colon.
        content: Cow<'a, str>,
    },
}

impl AddressLiteral<'_> {
    /// Parses the text between the brackets.
    pub fn parse(inner: &str) -> Result<AddressLiteral<'_>, AddressError> {
        if let Some(v6) = inner
            .get(..5)
            .filter(|t| t.eq_ignore_ascii_case("IPv6:"))
            .map(|_| &inner[5..])
        {
            return v6
                .parse::<Ipv6Addr>()
                .map(AddressLiteral::Ipv6)
                .map_err(|_| AddressError::Syntax);
        }
        if inner.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return parse_ipv4(inner)
                .map(AddressLiteral::Ipv4)
                .ok_or(AddressError::Syntax);
        }
        let (tag, content) = inner.split_once(':').ok_or(AddressError::Syntax)?;
        let tag_ok = !tag.is_empty()
            && tag.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !tag.ends_with('-');
        let content_ok =
            !content.is_empty() && content.bytes().all(|c| matches!(c, 33..=90 | 94..=126));
        if tag_ok && content_ok {
            Ok(AddressLiteral::General {
                tag: Cow::Borrowed(tag),
                content: Cow::Borrowed(content),
            })
        } else {
            Err(AddressError::Syntax)
        }
    }

    /// The IP address, for the IPv4 and IPv6 forms.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ipv4(a) => Some(IpAddr::V4(*a)),
            Self::Ipv6(a) => Some(IpAddr::V6(*a)),
            Self::General { .. } => None,
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> AddressLiteral<'static> {
        match self {
            Self::Ipv4(a) => AddressLiteral::Ipv4(a),
            Self::Ipv6(a) => AddressLiteral::Ipv6(a),
            Self::General { tag, content } => AddressLiteral::General {
                tag: Cow::Owned(tag.into_owned()),
                content: Cow::Owned(content.into_owned()),
            },
        }
    }
}

impl fmt::Display for AddressLiteral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(a) => write!(f, "[{a}]"),
            Self::Ipv6(a) => write!(f, "[IPv6:{a}]"),
            Self::General { tag, content } => write!(f, "[{tag}:{content}]"),
        }
    }
}

/// Strict dotted quad: four decimal parts 0..=255, no leading zeros beyond a single `0`.
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n == 4 || part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0'))
        {
            return None;
        }
        parts[n] = part.parse().ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(parts))
}

/// The part after `@`: a domain or an address literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name.
    Domain(Domain<'a>),
    /// An address literal.
    Literal(AddressLiteral<'a>),
}

impl Host<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> Host<'static> {
        match self {
            Self::Domain(d) => Host::Domain(d.into_owned()),
            Self::Literal(l) => Host::Literal(l.into_owned()),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => d.fmt(f),
            Self::Literal(l) => l.fmt(f),
        }
    }
}

/// A mailbox `local@host`. The local part is stored unquoted (a quoted-string's quotes and
/// backslashes removed); [`Display`](fmt::Display) re-quotes it when needed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox<'a> {
    local: Cow<'a, str>,
    host: Host<'a>,
}

impl<'a> Mailbox<'a> {
    /// Parses `Local-part "@" ( Domain / address-literal )`. With `utf8` (SMTPUTF8 given),
    /// non-ASCII local parts and U-labels are allowed (RFC 6531 §3.3).
    pub fn parse(text: &'a str, utf8: bool) -> Result<Self, AddressError> {
        let b = text.as_bytes();
        let (local, at) = if b.first() == Some(&b'"') {
            let end = quoted_end(b).ok_or(AddressError::Syntax)?;
            (unquote(&text[1..end - 1]), end)
        } else {
            // A Dot-string never holds "@", so the first one ends it (an address literal
            // may hold "@": `c@[x:a@b]`; found by the smtp_command fuzz target).
            let at = memchr::memchr(b'@', b).ok_or(AddressError::Syntax)?;
            let local = &text[..at];
            validate_dot_string(local.as_bytes())?;
            (Cow::Borrowed(local), at)
        };
        if b.get(at) != Some(&b'@') {
            return Err(AddressError::Syntax);
        }
        // The limit counts the local part as sent, quotes included.
        if at > MAX_LOCAL_PART {
            return Err(AddressError::TooLong);
        }
        if !utf8 && !text[..at].is_ascii() {
            return Err(AddressError::NeedsSmtpUtf8);
        }
        let host_text = &text[at + 1..];
        let host = parse_host(host_text, utf8)?;
        Ok(Self { local, host })
    }

    /// A mailbox from parts the caller has already validated (the command parser's
    /// single-pass scanner, which checks the same grammar as [`Mailbox::parse`]).
    pub(crate) fn from_checked_parts(local: &'a str, domain: &'a str) -> Self {
        Self {
            local: Cow::Borrowed(local),
            host: Host::Domain(Domain(Cow::Borrowed(domain))),
        }
    }

    /// The local part, unquoted.
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The domain or address literal.
    pub fn host(&self) -> &Host<'a> {
        &self.host
    }

    /// The domain, when the host is not an address literal.
    pub fn domain(&self) -> Option<&Domain<'a>> {
        match &self.host {
            Host::Domain(d) => Some(d),
            Host::Literal(_) => None,
        }
    }

    /// True when the local part or domain is non-ASCII (needs SMTPUTF8).
    pub fn is_utf8(&self) -> bool {
        !self.local.is_ascii() || matches!(&self.host, Host::Domain(d) if d.is_utf8())
    }

    /// An owned copy.
    pub fn into_owned(self) -> Mailbox<'static> {
        Mailbox {
            local: Cow::Owned(self.local.into_owned()),
            host: self.host.into_owned(),
        }
    }
}

impl fmt::Display for Mailbox<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if validate_dot_string(self.local.as_bytes()).is_ok() {
            f.write_str(&self.local)?;
        } else {
            f.write_str("\"")?;
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        write!(f, "@{}", self.host)
    }
}

fn parse_host(text: &str, utf8: bool) -> Result<Host<'_>, AddressError> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(AddressError::Syntax)?;
        if text.len() > MAX_DOMAIN {
            return Err(AddressError::TooLong);
        }
        return AddressLiteral::parse(inner).map(Host::Literal);
    }
    Domain::parse(text, utf8).map(Host::Domain)
}

/// RFC 5322 `atext` plus UTF-8 bytes (RFC 6531), as a table: one load per byte on the
/// hottest path of MAIL/RCPT parsing.
pub(crate) const ATEXT: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
            )
            || b >= 0x80;
        c += 1;
    }
    t
};

pub(crate) fn is_atext(c: u8) -> bool {
    ATEXT[usize::from(c)]
}

/// `Dot-string = Atom *("." Atom)`: one pass, no empty atom.
fn validate_dot_string(b: &[u8]) -> Result<(), AddressError> {
    let mut prev_dot = true; // no leading dot
    for &c in b {
        if c == b'.' {
            if prev_dot {
                return Err(AddressError::Syntax);
            }
            prev_dot = true;
        } else if is_atext(c) {
            prev_dot = false;
        } else {
            return Err(AddressError::Syntax);
        }
    }
    if prev_dot {
        // Empty, or a trailing dot.
        return Err(AddressError::Syntax);
    }
    if b.len() > MAX_LOCAL_PART {
        return Err(AddressError::TooLong);
    }
    Ok(())
}

/// The index just after the closing quote of a quoted-string starting at `b[0]`.
fn quoted_end(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                let next = *b.get(i + 1)?;
                if !(32..=126).contains(&next) {
                    return None;
                }
                i += 2;
            }
            32..=126 | 0x80.. => i += 1,
            _ => return None,
        }
    }
    None
}

fn unquote(inner: &str) -> Cow<'_, str> {
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The reverse path of `MAIL FROM`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath<'a> {
    /// `<>`: the null sender (bounces, DSNs).
    Null,
    /// A mailbox.
    Mailbox(Mailbox<'a>),
}

impl ReversePath<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> ReversePath<'static> {
        match self {
            Self::Null => ReversePath::Null,
            Self::Mailbox(m) => ReversePath::Mailbox(m.into_owned()),
        }
    }

    /// The mailbox, unless null.
    pub fn mailbox(&self) -> Option<&Mailbox<'_>> {
        match self {
            Self::Null => None,
            Self::Mailbox(m) => Some(m),
        }
    }
}

impl fmt::Display for ReversePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("<>"),
            Self::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The forward path of `RCPT TO`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ForwardPath<'a> {
    /// `<Postmaster>` without a domain (RFC 5321 §4.1.1.3): must always be accepted.
    Postmaster,
    /// A mailbox.
    Mailbox(Mailbox<'a>),
}

impl ForwardPath<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> ForwardPath<'static> {
        match self {
            Self::Postmaster => ForwardPath::Postmaster,
            Self::Mailbox(m) => ForwardPath::Mailbox(m.into_owned()),
        }
    }

    /// The mailbox, unless `<Postmaster>`.
    pub fn mailbox(&self) -> Option<&Mailbox<'_>> {
        match self {
            Self::Postmaster => None,
            Self::Mailbox(m) => Some(m),
        }
    }
}

impl fmt::Display for ForwardPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postmaster => f.write_str("<Postmaster>"),
            Self::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// Splits `<...>` from the start of `text`: returns the inside (source route removed) and
/// the rest after `>`. Quoted strings may contain `>`.
pub(crate) fn split_path(text: &str) -> Result<(&str, &str), AddressError> {
    let b = text.as_bytes();
    if b.first() != Some(&b'<') {
        return Err(AddressError::Syntax);
    }
    let mut i = 1;
    let mut in_quote = false;
    while i < b.len() {
        match b[i] {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'>' if !in_quote => break,
            _ => {}
        }
        i += 1;
    }
    if i >= b.len() {
        return Err(AddressError::Syntax);
    }
    if i + 1 > MAX_PATH {
        return Err(AddressError::TooLong);
    }
    let mut inner = &text[1..i];
    // A-d-l ":" Mailbox: validate and drop the source route (RFC 5321 §4.1.2, App. C).
    if inner.starts_with('@') {
        let colon = inner.find(':').ok_or(AddressError::Syntax)?;
        for hop in inner[..colon].split(',') {
            let d = hop.strip_prefix('@').ok_or(AddressError::Syntax)?;
            validate_domain(d.as_bytes(), true)?;
        }
        inner = &inner[colon + 1..];
    }
    Ok((inner, &text[i + 1..]))
}

/// What a HELO/EHLO argument looks like (SMTP-044), for policy: the session never refuses
/// on this alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeloKind {
    /// A syntactically valid domain with at least one dot.
    Fqdn,
    /// A valid domain without a dot (`localhost`, `User`).
    BareWord,
    /// An address literal `[192.0.2.1]`.
    AddressLiteral,
    /// Looks like an e-mail address (`EHLO user@example.com`, a spambot habit).
    EmailAddress,
    /// Anything else.
    Invalid,
}

impl HeloKind {
    /// Classifies a HELO/EHLO argument.
    pub fn classify(arg: &str) -> Self {
        if let Some(inner) = arg.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
            return if AddressLiteral::parse(inner).is_ok() {
                Self::AddressLiteral
            } else {
                Self::Invalid
            };
        }
        if arg.contains('@') {
            return Self::EmailAddress;
        }
        match validate_domain(arg.trim_end_matches('.').as_bytes(), true) {
            Ok(()) if arg.contains('.') => Self::Fqdn,
            Ok(()) => Self::BareWord,
            Err(_) => Self::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for ok in ["example.com", "a", "x-y.z9", "1.2.3", "EXAMPLE.org"] {
            assert!(Domain::parse(ok, false).is_ok(), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "-a.b", "a-.b", "a_b.c", "a b"] {
            assert_eq!(
                Domain::parse(bad, false),
                Err(AddressError::Syntax),
                "{bad}"
            );
        }
        assert_eq!(
            Domain::parse(&"a".repeat(64), false),
            Err(AddressError::TooLong)
        );
        let long = vec!["a".repeat(63); 5].join(".");
        assert_eq!(Domain::parse(&long, false), Err(AddressError::TooLong));
        assert_eq!(
            Domain::parse("bücher.de", false),
            Err(AddressError::NeedsSmtpUtf8)
        );
        assert!(Domain::parse("bücher.de", true).unwrap().is_utf8());
        assert!(
            Domain::parse("Example.COM", false)
                .unwrap()
                .eq_ignore_case("example.com")
        );
    }

    #[test]
    fn address_literals() {
        assert_eq!(
            AddressLiteral::parse("192.0.2.1").unwrap().ip(),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            AddressLiteral::parse("IPv6:2001:db8::1").unwrap().ip(),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            AddressLiteral::parse("ipv6:::1").unwrap().ip(),
            Some("::1".parse().unwrap())
        );
        assert!(matches!(
            AddressLiteral::parse("x-tag:abc").unwrap(),
            AddressLiteral::General { .. }
        ));
        for bad in [
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "IPv6:2001:db8::g",
            "IPv6:1.2.3.4",
            "tag:",
            ":x",
            "tag:a]b",
        ] {
            assert!(AddressLiteral::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AddressLiteral::parse("IPv6:2001:db8::1")
                .unwrap()
                .to_string(),
            "[IPv6:2001:db8::1]"
        );
    }

    #[test]
    fn mailboxes() {
        let m = Mailbox::parse("user.name+tag@example.com", false).unwrap();
        assert_eq!(m.local_part(), "user.name+tag");
        assert_eq!(m.domain().unwrap().as_str(), "example.com");
        let m = Mailbox::parse(r#""john \"q\" doe"@example.com"#, false).unwrap();
        assert_eq!(m.local_part(), r#"john "q" doe"#);
        assert_eq!(m.to_string(), r#""john \"q\" doe"@example.com"#);
        let m = Mailbox::parse(r#""a@b"@example.com"#, false).unwrap();
        assert_eq!(m.local_part(), "a@b");
        let m = Mailbox::parse("root@[192.0.2.1]", false).unwrap();
        assert!(matches!(m.host(), Host::Literal(AddressLiteral::Ipv4(_))));
        let m = Mailbox::parse("x@[IPv6:::1]", false).unwrap();
        assert_eq!(m.to_string(), "x@[IPv6:::1]");
        for bad in [
            "noat",
            "@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a b@example.com",
            "a@",
            "a@-b.com",
            "a@[300.1.1.1]",
            "\"unterminated@example.com",
            "\"a\"b@example.com",
            "a(b)@example.com",
        ] {
            assert!(Mailbox::parse(bad, true).is_err(), "{bad}");
        }
        assert_eq!(
            Mailbox::parse(&format!("{}@example.com", "a".repeat(65)), false),
            Err(AddressError::TooLong)
        );
        assert!(Mailbox::parse(&format!("{}@example.com", "a".repeat(64)), false).is_ok());
        assert_eq!(
            Mailbox::parse("用户@例子.广告", false),
            Err(AddressError::NeedsSmtpUtf8)
        );
        let m = Mailbox::parse("用户@例子.广告", true).unwrap();
        assert!(m.is_utf8());
    }

    #[test]
    fn paths() {
        assert_eq!(split_path("<a@b> SIZE=1"), Ok(("a@b", " SIZE=1")));
        assert_eq!(split_path("<@r1.example,@r2.example:a@b>"), Ok(("a@b", "")));
        assert_eq!(split_path("<\"x>y\"@b>"), Ok(("\"x>y\"@b", "")));
        assert_eq!(split_path("<@bad_route:a@b>"), Err(AddressError::Syntax));
        assert_eq!(split_path("<@r1:"), Err(AddressError::Syntax));
        assert_eq!(split_path("a@b"), Err(AddressError::Syntax));
        let long = format!("<{}@{}>", "a".repeat(64), vec!["b".repeat(60); 4].join("."));
        assert_eq!(split_path(&long), Err(AddressError::TooLong));
    }

    #[test]
    fn helo_kinds() {
        assert_eq!(HeloKind::classify("mail.example.com"), HeloKind::Fqdn);
        assert_eq!(HeloKind::classify("mail.example.com."), HeloKind::Fqdn);
        assert_eq!(HeloKind::classify("localhost"), HeloKind::BareWord);
        assert_eq!(HeloKind::classify("[127.0.0.1]"), HeloKind::AddressLiteral);
        assert_eq!(HeloKind::classify("[999.0.0.1]"), HeloKind::Invalid);
        assert_eq!(
            HeloKind::classify("user@example.com"),
            HeloKind::EmailAddress
        );
        assert_eq!(HeloKind::classify("bad_name!"), HeloKind::Invalid);
    }
}
