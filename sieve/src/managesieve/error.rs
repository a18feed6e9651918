//! Errors of the ManageSieve sessions, by whose fault they are.

/// An error from a session method.
///
/// Peer mistakes on the wire are never errors of the *server* session: it answers them
/// with `NO` or `BYE` and carries on or closes. The *client* session reports a server that
/// breaks the protocol as [`Error::Protocol`], which is sticky.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Caller misuse: an answer or command the session is not waiting for.
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
    /// The session has ended (LOGOUT, BYE, a fatal error); it takes no more input.
    #[error("the session is closed")]
    Closed,
    /// The server broke the protocol (client session only); the session is closed.
    #[error("protocol error from the server: {0}")]
    Protocol(String),
}
