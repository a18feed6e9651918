//! Differential DKIM tests against real signers and verifiers: Debian's dkimpy
//! (`/usr/bin/python3`, `dknewkey`, `dkimsign`, and `dkim.verify` with an offline key dict)
//! and opendkim-tools (`opendkim-genkey`, `opendkim-testmsg`). Each verifies the other's
//! signatures, RSA and Ed25519, over every canonicalization pair. `.ci/install-deps`
//! installs the tools; this test fails (does not skip) when they are missing.
//!
//! opendkim-testmsg signs only rsa-sha1 and verifies only through the system resolver, so
//! its verifying half runs in a private mount namespace (`unshare -m`) whose
//! `/etc/resolv.conf` points at a small DNS responder this test runs on 127.0.23.53:53.

#![cfg(feature = "hickory")]

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Suite, read};
use mail_auth_core::dkim::canon::Canonicalization;
use mail_auth_core::dkim::verify::verify;
use mail_auth_core::dkim::{Reason, Signer, SigningKey, Status, VerifyOptions, VerifyOutput};
use mail_auth_core::dns::{Record, StaticResolver, drive, zone};

const NOW: u64 = 1_700_000_000;
const DOMAIN: &str = "sender.test";

const MESSAGE: &[u8] = b"From: Alice <alice@sender.test>\r\n\
To: Bob <bob@dc.test>\r\n\
Subject: differential  test\r\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
Message-ID: <diff-1@sender.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello Bob,  \r\n\
\r\n\
this  line has\tdouble spaces and a tab.\r\n\
Trailing whitespace follows   \r\n\
\r\n\
\r\n";

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("dkim-interop-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command, stdin: &[u8]) -> (bool, Vec<u8>, String) {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install with .ci/install-deps)"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// dkimpy verification of the topmost signature, with DNS from `keys` (name -> record).
const PY_VERIFY: &str = r#"
import sys, dkim
msg = open(sys.argv[1], "rb").read()
zone = {}
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    zone[(name + ".").encode()] = open(path, "rb").read().strip()
def dnsfunc(name, timeout=5):
    return zone.get(name)
try:
    ok = dkim.verify(msg, dnsfunc=dnsfunc)
except Exception as e:
    print("error", e)
    ok = False
print("pass" if ok else "fail")
sys.exit(0 if ok else 1)
"#;

fn dkimpy_verifies(tmp: &Tmp, signed: &[u8], keys: &[(&str, &Path)]) -> (bool, String) {
    let msg = tmp.path("to-verify.eml");
    std::fs::write(&msg, signed).unwrap();
    let script = tmp.path("verify.py");
    std::fs::write(&script, PY_VERIFY).unwrap();
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(&script).arg(&msg);
    for (name, path) in keys {
        cmd.arg(format!("{name}={}", path.display()));
    }
    let (ok, out, err) = run(&mut cmd, b"");
    (ok, format!("{}{err}", String::from_utf8_lossy(&out)))
}

/// Verifies at the real current time: the peers sign with the clock's time.
fn ours(signed: &[u8], zone: &StaticResolver, sha1: bool) -> VerifyOutput {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut opts = VerifyOptions::new(now.max(NOW));
    opts.dangerous_allow_sha1(sha1);
    drive(verify(signed, opts), zone)
}

fn describe(out: &VerifyOutput) -> String {
    format!(
        "{:?}",
        out.signatures
            .iter()
            .map(|s| (s.status, s.reason.clone()))
            .collect::<Vec<_>>()
    )
}

const CANONS: [(Canonicalization, Canonicalization); 4] = [
    (Canonicalization::Simple, Canonicalization::Simple),
    (Canonicalization::Simple, Canonicalization::Relaxed),
    (Canonicalization::Relaxed, Canonicalization::Simple),
    (Canonicalization::Relaxed, Canonicalization::Relaxed),
];

#[test]
#[ignore = "interop: needs dkimpy (python3-dkim) and opendkim-tools, installed by .ci/install-deps"]
fn dkimpy_both_directions() {
    let tmp = Tmp::new("dkimpy");
    let mut s = Suite::new("dkim-interop-dkimpy");
    for (sel, ktype, alg) in [
        ("pyrsa", "rsa", "rsa-sha256"),
        ("pyed", "ed25519", "ed25519-sha256"),
    ] {
        let (ok, _, err) = run(
            Command::new("dknewkey")
                .current_dir(&tmp.0)
                .args(["--ktype", ktype, sel]),
            b"",
        );
        assert!(ok, "dknewkey: {err}");
        let key_file = tmp.path(&format!("{sel}.key"));
        let dns_file = tmp.path(&format!("{sel}.dns"));
        let name = format!("{sel}._domainkey.{DOMAIN}");
        let mut zone = StaticResolver::default();
        zone.add(
            &name,
            Record::Txt(std::fs::read(&dns_file).unwrap().trim_ascii().to_vec()),
        );
        let key = SigningKey::from_bytes(&std::fs::read(&key_file).unwrap())
            .unwrap_or_else(|e| panic!("our reader refuses dknewkey's {ktype} key: {e}"));

        for (hc, bc) in CANONS {
            let case = format!("{ktype} {}/{}", hc.as_str(), bc.as_str());
            // We sign, dkimpy verifies.
            let mut signer = Signer::new(&key, DOMAIN, sel).unwrap();
            signer.canonicalization(hc, bc);
            let signed = [signer.sign(MESSAGE, NOW).unwrap().as_bytes(), MESSAGE].concat();
            let (ok, why) = dkimpy_verifies(&tmp, &signed, &[(&name, &dns_file)]);
            s.check(&format!("ours -> dkimpy: {case}"), ok, || why);
            // dkimpy signs, we verify.
            let (ok, sig, err) = run(
                Command::new("dkimsign")
                    .args([
                        "--hcanon",
                        hc.as_str(),
                        "--bcanon",
                        bc.as_str(),
                        "--signalg",
                        alg,
                    ])
                    .arg(sel)
                    .arg(DOMAIN)
                    .arg(&key_file),
                MESSAGE,
            );
            assert!(ok, "dkimsign: {err}");
            // dkimsign prints the signature field and then the message.
            let signed = sig;
            let out = ours(&signed, &zone, false);
            s.check(
                &format!("dkimpy -> ours: {case}"),
                out.signatures.len() == 1 && out.signatures[0].status == Status::Pass,
                || describe(&out),
            );
            // A changed body fails on both sides.
            let mut bad = signed.clone();
            bad.extend_from_slice(b"tampered\r\n");
            let out = ours(&bad, &zone, false);
            s.check(
                &format!("dkimpy -> ours, tampered: {case}"),
                out.signatures[0].reason == Some(Reason::BodyHashMismatch),
                || describe(&out),
            );
        }
    }
    let failed = s.finish();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// A DNS responder for TXT questions, enough for libresolv: answers from `records`,
/// NXDOMAIN otherwise. Stops when `stop` is set (polls every 100 ms).
fn dns_responder(sock: &UdpSocket, records: &HashMap<String, String>, stop: &AtomicBool) {
    use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
    use hickory_resolver::proto::rr::rdata::TXT;
    use hickory_resolver::proto::rr::{RData, Record as HRecord};
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let mut resp = Message::new();
        resp.set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(query.op_code())
            .set_recursion_desired(query.recursion_desired())
            .set_recursion_available(true)
            .set_authoritative(true);
        resp.add_queries(query.queries().to_vec());
        let mut found = false;
        for q in query.queries() {
            let name = q
                .name()
                .to_ascii()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if let Some(value) = records.get(&name) {
                let parts: Vec<String> = value
                    .as_bytes()
                    .chunks(255)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                resp.add_answer(HRecord::from_rdata(
                    q.name().clone(),
                    60,
                    RData::TXT(TXT::new(parts)),
                ));
                found = true;
            }
        }
        if !found {
            resp.set_response_code(ResponseCode::NXDomain);
        }
        if let Ok(bytes) = resp.to_vec() {
            let _ = sock.send_to(&bytes, peer);
        }
    }
}

#[test]
#[ignore = "interop: needs dkimpy (python3-dkim) and opendkim-tools, installed by .ci/install-deps"]
fn opendkim_both_directions() {
    let tmp = Tmp::new("opendkim");
    let mut s = Suite::new("dkim-interop-opendkim");
    let (ok, _, err) = run(
        Command::new("opendkim-genkey")
            .args(["-b", "2048", "-d", DOMAIN, "-s", "od", "-D"])
            .arg(&tmp.0),
        b"",
    );
    assert!(ok, "opendkim-genkey: {err}");
    let txt = std::fs::read_to_string(tmp.path("od.txt")).unwrap();
    let z = zone::parse(&txt, Some(DOMAIN)).unwrap_or_else(|e| panic!("od.txt: {e}"));
    let od_record = z.resolver;
    let private = std::fs::read(tmp.path("od.private")).unwrap();
    let key = SigningKey::from_bytes(&private).expect("we read opendkim-genkey's key");

    // opendkim signs (rsa-sha1 only); we verify with the opt-in, and refuse without it.
    let (ok, signed, err) = run(
        Command::new("opendkim-testmsg")
            .args(["-C", "-d", DOMAIN, "-s", "od", "-k"])
            .arg(tmp.path("od.private")),
        MESSAGE,
    );
    assert!(ok, "opendkim-testmsg sign: {err}");
    // opendkim-genkey publishes h=sha256, yet opendkim-testmsg signs rsa-sha1 with that
    // key: RFC 6376 §3.6.1 makes such a signature unacceptable, so we refuse it (dkimpy
    // ignores h=). With h= removed from the record, the signature verifies.
    let value: String = od_record_value(&txt);
    let mut no_h = StaticResolver::default();
    no_h.add(
        &format!("od._domainkey.{DOMAIN}"),
        Record::Txt(value.replace("h=sha256; ", "").into_bytes()),
    );
    let out = ours(&signed, &no_h, true);
    s.check(
        "opendkim (rsa-sha1) -> ours with rsa-sha1 allowed",
        out.signatures.len() == 1 && out.signatures[0].status == Status::Pass,
        || describe(&out),
    );
    let out = ours(&signed, &od_record, true);
    s.check(
        "opendkim (rsa-sha1) -> ours, key record h=sha256: refused",
        out.signatures[0].reason == Some(Reason::HashNotAllowed),
        || describe(&out),
    );
    let out = ours(&signed, &no_h, false);
    s.check(
        "opendkim (rsa-sha1) -> ours by default: policy",
        out.signatures[0].reason == Some(Reason::Sha1Disabled),
        || describe(&out),
    );
    // dkimpy agrees on opendkim's signature (a cross-check of the peers themselves).
    let dns_file = tmp.path("od.dns");
    std::fs::write(&dns_file, &value).unwrap();
    let (ok, why) = dkimpy_verifies(
        &tmp,
        &signed,
        &[(&format!("od._domainkey.{DOMAIN}"), &dns_file)],
    );
    s.check("opendkim (rsa-sha1) -> dkimpy", ok, || why);

    // We sign with opendkim's key (RSA and, with a corpus key, Ed25519); opendkim-testmsg
    // verifies through libresolv against our responder.
    let ed = SigningKey::from_bytes(&read("dkim/dkimpy/ed25519test.key")).unwrap();
    let ed_record = String::from_utf8(read("dkim/dkimpy/ed25519test.dns")).unwrap();
    let mut records = HashMap::new();
    records.insert(format!("od._domainkey.{DOMAIN}"), value.clone());
    records.insert(
        format!("ed._domainkey.{DOMAIN}"),
        ed_record.trim().to_string(),
    );
    let sock = match UdpSocket::bind("127.0.23.53:53") {
        Ok(s) => s,
        Err(e) => panic!("cannot bind the DNS responder on 127.0.23.53:53 (needs root): {e}"),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let responder = {
        let stop = stop.clone();
        std::thread::spawn(move || dns_responder(&sock, &records, &stop))
    };
    std::fs::write(
        tmp.path("resolv.conf"),
        "nameserver 127.0.23.53\noptions timeout:2 attempts:2\n",
    )
    .unwrap();
    for (sel, k, what) in [("od", &key, "rsa-sha256"), ("ed", &ed, "ed25519-sha256")] {
        for (hc, bc) in CANONS {
            let case = format!("ours {what} {}/{} -> opendkim", hc.as_str(), bc.as_str());
            let mut signer = Signer::new(k, DOMAIN, sel).unwrap();
            signer.canonicalization(hc, bc);
            let signed = [signer.sign(MESSAGE, NOW).unwrap().as_bytes(), MESSAGE].concat();
            let script = format!(
                "mount --bind {} /etc/resolv.conf && exec opendkim-testmsg -C",
                tmp.path("resolv.conf").display()
            );
            let (ok, out, err) = run(
                Command::new("unshare").args(["-m", "sh", "-c", &script]),
                &signed,
            );
            s.check(&case, ok, || {
                format!(
                    "rc!=0 stdout={} stderr={err}",
                    String::from_utf8_lossy(&out)
                )
            });
            // Negative control: opendkim must reject the same signature over a changed body.
            let mut bad = signed.clone();
            bad.extend_from_slice(b"tampered\r\n");
            let (ok, _, _) = run(
                Command::new("unshare").args(["-m", "sh", "-c", &script]),
                &bad,
            );
            s.check(&format!("{case}, tampered: rejected"), !ok, String::new);
        }
    }
    stop.store(true, Ordering::Relaxed);
    responder.join().unwrap();
    let failed = s.finish();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// The TXT value of opendkim-genkey's `od.txt` (its quoted strings concatenated).
fn od_record_value(txt: &str) -> String {
    let open = txt.find('(').unwrap();
    let close = txt.rfind(')').unwrap();
    txt[open..close].split('"').skip(1).step_by(2).collect()
}
