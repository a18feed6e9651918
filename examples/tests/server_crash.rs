//! Crash safety: the server is killed with SIGKILL in the middle of a burst of deliveries,
//! several times; every message it acknowledged with 250 must be in the Maildir, complete,
//! and no partial file may be visible in `new/` or `cur/` (SRV-044, MD-001).

mod server_common;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use server_common::{BinServer, listeners};

const CLIENTS: usize = 4;
const ROUNDS: usize = 4;

fn reply(r: &mut BufReader<TcpStream>) -> Option<u16> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.get(..3)?.parse().ok();
        }
    }
}

fn cmd(r: &mut BufReader<TcpStream>, line: &str) -> Option<u16> {
    r.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .ok()?;
    reply(r)
}

/// The body of message `id`: large enough that a write can be cut in the middle.
fn body(id: &str) -> String {
    let mut b = format!("Message-ID: <{id}@crash.test>\r\nSubject: {id}\r\n\r\n");
    for i in 0..200 {
        let _ = write!(
            b,
            "{id} line {i:04} ................................................\r\n"
        );
    }
    let _ = write!(b, "END {id}\r\n");
    b
}

/// Sends messages until the server goes away; returns the ids acknowledged with 250.
fn burst(addr: SocketAddr, client: usize, round: usize, stop: &AtomicBool) -> Vec<String> {
    let mut acked = Vec::new();
    let Ok(s) = TcpStream::connect(addr) else {
        return acked;
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s);
    if reply(&mut r) != Some(220) || cmd(&mut r, "EHLO crash.test") != Some(250) {
        return acked;
    }
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let id = format!("r{round}c{client}n{n}");
        if cmd(&mut r, "MAIL FROM:<load@crash.test>") != Some(250)
            || cmd(&mut r, "RCPT TO:<alice@localhost>") != Some(250)
            || cmd(&mut r, "DATA") != Some(354)
        {
            break;
        }
        if r.get_mut()
            .write_all(format!("{}.\r\n", body(&id)).as_bytes())
            .is_err()
        {
            break;
        }
        match reply(&mut r) {
            Some(250) => acked.push(id),
            _ => break,
        }
    }
    acked
}

#[test]
fn kill9_during_a_burst_loses_no_acknowledged_message() {
    let config = format!(
        "{}[checks]\nspf = false\ndkim = false\ndmarc = false\narc = false\n[limits]\nexempt_networks = [\"127.0.0.0/8\"]\n",
        listeners(&[("mx", "mx", "none")])
    );
    let mut srv = BinServer::start(&config, &[("alice@localhost", "x")], None);
    let mut rng = rand::rng();
    let mut all_acked: Vec<String> = Vec::new();
    let mut kills = 0;
    for round in 0..ROUNDS {
        let addr = srv.addr("mx");
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let stop = Arc::clone(&stop);
                let acked = Arc::clone(&acked);
                std::thread::spawn(move || {
                    let ids = burst(addr, c, round, &stop);
                    acked.lock().unwrap().extend(ids);
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1200)));
        srv.kill9();
        kills += 1;
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        all_acked.extend(acked.lock().unwrap().drain(..));
        srv.restart(None);
    }
    // Every acknowledged message is there, complete; every visible file is complete.
    let files = srv.messages("alice@localhost", "INBOX");
    let mut found = std::collections::HashMap::new();
    for f in &files {
        let id = f
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_else(|| {
                panic!(
                    "a visible message without its header: {:?}",
                    &f[..f.len().min(200)]
                )
            })
            .to_string();
        assert!(
            f.ends_with(&format!("END {id}\r\n")),
            "partial message {id} visible in the Maildir"
        );
        assert!(f.contains(&body(&id)), "message {id} altered");
        *found.entry(id).or_insert(0) += 1;
    }
    let lost: Vec<&String> = all_acked
        .iter()
        .filter(|id| !found.contains_key(*id))
        .collect();
    eprintln!(
        "kill -9: {kills} kills in {ROUNDS} rounds, {CLIENTS} clients: {} messages acknowledged, {} files in the Maildir, {} lost, {} stored but not acknowledged",
        all_acked.len(),
        files.len(),
        lost.len(),
        found.len().saturating_sub(all_acked.len())
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(
        !all_acked.is_empty(),
        "the burst delivered nothing before the kills"
    );
    srv.terminate();
}

#[test]
fn sigterm_lets_the_message_in_flight_finish() {
    let config = format!(
        "{}[checks]\nspf = false\ndkim = false\ndmarc = false\narc = false\n",
        listeners(&[("mx", "mx", "none")])
    );
    let mut srv = BinServer::start(&config, &[("alice@localhost", "x")], None);
    let s = TcpStream::connect(srv.addr("mx")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(reply(&mut r), Some(220));
    assert_eq!(cmd(&mut r, "EHLO term.test"), Some(250));
    assert_eq!(cmd(&mut r, "MAIL FROM:<a@term.test>"), Some(250));
    assert_eq!(cmd(&mut r, "RCPT TO:<alice@localhost>"), Some(250));
    assert_eq!(cmd(&mut r, "DATA"), Some(354));
    let msg = body("in-flight");
    let (first, second) = msg.split_at(msg.len() / 2);
    r.get_mut().write_all(first.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let st = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(srv.pid().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    // Once the signal is taken (the log says so), the listeners close at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !srv.log_text().contains("SIGTERM: shutting down") {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGTERM not taken: {}",
            srv.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // No new connections once shutting down.
    let refused = TcpStream::connect(srv.addr("mx")).map_or(true, |c| {
        let mut b = BufReader::new(c);
        b.get_mut()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        reply(&mut b).is_none()
    });
    assert!(refused, "a new connection was served during shutdown");
    // The message being sent completes and is acknowledged, then the session says 421.
    r.get_mut()
        .write_all(format!("{second}.\r\n").as_bytes())
        .unwrap();
    assert_eq!(reply(&mut r), Some(250));
    assert_eq!(reply(&mut r), Some(421));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(st)) = srv.child.try_wait() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}: {}", srv.log_text());
    let inbox = srv.messages("alice@localhost", "INBOX");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].ends_with(&body("in-flight")));
    assert!(srv.log_text().contains("SIGTERM: shutting down"));
}
