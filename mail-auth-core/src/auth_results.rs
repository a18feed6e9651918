//! Authentication-Results (RFC 8601): build, print and parse, and keep only the fields of
//! authserv-ids you trust.
//!
//! ```text
//! authres-payload = [CFWS] authserv-id [ CFWS authres-version ]
//!                   ( no-result / 1*resinfo ) [CFWS] CRLF
//! resinfo         = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
//! methodspec      = [CFWS] method [CFWS] "=" [CFWS] result
//! reasonspec      = "reason" [CFWS] "=" [CFWS] value
//! propspec        = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
//! ```
//!
//! The types are generic (a method, a result keyword, an optional reason and comment, and
//! `ptype.property=value` properties), so DKIM, ARC, SPF, DMARC and iprev results all map
//! onto them. Everyone can forge an Authentication-Results field: before acting on one,
//! keep only those whose authserv-id is your own border's ([`AuthservFilter`]) and remove
//! incoming fields that claim your id (RFC 8601 §5).
//!
//! ```
//! use mail_auth_core::auth_results::{AuthResults, MethodResult, AuthResult};
//!
//! let mut ar = AuthResults::new("mx.example.org");
//! ar.results.push(MethodResult::new("spf", AuthResult::Pass).property("smtp", "mailfrom", "a@example.com"));
//! let text = ar.to_string();
//! assert_eq!(text, "mx.example.org;\r\n\tspf=pass smtp.mailfrom=a@example.com");
//! let back = AuthResults::parse(text.as_bytes()).unwrap();
//! assert_eq!(back, ar);
//! ```

use std::fmt;

/// A result keyword (RFC 8601 §2.7 and the IANA registry).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthResult {
    /// `none`.
    None,
    /// `pass`.
    Pass,
    /// `fail`.
    Fail,
    /// `softfail` (SPF).
    SoftFail,
    /// `neutral`.
    Neutral,
    /// `policy`.
    Policy,
    /// `temperror`.
    TempError,
    /// `permerror`.
    PermError,
    /// Any other keyword (lower-cased), e.g. `hardfail`, `discard`.
    Other(String),
}

impl AuthResult {
    /// Parses a keyword, case-insensitively.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "pass" => Self::Pass,
            "fail" => Self::Fail,
            "softfail" => Self::SoftFail,
            "neutral" => Self::Neutral,
            "policy" => Self::Policy,
            "temperror" => Self::TempError,
            "permerror" => Self::PermError,
            other => Self::Other(other.to_string()),
        }
    }

    /// The keyword.
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "none",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::Neutral => "neutral",
            Self::Policy => "policy",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
            Self::Other(s) => s,
        }
    }
}

/// A `ptype.property=value` item (`header.d=example.org`, `smtp.mailfrom=a@b`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Property {
    /// `smtp`, `header`, `body`, `policy`, ... (lower-cased).
    pub ptype: String,
    /// The property name (lower-cased).
    pub name: String,
    /// The value, unquoted.
    pub value: String,
}

/// One `method=result` with its reason, comment and properties.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MethodResult {
    /// `dkim`, `spf`, `dmarc`, `arc`, `iprev`, `auth`, ... (lower-cased).
    pub method: String,
    /// The method version (`dkim/1`), if given.
    pub version: Option<u32>,
    /// The result.
    pub result: AuthResult,
    /// `reason="..."`.
    pub reason: Option<String>,
    /// The comment after the result, without parentheses (`2048-bit key`).
    pub comment: Option<String>,
    /// The properties, in order.
    pub properties: Vec<Property>,
}

impl MethodResult {
    /// A result with no reason, comment or properties.
    pub fn new(method: &str, result: AuthResult) -> Self {
        Self {
            method: method.to_ascii_lowercase(),
            version: None,
            result,
            reason: None,
            comment: None,
            properties: Vec::new(),
        }
    }

    /// Adds a property.
    #[must_use]
    pub fn property(mut self, ptype: &str, name: &str, value: &str) -> Self {
        self.properties.push(Property {
            ptype: ptype.to_ascii_lowercase(),
            name: name.to_ascii_lowercase(),
            value: value.to_string(),
        });
        self
    }

    /// Sets the reason.
    #[must_use]
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    /// Sets the comment.
    #[must_use]
    pub fn comment(mut self, comment: &str) -> Self {
        self.comment = Some(comment.to_string());
        self
    }

    /// The value of `ptype.name`, if present.
    pub fn get(&self, ptype: &str, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.ptype.eq_ignore_ascii_case(ptype) && p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }
}

/// An Authentication-Results field value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AuthResults {
    /// The authserv-id: who made these checks.
    pub authserv_id: String,
    /// The version after the authserv-id (only `1` exists), if given.
    pub version: Option<u32>,
    /// The results; empty means `none` (no method was applied).
    pub results: Vec<MethodResult>,
}

/// Why an Authentication-Results value does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The value is empty or has no authserv-id.
    NoAuthservId,
    /// Something other than the grammar allows, at this byte offset.
    Syntax(usize),
    /// An unterminated comment or quoted string.
    Unterminated,
    /// More than [`MAX_RESULTS`] results, or comments nested deeper than 8.
    TooComplex,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAuthservId => f.write_str("no authserv-id"),
            Self::Syntax(at) => write!(f, "syntax error at offset {at}"),
            Self::Unterminated => f.write_str("unterminated comment or quoted string"),
            Self::TooComplex => f.write_str("too many results or nested comments"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The most results one field may carry.
pub const MAX_RESULTS: usize = 64;
const MAX_PROPERTIES: usize = 32;
const MAX_COMMENT_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String, usize),
    Quoted(String),
    Semi,
    Eq,
    Comment(String),
}

fn lex(input: &[u8]) -> Result<Vec<Tok>, ParseError> {
    let mut toks = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b';' => {
                toks.push(Tok::Semi);
                i += 1;
            }
            b'=' => {
                toks.push(Tok::Eq);
                i += 1;
            }
            b'(' => {
                let mut depth = 0usize;
                let start = i + 1;
                loop {
                    let Some(&c) = input.get(i) else {
                        return Err(ParseError::Unterminated);
                    };
                    match c {
                        b'\\' => i += 1,
                        b'(' => {
                            depth += 1;
                            if depth > MAX_COMMENT_DEPTH {
                                return Err(ParseError::TooComplex);
                            }
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let text = String::from_utf8_lossy(&input[start..i]);
                toks.push(Tok::Comment(
                    text.split_whitespace().collect::<Vec<_>>().join(" "),
                ));
                i += 1;
            }
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match input.get(i) {
                        None => return Err(ParseError::Unterminated),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            i += 1;
                            // A line break is folding even when escaped: dropped like a
                            // bare one (fuzzing found `\<LF>` kept, then lost on reprint).
                            if let Some(&c) = input.get(i)
                                && !matches!(c, b'\r' | b'\n')
                            {
                                s.push(c);
                            }
                        }
                        Some(b'\r' | b'\n') => {}
                        Some(&c) => s.push(c),
                    }
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Quoted(String::from_utf8_lossy(&s).into_owned()));
            }
            // A ")" outside a comment (found by fuzzing: it made no progress).
            b')' => return Err(ParseError::Syntax(i)),
            0x21..=0x7e | 0x80..=0xff => {
                let start = i;
                while i < input.len()
                    && !matches!(
                        input[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'=' | b'(' | b')' | b'"'
                    )
                    && input[i] >= 0x21
                {
                    i += 1;
                }
                toks.push(Tok::Word(
                    String::from_utf8_lossy(&input[start..i]).into_owned(),
                    start,
                ));
            }
            _ => return Err(ParseError::Syntax(i)),
        }
    }
    Ok(toks)
}

impl AuthResults {
    /// An empty field (`authserv-id; none`) to add results to.
    pub fn new(authserv_id: &str) -> Self {
        Self {
            authserv_id: authserv_id.to_string(),
            version: None,
            results: Vec::new(),
        }
    }

    /// Parses a field value (everything after `Authentication-Results:`). Comments are
    /// kept only where a result's comment goes (after `method=result`).
    pub fn parse(value: &[u8]) -> Result<Self, ParseError> {
        let toks = lex(value)?;
        let mut it = toks
            .into_iter()
            .filter(|t| !matches!(t, Tok::Comment(_)))
            .peekable();
        // Comments matter only after results; re-lex with them for that purpose below.
        let authserv_id = match it.next() {
            Some(Tok::Word(w, _)) => w,
            Some(Tok::Quoted(q)) if !q.is_empty() => q,
            _ => return Err(ParseError::NoAuthservId),
        };
        let _ = it;
        // Second pass, with comments.
        let toks = lex(value)?;
        let mut pos = toks
            .iter()
            .position(|t| matches!(t, Tok::Word(..) | Tok::Quoted(_)))
            .unwrap_or(0)
            + 1;
        let mut out = Self::new(&authserv_id);
        let next_non_comment = |pos: &mut usize| -> Option<&Tok> {
            while let Some(t) = toks.get(*pos) {
                *pos += 1;
                if !matches!(t, Tok::Comment(_)) {
                    return Some(t);
                }
            }
            None
        };
        let peek = |pos: usize| toks[pos..].iter().find(|t| !matches!(t, Tok::Comment(_)));
        // Optional version.
        if let Some(Tok::Word(w, _)) = peek(pos)
            && w.bytes().all(|b| b.is_ascii_digit())
        {
            out.version = w.parse().ok();
            next_non_comment(&mut pos);
        }
        loop {
            match next_non_comment(&mut pos) {
                None => return Ok(out),
                Some(Tok::Semi) => {}
                Some(Tok::Word(_, at)) => return Err(ParseError::Syntax(*at)),
                Some(_) => return Err(ParseError::Syntax(0)),
            }
            // methodspec, or "none"
            let (method, at) = match next_non_comment(&mut pos) {
                None => return Ok(out), // trailing ";"
                Some(Tok::Word(w, at)) => (w.clone(), *at),
                Some(_) => return Err(ParseError::Syntax(0)),
            };
            if method.eq_ignore_ascii_case("none") && !matches!(peek(pos), Some(Tok::Eq)) {
                continue;
            }
            if next_non_comment(&mut pos) != Some(&Tok::Eq) {
                return Err(ParseError::Syntax(at));
            }
            let result = match next_non_comment(&mut pos) {
                Some(Tok::Word(w, _)) => w.clone(),
                _ => return Err(ParseError::Syntax(at)),
            };
            if out.results.len() == MAX_RESULTS {
                return Err(ParseError::TooComplex);
            }
            let (name, version) = match method.split_once('/') {
                Some((m, v)) => (m.to_string(), v.parse().ok()),
                None => (method, None),
            };
            // A methodspec needs a method name (RFC 8601 §2.2: `Keyword`); fuzzing found
            // `;/=x` accepted as an empty method that printed back as an unparsable `=x`.
            if name.is_empty() {
                return Err(ParseError::Syntax(at));
            }
            let mut mr = MethodResult::new(&name, AuthResult::parse(&result));
            mr.version = version;
            if let Some(Tok::Comment(c)) = toks.get(pos) {
                mr.comment = Some(c.clone());
            }
            // reason and properties until the next ";"
            while let Some(t) = peek(pos) {
                if *t == Tok::Semi {
                    break;
                }
                let Some(Tok::Word(key, at)) = next_non_comment(&mut pos) else {
                    return Err(ParseError::Syntax(0));
                };
                let (key, at) = (key.clone(), *at);
                if next_non_comment(&mut pos) != Some(&Tok::Eq) {
                    return Err(ParseError::Syntax(at));
                }
                let value = match next_non_comment(&mut pos) {
                    Some(Tok::Word(w, _) | Tok::Quoted(w)) => w.clone(),
                    // An empty value before ";" or the end.
                    _ => return Err(ParseError::Syntax(at)),
                };
                if key.eq_ignore_ascii_case("reason") {
                    mr.reason = Some(value);
                } else {
                    let (ptype, prop) = key.split_once('.').ok_or(ParseError::Syntax(at))?;
                    if ptype.is_empty() || prop.is_empty() || mr.properties.len() == MAX_PROPERTIES
                    {
                        return Err(ParseError::Syntax(at));
                    }
                    mr = mr.property(ptype, prop, &value);
                }
            }
            out.results.push(mr);
        }
    }

    /// The results of a method (`dkim`, `spf`, ...).
    pub fn method<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a MethodResult> + 'a {
        self.results
            .iter()
            .filter(move |r| r.method.eq_ignore_ascii_case(method))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-./^_`{|}~@:".contains(&b) || b >= 0x80)
}

fn write_value(f: &mut fmt::Formatter<'_>, v: &str) -> fmt::Result {
    if is_token(v) {
        f.write_str(v)
    } else {
        f.write_str("\"")?;
        for c in v.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

impl fmt::Display for AuthResults {
    /// Each result on its own folded line (`CRLF TAB`), so the field can be written as
    /// `Authentication-Results: {value}\r\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, &self.authserv_id)?;
        if let Some(v) = self.version {
            write!(f, " {v}")?;
        }
        if self.results.is_empty() {
            return f.write_str("; none");
        }
        for r in &self.results {
            f.write_str(";\r\n\t")?;
            f.write_str(&r.method)?;
            if let Some(v) = r.version {
                write!(f, "/{v}")?;
            }
            write!(f, "={}", r.result.as_str())?;
            if let Some(c) = &r.comment {
                let safe: String = c
                    .chars()
                    .filter(|&ch| ch != '(' && ch != ')' && ch != '\\')
                    .collect();
                write!(f, " ({safe})")?;
            }
            if let Some(reason) = &r.reason {
                f.write_str(" reason=\"")?;
                for c in reason.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")?;
            }
            for p in &r.properties {
                write!(f, " {}.{}=", p.ptype, p.name)?;
                write_value(f, &p.value)?;
            }
        }
        Ok(())
    }
}

/// Keeps the Authentication-Results of trusted authserv-ids (RFC 8601 §5, §7.1).
#[derive(Clone, Debug, Default)]
pub struct AuthservFilter {
    ids: Vec<String>,
}

impl AuthservFilter {
    /// A filter trusting these authserv-ids (compared case-insensitively).
    pub fn new<S: AsRef<str>>(ids: &[S]) -> Self {
        Self {
            ids: ids
                .iter()
                .map(|s| s.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a parsed field comes from a trusted authserv-id.
    pub fn trusts(&self, ar: &AuthResults) -> bool {
        self.ids
            .iter()
            .any(|i| i.eq_ignore_ascii_case(&ar.authserv_id))
    }

    /// Parses the given field values and keeps the trusted ones; unparsable values are
    /// dropped (they cannot be attributed to anyone).
    pub fn filter<'a>(&self, values: impl IntoIterator<Item = &'a [u8]>) -> Vec<AuthResults> {
        values
            .into_iter()
            .filter_map(|v| AuthResults::parse(v).ok())
            .filter(|ar| self.trusts(ar))
            .collect()
    }

    /// Whether an incoming field must be removed at the border: it claims one of our
    /// ids (a forgery, or a leftover), or cannot be parsed at all.
    pub fn must_strip(&self, value: &[u8]) -> bool {
        AuthResults::parse(value).map_or(true, |ar| self.trusts(&ar))
    }
}

impl From<&crate::dkim::SignatureResult> for MethodResult {
    /// `dkim=<result> (<bits>-bit key[; testing][; N unsigned octets]) header.d=
    /// header.i= header.s= header.a= header.b=` (RFC 6008 `header.b`, 8 characters).
    fn from(r: &crate::dkim::SignatureResult) -> Self {
        use crate::dkim::Status;
        let result = match r.status {
            Status::Pass => AuthResult::Pass,
            Status::Fail => AuthResult::Fail,
            Status::Neutral => AuthResult::Neutral,
            Status::Policy => AuthResult::Policy,
            Status::TempError => AuthResult::TempError,
            Status::PermError => AuthResult::PermError,
        };
        let mut m = Self::new("dkim", result);
        let mut notes = Vec::new();
        if let Some(b) = r.key_bits {
            notes.push(format!("{b}-bit key"));
        }
        if r.testing {
            notes.push("testing".to_string());
        }
        if let Some(n) = r.unsigned_body_octets.filter(|&n| n > 0) {
            notes.push(format!("{n} body octets not signed"));
        }
        if !notes.is_empty() {
            m.comment = Some(notes.join("; "));
        }
        if let Some(reason) = &r.reason {
            m.reason = Some(reason.to_string());
        }
        if let Some(d) = &r.domain {
            m = m.property("header", "d", d);
        }
        if let Some(sig) = &r.signature {
            let i = sig
                .identity
                .clone()
                .unwrap_or_else(|| format!("@{}", sig.domain));
            m = m.property("header", "i", &i);
        }
        if let Some(s) = &r.selector {
            m = m.property("header", "s", s);
        }
        if let Some(sig) = &r.signature {
            m = m.property("header", "a", sig.algorithm.as_str());
        }
        if let Some(b) = r.b_prefix() {
            m = m.property("header", "b", b);
        }
        m
    }
}

impl From<&crate::arc::ArcOutput> for MethodResult {
    /// `arc=<status> (i=<n>[; <failure>])`.
    fn from(o: &crate::arc::ArcOutput) -> Self {
        let result = match o.status {
            crate::arc::ChainStatus::None => AuthResult::None,
            crate::arc::ChainStatus::Pass => AuthResult::Pass,
            crate::arc::ChainStatus::Fail => AuthResult::Fail,
        };
        let mut m = Self::new("arc", result);
        if o.instances > 0 {
            m.comment = Some(format!("i={}", o.instances));
        }
        if let Some(f) = &o.failure {
            m.reason = Some(f.to_string());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_method_name_is_a_syntax_error() {
        // The fuzzer's input (dkim_auth_results): `//` before `=` left an empty method.
        for v in [
            &b"mx.example; //=z&\\"[..],
            b"mx.example; /1=pass",
            b"mx.example; =pass",
        ] {
            assert!(
                AuthResults::parse(v).is_err(),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
        let ar = AuthResults::parse(b"\"\x01a\\\n\"; none").unwrap();
        assert_eq!(ar.authserv_id, "\u{1}a");
        assert_eq!(AuthResults::parse(ar.to_string().as_bytes()).unwrap(), ar);
        let crash =
            b"\x96\xbf\xef\xbd\xbf\xef\xbd\xef\x90Z\x96\xc8\xd6\xbd;//=z&\\;\xc8&ZV\xc8/=z&\\;";
        if let Ok(ar) = AuthResults::parse(crash) {
            AuthResults::parse(ar.to_string().as_bytes()).expect("printed field parses");
        }
    }

    #[test]
    fn parses_rfc8601_examples() {
        // RFC 8601 Appendix B.3.
        let ar =
            AuthResults::parse(b" example.com;\r\n          spf=pass smtp.mailfrom=example.net")
                .unwrap();
        assert_eq!(ar.authserv_id, "example.com");
        assert_eq!(ar.results[0].result, AuthResult::Pass);
        assert_eq!(ar.results[0].get("smtp", "mailfrom"), Some("example.net"));
        // B.4: several results, a version, comments.
        let ar = AuthResults::parse(
            b" example.com;\r\n auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n spf=pass smtp.mailfrom=example.net",
        )
        .unwrap();
        assert_eq!(ar.results.len(), 2);
        assert_eq!(ar.results[0].comment.as_deref(), Some("cram-md5"));
        assert_eq!(
            ar.results[0].get("smtp", "auth"),
            Some("sender@example.net")
        );
        // B.2: none.
        let ar = AuthResults::parse(b" example.org 1; none").unwrap();
        assert!(ar.results.is_empty());
        assert_eq!(ar.version, Some(1));
        // B.6: reason, header.i with @, quoted strings, nested comments.
        let ar = AuthResults::parse(
            b" mail-router.example.net;\r\n dkim=pass (good signature) header.d=newyork.example.com\r\n header.b=oINEO8hg;\r\n dkim=fail (bad signature) reason=\"key (x) \\\"revoked\\\"\" header.i=@mail-router.example.net (a (nested) comment)",
        )
        .unwrap();
        assert_eq!(ar.results[1].reason.as_deref(), Some("key (x) \"revoked\""));
        assert_eq!(
            ar.results[1].get("header", "i"),
            Some("@mail-router.example.net")
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(AuthResults::parse(b"  "), Err(ParseError::NoAuthservId));
        assert!(AuthResults::parse(b"x; dkim").is_err());
        assert!(AuthResults::parse(b"x; dkim=pass header").is_err());
        assert!(AuthResults::parse(b"x; dkim=pass (open").is_err());
        assert!(AuthResults::parse(b"x; dkim=pass header.d=\"open").is_err());
        // Fuzzing found these: a stray ")" once looped forever.
        assert!(AuthResults::parse(b"):").is_err());
        assert!(AuthResults::parse(b"x; dkim=pass )").is_err());
    }

    #[test]
    fn round_trips() {
        let mut ar = AuthResults::new("mx.example.org");
        ar.results.push(
            MethodResult::new("dkim", AuthResult::Fail)
                .comment("1024-bit key")
                .reason("body hash did not verify")
                .property("header", "d", "example.com")
                .property("header", "b", "abc+/def"),
        );
        ar.results
            .push(MethodResult::new("dmarc", AuthResult::Pass).property(
                "header",
                "from",
                "example.com",
            ));
        let text = ar.to_string();
        assert_eq!(AuthResults::parse(text.as_bytes()).unwrap(), ar);
        assert_eq!(AuthResults::new("a.b").to_string(), "a.b; none");
    }

    #[test]
    fn trust_filter() {
        let f = AuthservFilter::new(&["mx.example.org"]);
        let kept = f.filter([
            &b"MX.example.org; spf=pass smtp.mailfrom=a@b"[..],
            b"evil.example; dkim=pass",
            b";;",
        ]);
        assert_eq!(kept.len(), 1);
        assert!(f.must_strip(b"mx.example.org; dkim=pass"));
        assert!(!f.must_strip(b"other.example; dkim=pass"));
        assert!(f.must_strip(b"(unparsable"));
    }
}
