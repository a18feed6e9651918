//! Shared harness of the `server_*` tests: a mail-server started in-process on ephemeral
//! loopback ports with a scratch data directory, and clients that trust its certificate.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use examples::server::config::Config;
use examples::server::runtime::{Server, Shared};

/// A running server.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
    pub bound: BTreeMap<String, SocketAddr>,
    pub shared: Arc<Shared>,
}

/// `[listeners.NAME]` tables on 127.0.0.1:0 for (name, service, tls).
pub fn listeners(list: &[(&str, &str, &str)]) -> String {
    let mut s = String::new();
    for (name, service, tls) in list {
        let _ = write!(
            s,
            "[listeners.{name}]\nservice = \"{service}\"\naddress = \"127.0.0.1:0\"\ntls = \"{tls}\"\n"
        );
    }
    s
}

impl TestServer {
    /// Starts a server with this configuration text (listeners included) and these
    /// `(address, password)` users ({PLAIN} hashes: fast in debug builds).
    pub async fn start(config: &str, users: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mail-server.toml");
        std::fs::write(&file, config).unwrap();
        let cfg = Config::load(&file).unwrap();
        for (a, p) in users {
            examples::server::users::add(
                &cfg.users_file(),
                &examples::server::users::User {
                    address: a.parse().unwrap(),
                    password: format!("{{PLAIN}}{p}"),
                    quota: None,
                },
            )
            .unwrap();
        }
        let shared = Shared::new(cfg).unwrap();
        let server = Server::start(
            Arc::clone(&shared),
            &examples::server::services(),
            Some(file),
        )
        .await
        .unwrap();
        let bound = server.bound().clone();
        Self {
            dir,
            server: Some(server),
            bound,
            shared,
        }
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.bound[listener]
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("mail-data")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.data_dir().join("tls/cert.pem")
    }

    /// A rustls client configuration that trusts the server's self-signed certificate.
    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        client_tls(&self.cert_path())
    }

    /// Stops the server and waits for its sessions.
    pub async fn stop(&mut self) -> usize {
        match self.server.take() {
            Some(s) => s.shutdown(Duration::from_secs(10)).await,
            None => 0,
        }
    }

    /// The files of one folder of a user's Maildir (`new/` and `cur/`), contents.
    pub fn messages(&self, user: &str, folder: &str) -> Vec<String> {
        let (local, domain) = user.split_once('@').unwrap();
        let mut root = self
            .data_dir()
            .join("users")
            .join(domain)
            .join(local)
            .join("Maildir");
        if folder != "INBOX" {
            root = root.join(format!(".{folder}"));
        }
        read_maildir(&root)
    }
}

pub fn read_maildir(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in rd {
            out.push(
                String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned(),
            );
        }
    }
    out.sort();
    out
}

pub fn client_tls(cert: &Path) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
