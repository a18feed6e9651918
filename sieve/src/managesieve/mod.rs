//! ManageSieve (RFC 5804): the protocol a mail client uses to upload, list, activate and
//! delete a user's Sieve scripts — its grammar, a server session, a client session, a
//! crash-safe script store, and (feature `tokio`) a thin async adapter.
//!
//! ```text
//!  client bytes ─▶ ServerSession::handle_input ─▶ poll_output(): Transmit / Event / StartTls / Close
//!                       ▲                                         │
//!                       └──── answer_*(value) ◀── host ◀──────────┘
//!                             SASL decisions (smtp_proto::sasl), script storage
//!                             (FsScriptStore), validation (sieve::compile, in-session)
//! ```
//!
//! | module | what |
//! | --- | --- |
//! | [`wire`] | atoms, numbers, quoted strings, `{n}`/`{n+}` literals |
//! | [`command`] | commands: parse (server side) and encode (client side); SASL response lines |
//! | [`response`] | responses: `OK`/`NO`/`BYE` with response codes, data lines, capabilities |
//! | [`server`] | [`ServerSession`](server::ServerSession): states, limits, STARTTLS, SASL, quotas, decisions as values |
//! | [`client`] | [`ClientSession`](client::ClientSession): typed commands, pipelining, SASL, STARTTLS |
//! | [`store`] | [`FsScriptStore`](store::FsScriptStore): one user's scripts in a directory, atomic and durable (Unix) |
//! | `tokio` | feature `tokio`: `serve_connection` and an async `Client` over TCP + rustls |
//!
//! Requirements covered: MSIEVE-001 (STARTTLS before AUTHENTICATE by default:
//! `ENCRYPT-NEEDED` and an empty `SASL` capability until TLS), MSIEVE-002 (every command,
//! PUTSCRIPT validated by the compiler, one active script, `""` deactivates, the active
//! script cannot be deleted), MSIEVE-003 (capabilities, `IMPLEMENTATION` configurable),
//! MSIEVE-004 (line limit 65536, script size and quotas via HAVESPACE), MSIEVE-006.
//!
//! # A complete server drive loop
//!
//! ```no_run
//! use std::time::Instant;
//! use sieve::managesieve::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};
//! use sieve::managesieve::store::FsScriptStore;
//! use smtp_proto::sasl::{Answer, Decision};
//!
//! # fn read_socket() -> Vec<u8> { Vec::new() }
//! # fn write_socket(_: &[u8]) {}
//! let mut config = ServerConfig::default(); // compiler validation, PLAIN + LOGIN, TLS required
//! config.starttls = true;
//! let mut session = ServerSession::new(config, Instant::now());
//! let mut store: Option<FsScriptStore> = None;
//! loop {
//!     while let Some(out) = session.poll_output() {
//!         match out {
//!             ServerOutput::Transmit(bytes) => write_socket(&bytes),
//!             ServerOutput::Event(ServerEvent::AuthDecision(Decision::VerifyPassword {
//!                 authcid, password, ..
//!             })) => {
//!                 let ok = authcid == "alice" && password.expose() == "secret";
//!                 if ok {
//!                     store = Some(FsScriptStore::open(format!("/var/sieve/{authcid}")).unwrap());
//!                 }
//!                 let answer = if ok { Answer::Accept } else { Answer::Reject };
//!                 session.answer_auth_decision(answer).unwrap();
//!             }
//!             ServerOutput::Event(ServerEvent::AuthDecision(_)) => {
//!                 session.answer_auth_decision(Answer::Reject).unwrap();
//!             }
//!             ServerOutput::Event(ServerEvent::Script(request)) => {
//!                 let answer = store.as_ref().expect("authenticated").execute(&request);
//!                 session.answer_script(answer).unwrap();
//!             }
//!             ServerOutput::Event(_) => {} // informational (AuthCancelled, Unauthenticated)
//!             ServerOutput::StartTls => {
//!                 // run the TLS handshake on the socket, then:
//!                 session.handle_tls_established().unwrap();
//!             }
//!             ServerOutput::Close => return,
//!             _ => {}
//!         }
//!     }
//!     let bytes = read_socket(); // with a timeout at session.poll_timeout()
//!     session.handle_input(Instant::now(), &bytes).unwrap();
//! }
//! ```
//!
//! # Strictness and leniency
//!
//! Strict by default: clients must send literals as `{n+}` (a deviation is accepted only
//! with [`ParseOptions::quirk_sync_literals`](command::ParseOptions)), quoted strings are at
//! most 1024 octets and UTF-8, numbers have no leading zeros and fit 32 bits, script names
//! follow RFC 5804 §1.6 (NFC normalization is not checked), lines end in CRLF. Every limit
//! is in [`ServerLimits`](server::ServerLimits) / [`ClientLimits`](client::ClientLimits) with
//! a safe default; oversize input is dropped as it streams in and answered `NO`.
//!
//! Not supported: SASL security layers (no mechanism here negotiates one), implicit-TLS
//! port conventions beyond [`ServerSession::new_tls`](server::ServerSession::new_tls),
//! REFERRAL issuing (the code parses and prints), the RFC 5804 §3 `sieve:` URL.

pub mod client;
pub mod command;
mod error;
pub(crate) mod framer;
pub mod response;
pub mod server;
#[cfg(unix)]
pub mod store;
#[cfg(feature = "tokio")]
pub mod tokio;
mod types;
pub mod wire;

pub use command::{Command, CommandError};
pub use error::Error;
pub use response::{Capabilities, ResponseLine};
pub use types::{QuotaKind, ResponseCode, ScriptName, ScriptNameError, Status, StatusResponse};
