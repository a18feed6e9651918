//! SASL mechanisms (RFC 4422) for SMTP AUTH, IMAP AUTHENTICATE and ManageSieve AUTHENTICATE:
//! server side and client side, with no I/O.
//!
//! The module knows nothing about the protocol that carries it. It works on **decoded** bytes:
//! the protocol layer decodes each client line from base64 (and recognises `*` as a cancel)
//! with [`decode_response`] / [`decode_initial_response`], hands the bytes to the mechanism,
//! and encodes each challenge with [`encode`]. Every decision that needs the host's user
//! database comes back as a value ([`Decision`]) that the host answers with an [`Answer`], so
//! a lookup may be asynchronous in the host and never runs inside this crate.
//!
//! | mechanism | RFC | what the host answers | secret on the wire |
//! | --- | --- | --- | --- |
//! | `PLAIN` | 4616 | [`Decision::VerifyPassword`] | yes (needs TLS) |
//! | `LOGIN` | draft-murchison-sasl-login | [`Decision::VerifyPassword`] | yes (needs TLS) |
//! | `CRAM-MD5` | 2195 | [`Decision::CramMd5Secret`] | no |
//! | `XOAUTH2` | Google/Microsoft | [`Decision::ValidateToken`] | bearer token (needs TLS) |
//! | `OAUTHBEARER` | 7628 | [`Decision::ValidateToken`] | bearer token (needs TLS) |
//! | `SCRAM-SHA-256` | 5802, 7677 | [`Decision::ScramCredentials`] | no |
//! | `SCRAM-SHA-256-PLUS` | 5802, 7677, 9266 | [`Decision::ScramCredentials`] | no; bound to the TLS channel |
//!
//! # Server side
//!
//! ```
//! use smtp_proto::sasl::{Answer, Decision, Mechanism, Nonce, SaslServer, ServerOptions, ServerStep};
//!
//! let options = ServerOptions::default();
//! let nonce = Nonce::new("fixed-for-the-example").unwrap(); // use Nonce::generate() for real
//! let mut server = SaslServer::new(Mechanism::Plain, &options, nonce);
//! // `AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm` in SMTP: the protocol layer decoded the
//! // initial response.
//! let mut step = server.start(Some(b"\0tim\0tanstaaftanstaaf"));
//! loop {
//!     step = match step {
//!         ServerStep::Challenge(_bytes) => {
//!             // Send `334 <base64 of bytes>` (SMTP) or `+ <base64>` (IMAP), read the next line,
//!             // decode it with sasl::decode_response, then:
//!             unreachable!("PLAIN with an initial response needs no challenge")
//!         }
//!         ServerStep::Need(Decision::VerifyPassword { authcid, password, .. }) => {
//!             // Ask the user database (may be async in the host).
//!             let ok = authcid == "tim" && password.expose() == "tanstaaftanstaaf";
//!             server.answer(if ok { Answer::Accept } else { Answer::Reject })
//!         }
//!         ServerStep::Need(_) => unreachable!("PLAIN asks only for a password check"),
//!         ServerStep::Success(who) => {
//!             assert_eq!(who.identity(), "tim");
//!             break;
//!         }
//!         ServerStep::Failure(why) => panic!("{why:?}"),
//!         _ => unreachable!("ServerStep may grow"),
//!     }
//! }
//! ```
//!
//! # Client side
//!
//! ```
//! use smtp_proto::sasl::{ClientOptions, Credentials, Mechanism, Nonce, SaslClient};
//!
//! let creds = Credentials::password("tim", "tanstaaftanstaaf");
//! let mech = creds.choose([Mechanism::Login, Mechanism::Plain], true, false).unwrap();
//! assert_eq!(mech, Mechanism::Plain);
//! let mut client =
//!     SaslClient::new(mech, creds, &ClientOptions::default(), Nonce::generate().unwrap()).unwrap();
//! let first = client.initial_response().unwrap().unwrap();
//! assert_eq!(smtp_proto::sasl::encode(&first), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
//! // On `235`/`OK`: client.finish(None) confirms (SCRAM checks the server's signature there).
//! client.finish(None).unwrap();
//! ```
//!
//! # Limits
//!
//! [`ServerOptions::max_response_len`] bounds every decoded client response (default 16 KiB:
//! large enough for the JWT bearer tokens big providers issue, small enough to bound memory);
//! [`decode_response`] refuses longer base64 before decoding it. SCRAM clients refuse
//! iteration counts outside [`ClientOptions::min_iterations`]..=[`ClientOptions::max_iterations`]
//! so a hostile server cannot make them burn CPU.

mod cram;
mod oauth;
mod plain;
mod scram;

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub use oauth::OAuthError;
pub use scram::ScramCredentials;

/// A SASL mechanism this module implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616): authzid, authcid and password in one message.
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login): user name, then password, each prompted.
    Login,
    /// `CRAM-MD5` (RFC 2195): HMAC-MD5 of a server challenge keyed by the shared secret.
    CramMd5,
    /// `XOAUTH2` (Google, Microsoft): user name and OAuth 2.0 bearer token.
    XOAuth2,
    /// `OAUTHBEARER` (RFC 7628): OAuth 2.0 bearer token with GS2 header.
    OAuthBearer,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677) without channel binding.
    ScramSha256,
    /// `SCRAM-SHA-256-PLUS` with `tls-exporter` channel binding (RFC 9266).
    ScramSha256Plus,
}

impl Mechanism {
    /// Every mechanism, in the order [`Credentials::choose`] prefers them (strongest first).
    pub const ALL: [Self; 7] = [
        Self::ScramSha256Plus,
        Self::ScramSha256,
        Self::OAuthBearer,
        Self::XOAuth2,
        Self::Plain,
        Self::Login,
        Self::CramMd5,
    ];

    /// The registered name, upper case.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::CramMd5 => "CRAM-MD5",
            Self::XOAuth2 => "XOAUTH2",
            Self::OAuthBearer => "OAUTHBEARER",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// Looks a name up, case-insensitively. Unknown names give `None`.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// True when the mechanism reveals a reusable secret (a password or bearer token) to
    /// anyone who can read the connection: offer and use it only under TLS (RFC 4954 §4,
    /// RFC 8314).
    pub const fn reveals_secret(self) -> bool {
        matches!(
            self,
            Self::Plain | Self::Login | Self::XOAuth2 | Self::OAuthBearer
        )
    }

    /// True when the client speaks first, so an initial response (SMTP `AUTH MECH ir`, IMAP
    /// SASL-IR) saves a round trip.
    pub const fn client_first(self) -> bool {
        !matches!(self, Self::CramMd5)
    }

    /// True for mechanisms that bind to the TLS channel (and so need the exporter bytes).
    pub const fn needs_channel_binding(self) -> bool {
        matches!(self, Self::ScramSha256Plus)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value whose `Debug` output is redacted: passwords, tokens, keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value. Name the call site: it is where the secret leaves its wrapper.
    pub const fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Fresh randomness for one exchange: the SCRAM nonce and the CRAM-MD5 challenge.
///
/// Randomness is an input of this crate, like time: [`Nonce::generate`] reads the operating
/// system's generator (through ring); tests and fuzzers pass fixed values.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    /// The base64 form of 18 random bytes (24 characters, 144 bits).
    pub fn from_random(bytes: [u8; 18]) -> Self {
        Self(STANDARD.encode(bytes))
    }

    /// A nonce from the operating system's random generator.
    pub fn generate() -> Result<Self, SaslError> {
        use ring::rand::SecureRandom as _;
        let mut bytes = [0u8; 18];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SaslError::Random)?;
        Ok(Self::from_random(bytes))
    }

    /// A given nonce: 1 to 256 printable ASCII characters other than `,` (RFC 5802 §7
    /// `printable`).
    pub fn new(text: impl Into<String>) -> Result<Self, SaslError> {
        let text = text.into();
        if text.is_empty()
            || text.len() > 256
            || !text
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err(SaslError::InvalidInput(
                "nonce must be 1..=256 printable characters other than ','",
            ));
        }
        Ok(Self(text))
    }

    /// The nonce text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(<redacted>)")
    }
}

/// Why a SASL operation failed on the client side, or why a helper refused its input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslError {
    /// A line that is not valid base64 (RFC 4648, padded, no whitespace).
    InvalidBase64,
    /// A decoded response longer than the configured limit.
    TooLong {
        /// The limit in decoded bytes.
        limit: usize,
    },
    /// The peer sent a message the mechanism's grammar does not allow.
    Malformed(&'static str),
    /// The caller passed a value the mechanism cannot carry (a NUL in a PLAIN user name, a
    /// password SASLprep refuses, ...).
    InvalidInput(&'static str),
    /// The exchange was used out of order (a challenge after the end, `finish` too early).
    UnexpectedStep,
    /// A SCRAM server sent an iteration count outside the client's accepted range.
    IterationCount(u32),
    /// The SCRAM server's nonce does not extend the client's.
    NonceMismatch,
    /// The SCRAM server's signature is wrong: the server does not know the credentials, or
    /// someone is in the middle.
    ServerSignatureMismatch,
    /// The server reported an error in the mechanism (SCRAM `e=`, OAUTHBEARER JSON status).
    ServerError(String),
    /// The exchange ended before the server proved itself (SCRAM without `v=`).
    ServerNotVerified,
    /// The mechanism needs channel binding data and none was given.
    ChannelBindingRequired,
    /// The operating system's random generator failed.
    Random,
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBase64 => f.write_str("invalid base64"),
            Self::TooLong { limit } => write!(f, "SASL response longer than {limit} bytes"),
            Self::Malformed(what) => write!(f, "malformed SASL message: {what}"),
            Self::InvalidInput(what) => write!(f, "invalid SASL input: {what}"),
            Self::UnexpectedStep => f.write_str("SASL exchange used out of order"),
            Self::IterationCount(n) => write!(f, "SCRAM iteration count {n} out of range"),
            Self::NonceMismatch => f.write_str("SCRAM server nonce does not extend ours"),
            Self::ServerSignatureMismatch => f.write_str("SCRAM server signature is wrong"),
            Self::ServerError(e) => write!(f, "server reported: {e}"),
            Self::ServerNotVerified => {
                f.write_str("server did not prove knowledge of the credentials")
            }
            Self::ChannelBindingRequired => f.write_str("channel binding data required"),
            Self::Random => f.write_str("random generator failed"),
        }
    }
}

impl std::error::Error for SaslError {}

// ---------------------------------------------------------------------------------------------
// base64 framing helpers

/// Encodes a challenge or response for the wire (RFC 4648 base64 with padding). An empty
/// input gives an empty string.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Encodes an initial response: `=` for an empty one (RFC 4954 §4, RFC 4959), base64 otherwise.
pub fn encode_initial_response(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "=".to_owned()
    } else {
        encode(bytes)
    }
}

/// A decoded client line during an exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientResponse {
    /// The decoded bytes (possibly empty).
    Data(Vec<u8>),
    /// `*`: the client cancels the exchange (RFC 4954 §4, RFC 9051 §6.2.2). Answer it with the
    /// protocol's cancel reply (SMTP `501 5.0.0`).
    Cancel,
}

/// Decodes a client line sent in answer to a challenge: `*` cancels, an empty line is an
/// empty response, anything else must be base64 that decodes to at most `max_len` bytes.
/// `line` excludes the CRLF.
pub fn decode_response(line: &[u8], max_len: usize) -> Result<ClientResponse, SaslError> {
    if line == b"*" {
        return Ok(ClientResponse::Cancel);
    }
    decode_limited(line, max_len).map(ClientResponse::Data)
}

/// Decodes an initial response argument (SMTP `AUTH MECH arg`, IMAP SASL-IR): `=` is an empty
/// response; anything else must be base64 decoding to at most `max_len` bytes.
pub fn decode_initial_response(arg: &[u8], max_len: usize) -> Result<Vec<u8>, SaslError> {
    if arg == b"=" {
        return Ok(Vec::new());
    }
    if arg.is_empty() {
        return Err(SaslError::InvalidBase64);
    }
    decode_limited(arg, max_len)
}

fn decode_limited(text: &[u8], max_len: usize) -> Result<Vec<u8>, SaslError> {
    // Refuse before decoding: padded base64 is 4 characters per 3 bytes.
    if text.len() / 4 * 3 > max_len.saturating_add(2) {
        return Err(SaslError::TooLong { limit: max_len });
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| SaslError::InvalidBase64)?;
    if bytes.len() > max_len {
        return Err(SaslError::TooLong { limit: max_len });
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Server side

/// What the server does with the SCRAM `v=` message ("additional data with success",
/// RFC 4422 §3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FinalData {
    /// Send it as one more challenge and require an empty response before success: for
    /// protocols whose success reply cannot carry data (SMTP RFC 4954 §4, IMAP).
    #[default]
    AsChallenge,
    /// Return it inside [`ServerStep::Success`] ([`Authenticated::additional_data`]): for
    /// protocols that carry it in the success reply (ManageSieve `OK (SASL "...")`).
    WithSuccess,
}

/// Server-side settings shared by every mechanism. `Default` gives safe values.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Longest decoded client response accepted, in bytes (default 16384). Longer responses
    /// fail the exchange with [`FailureReason::TooLong`]. Apply the same limit when decoding
    /// with [`decode_response`].
    pub max_response_len: usize,
    /// The host name in the CRAM-MD5 challenge `<random.digits@hostname>` (default
    /// `localhost`; set the server's FQDN).
    pub hostname: String,
    /// The `tls-exporter` channel binding of this connection (RFC 9266: the 32-byte TLS
    /// exporter with label `EXPORTER-Channel-Binding` and no context), when the connection is
    /// TLS and the server offers `SCRAM-SHA-256-PLUS`. With `None`, a PLUS exchange fails
    /// and a client claiming `y` (it thinks we do not support binding) is accepted.
    pub channel_binding: Option<Secret<Vec<u8>>>,
    /// Where the SCRAM server-final message goes.
    pub final_data: FinalData,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_response_len: 16 * 1024,
            hostname: "localhost".to_owned(),
            channel_binding: None,
            final_data: FinalData::AsChallenge,
        }
    }
}

/// What the server-side mechanism needs the host to decide. Answer with
/// [`SaslServer::answer`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// PLAIN, LOGIN: is `password` right for `authcid`, and may `authcid` act as `authzid`
    /// (when given)? Answer [`Answer::Accept`], [`Answer::Reject`] or [`Answer::TempFail`].
    VerifyPassword {
        /// The requested authorization identity (PLAIN only), if any.
        authzid: Option<String>,
        /// The authentication identity (user name).
        authcid: String,
        /// The password as sent (no SASLprep applied; apply it in the host if its store
        /// expects prepared strings).
        password: Secret<String>,
    },
    /// CRAM-MD5: the shared secret (the password) of `user`. Answer [`Answer::Secret`],
    /// or [`Answer::Reject`] for an unknown user.
    CramMd5Secret {
        /// The user name.
        user: String,
    },
    /// SCRAM: the stored credentials of `authcid`, if it may act as `authzid` (when given).
    /// Answer [`Answer::Scram`] (see [`ScramCredentials::derive`]), or [`Answer::Reject`].
    ScramCredentials {
        /// The requested authorization identity, if any.
        authzid: Option<String>,
        /// The user name, unescaped (`=2C` and `=3D` decoded).
        authcid: String,
    },
    /// XOAUTH2, OAUTHBEARER: is the bearer token valid for this user? Answer
    /// [`Answer::Accept`] (the identity is `user`), [`Answer::AcceptAs`] (the identity the
    /// token belongs to, for OAUTHBEARER without `a=`), [`Answer::RejectToken`] or
    /// [`Answer::TempFail`].
    ValidateToken {
        /// XOAUTH2 `user=`, OAUTHBEARER `a=` (optional there).
        user: Option<String>,
        /// The token after `Bearer `.
        token: Secret<String>,
        /// OAUTHBEARER `host=`, if sent.
        host: Option<String>,
        /// OAUTHBEARER `port=`, if sent.
        port: Option<u16>,
    },
}

/// The host's answer to a [`Decision`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The password is right / the token is valid, and the authorization is allowed.
    Accept,
    /// The token is valid and belongs to this identity.
    AcceptAs(String),
    /// Wrong password, unknown user or authorization not allowed.
    Reject,
    /// A bearer token is not valid; the values go into the error JSON the client receives
    /// (RFC 7628 §3.2.2).
    RejectToken(OAuthError),
    /// The user database is unavailable: fail with a temporary error (SMTP `454 4.7.0`).
    TempFail,
    /// The CRAM-MD5 shared secret.
    Secret(Secret<Vec<u8>>),
    /// The stored SCRAM credentials.
    Scram(ScramCredentials),
}

/// The outcome of a successful exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authenticated {
    /// The mechanism used.
    pub mechanism: Mechanism,
    /// The authenticated user (authentication identity).
    pub authcid: String,
    /// The authorization identity the client asked to act as, when it differs from nothing.
    pub authzid: Option<String>,
    /// Additional data with success (the SCRAM `v=` message) when
    /// [`ServerOptions::final_data`] is [`FinalData::WithSuccess`]: send it in the success
    /// reply.
    pub additional_data: Option<Vec<u8>>,
}

impl Authenticated {
    /// The identity the session acts as: the authzid when given, else the authcid.
    pub fn identity(&self) -> &str {
        self.authzid.as_deref().unwrap_or(&self.authcid)
    }
}

/// Why a server-side exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// Wrong credentials, unknown user, or authorization refused (SMTP `535 5.7.8`).
    BadCredentials,
    /// The client's message broke the mechanism's grammar (SMTP `501 5.5.2`).
    Malformed,
    /// A response longer than [`ServerOptions::max_response_len`] (SMTP `500 5.5.6`).
    TooLong,
    /// The client sent `*` (SMTP `501 5.0.0`).
    Cancelled,
    /// The host answered [`Answer::TempFail`] (SMTP `454 4.7.0`).
    TempFail,
    /// Channel binding missing, of another type, or not matching this connection, or a
    /// client that claims the server does not support binding when it does (RFC 5802 §6).
    ChannelBinding,
    /// The mechanism needs something this server is not set up for (a PLUS exchange
    /// without channel binding data).
    Unavailable,
    /// The caller used the exchange out of order (a response while a decision is pending,
    /// an answer of the wrong kind). A bug in the host, reported rather than panicking.
    Misuse,
}

/// A failed exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Why.
    pub reason: FailureReason,
    /// The user name, when the exchange got far enough to learn it (for logs).
    pub user: Option<String>,
}

/// What the server does next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerStep {
    /// Send this challenge (base64-encode it for the wire) and feed the client's answer to
    /// [`SaslServer::respond`].
    Challenge(Vec<u8>),
    /// Ask the host; feed its answer to [`SaslServer::answer`].
    Need(Decision),
    /// Authentication succeeded.
    Success(Authenticated),
    /// Authentication failed.
    Failure(Failure),
}

#[derive(Debug)]
enum ServerMech {
    Plain(plain::PlainServer),
    Login(plain::LoginServer),
    CramMd5(cram::CramServer),
    OAuth(oauth::OAuthServer),
    Scram(scram::ScramServer),
}

/// One server-side SASL exchange. Drive it with [`start`](Self::start), then
/// [`respond`](Self::respond) for every client response and [`answer`](Self::answer) for every
/// [`Decision`], until [`ServerStep::Success`] or [`ServerStep::Failure`].
#[derive(Debug)]
pub struct SaslServer {
    mechanism: Mechanism,
    max_response_len: usize,
    inner: ServerMech,
    done: bool,
}

impl SaslServer {
    /// Begins an exchange for `mechanism`. `nonce` must be fresh per exchange (see
    /// [`Nonce::generate`]).
    pub fn new(mechanism: Mechanism, options: &ServerOptions, nonce: Nonce) -> Self {
        let inner = match mechanism {
            Mechanism::Plain => ServerMech::Plain(plain::PlainServer::default()),
            Mechanism::Login => ServerMech::Login(plain::LoginServer::default()),
            Mechanism::CramMd5 => {
                ServerMech::CramMd5(cram::CramServer::new(&nonce, &options.hostname))
            }
            Mechanism::XOAuth2 => ServerMech::OAuth(oauth::OAuthServer::new(false)),
            Mechanism::OAuthBearer => ServerMech::OAuth(oauth::OAuthServer::new(true)),
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => {
                ServerMech::Scram(scram::ScramServer::new(
                    mechanism == Mechanism::ScramSha256Plus,
                    options.channel_binding.clone(),
                    nonce,
                    options.final_data,
                ))
            }
        };
        Self {
            mechanism,
            max_response_len: options.max_response_len,
            inner,
            done: false,
        }
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Starts the exchange with the client's initial response, if the protocol carried one
    /// (already decoded; `Some(&[])` is an empty initial response, `=` on the wire).
    pub fn start(&mut self, initial_response: Option<&[u8]>) -> ServerStep {
        if let Some(ir) = initial_response
            && ir.len() > self.max_response_len
        {
            return self.fail(FailureReason::TooLong, None);
        }
        let step = match &mut self.inner {
            ServerMech::Plain(m) => m.start(initial_response),
            ServerMech::Login(m) => m.start(initial_response),
            ServerMech::CramMd5(m) => m.start(initial_response),
            ServerMech::OAuth(m) => m.start(initial_response),
            ServerMech::Scram(m) => m.start(initial_response),
        };
        self.finish_step(step)
    }

    /// Feeds the client's decoded answer to the last challenge.
    pub fn respond(&mut self, response: &[u8]) -> ServerStep {
        if self.done {
            return self.fail(FailureReason::Misuse, None);
        }
        if response.len() > self.max_response_len {
            return self.fail(FailureReason::TooLong, None);
        }
        let step = match &mut self.inner {
            ServerMech::Plain(m) => m.respond(response),
            ServerMech::Login(m) => m.respond(response),
            ServerMech::CramMd5(m) => m.respond(response),
            ServerMech::OAuth(m) => m.respond(response),
            ServerMech::Scram(m) => m.respond(response),
        };
        self.finish_step(step)
    }

    /// Records that the client cancelled (`*`): the exchange fails with
    /// [`FailureReason::Cancelled`].
    pub fn cancel(&mut self) -> ServerStep {
        self.fail(FailureReason::Cancelled, None)
    }

    /// Answers the pending [`Decision`].
    pub fn answer(&mut self, answer: Answer) -> ServerStep {
        if self.done {
            return self.fail(FailureReason::Misuse, None);
        }
        let step = match &mut self.inner {
            ServerMech::Plain(m) => m.answer(&answer),
            ServerMech::Login(m) => m.answer(&answer),
            ServerMech::CramMd5(m) => m.answer(answer),
            ServerMech::OAuth(m) => m.answer(answer),
            ServerMech::Scram(m) => m.answer(answer),
        };
        self.finish_step(step)
    }

    fn fail(&mut self, reason: FailureReason, user: Option<String>) -> ServerStep {
        self.done = true;
        ServerStep::Failure(Failure {
            mechanism: self.mechanism,
            reason,
            user,
        })
    }

    fn finish_step(&mut self, step: Step) -> ServerStep {
        match step {
            Step::Challenge(c) => ServerStep::Challenge(c),
            Step::Need(d) => ServerStep::Need(d),
            Step::Success {
                authcid,
                authzid,
                additional_data,
            } => {
                self.done = true;
                ServerStep::Success(Authenticated {
                    mechanism: self.mechanism,
                    authcid,
                    authzid,
                    additional_data,
                })
            }
            Step::Failure(reason, user) => self.fail(reason, user),
        }
    }
}

/// The internal result of a mechanism step (the wrapper adds the mechanism and bookkeeping).
#[derive(Debug)]
enum Step {
    Challenge(Vec<u8>),
    Need(Decision),
    Success {
        authcid: String,
        authzid: Option<String>,
        additional_data: Option<Vec<u8>>,
    },
    Failure(FailureReason, Option<String>),
}

impl Step {
    fn success(authcid: String, authzid: Option<String>) -> Self {
        Self::Success {
            authcid,
            authzid,
            additional_data: None,
        }
    }
}

/// Maps an answer that only says yes/no/later to a step.
fn simple_verdict(answer: &Answer, authcid: String, authzid: Option<String>) -> Step {
    match answer {
        Answer::Accept => Step::success(authcid, authzid),
        Answer::Reject | Answer::RejectToken(_) => {
            Step::Failure(FailureReason::BadCredentials, Some(authcid))
        }
        Answer::TempFail => Step::Failure(FailureReason::TempFail, Some(authcid)),
        _ => Step::Failure(FailureReason::Misuse, Some(authcid)),
    }
}

/// Constant-time equality of two byte strings of public length.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// UTF-8 without NUL, as PLAIN, LOGIN and the SCRAM names require.
fn utf8_no_nul(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

// ---------------------------------------------------------------------------------------------
// Client side

/// What the client authenticates with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// A user name and password (PLAIN, LOGIN, CRAM-MD5, SCRAM).
    Password {
        /// The authentication identity.
        authcid: String,
        /// The password.
        password: Secret<String>,
        /// The identity to act as, if not the authcid (PLAIN, SCRAM).
        authzid: Option<String>,
    },
    /// An OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER).
    Bearer {
        /// The user the token is for.
        user: String,
        /// The access token.
        token: Secret<String>,
        /// OAUTHBEARER `host=` (the server name the client connected to), if known.
        host: Option<String>,
        /// OAUTHBEARER `port=`, if known.
        port: Option<u16>,
    },
}

impl Credentials {
    /// A user name and password, no authzid.
    pub fn password(authcid: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Password {
            authcid: authcid.into(),
            password: Secret::new(password.into()),
            authzid: None,
        }
    }

    /// A user and bearer token, no host or port.
    pub fn bearer(user: impl Into<String>, token: impl Into<String>) -> Self {
        Self::Bearer {
            user: user.into(),
            token: Secret::new(token.into()),
            host: None,
            port: None,
        }
    }

    /// Picks the strongest mechanism among `offered` that these credentials can use.
    /// Mechanisms that reveal the secret are used only when `tls` is true; PLUS only when the
    /// host has channel binding data (`channel_binding`). Order for passwords:
    /// SCRAM-SHA-256-PLUS, SCRAM-SHA-256, PLAIN, LOGIN, CRAM-MD5; for tokens: OAUTHBEARER,
    /// XOAUTH2.
    pub fn choose(
        &self,
        offered: impl IntoIterator<Item = Mechanism>,
        tls: bool,
        channel_binding: bool,
    ) -> Option<Mechanism> {
        let offered: Vec<Mechanism> = offered.into_iter().collect();
        let order: &[Mechanism] = match self {
            Self::Password { .. } => &[
                Mechanism::ScramSha256Plus,
                Mechanism::ScramSha256,
                Mechanism::Plain,
                Mechanism::Login,
                Mechanism::CramMd5,
            ],
            Self::Bearer { .. } => &[Mechanism::OAuthBearer, Mechanism::XOAuth2],
        };
        order.iter().copied().find(|m| {
            offered.contains(m)
                && (tls || !m.reveals_secret())
                && (channel_binding || !m.needs_channel_binding())
        })
    }
}

/// Client-side settings. `Default` gives safe values.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The `tls-exporter` channel binding of this connection (RFC 9266), required for
    /// SCRAM-SHA-256-PLUS. Given with plain SCRAM-SHA-256, the client tells the server it
    /// supports binding (`y`) so a stripped PLUS offer is detected (RFC 5802 §6).
    pub channel_binding: Option<Secret<Vec<u8>>>,
    /// Smallest SCRAM iteration count accepted (default 4096, RFC 7677 §4).
    pub min_iterations: u32,
    /// Largest SCRAM iteration count accepted (default 1 000 000), so a hostile server
    /// cannot make the client spin.
    pub max_iterations: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            channel_binding: None,
            min_iterations: 4096,
            max_iterations: 1_000_000,
        }
    }
}

#[derive(Debug)]
enum ClientMech {
    Plain(plain::PlainClient),
    Login(plain::LoginClient),
    CramMd5(cram::CramClient),
    OAuth(oauth::OAuthClient),
    Scram(Box<scram::ScramClient>),
}

/// One client-side SASL exchange.
///
/// Send [`initial_response`](Self::initial_response) with the AUTH command when the protocol
/// allows it (else wait for the first, empty, challenge and [`respond`](Self::respond) to it);
/// answer each challenge with [`respond`](Self::respond); on the protocol's success reply call
/// [`finish`](Self::finish), which for SCRAM fails unless the server proved it knows the
/// credentials.
#[derive(Debug)]
pub struct SaslClient {
    mechanism: Mechanism,
    inner: ClientMech,
    sent_initial: bool,
}

impl SaslClient {
    /// Prepares an exchange (the nonce is consumed: one per exchange). Fails when the credentials do not fit the mechanism (a token for
    /// PLAIN), when they hold characters the mechanism cannot carry, or when
    /// SCRAM-SHA-256-PLUS lacks channel binding data.
    #[allow(clippy::needless_pass_by_value)] // the nonce is single-use by design
    pub fn new(
        mechanism: Mechanism,
        credentials: Credentials,
        options: &ClientOptions,
        nonce: Nonce,
    ) -> Result<Self, SaslError> {
        let inner = match (mechanism, credentials) {
            (
                Mechanism::Plain,
                Credentials::Password {
                    authcid,
                    password,
                    authzid,
                },
            ) => ClientMech::Plain(plain::PlainClient::new(
                authzid.as_deref(),
                &authcid,
                password,
            )?),
            (
                Mechanism::Login,
                Credentials::Password {
                    authcid, password, ..
                },
            ) => ClientMech::Login(plain::LoginClient::new(authcid, password)?),
            (
                Mechanism::CramMd5,
                Credentials::Password {
                    authcid, password, ..
                },
            ) => ClientMech::CramMd5(cram::CramClient::new(authcid, password)),
            (
                m @ (Mechanism::XOAuth2 | Mechanism::OAuthBearer),
                Credentials::Bearer {
                    user,
                    token,
                    host,
                    port,
                },
            ) => ClientMech::OAuth(oauth::OAuthClient::new(
                m == Mechanism::OAuthBearer,
                &user,
                token,
                host,
                port,
            )?),
            (
                m @ (Mechanism::ScramSha256 | Mechanism::ScramSha256Plus),
                Credentials::Password {
                    authcid,
                    password,
                    authzid,
                },
            ) => ClientMech::Scram(Box::new(scram::ScramClient::new(
                m == Mechanism::ScramSha256Plus,
                authzid.as_deref(),
                &authcid,
                &password,
                options,
                &nonce,
            )?)),
            _ => {
                return Err(SaslError::InvalidInput(
                    "credentials do not fit the mechanism",
                ));
            }
        };
        Ok(Self {
            mechanism,
            inner,
            sent_initial: false,
        })
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The initial response, for protocols that send one with the command; `None` for
    /// mechanisms where the server speaks first (CRAM-MD5). Call at most once, before any
    /// [`respond`](Self::respond).
    pub fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        if self.sent_initial {
            return Err(SaslError::UnexpectedStep);
        }
        if !self.mechanism.client_first() {
            return Ok(None);
        }
        self.sent_initial = true;
        self.initial().map(Some)
    }

    fn initial(&mut self) -> Result<Vec<u8>, SaslError> {
        match &mut self.inner {
            ClientMech::Plain(m) => Ok(m.initial()),
            ClientMech::Login(m) => Ok(m.initial()),
            ClientMech::OAuth(m) => m.initial(),
            ClientMech::Scram(m) => m.initial(),
            ClientMech::CramMd5(_) => Err(SaslError::UnexpectedStep),
        }
    }

    /// Answers a decoded server challenge.
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if !self.sent_initial && self.mechanism.client_first() {
            // No initial response was sent: the first challenge is empty and asks for it.
            self.sent_initial = true;
            if challenge.is_empty() || matches!(self.inner, ClientMech::Login(_)) {
                if let ClientMech::Login(m) = &mut self.inner {
                    return m.respond(challenge);
                }
                return self.initial();
            }
            return Err(SaslError::Malformed("expected an empty first challenge"));
        }
        self.sent_initial = true;
        match &mut self.inner {
            ClientMech::Plain(_) => Err(SaslError::UnexpectedStep),
            ClientMech::Login(m) => m.respond(challenge),
            ClientMech::CramMd5(m) => m.respond(challenge),
            ClientMech::OAuth(m) => m.respond(challenge),
            ClientMech::Scram(m) => m.respond(challenge),
        }
    }

    /// The error the server sent inside the mechanism, when it sent one (the OAUTHBEARER /
    /// XOAUTH2 error JSON that precedes the failure reply).
    pub fn server_error(&self) -> Option<&str> {
        match &self.inner {
            ClientMech::OAuth(m) => m.error(),
            _ => None,
        }
    }

    /// Completes the exchange on the protocol's success reply, with the additional data it
    /// carried, if any. For SCRAM this verifies the server signature (sent either as the last
    /// challenge or here) and fails with [`SaslError::ServerNotVerified`] when the server never
    /// sent it.
    pub fn finish(&mut self, additional_data: Option<&[u8]>) -> Result<(), SaslError> {
        match &mut self.inner {
            ClientMech::Scram(m) => m.finish(additional_data),
            _ if additional_data.is_some_and(|d| !d.is_empty()) => Err(SaslError::Malformed(
                "unexpected additional data with success",
            )),
            _ => Ok(()),
        }
    }
}

/// Escapes `,` and `=` in a SCRAM / GS2 `saslname` (RFC 5802 §5.1).
fn escape_saslname(name: &str) -> Cow<'_, str> {
    if name.contains([',', '=']) {
        Cow::Owned(name.replace('=', "=3D").replace(',', "=2C"))
    } else {
        Cow::Borrowed(name)
    }
}

/// Reverses [`escape_saslname`]; `None` for a stray `=` or a `,`.
fn unescape_saslname(name: &[u8]) -> Option<String> {
    let text = utf8_no_nul(name)?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['=', ',']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return None;
        }
        rest = &tail[3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests;
