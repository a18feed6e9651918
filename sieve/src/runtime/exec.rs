//! Commands: actions, variables, flags, include, editheader, MIME loops.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use super::message::{Bytes, Field, Part, decode_value};
use super::{
    Action, Answer, Flow, HANDLED, LoopState, ProgramRef, Question, Res, Runtime, ScriptLocation,
};
use crate::program::{
    DeleteHeader, FileInto, FlagOp, Instr, Location, MatchKind, Modifiers, Value,
};
use crate::testsuite::{SuiteCommand, TestsuiteRequest};

/// Splits a flag list string into flags (RFC 5232 §3: space separated), dropping
/// duplicates case-insensitively.
pub(crate) fn split_flags(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in s.split_ascii_whitespace() {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.to_string());
        }
    }
    out
}

fn join_flags(flags: &[String]) -> String {
    flags.join(" ")
}

/// Depth-first descendants of a part.
pub(crate) fn descendants(parts: &[Part], of: usize, out: &mut Vec<usize>) {
    if let Some(p) = parts.get(of) {
        for &c in &p.children {
            out.push(c);
            descendants(parts, c, out);
        }
    }
}

/// RFC 5229 §4.1 modifiers, in precedence order.
pub(crate) fn apply_modifiers(mut v: String, m: Modifiers) -> String {
    if m.lower {
        v = v.to_lowercase();
    }
    if m.upper {
        v = v.to_uppercase();
    }
    if m.lowerfirst || m.upperfirst {
        let mut c = v.chars();
        if let Some(f) = c.next() {
            let first: String = if m.lowerfirst {
                f.to_lowercase().collect()
            } else {
                f.to_uppercase().collect()
            };
            v = first + c.as_str();
        }
    }
    if m.quotewildcard {
        let mut o = String::with_capacity(v.len());
        for ch in v.chars() {
            if matches!(ch, '*' | '?' | '\\') {
                o.push('\\');
            }
            o.push(ch);
        }
        v = o;
    }
    if m.quoteregex {
        v = regex::escape(&v);
    }
    if m.encodeurl {
        let mut o = String::with_capacity(v.len());
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                o.push(b as char);
            } else {
                let _ = write!(o, "%{b:02X}");
            }
        }
        v = o;
    }
    if m.length {
        v = v.chars().count().to_string();
    }
    v
}

/// A valid IMAP flag: a system flag or a keyword atom (RFC 3501 §9 flag-keyword).
fn valid_flag(f: &str) -> bool {
    if let Some(sys) = f.strip_prefix('\\') {
        return matches!(
            sys.to_ascii_lowercase().as_str(),
            "seen" | "answered" | "flagged" | "deleted" | "draft"
        );
    }
    !f.is_empty()
        && f.bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

impl Runtime<'_, '_> {
    fn flag_list(&self, list: &[Value]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in self.expand_list(list) {
            for f in split_flags(&v) {
                if valid_flag(&f) && !out.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
                    out.push(f);
                }
            }
        }
        out
    }

    pub(crate) fn add_action(&mut self, a: Action) -> Res<()> {
        let limit = self.ctx.limits.max_actions;
        // Duplicate deliveries are merged (RFC 5228 §2.10.3).
        let default_box = self.ctx.default_mailbox.clone();
        let is_default = |m: &str| {
            m == default_box
                || (m.eq_ignore_ascii_case("inbox") && default_box.eq_ignore_ascii_case("inbox"))
        };
        match &a {
            Action::Keep { flags, .. } => {
                if let Some(Action::Keep { flags: f, .. } | Action::FileInto { flags: f, .. }) = self.actions.iter_mut().find(|x| match x {
                    Action::Keep { .. } => true,
                    Action::FileInto { mailbox, .. } => is_default(mailbox),
                    _ => false,
                }) {
                    f.clone_from(flags);
                    return Ok(());
                }
            }
            Action::FileInto { mailbox, flags, .. } => {
                let to_default = is_default(mailbox);
                if let Some(Action::FileInto { flags: f, .. } | Action::Keep { flags: f, .. }) = self.actions.iter_mut().find(|x| match x {
                    Action::FileInto { mailbox: m, .. } => m == mailbox,
                    Action::Keep { .. } => to_default,
                    _ => false,
                }) {
                    f.clone_from(flags);
                    return Ok(());
                }
            }
            Action::Redirect { address, .. }
                if self
                    .actions
                    .iter()
                    .any(|x| matches!(x, Action::Redirect { address: m, .. } if m.eq_ignore_ascii_case(address))) =>
            {
                return Ok(());
            }
            Action::Discard if self.actions.iter().any(|x| matches!(x, Action::Discard)) => {
                return Ok(());
            }
            _ => {}
        }
        // reject/ereject cannot be combined with deliveries (RFC 5429 §2.1), nor with a
        // vacation response (the sender would get both a rejection and a reply).
        let delivers = |x: &Action| {
            matches!(
                x,
                Action::Keep { .. }
                    | Action::FileInto { .. }
                    | Action::Redirect { .. }
                    | Action::Vacation { .. }
                    | Action::Pipe { .. }
            )
        };
        let is_reject = matches!(a, Action::Reject { .. });
        if (is_reject && self.actions.iter().any(delivers))
            || (delivers(&a)
                && self
                    .actions
                    .iter()
                    .any(|x| matches!(x, Action::Reject { .. })))
        {
            return Err(Flow::Error(format!(
                "the '{}' action conflicts with an earlier action ('reject' cannot be combined with keep, fileinto, redirect, vacation or pipe)",
                a.kind_name()
            )));
        }
        if is_reject
            && self
                .actions
                .iter()
                .any(|x| matches!(x, Action::Reject { .. }))
        {
            return Err(Flow::Error("only one 'reject' action is allowed".into()));
        }
        if self.actions.len() >= limit {
            return Err(Flow::Error(format!(
                "total number of actions exceeds policy limit ({limit})"
            )));
        }
        self.actions.push(a);
        Ok(())
    }

    pub(crate) fn command(&mut self, instr: &Instr, pc: usize) -> Res<usize> {
        match instr {
            Instr::Stop => return Err(Flow::Stop),
            Instr::Keep { flags } => {
                let flags = match flags {
                    Some(f) => self.flag_list(f),
                    None => self.flags.clone(),
                };
                let headers = self.snapshot();
                self.add_action(Action::Keep {
                    flags,
                    implicit: false,
                    headers,
                })?;
                self.implicit_keep = false;
            }
            Instr::Discard => {
                self.add_action(Action::Discard)?;
                self.implicit_keep = false;
            }
            Instr::FileInto(f) => self.fileinto(f)?,
            Instr::Redirect { address, copy } => self.redirect(address, *copy)?,
            Instr::Reject { reason, ereject } => {
                let reason = self.expand(reason).into_owned();
                self.add_action(Action::Reject {
                    reason,
                    extended: *ereject,
                })?;
                self.implicit_keep = false;
            }
            Instr::Vacation(v) => self.vacation(v)?,
            Instr::Notify(n) => self.notify(n)?,
            Instr::Set { var, value, mods } => {
                let v = self.expand(value).into_owned();
                let mut v = apply_modifiers(v, *mods);
                // A value cut to the size limit must not end in half a %XX escape.
                let max = self.ctx.limits.max_variable_size;
                if mods.encodeurl && v.len() > max {
                    let mut cut = max;
                    let b = v.as_bytes();
                    if cut >= 1 && b[cut - 1] == b'%' {
                        cut -= 1;
                    } else if cut >= 2 && b[cut - 2] == b'%' {
                        cut -= 2;
                    }
                    // ... nor in the middle of the escapes of one UTF-8 character.
                    let hex = |i: usize| {
                        std::str::from_utf8(&b[i + 1..i + 3])
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    };
                    let mut k = cut;
                    let mut trailing = 0;
                    while k >= 3 && b[k - 3] == b'%' && trailing < 4 {
                        let Some(x) = hex(k - 3) else { break };
                        trailing += 1;
                        k -= 3;
                        if x & 0xC0 != 0x80 {
                            // The lead byte: how long its character is.
                            let need = match x {
                                0xC0..=0xDF => 2,
                                0xE0..=0xEF => 3,
                                0xF0..=0xF7 => 4,
                                _ => 1,
                            };
                            if trailing < need {
                                cut = k;
                            }
                            break;
                        }
                    }
                    v.truncate(cut);
                }
                // ... nor in half a backslash escape of :quotewildcard / :quoteregex
                // (Pigeonhole's variables/limits test).
                if (mods.quotewildcard || mods.quoteregex) && v.len() > max {
                    let mut cut = max;
                    while !v.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    let slashes = v.as_bytes()[..cut]
                        .iter()
                        .rev()
                        .take_while(|&&b| b == b'\\')
                        .count();
                    if slashes % 2 == 1 {
                        cut -= 1;
                    }
                    v.truncate(cut);
                }
                self.set_var(*var, v);
            }
            Instr::Flags { op, var, flags } => {
                let given = self.flag_list(flags);
                let current = match var {
                    Some(v) => split_flags(self.var(*v)),
                    None => self.flags.clone(),
                };
                let new = match op {
                    FlagOp::Set => given,
                    FlagOp::Add => {
                        let mut c = current;
                        for f in given {
                            if !c.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
                                c.push(f);
                            }
                        }
                        c
                    }
                    FlagOp::Remove => current
                        .into_iter()
                        .filter(|c| !given.iter().any(|g| g.eq_ignore_ascii_case(c)))
                        .collect(),
                };
                match var {
                    Some(v) => self.set_var(*v, join_flags(&new)),
                    None => self.flags = new,
                }
            }
            Instr::Include {
                location,
                once,
                optional,
                name,
            } => {
                let name = self.expand(name).into_owned();
                let loc = match location {
                    Location::Personal => ScriptLocation::Personal,
                    Location::Global => ScriptLocation::Global,
                };
                let running = self.frames.iter().any(|f| {
                    f.name
                        .as_ref()
                        .is_some_and(|(n, l)| *n == name && *l == loc)
                });
                // `:once`: a script already included, or still running, is skipped
                // (RFC 6609 §3.2); without it, including a running script is a loop.
                if *once && (running || self.included.iter().any(|(n, l)| *n == name && *l == loc))
                {
                    return Ok(pc + 1);
                }
                if running {
                    return Err(Flow::Error(format!(
                        "the script \"{name}\" includes itself (recursive include)"
                    )));
                }
                if self.frames.len() > self.ctx.limits.max_include_depth {
                    return Err(Flow::Error(format!(
                        "includes are nested too deeply (the limit is {})",
                        self.ctx.limits.max_include_depth
                    )));
                }
                if self.include_count >= self.ctx.limits.max_includes {
                    return Err(Flow::Error(format!(
                        "too many includes (the limit is {})",
                        self.ctx.limits.max_includes
                    )));
                }
                // Resolved at compile time (`compile_with_includes`): no question.
                let resolved = self.frames.first().and_then(|f| {
                    f.program
                        .get()
                        .includes
                        .iter()
                        .find(|r| r.location == loc && *r.name == *name)
                        .map(|r| r.program.clone())
                });
                let program = match resolved {
                    Some(Some(p)) => p,
                    Some(None) => return Ok(pc + 1), // an absent `:optional` script
                    None => match self.ask(Question::Include {
                        name: name.clone(),
                        location: loc,
                    })? {
                        Answer::Script(p) => p,
                        Answer::NotFound if *optional => return Ok(pc + 1),
                        Answer::NotFound => {
                            return Err(Flow::Error(format!(
                                "the included script \"{name}\" does not exist"
                            )));
                        }
                        Answer::Error(e) => {
                            return Err(Flow::Error(format!(
                                "the included script \"{name}\" failed to compile: {e}"
                            )));
                        }
                        _ => {
                            return Err(Flow::Error(format!(
                                "no script given for include \"{name}\""
                            )));
                        }
                    },
                };
                self.include_count += 1;
                if !self.included.iter().any(|(n, l)| *n == name && *l == loc) {
                    self.included.push((name.clone(), loc));
                }
                if let Some(f) = self.frames.last_mut() {
                    f.pc = pc + 1;
                }
                self.push_frame(ProgramRef::Shared(program), Some((name, loc)));
                return Ok(HANDLED);
            }
            Instr::Return => {
                self.leave_frame();
                if self.frames.is_empty() {
                    return Err(Flow::Stop);
                }
                return Ok(HANDLED);
            }
            Instr::AddHeader { last, name, value } => {
                let name = self.expand(name).into_owned();
                let value = self.expand(value).into_owned();
                self.addheader(&name, &value, *last)?;
            }
            Instr::DeleteHeader(d) => self.deleteheader(d)?,
            Instr::ForEveryPart { end } => {
                if self.loops.len() >= self.ctx.limits.max_loop_depth {
                    return Err(Flow::Error(format!(
                        "'foreverypart' loops are nested deeper than the limit of {}",
                        self.ctx.limits.max_loop_depth
                    )));
                }
                let current = self.current_part();
                let mut parts = Vec::new();
                self.message.parts();
                // The outermost loop visits the message itself first, then every part in
                // order (a non-multipart message is its one part); a nested loop visits
                // the parts inside the current one (RFC 5703 §3, as Pigeonhole does).
                if self.loops.is_empty() {
                    parts.push(0);
                }
                descendants(self.message.parts_ref().unwrap_or(&[]), current, &mut parts);
                if parts.is_empty() {
                    return Ok(*end as usize);
                }
                self.loops.push(LoopState { parts, pos: 0 });
            }
            Instr::LoopNext { start } => {
                if let Some(l) = self.loops.last_mut() {
                    l.pos += 1;
                    if l.pos < l.parts.len() {
                        return Ok(*start as usize + 1);
                    }
                }
                self.loops.pop();
            }
            Instr::Break { depth, target } => {
                for _ in 0..*depth {
                    self.loops.pop();
                }
                return Ok(*target as usize);
            }
            Instr::ExtractText { first, var, mods } => {
                let part = self.current_part();
                let text =
                    self.message
                        .parts_ref()
                        .and_then(|p| p.get(part))
                        .map_or(String::new(), |p| {
                            if p.ctype == "text" {
                                let t = p.text.as_ref().map_or("", |t| self.message.text(t));
                                if p.csubtype == "html" {
                                    mail_parser::decoders::html::html_to_text(t)
                                } else {
                                    t.to_string()
                                }
                            } else {
                                String::new()
                            }
                        });
                let text = match first {
                    Some(n) => text.chars().take(*n as usize).collect(),
                    None => text,
                };
                let v = apply_modifiers(text, *mods);
                self.set_var(*var, v);
            }
            Instr::Replace {
                mime,
                subject,
                from,
                text,
            } => {
                let text = self.expand(text).into_owned();
                let subject = subject.as_ref().map(|s| self.expand(s).into_owned());
                let from = from.as_ref().map(|s| self.expand(s).into_owned());
                let new = super::vacation::replace_message(
                    self,
                    *mime,
                    subject.as_deref(),
                    from.as_deref(),
                    &text,
                );
                self.set_message_internal(new);
            }
            Instr::Enclose {
                subject,
                headers,
                text,
            } => {
                let text = self.expand(text).into_owned();
                let subject = subject.as_ref().map(|s| self.expand(s).into_owned());
                let headers: Vec<String> = headers
                    .as_ref()
                    .map(|h| {
                        self.expand_list(h)
                            .into_iter()
                            .map(Cow::into_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                let new =
                    super::vacation::enclose_message(self, subject.as_deref(), &headers, &text);
                self.set_message_internal(new);
            }
            Instr::Error(m) => {
                let m = self.expand(m).into_owned();
                return Err(Flow::Error(m));
            }
            Instr::DebugLog(m) => {
                // Logged at once, as Pigeonhole does: it stays even if the run fails later.
                let m = self.expand(m).into_owned();
                self.log.push(format!("DEBUG: {m}"));
            }
            Instr::Report {
                headers_only,
                feedback_type,
                message,
                address,
            } => self.report(*headers_only, feedback_type, message, address)?,
            Instr::Pipe(p) => self.pipe(p)?,
            Instr::Program(c) => {
                self.run_program(c, false)?;
            }
            Instr::Testsuite(c) => return self.suite_command(c, pc),
            Instr::Jump(_) | Instr::JumpIf { .. } | Instr::Not | Instr::Test(_) => {
                unreachable!("handled by exec")
            }
        }
        Ok(pc + 1)
    }

    pub(super) fn set_message_internal(&mut self, new: Vec<u8>) {
        let arc: Arc<[u8]> = Arc::from(new.clone());
        self.actions.push(Action::ReplaceMessage { message: arc });
        self.message = super::message::Message::new(Cow::Owned(new));
        self.headers_snapshot = None;
    }

    /// The envelope sender a policy names (for a sender that is not null).
    pub(crate) fn sender_by_policy(&self, policy: &super::RedirectSender) -> String {
        match policy {
            super::RedirectSender::Recipient => self.envelope.to.clone(),
            super::RedirectSender::OriginalRecipient => self
                .envelope
                .orig_to
                .clone()
                .unwrap_or_else(|| self.envelope.to.clone()),
            // The user's address; without one, the address the mail was delivered to.
            super::RedirectSender::UserEmail => self
                .ctx
                .user_addresses
                .first()
                .cloned()
                .unwrap_or_else(|| self.envelope.to.clone()),
            super::RedirectSender::Explicit(a) => a.clone(),
            _ => self.envelope.from.clone(),
        }
    }

    fn redirect(&mut self, address: &Value, copy: bool) -> Res<()> {
        let raw = self.expand(address).into_owned();
        let Some(addr) = crate::address::parse_redirect_address(&raw) else {
            return Err(Flow::Error(format!(
                "the redirect address \"{raw}\" is invalid"
            )));
        };
        if self.redirects >= self.ctx.limits.max_redirects {
            return Err(Flow::Error(format!(
                "number of redirect actions exceeds policy limit ({})",
                self.ctx.limits.max_redirects
            )));
        }
        let me = self
            .ctx
            .user_addresses
            .first()
            .cloned()
            .unwrap_or_else(|| self.envelope.to.clone());
        let mut headers = self.snapshot();
        if self.ctx.redirect_loop_protection {
            let looped = self
                .message
                .fields
                .iter()
                .filter(|f| {
                    self.message
                        .field_name(f)
                        .eq_ignore_ascii_case(b"x-sieve-redirected-from")
                })
                .any(|f| {
                    // Redirected before by this user, under any of their addresses or the
                    // address the message was delivered to.
                    let mut list = Vec::new();
                    crate::address::header_addresses(self.message.bytes(&f.value), &mut list);
                    list.iter().any(|a| {
                        a.eq_ignore_ascii_case(&self.envelope.to)
                            || self
                                .ctx
                                .user_addresses
                                .iter()
                                .any(|u| a.eq_ignore_ascii_case(u))
                    })
                });
            if looped {
                self.log.push(format!("redirect to <{addr}> not done: the message was already redirected by <{me}> (mail loop)"));
                return Ok(());
            }
            let mut block = format!("X-Sieve-Redirected-From: {me}\r\n").into_bytes();
            match &headers {
                Some(h) => block.extend_from_slice(h),
                None => block.extend_from_slice(&self.message.header_block()),
            }
            headers = Some(Arc::from(block));
        }
        let envelope_from = if self.envelope.from.is_empty() {
            String::new()
        } else {
            self.sender_by_policy(&self.ctx.redirect_sender)
        };
        let before = self.actions.len();
        self.add_action(Action::Redirect {
            address: addr,
            envelope_from,
            copy,
            headers,
        })?;
        if self.actions.len() > before {
            self.redirects += 1;
        }
        if !copy {
            self.implicit_keep = false;
        }
        Ok(())
    }

    fn fileinto(&mut self, f: &FileInto) -> Res<()> {
        let mailbox = self.expand(&f.mailbox).into_owned();
        if mailbox.is_empty() {
            return Err(Flow::Error("fileinto: the mailbox name is empty".into()));
        }
        // Strings are UTF-8 here: a byte that is not (`${hex:ff}` set into a variable, a
        // header with a broken charset) became U+FFFD, and such a name is refused rather
        // than creating a mailbox named after a decoding failure (as Pigeonhole refuses
        // the invalid UTF-8 itself).
        if mailbox.contains('\u{FFFD}') {
            return Err(Flow::Error(format!(
                "fileinto: invalid folder name \"{}\": it is not valid UTF-8",
                mailbox.escape_debug()
            )));
        }
        let flags = match &f.flags {
            Some(l) => self.flag_list(l),
            None => self.flags.clone(),
        };
        let special_use = f.special_use.as_ref().map(|s| self.expand(s).into_owned());
        let headers = self.snapshot();
        self.add_action(Action::FileInto {
            mailbox,
            flags,
            create: f.create,
            special_use,
            copy: f.copy,
            headers,
        })?;
        if !f.copy {
            self.implicit_keep = false;
        }
        Ok(())
    }

    /// May `addheader` (`adding`) or `deleteheader` not touch this header field? Subject
    /// can always be edited and Received and Auto-Submitted never deleted (RFC 5293 §6).
    fn is_protected(&self, name: &str, adding: bool) -> bool {
        let listed = |l: &[String]| l.iter().any(|p| p.eq_ignore_ascii_case(name));
        if name.eq_ignore_ascii_case("subject") {
            return false;
        }
        listed(&self.ctx.protected_headers)
            || if adding {
                listed(&self.ctx.forbid_add_headers)
            } else {
                name.eq_ignore_ascii_case("received")
                    || name.eq_ignore_ascii_case("auto-submitted")
                    || listed(&self.ctx.forbid_delete_headers)
            }
    }

    fn addheader(&mut self, name: &str, value: &str, last: bool) -> Res<()> {
        if !crate::compile::is_field_name(name) {
            return Err(Flow::Error(format!(
                "addheader: the header field name \"{name}\" is invalid"
            )));
        }
        if self.is_protected(name, true) {
            self.log.push(format!(
                "addheader: the header \"{name}\" is protected; not added"
            ));
            return Ok(());
        }
        if self.header_edits >= self.ctx.limits.max_header_edits {
            return Err(Flow::Error(format!(
                "too many header edits (the limit is {})",
                self.ctx.limits.max_header_edits
            )));
        }
        if value.contains('\0') {
            return Err(Flow::Error(format!(
                "addheader: the value of the header \"{name}\" is invalid (it contains NUL)"
            )));
        }
        // Line breaks in the value are folding: unfold (RFC 5322 §2.2.3) and fold again
        // below; a trailing line end would end the header block.
        let unfolded: String;
        let value = if value.contains(['\r', '\n']) {
            unfolded = value
                .trim_end_matches(['\r', '\n'])
                .replace("\r\n", "")
                .replace(['\r', '\n'], "");
            unfolded.as_str()
        } else {
            value
        };
        let encoded = super::vacation::encode_header_value(value);
        let folded = super::vacation::fold(name, &encoded);
        if name.len() + folded.len() + 2 > self.ctx.limits.max_header_size {
            return Err(Flow::Error(format!(
                "addheader: the header \"{name}\" is longer than the limit of {} bytes",
                self.ctx.limits.max_header_size
            )));
        }
        let field = Field {
            name: Bytes::Owned(Arc::from(name.as_bytes())),
            value: Bytes::Owned(Arc::from(format!(" {folded}").as_bytes())),
        };
        if last {
            self.message.fields.push(field);
        } else {
            self.message.fields.insert(0, field);
        }
        self.header_edits += 1;
        self.message.version += 1;
        Ok(())
    }

    fn deleteheader(&mut self, d: &DeleteHeader) -> Res<()> {
        let name = self.expand(&d.name).into_owned();
        if self.is_protected(&name, false) {
            self.log.push(format!(
                "deleteheader: the header \"{name}\" is protected; not deleted"
            ));
            return Ok(());
        }
        let positions: Vec<usize> = self
            .message
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                self.message
                    .field_name(f)
                    .eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|(i, _)| i)
            .collect();
        let candidates: Vec<usize> = match &d.index {
            Some(ix) if ix.n > 0 => {
                let i = ix.n as usize - 1;
                let pick = if ix.last {
                    positions.len().checked_sub(i + 1)
                } else {
                    Some(i)
                };
                pick.and_then(|i| positions.get(i).copied())
                    .into_iter()
                    .collect()
            }
            _ => positions,
        };
        let mut delete = Vec::new();
        for i in candidates {
            let keep_it = match &d.patterns {
                None => false,
                Some(p) => {
                    let v = decode_value(self.message.bytes(&self.message.fields[i].value))
                        .into_owned();
                    if matches!(d.mt.kind, MatchKind::Count(_)) {
                        false
                    } else {
                        !self.match_values(vec![v], p, &d.mt)?
                    }
                }
            };
            if !keep_it {
                delete.push(i);
            }
        }
        if delete.is_empty() {
            return Ok(());
        }
        if self.header_edits + delete.len() > self.ctx.limits.max_header_edits {
            return Err(Flow::Error(format!(
                "too many header edits (the limit is {})",
                self.ctx.limits.max_header_edits
            )));
        }
        self.header_edits += delete.len();
        for i in delete.into_iter().rev() {
            self.message.fields.remove(i);
        }
        self.message.version += 1;
        Ok(())
    }

    fn suite_command(&mut self, c: &SuiteCommand, pc: usize) -> Res<usize> {
        let req = match c {
            SuiteCommand::Begin(n) => {
                self.suite_failed = false;
                TestsuiteRequest::Begin(self.expand(n).into_owned())
            }
            SuiteCommand::End => TestsuiteRequest::End,
            SuiteCommand::Fail(r) => {
                self.suite_failed = true;
                TestsuiteRequest::Fail(self.expand(r).into_owned())
            }
            SuiteCommand::Set { object, value } => TestsuiteRequest::Set(
                self.expand(object).into_owned(),
                self.expand(value).into_owned(),
            ),
            SuiteCommand::ConfigSet { name, value } => TestsuiteRequest::ConfigSet(
                self.expand(name).into_owned(),
                self.expand(value).into_owned(),
            ),
            SuiteCommand::ConfigUnset(n) => {
                TestsuiteRequest::ConfigUnset(self.expand(n).into_owned())
            }
            SuiteCommand::ConfigReload { extension } => TestsuiteRequest::ConfigReload(
                extension.as_ref().map(|e| self.expand(e).into_owned()),
            ),
            SuiteCommand::ResultReset => TestsuiteRequest::ResultReset,
            SuiteCommand::ResultPrint => TestsuiteRequest::ResultPrint,
            SuiteCommand::MessageSmtp(i) => {
                TestsuiteRequest::MessageSmtp(self.expand(i).into_owned())
            }
            SuiteCommand::MessageFolder { folder, index } => TestsuiteRequest::MessageFolder(
                self.expand(folder).into_owned(),
                self.expand(index).into_owned(),
            ),
            SuiteCommand::MessagePrint => TestsuiteRequest::MessagePrint,
            SuiteCommand::MailboxCreate(m) => {
                TestsuiteRequest::MailboxCreate(self.expand(m).into_owned())
            }
            SuiteCommand::MailboxDelete(m) => {
                TestsuiteRequest::MailboxDelete(self.expand(m).into_owned())
            }
            SuiteCommand::ImapMetadataSet {
                mailbox,
                annotation,
                value,
            } => TestsuiteRequest::ImapMetadataSet(
                mailbox.as_ref().map(|m| self.expand(m).into_owned()),
                self.expand(annotation).into_owned(),
                self.expand(value).into_owned(),
            ),
            SuiteCommand::BinarySave(n) => {
                TestsuiteRequest::BinarySave(self.expand(n).into_owned())
            }
            SuiteCommand::BinaryLoad(n) => {
                TestsuiteRequest::BinaryLoad(self.expand(n).into_owned())
            }
        };
        match self.ask(Question::Testsuite(req))? {
            Answer::Error(e) => Err(Flow::Error(e)),
            Answer::Bool(false) => Err(Flow::Error("testsuite command failed".into())),
            _ => Ok(pc + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers() {
        let m = |f: fn(&mut Modifiers)| {
            let mut m = Modifiers::default();
            f(&mut m);
            m
        };
        assert_eq!(
            apply_modifiers("Hello".into(), m(|m| m.upper = true)),
            "HELLO"
        );
        assert_eq!(
            apply_modifiers("hello".into(), m(|m| m.upperfirst = true)),
            "Hello"
        );
        assert_eq!(
            apply_modifiers(
                "HELLO".into(),
                m(|m| {
                    m.lower = true;
                    m.upperfirst = true;
                })
            ),
            "Hello"
        );
        assert_eq!(
            apply_modifiers("a*b?".into(), m(|m| m.quotewildcard = true)),
            "a\\*b\\?"
        );
        assert_eq!(
            apply_modifiers("ab\u{e9}".into(), m(|m| m.length = true)),
            "3"
        );
        assert_eq!(
            apply_modifiers("a b&c".into(), m(|m| m.encodeurl = true)),
            "a%20b%26c"
        );
        assert_eq!(
            split_flags("\\Seen  $Important \\seen"),
            ["\\Seen", "$Important"]
        );
        assert!(
            valid_flag("\\Flagged")
                && valid_flag("$Label1")
                && !valid_flag("\\Frop")
                && !valid_flag("a(b")
        );
    }
}
