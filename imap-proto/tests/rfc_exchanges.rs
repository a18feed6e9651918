//! Every C:/S: exchange of RFC 3501 (sections 6–8) and RFC 9051 (sections 6–8), from
//! `tests/data/rfc/` (see `tests/data/README.md`), replayed through our codecs.
//!
//! Each exchange is rebuilt as the two byte streams the RFC shows (client and server), with
//! literals and editorial line wraps resolved, framed by our framer, and every message is:
//!
//! 1. parsed (command, authenticate-data, DONE, greeting or response, by context);
//! 2. serialized again: byte-identical to the RFC text, or, where the RFC text is not canonical
//!    (lower-case keywords, `\NoSelect` spelling, a bare `+`, double spaces, elisions), listed
//!    in `NOT_CANONICAL` with the reason — the re-serialized form must then re-parse equal;
//! 3. fed to the streaming decoder one byte at a time, which must give the same value.
//!
//! Lines that are not protocol (`...very long command line...`, elided FETCH data `....`,
//! `(...)`) are placeholders and counted separately; the test fails if any other line does not
//! parse.

use imap_proto::codec::{
    AuthenticateDataCodec, CommandCodec, CommandDecoder, DecodeOptions, GreetingCodec,
    IdleDoneCodec, ResponseCodec, ResponseDecoder,
};
use imap_proto::error::DecodeError;
use imap_proto::fragment::{Direction, Event, Framer};
use imap_proto::types::{CommandBody, IntoStatic, Response, StatusKind};

#[derive(Debug)]
struct Line {
    client: bool,
    head: String,
    wraps: Vec<String>,
    src: usize,
}

struct Exchange {
    title: String,
    lines: Vec<Line>,
}

fn load(text: &str) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        if let Some(t) = raw.strip_prefix("### ") {
            out.push(Exchange {
                title: t.to_string(),
                lines: Vec::new(),
            });
        } else if let Some(rest) = raw.strip_prefix("C:").or_else(|| raw.strip_prefix("S:")) {
            let client = raw.starts_with('C');
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            out.last_mut().unwrap().lines.push(Line {
                client,
                head: rest.to_string(),
                wraps: Vec::new(),
                src: n + 1,
            });
        } else if let Some(w) = raw.strip_prefix("    ") {
            let annotation = (w.starts_with('<') && w.ends_with('>'))
                || w == ". . ."
                || w.starts_with("(Server and client");
            if !annotation {
                out.last_mut()
                    .unwrap()
                    .lines
                    .last_mut()
                    .unwrap()
                    .wraps
                    .push(w.to_string());
            }
        }
    }
    out
}

/// Lines that show no protocol, only the RFC's placeholder for it.
fn placeholder(s: &str) -> bool {
    s.starts_with("...")
        || s.ends_with("....")
        || s.ends_with("(...)")
        || s.ends_with(" ...")
        || s.contains("f5 ... f250")
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Command,
    AuthData,
    Done,
    Response,
}

fn parses(kind: Kind, msg: &[u8]) -> bool {
    let ok = |r: Result<(&[u8], ()), DecodeError<'_>>| match r {
        Ok((rest, ())) => rest.is_empty(),
        Err(DecodeError::LiteralFound { .. }) => true,
        Err(_) => false,
    };
    match kind {
        Kind::Command => ok(CommandCodec::default().decode(msg).map(|(r, _)| (r, ()))),
        Kind::AuthData => ok(AuthenticateDataCodec::default()
            .decode(msg)
            .map(|(r, _)| (r, ()))),
        Kind::Done => ok(IdleDoneCodec::default().decode(msg)),
        Kind::Response => ok(ResponseCodec::default().decode(msg).map(|(r, _)| (r, ()))),
    }
}

/// Joins a wrapped line: every combination of " " / "" at the wraps, all-spaces first; the
/// first that parses wins (the RFC wraps both at spaces and inside tokens).
fn unwrap_line(line: &Line, kind: Kind) -> String {
    if line.wraps.is_empty() {
        return line.head.clone();
    }
    let k = line.wraps.len().min(14);
    for mask in 0u32..(1 << k) {
        let mut s = line.head.clone();
        for (i, w) in line.wraps.iter().enumerate() {
            if i >= k || mask & (1 << i) == 0 {
                s.push(' ');
            }
            s.push_str(w);
        }
        let mut m = s.clone().into_bytes();
        m.extend_from_slice(b"\r\n");
        if parses(kind, &m) {
            return s;
        }
    }
    let mut s = line.head.clone();
    for w in &line.wraps {
        s.push(' ');
        s.push_str(w);
    }
    s
}

/// The RFC texts that are not in canonical form, with why. Each entry is a message prefix.
const NOT_CANONICAL: &[(&str, &str)] = &[
    ("a002 select inbox", "lower-case command"),
    ("a003 fetch 12 full", "lower-case command"),
    ("a004 fetch 12 body[header]", "lower-case command"),
    (
        "a005 store 12 +flags \\deleted",
        "lower-case command and flag",
    ),
    ("a006 logout", "lower-case command"),
    ("a001 login mrc secret", "lower-case command"),
    ("a000 starttls", "lower-case command"),
    ("l create", "lower-case command"),
    ("k1 select", "lower-case command"),
    ("k2 status", "lower-case command"),
    ("e login", "lower-case command"),
    ("i select", "lower-case command"),
    ("d login", "lower-case command"),
    ("d select", "lower-case command"),
    ("h search", "lower-case command"),
    ("g delete", "lower-case command"),
    ("f select", "lower-case command"),
    ("j select", "lower-case command"),
    ("n1 uid copy", "lower-case command"),
    ("n2 uid copy", "lower-case command"),
    (
        "* LSUB (\\NoSelect)",
        "attribute spelled \\NoSelect (canonical: \\Noselect)",
    ),
    (
        "* LIST (\\NoSelect)",
        "attribute spelled \\NoSelect (canonical: \\Noselect)",
    ),
    ("+\r\n", "continuation without the SP the grammar requires"),
    (
        "F284 STORE $ +FLAGS.Silent",
        "mixed-case .Silent (canonical: .SILENT)",
    ),
    (
        "* LIST () \".\"  \"INBOX\"",
        "RFC typo: two spaces (parses only with DecodeOptions::quirk_extra_spaces)",
    ),
    (
        "* LIST (\\Subscribed) \".\"  \"INBOX\"",
        "RFC typo: two spaces (parses only with DecodeOptions::quirk_extra_spaces)",
    ),
    (
        "* NAMESPACE ((\"INBOX.\" \".\")) NIL  NIL",
        "RFC typo: two spaces (parses only with DecodeOptions::quirk_extra_spaces)",
    ),
];

fn reason(msg: &[u8]) -> Option<&'static str> {
    let s = String::from_utf8_lossy(msg);
    NOT_CANONICAL
        .iter()
        .find(|(p, _)| s.starts_with(p))
        .map(|(_, r)| *r)
}

#[derive(Default, Debug)]
struct Counts {
    exchanges: usize,
    messages: usize,
    placeholders: usize,
    parsed: usize,
    identical: usize,
    not_canonical: usize,
    failures: Vec<String>,
}

#[allow(clippy::many_single_char_names, clippy::too_many_lines)]
fn check_message(kind: Kind, msg: &[u8], c: &mut Counts, ctx: &str) -> Option<Vec<u8>> {
    c.messages += 1;
    let text = String::from_utf8_lossy(msg).to_string();
    let first = text.lines().next().unwrap_or("");
    if placeholder(first.trim_end()) {
        c.placeholders += 1;
        if std::env::var_os("SHOW_PLACEHOLDERS").is_some() {
            println!("placeholder: {first:?}");
        }
        return None;
    }
    let (encoded, reparse_ok) = match kind {
        Kind::Command => match CommandCodec::default().decode(msg) {
            Ok(([], cmd)) => {
                let e = CommandCodec::default().encode(&cmd).into_bytes();
                let back = CommandCodec::default().decode(&e).map(|(_, c)| c);
                let ok = back.as_ref() == Ok(&cmd);
                // Byte by byte through the streaming decoder.
                let mut d = CommandDecoder::new(DecodeOptions::default(), 1 << 20);
                let mut got = None;
                for b in msg {
                    d.push(std::slice::from_ref(b));
                    if let Some(r) = d.next_command() {
                        got = Some(r.map(IntoStatic::into_static));
                    }
                }
                if got != Some(Ok(cmd.clone().into_static())) {
                    c.failures.push(format!(
                        "{ctx}: byte-by-byte differs for {first:?}: {got:?}"
                    ));
                }
                (e, ok)
            }
            other => {
                c.failures.push(format!(
                    "{ctx}: command does not parse: {text:?}: {other:?}"
                ));
                return None;
            }
        },
        Kind::AuthData => match AuthenticateDataCodec::default().decode(msg) {
            Ok(([], d)) => {
                let e = AuthenticateDataCodec::default().encode(&d).into_bytes();
                let ok = AuthenticateDataCodec::default().decode(&e).map(|(_, x)| x) == Ok(d);
                (e, ok)
            }
            other => {
                c.failures.push(format!(
                    "{ctx}: authenticate data does not parse: {text:?}: {other:?}"
                ));
                return None;
            }
        },
        Kind::Done => match IdleDoneCodec::default().decode(msg) {
            Ok(([], ())) => (IdleDoneCodec::default().encode().into_bytes(), true),
            other => {
                c.failures
                    .push(format!("{ctx}: DONE does not parse: {text:?}: {other:?}"));
                return None;
            }
        },
        Kind::Response => match ResponseCodec::default().decode(msg).or_else(|e| {
            // RFC typos: accepted only with the named leniency, and listed.
            if reason(msg).is_some_and(|r| r.contains("quirk")) {
                ResponseCodec {
                    decode: DecodeOptions::lenient(),
                    ..Default::default()
                }
                .decode(msg)
            } else {
                Err(e)
            }
        }) {
            Ok(([], r)) => {
                let e = ResponseCodec::default().encode(&r).into_bytes();
                let back = ResponseCodec::default().decode(&e).map(|(_, r)| r);
                let ok = back.as_ref() == Ok(&r);
                let opts = if reason(msg).is_some_and(|r| r.contains("quirk")) {
                    DecodeOptions::lenient()
                } else {
                    DecodeOptions::default()
                };
                let mut d = ResponseDecoder::new(opts, 1 << 20);
                let mut got = None;
                for b in msg {
                    d.push(std::slice::from_ref(b));
                    if let Some(x) = d.next_response() {
                        got = Some(x.map(IntoStatic::into_static));
                    }
                }
                if got != Some(Ok(r.clone().into_static())) {
                    c.failures
                        .push(format!("{ctx}: byte-by-byte differs for {first:?}"));
                }
                // A status response in greeting position must also read as a greeting.
                if let Response::Status(s) = &r
                    && s.tag.is_none()
                    && matches!(
                        s.kind,
                        StatusKind::Ok | StatusKind::PreAuth | StatusKind::Bye
                    )
                {
                    match GreetingCodec::default().decode(msg) {
                        Ok((_, g)) if GreetingCodec::default().encode(&g).as_bytes() == e => {}
                        other => c
                            .failures
                            .push(format!("{ctx}: greeting differs: {text:?} {other:?}")),
                    }
                }
                (e, ok)
            }
            other => {
                c.failures.push(format!(
                    "{ctx}: response does not parse: {text:?}: {other:?}"
                ));
                return None;
            }
        },
    };
    c.parsed += 1;
    if !reparse_ok {
        c.failures.push(format!(
            "{ctx}: re-serialized form does not re-parse equal: {text:?} -> {:?}",
            String::from_utf8_lossy(&encoded)
        ));
    }
    if encoded == msg {
        c.identical += 1;
        if let Some(r) = reason(msg) {
            c.failures.push(format!(
                "{ctx}: listed as not canonical ({r}) but round-trips: {first:?}"
            ));
        }
    } else if reason(msg).is_some() {
        c.not_canonical += 1;
    } else {
        c.failures.push(format!(
            "{ctx}: not byte-identical:\n  rfc: {text:?}\n  ours: {:?}",
            String::from_utf8_lossy(&encoded)
        ));
    }
    Some(encoded)
}

fn run(file: &str) -> Counts {
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/rfc/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut c = Counts::default();
    for ex in load(&text) {
        c.exchanges += 1;
        let mut cf = Framer::new(Direction::Command, 1 << 20);
        let mut sf = Framer::new(Direction::Response, 1 << 20);
        let mut auth_tag: Option<String> = None;
        for line in &ex.lines {
            let ctx = format!("{} (line {})", ex.title, line.src);
            let in_literal_c = cf.buffered() > 0;
            let in_literal_s = sf.buffered() > 0;
            let kind = if !line.client {
                Kind::Response
            } else if auth_tag.is_some() {
                Kind::AuthData
            } else if line.head == "DONE" {
                Kind::Done
            } else {
                Kind::Command
            };
            let joined = if (line.client && in_literal_c) || (!line.client && in_literal_s) {
                line.head.clone()
            } else {
                unwrap_line(line, kind)
            };
            let f = if line.client { &mut cf } else { &mut sf };
            f.push(joined.as_bytes());
            f.push(b"\r\n");
            loop {
                match f.advance() {
                    Some(Event::Message) => {
                        let msg = f.message().to_vec();
                        f.consume();
                        check_message(kind, &msg, &mut c, &ctx);
                        let s = String::from_utf8_lossy(&msg).to_string();
                        let mut words = s.split_whitespace();
                        let tag = words.next().unwrap_or("").to_string();
                        let cmd = words.next().unwrap_or("").to_ascii_uppercase();
                        if kind == Kind::Command && cmd == "AUTHENTICATE" {
                            if let Ok((_, command)) = CommandCodec::default().decode(&msg)
                                && let CommandBody::Authenticate { .. } = command.body
                            {
                                auth_tag = Some(tag.clone());
                            }
                        } else if kind == Kind::Response
                            && auth_tag.as_deref() == Some(tag.as_str())
                        {
                            auth_tag = None;
                        }
                    }
                    // The RFC's server refuses the 102856-byte literal of an unknown command
                    // by tag; the client then never sends it.
                    Some(Event::Literal { length, .. }) if length > 65536 => f.reject_literal(),
                    Some(Event::Literal { .. }) => f.keep_literal(),
                    Some(Event::Discarded { .. }) => {
                        let head = f.message().to_vec();
                        f.consume();
                        c.messages += 1;
                        match CommandCodec::default().decode(&head) {
                            Err(DecodeError::LiteralFound {
                                tag: Some(t),
                                length,
                                ..
                            }) if t.as_str() == "A044" && length == 102_856 => {
                                c.parsed += 1;
                                c.identical += 1;
                            }
                            other => c
                                .failures
                                .push(format!("{ctx}: refused literal: {other:?}")),
                        }
                    }
                    Some(other) => panic!("{ctx}: unexpected {other:?}"),
                    None => break,
                }
            }
        }
        assert_eq!(cf.buffered(), 0, "{}: client bytes left over", ex.title);
        assert_eq!(sf.buffered(), 0, "{}: server bytes left over", ex.title);
    }
    c
}

fn report(name: &str, c: &Counts) {
    println!(
        "{name}: {} exchanges, {} messages: {} placeholders, {} parsed, {} byte-identical, \
         {} parsed but the RFC text is not canonical (all re-parse equal)",
        c.exchanges, c.messages, c.placeholders, c.parsed, c.identical, c.not_canonical
    );
    for f in &c.failures {
        println!("FAIL {f}");
    }
}

#[test]
fn rfc3501_exchanges() {
    let c = run("rfc3501-exchanges.txt");
    report("RFC 3501", &c);
    assert!(c.failures.is_empty(), "{} failures", c.failures.len());
    assert_eq!(c.exchanges, 43);
    assert_eq!(c.parsed + c.placeholders, c.messages);
    assert!(c.identical > 0);
}

#[test]
fn rfc9051_exchanges() {
    let c = run("rfc9051-exchanges.txt");
    report("RFC 9051", &c);
    assert!(c.failures.is_empty(), "{} failures", c.failures.len());
    assert_eq!(c.exchanges, 152);
    assert_eq!(c.parsed + c.placeholders, c.messages);
    assert!(c.identical > 0);
}
