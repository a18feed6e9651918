//! The server session: SMTP, ESMTP, submission and LMTP as a state machine with no I/O.
//!
//! ```text
//!  connect ─▶ [Decision::Connect] ─▶ 220 ─▶ EHLO/HELO/LHLO [Decision::Helo]
//!     ─▶ [STARTTLS ─▶ Output::StartTls ─▶ tls_established() ─▶ EHLO]
//!     ─▶ [AUTH ─▶ Decision::Auth(..)* ─▶ 235]
//!     ─▶ MAIL [Decision::Mail] ─▶ RCPT [Decision::Rcpt]+
//!     ─▶ DATA 354 / BDAT ─▶ Output::MessageData* ─▶ [Decision::EndOfData] ─▶ 250 (LMTP: one per RCPT)
//!     ─▶ RSET / QUIT 221 ─▶ Output::Close
//! ```
//!
//! # Drive contract
//!
//! Inputs: [`handle_input`](ServerSession::handle_input) (bytes from the peer, already
//! decrypted), [`answer`](ServerSession::answer) / [`answer_auth`](ServerSession::answer_auth)
//! (the host's verdict on the pending [`Decision`]), [`tls_established`](ServerSession::tls_established)
//! (after [`Output::StartTls`]), [`handle_timeout`](ServerSession::handle_timeout).
//! After **every** input, drain [`poll_output`](ServerSession::poll_output) until `None`, in
//! order: write [`Output::Send`] bytes, store [`Output::MessageData`], log
//! [`Output::Event`], answer [`Output::Decision`] (now or later: nothing else is processed
//! until it is answered, so a verdict may wait for an fsync or a DNS lookup), start TLS on
//! [`Output::StartTls`] after writing everything before it, close on [`Output::Close`].
//! Then wait for input or until [`poll_timeout`](ServerSession::poll_timeout).
//!
//! ```no_run
//! use std::time::Instant;
//! use smtp_proto::server::{Decision, Output, ServerConfig, ServerSession, Verdict};
//!
//! # fn read(_: &mut [u8]) -> usize { 0 } fn write(_: &[u8]) {}
//! let mut session = ServerSession::new(ServerConfig::new("mx.example.org"), Instant::now());
//! let mut buf = [0u8; 8192];
//! loop {
//!     while let Some(out) = session.poll_output() {
//!         match out {
//!             Output::Send(bytes) => write(&bytes),
//!             Output::MessageData(chunk) => { /* append to the spool file */ }
//!             Output::Decision(Decision::EndOfData { .. }) => {
//!                 // fsync the spool file, then:
//!                 session.answer(Instant::now(), Verdict::Accept).unwrap();
//!             }
//!             Output::Decision(_) => session.answer(Instant::now(), Verdict::Accept).unwrap(),
//!             Output::StartTls => { /* handshake, then session.tls_established(..) */ }
//!             Output::Close => return,
//!             _ => {}
//!         }
//!     }
//!     let n = read(&mut buf);
//!     if n == 0 { return; }
//!     session.handle_input(Instant::now(), &buf[..n]);
//! }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::{
    Body, Command, CommandError, CommandParser, HelloVerb, MailParams, RcptParams, looks_like_http,
};
use crate::data::{BareLineEndings, DataDecoder};
use crate::reply::{EnhancedStatus, Reply, ReplyCode};
use crate::sasl::{self, Mechanism, Nonce, SaslServer, ServerStep};
use crate::types::{ForwardPath, HeloKind, ReversePath};

/// Server or LMTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// SMTP / ESMTP (MX and submission).
    Smtp,
    /// LMTP (RFC 2033): LHLO, one reply per accepted recipient after the data.
    Lmtp,
}

/// Session settings: every limit explicit, with safe defaults. Build with
/// [`ServerConfig::new`] (MX defaults) or [`ServerConfig::submission`], then adjust fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The server's FQDN, used in the greeting, EHLO and errors (SMTP-033; never derived
    /// from the OS).
    pub hostname: String,
    /// Text after the host name in the greeting (default `ESMTP`).
    pub greeting: String,
    /// SMTP or LMTP.
    pub protocol: Protocol,
    /// Longest command line, CRLF included (default 2048; RFC 5321 §4.5.3.1.4 says 512, and
    /// ESMTP parameters go beyond). AUTH lines may be longer, up to the SASL limit.
    pub max_command_line: usize,
    /// Largest message in octets, advertised as `SIZE` and enforced while streaming
    /// (default 10 240 000, Postfix's). `0` means no limit (not advertised with a number).
    pub max_message_size: u64,
    /// Most recipients per transaction (default 100, the RFC 5321 §4.5.3.1.8 minimum);
    /// more get `452 4.5.3`. Advertised in `LIMITS RCPTMAX=` (RFC 9422).
    pub max_recipients: usize,
    /// Errors tolerated before `421 4.7.0` and disconnect (default 10).
    pub max_errors: usize,
    /// What to do with bare CR / bare LF (default `Reject`).
    pub bare_line_endings: BareLineEndings,
    /// Advertise and honour PIPELINING (RFC 2920). Default on.
    pub pipelining: bool,
    /// 8BITMIME (RFC 6152). Default on.
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531). Default on.
    pub smtputf8: bool,
    /// CHUNKING/BDAT and BINARYMIME (RFC 3030). Default on.
    pub chunking: bool,
    /// DSN (RFC 3461): off by default on an MX (SMTP-022, backscatter).
    pub dsn: bool,
    /// REQUIRETLS (RFC 8689), advertised only under TLS. Default off.
    pub requiretls: bool,
    /// VRFY and EXPN enabled (default off: `502 5.5.1`, SMTP-019).
    pub vrfy: bool,
    /// Advertise `LIMITS` (RFC 9422). Default on.
    pub limits: bool,
    /// STARTTLS is available (the host has a certificate). Default off.
    pub starttls: bool,
    /// SASL mechanisms offered (empty: no AUTH).
    pub auth_mechanisms: Vec<Mechanism>,
    /// Offer AUTH only under TLS (default true, SMTP-029).
    pub auth_requires_tls: bool,
    /// MAIL needs AUTH first: `530 5.7.0` (submission, SMTP-027). Default off.
    pub auth_required: bool,
    /// SASL settings (response size limit, host name for CRAM-MD5).
    pub sasl: sasl::ServerOptions,
    /// Accept XCLIENT/XFORWARD (only from trusted proxies). Default off.
    pub xclient: bool,
    /// Idle time allowed while waiting for a command or a SASL response (default 300 s,
    /// RFC 5321 §4.5.3.2.7).
    pub command_timeout: Duration,
    /// Idle time allowed while receiving DATA/BDAT content (default 180 s, §4.5.3.2.5).
    pub data_timeout: Duration,
    /// Parser leniencies.
    pub parser: CommandParser,
}

impl ServerConfig {
    /// MX defaults for `hostname`.
    pub fn new(hostname: impl Into<String>) -> Self {
        let hostname = hostname.into();
        let mut sasl = sasl::ServerOptions::default();
        sasl.hostname.clone_from(&hostname);
        Self {
            hostname,
            greeting: "ESMTP".to_owned(),
            protocol: Protocol::Smtp,
            max_command_line: 2048,
            max_message_size: 10_240_000,
            max_recipients: 100,
            max_errors: 10,
            bare_line_endings: BareLineEndings::Reject,
            pipelining: true,
            eight_bit_mime: true,
            smtputf8: true,
            chunking: true,
            dsn: false,
            requiretls: false,
            vrfy: false,
            limits: true,
            starttls: false,
            auth_mechanisms: Vec::new(),
            auth_requires_tls: true,
            auth_required: false,
            sasl,
            xclient: false,
            command_timeout: Duration::from_mins(5),
            data_timeout: Duration::from_mins(3),
            parser: CommandParser::default(),
        }
    }

    /// Submission defaults (RFC 6409): AUTH PLAIN and LOGIN required, under TLS.
    pub fn submission(hostname: impl Into<String>) -> Self {
        let mut c = Self::new(hostname);
        c.auth_mechanisms = vec![Mechanism::Plain, Mechanism::Login];
        c.auth_required = true;
        c.bare_line_endings = BareLineEndings::Normalize;
        c
    }

    /// LMTP defaults (RFC 2033).
    pub fn lmtp(hostname: impl Into<String>) -> Self {
        let mut c = Self::new(hostname);
        c.protocol = Protocol::Lmtp;
        "LMTP".clone_into(&mut c.greeting);
        c
    }
}

/// A question the host must answer with [`ServerSession::answer`] (or
/// [`ServerSession::answer_auth`] for [`Decision::Auth`]). The session processes nothing else
/// until it is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// A client connected: greet (`Accept`) or refuse (`Reject`: the reply is sent and the
    /// connection closed; use 554, or 421 for a temporary refusal).
    Connect,
    /// HELO/EHLO/LHLO: accept the name or refuse it.
    Helo {
        /// The verb.
        verb: HelloVerb,
        /// The argument as sent.
        name: String,
        /// What it looks like (SMTP-044).
        kind: HeloKind,
    },
    /// MAIL FROM, already checked against the advertised extensions and limits.
    Mail {
        /// The reverse path.
        from: ReversePath<'static>,
        /// The parameters.
        params: MailParams<'static>,
    },
    /// RCPT TO (SMTP-017: validate here, never accept-then-bounce).
    Rcpt {
        /// The forward path.
        to: ForwardPath<'static>,
        /// The parameters.
        params: RcptParams<'static>,
    },
    /// The message is complete (all [`Output::MessageData`] delivered): accept it (after
    /// making it durable) or refuse it. In LMTP answer [`Verdict::PerRecipient`] with one
    /// reply per accepted recipient, in RCPT order.
    EndOfData {
        /// Message size in octets (as stored: dot-unstuffed).
        size: u64,
        /// The accepted recipients, in order.
        recipients: Vec<ForwardPath<'static>>,
    },
    /// A SASL step: answer with [`ServerSession::answer_auth`].
    Auth(sasl::Decision),
}

/// The host's answer to a [`Decision`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Accept with the standard reply.
    Accept,
    /// Accept with this reply (a 2yz code; e.g. `250 2.0.0 Ok: queued as X`).
    AcceptWith(Reply),
    /// Refuse with this reply (4yz or 5yz).
    Reject(Reply),
    /// Refuse with this reply and close the connection (e.g. `421 4.3.2`).
    Disconnect(Reply),
    /// LMTP end of data: one reply per accepted recipient.
    PerRecipient(Vec<Reply>),
}

/// Something the session reports for logging and policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Bytes arrived before the greeting was sent (SMTP-010).
    Pregreet {
        /// How many.
        bytes: usize,
    },
    /// A command arrived before the reply to one that must end a pipelining group, or any
    /// pipelined command when PIPELINING was not advertised (SMTP-009).
    UnadvertisedPipelining,
    /// A bare CR or LF was seen (SMTP-011), in a command line or in message content.
    BareLineEnding {
        /// In DATA content rather than a command.
        in_data: bool,
    },
    /// Non-SMTP input such as HTTP (SMTP-012); the session replies and closes.
    NonSmtp,
    /// A command was refused; the reply says why.
    Error(Reply),
    /// Plaintext received after STARTTLS and before the handshake was discarded (CVE-2011-0411).
    StartTlsInjection {
        /// How many bytes.
        bytes: usize,
    },
    /// AUTH succeeded.
    Authenticated(sasl::Authenticated),
    /// AUTH failed.
    AuthFailed(sasl::Failure),
    /// The transaction was reset (RSET, HELO/EHLO, STARTTLS, or a refused message).
    TransactionReset,
    /// XCLIENT attributes from a trusted proxy (already checked: [`crate::proxy::Xclient`]
    /// types them): the host applies them to its session state.
    Xclient(Vec<(String, String)>),
    /// XFORWARD attributes from a trusted proxy.
    Xforward(Vec<(String, String)>),
    /// The message exceeded the size limit; the rest is discarded and it is refused.
    MessageTooBig,
    /// The peer said QUIT.
    Quit,
    /// The peer was idle too long; the session sent 421 and closes.
    Timeout,
}

/// What the host does next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Write these bytes to the peer.
    Send(Vec<u8>),
    /// Message content (dot-unstuffed DATA or raw BDAT), in order.
    MessageData(Vec<u8>),
    /// For logging and policy.
    Event(Event),
    /// A question to answer.
    Decision(Decision),
    /// Write everything before this, then run the TLS handshake as server and call
    /// [`ServerSession::tls_established`].
    StartTls,
    /// Write everything before this, then close the connection.
    Close,
}

/// Misuse of the session API by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// `answer` without a pending decision of that kind.
    NoPendingDecision,
    /// `tls_established` without a pending STARTTLS.
    NotStartingTls,
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoPendingDecision => "no decision of this kind is pending",
            Self::NotStartingTls => "no STARTTLS is pending",
        })
    }
}

impl std::error::Error for ApiMisuse {}

#[derive(Debug)]
enum Pending {
    Connect,
    Helo(HelloVerb, String),
    Mail(MailParams<'static>),
    Rcpt(ForwardPath<'static>),
    EndOfData,
    Auth,
}

#[derive(Debug)]
enum State {
    /// Reading command lines.
    Command,
    /// Discarding the rest of an over-long line.
    SkipLine,
    /// Reading DATA content.
    Data(DataDecoder),
    /// Reading a BDAT chunk.
    Bdat {
        remaining: u64,
        last: bool,
        error: Option<Reply>,
    },
    /// Reading SASL responses.
    Auth(Box<SaslServer>),
    /// Waiting for the host.
    Decision(Pending),
    /// Waiting for the TLS handshake.
    StartTls,
    /// Closed.
    Closed,
}

#[derive(Debug, Default)]
struct Transaction {
    active: bool,
    smtputf8: bool,
    body: Option<Body>,
    recipients: Vec<ForwardPath<'static>>,
    size: u64,
    too_big: bool,
    refused: bool,
    bdat: bool,
}

/// The server side of one SMTP/LMTP connection. See the [module docs](self).
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    state: State,
    input: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    outputs: VecDeque<Output>,
    greeted: bool,
    helo: Option<HelloVerb>,
    tls: bool,
    authenticated: Option<sasl::Authenticated>,
    tx: Transaction,
    errors: usize,
    deadline: Option<Instant>,
    nonce_seed: [u8; 16],
    nonce_counter: u64,
    reported_pipelining: bool,
    reported_bare: bool,
    pending_sasl: Option<Box<SaslServer>>,
    shutting_down: bool,
}

fn reply(code: u16, status: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(
        ReplyCode::new(code).expect("valid code"),
        EnhancedStatus::new(status.0, status.1, status.2).ok(),
        text.split('\n'),
    )
    .expect("valid reply")
}

/// Commands after which the client must wait for the reply (RFC 2920 §3.1).
fn ends_group(cmd: &Command<'_>) -> bool {
    matches!(
        cmd,
        Command::Hello { .. }
            | Command::Data
            | Command::Vrfy(_)
            | Command::Expn(_)
            | Command::Quit
            | Command::Noop
            | Command::Auth { .. }
            | Command::StartTls
            | Command::Etrn(_)
            | Command::Atrn(_)
    ) || matches!(cmd, Command::Bdat { last: true, .. })
}

impl ServerSession {
    /// A new session for a connection accepted at `now`, without TLS. The first output is
    /// [`Decision::Connect`].
    pub fn new(config: impl Into<Arc<ServerConfig>>, now: Instant) -> Self {
        let seed = Nonce::generate().map_or([0x5a; 16], |n| {
            let d = ring::digest::digest(&ring::digest::SHA256, n.as_str().as_bytes());
            let mut s = [0u8; 16];
            s.copy_from_slice(&d.as_ref()[..16]);
            s
        });
        Self::with_seed(config, now, false, seed)
    }

    /// A new session on a connection that is already TLS (implicit TLS, port 465).
    pub fn new_tls(config: impl Into<Arc<ServerConfig>>, now: Instant) -> Self {
        let mut s = Self::new(config, now);
        s.tls = true;
        s
    }

    /// A session with a fixed randomness seed (SASL nonces): for tests and fuzzing.
    pub fn with_seed(
        config: impl Into<Arc<ServerConfig>>,
        now: Instant,
        tls: bool,
        seed: [u8; 16],
    ) -> Self {
        let config = config.into();
        let deadline = Some(now + config.command_timeout);
        let mut s = Self {
            config,
            state: State::Decision(Pending::Connect),
            input: Vec::new(),
            pos: 0,
            out: Vec::new(),
            outputs: VecDeque::new(),
            greeted: false,
            helo: None,
            tls,
            authenticated: None,
            tx: Transaction::default(),
            errors: 0,
            deadline,
            nonce_seed: seed,
            nonce_counter: 0,
            reported_pipelining: false,
            reported_bare: false,
            pending_sasl: None,
            shutting_down: false,
        };
        s.outputs.push_back(Output::Decision(Decision::Connect));
        s
    }

    /// The next output, in order; `None` when the session waits for input, an answer, or a
    /// TLS handshake.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called if no input arrives.
    /// `None` while a decision is pending or after close.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Decision(_) | State::StartTls | State::Closed => None,
            _ => self.deadline,
        }
    }

    /// Call at or after [`poll_timeout`](Self::poll_timeout): sends `421 4.4.2` and closes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.outputs.push_back(Output::Event(Event::Timeout));
            let text = format!("{} Error: timeout exceeded", self.config.hostname);
            self.close_with(&reply(421, (4, 4, 2), &text));
        }
    }

    /// Graceful shutdown: the session sends `421 4.3.2` and closes as soon as it is between
    /// transactions (at once when idle; after the current message's verdict otherwise), so
    /// no accepted message is cut short. Drain [`poll_output`](Self::poll_output) after.
    pub fn shutdown(&mut self) {
        if self.is_closed() {
            return;
        }
        self.shutting_down = true;
        if matches!(self.state, State::Command) {
            self.process();
        }
    }

    /// True once authenticated.
    pub fn authenticated(&self) -> Option<&sasl::Authenticated> {
        self.authenticated.as_ref()
    }

    /// True when the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// True after [`Output::Close`].
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Feeds bytes from the peer.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.is_closed() {
            return;
        }
        if !self.greeted && !bytes.is_empty() {
            self.outputs
                .push_back(Output::Event(Event::Pregreet { bytes: bytes.len() }));
        }
        if matches!(self.state, State::StartTls) {
            // Plaintext after STARTTLS before the handshake: never processed.
            self.outputs
                .push_back(Output::Event(Event::StartTlsInjection {
                    bytes: bytes.len(),
                }));
            return;
        }
        if self.pos > 0 && self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
        self.process();
        self.deadline = Some(now + self.timeout_for_state());
    }

    fn timeout_for_state(&self) -> Duration {
        match self.state {
            State::Data(_) | State::Bdat { .. } => self.config.data_timeout,
            _ => self.config.command_timeout,
        }
    }

    /// The TLS handshake after [`Output::StartTls`] finished. `channel_binding` is the
    /// RFC 9266 `tls-exporter` value for SCRAM-SHA-256-PLUS, if the host offers it. The
    /// session forgets everything it knew (RFC 3207 §4.2) and waits for a new EHLO.
    pub fn tls_established(
        &mut self,
        now: Instant,
        channel_binding: Option<Vec<u8>>,
    ) -> Result<(), ApiMisuse> {
        if !matches!(self.state, State::StartTls) {
            return Err(ApiMisuse::NotStartingTls);
        }
        self.tls = true;
        if let Some(cb) = channel_binding {
            let config = Arc::make_mut(&mut self.config);
            config.sasl.channel_binding = Some(sasl::Secret::new(cb));
        }
        self.helo = None;
        self.authenticated = None;
        self.tx = Transaction::default();
        self.state = State::Command;
        self.deadline = Some(now + self.config.command_timeout);
        self.process();
        Ok(())
    }

    /// Answers the pending decision (all but [`Decision::Auth`]) at `now` (the idle timer
    /// restarts: the peer was waiting for us).
    pub fn answer(&mut self, now: Instant, verdict: Verdict) -> Result<(), ApiMisuse> {
        let State::Decision(pending) = &self.state else {
            return Err(ApiMisuse::NoPendingDecision);
        };
        if matches!(pending, Pending::Auth) {
            return Err(ApiMisuse::NoPendingDecision);
        }
        let State::Decision(pending) = std::mem::replace(&mut self.state, State::Command) else {
            unreachable!()
        };
        self.deadline = Some(now + self.config.command_timeout);
        if let Verdict::Disconnect(r) = &verdict {
            let r = r.clone();
            self.close_with(&r);
            return Ok(());
        }
        match pending {
            Pending::Connect => self.after_connect(verdict),
            Pending::Helo(verb, name) => self.after_helo(verb, &name, verdict),
            Pending::Mail(params) => self.after_mail(&params, verdict),
            Pending::Rcpt(to) => self.after_rcpt(to, verdict),
            Pending::EndOfData => self.after_data(verdict),
            Pending::Auth => unreachable!(),
        }
        self.process();
        Ok(())
    }

    /// Answers a pending [`Decision::Auth`].
    pub fn answer_auth(&mut self, now: Instant, answer: sasl::Answer) -> Result<(), ApiMisuse> {
        if !matches!(self.state, State::Decision(Pending::Auth)) {
            return Err(ApiMisuse::NoPendingDecision);
        }
        let Some(mut server) = self.pending_sasl.take() else {
            return Err(ApiMisuse::NoPendingDecision);
        };
        self.deadline = Some(now + self.config.command_timeout);
        let step = server.answer(answer);
        self.state = State::Auth(server);
        self.sasl_step(step);
        self.process();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The engine.

impl ServerSession {
    fn send(&mut self, r: &Reply) {
        r.write_to(&mut self.out);
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            self.outputs
                .push_back(Output::Send(std::mem::take(&mut self.out)));
        }
    }

    fn close_with(&mut self, r: &Reply) {
        self.send(r);
        self.flush();
        self.outputs.push_back(Output::Close);
        self.state = State::Closed;
        self.pending_sasl = None;
    }

    /// A protocol error: reply, count, and disconnect past the limit.
    fn error(&mut self, r: Reply) {
        self.send(&r);
        self.outputs.push_back(Output::Event(Event::Error(r)));
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            let text = format!("{} Error: too many errors", self.config.hostname);
            self.close_with(&reply(421, (4, 7, 0), &text));
        }
    }

    fn decide(&mut self, pending: Pending, decision: Decision) {
        self.state = State::Decision(pending);
        self.outputs.push_back(Output::Decision(decision));
    }

    fn reset_transaction(&mut self) {
        if self.tx.active {
            self.outputs
                .push_back(Output::Event(Event::TransactionReset));
        }
        self.tx = Transaction::default();
    }

    fn line_limit(&self) -> usize {
        let auth = if self.config.auth_mechanisms.is_empty() {
            0
        } else {
            self.config.sasl.max_response_len / 3 * 4 + 64
        };
        self.config.max_command_line.max(auth)
    }

    fn process(&mut self) {
        loop {
            if self.shutting_down && matches!(self.state, State::Command) && !self.tx.active {
                let text = format!("{} Service shutting down", self.config.hostname);
                self.close_with(&reply(421, (4, 3, 2), &text));
                break;
            }
            let progressed = match self.state {
                State::Closed | State::Decision(_) | State::StartTls => break,
                State::Command | State::Auth(_) => self.line_step(),
                State::SkipLine => self.skip_step(),
                State::Data(_) => self.data_step(),
                State::Bdat { .. } => self.bdat_step(),
            };
            if !progressed {
                break;
            }
        }
        if !matches!(self.state, State::Decision(_)) {
            // Waiting for input: send the batch (RFC 2920 §3.2).
            self.flush();
        }
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    fn skip_step(&mut self) -> bool {
        let rest = &self.input[self.pos..];
        if let Some(lf) = memchr::memchr(b'\n', rest) {
            self.pos += lf + 1;
            self.state = State::Command;
            true
        } else {
            self.pos = self.input.len();
            false
        }
    }

    /// Takes one line; false when more input is needed.
    fn line_step(&mut self) -> bool {
        let rest = &self.input[self.pos..];
        let limit = self.line_limit();
        let Some(lf) = memchr::memchr(b'\n', &rest[..rest.len().min(limit)]) else {
            if rest.len() >= limit {
                self.pos += limit;
                let in_auth = matches!(self.state, State::Auth(_));
                self.state = State::SkipLine;
                if in_auth {
                    self.auth_failed_reply(sasl::FailureReason::TooLong, None);
                } else {
                    self.error(reply(500, (5, 5, 6), "Line too long"));
                }
                return true;
            }
            return false;
        };
        let crlf = lf > 0 && rest[lf - 1] == b'\r';
        let start = self.pos;
        let end = self.pos + lf - usize::from(crlf);
        self.pos += lf + 1;
        let more_pending = self.pos < self.input.len();
        let input = std::mem::take(&mut self.input);
        let line = &input[start..end];
        let bare_cr = memchr::memchr(b'\r', line).is_some();
        if !crlf || bare_cr {
            if !self.reported_bare {
                self.reported_bare = true;
                self.outputs
                    .push_back(Output::Event(Event::BareLineEnding { in_data: false }));
            }
            if self.config.bare_line_endings == BareLineEndings::Reject || bare_cr {
                self.input = input;
                self.error(reply(
                    500,
                    (5, 5, 2),
                    "Syntax error: bare <CR> or <LF> received",
                ));
                return true;
            }
        }
        if matches!(self.state, State::Auth(_)) {
            self.auth_line(line);
        } else {
            self.command_line(line, more_pending, input.len() - self.pos);
        }
        self.input = input;
        if matches!(self.state, State::StartTls) {
            // RFC 3207 §4.2 / CVE-2011-0411: nothing sent before the handshake counts.
            let dropped = self.input.len() - self.pos;
            if dropped > 0 {
                self.outputs
                    .push_back(Output::Event(Event::StartTlsInjection { bytes: dropped }));
            }
            self.pos = self.input.len();
            self.flush();
            self.outputs.push_back(Output::StartTls);
        }
        true
    }

    fn command_line(&mut self, line: &[u8], more_pending: bool, _pending_bytes: usize) {
        let cmd = match self.config.parser.parse(line) {
            Ok(cmd) => cmd,
            Err(CommandError::UnknownCommand) if looks_like_http(line) => {
                self.outputs.push_back(Output::Event(Event::NonSmtp));
                self.close_with(&reply(500, (5, 5, 1), "Not an SMTP server"));
                return;
            }
            Err(e) => {
                self.error(e.reply());
                return;
            }
        };
        if line.len() + 2 > self.config.max_command_line && !matches!(cmd, Command::Auth { .. }) {
            self.error(reply(500, (5, 5, 6), "Line too long"));
            return;
        }
        let advertised =
            self.config.pipelining && matches!(self.helo, Some(HelloVerb::Ehlo | HelloVerb::Lhlo));
        if more_pending
            && !self.reported_pipelining
            && !matches!(cmd, Command::Bdat { .. })
            && (!advertised || ends_group(&cmd))
        {
            self.reported_pipelining = true;
            self.outputs
                .push_back(Output::Event(Event::UnadvertisedPipelining));
        }
        match cmd {
            Command::Hello { verb, name } => self.hello(verb, &name),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_transaction();
                self.send(&reply(250, (2, 0, 0), "Ok"));
            }
            Command::Noop => self.send(&reply(250, (2, 0, 0), "Ok")),
            Command::Quit => {
                self.outputs.push_back(Output::Event(Event::Quit));
                self.close_with(&reply(221, (2, 0, 0), "Bye"));
            }
            Command::Vrfy(_) | Command::Expn(_) => {
                if self.config.vrfy {
                    self.send(&reply(
                        252,
                        (2, 5, 0),
                        "Cannot VRFY user, but will accept message and attempt delivery",
                    ));
                } else {
                    self.error(reply(502, (5, 5, 1), "VRFY and EXPN are disabled"));
                }
            }
            Command::Help(_) => self.send(&reply(
                214,
                (2, 0, 0),
                "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP STARTTLS AUTH",
            )),
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(&mechanism, initial_response.as_deref()),
            Command::Xclient(attrs)
                if self.config.xclient
                    && let Err(e) = crate::proxy::Xclient::parse(attrs.iter().cloned()) =>
            {
                self.error(reply(501, (5, 5, 4), &format!("Error: {e}")));
            }
            Command::Xforward(attrs)
                if self.config.xclient
                    && let Err(e) = crate::proxy::Xforward::parse(attrs.iter().cloned()) =>
            {
                self.error(reply(501, (5, 5, 4), &format!("Error: {e}")));
            }
            Command::Xclient(attrs) if self.config.xclient => {
                let attrs = attrs
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                self.outputs.push_back(Output::Event(Event::Xclient(attrs)));
                // XCLIENT starts over as a new connection (Postfix XCLIENT_README).
                self.reset_transaction();
                self.helo = None;
                self.authenticated = None;
                let text = format!("{} {}", self.config.hostname, self.config.greeting);
                self.send(&reply(220, (2, 0, 0), &text));
            }
            Command::Xforward(attrs) if self.config.xclient => {
                let attrs = attrs
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                self.outputs
                    .push_back(Output::Event(Event::Xforward(attrs)));
                self.send(&reply(250, (2, 0, 0), "Ok"));
            }
            Command::Xclient(_) | Command::Xforward(_) => {
                self.error(reply(550, (5, 7, 0), "Error: insufficient authorization"));
            }
            _ => self.error(reply(502, (5, 5, 1), "Command not implemented")),
        }
    }

    fn after_connect(&mut self, verdict: Verdict) {
        self.greeted = true;
        match verdict {
            Verdict::Reject(r) => self.close_with(&r),
            Verdict::AcceptWith(r) => self.send(&r),
            _ => {
                let text = format!("{} {}", self.config.hostname, self.config.greeting);
                self.send(&Reply::new(ReplyCode::SERVICE_READY, None, [text]).expect("valid"));
            }
        }
        self.state = if self.is_closed() {
            State::Closed
        } else {
            State::Command
        };
    }

    fn hello(&mut self, verb: HelloVerb, name: &str) {
        let lmtp = self.config.protocol == Protocol::Lmtp;
        if lmtp != (verb == HelloVerb::Lhlo) {
            let text = if lmtp {
                "Error: LMTP requires LHLO"
            } else {
                "Error: LHLO is for LMTP"
            };
            self.error(reply(500, (5, 5, 1), text));
            return;
        }
        // HELO/EHLO resets the transaction (RFC 5321 §4.1.4).
        self.reset_transaction();
        self.decide(
            Pending::Helo(verb, name.to_owned()),
            Decision::Helo {
                verb,
                name: name.to_owned(),
                kind: HeloKind::classify(name),
            },
        );
    }

    /// The EHLO keywords this session offers now.
    pub fn ehlo_keywords(&self) -> Vec<String> {
        let c = &self.config;
        let mut k = Vec::new();
        if c.pipelining {
            k.push("PIPELINING".to_owned());
        }
        if c.max_message_size > 0 {
            k.push(format!("SIZE {}", c.max_message_size));
        } else {
            k.push("SIZE".to_owned());
        }
        if c.limits {
            k.push(format!("LIMITS RCPTMAX={}", c.max_recipients));
        }
        if c.vrfy {
            k.push("VRFY".to_owned());
        }
        if c.starttls && !self.tls {
            k.push("STARTTLS".to_owned());
        }
        if !c.auth_mechanisms.is_empty() && (self.tls || !c.auth_requires_tls) {
            let names: Vec<&str> = c
                .auth_mechanisms
                .iter()
                .filter(|m| !m.needs_channel_binding() || c.sasl.channel_binding.is_some())
                .map(|m| m.name())
                .collect();
            k.push(format!("AUTH {}", names.join(" ")));
        }
        k.push("ENHANCEDSTATUSCODES".to_owned());
        if c.eight_bit_mime {
            k.push("8BITMIME".to_owned());
        }
        if c.dsn {
            k.push("DSN".to_owned());
        }
        if c.smtputf8 {
            k.push("SMTPUTF8".to_owned());
        }
        if c.chunking {
            k.push("CHUNKING".to_owned());
            k.push("BINARYMIME".to_owned());
        }
        if c.requiretls && self.tls {
            k.push("REQUIRETLS".to_owned());
        }
        if c.xclient {
            k.push("XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT".to_owned());
            k.push("XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE".to_owned());
        }
        k
    }

    fn after_helo(&mut self, verb: HelloVerb, name: &str, verdict: Verdict) {
        if let Verdict::Reject(r) = verdict {
            self.send(&r);
        } else {
            {
                self.helo = Some(verb);
                let first = format!("{} Hello {name}", self.config.hostname);
                let lines: Vec<String> = if verb == HelloVerb::Helo {
                    vec![first]
                } else {
                    std::iter::once(first).chain(self.ehlo_keywords()).collect()
                };
                self.send(&Reply::new(ReplyCode::OK, None, lines).expect("valid"));
            }
        }
    }

    fn mail(&mut self, from: ReversePath<'_>, params: MailParams<'_>) {
        let c = Arc::clone(&self.config);
        if self.helo.is_none() {
            return self.error(reply(503, (5, 5, 1), "Error: send HELO/EHLO first"));
        }
        if self.tx.active {
            return self.error(reply(503, (5, 5, 1), "Error: nested MAIL command"));
        }
        if c.auth_required && self.authenticated.is_none() {
            return self.error(reply(530, (5, 7, 0), "Authentication required"));
        }
        let esmtp = self.helo != Some(HelloVerb::Helo);
        let unsupported = if let Some((k, _)) = params.unknown.first() {
            Some(k.to_string())
        } else if !esmtp && params != MailParams::default() {
            Some("ESMTP parameters after HELO".to_owned())
        } else if params.body == Some(Body::EightBitMime) && !c.eight_bit_mime
            || params.body == Some(Body::BinaryMime) && !c.chunking
        {
            Some("BODY".to_owned())
        } else if params.smtputf8 && !c.smtputf8 {
            Some("SMTPUTF8".to_owned())
        } else if (params.ret.is_some() || params.envid.is_some()) && !c.dsn {
            Some("RET/ENVID".to_owned())
        } else if params.requiretls && !(c.requiretls && self.tls) {
            Some("REQUIRETLS".to_owned())
        } else if params.auth.is_some() && c.auth_mechanisms.is_empty() {
            Some("AUTH".to_owned())
        } else if params.mt_priority.is_some()
            || params.hold_for.is_some()
            || params.hold_until.is_some()
            || params.by.is_some()
            || params.mtrk.is_some()
            || params.solicit.is_some()
        {
            Some("MT-PRIORITY/FUTURERELEASE/DELIVERBY/MTRK/SOLICIT".to_owned())
        } else {
            None
        };
        if let Some(name) = unsupported {
            let text = format!("Unsupported parameter {name}");
            return self.error(reply(555, (5, 5, 4), &text));
        }
        if c.max_message_size > 0 && params.size.is_some_and(|s| s > c.max_message_size) {
            return self.send(&reply(
                552,
                (5, 3, 4),
                "Message size exceeds fixed maximum message size",
            ));
        }
        let from = from.into_owned();
        let params = params.into_owned();
        self.decide(
            Pending::Mail(params.clone()),
            Decision::Mail { from, params },
        );
    }

    fn after_mail(&mut self, params: &MailParams<'static>, verdict: Verdict) {
        match verdict {
            Verdict::Reject(r) => self.send(&r),
            v => {
                self.tx = Transaction {
                    active: true,
                    smtputf8: params.smtputf8,
                    body: params.body,
                    ..Transaction::default()
                };
                match v {
                    Verdict::AcceptWith(r) => self.send(&r),
                    _ => self.send(&reply(250, (2, 1, 0), "Ok")),
                }
            }
        }
    }

    fn rcpt(&mut self, to: ForwardPath<'_>, params: RcptParams<'_>) {
        if !self.tx.active {
            return self.error(reply(503, (5, 5, 1), "Error: need MAIL command"));
        }
        if let Some((k, _)) = params.unknown.first() {
            let text = format!("Unsupported parameter {k}");
            return self.error(reply(555, (5, 5, 4), &text));
        }
        if (params.notify.is_some() || params.orcpt.is_some()) && !self.config.dsn {
            return self.error(reply(555, (5, 5, 4), "Unsupported parameter NOTIFY/ORCPT"));
        }
        if params.rrvs.is_some() {
            return self.error(reply(555, (5, 5, 4), "Unsupported parameter RRVS"));
        }
        if to.mailbox().is_some_and(crate::types::Mailbox::is_utf8) && !self.tx.smtputf8 {
            return self.error(reply(
                553,
                (5, 6, 7),
                "Non-ASCII addresses require the SMTPUTF8 parameter",
            ));
        }
        if self.tx.recipients.len() >= self.config.max_recipients {
            return self.send(&reply(452, (4, 5, 3), "Error: too many recipients"));
        }
        let to = to.into_owned();
        self.decide(
            Pending::Rcpt(to.clone()),
            Decision::Rcpt {
                to,
                params: params.into_owned(),
            },
        );
    }

    fn after_rcpt(&mut self, to: ForwardPath<'static>, verdict: Verdict) {
        match verdict {
            Verdict::Reject(r) => self.send(&r),
            Verdict::AcceptWith(r) => {
                self.tx.recipients.push(to);
                self.send(&r);
            }
            _ => {
                self.tx.recipients.push(to);
                self.send(&reply(250, (2, 1, 5), "Ok"));
            }
        }
    }

    fn data(&mut self) {
        if !self.tx.active {
            return self.error(reply(503, (5, 5, 1), "Error: need MAIL command"));
        }
        if self.tx.bdat {
            return self.error(reply(503, (5, 5, 1), "Error: DATA after BDAT"));
        }
        if self.tx.body == Some(Body::BinaryMime) {
            return self.error(reply(503, (5, 5, 1), "Error: BINARYMIME requires BDAT"));
        }
        if self.tx.recipients.is_empty() {
            return self.error(reply(554, (5, 5, 1), "Error: no valid recipients"));
        }
        self.send(
            &Reply::new(
                ReplyCode::START_DATA,
                None,
                ["End data with <CR><LF>.<CR><LF>"],
            )
            .expect("valid"),
        );
        self.flush();
        self.state = State::Data(DataDecoder::new(self.config.bare_line_endings));
    }

    fn data_step(&mut self) -> bool {
        let State::Data(decoder) = &mut self.state else {
            return false;
        };
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return false;
        }
        let discard = self.tx.too_big || self.tx.refused;
        let mut chunk = Vec::new();
        let r = decoder.decode(rest, (!discard).then_some(&mut chunk));
        let bare = decoder.saw_bare_line_ending();
        self.pos += r.consumed;
        if bare && !self.tx.refused && self.config.bare_line_endings == BareLineEndings::Reject {
            self.tx.refused = true;
            self.outputs
                .push_back(Output::Event(Event::BareLineEnding { in_data: true }));
        } else if bare && !self.reported_bare {
            self.reported_bare = true;
            self.outputs
                .push_back(Output::Event(Event::BareLineEnding { in_data: true }));
        }
        self.take_content(chunk);
        if r.end {
            self.state = State::Command;
            self.end_of_message();
        }
        r.end
    }

    /// Counts and forwards message content, enforcing the size limit while streaming.
    fn take_content(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() || self.tx.too_big || self.tx.refused {
            return;
        }
        self.tx.size += chunk.len() as u64;
        let max = self.config.max_message_size;
        if max > 0 && self.tx.size > max {
            self.tx.too_big = true;
            self.outputs.push_back(Output::Event(Event::MessageTooBig));
            return;
        }
        self.outputs.push_back(Output::MessageData(chunk));
    }

    fn end_of_message(&mut self) {
        if self.tx.too_big {
            self.reset_transaction();
            self.send(&reply(
                552,
                (5, 3, 4),
                "Message size exceeds fixed maximum message size",
            ));
        } else if self.tx.refused {
            self.reset_transaction();
            self.send(&reply(
                550,
                (5, 6, 0),
                "Message contains bare <CR> or <LF> (RFC 5321 section 2.3.8)",
            ));
        } else {
            let decision = Decision::EndOfData {
                size: self.tx.size,
                recipients: self.tx.recipients.clone(),
            };
            self.decide(Pending::EndOfData, decision);
        }
    }

    fn after_data(&mut self, verdict: Verdict) {
        let n = if self.config.protocol == Protocol::Lmtp {
            self.tx.recipients.len()
        } else {
            1
        };
        let replies: Vec<Reply> = match verdict {
            Verdict::Accept => vec![reply(250, (2, 0, 0), "Ok: queued"); n],
            Verdict::AcceptWith(r) | Verdict::Reject(r) | Verdict::Disconnect(r) => vec![r; n],
            Verdict::PerRecipient(mut v) => {
                v.truncate(n);
                while v.len() < n {
                    v.push(reply(
                        451,
                        (4, 3, 0),
                        "Error: no verdict for this recipient",
                    ));
                }
                v
            }
        };
        for r in &replies {
            self.send(r);
        }
        self.tx = Transaction::default();
    }

    fn bdat(&mut self, size: u64, last: bool) {
        // The chunk is consumed whatever the verdict, so the stream stays in sync (RFC 3030 §4.2).
        let error = if !self.config.chunking {
            Some(reply(502, (5, 5, 1), "Error: CHUNKING not offered"))
        } else if !self.tx.active {
            Some(reply(503, (5, 5, 1), "Error: need MAIL command"))
        } else if self.tx.recipients.is_empty() {
            Some(reply(554, (5, 5, 1), "Error: no valid recipients"))
        } else {
            None
        };
        if error.is_none() {
            self.tx.bdat = true;
            let max = self.config.max_message_size;
            if max > 0 && !self.tx.too_big && self.tx.size.saturating_add(size) > max {
                self.tx.too_big = true;
                self.outputs.push_back(Output::Event(Event::MessageTooBig));
            }
        }
        // A zero-size chunk (`BDAT 0 LAST`) completes in the next step of `process`; it
        // must not be stepped from here, where the line's input buffer is on loan.
        self.state = State::Bdat {
            remaining: size,
            last,
            error,
        };
    }

    fn bdat_step(&mut self) -> bool {
        let State::Bdat {
            remaining,
            last,
            error,
        } = &mut self.state
        else {
            return false;
        };
        let available = (self.input.len() - self.pos) as u64;
        let n = (*remaining).min(available);
        if n == 0 && *remaining > 0 {
            return false;
        }
        *remaining -= n;
        let (done, last, error) = (*remaining == 0, *last, error.clone());
        let start = self.pos;
        self.pos += n as usize;
        if error.is_none() && !self.tx.too_big {
            let chunk = self.input[start..self.pos].to_vec();
            self.take_content(chunk);
        }
        if !done {
            return false;
        }
        self.state = State::Command;
        if let Some(e) = error {
            self.error(e);
        } else if self.tx.too_big || last {
            self.end_of_message();
        } else {
            let text = format!("{n} octets received", n = self.tx.size);
            self.send(&reply(250, (2, 0, 0), &text));
        }
        true
    }

    fn starttls(&mut self) {
        if self.tls {
            return self.error(reply(503, (5, 5, 1), "Error: TLS already active"));
        }
        if !self.config.starttls {
            return self.error(reply(502, (5, 5, 1), "Error: STARTTLS not offered"));
        }
        if self.tx.active {
            return self.error(reply(503, (5, 5, 1), "Error: MAIL transaction in progress"));
        }
        self.send(&reply(220, (2, 0, 0), "Ready to start TLS"));
        self.state = State::StartTls;
    }

    fn auth(&mut self, mechanism: &str, initial_response: Option<&str>) {
        let c = Arc::clone(&self.config);
        if c.auth_mechanisms.is_empty() {
            return self.error(reply(502, (5, 5, 1), "Error: AUTH not offered"));
        }
        if !matches!(self.helo, Some(HelloVerb::Ehlo | HelloVerb::Lhlo)) {
            return self.error(reply(503, (5, 5, 1), "Error: send EHLO first"));
        }
        if self.authenticated.is_some() {
            return self.error(reply(503, (5, 5, 1), "Error: already authenticated"));
        }
        if self.tx.active {
            return self.error(reply(503, (5, 5, 1), "Error: MAIL transaction in progress"));
        }
        if c.auth_requires_tls && !self.tls {
            return self.error(reply(
                538,
                (5, 7, 11),
                "Encryption required for requested authentication mechanism",
            ));
        }
        let Some(mech) =
            Mechanism::from_name(mechanism.as_bytes()).filter(|m| c.auth_mechanisms.contains(m))
        else {
            return self.error(reply(504, (5, 5, 4), "Unrecognized authentication type"));
        };
        let ir = match initial_response
            .map(|ir| sasl::decode_initial_response(ir.as_bytes(), c.sasl.max_response_len))
            .transpose()
        {
            Ok(ir) => ir,
            Err(sasl::SaslError::TooLong { .. }) => {
                return self.error(reply(
                    500,
                    (5, 5, 6),
                    "Authentication exchange line too long",
                ));
            }
            Err(_) => return self.error(reply(501, (5, 5, 2), "Invalid base64 data")),
        };
        let mut server = Box::new(SaslServer::new(mech, &c.sasl, self.next_nonce()));
        let step = server.start(ir.as_deref());
        self.state = State::Auth(server);
        self.sasl_step(step);
    }

    fn next_nonce(&mut self) -> Nonce {
        self.nonce_counter += 1;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.nonce_seed);
        ctx.update(&self.nonce_counter.to_be_bytes());
        let d = ctx.finish();
        let mut bytes = [0u8; 18];
        bytes.copy_from_slice(&d.as_ref()[..18]);
        Nonce::from_random(bytes)
    }

    fn auth_line(&mut self, line: &[u8]) {
        let State::Auth(server) = &mut self.state else {
            return;
        };
        let step = match sasl::decode_response(line, self.config.sasl.max_response_len) {
            Ok(sasl::ClientResponse::Cancel) => server.cancel(),
            Ok(sasl::ClientResponse::Data(bytes)) => server.respond(&bytes),
            Err(sasl::SaslError::TooLong { .. }) => {
                return self.auth_failed_reply(sasl::FailureReason::TooLong, None);
            }
            Err(_) => return self.auth_failed_reply(sasl::FailureReason::Malformed, None),
        };
        self.sasl_step(step);
    }

    fn sasl_step(&mut self, step: ServerStep) {
        match step {
            ServerStep::Challenge(c) => {
                let text = sasl::encode(&c);
                self.out.extend_from_slice(b"334 ");
                self.out.extend_from_slice(text.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            ServerStep::Need(d) => {
                let State::Auth(server) = std::mem::replace(&mut self.state, State::Command) else {
                    return;
                };
                self.pending_sasl = Some(server);
                self.decide(Pending::Auth, Decision::Auth(d));
            }
            ServerStep::Success(who) => {
                self.state = State::Command;
                self.authenticated = Some(who.clone());
                self.outputs
                    .push_back(Output::Event(Event::Authenticated(who)));
                self.send(&reply(235, (2, 7, 0), "Authentication successful"));
            }
            ServerStep::Failure(f) => {
                let reason = f.reason;
                let user = f.user.clone();
                self.outputs.push_back(Output::Event(Event::AuthFailed(f)));
                self.auth_failed_reply(reason, user);
            }
        }
    }

    fn auth_failed_reply(&mut self, reason: sasl::FailureReason, _user: Option<String>) {
        use sasl::FailureReason as F;
        if matches!(self.state, State::Auth(_)) {
            self.state = State::Command;
        }
        let r = match reason {
            F::Malformed => reply(501, (5, 5, 2), "Invalid authentication data"),
            F::TooLong => reply(500, (5, 5, 6), "Authentication exchange line too long"),
            F::Cancelled => reply(501, (5, 0, 0), "Authentication cancelled"),
            F::TempFail | F::Misuse => reply(454, (4, 7, 0), "Temporary authentication failure"),
            F::Unavailable => reply(504, (5, 5, 4), "Mechanism not available"),
            _ => reply(535, (5, 7, 8), "Authentication credentials invalid"),
        };
        self.error(r);
    }
}

#[cfg(test)]
mod tests;
