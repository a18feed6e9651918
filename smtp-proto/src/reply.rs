//! SMTP replies: reply codes, enhanced status codes, parsing and serialization.
//!
//! ```text
//! Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
//!                  Reply-code [ SP textstring ] CRLF          ; RFC 5321 §4.2
//! Reply-code     = %x32-35 %x30-35 %x30-39
//! status-code    = class "." subject "." detail                ; RFC 3463 §2
//! class          = "2" / "4" / "5"
//! subject        = 1*3digit
//! detail         = 1*3digit
//! ```
//!
//! With ENHANCEDSTATUSCODES (RFC 2034) every line of a reply starts its text with the same
//! status code followed by a space; [`Reply`] stores it once and writes it on every line.

use std::fmt;

/// A three-digit SMTP reply code (RFC 5321 §4.2): first digit 2 to 5, second 0 to 5, third
/// 0 to 9.
///
/// RFC 5321 also lists 1yz as a theoretical class; no SMTP command uses it, so it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `220` service ready.
    pub const SERVICE_READY: Self = Self(220);
    /// `221` closing the transmission channel.
    pub const CLOSING: Self = Self(221);
    /// `235` authentication succeeded (RFC 4954).
    pub const AUTH_OK: Self = Self(235);
    /// `250` requested action okay, completed.
    pub const OK: Self = Self(250);
    /// `334` AUTH continuation (RFC 4954).
    pub const AUTH_CONTINUE: Self = Self(334);
    /// `354` start mail input.
    pub const START_DATA: Self = Self(354);
    /// `421` service not available, closing the channel.
    pub const SERVICE_UNAVAILABLE: Self = Self(421);
    /// `451` local error in processing.
    pub const LOCAL_ERROR: Self = Self(451);
    /// `500` syntax error, command unrecognized.
    pub const SYNTAX_ERROR: Self = Self(500);
    /// `501` syntax error in parameters or arguments.
    pub const PARAM_SYNTAX_ERROR: Self = Self(501);
    /// `502` command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// `503` bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// `550` mailbox unavailable.
    pub const MAILBOX_UNAVAILABLE: Self = Self(550);
    /// `554` transaction failed.
    pub const TRANSACTION_FAILED: Self = Self(554);
    /// `555` MAIL FROM/RCPT TO parameters not recognized or not implemented.
    pub const PARAM_NOT_RECOGNIZED: Self = Self(555);

    /// Validates a numeric code.
    pub const fn new(code: u16) -> Result<Self, ReplyError> {
        let (a, b) = (code / 100, (code / 10) % 10);
        if code >= 200 && code <= 599 && a >= 2 && a <= 5 && b <= 5 {
            Ok(Self(code))
        } else {
            Err(ReplyError::BadCode)
        }
    }

    /// The number, `200..=599`.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The class of the reply (its first digit).
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// True for 2yz and 3yz replies.
    pub const fn is_positive(self) -> bool {
        self.0 < 400
    }

    fn from_digits(d: [u8; 3]) -> Result<Self, ReplyError> {
        if !d.iter().all(u8::is_ascii_digit) {
            return Err(ReplyError::BadCode);
        }
        Self::new(
            u16::from(d[0] - b'0') * 100 + u16::from(d[1] - b'0') * 10 + u16::from(d[2] - b'0'),
        )
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The class of a reply code, from its first digit (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// 2yz: the requested action was completed.
    PositiveCompletion,
    /// 3yz: the command was accepted; more information is awaited.
    PositiveIntermediate,
    /// 4yz: a temporary failure; the same request may succeed later.
    TransientNegative,
    /// 5yz: a permanent failure.
    PermanentNegative,
}

/// An enhanced mail system status code (RFC 3463), such as `5.1.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnhancedStatus {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedStatus {
    /// `2.0.0` other or undefined success.
    pub const OK: Self = Self::new_unchecked(2, 0, 0);
    /// `5.5.2` syntax error.
    pub const SYNTAX_ERROR: Self = Self::new_unchecked(5, 5, 2);
    /// `5.5.4` invalid command arguments.
    pub const INVALID_ARGUMENTS: Self = Self::new_unchecked(5, 5, 4);
    /// `5.1.1` bad destination mailbox address.
    pub const BAD_MAILBOX: Self = Self::new_unchecked(5, 1, 1);

    const fn new_unchecked(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }

    /// Validates the three parts: class 2, 4 or 5; subject and detail at most 999 (three
    /// digits, RFC 3463 §2).
    pub const fn new(class: u8, subject: u16, detail: u16) -> Result<Self, ReplyError> {
        if matches!(class, 2 | 4 | 5) && subject <= 999 && detail <= 999 {
            Ok(Self::new_unchecked(class, subject, detail))
        } else {
            Err(ReplyError::BadEnhancedStatus)
        }
    }

    /// The class digit: 2, 4 or 5.
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject (0 to 999).
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail (0 to 999).
    pub const fn detail(self) -> u16 {
        self.detail
    }

    /// Parses a status code at the start of `text`, which must be followed by a space or end
    /// the text. Returns the code and the number of bytes it took (without the space).
    pub fn parse_prefix(text: &[u8]) -> Option<(Self, usize)> {
        let mut parts = [0u16; 3];
        let mut pos = 0;
        for (i, part) in parts.iter_mut().enumerate() {
            let start = pos;
            while pos < text.len() && text[pos].is_ascii_digit() && pos - start < 3 {
                *part = *part * 10 + u16::from(text[pos] - b'0');
                pos += 1;
            }
            if pos == start || (pos < text.len() && text[pos].is_ascii_digit()) {
                return None;
            }
            if i < 2 {
                if text.get(pos) != Some(&b'.') {
                    return None;
                }
                pos += 1;
            }
        }
        if pos < text.len() && text[pos] != b' ' {
            return None;
        }
        let class = u8::try_from(parts[0]).ok()?;
        Self::new(class, parts[1], parts[2])
            .ok()
            .map(|status| (status, pos))
    }
}

impl EnhancedStatus {
    /// Appends `class.subject.detail` without going through `fmt`.
    fn write_to(self, out: &mut Vec<u8>) {
        fn number(n: u16, out: &mut Vec<u8>) {
            if n >= 100 {
                out.push(b'0' + (n / 100) as u8);
            }
            if n >= 10 {
                out.push(b'0' + (n / 10 % 10) as u8);
            }
            out.push(b'0' + (n % 10) as u8);
        }
        out.push(b'0' + self.class);
        out.push(b'.');
        number(self.subject, out);
        out.push(b'.');
        number(self.detail, out);
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A complete SMTP reply: a code, an optional enhanced status code and one or more lines of
/// text.
///
/// The text is kept in one buffer, lines joined by LF (a line never holds CR or LF): up to
/// [`Reply::INLINE_TEXT`] bytes inside the value itself (most single-line replies: `Ok`,
/// `Bye`, `Ok: queued as ...`, so parsing them allocates nothing), longer texts in one heap
/// allocation whatever the line count.
#[derive(Clone)]
pub struct Reply {
    code: ReplyCode,
    status: Option<EnhancedStatus>,
    text: Text,
}

/// Where a reply's text lives.
#[derive(Clone)]
enum Text {
    /// Short text in place; `bytes[..len]` is UTF-8 (only ever copied from a `str`).
    Inline {
        len: u8,
        bytes: [u8; Reply::INLINE_TEXT],
    },
    /// Longer text.
    Heap(String),
}

impl Text {
    fn new(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= Reply::INLINE_TEXT => {
                let mut bytes = [0; Reply::INLINE_TEXT];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(text.to_owned()),
        }
    }

    /// Reply text from the wire: UTF-8 nearly always (ASCII); else with U+FFFD for each bad
    /// byte (the text is for humans and logs).
    fn from_wire(text: &[u8]) -> Self {
        // Short ASCII text (the usual `Ok`, `Bye`): checked and copied in one loop, no call.
        if text.len() <= Reply::INLINE_TEXT
            && let Ok(len) = u8::try_from(text.len())
        {
            let mut bytes = [0; Reply::INLINE_TEXT];
            let mut high = 0;
            for (to, &from) in bytes.iter_mut().zip(text) {
                *to = from;
                high |= from;
            }
            if high < 0x80 {
                return Self::Inline { len, bytes };
            }
        }
        match std::str::from_utf8(text) {
            Ok(t) => Self::new(t),
            Err(_) => Self::from_string(String::from_utf8_lossy(text).into_owned()),
        }
    }

    fn from_string(text: String) -> Self {
        if text.len() <= Reply::INLINE_TEXT {
            Self::new(&text)
        } else {
            Self::Heap(text)
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("inline reply text is copied from a str"),
            Self::Heap(s) => s,
        }
    }
}

impl PartialEq for Reply {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.status == other.status
            && self.text.as_str() == other.text.as_str()
    }
}

impl Eq for Reply {}

impl std::hash::Hash for Reply {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code.hash(state);
        self.status.hash(state);
        self.text.as_str().hash(state);
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("code", &self.code)
            .field("status", &self.status)
            .field("text", &self.text.as_str())
            .finish()
    }
}

impl Reply {
    /// A reply of one or more lines. Lines must not contain CR or LF; an empty list is one
    /// empty line.
    pub fn new<I, S>(
        code: ReplyCode,
        status: Option<EnhancedStatus>,
        lines: I,
    ) -> Result<Self, ReplyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut text = String::new();
        for (i, line) in lines.into_iter().enumerate() {
            let line = line.as_ref();
            if line.contains(['\r', '\n']) {
                return Err(ReplyError::BadText);
            }
            if i > 0 {
                text.push('\n');
            }
            text.push_str(line);
        }
        if let Some(status) = status {
            let code_class = (code.get() / 100) as u8;
            if code_class != status.class() && !(code_class == 3 && status.class() == 2) {
                return Err(ReplyError::StatusClassMismatch);
            }
        }
        Ok(Self {
            code,
            status,
            text: Text::from_string(text),
        })
    }

    /// Longest text kept inside the [`Reply`] value without a heap allocation.
    pub const INLINE_TEXT: usize = 38;

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code, when the reply carried one on every line.
    pub fn status(&self) -> Option<EnhancedStatus> {
        self.status
    }

    /// The text lines, without code, separator, status code or CRLF (at least one, maybe
    /// empty).
    pub fn lines(&self) -> ReplyLines<'_> {
        ReplyLines(self.text.as_str().split('\n'))
    }

    /// The first text line.
    pub fn first_line(&self) -> &str {
        self.text.as_str().split('\n').next().unwrap_or_default()
    }

    /// How many lines the reply has (at least one).
    pub fn line_count(&self) -> usize {
        memchr::memchr_iter(b'\n', self.text.as_str().as_bytes()).count() + 1
    }

    /// The text lines joined by LF.
    pub fn text(&self) -> &str {
        self.text.as_str()
    }

    /// Appends the wire form (every line ending in CRLF) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let code = self.code.get();
        let mut prefix = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
            b'-',
        ];
        let mut lines = self.text.as_str().split('\n').peekable();
        while let Some(line) = lines.next() {
            if lines.peek().is_none() {
                prefix[3] = b' ';
            }
            out.extend_from_slice(&prefix);
            if let Some(status) = self.status {
                status.write_to(out);
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.as_str().len() + 16 * self.line_count());
        self.write_to(&mut out);
        out
    }
}

/// The lines of a [`Reply`], from [`Reply::lines`].
#[derive(Clone, Debug)]
pub struct ReplyLines<'a>(std::str::Split<'a, char>);

impl<'a> Iterator for ReplyLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }
}

impl DoubleEndedIterator for ReplyLines<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl std::iter::FusedIterator for ReplyLines<'_> {}

/// What a parse found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole reply, and how many input bytes it took.
    Complete {
        /// The reply.
        reply: Reply,
        /// Bytes of input the reply took, its final CRLF included.
        consumed: usize,
    },
    /// The input ends before the reply does; call again with more bytes.
    Incomplete,
}

/// Why a reply was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplyError {
    /// The reply code is not three digits in `200..=599` with a second digit up to 5.
    BadCode,
    /// The character after the code is neither a space, a hyphen nor the line end.
    BadSeparator,
    /// A continuation line of a multi-line reply has another code than the first line.
    CodeMismatch,
    /// An enhanced status code with a class other than 2, 4 or 5 or a part above 999.
    BadEnhancedStatus,
    /// The enhanced status class disagrees with the reply code class.
    StatusClassMismatch,
    /// Reply text with CR or LF, or a line that ends in a bare LF or CR.
    BadText,
    /// A line longer than [`ReplyParser::max_line_len`].
    LineTooLong,
    /// More lines than [`ReplyParser::max_lines`].
    TooManyLines,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadCode => "reply code is not a valid three-digit SMTP code",
            Self::BadSeparator => "reply code is not followed by a space or hyphen",
            Self::CodeMismatch => "lines of a multi-line reply carry different codes",
            Self::BadEnhancedStatus => "enhanced status code out of range",
            Self::StatusClassMismatch => "enhanced status class disagrees with the reply code",
            Self::BadText => "reply text holds a bare CR or LF",
            Self::LineTooLong => "reply line exceeds the configured length limit",
            Self::TooManyLines => "reply has more lines than the configured limit",
        })
    }
}

impl std::error::Error for ReplyError {}

/// An incremental reply parser with explicit limits.
///
/// The parser is stateless between calls: hand it everything received so far and it answers
/// [`Parsed::Incomplete`] until the final line (code followed by a space) has arrived. Reply
/// text that is not UTF-8 is kept with U+FFFD in place of the bad bytes (the text is for
/// humans and logs; the code and status code are what programs act on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyParser {
    /// Longest accepted line, CRLF included. Default 4096: RFC 5321 §4.5.3.1.5 sets 512,
    /// and real servers exceed it (long EHLO keyword lists, verbose rejections).
    pub max_line_len: usize,
    /// Most lines accepted in one reply. Default 128.
    pub max_lines: usize,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self {
            max_line_len: 4096,
            max_lines: 128,
        }
    }
}

impl ReplyParser {
    /// Parses one reply from the start of `input`.
    ///
    /// Well-formed replies (every line `code SP/- text CRLF` with one code, the same
    /// enhanced status code bytes on every line or none) take one pass that frames each
    /// line, checks it and keeps its text; a single-line reply of up to
    /// [`Reply::INLINE_TEXT`] bytes of text allocates nothing. Anything else (an error, a
    /// partial reply, a status code on only some lines) is decided by
    /// [`parse_reference`](Self::parse_reference), whose result this always equals.
    pub fn parse(&self, input: &[u8]) -> Result<Parsed, ReplyError> {
        self.parse_fast(input, || self.parse_reference(input))
    }

    /// The single pass of [`parse`](Self::parse); what it does not take is `fallback()`.
    /// The reply is built in the return slot (an `Option` converted to a `Result` would
    /// copy it, right after the bytes of its inline text were stored one by one).
    #[inline]
    fn parse_fast(
        &self,
        input: &[u8],
        fallback: impl FnOnce() -> Result<Parsed, ReplyError>,
    ) -> Result<Parsed, ReplyError> {
        let mut pos = 0;
        let mut code = [0u8; 3];
        let mut count = 0;
        // The first line's status code and its bytes (with the digits as sent), which every
        // other line must repeat.
        let mut status: Option<(EnhancedStatus, usize)> = None;
        let mut first_text: &[u8] = &[];
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let rest = &input[pos..];
            let window = &rest[..rest.len().min(self.max_line_len)];
            // The line ends at its first CR, which must be followed by LF inside the window;
            // a bare LF or CR before it hands over.
            let Some(end) = line_end(window) else {
                return fallback();
            };
            if window[end] != b'\r' || window.get(end + 1) != Some(&b'\n') {
                return fallback();
            }
            let line = &rest[..end];
            let [d0, d1, d2, tail @ ..] = line else {
                return fallback();
            };
            let digits = [*d0, *d1, *d2];
            if count == 0 {
                if !(b'2'..=b'5').contains(d0) || !(b'0'..=b'5').contains(d1) {
                    return fallback();
                }
                if !d2.is_ascii_digit() {
                    return fallback();
                }
                code = digits;
            } else if digits != code {
                return fallback();
            }
            let (last, mut text): (bool, &[u8]) = match tail {
                [] => (true, &[]),
                [b' ', text @ ..] => (true, text),
                [b'-', text @ ..] => (false, text),
                _ => return fallback(),
            };
            count += 1;
            if count > self.max_lines {
                return fallback();
            }
            if count == 1 {
                let class = *d0 - b'0';
                status = status_prefix(text)
                    .filter(|(s, _)| s.class() == class || (class == 3 && s.class() == 2));
                if let Some((_, n)) = status {
                    first_text = &text[..n];
                }
            } else if status.is_some() {
                // The same bytes, then a space or the end; anything else hands over.
                let n = first_text.len();
                if !text.starts_with(first_text) || text.get(n).is_some_and(|&c| c != b' ') {
                    return fallback();
                }
            }
            if let Some((_, n)) = status {
                text = text.get(n + 1..).unwrap_or_default();
            }
            pos += end + 2;
            if count == 1 && last {
                // One line: no buffer at all (inline text when short).
                let Ok(code) = ReplyCode::from_digits(code) else {
                    return fallback();
                };
                return Ok(Parsed::Complete {
                    reply: Reply {
                        code,
                        status: status.map(|(s, _)| s),
                        text: Text::from_wire(text),
                    },
                    consumed: pos,
                });
            }
            if count == 1 {
                buf.reserve(input.len().min(256));
            } else {
                buf.push(b'\n');
            }
            buf.extend_from_slice(text);
            if last {
                break;
            }
        }
        let text = String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let Ok(code) = ReplyCode::from_digits(code) else {
            return fallback();
        };
        Ok(Parsed::Complete {
            reply: Reply {
                code,
                status: status.map(|(s, _)| s),
                text: Text::from_string(text),
            },
            consumed: pos,
        })
    }

    /// The reference parser: each check written out after the other. [`parse`](Self::parse)
    /// gives the same result faster; this one is public for the differential tests and the
    /// `smtp_reply` fuzz target, not for use.
    #[doc(hidden)]
    pub fn parse_reference(&self, input: &[u8]) -> Result<Parsed, ReplyError> {
        // One pass: frame and check every line and copy its text (enhanced status code
        // stripped) into one buffer, assuming every line carries the first line's status
        // code; if a later line does not, the texts are copied again unstripped.
        let mut pos = 0;
        let mut code: Option<ReplyCode> = None;
        let mut count = 0;
        let mut status: Option<EnhancedStatus> = None;
        let mut buf: Vec<u8> = Vec::new();
        let mut recopy = false;
        loop {
            let rest = &input[pos..];
            let window = &rest[..rest.len().min(self.max_line_len)];
            let Some(lf) = memchr::memchr(b'\n', window) else {
                // Check what we can of the partial line so garbage fails early.
                check_partial_line(window, code)?;
                if rest.len() >= self.max_line_len {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(Parsed::Incomplete);
            };
            // The same checks first on a complete line, so the error does not depend on
            // where the input was split.
            check_partial_line(&rest[..lf], code)?;
            if lf == 0 || rest[lf - 1] != b'\r' {
                return Err(ReplyError::BadText);
            }
            let line = &rest[..lf - 1];
            if line.len() < 3 {
                return Err(ReplyError::BadCode);
            }
            let this_code = ReplyCode::from_digits([line[0], line[1], line[2]])?;
            if code.is_some_and(|c| c != this_code) {
                return Err(ReplyError::CodeMismatch);
            }
            code = Some(this_code);
            let (last, mut text) = line_text(line)?;
            if memchr::memchr(b'\r', text).is_some() {
                return Err(ReplyError::BadText);
            }
            if count == self.max_lines {
                return Err(ReplyError::TooManyLines);
            }
            // An enhanced status code counts only when every line starts with the same one
            // and its class fits the reply code (RFC 2034 §4); otherwise the text is kept as
            // it came.
            let prefix = EnhancedStatus::parse_prefix(text);
            if count == 0 {
                let class = (this_code.get() / 100) as u8;
                status = prefix
                    .map(|(s, _)| s)
                    .filter(|s| s.class() == class || (class == 3 && s.class() == 2));
                buf.reserve(if last {
                    text.len()
                } else {
                    rest.len().min(256)
                });
            } else if let Some(s) = status
                && prefix.is_none_or(|(o, _)| o != s)
            {
                status = None;
                recopy = true;
            }
            if let (Some(_), Some((_, n))) = (status, prefix) {
                text = text.get(n + 1..).unwrap_or_default();
            }
            if count > 0 {
                buf.push(b'\n');
            }
            buf.extend_from_slice(text);
            count += 1;
            pos += lf + 1;
            if last {
                break;
            }
        }
        let code = code.ok_or(ReplyError::BadCode)?;
        if recopy {
            buf.clear();
            let mut at = 0;
            while let Some(lf) = memchr::memchr(b'\n', &input[at..pos]) {
                let (_, text) = line_text(&input[at..at + lf - 1])?;
                if at > 0 {
                    buf.push(b'\n');
                }
                buf.extend_from_slice(text);
                at += lf + 1;
            }
        }
        // Reply text is nearly always UTF-8 (ASCII): the lossy pass only when it is not.
        let text = String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(Parsed::Complete {
            reply: Reply {
                code,
                status,
                text: Text::from_string(text),
            },
            consumed: pos,
        })
    }
}

/// The first CR or LF: eight bytes at a time over the first 16 (SWAR: a byte equal to CR
/// or LF becomes a zero byte, found with the borrow trick, exact for the lowest one),
/// memchr2 beyond (long texts), a byte loop for the tail.
fn line_end(window: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const HEAD: usize = 16;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let head = &window[..window.len().min(HEAD)];
    let mut at = 0;
    let mut rest = head;
    while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
        let v = u64::from_le_bytes(*chunk);
        let hits = zero(v ^ (ONES * u64::from(b'\r'))) | zero(v ^ (ONES * u64::from(b'\n')));
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
        rest = tail;
    }
    if let Some(i) = rest.iter().position(|&c| c == b'\r' || c == b'\n') {
        return Some(at + i);
    }
    memchr::memchr2(b'\r', b'\n', window.get(HEAD..)?).map(|i| i + HEAD)
}

/// [`EnhancedStatus::parse_prefix`] with a straight path for the usual shape
/// (`c.s.d`, one class digit, one to three digits each after).
fn status_prefix(text: &[u8]) -> Option<(EnhancedStatus, usize)> {
    fn digits(text: &[u8], at: usize) -> (u16, usize) {
        let mut n = 0;
        let mut i = at;
        while i < text.len() && i - at < 3 && text[i].is_ascii_digit() {
            n = n * 10 + u16::from(text[i] - b'0');
            i += 1;
        }
        (n, i)
    }
    if let [class @ (b'2' | b'4' | b'5'), b'.', ..] = text {
        let (subject, i) = digits(text, 2);
        if i > 2 && text.get(i) == Some(&b'.') {
            let (detail, j) = digits(text, i + 1);
            if j > i + 1 && text.get(j).is_none_or(|&c| c == b' ') {
                let status = EnhancedStatus::new_unchecked(class - b'0', subject, detail);
                return Some((status, j));
            }
        }
    }
    EnhancedStatus::parse_prefix(text)
}

/// Whether the line (CRLF removed, at least three bytes) is the last of its reply, and its
/// text after the code and separator.
fn line_text(line: &[u8]) -> Result<(bool, &[u8]), ReplyError> {
    match line.get(3) {
        None => Ok((true, &line[3..])),
        Some(b' ') => Ok((true, &line[4..])),
        Some(b'-') => Ok((false, &line[4..])),
        Some(_) => Err(ReplyError::BadSeparator),
    }
}

/// The checks that the first bytes of a line allow, in line order, so that the first error
/// found in a prefix is the first error of every longer input: the same bytes give the same
/// error however they were split across reads (the fuzz target `smtp_client` checks this).
fn check_partial_line(rest: &[u8], code: Option<ReplyCode>) -> Result<(), ReplyError> {
    for (i, &b) in rest.iter().take(3).enumerate() {
        let ok = match i {
            0 => (b'2'..=b'5').contains(&b),
            1 => (b'0'..=b'5').contains(&b),
            _ => b.is_ascii_digit(),
        };
        if !ok {
            return Err(ReplyError::BadCode);
        }
    }
    if let (Some(code), [a, b, c, ..]) = (code, rest)
        && ReplyCode::from_digits([*a, *b, *c]) != Ok(code)
    {
        return Err(ReplyError::CodeMismatch);
    }
    if let Some(&sep) = rest.get(3)
        && !matches!(sep, b' ' | b'-' | b'\r')
    {
        return Err(ReplyError::BadSeparator);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Reply {
        match ReplyParser::default().parse(input) {
            Ok(Parsed::Complete { reply, consumed }) => {
                assert_eq!(consumed, input.len());
                reply
            }
            other => panic!("unexpected {other:?} for {input:?}"),
        }
    }

    #[test]
    fn reply_code_ranges() {
        assert!(ReplyCode::new(250).is_ok());
        assert!(ReplyCode::new(559).is_ok());
        for bad in [0, 199, 160, 260, 600, 999, 1000] {
            assert_eq!(ReplyCode::new(bad), Err(ReplyError::BadCode), "{bad}");
        }
        assert_eq!(
            ReplyCode::new(451).unwrap().class(),
            ReplyClass::TransientNegative
        );
        assert!(ReplyCode::START_DATA.is_positive());
        assert!(!ReplyCode::MAILBOX_UNAVAILABLE.is_positive());
    }

    #[test]
    fn enhanced_status_prefix() {
        assert_eq!(
            EnhancedStatus::parse_prefix(b"2.1.5 Ok"),
            Some((EnhancedStatus::new(2, 1, 5).unwrap(), 5))
        );
        assert_eq!(
            EnhancedStatus::parse_prefix(b"5.7.999"),
            Some((EnhancedStatus::new(5, 7, 999).unwrap(), 7))
        );
        for bad in [
            &b"3.0.0 x"[..],
            b"2.1",
            b"2.1.",
            b"2..1 x",
            b"2.1.5x",
            b"2.1.1000",
            b"22.1.5",
            b"x",
        ] {
            assert_eq!(EnhancedStatus::parse_prefix(bad), None, "{bad:?}");
        }
        assert_eq!(
            EnhancedStatus::new(5, 1000, 0),
            Err(ReplyError::BadEnhancedStatus)
        );
    }

    #[test]
    fn single_line() {
        let r = parse_all(b"220 mx.example.org ESMTP ready\r\n");
        assert_eq!(r.code(), ReplyCode::SERVICE_READY);
        assert_eq!(r.status(), None);
        assert_eq!(
            r.lines().collect::<Vec<_>>(),
            ["mx.example.org ESMTP ready"]
        );
        // A code with no text at all is legal (RFC 5321 §4.2: textstring is optional).
        let r = parse_all(b"250\r\n");
        assert_eq!(r.lines().collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn multi_line_ehlo_from_rfc5321_appendix_d() {
        // RFC 5321 D.1, the EHLO reply.
        let r = parse_all(
            b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n",
        );
        assert_eq!(
            r.lines().collect::<Vec<_>>(),
            ["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "HELP"]
        );
    }

    #[test]
    fn enhanced_status_on_every_line() {
        let r = parse_all(b"550-5.1.1 The email account\r\n550 5.1.1 does not exist.\r\n");
        assert_eq!(r.status(), Some(EnhancedStatus::BAD_MAILBOX));
        assert_eq!(
            r.lines().collect::<Vec<_>>(),
            ["The email account", "does not exist."]
        );
        // Status on only the first line: kept as text.
        let r = parse_all(b"550-5.1.1 The email account\r\n550 does not exist.\r\n");
        assert_eq!(r.status(), None);
        assert_eq!(r.first_line(), "5.1.1 The email account");
        // Class disagrees with the code: kept as text.
        let r = parse_all(b"250 5.0.0 odd\r\n");
        assert_eq!(r.status(), None);
        // 3yz replies carry 2.x.x codes (RFC 3463 has no class 3).
        let r = parse_all(b"354 2.0.0 go ahead\r\n");
        assert_eq!(r.status(), Some(EnhancedStatus::OK));
    }

    #[test]
    fn round_trip() {
        for wire in [
            &b"250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n"[..],
            b"550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n",
            b"221 2.0.0 Bye\r\n",
            b"250 2.0.0\r\n",
            b"354 End data with <CR><LF>.<CR><LF>\r\n",
        ] {
            let r = parse_all(wire);
            assert_eq!(r.to_bytes(), wire, "{}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn incomplete_at_every_split() {
        let wire = b"250-mx.example.org\r\n250-PIPELINING\r\n250 2.0.0 SIZE 10240000\r\n";
        let parser = ReplyParser::default();
        for cut in 0..wire.len() {
            assert_eq!(
                parser.parse(&wire[..cut]),
                Ok(Parsed::Incomplete),
                "cut {cut}"
            );
        }
        // Trailing bytes of the next reply are left alone.
        let mut two = wire.to_vec();
        two.extend_from_slice(b"221 Bye\r\n");
        match parser.parse(&two) {
            Ok(Parsed::Complete { consumed, .. }) => assert_eq!(consumed, wire.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors() {
        let p = ReplyParser::default();
        assert_eq!(p.parse(b"25x ok\r\n"), Err(ReplyError::BadCode));
        assert_eq!(p.parse(b"HTTP/1.1 400\r\n"), Err(ReplyError::BadCode));
        assert_eq!(p.parse(b"HTT"), Err(ReplyError::BadCode));
        assert_eq!(p.parse(b"250+ok\r\n"), Err(ReplyError::BadSeparator));
        assert_eq!(p.parse(b"250 ok\n"), Err(ReplyError::BadText));
        assert_eq!(p.parse(b"250 o\rk\r\n"), Err(ReplyError::BadText));
        assert_eq!(
            p.parse(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::CodeMismatch)
        );
        assert_eq!(p.parse(b"250-a\r\n251"), Err(ReplyError::CodeMismatch));
        assert_eq!(p.parse(b"612 x\r\n"), Err(ReplyError::BadCode));
        // Found by the smtp_client fuzz target: the error for the same bytes must not
        // depend on where they were split (a partial `0` after `250-` used to say
        // CodeMismatch, the whole line BadCode).
        for input in [
            &b"250-mx\r\n0-SIZE 100\r\n"[..],
            b"250-mx\r\n3-x\r\n",
            b"250-mx\r\n354 x\r\n",
            b"250-mx\r\n25x\r\n",
            b"x\n",
            b"2\n",
            b"250\r\n",
            b"250\rx\r\n",
            &[b"x".as_slice(), &[b'a'; 5000]].concat(),
            &[b"250-a\r\n251".as_slice(), &[b'a'; 5000]].concat(),
        ] {
            let whole = p.parse(input);
            for cut in 0..input.len() {
                match p.parse(&input[..cut]) {
                    Ok(Parsed::Incomplete) => {}
                    Err(e) => assert_eq!(Err(e), whole, "cut {cut} of {input:?}"),
                    other => panic!("{other:?}"),
                }
            }
        }
        let long = [b"250 ".as_slice(), &[b'a'; 5000], b"\r\n"].concat();
        assert_eq!(p.parse(&long), Err(ReplyError::LineTooLong));
        assert_eq!(p.parse(&long[..4500]), Err(ReplyError::LineTooLong));
        let small = ReplyParser {
            max_lines: 2,
            ..ReplyParser::default()
        };
        assert_eq!(
            small.parse(b"250-a\r\n250-b\r\n250 c\r\n"),
            Err(ReplyError::TooManyLines)
        );
    }

    #[test]
    fn builder_validates() {
        assert_eq!(
            Reply::new(ReplyCode::OK, None, ["a\r\nb"]),
            Err(ReplyError::BadText)
        );
        assert_eq!(
            Reply::new(ReplyCode::OK, Some(EnhancedStatus::BAD_MAILBOX), ["x"]),
            Err(ReplyError::StatusClassMismatch)
        );
        let r = Reply::new(ReplyCode::OK, None, Vec::<String>::new()).unwrap();
        assert_eq!(r.to_bytes(), b"250 \r\n");
    }

    #[test]
    fn single_pass_equals_reference() {
        // Lines of every shape, joined into replies of one to three lines, each also cut at
        // every length: the single pass and the reference agree on all of them.
        let lines: &[&[u8]] = &[
            b"250 2.1.5 Ok\r\n",
            b"250-2.1.5 Ok\r\n",
            b"250 Ok\r\n",
            b"250-Ok\r\n",
            b"250\r\n",
            b"250-\r\n",
            b"250 2.1.5\r\n",
            b"250-2.1.5\r\n",
            b"250-2.01.5 x\r\n",
            b"250-02.1.5 x\r\n",
            b"250-2.1.5x\r\n",
            b"250-5.1.1 wrong class\r\n",
            b"354 2.0.0 go ahead\r\n",
            b"550-5.1.1 The email account that you tried to reach does not exist.\r\n",
            b"550 5.1.1 unnecessary spaces.\r\n",
            b"550-5.1.1\r\n",
            b"251 other code\r\n",
            b"250-mx.example.org\r\n",
            b"250 caf\xe9\r\n",
            b"250 o\rk\r\n",
            b"250 ok\n",
            b"250+ok\r\n",
            b"25x ok\r\n",
            b"612 x\r\n",
            b"25\r\n",
            b"250 Ok: queued as 4ZxYz1234abcdefghijklmnopq\r\n",
        ];
        let parsers = [
            ReplyParser::default(),
            ReplyParser {
                max_line_len: 20,
                max_lines: 2,
            },
        ];
        // (reply, cut at every length or only whole)
        let mut replies: Vec<(Vec<u8>, bool)> = Vec::new();
        for a in lines {
            replies.push((a.to_vec(), true));
            for b in lines {
                replies.push(([*a, *b].concat(), true));
                for c in lines.iter().step_by(3) {
                    replies.push(([*a, *b, *c].concat(), false));
                }
            }
        }
        let mut complete = 0;
        for parser in parsers {
            for (reply, cuts) in &replies {
                let from = if *cuts { 0 } else { reply.len() };
                for cut in from..=reply.len() {
                    let input = &reply[..cut];
                    let reference = parser.parse_reference(input);
                    complete += usize::from(matches!(reference, Ok(Parsed::Complete { .. })));
                    assert_eq!(parser.parse(input), reference, "{input:?}");
                }
            }
        }
        assert!(complete > 1000, "{complete}");
        // The single pass itself takes the well-formed ones (not only the reference).
        for wire in [
            &b"250 2.1.5 Ok\r\n"[..],
            b"250-mx.example.org\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
            b"550-5.1.1 a\r\n550 5.1.1 b\r\n",
        ] {
            let fast = ReplyParser::default().parse_fast(wire, || Err(ReplyError::TooManyLines));
            assert_ne!(fast, Err(ReplyError::TooManyLines), "handed over: {wire:?}");
            assert_eq!(fast, ReplyParser::default().parse_reference(wire));
        }
    }

    #[test]
    fn short_text_is_inline() {
        let r = parse_all(b"250 2.1.5 Ok\r\n");
        assert!(matches!(r.text, Text::Inline { .. }));
        let long = parse_all(b"250 Ok: queued as 4ZxYz1234abcdefghijklmnopq\r\n");
        assert!(matches!(long.text, Text::Heap(_)));
        assert_eq!(long.text(), "Ok: queued as 4ZxYz1234abcdefghijklmnopq");
        let built = Reply::new(ReplyCode::OK, None, ["a"; 2]).unwrap();
        assert!(matches!(built.text, Text::Inline { .. }));
        assert_eq!(built.lines().collect::<Vec<_>>(), ["a", "a"]);
        assert_eq!(built, parse_all(b"250-a\r\n250 a\r\n"));
    }

    #[test]
    fn non_utf8_text_is_kept_lossy() {
        let r = parse_all(b"554 caf\xe9\r\n");
        assert_eq!(r.lines().collect::<Vec<_>>(), ["caf\u{fffd}"]);
    }
}
