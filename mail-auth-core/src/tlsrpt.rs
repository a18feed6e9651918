//! SMTP TLS Reporting (RFC 8460): the `_smtp._tls` record and the JSON report.
//!
//! ```
//! use mail_auth_core::tlsrpt::{TlsRptRecord, TlsReport};
//!
//! // TC-DNS-26 (requirements §10.3).
//! let r = TlsRptRecord::parse(b"v=TLSRPTv1;rua=mailto:mwl@mwl.io").unwrap();
//! assert_eq!(r.rua, ["mailto:mwl@mwl.io"]);
//! assert!(TlsRptRecord::parse(b"v=TLSRPTv2; rua=mailto:x@y.example").is_err());
//!
//! let json = br#"{"organization-name":"X","date-range":{"start-datetime":"2016-04-01T00:00:00Z",
//!   "end-datetime":"2016-04-01T23:59:59Z"},"contact-info":"a@x.example","report-id":"1",
//!   "policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"y.example"},
//!   "summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}"#;
//! let rep = TlsReport::parse(json).unwrap();
//! assert_eq!(rep.policies[0].summary.total_successful_session_count, 1);
//! assert_eq!(TlsReport::parse(rep.to_json().as_bytes()).unwrap(), rep);
//! ```

use serde::{Deserialize, Deserializer, Serialize};

use crate::report::{Limits, Payload, ReportError, extract};

/// A `v=TLSRPTv1` record (RFC 8460 §3, RPT-001).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsRptRecord {
    /// `rua=`: `mailto:` and `https:` URIs.
    pub rua: Vec<String>,
}

impl TlsRptRecord {
    /// Parses a record: `v=TLSRPTv1` first, then `rua=` with one or more URIs separated by
    /// commas; extension fields are ignored. Anything not starting with `v=TLSRPTv1` is not
    /// a TLS-RPT record (RPT-001).
    pub fn parse(txt: &[u8]) -> Result<Self, String> {
        let s = std::str::from_utf8(txt).map_err(|_| "record is not UTF-8".to_string())?;
        let mut parts = s.split(';').map(str::trim);
        let v = parts.next().unwrap_or("");
        if !v
            .split_once('=')
            .is_some_and(|(k, val)| k.trim() == "v" && val.trim() == "TLSRPTv1")
        {
            return Err("not a v=TLSRPTv1 record".into());
        }
        let mut rua = None;
        for p in parts.filter(|p| !p.is_empty()) {
            let (k, val) = p
                .split_once('=')
                .ok_or_else(|| format!("{p:?} is not key=value"))?;
            if k.trim().eq_ignore_ascii_case("rua") {
                if rua.is_some() {
                    return Err("rua= appears twice".into());
                }
                let list: Vec<String> = val
                    .split(',')
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                for u in &list {
                    let lower = u.to_ascii_lowercase();
                    if !lower.starts_with("mailto:") && !lower.starts_with("https:") {
                        return Err(format!("{u:?} is neither mailto: nor https:"));
                    }
                }
                rua = Some(list);
            }
        }
        match rua {
            Some(rua) if !rua.is_empty() => Ok(Self { rua }),
            _ => Err("no rua= destination".into()),
        }
    }

    /// The record text.
    pub fn to_txt(&self) -> String {
        format!("v=TLSRPTv1; rua={}", self.rua.join(","))
    }
}

/// A TLS report (RFC 8460 §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct TlsReport {
    /// The reporting organization.
    #[serde(default)]
    pub organization_name: String,
    /// The period.
    #[serde(default)]
    pub date_range: DateRange,
    /// Contact address.
    #[serde(default)]
    pub contact_info: String,
    /// The report's unique id.
    #[serde(default)]
    pub report_id: String,
    /// One entry per policy applied.
    #[serde(default)]
    pub policies: Vec<PolicyReport>,
}

/// `date-range` (RFC 3339 date-times, kept as text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct DateRange {
    /// Start.
    #[serde(default)]
    pub start_datetime: String,
    /// End.
    #[serde(default)]
    pub end_datetime: String,
}

/// One `policies[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct PolicyReport {
    /// The policy.
    #[serde(default)]
    pub policy: PolicyDetails,
    /// Session counts.
    #[serde(default)]
    pub summary: Summary,
    /// Failures by kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failure_details: Vec<FailureDetails>,
}

/// `policy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct PolicyDetails {
    /// `sts`, `tlsa` or `no-policy-found`.
    #[serde(default)]
    pub policy_type: String,
    /// The policy text (MTA-STS lines or TLSA records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_string: Vec<String>,
    /// The policy domain.
    #[serde(default)]
    pub policy_domain: String,
    /// MX host patterns (a single string is accepted too).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mx_host: Vec<String>,
}

/// `summary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    /// Sessions that negotiated TLS per the policy.
    #[serde(default)]
    pub total_successful_session_count: u64,
    /// Sessions that failed.
    #[serde(default)]
    pub total_failure_session_count: u64,
}

/// `failure-details[]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct FailureDetails {
    /// `starttls-not-supported`, `certificate-expired`, `sts-policy-fetch-error`, ...
    #[serde(default)]
    pub result_type: String,
    /// The sender's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_mta_ip: Option<String>,
    /// The receiving MX name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_mx_hostname: Option<String>,
    /// The receiving MX's HELO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_mx_helo: Option<String>,
    /// The receiving address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_ip: Option<String>,
    /// Sessions that failed this way.
    #[serde(default)]
    pub failed_session_count: u64,
    /// A URI with more information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<String>,
    /// Free text reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason_code: Option<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

impl TlsReport {
    /// Parses the JSON of a report.
    pub fn parse(json: &[u8]) -> Result<Self, ReportError> {
        serde_json::from_slice(json).map_err(|e| ReportError::Malformed(format!("JSON: {e}")))
    }

    /// Parses the first report found in `data`: JSON, gzip, or an e-mail with an
    /// `application/tlsrpt+gzip` or `+json` attachment (RPT-002).
    pub fn parse_any(data: &[u8], limits: &Limits) -> Result<Self, ReportError> {
        let mut last = ReportError::NotFound;
        for p in extract(data, limits)? {
            if let Payload::Json(j) = p {
                match Self::parse(&j) {
                    Ok(r) => return Ok(r),
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The RFC 8460 §5.1 file name: `sender!policy-domain!start!end!id.json` (with `.gz`
    /// appended when compressed); `start`/`end` are Unix times the caller supplies.
    pub fn filename(&self, sender: &str, start: u64, end: u64) -> String {
        let domain = self
            .policies
            .first()
            .map_or("", |p| p.policy.policy_domain.as_str());
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-._".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        format!(
            "{}!{}!{start}!{end}!{}.json",
            safe(sender),
            safe(domain),
            safe(&self.report_id)
        )
    }

    /// The RFC 8460 §5.3 subject: `Report Domain: <domain> Submitter: <sender> Report-ID:
    /// <<id>>`.
    pub fn subject(&self, submitter: &str) -> String {
        let domain = self
            .policies
            .first()
            .map_or("", |p| p.policy.policy_domain.as_str());
        format!(
            "Report Domain: {domain} Submitter: {submitter} Report-ID: <{}>",
            self.report_id
        )
    }
}
