//! IMAP over the Maildir, end to end on loopback: delivery by SMTP, then LOGIN, LIST with
//! special-use folders, SELECT, FETCH, SEARCH, STORE, EXPUNGE, APPEND, COPY, MOVE; IDLE
//! woken by a delivery; two sessions on one mailbox seeing each other's changes; quota.

mod server_common;

use std::time::Duration;

use server_common::{RawImap, RawSmtp, TestServer, listeners};

fn config(extra: &str) -> String {
    format!(
        "{}[auth]\nfailure_delay = \"100ms\"\n[checks]\ndns_timeout = \"200ms\"\ndns_servers = [\"127.0.0.1:9\"]\nspf = false\ndkim = false\ndmarc = false\narc = false\n{extra}",
        listeners(&[("mx", "mx", "none"), ("imap", "imap", "starttls")])
    )
}

async fn deliver(srv: &TestServer, to: &str, subject: &str) {
    let (mut c, _, _) = RawSmtp::connect(srv.addr("mx")).await;
    c.cmd("EHLO client.example").await;
    let msg = format!(
        "From: Sender <s@example.net>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.net>\r\n\r\nbody of {subject}\r\n"
    );
    let r = c.mail("s@example.net", &[to], &msg).await;
    assert_eq!(r.0, 250, "{r:?}");
    c.cmd("QUIT").await;
}

async fn login(srv: &TestServer) -> RawImap {
    let (mut c, greeting) = RawImap::connect(srv.addr("imap")).await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let (_, done) = c.cmd("LOGIN alice@localhost alicepw").await;
    assert!(done.starts_with("OK"), "{done}");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn read_back_and_manage_mail() {
    let mut srv = TestServer::start(&config(""), &[("alice@localhost", "alicepw")]).await;
    for s in ["one", "two", "three"] {
        deliver(&srv, "alice@localhost", s).await;
    }
    let mut c = login(&srv).await;
    let (bad, done) = c.cmd("LOGIN alice@localhost wrong").await;
    assert!(
        done.starts_with("BAD") || done.starts_with("NO"),
        "{bad:?} {done}"
    );
    let (list, done) = c.cmd("LIST \"\" \"*\"").await;
    assert!(done.starts_with("OK"), "{done}");
    for (name, attr) in [
        ("Drafts", "\\Drafts"),
        ("Sent", "\\Sent"),
        ("Junk", "\\Junk"),
        ("Trash", "\\Trash"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            list.iter().any(|l| l.contains(attr) && l.ends_with(name)),
            "{name}: {list:?}"
        );
    }
    let (sel, done) = c.cmd("SELECT INBOX").await;
    assert!(done.starts_with("OK [READ-WRITE]"), "{done}");
    assert!(sel.contains(&"* 3 EXISTS".to_string()), "{sel:?}");
    assert!(
        sel.iter().any(|l| l.starts_with("* OK [UIDVALIDITY ")),
        "{sel:?}"
    );
    let (f, _) = c.cmd("FETCH 2 (UID FLAGS ENVELOPE BODY[TEXT])").await;
    let f = f.join("\n");
    assert!(
        f.contains("UID 2")
            && f.contains("\"two\"")
            && f.contains("body of two")
            && f.contains("\\Seen"),
        "{f}"
    );
    let (f, _) = c
        .cmd("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)])")
        .await;
    assert_eq!(f.len(), 3, "{f:?}");
    assert!(f[0].contains("Subject: one"), "{f:?}");
    let (s, _) = c.cmd("SEARCH UNSEEN").await;
    assert_eq!(s, ["* SEARCH 1 3"]);
    let (s, _) = c.cmd("SEARCH FROM sender SUBJECT three").await;
    assert_eq!(s, ["* SEARCH 3"]);
    let (s, _) = c.cmd("UID SEARCH BODY \"BODY OF TWO\"").await;
    assert_eq!(s, ["* SEARCH 2"]);
    let (st, _) = c.cmd("STORE 1 +FLAGS (\\Deleted $Work)").await;
    assert!(
        st[0].contains("\\Deleted") && st[0].contains("$Work"),
        "{st:?}"
    );
    let (ex, done) = c.cmd("EXPUNGE").await;
    assert_eq!(ex, ["* 1 EXPUNGE"], "{done}");
    // APPEND with a synchronizing literal.
    let msg = "Subject: appended\r\n\r\nhello\r\n";
    c.send(format!("a1 APPEND INBOX (\\Flagged) {{{}}}\r\n", msg.len()).as_bytes())
        .await;
    let cont = c.line().await;
    assert!(cont.starts_with('+'), "{cont}");
    c.send(format!("{msg}\r\n").as_bytes()).await;
    let mut lines = Vec::new();
    loop {
        let l = c.line().await;
        if l.starts_with("a1 ") {
            assert!(l.starts_with("a1 OK [APPENDUID "), "{l} {lines:?}");
            break;
        }
        lines.push(l);
    }
    assert!(lines.iter().any(|l| l == "* 3 EXISTS"), "{lines:?}");
    let (_, done) = c.cmd("COPY 1 Archive").await;
    assert!(done.starts_with("OK [COPYUID "), "{done}");
    let (mv, done) = c.cmd("MOVE 1 Trash").await;
    assert!(
        mv.iter().any(|l| l.starts_with("* OK [COPYUID ")) && mv.iter().any(|l| l == "* 1 EXPUNGE"),
        "{mv:?} {done}"
    );
    let (st, _) = c.cmd("STATUS Archive (MESSAGES UNSEEN SIZE)").await;
    assert!(st[0].contains("MESSAGES 1"), "{st:?}");
    let (_, done) = c.cmd("CREATE Projects.Rust").await;
    assert!(done.starts_with("OK"), "{done}");
    let (list, _) = c.cmd("LIST \"\" \"Projects*\"").await;
    assert!(
        list.iter()
            .any(|l| l.contains("\\HasChildren") && l.ends_with("Projects")),
        "{list:?}"
    );
    let (_, done) = c.cmd("LOGOUT").await;
    assert!(done.starts_with("OK"), "{done}");
    assert_eq!(srv.messages("alice@localhost", "Archive").len(), 1);
    assert_eq!(srv.messages("alice@localhost", "Trash").len(), 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_is_woken_by_delivery_and_sessions_see_each_other() {
    let mut srv = TestServer::start(&config(""), &[("alice@localhost", "alicepw")]).await;
    deliver(&srv, "alice@localhost", "first").await;
    let mut a = login(&srv).await;
    let mut b = login(&srv).await;
    a.cmd("SELECT INBOX").await;
    b.cmd("SELECT INBOX").await;
    a.send(b"i1 IDLE\r\n").await;
    let cont = a.line().await;
    assert!(cont.starts_with('+'), "{cont}");
    deliver(&srv, "alice@localhost", "second").await;
    let woke = tokio::time::timeout(Duration::from_secs(5), a.line())
        .await
        .expect("IDLE not woken by the delivery");
    assert_eq!(woke, "* 2 EXISTS");
    a.send(b"DONE\r\n").await;
    loop {
        let l = a.line().await;
        if l.starts_with("i1 ") {
            assert!(l.starts_with("i1 OK"), "{l}");
            break;
        }
    }
    // B changes flags and expunges; A sees both at its next NOOP.
    b.cmd("STORE 1 +FLAGS (\\Flagged)").await;
    let (n, _) = a.cmd("NOOP").await;
    assert!(
        n.iter()
            .any(|l| l.starts_with("* 1 FETCH") && l.contains("\\Flagged")),
        "{n:?}"
    );
    b.cmd("STORE 2 +FLAGS (\\Deleted)").await;
    b.cmd("EXPUNGE").await;
    let (n, _) = a.cmd("NOOP").await;
    assert!(n.iter().any(|l| l == "* 2 EXPUNGE"), "{n:?}");
    let (f, _) = a.cmd("FETCH 1:* (UID)").await;
    assert_eq!(f, ["* 1 FETCH (UID 1)"]);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quota_is_reported_and_enforced() {
    let mut srv = TestServer::start(
        &config("[limits]\ndefault_quota = \"2K\"\n"),
        &[("alice@localhost", "alicepw")],
    )
    .await;
    deliver(&srv, "alice@localhost", "fits").await;
    let (mut s, _, _) = RawSmtp::connect(srv.addr("mx")).await;
    s.cmd("EHLO client.example").await;
    // Too big for what is left: refused temporarily after the data, nothing stored.
    let big = "x".repeat(3000);
    let r = s
        .mail(
            "s@example.net",
            &["alice@localhost"],
            &format!("Subject: big\r\n\r\n{big}\r\n"),
        )
        .await;
    assert_eq!(r.0, 451, "{r:?}");
    assert_eq!(srv.messages("alice@localhost", "INBOX").len(), 1);
    let mut c = login(&srv).await;
    let (q, done) = c.cmd("GETQUOTAROOT INBOX").await;
    assert!(done.starts_with("OK"), "{done}");
    assert!(
        q.iter()
            .any(|l| l.starts_with("* QUOTA \"\" (STORAGE ") && l.ends_with(" 2)")),
        "{q:?}"
    );
    // The administrator lowers the quota below the use (SIGHUP): now RCPT says 452.
    let file = srv.dir.path().join("mail-server.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace("2K", "100");
    std::fs::write(&file, text).unwrap();
    srv.shared
        .reload(examples::server::config::Config::load(&file).unwrap())
        .unwrap();
    let (code, text) = s.cmd("MAIL FROM:<s@example.net>").await;
    assert_eq!(code, 250, "{text}");
    let (code, text) = s.cmd("RCPT TO:<alice@localhost>").await;
    assert_eq!(code, 452, "{text}");
    assert!(text.starts_with("4.2.2"), "{text}");
    s.cmd("QUIT").await;
    assert_eq!(srv.stop().await, 0);
}
