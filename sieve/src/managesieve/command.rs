//! ManageSieve commands (RFC 5804 §2, grammar in §4): parsing one framed command and
//! writing one.
//!
//! ```text
//! command              = (command-any / command-auth / command-nonauth) CRLF
//! command-authenticate = "AUTHENTICATE" SP auth-type [SP string] *(CRLF string)
//! command-capability   = "CAPABILITY"
//! command-checkscript  = "CHECKSCRIPT" SP sieve-script
//! command-deletescript = "DELETESCRIPT" SP sieve-name
//! command-getscript    = "GETSCRIPT" SP sieve-name
//! command-havespace    = "HAVESPACE" SP sieve-name SP number
//! command-listscripts  = "LISTSCRIPTS"
//! command-logout       = "LOGOUT"
//! command-noop         = "NOOP" [SP string]
//! command-putscript    = "PUTSCRIPT" SP sieve-name SP sieve-script
//! command-renamescript = "RENAMESCRIPT" SP old-sieve-name SP new-sieve-name
//! command-setactive    = "SETACTIVE" SP active-sieve-name
//! command-starttls     = "STARTTLS"
//! command-unauthenticate = "UNAUTHENTICATE"
//! ```
//!
//! Command names are case-insensitive. A SASL continuation (`*(CRLF string)`) is not a
//! command on its own line; it is parsed with [`parse_auth_response`].

use std::borrow::Cow;

use super::types::ScriptName;
use super::wire::{self, Cursor, Direction, SyntaxError};

/// A ManageSieve command.
///
/// Strings borrow from the input where they can; [`Command::into_owned`] detaches them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `AUTHENTICATE "mechanism" ["initial response"]`; the initial response is still
    /// base64, as sent.
    Authenticate {
        /// The SASL mechanism name.
        mechanism: Cow<'a, str>,
        /// The initial response (base64 text), if sent.
        initial_response: Option<Cow<'a, [u8]>>,
    },
    /// `STARTTLS`
    StartTls,
    /// `LOGOUT`
    Logout,
    /// `CAPABILITY`
    Capability,
    /// `HAVESPACE name size`
    HaveSpace {
        /// The script name.
        name: ScriptName,
        /// The script size in octets.
        size: u32,
    },
    /// `PUTSCRIPT name script`
    PutScript {
        /// The script name.
        name: ScriptName,
        /// The script text.
        script: Cow<'a, [u8]>,
    },
    /// `LISTSCRIPTS`
    ListScripts,
    /// `SETACTIVE name`; `None` for `""`, which deactivates.
    SetActive {
        /// The script to activate, or `None` to deactivate.
        name: Option<ScriptName>,
    },
    /// `GETSCRIPT name`
    GetScript {
        /// The script name.
        name: ScriptName,
    },
    /// `DELETESCRIPT name`
    DeleteScript {
        /// The script name.
        name: ScriptName,
    },
    /// `RENAMESCRIPT old new`
    RenameScript {
        /// The current name.
        old: ScriptName,
        /// The new name.
        new: ScriptName,
    },
    /// `CHECKSCRIPT script`
    CheckScript {
        /// The script text.
        script: Cow<'a, [u8]>,
    },
    /// `NOOP [tag]`
    Noop {
        /// The tag to echo in the `TAG` response code.
        tag: Option<Cow<'a, [u8]>>,
    },
    /// `UNAUTHENTICATE` (RFC 5804 §2.14.1)
    Unauthenticate,
}

/// Why a command could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The line is not a known command.
    #[error("unknown command {0:?}")]
    Unknown(String),
    /// A known command with bad arguments.
    #[error("{command}: {error}")]
    Syntax {
        /// The command name, upper case.
        command: &'static str,
        /// What is wrong.
        error: SyntaxError,
    },
    /// A script name argument that RFC 5804 §1.6 forbids.
    #[error("{command}: invalid script name: {error}")]
    BadName {
        /// The command name, upper case.
        command: &'static str,
        /// What is wrong with the name.
        error: super::types::ScriptNameError,
    },
    /// Not even a command name.
    #[error("{0}")]
    Garbage(SyntaxError),
}

/// Parser options: the deviations a server may choose to accept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Accept synchronizing literals `{n}` from a client (RFC 5804 allows only `{n+}`).
    /// Off by default.
    pub quirk_sync_literals: bool,
}

impl Command<'_> {
    /// The command name, upper case.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Authenticate { .. } => "AUTHENTICATE",
            Self::StartTls => "STARTTLS",
            Self::Logout => "LOGOUT",
            Self::Capability => "CAPABILITY",
            Self::HaveSpace { .. } => "HAVESPACE",
            Self::PutScript { .. } => "PUTSCRIPT",
            Self::ListScripts => "LISTSCRIPTS",
            Self::SetActive { .. } => "SETACTIVE",
            Self::GetScript { .. } => "GETSCRIPT",
            Self::DeleteScript { .. } => "DELETESCRIPT",
            Self::RenameScript { .. } => "RENAMESCRIPT",
            Self::CheckScript { .. } => "CHECKSCRIPT",
            Self::Noop { .. } => "NOOP",
            Self::Unauthenticate => "UNAUTHENTICATE",
        }
    }

    /// Detaches the command from the input it was parsed from.
    pub fn into_owned(self) -> Command<'static> {
        fn own<T: ToOwned + ?Sized>(c: Cow<'_, T>) -> Cow<'static, T> {
            Cow::Owned(c.into_owned())
        }
        match self {
            Self::Authenticate {
                mechanism,
                initial_response,
            } => Command::Authenticate {
                mechanism: own(mechanism),
                initial_response: initial_response.map(own),
            },
            Self::StartTls => Command::StartTls,
            Self::Logout => Command::Logout,
            Self::Capability => Command::Capability,
            Self::HaveSpace { name, size } => Command::HaveSpace { name, size },
            Self::PutScript { name, script } => Command::PutScript {
                name,
                script: own(script),
            },
            Self::ListScripts => Command::ListScripts,
            Self::SetActive { name } => Command::SetActive { name },
            Self::GetScript { name } => Command::GetScript { name },
            Self::DeleteScript { name } => Command::DeleteScript { name },
            Self::RenameScript { old, new } => Command::RenameScript { old, new },
            Self::CheckScript { script } => Command::CheckScript {
                script: own(script),
            },
            Self::Noop { tag } => Command::Noop { tag: tag.map(own) },
            Self::Unauthenticate => Command::Unauthenticate,
        }
    }

    /// Writes the command as a client sends it (literals as `{n+}`), CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let dir = Direction::ClientToServer;
        out.extend_from_slice(self.name().as_bytes());
        let string = |out: &mut Vec<u8>, s: &[u8]| {
            out.push(b' ');
            wire::write_string(out, s, dir);
        };
        match self {
            Self::Authenticate {
                mechanism,
                initial_response,
            } => {
                string(out, mechanism.as_bytes());
                if let Some(ir) = initial_response {
                    string(out, ir);
                }
            }
            Self::HaveSpace { name, size } => {
                string(out, name.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(size.to_string().as_bytes());
            }
            Self::PutScript { name, script } => {
                string(out, name.as_str().as_bytes());
                string(out, script);
            }
            Self::SetActive { name } => {
                string(
                    out,
                    name.as_ref().map_or(&b""[..], |n| n.as_str().as_bytes()),
                );
            }
            Self::GetScript { name } | Self::DeleteScript { name } => {
                string(out, name.as_str().as_bytes());
            }
            Self::RenameScript { old, new } => {
                string(out, old.as_str().as_bytes());
                string(out, new.as_str().as_bytes());
            }
            Self::CheckScript { script } => string(out, script),
            Self::Noop { tag } => {
                if let Some(tag) = tag {
                    string(out, tag);
                }
            }
            Self::StartTls
            | Self::Logout
            | Self::Capability
            | Self::ListScripts
            | Self::Unauthenticate => {}
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The command as a client sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

const COMMANDS: [&str; 14] = [
    "AUTHENTICATE",
    "STARTTLS",
    "LOGOUT",
    "CAPABILITY",
    "HAVESPACE",
    "PUTSCRIPT",
    "LISTSCRIPTS",
    "SETACTIVE",
    "GETSCRIPT",
    "DELETESCRIPT",
    "RENAMESCRIPT",
    "CHECKSCRIPT",
    "NOOP",
    "UNAUTHENTICATE",
];

/// The upper-case name of the command a unit starts with, if it is a known one (used to
/// answer a command the framer had to drop).
pub(crate) fn command_name(head: &[u8]) -> Option<&'static str> {
    let end = head
        .iter()
        .position(|&b| !wire::is_atom_char(b))
        .unwrap_or(head.len());
    let word = &head[..end];
    COMMANDS
        .iter()
        .copied()
        .find(|c| c.as_bytes().eq_ignore_ascii_case(word))
}

/// Parses one complete framed command (CRLF included), as a server reads it.
pub fn parse_command(input: &[u8], options: ParseOptions) -> Result<Command<'_>, CommandError> {
    let mut c =
        Cursor::new(input, Direction::ClientToServer).lenient_literals(options.quirk_sync_literals);
    let word = c.atom().map_err(CommandError::Garbage)?;
    let Some(name) = COMMANDS
        .iter()
        .copied()
        .find(|n| n.eq_ignore_ascii_case(word))
    else {
        let mut shown: String = word.chars().take(32).collect();
        if word.len() > 32 {
            shown.push('…');
        }
        return Err(CommandError::Unknown(shown));
    };
    let syntax = |error| CommandError::Syntax {
        command: name,
        error,
    };
    let bad_name = |error| CommandError::BadName {
        command: name,
        error,
    };
    let script_name = |c: &mut Cursor<'_>| -> Result<ScriptName, CommandError> {
        c.sp().map_err(syntax)?;
        let raw = c.string().map_err(syntax)?;
        ScriptName::from_bytes(&raw).map_err(bad_name)
    };
    let cmd = match name {
        "AUTHENTICATE" => {
            c.sp().map_err(syntax)?;
            let mechanism = c.utf8_string().map_err(syntax)?;
            let initial_response = if c.opt_sp() {
                Some(c.string().map_err(syntax)?)
            } else {
                None
            };
            Command::Authenticate {
                mechanism,
                initial_response,
            }
        }
        "STARTTLS" => Command::StartTls,
        "LOGOUT" => Command::Logout,
        "CAPABILITY" => Command::Capability,
        "HAVESPACE" => {
            let name = script_name(&mut c)?;
            c.sp().map_err(syntax)?;
            let size = c.number().map_err(syntax)?;
            Command::HaveSpace { name, size }
        }
        "PUTSCRIPT" => {
            let name = script_name(&mut c)?;
            c.sp().map_err(syntax)?;
            let script = c.string().map_err(syntax)?;
            Command::PutScript { name, script }
        }
        "LISTSCRIPTS" => Command::ListScripts,
        "SETACTIVE" => {
            c.sp().map_err(syntax)?;
            let raw = c.string().map_err(syntax)?;
            let name = if raw.is_empty() {
                None
            } else {
                Some(ScriptName::from_bytes(&raw).map_err(bad_name)?)
            };
            Command::SetActive { name }
        }
        "GETSCRIPT" => Command::GetScript {
            name: script_name(&mut c)?,
        },
        "DELETESCRIPT" => Command::DeleteScript {
            name: script_name(&mut c)?,
        },
        "RENAMESCRIPT" => {
            let old = script_name(&mut c)?;
            let new = script_name(&mut c)?;
            Command::RenameScript { old, new }
        }
        "CHECKSCRIPT" => {
            c.sp().map_err(syntax)?;
            Command::CheckScript {
                script: c.string().map_err(syntax)?,
            }
        }
        "NOOP" => {
            let tag = if c.opt_sp() {
                Some(c.string().map_err(syntax)?)
            } else {
                None
            };
            Command::Noop { tag }
        }
        _ => Command::Unauthenticate,
    };
    c.end().map_err(syntax)?;
    Ok(cmd)
}

/// A client's answer to a SASL challenge (RFC 5804 §2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthResponse<'a> {
    /// The base64 text of the response, as sent (possibly empty).
    Data(Cow<'a, [u8]>),
    /// `"*"`: the client cancels the exchange.
    Cancel,
}

/// Parses one framed SASL response line: a string followed by CRLF.
pub fn parse_auth_response(
    input: &[u8],
    options: ParseOptions,
) -> Result<AuthResponse<'_>, SyntaxError> {
    let mut c =
        Cursor::new(input, Direction::ClientToServer).lenient_literals(options.quirk_sync_literals);
    let s = c.string()?;
    c.end()?;
    Ok(if s.as_ref() == b"*" {
        AuthResponse::Cancel
    } else {
        AuthResponse::Data(s)
    })
}

/// Writes a SASL response line as a client sends it.
pub fn encode_auth_response(response: &AuthResponse<'_>, out: &mut Vec<u8>) {
    match response {
        AuthResponse::Data(d) => wire::write_string(out, d, Direction::ClientToServer),
        AuthResponse::Cancel => out.extend_from_slice(b"\"*\""),
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Command<'_>, CommandError> {
        parse_command(s, ParseOptions::default())
    }

    fn name(s: &str) -> ScriptName {
        ScriptName::new(s).unwrap()
    }

    #[test]
    fn every_command() {
        assert_eq!(parse(b"capability\r\n").unwrap(), Command::Capability);
        assert_eq!(parse(b"StartTls\r\n").unwrap(), Command::StartTls);
        assert_eq!(
            parse(b"Authenticate \"PLAIN\" \"QJIr\"\r\n").unwrap(),
            Command::Authenticate {
                mechanism: "PLAIN".into(),
                initial_response: Some(Cow::Borrowed(b"QJIr")),
            }
        );
        assert_eq!(
            parse(b"HAVESPACE \"myscript\" 999999\r\n").unwrap(),
            Command::HaveSpace {
                name: name("myscript"),
                size: 999_999
            }
        );
        assert_eq!(
            parse(b"Putscript \"foo\" {3+}\r\nabc\r\n").unwrap(),
            Command::PutScript {
                name: name("foo"),
                script: Cow::Borrowed(b"abc")
            }
        );
        assert_eq!(
            parse(b"Setactive \"\"\r\n").unwrap(),
            Command::SetActive { name: None }
        );
        assert_eq!(
            parse(b"RENAMESCRIPT \"a\" {1+}\r\nb\r\n").unwrap(),
            Command::RenameScript {
                old: name("a"),
                new: name("b")
            }
        );
        assert_eq!(
            parse(b"NOOP \"STARTTLS-SYNC-42\"\r\n").unwrap(),
            Command::Noop {
                tag: Some(Cow::Borrowed(b"STARTTLS-SYNC-42"))
            }
        );
        assert_eq!(
            parse(b"unauthenticate\r\n").unwrap(),
            Command::Unauthenticate
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(parse(b"FOO\r\n"), Err(CommandError::Unknown(_))));
        assert!(matches!(parse(b"\r\n"), Err(CommandError::Garbage(_))));
        assert!(matches!(
            parse(b"GETSCRIPT \"\"\r\n"),
            Err(CommandError::BadName { .. })
        ));
        assert!(matches!(
            parse(b"LOGOUT x\r\n"),
            Err(CommandError::Syntax { .. })
        ));
        assert!(matches!(
            parse(b"HAVESPACE \"a\" 01\r\n"),
            Err(CommandError::Syntax { .. })
        ));
        assert!(matches!(
            parse(b"PUTSCRIPT \"a\" {3}\r\nabc\r\n"),
            Err(CommandError::Syntax { .. })
        ));
        let lenient = ParseOptions {
            quirk_sync_literals: true,
        };
        assert!(parse_command(b"PUTSCRIPT \"a\" {3}\r\nabc\r\n", lenient).is_ok());
        assert!(matches!(parse(b"NOOP\n"), Err(CommandError::Syntax { .. })));
    }

    #[test]
    fn encode_round_trips() {
        let cmds = [
            Command::Capability,
            Command::Authenticate {
                mechanism: "PLAIN".into(),
                initial_response: Some(Cow::Borrowed(b"AGFsaWNlAGFsaWNlcHc=")),
            },
            Command::PutScript {
                name: name("clever\"script"),
                script: Cow::Borrowed(b"require \"fileinto\";\r\nkeep;\r\n"),
            },
            Command::SetActive { name: None },
            Command::Noop { tag: None },
            Command::CheckScript {
                script: Cow::Borrowed(b""),
            },
        ];
        for cmd in cmds {
            let bytes = cmd.to_bytes();
            assert_eq!(
                parse(&bytes).unwrap(),
                cmd,
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn auth_responses() {
        let o = ParseOptions::default();
        assert_eq!(
            parse_auth_response(b"\"*\"\r\n", o).unwrap(),
            AuthResponse::Cancel
        );
        assert_eq!(
            parse_auth_response(b"{0+}\r\n\r\n", o).unwrap(),
            AuthResponse::Data(Cow::Borrowed(b""))
        );
        assert!(parse_auth_response(b"abc\r\n", o).is_err());
    }
}
