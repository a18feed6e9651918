//! The adapter over real loopback sockets: our client against our server, plaintext,
//! STARTTLS with AUTH (PLAIN and SCRAM-SHA-256-PLUS bound to the real TLS exporter),
//! implicit TLS, a PROXY header, asynchronous verdicts, and graceful shutdown.
#![allow(clippy::field_reassign_with_default)]

use std::sync::Mutex;

use super::*;
use crate::client::TlsMode;
use crate::reply::{EnhancedStatus, Reply, ReplyCode};
use crate::sasl::{Credentials, Mechanism};

fn reply(code: u16, status: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(
        ReplyCode::new(code).unwrap(),
        EnhancedStatus::new(status.0, status.1, status.2).ok(),
        [text],
    )
    .unwrap()
}

/// What every host of a test saw.
#[derive(Default, Debug)]
struct Seen {
    messages: Vec<Vec<u8>>,
    events: Vec<Event>,
    infos: Vec<SessionInfo>,
}

struct Host {
    seen: Arc<Mutex<Seen>>,
    current: Vec<u8>,
}

impl SmtpHost for Host {
    async fn decide(&mut self, decision: Decision, info: &SessionInfo) -> Verdict {
        // Answers arrive asynchronously, as after a lookup or an fsync.
        ::tokio::time::sleep(Duration::from_millis(1)).await;
        match decision {
            Decision::Rcpt { to, .. } if to.to_string().starts_with("<nobody") => {
                Verdict::Reject(reply(550, (5, 1, 1), "User unknown"))
            }
            Decision::EndOfData { .. } => {
                let mut seen = self.seen.lock().unwrap();
                seen.messages.push(std::mem::take(&mut self.current));
                seen.infos.push(info.clone());
                Verdict::AcceptWith(reply(250, (2, 0, 0), "Ok: queued as T1"))
            }
            _ => Verdict::Accept,
        }
    }

    async fn auth(&mut self, decision: sasl::Decision, _: &SessionInfo) -> sasl::Answer {
        match decision {
            sasl::Decision::VerifyPassword {
                authcid, password, ..
            } if authcid == "alice" && password.expose() == "alicepw" => sasl::Answer::Accept,
            sasl::Decision::ScramCredentials { authcid, .. } if authcid == "alice" => {
                sasl::Answer::Scram(
                    sasl::ScramCredentials::derive("alicepw", b"NaCl-alice", 4096).unwrap(),
                )
            }
            _ => sasl::Answer::Reject,
        }
    }

    async fn message_data(&mut self, chunk: Vec<u8>) {
        self.current.extend_from_slice(&chunk);
    }

    fn event(&mut self, event: &Event, _: &SessionInfo) {
        if *event == Event::TransactionReset {
            self.current.clear();
        }
        self.seen.lock().unwrap().events.push(event.clone());
    }
}

fn tls_pair() -> (Arc<rustls::ServerConfig>, ClientTls) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let der = ck.cert.der().clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (
        Arc::new(server),
        ClientTls {
            config: Arc::new(client),
            server_name: ServerName::try_from("localhost").unwrap(),
        },
    )
}

struct Running {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: watch::Sender<bool>,
    task: ::tokio::task::JoinHandle<io::Result<()>>,
}

async fn start(config: ServerConfig, options: ServeOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (stop, shutdown) = watch::channel(false);
    let s = Arc::clone(&seen);
    let task = ::tokio::spawn(serve(
        listener,
        Arc::new(config),
        options,
        move |_| {
            Some(Host {
                seen: Arc::clone(&s),
                current: Vec::new(),
            })
        },
        shutdown,
    ));
    Running {
        addr,
        seen,
        stop,
        task,
    }
}

const MSG: &[u8] = b"Subject: t\r\n\r\n.dot line\r\nbare\nLF\r\n";

#[::tokio::test]
async fn plaintext_mail_with_partial_recipients() {
    let r = start(ServerConfig::new("mx.example.org"), ServeOptions::default()).await;
    let mut c = SmtpClient::connect(r.addr, ClientConfig::new("client.example"), None)
        .await
        .unwrap();
    assert!(c.capabilities().unwrap().pipelining);
    let env = Envelope::parse("a@example.org", ["b@example.org", "nobody@example.org"]).unwrap();
    let result = c.send_mail(env, MSG.to_vec()).await.unwrap();
    assert_eq!(result.delivered(), 1);
    assert_eq!(result.recipients[1].reply.code().get(), 550);
    // A second message on the same connection.
    let env = Envelope::parse("a@example.org", ["c@example.org"]).unwrap();
    let result = c.send_mail(env, b"second\r\n".to_vec()).await.unwrap();
    assert_eq!(result.delivered(), 1);
    c.quit().await.unwrap();
    r.stop.send(true).unwrap();
    r.task.await.unwrap().unwrap();
    let seen = r.seen.lock().unwrap();
    assert_eq!(
        seen.messages,
        [
            b"Subject: t\r\n\r\n.dot line\r\nbare\r\nLF\r\n".to_vec(),
            b"second\r\n".to_vec()
        ]
    );
    assert!(seen.events.contains(&Event::Quit));
}

#[::tokio::test]
async fn starttls_auth_plain_and_scram_plus() {
    let (server_tls, client_tls) = tls_pair();
    let mut config = ServerConfig::submission("mail.example.org");
    config.starttls = true;
    config.auth_mechanisms = vec![Mechanism::Plain, Mechanism::ScramSha256Plus];
    let r = start(config, ServeOptions::with_tls(server_tls)).await;
    // PLAIN and SCRAM-SHA-256-PLUS offered: the client takes PLUS, bound to this TLS session.
    {
        let expect = Mechanism::ScramSha256Plus;
        let mut cc = ClientConfig::new("laptop.example");
        cc.tls = TlsMode::Required;
        cc.credentials = Some(Credentials::password("alice", "alicepw"));
        let mut c = SmtpClient::connect(r.addr, cc, Some(client_tls.clone()))
            .await
            .unwrap();
        assert!(c.is_tls());
        assert!(c.events().contains(&client::Event::Authenticated(expect)));
        let env = Envelope::parse("alice@example.org", ["bob@example.net"]).unwrap();
        assert_eq!(c.send_mail(env, MSG.to_vec()).await.unwrap().delivered(), 1);
        c.quit().await.unwrap();
    }
    // A wrong password fails the session with 535.
    let mut cc = ClientConfig::new("laptop.example");
    cc.credentials = Some(Credentials::password("alice", "wrong"));
    let e = SmtpClient::connect(r.addr, cc, Some(client_tls.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SmtpError::Session(ClientError::Auth(r)) if r.code().get() == 535),
        "{e}"
    );
    r.stop.send(true).unwrap();
    r.task.await.unwrap().unwrap();
    let seen = r.seen.lock().unwrap();
    let info = &seen.infos[0];
    assert!(info.tls.as_ref().is_some_and(|t| t.version.contains("TLS")));
    assert_eq!(info.authenticated.as_deref(), Some("alice"));
}

#[::tokio::test]
async fn implicit_tls() {
    let (server_tls, client_tls) = tls_pair();
    let mut options = ServeOptions::with_tls(server_tls);
    options.implicit_tls = true;
    let mut config = ServerConfig::submission("mail.example.org");
    config.auth_mechanisms = vec![Mechanism::Plain];
    let r = start(config, options).await;
    let mut cc = ClientConfig::new("laptop.example");
    cc.tls = TlsMode::Implicit;
    cc.credentials = Some(Credentials::password("alice", "alicepw"));
    let mut c = SmtpClient::connect(r.addr, cc, Some(client_tls))
        .await
        .unwrap();
    assert!(
        c.events()
            .contains(&client::Event::Authenticated(Mechanism::Plain))
    );
    let env = Envelope::parse("alice@example.org", ["bob@example.net"]).unwrap();
    assert_eq!(c.send_mail(env, MSG.to_vec()).await.unwrap().delivered(), 1);
    c.quit().await.unwrap();
    r.stop.send(true).unwrap();
    r.task.await.unwrap().unwrap();
}

#[::tokio::test]
async fn proxy_header_sets_the_peer() {
    let mut options = ServeOptions::default();
    options.proxy_protocol = true;
    let r = start(ServerConfig::new("mx.example.org"), options).await;
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    let src: SocketAddr = "203.0.113.9:40000".parse().unwrap();
    let dst: SocketAddr = "198.51.100.1:25".parse().unwrap();
    s.write_all(&ProxyHeader::v1(src, dst)).await.unwrap();
    let mut c = SmtpClient::from_stream(s, ClientConfig::new("c.example"), None)
        .await
        .unwrap();
    let env = Envelope::parse("a@example.org", ["b@example.org"]).unwrap();
    c.send_mail(env, MSG.to_vec()).await.unwrap();
    c.quit().await.unwrap();
    r.stop.send(true).unwrap();
    r.task.await.unwrap().unwrap();
    let seen = r.seen.lock().unwrap();
    assert_eq!(seen.infos[0].peer, src);
    assert_eq!(seen.infos[0].local, dst);
}

#[::tokio::test]
async fn graceful_shutdown_says_421() {
    let r = start(ServerConfig::new("mx.example.org"), ServeOptions::default()).await;
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"220 "));
    s.write_all(b"EHLO c.example\r\n").await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"250-"));
    r.stop.send(true).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert!(rest.starts_with(b"421 4.3.2 "), "{rest:?}");
    r.task.await.unwrap().unwrap();
    // The listener is gone.
    assert!(TcpStream::connect(r.addr).await.is_err());
}

#[::tokio::test]
async fn command_timeout_closes() {
    let mut config = ServerConfig::new("mx.example.org");
    config.command_timeout = Duration::from_millis(200);
    let r = start(config, ServeOptions::default()).await;
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.starts_with("220 ") && text.contains("421 4.4.2"),
        "{text}"
    );
    r.stop.send(true).unwrap();
    r.task.await.unwrap().unwrap();
    assert!(r.seen.lock().unwrap().events.contains(&Event::Timeout));
}
