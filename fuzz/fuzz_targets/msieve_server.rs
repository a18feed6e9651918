//! ManageSieve server session on arbitrary client bytes, split into arbitrary chunks, with
//! an in-memory host that answers every question (SASL PLAIN decisions, script storage;
//! validation by the real compiler). Checks: no panic, every byte the server sends parses
//! as ManageSieve responses, nothing is sent after Close, and the session never waits
//! for an answer it did not ask for.
#![no_main]

use std::collections::BTreeMap;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sieve::managesieve::ScriptName;
use sieve::managesieve::response::{ResponseOptions, parse_response_line};
use sieve::managesieve::server::{
    ScriptEntry, ScriptReply, ScriptRequest, ServerConfig, ServerEvent, ServerLimits, ServerOutput,
    ServerSession, StoreError,
};
use smtp_proto::sasl::{Answer, Decision};

#[derive(Default)]
struct Store {
    scripts: BTreeMap<ScriptName, Vec<u8>>,
    active: Option<ScriptName>,
}

impl Store {
    fn execute(&mut self, req: ScriptRequest) -> Result<ScriptReply, StoreError> {
        Ok(match req {
            ScriptRequest::HaveSpace { .. } => ScriptReply::Done,
            ScriptRequest::Put { name, script } => {
                self.scripts.insert(name, script);
                ScriptReply::Done
            }
            ScriptRequest::List => ScriptReply::List(
                self.scripts
                    .keys()
                    .map(|n| ScriptEntry {
                        name: n.clone(),
                        active: self.active.as_ref() == Some(n),
                    })
                    .collect(),
            ),
            ScriptRequest::SetActive { name } => {
                if let Some(n) = &name
                    && !self.scripts.contains_key(n)
                {
                    return Err(StoreError::NonExistent);
                }
                self.active = name;
                ScriptReply::Done
            }
            ScriptRequest::Get { name } => ScriptReply::Script(
                self.scripts
                    .get(&name)
                    .ok_or(StoreError::NonExistent)?
                    .clone(),
            ),
            ScriptRequest::Delete { name } => {
                if self.active.as_ref() == Some(&name) {
                    return Err(StoreError::Active);
                }
                self.scripts.remove(&name).ok_or(StoreError::NonExistent)?;
                ScriptReply::Done
            }
            ScriptRequest::Rename { old, new } => {
                if self.scripts.contains_key(&new) {
                    return Err(StoreError::AlreadyExists);
                }
                let s = self.scripts.remove(&old).ok_or(StoreError::NonExistent)?;
                self.scripts.insert(new.clone(), s);
                if self.active.as_ref() == Some(&old) {
                    self.active = Some(new);
                }
                ScriptReply::Done
            }
            _ => return Err(StoreError::Refused("unsupported".into())),
        })
    }
}

/// Checks that `bytes` is a sequence of complete, valid response lines.
fn check_responses(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let mut end = 0;
        loop {
            let lf = end
                + bytes[end..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .expect("CRLF-terminated");
            let line = &bytes[..lf];
            let lit = line
                .strip_suffix(b"\r")
                .and_then(|l| l.strip_suffix(b"}"))
                .and_then(|l| {
                    let open = l.iter().rposition(|&b| b == b'{')?;
                    std::str::from_utf8(&l[open + 1..])
                        .ok()?
                        .parse::<usize>()
                        .ok()
                });
            match lit {
                Some(n) => end = lf + 1 + n,
                None => {
                    end = lf + 1;
                    break;
                }
            }
        }
        parse_response_line(&bytes[..end], ResponseOptions::default())
            .unwrap_or_else(|e| panic!("server sent an invalid line: {e}: {:?}", &bytes[..end]));
        bytes = &bytes[end..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let mut config = ServerConfig::default();
    config.require_tls_for_auth = split & 0x80 == 0;
    config.starttls = true;
    let mut limits = ServerLimits::default();
    limits.max_line = 1024;
    limits.max_script_size = 4096;
    limits.max_pipelined = 16384;
    config.limits = limits;
    let now = Instant::now();
    let mut server = ServerSession::new(config, now);
    let mut store = Store::default();
    let mut closed = false;
    let chunk = usize::from(split & 0x3f) + 1;
    let mut sent = Vec::new();
    for piece in input.chunks(chunk) {
        if server.handle_input(now, piece).is_err() {
            assert!(closed, "handle_input failed on an open session");
            break;
        }
        while let Some(out) = server.poll_output() {
            assert!(!closed, "output after Close");
            match out {
                ServerOutput::Transmit(b) => sent.extend_from_slice(&b),
                ServerOutput::Event(e) => {
                    let r = match e {
                        ServerEvent::AuthDecision(Decision::VerifyPassword { authcid, .. }) => {
                            server.answer_auth_decision(if authcid.len() % 2 == 0 {
                                Answer::Accept
                            } else {
                                Answer::Reject
                            })
                        }
                        ServerEvent::AuthDecision(_) => server.answer_auth_decision(Answer::Reject),
                        ServerEvent::Script(req) => server.answer_script(store.execute(req)),
                        ServerEvent::AuthCancelled | ServerEvent::Unauthenticated => Ok(()),
                        other => panic!("unexpected event {other:?}"),
                    };
                    r.expect("the session asked for this answer");
                }
                ServerOutput::StartTls => {
                    server
                        .handle_tls_established()
                        .expect("STARTTLS was asked for");
                }
                ServerOutput::Close => closed = true,
                _ => {}
            }
        }
    }
    check_responses(&sent);
});
