//! Addresses: the addr-spec syntax of RFC 5322 §3.4.1 for redirect targets and envelope
//! parts, address lists in headers (parsed by `mail-parser`), and the address parts of
//! RFC 5228 §2.7.4 and RFC 5233 (`:localpart`, `:domain`, `:user`, `:detail`).


use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

use crate::program::AddressPart;

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

/// A dot-atom: atoms of atext separated by single dots.
fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|a| !a.is_empty() && a.bytes().all(is_atext))
}

fn is_quoted_string(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return false;
    }
    let mut esc = false;
    for &c in &b[1..b.len() - 1] {
        if esc {
            esc = false;
        } else if c == b'\\' {
            esc = true;
        } else if c == b'"' || c == b'\r' || c == b'\n' {
            return false;
        }
    }
    !esc
}

fn is_domain(s: &str) -> bool {
    is_dot_atom(s)
        || (s.starts_with('[')
            && s.ends_with(']')
            && s.len() > 2
            && !s[1..s.len() - 1].contains(['[', ']', '\\']))
}

/// Splits a valid addr-spec `local@domain` at its last `@`.
pub(crate) fn parse_addr_spec(s: &str) -> Option<(&str, &str)> {
    let at = s.rfind('@')?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if (is_dot_atom(local) || is_quoted_string(local)) && is_domain(domain) {
        Some((local, domain))
    } else {
        None
    }
}

/// A redirect target (RFC 5228 §4.2): an addr-spec, optionally as `Name <addr-spec>`.
/// Returns the bare addr-spec.
pub(crate) fn parse_redirect_address(s: &str) -> Option<String> {
    let t = s.trim();
    if let (Some(open), true) = (t.rfind('<'), t.ends_with('>')) {
        let inner = t[open + 1..t.len() - 1].trim();
        return parse_addr_spec(inner).map(|_| inner.to_string());
    }
    parse_addr_spec(t).map(|_| t.to_string())
}

/// A `From:`-style mailbox: `addr-spec` or `phrase <addr-spec>`. Returns the addr-spec.
pub(crate) fn parse_mailbox_header(s: &str) -> Option<String> {
    parse_redirect_address(s)
}

/// The addresses in an address-list header value (raw, possibly folded), as addr-specs.
/// Group names are skipped; members are listed. Unparsable entries give their raw text so
/// `:all` tests can still see something (RFC 5228 §2.7.4 leaves this to the implementation).
pub(crate) fn header_addresses(raw: &[u8], out: &mut Vec<String>) {
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
        assert_eq!(
            parse_addr_spec("a.b@example.com"),
            Some(("a.b", "example.com"))
        );
        assert_eq!(
            parse_addr_spec("\"a b\"@example.com"),
            Some(("\"a b\"", "example.com"))
        );
        assert_eq!(parse_addr_spec("a@[1.2.3.4]"), Some(("a", "[1.2.3.4]")));
        for bad in ["", "a", "@b", "a@", "a..b@c", "a b@c", "a@b..c", ".a@b"] {
            assert_eq!(parse_addr_spec(bad), None, "{bad}");
        }
        assert_eq!(
            parse_redirect_address("Bob <bob@x.test>").as_deref(),
            Some("bob@x.test")
        );
        assert_eq!(
            parse_redirect_address(" bob@x.test ").as_deref(),
            Some("bob@x.test")
        );
        assert_eq!(parse_redirect_address("not an address"), None);
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
