//! SMTP interop on loopback with real software:
//!
//! - swaks (Debian) against our `smtp-sink`: plaintext with PIPELINING and 8-bit content,
//!   STARTTLS with AUTH PLAIN, LOGIN and CRAM-MD5 (and a wrong password), implicit TLS, a
//!   PROXY v1 and v2 header. (swaks 20201014 has no BDAT; BDAT is exercised by our client
//!   against Postfix below.)
//! - our `smtp-send` against Postfix's `smtpd` (the peers' relay port: PIPELINING, CHUNKING
//!   so BDAT, 8BITMIME, STARTTLS; the submission port: STARTTLS required, AUTH PLAIN/LOGIN
//!   with alice/alicepw) and against Postfix's `/usr/sbin/smtp-sink`.
//! - Postfix's `smtp` client delivering to our `smtp-sink` on `SUT_SMTP_PORT` (the peers'
//!   Postfix relays every non-local domain there), with BODY=8BITMIME.
//!
//! swaks and Postfix come from `.ci/peers/install-peers.sh`; the Postfix tests need the peers
//! started by `.ci/test` (their ports come from `peers.env`). Every process a test starts
//! is stopped by PID.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop tests through `bash .ci/test`")
    })
}

/// Our `smtp-sink`, stopped (SIGTERM by PID, then reaped) on drop.
struct Sink {
    child: Child,
    port: u16,
    store: tempfile::TempDir,
}

impl Sink {
    fn start(listen: &str, extra: &[&str]) -> Self {
        let store = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-sink"))
            .args(["--listen", listen, "--hostname", "sink.example", "--store"])
            .arg(store.path())
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("smtp-sink said {line:?}"));
        Self { child, port, store }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The stored messages (content, envelope), in arrival order.
    fn messages(&self) -> Vec<(Vec<u8>, String)> {
        let mut out = Vec::new();
        for n in 1.. {
            let eml = self.store.path().join(format!("{n}.eml"));
            if !eml.exists() {
                // Numbers may skip one refused message; look one further.
                if !self.store.path().join(format!("{}.eml", n + 1)).exists() {
                    break;
                }
                continue;
            }
            let env = std::fs::read_to_string(self.store.path().join(format!("{n}.env"))).unwrap();
            out.push((std::fs::read(eml).unwrap(), env));
        }
        out
    }

    fn wait_for_messages(&self, n: usize, limit: Duration) -> Vec<(Vec<u8>, String)> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n || start.elapsed() > limit {
                return m;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn swaks(args: &[&str], body: &[u8]) -> Output {
    let mut child = Command::new("swaks")
        .args(args)
        .args(["--data", "-", "--timeout", "20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swaks is installed by .ci/peers/install-peers.sh");
    child.stdin.take().unwrap().write_all(body).unwrap();
    child.wait_with_output().unwrap()
}

fn transcript(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const EIGHT_BIT: &[u8] = "From: a@sender.test\r\nTo: b@example.org\r\nSubject: caf\u{e9}\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
na\u{ef}ve r\u{e9}sum\u{e9}\r\n.leading dot\r\n"
    .as_bytes();

#[test]
#[ignore = "interop: needs swaks (installed by .ci/peers/install-peers.sh)"]
fn swaks_plaintext_pipelining_8bit() {
    let sink = Sink::start("127.0.0.1:0", &[]);
    let o = swaks(
        &[
            "--server",
            &sink.addr(),
            "--from",
            "a@sender.test",
            "--to",
            "b@example.org,c@example.org",
            "--pipeline",
        ],
        EIGHT_BIT,
    );
    let t = transcript(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("250-PIPELINING") && t.contains("250-8BITMIME"),
        "{t}"
    );
    let m = sink.messages();
    assert_eq!(m.len(), 1, "{t}");
    // swaks ends the DATA with CRLF "." CRLF after the body's own CRLF: one empty line more.
    assert_eq!(m[0].0, [EIGHT_BIT, b"\r\n"].concat());
    assert!(
        m[0].1.starts_with("MAIL FROM:<a@sender.test>")
            && m[0]
                .1
                .ends_with("\nRCPT TO:<b@example.org>\nRCPT TO:<c@example.org>\n"),
        "{}",
        m[0].1
    );
}

#[test]
#[ignore = "interop: needs swaks (installed by .ci/peers/install-peers.sh)"]
fn swaks_starttls_auth_plain_login_cram() {
    let sink = Sink::start("127.0.0.1:0", &["--self-signed", "--user", "alice:alicepw"]);
    for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        let o = swaks(
            &[
                "--server",
                &sink.addr(),
                "-tls",
                "--auth",
                mech,
                "--auth-user",
                "alice",
                "--auth-password",
                "alicepw",
                "--from",
                "alice@sender.test",
                "--to",
                "b@example.org",
            ],
            b"Subject: auth\r\n\r\nhello\r\n",
        );
        let t = transcript(&o);
        assert!(o.status.success(), "{mech}: {t}");
        assert!(t.contains("235 2.7.0"), "{mech}: {t}");
    }
    // A wrong password: swaks exits 28 (AUTH error); never AUTH before TLS.
    let o = swaks(
        &[
            "--server",
            &sink.addr(),
            "-tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "nope",
            "--to",
            "b@example.org",
        ],
        b"Subject: x\r\n\r\nx\r\n",
    );
    assert_eq!(o.status.code(), Some(28), "{}", transcript(&o));
    assert!(transcript(&o).contains("535 5.7.8"));
    let o = swaks(
        &[
            "--server",
            &sink.addr(),
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "alicepw",
            "--to",
            "b@example.org",
        ],
        b"Subject: x\r\n\r\nx\r\n",
    );
    assert!(!o.status.success(), "{}", transcript(&o));
    assert_eq!(sink.messages().len(), 3);
}

#[test]
#[ignore = "interop: needs swaks (installed by .ci/peers/install-peers.sh)"]
fn swaks_implicit_tls() {
    let sink = Sink::start(
        "127.0.0.1:0",
        &["--self-signed", "--implicit-tls", "--user", "alice:alicepw"],
    );
    let o = swaks(
        &[
            "--server",
            &sink.addr(),
            "-tlsc",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "alicepw",
            "--to",
            "b@example.org",
        ],
        b"Subject: 465\r\n\r\nhello\r\n",
    );
    assert!(o.status.success(), "{}", transcript(&o));
    assert_eq!(sink.messages().len(), 1);
}

#[test]
#[ignore = "interop: needs swaks (installed by .ci/peers/install-peers.sh)"]
fn swaks_proxy_protocol_v1_v2() {
    let sink = Sink::start("127.0.0.1:0", &["--proxy-protocol"]);
    for version in ["1", "2"] {
        let o = swaks(
            &[
                "--server",
                &sink.addr(),
                "--proxy-version",
                version,
                "--proxy-family",
                if version == "1" { "TCP4" } else { "AF_INET" },
                "--proxy-source",
                "203.0.113.5",
                "--proxy-source-port",
                "40000",
                "--proxy-dest",
                "198.51.100.1",
                "--proxy-dest-port",
                "25",
                "--to",
                "b@example.org",
            ],
            b"Subject: proxied\r\n\r\nhello\r\n",
        );
        assert!(o.status.success(), "v{version}: {}", transcript(&o));
    }
    assert_eq!(sink.messages().len(), 2);
}

/// Reads from `stream` until `want` complete replies (final lines `NNN ` ) have arrived.
fn read_replies(stream: &mut std::net::TcpStream, want: usize) -> String {
    use std::io::Read as _;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let count = |b: &[u8]| {
        b.split(|&c| c == b'\n')
            .filter(|l| l.len() >= 4 && l[3] == b' ' && l[..3].iter().all(u8::is_ascii_digit))
            .count()
    };
    while count(&got) < want {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// swaks 20201014 cannot send BDAT, so this speaks RFC 3030 by hand over TCP: a pipelined
/// group MAIL/RCPT/BDAT/BDAT LAST (BINARYMIME: bare LF, NUL and a line "." inside chunks
/// are content, not framing), then a DATA transaction on the same connection.
#[test]
fn bdat_pipelined_by_hand_against_our_server() {
    use std::io::Write as _;
    let sink = Sink::start("127.0.0.1:0", &[]);
    let mut s = std::net::TcpStream::connect(sink.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let greeting = read_replies(&mut s, 1);
    assert!(greeting.starts_with("220 "), "{greeting}");
    s.write_all(b"EHLO bdat.example\r\n").unwrap();
    let ehlo = read_replies(&mut s, 1);
    assert!(
        ehlo.contains("250-CHUNKING") || ehlo.contains("250 CHUNKING"),
        "{ehlo}"
    );
    assert!(ehlo.contains("BINARYMIME"), "{ehlo}");
    let chunk1: &[u8] = b"Subject: bdat\r\n\r\nline one\n.\r\n\x00binary";
    let chunk2: &[u8] = b" tail\r\n";
    let mut wire =
        b"MAIL FROM:<a@sender.test> BODY=BINARYMIME\r\nRCPT TO:<b@example.org>\r\n".to_vec();
    wire.extend_from_slice(format!("BDAT {}\r\n", chunk1.len()).as_bytes());
    wire.extend_from_slice(chunk1);
    wire.extend_from_slice(format!("BDAT {} LAST\r\n", chunk2.len()).as_bytes());
    wire.extend_from_slice(chunk2);
    s.write_all(&wire).unwrap();
    let r = read_replies(&mut s, 4);
    let codes: Vec<&str> = r.lines().map(|l| &l[..3]).collect();
    assert_eq!(codes, ["250", "250", "250", "250"], "{r}");
    // BDAT 0 LAST after a chunk, and DATA in the next transaction.
    s.write_all(
        b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<c@example.org>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n",
    )
    .unwrap();
    let r = read_replies(&mut s, 4);
    assert!(r.lines().all(|l| l.starts_with("250")), "{r}");
    // BDAT without a transaction: 503, and the chunk is skipped, not read as commands.
    s.write_all(b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n").unwrap();
    let r = read_replies(&mut s, 2);
    assert!(r.starts_with("503 "), "{r}");
    assert!(r.lines().nth(1).unwrap().starts_with("250 "), "{r}");
    s.write_all(b"QUIT\r\n").unwrap();
    let r = read_replies(&mut s, 1);
    assert!(r.starts_with("221 "), "{r}");
    let m = sink.messages();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].0, [chunk1, chunk2].concat());
    assert!(m[0].1.contains("BODY=BINARYMIME"), "{}", m[0].1);
    assert_eq!(m[1].0, b"abc");
}

/// Our client against our server over TCP: BDAT chosen from the EHLO, 8-bit content and a
/// line-leading dot unchanged, and the same with DATA.
#[test]
fn smtp_send_to_our_sink_bdat_and_data() {
    let sink = Sink::start("127.0.0.1:0", &[]);
    let addr = sink.addr();
    for (extra, via) in [(&[][..], "BDAT"), (&["--no-chunking"][..], "DATA")] {
        let mut args = vec![
            "--server",
            addr.as_str(),
            "--from",
            "a@sender.test",
            "--to",
            "b@example.org",
        ];
        args.extend_from_slice(extra);
        let o = smtp_send(&args, EIGHT_BIT);
        let t = transcript(&o);
        assert!(o.status.success(), "{t}");
        assert!(t.contains(&format!("message sent via {via}")), "{t}");
    }
    let m = sink.messages();
    assert_eq!(m.len(), 2);
    for (content, env) in &m {
        assert_eq!(content, EIGHT_BIT);
        assert!(env.contains("BODY=8BITMIME"), "{env}");
    }
}

fn smtp_send(args: &[&str], message: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    child.wait_with_output().unwrap()
}

/// Waits until a file appears under `dir` (a Maildir `new/`) holding `needle`.
fn wait_for_file(dir: &Path, needle: &[u8], limit: Duration) -> Option<Vec<u8>> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if let Ok(b) = std::fs::read(e.path())
                    && memchr_find(&b, needle)
                {
                    return Some(b);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn smtp_send_to_postfix_relay_bdat_8bit_starttls() {
    let port = env("PF_RELAY_PORT");
    let dir = PathBuf::from(env("MAIL_PEERS_DIR"));
    let id = unique("relay");
    let mut msg = format!("Subject: {id}\r\nMessage-ID: <{id}@sender.test>\r\n").into_bytes();
    msg.extend_from_slice(EIGHT_BIT);
    let o = smtp_send(
        &[
            "--server",
            &format!("127.0.0.1:{port}"),
            "--from",
            "a@sender.test",
            "--to",
            "alice@pf.test",
            "--to",
            "nobody-at-all@pf.test",
            "--starttls",
            "required",
            "--pin-cert",
            &env("PEERS_CA"),
            "--server-name",
            "localhost",
        ],
        &msg,
    );
    let t = transcript(&o);
    assert!(o.status.success(), "{t}");
    // Postfix offers CHUNKING and 8BITMIME: the client used BDAT and BODY=8BITMIME.
    assert!(t.contains("250 2.0.0 Ok"), "{t}");
    assert!(t.contains("message sent via BDAT"), "{t}");
    let got = wait_for_file(
        &dir.join("mail/pf.test/alice/new"),
        id.as_bytes(),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|| panic!("no delivery to alice: {t}"));
    assert!(
        memchr_find(&got, "na\u{ef}ve".as_bytes()),
        "8-bit content kept"
    );
    assert!(memchr_find(&got, b"\n.leading dot"), "dot-stuffing undone");
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn smtp_send_to_postfix_submission_auth() {
    let port = env("PF_SUBMISSION_PORT");
    let dir = PathBuf::from(env("MAIL_PEERS_DIR"));
    let id = unique("submission");
    let msg = format!("Subject: {id}\r\n\r\nsubmitted\r\n");
    let base = [
        "--server".to_owned(),
        format!("127.0.0.1:{port}"),
        "--from".to_owned(),
        "alice@pf.test".to_owned(),
        "--to".to_owned(),
        "bob@pf.test".to_owned(),
        "--pin-cert".to_owned(),
        env("PEERS_CA"),
        "--server-name".to_owned(),
        "localhost".to_owned(),
        "--auth-user".to_owned(),
        "alice".to_owned(),
    ];
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend(["--auth-password", "alicepw"]);
    let o = smtp_send(&args, msg.as_bytes());
    let t = transcript(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("Authenticated(Plain)"), "{t}");
    assert!(
        wait_for_file(
            &dir.join("mail/pf.test/bob/new"),
            id.as_bytes(),
            Duration::from_secs(30)
        )
        .is_some(),
        "{t}"
    );
    // The wrong password: 535 from Postfix, exit 2, nothing sent.
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend(["--auth-password", "wrong"]);
    let o = smtp_send(&args, msg.as_bytes());
    assert_eq!(o.status.code(), Some(2), "{}", transcript(&o));
    assert!(transcript(&o).contains("535"), "{}", transcript(&o));
    // Without TLS the client refuses to send the password at all.
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend(["--auth-password", "alicepw", "--starttls", "never"]);
    let o = smtp_send(&args, msg.as_bytes());
    assert_eq!(o.status.code(), Some(2), "{}", transcript(&o));
    assert!(
        transcript(&o).contains("no usable AUTH mechanism"),
        "{}",
        transcript(&o)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
#[ignore = "interop: needs Postfix's /usr/sbin/smtp-sink (installed by .ci/peers/install-peers.sh)"]
fn smtp_send_to_postfix_smtp_sink() {
    let port = free_port();
    let mut child = Command::new("/usr/sbin/smtp-sink")
        .args(["-u", "nobody", &format!("127.0.0.1:{port}"), "16"])
        .spawn()
        .expect("postfix's smtp-sink");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "smtp-sink did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let results: Vec<(bool, Output)> = [&[][..], &["--no-pipelining"][..], &["--no-chunking"][..]]
        .iter()
        .map(|extra| {
            let mut args = vec![
                "--server".to_owned(),
                format!("127.0.0.1:{port}"),
                "--from".to_owned(),
                "a@sender.test".to_owned(),
                "--to".to_owned(),
                "b@example.org".to_owned(),
                "--to".to_owned(),
                "c@example.org".to_owned(),
                "--count".to_owned(),
                "3".to_owned(),
            ];
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = smtp_send(&a, EIGHT_BIT);
            (o.status.success(), o)
        })
        .collect();
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = child.wait();
    for (ok, o) in &results {
        assert!(ok, "{}", transcript(o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).matches("250").count(),
            6,
            "{}",
            transcript(o)
        );
    }
}

/// The tests that listen on the fixed `SUT_SMTP_PORT` take turns.
static SUT_PORT: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn postfix_delivers_to_our_server() {
    let _port = SUT_PORT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let sut = env("SUT_SMTP_PORT");
    let relay = env("PF_RELAY_PORT");
    let sink = Sink::start(&format!("127.0.0.1:{sut}"), &["--self-signed"]);
    let id = unique("postfix-to-sut");
    let mut msg = format!("Subject: {id}\r\n").into_bytes();
    msg.extend_from_slice(EIGHT_BIT);
    // Injected with our client (BODY=8BITMIME); Postfix queues it and its smtp client
    // relays it to us.
    let o = smtp_send(
        &[
            "--server",
            &format!("127.0.0.1:{relay}"),
            "--from",
            "a@sender.test",
            "--to",
            "carol@remote.test",
            "--to",
            "dave@remote.test",
        ],
        &msg,
    );
    assert!(o.status.success(), "{}", transcript(&o));
    let got = sink.wait_for_messages(1, Duration::from_mins(1));
    assert_eq!(got.len(), 1, "Postfix did not deliver to SUT_SMTP_PORT");
    let (content, env) = &got[0];
    assert!(memchr_find(content, id.as_bytes()));
    assert!(memchr_find(content, "na\u{ef}ve".as_bytes()), "8-bit kept");
    assert!(
        memchr_find(content, b"\r\n.leading dot\r\n"),
        "dot-stuffing undone"
    );
    assert!(
        memchr_find(content, b"Received: "),
        "Postfix added its trace"
    );
    assert!(env.contains("MAIL FROM:<a@sender.test>"), "{env}");
    assert!(env.contains("BODY=8BITMIME"), "{env}");
    assert!(env.contains("RCPT TO:<carol@remote.test>"), "{env}");
    assert!(env.contains("RCPT TO:<dave@remote.test>"), "{env}");
}

/// Waits until Postfix's log holds `needle`.
fn wait_for_log(needle: &str, limit: Duration) -> bool {
    let log = PathBuf::from(env("MAIL_PEERS_DIR")).join("postfix/postfix.log");
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::fs::read(&log).is_ok_and(|b| memchr_find(&b, needle.as_bytes())) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Our client sends XCLIENT, then (second message) XFORWARD, to Postfix's smtpd, which
/// trusts 127.0.0.1 for both (`smtpd_authorized_xclient_hosts`,
/// `smtpd_authorized_xforward_hosts` on the relay port): Postfix takes the forwarded name
/// and address for the client it writes in the Received header and logs.
#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn smtp_send_xclient_and_xforward_to_postfix() {
    let port = env("PF_RELAY_PORT");
    let dir = PathBuf::from(env("MAIL_PEERS_DIR"));
    let server = format!("127.0.0.1:{port}");
    let id = unique("xclient");
    let name = format!("{id}.xclient.test");
    let msg = format!("Subject: {id}\r\n\r\nvia XCLIENT\r\n");
    let o = smtp_send(
        &[
            "--server",
            &server,
            "--starttls",
            "never",
            "--from",
            "a@sender.test",
            "--to",
            "alice@pf.test",
            "--xclient",
            &format!("NAME={name}"),
            "--xclient",
            "ADDR=192.0.2.77",
            "--xclient",
            "HELO=helo.xclient.test",
        ],
        msg.as_bytes(),
    );
    let t = transcript(&o);
    assert!(o.status.success(), "{t}");
    let got = wait_for_file(
        &dir.join("mail/pf.test/alice/new"),
        id.as_bytes(),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|| panic!("no delivery to alice: {t}"));
    let text = String::from_utf8_lossy(&got);
    // Postfix's trace names the client XCLIENT told it about (the EHLO after XCLIENT is
    // the client's own, the HELO attribute is replaced by it).
    assert!(text.contains(&format!("({name} [192.0.2.77])")), "{text}");
    assert!(wait_for_log(
        &format!("client={name}[192.0.2.77]"),
        Duration::from_secs(10)
    ));

    let id = unique("xforward");
    let name = format!("{id}.xforward.test");
    let msg = format!("Subject: {id}\r\n\r\nvia XFORWARD\r\n");
    let o = smtp_send(
        &[
            "--server",
            &server,
            "--starttls",
            "never",
            "--from",
            "a@sender.test",
            "--to",
            "bob@pf.test",
            "--xforward",
            &format!("NAME={name}"),
            "--xforward",
            "ADDR=198.51.100.23",
            "--xforward",
            "PROTO=ESMTP",
            "--xforward",
            "HELO=helo.xforward.test",
        ],
        msg.as_bytes(),
    );
    let t = transcript(&o);
    assert!(o.status.success(), "{t}");
    let got = wait_for_file(
        &dir.join("mail/pf.test/bob/new"),
        id.as_bytes(),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|| panic!("no delivery to bob: {t}"));
    let text = String::from_utf8_lossy(&got);
    // XFORWARD changes what Postfix logs (and forwards), not its own trace header.
    assert!(
        wait_for_log(
            &format!("orig_client={name}[198.51.100.23]"),
            Duration::from_secs(10)
        ),
        "Postfix did not log the forwarded client: {text}"
    );
    assert!(text.contains("(localhost [127.0.0.1])"), "{text}");
}

/// Postfix's smtp client, relaying to our server (which announces XFORWARD), forwards the
/// original client's attributes: here the ones our client gave Postfix with XCLIENT (an
/// address inside Postfix's mynetworks, so it may relay). Our server session parses them
/// and the sink writes them into the envelope file.
#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn postfix_xforwards_to_our_server() {
    let _port = SUT_PORT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let sut = env("SUT_SMTP_PORT");
    let relay = env("PF_RELAY_PORT");
    let sink = Sink::start(&format!("127.0.0.1:{sut}"), &["--self-signed", "--xclient"]);
    let id = unique("pf-xforward");
    let name = format!("{id}.orig.test");
    let msg = format!("Subject: {id}\r\n\r\nforwarded\r\n");
    let o = smtp_send(
        &[
            "--server",
            &format!("127.0.0.1:{relay}"),
            "--starttls",
            "never",
            "--from",
            "a@sender.test",
            "--to",
            "erin@remote.test",
            "--xclient",
            &format!("NAME={name}"),
            "--xclient",
            "ADDR=127.0.0.77",
        ],
        msg.as_bytes(),
    );
    assert!(o.status.success(), "{}", transcript(&o));
    let got = sink.wait_for_messages(1, Duration::from_mins(1));
    assert_eq!(got.len(), 1, "Postfix did not deliver to SUT_SMTP_PORT");
    let (content, env) = &got[0];
    assert!(memchr_find(content, id.as_bytes()));
    assert!(env.contains(&format!("XFORWARD NAME={name}\n")), "{env}");
    assert!(env.contains("XFORWARD ADDR=127.0.0.77\n"), "{env}");
    assert!(env.contains("XFORWARD PROTO=ESMTP\n"), "{env}");
    // The client's own EHLO name after XCLIENT, the queue id, and (the address being in
    // Postfix's mynetworks) a local source: all seven attributes Postfix sends were parsed
    // and typed by our session (a bad one gets 501 and Postfix would have said so).
    assert!(env.contains("XFORWARD HELO=localhost\n"), "{env}");
    assert!(env.contains("XFORWARD IDENT="), "{env}");
    assert!(env.contains("XFORWARD PORT="), "{env}");
    assert!(env.contains("XFORWARD SOURCE=LOCAL\n"), "{env}");
    assert!(env.contains("RCPT TO:<erin@remote.test>"), "{env}");
}
