//! Errors, by whose fault they are.
//!
//! - [`ValidationError`]: the caller tried to build a value the protocol cannot carry.
//! - [`DecodeError`]: the peer sent bytes that are incomplete, announce a literal, or do not
//!   follow the grammar.

use std::fmt;

use crate::types::core::{LiteralMode, Tag};

/// A value does not satisfy its protocol rule (caller's fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidationError {
    what: &'static str,
    rule: &'static str,
}

impl ValidationError {
    pub(crate) const fn new(what: &'static str, rule: &'static str) -> Self {
        Self { what, rule }
    }

    /// What was being built (`"atom"`, `"tag"`, ...).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The rule it breaks.
    pub fn rule(&self) -> &'static str {
        self.rule
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: must be {}", self.what, self.rule)
    }
}

impl std::error::Error for ValidationError {}

/// Where and why parsing failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the message where the grammar was broken.
    pub offset: usize,
    /// What the parser expected there.
    pub expected: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Why a message could not be decoded from the bytes given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError<'a> {
    /// More bytes are needed; call again with more.
    Incomplete,
    /// The message announces a literal whose data has not arrived. A server must answer with a
    /// continuation request (`+`) for a synchronizing literal before the client sends it, or
    /// refuse it by tag; this is that decision point.
    LiteralFound {
        /// The command's tag, if it was parsed.
        tag: Option<Tag<'a>>,
        /// Announced length.
        length: u32,
        /// `{n}` or `{n+}`.
        mode: LiteralMode,
    },
    /// The bytes break the grammar.
    Failed(ParseError),
}

impl fmt::Display for DecodeError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete => f.write_str("incomplete message"),
            Self::LiteralFound { length, .. } => write!(f, "literal of {length} bytes announced"),
            Self::Failed(e) => write!(f, "malformed message: {e}"),
        }
    }
}

impl std::error::Error for DecodeError<'_> {}
