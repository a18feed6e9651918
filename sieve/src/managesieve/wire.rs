//! The lexical layer of ManageSieve (RFC 5804 §4): atoms, numbers, quoted strings and
//! literals, read from one complete framed command or response (see the framer) and
//! written back.
//!
//! ```text
//! atom        = 1*1024ATOM-CHAR
//! number      = (NZDIGIT *DIGIT) / "0"          ; 32-bit unsigned, no leading zeros
//! quoted      = DQUOTE *1024QUOTED-CHAR DQUOTE  ; "\" escapes only DQUOTE and "\"
//! literal-c2s = "{" number "+}" CRLF *OCTET     ; client to server only
//! literal-s2c = "{" number "}" CRLF *OCTET      ; server to client only
//! string      = quoted / literal-c2s / literal-s2c
//! ```
//!
//! The grammar is small and is the product here, so it is written by hand over a byte
//! cursor rather than with nom: the framer has already proved that the input is complete,
//! so there is no streaming state to carry, and every error names the offending byte
//! offset.

use std::borrow::Cow;
use std::fmt;

/// Which literal form a peer may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Client to server: only `{n+}` (RFC 5804 `literal-c2s`).
    ClientToServer,
    /// Server to client: only `{n}` (RFC 5804 `literal-s2c`).
    ServerToClient,
}

/// The RFC's limit on the text between the quotes of a quoted string (RFC 5804 §4).
pub const MAX_QUOTED_LEN: usize = 1024;

/// The RFC's limit on the length of an atom (RFC 5804 §4).
pub const MAX_ATOM_LEN: usize = 1024;

/// A syntax error inside one framed command or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset into the framed input where the problem was seen.
    pub offset: usize,
    /// What was expected or what is wrong.
    pub message: Cow<'static, str>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

/// `ATOM-CHAR = "!" / %x23-27 / %x2A-5B / %x5D-7A / %x7C-7E`
pub(crate) fn is_atom_char(b: u8) -> bool {
    matches!(b, b'!' | 0x23..=0x27 | 0x2A..=0x5B | 0x5D..=0x7A | 0x7C..=0x7E)
}

/// A cursor over one complete framed unit (a command or a response line with its literals).
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
    direction: Direction,
    /// Accept `{n}` from a client as well (a deviation some old clients need).
    lenient_literals: bool,
    max_quoted: usize,
}

pub(crate) type PResult<T> = Result<T, SyntaxError>;

impl<'a> Cursor<'a> {
    pub(crate) fn new(input: &'a [u8], direction: Direction) -> Self {
        Self {
            input,
            pos: 0,
            direction,
            lenient_literals: false,
            max_quoted: MAX_QUOTED_LEN,
        }
    }

    pub(crate) fn lenient_literals(mut self, yes: bool) -> Self {
        self.lenient_literals = yes;
        self
    }

    pub(crate) fn max_quoted(mut self, max: usize) -> Self {
        self.max_quoted = max;
        self
    }

    pub(crate) fn err<T>(&self, message: impl Into<Cow<'static, str>>) -> PResult<T> {
        Err(SyntaxError {
            offset: self.pos,
            message: message.into(),
        })
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub(crate) fn at_crlf(&self) -> bool {
        self.input[self.pos..].starts_with(b"\r\n")
    }

    /// Consumes `SP`.
    pub(crate) fn sp(&mut self) -> PResult<()> {
        if self.peek() == Some(b' ') {
            self.pos += 1;
            Ok(())
        } else {
            self.err("expected a space")
        }
    }

    /// Consumes `SP` if it is next; says whether it did.
    pub(crate) fn opt_sp(&mut self) -> bool {
        if self.peek() == Some(b' ') {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn byte(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// Consumes the final CRLF, which must end the input.
    pub(crate) fn end(&mut self) -> PResult<()> {
        if !self.at_crlf() {
            return self.err("expected the end of the line");
        }
        self.pos += 2;
        if self.pos != self.input.len() {
            return self.err("unexpected data after the end of the line");
        }
        Ok(())
    }

    /// `atom = 1*1024ATOM-CHAR`
    pub(crate) fn atom(&mut self) -> PResult<&'a str> {
        let start = self.pos;
        while self.pos < self.input.len() && is_atom_char(self.input[self.pos]) {
            self.pos += 1;
        }
        if self.pos == start {
            return self.err("expected an atom");
        }
        if self.pos - start > MAX_ATOM_LEN {
            self.pos = start;
            return self.err("atom longer than 1024 characters");
        }
        // ATOM-CHARs are ASCII.
        Ok(std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default())
    }

    /// `number = (NZDIGIT *DIGIT) / "0"`, a 32-bit unsigned number.
    pub(crate) fn number(&mut self) -> PResult<u32> {
        let start = self.pos;
        while self.pos < self.input.len() && self.input[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        parse_number(&self.input[start..self.pos]).ok_or_else(|| SyntaxError {
            offset: start,
            message: "expected a number (0 to 4294967295, no leading zeros)".into(),
        })
    }

    /// Whether a string starts here.
    pub(crate) fn at_string(&self) -> bool {
        matches!(self.peek(), Some(b'"' | b'{'))
    }

    /// `string = quoted / literal`, in the form the direction allows.
    pub(crate) fn string(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal().map(Cow::Borrowed),
            _ => self.err("expected a string"),
        }
    }

    /// A string that must be UTF-8.
    pub(crate) fn utf8_string(&mut self) -> PResult<Cow<'a, str>> {
        let start = self.pos;
        match self.string()? {
            Cow::Borrowed(b) => match std::str::from_utf8(b) {
                Ok(s) => Ok(Cow::Borrowed(s)),
                Err(_) => Err(SyntaxError {
                    offset: start,
                    message: "string is not UTF-8".into(),
                }),
            },
            Cow::Owned(v) => String::from_utf8(v)
                .map(Cow::Owned)
                .map_err(|_| SyntaxError {
                    offset: start,
                    message: "string is not UTF-8".into(),
                }),
        }
    }

    fn quoted(&mut self) -> PResult<Cow<'a, [u8]>> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let Some(b) = self.peek() else {
                return self.err("unterminated quoted string");
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let next = self.input.get(self.pos + 1).copied();
                    if !matches!(next, Some(b'"' | b'\\')) {
                        self.pos += 1;
                        return self.err("a backslash may only escape '\"' or '\\'");
                    }
                    let buf = owned.get_or_insert_with(|| self.input[start..self.pos].to_vec());
                    buf.push(next.unwrap_or_default());
                    self.pos += 2;
                }
                0 | b'\r' | b'\n' => return self.err("NUL, CR or LF inside a quoted string"),
                _ => {
                    if let Some(buf) = owned.as_mut() {
                        buf.push(b);
                    }
                    self.pos += 1;
                }
            }
            if self.pos - start > self.max_quoted {
                return Err(SyntaxError {
                    offset: open,
                    message: format!("quoted string longer than {} octets", self.max_quoted).into(),
                });
            }
        }
        let raw = &self.input[start..self.pos];
        self.pos += 1; // closing quote
        let value = match owned {
            Some(v) => Cow::Owned(v),
            None => Cow::Borrowed(raw),
        };
        // QUOTED-CHAR is SAFE-UTF8-CHAR: the text must be UTF-8.
        if std::str::from_utf8(&value).is_err() {
            return Err(SyntaxError {
                offset: open,
                message: "quoted string is not UTF-8".into(),
            });
        }
        Ok(value)
    }

    /// `"{" number ["+"] "}" CRLF *OCTET`; the framer guarantees the octets are present.
    fn literal(&mut self) -> PResult<&'a [u8]> {
        let open = self.pos;
        self.pos += 1;
        let len = self.number()? as usize;
        let plus = self.peek() == Some(b'+');
        if plus {
            self.pos += 1;
        }
        self.byte(b'}', "expected '}' closing the literal length")?;
        match (self.direction, plus) {
            (Direction::ClientToServer, false) if !self.lenient_literals => {
                return Err(SyntaxError {
                    offset: open,
                    message: "clients must send non-synchronizing literals {n+}".into(),
                });
            }
            (Direction::ServerToClient, true) => {
                return Err(SyntaxError {
                    offset: open,
                    message: "servers must send literals as {n}, without '+'".into(),
                });
            }
            _ => {}
        }
        if !self.at_crlf() {
            return self.err("expected CRLF after the literal length");
        }
        self.pos += 2;
        if self.input.len() - self.pos < len {
            return self.err("literal shorter than announced");
        }
        let data = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(data)
    }
}

/// Parses a `number` (no sign, no leading zeros, at most `u32::MAX`).
pub(crate) fn parse_number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || digits.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    u32::try_from(n).ok()
}

/// Whether `s` can be sent as a quoted string.
pub(crate) fn quotable(s: &[u8]) -> bool {
    s.len() <= MAX_QUOTED_LEN
        && !s.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
        && std::str::from_utf8(s).is_ok()
}

/// Writes `s` as a string: quoted when allowed, else as a literal in the sender's form.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &[u8], direction: Direction) {
    if quotable(s) {
        write_quoted(out, s);
    } else {
        write_literal(out, s, direction);
    }
}

/// Writes `s` as a quoted string; the caller checked [`quotable`].
pub(crate) fn write_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Writes `s` as a literal: `{n+}` from a client, `{n}` from a server.
pub(crate) fn write_literal(out: &mut Vec<u8>, s: &[u8], direction: Direction) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    if direction == Direction::ClientToServer {
        out.push(b'+');
    }
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c2s(s: &[u8]) -> Cursor<'_> {
        Cursor::new(s, Direction::ClientToServer)
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_number(b"4294967296"), None);
        assert_eq!(parse_number(b"01"), None);
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"99999999999"), None);
    }

    #[test]
    fn quoted_strings() {
        let mut c = c2s(br#""a\"b\\c" "#);
        assert_eq!(c.string().unwrap().as_ref(), br#"a"b\c"#);
        let mut c = c2s(br#""plain""#);
        assert!(matches!(c.string().unwrap(), Cow::Borrowed(b"plain")));
        assert!(c2s(br#""bad \n escape""#).string().is_err());
        assert!(c2s(b"\"cr\rlf\"").string().is_err());
        assert!(c2s(b"\"unterminated").string().is_err());
        assert!(c2s(b"\"\xff\"").string().is_err());
        let long = format!("\"{}\"", "x".repeat(1025));
        assert!(c2s(long.as_bytes()).string().is_err());
        let ok = format!("\"{}\"", "x".repeat(1024));
        assert_eq!(c2s(ok.as_bytes()).string().unwrap().len(), 1024);
    }

    #[test]
    fn literals_by_direction() {
        let mut c = c2s(b"{3+}\r\nabc\r\n");
        assert_eq!(c.string().unwrap().as_ref(), b"abc");
        c.end().unwrap();
        assert!(c2s(b"{3}\r\nabc\r\n").string().is_err());
        assert!(
            c2s(b"{3}\r\nabc\r\n")
                .lenient_literals(true)
                .string()
                .is_ok()
        );
        let mut s = Cursor::new(b"{3}\r\nabc", Direction::ServerToClient);
        assert_eq!(s.string().unwrap().as_ref(), b"abc");
        assert!(
            Cursor::new(b"{3+}\r\nabc", Direction::ServerToClient)
                .string()
                .is_err()
        );
        assert!(c2s(b"{5+}\r\nabc").string().is_err());
        assert!(c2s(b"{01+}\r\na").string().is_err());
    }

    #[test]
    fn writing_round_trips() {
        for s in [
            &b""[..],
            b"x",
            b"a\"b\\",
            b"line\r\nbreak",
            b"\xff\xfe",
            b"nul\0",
        ] {
            for dir in [Direction::ClientToServer, Direction::ServerToClient] {
                let mut out = Vec::new();
                write_string(&mut out, s, dir);
                out.extend_from_slice(b"\r\n");
                let mut c = Cursor::new(&out, dir);
                assert_eq!(c.string().unwrap().as_ref(), s);
                c.end().unwrap();
            }
        }
    }

    #[test]
    fn atoms() {
        let mut c = c2s(b"PUTSCRIPT \"x\"");
        assert_eq!(c.atom().unwrap(), "PUTSCRIPT");
        assert!(c2s(b"(x").atom().is_err());
        let long = "A".repeat(1025);
        assert!(c2s(long.as_bytes()).atom().is_err());
    }
}
