//! `deliver`: a local delivery agent built on the `maildir` crate, with Sieve filtering from
//! the `sieve` crate.
//!
//! ```text
//! deliver --maildir DIR [--folder NAME [--create]] [--sieve FILE | --sieve-dir DIR]
//!         [--return-path ADDR] [--delivered-to ADDR] [--sender ADDR] [--recipient ADDR]
//!         [--quota-bytes N] [--quota-messages N] [--quota-permanent] [--max-size N] [-v]
//!         < message
//! ```
//!
//! Reads one message on standard input and delivers it into the Maildir `DIR` (created when
//! missing), reporting success only once the message and its directory entry are on disk.
//! Exit codes follow `sysexits.h`, as Postfix, Exim and sendmail expect of a local
//! delivery agent:
//!
//! | code | when |
//! |---|---|
//! | 0 | delivered (or discarded by the Sieve script) |
//! | 64 `EX_USAGE` | bad arguments |
//! | 73 `EX_CANTCREAT` | permanent: message larger than `--max-size`, or over quota with `--quota-permanent` |
//! | 75 `EX_TEMPFAIL` | temporary: disk full, over quota, lock timeout, other I/O errors (the MTA retries) |
//! | 77 `EX_NOPERM` | permission denied; or the Sieve script rejected the message (`reject`/`ereject`, RFC 5429): the reason is on standard error, which the MTA puts in its bounce (Dovecot's `dovecot-lda -e` does the same) |
//!
//! With Postfix's local(8):
//! `mailbox_command = /usr/local/bin/deliver --maildir "$HOME/Maildir" --sender "$SENDER" --recipient "$RECIPIENT"`
//! (local(8) adds `Return-Path:` and `Delivered-To:` itself and exports `SENDER` and
//! `RECIPIENT`; `--sender`/`--recipient` give the Sieve envelope without adding header
//! fields, while `--return-path`/`--delivered-to` also prepend the fields, for MTAs that do
//! not). A leading mbox `From ` line is dropped. A `--folder` that does not exist is
//! created with `--create`; otherwise the message goes to INBOX, so that no mail is lost to
//! a typo.
//!
//! # Sieve
//!
//! With `--sieve FILE` (a script file; `include :personal "x"` reads `x.sieve` beside it)
//! or `--sieve-dir DIR` (the ManageSieve script store the reference server keeps in
//! `HOME/sieve`: its active script, if any), the script decides where the message goes:
//!
//! | action | what `deliver` does |
//! |---|---|
//! | `keep`, implicit keep | the `--folder` (or INBOX), with `imap4flags` flags |
//! | `fileinto` | that Maildir++ folder, created (and subscribed) when missing, whether or not `:create` was given; `:specialuse` picks the folder with that attribute; an invalid name goes to INBOX |
//! | `addflag`/`setflag`, `:flags` | `\Seen` `\Answered` `\Flagged` `\Deleted` `\Draft` become the Maildir letters, other flags Dovecot-compatible keywords |
//! | `discard` | nothing stored, exit 0 |
//! | `reject`, `ereject` | exit 77 with the reason on standard error (refused through the MTA) |
//! | `redirect` | `deliver` has no outbound mail path: not sent, said on standard error; without `:copy` the message is kept instead, so it is never lost (RFC 5228 §2.10.6 spirit) |
//! | `vacation`, `notify` | not sent (no outbound path), said on standard error; an `:fcc` copy is stored |
//! | `editheader`, `replace`, `enclose` | stored as edited |
//!
//! A script that does not compile, or fails at run time, leaves the implicit keep
//! (RFC 5228 §2.10.6), with the error on standard error; the exit code stays 0 because the
//! message was delivered. `duplicate` (RFC 7352) and vacation tracking ids are kept in
//! `sieve-duplicates` (the reference server's format): beside the `--sieve-dir` store, in the
//! account home, or in the Maildir with `--sieve FILE`. When a message goes to several
//! folders and a later store fails temporarily, the exit is 75 and the MTA's retry stores
//! the earlier copies again.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use examples::server::{dupstore, trace};
use maildir::quota::QuotaLimits;
use maildir::{Error, FlagSet, Folder, Maildir, Options};
use sieve::managesieve::ScriptName;
use sieve::managesieve::store::FsScriptStore;
use sieve::runtime::ScriptLocation;
use sieve::{Action, Answer, CompileOptions, Context, Envelope, Program, Question, Runtime, Step};

const EX_USAGE: u8 = 64;
const EX_CANTCREAT: u8 = 73;
const EX_TEMPFAIL: u8 = 75;
const EX_NOPERM: u8 = 77;

/// How a delivery ended, when it did not fail.
enum Done {
    /// Stored: the files' paths.
    Stored(Vec<PathBuf>),
    /// The Sieve script discarded the message.
    Discarded,
    /// The Sieve script rejected the message with this reason.
    Rejected(String),
}

#[derive(Parser)]
#[command(
    name = "deliver",
    about = "Deliver a message from standard input into a Maildir",
    version
)]
struct Cli {
    /// The Maildir (INBOX root); created when missing.
    #[arg(long)]
    maildir: PathBuf,
    /// Deliver into this Maildir++ folder (`.` separates levels, e.g. `Lists.rust`).
    #[arg(long)]
    folder: Option<String>,
    /// Create the folder when it does not exist (Sieve `fileinto :create`).
    #[arg(long, requires = "folder")]
    create: bool,
    /// Prepend `Return-Path: <ADDR>` (the envelope sender).
    #[arg(long, value_name = "ADDR")]
    return_path: Option<String>,
    /// Prepend `Delivered-To: ADDR` (the final recipient).
    #[arg(long, value_name = "ADDR")]
    delivered_to: Option<String>,
    /// Quota limit in bytes (overrides the `maildirsize` header).
    #[arg(long)]
    quota_bytes: Option<u64>,
    /// Quota limit in messages (overrides the `maildirsize` header).
    #[arg(long)]
    quota_messages: Option<u64>,
    /// Bounce (exit 73) instead of deferring (exit 75) when over quota.
    #[arg(long)]
    quota_permanent: bool,
    /// The largest message accepted, in bytes.
    #[arg(long, default_value_t = 256 << 20)]
    max_size: u64,
    /// Filter through this Sieve script (RFC 5228 and extensions).
    #[arg(long, value_name = "FILE", conflicts_with = "sieve_dir")]
    sieve: Option<PathBuf>,
    /// Filter through the active script of this ManageSieve script store (`HOME/sieve`
    /// of the reference server); no active script means no filtering.
    #[arg(long, value_name = "DIR")]
    sieve_dir: Option<PathBuf>,
    /// The envelope sender for Sieve (default: `--return-path`); adds no header field.
    #[arg(long, value_name = "ADDR")]
    sender: Option<String>,
    /// The envelope recipient for Sieve (default: `--delivered-to`); adds no header field.
    #[arg(long, value_name = "ADDR")]
    recipient: Option<String>,
    /// Print the delivered file's path (one line per copy), or what happened instead.
    #[arg(short, long)]
    verbose: bool,
}

/// Standard input with a leading mbox `From ` line removed.
struct SkipFromLine<R> {
    inner: R,
    head: Vec<u8>,
    pos: usize,
}

impl<R: Read> SkipFromLine<R> {
    fn new(mut inner: R) -> io::Result<Self> {
        // Read enough to see the first line (bounded: a "From " line is short).
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.contains(&b'\n') && head.len() < 8192 {
            let n = inner.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let pos = if head.starts_with(b"From ") {
            head.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1)
        } else {
            0
        };
        Ok(Self { inner, head, pos })
    }
}

impl<R: Read> Read for SkipFromLine<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = out.len().min(self.head.len() - self.pos);
            out[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(out)
    }
}

/// A header value must not be able to inject another field.
fn clean(v: &str) -> String {
    v.chars().filter(|c| !c.is_control()).collect()
}

fn exit_code(e: &Error, quota_permanent: bool) -> u8 {
    match e {
        Error::QuotaExceeded { .. } if quota_permanent => EX_CANTCREAT,
        Error::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => EX_NOPERM,
        e if e.is_temporary() => EX_TEMPFAIL,
        Error::MessageTooLarge { .. } => EX_CANTCREAT,
        Error::InvalidFolderName { .. } => EX_USAGE,
        // Anything else: let the MTA retry rather than bounce.
        _ => EX_TEMPFAIL,
    }
}

fn read_error(e: io::Error) -> Error {
    Error::Io {
        op: "read message",
        path: "<stdin>".into(),
        source: e,
    }
}

fn run(cli: &Cli) -> Result<Done, Error> {
    let mut opts = Options::default();
    opts.max_message_size(cli.max_size);
    if cli.quota_bytes.is_some() || cli.quota_messages.is_some() {
        opts.quota(Some(QuotaLimits {
            bytes: cli.quota_bytes,
            messages: cli.quota_messages,
        }));
    }
    let md = Maildir::open(&cli.maildir, opts)?;
    let keep_folder = match &cli.folder {
        None => md.inbox()?,
        Some(name) => match md.folder(name) {
            Ok(f) => f,
            Err(Error::NoSuchFolder(_)) if cli.create => match md.create_folder(name) {
                Ok(f) => f,
                Err(Error::FolderExists(_)) => md.folder(name)?,
                Err(e) => return Err(e),
            },
            Err(Error::NoSuchFolder(_)) => {
                eprintln!("deliver: folder {name:?} does not exist; delivering to INBOX");
                md.inbox()?
            }
            Err(e) => return Err(e),
        },
    };
    let mut prefix = String::new();
    if let Some(rp) = &cli.return_path {
        let _ = writeln!(prefix, "Return-Path: <{}>", clean(rp));
    }
    if let Some(dt) = &cli.delivered_to {
        let _ = writeln!(prefix, "Delivered-To: {}", clean(dt));
    }
    let body = SkipFromLine::new(io::stdin().lock()).map_err(read_error)?;
    let script = match load_script(cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("deliver: {e}; keeping the message");
            None
        }
    };
    let Some((program, include_dir)) = script else {
        let delivered = keep_folder.deliver(prefix.as_bytes().chain(body))?;
        // Stale tmp/ files (crashed deliveries older than 36 hours) go on the way out.
        let _ = keep_folder.clean_tmp();
        return Ok(Done::Stored(vec![delivered.path]));
    };
    // Sieve needs the whole message; read it within the size limit.
    let mut message = prefix.into_bytes();
    let limit = cli.max_size.saturating_add(1);
    body.take(limit)
        .read_to_end(&mut message)
        .map_err(read_error)?;
    if message.len() as u64 > cli.max_size {
        return Err(Error::MessageTooLarge {
            limit: cli.max_size,
        });
    }
    let outcome = run_script(cli, &md, &program, include_dir.as_ref(), &message);
    let duplicates: Vec<(String, u64)> = outcome
        .duplicates
        .iter()
        .map(|d| (d.id.clone(), d.period))
        .collect();
    let done = carry_out(&md, &keep_folder, outcome, message)?;
    // Tracking ids only once the actions were carried out (RFC 7352 §3.1).
    if !duplicates.is_empty()
        && let Err(e) = dupstore::record(&tracking_home(cli), &duplicates, now_secs())
    {
        eprintln!("deliver: sieve: cannot record tracking ids: {e}");
    }
    Ok(done)
}

/// The script to run and the directory its personal includes come from: `Ok(None)` when
/// there is none, `Err` when it cannot be used (the caller keeps the message).
fn load_script(cli: &Cli) -> Result<Option<(Program, Option<Include>)>, String> {
    let options = CompileOptions::default();
    if let Some(file) = &cli.sieve {
        let src =
            std::fs::read(file).map_err(|e| format!("sieve script {}: {e}", file.display()))?;
        let program = sieve::compile(&src, &options)
            .map_err(|e| format!("sieve script {}: {e}", file.display()))?;
        let dir = file.parent().map(|d| Include::Dir(d.to_path_buf()));
        return Ok(Some((program, dir)));
    }
    let Some(dir) = &cli.sieve_dir else {
        return Ok(None);
    };
    let store =
        FsScriptStore::open(dir).map_err(|e| format!("sieve store {}: {e}", dir.display()))?;
    let Some(name) = store
        .active()
        .map_err(|e| format!("sieve store {}: {e:?}", dir.display()))?
    else {
        return Ok(None);
    };
    let src = store
        .get(&name)
        .map_err(|e| format!("sieve script {name:?}: {e:?}"))?;
    let program =
        sieve::compile(&src, &options).map_err(|e| format!("sieve script {name:?}: {e}"))?;
    Ok(Some((program, Some(Include::Store(dir.clone())))))
}

/// Where `include :personal` finds scripts.
enum Include {
    /// `NAME.sieve` in this directory (beside a `--sieve` file).
    Dir(PathBuf),
    /// A ManageSieve script store.
    Store(PathBuf),
}

fn include(from: Option<&Include>, name: &str) -> Answer {
    let Ok(n) = ScriptName::new(name) else {
        return Answer::NotFound;
    };
    let src = match from {
        // A plain file name beside the script, nothing that leaves its directory.
        Some(Include::Dir(d)) if !name.contains('/') && !name.starts_with('.') => {
            std::fs::read(d.join(format!("{name}.sieve"))).ok()
        }
        Some(Include::Dir(_)) | None => None,
        Some(Include::Store(d)) => FsScriptStore::open(d).ok().and_then(|s| s.get(&n).ok()),
    };
    match src {
        Some(src) => match sieve::compile(&src, &CompileOptions::default()) {
            Ok(p) => Answer::Script(Arc::new(p)),
            Err(e) => Answer::Error(e.to_string()),
        },
        None => Answer::NotFound,
    }
}

/// Where the `duplicate`/vacation tracking ids live (`sieve-duplicates`, the reference
/// server's file): beside a `--sieve-dir` store (its parent is the server's account home),
/// else in the Maildir itself.
fn tracking_home(cli: &Cli) -> PathBuf {
    cli.sieve_dir
        .as_deref()
        .and_then(std::path::Path::parent)
        .map_or_else(|| cli.maildir.clone(), std::path::Path::to_path_buf)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn run_script(
    cli: &Cli,
    md: &Maildir,
    program: &Program,
    includes: Option<&Include>,
    message: &[u8],
) -> sieve::Outcome {
    let sender = cli
        .sender
        .as_deref()
        .or(cli.return_path.as_deref())
        .unwrap_or("");
    let recipient = cli
        .recipient
        .as_deref()
        .or(cli.delivered_to.as_deref())
        .unwrap_or("");
    let mut ctx = Context::default();
    if !recipient.is_empty() {
        ctx.user_addresses = vec![recipient.to_string()];
    }
    ctx.now = i64::try_from(now_secs()).unwrap_or(0);
    let mut rt = Runtime::new(program, message, Envelope::new(sender, recipient), ctx);
    loop {
        match rt.run() {
            Step::Done(o) => return o,
            Step::Question(q) => {
                let a = match &q {
                    Question::MailboxExists(name) => Answer::Bool(md.folder(name).is_ok()),
                    Question::SpecialUseExists {
                        mailbox,
                        special_use,
                    } => Answer::Bool(md.list_folders().unwrap_or_default().into_iter().any(|f| {
                        f.special_use
                            .is_some_and(|s| s.attribute().eq_ignore_ascii_case(special_use))
                            && mailbox.as_ref().is_none_or(|m| *m == f.name)
                    })),
                    Question::Duplicate { id, .. } => {
                        Answer::Bool(dupstore::seen(&tracking_home(cli), id, now_secs()))
                    }
                    Question::Include {
                        name,
                        location: ScriptLocation::Personal,
                    } => include(includes, name),
                    Question::Include { .. } => Answer::NotFound,
                    _ => Answer::Value(None),
                };
                rt.answer(a);
            }
            _ => {
                eprintln!("deliver: sieve: unexpected runtime step; keeping the message");
                return sieve::Outcome {
                    actions: vec![Action::Keep {
                        flags: Vec::new(),
                        implicit: true,
                        headers: None,
                    }],
                    duplicates: Vec::new(),
                    error: None,
                    log: Vec::new(),
                };
            }
        }
    }
}

/// One copy to store: folder (`None`: the keep folder), flags, `fileinto :create`, and its
/// own bytes when an action changed the message.
struct Target {
    folder: Option<String>,
    flags: Vec<String>,
    bytes: Option<Vec<u8>>,
}

fn split_header(msg: &[u8]) -> &[u8] {
    let body_at = |sep: &[u8]| {
        msg.windows(sep.len())
            .position(|w| w == sep)
            .map(|i| i + sep.len())
    };
    let at = body_at(b"\r\n\r\n")
        .or_else(|| body_at(b"\n\n"))
        .unwrap_or(msg.len());
    &msg[at..]
}

/// The message an action carries: its edited header block (ending with the empty line)
/// on the body, or the message itself.
fn edited(msg: &[u8], headers: Option<&Arc<[u8]>>) -> Option<Vec<u8>> {
    headers.map(|h| {
        let body = split_header(msg);
        let mut v = Vec::with_capacity(h.len() + body.len());
        v.extend_from_slice(h);
        v.extend_from_slice(body);
        v
    })
}

fn carry_out(
    md: &Maildir,
    keep_folder: &Folder,
    outcome: sieve::Outcome,
    mut message: Vec<u8>,
) -> Result<Done, Error> {
    if let Some(e) = &outcome.error {
        eprintln!("deliver: sieve: {e}; implicit keep");
    }
    for l in &outcome.log {
        eprintln!("deliver: sieve: {l}");
    }
    let mut targets: Vec<Target> = Vec::new();
    let mut rejected = None;
    let mut keep_instead = false;
    for action in outcome.actions {
        match action {
            Action::Keep { flags, headers, .. } => targets.push(Target {
                folder: None,
                flags,
                bytes: edited(&message, headers.as_ref()),
            }),
            Action::FileInto {
                mailbox,
                flags,
                special_use,
                headers,
                ..
            } => {
                let folder = special_use
                    .and_then(|su| special_use_folder(md, &su))
                    .unwrap_or(mailbox);
                targets.push(Target {
                    folder: Some(folder),
                    flags,
                    bytes: edited(&message, headers.as_ref()),
                });
            }
            Action::Discard => {}
            Action::Reject { reason, .. } => rejected = Some(reason),
            Action::Redirect { address, copy, .. } => {
                if copy {
                    eprintln!(
                        "deliver: sieve: redirect to <{address}> not sent: deliver has no outbound mail path"
                    );
                } else {
                    eprintln!(
                        "deliver: sieve: redirect to <{address}> not sent: deliver has no outbound mail path; keeping the message instead"
                    );
                    keep_instead = true;
                }
            }
            Action::Vacation { message: out, fcc }
            | Action::Notify {
                message: out, fcc, ..
            } => {
                eprintln!(
                    "deliver: sieve: automatic reply to {:?} not sent: deliver has no outbound mail path",
                    out.envelope_to
                );
                if let Some(f) = fcc {
                    let now = SystemTime::now();
                    let bytes = out.to_bytes(
                        &trace::rfc5322_date(now),
                        &format!("<{}.{}@deliver>", now_secs(), std::process::id()),
                    );
                    let folder = f
                        .special_use
                        .and_then(|su| special_use_folder(md, &su))
                        .unwrap_or(f.mailbox);
                    targets.push(Target {
                        folder: Some(folder),
                        flags: f.flags,
                        bytes: Some(bytes),
                    });
                }
            }
            Action::ReplaceMessage { message: new } => message = new.to_vec(),
            Action::Error { message: m } => eprintln!("deliver: sieve: error: {m}"),
            _ => {}
        }
    }
    if keep_instead && !targets.iter().any(|t| t.folder.is_none()) {
        targets.push(Target {
            folder: None,
            flags: Vec::new(),
            bytes: None,
        });
    }
    if targets.is_empty() {
        return Ok(rejected.map_or(Done::Discarded, Done::Rejected));
    }
    if rejected.is_some() {
        eprintln!("deliver: sieve: reject together with a delivery: the message was delivered");
    }
    let mut stored = Vec::new();
    for t in &targets {
        let folder = match &t.folder {
            None => keep_folder.clone(),
            Some(name) => resolve_folder(md, name)?,
        };
        let bytes = t.bytes.as_deref().unwrap_or(&message);
        let path = if t.flags.is_empty() {
            folder.deliver(bytes)?.path
        } else {
            let mut fs = FlagSet::new();
            for f in &t.flags {
                fs.insert_imap(f);
            }
            let uid = folder.append(bytes, &fs, None)?;
            folder
                .message(uid)?
                .map_or_else(|| folder.path().to_path_buf(), |m| m.path)
        };
        let _ = folder.clean_tmp();
        stored.push(path);
    }
    Ok(Done::Stored(stored))
}

/// The folder for a `fileinto`: as named, created (and subscribed) when missing; INBOX
/// for a name this store cannot hold.
fn resolve_folder(md: &Maildir, name: &str) -> Result<Folder, Error> {
    match md.folder(name) {
        Ok(f) => Ok(f),
        Err(Error::NoSuchFolder(_)) => match md.create_folder(name) {
            Ok(f) => {
                let _ = md.subscribe(name);
                Ok(f)
            }
            Err(Error::FolderExists(_)) => md.folder(name),
            Err(e @ Error::InvalidFolderName { .. }) => {
                eprintln!("deliver: sieve: fileinto {name:?}: {e}; delivering to INBOX");
                md.inbox()
            }
            Err(e) => Err(e),
        },
        Err(e @ Error::InvalidFolderName { .. }) => {
            eprintln!("deliver: sieve: fileinto {name:?}: {e}; delivering to INBOX");
            md.inbox()
        }
        Err(e) => Err(e),
    }
}

fn special_use_folder(md: &Maildir, attribute: &str) -> Option<String> {
    md.list_folders()
        .ok()?
        .into_iter()
        .find(|f| {
            f.special_use
                .is_some_and(|s| s.attribute().eq_ignore_ascii_case(attribute))
        })
        .map(|f| f.name)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EX_USAGE } else { 0 });
        }
    };
    match run(&cli) {
        Ok(Done::Stored(paths)) => {
            if cli.verbose {
                for p in paths {
                    println!("{}", p.display());
                }
            }
            ExitCode::SUCCESS
        }
        Ok(Done::Discarded) => {
            if cli.verbose {
                println!("discarded by the sieve script");
            }
            ExitCode::SUCCESS
        }
        Ok(Done::Rejected(reason)) => {
            eprintln!("{}", clean(&reason));
            ExitCode::from(EX_NOPERM)
        }
        Err(e) => {
            let code = exit_code(&e, cli.quota_permanent);
            eprintln!("deliver: {e}");
            ExitCode::from(code)
        }
    }
}
