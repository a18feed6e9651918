//! A parser for BIND-style master files (RFC 1035 §5), for offline use and tests.
//!
//! It reads the zone formats the tools and tests need (`.ci/peers/templates/test.zone` is
//! one) into a [`StaticResolver`]:
//!
//! - directives `$ORIGIN`, `$TTL` (seconds or `1h30m`-style units) and `$INCLUDE` (through a
//!   callback: this crate never touches the file system);
//! - owner names: absolute (`example.org.`), relative to the origin, `@`, or omitted (a line
//!   that starts with white space continues the previous owner);
//! - TTL and class (`IN`) in either order, both optional;
//! - parentheses spanning lines, `;` comments, quoted character-strings with `\"`, `\\`
//!   and `\DDD` escapes;
//! - types A, AAAA, MX, TXT (several strings are concatenated), PTR, CNAME, TLSA (hex data may
//!   be split by white space). SOA, NS, SPF (type 99, which RFC 7208 §3.1 says to ignore),
//!   SRV, CAA and other types are parsed past and counted in [`Zone::skipped`].
//!
//! ```
//! use mail_auth_core::dns::{Question, RecordType, Resolve, zone};
//!
//! let text = r#"
//! $ORIGIN example.org.
//! $TTL 1h
//! @        IN  MX   10 mx
//! mx           A    192.0.2.25
//! @            TXT  ( "v=spf1 mx"
//!                     " -all" )   ; two strings, one record
//! "#;
//! let z = zone::parse(text, None).unwrap();
//! let a = z.resolver.resolve(&Question::new("example.org", RecordType::Txt));
//! assert_eq!(a.txt().next(), Some(&b"v=spf1 mx -all"[..]));
//! assert_eq!(a.ttl(), Some(3600));
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Record, StaticResolver, normalize};

/// The deepest `$INCLUDE` nesting [`parse_with_includes`] follows.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// The TTL used when a file gives none and has no `$TTL` (one hour).
pub const DEFAULT_TTL: u32 = 3600;

/// A parsed zone.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Zone {
    /// The records, ready to answer questions.
    pub resolver: StaticResolver,
    /// How many records were read into `resolver`.
    pub records: usize,
    /// How many records of types the resolver does not serve (SOA, NS, ...) were skipped.
    pub skipped: usize,
}

/// Why a master file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneError {
    /// The line (1-based) where the bad entry starts, in the file named by `file`.
    pub line: usize,
    /// The file: empty for the top-level text, else the `$INCLUDE` argument.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ZoneError {}

/// Parses a master file with no `$INCLUDE` support (an `$INCLUDE` line is an error).
///
/// `origin` is the initial `$ORIGIN` (the root when `None`).
pub fn parse(text: &str, origin: Option<&str>) -> Result<Zone, ZoneError> {
    parse_with_includes(text, origin, &mut |_: &str| None)
}

/// Parses a master file; `include` returns the text of an `$INCLUDE`d file, or `None` when
/// it cannot be read (an error naming the file).
pub fn parse_with_includes(
    text: &str,
    origin: Option<&str>,
    include: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Zone, ZoneError> {
    let mut zone = Zone::default();
    let mut st = State {
        origin: origin.map(normalize).unwrap_or_default(),
        default_ttl: None,
        last_ttl: DEFAULT_TTL,
        last_owner: None,
    };
    parse_into(&mut zone, &mut st, text, "", include, 0)?;
    Ok(zone)
}

struct State {
    origin: String,
    default_ttl: Option<u32>,
    last_ttl: u32,
    last_owner: Option<String>,
}

fn parse_into(
    zone: &mut Zone,
    st: &mut State,
    text: &str,
    file: &str,
    include: &mut dyn FnMut(&str) -> Option<String>,
    depth: usize,
) -> Result<(), ZoneError> {
    let err = |line: usize, message: String| ZoneError {
        line,
        file: file.to_string(),
        message,
    };
    for entry in Entries::new(text) {
        let (line, starts_blank, tokens) = entry.map_err(|(l, m)| err(l, m))?;
        if tokens.is_empty() {
            continue;
        }
        let first = tokens[0].text.as_str();
        if !tokens[0].quoted && first.starts_with('$') {
            match first.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let name = tokens
                        .get(1)
                        .ok_or_else(|| err(line, "$ORIGIN needs a name".into()))?;
                    st.origin = absolute(&name.text, &st.origin);
                }
                "$TTL" => {
                    let t = tokens
                        .get(1)
                        .and_then(|t| parse_ttl(&t.text))
                        .ok_or_else(|| err(line, "$TTL needs a time value".into()))?;
                    st.default_ttl = Some(t);
                }
                "$INCLUDE" => {
                    let path = tokens
                        .get(1)
                        .ok_or_else(|| err(line, "$INCLUDE needs a file name".into()))?;
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(err(line, "$INCLUDE nested too deeply".into()));
                    }
                    let sub = include(&path.text)
                        .ok_or_else(|| err(line, format!("cannot read {}", path.text)))?;
                    let saved_origin = st.origin.clone();
                    if let Some(o) = tokens.get(2) {
                        st.origin = absolute(&o.text, &st.origin);
                    }
                    parse_into(zone, st, &sub, &path.text, include, depth + 1)?;
                    // RFC 1035 §5.1: $INCLUDE does not change the including file's origin.
                    st.origin = saved_origin;
                }
                other => return Err(err(line, format!("unknown directive {other}"))),
            }
            continue;
        }
        let mut i = 0;
        let owner = if starts_blank {
            st.last_owner
                .clone()
                .ok_or_else(|| err(line, "no previous owner name".into()))?
        } else {
            i = 1;
            absolute(first, &st.origin)
        };
        st.last_owner = Some(owner.clone());
        // [ttl] [class] or [class] [ttl]
        let mut ttl = None;
        for _ in 0..2 {
            let Some(t) = tokens.get(i) else { break };
            if t.quoted {
                break;
            }
            if ttl.is_none()
                && let Some(v) = parse_ttl(&t.text)
            {
                ttl = Some(v);
                i += 1;
            } else if matches!(
                t.text.to_ascii_uppercase().as_str(),
                "IN" | "CH" | "HS" | "CS"
            ) {
                i += 1;
            }
        }
        let rtype = tokens
            .get(i)
            .ok_or_else(|| err(line, "missing record type".into()))?
            .text
            .to_ascii_uppercase();
        let rdata = &tokens[i + 1..];
        let ttl = match ttl {
            Some(t) => {
                st.last_ttl = t;
                t
            }
            None => st.default_ttl.unwrap_or(st.last_ttl),
        };
        let word = |n: usize| -> Result<&str, ZoneError> {
            rdata
                .get(n)
                .map(|t| t.text.as_str())
                .ok_or_else(|| err(line, format!("{rtype} record is missing data")))
        };
        let record = match rtype.as_str() {
            "A" => Record::A(
                word(0)?
                    .parse::<Ipv4Addr>()
                    .map_err(|_| err(line, format!("bad IPv4 address {:?}", rdata[0].text)))?,
            ),
            "AAAA" => Record::Aaaa(
                word(0)?
                    .parse::<Ipv6Addr>()
                    .map_err(|_| err(line, format!("bad IPv6 address {:?}", rdata[0].text)))?,
            ),
            "MX" => {
                let pref = word(0)?
                    .parse::<u16>()
                    .map_err(|_| err(line, "bad MX preference".into()))?;
                Record::mx(pref, &absolute(word(1)?, &st.origin))
            }
            "PTR" => Record::ptr(&absolute(word(0)?, &st.origin)),
            "TXT" => {
                if rdata.is_empty() {
                    return Err(err(line, "TXT record is missing data".into()));
                }
                let mut v = Vec::new();
                for t in rdata {
                    if t.bytes.len() > 255 {
                        return Err(err(line, "TXT character-string longer than 255".into()));
                    }
                    v.extend_from_slice(&t.bytes);
                }
                Record::Txt(v)
            }
            "CNAME" => {
                let target = absolute(word(0)?, &st.origin);
                zone.resolver.add_cname(&owner, &target);
                zone.records += 1;
                continue;
            }
            "TLSA" => {
                let num = |n: usize| -> Result<u8, ZoneError> {
                    word(n)?
                        .parse::<u8>()
                        .map_err(|_| err(line, "bad TLSA field".into()))
                };
                let hex: String = rdata.iter().skip(3).map(|t| t.text.as_str()).collect();
                let data = decode_hex(&hex).ok_or_else(|| err(line, "bad TLSA hex data".into()))?;
                Record::Tlsa {
                    usage: num(0)?,
                    selector: num(1)?,
                    matching: num(2)?,
                    data,
                }
            }
            t if t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                zone.skipped += 1;
                continue;
            }
            t => return Err(err(line, format!("bad record type {t:?}"))),
        };
        zone.resolver.add_with_ttl(&owner, record, ttl);
        zone.records += 1;
    }
    Ok(())
}

/// Makes a name absolute against `origin`; the result has no trailing dot and is lower case.
fn absolute(name: &str, origin: &str) -> String {
    if name == "@" {
        return origin.to_string();
    }
    if let Some(abs) = name.strip_suffix('.') {
        return abs.to_ascii_lowercase();
    }
    if origin.is_empty() {
        name.to_ascii_lowercase()
    } else {
        format!("{}.{origin}", name.to_ascii_lowercase())
    }
}

/// A TTL: plain seconds or BIND units (`1w2d3h4m5s`, case-insensitive).
fn parse_ttl(s: &str) -> Option<u32> {
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(v) = s.parse::<u32>() {
        return Some(v);
    }
    let mut total: u64 = 0;
    let mut cur: u64 = 0;
    let mut digits = false;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            cur = cur.checked_mul(10)?.checked_add(u64::from(d))?;
            digits = true;
        } else {
            let unit = match c.to_ascii_lowercase() {
                'w' => 604_800,
                'd' => 86_400,
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return None,
            };
            if !digits {
                return None;
            }
            total = total.checked_add(cur.checked_mul(unit)?)?;
            cur = 0;
            digits = false;
        }
    }
    if digits {
        return None;
    }
    u32::try_from(total).ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

struct Token {
    text: String,
    bytes: Vec<u8>,
    quoted: bool,
}

/// Splits a master file into entries (logical lines, parentheses joined) of tokens.
struct Entries<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Entries<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            src: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }
}

type Entry = Result<(usize, bool, Vec<Token>), (usize, String)>;

impl Iterator for Entries<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.pos >= self.src.len() {
            return None;
        }
        let start_line = self.line;
        let starts_blank = matches!(self.src[self.pos], b' ' | b'\t');
        let mut tokens = Vec::new();
        let mut depth = 0usize;
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                if depth > 0 {
                    return Some(Err((start_line, "unclosed parenthesis".into())));
                }
                break;
            };
            match c {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    if depth == 0 {
                        break;
                    }
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b';' => {
                    while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'(' => {
                    depth += 1;
                    self.pos += 1;
                }
                b')' => {
                    if depth == 0 {
                        return Some(Err((self.line, "unbalanced ')'".into())));
                    }
                    depth -= 1;
                    self.pos += 1;
                }
                b'"' => {
                    self.pos += 1;
                    let mut bytes = Vec::new();
                    loop {
                        let Some(&c) = self.src.get(self.pos) else {
                            return Some(Err((start_line, "unterminated string".into())));
                        };
                        self.pos += 1;
                        match c {
                            b'"' => break,
                            b'\\' => match self.escape() {
                                Ok(b) => bytes.push(b),
                                Err(m) => return Some(Err((self.line, m))),
                            },
                            b'\n' => {
                                self.line += 1;
                                bytes.push(c);
                            }
                            _ => bytes.push(c),
                        }
                    }
                    tokens.push(Token {
                        text: String::from_utf8_lossy(&bytes).into_owned(),
                        bytes,
                        quoted: true,
                    });
                }
                _ => {
                    let mut bytes = Vec::new();
                    while let Some(&c) = self.src.get(self.pos) {
                        if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"') {
                            break;
                        }
                        self.pos += 1;
                        if c == b'\\' {
                            match self.escape() {
                                Ok(b) => bytes.push(b),
                                Err(m) => return Some(Err((self.line, m))),
                            }
                        } else {
                            bytes.push(c);
                        }
                    }
                    tokens.push(Token {
                        text: String::from_utf8_lossy(&bytes).into_owned(),
                        bytes,
                        quoted: false,
                    });
                }
            }
        }
        Some(Ok((start_line, starts_blank, tokens)))
    }
}

impl Entries<'_> {
    /// After a backslash: `\DDD` (decimal octet) or the next character itself.
    fn escape(&mut self) -> Result<u8, String> {
        let rest = &self.src[self.pos..];
        if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
            let v = u32::from(rest[0] - b'0') * 100
                + u32::from(rest[1] - b'0') * 10
                + u32::from(rest[2] - b'0');
            self.pos += 3;
            return u8::try_from(v).map_err(|_| format!("escape \\{v} is not an octet"));
        }
        match rest.first() {
            Some(&c) => {
                self.pos += 1;
                if c == b'\n' {
                    self.line += 1;
                }
                Ok(c)
            }
            None => Err("backslash at end of file".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Answer, Question, RecordType, Resolve};

    const TEST_ZONE: &str = r#"
; like .ci/peers/templates/test.zone
$ORIGIN test.
$TTL 60
@               SOA   ns.test. hostmaster.test. ( 1 3600 600 86400 60 )
@               NS    ns.test.
ns              A     127.0.0.1
sender          A     127.0.0.1
sender          MX    10 mx.sender.test.
mx.sender       A     127.0.0.1
mx.sender       AAAA  ::1
sender          TXT   "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"
wookie._domainkey.sender  IN  TXT  ( "v=DKIM1; k=rsa; "
        "p=MIGf" )   ; split
twospf          TXT   "v=spf1 -all"
twospf          TXT   "v=spf1 +all"
alias    300 IN CNAME sender
esc             TXT   "a\"b\\c\059d" plain\032word
_25._tcp.mx.sender IN 120 TLSA 3 1 1 ( 0123456789abcdef
                                      0123456789ABCDEF )
                 TXT   "continued owner"
"#;

    fn q(name: &str, t: RecordType) -> Question {
        Question::new(name, t)
    }

    #[test]
    fn reads_the_peer_zone_shape() {
        let z = parse(TEST_ZONE, None).unwrap();
        assert_eq!(z.skipped, 2); // SOA, NS
        let r = &z.resolver;
        assert_eq!(
            r.resolve(&q("sender.test", RecordType::Txt)).txt().next(),
            Some(&b"v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"[..])
        );
        assert_eq!(
            r.resolve(&q("wookie._domainkey.sender.test", RecordType::Txt))
                .txt()
                .next(),
            Some(&b"v=DKIM1; k=rsa; p=MIGf"[..])
        );
        assert_eq!(
            r.resolve(&q("twospf.test", RecordType::Txt)).txt().count(),
            2
        );
        let mx = r.resolve(&q("sender.test", RecordType::Mx));
        assert_eq!(mx.mx().collect::<Vec<_>>(), [(10, "mx.sender.test")]);
        assert_eq!(mx.ttl(), Some(60));
        let aaaa = r.resolve(&q("mx.sender.test", RecordType::Aaaa));
        assert_eq!(aaaa.ips().next(), Some("::1".parse().unwrap()));
        // CNAME followed.
        let a = r.resolve(&q("alias.test", RecordType::A));
        assert_eq!(a.ips().next(), Some("127.0.0.1".parse().unwrap()));
        // Escapes: \" \\ \059 (';') and \032 (space) outside quotes; two strings joined.
        assert_eq!(
            r.resolve(&q("esc.test", RecordType::Txt)).txt().next(),
            Some(&b"a\"b\\c;dplain word"[..])
        );
        let tlsa = r.resolve(&q("_25._tcp.mx.sender.test", RecordType::Tlsa));
        match &tlsa.as_records()[0] {
            Record::Tlsa {
                usage,
                selector,
                matching,
                data,
            } => {
                assert_eq!((*usage, *selector, *matching), (3, 1, 1));
                assert_eq!(data.len(), 16);
                assert_eq!(data[..8], data[8..]);
            }
            other => panic!("not TLSA: {other:?}"),
        }
        assert_eq!(tlsa.ttl(), Some(120));
        // A line starting with white space continues the previous owner.
        assert_eq!(
            r.resolve(&q("_25._tcp.mx.sender.test", RecordType::Txt))
                .txt()
                .next(),
            Some(&b"continued owner"[..])
        );
        assert!(matches!(
            r.resolve(&q("nope.test", RecordType::A)),
            Answer::NxDomain { .. }
        ));
        assert!(matches!(
            r.resolve(&q("ns.test", RecordType::Txt)),
            Answer::NoData { .. }
        ));
    }

    #[test]
    fn includes_go_through_the_callback() {
        let text = "$ORIGIN test.\n$INCLUDE extra.records sub.test.\nb A 192.0.2.2\n";
        let mut asked = Vec::new();
        let z = parse_with_includes(text, None, &mut |p: &str| {
            asked.push(p.to_string());
            Some("a A 192.0.2.1\n".into())
        })
        .unwrap();
        assert_eq!(asked, ["extra.records"]);
        assert_eq!(z.records, 2);
        let r = &z.resolver;
        assert_eq!(r.resolve(&q("a.sub.test", RecordType::A)).ips().count(), 1);
        assert_eq!(r.resolve(&q("b.test", RecordType::A)).ips().count(), 1);
        let e = parse(text, None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("cannot read extra.records"));
    }

    #[test]
    fn recursive_includes_are_bounded() {
        let e = parse_with_includes("$INCLUDE self\n", None, &mut |_: &str| {
            Some("$INCLUDE self\n".into())
        })
        .unwrap_err();
        assert!(e.message.contains("too deeply"), "{e}");
    }

    #[test]
    fn ttls_and_origin() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("1W"), Some(604_800));
        assert_eq!(parse_ttl("1x"), None);
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("5h3"), None);
        let z = parse("x.example. 10 A 192.0.2.1\ny.example. A 192.0.2.2\n", None).unwrap();
        // No $TTL: the last explicit TTL carries over (RFC 1035 §5.1).
        let a = z.resolver.resolve(&q("y.example", RecordType::A));
        assert_eq!(a.ttl(), Some(10));
        let z = parse("host A 192.0.2.1\n", Some("Example.ORG.")).unwrap();
        assert_eq!(
            z.resolver
                .resolve(&q("host.example.org", RecordType::A))
                .ips()
                .count(),
            1
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for (text, line) in [
            ("a A 999.1.1.1\n", 1),
            ("\n\na AAAA zz\n", 3),
            ("a MX ten b.\n", 1),
            ("a TXT ( \"x\"\n", 1),
            ("a TXT \"x\n", 1),
            ("a TXT x )\n", 1),
            ("a TLSA 3 1 1 abc\n", 1),
            ("a\n", 1),
            ("$BOGUS x\n", 1),
            (" A 192.0.2.1\n", 1),
            ("a TXT \"\\999\"\n", 1),
            ("a MX 10\n", 1),
        ] {
            let e = parse(text, None).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }
}
