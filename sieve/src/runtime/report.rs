//! `report` (Dovecot's vnd.dovecot.report): an RFC 5965 feedback report about the message
//! being filtered, built here and handed to the host as [`Action::Report`] to send.
//!
//! The report is `multipart/report; report-type=feedback-report` with three parts (RFC 5965
//! §2): the script's text, the machine-readable `message/feedback-report` (version,
//! feedback type, user agent, the original envelope and the reporting user, as Dovecot
//! writes it), and the message itself (`message/rfc822`), or only its header
//! (`text/rfc822-headers`) with `:headers_only`. It comes from the null sender and does not
//! cancel the implicit keep.

use super::vacation::{encode_header_value, fold};
use super::{Action, Flow, OutgoingMessage, Res, Runtime};
use crate::program::Value;

const USER_AGENT: &str = concat!("mail-crates-sieve/", env!("CARGO_PKG_VERSION"));

/// `text` with every line ending made CRLF.
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    let mut prev = 0u8;
    for &b in text {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

impl Runtime<'_, '_> {
    pub(crate) fn report(
        &mut self,
        headers_only: bool,
        feedback_type: &Value,
        message: &Value,
        address: &Value,
    ) -> Res<()> {
        let raw_type = self.expand(feedback_type).into_owned();
        let Some(feedback_type) = crate::compile::parse_feedback_type(&raw_type) else {
            return Err(Flow::Error(format!(
                "report: the feedback type \"{raw_type}\" is invalid"
            )));
        };
        let feedback_type = feedback_type.to_string();
        let raw_addr = self.expand(address).into_owned();
        let Some(to) = crate::address::parse_redirect_address(&raw_addr) else {
            return Err(Flow::Error(format!(
                "report: the address \"{raw_addr}\" is invalid"
            )));
        };
        // One report per recipient (Pigeonhole drops the duplicate).
        if self.actions.iter().any(
            |a| matches!(a, Action::Report { address, .. } if address.eq_ignore_ascii_case(&to)),
        ) {
            return Ok(());
        }
        let text = self.expand(message).into_owned();
        let built = self.build_report(headers_only, &feedback_type, &text, &to);
        self.add_action(Action::Report {
            feedback_type,
            address: to,
            message: Box::new(built),
        })
    }

    fn report_from(&self) -> String {
        let postmaster = || {
            if self.ctx.postmaster.is_empty() {
                let domain = self.envelope.to.rsplit_once('@').map_or("", |(_, d)| d);
                format!("postmaster@{domain}")
            } else {
                self.ctx.postmaster.clone()
            }
        };
        match &self.ctx.report_sender {
            None => postmaster(),
            Some(policy) => {
                let a = self.sender_by_policy(policy);
                if a.is_empty() { postmaster() } else { a }
            }
        }
    }

    fn build_report(
        &self,
        headers_only: bool,
        feedback_type: &str,
        text: &str,
        to: &str,
    ) -> OutgoingMessage {
        let subject = match self.first_header("subject") {
            Some(s) => format!("Report: {}", s.trim()),
            None => "Report: (message without subject)".to_string(),
        };
        let original: &[u8] = if headers_only {
            &self.message.raw[..self.message.body_offset.min(self.message.raw.len())]
        } else {
            &self.message.raw
        };
        let original = crlf(original);
        let text = crlf(text.as_bytes());
        // A boundary that occurs in neither the text nor the message.
        let mut boundary = format!("=_sieve-report-{}-{}", self.ctx.now, self.actions.len());
        while memchr::memmem::find(&original, boundary.as_bytes()).is_some()
            || memchr::memmem::find(&text, boundary.as_bytes()).is_some()
        {
            boundary.push('x');
        }
        let user = self
            .ctx
            .user_addresses
            .first()
            .cloned()
            .or_else(|| self.envelope.orig_to.clone())
            .unwrap_or_else(|| self.envelope.to.clone());
        let headers = vec![
            (
                "X-Sieve".to_string(),
                concat!("mail-crates sieve ", env!("CARGO_PKG_VERSION")).to_string(),
            ),
            ("From".to_string(), format!("<{}>", self.report_from())),
            ("To".to_string(), format!("<{to}>")),
            (
                "Subject".to_string(),
                fold("Subject", &encode_header_value(&subject)),
            ),
            (
                "Auto-Submitted".to_string(),
                "auto-generated (report)".to_string(),
            ),
            ("MIME-Version".to_string(), "1.0".to_string()),
            (
                "Content-Type".to_string(),
                format!(
                    "multipart/report; report-type=feedback-report;\r\n boundary=\"{boundary}\""
                ),
            ),
        ];
        let mut body = Vec::with_capacity(original.len() + text.len() + 1024);
        let line = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(s.as_bytes());
            b.extend_from_slice(b"\r\n");
        };
        line(&mut body, "This is a MIME-encapsulated message");
        line(&mut body, "");
        // 1: the script's words.
        line(&mut body, &format!("--{boundary}"));
        if text.is_ascii() {
            line(&mut body, "Content-Type: text/plain; charset=us-ascii");
            line(&mut body, "Content-Transfer-Encoding: 7bit");
        } else {
            line(&mut body, "Content-Type: text/plain; charset=utf-8");
            line(&mut body, "Content-Transfer-Encoding: 8bit");
        }
        line(&mut body, "Content-Disposition: inline");
        line(&mut body, "");
        body.extend_from_slice(&text);
        line(&mut body, "");
        line(&mut body, "");
        // 2: the machine-readable report (RFC 5965 §3.1).
        line(&mut body, &format!("--{boundary}"));
        line(&mut body, "Content-Type: message/feedback-report");
        line(&mut body, "");
        line(&mut body, "Version: 1");
        line(&mut body, &format!("Feedback-Type: {feedback_type}"));
        line(&mut body, &format!("User-Agent: {USER_AGENT}"));
        line(
            &mut body,
            &format!("Original-Mail-From: <{}>", self.envelope.from),
        );
        let orig_to = self.envelope.orig_to.as_ref().unwrap_or(&self.envelope.to);
        if !orig_to.is_empty() {
            line(&mut body, &format!("Original-Rcpt-To: <{orig_to}>"));
        }
        if !user.is_empty() {
            line(&mut body, &format!("Dovecot-Reporting-User: <{user}>"));
        }
        line(&mut body, "");
        // 3: the message, or its header.
        line(&mut body, &format!("--{boundary}"));
        line(
            &mut body,
            if headers_only {
                "Content-Type: text/rfc822-headers"
            } else {
                "Content-Type: message/rfc822"
            },
        );
        line(&mut body, "Content-Disposition: attachment");
        line(&mut body, "");
        body.extend_from_slice(&original);
        if !headers_only {
            line(&mut body, "");
        }
        line(&mut body, "");
        line(&mut body, &format!("--{boundary}--"));
        OutgoingMessage {
            envelope_from: String::new(),
            envelope_to: vec![to.to_string()],
            headers,
            body,
        }
    }
}
