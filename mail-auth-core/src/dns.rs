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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Question {
    name: String,
    rtype: RecordType,
}

impl Question {
    /// A question; the name is stored lower-cased (ASCII) without a trailing dot.
    pub fn new(name: &str, rtype: RecordType) -> Self {
        Self {
            name: normalize(name),
            rtype,
        }
    }

    /// The PTR question for an address (`4.3.2.1.in-addr.arpa` or the nibble form under
    /// `ip6.arpa`).
    pub fn reverse(ip: IpAddr) -> Self {
        Self {
            name: reverse_name(ip),
            rtype: RecordType::Ptr,
        }
    }

    /// The name: lower case, no trailing dot.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The record type.
    pub fn rtype(&self) -> RecordType {
        self.rtype
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.rtype)
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
}

/// A synchronous source of answers: a zone in memory, a cache, a test double.
pub trait Resolve {
    /// Answers one question.
    fn resolve(&self, question: &Question) -> Answer;
}

/// Drives a machine to its result with a synchronous resolver.
pub fn drive<M: DnsMachine, R: Resolve + ?Sized>(mut machine: M, resolver: &R) -> M::Output {
    loop {
        match machine.poll() {
            Poll::Ready(out) => return out,
            Poll::Pending(questions) => {
                for q in questions {
                    let a = resolver.resolve(&q);
                    machine.provide(&q, a);
                }
            }
        }
    }
}

/// An in-memory zone for tests, tools with a zone file, and offline use.
///
/// Names with records of another type answer NODATA; unknown names answer NXDOMAIN; names
/// marked with [`fail`](Self::fail) answer a temporary failure (a simulated timeout).
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    records: HashMap<String, Vec<Record>>,
    failures: HashMap<Question, Answer>,
}

impl StaticResolver {
    /// Adds a record under `name`.
    pub fn add(&mut self, name: &str, record: Record) -> &mut Self {
        self.records
            .entry(normalize(name))
            .or_default()
            .push(record);
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
}

impl Resolve for StaticResolver {
    fn resolve(&self, q: &Question) -> Answer {
        if let Some(a) = self.failures.get(q) {
            return a.clone();
        }
        match self.records.get(q.name()) {
            None => Answer::NxDomain {
                dnssec: Dnssec::Insecure,
            },
            Some(all) => {
                let records: Vec<Record> = all
                    .iter()
                    .filter(|r| r.rtype() == q.rtype())
                    .cloned()
                    .collect();
                if records.is_empty() {
                    Answer::NoData {
                        dnssec: Dnssec::Insecure,
                    }
                } else {
                    Answer::records(records)
                }
            }
        }
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
