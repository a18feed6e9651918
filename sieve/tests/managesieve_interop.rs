//! Interop with real ManageSieve software (run by CI with `--include-ignored`):
//! Debian's `sieve-connect` and python `sievelib` as clients of our server (the tokio
//! adapter on 127.0.0.1, STARTTLS, PLAIN), and our client against Dovecot's ManageSieve
//! (`DC_SIEVE_PORT`, `PEERS_CA` from `.ci/test`; user alice/alicepw).
#![cfg(feature = "tokio")]

mod managesieve_util;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sieve::managesieve::client::Reply;
use sieve::managesieve::tokio::Client;
use sieve::managesieve::{ResponseCode, ScriptName, Status};
use smtp_proto::sasl::Credentials;

/// Runs a command with `stdin` as input; kills it (by its PID, via the child handle) if it
/// runs longer than 30 s.
fn run(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {cmd:?}: {e} (is it installed? see .ci/install-deps)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} timed out: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sieve_connect(server: &managesieve_util::TestServer, args: &[&str]) -> Output {
    let port = server.addr.port().to_string();
    let mut cmd = Command::new("sieve-connect");
    cmd.args([
        "--4",
        "--server",
        "localhost",
        "--port",
        &port,
        "--user",
        "alice",
        "--authmech",
        "PLAIN",
        "--passwordfd",
        "0",
        "--tlscafile",
    ])
    .arg(&server.cert_pem)
    .args(args)
    // No fallback to a cleartext session, whatever the environment says.
    .env_remove("SIEVECONNECT_INSECURE_CLEARTEXT_FALLBACK");
    let out = run(&mut cmd, "alicepw\n");
    println!(
        "sieve-connect {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn sieve_connect_against_our_server() {
    let server = managesieve_util::start();
    let dir = tempfile::tempdir().unwrap();
    let script = "require [\"fileinto\"];\nif header :contains \"subject\" \"[list]\" {\n  fileinto \"Lists\";\n}\n";
    let local = dir.path().join("lists.sieve");
    std::fs::write(&local, script).unwrap();
    let local_s = local.to_str().unwrap();

    let out = sieve_connect(
        &server,
        &[
            "--upload",
            "--localsieve",
            local_s,
            "--remotesieve",
            "lists",
        ],
    );
    assert!(out.status.success());
    let stored = server.user_dir("alice").join("lists.sieve");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), script);

    let out = sieve_connect(&server, &["--activate", "--remotesieve", "lists"]);
    assert!(out.status.success());
    assert!(server.user_dir("alice").join(".active").exists());

    let out = sieve_connect(&server, &["--list"]);
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("\"lists\" ACTIVE"), "{listing}");

    let back = dir.path().join("back.sieve");
    let out = sieve_connect(
        &server,
        &[
            "--download",
            "--remotesieve",
            "lists",
            "--localsieve",
            back.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&back).unwrap(), script);

    // An invalid script: the server refuses it, sieve-connect reports failure.
    let bad = dir.path().join("bad.sieve");
    std::fs::write(&bad, "fileinto \"x\";\n").unwrap();
    let out = sieve_connect(
        &server,
        &[
            "--upload",
            "--localsieve",
            bad.to_str().unwrap(),
            "--remotesieve",
            "bad",
        ],
    );
    assert!(!out.status.success());
    assert!(!server.user_dir("alice").join("bad.sieve").exists());

    // Deleting the active script is refused; after deactivating it works.
    let out = sieve_connect(&server, &["--delete", "--remotesieve", "lists"]);
    assert!(!out.status.success());
    let out = sieve_connect(&server, &["--deactivate"]);
    assert!(out.status.success());
    let out = sieve_connect(&server, &["--delete", "--remotesieve", "lists"]);
    assert!(out.status.success());
    assert!(!stored.exists());
}

const SIEVELIB_SCRIPT: &str = r#"
import sys
from sievelib.managesieve import Client

port = int(sys.argv[1])
c = Client("127.0.0.1", port, srvhostname="localhost")
assert c.connect("alice", "alicepw", starttls=True, authmech="PLAIN"), c.errmsg
print("implementation", c.get_implementation())
print("sieve", " ".join(c.get_sieve_capabilities()))
assert c.havespace("s1", 100)
script = 'require ["fileinto", "vacation"];\r\nif size :over 100K { fileinto "Big"; }\r\nvacation :days 7 "away";\r\n'
assert c.putscript("s1", script), c.errmsg
assert c.putscript("s2", "keep;\r\n"), c.errmsg
assert not c.putscript("bad", "if true {"), "invalid script accepted"
print("bad", c.errcode, c.errmsg)
assert c.checkscript("discard;\r\n"), c.errmsg
assert not c.checkscript('require "nonexistent";'), "unknown extension accepted"
assert c.setactive("s1"), c.errmsg
active, scripts = c.listscripts()
assert active == "s1" and scripts == ["s2"], (active, scripts)
# sievelib returns the script's lines joined with LF, without the last line end.
assert c.getscript("s1") == script.replace("\r\n", "\n").rstrip("\n"), repr(c.getscript("s1"))
assert not c.deletescript("s1"), "deleted the active script"
assert c.renamescript("s1", "main"), c.errmsg
active, scripts = c.listscripts()
assert active == "main", active
assert not c.renamescript("s2", "main"), "renamed over an existing script"
assert c.deletescript("s2"), c.errmsg
assert c.setactive(""), c.errmsg
assert c.deletescript("main"), c.errmsg
active, scripts = c.listscripts()
assert active is None and scripts == [], (active, scripts)
c.logout()
print("sievelib: all checks passed")
"#;

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn sievelib_against_our_server() {
    let server = managesieve_util::start();
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(SIEVELIB_SCRIPT)
        .arg(server.addr.port().to_string())
        // Python's default context trusts exactly our test certificate.
        .env("SSL_CERT_FILE", &server.cert_pem)
        .env_remove("SSL_CERT_DIR");
    let out = run(&mut cmd, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    assert!(stdout.contains("sievelib: all checks passed"));
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the interop tests through .ci/test"))
}

#[tokio::test]
#[ignore = "interop: needs the peers started by .ci/test"]
async fn our_client_against_dovecot() {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;

    let port: u16 = env("DC_SIEVE_PORT").parse().unwrap();
    let ca = env("PEERS_CA");
    // The peers' certificate is self-signed with CA:TRUE, which webpki refuses as a
    // server certificate; trust exactly that certificate instead.
    let cert = CertificateDer::pem_file_iter(&ca)
        .unwrap()
        .next()
        .expect("a certificate in PEERS_CA")
        .unwrap();
    let tls = managesieve_util::client_tls_pinned(cert);
    let mut c = Client::connect(("127.0.0.1", port), "localhost", tls)
        .await
        .unwrap();
    let caps = c.capabilities().clone();
    println!("dovecot greeting: {caps:?}");
    assert!(
        caps.implementation
            .as_deref()
            .unwrap_or("")
            .contains("Dovecot")
    );
    assert!(caps.starttls && caps.version.as_deref() == Some("1.0"));
    // Our client never sends a password before TLS, even though Dovecot here allows it.
    assert!(
        c.session()
            .authenticate(Credentials::password("alice", "alicepw"))
            .is_err()
    );
    assert!(c.starttls().await.unwrap().is_ok());
    assert!(!c.capabilities().starttls);
    let done = c
        .authenticate(Credentials::password("alice", "alicepw"))
        .await
        .unwrap();
    assert!(done.is_ok(), "{done:?}");

    let listing = c.list_scripts().await.unwrap();
    let Reply::Scripts(before) = listing.reply else {
        panic!("{listing:?}")
    };
    println!("alice's scripts: {before:?}");

    let name = ScriptName::new(format!("msieve-interop-{}", std::process::id())).unwrap();
    let renamed =
        ScriptName::new(format!("msieve-interop-{}-renamed", std::process::id())).unwrap();
    let script = b"require [\"fileinto\", \"imap4flags\"];\r\nif header :contains \"subject\" \"msieve\" {\r\n  addflag \"\\\\Seen\";\r\n  fileinto \"INBOX\";\r\n}\r\n";
    assert!(
        c.have_space(&name, script.len() as u32)
            .await
            .unwrap()
            .is_ok()
    );
    let put = c.put_script(&name, script).await.unwrap();
    assert!(put.is_ok(), "{put:?}");
    let bad = c.put_script(&name, b"if true {").await.unwrap();
    assert_eq!(bad.status.status, Status::No, "{bad:?}");
    println!("dovecot's error text: {:?}", bad.status.text);
    assert!(c.check_script(b"keep;").await.unwrap().is_ok());
    assert_eq!(
        c.check_script(b"require \"x-nonexistent\";")
            .await
            .unwrap()
            .status
            .status,
        Status::No
    );
    let got = c.get_script(&name).await.unwrap();
    assert_eq!(
        got.reply,
        Reply::Script(script.to_vec()),
        "the script survives the round trip"
    );
    assert!(c.rename_script(&name, &renamed).await.unwrap().is_ok());
    let missing = c.get_script(&name).await.unwrap();
    assert_eq!(
        missing.status.code,
        Some(ResponseCode::NonExistent),
        "{missing:?}"
    );
    // Re-activating the script that is already active changes nothing for other tests.
    if let Some(active) = before.iter().find(|e| e.active) {
        assert!(c.set_active(Some(&active.name)).await.unwrap().is_ok());
        let del = c.delete_script(&active.name).await.unwrap();
        assert_eq!(del.status.code, Some(ResponseCode::Active), "{del:?}");
    }
    assert!(c.delete_script(&renamed).await.unwrap().is_ok());
    let after = c.list_scripts().await.unwrap();
    assert_eq!(after.reply, Reply::Scripts(before));
    assert!(c.noop().await.unwrap().is_ok());
    assert!(c.logout().await.unwrap().is_ok());
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn openssl_s_client_starttls_sieve() {
    // MSIEVE-005: `openssl s_client -starttls sieve` reads the greeting, sends STARTTLS,
    // verifies our certificate, and then passes our post-TLS capabilities through.
    let server = managesieve_util::start();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect"])
        .arg(server.addr.to_string())
        .args([
            "-starttls",
            "sieve",
            "-verify_return_error",
            "-quiet",
            "-CAfile",
        ])
        .arg(&server.cert_pem)
        .args(["-verify_hostname", "localhost"]);
    let out = run(&mut cmd, "CAPABILITY\r\nLOGOUT\r\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("stdout: {stdout}\nstderr: {stderr}");
    assert!(out.status.success());
    // After TLS: the capabilities again (SASL now non-empty, no STARTTLS), then the
    // CAPABILITY answer and the LOGOUT answer.
    assert!(
        stdout.contains("\"SASL\" \"PLAIN LOGIN SCRAM-SHA-256\""),
        "{stdout}"
    );
    assert!(!stdout.contains("\"STARTTLS\""), "{stdout}");
    assert!(stdout.contains("OK \"Logout completed\""), "{stdout}");
    assert!(stderr.contains("verify return:1"), "{stderr}");
}
