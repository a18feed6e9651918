//! ManageSieve (RFC 5804): the protocol that lets a mail client upload, list, activate and
//! delete a user's Sieve scripts.

pub mod client;
pub mod command;
mod error;
pub(crate) mod framer;
pub mod response;
pub mod server;
#[cfg(unix)]
pub mod store;
mod types;
pub mod wire;

pub use command::{Command, CommandError};
pub use error::Error;
pub use framer::OversizeKind;
pub use response::{Capabilities, ResponseLine};
pub use types::{QuotaKind, ResponseCode, ScriptName, ScriptNameError, Status, StatusResponse};
