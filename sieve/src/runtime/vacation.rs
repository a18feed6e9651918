//! Messages the script makes: vacation responses (RFC 5230 with RFC 3834's rules),
//! mailto notifications (RFC 5436), `replace`/`enclose` (RFC 5703), and the scanner scores
//! of `spamtest`/`virustest` (RFC 5235).

use super::types::{Fcc, OutgoingMessage, ScoreSource};
use super::{Action, Flow, Question, Res, Runtime};
use crate::program::{self, Notify, Vacation};

/// Identifies the software in messages the script sends (as Pigeonhole does).
const SIEVE_HEADER: &str = concat!("mail-crates sieve ", env!("CARGO_PKG_VERSION"));

/// The longest Subject of a vacation response, in characters (longer ones end in "…").
const MAX_SUBJECT: usize = 256;

/// Encodes an address header value: only a non-ASCII display name is RFC 2047 encoded.
pub(crate) fn encode_address_header(v: &str) -> String {
    if v.is_ascii() {
        return v.to_string();
    }
    match (v.rfind('<'), v.ends_with('>')) {
        (Some(i), true) => {
            let phrase = v[..i].trim().trim_matches('"');
            format!("{} {}", encode_header_value(phrase), &v[i..])
        }
        _ => encode_header_value(v),
    }
}

/// RFC 2047 encodes a header value if it holds non-ASCII text.
pub(crate) fn encode_header_value(v: &str) -> String {
    if v.is_ascii() {
        return v.to_string();
    }
    // One encoded word per chunk of at most 45 bytes of input (75-char word limit).
    use base64::Engine as _;
    let mut out = String::new();
    let mut chunk = String::new();
    let flush = |chunk: &mut String, out: &mut String| {
        if chunk.is_empty() {
            return;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("=?utf-8?b?");
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(chunk.as_bytes()));
        out.push_str("?=");
        chunk.clear();
    };
    for ch in v.chars() {
        if chunk.len() + ch.len_utf8() > 45 {
            flush(&mut chunk, &mut out);
        }
        chunk.push(ch);
    }
    flush(&mut chunk, &mut out);
    out
}

/// Folds a header value at spaces so lines stay under 78 characters (RFC 5322 §2.2.3).
pub(crate) fn fold(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let mut line = name.len() + 2;
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            if line + 1 + word.len() > 78 && line > 1 {
                out.push_str("\r\n ");
                line = 1;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

fn text_body(text: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let mut body = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if !body.ends_with("\r\n") {
        body.push_str("\r\n");
    }
    let headers = vec![
        ("MIME-Version".into(), "1.0".into()),
        ("Content-Type".into(), "text/plain; charset=utf-8".into()),
        (
            "Content-Transfer-Encoding".into(),
            if text.is_ascii() {
                "7bit".into()
            } else {
                "8bit".into()
            },
        ),
    ];
    (headers, body.into_bytes())
}

/// Splits a `:mime` reason into its MIME headers and body.
fn mime_body(text: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let norm = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let (head, body) = match norm.find("\r\n\r\n") {
        Some(i) => (&norm[..i], &norm[i + 4..]),
        None if norm.starts_with("\r\n") => ("", &norm[2..]),
        None => ("", norm.as_str()),
    };
    let mut headers = vec![("MIME-Version".to_string(), "1.0".to_string())];
    let mut fields = Vec::new();
    super::message::scan_headers(head.as_bytes(), 0, head.len(), &mut fields);
    for f in &fields {
        let (super::message::Bytes::Raw(ns, ne), super::message::Bytes::Raw(vs, ve)) =
            (&f.name, &f.value)
        else {
            continue;
        };
        let n = &head[*ns as usize..*ne as usize];
        let v = head[*vs as usize..*ve as usize].trim();
        if n.to_ascii_lowercase().starts_with("content-") {
            headers.push((n.to_string(), v.to_string()));
        }
    }
    (headers, body.as_bytes().to_vec())
}

fn is_system_sender(local: &str) -> bool {
    let l = local.to_ascii_lowercase();
    l == "mailer-daemon"
        || l == "listserv"
        || l == "majordomo"
        || l == "postmaster"
        || l.starts_with("owner-")
        || l.ends_with("-request")
        || l.starts_with("mailer-daemon")
}

/// A short stable hash (FNV-1a 64) for tracking ids.
fn fnv(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl Runtime<'_, '_> {
    fn all_header_values(&self, name: &str) -> Vec<String> {
        self.message
            .fields
            .iter()
            .filter(|f| {
                self.message
                    .field_name(f)
                    .eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|f| String::from_utf8_lossy(self.message.bytes(&f.value)).into_owned())
            .collect()
    }

    fn fcc(&self, f: Option<&program::Fcc>) -> Option<Fcc> {
        f.map(|f| Fcc {
            mailbox: self.expand(&f.mailbox).into_owned(),
            flags: f
                .flags
                .as_ref()
                .map(|l| {
                    self.expand_list(l)
                        .iter()
                        .flat_map(|s| super::exec::split_flags(s))
                        .collect()
                })
                .unwrap_or_default(),
            create: f.create,
            special_use: f.special_use.as_ref().map(|s| self.expand(s).into_owned()),
        })
    }

    /// The user's address for From/recipient checks.
    fn user_address(&self) -> String {
        self.ctx.user_addresses.first().cloned().unwrap_or_else(|| {
            self.envelope
                .orig_to
                .clone()
                .unwrap_or_else(|| self.envelope.to.clone())
        })
    }

    /// The To header of a response to `sender`, and the envelope recipient: the Sender,
    /// From or Reply-To entry whose address is the envelope sender, with its display name;
    /// or, when configured to ignore the envelope, the Sender or From entry.
    fn reply_to(&self, sender: &str) -> (String, String) {
        let entries = |h: &str| -> Vec<(String, String)> {
            let mut out = Vec::new();
            for raw in self.all_header_values(h) {
                let mut list = Vec::new();
                crate::address::header_addresses(raw.as_bytes(), &mut list);
                if list.len() == 1 {
                    out.push((raw.trim().to_string(), list.remove(0)));
                }
            }
            out
        };
        if self.ctx.vacation.to_header_ignore_envelope {
            for h in ["sender", "from"] {
                if let Some((raw, addr)) = entries(h).into_iter().next() {
                    return (raw, addr);
                }
            }
        }
        for h in ["sender", "from", "reply-to"] {
            if let Some((raw, addr)) = entries(h)
                .into_iter()
                .find(|(_, a)| a.eq_ignore_ascii_case(sender))
            {
                return (raw, addr);
            }
        }
        (format!("<{sender}>"), sender.to_string())
    }

    pub(crate) fn vacation(&mut self, v: &Vacation) -> Res<()> {
        if self.vacation_done {
            return Err(Flow::Error(
                "only one 'vacation' action is allowed per run".into(),
            ));
        }
        let reason = self.expand(&v.reason).into_owned();
        let subject = v.subject.as_ref().map(|s| self.expand(s).into_owned());
        let from = v.from.as_ref().map(|s| self.expand(s).into_owned());
        let handle = v.handle.as_ref().map(|s| self.expand(s).into_owned());
        let addresses: Vec<String> = v
            .addresses
            .as_ref()
            .map(|l| {
                self.expand_list(l)
                    .into_iter()
                    .map(|a| a.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        let sender = self.envelope.from.clone();
        // RFC 5230 §4.6 / RFC 3834 §2: never answer these.
        let skip = |rt: &mut Self, why: &str| {
            rt.log.push(format!("vacation: not answering: {why}"));
            rt.vacation_done = true;
            Ok(())
        };
        if sender.is_empty() {
            return skip(self, "the sender is the null address");
        }
        let local = sender.rsplit_once('@').map_or(sender.as_str(), |(l, _)| l);
        if is_system_sender(local) {
            return skip(self, "the sender is a system or list address");
        }
        if let Some(a) = self.first_header("auto-submitted")
            && !a.trim().eq_ignore_ascii_case("no")
        {
            return skip(self, "the message is auto-submitted");
        }
        for h in [
            "list-id",
            "list-help",
            "list-subscribe",
            "list-unsubscribe",
            "list-post",
            "list-owner",
            "list-archive",
        ] {
            if self.first_header(h).is_some() {
                return skip(self, "the message comes from a mailing list");
            }
        }
        if let Some(p) = self.first_header("precedence") {
            let p = p.trim().to_ascii_lowercase();
            if p == "bulk" || p == "list" || p == "junk" {
                return skip(self, "the message has Precedence: bulk, list or junk");
            }
        }
        if self
            .first_header("x-spam-flag")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("yes"))
        {
            return skip(self, "the message is marked as spam");
        }
        // The user's addresses: configured ones, the final recipient, :addresses, and the
        // original recipient only when configured (it may be a list the user is on).
        let mut mine: Vec<String> = self
            .ctx
            .user_addresses
            .iter()
            .map(|a| a.to_ascii_lowercase())
            .collect();
        mine.push(self.envelope.to.to_ascii_lowercase());
        if self.ctx.vacation.use_original_recipient
            && let Some(o) = &self.envelope.orig_to
        {
            mine.push(o.to_ascii_lowercase());
        }
        mine.extend(addresses.iter().cloned());
        if mine.iter().any(|m| *m == sender.to_ascii_lowercase()) {
            return skip(self, "the sender is the user");
        }
        if let Some(x) = self.first_header("x-auto-response-suppress")
            && x.split([',', ' '])
                .any(|t| t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("oof"))
        {
            return skip(
                self,
                "the sender asked for no automatic replies (X-Auto-Response-Suppress)",
            );
        }
        // Which of the user's addresses the message was sent to (RFC 5230 §4.5).
        let mut matched: Option<String> = None;
        for h in ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"] {
            for raw in self.all_header_values(h) {
                let mut list = Vec::new();
                crate::address::header_addresses(raw.as_bytes(), &mut list);
                if let Some(a) = list.iter().find(|a| mine.contains(&a.to_ascii_lowercase())) {
                    matched.get_or_insert_with(|| a.clone());
                }
            }
        }
        if self.ctx.vacation.check_recipient && matched.is_none() {
            return skip(self, "none of the user's addresses is in To, Cc or Bcc");
        }
        let user = matched
            .or_else(|| self.ctx.user_addresses.first().cloned())
            .unwrap_or_else(|| self.envelope.to.clone());
        // Period (RFC 5230 §4.1, RFC 6131).
        let cfg = &self.ctx.vacation;
        let period = match v.period {
            None => cfg.default_period,
            Some(n) => {
                let secs = if v.period_in_days {
                    n.saturating_mul(86_400)
                } else {
                    n
                };
                if secs == 0 && cfg.min_period == 0 {
                    0
                } else {
                    secs.clamp(cfg.min_period.max(1).min(cfg.max_period), cfg.max_period)
                }
            }
        };
        let handle = handle.unwrap_or_else(|| {
            fnv(&[
                &reason,
                subject.as_deref().unwrap_or(""),
                from.as_deref().unwrap_or(""),
                if v.mime { "mime" } else { "" },
            ])
        });
        let id = format!(
            "vacation\0{}\0{}",
            fnv(&[&handle]),
            sender.to_ascii_lowercase()
        );
        if period > 0
            && self.ask_bool(Question::Duplicate {
                id: id.clone(),
                period,
            })?
        {
            return skip(
                self,
                "a response was already sent to this sender within the period",
            );
        }
        // The response (RFC 5230 §5).
        let orig_subject = self.first_header("subject").unwrap_or_default();
        let subject = subject.unwrap_or_else(|| {
            let cfg = &self.ctx.vacation;
            match &cfg.default_subject_template {
                Some(t) if !t.is_empty() => t
                    .replace("%{subject}", &orig_subject)
                    .replace("%$", &orig_subject),
                _ if orig_subject.is_empty() => cfg.default_subject.clone(),
                _ => format!("Auto: {orig_subject}"),
            }
        });
        let subject = if subject.chars().count() > MAX_SUBJECT {
            let mut t: String = subject.chars().take(MAX_SUBJECT - 1).collect();
            t.push('\u{2026}');
            t
        } else {
            subject
        };
        // To: the sender's own header entry (with its display name) when one matches.
        let (to_hdr, rcpt) = self.reply_to(&sender);
        let from_hdr = from.unwrap_or_else(|| format!("<{user}>"));
        let mut headers = vec![
            ("From".to_string(), encode_address_header(&from_hdr)),
            ("To".to_string(), to_hdr),
            (
                "Subject".to_string(),
                fold("Subject", &encode_header_value(&subject)),
            ),
            (
                "Auto-Submitted".to_string(),
                "auto-replied (vacation)".to_string(),
            ),
            ("X-Sieve".to_string(), SIEVE_HEADER.to_string()),
            ("Precedence".to_string(), "bulk".to_string()),
        ];
        if let Some(mid) = self.first_header("message-id") {
            headers.push(("In-Reply-To".into(), mid.clone()));
            let refs = self
                .first_header("references")
                .map_or_else(|| mid.clone(), |r| format!("{r} {mid}"));
            headers.push(("References".into(), fold("References", &refs)));
        }
        let envelope_from = if self.ctx.vacation.send_from_recipient {
            user.clone()
        } else {
            String::new()
        };
        let sender = rcpt;
        let (content, body) = if v.mime {
            mime_body(&reason)
        } else {
            text_body(&reason)
        };
        headers.extend(content);
        let fcc = self.fcc(v.fcc.as_ref());
        let message = OutgoingMessage {
            envelope_from,
            envelope_to: vec![sender],
            headers,
            body,
        };
        if self
            .actions
            .iter()
            .any(|x| matches!(x, Action::Reject { .. }))
        {
            return Err(Flow::Error(
                "the 'vacation' action conflicts with an earlier 'reject'".into(),
            ));
        }
        if self.actions.len() >= self.ctx.limits.max_actions {
            return Err(Flow::Error(format!(
                "total number of actions exceeds policy limit ({})",
                self.ctx.limits.max_actions
            )));
        }
        self.actions.push(Action::Vacation {
            message: Box::new(message),
            fcc,
        });
        if period > 0 {
            self.duplicates.push(super::DuplicateRecord { id, period });
        }
        self.vacation_done = true;
        Ok(())
    }

    pub(crate) fn notify(&mut self, n: &Notify) -> Res<()> {
        let method = self.expand(&n.method).into_owned();
        let uri = crate::notify::parse_mailto(&method)
            .map_err(|e| Flow::Error(format!("notify: {e}")))?;
        if self.ctx.limits.max_notifications == 0 {
            return Err(Flow::Error(
                "local policy prohibits the use of a notify action".into(),
            ));
        }
        if self.notifications >= self.ctx.limits.max_notifications {
            return Err(Flow::Error(format!(
                "number of notify actions exceeds policy limit ({})",
                self.ctx.limits.max_notifications
            )));
        }
        let importance = n
            .importance
            .as_ref()
            .and_then(|i| self.expand(i).parse::<u8>().ok())
            .filter(|i| (1..=3).contains(i))
            .unwrap_or(2);
        let message_text = n.message.as_ref().map(|m| self.expand(m).into_owned());
        let from = n.from.as_ref().map(|m| self.expand(m).into_owned());
        // A constant :from was checked at compile time; one built from variables is now.
        if let Some(f) = &from {
            crate::notify::check_from(f).map_err(|e| Flow::Error(format!("notify: {e}")))?;
        }
        // RFC 5436 §2.7: no notification about auto-submitted mail.
        if let Some(a) = self.first_header("auto-submitted")
            && !a.trim().eq_ignore_ascii_case("no")
        {
            self.log
                .push("notify: not notifying about an auto-submitted message".into());
            return Ok(());
        }
        let orig_subject = self.first_header("subject").unwrap_or_default();
        let orig_from = self.first_header("from").unwrap_or_default();
        let subject = uri
            .headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case("subject"))
            .map(|(_, v)| v.clone())
            .or_else(|| message_text.clone())
            .unwrap_or_else(|| format!("[SIEVE] New mail from {orig_from}: {orig_subject}"));
        // A long :message makes a long Subject: keep 255 characters and an ellipsis.
        let subject = if subject.chars().count() > 256 {
            let mut cut: String = subject.chars().take(255).collect();
            cut.push('\u{2026}');
            cut
        } else {
            subject
        };
        let body_text = uri
            .body
            .clone()
            .or(message_text)
            .unwrap_or_else(|| format!("New mail from {orig_from}: {orig_subject}"));
        let user = self.user_address();
        let from_addr = from
            .as_deref()
            .and_then(crate::address::parse_mailbox_header);
        let from_hdr = from.unwrap_or_else(|| format!("<{user}>"));
        let mut headers = vec![("From".to_string(), encode_header_value(&from_hdr))];
        // A recipient as the URI wrote it (with its display name), else `<addr>`.
        let show = |a: &String| {
            uri.named
                .iter()
                .find(|(x, _)| x == a)
                .map_or_else(|| format!("<{a}>"), |(_, t)| t.clone())
        };
        if !uri.to.is_empty() {
            headers.push((
                "To".into(),
                uri.to.iter().map(&show).collect::<Vec<_>>().join(", "),
            ));
        }
        if !uri.cc.is_empty() {
            headers.push((
                "Cc".into(),
                uri.cc.iter().map(show).collect::<Vec<_>>().join(", "),
            ));
        }
        headers.push((
            "Subject".into(),
            fold("Subject", &encode_header_value(&subject)),
        ));
        headers.push(("Auto-Submitted".into(), "auto-notified".into()));
        headers.push(("X-Sieve".into(), SIEVE_HEADER.into()));
        for (h, v) in &uri.headers {
            if !h.eq_ignore_ascii_case("subject") {
                headers.push((h.clone(), encode_header_value(v)));
            }
        }
        let (priority, importance_hdr) = match importance {
            1 => ("1 (Highest)", "High"),
            3 => ("5 (Lowest)", "Low"),
            _ => ("3 (Normal)", "Normal"),
        };
        headers.push(("X-Priority".into(), priority.into()));
        headers.push(("Importance".into(), importance_hdr.into()));
        let (content, body) = text_body(&body_text);
        headers.extend(content);
        let mut to: Vec<String> = uri.to.clone();
        to.extend(uri.cc.iter().cloned());
        to.extend(uri.bcc.iter().cloned());
        let fcc = self.fcc(n.fcc.as_ref());
        // RFC 5436 §2.7: a notification about mail with a null sender has a null sender.
        let envelope_from = if self.envelope.from.is_empty() {
            String::new()
        } else {
            match &self.ctx.notify_sender {
                Some(policy) => self.sender_by_policy(policy),
                None => from_addr.unwrap_or_else(|| self.ctx.postmaster.clone()),
            }
        };
        let message = OutgoingMessage {
            envelope_from,
            envelope_to: to,
            headers,
            body,
        };
        if self.actions.len() >= self.ctx.limits.max_actions {
            return Err(Flow::Error(format!(
                "total number of actions exceeds policy limit ({})",
                self.ctx.limits.max_actions
            )));
        }
        self.actions.push(Action::Notify {
            method,
            importance,
            message: Box::new(message),
            fcc,
        });
        self.notifications += 1;
        Ok(())
    }
}

/// RFC 5703 §5: the new message keeps the original's headers, except the content ones,
/// with a new body (and a new Subject/From when given).
pub(crate) fn replace_message(
    rt: &Runtime<'_, '_>,
    mime: bool,
    subject: Option<&str>,
    from: Option<&str>,
    text: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    for f in &rt.message.fields {
        let name = String::from_utf8_lossy(rt.message.field_name(f)).to_ascii_lowercase();
        if name.starts_with("content-")
            || name == "mime-version"
            || (subject.is_some() && name == "subject")
            || (from.is_some() && name == "from")
        {
            continue;
        }
        out.extend_from_slice(rt.message.field_name(f));
        out.push(b':');
        out.extend_from_slice(rt.message.bytes(&f.value));
        out.extend_from_slice(b"\r\n");
    }
    if let Some(s) = subject {
        out.extend_from_slice(
            format!("Subject: {}\r\n", fold("Subject", &encode_header_value(s))).as_bytes(),
        );
    }
    if let Some(f) = from {
        out.extend_from_slice(format!("From: {}\r\n", encode_header_value(f)).as_bytes());
    }
    let (headers, body) = if mime {
        mime_body(text)
    } else {
        text_body(text)
    };
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// RFC 5703 §6: a new message/mixed with the text and the original as message/rfc822.
pub(crate) fn enclose_message(
    rt: &Runtime<'_, '_>,
    subject: Option<&str>,
    headers: &[String],
    text: &str,
) -> Vec<u8> {
    let original = rt.message.current().into_owned();
    let boundary = format!(
        "----=_sieve_enclose_{}",
        fnv(&[
            text,
            &String::from_utf8_lossy(&original[..original.len().min(256)])
        ])
    );
    let mut out = Vec::new();
    let keep: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    for f in &rt.message.fields {
        let name = String::from_utf8_lossy(rt.message.field_name(f)).to_ascii_lowercase();
        let always = matches!(
            name.as_str(),
            "from" | "to" | "cc" | "date" | "message-id" | "reply-to" | "sender"
        );
        if (always || keep.contains(&name)) && !(subject.is_some() && name == "subject") {
            out.extend_from_slice(rt.message.field_name(f));
            out.push(b':');
            out.extend_from_slice(rt.message.bytes(&f.value));
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(s) = subject {
        out.extend_from_slice(
            format!("Subject: {}\r\n", fold("Subject", &encode_header_value(s))).as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        )
        .as_bytes(),
    );
    let (th, tb) = text_body(text);
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    for (n, v) in th.iter().skip(1) {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&tb);
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
    );
    out.extend_from_slice(&original);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The text a [`ScoreHeader`] points at, if the header is there (and the pattern matches).
fn score_text(rt: &Runtime<'_, '_>, h: &super::types::ScoreHeader) -> Option<String> {
    let raw = rt
        .message
        .fields
        .iter()
        .find(|f| {
            rt.message
                .field_name(f)
                .eq_ignore_ascii_case(h.name.as_bytes())
        })
        .map(|f| String::from_utf8_lossy(rt.message.bytes(&f.value)).replace(['\r', '\n'], ""))?;
    match &h.pattern {
        None => Some(raw.trim().to_string()),
        Some(p) => {
            let re = regex::Regex::new(p).ok()?;
            let c = re.captures(&raw)?;
            c.get(1)
                .or_else(|| c.get(0))
                .map(|m| m.as_str().to_string())
        }
    }
}

/// The `spamtest`/`virustest` value: "0" (not tested), else "1".."10" (spam), "1".."5"
/// (virus), or "0".."100" with `:percent`.
pub(crate) fn score(rt: &Runtime<'_, '_>, spam: bool, percent: bool) -> String {
    let src = if spam { &rt.ctx.spam } else { &rt.ctx.virus };
    let top: f64 = if spam { 10.0 } else { 5.0 };
    let ratio = match src {
        ScoreSource::None => return "0".into(),
        ScoreSource::Score {
            header,
            max,
            max_header,
        } => {
            let Some(v) = score_text(rt, header) else {
                return "0".into();
            };
            let Some(score) = leading_number(&v) else {
                return "0".into();
            };
            let max = max_header
                .as_ref()
                .and_then(|h| score_text(rt, h))
                .and_then(|m| leading_number(&m))
                .unwrap_or(*max);
            if max <= 0.0 {
                return "0".into();
            }
            score / max
        }
        ScoreSource::Strlen { header, max } => {
            let Some(v) = score_text(rt, header) else {
                return "0".into();
            };
            if *max <= 0.0 {
                return "0".into();
            }
            v.chars().count() as f64 / max
        }
        ScoreSource::Text { header, values } => {
            let Some(v) = score_text(rt, header) else {
                return "0".into();
            };
            let Some((_, n)) = values
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(v.trim()))
            else {
                return "0".into();
            };
            if percent {
                return (((f64::from(*n) - 1.0) / (top - 1.0)) * 100.0)
                    .round()
                    .clamp(0.0, 100.0)
                    .to_string();
            }
            return n.to_string();
        }
    };
    let ratio = ratio.clamp(0.0, 1.0);
    if percent {
        return (ratio * 100.0).round().to_string();
    }
    // 1 is "certainly not", the top "certainly": the scale is cut into equal steps.
    (1.0 + (ratio * (top - 1.0)).floor())
        .clamp(1.0, top)
        .to_string()
}

fn leading_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let end = t
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+'))))
        .map_or(t.len(), |(i, _)| i);
    t[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_helpers() {
        assert_eq!(encode_header_value("plain"), "plain");
        assert_eq!(encode_header_value("caf\u{e9}"), "=?utf-8?b?Y2Fmw6k=?=");
        let long = "word ".repeat(30);
        let f = fold("Subject", long.trim());
        assert!(f.split("\r\n").all(|l| l.len() <= 78));
        assert_eq!(leading_number(" 5.5 / 10"), Some(5.5));
        assert_eq!(leading_number("-1"), Some(-1.0));
        assert!(
            is_system_sender("owner-list")
                && is_system_sender("MAILER-DAEMON")
                && !is_system_sender("bob")
        );
    }
}
