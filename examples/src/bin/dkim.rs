//! `dkim`: DKIM tools built on `mail-auth-core`.
//!
//! `dkim canon [--header relaxed|simple] [--body relaxed|simple] [--length N] [FILE]` prints
//! the canonical header fields and body of a message and the base64 SHA-256 body hash that
//! a `bh=` tag would carry: the first thing to compare when a signature fails with a body
//! hash mismatch.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};
use mail_auth_core::dkim::canon::{self, BodyCanonicalizer, Canonicalization};

#[derive(Parser)]
#[command(name = "dkim", about = "DKIM tools", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the canonical form of a message and its body hash.
    Canon {
        /// Header canonicalization.
        #[arg(long, value_enum, default_value_t = Canon::Relaxed)]
        header: Canon,
        /// Body canonicalization.
        #[arg(long, value_enum, default_value_t = Canon::Relaxed)]
        body: Canon,
        /// Hash only this many canonical body octets (the l= tag).
        #[arg(long)]
        length: Option<u64>,
        /// Only print the body hash.
        #[arg(long)]
        hash_only: bool,
        /// The message (default: standard input).
        file: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Canon {
    Relaxed,
    Simple,
}

impl From<Canon> for Canonicalization {
    fn from(c: Canon) -> Self {
        match c {
            Canon::Relaxed => Self::Relaxed,
            Canon::Simple => Self::Simple,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Canon {
            header,
            body,
            length,
            hash_only,
            file,
        } => {
            let msg = match examples::read_input(file.as_deref()) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("dkim: cannot read message: {e}");
                    return ExitCode::from(66);
                }
            };
            let (head, body_bytes) = examples::split_message(&msg);
            let mut canonical = Vec::new();
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            let mut bc = match length {
                Some(l) => BodyCanonicalizer::with_limit(body.into(), l),
                None => BodyCanonicalizer::new(body.into()),
            };
            bc.update(body_bytes, &mut canonical);
            bc.finish(&mut canonical);
            ctx.update(&canonical);
            let bh = base64::engine::general_purpose::STANDARD.encode(ctx.finish());
            if !hash_only {
                let mut out = Vec::new();
                for (name, value) in examples::header_fields(head) {
                    canon::header(header.into(), name, value, &mut out);
                }
                println!("--- canonical header fields");
                print!("{}", String::from_utf8_lossy(&out));
                println!("--- canonical body ({} octets)", bc.canonical_len());
                print!("{}", String::from_utf8_lossy(&canonical));
                println!("---");
            }
            println!("bh={bh}");
            ExitCode::SUCCESS
        }
    }
}
