//! Mailbox names and LIST patterns.
//!
//! A [`Mailbox`] keeps its wire bytes: modified UTF-7 for IMAP4rev1 peers, UTF-8 once
//! `UTF8=ACCEPT` or IMAP4rev2 is in effect (RFC 9051 §5.1). [`Mailbox::from_name`] and
//! [`Mailbox::name`] convert between a Unicode name and the wire spelling.

use std::borrow::Cow;

use crate::error::ValidationError;
use crate::types::core::{IString, IntoStatic, StrForm};
use crate::utf7;

/// A mailbox name as sent on the wire (`mailbox = "INBOX" / astring`).
///
/// `INBOX` is matched case-insensitively (IMAP-008); the bytes are kept as sent, so a parsed
/// `select inbox` is written back as `inbox`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox<'a>(IString<'a>);

impl<'a> Mailbox<'a> {
    /// A mailbox from its wire bytes.
    pub fn new(wire: IString<'a>) -> Self {
        Self(wire)
    }

    /// `INBOX`.
    pub fn inbox() -> Self {
        Self(IString::unvalidated(b"INBOX", StrForm::Atom))
    }

    /// A mailbox from a Unicode name: modified UTF-7 unless `utf8` (UTF8=ACCEPT / IMAP4rev2
    /// in effect), in which case the name is sent as UTF-8.
    pub fn from_name(name: &str, utf8: bool) -> Result<Mailbox<'static>, ValidationError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(Mailbox::inbox());
        }
        let wire = if utf8 {
            name.to_owned()
        } else {
            utf7::encode(name)
        };
        Ok(Mailbox(IString::try_from(wire)?))
    }

    /// Whether this is `INBOX` (case-insensitive).
    pub fn is_inbox(&self) -> bool {
        self.0.as_bytes().eq_ignore_ascii_case(b"INBOX")
    }

    /// The wire bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The wire string.
    pub fn as_istring(&self) -> &IString<'a> {
        &self.0
    }

    /// The Unicode name: `INBOX` normalized to upper case; otherwise UTF-8 as is when `utf8`,
    /// else decoded from modified UTF-7 (strict, canonical forms only).
    pub fn name(&self, utf8: bool) -> Result<Cow<'_, str>, ValidationError> {
        if self.is_inbox() {
            return Ok(Cow::Borrowed("INBOX"));
        }
        let bytes = self.0.as_bytes();
        if utf8 {
            return std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| ValidationError::new("mailbox", "UTF-8"));
        }
        // A rev1 name that is plain printable ASCII without '&' decodes to itself.
        if !bytes.contains(&b'&') && bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Ok(Cow::Borrowed(
                std::str::from_utf8(bytes).unwrap_or_default(),
            ));
        }
        utf7::decode_bytes(bytes)
            .map(Cow::Owned)
            .map_err(|_| ValidationError::new("mailbox", "canonical modified UTF-7"))
    }
}

impl IntoStatic for Mailbox<'_> {
    type Static = Mailbox<'static>;
    fn into_static(self) -> Mailbox<'static> {
        Mailbox(self.0.into_static())
    }
}

impl TryFrom<&'static str> for Mailbox<'static> {
    type Error = ValidationError;
    /// The wire spelling, as given (no UTF-7 conversion; see [`Mailbox::from_name`]).
    fn try_from(s: &'static str) -> Result<Self, ValidationError> {
        Ok(Self(IString::try_from(s)?))
    }
}

/// A LIST/LSUB pattern (`list-mailbox = 1*list-char / string`): may hold `*` and `%`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListMailbox<'a>(IString<'a>);

impl<'a> ListMailbox<'a> {
    /// A pattern from its wire bytes.
    pub fn new(wire: IString<'a>) -> Self {
        Self(wire)
    }

    /// The wire bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The wire string.
    pub fn as_istring(&self) -> &IString<'a> {
        &self.0
    }
}

impl IntoStatic for ListMailbox<'_> {
    type Static = ListMailbox<'static>;
    fn into_static(self) -> ListMailbox<'static> {
        ListMailbox(self.0.into_static())
    }
}

impl TryFrom<&'static str> for ListMailbox<'static> {
    type Error = ValidationError;
    fn try_from(s: &'static str) -> Result<Self, ValidationError> {
        let mut st = IString::try_from(s)?;
        if !s.is_empty()
            && s.bytes()
                .all(|b| crate::types::core::is(b, crate::types::core::C_LIST))
        {
            st.set_form(StrForm::Atom);
        }
        Ok(Self(st))
    }
}

/// Matches a mailbox name against a LIST pattern (`*` matches anything, `%` anything but the
/// hierarchy delimiter), as a server evaluates LIST (RFC 9051 §6.3.9).
///
/// Runs in O(name × pattern) time with no recursion, so hostile patterns cannot blow up.
pub fn list_matches(pattern: &[u8], name: &[u8], delimiter: Option<u8>) -> bool {
    // Classic DP over positions, one row at a time.
    let n = name.len();
    let mut prev = vec![false; n + 1];
    prev[0] = true;
    for &p in pattern {
        let mut cur = vec![false; n + 1];
        match p {
            b'*' => {
                let mut reach = false;
                for j in 0..=n {
                    reach |= prev[j];
                    cur[j] = reach;
                }
            }
            b'%' => {
                let mut reach = false;
                for j in 0..=n {
                    if j > 0 && Some(name[j - 1]) == delimiter {
                        reach = false;
                    }
                    reach |= prev[j];
                    cur[j] = reach;
                }
            }
            c => {
                for j in 1..=n {
                    cur[j] = prev[j - 1] && name[j - 1] == c;
                }
            }
        }
        prev = cur;
    }
    prev[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_and_utf7() {
        let m = Mailbox::from_name("Entwürfe", false).unwrap();
        assert_eq!(m.as_bytes(), b"Entw&APw-rfe");
        assert_eq!(m.name(false).unwrap(), "Entwürfe");
        let m = Mailbox::from_name("Entwürfe", true).unwrap();
        assert_eq!(m.as_bytes(), "Entwürfe".as_bytes());
        assert!(Mailbox::try_from("inbox").unwrap().is_inbox());
        assert_eq!(
            Mailbox::try_from("inbox").unwrap().name(false).unwrap(),
            "INBOX"
        );
        assert!(Mailbox::try_from("&Jjo!").unwrap().name(false).is_err());
    }

    #[test]
    fn patterns() {
        assert!(list_matches(b"*", b"a.b.c", Some(b'.')));
        assert!(list_matches(b"%", b"abc", Some(b'.')));
        assert!(!list_matches(b"%", b"a.b", Some(b'.')));
        assert!(list_matches(b"a.%", b"a.b", Some(b'.')));
        assert!(list_matches(b"a*c", b"a.b.c", Some(b'.')));
        assert!(!list_matches(b"a%c", b"a.b.c", Some(b'.')));
        assert!(list_matches(b"", b"", None));
        assert!(!list_matches(b"x", b"", None));
        // No exponential blow-up.
        let pat = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!list_matches(pat, &[b'a'; 200], None));
    }
}
