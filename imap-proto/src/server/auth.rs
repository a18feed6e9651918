//! LOGIN and AUTHENTICATE: SASL from `smtp_proto::sasl`, decisions answered by the host.

use smtp_proto::sasl::{
    self, Answer, Decision, FailureReason, Mechanism, SaslServer, Secret, ServerStep,
};

use super::{CommandId, Kind, Phase, ServerEvent, ServerSession, State};
use crate::types::command::{Command, CommandBody};
use crate::types::response::{Code, StatusKind};

#[derive(Debug)]
pub(crate) struct SaslState {
    id: CommandId,
    /// `None` for the LOGIN command (a password check without SASL framing).
    server: Option<SaslServer>,
    mechanism: Option<Mechanism>,
    /// LOGIN command's user name, for the success event.
    login_user: Option<String>,
}

impl ServerSession {
    fn insecure(&self) -> bool {
        !self.tls && !self.cfg.allow_insecure_auth
    }

    pub(super) fn start_auth(&mut self, id: CommandId, cmd: Command<'static>) {
        let tag = cmd.tag.clone();
        match cmd.body {
            CommandBody::Login { username, password } => {
                if self.insecure() {
                    self.tagged(
                        &tag,
                        StatusKind::No,
                        Some(Code::PrivacyRequired),
                        "Plaintext authentication disallowed without TLS",
                    );
                    return;
                }
                let (Some(user), Some(pass)) = (username.as_str(), password.declassify().as_str())
                else {
                    self.tagged(
                        &tag,
                        StatusKind::No,
                        Some(Code::AuthenticationFailed),
                        "Authentication failed",
                    );
                    return;
                };
                let decision = Decision::VerifyPassword {
                    authzid: None,
                    authcid: user.to_owned(),
                    password: Secret::new(pass.to_owned()),
                };
                self.push_in_flight(id, tag, Kind::Auth);
                self.sasl = Some(SaslState {
                    id,
                    server: None,
                    mechanism: None,
                    login_user: Some(user.to_owned()),
                });
                self.event(ServerEvent::Auth {
                    id,
                    mechanism: None,
                    decision,
                });
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                let mech = Mechanism::from_name(mechanism.as_str().as_bytes())
                    .filter(|m| self.cfg.mechanisms.contains(m));
                let Some(mech) = mech else {
                    self.tagged(
                        &tag,
                        StatusKind::No,
                        None,
                        "Unsupported authentication mechanism",
                    );
                    return;
                };
                if mech.reveals_secret() && self.insecure() {
                    self.tagged(
                        &tag,
                        StatusKind::No,
                        Some(Code::PrivacyRequired),
                        "Plaintext authentication disallowed without TLS",
                    );
                    return;
                }
                let ir = initial_response.map(|s| s.into_inner().into_owned());
                if ir
                    .as_ref()
                    .is_some_and(|ir| ir.len() > self.cfg.sasl.max_response_len)
                {
                    self.tagged(
                        &tag,
                        StatusKind::Bad,
                        Some(Code::TooBig),
                        "Response too long",
                    );
                    return;
                }
                let Some(nonce) = (self.nonce)() else {
                    self.tagged(
                        &tag,
                        StatusKind::No,
                        Some(Code::Unavailable),
                        "Authentication temporarily unavailable",
                    );
                    return;
                };
                let mut server = SaslServer::new(mech, &self.cfg.sasl, nonce);
                let step = server.start(ir.as_deref());
                self.push_in_flight(id, tag, Kind::Auth);
                self.sasl = Some(SaslState {
                    id,
                    server: Some(server),
                    mechanism: Some(mech),
                    login_user: None,
                });
                self.sasl_step(step);
            }
            _ => {}
        }
    }

    fn sasl_step(&mut self, step: ServerStep) {
        let Some(st) = self.sasl.as_ref() else {
            return;
        };
        let (id, mechanism) = (st.id, st.mechanism);
        match step {
            ServerStep::Challenge(bytes) => {
                self.phase = Phase::SaslResponse;
                let text = sasl::encode(&bytes);
                self.continuation(&text);
            }
            ServerStep::Need(decision) => {
                self.event(ServerEvent::Auth {
                    id,
                    mechanism,
                    decision,
                });
            }
            ServerStep::Success(a) => {
                let identity = a.identity().to_owned();
                self.auth_success(id, identity, a.authcid, mechanism);
            }
            ServerStep::Failure(f) => self.auth_failure(id, f.reason),
            _ => self.auth_failure(id, FailureReason::Misuse),
        }
    }

    fn auth_success(
        &mut self,
        id: CommandId,
        identity: String,
        authcid: String,
        mechanism: Option<Mechanism>,
    ) {
        self.sasl = None;
        self.phase = Phase::Commands;
        let Some(tag) = self.remove_in_flight(id) else {
            return;
        };
        self.state = State::Authenticated;
        self.auth_failures = 0;
        self.event(ServerEvent::Authenticated {
            identity,
            authcid,
            mechanism,
        });
        let code = self.capability_code();
        self.tagged(&tag, StatusKind::Ok, Some(code), "Logged in");
        self.schedule();
    }

    fn auth_failure(&mut self, id: CommandId, reason: FailureReason) {
        self.sasl = None;
        self.phase = Phase::Commands;
        let Some(tag) = self.remove_in_flight(id) else {
            return;
        };
        let (kind, code, text) = match reason {
            FailureReason::Cancelled => (StatusKind::Bad, None, "Authentication cancelled"),
            FailureReason::Malformed => (StatusKind::Bad, None, "Malformed SASL response"),
            FailureReason::TooLong => (StatusKind::Bad, Some(Code::TooBig), "Response too long"),
            FailureReason::TempFail => (
                StatusKind::No,
                Some(Code::Unavailable),
                "Authentication temporarily unavailable",
            ),
            FailureReason::Unavailable => (
                StatusKind::No,
                Some(Code::Unavailable),
                "Mechanism not available",
            ),
            FailureReason::Misuse => (StatusKind::No, Some(Code::ServerBug), "Internal error"),
            _ => (
                StatusKind::No,
                Some(Code::AuthenticationFailed),
                "Authentication failed",
            ),
        };
        self.tagged(&tag, kind, code, text);
        if matches!(
            reason,
            FailureReason::BadCredentials | FailureReason::ChannelBinding
        ) {
            self.auth_failures += 1;
            if self.auth_failures >= self.cfg.max_auth_failures {
                self.bye("Too many authentication failures");
                return;
            }
        }
        self.schedule();
    }

    /// Answers an [`ServerEvent::Auth`] decision.
    pub fn auth_answer(&mut self, id: CommandId, answer: Answer) {
        let Some(st) = self.sasl.as_mut() else {
            return;
        };
        if st.id != id {
            return;
        }
        if let Some(server) = st.server.as_mut() {
            let step = server.answer(answer);
            self.sasl_step(step);
            self.process();
            return;
        }
        // LOGIN command: a yes/no on the password.
        let user = st.login_user.clone().unwrap_or_default();
        match answer {
            Answer::Accept => self.auth_success(id, user.clone(), user, None),
            Answer::AcceptAs(who) => self.auth_success(id, who, user, None),
            Answer::TempFail => self.auth_failure(id, FailureReason::TempFail),
            _ => self.auth_failure(id, FailureReason::BadCredentials),
        }
        self.process();
    }

    /// A client line during AUTHENTICATE.
    pub(super) fn on_sasl_line(&mut self) {
        let msg = self.framer.message();
        let line = msg
            .strip_suffix(b"\r\n")
            .or_else(|| msg.strip_suffix(b"\n"))
            .unwrap_or(msg);
        let max = self.cfg.sasl.max_response_len;
        let decoded = sasl::decode_response(line, max);
        self.phase = Phase::Commands;
        let Some(st) = self.sasl.as_mut() else {
            return;
        };
        let id = st.id;
        let Some(server) = st.server.as_mut() else {
            return;
        };
        let step = match decoded {
            Ok(sasl::ClientResponse::Cancel) => server.cancel(),
            Ok(sasl::ClientResponse::Data(d)) => server.respond(&d),
            Err(sasl::SaslError::TooLong { .. }) => {
                self.auth_failure(id, FailureReason::TooLong);
                return;
            }
            Err(_) => {
                self.auth_failure(id, FailureReason::Malformed);
                return;
            }
        };
        self.sasl_step(step);
    }
}
