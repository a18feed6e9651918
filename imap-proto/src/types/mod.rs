//! The protocol's data model: every command, response and their parts as Rust values.
//!
//! Values borrow from the input where they can (`'a`); [`IntoStatic`] makes an owned copy.
//! Constructors validate, so a value that exists can be serialized.

pub(crate) mod macros;

pub mod body;
pub mod command;
pub mod core;
pub mod datetime;
pub mod fetch;
pub mod flag;
pub mod mailbox;
pub mod response;
pub mod search;
pub mod sequence;

pub use self::body::*;
pub use self::command::*;
pub use self::core::{
    Atom, Charset, IString, IntoStatic, LiteralMode, NString, Secret, StrForm, Tag, Text, Vec1,
};
pub use self::datetime::{Date, DateTime};
pub use self::fetch::*;
pub use self::flag::*;
pub use self::mailbox::{ListMailbox, Mailbox, list_matches};
pub use self::response::*;
pub use self::search::*;
pub use self::sequence::*;
