//! ManageSieve on the server: a script uploaded by a ManageSieve client files the user's
//! mail (the crate's own async client here; sieve-connect in the interop test).

mod server_common;

use examples::server::delivery::{Incoming, Outcome};
use server_common::{TestServer, listeners};
use sieve::managesieve::ScriptName;
use sieve::managesieve::tokio::Client;
use smtp_proto::sasl::Credentials;

const SCRIPT: &[u8] = b"require [\"fileinto\", \"mailbox\"];\r\nif header :contains \"subject\" \"sort-me\" { fileinto :create \"Sorted\"; }\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn uploaded_script_files_delivered_mail() {
    let mut srv = TestServer::start(
        &listeners(&[("sieve", "managesieve", "starttls")]),
        &[("alice@localhost", "alicepw")],
    )
    .await;
    let addr = srv.addr("sieve");
    let mut c = Client::connect(addr, "localhost", srv.client_tls())
        .await
        .unwrap();
    assert!(
        c.capabilities()
            .implementation
            .as_deref()
            .unwrap_or("")
            .starts_with("mail-server")
    );
    // Loopback may authenticate in cleartext by default, but use TLS like a real client.
    assert!(c.starttls().await.unwrap().is_ok());
    let bad = c
        .authenticate(Credentials::password("alice@localhost", "wrong"))
        .await
        .unwrap();
    assert!(!bad.is_ok());
    let ok = c
        .authenticate(Credentials::password("alice@localhost", "alicepw"))
        .await
        .unwrap();
    assert!(ok.is_ok(), "{:?}", ok.status);
    let name = ScriptName::new("rules").unwrap();
    // A script that does not compile is refused with its position.
    let broken = c.put_script(&name, b"fileinto \"x\";").await.unwrap();
    assert!(!broken.is_ok());
    assert!(c.put_script(&name, SCRIPT).await.unwrap().is_ok());
    assert!(c.set_active(Some(&name)).await.unwrap().is_ok());
    assert!(c.logout().await.unwrap().is_ok());

    // Deliver two messages through the server's delivery agent.
    let dir = srv.shared.accounts.snapshot();
    let alice = dir
        .account(&"alice@localhost".parse().unwrap())
        .unwrap()
        .clone();
    for subject in ["please sort-me", "plain"] {
        let msg = format!("From: a@example.net\r\nSubject: {subject}\r\n\r\nbody\r\n");
        let d = srv.shared.deliverer.clone();
        let dir2 = dir.clone();
        let acc = alice.clone();
        let out = tokio::task::spawn_blocking(move || {
            d.deliver(
                &dir2,
                &acc,
                &Incoming {
                    message: msg.as_bytes(),
                    sender: "a@example.net",
                    original_rcpt: "alice@localhost",
                    auth_user: None,
                },
            )
        })
        .await
        .unwrap();
        assert!(matches!(out, Outcome::Stored(_)), "{out:?}");
    }
    let sorted = srv.messages("alice@localhost", "Sorted");
    assert_eq!(sorted.len(), 1);
    assert!(sorted[0].contains("Subject: please sort-me"));
    let inbox = srv.messages("alice@localhost", "INBOX");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].contains("Subject: plain"));
    assert_eq!(srv.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_and_scripts_of_others_stay_apart() {
    let mut srv = TestServer::start(
        &listeners(&[("sieve", "managesieve", "starttls")]),
        &[("alice@localhost", "a"), ("bob@localhost", "b")],
    )
    .await;
    let addr = srv.addr("sieve");
    let mut c = Client::connect(addr, "localhost", srv.client_tls())
        .await
        .unwrap();
    c.starttls().await.unwrap();
    assert!(
        !c.authenticate(Credentials::password("nobody@localhost", "a"))
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        c.authenticate(Credentials::password("bob", "b"))
            .await
            .unwrap()
            .is_ok(),
        "a login without domain gets the default domain"
    );
    let name = ScriptName::new("bobs").unwrap();
    assert!(c.put_script(&name, b"keep;").await.unwrap().is_ok());
    c.logout().await.unwrap();
    let bob_dir = srv.data_dir().join("users/localhost/bob/sieve");
    assert!(bob_dir.join("bobs.sieve").exists());
    assert!(
        !srv.data_dir()
            .join("users/localhost/alice/sieve/bobs.sieve")
            .exists()
    );
    srv.stop().await;
}
