//! Addresses: the addr-spec syntax of RFC 5322 §3.4.1 for redirect targets and envelope
//! parts, address lists in headers (parsed by `mail-parser`), and the address parts of
//! RFC 5228 §2.7.4 and RFC 5233 (`:localpart`, `:domain`, `:user`, `:detail`).

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

use crate::program::AddressPart;

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Literal(String),
    Dot,
    At,
    Open,
    Close,
}

/// Splits an address into tokens, skipping whitespace and comments (CFWS, RFC 5322 §3.2.2).
fn tokens(s: &str) -> Option<Vec<Tok>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                let mut depth = 0;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return None;
                }
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return None;
                }
                i += 1;
                out.push(Tok::Quoted(s[start..i].to_string()));
            }
            b'[' => {
                let start = i;
                while i < b.len() && b[i] != b']' {
                    if b[i] == b'[' && i != start {
                        return None;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return None;
                }
                i += 1;
                out.push(Tok::Literal(s[start..i].to_string()));
            }
            b'.' => {
                out.push(Tok::Dot);
                i += 1;
            }
            b'@' => {
                out.push(Tok::At);
                i += 1;
            }
            b'<' => {
                out.push(Tok::Open);
                i += 1;
            }
            b'>' => {
                out.push(Tok::Close);
                i += 1;
            }
            c if is_atext(c) || c >= 0x80 => {
                // Non-ASCII is allowed in a display name; addr_spec_tokens rejects it.
                let start = i;
                while i < b.len() && (is_atext(b[i]) || b[i] >= 0x80) {
                    i += 1;
                }
                out.push(Tok::Word(s[start..i].to_string()));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `local-part "@" domain` from tokens, normalized (no whitespace or comments).
fn addr_spec_tokens(t: &[Tok]) -> Option<String> {
    let at = t.iter().position(|x| *x == Tok::At)?;
    let (local, domain) = (&t[..at], &t[at + 1..]);
    if t.iter()
        .any(|x| matches!(x, Tok::Word(w) | Tok::Quoted(w) | Tok::Literal(w) if !w.is_ascii()))
    {
        return None;
    }
    let mut out = String::new();
    // local-part: words separated by dots; stray dots are accepted as RFC 5322's
    // obs-local-part and Pigeonhole do ("..a...b..@c").
    let mut prev_word = false;
    let mut words = 0;
    for x in local {
        match x {
            Tok::Word(w) | Tok::Quoted(w) if !prev_word => {
                out.push_str(w);
                prev_word = true;
                words += 1;
            }
            Tok::Dot => {
                out.push('.');
                prev_word = false;
            }
            _ => return None,
        }
    }
    if words == 0 {
        return None;
    }
    // A quoted local part that needs no quotes is written as a dot-atom (RFC 5321 §4.1.2:
    // the shortest form; "Sirius"@x is Sirius@x).
    if let [Tok::Quoted(q)] = local {
        let inner = &q[1..q.len() - 1];
        if !inner.is_empty()
            && !inner.starts_with('.')
            && !inner.ends_with('.')
            && !inner.contains("..")
            && inner.bytes().all(|b| is_atext(b) || b == b'.')
        {
            out.clear();
            out.push_str(inner);
        }
    }
    out.push('@');
    if let [Tok::Literal(l)] = domain {
        out.push_str(l);
        return Some(out);
    }
    for (k, x) in domain.iter().enumerate() {
        match (k % 2, x) {
            (0, Tok::Word(w)) => out.push_str(w),
            (1, Tok::Dot) => out.push('.'),
            _ => return None,
        }
    }
    if domain.is_empty() || domain.len() % 2 == 0 {
        return None;
    }
    Some(out)
}

/// A redirect target (RFC 5228 §4.2): an addr-spec, optionally as `Name <addr-spec>`, with
/// whitespace and comments allowed between tokens. Returns the normalized addr-spec.
pub(crate) fn parse_redirect_address(s: &str) -> Option<String> {
    let t = tokens(s)?;
    if let Some(open) = t.iter().position(|x| *x == Tok::Open) {
        // phrase "<" addr-spec ">": the phrase is words and dots only.
        if t.last() != Some(&Tok::Close)
            || t[..open]
                .iter()
                .any(|x| !matches!(x, Tok::Word(_) | Tok::Quoted(_) | Tok::Dot))
        {
            return None;
        }
        return addr_spec_tokens(&t[open + 1..t.len() - 1]);
    }
    addr_spec_tokens(&t)
}

/// Whether an address from a header is a valid addr-spec (RFC 5322 §3.4.1): a quick scan
/// for the plain `local@domain` form, the full parser otherwise.
pub(crate) fn is_addr_spec(a: &str) -> bool {
    let b = a.as_bytes();
    if let Some(at) = memchr::memchr(b'@', b) {
        let (local, domain) = (&b[..at], &b[at + 1..]);
        if !local.is_empty()
            && !domain.is_empty()
            && local.iter().all(|&c| is_atext(c) || c == b'.')
            && domain
                .split(|&c| c == b'.')
                .all(|l| !l.is_empty() && l.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-'))
        {
            return true;
        }
    }
    parse_redirect_address(a).is_some()
}

/// A `From:`-style mailbox: `addr-spec` or `phrase <addr-spec>`. Returns the addr-spec.
pub(crate) fn parse_mailbox_header(s: &str) -> Option<String> {
    parse_redirect_address(s)
}

/// The addresses in an address-list header value (raw, possibly folded), as addr-specs.
/// Group names are skipped; members are listed. Unparsable entries give their raw text so
/// `:all` tests can still see something (RFC 5228 §2.7.4 leaves this to the implementation).
pub(crate) fn header_addresses(raw: &[u8], out: &mut Vec<String>) {
    // Fast path for the common single address, `a@b` or `Name <a@b>`: nothing that needs
    // the full parser (lists, quotes, comments, groups, encoded words, escapes).
    if !raw
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'(' | b';' | b':' | b'\\' | b'\r' | b'\n'))
        && memchr::memmem::find(raw, b"=?").is_none()
        && let Ok(text) = std::str::from_utf8(raw)
    {
        let t = text.trim();
        let addr = match (t.find('<'), t.ends_with('>')) {
            (Some(i), true) if t[i + 1..].find('<').is_none() => t[i + 1..t.len() - 1].trim(),
            (None, false) => t,
            _ => "",
        };
        if addr.matches('@').count() == 1
            && !addr.contains([' ', '\t', '<', '>'])
            && !addr.starts_with('@')
            && !addr.ends_with('@')
        {
            out.push(addr.to_string());
            return;
        }
    }
    let mut buf;
    let input: &[u8] = if raw.ends_with(b"\n") {
        raw
    } else {
        buf = Vec::with_capacity(raw.len() + 2);
        buf.extend_from_slice(raw);
        buf.extend_from_slice(b"\r\n");
        &buf
    };
    let mut push = |a: &mail_parser::Addr<'_>| {
        if let Some(addr) = &a.address {
            out.push(addr.trim().to_string());
        }
    };
    match MessageStream::new(input).parse_address() {
        HeaderValue::Address(Address::List(list)) => list.iter().for_each(&mut push),
        HeaderValue::Address(Address::Group(groups)) => {
            groups
                .iter()
                .flat_map(|g| g.addresses.iter())
                .for_each(&mut push);
        }
        _ => {}
    }
}

/// An SMTP path (RFC 5321 §4.1.2 `Reverse-path` / `Forward-path`) as a host passes it for
/// the envelope: `<mailbox>` or a bare `mailbox`, optionally with an obsolete source route
/// (`<@a.example,@b.example:user@c.example>`, ignored as §4.1.2 allows), or the null path
/// (`""` or `<>`, returned as `""`). A mailbox without a domain (`<MAILER-DAEMON>`) is
/// accepted, as mail systems produce it. The local part is a dot-string (stray dots allowed,
/// as Pigeonhole does for Japanese mobile addresses) or a quoted string; non-ASCII is allowed
/// (RFC 6531). Returns the mailbox without brackets or route; `None` when the text is not a
/// path.
pub(crate) fn parse_smtp_path(s: &str) -> Option<String> {
    if s.is_empty() || s == "<>" {
        return Some(String::new());
    }
    let inner = if let Some(rest) = s.strip_prefix('<') {
        rest.strip_suffix('>')?
    } else {
        s
    };
    if inner.is_empty() || inner.contains(['<', '>']) {
        return None;
    }
    let mailbox = if inner.starts_with('@') {
        let (route, mailbox) = inner.split_once(':')?;
        for hop in route.split(',') {
            if !is_path_domain(hop.strip_prefix('@')?) {
                return None;
            }
        }
        mailbox
    } else {
        inner
    };
    let b = mailbox.as_bytes();
    // The local part: a quoted string, or atext and dots.
    let local_end = if b.first() == Some(&b'"') {
        let mut i = 1;
        loop {
            match b.get(i)? {
                b'\\' => i += 2,
                b'"' => break i + 1,
                _ => i += 1,
            }
        }
    } else {
        b.iter()
            .position(|&c| !(is_atext(c) || c == b'.' || c >= 0x80))
            .unwrap_or(b.len())
    };
    if local_end == 0 {
        return None;
    }
    match b.get(local_end) {
        None => Some(mailbox.to_string()),
        Some(b'@') if is_path_domain(&mailbox[local_end + 1..]) => Some(mailbox.to_string()),
        Some(_) => None,
    }
}

/// A domain in a path: dot-separated non-empty labels of letters, digits, `-` and `_`
/// (seen in the wild) or non-ASCII (RFC 6531), or an address literal `[...]`.
fn is_path_domain(d: &str) -> bool {
    if let Some(lit) = d.strip_prefix('[') {
        return lit
            .strip_suffix(']')
            .is_some_and(|l| !l.is_empty() && !l.contains(['[', ']', '\\']));
    }
    !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c >= 0x80)
        })
}

/// The part of an address a test compares (RFC 5228 §2.7.4, RFC 5233 §4).
/// `None` when the part does not exist (`:detail` without a separator, or a part of an
/// address without `@`, other than `:all` and `:localpart`).
pub(crate) fn address_part<'s>(
    addr: &'s str,
    part: AddressPart,
    delimiters: &str,
) -> Option<&'s str> {
    let (local, domain) = match addr.rfind('@') {
        Some(at) => (&addr[..at], Some(&addr[at + 1..])),
        None => (addr, None),
    };
    match part {
        AddressPart::All => Some(addr),
        AddressPart::LocalPart => Some(local),
        AddressPart::Domain => domain,
        AddressPart::User | AddressPart::Detail => {
            let sep = if delimiters.is_empty() {
                None
            } else {
                local.find(|c| delimiters.contains(c))
            };
            match (part, sep) {
                (AddressPart::User, Some(i)) => Some(&local[..i]),
                (AddressPart::User, None) => Some(local),
                (_, Some(i)) => {
                    Some(&local[i + local[i..].chars().next().map_or(1, char::len_utf8)..])
                }
                (_, None) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_specs() {
        let p = |s: &str| parse_redirect_address(s);
        assert_eq!(p("a.b@example.com").as_deref(), Some("a.b@example.com"));
        assert_eq!(
            p("\"a b\"@example.com").as_deref(),
            Some("\"a b\"@example.com")
        );
        assert_eq!(
            p("\"S.Bosch\"@example.net").as_deref(),
            Some("S.Bosch@example.net")
        );
        assert_eq!(
            p("\"S[r]us\"@example.net").as_deref(),
            Some("\"S[r]us\"@example.net")
        );
        assert_eq!(p("a@[1.2.3.4]").as_deref(), Some("a@[1.2.3.4]"));
        assert_eq!(
            p(" stephan @ example.org ").as_deref(),
            Some("stephan@example.org")
        );
        assert_eq!(p("a (comment) @b.c").as_deref(), Some("a@b.c"));
        assert_eq!(p("..a...b..@c.d").as_deref(), Some("..a...b..@c.d"));
        for bad in [
            "",
            "a",
            "@b",
            "a@",
            "a b@c",
            "a@b..c",
            "a@b.",
            "x <a@b",
            "r\u{fc}diger@example.com",
            "a@b,c@d",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(p("Bob <bob@x.test>").as_deref(), Some("bob@x.test"));
        assert_eq!(
            p("  Stephan Bosch  <  stephan  @  example.org  > ").as_deref(),
            Some("stephan@example.org")
        );
        assert_eq!(p("not an address"), None);
    }

    #[test]
    fn smtp_paths() {
        let p = |s: &str| parse_smtp_path(s);
        assert_eq!(p("").as_deref(), Some(""));
        assert_eq!(p("<>").as_deref(), Some(""));
        assert_eq!(p("<a@b.c>").as_deref(), Some("a@b.c"));
        assert_eq!(p("a@b.c").as_deref(), Some("a@b.c"));
        assert_eq!(p("<MAILER-DAEMON>").as_deref(), Some("MAILER-DAEMON"));
        assert_eq!(p("<@x.y,@z.w:a@b.c>").as_deref(), Some("a@b.c"));
        assert_eq!(p("..a...b..@c.d").as_deref(), Some("..a...b..@c.d"));
        assert_eq!(p("a@_x-.com").as_deref(), Some("a@_x-.com"));
        assert_eq!(p("\"a b\"@c.d").as_deref(), Some("\"a b\"@c.d"));
        for bad in [
            "<<a@b.c>",
            "a@b.c>",
            "<a@b.c",
            "<a b.c>",
            "<a@@b.c>",
            "a@",
            "<x.y:a@b.c>",
            "<@.x:a@b.c>",
            "<@x..y:a@b.c>",
            "<@x.ya@b.c>",
            "<@x@y:a@b.c>",
            "<@x,y:a@b.c>",
            "<@x,@y,a@b.c>",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_address_lists() {
        let mut v = Vec::new();
        header_addresses(
            b"\"Doe, J\" <j@d.test>, x@y.test,\r\n  group: a@b.test, c@d.test;",
            &mut v,
        );
        assert!(v.contains(&"j@d.test".to_string()));
        assert!(v.contains(&"x@y.test".to_string()));
        assert!(v.contains(&"c@d.test".to_string()));
    }

    #[test]
    fn parts() {
        use AddressPart::*;
        assert_eq!(
            address_part("ken+sieve@example.org", User, "+"),
            Some("ken")
        );
        assert_eq!(
            address_part("ken+sieve@example.org", Detail, "+"),
            Some("sieve")
        );
        assert_eq!(address_part("ken@example.org", Detail, "+"), None);
        assert_eq!(address_part("ken+@example.org", Detail, "+"), Some(""));
        assert_eq!(
            address_part("ken@example.org", Domain, "+"),
            Some("example.org")
        );
        assert_eq!(address_part("ken", Domain, "+"), None);
        assert_eq!(address_part("ken", LocalPart, "+"), Some("ken"));
    }
}
