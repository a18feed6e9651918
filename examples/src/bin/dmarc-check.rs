//! `dmarc-check`: DMARC policy discovery and evaluation from the command line.
//!
//! ```text
//! dmarc-check --from example.org [--from other.example] | --message FILE
//!             [--spf-domain D --spf RESULT | --ip IP --mail-from ADDR --helo NAME]
//!             [--dkim DOMAIN=RESULT ...] [--mode rfc9989|rfc7489] [--pct-sample N]
//!             [--check-rua] [--resolver ADDR | --zone FILE [--origin NAME]]
//! dmarc-check --lint 'v=DMARC1; p=none; fo=0;1;'
//! ```
//!
//! Prints one block per author domain (policy domain, record, alignment, disposition) and
//! the `Authentication-Results` entries (`spf=` when SPF ran, `dmarc=`). Exit code 0 for
//! pass/none, 1 for fail, 3 for temperror/permerror, 2 for usage or setup errors.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mail_auth_core::auth_results::{AuthResults, MethodResult};
use mail_auth_core::dmarc::{
    self, DestinationCheck, DkimInput, DkimResult, DmarcResult, Mode, Record, SpfInput,
};
use mail_auth_core::dns::{DnsMachine, StaticResolver, drive, zone};
use mail_auth_core::hickory::{BlockingResolver, HickoryConfig};
use mail_auth_core::spf::{self, SpfResult};

#[derive(Parser)]
#[command(
    name = "dmarc-check",
    about = "Evaluate DMARC (RFC 9989 / RFC 7489)",
    version
)]
struct Cli {
    /// An RFC5322.From domain (repeat for several From addresses).
    #[arg(long)]
    from: Vec<String>,
    /// Take the From domains from this message file.
    #[arg(long, conflicts_with = "from")]
    message: Option<PathBuf>,
    /// The SPF result for --spf-domain (pass, fail, softfail, neutral, none, temperror, permerror).
    #[arg(long, requires = "spf_domain")]
    spf: Option<String>,
    /// The domain SPF checked (the MAIL FROM domain).
    #[arg(long)]
    spf_domain: Option<String>,
    /// Run SPF for this client address (with --mail-from and --helo).
    #[arg(long, conflicts_with = "spf")]
    ip: Option<IpAddr>,
    /// The MAIL FROM address for --ip.
    #[arg(long, default_value = "")]
    mail_from: String,
    /// The HELO name for --ip.
    #[arg(long, default_value = "")]
    helo: String,
    /// A DKIM verdict as DOMAIN=RESULT (repeatable), e.g. example.org=pass.
    #[arg(long)]
    dkim: Vec<String>,
    /// Discovery mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Rfc9989)]
    mode: ModeArg,
    /// RFC 7489 pct sampling input (0-99).
    #[arg(long, default_value_t = 0)]
    pct_sample: u8,
    /// Verify that each rua= destination accepts reports for the policy domain.
    #[arg(long)]
    check_rua: bool,
    /// Only lint this record text and print the problems.
    #[arg(long)]
    lint: Option<String>,
    /// The authserv-id for the Authentication-Results line.
    #[arg(long, default_value = "dmarc-check")]
    authserv_id: String,
    #[command(flatten)]
    dns: DnsArgs,
}

#[derive(clap::Args)]
struct DnsArgs {
    /// Ask this name server (IP or IP:PORT) instead of the system's.
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
enum ModeArg {
    Rfc9989,
    Rfc7489,
}

enum Dns {
    Zone(Box<StaticResolver>),
    Live(Box<BlockingResolver>),
}

impl Dns {
    fn new(a: &DnsArgs) -> Result<Self, String> {
        if let Some(path) = &a.zone {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let z = zone::parse_with_includes(&text, a.origin.as_deref(), &mut |inc: &str| {
                std::fs::read_to_string(dir.join(inc)).ok()
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(Self::Zone(Box::new(z.resolver)));
        }
        let mut cfg = HickoryConfig::default();
        if let Some(r) = &a.resolver {
            cfg.nameserver = Some(
                r.parse::<SocketAddr>()
                    .or_else(|_| r.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| format!("--resolver {r:?}: expected IP or IP:PORT"))?,
            );
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

fn dkim_result(s: &str) -> Option<DkimResult> {
    Some(match s.to_ascii_lowercase().as_str() {
        "pass" => DkimResult::Pass,
        "fail" => DkimResult::Fail,
        "neutral" => DkimResult::Neutral,
        "temperror" => DkimResult::TempError,
        "permerror" => DkimResult::PermError,
        "policy" => DkimResult::Policy,
        "none" => DkimResult::None,
        _ => return None,
    })
}

fn main() -> ExitCode {
    match run(&Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dmarc-check: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, String> {
    if let Some(text) = &cli.lint {
        let problems = Record::lint(text);
        for p in &problems {
            println!("{p}");
        }
        println!("{} problem(s)", problems.len());
        return Ok(if problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let from: Vec<String> = match &cli.message {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            dmarc::author_domains(&bytes)
        }
        None => cli.from.clone(),
    };
    let dns = Dns::new(&cli.dns)?;
    let mut ar = AuthResults::new(&cli.authserv_id);
    let spf_input = if let Some(ip) = cli.ip {
        let out = dns.drive(spf::Verifier::mail_from(ip, &cli.helo, &cli.mail_from));
        ar.results.push(MethodResult::from(&out));
        Some(SpfInput {
            domain: out.domain.clone(),
            result: out.result,
        })
    } else if let (Some(r), Some(d)) = (&cli.spf, &cli.spf_domain) {
        Some(SpfInput {
            domain: d.clone(),
            result: SpfResult::from_name(r)
                .ok_or_else(|| format!("--spf {r:?}: unknown result"))?,
        })
    } else {
        None
    };
    let mut dkim = Vec::new();
    for d in &cli.dkim {
        let (dom, res) = d
            .split_once('=')
            .ok_or_else(|| format!("--dkim {d:?}: expected DOMAIN=RESULT"))?;
        dkim.push(DkimInput {
            domain: dom.to_string(),
            result: dkim_result(res).ok_or_else(|| format!("--dkim {d:?}: unknown result"))?,
        });
    }
    let mode = match cli.mode {
        ModeArg::Rfc9989 => Mode::Rfc9989,
        ModeArg::Rfc7489 => Mode::Rfc7489,
    };
    let out = dns.drive(
        dmarc::Verifier::new(&from, spf_input, dkim)
            .mode(mode)
            .pct_sample(cli.pct_sample),
    );
    if out.no_author_domain {
        println!("no RFC5322.From domain: DMARC does not apply");
    }
    for d in &out.domains {
        println!("author domain: {}", d.author_domain);
        println!("  result: {}", d.result);
        if let Some(p) = &d.policy_domain {
            println!("  policy domain: {p}");
        }
        if let Some(r) = &d.record {
            println!(
                "  record: p={} sp={} np={} adkim={} aspf={} t={} pct={}",
                r.policy(),
                r.sp.map_or("-", |p| p.as_str()),
                r.np.map_or("-", |p| p.as_str()),
                r.adkim.as_str(),
                r.aspf.as_str(),
                if r.testing { "y" } else { "n" },
                r.pct
            );
            for w in &r.warnings {
                println!("  warning: {w}");
            }
        }
        if let Some(o) = &d.org_domain {
            println!("  organizational domain: {o}");
        }
        println!(
            "  spf aligned: {}; dkim aligned: {}",
            d.spf_aligned,
            d.dkim_aligned.as_deref().unwrap_or("no")
        );
        println!(
            "  requested policy: {}; disposition: {}{}",
            d.requested,
            d.disposition,
            if d.non_existent {
                " (non-existent domain: np)"
            } else {
                ""
            }
        );
        if let Some(p) = &d.problem {
            println!("  problem: {p}");
        }
        if cli.check_rua
            && let (Some(pd), Some(r)) = (&d.policy_domain, &d.record)
        {
            for uri in &r.rua {
                let verdict = dns.drive(DestinationCheck::new(pd, uri, mode));
                println!("  rua {}: {verdict:?}", uri.uri);
            }
        }
    }
    ar.results.push(MethodResult::from(&out));
    println!("Authentication-Results: {ar}");
    Ok(match out.result {
        DmarcResult::Fail => ExitCode::from(1),
        DmarcResult::TempError | DmarcResult::PermError => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}
