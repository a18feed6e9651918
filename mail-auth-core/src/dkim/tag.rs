//! Tag=value lists (RFC 6376 §3.2), the syntax of DKIM-Signature, key records and the ARC
//! header fields.
//!
//! ```text
//! tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//! tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//! tag-name  =  ALPHA *ALNUMPUNC          ; ALNUMPUNC = ALPHA / DIGIT / "_"
//! tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//! tval      =  1*VALCHAR                 ; VALCHAR = %x21-3A / %x3C-7E
//! ```
//!
//! Tag names are case-sensitive, a name may appear only once, and the parser keeps the
//! byte ranges of every value so a verifier can blank out `b=` in the raw header field.
//! Octets of 0x80 and above are accepted inside values (RFC 8616 allows UTF-8 in `i=`).

use std::ops::Range;

/// Why a tag list does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagError {
    /// A tag name is missing or does not match `ALPHA *ALNUMPUNC`.
    BadName {
        /// Byte offset in the list.
        at: usize,
    },
    /// A tag has no `=`.
    MissingEquals {
        /// Byte offset in the list.
        at: usize,
    },
    /// A value contains an octet outside VALCHAR and whitespace.
    BadValue {
        /// Byte offset in the list.
        at: usize,
    },
    /// The same tag name appears twice (RFC 6376 §3.2: an error).
    Duplicate(String),
    /// More tags than the parser accepts ([`MAX_TAGS`]).
    TooManyTags,
}

impl std::fmt::Display for TagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadName { at } => write!(f, "bad tag name at offset {at}"),
            Self::MissingEquals { at } => write!(f, "tag without '=' at offset {at}"),
            Self::BadValue { at } => write!(f, "bad octet in tag value at offset {at}"),
            Self::Duplicate(n) => write!(f, "duplicate tag {n}="),
            Self::TooManyTags => write!(f, "more than {MAX_TAGS} tags"),
        }
    }
}

impl std::error::Error for TagError {}

/// The most tags one list may hold; real records have fewer than 20.
pub const MAX_TAGS: usize = 64;

/// One `name=value` of a tag list, borrowed from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    /// The tag name.
    pub name: &'a [u8],
    /// The value without the whitespace around it (inner folding whitespace is kept).
    pub value: &'a [u8],
    /// Where `value` sits in the input.
    pub value_range: Range<usize>,
    /// Everything between `=` and the `;` that ends the tag (or the end of input): the
    /// value with its surrounding whitespace, the part a verifier blanks for `b=`.
    pub raw_range: Range<usize>,
}

impl Tag<'_> {
    /// The name as text (tag names are ASCII by construction).
    pub fn name_str(&self) -> &str {
        std::str::from_utf8(self.name).unwrap_or("")
    }
}

fn is_wsp(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_wsp(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_wsp(s[i]) {
        i += 1;
    }
    i
}

/// Parses a tag list.
pub fn parse(input: &[u8]) -> Result<Vec<Tag<'_>>, TagError> {
    let mut tags: Vec<Tag<'_>> = Vec::new();
    let mut i = 0;
    loop {
        i = skip_wsp(input, i);
        if i == input.len() {
            // Empty list, or a trailing ";" (with optional whitespace) after the last tag.
            return Ok(tags);
        }
        if tags.len() == MAX_TAGS {
            return Err(TagError::TooManyTags);
        }
        let name_start = i;
        if !input[i].is_ascii_alphabetic() {
            return Err(TagError::BadName { at: i });
        }
        while i < input.len() && (input[i].is_ascii_alphanumeric() || input[i] == b'_') {
            i += 1;
        }
        let name = &input[name_start..i];
        i = skip_wsp(input, i);
        match input.get(i) {
            Some(b'=') => i += 1,
            Some(_) if i > name_start && !is_wsp(input[i - 1]) => {
                return Err(TagError::BadName { at: i });
            }
            _ => return Err(TagError::MissingEquals { at: i }),
        }
        let raw_start = i;
        // The value runs to the next ';' (found with memchr), then is checked in one pass:
        // a p= or b= value is hundreds of octets.
        let end = memchr::memchr(b';', &input[raw_start..]).map_or(input.len(), |p| raw_start + p);
        if let Some(p) = input[raw_start..end]
            .iter()
            .position(|&b| !(is_wsp(b) || (0x21..=0x7e).contains(&b) || b >= 0x80))
        {
            return Err(TagError::BadValue { at: raw_start + p });
        }
        let v_start = skip_wsp(input, raw_start);
        let mut v_end = end;
        while v_end > v_start && is_wsp(input[v_end - 1]) {
            v_end -= 1;
        }
        if tags.iter().any(|t| t.name == name) {
            return Err(TagError::Duplicate(
                String::from_utf8_lossy(name).into_owned(),
            ));
        }
        tags.push(Tag {
            name,
            value: &input[v_start..v_end],
            value_range: v_start..v_end,
            raw_range: raw_start..end,
        });
        if end == input.len() {
            return Ok(tags);
        }
        i = end + 1;
    }
}

/// Removes all whitespace (for base64 values such as `b=`, `bh=` and `p=`, which may be
/// folded anywhere).
pub fn strip_wsp(v: &[u8]) -> Vec<u8> {
    v.iter().copied().filter(|&b| !is_wsp(b)).collect()
}

/// Decodes a base64 value that may contain folding whitespace.
pub fn base64_value(v: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let clean = strip_wsp(v);
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

/// Splits a colon-separated list (`h=`, `k=`-style lists use `:`), trimming whitespace
/// around each element. An empty element is returned as an empty slice.
pub fn colon_list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b':').map(|e| {
        let s = skip_wsp(e, 0);
        let mut t = e.len();
        while t > s && is_wsp(e[t - 1]) {
            t -= 1;
        }
        &e[s..t]
    })
}

/// Parses a decimal number of at most 12 digits (the ABNF limit for `t=`, `x=` and `l=`
/// is 76 digits; anything past 12 digits is beyond every clock and body this crate takes,
/// so it is refused rather than silently wrapped).
pub fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 12 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|t| {
                (
                    String::from_utf8(t.name.to_vec()).unwrap(),
                    String::from_utf8(t.value.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn basic_lists() {
        assert_eq!(
            pairs("v=1; a=rsa-sha256;\r\n\td = example.org ;"),
            [("v", "1"), ("a", "rsa-sha256"), ("d", "example.org")]
                .map(|(a, b)| (a.into(), b.into()))
        );
        assert!(pairs("").is_empty());
        assert!(matches!(parse(b"  ; "), Err(TagError::BadName { .. })));
        assert_eq!(pairs("a=1; ").len(), 1);
        assert_eq!(pairs("n=a b  c")[0].1, "a b  c");
        assert_eq!(pairs("p=")[0].1, "");
    }

    #[test]
    fn errors() {
        assert!(matches!(parse(b"a=1; a=2"), Err(TagError::Duplicate(_))));
        assert!(matches!(parse(b"1a=1"), Err(TagError::BadName { .. })));
        assert!(parse(b"a b=1").is_err());
        assert!(matches!(parse(b"ab"), Err(TagError::MissingEquals { .. })));
        assert!(matches!(parse(b"a=1;;b=2"), Err(TagError::BadName { .. })));
        assert!(matches!(parse(b"a=\x01"), Err(TagError::BadValue { .. })));
        // Tag names are case-sensitive: A and a are two tags.
        assert_eq!(pairs("a=1; A=2").len(), 2);
    }

    #[test]
    fn raw_range_covers_surrounding_whitespace() {
        let s = b"b= abc \r\n def ; c=1";
        let t = parse(s).unwrap();
        assert_eq!(&s[t[0].raw_range.clone()], b" abc \r\n def ");
        assert_eq!(t[0].value, b"abc \r\n def");
        assert_eq!(base64_value(b"YW Jj\r\n ZA==").unwrap(), b"abcd");
    }

    #[test]
    fn lists_and_numbers() {
        let h: Vec<&[u8]> = colon_list(b"from : to:\r\n subject").collect();
        assert_eq!(h, [&b"from"[..], b"to", b"subject"]);
        assert_eq!(decimal(b"1528637909"), Some(1_528_637_909));
        assert_eq!(decimal(b"-1"), None);
        assert_eq!(decimal(b"9999999999999"), None);
        assert_eq!(decimal(b""), None);
    }
}
