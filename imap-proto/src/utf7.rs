//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3).
//!
//! Printable US-ASCII (0x20 to 0x7e) stands for itself, except `&`, which is written `&-`.
//! Every other character is written as UTF-16, encoded in a variant of base64 (`,` instead
//! of `/`, no padding) between `&` and `-`.
//!
//! [`decode`] is strict: it accepts only the one canonical spelling of each name, so two
//! different wire names can never map to the same mailbox. It refuses raw 8-bit or control
//! bytes, printable ASCII hidden in a base64 run, unterminated or empty runs (other than
//! `&-`), two runs back to back (one run is canonical), non-zero padding bits, bad UTF-16
//! (lone surrogates) and characters outside the base64 alphabet.

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Why a mailbox name is not canonical modified UTF-7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Utf7Error {
    /// A byte outside printable US-ASCII, at this offset.
    NonPrintable(usize),
    /// A `&` run that never ends with `-`, starting at this offset.
    Unterminated(usize),
    /// A character outside the modified base64 alphabet inside a run, at this offset.
    BadBase64(usize),
    /// A run whose bits do not form whole UTF-16 units with zero padding, starting here.
    BadPadding(usize),
    /// A run that decodes to a lone surrogate, starting at this offset.
    BadUtf16(usize),
    /// A run that encodes printable ASCII, which must stand for itself, starting here.
    EncodedAscii(usize),
    /// Two runs back to back (`&...-&...-`), which the canonical form writes as one.
    AdjacentRuns(usize),
}

impl fmt::Display for Utf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonPrintable(at) => write!(f, "byte at {at} is not printable US-ASCII"),
            Self::Unterminated(at) => write!(f, "shift sequence at {at} does not end with '-'"),
            Self::BadBase64(at) => write!(f, "byte at {at} is not modified base64"),
            Self::BadPadding(at) => write!(f, "shift sequence at {at} has stray bits"),
            Self::BadUtf16(at) => write!(f, "shift sequence at {at} is not valid UTF-16"),
            Self::EncodedAscii(at) => {
                write!(f, "shift sequence at {at} encodes printable US-ASCII")
            }
            Self::AdjacentRuns(at) => {
                write!(f, "shift sequence at {at} follows another one directly")
            }
        }
    }
}

impl std::error::Error for Utf7Error {}

/// Encodes a mailbox name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut units: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush_run(&mut out, &mut units);
            out.push(ch);
            if ch == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush_run(&mut out, &mut units);
    out
}

fn flush_run(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &unit in units.iter() {
        acc = (acc << 16) | u32::from(unit);
        bits += 16;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 0x3f) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize] as char);
    }
    out.push('-');
    units.clear();
}

fn base64_value(b: u8) -> Option<u32> {
    Some(u32::from(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    }))
}

/// Decodes a canonical modified UTF-7 mailbox name.
pub fn decode(wire: &str) -> Result<String, Utf7Error> {
    decode_bytes(wire.as_bytes())
}

/// Decodes a canonical modified UTF-7 mailbox name given as bytes (as it comes off the wire).
pub fn decode_bytes(wire: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    // Offset just past the previous run's '-', to refuse `&..-&..-`.
    let mut last_run_end = None;
    while i < wire.len() {
        let b = wire[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Utf7Error::NonPrintable(i));
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let start = i;
        let Some(len) = wire[i + 1..].iter().position(|&c| c == b'-') else {
            return Err(Utf7Error::Unterminated(start));
        };
        let run = &wire[i + 1..i + 1 + len];
        i += len + 2;
        if run.is_empty() {
            out.push('&');
            continue;
        }
        if last_run_end == Some(start) {
            return Err(Utf7Error::AdjacentRuns(start));
        }
        last_run_end = Some(i);
        decode_run(run, start, &mut out)?;
    }
    Ok(out)
}

fn decode_run(run: &[u8], start: usize, out: &mut String) -> Result<(), Utf7Error> {
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    for (k, &c) in run.iter().enumerate() {
        let v = base64_value(c).ok_or(Utf7Error::BadBase64(start + 1 + k))?;
        acc = ((acc << 6) | v) & 0x3f_ffff;
        bits += 6;
        if bits >= 16 {
            bits -= 16;
            units.push(((acc >> bits) & 0xffff) as u16);
        }
    }
    if bits >= 6 || (acc & ((1 << bits) - 1)) != 0 || units.is_empty() {
        return Err(Utf7Error::BadPadding(start));
    }
    for ch in char::decode_utf16(units) {
        let ch = ch.map_err(|_| Utf7Error::BadUtf16(start))?;
        if (' '..='~').contains(&ch) {
            return Err(Utf7Error::EncodedAscii(start));
        }
        out.push(ch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語".
        let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(encode(name), wire);
        assert_eq!(decode(wire).unwrap(), name);
        // The RFC's counter-examples are refused: "&Jjo!" and "&U,BTFw-&ZeVnLIqe-".
        assert_eq!(decode("&Jjo!"), Err(Utf7Error::Unterminated(0)));
        assert_eq!(
            decode("&U,BTFw-&ZeVnLIqe-"),
            Err(Utf7Error::AdjacentRuns(8))
        );
    }

    #[test]
    fn ampersand_and_plain() {
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("Tom &- Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(encode("INBOX.Sent"), "INBOX.Sent");
        assert_eq!(encode(""), "");
        assert_eq!(decode("&-&-").unwrap(), "&&");
    }

    #[test]
    fn round_trips() {
        for name in [
            "Entwürfe",
            "Gelöschte Elemente",
            "\u{1f600} smile",
            "Входящие",
            "a\u{7f}b",
            "\t",
            "x&ü&",
            "日本語&日本語",
        ] {
            let wire = encode(name);
            assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{wire}");
            assert_eq!(decode(&wire).unwrap(), name, "{wire}");
        }
    }

    #[test]
    fn non_canonical_forms_refused() {
        // "A" encoded: printable ASCII must stand for itself.
        assert_eq!(decode("&AEE-"), Err(Utf7Error::EncodedAscii(0)));
        // Stray bits: "&AOR-" is "ä" with non-zero padding ("&AOQ-" is canonical).
        assert_eq!(decode("&AOQ-").unwrap(), "ä");
        assert_eq!(decode("&AOR-"), Err(Utf7Error::BadPadding(0)));
        // Too many characters for the units.
        assert_eq!(decode("&AOQA-"), Err(Utf7Error::BadPadding(0)));
        // A lone high surrogate (U+D83D).
        assert_eq!(decode("&2D0-"), Err(Utf7Error::BadUtf16(0)));
        // Standard base64 '/' is not modified base64.
        assert_eq!(decode("&U/BTFw-"), Err(Utf7Error::BadBase64(2)));
        // Raw 8-bit and control bytes.
        assert_eq!(
            decode_bytes(b"caf\xc3\xa9"),
            Err(Utf7Error::NonPrintable(3))
        );
        assert_eq!(decode("a\tb"), Err(Utf7Error::NonPrintable(1)));
    }
}
