//! The DKIM-Signature header field (RFC 6376 §3.5) and the shared tag checks that the
//! ARC-Message-Signature reuses (RFC 8617 §4.1.2).

use super::Algorithm;
use super::canon::Canonicalization;
use super::tag::{self, Tag, TagError};

/// Why a DKIM-Signature (or ARC-Message-Signature) field is unusable: a `permerror`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The tag list does not parse.
    Tags(TagError),
    /// A required tag is absent.
    MissingTag(&'static str),
    /// `v=` is not `1`.
    Version,
    /// `a=` names an algorithm this crate does not know.
    UnknownAlgorithm(String),
    /// `c=` is not `simple` or `relaxed` (or a pair of them).
    Canonicalization,
    /// `d=` is not a domain name.
    Domain,
    /// `s=` is not a selector (a dot-atom of sub-domain labels).
    Selector,
    /// `h=` does not include `from` (RFC 6376 §5.4).
    FromNotSigned,
    /// `i=` is not `[local-part] @ domain` or its domain is not `d=` or a subdomain of it.
    Identity,
    /// A base64 value (`b=`, `bh=`) does not decode, or is empty.
    Base64(&'static str),
    /// A number (`l=`, `t=`, `x=`, ARC `i=`) is not a decimal of at most 12 digits.
    Number(&'static str),
    /// `x=` is not later than `t=`.
    ExpiresBeforeSigned,
    /// `q=` lists no method this crate can use (only `dns/txt` exists).
    QueryMethod,
    /// `h=` contains an empty or malformed header field name.
    HeaderList,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tags(e) => write!(f, "bad tag list: {e}"),
            Self::MissingTag(t) => write!(f, "missing {t}= tag"),
            Self::Version => f.write_str("unsupported v= (must be 1)"),
            Self::UnknownAlgorithm(a) => write!(f, "unknown algorithm a={a}"),
            Self::Canonicalization => f.write_str("bad c= canonicalization"),
            Self::Domain => f.write_str("bad d= domain"),
            Self::Selector => f.write_str("bad s= selector"),
            Self::FromNotSigned => f.write_str("h= does not sign From"),
            Self::Identity => f.write_str("i= is not in the d= domain"),
            Self::Base64(t) => write!(f, "bad base64 in {t}="),
            Self::Number(t) => write!(f, "bad number in {t}="),
            Self::ExpiresBeforeSigned => f.write_str("x= is not after t="),
            Self::QueryMethod => f.write_str("q= has no dns/txt method"),
            Self::HeaderList => f.write_str("bad header name in h="),
        }
    }
}

impl std::error::Error for SignatureError {}

impl From<TagError> for SignatureError {
    fn from(e: TagError) -> Self {
        Self::Tags(e)
    }
}

/// A parsed DKIM-Signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// `a=`.
    pub algorithm: Algorithm,
    /// `b=`, decoded.
    pub signature: Vec<u8>,
    /// `b=` as it appeared, whitespace removed (for `header.b=` in Authentication-Results).
    pub signature_b64: String,
    /// `bh=`, decoded.
    pub body_hash: Vec<u8>,
    /// Header canonicalization (`c=`, first part; default simple).
    pub header_canon: Canonicalization,
    /// Body canonicalization (`c=`, second part; default simple).
    pub body_canon: Canonicalization,
    /// `d=`, lower-cased.
    pub domain: String,
    /// `s=`, lower-cased.
    pub selector: String,
    /// `h=`: the signed header field names, lower-cased, in order.
    pub signed_headers: Vec<String>,
    /// `i=` (the agent or user identifier), if present.
    pub identity: Option<String>,
    /// `l=`: how many canonical body octets the body hash covers.
    pub body_length: Option<u64>,
    /// `t=`: signing time, seconds since the epoch.
    pub timestamp: Option<u64>,
    /// `x=`: expiration time, seconds since the epoch.
    pub expiration: Option<u64>,
    /// `z=`: copied header fields, raw.
    pub copied_headers: Option<String>,
}

impl Signature {
    /// Parses the value of a DKIM-Signature header field (everything after the colon).
    pub fn parse(value: &[u8]) -> Result<Self, SignatureError> {
        let tags = tag::parse(value)?;
        match find(&tags, "v") {
            Some(v) if v == b"1" => {}
            Some(_) => return Err(SignatureError::Version),
            None => return Err(SignatureError::MissingTag("v")),
        }
        let common = Common::parse(&tags, FieldKind::Dkim)?;
        if let Some(q) = find(&tags, "q")
            && !tag::colon_list(q).any(|m| m.eq_ignore_ascii_case(b"dns/txt"))
        {
            return Err(SignatureError::QueryMethod);
        }
        let identity = match find(&tags, "i") {
            Some(i) => {
                let i = std::str::from_utf8(i).map_err(|_| SignatureError::Identity)?;
                let (_, dom) = i.rsplit_once('@').ok_or(SignatureError::Identity)?;
                let dom = dom.to_ascii_lowercase();
                if !valid_domain(&dom)
                    || !(dom == common.domain || dom.ends_with(&format!(".{}", common.domain)))
                {
                    return Err(SignatureError::Identity);
                }
                Some(i.to_string())
            }
            None => None,
        };
        let body_length = number(&tags, "l")?;
        let expiration = number(&tags, "x")?;
        if let (Some(t), Some(x)) = (common.timestamp, expiration)
            && x <= t
        {
            return Err(SignatureError::ExpiresBeforeSigned);
        }
        Ok(Self {
            algorithm: common.algorithm,
            signature: common.signature,
            signature_b64: common.signature_b64,
            body_hash: common.body_hash,
            header_canon: common.header_canon,
            body_canon: common.body_canon,
            domain: common.domain,
            selector: common.selector,
            signed_headers: common.signed_headers,
            identity,
            body_length,
            timestamp: common.timestamp,
            expiration,
            copied_headers: find(&tags, "z").map(|z| String::from_utf8_lossy(z).into_owned()),
        })
    }

    /// The domain of the identity: `i=`'s domain, or `d=` when `i=` is absent.
    pub fn identity_domain(&self) -> &str {
        self.identity
            .as_deref()
            .and_then(|i| i.rsplit_once('@'))
            .map_or(self.domain.as_str(), |(_, d)| d)
    }

    /// The DNS name of the key record: `<s>._domainkey.<d>` (RFC 6376 §3.6.2.1).
    pub fn key_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }
}

/// Which field a tag list belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// DKIM-Signature: `h=` must sign From; `c=` defaults to simple/simple.
    Dkim,
    /// ARC-Message-Signature: `h=` may be empty; `c=` defaults to relaxed/relaxed (as
    /// dkimpy and the ValiMail suite have it).
    Ams,
    /// ARC-Seal: no `bh=`, `c=` or `h=`.
    Seal,
}

/// The tags DKIM-Signature and ARC-Message-Signature share: a, b, bh, c, d, h, s, t.
#[derive(Clone, Debug)]
pub(crate) struct Common {
    pub(crate) algorithm: Algorithm,
    pub(crate) signature: Vec<u8>,
    pub(crate) signature_b64: String,
    pub(crate) body_hash: Vec<u8>,
    pub(crate) header_canon: Canonicalization,
    pub(crate) body_canon: Canonicalization,
    pub(crate) domain: String,
    pub(crate) selector: String,
    pub(crate) signed_headers: Vec<String>,
    pub(crate) timestamp: Option<u64>,
}

impl Common {
    #[allow(clippy::many_single_char_names)]
    pub(crate) fn parse(tags: &[Tag<'_>], kind: FieldKind) -> Result<Self, SignatureError> {
        let a = find(tags, "a").ok_or(SignatureError::MissingTag("a"))?;
        let algorithm = Algorithm::parse(a).ok_or_else(|| {
            SignatureError::UnknownAlgorithm(String::from_utf8_lossy(a).into_owned())
        })?;
        let b = find(tags, "b").ok_or(SignatureError::MissingTag("b"))?;
        let signature = tag::base64_value(b)
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::Base64("b"))?;
        let signature_b64 = String::from_utf8_lossy(&tag::strip_wsp(b)).into_owned();
        let d = find(tags, "d").ok_or(SignatureError::MissingTag("d"))?;
        let domain = std::str::from_utf8(d)
            .ok()
            .map(str::to_ascii_lowercase)
            .filter(|d| valid_domain(d))
            .ok_or(SignatureError::Domain)?;
        let s = find(tags, "s").ok_or(SignatureError::MissingTag("s"))?;
        let selector = std::str::from_utf8(s)
            .ok()
            .map(str::to_ascii_lowercase)
            .filter(|s| valid_domain(s))
            .ok_or(SignatureError::Selector)?;
        let timestamp = number(tags, "t")?;
        let (mut body_hash, mut header_canon, mut body_canon, mut signed_headers) = (
            Vec::new(),
            Canonicalization::Simple,
            Canonicalization::Simple,
            Vec::new(),
        );
        if kind == FieldKind::Ams {
            (header_canon, body_canon) = (Canonicalization::Relaxed, Canonicalization::Relaxed);
        }
        if kind != FieldKind::Seal {
            let bh = find(tags, "bh").ok_or(SignatureError::MissingTag("bh"))?;
            body_hash = tag::base64_value(bh)
                .filter(|s| !s.is_empty())
                .ok_or(SignatureError::Base64("bh"))?;
            if let Some(c) = find(tags, "c") {
                (header_canon, body_canon) = parse_canon(c)?;
            }
            let h = find(tags, "h").ok_or(SignatureError::MissingTag("h"))?;
            // Empty names (`h=a::b`, `h=`) select nothing; they are tolerated.
            for name in tag::colon_list(h).filter(|n| !n.is_empty()) {
                if !name
                    .iter()
                    .all(|&b| (0x21..=0x7e).contains(&b) && b != b':')
                {
                    return Err(SignatureError::HeaderList);
                }
                signed_headers.push(String::from_utf8_lossy(name).to_ascii_lowercase());
            }
            if kind == FieldKind::Dkim && !signed_headers.iter().any(|h| h == "from") {
                return Err(SignatureError::FromNotSigned);
            }
        }
        Ok(Self {
            algorithm,
            signature,
            signature_b64,
            body_hash,
            header_canon,
            body_canon,
            domain,
            selector,
            signed_headers,
            timestamp,
        })
    }
}

/// `c=`: `header[/body]`; a lone value sets the header algorithm, the body stays simple.
pub(crate) fn parse_canon(
    c: &[u8],
) -> Result<(Canonicalization, Canonicalization), SignatureError> {
    let one = |v: &[u8]| match v {
        b"simple" => Ok(Canonicalization::Simple),
        b"relaxed" => Ok(Canonicalization::Relaxed),
        _ => Err(SignatureError::Canonicalization),
    };
    match c.iter().position(|&b| b == b'/') {
        Some(p) => Ok((one(&c[..p])?, one(&c[p + 1..])?)),
        None => Ok((one(c)?, Canonicalization::Simple)),
    }
}

pub(crate) fn find<'a>(tags: &[Tag<'a>], name: &str) -> Option<&'a [u8]> {
    tags.iter()
        .find(|t| t.name == name.as_bytes())
        .map(|t| t.value)
}

pub(crate) fn number(tags: &[Tag<'_>], name: &'static str) -> Result<Option<u64>, SignatureError> {
    match find(tags, name) {
        None => Ok(None),
        Some(v) => tag::decimal(v)
            .map(Some)
            .ok_or(SignatureError::Number(name)),
    }
}

/// A DNS name of LDH labels (underscores allowed, for selectors and `_domainkey`-style
/// names): 1 to 63 octets per label, at most 253 in all, no empty label.
pub(crate) fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8463: &[u8] = b" v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n subject : date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

    #[test]
    fn parses_rfc8463_signature() {
        let s = Signature::parse(RFC8463).unwrap();
        assert_eq!(s.algorithm, Algorithm::Ed25519Sha256);
        assert_eq!(s.domain, "football.example.com");
        assert_eq!(s.selector, "brisbane");
        assert_eq!(s.header_canon, Canonicalization::Relaxed);
        assert_eq!(s.body_canon, Canonicalization::Relaxed);
        assert_eq!(s.signed_headers.len(), 8);
        assert_eq!(s.signed_headers[0], "from");
        assert_eq!(s.timestamp, Some(1_528_637_909));
        assert_eq!(s.body_hash.len(), 32);
        assert_eq!(s.signature.len(), 64);
        assert_eq!(s.key_name(), "brisbane._domainkey.football.example.com");
        assert_eq!(s.identity_domain(), "football.example.com");
        assert!(s.signature_b64.starts_with("/gCrinpc"));
    }

    fn base() -> String {
        "v=1; a=rsa-sha256; d=example.org; s=sel; h=from:to; bh=AAAA; b=AAAA".to_string()
    }

    #[test]
    fn rejects_bad_signatures() {
        let p = |s: &str| Signature::parse(s.as_bytes());
        assert!(p(&base()).is_ok());
        assert_eq!(
            p(&base().replace("v=1", "v=2")),
            Err(SignatureError::Version)
        );
        assert_eq!(
            p(&base().replace("from:to", "to")),
            Err(SignatureError::FromNotSigned)
        );
        assert_eq!(
            p(&base().replace("d=example.org", "d=legitimate.com(.attacker.com")),
            Err(SignatureError::Domain)
        );
        assert_eq!(
            p(&(base() + "; i=@other.org")),
            Err(SignatureError::Identity)
        );
        assert!(p(&(base() + "; i=user@sub.example.org")).is_ok());
        assert!(p(&(base() + "; i=@Example.ORG")).is_ok());
        assert_eq!(
            p(&(base() + "; t=10; x=10")),
            Err(SignatureError::ExpiresBeforeSigned)
        );
        assert_eq!(p(&(base() + "; l=x")), Err(SignatureError::Number("l")));
        assert_eq!(p(&(base() + "; q=http")), Err(SignatureError::QueryMethod));
        assert_eq!(
            p(&base().replace("rsa-sha256", "rsa-md5")),
            Err(SignatureError::UnknownAlgorithm("rsa-md5".into()))
        );
        assert_eq!(
            p(&(base() + "; c=relaxed/fancy")),
            Err(SignatureError::Canonicalization)
        );
        assert_eq!(
            p(&base().replace("b=AAAA", "b=")),
            Err(SignatureError::Base64("b"))
        );
        assert!(matches!(
            p(&(base() + "; d=x")),
            Err(SignatureError::Tags(_))
        ));
        assert_eq!(
            p(&base().replace("s=sel; ", "")),
            Err(SignatureError::MissingTag("s"))
        );
    }

    #[test]
    fn canonicalization_defaults() {
        let s = Signature::parse((base() + "; c=relaxed").as_bytes()).unwrap();
        assert_eq!(
            (s.header_canon, s.body_canon),
            (Canonicalization::Relaxed, Canonicalization::Simple)
        );
        let s = Signature::parse(base().as_bytes()).unwrap();
        assert_eq!(
            (s.header_canon, s.body_canon),
            (Canonicalization::Simple, Canonicalization::Simple)
        );
    }
}
