//! `check_host()` (RFC 7208 §4) as a resumable machine.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::record::{Directive, MacroLetter, MacroPart, MacroString, Mechanism, Qualifier, Record};
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
    domain: String,
    local: String,
    sender_domain: String,
    helo: String,
    receiver: String,
    now: u64,
    default_explanation: Option<String>,
    limits: Limits,
    answers: HashMap<Question, Answer>,
    pending: Vec<Question>,
    frames: Vec<Frame>,
    phase: Phase,
    lookups: u32,
    voids: u32,
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
}

impl Frame {
    fn new(domain: String, redirected: bool) -> Self {
        Self {
            domain: domain.into(),
            record: None,
            pos: 0,
            started: false,
            redirected,
        }
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
    Done(Box<SpfOutput>),
}

enum Step {
    Need(Vec<Question>),
    Match,
    NoMatch,
    Error(SpfResult, String),
    Include(String),
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
        let domain = domain
            .strip_suffix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        let mut v = Self {
            ip,
            identity: Identity::MailFrom,
            local: local.to_string(),
            sender_domain: sender_domain.to_string(),
            helo: helo.to_string(),
            receiver: "unknown".into(),
            now: 0,
            default_explanation: None,
            limits: Limits::default(),
            answers: HashMap::new(),
            pending: Vec::new(),
            frames: Vec::new(),
            phase: Phase::Eval,
            lookups: 0,
            voids: 0,
            domain: domain.clone(),
        };
        if valid_domain(&domain) {
            v.frames.push(Frame::new(domain, false));
        } else {
            // §4.3: a malformed or single-label domain gives "none" at once.
            v.phase = Phase::Done(Box::new(v.output(
                SpfResult::None,
                Some(format!("{:?} is not a valid domain name", v.domain)),
                None,
                None,
            )));
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
        self.receiver = name.to_string();
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

    fn sender(&self) -> String {
        format!("{}@{}", self.local, self.sender_domain)
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
            domain: self.domain.clone(),
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
        self.answers.get(q)
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
            self.phase = Phase::Done(Box::new(self.output(result, problem, mechanism, None)));
            return;
        }
        // The parent is evaluating `include:` (§5.2).
        match result {
            SpfResult::Pass => self.finish_match(),
            SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => {
                let parent = self.frames.last_mut().expect("parent frame");
                parent.pos += 1;
                parent.started = false;
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
        let text = d.to_string();
        let domain = Arc::clone(&frame.domain);
        self.finish(result, None, Some(text), Some((record, domain)));
    }

    fn run(&mut self) -> Result<(), Vec<Question>> {
        loop {
            match &self.phase {
                Phase::Done(_) => return Ok(()),
                Phase::Explain { .. } => return self.explain(),
                Phase::Eval => {}
            }
            let top = self.frames.len() - 1;
            if self.frames[top].record.is_none() {
                let q = Question::new(&self.frames[top].domain, RecordType::Txt);
                let Some(a) = self.answer(&q) else {
                    return Err(vec![q]);
                };
                match select_record(a) {
                    Ok(r) => self.frames[top].record = Some(Arc::new(r)),
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
                    Step::NoMatch => {
                        let f = &mut self.frames[top];
                        f.pos += 1;
                        f.started = false;
                    }
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
                    Ok(Some(target)) => self.frames[top] = Frame::new(target, true),
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

    fn eval_mechanism(&mut self, d: &Directive, domain: &str) -> Step {
        match self.try_mechanism(&d.mechanism, domain) {
            Ok(s) | Err(s) => s,
        }
    }

    fn target(&self, spec: Option<&MacroString>, domain: &str) -> Result<Option<String>, Step> {
        match spec {
            None => Ok(Some(domain.to_string())),
            Some(s) => self.expand_domain(s, domain),
        }
    }

    fn try_mechanism(&mut self, m: &Mechanism, domain: &str) -> Result<Step, Step> {
        let ip = self.ip;
        match m {
            Mechanism::All => Ok(Step::Match),
            Mechanism::Ip4 { addr, prefix } => Ok(match_if(in_net(ip, IpAddr::V4(*addr), *prefix))),
            Mechanism::Ip6 { addr, prefix } => Ok(match_if(in_net(ip, IpAddr::V6(*addr), *prefix))),
            Mechanism::Include(spec) => match self.expand_domain(spec, domain)? {
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
                let q = Question::new(&target, self.addr_type());
                let a = self.answer(&q).ok_or_else(|| Step::Need(vec![q.clone()]))?;
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
                let q = Question::new(&target, RecordType::Mx);
                let a = self.answer(&q).ok_or_else(|| Step::Need(vec![q.clone()]))?;
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
                let qs: Vec<Question> = names.iter().map(|n| Question::new(n, t)).collect();
                let missing: Vec<Question> = qs
                    .iter()
                    .filter(|q| !self.answers.contains_key(q))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    return Err(Step::Need(missing));
                }
                for q in &qs {
                    let a = &self.answers[q];
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
                    names.iter().any(|n| *n == target || n.ends_with(&suffix)),
                ))
            }
            Mechanism::Exists(spec) => {
                let Some(target) = self.expand_domain(spec, domain)? else {
                    return Ok(Step::NoMatch);
                };
                // §5.7: always an A lookup, whatever the client's address family.
                let q = Question::new(&target, RecordType::A);
                let a = self.answer(&q).ok_or_else(|| Step::Need(vec![q.clone()]))?;
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
            .map(|n| Question::new(n, t))
            .filter(|q| !self.answers.contains_key(q))
            .collect();
        if !missing.is_empty() {
            return Err(Step::Need(missing));
        }
        Ok(names
            .into_iter()
            .filter(|n| {
                self.answers[&Question::new(n, t)]
                    .ips()
                    .any(|x| x == self.ip)
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

    fn macro_value(&self, letter: MacroLetter, domain: &str) -> Result<String, Step> {
        Ok(match letter {
            MacroLetter::Sender => self.sender(),
            MacroLetter::Local => self.local.clone(),
            MacroLetter::SenderDomain => self.sender_domain.clone(),
            MacroLetter::Domain => domain.to_string(),
            MacroLetter::Ip => match self.ip {
                IpAddr::V4(v4) => v4.to_string(),
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
            },
            MacroLetter::ValidatedName => self.p_macro(domain)?,
            MacroLetter::IpVersion => if self.ip.is_ipv4() { "in-addr" } else { "ip6" }.into(),
            MacroLetter::Helo => self.helo.clone(),
            MacroLetter::ClientIp => self.ip.to_string(),
            MacroLetter::Receiver => self.receiver.clone(),
            MacroLetter::Timestamp => self.now.to_string(),
        })
    }

    fn expand(&self, ms: &MacroString, domain: &str) -> Result<String, Step> {
        let mut out = String::new();
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
                    let value = if keep.is_some() || *reverse || !delimiters.is_empty() {
                        let delims = if delimiters.is_empty() {
                            "."
                        } else {
                            delimiters.as_str()
                        };
                        let mut parts: Vec<&str> = value.split(|c| delims.contains(c)).collect();
                        if *reverse {
                            parts.reverse();
                        }
                        if let Some(k) = keep {
                            let k = usize::from(*k);
                            if parts.len() > k {
                                parts.drain(..parts.len() - k);
                            }
                        }
                        parts.join(".")
                    } else {
                        value
                    };
                    if *escape {
                        for b in value.bytes() {
                            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                                out.push(b as char);
                            } else {
                                let _ = write!(out, "%{b:02X}");
                            }
                        }
                    } else {
                        out.push_str(&value);
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
        self.phase = Phase::Done(Box::new(self.output(
            SpfResult::Fail,
            None,
            Some(mechanism),
            text,
        )));
        Ok(())
    }
}

impl DnsMachine for Verifier {
    type Output = SpfOutput;

    fn poll(&mut self) -> Poll<SpfOutput> {
        match self.run() {
            Ok(()) => match &self.phase {
                Phase::Done(out) => Poll::Ready((**out).clone()),
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
        if self.pending.contains(question) {
            self.answers.insert(question.clone(), answer);
        }
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
fn select_record(a: &Answer) -> Result<Record, (SpfResult, String)> {
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
    Record::parse(first).map_err(|e| (SpfResult::PermError, e.to_string()))
}

/// §4.3: every label 1 to 63 octets, at least two labels, at most 253 octets.
fn valid_domain(d: &str) -> bool {
    !d.starts_with('[') && d.contains('.') && valid_target(d)
}

fn valid_target(d: &str) -> bool {
    !d.is_empty() && d.len() <= 253 && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
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
