//! The thin tokio adapter (feature `tokio`): a server connection and a client over any
//! `AsyncRead + AsyncWrite` stream (TCP in practice), with TLS by rustls (tokio-rustls): STARTTLS
//! and implicit TLS (port 993), and COMPRESS=DEFLATE (flate2, raw DEFLATE with a sync flush per
//! write, RFC 4978).
//!
//! The adapter only moves bytes, reads the clock and runs the TLS handshake; the protocol is
//! in [`ServerSession`](crate::server::ServerSession) and
//! [`ClientSession`](crate::client::ClientSession). It reads and writes at the same time, so
//! neither side can deadlock the other, and bounds what it reads by the session's
//! [`wants_input`](crate::server::ServerSession::wants_input).
//!
//! [`ServerConnection::next_event`] and [`Client::next_event`] are **cancel-safe**: use them in
//! `tokio::select!` beside the host's own wake-ups (new mail for IDLE, shutdown):
//!
//! ```no_run
//! # async fn f(
//! #     tcp: tokio::net::TcpStream,
//! #     session: imap_proto::server::ServerSession,
//! #     tls: tokio_rustls::TlsAcceptor,
//! #     mut new_mail: tokio::sync::mpsc::Receiver<u32>,
//! # ) -> std::io::Result<()> {
//! use imap_proto::server::ServerEvent;
//! use imap_proto::tokio::ServerConnection;
//!
//! let mut conn = ServerConnection::new(tcp, session, Some(tls));
//! loop {
//!     tokio::select! {
//!         ev = conn.next_event() => match ev? {
//!             Some(ServerEvent::Idle { id }) => conn.session().idle_accept(id),
//!             Some(_other) => { /* answer through conn.session() */ }
//!             None => break,
//!         },
//!         Some(uid) = new_mail.recv() => {
//!             // IDLE wake-up: the session sends "* n EXISTS" on the next step.
//!             let _ = conn.session().new_message(uid, 0);
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

mod client;
mod pipe;
mod server;

pub use self::client::{Client, Completion};
pub use self::server::ServerConnection;
