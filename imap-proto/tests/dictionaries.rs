//! imap-codec's fuzz dictionaries (`tests/data/imap-codec`, see `tests/data/README.md`) as
//! parser seeds.
//!
//! - `imap.dict` is the RFC 3501 §8 session line by line: every line must parse in its
//!   direction, re-serialize to the same value, and decode the same byte by byte.
//! - `terminals.dict` (every multi-character ABNF terminal) and `blns.dict` (514 naughty
//!   strings) are placed into argument positions of commands and responses (atom, quoted,
//!   literal, code, text, flag, mailbox): nothing panics; whatever parses re-serializes to the
//!   same value, and the byte-by-byte streaming decoders agree with the one-shot codecs.

use imap_proto::codec::{
    CommandCodec, CommandDecoder, DecodeOptions, GreetingCodec, ResponseCodec, ResponseDecoder,
};
use imap_proto::types::IntoStatic;

fn load(name: &str) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/tests/data/imap-codec/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // libFuzzer dictionary entry: [name=]"..." with C escapes (\\, \", \xNN).
        let Some(start) = line.find('"') else {
            continue;
        };
        let body = &line[start + 1..line.len() - 1];
        let b = body.as_bytes();
        let mut v = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 1 < b.len() {
                match b[i + 1] {
                    b'x' if i + 3 < b.len() => {
                        let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                        v.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 4;
                    }
                    c => {
                        v.push(c);
                        i += 2;
                    }
                }
            } else {
                v.push(b[i]);
                i += 1;
            }
        }
        out.push(v);
    }
    out
}

/// Parses `msg` as a command; checks round trip and byte-by-byte agreement. Returns whether
/// it parsed.
fn command(msg: &[u8]) -> bool {
    let codec = CommandCodec::default();
    let Ok((rest, cmd)) = codec.decode(msg) else {
        return false;
    };
    let wire = codec.encode(&cmd).into_bytes();
    let (r2, again) = codec
        .decode(&wire)
        .unwrap_or_else(|e| panic!("re-parse of {:?}: {e:?}", String::from_utf8_lossy(&wire)));
    assert!(r2.is_empty());
    assert_eq!(again, cmd);
    let used = &msg[..msg.len() - rest.len()];
    let mut d = CommandDecoder::new(DecodeOptions::default(), 1 << 20);
    let mut got = None;
    for b in used {
        d.push(std::slice::from_ref(b));
        if let Some(r) = d.next_command() {
            got = Some(r.map(IntoStatic::into_static));
        }
    }
    assert_eq!(
        got,
        Some(Ok(cmd.into_static())),
        "{:?}",
        String::from_utf8_lossy(used)
    );
    true
}

fn response(msg: &[u8]) -> bool {
    let codec = ResponseCodec::default();
    let Ok((rest, resp)) = codec.decode(msg) else {
        return false;
    };
    let wire = codec.encode(&resp).into_bytes();
    let (r2, again) = codec
        .decode(&wire)
        .unwrap_or_else(|e| panic!("re-parse of {:?}: {e:?}", String::from_utf8_lossy(&wire)));
    assert!(r2.is_empty());
    assert_eq!(again, resp);
    let used = &msg[..msg.len() - rest.len()];
    let mut d = ResponseDecoder::new(DecodeOptions::default(), 1 << 20);
    let mut got = None;
    for b in used {
        d.push(std::slice::from_ref(b));
        if let Some(r) = d.next_response() {
            got = Some(r.map(IntoStatic::into_static));
        }
    }
    assert_eq!(
        got,
        Some(Ok(resp.into_static())),
        "{:?}",
        String::from_utf8_lossy(used)
    );
    // Greeting position too.
    if let Ok((_, g)) = GreetingCodec::default().decode(msg) {
        let w = GreetingCodec::default().encode(&g).into_bytes();
        assert_eq!(GreetingCodec::default().decode(&w).unwrap().1, g);
    }
    true
}

#[test]
fn rfc3501_session_lines_parse_in_their_direction() {
    let lines = load("imap.dict");
    // The README counts 21 lines with the trailing empty one; 20 entries.
    assert_eq!(lines.len(), 20);
    for l in &lines {
        let mut msg = l.clone();
        msg.extend_from_slice(b"\r\n");
        let is_response = l.starts_with(b"* ") || l.windows(4).any(|w| w == b" OK ");
        if is_response {
            assert!(response(&msg), "{:?}", String::from_utf8_lossy(l));
        } else {
            assert!(command(&msg), "{:?}", String::from_utf8_lossy(l));
        }
    }
}

fn contexts(e: &[u8]) -> Vec<(bool, Vec<u8>)> {
    let mut quoted = Vec::new();
    for &c in e {
        if c == b'"' || c == b'\\' {
            quoted.push(b'\\');
        }
        quoted.push(c);
    }
    let lit = |prefix: &[u8], suffix: &[u8]| {
        let mut v = prefix.to_vec();
        v.extend_from_slice(format!("{{{}}}\r\n", e.len()).as_bytes());
        v.extend_from_slice(e);
        v.extend_from_slice(suffix);
        v
    };
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        (false, cat(&[e, b"\r\n"])),
        (false, cat(&[b"a1 ", e, b"\r\n"])),
        (false, cat(&[b"a1 SELECT ", e, b"\r\n"])),
        (false, cat(&[b"a1 SELECT \"", &quoted, b"\"\r\n"])),
        (false, lit(b"a1 LOGIN ", b" pw\r\n")),
        (false, cat(&[b"a1 SEARCH ", e, b"\r\n"])),
        (false, cat(&[b"a1 UID FETCH 1:* (", e, b")\r\n"])),
        (false, cat(&[b"a1 STORE 1 +FLAGS (", e, b")\r\n"])),
        (true, cat(&[e, b"\r\n"])),
        (true, cat(&[b"* ", e, b"\r\n"])),
        (true, cat(&[b"* OK [", e, b"] text\r\n"])),
        (true, cat(&[b"a1 NO ", e, b"\r\n"])),
        (true, cat(&[b"* LIST () \"/\" ", e, b"\r\n"])),
        (true, cat(&[b"* FLAGS (", e, b")\r\n"])),
        (true, cat(&[b"* 1 FETCH (", e, b")\r\n"])),
        (true, lit(b"* 1 FETCH (BODY[] ", b")\r\n")),
        (true, cat(&[b"* CAPABILITY ", e, b"\r\n"])),
    ]
}

#[test]
fn terminals_and_naughty_strings_as_seeds() {
    let mut tried = 0;
    let mut parsed = 0;
    for dict in ["terminals.dict", "blns.dict"] {
        let entries = load(dict);
        assert!(entries.len() > 100, "{dict}");
        for e in &entries {
            for (is_response, msg) in contexts(e) {
                tried += 1;
                let ok = if is_response {
                    response(&msg)
                } else {
                    command(&msg)
                };
                parsed += usize::from(ok);
            }
        }
    }
    println!("{tried} seeded messages, {parsed} parsed and round-tripped");
    // Every literal context holds any bytes but NUL, so most of those parse.
    assert!(parsed > tried / 10, "{parsed} of {tried}");
}
