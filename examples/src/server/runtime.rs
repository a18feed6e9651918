//! The running server: logging, listeners, connection admission, signals.
//!
//! [`Server::start`] binds every listener (a port that cannot be bound stops the start with
//! a message naming it), then each accepted socket goes through the [`ConnLimiter`]: a
//! refused client gets its protocol's "too busy" line (`421 4.7.0`, `* BYE`) from the
//! service's [`Service::refusal`] and is closed; an admitted one is handed to the service
//! in its own task with a [`Connection`] that carries everything a session needs.
//!
//! Signals:
//! - SIGTERM / SIGINT: stop accepting, tell every session to finish (the shutdown watch in
//!   [`Connection::shutdown`] turns true), wait up to the grace period for them to end,
//!   then exit. Sessions finish what they are doing: a message being received is received
//!   and stored before the session says goodbye, so nothing acknowledged is lost.
//! - SIGHUP: re-read the configuration file, the users file and the certificate; a bad
//!   new configuration is logged and the running one kept. Listener changes need a
//!   restart (logged).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use super::checks::Checks;
use super::config::{Config, ListenerConfig, Service as ServiceKind};
use super::delivery::Deliverer;
use super::directory::Accounts;
use super::limits::{ConnGuard, ConnLimiter, Refusal};
use super::mailstore::{Mailstore, StoreSettings};
use super::tls::Tls;

/// Installs the tracing subscriber: `RUST_LOG` if set, else the configured filter; one
/// line per event on standard error.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// State every session shares. Fields that a reload changes sit behind locks and are read
/// through the accessors.
#[derive(Debug)]
pub struct Shared {
    config: RwLock<Arc<Config>>,
    /// Accounts, aliases and the authentication service.
    pub accounts: Arc<Accounts>,
    /// TLS configuration (certificate swapped on reload).
    pub tls: Tls,
    /// The accounts' Maildirs, shared by delivery and IMAP.
    pub stores: Arc<Mailstore>,
    /// The delivery agent (Sieve, Maildir).
    pub deliverer: Arc<Deliverer>,
    checks: RwLock<Arc<Checks>>,
    /// Memory held by messages being received (`limits.message_memory`).
    pub message_memory: Arc<MemoryBudget>,
    limiter: RwLock<Arc<ConnLimiter>>,
    sessions: AtomicU64,
}

impl Shared {
    /// Builds the shared state from a configuration: loads the users and the certificate
    /// (generating it on first start when none is configured).
    pub fn new(cfg: Config) -> Result<Arc<Self>, String> {
        let cfg = Arc::new(cfg);
        let accounts = Arc::new(Accounts::new(Arc::clone(&cfg))?);
        let (cert, key, generate) = cfg.tls_files();
        let tls =
            Tls::setup(cfg.hostname.as_str(), &cert, &key, generate).map_err(|e| e.to_string())?;
        let stores = Arc::new(Mailstore::new(StoreSettings {
            fsync: true,
            max_message_size: cfg.limits.max_message_size.0,
            hostname: cfg.hostname.to_string(),
        }));
        let deliverer = Arc::new(Deliverer::new(Arc::clone(&stores), cfg.hostname.as_str()));
        let checks = Checks::new(&cfg.checks, cfg.hostname.as_str());
        if let Err(e) = checks.load_greylist(&greylist_file(&cfg)) {
            tracing::warn!(error = %e, "greylist state not loaded");
        }
        Ok(Arc::new(Self {
            message_memory: Arc::new(MemoryBudget::new(cfg.limits.message_memory.0)),
            checks: RwLock::new(Arc::new(checks)),
            stores,
            deliverer,
            limiter: RwLock::new(Arc::new(limiter_for(&cfg))),
            config: RwLock::new(cfg),
            accounts,
            tls,
            sessions: AtomicU64::new(0),
        }))
    }

    /// The configuration in effect.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies a new configuration (SIGHUP): accounts, certificate, limits.
    pub fn reload(&self, cfg: Config) -> Result<(), String> {
        let cfg = Arc::new(cfg);
        self.accounts.reload(Arc::clone(&cfg))?;
        let (cert, key, generate) = cfg.tls_files();
        if generate && !(cert.exists() && key.exists()) {
            super::tls::generate_self_signed(cfg.hostname.as_str(), &cert, &key)
                .map_err(|e| e.to_string())?;
        }
        self.tls.reload(&cert, &key).map_err(|e| e.to_string())?;
        let old = self.config();
        if old.listeners() != cfg.listeners() {
            tracing::warn!("listener changes take effect after a restart");
        }
        *self.limiter.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(limiter_for(&cfg));
        self.message_memory.set_limit(cfg.limits.message_memory.0);
        // New checks (resolver, greylist settings); the greylist table goes across through
        // its file.
        let old_checks = self.checks();
        let _ = old_checks.save_greylist(&greylist_file(&old));
        let checks = Checks::new(&cfg.checks, cfg.hostname.as_str());
        let _ = checks.load_greylist(&greylist_file(&cfg));
        *self.checks.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(checks);
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = cfg;
        Ok(())
    }

    /// The MX checks (resolver, greylist, DNSBL).
    pub fn checks(&self) -> Arc<Checks> {
        Arc::clone(&self.checks.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Saves state that outlives the process (the greylist table).
    pub fn save_state(&self) {
        if let Err(e) = self.checks().save_greylist(&greylist_file(&self.config())) {
            tracing::warn!(error = %e, "greylist state not saved");
        }
    }

    fn limiter(&self) -> Arc<ConnLimiter> {
        Arc::clone(&self.limiter.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// A new session id (`S` + counter), for the log lines of one connection.
    pub fn next_session_id(&self) -> u64 {
        self.sessions.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A shared byte budget: reservations succeed while the total stays within the limit.
#[derive(Debug)]
pub struct MemoryBudget {
    used: AtomicU64,
    limit: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(limit),
        }
    }

    /// Changes the limit (reservations already made stay).
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Reserves `n` bytes, or returns false (reserving nothing) if that would exceed the
    /// limit.
    pub fn try_reserve(&self, n: u64) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= limit)
            })
            .is_ok()
    }

    /// Gives back `n` reserved bytes.
    pub fn release(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

fn greylist_file(cfg: &Config) -> PathBuf {
    cfg.data_dir().join("greylist")
}

fn limiter_for(cfg: &Config) -> ConnLimiter {
    let l = &cfg.limits;
    ConnLimiter::new(
        l.max_connections,
        l.max_connections_per_ip,
        l.connection_rate_per_ip,
        l.exempt_networks.clone(),
    )
}

/// One admitted connection.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    pub stream: TcpStream,
    /// The client.
    pub peer: SocketAddr,
    /// Our side.
    pub local: SocketAddr,
    /// The listener's name in the configuration.
    pub listener: String,
    /// The listener's settings.
    pub settings: ListenerConfig,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Turns true when the server is shutting down: finish the current command or
    /// message, then close politely.
    pub shutdown: watch::Receiver<bool>,
    /// Session number for the log.
    pub id: u64,
}

/// A boxed session future.
pub type SessionFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A protocol served on listeners of one [`ServiceKind`].
pub trait Service: Send + Sync + 'static {
    /// The bytes sent to a client refused by the connection limits before closing.
    fn refusal(&self, why: Refusal) -> Vec<u8>;
    /// Serves one connection to its end.
    fn serve(&self, conn: Connection) -> SessionFuture;
}

/// Counts live sessions so shutdown can wait for them.
#[derive(Debug, Default)]
struct Tracker {
    live: AtomicUsize,
    idle: Notify,
}

struct TrackGuard(Arc<Tracker>);

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A started server.
pub struct Server {
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    tracker: Arc<Tracker>,
    bound: BTreeMap<String, SocketAddr>,
    accept_tasks: Vec<tokio::task::JoinHandle<()>>,
    config_file: Option<PathBuf>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every configured listener and starts accepting. `services` must have a
    /// service for every listener's kind; `config_file` is what SIGHUP re-reads.
    pub async fn start(
        shared: Arc<Shared>,
        services: &BTreeMap<ServiceKind, Arc<dyn Service>>,
        config_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        let cfg = shared.config();
        let (shutdown_tx, _) = watch::channel(false);
        let tracker = Arc::new(Tracker::default());
        let mut bound = BTreeMap::new();
        let mut listeners = Vec::new();
        for (name, l) in cfg.listeners() {
            let service = services.get(&l.service).ok_or_else(|| {
                format!(
                    "listener {name}: the {} service is not available in this build",
                    l.service
                )
            })?;
            let sock = TcpListener::bind(l.address)
                .await
                .map_err(|e| format!("listener {name}: cannot bind {}: {e}", l.address))?;
            let addr = sock.local_addr().map_err(|e| e.to_string())?;
            bound.insert(name.clone(), addr);
            listeners.push((name, l, sock, Arc::clone(service)));
        }
        let mut accept_tasks = Vec::new();
        for (name, settings, sock, service) in listeners {
            let shared = Arc::clone(&shared);
            let rx = shutdown_tx.subscribe();
            let tracker = Arc::clone(&tracker);
            accept_tasks.push(tokio::spawn(accept_loop(
                name, settings, sock, service, shared, rx, tracker,
            )));
        }
        Ok(Self {
            shared,
            shutdown_tx,
            tracker,
            bound,
            accept_tasks,
            config_file,
        })
    }

    /// The addresses actually bound, by listener name (port 0 in the configuration
    /// becomes the port the system chose).
    pub fn bound(&self) -> &BTreeMap<String, SocketAddr> {
        &self.bound
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Re-reads the configuration file (if any) and applies it.
    pub fn reload(&self) -> Result<(), String> {
        let cfg = match &self.config_file {
            Some(p) => Config::load(p).map_err(|e| e.to_string())?,
            None => (*self.shared.config()).clone(),
        };
        self.shared.reload(cfg)
    }

    /// Stops accepting, asks sessions to finish, and waits up to `grace` for them.
    /// Returns the number of sessions still running when it gave up.
    pub async fn shutdown(self, grace: Duration) -> usize {
        let _ = self.shutdown_tx.send(true);
        for t in &self.accept_tasks {
            t.abort();
        }
        let deadline = Instant::now() + grace;
        loop {
            let waiter = self.tracker.idle.notified();
            let live = self.tracker.live.load(Ordering::Acquire);
            if live == 0 {
                return 0;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return live;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), waiter).await;
        }
    }

    /// Runs until SIGTERM or SIGINT, reloading on SIGHUP; then shuts down gracefully.
    pub async fn run_until_signalled(self, grace: Duration) -> std::io::Result<usize> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut save = tokio::time::interval(Duration::from_mins(5));
        save.tick().await;
        loop {
            tokio::select! {
                _ = save.tick() => self.shared.save_state(),
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
                _ = hup.recv() => match self.reload() {
                    Ok(()) => tracing::info!("SIGHUP: configuration, users and certificate reloaded"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed, keeping the running configuration"),
                },
            }
        }
        let shared = Arc::clone(&self.shared);
        let left = self.shutdown(grace).await;
        shared.save_state();
        if left > 0 {
            tracing::warn!(
                sessions = left,
                "shutdown grace period over, closing the rest"
            );
        } else {
            tracing::info!("all sessions finished");
        }
        Ok(left)
    }
}

async fn accept_loop(
    name: String,
    settings: ListenerConfig,
    sock: TcpListener,
    service: Arc<dyn Service>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    tracker: Arc<Tracker>,
) {
    loop {
        let accepted = tokio::select! {
            r = sock.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(settings.address);
        let limiter = shared.limiter();
        match limiter.try_acquire(peer.ip(), Instant::now()) {
            Err(why) => {
                tracing::info!(listener = %name, client = %peer, reason = why.text(), "connection refused");
                let line = service.refusal(why);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        let _ = stream.write_all(&line).await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                });
            }
            Ok(guard) => {
                let _ = stream.set_nodelay(true);
                tracker.live.fetch_add(1, Ordering::AcqRel);
                let track = TrackGuard(Arc::clone(&tracker));
                let conn = Connection {
                    stream,
                    peer,
                    local,
                    listener: name.clone(),
                    settings: settings.clone(),
                    id: shared.next_session_id(),
                    shared: Arc::clone(&shared),
                    shutdown: shutdown.clone(),
                };
                let fut = service.serve(conn);
                // The slot and the live count are held by the task, not by the
                // Connection, so they last exactly as long as the session runs.
                tokio::spawn(async move {
                    let _slot: ConnGuard = guard;
                    let _track = track;
                    fut.await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    /// A line-echo service for the runtime's own tests (not a mail protocol).
    struct Echo;

    impl Service for Echo {
        fn refusal(&self, why: Refusal) -> Vec<u8> {
            format!("busy: {}\n", why.text()).into_bytes()
        }
        fn serve(&self, conn: Connection) -> SessionFuture {
            Box::pin(async move {
                let Connection {
                    stream,
                    mut shutdown,
                    ..
                } = conn;
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                loop {
                    tokio::select! {
                        l = lines.next_line() => match l {
                            Ok(Some(l)) => { let _ = w.write_all(format!("{l}\n").as_bytes()).await; }
                            _ => return,
                        },
                        _ = shutdown.changed() => {
                            let _ = w.write_all(b"bye\n").await;
                            return;
                        }
                    }
                }
            })
        }
    }

    fn test_config(dir: &std::path::Path, extra: &str) -> Config {
        let text = format!(
            "[listeners.a]\nservice = \"mx\"\naddress = \"127.0.0.1:0\"\ntls = \"none\"\n{extra}"
        );
        Config::parse(&text, Some(&dir.join("m.toml"))).unwrap()
    }

    fn services() -> BTreeMap<ServiceKind, Arc<dyn Service>> {
        let mut m: BTreeMap<ServiceKind, Arc<dyn Service>> = BTreeMap::new();
        m.insert(ServiceKind::Mx, Arc::new(Echo));
        m
    }

    #[tokio::test]
    async fn admits_refuses_and_shuts_down_gracefully() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = test_config(dir.path(), "[limits]\nmax_connections_per_ip = 2\n");
        let shared = Shared::new(cfg).unwrap();
        assert!(dir.path().join("mail-data/tls/cert.pem").exists());
        let server = Server::start(shared, &services(), None).await.unwrap();
        let addr = server.bound()["a"];
        assert_ne!(addr.port(), 0);
        let mut a = BufReader::new(TcpStream::connect(addr).await.unwrap());
        let mut b = BufReader::new(TcpStream::connect(addr).await.unwrap());
        a.get_mut().write_all(b"hello\n").await.unwrap();
        let mut line = String::new();
        a.read_line(&mut line).await.unwrap();
        assert_eq!(line, "hello\n");
        // A third connection from the same address is refused with the service's line.
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut refused = String::new();
        c.read_to_string(&mut refused).await.unwrap();
        assert_eq!(refused, "busy: Too many connections from your address\n");
        // Shutdown: both sessions are told, say goodbye, and the server waits for them.
        let left = server.shutdown(Duration::from_secs(5)).await;
        assert_eq!(left, 0);
        for s in [&mut a, &mut b] {
            let mut rest = String::new();
            s.read_to_string(&mut rest).await.unwrap();
            assert_eq!(rest, "bye\n");
        }
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
        );
    }

    #[test]
    fn memory_budget_reserves_and_releases() {
        let b = MemoryBudget::new(100);
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(41));
        assert!(b.try_reserve(40));
        assert_eq!(b.used(), 100);
        b.release(60);
        assert!(b.try_reserve(50));
        b.set_limit(10);
        assert!(!b.try_reserve(1));
        b.release(1000);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn bind_errors_name_the_listener() {
        let dir = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let text = format!(
            "[listeners.smtp]\nservice = \"mx\"\naddress = \"127.0.0.1:{port}\"\ntls = \"none\"\n"
        );
        let cfg = Config::parse(&text, Some(&dir.path().join("m.toml"))).unwrap();
        let shared = Shared::new(cfg).unwrap();
        let e = Server::start(shared, &services(), None).await.unwrap_err();
        assert!(e.contains("listener smtp: cannot bind"), "{e}");
        let cfg = Config::parse(
            "[listeners.i]\nservice = \"imap\"\naddress = \"127.0.0.1:0\"\ntls = \"none\"\n",
            Some(&dir.path().join("m.toml")),
        )
        .unwrap();
        let e = Server::start(Shared::new(cfg).unwrap(), &services(), None)
            .await
            .unwrap_err();
        assert!(e.contains("imap service is not available"), "{e}");
    }

    #[tokio::test]
    async fn reload_applies_new_limits_and_keeps_old_config_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.toml");
        let base = "[listeners.a]\nservice = \"mx\"\naddress = \"127.0.0.1:0\"\ntls = \"none\"\n";
        std::fs::write(&file, base).unwrap();
        let shared = Shared::new(Config::load(&file).unwrap()).unwrap();
        let server = Server::start(shared, &services(), Some(file.clone()))
            .await
            .unwrap();
        std::fs::write(&file, format!("{base}[limits]\nmax_connections = 0\n")).unwrap();
        server.reload().unwrap();
        let addr = server.bound()["a"];
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut refused = String::new();
        c.read_to_string(&mut refused).await.unwrap();
        assert!(
            refused.starts_with("busy: Too many connections, try"),
            "{refused}"
        );
        std::fs::write(&file, "bogus = 1\n").unwrap();
        let e = server.reload().unwrap_err();
        assert!(e.contains(":1:1: unknown field"), "{e}");
        assert_eq!(server.shared().config().limits.max_connections, 0);
        server.shutdown(Duration::from_secs(1)).await;
    }
}
