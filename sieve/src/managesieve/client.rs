//! The ManageSieve client session: a state machine with no I/O.
//!
//! The application enqueues commands with typed methods (each returns a [`Handle`]); the
//! session writes them, reads the server's responses, and reports each command's
//! completion as [`ClientEvent::Completed`] with its parsed data (capabilities, the script
//! list, a script). Commands pipeline, except that nothing is sent after STARTTLS or
//! AUTHENTICATE until they complete (RFC 5804 §2: they must end a pipelined group);
//! such commands wait in the session and go out in order.
//!
//! SASL: [`ClientSession::authenticate`] runs a mechanism of [`smtp_proto::sasl`]
//! (chosen among those the server offers: never one that reveals the password without
//! TLS) inside the session, including SCRAM's server signature check on the final
//! `OK (SASL ...)`. [`ClientSession::authenticate_raw`] lets the application run any
//! other mechanism: challenges come out as [`ClientEvent::AuthChallenge`].
//!
//! # Drive contract
//!
//! Same as the server: feed [`ClientSession::handle_input`], call methods, and after every
//! call drain [`ClientSession::poll_output`] (write `Transmit`, act on `Event`, do the TLS
//! handshake on `StartTls` and then call [`ClientSession::handle_tls_established`], close on
//! `Close`). A server that breaks the protocol ends the session with a sticky
//! [`Error::Protocol`].

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use smtp_proto::sasl::{self, ClientOptions, Credentials, Mechanism, Nonce, SaslClient};

use super::command::{self, AuthResponse, Command};
use super::error::Error;
use super::framer::{Frame, FrameLimits, Framer};
use super::response::{self, Capabilities, Item, ResponseLine, ResponseOptions};
use super::server::ScriptEntry;
use super::types::{ScriptName, Status, StatusResponse};

/// Limits of a client session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientLimits {
    /// Longest response line, literals excluded. Default 65536.
    pub max_line: usize,
    /// Largest literal (a script from GETSCRIPT, a long error text). Default 16 MiB.
    pub max_literal: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            max_line: 65_536,
            max_literal: 16 << 20,
        }
    }
}

/// Identifies an enqueued command in [`ClientEvent::Completed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(u64);

/// The data a command returned with its completion.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Nothing beyond the status.
    None,
    /// CAPABILITY: the capabilities (also kept as [`ClientSession::capabilities`]).
    Capabilities(Box<Capabilities>),
    /// LISTSCRIPTS: the scripts.
    Scripts(Vec<ScriptEntry>),
    /// GETSCRIPT: the script.
    Script(Vec<u8>),
}

/// A completed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The command.
    pub handle: Handle,
    /// Its final response (OK, NO or BYE, with code and text).
    pub status: StatusResponse,
    /// Its data (only with OK).
    pub reply: Reply,
}

impl Completion {
    /// Whether the command succeeded.
    pub fn is_ok(&self) -> bool {
        self.status.status == Status::Ok
    }
}

/// Something the application must know or answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server's capabilities arrived: the greeting, or the new list after STARTTLS.
    Capabilities(Box<Capabilities>),
    /// A command completed.
    Completed(Completion),
    /// A challenge in an exchange run with [`ClientSession::authenticate_raw`] (decoded).
    /// Answer with [`ClientSession::auth_respond`] or [`ClientSession::auth_cancel`].
    AuthChallenge(Vec<u8>),
    /// The server said BYE with no command outstanding (an idle timeout, a shutdown).
    Bye(StatusResponse),
}

/// What the session wants done, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientOutput {
    /// Send these bytes to the server.
    Transmit(Vec<u8>),
    /// Tell the application something.
    Event(ClientEvent),
    /// Start the TLS handshake now; then call [`ClientSession::handle_tls_established`].
    StartTls,
    /// Close the connection.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Capability,
    List,
    Get,
    StartTls,
    Authenticate,
    Unauthenticate,
    Logout,
}

#[derive(Debug)]
struct InFlight {
    handle: Handle,
    kind: Kind,
    /// Lines gathered so far.
    caps: Capabilities,
    scripts: Vec<ScriptEntry>,
    script: Option<Vec<u8>>,
}

/// A response line detached from the input buffer.
enum Line {
    Status(StatusResponse),
    Data(Vec<Vec<u8>>),
}

fn parse_owned(unit: &[u8]) -> Result<Line, Error> {
    let line = response::parse_response_line(unit, ResponseOptions::default())
        .map_err(|e| Error::Protocol(e.to_string()))?;
    Ok(match line {
        ResponseLine::Status(status) => Line::Status(status),
        ResponseLine::Data(items) => Line::Data(
            items
                .into_iter()
                .map(|i| match i {
                    Item::String(s) => s.into_owned(),
                    Item::Atom(a) => a.as_bytes().to_vec(),
                })
                .collect(),
        ),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the capability list (on connect, after STARTTLS).
    Greeting,
    Ready,
    /// STARTTLS succeeded; the handshake is the application's.
    AwaitTls,
    Closed,
}

/// A ManageSieve client session; see the module docs.
///
/// ```
/// use sieve::managesieve::client::{ClientEvent, ClientOutput, ClientSession};
///
/// let mut c = ClientSession::new();
/// c.handle_input(b"\"IMPLEMENTATION\" \"x\"\r\n\"SIEVE\" \"fileinto\"\r\n\"VERSION\" \"1.0\"\r\nOK\r\n").unwrap();
/// let Some(ClientOutput::Event(ClientEvent::Capabilities(caps))) = c.poll_output() else { panic!() };
/// assert!(caps.has_extension("fileinto"));
/// let h = c.list_scripts();
/// assert_eq!(c.poll_output(), Some(ClientOutput::Transmit(b"LISTSCRIPTS\r\n".to_vec())));
/// c.handle_input(b"\"a\" ACTIVE\r\nOK\r\n").unwrap();
/// let Some(ClientOutput::Event(ClientEvent::Completed(done))) = c.poll_output() else { panic!() };
/// assert_eq!(done.handle, h);
/// ```
#[derive(Debug)]
pub struct ClientSession {
    framer: Framer,
    state: State,
    caps: Capabilities,
    in_flight: VecDeque<InFlight>,
    /// Commands held back behind STARTTLS or AUTHENTICATE.
    held: VecDeque<(Handle, Kind, Vec<u8>)>,
    output: VecDeque<ClientOutput>,
    next: u64,
    tls: bool,
    authenticated: bool,
    sasl: Option<SaslClient>,
    raw_auth: bool,
    channel_binding: Option<Vec<u8>>,
    error: Option<Error>,
}

impl Default for ClientSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientSession {
    /// A session on a new plaintext connection, with default limits.
    pub fn new() -> Self {
        Self::with_limits(&ClientLimits::default(), false)
    }

    /// A session on a connection that is already TLS (implicit TLS).
    pub fn new_tls() -> Self {
        Self::with_limits(&ClientLimits::default(), true)
    }

    /// A session with explicit limits.
    pub fn with_limits(limits: &ClientLimits, tls: bool) -> Self {
        Self {
            framer: Framer::new(FrameLimits {
                line: limits.max_line,
                literal: limits.max_literal,
                unit: limits.max_literal.saturating_add(limits.max_line),
            }),
            state: State::Greeting,
            caps: Capabilities::default(),
            in_flight: VecDeque::new(),
            held: VecDeque::new(),
            output: VecDeque::new(),
            next: 0,
            tls,
            authenticated: false,
            sasl: None,
            raw_auth: false,
            channel_binding: None,
            error: None,
        }
    }

    /// The server's current capabilities (empty until the greeting arrived).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Whether AUTHENTICATE succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The next thing to do, or `None`.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.output.pop_front()
    }

    /// Bytes received from the server (after any TLS layer).
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.state {
            State::Closed => return Err(Error::Closed),
            // Plaintext after the STARTTLS OK and before the handshake is an injection.
            State::AwaitTls => return Ok(()),
            _ => {}
        }
        self.framer.push(bytes);
        while self.state != State::Closed && self.state != State::AwaitTls {
            let Some(frame) = self.framer.next() else {
                break;
            };
            let result = match frame {
                Frame::Unit(n) => {
                    let parsed = parse_owned(&self.framer.bytes()[..n]);
                    self.framer.consume(n);
                    parsed.and_then(|line| self.line(line))
                }
                Frame::Dropped(_) => Err(Error::Protocol("response larger than the limits".into())),
            };
            if let Err(e) = result {
                self.fail(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    /// The TLS handshake after STARTTLS completed: the server now sends its capabilities
    /// again, and held commands go out after them.
    pub fn handle_tls_established(&mut self) -> Result<(), Error> {
        if self.state != State::AwaitTls {
            return Err(Error::ApiMisuse("no STARTTLS handshake is in progress"));
        }
        self.tls = true;
        self.state = State::Greeting;
        self.caps = Capabilities::default();
        self.framer.clear();
        Ok(())
    }

    /// Gives the `tls-exporter` channel binding (RFC 9266) for SCRAM-SHA-256-PLUS.
    pub fn set_channel_binding(&mut self, exporter: Vec<u8>) {
        self.channel_binding = Some(exporter);
    }

    fn fail(&mut self, e: Error) {
        self.error = Some(e);
        self.state = State::Closed;
        self.output.push_back(ClientOutput::Close);
    }

    fn handle(&mut self) -> Handle {
        self.next += 1;
        Handle(self.next)
    }

    fn barrier(&self) -> bool {
        self.state != State::Ready
            || self
                .in_flight
                .iter()
                .any(|f| matches!(f.kind, Kind::StartTls | Kind::Authenticate))
    }

    fn enqueue_bytes(&mut self, kind: Kind, bytes: Vec<u8>) -> Handle {
        let handle = self.handle();
        if self.barrier() || !self.held.is_empty() {
            self.held.push_back((handle, kind, bytes));
        } else {
            self.transmit(handle, kind, bytes);
        }
        handle
    }

    fn transmit(&mut self, handle: Handle, kind: Kind, bytes: Vec<u8>) {
        self.send(bytes);
        self.in_flight.push_back(InFlight {
            handle,
            kind,
            caps: Capabilities::default(),
            scripts: Vec::new(),
            script: None,
        });
    }

    fn send(&mut self, bytes: Vec<u8>) {
        if let Some(ClientOutput::Transmit(last)) = self.output.back_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.output.push_back(ClientOutput::Transmit(bytes));
        }
    }

    fn release_held(&mut self) {
        while !self.barrier() {
            let Some((handle, kind, bytes)) = self.held.pop_front() else {
                return;
            };
            self.transmit(handle, kind, bytes);
        }
    }

    /// Enqueues any command (the typed methods below are shortcuts). AUTHENTICATE sent
    /// this way is run by the application, as with [`Self::authenticate_raw`].
    pub fn enqueue(&mut self, command: &Command<'_>) -> Handle {
        let kind = match command {
            Command::Capability => Kind::Capability,
            Command::ListScripts => Kind::List,
            Command::GetScript { .. } => Kind::Get,
            Command::StartTls => Kind::StartTls,
            Command::Authenticate { .. } => {
                self.raw_auth = true;
                Kind::Authenticate
            }
            Command::Logout => Kind::Logout,
            Command::Unauthenticate => Kind::Unauthenticate,
            _ => Kind::Plain,
        };
        self.enqueue_bytes(kind, command.to_bytes())
    }

    /// CAPABILITY.
    pub fn capability(&mut self) -> Handle {
        self.enqueue(&Command::Capability)
    }

    /// NOOP, with an optional tag echoed in the `TAG` response code.
    pub fn noop(&mut self, tag: Option<&[u8]>) -> Handle {
        self.enqueue(&Command::Noop {
            tag: tag.map(Into::into),
        })
    }

    /// LOGOUT; the session closes when it completes.
    pub fn logout(&mut self) -> Handle {
        self.enqueue(&Command::Logout)
    }

    /// STARTTLS. On `OK` the session outputs [`ClientOutput::StartTls`].
    pub fn starttls(&mut self) -> Handle {
        self.enqueue(&Command::StartTls)
    }

    /// HAVESPACE.
    pub fn have_space(&mut self, name: &ScriptName, size: u32) -> Handle {
        self.enqueue(&Command::HaveSpace {
            name: name.clone(),
            size,
        })
    }

    /// PUTSCRIPT.
    pub fn put_script(&mut self, name: &ScriptName, script: &[u8]) -> Handle {
        self.enqueue(&Command::PutScript {
            name: name.clone(),
            script: script.into(),
        })
    }

    /// CHECKSCRIPT.
    pub fn check_script(&mut self, script: &[u8]) -> Handle {
        self.enqueue(&Command::CheckScript {
            script: script.into(),
        })
    }

    /// LISTSCRIPTS.
    pub fn list_scripts(&mut self) -> Handle {
        self.enqueue(&Command::ListScripts)
    }

    /// SETACTIVE (`None` deactivates).
    pub fn set_active(&mut self, name: Option<&ScriptName>) -> Handle {
        self.enqueue(&Command::SetActive {
            name: name.cloned(),
        })
    }

    /// GETSCRIPT.
    pub fn get_script(&mut self, name: &ScriptName) -> Handle {
        self.enqueue(&Command::GetScript { name: name.clone() })
    }

    /// DELETESCRIPT.
    pub fn delete_script(&mut self, name: &ScriptName) -> Handle {
        self.enqueue(&Command::DeleteScript { name: name.clone() })
    }

    /// RENAMESCRIPT.
    pub fn rename_script(&mut self, old: &ScriptName, new: &ScriptName) -> Handle {
        self.enqueue(&Command::RenameScript {
            old: old.clone(),
            new: new.clone(),
        })
    }

    /// UNAUTHENTICATE.
    pub fn unauthenticate(&mut self) -> Handle {
        self.enqueue(&Command::Unauthenticate)
    }

    /// AUTHENTICATE with the strongest mechanism the server offers that fits the
    /// credentials (see [`Credentials::choose`]): mechanisms that reveal a password are
    /// used only over TLS. Call after the capabilities arrived.
    pub fn authenticate(&mut self, credentials: Credentials) -> Result<Handle, Error> {
        if self.authenticated || self.sasl.is_some() {
            return Err(Error::ApiMisuse("already authenticated or authenticating"));
        }
        let offered = self
            .caps
            .sasl
            .iter()
            .filter_map(|m| Mechanism::from_name(m.as_bytes()));
        let mechanism = credentials
            .choose(offered, self.tls, self.channel_binding.is_some())
            .ok_or(Error::ApiMisuse(
                "no SASL mechanism the server offers fits these credentials here",
            ))?;
        let mut options = ClientOptions::default();
        options.channel_binding = self.channel_binding.clone().map(sasl::Secret::new);
        let nonce = Nonce::generate().map_err(|e| Error::Protocol(e.to_string()))?;
        let mut client =
            SaslClient::new(mechanism, credentials, &options, nonce).map_err(|_| {
                Error::ApiMisuse("these credentials cannot be sent with this mechanism")
            })?;
        let initial = client
            .initial_response()
            .map_err(|_| Error::ApiMisuse("SASL initial response"))?;
        self.sasl = Some(client);
        self.raw_auth = false;
        let cmd = Command::Authenticate {
            mechanism: mechanism.to_string().into(),
            initial_response: initial.map(|i| BASE64.encode(i).into_bytes().into()),
        };
        Ok(self.enqueue_bytes(Kind::Authenticate, cmd.to_bytes()))
    }

    /// AUTHENTICATE with a mechanism the application runs: challenges come as
    /// [`ClientEvent::AuthChallenge`]. `initial_response` is raw (the session encodes it).
    pub fn authenticate_raw(&mut self, mechanism: &str, initial_response: Option<&[u8]>) -> Handle {
        self.raw_auth = true;
        let cmd = Command::Authenticate {
            mechanism: mechanism.into(),
            initial_response: initial_response.map(|i| BASE64.encode(i).into_bytes().into()),
        };
        self.enqueue_bytes(Kind::Authenticate, cmd.to_bytes())
    }

    fn auth_in_flight(&self) -> bool {
        self.in_flight
            .front()
            .is_some_and(|f| f.kind == Kind::Authenticate)
    }

    /// Answers an [`ClientEvent::AuthChallenge`] (raw; the session encodes it).
    pub fn auth_respond(&mut self, response: &[u8]) -> Result<(), Error> {
        if !self.auth_in_flight() || !self.raw_auth {
            return Err(Error::ApiMisuse("no SASL challenge is awaiting an answer"));
        }
        let mut out = Vec::new();
        command::encode_auth_response(
            &AuthResponse::Data(BASE64.encode(response).into_bytes().into()),
            &mut out,
        );
        self.send(out);
        Ok(())
    }

    /// Cancels an exchange run with [`Self::authenticate_raw`] (sends `"*"`).
    pub fn auth_cancel(&mut self) -> Result<(), Error> {
        if !self.auth_in_flight() || !self.raw_auth {
            return Err(Error::ApiMisuse("no SASL exchange to cancel"));
        }
        let mut out = Vec::new();
        command::encode_auth_response(&AuthResponse::Cancel, &mut out);
        self.send(out);
        Ok(())
    }

    fn line(&mut self, line: Line) -> Result<(), Error> {
        match line {
            Line::Status(status) => self.status(status),
            Line::Data(items) => self.data(items),
        }
    }

    fn data(&mut self, items: Vec<Vec<u8>>) -> Result<(), Error> {
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| Error::Protocol("capability is not UTF-8".into()))
        };
        if self.state == State::Greeting {
            let name = text(&items[0])?;
            let value = items.get(1).map(|v| text(v)).transpose()?;
            self.caps.apply(&name, value.as_deref());
            return Ok(());
        }
        let Some(front) = self.in_flight.front_mut() else {
            return Err(Error::Protocol("data with no command outstanding".into()));
        };
        match front.kind {
            Kind::Capability => {
                let name = text(&items[0])?;
                let value = items.get(1).map(|v| text(v)).transpose()?;
                front.caps.apply(&name, value.as_deref());
            }
            Kind::List => {
                let name = ScriptName::from_bytes(&items[0])
                    .map_err(|e| Error::Protocol(format!("bad script name in LISTSCRIPTS: {e}")))?;
                let active = match items.get(1) {
                    None => false,
                    Some(a) if a.eq_ignore_ascii_case(b"ACTIVE") && items.len() == 2 => true,
                    Some(_) => return Err(Error::Protocol("bad LISTSCRIPTS line".into())),
                };
                front.scripts.push(ScriptEntry { name, active });
            }
            Kind::Get if front.script.is_none() && items.len() == 1 => {
                front.script = items.into_iter().next();
            }
            Kind::Authenticate if items.len() == 1 => {
                let challenge = BASE64
                    .decode(&items[0])
                    .map_err(|_| Error::Protocol("SASL challenge is not base64".into()))?;
                if let Some(client) = self.sasl.as_mut() {
                    let response = client.respond(&challenge);
                    let mut out = Vec::new();
                    match response {
                        Ok(r) => command::encode_auth_response(
                            &AuthResponse::Data(BASE64.encode(r).into_bytes().into()),
                            &mut out,
                        ),
                        // The server's challenge is bad (a wrong SCRAM nonce...): cancel.
                        Err(_) => command::encode_auth_response(&AuthResponse::Cancel, &mut out),
                    }
                    self.send(out);
                } else {
                    self.output
                        .push_back(ClientOutput::Event(ClientEvent::AuthChallenge(challenge)));
                }
            }
            _ => return Err(Error::Protocol("unexpected data line".into())),
        }
        Ok(())
    }

    fn complete(&mut self, status: StatusResponse) -> Result<(), Error> {
        let Some(front) = self.in_flight.pop_front() else {
            return Err(Error::Protocol(
                "a response with no command outstanding".into(),
            ));
        };
        let ok = status.status == Status::Ok;
        let reply = match front.kind {
            Kind::Capability if ok => {
                self.caps = front.caps.clone();
                Reply::Capabilities(Box::new(front.caps))
            }
            Kind::List if ok => Reply::Scripts(front.scripts),
            Kind::Get if ok => Reply::Script(
                front
                    .script
                    .ok_or_else(|| Error::Protocol("GETSCRIPT OK without a script".into()))?,
            ),
            _ => Reply::None,
        };
        match front.kind {
            Kind::Authenticate => {
                let sasl = self.sasl.take();
                if ok {
                    if let Some(mut client) = sasl {
                        let data = match &status.code {
                            Some(super::types::ResponseCode::Sasl(d)) => Some(d.as_slice()),
                            _ => None,
                        };
                        client.finish(data).map_err(|e| {
                            Error::Protocol(format!("the server failed SASL verification: {e}"))
                        })?;
                    }
                    self.authenticated = true;
                }
            }
            Kind::StartTls if ok => {
                self.state = State::AwaitTls;
                // Anything after the OK arrived in plaintext: never trusted.
                self.framer.clear();
                self.output
                    .push_back(ClientOutput::Event(ClientEvent::Completed(Completion {
                        handle: front.handle,
                        status,
                        reply,
                    })));
                self.output.push_back(ClientOutput::StartTls);
                return Ok(());
            }
            Kind::Unauthenticate if ok => self.authenticated = false,
            Kind::Logout => {
                self.state = State::Closed;
            }
            _ => {}
        }
        if status.status == Status::Bye {
            self.state = State::Closed;
        }
        self.output
            .push_back(ClientOutput::Event(ClientEvent::Completed(Completion {
                handle: front.handle,
                status,
                reply,
            })));
        Ok(())
    }

    fn status(&mut self, status: StatusResponse) -> Result<(), Error> {
        if self.state == State::Greeting {
            if status.status != Status::Ok {
                self.state = State::Closed;
                self.output
                    .push_back(ClientOutput::Event(ClientEvent::Bye(status)));
                self.output.push_back(ClientOutput::Close);
                return Ok(());
            }
            self.state = State::Ready;
            self.output
                .push_back(ClientOutput::Event(ClientEvent::Capabilities(Box::new(
                    self.caps.clone(),
                ))));
            self.release_held();
            return Ok(());
        }
        if status.status == Status::Bye && self.in_flight.is_empty() {
            self.state = State::Closed;
            self.output
                .push_back(ClientOutput::Event(ClientEvent::Bye(status)));
            self.output.push_back(ClientOutput::Close);
            return Ok(());
        }
        let bye = status.status == Status::Bye;
        self.complete(status.clone())?;
        if bye || self.state == State::Closed {
            // Everything still outstanding ends with the connection.
            let end = if bye {
                status
            } else {
                StatusResponse::new(Status::Bye, "the session was closed")
            };
            while let Some(f) = self.in_flight.pop_front() {
                self.output
                    .push_back(ClientOutput::Event(ClientEvent::Completed(Completion {
                        handle: f.handle,
                        status: end.clone(),
                        reply: Reply::None,
                    })));
            }
            self.state = State::Closed;
            self.output.push_back(ClientOutput::Close);
            return Ok(());
        }
        self.release_held();
        Ok(())
    }
}
