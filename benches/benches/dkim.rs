//! DKIM, ours beside mail-auth 0.7.5 (ring build) on the same input:
//!
//! - `dkim/relaxed-body`: relaxed body canonicalization into a buffer.
//! - `dkim/verify`: one rsa-sha256 (2048-bit) or ed25519-sha256 signature, relaxed/relaxed,
//!   on a 4 KiB and a 1 MiB message, from raw bytes to the result (the key answer comes
//!   from memory: our zone, mail-auth's cache). `raw-ring` is the floor: one ring signature
//!   verification over the same signed header data plus SHA-256 of the whole message.
//! - `dkim/sign`: the same messages and keys, signing.
//!
//! `DKIM_PROFILE=<case>/<way>` runs one verification in a loop outside criterion (exact
//! instruction counts under callgrind, see `profile_loop`); `DKIM_INTERLEAVED=1` times the
//! verifications in alternating batches (see `interleaved`).
#![allow(missing_docs)]

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, ResolverCache, Txt};
use mail_auth_core::dkim::{Signer, SigningKey, Status, Verifier, VerifyOptions};
use mail_auth_core::dns::{Record, StaticResolver, drive};
use std::hint::black_box;

const NOW: u64 = 1_700_000_000;

/// A text body of about `size` bytes with the whitespace relaxed canonicalization rewrites:
/// runs of spaces and tabs, trailing whitespace, and empty lines at the end.
fn body(size: usize) -> Vec<u8> {
    let line = b"Lorem ipsum  dolor sit amet,\tconsectetur adipiscing elit, sed do eiusmod   \r\n";
    let mut out = Vec::with_capacity(size + line.len());
    while out.len() < size {
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// A realistic message: common header fields and plain text lines (single spaces, CRLF),
/// as mail mostly is.
fn message(size: usize) -> Vec<u8> {
    let mut m = b"Return-Path: <alice@example.org>\r\n\
Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n\tby mx.example.com with ESMTPS id 4Xyz\r\n\tfor <bob@example.com>; Tue, 14 Nov 2023 22:13:20 +0000\r\n\
From: Alice Example <alice@example.org>\r\n\
To: Bob Example <bob@example.com>\r\n\
Cc: Carol <carol@example.com>\r\n\
Subject: Quarterly report and the numbers we discussed\r\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
Message-ID: <20231114221320.12345@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    let lines: [&[u8]; 4] = [
        b"The quick brown fox jumps over the lazy dog, and then some more words follow.\r\n",
        b"Numbers for the quarter are attached; please review them before Friday.\r\n",
        b"\r\n",
        b"Best regards, and thanks again for all the help with the migration project.\r\n",
    ];
    let mut i = 0;
    while m.len() < size {
        m.extend_from_slice(lines[i % lines.len()]);
        i += 1;
    }
    m
}

fn relaxed_body(c: &mut Criterion) {
    let mut group = c.benchmark_group("dkim/relaxed-body");
    for (name, size) in [("4KiB", 4 << 10), ("1MiB", 1 << 20)] {
        for (kind, input) in [("whitespace", body(size)), ("text", message(size))] {
            let expected = mail_auth_core::dkim::canon::body(
                mail_auth_core::dkim::canon::Canonicalization::Relaxed,
                &input,
            );
            let mut theirs = Vec::new();
            mail_auth::dkim::Canonicalization::Relaxed
                .canonical_body(&input, 0)
                .write(&mut theirs);
            assert_eq!(expected, theirs, "both canonicalize the same way");
            group.throughput(Throughput::Bytes(input.len() as u64));
            let id = format!("{kind}-{name}");
            group.bench_with_input(BenchmarkId::new("ours", &id), &input, |b, input| {
                let mut out = Vec::with_capacity(input.len());
                b.iter(|| {
                    out.clear();
                    let mut canon = mail_auth_core::dkim::canon::BodyCanonicalizer::new(
                        mail_auth_core::dkim::canon::Canonicalization::Relaxed,
                    );
                    canon.update(black_box(input), &mut out);
                    canon.finish(&mut out);
                    black_box(out.len())
                });
            });
            group.bench_with_input(BenchmarkId::new("mail-auth", &id), &input, |b, input| {
                let mut out = Vec::with_capacity(input.len());
                b.iter(|| {
                    out.clear();
                    mail_auth::dkim::Canonicalization::Relaxed
                        .canonical_body(black_box(input), 0)
                        .write(&mut out);
                    black_box(out.len())
                });
            });
        }
    }
    group.finish();
}

/// mail-auth's TXT cache, filled before the run.
struct Cache(Mutex<HashMap<String, Txt>>);

impl ResolverCache<String, Txt> for Cache {
    fn get<Q>(&self, key: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(key).cloned()
    }
    fn remove<Q>(&self, key: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(key)
    }
    fn insert(&self, key: String, value: Txt, _: std::time::Instant) {
        self.0.lock().unwrap().insert(key, value);
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

struct Case {
    name: &'static str,
    ours: SigningKey,
    pkcs8: Vec<u8>,
    record: String,
}

fn keys() -> Vec<Case> {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mail-auth-core/tests/data/dkim/dkimpy/2048_testkey_PKCS8.key"
    ))
    .unwrap();
    let (_, rsa_der) = mail_auth_core::dkim::key::pem_decode(&pem).unwrap();
    let ed_der = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec();
    [("rsa2048", rsa_der), ("ed25519", ed_der)]
        .into_iter()
        .map(|(name, der)| {
            let ours = SigningKey::from_pkcs8_der(&der).unwrap();
            let record = ours.dns_record().value().to_string();
            Case {
                name,
                ours,
                pkcs8: der,
                record,
            }
        })
        .collect()
}

fn verify_and_sign(c: &mut Criterion) {
    let auth = MessageAuthenticator::new_cloudflare().unwrap();
    let cases = keys();
    let mut verify = c.benchmark_group("dkim/verify");
    for case in &cases {
        let key_name = "sel._domainkey.example.org";
        let mut zone = StaticResolver::default();
        zone.add(key_name, Record::Txt(case.record.clone().into_bytes()));
        let cache = Cache(Mutex::new(HashMap::new()));
        let domain_key =
            mail_auth::common::verify::DomainKey::parse(case.record.as_bytes()).unwrap();
        cache.insert(
            format!("{key_name}."),
            Txt::DomainKey(Arc::new(domain_key)),
            std::time::Instant::now() + std::time::Duration::from_hours(1),
        );
        for (size_name, size) in [("4KiB", 4 << 10), ("1MiB", 1 << 20)] {
            let msg = message(size);
            let field = Signer::new(&case.ours, "example.org", "sel")
                .unwrap()
                .sign(&msg, NOW)
                .unwrap();
            let signed = [field.as_bytes(), &msg].concat();
            // Both verifiers agree before anything is timed.
            let out = drive(
                {
                    let mut v = Verifier::new(VerifyOptions::new(NOW));
                    v.update(&signed);
                    v.finish()
                },
                &zone,
            );
            assert_eq!(out.signatures[0].status, Status::Pass);
            let parsed = AuthenticatedMessage::parse(&signed).unwrap();
            let theirs = run_ready(
                auth.verify_dkim(mail_auth::Parameters::new(&parsed).with_txt_cache(&cache)),
            );
            assert_eq!(theirs[0].result(), &DkimResult::Pass);

            // The floor: one ring verification over the signed header data, plus SHA-256
            // of the message.
            let (head_data, sig, alg_rsa) = raw_inputs(&signed, &case.ours);
            let public = case.ours.public_key();
            let rsa_der = public_der(&case.ours);

            let id = format!("{}-{size_name}", case.name);
            verify.throughput(Throughput::Bytes(signed.len() as u64));
            verify.bench_with_input(BenchmarkId::new("ours", &id), &signed, |b, m| {
                b.iter(|| {
                    let mut v = Verifier::new(VerifyOptions::new(NOW));
                    v.update(black_box(m));
                    let out = drive(v.finish(), &zone);
                    black_box(out.signatures.len())
                });
            });
            verify.bench_with_input(BenchmarkId::new("mail-auth", &id), &signed, |b, m| {
                b.iter(|| {
                    let parsed = AuthenticatedMessage::parse(black_box(m)).unwrap();
                    let out =
                        run_ready(auth.verify_dkim(
                            mail_auth::Parameters::new(&parsed).with_txt_cache(&cache),
                        ));
                    black_box(out.len())
                });
            });
            verify.bench_with_input(BenchmarkId::new("raw-ring", &id), &signed, |b, m| {
                b.iter(|| {
                    let h = ring::digest::digest(&ring::digest::SHA256, black_box(m));
                    let ok = if alg_rsa {
                        ring::signature::UnparsedPublicKey::new(
                            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                            &rsa_der,
                        )
                        .verify(&head_data, &sig)
                    } else {
                        let d = ring::digest::digest(&ring::digest::SHA256, &head_data);
                        ring::signature::UnparsedPublicKey::new(
                            &ring::signature::ED25519,
                            public_raw(&public),
                        )
                        .verify(d.as_ref(), &sig)
                    };
                    assert!(ok.is_ok());
                    black_box(h)
                });
            });
        }
    }
    verify.finish();

    let mut sign = c.benchmark_group("dkim/sign");
    for case in &cases {
        let theirs_rsa;
        let theirs_ed;
        let signer_theirs: &dyn Fn(&[u8]) -> usize = if case.name == "rsa2048" {
            // from_key_der() wants rustls-pki-types, which this package does not depend on.
            #[allow(deprecated)]
            let key = RsaKey::<Sha256>::from_pkcs8_der(&case.pkcs8).unwrap();
            theirs_rsa = mail_auth::dkim::DkimSigner::from_key(key)
                .domain("example.org")
                .selector("sel")
                .headers([
                    "From",
                    "To",
                    "Cc",
                    "Subject",
                    "Date",
                    "Message-ID",
                    "MIME-Version",
                    "Content-Type",
                ]);
            &|m: &[u8]| theirs_rsa.sign(m).unwrap().to_header().len()
        } else {
            theirs_ed = mail_auth::dkim::DkimSigner::from_key(
                Ed25519Key::from_pkcs8_der(&case.pkcs8).unwrap(),
            )
            .domain("example.org")
            .selector("sel")
            .headers([
                "From",
                "To",
                "Cc",
                "Subject",
                "Date",
                "Message-ID",
                "MIME-Version",
                "Content-Type",
            ]);
            &|m: &[u8]| theirs_ed.sign(m).unwrap().to_header().len()
        };
        let ours = Signer::new(&case.ours, "example.org", "sel").unwrap();
        for (size_name, size) in [("4KiB", 4 << 10), ("1MiB", 1 << 20)] {
            let msg = message(size);
            let id = format!("{}-{size_name}", case.name);
            sign.throughput(Throughput::Bytes(msg.len() as u64));
            sign.bench_with_input(BenchmarkId::new("ours", &id), &msg, |b, m| {
                b.iter(|| black_box(ours.sign(black_box(m), NOW).unwrap().len()));
            });
            sign.bench_with_input(BenchmarkId::new("mail-auth", &id), &msg, |b, m| {
                b.iter(|| black_box(signer_theirs(black_box(m))));
            });
        }
    }
    sign.finish();
}

/// The signed header data, signature and algorithm of the topmost DKIM-Signature, as a
/// verifier computes them (header fields selected, relaxed, b= blanked).
fn raw_inputs(signed: &[u8], key: &SigningKey) -> (Vec<u8>, Vec<u8>, bool) {
    use mail_auth_core::dkim::canon::{Canonicalization, header};
    let text = std::str::from_utf8(signed).unwrap();
    let head = &text[..text.find("\r\n\r\n").unwrap() + 2];
    let mut fields: Vec<(&str, &str)> = Vec::new();
    let mut start = 0;
    let bytes = head.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if &bytes[i..i + 2] == b"\r\n" && !matches!(bytes.get(i + 2), Some(b' ' | b'\t')) {
            let f = &head[start..i];
            let (n, v) = f.split_once(':').unwrap();
            fields.push((n, v));
            start = i + 2;
        }
        i += 1;
    }
    let (_, sig_value) = fields[0];
    let sig = mail_auth_core::dkim::Signature::parse(sig_value.as_bytes()).unwrap();
    let mut used = vec![false; fields.len()];
    used[0] = true;
    let mut data = Vec::new();
    for h in &sig.signed_headers {
        if let Some(j) = (0..fields.len())
            .rev()
            .find(|&j| !used[j] && fields[j].0.eq_ignore_ascii_case(h))
        {
            used[j] = true;
            header(
                Canonicalization::Relaxed,
                fields[j].0.as_bytes(),
                fields[j].1.as_bytes(),
                &mut data,
            );
        }
    }
    let b_at = sig_value.find(" b=").unwrap() + 3;
    // Our signer writes b= last: the blanked field is everything up to "b=".
    header(
        Canonicalization::Relaxed,
        b"DKIM-Signature",
        &sig_value.as_bytes()[..b_at],
        &mut data,
    );
    data.truncate(data.len() - 2);
    let is_rsa = key.key_type() == mail_auth_core::dkim::KeyType::Rsa;
    (data, sig.signature, is_rsa)
}

fn public_der(key: &SigningKey) -> Vec<u8> {
    // The record's p= is an SPKI; ring wants the PKCS#1 RSAPublicKey inside it: the SPKI
    // for a 2048-bit key has a fixed 24-octet prefix.
    let spki =
        mail_auth_core::dkim::tag::base64_value(key.public_key().record_data().as_bytes()).unwrap();
    if key.key_type() == mail_auth_core::dkim::KeyType::Rsa {
        spki[24..].to_vec()
    } else {
        spki
    }
}

fn public_raw(key: &mail_auth_core::dkim::PublicKey) -> Vec<u8> {
    mail_auth_core::dkim::tag::base64_value(key.record_data().as_bytes()).unwrap()
}

/// One verification case for the loops outside criterion.
struct VerifyFixture {
    id: String,
    signed: Vec<u8>,
    zone: StaticResolver,
    cache: Cache,
    head_data: Vec<u8>,
    sig: Vec<u8>,
    rsa: bool,
    rsa_der: Vec<u8>,
    ed_raw: Vec<u8>,
}

fn verify_fixtures() -> Vec<VerifyFixture> {
    let mut out = Vec::new();
    for case in keys() {
        let key_name = "sel._domainkey.example.org";
        let mut zone = StaticResolver::default();
        zone.add(key_name, Record::Txt(case.record.clone().into_bytes()));
        let cache = Cache(Mutex::new(HashMap::new()));
        let domain_key =
            mail_auth::common::verify::DomainKey::parse(case.record.as_bytes()).unwrap();
        cache.insert(
            format!("{key_name}."),
            Txt::DomainKey(Arc::new(domain_key)),
            std::time::Instant::now() + std::time::Duration::from_hours(1),
        );
        for (size_name, size) in [("4KiB", 4 << 10), ("1MiB", 1 << 20)] {
            let msg = message(size);
            let field = Signer::new(&case.ours, "example.org", "sel")
                .unwrap()
                .sign(&msg, NOW)
                .unwrap();
            let signed = [field.as_bytes(), &msg].concat();
            let (head_data, sig, rsa) = raw_inputs(&signed, &case.ours);
            out.push(VerifyFixture {
                id: format!("{}-{size_name}", case.name),
                zone,
                cache: Cache(Mutex::new(cache.0.lock().unwrap().clone())),
                head_data,
                sig,
                rsa,
                rsa_der: public_der(&case.ours),
                ed_raw: public_raw(&case.ours.public_key()),
                signed,
            });
            zone = StaticResolver::default();
            zone.add(key_name, Record::Txt(case.record.clone().into_bytes()));
        }
    }
    out
}

impl VerifyFixture {
    fn run(&self, way: &str) -> bool {
        match way {
            "ours" => {
                let mut v = Verifier::new(VerifyOptions::new(NOW));
                v.update(black_box(&self.signed));
                drive(v.finish(), &self.zone).signatures[0].status == Status::Pass
            }
            "mail-auth" => {
                static AUTH: std::sync::OnceLock<MessageAuthenticator> = std::sync::OnceLock::new();
                let auth = AUTH.get_or_init(|| MessageAuthenticator::new_cloudflare().unwrap());
                let parsed = AuthenticatedMessage::parse(black_box(&self.signed)).unwrap();
                run_ready(
                    auth.verify_dkim(
                        mail_auth::Parameters::new(&parsed).with_txt_cache(&self.cache),
                    ),
                )[0]
                .result()
                    == &DkimResult::Pass
            }
            "raw-ring" => {
                let h = ring::digest::digest(&ring::digest::SHA256, black_box(&self.signed));
                black_box(h);
                if self.rsa {
                    ring::signature::UnparsedPublicKey::new(
                        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                        &self.rsa_der,
                    )
                    .verify(&self.head_data, &self.sig)
                    .is_ok()
                } else {
                    let d = ring::digest::digest(&ring::digest::SHA256, &self.head_data);
                    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.ed_raw)
                        .verify(d.as_ref(), &self.sig)
                        .is_ok()
                }
            }
            "canon" => {
                // Relaxed body canonicalization alone, into a sink that drops the octets.
                struct Count(usize);
                impl mail_auth_core::dkim::canon::Sink for Count {
                    fn put(&mut self, bytes: &[u8]) {
                        self.0 += bytes.len();
                    }
                }
                let mut c = mail_auth_core::dkim::canon::BodyCanonicalizer::new(
                    mail_auth_core::dkim::canon::Canonicalization::Relaxed,
                );
                let mut n = Count(0);
                c.update(black_box(&self.signed), &mut n);
                c.finish(&mut n);
                black_box(n.0) > 0
            }
            "canon-hash" => {
                // Relaxed body canonicalization into SHA-256, without the rest of a
                // verification.
                let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
                let mut c = mail_auth_core::dkim::canon::BodyCanonicalizer::new(
                    mail_auth_core::dkim::canon::Canonicalization::Relaxed,
                );
                c.update(black_box(&self.signed), &mut ctx);
                c.finish(&mut ctx);
                black_box(ctx.finish());
                true
            }
            _ => panic!("DKIM_PROFILE way: ours, mail-auth, raw-ring, canon, canon-hash"),
        }
    }
}

/// Runs one verification `n` times outside criterion, for exact instruction counts:
/// `DKIM_PROFILE=rsa2048-1MiB/ours DKIM_PROFILE_N=10 valgrind --tool=callgrind
/// --toggle-collect='*profile_loop*' <bench binary>`.
#[inline(never)]
fn profile_loop(f: &VerifyFixture, way: &str, n: usize) -> usize {
    (0..n).filter(|_| f.run(way)).count()
}

/// Ours, mail-auth and raw ring in alternating short batches, so all see the same machine
/// load: the median time of each and the ratios.
fn interleaved() {
    use std::time::Instant;
    let ways = ["ours", "mail-auth", "raw-ring", "canon", "canon-hash"];
    println!("interleaved medians (alternating batches):");
    for f in verify_fixtures() {
        for way in ways {
            assert!(f.run(way), "{} {way}", f.id);
        }
        let (batch, rounds) = if f.signed.len() > 100_000 {
            (2_u32, 101)
        } else {
            (50, 101)
        };
        let mut times = vec![Vec::with_capacity(rounds); ways.len()];
        for _ in 0..rounds {
            for (i, way) in ways.iter().enumerate() {
                let t = Instant::now();
                black_box(profile_loop(&f, way, batch as usize));
                times[i].push(t.elapsed().as_secs_f64() * 1e9 / f64::from(batch));
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
            "dkim/verify/{}: ours {:.1} us, mail-auth {:.1} us, raw-ring {:.1} us, relaxed canon alone {:.1} us, canon into SHA-256 {:.1} us; ours/raw {:.2}x, mail-auth/ours {:.2}x",
            f.id,
            med[0] / 1e3,
            med[1] / 1e3,
            med[2] / 1e3,
            med[3] / 1e3,
            med[4] / 1e3,
            med[0] / med[2],
            med[1] / med[0]
        );
    }
}

criterion_group!(benches, relaxed_body, verify_and_sign);

fn main() {
    if std::env::var_os("DKIM_INTERLEAVED").is_some() {
        interleaved();
        return;
    }
    if let Ok(which) = std::env::var("DKIM_PROFILE") {
        let (id, way) = which.split_once('/').expect("DKIM_PROFILE=<case>/<way>");
        let n = std::env::var("DKIM_PROFILE_N").map_or(10, |n| n.parse().unwrap());
        let f = verify_fixtures()
            .into_iter()
            .find(|f| f.id == id)
            .expect("case: rsa2048-4KiB, rsa2048-1MiB, ed25519-4KiB, ed25519-1MiB");
        profile_loop(&f, way, 1);
        assert_eq!(profile_loop(&f, way, n), n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
