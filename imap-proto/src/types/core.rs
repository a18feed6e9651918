//! The protocol atoms: tags, atoms, strings, text, non-empty lists and secrets.
//!
//! Every type here is validated on construction, so a value that exists can always be written
//! on the wire. Strings carry a *form hint* (atom, quoted or literal): a parsed string keeps the
//! form it arrived in, so re-serializing a parsed message gives back the same bytes; a string
//! built by the caller gets the cheapest valid form. The encoder honours a hint only where it is
//! valid for the content and the grammar position, and otherwise picks the best valid form, so
//! a hint can never produce an invalid message.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use crate::error::ValidationError;

/// Conversion of a borrowed protocol value into one that owns all its data.
///
/// Parsing borrows from the input buffer (no copies); sessions hand out `'static` values.
pub trait IntoStatic {
    /// The owned form of `Self`.
    type Static: 'static;
    /// Copies every borrowed part so the value no longer borrows the input.
    fn into_static(self) -> Self::Static;
}

pub(crate) fn cow_static<T: ?Sized + ToOwned>(c: Cow<'_, T>) -> Cow<'static, T>
where
    T::Owned: 'static,
{
    Cow::Owned(c.into_owned())
}

impl<T: IntoStatic> IntoStatic for Vec<T> {
    type Static = Vec<T::Static>;
    fn into_static(self) -> Self::Static {
        self.into_iter().map(IntoStatic::into_static).collect()
    }
}

impl<T: IntoStatic> IntoStatic for Option<T> {
    type Static = Option<T::Static>;
    fn into_static(self) -> Self::Static {
        self.map(IntoStatic::into_static)
    }
}

impl<T: IntoStatic> IntoStatic for Box<T> {
    type Static = Box<T::Static>;
    fn into_static(self) -> Self::Static {
        Box::new((*self).into_static())
    }
}

impl<A: IntoStatic, B: IntoStatic> IntoStatic for (A, B) {
    type Static = (A::Static, B::Static);
    fn into_static(self) -> Self::Static {
        (self.0.into_static(), self.1.into_static())
    }
}

macro_rules! static_copy {
    ($($t:ty),*) => {$(
        impl IntoStatic for $t {
            type Static = $t;
            fn into_static(self) -> Self::Static { self }
        }
    )*};
}
static_copy!(
    u8,
    u16,
    u32,
    u64,
    i16,
    bool,
    char,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    crate::types::datetime::Date,
    crate::types::datetime::DateTime
);

// ---------------------------------------------------------------------------------------------
// Character classes (RFC 3501 §9 / RFC 9051 §9), as one lookup table.

pub(crate) const C_ATOM: u8 = 1;
pub(crate) const C_ASTRING: u8 = 2;
pub(crate) const C_TAG: u8 = 4;
pub(crate) const C_LIST: u8 = 8;
pub(crate) const C_TEXT: u8 = 16;
pub(crate) const C_QUOTED: u8 = 32;
/// Letters, digits, `.`, `-`, `=`: the bytes of keyword-like tokens (the parser's `word`).
pub(crate) const C_WORD: u8 = 64;

const fn class_of(b: u8) -> u8 {
    let ctl = b < 0x20 || b == 0x7f;
    let char7 = b >= 1 && b <= 0x7f;
    let mut c = 0;
    if !char7 {
        return 0;
    }
    // TEXT-CHAR: any CHAR except CR and LF.
    if b != b'\r' && b != b'\n' {
        c |= C_TEXT;
        // Raw QUOTED-CHAR: TEXT-CHAR except quoted-specials.
        if b != b'"' && b != b'\\' {
            c |= C_QUOTED;
        }
    }
    let atom_special = b == b'('
        || b == b')'
        || b == b'{'
        || b == b' '
        || ctl
        || b == b'%'
        || b == b'*'
        || b == b'"'
        || b == b'\\'
        || b == b']';
    if !atom_special {
        c |= C_ATOM | C_ASTRING | C_LIST;
        if b != b'+' {
            c |= C_TAG;
        }
    }
    if b == b']' {
        c |= C_ASTRING | C_LIST | C_TAG;
    }
    if b == b'%' || b == b'*' {
        c |= C_LIST;
    }
    if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'=' {
        c |= C_WORD;
    }
    c
}

pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = class_of(i as u8);
        i += 1;
    }
    t
};

#[inline]
pub(crate) fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

#[inline]
pub(crate) fn all(bytes: &[u8], class: u8) -> bool {
    bytes.iter().all(|&b| is(b, class))
}

// ---------------------------------------------------------------------------------------------

/// A command tag: `tag = 1*<any ASTRING-CHAR except "+">`.
///
/// Tags are opaque to the protocol; duplicates are allowed (IMAP-002).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag<'a>(Cow<'a, str>);

impl<'a> Tag<'a> {
    /// Validates a tag.
    pub fn new(tag: impl Into<Cow<'a, str>>) -> Result<Self, ValidationError> {
        let tag = tag.into();
        if tag.is_empty() || !all(tag.as_bytes(), C_TAG) {
            return Err(ValidationError::new("tag", "1*<ASTRING-CHAR except \"+\">"));
        }
        Ok(Self(tag))
    }

    pub(crate) fn unvalidated(tag: &'a str) -> Self {
        debug_assert!(!tag.is_empty() && all(tag.as_bytes(), C_TAG));
        Self(Cow::Borrowed(tag))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Tag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({:?})", self.0)
    }
}

impl fmt::Display for Tag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl IntoStatic for Tag<'_> {
    type Static = Tag<'static>;
    fn into_static(self) -> Tag<'static> {
        Tag(cow_static(self.0))
    }
}

impl TryFrom<&'static str> for Tag<'static> {
    type Error = ValidationError;
    fn try_from(s: &'static str) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

/// An atom: `atom = 1*ATOM-CHAR` (capability names, keywords, extension names, ...).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom<'a>(Cow<'a, str>);

impl<'a> Atom<'a> {
    /// Validates an atom.
    pub fn new(atom: impl Into<Cow<'a, str>>) -> Result<Self, ValidationError> {
        let atom = atom.into();
        if atom.is_empty() || !all(atom.as_bytes(), C_ATOM) {
            return Err(ValidationError::new("atom", "1*ATOM-CHAR"));
        }
        Ok(Self(atom))
    }

    pub(crate) fn unvalidated(atom: &'a str) -> Self {
        debug_assert!(!atom.is_empty() && all(atom.as_bytes(), C_ATOM), "{atom:?}");
        Self(Cow::Borrowed(atom))
    }

    /// The atom text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive comparison (IMAP keywords and capability names are case-insensitive).
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Debug for Atom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atom({:?})", self.0)
    }
}

impl fmt::Display for Atom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl IntoStatic for Atom<'_> {
    type Static = Atom<'static>;
    fn into_static(self) -> Atom<'static> {
        Atom(cow_static(self.0))
    }
}

impl TryFrom<&'static str> for Atom<'static> {
    type Error = ValidationError;
    fn try_from(s: &'static str) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

/// Human-readable response text: `text = 1*(TEXT-CHAR / UTF8-2 / UTF8-3 / UTF8-4)` (RFC 9051).
///
/// May be empty: RFC 9051 makes the text after a response code optional, and servers send
/// `* OK [UIDVALIDITY 1]`. Clients never depend on its content (IMAP-025).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'a> Text<'a> {
    /// Validates text: no CR, LF or NUL.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, ValidationError> {
        let text = text.into();
        if text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(ValidationError::new("text", "no CR, LF or NUL"));
        }
        Ok(Self(text))
    }

    pub(crate) fn unvalidated(text: &'a str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// Empty text.
    pub fn empty() -> Self {
        Self(Cow::Borrowed(""))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text({:?})", self.0)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl IntoStatic for Text<'_> {
    type Static = Text<'static>;
    fn into_static(self) -> Text<'static> {
        Text(cow_static(self.0))
    }
}

impl TryFrom<&'static str> for Text<'static> {
    type Error = ValidationError;
    fn try_from(s: &'static str) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

/// Whether a literal needs the server's `+` before its data is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiteralMode {
    /// `{n}`: the client waits for a continuation request.
    Sync,
    /// `{n+}` (LITERAL+ / LITERAL-, RFC 7888): the data follows at once.
    NonSync,
}

/// How a string is written on the wire (a hint, see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrForm {
    /// Unquoted, where the grammar allows an atom (`astring`, `list-mailbox`).
    Atom,
    /// `"..."` with `\"` and `\\` escapes.
    Quoted,
    /// `{n}\r\n` followed by the bytes.
    Literal(LiteralMode),
}

/// A string: `astring` / `string` / the non-NIL half of `nstring`.
///
/// Holds any bytes except NUL (`CHAR8 = %x01-ff`). The [`StrForm`] is a hint; equality and
/// hashing look at the bytes only.
#[derive(Clone)]
pub struct IString<'a> {
    bytes: Cow<'a, [u8]>,
    form: StrForm,
}

impl<'a> IString<'a> {
    /// A string with the cheapest valid form for its content (atom if possible, then quoted,
    /// then a synchronizing literal).
    pub fn new(bytes: impl Into<Cow<'a, [u8]>>) -> Result<Self, ValidationError> {
        let bytes = bytes.into();
        if memchr::memchr(0, &bytes).is_some() {
            return Err(ValidationError::new("string", "no NUL byte"));
        }
        let form = best_form(&bytes, true);
        Ok(Self { bytes, form })
    }

    /// A string with the given form hint.
    pub fn with_form(
        bytes: impl Into<Cow<'a, [u8]>>,
        form: StrForm,
    ) -> Result<Self, ValidationError> {
        let mut s = Self::new(bytes)?;
        s.form = form;
        Ok(s)
    }

    pub(crate) fn unvalidated(bytes: &'a [u8], form: StrForm) -> Self {
        debug_assert!(memchr::memchr(0, bytes).is_none());
        Self {
            bytes: Cow::Borrowed(bytes),
            form,
        }
    }

    pub(crate) fn unvalidated_owned(bytes: Vec<u8>, form: StrForm) -> Self {
        debug_assert!(memchr::memchr(0, &bytes).is_none());
        Self {
            bytes: Cow::Owned(bytes),
            form,
        }
    }

    /// The string's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The string as UTF-8, if it is.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }

    /// The string, lossily decoded as UTF-8.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }

    /// The form hint.
    pub fn form(&self) -> StrForm {
        self.form
    }

    /// Sets the form hint.
    pub fn set_form(&mut self, form: StrForm) {
        self.form = form;
    }

    /// Consumes the string, returning its bytes.
    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        self.bytes
    }
}

/// The cheapest form for `bytes`: atom (if `atom_ok`), quoted, or a literal.
pub(crate) fn best_form(bytes: &[u8], atom_ok: bool) -> StrForm {
    if atom_ok && !bytes.is_empty() && all(bytes, C_ASTRING) && !bytes.eq_ignore_ascii_case(b"NIL")
    {
        StrForm::Atom
    } else if bytes.len() <= 1024 && all(bytes, C_TEXT) {
        StrForm::Quoted
    } else {
        StrForm::Literal(LiteralMode::Sync)
    }
}

impl PartialEq for IString<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for IString<'_> {}
impl std::hash::Hash for IString<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Debug for IString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.bytes))
    }
}

impl IntoStatic for IString<'_> {
    type Static = IString<'static>;
    fn into_static(self) -> IString<'static> {
        IString {
            bytes: cow_static(self.bytes),
            form: self.form,
        }
    }
}

impl TryFrom<&'static str> for IString<'static> {
    type Error = ValidationError;
    fn try_from(s: &'static str) -> Result<Self, ValidationError> {
        Self::new(s.as_bytes())
    }
}

impl TryFrom<String> for IString<'static> {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, ValidationError> {
        Self::new(s.into_bytes())
    }
}

impl<'a> TryFrom<&'a [u8]> for IString<'a> {
    type Error = ValidationError;
    fn try_from(s: &'a [u8]) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

/// `nstring = string / nil`.
pub type NString<'a> = Option<IString<'a>>;

/// A non-empty list (the ABNF's `1*x`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Vec1<T>(pub(crate) Vec<T>);

impl<T> Vec1<T> {
    /// A list of one.
    pub fn new(first: T) -> Self {
        Self(vec![first])
    }

    /// Appends an element.
    pub fn push(&mut self, item: T) {
        self.0.push(item);
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// The elements, as a vector.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }

    /// The first element.
    pub fn first(&self) -> &T {
        &self.0[0]
    }

    pub(crate) fn unvalidated(v: Vec<T>) -> Self {
        debug_assert!(!v.is_empty());
        Self(v)
    }
}

impl<T> TryFrom<Vec<T>> for Vec1<T> {
    type Error = ValidationError;
    fn try_from(v: Vec<T>) -> Result<Self, ValidationError> {
        if v.is_empty() {
            Err(ValidationError::new("list", "at least one element"))
        } else {
            Ok(Self(v))
        }
    }
}

impl<T> Deref for Vec1<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'b, T> IntoIterator for &'b Vec1<T> {
    type Item = &'b T;
    type IntoIter = std::slice::Iter<'b, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T> IntoIterator for Vec1<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for Vec1<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: IntoStatic> IntoStatic for Vec1<T> {
    type Static = Vec1<T::Static>;
    fn into_static(self) -> Self::Static {
        Vec1(self.0.into_static())
    }
}

/// A value whose `Debug` output is redacted (passwords, SASL responses).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret.
    pub fn new(inner: T) -> Self {
        Self(inner)
    }

    /// Reads the secret. Named so that every read is visible in review.
    pub fn declassify(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("/* redacted */")
    }
}

impl<T: IntoStatic> IntoStatic for Secret<T> {
    type Static = Secret<T::Static>;
    fn into_static(self) -> Self::Static {
        Secret(self.0.into_static())
    }
}

/// A charset name in SEARCH/SORT/THREAD/BADCHARSET: an atom or a quoted string.
pub type Charset<'a> = IString<'a>;

impl IntoStatic for Cow<'_, [u8]> {
    type Static = Cow<'static, [u8]>;
    fn into_static(self) -> Self::Static {
        cow_static(self)
    }
}

impl IntoStatic for Cow<'_, str> {
    type Static = Cow<'static, str>;
    fn into_static(self) -> Self::Static {
        cow_static(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is(b'a', C_ATOM));
        assert!(!is(b']', C_ATOM));
        assert!(is(b']', C_ASTRING));
        assert!(!is(b'+', C_TAG));
        assert!(is(b'+', C_ATOM));
        assert!(is(b'*', C_LIST));
        assert!(!is(b'*', C_ASTRING));
        assert!(!is(0, C_TEXT));
        assert!(!is(b'\r', C_TEXT));
        assert!(!is(0x80, C_TEXT));
        assert!(!is(b'"', C_QUOTED));
        for b in 0..=255u8 {
            let word = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'=');
            assert_eq!(is(b, C_WORD), word, "{b}");
        }
    }

    #[test]
    fn validation() {
        assert!(Tag::new("a001").is_ok());
        assert!(Tag::new("a+1").is_err());
        assert!(Tag::new("").is_err());
        assert!(Atom::new("IMAP4rev1").is_ok());
        assert!(Atom::new("a]").is_err());
        assert!(Atom::new("a b").is_err());
        assert!(Text::new("ok\r\n").is_err());
        assert!(IString::new(&b"a\0b"[..]).is_err());
        assert!(Vec1::<u8>::try_from(vec![]).is_err());
    }

    #[test]
    fn forms() {
        assert_eq!(IString::new(&b"INBOX"[..]).unwrap().form(), StrForm::Atom);
        assert_eq!(IString::new(&b"a b"[..]).unwrap().form(), StrForm::Quoted);
        assert_eq!(IString::new(&b""[..]).unwrap().form(), StrForm::Quoted);
        assert_eq!(IString::new(&b"nil"[..]).unwrap().form(), StrForm::Quoted);
        assert_eq!(
            IString::new(&b"a\r\nb"[..]).unwrap().form(),
            StrForm::Literal(LiteralMode::Sync)
        );
        assert_eq!(
            IString::new("Entwürfe".as_bytes()).unwrap().form(),
            StrForm::Literal(LiteralMode::Sync)
        );
        // Form is a hint: equality ignores it.
        assert_eq!(
            IString::with_form(&b"x"[..], StrForm::Quoted).unwrap(),
            IString::new(&b"x"[..]).unwrap()
        );
    }

    #[test]
    fn secret_redacts() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "/* redacted */");
    }
}
