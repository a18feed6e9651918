use super::*;
use crate::{CompileOptions, compile};

const MSG: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Hello world\r\nMessage-ID: <1@example.com>\r\nX-Spam-Score: 7.5\r\n\r\nThis is the body.\r\n";

fn run_with(script: &str, msg: &[u8], answer: &mut dyn FnMut(&Question) -> Answer) -> Outcome {
    let p =
        compile(script.as_bytes(), &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let env = Envelope::new("alice@example.com", "bob@example.org");
    let ctx = Context {
        user_addresses: vec!["bob@example.org".into()],
        ..Context::default()
    };
    let mut rt = Runtime::new(&p, msg, env, ctx);
    loop {
        match rt.run() {
            Step::Done(o) => return o,
            Step::Question(q) => {
                let a = answer(&q);
                rt.answer(a);
            }
        }
    }
}

fn run(script: &str) -> Outcome {
    run_with(script, MSG, &mut |q| panic!("unexpected question {q:?}"))
}

fn kinds(o: &Outcome) -> Vec<&'static str> {
    o.actions.iter().map(Action::kind_name).collect()
}

#[test]
fn implicit_keep_and_basic_actions() {
    let o = run("");
    assert_eq!(kinds(&o), ["keep"]);
    assert!(o.implicit_keep());
    let o = run("discard;");
    assert_eq!(kinds(&o), ["discard"]);
    let o = run(
        r#"require "fileinto"; if header :contains "subject" "WORLD" { fileinto "Greetings"; stop; } keep;"#,
    );
    assert_eq!(kinds(&o), ["store"]);
    assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "Greetings"));
    let o = run(
        r#"require ["fileinto", "copy"]; fileinto :copy "A"; fileinto "A"; redirect :copy "x@y.test";"#,
    );
    assert_eq!(kinds(&o), ["store", "redirect"]);
    let o = run(r#"if address :is :domain "from" "example.com" { redirect "carol@example.net"; }"#);
    assert!(
        matches!(&o.actions[..], [Action::Redirect { address, copy: false, .. }] if address == "carol@example.net")
    );
}

#[test]
fn tests_and_match_types() {
    let yes = |t: &str| {
        let o = run(&format!(
            r#"require ["envelope", "relational", "comparator-i;ascii-numeric", "variables", "regex"]; if {t} {{ discard; }}"#
        ));
        kinds(&o) == ["discard"]
    };
    assert!(yes(r#"header :is "Subject" "hello WORLD""#));
    assert!(!yes(
        r#"header :comparator "i;octet" :is "Subject" "hello WORLD""#
    ));
    assert!(yes(r#"header :matches "subject" "hel*o?ld""#));
    assert!(yes(r#"header :regex "subject" "^H.*d$""#));
    assert!(yes(r#"exists ["From", "to"]"#));
    assert!(!yes(r#"exists ["From", "Frop"]"#));
    assert!(yes("size :over 10"));
    assert!(!yes("size :under 10"));
    assert!(yes(r#"envelope :localpart :is "from" "alice""#));
    assert!(yes(r#"address :all :is "to" "BOB@example.org""#));
    assert!(yes(
        r#"header :count "eq" :comparator "i;ascii-numeric" "to" "1""#
    ));
    assert!(yes(
        r#"header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "5""#
    ));
    assert!(yes("anyof (false, true)"));
    assert!(!yes("allof (true, false)"));
    assert!(yes("not allof (true, false)"));
}

#[test]
fn variables_and_match_variables() {
    let o = run(r#"require ["variables", "fileinto"];
        if header :matches "subject" "* *" { set :upperfirst "folder" "${2}"; }
        fileinto "${folder}-${1}";"#);
    assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "World-Hello"));
}

#[test]
fn questions_are_asked_and_answered() {
    let mut asked = Vec::new();
    let o = run_with(
        r#"require ["mailbox", "fileinto"]; if mailboxexists "Archive" { fileinto "Archive"; }"#,
        MSG,
        &mut |q| {
            asked.push(q.clone());
            Answer::Bool(true)
        },
    );
    assert_eq!(asked, [Question::MailboxExists("Archive".into())]);
    assert_eq!(kinds(&o), ["store"]);
}

#[test]
fn include_runs_the_answered_script() {
    let inc = Arc::new(
        compile(
            b"require [\"fileinto\", \"include\"]; fileinto \"Inc\"; return; discard;",
            &CompileOptions::default(),
        )
        .unwrap(),
    );
    let o = run_with(
        r#"require "include"; include "sub"; keep;"#,
        MSG,
        &mut |q| match q {
            Question::Include { name, .. } if name == "sub" => Answer::Script(inc.clone()),
            _ => Answer::NotFound,
        },
    );
    assert_eq!(kinds(&o), ["store", "keep"]);
    let o = run_with(
        r#"require "include"; include :optional "nope"; keep;"#,
        MSG,
        &mut |_| Answer::NotFound,
    );
    assert_eq!(kinds(&o), ["keep"]);
    let o = run_with(
        r#"require "include"; include "nope"; discard;"#,
        MSG,
        &mut |_| Answer::NotFound,
    );
    assert!(o.error.is_some());
    assert_eq!(kinds(&o), ["keep"]);
}

#[test]
fn runtime_errors_keep_the_message() {
    let o = run(r#"require ["reject", "fileinto"]; fileinto "A"; reject "no";"#);
    assert!(o.error.as_ref().unwrap().message.contains("conflicts"));
    assert_eq!(kinds(&o), ["keep"]);
    let p = compile(
        b"require \"variables\"; set \"a\" \"x\"; if string :matches \"${a}\" \"*\" { }",
        &CompileOptions::default(),
    )
    .unwrap();
    let mut ctx = Context::default();
    ctx.limits.max_cpu_steps = 2;
    let mut rt = Runtime::new(&p, MSG, Envelope::default(), ctx);
    let Step::Done(o) = rt.run() else { panic!() };
    assert!(o.error.unwrap().message.contains("limit"));
}

#[test]
fn vacation_rules() {
    let script = r#"require "vacation"; vacation :days 3 :subject "Away" "I am away";"#;
    let mut questions = Vec::new();
    let o = run_with(script, MSG, &mut |q| {
        questions.push(q.clone());
        Answer::Bool(false)
    });
    assert_eq!(kinds(&o), ["vacation", "keep"]);
    let Action::Vacation { message, .. } = &o.actions[0] else {
        panic!()
    };
    assert_eq!(message.envelope_to, ["alice@example.com"]);
    assert_eq!(message.header("Subject"), Some("Away"));
    assert_eq!(message.header("In-Reply-To"), Some("<1@example.com>"));
    assert!(
        message
            .header("Auto-Submitted")
            .unwrap()
            .starts_with("auto-replied")
    );
    assert_eq!(o.duplicates.len(), 1);
    assert_eq!(o.duplicates[0].period, 3 * 86_400);
    assert!(matches!(&questions[0], Question::Duplicate { period, .. } if *period == 3 * 86_400));
    // Already answered within the period.
    let o = run_with(script, MSG, &mut |_| Answer::Bool(true));
    assert_eq!(kinds(&o), ["keep"]);
    // Lists, auto-submitted mail and the null sender get no answer.
    for extra in [
        "List-Id: <l.example.com>\r\n",
        "Auto-Submitted: auto-generated\r\n",
        "Precedence: bulk\r\n",
    ] {
        let msg = [extra.as_bytes(), MSG].concat();
        let o = run_with(script, &msg, &mut |_| Answer::Bool(false));
        assert_eq!(kinds(&o), ["keep"], "{extra}");
    }
    let p = compile(script.as_bytes(), &CompileOptions::default()).unwrap();
    let mut rt = Runtime::new(
        &p,
        MSG,
        Envelope::new("", "bob@example.org"),
        Context::default(),
    );
    let Step::Done(o) = rt.run() else { panic!() };
    assert_eq!(kinds(&o), ["keep"]);
    // Not addressed to the user.
    let msg = b"From: alice@example.com\r\nTo: someone@else.test\r\n\r\nx";
    let o = run_with(script, msg, &mut |_| Answer::Bool(false));
    assert_eq!(kinds(&o), ["keep"]);
}

#[test]
fn editheader_changes_tests_and_actions() {
    let o = run(
        r#"require ["editheader", "fileinto"]; addheader "X-Sieve" "yes"; deleteheader "subject";
        if exists "subject" { discard; } if header :is "x-sieve" "yes" { fileinto "Edited"; }"#,
    );
    assert_eq!(kinds(&o), ["store"]);
    let Action::FileInto {
        headers: Some(h), ..
    } = &o.actions[0]
    else {
        panic!()
    };
    let h = String::from_utf8_lossy(h);
    assert!(h.starts_with("X-Sieve: yes\r\n"));
    assert!(!h.contains("Subject"));
    // Received and Auto-Submitted are never deleted (RFC 5293 §6); adding them is allowed.
    let o = run(r#"require "editheader"; deleteheader "received"; deleteheader "auto-submitted";"#);
    assert!(matches!(&o.actions[0], Action::Keep { headers: None, .. }));
    let o = run(r#"require "editheader"; addheader "Received" "x";"#);
    assert!(matches!(
        &o.actions[0],
        Action::Keep {
            headers: Some(_),
            ..
        }
    ));
}

#[test]
fn imap4flags() {
    let o = run(
        r#"require ["imap4flags", "fileinto"]; setflag "\\Seen"; addflag ["$A", "\\Flagged \\Seen"]; removeflag "$A"; fileinto "X"; fileinto :flags "\\Draft" "Y";"#,
    );
    assert!(
        matches!(&o.actions[0], Action::FileInto { flags, .. } if flags == &["\\Seen", "\\Flagged"])
    );
    assert!(matches!(&o.actions[1], Action::FileInto { flags, .. } if flags == &["\\Draft"]));
}

#[test]
fn body_and_mime() {
    let msg = b"From: a@b.c\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello there\r\n--x\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n--x--\r\n";
    let o = run_with(
        r#"require ["body", "foreverypart", "mime", "variables", "fileinto"];
        if body :contains "there" { fileinto "Body"; }
        foreverypart { if header :mime :subtype "content-type" "pdf" { fileinto "PDF"; break; } }
        if header :mime :anychild :param "name" "content-type" "a.pdf" { fileinto "Named"; }"#,
        msg,
        &mut |_| Answer::Bool(false),
    );
    assert_eq!(kinds(&o), ["store", "store", "store"]);
}

#[test]
fn notify_from_built_from_variables_is_checked_when_it_runs() {
    let o = run(
        r#"require ["enotify", "variables"]; set "f" "not an address"; notify :from "${f}" "mailto:carol@example.net";"#,
    );
    let e = o.error.expect("an invalid :from fails the run").to_string();
    assert!(e.contains("':from' address \"not an address\""), "{e}");
    let o = run(
        r#"require ["enotify", "variables"]; set "f" "Bob <bob@example.org>"; notify :from "${f}" "mailto:carol@example.net";"#,
    );
    assert!(o.error.is_none());
    assert_eq!(kinds(&o), ["notify", "keep"]);
}

#[test]
fn an_invalid_regex_from_variables_matches_nothing_and_is_logged() {
    let o = run(
        r#"require ["regex", "variables", "fileinto"]; set "r" "["; if header :regex "subject" ["${r}", "^Hello"] { fileinto "A"; } if header :regex "subject" "${r}" { fileinto "B"; }"#,
    );
    assert!(o.error.is_none(), "{:?}", o.error);
    // The valid key still matches; the invalid one matches nothing.
    assert_eq!(kinds(&o), ["store"]);
    assert!(matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "A"));
    let errors: Vec<_> = o.log.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 2, "{:?}", o.log);
    assert!(errors[0].contains("\"[\""), "{}", errors[0]);
}

#[test]
fn fileinto_a_name_that_is_not_utf8_fails() {
    let o = run(
        r#"require ["fileinto", "variables", "encoded-character"]; set "m" "${hex:ff}rop"; fileinto "${m}";"#,
    );
    let e = o.error.as_ref().expect("the run fails").to_string();
    assert!(e.contains("invalid folder name"), "{e}");
    assert_eq!(kinds(&o), ["keep"], "the message is kept");
}

#[test]
fn all_of_an_invalid_address_is_the_text_as_written() {
    let msg =
        "From: a@example.com\r\nResent-Cc:<j\u{fc}rgen@example.com>\r\nCc: nonsense\r\n\r\nx\r\n";
    let o = |t: &str| {
        run_with(
            &format!("if {t} {{ discard; }}"),
            msg.as_bytes(),
            &mut |q| panic!("unexpected question {q:?}"),
        )
    };
    let yes = |t: &str| assert_eq!(kinds(&o(t)), ["discard"], "{t}");
    let no = |t: &str| assert_eq!(kinds(&o(t)), ["keep"], "{t}");
    yes(r#"address :is :all "resent-cc" "<jürgen@example.com>""#);
    no(r#"address :is :localpart "resent-cc" "jürgen""#);
    no(r#"address :is :domain "resent-cc" "example.com""#);
    yes(r#"address :is :all "cc" "nonsense""#);
    yes(r#"address :is :all "from" "a@example.com""#);
}
