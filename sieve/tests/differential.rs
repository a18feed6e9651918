//! Differential test against Pigeonhole's `sieve-test` (Debian's dovecot-sieve, 0.5.19):
//! every script in `tests/differential/scripts` runs on every message in
//! `tests/differential/messages`, through Pigeonhole and through this crate, and the
//! normalized action lists must agree (or both must reject the script, or both fail at run
//! time). Prints `differential: N passed, M failed`.
//!
//! Needs `MAIL_PEERS_DIR` (set by `.ci/test`, which prepares `$MAIL_PEERS_DIR/sieve/` with
//! `sieve-test.conf`, writable by the mail uid).
//!
//! One documented difference: without `-e`, Pigeonhole's sieve-test lists a vacation action
//! without applying RFC 3834's rules (lists, auto-submitted mail, recipient in To/Cc); this
//! crate applies them at run time. When our run says it deliberately did not answer, the
//! vacation line is dropped from Pigeonhole's list before comparing (counted in the output).

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sieve::{Action, Answer, CompileOptions, Context, Envelope, Question, Runtime, Step, compile};

fn corpus(dir: &str, ext: &str) -> Vec<PathBuf> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/differential")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(base)
        .expect("corpus directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn header_addr(msg: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(msg);
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            let first = v.split(',').next_back().unwrap_or(v).trim();
            return match (first.rfind('<'), first.rfind('>')) {
                (Some(a), Some(b)) if a < b => first[a + 1..b].to_string(),
                _ => first.to_string(),
            };
        }
    }
    String::new()
}

/// Pigeonhole's stdout as normalized lines: "store BOX [flags] [+copy]", "redirect ADDR",
/// "reject", "discard", "vacation", "notify", "implicit keep [flags]".
fn parse_pigeonhole(out: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut implicit = false;
    for l in out.lines() {
        if l.starts_with("Implicit keep:") {
            implicit = true;
            continue;
        }
        if let Some(a) = l.strip_prefix(" * ") {
            let item = if let Some(b) = a.strip_prefix("store message in folder: ") {
                format!("store {b}")
            } else if let Some(r) = a.strip_prefix("redirect message to: ") {
                format!("redirect {}", r.trim_matches(['<', '>']))
            } else if a.starts_with("reject") {
                "reject".into()
            } else if a.starts_with("discard") {
                "discard".into()
            } else if a.starts_with("send vacation") {
                "vacation".into()
            } else if a.starts_with("send notification") {
                "notify".into()
            } else if a.starts_with("keep") {
                "store INBOX".into()
            } else {
                format!("? {a}")
            };
            lines.push(if implicit {
                format!("implicit {item}")
            } else {
                item
            });
        } else if let Some(side) = l.trim_start().strip_prefix("+ ") {
            if let Some(f) = side.strip_prefix("add IMAP flags: ") {
                let mut flags: Vec<String> =
                    f.split_whitespace().map(str::to_ascii_lowercase).collect();
                flags.sort();
                if let Some(last) = lines.last_mut() {
                    let _ = write!(last, " [{}]", flags.join(" "));
                }
            } else if side.starts_with("preserve implicit keep")
                && let Some(last) = lines.last_mut()
            {
                last.push_str(" +copy");
            }
        }
    }
    lines
}

fn ours(action: &Action) -> String {
    let flags = |f: &[String]| {
        if f.is_empty() {
            String::new()
        } else {
            let mut v: Vec<String> = f.iter().map(|x| x.to_ascii_lowercase()).collect();
            v.sort();
            format!(" [{}]", v.join(" "))
        }
    };
    match action {
        Action::Keep {
            flags: f, implicit, ..
        } => {
            format!(
                "{}store INBOX{}",
                if *implicit { "implicit " } else { "" },
                flags(f)
            )
        }
        Action::FileInto {
            mailbox,
            flags: f,
            copy,
            ..
        } => {
            format!(
                "store {mailbox}{}{}",
                flags(f),
                if *copy { " +copy" } else { "" }
            )
        }
        Action::Redirect { address, copy, .. } => {
            format!("redirect {address}{}", if *copy { " +copy" } else { "" })
        }
        Action::Reject { .. } => "reject".into(),
        Action::Discard => "discard".into(),
        Action::Vacation { .. } => "vacation".into(),
        Action::Notify { .. } => "notify".into(),
        other => format!("? {}", other.kind_name()),
    }
}

#[test]
#[ignore = "interop: needs the peers started by .ci/test"]
fn differential_against_pigeonhole_sieve_test() {
    let peers =
        std::env::var("MAIL_PEERS_DIR").expect("MAIL_PEERS_DIR is not set: run through .ci/test");
    let sieve_dir = Path::new(&peers).join("sieve");
    let conf = sieve_dir.join("sieve-test.conf");
    assert!(conf.exists(), "{} missing", conf.display());
    let owner = std::fs::metadata(&sieve_dir).expect("sieve dir").uid();
    let work = sieve_dir.join(format!("differential-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    std::os::unix::fs::chown(&work, Some(owner), Some(owner)).expect("chown work dir");
    let (mut passed, mut failed, mut vacation_rules) = (0, 0, 0);
    let mut failures = Vec::new();
    for script in corpus("scripts", "sieve") {
        let name = script
            .file_name()
            .expect("file")
            .to_string_lossy()
            .to_string();
        let copy = work.join(&name);
        std::fs::copy(&script, &copy).expect("copy script");
        std::os::unix::fs::chown(&copy, Some(owner), Some(owner)).expect("chown script");
        let src = std::fs::read(&script).expect("script");
        let program = compile(&src, &CompileOptions::default());
        for msg_path in corpus("messages", "eml") {
            let msg = std::fs::read(&msg_path).expect("message");
            let from = header_addr(&msg, "from");
            let to = header_addr(&msg, "to");
            let out = Command::new("/usr/bin/sieve-test")
                .arg("-c")
                .arg(&conf)
                .args(["-C", "-f", &from, "-r", &to, "-a", &to])
                .arg(&copy)
                .arg(&msg_path)
                .output()
                .expect("run /usr/bin/sieve-test");
            let case = format!(
                "{name} × {}",
                msg_path.file_name().expect("file").to_string_lossy()
            );
            let code = out.status.code().unwrap_or(-1);
            let theirs = parse_pigeonhole(&String::from_utf8_lossy(&out.stdout));
            let verdict: Result<(), String> = match &program {
                Err(e) => {
                    if code == 89 {
                        Ok(())
                    } else {
                        Err(format!(
                            "we reject the script ({e}), Pigeonhole ran it (rc {code})"
                        ))
                    }
                }
                Ok(p) => {
                    let mut ctx = Context::default();
                    ctx.user_addresses = vec![to.clone()];
                    ctx.now = 1_743_500_000;
                    let mut rt = Runtime::new(
                        p,
                        &msg,
                        Envelope::new(from.clone(), to.clone()).with_orig_to(to.clone()),
                        ctx,
                    );
                    let o = loop {
                        match rt.run() {
                            Step::Done(o) => break o,
                            Step::Question(Question::MailboxExists(_)) => {
                                rt.answer(Answer::Bool(true));
                            }
                            Step::Question(Question::Include { .. }) => rt.answer(Answer::NotFound),
                            Step::Question(_) => rt.answer(Answer::Bool(false)),
                            _ => unreachable!("two kinds of step"),
                        }
                    };
                    if code == 89 {
                        Err("Pigeonhole rejects the script, we compiled it".into())
                    } else if o.error.is_some() || code == 1 {
                        if o.error.is_some() && code == 1 {
                            Ok(())
                        } else {
                            Err(format!(
                                "run-time failure differs: ours {:?}, Pigeonhole rc {code}",
                                o.error
                            ))
                        }
                    } else {
                        let mut mine: Vec<String> = o.actions.iter().map(ours).collect();
                        let mut theirs = theirs.clone();
                        if o.log
                            .iter()
                            .any(|l| l.starts_with("vacation: not answering"))
                        {
                            theirs.retain(|l| l != "vacation");
                            vacation_rules += 1;
                        }
                        mine.sort();
                        theirs.sort();
                        if mine == theirs {
                            Ok(())
                        } else {
                            Err(format!("ours {mine:?}\n      Pigeonhole {theirs:?}"))
                        }
                    }
                }
            };
            match verdict {
                Ok(()) => passed += 1,
                Err(e) => {
                    failed += 1;
                    failures.push(format!("{case}: {e}"));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    for f in &failures {
        println!("differential: FAIL {f}");
    }
    println!(
        "differential: vacation rules applied by us, not by sieve-test without -e: {vacation_rules}"
    );
    println!("differential: {passed} passed, {failed} failed");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
