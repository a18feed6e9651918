//! The lexical grammar of Sieve (RFC 5228 §2 and §8.1).
//!
//! ```text
//! identifier   = (ALPHA / "_") *(ALPHA / DIGIT / "_")
//! tag          = ":" identifier
//! number       = 1*DIGIT [ QUANTIFIER ]          ; QUANTIFIER = "K" / "M" / "G"
//! quoted-string = DQUOTE quoted-text DQUOTE      ; "\" escapes the next character
//! multi-line   = "text:" *(SP / HTAB) (hash-comment / CRLF)
//!                *(multiline-literal / multiline-dotstart) "." CRLF
//! comment      = bracket-comment / hash-comment
//! ```
//!
//! Line ends may be CRLF or a bare LF (scripts are often edited on Unix); inside strings a
//! bare LF is kept as it is. Strings must be UTF-8.

use std::borrow::Cow;
use std::fmt;

/// A lexical token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// An identifier (a command or test name), as written.
    Identifier(&'a str),
    /// A tagged argument, without its colon.
    Tag(&'a str),
    /// A number, its quantifier applied.
    Number(u64),
    /// A quoted or multi-line string, escapes and dot-stuffing removed.
    String(Cow<'a, str>),
    /// `;`
    Semicolon,
    /// `,`
    Comma,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `[`
    LeftBracket,
    /// `]`
    RightBracket,
    /// `{`
    LeftBrace,
    /// `}`
    RightBrace,
}

/// A place in the script: 1-based line and column (in bytes), and the byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column in bytes, from 1.
    pub column: u32,
    /// Byte offset from the start of the script.
    pub offset: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<'a> {
    /// The token.
    pub token: Token<'a>,
    /// Where it starts.
    pub pos: Position,
}

/// What is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// The problem.
    pub kind: LexErrorKind,
    /// Where it was found.
    pub pos: Position,
}

/// The kinds of lexical errors.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LexErrorKind {
    /// A character that starts no token.
    UnexpectedCharacter(char),
    /// A quoted string with no closing quote.
    UnterminatedString,
    /// A `text:` string with no line holding only `.`.
    UnterminatedMultiLine,
    /// Something other than whitespace or a `#` comment after `text:` on its line.
    BadMultiLineStart,
    /// A `/*` comment with no `*/`.
    UnterminatedComment,
    /// A number that does not fit in 64 bits, quantifier included.
    NumberTooLarge,
    /// A number directly followed by letters or digits that are not a quantifier.
    BadNumber,
    /// A `:` not followed by an identifier.
    EmptyTag,
    /// String bytes that are not UTF-8.
    InvalidUtf8,
    /// An identifier or tag name longer than [`MAX_IDENTIFIER_LENGTH`] bytes.
    IdentifierTooLong,
}

/// Longest identifier or tag name, in bytes (32, as Pigeonhole's lexer): no command, test or
/// tag of any extension comes near it, and it bounds what an error message repeats.
pub const MAX_IDENTIFIER_LENGTH: usize = 32;

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            LexErrorKind::UnexpectedCharacter(c) => {
                return write!(f, "{}: unexpected character {c:?}", self.pos);
            }
            LexErrorKind::UnterminatedString => "unterminated quoted string",
            LexErrorKind::UnterminatedMultiLine => {
                "unterminated multi-line string (missing a line with a single '.')"
            }
            LexErrorKind::BadMultiLineStart => {
                "only whitespace or a '#' comment may follow 'text:' on its line"
            }
            LexErrorKind::UnterminatedComment => "unterminated '/*' comment",
            LexErrorKind::NumberTooLarge => "number does not fit in 64 bits",
            LexErrorKind::BadNumber => "invalid number (quantifier must be K, M or G)",
            LexErrorKind::EmptyTag => "':' must be followed by an identifier",
            LexErrorKind::InvalidUtf8 => "string is not valid UTF-8",
            LexErrorKind::IdentifierTooLong => "identifier is longer than 32 bytes",
        };
        write!(f, "{}: {what}", self.pos)
    }
}

impl std::error::Error for LexError {}

/// The lexer: an iterator of tokens over a script. After an error the iterator yields
/// nothing more; [`Lexer::next_recover`] instead goes on after the bad input, so a parser
/// can report every error of a script.
#[derive(Clone, Debug)]
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    line_start: usize,
    failed: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer over a script given as text.
    pub fn new(src: &'a str) -> Self {
        Self::from_bytes(src.as_bytes())
    }

    /// A lexer over a script given as bytes; strings and identifiers must still be UTF-8.
    pub fn from_bytes(src: &'a [u8]) -> Self {
        Self {
            src,
            pos: 0,
            line: 1,
            line_start: 0,
            failed: false,
        }
    }

    /// The current position.
    pub fn here(&self) -> Position {
        Position {
            line: self.line,
            column: u32::try_from(self.pos - self.line_start + 1).unwrap_or(u32::MAX),
            offset: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Advances over `n` bytes, counting line ends.
    fn advance(&mut self, n: usize) {
        let end = self.pos + n;
        for i in self.pos..end {
            if self.src[i] == b'\n' {
                self.line += 1;
                self.line_start = i + 1;
            }
        }
        self.pos = end;
    }

    fn skip_trivia(&mut self) -> Result<(), LexError> {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.advance(1),
                b'#' => {
                    let len = memchr_nl(&self.src[self.pos..]);
                    self.advance(len);
                }
                b'/' if self.src.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.here();
                    let body = &self.src[self.pos + 2..];
                    let Some(end) = body.windows(2).position(|w| w == b"*/") else {
                        return Err(error(LexErrorKind::UnterminatedComment, start));
                    };
                    self.advance(end + 4);
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn identifier_len(&self, from: usize) -> usize {
        let s = &self.src[from..];
        match s.first() {
            Some(b) if b.is_ascii_alphabetic() || *b == b'_' => s
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                .unwrap_or(s.len()),
            _ => 0,
        }
    }

    fn str_at(&self, start: usize, end: usize) -> &'a str {
        // Identifiers are ASCII by construction.
        std::str::from_utf8(&self.src[start..end]).unwrap_or_default()
    }

    fn number(&mut self, start: Position) -> Result<Token<'a>, LexError> {
        let digits = self.src[self.pos..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(self.src.len() - self.pos);
        let mut value: u64 = 0;
        for &d in &self.src[self.pos..self.pos + digits] {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| error(LexErrorKind::NumberTooLarge, start))?;
        }
        self.advance(digits);
        let shift = match self.peek() {
            Some(b'K' | b'k') => 10,
            Some(b'M' | b'm') => 20,
            Some(b'G' | b'g') => 30,
            _ => 0,
        };
        if shift > 0 {
            self.advance(1);
            value = value
                .checked_mul(1 << shift)
                .ok_or_else(|| error(LexErrorKind::NumberTooLarge, start))?;
        }
        if self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(error(LexErrorKind::BadNumber, start));
        }
        Ok(Token::Number(value))
    }

    fn quoted(&mut self, start: Position) -> Result<Token<'a>, LexError> {
        let body_start = self.pos + 1;
        let mut i = body_start;
        let mut has_escape = false;
        loop {
            match self.src.get(i) {
                None => return Err(error(LexErrorKind::UnterminatedString, start)),
                Some(b'"') => break,
                Some(b'\\') => {
                    has_escape = true;
                    if i + 1 >= self.src.len() {
                        return Err(error(LexErrorKind::UnterminatedString, start));
                    }
                    i += 2;
                }
                // A bare LF line end becomes CRLF, as in multi-line strings.
                Some(b'\n') if i == body_start || self.src[i - 1] != b'\r' => {
                    has_escape = true;
                    i += 1;
                }
                Some(_) => i += 1,
            }
        }
        let raw = &self.src[body_start..i];
        self.advance(i + 1 - self.pos);
        let text = if has_escape {
            // RFC 5228 §2.4.2: "\" followed by any character is that character.
            let mut out = Vec::with_capacity(raw.len());
            let mut k = 0;
            while k < raw.len() {
                if raw[k] == b'\\' {
                    k += 1;
                } else if raw[k] == b'\n' && out.last() != Some(&b'\r') {
                    out.push(b'\r');
                }
                out.push(raw[k]);
                k += 1;
            }
            Cow::Owned(String::from_utf8(out).map_err(|_| error(LexErrorKind::InvalidUtf8, start))?)
        } else {
            Cow::Borrowed(
                std::str::from_utf8(raw).map_err(|_| error(LexErrorKind::InvalidUtf8, start))?,
            )
        };
        Ok(Token::String(text))
    }

    fn multi_line(&mut self, start: Position) -> Result<Token<'a>, LexError> {
        // After "text:": optional whitespace, then a hash comment or the line end.
        let mut i = self.pos + 5;
        while matches!(self.src.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        match self.src.get(i) {
            Some(b'#') => i += memchr_nl(&self.src[i..]),
            Some(b'\r') if self.src.get(i + 1) == Some(&b'\n') => {}
            Some(b'\n') => {}
            _ => return Err(error(LexErrorKind::BadMultiLineStart, start)),
        }
        // Now at the line end of the "text:" line.
        i += if self.src.get(i) == Some(&b'\r') {
            2
        } else {
            1
        };
        let body_start = i;
        let mut out: Option<Vec<u8>> = None;
        loop {
            if i >= self.src.len() {
                return Err(error(LexErrorKind::UnterminatedMultiLine, start));
            }
            let line_len = memchr_nl(&self.src[i..]);
            let line = &self.src[i..i + line_len];
            let content = line.strip_suffix(b"\r").unwrap_or(line);
            let has_nl = i + line_len < self.src.len();
            if content == b"." && has_nl {
                let text_end = i;
                i += line_len + 1;
                // Past the string first, so that lexing can resume after a bad one.
                self.advance(i - self.pos);
                let text = match out {
                    Some(v) => Cow::Owned(
                        String::from_utf8(v)
                            .map_err(|_| error(LexErrorKind::InvalidUtf8, start))?,
                    ),
                    None => Cow::Borrowed(
                        std::str::from_utf8(&self.src[body_start..text_end])
                            .map_err(|_| error(LexErrorKind::InvalidUtf8, start))?,
                    ),
                };
                return Ok(Token::String(text));
            }
            if !has_nl {
                return Err(error(LexErrorKind::UnterminatedMultiLine, start));
            }
            // Each line of the string ends in CRLF (RFC 5228 §2.4.2), also when the script
            // file has bare LF line ends. Dot-stuffing: the first dot is removed.
            let stuffed = line.starts_with(b"..");
            if stuffed || !line.ends_with(b"\r") || out.is_some() {
                let v = out.get_or_insert_with(|| self.src[body_start..i].to_vec());
                v.extend_from_slice(if stuffed { &content[1..] } else { content });
                v.extend_from_slice(b"\r\n");
            }
            i += line_len + 1;
        }
    }

    fn next_token(&mut self) -> Result<Option<Spanned<'a>>, LexError> {
        self.skip_trivia()?;
        let pos = self.here();
        let Some(b) = self.peek() else {
            return Ok(None);
        };
        let single = |t| Ok(Some(Spanned { token: t, pos }));
        let token = match b {
            b';' => Token::Semicolon,
            b',' => Token::Comma,
            b'(' => Token::LeftParen,
            b')' => Token::RightParen,
            b'[' => Token::LeftBracket,
            b']' => Token::RightBracket,
            b'{' => Token::LeftBrace,
            b'}' => Token::RightBrace,
            b'"' => return self.quoted(pos).map(|token| Some(Spanned { token, pos })),
            b'0'..=b'9' => return self.number(pos).map(|token| Some(Spanned { token, pos })),
            b':' => {
                let len = self.identifier_len(self.pos + 1);
                if len == 0 {
                    return Err(error(LexErrorKind::EmptyTag, pos));
                }
                if len > MAX_IDENTIFIER_LENGTH {
                    return Err(error(LexErrorKind::IdentifierTooLong, pos));
                }
                let name = self.str_at(self.pos + 1, self.pos + 1 + len);
                self.advance(len + 1);
                return single(Token::Tag(name));
            }
            _ => {
                let len = self.identifier_len(self.pos);
                if len == 0 {
                    let c = std::str::from_utf8(&self.src[self.pos..])
                        .ok()
                        .and_then(|s| s.chars().next())
                        .unwrap_or_else(|| char::from(b));
                    return Err(error(LexErrorKind::UnexpectedCharacter(c), pos));
                }
                if self.src[self.pos..].len() >= 5
                    && self.src[self.pos..self.pos + 5].eq_ignore_ascii_case(b"text:")
                    && len == 4
                {
                    return self
                        .multi_line(pos)
                        .map(|token| Some(Spanned { token, pos }));
                }
                if len > MAX_IDENTIFIER_LENGTH {
                    return Err(error(LexErrorKind::IdentifierTooLong, pos));
                }
                let name = self.str_at(self.pos, self.pos + len);
                self.advance(len);
                return single(Token::Identifier(name));
            }
        };
        self.advance(1);
        single(token)
    }
}

fn error(kind: LexErrorKind, pos: Position) -> LexError {
    LexError { kind, pos }
}

fn memchr_nl(s: &[u8]) -> usize {
    s.iter().position(|&b| b == b'\n').unwrap_or(s.len())
}

impl<'a> Lexer<'a> {
    /// The next token, or an error and then the tokens after the bad input: a run of
    /// unexpected characters is one error, a bad number or tag is skipped whole, a bad
    /// string is skipped to its end, and an unterminated string or comment ends the script.
    /// `None` at the end of the script.
    pub fn next_recover(&mut self) -> Option<Result<Spanned<'a>, LexError>> {
        match self.next_token() {
            Ok(t) => t.map(Ok),
            Err(e) => {
                self.resume_after(&e.kind);
                Some(Err(e))
            }
        }
    }

    /// Moves past the input that caused an error. Every error has consumed at least one
    /// byte once this returns, so lexing always ends.
    fn resume_after(&mut self, kind: &LexErrorKind) {
        let rest = &self.src[self.pos..];
        let skip = match kind {
            LexErrorKind::UnterminatedString
            | LexErrorKind::UnterminatedMultiLine
            | LexErrorKind::UnterminatedComment => rest.len(),
            // The whole run of characters that start no token.
            LexErrorKind::UnexpectedCharacter(_) => rest
                .iter()
                .position(|&b| b.is_ascii_alphanumeric() || b" \t\r\n#/\";,()[]{}:_".contains(&b))
                .unwrap_or(rest.len())
                .max(1),
            // The rest of the number or name (the lexer may be past its digits already).
            LexErrorKind::NumberTooLarge
            | LexErrorKind::BadNumber
            | LexErrorKind::IdentifierTooLong => {
                let from = usize::from(rest.first() == Some(&b':'));
                from + rest[from..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .unwrap_or(rest.len() - from)
            }
            LexErrorKind::BadMultiLineStart => 5,
            LexErrorKind::EmptyTag => 1,
            // The string was consumed whole.
            LexErrorKind::InvalidUtf8 => 0,
        };
        self.advance(skip.min(rest.len()));
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Spanned<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_token() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Token::*;

    fn lex(src: &str) -> Vec<Token<'_>> {
        Lexer::new(src)
            .map(|t| t.map_or_else(|e| panic!("{e} in {src:?}"), |t| t.token))
            .collect()
    }

    fn lex_err(src: &str) -> LexError {
        Lexer::new(src)
            .find_map(Result::err)
            .unwrap_or_else(|| panic!("no error in {src:?}"))
    }

    fn s(v: &str) -> Token<'_> {
        String(Cow::Borrowed(v))
    }

    #[test]
    fn rfc5228_example_script() {
        // From RFC 5228 §9 (abridged).
        let src = "require \"fileinto\";\r\nif header :is \"Sender\" \"owner-ietf-mtg@ietf.org\"\r\n{\r\n    fileinto \"ietf\";  # a comment\r\n}\r\nelsif size :over 100k { /* big */ discard; }\r\n";
        assert_eq!(
            lex(src),
            [
                Identifier("require"),
                s("fileinto"),
                Semicolon,
                Identifier("if"),
                Identifier("header"),
                Tag("is"),
                s("Sender"),
                s("owner-ietf-mtg@ietf.org"),
                LeftBrace,
                Identifier("fileinto"),
                s("ietf"),
                Semicolon,
                RightBrace,
                Identifier("elsif"),
                Identifier("size"),
                Tag("over"),
                Number(102_400),
                LeftBrace,
                Identifier("discard"),
                Semicolon,
                RightBrace,
            ]
        );
    }

    #[test]
    fn punctuation_and_lists() {
        assert_eq!(
            lex("anyof(true,false)[\"a\",\"b\"]"),
            [
                Identifier("anyof"),
                LeftParen,
                Identifier("true"),
                Comma,
                Identifier("false"),
                RightParen,
                LeftBracket,
                s("a"),
                Comma,
                s("b"),
                RightBracket
            ]
        );
    }

    #[test]
    fn quoted_escapes() {
        // §2.4.2: \\ and \" are escapes; any other "\x" is just "x".
        assert_eq!(
            lex(r#""a\"b\\c\d""#),
            [String(Cow::Owned("a\"b\\cd".into()))]
        );
        assert_eq!(lex("\"multi\r\nline\""), [s("multi\r\nline")]);
        assert_eq!(
            lex("\"multi\nline\""),
            [String(Cow::Owned("multi\r\nline".into()))]
        );
        assert_eq!(lex("\"\""), [s("")]);
        assert_eq!(lex("\"caf\u{e9}\""), [s("caf\u{e9}")]);
    }

    #[test]
    fn multi_line_strings() {
        assert_eq!(
            lex("text:\r\nHello\r\n..dot\r\n.\r\n;"),
            [String(Cow::Owned("Hello\r\n.dot\r\n".into())), Semicolon]
        );
        assert_eq!(lex("TEXT: # comment\n line\n.\n"), [s(" line\r\n")]);
        assert_eq!(lex("text:\n.\n"), [s("")]);
        // "text" not followed by ':' is an identifier.
        assert_eq!(lex("text :x"), [Identifier("text"), Tag("x")]);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            lex("0 1K 2m 3G 18446744073709551615"),
            [
                Number(0),
                Number(1024),
                Number(2 << 20),
                Number(3 << 30),
                Number(u64::MAX)
            ]
        );
        assert_eq!(
            lex_err("18446744073709551616").kind,
            LexErrorKind::NumberTooLarge
        );
        assert_eq!(lex_err("17179869184G").kind, LexErrorKind::NumberTooLarge);
        assert_eq!(lex_err("10X").kind, LexErrorKind::BadNumber);
        assert_eq!(lex_err("10KB").kind, LexErrorKind::BadNumber);
    }

    #[test]
    fn errors_with_positions() {
        let e = lex_err("if true {\n  \"open");
        assert_eq!(e.kind, LexErrorKind::UnterminatedString);
        assert_eq!((e.pos.line, e.pos.column), (2, 3));
        assert_eq!(
            e.to_string(),
            "line 2, column 3: unterminated quoted string"
        );
        assert_eq!(lex_err("/* never").kind, LexErrorKind::UnterminatedComment);
        assert_eq!(
            lex_err("text:\nabc\n").kind,
            LexErrorKind::UnterminatedMultiLine
        );
        assert_eq!(
            lex_err("text:\nabc\n.").kind,
            LexErrorKind::UnterminatedMultiLine
        );
        assert_eq!(
            lex_err("text: x\n.\n").kind,
            LexErrorKind::BadMultiLineStart
        );
        assert_eq!(lex_err(": x").kind, LexErrorKind::EmptyTag);
        assert_eq!(
            lex_err("keep; @").kind,
            LexErrorKind::UnexpectedCharacter('@')
        );
        assert_eq!(
            lex_err("\u{e9}").kind,
            LexErrorKind::UnexpectedCharacter('\u{e9}')
        );
        let bad = Lexer::from_bytes(b"\"\xff\"").next().unwrap().unwrap_err();
        assert_eq!(bad.kind, LexErrorKind::InvalidUtf8);
        // After an error the lexer stops.
        let mut l = Lexer::new("@ keep");
        assert!(l.next().unwrap().is_err());
        assert!(l.next().is_none());
    }

    #[test]
    fn identifier_length_limit() {
        let ok = "a".repeat(MAX_IDENTIFIER_LENGTH);
        assert_eq!(lex(&ok), [Identifier(&ok)]);
        let long = "a".repeat(MAX_IDENTIFIER_LENGTH + 1);
        assert_eq!(lex_err(&long).kind, LexErrorKind::IdentifierTooLong);
        assert_eq!(
            lex_err(&format!(":{long}")).kind,
            LexErrorKind::IdentifierTooLong
        );
    }

    /// Every token and error of `src` with [`Lexer::next_recover`], as short strings.
    fn recovered(src: &[u8]) -> Vec<std::string::String> {
        let mut l = Lexer::from_bytes(src);
        std::iter::from_fn(|| l.next_recover())
            .map(|t| match t {
                Ok(t) => format!("{}:{:?}", t.pos.column, t.token),
                Err(e) => format!("{}:{:?}", e.pos.column, e.kind),
            })
            .collect()
    }

    #[test]
    fn lexing_goes_on_after_an_error() {
        assert_eq!(
            recovered(b"a $$$ b 99999999999999999999K c 10X d :"),
            [
                "1:Identifier(\"a\")",
                "3:UnexpectedCharacter('$')",
                "7:Identifier(\"b\")",
                "9:NumberTooLarge",
                "31:Identifier(\"c\")",
                "33:BadNumber",
                "37:Identifier(\"d\")",
                "39:EmptyTag",
            ]
        );
        assert_eq!(
            recovered(b"\"\xff\" ; text: x\n.\n; \"open"),
            [
                "1:InvalidUtf8",
                "5:Semicolon",
                "7:BadMultiLineStart",
                "13:Identifier(\"x\")",
                "1:UnexpectedCharacter('.')",
                "1:Semicolon",
                "3:UnterminatedString",
            ]
        );
        assert_eq!(
            recovered(b"x /* open"),
            ["1:Identifier(\"x\")", "3:UnterminatedComment"]
        );
        // A string that is not UTF-8 in a multi-line string is skipped whole.
        assert_eq!(
            recovered(b"text:\n\xfe\n.\n;"),
            ["1:InvalidUtf8", "1:Semicolon"]
        );
    }

    #[test]
    fn positions_of_tokens() {
        let toks: Vec<_> = Lexer::new("keep;\n  stop;").map(Result::unwrap).collect();
        assert_eq!(
            (toks[2].pos.line, toks[2].pos.column, toks[2].pos.offset),
            (2, 3, 8)
        );
    }
}
