//! Tests of extlists (RFC 6134) and Dovecot's vendor extensions vnd.dovecot.debug,
//! vnd.dovecot.environment and vnd.dovecot.report.

use super::*;
use crate::{Capabilities, Capability, CompileOptions, compile};

const MSG: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.org, carol@example.org\r\nSubject: Cheap pills\r\n\r\nBuy now.\n";

fn options() -> CompileOptions {
    CompileOptions::default()
        .with_capabilities(Capabilities::all_extensions().union(Capabilities::vendor()))
}

fn run_ctx(
    script: &str,
    ctx: Context,
    answer: &mut dyn FnMut(&Question) -> Answer,
) -> (Outcome, Vec<Question>) {
    let p = compile(script.as_bytes(), &options()).unwrap_or_else(|e| panic!("{e}"));
    let env =
        Envelope::new("alice@example.com", "bob@example.org").with_orig_to("bob+x@example.org");
    let mut rt = Runtime::new(&p, MSG, env, ctx);
    let mut asked = Vec::new();
    loop {
        match rt.run() {
            Step::Done(o) => return (o, asked),
            Step::Question(q) => {
                let a = answer(&q);
                asked.push(q);
                rt.answer(a);
            }
        }
    }
}

fn run(script: &str, answer: &mut dyn FnMut(&Question) -> Answer) -> (Outcome, Vec<Question>) {
    run_ctx(script, Context::default(), answer)
}

fn no_questions(q: &Question) -> Answer {
    panic!("unexpected question {q:?}")
}

fn compile_err(script: &str, opts: &CompileOptions) -> String {
    compile(script.as_bytes(), opts)
        .map(|_| ())
        .expect_err("must not compile")
        .to_string()
}

#[test]
fn vendor_extensions_are_off_by_default() {
    for ext in [
        "vnd.dovecot.debug",
        "vnd.dovecot.environment",
        "vnd.dovecot.report",
        "extlists",
    ] {
        let e = compile_err(&format!("require \"{ext}\";"), &CompileOptions::default());
        assert!(e.contains("not available"), "{ext}: {e}");
    }
    // extlists is standard: on with all_extensions (a host with lists), off for delivery.
    let all = CompileOptions::default().with_capabilities(Capabilities::all_extensions());
    assert!(compile(b"require \"extlists\";", &all).is_ok());
    assert!(compile(b"require \"vnd.dovecot.debug\";", &all).is_err());
}

#[test]
fn debug_log_goes_to_the_log_even_when_the_run_fails() {
    let (o, _) = run(
        r#"require ["vnd.dovecot.debug", "variables"]; set "x" "42"; debug_log "x is ${x}";"#,
        &mut no_questions,
    );
    assert_eq!(o.log, ["DEBUG: x is 42"]);
    assert!(o.error.is_none());
    let (o, _) = run(
        r#"require ["vnd.dovecot.debug", "ihave"]; debug_log "before"; error "boom";"#,
        &mut no_questions,
    );
    assert!(o.error.is_some());
    assert_eq!(o.log, ["DEBUG: before"]);
    // Without the extension, or with bad arguments, it does not compile.
    let e = compile_err(r#"debug_log "x";"#, &options());
    assert!(e.contains("vnd.dovecot.debug"), "{e}");
    let e = compile_err(r#"require "vnd.dovecot.debug"; debug_log;"#, &options());
    assert!(e.contains("message"), "{e}");
    let e = compile_err(r#"require "vnd.dovecot.debug"; debug_log 1;"#, &options());
    assert!(!e.is_empty());
}

#[test]
fn dovecot_environment_items_and_env_namespace() {
    let mut ctx = Context {
        default_mailbox: "Inbox2".into(),
        ..Context::default()
    };
    ctx.environment
        .push(("vnd.dovecot.username".into(), "bob".into()));
    ctx.environment
        .push(("vnd.dovecot.config.display_name".into(), "Bob B".into()));
    let script = r#"require ["vnd.dovecot.environment", "variables"];
        if environment :is "vnd.dovecot.default-mailbox" "Inbox2" { addflag "dm"; }
        if environment :is "vnd.dovecot.username" "bob" { addflag "user"; }
        if environment :is "vnd.dovecot.config.display_name" "Bob B" { addflag "cfg"; }
        if string :is "${env.vnd.dovecot.default_mailbox}|${env.vnd.dovecot.username}|${env.location}|${env.nope}" "Inbox2|bob|MDA|" { addflag "vars"; }
        "#;
    // addflag needs imap4flags; use it to see which tests held.
    let script = script.replace("require [", "require [\"imap4flags\", ");
    let (o, asked) = run_ctx(&script, ctx.clone(), &mut no_questions);
    assert!(asked.is_empty());
    let Some(Action::Keep { flags, .. }) = o.actions.first() else {
        panic!("{o:?}")
    };
    assert_eq!(flags, &["dm", "user", "cfg", "vars"]);

    // vnd.dovecot.environment implies environment; an unknown item is asked of the host.
    let (o, asked) = run_ctx(
        r#"require "vnd.dovecot.environment"; if environment :is "remote-host" "mx.example" { discard; }"#,
        ctx.clone(),
        &mut |_| Answer::Value(Some("mx.example".into())),
    );
    assert_eq!(asked, [Question::Environment("remote-host".into())]);
    assert_eq!(o.actions[0].kind_name(), "discard");

    // Without the vendor extension the vnd.dovecot items do not exist, and are not asked.
    let (o, asked) = run_ctx(
        r#"require "environment"; if environment :contains "vnd.dovecot.username" "" { discard; }"#,
        ctx,
        &mut no_questions,
    );
    assert!(asked.is_empty());
    assert!(o.implicit_keep());

    // ${env.*} is read-only.
    let e = compile_err(
        r#"require ["vnd.dovecot.environment", "variables"]; set "env.x" "1";"#,
        &options(),
    );
    assert!(e.contains("environment variable"), "{e}");
}

#[test]
fn report_builds_a_feedback_report() {
    let mut ctx = Context {
        postmaster: "postmaster@example.org".into(),
        user_addresses: vec!["bob@example.org".into()],
        ..Context::default()
    };
    let (o, _) = run_ctx(
        r#"require "vnd.dovecot.report"; report "abuse" "This is spam." "abuse@example.net"; report "abuse" "again" "ABUSE@example.net";"#,
        ctx.clone(),
        &mut no_questions,
    );
    // The duplicate report to the same address is dropped; the implicit keep stays.
    assert_eq!(
        o.actions.iter().map(Action::kind_name).collect::<Vec<_>>(),
        ["report", "keep"]
    );
    let Action::Report {
        feedback_type,
        address,
        message,
    } = &o.actions[0]
    else {
        panic!()
    };
    assert_eq!(
        (feedback_type.as_str(), address.as_str()),
        ("abuse", "abuse@example.net")
    );
    assert_eq!(message.envelope_from, "");
    assert_eq!(message.envelope_to, ["abuse@example.net"]);
    assert_eq!(message.header("From"), Some("<postmaster@example.org>"));
    assert_eq!(message.header("Subject"), Some("Report: Cheap pills"));
    assert_eq!(
        message.header("Auto-Submitted"),
        Some("auto-generated (report)")
    );
    assert!(
        message
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/report; report-type=feedback-report;")
    );
    let body = String::from_utf8(message.body.clone()).unwrap();
    for want in [
        "This is spam.\r\n",
        "Content-Type: message/feedback-report\r\n\r\nVersion: 1\r\nFeedback-Type: abuse\r\n",
        "Original-Mail-From: <alice@example.com>\r\n",
        "Original-Rcpt-To: <bob+x@example.org>\r\n",
        "Dovecot-Reporting-User: <bob@example.org>\r\n",
        "Content-Type: message/rfc822\r\n",
        "Subject: Cheap pills\r\n\r\nBuy now.\r\n",
    ] {
        assert!(body.contains(want), "{want:?} not in {body}");
    }
    // Every line ends in CRLF and the boundary closes the report.
    assert!(!body.replace("\r\n", "").contains('\n'));
    assert!(body.trim_end().ends_with("--"));

    // :headers_only sends the header only; the sender follows the policy.
    ctx.report_sender = Some(RedirectSender::Recipient);
    let (o, _) = run_ctx(
        r#"require "vnd.dovecot.report"; report :headers_only "fraud" "x" "abuse@example.net";"#,
        ctx,
        &mut no_questions,
    );
    let Action::Report { message, .. } = &o.actions[0] else {
        panic!()
    };
    let body = String::from_utf8(message.body.clone()).unwrap();
    assert!(body.contains("Content-Type: text/rfc822-headers\r\n"));
    assert!(!body.contains("Buy now."));
    assert_eq!(message.header("From"), Some("<bob@example.org>"));

    // Compile-time checks: feedback type token, address, arguments.
    for (script, want) in [
        (r#"report "?????" "m" "a@b.c";"#, "feedback type"),
        (r#"report "abuse" "m" "not an address";"#, "address"),
        (r#"report "abuse" "m";"#, "address"),
        (r#"report :frop "abuse" "m" "a@b.c";"#, ":frop"),
    ] {
        let e = compile_err(
            &format!("require \"vnd.dovecot.report\"; {script}"),
            &options(),
        );
        assert!(e.contains(want), "{script}: {e}");
    }
    // A feedback type from a variable is checked when the action runs.
    let (o, _) = run(
        r#"require ["vnd.dovecot.report", "variables"]; set "t" "a b"; report "${t}" "m" "a@b.example";"#,
        &mut no_questions,
    );
    assert!(o.error.unwrap().message.contains("feedback type"));
}

#[test]
fn extlists_match_type_asks_the_host() {
    let book = ["carol@example.org"];
    let mut answer = |q: &Question| match q {
        Question::ExtListMember { list, values } => {
            if list == "urn:ietf:params:sieve:addrbook:default" {
                Answer::Value(values.iter().find(|v| book.contains(&v.as_str())).cloned())
            } else {
                Answer::NotFound
            }
        }
        Question::ExtListExists(list) => {
            Answer::Bool(list == "urn:ietf:params:sieve:addrbook:default")
        }
        q => panic!("unexpected {q:?}"),
    };
    let (o, asked) = run(
        r#"require ["extlists", "variables", "fileinto"];
        if address :list "to" ":addrbook:default" { fileinto "Known-${0}"; }"#,
        &mut answer,
    );
    assert_eq!(
        asked,
        [Question::ExtListMember {
            list: "urn:ietf:params:sieve:addrbook:default".into(),
            values: vec!["bob@example.org".into(), "carol@example.org".into()],
        }]
    );
    assert!(
        matches!(&o.actions[0], Action::FileInto { mailbox, .. } if mailbox == "Known-carol@example.org"),
        "{o:?}"
    );
    // An unknown list, then a known one: the second key still matches.
    let (o, asked) = run(
        r#"require ["extlists"]; if header :list "from" ["tag:example.com,2011:x", "urn:ietf:params:sieve:addrbook:default"] { discard; }"#,
        &mut answer,
    );
    assert_eq!(asked.len(), 2);
    assert!(o.implicit_keep(), "From's raw value is not in the book");
    // Envelope, and a key that is not a URI (never asked).
    let (o, asked) = run(
        r#"require ["extlists", "envelope"]; if envelope :list "to" ["not a uri", ":addrbook:default"] { discard; }"#,
        &mut answer,
    );
    assert_eq!(asked.len(), 1);
    assert!(o.implicit_keep());
    // valid_ext_list.
    for (names, want) in [
        (r#"":addrbook:default""#, true),
        (
            r#"["urn:ietf:params:sieve:addrbook:default", ":addrbook:default"]"#,
            true,
        ),
        (r#"":addrbook:other""#, false),
        (r#""no scheme""#, false),
    ] {
        let (o, _) = run(
            &format!(r#"require "extlists"; if valid_ext_list {names} {{ discard; }}"#),
            &mut answer,
        );
        assert_eq!(o.actions[0].kind_name() == "discard", want, "{names}");
    }
    // Compile-time rules: no comparator with :list, no redirect :list, require needed.
    let e = compile_err(
        r#"require "extlists"; if header :list :comparator "i;octet" "from" ":a:b" {}"#,
        &options(),
    );
    assert!(e.contains("comparator"), "{e}");
    let e = compile_err(
        r#"require "extlists"; redirect :list "tag:a,2011:b";"#,
        &options(),
    );
    assert!(e.contains("not supported"), "{e}");
    let e = compile_err(r#"if header :list "from" ":a:b" {}"#, &options());
    assert!(e.contains(":list"), "{e}");
}

#[test]
fn unicode_casemap_without_require_only_by_option() {
    let script =
        br#"if header :contains :comparator "i;unicode-casemap" "subject" "CHEAP" { discard; }"#;
    let strict = options();
    let e = compile(script, &strict)
        .map(|_| ())
        .expect_err("strict by default");
    assert!(
        e.to_string().contains("comparator-i;unicode-casemap"),
        "{e}"
    );
    let mut compat = options();
    compat.implicit_unicode_casemap = true;
    let p = compile(script, &compat).expect("Pigeonhole-compatible");
    let mut rt = Runtime::new(&p, MSG, Envelope::new("a@b.c", "d@e.f"), Context::default());
    let Step::Done(o) = rt.run() else {
        panic!("no question expected")
    };
    assert_eq!(o.actions[0].kind_name(), "discard");
}

#[test]
fn quoted_values_are_not_cut_inside_an_escape() {
    let mut ctx = Context::default();
    ctx.limits.max_variable_size = 8;
    let (o, _) = run_ctx(
        r#"require ["variables", "fileinto", "regex"];
        set :quotewildcard "a" "x*******";
        set :quoteregex "b" "xy.+";
        set "c" "123456789";
        fileinto "${a}|${b}|${c}";"#,
        ctx,
        &mut no_questions,
    );
    // "x\*\*\*..." cut to 8 bytes would end in a lone backslash: 7 bytes are kept.
    let Action::FileInto { mailbox, .. } = &o.actions[0] else {
        panic!("{o:?}")
    };
    assert_eq!(mailbox, r"x\*\*\*|xy\.\+|12345678");
}

#[test]
fn ext_list_names() {
    use super::eval::ext_list_name;
    assert_eq!(
        ext_list_name(":addrbook:default").as_deref(),
        Some("urn:ietf:params:sieve:addrbook:default")
    );
    assert_eq!(
        ext_list_name("TAG:x.org,2011:l").as_deref(),
        Some("tag:x.org,2011:l")
    );
    assert_eq!(ext_list_name("frop:666").as_deref(), Some("frop:666"));
    for bad in ["", "nocolon", "1x:y", "x:", "x:a b"] {
        assert_eq!(ext_list_name(bad), None, "{bad}");
    }
    assert!(Capability::ExtLists.name() == "extlists" && !Capability::ExtLists.is_vendor());
}
