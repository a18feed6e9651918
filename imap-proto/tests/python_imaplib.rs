//! A real client against our server: Python's `imaplib` (CPython standard library) talks to
//! `ServerSession` over the tokio adapter on 127.0.0.1, through STARTTLS with certificate
//! verification, with the in-memory store of `tests/common`. Covers LOGIN, CAPABILITY, LIST,
//! STATUS, SELECT, SEARCH, FETCH (RFC822, BODY.PEEK[HEADER], FLAGS, UID), STORE, APPEND
//! (imaplib sends a synchronizing literal and waits for our `+`), EXPUNGE, UID SEARCH, LOGOUT.
//!
//! Needs `python3` on PATH (CI has it); fails, not skips, without it.
#![cfg(feature = "tokio")]

mod common;

use std::io::Write as _;

use imap_proto::tokio::ServerConnection;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const SCRIPT: &str = r#"
import imaplib, ssl, sys, json
port, ca = int(sys.argv[1]), sys.argv[2]
out = {}
m = imaplib.IMAP4("127.0.0.1", port)
out["caps_before"] = sorted(m.capabilities)
ctx = ssl.create_default_context(cafile=ca)
m.starttls(ssl_context=ctx)
out["caps_after"] = sorted(m.capabilities)
out["login"] = m.login("alice", "pw")[0]
out["list"] = [x.decode() for x in m.list()[1]]
typ, st = m.status("INBOX", "(MESSAGES UIDNEXT)")
out["status"] = st[0].decode()
typ, data = m.select("INBOX")
out["select"] = [typ, data[0].decode()]
typ, data = m.search(None, "ALL")
out["search_all"] = data[0].decode()
typ, data = m.fetch("1", "(RFC822)")
out["rfc822"] = data[0][1].decode()
typ, data = m.fetch("2", "(UID FLAGS BODY.PEEK[HEADER])")
out["header"] = data[0][1].decode()
out["header_meta"] = data[0][0].decode()
typ, data = m.search(None, "UNSEEN")
out["unseen"] = data[0].decode()
typ, data = m.store("2", "+FLAGS", "(\\Deleted)")
out["store"] = [typ, data[0].decode()]
msg = b"From: py@example.org\r\nSubject: from python\r\n\r\nappended by imaplib\r\n"
typ, data = m.append("INBOX", "(\\Seen)", None, msg)
out["append"] = [typ, data[0].decode()]
typ, data = m.expunge()
out["expunge"] = [typ, [d.decode() for d in data if d]]
typ, data = m.uid("SEARCH", None, "ALL")
out["uid_search"] = data[0].decode()
typ, data = m.uid("FETCH", "3", "(RFC822)")
out["uid_fetch"] = data[0][1].decode()
out["close"] = m.close()[0]
out["logout"] = m.logout()[0]
print(json.dumps(out))
"#;

#[tokio::test]
async fn python_imaplib_against_our_server() {
    let (server_tls, _, pem) = common::tls_pair();
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    ca.write_all(pem.as_bytes()).unwrap();
    ca.flush().unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = common::Store::with_inbox(&[
        b"From: a@example.org\r\nSubject: first\r\n\r\nHello one\r\n",
        b"From: b@example.org\r\nSubject: second\r\n\r\nHello two\r\n",
    ]);
    let server_store = store.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (_tx, rx) = mpsc::channel(1);
        let conn = ServerConnection::new(
            tcp,
            common::session(true, false),
            Some(TlsAcceptor::from(server_tls)),
        );
        common::serve(conn, server_store, rx).await
    });
    let ca_path = ca.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg(port.to_string())
            .arg(&ca_path)
            .output()
            .expect("python3 must be installed for this test")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed:\n{stdout}\n{stderr}");
    server.await.unwrap().unwrap();

    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let s = |k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    assert!(s("caps_before").contains("STARTTLS") && s("caps_before").contains("LOGINDISABLED"));
    assert!(s("caps_after").contains("AUTH=PLAIN") && !s("caps_after").contains("LOGINDISABLED"));
    assert_eq!(s("login"), "OK");
    assert!(
        s("list").contains(r#"(\\HasNoChildren) \".\" INBOX"#),
        "{}",
        s("list")
    );
    assert!(
        s("status").contains("MESSAGES 2 UIDNEXT 3"),
        "{}",
        s("status")
    );
    assert_eq!(s("select"), r#"["OK","2"]"#);
    assert_eq!(s("search_all"), "1 2");
    assert_eq!(
        s("rfc822"),
        "From: a@example.org\r\nSubject: first\r\n\r\nHello one\r\n"
    );
    assert_eq!(
        s("header"),
        "From: b@example.org\r\nSubject: second\r\n\r\n"
    );
    assert!(s("header_meta").contains("UID 2"), "{}", s("header_meta"));
    // FETCH RFC822 set \Seen on message 1 (IMAP-011); message 2 was only peeked.
    assert_eq!(s("unseen"), "2");
    assert!(s("store").contains("\\\\Deleted"), "{}", s("store"));
    assert!(s("append").contains("APPENDUID"), "{}", s("append"));
    assert_eq!(s("expunge"), r#"["OK",["2"]]"#);
    assert_eq!(s("uid_search"), "1 3");
    assert!(
        s("uid_fetch").contains("appended by imaplib"),
        "{}",
        s("uid_fetch")
    );
    assert_eq!(s("logout"), "BYE");
    let st = store.lock().unwrap();
    assert_eq!(st.boxes["INBOX"].0.len(), 2);
}
