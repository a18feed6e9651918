//! DMARC policy discovery, Organizational Domains and evaluation.

use std::collections::HashMap;

use super::record::{Alignment, Policy, Psd, Record, ReportUri, is_dmarc_record};
use crate::dns::{Answer, DnsMachine, Poll, Question, RecordType};
use crate::spf::SpfResult;

/// How policies and Organizational Domains are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// RFC 9989: the DNS Tree Walk (`psd=`, `np=`, `t=`), no public-suffix list.
    #[default]
    Rfc9989,
    /// RFC 7489: the author domain, then its Organizational Domain from the public-suffix
    /// list (the `psl` crate); `pct=` sampling.
    Rfc7489,
}

/// A DKIM verdict, as DMARC needs it (RFC 8601 result names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DkimResult {
    /// The signature verified.
    Pass,
    /// It did not.
    Fail,
    /// Unverifiable for a reason that is not a failure.
    Neutral,
    /// Temporary failure (key lookup timed out).
    TempError,
    /// Permanent error (bad key or signature syntax).
    PermError,
    /// Rejected by local policy.
    Policy,
    /// No signature.
    None,
}

/// The SPF input of a DMARC evaluation: the domain SPF checked and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpfInput {
    /// The RFC5321.MailFrom domain (the HELO name when the reverse-path was null).
    pub domain: String,
    /// The SPF result for it.
    pub result: SpfResult,
}

/// One DKIM signature's input: its `d=` domain and verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkimInput {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The verdict.
    pub result: DkimResult,
}

/// The result of a DMARC evaluation (RFC 8601 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DmarcResult {
    /// No policy record, or no author domain to check.
    None,
    /// An aligned identifier passed.
    Pass,
    /// No aligned identifier passed.
    Fail,
    /// A DNS error during discovery: try again later.
    TempError,
    /// A policy record exists but cannot be read.
    PermError,
}

impl DmarcResult {
    /// `none`, `pass`, `fail`, `temperror`, `permerror`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for DmarcResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The evaluation for one RFC5322.From domain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainOutcome {
    /// The author domain (lower case).
    pub author_domain: String,
    /// The result for it.
    pub result: DmarcResult,
    /// Where the policy record was found.
    pub policy_domain: Option<String>,
    /// The policy record.
    pub record: Option<Record>,
    /// The policy the record asks for this domain (`p`, `sp` or `np`).
    pub requested: Policy,
    /// The policy to apply after `t=y` (RFC 9989) or `pct` sampling (RFC 7489); `none`
    /// when the result is not `fail`.
    pub disposition: Policy,
    /// The author domain's Organizational Domain (computed when relaxed alignment needed it).
    pub org_domain: Option<String>,
    /// SPF passed for an aligned domain.
    pub spf_aligned: bool,
    /// The first passing DKIM domain aligned with the author domain.
    pub dkim_aligned: Option<String>,
    /// The author domain does not exist (A, AAAA and MX all NXDOMAIN), so `np=` applied.
    pub non_existent: bool,
    /// What went wrong, for temperror and permerror.
    pub problem: Option<String>,
}

/// The outcome of a DMARC evaluation over every author domain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DmarcOutput {
    /// `fail` if any author domain fails; else `temperror` if any had a DNS error; else
    /// `pass` if any passes; else `none`.
    pub result: DmarcResult,
    /// The strictest disposition among the failing domains (RFC 7489 §6.6.1).
    pub disposition: Policy,
    /// One outcome per distinct author domain, in the order given.
    pub domains: Vec<DomainOutcome>,
    /// The message had no usable RFC5322.From domain: DMARC cannot be applied (RFC 5322
    /// requires exactly one From; a receiver may reject such a message on that ground).
    pub no_author_domain: bool,
}

impl DmarcOutput {
    /// The outcome for the first author domain, if any.
    pub fn first(&self) -> Option<&DomainOutcome> {
        self.domains.first()
    }
}

/// A DMARC evaluation, driven through [`DnsMachine`].
///
/// Takes the RFC5322.From domains (none, one or several, RFC 7489 §6.6.1), the SPF outcome
/// and the DKIM verdicts as plain values, so any SPF or DKIM implementation can feed it.
#[derive(Clone, Debug)]
pub struct Verifier {
    authors: Vec<String>,
    spf: Option<SpfInput>,
    dkim: Vec<DkimInput>,
    mode: Mode,
    pct_sample: u8,
    answers: HashMap<Question, Answer>,
    pending: Vec<Question>,
}

impl Verifier {
    /// An evaluation for these From domains (duplicates and case differences collapse).
    pub fn new<S: AsRef<str>>(
        from_domains: &[S],
        spf: Option<SpfInput>,
        dkim: Vec<DkimInput>,
    ) -> Self {
        let mut authors: Vec<String> = Vec::new();
        for d in from_domains {
            let d = normalize(d.as_ref());
            if !d.is_empty() && !authors.contains(&d) {
                authors.push(d);
            }
        }
        Self {
            authors,
            spf,
            dkim,
            mode: Mode::default(),
            pct_sample: 0,
            answers: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Selects RFC 9989 (default) or RFC 7489 behavior.
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// RFC 7489 `pct=` sampling: a number in `0..100` the caller draws at random per
    /// message (this crate has no randomness). The policy applies when `sample < pct`;
    /// otherwise the next less strict one does. Default 0: always applied.
    #[must_use]
    pub fn pct_sample(mut self, sample: u8) -> Self {
        self.pct_sample = sample.min(99);
        self
    }

    fn evaluate(&self, cx: &mut Cx<'_>) -> Option<DmarcOutput> {
        let mut domains = Vec::new();
        let mut blocked = false;
        for a in &self.authors {
            match self.evaluate_domain(cx, a) {
                Some(o) => domains.push(o),
                None => blocked = true,
            }
        }
        if blocked {
            return None;
        }
        let result = if domains.iter().any(|d| d.result == DmarcResult::Fail) {
            DmarcResult::Fail
        } else if domains.iter().any(|d| d.result == DmarcResult::TempError) {
            DmarcResult::TempError
        } else if domains.iter().any(|d| d.result == DmarcResult::PermError) {
            DmarcResult::PermError
        } else if domains.iter().any(|d| d.result == DmarcResult::Pass) {
            DmarcResult::Pass
        } else {
            DmarcResult::None
        };
        let disposition = domains
            .iter()
            .filter(|d| d.result == DmarcResult::Fail)
            .map(|d| d.disposition)
            .max()
            .unwrap_or_default();
        Some(DmarcOutput {
            result,
            disposition,
            no_author_domain: domains.is_empty(),
            domains,
        })
    }

    fn evaluate_domain(&self, cx: &mut Cx<'_>, author: &str) -> Option<DomainOutcome> {
        let mut out = DomainOutcome {
            author_domain: author.to_string(),
            result: DmarcResult::None,
            policy_domain: None,
            record: None,
            requested: Policy::None,
            disposition: Policy::None,
            org_domain: None,
            spf_aligned: false,
            dkim_aligned: None,
            non_existent: false,
            problem: None,
        };
        let (policy_domain, record) = match discover(cx, self.mode, author)? {
            Ok(Some(found)) => found,
            Ok(None) => return Some(out),
            Err(Found::Temp(e)) => {
                out.result = DmarcResult::TempError;
                out.problem = Some(e);
                return Some(out);
            }
            Err(Found::Perm(e)) => {
                out.result = DmarcResult::PermError;
                out.problem = Some(e);
                return Some(out);
            }
        };
        // Which policy applies (RFC 9989 §4.7, §5; RFC 7489 §6.6.3).
        let mut blocked = false;
        out.requested = if policy_domain == author {
            record.policy()
        } else {
            let sub = record.sp.unwrap_or_else(|| record.policy());
            match (self.mode, record.np) {
                (Mode::Rfc9989, Some(np)) if np != sub => match non_existent(cx, author) {
                    Some(true) => {
                        out.non_existent = true;
                        np
                    }
                    Some(false) => sub,
                    None => {
                        blocked = true;
                        sub
                    }
                },
                _ => sub,
            }
        };
        // Alignment (RFC 9989 §4.4, RFC 7489 §3.1).
        let needs_org = record.aspf == Alignment::Relaxed || record.adkim == Alignment::Relaxed;
        let author_org = if needs_org {
            match org_domain(cx, self.mode, author) {
                Some(Ok(o)) => Some(o),
                Some(Err(e)) => {
                    out.result = DmarcResult::TempError;
                    out.problem = Some(e);
                    return Some(out);
                }
                None => {
                    blocked = true;
                    None
                }
            }
        } else {
            None
        };
        let aligned = |cx: &mut Cx<'_>, mode: Alignment, d: &str| -> Option<bool> {
            let d = normalize(d);
            if d == author {
                return Some(true);
            }
            if mode == Alignment::Strict {
                return Some(false);
            }
            match org_domain(cx, self.mode, &d)? {
                Ok(o) => Some(author_org.as_deref().is_some_and(|a| a == o)),
                Err(_) => Some(false),
            }
        };
        if let Some(spf) = self.spf.as_ref().filter(|s| s.result == SpfResult::Pass) {
            match aligned(cx, record.aspf, &spf.domain) {
                Some(a) => out.spf_aligned = a,
                None => blocked = true,
            }
        }
        for d in self.dkim.iter().filter(|d| d.result == DkimResult::Pass) {
            match aligned(cx, record.adkim, &d.domain) {
                Some(true) => {
                    if out.dkim_aligned.is_none() {
                        out.dkim_aligned = Some(normalize(&d.domain));
                    }
                }
                Some(false) => {}
                None => blocked = true,
            }
        }
        if blocked {
            return None;
        }
        out.org_domain = author_org;
        if out.spf_aligned || out.dkim_aligned.is_some() {
            out.result = DmarcResult::Pass;
        } else {
            out.result = DmarcResult::Fail;
            out.disposition = match self.mode {
                Mode::Rfc9989 if record.testing => out.requested.relaxed(),
                Mode::Rfc7489 if self.pct_sample >= record.pct => out.requested.relaxed(),
                _ => out.requested,
            };
        }
        out.policy_domain = Some(policy_domain);
        out.record = Some(record);
        Some(out)
    }
}

impl DnsMachine for Verifier {
    type Output = DmarcOutput;

    fn poll(&mut self) -> Poll<DmarcOutput> {
        let mut cx = Cx {
            answers: &self.answers,
            missing: Vec::new(),
        };
        if let Some(out) = self.evaluate(&mut cx) {
            Poll::Ready(out)
        } else {
            let mut q = cx.missing;
            q.sort();
            q.dedup();
            self.pending.clone_from(&q);
            Poll::Pending(q)
        }
    }

    fn provide(&mut self, question: &Question, answer: Answer) {
        if self.pending.contains(question) {
            self.answers.insert(question.clone(), answer);
        }
    }
}

/// The answers so far, and the questions found missing on this pass.
struct Cx<'a> {
    answers: &'a HashMap<Question, Answer>,
    missing: Vec<Question>,
}

impl Cx<'_> {
    fn get(&mut self, q: Question) -> Option<&Answer> {
        let a = self.answers.get(&q);
        if a.is_none() {
            self.missing.push(q);
        }
        a
    }
}

enum Found {
    Temp(String),
    Perm(String),
}

fn normalize(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The record at `_dmarc.<domain>`: `Ok(None)` when there is none, or several (RFC 9989
/// §4.10: records not starting with `v=DMARC1` are discarded; several are all discarded).
fn record_at(cx: &mut Cx<'_>, domain: &str) -> Option<Result<Option<Record>, Found>> {
    let a = cx.get(Question::new(&format!("_dmarc.{domain}"), RecordType::Txt))?;
    Some(match a {
        Answer::TempFail(e) | Answer::PermFail(e) => {
            Err(Found::Temp(format!("DNS error at _dmarc.{domain}: {e}")))
        }
        _ => {
            let recs: Vec<&[u8]> = a.txt().filter(|t| is_dmarc_record(t)).collect();
            match recs.as_slice() {
                [one] => match Record::parse(one) {
                    Ok(r) => Ok(Some(r)),
                    Err(e) => Err(Found::Perm(format!("_dmarc.{domain}: {e}"))),
                },
                _ => Ok(None),
            }
        }
    })
}

/// The names the RFC 9989 DNS Tree Walk queries, longest first: the domain, then with
/// leading labels removed (straight to 7 labels from 8 or more) down to one label.
pub fn tree_walk(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    let mut out = Vec::new();
    if labels.is_empty() {
        return out;
    }
    out.push(labels.join("."));
    let mut n = labels.len();
    while n > 1 {
        n = if n >= 8 { 7 } else { n - 1 };
        out.push(labels[labels.len() - n..].join("."));
    }
    out
}

type Discovered = Result<Option<(String, Record)>, Found>;

fn discover(cx: &mut Cx<'_>, mode: Mode, author: &str) -> Option<Discovered> {
    let targets = match mode {
        Mode::Rfc9989 => tree_walk(author),
        Mode::Rfc7489 => {
            let mut t = vec![author.to_string()];
            let org = psl_org(author);
            if org != author {
                t.push(org);
            }
            t
        }
    };
    for t in targets {
        match record_at(cx, &t)? {
            Ok(Some(r)) => return Some(Ok(Some((t, r)))),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(None))
}

fn psl_org(domain: &str) -> String {
    psl::domain_str(domain).unwrap_or(domain).to_string()
}

/// The Organizational Domain of `domain` (RFC 9989 §4.10.2 tree walk, or the public-suffix
/// list in RFC 7489 mode). `Err` on a DNS error during the walk.
fn org_domain(cx: &mut Cx<'_>, mode: Mode, domain: &str) -> Option<Result<String, String>> {
    if mode == Mode::Rfc7489 {
        return Some(Ok(psl_org(domain)));
    }
    let walk = tree_walk(domain);
    let labels: Vec<&str> = domain.split('.').collect();
    let mut shortest = None;
    for t in &walk {
        match record_at(cx, t)? {
            Ok(Some(r)) => match r.psd {
                Psd::No => return Some(Ok(t.clone())),
                Psd::Yes => {
                    // One label below the Public Suffix Domain.
                    let n = t.split('.').count() + 1;
                    return Some(Ok(if n > labels.len() {
                        domain.to_string()
                    } else {
                        labels[labels.len() - n..].join(".")
                    }));
                }
                Psd::Unknown => shortest = Some(t.clone()),
            },
            Ok(None) | Err(Found::Perm(_)) => {}
            Err(Found::Temp(e)) => return Some(Err(e)),
        }
    }
    Some(Ok(shortest.unwrap_or_else(|| domain.to_string())))
}

/// RFC 9989 `np=`: the domain does not exist when A, AAAA and MX all answer NXDOMAIN.
fn non_existent(cx: &mut Cx<'_>, domain: &str) -> Option<bool> {
    let mut all_nx = true;
    let mut blocked = false;
    for t in [RecordType::A, RecordType::Aaaa, RecordType::Mx] {
        match cx.get(Question::new(domain, t)) {
            Some(Answer::NxDomain { .. }) => {}
            Some(_) => all_nx = false,
            None => blocked = true,
        }
    }
    if blocked { None } else { Some(all_nx) }
}

/// Whether a report destination accepts reports for a policy domain (RFC 9990 §3 /
/// RFC 7489 §7.1, DMARC-009).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Destination {
    /// Same Organizational Domain, or the destination published
    /// `<policy-domain>._report._dmarc.<destination>` with `v=DMARC1`.
    Authorized,
    /// The destination did not authorize it: do not send.
    NotAuthorized,
    /// DNS trouble: decide later.
    TempError,
    /// The URI is not a `mailto:` URI with a domain.
    Unsupported,
}

/// A report-destination check, driven through [`DnsMachine`].
#[derive(Clone, Debug)]
pub struct DestinationCheck {
    policy_domain: String,
    destination: Option<String>,
    mode: Mode,
    answers: HashMap<Question, Answer>,
    pending: Vec<Question>,
}

impl DestinationCheck {
    /// Checks whether `uri` (from the `rua=`/`ruf=` of `policy_domain`'s record) may receive
    /// reports for it.
    pub fn new(policy_domain: &str, uri: &ReportUri, mode: Mode) -> Self {
        Self {
            policy_domain: normalize(policy_domain),
            destination: uri.domain(),
            mode,
            answers: HashMap::new(),
            pending: Vec::new(),
        }
    }

    fn evaluate(&self, cx: &mut Cx<'_>) -> Option<Destination> {
        let Some(dest) = &self.destination else {
            return Some(Destination::Unsupported);
        };
        let a = org_domain(cx, self.mode, &self.policy_domain);
        let b = org_domain(cx, self.mode, dest);
        match (a?, b?) {
            (Ok(a), Ok(b)) if a == b => return Some(Destination::Authorized),
            (Err(_), _) | (_, Err(_)) => return Some(Destination::TempError),
            _ => {}
        }
        let q = Question::new(
            &format!("{}._report._dmarc.{dest}", self.policy_domain),
            RecordType::Txt,
        );
        Some(match cx.get(q)? {
            Answer::TempFail(_) => Destination::TempError,
            a if a.txt().any(is_dmarc_record) => Destination::Authorized,
            _ => Destination::NotAuthorized,
        })
    }
}

impl DnsMachine for DestinationCheck {
    type Output = Destination;

    fn poll(&mut self) -> Poll<Destination> {
        let mut cx = Cx {
            answers: &self.answers,
            missing: Vec::new(),
        };
        if let Some(d) = self.evaluate(&mut cx) {
            Poll::Ready(d)
        } else {
            let mut q = cx.missing;
            q.sort();
            q.dedup();
            self.pending.clone_from(&q);
            Poll::Pending(q)
        }
    }

    fn provide(&mut self, question: &Question, answer: Answer) {
        if self.pending.contains(question) {
            self.answers.insert(question.clone(), answer);
        }
    }
}
