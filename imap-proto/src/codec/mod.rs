//! Parsing and serialization of whole messages.
//!
//! Two ways in:
//!
//! - The one-shot codecs ([`CommandCodec`], [`ResponseCodec`], [`GreetingCodec`], ...) take a
//!   buffer and return the first message and the rest, or [`DecodeError::Incomplete`] /
//!   [`DecodeError::LiteralFound`]. Calling them again on a longer buffer re-parses from the
//!   start, so they suit complete inputs.
//! - The streaming decoders ([`CommandDecoder`], [`ResponseDecoder`]) frame first: a partial
//!   read costs only its new bytes, and each message is parsed once, when complete. Sessions
//!   use these.
//!
//! ```
//! use imap_proto::codec::{ResponseDecoder, ResponseCodec};
//! use imap_proto::types::{Data, Response};
//!
//! let mut dec = ResponseDecoder::new(Default::default(), 1 << 20);
//! for b in b"* 3 EXISTS\r\n* 1 RECENT\r\n" {
//!     dec.push(std::slice::from_ref(b)); // byte by byte: linear
//!     while let Some(r) = dec.next_response() {
//!         assert!(matches!(r.unwrap(), Response::Data(Data::Exists(3) | Data::Recent(1))));
//!     }
//! }
//! let (rest, r) = ResponseCodec::default().decode(b"a1 OK done\r\nrest").unwrap();
//! assert_eq!(rest, b"rest");
//! assert_eq!(ResponseCodec::default().encode(&r).as_bytes(), b"a1 OK done\r\n");
//! ```

pub mod encode;
pub(crate) mod parse;

use crate::error::{DecodeError, ParseError};
use crate::fragment::{Direction, DiscardReason, Event, Framer};
use crate::types::command::{AuthenticateData, Command};
use crate::types::response::{Greeting, Response};

pub use self::encode::{EncodeOptions, Encoded};
use self::parse::{P, PErr};

/// Parser settings: a recursion budget, and each leniency named after the deviation it
/// tolerates. Everything is strict by default; [`DecodeOptions::lenient`] turns on the
/// deviations real servers are known to commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Maximum nesting of body structures, search keys, thread lists and extension values
    /// (default 32; every level costs stack).
    pub max_depth: u32,
    /// Accept a bare LF as a line end.
    pub crlf_relaxed: bool,
    /// Accept a space before `)` or the line end in lists, CAPABILITY and SEARCH.
    pub quirk_trailing_space: bool,
    /// Accept several spaces where the grammar has one.
    pub quirk_extra_spaces: bool,
    /// Accept spaces between the addresses of an envelope address list.
    pub quirk_spaces_between_addresses: bool,
    /// Accept `NIL` as a body encoding (read as `""`).
    pub quirk_body_fld_enc_nil: bool,
    /// Accept `NIL` as a body parameter value (read as `""`).
    pub quirk_body_fld_param_nil: bool,
    /// Accept `()` as an empty body parameter list (the grammar says `NIL`).
    pub quirk_empty_body_fld_param: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_depth: 32,
            crlf_relaxed: false,
            quirk_trailing_space: false,
            quirk_extra_spaces: false,
            quirk_spaces_between_addresses: false,
            quirk_body_fld_enc_nil: false,
            quirk_body_fld_param_nil: false,
            quirk_empty_body_fld_param: false,
        }
    }
}

impl DecodeOptions {
    /// Every named leniency on (CRLF stays strict).
    pub fn lenient() -> Self {
        Self {
            quirk_trailing_space: true,
            quirk_extra_spaces: true,
            quirk_spaces_between_addresses: true,
            quirk_body_fld_enc_nil: true,
            quirk_body_fld_param_nil: true,
            quirk_empty_body_fld_param: true,
            ..Self::default()
        }
    }
}

fn run<'a, T>(
    input: &'a [u8],
    opts: DecodeOptions,
    f: impl FnOnce(&mut P<'a>) -> parse::R<T>,
) -> Result<(&'a [u8], T), DecodeError<'a>> {
    let mut p = P::new(input, opts);
    match f(&mut p) {
        Ok(v) => Ok((&input[p.i..], v)),
        Err(PErr::Incomplete) => Err(DecodeError::Incomplete),
        Err(PErr::Literal { length, mode }) => {
            let mut tp = P::new(input, opts);
            let tag = match tp.tag() {
                Ok(t) if tp.peek_is(b' ').unwrap_or(false) => Some(t),
                _ => None,
            };
            Err(DecodeError::LiteralFound { tag, length, mode })
        }
        Err(e) => Err(DecodeError::Failed(e.into_parse_error())),
    }
}

/// Parses a complete message with `f`; anything left over or missing is a parse error.
pub(crate) fn parse_exact<'a, T>(
    input: &'a [u8],
    opts: DecodeOptions,
    f: impl FnOnce(&mut P<'a>) -> parse::R<T>,
) -> Result<T, ParseError> {
    let mut p = P::new(input, opts);
    match f(&mut p) {
        Ok(v) if p.at_end() => Ok(v),
        Ok(_) => Err(ParseError {
            offset: p.i,
            expected: "the end of the message",
        }),
        Err(PErr::Fail { offset, expected }) => Err(ParseError { offset, expected }),
        Err(_) => Err(ParseError {
            offset: input.len(),
            expected: "a complete message",
        }),
    }
}

macro_rules! codec {
    ($(#[$m:meta])* $name:ident, $t:ident, $parse:path, $enc:ident, $client:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            /// Parser settings.
            pub decode: DecodeOptions,
            /// Serializer settings.
            pub encode: EncodeOptions,
        }

        impl $name {
            /// Parses the first message in `input`, returning the rest.
            pub fn decode<'a>(
                &self,
                input: &'a [u8],
            ) -> Result<(&'a [u8], $t<'a>), DecodeError<'a>> {
                run(input, self.decode, $parse)
            }

            /// Serializes a message.
            pub fn encode(&self, msg: &$t<'_>) -> Encoded {
                let mut e = encode::Enc::new(self.encode, $client);
                e.$enc(msg);
                e.finish()
            }
        }
    };
}

codec!(
    /// Commands (client to server).
    CommandCodec,
    Command,
    parse::command::command,
    command,
    true
);
codec!(
    /// Responses after the greeting (server to client).
    ResponseCodec,
    Response,
    parse::response::response,
    response,
    false
);
codec!(
    /// The greeting (the server's first message).
    GreetingCodec,
    Greeting,
    parse::response::greeting,
    greeting,
    false
);
codec!(
    /// The lines a client sends during AUTHENTICATE.
    AuthenticateDataCodec,
    AuthenticateData,
    parse::command::authenticate_data,
    authenticate_data,
    true
);

/// `DONE`, which ends IDLE (RFC 2177).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleDoneCodec {
    /// Parser settings.
    pub decode: DecodeOptions,
}

impl IdleDoneCodec {
    /// Parses `DONE\r\n`.
    pub fn decode<'a>(&self, input: &'a [u8]) -> Result<(&'a [u8], ()), DecodeError<'a>> {
        run(input, self.decode, parse::command::idle_done)
    }

    /// `DONE\r\n`.
    pub fn encode(&self) -> Encoded {
        let mut e = encode::Enc::new(EncodeOptions::default(), true);
        e.raw(b"DONE\r\n");
        e.finish()
    }
}

/// A message the streaming decoder could not deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// The message broke the grammar; `head` holds up to its first 128 bytes.
    Malformed {
        /// Where and why.
        error: ParseError,
        /// The start of the message (for the tag, and for logs).
        head: Vec<u8>,
    },
    /// The message was larger than the limit and was skipped.
    TooLong {
        /// The start of the message.
        head: Vec<u8>,
        /// How many bytes were dropped.
        dropped: u64,
    },
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed { error, .. } => write!(f, "malformed message: {error}"),
            Self::TooLong { dropped, .. } => {
                write!(f, "message too long ({dropped} bytes dropped)")
            }
        }
    }
}

impl std::error::Error for StreamError {}

fn head(b: &[u8]) -> Vec<u8> {
    b[..b.len().min(128)].to_vec()
}

/// Streaming response decoder for clients: frame first, parse each message once.
#[derive(Clone, Debug)]
pub struct ResponseDecoder {
    framer: Framer,
    opts: DecodeOptions,
    consume: bool,
}

impl ResponseDecoder {
    /// A decoder that keeps at most `max_message_size` bytes of any response.
    pub fn new(opts: DecodeOptions, max_message_size: usize) -> Self {
        Self {
            framer: Framer::new(Direction::Response, max_message_size),
            opts,
            consume: false,
        }
    }

    /// Appends received bytes.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// Bytes received and not yet delivered.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    #[inline]
    fn next_raw(&mut self) -> Option<Result<&[u8], StreamError>> {
        if self.consume {
            self.framer.consume();
            self.consume = false;
        }
        loop {
            match self.framer.advance()? {
                Event::Message => {
                    self.consume = true;
                    return Some(Ok(self.framer.message()));
                }
                Event::Discarded { dropped, .. } => {
                    self.consume = true;
                    return Some(Err(StreamError::TooLong {
                        head: head(self.framer.message()),
                        dropped,
                    }));
                }
                // The response direction keeps literals by itself.
                _ => {}
            }
        }
    }

    /// The next complete response, if one has arrived.
    #[inline]
    pub fn next_response(&mut self) -> Option<Result<Response<'_>, StreamError>> {
        if !self.consume && (self.framer.is_idle() || self.framer.absorb()) {
            return None;
        }
        self.next_response_slow()
    }

    fn next_response_slow(&mut self) -> Option<Result<Response<'_>, StreamError>> {
        let opts = self.opts;
        Some(self.next_raw()?.and_then(|m| {
            parse_exact(m, opts, parse::response::response).map_err(|error| {
                StreamError::Malformed {
                    error,
                    head: head(m),
                }
            })
        }))
    }

    /// The next complete message parsed as a greeting.
    pub fn next_greeting(&mut self) -> Option<Result<Greeting<'_>, StreamError>> {
        let opts = self.opts;
        Some(self.next_raw()?.and_then(|m| {
            parse_exact(m, opts, parse::response::greeting).map_err(|error| {
                StreamError::Malformed {
                    error,
                    head: head(m),
                }
            })
        }))
    }
}

/// Streaming command decoder: frame first, parse each command once. Literals are kept as they
/// are announced (like a server that always sends `+`); sessions that need to decide per literal
/// use the [`Framer`] directly.
#[derive(Clone, Debug)]
pub struct CommandDecoder {
    framer: Framer,
    opts: DecodeOptions,
    consume: bool,
}

impl CommandDecoder {
    /// A decoder that keeps at most `max_message_size` bytes of any command.
    pub fn new(opts: DecodeOptions, max_message_size: usize) -> Self {
        Self {
            framer: Framer::new(Direction::Command, max_message_size),
            opts,
            consume: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// The next complete command, if one has arrived.
    #[inline]
    pub fn next_command(&mut self) -> Option<Result<Command<'_>, StreamError>> {
        if !self.consume && (self.framer.is_idle() || self.framer.absorb()) {
            return None;
        }
        self.next_command_slow()
    }

    fn next_command_slow(&mut self) -> Option<Result<Command<'_>, StreamError>> {
        if self.consume {
            self.framer.consume();
            self.consume = false;
        }
        loop {
            match self.framer.advance()? {
                Event::Message => {
                    self.consume = true;
                    let opts = self.opts;
                    let m = self.framer.message();
                    return Some(
                        parse_exact(m, opts, parse::command::command).map_err(|error| {
                            StreamError::Malformed {
                                error,
                                head: head(m),
                            }
                        }),
                    );
                }
                Event::Literal { .. } => self.framer.keep_literal(),
                Event::Discarded { dropped, reason } => {
                    self.consume = true;
                    let h = head(self.framer.message());
                    return Some(Err(match reason {
                        DiscardReason::TooLong | DiscardReason::LiteralRejected => {
                            StreamError::TooLong { head: h, dropped }
                        }
                    }));
                }
                Event::Chunk | Event::LiteralEnd => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::IntoStatic;

    /// A skipped message's kept head (and so the dropped count) depends on how much of it had
    /// arrived when the limit was crossed; the rest of the result must not.
    fn show<T: std::fmt::Debug>(r: Result<T, StreamError>) -> String {
        match r {
            Err(StreamError::TooLong { head, .. }) => {
                format!(
                    "TooLong {:?}",
                    String::from_utf8_lossy(&head[..head.len().min(20)])
                )
            }
            other => format!("{other:?}"),
        }
    }

    fn responses(input: &[u8], chunk: usize, max: usize) -> Vec<String> {
        let mut d = ResponseDecoder::new(DecodeOptions::default(), max);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            d.push(c);
            while let Some(r) = d.next_response() {
                out.push(show(r.map(IntoStatic::into_static)));
            }
        }
        out
    }

    fn commands(input: &[u8], chunk: usize, max: usize) -> Vec<String> {
        let mut d = CommandDecoder::new(DecodeOptions::default(), max);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            d.push(c);
            while let Some(r) = d.next_command() {
                out.push(show(r.map(IntoStatic::into_static)));
            }
        }
        out
    }

    /// The decoders' inline fast path (literal data and line bytes taken in without a call
    /// into the framer) gives the same messages, errors and skips at every read size.
    #[test]
    fn every_read_size_gives_the_same_messages() {
        let mut resp =
            b"* 3 EXISTS\r\n* 1 FETCH (UID 7 BODY[] {12}\r\nhello\r\nworld)\r\n".to_vec();
        resp.extend_from_slice(b"* 2 FETCH (BODY[] {90}\r\n");
        resp.extend(std::iter::repeat_n(b'x', 90));
        resp.extend_from_slice(
            b")\r\n* OK [ALERT] a line that is longer than sixty-four bytes, to be skipped\r\n",
        );
        resp.extend_from_slice(b"* BAD\x01\r\na1 OK done\r\n");
        let mut cmd = b"a1 LOGIN {5}\r\nalice {3+}\r\npw!\r\na2 NOOP\r\n".to_vec();
        cmd.extend_from_slice(b"a3 APPEND INBOX {80+}\r\n");
        cmd.extend(std::iter::repeat_n(b'y', 80));
        cmd.extend_from_slice(b"\r\na4 SELECT INBOX\r\n");
        for max in [64, 1 << 20] {
            let r = responses(&resp, resp.len(), max);
            let c = commands(&cmd, cmd.len(), max);
            assert_eq!(r.len(), 6, "{r:?}");
            assert_eq!(c.len(), 4, "{c:?}");
            for chunk in 1..=13 {
                assert_eq!(responses(&resp, chunk, max), r, "max {max} chunk {chunk}");
                assert_eq!(commands(&cmd, chunk, max), c, "max {max} chunk {chunk}");
            }
        }
        // The limit is felt: the long lines and literals are skipped at 64, kept at 1 MiB.
        assert_eq!(
            responses(&resp, 1, 64)
                .iter()
                .filter(|m| m.contains("TooLong"))
                .count(),
            2
        );
        assert!(
            !responses(&resp, 1, 1 << 20)
                .iter()
                .any(|m| m.contains("TooLong"))
        );
    }
}
