//! PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login-00).
//!
//! ```text
//! message  = [authzid] UTF8NUL authcid UTF8NUL passwd     ; RFC 4616 §2
//! authcid  = 1*SAFE ; SAFE = any UTF-8 character except NUL
//! ```
//!
//! LOGIN: the server prompts `Username:` then `Password:`; the client answers each with the
//! bare value. With an initial response, that response is the user name.

use super::{
    Answer, Decision, FailureReason, SaslError, Secret, Step, simple_verdict, utf8_no_nul,
};

#[derive(Debug, Default)]
enum PlainState {
    #[default]
    Start,
    AwaitResponse,
    AwaitAnswer {
        authzid: Option<String>,
        authcid: String,
    },
    Done,
}

#[derive(Debug, Default)]
pub(super) struct PlainServer {
    state: PlainState,
}

impl PlainServer {
    pub(super) fn start(&mut self, ir: Option<&[u8]>) -> Step {
        if let Some(message) = ir {
            self.parse(message)
        } else {
            self.state = PlainState::AwaitResponse;
            Step::Challenge(Vec::new())
        }
    }

    pub(super) fn respond(&mut self, response: &[u8]) -> Step {
        match self.state {
            PlainState::AwaitResponse => self.parse(response),
            _ => Step::Failure(FailureReason::Misuse, None),
        }
    }

    fn parse(&mut self, message: &[u8]) -> Step {
        self.state = PlainState::Done;
        let mut parts = message.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Step::Failure(FailureReason::Malformed, None);
        };
        let (Ok(authzid), Ok(authcid), Ok(password)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(authcid),
            std::str::from_utf8(password),
        ) else {
            return Step::Failure(FailureReason::Malformed, None);
        };
        if authcid.is_empty() || password.is_empty() {
            return Step::Failure(FailureReason::Malformed, None);
        }
        let authzid = (!authzid.is_empty()).then(|| authzid.to_owned());
        self.state = PlainState::AwaitAnswer {
            authzid: authzid.clone(),
            authcid: authcid.to_owned(),
        };
        Step::Need(Decision::VerifyPassword {
            authzid,
            authcid: authcid.to_owned(),
            password: Secret::new(password.to_owned()),
        })
    }

    pub(super) fn answer(&mut self, answer: &Answer) -> Step {
        match std::mem::replace(&mut self.state, PlainState::Done) {
            PlainState::AwaitAnswer { authzid, authcid } => {
                simple_verdict(answer, authcid, authzid)
            }
            _ => Step::Failure(FailureReason::Misuse, None),
        }
    }
}

#[derive(Debug, Default)]
enum LoginState {
    #[default]
    Start,
    AwaitUser,
    AwaitPassword(String),
    AwaitAnswer(String),
    Done,
}

/// The prompts most servers send (Postfix/Cyrus, Dovecot, Exchange all use these two).
pub(super) const USER_PROMPT: &[u8] = b"Username:";
pub(super) const PASSWORD_PROMPT: &[u8] = b"Password:";

#[derive(Debug, Default)]
pub(super) struct LoginServer {
    state: LoginState,
}

impl LoginServer {
    pub(super) fn start(&mut self, ir: Option<&[u8]>) -> Step {
        match ir {
            // `AUTH LOGIN =` (an empty initial response) is no user name at all.
            Some([]) | None => {
                self.state = LoginState::AwaitUser;
                Step::Challenge(USER_PROMPT.to_vec())
            }
            Some(user) => self.user(user),
        }
    }

    fn user(&mut self, user: &[u8]) -> Step {
        match utf8_no_nul(user) {
            Some(u) if !u.is_empty() => {
                self.state = LoginState::AwaitPassword(u.to_owned());
                Step::Challenge(PASSWORD_PROMPT.to_vec())
            }
            _ => {
                self.state = LoginState::Done;
                Step::Failure(FailureReason::Malformed, None)
            }
        }
    }

    pub(super) fn respond(&mut self, response: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, LoginState::Done) {
            LoginState::AwaitUser => self.user(response),
            LoginState::AwaitPassword(user) => match utf8_no_nul(response) {
                Some(p) if !p.is_empty() => {
                    self.state = LoginState::AwaitAnswer(user.clone());
                    Step::Need(Decision::VerifyPassword {
                        authzid: None,
                        authcid: user,
                        password: Secret::new(p.to_owned()),
                    })
                }
                _ => Step::Failure(FailureReason::Malformed, Some(user)),
            },
            _ => Step::Failure(FailureReason::Misuse, None),
        }
    }

    pub(super) fn answer(&mut self, answer: &Answer) -> Step {
        match std::mem::replace(&mut self.state, LoginState::Done) {
            LoginState::AwaitAnswer(user) => simple_verdict(answer, user, None),
            _ => Step::Failure(FailureReason::Misuse, None),
        }
    }
}

#[derive(Debug)]
pub(super) struct PlainClient {
    message: Secret<Vec<u8>>,
}

impl PlainClient {
    pub(super) fn new(
        authzid: Option<&str>,
        authcid: &str,
        password: Secret<String>,
    ) -> Result<Self, SaslError> {
        let password = password.into_inner();
        if authcid.is_empty() || password.is_empty() {
            return Err(SaslError::InvalidInput(
                "PLAIN needs a user name and a password",
            ));
        }
        let authzid = authzid.unwrap_or_default();
        if [authzid, authcid, password.as_str()]
            .iter()
            .any(|s| s.contains('\0'))
        {
            return Err(SaslError::InvalidInput("PLAIN values must not contain NUL"));
        }
        let mut message = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
        message.extend_from_slice(authzid.as_bytes());
        message.push(0);
        message.extend_from_slice(authcid.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        Ok(Self {
            message: Secret::new(message),
        })
    }

    pub(super) fn initial(&self) -> Vec<u8> {
        self.message.expose().clone()
    }
}

#[derive(Debug)]
pub(super) struct LoginClient {
    user: String,
    password: Secret<String>,
    sent_user: bool,
    sent_password: bool,
}

impl LoginClient {
    pub(super) fn new(user: String, password: Secret<String>) -> Result<Self, SaslError> {
        if user.is_empty() || password.expose().is_empty() {
            return Err(SaslError::InvalidInput(
                "LOGIN needs a user name and a password",
            ));
        }
        if user.contains('\0') || password.expose().contains('\0') {
            return Err(SaslError::InvalidInput("LOGIN values must not contain NUL"));
        }
        Ok(Self {
            user,
            password,
            sent_user: false,
            sent_password: false,
        })
    }

    pub(super) fn initial(&mut self) -> Vec<u8> {
        self.sent_user = true;
        self.user.as_bytes().to_vec()
    }

    /// Answers by the prompt when it is recognisable, else by order (user, then password).
    pub(super) fn respond(&mut self, prompt: &[u8]) -> Result<Vec<u8>, SaslError> {
        let lower = prompt.to_ascii_lowercase();
        let wants_password = if lower.starts_with(b"password") {
            true
        } else if lower.starts_with(b"user") {
            false
        } else {
            self.sent_user
        };
        if wants_password {
            if self.sent_password {
                return Err(SaslError::UnexpectedStep);
            }
            self.sent_user = true;
            self.sent_password = true;
            Ok(self.password.expose().as_bytes().to_vec())
        } else {
            if self.sent_password {
                return Err(SaslError::UnexpectedStep);
            }
            self.sent_user = true;
            Ok(self.user.as_bytes().to_vec())
        }
    }
}
