//! RFC 5804 exchanges (`managesieve_data/`) replayed through our server and our client,
//! whole and byte by byte. See `managesieve_data/README.md` for the data and the criterion.

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sieve::managesieve::client::{ClientEvent, ClientOutput, ClientSession, Reply};
use sieve::managesieve::command::{self, AuthResponse, Command, ParseOptions};
use sieve::managesieve::response::{Item, ResponseOptions, parse_response_line};
use sieve::managesieve::server::{
    AuthStep, ScriptCheck, ScriptEntry, ScriptReply, ScriptRequest, ServerConfig, ServerEvent,
    ServerOutput, ServerSession, StoreError, Validation,
};
use sieve::managesieve::{
    Capabilities, QuotaKind, ResponseCode, ResponseLine, ScriptName, Status, StatusResponse,
};

const EXCHANGES: &str = include_str!("managesieve_data/rfc5804-exchanges.txt");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    C,
    S,
    /// `<TLS negotiation ...>`: the TLS handshake happens here.
    Tls,
}

#[derive(Debug)]
struct Exchange {
    title: String,
    lines: Vec<(Who, String)>,
}

impl Exchange {
    /// Consecutive lines of one side, as bytes (each line + CRLF); TLS markers alone.
    fn groups(&self) -> Vec<(Who, Vec<u8>)> {
        let mut out: Vec<(Who, Vec<u8>)> = Vec::new();
        for (who, text) in &self.lines {
            match out.last_mut() {
                Some((w, bytes)) if w == who && *who != Who::Tls => {
                    bytes.extend_from_slice(text.as_bytes());
                    bytes.extend_from_slice(b"\r\n");
                }
                _ => {
                    let mut bytes = text.as_bytes().to_vec();
                    if *who != Who::Tls {
                        bytes.extend_from_slice(b"\r\n");
                    }
                    out.push((*who, bytes));
                }
            }
        }
        out
    }

    /// The C groups whose literal length the RFC states wrongly, corrected: the literal is
    /// everything after its header up to the command's final CRLF (see the README).
    fn fix_literals(&mut self) -> Vec<String> {
        let mut fixes = Vec::new();
        let mut i = 0;
        while i < self.lines.len() {
            let (who, first) = &self.lines[i];
            let mut j = i + 1;
            while j < self.lines.len() && self.lines[j].0 == *who {
                j += 1;
            }
            if *who == Who::C
                && let Some(open) = first.rfind('{')
                && first.ends_with("+}")
                && j > i + 1
            {
                let body: usize = self.lines[i + 1..j].iter().map(|(_, t)| t.len() + 2).sum();
                let actual = body - 2;
                let stated: usize = first[open + 1..first.len() - 2].parse().unwrap();
                // Only when the stated length cannot frame the group (one literal, at the
                // end: the single-literal commands PUTSCRIPT and CHECKSCRIPT).
                let group: usize = self.lines[i..j].iter().map(|(_, t)| t.len() + 2).sum();
                let mut bytes = Vec::with_capacity(group);
                for (_, t) in &self.lines[i..j] {
                    bytes.extend_from_slice(t.as_bytes());
                    bytes.extend_from_slice(b"\r\n");
                }
                if unit_len(&bytes, true) != Some(bytes.len()) && stated != actual {
                    let fixed = format!("{}{{{actual}+}}", &first[..open]);
                    fixes.push(format!("{}: {first:?} -> {{{actual}+}}", self.title));
                    self.lines[i].1 = fixed;
                }
            }
            i = j;
        }
        fixes
    }

    fn elided(&self) -> bool {
        self.lines.iter().any(|(_, t)| t.contains("[..."))
    }
}

fn load() -> Vec<Exchange> {
    let mut out = load_raw();
    for ex in &mut out {
        if !ex.elided() {
            for fix in ex.fix_literals() {
                println!("literal length corrected: {fix}");
            }
        }
    }
    out
}

fn load_raw() -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for line in EXCHANGES.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            out.push(Exchange {
                title: title.to_owned(),
                lines: Vec::new(),
            });
        } else if line.starts_with('#') || line.is_empty() {
            // File comments; blank separators.
        } else if let Some(cont) = line.strip_prefix("    ") {
            let ex = out.last_mut().expect("continuation before any exchange");
            if cont.starts_with('<') {
                if cont.contains("TLS negotiation") {
                    ex.lines.push((Who::Tls, String::new()));
                }
                continue;
            }
            let (_, last) = ex.lines.last_mut().expect("continuation before any line");
            if cont.contains(' ') {
                last.push(' ');
            }
            last.push_str(cont.trim_start());
        } else {
            let (who, rest) = match &line[..2] {
                "C:" => (Who::C, &line[2..]),
                "S:" => (Who::S, &line[2..]),
                _ => panic!("unexpected line {line:?}"),
            };
            let text = rest.strip_prefix(' ').unwrap_or(rest);
            out.last_mut()
                .expect("line before any exchange")
                .lines
                .push((who, text.to_owned()));
        }
    }
    out
}

/// Splits server bytes into parsed response lines (literals included).
fn response_lines(bytes: &[u8]) -> Result<Vec<ResponseLine<'static>>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = unit_len(rest, false)
            .ok_or_else(|| format!("incomplete response: {:?}", String::from_utf8_lossy(rest)))?;
        let line = parse_response_line(&rest[..n], ResponseOptions::default())
            .map_err(|e| format!("{e}: {:?}", String::from_utf8_lossy(&rest[..n])))?;
        out.push(own(line));
        rest = &rest[n..];
    }
    Ok(out)
}

fn own(line: ResponseLine<'_>) -> ResponseLine<'static> {
    match line {
        ResponseLine::Status(s) => ResponseLine::Status(s),
        ResponseLine::Data(items) => ResponseLine::Data(
            items
                .into_iter()
                .map(|i| match i {
                    Item::String(s) => Item::String(s.into_owned().into()),
                    // Atoms are compared case-insensitively: keep them upper case.
                    Item::Atom(a) => Item::String(a.to_ascii_uppercase().into_bytes().into()),
                    other => panic!("unknown item {other:?}"),
                })
                .collect(),
        ),
    }
}

/// The length of the first unit (a line and its literals), like the framer.
fn unit_len(bytes: &[u8], c2s: bool) -> Option<usize> {
    let mut pos = 0;
    loop {
        let lf = pos + bytes[pos..].iter().position(|&b| b == b'\n')?;
        let line = &bytes[..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let lit = line.strip_suffix(b"}").and_then(|l| {
            let l = if c2s { l.strip_suffix(b"+")? } else { l };
            let open = l.iter().rposition(|&b| b == b'{')?;
            std::str::from_utf8(&l[open + 1..])
                .ok()?
                .parse::<usize>()
                .ok()
        });
        match lit {
            Some(n) => pos = lf + 1 + n,
            None => return Some(lf + 1),
        }
        if pos > bytes.len() {
            return None;
        }
    }
}

fn capabilities_of(lines: &[ResponseLine<'_>]) -> Option<Capabilities> {
    let (last, data) = lines.split_last()?;
    if !matches!(last, ResponseLine::Status(s) if s.status == Status::Ok) || data.is_empty() {
        return None;
    }
    let mut caps = Capabilities::default();
    for l in data {
        let ResponseLine::Data(items) = l else {
            return None;
        };
        let text = |i: &Item<'_>| match i {
            Item::String(s) => String::from_utf8(s.to_vec()).unwrap(),
            _ => unreachable!(),
        };
        let name = text(&items[0]);
        let known = [
            "IMPLEMENTATION",
            "SASL",
            "SIEVE",
            "STARTTLS",
            "NOTIFY",
            "MAXREDIRECTS",
            "LANGUAGE",
            "OWNER",
            "VERSION",
            "UNAUTHENTICATE",
        ];
        if !known.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
            return None;
        }
        caps.apply(&name, items.get(1).map(text).as_deref());
    }
    Some(caps)
}

/// Compares what our side sent with what the RFC shows: same status words, response
/// codes and data; capability listings as sets (ours may add UNAUTHENTICATE).
fn same_responses(ours: &[u8], rfc: &[u8]) -> Result<(), String> {
    let a = response_lines(ours)?;
    let b = response_lines(rfc)?;
    if let (Some(mut ca), Some(cb)) = (capabilities_of(&a), capabilities_of(&b)) {
        ca.unauthenticate = cb.unauthenticate;
        return if ca == cb {
            Ok(())
        } else {
            Err(format!("capabilities differ:\n ours {ca:?}\n rfc  {cb:?}"))
        };
    }
    if a.len() != b.len() {
        return Err(format!(
            "{} lines instead of {}: {a:?} vs {b:?}",
            a.len(),
            b.len()
        ));
    }
    for (x, y) in a.iter().zip(&b) {
        let same = match (x, y) {
            (ResponseLine::Status(x), ResponseLine::Status(y)) => {
                x.status == y.status && x.code == y.code
            }
            (ResponseLine::Data(x), ResponseLine::Data(y)) => x == y,
            _ => false,
        };
        if !same {
            return Err(format!("ours {x:?}\n rfc {y:?}"));
        }
    }
    Ok(())
}

fn last_status(lines: &[ResponseLine<'_>]) -> Option<StatusResponse> {
    match lines.last()? {
        ResponseLine::Status(s) => Some(s.clone()),
        ResponseLine::Data(_) => None,
    }
}

fn store_error(s: &StatusResponse) -> StoreError {
    match &s.code {
        Some(ResponseCode::NonExistent) => StoreError::NonExistent,
        Some(ResponseCode::AlreadyExists) => StoreError::AlreadyExists,
        Some(ResponseCode::Active) => StoreError::Active,
        Some(ResponseCode::Quota(k)) => StoreError::Quota(*k),
        Some(ResponseCode::TryLater) => StoreError::TryLater(s.text.clone().unwrap_or_default()),
        _ => StoreError::Refused(s.text.clone().unwrap_or_default()),
    }
}

/// The host of the server replay: answers each question as the transcript's next server
/// lines imply (the replay tests the protocol, not the host's decisions).
fn oracle(server: &mut ServerSession, event: ServerEvent, next_s: &[u8]) -> Result<(), String> {
    let lines = response_lines(next_s)?;
    let status = last_status(&lines);
    let first_string = match lines.first() {
        Some(ResponseLine::Data(items)) => match &items[0] {
            Item::String(s) => Some(s.to_vec()),
            _ => None,
        },
        _ => None,
    };
    let r = match event {
        ServerEvent::Authenticate { .. } | ServerEvent::AuthResponse { .. } => {
            let step = if let Some(b64) = first_string {
                AuthStep::Challenge(BASE64.decode(b64).map_err(|e| e.to_string())?)
            } else {
                let s = status.ok_or("no status after AUTHENTICATE")?;
                match s.status {
                    Status::Ok => AuthStep::Success {
                        owner: "user".into(),
                        data: match s.code {
                            Some(ResponseCode::Sasl(d)) => Some(d),
                            _ => None,
                        },
                    },
                    _ => AuthStep::Failure {
                        code: s.code,
                        text: s.text.unwrap_or_default(),
                    },
                }
            };
            server.answer_auth(step)
        }
        ServerEvent::ValidateScript { .. } => {
            let s = status.ok_or("no status after a script")?;
            server.answer_validation(match (s.status, s.code) {
                (Status::Ok, Some(ResponseCode::Warnings)) => {
                    Validation::Valid { warnings: s.text }
                }
                (Status::Ok, _) => Validation::Valid { warnings: None },
                _ => Validation::Invalid {
                    message: s.text.unwrap_or_default(),
                },
            })
        }
        ServerEvent::Script(req) => {
            let s = status.ok_or("no status after a script command")?;
            let answer = if s.status == Status::Ok {
                Ok(match req {
                    ScriptRequest::List => ScriptReply::List(
                        lines
                            .iter()
                            .filter_map(|l| match l {
                                ResponseLine::Data(items) => {
                                    let Item::String(n) = &items[0] else {
                                        return None;
                                    };
                                    Some(ScriptEntry {
                                        name: ScriptName::from_bytes(n).unwrap(),
                                        active: items.len() == 2,
                                    })
                                }
                                ResponseLine::Status(_) => None,
                            })
                            .collect(),
                    ),
                    ScriptRequest::Get { .. } => {
                        ScriptReply::Script(first_string.ok_or("GETSCRIPT without a script")?)
                    }
                    _ => ScriptReply::Done,
                })
            } else {
                Err(store_error(&s))
            };
            server.answer_script(answer)
        }
        ServerEvent::AuthCancelled | ServerEvent::Unauthenticated => Ok(()),
        other => return Err(format!("unexpected event {other:?}")),
    };
    r.map_err(|e| e.to_string())
}

/// Feeds `input` (whole or byte by byte), answering events; returns everything sent.
fn drive_server(
    server: &mut ServerSession,
    input: &[u8],
    next_s: &[u8],
    byte_by_byte: bool,
) -> Result<Vec<u8>, String> {
    let now = Instant::now();
    let mut sent = Vec::new();
    let chunks: Vec<&[u8]> = if byte_by_byte {
        input.chunks(1).collect()
    } else {
        vec![input]
    };
    for chunk in chunks {
        server.handle_input(now, chunk).map_err(|e| e.to_string())?;
        drain_server(server, next_s, &mut sent)?;
    }
    Ok(sent)
}

fn drain_server(
    server: &mut ServerSession,
    next_s: &[u8],
    sent: &mut Vec<u8>,
) -> Result<(), String> {
    while let Some(out) = server.poll_output() {
        match out {
            ServerOutput::Transmit(b) => sent.extend_from_slice(&b),
            ServerOutput::Event(e) => oracle(server, e, next_s)?,
            ServerOutput::StartTls | ServerOutput::Close => {}
            other => return Err(format!("unexpected output {other:?}")),
        }
    }
    Ok(())
}

/// The server configuration an exchange implies: its greeting's capabilities.
fn server_for(ex: &Exchange) -> (ServerConfig, bool, Option<Capabilities>) {
    let groups = ex.groups();
    let mut config = ServerConfig::default();
    config.implementation = "Example1 ManageSieved v001".into();
    config.host_sasl = true;
    config.script_check = ScriptCheck::Host;
    config.notify_methods = Vec::new();
    config.starttls = true;
    let mut tls = false;
    let greeting = match (groups.first(), groups.get(1), first_command(ex)) {
        (Some((Who::S, bytes)), _, _) => capabilities_of(&response_lines(bytes).unwrap()),
        // CAPABILITY first: its answer shows the configuration.
        (_, Some((Who::S, bytes)), Some(Command::Capability)) => {
            capabilities_of(&response_lines(bytes).unwrap())
        }
        _ => None,
    };
    if let Some(caps) = &greeting {
        config
            .implementation
            .clone_from(caps.implementation.as_ref().unwrap());
        config.sieve_extensions.clone_from(&caps.sieve);
        config.notify_methods.clone_from(&caps.notify);
        config.max_redirects = caps.max_redirects;
        config.language.clone_from(&caps.language);
        config.starttls = caps.starttls;
        if caps.sasl.is_empty() {
            config.sasl_mechanisms = vec!["PLAIN".into()];
            config.require_tls_for_auth = true;
        } else {
            config.sasl_mechanisms.clone_from(&caps.sasl);
            // Offered before TLS: this server allows authentication without it.
            config.require_tls_for_auth = !caps.starttls;
            tls = !caps.starttls;
        }
    } else {
        config.sasl_mechanisms = vec!["PLAIN".into(), "DIGEST-MD5".into(), "GSSAPI".into()];
        config.require_tls_for_auth = false;
    }
    (config, tls, greeting)
}

fn first_command(ex: &Exchange) -> Option<Command<'static>> {
    let groups = ex.groups();
    let (_, bytes) = groups.iter().find(|(w, _)| *w == Who::C)?;
    let n = unit_len(bytes, true)?;
    command::parse_command(&bytes[..n], ParseOptions::default())
        .ok()
        .map(Command::into_owned)
}

fn replay_server(ex: &Exchange, byte_by_byte: bool) -> Result<(), String> {
    let now = Instant::now();
    let (config, tls, greeting) = server_for(ex);
    let mut server = if tls {
        ServerSession::new_tls(config, now)
    } else {
        ServerSession::new(config, now)
    };
    let groups = ex.groups();
    let mut sent = Vec::new();
    drain_server(&mut server, b"", &mut sent)?;
    let mut i = 0;
    let owner = greeting.as_ref().and_then(|c| c.owner.clone());
    let needs_auth = owner.is_some()
        || !matches!(
            first_command(ex),
            None | Some(
                Command::Authenticate { .. }
                    | Command::StartTls
                    | Command::Capability
                    | Command::Noop { .. }
                    | Command::Logout
            )
        );
    if needs_auth {
        // Log in first (the exchange starts in the authenticated state).
        let who = owner.clone().unwrap_or_else(|| "user".into());
        let mech = server.capabilities().sasl[0].clone();
        server
            .handle_input(now, format!("AUTHENTICATE \"{mech}\"\r\n").as_bytes())
            .unwrap();
        while let Some(out) = server.poll_output() {
            if let ServerOutput::Event(ServerEvent::Authenticate { .. }) = out {
                server
                    .answer_auth(AuthStep::Success {
                        owner: who.clone(),
                        data: None,
                    })
                    .unwrap();
            }
        }
        assert!(server.is_authenticated());
        if owner.is_some() {
            // A capability listing after authentication: ask for it.
            sent = drive_server(&mut server, b"CAPABILITY\r\n", b"", byte_by_byte)?;
        }
    }
    if greeting.is_some() && groups[0].0 == Who::S {
        same_responses(&sent, &groups[0].1).map_err(|e| format!("greeting: {e}"))?;
        i = 1;
    }
    while i < groups.len() {
        let (who, bytes) = &groups[i];
        match who {
            Who::C => {
                let next_s = groups
                    .get(i + 1)
                    .filter(|(w, _)| *w == Who::S)
                    .map_or(&b""[..], |(_, b)| b);
                let out = drive_server(&mut server, bytes, next_s, byte_by_byte)?;
                same_responses(&out, next_s)
                    .map_err(|e| format!("after {:?}: {e}", String::from_utf8_lossy(bytes)))?;
                i += 2;
            }
            Who::Tls => {
                server.handle_tls_established().map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                drain_server(&mut server, b"", &mut out)?;
                let (_, expected) = groups.get(i + 1).ok_or("nothing after TLS")?;
                same_responses(&out, expected).map_err(|e| format!("after TLS: {e}"))?;
                i += 2;
            }
            Who::S => return Err(format!("unexpected server lines at group {i}")),
        }
    }
    Ok(())
}

/// Our client sends the exchange's commands and must report the RFC's responses.
fn replay_client(ex: &Exchange, byte_by_byte: bool) -> Result<(), String> {
    let (_, tls, greeting) = server_for(ex);
    let mut client = if tls {
        ClientSession::new_tls()
    } else {
        ClientSession::new()
    };
    let groups = ex.groups();
    let feed = |client: &mut ClientSession, bytes: &[u8]| -> Result<Vec<ClientOutput>, String> {
        let mut outs = Vec::new();
        let chunks: Vec<&[u8]> = if byte_by_byte {
            bytes.chunks(1).collect()
        } else {
            vec![bytes]
        };
        for c in chunks {
            client.handle_input(c).map_err(|e| e.to_string())?;
            while let Some(o) = client.poll_output() {
                outs.push(o);
            }
        }
        Ok(outs)
    };
    let mut i = 0;
    if greeting.is_some() && groups[0].0 == Who::S {
        let outs = feed(&mut client, &groups[0].1)?;
        let expected = capabilities_of(&response_lines(&groups[0].1)?).unwrap();
        match outs.as_slice() {
            [ClientOutput::Event(ClientEvent::Capabilities(c))] if **c == expected => {}
            other => return Err(format!("greeting gave {other:?}")),
        }
        i = 1;
    } else {
        let outs = feed(
            &mut client,
            b"\"IMPLEMENTATION\" \"x\"\r\n\"SASL\" \"PLAIN\"\r\n\"SIEVE\" \"\"\r\n\"STARTTLS\"\r\n\"VERSION\" \"1.0\"\r\nOK\r\n",
        )?;
        if !matches!(
            outs.as_slice(),
            [ClientOutput::Event(ClientEvent::Capabilities(_))]
        ) {
            return Err(format!("synthetic greeting gave {outs:?}"));
        }
    }
    let mut authenticating = false;
    while i < groups.len() {
        let (who, bytes) = &groups[i];
        match who {
            Who::C => {
                let n = unit_len(bytes, true).ok_or("incomplete command")?;
                if n != bytes.len() {
                    return Err("one C group holds two commands".into());
                }
                let mut sent = Vec::new();
                if authenticating {
                    let r = command::parse_auth_response(bytes, ParseOptions::default())
                        .map_err(|e| e.to_string())?;
                    match &r {
                        AuthResponse::Data(d) => client
                            .auth_respond(&BASE64.decode(d).map_err(|e| e.to_string())?)
                            .map_err(|e| e.to_string())?,
                        AuthResponse::Cancel => client.auth_cancel().map_err(|e| e.to_string())?,
                    }
                    while let Some(o) = client.poll_output() {
                        if let ClientOutput::Transmit(b) = o {
                            sent.extend_from_slice(&b);
                        }
                    }
                    let ours = command::parse_auth_response(&sent, ParseOptions::default())
                        .map_err(|e| e.to_string())?;
                    if ours != r {
                        return Err(format!("sent {ours:?}, the RFC {r:?}"));
                    }
                } else {
                    let cmd = command::parse_command(bytes, ParseOptions::default())
                        .map_err(|e| e.to_string())?;
                    authenticating = matches!(cmd, Command::Authenticate { .. });
                    client.enqueue(&cmd);
                    while let Some(o) = client.poll_output() {
                        if let ClientOutput::Transmit(b) = o {
                            sent.extend_from_slice(&b);
                        }
                    }
                    let ours = command::parse_command(&sent, ParseOptions::default())
                        .map_err(|e| format!("{e}: {:?}", String::from_utf8_lossy(&sent)))?;
                    if ours != cmd {
                        return Err(format!("sent {ours:?}, the RFC {cmd:?}"));
                    }
                }
                i += 1;
            }
            Who::S => {
                let expected = response_lines(bytes)?;
                let outs = feed(&mut client, bytes)?;
                let events: Vec<&ClientEvent> = outs
                    .iter()
                    .filter_map(|o| match o {
                        ClientOutput::Event(e) => Some(e),
                        _ => None,
                    })
                    .collect();
                let status = last_status(&expected);
                match (status, events.as_slice()) {
                    (None, [ClientEvent::AuthChallenge(c)]) => {
                        let Some(ResponseLine::Data(items)) = expected.first() else {
                            return Err("challenge expected".into());
                        };
                        let Item::String(b64) = &items[0] else {
                            return Err("challenge expected".into());
                        };
                        if *c != BASE64.decode(b64).map_err(|e| e.to_string())? {
                            return Err("challenge differs".into());
                        }
                    }
                    (Some(st), [ClientEvent::Completed(done)]) => {
                        if done.status.status != st.status || done.status.code != st.code {
                            return Err(format!("completed {:?}, the RFC {st:?}", done.status));
                        }
                        authenticating = false;
                        match &done.reply {
                            Reply::Scripts(list) => {
                                let n = expected.len() - 1;
                                if list.len() != n {
                                    return Err(format!("{} scripts, the RFC {n}", list.len()));
                                }
                            }
                            Reply::Script(s) => {
                                let Some(ResponseLine::Data(items)) = expected.first() else {
                                    return Err("script expected".into());
                                };
                                if items[0] != Item::String(s.clone().into()) {
                                    return Err("script differs".into());
                                }
                            }
                            Reply::Capabilities(c)
                                if capabilities_of(&expected).as_ref() != Some(&**c) =>
                            {
                                return Err("capabilities differ".into());
                            }
                            _ => {}
                        }
                        if st.status == Status::Bye && !client.is_closed() {
                            return Err("BYE did not close the client".into());
                        }
                    }
                    (_, [ClientEvent::Capabilities(c)]) => {
                        if capabilities_of(&expected).as_ref() != Some(&**c) {
                            return Err("capabilities differ".into());
                        }
                    }
                    (_, other) => return Err(format!("events {other:?} for {expected:?}")),
                }
                if groups.get(i + 1).is_some_and(|(w, _)| *w == Who::Tls) {
                    if !outs.contains(&ClientOutput::StartTls) {
                        return Err("no StartTls output before the handshake".into());
                    }
                    client.handle_tls_established().map_err(|e| e.to_string())?;
                    i += 1;
                }
                i += 1;
            }
            Who::Tls => return Err("TLS marker not after a server OK".into()),
        }
    }
    Ok(())
}

#[test]
fn every_line_parses() {
    let raw = EXCHANGES
        .lines()
        .filter(|l| l.starts_with("C:") || l.starts_with("S:"))
        .count();
    assert_eq!(raw, 166, "the corpus has 166 C:/S: lines");
    let mut lines = 0;
    for ex in load() {
        if ex.elided() {
            continue;
        }
        for (who, bytes) in ex.groups() {
            match who {
                Who::S => {
                    lines += response_lines(&bytes)
                        .unwrap_or_else(|e| panic!("{}: {e}", ex.title))
                        .len();
                }
                Who::C => {
                    let n = unit_len(&bytes, true).unwrap();
                    assert_eq!(n, bytes.len(), "{}: literal lengths", ex.title);
                    let ok = command::parse_command(&bytes, ParseOptions::default()).is_ok()
                        || command::parse_auth_response(&bytes, ParseOptions::default()).is_ok();
                    assert!(ok, "{}: {:?}", ex.title, String::from_utf8_lossy(&bytes));
                    lines += 1;
                }
                Who::Tls => {}
            }
        }
    }
    assert!(lines > 100, "{lines}");
}

fn run(name: &str, replay: fn(&Exchange, bool) -> Result<(), String>) {
    let exchanges = load();
    assert_eq!(exchanges.len(), 21, "the corpus has 21 exchanges");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut failures = Vec::new();
    for ex in &exchanges {
        if ex.elided() {
            skipped += 1;
            println!("skip {}: its data is elided in the RFC", ex.title);
            continue;
        }
        if name == "client" && !ex.lines.iter().any(|(w, _)| *w == Who::C) {
            // A bare capability listing: the greeting check of the server replay covers it
            // and the client's parse is checked by the other exchanges' greetings.
        }
        for byte_by_byte in [false, true] {
            if let Err(e) = replay(ex, byte_by_byte) {
                failures.push(format!("{} (byte by byte: {byte_by_byte}): {e}", ex.title));
            }
        }
        if failures.last().is_some_and(|f| f.starts_with(&ex.title)) {
            failed += 1;
        } else {
            passed += 1;
        }
    }
    println!("rfc5804 {name} replay: {passed} passed, {failed} failed, {skipped} skipped");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(skipped, 1);
}

#[test]
fn server_replays_rfc_exchanges() {
    run("server", replay_server);
}

#[test]
fn client_replays_rfc_exchanges() {
    run("client", replay_client);
}

#[test]
fn quota_kind_from_rfc() {
    // The HAVESPACE example's code is QUOTA/MAXSIZE.
    let lines = response_lines(b"NO (QUOTA/MAXSIZE) \"Quota exceeded\"\r\n").unwrap();
    assert_eq!(
        last_status(&lines).unwrap().code,
        Some(ResponseCode::Quota(QuotaKind::MaxSize))
    );
}
