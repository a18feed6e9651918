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
//!
//! `SPF_PROFILE=<case>/<way>` (and `SPF_PROFILE_N`, default 1000) runs one of them in a loop
//! outside criterion, for exact instruction counts under callgrind (see `profile_loop`);
//! `SPF_INTERLEAVED=1` times the ways in alternating short batches (see `interleaved`).
#![allow(missing_docs)]

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use criterion::{Criterion, criterion_group};
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

/// One case with everything both sides need, built once.
struct Fixture {
    case: Case,
    zone: StaticResolver,
    cache: Arc<RecordCache>,
    parsing: ParsingTxt,
    preparsed: MapCache<Txt>,
    ipv4: MapCache<Arc<Vec<Ipv4Addr>>>,
    ipv6: MapCache<Arc<Vec<Ipv6Addr>>>,
    mx: MapCache<Arc<Vec<MX>>>,
    ptr: PtrCache,
}

impl Fixture {
    fn new(case: Case) -> Self {
        let zone = ours_zone(&case);
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
        let preparsed = MapCache::new(raw.iter().map(|(k, v)| (k.clone(), parse_txt(v))).collect());
        let ipv4 = MapCache::new(
            case.a
                .iter()
                .map(|(n, a)| (n.to_string(), Arc::new(vec![*a])))
                .collect(),
        );
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
        Self {
            case,
            zone,
            cache: Arc::new(RecordCache::default()),
            parsing: ParsingTxt(raw),
            preparsed,
            ipv4,
            ipv6: MapCache::new(vec![]),
            mx,
            ptr: PtrCache(Mutex::new(HashMap::new())),
        }
    }

    fn ours(&self) -> mail_auth_core::spf::SpfOutput {
        let v = Verifier::mail_from(
            black_box(self.case.ip),
            "mx.client.example",
            self.case.sender,
        );
        drive(v, &self.zone)
    }

    fn ours_cached(&self) -> mail_auth_core::spf::SpfOutput {
        let v = Verifier::mail_from(
            black_box(self.case.ip),
            "mx.client.example",
            self.case.sender,
        )
        .record_cache(Arc::clone(&self.cache));
        drive(v, &self.zone)
    }

    fn theirs(&self, preparsed: bool) -> mail_auth::SpfOutput {
        let params = mail_auth::spf::verify::SpfParameters::verify_mail_from(
            black_box(self.case.ip),
            "mx.client.example",
            "receiver.example",
            self.case.sender,
        );
        let auth = auth();
        if preparsed {
            run_ready(
                auth.verify_spf(
                    mail_auth::Parameters::new(params)
                        .with_txt_cache(&self.preparsed)
                        .with_ipv4_cache(&self.ipv4)
                        .with_ipv6_cache(&self.ipv6)
                        .with_mx_cache(&self.mx)
                        .with_ptr_cache(&self.ptr),
                ),
            )
        } else {
            run_ready(
                auth.verify_spf(
                    mail_auth::Parameters::new(params)
                        .with_txt_cache(&self.parsing)
                        .with_ipv4_cache(&self.ipv4)
                        .with_ipv6_cache(&self.ipv6)
                        .with_mx_cache(&self.mx)
                        .with_ptr_cache(&self.ptr),
                ),
            )
        }
    }

    /// Both sides pass, and the cache changes nothing.
    fn check(&self) {
        let name = self.case.name;
        let ours = self.ours();
        assert_eq!(ours.result, SpfResult::Pass, "{name}");
        assert_eq!(
            self.ours_cached(),
            ours,
            "{name}: the cache changes nothing"
        );
        assert_eq!(
            self.theirs(false).result(),
            mail_auth::SpfResult::Pass,
            "mail-auth on {name}"
        );
        assert_eq!(
            self.theirs(true).result(),
            mail_auth::SpfResult::Pass,
            "mail-auth (pre-parsed) on {name}"
        );
    }
}

/// mail-auth's authenticator, built once (its resolver is never asked: every answer is
/// cached).
fn auth() -> &'static MessageAuthenticator {
    static AUTH: std::sync::OnceLock<MessageAuthenticator> = std::sync::OnceLock::new();
    AUTH.get_or_init(|| MessageAuthenticator::new_cloudflare().unwrap())
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("spf");
    for case in cases() {
        let f = Fixture::new(case);
        f.check();
        let name = f.case.name;
        g.bench_function(format!("{name}/ours"), |b| {
            b.iter(|| black_box(f.ours().result));
        });
        g.bench_function(format!("{name}/ours-cached"), |b| {
            b.iter(|| black_box(f.ours_cached().result));
        });
        g.bench_function(format!("{name}/mail-auth"), |b| {
            b.iter(|| black_box(f.theirs(false).result()));
        });
        g.bench_function(format!("{name}/mail-auth-preparsed"), |b| {
            b.iter(|| black_box(f.theirs(true).result()));
        });
    }
    g.finish();
}

/// Runs one case `n` times outside criterion, for exact instruction counts:
/// `SPF_PROFILE=include-mx/ours SPF_PROFILE_N=1000 valgrind --tool=callgrind
/// --toggle-collect='*profile_loop*' <bench binary>` (instructions / n = one evaluation).
#[inline(never)]
fn profile_loop(f: &Fixture, way: &str, n: usize) -> usize {
    let mut passes = 0;
    for _ in 0..n {
        let pass = match way {
            "ours" => f.ours().result == SpfResult::Pass,
            "ours-cached" => f.ours_cached().result == SpfResult::Pass,
            "mail-auth" => f.theirs(false).result() == mail_auth::SpfResult::Pass,
            "mail-auth-preparsed" => f.theirs(true).result() == mail_auth::SpfResult::Pass,
            _ => panic!("SPF_PROFILE way: ours, ours-cached, mail-auth, mail-auth-preparsed"),
        };
        passes += usize::from(pass);
    }
    passes
}

/// Ours and mail-auth in alternating short batches, so both see the same machine load
/// (criterion times each function in its own few seconds, and on a shared, busy machine
/// the load changes between them): the median time per check of each, and their ratio.
fn interleaved() {
    use std::time::Instant;
    const BATCH: u32 = 200;
    const ROUNDS: usize = 301;
    println!("interleaved medians ({ROUNDS} alternating batches of {BATCH}):");
    for case in cases() {
        let f = Fixture::new(case);
        f.check();
        let ways = ["ours", "ours-cached", "mail-auth", "mail-auth-preparsed"];
        let mut times = vec![Vec::with_capacity(ROUNDS); ways.len()];
        for _ in 0..ROUNDS {
            for (i, way) in ways.iter().enumerate() {
                let t = Instant::now();
                black_box(profile_loop(&f, way, BATCH as usize));
                times[i].push(t.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH));
            }
        }
        let med: Vec<f64> = times
            .iter_mut()
            .map(|t| {
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            })
            .collect();
        println!(
            "spf/{}: ours {:.0} ns, ours-cached {:.0} ns, mail-auth {:.0} ns, mail-auth-preparsed {:.0} ns; mail-auth/ours {:.2}x, mail-auth-preparsed/ours-cached {:.2}x",
            f.case.name,
            med[0],
            med[1],
            med[2],
            med[3],
            med[2] / med[0],
            med[3] / med[1]
        );
    }
}

fn main() {
    if std::env::var_os("SPF_INTERLEAVED").is_some() {
        interleaved();
        return;
    }
    if let Ok(which) = std::env::var("SPF_PROFILE") {
        let (name, way) = which.split_once('/').expect("SPF_PROFILE=<case>/<way>");
        let n = std::env::var("SPF_PROFILE_N").map_or(1000, |n| n.parse().unwrap());
        let f = Fixture::new(cases().into_iter().find(|c| c.name == name).expect("case"));
        f.check();
        // Warm up (first-use allocations, the record cache) before the counted loop.
        profile_loop(&f, way, 10);
        assert_eq!(profile_loop(&f, way, n), n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

criterion_group!(benches, bench);
