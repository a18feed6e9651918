//! SMTP commands: parsing one command line and writing it back.
//!
//! Every command of RFC 5321 and the IANA SMTP service extension registry that a session can
//! meet: HELO, EHLO, LHLO (RFC 2033), MAIL, RCPT, DATA, BDAT (RFC 3030), RSET, NOOP, QUIT,
//! VRFY, EXPN, HELP, STARTTLS (RFC 3207), AUTH (RFC 4954), ETRN (RFC 1985), ATRN (RFC 2645),
//! BURL (RFC 4468), XCLIENT and XFORWARD (Postfix). MAIL and RCPT parameters:
//!
//! | parameter | command | RFC |
//! | --- | --- | --- |
//! | `SIZE=n` | MAIL | 1870 |
//! | `BODY=7BIT/8BITMIME/BINARYMIME` | MAIL | 6152, 3030 |
//! | `SMTPUTF8` | MAIL | 6531 |
//! | `RET=FULL/HDRS`, `ENVID=xtext` | MAIL | 3461 |
//! | `NOTIFY=...`, `ORCPT=type;xtext` | RCPT | 3461 |
//! | `AUTH=xtext` | MAIL | 4954 |
//! | `REQUIRETLS` | MAIL | 8689 |
//! | `MT-PRIORITY=-9..9` | MAIL | 6710 |
//! | `HOLDFOR=n`, `HOLDUNTIL=date` | MAIL | 4865 |
//! | `BY=time;mode[T]` | MAIL | 2852 |
//! | `MTRK=[id:]timeout` | MAIL | 3885 |
//! | `SOLICIT=...` | MAIL | 3865 |
//! | `RRVS=date[;C/R]` | RCPT | 7293 |
//!
//! Unknown parameters are kept in `unknown` so the session answers them with
//! `555 5.5.4` (SMTP-014) instead of dropping them. Numbers that overflow are errors, never
//! truncated. The parser takes one line **without** its CRLF; framing is the session's job.
//!
//! ```text
//! mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
//! rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
//!        [SP Rcpt-parameters] CRLF
//! esmtp-param   = esmtp-keyword ["=" esmtp-value]
//! esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! esmtp-value   = 1*(%d33-60 / %d62-126)        ; RFC 6531: / UTF8-non-ascii
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::reply::{EnhancedStatus, Reply, ReplyCode};
use crate::types::{AddressError, ForwardPath, Mailbox, ReversePath, split_path};

mod scan;

/// Which greeting command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelloVerb {
    /// `HELO`: plain SMTP, no extensions.
    Helo,
    /// `EHLO`: ESMTP.
    Ehlo,
    /// `LHLO`: LMTP (RFC 2033).
    Lhlo,
}

impl HelloVerb {
    /// The verb.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Helo => "HELO",
            Self::Ehlo => "EHLO",
            Self::Lhlo => "LHLO",
        }
    }
}

/// `BODY=` (RFC 6152, RFC 3030).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Body {
    /// `7BIT`
    SevenBit,
    /// `8BITMIME`
    EightBitMime,
    /// `BINARYMIME` (needs BDAT).
    BinaryMime,
}

impl Body {
    fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7BIT",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=` (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`: return the whole message in a DSN.
    Full,
    /// `HDRS`: headers only.
    Hdrs,
}

/// `NOTIFY=` (RFC 3461 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Notify {
    /// `NEVER` (exclusive of the others).
    pub never: bool,
    /// `SUCCESS`
    pub success: bool,
    /// `FAILURE`
    pub failure: bool,
    /// `DELAY`
    pub delay: bool,
}

/// `BY=` (RFC 2852): deliver-by time and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliverBy {
    /// Seconds (may be negative for mode `N`).
    pub time: i64,
    /// `R` (return if late) when true, `N` (notify) when false.
    pub return_if_late: bool,
    /// The `T` (trace) modifier.
    pub trace: bool,
}

/// Parameters of `MAIL FROM`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MailParams<'a> {
    /// `SIZE=`
    pub size: Option<u64>,
    /// `BODY=`
    pub body: Option<Body>,
    /// `SMTPUTF8`
    pub smtputf8: bool,
    /// `RET=`
    pub ret: Option<Ret>,
    /// `ENVID=` (xtext decoded).
    pub envid: Option<Cow<'a, str>>,
    /// `AUTH=` (xtext decoded; `<>` for unknown).
    pub auth: Option<Cow<'a, str>>,
    /// `REQUIRETLS`
    pub requiretls: bool,
    /// `MT-PRIORITY=`
    pub mt_priority: Option<i8>,
    /// `HOLDFOR=` seconds.
    pub hold_for: Option<u64>,
    /// `HOLDUNTIL=` (RFC 3339 date-time, kept as text).
    pub hold_until: Option<Cow<'a, str>>,
    /// `BY=`
    pub by: Option<DeliverBy>,
    /// `MTRK=` (kept as text).
    pub mtrk: Option<Cow<'a, str>>,
    /// `SOLICIT=` (kept as text).
    pub solicit: Option<Cow<'a, str>>,
    /// Parameters this crate does not know, keyword and raw value.
    pub unknown: Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>,
}

/// Parameters of `RCPT TO`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RcptParams<'a> {
    /// `NOTIFY=`
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext`: the type and the decoded address.
    pub orcpt: Option<(Cow<'a, str>, Cow<'a, str>)>,
    /// `RRVS=` (kept as text).
    pub rrvs: Option<Cow<'a, str>>,
    /// Parameters this crate does not know, keyword and raw value.
    pub unknown: Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>,
}

/// `XCLIENT`/`XFORWARD` attributes: name and decoded value.
pub type Attributes<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// One SMTP command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `HELO`/`EHLO`/`LHLO` with the client's name (kept as sent; see
    /// [`HeloKind`](crate::types::HeloKind)).
    Hello {
        /// Which verb.
        verb: HelloVerb,
        /// The argument.
        name: Cow<'a, str>,
    },
    /// `MAIL FROM:`
    Mail {
        /// The reverse path.
        from: ReversePath<'a>,
        /// The parameters.
        params: MailParams<'a>,
    },
    /// `RCPT TO:`
    Rcpt {
        /// The forward path.
        to: ForwardPath<'a>,
        /// The parameters.
        params: RcptParams<'a>,
    },
    /// `DATA`
    Data,
    /// `BDAT size [LAST]`
    Bdat {
        /// Chunk size in octets.
        size: u64,
        /// `LAST` given.
        last: bool,
    },
    /// `RSET`
    Rset,
    /// `NOOP [string]`
    Noop,
    /// `QUIT`
    Quit,
    /// `VRFY string`
    Vrfy(Cow<'a, str>),
    /// `EXPN string`
    Expn(Cow<'a, str>),
    /// `HELP [string]`
    Help(Option<Cow<'a, str>>),
    /// `STARTTLS`
    StartTls,
    /// `AUTH mechanism [initial-response]` (the response still base64, `=` for empty).
    Auth {
        /// The mechanism name, as sent.
        mechanism: Cow<'a, str>,
        /// The initial response, as sent.
        initial_response: Option<Cow<'a, str>>,
    },
    /// `ETRN node` (RFC 1985).
    Etrn(Cow<'a, str>),
    /// `ATRN [domain *("," domain)]` (RFC 2645).
    Atrn(Option<Cow<'a, str>>),
    /// `BURL url [LAST]` (RFC 4468).
    Burl {
        /// The URL.
        url: Cow<'a, str>,
        /// `LAST` given.
        last: bool,
    },
    /// `XCLIENT name=value ...` (Postfix): attributes with xtext values decoded.
    Xclient(Attributes<'a>),
    /// `XFORWARD name=value ...` (Postfix): attributes with xtext values decoded.
    Xforward(Attributes<'a>),
}

/// Why a command line was refused. Each maps to the reply the server sends
/// ([`CommandError::reply`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// An unknown verb (`500 5.5.1`).
    UnknownCommand,
    /// A line that is not UTF-8 (`500 5.5.2`).
    NotUtf8,
    /// The arguments break the command's grammar (`501 5.5.2`).
    Syntax(&'static str),
    /// A bad sender address (`501 5.1.7`).
    BadSender(AddressError),
    /// A bad recipient address, including `RCPT TO:<>` (`501 5.1.3`).
    BadRecipient(AddressError),
    /// A known parameter with a bad value, or given twice (`501 5.5.4`).
    BadParameter(&'static str),
}

impl CommandError {
    /// The reply a server sends for this error.
    pub fn reply(&self) -> Reply {
        let (code, status, text): (u16, (u8, u16, u16), &str) = match self {
            Self::UnknownCommand => (500, (5, 5, 1), "Command unrecognized"),
            Self::NotUtf8 => (500, (5, 5, 2), "Command line is not valid UTF-8"),
            Self::Syntax(what) => (501, (5, 5, 2), what),
            Self::BadSender(AddressError::NeedsSmtpUtf8)
            | Self::BadRecipient(AddressError::NeedsSmtpUtf8) => (
                553,
                (5, 6, 7),
                "Non-ASCII addresses require the SMTPUTF8 parameter",
            ),
            Self::BadSender(AddressError::TooLong) => (501, (5, 1, 7), "Sender address too long"),
            Self::BadSender(_) => (501, (5, 1, 7), "Bad sender address syntax"),
            Self::BadRecipient(AddressError::TooLong) => {
                (501, (5, 1, 3), "Recipient address too long")
            }
            Self::BadRecipient(_) => (501, (5, 1, 3), "Bad recipient address syntax"),
            Self::BadParameter(what) => (501, (5, 5, 4), what),
        };
        Reply::new(
            ReplyCode::new(code).expect("valid code"),
            EnhancedStatus::new(status.0, status.1, status.2).ok(),
            [text],
        )
        .expect("static reply text is valid")
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reply = self.reply();
        write!(f, "{} {}", reply.code(), reply.first_line())
    }
}

impl std::error::Error for CommandError {}

/// Parser settings. `Default` is what a public MX should accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandParser {
    /// Accept spaces between `FROM:`/`TO:` and the path (`MAIL FROM: <a@b>`). RFC 5321 has
    /// none there, but many clients send one and Postfix accepts it; refusing loses real
    /// mail. Default `true`.
    pub allow_space_after_colon: bool,
    /// Accept a path without angle brackets (`MAIL FROM:a@b`, RFC 821-era clients).
    /// Default `false`.
    pub allow_unbracketed_path: bool,
}

impl Default for CommandParser {
    fn default() -> Self {
        Self {
            allow_space_after_colon: true,
            allow_unbracketed_path: false,
        }
    }
}

fn verb_of(line: &[u8]) -> (u32, usize) {
    // The verb up to the first space, as four lower-cased bytes (all our verbs are 4 long
    // except XCLIENT/XFORWARD/STARTTLS, matched after).
    let end = memchr::memchr(b' ', line).unwrap_or(line.len());
    if end == 4 {
        let v = u32::from_be_bytes([line[0], line[1], line[2], line[3]]) | 0x2020_2020;
        (v, end)
    } else {
        (0, end)
    }
}

const fn tag(s: [u8; 4]) -> u32 {
    u32::from_be_bytes(s)
}

impl CommandParser {
    /// Parses one command line (without CRLF).
    ///
    /// Well-formed common lines take a single pass over the bytes (the scanner in
    /// `command/scan.rs`); everything else, errors included, is decided by
    /// [`parse_reference`](Self::parse_reference), whose result this always equals.
    pub fn parse(self, line: &[u8]) -> Result<Command<'_>, CommandError> {
        self.parse_fast(line, || self.parse_reference(line))
    }

    /// The reference parser: the grammar written out rule by rule, one step after the
    /// other. [`parse`](Self::parse) gives the same result faster; this one is public for
    /// the differential tests and the `smtp_command` fuzz target, not for use.
    #[doc(hidden)]
    pub fn parse_reference<'a>(self, line: &'a [u8]) -> Result<Command<'a>, CommandError> {
        let line = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
        let line = line.trim_end_matches([' ', '\t']);
        let (verb, end) = verb_of(line.as_bytes());
        let args = line[end..].trim_start_matches(' ');
        let no_args = |c: Command<'a>| {
            if args.is_empty() {
                Ok(c)
            } else {
                Err(CommandError::Syntax("Syntax error: no arguments allowed"))
            }
        };
        match verb {
            v if v == tag(*b"mail") => self.mail(args),
            v if v == tag(*b"rcpt") => self.rcpt(args),
            v if v == tag(*b"data") => no_args(Command::Data),
            v if v == tag(*b"bdat") => bdat(args),
            v if v == tag(*b"ehlo") => hello(HelloVerb::Ehlo, args),
            v if v == tag(*b"helo") => hello(HelloVerb::Helo, args),
            v if v == tag(*b"lhlo") => hello(HelloVerb::Lhlo, args),
            v if v == tag(*b"rset") => no_args(Command::Rset),
            v if v == tag(*b"noop") => Ok(Command::Noop),
            v if v == tag(*b"quit") => no_args(Command::Quit),
            v if v == tag(*b"vrfy") => required(args, "VRFY needs an argument").map(Command::Vrfy),
            v if v == tag(*b"expn") => required(args, "EXPN needs an argument").map(Command::Expn),
            v if v == tag(*b"help") => Ok(Command::Help(
                (!args.is_empty()).then_some(Cow::Borrowed(args)),
            )),
            v if v == tag(*b"auth") => auth(args),
            v if v == tag(*b"etrn") => required(args, "ETRN needs a node").map(Command::Etrn),
            v if v == tag(*b"atrn") => Ok(Command::Atrn(
                (!args.is_empty()).then_some(Cow::Borrowed(args)),
            )),
            v if v == tag(*b"burl") => burl(args),
            _ => {
                let word = &line[..end];
                if word.eq_ignore_ascii_case("STARTTLS") {
                    no_args(Command::StartTls)
                } else if word.eq_ignore_ascii_case("XCLIENT") {
                    attributes(args).map(Command::Xclient)
                } else if word.eq_ignore_ascii_case("XFORWARD") {
                    attributes(args).map(Command::Xforward)
                } else {
                    Err(CommandError::UnknownCommand)
                }
            }
        }
    }

    fn path_args<'a>(self, args: &'a str, prefix: &str) -> Result<&'a str, CommandError> {
        let head = args
            .get(..prefix.len())
            .filter(|h| h.eq_ignore_ascii_case(prefix))
            .ok_or(CommandError::Syntax("Syntax error in parameters"))?;
        let rest = &args[head.len()..];
        if self.allow_space_after_colon {
            Ok(rest.trim_start_matches(' '))
        } else if rest.starts_with(' ') {
            Err(CommandError::Syntax("No space allowed after the colon"))
        } else {
            Ok(rest)
        }
    }

    /// Splits `<path> params` or, when allowed, `path params`.
    fn split(self, rest: &str) -> Result<(&str, &str), AddressError> {
        if rest.starts_with('<') || !self.allow_unbracketed_path {
            let (inner, params) = split_path(rest)?;
            if !params.is_empty() && !params.starts_with(' ') {
                return Err(AddressError::Syntax);
            }
            Ok((inner, params))
        } else {
            Ok(rest.split_once(' ').unwrap_or((rest, "")))
        }
    }

    fn mail(self, args: &str) -> Result<Command<'_>, CommandError> {
        let rest = self.path_args(args, "FROM:")?;
        let (inner, params) = self.split(rest).map_err(CommandError::BadSender)?;
        let params = mail_params(params)?;
        let from = if inner.is_empty() {
            ReversePath::Null
        } else {
            ReversePath::Mailbox(
                Mailbox::parse(inner, params.smtputf8).map_err(CommandError::BadSender)?,
            )
        };
        Ok(Command::Mail { from, params })
    }

    fn rcpt(self, args: &str) -> Result<Command<'_>, CommandError> {
        let rest = self.path_args(args, "TO:")?;
        let (inner, params) = self.split(rest).map_err(CommandError::BadRecipient)?;
        let params = rcpt_params(params)?;
        let to = if inner.eq_ignore_ascii_case("postmaster") {
            ForwardPath::Postmaster
        } else if inner.is_empty() {
            return Err(CommandError::BadRecipient(AddressError::Syntax));
        } else {
            // RCPT has no SMTPUTF8 parameter of its own: the MAIL's governs. Parse permissively
            // here; the session refuses UTF-8 recipients of a non-SMTPUTF8 transaction.
            ForwardPath::Mailbox(Mailbox::parse(inner, true).map_err(CommandError::BadRecipient)?)
        };
        Ok(Command::Rcpt { to, params })
    }
}

fn required<'a>(args: &'a str, what: &'static str) -> Result<Cow<'a, str>, CommandError> {
    if args.is_empty() {
        Err(CommandError::Syntax(what))
    } else {
        Ok(Cow::Borrowed(args))
    }
}

fn hello(verb: HelloVerb, args: &str) -> Result<Command<'_>, CommandError> {
    // The first word is the name; Outlook and others add words after it, which we ignore.
    let name = args.split(' ').next().unwrap_or("");
    if name.is_empty() {
        return Err(CommandError::Syntax("Hostname required"));
    }
    if name.bytes().any(|b| b.is_ascii_control()) {
        return Err(CommandError::Syntax("Invalid hostname"));
    }
    Ok(Command::Hello {
        verb,
        name: Cow::Borrowed(name),
    })
}

fn bdat(args: &str) -> Result<Command<'_>, CommandError> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .and_then(parse_u64)
        .ok_or(CommandError::Syntax("BDAT needs a chunk size"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax("Syntax: BDAT size [LAST]")),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax("Syntax: BDAT size [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

fn burl(args: &str) -> Result<Command<'_>, CommandError> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let url = words
        .next()
        .ok_or(CommandError::Syntax("BURL needs a URL"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax("Syntax: BURL url [LAST]")),
    };
    Ok(Command::Burl {
        url: Cow::Borrowed(url),
        last,
    })
}

fn auth(args: &str) -> Result<Command<'_>, CommandError> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let mechanism = words
        .next()
        .ok_or(CommandError::Syntax("AUTH needs a mechanism"))?;
    let ok_name = mechanism.len() <= 20
        && mechanism
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok_name {
        return Err(CommandError::Syntax("Invalid SASL mechanism name"));
    }
    let initial_response = words.next().map(Cow::Borrowed);
    if words.next().is_some() {
        return Err(CommandError::Syntax(
            "Syntax: AUTH mechanism [initial-response]",
        ));
    }
    Ok(Command::Auth {
        mechanism: Cow::Borrowed(mechanism),
        initial_response,
    })
}

/// A decimal without sign; overflow is `None`.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s.as_bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// The `key[=value]` words of a MAIL/RCPT parameter list, checked for syntax (RFC 5321
/// §4.1.2 `esmtp-param`); lazily, so a parameter list costs no allocation.
fn esmtp_params(text: &str) -> impl Iterator<Item = Result<(&str, Option<&str>), CommandError>> {
    text.split(' ').filter(|w| !w.is_empty()).map(|p| {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (p, None),
        };
        let key_ok = k.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let value_ok = v.is_none_or(|v| {
            !v.is_empty() && v.bytes().all(|b| matches!(b, 33..=60 | 62..=126 | 0x80..))
        });
        if key_ok && value_ok {
            Ok((k, v))
        } else {
            Err(CommandError::Syntax("Bad ESMTP parameter syntax"))
        }
    })
}

/// Every parameter's syntax first (a syntax error anywhere is reported before any
/// parameter's meaning), then the parameters one by one.
fn checked_params(text: &str) -> Result<impl Iterator<Item = (&str, Option<&str>)>, CommandError> {
    esmtp_params(text).try_for_each(|p| p.map(drop))?;
    Ok(esmtp_params(text).filter_map(Result::ok))
}

/// The MAIL and RCPT parameter keywords this crate knows (each command treats the other's
/// as unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keyword {
    Size,
    Body,
    SmtpUtf8,
    RequireTls,
    Ret,
    Envid,
    Auth,
    MtPriority,
    HoldFor,
    HoldUntil,
    By,
    Mtrk,
    Solicit,
    Notify,
    Orcpt,
    Rrvs,
    Unknown,
}

/// A keyword of at most 15 bytes packed little-endian into a `u128`, ASCII lower-cased.
const fn packed(word: &[u8]) -> u128 {
    let mut v = 0u128;
    let mut i = 0;
    while i < word.len() {
        v |= ((word[i] | 0x20) as u128) << (8 * i);
        i += 1;
    }
    v
}

impl Keyword {
    /// The keyword, any case, in one compare against a packed constant. `key` is an
    /// `esmtp-keyword` (letters, digits, hyphens: both callers checked it), for which
    /// setting bit 0x20 is exactly ASCII lower-casing.
    fn of(key: &str) -> Self {
        const SIZE: u128 = packed(b"SIZE");
        const BODY: u128 = packed(b"BODY");
        const SMTPUTF8: u128 = packed(b"SMTPUTF8");
        const REQUIRETLS: u128 = packed(b"REQUIRETLS");
        const RET: u128 = packed(b"RET");
        const ENVID: u128 = packed(b"ENVID");
        const AUTH: u128 = packed(b"AUTH");
        const MT_PRIORITY: u128 = packed(b"MT-PRIORITY");
        const HOLDFOR: u128 = packed(b"HOLDFOR");
        const HOLDUNTIL: u128 = packed(b"HOLDUNTIL");
        const BY: u128 = packed(b"BY");
        const MTRK: u128 = packed(b"MTRK");
        const SOLICIT: u128 = packed(b"SOLICIT");
        const NOTIFY: u128 = packed(b"NOTIFY");
        const ORCPT: u128 = packed(b"ORCPT");
        const RRVS: u128 = packed(b"RRVS");
        let k = key.as_bytes();
        debug_assert!(k.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-'));
        if k.len() > 15 {
            return Self::Unknown;
        }
        // Two halves of at most eight bytes each: shifts of a u128 cost more.
        let half = |bytes: &[u8]| {
            bytes
                .iter()
                .rev()
                .fold(0u64, |v, &c| (v << 8) | u64::from(c | 0x20))
        };
        let (lo, hi) = k.split_at(k.len().min(8));
        match u128::from(half(lo)) | (u128::from(half(hi)) << 64) {
            SIZE => Self::Size,
            BODY => Self::Body,
            SMTPUTF8 => Self::SmtpUtf8,
            REQUIRETLS => Self::RequireTls,
            RET => Self::Ret,
            ENVID => Self::Envid,
            AUTH => Self::Auth,
            MT_PRIORITY => Self::MtPriority,
            HOLDFOR => Self::HoldFor,
            HOLDUNTIL => Self::HoldUntil,
            BY => Self::By,
            MTRK => Self::Mtrk,
            SOLICIT => Self::Solicit,
            NOTIFY => Self::Notify,
            ORCPT => Self::Orcpt,
            RRVS => Self::Rrvs,
            _ => Self::Unknown,
        }
    }
}

/// RFC 3461 §4: `xtext = *( xchar / hexchar )`, `hexchar = "+" 2HEXDIG` (upper case).
pub fn decode_xtext(text: &str) -> Option<Cow<'_, str>> {
    fn xchar(c: u8) -> bool {
        matches!(c, 0x21..=0x2a | 0x2c..=0x3c | 0x3e..=0x7e | 0x80..)
    }
    fn hex(c: Option<&u8>) -> Option<u8> {
        match *c? {
            c @ b'0'..=b'9' => Some(c - b'0'),
            c @ b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = text.as_bytes();
    // Borrowed unless there is a hexchar; the bytes before the first are copied at once.
    let Some(first) = b.iter().position(|&c| c == b'+' || !xchar(c)) else {
        return Some(Cow::Borrowed(text));
    };
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(hex(b.get(i + 1))? << 4 | hex(b.get(i + 2))?);
                i += 3;
            }
            c if xchar(c) => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Encodes xtext (RFC 3461 §4): `+`, `=`, controls, space and non-ASCII as `+XX`.
pub fn encode_xtext(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if matches!(b, 0x21..=0x2a | 0x2c..=0x3c | 0x3e..=0x7e) {
            out.push(b as char);
        } else {
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &'static str) -> Result<(), CommandError> {
    if slot.is_some() {
        return Err(CommandError::BadParameter(what));
    }
    *slot = Some(value);
    Ok(())
}

fn mail_params(text: &str) -> Result<MailParams<'_>, CommandError> {
    let mut p = MailParams::default();
    for (key, value) in checked_params(text)? {
        mail_param(&mut p, key, value)?;
    }
    Ok(p)
}

/// Applies one MAIL parameter whose syntax is already checked.
fn mail_param<'a>(
    p: &mut MailParams<'a>,
    key: &'a str,
    value: Option<&'a str>,
) -> Result<(), CommandError> {
    let need = |what| value.ok_or(CommandError::BadParameter(what));
    match Keyword::of(key) {
        Keyword::Size => {
            let v = parse_u64(need("SIZE needs a value")?)
                .ok_or(CommandError::BadParameter("Bad SIZE value"))?;
            set_once(&mut p.size, v, "Duplicate SIZE")?;
        }
        Keyword::Body => {
            let v = need("BODY needs a value")?;
            let body = if v.eq_ignore_ascii_case("7BIT") {
                Body::SevenBit
            } else if v.eq_ignore_ascii_case("8BITMIME") {
                Body::EightBitMime
            } else if v.eq_ignore_ascii_case("BINARYMIME") {
                Body::BinaryMime
            } else {
                return Err(CommandError::BadParameter("Unknown BODY value"));
            };
            set_once(&mut p.body, body, "Duplicate BODY")?;
        }
        Keyword::SmtpUtf8 => {
            if value.is_some() || p.smtputf8 {
                return Err(CommandError::BadParameter("SMTPUTF8 takes no value"));
            }
            p.smtputf8 = true;
        }
        Keyword::RequireTls => {
            if value.is_some() || p.requiretls {
                return Err(CommandError::BadParameter("REQUIRETLS takes no value"));
            }
            p.requiretls = true;
        }
        Keyword::Ret => {
            let v = need("RET needs a value")?;
            let ret = if v.eq_ignore_ascii_case("FULL") {
                Ret::Full
            } else if v.eq_ignore_ascii_case("HDRS") {
                Ret::Hdrs
            } else {
                return Err(CommandError::BadParameter("RET must be FULL or HDRS"));
            };
            set_once(&mut p.ret, ret, "Duplicate RET")?;
        }
        Keyword::Envid => {
            let v = decode_xtext(need("ENVID needs a value")?)
                .filter(|v| v.len() <= 100)
                .ok_or(CommandError::BadParameter("Bad ENVID value"))?;
            set_once(&mut p.envid, v, "Duplicate ENVID")?;
        }
        Keyword::Auth => {
            let v = decode_xtext(need("AUTH needs a value")?)
                .ok_or(CommandError::BadParameter("Bad AUTH value"))?;
            set_once(&mut p.auth, v, "Duplicate AUTH")?;
        }
        Keyword::MtPriority => {
            let v = need("MT-PRIORITY needs a value")?;
            let n = v
                .strip_prefix('-')
                .map_or_else(
                    || v.strip_prefix('+').unwrap_or(v).parse::<i8>(),
                    |n| n.parse::<i8>().map(|n| -n),
                )
                .ok()
                .filter(|n| (-9..=9).contains(n) && v.len() <= 2)
                .ok_or(CommandError::BadParameter("MT-PRIORITY must be -9..9"))?;
            set_once(&mut p.mt_priority, n, "Duplicate MT-PRIORITY")?;
        }
        Keyword::HoldFor => {
            let v = parse_u64(need("HOLDFOR needs a value")?)
                .ok_or(CommandError::BadParameter("Bad HOLDFOR value"))?;
            if p.hold_until.is_some() {
                return Err(CommandError::BadParameter("HOLDFOR with HOLDUNTIL"));
            }
            set_once(&mut p.hold_for, v, "Duplicate HOLDFOR")?;
        }
        Keyword::HoldUntil => {
            let v = need("HOLDUNTIL needs a value")?;
            if p.hold_for.is_some() {
                return Err(CommandError::BadParameter("HOLDFOR with HOLDUNTIL"));
            }
            set_once(&mut p.hold_until, Cow::Borrowed(v), "Duplicate HOLDUNTIL")?;
        }
        Keyword::By => {
            let by = deliver_by(need("BY needs a value")?)
                .ok_or(CommandError::BadParameter("Bad BY value"))?;
            set_once(&mut p.by, by, "Duplicate BY")?;
        }
        Keyword::Mtrk => {
            set_once(
                &mut p.mtrk,
                Cow::Borrowed(need("MTRK needs a value")?),
                "Duplicate MTRK",
            )?;
        }
        Keyword::Solicit => {
            let v = need("SOLICIT needs a value")?;
            set_once(&mut p.solicit, Cow::Borrowed(v), "Duplicate SOLICIT")?;
        }
        _ => p
            .unknown
            .push((Cow::Borrowed(key), value.map(Cow::Borrowed))),
    }
    Ok(())
}

/// `by-value = by-time ";" by-mode [ by-trace ]` (RFC 2852 §4): time is a signed decimal of
/// at most 9 digits, mode `R` or `N`, trace `T`.
fn deliver_by(v: &str) -> Option<DeliverBy> {
    let (time, mode) = v.split_once(';')?;
    let digits = time.strip_prefix(['-', '+']).unwrap_or(time);
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let time: i64 = time.parse().ok()?;
    let mode = mode.to_ascii_uppercase();
    let (return_if_late, trace) = match mode.as_str() {
        "R" => (true, false),
        "RT" => (true, true),
        "N" => (false, false),
        "NT" => (false, true),
        _ => return None,
    };
    if return_if_late && time <= 0 {
        return None;
    }
    Some(DeliverBy {
        time,
        return_if_late,
        trace,
    })
}

fn rcpt_params(text: &str) -> Result<RcptParams<'_>, CommandError> {
    let mut p = RcptParams::default();
    for (key, value) in checked_params(text)? {
        rcpt_param(&mut p, key, value)?;
    }
    Ok(p)
}

/// Applies one RCPT parameter whose syntax is already checked.
fn rcpt_param<'a>(
    p: &mut RcptParams<'a>,
    key: &'a str,
    value: Option<&'a str>,
) -> Result<(), CommandError> {
    match Keyword::of(key) {
        Keyword::Notify => {
            let v = value.ok_or(CommandError::BadParameter("NOTIFY needs a value"))?;
            let mut n = Notify::default();
            for word in v.as_bytes().split(|&c| c == b',') {
                let is = |w: &[u8]| word.eq_ignore_ascii_case(w);
                let flag = match (word.len(), word.first().map_or(0, |c| c | 0x20)) {
                    (5, b'n') if is(b"NEVER") => &mut n.never,
                    (7, b's') if is(b"SUCCESS") => &mut n.success,
                    (7, b'f') if is(b"FAILURE") => &mut n.failure,
                    (5, b'd') if is(b"DELAY") => &mut n.delay,
                    _ => return Err(CommandError::BadParameter("Bad NOTIFY value")),
                };
                if *flag {
                    return Err(CommandError::BadParameter("Bad NOTIFY value"));
                }
                *flag = true;
            }
            if n.never && (n.success || n.failure || n.delay) {
                return Err(CommandError::BadParameter("NOTIFY=NEVER stands alone"));
            }
            set_once(&mut p.notify, n, "Duplicate NOTIFY")?;
        }
        Keyword::Orcpt => {
            let v = value.ok_or(CommandError::BadParameter("ORCPT needs a value"))?;
            let (kind, addr) = v
                .as_bytes()
                .iter()
                .position(|&c| c == b';')
                .map(|semi| (&v[..semi], &v[semi + 1..]))
                .filter(|(k, a)| {
                    !k.is_empty()
                        && !a.is_empty()
                        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                .ok_or(CommandError::BadParameter("Bad ORCPT value"))?;
            let addr = if kind.eq_ignore_ascii_case("utf-8") {
                Some(Cow::Borrowed(addr)) // RFC 6533 utf-8-addr-xtext: kept as sent
            } else {
                decode_xtext(addr)
            }
            .filter(|a| a.len() <= 500)
            .ok_or(CommandError::BadParameter("Bad ORCPT value"))?;
            set_once(&mut p.orcpt, (Cow::Borrowed(kind), addr), "Duplicate ORCPT")?;
        }
        Keyword::Rrvs => {
            let v = value.ok_or(CommandError::BadParameter("RRVS needs a value"))?;
            set_once(&mut p.rrvs, Cow::Borrowed(v), "Duplicate RRVS")?;
        }
        _ => p
            .unknown
            .push((Cow::Borrowed(key), value.map(Cow::Borrowed))),
    }
    Ok(())
}

fn attributes(args: &str) -> Result<Attributes<'_>, CommandError> {
    if args.is_empty() {
        return Err(CommandError::Syntax("Attributes required"));
    }
    args.split(' ')
        .filter(|w| !w.is_empty())
        .map(|a| {
            let (k, v) = a
                .split_once('=')
                .ok_or(CommandError::Syntax("Bad attribute syntax"))?;
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(CommandError::Syntax("Bad attribute name"));
            }
            let v = decode_xtext(v)
                .or_else(|| v.is_empty().then_some(Cow::Borrowed("")))
                .ok_or(CommandError::Syntax("Bad attribute value"))?;
            Ok((Cow::Borrowed(k), v))
        })
        .collect()
}

impl MailParams<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> MailParams<'static> {
        MailParams {
            size: self.size,
            body: self.body,
            smtputf8: self.smtputf8,
            ret: self.ret,
            envid: self.envid.map(owned),
            auth: self.auth.map(owned),
            requiretls: self.requiretls,
            mt_priority: self.mt_priority,
            hold_for: self.hold_for,
            hold_until: self.hold_until.map(owned),
            by: self.by,
            mtrk: self.mtrk.map(owned),
            solicit: self.solicit.map(owned),
            unknown: owned_pairs(self.unknown),
        }
    }

    fn write_to(&self, out: &mut String) {
        use std::fmt::Write as _;
        if let Some(n) = self.size {
            let _ = write!(out, " SIZE={n}");
        }
        if let Some(b) = self.body {
            let _ = write!(out, " BODY={}", b.as_str());
        }
        if self.smtputf8 {
            out.push_str(" SMTPUTF8");
        }
        if self.requiretls {
            out.push_str(" REQUIRETLS");
        }
        if let Some(r) = self.ret {
            out.push_str(match r {
                Ret::Full => " RET=FULL",
                Ret::Hdrs => " RET=HDRS",
            });
        }
        if let Some(e) = &self.envid {
            let _ = write!(out, " ENVID={}", encode_xtext(e));
        }
        if let Some(a) = &self.auth {
            let _ = write!(out, " AUTH={}", encode_xtext(a));
        }
        if let Some(p) = self.mt_priority {
            let _ = write!(out, " MT-PRIORITY={p}");
        }
        if let Some(h) = self.hold_for {
            let _ = write!(out, " HOLDFOR={h}");
        }
        if let Some(h) = &self.hold_until {
            let _ = write!(out, " HOLDUNTIL={h}");
        }
        if let Some(by) = self.by {
            let _ = write!(
                out,
                " BY={};{}{}",
                by.time,
                if by.return_if_late { 'R' } else { 'N' },
                if by.trace { "T" } else { "" }
            );
        }
        if let Some(m) = &self.mtrk {
            let _ = write!(out, " MTRK={m}");
        }
        if let Some(s) = &self.solicit {
            let _ = write!(out, " SOLICIT={s}");
        }
        write_unknown(out, &self.unknown);
    }
}

impl RcptParams<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> RcptParams<'static> {
        RcptParams {
            notify: self.notify,
            orcpt: self.orcpt.map(|(k, a)| (owned(k), owned(a))),
            rrvs: self.rrvs.map(owned),
            unknown: owned_pairs(self.unknown),
        }
    }

    fn write_to(&self, out: &mut String) {
        use std::fmt::Write as _;
        if let Some(n) = self.notify {
            if n.never {
                out.push_str(" NOTIFY=NEVER");
            } else {
                let words: Vec<&str> = [
                    (n.success, "SUCCESS"),
                    (n.failure, "FAILURE"),
                    (n.delay, "DELAY"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, w)| *w)
                .collect();
                let _ = write!(out, " NOTIFY={}", words.join(","));
            }
        }
        if let Some((kind, addr)) = &self.orcpt {
            if kind.eq_ignore_ascii_case("utf-8") {
                let _ = write!(out, " ORCPT={kind};{addr}");
            } else {
                let _ = write!(out, " ORCPT={kind};{}", encode_xtext(addr));
            }
        }
        if let Some(r) = &self.rrvs {
            let _ = write!(out, " RRVS={r}");
        }
        write_unknown(out, &self.unknown);
    }
}

fn write_unknown(out: &mut String, unknown: &[(Cow<'_, str>, Option<Cow<'_, str>>)]) {
    for (k, v) in unknown {
        out.push(' ');
        out.push_str(k);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
}

fn owned(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

fn owned_pairs(
    v: Vec<(Cow<'_, str>, Option<Cow<'_, str>>)>,
) -> Vec<(Cow<'static, str>, Option<Cow<'static, str>>)> {
    v.into_iter()
        .map(|(k, v)| (owned(k), v.map(owned)))
        .collect()
}

impl Command<'_> {
    /// An owned copy, for keeping beyond the input buffer.
    pub fn into_owned(self) -> Command<'static> {
        match self {
            Self::Hello { verb, name } => Command::Hello {
                verb,
                name: owned(name),
            },
            Self::Mail { from, params } => Command::Mail {
                from: from.into_owned(),
                params: params.into_owned(),
            },
            Self::Rcpt { to, params } => Command::Rcpt {
                to: to.into_owned(),
                params: params.into_owned(),
            },
            Self::Data => Command::Data,
            Self::Bdat { size, last } => Command::Bdat { size, last },
            Self::Rset => Command::Rset,
            Self::Noop => Command::Noop,
            Self::Quit => Command::Quit,
            Self::Vrfy(s) => Command::Vrfy(owned(s)),
            Self::Expn(s) => Command::Expn(owned(s)),
            Self::Help(s) => Command::Help(s.map(owned)),
            Self::StartTls => Command::StartTls,
            Self::Auth {
                mechanism,
                initial_response,
            } => Command::Auth {
                mechanism: owned(mechanism),
                initial_response: initial_response.map(owned),
            },
            Self::Etrn(s) => Command::Etrn(owned(s)),
            Self::Atrn(s) => Command::Atrn(s.map(owned)),
            Self::Burl { url, last } => Command::Burl {
                url: owned(url),
                last,
            },
            Self::Xclient(a) => {
                Command::Xclient(a.into_iter().map(|(k, v)| (owned(k), owned(v))).collect())
            }
            Self::Xforward(a) => {
                Command::Xforward(a.into_iter().map(|(k, v)| (owned(k), owned(v))).collect())
            }
        }
    }

    /// The wire form, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.write_to(&mut out);
        out
    }

    /// Appends the wire form, CRLF included.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        use std::fmt::Write as _;
        let mut s = String::new();
        match self {
            Self::Hello { verb, name } => {
                let _ = write!(s, "{} {name}", verb.as_str());
            }
            Self::Mail { from, params } => {
                let _ = write!(s, "MAIL FROM:{from}");
                params.write_to(&mut s);
            }
            Self::Rcpt { to, params } => {
                let _ = write!(s, "RCPT TO:{to}");
                params.write_to(&mut s);
            }
            Self::Data => s.push_str("DATA"),
            Self::Bdat { size, last } => {
                let _ = write!(s, "BDAT {size}{}", if *last { " LAST" } else { "" });
            }
            Self::Rset => s.push_str("RSET"),
            Self::Noop => s.push_str("NOOP"),
            Self::Quit => s.push_str("QUIT"),
            Self::Vrfy(a) => {
                let _ = write!(s, "VRFY {a}");
            }
            Self::Expn(a) => {
                let _ = write!(s, "EXPN {a}");
            }
            Self::Help(a) => {
                s.push_str("HELP");
                if let Some(a) = a {
                    let _ = write!(s, " {a}");
                }
            }
            Self::StartTls => s.push_str("STARTTLS"),
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                let _ = write!(s, "AUTH {mechanism}");
                if let Some(ir) = initial_response {
                    let _ = write!(s, " {ir}");
                }
            }
            Self::Etrn(a) => {
                let _ = write!(s, "ETRN {a}");
            }
            Self::Atrn(a) => {
                s.push_str("ATRN");
                if let Some(a) = a {
                    let _ = write!(s, " {a}");
                }
            }
            Self::Burl { url, last } => {
                let _ = write!(s, "BURL {url}{}", if *last { " LAST" } else { "" });
            }
            Self::Xclient(attrs) | Self::Xforward(attrs) => {
                s.push_str(if matches!(self, Self::Xclient(_)) {
                    "XCLIENT"
                } else {
                    "XFORWARD"
                });
                for (k, v) in attrs {
                    let _ = write!(s, " {k}={}", encode_xtext(v));
                }
            }
        }
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// True when a line looks like HTTP or a proxy probe (`GET / HTTP/1.1`, `CONNECT host:443
/// HTTP/1.0`, `POST`, ...): SMTP-012, the session closes on it.
pub fn looks_like_http(line: &[u8]) -> bool {
    const VERBS: [&[u8]; 8] = [
        b"GET ",
        b"POST ",
        b"HEAD ",
        b"PUT ",
        b"CONNECT ",
        b"OPTIONS ",
        b"DELETE ",
        b"USER ",
    ];
    VERBS.iter().any(|v| line.starts_with(v))
        || (line.len() > 9 && memchr::memmem::find(line, b" HTTP/1.").is_some())
}

#[cfg(test)]
mod tests;
