//! `mail-server`: the reference mail server (MX, submission, IMAP, ManageSieve over Maildir
//! with Sieve), built only from the crate family. See `examples::server` for the pieces.
//!
//! ```text
//! mail-server                                   run on the embedded defaults (loopback)
//! mail-server --config FILE                     run with a configuration file
//! mail-server init [FILE]                       write a commented example configuration
//! mail-server user add ADDRESS [--password PW]  add an account (password prompted if omitted)
//! mail-server user list | user del ADDRESS | user passwd ADDRESS
//! mail-server hash-password [--scheme S]        print a {SCHEME} hash for a configuration
//! mail-server check-config                      validate and show what differs from the defaults
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use examples::server::config::{self, Config, Service as ServiceKind, TlsMode};
use examples::server::directory::{self, Accounts, Directory};
use examples::server::password::{self, Scheme};
use examples::server::runtime::{self, Server, Shared};
use examples::server::types::{Address, ByteSize};
use examples::server::users::{self, User};

#[derive(Parser)]
#[command(
    name = "mail-server",
    version,
    about = "A small, complete mail server: MX, submission, IMAP and ManageSieve over Maildir with Sieve",
    long_about = None
)]
struct Cli {
    /// Configuration file (TOML). Without it the embedded defaults apply: loopback only,
    /// data under ./mail-data/.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Run,
    /// Write a commented example configuration (every value is the default).
    Init {
        /// Where to write it.
        #[arg(default_value = "mail-server.toml")]
        file: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Manage accounts in the users file.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print a password hash ({ARGON2ID} by default) for the configuration's [[users]].
    HashPassword {
        /// ARGON2ID, BLF-CRYPT, SHA512-CRYPT or PLAIN (tests only).
        #[arg(long, short = 's', default_value = "ARGON2ID")]
        scheme: String,
        /// The password; prompted (or read from standard input) when omitted.
        #[arg(long, short = 'p')]
        password: Option<String>,
    },
    /// Check the configuration and the users file, and print what differs from the
    /// defaults.
    CheckConfig,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an account.
    Add {
        /// The address, which is also the login name.
        address: String,
        /// The password; prompted (or read from standard input) when omitted. Beware:
        /// on the command line it is visible in the process list and shell history.
        #[arg(long, short = 'p')]
        password: Option<String>,
        /// Add a delivery-only account that cannot log in.
        #[arg(long, conflicts_with = "password")]
        no_login: bool,
        /// Storage quota, e.g. 2G.
        #[arg(long)]
        quota: Option<String>,
        /// Hash scheme: ARGON2ID, BLF-CRYPT, SHA512-CRYPT or PLAIN (tests only).
        #[arg(long, short = 's', default_value = "ARGON2ID")]
        scheme: String,
    },
    /// List the accounts.
    List,
    /// Delete an account (its mail stays on disk).
    Del {
        /// The address.
        address: String,
    },
    /// Change an account's password.
    Passwd {
        /// The address.
        address: String,
        /// The new password; prompted when omitted.
        #[arg(long, short = 'p')]
        password: Option<String>,
        /// Hash scheme.
        #[arg(long, short = 's', default_value = "ARGON2ID")]
        scheme: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mail-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::embedded()),
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => serve(cli.config.as_deref()),
        Command::Init { file, force } => init(&file, force),
        Command::User { command } => user(cli.config.as_deref(), command),
        Command::HashPassword { scheme, password } => {
            let scheme = parse_scheme(&scheme)?;
            let pw = obtain_password(password, "Password: ")?;
            println!("{}", password::hash(scheme, &pw));
            Ok(())
        }
        Command::CheckConfig => check_config(cli.config.as_deref()),
    }
}

fn parse_scheme(s: &str) -> Result<Scheme, String> {
    Scheme::from_name(s).ok_or_else(|| {
        format!("unknown scheme {s}: use ARGON2ID, BLF-CRYPT, SHA512-CRYPT or PLAIN")
    })
}

/// The password from the option, else prompted on the terminal with echo off, else the
/// first line of standard input.
fn obtain_password(given: Option<String>, prompt: &str) -> Result<String, String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        // Echo off through stty(1): no unsafe termios calls here.
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.map_err(|e| format!("reading the password: {e}"))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err("empty password (use --no-login for a delivery-only account)".into());
    }
    Ok(pw)
}

fn init(file: &Path, force: bool) -> Result<(), String> {
    if file.exists() && !force {
        return Err(format!(
            "{} exists (use --force to overwrite)",
            file.display()
        ));
    }
    std::fs::write(file, config::EXAMPLE).map_err(|e| format!("{}: {e}", file.display()))?;
    println!(
        "wrote {}; start with: mail-server --config {}",
        file.display(),
        file.display()
    );
    Ok(())
}

fn user(config_path: Option<&Path>, cmd: UserCommand) -> Result<(), String> {
    let cfg = load_config(config_path)?;
    let file = cfg.users_file();
    match cmd {
        UserCommand::Add {
            address,
            password,
            no_login,
            quota,
            scheme,
        } => {
            let address: Address = address.parse()?;
            let quota = quota
                .map(|q| q.parse::<ByteSize>().map(|b| b.0))
                .transpose()?;
            let hash = if no_login {
                String::new()
            } else {
                let scheme = parse_scheme(&scheme)?;
                let pw = obtain_password(password, &format!("Password for {address}: "))?;
                password::hash(scheme, &pw)
            };
            let new = User {
                address: address.clone(),
                password: hash,
                quota,
            };
            // Build the directory as it will be, so a clash with the configuration's
            // users shows now rather than at the next start.
            let mut all = users::load(&file).map_err(|e| e.to_string())?;
            all.push(new.clone());
            Directory::build(&cfg, all)?;
            users::add(&file, &new).map_err(|e| e.to_string())?;
            let local = cfg.local_domains();
            println!("added {address} to {}", file.display());
            if !local.iter().any(|d| d.as_str() == address.domain()) {
                println!(
                    "note: {} is not in `domains`; it is local now because this account is in it",
                    address.domain()
                );
            }
            Ok(())
        }
        UserCommand::List => {
            let dir = Directory::build(&cfg, users::load(&file).map_err(|e| e.to_string())?)?;
            for a in dir.accounts() {
                println!("{}", directory::describe(a));
            }
            Ok(())
        }
        UserCommand::Del { address } => {
            let address: Address = address.parse()?;
            users::remove(&file, &address).map_err(|e| e.to_string())?;
            println!(
                "deleted {address}; its mail stays in {}",
                directory::home_of(&cfg.data_dir(), &address).display()
            );
            Ok(())
        }
        UserCommand::Passwd {
            address,
            password,
            scheme,
        } => {
            let address: Address = address.parse()?;
            let scheme = parse_scheme(&scheme)?;
            let pw = obtain_password(password, &format!("New password for {address}: "))?;
            users::set_password(&file, &address, &password::hash(scheme, &pw))
                .map_err(|e| e.to_string())?;
            println!("password of {address} changed");
            Ok(())
        }
    }
}

fn check_config(path: Option<&Path>) -> Result<(), String> {
    let cfg = load_config(path)?;
    let accounts = Accounts::new(Arc::new(cfg.clone()))?;
    let dir = accounts.snapshot();
    println!(
        "configuration OK: {} accounts, domains {:?}",
        dir.accounts().len(),
        dir.domains()
    );
    let defaults = Config::default();
    let mut diffs = Vec::new();
    if cfg.hostname != defaults.hostname {
        diffs.push(format!("hostname = {}", cfg.hostname));
    }
    if cfg.domains.is_some() {
        diffs.push(format!("domains = {:?}", cfg.local_domains()));
    }
    if cfg.data_dir != defaults.data_dir {
        diffs.push(format!("data_dir = {}", cfg.data_dir.display()));
    }
    if cfg.listeners() != config::default_listeners() {
        for (n, l) in cfg.listeners() {
            diffs.push(format!(
                "listeners.{n} = {} {} {:?}",
                l.service, l.address, l.tls
            ));
        }
    }
    if cfg.tls != defaults.tls {
        diffs.push(format!("tls = {:?}", cfg.tls));
    }
    if cfg.auth != defaults.auth {
        diffs.push(format!("auth = {:?}", cfg.auth));
    }
    if !cfg.aliases.is_empty() {
        diffs.push(format!("aliases: {}", cfg.aliases.len()));
    }
    if cfg.limits != defaults.limits {
        diffs.push(format!("limits = {:?}", cfg.limits));
    }
    if cfg.checks != defaults.checks {
        diffs.push(format!("checks = {:?}", cfg.checks));
    }
    if cfg.log != defaults.log {
        diffs.push(format!("log.level = {}", cfg.log.level.0));
    }
    if diffs.is_empty() {
        println!("no differences from the defaults");
    } else {
        println!("non-default settings:");
        for d in diffs {
            println!("  {d}");
        }
    }
    Ok(())
}

fn serve(config_path: Option<&Path>) -> Result<(), String> {
    let cfg = load_config(config_path)?;
    runtime::init_logging(&cfg.log.level.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async move {
        std::fs::create_dir_all(cfg.data_dir())
            .map_err(|e| format!("{}: {e}", cfg.data_dir().display()))?;
        let shared = Shared::new(cfg)?;
        let server = Server::start(
            Arc::clone(&shared),
            &examples::server::services(),
            config_path.map(Path::to_path_buf),
        )
        .await?;
        print_banner(&shared, server.bound(), config_path);
        server
            .run_until_signalled(Duration::from_secs(30))
            .await
            .map_err(|e| format!("signals: {e}"))?;
        Ok(())
    })
}

fn print_banner(
    shared: &Shared,
    bound: &BTreeMap<String, std::net::SocketAddr>,
    config_path: Option<&Path>,
) {
    let cfg = shared.config();
    let listeners = cfg.listeners();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mail-server {} running as {}; data in {}",
        env!("CARGO_PKG_VERSION"),
        cfg.hostname,
        cfg.data_dir().display()
    );
    for (name, addr) in bound {
        let l = &listeners[name];
        let tls = match l.tls {
            TlsMode::None => "no TLS",
            TlsMode::Starttls => "STARTTLS",
            TlsMode::Implicit => "implicit TLS",
        };
        let _ = writeln!(out, "  {name:<12} {addr:<22} {} ({tls})", l.service);
    }
    let (cert, _, _) = cfg.tls_files();
    let _ = writeln!(out, "  certificate  {}", cert.display());
    let dir = shared.accounts.snapshot();
    // How to call this program again: `cargo run` users get the cargo form.
    let me = std::env::args().next().unwrap_or_default();
    let cmd = if me.contains("/target/") {
        "cargo run --release -p examples --bin mail-server --".to_string()
    } else {
        "mail-server".to_string()
    };
    let cfg_arg = config_path
        .map(|p| format!(" --config {}", p.display()))
        .unwrap_or_default();
    let domain = cfg
        .local_domains()
        .first()
        .map_or_else(|| cfg.hostname.to_string(), ToString::to_string);
    let mx = listeners
        .iter()
        .find(|(_, l)| l.service == ServiceKind::Mx)
        .and_then(|(n, _)| bound.get(n));
    let accounts = dir.accounts();
    if accounts.is_empty() {
        let _ = write!(
            out,
            "\nNo accounts yet. In another terminal, add one (the server picks it up at once):\n  {cmd}{cfg_arg} user add alice@{domain} --password 'choose-one'\n"
        );
    }
    let to = accounts
        .first()
        .map_or_else(|| format!("alice@{domain}"), |a| a.address.to_string());
    if let Some(mx) = mx {
        let _ = write!(
            out,
            "Send it a first message:\n  swaks --server {mx} --to {to}\n  (or: printf 'Subject: hi\\r\\n\\r\\nhello\\r\\n' | curl -s smtp://{mx} --mail-from me@example.net --mail-rcpt {to} -T -)\n"
        );
    }
    if let Some((n, _)) = listeners
        .iter()
        .find(|(_, l)| l.service == ServiceKind::Imap)
        && let Some(imap) = bound.get(n)
    {
        let _ = write!(
            out,
            "Read it over IMAP at {imap} as {to}, e.g.:\n  curl -s --insecure 'imap://{imap}/INBOX;UID=1' --user '{to}:choose-one'\n"
        );
    }
    out.push_str(
        "Stop with Ctrl-C or SIGTERM; SIGHUP reloads the configuration, users and certificate.\n",
    );
    print!("{out}");
    let _ = std::io::stdout().flush();
}
