//! CRAM-MD5 (RFC 2195): the server sends a unique challenge in msg-id form, the client
//! answers `user SP hex(HMAC-MD5(secret, challenge))`.

use hmac::{Hmac, Mac as _};
use md5::Md5;

use super::{Answer, Decision, FailureReason, Nonce, SaslError, Secret, Step, ct_eq, utf8_no_nul};

fn hmac_md5_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Md5>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[derive(Debug)]
enum State {
    Start,
    AwaitResponse,
    AwaitSecret { user: String, digest: String },
    Done,
}

#[derive(Debug)]
pub(super) struct CramServer {
    challenge: Vec<u8>,
    state: State,
}

impl CramServer {
    /// The challenge is `<hex(nonce)@hostname>`: unique per exchange (RFC 2195 §2 suggests a
    /// timestamp too; this crate reads no clock, and the nonce is the uniqueness).
    pub(super) fn new(nonce: &Nonce, hostname: &str) -> Self {
        let host: String = hostname
            .chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '@'))
            .collect();
        let challenge = format!("<{}@{}>", hex(nonce.as_str().as_bytes()), host).into_bytes();
        Self {
            challenge,
            state: State::Start,
        }
    }

    pub(super) fn start(&mut self, ir: Option<&[u8]>) -> Step {
        if ir.is_some_and(|r| !r.is_empty()) {
            // CRAM-MD5 has no initial response (RFC 4954 §4: 501).
            self.state = State::Done;
            return Step::Failure(FailureReason::Malformed, None);
        }
        self.state = State::AwaitResponse;
        Step::Challenge(self.challenge.clone())
    }

    pub(super) fn respond(&mut self, response: &[u8]) -> Step {
        if !matches!(self.state, State::AwaitResponse) {
            return Step::Failure(FailureReason::Misuse, None);
        }
        self.state = State::Done;
        let Some(text) = utf8_no_nul(response) else {
            return Step::Failure(FailureReason::Malformed, None);
        };
        let Some((user, digest)) = text.rsplit_once(' ') else {
            return Step::Failure(FailureReason::Malformed, None);
        };
        if user.is_empty() || digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Step::Failure(FailureReason::Malformed, None);
        }
        self.state = State::AwaitSecret {
            user: user.to_owned(),
            digest: digest.to_ascii_lowercase(),
        };
        Step::Need(Decision::CramMd5Secret {
            user: user.to_owned(),
        })
    }

    pub(super) fn answer(&mut self, answer: Answer) -> Step {
        let State::AwaitSecret { user, digest } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Step::Failure(FailureReason::Misuse, None);
        };
        match answer {
            Answer::Secret(secret) => {
                let expected = hmac_md5_hex(secret.expose(), &self.challenge);
                if ct_eq(expected.as_bytes(), digest.as_bytes()) {
                    Step::success(user, None)
                } else {
                    Step::Failure(FailureReason::BadCredentials, Some(user))
                }
            }
            Answer::Reject => Step::Failure(FailureReason::BadCredentials, Some(user)),
            Answer::TempFail => Step::Failure(FailureReason::TempFail, Some(user)),
            _ => Step::Failure(FailureReason::Misuse, Some(user)),
        }
    }
}

#[derive(Debug)]
pub(super) struct CramClient {
    user: String,
    password: Secret<String>,
    answered: bool,
}

impl CramClient {
    pub(super) fn new(user: String, password: Secret<String>) -> Self {
        Self {
            user,
            password,
            answered: false,
        }
    }

    pub(super) fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if self.answered {
            return Err(SaslError::UnexpectedStep);
        }
        if challenge.is_empty() {
            return Err(SaslError::Malformed("empty CRAM-MD5 challenge"));
        }
        self.answered = true;
        let digest = hmac_md5_hex(self.password.expose().as_bytes(), challenge);
        Ok(format!("{} {digest}", self.user).into_bytes())
    }
}

#[cfg(test)]
impl CramServer {
    /// A server with a fixed challenge (the RFC 2195 example).
    pub(super) fn with_challenge(challenge: Vec<u8>) -> Self {
        Self {
            challenge,
            state: State::Start,
        }
    }
}
