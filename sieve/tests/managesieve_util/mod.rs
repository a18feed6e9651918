//! A ManageSieve server on 127.0.0.1 for the adapter and interop tests: the tokio adapter,
//! STARTTLS with a fresh self-signed certificate, SASL PLAIN/LOGIN/SCRAM-SHA-256, users
//! alice/alicepw and bob/bobpw, scripts in a temporary directory per user.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sieve::managesieve::server::{
    ScriptReply, ScriptRequest, ServerConfig, ServerSession, StoreError,
};
use sieve::managesieve::store::FsScriptStore;
use sieve::managesieve::tokio::{ServerHost, serve_connection};
use smtp_proto::sasl::{Answer, Decision, ScramCredentials};
use tokio_rustls::rustls;

pub struct TestServer {
    pub addr: SocketAddr,
    /// The server certificate (PEM), to trust as a CA.
    pub cert_pem: PathBuf,
    pub root: tempfile::TempDir,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
}

impl TestServer {
    pub fn user_dir(&self, user: &str) -> PathBuf {
        self.root.path().join("users").join(user)
    }
}

fn password(user: &str) -> Option<&'static str> {
    match user {
        "alice" => Some("alicepw"),
        "bob" => Some("bobpw"),
        _ => None,
    }
}

struct Host {
    root: PathBuf,
}

impl ServerHost for Host {
    fn auth_decision(&mut self, decision: Decision) -> Answer {
        match decision {
            Decision::VerifyPassword {
                authcid,
                password: pw,
                authzid,
            } => {
                let ok = password(&authcid) == Some(pw.expose().as_str())
                    && authzid
                        .as_ref()
                        .is_none_or(|z| z.is_empty() || *z == authcid);
                if ok { Answer::Accept } else { Answer::Reject }
            }
            Decision::ScramCredentials { authcid, .. } => match password(&authcid) {
                Some(pw) => {
                    Answer::Scram(ScramCredentials::derive(pw, b"msieve-salt", 4096).unwrap())
                }
                None => Answer::Reject,
            },
            _ => Answer::Reject,
        }
    }

    fn script(&mut self, owner: &str, request: ScriptRequest) -> Result<ScriptReply, StoreError> {
        let store = FsScriptStore::open(self.root.join(owner))
            .map_err(|_| StoreError::TryLater("store unavailable".into()))?;
        store.execute(&request)
    }
}

pub fn tls_config(
    dir: &Path,
) -> (
    Arc<rustls::ServerConfig>,
    PathBuf,
    rustls::pki_types::CertificateDer<'static>,
) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let pem = dir.join("cert.pem");
    std::fs::write(&pem, ck.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let der = ck.cert.der().clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    (Arc::new(cfg), pem, der)
}

pub fn client_tls(ca: &rustls::pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    client_tls_roots(roots)
}

pub fn client_tls_roots(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Starts the server on a thread of its own; it lives as long as the test process.
pub fn start() -> TestServer {
    start_with(&["PLAIN", "LOGIN", "SCRAM-SHA-256"])
}

/// Like [`start`], offering these SASL mechanisms.
pub fn start_with(mechanisms: &[&str]) -> TestServer {
    let mechanisms: Vec<String> = mechanisms.iter().map(|m| (*m).to_owned()).collect();
    let root = tempfile::tempdir().unwrap();
    let (tls, cert_pem, cert_der) = tls_config(root.path());
    let users = root.path().join("users");
    std::fs::create_dir_all(&users).unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let tls = tls.clone();
                let root = users.clone();
                let mechanisms = mechanisms.clone();
                tokio::spawn(async move {
                    let mut config = ServerConfig::default();
                    config.starttls = true;
                    config.implementation = "mail-crates test server".into();
                    config.sasl_mechanisms = mechanisms;
                    let session = ServerSession::new(config, std::time::Instant::now());
                    let mut host = Host { root };
                    let _ = serve_connection(tcp, session, Some(tls), &mut host).await;
                });
            }
        });
    });
    TestServer {
        addr,
        cert_pem,
        root,
        cert_der,
    }
}

/// Trusts exactly one certificate (compared byte for byte), still checking the handshake
/// signatures. For the peers' self-signed certificate, which is marked CA:TRUE and so is
/// refused by webpki as a server certificate (`CaUsedAsEndEntity`).
#[derive(Debug)]
struct Pinned {
    cert: rustls::pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration that trusts exactly `cert`.
pub fn client_tls_pinned(
    cert: rustls::pki_types::CertificateDer<'static>,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { cert, provider }))
            .with_no_client_auth(),
    )
}
