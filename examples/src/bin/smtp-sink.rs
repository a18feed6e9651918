//! `smtp-sink`: an SMTP/LMTP server that accepts every message and discards it or stores
//! it, like Postfix's `smtp-sink`; the protocol-path benchmark of `smtp-proto`.
//!
//! ```text
//! smtp-sink --listen 127.0.0.1:2525 [--store DIR] [--hostname NAME] [--lmtp]
//!           [--tls-cert PEM --tls-key PEM | --self-signed] [--implicit-tls]
//!           [--user NAME:PASSWORD ...] [--plaintext-auth] [--max-size OCTETS]
//!           [--proxy-protocol] [--reject-rcpt PREFIX ...] [--xclient] [--verbose]
//! ```
//!
//! The session runs with the MX defaults of `smtp_proto::server::ServerConfig::new`
//! (PIPELINING, SIZE 10240000, 8BITMIME, SMTPUTF8, CHUNKING/BINARYMIME, ENHANCEDSTATUSCODES,
//! LIMITS, bare CR/LF refused, VRFY off). With `--store DIR` each accepted message is written
//! to `DIR/N.eml` (content exactly as received) and `DIR/N.env` (the `MAIL FROM:<..>` line
//! with its parameters and one `RCPT TO:<..>` line per recipient), and both files and the directory are fsynced before
//! the `250` goes out. `--user` enables AUTH PLAIN, LOGIN, CRAM-MD5 and SCRAM-SHA-256 (only
//! under TLS unless `--plaintext-auth`). With TLS material STARTTLS is offered (or TLS is
//! implicit with `--implicit-tls`). Recipients starting with a `--reject-rcpt` prefix get
//! `550 5.1.1`. `--xclient` trusts XCLIENT/XFORWARD from any client (testing) and writes each
//! XFORWARD attribute as an `XFORWARD NAME=value` line before the `MAIL FROM` line of the
//! envelope file. The first line on stdout is `listening on ADDR`; SIGINT/SIGTERM shut down
//! gracefully (every session finishes its message and says 421).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use smtp_proto::command::Command;
use smtp_proto::reply::{EnhancedStatus, Reply, ReplyCode};
use smtp_proto::sasl::{self, Mechanism};
use smtp_proto::server::{Decision, Event, ServerConfig, Verdict};
use smtp_proto::tokio::{ServeOptions, SessionInfo, SmtpHost, serve};
use tokio::io::AsyncWriteExt as _;

#[derive(Parser)]
#[command(
    name = "smtp-sink",
    about = "Accept mail and discard or store it, like Postfix's smtp-sink",
    version
)]
struct Cli {
    /// Address and port to listen on (port 0 picks one; see the first line of output).
    #[arg(long)]
    listen: SocketAddr,
    /// Store each accepted message (fsynced before the 250) in this directory.
    #[arg(long)]
    store: Option<PathBuf>,
    /// The server's name in the greeting and EHLO reply.
    #[arg(long, default_value = "smtp-sink.localdomain")]
    hostname: String,
    /// Speak LMTP instead of SMTP.
    #[arg(long)]
    lmtp: bool,
    /// TLS certificate chain (PEM), for STARTTLS or implicit TLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Generate a self-signed certificate for the host name (and localhost) in memory.
    #[arg(long, conflicts_with = "tls_cert")]
    self_signed: bool,
    /// TLS from the first byte (port 465 style) instead of STARTTLS.
    #[arg(long)]
    implicit_tls: bool,
    /// A user for AUTH, as NAME:PASSWORD (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
    /// Offer AUTH without TLS too (testing only).
    #[arg(long)]
    plaintext_auth: bool,
    /// Largest message in octets (0: no limit).
    #[arg(long, default_value_t = 10_240_000)]
    max_size: u64,
    /// Read a PROXY protocol header first.
    #[arg(long)]
    proxy_protocol: bool,
    /// Refuse recipients whose address starts with this (repeatable).
    #[arg(long = "reject-rcpt")]
    reject_rcpt: Vec<String>,
    /// Log each session event and message on stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Trust XCLIENT and XFORWARD (Postfix) from every client (testing only; a real server
    /// trusts its own proxies alone). XFORWARD attributes go into the envelope file.
    #[arg(long)]
    xclient: bool,
}

struct Shared {
    store: Option<PathBuf>,
    users: HashMap<String, String>,
    reject: Vec<String>,
    verbose: bool,
    counter: AtomicU64,
}

struct Sink {
    shared: Arc<Shared>,
    file: Option<(u64, tokio::fs::File)>,
    from: String,
    rcpts: Vec<String>,
    /// XFORWARD attributes for the next transaction (`NAME=value` lines).
    xforward: Vec<String>,
    failed: bool,
}

fn reply(code: u16, status: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(
        ReplyCode::new(code).expect("valid code"),
        EnhancedStatus::new(status.0, status.1, status.2).ok(),
        [text],
    )
    .expect("valid reply")
}

impl Sink {
    async fn open(&mut self) {
        if self.file.is_some() || self.failed {
            return;
        }
        let Some(dir) = &self.shared.store else {
            return;
        };
        let n = self.shared.counter.fetch_add(1, Ordering::Relaxed);
        match tokio::fs::File::create(dir.join(format!("{n}.eml.tmp"))).await {
            Ok(f) => self.file = Some((n, f)),
            Err(e) => {
                eprintln!("smtp-sink: {}: {e}", dir.display());
                self.failed = true;
            }
        }
    }

    /// Makes the message durable: content and envelope fsynced, renamed into place, the
    /// directory fsynced.
    async fn commit(&mut self, dir: &Path) -> std::io::Result<u64> {
        let (n, mut file) = if let Some(x) = self.file.take() {
            x
        } else {
            // An empty message: nothing was streamed.
            let n = self.shared.counter.fetch_add(1, Ordering::Relaxed);
            (
                n,
                tokio::fs::File::create(dir.join(format!("{n}.eml.tmp"))).await?,
            )
        };
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        let mut env = String::new();
        for x in self.xforward.drain(..) {
            let _ = writeln!(env, "XFORWARD {x}");
        }
        let _ = writeln!(env, "MAIL FROM:{}", self.from);
        for r in &self.rcpts {
            let _ = writeln!(env, "RCPT TO:{r}");
        }
        let env_path = dir.join(format!("{n}.env"));
        let mut f = tokio::fs::File::create(&env_path).await?;
        f.write_all(env.as_bytes()).await?;
        f.sync_all().await?;
        tokio::fs::rename(
            dir.join(format!("{n}.eml.tmp")),
            dir.join(format!("{n}.eml")),
        )
        .await?;
        tokio::fs::File::open(dir).await?.sync_all().await?;
        Ok(n)
    }

    async fn discard_partial(&mut self) {
        if let (Some(dir), Some((n, _))) = (&self.shared.store, self.file.take()) {
            let _ = tokio::fs::remove_file(dir.join(format!("{n}.eml.tmp"))).await;
        }
        self.failed = false;
    }
}

impl SmtpHost for Sink {
    async fn decide(&mut self, decision: Decision, info: &SessionInfo) -> Verdict {
        match decision {
            Decision::Mail { from, params } => {
                // The envelope file keeps the MAIL line as received (parameters included).
                let line = Command::Mail { from, params }.to_bytes();
                let line = String::from_utf8_lossy(&line);
                line.trim_end()
                    .strip_prefix("MAIL FROM:")
                    .unwrap_or_default()
                    .clone_into(&mut self.from);
                self.rcpts.clear();
                Verdict::Accept
            }
            Decision::Rcpt { to, .. } => {
                let text = to.to_string();
                let bare = text.trim_start_matches('<');
                if self
                    .shared
                    .reject
                    .iter()
                    .any(|p| bare.starts_with(p.as_str()))
                {
                    return Verdict::Reject(reply(550, (5, 1, 1), "Recipient address rejected"));
                }
                self.rcpts.push(text);
                Verdict::Accept
            }
            Decision::EndOfData { size, recipients } => {
                let Some(dir) = self.shared.store.clone() else {
                    if self.shared.verbose {
                        eprintln!("{}: message of {size} octets discarded", info.peer);
                    }
                    return Verdict::Accept;
                };
                if self.failed {
                    self.discard_partial().await;
                    return Verdict::Reject(reply(451, (4, 3, 0), "Error: cannot store message"));
                }
                self.open().await;
                match self.commit(&dir).await {
                    Ok(n) => {
                        if self.shared.verbose {
                            eprintln!(
                                "{}: stored {n}.eml ({size} octets, {} recipients)",
                                info.peer,
                                recipients.len()
                            );
                        }
                        Verdict::AcceptWith(reply(250, (2, 0, 0), &format!("Ok: queued as {n}")))
                    }
                    Err(e) => {
                        eprintln!("smtp-sink: storing: {e}");
                        self.discard_partial().await;
                        Verdict::Reject(reply(451, (4, 3, 0), "Error: cannot store message"))
                    }
                }
            }
            _ => Verdict::Accept,
        }
    }

    async fn auth(&mut self, decision: sasl::Decision, _: &SessionInfo) -> sasl::Answer {
        let users = &self.shared.users;
        match decision {
            sasl::Decision::VerifyPassword {
                authcid, password, ..
            } => {
                if users.get(&authcid).is_some_and(|p| p == password.expose()) {
                    sasl::Answer::Accept
                } else {
                    sasl::Answer::Reject
                }
            }
            sasl::Decision::CramMd5Secret { user } => match users.get(&user) {
                Some(p) => sasl::Answer::Secret(sasl::Secret::new(p.as_bytes().to_vec())),
                None => sasl::Answer::Reject,
            },
            sasl::Decision::ScramCredentials { authcid, .. } => match users.get(&authcid) {
                Some(p) => sasl::ScramCredentials::derive(p, authcid.as_bytes(), 4096)
                    .map_or(sasl::Answer::TempFail, sasl::Answer::Scram),
                None => sasl::Answer::Reject,
            },
            _ => sasl::Answer::Reject,
        }
    }

    async fn message_data(&mut self, chunk: Vec<u8>) {
        if self.shared.store.is_none() {
            return;
        }
        self.open().await;
        if let Some((_, f)) = &mut self.file
            && f.write_all(&chunk).await.is_err()
        {
            self.failed = true;
        }
    }

    fn event(&mut self, event: &Event, info: &SessionInfo) {
        if let Event::Xforward(attrs) = event {
            self.xforward.extend(
                attrs
                    .iter()
                    .map(|(k, v)| format!("{}={v}", k.to_ascii_uppercase())),
            );
        }
        if *event == Event::TransactionReset {
            self.failed = false;
            self.xforward.clear();
            if let (Some(dir), Some((n, _))) = (&self.shared.store, self.file.take()) {
                let _ = std::fs::remove_file(dir.join(format!("{n}.eml.tmp")));
            }
        }
        if self.shared.verbose {
            eprintln!("{}: {event:?}", info.peer);
        }
    }
}

fn tls_config(cli: &Cli) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let (chain, key) = if cli.self_signed {
        let ck = rcgen::generate_simple_self_signed(vec![cli.hostname.clone(), "localhost".into()])
            .map_err(|e| format!("self-signed certificate: {e}"))?;
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        (vec![ck.cert.der().clone()], key)
    } else if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let chain = rustls_pemfile::certs(&mut read(cert)?.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
            .map_err(|e| format!("{}: {e}", key.display()))?
            .ok_or_else(|| format!("{}: no private key", key.display()))?;
        (chain, key)
    } else {
        return Ok(None);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS: {e}"))?;
    Ok(Some(Arc::new(config)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let tls = match tls_config(&cli) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("smtp-sink: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.implicit_tls && tls.is_none() {
        eprintln!("smtp-sink: --implicit-tls needs --tls-cert/--tls-key or --self-signed");
        return ExitCode::from(2);
    }
    let mut users = HashMap::new();
    for u in &cli.users {
        let Some((name, pass)) = u.split_once(':') else {
            eprintln!("smtp-sink: --user wants NAME:PASSWORD");
            return ExitCode::from(2);
        };
        users.insert(name.to_owned(), pass.to_owned());
    }
    if let Some(dir) = &cli.store
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("smtp-sink: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let mut config = if cli.lmtp {
        ServerConfig::lmtp(cli.hostname.clone())
    } else {
        ServerConfig::new(cli.hostname.clone())
    };
    config.max_message_size = cli.max_size;
    config.xclient = cli.xclient;
    config.starttls = tls.is_some() && !cli.implicit_tls;
    if !users.is_empty() {
        config.auth_mechanisms = vec![
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::ScramSha256,
        ];
        config.auth_requires_tls = !cli.plaintext_auth;
    }
    let mut options = ServeOptions::default();
    options.tls = tls;
    options.implicit_tls = cli.implicit_tls;
    options.proxy_protocol = cli.proxy_protocol;
    let shared = Arc::new(Shared {
        store: cli.store.clone(),
        users,
        reject: cli.reject_rcpt.clone(),
        verbose: cli.verbose,
        counter: AtomicU64::new(1),
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtp-sink: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        println!("listening on {}", listener.local_addr()?);
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = async {
                    match &mut term {
                        Some(t) => { t.recv().await; }
                        None => std::future::pending().await,
                    }
                } => {}
            }
            let _ = stop.send(true);
        });
        serve(
            listener,
            Arc::new(config),
            options,
            move |_| {
                Some(Sink {
                    shared: Arc::clone(&shared),
                    file: None,
                    from: String::new(),
                    rcpts: Vec::new(),
                    xforward: Vec::new(),
                    failed: false,
                })
            },
            shutdown,
        )
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smtp-sink: {e}");
            ExitCode::from(1)
        }
    }
}
