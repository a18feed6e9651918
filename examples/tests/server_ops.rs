//! Operations on the real binary: SIGHUP reloads the configuration, the users file and the
//! certificate without dropping sessions (a bad file keeps the running configuration), and
//! the log has one line per message and one per session (SRV- operations).

mod server_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use server_common::{BinServer, listeners};

/// Reads one SMTP reply: (code, all lines).
fn reply<R: BufRead>(r: &mut R) -> (u16, String) {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return (0, all);
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return (line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0), all);
        }
    }
}

fn cmd<S: Read + Write>(r: &mut BufReader<S>, line: &str) -> (u16, String) {
    r.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    r.get_mut().flush().unwrap();
    reply(r)
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(reply(&mut r).0, 220);
    r
}

/// Sends one message in an open session; returns the final reply.
fn send<S: Read + Write>(r: &mut BufReader<S>, to: &str, subject: &str) -> (u16, String) {
    assert_eq!(cmd(r, "MAIL FROM:<s@example.net>").0, 250);
    let rc = cmd(r, &format!("RCPT TO:<{to}>"));
    if rc.0 != 250 {
        cmd(r, "RSET");
        return rc;
    }
    assert_eq!(cmd(r, "DATA").0, 354);
    cmd(
        r,
        &format!("From: s@example.net\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nbody\r\n."),
    )
}

/// Whether STARTTLS on `addr` completes with a client trusting only `cert`.
fn starttls_trusting(addr: SocketAddr, cert: &Path) -> bool {
    let mut r = connect(addr);
    assert_eq!(cmd(&mut r, "EHLO tls.example").0, 250);
    assert_eq!(cmd(&mut r, "STARTTLS").0, 220);
    let tcp = r.into_inner();
    let conn = rustls::ClientConnection::new(
        server_common::client_tls(cert),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut t = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    if t.get_mut().write_all(b"EHLO tls.example\r\n").is_err() || t.get_mut().flush().is_err() {
        return false;
    }
    let ok = reply(&mut t).0 == 250;
    if ok {
        cmd(&mut t, "QUIT");
    }
    ok
}

fn hup(srv: &BinServer) {
    let st = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(srv.pid().to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits until the log has `n` lines containing `what`.
fn wait_log(srv: &BinServer, what: &str, n: usize) {
    let end = Instant::now() + Duration::from_secs(20);
    while srv.log_text().matches(what).count() < n {
        assert!(
            Instant::now() < end,
            "no {what:?} in the log: {}",
            srv.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The log lines whose event message is `msg` (the fmt layer writes `LEVEL msg k=v ...`).
fn events<'a>(log: &'a str, msg: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| {
            ["INFO ", "WARN ", "ERROR "].iter().any(|lvl| {
                l.split_once(lvl).is_some_and(|(_, rest)| {
                    rest.trim_start() == msg || rest.trim_start().starts_with(&format!("{msg} "))
                })
            })
        })
        .collect()
}

/// The value of `key=` in a log line, without quotes.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=");
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    if let Some(q) = rest.strip_prefix('"') {
        q.split('"').next()
    } else {
        rest.split(' ').next()
    }
}

fn ehlo_size(r: &mut BufReader<TcpStream>) -> u64 {
    let (code, text) = cmd(r, "EHLO size.example");
    assert_eq!(code, 250);
    text.lines()
        .find_map(|l| l.get(4..)?.strip_prefix("SIZE "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no SIZE in {text}"))
}

const BASE: &str = "[checks]\nspf = false\ndkim = false\ndmarc = false\narc = false\n[limits]\nexempt_networks = [\"127.0.0.0/8\"]\n";

#[test]
fn sighup_reloads_config_users_and_certificate_keeping_sessions() {
    let config = format!(
        "{}{BASE}max_message_size = \"100K\"\n",
        listeners(&[("mx", "mx", "starttls")])
    );
    let mut srv = BinServer::start(&config, &[("alice@localhost", "alicepw")], None);
    let mx = srv.addr("mx");
    let file = srv.dir.join("mail-server.toml");
    let cert = srv.data_dir().join("tls/cert.pem");
    let key = srv.data_dir().join("tls/key.pem");
    let old_cert = srv.dir.join("old-cert.pem");
    std::fs::copy(&cert, &old_cert).unwrap();

    // Before: no alias, no bob, SIZE 100K, the first certificate.
    let mut kept = connect(mx);
    assert_eq!(ehlo_size(&mut kept), 100 * 1024);
    assert_eq!(send(&mut kept, "sales@localhost", "x").0, 550);
    assert_eq!(send(&mut kept, "bob@localhost", "x").0, 550);
    assert!(starttls_trusting(mx, &old_cert));

    // The administrator edits the configuration, adds a user with the CLI and deletes the
    // generated certificate (a new one is made on reload); then SIGHUP.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"100K\"", "\"200K\"")
        + "[aliases]\n\"sales@localhost\" = [\"alice\"]\n";
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mail-server"))
        .arg("--config")
        .arg(&file)
        .args(["user", "add", "bob@localhost", "--password", "bobpw"])
        .args(["--scheme", "PLAIN"])
        .current_dir(&srv.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(&key).unwrap();
    hup(&srv);
    wait_log(
        &srv,
        "SIGHUP: configuration, users and certificate reloaded",
        1,
    );

    // The session opened before the reload goes on, under the new configuration.
    let (code, text) = send(&mut kept, "sales@localhost", "to sales");
    assert_eq!(code, 250, "{text}");
    let (code, text) = send(&mut kept, "bob@localhost", "to bob");
    assert_eq!(code, 250, "{text}");
    // (Its protocol limits were fixed when it opened; new sessions take the new ones.)
    let mut fresh = connect(mx);
    assert_eq!(ehlo_size(&mut fresh), 200 * 1024);
    cmd(&mut fresh, "QUIT");
    // A new certificate, served to new handshakes; the old one is no longer trusted.
    assert_ne!(
        std::fs::read(&cert).unwrap(),
        std::fs::read(&old_cert).unwrap()
    );
    assert!(starttls_trusting(mx, &cert));
    assert!(!starttls_trusting(mx, &old_cert));

    // A broken file: the reload fails with the line, the running configuration stays.
    let good = std::fs::read_to_string(&file).unwrap();
    let bad = good.replace("\"200K\"\n", "\"200K\"\nno_such_limit = 1\n");
    assert_ne!(bad, good);
    std::fs::write(&file, bad).unwrap();
    hup(&srv);
    wait_log(&srv, "SIGHUP: reload failed", 1);
    let failed = events(
        &srv.log_text(),
        "SIGHUP: reload failed, keeping the running configuration",
    )
    .first()
    .map(|l| (*l).to_string())
    .unwrap();
    // The error names the file, line and column, and the key.
    let line = good.lines().position(|l| l.contains("\"200K\"")).unwrap() + 2;
    assert!(
        failed.contains(&format!("mail-server.toml:{line}:")) && failed.contains("no_such_limit"),
        "{failed}"
    );
    let (code, text) = send(&mut kept, "sales@localhost", "after a bad reload");
    assert_eq!(code, 250, "{text}");
    cmd(&mut kept, "QUIT");
    let mut fresh = connect(mx);
    assert_eq!(ehlo_size(&mut fresh), 200 * 1024);
    cmd(&mut fresh, "QUIT");

    let inbox = srv.messages("alice@localhost", "INBOX");
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    assert_eq!(srv.messages("bob@localhost", "INBOX").len(), 1);
    assert!(srv.terminate(), "no exit after SIGTERM: {}", srv.log_text());
}

#[test]
fn the_log_has_one_line_per_message_and_per_session() {
    let config = format!(
        "{}{BASE}",
        listeners(&[("mx", "mx", "none"), ("imap", "imap", "none")])
    );
    let mut srv = BinServer::start(
        &config,
        &[("alice@localhost", "alicepw"), ("bob@localhost", "bobpw")],
        None,
    );
    let mx = srv.addr("mx");
    let mut ids = Vec::new();
    // Session 1: two messages (one to two recipients) and a refused recipient.
    let mut r = connect(mx);
    assert_eq!(cmd(&mut r, "EHLO one.example").0, 250);
    let (code, text) = send(&mut r, "alice@localhost", "first");
    assert_eq!(code, 250);
    ids.push(text.trim().rsplit(' ').next().unwrap().to_string());
    assert_eq!(cmd(&mut r, "MAIL FROM:<s@example.net>").0, 250);
    assert_eq!(cmd(&mut r, "RCPT TO:<alice@localhost>").0, 250);
    assert_eq!(cmd(&mut r, "RCPT TO:<bob@localhost>").0, 250);
    assert_eq!(cmd(&mut r, "RCPT TO:<nobody@localhost>").0, 550);
    assert_eq!(cmd(&mut r, "DATA").0, 354);
    let (code, text) = cmd(&mut r, "Subject: second\r\n\r\nbody\r\n.");
    assert_eq!(code, 250);
    ids.push(text.trim().rsplit(' ').next().unwrap().to_string());
    cmd(&mut r, "QUIT");
    // Session 2: only a refused recipient (no message).
    let mut r = connect(mx);
    assert_eq!(cmd(&mut r, "EHLO two.example").0, 250);
    assert_eq!(send(&mut r, "nobody@localhost", "x").0, 550);
    cmd(&mut r, "QUIT");
    // Session 3: dropped without QUIT.
    drop(connect(mx));
    // Session 4: IMAP, logged in.
    let s = TcpStream::connect(srv.addr("imap")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut i = BufReader::new(s);
    let mut line = String::new();
    i.read_line(&mut line).unwrap();
    assert!(line.starts_with("* OK"), "{line}");
    i.get_mut()
        .write_all(b"a LOGIN alice@localhost alicepw\r\nb LOGOUT\r\n")
        .unwrap();
    let mut transcript = String::new();
    while !transcript.contains("b OK") {
        line.clear();
        assert!(i.read_line(&mut line).unwrap() > 0, "{transcript}");
        transcript.push_str(&line);
    }
    assert!(transcript.contains("a OK"), "{transcript}");
    // Everything is logged by the time the server has shut down.
    let stopped = srv.terminate();
    assert!(stopped);
    let log = srv.log_text();

    let messages = events(&log, "message");
    assert_eq!(messages.len(), 2, "{log}");
    for (line, id) in messages.iter().zip(&ids) {
        assert_eq!(field(line, "id"), Some(id.as_str()), "{line}");
        assert_eq!(field(line, "status"), Some("accepted"), "{line}");
        assert!(field(line, "session").is_some() && field(line, "size").is_some());
    }
    assert_eq!(field(messages[0], "nrcpt"), Some("1"));
    assert_eq!(field(messages[1], "nrcpt"), Some("2"));
    // One delivery line per recipient, tied to its message by id.
    let deliveries = events(&log, "delivery");
    assert_eq!(deliveries.len(), 3, "{log}");
    assert_eq!(
        deliveries
            .iter()
            .filter(|l| field(l, "id") == Some(ids[1].as_str()))
            .count(),
        2
    );
    let sessions = events(&log, "session end");
    assert_eq!(sessions.len(), 4, "{log}");
    let mx_sessions: Vec<_> = sessions
        .iter()
        .filter(|l| field(l, "service") == Some("mx"))
        .collect();
    assert_eq!(mx_sessions.len(), 3, "{log}");
    let with = |n: &str| {
        mx_sessions
            .iter()
            .filter(|l| field(l, "messages") == Some(n))
            .count()
    };
    assert_eq!((with("2"), with("0")), (1, 2), "{log}");
    assert_eq!(
        mx_sessions
            .iter()
            .map(|l| field(l, "refused_rcpts").unwrap_or("?"))
            .filter(|n| *n == "1")
            .count(),
        2,
        "{log}"
    );
    let imap: Vec<_> = sessions
        .iter()
        .filter(|l| field(l, "service") == Some("imap"))
        .collect();
    assert_eq!(imap.len(), 1);
    assert_eq!(
        field(imap[0], "user"),
        Some("alice@localhost"),
        "{}",
        imap[0]
    );
    // Every session line names its session and client; the ids are distinct.
    let mut sids: Vec<_> = sessions
        .iter()
        .map(|l| field(l, "session").unwrap())
        .collect();
    sids.sort_unstable();
    sids.dedup();
    assert_eq!(sids.len(), 4);
    assert!(sessions.iter().all(|l| field(l, "client").is_some()));
}
