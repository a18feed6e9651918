//! ManageSieve responses (RFC 5804 §1.2, §1.3, §1.7; grammar in §4): parsing one framed
//! response line and writing responses.
//!
//! ```text
//! response-ok       = "OK" [SP "(" resp-code ")"] [SP string] CRLF
//! response-nobye    = ("NO" / "BYE") [SP "(" resp-code ")"] [SP string] CRLF
//! resp-code         = "AUTH-TOO-WEAK" / "ENCRYPT-NEEDED" / "QUOTA" ["/" ("MAXSCRIPTS" / "MAXSIZE")]
//!                     / "SASL" SP string / "REFERRAL" SP sieveurl / "TRANSITION-NEEDED"
//!                     / "TRYLATER" / "ACTIVE" / "NONEXISTENT" / "ALREADYEXISTS" / "WARNINGS"
//!                     / "TAG" SP string / resp-code-name [SP extension-data]
//! single-capability = capability-name [SP string] CRLF
//! listscripts line  = sieve-name [SP "ACTIVE"] CRLF
//! ```
//!
//! Every other line a server sends is a *data line*: strings (and the atom `ACTIVE`)
//! separated by spaces. What a data line means depends on the command it answers, which
//! the client session knows.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::types::{QuotaKind, ResponseCode, Status, StatusResponse};
use super::wire::{self, Cursor, Direction, SyntaxError};

/// One item of a data line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item<'a> {
    /// A quoted string or literal.
    String(Cow<'a, [u8]>),
    /// An atom (such as `ACTIVE`), as sent.
    Atom(&'a str),
}

/// One framed line a server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseLine<'a> {
    /// `OK`, `NO` or `BYE`, which completes a command.
    Status(StatusResponse),
    /// A data line: at least one item, the first a string.
    Data(Vec<Item<'a>>),
}

/// Parser options for a client reading responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseOptions {
    /// Longest quoted string accepted. The RFC limits quoted strings to 1024 octets; the
    /// default accepts longer ones (up to the line limit) because servers that list many
    /// extensions do send them.
    pub max_quoted: usize,
}

impl Default for ResponseOptions {
    fn default() -> Self {
        Self {
            max_quoted: usize::MAX,
        }
    }
}

/// Parses one complete framed response line (CRLF included).
pub fn parse_response_line(
    input: &[u8],
    options: ResponseOptions,
) -> Result<ResponseLine<'_>, SyntaxError> {
    let mut c = Cursor::new(input, Direction::ServerToClient).max_quoted(options.max_quoted);
    if c.at_string() {
        let mut items = vec![Item::String(c.string()?)];
        while c.opt_sp() {
            if c.at_string() {
                items.push(Item::String(c.string()?));
            } else {
                items.push(Item::Atom(c.atom()?));
            }
        }
        c.end()?;
        return Ok(ResponseLine::Data(items));
    }
    let word = c.atom()?;
    let status = if word.eq_ignore_ascii_case("OK") {
        Status::Ok
    } else if word.eq_ignore_ascii_case("NO") {
        Status::No
    } else if word.eq_ignore_ascii_case("BYE") {
        Status::Bye
    } else {
        return Err(SyntaxError {
            offset: 0,
            message: "expected OK, NO, BYE or a string".into(),
        });
    };
    let mut code = None;
    let mut text = None;
    if c.opt_sp() {
        if c.peek() == Some(b'(') {
            code = Some(resp_code(&mut c)?);
            if c.opt_sp() {
                text = Some(c.utf8_string()?.into_owned());
            }
        } else {
            text = Some(c.utf8_string()?.into_owned());
        }
    }
    c.end()?;
    Ok(ResponseLine::Status(StatusResponse { status, code, text }))
}

/// `resp-code` between its parentheses.
fn resp_code(c: &mut Cursor<'_>) -> Result<ResponseCode, SyntaxError> {
    c.byte(b'(', "expected '('")?;
    let name = c.atom()?;
    let upper = name.to_ascii_uppercase();
    let code = match upper.as_str() {
        "AUTH-TOO-WEAK" => ResponseCode::AuthTooWeak,
        "ENCRYPT-NEEDED" => ResponseCode::EncryptNeeded,
        "QUOTA" => ResponseCode::Quota(QuotaKind::Any),
        "QUOTA/MAXSCRIPTS" => ResponseCode::Quota(QuotaKind::MaxScripts),
        "QUOTA/MAXSIZE" => ResponseCode::Quota(QuotaKind::MaxSize),
        "TRANSITION-NEEDED" => ResponseCode::TransitionNeeded,
        "TRYLATER" => ResponseCode::TryLater,
        "ACTIVE" => ResponseCode::Active,
        "NONEXISTENT" => ResponseCode::NonExistent,
        "ALREADYEXISTS" => ResponseCode::AlreadyExists,
        "WARNINGS" => ResponseCode::Warnings,
        "SASL" => {
            c.sp()?;
            let start = 0;
            let data = c.string()?;
            let decoded = BASE64.decode(data.as_ref()).map_err(|_| SyntaxError {
                offset: start,
                message: "SASL response code data is not base64".into(),
            })?;
            ResponseCode::Sasl(decoded)
        }
        "TAG" => {
            c.sp()?;
            ResponseCode::Tag(c.string()?.into_owned())
        }
        "REFERRAL" => {
            c.sp()?;
            ResponseCode::Referral(c.atom()?.to_owned())
        }
        _ => {
            let data = if c.opt_sp() {
                Some(extension_data(c, 0)?)
            } else {
                None
            };
            ResponseCode::Other {
                name: name.to_owned(),
                data,
            }
        }
    };
    c.byte(b')', "expected ')' closing the response code")?;
    Ok(code)
}

/// `extension-data = extension-item *(SP extension-item)`, returned as display text.
fn extension_data(c: &mut Cursor<'_>, depth: usize) -> Result<String, SyntaxError> {
    if depth > 16 {
        return c.err("response code data nested too deeply");
    }
    let mut out = String::new();
    loop {
        match c.peek() {
            Some(b'(') => {
                c.byte(b'(', "expected '('")?;
                out.push('(');
                if c.peek() != Some(b')') {
                    out.push_str(&extension_data(c, depth + 1)?);
                }
                c.byte(b')', "expected ')'")?;
                out.push(')');
            }
            Some(b'"' | b'{') => {
                let s = c.string()?;
                out.push_str(&String::from_utf8_lossy(&s));
            }
            _ => out.push_str(c.atom()?),
        }
        if c.peek() == Some(b' ') {
            c.sp()?;
            out.push(' ');
        } else {
            return Ok(out);
        }
    }
}

impl ResponseCode {
    /// Writes `(CODE [data])`.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'(');
        let name = self.name();
        if name.is_empty() {
            out.extend_from_slice(b"X-EMPTY");
        } else {
            out.extend(name.bytes().filter(|&b| wire::is_atom_char(b)));
        }
        match self {
            Self::Sasl(data) => {
                out.push(b' ');
                wire::write_string(
                    out,
                    BASE64.encode(data).as_bytes(),
                    Direction::ServerToClient,
                );
            }
            Self::Tag(tag) => {
                out.push(b' ');
                wire::write_string(out, tag, Direction::ServerToClient);
            }
            Self::Referral(url) => {
                out.push(b' ');
                out.extend(url.bytes().filter(|&b| wire::is_atom_char(b)));
            }
            // The data is kept as display text; one string item carries any text.
            Self::Other {
                data: Some(data), ..
            } => {
                out.push(b' ');
                wire::write_string(out, data.as_bytes(), Direction::ServerToClient);
            }
            _ => {}
        }
        out.push(b')');
    }
}

impl StatusResponse {
    /// Writes the response as a server sends it, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.status.as_str().as_bytes());
        if let Some(code) = &self.code {
            out.push(b' ');
            code.encode(out);
        }
        if let Some(text) = &self.text {
            out.push(b' ');
            wire::write_string(out, text.as_bytes(), Direction::ServerToClient);
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The response as a server sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Writes a data line of one string (a script, a SASL challenge), as a server sends it.
pub(crate) fn encode_string_line(out: &mut Vec<u8>, s: &[u8]) {
    wire::write_string(out, s, Direction::ServerToClient);
    out.extend_from_slice(b"\r\n");
}

/// The capabilities a server announces (RFC 5804 §1.7), as a server builds them and as a
/// client reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `IMPLEMENTATION`: name and version of the server.
    pub implementation: Option<String>,
    /// `SASL`: the mechanisms offered now (empty until STARTTLS when plaintext
    /// authentication is refused).
    pub sasl: Vec<String>,
    /// `SIEVE`: the Sieve extensions the interpreter supports.
    pub sieve: Vec<String>,
    /// `STARTTLS` is offered.
    pub starttls: bool,
    /// `NOTIFY`: the enotify methods (URI schemes).
    pub notify: Vec<String>,
    /// `MAXREDIRECTS`: redirects a script may perform per message.
    pub max_redirects: Option<u32>,
    /// `LANGUAGE`: the language of human-readable text.
    pub language: Option<String>,
    /// `OWNER`: the logged-in user (only after authentication).
    pub owner: Option<String>,
    /// `VERSION`: the protocol version ("1.0" for RFC 5804).
    pub version: Option<String>,
    /// `UNAUTHENTICATE` is supported (RFC 5804 §2.14.1).
    pub unauthenticate: bool,
    /// Capabilities this crate does not know, as sent (name, value).
    pub other: Vec<(String, Option<String>)>,
}

impl Capabilities {
    /// Writes the capability lines and the final `OK`, as a server sends them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut line = |name: &str, value: Option<&str>| {
            wire::write_string(out, name.as_bytes(), Direction::ServerToClient);
            if let Some(v) = value {
                out.push(b' ');
                wire::write_string(out, v.as_bytes(), Direction::ServerToClient);
            }
            out.extend_from_slice(b"\r\n");
        };
        if let Some(i) = &self.implementation {
            line("IMPLEMENTATION", Some(i));
        }
        line("SASL", Some(&self.sasl.join(" ")));
        line("SIEVE", Some(&self.sieve.join(" ")));
        if self.starttls {
            line("STARTTLS", None);
        }
        if !self.notify.is_empty() {
            line("NOTIFY", Some(&self.notify.join(" ")));
        }
        if let Some(n) = self.max_redirects {
            line("MAXREDIRECTS", Some(&n.to_string()));
        }
        if let Some(l) = &self.language {
            line("LANGUAGE", Some(l));
        }
        if let Some(o) = &self.owner {
            line("OWNER", Some(o));
        }
        if self.unauthenticate {
            line("UNAUTHENTICATE", None);
        }
        for (name, value) in &self.other {
            line(name, value.as_deref());
        }
        if let Some(v) = &self.version {
            line("VERSION", Some(v));
        }
        out.extend_from_slice(b"OK\r\n");
    }

    /// Takes one capability line (name and optional value, as strings) into account.
    /// Names are case-insensitive; unknown ones are kept in [`Capabilities::other`].
    pub fn apply(&mut self, name: &str, value: Option<&str>) {
        let words = |v: Option<&str>| -> Vec<String> {
            v.unwrap_or_default()
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        };
        match name.to_ascii_uppercase().as_str() {
            "IMPLEMENTATION" => self.implementation = value.map(str::to_owned),
            "SASL" => self.sasl = words(value),
            "SIEVE" => self.sieve = words(value),
            "STARTTLS" => self.starttls = true,
            "NOTIFY" => self.notify = words(value),
            "MAXREDIRECTS" => self.max_redirects = value.and_then(|v| v.parse().ok()),
            "LANGUAGE" => self.language = value.map(str::to_owned),
            "OWNER" => self.owner = value.map(str::to_owned),
            "VERSION" => self.version = value.map(str::to_owned),
            "UNAUTHENTICATE" => self.unauthenticate = true,
            _ => self.other.push((name.to_owned(), value.map(str::to_owned))),
        }
    }

    /// Whether the server offers a SASL mechanism (case-insensitive).
    pub fn has_sasl(&self, mechanism: &str) -> bool {
        self.sasl.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }

    /// Whether the Sieve interpreter supports an extension.
    pub fn has_extension(&self, extension: &str) -> bool {
        self.sieve.iter().any(|e| e.eq_ignore_ascii_case(extension))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> ResponseLine<'_> {
        parse_response_line(s, ResponseOptions::default()).unwrap()
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse(b"oK\r\n"), ResponseLine::Status(StatusResponse::ok()));
        assert_eq!(
            parse(b"NO (QUOTA/MAXSIZE) \"Quota exceeded\"\r\n"),
            ResponseLine::Status(
                StatusResponse::no("Quota exceeded")
                    .with_code(ResponseCode::Quota(QuotaKind::MaxSize))
            )
        );
        assert_eq!(
            parse(b"OK (TAG {16}\r\nSTARTTLS-SYNC-42) \"Done\"\r\n"),
            ResponseLine::Status(
                StatusResponse::new(Status::Ok, "Done")
                    .with_code(ResponseCode::Tag(b"STARTTLS-SYNC-42".to_vec()))
            )
        );
        assert_eq!(
            parse(b"No (NONEXISTENT) {31}\r\nThere is no script by that name\r\n"),
            ResponseLine::Status(
                StatusResponse::no("There is no script by that name")
                    .with_code(ResponseCode::NonExistent)
            )
        );
        let ResponseLine::Status(r) = parse(b"OK (SASL \"cnNwYXV0aD0=\")\r\n") else {
            panic!()
        };
        assert_eq!(r.code, Some(ResponseCode::Sasl(b"rspauth=".to_vec())));
        let ResponseLine::Status(r) = parse(b"NO (X-FOO/BAR (1 \"a)\" (b)) x) \"t\"\r\n") else {
            panic!()
        };
        assert_eq!(
            r.code,
            Some(ResponseCode::Other {
                name: "X-FOO/BAR".into(),
                data: Some("(1 a) (b)) x".into())
            })
        );
        let ResponseLine::Status(r) = parse(b"BYE (REFERRAL sieve://example.net) \"moved\"\r\n")
        else {
            panic!()
        };
        assert_eq!(
            r.code,
            Some(ResponseCode::Referral("sieve://example.net".into()))
        );
    }

    #[test]
    fn unknown_codes_round_trip() {
        // Found by fuzzing: display text of extension data holding '"' and ')' must be
        // written back as a string, not raw.
        for line in [
            &b"NO (X-A (a \")\") b) \"t\"\r\n"[..],
            b"no (TRYLNONEXISTENTSet!G k% +k;;) \"x\"\r\n",
            b"OK (X {3}\r\n)\r\n) \"t\"\r\n",
        ] {
            let ResponseLine::Status(r) = parse(line) else {
                panic!()
            };
            let again = r.to_bytes();
            assert_eq!(parse(&again), ResponseLine::Status(r));
        }
    }

    #[test]
    fn data_lines() {
        assert_eq!(
            parse(b"\"main_script\" ACTIVE\r\n"),
            ResponseLine::Data(vec![
                Item::String(Cow::Borrowed(b"main_script")),
                Item::Atom("ACTIVE")
            ])
        );
        assert_eq!(
            parse(b"{13}\r\nclever\"script\r\n"),
            ResponseLine::Data(vec![Item::String(Cow::Borrowed(b"clever\"script"))])
        );
        assert!(parse_response_line(b"FOO\r\n", ResponseOptions::default()).is_err());
        assert!(parse_response_line(b"{3+}\r\nabc\r\n", ResponseOptions::default()).is_err());
    }

    #[test]
    fn status_round_trips() {
        let cases = [
            StatusResponse::ok(),
            StatusResponse::no("line 2: Syntax error\r\nline 3: more"),
            StatusResponse::new(Status::Bye, "Too many failed authentication attempts"),
            StatusResponse::new(Status::Ok, "x").with_code(ResponseCode::Warnings),
            StatusResponse::ok().with_code(ResponseCode::Sasl(vec![0, 1, 2])),
            StatusResponse::no("q").with_code(ResponseCode::Quota(QuotaKind::Any)),
        ];
        for r in cases {
            let bytes = r.to_bytes();
            assert_eq!(parse(&bytes), ResponseLine::Status(r));
        }
    }

    #[test]
    fn capabilities_round_trip() {
        let caps = Capabilities {
            implementation: Some("Test 1".into()),
            sasl: vec!["PLAIN".into(), "LOGIN".into()],
            sieve: vec!["fileinto".into(), "vacation".into()],
            starttls: true,
            notify: vec!["mailto".into()],
            max_redirects: Some(5),
            version: Some("1.0".into()),
            unauthenticate: true,
            ..Capabilities::default()
        };
        let mut out = Vec::new();
        caps.encode(&mut out);
        let mut back = Capabilities::default();
        let text = out.clone();
        let mut rest = &text[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let line = &rest[..end + 2];
            rest = &rest[end + 2..];
            match parse(line) {
                ResponseLine::Data(items) => {
                    let s = |i: &Item<'_>| match i {
                        Item::String(s) => String::from_utf8(s.to_vec()).unwrap(),
                        Item::Atom(a) => (*a).to_owned(),
                    };
                    let name = s(&items[0]);
                    let value = items.get(1).map(s);
                    back.apply(&name, value.as_deref());
                }
                ResponseLine::Status(r) => assert_eq!(r, StatusResponse::ok()),
            }
        }
        assert_eq!(back, caps);
    }
}
