//! The SPF record grammar (RFC 7208 §4.6.1, §5, §6, §7.1, §12), parsed into a typed record.
//!
//! ```text
//! record           = version terms *SP
//! version          = "v=spf1"
//! terms            = *( 1*SP ( directive / modifier ) )
//! directive        = [ qualifier ] mechanism
//! qualifier        = "+" / "-" / "?" / "~"
//! mechanism        = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
//! modifier         = redirect / explanation / unknown-modifier
//! unknown-modifier = name "=" macro-string
//! name             = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
//! domain-spec      = macro-string domain-end
//! domain-end       = ( "." toplabel [ "." ] ) / macro-expand
//! macro-string     = *( macro-expand / macro-literal )
//! macro-expand     = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
//! macro-literal    = %x21-24 / %x26-7E
//! ```
//!
//! Names are case-insensitive (SPF-009); every syntax error anywhere in the record is
//! detected before evaluation starts (the record is a permerror as a whole, §4.6).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A directive's qualifier (RFC 7208 §4.6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// `+` (the default): pass.
    Pass,
    /// `-`: fail.
    Fail,
    /// `~`: softfail.
    SoftFail,
    /// `?`: neutral.
    Neutral,
}

impl Qualifier {
    fn symbol(self) -> &'static str {
        match self {
            Self::Pass => "",
            Self::Fail => "-",
            Self::SoftFail => "~",
            Self::Neutral => "?",
        }
    }
}

/// A mechanism (RFC 7208 §5); its domain-specs borrow from the [`Record`]'s text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mechanism<'a> {
    /// `all`: always matches.
    All,
    /// `include:<domain-spec>`: matches when the included policy passes.
    Include(MacroString<'a>),
    /// `a[:<domain-spec>][/<cidr4>][//<cidr6>]`.
    A {
        /// The target; the current domain when absent.
        domain: Option<MacroString<'a>>,
        /// IPv4 prefix length (32 when absent).
        cidr4: u8,
        /// IPv6 prefix length (128 when absent).
        cidr6: u8,
    },
    /// `mx[:<domain-spec>][/<cidr4>][//<cidr6>]`.
    Mx {
        /// The target; the current domain when absent.
        domain: Option<MacroString<'a>>,
        /// IPv4 prefix length.
        cidr4: u8,
        /// IPv6 prefix length.
        cidr6: u8,
    },
    /// `ptr[:<domain-spec>]` (discouraged, §5.5).
    Ptr(Option<MacroString<'a>>),
    /// `ip4:<network>[/<cidr>]`.
    Ip4 {
        /// The network address as written (host bits may be set, SPF-011).
        addr: Ipv4Addr,
        /// Prefix length.
        prefix: u8,
    },
    /// `ip6:<network>[/<cidr>]`.
    Ip6 {
        /// The network address as written.
        addr: Ipv6Addr,
        /// Prefix length.
        prefix: u8,
    },
    /// `exists:<domain-spec>`: matches when the name has an A record.
    Exists(MacroString<'a>),
}

impl Mechanism<'_> {
    /// True for the mechanisms that count against the 10-lookup limit (§4.6.4).
    pub fn does_lookup(&self) -> bool {
        !matches!(self, Self::All | Self::Ip4 { .. } | Self::Ip6 { .. })
    }

    /// Appends the mechanism's text (what `Display` writes) to `out` without the formatting
    /// machinery: the evaluator names the matched mechanism in every result.
    pub(crate) fn write_text(&self, out: &mut String) {
        match self {
            Self::All => out.push_str("all"),
            Self::Include(d) => {
                out.push_str("include:");
                out.push_str(d.as_str());
            }
            Self::A {
                domain,
                cidr4,
                cidr6,
            }
            | Self::Mx {
                domain,
                cidr4,
                cidr6,
            } => {
                out.push_str(if matches!(self, Self::A { .. }) {
                    "a"
                } else {
                    "mx"
                });
                if let Some(d) = domain {
                    out.push(':');
                    out.push_str(d.as_str());
                }
                if *cidr4 != 32 {
                    out.push('/');
                    push_u8(out, *cidr4);
                }
                if *cidr6 != 128 {
                    out.push_str("//");
                    push_u8(out, *cidr6);
                }
            }
            Self::Ptr(d) => {
                out.push_str("ptr");
                if let Some(d) = d {
                    out.push(':');
                    out.push_str(d.as_str());
                }
            }
            Self::Ip4 { addr, prefix } => {
                out.push_str("ip4:");
                for (i, o) in addr.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push('.');
                    }
                    push_u8(out, o);
                }
                if *prefix != 32 {
                    out.push('/');
                    push_u8(out, *prefix);
                }
            }
            Self::Ip6 { addr, prefix } => {
                use fmt::Write as _;
                let _ = write!(out, "ip6:{addr}");
                if *prefix != 128 {
                    out.push('/');
                    push_u8(out, *prefix);
                }
            }
            Self::Exists(d) => {
                out.push_str("exists:");
                out.push_str(d.as_str());
            }
        }
    }
}

/// Appends a number in decimal.
pub(crate) fn push_u8(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

impl fmt::Display for Mechanism<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(32);
        self.write_text(&mut s);
        f.write_str(&s)
    }
}

/// A qualifier and a mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Directive<'a> {
    /// The qualifier.
    pub qualifier: Qualifier,
    /// The mechanism.
    pub mechanism: Mechanism<'a>,
}

impl Directive<'_> {
    /// Appends the directive's text (what `Display` writes) to `out`.
    pub(crate) fn write_text(&self, out: &mut String) {
        out.push_str(self.qualifier.symbol());
        self.mechanism.write_text(out);
    }
}

impl fmt::Display for Directive<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(32);
        self.write_text(&mut s);
        f.write_str(&s)
    }
}

/// A macro letter (RFC 7208 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MacroLetter {
    /// `s`: the sender (`local@domain`).
    Sender,
    /// `l`: the sender's local-part.
    Local,
    /// `o`: the sender's domain.
    SenderDomain,
    /// `d`: the current domain.
    Domain,
    /// `i`: the client IP (dotted; nibbles for IPv6).
    Ip,
    /// `p`: the validated domain name of the client IP (discouraged).
    ValidatedName,
    /// `v`: `in-addr` or `ip6`.
    IpVersion,
    /// `h`: the HELO/EHLO domain.
    Helo,
    /// `c`: the client IP in readable form (explanations only).
    ClientIp,
    /// `r`: the receiving host's name (explanations only).
    Receiver,
    /// `t`: the current timestamp (explanations only).
    Timestamp,
}

impl MacroLetter {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b.to_ascii_lowercase() {
            b's' => Self::Sender,
            b'l' => Self::Local,
            b'o' => Self::SenderDomain,
            b'd' => Self::Domain,
            b'i' => Self::Ip,
            b'p' => Self::ValidatedName,
            b'v' => Self::IpVersion,
            b'h' => Self::Helo,
            b'c' => Self::ClientIp,
            b'r' => Self::Receiver,
            b't' => Self::Timestamp,
            _ => return None,
        })
    }

    fn explanation_only(self) -> bool {
        matches!(self, Self::ClientIp | Self::Receiver | Self::Timestamp)
    }
}

/// One piece of a macro-string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacroPart<'a> {
    /// Literal text: a run of macro-literal octets, or what `%%`, `%_` and `%-` stand for
    /// (`%`, SP and `%20`).
    Literal(&'a str),
    /// `%{letter digits r delimiters}`.
    Macro {
        /// The letter.
        letter: MacroLetter,
        /// Keep this many right-hand parts (`None`: all).
        keep: Option<u8>,
        /// Reverse the parts first.
        reverse: bool,
        /// Delimiters to split on (empty means `.`).
        delimiters: &'a str,
        /// An upper-case letter: URL-escape the result.
        escape: bool,
    },
}

/// A macro-string (RFC 7208 §7.1): checked text, borrowed from the record (or the
/// explanation) it was read from, and expanded piece by piece ([`parts`](Self::parts)).
///
/// Two macro-strings are equal when their pieces are (`%{d01}` equals `%{d1}`).
#[derive(Clone, Copy, Debug, Eq, Default)]
pub struct MacroString<'a> {
    text: &'a str,
}

impl PartialEq for MacroString<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.parts().eq(other.parts())
    }
}

impl<'a> MacroString<'a> {
    /// The text as written.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The pieces, in order.
    pub fn parts(&self) -> MacroParts<'a> {
        MacroParts {
            rest: self.text.as_bytes(),
            text: self.text,
            at: 0,
        }
    }

    /// True when no part is a macro (the expansion is the text itself).
    pub fn is_literal(&self) -> bool {
        self.parts().all(|p| matches!(p, MacroPart::Literal(_)))
    }

    /// Parses a macro-string; `explain` allows SP and the letters `c`, `r`, `t`.
    pub fn parse(s: &'a str, explain: bool) -> Result<Self, String> {
        check_macro_string(s.as_bytes(), explain)?;
        Ok(Self { text: s })
    }

    /// A macro-string already checked by the record parser.
    fn checked(text: &'a str) -> Self {
        Self { text }
    }
}

/// The pieces of a [`MacroString`].
#[derive(Clone, Debug)]
pub struct MacroParts<'a> {
    text: &'a str,
    rest: &'a [u8],
    at: usize,
}

impl<'a> Iterator for MacroParts<'a> {
    type Item = MacroPart<'a>;

    fn next(&mut self) -> Option<MacroPart<'a>> {
        let s = self.rest;
        let (&c, _) = s.split_first()?;
        if c != b'%' {
            let n = memchr::memchr(b'%', s).unwrap_or(s.len());
            let lit = &self.text[self.at..self.at + n];
            self.advance(n);
            return Some(MacroPart::Literal(lit));
        }
        match s.get(1) {
            Some(b'%') => {
                self.advance(2);
                Some(MacroPart::Literal("%"))
            }
            Some(b'_') => {
                self.advance(2);
                Some(MacroPart::Literal(" "))
            }
            Some(b'-') => {
                self.advance(2);
                Some(MacroPart::Literal("%20"))
            }
            Some(b'{') => {
                // Checked text: a letter, digits, an optional `r`, delimiters, `}`.
                let end = memchr::memchr(b'}', s)?;
                let body = &s[2..end];
                let (&l, rest) = body.split_first()?;
                let letter = MacroLetter::from_byte(l)?;
                let ndig = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let keep = (ndig > 0).then(|| {
                    let v = rest[..ndig].iter().fold(0u32, |v, &d| {
                        v.saturating_mul(10).saturating_add(u32::from(d - b'0'))
                    });
                    // More parts than any name can hold: keep them all.
                    u8::try_from(v).unwrap_or(255)
                });
                let reverse = matches!(rest.get(ndig), Some(b'r' | b'R'));
                let dstart = self.at + 3 + ndig + usize::from(reverse);
                let delimiters = &self.text[dstart..self.at + end];
                self.advance(end + 1);
                Some(MacroPart::Macro {
                    letter,
                    keep,
                    reverse,
                    delimiters,
                    escape: l.is_ascii_uppercase(),
                })
            }
            _ => None,
        }
    }
}

impl MacroParts<'_> {
    fn advance(&mut self, n: usize) {
        self.rest = &self.rest[n..];
        self.at += n;
    }
}

impl fmt::Display for MacroString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// Checks a macro-string (§7.1) without building anything; says whether the text ends in
/// a macro-expand, and where the literal tail after the last `%{...}` starts (the
/// `domain-end` rule looks at it).
fn check_macro_string(s: &[u8], explain: bool) -> Result<(bool, usize), String> {
    let mut i = 0;
    let mut ends_with_macro = false;
    let mut tail = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            ends_with_macro = true;
            match s.get(i + 1) {
                Some(b'%' | b'_' | b'-') => i += 2,
                Some(b'{') => {
                    let end =
                        memchr::memchr(b'}', &s[i + 2..]).ok_or("unterminated macro")? + i + 2;
                    let body = &s[i + 2..end];
                    let (&l, rest) = body.split_first().ok_or("empty macro")?;
                    let letter = MacroLetter::from_byte(l)
                        .ok_or_else(|| format!("unknown macro letter {:?}", l as char))?;
                    if letter.explanation_only() && !explain {
                        return Err(format!(
                            "macro letter {:?} is allowed only in explanations",
                            l as char
                        ));
                    }
                    let ndig = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                    if ndig > 0 && rest[..ndig].iter().all(|&d| d == b'0') {
                        return Err("macro digit transformer 0".into());
                    }
                    let mut rest = &rest[ndig..];
                    if matches!(rest.first(), Some(b'r' | b'R')) {
                        rest = &rest[1..];
                    }
                    if let Some(bad) = rest
                        .iter()
                        .find(|b| !matches!(b, b'.' | b'-' | b'+' | b',' | b'/' | b'_' | b'='))
                    {
                        return Err(format!("bad macro delimiter {:?}", *bad as char));
                    }
                    i = end + 1;
                    tail = i;
                }
                _ => return Err("'%' not followed by '{', '%', '_' or '-'".into()),
            }
        } else if (0x21..=0x7e).contains(&c) || (explain && c == b' ') {
            ends_with_macro = false;
            i += 1;
        } else {
            return Err(format!("invalid character 0x{c:02x}"));
        }
    }
    Ok((ends_with_macro, tail))
}

/// Checks a domain-spec: a non-empty macro-string ending in a macro or `.toplabel[.]`.
fn check_domain_spec(s: &[u8]) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty domain-spec".into());
    }
    let (ends_with_macro, tail) = check_macro_string(s, false)?;
    if !ends_with_macro {
        // The literal tail after the last `%{...}`; `%%`, `%_` and `%-` stand for text
        // without a dot, so the last label is found in the raw text.
        let tail = &s[tail..];
        let tail = tail.strip_suffix(b".").unwrap_or(tail);
        let top = memchr::memrchr(b'.', tail)
            .map(|p| &tail[p + 1..])
            .ok_or_else(|| {
                format!(
                    "domain-spec {:?} has no top-level label",
                    String::from_utf8_lossy(tail)
                )
            })?;
        if !is_toplabel(top) {
            return Err(format!(
                "bad top-level label {:?}",
                String::from_utf8_lossy(top)
            ));
        }
    }
    Ok(())
}

/// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
fn is_toplabel(b: &[u8]) -> bool {
    if b.is_empty() || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return false;
    }
    if b.contains(&b'-') {
        b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric()
    } else {
        b.iter().any(u8::is_ascii_alphabetic)
    }
}

/// Where a piece of the record text lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(whole: &[u8], part: &[u8]) -> Self {
        // `part` is a sub-slice of `whole`: its offset is the distance between the starts.
        let start = part.as_ptr() as usize - whole.as_ptr() as usize;
        Self {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(start + part.len()).unwrap_or(u32::MAX),
        }
    }
}

/// A directive as stored: domain-specs as spans of the record text.
#[derive(Clone, Copy, Debug)]
struct Term {
    qualifier: Qualifier,
    mechanism: Mechanism<'static>,
    /// The domain-spec of `include`, `exists`, and of `a`, `mx`, `ptr` when given.
    spec: Option<Span>,
}

/// A parsed SPF record. It owns its text; directives, modifiers and macro-strings are
/// read out of it as borrowed views ([`directives`](Self::directives),
/// [`redirect`](Self::redirect), ...), so parsing allocates the text copy and one list,
/// whatever the number of terms.
#[derive(Clone, Debug, Default)]
pub struct Record {
    text: Box<str>,
    terms: Vec<Term>,
    redirect: Option<Span>,
    exp: Option<Span>,
    /// Unknown modifiers (name, value), kept for linting.
    unknown: Vec<(Span, Span)>,
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.directives().eq(other.directives())
            && self.redirect() == other.redirect()
            && self.exp() == other.exp()
            && self
                .unknown_modifiers()
                .map(|(n, v)| (n.to_ascii_lowercase(), v))
                .eq(other
                    .unknown_modifiers()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v)))
    }
}

impl Eq for Record {}

impl Record {
    fn span(&self, s: Span) -> &str {
        self.text
            .get(s.start as usize..s.end as usize)
            .unwrap_or_default()
    }

    fn view(&self, t: &Term) -> Directive<'_> {
        let spec = t.spec.map(|s| MacroString::checked(self.span(s)));
        let mechanism = match t.mechanism {
            Mechanism::Include(_) => Mechanism::Include(spec.unwrap_or_default()),
            Mechanism::Exists(_) => Mechanism::Exists(spec.unwrap_or_default()),
            Mechanism::A { cidr4, cidr6, .. } => Mechanism::A {
                domain: spec,
                cidr4,
                cidr6,
            },
            Mechanism::Mx { cidr4, cidr6, .. } => Mechanism::Mx {
                domain: spec,
                cidr4,
                cidr6,
            },
            Mechanism::Ptr(_) => Mechanism::Ptr(spec),
            Mechanism::All => Mechanism::All,
            Mechanism::Ip4 { addr, prefix } => Mechanism::Ip4 { addr, prefix },
            Mechanism::Ip6 { addr, prefix } => Mechanism::Ip6 { addr, prefix },
        };
        Directive {
            qualifier: t.qualifier,
            mechanism,
        }
    }

    /// The record text as published.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The number of directives.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when the record has no directive.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The directive at `index` (0 is the leftmost).
    pub fn directive(&self, index: usize) -> Option<Directive<'_>> {
        self.terms.get(index).map(|t| self.view(t))
    }

    /// The directives, in order.
    pub fn directives(&self) -> impl ExactSizeIterator<Item = Directive<'_>> + Clone + '_ {
        self.terms.iter().map(|t| self.view(t))
    }

    /// `redirect=`.
    pub fn redirect(&self) -> Option<MacroString<'_>> {
        self.redirect.map(|s| MacroString::checked(self.span(s)))
    }

    /// `exp=`.
    pub fn exp(&self) -> Option<MacroString<'_>> {
        self.exp.map(|s| MacroString::checked(self.span(s)))
    }

    /// Unknown modifiers (name as written, value), kept for linting; they do not change
    /// the result.
    pub fn unknown_modifiers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.unknown
            .iter()
            .map(|&(n, v)| (self.span(n), self.span(v)))
    }
}

impl fmt::Display for Record {
    /// The record text, lower-case names (SPF-009, SPF-016): `v=spf1 <directives>
    /// [redirect=...] [exp=...]`; unknown modifiers are dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=spf1")?;
        for d in self.directives() {
            write!(f, " {d}")?;
        }
        if let Some(r) = self.redirect() {
            write!(f, " redirect={r}")?;
        }
        if let Some(e) = self.exp() {
            write!(f, " exp={e}")?;
        }
        Ok(())
    }
}

/// Problems in an SPF record a publisher should fix (SPF-008, SPF-011, SPF-017, SPF-021):
/// syntax errors, more than 10 lookup terms in the record itself (includes add theirs),
/// `ptr` (discouraged, §5.5), `+all` (any host passes), networks wider than /16 (IPv4) or
/// /32 (IPv6), host bits set in a network, a record over 450 octets, and `txt_strings`
/// (the record's character-strings) longer than 255 octets.
pub fn lint(txt: &[u8], txt_strings: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    if txt_strings.iter().any(|&n| n > 255) {
        out.push("a character-string is longer than 255 octets: split the record".into());
    }
    if txt.len() > 450 {
        out.push(format!(
            "the record is {} octets; over 450 risks truncated DNS answers",
            txt.len()
        ));
    }
    let r = match Record::parse(txt) {
        Ok(r) => r,
        Err(e) => {
            out.push(format!("syntax error: {e}"));
            return out;
        }
    };
    let lookups = r.directives().filter(|d| d.mechanism.does_lookup()).count()
        + usize::from(r.redirect.is_some());
    if lookups > 10 {
        out.push(format!(
            "{lookups} lookup terms: more than 10 is a permerror"
        ));
    }
    for d in r.directives() {
        match &d.mechanism {
            Mechanism::Ptr(_) => out.push("ptr is slow and discouraged (RFC 7208 §5.5)".into()),
            Mechanism::All if d.qualifier == Qualifier::Pass => {
                out.push("+all lets every host on the Internet pass".into());
            }
            Mechanism::Ip4 { addr, prefix } => {
                if *prefix < 16 {
                    out.push(format!("{d}: a network wider than /16"));
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                if u32::from(*addr) & !mask != 0 {
                    out.push(format!("{d}: host bits set; it means the whole network"));
                }
            }
            Mechanism::Ip6 { addr, prefix } => {
                if *prefix < 32 {
                    out.push(format!("{d}: a network wider than /32"));
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                if u128::from(*addr) & !mask != 0 {
                    out.push(format!("{d}: host bits set; it means the whole network"));
                }
            }
            _ => {}
        }
    }
    if r.has_all() && r.redirect.is_some() {
        out.push("redirect= is ignored when the record has an all mechanism".into());
    }
    out
}

/// Why a record does not parse (the check's result is then permerror).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The offending term (empty for record-level problems).
    pub term: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.term.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{:?}: {}", self.term, self.message)
        }
    }
}

impl std::error::Error for RecordError {}

/// True when a TXT record is an SPF version 1 record: `v=spf1` (any case) followed by a
/// space or the end (RFC 7208 §4.5).
pub fn is_spf_record(txt: &[u8]) -> bool {
    txt.len() >= 6 && txt[..6].eq_ignore_ascii_case(b"v=spf1") && (txt.len() == 6 || txt[6] == b' ')
}

impl Record {
    /// Parses a record including its `v=spf1` version. Every term is checked here (a
    /// syntax error anywhere makes the whole record a permerror); nothing is built but the
    /// list of directives.
    pub fn parse(txt: &[u8]) -> Result<Self, RecordError> {
        if !is_spf_record(txt) {
            return Err(RecordError {
                term: String::new(),
                message: "not an SPF record (no v=spf1)".into(),
            });
        }
        if u32::try_from(txt.len()).is_err() {
            return Err(RecordError {
                term: String::new(),
                message: "record too long".into(),
            });
        }
        // At most one term per space (a short count: no need for memchr's set-up).
        #[allow(clippy::naive_bytecount)]
        let mut terms = Vec::with_capacity(txt[6..].iter().filter(|&&b| b == b' ').count());
        let mut rec = Self::default();
        for term in txt[6..].split(|&b| b == b' ').filter(|t| !t.is_empty()) {
            let err = |m: String| RecordError {
                term: String::from_utf8_lossy(term).into_owned(),
                message: m,
            };
            rec.parse_term(txt, term, &mut terms).map_err(err)?;
        }
        // Every octet outside the version is a checked term (printable ASCII) or a space.
        rec.text = std::str::from_utf8(txt)
            .map_err(|_| RecordError {
                term: String::new(),
                message: "not ASCII".into(),
            })?
            .into();
        rec.terms = terms;
        Ok(rec)
    }

    /// True when an `all` mechanism appears (it makes `redirect=` ignored, §6.1).
    pub fn has_all(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.mechanism, Mechanism::All))
    }

    fn parse_term(&mut self, whole: &[u8], t: &[u8], terms: &mut Vec<Term>) -> Result<(), String> {
        // A modifier is name "=" ...; the name is ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
        let name_len = if t[0].is_ascii_alphabetic() {
            t.iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                .count()
        } else {
            0
        };
        if t.get(name_len) == Some(&b'=') {
            if name_len == 0 {
                return Err("modifier without a name".into());
            }
            let name = &t[..name_len];
            let value = &t[name_len + 1..];
            let redirect = name.eq_ignore_ascii_case(b"redirect");
            if redirect || name.eq_ignore_ascii_case(b"exp") {
                let slot = if redirect {
                    &mut self.redirect
                } else {
                    &mut self.exp
                };
                if slot.is_some() {
                    return Err(format!(
                        "{}= appears twice",
                        if redirect { "redirect" } else { "exp" }
                    ));
                }
                check_domain_spec(value)?;
                *slot = Some(Span::of(whole, value));
            } else {
                check_macro_string(value, false)?;
                self.unknown
                    .push((Span::of(whole, name), Span::of(whole, value)));
            }
            return Ok(());
        }
        let (qualifier, rest) = match t[0] {
            b'+' => (Qualifier::Pass, &t[1..]),
            b'-' => (Qualifier::Fail, &t[1..]),
            b'~' => (Qualifier::SoftFail, &t[1..]),
            b'?' => (Qualifier::Neutral, &t[1..]),
            _ => (Qualifier::Pass, t),
        };
        let nlen = rest
            .iter()
            .position(|&b| b == b':' || b == b'/')
            .unwrap_or(rest.len());
        let (name, arg) = rest.split_at(nlen);
        // Lower-case into a small stack buffer: mechanism names are at most 7 octets.
        let mut buf = [0u8; 8];
        let name: &[u8] = if name.len() <= buf.len() {
            for (d, s) in buf.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            &buf[..name.len()]
        } else {
            name
        };
        let spec_of = |s: &[u8]| -> Result<Span, String> {
            check_domain_spec(s)?;
            Ok(Span::of(whole, s))
        };
        let mut spec = None;
        let mechanism = match name {
            b"all" => {
                if !arg.is_empty() {
                    return Err("all takes no argument".into());
                }
                Mechanism::All
            }
            b"include" | b"exists" => {
                let s = arg
                    .strip_prefix(b":")
                    .ok_or_else(|| format!("{} needs :domain", String::from_utf8_lossy(name)))?;
                spec = Some(spec_of(s)?);
                if name == b"include" {
                    Mechanism::Include(MacroString::default())
                } else {
                    Mechanism::Exists(MacroString::default())
                }
            }
            b"a" | b"mx" => {
                let (s, cidr4, cidr6) = split_dual_cidr(arg)?;
                if let Some(s) = s {
                    spec = Some(spec_of(s)?);
                }
                if name == b"a" {
                    Mechanism::A {
                        domain: None,
                        cidr4,
                        cidr6,
                    }
                } else {
                    Mechanism::Mx {
                        domain: None,
                        cidr4,
                        cidr6,
                    }
                }
            }
            b"ptr" => match arg {
                [] => Mechanism::Ptr(None),
                [b':', s @ ..] => {
                    spec = Some(spec_of(s)?);
                    Mechanism::Ptr(None)
                }
                _ => return Err("bad ptr argument".into()),
            },
            b"ip4" => {
                let s = arg.strip_prefix(b":").ok_or("ip4 needs :address")?;
                let (addr, prefix) = split_cidr(s, 32)?;
                let addr = parse_ipv4(addr).ok_or("bad IPv4 address")?;
                Mechanism::Ip4 { addr, prefix }
            }
            b"ip6" => {
                let s = arg.strip_prefix(b":").ok_or("ip6 needs :address")?;
                let (addr, prefix) = split_cidr(s, 128)?;
                let addr = std::str::from_utf8(addr)
                    .ok()
                    .and_then(|a| a.parse::<Ipv6Addr>().ok())
                    .ok_or("bad IPv6 address")?;
                Mechanism::Ip6 { addr, prefix }
            }
            _ => {
                return Err(format!(
                    "unknown mechanism {:?}",
                    String::from_utf8_lossy(name)
                ));
            }
        };
        terms.push(Term {
            qualifier,
            mechanism,
            spec,
        });
        Ok(())
    }
}

/// A dotted quad: four decimal octets of at most 255 without leading zeros (what
/// `Ipv4Addr::from_str` accepts), read straight from the bytes.
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split(|&b| b == b'.');
    for o in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        let mut v = 0u16;
        for &c in p {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u16::from(c - b'0');
        }
        *o = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// ip4-cidr-length = "/" ( "0" / %x31-39 0*1DIGIT ); the same shape up to 3 digits for ip6.
fn parse_len(d: &[u8], max: u8) -> Result<u8, String> {
    let ok = !d.is_empty()
        && d.len() <= 3
        && d.iter().all(u8::is_ascii_digit)
        && (d.len() == 1 || d[0] != b'0');
    let v = ok.then(|| d.iter().fold(0u16, |v, &c| v * 10 + u16::from(c - b'0')));
    match v {
        Some(v) if v <= u16::from(max) => Ok(v as u8),
        _ => Err(format!(
            "bad prefix length {:?}",
            String::from_utf8_lossy(d)
        )),
    }
}

fn split_cidr(spec: &[u8], max: u8) -> Result<(&[u8], u8), String> {
    match memchr::memchr(b'/', spec) {
        Some(p) => Ok((&spec[..p], parse_len(&spec[p + 1..], max)?)),
        None => Ok((spec, max)),
    }
}

/// Splits `[":" domain-spec] [ "/" cidr4 ] [ "//" cidr6 ]`.
fn split_dual_cidr(arg: &[u8]) -> Result<(Option<&[u8]>, u8, u8), String> {
    let mut rest = arg;
    let mut cidr6 = 128;
    let mut cidr4 = 32;
    if let Some(p) = find_last(rest, b"//") {
        let tail = &rest[p + 2..];
        if !tail.is_empty() && tail.iter().all(u8::is_ascii_digit) {
            cidr6 = parse_len(tail, 128)?;
            rest = &rest[..p];
        }
    }
    if let Some(p) = memchr::memrchr(b'/', rest) {
        let tail = &rest[p + 1..];
        if tail.iter().all(u8::is_ascii_digit) {
            cidr4 = parse_len(tail, 32)?;
            rest = &rest[..p];
        }
    }
    match rest {
        [] => Ok((None, cidr4, cidr6)),
        [b':', spec @ ..] => Ok((Some(spec), cidr4, cidr6)),
        _ => Err("bad mechanism argument".into()),
    }
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Record {
        Record::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn bad(s: &str) {
        assert!(Record::parse(s.as_bytes()).is_err(), "{s} should not parse");
    }

    #[test]
    fn book_records_parse() {
        // TC-DNS-06..15 (requirements §10.3).
        for s in [
            "v=spf1 ip4:198.51.100.2 ip6:2001:db8::fe5 ~all",
            "v=spf1 ip4:198.51.100.24/30 ip6:2001:db8::16/125 ~all",
            "v=spf1 a mx ~all",
            "v=spf1 include:_spf.mailspew.com ~all",
            "v=spf1 a mx ip6:2001:db8::16/125 include:_spf.mailspew.com ~all",
            "v=spf1 redirect=_spf.solveamurder.org",
            "v=spf1 -all",
            "v=spf1 +all",
        ] {
            let r = ok(s);
            let again = format!(
                "v=spf1 {}{}",
                r.directives()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                r.redirect()
                    .map(|d| format!("redirect={d}"))
                    .unwrap_or_default()
            );
            assert_eq!(ok(&again), r, "{s} -> {again}");
        }
        let r = ok("V=SPF1 A:Example.COM/24//64 -ALL");
        assert_eq!(
            r.directive(0).unwrap().mechanism.to_string(),
            "a:Example.COM/24//64"
        );
        assert_eq!(r.directive(1).unwrap().qualifier, Qualifier::Fail);
        assert_eq!(r.len(), 2);
        assert_eq!(r.text(), "V=SPF1 A:Example.COM/24//64 -ALL");
    }

    #[test]
    fn syntax_errors() {
        for s in [
            "v=spf1 all:x",
            "v=spf1 all/24",
            "v=spf1 a/33",
            "v=spf1 a//129",
            "v=spf1 ip4:1.2.3.4/032",
            "v=spf1 ip4:1.2.3",
            "v=spf1 ip4:1.2.3.4//32",
            "v=spf1 ip6:::1//33",
            "v=spf1 include",
            "v=spf1 include:",
            "v=spf1 exists",
            "v=spf1 a:",
            "v=spf1 a:foo.1",
            "v=spf1 a:foo.-bar",
            "v=spf1 a:toplabel",
            "v=spf1 a:toplabel.",
            "v=spf1 redirect:x.com",
            "v=spf1 redirect=a.com redirect=b.com",
            "v=spf1 exp=",
            "v=spf1 exp=-all",
            "v=spf1 =all",
            "v=spf1 1up=foo",
            "v=spf1 foo=%abc",
            "v=spf1 a:%{a}.com",
            "v=spf1 a:%{c}.com",
            "v=spf1 a:%{d0}.com",
            "v=spf1 a:%(ir).com",
            "v=spf1 a:x.com\rptr",
            "v=spf1 \u{80}a",
            "v=spf1 moo",
        ] {
            bad(s);
        }
    }

    #[test]
    fn lint_and_print() {
        assert!(lint(b"v=spf1 ip4:198.51.100.2 ip6:2001:db8::fe5 ~all", &[44]).is_empty());
        // TC-DNS-15: +all; SPF-011: host bits.
        assert_eq!(lint(b"v=spf1 +all", &[11]).len(), 1);
        let l = lint(b"v=spf1 ip4:203.0.113.9/24 ip4:10.0.0.0/8 ptr -all", &[300]);
        assert_eq!(l.len(), 4, "{l:?}");
        let many = format!("v=spf1 {}-all", "a ".repeat(11));
        assert!(
            lint(many.as_bytes(), &[many.len()])
                .iter()
                .any(|w| w.contains("11 lookup"))
        );
        assert!(lint(b"v=spf1 moo", &[10])[0].starts_with("syntax error"));
        let r = Record::parse(b"v=spf1 A:Example.com/24 ~ALL redirect=x.example").unwrap();
        assert_eq!(
            r.to_string(),
            "v=spf1 a:Example.com/24 ~all redirect=x.example"
        );
        assert_eq!(Record::parse(r.to_string().as_bytes()).unwrap(), r);
    }

    #[test]
    fn ipv4_reader_agrees_with_std() {
        for s in [
            "192.0.2.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.0",
            "1..3.4",
            "",
            ".",
            "1.2.3.4.",
            "a.b.c.d",
            "1234.1.1.1",
            "1.2.3.-4",
            "+1.2.3.4",
            "1.2.3.4 ",
            "00.0.0.0",
        ] {
            assert_eq!(
                parse_ipv4(s.as_bytes()),
                s.parse::<Ipv4Addr>().ok(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn macro_strings() {
        let m = MacroString::parse("%{ir}.%{v}._spf.%{d2}", false).unwrap();
        assert!(check_domain_spec(m.as_str().as_bytes()).is_ok());
        assert_eq!(m.to_string(), "%{ir}.%{v}._spf.%{d2}");
        assert_eq!(m.parts().count(), 5);
        assert_eq!(
            m.parts().next(),
            Some(MacroPart::Macro {
                letter: MacroLetter::Ip,
                keep: None,
                reverse: true,
                delimiters: "",
                escape: false
            })
        );
        assert_eq!(
            m.parts().last(),
            Some(MacroPart::Macro {
                letter: MacroLetter::Domain,
                keep: Some(2),
                reverse: false,
                delimiters: "",
                escape: false
            })
        );
        let m = MacroString::parse("a%%b%_c%-d.example.com", false).unwrap();
        let text: String = m
            .parts()
            .map(|p| match p {
                MacroPart::Literal(l) => l,
                MacroPart::Macro { .. } => panic!("no macro here"),
            })
            .collect();
        assert_eq!(text, "a%b c%20d.example.com");
        assert!(m.is_literal());
        assert_eq!(m.to_string(), "a%%b%_c%-d.example.com");
        assert!(check_domain_spec(b"a%%b%_c%-d.example.com").is_ok());
        assert!(check_domain_spec(b"%{l2r+-}.user.%{d2}").is_ok());
        assert!(check_domain_spec(b"x.%{d}%%").is_ok());
        assert!(check_domain_spec(b"%{d}.com%_").is_ok());
        assert!(check_domain_spec(b"%{d}.c%%m").is_err());
        assert!(check_domain_spec(b"%{d}com").is_err());
        let m = MacroString::parse("%{L99999999999r-+=}", false).unwrap();
        assert_eq!(
            m.parts().collect::<Vec<_>>(),
            [MacroPart::Macro {
                letter: MacroLetter::Local,
                keep: Some(255),
                reverse: true,
                delimiters: "-+=",
                escape: true
            }]
        );
        assert_eq!(
            MacroString::parse("%{d01}", false).unwrap(),
            MacroString::parse("%{d1}", false).unwrap()
        );
        assert!(MacroString::parse("%{d00}", false).is_err());
        assert!(MacroString::parse("%{c} is %{t} at %{r}", true).is_ok());
        assert!(MacroString::parse("%{c}", false).is_err());
        assert!(MacroString::parse("a b", false).is_err());
        assert!(is_toplabel(b"com") && is_toplabel(b"a-1") && is_toplabel(b"1-2"));
        assert!(!is_toplabel(b"123") && !is_toplabel(b"-a") && !is_toplabel(b"a-"));
        assert!(is_spf_record(b"v=spf1") && is_spf_record(b"V=Spf1 -all"));
        assert!(!is_spf_record(b"v=spf10") && !is_spf_record(b"v=spf1\t-all"));
    }

    #[test]
    fn modifiers_are_views_of_the_text() {
        let r = Record::parse(b"v=spf1 Foo=%{d}.x -all REDIRECT=_spf.%{d} exp=e.%{d}").unwrap();
        assert_eq!(r.redirect().unwrap().as_str(), "_spf.%{d}");
        assert_eq!(r.exp().unwrap().as_str(), "e.%{d}");
        assert_eq!(
            r.unknown_modifiers().collect::<Vec<_>>(),
            [("Foo", "%{d}.x")]
        );
        assert!(r.has_all());
        assert_eq!(Record::parse(r.text().as_bytes()).unwrap(), r);
        assert_ne!(Record::parse(b"v=spf1 -all").unwrap(), r);
    }
}
