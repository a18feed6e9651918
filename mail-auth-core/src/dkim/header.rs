//! The message header block: a bounded streaming reader that finds where the header ends,
//! and a field list over the buffered header (RFC 5322 §2.2, folding per §2.2.3).
//!
//! Bare LF line ends (messages read from files) are stored as CRLF, so canonicalization
//! always sees the wire form.

use std::ops::Range;

/// One header field inside a [`HeaderBlock`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    /// The name as written (before the colon; may end in whitespace: `B :`).
    pub(crate) name: Range<usize>,
    /// Everything after the colon up to, not including, the CRLF that ends the field.
    pub(crate) value: Range<usize>,
}

/// A buffered header block and its fields, in message order.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeaderBlock {
    pub(crate) buf: Vec<u8>,
    pub(crate) fields: Vec<Field>,
}

impl HeaderBlock {
    /// Splits a header block (without the empty line that ends it) into fields. Lines that
    /// are not fields (no colon, or a continuation line before any field) are skipped.
    pub(crate) fn parse(raw: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(raw.len() + raw.len() / 32);
        let mut prev = 0u8;
        for &b in raw {
            if b == b'\n' && prev != b'\r' {
                buf.push(b'\r');
            }
            buf.push(b);
            prev = b;
        }
        let mut fields = Vec::new();
        let mut start = 0;
        while start < buf.len() {
            // A field runs to the CRLF not followed by WSP.
            let mut end = start;
            loop {
                match memchr::memchr(b'\n', &buf[end..]) {
                    None => {
                        end = buf.len();
                        break;
                    }
                    Some(nl) => {
                        end += nl + 1;
                        if !matches!(buf.get(end), Some(b' ' | b'\t')) {
                            break;
                        }
                    }
                }
            }
            let line = &buf[start..end];
            let content_end = if line.ends_with(b"\r\n") {
                end - 2
            } else if line.ends_with(b"\n") {
                end - 1
            } else {
                end
            };
            if !matches!(buf[start], b' ' | b'\t')
                && let Some(colon) = memchr::memchr(b':', &buf[start..content_end])
            {
                let name = start..start + colon;
                let trimmed = buf[name.clone()].trim_ascii_end();
                if !trimmed.is_empty() && trimmed.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
                    fields.push(Field {
                        name,
                        value: start + colon + 1..content_end,
                    });
                }
            }
            start = end;
        }
        Self { buf, fields }
    }

    pub(crate) fn name(&self, f: &Field) -> &[u8] {
        &self.buf[f.name.clone()]
    }

    pub(crate) fn value(&self, f: &Field) -> &[u8] {
        &self.buf[f.value.clone()]
    }

    /// Whether field `f` is named `name` (case-insensitive, whitespace before the colon
    /// ignored).
    pub(crate) fn is(&self, f: &Field, name: &str) -> bool {
        self.name(f)
            .trim_ascii_end()
            .eq_ignore_ascii_case(name.as_bytes())
    }

    /// How many fields are named `name`.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.fields.iter().filter(|f| self.is(f, name)).count()
    }

    /// Picks the fields an `h=` list signs (RFC 6376 §5.4.2): for each name, the last
    /// instance not yet used, going upwards; a name with no instance left signs nothing
    /// (`None`, the "oversigned" null field). `skip` excludes fields (a signature's own).
    pub(crate) fn select(&self, names: &[String], skip: &[usize]) -> Vec<Option<usize>> {
        let mut used = vec![false; self.fields.len()];
        for &s in skip {
            if let Some(u) = used.get_mut(s) {
                *u = true;
            }
        }
        names
            .iter()
            .map(|n| {
                let i = (0..self.fields.len())
                    .rev()
                    .find(|&i| !used[i] && self.is(&self.fields[i], n))?;
                used[i] = true;
                Some(i)
            })
            .collect()
    }
}

/// What [`HeaderReader::feed`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    /// The header continues past this chunk.
    More,
    /// The header ended; the body starts at this offset of the chunk.
    BodyAt(usize),
    /// The header is larger than the limit.
    TooLarge,
}

/// Collects the header block of a streamed message, up to a size limit.
#[derive(Clone, Debug)]
pub(crate) struct HeaderReader {
    buf: Vec<u8>,
    limit: usize,
    /// Where the current line starts in `buf`.
    line_start: usize,
}

impl HeaderReader {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
            line_start: 0,
        }
    }

    /// Takes the next chunk of the message.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Feed {
        let mut i = 0;
        while i < chunk.len() {
            let Some(nl) = memchr::memchr(b'\n', &chunk[i..]) else {
                self.buf.extend_from_slice(&chunk[i..]);
                break;
            };
            let line_end = i + nl + 1;
            self.buf.extend_from_slice(&chunk[i..line_end]);
            let line = &self.buf[self.line_start..];
            if line == b"\n" || line == b"\r\n" {
                let n = line.len();
                self.buf.truncate(self.buf.len() - n);
                return Feed::BodyAt(line_end);
            }
            self.line_start = self.buf.len();
            i = line_end;
            if self.buf.len() > self.limit {
                return Feed::TooLarge;
            }
        }
        if self.buf.len() > self.limit {
            Feed::TooLarge
        } else {
            Feed::More
        }
    }

    /// The header collected so far (all of it, once [`Feed::BodyAt`] was returned).
    pub(crate) fn into_block(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_folding() {
        let h =
            HeaderBlock::parse(b"From: a@b\nSubject: x\n  y\nB : z\r\nbad line\n\tcont\nTo:q\n");
        let names: Vec<&[u8]> = h.fields.iter().map(|f| h.name(f)).collect();
        assert_eq!(names, [&b"From"[..], b"Subject", b"B ", b"To"]);
        assert_eq!(h.value(&h.fields[1]), b" x\r\n  y");
        assert!(h.is(&h.fields[2], "b"));
        assert_eq!(h.count("from"), 1);
    }

    #[test]
    fn selection_is_bottom_up_with_null_instances() {
        let h = HeaderBlock::parse(b"From: 1\r\nTo: a\r\nFrom: 2\r\n");
        let names = ["from", "from", "from", "to"].map(String::from);
        assert_eq!(h.select(&names, &[]), [Some(2), Some(0), None, Some(1)]);
        assert_eq!(h.select(&names[..1], &[2]), [Some(0)]);
    }

    #[test]
    fn reader_finds_the_body_across_chunks() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nbody\r\n";
        for cut in 0..msg.len() {
            let mut r = HeaderReader::new(1000);
            let (a, b) = msg.split_at(cut);
            let at = match r.feed(a) {
                Feed::BodyAt(n) => n,
                Feed::More => match r.feed(b) {
                    Feed::BodyAt(n) => cut + n,
                    other => panic!("{other:?}"),
                },
                Feed::TooLarge => panic!(),
            };
            assert_eq!(&msg[at..], b"body\r\n", "cut {cut}");
            assert_eq!(r.into_block(), b"A: 1\r\nB: 2\r\n");
        }
        let mut r = HeaderReader::new(1000);
        assert_eq!(r.feed(b"\nbody"), Feed::BodyAt(1));
        let mut r = HeaderReader::new(4);
        assert_eq!(r.feed(b"A: 12345\r\n"), Feed::TooLarge);
    }
}
