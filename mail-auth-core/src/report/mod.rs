//! Reports: DMARC aggregate reports (RFC 9990), failure reports in the Abuse Reporting
//! Format (RFC 5965, RFC 6591), and the containers they travel in (e-mail, gzip, zip).
//!
//! Everything here works on bytes in memory. Decompression is bounded by [`Limits`]: a
//! report that inflates past `max_decompressed` is refused, not truncated, so a zip bomb
//! costs at most that much memory.
//!
//! ```
//! use mail_auth_core::report::{AggregateReport, Limits, parse_aggregate};
//!
//! let xml = br#"<feedback><report_metadata><org_name>r.example</org_name>
//!   <email>dmarc@r.example</email><report_id>1</report_id>
//!   <date_range><begin>0</begin><end>86399</end></date_range></report_metadata>
//!   <policy_published><domain>example.org</domain><p>reject</p></policy_published>
//!   <record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated>
//!   <disposition>none</disposition><dkim>PASS</dkim><spf>fail</spf></policy_evaluated></row>
//!   <identifiers><header_from>example.org</header_from></identifiers></record></feedback>"#;
//! let r = parse_aggregate(xml, &Limits::default()).unwrap();
//! assert_eq!(r.records[0].dkim, "pass");
//! assert_eq!(r.message_count(), 2);
//! // And back: the generated XML parses to the same report.
//! assert_eq!(AggregateReport::parse(r.to_xml().as_bytes(), &Limits::default()).unwrap().records, r.records);
//! ```

mod aggregate;
mod arf;

pub use aggregate::{AggregateReport, DkimAuth, PolicyPublished, ReportRecord, SpfAuth};
pub use arf::{FailureReport, parse_failure};

use std::io::Read;

use mail_parser::MimeHeaders;

/// Bounds on report processing (DMARC-010). The defaults suit a mailbox of real reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Bytes one decompressed attachment may reach: 50 MiB.
    pub max_decompressed: usize,
    /// Files read from one zip archive: 16.
    pub max_zip_entries: usize,
    /// Records one aggregate report may hold: 1 000 000.
    pub max_records: usize,
    /// XML element nesting: 32.
    pub max_xml_depth: usize,
    /// Containers inside containers (a zip in a gzip in a message): 4.
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_decompressed: 50 << 20,
            max_zip_entries: 16,
            max_records: 1_000_000,
            max_xml_depth: 32,
            max_nesting: 4,
        }
    }
}

/// Why a report could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportError {
    /// Not a report, or broken beyond recovery.
    Malformed(String),
    /// A limit was hit (size, entries, records, nesting).
    TooComplex(String),
    /// No report was found in the container.
    NotFound,
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(m) => write!(f, "malformed report: {m}"),
            Self::TooComplex(m) => write!(f, "report over a limit: {m}"),
            Self::NotFound => f.write_str("no report found"),
        }
    }
}

impl std::error::Error for ReportError {}

/// What a container held.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// DMARC aggregate report XML.
    Xml(Vec<u8>),
    /// JSON (a TLS-RPT report).
    Json(Vec<u8>),
    /// An e-mail message (`message/rfc822` or top level).
    Message(Vec<u8>),
}

/// Inflates gzip data (one or several members; bytes after the last member, like the CRLF
/// some mailers append, are ignored), refusing more than `limit` bytes.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, ReportError> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let mut d = flate2::bufread::GzDecoder::new(rest);
        (&mut d)
            .take((limit - out.len()) as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| ReportError::Malformed(format!("gzip: {e}")))?;
        if out.len() > limit {
            return Err(ReportError::TooComplex(format!(
                "decompressed data exceeds {limit} bytes"
            )));
        }
        rest = d.into_inner();
        if !rest.starts_with(&[0x1f, 0x8b]) {
            return Ok(out);
        }
    }
}

/// Compresses with gzip (for sending reports).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// The files of a zip archive, each inflated within `limits`.
pub fn unzip(data: &[u8], limits: &Limits) -> Result<Vec<(String, Vec<u8>)>, ReportError> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(data))
        .map_err(|e| ReportError::Malformed(format!("zip: {e}")))?;
    if z.len() > limits.max_zip_entries {
        return Err(ReportError::TooComplex(format!(
            "zip has {} entries (limit {})",
            z.len(),
            limits.max_zip_entries
        )));
    }
    let mut out = Vec::new();
    let mut total = 0usize;
    for i in 0..z.len() {
        let f = z
            .by_index(i)
            .map_err(|e| ReportError::Malformed(format!("zip: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        let mut buf = Vec::new();
        f.take((limits.max_decompressed - total) as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ReportError::Malformed(format!("zip: {e}")))?;
        total += buf.len();
        if total > limits.max_decompressed {
            return Err(ReportError::TooComplex(format!(
                "decompressed data exceeds {} bytes",
                limits.max_decompressed
            )));
        }
        out.push((name, buf));
    }
    Ok(out)
}

/// Finds the reports in `data`: raw XML or JSON, gzip, zip, or an e-mail whose attachments
/// (or body) hold them, recursively within `limits.max_nesting`.
pub fn extract(data: &[u8], limits: &Limits) -> Result<Vec<Payload>, ReportError> {
    let mut out = Vec::new();
    extract_into(data, limits, 0, &mut out)?;
    Ok(out)
}

fn extract_into(
    data: &[u8],
    limits: &Limits,
    depth: usize,
    out: &mut Vec<Payload>,
) -> Result<(), ReportError> {
    if depth > limits.max_nesting {
        return Err(ReportError::TooComplex(
            "containers nested too deeply".into(),
        ));
    }
    let trimmed = data.trim_ascii_start();
    let trimmed = trimmed.strip_prefix(b"\xef\xbb\xbf").unwrap_or(trimmed);
    if data.starts_with(&[0x1f, 0x8b]) {
        return extract_into(
            &gunzip(data, limits.max_decompressed)?,
            limits,
            depth + 1,
            out,
        );
    }
    if data.starts_with(b"PK\x03\x04") {
        for (_, f) in unzip(data, limits)? {
            extract_into(&f, limits, depth + 1, out)?;
        }
        return Ok(());
    }
    if trimmed.starts_with(b"<") {
        out.push(Payload::Xml(data.to_vec()));
        return Ok(());
    }
    if trimmed.starts_with(b"{") {
        out.push(Payload::Json(data.to_vec()));
        return Ok(());
    }
    let Some(msg) = mail_parser::MessageParser::new().parse(data) else {
        return Err(ReportError::Malformed(
            "not XML, JSON, gzip, zip or e-mail".into(),
        ));
    };
    if depth == 0 || !out.iter().any(|p| matches!(p, Payload::Message(_))) {
        out.push(Payload::Message(data.to_vec()));
    }
    for part in msg.parts.iter().skip(1).chain(
        // A single-part message: its body may be the report itself.
        msg.parts.first().filter(|_| msg.parts.len() == 1),
    ) {
        let ct = part
            .content_type()
            .map(|c| {
                format!(
                    "{}/{}",
                    c.ctype().to_ascii_lowercase(),
                    c.subtype().unwrap_or("").to_ascii_lowercase()
                )
            })
            .unwrap_or_default();
        let body = part.contents();
        let wanted = matches!(
            ct.as_str(),
            "application/gzip"
                | "application/x-gzip"
                | "application/zip"
                | "application/x-zip-compressed"
                | "application/x-zip"
                | "application/octet-stream"
                | "text/xml"
                | "application/xml"
                | "application/tlsrpt+json"
                | "application/tlsrpt+gzip"
                | "application/json"
        ) || part.attachment_name().is_some_and(|n| {
            std::path::Path::new(n)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| {
                    ["xml", "gz", "zip", "json"]
                        .iter()
                        .any(|x| e.eq_ignore_ascii_case(x))
                })
        });
        if wanted && !body.is_empty() {
            // A part that is none of the known formats is skipped, not an error.
            let _ = extract_into(body, limits, depth + 1, out);
        }
    }
    Ok(())
}

/// Parses the first aggregate report found in `data` (XML, gzip, zip or an e-mail).
pub fn parse_aggregate(data: &[u8], limits: &Limits) -> Result<AggregateReport, ReportError> {
    let mut last = ReportError::NotFound;
    for p in extract(data, limits)? {
        if let Payload::Xml(x) = p {
            match AggregateReport::parse(&x, limits) {
                Ok(r) => return Ok(r),
                Err(e) => last = e,
            }
        }
    }
    Err(last)
}
