//! DNS as questions and answers: the contract between the verifiers and whoever resolves.
//!
//! A verifier (SPF, DKIM, DMARC, ARC, iprev, DANE, ...) implements [`DnsMachine`]: the caller
//! [`poll`](DnsMachine::poll)s it; it answers [`Poll::Ready`] with its result, or
//! [`Poll::Pending`] with the questions it needs answered before it can go on (several at once
//! when they are independent, so a resolver can ask them in parallel). The caller looks each
//! one up and hands the answer back with [`provide`](DnsMachine::provide), then polls again.
//!
//! ```
//! use mail_auth_core::dns::{Answer, DnsMachine, Poll, Question, Record, RecordType, StaticResolver, drive};
//!
//! /// A toy machine: the TXT record of one name, or "none".
//! struct FirstTxt { q: Question, answer: Option<Answer> }
//! impl DnsMachine for FirstTxt {
//!     type Output = String;
//!     fn poll(&mut self) -> Poll<String> {
//!         match &self.answer {
//!             None => Poll::Pending(vec![self.q.clone()]),
//!             Some(a) => Poll::Ready(a.txt().next().map_or("none".into(), |t| String::from_utf8_lossy(&t).into_owned())),
//!         }
//!     }
//!     fn provide(&mut self, q: &Question, a: Answer) {
//!         if *q == self.q { self.answer = Some(a); }
//!     }
//! }
//!
//! let mut zone = StaticResolver::default();
//! zone.add("example.org", Record::Txt(b"v=spf1 -all".to_vec()));
//! let m = FirstTxt { q: Question::new("Example.ORG.", RecordType::Txt), answer: None };
//! assert_eq!(drive(m, &zone), "v=spf1 -all");
//! ```
//!
//! Names are compared without case and without a trailing dot: [`Question::new`] stores them
//! lower-cased with no trailing dot.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub mod zone;

/// The record types the verifiers ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Mail exchanger.
    Mx,
    /// Text (SPF, DKIM keys, DMARC, MTA-STS, TLS-RPT records).
    Txt,
    /// Reverse pointer (iprev, SPF `ptr`).
    Ptr,
    /// DANE TLSA (RFC 6698).
    Tlsa,
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Ptr => "PTR",
            Self::Tlsa => "TLSA",
        })
    }
}

/// A DNS question: a name and a record type.
///
/// Cloning is cheap and asking costs no allocation for the usual names: a name of up to
/// [`INLINE_NAME`] octets is held inside the question (DNS names are at most 253), longer
/// ones are shared. A verifier keeps a copy of each question it asks and of each one
/// answered.
#[derive(Clone)]
pub struct Question {
    name: Name,
    rtype: RecordType,
}

/// The longest name a [`Question`] holds without an allocation.
pub const INLINE_NAME: usize = 38;

#[derive(Clone)]
enum Name {
    Inline { len: u8, buf: [u8; INLINE_NAME] },
    Shared(Arc<str>),
}

impl Name {
    /// `name` lower-cased (ASCII).
    fn lowercase(name: &str) -> Self {
        let b = name.as_bytes();
        if b.len() <= INLINE_NAME {
            let mut buf = [0u8; INLINE_NAME];
            buf[..b.len()].copy_from_slice(b);
            buf[..b.len()].make_ascii_lowercase();
            Self::Inline {
                len: u8::try_from(b.len()).unwrap_or(0),
                buf,
            }
        } else if b.iter().any(u8::is_ascii_uppercase) {
            Self::Shared(name.to_ascii_lowercase().into())
        } else {
            Self::Shared(name.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => &buf[..usize::from(*len)],
            Self::Shared(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Built from a `&str` with only ASCII letters changed: always UTF-8.
            Self::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or("")
            }
            Self::Shared(s) => s,
        }
    }
}

impl PartialEq for Question {
    fn eq(&self, other: &Self) -> bool {
        self.rtype == other.rtype && self.name.as_bytes() == other.name.as_bytes()
    }
}

impl Eq for Question {}

impl std::hash::Hash for Question {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.as_bytes().hash(state);
        self.rtype.hash(state);
    }
}

impl PartialOrd for Question {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Question {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.name.as_bytes(), self.rtype).cmp(&(other.name.as_bytes(), other.rtype))
    }
}

impl fmt::Debug for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Question")
            .field("name", &self.name())
            .field("rtype", &self.rtype)
            .finish()
    }
}

impl Question {
    /// A question; the name is stored lower-cased (ASCII) without a trailing dot.
    pub fn new(name: &str, rtype: RecordType) -> Self {
        let trimmed = name.strip_suffix('.').unwrap_or(name);
        Self {
            name: Name::lowercase(trimmed),
            rtype,
        }
    }

    /// The PTR question for an address (`4.3.2.1.in-addr.arpa` or the nibble form under
    /// `ip6.arpa`).
    pub fn reverse(ip: IpAddr) -> Self {
        Self::new(&reverse_name(ip), RecordType::Ptr)
    }

    /// The name: lower case, no trailing dot.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The name's octets (what [`name`](Self::name) returns, without the UTF-8 check).
    pub fn name_bytes(&self) -> &[u8] {
        self.name.as_bytes()
    }

    /// The record type.
    pub fn rtype(&self) -> RecordType {
        self.rtype
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name(), self.rtype)
    }
}

fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// The reverse-lookup name of an address.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0xf, byte >> 4] {
                    s.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    s.push('.');
                }
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// One resource record of an answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Record {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A mail exchanger.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The exchanger's host name (lower case, no trailing dot).
        exchange: String,
    },
    /// A TXT record: its character-strings concatenated (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
    Txt(Vec<u8>),
    /// A PTR target host name (lower case, no trailing dot).
    Ptr(String),
    /// A TLSA record (RFC 6698 §2.1).
    Tlsa {
        /// Certificate usage (0 to 3).
        usage: u8,
        /// Selector: 0 full certificate, 1 SubjectPublicKeyInfo.
        selector: u8,
        /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
        matching: u8,
        /// Certificate association data.
        data: Vec<u8>,
    },
}

impl Record {
    /// An MX record; the exchange name is normalized.
    pub fn mx(preference: u16, exchange: &str) -> Self {
        Self::Mx {
            preference,
            exchange: normalize(exchange),
        }
    }

    /// A PTR record; the target name is normalized.
    pub fn ptr(target: &str) -> Self {
        Self::Ptr(normalize(target))
    }

    /// The type of this record.
    pub fn rtype(&self) -> RecordType {
        match self {
            Self::A(_) => RecordType::A,
            Self::Aaaa(_) => RecordType::Aaaa,
            Self::Mx { .. } => RecordType::Mx,
            Self::Txt(_) => RecordType::Txt,
            Self::Ptr(_) => RecordType::Ptr,
            Self::Tlsa { .. } => RecordType::Tlsa,
        }
    }
}

/// Whether an answer was validated by DNSSEC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dnssec {
    /// Validated: the chain of trust holds (DANE acts only on these).
    Secure,
    /// Not validated, or the resolver does not say.
    #[default]
    Insecure,
    /// Validation failed: treat as a temporary failure where security matters.
    Bogus,
}

/// The answer to a [`Question`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// One or more records of the asked type (records of other types are dropped by the
    /// resolver adapter; a CNAME chain is followed by it).
    Records {
        /// The records.
        records: Vec<Record>,
        /// Time to live of the set, in seconds.
        ttl: u32,
        /// DNSSEC status.
        dnssec: Dnssec,
    },
    /// The name exists but has no records of this type (NOERROR, empty answer).
    NoData {
        /// DNSSEC status of the denial.
        dnssec: Dnssec,
    },
    /// The name does not exist (NXDOMAIN).
    NxDomain {
        /// DNSSEC status of the denial.
        dnssec: Dnssec,
    },
    /// A temporary failure: SERVFAIL, timeout, network trouble. Verifiers turn this into
    /// their `temperror`.
    TempFail(String),
    /// A permanent failure other than NXDOMAIN (REFUSED, a malformed answer).
    PermFail(String),
}

impl Answer {
    /// Records with a default TTL (3600 s) and no DNSSEC validation.
    pub fn records(records: Vec<Record>) -> Self {
        Self::Records {
            records,
            ttl: 3600,
            dnssec: Dnssec::Insecure,
        }
    }

    /// The records, empty for every other kind of answer.
    pub fn as_records(&self) -> &[Record] {
        match self {
            Self::Records { records, .. } => records,
            _ => &[],
        }
    }

    /// The TXT strings of the answer.
    pub fn txt(&self) -> impl Iterator<Item = &[u8]> {
        self.as_records().iter().filter_map(|r| match r {
            Record::Txt(t) => Some(t.as_slice()),
            _ => None,
        })
    }

    /// The addresses of an A or AAAA answer.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.as_records().iter().filter_map(|r| match r {
            Record::A(a) => Some(IpAddr::V4(*a)),
            Record::Aaaa(a) => Some(IpAddr::V6(*a)),
            _ => None,
        })
    }

    /// The host names of an MX answer, with their preferences, in answer order.
    pub fn mx(&self) -> impl Iterator<Item = (u16, &str)> {
        self.as_records().iter().filter_map(|r| match r {
            Record::Mx {
                preference,
                exchange,
            } => Some((*preference, exchange.as_str())),
            _ => None,
        })
    }

    /// The target names of a PTR answer.
    pub fn ptr(&self) -> impl Iterator<Item = &str> {
        self.as_records().iter().filter_map(|r| match r {
            Record::Ptr(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The TTL of a records answer; `None` for every other kind.
    pub fn ttl(&self) -> Option<u32> {
        match self {
            Self::Records { ttl, .. } => Some(*ttl),
            _ => None,
        }
    }

    /// True for a temporary failure.
    pub fn is_temp_fail(&self) -> bool {
        matches!(self, Self::TempFail(_))
    }

    /// True for NXDOMAIN and NODATA, the two "nothing there" answers (SPF void lookups).
    pub fn is_empty_answer(&self) -> bool {
        matches!(self, Self::NoData { .. } | Self::NxDomain { .. })
            || matches!(self, Self::Records { records, .. } if records.is_empty())
    }

    /// The DNSSEC status; failures count as insecure.
    pub fn dnssec(&self) -> Dnssec {
        match self {
            Self::Records { dnssec, .. } | Self::NoData { dnssec } | Self::NxDomain { dnssec } => {
                *dnssec
            }
            _ => Dnssec::Insecure,
        }
    }
}

/// What a machine answers when polled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// The questions that must be answered (each with [`DnsMachine::provide`]) before the
    /// machine can go on. Never empty.
    Pending(Vec<Question>),
    /// The result.
    Ready(T),
}

/// A computation that needs DNS answers: every verifier in this crate.
///
/// Contract: after [`Poll::Pending`], provide an answer to every question listed (in any
/// order), then poll again. Answers to questions that were not asked are ignored. A machine
/// bounds its own number of lookups (the SPF 10-term limit, DKIM's signature cap, ...), so
/// driving it always ends.
pub trait DnsMachine {
    /// The result.
    type Output;
    /// Advances as far as possible without new answers.
    fn poll(&mut self) -> Poll<Self::Output>;
    /// Supplies the answer to a question the machine asked.
    fn provide(&mut self, question: &Question, answer: Answer);
    /// Supplies an answer the caller lends (a resolver or cache that keeps its answers):
    /// a machine that keeps only part of an answer overrides this and copies that part;
    /// the default clones the answer into [`provide`](Self::provide).
    fn provide_ref(&mut self, question: &Question, answer: &Answer) {
        self.provide(question, answer.clone());
    }
}

/// A synchronous source of answers: a zone in memory, a cache, a test double.
pub trait Resolve {
    /// Answers one question.
    fn resolve(&self, question: &Question) -> Answer;
    /// Answers one question by lending the answer to `f` (called exactly once), so a
    /// resolver that holds its answers need not copy them. The default lends what
    /// [`resolve`](Self::resolve) returns.
    fn resolve_with(&self, question: &Question, f: &mut dyn FnMut(&Answer)) {
        f(&self.resolve(question));
    }
}

/// Drives a machine to its result with a synchronous resolver; answers are lent
/// ([`Resolve::resolve_with`] into [`DnsMachine::provide_ref`]).
pub fn drive<M: DnsMachine, R: Resolve + ?Sized>(mut machine: M, resolver: &R) -> M::Output {
    loop {
        match machine.poll() {
            Poll::Ready(out) => return out,
            Poll::Pending(questions) => {
                for q in questions {
                    resolver.resolve_with(&q, &mut |a| machine.provide_ref(&q, a));
                }
            }
        }
    }
}

/// An in-memory zone for tests, tools with a zone file, and offline use.
///
/// Names with records of another type answer NODATA; unknown names answer NXDOMAIN; names
/// marked with [`fail`](Self::fail) answer a temporary failure (a simulated timeout). CNAMEs
/// added with [`add_cname`](Self::add_cname) are followed (at most
/// [`MAX_CNAME_CHAIN`] links; a longer chain or a loop answers a temporary failure, as a
/// resolver would with SERVFAIL). The TTL of an answer is the smallest TTL of its records.
/// [`zone::parse`] builds one from a BIND-style master file.
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    records: HashMap<String, Vec<(Record, u32)>>,
    /// The answers of each name, one per record type it holds, kept up to date by `add`
    /// and `set_secure` so they can be lent without being built or copied.
    answers: HashMap<Box<[u8]>, Vec<Answer>>,
    cnames: HashMap<String, String>,
    failures: HashMap<Question, Answer>,
    secure: std::collections::HashSet<String>,
}

/// The longest CNAME chain [`StaticResolver`] follows.
pub const MAX_CNAME_CHAIN: usize = 8;

impl StaticResolver {
    /// Adds a record under `name` with a TTL of 3600 s.
    pub fn add(&mut self, name: &str, record: Record) -> &mut Self {
        self.add_with_ttl(name, record, 3600)
    }

    /// Adds a record under `name` with the given TTL.
    pub fn add_with_ttl(&mut self, name: &str, record: Record, ttl: u32) -> &mut Self {
        let name = normalize(name);
        let rtype = record.rtype();
        self.records
            .entry(name.clone())
            .or_default()
            .push((record, ttl));
        self.rebuild(&name, Some(rtype));
        self
    }

    /// Rebuilds the answers of `name` (of one type, or all).
    fn rebuild(&mut self, name: &str, only: Option<RecordType>) {
        let Some(all) = self.records.get(name) else {
            return;
        };
        let dnssec = if self.secure.contains(name) {
            Dnssec::Secure
        } else {
            Dnssec::Insecure
        };
        let mut types: Vec<RecordType> = all.iter().map(|(r, _)| r.rtype()).collect();
        types.sort_unstable();
        types.dedup();
        let built = self.answers.entry(name.as_bytes().into()).or_default();
        for t in types.into_iter().filter(|t| only.is_none_or(|o| o == *t)) {
            let mut ttl = u32::MAX;
            let records: Vec<Record> = all
                .iter()
                .filter(|(r, _)| r.rtype() == t)
                .map(|(r, rt)| {
                    ttl = ttl.min(*rt);
                    r.clone()
                })
                .collect();
            let answer = Answer::Records {
                records,
                ttl,
                dnssec,
            };
            match built
                .iter_mut()
                .find(|a| a.as_records().first().map(Record::rtype) == Some(t))
            {
                Some(slot) => *slot = answer,
                None => built.push(answer),
            }
        }
    }

    /// Makes `name` an alias (CNAME) of `target`.
    pub fn add_cname(&mut self, name: &str, target: &str) -> &mut Self {
        self.cnames.insert(normalize(name), normalize(target));
        self
    }

    /// Marks every answer for `name` (records and denials) as DNSSEC-secure, as a validating
    /// resolver would report it.
    pub fn set_secure(&mut self, name: &str) -> &mut Self {
        let name = normalize(name);
        self.secure.insert(name.clone());
        self.rebuild(&name, None);
        self
    }

    /// Makes `question` answer with a temporary failure (a timeout) instead of its data.
    pub fn fail(&mut self, question: Question) -> &mut Self {
        self.failures
            .insert(question, Answer::TempFail("simulated timeout".into()));
        self
    }

    /// Makes `question` answer exactly `answer`, whatever the records say.
    pub fn set(&mut self, question: Question, answer: Answer) -> &mut Self {
        self.failures.insert(question, answer);
        self
    }

    /// The number of names that hold records or aliases.
    pub fn len(&self) -> usize {
        self.records.len() + self.cnames.len()
    }

    /// True when the zone holds no record and no alias.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.cnames.is_empty()
    }

    /// Every name in the zone (lower case, no trailing dot), in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.records
            .keys()
            .chain(self.cnames.keys())
            .map(String::as_str)
    }
}

impl Resolve for StaticResolver {
    fn resolve(&self, q: &Question) -> Answer {
        let mut out = None;
        self.resolve_with(q, &mut |a| out = Some(a.clone()));
        out.unwrap_or_else(|| Answer::TempFail("no answer".into()))
    }

    fn resolve_with(&self, q: &Question, f: &mut dyn FnMut(&Answer)) {
        if let Some(a) = self.failures.get(q) {
            return f(a);
        }
        let mut name = q.name_bytes();
        let dnssec = |name: &[u8]| {
            // Looked up by text only when some name is marked secure.
            if !self.secure.is_empty()
                && std::str::from_utf8(name).is_ok_and(|n| self.secure.contains(n))
            {
                Dnssec::Secure
            } else {
                Dnssec::Insecure
            }
        };
        for _ in 0..=MAX_CNAME_CHAIN {
            if let Some(all) = self.answers.get(name) {
                return match all
                    .iter()
                    .find(|a| a.as_records().first().map(Record::rtype) == Some(q.rtype()))
                {
                    Some(a) => f(a),
                    None => f(&Answer::NoData {
                        dnssec: dnssec(name),
                    }),
                };
            }
            let target = if self.cnames.is_empty() {
                None
            } else {
                std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| self.cnames.get(n))
            };
            match target {
                Some(target) => {
                    name = target.as_bytes();
                    if let Some(a) = self.failures.get(&Question::new(target, q.rtype())) {
                        return f(a);
                    }
                }
                None => {
                    return f(&Answer::NxDomain {
                        dnssec: dnssec(name),
                    });
                }
            }
        }
        f(&Answer::TempFail(format!(
            "CNAME chain longer than {MAX_CNAME_CHAIN} at {}",
            q.name()
        )));
    }
}

impl<F: Fn(&Question) -> Answer> Resolve for F {
    fn resolve(&self, question: &Question) -> Answer {
        self(question)
    }
}

/// A DNS answer cache that honors TTLs, with time passed in (no clock is read).
///
/// Positive answers live for their TTL, clamped to `[min_ttl, max_ttl]`; NXDOMAIN and NODATA
/// for `negative_ttl` (RFC 2308 caps negative caching; the default is 300 s); temporary
/// and permanent failures are never cached. The cache holds at most `capacity` answers;
/// when full, expired entries are dropped first, then the entry closest to expiry.
#[derive(Clone, Debug)]
pub struct Cache {
    entries: HashMap<Question, (Answer, u64)>,
    capacity: usize,
    min_ttl: u32,
    max_ttl: u32,
    negative_ttl: u32,
}

impl Default for Cache {
    /// 10 000 answers, TTLs clamped to [0 s, 1 day], negative answers kept 300 s.
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl Cache {
    /// A cache of at most `capacity` answers with the default TTL bounds.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            min_ttl: 0,
            max_ttl: 86_400,
            negative_ttl: 300,
        }
    }

    /// Sets the bounds positive TTLs are clamped to.
    pub fn ttl_bounds(&mut self, min_ttl: u32, max_ttl: u32) -> &mut Self {
        self.min_ttl = min_ttl;
        self.max_ttl = max_ttl.max(min_ttl);
        self
    }

    /// Sets how long NXDOMAIN and NODATA answers are kept.
    pub fn negative_ttl(&mut self, seconds: u32) -> &mut Self {
        self.negative_ttl = seconds;
        self
    }

    /// The cached answer to `q` at `now` (seconds on any monotonic scale), with its TTL
    /// reduced by the time it spent in the cache.
    pub fn get(&self, q: &Question, now: u64) -> Option<Answer> {
        let (answer, expires) = self.entries.get(q)?;
        if *expires <= now {
            return None;
        }
        let left = u32::try_from(expires - now).unwrap_or(u32::MAX);
        let mut a = answer.clone();
        if let Answer::Records { ttl, .. } = &mut a {
            *ttl = left;
        }
        Some(a)
    }

    /// Stores an answer received at `now`; failures are not stored.
    pub fn insert(&mut self, q: Question, answer: &Answer, now: u64) {
        let ttl = match answer {
            Answer::Records { ttl, .. } => (*ttl).clamp(self.min_ttl, self.max_ttl),
            Answer::NoData { .. } | Answer::NxDomain { .. } => self.negative_ttl,
            Answer::TempFail(_) | Answer::PermFail(_) => return,
        };
        if ttl == 0 || self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&q) {
            self.entries.retain(|_, (_, exp)| *exp > now);
            if self.entries.len() >= self.capacity
                && let Some(k) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, exp))| *exp)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&k);
            }
        }
        self.entries
            .insert(q, (answer.clone(), now + u64::from(ttl)));
    }

    /// The number of entries held (expired ones included until they are evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        let q = Question::new("Sel._DomainKey.Example.ORG.", RecordType::Txt);
        assert_eq!(q.name(), "sel._domainkey.example.org");
        assert_eq!(
            q,
            Question::new("sel._domainkey.example.org", RecordType::Txt)
        );
        assert_eq!(q.to_string(), "sel._domainkey.example.org TXT");
    }

    #[test]
    fn long_names_are_shared_and_compare_by_text() {
        let long = format!("{}.Example.ORG", "a".repeat(INLINE_NAME));
        let q = Question::new(&long, RecordType::Txt);
        assert_eq!(q.name(), long.to_ascii_lowercase());
        assert_eq!(
            q,
            Question::new(&long.to_ascii_lowercase(), RecordType::Txt)
        );
        assert_ne!(q, Question::new(&long, RecordType::A));
        let edge = "b".repeat(INLINE_NAME);
        assert_eq!(Question::new(&edge, RecordType::A).name(), edge);
        let mut all = [q.clone(), Question::new("a.test", RecordType::A)];
        all.sort();
        assert_eq!(all[0].name(), "a.test");
        assert_eq!(
            format!("{:?}", all[0]),
            "Question { name: \"a.test\", rtype: A }"
        );
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
        // RFC 3596 §2.5 example.
        assert_eq!(
            Question::reverse("4321:0:1:2:3:4:567:89ab".parse().unwrap()).name(),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa"
        );
    }

    #[test]
    fn static_resolver_answers() {
        let mut z = StaticResolver::default();
        z.add("example.org", Record::A("192.0.2.1".parse().unwrap()))
            .add("Example.org.", Record::mx(10, "MX.example.org."));
        let a = z.resolve(&Question::new("example.org", RecordType::A));
        assert_eq!(
            a.ips().collect::<Vec<_>>(),
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            z.resolve(&Question::new("example.org", RecordType::Mx))
                .as_records(),
            [Record::Mx {
                preference: 10,
                exchange: "mx.example.org".into()
            }]
        );
        let nodata = z.resolve(&Question::new("example.org", RecordType::Txt));
        assert!(matches!(nodata, Answer::NoData { .. }) && nodata.is_empty_answer());
        let nx = z.resolve(&Question::new("nope.example.org", RecordType::Txt));
        assert!(matches!(nx, Answer::NxDomain { .. }) && nx.is_empty_answer());
        let q = Question::new("example.org", RecordType::A);
        z.fail(q.clone());
        assert!(matches!(z.resolve(&q), Answer::TempFail(_)));
        assert!(!z.resolve(&q).is_empty_answer());
    }

    #[test]
    fn static_resolver_ttls_cnames_and_dnssec() {
        let mut z = StaticResolver::default();
        z.add_with_ttl("x.test", Record::A("192.0.2.1".parse().unwrap()), 30)
            .add_with_ttl("x.test", Record::A("192.0.2.2".parse().unwrap()), 20)
            .add_cname("alias.test", "x.test")
            .add_cname("loop1.test", "loop2.test")
            .add_cname("loop2.test", "loop1.test")
            .set_secure("x.test");
        let a = z.resolve(&Question::new("alias.test", RecordType::A));
        assert_eq!(a.ttl(), Some(20));
        assert_eq!(a.ips().count(), 2);
        assert_eq!(a.dnssec(), Dnssec::Secure);
        assert!(
            z.resolve(&Question::new("loop1.test", RecordType::A))
                .is_temp_fail()
        );
        let f = |q: &Question| {
            if q.rtype() == RecordType::Txt {
                Answer::records(vec![Record::Txt(b"t".to_vec())])
            } else {
                Answer::NoData {
                    dnssec: Dnssec::Insecure,
                }
            }
        };
        assert_eq!(
            f.resolve(&Question::new("any", RecordType::Txt))
                .txt()
                .count(),
            1
        );
    }

    #[test]
    fn cache_honors_ttls() {
        let mut c = Cache::new(2);
        c.negative_ttl(5);
        let q1 = Question::new("a.test", RecordType::A);
        let q2 = Question::new("b.test", RecordType::A);
        let q3 = Question::new("c.test", RecordType::A);
        let rec = Answer::Records {
            records: vec![Record::A("192.0.2.1".parse().unwrap())],
            ttl: 60,
            dnssec: Dnssec::Insecure,
        };
        c.insert(q1.clone(), &rec, 100);
        assert_eq!(c.get(&q1, 130).and_then(|a| a.ttl()), Some(30));
        assert!(c.get(&q1, 160).is_none());
        c.insert(
            q2.clone(),
            &Answer::NxDomain {
                dnssec: Dnssec::Insecure,
            },
            100,
        );
        assert!(c.get(&q2, 104).is_some());
        assert!(c.get(&q2, 105).is_none());
        c.insert(q3.clone(), &Answer::TempFail("x".into()), 100);
        assert!(c.get(&q3, 100).is_none());
        // Full: the entry nearest expiry goes.
        c.insert(q3.clone(), &rec, 101);
        assert_eq!(c.len(), 2);
        assert!(c.get(&q2, 101).is_none());
        assert!(c.get(&q1, 101).is_some() && c.get(&q3, 101).is_some());
        c.ttl_bounds(0, 10);
        c.insert(q1.clone(), &rec, 200);
        assert_eq!(c.get(&q1, 200).and_then(|a| a.ttl()), Some(10));
    }

    /// A machine that needs two answers at once, then one that depends on them.
    struct Chain {
        asked: Vec<(Question, Answer)>,
    }

    impl DnsMachine for Chain {
        type Output = usize;
        fn poll(&mut self) -> Poll<usize> {
            match self.asked.len() {
                0 => Poll::Pending(vec![
                    Question::new("a.test", RecordType::Txt),
                    Question::new("b.test", RecordType::Txt),
                ]),
                2 => Poll::Pending(vec![Question::new("c.test", RecordType::Txt)]),
                _ => Poll::Ready(self.asked.iter().map(|(_, a)| a.txt().count()).sum()),
            }
        }
        fn provide(&mut self, q: &Question, a: Answer) {
            self.asked.push((q.clone(), a));
        }
    }

    #[test]
    fn drive_answers_every_question() {
        let mut z = StaticResolver::default();
        z.add("a.test", Record::Txt(b"1".to_vec()))
            .add("b.test", Record::Txt(b"2".to_vec()))
            .add("b.test", Record::Txt(b"3".to_vec()));
        assert_eq!(drive(Chain { asked: vec![] }, &z), 3);
    }
}
