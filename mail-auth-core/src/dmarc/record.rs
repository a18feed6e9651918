//! The DMARC policy record (RFC 9989 §4.7; RFC 7489 §6.3 for the legacy tags).

use std::fmt;

/// A requested policy (`p=`, `sp=`, `np=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Policy {
    /// `none`: monitor only.
    #[default]
    None,
    /// `quarantine`: treat as suspicious.
    Quarantine,
    /// `reject`: reject at SMTP time.
    Reject,
}

impl Policy {
    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Quarantine => "quarantine",
            Self::Reject => "reject",
        }
    }

    fn parse(v: &str) -> Option<Self> {
        match v.to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "quarantine" => Some(Self::Quarantine),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }

    /// The next less strict policy (RFC 9989 `t=y`, RFC 7489 `pct` sampling).
    #[must_use]
    pub fn relaxed(self) -> Self {
        match self {
            Self::Reject => Self::Quarantine,
            Self::Quarantine | Self::None => Self::None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alignment mode (`adkim=`, `aspf=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Alignment {
    /// `r`: same Organizational Domain (the default).
    #[default]
    Relaxed,
    /// `s`: exactly the same domain.
    Strict,
}

impl Alignment {
    /// `r` or `s`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relaxed => "r",
            Self::Strict => "s",
        }
    }
}

/// The `psd=` tag (RFC 9989).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Psd {
    /// `psd=y`: the domain is a Public Suffix Domain.
    Yes,
    /// `psd=n`: the domain is an Organizational Domain.
    No,
    /// `psd=u` or absent: decided by the tree walk.
    #[default]
    Unknown,
}

/// A reporting URI of `rua=` / `ruf=`, with the RFC 7489 `!size` suffix split off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportUri {
    /// The URI (`mailto:dmarc@example.org`).
    pub uri: String,
    /// The maximum report size in bytes (RFC 7489 `!10m`), when given.
    pub max_size: Option<u64>,
}

impl ReportUri {
    /// The address of a `mailto:` URI (without query), lower-cased domain.
    pub fn mailto(&self) -> Option<String> {
        let rest = self
            .uri
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("mailto:"))
            .map(|_| &self.uri[7..])?;
        let addr = rest.split('?').next().unwrap_or(rest);
        let (local, domain) = addr.rsplit_once('@')?;
        if local.is_empty() || domain.is_empty() {
            return None;
        }
        Some(format!("{local}@{}", domain.to_ascii_lowercase()))
    }

    /// The domain of a `mailto:` URI.
    pub fn domain(&self) -> Option<String> {
        self.mailto()
            .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_string()))
    }
}

/// A parsed `v=DMARC1` record.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Record {
    /// `p=`; `None` when absent or invalid (then treated as `none`, RFC 9989 §4.7).
    pub p: Option<Policy>,
    /// `sp=`: for subdomains.
    pub sp: Option<Policy>,
    /// `np=`: for non-existent subdomains (RFC 9989).
    pub np: Option<Policy>,
    /// `psd=` (RFC 9989).
    pub psd: Psd,
    /// `t=y`: testing (RFC 9989).
    pub testing: bool,
    /// `adkim=`.
    pub adkim: Alignment,
    /// `aspf=`.
    pub aspf: Alignment,
    /// `rua=`: aggregate report destinations.
    pub rua: Vec<ReportUri>,
    /// `ruf=`: failure report destinations.
    pub ruf: Vec<ReportUri>,
    /// `fo=`: failure reporting options (`0`, `1`, `d`, `s`), default `0`.
    pub fo: Vec<String>,
    /// `pct=` (RFC 7489 only; removed by RFC 9989): 0 to 100, default 100.
    pub pct: u8,
    /// `ri=` (RFC 7489): the aggregate report interval in seconds, default 86400.
    pub ri: u32,
    /// `rf=` (RFC 7489): failure report formats, default `afrf`.
    pub rf: Vec<String>,
    /// Problems that did not invalidate the record (bad values ignored, DMARC-003 lint).
    pub warnings: Vec<String>,
}

/// Why a TXT record is not a DMARC record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError(pub String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecordError {}

/// True when a TXT record starts with the `v=DMARC1` tag (RFC 9989 §4.7: records that do not
/// are discarded during discovery).
pub fn is_dmarc_record(txt: &[u8]) -> bool {
    let s = txt.trim_ascii_start();
    let Some(rest) = s.strip_prefix(b"v") else {
        return false;
    };
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b"=") else {
        return false;
    };
    let rest = rest.trim_ascii_start();
    rest.len() >= 6
        && rest[..6].eq_ignore_ascii_case(b"DMARC1")
        && rest[6..]
            .trim_ascii_start()
            .first()
            .is_none_or(|&b| b == b';')
}

impl Record {
    /// Parses a record. It must start with `v=DMARC1`; unknown tags are ignored; invalid
    /// values of known tags are ignored with a warning (an invalid `p=` leaves `p` unset).
    pub fn parse(txt: &[u8]) -> Result<Self, RecordError> {
        if !is_dmarc_record(txt) {
            return Err(RecordError("does not start with v=DMARC1".into()));
        }
        let s = std::str::from_utf8(txt).map_err(|_| RecordError("record is not UTF-8".into()))?;
        let mut r = Self {
            pct: 100,
            ri: 86_400,
            ..Self::default()
        };
        let mut seen: Vec<String> = Vec::new();
        for (i, part) in s.split(';').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((tag, value)) = part.split_once('=') else {
                r.warnings.push(format!("{part:?} is not tag=value"));
                continue;
            };
            let tag = tag.trim().to_ascii_lowercase();
            let value = value.trim();
            if i == 0 {
                continue; // v=DMARC1
            }
            if seen.contains(&tag) {
                r.warnings
                    .push(format!("tag {tag} repeated; first value kept"));
                continue;
            }
            seen.push(tag.clone());
            let mut bad = || r.warnings.push(format!("bad value {value:?} for {tag}"));
            match tag.as_str() {
                "p" => match Policy::parse(value) {
                    Some(p) => r.p = Some(p),
                    None => bad(),
                },
                "sp" => match Policy::parse(value) {
                    Some(p) => r.sp = Some(p),
                    None => bad(),
                },
                "np" => match Policy::parse(value) {
                    Some(p) => r.np = Some(p),
                    None => bad(),
                },
                "psd" => match value.to_ascii_lowercase().as_str() {
                    "y" => r.psd = Psd::Yes,
                    "n" => r.psd = Psd::No,
                    "u" => r.psd = Psd::Unknown,
                    _ => bad(),
                },
                "t" => match value.to_ascii_lowercase().as_str() {
                    "y" => r.testing = true,
                    "n" => r.testing = false,
                    _ => bad(),
                },
                "adkim" | "aspf" => {
                    let a = match value.to_ascii_lowercase().as_str() {
                        "r" => Alignment::Relaxed,
                        "s" => Alignment::Strict,
                        _ => {
                            bad();
                            continue;
                        }
                    };
                    if tag == "adkim" {
                        r.adkim = a;
                    } else {
                        r.aspf = a;
                    }
                }
                "rua" | "ruf" => {
                    let list = parse_uris(value, &mut r.warnings);
                    if tag == "rua" {
                        r.rua = list;
                    } else {
                        r.ruf = list;
                    }
                }
                "fo" => {
                    let opts: Vec<String> = value
                        .split(':')
                        .map(|o| o.trim().to_ascii_lowercase())
                        .collect();
                    if opts
                        .iter()
                        .all(|o| matches!(o.as_str(), "0" | "1" | "d" | "s"))
                    {
                        r.fo = opts;
                    } else {
                        bad();
                    }
                }
                "pct" => match value.parse::<u8>() {
                    Ok(v) if v <= 100 => r.pct = v,
                    _ => bad(),
                },
                "ri" => match value.parse::<u32>() {
                    Ok(v) => r.ri = v,
                    Err(_) => bad(),
                },
                "rf" => {
                    r.rf = value
                        .split(':')
                        .map(|o| o.trim().to_ascii_lowercase())
                        .collect();
                }
                _ => {} // RFC 9989 §4.7: unknown tags are ignored.
            }
        }
        if r.p.is_none() && !seen.iter().any(|t| t == "p") {
            r.warnings.push("no p= tag: treated as p=none".into());
        }
        if r.fo.is_empty() {
            r.fo.push("0".into());
        }
        if r.rf.is_empty() {
            r.rf.push("afrf".into());
        }
        Ok(r)
    }

    /// The requested policy for the domain itself (`p=`, `none` when absent or invalid).
    pub fn policy(&self) -> Policy {
        self.p.unwrap_or_default()
    }

    /// Problems a human publishing this record should fix (DMARC-003, DMARC-007): the
    /// warnings of [`parse`](Self::parse) and these checks on the text (the book's own
    /// examples carry several: `fo=0;1;`, `rua=mailto:dmarc@ratoperatedvehicle`).
    pub fn lint(txt: &str) -> Vec<String> {
        let mut out = Vec::new();
        match Self::parse(txt.as_bytes()) {
            Err(e) => out.push(e.0),
            Ok(r) => {
                out.extend(r.warnings.iter().cloned());
                for u in r.rua.iter().chain(&r.ruf) {
                    match u.domain() {
                        None => out.push(format!("{} is not a mailto: URI with an address", u.uri)),
                        Some(d) if !d.contains('.') => {
                            out.push(format!("{}: the domain {d} has no top-level domain", u.uri));
                        }
                        Some(_) => {}
                    }
                }
                if r.adkim == Alignment::Strict || r.aspf == Alignment::Strict {
                    out.push(
                        "strict alignment breaks mail from subdomains and many ESPs; relaxed is \
                         the default"
                            .into(),
                    );
                }
            }
        }
        // `fo=0;1;`: a `;` ends the fo tag; the following digits are bogus tags.
        for part in txt.split(';').map(str::trim) {
            if !part.is_empty() && !part.contains('=') {
                out.push(format!(
                    "{part:?} is not a tag; fo= options are separated by ':' (fo=0:1)"
                ));
            }
        }
        out
    }
}

fn parse_uris(value: &str, warnings: &mut Vec<String>) -> Vec<ReportUri> {
    let mut out = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (uri, size) = match item.rsplit_once('!') {
            Some((u, s)) => {
                let (digits, unit) =
                    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
                let mult: u64 = match unit.to_ascii_lowercase().as_str() {
                    "" => 1,
                    "k" => 1 << 10,
                    "m" => 1 << 20,
                    "g" => 1 << 30,
                    "t" => 1 << 40,
                    _ => {
                        warnings.push(format!("bad size in {item:?}"));
                        continue;
                    }
                };
                let Ok(n) = digits.parse::<u64>() else {
                    warnings.push(format!("bad size in {item:?}"));
                    continue;
                };
                (u, Some(n.saturating_mul(mult)))
            }
            None => (item, None),
        };
        if !uri.contains(':') {
            warnings.push(format!("{uri:?} is not a URI"));
            continue;
        }
        out.push(ReportUri {
            uri: uri.to_string(),
            max_size: size,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_records() {
        // TC-DNS-18, 19, 22.
        let r = Record::parse(b"v=DMARC1; p=none; rua=mailto:dmarc@mwl.io;").unwrap();
        assert_eq!(r.p, Some(Policy::None));
        assert_eq!(r.rua[0].mailto().as_deref(), Some("dmarc@mwl.io"));
        assert_eq!(
            (r.adkim, r.aspf, r.pct, r.ri),
            (Alignment::Relaxed, Alignment::Relaxed, 100, 86_400)
        );
        assert!(r.warnings.is_empty());
        // TC-DNS-21: strict alignment.
        let r = Record::parse(
            b"v=DMARC1; p=none; rua=mailto:dmarc@ratoperatedvehicle; aspf=s; adkim=s;",
        )
        .unwrap();
        assert_eq!((r.adkim, r.aspf), (Alignment::Strict, Alignment::Strict));
        // TC-DNS-23/24: the authorization record.
        assert!(Record::parse(b"v=DMARC1").is_ok());
    }

    #[test]
    fn lint_catches_the_books_mistakes() {
        // TC-DNS-20.
        let l = Record::lint(
            "v=DMARC1; p=none; rua=mailto:dmarc@ratoperatedvehicle; ruf=mailto:forensic@ratoperatedvehicle.com; fo=0;1;",
        );
        assert!(l.iter().any(|w| w.contains("no top-level domain")), "{l:?}");
        assert!(l.iter().any(|w| w.contains("separated by ':'")), "{l:?}");
        assert!(Record::lint("v=DMARC1; p=none; rua=mailto:d@example.com").is_empty());
    }

    #[test]
    fn tags() {
        let r = Record::parse(
            b"v=DMARC1;p=reject;sp=quarantine;np=reject;psd=n;t=y;pct=50;fo=1:d;rua=mailto:a@b.example!10m, mailto:c@d.example;ri=3600;foo=bar",
        )
        .unwrap();
        assert_eq!(r.p, Some(Policy::Reject));
        assert_eq!(r.sp, Some(Policy::Quarantine));
        assert_eq!(r.np, Some(Policy::Reject));
        assert_eq!(r.psd, Psd::No);
        assert!(r.testing);
        assert_eq!(r.pct, 50);
        assert_eq!(r.fo, ["1", "d"]);
        assert_eq!(r.rua.len(), 2);
        assert_eq!(r.rua[0].max_size, Some(10 << 20));
        assert_eq!(r.ri, 3600);
        let r = Record::parse(b"v=DMARC1; p=bogus; pct=200").unwrap();
        assert_eq!(r.p, None);
        assert_eq!(r.policy(), Policy::None);
        assert_eq!(r.pct, 100);
        assert_eq!(r.warnings.len(), 2);
        for bad in [
            &b"v=DMARC2; p=none"[..],
            b"p=none; v=DMARC1",
            b"",
            b"v=spf1 -all",
            b"v=DMARC10",
        ] {
            assert!(
                Record::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(is_dmarc_record(b" v = DMARC1 ; p=none"));
    }
}
