//! `dkim`: DKIM tools built on `mail-auth-core`.
//!
//! - `dkim canon [--header relaxed|simple] [--body relaxed|simple] [--length N] [FILE]`
//!   prints the canonical header fields and body of a message and the base64 SHA-256 body
//!   hash that a `bh=` tag would carry: the first thing to compare when a signature fails
//!   with a body hash mismatch.
//! - `dkim keygen --domain D --selector S [--type rsa|ed25519] [--bits 2048] [--dir DIR]`
//!   writes `S.private` (PKCS#8 PEM, mode 0600) and `S.txt` (the zone-file line, strings of
//!   at most 255 octets), like opendkim-genkey.
//! - `dkim sign --key FILE --domain D --selector S [options] [FILE]` prints the message
//!   with a DKIM-Signature on top (PEM PKCS#1/PKCS#8, DER, or an Ed25519 seed).
//! - `dkim verify [--zone FILE | --resolver ADDR] [--now SECS] [FILE]` verifies every
//!   signature and prints an Authentication-Results field; exit 0 when one passes, 1 when
//!   none does. `--zone` answers from a BIND master file (offline); `--resolver` asks that
//!   DNS server; neither uses the system resolver.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};
use mail_auth_core::auth_results::{AuthResults, MethodResult};
use mail_auth_core::dkim::canon::{self, BodyCanonicalizer, Canonicalization};
use mail_auth_core::dkim::key::{self, GeneratedKey};
use mail_auth_core::dkim::{
    LengthPolicy, Signer, SigningKey, Verifier, VerifyOptions, VerifyOutput,
};
use mail_auth_core::dns::{drive, zone};

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
    /// Generate a key pair and its DNS record.
    Keygen {
        /// Signing domain (d=).
        #[arg(long)]
        domain: String,
        /// Selector (s=).
        #[arg(long)]
        selector: String,
        /// Key type.
        #[arg(long = "type", value_enum, default_value_t = KeyKind::Rsa)]
        kind: KeyKind,
        /// RSA modulus length (2048 to 4096).
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Directory for SELECTOR.private and SELECTOR.txt.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Sign a message; prints it with the DKIM-Signature field on top.
    Sign {
        /// Private key file.
        #[arg(long)]
        key: PathBuf,
        /// Signing domain (d=).
        #[arg(long)]
        domain: String,
        /// Selector (s=).
        #[arg(long)]
        selector: String,
        /// Header canonicalization.
        #[arg(long, value_enum, default_value_t = Canon::Relaxed)]
        header_canon: Canon,
        /// Body canonicalization.
        #[arg(long, value_enum, default_value_t = Canon::Relaxed)]
        body_canon: Canon,
        /// Colon-separated header fields to sign (default: the usual set).
        #[arg(long)]
        headers: Option<String>,
        /// Agent or user identifier (i=).
        #[arg(long)]
        identity: Option<String>,
        /// Signature lifetime in seconds (x=).
        #[arg(long)]
        expire: Option<u64>,
        /// Signing time, seconds since the epoch (default: now).
        #[arg(long)]
        now: Option<u64>,
        /// The message (default: standard input).
        file: Option<PathBuf>,
    },
    /// Verify every DKIM-Signature of a message.
    Verify {
        /// Answer key queries from this zone file (BIND master format).
        #[arg(long, conflicts_with = "resolver")]
        zone: Option<PathBuf>,
        /// Ask this DNS server (ADDR:PORT, UDP and TCP).
        #[arg(long)]
        resolver: Option<std::net::SocketAddr>,
        /// Verification time, seconds since the epoch (default: now).
        #[arg(long)]
        now: Option<u64>,
        /// Accept rsa-sha1 signatures (RFC 8301 forbids them).
        #[arg(long)]
        allow_sha1: bool,
        /// Refuse signatures with l=.
        #[arg(long)]
        reject_length: bool,
        /// The authserv-id printed in Authentication-Results.
        #[arg(long, default_value = "localhost")]
        authserv_id: String,
        /// The message (default: standard input).
        file: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Canon {
    Relaxed,
    Simple,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyKind {
    Rsa,
    Ed25519,
}

impl From<Canon> for Canonicalization {
    fn from(c: Canon) -> Self {
        match c {
            Canon::Relaxed => Self::Relaxed,
            Canon::Simple => Self::Simple,
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn read_message(file: Option<&std::path::Path>) -> Result<Vec<u8>, ExitCode> {
    examples::read_input(file).map_err(|e| {
        eprintln!("dkim: cannot read message: {e}");
        ExitCode::from(66)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Canon {
            header,
            body,
            length,
            hash_only,
            file,
        } => canon_cmd(header, body, length, hash_only, file.as_deref()),
        Command::Keygen {
            domain,
            selector,
            kind,
            bits,
            dir,
        } => keygen(&domain, &selector, kind, bits, &dir),
        Command::Sign {
            key,
            domain,
            selector,
            header_canon,
            body_canon,
            headers,
            identity,
            expire,
            now,
            file,
        } => sign(&SignArgs {
            key,
            domain,
            selector,
            header_canon,
            body_canon,
            headers,
            identity,
            expire,
            now,
            file,
        }),
        Command::Verify {
            zone,
            resolver,
            now,
            allow_sha1,
            reject_length,
            authserv_id,
            file,
        } => verify(
            zone,
            resolver,
            now,
            allow_sha1,
            reject_length,
            &authserv_id,
            file.as_deref(),
        ),
    };
    r.unwrap_or_else(|code| code)
}

fn canon_cmd(
    header: Canon,
    body: Canon,
    length: Option<u64>,
    hash_only: bool,
    file: Option<&std::path::Path>,
) -> Result<ExitCode, ExitCode> {
    let msg = read_message(file)?;
    let (head, body_bytes) = examples::split_message(&msg);
    let mut canonical = Vec::new();
    let mut bc = match length {
        Some(l) => BodyCanonicalizer::with_limit(body.into(), l),
        None => BodyCanonicalizer::new(body.into()),
    };
    bc.update(body_bytes, &mut canonical);
    bc.finish(&mut canonical);
    let bh = base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA256, &canonical));
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
    Ok(ExitCode::SUCCESS)
}

fn keygen(
    domain: &str,
    selector: &str,
    kind: KeyKind,
    bits: usize,
    dir: &std::path::Path,
) -> Result<ExitCode, ExitCode> {
    let generated: Result<GeneratedKey, _> = match kind {
        KeyKind::Rsa => key::generate_rsa(bits),
        KeyKind::Ed25519 => key::generate_ed25519(),
    };
    let g = generated.map_err(|e| {
        eprintln!("dkim: key generation failed: {e}");
        ExitCode::from(70)
    })?;
    let record = g.key.dns_record();
    let private = dir.join(format!("{selector}.private"));
    let txt = dir.join(format!("{selector}.txt"));
    let write = |path: &std::path::Path, data: &str, private: bool| -> std::io::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let _ = private;
        opts.open(path)?.write_all(data.as_bytes())
    };
    let zone_line = format!(
        "{}\t; DKIM key {selector} for {domain}\n",
        record.zone_line(selector)
    );
    for (path, data, private) in [(&private, &g.private_pem, true), (&txt, &zone_line, false)] {
        if let Err(e) = write(path, data, private) {
            eprintln!("dkim: cannot write {}: {e}", path.display());
            return Err(ExitCode::from(73));
        }
    }
    eprintln!(
        "dkim: wrote {} and {}; publish this TXT record at {selector}._domainkey.{domain}:",
        private.display(),
        txt.display()
    );
    println!("{}", record.quoted_strings());
    Ok(ExitCode::SUCCESS)
}

struct SignArgs {
    key: PathBuf,
    domain: String,
    selector: String,
    header_canon: Canon,
    body_canon: Canon,
    headers: Option<String>,
    identity: Option<String>,
    expire: Option<u64>,
    now: Option<u64>,
    file: Option<PathBuf>,
}

fn sign(a: &SignArgs) -> Result<ExitCode, ExitCode> {
    let key_bytes = std::fs::read(&a.key).map_err(|e| {
        eprintln!("dkim: cannot read {}: {e}", a.key.display());
        ExitCode::from(66)
    })?;
    let key = SigningKey::from_bytes(&key_bytes).map_err(|e| {
        eprintln!("dkim: {}: {e}", a.key.display());
        ExitCode::from(65)
    })?;
    let msg = read_message(a.file.as_deref())?;
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("dkim: {e}");
        ExitCode::from(65)
    };
    let mut signer = Signer::new(&key, &a.domain, &a.selector).map_err(|e| fail(&e))?;
    signer.canonicalization(a.header_canon.into(), a.body_canon.into());
    if let Some(h) = &a.headers {
        let names: Vec<&str> = h.split(':').map(str::trim).collect();
        signer.headers(&names);
    }
    if let Some(i) = &a.identity {
        signer.identity(i).map_err(|e| fail(&e))?;
    }
    if let Some(x) = a.expire {
        signer.expire_after(x);
    }
    let field = signer
        .sign(&msg, a.now.unwrap_or_else(unix_now))
        .map_err(|e| fail(&e))?;
    let mut out = std::io::stdout().lock();
    // Keep the message's own line ending style.
    let lf_only = !msg.windows(2).any(|w| w == b"\r\n");
    let field = if lf_only {
        field.replace("\r\n", "\n")
    } else {
        field
    };
    out.write_all(field.as_bytes())
        .and_then(|()| out.write_all(&msg))
        .map_err(|_| ExitCode::from(74))?;
    Ok(ExitCode::SUCCESS)
}

fn verify(
    zone_file: Option<PathBuf>,
    resolver: Option<std::net::SocketAddr>,
    now: Option<u64>,
    allow_sha1: bool,
    reject_length: bool,
    authserv_id: &str,
    file: Option<&std::path::Path>,
) -> Result<ExitCode, ExitCode> {
    let msg = read_message(file)?;
    let mut opts = VerifyOptions::new(now.unwrap_or_else(unix_now));
    opts.dangerous_allow_sha1(allow_sha1);
    if reject_length {
        opts.length_policy(LengthPolicy::Reject);
    }
    let mut v = Verifier::new(opts);
    v.update(&msg);
    let machine = v.finish();
    let out: VerifyOutput = if let Some(path) = zone_file {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            eprintln!("dkim: cannot read {}: {e}", path.display());
            ExitCode::from(66)
        })?;
        let base = path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let z = zone::parse_with_includes(&text, None, &mut |inc: &str| {
            std::fs::read_to_string(base.join(inc)).ok()
        })
        .map_err(|e| {
            eprintln!("dkim: {}: {e}", path.display());
            ExitCode::from(65)
        })?;
        drive(machine, &z.resolver)
    } else {
        let mut config = mail_auth_core::hickory::HickoryConfig::default();
        config.nameserver = resolver;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                eprintln!("dkim: {e}");
                ExitCode::from(71)
            })?;
        runtime.block_on(async {
            let r = mail_auth_core::hickory::HickoryResolver::new(&config).map_err(|e| {
                eprintln!("dkim: resolver: {e}");
                ExitCode::from(69)
            })?;
            Ok::<_, ExitCode>(r.drive(machine).await)
        })?
    };
    let mut ar = AuthResults::new(authserv_id);
    for s in &out.signatures {
        ar.results.push(MethodResult::from(s));
    }
    if out.signatures.is_empty() {
        ar.results.push(MethodResult::new(
            "dkim",
            mail_auth_core::auth_results::AuthResult::None,
        ));
    }
    println!("Authentication-Results: {ar}");
    Ok(if out.passed().next().is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
