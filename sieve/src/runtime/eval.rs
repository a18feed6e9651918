//! Tests: where each takes its values from, and the match of values against keys.

use std::borrow::Cow;

use super::matching;
use super::message::{Field, decode_value};
use super::{Answer, Flow, Question, Res, Runtime};
use crate::address;
use crate::capability::Capability;
use crate::compile::build_regex;
use crate::program::{
    BodyTransform, Index, LazyRegex, Match, MatchKind, MimeOption, MimeOpts, Test, Value, Zone,
};
use crate::testsuite::{SuiteTest, TestsuiteRequest};

/// Default `duplicate` period (RFC 7352 leaves it to the implementation): 12 hours.
const DUPLICATE_DEFAULT_PERIOD: u64 = 12 * 3600;

impl Runtime<'_, '_> {
    pub(crate) fn eval(&mut self, t: &Test) -> Res<bool> {
        match t {
            Test::True => Ok(true),
            Test::False => Ok(false),
            Test::Header {
                names,
                keys,
                mt,
                index,
                mime,
            } => self.header_test(names, index.as_ref(), mime, keys, mt),
            Test::Address {
                names,
                keys,
                mt,
                part,
                index,
                mime,
            } => {
                let names = self.expand_list(names);
                let selected = self.selected_parts(mime);
                let mut raw: Vec<Cow<'_, str>> = Vec::new();
                header_values(
                    &self.message,
                    &selected,
                    &names,
                    index.as_ref(),
                    false,
                    &mut raw,
                );
                let delim = &self.ctx.recipient_delimiter;
                // An address that is not a valid addr-spec is seen only by `:all`
                // (RFC 5228 §2.7.4).
                let all = matches!(part, crate::program::AddressPart::All);
                let mut addrs = Vec::new();
                for v in &raw {
                    let before = addrs.len();
                    address::header_addresses(v.as_bytes(), &mut addrs);
                    // Unparsable text is still seen by :all, an empty field as "".
                    if addrs.len() == before && !v.contains(':') {
                        addrs.push(v.trim().to_string());
                    } else if all
                        && addrs.len() == before + 1
                        && !address::is_addr_spec(&addrs[before])
                    {
                        // The field's one address is not valid: `:all` sees it as
                        // written (`<jürgen@example.com>`), as Pigeonhole.
                        addrs[before] = v.trim().to_string();
                    }
                }
                let values: Vec<&str> = addrs
                    .iter()
                    .filter(|a| all || address::is_addr_spec(a))
                    .filter_map(|a| address::address_part(a, *part, delim))
                    .collect();
                let keys: Vec<Cow<'_, str>> = keys.iter().map(|k| self.expand(k)).collect();
                let vars = self.has(Capability::Variables);
                let mut cx = MatchState {
                    steps: &mut self.steps,
                    max_steps: self.ctx.limits.max_cpu_steps,
                    match_vars: &mut self.match_vars,
                    vars,
                    answers: &self.answers,
                    answer_pos: &mut self.answer_pos,
                    log: &mut self.log,
                };
                match_with(&values, &keys, mt, &mut cx)
            }
            Test::Envelope {
                parts,
                keys,
                mt,
                part,
            } => {
                let delim = self.ctx.recipient_delimiter.clone();
                let mut values = Vec::new();
                for p in self.expand_list(parts) {
                    let addr = match p.to_ascii_lowercase().as_str() {
                        "from" => Some(self.envelope.from.clone()),
                        "to" => Some(self.envelope.to.clone()),
                        "auth" => self.envelope.auth.clone(),
                        _ => None,
                    };
                    // A value that is not an SMTP path matches nothing.
                    let Some(addr) = addr.as_deref().and_then(address::parse_smtp_path) else {
                        continue;
                    };
                    if addr.is_empty() {
                        // The null reverse path is the empty string whatever the address
                        // part (RFC 5228 §5.4).
                        values.push(String::new());
                        continue;
                    }
                    if let Some(v) = address::address_part(&addr, *part, &delim) {
                        values.push(v.to_string());
                    }
                }
                self.match_values(values, keys, mt)
            }
            Test::Exists { names, mime } => {
                let names = self.expand_list(names);
                let parts = self.selected_parts(mime);
                for n in &names {
                    let mut found = false;
                    for &p in &parts {
                        let fields = self.message.part_fields(p);
                        if fields.iter().any(|f| {
                            self.message
                                .field_name(f)
                                .eq_ignore_ascii_case(n.as_bytes())
                        }) {
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::Size { over, limit } => {
                let size = self.message.size() as u64;
                Ok(if *over { size > *limit } else { size < *limit })
            }
            Test::Body {
                transform,
                keys,
                mt,
            } => self.body_test(transform, keys, mt),
            Test::Date {
                header,
                zone,
                part,
                keys,
                mt,
                index,
            } => {
                let header = self.expand(header).into_owned();
                let part = self.expand(part).into_owned();
                let mut values = Vec::new();
                let mut raw: Vec<Cow<'_, str>> = Vec::new();
                header_values(
                    &self.message,
                    &[0],
                    &[Cow::Borrowed(header.as_str())],
                    index.as_ref(),
                    true,
                    &mut raw,
                );
                if let Some(v) = raw.first() {
                    let text = if header.eq_ignore_ascii_case("received") {
                        v.rsplit(';').next().unwrap_or("").trim().to_string()
                    } else {
                        v.to_string()
                    };
                    if let Some(d) = super::date::parse_date(&text) {
                        let zone_min = self.zone_minutes(zone, Some(d.zone))?;
                        if let Some(v) = super::date::date_part(&d, zone_min, &part) {
                            values.push(v);
                        }
                    }
                }
                self.match_values(values, keys, mt)
            }
            Test::CurrentDate {
                zone,
                part,
                keys,
                mt,
            } => {
                let part = self.expand(part).into_owned();
                let zone_min = self.zone_minutes(zone, None)?;
                let d = super::date::from_timestamp(self.ctx.now, 0);
                let values: Vec<String> = super::date::date_part(&d, zone_min, &part)
                    .into_iter()
                    .collect();
                self.match_values(values, keys, mt)
            }
            Test::String { sources, keys, mt } => {
                let mut values: Vec<String> = self
                    .expand_list(sources)
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect();
                if matches!(mt.kind, MatchKind::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                self.match_values(values, keys, mt)
            }
            Test::HasFlag { vars, keys, mt } => {
                let mut values = Vec::new();
                match vars {
                    Some(vs) => {
                        for v in vs.iter() {
                            values.extend(super::exec::split_flags(self.var(*v)));
                        }
                    }
                    None => values.extend(self.flags.iter().cloned()),
                }
                // A key is a flag list too: "b A" is the flags b and A (RFC 5232 §5).
                if matches!(mt.kind, MatchKind::Regex(_) | MatchKind::Count(_)) {
                    return self.match_values(values, keys, mt);
                }
                let keys: Vec<String> = self
                    .expand_list(keys)
                    .iter()
                    .flat_map(|k| super::exec::split_flags(k))
                    .collect();
                let vars = self.has(Capability::Variables);
                let mut cx = MatchState {
                    steps: &mut self.steps,
                    max_steps: self.ctx.limits.max_cpu_steps,
                    match_vars: &mut self.match_vars,
                    vars,
                    answers: &self.answers,
                    answer_pos: &mut self.answer_pos,
                    log: &mut self.log,
                };
                match_with(&values, &keys, mt, &mut cx)
            }
            Test::MailboxExists(list) => {
                for m in self
                    .expand_list(list)
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect::<Vec<_>>()
                {
                    if !self.ask_bool(Question::MailboxExists(m))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::Metadata {
                mailbox,
                annotation,
                keys,
                mt,
            } => {
                let mailbox = mailbox.as_ref().map(|m| self.expand(m).into_owned());
                let annotation = self.expand(annotation).into_owned();
                let values: Vec<String> = self
                    .ask_value(Question::Metadata {
                        mailbox,
                        annotation,
                    })?
                    .into_iter()
                    .collect();
                self.match_values(values, keys, mt)
            }
            Test::MetadataExists {
                mailbox,
                annotations,
            } => {
                let mailbox = mailbox.as_ref().map(|m| self.expand(m).into_owned());
                if let Some(m) = &mailbox
                    && !self.ask_bool(Question::MailboxExists(m.clone()))?
                {
                    return Ok(false);
                }
                for a in self
                    .expand_list(annotations)
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect::<Vec<_>>()
                {
                    if self
                        .ask_value(Question::Metadata {
                            mailbox: mailbox.clone(),
                            annotation: a,
                        })?
                        .is_none()
                    {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::SpecialUseExists { mailbox, uses } => {
                let mailbox = mailbox.as_ref().map(|m| self.expand(m).into_owned());
                for u in self
                    .expand_list(uses)
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect::<Vec<_>>()
                {
                    if !self.ask_bool(Question::SpecialUseExists {
                        mailbox: mailbox.clone(),
                        special_use: u,
                    })? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::ValidExtList(names) => {
                for n in self
                    .expand_list(names)
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect::<Vec<_>>()
                {
                    let Some(list) = ext_list_name(&n) else {
                        return Ok(false);
                    };
                    if !self.ask_bool(Question::ExtListExists(list))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::Environment { name, keys, mt } => {
                let name = self.expand(name).to_ascii_lowercase();
                let known = self.env_item(&name).map(str::to_string);
                let value = match known {
                    Some(v) => Some(v),
                    // Dovecot's items do not exist without vnd.dovecot.environment.
                    None if name.starts_with("vnd.dovecot.")
                        && !self.has(Capability::DovecotEnvironment) =>
                    {
                        None
                    }
                    None => self.ask_value(Question::Environment(name))?,
                };
                // An item the host does not know fails the test, whatever the match type
                // (even `:count "eq" "0"`; RFC 5183 §4).
                let Some(value) = value else {
                    return Ok(false);
                };
                self.match_values(vec![value], keys, mt)
            }
            Test::Duplicate {
                handle,
                header,
                uniqueid,
                seconds,
                last,
            } => {
                let value = match (uniqueid, header) {
                    (Some(u), _) => Some(self.expand(u).into_owned()),
                    (None, Some(h)) => {
                        let h = self.expand(h).into_owned();
                        self.first_header(&h)
                    }
                    (None, None) => self.first_header("message-id"),
                };
                let Some(value) = value else {
                    return Ok(false);
                };
                let handle = handle
                    .as_ref()
                    .map(|h| self.expand(h).into_owned())
                    .unwrap_or_default();
                let id = format!("duplicate\0{handle}\0{value}");
                let period = seconds.unwrap_or(DUPLICATE_DEFAULT_PERIOD);
                // A second test for the same id in this run answers from the first.
                if let Some(pos) = self.duplicates.iter().position(|d| d.id == id) {
                    if *last {
                        self.duplicates[pos].period = period;
                    }
                    return Ok(true);
                }
                let seen = self.ask_bool(Question::Duplicate {
                    id: id.clone(),
                    period,
                })?;
                if !seen || *last {
                    self.duplicates.push(super::DuplicateRecord { id, period });
                }
                Ok(seen)
            }
            Test::ValidNotifyMethod(uris) => {
                for u in self.expand_list(uris) {
                    if crate::notify::check_method(&u).is_err() {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::NotifyMethodCapability {
                uri,
                capability,
                keys,
                mt,
            } => {
                let uri = self.expand(uri);
                if crate::notify::check_method(&uri).is_err() {
                    return Ok(false);
                }
                let cap = self.expand(capability);
                let values: Vec<String> = if cap.eq_ignore_ascii_case("online") {
                    vec![self.ctx.notify_online.clone()]
                } else {
                    Vec::new()
                };
                self.match_values(values, keys, mt)
            }
            Test::SpamTest { percent, keys, mt } => {
                let v = super::vacation::score(self, true, *percent);
                self.match_values(vec![v], keys, mt)
            }
            Test::VirusTest { keys, mt } => {
                let v = super::vacation::score(self, false, false);
                self.match_values(vec![v], keys, mt)
            }
            Test::Program(c) => self.run_program(c, true),
            Test::Testsuite(st) => self.suite_test(st),
        }
    }

    fn suite_test(&mut self, st: &SuiteTest) -> Res<bool> {
        let req = match st {
            SuiteTest::ScriptCompile(p) => {
                TestsuiteRequest::ScriptCompile(self.expand(p).into_owned())
            }
            SuiteTest::ScriptRun { append } => TestsuiteRequest::ScriptRun { append: *append },
            SuiteTest::Multiscript(l) => TestsuiteRequest::Multiscript(
                self.expand_list(l)
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect(),
            ),
            SuiteTest::ResultExecute => TestsuiteRequest::ResultExecute,
            SuiteTest::Message { folder, index } => match folder {
                Some(f) => TestsuiteRequest::MessageFolder(
                    self.expand(f).into_owned(),
                    self.expand(index).into_owned(),
                ),
                None => TestsuiteRequest::MessageSmtp(self.expand(index).into_owned()),
            },
            SuiteTest::Error { mt, keys, index } | SuiteTest::ResultAction { mt, keys, index } => {
                let req = if matches!(st, SuiteTest::Error { .. }) {
                    TestsuiteRequest::Errors
                } else {
                    TestsuiteRequest::ResultActions
                };
                let values = match self.ask(Question::Testsuite(req))? {
                    Answer::Values(v) => v,
                    _ => Vec::new(),
                };
                let values = match index {
                    Some(i) => values
                        .into_iter()
                        .nth((*i as usize).saturating_sub(1))
                        .into_iter()
                        .collect(),
                    None => values,
                };
                return self.match_values(values, keys, mt);
            }
        };
        self.ask_bool(Question::Testsuite(req))
    }

    pub(crate) fn ask_bool(&mut self, q: Question) -> Res<bool> {
        match self.ask(q)? {
            Answer::Bool(b) => Ok(b),
            Answer::Value(v) => Ok(v.is_some()),
            Answer::Error(e) => Err(Flow::Error(e)),
            _ => Ok(false),
        }
    }

    pub(crate) fn ask_value(&mut self, q: Question) -> Res<Option<String>> {
        match self.ask(q)? {
            Answer::Value(v) => Ok(v),
            Answer::Error(e) => Err(Flow::Error(e)),
            _ => Ok(None),
        }
    }

    fn zone_minutes(&self, zone: &Zone, original: Option<i32>) -> Res<i32> {
        Ok(match zone {
            Zone::Local => self.ctx.local_zone,
            Zone::Original => original.unwrap_or(self.ctx.local_zone),
            Zone::Fixed(v) => {
                let z = self.expand(v);
                crate::compile::parse_zone(&z).unwrap_or(self.ctx.local_zone)
            }
        })
    }

    pub(crate) fn first_header(&self, name: &str) -> Option<String> {
        self.message
            .fields
            .iter()
            .find(|f| {
                self.message
                    .field_name(f)
                    .eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|f| decode_value(self.message.bytes(&f.value)).into_owned())
    }

    /// The MIME parts a `:mime` test looks at: the current part (or the message), and with
    /// `:anychild` its descendants too.
    fn selected_parts(&mut self, mime: &MimeOpts) -> Vec<usize> {
        // Without :mime a test sees the message's own header, also inside foreverypart
        // (RFC 5703 §4.1).
        if !mime.mime {
            return vec![0];
        }
        let current = self.current_part();
        if current != 0 || mime.anychild {
            self.message.parts();
        }
        let mut out = vec![current];
        if mime.anychild {
            super::exec::descendants(self.message.parts_ref().unwrap_or(&[]), current, &mut out);
        }
        out
    }

    pub(crate) fn current_part(&self) -> usize {
        self.loops
            .last()
            .and_then(|l| l.parts.get(l.pos).copied())
            .unwrap_or(0)
    }

    /// `header` (RFC 5228 §5.7, with `:index` and `:mime`): the values borrow the message.
    fn header_test(
        &mut self,
        names: &[Value],
        index: Option<&Index>,
        mime: &MimeOpts,
        keys: &[Value],
        mt: &Match,
    ) -> Res<bool> {
        let names = self.expand_list(names);
        let keys: Vec<Cow<'_, str>> = keys.iter().map(|k| self.expand(k)).collect();
        let params: Vec<String> = match &mime.option {
            MimeOption::Param(p) => self
                .expand_list(p)
                .into_iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
            _ => Vec::new(),
        };
        let selected = self.selected_parts(mime);
        let vars = self.has(Capability::Variables);
        let mut values: Vec<Cow<'_, str>> = Vec::new();
        if matches!(mt.kind, MatchKind::Count(_)) && !mime.mime {
            // Only the number of values counts: no need to decode them.
            let n = self
                .message
                .fields
                .iter()
                .filter(|f| {
                    names.iter().any(|n| {
                        self.message
                            .field_name(f)
                            .eq_ignore_ascii_case(n.as_bytes())
                    })
                })
                .count();
            let n = match index {
                Some(ix) if ix.n > 0 => usize::from(n >= ix.n as usize),
                _ => n,
            };
            values.resize(n, Cow::Borrowed(""));
        } else {
            header_values(&self.message, &selected, &names, index, true, &mut values);
        }
        if mime.mime && !matches!(mime.option, MimeOption::None) {
            values = values
                .iter()
                .flat_map(|v| mime_option_values(v, &mime.option, &params))
                .map(Cow::Owned)
                .collect();
        }
        let mut cx = MatchState {
            steps: &mut self.steps,
            max_steps: self.ctx.limits.max_cpu_steps,
            match_vars: &mut self.match_vars,
            vars,
            answers: &self.answers,
            answer_pos: &mut self.answer_pos,
            log: &mut self.log,
        };
        match_with(&values, &keys, mt, &mut cx)
    }

    /// `body` (RFC 5173): the values borrow the message, so no part text is copied.
    fn body_test(&mut self, transform: &BodyTransform, keys: &[Value], mt: &Match) -> Res<bool> {
        // A message that is only a header: every body test is false (RFC 5173 §5).
        if !self.message.has_body() {
            return Ok(false);
        }
        let keys: Vec<Cow<'_, str>> = keys.iter().map(|k| self.expand(k)).collect();
        let types: Vec<String> = match transform {
            BodyTransform::Content(t) => self
                .expand_list(t)
                .into_iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
            _ => Vec::new(),
        };
        if !matches!(transform, BodyTransform::Raw) {
            self.message.parts();
        }
        // The body test leaves the match variables alone (as Pigeonhole: a body can be
        // large, and RFC 5173 does not list body among the tests that set them).
        let vars = false;
        let msg = &self.message;
        let parts = msg.parts_ref().unwrap_or(&[]);
        let mut values: Vec<Cow<'_, str>> = Vec::new();
        match transform {
            BodyTransform::Raw => values.push(msg.raw_body()),
            BodyTransform::Text => {
                for p in parts {
                    // XHTML is text to a reader too (RFC 5173 §5.1 leaves the set of
                    // types to the implementation; Pigeonhole includes it).
                    let xhtml = p.ctype == "application" && p.csubtype == "xhtml+xml";
                    if xhtml && let Some(b) = &p.binary {
                        let t = String::from_utf8_lossy(b);
                        values.push(Cow::Owned(mail_parser::decoders::html::html_to_text(&t)));
                    } else if (p.ctype == "text"
                        || xhtml
                        || (p.ctype.is_empty() && p.children.is_empty()))
                        && let Some(t) = &p.text
                    {
                        let t = msg.text(t);
                        values.push(if p.csubtype == "html" || xhtml {
                            Cow::Owned(mail_parser::decoders::html::html_to_text(t))
                        } else {
                            Cow::Borrowed(t)
                        });
                    }
                }
            }
            BodyTransform::Content(_) => {
                for p in parts {
                    // A type that begins or ends with '/' or has more than one matches
                    // nothing (RFC 5173 §5.2).
                    let wanted = types.iter().any(|t| {
                        t.is_empty()
                            || match t.split_once('/') {
                                Some((ty, sub)) => {
                                    !ty.is_empty()
                                        && !sub.is_empty()
                                        && !sub.contains('/')
                                        && ty == p.ctype
                                        && sub == p.csubtype
                                }
                                None => *t == p.ctype,
                            }
                    });
                    if !wanted {
                        continue;
                    }
                    // A multipart part has only its prologue and epilogue as text.
                    if p.ctype == "multipart" {
                        values.extend(p.outside.iter().map(|t| Cow::Borrowed(&**t)));
                        continue;
                    }
                    if p.is_message {
                        // The header of the encapsulated message, without the empty line
                        // that ends it.
                        if let Some(h) = p.children.first().and_then(|&c| parts.get(c)) {
                            let mut h = h.header_raw.as_slice();
                            if h.ends_with(b"\n\r\n") {
                                h = &h[..h.len() - 2];
                            } else if h.ends_with(b"\n\n") {
                                h = &h[..h.len() - 1];
                            }
                            values.push(String::from_utf8_lossy(h));
                        }
                    } else if let Some(t) = &p.text {
                        values.push(Cow::Borrowed(msg.text(t)));
                    } else if let Some(b) = &p.binary {
                        values.push(String::from_utf8_lossy(b));
                    }
                }
            }
        }
        let mut cx = MatchState {
            steps: &mut self.steps,
            max_steps: self.ctx.limits.max_cpu_steps,
            match_vars: &mut self.match_vars,
            vars,
            answers: &self.answers,
            answer_pos: &mut self.answer_pos,
            log: &mut self.log,
        };
        match_with(&values, &keys, mt, &mut cx)
    }

    /// Matches values against keys (RFC 5228 §2.7). Sets the match variables on success.
    pub(crate) fn match_values<S: AsRef<str>>(
        &mut self,
        values: Vec<S>,
        keys: &[Value],
        mt: &Match,
    ) -> Res<bool> {
        let keys: Vec<Cow<'_, str>> = keys.iter().map(|k| self.expand(k)).collect();
        let vars = self.has(Capability::Variables);
        let mut cx = MatchState {
            steps: &mut self.steps,
            max_steps: self.ctx.limits.max_cpu_steps,
            match_vars: &mut self.match_vars,
            vars,
            answers: &self.answers,
            answer_pos: &mut self.answer_pos,
            log: &mut self.log,
        };
        match_with(&values, &keys, mt, &mut cx)
    }
}

/// The part of the runtime that matching writes to.
pub(crate) struct MatchState<'a> {
    pub steps: &'a mut u64,
    pub max_steps: u64,
    pub match_vars: &'a mut Vec<String>,
    pub vars: bool,
    /// The answers to this instruction's questions so far (`:list` asks the host).
    pub answers: &'a [Answer],
    pub answer_pos: &'a mut usize,
    /// The run's log: problems that do not stop the script go here.
    pub log: &'a mut Vec<String>,
}

impl MatchState<'_> {
    /// The next answer to a question of this instruction, or `Flow::Ask`.
    fn ask(&mut self, q: Question) -> Res<Answer> {
        if let Some(a) = self.answers.get(*self.answer_pos) {
            *self.answer_pos += 1;
            return Ok(a.clone());
        }
        Err(Flow::Ask(q))
    }
}

/// An external list's name as a URI (RFC 6134): a leading `:` is short for
/// `urn:ietf:params:sieve` (`:addrbook:default` is
/// `urn:ietf:params:sieve:addrbook:default`); the scheme is lowercased. None if the name
/// is not a URI (an RFC 3986 scheme, then something without white space or controls).
pub(crate) fn ext_list_name(name: &str) -> Option<String> {
    let uri = if name.starts_with(':') {
        format!("urn:ietf:params:sieve{name}")
    } else {
        name.to_string()
    };
    let (scheme, rest) = uri.split_once(':')?;
    let mut sb = scheme.bytes();
    let scheme_ok = sb.next().is_some_and(|b| b.is_ascii_alphabetic())
        && sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let rest_ok = !rest.is_empty() && rest.chars().all(|c| !c.is_whitespace() && !c.is_control());
    (scheme_ok && rest_ok).then(|| format!("{}:{rest}", scheme.to_ascii_lowercase()))
}

/// Matches values against keys; on a `:matches`/`:regex` success with variables on, sets
/// the match variables.
pub(crate) fn match_with<S: AsRef<str>, K: AsRef<str>>(
    values: &[S],
    keys: &[K],
    mt: &Match,
    cx: &mut MatchState<'_>,
) -> Res<bool> {
    *cx.steps += (values.len() * keys.len()) as u64;
    let vars = cx.vars;
    match &mt.kind {
        MatchKind::List => {
            if values.is_empty() {
                return Ok(false);
            }
            let values: Vec<String> = values.iter().map(|v| v.as_ref().to_string()).collect();
            for k in keys {
                // A key that is not a list name matches nothing (Pigeonhole warns).
                let Some(list) = ext_list_name(k.as_ref()) else {
                    continue;
                };
                let q = Question::ExtListMember {
                    list,
                    values: values.clone(),
                };
                match cx.ask(q)? {
                    Answer::Value(Some(member)) => {
                        if vars {
                            *cx.match_vars = vec![member];
                        }
                        return Ok(true);
                    }
                    Answer::Bool(true) => return Ok(true),
                    Answer::Error(e) => return Err(Flow::Error(e)),
                    _ => {}
                }
            }
            Ok(false)
        }
        MatchKind::Count(rel) => {
            let n = values.len().to_string();
            Ok(keys
                .iter()
                .any(|k| matching::relational(&n, k.as_ref(), *rel, mt.comparator)))
        }
        MatchKind::Value(rel) => Ok(values.iter().any(|v| {
            keys.iter()
                .any(|k| matching::relational(v.as_ref(), k.as_ref(), *rel, mt.comparator))
        })),
        MatchKind::Is => Ok(values.iter().any(|v| {
            keys.iter()
                .any(|k| matching::equals(v.as_ref(), k.as_ref(), mt.comparator))
        })),
        MatchKind::Contains(searcher) => {
            // Long values (bodies) go through the one-pass multi-key searcher.
            if let Some(searcher) = searcher {
                return Ok(values.iter().any(|v| {
                    let v = v.as_ref();
                    if v.len() >= 256 {
                        searcher.is_match(v.as_bytes())
                    } else {
                        keys.iter()
                            .any(|k| matching::contains(v, k.as_ref(), mt.comparator))
                    }
                }));
            }
            Ok(values.iter().any(|v| {
                keys.iter()
                    .any(|k| matching::contains(v.as_ref(), k.as_ref(), mt.comparator))
            }))
        }
        MatchKind::Matches => {
            let mut caps = Vec::new();
            let mut steps = 0;
            for v in values {
                for k in keys {
                    let ok = matching::matches(
                        v.as_ref(),
                        k.as_ref(),
                        mt.comparator,
                        vars.then_some(&mut caps),
                        &mut steps,
                    );
                    *cx.steps += steps;
                    steps = 0;
                    if *cx.steps > cx.max_steps {
                        return Err(Flow::Error(
                            "the script went over its CPU step limit while matching".into(),
                        ));
                    }
                    if ok {
                        if vars {
                            *cx.match_vars = std::mem::take(&mut caps);
                        }
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        MatchKind::Regex(compiled) => {
            let owned: Vec<regex::Regex>;
            let regexes: Vec<&regex::Regex> = match compiled {
                Some(r) => r
                    .iter()
                    .map(LazyRegex::get)
                    .collect::<Result<_, _>>()
                    .map_err(Flow::Error)?,
                None => {
                    // Building a regex costs time in proportion to its size.
                    *cx.steps += keys
                        .iter()
                        .map(|k| k.as_ref().len() as u64 * 16)
                        .sum::<u64>();
                    if *cx.steps > cx.max_steps {
                        return Err(Flow::Error(
                            "the script went over its CPU step limit while matching".into(),
                        ));
                    }
                    // A key that is no valid regular expression matches nothing; the
                    // script goes on (as Pigeonhole: an error is logged, the test is
                    // false for that key).
                    owned = keys
                        .iter()
                        .filter_map(|k| {
                            build_regex(k.as_ref(), mt.comparator, 256 * 1024)
                                .map_err(|e| {
                                    cx.log.push(format!(
                                        "error: the regular expression {:?} is invalid, it matches nothing: {e}",
                                        k.as_ref()
                                    ));
                                })
                                .ok()
                        })
                        .collect();
                    owned.iter().collect()
                }
            };
            for v in values {
                for r in &regexes {
                    // A search that only answers yes/no runs a DFA, linear in the text;
                    // one that captures groups (for match variables) costs about (text
                    // length) x (pattern size). The limit stops scripts that repeat such
                    // searches (Pigeonhole's errors-cpu-limit test).
                    let width = if vars {
                        (r.as_str().len() / 4 + 1) as u64
                    } else {
                        1
                    };
                    *cx.steps += (v.as_ref().len() as u64 / 32 + 1) * width;
                    if *cx.steps > cx.max_steps {
                        return Err(Flow::Error(
                            "the script went over its CPU step limit while matching".into(),
                        ));
                    }
                    if vars {
                        if let Some(c) = r.captures(v.as_ref()) {
                            *cx.match_vars = c
                                .iter()
                                .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
                                .collect();
                            return Ok(true);
                        }
                    } else if r.is_match(v.as_ref()) {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
    }
}

/// The values of the named header fields in the selected parts, honoring `:index`/`:last`;
/// decoded (unfolded, RFC 2047) when `decode`, raw otherwise (for address parsing).
fn header_values<'m>(
    msg: &'m super::message::Message<'_>,
    parts: &[usize],
    names: &[Cow<'_, str>],
    index: Option<&Index>,
    decode: bool,
    out: &mut Vec<Cow<'m, str>>,
) {
    fn chosen<'f>(
        msg: &super::message::Message<'_>,
        fields: &'f [Field],
        name: &str,
        index: Option<&Index>,
    ) -> Vec<&'f Field> {
        let mut matching = fields
            .iter()
            .filter(|f| msg.field_name(f).eq_ignore_ascii_case(name.as_bytes()));
        match index {
            Some(ix) if ix.n > 0 => {
                let i = ix.n as usize - 1;
                if ix.last {
                    let all: Vec<&Field> = matching.collect();
                    all.len()
                        .checked_sub(i + 1)
                        .and_then(|k| all.get(k).copied())
                        .into_iter()
                        .collect()
                } else {
                    matching.nth(i).into_iter().collect()
                }
            }
            _ => matching.collect(),
        }
    }
    let value = |raw: &'m [u8]| {
        if decode {
            decode_value(raw)
        } else {
            String::from_utf8_lossy(raw)
        }
    };
    for &p in parts {
        if p == 0 {
            for n in names {
                for f in chosen(msg, &msg.fields, n, index) {
                    out.push(value(msg.bytes(&f.value)));
                }
            }
            continue;
        }
        // A MIME part's fields are copies: their values are copied out.
        let fields = msg.part_fields(p).into_owned();
        for n in names {
            for f in chosen(msg, &fields, n, index) {
                let raw = msg.bytes(&f.value);
                let v = if decode {
                    decode_value(raw).into_owned()
                } else {
                    String::from_utf8_lossy(raw).into_owned()
                };
                out.push(Cow::Owned(v));
            }
        }
    }
}

/// The values `:type`, `:subtype`, `:contenttype` and `:param` take from a Content-Type
/// (or Content-Disposition) header value (RFC 5703 §4.2).
fn mime_option_values(v: &str, opt: &MimeOption, params: &[String]) -> Vec<String> {
    let mut parts = v.split(';');
    let ct = parts.next().unwrap_or("").trim();
    let (ty, sub) = ct
        .split_once('/')
        .map_or((ct, ""), |(a, b)| (a.trim(), b.trim()));
    match opt {
        MimeOption::None => vec![v.to_string()],
        MimeOption::Type => vec![ty.to_string()],
        MimeOption::Subtype => vec![sub.to_string()],
        MimeOption::ContentType => vec![if sub.is_empty() {
            ty.to_string()
        } else {
            format!("{ty}/{sub}")
        }],
        MimeOption::Param(_) => decode_params(parts)
            .into_iter()
            .filter(|(n, _)| params.contains(n))
            .map(|(_, v)| v)
            .collect(),
    }
}

/// MIME parameters (`name=value`, quoted or not), with RFC 2231 continuations
/// (`name*0`, `name*1`, ...) joined and extended values (`name*=charset'lang'%XX`)
/// decoded. Names are lower-cased.
fn decode_params<'a>(parts: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    // (base name, segment number, extended, raw value)
    let mut raw: Vec<(String, u32, bool, String)> = Vec::new();
    for p in parts {
        let Some((n, val)) = p.split_once('=') else {
            continue;
        };
        let n = n.trim().to_ascii_lowercase();
        let val = val.trim();
        let val = val
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .map_or_else(|| val.to_string(), |v| v.replace("\\\"", "\""));
        let (base, extended) = match n.strip_suffix('*') {
            Some(b) => (b.to_string(), true),
            None => (n, false),
        };
        let (base, seg) = match base.rsplit_once('*') {
            Some((b, num)) if !num.is_empty() && num.bytes().all(|c| c.is_ascii_digit()) => {
                (b.to_string(), num.parse().unwrap_or(u32::MAX))
            }
            _ => (base, 0),
        };
        raw.push((base, seg, extended, val));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut names: Vec<String> = raw.iter().map(|r| r.0.clone()).collect();
    names.dedup();
    for name in names {
        if out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let mut segs: Vec<&(String, u32, bool, String)> =
            raw.iter().filter(|r| r.0 == name).collect();
        segs.sort_by_key(|r| r.1);
        let mut bytes = Vec::new();
        let mut latin1 = false;
        for (k, (_, _, extended, v)) in segs.iter().enumerate() {
            if !*extended {
                bytes.extend_from_slice(v.as_bytes());
                continue;
            }
            let mut v = v.as_str();
            if k == 0 {
                // charset'language'value
                let mut it = v.splitn(3, '\'');
                if let (Some(cs), Some(_), Some(rest)) = (it.next(), it.next(), it.next()) {
                    latin1 =
                        cs.eq_ignore_ascii_case("iso-8859-1") || cs.eq_ignore_ascii_case("latin1");
                    v = rest;
                }
            }
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let hex = (b[i] == b'%')
                    .then(|| b.get(i + 1..i + 3))
                    .flatten()
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(x) = hex {
                    bytes.push(x);
                    i += 3;
                } else {
                    bytes.push(b[i]);
                    i += 1;
                }
            }
        }
        let value = if latin1 {
            bytes.iter().map(|&c| char::from(c)).collect()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        out.push((name, value));
    }
    out
}

#[cfg(test)]
mod param_tests {
    use super::decode_params;

    #[test]
    fn rfc2231_parameters() {
        let v = "application/x-stuff;\r\n\ttitle*0*=us-ascii'en'This%20is%20even%20more%20;\r\n\ttitle*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n\ttitle*2=\"isn't it!\"";
        let p = decode_params(v.split(';').skip(1));
        assert_eq!(
            p,
            [(
                "title".to_string(),
                "This is even more ***fun*** isn't it!".to_string()
            )]
        );
        let p = decode_params(" charset=\"UTF-8\"; name*=iso-8859-1''caf%E9".split(';'));
        assert_eq!(p[0], ("charset".to_string(), "UTF-8".to_string()));
        assert_eq!(p[1], ("name".to_string(), "caf\u{e9}".to_string()));
    }
}
