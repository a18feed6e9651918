//! A server connection: one [`ServerSession`] over a stream.

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use super::pipe::{Io, Pipe, Step};
use crate::server::{ServerEvent, ServerOutput, ServerSession};

/// One server connection. Drive it with [`Self::next_event`]; answer events through
/// [`Self::session`]. Dropping it drops the connection.
pub struct ServerConnection<S> {
    pipe: Pipe<S>,
    session: ServerSession,
    acceptor: Option<TlsAcceptor>,
    events: VecDeque<ServerEvent>,
    /// STARTTLS accepted: handshake once the OK is out.
    tls_pending: bool,
    closing: bool,
    done: bool,
}

impl<S> std::fmt::Debug for ServerConnection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConnection")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ServerConnection<S> {
    /// A plaintext connection (port 143); `acceptor` serves STARTTLS (configure the session
    /// with `starttls_available` when given).
    pub fn new(stream: S, session: ServerSession, acceptor: Option<TlsAcceptor>) -> Self {
        Self {
            pipe: Pipe::new(Io::Plain(stream)),
            session,
            acceptor,
            events: VecDeque::new(),
            tls_pending: false,
            closing: false,
            done: false,
        }
    }

    /// An implicit-TLS connection (port 993): the handshake runs first, then the greeting
    /// goes out. Configure the session with `tls_active`.
    pub fn new_tls(stream: S, session: ServerSession, acceptor: &TlsAcceptor) -> Self {
        Self {
            pipe: Pipe::new(Io::Accepting(acceptor.accept(stream))),
            session,
            acceptor: None,
            events: VecDeque::new(),
            tls_pending: false,
            closing: false,
            done: false,
        }
    }

    /// The session, to answer events and push updates (IDLE wake-ups).
    pub fn session(&mut self) -> &mut ServerSession {
        &mut self.session
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.tls_pending {
            return Ok(());
        }
        while let Some(o) = self.session.poll_output() {
            match o {
                ServerOutput::Transmit(b) => self.pipe.queue(&b)?,
                ServerOutput::Event(e) => self.events.push_back(e),
                ServerOutput::StartTls => {
                    self.tls_pending = true;
                    // Outputs after the switch wait until TLS is up.
                    return Ok(());
                }
                ServerOutput::StartCompression => self.pipe.start_compression(),
                ServerOutput::Close => self.closing = true,
            }
        }
        Ok(())
    }

    /// Sends what the session has to send, reads what the client sends, and returns the next
    /// event for the host; `None` once the connection has ended (LOGOUT, timeout, the client
    /// closed). Cancel-safe.
    pub async fn next_event(&mut self) -> io::Result<Option<ServerEvent>> {
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
                let (Some(acceptor), Some(plain)) = (self.acceptor.clone(), self.pipe.take_plain())
                else {
                    return Err(io::Error::other("STARTTLS without a TLS acceptor"));
                };
                self.pipe.io = Io::Accepting(acceptor.accept(plain));
            }
            let want_read = !self.closing
                && !self.tls_pending
                && !self.pipe.io.is_handshaking()
                && self.session.wants_input();
            // A TLS handshake runs under the session's (pre-authentication) timeout too.
            let deadline = self.session.poll_timeout();
            match self.pipe.step(want_read, deadline).await? {
                Step::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                Step::Read(bytes) => {
                    if self.session.handle_input(Instant::now(), &bytes).is_err() {
                        self.closing = true;
                    }
                }
                Step::Wrote => {}
                Step::Timeout => {
                    if self.pipe.io.is_handshaking() {
                        self.done = true;
                        return Ok(None);
                    }
                    self.session.handle_timeout(Instant::now());
                }
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

    /// Sends everything the session has queued (after answering events outside
    /// [`Self::next_event`], e.g. before dropping the connection).
    pub async fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.pipe.flush_all().await
    }
}
