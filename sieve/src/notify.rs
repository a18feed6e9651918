//! Notification methods (RFC 5435): only `mailto` (RFC 5436, URIs per RFC 6068).

/// A parsed `mailto:` URI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MailtoUri {
    /// Recipients (`to` part and `to=`/`cc=`/`bcc=` headers), addr-specs.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    /// Recipients written with a display name (`Name <addr>`): (addr-spec, text as given).
    pub named: Vec<(String, String)>,
    /// Other headers (name, value), `body` excluded.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

fn pct_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(v) = hex else {
                return Err(format!("invalid percent-encoding in \"{s}\""));
            };
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-encoding in \"{s}\" is not UTF-8"))
}

/// Headers a `mailto:` URI must not set (RFC 5436 §2.2).
fn forbidden_header(h: &str) -> bool {
    matches!(
        h.to_ascii_lowercase().as_str(),
        "received"
            | "return-path"
            | "auto-submitted"
            | "message-id"
            | "date"
            | "from"
            | "sender"
            | "resent-from"
            | "resent-sender"
            | "resent-to"
            | "resent-cc"
            | "resent-bcc"
            | "resent-date"
            | "resent-message-id"
    )
}

fn check_uri_chars(s: &str) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_graphic()
            && !matches!(
                b,
                b'<' | b'>' | b'"' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
    })
}

/// Parses a `mailto:` URI (the scheme included).
pub(crate) fn parse_mailto(uri: &str) -> Result<MailtoUri, String> {
    let Some(rest) = uri
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("mailto:"))
        .map(|_| &uri[7..])
    else {
        return Err(format!("\"{uri}\" is not a mailto: URI"));
    };
    if !check_uri_chars(rest) {
        return Err(format!("invalid character in the mailto URI \"{uri}\""));
    }
    let (to_part, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    let mut m = MailtoUri::default();
    let mut named = Vec::new();
    let mut add = |list: &mut Vec<String>, raw: &str| -> Result<(), String> {
        let decoded = pct_decode(raw)?;
        for a in decoded.split(',') {
            let a = a.trim();
            if a.is_empty() {
                continue;
            }
            match crate::address::parse_redirect_address(a) {
                Some(x) => {
                    if a.contains('<') {
                        named.push((x.clone(), a.to_string()));
                    }
                    list.push(x);
                }
                None => return Err(format!("invalid recipient \"{a}\" in the mailto URI")),
            }
        }
        Ok(())
    };
    add(&mut m.to, to_part)?;
    if let Some(q) = query {
        for field in q.split('&') {
            if field.is_empty() {
                continue;
            }
            let (name, value) = field.split_once('=').unwrap_or((field, ""));
            let name = pct_decode(name)?;
            if !crate::compile::is_field_name(&name) {
                return Err(format!("invalid header name \"{name}\" in the mailto URI"));
            }
            match name.to_ascii_lowercase().as_str() {
                "to" => add(&mut m.to, value)?,
                "cc" => add(&mut m.cc, value)?,
                "bcc" => add(&mut m.bcc, value)?,
                "body" => m.body = Some(pct_decode(value)?),
                _ if forbidden_header(&name) => {}
                _ => m.headers.push((name, pct_decode(value)?)),
            }
        }
    }
    m.named = named;
    if m.to.is_empty() && m.cc.is_empty() && m.bcc.is_empty() {
        return Err(format!("the mailto URI \"{uri}\" has no recipient"));
    }
    // Each recipient once: the first of To, Cc, Bcc that names it keeps it.
    let mut seen: Vec<String> = Vec::new();
    for list in [&mut m.to, &mut m.cc, &mut m.bcc] {
        list.retain(|a| {
            let k = a.to_ascii_lowercase();
            if seen.contains(&k) {
                false
            } else {
                seen.push(k);
                true
            }
        });
    }
    Ok(m)
}

/// Checks a notification method URI at compile time: a known scheme and valid syntax.
pub(crate) fn check_method(uri: &str) -> Result<(), String> {
    let Some(colon) = uri.find(':') else {
        return Err(format!(
            "invalid notification method \"{uri}\": no URI scheme"
        ));
    };
    let scheme = &uri[..colon];
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(format!(
            "invalid notification method \"{uri}\": bad URI scheme"
        ));
    }
    if !scheme.eq_ignore_ascii_case("mailto") {
        return Err(format!(
            "unsupported notification method '{scheme}' (only mailto is supported)"
        ));
    }
    parse_mailto(uri).map(|_| ())
}

/// Checks a `:from` address of `notify` with the mailto method (RFC 5436 §2.3): an
/// `addr-spec` or `phrase <addr-spec>`.
pub(crate) fn check_from(from: &str) -> Result<(), String> {
    if crate::address::parse_mailbox_header(from).is_some() {
        Ok(())
    } else {
        Err(format!(
            "the ':from' address \"{}\" of 'notify' is invalid",
            from.escape_debug()
        ))
    }
}

/// Checks one `:options` string of `notify` (RFC 5435 §3.6): `optionname=value`, the name
/// a letter or digit then letters, digits, `.`, `-` or `_`, the value without CR, LF or
/// NUL.
pub(crate) fn check_option(option: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "the ':options' string \"{}\" of 'notify' is invalid: {why}",
            option.escape_debug()
        ))
    };
    let Some((name, value)) = option.split_once('=') else {
        return bad("expected NAME=VALUE");
    };
    let mut chars = name.bytes();
    if !chars.next().is_some_and(|b| b.is_ascii_alphanumeric())
        || !chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return bad(
            "the option name must be a letter or digit, then letters, digits, '.', '-' or '_'",
        );
    }
    if value.contains(['\r', '\n', '\0']) {
        return bad("the value contains a line break or NUL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_and_options() {
        assert!(check_from("stephan@example.org").is_ok());
        assert!(check_from("Stephan <stephan@example.org>").is_ok());
        assert!(check_from("stephan#example.org").is_err());
        assert!(check_from("").is_err());
        for ok in ["a=b", "x-y.z_w=", "1=value with spaces"] {
            assert!(check_option(ok).is_ok(), "{ok}");
        }
        for bad in ["", "frop", "_frop=", "=frop", "frop=frml\r\nfrop", "a b=c"] {
            assert!(check_option(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mailto() {
        let m = parse_mailto("mailto:alice@example.com,bob@example.com?cc=carol@example.com&subject=Hi%20there&body=x").unwrap();
        assert_eq!(m.to, ["alice@example.com", "bob@example.com"]);
        assert_eq!(m.cc, ["carol@example.com"]);
        assert_eq!(m.headers, [("subject".to_string(), "Hi there".to_string())]);
        assert_eq!(m.body.as_deref(), Some("x"));
        assert!(parse_mailto("mailto:").is_err());
        assert!(parse_mailto("mailto:a@b.c?%zz=1").is_err());
        assert!(check_method("xmpp:a@b.c").is_err());
        assert!(check_method("mailto:a@b.c").is_ok());
        assert!(check_method("nocolon").is_err());
    }
}
