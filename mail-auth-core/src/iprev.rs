//! iprev: forward-confirmed reverse DNS (RFC 8601 §3, §2.7.3), as a [`DnsMachine`].
//!
//! The client address's PTR names are looked up (at most [`Iprev::max_names`], 10 by
//! default; the rest are ignored), then the A or AAAA records of every name at once; the
//! check passes when a name maps back to the address.
//!
//! ```
//! use mail_auth_core::dns::{Question, Record, StaticResolver, drive};
//! use mail_auth_core::iprev::{Iprev, IprevResult};
//!
//! let ip = "192.0.2.25".parse().unwrap();
//! let mut zone = StaticResolver::default();
//! zone.add(Question::reverse(ip).name(), Record::ptr("mx.example.org"));
//! zone.add("mx.example.org", Record::A("192.0.2.25".parse().unwrap()));
//! let out = drive(Iprev::new(ip), &zone);
//! assert_eq!(out.result, IprevResult::Pass);
//! assert_eq!(out.name.as_deref(), Some("mx.example.org"));
//! ```

use std::collections::HashMap;
use std::net::IpAddr;

use crate::auth_results::{AuthResult, MethodResult};
use crate::dns::{Answer, DnsMachine, Poll, Question, RecordType};

/// The iprev result (RFC 8601 §2.7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IprevResult {
    /// A PTR name resolves back to the address.
    Pass,
    /// PTR names exist but none resolves back to the address.
    Fail,
    /// A DNS error (timeout, SERVFAIL): try again later.
    TempError,
    /// No PTR record is published for the address.
    PermError,
}

impl IprevResult {
    /// `pass`, `fail`, `temperror` or `permerror`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

/// The outcome of an iprev check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IprevOutput {
    /// The result.
    pub result: IprevResult,
    /// The client address.
    pub ip: IpAddr,
    /// The confirmed name, on pass.
    pub name: Option<String>,
    /// The PTR names considered.
    pub ptr_names: Vec<String>,
}

impl From<&IprevOutput> for MethodResult {
    /// `iprev=<result> policy.iprev=<ip> (<name>)`.
    fn from(o: &IprevOutput) -> Self {
        let result = match o.result {
            IprevResult::Pass => AuthResult::Pass,
            IprevResult::Fail => AuthResult::Fail,
            IprevResult::TempError => AuthResult::TempError,
            IprevResult::PermError => AuthResult::PermError,
        };
        let mut m = Self::new("iprev", result).property("policy", "iprev", &o.ip.to_string());
        if let Some(n) = &o.name {
            m = m.comment(n);
        }
        m
    }
}

/// One iprev check.
#[derive(Clone, Debug)]
pub struct Iprev {
    ip: IpAddr,
    max_names: usize,
    answers: HashMap<Question, Answer>,
    pending: Vec<Question>,
}

impl Iprev {
    /// A check of `ip` (IPv4-mapped IPv6 addresses are checked as IPv4).
    pub fn new(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        Self {
            ip,
            max_names: 10,
            answers: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// The most PTR names checked (default 10).
    #[must_use]
    pub fn max_names(mut self, n: usize) -> Self {
        self.max_names = n.max(1);
        self
    }

    fn evaluate(&self) -> Result<IprevOutput, Vec<Question>> {
        let mut out = IprevOutput {
            result: IprevResult::PermError,
            ip: self.ip,
            name: None,
            ptr_names: Vec::new(),
        };
        let q = Question::reverse(self.ip);
        let a = self.answers.get(&q).ok_or_else(|| vec![q.clone()])?;
        match a {
            Answer::TempFail(_) => {
                out.result = IprevResult::TempError;
                return Ok(out);
            }
            Answer::PermFail(_) | Answer::NxDomain { .. } | Answer::NoData { .. } => {
                return Ok(out);
            }
            Answer::Records { .. } => {}
        }
        out.ptr_names = a.ptr().take(self.max_names).map(str::to_string).collect();
        if out.ptr_names.is_empty() {
            return Ok(out);
        }
        let t = if self.ip.is_ipv4() {
            RecordType::A
        } else {
            RecordType::Aaaa
        };
        let qs: Vec<Question> = out.ptr_names.iter().map(|n| Question::new(n, t)).collect();
        let missing: Vec<Question> = qs
            .iter()
            .filter(|q| !self.answers.contains_key(q))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let mut temp = false;
        for (q, n) in qs.iter().zip(&out.ptr_names) {
            let a = &self.answers[q];
            if a.ips().any(|x| x == self.ip) {
                out.name = Some(n.clone());
                out.result = IprevResult::Pass;
                return Ok(out);
            }
            temp |= a.is_temp_fail();
        }
        out.result = if temp {
            IprevResult::TempError
        } else {
            IprevResult::Fail
        };
        Ok(out)
    }
}

impl DnsMachine for Iprev {
    type Output = IprevOutput;

    fn poll(&mut self) -> Poll<IprevOutput> {
        match self.evaluate() {
            Ok(o) => Poll::Ready(o),
            Err(q) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Record, StaticResolver, drive};

    #[test]
    fn results() {
        let ip: IpAddr = "2001:db8::25".parse().unwrap();
        let rev = Question::reverse(ip);
        let mut z = StaticResolver::default();
        z.add(rev.name(), Record::ptr("a.example"))
            .add(rev.name(), Record::ptr("b.example"))
            .add("a.example", Record::Aaaa("2001:db8::1".parse().unwrap()))
            .add("b.example", Record::Aaaa("2001:db8::25".parse().unwrap()));
        let o = drive(Iprev::new(ip), &z);
        assert_eq!(
            (o.result, o.name.as_deref()),
            (IprevResult::Pass, Some("b.example"))
        );
        assert_eq!(
            MethodResult::from(&o),
            MethodResult::new("iprev", AuthResult::Pass)
                .property("policy", "iprev", "2001:db8::25")
                .comment("b.example")
        );
        // The cap: only the first name is considered.
        assert_eq!(
            drive(Iprev::new(ip).max_names(1), &z).result,
            IprevResult::Fail
        );
        // No PTR: permerror; timeout: temperror.
        assert_eq!(
            drive(Iprev::new("192.0.2.1".parse().unwrap()), &z).result,
            IprevResult::PermError
        );
        z.fail(Question::new("a.example", RecordType::Aaaa));
        assert_eq!(drive(Iprev::new(ip), &z).result, IprevResult::Pass);
        assert_eq!(
            drive(Iprev::new(ip).max_names(1), &z).result,
            IprevResult::TempError
        );
        z.fail(rev);
        assert_eq!(drive(Iprev::new(ip), &z).result, IprevResult::TempError);
    }
}
