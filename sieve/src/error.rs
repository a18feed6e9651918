//! Compile errors: where, and what is wrong, in words a script author understands.

use std::fmt;

use crate::lexer::Position;

/// One problem found in a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub pos: Position,
    /// What is wrong, in plain English (no position prefix).
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

/// Why a script did not compile: the first problem, and every problem found.
///
/// The parser recovers after a syntax error and reports the next ones too; a script with
/// syntax errors is not validated further. Errors found while validating commands
/// (unknown commands, missing `require`, bad arguments) are collected so an author sees
/// them all. At most [`crate::CompileLimits::max_errors`] are kept.
/// [`CompileError::position`] and [`CompileError::message`] are the first one; this is what
/// ManageSieve sends to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    errors: Vec<Diagnostic>,
}

impl CompileError {
    pub(crate) fn new(pos: Position, message: impl Into<String>) -> Self {
        Self {
            errors: vec![Diagnostic {
                pos,
                message: message.into(),
            }],
        }
    }

    pub(crate) fn from_list(errors: Vec<Diagnostic>) -> Self {
        debug_assert!(!errors.is_empty());
        Self { errors }
    }

    /// Where the first problem is.
    pub fn position(&self) -> Position {
        self.errors[0].pos
    }

    /// The first problem, in plain English, without the position.
    pub fn message(&self) -> &str {
        &self.errors[0].message
    }

    /// Every problem found, in script order (at least one).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.errors
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.errors[0])?;
        if self.errors.len() > 1 {
            write!(f, " (and {} more errors)", self.errors.len() - 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}
