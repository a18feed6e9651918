//! The tokio adapter: our async client against our server over TCP on 127.0.0.1, with
//! STARTTLS (rustls) and SASL.
#![cfg(feature = "tokio")]

mod managesieve_util;

use sieve::managesieve::client::Reply;
use sieve::managesieve::tokio::Client;
use sieve::managesieve::{ResponseCode, ScriptName, Status};
use smtp_proto::sasl::Credentials;

#[tokio::test]
async fn client_and_server_over_tcp_with_starttls() {
    let server = managesieve_util::start();
    let tls = managesieve_util::client_tls(&server.cert_der);
    let mut c = Client::connect(server.addr, "localhost", tls)
        .await
        .unwrap();
    assert!(c.capabilities().starttls);
    assert!(c.capabilities().sasl.is_empty(), "no SASL before TLS");
    assert!(c.starttls().await.unwrap().is_ok());
    assert!(c.capabilities().has_sasl("PLAIN") && !c.capabilities().starttls);
    // SCRAM-SHA-256 is chosen (strongest) and bound to the TLS channel where offered.
    let done = c
        .authenticate(Credentials::password("alice", "alicepw"))
        .await
        .unwrap();
    assert!(done.is_ok(), "{done:?}");
    let name = ScriptName::new("vacation").unwrap();
    let script = b"require [\"vacation\"];\r\nvacation :days 3 \"I am away\";\r\n";
    assert!(c.put_script(&name, script).await.unwrap().is_ok());
    assert!(c.set_active(Some(&name)).await.unwrap().is_ok());
    let list = c.list_scripts().await.unwrap();
    let Reply::Scripts(list) = list.reply else {
        panic!("{list:?}")
    };
    assert_eq!(list.len(), 1);
    assert!(list[0].active);
    let got = c.get_script(&name).await.unwrap();
    assert_eq!(got.reply, Reply::Script(script.to_vec()));
    let bad = c.check_script(b"if true { stop }").await.unwrap();
    assert_eq!(bad.status.status, Status::No);
    let del = c.delete_script(&name).await.unwrap();
    assert_eq!(del.status.code, Some(ResponseCode::Active));
    // The script is on disk where a delivery agent finds it.
    let active = std::fs::read(server.user_dir("alice").join(".active")).unwrap();
    assert_eq!(active, script);
    assert!(c.logout().await.unwrap().is_ok());
}

#[tokio::test]
async fn wrong_certificate_name_is_refused() {
    let server = managesieve_util::start();
    let tls = managesieve_util::client_tls(&server.cert_der);
    let mut c = Client::connect(server.addr, "not-the-server.example", tls)
        .await
        .unwrap();
    assert!(c.starttls().await.is_err());
}

#[tokio::test]
async fn scram_plus_binds_to_the_tls_channel() {
    let server = managesieve_util::start_with(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
    let tls = managesieve_util::client_tls(&server.cert_der);
    let mut c = Client::connect(server.addr, "localhost", tls)
        .await
        .unwrap();
    assert!(c.starttls().await.unwrap().is_ok());
    assert!(c.capabilities().has_sasl("SCRAM-SHA-256-PLUS"));
    let done = c
        .authenticate(Credentials::password("bob", "bobpw"))
        .await
        .unwrap();
    assert!(done.is_ok(), "{done:?}");
    // The server's final SCRAM message came in OK (SASL ...) and was verified.
    assert!(
        matches!(done.status.code, Some(ResponseCode::Sasl(_))),
        "{done:?}"
    );
    assert!(c.session().is_authenticated());
    let wrong = managesieve_util::start_with(&["SCRAM-SHA-256-PLUS"]);
    let tls = managesieve_util::client_tls(&wrong.cert_der);
    let mut c = Client::connect(wrong.addr, "localhost", tls).await.unwrap();
    assert!(c.starttls().await.unwrap().is_ok());
    let done = c
        .authenticate(Credentials::password("bob", "not-bobpw"))
        .await
        .unwrap();
    assert_eq!(done.status.status, Status::No, "{done:?}");
}
