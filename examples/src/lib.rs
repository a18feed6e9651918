//! Shared helpers for the reference server and the command-line tools in `src/bin/`.
//!
//! Every binary here is built only from the crate family (`smtp-proto`, `imap-proto`,
//! `mail-auth-core`, `maildir`, `sieve`) and the workspace's chosen dependencies.
#![forbid(unsafe_code)]

pub mod server;

use std::io::Read;
use std::path::Path;

/// Reads a whole input: the named file, or standard input for `-` or no name.
pub fn read_input(path: Option<&Path>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match path {
        Some(p) if p != Path::new("-") => buf = std::fs::read(p)?,
        _ => {
            std::io::stdin().lock().read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}

/// Splits a message into its header block and body at the first empty line (CRLF CRLF or
/// LF LF). A message with no empty line is all header and has an empty body.
pub fn split_message(msg: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < msg.len() {
        if msg[i] == b'\n' {
            let rest = &msg[i + 1..];
            if rest.starts_with(b"\r\n") {
                return (&msg[..=i], &rest[2..]);
            }
            if rest.starts_with(b"\n") {
                return (&msg[..=i], &rest[1..]);
            }
        }
        i += 1;
    }
    (msg, &[])
}

/// Splits a header block into `(name, value)` fields; `value` is everything after the colon
/// up to the CRLF (or LF) that ends the field, folding line ends included. Lines that are
/// not fields (no colon, or a continuation with nothing before it) are skipped.
pub fn header_fields(block: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut fields = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let mut end = start;
        loop {
            let Some(nl) = block[end..].iter().position(|&b| b == b'\n') else {
                end = block.len();
                break;
            };
            end += nl + 1;
            if !matches!(block.get(end), Some(b' ' | b'\t')) {
                break;
            }
        }
        let field = &block[start..end];
        let field = field
            .strip_suffix(b"\r\n")
            .or_else(|| field.strip_suffix(b"\n"))
            .unwrap_or(field);
        if let Some(colon) = field.iter().position(|&b| b == b':')
            && !matches!(field.first(), Some(b' ' | b'\t'))
        {
            fields.push((&field[..colon], &field[colon + 1..]));
        }
        start = end;
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_fields() {
        let msg = b"From: a@b\r\nSubject: x\r\n  y\r\n\r\nbody\r\n";
        let (h, b) = split_message(msg);
        assert_eq!(b, b"body\r\n");
        let f = header_fields(h);
        assert_eq!(
            f,
            [(&b"From"[..], &b" a@b"[..]), (b"Subject", b" x\r\n  y")]
        );
        let (h, b) = split_message(b"A: 1\nB: 2\n\nbody");
        assert_eq!((header_fields(h).len(), b), (2, &b"body"[..]));
        assert_eq!(split_message(b"A: 1\r\n"), (&b"A: 1\r\n"[..], &b""[..]));
    }
}
