//! Dovecot's `dovecot-uidlist`, version 3: the per-folder map from IMAP UIDs to message
//! file names, with UIDVALIDITY and the next UID (MD-007).
//!
//! ```text
//! file    = header LF *(record LF)
//! header  = "3" *(SP key value)          ; V<uidvalidity> N<nextuid> G<guid hex>, others kept
//! record  = uid *(SP ext) SP ":" filename ; ext = key value, key in A-Z (W<vsize> S<size> G...)
//! ```
//!
//! Version 1 (`1 <uidvalidity> <nextuid>`, records `<uid> <filename>`, as in Courier's
//! `courierimapuiddb`) is read too. New records are appended under the lock without
//! rewriting the header, so the next UID is the larger of `N` and the last UID + 1
//! (Dovecot reads it the same way). The file name is the last known one; only its base
//! (before the info separator) identifies the message. Parsing is strict where Dovecot is
//! strict (UIDs must increase; a broken file is reported, never half-used) and keeps
//! unknown header and record fields so that a rewrite preserves them.

use std::fmt::Write as _;

/// A parsed `dovecot-uidlist`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UidList {
    /// The format version read (1 or 3); always written as 3.
    pub version: u8,
    /// IMAP UIDVALIDITY.
    pub uid_validity: u32,
    /// The `N` field as written in the header (may lag behind appended records).
    pub header_next_uid: u32,
    /// The mailbox GUID (32 hex digits) if present.
    pub guid: Option<String>,
    /// Unknown header fields, kept as written (`<key><value>`).
    pub header_extra: Vec<String>,
    /// Records in file order (strictly increasing UIDs).
    pub records: Vec<Record>,
}

/// One UID record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The UID.
    pub uid: u32,
    /// Extension fields (`W1234`, `S1200`, ...), kept as written.
    pub ext: Vec<String>,
    /// The last known file name (its base identifies the message).
    pub filename: String,
}

/// Why a uidlist could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// Upper bound on a record line, as a safety limit (Dovecot's file names are far shorter).
pub const MAX_LINE: usize = 8192;

impl UidList {
    /// A new, empty list.
    pub fn new(uid_validity: u32, guid: Option<String>) -> Self {
        Self {
            version: 3,
            uid_validity,
            header_next_uid: 1,
            guid,
            header_extra: Vec::new(),
            records: Vec::new(),
        }
    }

    /// The UID the next message gets.
    pub fn next_uid(&self) -> u32 {
        let last = self.records.last().map_or(0, |r| r.uid);
        self.header_next_uid.max(last.saturating_add(1)).max(1)
    }

    /// Parses a whole file. An empty input is `Ok(None)` (Dovecot treats it as missing).
    /// A final line without its line feed (a crash during an append) is ignored.
    pub fn parse(data: &[u8]) -> Result<Option<Self>, ParseError> {
        let mut lines = data.split(|&b| b == b'\n').enumerate().peekable();
        let complete = data.ends_with(b"\n");
        let Some((_, header)) = lines.next() else {
            return Ok(None);
        };
        if header.is_empty() && data.len() <= 1 {
            return Ok(None);
        }
        let header = std::str::from_utf8(header).map_err(|_| err(1, "header is not UTF-8"))?;
        let mut list = Self::parse_header(header)?;
        while let Some((i, line)) = lines.next() {
            let last = lines.peek().is_none();
            if last && (line.is_empty() || !complete) {
                break; // the empty string after the final LF, or a torn append
            }
            list.push_line(line, i + 1)?;
        }
        Ok(Some(list))
    }

    /// Parses lines appended after an already-read prefix (for incremental reads).
    /// Returns the number of bytes consumed (whole lines only).
    pub fn parse_appended(&mut self, data: &[u8], first_line: usize) -> Result<usize, ParseError> {
        let mut used = 0;
        for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
            let Some(line_body) = line.strip_suffix(b"\n") else {
                break;
            };
            self.push_line(line_body, first_line + i)?;
            used += line.len();
        }
        Ok(used)
    }

    fn parse_header(h: &str) -> Result<Self, ParseError> {
        let mut it = h.split(' ').filter(|s| !s.is_empty());
        match it.next() {
            Some("3") => {
                let mut list = Self {
                    version: 3,
                    ..Self::default()
                };
                for field in it {
                    // The key is one character (not necessarily ASCII in a broken file).
                    let key_len = field.chars().next().map_or(0, char::len_utf8);
                    let (key, value) = field.split_at(key_len);
                    match key {
                        "V" => list.uid_validity = num(value, 1)?,
                        "N" => list.header_next_uid = num(value, 1)?,
                        "G" => {
                            if value.len() != 32 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(err(1, "invalid mailbox GUID"));
                            }
                            list.guid = Some(value.to_ascii_lowercase());
                        }
                        _ => list.header_extra.push(field.to_owned()),
                    }
                }
                if list.uid_validity == 0 || list.header_next_uid == 0 {
                    return Err(err(1, "UIDVALIDITY and next UID must be set and non-zero"));
                }
                Ok(list)
            }
            Some("1") => {
                let v = num(it.next().unwrap_or(""), 1)?;
                let n = num(it.next().unwrap_or(""), 1)?;
                if v == 0 || n == 0 || it.next().is_some() {
                    return Err(err(1, "broken version 1 header"));
                }
                Ok(Self {
                    version: 1,
                    uid_validity: v,
                    header_next_uid: n,
                    ..Self::default()
                })
            }
            _ => Err(err(1, "unsupported uidlist version")),
        }
    }

    fn push_line(&mut self, line: &[u8], lineno: usize) -> Result<(), ParseError> {
        if line.len() > MAX_LINE {
            return Err(err(lineno, "line too long"));
        }
        let line = std::str::from_utf8(line).map_err(|_| err(lineno, "record is not UTF-8"))?;
        let digits = line.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || line.as_bytes().get(digits) != Some(&b' ') {
            return Err(err(lineno, "record does not start with a UID"));
        }
        let uid: u32 = num(&line[..digits], lineno)?;
        if uid == 0 || uid == u32::MAX {
            return Err(err(lineno, "UID out of range"));
        }
        if self.records.last().is_some_and(|r| r.uid >= uid) {
            return Err(err(lineno, "UIDs not in increasing order"));
        }
        let mut rest = line[digits..].trim_start_matches(' ');
        let mut ext = Vec::new();
        let filename = if self.version == 3 {
            while !rest.is_empty() && !rest.starts_with(':') {
                let end = rest.find(' ').unwrap_or(rest.len());
                let field = &rest[..end];
                if !field.as_bytes()[0].is_ascii_uppercase() {
                    return Err(err(lineno, "invalid extension field"));
                }
                ext.push(field.to_owned());
                rest = rest[end..].trim_start_matches(' ');
            }
            rest.strip_prefix(':')
                .ok_or_else(|| err(lineno, "record without file name"))?
        } else {
            rest
        };
        if filename.is_empty() || filename.contains('/') {
            return Err(err(lineno, "invalid file name"));
        }
        if uid >= self.header_next_uid && self.version == 1 {
            return Err(err(lineno, "UID not below the next UID"));
        }
        self.records.push(Record {
            uid,
            ext,
            filename: filename.to_owned(),
        });
        Ok(())
    }

    /// The header line (without LF), always version 3.
    pub fn header_line(&self) -> String {
        let mut s = format!("3 V{} N{}", self.uid_validity, self.next_uid());
        if let Some(g) = &self.guid {
            let _ = write!(s, " G{g}");
        }
        for e in &self.header_extra {
            s.push(' ');
            s.push_str(e);
        }
        s
    }

    /// Writes the whole file.
    pub fn serialize(&self) -> Vec<u8> {
        let mut s = self.header_line();
        s.push('\n');
        for r in &self.records {
            r.write_line(&mut s);
        }
        s.into_bytes()
    }
}

impl Record {
    /// Appends `<uid> [ext ...] :<filename>\n` to `out`.
    pub fn write_line(&self, out: &mut String) {
        let _ = write!(out, "{}", self.uid);
        for e in &self.ext {
            out.push(' ');
            out.push_str(e);
        }
        out.push_str(" :");
        out.push_str(&self.filename);
        out.push('\n');
    }
}

fn err(line: usize, reason: &'static str) -> ParseError {
    ParseError { line, reason }
}

fn num(s: &str, line: usize) -> Result<u32, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(line, "expected a number"));
    }
    s.parse().map_err(|_| err(line, "number out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_documentation_example() {
        let data = b"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n\
25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n\
25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n";
        let l = UidList::parse(data).unwrap().unwrap();
        assert_eq!(l.uid_validity, 1_275_660_208);
        assert_eq!(l.next_uid(), 25022);
        assert_eq!(l.guid.as_deref(), Some("3085f01b7f11094c501100008c4a11c1"));
        assert_eq!(l.records.len(), 2);
        assert_eq!(l.records[1].ext, ["W2481"]);
        assert_eq!(l.records[1].filename, "1276533073.M242911P3632.kurkku:2,F");
        assert_eq!(l.serialize(), data);
    }

    /// What Dovecot 2.3.19 wrote here after one dovecot-lda delivery: the header's N was
    /// not rewritten when the record was appended.
    #[test]
    fn appended_record_beyond_header_next_uid() {
        let data = b"3 V1795240611 N1 G4fa9451ca332016b970d000083ecc375\n1 :1795240611.M474296P3479.vm,S=56,W=61\n";
        let l = UidList::parse(data).unwrap().unwrap();
        assert_eq!(l.next_uid(), 2);
        assert!(l.header_line().starts_with("3 V1795240611 N2 G4fa9"));
    }

    #[test]
    fn version_1_and_torn_append() {
        let l = UidList::parse(b"1 1000 5\n3 a.b.c\n4 d.e.f\n7 torn")
            .unwrap()
            .unwrap();
        assert_eq!(l.version, 1);
        assert_eq!(l.records.len(), 2);
        assert_eq!(l.next_uid(), 5);
        assert!(l.serialize().starts_with(b"3 V1000 N5\n3 :a.b.c\n"));
    }

    #[test]
    fn unknown_fields_are_kept() {
        let data = b"3 V1 N3 X7 Pfoo\n1 G00ff S12 :a\n";
        let l = UidList::parse(data).unwrap().unwrap();
        assert_eq!(l.header_extra, ["X7", "Pfoo"]);
        assert_eq!(l.serialize(), data);
    }

    #[test]
    fn broken_files_are_errors() {
        for (data, line) in [
            (&b"2 V1 N1\n"[..], 1),
            (b"3 N5\n", 1),
            (b"3 V1 N5 Gxyz\n", 1),
            (b"3 V1 N5\n2 :a\n2 :b\n", 3),
            (b"3 V1 N5\nx :a\n", 2),
            (b"3 V1 N5\n0 :a\n", 2),
            (b"3 V1 N5\n1 w12 :a\n", 2),
            (b"3 V1 N5\n1 W12\n", 2),
            (b"3 V1 N5\n1 :a/b\n", 2),
            // Found by the maildir_uidlist fuzz target: a multi-byte header key.
            ("3 \u{5a3}A\n".as_bytes(), 1),
            (b"3 V1 N5\n4294967295 :a\n", 2),
            (b"1 7 3\n5 a\n", 2),
        ] {
            let e = UidList::parse(data).unwrap_err();
            assert_eq!(e.line, line, "{:?}", String::from_utf8_lossy(data));
        }
        assert_eq!(UidList::parse(b"").unwrap(), None);
    }

    #[test]
    fn incremental_append() {
        let mut l = UidList::parse(b"3 V9 N1\n1 :a\n").unwrap().unwrap();
        let used = l.parse_appended(b"2 :b\n3 :c\n4 :d", 3).unwrap();
        assert_eq!(used, 10);
        assert_eq!(l.next_uid(), 4);
        assert_eq!(l.parse_appended(b"3 :x\n", 5).unwrap_err().line, 5);
    }
}
