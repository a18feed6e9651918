//! Every DKIM vector in tests/data/dkim (dkimpy, mail-auth, MimeKit, RFC 6376 and RFC 8463),
//! each suite printing `SUITE: N passed, M failed`. See tests/data/dkim/README.md for the
//! sources, licenses and pass criteria.

mod common;

use common::{LegacyRsa, Suite, add_records, crlf, read};
use mail_auth_core::dkim::canon::{self, Canonicalization};
use mail_auth_core::dkim::key::KeyRecordText;
use mail_auth_core::dkim::verify::verify;
use mail_auth_core::dkim::{
    Reason, Sign, SignError, Signer, SigningKey, Status, VerifyOptions, VerifyOutput,
};
use mail_auth_core::dns::{Record, StaticResolver, drive};

const NOW: u64 = 1_700_000_000;

fn run(msg: &[u8], zone: &StaticResolver, now: u64) -> VerifyOutput {
    drive(verify(msg, VerifyOptions::new(now)), zone)
}

fn describe(out: &VerifyOutput) -> String {
    out.signatures
        .iter()
        .map(|s| {
            format!(
                "{} ({})",
                s.status,
                s.reason
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn zone_from(file: &str) -> StaticResolver {
    let mut z = StaticResolver::default();
    add_records(&mut z, &String::from_utf8(read(file)).unwrap());
    z
}

fn all_pass(out: &VerifyOutput, n: usize) -> bool {
    out.signatures.len() == n && out.signatures.iter().all(|s| s.status == Status::Pass)
}

fn none_pass(out: &VerifyOutput) -> bool {
    !out.signatures.is_empty() && out.signatures.iter().all(|s| s.status != Status::Pass)
}

/// Replaces the record at `name`.
fn with_record(name: &str, record: &[u8]) -> StaticResolver {
    let mut z = StaticResolver::default();
    z.add(name, Record::Txt(record.trim_ascii().to_vec()));
    z
}

#[test]
fn dkimpy_vectors() {
    let mut s = Suite::new("dkim-dkimpy");
    let zone = zone_from("dkim/dkimpy/dns-records.txt");
    let d = |f: &str| read(&format!("dkim/dkimpy/{f}"));

    let out = run(&d("rfc6376.signed.msg"), &zone, NOW);
    s.check(
        "rfc6376.signed.msg: ed25519 + rsa pass",
        all_pass(&out, 2),
        || describe(&out),
    );

    let rsa_msg = d("rfc6376.signed.rsa.msg");
    let out = run(&rsa_msg, &zone, NOW);
    s.check("rfc6376.signed.rsa.msg pass", all_pass(&out, 1), || {
        describe(&out)
    });

    let key_name = "test._domainkey.football.example.com";
    for (file, what) in [
        ("test_bad.txt", "corrupted p= fails cleanly"),
        ("badversion.txt", "v=DKIM1: record refused"),
        ("badk.txt", "unknown k= refused"),
        ("test_tlsrpt.txt", "s=tlsrpt key not for mail"),
    ] {
        let out = run(&rsa_msg, &with_record(key_name, &d(file)), NOW);
        let ok = none_pass(&out) && out.signatures[0].status == Status::PermError;
        s.check(&format!("{file}: {what}"), ok, || describe(&out));
    }

    let out = run(&d("rfc6376.signed.no_t.msg"), &zone, NOW);
    s.check("rfc6376.signed.no_t.msg fails", none_pass(&out), || {
        describe(&out)
    });

    let out = run(&d("test2.message"), &zone, NOW);
    s.check(
        "test2.message (Gmail, degenerate folding) pass",
        all_pass(&out, 1),
        || describe(&out),
    );

    let out = run(&d("ed25519test2.msg"), &zone, NOW);
    s.check("ed25519test2.msg (Exim) pass", all_pass(&out, 1), || {
        describe(&out)
    });

    let out = run(&d("test.message.baddomain"), &zone, NOW);
    let ok = none_pass(&out) && matches!(out.signatures[0].reason, Some(Reason::Syntax(_)));
    s.check(
        "test.message.baddomain refused, never looked up",
        ok,
        || describe(&out),
    );

    // RFC 8032 7.1 key = RFC 8463 A.1 key.
    let k = SigningKey::from_bytes(&d("rfc8032_7_1.key")).unwrap();
    s.check(
        "rfc8032_7_1.key public half",
        k.public_key().record_data() == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        || k.public_key().record_data(),
    );

    // Key encodings: SPKI and PKCS#1 RSAPublicKey in p= both verify.
    let msg = crlf(&d("test.message"));
    let k1024 = LegacyRsa::from_pem(&d("1024_testkey.key"));
    let k2048 = SigningKey::from_bytes(&d("2048_testkey.key")).unwrap();
    let k2048p8 = SigningKey::from_bytes(&d("2048_testkey_PKCS8.key")).unwrap();
    let ked = SigningKey::from_bytes(&d("ed25519test.key")).unwrap();
    for (name, key, records) in [
        (
            "1024",
            &k1024 as &dyn Sign,
            vec![
                "1024_testkey_wo_markers.pub.txt",
                "1024_testkey_wo_markers.pub.rsa.txt",
            ],
        ),
        (
            "2048",
            &k2048,
            vec![
                "2048_testkey_wo_markers.pub.txt",
                "2048_testkey_wo_markers.pub.rsa.txt",
            ],
        ),
        (
            "2048 PKCS#8",
            &k2048p8,
            vec!["2048_testkey_PKCS8.key.pub.txt"],
        ),
        ("ed25519", &ked, vec!["ed25519test.dns"]),
    ] {
        let field = Signer::new(key, "example.com", "test")
            .unwrap()
            .sign(&msg, NOW)
            .unwrap();
        let signed = [field.as_bytes(), &msg].concat();
        for r in records {
            let out = run(
                &signed,
                &with_record("test._domainkey.example.com", &d(r)),
                NOW,
            );
            s.check(
                &format!("{name} key verifies with {r}"),
                all_pass(&out, 1),
                || describe(&out),
            );
        }
    }

    // Sign -> verify round trips, every canonicalization pair; altering the body fails.
    for file in [
        "test.message",
        "rfc6376.msg",
        "ed25519test.msg",
        "test_extra.message",
        "message.mbox",
        "rfc6376.w1258.msg",
    ] {
        let msg = d(file);
        for (hc, bc) in [
            (Canonicalization::Simple, Canonicalization::Simple),
            (Canonicalization::Simple, Canonicalization::Relaxed),
            (Canonicalization::Relaxed, Canonicalization::Simple),
            (Canonicalization::Relaxed, Canonicalization::Relaxed),
        ] {
            for (kname, key, rec) in [
                (
                    "rsa",
                    &k2048 as &dyn Sign,
                    d("2048_testkey_wo_markers.pub.txt"),
                ),
                ("ed25519", &ked, d("ed25519test.dns")),
            ] {
                let mut signer = Signer::new(key, "example.com", "test").unwrap();
                signer.canonicalization(hc, bc);
                let case = format!("{file} {kname} {}/{}", hc.as_str(), bc.as_str());
                let field = match signer.sign(&msg, NOW) {
                    Ok(f) => f,
                    Err(e) => {
                        s.check(&case, false, || e.to_string());
                        continue;
                    }
                };
                let zone = with_record("test._domainkey.example.com", &rec);
                let signed = [field.as_bytes(), &msg].concat();
                let out = run(&signed, &zone, NOW);
                // Ours is the topmost signature (message.mbox carries others of its own).
                s.check(
                    &format!("{case} verifies"),
                    out.signatures[0].status == Status::Pass,
                    || describe(&out),
                );
                let mut altered = signed.clone();
                altered.extend_from_slice(b"appended line\r\n");
                let out = run(&altered, &zone, NOW);
                let ok = out.signatures[0].reason == Some(Reason::BodyHashMismatch);
                s.check(&format!("{case} altered body fails"), ok, || describe(&out));
            }
        }
    }

    let err = Signer::new(&k2048, "example.com", "test")
        .unwrap()
        .sign(&d("test_nofrom.message"), NOW);
    s.check(
        "test_nofrom.message: signing refused",
        err == Err(SignError::NoFrom),
        || format!("{err:?}"),
    );

    // A second From added after signing: never passes.
    let field = Signer::new(&k2048, "example.com", "test")
        .unwrap()
        .sign(&msg, NOW)
        .unwrap();
    let two_from = [field.as_bytes(), b"From: evil@attacker.example\r\n", &msg].concat();
    let zone = with_record(
        "test._domainkey.example.com",
        &d("2048_testkey_wo_markers.pub.txt"),
    );
    let out = run(&two_from, &zone, NOW);
    s.check("two From fields do not verify", none_pass(&out), || {
        describe(&out)
    });

    let failed = s.finish();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn mail_auth_vectors() {
    let mut s = Suite::new("dkim-mail-auth");
    for n in 1..=6 {
        let file = format!("dkim/mail-auth/00{n}.txt");
        let raw = String::from_utf8(read(&file)).unwrap();
        let (records, msg) = raw.split_once("\n\n").unwrap();
        let mut zone = StaticResolver::default();
        add_records(&mut zone, records);
        let msg = crlf(msg.as_bytes());
        // The README pins "now" to 1667843664 for 005's x=1667930064; 004 was signed at
        // t=1667862801, five hours after that pin, and this verifier refuses timestamps
        // more than 300 s in the future (mail-auth does not check t=). A time after both
        // signing times and before 005's expiry passes them all.
        let out = run(&msg, &zone, 1_667_900_000);
        let n_sigs = out.signatures.len();
        s.check(&file, n_sigs > 0 && all_pass(&out, n_sigs), || {
            describe(&out)
        });
        if n == 4 {
            let out = run(&msg, &zone, 1_667_843_664);
            s.check(
                "004 at the README's pin: t= in the future",
                out.signatures[0].reason == Some(Reason::FutureTimestamp),
                || describe(&out),
            );
        }
        if n == 5 {
            let out = run(&msg, &zone, 1_667_930_064 + 301);
            s.check(
                "005 after x= (+ skew): expired",
                out.signatures[0].reason == Some(Reason::Expired),
                || describe(&out),
            );
        }
    }
    // The pass count is the number of messages; every signature of each must pass
    // (8 signatures in all).
    let failed = s.finish();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn mimekit_vectors() {
    let mut s = Suite::new("dkim-mimekit");
    let zone = zone_from("dkim/mimekit/dns-records.txt");
    for (file, n) in [
        ("gmail.msg", 1),
        ("related.msg", 1),
        ("multipart-no-end-boundary.msg", 1),
        ("rfc8463-example.msg", 2),
    ] {
        let out = run(&read(&format!("dkim/mimekit/{file}")), &zone, NOW);
        s.check(file, all_pass(&out, n), || describe(&out));
    }
    // The example.com key (t=s) from example.pem: sign and verify; a subdomain i= is
    // refused by t=s.
    let key = LegacyRsa::from_pem(&read("dkim/mimekit/example.pem"));
    let msg = read("dkim/mimekit/gmail.msg");
    let mut signer = Signer::new(&key, "example.com", "1433868189.example").unwrap();
    let field = signer.sign(&msg, NOW).unwrap();
    let out = run(&[field.as_bytes(), &msg].concat(), &zone, NOW);
    s.check(
        "example.pem signs, example.bind9 key verifies",
        out.signatures[0].status == Status::Pass,
        || describe(&out),
    );
    signer.identity("@sub.example.com").unwrap();
    let field = signer.sign(&msg, NOW).unwrap();
    let out = run(&[field.as_bytes(), &msg].concat(), &zone, NOW);
    s.check(
        "t=s refuses i= in a subdomain",
        out.signatures[0].reason == Some(Reason::StrictIdentity),
        || describe(&out),
    );
    let failed = s.finish();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// RFC text helpers: the zone snippet of RFC 8463 A.2 (`name. IN TXT ( "..." "..." )`).
fn rfc_zone(text: &str) -> StaticResolver {
    let mut zone = StaticResolver::default();
    let mut rest = text;
    while let Some(p) = rest.find("._domainkey.") {
        let start = rest[..p].rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let name = rest[start..].split_whitespace().next().unwrap();
        let open = rest[p..].find('(').unwrap() + p;
        let close = rest[open..].find(')').unwrap() + open;
        let value: String = rest[open..close].split('"').skip(1).step_by(2).collect();
        zone.add(name, Record::Txt(value.into_bytes()));
        rest = &rest[close..];
    }
    zone
}

fn rfc_message(text: &str, from: &str, until: &str) -> Vec<u8> {
    let start = text.find(from).unwrap();
    let end = text[start..].find(until).unwrap() + start;
    let mut msg = String::new();
    for line in text[start..end].lines() {
        msg.push_str(
            line.strip_prefix("   ")
                .unwrap_or_else(|| line.trim_start()),
        );
        msg.push_str("\r\n");
    }
    // The message ends after "Joe." and one empty line; drop the page's trailing lines.
    let trimmed = msg.trim_end_matches("\r\n").to_string() + "\r\n";
    trimmed.into_bytes()
}

/// `<SP>`/`<HTAB>`/`<CRLF>` notation of RFC 6376 §3.4.5 to bytes.
fn notation(s: &str) -> Vec<u8> {
    let compact: String = s.split_whitespace().collect();
    compact
        .replace("<SP>", " ")
        .replace("<HTAB>", "\t")
        .replace("<CRLF>", "\r\n")
        .into_bytes()
}

#[test]
fn rfc_vectors() {
    let mut s = Suite::new("dkim-rfc");
    let rfc8463 = String::from_utf8(read("dkim/rfc/rfc8463.txt")).unwrap();
    let a2 = &rfc8463[rfc8463.rfind("A.2.  Public Key DNS Records").unwrap()..];
    let zone = rfc_zone(&a2[..a2.find("A.3.").unwrap()]);
    let a3 = &rfc8463[rfc8463.rfind("A.3.  Signed Message").unwrap()..];
    let msg = rfc_message(a3, "DKIM-Signature:", "Author's Address");
    let out = run(&msg, &zone, NOW);
    s.check(
        "RFC 8463 A.3: ed25519-sha256 and rsa-sha256 pass",
        all_pass(&out, 2),
        || describe(&out),
    );
    // A.1 keys: the Ed25519 seed reproduces the A.2 record.
    let seed = SigningKey::from_bytes(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
    s.check(
        "RFC 8463 A.1 seed gives the A.2 p=",
        rfc8463.contains(&KeyRecordText::new(&seed.public_key()).to_string()),
        || seed.dns_record().to_string(),
    );

    // RFC 6376 §3.4.5 canonicalization examples 1-3, read from the RFC text.
    let rfc6376 = String::from_utf8(read("dkim/rfc/rfc6376.txt")).unwrap();
    let ex = &rfc6376[rfc6376.find("Example 1: A message reading:").unwrap()..];
    let block = |from: &str, to: &str| -> Vec<u8> {
        let a = ex.find(from).unwrap() + from.len();
        let b = ex[a..].find(to).unwrap() + a;
        notation(&ex[a..b])
    };
    let input = block("A message reading:", "when canonicalized");
    let (head, body) = {
        let p = input.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (&input[..p + 2], &input[p + 4..])
    };
    // Fields end at a CRLF not followed by WSP; the name ends at the first colon.
    let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < head.len() {
        if &head[i..i + 2] == b"\r\n" && !matches!(head.get(i + 2), Some(b' ' | b'\t')) {
            let f = &head[start..i];
            let colon = f.iter().position(|&b| b == b':').unwrap();
            fields.push((&f[..colon], &f[colon + 1..]));
            start = i + 2;
        }
        i += 1;
    }
    let canon_head = |c| {
        let mut out = Vec::new();
        for (n, v) in &fields {
            canon::header(c, n, v, &mut out);
        }
        out
    };
    let relaxed_head = block("results in a header reading:", "and a body reading:");
    let relaxed_body = block("and a body reading:", "Crocker");
    s.check(
        "§3.4.5 example 1 header",
        canon_head(Canonicalization::Relaxed) == relaxed_head,
        || {
            format!(
                "{:?}",
                String::from_utf8_lossy(&canon_head(Canonicalization::Relaxed))
            )
        },
    );
    s.check(
        "§3.4.5 example 1 body",
        canon::body(Canonicalization::Relaxed, body) == relaxed_body,
        || {
            format!(
                "{:?}",
                String::from_utf8_lossy(&canon::body(Canonicalization::Relaxed, body))
            )
        },
    );
    let ex2 = &ex[ex.find("Example 2").unwrap()..];
    let grab = |text: &str, from: &str, to: &str| -> Vec<u8> {
        let a = text.find(from).unwrap() + from.len();
        let b = text[a..].find(to).unwrap() + a;
        notation(&text[a..b])
    };
    let simple_head = grab(
        ex2,
        "results in a header\n   reading:",
        "and a body reading:",
    );
    let simple_body = grab(ex2, "and a body reading:", "Example 3");
    s.check(
        "§3.4.5 example 2 header",
        canon_head(Canonicalization::Simple) == simple_head,
        || {
            format!(
                "{:?}",
                String::from_utf8_lossy(&canon_head(Canonicalization::Simple))
            )
        },
    );
    s.check(
        "§3.4.5 example 2 body",
        canon::body(Canonicalization::Simple, body) == simple_body,
        || {
            format!(
                "{:?}",
                String::from_utf8_lossy(&canon::body(Canonicalization::Simple, body))
            )
        },
    );
    let ex3 = &ex[ex.find("Example 3").unwrap()..];
    let h3 = grab(ex3, "has a header\n   of:", "and a body reading:");
    let b3 = grab(ex3, "and a body reading:", "3.5.");
    s.check(
        "§3.4.5 example 3",
        canon_head(Canonicalization::Relaxed) == h3
            && canon::body(Canonicalization::Simple, body) == b3,
        String::new,
    );
    let failed = s.finish();
    assert!(failed.is_empty(), "{failed:#?}");
}
