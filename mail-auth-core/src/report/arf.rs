//! Failure reports in the Abuse Reporting Format (RFC 5965) with the authentication-failure
//! extensions of RFC 6591 (DMARC failure reports, RFC 9991): parse and generate.

use std::fmt::Write as _;
use std::net::IpAddr;

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::ReportError;

/// A feedback report.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FailureReport {
    /// `Feedback-Type`, lower-cased (`auth-failure`, `abuse`, `fraud`, `virus`, `other`, ...).
    pub feedback_type: String,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Original-Envelope-Id`.
    pub original_envelope_id: Option<String>,
    /// `Original-Mail-From`.
    pub original_mail_from: Option<String>,
    /// `Original-Rcpt-To` (may repeat).
    pub original_rcpt_to: Vec<String>,
    /// `Arrival-Date`.
    pub arrival_date: Option<String>,
    /// `Reporting-MTA`.
    pub reporting_mta: Option<String>,
    /// `Source-IP`.
    pub source_ip: Option<IpAddr>,
    /// `Incidents`.
    pub incidents: Option<u32>,
    /// `Authentication-Results` (may repeat).
    pub authentication_results: Vec<String>,
    /// `Reported-Domain` (may repeat).
    pub reported_domain: Vec<String>,
    /// `Reported-URI` (may repeat).
    pub reported_uri: Vec<String>,
    /// `Delivery-Result` (RFC 6591), lower-cased.
    pub delivery_result: Option<String>,
    /// `Auth-Failure` (RFC 6591: `adsp`, `bodyhash`, `revoked`, `signature`, `spf`, `dmarc`),
    /// lower-cased.
    pub auth_failure: Option<String>,
    /// `Identity-Alignment` (RFC 7489 §7.3), lower-cased.
    pub identity_alignment: Option<String>,
    /// `DKIM-Domain`.
    pub dkim_domain: Option<String>,
    /// `DKIM-Identity`.
    pub dkim_identity: Option<String>,
    /// `DKIM-Selector`.
    pub dkim_selector: Option<String>,
    /// `DKIM-Canonicalized-Header` (base64).
    pub dkim_canonicalized_header: Option<String>,
    /// `DKIM-Canonicalized-Body` (base64).
    pub dkim_canonicalized_body: Option<String>,
    /// `SPF-DNS`.
    pub spf_dns: Option<String>,
    /// The human-readable first part.
    pub description: Option<String>,
    /// The reported message (`message/rfc822`) or its header (`text/rfc822-headers`).
    pub original: Option<Vec<u8>>,
}

/// Header-like `Name: value` lines with folding.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            let n = n.trim();
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()) {
                out.push((n.to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

fn unangle(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

impl FailureReport {
    fn apply(&mut self, name: &str, v: String) {
        match name {
            "feedback-type" => self.feedback_type = v.to_ascii_lowercase(),
            "user-agent" => self.user_agent = Some(v),
            "version" => self.version = Some(v),
            "original-envelope-id" => self.original_envelope_id = Some(v),
            "original-mail-from" => self.original_mail_from = Some(unangle(&v)),
            "original-rcpt-to" => self.original_rcpt_to.push(unangle(&v)),
            "arrival-date" | "received-date" => self.arrival_date = Some(v),
            // `Reporting-MTA: dns; mta.example` (name-type ";" name, as in DSNs).
            "reporting-mta" => {
                self.reporting_mta = Some(
                    v.split_once(';')
                        .map_or(v.as_str(), |(_, n)| n.trim())
                        .to_string(),
                );
            }
            "source-ip" => {
                self.source_ip = v.split_whitespace().next().and_then(|s| s.parse().ok());
            }
            "incidents" => self.incidents = v.parse().ok(),
            "authentication-results" => self.authentication_results.push(v),
            "reported-domain" => self.reported_domain.push(v),
            "reported-uri" => self.reported_uri.push(v),
            "delivery-result" => self.delivery_result = Some(v.to_ascii_lowercase()),
            "auth-failure" => self.auth_failure = Some(v.to_ascii_lowercase()),
            "identity-alignment" => self.identity_alignment = Some(v.to_ascii_lowercase()),
            "dkim-domain" => self.dkim_domain = Some(v),
            "dkim-identity" => self.dkim_identity = Some(v),
            "dkim-selector" => self.dkim_selector = Some(v),
            "dkim-canonicalized-header" => self.dkim_canonicalized_header = Some(v),
            "dkim-canonicalized-body" => self.dkim_canonicalized_body = Some(v),
            "spf-dns" => self.spf_dns = Some(v),
            _ => {}
        }
    }

    /// The report as an RFC 5965 `multipart/report; report-type=feedback-report` message.
    /// `headers` are the outer header fields to put first (From, To, Date, Subject,
    /// Message-ID: the caller's, since this crate reads no clock); `boundary` must not occur
    /// in the content.
    pub fn to_message(&self, headers: &[(&str, &str)], boundary: &str) -> Vec<u8> {
        let mut m = String::new();
        for (n, v) in headers {
            let _ = write!(m, "{n}: {v}\r\n");
        }
        let _ = write!(
            m,
            "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
        );
        let _ = write!(
            m,
            "--{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n{}\r\n\r\n",
            self.description
                .as_deref()
                .unwrap_or("This is an email abuse report.")
        );
        let _ = write!(
            m,
            "--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        );
        let ft = if self.feedback_type.is_empty() {
            "auth-failure"
        } else {
            &self.feedback_type
        };
        let mut f = |n: &str, v: &str| {
            let _ = write!(m, "{n}: {}\r\n", v.replace(['\r', '\n'], " "));
        };
        f("Feedback-Type", ft);
        f(
            "User-Agent",
            self.user_agent.as_deref().unwrap_or("mail-auth-core"),
        );
        f("Version", self.version.as_deref().unwrap_or("1"));
        let pairs: [(&str, Option<&String>); 7] = [
            ("Original-Envelope-Id", self.original_envelope_id.as_ref()),
            ("Original-Mail-From", self.original_mail_from.as_ref()),
            ("Arrival-Date", self.arrival_date.as_ref()),
            ("Reporting-MTA", self.reporting_mta.as_ref()),
            ("Delivery-Result", self.delivery_result.as_ref()),
            ("Auth-Failure", self.auth_failure.as_ref()),
            ("Identity-Alignment", self.identity_alignment.as_ref()),
        ];
        for (n, v) in pairs {
            if let Some(v) = v {
                f(n, v);
            }
        }
        for r in &self.original_rcpt_to {
            f("Original-Rcpt-To", r);
        }
        if let Some(ip) = self.source_ip {
            f("Source-IP", &ip.to_string());
        }
        if let Some(n) = self.incidents {
            f("Incidents", &n.to_string());
        }
        for a in &self.authentication_results {
            f("Authentication-Results", a);
        }
        for d in &self.reported_domain {
            f("Reported-Domain", d);
        }
        for u in &self.reported_uri {
            f("Reported-URI", u);
        }
        let dk: [(&str, Option<&String>); 6] = [
            ("DKIM-Domain", self.dkim_domain.as_ref()),
            ("DKIM-Identity", self.dkim_identity.as_ref()),
            ("DKIM-Selector", self.dkim_selector.as_ref()),
            (
                "DKIM-Canonicalized-Header",
                self.dkim_canonicalized_header.as_ref(),
            ),
            (
                "DKIM-Canonicalized-Body",
                self.dkim_canonicalized_body.as_ref(),
            ),
            ("SPF-DNS", self.spf_dns.as_ref()),
        ];
        for (n, v) in dk {
            if let Some(v) = v {
                f(n, v);
            }
        }
        let mut out = m.into_bytes();
        if let Some(orig) = &self.original {
            let has_body =
                orig.windows(4).any(|w| w == b"\r\n\r\n") || orig.windows(2).any(|w| w == b"\n\n");
            let ct = if has_body {
                "message/rfc822"
            } else {
                "text/rfc822-headers"
            };
            out.extend_from_slice(
                format!("\r\n--{boundary}\r\nContent-Type: {ct}\r\n\r\n").as_bytes(),
            );
            out.extend_from_slice(orig);
            if !orig.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        out
    }
}

/// Parses a failure report message. Reports without a `message/feedback-report` part (some
/// MTAs send plain text) yield `auth-failure` with the source address found in the text,
/// when the subject or text says it is a DMARC/forensic/failure report.
pub fn parse_failure(message: &[u8]) -> Result<FailureReport, ReportError> {
    let msg = MessageParser::new()
        .parse(message)
        .ok_or_else(|| ReportError::Malformed("not an e-mail message".into()))?;
    let mut r = FailureReport::default();
    let mut found = false;
    for (i, part) in msg.parts.iter().enumerate() {
        let ct = part
            .content_type()
            .map(|c| {
                format!(
                    "{}/{}",
                    c.ctype().to_ascii_lowercase(),
                    c.subtype().unwrap_or("").to_ascii_lowercase()
                )
            })
            .unwrap_or_default();
        let raw: Vec<u8> = match &part.body {
            PartType::Message(m) => m.raw_message().to_vec(),
            _ => part.contents().to_vec(),
        };
        match ct.as_str() {
            "message/feedback-report" => {
                found = true;
                for (n, v) in fields(&String::from_utf8_lossy(&raw)) {
                    r.apply(&n, v);
                }
            }
            "message/rfc822" | "text/rfc822-headers" | "message/global" if r.original.is_none() => {
                r.original = Some(raw);
            }
            "text/plain" if r.description.is_none() && i > 0 => {
                r.description = Some(String::from_utf8_lossy(&raw).trim().to_string());
            }
            _ => {}
        }
    }
    // RFC 5965 §3.2: a report without Incidents stands for one incident.
    r.incidents = r.incidents.or(Some(1));
    if found {
        if r.feedback_type.is_empty() {
            return Err(ReportError::Malformed(
                "feedback report without Feedback-Type".into(),
            ));
        }
        return Ok(r);
    }
    // No ARF part: a plain-text failure report.
    let subject = msg.subject().unwrap_or("").to_ascii_lowercase();
    let text = r.description.clone().unwrap_or_default();
    let lower = text.to_ascii_lowercase();
    let looks = ["dmarc", "forensic", "failure report"]
        .iter()
        .any(|w| subject.contains(w) || lower.contains(w));
    if !looks {
        return Err(ReportError::NotFound);
    }
    r.feedback_type = "auth-failure".into();
    for line in text.lines() {
        let Some((n, v)) = line.trim().split_once(':') else {
            continue;
        };
        let n = n.trim().to_ascii_lowercase();
        let v = v.trim().to_string();
        match n.as_str() {
            "sender ip address" | "source ip" | "source-ip" | "source ip address" => {
                r.source_ip = v.split_whitespace().next().and_then(|s| s.parse().ok());
            }
            "sender domain" | "reported domain" => r.reported_domain.push(v),
            _ if !n.contains(' ') => r.apply(&n, v),
            _ => {}
        }
    }
    if r.feedback_type != "auth-failure" {
        r.feedback_type = "auth-failure".into();
    }
    Ok(r)
}
