//! An async client: a [`ClientSession`] over a stream, with helpers that send a command and
//! wait for its completion.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::net::{TcpStream, ToSocketAddrs};
use smtp_proto::sasl::{Credentials, Mechanism, Nonce};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use super::pipe::{Io, Pipe, Step};
use crate::client::{ClientConfig, ClientEvent, ClientOutput, ClientSession, CommandHandle};
use crate::types::command::CommandBody;
use crate::types::response::{Data, Greeting, StatusKind, StatusResponse};

/// A completed command with the data that came for it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Completion {
    /// The tagged response.
    pub status: StatusResponse<'static>,
    /// Untagged data received while it ran (attributed to it, or unsolicited).
    pub data: Vec<Data<'static>>,
    /// Untagged status responses received while it ran (`* OK [ALERT] ...`, `* NO ...`).
    pub untagged: Vec<StatusResponse<'static>>,
}

impl Completion {
    /// Whether the server answered OK.
    pub fn is_ok(&self) -> bool {
        self.status.kind == StatusKind::Ok
    }
}

fn protocol_error(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// An async IMAP client.
///
/// ```no_run
/// # async fn f(tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>) -> std::io::Result<()> {
/// use imap_proto::client::ClientConfig;
/// use imap_proto::tokio::Client;
/// use imap_proto::types::{CommandBody, Mailbox};
///
/// let name = "imap.example.org".try_into().unwrap();
/// let mut c = Client::connect_tls("imap.example.org:993", name, tls, ClientConfig::default()).await?;
/// c.greeting().await?;
/// assert!(c.login("alice", "secret").await?.is_ok());
/// let sel = c.execute(CommandBody::Select { mailbox: Mailbox::inbox(), params: vec![] }).await?;
/// println!("{} messages", c.session().selected().map_or(0, |m| m.exists()));
/// c.logout().await?;
/// # let _ = sel; Ok(()) }
/// ```
pub struct Client<S> {
    pipe: Pipe<S>,
    session: ClientSession,
    events: VecDeque<ClientEvent>,
    connector: Option<(TlsConnector, ServerName<'static>)>,
    tls_pending: bool,
    closing: bool,
    done: bool,
}

impl<S> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Client<TcpStream> {
    /// Connects in plaintext (port 143; use [`Self::starttls`] next).
    pub async fn connect(addr: impl ToSocketAddrs, cfg: ClientConfig) -> io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Self::new(tcp, cfg))
    }

    /// Connects with implicit TLS (port 993).
    pub async fn connect_tls(
        addr: impl ToSocketAddrs,
        server_name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
        cfg: ClientConfig,
    ) -> io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Self::new_tls(
            tcp,
            &TlsConnector::from(tls),
            server_name,
            cfg,
        ))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client over a plaintext stream.
    pub fn new(stream: S, cfg: ClientConfig) -> Self {
        Self::with_io(Io::Plain(stream), cfg)
    }

    fn with_io(io: Io<S>, cfg: ClientConfig) -> Self {
        Self {
            pipe: Pipe::new(io),
            session: ClientSession::new(cfg),
            events: VecDeque::new(),
            connector: None,
            tls_pending: false,
            closing: false,
            done: false,
        }
    }

    /// A client that starts with a TLS handshake (implicit TLS).
    pub fn new_tls(
        stream: S,
        connector: &TlsConnector,
        server_name: ServerName<'static>,
        cfg: ClientConfig,
    ) -> Self {
        Self::with_io(Io::Connecting(connector.connect(server_name, stream)), cfg)
    }

    /// The session (capabilities, selected mailbox, enqueuing commands directly).
    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.tls_pending {
            return Ok(());
        }
        while let Some(o) = self.session.poll_output() {
            match o {
                ClientOutput::Transmit(b) => self.pipe.queue(&b)?,
                ClientOutput::Event(e) => self.events.push_back(e),
                ClientOutput::StartTls => {
                    self.tls_pending = true;
                    return Ok(());
                }
                ClientOutput::StartCompression => self.pipe.start_compression(),
                ClientOutput::Close => self.closing = true,
            }
        }
        Ok(())
    }

    /// Sends what is queued, reads responses, and returns the next event; `None` once the
    /// connection has ended. Cancel-safe.
    pub async fn next_event(&mut self) -> io::Result<Option<ClientEvent>> {
        loop {
            if self.done {
                return Ok(None);
            }
            self.drain()?;
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            if self.closing && !self.pipe.pending_output() {
                self.pipe.shutdown().await;
                self.done = true;
                return Ok(None);
            }
            if self.tls_pending && !self.pipe.pending_output() && !self.pipe.io.is_handshaking() {
                let (Some((connector, name)), Some(plain)) =
                    (self.connector.take(), self.pipe.take_plain())
                else {
                    return Err(io::Error::other("STARTTLS without a TLS connector"));
                };
                self.pipe.io = Io::Connecting(connector.connect(name, plain));
            }
            let want_read = !self.closing && !self.tls_pending && !self.pipe.io.is_handshaking();
            match self.pipe.step(want_read, None).await? {
                Step::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                Step::Read(bytes) => {
                    if self.session.handle_input(&bytes).is_err() {
                        self.done = true;
                        return Ok(None);
                    }
                }
                Step::Wrote | Step::Timeout => {}
                Step::Handshaked => {
                    if let Some(cb) = self.pipe.channel_binding() {
                        self.session.set_channel_binding(cb);
                    }
                    if self.tls_pending {
                        self.tls_pending = false;
                        self.session.tls_started();
                    }
                }
            }
        }
    }

    /// Waits for the greeting.
    pub async fn greeting(&mut self) -> io::Result<Greeting<'static>> {
        loop {
            match self.next_event().await? {
                Some(ClientEvent::Greeting(g)) => return Ok(g),
                Some(_) => {}
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }

    /// Waits for a command's completion, collecting the data that came meanwhile.
    pub async fn wait(&mut self, handle: CommandHandle) -> io::Result<Completion> {
        let mut data = Vec::new();
        let mut untagged = Vec::new();
        loop {
            match self.next_event().await? {
                Some(ClientEvent::Completed { handle: h, status }) if h == handle => {
                    return Ok(Completion {
                        status,
                        data,
                        untagged,
                    });
                }
                Some(ClientEvent::Data { data: d, .. }) => data.push(d),
                Some(ClientEvent::Status(s)) => untagged.push(s),
                Some(ClientEvent::AuthError { error, .. }) => {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        error.to_string(),
                    ));
                }
                Some(ClientEvent::Malformed(e)) => return Err(protocol_error(&e.to_string())),
                Some(_) => {}
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }

    /// Sends a command and waits for its completion.
    pub async fn execute(&mut self, body: CommandBody<'_>) -> io::Result<Completion> {
        let h = self.session.enqueue(body).map_err(io::Error::other)?;
        self.wait(h).await
    }

    /// `LOGIN`.
    pub async fn login(&mut self, user: &str, password: &str) -> io::Result<Completion> {
        let h = self
            .session
            .login(user, password)
            .map_err(io::Error::other)?;
        self.wait(h).await
    }

    /// `AUTHENTICATE` with a SASL mechanism.
    pub async fn authenticate(
        &mut self,
        mechanism: Mechanism,
        credentials: Credentials,
    ) -> io::Result<Completion> {
        let nonce = Nonce::generate().map_err(io::Error::other)?;
        let h = self
            .session
            .authenticate(mechanism, credentials, nonce)
            .map_err(io::Error::other)?;
        self.wait(h).await
    }

    /// `STARTTLS`, then the TLS handshake. Ask for CAPABILITY again afterwards.
    pub async fn starttls(
        &mut self,
        server_name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
    ) -> io::Result<Completion> {
        self.connector = Some((TlsConnector::from(tls), server_name));
        let c = self.execute(CommandBody::StartTls).await?;
        if c.is_ok() {
            self.finish_tls().await?;
        }
        Ok(c)
    }

    /// Runs the TLS handshake that a STARTTLS OK started.
    async fn finish_tls(&mut self) -> io::Result<()> {
        loop {
            if !self.tls_pending && !self.pipe.io.is_handshaking() {
                return Ok(());
            }
            if self.tls_pending && !self.pipe.pending_output() && !self.pipe.io.is_handshaking() {
                let (Some((connector, name)), Some(plain)) =
                    (self.connector.take(), self.pipe.take_plain())
                else {
                    return Err(io::Error::other("STARTTLS without a TLS connector"));
                };
                self.pipe.io = Io::Connecting(connector.connect(name, plain));
            }
            match self.pipe.step(false, None).await? {
                Step::Handshaked => {
                    if let Some(cb) = self.pipe.channel_binding() {
                        self.session.set_channel_binding(cb);
                    }
                    self.tls_pending = false;
                    self.session.tls_started();
                }
                Step::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
                _ => {}
            }
        }
    }

    /// `IDLE`: returns once the server accepted it; then read updates with
    /// [`Self::next_event`] and end with [`Self::idle_done`].
    pub async fn idle(&mut self) -> io::Result<CommandHandle> {
        let h = self.session.idle().map_err(io::Error::other)?;
        loop {
            match self.next_event().await? {
                Some(ClientEvent::IdleStarted { handle }) if handle == h => return Ok(h),
                Some(ClientEvent::Completed { handle, status }) if handle == h => {
                    return Err(protocol_error(&format!("IDLE refused: {}", status.text)));
                }
                Some(e) => self.events.push_back(e),
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
            if self.events.len() > 1024 {
                return Err(protocol_error("too many events before IDLE started"));
            }
        }
    }

    /// Sends `DONE` and waits for IDLE's completion.
    pub async fn idle_done(&mut self, handle: CommandHandle) -> io::Result<Completion> {
        self.session.idle_done().map_err(io::Error::other)?;
        self.wait(handle).await
    }

    /// `COMPRESS DEFLATE` (RFC 4978).
    pub async fn compress(&mut self) -> io::Result<Completion> {
        let atom = crate::types::core::Atom::new("DEFLATE").map_err(io::Error::other)?;
        self.execute(CommandBody::Compress(atom)).await
    }

    /// Whether COMPRESS is active.
    pub fn is_compressed(&self) -> bool {
        self.pipe.compressing()
    }

    /// `LOGOUT`, then waits for the server to close.
    pub async fn logout(&mut self) -> io::Result<Completion> {
        let c = self.execute(CommandBody::Logout).await?;
        while self.next_event().await?.is_some() {}
        Ok(c)
    }
}
