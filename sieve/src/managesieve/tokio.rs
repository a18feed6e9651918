//! The thin tokio adapter (feature `tokio`): a ManageSieve server connection loop and an
//! async client, over TCP with STARTTLS by rustls (tokio-rustls).
//!
//! The adapter only moves bytes and reads the clock: the protocol is in
//! [`ServerSession`] / [`ClientSession`], the decisions in the host's [`ServerHost`].
//! Host calls are synchronous (the crate's [`FsScriptStore`](super::store::FsScriptStore)
//! is); a host whose answers are slow should offload them (`spawn_blocking`) itself.
//!
//! Reads and writes alternate: the server writes everything it has before reading again,
//! which is safe because a ManageSieve server never sends more than one command's answer
//! per command and the session bounds buffered input.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use ::tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
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

enum ServerConn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Gone,
}

impl ServerConn {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(s) => s.read(buf).await,
            Self::Gone => Ok(0),
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.write_all(buf).await,
            Self::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.shutdown().await,
            Self::Tls(s) => s.shutdown().await,
            Self::Gone => Ok(()),
        }
    }
}

fn answer_server_event<H: ServerHost>(
    session: &mut ServerSession,
    host: &mut H,
    event: ServerEvent,
) -> Result<(), super::Error> {
    match event {
        ServerEvent::AuthDecision(d) => session.answer_auth_decision(host.auth_decision(d)),
        ServerEvent::Script(req) => {
            let owner = session.owner().unwrap_or_default().to_owned();
            session.answer_script(host.script(&owner, req))
        }
        ServerEvent::ValidateScript { script } => session.answer_validation(host.validate(&script)),
        e @ (ServerEvent::Authenticate { .. } | ServerEvent::AuthResponse { .. }) => {
            let step = host.auth_step(&e);
            session.answer_auth(step)
        }
        _ => Ok(()),
    }
}

/// Serves one connection until LOGOUT, BYE, the idle timeout or the peer closing.
///
/// `tls` is the configuration STARTTLS uses (the session should offer STARTTLS only when
/// it is given).
pub async fn serve_connection<H: ServerHost>(
    tcp: TcpStream,
    mut session: ServerSession,
    tls: Option<Arc<rustls::ServerConfig>>,
    host: &mut H,
) -> io::Result<()> {
    let mut conn = ServerConn::Plain(tcp);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(out) = session.poll_output() {
            match out {
                ServerOutput::Transmit(bytes) => conn.write_all(&bytes).await?,
                ServerOutput::Event(e) => answer_server_event(&mut session, host, e)
                    .map_err(|e| io::Error::other(e.to_string()))?,
                ServerOutput::StartTls => {
                    let (ServerConn::Plain(tcp), Some(cfg)) =
                        (std::mem::replace(&mut conn, ServerConn::Gone), tls.clone())
                    else {
                        return Err(io::Error::other("STARTTLS without a TLS configuration"));
                    };
                    let stream = TlsAcceptor::from(cfg).accept(tcp).await?;
                    if let Ok(cb) = stream.get_ref().1.export_keying_material(
                        vec![0u8; 32],
                        EXPORTER_LABEL,
                        None,
                    ) {
                        session.set_channel_binding(cb);
                    }
                    conn = ServerConn::Tls(Box::new(stream));
                    session
                        .handle_tls_established()
                        .map_err(|e| io::Error::other(e.to_string()))?;
                }
                ServerOutput::Close => {
                    let _ = conn.shutdown().await;
                    return Ok(());
                }
            }
        }
        let read = match session.poll_timeout() {
            Some(deadline) => {
                if let Ok(r) = ::tokio::time::timeout_at(deadline.into(), conn.read(&mut buf)).await
                {
                    r?
                } else {
                    session.handle_timeout(Instant::now());
                    continue;
                }
            }
            None => conn.read(&mut buf).await?,
        };
        if read == 0 {
            return Ok(());
        }
        if session.handle_input(Instant::now(), &buf[..read]).is_err() {
            return Ok(());
        }
    }
}

enum ClientConn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Gone,
}

impl ClientConn {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(s) => s.read(buf).await,
            Self::Gone => Ok(0),
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.write_all(buf).await,
            Self::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
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
    conn: ClientConn,
    session: ClientSession,
    tls: Arc<rustls::ClientConfig>,
    server_name: rustls::pki_types::ServerName<'static>,
    done: Vec<Completion>,
    buf: Vec<u8>,
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
            conn: ClientConn::Plain(tcp),
            session: ClientSession::new(),
            tls,
            server_name,
            done: Vec::new(),
            buf: vec![0u8; 16 * 1024],
        };
        while c.session.capabilities().version.is_none()
            && c.session.capabilities().implementation.is_none()
        {
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

    /// Writes pending output and reads once; returns when something was read.
    async fn step(&mut self) -> io::Result<()> {
        self.flush().await?;
        let n = self.conn.read(&mut self.buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.session
            .handle_input(&self.buf[..n])
            .map_err(|e| protocol(&e))?;
        self.flush().await
    }

    async fn flush(&mut self) -> io::Result<()> {
        while let Some(out) = self.session.poll_output() {
            match out {
                ClientOutput::Transmit(b) => self.conn.write_all(&b).await?,
                ClientOutput::Event(ClientEvent::Completed(c)) => self.done.push(c),
                ClientOutput::StartTls => {
                    let ClientConn::Plain(tcp) =
                        std::mem::replace(&mut self.conn, ClientConn::Gone)
                    else {
                        return Err(io::Error::other("STARTTLS twice"));
                    };
                    let stream = TlsConnector::from(self.tls.clone())
                        .connect(self.server_name.clone(), tcp)
                        .await?;
                    if let Ok(cb) = stream.get_ref().1.export_keying_material(
                        vec![0u8; 32],
                        EXPORTER_LABEL,
                        None,
                    ) {
                        self.session.set_channel_binding(cb);
                    }
                    self.conn = ClientConn::Tls(Box::new(stream));
                    self.session
                        .handle_tls_established()
                        .map_err(|e| protocol(&e))?;
                }
                ClientOutput::Event(ClientEvent::AuthChallenge(_)) => {
                    // Only the raw API produces challenges; cancel them here.
                    self.session.auth_cancel().map_err(|e| protocol(&e))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Waits for the completion of `handle`.
    pub async fn wait(&mut self, handle: Handle) -> io::Result<Completion> {
        loop {
            self.flush().await?;
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
        let done = self.wait(h).await?;
        if done.is_ok() {
            while self.session.capabilities().version.is_none()
                && self.session.capabilities().implementation.is_none()
            {
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
