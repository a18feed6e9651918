//! SPF: the Sender Policy Framework (RFC 7208), as a resumable state machine.
//!
//! [`Verifier`] evaluates `check_host()` for one identity (MAIL FROM, or HELO) and asks for
//! every DNS answer it needs through [`DnsMachine`](crate::dns::DnsMachine):
//!
//! ```
//! use mail_auth_core::dns::{Record, StaticResolver, drive};
//! use mail_auth_core::spf::{SpfResult, Verifier};
//!
//! let mut zone = StaticResolver::default();
//! zone.add("example.org", Record::Txt(b"v=spf1 ip4:192.0.2.0/24 -all".to_vec()));
//! let v = Verifier::mail_from("192.0.2.7".parse().unwrap(), "mx.example.org", "alice@example.org");
//! let out = drive(v, &zone);
//! assert_eq!(out.result, SpfResult::Pass);
//! assert_eq!(out.mechanism.as_deref(), Some("ip4:192.0.2.0/24"));
//! ```
//!
//! What it implements, with the requirement IDs of `requirements.md` §3:
//!
//! - the whole record grammar with every syntax error found before evaluation (SPF-001,
//!   SPF-005, SPF-009): [`Record`];
//! - left-to-right evaluation, first match wins (SPF-002), all mechanisms, `redirect=` only
//!   when nothing matched and there is no `all` (SPF-013), `include:` result mapping
//!   (SPF-014), `exp=` explanations, macros with transformers and URL escaping (SPF-015);
//! - the limits of §4.6.4 as [`Limits`] (SPF-004): 10 lookup terms, 2 void lookups, 10 MX
//!   names per `mx`, 10 PTR names per `ptr`/`%{p}`;
//! - only TXT is queried (SPF-010), multiple records are a permerror, no inheritance to
//!   child domains (SPF-012);
//! - IPv4-mapped IPv6 clients are evaluated as IPv4 (§5);
//! - temperror distinct from permerror, with [`SpfResult::smtp_reply`] giving the 4xx/5xx
//!   codes (SPF-006), and the result carrying the matched mechanism, explanation and lookup
//!   counters (SPF-003);
//! - HELO and MAIL FROM identities, null sender as `postmaster@<helo>` (SPF-007);
//! - a record printer (lower-case, SPF-016) and [`lint`] for publishers (SPF-008, SPF-011,
//!   SPF-017, SPF-021);
//! - the `Received-SPF` header (§9.1, SPF-018): [`SpfOutput::received_spf`], and the
//!   `Authentication-Results` entry: `MethodResult::from(&output)`.
//!
//! Independent lookups are asked together (the A/AAAA lookups of every MX host, the
//! forward lookups of every PTR name), so an async driver can run them concurrently.

mod eval;
mod record;

pub use eval::{Limits, RecordCache, Verifier};
pub use record::{
    Directive, MacroLetter, MacroPart, MacroParts, MacroString, Mechanism, Qualifier, Record,
    RecordError, is_spf_record, lint,
};

use std::fmt;
use std::net::IpAddr;

/// The result of an SPF check (RFC 7208 §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpfResult {
    /// No record, or no checkable domain.
    None,
    /// The record makes no assertion about the client.
    Neutral,
    /// The client is authorized.
    Pass,
    /// The client is not authorized.
    Fail,
    /// Probably not authorized.
    SoftFail,
    /// A transient DNS error: try again later (4xx).
    TempError,
    /// The record cannot be interpreted.
    PermError,
}

impl SpfResult {
    /// The lower-case name used in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Neutral => "neutral",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }

    /// Parses a result name (`unknown` and `error`, the RFC 4408 names, are accepted).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "neutral" => Self::Neutral,
            "pass" => Self::Pass,
            "fail" => Self::Fail,
            "softfail" => Self::SoftFail,
            "temperror" | "error" => Self::TempError,
            "permerror" | "unknown" => Self::PermError,
            _ => return None,
        })
    }

    /// The SMTP reply RFC 7208 §8 suggests when a receiver rejects on this result:
    /// `550 5.7.1` for fail, `451 4.4.3` for temperror, `550 5.5.2` for permerror (SPF-006);
    /// `None` for results that do not call for a rejection.
    pub fn smtp_reply(self) -> Option<(u16, &'static str)> {
        match self {
            Self::Fail => Some((550, "5.7.1")),
            Self::TempError => Some((451, "4.4.3")),
            Self::PermError => Some((550, "5.5.2")),
            _ => None,
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which identity was checked (RFC 7208 §2.3, §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The RFC5321.MailFrom identity (`postmaster@<helo>` for the null sender).
    MailFrom,
    /// The HELO/EHLO identity.
    Helo,
}

impl Identity {
    /// `mailfrom` or `helo`, the Received-SPF `identity=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MailFrom => "mailfrom",
            Self::Helo => "helo",
        }
    }
}

/// The outcome of an SPF check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpfOutput {
    /// The result.
    pub result: SpfResult,
    /// The identity checked.
    pub identity: Identity,
    /// The client address.
    pub ip: IpAddr,
    /// The domain checked (`<domain>` of check_host, lower case).
    pub domain: String,
    /// The sender as evaluated (`local@domain`; `postmaster@helo` for the null sender).
    pub sender: String,
    /// The HELO/EHLO name given.
    pub helo: String,
    /// The matched directive, as text (`-all`, `ip4:192.0.2.0/24`, ...), when one matched.
    pub mechanism: Option<String>,
    /// The explanation for a fail (from `exp=`, or the configured default).
    pub explanation: Option<String>,
    /// What went wrong, for temperror and permerror.
    pub problem: Option<String>,
    /// Lookup terms evaluated (include, a, mx, ptr, exists, redirect).
    pub dns_lookups: u32,
    /// Lookups that returned NXDOMAIN or no records.
    pub void_lookups: u32,
}

impl SpfOutput {
    /// The `Received-SPF` header field (RFC 7208 §9.1), name included, without the final
    /// CRLF. `receiver` names the host doing the check.
    ///
    /// ```text
    /// Received-SPF: pass (mx.example.net: domain of alice@example.org designates
    ///  192.0.2.7 as permitted sender) receiver=mx.example.net; client-ip=192.0.2.7;
    ///  envelope-from="alice@example.org"; helo=mail.example.org; identity=mailfrom
    /// ```
    pub fn received_spf(&self, receiver: &str) -> String {
        let who = if self.identity == Identity::Helo {
            format!("domain of {}", self.helo)
        } else {
            format!("domain of {}", self.sender)
        };
        let comment = match self.result {
            SpfResult::Pass => format!("{who} designates {} as permitted sender", self.ip),
            SpfResult::Fail => format!("{who} does not designate {} as permitted sender", self.ip),
            SpfResult::SoftFail => format!(
                "transitioning {who} does not designate {} as permitted sender",
                self.ip
            ),
            SpfResult::Neutral => format!("{} is neither permitted nor denied by {who}", self.ip),
            SpfResult::None => format!("{who} does not provide an SPF record"),
            SpfResult::TempError => format!("error in processing during lookup of {who}"),
            SpfResult::PermError => format!("permanent error in processing {who}"),
        };
        let mut h = format!(
            "Received-SPF: {} ({}: {}) receiver={}; client-ip={}; envelope-from={}; helo={}",
            self.result,
            header_comment(receiver),
            header_comment(&comment),
            header_value(receiver),
            self.ip,
            quoted(&self.sender),
            header_value(&self.helo),
        );
        if let Some(p) = &self.problem {
            h.push_str("; problem=");
            h.push_str(&quoted(p));
        }
        if let Some(m) = &self.mechanism {
            h.push_str("; mechanism=");
            h.push_str(&quoted(m));
        }
        h.push_str("; identity=");
        h.push_str(self.identity.as_str());
        h
    }
}

impl From<&SpfOutput> for crate::auth_results::MethodResult {
    /// `spf=<result> [reason=problem] smtp.mailfrom=<sender>` (or `smtp.helo=<helo>` for the
    /// HELO identity), RFC 8601 §2.7.2 (SPF-018).
    fn from(o: &SpfOutput) -> Self {
        use crate::auth_results::AuthResult;
        let result = match o.result {
            SpfResult::None => AuthResult::None,
            SpfResult::Neutral => AuthResult::Neutral,
            SpfResult::Pass => AuthResult::Pass,
            SpfResult::Fail => AuthResult::Fail,
            SpfResult::SoftFail => AuthResult::SoftFail,
            SpfResult::TempError => AuthResult::TempError,
            SpfResult::PermError => AuthResult::PermError,
        };
        let mut m = Self::new("spf", result);
        if let Some(p) = &o.problem {
            m = m.reason(p);
        }
        match o.identity {
            Identity::MailFrom => m.property("smtp", "mailfrom", &o.sender),
            Identity::Helo => m.property("smtp", "helo", &o.helo),
        }
    }
}

/// Comment text: drop parentheses, backslashes and control characters.
fn header_comment(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '(' | ')' | '\\') && !c.is_control())
        .collect()
}

/// A dot-atom-ish value, or a quoted string when it needs quoting.
fn header_value(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.@:[]".contains(&b))
    {
        s.to_string()
    } else {
        quoted(s)
    }
}

fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}
