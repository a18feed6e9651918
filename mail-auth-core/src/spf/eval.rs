//! `check_host()` (RFC 7208 §4) as a resumable machine.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use super::record::{
    Directive, MacroLetter, MacroPart, MacroString, Mechanism, Qualifier, Record, RecordError,
};
use super::{Identity, SpfOutput, SpfResult, is_spf_record};
use crate::dns::{Answer, DnsMachine, Poll, Question, Record as RR, RecordType};

/// The processing limits of RFC 7208 §4.6.4 (SPF-004). The defaults are the RFC's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Terms that cause DNS lookups (include, a, mx, ptr, exists, redirect): 10. One more is
    /// a permerror.
    pub max_lookups: u32,
    /// Lookups answering NXDOMAIN or no records: 2. One more is a permerror.
    pub max_void_lookups: u32,
    /// MX names one `mx` mechanism may look up: 10. More is a permerror.
    pub max_mx_names: usize,
    /// PTR names one `ptr` mechanism or `%{p}` macro checks: 10. The rest are ignored.
    pub max_ptr_names: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_lookups: 10,
            max_void_lookups: 2,
            max_mx_names: 10,
            max_ptr_names: 10,
        }
    }
}

impl Limits {
    /// The RFC defaults (the same as `Default`).
    pub fn rfc7208() -> Self {
        Self::default()
    }
}

/// One `check_host()` evaluation (RFC 7208 §4), driven through [`DnsMachine`].
///
/// Build it with [`mail_from`](Self::mail_from), [`helo`](Self::helo) or
/// [`check_host`](Self::check_host), adjust it with the chained setters, then drive it:
/// poll, answer every question it lists, poll again, until it is ready. The machine asks at
/// most `max_lookups` lookup terms' worth of questions, so driving it always ends.
#[derive(Clone, Debug)]
pub struct Verifier {
    ip: IpAddr,
    identity: Identity,
    domain: Arc<str>,
    /// `local@domain` as evaluated; `at` is the index of the `@`.
    sender: String,
    at: usize,
    helo: String,
    /// `None`: `unknown`.
    receiver: Option<String>,
    now: u64,
    default_explanation: Option<String>,
    limits: Limits,
    /// The answers received. One check asks at most a few dozen questions (the lookup
    /// limits bound them), so a scan is cheaper than hashing every name into a table.
    answers: Vec<(Question, Stored)>,
    /// What the answers hold, copied out of the answers lent to
    /// [`provide_ref`](DnsMachine::provide_ref).
    arena: Arena,
    pending: Vec<Question>,
    frames: Vec<Frame>,
    phase: Phase,
    lookups: u32,
    voids: u32,
    cache: Option<Arc<RecordCache>>,
    /// Where macro-strings are expanded (reused for every expansion).
    buf: String,
}

/// Parsed SPF records shared between evaluations (a receiver checks the same few popular
/// records over and over), keyed by the record's text, so the cache can never hand out a
/// record that differs from the DNS answer. Records that do not parse are not kept.
///
/// Bounded: when `capacity` records are held, the next new one empties the cache first.
/// Share it between threads with an `Arc` (lookups take a short lock).
#[derive(Debug)]
pub struct RecordCache {
    records: Mutex<HashMap<Box<[u8]>, Arc<Record>>>,
    capacity: usize,
}

impl RecordCache {
    /// A cache holding at most `capacity` records (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            records: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The records held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Arc<Record>>> {
        // A panic while holding the lock cannot leave the map half-updated: keep using it.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The parsed record for `txt`, parsed and kept on a miss.
    pub fn get_or_parse(&self, txt: &[u8]) -> Result<Arc<Record>, RecordError> {
        if let Some(r) = self.lock().get(txt) {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(Record::parse(txt)?);
        let mut map = self.lock();
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(txt.into(), Arc::clone(&r));
        Ok(r)
    }
}

impl Default for RecordCache {
    /// Room for 1,000 records.
    fn default() -> Self {
        Self::new(1000)
    }
}

/// A record being evaluated: parsed for this check, or shared through a [`RecordCache`].
#[derive(Clone, Debug)]
enum Held {
    Own(Record),
    Shared(Arc<Record>),
}

impl std::ops::Deref for Held {
    type Target = Record;

    fn deref(&self) -> &Record {
        match self {
            Self::Own(r) => r,
            Self::Shared(r) => r,
        }
    }
}

#[derive(Clone, Debug)]
struct Frame {
    domain: Arc<str>,
    record: Option<Held>,
    pos: usize,
    /// The lookup of the current term has been counted.
    started: bool,
    /// Reached through `redirect=`: "none" there is a permerror (§6.1).
    redirected: bool,
    /// The current term's expanded target, kept while its answers are awaited so a poll
    /// does not expand the macros again.
    target: Option<Arc<str>>,
}

impl Frame {
    fn new(domain: Arc<str>, redirected: bool) -> Self {
        Self {
            domain,
            record: None,
            pos: 0,
            started: false,
            redirected,
            target: None,
        }
    }

    /// On to the next term.
    fn advance(&mut self) {
        self.pos += 1;
        self.started = false;
        self.target = None;
    }
}

#[derive(Clone, Debug)]
enum Phase {
    Eval,
    Explain {
        record: Held,
        domain: Arc<str>,
        mechanism: String,
    },
    /// The result; the output is built from it (and the verifier's inputs) when polled.
    Done {
        result: SpfResult,
        problem: Option<String>,
        mechanism: Option<String>,
        explanation: Option<String>,
    },
}

/// What a term's evaluation asks the machine to do next.
enum Next {
    Limit(String),
    Term(Step),
    Redirect(Result<Option<Arc<str>>, Step>),
    Neutral,
}

enum Step {
    Need(Vec<Question>),
    Match,
    NoMatch,
    Error(SpfResult, String),
    Include(Arc<str>),
}

impl From<Vec<Question>> for Step {
    fn from(q: Vec<Question>) -> Self {
        Self::Need(q)
    }
}

impl Verifier {
    /// Checks the MAIL FROM identity. An empty `mail_from` (the null sender) is checked as
    /// `postmaster@<helo>` (RFC 7208 §2.4); a sender without a local-part gets
    /// `postmaster` (§4.3).
    pub fn mail_from(ip: IpAddr, helo: &str, mail_from: &str) -> Self {
        let mail_from = mail_from.trim_start_matches('<').trim_end_matches('>');
        if mail_from.is_empty() {
            let mut v = Self::check_host(ip, helo, &format!("postmaster@{helo}"), helo);
            v.identity = Identity::MailFrom;
            v
        } else {
            let domain = mail_from.rsplit_once('@').map_or(mail_from, |(_, d)| d);
            Self::check_host(ip, domain, mail_from, helo)
        }
    }

    /// Checks the HELO identity (RFC 7208 §2.3): `<domain>` is the HELO name and the sender
    /// is `postmaster@<helo>`.
    pub fn helo(ip: IpAddr, helo: &str) -> Self {
        let mut v = Self::check_host(ip, helo, &format!("postmaster@{helo}"), helo);
        v.identity = Identity::Helo;
        v
    }

    /// `check_host(<ip>, <domain>, <sender>)` with the HELO name for the `%{h}` macro.
    pub fn check_host(ip: IpAddr, domain: &str, sender: &str, helo: &str) -> Self {
        // §5: an IPv4-mapped IPv6 client is an IPv4 client.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        let (local, sender_domain) = match sender.rsplit_once('@') {
            Some((l, d)) => (l, d),
            None => ("", sender),
        };
        let local = if local.is_empty() {
            "postmaster"
        } else {
            local
        };
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let domain: Arc<str> = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            domain.to_ascii_lowercase().into()
        } else {
            domain.into()
        };
        let mut v = Self {
            ip,
            identity: Identity::MailFrom,
            sender: {
                let mut s = String::with_capacity(local.len() + 1 + sender_domain.len());
                s.push_str(local);
                s.push('@');
                s.push_str(sender_domain);
                s
            },
            at: local.len(),
            helo: helo.to_string(),
            receiver: None,
            now: 0,
            default_explanation: None,
            limits: Limits::default(),
            answers: Vec::new(),
            arena: Arena::default(),
            pending: Vec::new(),
            frames: Vec::new(),
            phase: Phase::Eval,
            lookups: 0,
            voids: 0,
            cache: None,
            buf: String::new(),
            domain: Arc::clone(&domain),
        };
        if valid_domain(&domain) {
            v.frames.push(Frame::new(domain, false));
        } else {
            // §4.3: a malformed or single-label domain gives "none" at once.
            v.phase = Phase::Done {
                result: SpfResult::None,
                problem: Some(format!("{:?} is not a valid domain name", v.domain)),
                mechanism: None,
                explanation: None,
            };
        }
        v
    }

    /// Sets the limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the receiving host's name, for the `%{r}` macro (default `unknown`).
    #[must_use]
    pub fn receiver(mut self, name: &str) -> Self {
        self.receiver = Some(name.to_string());
        self
    }

    /// Sets the current time (seconds since the Unix epoch) for the `%{t}` macro.
    #[must_use]
    pub fn now(mut self, unix_seconds: u64) -> Self {
        self.now = unix_seconds;
        self
    }

    /// Sets the explanation given for a fail when the record has no usable `exp=`.
    #[must_use]
    pub fn default_explanation(mut self, text: &str) -> Self {
        self.default_explanation = Some(text.to_string());
        self
    }

    /// Takes parsed records from (and adds them to) a cache shared between evaluations,
    /// instead of parsing every record answered. The DNS questions are the same either way.
    #[must_use]
    pub fn record_cache(mut self, cache: Arc<RecordCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    fn sender(&self) -> String {
        self.sender.clone()
    }

    fn local(&self) -> &str {
        &self.sender[..self.at]
    }

    fn sender_domain(&self) -> &str {
        &self.sender[self.at + 1..]
    }

    fn output(
        &self,
        result: SpfResult,
        problem: Option<String>,
        mechanism: Option<String>,
        explanation: Option<String>,
    ) -> SpfOutput {
        SpfOutput {
            result,
            identity: self.identity,
            ip: self.ip,
            domain: self.domain.to_string(),
            sender: self.sender(),
            helo: self.helo.clone(),
            mechanism,
            explanation: if result == SpfResult::Fail {
                explanation.or_else(|| self.default_explanation.clone())
            } else {
                None
            },
            problem,
            dns_lookups: self.lookups,
            void_lookups: self.voids,
        }
    }

    fn answer(&self, q: &Question) -> Option<Got<'_>> {
        self.find(q.name(), q.rtype())
    }

    /// The answer for `name` and `t`, found without building a [`Question`] (names compare
    /// as `Question::new` normalizes them).
    fn find(&self, name: &str, t: RecordType) -> Option<Got<'_>> {
        self.find_bytes(name.as_bytes(), t)
    }

    /// [`find`](Self::find) by the name's octets.
    fn find_bytes(&self, name: &[u8], t: RecordType) -> Option<Got<'_>> {
        let name = name.strip_suffix(b".").unwrap_or(name);
        self.answers
            .iter()
            .find(|(q, _)| {
                let n = q.name_bytes();
                q.rtype() == t
                    && n.len() == name.len()
                    && (n == name || n.eq_ignore_ascii_case(name))
            })
            .map(|(_, stored)| Got {
                stored,
                arena: &self.arena,
            })
    }

    /// The answer for `name` and `t`, or the question to ask for it.
    fn need(&self, name: &str, t: RecordType) -> Result<Got<'_>, Step> {
        self.find(name, t)
            .ok_or_else(|| Step::Need(vec![Question::new(name, t)]))
    }

    fn addr_type(&self) -> RecordType {
        if self.ip.is_ipv4() {
            RecordType::A
        } else {
            RecordType::Aaaa
        }
    }

    /// Ends the top frame with `result`; the result flows into the including frame, or
    /// ends the evaluation.
    fn finish(
        &mut self,
        mut result: SpfResult,
        mut problem: Option<String>,
        mechanism: Option<String>,
        explain: bool,
    ) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        if result == SpfResult::None && frame.redirected {
            result = SpfResult::PermError;
            problem = Some(format!(
                "redirect target {} has no SPF record",
                frame.domain
            ));
        }
        if self.frames.is_empty() {
            if explain
                && result == SpfResult::Fail
                && let Some(record) = frame.record
                && record.exp().is_some()
            {
                self.phase = Phase::Explain {
                    record,
                    domain: frame.domain,
                    mechanism: mechanism.unwrap_or_default(),
                };
                return;
            }
            self.phase = Phase::Done {
                result,
                problem,
                mechanism,
                explanation: None,
            };
            return;
        }
        // The parent is evaluating `include:` (§5.2).
        match result {
            SpfResult::Pass => self.finish_match(),
            SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => {
                self.frames.last_mut().expect("parent frame").advance();
            }
            SpfResult::TempError => self.finish(SpfResult::TempError, problem, None, false),
            SpfResult::PermError => self.finish(SpfResult::PermError, problem, None, false),
            SpfResult::None => self.finish(
                SpfResult::PermError,
                Some(format!(
                    "included domain {} has no SPF record",
                    frame.domain
                )),
                None,
                false,
            ),
        }
    }

    /// The top frame's current directive matched.
    fn finish_match(&mut self) {
        let frame = self.frames.last().expect("frame");
        let Some(d) = frame.record.as_deref().and_then(|r| r.directive(frame.pos)) else {
            return;
        };
        let result = match d.qualifier {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        };
        // Only the outermost frame's match is reported; an included record's is not.
        let text = (self.frames.len() == 1).then(|| {
            let mut text = String::with_capacity(32);
            d.write_text(&mut text);
            text
        });
        self.finish(result, None, text, true);
    }

    fn run(&mut self) -> Result<(), Vec<Question>> {
        loop {
            match &self.phase {
                Phase::Done { .. } => return Ok(()),
                Phase::Explain { .. } => return self.explain(),
                Phase::Eval => {}
            }
            let top = self.frames.len() - 1;
            if self.frames[top].record.is_none() {
                let name = &self.frames[top].domain;
                let Some(a) = self.find(name, RecordType::Txt) else {
                    return Err(vec![Question::new(name, RecordType::Txt)]);
                };
                match select_record(a, self.cache.as_deref()) {
                    Ok(r) => self.frames[top].record = Some(r),
                    Err((result, why)) => self.finish(result, Some(why), None, false),
                }
                continue;
            }
            // The record leaves its frame while a term is evaluated (the evaluation needs
            // the verifier mutably), and goes back before the frames change.
            let frame = &mut self.frames[top];
            let Some(record) = frame.record.take() else {
                continue;
            };
            let (pos, started) = (frame.pos, frame.started);
            let domain = Arc::clone(&frame.domain);
            let next = if let Some(d) = record.directive(pos) {
                if d.mechanism.does_lookup() && !started {
                    self.frames[top].started = true;
                    match self.count_lookup() {
                        Err(e) => Next::Limit(e),
                        Ok(()) => Next::Term(self.eval_mechanism(&d, &domain)),
                    }
                } else {
                    Next::Term(self.eval_mechanism(&d, &domain))
                }
            } else if let Some(redirect) = record.redirect().filter(|_| !record.has_all()) {
                let counted = if started {
                    Ok(())
                } else {
                    self.frames[top].started = true;
                    self.count_lookup()
                };
                match counted {
                    Err(e) => Next::Limit(e),
                    Ok(()) => Next::Redirect(self.expand_domain(redirect, &domain)),
                }
            } else {
                Next::Neutral
            };
            self.frames[top].record = Some(record);
            match next {
                Next::Limit(e) => self.finish(SpfResult::PermError, Some(e), None, false),
                Next::Term(Step::Need(q)) | Next::Redirect(Err(Step::Need(q))) => return Err(q),
                Next::Term(Step::Match) => self.finish_match(),
                Next::Term(Step::NoMatch) => self.frames[top].advance(),
                Next::Term(Step::Error(r, why)) => self.finish(r, Some(why), None, false),
                Next::Term(Step::Include(target)) => self.frames.push(Frame::new(target, false)),
                Next::Redirect(Err(_)) => unreachable!("expand_domain fails only with Need"),
                Next::Redirect(Ok(None)) => self.finish(
                    SpfResult::PermError,
                    Some(format!("malformed redirect target in {domain}")),
                    None,
                    false,
                ),
                Next::Redirect(Ok(Some(target))) => self.frames[top] = Frame::new(target, true),
                // §4.7: no match and no redirect: neutral.
                Next::Neutral => self.finish(SpfResult::Neutral, None, None, false),
            }
        }
    }

    fn count_lookup(&mut self) -> Result<(), String> {
        self.lookups += 1;
        if self.lookups > self.limits.max_lookups {
            Err(format!(
                "more than {} DNS lookup terms",
                self.limits.max_lookups
            ))
        } else {
            Ok(())
        }
    }

    fn count_void(&mut self) -> Result<(), Step> {
        self.voids += 1;
        if self.voids > self.limits.max_void_lookups {
            Err(Step::Error(
                SpfResult::PermError,
                format!("more than {} void lookups", self.limits.max_void_lookups),
            ))
        } else {
            Ok(())
        }
    }

    fn eval_mechanism(&mut self, d: &Directive<'_>, domain: &Arc<str>) -> Step {
        match self.try_mechanism(&d.mechanism, domain) {
            Ok(s) | Err(s) => s,
        }
    }

    /// The current term's target: its domain-spec expanded, or the current domain. The
    /// expansion is kept in the frame until the term is done.
    fn target(
        &mut self,
        spec: Option<MacroString<'_>>,
        domain: &Arc<str>,
    ) -> Result<Option<Arc<str>>, Step> {
        let Some(spec) = spec else {
            return Ok(Some(Arc::clone(domain)));
        };
        let frame = self.frames.last().expect("frame");
        if let Some(t) = &frame.target {
            return Ok(Some(Arc::clone(t)));
        }
        let t: Option<Arc<str>> = self.expand_domain(spec, domain)?;
        if let Some(t) = &t {
            self.frames.last_mut().expect("frame").target = Some(Arc::clone(t));
        }
        Ok(t)
    }

    fn try_mechanism(&mut self, m: &Mechanism<'_>, domain: &Arc<str>) -> Result<Step, Step> {
        let ip = self.ip;
        match m {
            Mechanism::All => Ok(Step::Match),
            Mechanism::Ip4 { addr, prefix } => Ok(match_if(in_net(ip, IpAddr::V4(*addr), *prefix))),
            Mechanism::Ip6 { addr, prefix } => Ok(match_if(in_net(ip, IpAddr::V6(*addr), *prefix))),
            Mechanism::Include(spec) => match self.target(Some(*spec), domain)? {
                Some(t) => Ok(Step::Include(t)),
                None => Ok(Step::Error(
                    SpfResult::PermError,
                    format!("malformed include target in {domain}"),
                )),
            },
            Mechanism::A {
                domain: spec,
                cidr4,
                cidr6,
            } => {
                let Some(target) = self.target(*spec, domain)? else {
                    return Ok(Step::NoMatch);
                };
                let a = self.need(&target, self.addr_type())?;
                if let Some(e) = dns_error(a) {
                    return Ok(e);
                }
                if a.is_empty_answer() {
                    self.count_void()?;
                    return Ok(Step::NoMatch);
                }
                Ok(match_if(a.ips().any(|x| in_dual(ip, x, *cidr4, *cidr6))))
            }
            Mechanism::Mx {
                domain: spec,
                cidr4,
                cidr6,
            } => {
                let Some(target) = self.target(*spec, domain)? else {
                    return Ok(Step::NoMatch);
                };
                let a = self.need(&target, RecordType::Mx)?;
                if let Some(e) = dns_error(a) {
                    return Ok(e);
                }
                if a.is_empty_answer() {
                    self.count_void()?;
                    return Ok(Step::NoMatch);
                }
                // RFC 7505 null MX ("0 .") names no host.
                let names = || a.texts(Kind::Mx).filter(|n| !n.is_empty());
                if names().count() > self.limits.max_mx_names {
                    return Ok(Step::Error(
                        SpfResult::PermError,
                        format!(
                            "{target} has more than {} MX names",
                            self.limits.max_mx_names
                        ),
                    ));
                }
                let t = self.addr_type();
                let missing: Vec<Question> = names()
                    .filter(|n| self.find_bytes(n, t).is_none())
                    .map(|n| Question::new(std::str::from_utf8(n).unwrap_or_default(), t))
                    .collect();
                if !missing.is_empty() {
                    return Err(Step::Need(missing));
                }
                for n in names() {
                    let Some(a) = self.find_bytes(n, t) else {
                        unreachable!("every name was answered");
                    };
                    if let Some(e) = dns_error(a) {
                        return Ok(e);
                    }
                    if a.ips().any(|x| in_dual(ip, x, *cidr4, *cidr6)) {
                        return Ok(Step::Match);
                    }
                }
                Ok(Step::NoMatch)
            }
            Mechanism::Ptr(spec) => {
                let Some(target) = self.target(*spec, domain)? else {
                    return Ok(Step::NoMatch);
                };
                let q = Question::reverse(ip);
                let a = self.answer(&q).ok_or_else(|| Step::Need(vec![q.clone()]))?;
                // §5.5: a DNS error in the PTR lookup makes the mechanism not match.
                if dns_error(a).is_some() {
                    return Ok(Step::NoMatch);
                }
                if a.is_empty_answer() {
                    self.count_void()?;
                    return Ok(Step::NoMatch);
                }
                let names = self.validated_names()?;
                let suffix = format!(".{target}");
                Ok(match_if(
                    names.iter().any(|n| *n == *target || n.ends_with(&suffix)),
                ))
            }
            Mechanism::Exists(spec) => {
                let Some(target) = self.target(Some(*spec), domain)? else {
                    return Ok(Step::NoMatch);
                };
                // §5.7: always an A lookup, whatever the client's address family.
                let a = self.need(&target, RecordType::A)?;
                if let Some(e) = dns_error(a) {
                    return Ok(e);
                }
                if a.is_empty_answer() {
                    self.count_void()?;
                    return Ok(Step::NoMatch);
                }
                Ok(Step::Match)
            }
        }
    }

    /// The validated names of the client address (§5.5): PTR names (at most
    /// `max_ptr_names`) whose forward lookup includes the address.
    fn validated_names(&self) -> Result<Vec<String>, Step> {
        let q = Question::reverse(self.ip);
        let a = self.answer(&q).ok_or_else(|| Step::Need(vec![q.clone()]))?;
        let t = self.addr_type();
        let names: Vec<&str> = a.names(Kind::Ptr).take(self.limits.max_ptr_names).collect();
        let missing: Vec<Question> = names
            .iter()
            .filter(|n| self.find(n, t).is_none())
            .map(|n| Question::new(n, t))
            .collect();
        if !missing.is_empty() {
            return Err(Step::Need(missing));
        }
        Ok(names
            .into_iter()
            .filter(|n| {
                self.find(n, t)
                    .is_some_and(|a| a.ips().any(|x| x == self.ip))
            })
            .map(str::to_string)
            .collect())
    }

    /// `%{p}`: a validated name, preferring the current domain or a subdomain of it.
    fn p_macro(&self, domain: &str) -> Result<String, Step> {
        let q = Question::reverse(self.ip);
        let a = self.answer(&q).ok_or_else(|| Step::Need(vec![q.clone()]))?;
        if dns_error(a).is_some() || a.is_empty_answer() {
            return Ok("unknown".into());
        }
        let names = self.validated_names()?;
        let suffix = format!(".{domain}");
        Ok(names
            .iter()
            .find(|n| *n == domain)
            .or_else(|| names.iter().find(|n| n.ends_with(&suffix)))
            .or_else(|| names.first())
            .cloned()
            .unwrap_or_else(|| "unknown".into()))
    }

    /// Expands a domain-spec for a query: truncated to 253 octets from the left (§7.3), no
    /// trailing dot. `Ok(None)` when the result is not a usable domain name. The expansion
    /// is written into a buffer the verifier reuses; only the result is allocated.
    fn expand_domain(
        &mut self,
        spec: MacroString<'_>,
        domain: &str,
    ) -> Result<Option<Arc<str>>, Step> {
        let mut s = std::mem::take(&mut self.buf);
        s.clear();
        // One allocation for every expansion of the check (a domain is at most 253
        // octets; longer expansions are truncated below).
        s.reserve(256);
        let done = self.expand(spec, domain, &mut s);
        let out = done.map(|()| {
            s.make_ascii_lowercase();
            let mut t = s.trim_end_matches('.');
            while t.len() > 253 {
                match t.find('.') {
                    Some(p) => t = &t[p + 1..],
                    None => return None,
                }
            }
            valid_target(t).then(|| Arc::from(t))
        });
        self.buf = s;
        out
    }

    fn macro_value<'a>(&'a self, letter: MacroLetter, domain: &'a str) -> Result<Value<'a>, Step> {
        Ok(match letter {
            MacroLetter::Sender => Value::Borrowed(&self.sender),
            MacroLetter::Local => Value::Borrowed(self.local()),
            MacroLetter::SenderDomain => Value::Borrowed(self.sender_domain()),
            MacroLetter::Domain => Value::Borrowed(domain),
            MacroLetter::Ip => {
                let mut s = Small::default();
                match self.ip {
                    IpAddr::V4(v4) => {
                        for (i, o) in v4.octets().into_iter().enumerate() {
                            if i > 0 {
                                s.push(b'.');
                            }
                            s.push_u8(o);
                        }
                    }
                    // Dot-separated nibbles (§7.3). Upper-case hex, as pyspf writes them and
                    // the openspf suite's `v-macro-ip6` explanation expects; the DNS ignores
                    // case.
                    IpAddr::V6(v6) => {
                        for (i, b) in v6.octets().into_iter().enumerate() {
                            for (j, n) in [b >> 4, b & 0xf].into_iter().enumerate() {
                                if i + j > 0 {
                                    s.push(b'.');
                                }
                                s.push(b"0123456789ABCDEF"[usize::from(n)]);
                            }
                        }
                    }
                }
                Value::Small(s)
            }
            MacroLetter::ValidatedName => Value::Owned(self.p_macro(domain)?),
            MacroLetter::IpVersion => {
                Value::Borrowed(if self.ip.is_ipv4() { "in-addr" } else { "ip6" })
            }
            MacroLetter::Helo => Value::Borrowed(&self.helo),
            MacroLetter::ClientIp => Value::Owned(self.ip.to_string()),
            MacroLetter::Receiver => Value::Borrowed(self.receiver.as_deref().unwrap_or("unknown")),
            MacroLetter::Timestamp => Value::Owned(self.now.to_string()),
        })
    }

    /// Appends the expansion of `ms` to `out`.
    fn expand(&self, ms: MacroString<'_>, domain: &str, out: &mut String) -> Result<(), Step> {
        for p in ms.parts() {
            match p {
                MacroPart::Literal(l) => out.push_str(l),
                MacroPart::Macro {
                    letter,
                    keep,
                    reverse,
                    delimiters,
                    escape,
                } => {
                    let value = self.macro_value(letter, domain)?;
                    let value = value.as_str();
                    if keep.is_none() && !reverse && delimiters.is_empty() {
                        push_value(out, value, escape);
                        continue;
                    }
                    // Split on the delimiters, reverse, keep the right-hand `keep` parts and
                    // join them with dots (§7.3), without collecting the parts.
                    // The delimiters are ASCII (the parser allows `.-+,/_=` only): a bit set.
                    let set = if delimiters.is_empty() {
                        1u128 << b'.'
                    } else {
                        delimiters.bytes().fold(0u128, |m, b| {
                            m | 1u128.checked_shl(u32::from(b)).unwrap_or(0)
                        })
                    };
                    let split = || {
                        value.split(move |c: char| c.is_ascii() && set & (1u128 << (c as u32)) != 0)
                    };
                    let n = split().count();
                    let skip = keep.map_or(0, |k| n.saturating_sub(usize::from(k)));
                    if reverse {
                        push_parts(out, split().rev().skip(skip), escape);
                    } else {
                        push_parts(out, split().skip(skip), escape);
                    }
                }
            }
        }
        Ok(())
    }

    /// The `exp=` explanation (§6.2): any problem means no explanation, never an error.
    fn explain(&mut self) -> Result<(), Vec<Question>> {
        let phase = std::mem::replace(&mut self.phase, Phase::Eval);
        let Phase::Explain {
            record,
            domain,
            mechanism,
        } = phase
        else {
            self.phase = phase;
            return Ok(());
        };
        let Some(spec) = record.exp() else {
            return Ok(());
        };
        let text = match self.expand_explanation(spec, &domain) {
            Err(q) => {
                self.phase = Phase::Explain {
                    record,
                    domain,
                    mechanism,
                };
                return Err(q);
            }
            Ok(text) => text,
        };
        self.phase = Phase::Done {
            result: SpfResult::Fail,
            problem: None,
            mechanism: Some(mechanism),
            explanation: text,
        };
        Ok(())
    }

    /// The explanation text, or the questions it needs.
    fn expand_explanation(
        &mut self,
        spec: MacroString<'_>,
        domain: &Arc<str>,
    ) -> Result<Option<String>, Vec<Question>> {
        Ok(match self.expand_domain(spec, domain) {
            Err(Step::Need(q)) => return Err(q),
            Err(_) | Ok(None) => None,
            Ok(Some(target)) => {
                let q = Question::new(&target, RecordType::Txt);
                let Some(a) = self.answer(&q) else {
                    return Err(vec![q]);
                };
                let mut txt = a.texts(Kind::Txt);
                match (txt.next(), txt.next()) {
                    (Some(t), None) if t.is_ascii() => {
                        match std::str::from_utf8(t)
                            .ok()
                            .and_then(|t| MacroString::parse(t, true).ok())
                        {
                            Some(ms) => {
                                let mut s = String::with_capacity(t.len() + 32);
                                match self.expand(ms, domain, &mut s) {
                                    Ok(()) => Some(s),
                                    Err(Step::Need(q)) => return Err(q),
                                    Err(_) => None,
                                }
                            }
                            None => None,
                        }
                    }
                    _ => None,
                }
            }
        })
    }
}

impl DnsMachine for Verifier {
    type Output = SpfOutput;

    fn poll(&mut self) -> Poll<SpfOutput> {
        match self.run() {
            Ok(()) => match &self.phase {
                Phase::Done {
                    result,
                    problem,
                    mechanism,
                    explanation,
                } => Poll::Ready(self.output(
                    *result,
                    problem.clone(),
                    mechanism.clone(),
                    explanation.clone(),
                )),
                _ => unreachable!("run returns Ok only when done"),
            },
            Err(mut q) => {
                q.dedup();
                self.pending.clone_from(&q);
                Poll::Pending(q)
            }
        }
    }

    fn provide(&mut self, question: &Question, answer: Answer) {
        self.provide_ref(question, &answer);
    }

    /// Keeps only what the evaluation reads (addresses, names, TXT strings, copied into
    /// one arena the verifier reuses), so lending an answer costs no clone of it.
    fn provide_ref(&mut self, question: &Question, answer: &Answer) {
        if !self.pending.contains(question) {
            return;
        }
        let stored = self.arena.store(answer);
        if let Some((_, a)) = self.answers.iter_mut().find(|(q, _)| q == question) {
            *a = stored;
        } else {
            if self.answers.capacity() == 0 {
                self.answers.reserve(8);
            }
            self.answers.push((question.clone(), stored));
        }
    }
}

/// A macro's value: borrowed from the verifier's inputs, or computed.
enum Value<'a> {
    Borrowed(&'a str),
    Small(Small),
    Owned(String),
}

impl Value<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Borrowed(s) => s,
            Self::Small(s) => s.as_str(),
            Self::Owned(s) => s,
        }
    }
}

/// A short ASCII text on the stack (an address in dotted or nibble form, at most 63
/// octets).
struct Small {
    buf: [u8; 64],
    len: usize,
}

impl Default for Small {
    fn default() -> Self {
        Self {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl Small {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push_u8(&mut self, n: u8) {
        if n >= 100 {
            self.push(b'0' + n / 100);
        }
        if n >= 10 {
            self.push(b'0' + n / 10 % 10);
        }
        self.push(b'0' + n % 10);
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Appends a macro value, URL-escaped (§7.3) when the letter was upper case.
fn push_value(out: &mut String, value: &str, escape: bool) {
    if !escape {
        out.push_str(value);
        return;
    }
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Appends macro value parts joined with dots.
fn push_parts<'a>(out: &mut String, parts: impl Iterator<Item = &'a str>, escape: bool) {
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_value(out, part, escape);
    }
}

fn match_if(b: bool) -> Step {
    if b { Step::Match } else { Step::NoMatch }
}

/// A DNS failure aborts the mechanism with temperror (§5, §4.4).
fn dns_error(a: Got<'_>) -> Option<Step> {
    a.error()
        .map(|e| Step::Error(SpfResult::TempError, format!("DNS error: {e}")))
}

/// The kind of an item kept from an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    A = 1,
    Aaaa,
    Txt,
    Mx,
    Ptr,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::A,
            2 => Self::Aaaa,
            3 => Self::Txt,
            4 => Self::Mx,
            5 => Self::Ptr,
            _ => return None,
        })
    }
}

/// The parts of the answers an evaluation reads, as items in one growing buffer shared by
/// every answer (so a check allocates it once, not once per answer): each item is its
/// kind, its length (4 octets, little-endian) and its octets (an address, a TXT string, a
/// host name).
#[derive(Clone, Debug, Default)]
struct Arena {
    items: Vec<u8>,
}

/// An answer as kept: a range of the arena.
#[derive(Clone, Debug)]
enum Stored {
    /// A temporary or permanent failure, with what the resolver said.
    Failed(String),
    /// NXDOMAIN or NODATA.
    Empty,
    /// Records (possibly none of the asked type).
    Records {
        /// The answer has no records at all.
        empty: bool,
        items: (u32, u32),
    },
}

impl Arena {
    fn push(&mut self, kind: Kind, data: &[u8]) {
        self.items.push(kind as u8);
        self.items
            .extend_from_slice(&to_u32(data.len()).to_le_bytes());
        self.items.extend_from_slice(data);
    }

    fn store(&mut self, a: &Answer) -> Stored {
        let rrs = match a {
            Answer::TempFail(e) | Answer::PermFail(e) => return Stored::Failed(e.clone()),
            Answer::Records { records, .. } => records,
            _ => return Stored::Empty,
        };
        if self.items.capacity() == 0 {
            // Room for a typical check at once, instead of growing answer by answer.
            self.items.reserve(512);
        }
        let start = self.items.len();
        for r in rrs {
            match r {
                RR::A(ip) => self.push(Kind::A, &ip.octets()),
                RR::Aaaa(ip) => self.push(Kind::Aaaa, &ip.octets()),
                RR::Txt(t) => self.push(Kind::Txt, t),
                RR::Mx { exchange, .. } => self.push(Kind::Mx, exchange.as_bytes()),
                RR::Ptr(name) => self.push(Kind::Ptr, name.as_bytes()),
                _ => {}
            }
        }
        Stored::Records {
            empty: rrs.is_empty(),
            items: (to_u32(start), to_u32(self.items.len())),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The items of one answer.
struct Items<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Items<'a> {
    type Item = (Kind, &'a [u8]);

    fn next(&mut self) -> Option<(Kind, &'a [u8])> {
        let (&k, rest) = self.rest.split_first()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (data, rest) = rest.split_at_checked(len)?;
        self.rest = rest;
        Some((Kind::from_byte(k)?, data))
    }
}

/// A kept answer, readable like an [`Answer`].
#[derive(Clone, Copy)]
struct Got<'a> {
    stored: &'a Stored,
    arena: &'a Arena,
}

impl<'a> Got<'a> {
    fn error(self) -> Option<&'a str> {
        match self.stored {
            Stored::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// NXDOMAIN, NODATA, or no records (a void lookup, §4.6.4).
    fn is_empty_answer(self) -> bool {
        matches!(
            self.stored,
            Stored::Empty | Stored::Records { empty: true, .. }
        )
    }

    fn items(self) -> Items<'a> {
        let rest = match self.stored {
            Stored::Records { items, .. } => self
                .arena
                .items
                .get(items.0 as usize..items.1 as usize)
                .unwrap_or_default(),
            _ => &[],
        };
        Items { rest }
    }

    fn ips(self) -> impl Iterator<Item = IpAddr> + 'a {
        self.items().filter_map(|(k, d)| match k {
            Kind::A => <[u8; 4]>::try_from(d).ok().map(IpAddr::from),
            Kind::Aaaa => <[u8; 16]>::try_from(d).ok().map(IpAddr::from),
            _ => None,
        })
    }

    fn texts(self, kind: Kind) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.items()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, d)| d)
    }

    fn names(self, kind: Kind) -> impl Iterator<Item = &'a str> + 'a {
        // MX and PTR names come from `String`s: always UTF-8.
        self.texts(kind)
            .map(|t| std::str::from_utf8(t).unwrap_or_default())
    }
}

/// Picks the single SPF record of a TXT answer (§4.4, §4.5).
fn select_record(a: Got<'_>, cache: Option<&RecordCache>) -> Result<Held, (SpfResult, String)> {
    match a.stored {
        Stored::Failed(e) => {
            return Err((SpfResult::TempError, format!("DNS error: {e}")));
        }
        Stored::Empty => {
            return Err((SpfResult::None, "no SPF record".into()));
        }
        Stored::Records { .. } => {}
    }
    let mut spf = a.texts(Kind::Txt).filter(|t| is_spf_record(t));
    let Some(first) = spf.next() else {
        return Err((SpfResult::None, "no SPF record".into()));
    };
    if spf.next().is_some() {
        return Err((SpfResult::PermError, "more than one SPF record".into()));
    }
    match cache {
        Some(c) => c.get_or_parse(first).map(Held::Shared),
        None => Record::parse(first).map(Held::Own),
    }
    .map_err(|e| (SpfResult::PermError, e.to_string()))
}

/// §4.3: every label 1 to 63 octets, at least two labels, at most 253 octets.
fn valid_domain(d: &str) -> bool {
    !d.starts_with('[') && d.contains('.') && valid_target(d)
}

fn valid_target(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.as_bytes()
            .split(|&b| b == b'.')
            .all(|l| !l.is_empty() && l.len() <= 63)
}

fn in_dual(ip: IpAddr, addr: IpAddr, cidr4: u8, cidr6: u8) -> bool {
    match addr {
        IpAddr::V4(_) => in_net(ip, addr, cidr4),
        IpAddr::V6(_) => in_net(ip, addr, cidr6),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send + Sync>() {}
    is_send::<Verifier>();
    let _ = (Ipv4Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Record as Rr, StaticResolver, drive};

    fn zone(entries: &[(&str, Rr)]) -> StaticResolver {
        let mut z = StaticResolver::default();
        for (n, r) in entries {
            z.add(n, r.clone());
        }
        z
    }

    fn txt(s: &str) -> Rr {
        Rr::Txt(s.as_bytes().to_vec())
    }

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_net(ip("192.0.2.7"), ip("192.0.2.0"), 24));
        assert!(!in_net(ip("192.0.3.7"), ip("192.0.2.0"), 24));
        assert!(in_net(ip("203.0.113.1"), ip("198.51.100.1"), 0));
        assert!(in_net(ip("2001:db8::1"), ip("2001:db8::"), 32));
        assert!(!in_net(ip("2001:db8::1"), ip("192.0.2.1"), 0));
        assert!(in_net(ip("192.0.2.1"), ip("192.0.2.1"), 32));
    }

    #[test]
    fn lookups_are_asked_together_and_counted() {
        let z = zone(&[
            ("example.org", txt("v=spf1 mx -all")),
            ("example.org", Rr::mx(10, "a.example.org")),
            ("example.org", Rr::mx(20, "b.example.org")),
            ("a.example.org", Rr::A("192.0.2.1".parse().unwrap())),
            ("b.example.org", Rr::A("192.0.2.2".parse().unwrap())),
        ]);
        let mut v = Verifier::mail_from("192.0.2.2".parse().unwrap(), "h", "u@example.org");
        let mut rounds = Vec::new();
        let out = loop {
            match v.poll() {
                Poll::Ready(o) => break o,
                Poll::Pending(qs) => {
                    rounds.push(qs.len());
                    for q in qs {
                        let a = crate::dns::Resolve::resolve(&z, &q);
                        v.provide(&q, a);
                    }
                }
            }
        };
        assert_eq!(rounds, [1, 1, 2]); // TXT, MX, then both A lookups at once
        assert_eq!(out.result, SpfResult::Pass);
        assert_eq!(out.mechanism.as_deref(), Some("mx"));
        assert_eq!(out.dns_lookups, 1);
        // Polling again repeats the result.
        assert_eq!(v.poll(), Poll::Ready(out));
    }

    #[test]
    fn received_spf_header() {
        let z = zone(&[("example.org", txt("v=spf1 ip4:192.0.2.0/24 -all"))]);
        let out = drive(
            Verifier::mail_from(
                "192.0.2.9".parse().unwrap(),
                "mail.example.org",
                "a@example.org",
            ),
            &z,
        );
        assert_eq!(
            out.received_spf("mx.example.net"),
            "Received-SPF: pass (mx.example.net: domain of a@example.org designates 192.0.2.9 \
             as permitted sender) receiver=mx.example.net; client-ip=192.0.2.9; \
             envelope-from=\"a@example.org\"; helo=mail.example.org; \
             mechanism=\"ip4:192.0.2.0/24\"; identity=mailfrom"
        );
        let out = drive(
            Verifier::helo("198.51.100.1".parse().unwrap(), "example.org"),
            &z,
        );
        assert_eq!(out.result, SpfResult::Fail);
        assert!(
            out.received_spf("r")
                .starts_with("Received-SPF: fail (r: domain of example.org does not designate")
        );
        assert!(out.received_spf("r").ends_with("identity=helo"));
    }

    #[test]
    fn authentication_results_entry() {
        use crate::auth_results::{AuthResult, MethodResult};
        let z = zone(&[("example.org", txt("v=spf1 -all"))]);
        let out = drive(
            Verifier::mail_from("192.0.2.1".parse().unwrap(), "h.example", "a@example.org"),
            &z,
        );
        assert_eq!(
            MethodResult::from(&out),
            MethodResult::new("spf", AuthResult::Fail).property(
                "smtp",
                "mailfrom",
                "a@example.org"
            )
        );
        let out = drive(
            Verifier::helo("192.0.2.1".parse().unwrap(), "none.example"),
            &z,
        );
        assert_eq!(
            MethodResult::from(&out),
            MethodResult::new("spf", AuthResult::None)
                .reason("no SPF record")
                .property("smtp", "helo", "none.example")
        );
    }

    #[test]
    fn record_cache_gives_the_same_results() {
        let z = zone(&[
            ("example.org", txt("v=spf1 include:_spf.example.net -all")),
            ("_spf.example.net", txt("v=spf1 ip4:192.0.2.0/24 ~all")),
            ("bad.example", txt("v=spf1 ip4:192.0.2.300 -all")),
        ]);
        let cache = Arc::new(RecordCache::new(2));
        for (ip, sender) in [
            ("192.0.2.1", "a@example.org"),
            ("198.51.100.1", "a@example.org"),
            ("192.0.2.1", "a@bad.example"),
            ("192.0.2.1", "a@example.org"),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let plain = drive(Verifier::mail_from(ip, "h.example", sender), &z);
            let cached = drive(
                Verifier::mail_from(ip, "h.example", sender).record_cache(Arc::clone(&cache)),
                &z,
            );
            assert_eq!(plain, cached, "{ip} {sender}");
        }
        // Both good records are held; the one that does not parse is not.
        assert_eq!(cache.len(), 2);
        assert_eq!(
            drive(
                Verifier::mail_from("192.0.2.1".parse().unwrap(), "h", "a@bad.example"),
                &z
            )
            .result,
            SpfResult::PermError
        );
        // Full: a new record empties the cache first.
        cache.get_or_parse(b"v=spf1 -all").unwrap();
        assert_eq!(cache.len(), 1);
        assert!(cache.get_or_parse(b"v=spf1 moo").is_err());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn null_sender_and_mapped_addresses() {
        let z = zone(&[("helo.example", txt("v=spf1 ip4:192.0.2.1 -all"))]);
        let out = drive(
            Verifier::mail_from("::ffff:192.0.2.1".parse().unwrap(), "helo.example", ""),
            &z,
        );
        assert_eq!(out.result, SpfResult::Pass);
        assert_eq!(out.sender, "postmaster@helo.example");
        assert_eq!(out.ip, "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
