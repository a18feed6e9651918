//! Sieve external programs (vnd.dovecot.pipe, vnd.dovecot.filter, vnd.dovecot.execute):
//! any script body after a `require` of the three compiles or gives in-bounds diagnostics;
//! a compiled program runs to completion whatever the host answers to its program
//! questions (success with arbitrary output, false, not found, failure). Every question
//! and every pipe action carries a valid program name and arguments the draft allows
//! (no CR/LF, at most 1024 bytes), a failed run ends in the implicit keep alone, and the
//! number of program runs stays within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sieve::runtime::{ProgramKind, ProgramOutcome};
use sieve::{
    Action, Answer, Capabilities, CompileOptions, Context, Envelope, Question, Runtime, Step,
    compile,
};

const MESSAGE: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: report\r\n\r\nhello world\r\n";

const PREFIX: &[u8] = b"require [\"vnd.dovecot.pipe\", \"vnd.dovecot.filter\", \"vnd.dovecot.execute\", \"variables\", \"copy\", \"editheader\", \"fileinto\", \"encoded-character\"];\n";

const MAX_RUNS: usize = 6;

fn valid_name(n: &str) -> bool {
    let count = n.chars().count();
    (1..=128).contains(&count)
        && !n.chars().any(|c| {
            matches!(c, '\u{0}'..='\u{1f}' | '/' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
        })
}

fn valid_args(args: &[String]) -> bool {
    args.iter()
        .all(|a| a.len() <= 1024 && !a.contains(['\r', '\n']))
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks how the host answers; the rest is the script body.
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut script = PREFIX.to_vec();
    script.extend_from_slice(body);
    let options = CompileOptions::default()
        .with_capabilities(Capabilities::all_extensions().union(Capabilities::vendor()));
    let program = match compile(&script, &options) {
        Ok(p) => p,
        Err(e) => {
            for d in e.diagnostics() {
                assert!(
                    d.pos.offset <= script.len(),
                    "error position outside the script"
                );
                assert!(!d.message.is_empty());
            }
            return;
        }
    };
    let mut ctx = Context::default();
    ctx.limits.max_cpu_steps = 20_000;
    ctx.limits.max_program_runs = MAX_RUNS;
    ctx.limits.max_program_output = 512;
    let mut rt = Runtime::new(
        &program,
        MESSAGE,
        Envelope::new("alice@example.com", "bob@example.org"),
        ctx,
    );
    let mut asked = 0usize;
    for _ in 0..10_000 {
        match rt.run() {
            Step::Done(o) => {
                if o.error.is_some() {
                    assert!(
                        matches!(o.actions.as_slice(), [Action::Keep { implicit: true, .. }]),
                        "a failed run must end in the implicit keep alone"
                    );
                }
                let pipes = o
                    .actions
                    .iter()
                    .filter(|a| matches!(a, Action::Pipe { .. }))
                    .count();
                assert!(
                    asked + pipes <= MAX_RUNS,
                    "more program runs than the limit"
                );
                for a in &o.actions {
                    if let Action::Pipe { program, args, .. } = a {
                        assert!(valid_name(program), "pipe to an invalid name {program:?}");
                        assert!(valid_args(args), "pipe with invalid arguments {args:?}");
                    }
                }
                return;
            }
            Step::Question(Question::Program(r)) => {
                asked += 1;
                assert!(asked <= MAX_RUNS, "more program questions than the limit");
                assert!(
                    valid_name(&r.program),
                    "invalid program name {:?}",
                    r.program
                );
                assert!(valid_args(&r.args), "invalid arguments {:?}", r.args);
                if r.kind == ProgramKind::Filter {
                    assert!(r.input.is_some(), "filter without the message");
                }
                let outcome = match (mode.wrapping_add(asked as u8)) % 5 {
                    0 => ProgramOutcome::False,
                    1 => ProgramOutcome::NotFound,
                    2 => ProgramOutcome::Failed("killed".into()),
                    // Output longer than max_output, or arbitrary bytes as a message.
                    3 => ProgramOutcome::Success(body.repeat(3)),
                    _ => ProgramOutcome::Success(body.to_vec()),
                };
                rt.answer(Answer::Program(outcome));
            }
            Step::Question(_) => rt.answer(Answer::Bool(mode & 1 == 0)),
            _ => return,
        }
    }
    panic!("the runtime asked more than 10000 questions");
});
