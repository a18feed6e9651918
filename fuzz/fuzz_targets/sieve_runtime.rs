//! Sieve runtime on random messages with a fixed script that touches headers, addresses,
//! MIME parts, bodies, dates, editheader, vacation and notify: never panics, always ends,
//! and keeps the message when it fails.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sieve::{
    Action, Answer, Capabilities, CompileOptions, Context, Envelope, Program, Runtime, Step,
    compile,
};

const SCRIPT: &str = r#"require ["fileinto", "body", "regex", "variables", "imap4flags", "envelope",
    "relational", "comparator-i;ascii-numeric", "comparator-i;unicode-casemap", "copy", "mailbox",
    "date", "index", "editheader", "mime", "foreverypart", "extracttext", "vacation", "enotify",
    "subaddress", "duplicate", "spamtest", "reject"];
if header :matches "subject" "*[*]*" { set "tag" "${2}"; fileinto :copy "tags.${tag}"; }
if address :all :comparator "i;unicode-casemap" :contains ["from", "to", "cc"] "example" { addflag "\\Seen"; }
if address :detail :is "to" "lists" { fileinto :create "lists"; }
if header :index 2 :last :contains "received" "relay" { addflag "$Hops"; }
if date :value "ge" :originalzone "date" "year" "2000" { set "y" "new"; }
if exists "list-id" { fileinto "lists"; stop; }
foreverypart {
    if header :mime :anychild :param "name" "content-type" "*.exe" { discard; stop; }
    if header :mime :type "content-type" "text" {
        extracttext :first 100 "t";
        if string :regex "${t}" "(urgent|asap)" { addflag "\\Flagged"; break; }
    }
}
if body :content "text" :contains ["unsubscribe", "viagra"] { fileinto "Junk"; }
if body :raw :regex "[0-9]{16}" { addheader "X-Card" "maybe"; }
deleteheader :matches "x-spam-*" "*";
if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { fileinto "Junk"; }
if duplicate { discard; }
if size :over 1M { reject "too big"; } else {
    vacation :days 1 :subject "away: ${tag}" "I am away.";
    notify :message "new mail" "mailto:bob@example.org";
}
"#;

static PROGRAM: LazyLock<Program> = LazyLock::new(|| {
    let options = CompileOptions::default().with_capabilities(Capabilities::all_extensions());
    compile(SCRIPT.as_bytes(), &options).expect("the fixed script compiles")
});

fuzz_target!(|data: &[u8]| {
    let mut ctx = Context::default();
    ctx.limits.max_cpu_steps = 100_000;
    ctx.user_addresses = vec!["bob@example.org".into()];
    let mut rt = Runtime::new(
        &PROGRAM,
        data,
        Envelope::new("alice@example.com", "bob+lists@example.org"),
        ctx,
    );
    for _ in 0..1_000 {
        match rt.run() {
            Step::Done(o) => {
                if o.error.is_some() {
                    assert!(matches!(
                        o.actions.as_slice(),
                        [Action::Keep { implicit: true, .. }]
                    ));
                }
                return;
            }
            Step::Question(_) => rt.answer(Answer::Bool(false)),
            _ => return,
        }
    }
    panic!("too many questions");
});
