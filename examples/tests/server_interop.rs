//! The server against real mail software on loopback (the peers `.ci/test` starts; see
//! `.ci/peers/README.md`): swaks and python smtplib deliver; python imaplib and imapclient,
//! mbsync and mutt read back; sieve-connect and python sievelib upload scripts that file
//! mail; Postfix relays to our MX and our MX refuses relaying; SPF/DKIM/DMARC against the
//! test zone on Knot; Dovecot and our server serve the same Maildir.
//!
//! Every test reads its ports and paths from the environment (`peers.env`) and fails when
//! they are missing.

mod server_common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use server_common::{BinServer, RawImap, RawSmtp, peer_env, run_tool};

const T: Duration = Duration::from_mins(1);

fn config(mx_port: u16) -> String {
    format!(
        r#"hostname = "mx.sut.test"
domains = ["sut.test"]
[listeners.mx]
service = "mx"
address = "127.0.0.1:{mx_port}"
tls = "starttls"
[listeners.submission]
service = "submission"
address = "127.0.0.1:0"
tls = "starttls"
[listeners.submissions]
service = "submission"
address = "127.0.0.1:0"
tls = "implicit"
[listeners.imap]
service = "imap"
address = "127.0.0.1:0"
tls = "starttls"
[listeners.imaps]
service = "imap"
address = "127.0.0.1:0"
tls = "implicit"
[listeners.managesieve]
service = "managesieve"
address = "127.0.0.1:0"
tls = "starttls"
[auth]
failure_delay = "100ms"
[limits]
exempt_networks = ["127.0.0.0/8"]
[checks]
dns_timeout = "1s"
dns_servers = ["127.0.0.1:{dns}"]
"#,
        dns = peer_env("DNS_PORT")
    )
}

const USERS: &[(&str, &str)] = &[("alice@sut.test", "alicepw"), ("bob@sut.test", "bobpw")];

fn start() -> BinServer {
    BinServer::start(&config(0), USERS, None)
}

fn cert(srv: &BinServer) -> String {
    srv.data_dir()
        .join("tls/cert.pem")
        .to_string_lossy()
        .into_owned()
}

fn port(srv: &BinServer, l: &str) -> String {
    srv.addr(l).port().to_string()
}

fn swaks(args: &[&str]) -> (bool, String) {
    let (ok, out, err) = run_tool(Command::new("swaks").args(args), "", T);
    (ok, format!("{out}{err}"))
}

fn python(script: &str) -> (bool, String, String) {
    run_tool(Command::new("python3").arg("-c").arg(script), "", T)
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn swaks_and_python_smtplib_deliver() {
    let srv = start();
    let (mx, sub, subs) = (
        port(&srv, "mx"),
        port(&srv, "submission"),
        port(&srv, "submissions"),
    );
    let ca = cert(&srv);
    // MX with STARTTLS, certificate verified.
    let (ok, out) = swaks(&[
        "--server",
        &format!("localhost:{mx}"),
        "--tls",
        "--tls-verify",
        "--tls-ca-path",
        &ca,
        "--from",
        "someone@example.net",
        "--to",
        "alice@sut.test",
        "--header",
        "Subject: swaks mx",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("<~  250 2.0.0 Ok: queued as"), "{out}");
    // Submission with STARTTLS + AUTH PLAIN, and implicit TLS + AUTH LOGIN.
    let (ok, out) = swaks(&[
        "--server",
        &format!("localhost:{sub}"),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@sut.test",
        "--auth-password",
        "bobpw",
        "--from",
        "bob@sut.test",
        "--to",
        "alice@sut.test",
        "--header",
        "Subject: swaks submission",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = swaks(&[
        "--server",
        &format!("localhost:{subs}"),
        "--tlsc",
        "--auth",
        "LOGIN",
        "--auth-user",
        "bob@sut.test",
        "--auth-password",
        "bobpw",
        "--from",
        "bob@sut.test",
        "--to",
        "alice@sut.test",
        "--header",
        "Subject: swaks submissions",
    ]);
    assert!(ok, "{out}");
    // A wrong password: swaks exits 28 with 535 5.7.8.
    let (ok, out) = swaks(&[
        "--server",
        &format!("localhost:{sub}"),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@sut.test",
        "--auth-password",
        "nope",
        "--from",
        "bob@sut.test",
        "--to",
        "alice@sut.test",
    ]);
    assert!(!ok && out.contains("535 5.7.8"), "{out}");
    // Pipelining and a relay attempt on the MX: refused at RCPT (swaks 24).
    let (ok, out) = swaks(&[
        "--server",
        &format!("127.0.0.1:{mx}"),
        "--pipeline",
        "--from",
        "x@example.net",
        "--to",
        "victim@elsewhere.example",
    ]);
    assert!(
        !ok && out.contains("554 5.7.1") && out.contains("Relay access denied"),
        "{out}"
    );
    // python smtplib: STARTTLS + login, and SMTP_SSL.
    let script = format!(
        r#"
import smtplib, ssl
from email.message import EmailMessage
ctx = ssl.create_default_context(cafile="{ca}")
def msg(s):
    m = EmailMessage(); m["From"] = "bob@sut.test"; m["To"] = "alice@sut.test"; m["Subject"] = s; m.set_content("hello from smtplib"); return m
with smtplib.SMTP("localhost", {sub}) as c:
    c.starttls(context=ctx); c.login("bob@sut.test", "bobpw"); assert c.send_message(msg("smtplib starttls")) == {{}}
with smtplib.SMTP_SSL("localhost", {subs}, context=ctx) as c:
    c.login("bob@sut.test", "bobpw"); assert c.send_message(msg("smtplib ssl")) == {{}}
print("ok")
"#
    );
    let (ok, out, err) = python(&script);
    assert!(ok && out.contains("ok"), "{out}{err}");
    let inbox = srv.messages("alice@sut.test", "INBOX");
    for s in [
        "swaks mx",
        "swaks submission",
        "swaks submissions",
        "smtplib starttls",
        "smtplib ssl",
    ] {
        assert!(
            inbox
                .iter()
                .any(|m| m.contains(&format!("Subject: {s}\r\n"))),
            "{s} missing"
        );
    }
    assert_eq!(inbox.len(), 5);
}

async fn deliver(mx: std::net::SocketAddr, to: &str, subject: &str) {
    let (mut c, _, _) = RawSmtp::connect(mx).await;
    c.cmd("EHLO client.example").await;
    let r = c
        .mail("s@example.net", &[to], &format!("From: Sender <s@example.net>\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nbody {subject}\r\n"))
        .await;
    assert_eq!(r.0, 250, "{r:?}");
    c.cmd("QUIT").await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "interop: needs the peers started by .ci/test"]
async fn imap_clients_read_back() {
    let srv = start();
    for s in ["first", "second", "third"] {
        deliver(srv.addr("mx"), "alice@sut.test", s).await;
    }
    let (imap, imaps, sub) = (
        port(&srv, "imap"),
        port(&srv, "imaps"),
        port(&srv, "submission"),
    );
    let ca = cert(&srv);
    // python imaplib over STARTTLS.
    let script = format!(
        r#"
import imaplib, ssl
c = imaplib.IMAP4("localhost", {imap})
c.starttls(ssl_context=ssl.create_default_context(cafile="{ca}"))
c.login("alice@sut.test", "alicepw")
typ, boxes = c.list(); assert typ == "OK"
assert any(b'\\Sent' in b and b'Sent' in b for b in boxes), boxes
typ, n = c.select("INBOX"); assert n == [b"3"], n
typ, data = c.fetch("1:3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subjects = sorted(d[1].decode().strip() for d in data if isinstance(d, tuple))
print(subjects)
assert subjects == ["Subject: first", "Subject: second", "Subject: third"], subjects
c.logout()
"#
    );
    let (ok, out, err) = tokio::task::spawn_blocking(move || python(&script))
        .await
        .unwrap();
    assert!(ok, "imaplib: {out}{err}");
    // imapclient over implicit TLS, with IDLE woken by a delivery.
    let mx = srv.addr("mx");
    let script = format!(
        r#"
import ssl, sys
from imapclient import IMAPClient
ctx = ssl.create_default_context(cafile="{ca}")
c = IMAPClient("localhost", port={imaps}, ssl=True, ssl_context=ctx)
c.login("alice@sut.test", "alicepw")
c.select_folder("INBOX")
env = c.fetch(c.search(["ALL"]), ["ENVELOPE", "FLAGS"])
assert sorted(m[b"ENVELOPE"].subject for m in env.values()) == [b"first", b"second", b"third"], env
c.idle()
print("idling", flush=True)
sys.stdout.flush()
got = []
for _ in range(100):
    got = c.idle_check(timeout=0.2)
    if got: break
c.idle_done()
print(got)
assert any(r[1] == b"EXISTS" for r in got), got
c.logout()
"#
    );
    let idle = tokio::task::spawn_blocking(move || python(&script));
    tokio::time::sleep(Duration::from_secs(2)).await;
    deliver(mx, "alice@sut.test", "during idle").await;
    let (ok, out, err) = idle.await.unwrap();
    assert!(ok, "imapclient: {out}{err}");
    // mbsync pulls everything into a local Maildir.
    let local = srv.dir.join("mbsync");
    std::fs::create_dir_all(&local).unwrap();
    let rc = srv.dir.join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount alice\nHost localhost\nPort {imap}\nUser alice@sut.test\nPass alicepw\nSSLType STARTTLS\nCertificateFile {ca}\nAuthMechs PLAIN\n\nIMAPStore alice-remote\nAccount alice\n\nMaildirStore alice-local\nPath {l}/\nInbox {l}/INBOX\nSubFolders Verbatim\n\nChannel alice\nFar :alice-remote:\nNear :alice-local:\nPatterns *\nCreate Both\nExpunge None\nSyncState *\n",
            l = local.display()
        ),
    )
    .unwrap();
    let rc2 = rc.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        run_tool(
            Command::new("mbsync")
                .arg("-c")
                .arg(&rc2)
                .arg("-V")
                .arg("alice"),
            "",
            T,
        )
    })
    .await
    .unwrap();
    assert!(ok, "mbsync: {out}{err}");
    let pulled = server_common::read_maildir(&local.join("INBOX"));
    assert_eq!(pulled.len(), 4, "mbsync: {out}{err}");
    assert!(
        local.join("Sent").is_dir() && local.join("Trash").is_dir(),
        "special-use folders pulled"
    );
    // mutt: batch send through submission, then an IMAP session (under a pty) that copies
    // every message into a new folder.
    let muttrc = srv.dir.join("muttrc");
    std::fs::write(
        &muttrc,
        format!(
            "set smtp_url = \"smtp://bob@sut.test@localhost:{sub}/\"\nset smtp_pass = \"bobpw\"\nset smtp_authenticators = \"plain\"\nset ssl_starttls = yes\nset ssl_force_tls = yes\nset certificate_file = \"{ca}\"\nset folder = \"imap://alice@sut.test@localhost:{imap}/\"\nset imap_user = \"alice@sut.test\"\nset imap_pass = \"alicepw\"\nset spoolfile = \"+INBOX\"\nset record = \"\"\nset from = \"bob@sut.test\"\nset use_from = yes\nset header_cache = \"\"\nset message_cachedir = \"\"\nset mail_check = 0\nset imap_keepalive = 0\nset timeout = 5\nset quit = yes\nset move = no\nset confirmcreate = no\nset confirmappend = no\nset wait_key = no\n"
        ),
    )
    .unwrap();
    let m2 = muttrc.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        run_tool(
            Command::new("mutt")
                .arg("-n")
                .arg("-F")
                .arg(&m2)
                .arg("-s")
                .arg("from mutt")
                .arg("alice@sut.test"),
            "body from mutt\n",
            T,
        )
    })
    .await
    .unwrap();
    assert!(ok, "mutt send: {out}{err}");
    let m3 = muttrc.clone();
    let dir = srv.dir.clone();
    let (_, out, err) = tokio::task::spawn_blocking(move || {
        run_tool(
            Command::new("timeout").arg("60").arg("script").arg("-qec").arg(format!(
                "mutt -n -F {} -f =INBOX -e 'push \"<tag-pattern>~A<enter><tag-prefix><copy-message>=MuttCopy<enter><quit>\"'",
                m3.display()
            )).arg("/dev/null").env("TERM", "xterm").current_dir(dir),
            "",
            Duration::from_secs(70),
        )
    })
    .await
    .unwrap();
    let copied = srv.messages("alice@sut.test", "MuttCopy");
    assert_eq!(copied.len(), 5, "mutt copied over IMAP: {out}{err}");
    assert!(copied.iter().any(|m| m.contains("Subject: from mutt")));
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn sieve_connect_uploads_a_script_that_files_mail() {
    let srv = start();
    let ca = cert(&srv);
    let script = srv.dir.join("lists.sieve");
    std::fs::write(&script, "require [\"fileinto\", \"mailbox\", \"imap4flags\"];\nif header :contains \"subject\" \"[list]\" {\n  fileinto :create :flags \"\\\\Flagged\" \"Lists\";\n}\n").unwrap();
    let sc = |args: &[&str]| {
        run_tool(
            Command::new("sieve-connect")
                .args([
                    "--4",
                    "--server",
                    "localhost",
                    "--port",
                    &port(&srv, "managesieve"),
                    "--user",
                    "alice@sut.test",
                    "--authmech",
                    "PLAIN",
                    "--passwordfd",
                    "0",
                    "--tlscafile",
                    &ca,
                ])
                .args(args)
                .env_remove("SIEVECONNECT_INSECURE_CLEARTEXT_FALLBACK"),
            "alicepw\n",
            T,
        )
    };
    let (ok, out, err) = sc(&[
        "--upload",
        "--localsieve",
        script.to_str().unwrap(),
        "--remotesieve",
        "lists",
    ]);
    assert!(ok, "upload: {out}{err}");
    let (ok, out, err) = sc(&["--activate", "--remotesieve", "lists"]);
    assert!(ok, "activate: {out}{err}");
    let (ok, out, err) = sc(&["--list"]);
    assert!(
        ok && out.contains("lists") && out.contains("ACTIVE"),
        "list: {out}{err}"
    );
    let active =
        std::fs::read_link(srv.data_dir().join("users/sut.test/alice/sieve/.active")).unwrap();
    assert_eq!(active, Path::new("lists.sieve"));
    let mx = port(&srv, "mx");
    for s in ["[list] weekly digest", "personal note"] {
        let (ok, out) = swaks(&[
            "--server",
            &format!("127.0.0.1:{mx}"),
            "--from",
            "list@example.net",
            "--to",
            "alice@sut.test",
            "--header",
            &format!("Subject: {s}"),
        ]);
        assert!(ok, "{out}");
    }
    let lists = srv.messages("alice@sut.test", "Lists");
    assert_eq!(lists.len(), 1);
    assert!(lists[0].contains("Subject: [list] weekly digest"));
    let inbox = srv.messages("alice@sut.test", "INBOX");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].contains("Subject: personal note"));
    // The flag went into the file name (F).
    let cur = srv
        .data_dir()
        .join("users/sut.test/alice/Maildir/.Lists/cur");
    let names: Vec<String> = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.contains(":2,F")), "{names:?}");
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn postfix_relays_to_our_mx_which_refuses_relaying() {
    let sut: u16 = peer_env("SUT_SMTP_PORT").parse().unwrap();
    let relay = peer_env("PF_RELAY_PORT");
    let srv = BinServer::start(&config(sut), USERS, None);
    let (ok, out) = swaks(&[
        "--server",
        &format!("127.0.0.1:{relay}"),
        "--from",
        "someone@pf.test",
        "--to",
        "alice@sut.test",
        "--header",
        "Subject: via postfix",
    ]);
    assert!(ok, "postfix refused: {out}");
    wait_for(
        || !srv.messages("alice@sut.test", "INBOX").is_empty(),
        "the message Postfix relays to our MX",
    );
    let m = &srv.messages("alice@sut.test", "INBOX")[0];
    assert!(m.contains("Subject: via postfix"), "{m}");
    // Postfix took our STARTTLS (smtp_tls_security_level = may).
    assert!(m.contains("with ESMTPS id"), "{m}");
    // Our MX is not an open relay.
    let (ok, out) = swaks(&[
        "--server",
        &format!("127.0.0.1:{sut}"),
        "--from",
        "someone@example.net",
        "--to",
        "bob@pf.test",
    ]);
    assert!(
        !ok && out.contains("554 5.7.1") && out.contains("Relay access denied"),
        "{out}"
    );
    // Unknown users are refused at RCPT, never bounced later.
    let (ok, out) = swaks(&[
        "--server",
        &format!("127.0.0.1:{sut}"),
        "--from",
        "someone@example.net",
        "--to",
        "nobody@sut.test",
    ]);
    assert!(!ok && out.contains("550 5.1.1"), "{out}");
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn spf_dkim_dmarc_against_the_test_zone() {
    let srv = start();
    let mx = port(&srv, "mx");
    let peers = peer_env("MAIL_PEERS_DIR");
    // SPF pass for sender.test from 127.0.0.1, aligned: DMARC pass.
    let (ok, out) = swaks(&[
        "--server",
        &format!("127.0.0.1:{mx}"),
        "--helo",
        "mx.sender.test",
        "--from",
        "a@sender.test",
        "--to",
        "alice@sut.test",
        "--header",
        "From: a@sender.test",
        "--header",
        "Subject: aligned",
    ]);
    assert!(ok, "{out}");
    // DKIM-signed by dkimpy with the zone's rsakey selector; envelope from pf.test: SPF
    // passes for pf.test (not aligned), DKIM is aligned: DMARC pass.
    let msg = "From: a@sender.test\r\nTo: alice@sut.test\r\nSubject: signed\r\nMessage-ID: <signed@sender.test>\r\n\r\nsigned body\r\n";
    let key = Path::new(&peers).join("dkim/rsakey.key");
    let script = format!(
        "import sys, dkim\nm = sys.stdin.buffer.read()\nk = open({key:?}, 'rb').read()\nsys.stdout.buffer.write(dkim.sign(m, b'rsakey', b'sender.test', k, include_headers=[b'from', b'to', b'subject', b'message-id']) + m)\n",
        key = key.to_string_lossy()
    );
    let (ok, signed, err) = run_tool(
        Command::new("/usr/bin/python3").arg("-c").arg(&script),
        msg,
        T,
    );
    assert!(ok, "dkimpy: {err}");
    let file = srv.dir.join("signed.eml");
    std::fs::write(&file, &signed).unwrap();
    let (ok, out) = swaks(&[
        "--server",
        &format!("127.0.0.1:{mx}"),
        "--from",
        "bounce@pf.test",
        "--to",
        "alice@sut.test",
        "--data",
        &format!("@{}", file.display()),
    ]);
    assert!(ok, "{out}");
    // From sender.test (p=reject) with neither aligned SPF nor DKIM: refused at end of data.
    let (ok, out) = swaks(&[
        "--server",
        &format!("127.0.0.1:{mx}"),
        "--from",
        "x@pf.test",
        "--to",
        "alice@sut.test",
        "--header",
        "From: a@sender.test",
        "--header",
        "Subject: forged",
    ]);
    assert!(
        !ok && out.contains("550 5.7.1") && out.contains("DMARC"),
        "{out}"
    );
    let inbox = srv.messages("alice@sut.test", "INBOX");
    assert_eq!(inbox.len(), 2, "{inbox:#?}");
    let aligned = inbox
        .iter()
        .find(|m| m.contains("Subject: aligned"))
        .unwrap();
    assert!(
        aligned.contains("spf=pass") && aligned.contains("dmarc=pass"),
        "{aligned}"
    );
    let signed = inbox
        .iter()
        .find(|m| m.contains("Subject: signed"))
        .unwrap();
    assert!(
        signed.contains("dkim=pass")
            && signed.contains("header.d=sender.test")
            && signed.contains("dmarc=pass"),
        "{signed}"
    );
}

/// IMAP `UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])` as (uid, subject, flags),
/// and the UIDVALIDITY.
async fn listing(
    addr: std::net::SocketAddr,
    user: &str,
    pw: &str,
) -> (String, Vec<(u32, String, String)>) {
    let (mut c, g) = RawImap::connect(addr).await;
    assert!(g.starts_with("* OK"), "{g}");
    let (_, done) = c.cmd(&format!("LOGIN {user} {pw}")).await;
    assert!(done.starts_with("OK"), "{done}");
    let (sel, _) = c.cmd("SELECT INBOX").await;
    let validity = sel
        .iter()
        .find_map(|l| l.strip_prefix("* OK [UIDVALIDITY "))
        .map(|v| v.split(']').next().unwrap_or("").to_string())
        .unwrap_or_default();
    let (f, _) = c
        .cmd("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    let mut out = Vec::new();
    for l in f {
        let uid: u32 = l
            .split("UID ")
            .nth(1)
            .and_then(|r| r.split([' ', ')']).next())
            .and_then(|u| u.parse().ok())
            .unwrap_or(0);
        let subject = l
            .split("Subject: ")
            .nth(1)
            .map(|s| s.lines().next().unwrap_or("").to_string())
            .unwrap_or_default();
        let flags = l
            .split("FLAGS (")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap_or("")
            .replace("\\Recent", "")
            .trim()
            .to_string();
        out.push((uid, subject, flags));
    }
    out.sort();
    c.cmd("LOGOUT").await;
    (validity, out)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "interop: needs the peers started by .ci/test"]
async fn dovecot_and_our_server_share_a_maildir() {
    let uid: u32 = peer_env("MAIL_UID").parse().unwrap();
    let dc_home = std::path::PathBuf::from(peer_env("DC_HOME_BASE")).join("alice");
    let dc_imap: std::net::SocketAddr = format!("127.0.0.1:{}", peer_env("DC_IMAP_PORT"))
        .parse()
        .unwrap();
    let lmtp = peer_env("DC_LMTP_PORT");
    // Our account alice@sut.test keeps its mail in Dovecot's alice Maildir; the server runs
    // as the mail user, as Dovecot's mail processes do.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let home = tmp.path().join("mail-data/users/sut.test/alice");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::symlink(dc_home.join("Maildir"), home.join("Maildir")).unwrap();
    // Dovecot creates its Maildir at the first login.
    let (_, before) = listing(dc_imap, "alice", "alicepw").await;
    // Subjects unique to this run (the peers' Maildir may hold earlier runs' mail).
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (s1, s2, s3) = (
        format!("ours-1-{run}"),
        format!("ours-2-{run}"),
        format!("dovecot-1-{run}"),
    );
    let srv = BinServer::start_in(tmp.path().to_path_buf(), &config(0), USERS, Some(uid));
    let ours = srv.addr("imap");
    deliver(srv.addr("mx"), "alice@sut.test", &s1).await;
    deliver(srv.addr("mx"), "alice@sut.test", &s2).await;
    let (v_dc, l_dc) = listing(dc_imap, "alice", "alicepw").await;
    let (v_us, l_us) = listing(ours, "alice@sut.test", "alicepw").await;
    assert_eq!(v_dc, v_us, "UIDVALIDITY differs");
    assert_eq!(
        l_dc, l_us,
        "Dovecot and we see different UIDs/subjects/flags"
    );
    assert_eq!(l_us.len(), before.len() + 2);
    // Dovecot flags a message; we see the flag on the same UID.
    let target = l_dc.iter().find(|(_, s, _)| *s == s1).unwrap().0;
    {
        let (mut c, _) = RawImap::connect(dc_imap).await;
        c.cmd("LOGIN alice alicepw").await;
        c.cmd("SELECT INBOX").await;
        let (_, done) = c
            .cmd(&format!("UID STORE {target} +FLAGS (\\Flagged)"))
            .await;
        assert!(done.starts_with("OK"), "{done}");
        c.cmd("LOGOUT").await;
    }
    // Dovecot delivers one (LMTP); we see it with the next UID.
    let subject3 = format!("Subject: {s3}");
    let (ok, out) = tokio::task::spawn_blocking(move || {
        swaks(&[
            "--server",
            &format!("127.0.0.1:{lmtp}"),
            "--protocol",
            "LMTP",
            "--from",
            "x@sender.test",
            "--to",
            "alice@dc.test",
            "--header",
            &subject3,
        ])
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    let (_, l_us) = listing(ours, "alice@sut.test", "alicepw").await;
    assert_eq!(l_us.len(), before.len() + 3, "{l_us:?}");
    assert!(
        l_us.iter()
            .any(|(u, s, f)| *u == target && *s == s1 && f.contains("\\Flagged")),
        "{l_us:?}"
    );
    let dc_msg = l_us
        .iter()
        .find(|(_, s, _)| *s == s3)
        .expect("Dovecot's delivery visible to us");
    assert!(l_us.iter().all(|(u, _, _)| *u <= dc_msg.0));
    // We mark it seen; Dovecot sees that on the same UID.
    {
        let (mut c, _) = RawImap::connect(ours).await;
        c.cmd("LOGIN alice@sut.test alicepw").await;
        c.cmd("SELECT INBOX").await;
        let (_, done) = c
            .cmd(&format!("UID STORE {} +FLAGS (\\Seen)", dc_msg.0))
            .await;
        assert!(done.starts_with("OK"), "{done}");
        c.cmd("LOGOUT").await;
    }
    let (_, l_dc) = listing(dc_imap, "alice", "alicepw").await;
    let (_, l_us) = listing(ours, "alice@sut.test", "alicepw").await;
    assert_eq!(l_dc, l_us);
    assert!(
        l_dc.iter()
            .any(|(u, _, f)| *u == dc_msg.0 && f.contains("\\Seen")),
        "{l_dc:?}"
    );
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn sievelib_uploads_a_script_that_files_mail() {
    let srv = start();
    let ca = cert(&srv);
    let ms = port(&srv, "managesieve");
    // python sievelib over STARTTLS (it verifies against the default store: SSL_CERT_FILE
    // points it at our certificate): a bad script is refused with the server's error, a
    // good one is checked, stored, read back, activated and listed.
    let script = format!(
        r#"
from sievelib.managesieve import Client
c = Client("localhost", {ms})
assert c.connect("bob@sut.test", "bobpw", starttls=True, authmech="PLAIN"), c.errmsg
assert "fileinto" in c.get_sieve_capabilities(), c.get_sieve_capabilities()
assert not c.checkscript('require "nonexistent-extension"; keep;')
print("refused:", c.errmsg)
good = 'require ["fileinto", "mailbox"];\r\nif header :contains "subject" "[archive]" {{\r\n  fileinto :create "Archive";\r\n}}\r\n'
assert c.checkscript(good), c.errmsg
assert c.havespace("archive", len(good)), c.errmsg
assert c.putscript("archive", good), c.errmsg
assert c.getscript("archive").splitlines() == good.splitlines(), c.getscript("archive")
assert c.setactive("archive"), c.errmsg
active, others = c.listscripts()
assert active == "archive", (active, others)
assert c.renamescript("archive", "archive2"), c.errmsg
active, others = c.listscripts()
assert active == "archive2" and others == [], (active, others)
c.logout()
print("ok")
"#
    );
    let (ok, out, err) = run_tool(
        Command::new("python3")
            .arg("-c")
            .arg(&script)
            .env("SSL_CERT_FILE", &ca),
        "",
        T,
    );
    assert!(ok && out.contains("ok"), "sievelib: {out}{err}");
    assert!(out.contains("refused: "), "{out}");
    let mx = port(&srv, "mx");
    for s in ["[archive] old thread", "fresh news"] {
        let (ok, out) = swaks(&[
            "--server",
            &format!("127.0.0.1:{mx}"),
            "--from",
            "list@example.net",
            "--to",
            "bob@sut.test",
            "--header",
            &format!("Subject: {s}"),
        ]);
        assert!(ok, "{out}");
    }
    let archive = srv.messages("bob@sut.test", "Archive");
    assert_eq!(archive.len(), 1);
    assert!(archive[0].contains("Subject: [archive] old thread"));
    let inbox = srv.messages("bob@sut.test", "INBOX");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].contains("Subject: fresh news"));
}
