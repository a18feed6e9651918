//! IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) as a library that never touches a socket.
//!
//! `imap-proto` parses and serializes IMAP commands and responses in both directions and runs
//! server and client sessions as state machines: the caller feeds received bytes in, takes
//! bytes to send and events out, and answers the decisions (log in this user? accept this
//! APPEND of N bytes?) with values. The crate never opens a connection, reads a clock,
//! spawns a task or touches the file system; the optional `tokio` feature holds a thin
//! adapter that does, and nothing else.
//!
//! ```text
//!   bytes from peer ──▶ framer ──▶ parser ──▶ ┌───────────┐ ──▶ events / decisions
//!                     (lines,     (once per   │  session  │
//!                      literals)   message)   └───────────┘ ◀── host answers
//!   bytes to peer   ◀──────────── serializer ◀──────┘
//! ```
//!
//! # What is here today
//!
//! - [`types`]: every command, response, FETCH item, ENVELOPE/BODYSTRUCTURE, SEARCH key,
//!   sequence set and response code of RFC 3501 and RFC 9051 and of the extensions IDLE,
//!   NAMESPACE, UIDPLUS, MOVE, CONDSTORE, QRESYNC, ENABLE, SPECIAL-USE, CREATE-SPECIAL-USE,
//!   LIST-EXTENDED, LIST-STATUS, CHILDREN, ESEARCH, SEARCHRES, SORT, THREAD, QUOTA, METADATA, ID,
//!   APPENDLIMIT, MULTIAPPEND, BINARY, SASL-IR, UNSELECT, COMPRESS, STATUS=SIZE, OBJECTID,
//!   SAVEDATE, PREVIEW, NOTIFY, UNAUTHENTICATE, LITERAL+/LITERAL-. Validated newtypes; strings
//!   carry an atom/quoted/literal form hint so a parsed message re-serializes byte-identically
//!   and a built one always serializes validly.
//! - [`codec`]: the parser (hand-written, borrowing, one pass) and the serializer; one-shot
//!   codecs and streaming decoders. Strict by default; each leniency is a named option.
//! - [`fragment`]: the bounded, resumable framer: a partial read costs only its new bytes; a
//!   literal is a decision point (keep, stream, reject) before the server sends `+`.
//! - [`server`]: [`ServerSession`](server::ServerSession): states, pipelining ordered by RFC
//!   3501 §5.5, LOGINDISABLED before TLS, STARTTLS that drops pipelined plaintext, SASL
//!   (`smtp_proto::sasl`), IDLE, ENABLE, COMPRESS, APPEND streamed in chunks with the size
//!   decided before `+`, rev1/rev2 response differences, timeouts.
//! - [`client`]: [`ClientSession`](client::ClientSession), the mirror: tags, sync literals and
//!   LITERAL+, SASL, IDLE, STARTTLS, capability tracking, untagged data between commands.
//! - [`selected`]: [`SelectedMailbox`](selected::SelectedMailbox), the sequence number ↔ UID
//!   map with EXISTS/EXPUNGE/VANISHED/MODSEQ, for servers and clients.
//! - [`utf7`]: modified UTF-7 mailbox names (strict, canonical forms only).
//! - `tokio` (feature): `ServerConnection` and `Client` over TCP with rustls (STARTTLS and
//!   implicit TLS), cancel-safe `next_event` for IDLE wake-ups, COMPRESS=DEFLATE.
//! - `message` (feature `mail-parser`): ENVELOPE, BODYSTRUCTURE and `BODY[section]` from raw
//!   messages, following Dovecot.
//!
//! # A server, driven
//!
//! ```no_run
//! use std::time::Instant;
//! use imap_proto::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};
//! use imap_proto::types::StatusKind;
//! # fn read_from_client() -> Vec<u8> { Vec::new() }
//! # fn write_to_client(_: &[u8]) {}
//!
//! let mut s = ServerSession::new(ServerConfig::default(), Instant::now());
//! loop {
//!     while let Some(out) = s.poll_output() {
//!         match out {
//!             ServerOutput::Transmit(bytes) => write_to_client(&bytes),
//!             ServerOutput::Event(ServerEvent::Auth { id, .. }) => {
//!                 // Check the credentials (maybe asynchronously), then:
//!                 s.auth_answer(id, smtp_proto::sasl::Answer::Accept);
//!             }
//!             ServerOutput::Event(ServerEvent::Command { id, command }) => {
//!                 // Run `command` against the mail store; send data with `s.untagged(..)`.
//!                 s.complete(id, StatusKind::Ok, None, "done");
//!             }
//!             ServerOutput::Close => return,
//!             _ => {}
//!         }
//!     }
//!     if let Some(deadline) = s.poll_timeout() {
//!         // A real loop waits for input or the deadline, whichever comes first.
//!         s.handle_timeout(deadline.min(Instant::now()));
//!     }
//!     if s.handle_input(Instant::now(), &read_from_client()).is_err() {
//!         return;
//!     }
//! }
//! ```
//!
//! # Parsing alone
//!
//! ```
//! use imap_proto::codec::CommandCodec;
//! use imap_proto::types::CommandBody;
//!
//! let codec = CommandCodec::default();
//! let (rest, cmd) = codec.decode(b"a1 SELECT INBOX\r\n").unwrap();
//! assert!(rest.is_empty());
//! assert!(matches!(&cmd.body, CommandBody::Select { mailbox, .. } if mailbox.is_inbox()));
//! assert_eq!(codec.encode(&cmd).as_bytes(), b"a1 SELECT INBOX\r\n");
//!
//! use imap_proto::utf7;
//! assert_eq!(utf7::encode("Entwürfe"), "Entw&APw-rfe");
//! assert_eq!(utf7::decode("Entw&APw-rfe").unwrap(), "Entwürfe");
//! ```
//!
//! # What this crate never does
//!
//! No network or file I/O, no clock reads, no threads, no `unsafe`, and no panics on peer
//! input (the fuzz targets `imap_*` check it). Every buffer it grows has an explicit limit
//! with a safe default: command size (64 KiB), APPEND size (64 MiB, `APPENDLIMIT`), response
//! size on the client (256 MiB), nesting depth (32), pipelined commands (32), unread input
//! (1 MiB), SASL response length (16 KiB).
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tokio` | off | the thin tokio adapter (tokio, tokio-rustls, flate2); without it the crate depends on no async runtime |
//! | `mail-parser` | off | [`message`](crate#what-is-here-today): ENVELOPE/BODYSTRUCTURE/sections from raw messages |
//!
//! # Leniency policy
//!
//! Parsing is strict by default. Deviations real servers commit are accepted only when named
//! in [`codec::DecodeOptions`] (`quirk_*`, `crlf_relaxed`); two unambiguous ones are always
//! accepted because clients meet them on every server: a continuation request without the SP
//! after `+`, and a status response with no text.
#![forbid(unsafe_code)]

pub mod client;
pub mod codec;
pub mod error;
pub mod fragment;
#[cfg(feature = "mail-parser")]
pub mod message;
pub mod selected;
pub mod server;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod types;
pub mod utf7;
