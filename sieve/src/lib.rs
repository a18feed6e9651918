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
//! - [`compile`] (stable entry point, also used by ManageSieve's PUTSCRIPT/CHECKSCRIPT):
//!   script bytes and [`CompileOptions`] in, a [`Program`] or a [`CompileError`] with the
//!   line, column and plain-English message of every problem out. `require` is enforced,
//!   every command and test is checked against its signature, and constants (comparators,
//!   match types, date parts, addresses, regexes, notify methods) are resolved at compile
//!   time. After a syntax error the parser recovers (as Pigeonhole's) and reports the
//!   next ones too. Limits: script size, nesting, variables, string length, regex size,
//!   errors reported. Site policy in [`CompileOptions`]: largest added header, whether
//!   `notify` is allowed.
//! - [`compile_with_includes`]: the same, with the scripts that `include` names resolved
//!   at compile time through an [`IncludeResolver`] the host supplies (still no I/O here):
//!   missing scripts, circular includes and the include limits are compile errors.
//! - [`runtime`]: [`Runtime`] runs a program over one message and envelope, asks the host
//!   [`Question`]s it cannot answer itself and returns an [`Outcome`]: the [`Action`]s,
//!   tracking ids to record, and any error (the message is then kept, RFC 5228 §2.10.6).
//!   Limits: CPU steps, actions, redirects, notifications, includes, variable size, header
//!   edits, external program runs and the program output kept.
//! - [`ScriptSequence`]: several scripts over one message (an administrator's before and
//!   after the user's) merged as one result, as Pigeonhole merges them.
//! - Extensions ([`Capability`]): fileinto, reject, ereject, envelope, encoded-character,
//!   comparator-i;ascii-numeric, comparator-i;unicode-casemap, relational, subaddress, copy,
//!   body, vacation (with RFC 3834's rules), vacation-seconds, variables, imap4flags,
//!   include, date, index, editheader, mailbox, mboxmetadata, servermetadata, foreverypart,
//!   mime, extracttext, replace, enclose, spamtest, spamtestplus, virustest, duplicate,
//!   environment, regex (linear time), enotify with mailto, ihave, imapsieve, special-use,
//!   fcc, extlists (list membership is a [`Question`] to the host; `redirect :list` is
//!   refused, as in Pigeonhole). Off unless the host enables them
//!   ([`Capabilities::vendor`]): Dovecot's vnd.dovecot.debug (`debug_log` into
//!   [`Outcome::log`]), vnd.dovecot.environment (extra items, `${env.*}`) and
//!   vnd.dovecot.report (an RFC 5965 feedback report as [`Action::Report`]). Also off by
//!   default, Pigeonhole's external programs (see [`runtime::ProgramRequest`]):
//!   vnd.dovecot.pipe (`pipe` returns [`Action::Pipe`] for the host to carry out, like
//!   redirect), vnd.dovecot.filter and vnd.dovecot.execute (the runtime asks
//!   [`Question::Program`] and resumes with the program's output: a new message, or a
//!   variable's value); the crate never runs a program. MIME parsing and RFC 2047/2231
//!   decoding come from `mail-parser`.
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
//! # The drive loop
//!
//! ```
//! use std::sync::Arc;
//! use sieve::{compile, Action, Answer, CompileOptions, Context, Envelope, Question, Runtime, Step};
//!
//! let script = br#"require ["fileinto", "mailbox", "vacation"];
//!     if header :contains "subject" "invoice" { fileinto :create "Invoices"; }
//!     vacation :days 7 "I am away until Monday.";"#;
//! let program = compile(script, &CompileOptions::default()).expect("valid script");
//!
//! let message = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: Invoice 42\r\n\r\nHi\r\n";
//! let envelope = Envelope::new("alice@example.com", "bob@example.org");
//! let mut context = Context::default();
//! context.user_addresses = vec!["bob@example.org".into()];
//! context.now = 1_700_000_000; // the host passes the time in
//!
//! let mut run = Runtime::new(&program, message, envelope, context);
//! let outcome = loop {
//!     match run.run() {
//!         Step::Question(Question::MailboxExists(_)) => run.answer(Answer::Bool(true)),
//!         // Vacation asks whether it already answered this sender within the period:
//!         Step::Question(Question::Duplicate { .. }) => run.answer(Answer::Bool(false)),
//!         Step::Question(Question::Include { .. }) => run.answer(Answer::NotFound),
//!         Step::Question(_) => run.answer(Answer::Value(None)),
//!         Step::Done(outcome) => break outcome,
//!         _ => unreachable!(),
//!     }
//! };
//! assert!(outcome.error.is_none());
//! for action in &outcome.actions {
//!     match action {
//!         Action::FileInto { mailbox, create, .. } => assert_eq!((mailbox.as_str(), *create), ("Invoices", true)),
//!         Action::Vacation { message, .. } => assert_eq!(message.envelope_to, ["alice@example.com"]),
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! // After carrying the actions out, the host records `outcome.duplicates` (the vacation
//! // response's tracking id and period) so the next message from Alice gets no answer.
//! assert_eq!(outcome.duplicates.len(), 1);
//! ```
//!
//! The lexer alone:
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
//! No file, network or clock access in the language (the time, the user's addresses and
//! every answer come from the host), no `unsafe`, no panics on any script or message
//! (fuzzed), and no unbounded work: script size, nesting, include depth, actions, regex size
//! and CPU steps all have explicit limits with safe defaults.
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
pub use compile::{
    CompileLimits, CompileOptions, IncludeResolver, IncludedScript, compile, compile_with_includes,
};
pub use error::{CompileError, Diagnostic};
pub use program::Program;
pub use runtime::{
    Action, Answer, Context, Envelope, Outcome, OutgoingMessage, Question, RunLimits, Runtime,
    RuntimeError, ScriptSequence, Step,
};
#[doc(hidden)]
pub use testsuite::TestsuiteRequest;
pub mod managesieve;
