//! Sender authentication and screening on the MX (SRV-021..028): SPF, DKIM, DMARC and ARC
//! with an Authentication-Results field, DMARC `p=reject` enforcement, DNSBL scoring and
//! greylisting, all through `mail-auth-core` machines and one resolver.
//!
//! DNS never stalls mail: every lookup has the configured timeout (`checks.dns_timeout`,
//! 2 s by default) and a whole check at most three times that; a machine without any DNS
//! configuration gets [`Dns::Offline`], which answers every question with a temporary
//! failure at once. What a temporary failure does is `checks.temperror`: `accept` (the
//! default: the message is accepted and `temperror` recorded) or `tempfail` (451 4.4.3).

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mail_auth_core::auth_results::{AuthResult, AuthResults, AuthservFilter, MethodResult};
use mail_auth_core::dmarc::{self, DmarcResult, Policy, SpfInput};
use mail_auth_core::dns::{Answer, DnsMachine, Poll};
use mail_auth_core::hickory::{HickoryConfig, HickoryResolver};
use mail_auth_core::spf::{self, SpfOutput, SpfResult};
use mail_auth_core::{arc, dkim};

use super::config::{ChecksConfig, TempErrorPolicy};
use super::dnsbl::{self, DnsblCheck};
use super::greylist::{Decision, Greylist};

/// The resolver the checks use.
#[derive(Debug, Clone)]
pub enum Dns {
    /// hickory-resolver with a TTL cache.
    Hickory(Box<HickoryResolver>),
    /// No DNS at all: every question is a temporary failure, at once.
    Offline(String),
}

impl Dns {
    /// The configured resolver: the given servers, else the system's; `Offline` when
    /// neither can be set up (no `/etc/resolv.conf`).
    pub fn new(cfg: &ChecksConfig) -> Self {
        let mut hc = match cfg.dns_servers.first() {
            Some(a) => HickoryConfig::with_nameserver(*a),
            None => HickoryConfig::default(),
        };
        hc.query_timeout = cfg.dns_timeout.0;
        hc.total_timeout = cfg.dns_timeout.0 * 3;
        hc.attempts = 1;
        match HickoryResolver::new(&hc) {
            Ok(r) => Self::Hickory(Box::new(r)),
            Err(e) => {
                tracing::warn!(error = %e, "no usable DNS configuration: checks will record temperror");
                Self::Offline(e.to_string())
            }
        }
    }

    /// Runs a machine to its end.
    pub async fn drive<M: DnsMachine + Send>(&self, mut m: M) -> M::Output
    where
        M::Output: Send,
    {
        match self {
            Self::Hickory(r) => r.drive(m).await,
            Self::Offline(why) => loop {
                match m.poll() {
                    Poll::Ready(o) => return o,
                    Poll::Pending(qs) => {
                        for q in qs {
                            m.provide(&q, Answer::TempFail(format!("no resolver: {why}")));
                        }
                    }
                }
            },
        }
    }
}

/// What the checks concluded about one message.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The `Authentication-Results: ...\r\n` field to put on top of the message.
    pub header: String,
    /// Refuse the message (550 5.7.1) with this text: DMARC `p=reject` failed.
    pub reject: Option<String>,
    /// A DNS failure with `temperror = "tempfail"`: answer 451 4.4.3.
    pub tempfail: bool,
    /// A short summary for the log (`spf=pass dkim=none dmarc=pass arc=none`).
    pub summary: String,
}

/// The MX's checks, shared by all sessions.
#[derive(Debug)]
pub struct Checks {
    /// The resolver.
    pub dns: Dns,
    cfg: ChecksConfig,
    authserv_id: String,
    greylist: Mutex<Greylist>,
    dnsbl_cache: Mutex<dnsbl::Cache>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Checks {
    /// Checks with this configuration; `authserv_id` is the host name written into
    /// Authentication-Results (and stripped from incoming ones).
    pub fn new(cfg: &ChecksConfig, authserv_id: &str) -> Self {
        let g = &cfg.greylist;
        Self {
            dns: Dns::new(cfg),
            cfg: cfg.clone(),
            authserv_id: authserv_id.to_string(),
            greylist: Mutex::new(Greylist::new(
                g.delay.0.as_secs(),
                g.retry_window.0.as_secs(),
                g.expire.0.as_secs(),
                g.allow_networks.clone(),
            )),
            dnsbl_cache: Mutex::new(dnsbl::Cache::default()),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ChecksConfig {
        &self.cfg
    }

    /// SPF for the MAIL FROM identity (or HELO for the null sender), when enabled.
    pub async fn spf(&self, ip: IpAddr, helo: &str, mail_from: &str) -> Option<SpfOutput> {
        if !self.cfg.spf {
            return None;
        }
        Some(
            self.dns
                .drive(spf::Verifier::mail_from(ip, helo, mail_from))
                .await,
        )
    }

    /// DNSBL score of a client at connect, or `None` when disabled or below the threshold;
    /// `Some(text)` names the lists that listed it.
    pub async fn dnsbl_block(&self, ip: IpAddr) -> Option<String> {
        let c = &self.cfg.dnsbl;
        if !c.enabled || c.zones.is_empty() {
            return None;
        }
        let zones: Vec<dnsbl::Zone> = c.zones.iter().map(dnsbl::Zone::from_config).collect();
        let mut check = DnsblCheck::new(ip, zones);
        let now = Instant::now();
        {
            let cache = self
                .dnsbl_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for i in 0..c.zones.len() {
                if let Some(q) = check.question(i).cloned()
                    && let Some(r) = cache.get(&q, now)
                {
                    check.known(i, r.clone());
                }
            }
        }
        let questions: Vec<_> = (0..c.zones.len())
            .filter_map(|i| check.question(i).cloned())
            .collect();
        let verdict = self.dns.drive(check).await;
        {
            let mut cache = self
                .dnsbl_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (q, (_, r)) in questions.into_iter().zip(&verdict.zones) {
                if cache.get(&q, now).is_none() {
                    cache.put(q, r.clone(), None, now);
                }
            }
        }
        let listed = verdict.listed_by();
        tracing::debug!(client = %ip, score = verdict.score, zones = ?listed, "dnsbl");
        (verdict.score >= c.threshold).then(|| listed.join(", "))
    }

    /// Greylisting for one recipient: `Some(seconds)` to defer. Clients whose SPF passed for
    /// an allow-listed provider domain are never deferred.
    pub fn greylist(
        &self,
        ip: IpAddr,
        sender: &str,
        rcpt: &str,
        spf: Option<&SpfOutput>,
    ) -> Option<u64> {
        let g = &self.cfg.greylist;
        if !g.enabled {
            return None;
        }
        if let Some(s) = spf
            && s.result == SpfResult::Pass
        {
            let domain = s.domain.to_ascii_lowercase();
            if g.allow_spf_domains
                .iter()
                .any(|d| domain == d.as_str() || domain.ends_with(&format!(".{d}")))
            {
                return None;
            }
        }
        match self
            .greylist
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(unix_now(), ip, sender, rcpt)
        {
            Decision::Pass => None,
            Decision::Defer { retry_in } => Some(retry_in),
        }
    }

    /// Saves the greylist table (at shutdown and periodically).
    pub fn save_greylist(&self, path: &std::path::Path) -> std::io::Result<()> {
        if !self.cfg.greylist.enabled {
            return Ok(());
        }
        let mut g = self.greylist.lock().unwrap_or_else(PoisonError::into_inner);
        g.prune(unix_now());
        g.save(path)
    }

    /// Loads the greylist table saved by a previous run.
    pub fn load_greylist(&self, path: &std::path::Path) -> std::io::Result<()> {
        if !self.cfg.greylist.enabled {
            return Ok(());
        }
        self.greylist
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .load(path)
    }

    /// Whether an incoming Authentication-Results field claims to be ours (RFC 8601 §5:
    /// such fields are removed before ours is added).
    pub fn is_forged_results(&self, value: &[u8]) -> bool {
        AuthservFilter::new(&[self.authserv_id.as_str()]).must_strip(value)
    }

    /// DKIM, ARC and DMARC on the received message, with the SPF result from MAIL FROM.
    pub async fn evaluate(&self, message: &[u8], spf: Option<&SpfOutput>) -> Verdict {
        let mut ar = AuthResults::new(&self.authserv_id);
        let mut temperror = false;
        if let Some(s) = spf {
            temperror |= s.result == SpfResult::TempError;
            ar.results.push(MethodResult::from(s));
        }
        let mut dkim_inputs = Vec::new();
        if self.cfg.dkim {
            let now = unix_now();
            let out = self
                .dns
                .drive(dkim::verify::verify(
                    message,
                    dkim::verify::VerifyOptions::new(now),
                ))
                .await;
            if out.signatures.is_empty() {
                ar.results.push(MethodResult::new("dkim", AuthResult::None));
            }
            for s in &out.signatures {
                let m = MethodResult::from(s);
                temperror |= m.result == AuthResult::TempError;
                ar.results.push(m);
            }
            dkim_inputs = out.dmarc_inputs();
        }
        let mut reject = None;
        if self.cfg.dmarc {
            let from = dmarc::author_domains(message);
            let spf_input = spf.map(|s| SpfInput {
                domain: s.domain.clone(),
                result: s.result,
            });
            let out = self
                .dns
                .drive(dmarc::Verifier::new(&from, spf_input, dkim_inputs))
                .await;
            temperror |= out.result == DmarcResult::TempError;
            if self.cfg.dmarc_reject
                && out.result == DmarcResult::Fail
                && out.disposition == Policy::Reject
            {
                let domain = out
                    .domains
                    .iter()
                    .find(|d| d.result == DmarcResult::Fail)
                    .map_or_else(String::new, |d| d.author_domain.clone());
                reject = Some(format!("rejected by the DMARC policy of {domain}"));
            }
            ar.results.push(MethodResult::from(&out));
        }
        if self.cfg.arc {
            let out = self
                .dns
                .drive(arc::verify(message, arc::ArcOptions::default()))
                .await;
            temperror |= out.temporary;
            ar.results.push(MethodResult::from(&out));
        }
        let summary = ar
            .results
            .iter()
            .map(|r| format!("{}={}", r.method, r.result.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        Verdict {
            header: format!("Authentication-Results: {ar}\r\n"),
            reject,
            tempfail: temperror && self.cfg.temperror == TempErrorPolicy::Tempfail,
            summary,
        }
    }
}

/// Removes the header fields for which `drop(name, value)` is true from the header block of
/// `message` (folded continuation lines go with their field).
pub fn strip_fields(message: &[u8], mut drop: impl FnMut(&[u8], &[u8]) -> bool) -> Vec<u8> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 2);
    let (head, rest) = message.split_at(end);
    let mut out = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < head.len() {
        let mut j = i;
        loop {
            let Some(n) = head[j..].iter().position(|&b| b == b'\n') else {
                j = head.len();
                break;
            };
            j += n + 1;
            if !matches!(head.get(j), Some(b' ' | b'\t')) {
                break;
            }
        }
        let field = &head[i..j];
        let keep = match field.iter().position(|&b| b == b':') {
            Some(c) if !matches!(field.first(), Some(b' ' | b'\t')) => {
                !drop(field[..c].trim_ascii(), &field[c + 1..])
            }
            _ => true,
        };
        if keep {
            out.extend_from_slice(field);
        }
        i = j;
    }
    out.extend_from_slice(rest);
    out
}

/// A `Duration` in whole seconds for reply texts.
pub fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::Config;
    use mail_auth_core::dns::{Record, StaticResolver, drive};

    fn checks(extra: &str) -> Checks {
        // Port 9 on loopback (discard, nothing listens): every query fails quickly.
        let cfg = Config::parse(
            &format!("[checks]\ndns_timeout = \"300ms\"\ndns_servers = [\"127.0.0.1:9\"]\n{extra}"),
            None,
        )
        .unwrap();
        Checks::new(&cfg.checks, "mx.example.org")
    }

    #[test]
    fn strips_only_the_named_fields_with_their_folds() {
        let m = b"A: 1\r\nAuthentication-Results: mx.example.org;\r\n\tspf=pass\r\nB: 2\r\n\r\nAuthentication-Results: in body\r\n";
        let out = strip_fields(m, |n, v| {
            n.eq_ignore_ascii_case(b"authentication-results")
                && v.windows(14).any(|w| w == b"mx.example.org")
        });
        assert_eq!(
            out,
            b"A: 1\r\nB: 2\r\n\r\nAuthentication-Results: in body\r\n"
        );
    }

    #[tokio::test]
    async fn dns_trouble_is_temperror_and_accepted_by_default() {
        let c = checks("");
        let msg = b"From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n";
        let started = Instant::now();
        let spf = c
            .spf(
                "192.0.2.7".parse().unwrap(),
                "client.example",
                "a@example.com",
            )
            .await;
        assert_eq!(spf.as_ref().unwrap().result, SpfResult::TempError);
        let v = c.evaluate(msg, spf.as_ref()).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "DNS trouble stalled the checks: {:?}",
            started.elapsed()
        );
        assert!(!v.tempfail && v.reject.is_none());
        assert!(
            v.header
                .starts_with("Authentication-Results: mx.example.org;"),
            "{}",
            v.header
        );
        assert!(v.header.contains("spf=temperror"), "{}", v.header);
        assert!(v.header.contains("dkim=none"), "{}", v.header);
        assert!(v.header.ends_with("\r\n"));
        let strict = checks("temperror = \"tempfail\"\n");
        let v = strict.evaluate(msg, spf.as_ref()).await;
        assert!(v.tempfail);
    }

    #[tokio::test]
    async fn offline_resolver_answers_at_once() {
        let mut c = checks("");
        c.dns = Dns::Offline("test".into());
        let started = Instant::now();
        let spf = c
            .spf("192.0.2.7".parse().unwrap(), "h", "a@example.com")
            .await
            .unwrap();
        assert_eq!(spf.result, SpfResult::TempError);
        assert!(started.elapsed() < Duration::from_millis(200));
        assert!(c.is_forged_results(b" mx.example.org; spf=pass"));
        assert!(!c.is_forged_results(b" other.example; spf=pass"));
    }

    #[test]
    fn greylist_allows_providers_with_spf_pass() {
        let c = checks("[checks.greylist]\nenabled = true\n");
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(c.greylist(ip, "a@x.test", "u@l", None), Some(300));
        let mut zone = StaticResolver::default();
        zone.add(
            "gmail.com",
            Record::Txt(b"v=spf1 ip4:192.0.2.0/24 -all".to_vec()),
        );
        zone.add(
            "mail.gmail.com",
            Record::Txt(b"v=spf1 ip4:192.0.2.0/24 -all".to_vec()),
        );
        zone.add("evil.test", Record::Txt(b"v=spf1 ~all".to_vec()));
        let pass = drive(spf::Verifier::mail_from(ip, "h", "b@gmail.com"), &zone);
        assert_eq!(pass.result, SpfResult::Pass);
        assert_eq!(c.greylist(ip, "b@gmail.com", "u@l", Some(&pass)), None);
        let sub = drive(spf::Verifier::mail_from(ip, "h", "b@mail.gmail.com"), &zone);
        assert_eq!(c.greylist(ip, "b@mail.gmail.com", "u@l", Some(&sub)), None);
        let soft = drive(spf::Verifier::mail_from(ip, "h", "b@evil.test"), &zone);
        assert_eq!(soft.result, SpfResult::SoftFail);
        assert!(c.greylist(ip, "b@evil.test", "u@l", Some(&soft)).is_some());
        assert_eq!(checks("").greylist(ip, "a@x.test", "u@l", None), None);
    }
}
