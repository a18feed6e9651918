use super::*;
use std::fmt::Write as _;

fn ok(src: &str) -> Program {
    compile(src.as_bytes(), &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn bad(src: &str) -> String {
    compile(src.as_bytes(), &CompileOptions::default())
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn base_language_compiles() {
    ok("");
    ok("keep;");
    ok("if true { stop; } elsif false { discard; } else { keep; }");
    ok(r#"if anyof (header :contains "subject" "x", not exists "y", size :over 10K) { discard; }"#);
    ok(r#"if address :domain :is "from" "example.com" { redirect "a@b.test"; }"#);
    ok(r#"require ["fileinto", "mailbox", "imap4flags", "copy"];
          fileinto :create :flags ["\\Seen"] :copy "INBOX.a";"#);
    ok(r#"require "envelope"; if envelope :localpart :matches "from" "*" { keep; }"#);
}

#[test]
fn require_is_enforced() {
    assert_eq!(
        bad(r#"fileinto "x";"#),
        "line 1, column 1: the command 'fileinto' needs require \"fileinto\""
    );
    assert_eq!(
        bad(r#"require "frop";"#),
        "line 1, column 9: unknown extension 'frop' in require"
    );
    assert_eq!(
        bad("keep;\nrequire \"fileinto\";"),
        "line 2, column 1: 'require' is only allowed at the beginning of the script, before any other command"
    );
    assert!(bad(r#"if envelope "to" "x" {}"#).contains("needs require \"envelope\""));
    assert!(bad(r#"if header :regex "a" "b" {}"#).contains("needs require \"regex\""));
    assert!(bad(r#"if header :count "gt" "a" "1" {}"#).contains("needs require \"relational\""));
    let opts =
        CompileOptions::default().with_capabilities([Capability::FileInto].into_iter().collect());
    let e = compile(b"require \"vacation\";", &opts).unwrap_err();
    assert_eq!(
        e.message(),
        "the extension 'vacation' is not available here"
    );
}

#[test]
fn argument_errors_are_precise() {
    assert_eq!(
        bad(r#"if header "a" {}"#),
        "line 1, column 4: the header test requires 2 positional arguments (header names, key list), but 1 was specified"
    );
    assert_eq!(
        bad("redirect 1;"),
        "line 1, column 10: the redirect command expects a string as argument 1 (address), but a number was found"
    );
    assert_eq!(
        bad(r#"redirect "not an address";"#),
        "line 1, column 10: invalid redirect address \"not an address\""
    );
    assert_eq!(
        bad("keep :frop;"),
        "line 1, column 6: unknown tagged argument ':frop' for the keep command (reported at its first use only)"
    );
    assert_eq!(
        bad("if size 10 {}"),
        "line 1, column 4: the test 'size' needs ':over' or ':under'"
    );
    assert_eq!(
        bad(r#"if header :is :is "a" "b" {}"#),
        "line 1, column 15: the test 'header' has more than one match type"
    );
    assert_eq!(
        bad(r#"if header :comparator "x;y" "a" "b" {}"#),
        "line 1, column 23: unknown comparator \"x;y\""
    );
    assert_eq!(bad("frop;"), "line 1, column 1: unknown command 'frop'");
    assert_eq!(bad("if frop {}"), "line 1, column 4: unknown test 'frop'");
    assert_eq!(
        bad("else {}"),
        "line 1, column 1: 'else' must follow an 'if' or 'elsif' block"
    );
    assert_eq!(bad("if true;"), "line 1, column 8: 'if' needs a block");
    assert_eq!(
        bad("keep { }"),
        "line 1, column 8: the command 'keep' takes no block"
    );
    assert!(bad(r#"if address "subject" "x" {}"#).contains(
        "the header 'subject' is not allowed in the address test: it does not contain addresses"
    ));
    // Typos, worded after what was most likely meant (Pigeonhole's compile/errors).
    assert_eq!(
        all_errors(
            "require \"fileinto\";\nfileinto \"a\"\nkeep;\nfileinto \"b\" true;\nif address matches \"from\" \"x\" {}\nheader \"a\" \"b\";\nif header :is \"a\" :frop {}",
            &CompileOptions::default()
        ),
        [
            "line 3, column 1: missing semicolon ';' after the fileinto command (before 'keep')",
            "line 4, column 14: the fileinto command accepts no sub-tests, but tests are specified",
            "line 5, column 4: the address test requires 2 positional arguments (header list, key list), but 0 were specified",
            "line 5, column 12: missing colon ':' before ':matches' tag in the address test",
            "line 6, column 1: cannot use test 'header' as a command",
            "line 7, column 19: unknown tagged argument ':frop' for the header test (after its positional arguments)",
        ]
    );
    assert_eq!(
        bad(r#"if address :localpart "from" :is {}"#),
        "line 1, column 30: unexpected tagged argument ':is' after the positional arguments of the address test (tags come first)"
    );
    assert!(bad(r#"require ["relational","comparator-i;ascii-numeric"]; if header :contains :comparator "i;ascii-numeric" "a" "1" {}"#).contains("cannot be used with a substring"));
}

#[test]
fn errors_are_collected() {
    let e = compile(b"frop;\nkeep;\nfrip;", &CompileOptions::default()).unwrap_err();
    assert_eq!(e.diagnostics().len(), 2);
    assert_eq!(e.diagnostics()[1].pos.line, 3);
    assert!(e.to_string().ends_with("(and 1 more errors)"));
}

#[test]
fn variables_and_encoded_characters() {
    let p = ok(
        r#"require ["variables", "encoded-character"]; set "a" "${hex:41 42}${unicode:263a}"; set "b" "x${a}y${1}${";"#,
    );
    assert_eq!(p.locals, 2);
    match &p.code[0] {
        Instr::Set {
            value: Value::Const(v),
            ..
        } => assert_eq!(&**v, "AB\u{263a}"),
        other => panic!("{other:?}"),
    }
    match &p.code[1] {
        Instr::Set {
            value: Value::Template(t),
            ..
        } => {
            assert_eq!(
                &t[..],
                &[
                    Piece::Lit("x".into()),
                    Piece::Local(0),
                    Piece::Lit("y".into()),
                    Piece::Match(1),
                    Piece::Lit("${".into())
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    // Without "variables", "${a}" is literal text.
    let p = ok(r#"redirect "a${x}@b.test";"#);
    assert!(matches!(
        &p.code[0],
        Instr::Redirect {
            address: Value::Const(_),
            ..
        }
    ));
    assert!(bad(r#"require "variables"; set :lower :upper "a" "b";"#).contains("conflicts"));
    assert!(bad(r#"require "variables"; set "a.b" "c";"#).contains("unknown namespace"));
}

#[test]
fn regex_keys_are_checked_and_bounded() {
    ok(r#"require "regex"; if header :regex "subject" "^a(b|c)+$" {}"#);
    assert!(
        bad(r#"require "regex"; if header :regex "subject" "a(" {}"#)
            .contains("invalid regular expression")
    );
    // The automaton is built on first use; one over the size limit is a run-time error.
    let huge = format!(
        r#"require "regex"; if header :regex "subject" "{}" {{}}"#,
        "(a|b|c|d){1000}".repeat(5)
    );
    let p = ok(&huge);
    let Instr::Test(t) = &p.code[0] else { panic!() };
    let Test::Header { mt, .. } = &**t else {
        panic!()
    };
    let MatchKind::Regex(Some(r)) = &mt.kind else {
        panic!()
    };
    assert!(r[0].get().unwrap_err().contains("too complex"));
}

#[test]
fn if_chain_jumps() {
    let p = ok("if false { discard; } elsif true { stop; } else { keep; }");
    // Test, JumpIf, Discard, Jump, Test, JumpIf, Stop, Jump, Keep
    assert_eq!(p.len(), 9);
    assert!(matches!(
        p.code[1],
        Instr::JumpIf {
            target: 4,
            when: false
        }
    ));
    assert!(matches!(p.code[3], Instr::Jump(9)));
    assert!(matches!(p.code[7], Instr::Jump(9)));
}

#[test]
fn ihave_guards_unknown_extensions() {
    ok(r#"require "ihave"; if ihave "frop" { frop "x"; }"#);
    ok(r#"require "ihave"; if ihave "fileinto" { fileinto "x"; }"#);
    assert!(
        bad(r#"require "ihave"; if ihave "fileinto" { frop; }"#).contains("unknown command 'frop'")
    );
}

#[test]
fn limits() {
    let opts = CompileOptions::default().with_limits(CompileLimits {
        max_script_size: 10,
        ..CompileLimits::default()
    });
    assert!(
        compile(b"keep; keep; keep;", &opts)
            .unwrap_err()
            .message()
            .contains("more than the limit")
    );
    let mut src = String::from("require \"variables\";");
    for i in 0..300 {
        let _ = write!(src, "set \"v{i}\" \"x\";");
    }
    assert!(bad(&src).contains("too many variables"));
}

#[test]
fn warnings() {
    let p = ok(r#"if header :contains "List-Id:" "x" { keep; }"#);
    assert_eq!(p.warnings().len(), 1);
    assert!(p.warnings()[0].message.contains("can never match"));
}

/// Every error message of a script that must not compile.
fn all_errors(src: &str, opts: &CompileOptions) -> Vec<String> {
    compile(src.as_bytes(), opts)
        .map(|_| ())
        .unwrap_err()
        .diagnostics()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn site_policy_at_compile_time() {
    let notify = r#"require "enotify"; notify "mailto:a@example.com";"#;
    ok(notify);
    assert_eq!(
        all_errors(notify, &CompileOptions::default().with_notify(false)),
        ["line 1, column 20: local policy prohibits the use of a notify action"]
    );
    let big = format!(
        "require \"editheader\"; addheader \"X-A\" \"{}\";",
        "a".repeat(1500)
    );
    ok(&big);
    let e = all_errors(&big, &CompileOptions::default().with_max_header_size(1024));
    assert_eq!(
        e,
        ["line 1, column 39: the header value is 1500 bytes, more than the limit of 1024 bytes"]
    );
    // A value built from variables is left to the run-time limit.
    ok(&format!(
        "require [\"editheader\", \"variables\"]; set \"v\" \"{}\"; addheader \"X-A\" \"${{v}}\";",
        "a".repeat(1500)
    ));
}

#[test]
fn header_values_are_checked() {
    let e = all_errors(
        "require [\"editheader\", \"encoded-character\"];\naddheader \"X-A\" \"a\nb\";\naddheader \"X-B\" \"bell${hex:07}\";\naddheader \"X-C\" \"nul${hex:00}\";",
        &CompileOptions::default(),
    );
    assert_eq!(
        e,
        [
            "line 4, column 17: the header value \"bell\\u{7}\" is invalid (it contains the control character '\\u{7}')",
            "line 5, column 17: the header value \"nul\\0\" is invalid (it contains NUL)",
        ]
    );
    // A list is not a string, even with one item.
    assert_eq!(
        all_errors(
            r#"require "editheader"; addheader "X-A" ["b"];"#,
            &CompileOptions::default()
        ),
        [
            "line 1, column 39: the addheader command expects a string as argument 2 (value), but a string list was found"
        ]
    );
}

#[test]
fn notify_from_and_options_are_checked_when_constant() {
    let e = all_errors(
        "require \"enotify\";\nnotify :from \"a#example.org\" \"mailto:b@example.com\";\nnotify :options [\"a=b\", \"_x=\"] \"mailto:b@example.com\";",
        &CompileOptions::default(),
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("line 2, column 14: the ':from' address \"a#example.org\""));
    assert!(e[1].starts_with("line 3, column 17: the ':options' string \"_x=\""));
    // Values from variables are checked when the script runs.
    ok(
        r#"require ["enotify", "variables"]; set "f" "x"; notify :from "${f}" :options "${f}" "mailto:b@example.com";"#,
    );
}

#[test]
fn variable_names_namespaces_and_limits() {
    let v = |body: &str| {
        all_errors(
            &format!("require \"variables\";\n{body}"),
            &CompileOptions::default(),
        )
    };
    // RFC 5229 §3: an unknown namespace is an error, in a reference as in `set`.
    assert_eq!(
        v(r#"set "a" "${frop.x}";"#),
        ["line 2, column 9: unknown namespace 'frop' in the variable reference ${frop.x}"]
    );
    assert_eq!(
        v(r#"set "a" "${32}"; set "b" "${33}";"#),
        ["line 2, column 26: the match variable ${33} is out of range (the highest is ${32})"]
    );
    let long = "v".repeat(65);
    assert_eq!(
        v(&format!(
            "set \"{}\" \"x\"; set \"{long}\" \"x\";",
            "v".repeat(64)
        )),
        [format!(
            "line 2, column 81: the variable name \"{long}\" is longer than 64 bytes"
        )]
    );
    // Too many variables is reported once, at the first one over the limit.
    let mut options = CompileOptions::default();
    options.limits.max_variables = 2;
    let e = all_errors(
        "require \"variables\"; set \"a\" \"\"; set \"b\" \"\"; set \"c\" \"\"; set \"d\" \"\";",
        &options,
    );
    assert_eq!(
        e,
        ["line 1, column 50: too many variables (the limit is 2)"]
    );
}

#[test]
fn if_without_block_reports_its_test_too() {
    assert_eq!(
        all_errors(
            "require \"imap4flags\";\nif hasflag;\nif hasflag :frop \"x\" {}\nif hasflag :frop \"y\" {}",
            &CompileOptions::default()
        ),
        [
            "line 2, column 4: the hasflag test requires 2 positional arguments (variable list, flag list), but 0 were specified",
            "line 2, column 11: 'if' needs a block",
            // An unknown tag is reported at its first use only.
            "line 3, column 12: unknown tagged argument ':frop' for the hasflag test (reported at its first use only)",
        ]
    );
}
