//! SMTP, ESMTP, submission and LMTP as a library that never touches a socket.
//!
//! `smtp-proto` implements the wire protocol of RFC 5321 and its extensions as pure
//! parsers, serializers and state machines: bytes go in, events and bytes come out, and time
//! is a value the caller passes in. The crate never opens a connection, never reads a clock,
//! never spawns a task and never blocks; a host program (a mail server, a submission client,
//! a test harness, a fuzzer) owns the I/O and drives the machine.
//!
//! ```text
//!   socket ──bytes──▶ handle_input(now, &[u8]) ──▶ ┌──────────────┐
//!                                                  │  session      │ ──▶ poll_output(): bytes to send,
//!   host decision ──▶ answer(verdict) ───────────▶ │  (no I/O)     │      events for the host, close
//!                                                  └──────────────┘
//! ```
//!
//! # What is here today
//!
//! - [`reply`]: SMTP replies (RFC 5321 §4.2): three-digit reply codes, enhanced status codes
//!   (RFC 3463, RFC 2034), single and multi-line replies, an incremental parser that reports
//!   [`reply::Parsed::Incomplete`] instead of failing on a partial read, and a serializer.
//! - [`types`]: envelope atoms as validated values: [`types::Domain`],
//!   [`types::AddressLiteral`], [`types::Mailbox`] (quoted local parts, IPv4/IPv6/general
//!   literals, RFC 6531 UTF-8), [`types::ReversePath`] (`<>`), [`types::ForwardPath`]
//!   (`<Postmaster>`), RFC 5321 §4.5.3.1 length limits, HELO argument classification.
//! - [`command`]: every SMTP/ESMTP/LMTP command of RFC 5321 and the IANA registry, parsed
//!   zero-copy from one line and written back, with all MAIL/RCPT parameters (SIZE, BODY,
//!   SMTPUTF8, RET, ENVID, NOTIFY, ORCPT, AUTH, REQUIRETLS, MT-PRIORITY, HOLDFOR/HOLDUNTIL,
//!   BY, RRVS, MTRK, SOLICIT); unknown parameters kept for a `555 5.5.4`; each error maps to
//!   its reply.
//! - [`data`]: the DATA body decoder (dot-unstuffing, end of data **only** at
//!   `<CR><LF>.<CR><LF>`, bare CR/LF policy [`data::BareLineEndings`]) and the client-side
//!   encoder (dot-stuffing that also normalizes bare CR/LF).
//! - [`server`]: the server session for SMTP, submission and LMTP: feed/poll, every verdict
//!   (connect, HELO, MAIL, RCPT, end of data, AUTH steps) a [`server::Decision`] the host
//!   answers when it likes, PIPELINING with batched replies, DATA and BDAT with SIZE enforced
//!   while streaming, STARTTLS that discards injected plaintext, implicit TLS, AUTH, LMTP
//!   per-recipient replies, pre-greeting/pipelining/bare-LF/HTTP events, explicit limits and
//!   timeouts.
//! - [`client`]: the client session for SMTP, submission and LMTP: feed/poll, greeting,
//!   EHLO with HELO fallback, STARTTLS and re-EHLO, AUTH with the strongest offered
//!   mechanism (never a plaintext secret without TLS), automatic PIPELINING, SIZE, 8BITMIME,
//!   SMTPUTF8, BDAT and DSN chosen from the server's EHLO, LIMITS RCPTMAX, dot-stuffing that
//!   normalizes bare CR/LF, partial-recipient success and LMTP per-recipient results.
//! - [`ehlo`]: EHLO/LHLO replies parsed into [`ehlo::Capabilities`] (tolerant: unknown and
//!   `X-` keywords kept, bare `SIZE`, `AUTH=`), LIMITS (RFC 9422).
//! - [`sasl`]: the SASL mechanisms shared by SMTP AUTH, IMAP AUTHENTICATE and ManageSieve
//!   AUTHENTICATE, server and client side, protocol-agnostic: PLAIN, LOGIN, CRAM-MD5, XOAUTH2,
//!   OAUTHBEARER, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (tls-exporter channel binding), with the
//!   user-database lookups as decisions the host answers. Usable with default features off.
//!
//! - [`proxy`]: the PROXY protocol header (HAProxy v1 and v2, with TLVs) parsed and
//!   written, and typed XCLIENT/XFORWARD attributes (the server answers bad ones with
//!   `501 5.5.4`).
//! - `tokio` (feature `tokio`): the thin adapter: [`tokio::serve`] / [`tokio::serve_connection`]
//!   run server sessions over TCP with STARTTLS or implicit TLS (tokio-rustls), an optional
//!   PROXY header, per-command timeouts and graceful shutdown, asking an async
//!   [`tokio::SmtpHost`] for every verdict; [`tokio::SmtpClient`] sends mail.
//!
//! # How a host drives the server session
//!
//! ```
//! use std::time::Instant;
//! use smtp_proto::server::{Decision, Output, ServerConfig, ServerSession, Verdict};
//!
//! let mut session = ServerSession::new(ServerConfig::new("mx.example.org"), Instant::now());
//! let mut wire = Vec::new();
//! let mut message = Vec::new();
//! let mut input: &[&[u8]] = &[b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n",
//!     b"RCPT TO:<b@example.org>\r\nDATA\r\n", b"Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n"];
//! loop {
//!     while let Some(out) = session.poll_output() {
//!         match out {
//!             Output::Send(bytes) => wire.extend_from_slice(&bytes),
//!             Output::MessageData(chunk) => message.extend_from_slice(&chunk),
//!             // Every decision may be answered later (after a lookup or an fsync).
//!             Output::Decision(_) => session.answer(Instant::now(), Verdict::Accept).unwrap(),
//!             Output::Close => break,
//!             _ => {}
//!         }
//!     }
//!     let Some((next, rest)) = input.split_first() else { break };
//!     session.handle_input(Instant::now(), next);
//!     input = rest;
//! }
//! assert_eq!(message, b"Subject: hi\r\n\r\nhello\r\n");
//! assert!(String::from_utf8(wire).unwrap().ends_with("221 2.0.0 Bye\r\n"));
//! ```
//!
//! # How a caller drives a parser
//!
//! Every parser takes the bytes received so far and answers with what it found and how many
//! bytes that took, or that it needs more:
//!
//! ```
//! use smtp_proto::reply::{Parsed, ReplyParser};
//!
//! let parser = ReplyParser::default();
//! let mut buf = b"250-mx.example.org\r\n250 SIZE".to_vec();
//! assert!(matches!(parser.parse(&buf), Ok(Parsed::Incomplete)));
//! buf.extend_from_slice(b" 1000\r\n");
//! let Parsed::Complete { reply, consumed } = parser.parse(&buf).unwrap() else { panic!() };
//! assert_eq!(consumed, buf.len());
//! assert_eq!(reply.code().get(), 250);
//! assert_eq!(reply.lines().collect::<Vec<_>>(), ["mx.example.org", "SIZE 1000"]);
//! ```
//!
//! # What this crate never does
//!
//! No network or file I/O, no clock reads, no threads, no `unsafe`, and no panics on peer
//! input: malformed input is an error value naming the problem, and every buffer the crate
//! grows has an explicit, documented limit with a safe default.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tokio` | off | the thin tokio adapter (`tokio`, `tokio-rustls`, `rustls`): server loop, accept loop with graceful shutdown, async client; without it the crate depends on no async runtime and no TLS library |
#![forbid(unsafe_code)]

pub mod client;
pub mod command;
pub mod data;
pub mod ehlo;
pub mod proxy;
pub mod reply;
pub mod sasl;
pub mod server;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod types;
