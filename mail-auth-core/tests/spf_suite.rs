//! The SPF conformance suites in `tests/data/spf` (see its README.md):
//!
//! - the openspf RFC 7208 suite (pyspf's copy): every one of its 203 tests must pass,
//!   the 5 timeout tests included;
//! - the older RFC 4408 edition of the same suite: its tests that RFC 7208 changed are
//!   listed in `RFC4408_CHANGED_BY_RFC7208` with the reason, every other test must pass;
//! - pyspf's own `test.yml`;
//! - Stalwart mail-auth's SPF scenarios (`mail-auth/*.yml`, their own line format).
//!
//! Each prints a `<suite>: N passed, M failed` line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use mail_auth_core::dns::{Answer, Question, Record, RecordType, StaticResolver, drive};
use mail_auth_core::spf::{SpfResult, Verifier};
use yaml_rust2::{Yaml, YamlLoader};

fn data(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/spf")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A YAML string as the octets a TXT record would carry (non-ASCII as UTF-8).
fn text(y: &Yaml) -> Vec<u8> {
    match y {
        Yaml::String(s) => s.as_bytes().to_vec(),
        Yaml::Integer(i) => i.to_string().into_bytes(),
        Yaml::Real(r) => r.clone().into_bytes(),
        Yaml::Array(parts) => parts.iter().flat_map(text).collect(),
        other => panic!("unexpected YAML value {other:?}"),
    }
}

fn string(y: &Yaml) -> String {
    String::from_utf8(text(y)).unwrap()
}

const TYPES: [RecordType; 5] = [
    RecordType::A,
    RecordType::Aaaa,
    RecordType::Mx,
    RecordType::Txt,
    RecordType::Ptr,
];

/// Builds the fake DNS of a scenario, with the driver conventions of the suite README.
fn zone(zonedata: &Yaml) -> StaticResolver {
    let mut z = StaticResolver::default();
    let Some(h) = zonedata.as_hash() else {
        return z;
    };
    for (name, entries) in h {
        let name = string(name);
        let entries = entries.as_vec().cloned().unwrap_or_default();
        let has_txt = entries.iter().any(|e| {
            e.as_hash()
                .is_some_and(|h| h.contains_key(&Yaml::String("TXT".into())))
        });
        let mut seen: Vec<RecordType> = Vec::new();
        for e in &entries {
            if e.as_str() == Some("TIMEOUT") {
                for t in TYPES {
                    if !seen.contains(&t) {
                        z.set(Question::new(&name, t), Answer::TempFail("timeout".into()));
                    }
                }
                continue;
            }
            let Some(h) = e.as_hash() else {
                panic!("bad zone entry {e:?}")
            };
            for (k, v) in h {
                let (t, rec) = match k.as_str().unwrap() {
                    "SPF" => {
                        if has_txt {
                            continue;
                        }
                        (RecordType::Txt, Record::Txt(text(v)))
                    }
                    "TXT" => {
                        if v.as_str() == Some("NONE") {
                            continue;
                        }
                        (RecordType::Txt, Record::Txt(text(v)))
                    }
                    "A" => (RecordType::A, Record::A(string(v).parse().unwrap())),
                    "AAAA" => (RecordType::Aaaa, Record::Aaaa(string(v).parse().unwrap())),
                    "MX" => {
                        let a = v.as_vec().unwrap();
                        let pref = u16::try_from(a[0].as_i64().unwrap()).unwrap();
                        (RecordType::Mx, Record::mx(pref, &string(&a[1])))
                    }
                    "PTR" => (RecordType::Ptr, Record::ptr(&string(v))),
                    "CNAME" => {
                        z.add_cname(&name, &string(v));
                        continue;
                    }
                    other => panic!("record type {other}"),
                };
                seen.push(t);
                z.add(&name, rec);
            }
        }
    }
    z
}

struct Tally {
    name: &'static str,
    passed: usize,
    skipped: usize,
    failed: Vec<String>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            passed: 0,
            skipped: 0,
            failed: Vec::new(),
        }
    }

    fn report(&self) {
        for f in &self.failed {
            println!("  FAILED {f}");
        }
        if self.skipped == 0 {
            println!(
                "{}: {} passed, {} failed",
                self.name,
                self.passed,
                self.failed.len()
            );
        } else {
            println!(
                "{}: {} passed, {} failed, {} skipped",
                self.name,
                self.passed,
                self.failed.len(),
                self.skipped
            );
        }
    }
}

/// Runs an openspf-schema file; returns the tally.
fn run_openspf(file: &str, name: &'static str) -> Tally {
    let docs = YamlLoader::load_from_str(&data(file)).unwrap();
    let mut tally = Tally::new(name);
    for doc in &docs {
        let z = zone(&doc["zonedata"]);
        let tests = doc["tests"].as_hash().expect("tests");
        for (id, t) in tests {
            let id = string(id);
            let ip: IpAddr = string(&t["host"]).parse().unwrap();
            let helo = string(&t["helo"]);
            let mailfrom = match &t["mailfrom"] {
                Yaml::BadValue | Yaml::Null => String::new(),
                y => string(y),
            };
            // pyspf's test.yml has one test expecting its non-RFC result "ambiguous": not an
            // RFC 7208 result, so it is counted apart (README: optional).
            // Tests with `strict: 0` exercise pyspf's lax mode (e.g. the obsolete `default=`
            // modifier), which RFC 7208 does not have (openspf default-modifier-obsolete).
            if t["result"].as_str() == Some("ambiguous") || t["strict"].as_i64() == Some(0) {
                tally.skipped += 1;
                continue;
            }
            let expected: Vec<SpfResult> = match &t["result"] {
                Yaml::Array(a) => a.iter().map(|r| parse_result(&string(r))).collect(),
                r => vec![parse_result(&string(r))],
            };
            let v = Verifier::mail_from(ip, &helo, &mailfrom)
                .default_explanation("DEFAULT")
                .receiver("receiver.example.net");
            let out = drive(v, &z);
            let mut ok = expected.contains(&out.result);
            if let Some(exp) = t["explanation"].as_str()
                && out.result == SpfResult::Fail
                && out.explanation.as_deref() != Some(exp)
            {
                ok = false;
            }
            if ok {
                tally.passed += 1;
            } else {
                tally.failed.push(format!(
                    "{id}: expected {:?} {:?}, got {} {:?} ({:?})",
                    expected,
                    t["explanation"].as_str(),
                    out.result,
                    out.explanation,
                    out.problem
                ));
            }
        }
    }
    tally
}

fn parse_result(s: &str) -> SpfResult {
    SpfResult::from_name(s).unwrap_or_else(|| panic!("result {s}"))
}

#[test]
fn rfc7208_suite() {
    let t = run_openspf("openspf/rfc7208-tests.yml", "spf-rfc7208");
    t.report();
    assert_eq!(t.passed, 203, "the RFC 7208 suite has 203 tests");
    assert!(t.failed.is_empty());
}

/// RFC 4408 tests whose expected result RFC 7208 changed (the rfc7208-tests.CHANGES file
/// lists these edits): we implement RFC 7208.
const RFC4408_CHANGED_BY_RFC7208: &[(&str, &str)] = &[];

#[test]
fn rfc4408_suite() {
    let t = run_openspf("openspf/rfc4408-tests.yml", "spf-rfc4408");
    t.report();
    let unexpected: Vec<&String> = t
        .failed
        .iter()
        .filter(|f| {
            !RFC4408_CHANGED_BY_RFC7208
                .iter()
                .any(|(id, _)| f.starts_with(&format!("{id}:")))
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(t.passed + t.failed.len(), 191);
}

#[test]
fn pyspf_extra_tests() {
    let t = run_openspf("openspf/test.yml", "spf-pyspf");
    t.report();
    assert_eq!(t.skipped, 2);
    assert!(t.failed.is_empty());
}

/// Stalwart mail-auth's vectors that contradict RFC 7208 as the openspf suite reads it.
/// Each names the openspf test that requires our result.
const MAIL_AUTH_CONTRADICTS_RFC7208: &[(&str, &str)] = &[
    (
        "all.yml [All test] test.org sender@test.org 10.0.0.1",
        "`-all ip:10.0.0.1`: a syntax error anywhere is a permerror (§4.6, openspf \
         detect-errors-anywhere); mail-auth stops parsing at `all`",
    ),
    (
        "basic.yml [DNS Lookup Limits] ok.test.org sender@ok.test.org 172.168.0.1",
        "ten `a:` lookups of missing names: the third void lookup is a permerror (§4.6.4, \
         openspf void-over-limit); mail-auth has no void limit for `a`",
    ),
    (
        "basic.yml [DNS Lookup Limits] mx.test.org sender@mx.test.org 10.0.0.8",
        "an MX set of more than 10 names is a permerror (§4.6.4, openspf mx-limit)",
    ),
    (
        "exists.yml [Exists] ip6.test.org sender@ip6.test.org 167.1.2.3",
        "`exists` always looks up A, even for names with only AAAA (§5.7, openspf \
         exists-ip6only)",
    ),
    (
        "macro.yml [Macro expansion 2] mx.example.org strong-bad@email.example.com 2001:db8::cb01",
        "`exists` always looks up A, also for an IPv6 client (§5.7, openspf exists-ip6); \
         the vector's names have only AAAA records",
    ),
    (
        "ip.yml [IPv6 match] test.org sender@test.org 10.1.2.3",
        "an IPv4 client never matches `ip6:`, not even `ip6:::ffff:10.1.2.3` (§5, openspf \
         cidr6-ip4)",
    ),
];

/// Stalwart mail-auth's scenarios: record lines accumulate across a file, a later line for
/// the same name and type replacing the earlier one; `domain:`/`sender:` carry over until
/// changed; names containing `_dns_error.` answer a DNS error.
#[test]
fn mail_auth_vectors() {
    let mut tally = Tally::new("spf-mail-auth");
    let mut files: Vec<_> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spf/mail-auth"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml"))
            .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut records: HashMap<(String, RecordType), Vec<Record>> = HashMap::new();
        let (mut domain, mut sender, mut ip) = (String::new(), String::new(), String::new());
        let mut scenario = String::new();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in text.lines() {
            let l = line.trim();
            let l = l.strip_prefix("- ").unwrap_or(l);
            let Some((key, val)) = l.split_once(':') else {
                continue;
            };
            let val = val.trim();
            let key = key.trim();
            match key {
                "spf" | "exp" => {
                    let (name, rec) = val.split_once(' ').unwrap_or((val, ""));
                    records.insert(
                        (name.to_ascii_lowercase(), RecordType::Txt),
                        vec![Record::Txt(rec.as_bytes().to_vec())],
                    );
                }
                "a" | "aaaa" | "ptr" | "mx" => {
                    let (name, list) = val.split_once(' ').unwrap();
                    let name = name.to_ascii_lowercase();
                    let items: Vec<&str> = list.split(',').map(str::trim).collect();
                    match key {
                        "a" => {
                            let v = items
                                .iter()
                                .map(|i| Record::A(i.parse().unwrap()))
                                .collect();
                            records.insert((name, RecordType::A), v);
                        }
                        "aaaa" => {
                            let v = items
                                .iter()
                                .map(|i| Record::Aaaa(i.parse().unwrap()))
                                .collect();
                            records.insert((name, RecordType::Aaaa), v);
                        }
                        "ptr" => {
                            let ipn: IpAddr = name.parse().unwrap();
                            let v = items.iter().map(|i| Record::ptr(i)).collect();
                            records
                                .insert((Question::reverse(ipn).name().into(), RecordType::Ptr), v);
                        }
                        _ => {
                            let mut mxs = Vec::new();
                            for (n, item) in items.iter().enumerate() {
                                let host = format!("mx{n}.{name}");
                                mxs.push(Record::mx(n as u16, &host));
                                let (t, r) = match item.parse::<IpAddr>().unwrap() {
                                    IpAddr::V4(a) => (RecordType::A, Record::A(a)),
                                    IpAddr::V6(a) => (RecordType::Aaaa, Record::Aaaa(a)),
                                };
                                records.insert((host, t), vec![r]);
                            }
                            records.insert((name, RecordType::Mx), mxs);
                        }
                    }
                }
                "name" if !line.starts_with(' ') => scenario = val.to_string(),
                "domain" => domain = val.to_string(),
                "sender" => sender = val.to_string(),
                "ip" => ip = val.to_string(),
                "expect" => {
                    let (res, exp) = val.split_once(' ').unwrap_or((val, ""));
                    let expected = parse_result(res);
                    let ipa: IpAddr = if ip.is_empty() {
                        "127.0.0.1".parse().unwrap()
                    } else {
                        ip.parse().unwrap()
                    };
                    let mut z = StaticResolver::default();
                    for ((n, _), rs) in &records {
                        for r in rs {
                            z.add(n, r.clone());
                        }
                    }
                    let resolver = |q: &Question| {
                        if q.name().contains("_dns_error.") {
                            Answer::TempFail("dns error".into())
                        } else {
                            mail_auth_core::dns::Resolve::resolve(&z, q)
                        }
                    };
                    // The "HELO identity" scenario checks `domain:`, the HELO name.
                    let v = if scenario == "HELO identity" {
                        Verifier::helo(ipa, &domain)
                    } else {
                        Verifier::mail_from(ipa, &domain, &sender)
                    };
                    let out = drive(v.receiver("localdomain.org"), &resolver);
                    let exp_ok = exp.is_empty() || out.explanation.as_deref() == Some(exp);
                    let id = format!("{file} [{scenario}] {domain} {sender} {ipa}");
                    if out.result == expected && exp_ok {
                        tally.passed += 1;
                    } else {
                        tally.failed.push(format!(
                            "{id}: expected {expected} {exp:?}, got {} {:?} ({:?})",
                            out.result, out.explanation, out.problem
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    println!(
        "  ({} of the failures are vectors that contradict RFC 7208, listed with reasons in \
         MAIL_AUTH_CONTRADICTS_RFC7208)",
        MAIL_AUTH_CONTRADICTS_RFC7208.len()
    );
    tally.report();
    assert_eq!(tally.passed + tally.failed.len(), 163);
    let unexpected: Vec<&String> = tally
        .failed
        .iter()
        .filter(|f| {
            !MAIL_AUTH_CONTRADICTS_RFC7208
                .iter()
                .any(|(id, _)| f.starts_with(&format!("{id}:")))
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}
