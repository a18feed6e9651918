//! IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) as a library that never touches a socket.
//!
//! `imap-proto` parses and serializes IMAP commands and responses in both directions and runs
//! server and client sessions as state machines: the caller feeds received bytes in, takes
//! bytes to send and events out, and answers the decisions (log in this user? accept this
//! literal of N bytes?) with values. The crate never opens a connection, reads a clock,
//! spawns a task or touches the file system; the optional `tokio` feature holds a thin
//! adapter that does, and nothing else.
//!
//! ```text
//!   bytes from peer ──▶ ┌───────────┐ ──▶ commands / responses (events)
//!                       │  session  │
//!   host answers    ──▶ └───────────┘ ──▶ bytes to send
//! ```
//!
//! # What is here today
//!
//! - [`utf7`]: mailbox names in modified UTF-7 (RFC 3501 §5.1.3), the encoding every IMAP4rev1
//!   peer uses for non-ASCII mailbox names; strict decoding that refuses every non-canonical
//!   form, so a name has exactly one wire spelling.
//!
//! ```
//! use imap_proto::utf7;
//!
//! assert_eq!(utf7::encode("Entwürfe"), "Entw&APw-rfe");
//! assert_eq!(utf7::decode("Entw&APw-rfe").unwrap(), "Entwürfe");
//! assert!(utf7::decode("&Jjo!").is_err()); // unterminated shift sequence
//! ```
//!
//! # What this crate never does
//!
//! No network or file I/O, no clock reads, no threads, no `unsafe`, and no panics on peer
//! input. Every buffer it grows (lines, literals, nesting) has an explicit limit with a safe
//! default.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tokio` | off | the thin tokio adapter; without it the crate depends on no async runtime |
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
