//! DKIM signing (RFC 6376 §5).
//!
//! The signer never emits `l=` (DKIM-004), always signs From (and refuses a message with
//! none or several), signs the listed header fields that are present, and oversigns the
//! fields that must appear at most once so that adding one breaks the signature. Output is
//! deterministic for a given key, message and time: tags in a fixed order, folded at 78
//! columns (DKIM-021).

use base64::Engine;

use super::HashAlgorithm;
use super::canon::{self, Canonicalization};
use super::header::HeaderBlock;
use super::key::{Sign, SignError};
use super::signature::valid_domain;
use super::verify::Scan;

/// Header fields signed when present (DKIM-005): the originator and destination fields,
/// the subject and identification fields, MIME and list fields. Never trace fields.
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
];

/// Fields oversigned by default: RFC 5322 §3.6 allows each at most once, so a second
/// instance added in transit can only be an attack (RFC 6376 §8.15).
pub const DEFAULT_OVERSIGNED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "in-reply-to",
    "references",
];

/// A DKIM signer for one key, domain and selector.
pub struct Signer<'k> {
    key: &'k dyn Sign,
    domain: String,
    selector: String,
    headers: Vec<String>,
    oversign: Vec<String>,
    header_canon: Canonicalization,
    body_canon: Canonicalization,
    identity: Option<String>,
    expire_after: Option<u64>,
    max_header_octets: usize,
}

impl std::fmt::Debug for Signer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.key.algorithm())
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl<'k> Signer<'k> {
    /// A signer with the defaults: relaxed/relaxed, [`DEFAULT_SIGNED_HEADERS`],
    /// [`DEFAULT_OVERSIGNED_HEADERS`], `t=` set, no `x=`, no `i=`, header up to 256 KiB.
    pub fn new(key: &'k dyn Sign, domain: &str, selector: &str) -> Result<Self, SignError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let selector = selector.to_ascii_lowercase();
        if !valid_domain(&domain) {
            return Err(SignError::Config(format!("bad domain {domain:?}")));
        }
        if !valid_domain(&selector) {
            return Err(SignError::Config(format!("bad selector {selector:?}")));
        }
        Ok(Self {
            key,
            domain,
            selector,
            headers: DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            oversign: DEFAULT_OVERSIGNED_HEADERS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            header_canon: Canonicalization::Relaxed,
            body_canon: Canonicalization::Relaxed,
            identity: None,
            expire_after: None,
            max_header_octets: 256 * 1024,
        })
    }

    /// The header fields to sign when present (From is always signed).
    pub fn headers<S: AsRef<str>>(&mut self, names: &[S]) -> &mut Self {
        self.headers = names
            .iter()
            .map(|n| n.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// The header fields to oversign (listed once more than they occur).
    pub fn oversign<S: AsRef<str>>(&mut self, names: &[S]) -> &mut Self {
        self.oversign = names
            .iter()
            .map(|n| n.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// Header and body canonicalization.
    pub fn canonicalization(
        &mut self,
        header: Canonicalization,
        body: Canonicalization,
    ) -> &mut Self {
        self.header_canon = header;
        self.body_canon = body;
        self
    }

    /// `i=`: must end in `@` + the domain or a subdomain of it.
    pub fn identity(&mut self, identity: &str) -> Result<&mut Self, SignError> {
        let ok = identity.rsplit_once('@').is_some_and(|(_, d)| {
            let d = d.to_ascii_lowercase();
            valid_domain(&d) && (d == self.domain || d.ends_with(&format!(".{}", self.domain)))
        });
        if !ok {
            return Err(SignError::Config(format!(
                "i={identity} is not in d={}",
                self.domain
            )));
        }
        self.identity = Some(identity.to_string());
        Ok(self)
    }

    /// `x=`: the signature expires this many seconds after signing.
    pub fn expire_after(&mut self, seconds: u64) -> &mut Self {
        self.expire_after = Some(seconds.max(1));
        self
    }

    /// The largest header block accepted.
    pub fn max_header_octets(&mut self, n: usize) -> &mut Self {
        self.max_header_octets = n;
        self
    }

    /// Signs a whole message; returns the DKIM-Signature field, CRLF-terminated, to put
    /// at the top of the message.
    pub fn sign(&self, message: &[u8], now: u64) -> Result<String, SignError> {
        let mut s = self.stream(now);
        s.update(message);
        s.finish()
    }

    /// A streaming signer: feed the message in chunks, then [`SignStream::finish`].
    pub fn stream(&self, now: u64) -> SignStream<'_, 'k> {
        SignStream {
            signer: self,
            now,
            scan: Scan::new(self.max_header_octets),
        }
    }

    /// The `h=` list for a header block.
    fn header_list(&self, block: &HeaderBlock) -> Vec<String> {
        let mut list = Vec::new();
        let mut names: Vec<&str> = vec!["from"];
        names.extend(
            self.headers
                .iter()
                .map(String::as_str)
                .filter(|n| *n != "from"),
        );
        for name in names {
            let n = block.count(name);
            let extra = usize::from(self.oversign.iter().any(|o| o == name));
            for _ in 0..n + if n > 0 || name == "from" { extra } else { 0 } {
                list.push(name.to_string());
            }
        }
        list
    }
}

/// A signature in progress (see [`Signer::stream`]).
pub struct SignStream<'s, 'k> {
    signer: &'s Signer<'k>,
    now: u64,
    scan: Scan,
}

impl std::fmt::Debug for SignStream<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignStream")
            .field("signer", self.signer)
            .finish_non_exhaustive()
    }
}

impl SignStream<'_, '_> {
    /// Takes the next bytes of the message.
    pub fn update(&mut self, chunk: &[u8]) {
        let c = self.signer.body_canon;
        self.scan.update(chunk, |_, h| {
            h.index((c, HashAlgorithm::Sha256, None));
        });
    }

    /// Ends the message and returns the DKIM-Signature field.
    pub fn finish(mut self) -> Result<String, SignError> {
        let c = self.signer.body_canon;
        let digests = self.scan.finish(|_, h| {
            h.index((c, HashAlgorithm::Sha256, None));
        });
        if self.scan.too_large {
            return Err(SignError::HeaderTooLarge);
        }
        let block = self.scan.block.take().unwrap_or_default();
        match block.count("from") {
            0 => return Err(SignError::NoFrom),
            1 => {}
            n => return Err(SignError::Config(format!("message has {n} From fields"))),
        }
        let s = self.signer;
        let alg = s.key.algorithm();
        if alg.hash() != HashAlgorithm::Sha256 {
            return Err(SignError::Config(
                "signing with rsa-sha1 is not supported".into(),
            ));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let bh = b64.encode(&digests[0].0);
        let h = s.header_list(&block);

        let mut tags = vec![
            "v=1".to_string(),
            format!("a={}", alg.as_str()),
            format!("c={}/{}", s.header_canon.as_str(), s.body_canon.as_str()),
            format!("d={}", s.domain),
            format!("s={}", s.selector),
        ];
        if let Some(i) = &s.identity {
            tags.push(format!("i={i}"));
        }
        tags.push(format!("t={}", self.now));
        if let Some(x) = s.expire_after {
            tags.push(format!("x={}", self.now.saturating_add(x)));
        }
        tags.push(format!("h={}", h.join(":")));
        tags.push(format!("bh={bh}"));
        let mut field = String::from("DKIM-Signature:");
        let mut col = field.len();
        fold_tags(&mut field, &mut col, &tags);
        field.push_str(" b=");
        col += 3;
        // What is signed: the selected fields, then this field with b= empty.
        let mut data = Vec::with_capacity(1024);
        for i in block.select(&h, &[]).into_iter().flatten() {
            let f = &block.fields[i];
            canon::header(s.header_canon, block.name(f), block.value(f), &mut data);
        }
        canon::header(
            s.header_canon,
            b"DKIM-Signature",
            &field.as_bytes()["DKIM-Signature:".len()..],
            &mut data,
        );
        data.truncate(data.len() - 2);
        let sig = s.key.sign(&data)?;
        fold_base64(&mut field, col, &b64.encode(sig));
        field.push_str("\r\n");
        Ok(field)
    }
}

/// Appends `tag;` items separated by spaces, folding before a tag that would pass column
/// 78. Long values (h=, bh=) are folded at their own colons or left long.
pub(crate) fn fold_tags(out: &mut String, col: &mut usize, tags: &[String]) {
    for t in tags {
        let item = format!("{t};");
        if *col + 1 + item.len() > 78 && *col > 1 {
            out.push_str("\r\n\t");
            *col = 8;
        } else {
            out.push(' ');
            *col += 1;
        }
        if item.len() > 70 && item.contains(':') {
            // An h= list: fold after colons.
            let mut first = true;
            for part in item.split_inclusive(':') {
                if !first && *col + part.len() > 78 {
                    out.push_str("\r\n\t ");
                    *col = 9;
                }
                out.push_str(part);
                *col += part.len();
                first = false;
            }
        } else {
            out.push_str(&item);
            *col += item.len();
        }
    }
}

/// Appends a base64 value folded at column 78 with CRLF TAB.
pub(crate) fn fold_base64(out: &mut String, mut col: usize, b64: &str) {
    let mut rest = b64;
    while !rest.is_empty() {
        let room = 78usize.saturating_sub(col).max(8);
        let n = room.min(rest.len());
        out.push_str(&rest[..n]);
        rest = &rest[n..];
        if !rest.is_empty() {
            out.push_str("\r\n\t");
            col = 8;
        }
    }
}
