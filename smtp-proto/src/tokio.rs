//! The thin tokio adapter (feature `tokio`): a server connection loop with an async host,
//! an accept loop with graceful shutdown, and an async client, over TCP with rustls
//! (tokio-rustls) for STARTTLS and implicit TLS.
//!
//! The adapter only moves bytes, reads the clock and awaits the host: the protocol is in
//! [`ServerSession`] / [`ClientSession`]. Every server decision (connect, HELO, MAIL, RCPT,
//! end of data, AUTH steps) is an `async` call on the host's [`SmtpHost`], so a verdict may
//! wait for a DNS lookup, a database or an `fsync` without blocking other connections;
//! message content reaches the host as it streams ([`SmtpHost::message_data`]); every
//! session event reaches [`SmtpHost::event`] for logging. Per-command timeouts come from the
//! session ([`ServerConfig::command_timeout`], [`ServerConfig::data_timeout`]); TLS
//! handshakes and the PROXY header have [`ServeOptions::handshake_timeout`].
//!
//! # A complete server
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//! use smtp_proto::server::{Decision, Event, ServerConfig, Verdict};
//! use smtp_proto::sasl;
//! use smtp_proto::tokio::{serve, ServeOptions, SessionInfo, SmtpHost};
//! use tokio::io::AsyncWriteExt;
//!
//! /// One per connection: spools each message to a file, fsyncs it, then says 250.
//! struct Spool {
//!     file: Option<tokio::fs::File>,
//!     n: u64,
//! }
//!
//! impl SmtpHost for Spool {
//!     async fn decide(&mut self, decision: Decision, info: &SessionInfo) -> Verdict {
//!         match decision {
//!             Decision::Rcpt { to, .. } if to.to_string().ends_with("@example.org>") => {
//!                 Verdict::Accept
//!             }
//!             Decision::Rcpt { .. } => Verdict::Reject(
//!                 smtp_proto::reply::Reply::new(
//!                     smtp_proto::reply::ReplyCode::new(550).unwrap(),
//!                     smtp_proto::reply::EnhancedStatus::new(5, 1, 1).ok(),
//!                     ["No such user"],
//!                 )
//!                 .unwrap(),
//!             ),
//!             Decision::EndOfData { .. } => match self.file.take() {
//!                 // Durable before the 250 (the client may delete its copy after it).
//!                 Some(f) if f.sync_all().await.is_ok() => Verdict::Accept,
//!                 _ => Verdict::Reject(
//!                     smtp_proto::reply::Reply::new(
//!                         smtp_proto::reply::ReplyCode::new(451).unwrap(),
//!                         smtp_proto::reply::EnhancedStatus::new(4, 3, 0).ok(),
//!                         ["Local error"],
//!                     )
//!                     .unwrap(),
//!                 ),
//!             },
//!             _ => {
//!                 let _ = info.peer;
//!                 Verdict::Accept
//!             }
//!         }
//!     }
//!
//!     async fn auth(&mut self, _: sasl::Decision, _: &SessionInfo) -> sasl::Answer {
//!         sasl::Answer::Reject
//!     }
//!
//!     async fn message_data(&mut self, chunk: Vec<u8>) {
//!         if self.file.is_none() {
//!             self.n += 1;
//!             self.file = tokio::fs::File::create(format!("/tmp/msg-{}", self.n)).await.ok();
//!         }
//!         if let Some(f) = &mut self.file {
//!             let _ = f.write_all(&chunk).await;
//!         }
//!     }
//!
//!     fn event(&mut self, event: &Event, info: &SessionInfo) {
//!         if *event == Event::TransactionReset {
//!             self.file = None; // a real host deletes the partial file
//!         }
//!         eprintln!("{}: {event:?}", info.peer);
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2525").await?;
//! let config = Arc::new(ServerConfig::new("mx.example.org"));
//! let (stop, shutdown) = tokio::sync::watch::channel(false);
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     let _ = stop.send(true); // sessions finish their message, say 421 and close
//! });
//! serve(listener, config, ServeOptions::default(), |_peer: SocketAddr| {
//!     Some(Spool { file: None, n: 0 })
//! }, shutdown)
//! .await
//! # }
//! ```
//!
//! # A client
//!
//! ```no_run
//! use smtp_proto::client::{ClientConfig, Envelope};
//! use smtp_proto::tokio::SmtpClient;
//!
//! # async fn run() -> Result<(), smtp_proto::tokio::SmtpError> {
//! let mut client =
//!     SmtpClient::connect("127.0.0.1:25", ClientConfig::new("client.example.org"), None).await?;
//! let envelope = Envelope::parse("alice@example.org", ["bob@example.net"]).unwrap();
//! let result = client.send_mail(envelope, b"Subject: hi\r\n\r\nhello\r\n".to_vec()).await?;
//! println!("delivered to {} recipient(s)", result.delivered());
//! client.quit().await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use ::tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use ::tokio::sync::watch;
use ::tokio::task::JoinSet;
use ::tokio::time::{sleep_until, timeout};
use rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::client::{
    self, ClientConfig, ClientError, ClientSession, Envelope, MailError, MailResult,
};
use crate::ehlo::Capabilities;
use crate::proxy::{ProxyHeader, ProxyParsed, ProxyParser, V1_MAX_LEN, V2_SIGNATURE};
use crate::sasl;
use crate::server::{Decision, Event, Output, ServerConfig, ServerSession, Verdict};

/// RFC 9266 `tls-exporter` label.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Facts about a connection, for the host's policy and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The client (from the PROXY header when one was read).
    pub peer: SocketAddr,
    /// The address the client connected to (idem).
    pub local: SocketAddr,
    /// The PROXY header, when [`ServeOptions::proxy_protocol`] is on.
    pub proxy: Option<ProxyHeader>,
    /// The TLS session, once established.
    pub tls: Option<TlsInfo>,
    /// The authenticated identity, after AUTH.
    pub authenticated: Option<String>,
}

/// The negotiated TLS parameters (for a `Received:` comment, SMTP-034).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// E.g. `TLSv1_3`.
    pub version: String,
    /// E.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The SNI name the client sent.
    pub server_name: Option<String>,
}

/// What a server connection asks its host. Only [`decide`](Self::decide) must be written.
///
/// The session waits for each answer (nothing else is processed meanwhile), so an answer
/// may take as long as the host needs; other connections are not affected.
pub trait SmtpHost: Send {
    /// Answer a decision: connect, HELO, MAIL, RCPT, end of data (after the whole message
    /// went to [`message_data`](Self::message_data): make it durable, then accept).
    fn decide(
        &mut self,
        decision: Decision,
        info: &SessionInfo,
    ) -> impl Future<Output = Verdict> + Send;

    /// Answer a SASL step (check a password, fetch SCRAM credentials, validate a token).
    /// Default: refuse.
    fn auth(
        &mut self,
        decision: sasl::Decision,
        info: &SessionInfo,
    ) -> impl Future<Output = sasl::Answer> + Send {
        let _ = (decision, info);
        std::future::ready(sasl::Answer::Reject)
    }

    /// Message content, in order (dot-unstuffed DATA or BDAT chunks). A
    /// [`Event::TransactionReset`] means: discard what was received. Default: discard.
    fn message_data(&mut self, chunk: Vec<u8>) -> impl Future<Output = ()> + Send {
        let _ = chunk;
        std::future::ready(())
    }

    /// A session event, for logging and policy (pre-greeting bytes, bare LF, pipelining
    /// abuse, AUTH results, QUIT, timeouts, ...). Default: ignore.
    fn event(&mut self, event: &Event, info: &SessionInfo) {
        let _ = (event, info);
    }
}

/// Adapter settings for a listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The TLS configuration, for STARTTLS (set [`ServerConfig::starttls`] too) or implicit
    /// TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Implicit TLS (port 465, RFC 8314): the handshake comes before the greeting.
    pub implicit_tls: bool,
    /// Read a PROXY protocol header (v1 or v2) first: only behind a trusted proxy.
    pub proxy_protocol: bool,
    /// Time allowed for the PROXY header and each TLS handshake (default 30 s).
    pub handshake_timeout: Duration,
    /// After shutdown was requested, time a session may take to finish its message before
    /// the connection is dropped (default 60 s).
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            tls: None,
            implicit_tls: false,
            proxy_protocol: false,
            handshake_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_mins(1),
        }
    }
}

impl ServeOptions {
    /// With this TLS configuration.
    pub fn with_tls(tls: Arc<rustls::ServerConfig>) -> Self {
        Self {
            tls: Some(tls),
            ..Self::default()
        }
    }
}

/// A connection before or after TLS.
enum Conn<S, T> {
    Plain(S),
    Tls(Box<T>),
    Gone,
}

impl<S: AsyncRead + Unpin, T: AsyncRead + Unpin> AsyncRead for Conn<S, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncWrite + Unpin, T: AsyncWrite + Unpin> AsyncWrite for Conn<S, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            Self::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// Reads exactly one PROXY header, never a byte beyond it (what follows may be a TLS
/// ClientHello).
async fn read_proxy_header<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<ProxyHeader> {
    let parser = ProxyParser::default();
    let mut buf = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    // The first byte tells the version: v1 is read up to its LF, v2 by its length field.
    stream.read_exact(&mut byte).await?;
    buf.push(byte[0]);
    if byte[0] == V2_SIGNATURE[0] {
        let mut fixed = [0u8; 15];
        stream.read_exact(&mut fixed).await?;
        buf.extend_from_slice(&fixed);
        let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if len > parser.max_v2_payload {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "PROXY header too long",
            ));
        }
        let start = buf.len();
        buf.resize(start + len, 0);
        stream.read_exact(&mut buf[start..]).await?;
    } else {
        while byte[0] != b'\n' && buf.len() < V1_MAX_LEN {
            stream.read_exact(&mut byte).await?;
            buf.push(byte[0]);
        }
    }
    match parser.parse(&buf) {
        Ok(ProxyParsed::Complete { header, .. }) => Ok(header),
        Ok(ProxyParsed::Incomplete) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "incomplete PROXY header",
        )),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    }
}

fn tls_info(conn: &rustls::ServerConnection) -> TlsInfo {
    TlsInfo {
        version: conn
            .protocol_version()
            .map_or_else(String::new, |v| format!("{v:?}")),
        cipher: conn
            .negotiated_cipher_suite()
            .map_or_else(String::new, |c| format!("{:?}", c.suite())),
        server_name: conn.server_name().map(str::to_owned),
    }
}

fn exporter<D>(conn: &rustls::ConnectionCommon<D>) -> Option<Vec<u8>> {
    conn.export_keying_material(vec![0u8; 32], EXPORTER_LABEL, Some(&[]))
        .ok()
}

/// Serves one SMTP/LMTP connection to its end: greeting to QUIT, timeout, error limit,
/// shutdown, or the peer closing. `peer`/`local` are the socket's addresses (replaced by the
/// PROXY header's when [`ServeOptions::proxy_protocol`] is on). When `shutdown` turns
/// `true` (or its sender is dropped) the session finishes the message in progress, says
/// `421 4.3.2` and closes; after [`ServeOptions::shutdown_grace`] it is dropped.
pub async fn serve_connection<S, H>(
    mut stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    config: Arc<ServerConfig>,
    options: &ServeOptions,
    host: &mut H,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: SmtpHost,
{
    let mut info = SessionInfo {
        peer,
        local,
        proxy: None,
        tls: None,
        authenticated: None,
    };
    if options.proxy_protocol {
        let header = timeout(options.handshake_timeout, read_proxy_header(&mut stream))
            .await
            .map_err(|_| timed_out("PROXY header"))??;
        if let (Some(src), Some(dst)) = (header.source(), header.destination()) {
            info.peer = src;
            info.local = dst;
        }
        info.proxy = Some(header);
    }
    let mut config = config;
    let mut conn: Conn<S, tokio_rustls::server::TlsStream<S>> = if options.implicit_tls {
        let acceptor = TlsAcceptor::from(options.tls.clone().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "implicit TLS without a TLS config",
            )
        })?);
        let tls = timeout(options.handshake_timeout, acceptor.accept(stream))
            .await
            .map_err(|_| timed_out("TLS handshake"))??;
        info.tls = Some(tls_info(tls.get_ref().1));
        if let Some(cb) = exporter(tls.get_ref().1) {
            let mut c = (*config).clone();
            c.sasl.channel_binding = Some(sasl::Secret::new(cb));
            config = Arc::new(c);
        }
        Conn::Tls(Box::new(tls))
    } else {
        Conn::Plain(stream)
    };
    let mut session = if options.implicit_tls {
        ServerSession::new_tls(config, Instant::now())
    } else {
        ServerSession::new(config, Instant::now())
    };
    let mut wbuf: Vec<u8> = Vec::new();
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut grace: Option<::tokio::time::Instant> = None;
    loop {
        while let Some(out) = session.poll_output() {
            match out {
                Output::Send(bytes) => wbuf.extend_from_slice(&bytes),
                Output::MessageData(chunk) => host.message_data(chunk).await,
                Output::Event(e) => {
                    if let Event::Authenticated(a) = &e {
                        info.authenticated = Some(a.identity().to_owned());
                    }
                    host.event(&e, &info);
                }
                Output::Decision(Decision::Auth(d)) => {
                    let answer = host.auth(d, &info).await;
                    session
                        .answer_auth(Instant::now(), answer)
                        .map_err(io::Error::other)?;
                }
                Output::Decision(d) => {
                    let verdict = host.decide(d, &info).await;
                    session
                        .answer(Instant::now(), verdict)
                        .map_err(io::Error::other)?;
                }
                Output::StartTls => {
                    conn.write_all(&wbuf).await?;
                    conn.flush().await?;
                    wbuf.clear();
                    let Conn::Plain(plain) = std::mem::replace(&mut conn, Conn::Gone) else {
                        return Err(io::Error::other("STARTTLS on a TLS connection"));
                    };
                    let acceptor = TlsAcceptor::from(options.tls.clone().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "STARTTLS without a TLS config")
                    })?);
                    let tls = timeout(options.handshake_timeout, acceptor.accept(plain))
                        .await
                        .map_err(|_| timed_out("TLS handshake"))??;
                    info.tls = Some(tls_info(tls.get_ref().1));
                    let cb = exporter(tls.get_ref().1);
                    conn = Conn::Tls(Box::new(tls));
                    session
                        .tls_established(Instant::now(), cb)
                        .map_err(io::Error::other)?;
                }
                Output::Close => {
                    conn.write_all(&wbuf).await?;
                    let _ = conn.shutdown().await;
                    return Ok(());
                }
            }
        }
        if !wbuf.is_empty() {
            conn.write_all(&wbuf).await?;
            conn.flush().await?;
            wbuf.clear();
        }
        let deadline = session.poll_timeout().map(::tokio::time::Instant::from_std);
        let stopping = grace.is_some();
        ::tokio::select! {
            r = conn.read(&mut rbuf) => {
                let n = r?;
                if n == 0 {
                    return Ok(());
                }
                session.handle_input(Instant::now(), &rbuf[..n]);
            }
            () = async { sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                session.handle_timeout(Instant::now());
            }
            _ = shutdown.changed(), if !stopping => {
                if *shutdown.borrow() || shutdown.has_changed().is_err() {
                    grace = Some(::tokio::time::Instant::now() + options.shutdown_grace);
                    session.shutdown();
                }
            }
            () = async { sleep_until(grace.expect("guarded")).await }, if stopping => {
                return Err(timed_out("shutdown grace"));
            }
        }
    }
}

/// Accepts connections until `shutdown` turns `true`, serving each in its own task with the
/// host `make_host` builds for it (`None` refuses the connection: the host's own admission
/// limits). Then waits for every session to finish (each finishes its message, says `421`
/// and closes). Session errors (a peer that vanished, a failed handshake) end that session
/// only.
pub async fn serve<H, F>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    options: ServeOptions,
    mut make_host: F,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    H: SmtpHost + 'static,
    F: FnMut(SocketAddr) -> Option<H>,
{
    let options = Arc::new(options);
    let mut tasks = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        ::tokio::select! {
            accepted = listener.accept() => {
                // A transient accept error (EMFILE, ECONNABORTED) must not end the loop.
                let Ok((stream, peer)) = accepted else {
                    ::tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Some(mut host) = make_host(peer) else { continue };
                let local = stream.local_addr()?;
                let config = Arc::clone(&config);
                let options = Arc::clone(&options);
                let shutdown = shutdown.clone();
                let _ = stream.set_nodelay(true);
                tasks.spawn(async move {
                    let _ = serve_connection(stream, peer, local, config, &options, &mut host, shutdown)
                        .await;
                });
            }
            r = shutdown.changed() => {
                if r.is_err() {
                    break;
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Client

/// Why the async client failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SmtpError {
    /// A socket or TLS error.
    Io(io::Error),
    /// The session failed (greeting refused, AUTH failed, TLS required and missing, ...).
    Session(ClientError),
    /// This message was not sent (nothing reached the wire); the connection is still usable.
    NotSent(MailError),
    /// The server offered STARTTLS (or implicit TLS was asked) and no TLS config was given.
    NoTlsConfig,
}

impl std::fmt::Display for SmtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O: {e}"),
            Self::Session(e) => write!(f, "SMTP: {e}"),
            Self::NotSent(e) => write!(f, "not sent: {e}"),
            Self::NoTlsConfig => f.write_str("TLS needed but no TLS configuration given"),
        }
    }
}

impl std::error::Error for SmtpError {}

impl From<io::Error> for SmtpError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// How the client does TLS: the rustls config and the name to verify.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// The rustls client configuration (roots, client certificate).
    pub config: Arc<rustls::ClientConfig>,
    /// The server name to verify and send as SNI.
    pub server_name: ServerName<'static>,
}

/// An SMTP/LMTP client connection, ready to send mail.
pub struct SmtpClient<S> {
    conn: Conn<S, tokio_rustls::client::TlsStream<S>>,
    session: ClientSession,
    tls: Option<ClientTls>,
    rbuf: Vec<u8>,
    log: Vec<client::Event>,
}

impl<S> std::fmt::Debug for SmtpClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl SmtpClient<TcpStream> {
    /// Connects over TCP and runs the session to ready (greeting, EHLO, STARTTLS when
    /// offered and `tls` is given, AUTH when the config has credentials).
    pub async fn connect(
        addr: impl ToSocketAddrs,
        config: ClientConfig,
        tls: Option<ClientTls>,
    ) -> Result<Self, SmtpError> {
        let stream = timeout(config.command_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| timed_out("connect"))??;
        let _ = stream.set_nodelay(true);
        Self::from_stream(stream, config, tls).await
    }
}

enum Want {
    Ready,
    Mail,
    Closed,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> SmtpClient<S> {
    /// Runs the session on an open stream to ready. With [`client::TlsMode::Implicit`]
    /// the TLS handshake comes first (and `tls` is required).
    pub async fn from_stream(
        stream: S,
        mut config: ClientConfig,
        tls: Option<ClientTls>,
    ) -> Result<Self, SmtpError> {
        if tls.is_none() && config.tls == client::TlsMode::Opportunistic {
            // Without a TLS config STARTTLS cannot be done: say so up front.
            config.tls = client::TlsMode::Never;
        }
        let implicit = config.tls == client::TlsMode::Implicit;
        let limit = config.command_timeout;
        let (conn, cb) = if implicit {
            let t = tls.as_ref().ok_or(SmtpError::NoTlsConfig)?;
            let s = timeout(
                limit,
                TlsConnector::from(Arc::clone(&t.config)).connect(t.server_name.clone(), stream),
            )
            .await
            .map_err(|_| timed_out("TLS handshake"))??;
            let cb = exporter(s.get_ref().1);
            (Conn::Tls(Box::new(s)), cb)
        } else {
            (Conn::Plain(stream), None)
        };
        let mut session = ClientSession::new(config, Instant::now());
        if let Some(cb) = cb {
            session.set_channel_binding(cb);
        }
        let mut c = Self {
            conn,
            session,
            tls,
            rbuf: vec![0u8; 16 * 1024],
            log: Vec::new(),
        };
        c.run(Want::Ready).await?;
        Ok(c)
    }

    /// The server's capabilities (from the last EHLO).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.session.capabilities()
    }

    /// True when the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.session.is_tls()
    }

    /// Events so far (greeting, capabilities, STARTTLS, AUTH), for logging.
    pub fn events(&self) -> &[client::Event] {
        &self.log
    }

    /// Sends one message and returns each recipient's outcome.
    pub async fn send_mail(
        &mut self,
        envelope: Envelope,
        message: Vec<u8>,
    ) -> Result<MailResult, SmtpError> {
        self.session
            .send_mail(Instant::now(), envelope, message)
            .map_err(io::Error::other)?;
        match self.run(Want::Mail).await? {
            Some(r) => Ok(r),
            None => Err(SmtpError::Session(ClientError::ConnectionClosed)),
        }
    }

    /// Says QUIT and closes.
    pub async fn quit(mut self) -> Result<(), SmtpError> {
        self.session
            .quit(Instant::now())
            .map_err(io::Error::other)?;
        self.run(Want::Closed).await?;
        Ok(())
    }

    async fn run(&mut self, want: Want) -> Result<Option<MailResult>, SmtpError> {
        let mut wbuf = Vec::new();
        loop {
            let mut failed = None;
            let mut result = None;
            let mut ready = false;
            let mut closed = false;
            while let Some(out) = self.session.poll_output() {
                match out {
                    client::Output::Send(b) => wbuf.extend_from_slice(&b),
                    client::Output::Event(client::Event::Ready) => ready = true,
                    client::Output::Event(client::Event::MailResult(r)) => result = Some(Ok(r)),
                    client::Output::Event(client::Event::MailNotSent(e)) => {
                        result = Some(Err(e));
                    }
                    client::Output::Event(client::Event::Failed(e)) => failed = Some(e),
                    client::Output::Event(e) => self.log.push(e),
                    client::Output::StartTls => {
                        self.conn.write_all(&wbuf).await?;
                        self.conn.flush().await?;
                        wbuf.clear();
                        let t = self.tls.clone().ok_or(SmtpError::NoTlsConfig)?;
                        let Conn::Plain(plain) = std::mem::replace(&mut self.conn, Conn::Gone)
                        else {
                            return Err(io::Error::other("STARTTLS on a TLS connection").into());
                        };
                        let s = timeout(
                            Duration::from_mins(1),
                            TlsConnector::from(t.config).connect(t.server_name, plain),
                        )
                        .await
                        .map_err(|_| timed_out("TLS handshake"))??;
                        let cb = exporter(s.get_ref().1);
                        self.conn = Conn::Tls(Box::new(s));
                        self.session
                            .tls_established(Instant::now(), cb)
                            .map_err(io::Error::other)?;
                    }
                    client::Output::Close => closed = true,
                }
            }
            if !wbuf.is_empty() {
                self.conn.write_all(&wbuf).await?;
                self.conn.flush().await?;
                wbuf.clear();
            }
            if closed {
                let _ = self.conn.shutdown().await;
            }
            if let Some(r) = result {
                match r {
                    Ok(r) => return Ok(Some(r)),
                    Err(e) => return Err(SmtpError::NotSent(e)),
                }
            }
            if let Some(e) = failed {
                return Err(SmtpError::Session(e));
            }
            match want {
                Want::Ready if ready => return Ok(None),
                Want::Closed if closed => return Ok(None),
                _ if closed => return Err(SmtpError::Session(ClientError::ConnectionClosed)),
                _ => {}
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(::tokio::time::Instant::from_std);
            ::tokio::select! {
                r = self.conn.read(&mut self.rbuf) => {
                    let n = r?;
                    if n == 0 {
                        self.session.handle_eof();
                    } else {
                        self.session.handle_input(Instant::now(), &self.rbuf[..n]);
                    }
                }
                () = async { sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                    self.session.handle_timeout(Instant::now());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
