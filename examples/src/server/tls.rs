//! TLS: the certificate (loaded from PEM files, or generated self-signed on first start)
//! and one rustls server configuration shared by every listener, whose certificate can be
//! swapped at run time (SIGHUP) without touching open connections.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS setup problem.
#[derive(Debug)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// Generates a self-signed certificate for `hostname` (plus `localhost`, 127.0.0.1 and
/// ::1) into `cert` and `key` (mode 0600), creating the directory. Returns the
/// certificate PEM.
pub fn generate_self_signed(hostname: &str, cert: &Path, key: &Path) -> Result<String, TlsError> {
    let mut names = vec![hostname.to_string()];
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names)
        .map_err(|e| TlsError(format!("certificate parameters: {e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "mail-server self-signed");
    let key_pair = rcgen::KeyPair::generate().map_err(|e| TlsError(format!("key: {e}")))?;
    let certificate = params
        .self_signed(&key_pair)
        .map_err(|e| TlsError(format!("self-signing: {e}")))?;
    let pem = certificate.pem();
    for p in [cert, key] {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| TlsError(format!("{}: {e}", dir.display())))?;
        }
    }
    super::users::write_atomically(key, &key_pair.serialize_pem())
        .map_err(|e| TlsError(format!("{}: {e}", key.display())))?;
    super::users::write_atomically(cert, &pem)
        .map_err(|e| TlsError(format!("{}: {e}", cert.display())))?;
    Ok(pem)
}

/// Reads a certificate chain and its private key from PEM files and checks that they
/// belong together.
pub fn load_certified_key(
    provider: &CryptoProvider,
    cert: &Path,
    key: &Path,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| TlsError(format!("{}: {e}", p.display())));
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "{}: no certificate in the file",
            cert.display()
        )));
    }
    let key_der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| TlsError(format!("{}: {e}", key.display())))?
        .ok_or_else(|| TlsError(format!("{}: no private key in the file", key.display())))?;
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError(format!("{}: {e}", key.display())))?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match().map_err(|e| {
        TlsError(format!(
            "{} and {} do not belong together: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(Arc::new(ck))
}

/// Serves whatever certificate is current; [`CertStore::set`] swaps it.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    /// A store holding `key`.
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Self {
            current: RwLock::new(key),
        }
    }

    /// Replaces the certificate; new handshakes use it.
    pub fn set(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
    }

    /// The current certificate.
    pub fn get(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The server's TLS state: the rustls configuration every listener uses and the store
/// behind it.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The rustls configuration (TLS 1.2 and 1.3, ring).
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate store, for reloads.
    pub store: Arc<CertStore>,
}

/// The crypto provider the server uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Tls {
    /// Loads (or first generates, when `generate` is set and the files are missing) the
    /// certificate and builds the configuration.
    pub fn setup(
        hostname: &str,
        cert: &Path,
        key: &Path,
        generate: bool,
    ) -> Result<Self, TlsError> {
        if generate && !(cert.exists() && key.exists()) {
            generate_self_signed(hostname, cert, key)?;
            tracing::info!(certificate = %cert.display(), "generated a self-signed certificate");
        }
        let provider = provider();
        let ck = load_certified_key(&provider, cert, key)?;
        let store = Arc::new(CertStore::new(ck));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&store) as Arc<dyn ResolvesServerCert>);
        Ok(Self {
            config: Arc::new(config),
            store,
        })
    }

    /// Re-reads the certificate files (SIGHUP). On error the old certificate stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        let ck = load_certified_key(&provider(), cert, key)?;
        self.store.set(ck);
        Ok(())
    }

    /// A tokio-rustls acceptor for this configuration.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_load_reload_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (
            dir.path().join("tls/cert.pem"),
            dir.path().join("tls/key.pem"),
        );
        let tls = Tls::setup("mail.example.org", &c, &k, true).unwrap();
        let first = tls.store.get().cert[0].clone();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&k).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }
        // Setting up again reuses the files.
        let again = Tls::setup("mail.example.org", &c, &k, true).unwrap();
        assert_eq!(again.store.get().cert[0], first);
        // New files, reload: the store serves the new certificate.
        let (c2, k2) = (dir.path().join("c2.pem"), dir.path().join("k2.pem"));
        generate_self_signed("other.example", &c2, &k2).unwrap();
        tls.reload(&c2, &k2).unwrap();
        assert_ne!(tls.store.get().cert[0], first);
        // A certificate with somebody else's key is refused and the old one stays.
        let e = tls.reload(&c, &k2).unwrap_err();
        assert!(e.0.contains("do not belong together"), "{e}");
        assert_ne!(tls.store.get().cert[0], first);
        // Missing files without generation are errors naming the file.
        let e = Tls::setup("x", &dir.path().join("none.pem"), &k, false).unwrap_err();
        assert!(e.0.contains("none.pem"), "{e}");
    }
}
