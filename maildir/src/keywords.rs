//! Dovecot's `dovecot-keywords`: which IMAP keyword each Maildir flag letter `a`..`z`
//! stands for (MD-003).
//!
//! ```text
//! file = *(index SP keyword LF)     ; index 0..25 = letter a..z
//! ```
//!
//! The file is replaced with `rename()` under the `dovecot-uidlist` lock, never edited in
//! place. Lines that do not parse (a bad index, an empty or invalid keyword, a duplicate)
//! are skipped: the letters they would name stay unmapped, as in Dovecot.

use std::fmt::Write as _;

/// The letter-to-keyword table of one folder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keywords {
    names: [Option<String>; 26],
}

/// The largest keyword accepted (an IMAP atom; Dovecot allows longer, no client needs it).
pub const MAX_KEYWORD_LEN: usize = 255;

impl Keywords {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a `dovecot-keywords` file, skipping lines that are not valid.
    pub fn parse(data: &[u8]) -> Self {
        let mut k = Self::new();
        for line in data.split(|&b| b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let Some((idx, name)) = line.split_once(' ') else {
                continue;
            };
            let Ok(idx) = idx.parse::<usize>() else {
                continue;
            };
            if idx < 26 && is_valid_keyword(name) && k.index_of(name).is_none() {
                k.names[idx] = Some(name.to_owned());
            }
        }
        k
    }

    /// Writes the file.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = String::new();
        for (i, n) in self.names.iter().enumerate() {
            if let Some(n) = n {
                let _ = writeln!(out, "{i} {n}");
            }
        }
        out.into_bytes()
    }

    /// The keyword for letter index `idx` (0 = `a`).
    pub fn name(&self, idx: u8) -> Option<&str> {
        self.names.get(idx as usize)?.as_deref()
    }

    /// The letter index of a keyword (IMAP keywords compare case-insensitively).
    pub fn index_of(&self, keyword: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|n| {
                n.as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(keyword))
            })
            .map(|i| i as u8)
    }

    /// The index of `keyword`, adding it in the first free slot when new. `None` when the
    /// keyword is invalid or all 26 letters are taken.
    pub fn index_or_insert(&mut self, keyword: &str) -> Option<(u8, bool)> {
        if let Some(i) = self.index_of(keyword) {
            return Some((i, false));
        }
        if !is_valid_keyword(keyword) {
            return None;
        }
        let free = self.names.iter().position(Option::is_none)?;
        self.names[free] = Some(keyword.to_owned());
        Some((free as u8, true))
    }

    /// All mapped keywords with their indexes.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &str)> {
        self.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i as u8, n.as_deref()?)))
    }
}

/// True for an IMAP keyword this store can map: a non-empty atom (no spaces, controls,
/// `(){%*"\]`), not a system flag (no leading `\`), at most [`MAX_KEYWORD_LEN`] bytes.
pub fn is_valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_KEYWORD_LEN
        && k.bytes().all(|b| {
            b > b' '
                && b < 0x7f
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_example_and_round_trip() {
        let k = Keywords::parse(b"0 $Junk\n1 $NonJunk\n");
        assert_eq!(k.name(0), Some("$Junk"));
        assert_eq!(k.name(1), Some("$NonJunk"));
        assert_eq!(k.index_of("$nonjunk"), Some(1));
        assert_eq!(k.serialize(), b"0 $Junk\n1 $NonJunk\n");
    }

    #[test]
    fn bad_lines_skipped_and_slots_filled() {
        let mut k =
            Keywords::parse(b"3 Old\n26 TooFar\nx Bad\n4 has space\n5 \n7 Old\n2 \\Seen\n\xff\n");
        assert_eq!(k.iter().collect::<Vec<_>>(), [(3, "Old")]);
        assert_eq!(k.index_or_insert("$Label1"), Some((0, true)));
        assert_eq!(k.index_or_insert("old"), Some((3, false)));
        assert_eq!(k.index_or_insert("bad(kw"), None);
        for i in 0..24 {
            assert!(k.index_or_insert(&format!("k{i}")).is_some());
        }
        assert_eq!(k.iter().count(), 26);
        assert_eq!(k.index_or_insert("one-too-many"), None);
    }
}
