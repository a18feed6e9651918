//! The message under test: its top-level header fields (editable, for `editheader`), and its
//! MIME structure, parsed by `mail-parser` only when a test needs the body or the parts.

use std::borrow::Cow;
use std::sync::Arc;

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders, PartType};

/// Where a header field's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Bytes {
    /// A range of the raw message.
    Raw(u32, u32),
    /// Added or changed by the script.
    Owned(Arc<[u8]>),
}

/// One header field: its name and its raw value (after the colon, folding kept, without
/// the final CRLF).
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: Bytes,
    pub value: Bytes,
}

/// The decoded text of a part: a range of the raw message when no decoding was needed
/// (checked to be UTF-8), else the decoded copy.
#[derive(Clone, Debug)]
pub(crate) enum PartText {
    Raw(usize, usize),
    Owned(Arc<str>),
}

/// A MIME part, its bytes as ranges of the raw message.
#[derive(Clone, Debug, Default)]
#[allow(dead_code)] // kept for hosts of the MIME tree and future tests
pub(crate) struct Part {
    /// The part's header block, copied (nested encoded messages have their own bytes).
    pub header_raw: Vec<u8>,
    pub ctype: String,
    pub csubtype: String,
    pub params: Vec<(String, String)>,
    pub disposition: Option<String>,
    pub children: Vec<usize>,
    pub parent: Option<usize>,
    /// Decoded text for text parts (charset converted), if text.
    pub text: Option<PartText>,
    /// Decoded bytes for non-text leaf parts.
    pub binary: Option<Vec<u8>>,
    pub is_message: bool,
    /// A multipart's prologue and epilogue (the text outside its boundaries; RFC 5173 §5
    /// searches these for a `:content "multipart"` body test).
    pub outside: Vec<Arc<str>>,
}

#[derive(Debug)]
pub(crate) struct Message<'m> {
    pub raw: Cow<'m, [u8]>,
    pub fields: Vec<Field>,
    /// Offset of the body (after the blank line).
    pub body_offset: usize,
    /// Parsed MIME parts (index 0 is the message itself), when needed.
    parts: Option<Vec<Part>>,
    /// Bumped by every header edit.
    pub version: u32,
}

/// Splits a header block into fields. Stops at the first empty line; returns the fields and
/// the offset of the body.
pub(crate) fn scan_headers(raw: &[u8], start: usize, end: usize, out: &mut Vec<Field>) -> usize {
    let end = end.min(raw.len());
    let mut i = start.min(end);
    while i < end {
        let b = raw[i];
        if b == b'\n' {
            return i + 1;
        }
        if b == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            return i + 2;
        }
        // A field: name up to ':', then the value up to a line end not followed by WSP.
        let line_end =
            |from: usize| memchr::memchr(b'\n', &raw[from..end]).map_or(end, |p| from + p);
        let Some(colon) = memchr::memchr2(b':', b'\n', &raw[i..end]).map(|p| i + p) else {
            return end;
        };
        if raw[colon] == b'\n' {
            // Not a header line: treat the rest as body (RFC 5322 has no such lines).
            return i;
        }
        let mut name_end = colon;
        while name_end > i && matches!(raw[name_end - 1], b' ' | b'\t') {
            name_end -= 1;
        }
        let vstart = colon + 1;
        let mut e = line_end(vstart);
        while e + 1 < end && matches!(raw[e + 1], b' ' | b'\t') {
            e = line_end(e + 1);
        }
        let mut vend = e;
        if vend > vstart && raw[vend - 1] == b'\r' {
            vend -= 1;
        }
        out.push(Field {
            name: Bytes::Raw(i as u32, name_end as u32),
            value: Bytes::Raw(vstart as u32, vend.max(vstart) as u32),
        });
        i = (e + 1).min(end);
        if e >= end {
            return end;
        }
    }
    end
}

impl<'m> Message<'m> {
    pub(crate) fn new(raw: Cow<'m, [u8]>) -> Self {
        let mut fields = Vec::new();
        let len = raw.len();
        let body_offset = scan_headers(&raw, 0, len, &mut fields);
        Self {
            raw,
            fields,
            body_offset,
            parts: None,
            version: 0,
        }
    }

    pub(crate) fn bytes<'s>(&'s self, b: &'s Bytes) -> &'s [u8] {
        match b {
            Bytes::Raw(s, e) => &self.raw[*s as usize..*e as usize],
            Bytes::Owned(v) => v,
        }
    }

    pub(crate) fn field_name<'s>(&'s self, f: &'s Field) -> &'s [u8] {
        self.bytes(&f.name)
    }

    pub(crate) fn size(&self) -> usize {
        if self.version == 0 {
            return self.raw.len();
        }
        self.header_block().len() + self.raw.len() - self.body_offset
    }

    /// The current header block, edits applied, ending with the empty line.
    pub(crate) fn header_block(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body_offset + 64);
        for f in &self.fields {
            out.extend_from_slice(self.bytes(&f.name));
            out.push(b':');
            out.extend_from_slice(self.bytes(&f.value));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The whole message with edits applied.
    pub(crate) fn current(&self) -> Cow<'_, [u8]> {
        if self.version == 0 {
            return Cow::Borrowed(&self.raw);
        }
        let mut v = self.header_block();
        v.extend_from_slice(&self.raw[self.body_offset..]);
        Cow::Owned(v)
    }

    /// Whether the header is followed by an empty line (RFC 5173 §5: a message that is
    /// only a header has no body at all, not an empty one).
    pub(crate) fn has_body(&self) -> bool {
        let end = self.body_offset.min(self.raw.len());
        let h = &self.raw[..end];
        end < self.raw.len()
            || h.ends_with(b"\n\r\n")
            || h.ends_with(b"\n\n")
            || h == b"\r\n"
            || h == b"\n"
    }

    pub(crate) fn body(&self) -> &[u8] {
        &self.raw[self.body_offset.min(self.raw.len())..]
    }

    /// The MIME parts; parsed on first use.
    pub(crate) fn parts(&mut self) -> &[Part] {
        if self.parts.is_none() {
            let parts = self
                .simple_text_part()
                .unwrap_or_else(|| parse_parts(&self.raw));
            self.parts = Some(parts);
        }
        self.parts.as_deref().unwrap_or(&[])
    }

    /// The raw body as text (invalid UTF-8 replaced).
    pub(crate) fn raw_body(&self) -> Cow<'_, str> {
        let body = self.body();
        match std::str::from_utf8(body) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(String::from_utf8_lossy(body).into_owned()),
        }
    }

    /// The decoded text of a part.
    pub(crate) fn text<'s>(&'s self, t: &'s PartText) -> &'s str {
        match t {
            PartText::Raw(s, e) => std::str::from_utf8(&self.raw[*s..*e]).unwrap_or_default(),
            PartText::Owned(a) => a,
        }
    }

    /// Fast path for the most common mail: a single text/plain part, 7bit/8bit/binary, in
    /// UTF-8 or US-ASCII. Its decoded text is the body itself, so MIME parsing and decoding
    /// (and their copies) are skipped. Anything else goes to `mail-parser`.
    fn simple_text_part(&self) -> Option<Vec<Part>> {
        let mut ctype = None;
        let mut cte = None;
        for f in &self.fields {
            let name = self.field_name(f);
            if name.eq_ignore_ascii_case(b"content-type") {
                ctype = Some(decode_value(self.bytes(&f.value)).to_ascii_lowercase());
            } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
                cte = Some(decode_value(self.bytes(&f.value)).to_ascii_lowercase());
            }
        }
        if let Some(e) = &cte
            && !matches!(e.trim(), "7bit" | "8bit" | "binary")
        {
            return None;
        }
        let mut params = Vec::new();
        if let Some(ct) = &ctype {
            let mut it = ct.split(';');
            if it.next().map(str::trim) != Some("text/plain") {
                return None;
            }
            for p in it {
                let (n, v) = p.split_once('=')?;
                let v = v.trim().trim_matches('"');
                let n = n.trim();
                if n == "charset" && !matches!(v, "utf-8" | "us-ascii" | "utf8" | "ascii") {
                    return None;
                }
                params.push((n.to_string(), v.to_string()));
            }
        }
        std::str::from_utf8(self.body()).ok()?;
        let start = self.body_offset.min(self.raw.len());
        Some(vec![Part {
            header_raw: self.raw[..self.body_offset.min(self.raw.len())].to_vec(),
            ctype: "text".into(),
            csubtype: "plain".into(),
            params,
            text: Some(PartText::Raw(start, self.raw.len())),
            ..Part::default()
        }])
    }

    pub(crate) fn parts_ref(&self) -> Option<&[Part]> {
        self.parts.as_deref()
    }

    /// Header fields of a MIME part (0 = the top level, with edits).
    pub(crate) fn part_fields(&self, part: usize) -> Cow<'_, [Field]> {
        if part == 0 {
            return Cow::Borrowed(&self.fields);
        }
        let Some(p) = self.parts.as_ref().and_then(|p| p.get(part)) else {
            return Cow::Owned(Vec::new());
        };
        let raw = &p.header_raw;
        let mut fields = Vec::new();
        scan_headers(raw, 0, raw.len(), &mut fields);
        let owned = |b: &Bytes| match b {
            Bytes::Raw(s, e) => Bytes::Owned(Arc::from(&raw[*s as usize..*e as usize])),
            Bytes::Owned(v) => Bytes::Owned(v.clone()),
        };
        Cow::Owned(
            fields
                .iter()
                .map(|f| Field {
                    name: owned(&f.name),
                    value: owned(&f.value),
                })
                .collect(),
        )
    }
}

/// Unfolds, trims and decodes (RFC 2047) a raw header value.
pub(crate) fn decode_value(raw: &[u8]) -> Cow<'_, str> {
    let needs_unfold = memchr::memchr2(b'\r', b'\n', raw).is_some();
    let has_encoded = memchr::memchr_iter(b'=', raw).any(|i| raw.get(i + 1) == Some(&b'?'));
    if !needs_unfold
        && !has_encoded
        && let Ok(s) = std::str::from_utf8(raw)
    {
        return Cow::Borrowed(s.trim_matches(|c| c == ' ' || c == '\t'));
    }
    if has_encoded {
        let mut input = Vec::with_capacity(raw.len() + 2);
        input.extend_from_slice(raw);
        input.extend_from_slice(b"\r\n");
        if let HeaderValue::Text(t) = MessageStream::new(&input).parse_unstructured() {
            return Cow::Owned(t.trim().to_string());
        }
        return Cow::Owned(String::new());
    }
    // Unfold (RFC 5322 §2.2.3: remove the CRLFs), trim, and keep the buffer.
    let start = raw
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(start, |e| e + 1);
    let mut out = Vec::with_capacity(end - start);
    out.extend(
        raw[start..end]
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n'),
    );
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// The prologue (before the first boundary line) and epilogue (after the closing one) of a
/// multipart body (RFC 2046 §5.1.1). The line end before a boundary belongs to it.
fn outside_text(body: &[u8], boundary: &str) -> Vec<Arc<str>> {
    let delim = format!("--{boundary}");
    let (mut first, mut after_close) = (None, None);
    let mut i = 0;
    while i < body.len() {
        let end = memchr::memchr(b'\n', &body[i..]).map_or(body.len(), |p| i + p);
        let line = &body[i..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(delim.as_bytes()) {
            first.get_or_insert(i);
            if rest.starts_with(b"--") {
                after_close = Some((end + 1).min(body.len()));
                break;
            }
        }
        i = end + 1;
    }
    let mut prologue = &body[..first.unwrap_or(body.len())];
    if first.is_some() {
        prologue = prologue.strip_suffix(b"\n").unwrap_or(prologue);
        prologue = prologue.strip_suffix(b"\r").unwrap_or(prologue);
    }
    let mut out = vec![Arc::from(String::from_utf8_lossy(prologue).as_ref())];
    if let Some(a) = after_close {
        out.push(Arc::from(String::from_utf8_lossy(&body[a..]).as_ref()));
    }
    out
}

fn parse_parts(raw: &[u8]) -> Vec<Part> {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return vec![Part {
            ctype: "text".into(),
            csubtype: "plain".into(),
            text: Some(PartText::Owned(Arc::from(
                String::from_utf8_lossy(raw).as_ref(),
            ))),
            ..Part::default()
        }];
    };
    let mut out: Vec<Part> = Vec::with_capacity(msg.parts.len());
    let mut map = vec![usize::MAX; msg.parts.len()];
    // Walk the tree from the root so nested messages keep their place.
    fn walk(
        msg: &mail_parser::Message<'_>,
        idx: u32,
        parent: Option<usize>,
        out: &mut Vec<Part>,
        map: &mut Vec<usize>,
        depth: usize,
    ) {
        let Some(p) = msg.parts.get(idx as usize) else {
            return;
        };
        let me = out.len();
        if let Some(m) = map.get_mut(idx as usize) {
            *m = me;
        }
        let (ctype, csubtype, params) = match p.content_type() {
            Some(ct) => (
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase(),
                ct.attributes()
                    .map(|a| {
                        a.iter()
                            .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            None => ("text".into(), "plain".into(), Vec::new()),
        };
        // An unrecognized Content-Transfer-Encoding makes the part opaque: it is treated
        // as application/octet-stream (RFC 2045 §6.4).
        let known_cte = p.content_transfer_encoding().is_none_or(|e| {
            ["7bit", "8bit", "binary", "quoted-printable", "base64"]
                .iter()
                .any(|k| e.trim().eq_ignore_ascii_case(k))
        });
        let (ctype, csubtype) = if known_cte || ctype == "multipart" || ctype == "message" {
            (ctype, csubtype)
        } else {
            ("application".to_string(), "octet-stream".to_string())
        };
        let raw: &[u8] = msg.raw_message.as_ref();
        let mut part = Part {
            header_raw: raw
                .get(p.offset_header as usize..p.offset_body as usize)
                .unwrap_or_default()
                .to_vec(),
            ctype,
            csubtype,
            params,
            disposition: p
                .content_disposition()
                .map(|d| d.ctype().to_ascii_lowercase()),
            parent,
            ..Part::default()
        };
        match &p.body {
            PartType::Text(t) | PartType::Html(t) => {
                part.text = Some(PartText::Owned(Arc::from(t.as_ref())));
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => part.binary = Some(b.to_vec()),
            PartType::Message(_) => part.is_message = true,
            PartType::Multipart(_) => {
                if let Some(b) = part.params.iter().find(|(k, _)| k == "boundary") {
                    let body = raw
                        .get(p.offset_body as usize..p.offset_end as usize)
                        .unwrap_or_default();
                    part.outside = outside_text(body, &b.1);
                }
            }
        }
        out.push(part);
        if depth > 64 {
            return;
        }
        match &p.body {
            PartType::Multipart(children) => {
                for &c in children {
                    let child = out.len();
                    walk(msg, c, Some(me), out, map, depth + 1);
                    if child < out.len() {
                        out[me].children.push(child);
                    }
                }
            }
            PartType::Message(inner) => {
                // The encapsulated message: its offsets are relative to its own raw bytes.
                let child = out.len();
                walk(
                    inner,
                    0,
                    Some(me),
                    out,
                    &mut vec![usize::MAX; inner.parts.len()],
                    depth + 1,
                );
                if child < out.len() {
                    out[me].children.push(child);
                }
            }
            _ => {}
        }
    }
    walk(&msg, 0, None, &mut out, &mut map, 0);
    if out.is_empty() {
        out.push(Part::default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_body() {
        let raw = b"From: a@b.c\r\nSubject: hello\r\n  world\r\nX-Empty:\r\n\r\nbody\r\n";
        let m = Message::new(Cow::Borrowed(raw));
        assert_eq!(m.fields.len(), 3);
        assert_eq!(m.field_name(&m.fields[1]), b"Subject");
        assert_eq!(decode_value(m.bytes(&m.fields[1].value)), "hello  world");
        assert_eq!(decode_value(m.bytes(&m.fields[2].value)), "");
        assert_eq!(m.body(), b"body\r\n");
        let m = Message::new(Cow::Borrowed(b"Subject: x\nTo: y\n\nb"));
        assert_eq!(m.fields.len(), 2);
        assert_eq!(m.body(), b"b");
        let m = Message::new(Cow::Borrowed(b"Subject: x"));
        assert_eq!(m.fields.len(), 1);
        assert_eq!(m.body(), b"");
    }

    #[test]
    fn encoded_words() {
        assert_eq!(decode_value(b" =?utf-8?q?caf=C3=A9?= "), "caf\u{e9}");
    }

    #[test]
    fn mime_tree() {
        let raw = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n--b--\r\n";
        let mut m = Message::new(Cow::Borrowed(raw));
        let parts = m.parts().to_vec();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].ctype, "multipart");
        assert_eq!(parts[0].children, [1, 2]);
        let t = parts[1].text.clone().unwrap();
        assert_eq!(m.text(&t).trim_end(), "hello");
        assert_eq!(parts[2].csubtype, "html");
        // A plain text message is not given to the MIME parser: its text is the body.
        let mut m = Message::new(Cow::Borrowed(
            b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n",
        ));
        let t = m.parts()[0].text.clone().unwrap();
        assert!(matches!(t, PartText::Raw(..)));
        assert_eq!(m.text(&t), "hi\r\n");
    }
}
