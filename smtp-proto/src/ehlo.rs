//! EHLO/LHLO responses as capabilities (RFC 5321 §4.1.1.1), with LIMITS (RFC 9422).
//!
//! ```text
//! ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
//!              / ( "250-" Domain [ SP ehlo-greet ] CRLF
//!                 *( "250-" ehlo-line CRLF )
//!                    "250" SP ehlo-line CRLF )
//! ehlo-line    = ehlo-keyword *( SP ehlo-param )
//! ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! limits-line  = "LIMITS" SP limit *(SP limit)          ; RFC 9422
//! limit        = limit-name "=" limit-value
//! ```
//!
//! The parser is tolerant, as a client must be (SMTP-008, SMTP-043): keywords are matched
//! case-insensitively, unknown and `X-` keywords are kept with their parameters, `SIZE`
//! without a number means "no fixed limit", the obsolete `AUTH=` form is understood, and a
//! malformed parameter disables only that one capability.

use crate::reply::Reply;
use crate::sasl::Mechanism;

/// Limits a server announces with `LIMITS` (RFC 9422 §4). `None`: not announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// `MAILMAX`: transactions per connection.
    pub mail_max: Option<u32>,
    /// `RCPTMAX`: recipients per transaction.
    pub rcpt_max: Option<u32>,
    /// `RCPTDOMAINMAX`: distinct recipient domains per transaction.
    pub rcpt_domain_max: Option<u32>,
}

impl Limits {
    /// Parses the parameters of a `LIMITS` line. Unknown limit names are ignored (RFC 9422
    /// §4); a limit with a value that is not a positive decimal number below 2^32 is ignored
    /// too, never truncated.
    pub fn parse<'a>(params: impl IntoIterator<Item = &'a str>) -> Self {
        let mut l = Self::default();
        for p in params {
            let Some((name, value)) = p.split_once('=') else {
                continue;
            };
            let Some(v) = parse_number(value).and_then(|v| u32::try_from(v).ok()) else {
                continue;
            };
            if v == 0 {
                continue;
            }
            if name.eq_ignore_ascii_case("MAILMAX") {
                l.mail_max = Some(v);
            } else if name.eq_ignore_ascii_case("RCPTMAX") {
                l.rcpt_max = Some(v);
            } else if name.eq_ignore_ascii_case("RCPTDOMAINMAX") {
                l.rcpt_domain_max = Some(v);
            }
        }
        l
    }
}

fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// What a server offers, from its reply to EHLO or LHLO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The domain on the first line.
    pub domain: String,
    /// The rest of the first line.
    pub greeting: String,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `SIZE` was announced (RFC 1870).
    pub size_advertised: bool,
    /// The fixed maximum from `SIZE n`; `None` with `SIZE` alone or `SIZE 0` (no fixed
    /// limit) or when not announced.
    pub max_size: Option<u64>,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
    /// `BINARYMIME` (RFC 3030).
    pub binary_mime: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
    /// `DSN` (RFC 3461).
    pub dsn: bool,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
    /// `VRFY`.
    pub vrfy: bool,
    /// `ETRN` (RFC 1985).
    pub etrn: bool,
    /// SASL mechanisms this crate implements, in the server's order (`AUTH` and `AUTH=`).
    pub auth: Vec<Mechanism>,
    /// Other mechanism names offered (`XOAUTH`, `GSSAPI`, `NTLM`, ...), upper-cased.
    pub auth_other: Vec<String>,
    /// `LIMITS` (RFC 9422).
    pub limits: Limits,
    /// Every keyword, upper-cased, with its parameters as sent, in order, including the
    /// known ones above (so `X-` and future keywords are never lost).
    pub keywords: Vec<(String, Vec<String>)>,
}

impl Capabilities {
    /// Reads the lines of a positive EHLO/LHLO reply (first line: domain and greeting).
    pub fn from_reply(reply: &Reply) -> Self {
        Self::from_lines(reply.lines())
    }

    /// Reads EHLO reply text lines (without code and separator).
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut c = Self::default();
        let mut lines = lines.into_iter();
        if let Some(first) = lines.next() {
            let first = first.trim();
            let (d, g) = first.split_once(' ').unwrap_or((first, ""));
            d.clone_into(&mut c.domain);
            g.trim_start().clone_into(&mut c.greeting);
        }
        for line in lines {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let mut params: Vec<String> = words.map(str::to_owned).collect();
            let mut keyword = keyword.to_ascii_uppercase();
            // The pre-RFC 2554 form `AUTH=PLAIN LOGIN`.
            if let Some(first) = keyword.strip_prefix("AUTH=") {
                if !first.is_empty() {
                    params.insert(0, first.to_owned());
                }
                "AUTH".clone_into(&mut keyword);
            }
            c.apply(&keyword, &params);
            c.keywords.push((keyword, params));
        }
        c
    }

    fn apply(&mut self, keyword: &str, params: &[String]) {
        match keyword {
            "PIPELINING" => self.pipelining = true,
            "SIZE" => {
                self.size_advertised = true;
                self.max_size = params
                    .first()
                    .and_then(|p| parse_number(p))
                    .filter(|&n| n > 0);
            }
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "CHUNKING" => self.chunking = true,
            "BINARYMIME" => self.binary_mime = true,
            "STARTTLS" => self.starttls = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "DSN" => self.dsn = true,
            "REQUIRETLS" => self.requiretls = true,
            "VRFY" => self.vrfy = true,
            "ETRN" => self.etrn = true,
            "LIMITS" => self.limits = Limits::parse(params.iter().map(String::as_str)),
            "AUTH" => {
                for p in params {
                    match Mechanism::from_name(p.as_bytes()) {
                        Some(m) if !self.auth.contains(&m) => self.auth.push(m),
                        Some(_) => {}
                        None => {
                            let p = p.to_ascii_uppercase();
                            if !self.auth_other.contains(&p) {
                                self.auth_other.push(p);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// True when `keyword` was announced (case-insensitive).
    pub fn has(&self, keyword: &str) -> bool {
        self.params(keyword).is_some()
    }

    /// The parameters of `keyword`, when announced (case-insensitive).
    pub fn params(&self, keyword: &str) -> Option<&[String]> {
        self.keywords
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, p)| p.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Parsed, ReplyParser};

    fn caps(wire: &[u8]) -> Capabilities {
        let Ok(Parsed::Complete { reply, .. }) = ReplyParser::default().parse(wire) else {
            panic!("bad fixture");
        };
        Capabilities::from_reply(&reply)
    }

    /// TC-SMTP-01: Postfix's EHLO reply.
    #[test]
    fn postfix_ehlo() {
        let c = caps(
            b"250-mail.ratoperatedvehicle.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-VRFY\r\n250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n\
250-SMTPUTF8\r\n250 CHUNKING\r\n",
        );
        assert_eq!(c.domain, "mail.ratoperatedvehicle.com");
        assert!(c.pipelining && c.eight_bit_mime && c.dsn && c.smtputf8 && c.chunking);
        assert!(c.vrfy && c.etrn && c.enhanced_status_codes);
        assert!(c.size_advertised);
        assert_eq!(c.max_size, Some(10_240_000));
        assert!(!c.starttls && !c.binary_mime && c.auth.is_empty());
        assert_eq!(c.keywords.len(), 9);
    }

    /// SMTP-008: unknown keywords, bare SIZE, greeting text, AUTH= and lower case.
    #[test]
    fn tolerant() {
        let c = Capabilities::from_lines([
            "smtp.gmail.com at your service, [192.0.2.1]",
            "SIZE",
            "8bitmime",
            "AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
            "AUTH=LOGIN PLAIN",
            "DELIVERBY 60",
            "X-EXPS GSSAPI NTLM",
            "HELP",
            "LIMITS RCPTMAX=50 MAILMAX=1000 FOO=1 RCPTDOMAINMAX=x",
        ]);
        assert_eq!(c.domain, "smtp.gmail.com");
        assert_eq!(c.greeting, "at your service, [192.0.2.1]");
        assert!(c.size_advertised);
        assert_eq!(c.max_size, None);
        assert!(c.eight_bit_mime);
        assert_eq!(
            c.auth,
            [
                Mechanism::Login,
                Mechanism::Plain,
                Mechanism::XOAuth2,
                Mechanism::OAuthBearer
            ]
        );
        assert_eq!(c.auth_other, ["PLAIN-CLIENTTOKEN", "XOAUTH"]);
        assert_eq!(c.params("deliverby"), Some(&["60".to_owned()][..]));
        assert!(c.has("X-EXPS") && c.has("help") && !c.has("ETRN"));
        assert_eq!(c.limits.rcpt_max, Some(50));
        assert_eq!(c.limits.mail_max, Some(1000));
        assert_eq!(c.limits.rcpt_domain_max, None);
    }

    #[test]
    fn limits_never_truncate() {
        let l = Limits::parse(["RCPTMAX=4294967296", "MAILMAX=0", "rcptdomainmax=7"]);
        assert_eq!(l.rcpt_max, None);
        assert_eq!(l.mail_max, None);
        assert_eq!(l.rcpt_domain_max, Some(7));
        let c = Capabilities::from_lines(["x", "SIZE 99999999999999999999999"]);
        assert!(c.size_advertised);
        assert_eq!(c.max_size, None);
    }

    /// A single-line reply is a server with no extensions.
    #[test]
    fn single_line() {
        let c = caps(b"250 mx.example.org\r\n");
        assert_eq!(c.domain, "mx.example.org");
        assert!(c.keywords.is_empty());
    }
}
