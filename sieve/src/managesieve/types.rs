//! Protocol atoms as validated types: script names and response codes.

use std::fmt;

/// Why a script name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptNameError {
    /// The empty name is not a script name (it means "no script" to SETACTIVE only).
    #[error("script name is empty")]
    Empty,
    /// Longer than [`ScriptName::MAX_LEN`] octets.
    #[error("script name longer than {} octets", ScriptName::MAX_LEN)]
    TooLong,
    /// Not UTF-8.
    #[error("script name is not UTF-8")]
    NotUtf8,
    /// Contains a character RFC 5804 §1.6 prohibits.
    #[error("script name contains a prohibited character U+{0:04X}")]
    Prohibited(u32),
}

/// A Sieve script name (RFC 5804 §1.6): at least one character of UTF-8, none of
/// U+0000–001F, U+007F–009F, U+2028, U+2029.
///
/// The RFC asks servers to accept at least 128 characters (up to 512 octets); this type
/// holds up to [`ScriptName::MAX_LEN`] octets, and a server may set a lower limit that it
/// enforces with a `NO` (never by truncating). Net-Unicode's normalization (NFC) is not
/// checked: names are compared as the octets the client sent.
///
/// ```
/// use sieve::managesieve::ScriptName;
/// assert!(ScriptName::new("vacation").is_ok());
/// assert!(ScriptName::new("").is_err());
/// assert!(ScriptName::new("tab\there").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScriptName(String);

impl ScriptName {
    /// The longest name this type holds, in octets.
    pub const MAX_LEN: usize = 1024;

    /// Validates a name.
    pub fn new(name: impl Into<String>) -> Result<Self, ScriptNameError> {
        let name = name.into();
        Self::validate(&name)?;
        Ok(Self(name))
    }

    /// Validates a name given as octets.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ScriptNameError> {
        let s = std::str::from_utf8(bytes).map_err(|_| ScriptNameError::NotUtf8)?;
        Self::new(s)
    }

    /// Checks a name without keeping it.
    pub fn validate(name: &str) -> Result<(), ScriptNameError> {
        if name.is_empty() {
            return Err(ScriptNameError::Empty);
        }
        if name.len() > Self::MAX_LEN {
            return Err(ScriptNameError::TooLong);
        }
        if let Some(c) = name
            .chars()
            .find(|&c| matches!(c as u32, 0..=0x1F | 0x7F..=0x9F | 0x2028 | 0x2029))
        {
            return Err(ScriptNameError::Prohibited(c as u32));
        }
        Ok(())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for ScriptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ScriptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ScriptName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ScriptName {
    type Error = ScriptNameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for ScriptName {
    type Error = ScriptNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// The detail of a `QUOTA` response code (RFC 5804 §1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuotaKind {
    /// `QUOTA`: a site-defined quota in general.
    Any,
    /// `QUOTA/MAXSCRIPTS`: the number of scripts per user.
    MaxScripts,
    /// `QUOTA/MAXSIZE`: the size of one script.
    MaxSize,
}

/// A response code (RFC 5804 §1.3), the parenthesized part of `OK`/`NO`/`BYE`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseCode {
    /// `AUTH-TOO-WEAK`
    AuthTooWeak,
    /// `ENCRYPT-NEEDED`
    EncryptNeeded,
    /// `QUOTA`, `QUOTA/MAXSCRIPTS`, `QUOTA/MAXSIZE`
    Quota(QuotaKind),
    /// `REFERRAL sieveurl`
    Referral(String),
    /// `SASL string`: the final server data of a successful AUTHENTICATE, base64-decoded.
    Sasl(Vec<u8>),
    /// `TRANSITION-NEEDED`
    TransitionNeeded,
    /// `TRYLATER`
    TryLater,
    /// `ACTIVE`
    Active,
    /// `NONEXISTENT`
    NonExistent,
    /// `ALREADYEXISTS`
    AlreadyExists,
    /// `WARNINGS`
    Warnings,
    /// `TAG string` (the NOOP tag, echoed).
    Tag(Vec<u8>),
    /// A code this crate does not know: its name and the raw text of its data.
    Other {
        /// The code name, as sent.
        name: String,
        /// The text after the name, unparsed.
        data: Option<String>,
    },
}

impl ResponseCode {
    /// The code's name as sent on the wire.
    pub fn name(&self) -> &str {
        match self {
            Self::AuthTooWeak => "AUTH-TOO-WEAK",
            Self::EncryptNeeded => "ENCRYPT-NEEDED",
            Self::Quota(QuotaKind::Any) => "QUOTA",
            Self::Quota(QuotaKind::MaxScripts) => "QUOTA/MAXSCRIPTS",
            Self::Quota(QuotaKind::MaxSize) => "QUOTA/MAXSIZE",
            Self::Referral(_) => "REFERRAL",
            Self::Sasl(_) => "SASL",
            Self::TransitionNeeded => "TRANSITION-NEEDED",
            Self::TryLater => "TRYLATER",
            Self::Active => "ACTIVE",
            Self::NonExistent => "NONEXISTENT",
            Self::AlreadyExists => "ALREADYEXISTS",
            Self::Warnings => "WARNINGS",
            Self::Tag(_) => "TAG",
            Self::Other { name, .. } => name,
        }
    }

    /// Whether this is a `QUOTA` code of any detail; a client that does not know a
    /// hierarchical detail treats `QUOTA/X` as `QUOTA` (RFC 5804 §1.3).
    pub fn is_quota(&self) -> bool {
        match self {
            Self::Quota(_) => true,
            Self::Other { name, .. } => {
                name.len() >= 5
                    && name[..5].eq_ignore_ascii_case("QUOTA")
                    && name.as_bytes().get(5).is_none_or(|&b| b == b'/')
            }
            _ => false,
        }
    }
}

/// The status word of a completion response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BYE`: the server closes the connection.
    Bye,
}

impl Status {
    /// The word as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::No => "NO",
            Self::Bye => "BYE",
        }
    }
}

/// A completion response: `("OK" / "NO" / "BYE") [SP "(" resp-code ")"] [SP string]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusResponse {
    /// OK, NO or BYE.
    pub status: Status,
    /// The response code, if any.
    pub code: Option<ResponseCode>,
    /// The human-readable text, if any (UTF-8; may span lines when sent as a literal).
    pub text: Option<String>,
}

impl StatusResponse {
    /// `OK` with no code and no text.
    pub fn ok() -> Self {
        Self {
            status: Status::Ok,
            code: None,
            text: None,
        }
    }

    /// A response with a status and text.
    pub fn new(status: Status, text: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            text: Some(text.into()),
        }
    }

    /// Sets the response code.
    #[must_use]
    pub fn with_code(mut self, code: ResponseCode) -> Self {
        self.code = Some(code);
        self
    }

    /// `NO` with text.
    pub fn no(text: impl Into<String>) -> Self {
        Self::new(Status::No, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names() {
        assert!(ScriptName::new("a").is_ok());
        assert!(ScriptName::new("clever\"script").is_ok());
        assert!(ScriptName::new("ünïcødé ✓").is_ok());
        assert_eq!(ScriptName::new(""), Err(ScriptNameError::Empty));
        assert_eq!(
            ScriptName::new("a\u{7f}"),
            Err(ScriptNameError::Prohibited(0x7f))
        );
        assert_eq!(
            ScriptName::new("a\u{85}"),
            Err(ScriptNameError::Prohibited(0x85))
        );
        assert_eq!(
            ScriptName::new("a\u{2028}"),
            Err(ScriptNameError::Prohibited(0x2028))
        );
        assert_eq!(
            ScriptName::from_bytes(b"\xff"),
            Err(ScriptNameError::NotUtf8)
        );
        assert_eq!(
            ScriptName::new("x".repeat(1025)),
            Err(ScriptNameError::TooLong)
        );
        // 128 four-octet characters: the RFC's minimum must fit.
        assert!(ScriptName::new("😀".repeat(128)).is_ok());
    }

    #[test]
    fn quota_detail_tolerated() {
        assert!(ResponseCode::Quota(QuotaKind::MaxSize).is_quota());
        let other = ResponseCode::Other {
            name: "quota/maxfoo".into(),
            data: None,
        };
        assert!(other.is_quota());
        let not = ResponseCode::Other {
            name: "QUOTAX".into(),
            data: None,
        };
        assert!(!not.is_quota());
    }
}
