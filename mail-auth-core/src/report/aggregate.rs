//! DMARC aggregate reports (RFC 9990; the RFC 7489 Appendix C schema and older drafts are
//! read too): a tolerant parser and a generator.

use std::fmt::Write as _;
use std::net::IpAddr;

use quick_xml::events::Event;

use super::{Limits, ReportError};
use crate::dmarc::{Alignment, Policy};

/// An aggregate report.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AggregateReport {
    /// `<version>` (`1.0` in RFC 9990 reports), if present.
    pub version: Option<String>,
    /// The reporting organization.
    pub org_name: String,
    /// Its contact address.
    pub email: String,
    /// More contact information.
    pub extra_contact_info: Option<String>,
    /// The report's unique id.
    pub report_id: String,
    /// Start of the reporting period (Unix seconds).
    pub begin: u64,
    /// End of the reporting period (Unix seconds).
    pub end: u64,
    /// `<error>` entries.
    pub errors: Vec<String>,
    /// `<generator>` (RFC 9990).
    pub generator: Option<String>,
    /// The policy the reporter saw.
    pub policy: PolicyPublished,
    /// One entry per (source, identifiers, results) combination.
    pub records: Vec<ReportRecord>,
}

/// `<policy_published>`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PolicyPublished {
    /// The policy domain.
    pub domain: String,
    /// `adkim`.
    pub adkim: Option<Alignment>,
    /// `aspf`.
    pub aspf: Option<Alignment>,
    /// `p`.
    pub p: Option<Policy>,
    /// `sp`.
    pub sp: Option<Policy>,
    /// `np` (RFC 9990).
    pub np: Option<Policy>,
    /// `pct` (RFC 7489 reports).
    pub pct: Option<u8>,
    /// `fo`.
    pub fo: Option<String>,
    /// `testing` (RFC 9990 `y`/`n`).
    pub testing: Option<bool>,
    /// `discovery_method` (RFC 9990: `psl` or `treewalk`).
    pub discovery_method: Option<String>,
}

/// One `<record>`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReportRecord {
    /// The sending address (`None` when the report's text is not an address).
    pub source_ip: Option<IpAddr>,
    /// Messages this row stands for.
    pub count: u64,
    /// The disposition applied (`none`, `pass`, `quarantine`, `reject`), lower-cased.
    pub disposition: String,
    /// The DMARC-aligned DKIM verdict (`pass`/`fail`), lower-cased.
    pub dkim: String,
    /// The DMARC-aligned SPF verdict, lower-cased.
    pub spf: String,
    /// Policy overrides: (type, comment).
    pub reasons: Vec<(String, Option<String>)>,
    /// `envelope_to`.
    pub envelope_to: Option<String>,
    /// `envelope_from`.
    pub envelope_from: Option<String>,
    /// `header_from`.
    pub header_from: String,
    /// DKIM results.
    pub dkim_results: Vec<DkimAuth>,
    /// SPF results.
    pub spf_results: Vec<SpfAuth>,
}

impl ReportRecord {
    /// The row for one message's DMARC evaluation of one author domain: the source
    /// address, the outcome, and the SPF and DKIM inputs the evaluation had.
    pub fn from_evaluation(
        source_ip: IpAddr,
        outcome: &crate::dmarc::DomainOutcome,
        spf: Option<&crate::dmarc::SpfInput>,
        dkim: &[crate::dmarc::DkimInput],
    ) -> Self {
        use crate::dmarc::{DkimResult, DmarcResult};
        let pass_fail = |b: bool| if b { "pass" } else { "fail" }.to_string();
        let disposition = match outcome.result {
            DmarcResult::Pass => "pass".to_string(),
            _ => outcome.disposition.as_str().to_string(),
        };
        Self {
            source_ip: Some(source_ip),
            count: 1,
            disposition,
            dkim: pass_fail(outcome.dkim_aligned.is_some()),
            spf: pass_fail(outcome.spf_aligned),
            reasons: Vec::new(),
            envelope_to: None,
            envelope_from: spf.map(|s| s.domain.clone()),
            header_from: outcome.author_domain.clone(),
            dkim_results: dkim
                .iter()
                .map(|d| DkimAuth {
                    domain: d.domain.to_ascii_lowercase(),
                    selector: None,
                    result: match d.result {
                        DkimResult::Pass => "pass",
                        DkimResult::Fail => "fail",
                        DkimResult::Neutral => "neutral",
                        DkimResult::TempError => "temperror",
                        DkimResult::PermError => "permerror",
                        DkimResult::Policy => "policy",
                        DkimResult::None => "none",
                    }
                    .into(),
                    human_result: None,
                })
                .collect(),
            spf_results: spf
                .map(|s| SpfAuth {
                    domain: s.domain.to_ascii_lowercase(),
                    scope: Some("mfrom".into()),
                    result: s.result.as_str().into(),
                    human_result: None,
                })
                .into_iter()
                .collect(),
        }
    }
}

/// `<auth_results><dkim>`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DkimAuth {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: Option<String>,
    /// The result, lower-cased.
    pub result: String,
    /// Free text.
    pub human_result: Option<String>,
}

/// `<auth_results><spf>`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SpfAuth {
    /// The checked domain.
    pub domain: String,
    /// `mfrom` or `helo` (RFC 7489), lower-cased.
    pub scope: Option<String>,
    /// The result, lower-cased.
    pub result: String,
    /// Free text.
    pub human_result: Option<String>,
}

fn policy(s: &str) -> Option<Policy> {
    match s.trim().to_ascii_lowercase().as_str() {
        "none" => Some(Policy::None),
        "quarantine" => Some(Policy::Quarantine),
        "reject" => Some(Policy::Reject),
        _ => None,
    }
}

fn alignment(s: &str) -> Option<Alignment> {
    match s.trim().to_ascii_lowercase().as_str() {
        "r" | "relaxed" => Some(Alignment::Relaxed),
        "s" | "strict" => Some(Alignment::Strict),
        _ => None,
    }
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let n = name.strip_prefix('#')?;
            let v = match n.strip_prefix('x').or_else(|| n.strip_prefix('X')) {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(v)
        }
    }
}

impl AggregateReport {
    /// Parses report XML, tolerantly: namespaces and unknown elements are ignored, invalid
    /// UTF-8 is replaced, mismatched end tags are skipped, result words are lower-cased,
    /// and an XML error after the report's essentials were read keeps what was read.
    /// Fails on empty input, non-report XML, or more than `limits.max_records` records.
    pub fn parse(xml: &[u8], limits: &Limits) -> Result<Self, ReportError> {
        let text = String::from_utf8_lossy(xml);
        if text.trim().is_empty() {
            return Err(ReportError::Malformed("empty report".into()));
        }
        let mut reader = quick_xml::Reader::from_str(&text);
        {
            let c = reader.config_mut();
            c.check_end_names = false;
            c.allow_unmatched_ends = true;
            c.expand_empty_elements = true;
        }
        let mut r = Self::default();
        let mut stack: Vec<String> = Vec::new();
        let mut buf = String::new();
        let mut saw_feedback = false;
        loop {
            let ev = match reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    if saw_feedback && !r.report_id.is_empty() && !r.policy.domain.is_empty() {
                        break;
                    }
                    return Err(ReportError::Malformed(format!("XML: {e}")));
                }
            };
            match ev {
                Event::Start(s) => {
                    let name =
                        String::from_utf8_lossy(s.local_name().as_ref()).to_ascii_lowercase();
                    if stack.len() >= limits.max_xml_depth {
                        return Err(ReportError::TooComplex("XML nesting too deep".into()));
                    }
                    if name == "feedback" {
                        saw_feedback = true;
                    }
                    match (stack.last().map(String::as_str), name.as_str()) {
                        (Some("feedback"), "record") => {
                            if r.records.len() >= limits.max_records {
                                return Err(ReportError::TooComplex(format!(
                                    "more than {} records",
                                    limits.max_records
                                )));
                            }
                            r.records.push(ReportRecord::default());
                        }
                        (Some("auth_results"), "dkim") => {
                            if let Some(rec) = r.records.last_mut() {
                                rec.dkim_results.push(DkimAuth::default());
                            }
                        }
                        (Some("auth_results"), "spf") => {
                            if let Some(rec) = r.records.last_mut() {
                                rec.spf_results.push(SpfAuth::default());
                            }
                        }
                        (Some("policy_evaluated"), "reason") => {
                            if let Some(rec) = r.records.last_mut() {
                                rec.reasons.push((String::new(), None));
                            }
                        }
                        _ => {}
                    }
                    stack.push(name);
                    buf.clear();
                }
                Event::Text(t) => buf.push_str(&t.decode().unwrap_or_default()),
                Event::CData(t) => buf.push_str(&String::from_utf8_lossy(&t)),
                Event::GeneralRef(g) => {
                    let name = g.decode().unwrap_or_default();
                    if let Some(c) = resolve_entity(&name) {
                        buf.push(c);
                    } else {
                        buf.push('&');
                        buf.push_str(&name);
                        buf.push(';');
                    }
                }
                Event::End(e) => {
                    let name =
                        String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                    // Tolerate mismatched nesting: close up to the matching open element.
                    let Some(pos) = stack.iter().rposition(|n| *n == name) else {
                        continue;
                    };
                    if pos + 1 == stack.len() {
                        r.assign(&stack, buf.trim());
                    }
                    stack.truncate(pos);
                    buf.clear();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_feedback {
            return Err(ReportError::Malformed("no <feedback> element".into()));
        }
        Ok(r)
    }

    fn assign(&mut self, path: &[String], v: &str) {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let s = || Some(v.to_string());
        let lower = || v.to_ascii_lowercase();
        if let Some(i) = p.iter().position(|x| *x == "record") {
            self.assign_record(&p[i + 1..], v);
            return;
        }
        match p.as_slice() {
            [.., "feedback", "version"] => self.version = s(),
            [.., "report_metadata", "org_name"] => self.org_name = v.into(),
            [.., "report_metadata", "email"] => self.email = v.into(),
            [.., "report_metadata", "extra_contact_info"] => self.extra_contact_info = s(),
            [.., "report_metadata", "report_id"] => self.report_id = v.into(),
            [.., "report_metadata", "error"] => self.errors.push(v.into()),
            [.., "report_metadata", "generator"] => self.generator = s(),
            [.., "date_range", "begin"] => self.begin = v.parse().unwrap_or(0),
            [.., "date_range", "end"] => self.end = v.parse().unwrap_or(0),
            [.., "policy_published", tag] => {
                let pp = &mut self.policy;
                match *tag {
                    "domain" => pp.domain = v.to_ascii_lowercase(),
                    "adkim" => pp.adkim = alignment(v),
                    "aspf" => pp.aspf = alignment(v),
                    "p" => pp.p = policy(v),
                    "sp" => pp.sp = policy(v),
                    "np" => pp.np = policy(v),
                    "pct" => pp.pct = v.parse().ok(),
                    "fo" => pp.fo = s(),
                    "testing" => {
                        pp.testing = Some(matches!(lower().as_str(), "y" | "yes" | "true"));
                    }
                    "discovery_method" => pp.discovery_method = Some(lower()),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn assign_record(&mut self, rest: &[&str], v: &str) {
        let s = || Some(v.to_string());
        let lower = || v.to_ascii_lowercase();
        let Some(rec) = self.records.last_mut() else {
            return;
        };
        match rest {
            ["row", "source_ip"] => rec.source_ip = v.parse().ok(),
            ["row", "count"] => rec.count = v.parse().unwrap_or(0),
            ["row", "policy_evaluated", "disposition"] => rec.disposition = lower(),
            ["row", "policy_evaluated", "dkim"] => rec.dkim = lower(),
            ["row", "policy_evaluated", "spf"] => rec.spf = lower(),
            ["row", "policy_evaluated", "reason", "type"] => {
                if let Some(r) = rec.reasons.last_mut() {
                    r.0 = lower();
                }
            }
            ["row", "policy_evaluated", "reason", "comment"] => {
                if let Some(r) = rec.reasons.last_mut() {
                    r.1 = s().filter(|c| !c.is_empty());
                }
            }
            ["identifiers", "envelope_to"] => rec.envelope_to = s(),
            ["identifiers", "envelope_from"] => rec.envelope_from = s(),
            ["identifiers", "header_from"] => rec.header_from = v.to_ascii_lowercase(),
            ["auth_results", "dkim", f] => {
                if let Some(d) = rec.dkim_results.last_mut() {
                    match *f {
                        "domain" => d.domain = v.to_ascii_lowercase(),
                        "selector" => d.selector = s(),
                        "result" => d.result = lower(),
                        "human_result" => d.human_result = s(),
                        _ => {}
                    }
                }
            }
            ["auth_results", "spf", f] => {
                if let Some(d) = rec.spf_results.last_mut() {
                    match *f {
                        "domain" => d.domain = v.to_ascii_lowercase(),
                        "scope" => d.scope = Some(lower()),
                        "result" => d.result = lower(),
                        "human_result" => d.human_result = s(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Adds a row, merging it into an existing row that differs only in its count (RFC
    /// 9990 §2.1: one row per distinct combination).
    pub fn add(&mut self, row: ReportRecord) {
        if let Some(r) = self.records.iter_mut().find(|r| {
            ReportRecord {
                count: row.count,
                ..(*r).clone()
            } == row
        }) {
            r.count += row.count;
        } else {
            self.records.push(row);
        }
    }

    /// The total message count over all records.
    pub fn message_count(&self) -> u64 {
        self.records.iter().map(|r| r.count).sum()
    }

    /// The report as RFC 9990 XML (namespace `urn:ietf:params:xml:ns:dmarc-2.0`).
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(1024 + self.records.len() * 600);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str("<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n");
        el(
            &mut x,
            1,
            "version",
            self.version.as_deref().unwrap_or("1.0"),
        );
        x.push_str("  <report_metadata>\n");
        el(&mut x, 2, "org_name", &self.org_name);
        el(&mut x, 2, "email", &self.email);
        opt(
            &mut x,
            2,
            "extra_contact_info",
            self.extra_contact_info.as_deref(),
        );
        el(&mut x, 2, "report_id", &self.report_id);
        x.push_str("    <date_range>\n");
        el(&mut x, 3, "begin", &self.begin.to_string());
        el(&mut x, 3, "end", &self.end.to_string());
        x.push_str("    </date_range>\n");
        for e in &self.errors {
            el(&mut x, 2, "error", e);
        }
        opt(&mut x, 2, "generator", self.generator.as_deref());
        x.push_str("  </report_metadata>\n  <policy_published>\n");
        let pp = &self.policy;
        el(&mut x, 2, "domain", &pp.domain);
        opt(&mut x, 2, "p", pp.p.map(Policy::as_str));
        opt(&mut x, 2, "sp", pp.sp.map(Policy::as_str));
        opt(&mut x, 2, "np", pp.np.map(Policy::as_str));
        opt(&mut x, 2, "adkim", pp.adkim.map(Alignment::as_str));
        opt(&mut x, 2, "aspf", pp.aspf.map(Alignment::as_str));
        opt(&mut x, 2, "pct", pp.pct.map(|p| p.to_string()).as_deref());
        opt(&mut x, 2, "fo", pp.fo.as_deref());
        opt(
            &mut x,
            2,
            "testing",
            pp.testing.map(|t| if t { "y" } else { "n" }),
        );
        opt(
            &mut x,
            2,
            "discovery_method",
            pp.discovery_method.as_deref(),
        );
        x.push_str("  </policy_published>\n");
        for r in &self.records {
            x.push_str("  <record>\n    <row>\n");
            el(
                &mut x,
                3,
                "source_ip",
                &r.source_ip.map(|i| i.to_string()).unwrap_or_default(),
            );
            el(&mut x, 3, "count", &r.count.to_string());
            x.push_str("      <policy_evaluated>\n");
            el(&mut x, 4, "disposition", &r.disposition);
            el(&mut x, 4, "dkim", &r.dkim);
            el(&mut x, 4, "spf", &r.spf);
            for (t, c) in &r.reasons {
                x.push_str("        <reason>\n");
                el(&mut x, 5, "type", t);
                opt(&mut x, 5, "comment", c.as_deref());
                x.push_str("        </reason>\n");
            }
            x.push_str("      </policy_evaluated>\n    </row>\n    <identifiers>\n");
            opt(&mut x, 3, "envelope_to", r.envelope_to.as_deref());
            opt(&mut x, 3, "envelope_from", r.envelope_from.as_deref());
            el(&mut x, 3, "header_from", &r.header_from);
            x.push_str("    </identifiers>\n    <auth_results>\n");
            for d in &r.dkim_results {
                x.push_str("      <dkim>\n");
                el(&mut x, 4, "domain", &d.domain);
                opt(&mut x, 4, "selector", d.selector.as_deref());
                el(&mut x, 4, "result", &d.result);
                opt(&mut x, 4, "human_result", d.human_result.as_deref());
                x.push_str("      </dkim>\n");
            }
            for s in &r.spf_results {
                x.push_str("      <spf>\n");
                el(&mut x, 4, "domain", &s.domain);
                opt(&mut x, 4, "scope", s.scope.as_deref());
                el(&mut x, 4, "result", &s.result);
                opt(&mut x, 4, "human_result", s.human_result.as_deref());
                x.push_str("      </spf>\n");
            }
            x.push_str("    </auth_results>\n  </record>\n");
        }
        x.push_str("</feedback>\n");
        x
    }

    /// The RFC 9990 §4 file name: `receiver!policy-domain!begin!end!id.xml` (add `.gz` when
    /// compressed).
    pub fn filename(&self) -> String {
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
        let receiver = self
            .email
            .rsplit_once('@')
            .map_or(self.org_name.as_str(), |(_, d)| d);
        format!(
            "{}!{}!{}!{}!{}.xml",
            safe(receiver),
            safe(&self.policy.domain),
            self.begin,
            self.end,
            safe(&self.report_id)
        )
    }

    /// The RFC 9990 §4 subject: `Report Domain: <domain> Submitter: <org> Report-ID: <id>`.
    pub fn subject(&self) -> String {
        let submitter = self
            .email
            .rsplit_once('@')
            .map_or(self.org_name.as_str(), |(_, d)| d);
        format!(
            "Report Domain: {} Submitter: {} Report-ID: <{}>",
            self.policy.domain, submitter, self.report_id
        )
    }
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c if c.is_control() && c != '\t' && c != '\n' => {}
            c => o.push(c),
        }
    }
    o
}

fn el(x: &mut String, depth: usize, name: &str, value: &str) {
    let _ = writeln!(
        x,
        "{:w$}<{name}>{}</{name}>",
        "",
        escape(value),
        w = depth * 2
    );
}

fn opt(x: &mut String, depth: usize, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        el(x, depth, name, v);
    }
}
