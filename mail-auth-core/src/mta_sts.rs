//! MTA-STS (RFC 8461): the `_mta-sts` record, the policy file, MX matching and the caching
//! rules. The HTTPS fetch of the policy is a question to the host, like a DNS lookup:
//! [`Discovery`] answers with [`Next::Fetch`] and the URL, the host fetches it (WebPKI
//! validation, no redirects) and hands status, content type and body to
//! [`accept_fetch`]; nothing here does I/O or reads a clock.
//!
//! ```
//! use mail_auth_core::dns::{Record, StaticResolver, drive};
//! use mail_auth_core::mta_sts::{Discovery, Mode, Next, accept_fetch};
//!
//! let mut zone = StaticResolver::default();
//! zone.add("_mta-sts.example.org", Record::Txt(b"v=STSv1; id=2024022901;".to_vec()));
//! let now = 1_700_000_000;
//! let Next::Fetch { url, id } = drive(Discovery::new("example.org", None, now), &zone) else {
//!     panic!("expected a fetch")
//! };
//! assert_eq!(url, "https://mta-sts.example.org/.well-known/mta-sts.txt");
//! // The host fetched it:
//! let body = b"version: STSv1\nmode: enforce\nmx: *.example.org\nmax_age: 604800\n";
//! let cached = accept_fetch(200, Some("text/plain"), body, &id, now).unwrap();
//! assert_eq!(cached.policy.mode, Mode::Enforce);
//! assert!(cached.policy.matches("mx1.example.org"));
//! assert!(!cached.policy.matches("a.b.example.org"));
//! // Next time, the same id: the cached policy is used without a fetch.
//! let next = drive(Discovery::new("example.org", Some(cached.clone()), now + 60), &zone);
//! assert_eq!(next, Next::UseCached(cached));
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::dns::{Answer, DnsMachine, Poll, Question, RecordType};

/// The largest `max_age` (RFC 8461 §3.2): one year.
pub const MAX_AGE_LIMIT: u32 = 31_557_600;

/// The largest policy body accepted (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY_SIZE: usize = 64 * 1024;

/// A `v=STSv1` record (STS-001).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StsRecord {
    /// `id=`: 1 to 32 letters and digits; a new id means a new policy.
    pub id: String,
    /// Extension fields.
    pub extensions: Vec<(String, String)>,
}

impl StsRecord {
    /// Parses a record: `v=STSv1` first, `id=` required (RFC 8461 §3.1).
    pub fn parse(txt: &[u8]) -> Result<Self, String> {
        let s = std::str::from_utf8(txt).map_err(|_| "record is not UTF-8".to_string())?;
        let mut fields = s.split(';').map(str::trim).filter(|f| !f.is_empty());
        if fields.next() != Some("v=STSv1") {
            return Err("does not start with v=STSv1".into());
        }
        let mut id = None;
        let mut extensions = Vec::new();
        for f in fields {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| format!("{f:?} is not name=value"))?;
            if k == "id" {
                if id.is_some() {
                    return Err("id= appears twice".into());
                }
                if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(format!("bad id {v:?}"));
                }
                id = Some(v.to_string());
            } else {
                let name_ok = k.len() <= 32
                    && k.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
                if !name_ok {
                    return Err(format!("bad extension name {k:?}"));
                }
                extensions.push((k.to_string(), v.to_string()));
            }
        }
        Ok(Self {
            id: id.ok_or("no id=")?,
            extensions,
        })
    }
}

/// The policy mode (STS-002, STS-003).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Deliver only to matching MX hosts with valid certificates; otherwise defer.
    Enforce,
    /// Deliver anyway, and report failures (TLS-RPT).
    Testing,
    /// No policy is in force.
    None,
}

impl Mode {
    /// `enforce`, `testing` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Testing => "testing",
            Self::None => "none",
        }
    }
}

/// A policy file (RFC 8461 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// `mode`.
    pub mode: Mode,
    /// `mx` patterns (`mail.example.org`, or `*.example.org` for exactly one more label).
    pub mx: Vec<String>,
    /// `max_age` in seconds (at most [`MAX_AGE_LIMIT`]).
    pub max_age: u32,
    /// Unknown fields, kept.
    pub extensions: Vec<(String, String)>,
}

impl Policy {
    /// Parses a policy body: `key: value` lines (CRLF or LF), `version: STSv1`, `mode`,
    /// `max_age` and (unless mode is none) at least one `mx` required; unknown keys kept;
    /// for a repeated key other than `mx` the first value counts.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        if body.len() > MAX_POLICY_SIZE {
            return Err(format!("policy larger than {MAX_POLICY_SIZE} bytes"));
        }
        let s = std::str::from_utf8(body).map_err(|_| "policy is not UTF-8".to_string())?;
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        let mut extensions = Vec::new();
        for line in s.split('\n').map(|l| l.trim_end_matches('\r')) {
            if line.trim().is_empty() {
                continue;
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| format!("{line:?} is not key: value"))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "version" => {
                    version.get_or_insert(v);
                }
                "mode" => {
                    if mode.is_none() {
                        mode = Some(match v {
                            "enforce" => Mode::Enforce,
                            "testing" => Mode::Testing,
                            "none" => Mode::None,
                            _ => return Err(format!("bad mode {v:?}")),
                        });
                    }
                }
                "max_age" => {
                    if max_age.is_none() {
                        let n: u32 = v
                            .parse()
                            .ok()
                            .filter(|n| *n <= MAX_AGE_LIMIT && v.len() <= 10)
                            .ok_or_else(|| format!("bad max_age {v:?}"))?;
                        max_age = Some(n);
                    }
                }
                "mx" => {
                    let host = v.trim_end_matches('.');
                    if host.is_empty() || host.contains(char::is_whitespace) {
                        return Err(format!("bad mx {v:?}"));
                    }
                    mx.push(host.to_ascii_lowercase());
                }
                _ => extensions.push((k.to_string(), v.to_string())),
            }
        }
        if version != Some("STSv1") {
            return Err("version is not STSv1".into());
        }
        let mode = mode.ok_or("no mode")?;
        if mode != Mode::None && mx.is_empty() {
            return Err("no mx".into());
        }
        Ok(Self {
            mode,
            mx,
            max_age: max_age.ok_or("no max_age")?,
            extensions,
        })
    }

    /// True when an MX host name matches one of the patterns (RFC 8461 §4.1): exactly, or
    /// `*.` standing for one leftmost label.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
            None => *p == host,
        })
    }

    /// The MX hosts a sender may use under this policy (STS-004): in `enforce` mode only
    /// the matching ones, otherwise all, in the given order.
    pub fn filter_mx<'a>(&self, hosts: &[&'a str]) -> Vec<&'a str> {
        if self.mode == Mode::Enforce {
            hosts.iter().copied().filter(|h| self.matches(h)).collect()
        } else {
            hosts.to_vec()
        }
    }

    /// The policy file text (STS-005).
    pub fn to_text(&self) -> String {
        let mut s = format!("version: STSv1\nmode: {}\n", self.mode.as_str());
        for m in &self.mx {
            let _ = writeln!(s, "mx: {m}");
        }
        let _ = writeln!(s, "max_age: {}", self.max_age);
        s
    }

    /// Problems a publisher should fix (STS-005, STS-006): a `max_age` under one day
    /// (some large receivers reject it), or MX records the policy does not cover.
    pub fn lint(&self, mx_records: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_age < 86_400 {
            out.push(format!(
                "max_age {} is under 86400; some receivers reject such policies",
                self.max_age
            ));
        }
        for h in mx_records {
            if !self.matches(h) {
                out.push(format!("MX {h} is not covered by any mx: line"));
            }
        }
        out
    }
}

/// The policy URL for a domain (RFC 8461 §3.3).
pub fn policy_url(domain: &str) -> String {
    format!(
        "https://mta-sts.{}/.well-known/mta-sts.txt",
        domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// A policy as cached by a sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedPolicy {
    /// The policy.
    pub policy: Policy,
    /// The record id it was fetched under.
    pub id: String,
    /// When it was fetched (Unix seconds, the caller's clock).
    pub fetched_at: u64,
}

impl CachedPolicy {
    /// True while `now` is within `max_age` of the fetch.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self
            .fetched_at
            .saturating_add(u64::from(self.policy.max_age))
    }
}

/// Checks a fetched policy (RFC 8461 §3.3): HTTP 200, `text/plain`, a valid body. The
/// caller must not have followed redirects and must have validated the certificate.
pub fn accept_fetch(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    id: &str,
    now: u64,
) -> Result<CachedPolicy, String> {
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let ct = content_type.unwrap_or("");
    if !ct
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain"))
    {
        return Err(format!("content type {ct:?} is not text/plain"));
    }
    Ok(CachedPolicy {
        policy: Policy::parse(body)?,
        id: id.to_string(),
        fetched_at: now,
    })
}

/// What a sender should do next for a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Use this cached policy (the record's id is unchanged, or the record is gone or
    /// unreadable but the cached policy has not expired, §5.1).
    UseCached(CachedPolicy),
    /// Fetch the policy at `url` and store it under `id` ([`accept_fetch`]). If the fetch
    /// fails, [`on_fetch_failure`] says what to use.
    Fetch {
        /// The policy URL.
        url: String,
        /// The record's id.
        id: String,
    },
    /// No MTA-STS policy: deliver as without MTA-STS.
    NoPolicy,
}

/// After a failed fetch: keep using an unexpired cached policy, else none (§5.1).
pub fn on_fetch_failure(cached: Option<CachedPolicy>, now: u64) -> Next {
    match cached {
        Some(c) if c.is_fresh(now) => Next::UseCached(c),
        _ => Next::NoPolicy,
    }
}

/// Policy discovery for one domain (RFC 8461 §3.1, §5.1): looks up `_mta-sts.<domain>` and
/// compares with the cached policy.
#[derive(Clone, Debug)]
pub struct Discovery {
    domain: String,
    cached: Option<CachedPolicy>,
    now: u64,
    answer: Option<Answer>,
}

impl Discovery {
    /// Discovery for `domain` with what the sender has cached, at `now` (Unix seconds).
    pub fn new(domain: &str, cached: Option<CachedPolicy>, now: u64) -> Self {
        Self {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            cached,
            now,
            answer: None,
        }
    }

    fn question(&self) -> Question {
        Question::new(&format!("_mta-sts.{}", self.domain), RecordType::Txt)
    }
}

impl DnsMachine for Discovery {
    type Output = Next;

    fn poll(&mut self) -> Poll<Next> {
        let Some(a) = &self.answer else {
            return Poll::Pending(vec![self.question()]);
        };
        let fresh = self.cached.clone().filter(|c| c.is_fresh(self.now));
        let records: Vec<&[u8]> = a
            .txt()
            .filter(|t| t.starts_with(b"v=STSv1;") || *t == b"v=STSv1")
            .collect();
        let record = match records.as_slice() {
            [one] => StsRecord::parse(one).ok(),
            _ => None,
        };
        Poll::Ready(match (record, fresh) {
            (Some(r), Some(c)) if r.id == c.id => Next::UseCached(c),
            (Some(r), _) => Next::Fetch {
                url: policy_url(&self.domain),
                id: r.id,
            },
            (None, Some(c)) => Next::UseCached(c),
            (None, None) => Next::NoPolicy,
        })
    }

    fn provide(&mut self, question: &Question, answer: Answer) {
        if *question == self.question() {
            self.answer = Some(answer);
        }
    }
}

/// A sender's policy cache keyed by domain, with time passed in.
#[derive(Clone, Debug, Default)]
pub struct PolicyCache {
    entries: HashMap<String, CachedPolicy>,
}

impl PolicyCache {
    /// The cached policy for `domain`, expired or not (discovery decides).
    pub fn get(&self, domain: &str) -> Option<&CachedPolicy> {
        self.entries
            .get(&domain.trim_end_matches('.').to_ascii_lowercase())
    }

    /// Stores a freshly fetched policy.
    pub fn insert(&mut self, domain: &str, policy: CachedPolicy) {
        self.entries
            .insert(domain.trim_end_matches('.').to_ascii_lowercase(), policy);
    }

    /// Drops expired entries.
    pub fn purge(&mut self, now: u64) {
        self.entries.retain(|_, c| c.is_fresh(now));
    }

    /// Domains whose policy expires within `window` seconds: refresh them proactively
    /// (RFC 8461 §5.1 recommends it).
    pub fn due_for_refresh(&self, now: u64, window: u64) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, c)| {
                c.is_fresh(now)
                    && c.fetched_at + u64::from(c.policy.max_age) <= now.saturating_add(window)
            })
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// The number of cached policies.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Record, StaticResolver, drive};

    #[test]
    fn records() {
        // TC-DNS-27/28.
        assert_eq!(
            StsRecord::parse(b"v=STSv1; id=2024022901;").unwrap().id,
            "2024022901"
        );
        assert_eq!(
            StsRecord::parse(b"v=STSv1; id=20260101T000000").unwrap().id,
            "20260101T000000"
        );
        for bad in [
            &b"id=1; v=STSv1"[..],
            b"v=STSv1;",
            b"v=STSv1; id=a-b",
            b"v=STSv1; id=123456789012345678901234567890123",
            b"v=STSv2; id=1",
        ] {
            assert!(
                StsRecord::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let r = StsRecord::parse(b"v=STSv1; id=1; ext_1=x").unwrap();
        assert_eq!(r.extensions, [("ext_1".to_string(), "x".to_string())]);
    }

    #[test]
    fn book_policy() {
        // TC-DNS-29.
        let p = Policy::parse(
            b"version: STSv1\r\nmode: testing\r\nmx: mail.ratoperatedvehicle.com\r\nmx: mail.solveamurder.org\r\nmx: *.mwl.io\r\nmax_age: 86400\r\n",
        )
        .unwrap();
        assert_eq!((p.mode, p.max_age, p.mx.len()), (Mode::Testing, 86_400, 3));
        assert!(p.matches("MAIL.solveamurder.org."));
        assert!(p.matches("mx.mwl.io") && !p.matches("mwl.io") && !p.matches("a.b.mwl.io"));
        assert_eq!(Policy::parse(p.to_text().as_bytes()).unwrap(), p);
        assert!(p.lint(&["mail.ratoperatedvehicle.com"]).is_empty());
        assert_eq!(p.lint(&["www.ratoperatedvehicle.com"]).len(), 1);
        let enforce = Policy {
            mode: Mode::Enforce,
            ..p.clone()
        };
        assert_eq!(
            enforce.filter_mx(&["x.mwl.io", "evil.example"]),
            ["x.mwl.io"]
        );
        assert_eq!(p.filter_mx(&["x.mwl.io", "evil.example"]).len(), 2);
        for bad in [
            &b"mode: enforce\nmx: a\nmax_age: 1\n"[..],
            b"version: STSv1\nmode: enforce\nmax_age: 1\n",
            b"version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
            b"version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557601\n",
            b"version: STSv1\nmode: enforce\nmx: a\n",
            b"garbage",
        ] {
            assert!(
                Policy::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(Policy::parse(b"version: STSv1\nmode: none\nmax_age: 0\n").is_ok());
    }

    #[test]
    fn caching_rules() {
        let mut z = StaticResolver::default();
        z.add("_mta-sts.a.example", Record::Txt(b"v=STSv1; id=2".to_vec()));
        let body = b"version: STSv1\nmode: enforce\nmx: mx.a.example\nmax_age: 100\n";
        let cached = accept_fetch(200, Some("text/plain; charset=utf-8"), body, "1", 1000).unwrap();
        // The id changed: fetch.
        assert!(
            matches!(drive(Discovery::new("a.example", Some(cached.clone()), 1050), &z), Next::Fetch { id, .. } if id == "2")
        );
        // The record vanished: keep the unexpired cached policy, then nothing.
        let empty = StaticResolver::default();
        assert_eq!(
            drive(
                Discovery::new("a.example", Some(cached.clone()), 1050),
                &empty
            ),
            Next::UseCached(cached.clone())
        );
        assert_eq!(
            drive(
                Discovery::new("a.example", Some(cached.clone()), 1100),
                &empty
            ),
            Next::NoPolicy
        );
        // Fetch failures.
        assert_eq!(
            on_fetch_failure(Some(cached.clone()), 1099),
            Next::UseCached(cached.clone())
        );
        assert_eq!(on_fetch_failure(Some(cached.clone()), 1100), Next::NoPolicy);
        assert!(accept_fetch(301, Some("text/plain"), body, "1", 0).is_err());
        assert!(accept_fetch(200, Some("text/html"), body, "1", 0).is_err());
        assert!(
            accept_fetch(
                200,
                Some("text/plain"),
                &vec![b'a'; MAX_POLICY_SIZE + 1],
                "1",
                0
            )
            .is_err()
        );
        // Two records: no policy.
        z.add("_mta-sts.a.example", Record::Txt(b"v=STSv1; id=3".to_vec()));
        assert_eq!(
            drive(Discovery::new("a.example", None, 0), &z),
            Next::NoPolicy
        );
        let mut c = PolicyCache::default();
        c.insert("A.example.", cached);
        assert!(c.get("a.example").is_some());
        assert_eq!(c.due_for_refresh(1050, 60), ["a.example"]);
        assert!(c.due_for_refresh(1000, 10).is_empty());
        c.purge(1100);
        assert!(c.is_empty());
    }
}
