//! SPF evaluation, ours beside mail-auth 0.7.5 on the same records, with every DNS answer
//! served from memory (our `StaticResolver`; mail-auth's resolver caches, pre-filled).
//!
//! Cases (`spf/<case>`):
//! - `ip4`: `v=spf1 ip4:192.0.2.0/24 -all`, the client matches.
//! - `include-mx`: `ip4` miss, an `include:` whose policy misses (ip4, ip6, `~all`), then
//!   `mx` with two hosts, the second matching: 4 TXT/MX/A answers.
//! - `macro-exists`: `exists:%{ir}.%{l1r+-}._spf.%{d}` (macro expansion) then `-all`.
//!
//! Each case runs four ways:
//! - `ours`: a fresh `Verifier` driven against the zone; records are parsed on every run.
//! - `ours-cached`: the same with a shared `RecordCache` (records parsed once, looked up by
//!   their text); every DNS question is still asked and answered from the zone. Compare it
//!   with `mail-auth-preparsed`, which also skips those lookups.
//! - `mail-auth`: its TXT cache hands out the record *parsed on every lookup* with
//!   mail-auth's own parser, so both sides parse and evaluate: the like-for-like number.
//! - `mail-auth-preparsed`: its TXT cache holds records parsed once before the run (its
//!   cached steady state; it skips parsing, which our `Verifier` never does).
#![allow(missing_docs)]

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::spf::{Macro, Spf};
use mail_auth::{MX, MessageAuthenticator, ResolverCache, Txt};
use mail_auth_core::dns::{Record, StaticResolver, drive};
use mail_auth_core::spf::{RecordCache, SpfResult, Verifier};
use std::hint::black_box;

struct Case {
    name: &'static str,
    ip: IpAddr,
    sender: &'static str,
    txt: Vec<(&'static str, &'static str)>,
    a: Vec<(&'static str, Ipv4Addr)>,
    mx: Vec<(&'static str, Vec<&'static str>)>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "ip4",
            ip: "192.0.2.7".parse().unwrap(),
            sender: "alice@example.org",
            txt: vec![("example.org", "v=spf1 ip4:192.0.2.0/24 -all")],
            a: vec![],
            mx: vec![],
        },
        Case {
            name: "include-mx",
            ip: "203.0.113.20".parse().unwrap(),
            sender: "alice@example.org",
            txt: vec![
                (
                    "example.org",
                    "v=spf1 ip4:192.0.2.0/24 include:_spf.esp.example mx -all",
                ),
                (
                    "_spf.esp.example",
                    "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all",
                ),
            ],
            a: vec![
                ("mx1.example.org", "203.0.113.10".parse().unwrap()),
                ("mx2.example.org", "203.0.113.20".parse().unwrap()),
            ],
            mx: vec![("example.org", vec!["mx1.example.org", "mx2.example.org"])],
        },
        Case {
            name: "macro-exists",
            ip: "192.0.2.1".parse().unwrap(),
            sender: "someuser@example.com",
            txt: vec![("example.com", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")],
            a: vec![(
                "1.2.0.192.someuser._spf.example.com",
                "127.0.0.2".parse().unwrap(),
            )],
            mx: vec![],
        },
    ]
}

fn ours_zone(c: &Case) -> StaticResolver {
    let mut z = StaticResolver::default();
    for (n, t) in &c.txt {
        z.add(n, Record::Txt(t.as_bytes().to_vec()));
    }
    for (n, a) in &c.a {
        z.add(n, Record::A(*a));
    }
    for (n, hosts) in &c.mx {
        for (i, h) in hosts.iter().enumerate() {
            z.add(n, Record::mx(10 * (i as u16 + 1), h));
        }
    }
    z
}

/// A mail-auth resolver cache keyed by name (with and without the trailing dot).
struct MapCache<V>(Mutex<HashMap<String, V>>);

impl<V: Clone> MapCache<V> {
    fn new(entries: Vec<(String, V)>) -> Self {
        let mut m = HashMap::new();
        for (k, v) in entries {
            m.insert(format!("{k}."), v.clone());
            m.insert(k, v);
        }
        Self(Mutex::new(m))
    }
}

impl<V: Clone> ResolverCache<String, V> for MapCache<V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(key).cloned()
    }
    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(key)
    }
    fn insert(&self, key: String, value: V, _: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// mail-auth's PTR cache (keyed by address); no case here uses PTR.
struct PtrCache(Mutex<HashMap<IpAddr, Arc<Vec<String>>>>);

impl ResolverCache<IpAddr, Arc<Vec<String>>> for PtrCache {
    fn get<Q>(&self, key: &Q) -> Option<Arc<Vec<String>>>
    where
        IpAddr: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(key).cloned()
    }
    fn remove<Q>(&self, key: &Q) -> Option<Arc<Vec<String>>>
    where
        IpAddr: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(key)
    }
    fn insert(&self, key: IpAddr, value: Arc<Vec<String>>, _: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// A TXT cache that parses the raw record on every lookup, with mail-auth's parser.
struct ParsingTxt(HashMap<String, Vec<u8>>);

impl ResolverCache<String, Txt> for ParsingTxt {
    fn get<Q>(&self, key: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let raw = self.0.get(key)?;
        Some(parse_txt(raw))
    }
    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }
    fn insert(&self, _: String, _: Txt, _: Instant) {}
}

/// What mail-auth's resolver stores for an SPF TXT record: the record, or (for names built
/// from macros) the macro form.
fn parse_txt(raw: &[u8]) -> Txt {
    match Spf::parse(raw) {
        Ok(s) => Txt::Spf(Arc::new(s)),
        Err(_) => Txt::SpfMacro(Arc::new(Macro::parse(raw).unwrap_or(Macro::None))),
    }
}

/// Runs a future that never waits (every answer is cached) to completion.
fn run_ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("mail-auth waited for the network"),
    }
}

fn bench(c: &mut Criterion) {
    let auth = MessageAuthenticator::new_cloudflare().unwrap();
    let mut g = c.benchmark_group("spf");
    for case in cases() {
        let zone = ours_zone(&case);
        let ours = drive(
            Verifier::mail_from(case.ip, "mx.client.example", case.sender),
            &zone,
        );
        assert_eq!(ours.result, SpfResult::Pass, "{}", case.name);

        let raw: HashMap<String, Vec<u8>> = case
            .txt
            .iter()
            .flat_map(|(n, t)| {
                [
                    (n.to_string(), t.as_bytes().to_vec()),
                    (format!("{n}."), t.as_bytes().to_vec()),
                ]
            })
            .collect();
        let parsing = ParsingTxt(raw.clone());
        let preparsed = MapCache::new(raw.iter().map(|(k, v)| (k.clone(), parse_txt(v))).collect());
        let ipv4 = MapCache::new(
            case.a
                .iter()
                .map(|(n, a)| (n.to_string(), Arc::new(vec![*a])))
                .collect(),
        );
        let ipv6: MapCache<Arc<Vec<Ipv6Addr>>> = MapCache::new(vec![]);
        let mx = MapCache::new(
            case.mx
                .iter()
                .map(|(n, hosts)| {
                    (
                        n.to_string(),
                        Arc::new(vec![MX {
                            exchanges: hosts.iter().map(|h| format!("{h}.")).collect(),
                            preference: 10,
                        }]),
                    )
                })
                .collect(),
        );
        let ptr = PtrCache(Mutex::new(HashMap::new()));
        let run_theirs = |txt: &dyn Fn() -> mail_auth::SpfOutput| txt();
        let theirs_parsing = || {
            run_ready(
                auth.verify_spf(
                    mail_auth::Parameters::new(
                        mail_auth::spf::verify::SpfParameters::verify_mail_from(
                            case.ip,
                            "mx.client.example",
                            "receiver.example",
                            case.sender,
                        ),
                    )
                    .with_txt_cache(&parsing)
                    .with_ipv4_cache(&ipv4)
                    .with_ipv6_cache(&ipv6)
                    .with_mx_cache(&mx)
                    .with_ptr_cache(&ptr),
                ),
            )
        };
        let theirs_preparsed = || {
            run_ready(
                auth.verify_spf(
                    mail_auth::Parameters::new(
                        mail_auth::spf::verify::SpfParameters::verify_mail_from(
                            case.ip,
                            "mx.client.example",
                            "receiver.example",
                            case.sender,
                        ),
                    )
                    .with_txt_cache(&preparsed)
                    .with_ipv4_cache(&ipv4)
                    .with_ipv6_cache(&ipv6)
                    .with_mx_cache(&mx)
                    .with_ptr_cache(&ptr),
                ),
            )
        };
        assert_eq!(
            run_theirs(&theirs_parsing).result(),
            mail_auth::SpfResult::Pass,
            "mail-auth on {}",
            case.name
        );
        assert_eq!(
            run_theirs(&theirs_preparsed).result(),
            mail_auth::SpfResult::Pass,
            "mail-auth (pre-parsed) on {}",
            case.name
        );

        g.bench_function(format!("{}/ours", case.name), |b| {
            b.iter(|| {
                let v = Verifier::mail_from(black_box(case.ip), "mx.client.example", case.sender);
                black_box(drive(v, &zone).result)
            });
        });
        let cache = Arc::new(RecordCache::default());
        let cached = drive(
            Verifier::mail_from(case.ip, "mx.client.example", case.sender)
                .record_cache(Arc::clone(&cache)),
            &zone,
        );
        assert_eq!(cached, ours, "{}: the cache changes nothing", case.name);
        g.bench_function(format!("{}/ours-cached", case.name), |b| {
            b.iter(|| {
                let v = Verifier::mail_from(black_box(case.ip), "mx.client.example", case.sender)
                    .record_cache(Arc::clone(&cache));
                black_box(drive(v, &zone).result)
            });
        });
        g.bench_function(format!("{}/mail-auth", case.name), |b| {
            b.iter(|| black_box(theirs_parsing().result()));
        });
        g.bench_function(format!("{}/mail-auth-preparsed", case.name), |b| {
            b.iter(|| black_box(theirs_preparsed().result()));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
