//! Bad input is refused or timed out, with bounded memory: oversized command lines, an
//! endless literal, an oversized message, slow clients, and thousands of idle connections
//! (whose memory cost is reported).

mod server_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use server_common::{BinServer, listeners};

fn config(extra: &str) -> String {
    format!(
        "{}[checks]\nspf = false\ndkim = false\ndmarc = false\narc = false\n{extra}",
        listeners(&[("mx", "mx", "none"), ("imap", "imap", "none")])
    )
}

fn connect(addr: std::net::SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    BufReader::new(s)
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    let _ = r.read_line(&mut l);
    l
}

#[test]
fn oversized_lines_literals_and_messages_are_refused() {
    let srv = BinServer::start(
        &config("[limits]\nmax_message_size = \"64K\"\n"),
        &[("alice@localhost", "pw")],
        None,
    );
    // SMTP: a 100 KB command line.
    let mut c = connect(srv.addr("mx"));
    assert!(line(&mut c).starts_with("220"));
    c.get_mut()
        .write_all(format!("EHLO {}\r\n", "a".repeat(100_000)).as_bytes())
        .unwrap();
    let l = line(&mut c);
    assert!(l.starts_with("500") || l.starts_with("501"), "{l}");
    // The session survives it: a normal command works.
    c.get_mut().write_all(b"EHLO ok.example\r\n").unwrap();
    let mut l = line(&mut c);
    while l.starts_with("250-") {
        l = line(&mut c);
    }
    assert!(l.starts_with("250 "), "{l}");
    // A message over SIZE: refused while streaming (552), nothing stored.
    c.get_mut()
        .write_all(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n")
        .unwrap();
    for _ in 0..3 {
        line(&mut c);
    }
    let chunk = format!("{}\r\n", "x".repeat(998));
    for _ in 0..200 {
        c.get_mut().write_all(chunk.as_bytes()).unwrap();
    }
    c.get_mut().write_all(b".\r\n").unwrap();
    let l = line(&mut c);
    assert!(l.starts_with("552"), "{l}");
    assert!(srv.messages("alice@localhost", "INBOX").is_empty());

    // IMAP: an endless literal is refused before the continuation, and the session lives.
    let mut i = connect(srv.addr("imap"));
    assert!(line(&mut i).starts_with("* OK"));
    i.get_mut().write_all(b"a1 LOGIN {4000000000}\r\n").unwrap();
    let l = line(&mut i);
    assert!(
        l.starts_with("a1 BAD") || l.starts_with("a1 NO") || l.starts_with("* BYE"),
        "{l}"
    );
    if !l.starts_with("* BYE") {
        i.get_mut()
            .write_all(b"a2 LOGIN alice@localhost pw\r\n")
            .unwrap();
        let l = line(&mut i);
        assert!(l.starts_with("a2 OK"), "{l}");
        // APPEND larger than APPENDLIMIT: NO [TOOBIG] without a continuation.
        i.get_mut()
            .write_all(b"a3 APPEND INBOX {999999999}\r\n")
            .unwrap();
        let l = line(&mut i);
        assert!(l.starts_with("a3 NO") || l.starts_with("a3 BAD"), "{l}");
    }
    // A 1 MB IMAP command line.
    let mut j = connect(srv.addr("imap"));
    line(&mut j);
    let _ = j
        .get_mut()
        .write_all(format!("a1 NOOP {}\r\n", "x".repeat(1 << 20)).as_bytes());
    let l = line(&mut j);
    assert!(
        l.contains("BAD") || l.starts_with("* BYE") || l.is_empty(),
        "{l}"
    );
}

#[test]
fn slow_clients_are_timed_out() {
    let srv = BinServer::start(
        &config("[limits]\nsmtp_timeout = \"1s\"\nlogin_timeout = \"1s\"\n"),
        &[("alice@localhost", "pw")],
        None,
    );
    for (name, greeting) in [("mx", "220"), ("imap", "* OK")] {
        let mut c = connect(srv.addr(name));
        assert!(line(&mut c).starts_with(greeting));
        let started = Instant::now();
        // Say nothing: the server must close the connection on its own.
        let mut rest = String::new();
        let _ = c.read_to_string(&mut rest);
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(15),
            "{name}: still open after {waited:?}"
        );
        assert!(
            rest.starts_with("421") || rest.starts_with("* BYE"),
            "{name}: {rest:?}"
        );
    }
    // A client that trickles a command slower than the idle timeout is cut off too.
    let mut c = connect(srv.addr("mx"));
    line(&mut c);
    for b in b"EHLO" {
        if c.get_mut().write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    let mut rest = String::new();
    let _ = c.read_to_string(&mut rest);
    assert!(rest.starts_with("421"), "{rest:?}");
}

#[test]
fn thousands_of_idle_connections_are_bounded() {
    const OPEN: usize = 3000;
    let srv = BinServer::start(
        &config(
            "[limits]\nmax_connections = 2000\nmax_connections_per_ip = 0\nconnection_rate_per_ip = 0\n",
        ),
        &[("alice@localhost", "pw")],
        None,
    );
    let addr = srv.addr("imap");
    std::thread::sleep(Duration::from_millis(300));
    let before = srv.rss_kib();
    let mut conns = Vec::new();
    let mut refused = 0;
    for _ in 0..OPEN {
        let mut c = connect(addr);
        let l = line(&mut c);
        if l.starts_with("* BYE") {
            refused += 1;
        } else {
            assert!(l.starts_with("* OK"), "{l}");
        }
        conns.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let during = srv.rss_kib();
    let admitted = OPEN - refused;
    assert_eq!(
        admitted, 2000,
        "the server-wide limit admits exactly max_connections"
    );
    // KiB per connection, in tenths, in integers (no lossy float casts).
    let tenths = during.saturating_sub(before) * 10 / admitted as u64;
    let per_conn = format!("{}.{}", tenths / 10, tenths % 10);
    eprintln!(
        "idle IMAP connections: {admitted} admitted, {refused} refused with BYE; RSS {before} KiB -> {during} KiB: {per_conn} KiB per idle connection"
    );
    // Generous bound (not a timing): well under 1 MiB per idle connection.
    assert!(tenths < 2560, "{per_conn} KiB per idle connection");
    drop(conns);
    // Once they are gone the server serves normally again.
    std::thread::sleep(Duration::from_millis(500));
    let mut c = connect(addr);
    assert!(line(&mut c).starts_with("* OK"));
    c.get_mut()
        .write_all(b"a LOGIN alice@localhost pw\r\n")
        .unwrap();
    assert!(line(&mut c).starts_with("a OK"));
}
