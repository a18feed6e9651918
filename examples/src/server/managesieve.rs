//! The ManageSieve service (RFC 5804, MSIEVE-001..006) on the `sieve` crate's session and
//! tokio adapter: users upload, check, list, activate and delete their Sieve scripts, which
//! [`super::delivery`] then runs on their mail.
//!
//! Scripts live in `HOME/sieve/` in the crate's crash-safe [`FsScriptStore`] layout
//! (`NAME.sieve`, `.active` symlink). PUTSCRIPT and CHECKSCRIPT are validated by the same
//! compiler, with the same extensions, that delivery uses. Logins go through the shared
//! authentication service; passwords only inside TLS, or on loopback when
//! `auth.plaintext = "loopback"`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sieve::managesieve::server::{
    ScriptReply, ScriptRequest, ServerConfig, ServerSession, StoreError,
};
use sieve::managesieve::store::{FsScriptStore, StoreLimits};
use sieve::managesieve::tokio::{ServerHost, serve_connection};
use smtp_proto::sasl;

use super::config::{Plaintext, TlsMode};
use super::directory::{Accounts, AuthFailure};
use super::limits::Refusal;
use super::runtime::{Connection, Service, SessionFuture};
use super::types::canonical_ip;

/// The ManageSieve service.
#[derive(Debug, Default)]
pub struct ManageSieve;

struct Host {
    accounts: Arc<Accounts>,
    failure_delay: Duration,
    user: Option<String>,
    peer: std::net::SocketAddr,
}

impl Host {
    fn verify(&mut self, authcid: &str, authzid: Option<&str>, password: &str) -> sasl::Answer {
        if authzid.is_some_and(|z| !z.is_empty() && !z.eq_ignore_ascii_case(authcid)) {
            return sasl::Answer::Reject;
        }
        // The adapter's host calls are synchronous: run the hash on this worker thread
        // with the runtime told it blocks.
        let accounts = Arc::clone(&self.accounts);
        let result = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(accounts.authenticate(authcid, password))
        });
        match result {
            Ok(account) => {
                tracing::info!(client = %self.peer, user = %account.address, "managesieve login");
                self.user = Some(account.address.to_string());
                sasl::Answer::Accept
            }
            Err(e) => {
                if let AuthFailure::BadHash(h) = &e {
                    tracing::error!(user = %authcid, error = %h, "stored password hash unusable");
                }
                tracing::info!(client = %self.peer, user = %authcid, "managesieve login failed");
                tokio::task::block_in_place(|| std::thread::sleep(self.failure_delay));
                sasl::Answer::Reject
            }
        }
    }
}

impl ServerHost for Host {
    fn auth_decision(&mut self, decision: sasl::Decision) -> sasl::Answer {
        match decision {
            sasl::Decision::VerifyPassword {
                authzid,
                authcid,
                password,
            } => self.verify(&authcid, authzid.as_deref(), password.expose()),
            _ => sasl::Answer::Reject,
        }
    }

    fn script(&mut self, owner: &str, request: ScriptRequest) -> Result<ScriptReply, StoreError> {
        let Some(addr) = self.accounts.canonical_login(owner) else {
            return Err(StoreError::TryLater("unknown user".into()));
        };
        let dir = self.accounts.snapshot();
        let Some(account) = dir.account(&addr) else {
            return Err(StoreError::TryLater("account no longer exists".into()));
        };
        let store = FsScriptStore::with_limits(account.sieve_dir(), StoreLimits::default())
            .map_err(|e| StoreError::TryLater(e.to_string()))?;
        store.execute(&request)
    }
}

impl Service for ManageSieve {
    fn refusal(&self, why: Refusal) -> Vec<u8> {
        format!("BYE (TRYLATER) \"{}\"\r\n", why.text()).into_bytes()
    }

    fn serve(&self, conn: Connection) -> SessionFuture {
        Box::pin(async move {
            let cfg = conn.shared.config();
            let started = Instant::now();
            let peer = conn.peer;
            let mut scfg = ServerConfig::default();
            scfg.implementation = format!("mail-server {}", env!("CARGO_PKG_VERSION"));
            scfg.starttls = conn.settings.tls != TlsMode::None;
            scfg.require_tls_for_auth = !(cfg.auth.plaintext == Plaintext::Loopback
                && canonical_ip(peer.ip()).is_loopback());
            scfg.limits.max_auth_failures = cfg.auth.max_failures.max(1);
            scfg.limits.idle_timeout = cfg.limits.imap_timeout.0;
            let session = ServerSession::new(scfg, Instant::now());
            let mut host = Host {
                accounts: Arc::clone(&conn.shared.accounts),
                failure_delay: cfg.auth.failure_delay.0,
                user: None,
                peer,
            };
            let tls = Some(Arc::clone(&conn.shared.tls.config));
            let mut shutdown = conn.shutdown.clone();
            let result = tokio::select! {
                r = serve_connection(conn.stream, session, tls, &mut host) => r,
                _ = shutdown.changed() => Ok(()),
            };
            tracing::info!(
                session = conn.id,
                service = "managesieve",
                client = %peer,
                user = host.user.as_deref().unwrap_or("-"),
                duration_ms = started.elapsed().as_millis() as u64,
                error = result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                "session end"
            );
        })
    }
}
