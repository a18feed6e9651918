//! Runs Pigeonhole's Sieve test suite (`tests/pigeonhole/tests`, LGPL-2.1, used as test input
//! only) through our compiler and runtime. This file is the host of the
//! `vnd.dovecot.testsuite` language: it keeps the test mail store, the SMTP sink, the
//! configuration and the results that the suite's commands inspect. For the extprograms
//! tests it also runs the "external programs" (`pigeonhole/programs.rs`: Pigeonhole's
//! `tests/plugins/extprograms/bin/` shell scripts as Rust closures; nothing is executed).
//!
//! It prints `pigeonhole: N passed, M failed, K skipped` per file and in total. Every block
//! must pass except those listed in `tests/pigeonhole/KNOWN_FAILURES` (each with its reason);
//! whole files are skipped only as listed in `tests/pigeonhole/SKIPPED.md`. A block that
//! starts failing, or a listed block that starts passing, fails this test so the lists stay
//! true.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sieve::runtime::{
    Fcc, RedirectSender, ScoreHeader, ScoreSource, ScriptLocation, ScriptSequence,
};
use sieve::{
    Action, Answer, Capabilities, CompileOptions, Context, Envelope, IncludedScript,
    OutgoingMessage, Program, Question, Runtime, Step, TestsuiteRequest, compile,
    compile_with_includes,
};

/// Pigeonhole's extprograms helper programs (`tests/plugins/extprograms/bin/`) as closures.
#[path = "pigeonhole/programs.rs"]
mod programs;

const DEFAULT_MESSAGE: &[u8] =
    b"From: sender@example.com\r\nTo: recipient@example.org\r\nSubject: Frop!\r\n\r\nFriep!\r\n";

const KNOWN_HEADER: &str = "# Pigeonhole test blocks that fail today, one per line: `FILE: BLOCK # what failed`.\n\
# The harness fails when a block not listed here fails, or when a listed one passes.\n\
# Regenerate with PIGEONHOLE_WRITE_KNOWN=$PWD/sieve/tests/pigeonhole/KNOWN_FAILURES.\n";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pigeonhole")
}

/// Files skipped as a whole, with the reason (mirrors SKIPPED.md).
fn skipped_files() -> Vec<(&'static str, &'static str)> {
    // None today: every file runs (see SKIPPED.md for the decisions behind some of them).
    Vec::new()
}

struct Stored {
    message: Vec<u8>,
    flags: Vec<String>,
}

struct Sent {
    from: String,
    to: Vec<String>,
    message: Vec<u8>,
}

#[derive(Default)]
struct SubResult {
    actions: Vec<Action>,
    implicit_keep: bool,
    implicit_headers: Option<Arc<[u8]>>,
    /// The internal flags the script ended with (carried to the next script of a sequence).
    implicit_flags: Vec<String>,
    duplicates: Vec<sieve::runtime::DuplicateRecord>,
    /// The run's outcome as the runtime gave it (for the script sequence).
    outcome: Option<sieve::Outcome>,
}

struct Suite {
    dir: PathBuf,
    message: Vec<u8>,
    envelope: Envelope,
    config: BTreeMap<String, String>,
    ctx: Context,
    script: Option<Arc<Program>>,
    binaries: HashMap<String, Arc<Program>>,
    errors: Vec<String>,
    result: SubResult,
    /// Kinds of the result's actions already executed (a result keeps them until reset).
    executed: Vec<String>,
    /// Internal flags a multiscript sequence hands to its next script.
    carried_flags: Option<Vec<String>>,
    mailboxes: BTreeMap<String, Vec<Stored>>,
    sent: Vec<Sent>,
    metadata: HashMap<(Option<String>, String), String>,
    duplicates: HashSet<String>,
    blocks: Vec<(String, Option<String>)>,
    current: Option<(String, Option<String>)>,
    /// The compile-time site policy as last reloaded: editheader's largest header and
    /// whether notify is allowed (`sieve_notify_max_notifications = 0` forbids it).
    compile_policy: (usize, bool),
    /// The results of the scripts run since the last reset, merged as Pigeonhole merges
    /// a result that `test_script_run :append_result` adds to.
    seq: ScriptSequence,
    /// extlists: the configured lists (normalized name → members).
    lists: HashMap<String, HashSet<String>>,
    /// vnd.dovecot.pipe/filter/execute settings (see `programs.rs`).
    program_config: programs::Config,
}

fn opts() -> CompileOptions {
    // Pigeonhole's testsuite has its vendor extensions (vnd.dovecot.*) enabled, and
    // (since 2025) i;unicode-casemap is one of its core comparators, used without require.
    let mut o = CompileOptions::default()
        .with_capabilities(Capabilities::all_extensions().union(Capabilities::vendor()));
    o.implicit_unicode_casemap = true;
    o
}

/// The members of a Dovecot `file` dict address book: keys `priv/sieve/extlists/VALUE`
/// (lines alternate key and value).
fn dict_list(path: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .step_by(2)
        .filter_map(|k| k.strip_prefix("priv/sieve/extlists/"))
        .map(str::to_string)
        .collect()
}

/// An extlists name as Pigeonhole normalizes it (`:x` is `urn:ietf:params:sieve:x`).
fn list_uri(name: &str) -> String {
    if name.starts_with(':') {
        format!("urn:ietf:params:sieve{name}")
    } else {
        name.to_string()
    }
}

/// An included script of the test directory (`included/` or `included-global/`), as
/// Pigeonhole's file storage finds it: `NAME.sieve`, a name that already ends in `.sieve`
/// naming the same file. Returns its id (the name without `.sieve`) and its bytes.
fn include_source(dir: &Path, name: &str, loc: ScriptLocation) -> Option<(String, Vec<u8>)> {
    let dir = match loc {
        ScriptLocation::Global => dir.join("included-global"),
        _ => dir.join("included"),
    };
    let id = name.strip_suffix(".sieve").unwrap_or(name);
    std::fs::read(dir.join(format!("{id}.sieve")))
        .ok()
        .map(|src| (id.to_string(), src))
}

/// A mailbox name as the store keys it: `INBOX` is case-insensitive, also as the first
/// level of a hierarchy (RFC 3501 §5.1; Dovecot's `Inbox.Junk` is `INBOX.Junk`).
fn mailbox_key(name: &str) -> String {
    match name.get(..5) {
        Some(p)
            if p.eq_ignore_ascii_case("INBOX")
                && matches!(name.as_bytes().get(5), None | Some(b'.' | b'/')) =>
        {
            format!("INBOX{}", &name[5..])
        }
        _ => name.to_string(),
    }
}

/// The address in a header value: inside `<>` if present, else the trimmed text.
fn header_address(v: &str) -> String {
    let v = v.trim();
    match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].trim().to_string(),
        _ => v.to_string(),
    }
}

fn first_header(msg: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(msg);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push_str(line);
                continue;
            }
            return value;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

fn duration(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num.parse().ok()?;
    Some(match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n * 60,
        "h" | "hour" | "hours" => n * 3600,
        "d" | "day" | "days" => n * 86_400,
        _ => return None,
    })
}

impl Suite {
    fn new(dir: PathBuf) -> Self {
        let mut s = Self {
            dir,
            message: DEFAULT_MESSAGE.to_vec(),
            envelope: Envelope::new("sender@example.com", "recipient@example.org"),
            config: BTreeMap::new(),
            ctx: Context::default(),
            script: None,
            binaries: HashMap::new(),
            errors: Vec::new(),
            result: SubResult {
                implicit_keep: true,
                ..SubResult::default()
            },
            executed: Vec::new(),
            carried_flags: None,
            mailboxes: BTreeMap::new(),
            sent: Vec::new(),
            metadata: HashMap::new(),
            duplicates: HashSet::new(),
            blocks: Vec::new(),
            current: None,
            compile_policy: (2048, true),
            seq: ScriptSequence::new(),
            lists: HashMap::new(),
            program_config: programs::Config::default(),
        };
        s.mailboxes.insert("INBOX".into(), Vec::new());
        s.reload();
        s
    }

    /// Builds the runtime context from the Dovecot-named settings.
    fn reload(&mut self) {
        let c = &self.config;
        let mut ctx = Context::default();
        ctx.now = 1_700_000_000;
        if let Some(v) = c.get("sieve_redirect_envelope_from") {
            let v = v.trim();
            ctx.redirect_sender = match v {
                "recipient" => RedirectSender::Recipient,
                "orig_recipient" => RedirectSender::OriginalRecipient,
                "user_email" => RedirectSender::UserEmail,
                "sender" => RedirectSender::Sender,
                _ => RedirectSender::Explicit(header_address(v)),
            };
        }
        // Pigeonhole's defaults: sieve_max_actions = 32, sieve_max_redirects = 4.
        ctx.limits.max_actions = c
            .get("sieve_max_actions")
            .and_then(|v| v.parse().ok())
            .unwrap_or(32);
        ctx.limits.max_redirects = c
            .get("sieve_max_redirects")
            .and_then(|v| v.parse().ok())
            .unwrap_or(4);
        // The testsuite delivers into the mail store, and its environment names the
        // implementation as Pigeonhole's test environment does (the host sets `name`).
        for (n, v) in &mut ctx.environment {
            match n.as_str() {
                "location" => *v = "MS".into(),
                "name" => *v = "Pigeonhole Sieve".into(),
                _ => {}
            }
        }
        // The testsuite's postmaster_address, and Pigeonhole's notify sender setting.
        ctx.postmaster = "postmaster@example.net".into();
        // extprograms: the host name programs see as HOST (and `environment "host"`), the
        // input line ends and which extensions have programs.
        ctx.environment
            .push(("host".into(), "testsuite.example.net".into()));
        ctx.programs.filter_input_eol = programs::Config::input_eol(c, "filter");
        ctx.programs.execute_input_eol = programs::Config::input_eol(c, "execute");
        self.program_config = programs::Config::from_settings(c);
        if let Some(v) = c.get("sieve_notify_mailto_envelope_from") {
            let v = v.trim();
            ctx.notify_sender = Some(match v {
                "recipient" => RedirectSender::Recipient,
                "orig_recipient" => RedirectSender::OriginalRecipient,
                "user_email" => RedirectSender::UserEmail,
                "sender" => RedirectSender::Sender,
                _ => RedirectSender::Explicit(header_address(v)),
            });
        }
        // vnd.dovecot.environment: the user name, and `sieve_environment/NAME` settings
        // as the items vnd.dovecot.config.NAME.
        ctx.environment
            .push(("vnd.dovecot.username".into(), "testsuite".into()));
        for (k, v) in c {
            if let Some(name) = k.strip_prefix("sieve_environment/") {
                ctx.environment
                    .push((format!("vnd.dovecot.config.{name}"), v.clone()));
            }
        }
        ctx.testsuite_values = vec![("path".into(), self.dir.display().to_string())];
        if let Some(v) = c.get("sieve_report_from") {
            let v = v.trim();
            ctx.report_sender = match v {
                "postmaster" => None,
                "recipient" => Some(RedirectSender::Recipient),
                "orig_recipient" => Some(RedirectSender::OriginalRecipient),
                "user_email" => Some(RedirectSender::UserEmail),
                "sender" => Some(RedirectSender::Sender),
                _ => Some(RedirectSender::Explicit(header_address(v))),
            };
        }
        // extlists: `sieve_extlists_list` names the lists; a list with a file dict has
        // the dict's members, one without is empty. The default address book always
        // exists (Pigeonhole adds it).
        let mut lists = HashMap::new();
        lists.insert(
            "urn:ietf:params:sieve:addrbook:default".to_string(),
            HashSet::new(),
        );
        if let Some(names) = c.get("sieve_extlists_list") {
            for name in names.split_whitespace() {
                let members = c
                    .get(&format!("sieve_extlists_list/{name}/dict/file/path"))
                    .map(|p| dict_list(Path::new(p)))
                    .unwrap_or_default();
                let listed = c
                    .get(&format!("sieve_extlists_list/{name}/name"))
                    .map_or(name, String::as_str);
                lists.insert(list_uri(listed), members);
            }
        }
        self.lists = lists;
        if let Some(v) = c.get("recipient_delimiter") {
            ctx.recipient_delimiter.clone_from(v);
        }
        if let Some(v) = c.get("sieve_user_email") {
            ctx.user_addresses = vec![v.clone()];
        }
        if let Some(v) = c.get("sieve_vacation_min_period").and_then(|v| duration(v)) {
            ctx.vacation.min_period = v;
        }
        if let Some(v) = c.get("sieve_vacation_max_period").and_then(|v| duration(v)) {
            ctx.vacation.max_period = v;
        }
        if let Some(v) = c
            .get("sieve_vacation_default_period")
            .and_then(|v| duration(v))
        {
            ctx.vacation.default_period = v;
        }
        if let Some(v) = c.get("sieve_vacation_default_subject") {
            ctx.vacation.default_subject.clone_from(v);
        }
        if let Some(v) = c.get("sieve_vacation_default_subject_template") {
            ctx.vacation.default_subject_template = Some(v.clone());
        }
        for (k, slot) in [
            (
                "sieve_vacation_use_original_recipient",
                &mut ctx.vacation.use_original_recipient,
            ),
            (
                "sieve_vacation_send_from_recipient",
                &mut ctx.vacation.send_from_recipient,
            ),
            (
                "sieve_vacation_to_header_ignore_envelope",
                &mut ctx.vacation.to_header_ignore_envelope,
            ),
        ] {
            if let Some(v) = c.get(k) {
                *slot = v == "yes";
            }
        }
        if let Some(v) = c.get("sieve_vacation_check_recipient") {
            ctx.vacation.check_recipient = v == "yes";
        }
        if let Some(v) = c.get("sieve_max_cpu_time").and_then(|v| duration(v)) {
            ctx.limits.max_cpu_steps = v.saturating_mul(1_000_000);
        }
        if let Some(v) = c
            .get("sieve_include_max_nesting_depth")
            .and_then(|v| v.parse().ok())
        {
            ctx.limits.max_include_depth = v;
        }
        if let Some(v) = c
            .get("sieve_include_max_includes")
            .and_then(|v| v.parse().ok())
        {
            ctx.limits.max_includes = v;
        }
        if let Some(v) = c
            .get("sieve_variables_max_variable_size")
            .or_else(|| c.get("sieve_variables_max_value_size"))
            .and_then(|v| v.parse().ok())
        {
            ctx.limits.max_variable_size = v;
        }
        if let Some(v) = c
            .get("sieve_notify_max_notifications")
            .and_then(|v| v.parse().ok())
        {
            ctx.limits.max_notifications = v;
        }
        if let Some(v) = c
            .get("sieve_editheader_max_header_size")
            .and_then(|v| v.parse().ok())
        {
            ctx.limits.max_header_size = v;
        }
        if let Some(v) = c.get("sieve_editheader_protected") {
            ctx.protected_headers = v.split_whitespace().map(str::to_string).collect();
        }
        // Pigeonhole 2.4 settings: sieve_editheader_header = NAMES, and per name
        // sieve_editheader_header/NAME/{forbid_add,forbid_delete} = yes.
        if let Some(v) = c.get("sieve_editheader_header") {
            for name in v.split_whitespace() {
                let flag = |k: &str| {
                    c.get(&format!("sieve_editheader_header/{name}/{k}"))
                        .is_some_and(|v| v == "yes")
                };
                if flag("forbid_add") {
                    ctx.forbid_add_headers.push(name.to_string());
                }
                if flag("forbid_delete") {
                    ctx.forbid_delete_headers.push(name.to_string());
                }
            }
        }
        for (spam, prefix) in [(true, "sieve_spamtest"), (false, "sieve_virustest")] {
            let get = |k: &str| c.get(&format!("{prefix}_{k}")).cloned();
            let Some(header) = get("status_header") else {
                continue;
            };
            let header = ScoreHeader::parse(&header);
            let max: f64 = get("score_max_value")
                .and_then(|v| v.parse().ok())
                .unwrap_or(if spam { 10.0 } else { 5.0 });
            let src = match get("status_type").as_deref() {
                Some("strlen") => ScoreSource::Strlen { header, max },
                Some("text") => {
                    let mut values = Vec::new();
                    for n in 0..=10u32 {
                        if let Some(t) = get(&format!("text_value/{n}")) {
                            values.push((t, n));
                        }
                    }
                    ScoreSource::Text { header, values }
                }
                _ => ScoreSource::Score {
                    header,
                    max,
                    max_header: get("score_max_header").map(|h| ScoreHeader::parse(&h)),
                },
            };
            if spam {
                ctx.spam = src;
            } else {
                ctx.virus = src;
            }
        }
        self.compile_policy = (ctx.limits.max_header_size, ctx.limits.max_notifications > 0);
        self.ctx = ctx;
    }

    fn set_message(&mut self, msg: Vec<u8>) {
        let to = first_header(&msg, "envelope-to")
            .or_else(|| first_header(&msg, "to"))
            .map_or_else(
                || "recipient@example.com".to_string(),
                |v| header_address(&v),
            );
        let from = first_header(&msg, "return-path")
            .or_else(|| first_header(&msg, "sender"))
            .or_else(|| first_header(&msg, "from"))
            .map_or_else(|| "sender@example.com".to_string(), |v| header_address(&v));
        self.envelope = Envelope::new(from, to.clone()).with_orig_to(to);
        self.message = msg;
    }

    fn compile_file(&mut self, rel: &str) -> Option<Arc<Program>> {
        let path = self.dir.join(rel);
        self.errors.clear();
        let Ok(src) = std::fs::read(&path) else {
            self.errors
                .push(format!("script file {} not found", path.display()));
            return None;
        };
        // Sub-tests may use the testsuite language too (test_fail).
        let mut options = opts()
            .with_max_header_size(self.compile_policy.0)
            .with_notify(self.compile_policy.1);
        options.testsuite = true;
        options.limits.max_include_depth = self.ctx.limits.max_include_depth;
        options.limits.max_includes = self.ctx.limits.max_includes;
        // Like Pigeonhole's testsuite, included scripts are compiled with the script.
        let dir = self.dir.clone();
        let mut resolver = |name: &str, loc: ScriptLocation| {
            Ok(include_source(&dir, name, loc).map(|(id, src)| IncludedScript::new(id, src)))
        };
        match compile_with_includes(&src, &options, &mut resolver) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                // Pigeonhole's test_error sees the message alone (the location is kept
                // apart), so `:matches "unknown * ':all' ..."` must match from its start.
                self.errors = e.diagnostics().iter().map(|d| d.message.clone()).collect();
                // PIGEONHOLE_DEBUG=1 shows each failed compile's errors (development aid).
                if std::env::var_os("PIGEONHOLE_DEBUG").is_some() {
                    println!("pigeonhole: compile {rel} failed:");
                    for d in e.diagnostics() {
                        println!("pigeonhole:   {d}");
                    }
                }
                // Pigeonhole ends every failed compile with one more message ("validation
                // failed" / "parse failed"); its tests count it.
                self.errors.push("script compile failed".into());
                None
            }
        }
    }

    fn include(&self, name: &str, loc: ScriptLocation) -> Answer {
        match include_source(&self.dir, name, loc) {
            Some((_, src)) => match compile(&src, &opts()) {
                Ok(p) => Answer::Script(Arc::new(p)),
                Err(e) => Answer::Error(e.to_string()),
            },
            None => Answer::NotFound,
        }
    }

    /// Answers the questions any script asks (not the testsuite ones).
    fn common_answer(&mut self, q: &Question) -> Answer {
        match q {
            Question::MailboxExists(m) => {
                Answer::Bool(self.mailboxes.contains_key(&mailbox_key(m)))
            }
            Question::Metadata {
                mailbox,
                annotation,
            } => {
                if let Some(m) = mailbox
                    && !self.mailboxes.contains_key(&mailbox_key(m))
                {
                    return Answer::Value(None);
                }
                Answer::Value(
                    self.metadata
                        .get(&(mailbox.clone(), annotation.clone()))
                        .cloned(),
                )
            }
            Question::SpecialUseExists { .. } => Answer::Bool(false),
            // Pigeonhole's testsuite keeps no duplicate or vacation tracking records
            // (its duplicate_check always says "not seen"; extensions/duplicate/execute
            // says so): every run answers as the first one.
            Question::Duplicate { .. } => Answer::Bool(false),
            Question::Environment(_) => Answer::Value(None),
            Question::ExtListExists(list) => Answer::Bool(self.lists.contains_key(list)),
            Question::ExtListMember { list, values } => match self.lists.get(list) {
                None => Answer::NotFound,
                Some(members) => {
                    Answer::Value(values.iter().find(|v| members.contains(*v)).cloned())
                }
            },
            Question::Include { name, location } => self.include(name, *location),
            Question::Program(r) => self.answer_program(r),
            _ => Answer::Bool(false),
        }
    }

    fn run_script(&mut self, program: &Arc<Program>) -> (SubResult, Option<String>) {
        let mut rt = Runtime::new_owned(
            program.clone(),
            self.message.clone(),
            self.envelope.clone(),
            self.ctx.clone(),
        );
        if let Some(f) = self.carried_flags.take() {
            rt.set_flags(f);
        }
        loop {
            match rt.run() {
                // A sub-test's test_fail fails the block that ran it.
                Step::Question(Question::Testsuite(TestsuiteRequest::Fail(reason))) => {
                    if let Some(c) = self.current.as_mut() {
                        c.1 = Some(reason);
                    }
                    rt.answer(Answer::Bool(true));
                }
                Step::Question(q) => {
                    let a = self.common_answer(&q);
                    rt.answer(a);
                }
                Step::Done(o) => {
                    let outcome = Some(o.clone());
                    let implicit_keep = o.implicit_keep();
                    let implicit_flags = o
                        .actions
                        .iter()
                        .find_map(|a| match a {
                            Action::Keep {
                                implicit: true,
                                flags,
                                ..
                            } => Some(flags.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let implicit_headers = o.actions.iter().find_map(|a| match a {
                        Action::Keep {
                            implicit: true,
                            headers,
                            ..
                        } => headers.clone(),
                        _ => None,
                    });
                    let error = o.error.as_ref().map(ToString::to_string);
                    let actions = o
                        .actions
                        .into_iter()
                        .filter(|a| !matches!(a, Action::Keep { implicit: true, .. }))
                        .collect();
                    return (
                        SubResult {
                            actions,
                            implicit_keep,
                            implicit_headers,
                            implicit_flags,
                            duplicates: o.duplicates,
                            outcome,
                        },
                        error,
                    );
                }
                _ => unreachable!("Step is non_exhaustive but has two kinds"),
            }
        }
    }

    fn store(&mut self, mailbox: &str, create: bool, message: Vec<u8>, flags: Vec<String>) -> bool {
        let key = mailbox_key(mailbox);
        let mailbox = key.as_str();
        if !self.mailboxes.contains_key(mailbox) {
            if !create && mailbox != "INBOX" {
                self.errors.push(format!(
                    "failed to store into mailbox '{mailbox}': mailbox does not exist"
                ));
                return false;
            }
            // Dovecot's rule with `/` as the hierarchy separator: no empty levels.
            if mailbox.is_empty()
                || mailbox.starts_with('/')
                || mailbox.ends_with('/')
                || mailbox.contains("//")
            {
                self.errors.push(format!(
                    "failed to store into mailbox '{mailbox}': invalid mailbox name"
                ));
                return false;
            }
            self.mailboxes.insert(mailbox.to_string(), Vec::new());
        }
        // Dovecot's mail store (which the suite is written against) runs with attachment
        // detection on: every saved message gets $HasAttachment or $HasNoAttachment.
        let mut flags = flags;
        let lower = String::from_utf8_lossy(&message).to_ascii_lowercase();
        flags.push(if lower.contains("content-disposition: attachment") {
            "$HasAttachment".into()
        } else {
            "$HasNoAttachment".into()
        });
        self.mailboxes
            .get_mut(mailbox)
            .expect("created")
            .push(Stored { message, flags });
        true
    }

    fn send(&mut self, m: &OutgoingMessage) {
        for rcpt in &m.envelope_to {
            let n = self.sent.len();
            let bytes = m.to_bytes(
                "Thu, 14 Nov 2023 22:13:20 +0000",
                &format!("<sieve-test-{n}@example.net>"),
            );
            self.sent.push(Sent {
                from: m.envelope_from.clone(),
                to: vec![rcpt.clone()],
                message: bytes,
            });
        }
    }

    fn message_with(headers: Option<&Arc<[u8]>>, base: &[u8]) -> Vec<u8> {
        match headers {
            None => base.to_vec(),
            Some(h) => {
                let body_at = find_body(base);
                let mut v = h.to_vec();
                v.extend_from_slice(&base[body_at..]);
                v
            }
        }
    }

    /// Carries out the current result (the svtest's own actions plus the sub-script's).
    fn execute(&mut self, own: Vec<Action>, own_keep: bool, own_current: &[u8]) -> bool {
        // Each execution starts with an empty outbox (`test_message :smtp 0` is its first).
        self.sent.clear();
        // The sub-scripts' actions are listed from the sequence; the svtest's own here.
        self.executed
            .extend(own.iter().map(|a| a.kind_name().to_string()));
        let mut actions = own;
        let had_own = !actions.is_empty();
        actions.extend(std::mem::take(&mut self.result.actions));
        let implicit = if had_own {
            own_keep && self.result.implicit_keep
        } else {
            self.result.implicit_keep
        };
        let base = own_current.to_vec();
        let implicit_headers = self.result.implicit_headers.take();
        let mut ok = true;
        let mut message = base.clone();
        let mut flags_for_implicit = Vec::new();
        let mut piped_away = false;
        for a in &actions {
            match a {
                Action::Keep { flags, headers, .. } => {
                    let m = Self::message_with(headers.as_ref(), &message);
                    ok &= self.store("INBOX", true, m, flags.clone());
                }
                Action::FileInto {
                    mailbox,
                    flags,
                    create,
                    headers,
                    ..
                } => {
                    let m = Self::message_with(headers.as_ref(), &message);
                    ok &= self.store(mailbox, *create, m, flags.clone());
                    flags_for_implicit.clone_from(flags);
                }
                Action::Redirect {
                    address,
                    headers,
                    envelope_from,
                    ..
                } => {
                    let m = Self::message_with(headers.as_ref(), &message);
                    self.sent.push(Sent {
                        from: envelope_from.clone(),
                        to: vec![address.clone()],
                        message: m,
                    });
                }
                Action::Reject { reason, .. } => {
                    let sender = self.envelope.from.clone();
                    if sender.is_empty() || sender == "<>" {
                        continue;
                    }
                    let body = format!(
                        "From: Postmaster <postmaster@example.net>\r\nTo: <{sender}>\r\nSubject: Automatically rejected mail\r\nAuto-Submitted: auto-replied (rejected)\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour message was automatically rejected by Sieve:\r\n\r\n{reason}\r\n"
                    );
                    self.sent.push(Sent {
                        from: String::new(),
                        to: vec![sender],
                        message: body.into_bytes(),
                    });
                }
                Action::Discard | Action::Error { .. } => {}
                Action::Vacation { message: m, fcc }
                | Action::Notify {
                    message: m, fcc, ..
                } => {
                    self.send(m);
                    if let Some(Fcc {
                        mailbox,
                        flags,
                        create,
                        ..
                    }) = fcc
                    {
                        let sent = self
                            .sent
                            .last()
                            .map(|s| s.message.clone())
                            .unwrap_or_default();
                        ok &= self.store(mailbox, *create, sent, flags.clone());
                    }
                }
                Action::ReplaceMessage { message: m } => message = m.to_vec(),
                Action::Pipe {
                    program,
                    args,
                    copy,
                    ignore_failure,
                    headers,
                } => {
                    let m = Self::message_with(headers.as_ref(), &message);
                    let piped = self.pipe(program, args, &m);
                    // A pipe without :copy that delivered cancels the implicit keep.
                    piped_away |= piped && !*copy;
                    ok &= piped || *ignore_failure;
                }
                Action::Report { message: m, .. } => self.send(m),
                _ => {}
            }
        }
        if implicit && !piped_away && !actions.iter().any(|a| matches!(a, Action::Keep { .. })) {
            let _ = flags_for_implicit;
            let m = Self::message_with(implicit_headers.as_ref(), &message);
            ok &= self.store("INBOX", true, m, Vec::new());
        }
        // A failed delivery falls back to keeping the message as it arrived, without the
        // script's edits (RFC 5228 §2.10.6: the message is never lost).
        if !ok {
            let original = self.message.clone();
            self.store("INBOX", true, original, Vec::new());
        }
        for d in std::mem::take(&mut self.result.duplicates) {
            self.duplicates.insert(d.id);
        }
        self.result.implicit_keep = true;
        ok
    }

    fn handle(&mut self, rt: &mut Runtime<'_, '_>, req: TestsuiteRequest) -> Answer {
        match req {
            TestsuiteRequest::Begin(name) => {
                self.current = Some((name, None));
                Answer::Bool(true)
            }
            TestsuiteRequest::End => {
                if let Some(c) = self.current.take() {
                    self.blocks.push(c);
                }
                Answer::Bool(true)
            }
            TestsuiteRequest::Fail(reason) => {
                if let Some(c) = self.current.as_mut() {
                    c.1 = Some(reason);
                } else {
                    self.blocks
                        .push(("(outside a test block)".into(), Some(reason)));
                }
                Answer::Bool(true)
            }
            TestsuiteRequest::Set(object, value) => {
                match object.as_str() {
                    "message" => {
                        // Delivered mail has CRLF line ends (the svtest files have LF).
                        self.set_message(crlf(&value));
                        rt.set_message(self.message.clone());
                    }
                    // A value that is not a path stays as it is (and matches nothing).
                    "envelope.from" => {
                        self.envelope.from = Envelope::parse_path(&value).unwrap_or(value);
                    }
                    "envelope.to" => {
                        self.envelope.to = Envelope::parse_path(&value).unwrap_or(value);
                    }
                    "envelope.orig_to" => {
                        self.envelope.orig_to = Some(Envelope::parse_path(&value).unwrap_or(value));
                    }
                    "envelope.auth" => self.envelope.auth = Some(value),
                    _ => return Answer::Error(format!("test_set: unknown object {object}")),
                }
                if self.envelope.from == "<>" {
                    self.envelope.from.clear();
                }
                rt.set_envelope(self.envelope.clone());
                Answer::Bool(true)
            }
            TestsuiteRequest::ConfigSet(k, v) => {
                self.config.insert(k, v);
                Answer::Bool(true)
            }
            TestsuiteRequest::ConfigUnset(k) => {
                self.config.remove(&k);
                Answer::Bool(true)
            }
            TestsuiteRequest::ConfigReload(_) => {
                self.reload();
                *rt.context_mut() = self.ctx.clone();
                Answer::Bool(true)
            }
            TestsuiteRequest::ResultReset => {
                rt.reset_result();
                // A new result comes with a new message context: the message as it
                // arrived, before any editheader, replace or filter.
                rt.set_message(self.message.clone());
                self.executed.clear();
                self.seq = ScriptSequence::new();
                self.result = SubResult {
                    implicit_keep: true,
                    ..SubResult::default()
                };
                Answer::Bool(true)
            }
            TestsuiteRequest::ScriptCompile(path) => {
                let p = self.compile_file(&path);
                let ok = p.is_some();
                self.script = p;
                Answer::Bool(ok)
            }
            TestsuiteRequest::ScriptRun { append } => {
                let Some(p) = self.script.clone() else {
                    return Answer::Bool(false);
                };
                let (mut res, err) = self.run_script(&p);
                let outcome = res.outcome.take().expect("run_script keeps the outcome");
                // Script errors that did not stop the run (Pigeonhole logs them too).
                let logged: Vec<String> = outcome
                    .log
                    .iter()
                    .filter_map(|l| l.strip_prefix("error: "))
                    .map(str::to_string)
                    .collect();
                if append {
                    // Merged into the result: duplicates of earlier actions, a second
                    // reject and a second vacation are dropped.
                    let fresh = self.seq.add(outcome);
                    self.result.actions.extend(fresh);
                    self.result.implicit_keep &= res.implicit_keep;
                    self.result.duplicates.extend(res.duplicates);
                } else {
                    rt.reset_result();
                    self.executed.clear();
                    self.seq = ScriptSequence::new();
                    res.actions = self.seq.add(outcome);
                    self.result = res;
                }
                self.errors.clear();
                self.errors.extend(logged);
                if let Some(e) = err {
                    self.errors.push(e);
                    return Answer::Bool(false);
                }
                Answer::Bool(true)
            }
            TestsuiteRequest::Multiscript(scripts) => {
                let mut all_ok = true;
                let mut combined = SubResult {
                    implicit_keep: true,
                    ..SubResult::default()
                };
                // Each script sees the message as the scripts before it edited it.
                let original = self.message.clone();
                let mut current = original.clone();
                let mut carried: Vec<String> = Vec::new();
                // Pigeonhole's multiscript: results merged, and a script that cancels the
                // implicit keep (or fails) ends the sequence.
                let mut seq = ScriptSequence::new();
                for s in &scripts {
                    if !seq.is_active() {
                        break;
                    }
                    let Some(p) = self.compile_file(s) else {
                        self.message = original;
                        return Answer::Bool(false);
                    };
                    self.message.clone_from(&current);
                    // ... and the internal flags they left (Pigeonhole keeps one flag set
                    // for the whole sequence).
                    self.carried_flags = Some(std::mem::take(&mut carried));
                    let (mut res, err) = self.run_script(&p);
                    carried.clone_from(&res.implicit_flags);
                    if let Some(h) = &res.implicit_headers {
                        current = Self::message_with(Some(h), &current);
                    }
                    if err.is_some() {
                        all_ok = false;
                    }
                    let outcome = res.outcome.take().expect("run_script keeps the outcome");
                    combined.actions.extend(seq.add(outcome));
                    combined.duplicates.extend(res.duplicates);
                }
                combined.implicit_keep = seq.finish().implicit_keep();
                self.message = original;
                self.result = combined;
                let own = rt.reset_result();
                let exec_ok = self.execute(own, true, &current);
                Answer::Bool(all_ok && exec_ok)
            }
            TestsuiteRequest::Errors => Answer::Values(self.errors.clone()),
            TestsuiteRequest::ResultActions => {
                // The svtest's own executed actions, its pending ones, then the merged
                // actions of the scripts it ran (executed or not).
                let mut names: Vec<String> = self.executed.clone();
                names.extend(rt.actions().iter().map(|a| a.kind_name().to_string()));
                names.extend(self.seq.actions().iter().map(|a| a.kind_name().to_string()));
                Answer::Values(names)
            }
            TestsuiteRequest::ResultExecute => {
                let keep = rt.implicit_keep_pending();
                let current = rt.current_message();
                let own = rt.reset_result();
                Answer::Bool(self.execute(own, keep, &current))
            }
            TestsuiteRequest::MessageSmtp(i) => {
                let Some(s) = i.parse::<usize>().ok().and_then(|i| self.sent.get(i)) else {
                    return Answer::Bool(false);
                };
                let (msg, from, to) = (
                    s.message.clone(),
                    s.from.clone(),
                    s.to.first().cloned().unwrap_or_default(),
                );
                self.message = msg;
                self.envelope = Envelope::new(from, to.clone()).with_orig_to(to);
                rt.set_message(self.message.clone());
                rt.set_envelope(self.envelope.clone());
                Answer::Bool(true)
            }
            TestsuiteRequest::MessageFolder(folder, i) => {
                let Some(s) = i.parse::<usize>().ok().and_then(|i| {
                    self.mailboxes
                        .get(&mailbox_key(&folder))
                        .and_then(|b| b.get(i))
                }) else {
                    return Answer::Bool(false);
                };
                self.message = s.message.clone();
                let flags = s.flags.clone();
                rt.set_message(self.message.clone());
                rt.set_flags(flags);
                Answer::Bool(true)
            }
            TestsuiteRequest::MailboxCreate(m) => {
                self.mailboxes.entry(mailbox_key(&m)).or_default();
                Answer::Bool(true)
            }
            TestsuiteRequest::MailboxDelete(m) => {
                self.mailboxes.remove(&mailbox_key(&m));
                Answer::Bool(true)
            }
            TestsuiteRequest::ImapMetadataSet(m, a, v) => {
                self.metadata.insert((m, a), v);
                Answer::Bool(true)
            }
            TestsuiteRequest::BinarySave(n) => {
                if let Some(p) = &self.script {
                    self.binaries.insert(n, p.clone());
                }
                Answer::Bool(true)
            }
            TestsuiteRequest::BinaryLoad(n) => {
                self.script = self.binaries.get(&n).cloned();
                Answer::Bool(self.script.is_some())
            }
            _ => Answer::Bool(true),
        }
    }
}

fn crlf(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + s.len() / 32);
    let mut prev = 0u8;
    for &b in s.as_bytes() {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn find_body(m: &[u8]) -> usize {
    if let Some(i) = m.windows(4).position(|w| w == b"\r\n\r\n") {
        return i + 4;
    }
    m.windows(2)
        .position(|w| w == b"\n\n")
        .map_or(m.len(), |i| i + 2)
}

/// A test block's name and, if it failed, why.
type Block = (String, Option<String>);

/// Runs one .svtest file; returns (block name, failure) pairs, or a file-level error.
fn run_file(path: &Path) -> Result<(Vec<Block>, bool), String> {
    let src = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut options = opts();
    options.testsuite = true;
    let program = compile(&src, &options).map_err(|e| format!("compile: {e}"))?;
    let dir = path.parent().expect("in a directory").to_path_buf();
    let mut suite = Suite::new(dir);
    let mut rt = Runtime::new_owned(
        Arc::new(program),
        suite.message.clone(),
        suite.envelope.clone(),
        suite.ctx.clone(),
    );
    loop {
        match rt.run() {
            Step::Question(Question::Testsuite(req)) => {
                let a = suite.handle(&mut rt, req);
                rt.answer(a);
            }
            Step::Question(q) => {
                let a = suite.common_answer(&q);
                rt.answer(a);
            }
            Step::Done(o) => {
                if let Some(e) = o.error {
                    let mut blocks = suite.blocks;
                    let name = suite
                        .current
                        .take()
                        .map_or_else(|| "(script)".to_string(), |c| c.0);
                    blocks.push((name, Some(format!("runtime error: {e}"))));
                    return Ok((blocks, true));
                }
                // `stop` inside a block ends the script; the block counts as it stands.
                let mut blocks = suite.blocks;
                if let Some(c) = suite.current.take() {
                    blocks.push(c);
                }
                return Ok((blocks, false));
            }
            _ => unreachable!("two kinds of step"),
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "svtest") {
            // Not `test-address.svtest.in`: it is the build template of
            // test-address.svtest (the same 9 tests), not a test Pigeonhole runs.
            out.push(p);
        }
    }
}

#[test]
fn pigeonhole_suite() {
    let base = root().join("tests");
    let mut files = Vec::new();
    collect(&base, &mut files);
    let known: HashSet<String> = std::fs::read_to_string(root().join("KNOWN_FAILURES"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(" # ").next().unwrap_or(l).to_string())
        .collect();
    let skips = skipped_files();
    // PIGEONHOLE_ONLY=SUBSTRING runs only the matching files and prints every failure in
    // full (for development; the lists are then not checked).
    let only = std::env::var("PIGEONHOLE_ONLY").ok();
    if let Some(o) = &only {
        files.retain(|f| f.to_string_lossy().contains(o.as_str()));
    }
    let (mut tp, mut tf, mut ts) = (0, 0, 0);
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut all_failing = Vec::new();
    let mut report = String::new();
    for f in &files {
        let rel = f
            .strip_prefix(&base)
            .expect("under base")
            .to_string_lossy()
            .replace('\\', "/");
        let blocks_in_file = std::fs::read_to_string(f).map_or(0, |s| {
            s.matches("\ntest \"").count() + usize::from(s.starts_with("test \""))
        });
        if let Some((_, why)) = skips.iter().find(|(p, _)| rel.starts_with(p)) {
            ts += blocks_in_file;
            let _ = writeln!(
                report,
                "pigeonhole: {rel}: 0 passed, 0 failed, {blocks_in_file} skipped ({why})"
            );
            continue;
        }
        let failures_dir = rel.starts_with("failures/");
        let (blocks, errored) = match run_file(f) {
            Ok(b) => b,
            // The file did not compile: every block in it fails.
            Err(e) => (
                (0..blocks_in_file.max(1))
                    .map(|i| (format!("(file, block {})", i + 1), Some(e.clone())))
                    .collect::<Vec<_>>(),
                false,
            ),
        };
        let mut blocks = blocks;
        // A runtime error ends the file: the blocks after it did not run, and fail.
        for k in blocks.len()..if errored { blocks_in_file } else { 0 } {
            blocks.push((
                format!("(block {} not reached)", k + 1),
                Some("an earlier block ended the script".into()),
            ));
        }
        let (mut p, mut fl) = (0, 0);
        for (name, failure) in &blocks {
            let key = format!("{rel}: {name}");
            // failures/: the point is a clean failure (upstream runs them with -F).
            let passed = if failures_dir {
                failure.is_some()
            } else {
                failure.is_none()
            };
            if passed {
                p += 1;
                if known.contains(&key) {
                    fixed.push(key);
                }
            } else {
                fl += 1;
                all_failing.push(format!(
                    "{key} # {}",
                    failure
                        .as_deref()
                        .unwrap_or("passed but should fail")
                        .lines()
                        .next()
                        .unwrap_or("")
                ));
                if !known.contains(&key) {
                    unexpected.push(format!(
                        "{key}: {}",
                        failure.as_deref().unwrap_or("passed but should fail")
                    ));
                }
            }
        }
        tp += p;
        tf += fl;
        let _ = writeln!(
            report,
            "pigeonhole: {rel}: {p} passed, {fl} failed, 0 skipped"
        );
    }
    let _ = writeln!(report, "pigeonhole: {tp} passed, {tf} failed, {ts} skipped");
    println!("{report}");
    if only.is_some() {
        for u in &unexpected {
            println!("pigeonhole: FAIL {u}");
        }
        for k in &all_failing {
            println!("pigeonhole: failing {k}");
        }
        return;
    }
    if let Ok(path) = std::env::var("PIGEONHOLE_REPORT") {
        std::fs::write(path, &report).expect("write report");
    }
    // Regenerates the list of failing blocks (for maintainers; review the diff).
    if let Ok(path) = std::env::var("PIGEONHOLE_WRITE_KNOWN") {
        let mut text = String::from(KNOWN_HEADER);
        for l in &all_failing {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(path, text).expect("write known failures");
        return;
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected failures:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "these blocks pass now; remove them from KNOWN_FAILURES:\n{}",
        fixed.join("\n")
    );
}
