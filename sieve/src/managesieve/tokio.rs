//! The thin tokio adapter (feature `tokio`): a ManageSieve server connection loop and an
//! async client, over TCP with STARTTLS by rustls (tokio-rustls).
//!
//! The adapter only moves bytes and reads the clock: the protocol is in
//! [`ServerSession`] / [`ClientSession`], the decisions in the host: a [`ServerHost`]
//! answers at once (the crate's [`FsScriptStore`](super::store::FsScriptStore) does), an
//! [`AsyncServerHost`] may await (a password hash on `spawn_blocking`, a remote directory).
//!
//! Reads and writes proceed concurrently (one task polls both directions), so a peer that
//! pipelines many commands without reading cannot deadlock the connection; the adapter stops
//! reading while more than [`MAX_UNSENT`] bytes wait to be written, and gives a final
//! flush (before TLS, before closing) [`FLUSH_TIMEOUT`].

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use ::tokio::net::TcpStream;
use smtp_proto::sasl::{self, Credentials};
use tokio_rustls::rustls;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::Capabilities;
use super::client::{ClientEvent, ClientOutput, ClientSession, Completion, Handle};
use super::server::{
    AuthStep, ScriptReply, ScriptRequest, ServerEvent, ServerOutput, ServerSession, StoreError,
    Validation,
};
use super::types::ScriptName;

/// RFC 9266 `tls-exporter` label.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// What a server connection asks its host. Only the first two must be written; the
/// others have defaults that refuse.
pub trait ServerHost {
    /// A SASL decision of a mechanism the session runs (check a password, fetch SCRAM
    /// credentials, validate a token).
    fn auth_decision(&mut self, decision: sasl::Decision) -> sasl::Answer;

    /// A script operation for the authenticated user `owner`.
    fn script(&mut self, owner: &str, request: ScriptRequest) -> Result<ScriptReply, StoreError>;

    /// A step of a mechanism the host runs itself ([`ServerEvent::Authenticate`],
    /// [`ServerEvent::AuthResponse`]). Default: refuse.
    fn auth_step(&mut self, event: &ServerEvent) -> AuthStep {
        let _ = event;
        AuthStep::Failure {
            code: None,
            text: "Unsupported authentication mechanism".into(),
        }
    }

    /// Script validation when the session was configured with
    /// [`ScriptCheck::Host`](super::server::ScriptCheck::Host). Default: refuse.
    fn validate(&mut self, script: &[u8]) -> Validation {
        let _ = script;
        Validation::Invalid {
            message: "no validator configured".into(),
        }
    }
}

/// Output waiting to be written beyond which the adapter stops reading.
pub const MAX_UNSENT: usize = 4 << 20;

/// How long a final flush (the `OK` before STARTTLS, the last response before closing)
/// may take.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// A TCP connection before or after STARTTLS.
enum Conn<T> {
    Plain(TcpStream),
    Tls(Box<T>),
    Gone,
}

impl<T: AsyncRead + Unpin> AsyncRead for Conn<T> {
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

impl<T: AsyncWrite + Unpin> AsyncWrite for Conn<T> {
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

/// What one round of [`exchange`] saw.
enum Io {
    /// Bytes read into the buffer (0: the peer closed).
    Read(usize),
    /// The deadline passed.
    Timeout,
    /// Reading was off and everything is written and flushed.
    Flushed,
}

/// Writes `out` and reads into `buf` at the same time until something is read, the
/// deadline passes, or (when `read` is false) everything is written and flushed.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
    buf: &mut [u8],
    read: bool,
    deadline: Option<Instant>,
) -> io::Result<Io> {
    let mut sleep = deadline.map(|d| Box::pin(::tokio::time::sleep_until(d.into())));
    std::future::poll_fn(|cx| {
        while !out.is_empty() {
            match Pin::new(&mut *stream).poll_write(cx, out) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if out.is_empty() {
            match Pin::new(&mut *stream).poll_flush(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if !read => return Poll::Ready(Ok(Io::Flushed)),
                _ => {}
            }
        }
        if read {
            let mut rb = ReadBuf::new(buf);
            match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(Io::Read(rb.filled().len()))),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if let Some(sleep) = sleep.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Ok(Io::Timeout));
        }
        Poll::Pending
    })
    .await
}

/// Writes everything in `out` and flushes, within [`FLUSH_TIMEOUT`].
async fn flush_all<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    match exchange(stream, out, &mut [], false, Some(deadline)).await? {
        Io::Flushed => Ok(()),
        _ => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// [`ServerHost`] with asynchronous answers, for hosts whose decisions wait on something
/// (a password hash on a blocking pool, a directory over the network). Every
/// [`ServerHost`] is one, answering at once.
pub trait AsyncServerHost {
    /// See [`ServerHost::auth_decision`].
    fn auth_decision(
        &mut self,
        decision: sasl::Decision,
    ) -> impl Future<Output = sasl::Answer> + Send;

    /// See [`ServerHost::script`].
    fn script(
        &mut self,
        owner: &str,
        request: ScriptRequest,
    ) -> impl Future<Output = Result<ScriptReply, StoreError>> + Send;

    /// See [`ServerHost::auth_step`].
    fn auth_step(&mut self, event: &ServerEvent) -> impl Future<Output = AuthStep> + Send;

    /// See [`ServerHost::validate`].
    fn validate(&mut self, script: &[u8]) -> impl Future<Output = Validation> + Send;
}

impl<H: ServerHost> AsyncServerHost for H {
    fn auth_decision(
        &mut self,
        decision: sasl::Decision,
    ) -> impl Future<Output = sasl::Answer> + Send {
        std::future::ready(ServerHost::auth_decision(self, decision))
    }

    fn script(
        &mut self,
        owner: &str,
        request: ScriptRequest,
    ) -> impl Future<Output = Result<ScriptReply, StoreError>> + Send {
        std::future::ready(ServerHost::script(self, owner, request))
    }

    fn auth_step(&mut self, event: &ServerEvent) -> impl Future<Output = AuthStep> + Send {
        std::future::ready(ServerHost::auth_step(self, event))
    }

    fn validate(&mut self, script: &[u8]) -> impl Future<Output = Validation> + Send {
        std::future::ready(ServerHost::validate(self, script))
    }
}

async fn answer_server_event<H: AsyncServerHost>(
    session: &mut ServerSession,
    host: &mut H,
    event: ServerEvent,
) -> Result<(), super::Error> {
    match event {
        ServerEvent::AuthDecision(d) => {
            let answer = host.auth_decision(d).await;
            session.answer_auth_decision(answer)
        }
        ServerEvent::Script(req) => {
            let owner = session.owner().unwrap_or_default().to_owned();
            let answer = host.script(&owner, req).await;
            session.answer_script(answer)
        }
        ServerEvent::ValidateScript { script } => {
            let validation = host.validate(&script).await;
            session.answer_validation(validation)
        }
        e @ (ServerEvent::Authenticate { .. } | ServerEvent::AuthResponse { .. }) => {
            let step = host.auth_step(&e).await;
            session.answer_auth(step)
        }
        _ => Ok(()),
    }
}

/// Serves one connection until LOGOUT, BYE, the idle timeout or the peer closing.
///
/// `tls` is the configuration STARTTLS uses (the session should offer STARTTLS only when
/// it is given).
pub async fn serve_connection<H: AsyncServerHost>(
    tcp: TcpStream,
    mut session: ServerSession,
    tls: Option<Arc<rustls::ServerConfig>>,
    host: &mut H,
) -> io::Result<()> {
    let mut conn: Conn<tokio_rustls::server::TlsStream<TcpStream>> = Conn::Plain(tcp);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        let mut marker = None;
        while marker.is_none() {
            match session.poll_output() {
                None => break,
                Some(ServerOutput::Transmit(bytes)) => out.extend_from_slice(&bytes),
                Some(ServerOutput::Event(e)) => answer_server_event(&mut session, host, e)
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))?,
                Some(other) => marker = Some(other),
            }
        }
        match marker {
            Some(ServerOutput::StartTls) => {
                flush_all(&mut conn, &mut out).await?;
                let (Conn::Plain(tcp), Some(cfg)) =
                    (std::mem::replace(&mut conn, Conn::Gone), tls.clone())
                else {
                    return Err(io::Error::other("STARTTLS without a TLS configuration"));
                };
                let stream = TlsAcceptor::from(cfg).accept(tcp).await?;
                if let Ok(cb) =
                    stream
                        .get_ref()
                        .1
                        .export_keying_material(vec![0u8; 32], EXPORTER_LABEL, None)
                {
                    session.set_channel_binding(cb);
                }
                conn = Conn::Tls(Box::new(stream));
                session
                    .handle_tls_established()
                    .map_err(|e| io::Error::other(e.to_string()))?;
                continue;
            }
            Some(_) => {
                // Close.
                let _ = flush_all(&mut conn, &mut out).await;
                let _ = ::tokio::time::timeout(FLUSH_TIMEOUT, conn.shutdown()).await;
                return Ok(());
            }
            None => {}
        }
        let read = out.len() < MAX_UNSENT;
        match exchange(&mut conn, &mut out, &mut buf, read, session.poll_timeout()).await? {
            Io::Read(0) => return Ok(()),
            Io::Read(n) => {
                if session.handle_input(Instant::now(), &buf[..n]).is_err() {
                    return Ok(());
                }
            }
            Io::Timeout => session.handle_timeout(Instant::now()),
            Io::Flushed => {}
        }
    }
}

/// An async ManageSieve client over TCP, with STARTTLS.
///
/// ```no_run
/// # async fn example(tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>) -> std::io::Result<()> {
/// use sieve::managesieve::ScriptName;
/// use sieve::managesieve::tokio::Client;
/// use smtp_proto::sasl::Credentials;
///
/// let mut c = Client::connect("127.0.0.1:4190", "mail.example.org", tls).await?;
/// c.starttls().await?;
/// c.authenticate(Credentials::password("alice", "secret")).await?;
/// let name = ScriptName::new("main").unwrap();
/// let done = c.put_script(&name, b"keep;").await?;
/// assert!(done.is_ok(), "{:?}", done.status);
/// c.set_active(Some(&name)).await?;
/// c.logout().await?;
/// # Ok(()) }
/// ```
pub struct Client {
    conn: Conn<tokio_rustls::client::TlsStream<TcpStream>>,
    out: Vec<u8>,
    session: ClientSession,
    tls: Arc<rustls::ClientConfig>,
    server_name: rustls::pki_types::ServerName<'static>,
    done: Vec<Completion>,
    buf: Vec<u8>,
    /// The capabilities (greeting, or again after STARTTLS) have arrived.
    greeted: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.session)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn protocol(e: &super::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Client {
    /// Connects and reads the greeting. `server_name` is checked against the server's
    /// certificate at STARTTLS.
    pub async fn connect(
        addr: impl ::tokio::net::ToSocketAddrs,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> io::Result<Self> {
        let server_name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tcp = TcpStream::connect(addr).await?;
        let mut c = Self {
            conn: Conn::Plain(tcp),
            out: Vec::new(),
            session: ClientSession::new(),
            tls,
            server_name,
            done: Vec::new(),
            buf: vec![0u8; 16 * 1024],
            greeted: false,
        };
        while !c.greeted {
            c.step().await?;
        }
        Ok(c)
    }

    /// The server's capabilities as last announced.
    pub fn capabilities(&self) -> &Capabilities {
        self.session.capabilities()
    }

    /// The session, for anything the shortcuts below do not cover.
    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// Moves the session's output along; reads once unless a handshake is due.
    async fn step(&mut self) -> io::Result<()> {
        if self.collect()? {
            return self.upgrade().await;
        }
        let read = self.out.len() < MAX_UNSENT;
        match exchange(&mut self.conn, &mut self.out, &mut self.buf, read, None).await? {
            Io::Read(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Io::Read(n) => {
                self.session
                    .handle_input(&self.buf[..n])
                    .map_err(|e| protocol(&e))?;
                if self.collect()? {
                    self.upgrade().await?;
                }
                Ok(())
            }
            Io::Timeout | Io::Flushed => Ok(()),
        }
    }

    /// Takes the session's output: bytes to `out`, completions aside. True when the
    /// session asks for the TLS handshake.
    fn collect(&mut self) -> io::Result<bool> {
        while let Some(out) = self.session.poll_output() {
            match out {
                ClientOutput::Transmit(b) => self.out.extend_from_slice(&b),
                ClientOutput::Event(ClientEvent::Completed(c)) => self.done.push(c),
                ClientOutput::Event(ClientEvent::Capabilities(_)) => self.greeted = true,
                ClientOutput::Event(ClientEvent::Bye(status)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("the server said BYE: {:?}", status.text),
                    ));
                }
                ClientOutput::StartTls => return Ok(true),
                ClientOutput::Event(ClientEvent::AuthChallenge(_)) => {
                    // Only the raw API produces challenges; cancel them here.
                    self.session.auth_cancel().map_err(|e| protocol(&e))?;
                }
                _ => {}
            }
        }
        Ok(false)
    }

    async fn upgrade(&mut self) -> io::Result<()> {
        flush_all(&mut self.conn, &mut self.out).await?;
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return Err(io::Error::other("STARTTLS twice"));
        };
        let stream = TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await?;
        if let Ok(cb) =
            stream
                .get_ref()
                .1
                .export_keying_material(vec![0u8; 32], EXPORTER_LABEL, None)
        {
            self.session.set_channel_binding(cb);
        }
        self.conn = Conn::Tls(Box::new(stream));
        self.session
            .handle_tls_established()
            .map_err(|e| protocol(&e))?;
        self.collect().map(|_| ())
    }

    /// Waits for the completion of `handle`.
    pub async fn wait(&mut self, handle: Handle) -> io::Result<Completion> {
        loop {
            if self.collect()? {
                self.upgrade().await?;
            }
            if let Some(i) = self.done.iter().position(|c| c.handle == handle) {
                return Ok(self.done.remove(i));
            }
            if self.session.is_closed() {
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            self.step().await?;
        }
    }

    /// STARTTLS, the handshake, and the new capabilities.
    pub async fn starttls(&mut self) -> io::Result<Completion> {
        let h = self.session.starttls();
        self.greeted = false;
        let done = self.wait(h).await?;
        if done.is_ok() {
            while !self.greeted {
                self.step().await?;
            }
        }
        Ok(done)
    }

    /// AUTHENTICATE with the strongest fitting mechanism the server offers.
    pub async fn authenticate(&mut self, credentials: Credentials) -> io::Result<Completion> {
        let h = self
            .session
            .authenticate(credentials)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.wait(h).await
    }

    /// PUTSCRIPT.
    pub async fn put_script(&mut self, name: &ScriptName, script: &[u8]) -> io::Result<Completion> {
        let h = self.session.put_script(name, script);
        self.wait(h).await
    }

    /// CHECKSCRIPT.
    pub async fn check_script(&mut self, script: &[u8]) -> io::Result<Completion> {
        let h = self.session.check_script(script);
        self.wait(h).await
    }

    /// LISTSCRIPTS.
    pub async fn list_scripts(&mut self) -> io::Result<Completion> {
        let h = self.session.list_scripts();
        self.wait(h).await
    }

    /// SETACTIVE.
    pub async fn set_active(&mut self, name: Option<&ScriptName>) -> io::Result<Completion> {
        let h = self.session.set_active(name);
        self.wait(h).await
    }

    /// GETSCRIPT.
    pub async fn get_script(&mut self, name: &ScriptName) -> io::Result<Completion> {
        let h = self.session.get_script(name);
        self.wait(h).await
    }

    /// DELETESCRIPT.
    pub async fn delete_script(&mut self, name: &ScriptName) -> io::Result<Completion> {
        let h = self.session.delete_script(name);
        self.wait(h).await
    }

    /// RENAMESCRIPT.
    pub async fn rename_script(
        &mut self,
        old: &ScriptName,
        new: &ScriptName,
    ) -> io::Result<Completion> {
        let h = self.session.rename_script(old, new);
        self.wait(h).await
    }

    /// HAVESPACE.
    pub async fn have_space(&mut self, name: &ScriptName, size: u32) -> io::Result<Completion> {
        let h = self.session.have_space(name, size);
        self.wait(h).await
    }

    /// NOOP.
    pub async fn noop(&mut self) -> io::Result<Completion> {
        let h = self.session.noop(None);
        self.wait(h).await
    }

    /// LOGOUT.
    pub async fn logout(&mut self) -> io::Result<Completion> {
        let h = self.session.logout();
        self.wait(h).await
    }
}
