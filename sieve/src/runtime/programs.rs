//! External programs (Pigeonhole's sieve_extprograms plugin: `vnd.dovecot.pipe`,
//! `vnd.dovecot.filter`, `vnd.dovecot.execute`; `doc/rfc/spec-bosch-sieve-extprograms.txt`).
//!
//! The runtime never runs a program. `pipe` is an action like `redirect`: it comes back in
//! [`crate::Outcome::actions`] as [`crate::Action::Pipe`] for the host to carry out after the
//! script. `filter` and `execute` need the program's result while the script runs, so they
//! ask the host a [`crate::Question::Program`] and resume with its
//! [`crate::Answer::Program`]:
//!
//! ```text
//!   filter "spamc";  ──▶ Question::Program { kind: Filter, input: the current message, .. }
//!                    ◀── Answer::Program(ProgramOutcome::Success(new message))
//!                        the message is replaced for every later test and action
//!   execute :output "v" "lookup" ["x"];
//!                    ──▶ Question::Program { kind: Execute, input: None, max_output, .. }
//!                    ◀── Answer::Program(ProgramOutcome::Success(b"answer"))  ─▶ ${v}
//! ```
//!
//! What the runtime checks itself: program names are constant and valid (compile time:
//! not empty, at most 128 characters, no `/`, no control characters, no U+2028/U+2029),
//! arguments have no CR or LF and at most 1024 bytes (at compile time when constant, here
//! when built from variables), a program gets at most one `pipe`, the number of program
//! runs ([`crate::RunLimits::max_program_runs`]) and the output kept
//! ([`crate::RunLimits::max_program_output`]). What the host does: find the program among
//! the ones its administrator configured, run it with a time limit and the environment it
//! chooses (Pigeonhole sets `HOME`, `USER`, `HOST`, `SENDER`, `RECIPIENT` and
//! `ORIG_RECIPIENT`), write [`ProgramRequest::input`] to its standard input, read at most
//! [`ProgramRequest::max_output`] bytes of its standard output, and answer how it ended.

use super::{Action, Answer, Flow, Question, Res, Runtime};
use crate::program::{PipeCmd, ProgramCall, ProgramInput, Value};

/// Longest program argument, in bytes (the draft asks for at least 1024; Pigeonhole's
/// limit).
pub(crate) const MAX_ARG_LEN: usize = 1024;

/// Longest program name, in characters (the draft: "MUST allow names of up to 128").
pub(crate) const MAX_NAME_CHARS: usize = 128;

/// Most arguments to one program (the draft asks to accept at least 16).
pub(crate) const MAX_ARGS: usize = 64;

/// Whether `name` is a valid program name (draft §3: Net-Unicode, without control
/// characters, `/`, U+2028 and U+2029; 1 to 128 characters). U+00FF is refused too, as
/// Pigeonhole does.
pub(crate) fn valid_program_name(name: &str) -> bool {
    let mut n = 0;
    for c in name.chars() {
        n += 1;
        if n > MAX_NAME_CHARS
            || matches!(c, '\u{0}'..='\u{1f}' | '/' | '\u{7f}'..='\u{9f}' | '\u{ff}' | '\u{2028}' | '\u{2029}')
        {
            return false;
        }
    }
    n > 0
}

/// Why an argument cannot be passed to a program, if it cannot (draft §4).
pub(crate) fn argument_problem(arg: &str) -> Option<&'static str> {
    if arg.len() > MAX_ARG_LEN {
        Some("is longer than 1024 bytes")
    } else if arg.contains(['\r', '\n']) {
        Some("contains a line break")
    } else {
        None
    }
}

/// Which command asks for a program run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProgramKind {
    /// `filter` (vnd.dovecot.filter): the input is the current message and a successful
    /// run's output is the new message.
    Filter,
    /// `execute` (vnd.dovecot.execute): input and output are optional strings.
    Execute,
}

impl ProgramKind {
    /// The command's name (`filter`, `execute`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Execute => "execute",
        }
    }
}

/// A program for the host to run now ([`Question::Program`]), for `filter` or `execute`
/// (Pigeonhole's sieve_extprograms plugin, `doc/rfc/spec-bosch-sieve-extprograms.txt`;
/// the extensions are off unless the host adds [`crate::Capability::Pipe`],
/// [`crate::Capability::Filter`], [`crate::Capability::Execute`] to its capabilities).
///
/// The runtime never runs a program. `pipe` is an action like `redirect`
/// ([`crate::Action::Pipe`], carried out by the host after the script); `filter` and
/// `execute` need the result while the script runs, so the runtime asks this question and
/// resumes with [`Answer::Program`]:
///
/// ```text
///   filter "spamc";  ──▶ Question::Program(ProgramRequest { kind: Filter, input: message })
///                    ◀── Answer::Program(ProgramOutcome::Success(new message))
///                        later tests and actions see the new message
///   execute :output "v" "lookup" ["x"];
///                    ──▶ Question::Program(ProgramRequest { kind: Execute, max_output, .. })
///                    ◀── Answer::Program(ProgramOutcome::Success(b"answer"))  ─▶ ${v}
/// ```
///
/// The runtime has already checked the name (constant; 1 to 128 characters; no `/`, no
/// control characters, no U+2028/U+2029) and the arguments (no CR or LF, at most 1024
/// bytes each, at most 64), and counts runs against [`crate::RunLimits::max_program_runs`].
/// The host finds the program among those its administrator configured (never a path),
/// runs it with a time limit and the environment it chooses (Pigeonhole sets `HOME`,
/// `USER`, `HOST`, `SENDER`, `RECIPIENT`, `ORIG_RECIPIENT`), writes [`Self::input`] to its
/// standard input, reads at most [`Self::max_output`] bytes of its output and answers how
/// it ended:
///
/// ```
/// use sieve::runtime::{ProgramKind, ProgramOutcome};
/// use sieve::{compile, Answer, Capabilities, CompileOptions, Context, Envelope, Question, Runtime, Step};
///
/// let caps = Capabilities::delivery().union(Capabilities::vendor());
/// let script = br#"require ["vnd.dovecot.execute", "variables", "fileinto"];
///     if execute :pipe :output "folder" "classify" { fileinto "${folder}"; }"#;
/// let program = compile(script, &CompileOptions::default().with_capabilities(caps)).unwrap();
/// let message = b"Subject: hi\r\n\r\nhello\r\n";
/// let mut run = Runtime::new(&program, message, Envelope::new("a@b.example", "c@d.example"), Context::default());
/// let outcome = loop {
///     match run.run() {
///         Step::Question(Question::Program(req)) => {
///             assert_eq!((req.kind, req.program.as_str()), (ProgramKind::Execute, "classify"));
///             assert_eq!(req.input.as_deref(), Some(&message[..]));
///             // ... run the configured program "classify" here ...
///             run.answer(Answer::Program(ProgramOutcome::Success(b"Greetings".to_vec())));
///         }
///         Step::Question(_) => run.answer(Answer::Bool(false)),
///         Step::Done(outcome) => break outcome,
///         _ => unreachable!(),
///     }
/// };
/// assert!(matches!(&outcome.actions[0], sieve::Action::FileInto { mailbox, .. } if mailbox == "Greetings"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgramRequest {
    /// `filter` or `execute`.
    pub kind: ProgramKind,
    /// The program's name, valid by the draft's rules (never a path). The host looks it up
    /// among the programs its administrator configured for this kind (Pigeonhole:
    /// `sieve_filter_bin_dir`, `sieve_execute_bin_dir`).
    pub program: String,
    /// The arguments, in order (no CR or LF, at most 1024 bytes each).
    pub args: Vec<String>,
    /// The data for the program's standard input, line ends already converted as
    /// [`ProgramSettings`] asks; `None`: no input (an empty standard input).
    pub input: Option<Vec<u8>>,
    /// The most output the runtime will use, in bytes; 0 when the output is discarded (the
    /// host may stop reading there, or send it to nowhere).
    pub max_output: usize,
}

/// How an external program ended ([`Answer::Program`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgramOutcome {
    /// It ran and exited successfully; its standard output (empty if none).
    Success(Vec<u8>),
    /// It ran and answered "false" (a non-zero exit code): for `execute` not an error, the
    /// test is false; for `filter` the message stays as it was.
    False,
    /// The host offers no program of that name: an error for the `filter`/`execute`
    /// command, a false test.
    NotFound,
    /// It could not be run, was killed (time limit) or failed otherwise; the reason goes to
    /// the error or the log.
    Failed(String),
}

/// Line ends of the data the runtime hands to programs (Pigeonhole's
/// `sieve_<ext>_input_eol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LineEnding {
    /// CR LF (the default, as in RFC 5322 and Sieve itself): bare LFs become CR LF.
    #[default]
    Crlf,
    /// LF: every CR LF becomes LF.
    Lf,
}

/// How the runtime hands data to `filter` and `execute` programs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgramSettings {
    /// Line ends of the message given to `filter` programs (default CR LF).
    pub filter_input_eol: LineEnding,
    /// Line ends of the `:input` string or `:pipe` message given to `execute` programs
    /// (default CR LF).
    pub execute_input_eol: LineEnding,
}

/// `data` with its line ends converted.
pub(crate) fn convert_eol(data: &[u8], eol: LineEnding) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    match eol {
        LineEnding::Crlf => {
            let mut prev = 0u8;
            for &b in data {
                if b == b'\n' && prev != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                prev = b;
            }
        }
        LineEnding::Lf => {
            let mut i = 0;
            while i < data.len() {
                if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                    continue;
                }
                out.push(data[i]);
                i += 1;
            }
        }
    }
    out
}

impl Runtime<'_, '_> {
    /// Expands and checks the arguments of a program.
    fn program_args(&self, args: &[Value], program: &str) -> Res<Vec<String>> {
        let mut out = Vec::with_capacity(args.len());
        for a in args {
            let v = self.expand(a).into_owned();
            if let Some(why) = argument_problem(&v) {
                let shown: String = v.chars().take(80).collect();
                return Err(Flow::Error(format!(
                    "the argument \"{}\" for the program '{program}' {why}",
                    shown.escape_default()
                )));
            }
            out.push(v);
        }
        Ok(out)
    }

    fn count_program_run(&mut self) -> Res<()> {
        let max = self.ctx.limits.max_program_runs;
        if self.program_runs >= max {
            return Err(Flow::Error(format!(
                "more than {max} external program runs (the policy limit)"
            )));
        }
        self.program_runs += 1;
        Ok(())
    }

    /// `pipe`: an action for the host, carried out after the script.
    pub(crate) fn pipe(&mut self, p: &PipeCmd) -> Res<()> {
        let args = self.program_args(&p.args, &p.program)?;
        if self
            .actions
            .iter()
            .any(|a| matches!(a, Action::Pipe { program, .. } if **program == *p.program))
        {
            return Err(Flow::Error(format!(
                "duplicate pipe \"{}\" action not allowed (a program gets the message once)",
                p.program
            )));
        }
        self.count_program_run()?;
        let headers = self.snapshot();
        self.add_action(Action::Pipe {
            program: p.program.to_string(),
            args,
            copy: p.copy,
            ignore_failure: p.try_,
            headers,
        })?;
        // The implicit keep stays: a pipe without :copy cancels it only once the program
        // has taken the message (draft §5: an unsuccessful pipe must not cancel it), which
        // the host learns when it carries the action out (see `Action::Pipe`).
        Ok(())
    }

    /// `filter` / `execute`, as a command (`is_test` false) or a test: asks the host to run
    /// the program and returns whether it succeeded.
    pub(crate) fn run_program(&mut self, c: &ProgramCall, is_test: bool) -> Res<bool> {
        let args = self.program_args(&c.args, &c.program)?;
        let limits = &self.ctx.limits;
        let max_output = match c.kind {
            ProgramKind::Filter => limits.max_program_output,
            ProgramKind::Execute if c.output.is_some() => {
                limits.max_program_output.min(limits.max_variable_size)
            }
            ProgramKind::Execute => 0,
        };
        if self.program_runs >= limits.max_program_runs {
            return Err(Flow::Error(format!(
                "more than {} external program runs (the policy limit)",
                limits.max_program_runs
            )));
        }
        let answer = self.ask_with(|rt| {
            let eol = match c.kind {
                ProgramKind::Filter => rt.ctx.programs.filter_input_eol,
                ProgramKind::Execute => rt.ctx.programs.execute_input_eol,
            };
            let input = match &c.input {
                ProgramInput::None => None,
                ProgramInput::Message => Some(convert_eol(&rt.message.current(), eol)),
                ProgramInput::Text(v) => Some(convert_eol(rt.expand(v).as_bytes(), eol)),
            };
            Question::Program(ProgramRequest {
                kind: c.kind,
                program: c.program.to_string(),
                args,
                input,
                max_output,
            })
        })?;
        self.count_program_run()?;
        let outcome = match answer {
            Answer::Program(o) => o,
            Answer::NotFound => ProgramOutcome::NotFound,
            Answer::Error(e) => ProgramOutcome::Failed(e),
            other => {
                ProgramOutcome::Failed(format!("the host gave no program outcome ({other:?})"))
            }
        };
        let verb = c.kind.name();
        let name = &*c.program;
        match outcome {
            ProgramOutcome::Success(out) => match c.kind {
                ProgramKind::Filter if out.is_empty() => {
                    self.log.push(format!(
                        "{verb}: program '{name}' gave no message; the message is unchanged"
                    ));
                    Ok(false)
                }
                ProgramKind::Filter if out.len() > max_output => {
                    self.log.push(format!(
                        "{verb}: the output of program '{name}' is longer than {max_output} bytes; the message is unchanged"
                    ));
                    Ok(false)
                }
                ProgramKind::Filter => {
                    self.set_message_internal(out);
                    Ok(true)
                }
                _ => {
                    if let Some(var) = c.output {
                        let mut out = out;
                        out.truncate(max_output);
                        let text = match String::from_utf8(out) {
                            Ok(s) => s,
                            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        };
                        self.set_var(var, text);
                    }
                    Ok(true)
                }
            },
            ProgramOutcome::False => {
                self.log.push(format!(
                    "{verb}: program '{name}' answered false{}",
                    if c.kind == ProgramKind::Filter {
                        "; the message is unchanged"
                    } else {
                        ""
                    }
                ));
                Ok(false)
            }
            ProgramOutcome::NotFound if !is_test => Err(Flow::Error(format!(
                "{verb} action: program '{name}' not found"
            ))),
            ProgramOutcome::Failed(why) if !is_test && c.kind == ProgramKind::Execute => Err(
                Flow::Error(format!("execute action: program '{name}' failed: {why}")),
            ),
            ProgramOutcome::NotFound => {
                self.log.push(format!(
                    "{verb}: program '{name}' not found (test is false)"
                ));
                Ok(false)
            }
            ProgramOutcome::Failed(why) => {
                self.log
                    .push(format!("{verb}: program '{name}' failed: {why}"));
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::Capabilities;
    use crate::runtime::{Context, Envelope, Outcome, RunLimits, Step};
    use crate::{CompileOptions, compile};

    const MSG: &[u8] =
        b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: Hi\r\n\r\nBody\r\n";

    /// Runs `script`, answering program questions with `host`; returns the outcome and the
    /// requests seen.
    fn run(
        script: &str,
        ctx: Context,
        host: &mut dyn FnMut(&ProgramRequest) -> Answer,
    ) -> (Outcome, Vec<ProgramRequest>) {
        let opts = CompileOptions::default()
            .with_capabilities(Capabilities::delivery().union(Capabilities::vendor()));
        let p = compile(script.as_bytes(), &opts).unwrap_or_else(|e| panic!("{e}"));
        let mut rt = Runtime::new(&p, MSG, Envelope::new("a@x.test", "b@y.test"), ctx);
        let mut seen = Vec::new();
        loop {
            match rt.run() {
                Step::Done(o) => return (o, seen),
                Step::Question(Question::Program(r)) => {
                    let a = host(&r);
                    seen.push(r);
                    rt.answer(a);
                }
                Step::Question(q) => panic!("unexpected question {q:?}"),
            }
        }
    }

    fn success(out: &[u8]) -> Answer {
        Answer::Program(ProgramOutcome::Success(out.to_vec()))
    }

    #[test]
    fn names_arguments_and_line_ends() {
        assert!(valid_program_name("x"));
        assert!(!valid_program_name(""));
        assert!(!valid_program_name("a/b"));
        assert!(!valid_program_name("a\u{85}"));
        assert_eq!(argument_problem("a b"), None);
        assert!(argument_problem("a\nb").is_some());
        assert_eq!(
            convert_eol(b"a\nb\r\nc\r", LineEnding::Crlf),
            b"a\r\nb\r\nc\r"
        );
        assert_eq!(convert_eol(b"a\nb\r\nc\r", LineEnding::Lf), b"a\nb\nc\r");
    }

    #[test]
    fn pipe_is_an_action_for_the_host() {
        let (o, asked) = run(
            r#"require ["vnd.dovecot.pipe", "copy", "editheader"];
               addheader "X-Seen" "yes";
               pipe :try "learn" ["spam", "now"];"#,
            Context::default(),
            &mut |_| panic!("pipe asks nothing"),
        );
        assert!(asked.is_empty() && o.error.is_none());
        // The implicit keep is left for the host to drop once the program took the message.
        assert!(o.implicit_keep());
        match &o.actions[..] {
            [
                Action::Pipe {
                    program,
                    args,
                    copy: false,
                    ignore_failure: true,
                    headers: Some(h),
                },
                Action::Keep { implicit: true, .. },
            ] => {
                assert_eq!(
                    (program.as_str(), &args[..]),
                    ("learn", &["spam".to_string(), "now".to_string()][..])
                );
                assert!(h.starts_with(b"X-Seen: yes\r\n"));
            }
            other => panic!("{other:?}"),
        }
        // :copy: the implicit keep stays whatever the program does.
        let (o, _) = run(
            r#"require ["vnd.dovecot.pipe", "copy"]; pipe :copy "p";"#,
            Context::default(),
            &mut |_| unreachable!(),
        );
        assert!(matches!(
            &o.actions[..],
            [
                Action::Pipe {
                    copy: true,
                    ignore_failure: false,
                    ..
                },
                Action::Keep { implicit: true, .. }
            ]
        ));
        // Another action still cancels the implicit keep as usual.
        let (o, _) = run(
            r#"require "vnd.dovecot.pipe"; pipe "p"; discard;"#,
            Context::default(),
            &mut |_| unreachable!(),
        );
        assert_eq!(
            o.actions.iter().map(Action::kind_name).collect::<Vec<_>>(),
            ["pipe", "discard"]
        );
        // The same program twice is an error, as is combining with reject.
        for script in [
            r#"require "vnd.dovecot.pipe"; pipe "p"; pipe "p";"#,
            r#"require ["vnd.dovecot.pipe", "reject"]; reject "no"; pipe "p";"#,
            r#"require ["vnd.dovecot.pipe", "variables", "encoded-character"];
               set "a" "x${hex:0a}"; pipe "p" "${a}";"#,
        ] {
            let (o, _) = run(script, Context::default(), &mut |_| unreachable!());
            assert!(o.error.is_some(), "{script}");
            assert_eq!(
                o.actions.iter().map(Action::kind_name).collect::<Vec<_>>(),
                ["keep"]
            );
        }
        // Two programs are fine.
        let (o, _) = run(
            r#"require "vnd.dovecot.pipe"; pipe "p"; pipe "q";"#,
            Context::default(),
            &mut |_| unreachable!(),
        );
        assert_eq!(
            o.actions.iter().map(Action::kind_name).collect::<Vec<_>>(),
            ["pipe", "pipe", "keep"]
        );
    }

    #[test]
    fn filter_replaces_the_message_for_later_tests_and_actions() {
        let script = r#"require ["vnd.dovecot.filter", "fileinto"];
            fileinto "Before";
            filter "tag" ["x"];
            if header :is "X-Tagged" "yes" { fileinto "Tagged"; }"#;
        let (o, asked) = run(script, Context::default(), &mut |r| {
            let mut out = b"X-Tagged: yes\r\n".to_vec();
            out.extend_from_slice(r.input.as_deref().unwrap_or_default());
            success(&out)
        });
        assert!(o.error.is_none(), "{:?}", o.error);
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].kind, ProgramKind::Filter);
        assert_eq!(asked[0].input.as_deref(), Some(MSG));
        assert_eq!(asked[0].args, ["x"]);
        assert_eq!(asked[0].max_output, RunLimits::default().max_program_output);
        let kinds: Vec<_> = o.actions.iter().map(Action::kind_name).collect();
        assert_eq!(kinds, ["store", "replace", "store"]);
        assert!(
            matches!(&o.actions[1], Action::ReplaceMessage { message } if message.starts_with(b"X-Tagged: yes\r\nFrom:"))
        );

        // Failure, false, or no output: the message stays, the script goes on.
        for answer in [
            Answer::Program(ProgramOutcome::False),
            Answer::Program(ProgramOutcome::Failed("timed out".into())),
            success(b""),
        ] {
            let (o, _) = run(script, Context::default(), &mut |_| answer.clone());
            assert!(o.error.is_none());
            assert_eq!(
                o.actions.iter().map(Action::kind_name).collect::<Vec<_>>(),
                ["store"]
            );
            assert_eq!(o.log.len(), 1, "{:?}", o.log);
        }
        // Too much output: refused.
        let mut ctx = Context::default();
        ctx.limits.max_program_output = 10;
        let (o, _) = run(script, ctx, &mut |_| {
            success(b"X-Tagged: yes\r\n\r\nlong body")
        });
        assert!(o.log[0].contains("longer than 10 bytes"));
        // An unknown program fails the script (draft §6), the original message is kept.
        let (o, _) = run(script, Context::default(), &mut |_| Answer::NotFound);
        assert!(
            o.error
                .as_ref()
                .is_some_and(|e| e.message.contains("not found"))
        );
        assert_eq!(
            o.actions.iter().map(Action::kind_name).collect::<Vec<_>>(),
            ["keep"]
        );
        // As a test: true only when the message was replaced; unknown is just false.
        let test = r#"require ["vnd.dovecot.filter", "fileinto"];
            if filter "a" { fileinto "Yes"; } else { fileinto "No"; }"#;
        let (o, _) = run(test, Context::default(), &mut |_| Answer::NotFound);
        assert!(o.error.is_none());
        assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "No"));
        let (o, _) = run(test, Context::default(), &mut |_| {
            success(b"Subject: new\r\n\r\nx\r\n")
        });
        assert!(matches!(&o.actions[1], Action::FileInto { mailbox, .. } if mailbox == "Yes"));
    }

    #[test]
    fn execute_input_output_and_errors() {
        let script = r#"require ["vnd.dovecot.execute", "variables", "fileinto"];
            set "who" "bob";
            execute :input "line1${hex:0a}${who}" :output "out" "lookup" ["${who}"];
            fileinto "box-${out}";"#;
        let script = script.replace("${hex:0a}", "\n");
        let mut ctx = Context::default();
        ctx.programs.execute_input_eol = LineEnding::Crlf;
        let (o, asked) = run(&script, ctx, &mut |r| {
            assert_eq!(r.input.as_deref(), Some(&b"line1\r\nbob"[..]));
            success(b"ok")
        });
        assert!(o.error.is_none(), "{:?}", o.error);
        assert_eq!(asked[0].args, ["bob"]);
        assert_eq!(asked[0].max_output, 4096);
        assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "box-ok"));
        // Output is cut to the variable size limit.
        let mut ctx = Context::default();
        ctx.limits.max_variable_size = 3;
        let (o, _) = run(&script, ctx, &mut |_| success(b"abcdef"));
        assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "box-abc"));
        // :pipe sends the message; without :output the output is not wanted.
        let (_, asked) = run(
            r#"require "vnd.dovecot.execute"; execute :pipe "p";"#,
            Context::default(),
            &mut |_| success(b"ignored"),
        );
        assert_eq!(asked[0].input.as_deref(), Some(MSG));
        assert_eq!(asked[0].max_output, 0);
        // No input at all.
        let (_, asked) = run(
            r#"require "vnd.dovecot.execute"; execute "p";"#,
            Context::default(),
            &mut |_| success(b""),
        );
        assert_eq!(asked[0].input, None);
        // A false result leaves the variable alone and is no error; failures of the command are.
        let keep = r#"require ["vnd.dovecot.execute", "variables", "fileinto"];
            set "out" "old"; execute :output "out" "p"; fileinto "${out}";"#;
        let (o, _) = run(keep, Context::default(), &mut |_| {
            Answer::Program(ProgramOutcome::False)
        });
        assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "old"));
        for a in [
            Answer::NotFound,
            Answer::Program(ProgramOutcome::Failed("killed".into())),
        ] {
            let (o, _) = run(keep, Context::default(), &mut |_| a.clone());
            assert!(o.error.is_some());
        }
        // As a test, failures are false.
        let test = r#"require ["vnd.dovecot.execute", "variables", "fileinto"];
            if execute :output "v" "p" { fileinto "Y${v}"; } else { fileinto "N${v}"; }"#;
        let (o, _) = run(test, Context::default(), &mut |_| Answer::NotFound);
        assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "N"));
        let (o, _) = run(test, Context::default(), &mut |_| success(b"1"));
        assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "Y1"));
    }

    #[test]
    fn run_limit_and_resume_builds_the_question_once() {
        let mut ctx = Context::default();
        ctx.limits.max_program_runs = 2;
        let script = r#"require ["vnd.dovecot.execute", "vnd.dovecot.pipe"];
            execute "a"; execute "b"; pipe "c";"#;
        let (o, asked) = run(script, ctx, &mut |_| success(b""));
        assert_eq!(asked.len(), 2);
        assert!(
            o.error
                .as_ref()
                .is_some_and(|e| e.message.contains("more than 2"))
        );
        // The runtime asks once per run, and an unanswered question is asked again.
        let opts = CompileOptions::default()
            .with_capabilities(Capabilities::delivery().union(Capabilities::vendor()));
        let p = compile(br#"require "vnd.dovecot.execute"; execute "a";"#, &opts).unwrap();
        let mut rt = Runtime::new(&p, MSG, Envelope::default(), Context::default());
        let Step::Question(q1) = rt.run() else {
            panic!()
        };
        let Step::Question(q2) = rt.run() else {
            panic!()
        };
        assert_eq!(q1, q2);
        rt.answer(success(b""));
        let Step::Done(o) = rt.run() else { panic!() };
        assert!(o.error.is_none());
    }
}
