//! The client session: SMTP, submission and LMTP delivery as a state machine with no I/O.
//!
//! ```text
//!  220 ─▶ EHLO (LHLO) ─┬─ 250 ─▶ [STARTTLS ─▶ 220 ─▶ Output::StartTls ─▶ tls_established() ─▶ EHLO]
//!                      └─ 5xx ─▶ HELO (no extensions)
//!      ─▶ [AUTH strongest offered mechanism ─▶ 334* ─▶ 235]
//!      ─▶ Event::Ready ─▶ send_mail(envelope, message):
//!           MAIL ─▶ RCPT+ ─▶ DATA 354 ─▶ dot-stuffed message ─▶ 250 (LMTP: one per accepted RCPT)
//!           (PIPELINING: MAIL, every RCPT and DATA/BDAT in one write, RFC 2920)
//!      ─▶ Event::MailResult ─▶ Event::Ready ─▶ ... ─▶ quit() ─▶ QUIT 221 ─▶ Output::Close
//! ```
//!
//! The session makes the choices a careful MTA makes, from the server's EHLO reply:
//! STARTTLS when offered (and failure when it is required and missing), the strongest SASL
//! mechanism the credentials fit ([`sasl::Credentials::choose`]), never one that reveals the
//! secret without TLS, PIPELINING when offered, `SIZE=` (and a local refusal when the
//! message exceeds the announced limit), `BODY=8BITMIME` for 8-bit content, `SMTPUTF8` for
//! UTF-8 addresses (and a local refusal when the server lacks it), BDAT when CHUNKING is
//! offered, DSN parameters only when DSN is offered, at most `LIMITS RCPTMAX` recipients per
//! transaction. A transaction goes on when at least one recipient was accepted, and every
//! recipient's outcome is reported. Message content is dot-stuffed and its bare CR/LF
//! normalized to CRLF ([`data::encode_data`]), so no receiver can see a smuggled end of data.
//!
//! # Drive contract
//!
//! Inputs: [`handle_input`](ClientSession::handle_input) (bytes from the server, already
//! decrypted), [`tls_established`](ClientSession::tls_established) (after
//! [`Output::StartTls`]), [`send_mail`](ClientSession::send_mail) and
//! [`quit`](ClientSession::quit) (after [`Event::Ready`]),
//! [`handle_timeout`](ClientSession::handle_timeout). After **every** input drain
//! [`poll_output`](ClientSession::poll_output) until `None`: write [`Output::Send`], log or act
//! on [`Output::Event`], run the TLS handshake as client on [`Output::StartTls`] (after
//! writing everything before it), close on [`Output::Close`]. Then wait for input or until
//! [`poll_timeout`](ClientSession::poll_timeout).
//!
//! ```no_run
//! use std::time::Instant;
//! use smtp_proto::client::{ClientConfig, ClientSession, Envelope, Event, Output};
//!
//! # fn read(_: &mut [u8]) -> usize { 0 } fn write(_: &[u8]) {}
//! let mut client = ClientSession::new(ClientConfig::new("client.example.org"), Instant::now());
//! let mut mail = Some((
//!     Envelope::parse("alice@example.org", ["bob@example.net"]).unwrap(),
//!     b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
//! ));
//! let mut buf = [0u8; 8192];
//! loop {
//!     while let Some(out) = client.poll_output() {
//!         match out {
//!             Output::Send(bytes) => write(&bytes),
//!             Output::Event(Event::Ready) => match mail.take() {
//!                 Some((envelope, message)) => {
//!                     client.send_mail(Instant::now(), envelope, message).unwrap()
//!                 }
//!                 None => client.quit(Instant::now()).unwrap(),
//!             },
//!             Output::Event(Event::MailResult(result)) => println!("{result:?}"),
//!             Output::Event(other) => println!("{other:?}"),
//!             Output::StartTls => { /* handshake, then client.tls_established(..) */ }
//!             Output::Close => return,
//!             _ => {}
//!         }
//!     }
//!     let n = read(&mut buf);
//!     if n == 0 { return; }
//!     client.handle_input(Instant::now(), &buf[..n]);
//! }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::command::{Body, Command, HelloVerb, MailParams, Notify, RcptParams, Ret};
use crate::data;
use crate::ehlo::Capabilities;
use crate::reply::{EnhancedStatus, Parsed, Reply, ReplyCode, ReplyError, ReplyParser};
use crate::sasl::{self, ClientOptions, Credentials, Mechanism, Nonce, SaslClient, SaslError};
use crate::types::{AddressError, ForwardPath, Mailbox, ReversePath};

/// When to use TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// STARTTLS when the server offers it; plaintext otherwise or when it refuses
    /// (opportunistic TLS, RFC 3207 / RFC 7435). On a *handshake* failure the host should
    /// retry on a new connection with [`TlsMode::Never`] (SMTP-025).
    #[default]
    Opportunistic,
    /// STARTTLS is required: fail when the server does not offer it or refuses it.
    Required,
    /// Never STARTTLS.
    Never,
    /// The connection is already TLS (implicit TLS, port 465): no STARTTLS.
    Implicit,
}

/// What to do with 8-bit content when the server lacks 8BITMIME (RFC 6152).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EightBitFallback {
    /// Send it without `BODY=` (what most MTAs do when they cannot convert; the
    /// quoted-printable downgrade of SMTP-020 is not implemented).
    #[default]
    SendAsIs,
    /// Do not send: [`MailError::NeedsEightBitMime`].
    Refuse,
}

/// Client settings, with safe defaults. Build with [`ClientConfig::new`] (SMTP) or
/// [`ClientConfig::lmtp`], then adjust fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The name sent in EHLO/HELO/LHLO: this host's FQDN or an address literal
    /// (SMTP-033: never taken from the OS here).
    pub hostname: String,
    /// LMTP (RFC 2033): LHLO, no HELO fallback, one reply per accepted recipient.
    pub lmtp: bool,
    /// When to use TLS (default opportunistic).
    pub tls: TlsMode,
    /// Credentials for AUTH; `None`: no AUTH.
    pub credentials: Option<Credentials>,
    /// SASL client settings (SCRAM iteration bounds).
    pub sasl: ClientOptions,
    /// Send PIPELINING batches when offered (default true).
    pub pipelining: bool,
    /// Use BDAT when CHUNKING is offered (default true; BINARYMIME always needs it).
    pub chunking: bool,
    /// 8-bit content to a server without 8BITMIME.
    pub eight_bit_fallback: EightBitFallback,
    /// Idle time allowed for each reply (default 300 s, RFC 5321 §4.5.3.2).
    pub command_timeout: Duration,
    /// Time allowed for the reply after the message content (default 600 s, §4.5.3.2.6).
    pub data_end_timeout: Duration,
    /// Reply parser limits.
    pub reply_parser: ReplyParser,
    /// `XCLIENT` attributes (Postfix `XCLIENT_README`: what a proxy or test tool tells a
    /// server that trusts it about the real client: `NAME`, `ADDR`, `PORT`, `PROTO`,
    /// `HELO`, `LOGIN`, `DESTADDR`, `DESTPORT`, ...), name and plain value (xtext-encoded on
    /// the wire). Sent once, after TLS and before AUTH; the server answers with a new `220`
    /// greeting and the session says EHLO again. The server must offer `XCLIENT` with every
    /// name, else the session fails ([`ClientError::XclientUnavailable`]): a proxy must not
    /// let mail appear to come from itself. Empty (the default): never sent.
    pub xclient: Vec<(String, String)>,
    /// `XFORWARD` attributes (Postfix `XFORWARD_README`: what a content filter tells the
    /// next MTA about the original client: `NAME`, `ADDR`, `PORT`, `PROTO`, `HELO`,
    /// `IDENT`, `SOURCE`), sent before each MAIL when the server offers `XFORWARD`; names it
    /// does not list are left out (as Postfix's smtp client does), long lists go in several
    /// commands of at most 512 octets. Empty (the default): never sent.
    pub xforward: Vec<(String, String)>,
}

impl ClientConfig {
    /// SMTP defaults, saying `hostname` in EHLO.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            lmtp: false,
            tls: TlsMode::Opportunistic,
            credentials: None,
            sasl: ClientOptions::default(),
            pipelining: true,
            chunking: true,
            eight_bit_fallback: EightBitFallback::SendAsIs,
            command_timeout: Duration::from_mins(5),
            data_end_timeout: Duration::from_mins(10),
            reply_parser: ReplyParser::default(),
            xclient: Vec::new(),
            xforward: Vec::new(),
        }
    }

    /// LMTP defaults (no TLS: LMTP runs on trusted local sockets).
    pub fn lmtp(hostname: impl Into<String>) -> Self {
        let mut c = Self::new(hostname);
        c.lmtp = true;
        c.tls = TlsMode::Never;
        c
    }
}

/// One recipient of an [`Envelope`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recipient {
    /// The forward path.
    pub to: ForwardPath<'static>,
    /// DSN `NOTIFY=` (sent only when the server offers DSN).
    pub notify: Option<Notify>,
    /// DSN `ORCPT=` address type and address (sent only when the server offers DSN).
    pub orcpt: Option<(String, String)>,
}

impl Recipient {
    /// A recipient without DSN parameters.
    pub fn new(to: ForwardPath<'static>) -> Self {
        Self {
            to,
            notify: None,
            orcpt: None,
        }
    }
}

/// Sender, recipients and the per-message parameters the host wants.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The reverse path (`<>` for bounces).
    pub from: ReversePath<'static>,
    /// The recipients, in order.
    pub recipients: Vec<Recipient>,
    /// `BODY=`: `None` chooses from the content (8BITMIME when a byte has the high bit set
    /// and the server offers it). `Some(BinaryMime)` needs CHUNKING and BINARYMIME.
    pub body: Option<Body>,
    /// Send `SMTPUTF8` even with ASCII addresses (RFC 6532 headers). UTF-8 addresses set it
    /// anyway.
    pub smtputf8: bool,
    /// `REQUIRETLS` (RFC 8689): refuse to send unless the connection is TLS and the server
    /// offers it.
    pub requiretls: bool,
    /// DSN `RET=` (sent only when the server offers DSN).
    pub ret: Option<Ret>,
    /// DSN `ENVID=` (sent only when the server offers DSN).
    pub envid: Option<String>,
}

impl Envelope {
    /// An envelope with no extra parameters.
    pub fn new(
        from: ReversePath<'static>,
        to: impl IntoIterator<Item = ForwardPath<'static>>,
    ) -> Self {
        Self {
            from,
            recipients: to.into_iter().map(Recipient::new).collect(),
            body: None,
            smtputf8: false,
            requiretls: false,
            ret: None,
            envid: None,
        }
    }

    /// Parses addresses (without angle brackets; an empty sender is `<>`). UTF-8 addresses
    /// are allowed (they make the message need SMTPUTF8).
    pub fn parse<'a>(
        from: &str,
        to: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, AddressError> {
        let from = if from.is_empty() {
            ReversePath::Null
        } else {
            ReversePath::Mailbox(Mailbox::parse(from, true)?.into_owned())
        };
        let to = to
            .into_iter()
            .map(|t| {
                if t.eq_ignore_ascii_case("postmaster") {
                    Ok(ForwardPath::Postmaster)
                } else {
                    Mailbox::parse(t, true).map(|m| ForwardPath::Mailbox(m.into_owned()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(from, to))
    }

    fn needs_smtputf8(&self) -> bool {
        self.smtputf8
            || self.from.mailbox().is_some_and(Mailbox::is_utf8)
            || self
                .recipients
                .iter()
                .any(|r| r.to.mailbox().is_some_and(Mailbox::is_utf8))
    }
}

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecipientResult {
    /// The recipient.
    pub recipient: ForwardPath<'static>,
    /// The reply to its RCPT command; `None` when it was not sent (MAIL failed, or beyond
    /// the server's `LIMITS RCPTMAX`).
    pub rcpt: Option<Reply>,
    /// The reply that decides its fate: the RCPT refusal, the refusal of MAIL or DATA, the
    /// reply to the end of data (SMTP), or its own reply after the data (LMTP). For a
    /// recipient beyond `RCPTMAX` a local `452 4.5.3` (retry in a new transaction).
    pub reply: Reply,
}

impl RecipientResult {
    /// The message was accepted for this recipient.
    pub fn delivered(&self) -> bool {
        self.reply.code().get() < 300
    }

    /// A temporary failure (4yz): retry later with the message unchanged (SMTP-042).
    pub fn deferred(&self) -> bool {
        (400..500).contains(&self.reply.code().get())
    }
}

/// The outcome of one mail transaction, reported in [`Event::MailResult`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailResult {
    /// The reply to MAIL FROM.
    pub mail: Reply,
    /// One entry per envelope recipient, in order.
    pub recipients: Vec<RecipientResult>,
    /// The reply to DATA when it was refused, else the reply after the content (SMTP); the
    /// first per-recipient reply in LMTP. `None` when no data command was sent.
    pub data: Option<Reply>,
    /// Sent with BDAT (CHUNKING) rather than DATA.
    pub bdat: bool,
}

impl MailResult {
    /// Recipients the message was accepted for.
    pub fn delivered(&self) -> usize {
        self.recipients.iter().filter(|r| r.delivered()).count()
    }
}

/// Why a message was not sent at all (nothing reached the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailError {
    /// The message is larger than the server's `SIZE` (RFC 1870): a permanent failure.
    TooBig {
        /// The message size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// UTF-8 addresses and a server without SMTPUTF8 (RFC 6531 §3.2).
    NeedsSmtpUtf8,
    /// 8-bit content, a server without 8BITMIME, and [`EightBitFallback::Refuse`].
    NeedsEightBitMime,
    /// `BODY=BINARYMIME` and a server without CHUNKING and BINARYMIME.
    NeedsBinaryMime,
    /// REQUIRETLS asked and the connection is not TLS or the server lacks it (RFC 8689).
    NeedsRequireTls,
    /// No recipients.
    NoRecipients,
    /// The server's `LIMITS MAILMAX` transactions were used: reconnect.
    MailMaxReached,
}

impl fmt::Display for MailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooBig { size, limit } => {
                write!(
                    f,
                    "message of {size} octets exceeds the server's SIZE {limit}"
                )
            }
            Self::NeedsSmtpUtf8 => f.write_str("UTF-8 addresses but the server lacks SMTPUTF8"),
            Self::NeedsEightBitMime => f.write_str("8-bit content but the server lacks 8BITMIME"),
            Self::NeedsBinaryMime => {
                f.write_str("BINARYMIME but the server lacks CHUNKING/BINARYMIME")
            }
            Self::NeedsRequireTls => {
                f.write_str("REQUIRETLS cannot be honoured on this connection")
            }
            Self::NoRecipients => f.write_str("no recipients"),
            Self::MailMaxReached => f.write_str("the server's LIMITS MAILMAX was reached"),
        }
    }
}

impl std::error::Error for MailError {}

/// Why the session failed (it closes after reporting one).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The greeting was not 220 (e.g. `554` refusal, `421`).
    Greeting(Reply),
    /// EHLO and HELO (or LHLO) were refused.
    Hello(Reply),
    /// TLS is required and the server does not offer STARTTLS.
    TlsUnavailable,
    /// TLS is required and the server refused STARTTLS.
    StartTls(Reply),
    /// Credentials were given and no offered mechanism fits them; `tls_would_help` when one
    /// would be usable under TLS (the secret is never sent in plaintext).
    NoAuthMechanism {
        /// The offered mechanisms this crate knows.
        offered: Vec<Mechanism>,
        /// A mechanism would fit if the connection were TLS.
        tls_would_help: bool,
    },
    /// The server refused the credentials.
    Auth(Reply),
    /// The SASL exchange failed locally (e.g. SCRAM server signature wrong).
    Sasl(SaslError),
    /// The server closes the connection (`421`).
    ServiceClosing(Reply),
    /// A reply that breaks the grammar.
    BadReply(ReplyError),
    /// A reply nobody asked for, or a code that makes no sense where it came.
    UnexpectedReply(Reply),
    /// No reply in time.
    Timeout,
    /// The server closed the connection unexpectedly.
    ConnectionClosed,
    /// [`ClientConfig::xclient`] is set and the server does not offer `XCLIENT` with every
    /// attribute name.
    XclientUnavailable,
    /// The server refused `XCLIENT` (e.g. `550 5.7.0 insufficient authorization`).
    Xclient(Reply),
    /// The server refused `XFORWARD`.
    Xforward(Reply),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = |f: &mut fmt::Formatter<'_>, what: &str, r: &Reply| {
            write!(f, "{what}: {} {}", r.code(), r.text().replace('\n', " / "))
        };
        match self {
            Self::Greeting(x) => r(f, "greeting refused", x),
            Self::Hello(x) => r(f, "EHLO/HELO refused", x),
            Self::TlsUnavailable => f.write_str("TLS required but STARTTLS is not offered"),
            Self::StartTls(x) => r(f, "STARTTLS refused", x),
            Self::NoAuthMechanism {
                offered,
                tls_would_help,
            } => write!(
                f,
                "no usable AUTH mechanism among {offered:?}{}",
                if *tls_would_help {
                    " (one would be usable over TLS)"
                } else {
                    ""
                }
            ),
            Self::Auth(x) => r(f, "authentication failed", x),
            Self::Sasl(e) => write!(f, "SASL: {e}"),
            Self::ServiceClosing(x) => r(f, "server closing", x),
            Self::BadReply(e) => write!(f, "malformed reply: {e}"),
            Self::UnexpectedReply(x) => r(f, "unexpected reply", x),
            Self::Timeout => f.write_str("timeout waiting for the server"),
            Self::ConnectionClosed => f.write_str("the server closed the connection"),
            Self::XclientUnavailable => {
                f.write_str("XCLIENT attributes set but the server does not offer them")
            }
            Self::Xclient(x) => r(f, "XCLIENT refused", x),
            Self::Xforward(x) => r(f, "XFORWARD refused", x),
        }
    }
}

impl std::error::Error for ClientError {}

/// Something the session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's greeting.
    Greeting(Reply),
    /// The server's EHLO/LHLO reply, parsed (again after STARTTLS); HELO gives empty
    /// capabilities.
    Capabilities(Box<Capabilities>),
    /// STARTTLS was offered but refused (opportunistic mode goes on in plaintext).
    StartTlsRefused(Reply),
    /// Bytes the server sent after its `220` to STARTTLS and before the handshake were
    /// discarded (response injection).
    StartTlsInjection {
        /// How many.
        bytes: usize,
    },
    /// AUTH succeeded with this mechanism.
    Authenticated(Mechanism),
    /// The session is idle: call [`ClientSession::send_mail`] or [`ClientSession::quit`].
    Ready,
    /// A transaction ended; see each recipient.
    MailResult(MailResult),
    /// A message was not sent (nothing went on the wire); the session stays ready.
    MailNotSent(MailError),
    /// The session failed; it closes.
    Failed(ClientError),
}

/// What the host does next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Write these bytes to the server.
    Send(Vec<u8>),
    /// Something to log or act on.
    Event(Event),
    /// Write everything before this, run the TLS handshake as client, then call
    /// [`ClientSession::tls_established`].
    StartTls,
    /// Write everything before this, then close the connection.
    Close,
}

/// Misuse of the client API by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// `send_mail`/`quit` while the session is not ready (wait for [`Event::Ready`]).
    NotReady,
    /// `tls_established` without [`Output::StartTls`].
    NotStartingTls,
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotReady => "the session is not ready for this call",
            Self::NotStartingTls => "no STARTTLS is pending",
        })
    }
}

impl std::error::Error for ApiMisuse {}

/// A reply the session waits for, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt(usize),
    /// 354 to DATA.
    Data,
    /// The reply(ies) after the content (DATA end or BDAT LAST).
    DataEnd,
    /// RSET after a failed transaction.
    Rset,
    /// The new greeting after XCLIENT.
    Xclient,
    /// The reply to an XFORWARD command; the last one of a transaction starts its MAIL.
    Xforward {
        last: bool,
    },
    Quit,
}

#[derive(Debug)]
struct Transaction {
    envelope: Envelope,
    message: Vec<u8>,
    params: MailParams<'static>,
    dsn: bool,
    /// Recipients sent (the rest are beyond RCPTMAX).
    sent_rcpts: usize,
    bdat: bool,
    pipelined: bool,
    mail: Option<Reply>,
    rcpts: Vec<Option<Reply>>,
    data: Option<Reply>,
    /// LMTP: per accepted recipient replies after the content.
    lmtp_replies: Vec<Reply>,
}

impl Transaction {
    fn mail_ok(&self) -> bool {
        self.mail
            .as_ref()
            .is_some_and(|r| r.code().get() / 100 == 2)
    }

    fn accepted(&self) -> usize {
        self.rcpts
            .iter()
            .filter(|r| r.as_ref().is_some_and(|r| r.code().get() / 100 == 2))
            .count()
    }
}

/// The client side of one SMTP/LMTP connection. See the [module docs](self).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    input: Vec<u8>,
    out: Vec<u8>,
    outputs: VecDeque<Output>,
    expect: VecDeque<Expect>,
    caps: Option<Capabilities>,
    tls: bool,
    starting_tls: bool,
    tls_tried: bool,
    channel_binding: Option<Vec<u8>>,
    sasl: Option<Box<SaslClient>>,
    authenticated: bool,
    ready: bool,
    tx: Option<Box<Transaction>>,
    transactions: u32,
    deadline: Option<Instant>,
    closed: bool,
    failed: bool,
    nonce_seed: Option<[u8; 16]>,
    /// The last transaction may still be open on the server: RSET before the next MAIL.
    needs_rset: bool,
    /// A transaction waiting for the reply to its RSET (no pipelining).
    after_rset: Option<Box<Transaction>>,
    /// XCLIENT was sent (once per connection).
    xclient_sent: bool,
    /// A transaction waiting for the replies to its XFORWARD commands.
    after_xforward: Option<Box<Transaction>>,
}

fn local_reply(code: u16, status: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(
        ReplyCode::new(code).expect("valid code"),
        EnhancedStatus::new(status.0, status.1, status.2).ok(),
        [text],
    )
    .expect("valid reply")
}

fn class(r: &Reply) -> u16 {
    r.code().get() / 100
}

/// Bytes of server input held while the session is ready before they are read anyway (and
/// fail the session as unexpected replies): a server cannot make the client buffer without
/// bound.
pub const IDLE_INPUT_LIMIT: usize = 64 * 1024;

impl ClientSession {
    /// A session on a new connection, waiting for the greeting. With [`TlsMode::Implicit`]
    /// the connection counts as TLS from the start.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let tls = config.tls == TlsMode::Implicit;
        let deadline = Some(now + config.command_timeout);
        let mut expect = VecDeque::new();
        expect.push_back(Expect::Greeting);
        Self {
            config,
            input: Vec::new(),
            out: Vec::new(),
            outputs: VecDeque::new(),
            expect,
            caps: None,
            tls,
            starting_tls: false,
            tls_tried: false,
            channel_binding: None,
            sasl: None,
            authenticated: false,
            ready: false,
            tx: None,
            transactions: 0,
            deadline,
            closed: false,
            failed: false,
            nonce_seed: None,
            needs_rset: false,
            after_rset: None,
            xclient_sent: false,
            after_xforward: None,
        }
    }

    /// A session whose SASL nonces derive from `seed` instead of the system RNG: for tests
    /// and fuzzing only (predictable nonces weaken SCRAM).
    pub fn with_seed(config: ClientConfig, now: Instant, seed: [u8; 16]) -> Self {
        let mut s = Self::new(config, now);
        s.nonce_seed = Some(seed);
        s
    }

    fn next_nonce(&self) -> Result<Nonce, SaslError> {
        let Some(seed) = self.nonce_seed else {
            return Nonce::generate();
        };
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&seed);
        ctx.update(&self.transactions.to_be_bytes());
        let d = ctx.finish();
        let mut bytes = [0u8; 18];
        bytes.copy_from_slice(&d.as_ref()[..18]);
        Ok(Nonce::from_random(bytes))
    }

    /// With [`TlsMode::Implicit`]: the `tls-exporter` channel binding of the connection,
    /// for SCRAM-SHA-256-PLUS (RFC 9266). Call before feeding the greeting.
    pub fn set_channel_binding(&mut self, channel_binding: Vec<u8>) {
        self.channel_binding = Some(channel_binding);
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called if no input arrives;
    /// `None` while idle, during a TLS handshake, or after close.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed || self.starting_tls || self.expect.is_empty() {
            None
        } else {
            self.deadline
        }
    }

    /// Call at or after [`poll_timeout`](Self::poll_timeout): fails the session and closes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.fail_now(ClientError::Timeout);
        }
    }

    /// The server's capabilities from its last EHLO/LHLO reply.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// True when the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// True after a successful AUTH.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// True after [`Output::Close`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True when the session is idle and accepts [`send_mail`](Self::send_mail).
    pub fn is_ready(&self) -> bool {
        self.ready && !self.closed
    }

    /// The server closed the connection (read returned end of file). Expected after QUIT;
    /// anywhere else it fails the session with [`ClientError::ConnectionClosed`] (and an
    /// unfinished transaction is reported with a local `451 4.4.2` for each recipient).
    pub fn handle_eof(&mut self) {
        if self.closed {
            return;
        }
        if self.ready && !self.input.is_empty() {
            // Replies held while the host had not answered Ready (a `421` before the
            // close, say): nothing more will come, so they are read now.
            self.process_input(true);
            if self.closed {
                return;
            }
        }
        let quitting = self.expect.front() == Some(&Expect::Quit);
        if quitting {
            self.close();
            return;
        }
        let lost = local_reply(451, (4, 4, 2), "Connection closed by the server");
        if let Some(tx) = self.tx.take() {
            self.finish_transaction_with(tx, Some(&lost));
        }
        self.fail_now(ClientError::ConnectionClosed);
    }

    /// Feeds bytes from the server.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.closed {
            return;
        }
        if self.starting_tls {
            self.outputs
                .push_back(Output::Event(Event::StartTlsInjection {
                    bytes: bytes.len(),
                }));
            return;
        }
        self.input.extend_from_slice(bytes);
        self.deadline = Some(now + self.timeout_for_next());
        self.process();
    }

    /// The TLS handshake after [`Output::StartTls`] succeeded; `channel_binding` is the
    /// RFC 9266 `tls-exporter` value (32 bytes) for SCRAM-SHA-256-PLUS, when available. The
    /// session forgets the capabilities and says EHLO again (RFC 3207 §4.2).
    pub fn tls_established(
        &mut self,
        now: Instant,
        channel_binding: Option<Vec<u8>>,
    ) -> Result<(), ApiMisuse> {
        if !self.starting_tls {
            return Err(ApiMisuse::NotStartingTls);
        }
        self.starting_tls = false;
        self.tls = true;
        self.channel_binding = channel_binding;
        self.caps = None;
        self.deadline = Some(now + self.config.command_timeout);
        self.send_hello(false);
        self.flush();
        Ok(())
    }

    /// Sends one message. Call after [`Event::Ready`]; the outcome comes as
    /// [`Event::MailResult`] (or [`Event::MailNotSent`]) followed by [`Event::Ready`].
    pub fn send_mail(
        &mut self,
        now: Instant,
        envelope: Envelope,
        message: Vec<u8>,
    ) -> Result<(), ApiMisuse> {
        if !self.is_ready() {
            return Err(ApiMisuse::NotReady);
        }
        self.deadline = Some(now + self.config.command_timeout);
        match self.prepare(envelope, message) {
            Ok(tx) => {
                self.ready = false;
                self.transactions += 1;
                if std::mem::take(&mut self.needs_rset) {
                    // RSET may lead a pipelined group (RFC 2920 §3.1); otherwise wait for it.
                    self.command(&Command::Rset, Expect::Rset);
                    if !tx.pipelined {
                        self.after_rset = Some(tx);
                        self.flush();
                        self.process();
                        return Ok(());
                    }
                }
                self.begin_transaction(tx);
            }
            Err(e) => {
                self.outputs.push_back(Output::Event(Event::MailNotSent(e)));
                self.outputs.push_back(Output::Event(Event::Ready));
            }
        }
        self.flush();
        // Replies held while ready.
        self.process();
        Ok(())
    }

    /// Says QUIT; the session closes after the server's reply.
    pub fn quit(&mut self, now: Instant) -> Result<(), ApiMisuse> {
        if !self.is_ready() {
            return Err(ApiMisuse::NotReady);
        }
        self.ready = false;
        self.deadline = Some(now + self.config.command_timeout);
        self.command(&Command::Quit, Expect::Quit);
        self.flush();
        // Replies held while ready.
        self.process();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The engine.

impl ClientSession {
    fn timeout_for_next(&self) -> Duration {
        match self.expect.front() {
            Some(Expect::DataEnd) => self.config.data_end_timeout,
            _ => self.config.command_timeout,
        }
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            self.outputs
                .push_back(Output::Send(std::mem::take(&mut self.out)));
        }
    }

    fn command(&mut self, cmd: &Command<'_>, expect: Expect) {
        cmd.write_to(&mut self.out);
        self.expect.push_back(expect);
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    /// A fatal error: report, say QUIT politely when the server still listens, close after.
    fn fail(&mut self, e: ClientError) {
        self.failed = true;
        self.ready = false;
        self.sasl = None;
        self.event(Event::Failed(e));
        self.expect.clear();
        self.command(&Command::Quit, Expect::Quit);
    }

    /// A fatal error after which nothing is sent.
    fn fail_now(&mut self, e: ClientError) {
        self.failed = true;
        self.event(Event::Failed(e));
        self.close();
    }

    fn close(&mut self) {
        self.flush();
        self.outputs.push_back(Output::Close);
        self.closed = true;
        self.ready = false;
        self.expect.clear();
        self.input.clear();
    }

    fn process(&mut self) {
        self.process_input(false);
    }

    /// Parses buffered replies. While the session is [ready](Self::is_ready) they are held
    /// (up to [`IDLE_INPUT_LIMIT`] bytes) until the host's next call, so what the client
    /// does never depends on how the server's bytes were split across reads: a reply that
    /// came in the same read as the one that made the session ready is read after the
    /// host's `send_mail`/`quit`, exactly as if it had come later.
    fn process_input(&mut self, even_when_ready: bool) {
        let mut pos = 0;
        while !self.closed
            && !self.starting_tls
            && pos < self.input.len()
            && (even_when_ready || !self.ready || self.input.len() > IDLE_INPUT_LIMIT)
        {
            match self.config.reply_parser.parse(&self.input[pos..]) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Complete { reply, consumed }) => {
                    pos += consumed;
                    self.on_reply(reply);
                    if self.starting_tls && pos < self.input.len() {
                        // Anything after the 220 to STARTTLS is an injection attempt.
                        let bytes = self.input.len() - pos;
                        self.event(Event::StartTlsInjection { bytes });
                        pos = self.input.len();
                    }
                }
                Err(e) => {
                    self.fail_now(ClientError::BadReply(e));
                    return;
                }
            }
        }
        if !self.closed {
            self.input.drain(..pos.min(self.input.len()));
        }
        self.flush();
    }

    fn on_reply(&mut self, reply: Reply) {
        let Some(expect) = self.expect.pop_front() else {
            if reply.code().get() == 421 {
                self.fail_now(ClientError::ServiceClosing(reply));
            } else {
                self.fail_now(ClientError::UnexpectedReply(reply));
            }
            return;
        };
        if reply.code().get() == 421 && expect != Expect::Quit {
            // The server is going away (RFC 5321 §3.8): report what was in flight.
            if let Some(tx) = self.tx.take().or_else(|| self.after_xforward.take()) {
                self.finish_transaction_with(tx, Some(&reply));
            }
            self.fail_now(ClientError::ServiceClosing(reply));
            return;
        }
        match expect {
            Expect::Greeting => {
                self.event(Event::Greeting(reply.clone()));
                if reply.code().get() == 220 {
                    self.send_hello(false);
                } else {
                    self.fail(ClientError::Greeting(reply));
                }
            }
            Expect::Ehlo | Expect::Helo => self.on_hello(expect, reply),
            Expect::StartTls => {
                if reply.code().get() == 220 {
                    self.starting_tls = true;
                    self.flush();
                    self.outputs.push_back(Output::StartTls);
                } else if self.config.tls == TlsMode::Required {
                    self.fail(ClientError::StartTls(reply));
                } else {
                    self.event(Event::StartTlsRefused(reply));
                    self.after_tls_choice();
                }
            }
            Expect::Auth => self.on_auth(reply),
            Expect::Xclient => {
                // A new greeting: the server starts over with the client it was told about
                // (XCLIENT_README); greet again.
                if reply.code().get() == 220 {
                    self.send_hello(false);
                } else {
                    self.fail(ClientError::Xclient(reply));
                }
            }
            Expect::Xforward { last } => {
                if class(&reply) != 2 {
                    if let Some(tx) = self.after_xforward.take() {
                        self.finish_transaction_with(tx, Some(&reply));
                    }
                    self.fail(ClientError::Xforward(reply));
                } else if last && let Some(tx) = self.after_xforward.take() {
                    self.start_transaction(tx);
                }
            }
            Expect::Quit => self.close(),
            Expect::Rset => {
                // Without pipelining the MAIL waited for this reply.
                if let Some(tx) = self.after_rset.take() {
                    self.begin_transaction(tx);
                }
            }
            Expect::Mail | Expect::Rcpt(_) | Expect::Data | Expect::DataEnd => {
                self.on_transaction_reply(expect, reply);
            }
        }
    }

    fn send_hello(&mut self, helo: bool) {
        let (verb, expect) = if self.config.lmtp {
            (HelloVerb::Lhlo, Expect::Ehlo)
        } else if helo {
            (HelloVerb::Helo, Expect::Helo)
        } else {
            (HelloVerb::Ehlo, Expect::Ehlo)
        };
        let name = self.config.hostname.clone();
        self.command(
            &Command::Hello {
                verb,
                name: name.into(),
            },
            expect,
        );
    }

    fn on_hello(&mut self, expect: Expect, reply: Reply) {
        if class(&reply) != 2 {
            // RFC 5321 §3.2: a server that does not know EHLO answers 500/502 (or 501/550);
            // fall back to HELO. LMTP has no fallback.
            if expect == Expect::Ehlo && !self.config.lmtp && class(&reply) == 5 && !self.tls {
                self.send_hello(true);
            } else {
                self.fail(ClientError::Hello(reply));
            }
            return;
        }
        let caps = if expect == Expect::Helo {
            Capabilities::from_lines(reply.lines().take(1))
        } else {
            Capabilities::from_reply(&reply)
        };
        self.event(Event::Capabilities(Box::new(caps.clone())));
        self.caps = Some(caps);
        let caps = self.caps.as_ref().expect("just set");
        let may_starttls = !self.tls
            && !self.tls_tried
            && matches!(self.config.tls, TlsMode::Opportunistic | TlsMode::Required);
        if may_starttls && caps.starttls {
            self.tls_tried = true;
            self.command(&Command::StartTls, Expect::StartTls);
        } else if !self.tls && self.config.tls == TlsMode::Required {
            self.fail(ClientError::TlsUnavailable);
        } else {
            self.after_tls_choice();
        }
    }

    fn after_tls_choice(&mut self) {
        if !self.config.xclient.is_empty() && !self.xclient_sent {
            self.xclient_sent = true;
            let offered = self.caps.as_ref().and_then(|c| c.params("XCLIENT"));
            let all_offered = offered.is_some_and(|names| {
                self.config
                    .xclient
                    .iter()
                    .all(|(k, _)| names.iter().any(|n| n.eq_ignore_ascii_case(k)))
            });
            if !all_offered {
                self.fail(ClientError::XclientUnavailable);
                return;
            }
            let attrs = self
                .config
                .xclient
                .iter()
                .map(|(k, v)| (k.clone().into(), v.clone().into()))
                .collect();
            self.command(&Command::Xclient(attrs), Expect::Xclient);
            return;
        }
        let Some(creds) = self.config.credentials.clone() else {
            self.become_ready();
            return;
        };
        if self.authenticated {
            self.become_ready();
            return;
        }
        let offered = self
            .caps
            .as_ref()
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        let cb = self.channel_binding.is_some();
        let Some(mech) = creds.choose(offered.iter().copied(), self.tls, cb) else {
            let tls_would_help =
                !self.tls && creds.choose(offered.iter().copied(), true, cb).is_some();
            self.fail(ClientError::NoAuthMechanism {
                offered,
                tls_would_help,
            });
            return;
        };
        let mut options = self.config.sasl.clone();
        if let Some(cb) = &self.channel_binding {
            options.channel_binding = Some(sasl::Secret::new(cb.clone()));
        }
        let started = self.next_nonce().and_then(|nonce| {
            let mut client = SaslClient::new(mech, creds, &options, nonce)?;
            let ir = client.initial_response()?;
            Ok((client, ir))
        });
        match started {
            Ok((client, ir)) => {
                let initial_response = ir.map(|bytes| sasl::encode_initial_response(&bytes).into());
                self.command(
                    &Command::Auth {
                        mechanism: mech.name().into(),
                        initial_response,
                    },
                    Expect::Auth,
                );
                self.sasl = Some(Box::new(client));
            }
            Err(e) => self.fail(ClientError::Sasl(e)),
        }
    }

    fn on_auth(&mut self, reply: Reply) {
        let Some(mut client) = self.sasl.take() else {
            self.fail_now(ClientError::UnexpectedReply(reply));
            return;
        };
        match reply.code().get() {
            334 => {
                let text = reply.first_line().trim();
                let decoded = sasl::decode_response(text.as_bytes(), 64 * 1024);
                let response = match decoded {
                    Ok(sasl::ClientResponse::Data(challenge)) => client.respond(&challenge),
                    Ok(_) => Err(SaslError::Malformed("bad challenge")),
                    Err(e) => Err(e),
                };
                match response {
                    Ok(bytes) => {
                        self.out.extend_from_slice(sasl::encode(&bytes).as_bytes());
                        self.out.extend_from_slice(b"\r\n");
                        self.expect.push_back(Expect::Auth);
                        self.sasl = Some(client);
                    }
                    Err(e) => {
                        // Cancel the exchange (RFC 4954 §4); the server answers 501.
                        self.out.extend_from_slice(b"*\r\n");
                        self.expect.push_back(Expect::Auth);
                        self.event(Event::Failed(ClientError::Sasl(e)));
                        self.failed = true;
                        self.sasl = Some(client);
                    }
                }
            }
            235 if !self.failed => match client.finish(None) {
                Ok(()) => {
                    self.authenticated = true;
                    self.event(Event::Authenticated(client.mechanism()));
                    self.become_ready();
                }
                Err(e) => self.fail(ClientError::Sasl(e)),
            },
            _ if self.failed => {
                // The reply to our cancel: the failure was reported already.
                self.expect.clear();
                self.command(&Command::Quit, Expect::Quit);
            }
            _ => self.fail(ClientError::Auth(reply)),
        }
    }

    fn become_ready(&mut self) {
        if self.failed {
            return;
        }
        self.ready = true;
        self.event(Event::Ready);
    }

    fn prepare(&self, envelope: Envelope, message: Vec<u8>) -> Result<Box<Transaction>, MailError> {
        let caps = self.caps.clone().unwrap_or_default();
        if envelope.recipients.is_empty() {
            return Err(MailError::NoRecipients);
        }
        if caps.limits.mail_max.is_some_and(|m| self.transactions >= m) {
            return Err(MailError::MailMaxReached);
        }
        let size = message.len() as u64;
        if let Some(limit) = caps.max_size
            && size > limit
        {
            return Err(MailError::TooBig { size, limit });
        }
        let smtputf8 = envelope.needs_smtputf8();
        if smtputf8 && !caps.smtputf8 {
            return Err(MailError::NeedsSmtpUtf8);
        }
        if envelope.requiretls && !(self.tls && caps.requiretls) {
            return Err(MailError::NeedsRequireTls);
        }
        let body = match envelope.body {
            Some(Body::BinaryMime) => {
                if !(caps.chunking && caps.binary_mime) {
                    return Err(MailError::NeedsBinaryMime);
                }
                Some(Body::BinaryMime)
            }
            Some(Body::EightBitMime) | None if has_eight_bit(&message) => {
                if caps.eight_bit_mime {
                    Some(Body::EightBitMime)
                } else if self.config.eight_bit_fallback == EightBitFallback::Refuse {
                    return Err(MailError::NeedsEightBitMime);
                } else {
                    None
                }
            }
            Some(Body::EightBitMime) if caps.eight_bit_mime => Some(Body::EightBitMime),
            Some(Body::SevenBit) if caps.eight_bit_mime => Some(Body::SevenBit),
            _ => None,
        };
        let bdat = body == Some(Body::BinaryMime) || (self.config.chunking && caps.chunking);
        let dsn = caps.dsn;
        let mut params = MailParams {
            size: caps.size_advertised.then_some(size),
            body,
            smtputf8,
            requiretls: envelope.requiretls,
            ..MailParams::default()
        };
        if dsn {
            params.ret = envelope.ret;
            params.envid = envelope.envid.clone().map(Into::into);
        }
        let sent_rcpts = caps.limits.rcpt_max.map_or(envelope.recipients.len(), |m| {
            envelope.recipients.len().min(m as usize)
        });
        Ok(Box::new(Transaction {
            envelope,
            message,
            params,
            dsn,
            sent_rcpts,
            bdat,
            pipelined: self.config.pipelining && caps.pipelining,
            mail: None,
            rcpts: Vec::new(),
            data: None,
            lmtp_replies: Vec::new(),
        }))
    }

    /// XFORWARD first when configured and offered (its replies awaited), then MAIL.
    fn begin_transaction(&mut self, tx: Box<Transaction>) {
        let offered = self.caps.as_ref().and_then(|c| c.params("XFORWARD"));
        let attrs: crate::command::Attributes<'static> = match offered {
            Some(names) => self
                .config
                .xforward
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n.eq_ignore_ascii_case(k)))
                .map(|(k, v)| (k.clone().into(), v.clone().into()))
                .collect(),
            None => Vec::new(),
        };
        if attrs.is_empty() {
            self.start_transaction(tx);
            return;
        }
        // At most 512 octets per command line (RFC 5321 §4.5.3.1.4).
        let mut groups: Vec<crate::command::Attributes<'static>> = vec![Vec::new()];
        let mut len = "XFORWARD\r\n".len();
        for (k, v) in attrs {
            let n = 2 + k.len() + crate::command::encode_xtext(&v).len();
            let group = groups.last_mut().expect("never empty");
            if !group.is_empty() && len + n > 512 {
                groups.push(Vec::new());
                len = "XFORWARD\r\n".len();
            }
            len += n;
            groups.last_mut().expect("never empty").push((k, v));
        }
        let count = groups.len();
        for (i, group) in groups.into_iter().enumerate() {
            self.command(
                &Command::Xforward(group),
                Expect::Xforward {
                    last: i + 1 == count,
                },
            );
        }
        self.after_xforward = Some(tx);
    }

    fn start_transaction(&mut self, tx: Box<Transaction>) {
        let from = tx.envelope.from.clone();
        self.command(
            &Command::Mail {
                from,
                params: tx.params.clone(),
            },
            Expect::Mail,
        );
        let pipelined = tx.pipelined;
        self.tx = Some(tx);
        if pipelined {
            // RFC 2920 §3.1: MAIL, every RCPT and the data command in one group; with BDAT
            // the content follows in the same write (RFC 3030 §4.2).
            let n = self.tx.as_ref().map_or(0, |t| t.sent_rcpts);
            for i in 0..n {
                self.send_rcpt(i);
            }
            self.send_data_command();
        }
    }

    fn send_rcpt(&mut self, i: usize) {
        let Some(tx) = self.tx.as_ref() else { return };
        let r = &tx.envelope.recipients[i];
        let mut params = RcptParams::default();
        if tx.dsn {
            params.notify = r.notify;
            params.orcpt = r.orcpt.clone().map(|(t, a)| (t.into(), a.into()));
        }
        let cmd = Command::Rcpt {
            to: r.to.clone(),
            params,
        };
        self.command(&cmd, Expect::Rcpt(i));
    }

    fn send_data_command(&mut self) {
        let Some(tx) = self.tx.as_mut() else { return };
        if tx.bdat {
            let mut body = Vec::new();
            if tx.params.body == Some(Body::BinaryMime) {
                body = std::mem::take(&mut tx.message);
            } else {
                data::normalize_line_endings(&tx.message, &mut body);
            }
            Command::Bdat {
                size: body.len() as u64,
                last: true,
            }
            .write_to(&mut self.out);
            self.out.extend_from_slice(&body);
            self.expect.push_back(Expect::DataEnd);
        } else {
            self.command(&Command::Data, Expect::Data);
        }
    }

    fn on_transaction_reply(&mut self, expect: Expect, reply: Reply) {
        let Some(mut tx) = self.tx.take() else {
            self.fail_now(ClientError::UnexpectedReply(reply));
            return;
        };
        match expect {
            Expect::Mail => {
                let ok = class(&reply) == 2;
                tx.mail = Some(reply);
                if !tx.pipelined {
                    if ok {
                        self.tx = Some(tx);
                        self.send_rcpt(0);
                        return;
                    }
                    self.finish_transaction_with(tx, None);
                    return;
                }
            }
            Expect::Rcpt(i) => {
                tx.rcpts.push(Some(reply));
                if !tx.pipelined {
                    let next = i + 1;
                    if next < tx.sent_rcpts {
                        self.tx = Some(tx);
                        self.send_rcpt(next);
                        return;
                    }
                    if tx.accepted() == 0 {
                        self.finish_transaction_with(tx, None);
                        return;
                    }
                    self.tx = Some(tx);
                    self.send_data_command();
                    return;
                }
            }
            Expect::Data => {
                if reply.code().get() == 354 {
                    // With pipelining the RCPTs may all have failed while DATA was accepted
                    // (RFC 2920 §3.1): send an empty message end, and no content.
                    if tx.mail_ok() && tx.accepted() > 0 {
                        data::encode_data(&tx.message, &mut self.out);
                    } else {
                        self.out.extend_from_slice(b".\r\n");
                    }
                    self.expect.push_back(Expect::DataEnd);
                    self.tx = Some(tx);
                    return;
                }
                tx.data = Some(reply);
                self.finish_transaction_with(tx, None);
                return;
            }
            Expect::DataEnd => {
                let accepted = tx.accepted();
                if self.config.lmtp && tx.mail_ok() && accepted > 0 {
                    // RFC 2033 §4.2: one reply per accepted recipient.
                    if tx.data.is_none() {
                        tx.data = Some(reply.clone());
                    }
                    tx.lmtp_replies.push(reply);
                    if tx.lmtp_replies.len() < accepted {
                        self.expect.push_front(Expect::DataEnd);
                        self.tx = Some(tx);
                        return;
                    }
                } else {
                    tx.data = Some(reply);
                }
                self.finish_transaction_with(tx, None);
                return;
            }
            _ => {}
        }
        self.tx = Some(tx);
    }

    /// Reports the transaction; `closing` is a 421 that cut it short.
    fn finish_transaction_with(&mut self, tx: Box<Transaction>, closing: Option<&Reply>) {
        let tx = *tx;
        let mail = tx
            .mail
            .clone()
            .or_else(|| closing.cloned())
            .unwrap_or_else(|| local_reply(451, (4, 4, 2), "No reply to MAIL"));
        let mail_ok = class(&mail) == 2;
        let data_ok = tx.data.as_ref().is_some_and(|d| class(d) == 2)
            || tx.lmtp_replies.iter().any(|r| class(r) == 2);
        let mut lmtp = tx.lmtp_replies.iter();
        let mut recipients = Vec::with_capacity(tx.envelope.recipients.len());
        for (i, r) in tx.envelope.recipients.iter().enumerate() {
            let rcpt = tx.rcpts.get(i).cloned().flatten();
            let reply = if i >= tx.sent_rcpts {
                local_reply(
                    452,
                    (4, 5, 3),
                    "Too many recipients for one transaction (server LIMITS RCPTMAX); retry",
                )
            } else if !mail_ok {
                mail.clone()
            } else {
                match &rcpt {
                    None => closing
                        .cloned()
                        .unwrap_or_else(|| local_reply(451, (4, 4, 2), "No reply to RCPT")),
                    Some(rr) if class(rr) != 2 => rr.clone(),
                    Some(_) => {
                        if tx.lmtp_replies.is_empty() {
                            tx.data
                                .clone()
                                .or_else(|| closing.cloned())
                                .unwrap_or_else(|| {
                                    local_reply(451, (4, 4, 2), "No reply to the message")
                                })
                        } else {
                            lmtp.next().cloned().unwrap_or_else(|| {
                                local_reply(451, (4, 4, 2), "No LMTP reply for this recipient")
                            })
                        }
                    }
                }
            };
            recipients.push(RecipientResult {
                recipient: r.to.clone(),
                rcpt,
                reply,
            });
        }
        let result = MailResult {
            mail,
            recipients,
            data: tx.data.clone(),
            bdat: tx.bdat,
        };
        self.event(Event::MailResult(result));
        if closing.is_some() {
            return;
        }
        // A transaction that did not end with an accepted message may still be open on the
        // server (MAIL accepted, DATA refused): reset it before the next one (not before
        // QUIT). RSET is always harmless.
        self.needs_rset = mail_ok && !data_ok;
        self.become_ready();
    }
}

/// True when a byte has the high bit set (8-bit content).
fn has_eight_bit(message: &[u8]) -> bool {
    // Word-wise OR: the compiler vectorizes this; far faster than a byte loop.
    let mut acc = 0u8;
    for chunk in message.chunks(4096) {
        acc |= chunk.iter().fold(0, |a, &b| a | b);
        if acc & 0x80 != 0 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
