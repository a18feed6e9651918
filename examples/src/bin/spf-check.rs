//! `spf-check`: an SPF check from the command line, like pyspf's `spfquery`.
//!
//! ```text
//! spf-check --ip 192.0.2.1 --sender alice@example.org --helo mx.example.org
//!           [--identity mailfrom|helo] [--resolver 127.0.0.1:53 | --zone FILE [--origin NAME]]
//!           [--receiver NAME] [--timeout SECONDS] [--verbose]
//! ```
//!
//! Prints, like `spfquery`: the result (`pass`, `fail`, `softfail`, `neutral`, `none`,
//! `temperror`, `permerror`), the explanation (empty unless fail), a comment line, and the
//! `Received-SPF:` header. With `--zone` every answer comes from a BIND master file (offline);
//! with `--resolver` from that name server; otherwise from the system's resolver. Exit code
//! 0 for any SPF result, 2 for usage or setup errors.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mail_auth_core::dns::{DnsMachine, StaticResolver, drive, zone};
use mail_auth_core::hickory::{BlockingResolver, HickoryConfig};
use mail_auth_core::spf::{SpfResult, Verifier};

#[derive(Parser)]
#[command(
    name = "spf-check",
    about = "Check SPF (RFC 7208) for a client, like spfquery",
    version
)]
struct Cli {
    /// The client's IP address.
    #[arg(long, short = 'i')]
    ip: IpAddr,
    /// The MAIL FROM address (empty for the null sender).
    #[arg(long, short = 's', default_value = "")]
    sender: String,
    /// The HELO/EHLO name.
    #[arg(long, short = 'H', default_value = "")]
    helo: String,
    /// Which identity to check.
    #[arg(long, value_enum, default_value_t = IdentityArg::Mailfrom)]
    identity: IdentityArg,
    #[command(flatten)]
    dns: DnsArgs,
    /// The receiving host's name (the `%{r}` macro and the header's `receiver=`).
    #[arg(long, default_value = "spf-check")]
    receiver: String,
    /// Also print the matched mechanism and lookup counts.
    #[arg(long, short = 'v')]
    verbose: bool,
}

#[derive(clap::Args)]
struct DnsArgs {
    /// Ask this name server (IP or IP:PORT, port 53 by default) instead of the system's.
    #[arg(long, conflicts_with = "zone")]
    resolver: Option<String>,
    /// Answer from this zone file instead of the DNS (offline).
    #[arg(long)]
    zone: Option<PathBuf>,
    /// The initial $ORIGIN of the zone file.
    #[arg(long, requires = "zone")]
    origin: Option<String>,
    /// Per-query timeout in seconds.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum IdentityArg {
    Mailfrom,
    Helo,
}

/// Where answers come from.
enum Dns {
    Zone(Box<StaticResolver>),
    Live(Box<BlockingResolver>),
}

impl Dns {
    fn new(a: &DnsArgs) -> Result<Self, String> {
        if let Some(path) = &a.zone {
            return load_zone(path, a.origin.as_deref()).map(|z| Self::Zone(Box::new(z)));
        }
        let mut cfg = HickoryConfig::default();
        if let Some(r) = &a.resolver {
            cfg.nameserver = Some(parse_server(r)?);
        }
        cfg.query_timeout = Duration::from_secs(a.timeout.max(1));
        BlockingResolver::new(&cfg)
            .map(|r| Self::Live(Box::new(r)))
            .map_err(|e| e.to_string())
    }

    fn drive<M: DnsMachine>(&self, m: M) -> M::Output {
        match self {
            Self::Zone(z) => drive(m, &**z),
            Self::Live(r) => r.drive(m),
        }
    }
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("--resolver {s:?}: expected IP or IP:PORT"))
}

fn load_zone(path: &Path, origin: Option<&str>) -> Result<StaticResolver, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let z = zone::parse_with_includes(&text, origin, &mut |inc: &str| {
        std::fs::read_to_string(dir.join(inc)).ok()
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(z.resolver)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dns = match Dns::new(&cli.dns) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("spf-check: {e}");
            return ExitCode::from(2);
        }
    };
    let v = match cli.identity {
        IdentityArg::Mailfrom => {
            if cli.sender.is_empty() && cli.helo.is_empty() {
                eprintln!("spf-check: give --sender or --helo");
                return ExitCode::from(2);
            }
            Verifier::mail_from(cli.ip, &cli.helo, &cli.sender)
        }
        IdentityArg::Helo => Verifier::helo(cli.ip, &cli.helo),
    };
    let out = dns.drive(v.receiver(&cli.receiver));
    println!("{}", out.result);
    println!("{}", out.explanation.as_deref().unwrap_or(""));
    let who = if out.sender.is_empty() {
        &out.domain
    } else {
        &out.sender
    };
    let comment = match out.result {
        SpfResult::Pass => format!("domain of {who} designates {} as permitted sender", out.ip),
        SpfResult::Fail | SpfResult::SoftFail => {
            format!(
                "domain of {who} does not designate {} as permitted sender",
                out.ip
            )
        }
        SpfResult::Neutral => format!(
            "{} is neither permitted nor denied by domain of {who}",
            out.ip
        ),
        SpfResult::None => format!("domain of {who} does not designate permitted sender hosts"),
        _ => out.problem.clone().unwrap_or_default(),
    };
    println!("spf-check: {comment}");
    println!("{}", out.received_spf(&cli.receiver));
    if cli.verbose {
        println!(
            "mechanism: {}; dns lookups: {}; void lookups: {}",
            out.mechanism.as_deref().unwrap_or("-"),
            out.dns_lookups,
            out.void_lookups
        );
        if let Some(p) = &out.problem {
            println!("problem: {p}");
        }
    }
    ExitCode::SUCCESS
}
