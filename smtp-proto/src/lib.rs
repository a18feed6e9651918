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
//! - [`sasl`]: the SASL mechanisms shared by SMTP AUTH, IMAP AUTHENTICATE and ManageSieve
//!   AUTHENTICATE, server and client side, protocol-agnostic: PLAIN, LOGIN, CRAM-MD5, XOAUTH2,
//!   OAUTHBEARER, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (tls-exporter channel binding), with the
//!   user-database lookups as decisions the host answers. Usable with default features off.
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
//! assert_eq!(reply.lines(), ["mx.example.org", "SIZE 1000"]);
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
//! | `tokio` | off | the thin tokio adapter; without it the crate depends on no async runtime |
#![forbid(unsafe_code)]

pub mod command;
pub mod data;
pub mod reply;
pub mod sasl;
pub mod types;
