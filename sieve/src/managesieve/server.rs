//! The ManageSieve server session: a state machine with no I/O.
//!
//! ```text
//!            connect: capabilities + OK
//!                      │
//!                      ▼
//!   ┌──────────── NonAuthenticated ◀──────── UNAUTHENTICATE ──┐
//!   │ STARTTLS: OK,    │  AUTHENTICATE ⇄ challenges (host)     │
//!   │ TLS, caps again  │  success                              │
//!   └──────────────────┤                                       │
//!                      ▼                                       │
//!                Authenticated ─────────────────────────────────┘
//!    HAVESPACE PUTSCRIPT LISTSCRIPTS SETACTIVE GETSCRIPT DELETESCRIPT
//!    RENAMESCRIPT CHECKSCRIPT: script storage and validation (host)
//!                      │ LOGOUT, BYE
//!                      ▼
//!                    Closed
//! ```
//!
//! The session owns the protocol: framing, limits, the grammar, states, the capability
//! list, response codes, SASL base64, the STARTTLS switch, and counting failures. It
//! asks the host for everything that needs outside knowledge, as [`ServerEvent`]s the
//! host answers with a value: each SASL step ([`ServerSession::answer_auth`]), script
//! validation when the host does it ([`ServerSession::answer_validation`]) and every
//! script storage operation ([`ServerSession::answer_script`]; the crate's
//! [`FsScriptStore`](super::store::FsScriptStore) answers those from a directory).
//!
//! # Drive contract
//!
//! * Inputs: [`ServerSession::handle_input`] (bytes from the client, after TLS
//!   decryption), [`ServerSession::handle_timeout`], [`ServerSession::handle_tls_established`],
//!   and the `answer_*` methods.
//! * After **every** input, drain [`ServerSession::poll_output`] until it returns `None`:
//!   write each [`ServerOutput::Transmit`] to the peer in order, answer each
//!   [`ServerOutput::Event`] that asks for an answer, start the TLS handshake on
//!   [`ServerOutput::StartTls`] (after writing the bytes before it), and close the
//!   connection on [`ServerOutput::Close`].
//! * One request is outstanding at a time: while an event waits for its answer, pipelined
//!   commands stay buffered (bounded, see [`ServerLimits::max_pipelined`]).
//! * Time is a value: pass `now` in; [`ServerSession::poll_timeout`] says when to call
//!   [`ServerSession::handle_timeout`] (idle timeout).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use smtp_proto::sasl::{self, FinalData, Mechanism, Nonce, SaslServer, ServerStep};

use super::command::{self, AuthResponse, Command, CommandError, ParseOptions};
use super::error::Error;
use super::framer::{Frame, FrameLimits, Framer, Oversize, OversizeKind};
use super::response::{self, Capabilities};
use super::types::{QuotaKind, ResponseCode, ScriptName, Status, StatusResponse};
use crate::CompileOptions;
use crate::capability::Capability;
use crate::error::Diagnostic;

/// Limits of a server session; every one has a safe default.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Longest command line, CRLF included, literals excluded (MSIEVE-004). Default 65536.
    pub max_line: usize,
    /// Largest script (PUTSCRIPT/CHECKSCRIPT literal) and largest literal of any kind.
    /// Default 1 MiB. A larger PUTSCRIPT is answered `NO (QUOTA/MAXSIZE)`.
    pub max_script_size: usize,
    /// Longest script name in octets. Default 512 (the RFC's 128 characters at 4 octets).
    pub max_script_name: usize,
    /// Failed AUTHENTICATE commands before `BYE`. Default 3.
    pub max_auth_failures: u32,
    /// Invalid commands in a row before `BYE`. Default 10.
    pub max_bad_commands: u32,
    /// Input buffered while an answer from the host is awaited; more closes the session.
    /// Default 2 × (`max_script_size` + `max_line`).
    pub max_pipelined: usize,
    /// Inactivity before the server says `BYE`. Default 30 minutes.
    pub idle_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_line: 65_536,
            max_script_size: 1 << 20,
            max_script_name: 512,
            max_auth_failures: 3,
            max_bad_commands: 10,
            max_pipelined: 2 * ((1 << 20) + 65_536),
            idle_timeout: Duration::from_mins(30),
        }
    }
}

/// Who validates scripts for PUTSCRIPT and CHECKSCRIPT (RFC 5804 §2.6: the server MUST
/// check the grammar and that every required extension is supported).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ScriptCheck {
    /// This crate's compiler ([`crate::compile`]) with these options, inside the session:
    /// a script that does not compile is answered `NO` with every error, line and column
    /// first; compiler warnings become `OK (WARNINGS)`. The default.
    Compiler(CompileOptions),
    /// The host: the session emits [`ServerEvent::ValidateScript`] and waits for
    /// [`ServerSession::answer_validation`].
    Host,
}

impl Default for ScriptCheck {
    fn default() -> Self {
        Self::Compiler(CompileOptions::default())
    }
}

/// Validates a script with this crate's compiler, as [`ScriptCheck::Compiler`] does.
pub fn compile_validation(script: &[u8], options: &CompileOptions) -> Validation {
    let lines = |d: &[Diagnostic]| {
        d.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    match crate::compile(script, options) {
        Ok(program) if program.warnings().is_empty() => Validation::Valid { warnings: None },
        Ok(program) => Validation::Valid {
            warnings: Some(lines(program.warnings())),
        },
        Err(e) => Validation::Invalid {
            message: lines(e.diagnostics()),
        },
    }
}

/// Server configuration.
///
/// The defaults require TLS before authentication (MSIEVE-001) and offer no STARTTLS,
/// because only the host knows whether it has a certificate: set
/// [`starttls`](Self::starttls) when it does, start implicit-TLS connections with
/// [`ServerSession::new_tls`], or (on a trusted link only) clear
/// [`require_tls_for_auth`](Self::require_tls_for_auth). Otherwise nobody can log in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The `IMPLEMENTATION` capability (MSIEVE-003): clients pick workarounds by it.
    pub implementation: String,
    /// SASL mechanisms offered (the `SASL` capability). Those that
    /// [`smtp_proto::sasl`] implements (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER,
    /// SCRAM-SHA-256\[-PLUS\]) run inside the session, which asks the host only for the
    /// user-database decision ([`ServerEvent::AuthDecision`]); any other name (GSSAPI,
    /// EXTERNAL, ...) is run by the host step by step ([`ServerEvent::Authenticate`]).
    /// Default: PLAIN and LOGIN.
    pub sasl_mechanisms: Vec<String>,
    /// Run every mechanism in the host, even those the session implements. Default off.
    pub host_sasl: bool,
    /// Offer STARTTLS (only if the host has a working TLS configuration).
    pub starttls: bool,
    /// Refuse AUTHENTICATE before TLS (MSIEVE-001); the `SASL` capability is then empty
    /// until STARTTLS. Default `true`.
    pub require_tls_for_auth: bool,
    /// The `SIEVE` capability: extensions the interpreter supports. Default: the
    /// compiler's delivery set (keep it equal to what [`ServerConfig::script_check`]
    /// accepts; [`ServerConfig::with_compile_options`] sets both).
    pub sieve_extensions: Vec<String>,
    /// The `NOTIFY` capability: enotify methods. Default `mailto` (the one method the
    /// interpreter's enotify supports).
    pub notify_methods: Vec<String>,
    /// The `MAXREDIRECTS` capability: redirects one script run may perform. Default: the
    /// runtime's default limit ([`RunLimits::max_redirects`](crate::RunLimits)); keep it
    /// equal to the limit delivery uses.
    pub max_redirects: Option<u32>,
    /// The `LANGUAGE` capability, if not `i-default`.
    pub language: Option<String>,
    /// Who validates scripts.
    pub script_check: ScriptCheck,
    /// Limits.
    pub limits: ServerLimits,
    /// Deviations accepted from clients.
    pub parse: ParseOptions,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            implementation: concat!("mail-crates sieve ", env!("CARGO_PKG_VERSION")).into(),
            sasl_mechanisms: vec!["PLAIN".into(), "LOGIN".into()],
            host_sasl: false,
            starttls: false,
            require_tls_for_auth: true,
            sieve_extensions: sieve_list(&CompileOptions::default()),
            notify_methods: vec!["mailto".into()],
            max_redirects: u32::try_from(crate::RunLimits::default().max_redirects).ok(),
            language: None,
            script_check: ScriptCheck::default(),
            limits: ServerLimits::default(),
            parse: ParseOptions::default(),
        }
    }
}

fn sieve_list(options: &CompileOptions) -> Vec<String> {
    options
        .capabilities
        .to_sieve_capability_string()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl ServerConfig {
    /// Validates scripts with the compiler and these options, and announces exactly the
    /// extensions they allow in the `SIEVE` capability (and `NOTIFY mailto` when
    /// `enotify` is among them).
    #[must_use]
    pub fn with_compile_options(mut self, options: CompileOptions) -> Self {
        self.sieve_extensions = sieve_list(&options);
        self.notify_methods = if options.capabilities.contains(Capability::Enotify) {
            vec!["mailto".into()]
        } else {
            Vec::new()
        };
        self.script_check = ScriptCheck::Compiler(options);
        self
    }
}

/// A script storage operation the host performs for the authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptRequest {
    /// HAVESPACE: would a script of this name and size fit? Answer `Done` or a quota error.
    HaveSpace {
        /// The name it would be stored as.
        name: ScriptName,
        /// Its size in octets.
        size: u32,
    },
    /// PUTSCRIPT, already validated: store it, replacing any script of the same name
    /// (atomically: the old script must survive any failure). Answer `Done`.
    Put {
        /// The name.
        name: ScriptName,
        /// The script (valid UTF-8, checked by the validator).
        script: Vec<u8>,
    },
    /// LISTSCRIPTS. Answer `List`.
    List,
    /// SETACTIVE: make this script the only active one, or none (`None`). Answer `Done`.
    SetActive {
        /// The script, or `None` to deactivate.
        name: Option<ScriptName>,
    },
    /// GETSCRIPT. Answer `Script`.
    Get {
        /// The name.
        name: ScriptName,
    },
    /// DELETESCRIPT (refuse the active script with [`StoreError::Active`]). Answer `Done`.
    Delete {
        /// The name.
        name: ScriptName,
    },
    /// RENAMESCRIPT (an active script stays active). Answer `Done`.
    Rename {
        /// The current name.
        old: ScriptName,
        /// The new name (must not exist).
        new: ScriptName,
    },
}

/// One script in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptEntry {
    /// The name.
    pub name: ScriptName,
    /// Whether it is the active script (at most one is).
    pub active: bool,
}

/// A successful answer to a [`ScriptRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptReply {
    /// The operation was done (or HAVESPACE: there is space).
    Done,
    /// The scripts, for LISTSCRIPTS.
    List(Vec<ScriptEntry>),
    /// The script's content, for GETSCRIPT.
    Script(Vec<u8>),
}

/// Why a script operation failed; each maps to a `NO` with its response code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No script by that name (`NONEXISTENT`).
    #[error("there is no script by that name")]
    NonExistent,
    /// The new name is taken (`ALREADYEXISTS`).
    #[error("a script by that name already exists")]
    AlreadyExists,
    /// Not allowed on the active script (`ACTIVE`).
    #[error("the script is active")]
    Active,
    /// Over a quota (`QUOTA`, `QUOTA/MAXSCRIPTS`, `QUOTA/MAXSIZE`).
    #[error("quota exceeded")]
    Quota(QuotaKind),
    /// A temporary failure (`TRYLATER`).
    #[error("temporary failure: {0}")]
    TryLater(String),
    /// Any other refusal, with text for the user.
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// The `NO` response for this error.
    pub fn to_response(&self) -> StatusResponse {
        let (code, text) = match self {
            Self::NonExistent => (
                Some(ResponseCode::NonExistent),
                "There is no script by that name".to_owned(),
            ),
            Self::AlreadyExists => (
                Some(ResponseCode::AlreadyExists),
                "A script by that name already exists".to_owned(),
            ),
            Self::Active => (
                Some(ResponseCode::Active),
                "You may not delete an active script".to_owned(),
            ),
            Self::Quota(kind) => (
                Some(ResponseCode::Quota(*kind)),
                match kind {
                    QuotaKind::MaxScripts => "Too many scripts",
                    QuotaKind::MaxSize => "Script too large",
                    _ => "Quota exceeded",
                }
                .to_owned(),
            ),
            Self::TryLater(t) => (Some(ResponseCode::TryLater), t.clone()),
            Self::Refused(t) => (None, t.clone()),
        };
        StatusResponse {
            status: Status::No,
            code,
            text: Some(text),
        }
    }
}

/// The outcome of validating a script.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validation {
    /// The script compiles; warnings (line numbers first) become `OK (WARNINGS)`.
    Valid {
        /// Warning text, if any.
        warnings: Option<String>,
    },
    /// The script does not compile; the message (line number of the first error first)
    /// is sent with `NO`.
    Invalid {
        /// The error message(s), CRLF-separated if several.
        message: String,
    },
}

/// The host's answer to one SASL step.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthStep {
    /// Send this challenge (raw; the session base64-encodes it) and wait for the client.
    Challenge(Vec<u8>),
    /// Authenticated as `owner` (the authorization identity, sent as the `OWNER`
    /// capability), with optional final server data sent in the `SASL` response code.
    Success {
        /// The authorization identity.
        owner: String,
        /// Final server data (raw), if the mechanism has any.
        data: Option<Vec<u8>>,
    },
    /// Authentication failed. `code` may be `AUTH-TOO-WEAK`, `ENCRYPT-NEEDED`,
    /// `TRANSITION-NEEDED`; the session counts failures and says `BYE` at the limit.
    Failure {
        /// A response code, if one applies.
        code: Option<ResponseCode>,
        /// Text for the user.
        text: String,
    },
}

/// Something the host must know or answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A SASL mechanism run by the session needs the user database: check a password,
    /// fetch SCRAM credentials, validate a token. Answer with
    /// [`ServerSession::answer_auth_decision`].
    AuthDecision(sasl::Decision),
    /// AUTHENTICATE with a mechanism the host runs itself. Answer with
    /// [`ServerSession::answer_auth`]. `initial_response` is decoded from base64.
    Authenticate {
        /// The mechanism, upper case.
        mechanism: String,
        /// The initial response, if the client sent one.
        initial_response: Option<Vec<u8>>,
    },
    /// The client's answer to a challenge, decoded. Answer with
    /// [`ServerSession::answer_auth`].
    AuthResponse {
        /// The response.
        response: Vec<u8>,
    },
    /// The client cancelled the exchange (or sent bad base64); the session has answered
    /// `NO`. No answer is expected: drop the mechanism state.
    AuthCancelled,
    /// Validate this script (PUTSCRIPT or CHECKSCRIPT, with [`ScriptCheck::Host`]).
    /// Answer with [`ServerSession::answer_validation`].
    ValidateScript {
        /// The script (valid UTF-8).
        script: Vec<u8>,
    },
    /// A script storage operation. Answer with [`ServerSession::answer_script`].
    Script(ScriptRequest),
    /// The client returned to the non-authenticated state (UNAUTHENTICATE). No answer.
    Unauthenticated,
}

impl ServerEvent {
    /// Whether the host must answer this event before the session goes on.
    pub fn needs_answer(&self) -> bool {
        !matches!(self, Self::AuthCancelled | Self::Unauthenticated)
    }
}

/// What the session wants done, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerOutput {
    /// Send these bytes to the client.
    Transmit(Vec<u8>),
    /// Tell the host something or ask it for an answer.
    Event(ServerEvent),
    /// Start the TLS handshake now (the `OK` before it has been transmitted); call
    /// [`ServerSession::handle_tls_established`] when it completes.
    StartTls,
    /// Close the connection (after transmitting everything before it).
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    NonAuth,
    Auth { owner: String },
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    None,
    /// Waiting for the host's SASL step.
    AuthHost,
    /// Waiting for the client's SASL response line.
    AuthClient,
    /// Waiting for the host's validation of a script.
    Validate(AfterValidate),
    /// Waiting for the host's answer to a script request.
    Script(Expect),
    /// Waiting for the TLS handshake.
    Tls,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AfterValidate {
    Check,
    Put { name: ScriptName, script: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    Done { warnings: Option<String> },
    List,
    Script,
}

/// A ManageSieve server session; see the module docs for the drive contract.
///
/// ```
/// use std::time::Instant;
/// use sieve::managesieve::server::{ServerConfig, ServerOutput, ServerSession};
///
/// let now = Instant::now();
/// let mut s = ServerSession::new(ServerConfig::default(), now);
/// let Some(ServerOutput::Transmit(greeting)) = s.poll_output() else { panic!() };
/// assert!(greeting.starts_with(b"\"IMPLEMENTATION\""));
/// s.handle_input(now, b"NOOP\r\n").unwrap();
/// assert_eq!(s.poll_output(), Some(ServerOutput::Transmit(b"OK \"NOOP completed\"\r\n".to_vec())));
/// ```
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    framer: Framer,
    state: State,
    pending: Pending,
    tls: bool,
    auth_failures: u32,
    bad_commands: u32,
    output: VecDeque<ServerOutput>,
    deadline: Instant,
    /// The exchange of a mechanism the session runs.
    sasl: Option<SaslServer>,
    channel_binding: Option<Vec<u8>>,
}

impl ServerSession {
    /// A new session; its greeting (the capabilities) is queued as output.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        Self::with_tls(config, now, false)
    }

    /// A new session on a connection that is already TLS (implicit TLS).
    pub fn new_tls(config: ServerConfig, now: Instant) -> Self {
        Self::with_tls(config, now, true)
    }

    fn with_tls(config: ServerConfig, now: Instant, tls: bool) -> Self {
        let limits = &config.limits;
        let framer = Framer::new(FrameLimits {
            line: limits.max_line,
            literal: limits.max_script_size,
            unit: limits.max_script_size.saturating_add(limits.max_line),
        });
        let deadline = now + limits.idle_timeout;
        let mut s = Self {
            config,
            framer,
            state: State::NonAuth,
            pending: Pending::None,
            tls,
            auth_failures: 0,
            bad_commands: 0,
            output: VecDeque::new(),
            deadline,
            sasl: None,
            channel_binding: None,
        };
        s.send_capabilities();
        s
    }

    /// Whether the client has authenticated.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Auth { .. })
    }

    /// The authenticated user, if any.
    pub fn owner(&self) -> Option<&str> {
        match &self.state {
            State::Auth { owner } => Some(owner),
            _ => None,
        }
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The capabilities the session announces now.
    pub fn capabilities(&self) -> Capabilities {
        let c = &self.config;
        let auth_allowed = self.tls || !c.require_tls_for_auth;
        Capabilities {
            implementation: Some(c.implementation.clone()),
            sasl: if auth_allowed {
                c.sasl_mechanisms.clone()
            } else {
                Vec::new()
            },
            sieve: c.sieve_extensions.clone(),
            starttls: c.starttls && !self.tls && self.state == State::NonAuth,
            notify: c.notify_methods.clone(),
            max_redirects: c.max_redirects,
            language: c.language.clone(),
            owner: self.owner().map(str::to_owned),
            version: Some("1.0".into()),
            unauthenticate: true,
            other: Vec::new(),
        }
    }

    /// The next thing to do, or `None` when the session waits for input or an answer.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.output.pop_front()
    }

    /// When to call [`Self::handle_timeout`], if the session is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state != State::Closed).then_some(self.deadline)
    }

    /// The idle timer: at or after the deadline the server says `BYE` and closes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state != State::Closed && now >= self.deadline {
            self.bye(&StatusResponse::new(
                Status::Bye,
                "Disconnected for inactivity",
            ));
        }
    }

    /// Bytes received from the client (plaintext, after any TLS layer).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        if self.pending == Pending::Tls {
            // Plaintext after STARTTLS, before the handshake: never trusted (RFC 5804
            // §2.2, the classic STARTTLS injection). Dropped.
            return Ok(());
        }
        self.deadline = now + self.config.limits.idle_timeout;
        self.framer.push(bytes);
        self.process();
        if self.pending != Pending::None
            && self.framer.buffered() > self.config.limits.max_pipelined
        {
            self.bye(&StatusResponse::new(
                Status::Bye,
                "Too much pipelined input",
            ));
        }
        Ok(())
    }

    /// The TLS handshake that [`ServerOutput::StartTls`] asked for has completed: the
    /// session announces its capabilities again (RFC 5804 §2.2).
    pub fn handle_tls_established(&mut self) -> Result<(), Error> {
        if self.pending != Pending::Tls {
            return Err(Error::ApiMisuse("no STARTTLS handshake is in progress"));
        }
        self.pending = Pending::None;
        self.tls = true;
        self.framer.clear();
        self.send_capabilities();
        Ok(())
    }

    /// Gives the `tls-exporter` channel binding of this TLS connection (RFC 9266), which
    /// SCRAM-SHA-256-PLUS needs. Call after the handshake.
    pub fn set_channel_binding(&mut self, exporter: Vec<u8>) {
        self.channel_binding = Some(exporter);
    }

    /// Answers [`ServerEvent::AuthDecision`].
    pub fn answer_auth_decision(&mut self, answer: sasl::Answer) -> Result<(), Error> {
        if self.pending != Pending::AuthHost {
            return Err(Error::ApiMisuse("no SASL decision is awaited"));
        }
        let Some(server) = self.sasl.as_mut() else {
            return Err(Error::ApiMisuse(
                "the host runs this SASL mechanism: use answer_auth",
            ));
        };
        let step = server.answer(answer);
        self.pending = Pending::None;
        self.sasl_step(step);
        self.process();
        Ok(())
    }

    /// Answers [`ServerEvent::Authenticate`] or [`ServerEvent::AuthResponse`].
    pub fn answer_auth(&mut self, step: AuthStep) -> Result<(), Error> {
        if self.pending != Pending::AuthHost || self.sasl.is_some() {
            return Err(Error::ApiMisuse("no SASL step is awaited"));
        }
        match step {
            AuthStep::Challenge(data) => {
                let mut out = Vec::new();
                response::encode_string_line(&mut out, BASE64.encode(data).as_bytes());
                self.send(out);
                self.pending = Pending::AuthClient;
                return Ok(());
            }
            AuthStep::Success { owner, data } => self.auth_success(owner, data),
            AuthStep::Failure { code, text } => {
                self.pending = Pending::None;
                self.auth_failed(&StatusResponse {
                    status: Status::No,
                    code,
                    text: Some(text),
                });
            }
        }
        self.pending = Pending::None;
        self.process();
        Ok(())
    }

    /// Answers [`ServerEvent::ValidateScript`].
    pub fn answer_validation(&mut self, validation: Validation) -> Result<(), Error> {
        let Pending::Validate(after) = std::mem::replace(&mut self.pending, Pending::None) else {
            return Err(Error::ApiMisuse("no script validation is awaited"));
        };
        self.validated(after, validation);
        self.process();
        Ok(())
    }

    /// Answers [`ServerEvent::Script`].
    pub fn answer_script(&mut self, answer: Result<ScriptReply, StoreError>) -> Result<(), Error> {
        let Pending::Script(expect) = &self.pending else {
            return Err(Error::ApiMisuse("no script request is awaited"));
        };
        match (expect, answer) {
            (_, Err(e)) => self.respond(&e.to_response()),
            (Expect::Done { warnings }, Ok(ScriptReply::Done)) => {
                let r = match warnings {
                    Some(w) => {
                        StatusResponse::new(Status::Ok, w.clone()).with_code(ResponseCode::Warnings)
                    }
                    None => StatusResponse::ok(),
                };
                self.respond(&r);
            }
            (Expect::List, Ok(ScriptReply::List(entries))) => {
                let mut out = Vec::new();
                let mut active_seen = false;
                for e in entries {
                    super::wire::write_string(
                        &mut out,
                        e.name.as_str().as_bytes(),
                        super::wire::Direction::ServerToClient,
                    );
                    // "ACTIVE MUST NOT appear on more than one response line".
                    if e.active && !active_seen {
                        out.extend_from_slice(b" ACTIVE");
                        active_seen = true;
                    }
                    out.extend_from_slice(b"\r\n");
                }
                StatusResponse::ok().encode(&mut out);
                self.send(out);
            }
            (Expect::Script, Ok(ScriptReply::Script(script))) => {
                let mut out = Vec::with_capacity(script.len() + 16);
                response::encode_string_line(&mut out, &script);
                StatusResponse::ok().encode(&mut out);
                self.send(out);
            }
            _ => return Err(Error::ApiMisuse("answer does not fit the script request")),
        }
        self.pending = Pending::None;
        self.process();
        Ok(())
    }

    fn send(&mut self, bytes: Vec<u8>) {
        if let Some(ServerOutput::Transmit(last)) = self.output.back_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.output.push_back(ServerOutput::Transmit(bytes));
        }
    }

    fn respond(&mut self, r: &StatusResponse) {
        self.send(r.to_bytes());
    }

    fn no(&mut self, text: &str) {
        self.respond(&StatusResponse::no(text));
    }

    fn event(&mut self, e: ServerEvent) {
        self.output.push_back(ServerOutput::Event(e));
    }

    fn bye(&mut self, r: &StatusResponse) {
        self.respond(r);
        self.output.push_back(ServerOutput::Close);
        self.state = State::Closed;
        self.pending = Pending::None;
        self.framer.clear();
    }

    fn send_capabilities(&mut self) {
        let mut out = Vec::new();
        self.capabilities().encode(&mut out);
        self.send(out);
    }

    fn auth_failed(&mut self, r: &StatusResponse) {
        self.auth_failures += 1;
        if self.auth_failures >= self.config.limits.max_auth_failures {
            self.bye(&StatusResponse::new(
                Status::Bye,
                "Too many failed authentication attempts",
            ));
        } else {
            self.respond(r);
        }
    }

    fn bad_command(&mut self, text: &str) {
        self.bad_commands += 1;
        if self.bad_commands >= self.config.limits.max_bad_commands {
            self.bye(&StatusResponse::new(
                Status::Bye,
                "Too many invalid commands",
            ));
        } else {
            self.no(text);
        }
    }

    /// Handles complete units while nothing is awaited.
    fn process(&mut self) {
        while matches!(self.pending, Pending::None | Pending::AuthClient)
            && self.state != State::Closed
        {
            let Some(frame) = self.framer.next() else {
                return;
            };
            match frame {
                Frame::Dropped(o) => self.oversize(&o),
                Frame::Unit(n) => {
                    if self.pending == Pending::AuthClient {
                        let parsed = command::parse_auth_response(
                            &self.framer.bytes()[..n],
                            self.config.parse,
                        )
                        .map(|r| match r {
                            AuthResponse::Data(d) => AuthResponse::Data(d.into_owned().into()),
                            AuthResponse::Cancel => AuthResponse::Cancel,
                        });
                        self.framer.consume(n);
                        self.auth_response(parsed.ok());
                    } else {
                        let parsed =
                            command::parse_command(&self.framer.bytes()[..n], self.config.parse)
                                .map(Command::into_owned);
                        self.framer.consume(n);
                        match parsed {
                            Ok(cmd) => {
                                self.bad_commands = 0;
                                self.command(cmd);
                            }
                            Err(e) => self.bad_command(&command_error_text(&e)),
                        }
                    }
                }
            }
        }
    }

    fn auth_success(&mut self, owner: String, data: Option<Vec<u8>>) {
        let mut r = StatusResponse::new(Status::Ok, "Logged in");
        if let Some(d) = data {
            r.code = Some(ResponseCode::Sasl(d));
        }
        self.respond(&r);
        self.state = State::Auth { owner };
        self.auth_failures = 0;
    }

    /// Acts on what the session's own SASL exchange wants next.
    fn sasl_step(&mut self, step: ServerStep) {
        match step {
            ServerStep::Challenge(data) => {
                let mut out = Vec::new();
                response::encode_string_line(&mut out, BASE64.encode(data).as_bytes());
                self.send(out);
                self.pending = Pending::AuthClient;
            }
            ServerStep::Need(decision) => {
                self.pending = Pending::AuthHost;
                self.event(ServerEvent::AuthDecision(decision));
            }
            ServerStep::Success(who) => {
                self.sasl = None;
                self.pending = Pending::None;
                let owner = who.identity().to_owned();
                self.auth_success(owner, who.additional_data);
            }
            ServerStep::Failure(f) => {
                self.sasl = None;
                self.pending = Pending::None;
                match f.reason {
                    sasl::FailureReason::Cancelled => self.no("Authentication cancelled"),
                    sasl::FailureReason::TempFail => self.respond(
                        &StatusResponse::no("Temporary authentication failure")
                            .with_code(ResponseCode::TryLater),
                    ),
                    sasl::FailureReason::Malformed => {
                        self.auth_failed(&StatusResponse::no("Malformed SASL message"));
                    }
                    sasl::FailureReason::TooLong => {
                        self.auth_failed(&StatusResponse::no("SASL response too long"));
                    }
                    _ => self.auth_failed(&StatusResponse::no("Authentication failed")),
                }
            }
            _ => {
                self.sasl = None;
                self.pending = Pending::None;
                self.auth_failed(&StatusResponse::no("Authentication failed"));
            }
        }
    }

    fn auth_response(&mut self, parsed: Option<AuthResponse<'static>>) {
        self.pending = Pending::None;
        if let Some(server) = self.sasl.as_mut() {
            let step = match parsed {
                Some(AuthResponse::Data(b64)) => {
                    if let Ok(bytes) = BASE64.decode(&b64) {
                        server.respond(&bytes)
                    } else {
                        self.sasl = None;
                        self.auth_failed(&StatusResponse::no("Invalid base64 in SASL response"));
                        return;
                    }
                }
                Some(AuthResponse::Cancel) => server.cancel(),
                None => {
                    self.sasl = None;
                    self.auth_failed(&StatusResponse::no("Invalid SASL response"));
                    return;
                }
            };
            self.sasl_step(step);
            return;
        }
        let decoded = match parsed {
            Some(AuthResponse::Cancel) => {
                self.event(ServerEvent::AuthCancelled);
                self.no("Authentication cancelled");
                return;
            }
            Some(AuthResponse::Data(b64)) => BASE64.decode(&b64).ok(),
            None => None,
        };
        if let Some(response) = decoded {
            self.pending = Pending::AuthHost;
            self.event(ServerEvent::AuthResponse { response });
        } else {
            self.event(ServerEvent::AuthCancelled);
            self.auth_failed(&StatusResponse::no("Invalid SASL response"));
        }
    }

    fn oversize(&mut self, o: &Oversize) {
        if self.pending == Pending::AuthClient {
            self.pending = Pending::None;
            if self.sasl.take().is_none() {
                self.event(ServerEvent::AuthCancelled);
            }
            self.auth_failed(&StatusResponse::no("SASL response too long"));
            return;
        }
        let name = command::command_name(&o.head);
        let max = self.config.limits.max_script_size;
        match (name, o.kind) {
            (
                Some("PUTSCRIPT"),
                OversizeKind::LiteralTooLarge { .. } | OversizeKind::UnitTooLarge,
            ) => {
                self.respond(
                    &StatusResponse::no(format!("Script too large (the limit is {max} octets)"))
                        .with_code(ResponseCode::Quota(QuotaKind::MaxSize)),
                );
            }
            (_, OversizeKind::LiteralTooLarge { .. } | OversizeKind::UnitTooLarge) => {
                self.bad_command(&format!("Literal too large (the limit is {max} octets)"));
            }
            (_, OversizeKind::LineTooLong) => self.bad_command("Line too long"),
        }
    }

    fn check_name(&mut self, name: &ScriptName) -> bool {
        if name.as_str().len() > self.config.limits.max_script_name {
            let max = self.config.limits.max_script_name;
            self.no(&format!("Script name too long (the limit is {max} octets)"));
            false
        } else {
            true
        }
    }

    fn script_request(&mut self, req: ScriptRequest, expect: Expect) {
        self.pending = Pending::Script(expect);
        self.event(ServerEvent::Script(req));
    }

    fn command(&mut self, cmd: Command<'static>) {
        let authed = self.is_authenticated();
        match cmd {
            Command::Capability => self.send_capabilities(),
            Command::Noop { tag } => {
                let mut r = StatusResponse::new(Status::Ok, "NOOP completed");
                if let Some(t) = tag {
                    r = StatusResponse::new(Status::Ok, "Done")
                        .with_code(ResponseCode::Tag(t.into_owned()));
                }
                self.respond(&r);
            }
            Command::Logout => {
                self.respond(&StatusResponse::new(Status::Ok, "Logout completed"));
                self.output.push_back(ServerOutput::Close);
                self.state = State::Closed;
                self.framer.clear();
            }
            Command::StartTls => {
                if authed {
                    self.no("STARTTLS is not allowed after authentication");
                } else if self.tls {
                    self.no("TLS is already active");
                } else if !self.config.starttls {
                    self.no("STARTTLS is not available");
                } else {
                    self.respond(&StatusResponse::new(
                        Status::Ok,
                        "Begin TLS negotiation now",
                    ));
                    self.output.push_back(ServerOutput::StartTls);
                    // Anything the client pipelined after STARTTLS is plaintext that
                    // must not survive into the TLS session.
                    self.framer.clear();
                    self.pending = Pending::Tls;
                }
            }
            Command::Authenticate {
                mechanism,
                initial_response,
            } => self.authenticate(&mechanism, initial_response.as_deref()),
            Command::Unauthenticate => {
                if authed {
                    self.state = State::NonAuth;
                    self.respond(&StatusResponse::ok());
                    self.event(ServerEvent::Unauthenticated);
                } else {
                    self.no("Not authenticated");
                }
            }
            _ if !authed => self.bad_command("Authenticate first"),
            Command::HaveSpace { name, size } => {
                if !self.check_name(&name) {
                } else if size as usize > self.config.limits.max_script_size {
                    self.respond(&StoreError::Quota(QuotaKind::MaxSize).to_response());
                } else {
                    self.script_request(
                        ScriptRequest::HaveSpace { name, size },
                        Expect::Done { warnings: None },
                    );
                }
            }
            Command::PutScript { name, script } => {
                if !self.check_name(&name) {
                } else if script.is_empty() {
                    self.no("Empty scripts are not allowed");
                } else {
                    self.validate(Some(name), script.into_owned());
                }
            }
            Command::CheckScript { script } => self.validate(None, script.into_owned()),
            Command::ListScripts => self.script_request(ScriptRequest::List, Expect::List),
            Command::SetActive { name } => {
                if name.as_ref().is_none_or(|n| self.check_name(n)) {
                    self.script_request(
                        ScriptRequest::SetActive { name },
                        Expect::Done { warnings: None },
                    );
                }
            }
            Command::GetScript { name } => {
                if self.check_name(&name) {
                    self.script_request(ScriptRequest::Get { name }, Expect::Script);
                }
            }
            Command::DeleteScript { name } => {
                if self.check_name(&name) {
                    self.script_request(
                        ScriptRequest::Delete { name },
                        Expect::Done { warnings: None },
                    );
                }
            }
            Command::RenameScript { old, new } => {
                if self.check_name(&old) && self.check_name(&new) {
                    self.script_request(
                        ScriptRequest::Rename { old, new },
                        Expect::Done { warnings: None },
                    );
                }
            }
        }
    }

    fn authenticate(&mut self, mechanism: &str, initial: Option<&[u8]>) {
        if self.is_authenticated() {
            self.no("Already authenticated");
            return;
        }
        let known = self
            .config
            .sasl_mechanisms
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism));
        if !known {
            self.auth_failed(&StatusResponse::no("Unsupported authentication mechanism"));
            return;
        }
        if self.config.require_tls_for_auth && !self.tls {
            self.auth_failed(
                &StatusResponse::no("Authentication requires TLS: use STARTTLS first")
                    .with_code(ResponseCode::EncryptNeeded),
            );
            return;
        }
        let initial_response = match initial.map(|b| BASE64.decode(b)) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(_)) => {
                self.auth_failed(&StatusResponse::no(
                    "Invalid base64 in the initial response",
                ));
                return;
            }
        };
        if !self.config.host_sasl
            && let Some(mech) = Mechanism::from_name(mechanism.as_bytes())
        {
            let Ok(nonce) = Nonce::generate() else {
                self.respond(
                    &StatusResponse::no("Temporary authentication failure")
                        .with_code(ResponseCode::TryLater),
                );
                return;
            };
            let mut options = sasl::ServerOptions::default();
            // ManageSieve carries the final server data in OK (SASL "...") (RFC 5804 §2.1).
            options.final_data = FinalData::WithSuccess;
            // Binding data means "this server supports channel binding" to SCRAM, which
            // then refuses a client's "y" flag as a downgrade: give it only when the PLUS
            // variant is offered.
            let plus_offered = self
                .config
                .sasl_mechanisms
                .iter()
                .any(|m| m.eq_ignore_ascii_case("SCRAM-SHA-256-PLUS"));
            if plus_offered {
                options.channel_binding = self.channel_binding.clone().map(sasl::Secret::new);
            }
            options.max_response_len = self.config.limits.max_line;
            let mut server = SaslServer::new(mech, &options, nonce);
            let step = server.start(initial_response.as_deref());
            self.sasl = Some(server);
            self.sasl_step(step);
            return;
        }
        self.pending = Pending::AuthHost;
        self.event(ServerEvent::Authenticate {
            mechanism: mechanism.to_ascii_uppercase(),
            initial_response,
        });
    }

    /// Starts validating a script for PUTSCRIPT (`name` given) or CHECKSCRIPT.
    fn validate(&mut self, name: Option<ScriptName>, script: Vec<u8>) {
        // Sieve scripts are UTF-8 (RFC 5228 §2.1); no validator needs to see other bytes.
        if std::str::from_utf8(&script).is_err() {
            self.no("Script is not valid UTF-8");
            return;
        }
        match &self.config.script_check {
            ScriptCheck::Compiler(options) => {
                let validation = compile_validation(&script, options);
                let after = match name {
                    Some(name) => AfterValidate::Put { name, script },
                    None => AfterValidate::Check,
                };
                self.validated(after, validation);
            }
            ScriptCheck::Host => {
                let after = match name {
                    Some(name) => AfterValidate::Put {
                        name,
                        script: script.clone(),
                    },
                    None => AfterValidate::Check,
                };
                self.pending = Pending::Validate(after);
                self.event(ServerEvent::ValidateScript { script });
            }
        }
    }

    fn validated(&mut self, after: AfterValidate, v: Validation) {
        match (after, v) {
            (_, Validation::Invalid { message }) => self.no(&message),
            (AfterValidate::Check, Validation::Valid { warnings }) => {
                let r = match warnings {
                    Some(w) => StatusResponse::new(Status::Ok, w).with_code(ResponseCode::Warnings),
                    None => StatusResponse::ok(),
                };
                self.respond(&r);
            }
            (AfterValidate::Put { name, script }, Validation::Valid { warnings }) => {
                self.script_request(
                    ScriptRequest::Put { name, script },
                    Expect::Done { warnings },
                );
            }
        }
    }
}

fn command_error_text(e: &CommandError) -> String {
    match e {
        CommandError::Unknown(_) | CommandError::Garbage(_) => "Unknown command".into(),
        other => other.to_string(),
    }
}
