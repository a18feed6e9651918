//! `deliver`: a local delivery agent built on the `maildir` crate.
//!
//! ```text
//! deliver --maildir DIR [--folder NAME [--create]] [--return-path ADDR]
//!         [--delivered-to ADDR] [--quota-bytes N] [--quota-messages N] [-v] < message
//! ```
//!
//! Reads one message on standard input and delivers it into the Maildir `DIR` (created when
//! missing), reporting success only once the message and its directory entry are on disk.
//! Exit codes follow `sysexits.h`, as Postfix, Exim and sendmail expect of a local
//! delivery agent:
//!
//! | code | when |
//! |---|---|
//! | 0 | delivered |
//! | 64 `EX_USAGE` | bad arguments |
//! | 73 `EX_CANTCREAT` | permanent: message larger than `--max-size`, or over quota with `--quota-permanent` |
//! | 75 `EX_TEMPFAIL` | temporary: disk full, over quota, lock timeout, other I/O errors (the MTA retries) |
//! | 77 `EX_NOPERM` | permission denied |
//!
//! With Postfix's local(8): `mailbox_command = /usr/local/bin/deliver --maildir "$HOME/Maildir"`
//! (Postfix adds `Delivered-To:` itself; pass `--return-path "$SENDER"` to record the
//! envelope sender). A leading mbox `From ` line is dropped. A `--folder` that does not exist
//! is created with `--create`; otherwise the message goes to INBOX, so that no mail is lost
//! to a typo. Sieve filtering comes once the `sieve` crate has an interpreter.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use maildir::quota::QuotaLimits;
use maildir::{Error, Maildir, Options};

const EX_USAGE: u8 = 64;
const EX_CANTCREAT: u8 = 73;
const EX_TEMPFAIL: u8 = 75;
const EX_NOPERM: u8 = 77;

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
    /// Print the delivered file's path.
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

fn run(cli: &Cli) -> Result<String, Error> {
    let mut opts = Options::default();
    opts.max_message_size(cli.max_size);
    if cli.quota_bytes.is_some() || cli.quota_messages.is_some() {
        opts.quota(Some(QuotaLimits {
            bytes: cli.quota_bytes,
            messages: cli.quota_messages,
        }));
    }
    let md = Maildir::open(&cli.maildir, opts)?;
    let folder = match &cli.folder {
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
    let body = SkipFromLine::new(io::stdin().lock()).map_err(|e| Error::Io {
        op: "read message",
        path: "<stdin>".into(),
        source: e,
    })?;
    let delivered = folder.deliver(prefix.as_bytes().chain(body))?;
    // Stale tmp/ files (crashed deliveries older than 36 hours) go on the way out.
    let _ = folder.clean_tmp();
    Ok(delivered.path.display().to_string())
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
        Ok(path) => {
            if cli.verbose {
                println!("{path}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = exit_code(&e, cli.quota_permanent);
            eprintln!("deliver: {e}");
            ExitCode::from(code)
        }
    }
}
