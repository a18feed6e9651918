//! The MX and submission services end to end over loopback: recipient validation at RCPT,
//! no relaying, delivery with trace fields, AUTH and sender ownership, STARTTLS and
//! implicit TLS, Sieve reject in protocol, greylisting.

mod server_common;

use std::time::Duration;

use server_common::{RawSmtp, TestServer, listeners};

const USERS: &[(&str, &str)] = &[("alice@localhost", "alicepw"), ("bob@localhost", "bobpw")];

fn config(extra: &str) -> String {
    format!(
        "{}[auth]\nfailure_delay = \"100ms\"\n[checks]\ndns_timeout = \"300ms\"\ndns_servers = [\"127.0.0.1:9\"]\n{extra}",
        listeners(&[
            ("mx", "mx", "starttls"),
            ("submission", "submission", "starttls"),
            ("submissions", "submission", "implicit"),
        ])
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn mx_validates_recipients_refuses_relaying_and_delivers() {
    let mut srv = TestServer::start(
        &config("[aliases]\n\"sales@localhost\" = [\"alice\", \"bob\"]\n"),
        USERS,
    )
    .await;
    let (mut c, code, greeting) = RawSmtp::connect(srv.addr("mx")).await;
    assert_eq!(code, 220, "{greeting}");
    let (code, ehlo) = c.cmd("EHLO client.example").await;
    assert_eq!(code, 250);
    assert!(
        ehlo.contains("STARTTLS") && ehlo.contains("PIPELINING") && ehlo.contains("SIZE 26214400"),
        "{ehlo}"
    );
    assert!(!ehlo.contains("AUTH"), "the MX offers no AUTH: {ehlo}");
    assert_eq!(c.cmd("MAIL FROM:<sender@example.net>").await.0, 250);
    let (code, text) = c.cmd("RCPT TO:<nobody@localhost>").await;
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("5.1.1 "), "{text}");
    let (code, text) = c.cmd("RCPT TO:<victim@elsewhere.example>").await;
    assert_eq!(code, 554, "{text}");
    assert!(
        text.contains("5.7.1") && text.contains("Relay access denied"),
        "{text}"
    );
    assert_eq!(c.cmd("RCPT TO:<Alice@LOCALHOST>").await.0, 250);
    assert_eq!(c.cmd("RCPT TO:<sales@localhost>").await.0, 250);
    assert_eq!(c.cmd("DATA").await.0, 354);
    c.send(b"From: sender@example.net\r\nTo: sales@localhost\r\nSubject: hello\r\nMessage-ID: <m1@example.net>\r\n\r\nline one\r\n..dotted\r\n.\r\n").await;
    let (code, text) = c.read_reply().await;
    assert_eq!(code, 250, "{text}");
    assert!(text.starts_with("2.0.0 Ok: queued as "), "{text}");
    assert_eq!(c.cmd("QUIT").await.0, 221);

    let alice = srv.messages("alice@localhost", "INBOX");
    assert_eq!(
        alice.len(),
        1,
        "alice once, though named directly and through the alias"
    );
    let m = &alice[0];
    assert!(m.starts_with("Return-Path: <sender@example.net>\r\nDelivered-To: alice@localhost\r\nReceived: from client.example (unknown [127.0.0.1])\r\n\tby localhost (mail-server) with ESMTP id "), "{m}");
    assert!(m.contains("\r\nAuthentication-Results: localhost;"), "{m}");
    assert!(m.contains("spf=temperror"), "no DNS in this test: {m}");
    assert!(
        m.ends_with("\r\n\r\nline one\r\n.dotted\r\n"),
        "dot-unstuffed: {m:?}"
    );
    let bob = srv.messages("bob@localhost", "INBOX");
    assert_eq!(bob.len(), 1);
    assert!(
        bob[0].contains("Delivered-To: bob@localhost\r\nX-Original-To: sales@localhost\r\n"),
        "{}",
        bob[0]
    );
    assert_eq!(srv.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_authentication_results_are_removed() {
    let mut srv = TestServer::start(&config(""), USERS).await;
    let (mut c, _, _) = RawSmtp::connect(srv.addr("mx")).await;
    c.cmd("EHLO client.example").await;
    let msg = "Authentication-Results: localhost; dkim=pass header.d=bank.example\r\nAuthentication-Results: other.example; spf=pass\r\nSubject: x\r\n\r\nbody\r\n";
    assert_eq!(
        c.mail("s@example.net", &["alice@localhost"], msg).await.0,
        250
    );
    let m = &srv.messages("alice@localhost", "INBOX")[0];
    assert!(!m.contains("dkim=pass header.d=bank.example"), "{m}");
    assert!(
        m.contains("Authentication-Results: other.example; spf=pass"),
        "{m}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_requires_auth_and_owned_senders() {
    let mut srv = TestServer::start(
        &config("[aliases]\n\"info@localhost\" = \"alice\"\n"),
        USERS,
    )
    .await;
    let (mut c, _, _) = RawSmtp::connect(srv.addr("submission")).await;
    let (_, ehlo) = c.cmd("EHLO client.example").await;
    // Loopback may authenticate without TLS by default (auth.plaintext = "loopback").
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    let (code, text) = c.cmd("MAIL FROM:<alice@localhost>").await;
    assert_eq!(code, 530, "{text}");
    // AUTH PLAIN with a wrong password, then the right one (base64 of \0user\0pass).
    let (code, _) = c.cmd("AUTH PLAIN AGFsaWNlQGxvY2FsaG9zdAB3cm9uZw==").await;
    assert_eq!(code, 535);
    let (code, text) = c.cmd("AUTH PLAIN AGFsaWNlQGxvY2FsaG9zdABhbGljZXB3").await;
    assert_eq!(code, 235, "{text}");
    let (code, text) = c.cmd("MAIL FROM:<bob@localhost>").await;
    assert_eq!(code, 553, "{text}");
    assert_eq!(
        c.mail(
            "info@localhost",
            &["bob@localhost"],
            "Subject: from an alias\r\n\r\nhi\r\n"
        )
        .await
        .0,
        250
    );
    let (code, text) = c
        .mail(
            "alice@localhost",
            &["someone@remote.example"],
            "Subject: x\r\n\r\ny\r\n",
        )
        .await;
    assert_eq!(code, 554, "{text}");
    let bob = srv.messages("bob@localhost", "INBOX");
    assert_eq!(bob.len(), 1);
    assert!(bob[0].contains("with ESMTPA id"), "{}", bob[0]);
    assert!(
        !bob[0].contains("Authentication-Results"),
        "no checks on submission: {}",
        bob[0]
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_and_implicit_tls_with_the_crate_client() {
    use smtp_proto::client::{ClientConfig, Envelope};
    use smtp_proto::tokio::{ClientTls, SmtpClient};
    let mut srv = TestServer::start(&config(""), USERS).await;
    let tls = ClientTls {
        config: srv.client_tls(),
        server_name: rustls::pki_types::ServerName::try_from("localhost".to_string()).unwrap(),
    };
    let mut cc = ClientConfig::new("client.example");
    cc.credentials = Some(smtp_proto::sasl::Credentials::password(
        "bob@localhost",
        "bobpw",
    ));
    let mut client = SmtpClient::connect(srv.addr("submission"), cc.clone(), Some(tls.clone()))
        .await
        .unwrap();
    assert!(client.is_tls(), "STARTTLS was taken");
    let env = Envelope::parse("bob@localhost", ["alice@localhost"]).unwrap();
    let r = client
        .send_mail(env, b"Subject: over starttls\r\n\r\nhi\r\n".to_vec())
        .await
        .unwrap();
    assert_eq!(r.delivered(), 1);
    client.quit().await.unwrap();
    let m = srv.messages("alice@localhost", "INBOX");
    assert_eq!(m.len(), 1);
    assert!(
        m[0].contains("with ESMTPSA id") && m[0].contains("(using TLSv1_3 with cipher"),
        "{}",
        m[0]
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sieve_reject_is_refused_in_protocol() {
    let mut srv = TestServer::start(&config(""), USERS).await;
    let acc = srv
        .shared
        .accounts
        .snapshot()
        .account(&"alice@localhost".parse().unwrap())
        .unwrap()
        .clone();
    let store = sieve::managesieve::store::FsScriptStore::open(acc.sieve_dir()).unwrap();
    let name = sieve::managesieve::ScriptName::new("r").unwrap();
    store.put(&name, b"require \"reject\";\nif header :contains \"subject\" \"spam\" { reject \"no thanks\"; }\n").unwrap();
    store.set_active(Some(&name)).unwrap();
    let (mut c, _, _) = RawSmtp::connect(srv.addr("mx")).await;
    c.cmd("EHLO client.example").await;
    let (code, text) = c
        .mail(
            "s@example.net",
            &["alice@localhost"],
            "Subject: spam\r\n\r\nx\r\n",
        )
        .await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("no thanks"), "{text}");
    assert_eq!(
        c.mail(
            "s@example.net",
            &["alice@localhost"],
            "Subject: ham\r\n\r\nx\r\n"
        )
        .await
        .0,
        250
    );
    assert_eq!(srv.messages("alice@localhost", "INBOX").len(), 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn greylisting_defers_then_accepts_and_spares_postmaster() {
    let mut srv = TestServer::start(
        &config("[checks.greylist]\nenabled = true\ndelay = \"1s\"\n[aliases]\npostmaster = \"alice@localhost\"\n"),
        USERS,
    )
    .await;
    let (mut c, _, _) = RawSmtp::connect(srv.addr("mx")).await;
    c.cmd("EHLO client.example").await;
    let (code, text) = c
        .mail(
            "s@example.net",
            &["bob@localhost"],
            "Subject: 1\r\n\r\nx\r\n",
        )
        .await;
    assert_eq!(code, 451, "{text}");
    assert!(
        text.starts_with("4.7.1") && text.contains("Greylisted"),
        "{text}"
    );
    assert_eq!(
        c.mail(
            "s@example.net",
            &["postmaster@localhost"],
            "Subject: p\r\n\r\nx\r\n"
        )
        .await
        .0,
        250
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        c.mail(
            "s@example.net",
            &["bob@localhost"],
            "Subject: 2\r\n\r\nx\r\n"
        )
        .await
        .0,
        250
    );
    assert_eq!(srv.messages("bob@localhost", "INBOX").len(), 1);
    // The table survives a restart through its file.
    srv.shared.save_state();
    let saved = std::fs::read_to_string(srv.data_dir().join("greylist")).unwrap();
    assert!(saved.contains("s@example.net bob@localhost"), "{saved}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn message_memory_budget_refuses_with_452() {
    let mut srv = TestServer::start(&config("[limits]\nmessage_memory = \"2K\"\n"), USERS).await;
    let (mut c, _, _) = RawSmtp::connect(srv.addr("mx")).await;
    c.cmd("EHLO client.example").await;
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(8000));
    let (code, text) = c.mail("s@example.net", &["alice@localhost"], &big).await;
    assert_eq!(code, 452, "{text}");
    assert!(text.starts_with("4.3.1"), "{text}");
    // The budget is given back: a small message fits.
    assert_eq!(
        c.mail(
            "s@example.net",
            &["alice@localhost"],
            "Subject: small\r\n\r\nx\r\n"
        )
        .await
        .0,
        250
    );
    assert_eq!(srv.shared.message_memory.used(), 0);
    assert_eq!(srv.messages("alice@localhost", "INBOX").len(), 1);
    // A client that goes away in the middle of its data gives the memory back too.
    let (mut d, _, _) = RawSmtp::connect(srv.addr("mx")).await;
    d.cmd("EHLO client.example").await;
    assert_eq!(d.cmd("MAIL FROM:<s@example.net>").await.0, 250);
    assert_eq!(d.cmd("RCPT TO:<alice@localhost>").await.0, 250);
    assert_eq!(d.cmd("DATA").await.0, 354);
    d.send(format!("Subject: cut\r\n\r\n{}\r\n", "z".repeat(1000)).as_bytes())
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while srv.shared.message_memory.used() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the data never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(d);
    while srv.shared.message_memory.used() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "memory not given back after a disconnect"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(srv.messages("alice@localhost", "INBOX").len(), 1);
    srv.stop().await;
}
