//! The parser: a recursive-descent cursor over one message's bytes.
//!
//! It is written by hand rather than with nom combinators because the grammar is the product
//! and speed is a goal (see the commit message and `benches/benches/imap.rs`): one pass, no
//! backtracking except one-byte lookahead, borrowed output, and running out of input is its own
//! outcome (`Incomplete`) rather than a failure, so truncation is never mistaken for an error.

pub(crate) mod body;
pub(crate) mod command;
pub(crate) mod response;

use std::borrow::Cow;
use std::num::{NonZeroU32, NonZeroU64};

use crate::codec::DecodeOptions;
use crate::error::ParseError;
use crate::types::core::{
    Atom, C_ASTRING, C_ATOM, C_LIST, C_TAG, C_WORD, IString, LiteralMode, StrForm, Tag, Text, is,
};
use crate::types::datetime::{Date, DateTime, MONTHS};
use crate::types::flag::{Flag, FlagFetch, FlagPerm, MailboxAttr};
use crate::types::mailbox::{ListMailbox, Mailbox};
use crate::types::sequence::{SeqNum, Sequence, SequenceSet};

/// Why a parse stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PErr {
    /// The input ended before the message did.
    Incomplete,
    /// A literal header ended the input: the data has not been sent yet.
    Literal { length: u32, mode: LiteralMode },
    /// The grammar is broken at `offset`.
    Fail {
        offset: usize,
        expected: &'static str,
    },
}

impl PErr {
    pub(crate) fn into_parse_error(self) -> ParseError {
        match self {
            Self::Fail { offset, expected } => ParseError { offset, expected },
            Self::Incomplete | Self::Literal { .. } => ParseError {
                offset: usize::MAX,
                expected: "a complete message",
            },
        }
    }
}

pub(crate) type R<T> = Result<T, PErr>;

pub(crate) struct P<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
    depth: u32,
    pub(crate) opts: DecodeOptions,
}

/// A keyword of up to 16 bytes, upper-cased and packed little-endian into one integer (0 for a
/// longer word, which matches no key). Matching a word against keywords is then one integer
/// comparison each (`kw_match!`) instead of upper-casing into a buffer and comparing slices;
/// the streaming scanners ([`P::run_key`], [`P::word_key`]) build the key while they scan.
#[inline]
pub(crate) const fn key(w: &[u8]) -> u128 {
    if w.len() > 16 {
        return 0;
    }
    let mut k = 0u128;
    let mut i = 0;
    while i < w.len() {
        k |= (w[i].to_ascii_uppercase() as u128) << (8 * i);
        i += 1;
    }
    k
}

/// [`key`] of `rest[..n]`, computed with whole-word arithmetic: one 16-byte load (when the
/// buffer has 16 bytes from the word on, which is the common case), a mask for the length, and
/// an upper-casing of every byte at once (SWAR), instead of a shift and an upper-case per byte.
#[inline]
pub(crate) fn key_at(rest: &[u8], n: usize) -> u128 {
    if n <= 8 {
        // Most keywords fit in eight bytes: one 8-byte load when the buffer has them.
        if let Some(b) = rest.get(..8) {
            let x = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            let x = if n == 8 {
                x
            } else {
                x & ((1u64 << (8 * n)) - 1)
            };
            return u128::from(upcase8(x));
        }
    } else if n > 16 {
        return 0;
    }
    let x = if let Some(b) = rest.get(..16) {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        let x = u128::from_le_bytes(a);
        if n == 16 {
            x
        } else {
            x & ((1u128 << (8 * n)) - 1)
        }
    } else {
        // Near the end of the buffer: byte by byte.
        return key(&rest[..n]);
    };
    upcase16(x)
}

/// Whether [`key_at`] takes a whole-word load for a word of `n` bytes in a buffer of `avail`.
#[inline]
fn key_fits(n: usize, avail: usize) -> bool {
    (n <= 8 && avail >= 8) || (n <= 16 && avail >= 16)
}

/// Upper-cases every ASCII letter of a little-endian word at once (SWAR): a byte is a
/// lower-case letter when its low seven bits are at least `a` and at most `z` and its top bit
/// is clear; then its 0x20 bit is cleared. No carry crosses a byte: each low part is at most
/// 0x7f and each added constant less than 0x80.
#[inline]
fn upcase16(x: u128) -> u128 {
    const ONES: u128 = u128::MAX / 0xff;
    let low = x & (ONES * 0x7f);
    let ge_a = low + ONES * (0x80 - u128::from(b'a'));
    let gt_z = low + ONES * (0x80 - u128::from(b'z') - 1);
    let lower = ge_a & !gt_z & !x & (ONES * 0x80);
    x ^ (lower >> 2)
}

/// [`upcase16`] for eight bytes.
#[inline]
fn upcase8(x: u64) -> u64 {
    const ONES: u64 = u64::MAX / 0xff;
    let low = x & (ONES * 0x7f);
    let ge_a = low + ONES * (0x80 - u64::from(b'a'));
    let gt_z = low + ONES * (0x80 - u64::from(b'z') - 1);
    let lower = ge_a & !gt_z & !x & (ONES * 0x80);
    x ^ (lower >> 2)
}

/// `kw_match!(key, { b"A" | b"B" => x, b"C" => y, _ => z })`: compares a [`key`] against the
/// keys of the literals (computed at compile time), in order.
macro_rules! kw_match {
    ($k:expr, { $($($lit:literal)|+ => $e:expr,)* _ => $d:expr $(,)? }) => {{
        let k: u128 = $k;
        $( if $(k == const { $crate::codec::parse::key($lit) })||+ { $e } else )* { $d }
    }};
}
pub(crate) use kw_match;

/// Uppercases a short word into `buf` for `match`ing against keywords.
#[inline]
pub(crate) fn up<'x>(w: &[u8], buf: &'x mut [u8; 32]) -> &'x [u8] {
    if w.len() > 32 {
        return &[];
    }
    for (d, s) in buf.iter_mut().zip(w) {
        *d = s.to_ascii_uppercase();
    }
    &buf[..w.len()]
}

impl<'a> P<'a> {
    pub(crate) fn new(b: &'a [u8], opts: DecodeOptions) -> Self {
        Self {
            b,
            i: 0,
            depth: 0,
            opts,
        }
    }

    #[inline]
    pub(crate) fn fail<T>(&self, expected: &'static str) -> R<T> {
        Err(PErr::Fail {
            offset: self.i,
            expected,
        })
    }

    #[inline]
    pub(crate) fn peek(&self) -> R<u8> {
        self.b.get(self.i).copied().ok_or(PErr::Incomplete)
    }

    #[inline]
    pub(crate) fn peek_is(&self, c: u8) -> R<bool> {
        Ok(self.peek()? == c)
    }

    #[inline]
    pub(crate) fn byte(&mut self, c: u8, what: &'static str) -> R<()> {
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    #[inline]
    pub(crate) fn sp(&mut self) -> R<()> {
        self.byte(b' ', "SP")?;
        if self.opts.quirk_extra_spaces {
            while self.peek_is(b' ')? {
                self.i += 1;
            }
        }
        Ok(())
    }

    /// Consumes `c` if it is next.
    #[inline]
    pub(crate) fn eat(&mut self, c: u8) -> R<bool> {
        if self.peek()? == c {
            self.i += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    #[inline]
    pub(crate) fn crlf(&mut self) -> R<()> {
        match self.peek()? {
            b'\r' => {
                self.i += 1;
                self.byte(b'\n', "LF")
            }
            b'\n' if self.opts.crlf_relaxed => {
                self.i += 1;
                Ok(())
            }
            _ => self.fail("CRLF"),
        }
    }

    pub(crate) fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return self.fail("less nesting");
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Takes a non-empty run of bytes of `class`. Reaching the end is `Incomplete` (the run
    /// might go on).
    #[inline]
    pub(crate) fn run(&mut self, class: u8, what: &'static str) -> R<&'a [u8]> {
        let start = self.i;
        let rest = &self.b[start..];
        match rest.iter().position(|&c| !is(c, class)) {
            Some(0) => self.fail(what),
            Some(n) => {
                self.i += n;
                Ok(&rest[..n])
            }
            None => Err(PErr::Incomplete),
        }
    }

    /// [`P::run`] that also returns the word's [`key`].
    #[inline]
    pub(crate) fn run_key(&mut self, class: u8, what: &'static str) -> R<(&'a [u8], u128)> {
        let rest = &self.b[self.i..];
        let Some(n) = rest.iter().position(|&c| !is(c, class)) else {
            return Err(PErr::Incomplete);
        };
        if n == 0 {
            return self.fail(what);
        }
        self.i += n;
        Ok((&rest[..n], key_at(rest, n)))
    }

    /// [`P::word`] that also returns the word's [`key`].
    #[inline]
    pub(crate) fn word_key(&mut self) -> R<(&'a [u8], u128)> {
        let rest = &self.b[self.i..];
        let Some(n) = rest.iter().position(|&c| !is(c, C_WORD)) else {
            return Err(PErr::Incomplete);
        };
        if n == 0 {
            return self.fail("a keyword");
        }
        self.i += n;
        Ok((&rest[..n], key_at(rest, n)))
    }

    /// A run of bytes matching `f`, possibly empty; end of input is `Incomplete`.
    #[inline]
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> R<&'a [u8]> {
        let start = self.i;
        let rest = &self.b[start..];
        match rest.iter().position(|&c| !f(c)) {
            Some(n) => {
                self.i += n;
                Ok(&rest[..n])
            }
            None => Err(PErr::Incomplete),
        }
    }

    /// A word of letters, digits, `.`, `-`, `=` (keyword-like tokens).
    #[inline]
    pub(crate) fn word(&mut self) -> R<&'a [u8]> {
        let w = self.take_while(|c| is(c, C_WORD))?;
        if w.is_empty() {
            return self.fail("a keyword");
        }
        Ok(w)
    }

    /// Matches `kw` (upper case ASCII) case-insensitively.
    // Always inlined: `key(kw)` then folds to a constant (measured: out of line, computing it
    // cost more than the comparison it replaces).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn kw(&mut self, kw: &'static [u8]) -> R<()> {
        let rest = &self.b[self.i..];
        // The common case in one comparison of keys (`key(kw)` folds to a constant).
        if key_fits(kw.len(), rest.len()) && key_at(rest, kw.len()) == key(kw) {
            self.i += kw.len();
            return Ok(());
        }
        let n = kw.len().min(rest.len());
        if !rest[..n].eq_ignore_ascii_case(&kw[..n]) {
            return Err(PErr::Fail {
                offset: self.i,
                expected: std::str::from_utf8(kw).unwrap_or("keyword"),
            });
        }
        if n < kw.len() {
            return Err(PErr::Incomplete);
        }
        self.i += kw.len();
        Ok(())
    }

    /// Whether `kw` comes next (case-insensitive), without consuming; `Incomplete` if the
    /// input ends inside a matching prefix.
    #[allow(clippy::inline_always)] // as `kw`: `key(kw)` folds to a constant
    #[inline(always)]
    pub(crate) fn looking_at(&self, kw: &[u8]) -> R<bool> {
        let rest = &self.b[self.i..];
        if key_fits(kw.len(), rest.len()) {
            return Ok(key_at(rest, kw.len()) == key(kw));
        }
        let n = kw.len().min(rest.len());
        if !rest[..n].eq_ignore_ascii_case(&kw[..n]) {
            return Ok(false);
        }
        if n < kw.len() {
            return Err(PErr::Incomplete);
        }
        Ok(true)
    }

    #[inline]
    pub(crate) fn digits(&mut self) -> R<&'a [u8]> {
        let d = self.take_while(|c| c.is_ascii_digit())?;
        if d.is_empty() {
            return self.fail("a number");
        }
        Ok(d)
    }

    #[inline]
    pub(crate) fn number(&mut self) -> R<u32> {
        let start = self.i;
        let d = self.digits()?;
        let mut v: u32 = 0;
        for &c in d {
            v = match v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u32::from(c - b'0')))
            {
                Some(v) => v,
                None => {
                    return Err(PErr::Fail {
                        offset: start,
                        expected: "a 32-bit number",
                    });
                }
            };
        }
        Ok(v)
    }

    pub(crate) fn number64(&mut self) -> R<u64> {
        let start = self.i;
        let d = self.digits()?;
        let mut v: u64 = 0;
        for &c in d {
            v = match v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
            {
                // number64 is limited to 2^63-1 (RFC 9051 §9).
                Some(v) if i64::try_from(v).is_ok() => v,
                _ => {
                    return Err(PErr::Fail {
                        offset: start,
                        expected: "a 63-bit number",
                    });
                }
            };
        }
        Ok(v)
    }

    #[inline]
    pub(crate) fn nz_number(&mut self) -> R<NonZeroU32> {
        let start = self.i;
        let n = self.number()?;
        NonZeroU32::new(n).ok_or(PErr::Fail {
            offset: start,
            expected: "a non-zero number",
        })
    }

    pub(crate) fn nz_number64(&mut self) -> R<NonZeroU64> {
        let start = self.i;
        let n = self.number64()?;
        NonZeroU64::new(n).ok_or(PErr::Fail {
            offset: start,
            expected: "a non-zero number",
        })
    }

    #[inline]
    pub(crate) fn tag(&mut self) -> R<Tag<'a>> {
        let t = self.run(C_TAG, "a tag")?;
        Ok(Tag::unvalidated(ascii(t)))
    }

    #[inline]
    pub(crate) fn atom(&mut self) -> R<Atom<'a>> {
        let a = self.run(C_ATOM, "an atom")?;
        Ok(Atom::unvalidated(ascii(a)))
    }

    /// Rest of the line as text (no CRLF consumed). Invalid UTF-8 is replaced: the text is
    /// free-form and never interpreted (IMAP-025).
    /// Returns the bytes, not yet checked for UTF-8 (see [`text_of`]).
    pub(crate) fn text_bytes(&mut self) -> R<&'a [u8]> {
        const ONES: u64 = u64::MAX / 0xff;
        let rest = &self.b[self.i..];
        // One pass for the line end and NUL: eight bytes at a time while none is below 0x0e
        // (CR, LF and NUL are; so are a few other controls, which the byte step passes).
        // Texts are short, so this beats two vectorized searches' setup.
        let mut j = 0;
        let n = loop {
            while let Some(w) = rest.get(j..j + 8) {
                let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
                let m = x.wrapping_sub(ONES * 0x0e) & !x & (ONES * 0x80);
                if m != 0 {
                    j += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                j += 8;
            }
            match rest.get(j) {
                None => return Err(PErr::Incomplete),
                Some(b'\r' | b'\n') => break j,
                Some(0) => return self.fail("text without NUL"),
                Some(_) => j += 1,
            }
        };
        self.i += n;
        Ok(&rest[..n])
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; UTF-8 allowed (RFC 9051).
    #[inline]
    pub(crate) fn quoted(&mut self) -> R<IString<'a>> {
        self.byte(b'"', "DQUOTE")?;
        let body = self.i;
        let rest = &self.b[body..];
        // One scalar pass: quoted strings are short, so a table-driven loop beats a
        // vectorized search's setup. Escapes force a copy; everything else borrows.
        let mut owned: Option<Vec<u8>> = None;
        let mut seg = 0;
        let mut high = false;
        let mut j = 0;
        loop {
            // Skip plain bytes quickly: eight at a time while a whole word is plain, then
            // byte by byte up to the byte that needs attention.
            let mut found = false;
            while let Some(w) = rest.get(j..j + 8) {
                let m = quoted_attention(u64::from_le_bytes([
                    w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
                ]));
                if m != 0 {
                    j += (m.trailing_zeros() / 8) as usize;
                    found = true;
                    break;
                }
                j += 8;
            }
            if !found {
                while j < rest.len() && QUOTED_PLAIN[rest[j] as usize] {
                    j += 1;
                }
            }
            let Some(&c) = rest.get(j) else {
                break;
            };
            match c {
                b'"' => {
                    let raw = &rest[seg..j];
                    if high && std::str::from_utf8(raw).is_err() {
                        return Err(PErr::Fail {
                            offset: body + seg,
                            expected: "UTF-8 in a quoted string",
                        });
                    }
                    self.i = body + j + 1;
                    return Ok(match owned {
                        None => IString::unvalidated(raw, StrForm::Quoted),
                        Some(mut v) => {
                            v.extend_from_slice(raw);
                            if high && std::str::from_utf8(&v).is_err() {
                                return Err(PErr::Fail {
                                    offset: body,
                                    expected: "UTF-8 in a quoted string",
                                });
                            }
                            IString::unvalidated_owned(v, StrForm::Quoted)
                        }
                    });
                }
                b'\\' => {
                    let Some(&esc) = rest.get(j + 1) else {
                        return Err(PErr::Incomplete);
                    };
                    if esc != b'"' && esc != b'\\' {
                        return Err(PErr::Fail {
                            offset: body + j + 1,
                            expected: "\\\" or \\\\",
                        });
                    }
                    let v = owned.get_or_insert_with(Vec::new);
                    v.extend_from_slice(&rest[seg..j]);
                    v.push(esc);
                    j += 2;
                    seg = j;
                    continue;
                }
                0 | b'\r' | b'\n' => {
                    return Err(PErr::Fail {
                        offset: body + j,
                        expected: "QUOTED-CHAR",
                    });
                }
                _ => high |= c >= 0x80,
            }
            j += 1;
        }
        Err(PErr::Incomplete)
    }

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (also `~{` literal8 when `binary`).
    /// Returns the data, the mode, and whether it was a literal8.
    pub(crate) fn literal_any(&mut self, allow8: bool) -> R<(&'a [u8], LiteralMode, bool)> {
        let binary = if self.peek()? == b'~' {
            if !allow8 {
                return self.fail("a literal");
            }
            self.i += 1;
            true
        } else {
            false
        };
        self.byte(b'{', "{")?;
        let length = self.number()?;
        let mode = if self.eat(b'+')? {
            LiteralMode::NonSync
        } else {
            LiteralMode::Sync
        };
        self.byte(b'}', "}")?;
        self.crlf()?;
        let avail = self.b.len() - self.i;
        if (avail as u64) < u64::from(length) {
            return Err(if avail == 0 {
                PErr::Literal { length, mode }
            } else {
                PErr::Incomplete
            });
        }
        let data = &self.b[self.i..self.i + length as usize];
        if !binary && memchr::memchr(0, data).is_some() {
            return self.fail("a literal without NUL (use literal8)");
        }
        self.i += length as usize;
        Ok((data, mode, binary))
    }

    #[inline]
    pub(crate) fn literal(&mut self) -> R<IString<'a>> {
        let (data, mode, _) = self.literal_any(false)?;
        Ok(IString::unvalidated(data, StrForm::Literal(mode)))
    }

    /// `string = quoted / literal`
    #[inline]
    pub(crate) fn string(&mut self) -> R<IString<'a>> {
        match self.peek()? {
            b'"' => self.quoted(),
            b'{' => self.literal(),
            _ => self.fail("a string"),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`
    #[inline]
    pub(crate) fn astring(&mut self) -> R<IString<'a>> {
        match self.peek()? {
            b'"' => self.quoted(),
            b'{' => self.literal(),
            _ => {
                let a = self.run(C_ASTRING, "an astring")?;
                Ok(IString::unvalidated(a, StrForm::Atom))
            }
        }
    }

    /// `nil` (case-insensitive), followed by a non-atom byte.
    #[inline]
    pub(crate) fn is_nil(&self) -> R<bool> {
        // `c | 0x20` equals a lower-case letter only for that letter and its upper case.
        if let Some(&[a, b, c, d]) = self.b.get(self.i..self.i + 4) {
            return Ok(a | 0x20 == b'n'
                && b | 0x20 == b'i'
                && c | 0x20 == b'l'
                && !is(d, C_ASTRING));
        }
        if !self.looking_at(b"NIL")? {
            return Ok(false);
        }
        match self.b.get(self.i + 3) {
            None => Err(PErr::Incomplete),
            Some(&c) => Ok(!is(c, C_ASTRING)),
        }
    }

    /// `nstring = string / nil`
    #[inline]
    pub(crate) fn nstring(&mut self) -> R<Option<IString<'a>>> {
        match self.peek()? {
            b'"' => return self.quoted().map(Some),
            b'{' => return self.literal().map(Some),
            _ => {}
        }
        if self.is_nil()? {
            self.i += 3;
            return Ok(None);
        }
        self.string().map(Some)
    }

    pub(crate) fn mailbox(&mut self) -> R<Mailbox<'a>> {
        self.astring().map(Mailbox::new)
    }

    /// `list-mailbox = 1*list-char / string`
    pub(crate) fn list_mailbox(&mut self) -> R<ListMailbox<'a>> {
        match self.peek()? {
            b'"' | b'{' => self.string().map(ListMailbox::new),
            _ => {
                let a = self.run(C_LIST, "a list pattern")?;
                Ok(ListMailbox::new(IString::unvalidated(a, StrForm::Atom)))
            }
        }
    }

    /// `"(" [x *(SP x)] ")"`
    pub(crate) fn paren_list<T>(&mut self, mut item: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        self.byte(b'(', "(")?;
        if self.eat(b')')? {
            return Ok(Vec::new());
        }
        // Most lists are short: one allocation up front instead of growing from empty
        // (FETCH items, PERMANENTFLAGS and flag lists often hold five to eight).
        let mut v = Vec::with_capacity(8);
        loop {
            v.push(item(self)?);
            match self.peek()? {
                b' ' => {
                    self.i += 1;
                    if self.opts.quirk_trailing_space && self.peek()? == b')' {
                        self.i += 1;
                        return Ok(v);
                    }
                }
                b')' => {
                    self.i += 1;
                    return Ok(v);
                }
                _ => return self.fail("SP or )"),
            }
        }
    }

    /// A non-empty parenthesized list.
    pub(crate) fn paren_list1<T>(
        &mut self,
        item: impl FnMut(&mut Self) -> R<T>,
    ) -> R<crate::types::core::Vec1<T>> {
        let start = self.i;
        let v = self.paren_list(item)?;
        crate::types::core::Vec1::try_from(v).map_err(|_| PErr::Fail {
            offset: start,
            expected: "a non-empty list",
        })
    }

    /// The atom after a `\`: a system flag, an extension flag, or `Err(())` for `\Recent`
    /// (which only FETCH FLAGS may carry). One pass: the name is matched by its key.
    #[inline]
    fn backslash_flag(&mut self) -> R<Result<Flag<'a>, ()>> {
        // The system flags are at most eight bytes: with nine bytes at hand, compare the
        // upper-cased eight-byte word against each name (masked to its length) and check that
        // the atom ends there, without scanning the atom first.
        if let Some(w) = self.b.get(self.i..self.i + 9) {
            let x = upcase8(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]));
            // `x` masked to the name's length equals the name's key (both constant), and
            // the atom ends after it.
            macro_rules! is_name {
                ($name:literal) => {{
                    const N: usize = $name.len();
                    const M: u64 = if N == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * N)) - 1
                    };
                    #[allow(clippy::cast_possible_truncation)] // at most eight bytes
                    const K: u64 = key($name) as u64;
                    x & M == K && !is(w[N], C_ATOM)
                }};
            }
            let flag = if is_name!(b"SEEN") {
                Some((4, Flag::Seen))
            } else if is_name!(b"ANSWERED") {
                Some((8, Flag::Answered))
            } else if is_name!(b"FLAGGED") {
                Some((7, Flag::Flagged))
            } else if is_name!(b"DELETED") {
                Some((7, Flag::Deleted))
            } else if is_name!(b"DRAFT") {
                Some((5, Flag::Draft))
            } else if is_name!(b"RECENT") {
                self.i += 6;
                return Ok(Err(()));
            } else {
                None
            };
            if let Some((n, f)) = flag {
                self.i += n;
                return Ok(Ok(f));
            }
        }
        let (raw, k) = self.run_key(C_ATOM, "an atom")?;
        Ok(Ok(kw_match!(k, {
            b"SEEN" => Flag::Seen,
            b"ANSWERED" => Flag::Answered,
            b"FLAGGED" => Flag::Flagged,
            b"DELETED" => Flag::Deleted,
            b"DRAFT" => Flag::Draft,
            b"RECENT" => return Ok(Err(())),
            _ => Flag::Extension(Atom::unvalidated(ascii(raw))),
        })))
    }

    /// `flag`: `\Answered` ... / `\atom` / keyword atom. `\*` and `\Recent` are not flags.
    pub(crate) fn flag(&mut self) -> R<Flag<'a>> {
        if self.eat(b'\\')? {
            match self.backslash_flag()? {
                Ok(f) => Ok(f),
                Err(()) => self.fail("a flag other than \\Recent"),
            }
        } else {
            Ok(Flag::Keyword(self.atom()?))
        }
    }

    pub(crate) fn flag_fetch(&mut self) -> R<FlagFetch<'a>> {
        if self.eat(b'\\')? {
            return Ok(match self.backslash_flag()? {
                Ok(f) => FlagFetch::Flag(f),
                Err(()) => FlagFetch::Recent,
            });
        }
        Ok(FlagFetch::Flag(Flag::Keyword(self.atom()?)))
    }

    pub(crate) fn flag_perm(&mut self) -> R<FlagPerm<'a>> {
        if self.looking_at(b"\\*")? {
            self.i += 2;
            return Ok(FlagPerm::Asterisk);
        }
        Ok(FlagPerm::Flag(self.flag()?))
    }

    /// `\` and a mailbox attribute, matched by key (the same names as
    /// [`MailboxAttr::from_name`]).
    pub(crate) fn mailbox_attr(&mut self) -> R<MailboxAttr<'a>> {
        self.byte(b'\\', "\\")?;
        let (raw, k) = self.run_key(C_ATOM, "an atom")?;
        Ok(kw_match!(k, {
            b"NOSELECT" => MailboxAttr::Noselect,
            b"NOINFERIORS" => MailboxAttr::NoInferiors,
            b"MARKED" => MailboxAttr::Marked,
            b"UNMARKED" => MailboxAttr::Unmarked,
            b"HASCHILDREN" => MailboxAttr::HasChildren,
            b"HASNOCHILDREN" => MailboxAttr::HasNoChildren,
            b"NONEXISTENT" => MailboxAttr::NonExistent,
            b"SUBSCRIBED" => MailboxAttr::Subscribed,
            b"REMOTE" => MailboxAttr::Remote,
            b"ALL" => MailboxAttr::All,
            b"ARCHIVE" => MailboxAttr::Archive,
            b"DRAFTS" => MailboxAttr::Drafts,
            b"FLAGGED" => MailboxAttr::Flagged,
            b"JUNK" => MailboxAttr::Junk,
            b"SENT" => MailboxAttr::Sent,
            b"TRASH" => MailboxAttr::Trash,
            b"IMPORTANT" => MailboxAttr::Important,
            _ => MailboxAttr::Extension(Atom::unvalidated(ascii(raw))),
        }))
    }

    /// `seq-number = nz-number / "*"`
    fn seq_num(&mut self, allow_star: bool) -> R<SeqNum> {
        if allow_star && self.eat(b'*')? {
            return Ok(SeqNum::Largest);
        }
        Ok(SeqNum::Value(self.nz_number()?))
    }

    /// `sequence-set`; `$` if `allow_saved`; `*` if `allow_star`.
    pub(crate) fn sequence_set(&mut self, allow_star: bool, allow_saved: bool) -> R<SequenceSet> {
        if allow_saved && self.eat(b'$')? {
            return Ok(SequenceSet::Saved);
        }
        let mut v = Vec::new();
        loop {
            let a = self.seq_num(allow_star)?;
            let item = if self.eat(b':')? {
                Sequence::Range(a, self.seq_num(allow_star)?)
            } else {
                Sequence::Single(a)
            };
            v.push(item);
            if !self.eat(b',')? {
                break;
            }
        }
        Ok(SequenceSet::Set(crate::types::core::Vec1::unvalidated(v)))
    }

    fn two_digits(&mut self) -> R<u8> {
        let a = self.peek()?;
        self.i += 1;
        let b = self.peek()?;
        self.i += 1;
        if !a.is_ascii_digit() || !b.is_ascii_digit() {
            self.i -= 2;
            return self.fail("two digits");
        }
        Ok((a - b'0') * 10 + (b - b'0'))
    }

    fn month(&mut self) -> R<u8> {
        if self.b.len() < self.i + 3 {
            return Err(PErr::Incomplete);
        }
        let m = &self.b[self.i..self.i + 3];
        for (k, name) in MONTHS.iter().enumerate() {
            if m.eq_ignore_ascii_case(name.as_bytes()) {
                self.i += 3;
                return Ok(k as u8 + 1);
            }
        }
        self.fail("a month")
    }

    fn year(&mut self) -> R<u16> {
        let a = u16::from(self.two_digits()?);
        let b = u16::from(self.two_digits()?);
        Ok(a * 100 + b)
    }

    /// `date-time` (with the quotes).
    pub(crate) fn date_time(&mut self) -> R<DateTime> {
        let start = self.i;
        self.byte(b'"', "DQUOTE")?;
        // date-day-fixed = (SP DIGIT) / 2DIGIT
        let day = if self.eat(b' ')? {
            let d = self.peek()?;
            if !d.is_ascii_digit() {
                return self.fail("a digit");
            }
            self.i += 1;
            d - b'0'
        } else {
            self.two_digits()?
        };
        self.byte(b'-', "-")?;
        let month = self.month()?;
        self.byte(b'-', "-")?;
        let year = self.year()?;
        self.sp()?;
        let h = self.two_digits()?;
        self.byte(b':', ":")?;
        let m = self.two_digits()?;
        self.byte(b':', ":")?;
        let s = self.two_digits()?;
        self.sp()?;
        let sign = self.peek()?;
        if sign != b'+' && sign != b'-' {
            return self.fail("+ or -");
        }
        self.i += 1;
        let zh = i16::from(self.two_digits()?);
        let zm = i16::from(self.two_digits()?);
        self.byte(b'"', "DQUOTE")?;
        let mut off = zh * 60 + zm;
        if sign == b'-' {
            off = -off;
        }
        let date = Date::new(year, month, day).map_err(|_| PErr::Fail {
            offset: start,
            expected: "a valid date",
        })?;
        DateTime::new(date, h, m, s, off).map_err(|_| PErr::Fail {
            offset: start,
            expected: "a valid date-time",
        })
    }

    /// `date = date-text / DQUOTE date-text DQUOTE`, `date-text = date-day "-" date-month "-"
    /// date-year`, `date-day = 1*2DIGIT`.
    pub(crate) fn date(&mut self) -> R<Date> {
        let start = self.i;
        let quoted = self.eat(b'"')?;
        let d = self.digits()?;
        if d.len() > 2 {
            return self.fail("a day");
        }
        let day = d.iter().fold(0u8, |a, &c| a * 10 + (c - b'0'));
        self.byte(b'-', "-")?;
        let month = self.month()?;
        self.byte(b'-', "-")?;
        let year = self.year()?;
        if quoted {
            self.byte(b'"', "DQUOTE")?;
        }
        Date::new(year, month, day).map_err(|_| PErr::Fail {
            offset: start,
            expected: "a valid date",
        })
    }

    /// A quoted single character or NIL (hierarchy delimiter).
    pub(crate) fn delimiter(&mut self) -> R<Option<char>> {
        if self.is_nil()? {
            self.i += 3;
            return Ok(None);
        }
        let start = self.i;
        let s = self.quoted()?;
        let b = s.as_bytes();
        let c = std::str::from_utf8(b).ok().and_then(|s| {
            let mut it = s.chars();
            let c = it.next()?;
            it.next().is_none().then_some(c)
        });
        c.map(Some).ok_or(PErr::Fail {
            offset: start,
            expected: "one quoted character",
        })
    }

    /// Charset: atom or quoted string (`charset = atom / quoted`).
    pub(crate) fn charset(&mut self) -> R<IString<'a>> {
        if self.peek()? == b'"' {
            self.quoted()
        } else {
            let a = self.run(C_ATOM, "a charset")?;
            Ok(IString::unvalidated(a, StrForm::Atom))
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }
}

/// A mask whose lowest set bit is the top bit of the first byte of `x` (little-endian) that
/// may need attention inside a quoted string: `"`, `\\`, any byte below 0x20 (CR, LF and NUL
/// among them) or from 0x80 on. Higher set bits may be false positives (borrows); the lowest
/// is exact, and zero means all eight bytes are plain.
#[inline]
fn quoted_attention(x: u64) -> u64 {
    const ONES: u64 = u64::MAX / 0xff;
    const HIGH: u64 = ONES * 0x80;
    let q = x ^ (ONES * u64::from(b'"'));
    let bs = x ^ (ONES * u64::from(b'\\'));
    let zero_q = q.wrapping_sub(ONES) & !q;
    let zero_bs = bs.wrapping_sub(ONES) & !bs;
    let ctl = x.wrapping_sub(ONES * 0x20) & !x;
    (zero_q | zero_bs | ctl | x) & HIGH
}

/// Bytes that need no attention inside a quoted string: 7-bit, not `"`, `\\`, CR, LF, NUL.
static QUOTED_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 1;
    while i < 0x80 {
        t[i] = !(i == b'"' as usize
            || i == b'\\' as usize
            || i == b'\r' as usize
            || i == b'\n' as usize);
        i += 1;
    }
    t
};

/// Text from its bytes: borrowed when UTF-8, else with the invalid parts replaced.
#[inline]
pub(crate) fn text_of(t: &[u8]) -> Text<'_> {
    match std::str::from_utf8(t) {
        Ok(s) => Text::unvalidated(s),
        Err(_) => Text(Cow::Owned(String::from_utf8_lossy(t).into_owned())),
    }
}

/// The bytes of a run already checked to be 7-bit.
#[inline]
pub(crate) fn ascii(b: &[u8]) -> &str {
    debug_assert!(b.is_ascii());
    std::str::from_utf8(b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(b: &[u8]) -> P<'_> {
        P::new(b, DecodeOptions::default())
    }

    #[test]
    fn key_at_agrees_with_key() {
        // Every byte value at every position, short and long buffers.
        for len in 0..=17usize {
            for b in 0..=255u8 {
                for pos in 0..len {
                    let mut w: Vec<u8> = (0..len).map(|i| b"aZ-9.q`{@["[i % 10]).collect();
                    w[pos] = b;
                    let mut long = w.clone();
                    long.extend_from_slice(b" trailing bytes after the word");
                    assert_eq!(key_at(&w, len), key(&w), "{w:?}");
                    assert_eq!(key_at(&long, len), key(&w), "{w:?}");
                }
            }
        }
    }

    /// The word-at-a-time scan in `quoted` agrees with a byte-by-byte reading of the grammar
    /// for every byte value at every position of strings around the word size.
    #[test]
    fn quoted_scan_agrees_with_bytewise_reading() {
        // Err(true): the input ends inside the string.
        fn reference(body: &[u8]) -> Result<Vec<u8>, bool> {
            let mut out = Vec::new();
            let mut it = body.iter();
            while let Some(&c) = it.next() {
                match c {
                    b'"' => return Ok(out),
                    b'\\' => match it.next() {
                        Some(&e @ (b'"' | b'\\')) => out.push(e),
                        Some(_) => return Err(false),
                        None => return Err(true),
                    },
                    0 | b'\r' | b'\n' => return Err(false),
                    _ => out.push(c),
                }
            }
            Err(true)
        }
        for len in 0..=19usize {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut body: Vec<u8> = (0..len).map(|i| b"abc XYZ-09"[i % 10]).collect();
                    body[pos] = b;
                    body.extend_from_slice(b"\" tail");
                    let mut wire = vec![b'"'];
                    wire.extend_from_slice(&body);
                    let want = reference(&body);
                    let got = p(&wire).quoted();
                    match (&want, &got) {
                        (Ok(w), Ok(g)) if std::str::from_utf8(w).is_ok() => {
                            assert_eq!(g.as_bytes(), &w[..], "{wire:?}");
                        }
                        // Not UTF-8 (a lone high byte), or broken: both refuse.
                        (Ok(_) | Err(false), Err(PErr::Fail { .. }))
                        | (Err(true), Err(PErr::Incomplete)) => {}
                        _ => panic!("{wire:?}: {want:?} vs {got:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn keyword_keys() {
        // Case-insensitive, exact length, 16 bytes at most.
        assert_eq!(key(b"select"), key(b"SELECT"));
        assert_ne!(key(b"SELECT"), key(b"SELECTX"));
        assert_ne!(key(b"SELEC"), key(b"SELECT"));
        assert_eq!(key(b"ABCDEFGHIJKLMNOP"), key(b"abcdefghijklmnop"));
        assert_ne!(key(b"ABCDEFGHIJKLMNOP"), 0);
        assert_eq!(key(b"ABCDEFGHIJKLMNOPQ"), 0);
        // The scanners build the same key and refuse longer words as keys.
        assert_eq!(
            p(b"uidNext)").run_key(C_ATOM, "x").unwrap(),
            (&b"uidNext"[..], key(b"UIDNEXT"))
        );
        assert_eq!(
            p(b"STATUSSTATUSSTATUS ").word_key().unwrap(),
            (&b"STATUSSTATUSSTATUS"[..], 0)
        );
        assert_eq!(p(b"FLAGS").word_key(), Err(PErr::Incomplete));
        // A word that starts like a keyword is not that keyword.
        assert_eq!(
            p(b"\\SeenSeenSeenSeenSeen ").flag().unwrap(),
            Flag::Extension(Atom::unvalidated("SeenSeenSeenSeenSeen"))
        );
        assert_eq!(p(b"\\sEEN ").flag().unwrap(), Flag::Seen);
        assert!(matches!(p(b"\\recent ").flag(), Err(PErr::Fail { .. })));
        assert_eq!(p(b"\\Recent)").flag_fetch().unwrap(), FlagFetch::Recent);
        // With nine bytes at hand the system flags are matched without a scan: a name
        // followed by more atom bytes is an extension flag, any other byte ends it.
        let sys = [
            ("Seen", Flag::Seen),
            ("answered", Flag::Answered),
            ("FLAGGED", Flag::Flagged),
            ("deleteD", Flag::Deleted),
            ("Draft", Flag::Draft),
        ];
        for (name, flag) in sys {
            for end in [" ", ")", "]", "\r", "(", "{"] {
                let wire = format!("\\{name}{end} and more");
                let mut q = p(wire.as_bytes());
                assert_eq!(q.flag().unwrap(), flag, "{wire}");
                assert_eq!(q.i, 1 + name.len(), "{wire}");
            }
            for more in ["x", "+", "1", "-", "."] {
                let wire = format!("\\{name}{more} and more");
                let ext = format!("{name}{more}");
                assert_eq!(
                    p(wire.as_bytes()).flag().unwrap(),
                    Flag::Extension(Atom::unvalidated(&ext)),
                    "{wire}"
                );
            }
        }
        assert_eq!(
            p(b"\\RECENT and more").flag_fetch().unwrap(),
            FlagFetch::Recent
        );
        assert!(matches!(
            p(b"\\Recent and more").flag(),
            Err(PErr::Fail { .. })
        ));
        assert_eq!(
            p(b"\\Recently and more").flag().unwrap(),
            Flag::Extension(Atom::unvalidated("Recently"))
        );
        assert_eq!(
            p(b"\\hasnochildren)").mailbox_attr().unwrap(),
            MailboxAttr::HasNoChildren
        );
    }

    #[test]
    fn primitives() {
        assert_eq!(p(b"123 ").number(), Ok(123));
        assert_eq!(p(b"123").number(), Err(PErr::Incomplete));
        assert!(matches!(
            p(b"99999999999 ").number(),
            Err(PErr::Fail { .. })
        ));
        assert_eq!(p(b"\"a\\\"b\" ").quoted().unwrap().as_bytes(), b"a\"b");
        assert_eq!(p(b"\"ab").quoted(), Err(PErr::Incomplete));
        assert!(matches!(p(b"\"a\rb\"").quoted(), Err(PErr::Fail { .. })));
        assert!(matches!(p(b"\"a\\nb\"").quoted(), Err(PErr::Fail { .. })));
        assert_eq!(p(b"{3}\r\nabc").literal().unwrap().as_bytes(), b"abc");
        assert_eq!(
            p(b"{3}\r\n").literal(),
            Err(PErr::Literal {
                length: 3,
                mode: LiteralMode::Sync
            })
        );
        assert_eq!(p(b"{3+}\r\na").literal(), Err(PErr::Incomplete));
        assert!(matches!(
            p(b"{3}\r\na\0c").literal(),
            Err(PErr::Fail { .. })
        ));
        assert_eq!(p(b"NIL ").nstring(), Ok(None));
        assert_eq!(p(b"NILS ").astring().unwrap().as_bytes(), b"NILS");
        assert_eq!(p(b"NI").nstring(), Err(PErr::Incomplete));
        let d = p(b"\"17-Jul-1996 02:44:25 -0700\"").date_time().unwrap();
        assert_eq!(d.to_wire(), "17-Jul-1996 02:44:25 -0700");
        let d = p(b"\" 7-Feb-1994 21:52:25 -0800\"").date_time().unwrap();
        assert_eq!(d.date().day(), 7);
        assert!(p(b"\"31-Feb-1994 21:52:25 -0800\"").date_time().is_err());
        assert_eq!(p(b"1-Feb-1994 ").date().unwrap().day(), 1);
        let s = p(b"1:*,3 ").sequence_set(true, true).unwrap();
        assert!(p(b"1,$ ").sequence_set(true, true).is_err());
        assert_eq!(s.items().unwrap().len(), 2);
        assert_eq!(p(b"$ ").sequence_set(true, true), Ok(SequenceSet::Saved));
        assert!(p(b"0 ").sequence_set(true, true).is_err());
    }
}
