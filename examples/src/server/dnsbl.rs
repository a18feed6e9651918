//! DNS block list scoring (RFC 5782, SRV-022..024): the questions, the reading of the
//! answers, and a small answer cache.
//!
//! [`DnsblCheck`] is a [`DnsMachine`]: it asks the A record of the reversed client address
//! under every configured zone at once and, with the answers, adds up the weights of the
//! zones that list the client. Who answers the questions (hickory in the server, a
//! [`mail_auth_core::dns::StaticResolver`] in tests) is not its business.
//!
//! Reading the answers follows the lists' documentation and SRV-023:
//! - NXDOMAIN or NODATA: not listed;
//! - an A record inside the zone's filter (default: 127.0.0.0/8) : listed;
//! - `127.255.255.x` (the refusal codes Spamhaus and others send to open resolvers and
//!   over-quota users) and anything outside 127/8: *unknown*, never "listed", so a list that
//!   stopped answering cannot block all mail;
//! - a DNS failure (timeout, SERVFAIL): unknown.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use mail_auth_core::dns::{Answer, DnsMachine, Poll, Question, RecordType};

use super::types::canonical_ip;

/// Which answers of a list count, in Postfix's `postscreen_dnsbl_sites` notation:
/// four octets, each a number, `[a..b]` (a range) or `[a;b;c]` (a set, whose items may
/// themselves be ranges).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerFilter {
    octets: [Vec<(u8, u8)>; 4],
}

impl AnswerFilter {
    /// Parses a filter like `127.0.0.[2..11]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("filter `{s}`: {why}");
        // Split at the dots between octets, not those of `[a..b]` inside brackets.
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in s.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                '.' if depth == 0 => {
                    parts.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&s[start..]);
        if parts.len() != 4 {
            return Err(bad("four octets expected, like 127.0.0.[2..11]"));
        }
        let mut octets: [Vec<(u8, u8)>; 4] = Default::default();
        for (i, part) in parts.iter().enumerate() {
            let inner = match part.strip_prefix('[') {
                Some(rest) => rest.strip_suffix(']').ok_or_else(|| bad("unclosed ["))?,
                None => part,
            };
            for item in inner.split(';') {
                let (lo, hi) = match item.split_once("..") {
                    Some((a, b)) => (a, b),
                    None => (item, item),
                };
                let lo: u8 = lo.trim().parse().map_err(|_| bad("octet 0 to 255"))?;
                let hi: u8 = hi.trim().parse().map_err(|_| bad("octet 0 to 255"))?;
                if lo > hi {
                    return Err(bad("empty range"));
                }
                octets[i].push((lo, hi));
            }
        }
        Ok(Self { octets })
    }

    /// Whether `ip` matches.
    pub fn matches(&self, ip: Ipv4Addr) -> bool {
        ip.octets()
            .iter()
            .zip(&self.octets)
            .all(|(o, ranges)| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(o)))
    }
}

/// One list to consult.
#[derive(Clone, Debug)]
pub struct Zone {
    /// The zone (`zen.spamhaus.org`).
    pub zone: String,
    /// Points when listed (negative for allow lists).
    pub weight: i32,
    /// Answers that count; `None`: all of 127/8 but 127.255.255/24.
    pub filter: Option<AnswerFilter>,
}

impl Zone {
    /// From the configuration (the filter was validated at load).
    pub fn from_config(z: &super::config::DnsblZone) -> Self {
        Self {
            zone: z.zone.to_string(),
            weight: z.weight,
            filter: z
                .filter
                .as_deref()
                .and_then(|f| AnswerFilter::parse(f).ok()),
        }
    }

    fn counts(&self, a: Ipv4Addr) -> bool {
        let o = a.octets();
        if o[0] != 127 || (o[1] == 255 && o[2] == 255) {
            return false;
        }
        self.filter.as_ref().is_none_or(|f| f.matches(a))
    }
}

/// What one list said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneResult {
    /// Not listed.
    Clean,
    /// Listed, with the answers that counted.
    Listed(Vec<Ipv4Addr>),
    /// No usable answer (DNS failure, refusal code): ignored in the score.
    Unknown(String),
}

/// The result of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Sum of the weights of the lists that list the client.
    pub score: i32,
    /// Per zone, in configuration order.
    pub zones: Vec<(String, ZoneResult)>,
}

impl Verdict {
    /// The zones that listed the client, for the log and the reply text.
    pub fn listed_by(&self) -> Vec<&str> {
        self.zones
            .iter()
            .filter(|(_, r)| matches!(r, ZoneResult::Listed(_)))
            .map(|(z, _)| z.as_str())
            .collect()
    }
}

/// The query name of `ip` under `zone`: reversed octets, or reversed nibbles for IPv6.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let rev = mail_auth_core::dns::reverse_name(canonical_ip(ip));
    let stem = rev
        .strip_suffix(".in-addr.arpa")
        .or_else(|| rev.strip_suffix(".ip6.arpa"))
        .unwrap_or(&rev);
    format!("{stem}.{zone}")
}

/// Interprets one answer for one zone.
pub fn read_answer(zone: &Zone, answer: &Answer) -> ZoneResult {
    match answer {
        Answer::NxDomain { .. } | Answer::NoData { .. } => ZoneResult::Clean,
        Answer::TempFail(e) => ZoneResult::Unknown(format!("temporary DNS failure: {e}")),
        Answer::PermFail(e) => ZoneResult::Unknown(format!("DNS failure: {e}")),
        Answer::Records { .. } => {
            let addrs: Vec<Ipv4Addr> = answer
                .ips()
                .filter_map(|ip| match ip {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                })
                .collect();
            if addrs.is_empty() {
                return ZoneResult::Clean;
            }
            let counted: Vec<Ipv4Addr> =
                addrs.iter().copied().filter(|&a| zone.counts(a)).collect();
            if !counted.is_empty() {
                ZoneResult::Listed(counted)
            } else if addrs
                .iter()
                .any(|a| a.octets()[0] == 127 && a.octets()[1] == 255)
            {
                ZoneResult::Unknown(format!("refusal code {}", addrs[0]))
            } else if addrs.iter().all(|a| a.octets()[0] == 127) {
                // Inside 127/8 but outside the filter: a code this configuration ignores.
                ZoneResult::Clean
            } else {
                ZoneResult::Unknown(format!("answer {} outside 127.0.0.0/8", addrs[0]))
            }
        }
        _ => ZoneResult::Unknown("unexpected answer".into()),
    }
}

/// The check of one client address against several lists, as a [`DnsMachine`].
#[derive(Debug)]
pub struct DnsblCheck {
    questions: Vec<(Question, usize)>,
    zones: Vec<Zone>,
    results: Vec<Option<ZoneResult>>,
}

impl DnsblCheck {
    /// A check of `ip` against `zones`; results already known (from a [`Cache`]) can be
    /// filled in with [`DnsblCheck::known`].
    pub fn new(ip: IpAddr, zones: Vec<Zone>) -> Self {
        let questions = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (Question::new(&query_name(ip, &z.zone), RecordType::A), i))
            .collect();
        let results = vec![None; zones.len()];
        Self {
            questions,
            zones,
            results,
        }
    }

    /// Supplies the answer of zone number `i` without asking.
    pub fn known(&mut self, i: usize, result: ZoneResult) {
        if let Some(r) = self.results.get_mut(i) {
            *r = Some(result);
        }
    }

    /// The question for zone number `i`.
    pub fn question(&self, i: usize) -> Option<&Question> {
        self.questions.get(i).map(|(q, _)| q)
    }
}

impl DnsMachine for DnsblCheck {
    type Output = Verdict;

    fn poll(&mut self) -> Poll<Verdict> {
        let pending: Vec<Question> = self
            .questions
            .iter()
            .filter(|(_, i)| self.results[*i].is_none())
            .map(|(q, _)| q.clone())
            .collect();
        if !pending.is_empty() {
            return Poll::Pending(pending);
        }
        let mut score = 0i32;
        let mut zones = Vec::with_capacity(self.zones.len());
        for (z, r) in self.zones.iter().zip(&self.results) {
            let r = r
                .clone()
                .unwrap_or_else(|| ZoneResult::Unknown("no answer".into()));
            if matches!(r, ZoneResult::Listed(_)) {
                score = score.saturating_add(z.weight);
            }
            zones.push((z.zone.clone(), r));
        }
        Poll::Ready(Verdict { score, zones })
    }

    fn provide(&mut self, q: &Question, a: Answer) {
        if let Some(&(_, i)) = self.questions.iter().find(|(qq, _)| qq == q) {
            self.results[i] = Some(read_answer(&self.zones[i], &a));
        }
    }
}

/// Answers kept for their TTL, clamped to 60 s .. 1 h (SRV-024); failures are not cached.
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<Question, (ZoneResult, Instant)>,
}

impl Cache {
    /// Most entries kept; beyond it the expired ones are dropped, then the oldest.
    pub const MAX_ENTRIES: usize = 100_000;

    /// A cached result, if still fresh at `now`.
    pub fn get(&self, q: &Question, now: Instant) -> Option<&ZoneResult> {
        self.entries
            .get(q)
            .filter(|(_, until)| *until > now)
            .map(|(r, _)| r)
    }

    /// Remembers a result with the answer's TTL.
    pub fn put(&mut self, q: Question, result: ZoneResult, ttl: Option<u32>, now: Instant) {
        if matches!(result, ZoneResult::Unknown(_)) {
            return;
        }
        let ttl = Duration::from_secs(u64::from(ttl.unwrap_or(300)).clamp(60, 3600));
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.entries.retain(|_, (_, until)| *until > now);
            if self.entries.len() >= Self::MAX_ENTRIES
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(q, _)| q.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(q, (result, now + ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth_core::dns::{Record, StaticResolver, drive};

    fn zone(name: &str, weight: i32, filter: Option<&str>) -> Zone {
        Zone {
            zone: name.into(),
            weight,
            filter: filter.map(|f| AnswerFilter::parse(f).unwrap()),
        }
    }

    #[test]
    fn filters() {
        let f = AnswerFilter::parse("127.0.[0..255].[1;3;5..6]").unwrap();
        assert!(f.matches(Ipv4Addr::new(127, 0, 9, 3)));
        assert!(f.matches(Ipv4Addr::new(127, 0, 9, 6)));
        assert!(!f.matches(Ipv4Addr::new(127, 0, 9, 2)));
        assert!(!f.matches(Ipv4Addr::new(127, 1, 9, 1)));
        for bad in [
            "127.0.0",
            "127.0.0.[2..",
            "127.0.0.[9..2]",
            "127.0.0.256",
            "a.b.c.d",
        ] {
            assert!(AnswerFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_names() {
        assert_eq!(
            query_name("192.0.2.99".parse().unwrap(), "zen.example"),
            "99.2.0.192.zen.example"
        );
        assert_eq!(
            query_name("::ffff:192.0.2.99".parse().unwrap(), "zen.example"),
            "99.2.0.192.zen.example"
        );
        let v6 = query_name("2001:db8::1".parse().unwrap(), "z.example");
        assert!(v6.starts_with("1.0.0.0.0.0.0.0"), "{v6}");
        assert!(v6.ends_with(".8.b.d.0.1.0.0.2.z.example"), "{v6}");
    }

    #[test]
    fn scoring_with_weights_filters_and_failures() {
        let ip: IpAddr = "192.0.2.99".parse().unwrap();
        let zones = vec![
            zone("block.example", 2, Some("127.0.0.[2..11]")),
            zone("other.example", 1, None),
            zone("allow.example", -3, None),
            zone("refusing.example", 5, None),
            zone("broken.example", 5, None),
            zone("clean.example", 5, None),
            zone("outside.example", 5, Some("127.0.0.4")),
        ];
        let mut r = StaticResolver::default();
        r.add(
            "99.2.0.192.block.example",
            Record::A(Ipv4Addr::new(127, 0, 0, 4)),
        );
        r.add(
            "99.2.0.192.other.example",
            Record::A(Ipv4Addr::new(127, 0, 0, 2)),
        );
        r.add(
            "99.2.0.192.allow.example",
            Record::A(Ipv4Addr::new(127, 0, 15, 1)),
        );
        r.add(
            "99.2.0.192.refusing.example",
            Record::A(Ipv4Addr::new(127, 255, 255, 254)),
        );
        r.fail(Question::new("99.2.0.192.broken.example", RecordType::A));
        r.add(
            "99.2.0.192.outside.example",
            Record::A(Ipv4Addr::new(127, 0, 0, 2)),
        );
        let v = drive(DnsblCheck::new(ip, zones), &r);
        assert_eq!(v.score, 2 + 1 - 3);
        assert_eq!(
            v.listed_by(),
            ["block.example", "other.example", "allow.example"]
        );
        assert!(
            matches!(v.zones[3].1, ZoneResult::Unknown(_)),
            "{:?}",
            v.zones[3]
        );
        assert!(
            matches!(v.zones[4].1, ZoneResult::Unknown(_)),
            "{:?}",
            v.zones[4]
        );
        assert_eq!(v.zones[5].1, ZoneResult::Clean);
        assert_eq!(v.zones[6].1, ZoneResult::Clean);
    }

    #[test]
    fn answers_outside_loopback_are_unknown() {
        let z = zone("z", 1, None);
        let a = Answer::records(vec![Record::A(Ipv4Addr::new(10, 0, 0, 1))]);
        assert!(matches!(read_answer(&z, &a), ZoneResult::Unknown(_)));
    }

    #[test]
    fn cache_clamps_ttl_and_skips_failures() {
        let mut c = Cache::default();
        let t0 = Instant::now();
        let q = Question::new("x.z", RecordType::A);
        c.put(q.clone(), ZoneResult::Clean, Some(1), t0);
        assert!(c.get(&q, t0 + Duration::from_secs(59)).is_some());
        assert!(c.get(&q, t0 + Duration::from_secs(61)).is_none());
        c.put(q.clone(), ZoneResult::Clean, Some(86_400), t0);
        assert!(c.get(&q, t0 + Duration::from_secs(3599)).is_some());
        assert!(c.get(&q, t0 + Duration::from_secs(3601)).is_none());
        let q2 = Question::new("y.z", RecordType::A);
        c.put(q2.clone(), ZoneResult::Unknown("x".into()), Some(600), t0);
        assert!(c.get(&q2, t0).is_none());
    }
}
