//! Trace fields stamped on every message (SMTP-034, SMTP-035, MD-013) and the identifiers
//! and dates they carry.
//!
//! At final delivery each copy gets, on top:
//!
//! ```text
//! Return-Path: <sender@example.net>
//! Delivered-To: alice@example.org
//! X-Original-To: sales@example.org            (only when an alias was expanded)
//! Received: from mx.example.net (mx.example.net [192.0.2.7])
//!         by mail.example.org (mail-server) with ESMTPS id 1A2B3C4D5E6F
//!         (using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)
//!         for <alice@example.org>; Tue, 3 Jun 2025 10:00:00 +0000
//! ```
//!
//! Every value that came from a client (HELO name, addresses) is cleaned of control
//! characters and line breaks first, so no client can inject a header field.

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How the message arrived, for the `with` clause (RFC 3848).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum With {
    /// HELO.
    Smtp,
    /// EHLO, with or without TLS and AUTH.
    Esmtp {
        /// TLS was in use.
        tls: bool,
        /// The client authenticated.
        auth: bool,
    },
    /// LMTP.
    Lmtp,
    /// IMAP APPEND or a local injection: no Received field of the SMTP kind.
    Local,
}

impl With {
    /// The protocol token: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, LMTP, local.
    pub fn token(self) -> &'static str {
        match self {
            Self::Smtp => "SMTP",
            Self::Esmtp {
                tls: false,
                auth: false,
            } => "ESMTP",
            Self::Esmtp {
                tls: true,
                auth: false,
            } => "ESMTPS",
            Self::Esmtp {
                tls: false,
                auth: true,
            } => "ESMTPA",
            Self::Esmtp {
                tls: true,
                auth: true,
            } => "ESMTPSA",
            Self::Lmtp => "LMTP",
            Self::Local => "local",
        }
    }
}

/// What the Received field says about the connection.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The HELO/EHLO argument.
    pub helo: String,
    /// The client's verified reverse name, if any.
    pub rdns: Option<String>,
    /// The client's address.
    pub ip: IpAddr,
    /// Protocol.
    pub with: With,
    /// TLS version and cipher suite, e.g. (`TLSv1.3`, `TLS13_AES_256_GCM_SHA384`).
    pub tls: Option<(String, String)>,
}

/// Keeps printable ASCII (and spaces); everything else becomes `?`. Length-limited.
pub fn clean(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The Received field (with its name and the final CRLF) for one recipient.
pub fn received(
    origin: &Origin,
    by: &str,
    id: &str,
    rcpt: Option<&str>,
    now: SystemTime,
) -> String {
    let helo = clean(&origin.helo, 255);
    let rdns = origin
        .rdns
        .as_deref()
        .map_or_else(|| "unknown".into(), |r| clean(r, 255));
    let ip = match origin.ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    let mut s = format!(
        "Received: from {helo} ({rdns} [{ip}])\r\n\tby {by} (mail-server) with {} id {id}\r\n",
        origin.with.token()
    );
    if let Some((ver, cipher)) = &origin.tls {
        let _ = write!(
            s,
            "\t(using {} with cipher {})\r\n",
            clean(ver, 32),
            clean(cipher, 64)
        );
    }
    match rcpt {
        Some(r) => {
            let _ = write!(s, "\tfor <{}>; {}\r\n", clean(r, 320), rfc5322_date(now));
        }
        None => {
            let _ = write!(s, "\t; {}\r\n", rfc5322_date(now));
        }
    }
    s
}

/// The fields added at final delivery to one mailbox, before the Received field:
/// Return-Path, Delivered-To and, when the envelope recipient was an alias, X-Original-To.
pub fn delivery_fields(sender: &str, mailbox: &str, original_rcpt: &str) -> String {
    let mut s = format!(
        "Return-Path: <{}>\r\nDelivered-To: {}\r\n",
        clean(sender, 320),
        clean(mailbox, 320)
    );
    if !original_rcpt.eq_ignore_ascii_case(mailbox) {
        let _ = write!(s, "X-Original-To: {}\r\n", clean(original_rcpt, 320));
    }
    s
}

/// A date as RFC 5322 §3.3 writes it, in UTC: `Tue, 3 Jun 2025 10:00:00 +0000`.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days.cast_signed());
    // 1970-01-01 was a Thursday.
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d} {mon} {y} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..12, day 1..31), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A new message/queue id: 16 upper-case hex digits from the time in microseconds and a
/// process-wide counter, unique within this process and sortable by arrival.
pub fn new_id(now: SystemTime) -> String {
    let micros = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{:011X}{:05X}", micros & 0xFFF_FFFF_FFFF, seq & 0xF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc5322_date(t(0)), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(t(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(t(1_748_944_800)),
            "Tue, 3 Jun 2025 10:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(t(4_102_444_799)),
            "Thu, 31 Dec 2099 23:59:59 +0000"
        );
    }

    #[test]
    fn received_field() {
        let o = Origin {
            helo: "mx.example.net\r\nX-Evil: 1".into(),
            rdns: None,
            ip: "2001:db8::7".parse().unwrap(),
            with: With::Esmtp {
                tls: true,
                auth: false,
            },
            tls: Some(("TLSv1.3".into(), "TLS13_AES_256_GCM_SHA384".into())),
        };
        let r = received(
            &o,
            "mail.example.org",
            "ABC",
            Some("a@example.org"),
            UNIX_EPOCH,
        );
        assert_eq!(
            r,
            "Received: from mx.example.net??X-Evil: 1 (unknown [IPv6:2001:db8::7])\r\n\
             \tby mail.example.org (mail-server) with ESMTPS id ABC\r\n\
             \t(using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\
             \tfor <a@example.org>; Thu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
        assert_eq!(r.matches("\r\n").count(), 4);
        assert!(
            r.lines()
                .skip(1)
                .all(|l| l.is_empty() || l.starts_with('\t'))
        );
    }

    #[test]
    fn delivery_and_tokens() {
        assert_eq!(
            delivery_fields("", "alice@x", "sales@x"),
            "Return-Path: <>\r\nDelivered-To: alice@x\r\nX-Original-To: sales@x\r\n"
        );
        assert_eq!(
            delivery_fields("s@y", "alice@x", "Alice@x"),
            "Return-Path: <s@y>\r\nDelivered-To: alice@x\r\n"
        );
        assert_eq!(
            With::Esmtp {
                tls: true,
                auth: true
            }
            .token(),
            "ESMTPSA"
        );
        assert_eq!(With::Smtp.token(), "SMTP");
    }

    #[test]
    fn ids_are_unique_and_ordered() {
        let now = SystemTime::now();
        let a = new_id(now);
        let b = new_id(now);
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a < b);
    }
}
