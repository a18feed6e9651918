//! XOAUTH2 (Google, Microsoft) and OAUTHBEARER (RFC 7628).
//!
//! ```text
//! xoauth2      = "user=" user %x01 "auth=Bearer " token %x01 %x01
//! oauthbearer  = gs2-header kvsep *kvpair kvsep                ; RFC 7628 §3.1
//! gs2-header   = ("n" / "y") "," [ "a=" saslname ] ","         ; "p=" is refused: no binding
//! kvsep        = %x01
//! kvpair       = key "=" value kvsep
//! key          = 1*(ALPHA)
//! value        = *(VCHAR / SP / HTAB / CR / LF)
//! ```
//!
//! A failed validation answers with an error JSON challenge (RFC 7628 §3.2.2); the client
//! then sends a dummy response (`%x01` for OAUTHBEARER, empty for XOAUTH2) and the server
//! fails the exchange.

use super::{
    Answer, Decision, FailureReason, SaslError, Secret, Step, escape_saslname, unescape_saslname,
};

/// The error a server reports for a refused bearer token (RFC 7628 §3.2.2), sent to the
/// client as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// `status`: an OAuth error code such as `invalid_token` (RFC 6750 §3.1); XOAUTH2
    /// servers send an HTTP status such as `401`.
    pub status: String,
    /// `schemes`: XOAUTH2's list of schemes (`bearer`), when set.
    pub schemes: Option<String>,
    /// `scope`: the scope a new token needs, when set.
    pub scope: Option<String>,
    /// `openid-configuration`: where the client finds the issuer's discovery document.
    pub openid_configuration: Option<String>,
}

impl OAuthError {
    /// An error with only a status.
    pub fn new(status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            schemes: None,
            scope: None,
            openid_configuration: None,
        }
    }

    /// Sets `scope`.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets `openid-configuration`.
    #[must_use]
    pub fn with_openid_configuration(mut self, url: impl Into<String>) -> Self {
        self.openid_configuration = Some(url.into());
        self
    }

    /// Sets `schemes`.
    #[must_use]
    pub fn with_schemes(mut self, schemes: impl Into<String>) -> Self {
        self.schemes = Some(schemes.into());
        self
    }

    /// The JSON object, members in the order status, schemes, scope, openid-configuration,
    /// without whitespace.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let fields = [
            ("status", Some(&self.status)),
            ("schemes", self.schemes.as_ref()),
            ("scope", self.scope.as_ref()),
            ("openid-configuration", self.openid_configuration.as_ref()),
        ];
        for (name, value) in fields {
            let Some(value) = value else { continue };
            if out.len() > 1 {
                out.push(',');
            }
            json_string(&mut out, name);
            out.push(':');
            json_string(&mut out, value);
        }
        out.push('}');
        out
    }
}

fn json_string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[derive(Debug)]
enum State {
    Start,
    AwaitResponse,
    AwaitAnswer { user: Option<String> },
    AwaitDummy { user: Option<String> },
    Done,
}

#[derive(Debug)]
pub(super) struct OAuthServer {
    bearer: bool,
    state: State,
}

struct Parsed {
    user: Option<String>,
    token: String,
    host: Option<String>,
    port: Option<u16>,
}

impl OAuthServer {
    pub(super) fn new(oauthbearer: bool) -> Self {
        Self {
            bearer: oauthbearer,
            state: State::Start,
        }
    }

    pub(super) fn start(&mut self, ir: Option<&[u8]>) -> Step {
        match ir {
            Some(message) if !message.is_empty() => self.message(message),
            _ => {
                self.state = State::AwaitResponse;
                Step::Challenge(Vec::new())
            }
        }
    }

    pub(super) fn respond(&mut self, response: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitResponse => self.message(response),
            State::AwaitDummy { user } => {
                // RFC 7628 §3.2.3: the client must send %x01; either way the exchange fails.
                if self.bearer && response != b"\x01" {
                    Step::Failure(FailureReason::Malformed, user)
                } else {
                    Step::Failure(FailureReason::BadCredentials, user)
                }
            }
            _ => Step::Failure(FailureReason::Misuse, None),
        }
    }

    fn message(&mut self, message: &[u8]) -> Step {
        self.state = State::Done;
        let parsed = if self.bearer {
            parse_oauthbearer(message)
        } else {
            parse_xoauth2(message)
        };
        let Some(p) = parsed else {
            return Step::Failure(FailureReason::Malformed, None);
        };
        self.state = State::AwaitAnswer {
            user: p.user.clone(),
        };
        Step::Need(Decision::ValidateToken {
            user: p.user,
            token: Secret::new(p.token),
            host: p.host,
            port: p.port,
        })
    }

    pub(super) fn answer(&mut self, answer: Answer) -> Step {
        let State::AwaitAnswer { user } = std::mem::replace(&mut self.state, State::Done) else {
            return Step::Failure(FailureReason::Misuse, None);
        };
        let error = match answer {
            Answer::Accept => {
                return match user {
                    Some(u) => Step::success(u, None),
                    // OAUTHBEARER without a=: only the host knows whose token it is.
                    None => Step::Failure(FailureReason::Misuse, None),
                };
            }
            Answer::AcceptAs(identity) => return Step::success(identity, None),
            Answer::TempFail => return Step::Failure(FailureReason::TempFail, user),
            Answer::RejectToken(e) => e,
            Answer::Reject => {
                if self.bearer {
                    OAuthError::new("invalid_token")
                } else {
                    OAuthError::new("401").with_schemes("bearer")
                }
            }
            _ => return Step::Failure(FailureReason::Misuse, user),
        };
        self.state = State::AwaitDummy { user };
        Step::Challenge(error.to_json().into_bytes())
    }
}

/// Splits `key=value` pairs separated by %x01 and closed by %x01 %x01 (the closing pair
/// already stripped by the caller).
fn kv_pairs(body: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    if body.is_empty() {
        return Some(Vec::new());
    }
    body.split(|&b| b == 1)
        .map(|pair| {
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (key, value) = (&pair[..eq], &pair[eq + 1..]);
            let key_ok = !key.is_empty() && key.iter().all(u8::is_ascii_alphabetic);
            let value_ok = value
                .iter()
                .all(|&b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
            (key_ok && value_ok).then_some((key, value))
        })
        .collect()
}

fn bearer_token(value: &[u8]) -> Option<String> {
    let (scheme, token) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"Bearer ") || token.is_empty() {
        return None;
    }
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 6750 §2.1)
    let ok = token
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    ok.then(|| String::from_utf8_lossy(token).into_owned())
}

fn parse_xoauth2(message: &[u8]) -> Option<Parsed> {
    let body = message.strip_suffix(b"\x01\x01")?;
    let mut user = None;
    let mut token = None;
    for (key, value) in kv_pairs(body)? {
        match key {
            b"user" => user = Some(std::str::from_utf8(value).ok()?.to_owned()),
            b"auth" => token = Some(bearer_token(value)?),
            _ => {}
        }
    }
    let user = user.filter(|u| !u.is_empty())?;
    Some(Parsed {
        user: Some(user),
        token: token?,
        host: None,
        port: None,
    })
}

fn parse_oauthbearer(message: &[u8]) -> Option<Parsed> {
    // gs2-header: cb flag, authzid, then the kvsep.
    // "p=" (channel binding) is not supported by OAUTHBEARER servers here.
    let [b'n' | b'y', b',', rest @ ..] = message else {
        return None;
    };
    let comma = rest.iter().position(|&b| b == b',')?;
    let (authz, rest) = (&rest[..comma], &rest[comma + 1..]);
    let user = if authz.is_empty() {
        None
    } else {
        Some(unescape_saslname(authz.strip_prefix(b"a=")?)?).filter(|u| !u.is_empty())
    };
    let body = rest.strip_prefix(b"\x01")?.strip_suffix(b"\x01\x01")?;
    let (mut token, mut host, mut port) = (None, None, None);
    for (key, value) in kv_pairs(body)? {
        match key {
            b"auth" => token = Some(bearer_token(value)?),
            b"host" => host = Some(String::from_utf8_lossy(value).into_owned()),
            b"port" => {
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                port = Some(std::str::from_utf8(value).ok()?.parse::<u16>().ok()?);
            }
            _ => {}
        }
    }
    Some(Parsed {
        user,
        token: token?,
        host,
        port,
    })
}

#[derive(Debug)]
pub(super) struct OAuthClient {
    bearer: bool,
    message: Secret<Vec<u8>>,
    sent: bool,
    error: Option<String>,
}

impl OAuthClient {
    pub(super) fn new(
        oauthbearer: bool,
        user: &str,
        token: Secret<String>,
        host: Option<String>,
        port: Option<u16>,
    ) -> Result<Self, SaslError> {
        let token = token.into_inner();
        if bearer_token(format!("Bearer {token}").as_bytes()).is_none() {
            return Err(SaslError::InvalidInput(
                "bearer token must be b64token (RFC 6750)",
            ));
        }
        let bad = |s: &str| s.bytes().any(|b| b < 0x20 || b == 0x7f);
        if bad(user) || host.as_deref().is_some_and(bad) {
            return Err(SaslError::InvalidInput("control character in user or host"));
        }
        let message = if oauthbearer {
            let mut m = String::from("n,");
            if !user.is_empty() {
                m.push_str("a=");
                m.push_str(&escape_saslname(user));
            }
            m.push_str(",\x01");
            if let Some(host) = host {
                m.push_str("host=");
                m.push_str(&host);
                m.push('\x01');
            }
            if let Some(port) = port {
                m.push_str("port=");
                m.push_str(&port.to_string());
                m.push('\x01');
            }
            m.push_str("auth=Bearer ");
            m.push_str(&token);
            m.push_str("\x01\x01");
            m
        } else {
            if user.is_empty() {
                return Err(SaslError::InvalidInput("XOAUTH2 needs a user name"));
            }
            format!("user={user}\x01auth=Bearer {token}\x01\x01")
        };
        Ok(Self {
            bearer: oauthbearer,
            message: Secret::new(message.into_bytes()),
            sent: false,
            error: None,
        })
    }

    pub(super) fn initial(&mut self) -> Result<Vec<u8>, SaslError> {
        if self.sent {
            return Err(SaslError::UnexpectedStep);
        }
        self.sent = true;
        Ok(self.message.expose().clone())
    }

    /// A challenge after the message is the server's error JSON: keep it and send the dummy
    /// response the mechanism requires.
    pub(super) fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if self.error.is_some() {
            return Err(SaslError::UnexpectedStep);
        }
        self.error = Some(String::from_utf8_lossy(challenge).into_owned());
        Ok(if self.bearer { vec![1] } else { Vec::new() })
    }

    pub(super) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}
