//! `sieve-check`: checks the syntax of Sieve scripts (like Pigeonhole's `sievec`, without
//! writing a binary).
//!
//! `sieve-check [--all-extensions] [--extensions "fileinto vacation ..."] SCRIPT...` compiles
//! each script and prints `SCRIPT: OK` (with warnings), or one line per error as
//! `SCRIPT:LINE:COLUMN: error: MESSAGE`. Exit status 0 when all compile, 1 otherwise, 2 on
//! usage or I/O errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sieve::{Capabilities, Capability, CompileOptions, compile};

#[derive(Parser)]
#[command(
    name = "sieve-check",
    about = "Check the syntax of Sieve scripts",
    version
)]
struct Cli {
    /// Allow every extension, `imapsieve` included (default: the delivery set).
    #[arg(long)]
    all_extensions: bool,
    /// Allow exactly these extensions (space separated names).
    #[arg(long, conflicts_with = "all_extensions")]
    extensions: Option<String>,
    /// Print the list of extensions this build supports and exit.
    #[arg(long)]
    list_extensions: bool,
    /// The scripts to check.
    scripts: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list_extensions {
        println!(
            "{}",
            Capabilities::all_extensions().to_sieve_capability_string()
        );
        return ExitCode::SUCCESS;
    }
    let mut options = CompileOptions::default();
    if cli.all_extensions {
        options = options.with_capabilities(Capabilities::all_extensions());
    }
    if let Some(list) = &cli.extensions {
        let mut caps = Capabilities::empty();
        for name in list.split_whitespace() {
            let Some(c) = Capability::from_name(name) else {
                eprintln!("sieve-check: unknown extension '{name}'");
                return ExitCode::from(2);
            };
            caps.insert(c);
        }
        options = options.with_capabilities(caps);
    }
    if cli.scripts.is_empty() {
        eprintln!("sieve-check: no script given (see --help)");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for path in &cli.scripts {
        let src = match std::fs::read(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sieve-check: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        match compile(&src, &options) {
            Ok(program) => {
                for w in program.warnings() {
                    println!(
                        "{}:{}:{}: warning: {}",
                        path.display(),
                        w.pos.line,
                        w.pos.column,
                        w.message
                    );
                }
                println!("{}: OK", path.display());
            }
            Err(e) => {
                failed = true;
                for d in e.diagnostics() {
                    println!(
                        "{}:{}:{}: error: {}",
                        path.display(),
                        d.pos.line,
                        d.pos.column,
                        d.message
                    );
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
