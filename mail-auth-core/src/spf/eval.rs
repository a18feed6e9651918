//! `check_host()` (RFC 7208 §4) as a resumable machine.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use super::record::{
    Directive, MacroLetter, MacroPart, MacroString, Mechanism, Qualifier, Record, RecordError,
    push_u8,
};
use super::{Identity, SpfOutput, SpfResult, is_spf_record};
use crate::dns::{Answer, DnsMachine, Poll, Question, RecordType};

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
    answers: Vec<(Question, Answer)>,
    pending: Vec<Question>,
    frames: Vec<Frame>,
    phase: Phase,
    lookups: u32,
    voids: u32,
    cache: Option<Arc<RecordCache>>,
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

#[derive(Clone, Debug)]
struct Frame {
    domain: Arc<str>,
    record: Option<Arc<Record>>,
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
        record: Arc<Record>,
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
            pending: Vec::new(),
            frames: Vec::new(),
            phase: Phase::Eval,
            lookups: 0,
            voids: 0,
            cache: None,
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

    fn answer(&self, q: &Question) -> Option<&Answer> {
        self.find(q.name(), q.rtype())
    }

    /// The answer for `name` and `t`, found without building a [`Question`] (names compare
    /// as `Question::new` normalizes them).
    fn find(&self, name: &str, t: RecordType) -> Option<&Answer> {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.answers
            .iter()
            .find(|(q, _)| {
                q.rtype() == t
                    && q.name().len() == name.len()
                    && (q.name() == name || q.name().eq_ignore_ascii_case(name))
            })
            .map(|(_, a)| a)
    }

    /// The answer for `name` and `t`, or the question to ask for it.
    fn need(&self, name: &str, t: RecordType) -> Result<&Answer, Step> {
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
        exp: Option<(Arc<Record>, Arc<str>)>,
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
            if result == SpfResult::Fail
                && let Some((record, domain)) = exp
                && record.exp.is_some()
            {
                self.phase = Phase::Explain {
                    record,
                    domain,
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
            SpfResult::TempError => self.finish(SpfResult::TempError, problem, None, None),
            SpfResult::PermError => self.finish(SpfResult::PermError, problem, None, None),
            SpfResult::None => self.finish(
                SpfResult::PermError,
                Some(format!(
                    "included domain {} has no SPF record",
                    frame.domain
                )),
                None,
                None,
            ),
        }
    }

    /// The top frame's current directive matched.
    fn finish_match(&mut self) {
        let frame = self.frames.last().expect("frame");
        let record = frame.record.clone().expect("record");
        let d = &record.directives[frame.pos];
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
        let domain = Arc::clone(&frame.domain);
        self.finish(result, None, text, Some((record, domain)));
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
                    Err((result, why)) => self.finish(result, Some(why), None, None),
                }
                continue;
            }
            let frame = &self.frames[top];
            let record = frame.record.clone().expect("record");
            let domain = Arc::clone(&frame.domain);
            if let Some(d) = record.directives.get(frame.pos) {
                if d.mechanism.does_lookup() && !frame.started {
                    self.frames[top].started = true;
                    if let Err(e) = self.count_lookup() {
                        self.finish(SpfResult::PermError, Some(e), None, None);
                        continue;
                    }
                }
                match self.eval_mechanism(d, &domain) {
                    Step::Need(q) => return Err(q),
                    Step::Match => self.finish_match(),
                    Step::NoMatch => self.frames[top].advance(),
                    Step::Error(r, why) => self.finish(r, Some(why), None, None),
                    Step::Include(target) => self.frames.push(Frame::new(target, false)),
                }
            } else if let Some(redirect) = record.redirect.as_ref().filter(|_| !record.has_all()) {
                if !frame.started {
                    self.frames[top].started = true;
                    if let Err(e) = self.count_lookup() {
                        self.finish(SpfResult::PermError, Some(e), None, None);
                        continue;
                    }
                }
                match self.expand_domain(redirect, &domain) {
                    Err(Step::Need(q)) => return Err(q),
                    Err(_) => unreachable!("expand_domain fails only with Need"),
                    Ok(None) => self.finish(
                        SpfResult::PermError,
                        Some(format!("malformed redirect target in {domain}")),
                        None,
                        None,
                    ),
                    Ok(Some(target)) => self.frames[top] = Frame::new(target.into(), true),
                }
            } else {
                // §4.7: no match and no redirect: neutral.
                self.finish(SpfResult::Neutral, None, None, None);
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

    fn eval_mechanism(&mut self, d: &Directive, domain: &Arc<str>) -> Step {
        match self.try_mechanism(&d.mechanism, domain) {
            Ok(s) | Err(s) => s,
        }
    }

    /// The current term's target: its domain-spec expanded, or the current domain. The
    /// expansion is kept in the frame until the term is done.
    fn target(
        &mut self,
        spec: Option<&MacroString>,
        domain: &Arc<str>,
    ) -> Result<Option<Arc<str>>, Step> {
        let Some(spec) = spec else {
            return Ok(Some(Arc::clone(domain)));
        };
        let frame = self.frames.last().expect("frame");
        if let Some(t) = &frame.target {
            return Ok(Some(Arc::clone(t)));
        }
        let t: Option<Arc<str>> = self.expand_domain(spec, domain)?.map(Arc::from);
        if let Some(t) = &t {
            self.frames.last_mut().expect("frame").target = Some(Arc::clone(t));
        }
        Ok(t)
    }

    fn try_mechanism(&mut self, m: &Mechanism, domain: &Arc<str>) -> Result<Step, Step> {
        let ip = self.ip;
        match m {
            Mechanism::All => Ok(Step::Match),
            Mechanism::Ip4 { addr, prefix } => Ok(match_if(in_net(ip, IpAddr::V4(*addr), *prefix))),
            Mechanism::Ip6 { addr, prefix } => Ok(match_if(in_net(ip, IpAddr::V6(*addr), *prefix))),
            Mechanism::Include(spec) => match self.target(Some(spec), domain)? {
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
                let Some(target) = self.target(spec.as_ref(), domain)? else {
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
                let Some(target) = self.target(spec.as_ref(), domain)? else {
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
                let names: Vec<&str> = a.mx().map(|(_, n)| n).filter(|n| !n.is_empty()).collect();
                if names.len() > self.limits.max_mx_names {
                    return Ok(Step::Error(
                        SpfResult::PermError,
                        format!(
                            "{target} has more than {} MX names",
                            self.limits.max_mx_names
                        ),
                    ));
                }
                let t = self.addr_type();
                let missing: Vec<Question> = names
                    .iter()
                    .filter(|n| self.find(n, t).is_none())
                    .map(|n| Question::new(n, t))
                    .collect();
                if !missing.is_empty() {
                    return Err(Step::Need(missing));
                }
                for n in &names {
                    let Some(a) = self.find(n, t) else {
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
                let Some(target) = self.target(spec.as_ref(), domain)? else {
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
                let Some(target) = self.target(Some(spec), domain)? else {
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
        let names: Vec<&str> = a.ptr().take(self.limits.max_ptr_names).collect();
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
    /// trailing dot. `Ok(None)` when the result is not a usable domain name.
    fn expand_domain(&self, spec: &MacroString, domain: &str) -> Result<Option<String>, Step> {
        let mut s = self.expand(spec, domain)?;
        s.make_ascii_lowercase();
        while s.ends_with('.') {
            s.pop();
        }
        while s.len() > 253 {
            match s.find('.') {
                Some(p) => {
                    s.drain(..=p);
                }
                None => return Ok(None),
            }
        }
        Ok(valid_target(&s).then_some(s))
    }

    fn macro_value<'a>(
        &'a self,
        letter: MacroLetter,
        domain: &'a str,
    ) -> Result<Cow<'a, str>, Step> {
        Ok(match letter {
            MacroLetter::Sender => Cow::Borrowed(&self.sender),
            MacroLetter::Local => Cow::Borrowed(self.local()),
            MacroLetter::SenderDomain => Cow::Borrowed(self.sender_domain()),
            MacroLetter::Domain => Cow::Borrowed(domain),
            MacroLetter::Ip => Cow::Owned(match self.ip {
                IpAddr::V4(v4) => {
                    let mut s = String::with_capacity(15);
                    for (i, o) in v4.octets().into_iter().enumerate() {
                        if i > 0 {
                            s.push('.');
                        }
                        push_u8(&mut s, o);
                    }
                    s
                }
                // Dot-separated nibbles (§7.3). Upper-case hex, as pyspf writes them and the
                // openspf suite's `v-macro-ip6` explanation expects; the DNS ignores case.
                IpAddr::V6(v6) => {
                    let mut s = String::with_capacity(63);
                    for b in v6.octets() {
                        for n in [b >> 4, b & 0xf] {
                            if !s.is_empty() {
                                s.push('.');
                            }
                            s.push(
                                char::from_digit(u32::from(n), 16)
                                    .unwrap_or('0')
                                    .to_ascii_uppercase(),
                            );
                        }
                    }
                    s
                }
            }),
            MacroLetter::ValidatedName => Cow::Owned(self.p_macro(domain)?),
            MacroLetter::IpVersion => {
                Cow::Borrowed(if self.ip.is_ipv4() { "in-addr" } else { "ip6" })
            }
            MacroLetter::Helo => Cow::Borrowed(&self.helo),
            MacroLetter::ClientIp => Cow::Owned(self.ip.to_string()),
            MacroLetter::Receiver => Cow::Borrowed(self.receiver.as_deref().unwrap_or("unknown")),
            MacroLetter::Timestamp => Cow::Owned(self.now.to_string()),
        })
    }

    fn expand(&self, ms: &MacroString, domain: &str) -> Result<String, Step> {
        let mut out = String::with_capacity(64);
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
                    let value = self.macro_value(*letter, domain)?;
                    if keep.is_none() && !*reverse && delimiters.is_empty() {
                        push_value(&mut out, &value, *escape);
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
                    if *reverse {
                        push_parts(&mut out, split().rev().skip(skip), *escape);
                    } else {
                        push_parts(&mut out, split().skip(skip), *escape);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The `exp=` explanation (§6.2): any problem means no explanation, never an error.
    fn explain(&mut self) -> Result<(), Vec<Question>> {
        let Phase::Explain {
            record,
            domain,
            mechanism,
        } = &self.phase
        else {
            return Ok(());
        };
        let (record, domain, mechanism) = (record.clone(), domain.clone(), mechanism.clone());
        let spec = record.exp.as_ref().expect("exp");
        let text = match self.expand_domain(spec, &domain) {
            Err(Step::Need(q)) => return Err(q),
            Err(_) | Ok(None) => None,
            Ok(Some(target)) => {
                let q = Question::new(&target, RecordType::Txt);
                let Some(a) = self.answer(&q) else {
                    return Err(vec![q]);
                };
                let txt: Vec<&[u8]> = a.txt().collect();
                if txt.len() == 1 && txt[0].is_ascii() {
                    match MacroString::parse(txt[0], true) {
                        Ok(ms) => match self.expand(&ms, &domain) {
                            Ok(s) => Some(s),
                            Err(Step::Need(q)) => return Err(q),
                            Err(_) => None,
                        },
                        Err(_) => None,
                    }
                } else {
                    None
                }
            }
        };
        self.phase = Phase::Done {
            result: SpfResult::Fail,
            problem: None,
            mechanism: Some(mechanism),
            explanation: text,
        };
        Ok(())
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
        if !self.pending.contains(question) {
            return;
        }
        match self.answers.iter_mut().find(|(q, _)| q == question) {
            Some((_, a)) => *a = answer,
            None => self.answers.push((question.clone(), answer)),
        }
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
fn dns_error(a: &Answer) -> Option<Step> {
    match a {
        Answer::TempFail(e) | Answer::PermFail(e) => {
            Some(Step::Error(SpfResult::TempError, format!("DNS error: {e}")))
        }
        _ => None,
    }
}

/// Picks the single SPF record of a TXT answer (§4.4, §4.5).
fn select_record(
    a: &Answer,
    cache: Option<&RecordCache>,
) -> Result<Arc<Record>, (SpfResult, String)> {
    match a {
        Answer::TempFail(e) | Answer::PermFail(e) => {
            return Err((SpfResult::TempError, format!("DNS error: {e}")));
        }
        Answer::NxDomain { .. } | Answer::NoData { .. } => {
            return Err((SpfResult::None, "no SPF record".into()));
        }
        _ => {}
    }
    let mut spf = a.txt().filter(|t| is_spf_record(t));
    let Some(first) = spf.next() else {
        return Err((SpfResult::None, "no SPF record".into()));
    };
    if spf.next().is_some() {
        return Err((SpfResult::PermError, "more than one SPF record".into()));
    }
    match cache {
        Some(c) => c.get_or_parse(first),
        None => Record::parse(first).map(Arc::new),
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
