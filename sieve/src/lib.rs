//! The Sieve mail filtering language (RFC 5228 and its extensions) and ManageSieve
//! (RFC 5804), with no I/O.
//!
//! A Sieve script is lexed, parsed, validated and compiled once; the compiled program then
//! runs against each message. The runtime never touches a mailbox, the network or the clock:
//! whenever it needs to know something (does this mailbox exist? was this message seen
//! before? what is the current date?) it stops and asks the host, and when it is done it
//! returns the actions the script chose (keep, fileinto, redirect, reject, vacation, ...)
//! for the host to carry out.
//!
//! ```text
//!   script ──▶ lexer ──▶ parser ──▶ validator ──▶ compiled program
//!                                                       │
//!   message + envelope ──▶ runtime ◀── host answers ────┘
//!                            └──▶ questions, then the list of actions
//! ```
//!
//! # What is here today
//!
//! - [`lexer`]: the lexical grammar of RFC 5228 §8.1: identifiers, tags, numbers with
//!   `K`/`M`/`G` quantifiers (overflow is an error), quoted strings with their escape rules,
//!   `text:` multi-line strings with dot-unstuffing, both comment forms, and the line and
//!   column of every token for precise error messages.
//! - [`managesieve`]: ManageSieve (RFC 5804): the grammar (quoted strings, `{n}`/`{n+}`
//!   literals, response codes, capabilities) behind a bounded framer; a no-I/O server
//!   session (STARTTLS, SASL from `smtp_proto::sasl`, PUTSCRIPT/CHECKSCRIPT validated by
//!   [`compile`], quotas, script storage and SASL decisions as values) and client session;
//!   a crash-safe filesystem script store (`managesieve::store`, the one type here that
//!   touches files, and only when a host calls it); a tokio adapter (feature `tokio`, the
//!   only network code). Tested on the RFC 5804 exchanges and against sieve-connect,
//!   sievelib and Dovecot.
//!
//! ```
//! use sieve::lexer::{Lexer, Token};
//!
//! let tokens: Vec<Token<'_>> = Lexer::new(r#"if size :over 100K { discard; }"#)
//!     .map(|t| t.map(|t| t.token))
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(tokens[2], Token::Tag("over"));
//! assert_eq!(tokens[3], Token::Number(100 * 1024));
//! ```
//!
//! # What this crate never does
//!
//! No file, network or clock access, no `unsafe`, no panics on any script or message, and
//! no unbounded work: script size, nesting, include depth, actions and CPU steps all have
//! explicit limits with safe defaults.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tokio` | off | the thin tokio adapter for ManageSieve; without it no async runtime |
#![forbid(unsafe_code)]

mod address;
pub mod capability;
mod compile;
mod error;
pub mod lexer;
mod notify;
mod parser;
mod program;
pub mod runtime;
mod testsuite;

pub use capability::{Capabilities, Capability};
pub use compile::{CompileLimits, CompileOptions, compile};
pub use error::{CompileError, Diagnostic};
pub use program::Program;
pub use runtime::{
    Action, Answer, Context, Envelope, Outcome, OutgoingMessage, Question, RunLimits, Runtime,
    RuntimeError, Step,
};
#[doc(hidden)]
pub use testsuite::TestsuiteRequest;
pub mod managesieve;
