//! `sieve-test`: runs a Sieve script against a message and prints the actions it takes, in
//! the spirit (and layout) of Pigeonhole's `sieve-test`. Nothing is delivered or sent.
//!
//! ```text
//! sieve-test [-f FROM] [-r RECIPIENT] [-a ORIG_RECIPIENT] [-m MAILBOX] [-u USER_ADDRESS]
//!            [--mailbox NAME]... [--seen ID]... [--env NAME=VALUE]... [--all-extensions]
//!            [--vendor-extensions] SCRIPT MESSAGE
//! ```
//!
//! Included scripts are read from the script's directory (`:personal`) or `--global-dir`
//! (`:global`) as `NAME.sieve`. `mailboxexists` is true for the default mailbox and every
//! `--mailbox`; `duplicate` and vacation tracking see the ids given with `--seen` (the
//! printed `duplicate id:` lines show which ids a run asks for).
//!
//! Exit status: 0 when the script ran, 1 when it failed at run time (the message is then
//! kept), 2 when it did not compile, 64 on usage errors.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sieve::runtime::{ProgramOutcome, ScriptLocation};
use sieve::{
    Action, Answer, Capabilities, CompileOptions, Context, Envelope, Question, Runtime, Step,
    compile,
};

#[derive(Parser)]
#[command(
    name = "sieve-test",
    about = "Run a Sieve script against a message and print its actions",
    version
)]
struct Cli {
    /// Envelope sender (default: Return-Path, Sender or From of the message; "" for <>).
    #[arg(short = 'f')]
    from: Option<String>,
    /// Final envelope recipient (default: Envelope-To or To of the message).
    #[arg(short = 'r')]
    recipient: Option<String>,
    /// Original envelope recipient (ORCPT).
    #[arg(short = 'a')]
    orig_recipient: Option<String>,
    /// The default mailbox (where keep delivers).
    #[arg(short = 'm', default_value = "INBOX")]
    default_mailbox: String,
    /// The user's own address (vacation, redirect loop protection).
    #[arg(short = 'u')]
    user: Option<String>,
    /// A mailbox that exists (repeatable).
    #[arg(long = "mailbox")]
    mailboxes: Vec<String>,
    /// A duplicate/vacation tracking id already recorded (repeatable).
    #[arg(long = "seen")]
    seen: Vec<String>,
    /// An environment item NAME=VALUE (repeatable).
    #[arg(long = "env")]
    env: Vec<String>,
    /// Directory of `:global` scripts for include.
    #[arg(long)]
    global_dir: Option<PathBuf>,
    /// Allow every extension (default: the delivery set).
    #[arg(long)]
    all_extensions: bool,
    /// Also allow the vendor extensions (vnd.dovecot.*: debug, environment, report, pipe,
    /// filter, execute). External programs are never run: `pipe` is printed, `filter` and
    /// `execute` see a failed program.
    #[arg(long)]
    vendor_extensions: bool,
    /// Current time as Unix seconds (for currentdate; default: now).
    #[arg(long)]
    now: Option<i64>,
    /// The script.
    script: PathBuf,
    /// The message (RFC 5322 file).
    message: PathBuf,
}

fn header(msg: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(msg);
    let mut found: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if let Some(v) = found.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push_str(line);
                continue;
            }
            return found;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            found = Some(v.trim().to_string());
        }
    }
    found
}

fn bare(addr: &str) -> String {
    let a = addr.trim();
    match (a.rfind('<'), a.rfind('>')) {
        (Some(s), Some(e)) if s < e => a[s + 1..e].trim().to_string(),
        _ => a.to_string(),
    }
}

fn flags_line(out: &mut String, flags: &[String]) {
    if !flags.is_empty() {
        let shown: Vec<String> = flags
            .iter()
            .map(|f| {
                if f.starts_with('\\') {
                    f.to_ascii_lowercase()
                } else {
                    f.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "        + add IMAP flags: {}", shown.join(" "));
    }
}

fn print_action(out: &mut String, a: &Action, default_mailbox: &str) {
    match a {
        Action::Keep { flags, .. } => {
            let _ = writeln!(out, " * store message in folder: {default_mailbox}");
            flags_line(out, flags);
        }
        Action::FileInto {
            mailbox,
            flags,
            create,
            special_use,
            copy,
            ..
        } => {
            let _ = writeln!(out, " * store message in folder: {mailbox}");
            if let Some(su) = special_use {
                let _ = writeln!(out, "        + special-use: {su}");
            }
            if *create {
                out.push_str("        + create mailbox if it does not exist\n");
            }
            flags_line(out, flags);
            if *copy {
                out.push_str("        + preserve implicit keep\n");
            }
        }
        Action::Redirect { address, copy, .. } => {
            let _ = writeln!(out, " * redirect message to: <{address}>");
            if *copy {
                out.push_str("        + preserve implicit keep\n");
            }
        }
        Action::Reject { reason, extended } => {
            let kind = if *extended { "ereject" } else { "reject" };
            let _ = writeln!(out, " * {kind} message with reason: {reason}");
        }
        Action::Discard => out.push_str(" * discard\n"),
        Action::Vacation { message, .. } => {
            out.push_str(" * send vacation message:\n");
            let _ = writeln!(out, "    => to      : {}", message.envelope_to.join(", "));
            let _ = writeln!(
                out,
                "    => subject : {}",
                message.header("Subject").unwrap_or("")
            );
            let _ = writeln!(
                out,
                "\nSTART MESSAGE\n{}END MESSAGE",
                String::from_utf8_lossy(&message.body)
            );
        }
        Action::Notify {
            method,
            importance,
            message,
            ..
        } => {
            let _ = writeln!(out, " * send notification with method '{method}':");
            let _ = writeln!(out, "    => importance   : {importance}");
            let _ = writeln!(
                out,
                "    => subject      : {}",
                message.header("Subject").unwrap_or("")
            );
            out.push_str("    => recipients   :\n");
            for r in &message.envelope_to {
                let _ = writeln!(out, "       + To: {r}");
            }
        }
        Action::ReplaceMessage { .. } => out.push_str(" * replace message\n"),
        Action::Pipe {
            program,
            args,
            copy,
            ignore_failure,
            ..
        } => {
            let _ = writeln!(out, " * pipe message to external program '{program}':");
            let _ = writeln!(
                out,
                "    => try           : {}",
                if *ignore_failure { "yes" } else { "no" }
            );
            if !args.is_empty() {
                let _ = writeln!(out, "    => arguments     : {}", args.join(" "));
            }
            if *copy {
                out.push_str("        + preserve implicit keep\n");
            }
        }
        Action::Error { message } => {
            let _ = writeln!(out, " * error: {message}");
        }
        _ => out.push_str(" * (unknown action)\n"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let src = match std::fs::read(&cli.script) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sieve-test: {}: {e}", cli.script.display());
            return ExitCode::from(64);
        }
    };
    let msg = match std::fs::read(&cli.message) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sieve-test: {}: {e}", cli.message.display());
            return ExitCode::from(64);
        }
    };
    let mut options = CompileOptions::default();
    if cli.all_extensions {
        options = options.with_capabilities(Capabilities::all_extensions());
    }
    if cli.vendor_extensions {
        let caps = options.capabilities.union(Capabilities::vendor());
        options = options.with_capabilities(caps);
    }
    let program = match compile(&src, &options) {
        Ok(p) => p,
        Err(e) => {
            for d in e.diagnostics() {
                eprintln!(
                    "{}: line {}, column {}: error: {}",
                    cli.script.display(),
                    d.pos.line,
                    d.pos.column,
                    d.message
                );
            }
            eprintln!("sieve-test: failed to compile sieve script");
            return ExitCode::from(2);
        }
    };
    for w in program.warnings() {
        eprintln!(
            "{}: line {}: warning: {}",
            cli.script.display(),
            w.pos.line,
            w.message
        );
    }
    let from = cli.from.clone().map_or_else(
        || {
            header(&msg, "return-path")
                .or_else(|| header(&msg, "sender"))
                .or_else(|| header(&msg, "from"))
                .map(|v| bare(&v))
                .unwrap_or_default()
        },
        |f| bare(&f),
    );
    let to = cli.recipient.clone().map_or_else(
        || {
            header(&msg, "envelope-to")
                .or_else(|| header(&msg, "to"))
                .map_or_else(|| "recipient@example.com".to_string(), |v| bare(&v))
        },
        |r| bare(&r),
    );
    let mut envelope = Envelope::new(from, to);
    if let Some(o) = &cli.orig_recipient {
        envelope = envelope.with_orig_to(bare(o));
    }
    let mut ctx = Context::default();
    ctx.default_mailbox.clone_from(&cli.default_mailbox);
    ctx.now = cli.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
    });
    if let Some(u) = &cli.user {
        ctx.user_addresses = vec![bare(u)];
    }
    for e in &cli.env {
        if let Some((n, v)) = e.split_once('=') {
            ctx.environment
                .push((n.to_ascii_lowercase(), v.to_string()));
        }
    }
    let script_dir = cli.script.parent().map(PathBuf::from).unwrap_or_default();
    let mut rt = Runtime::new(&program, &msg, envelope, ctx);
    let mut asked = Vec::new();
    let outcome = loop {
        match rt.run() {
            Step::Done(o) => break o,
            Step::Question(q) => {
                let a = match &q {
                    Question::MailboxExists(m) => {
                        Answer::Bool(*m == cli.default_mailbox || cli.mailboxes.contains(m))
                    }
                    Question::Duplicate { id, .. } => {
                        asked.push(id.replace('\0', "|"));
                        Answer::Bool(cli.seen.iter().any(|s| *s == id.replace('\0', "|")))
                    }
                    Question::Include { name, location } => {
                        let dir = match location {
                            ScriptLocation::Global => {
                                cli.global_dir.clone().unwrap_or_else(|| script_dir.clone())
                            }
                            _ => script_dir.clone(),
                        };
                        match std::fs::read(dir.join(format!("{name}.sieve"))) {
                            Ok(s) => match compile(&s, &options) {
                                Ok(p) => Answer::Script(Arc::new(p)),
                                Err(e) => Answer::Error(e.to_string()),
                            },
                            Err(_) => Answer::NotFound,
                        }
                    }
                    // filter / execute (vendor extensions): this tool runs no program.
                    Question::Program(r) => {
                        eprintln!(
                            "sieve-test: info: not running external program '{}' ({})",
                            r.program,
                            r.kind.name()
                        );
                        Answer::Program(ProgramOutcome::Failed(
                            "sieve-test runs no external programs".into(),
                        ))
                    }
                    _ => Answer::Value(None),
                };
                rt.answer(a);
            }
            _ => unreachable!("two kinds of step"),
        }
    };
    for id in &asked {
        eprintln!("sieve-test: duplicate id: {id}");
    }
    for l in &outcome.log {
        eprintln!("sieve-test: info: {l}");
    }
    if let Some(e) = &outcome.error {
        eprintln!("sieve-test: error: {e}");
        eprintln!("sieve-test: final result: failed; resolved with successful implicit keep");
        return ExitCode::from(1);
    }
    let mut out = String::from("\nPerformed actions:\n\n");
    let explicit: Vec<&Action> = outcome
        .actions
        .iter()
        .filter(|a| !matches!(a, Action::Keep { implicit: true, .. }))
        .collect();
    if explicit.is_empty() {
        out.push_str("  (none)\n");
    }
    for a in &explicit {
        print_action(&mut out, a, &cli.default_mailbox);
    }
    out.push_str("\nImplicit keep:\n\n");
    match outcome
        .actions
        .iter()
        .find(|a| matches!(a, Action::Keep { implicit: true, .. }))
    {
        Some(a) => print_action(&mut out, a, &cli.default_mailbox),
        None => out.push_str("  (none)\n"),
    }
    out.push('\n');
    print!("{out}");
    eprintln!("sieve-test: final result: success");
    ExitCode::SUCCESS
}
