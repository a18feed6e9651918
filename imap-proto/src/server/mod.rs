//! The server session: a state machine that reads commands and writes responses, with no I/O.
//!
//! ```text
//!            +----------------------+
//!            |  not authenticated   |<------------------- UNAUTHENTICATE
//!            +----------------------+                          ^
//!              | LOGIN / AUTHENTICATE OK (or PREAUTH)          |
//!              v                                               |
//!            +----------------------+  SELECT/EXAMINE OK  +----------+
//!            |    authenticated     |-------------------->| selected |
//!            |                      |<--------------------|          |
//!            +----------------------+  CLOSE / UNSELECT / +----------+
//!              | LOGOUT (any state)     failed SELECT
//!              v
//!            +----------------------+
//!            |        logout        |  (BYE sent, then Close)
//!            +----------------------+
//! ```
//!
//! # Drive contract
//!
//! Feed received bytes with [`ServerSession::handle_input`], then drain
//! [`ServerSession::poll_output`] until it returns `None`, after every call that changes the
//! session (input, a timeout, any answer from the host). Outputs come in order: bytes to send,
//! events for the host, and the points where the transport changes (`StartTls`,
//! `StartCompression`) or ends (`Close`). Bytes queued before such a point must be written
//! before acting on it.
//!
//! The host answers each [`ServerEvent`] that carries a [`CommandId`]:
//!
//! | event | the host answers with |
//! | --- | --- |
//! | [`ServerEvent::Command`] | [`untagged`](ServerSession::untagged) data, then [`complete`](ServerSession::complete) (or [`select_ok`](ServerSession::select_ok), [`search_done`](ServerSession::search_done)) |
//! | [`ServerEvent::Auth`] | [`auth_answer`](ServerSession::auth_answer) |
//! | [`ServerEvent::AppendMessage`] | [`append_accept`](ServerSession::append_accept) or [`append_reject`](ServerSession::append_reject) |
//! | [`ServerEvent::AppendDone`] | [`complete`](ServerSession::complete) with `APPENDUID` |
//! | [`ServerEvent::Idle`] | [`idle_accept`](ServerSession::idle_accept) (then updates via `untagged`) |
//! | [`ServerEvent::IdleDone`] | [`complete`](ServerSession::complete) |
//!
//! The session itself answers CAPABILITY, LOGOUT, STARTTLS, ENABLE and COMPRESS, refuses
//! commands that are invalid in the current state, enforces LOGINDISABLED before TLS
//! (IMAP-006), runs SASL (`smtp_proto::sasl`), and orders pipelined commands by RFC 3501 §5.5
//! (IMAP-004): commands that only read run concurrently; anything else waits until every
//! earlier command has completed and holds back every later one. Untagged `EXPUNGE`/`VANISHED`
//! that the host reports while a FETCH, STORE or SEARCH (not their UID forms) is in progress
//! are held back until that is allowed (RFC 9051 §7.5.1), and the mailbox tracker keeps the
//! old numbering until they are sent.
//!
//! ```no_run
//! use std::time::Instant;
//! use imap_proto::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};
//! use imap_proto::types::StatusKind;
//! # fn read_from_peer() -> Vec<u8> { Vec::new() }
//! # fn write_to_peer(_: &[u8]) {}
//!
//! let mut session = ServerSession::new(ServerConfig::default(), Instant::now());
//! loop {
//!     while let Some(out) = session.poll_output() {
//!         match out {
//!             ServerOutput::Transmit(bytes) => write_to_peer(&bytes),
//!             ServerOutput::Event(ServerEvent::Command { id, command }) => {
//!                 // Execute `command` against the store, send data, then:
//!                 session.complete(id, StatusKind::Ok, None, "done");
//!             }
//!             ServerOutput::Event(ServerEvent::Auth { id, .. }) => {
//!                 session.auth_answer(id, smtp_proto::sasl::Answer::Reject);
//!             }
//!             ServerOutput::Close => return,
//!             _ => {}
//!         }
//!     }
//!     let input = read_from_peer();
//!     if session.handle_input(Instant::now(), &input).is_err() {
//!         return;
//!     }
//! }
//! ```

mod append;
mod auth;
mod exec;

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use smtp_proto::sasl::{Decision, Mechanism, Nonce, ServerOptions};

use crate::codec::DecodeOptions;
use crate::codec::encode::{Enc, EncodeOptions};
use crate::fragment::{Direction, Framer};
use crate::selected::SelectedMailbox;
use crate::types::command::Command;
use crate::types::core::{Atom, Tag, Text};
use crate::types::datetime::DateTime;
use crate::types::flag::Flag;
use crate::types::mailbox::Mailbox;
use crate::types::response::{Code, Data, Response, StatusKind, StatusResponse};

pub use self::exec::SelectInfo;

/// Identifies a command in flight; answers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(u64);

/// The protocol state (RFC 9051 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Before login.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// LOGOUT done or the connection is closing.
    Logout,
}

/// Session settings. `Default` gives safe values; every limit is explicit.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Offer IMAP4rev1 (default true).
    pub rev1: bool,
    /// Offer IMAP4rev2 (default true). With both, a client chooses rev2 with `ENABLE IMAP4rev2`.
    pub rev2: bool,
    /// Extension capabilities the host implements (beyond what the session handles itself),
    /// e.g. `UIDPLUS`, `MOVE`, `CONDSTORE`, `SPECIAL-USE`. Advertised after login.
    pub extensions: Vec<Atom<'static>>,
    /// Capabilities `ENABLE` may turn on (RFC 5161): a subset of `CONDSTORE`, `QRESYNC`,
    /// `UTF8=ACCEPT`, `IMAP4rev2`, `METADATA`, ... that the host supports.
    pub enableable: Vec<Atom<'static>>,
    /// SASL mechanisms offered (default PLAIN and LOGIN, which need TLS unless
    /// `allow_insecure_auth`).
    pub mechanisms: Vec<Mechanism>,
    /// SASL server settings (response limit, CRAM-MD5 host name).
    pub sasl: ServerOptions,
    /// The connection is already protected (implicit TLS on 993, or a trusted local socket).
    pub tls_active: bool,
    /// The transport can start TLS on STARTTLS.
    pub starttls_available: bool,
    /// The transport can start COMPRESS=DEFLATE.
    pub compress_available: bool,
    /// Allow LOGIN and password mechanisms without TLS (default false: LOGINDISABLED, RFC 9051
    /// §6.2.3 / IMAP-006). Set it for loopback only.
    pub allow_insecure_auth: bool,
    /// Greeting text.
    pub greeting: String,
    /// Greet with PREAUTH as this user instead of OK (e.g. a local tunnel).
    pub preauth: Option<String>,
    /// Largest command kept in memory, literals included, APPEND data excluded (default
    /// 64 KiB, like imap-next's command allowance).
    pub max_command_size: usize,
    /// Largest APPEND message accepted, also advertised as `APPENDLIMIT=` (default 64 MiB).
    pub max_append_size: u32,
    /// Commands parsed ahead of execution (pipelining), default 32. Beyond it the session
    /// stops reading ([`ServerSession::wants_input`]).
    pub max_pipelined: usize,
    /// Read-only commands executed concurrently, default 8.
    pub max_concurrent: usize,
    /// Unread input the session accepts before refusing more (default 1 MiB).
    pub max_buffered: usize,
    /// Inactivity before logout when not authenticated (default 60 s; IMAP-020).
    pub unauth_timeout: Duration,
    /// Inactivity before logout when authenticated, IDLE included (default 30 min, RFC 9051
    /// §5.4).
    pub auth_timeout: Duration,
    /// Failed authentications before the session is closed (default 3).
    pub max_auth_failures: u32,
    /// Parser leniencies (strict by default).
    pub decode: DecodeOptions,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let atoms = |v: &[&'static str]| -> Vec<Atom<'static>> {
            v.iter().filter_map(|s| Atom::new(*s).ok()).collect()
        };
        Self {
            rev1: true,
            rev2: true,
            extensions: atoms(&["UIDPLUS", "MOVE", "UNSELECT", "NAMESPACE", "CHILDREN"]),
            enableable: atoms(&["IMAP4rev2", "UTF8=ACCEPT"]),
            mechanisms: vec![Mechanism::Plain, Mechanism::Login],
            sasl: ServerOptions::default(),
            tls_active: false,
            starttls_available: false,
            compress_available: false,
            allow_insecure_auth: false,
            greeting: "IMAP server ready".into(),
            preauth: None,
            max_command_size: 64 * 1024,
            max_append_size: 64 * 1024 * 1024,
            max_pipelined: 32,
            max_concurrent: 8,
            max_buffered: 1024 * 1024,
            unauth_timeout: Duration::from_mins(1),
            auth_timeout: Duration::from_mins(30),
            max_auth_failures: 3,
            decode: DecodeOptions::default(),
        }
    }
}

/// Something the host must know or answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A command for the host to execute. Answer with [`ServerSession::untagged`] data and
    /// [`ServerSession::complete`].
    Command {
        /// Answer with this.
        id: CommandId,
        /// The command.
        command: Command<'static>,
    },
    /// Credentials to check (LOGIN, or a SASL step of AUTHENTICATE). Answer with
    /// [`ServerSession::auth_answer`].
    Auth {
        /// Answer with this.
        id: CommandId,
        /// The SASL mechanism, or `None` for the LOGIN command.
        mechanism: Option<Mechanism>,
        /// What to decide.
        decision: Decision,
    },
    /// Authentication succeeded; the session is now authenticated as `identity`.
    Authenticated {
        /// The identity to act as (authzid if given, else the user name).
        identity: String,
        /// The authenticated user name.
        authcid: String,
        /// The SASL mechanism, or `None` for LOGIN.
        mechanism: Option<Mechanism>,
    },
    /// An APPEND message is announced. Answer [`ServerSession::append_accept`] (its data then
    /// arrives as [`ServerEvent::AppendData`]) or [`ServerSession::append_reject`] (e.g.
    /// `NO [TRYCREATE]`). Sizes above `max_append_size` are refused before this.
    AppendMessage {
        /// The APPEND command.
        id: CommandId,
        /// Target mailbox.
        mailbox: Mailbox<'static>,
        /// Flags, if given.
        flags: Option<Vec<Flag<'static>>>,
        /// Internal date, if given.
        date: Option<DateTime>,
        /// Message size in bytes.
        size: u32,
        /// Sent as literal8 (`~{n}`, BINARY): may hold NUL bytes.
        binary: bool,
        /// Position in a MULTIAPPEND (0 for the first).
        index: usize,
    },
    /// Bytes of the accepted message, in order.
    AppendData {
        /// The APPEND command.
        id: CommandId,
        /// The next bytes.
        data: Vec<u8>,
    },
    /// The current message's data is complete.
    AppendMessageEnd {
        /// The APPEND command.
        id: CommandId,
    },
    /// Every message of the APPEND arrived: store them (MULTIAPPEND is all or nothing) and
    /// [`complete`](ServerSession::complete) with `APPENDUID`.
    AppendDone {
        /// The APPEND command.
        id: CommandId,
    },
    /// The APPEND failed after data was accepted (bad syntax after a literal): discard what
    /// was received. The session has answered `BAD`.
    AppendAborted {
        /// The APPEND command.
        id: CommandId,
    },
    /// IDLE requested: [`ServerSession::idle_accept`] sends `+ idling`, after which pushed
    /// updates go out at once; or refuse with [`ServerSession::complete`].
    Idle {
        /// The IDLE command.
        id: CommandId,
    },
    /// The client sent DONE: send pending updates and complete the IDLE command.
    IdleDone {
        /// The IDLE command.
        id: CommandId,
    },
    /// Capabilities enabled by ENABLE (QRESYNC implies CONDSTORE).
    Enabled(Vec<Atom<'static>>),
    /// The client sent bytes after STARTTLS or COMPRESS before the switch; they were dropped
    /// (command injection defence, RFC 9051 §6.2.1).
    InputDiscarded {
        /// How many bytes.
        bytes: usize,
    },
    /// The client logged out, or the session ended (timeout, too many failures).
    Logout,
}

/// What the session wants done.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerOutput {
    /// Send these bytes.
    Transmit(Vec<u8>),
    /// Tell the host.
    Event(ServerEvent),
    /// After writing everything before this, start TLS, then call
    /// [`ServerSession::tls_started`].
    StartTls,
    /// After writing everything before this, compress (raw DEFLATE, RFC 4978) both ways.
    StartCompression,
    /// After writing everything before this, close the connection.
    Close,
}

/// Misuse or a fatal condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// The session has ended; no more input is read.
    Closed,
    /// The peer sent more than `max_buffered` bytes the session could not process yet.
    InputOverflow,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("session closed"),
            Self::InputOverflow => f.write_str("too much unprocessed input"),
        }
    }
}

impl std::error::Error for ServerError {}

/// How a pending command is scheduled (RFC 3501 §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Only reads: may run beside other readers.
    Reader,
    /// Changes something or depends on order: runs alone.
    Exclusive,
}

#[derive(Debug)]
struct Pending {
    id: CommandId,
    command: Command<'static>,
}

#[derive(Debug)]
struct InFlight {
    id: CommandId,
    tag: Tag<'static>,
    kind: Kind,
    class: Class,
}

/// What the session must do when a command completes.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Host,
    /// FETCH/STORE/SEARCH (not UID): no EXPUNGE while it runs.
    NoExpunge,
    Select {
        read_only: bool,
        condstore: bool,
    },
    Close,
    Unauthenticate,
    Search(exec::SearchSpec),
    Idle {
        accepted: bool,
    },
    Append,
    Auth,
}

/// What the next framed message is.
#[derive(Debug)]
enum Phase {
    Commands,
    /// A SASL challenge was sent; the next line is the client's response.
    SaslResponse,
    /// IDLE accepted or requested: the next line should be DONE.
    Idle,
}

/// The server side of one IMAP connection.
pub struct ServerSession {
    cfg: ServerConfig,
    state: State,
    framer: Framer,
    out: VecDeque<ServerOutput>,
    pending: VecDeque<Pending>,
    in_flight: Vec<InFlight>,
    next_id: u64,
    phase: Phase,
    /// A parsed command changes how what follows is read: stop framing until it runs.
    parse_blocked: bool,
    tls: bool,
    compressing: bool,
    enabled: Vec<Atom<'static>>,
    selected: Option<SelectedMailbox>,
    /// UIDs expunged by the host, not yet announced.
    deferred_expunges: Vec<u32>,
    /// SEARCHRES `$` (RFC 5182): numbers and whether they are UIDs.
    saved_search: Option<(Vec<u32>, bool)>,
    sasl: Option<auth::SaslState>,
    auth_failures: u32,
    append: Option<append::AppendState>,
    last_activity: Instant,
    closed: bool,
    nonce: Box<dyn FnMut() -> Option<Nonce> + Send>,
}

impl fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSession")
            .field("state", &self.state)
            .field("tls", &self.tls)
            .field("pending", &self.pending.len())
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl ServerSession {
    /// A session that greets at once (the greeting is the first output).
    pub fn new(cfg: ServerConfig, now: Instant) -> Self {
        let mut s = Self {
            framer: Framer::new(Direction::Command, cfg.max_command_size),
            state: State::NotAuthenticated,
            tls: cfg.tls_active,
            cfg,
            out: VecDeque::new(),
            pending: VecDeque::new(),
            in_flight: Vec::new(),
            next_id: 0,
            phase: Phase::Commands,
            parse_blocked: false,
            compressing: false,
            enabled: Vec::new(),
            selected: None,
            deferred_expunges: Vec::new(),
            saved_search: None,
            sasl: None,
            auth_failures: 0,
            append: None,
            last_activity: now,
            closed: false,
            nonce: Box::new(|| Nonce::generate().ok()),
        };
        s.greet();
        s
    }

    /// Replaces the source of SASL nonces (randomness is an input: tests and fuzzers pass
    /// fixed values).
    pub fn set_nonce_source(&mut self, f: impl FnMut() -> Option<Nonce> + Send + 'static) {
        self.nonce = Box::new(f);
    }

    fn greet(&mut self) {
        let caps = self.capabilities();
        let (kind, text) = match &self.cfg.preauth {
            Some(user) => {
                self.state = State::Authenticated;
                (StatusKind::PreAuth, format!("Logged in as {user}"))
            }
            None => (StatusKind::Ok, self.cfg.greeting.clone()),
        };
        let mut e = Enc::new(self.enc_opts(), false);
        e.greeting(&crate::types::response::Greeting {
            kind,
            code: Some(Code::Capability(caps)),
            text: text_of(&text),
        });
        self.transmit(e.finish().into_bytes());
    }

    /// The current protocol state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the transport is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Capabilities turned on with ENABLE.
    pub fn enabled(&self) -> &[Atom<'static>] {
        &self.enabled
    }

    /// Whether a capability was enabled (case-insensitive).
    pub fn is_enabled(&self, cap: &str) -> bool {
        self.enabled.iter().any(|a| a.eq_ignore_case(cap))
    }

    /// Whether IMAP4rev2 rules apply to responses (rev2 enabled, or offered without rev1).
    pub fn rev2(&self) -> bool {
        (self.cfg.rev2 && !self.cfg.rev1) || self.is_enabled("IMAP4rev2")
    }

    fn utf8(&self) -> bool {
        self.rev2() || self.is_enabled("UTF8=ACCEPT")
    }

    fn enc_opts(&self) -> EncodeOptions {
        EncodeOptions::default().with_utf8(self.utf8())
    }

    /// The selected mailbox's tracker.
    pub fn selected(&self) -> Option<&SelectedMailbox> {
        self.selected.as_ref()
    }

    /// The selected mailbox's tracker, to change (prefer [`Self::new_message`] and
    /// [`Self::expunged`], which also send the responses).
    pub fn selected_mut(&mut self) -> Option<&mut SelectedMailbox> {
        self.selected.as_mut()
    }

    /// The saved SEARCH result (`$`): numbers and whether they are UIDs.
    pub fn saved_search(&self) -> Option<(&[u32], bool)> {
        self.saved_search.as_ref().map(|(v, u)| (v.as_slice(), *u))
    }

    /// The capability list for the current state.
    pub fn capabilities(&self) -> crate::types::core::Vec1<Atom<'static>> {
        let mut v: Vec<Atom<'static>> = Vec::new();
        let mut push = |s: &str| {
            if let Ok(a) = Atom::new(s.to_owned()) {
                v.push(a);
            }
        };
        if self.cfg.rev1 {
            push("IMAP4rev1");
        }
        if self.cfg.rev2 {
            push("IMAP4rev2");
        }
        let secure = self.tls || self.cfg.allow_insecure_auth;
        if self.state == State::NotAuthenticated {
            {
                if self.cfg.starttls_available && !self.tls {
                    push("STARTTLS");
                }
                if !secure {
                    push("LOGINDISABLED");
                }
                for m in &self.cfg.mechanisms {
                    if secure || !m.reveals_secret() {
                        push(&format!("AUTH={}", m.name()));
                    }
                }
                push("SASL-IR");
                push("LITERAL+");
                push("ID");
                push("ENABLE");
                push("IDLE");
            }
        } else {
            {
                push("LITERAL+");
                push("ID");
                push("ENABLE");
                push("IDLE");
                push(&format!("APPENDLIMIT={}", self.cfg.max_append_size));
                if self.cfg.compress_available && !self.compressing {
                    push("COMPRESS=DEFLATE");
                }
                for e in &self.cfg.extensions {
                    push(e.as_str());
                }
                for e in &self.cfg.enableable {
                    push(e.as_str());
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        v.retain(|a| seen.insert(a.as_str().to_ascii_uppercase()));
        crate::types::core::Vec1::try_from(v)
            .unwrap_or_else(|_| crate::types::core::Vec1::new(Atom::unvalidated("IMAP4rev1")))
    }

    /// Whether the session can take more input now (the adapter stops reading otherwise).
    pub fn wants_input(&self) -> bool {
        !self.closed
            && self.pending.len() < self.cfg.max_pipelined
            && self.framer.buffered() < self.cfg.max_buffered
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }

    /// When [`Self::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let t = if self.state == State::NotAuthenticated {
            self.cfg.unauth_timeout
        } else {
            self.cfg.auth_timeout
        };
        Some(self.last_activity + t)
    }

    /// Time passed: logs out an inactive session (`* BYE Autologout`).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout()
            && now >= deadline
        {
            self.bye("Autologout; idle for too long");
        }
    }

    /// Bytes received from the client.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ServerError> {
        if self.closed {
            return Err(ServerError::Closed);
        }
        if !bytes.is_empty() {
            self.last_activity = now;
        }
        if self.framer.buffered() + bytes.len() > self.cfg.max_buffered + self.cfg.max_command_size
        {
            self.bye("Too much input");
            return Err(ServerError::InputOverflow);
        }
        self.framer.push(bytes);
        self.process();
        Ok(())
    }

    /// The TLS connection's `tls-exporter` channel binding (RFC 9266), for
    /// SCRAM-SHA-256-PLUS. The tokio adapter sets it after every handshake.
    pub fn set_channel_binding(&mut self, binding: Vec<u8>) {
        self.cfg.sasl.channel_binding = Some(smtp_proto::sasl::Secret::new(binding));
    }

    /// The adapter finished the TLS handshake started by [`ServerOutput::StartTls`].
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.process();
    }

    // --- answers -------------------------------------------------------------------------

    /// Sends untagged data. `EXPUNGE`/`VANISHED` are better reported with
    /// [`Self::expunged`], which keeps the tracker in step; sent here they go out as given.
    /// Under IMAP4rev2, `RECENT` is dropped, `\Recent` is removed from FETCH flags and a
    /// `SEARCH` becomes `ESEARCH`.
    pub fn untagged(&mut self, data: &Data<'_>) {
        if self.closed {
            return;
        }
        let rev2 = self.rev2();
        let converted;
        let data = if rev2 {
            match data {
                Data::Recent(_) => return,
                Data::Fetch(f) => {
                    let mut f = f.clone();
                    for it in &mut f.items.0 {
                        if let crate::types::fetch::MessageDataItem::Flags(fl) = it {
                            fl.retain(|x| !matches!(x, crate::types::flag::FlagFetch::Recent));
                        }
                    }
                    converted = Data::Fetch(f);
                    &converted
                }
                Data::Search { numbers, .. } => {
                    let tag = self.in_flight.iter().find_map(|c| match &c.kind {
                        Kind::Search(s) => Some((c.tag.clone(), s.uid)),
                        _ => None,
                    });
                    let uid = tag.as_ref().is_some_and(|(_, u)| *u);
                    converted =
                        exec::esearch_all(tag.as_ref().map(|(t, _)| t.as_str()), uid, numbers);
                    &converted
                }
                other => other,
            }
        } else {
            data
        };
        let mut e = Enc::new(self.enc_opts(), false);
        e.response(&Response::Data(data.clone()));
        self.transmit(e.finish().into_bytes());
    }

    /// Sends an untagged status response (`* OK [ALERT] ...`, `* NO ...`).
    pub fn untagged_status(&mut self, kind: StatusKind, code: Option<Code<'_>>, text: &str) {
        if self.closed {
            return;
        }
        let mut e = Enc::new(self.enc_opts(), false);
        e.response(&Response::Status(StatusResponse {
            tag: None,
            kind,
            code,
            text: text_of(text),
        }));
        self.transmit(e.finish().into_bytes());
        if kind == StatusKind::Bye {
            self.close();
        }
    }

    /// A new message arrived in the selected mailbox (delivery, APPEND, COPY): updates the
    /// tracker and sends `EXISTS`.
    pub fn new_message(
        &mut self,
        uid: u32,
        modseq: u64,
    ) -> Result<(), crate::selected::MailboxError> {
        let Some(sel) = self.selected.as_mut() else {
            return Ok(());
        };
        let d = sel.append(uid, modseq)?;
        self.untagged(&d);
        Ok(())
    }

    /// Messages left the selected mailbox. Announced (and removed from the tracker) now if
    /// RFC 9051 §7.5.1 allows, else as soon as it does.
    pub fn expunged(&mut self, uids: &[u32]) {
        self.deferred_expunges.extend_from_slice(uids);
        self.flush_expunges(false);
    }

    fn expunge_allowed(&self, completing: Option<CommandId>) -> bool {
        let others = self.in_flight.iter().filter(|c| Some(c.id) != completing);
        let mut any = completing.is_some();
        for c in others {
            any = true;
            if matches!(
                c.kind,
                Kind::NoExpunge | Kind::Search(exec::SearchSpec { uid: false, .. })
            ) {
                return false;
            }
        }
        any
    }

    fn flush_expunges(&mut self, completing_ok: bool) {
        if self.deferred_expunges.is_empty() || self.selected.is_none() {
            if self.selected.is_none() {
                self.deferred_expunges.clear();
            }
            return;
        }
        if !completing_ok && !self.expunge_allowed(None) {
            return;
        }
        let uids = std::mem::take(&mut self.deferred_expunges);
        let qresync = self.is_enabled("QRESYNC");
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        sel.set_qresync(qresync);
        let out = sel.expunge_uids(&uids);
        for d in out {
            let mut e = Enc::new(self.enc_opts(), false);
            e.response(&Response::Data(d));
            self.transmit(e.finish().into_bytes());
        }
    }

    /// Completes a command with a tagged status response.
    pub fn complete(
        &mut self,
        id: CommandId,
        kind: StatusKind,
        code: Option<Code<'_>>,
        text: &str,
    ) {
        let Some(pos) = self.in_flight.iter().position(|c| c.id == id) else {
            return;
        };
        // Pending expunges go out before this completion if this command allows them.
        let blocks = matches!(
            self.in_flight[pos].kind,
            Kind::NoExpunge | Kind::Search(exec::SearchSpec { uid: false, .. })
        );
        if !blocks && self.expunge_allowed(Some(id)) {
            self.flush_expunges(true);
        }
        let c = self.in_flight.remove(pos);
        match (&c.kind, kind) {
            // A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
            (Kind::Select { .. }, k) if k != StatusKind::Ok => self.deselect(),
            (Kind::Close, StatusKind::Ok) => self.deselect(),
            (Kind::Unauthenticate, StatusKind::Ok) => {
                self.deselect();
                self.state = State::NotAuthenticated;
                self.enabled.clear();
            }
            (Kind::Idle { .. }, _) => self.phase = Phase::Commands,
            (Kind::Append, _) => self.append_completed(),
            _ => {}
        }
        self.tagged(&c.tag, kind, code, text);
        self.schedule();
    }

    fn deselect(&mut self) {
        self.selected = None;
        self.deferred_expunges.clear();
        self.saved_search = None;
        if self.state == State::Selected {
            self.state = State::Authenticated;
        }
    }

    // --- internals -------------------------------------------------------------------------

    fn transmit(&mut self, bytes: Vec<u8>) {
        if let Some(ServerOutput::Transmit(last)) = self.out.back_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.out.push_back(ServerOutput::Transmit(bytes));
        }
    }

    fn event(&mut self, e: ServerEvent) {
        self.out.push_back(ServerOutput::Event(e));
    }

    fn tagged(&mut self, tag: &Tag<'_>, kind: StatusKind, code: Option<Code<'_>>, text: &str) {
        let mut e = Enc::new(self.enc_opts(), false);
        e.response(&Response::Status(StatusResponse {
            tag: Some(tag.clone()),
            kind,
            code,
            text: text_of(text),
        }));
        self.transmit(e.finish().into_bytes());
    }

    fn continuation(&mut self, text: &str) {
        let mut e = Enc::new(self.enc_opts(), false);
        e.response(&Response::Continue(crate::types::response::ContinueReq {
            code: None,
            text: text_of(text),
        }));
        self.transmit(e.finish().into_bytes());
    }

    fn bye(&mut self, text: &str) {
        if self.closed {
            return;
        }
        self.untagged_status(StatusKind::Bye, None, text);
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.state = State::Logout;
            self.event(ServerEvent::Logout);
            self.out.push_back(ServerOutput::Close);
        }
    }

    fn new_id(&mut self) -> CommandId {
        self.next_id += 1;
        CommandId(self.next_id)
    }

    /// Frames and parses input, then runs what may run.
    fn process(&mut self) {
        loop {
            if self.closed {
                return;
            }
            self.schedule();
            if self.closed || self.parse_blocked || self.pending.len() >= self.cfg.max_pipelined {
                return;
            }
            if !self.step_input() {
                return;
            }
        }
    }
}

/// Text from a host string: CR/LF/NUL replaced so the response stays one line.
pub(crate) fn text_of(s: &str) -> Text<'static> {
    let clean: String = s
        .chars()
        .map(|c| {
            if c == '\r' || c == '\n' || c == '\0' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let clean = if clean.starts_with('[') {
        // A leading '[' would read as a response code.
        format!(" {clean}")
    } else {
        clean
    };
    Text::new(clean).unwrap_or_else(|_| Text::empty())
}

#[cfg(test)]
mod tests;
