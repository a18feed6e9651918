//! The client session: sends commands, reads responses, tracks state, with no I/O.
//!
//! The host enqueues commands ([`ClientSession::enqueue`] and the helpers); the session assigns
//! tags, sends them as soon as the rules allow, waits for `+` before each synchronizing
//! literal (using `LITERAL+`/`LITERAL-` when the server offers them), runs SASL
//! (`smtp_proto::sasl`), IDLE and STARTTLS, keeps the capability list and the selected-mailbox
//! tracker ([`SelectedMailbox`]) current, and reports untagged data between and during
//! commands as events.
//!
//! Pipelining mirrors the server's rules (RFC 3501 §5.5): commands that change state
//! (LOGIN, AUTHENTICATE, SELECT, EXAMINE, CLOSE, UNSELECT, STARTTLS, COMPRESS, IDLE, LOGOUT,
//! ENABLE) wait for every earlier command and hold back every later one; a command that uses
//! message sequence numbers is not sent while a command that may expunge (anything but FETCH,
//! STORE and SEARCH) is in progress.
//!
//! # Drive contract
//!
//! Feed received bytes to [`ClientSession::handle_input`] and drain
//! [`ClientSession::poll_output`] after every call that changes the session, including
//! enqueuing a command.
//!
//! ```no_run
//! use imap_proto::client::{ClientConfig, ClientEvent, ClientOutput, ClientSession};
//! use imap_proto::types::{CommandBody, Mailbox};
//! # fn read() -> Vec<u8> { Vec::new() }
//! # fn write(_: &[u8]) {}
//!
//! let mut c = ClientSession::new(ClientConfig::default());
//! let login = c.login("alice", "secret").unwrap();
//! let select = c.enqueue(CommandBody::Select { mailbox: Mailbox::inbox(), params: vec![] }).unwrap();
//! loop {
//!     while let Some(out) = c.poll_output() {
//!         match out {
//!             ClientOutput::Transmit(bytes) => write(&bytes),
//!             ClientOutput::Event(ClientEvent::Completed { handle, status }) if handle == select => {
//!                 println!("{} messages", c.selected().map_or(0, |m| m.exists()));
//!             }
//!             ClientOutput::Close => return,
//!             _ => {}
//!         }
//!     }
//!     c.handle_input(&read()).unwrap();
//! }
//! ```

use std::collections::VecDeque;
use std::fmt;

use smtp_proto::sasl::{self, ClientOptions, Credentials, Mechanism, Nonce, SaslClient};

use crate::codec::encode::{Enc, EncodeOptions};
use crate::codec::{DecodeOptions, ResponseDecoder, StreamError};
use crate::selected::SelectedMailbox;
use crate::types::command::{Command, CommandBody};
use crate::types::core::{Atom, IString, IntoStatic, Secret, Tag};
use crate::types::response::{
    Code, ContinueReq, Data, Greeting, Response, StatusKind, StatusResponse,
};

/// Names a command the host enqueued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandHandle(u64);

/// The client's view of the protocol state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// Waiting for the greeting.
    Greeting,
    /// Connected, not logged in.
    NotAuthenticated,
    /// Logged in.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// BYE received or LOGOUT done.
    Logout,
}

/// Settings. `Default` gives safe values.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Largest response kept in memory, literals included (default 256 MiB: a FETCH of a
    /// large message arrives whole).
    pub max_response_size: usize,
    /// Tag prefix (default `A`): tags are `A1`, `A2`, ...
    pub tag_prefix: String,
    /// Parser leniencies for servers that deviate (strict by default).
    pub decode: DecodeOptions,
    /// SASL client settings (SCRAM iteration bounds, channel binding).
    pub sasl: ClientOptions,
    /// Use LITERAL+ / LITERAL- when the server offers them (default true); false always waits
    /// for `+` before a literal.
    pub literal_plus: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_response_size: 256 * 1024 * 1024,
            tag_prefix: "A".into(),
            decode: DecodeOptions::default(),
            sasl: ClientOptions::default(),
            literal_plus: true,
        }
    }
}

/// What the host learns.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server's greeting.
    Greeting(Greeting<'static>),
    /// Untagged data. `handle` is the command it answers when exactly one command is in
    /// progress, else `None` (unsolicited, or ambiguous while several run).
    Data {
        /// The command in progress, if unambiguous.
        handle: Option<CommandHandle>,
        /// The data.
        data: Data<'static>,
    },
    /// An untagged status response (`* OK [ALERT] ...`, `* NO ...`, `* BYE ...`).
    Status(StatusResponse<'static>),
    /// A command completed.
    Completed {
        /// The command.
        handle: CommandHandle,
        /// The tagged response.
        status: StatusResponse<'static>,
    },
    /// The server accepted IDLE (`+`): updates arrive as [`ClientEvent::Data`] until
    /// [`ClientSession::idle_done`].
    IdleStarted {
        /// The IDLE command.
        handle: CommandHandle,
    },
    /// The server sent something that does not parse; it was skipped.
    Malformed(StreamError),
    /// SASL failed on our side (a SCRAM server that did not prove it knows the password,
    /// an invalid challenge): the command was cancelled or the connection must close.
    AuthError {
        /// The AUTHENTICATE command.
        handle: CommandHandle,
        /// Why.
        error: sasl::SaslError,
    },
}

/// What the session wants done.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientOutput {
    /// Send these bytes.
    Transmit(Vec<u8>),
    /// Tell the host.
    Event(ClientEvent),
    /// Start TLS now (after STARTTLS's OK), then call [`ClientSession::tls_started`].
    StartTls,
    /// Compress both directions now (after COMPRESS's OK).
    StartCompression,
    /// Close the connection.
    Close,
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The session has ended.
    Closed,
    /// The command cannot be sent in this session (IDLE is running, ...).
    NotNow(&'static str),
    /// SASL refused the credentials before anything was sent.
    Sasl(sasl::SaslError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("session closed"),
            Self::NotNow(why) => write!(f, "cannot send now: {why}"),
            Self::Sasl(e) => write!(f, "SASL: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

#[derive(Debug)]
struct Queued {
    handle: CommandHandle,
    tag: Tag<'static>,
    body: CommandBody<'static>,
    sasl: Option<SaslClient>,
}

#[derive(Debug)]
struct Sent {
    handle: CommandHandle,
    tag: Tag<'static>,
    kind: SentKind,
    /// Bytes still to send after each `+` (synchronizing literals).
    rest: VecDeque<Vec<u8>>,
    may_expunge: bool,
    barrier: bool,
}

#[derive(Debug)]
enum SentKind {
    Plain,
    Select { read_only: bool },
    Close,
    Login,
    Authenticate(Box<SaslClient>),
    Idle { started: bool },
    StartTls,
    Compress,
    Logout,
    Enable,
    Unauthenticate,
}

/// The client side of one IMAP connection.
#[derive(Debug)]
pub struct ClientSession {
    cfg: ClientConfig,
    decoder: ResponseDecoder,
    state: ClientState,
    capabilities: Vec<Atom<'static>>,
    enabled: Vec<Atom<'static>>,
    queue: VecDeque<Queued>,
    sent: Vec<Sent>,
    selected: Option<SelectedMailbox>,
    /// The tracker being filled by a SELECT in progress.
    selecting: Option<SelectedMailbox>,
    out: VecDeque<ClientOutput>,
    next: u64,
    closed: bool,
    tls: bool,
    /// Input arrived after STARTTLS's OK and before TLS: dropped.
    switching: bool,
}

impl ClientSession {
    /// A session waiting for the server's greeting.
    pub fn new(cfg: ClientConfig) -> Self {
        Self {
            decoder: ResponseDecoder::new(cfg.decode, cfg.max_response_size),
            cfg,
            state: ClientState::Greeting,
            capabilities: Vec::new(),
            enabled: Vec::new(),
            queue: VecDeque::new(),
            sent: Vec::new(),
            selected: None,
            selecting: None,
            out: VecDeque::new(),
            next: 0,
            closed: false,
            tls: false,
            switching: false,
        }
    }

    /// The protocol state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The server's capabilities as last reported.
    pub fn capabilities(&self) -> &[Atom<'static>] {
        &self.capabilities
    }

    /// Whether the server reported a capability (case-insensitive).
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c.eq_ignore_case(cap))
    }

    /// Capabilities the server confirmed with `ENABLED`.
    pub fn enabled(&self) -> &[Atom<'static>] {
        &self.enabled
    }

    /// The selected mailbox's tracker.
    pub fn selected(&self) -> Option<&SelectedMailbox> {
        self.selected.as_ref()
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// Commands sent and not yet completed, plus those waiting to be sent.
    pub fn outstanding(&self) -> usize {
        self.sent.len() + self.queue.len()
    }

    fn utf8(&self) -> bool {
        self.enabled
            .iter()
            .any(|e| e.eq_ignore_case("UTF8=ACCEPT") || e.eq_ignore_case("IMAP4rev2"))
    }

    fn enc_opts(&self) -> EncodeOptions {
        EncodeOptions::default()
            .with_utf8(self.utf8())
            .with_literals(
                self.cfg.literal_plus && self.has_capability("LITERAL+"),
                self.cfg.literal_plus && self.has_capability("LITERAL-"),
            )
    }

    fn new_handle(&mut self) -> (CommandHandle, Tag<'static>) {
        self.next += 1;
        let tag = Tag::new(format!("{}{}", self.cfg.tag_prefix, self.next))
            .unwrap_or_else(|_| Tag::unvalidated("A").into_static());
        (CommandHandle(self.next), tag)
    }

    /// Queues a command; it is sent when the pipelining rules allow.
    pub fn enqueue(&mut self, body: CommandBody<'_>) -> Result<CommandHandle, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if matches!(body, CommandBody::Authenticate { .. }) {
            return Err(ClientError::NotNow("use authenticate() for AUTHENTICATE"));
        }
        let (handle, tag) = self.new_handle();
        self.queue.push_back(Queued {
            handle,
            tag,
            body: body.into_static(),
            sasl: None,
        });
        self.pump();
        Ok(handle)
    }

    /// `LOGIN user password`.
    pub fn login(&mut self, user: &str, password: &str) -> Result<CommandHandle, ClientError> {
        let username = IString::try_from(user.to_owned())
            .map_err(|_| ClientError::NotNow("user name holds a NUL byte"))?;
        let password = IString::try_from(password.to_owned())
            .map_err(|_| ClientError::NotNow("password holds a NUL byte"))?;
        self.enqueue(CommandBody::Login {
            username,
            password: Secret::new(password),
        })
    }

    /// `AUTHENTICATE mechanism`, driven by `smtp_proto::sasl` (with SASL-IR when offered).
    pub fn authenticate(
        &mut self,
        mechanism: Mechanism,
        credentials: Credentials,
        nonce: Nonce,
    ) -> Result<CommandHandle, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        let client = SaslClient::new(mechanism, credentials, &self.cfg.sasl, nonce)
            .map_err(ClientError::Sasl)?;
        let (handle, tag) = self.new_handle();
        self.queue.push_back(Queued {
            handle,
            tag,
            body: CommandBody::Authenticate {
                mechanism: Atom::new(mechanism.name().to_owned())
                    .unwrap_or_else(|_| Atom::unvalidated("PLAIN").into_static()),
                initial_response: None,
            },
            sasl: Some(client),
        });
        self.pump();
        Ok(handle)
    }

    /// `IDLE`; [`ClientEvent::IdleStarted`] follows, then updates; end with
    /// [`Self::idle_done`].
    pub fn idle(&mut self) -> Result<CommandHandle, ClientError> {
        self.enqueue(CommandBody::Idle)
    }

    /// Ends IDLE (sends `DONE`).
    pub fn idle_done(&mut self) -> Result<(), ClientError> {
        let Some(s) = self
            .sent
            .iter_mut()
            .find(|s| matches!(s.kind, SentKind::Idle { .. }))
        else {
            return Err(ClientError::NotNow("not idling"));
        };
        if let SentKind::Idle { started: true } = s.kind {
            s.kind = SentKind::Idle { started: false };
            self.transmit(b"DONE\r\n".to_vec());
            Ok(())
        } else {
            Err(ClientError::NotNow("IDLE not yet accepted"))
        }
    }

    /// The TLS handshake after STARTTLS finished. Capabilities are forgotten (RFC 9051
    /// §6.2.1): ask again with CAPABILITY.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.switching = false;
        self.capabilities.clear();
        self.pump();
    }

    /// The TLS connection's `tls-exporter` channel binding (RFC 9266), for
    /// SCRAM-SHA-256-PLUS. The tokio adapter sets it after every handshake.
    pub fn set_channel_binding(&mut self, binding: Vec<u8>) {
        self.cfg.sasl.channel_binding = Some(sasl::Secret::new(binding));
    }

    /// Whether the transport is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Bytes received from the server.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if self.switching {
            // Plaintext after STARTTLS's OK cannot be trusted (response injection).
            return Ok(());
        }
        self.decoder.push(bytes);
        loop {
            if self.closed || self.switching {
                break;
            }
            let msg = if self.state == ClientState::Greeting {
                match self.decoder.next_greeting() {
                    None => break,
                    Some(Ok(g)) => Msg::Greeting(g.into_static()),
                    Some(Err(e)) => Msg::Bad(e),
                }
            } else {
                match self.decoder.next_response() {
                    None => break,
                    Some(Ok(r)) => Msg::Response(r.into_static()),
                    Some(Err(e)) => Msg::Bad(e),
                }
            };
            match msg {
                Msg::Greeting(g) => self.on_greeting(g),
                Msg::Response(r) => self.on_response(r),
                Msg::Bad(e) => self.event(ClientEvent::Malformed(e)),
            }
        }
        self.pump();
        Ok(())
    }

    // --- internals -------------------------------------------------------------------------

    fn transmit(&mut self, bytes: Vec<u8>) {
        if let Some(ClientOutput::Transmit(last)) = self.out.back_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.out.push_back(ClientOutput::Transmit(bytes));
        }
    }

    fn event(&mut self, e: ClientEvent) {
        self.out.push_back(ClientOutput::Event(e));
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.state = ClientState::Logout;
            self.out.push_back(ClientOutput::Close);
        }
    }

    fn on_greeting(&mut self, g: Greeting<'static>) {
        self.state = match g.kind {
            StatusKind::PreAuth => ClientState::Authenticated,
            StatusKind::Bye => ClientState::Logout,
            _ => ClientState::NotAuthenticated,
        };
        if let Some(Code::Capability(c)) = &g.code {
            self.capabilities = c.to_vec();
        }
        let bye = g.kind == StatusKind::Bye;
        self.event(ClientEvent::Greeting(g));
        if bye {
            self.close();
        }
    }

    /// The one command an untagged response can be attributed to.
    fn current(&self) -> Option<CommandHandle> {
        match self.sent.as_slice() {
            [one] => Some(one.handle),
            _ => None,
        }
    }

    fn on_response(&mut self, r: Response<'static>) {
        match r {
            Response::Continue(c) => self.on_continue(&c),
            Response::Data(d) => {
                self.apply_data(&d);
                let handle = self.current();
                self.event(ClientEvent::Data { handle, data: d });
            }
            Response::Status(s) if s.tag.is_none() => {
                if let Some(code) = &s.code {
                    self.apply_code(code);
                }
                let bye = s.kind == StatusKind::Bye;
                self.event(ClientEvent::Status(s));
                if bye {
                    self.state = ClientState::Logout;
                    // After LOGOUT the tagged OK follows; else the server is closing on us.
                    if !self.sent.iter().any(|c| matches!(c.kind, SentKind::Logout)) {
                        self.close();
                    }
                }
            }
            Response::Status(s) => self.on_tagged(s),
        }
    }

    fn apply_code(&mut self, code: &Code<'_>) {
        match code {
            Code::Capability(c) => {
                self.capabilities = c.iter().cloned().map(IntoStatic::into_static).collect();
            }
            _ => {
                if let Some(m) = self.selecting.as_mut().or(self.selected.as_mut()) {
                    m.apply_code(code);
                }
            }
        }
    }

    fn apply_data(&mut self, d: &Data<'_>) {
        match d {
            Data::Capability(c) => {
                self.capabilities = c.iter().cloned().map(IntoStatic::into_static).collect();
            }
            Data::Enabled(e) => {
                for a in e {
                    if !self.enabled.iter().any(|x| x.eq_ignore_case(a.as_str())) {
                        self.enabled.push(a.clone().into_static());
                    }
                }
            }
            _ => {
                if let Some(m) = self.selecting.as_mut().or(self.selected.as_mut()) {
                    // A server that breaks the numbering is reported by the tracker; the
                    // data still goes to the host, which decides what to do.
                    let _ = m.apply(d);
                }
            }
        }
    }

    fn on_continue(&mut self, c: &ContinueReq<'_>) {
        // The command waiting for '+' is the last one sent that still has work.
        let Some(i) = self.sent.iter().rposition(|s| {
            !s.rest.is_empty()
                || matches!(
                    s.kind,
                    SentKind::Authenticate(_) | SentKind::Idle { started: false }
                )
        }) else {
            return;
        };
        if let Some(chunk) = self.sent[i].rest.pop_front() {
            self.transmit(chunk);
            return;
        }
        let handle = self.sent[i].handle;
        match &mut self.sent[i].kind {
            SentKind::Idle { started } => {
                *started = true;
                self.event(ClientEvent::IdleStarted { handle });
            }
            SentKind::Authenticate(client) => {
                let challenge = c.decode_base64().unwrap_or_default();
                match client.respond(&challenge) {
                    Ok(resp) => {
                        let mut line = sasl::encode(&resp).into_bytes();
                        line.extend_from_slice(b"\r\n");
                        self.transmit(line);
                    }
                    Err(error) => {
                        // Cancel the exchange; the server answers BAD.
                        self.transmit(b"*\r\n".to_vec());
                        self.event(ClientEvent::AuthError { handle, error });
                    }
                }
            }
            _ => {}
        }
    }

    fn on_tagged(&mut self, s: StatusResponse<'static>) {
        let Some(tag) = &s.tag else { return };
        let Some(i) = self.sent.iter().position(|c| &c.tag == tag) else {
            // A tag we did not send: report it as untagged status.
            self.event(ClientEvent::Status(s));
            return;
        };
        let c = self.sent.remove(i);
        if let Some(code) = &s.code {
            self.apply_code(code);
        }
        let ok = s.kind == StatusKind::Ok;
        let mut close = false;
        match c.kind {
            SentKind::Login if ok => self.state = ClientState::Authenticated,
            SentKind::Authenticate(mut client) if ok => match client.finish(None) {
                Ok(()) => self.state = ClientState::Authenticated,
                Err(error) => {
                    // The server did not prove itself (SCRAM): do not trust this connection.
                    self.event(ClientEvent::AuthError {
                        handle: c.handle,
                        error,
                    });
                    close = true;
                }
            },
            SentKind::Select { read_only } => {
                let m = self.selecting.take();
                if ok {
                    let mut m = m.unwrap_or_default();
                    if read_only || matches!(s.code, Some(Code::ReadOnly)) {
                        m.set_read_only(true);
                    }
                    self.selected = Some(m);
                    self.state = ClientState::Selected;
                } else {
                    self.selected = None;
                    if self.state == ClientState::Selected {
                        self.state = ClientState::Authenticated;
                    }
                }
            }
            SentKind::Close if ok => {
                self.selected = None;
                self.state = ClientState::Authenticated;
            }
            SentKind::Unauthenticate if ok => {
                self.selected = None;
                self.enabled.clear();
                self.state = ClientState::NotAuthenticated;
            }
            SentKind::StartTls if ok => {
                self.switching = true;
                // Anything the server sent after the OK in plaintext is dropped.
                self.decoder = ResponseDecoder::new(self.cfg.decode, self.cfg.max_response_size);
                self.out
                    .push_back(ClientOutput::Event(ClientEvent::Completed {
                        handle: c.handle,
                        status: s,
                    }));
                self.out.push_back(ClientOutput::StartTls);
                return;
            }
            SentKind::Compress if ok => {
                self.event(ClientEvent::Completed {
                    handle: c.handle,
                    status: s,
                });
                self.out.push_back(ClientOutput::StartCompression);
                return;
            }
            SentKind::Logout => close = true,
            _ => {}
        }
        self.event(ClientEvent::Completed {
            handle: c.handle,
            status: s,
        });
        if close {
            self.close();
        }
    }

    /// Sends queued commands as far as the rules allow.
    fn pump(&mut self) {
        while !self.closed && !self.switching && self.state != ClientState::Greeting {
            let Some(q) = self.queue.front() else { break };
            // Something still waits for '+': nothing else may go out.
            if self.sent.iter().any(|s| {
                !s.rest.is_empty()
                    || matches!(
                        s.kind,
                        SentKind::Authenticate(_) | SentKind::Idle { .. } | SentKind::StartTls
                    )
            }) {
                break;
            }
            let barrier = is_barrier(&q.body);
            if (barrier && !self.sent.is_empty()) || self.sent.iter().any(|s| s.barrier) {
                break;
            }
            if q.body.uses_sequence_numbers() && self.sent.iter().any(|s| s.may_expunge) {
                break;
            }
            let Some(mut q) = self.queue.pop_front() else {
                break;
            };
            self.send(&mut q);
        }
    }

    fn send(&mut self, q: &mut Queued) {
        let kind = match &q.body {
            CommandBody::Select { .. } | CommandBody::Examine { .. } => {
                let read_only = matches!(q.body, CommandBody::Examine { .. });
                self.selecting = Some(SelectedMailbox::new());
                if self.state == ClientState::Selected {
                    self.selected = None;
                    self.state = ClientState::Authenticated;
                }
                SentKind::Select { read_only }
            }
            CommandBody::Close | CommandBody::Unselect => SentKind::Close,
            CommandBody::Login { .. } => SentKind::Login,
            CommandBody::Idle => SentKind::Idle { started: false },
            CommandBody::StartTls => SentKind::StartTls,
            CommandBody::Compress(_) => SentKind::Compress,
            CommandBody::Logout => SentKind::Logout,
            CommandBody::Enable(_) => SentKind::Enable,
            CommandBody::Unauthenticate => SentKind::Unauthenticate,
            CommandBody::Authenticate { .. } => match q.sasl.take() {
                Some(mut client) => {
                    // SASL-IR when the server offers it and the mechanism speaks first.
                    if self.has_capability("SASL-IR")
                        && let Ok(Some(ir)) = client.initial_response()
                        && let CommandBody::Authenticate {
                            initial_response, ..
                        } = &mut q.body
                    {
                        *initial_response = Some(Secret::new(ir.into()));
                    }
                    SentKind::Authenticate(Box::new(client))
                }
                None => SentKind::Plain,
            },
            _ => SentKind::Plain,
        };
        let mut e = Enc::new(self.enc_opts(), true);
        e.command(&Command {
            tag: q.tag.clone(),
            body: q.body.clone(),
        });
        let encoded = e.finish();
        let mut chunks: VecDeque<Vec<u8>> =
            encoded.chunks().into_iter().map(<[u8]>::to_vec).collect();
        if let Some(first) = chunks.pop_front() {
            self.transmit(first);
        }
        let may_expunge = !matches!(
            q.body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
        );
        self.sent.push(Sent {
            handle: q.handle,
            tag: q.tag.clone(),
            kind,
            rest: chunks,
            may_expunge,
            barrier: is_barrier(&q.body),
        });
    }
}

enum Msg {
    Greeting(Greeting<'static>),
    Response(Response<'static>),
    Bad(StreamError),
}

fn is_barrier(b: &CommandBody<'_>) -> bool {
    matches!(
        b,
        CommandBody::Login { .. }
            | CommandBody::Authenticate { .. }
            | CommandBody::Select { .. }
            | CommandBody::Examine { .. }
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::StartTls
            | CommandBody::Compress(_)
            | CommandBody::Idle
            | CommandBody::Logout
            | CommandBody::Enable(_)
            | CommandBody::Unauthenticate
    )
}

#[cfg(test)]
mod tests;
