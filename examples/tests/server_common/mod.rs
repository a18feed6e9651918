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

/// A line-level SMTP client for transcripts: sends a command, returns the reply code and
/// the reply's lines joined with `\n`.
pub struct RawSmtp {
    r: tokio::io::BufReader<tokio::io::ReadHalf<tokio::net::TcpStream>>,
    w: tokio::io::WriteHalf<tokio::net::TcpStream>,
}

impl RawSmtp {
    pub async fn connect(addr: SocketAddr) -> (Self, u16, String) {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (r, w) = tokio::io::split(s);
        let mut c = Self {
            r: tokio::io::BufReader::new(r),
            w,
        };
        let (code, text) = c.read_reply().await;
        (c, code, text)
    }

    pub async fn read_reply(&mut self) -> (u16, String) {
        use tokio::io::AsyncBufReadExt;
        let mut text = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.r.read_line(&mut line))
                .await
                .expect("reply timed out")
                .unwrap();
            if n == 0 {
                return (0, text.join("\n"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            text.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return (code, text.join("\n"));
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.w.write_all(bytes).await.unwrap();
    }

    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.read_reply().await
    }

    /// MAIL, RCPTs, DATA and the message; returns the final reply (or the first refusal).
    pub async fn mail(&mut self, from: &str, to: &[&str], msg: &str) -> (u16, String) {
        let r = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        if r.0 != 250 {
            return r;
        }
        let mut ok = 0;
        let mut last = (0, String::new());
        for t in to {
            last = self.cmd(&format!("RCPT TO:<{t}>")).await;
            if last.0 == 250 {
                ok += 1;
            }
        }
        if ok == 0 {
            self.cmd("RSET").await;
            return last;
        }
        let r = self.cmd("DATA").await;
        assert_eq!(r.0, 354, "{r:?}");
        let mut body = msg.replace("\r\n.", "\r\n..");
        if !body.ends_with("\r\n") {
            body.push_str("\r\n");
        }
        body.push_str(".\r\n");
        self.send(body.as_bytes()).await;
        self.read_reply().await
    }
}

/// A line-level IMAP client for transcripts.
pub struct RawImap {
    r: tokio::io::BufReader<tokio::io::ReadHalf<tokio::net::TcpStream>>,
    w: tokio::io::WriteHalf<tokio::net::TcpStream>,
    tags: u32,
}

impl RawImap {
    /// Connects and returns the greeting line.
    pub async fn connect(addr: SocketAddr) -> (Self, String) {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (rd, wr) = tokio::io::split(stream);
        let mut c = Self {
            r: tokio::io::BufReader::new(rd),
            w: wr,
            tags: 0,
        };
        let g = c.line().await;
        (c, g)
    }

    /// One response line, with any literal it announces appended (CRLF kept inside).
    pub async fn line(&mut self) -> String {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let mut out = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.r.read_line(&mut line))
                .await
                .expect("response timed out")
                .unwrap();
            if n == 0 {
                return out;
            }
            let trimmed = line.trim_end_matches(['\r', '\n']).to_string();
            out.push_str(&trimmed);
            if let Some(open) = trimmed.rfind('{')
                && trimmed.ends_with('}')
                && let Ok(len) = trimmed[open + 1..trimmed.len() - 1]
                    .trim_end_matches('+')
                    .parse::<usize>()
            {
                let mut buf = vec![0u8; len];
                self.r.read_exact(&mut buf).await.unwrap();
                out.push_str("\r\n");
                out.push_str(&String::from_utf8_lossy(&buf));
                continue;
            }
            return out;
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.w.write_all(bytes).await.unwrap();
    }

    /// Sends a tagged command; returns (untagged lines, tagged completion line).
    pub async fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        self.tags += 1;
        let tag = format!("t{}", self.tags);
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        let mut untagged = Vec::new();
        loop {
            let l = self.line().await;
            if l.is_empty() {
                return (untagged, String::new());
            }
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                return (untagged, rest.to_string());
            }
            untagged.push(l);
        }
    }
}

/// The `mail-server` binary run as a separate process with a configuration file: for the
/// tests that kill it, measure its memory, or need it under another uid.
pub struct BinServer {
    pub dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
    pub child: std::process::Child,
    pub bound: BTreeMap<String, SocketAddr>,
    pub log: PathBuf,
}

impl BinServer {
    /// Writes `config` to `DIR/mail-server.toml`, adds the `(address, password)` users, and
    /// starts the binary (as uid/gid `run_as` through setpriv when given). Waits for its
    /// banner and reads the bound addresses from it.
    pub fn start(config: &str, users: &[(&str, &str)], run_as: Option<u32>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Self::start_in(tmp.path().to_path_buf(), config, users, run_as);
        s.tmp = Some(tmp);
        s
    }

    /// As [`Self::start`], in an existing directory (kept afterwards).
    pub fn start_in(
        dir: PathBuf,
        config: &str,
        users: &[(&str, &str)],
        run_as: Option<u32>,
    ) -> Self {
        let file = dir.join("mail-server.toml");
        std::fs::write(&file, config).unwrap();
        let cfg = Config::load(&file).unwrap();
        for (a, p) in users {
            let addr: examples::server::types::Address = a.parse().unwrap();
            let existing = examples::server::users::load(&cfg.users_file()).unwrap();
            if existing.iter().any(|u| u.address == addr) {
                continue;
            }
            examples::server::users::add(
                &cfg.users_file(),
                &examples::server::users::User {
                    address: addr,
                    password: format!("{{PLAIN}}{p}"),
                    quota: None,
                },
            )
            .unwrap();
        }
        if let Some(uid) = run_as {
            let data = cfg.data_dir();
            std::fs::create_dir_all(&data).unwrap();
            let st = std::process::Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{uid}"))
                .arg(&dir)
                .status()
                .unwrap();
            assert!(st.success());
        }
        Self::spawn(dir, &file, run_as)
    }

    fn spawn(dir: PathBuf, file: &Path, run_as: Option<u32>) -> Self {
        use std::io::BufRead;
        let bin = env!("CARGO_BIN_EXE_mail-server");
        let log = dir.join("server.log");
        let mut cmd = match run_as {
            Some(uid) => {
                let mut c = std::process::Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(bin);
                c
            }
            None => std::process::Command::new(bin),
        };
        cmd.arg("--config")
            .arg(file)
            .current_dir(&dir)
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            );
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(out).lines();
        let mut bound = BTreeMap::new();
        let mut seen_banner = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.starts_with("mail-server ") && line.contains(" running as ") {
                seen_banner = true;
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if seen_banner
                && words.len() >= 3
                && line.starts_with("  ")
                && let Ok(a) = words[1].parse::<SocketAddr>()
            {
                bound.insert(words[0].to_string(), a);
            }
            if line.starts_with("Stop with") {
                break;
            }
        }
        assert!(
            seen_banner,
            "mail-server did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Self {
            dir,
            tmp: None,
            child,
            bound,
            log,
        }
    }

    /// Starts the binary again on the same directory and configuration (after a kill).
    pub fn restart(&mut self, run_as: Option<u32>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let file = self.dir.join("mail-server.toml");
        let mut fresh = Self::spawn(self.dir.clone(), &file, run_as);
        std::mem::swap(&mut self.child, &mut fresh.child);
        self.bound = std::mem::take(&mut fresh.bound);
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.bound[listener]
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and wait.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (up to 40 s); returns whether it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
        false
    }

    /// The resident memory of the server process in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("mail-data")
    }

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

impl Drop for BinServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// An interop setting from `peers.env` (exported by `.ci/test`); panics (the test fails,
/// never passes silently) when it is missing.
pub fn peer_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: interop tests need the peers started by .ci/test (see .ci/peers/README.md)")
    })
}

/// Runs a command with a timeout and optional stdin; returns (status ok, stdout, stderr).
pub fn run_tool(
    cmd: &mut std::process::Command,
    stdin: &str,
    timeout: Duration,
) -> (bool, String, String) {
    use std::io::Write;
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
