//! `smtp-send`: sends one message to an SMTP, submission or LMTP server, like a small
//! `swaks`.
//!
//! ```text
//! smtp-send --server HOST:PORT --from ADDR --to ADDR [--to ADDR ...] [FILE | -]
//!           [--helo NAME] [--starttls auto|required|never] [--implicit-tls]
//!           [--ca PEM | --pin-cert PEM] [--server-name NAME] [--auth-user NAME --auth-password PASS]
//!           [--lmtp] [--no-pipelining] [--no-chunking] [--count N] [--quiet]
//!           [--xclient NAME=VALUE ...] [--xforward NAME=VALUE ...]
//! ```
//!
//! The message comes from FILE or standard input (bare LF line endings are fine: the client
//! sends CRLF). The client session of `smtp-proto` makes every protocol choice from the
//! server's EHLO: STARTTLS (`auto`: when offered), the strongest AUTH mechanism the
//! credentials fit (never a plaintext password without TLS), PIPELINING, SIZE, 8BITMIME,
//! SMTPUTF8, BDAT. TLS certificates are verified against `--ca`, or pinned with
//! `--pin-cert` (no system roots are bundled: without either only plaintext is possible).
//! `--count N` sends the message N times on one connection. Prints one line per recipient (`250 2.0.0 ... <rcpt>`); exit 0
//! when every recipient accepted the message, 1 when some did not, 2 on errors before
//! delivery (connection, TLS, AUTH, usage).

use std::net::ToSocketAddrs as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::CertificateDer;
use smtp_proto::client::{ClientConfig, Envelope, TlsMode};
use smtp_proto::sasl::Credentials;
use smtp_proto::tokio::{ClientTls, SmtpClient};

#[derive(Clone, Copy, ValueEnum)]
enum StartTls {
    /// STARTTLS when offered.
    Auto,
    /// Fail without STARTTLS.
    Required,
    /// Never STARTTLS.
    Never,
}

#[derive(Parser)]
#[command(
    name = "smtp-send",
    about = "Send one message over SMTP/LMTP, like a small swaks",
    version
)]
struct Cli {
    /// The server, HOST:PORT.
    #[arg(long, short = 's')]
    server: String,
    /// The envelope sender (empty for the null sender `<>`).
    #[arg(long, short = 'f')]
    from: String,
    /// An envelope recipient (repeatable).
    #[arg(long, short = 't', required = true)]
    to: Vec<String>,
    /// The message file (`-` or nothing: standard input).
    file: Option<PathBuf>,
    /// The name to say in EHLO.
    #[arg(long, default_value = "localhost")]
    helo: String,
    /// STARTTLS policy.
    #[arg(long, value_enum, default_value = "auto")]
    starttls: StartTls,
    /// TLS from the first byte (port 465).
    #[arg(long)]
    implicit_tls: bool,
    /// CA certificate(s) (PEM) to verify the server with; needed for any TLS (or
    /// --pin-cert).
    #[arg(long, conflicts_with = "pin_cert")]
    ca: Option<PathBuf>,
    /// Trust exactly this certificate (PEM, byte for byte; handshake signatures still
    /// checked), like DANE-EE: for self-signed test servers whose certificate webpki refuses
    /// as an end entity.
    #[arg(long)]
    pin_cert: Option<PathBuf>,
    /// The name to verify in the certificate (default: the host of --server).
    #[arg(long)]
    server_name: Option<String>,
    /// AUTH user name.
    #[arg(long, requires = "auth_password")]
    auth_user: Option<String>,
    /// AUTH password.
    #[arg(long, requires = "auth_user")]
    auth_password: Option<String>,
    /// Speak LMTP (LHLO).
    #[arg(long)]
    lmtp: bool,
    /// Do not pipeline even when offered.
    #[arg(long)]
    no_pipelining: bool,
    /// Use DATA even when CHUNKING is offered.
    #[arg(long)]
    no_chunking: bool,
    /// Send the message this many times over the connection.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    /// An XCLIENT attribute (Postfix), sent after EHLO to a server that trusts this host;
    /// repeatable (`--xclient ADDR=192.0.2.1 --xclient NAME=client.example`). Fails when the
    /// server does not offer them.
    #[arg(long, value_parser = attribute)]
    xclient: Vec<(String, String)>,
    /// An XFORWARD attribute (Postfix), sent before each MAIL when the server offers it;
    /// repeatable.
    #[arg(long, value_parser = attribute)]
    xforward: Vec<(String, String)>,
}

/// `NAME=VALUE` (the value plain text: the client xtext-encodes it).
fn attribute(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{arg:?}: expected NAME=VALUE")),
    }
}

/// Trusts one certificate byte for byte and still verifies the handshake signatures.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(certs)
}

fn client_tls(cli: &Cli) -> Result<Option<ClientTls>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if let Some(pin) = &cli.pin_cert {
        let cert = read_certs(pin)?.remove(0);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { cert, provider }))
            .with_no_client_auth()
    } else if let Some(ca) = &cli.ca {
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(ca)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        return Ok(None);
    };
    let host = cli.server_name.clone().unwrap_or_else(|| {
        let s = cli
            .server
            .rsplit_once(':')
            .map_or(cli.server.as_str(), |(h, _)| h);
        s.trim_start_matches('[').trim_end_matches(']').to_owned()
    });
    let server_name =
        rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    Ok(Some(ClientTls {
        config: Arc::new(config),
        server_name,
    }))
}

async fn run(cli: Cli) -> Result<bool, String> {
    let path = cli.file.as_deref().filter(|p| p.as_os_str() != "-");
    let message = examples::read_input(path).map_err(|e| format!("reading the message: {e}"))?;
    let envelope = Envelope::parse(&cli.from, cli.to.iter().map(String::as_str))
        .map_err(|e| format!("bad address: {e:?}"))?;
    let tls = client_tls(&cli)?;
    let mut config = if cli.lmtp {
        ClientConfig::lmtp(cli.helo.clone())
    } else {
        ClientConfig::new(cli.helo.clone())
    };
    config.tls = if cli.implicit_tls {
        TlsMode::Implicit
    } else {
        match cli.starttls {
            StartTls::Auto => TlsMode::Opportunistic,
            StartTls::Required => TlsMode::Required,
            StartTls::Never => TlsMode::Never,
        }
    };
    config.pipelining = !cli.no_pipelining;
    config.chunking = !cli.no_chunking;
    config.xclient.clone_from(&cli.xclient);
    config.xforward.clone_from(&cli.xforward);
    if let (Some(u), Some(p)) = (&cli.auth_user, &cli.auth_password) {
        config.credentials = Some(Credentials::password(u.clone(), p.clone()));
    }
    let addr = cli
        .server
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", cli.server))?
        .next()
        .ok_or_else(|| format!("{}: no address", cli.server))?;
    let mut client = SmtpClient::connect(addr, config, tls)
        .await
        .map_err(|e| e.to_string())?;
    if !cli.quiet {
        for e in client.events() {
            eprintln!("{e:?}");
        }
    }
    let mut all = true;
    for _ in 0..cli.count {
        let result = client
            .send_mail(envelope.clone(), message.clone())
            .await
            .map_err(|e| e.to_string())?;
        if !cli.quiet {
            eprintln!(
                "message sent via {}",
                if result.bdat { "BDAT" } else { "DATA" }
            );
        }
        for r in &result.recipients {
            all &= r.delivered();
            if !cli.quiet {
                println!(
                    "{} {}{} {}",
                    r.reply.code(),
                    r.reply
                        .status()
                        .map(|s| format!("{s} "))
                        .unwrap_or_default(),
                    r.reply.text().replace('\n', " "),
                    r.recipient
                );
            }
        }
    }
    client.quit().await.map_err(|e| e.to_string())?;
    Ok(all)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtp-send: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("smtp-send: {e}");
            ExitCode::from(2)
        }
    }
}
