//! Sieve compiler (and then runtime): any bytes either compile or give an error whose
//! position is inside the script; a program that compiles runs to completion against a
//! fixed message, whatever the host answers, within its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sieve::{
    Action, Answer, Capabilities, CompileOptions, Context, Envelope, Question, Runtime, Step,
    compile,
};

const MESSAGE: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: =?utf-8?q?caf=C3=A9?= report\r\nDate: Tue, 1 Apr 1997 09:06:31 -0800\r\nMessage-ID: <1@example.com>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello world\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n";

fuzz_target!(|data: &[u8]| {
    let options = CompileOptions::default().with_capabilities(Capabilities::all_extensions());
    let program = match compile(data, &options) {
        Ok(p) => p,
        Err(e) => {
            for d in e.diagnostics() {
                assert!(
                    d.pos.offset <= data.len(),
                    "error position outside the script"
                );
                assert!(!d.message.is_empty());
            }
            return;
        }
    };
    let mut ctx = Context::default();
    ctx.limits.max_cpu_steps = 20_000;
    ctx.user_addresses = vec!["bob@example.org".into()];
    let mut rt = Runtime::new(
        &program,
        MESSAGE,
        Envelope::new("alice@example.com", "bob@example.org"),
        ctx,
    );
    let mut flip = false;
    for _ in 0..10_000 {
        match rt.run() {
            Step::Done(o) => {
                // A failed run keeps the message (RFC 5228 2.10.6) and nothing else.
                if o.error.is_some() {
                    assert!(
                        matches!(o.actions.as_slice(), [Action::Keep { implicit: true, .. }]),
                        "a failed run must end in the implicit keep alone"
                    );
                }
                return;
            }
            Step::Question(q) => {
                flip = !flip;
                rt.answer(match q {
                    Question::Include { .. } => Answer::NotFound,
                    Question::Metadata { .. } | Question::Environment(_) => {
                        Answer::Value(flip.then(|| "value".to_string()))
                    }
                    _ => Answer::Bool(flip),
                });
            }
            _ => return,
        }
    }
    panic!("the runtime asked more than 10000 questions");
});
