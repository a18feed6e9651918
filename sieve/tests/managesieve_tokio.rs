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

#[tokio::test]
async fn a_client_that_writes_before_reading_does_not_deadlock_the_server() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let server = managesieve_util::start();
    // Small client buffers so that the kernel cannot absorb the exchange.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(server.addr).await.unwrap();
    // 1.2 MB of commands, 4.4 MB of answers: more than the socket buffers hold, so a server
    // that stopped reading while it cannot write would wait forever on this client.
    let n = 200_000;
    let commands = b"NOOP\r\n".repeat(n);
    let run = async {
        tcp.write_all(&commands).await.unwrap();
        let mut seen = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let needle = b"NOOP completed\"\r\n";
        let mut tail: Vec<u8> = Vec::new();
        while seen < n {
            let got = tcp.read(&mut buf).await.unwrap();
            assert!(got > 0, "server closed after {seen} answers");
            tail.extend_from_slice(&buf[..got]);
            seen += tail.windows(needle.len()).filter(|w| w == needle).count();
            let keep = tail.len().min(needle.len() - 1);
            tail.drain(..tail.len() - keep);
        }
        seen
    };
    let seen = tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("the connection deadlocked");
    assert_eq!(seen, n);
}

/// A host whose answers await (as a password hash on a blocking pool would).
struct SlowHost {
    store: sieve::managesieve::store::FsScriptStore,
}

impl sieve::managesieve::tokio::AsyncServerHost for SlowHost {
    async fn auth_decision(
        &mut self,
        decision: smtp_proto::sasl::Decision,
    ) -> smtp_proto::sasl::Answer {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        match decision {
            smtp_proto::sasl::Decision::VerifyPassword {
                authcid, password, ..
            } if authcid == "carol" && password.expose() == "carolpw" => {
                smtp_proto::sasl::Answer::Accept
            }
            _ => smtp_proto::sasl::Answer::Reject,
        }
    }

    async fn script(
        &mut self,
        _owner: &str,
        request: sieve::managesieve::server::ScriptRequest,
    ) -> Result<sieve::managesieve::server::ScriptReply, sieve::managesieve::server::StoreError>
    {
        tokio::task::yield_now().await;
        self.store.execute(&request)
    }

    async fn auth_step(
        &mut self,
        _event: &sieve::managesieve::server::ServerEvent,
    ) -> sieve::managesieve::server::AuthStep {
        sieve::managesieve::server::AuthStep::Failure {
            code: None,
            text: "no".into(),
        }
    }

    async fn validate(&mut self, _script: &[u8]) -> sieve::managesieve::server::Validation {
        sieve::managesieve::server::Validation::Valid { warnings: None }
    }
}

#[tokio::test]
async fn an_async_host_on_a_spawned_task() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = sieve::managesieve::store::FsScriptStore::open(dir.path().join("carol")).unwrap();
    // Spawned: the connection future must be Send.
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut config = sieve::managesieve::server::ServerConfig::default();
        config.require_tls_for_auth = false; // loopback test without a certificate
        let session =
            sieve::managesieve::server::ServerSession::new(config, std::time::Instant::now());
        let mut host = SlowHost { store };
        sieve::managesieve::tokio::serve_connection(tcp, session, None, &mut host).await
    });
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"AUTHENTICATE \"PLAIN\" \"AGNhcm9sAGNhcm9scHc=\"\r\nPUTSCRIPT \"s\" {5+}\r\nkeep;\r\nLISTSCRIPTS\r\nLOGOUT\r\n",
    )
    .await
    .unwrap();
    let mut all = Vec::new();
    tcp.read_to_end(&mut all).await.unwrap();
    let text = String::from_utf8(all).unwrap();
    let after_greeting = text.split_once("\r\nOK\r\n").unwrap().1;
    let lines: Vec<&str> = after_greeting.lines().collect();
    assert!(lines[0].starts_with("OK"), "{text}");
    assert!(lines[1].starts_with("OK"), "{text}");
    assert_eq!(lines[2], "\"s\"");
    assert!(
        lines[3].starts_with("OK") && lines[4].starts_with("OK \"Logout"),
        "{text}"
    );
    server.await.unwrap().unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("carol/s.sieve")).unwrap(),
        b"keep;"
    );
}
