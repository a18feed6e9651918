//! DMARC (RFC 9989, with the RFC 7489 public-suffix mode selectable), as a resumable
//! machine over plain inputs.
//!
//! [`Verifier`] takes the RFC5322.From domains, the SPF outcome ([`SpfInput`]) and the DKIM
//! verdicts ([`DkimInput`]): small plain values any SPF or DKIM implementation can produce.
//! It discovers the policy, finds Organizational Domains, checks alignment and returns the
//! result and the disposition to apply.
//!
//! ```
//! use mail_auth_core::dmarc::{DkimInput, DkimResult, DmarcResult, Policy, SpfInput, Verifier};
//! use mail_auth_core::dns::{Record, StaticResolver, drive};
//! use mail_auth_core::spf::SpfResult;
//!
//! let mut zone = StaticResolver::default();
//! zone.add("_dmarc.example.org", Record::Txt(b"v=DMARC1; p=reject".to_vec()));
//! let spf = SpfInput { domain: "bounces.example.org".into(), result: SpfResult::Pass };
//! let dkim = vec![DkimInput { domain: "esp.example".into(), result: DkimResult::Pass }];
//! let out = drive(Verifier::new(&["example.org"], Some(spf), dkim), &zone);
//! assert_eq!(out.result, DmarcResult::Pass); // SPF passed for a relaxed-aligned domain
//!
//! let out = drive(Verifier::new(&["example.org"], None, vec![]), &zone);
//! assert_eq!((out.result, out.disposition), (DmarcResult::Fail, Policy::Reject));
//! ```
//!
//! Requirements (`requirements.md` §5): DMARC-001 discovery (tree walk, or the
//! Organizational Domain from the public-suffix list in [`Mode::Rfc7489`]) with `sp=`/`np=`;
//! DMARC-002 the tag parser ([`Record`]); DMARC-003 the linter ([`Record::lint`]);
//! DMARC-004 pass = a passing *and* aligned identifier; DMARC-005 relaxed/strict alignment;
//! DMARC-006 the disposition with `t=` (RFC 9989) or `pct=` sampling (RFC 7489, the sample
//! is an input); DMARC-009 report-destination verification ([`DestinationCheck`]).
//!
//! Messages with several From domains are evaluated per domain and the strictest failing
//! disposition applies (RFC 7489 §6.6.1); a message with none yields `none` with
//! [`DmarcOutput::no_author_domain`] set, for the host to decide (RFC 5322 requires one
//! From field).

mod eval;
mod record;

pub use eval::{
    Destination, DestinationCheck, DkimInput, DkimResult, DmarcOutput, DmarcResult, DomainOutcome,
    Mode, SpfInput, Verifier, tree_walk,
};
pub use record::{Alignment, Policy, Psd, Record, RecordError, ReportUri, is_dmarc_record};

impl From<&DmarcOutput> for crate::auth_results::MethodResult {
    /// `dmarc=<result> (p=<requested> dis=<disposition>) header.from=<domain>
    /// [policy.dmarc=<disposition>]` (DMARC-014; RFC 7489 §11.2, RFC 9989 §11), for the
    /// first failing author domain, else the first one.
    fn from(o: &DmarcOutput) -> Self {
        use crate::auth_results::AuthResult;
        let result = match o.result {
            DmarcResult::None => AuthResult::None,
            DmarcResult::Pass => AuthResult::Pass,
            DmarcResult::Fail => AuthResult::Fail,
            DmarcResult::TempError => AuthResult::TempError,
            DmarcResult::PermError => AuthResult::PermError,
        };
        let mut m = Self::new("dmarc", result);
        let d = o
            .domains
            .iter()
            .find(|d| d.result == DmarcResult::Fail)
            .or_else(|| o.domains.first());
        if let Some(d) = d {
            if d.record.is_some() {
                m = m.comment(&format!("p={} dis={}", d.requested, d.disposition));
            }
            if let Some(p) = &d.problem {
                m = m.reason(p);
            }
            m = m.property("header", "from", &d.author_domain);
            if d.result == DmarcResult::Fail {
                m = m.property("policy", "dmarc", d.disposition.as_str());
            }
        }
        m
    }
}

/// The RFC5322.From domains of a message (or of its header block): every address of every
/// `From:` field, lower-cased, duplicates removed, in order. An empty result means DMARC
/// has no author domain to check.
pub fn author_domains(message: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(msg) = mail_parser::MessageParser::new().parse_headers(message) else {
        return out;
    };
    for h in msg.headers() {
        if !matches!(h.name, mail_parser::HeaderName::From) {
            continue;
        }
        let Some(addrs) = h.value.as_address() else {
            continue;
        };
        for a in addrs.iter() {
            let Some(email) = a.address() else { continue };
            if let Some((_, d)) = email.rsplit_once('@') {
                let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
                if !d.is_empty() && !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Answer, Question, Record as Rr, RecordType, StaticResolver, drive};
    use crate::spf::SpfResult;

    fn txt(s: &str) -> Rr {
        Rr::Txt(s.as_bytes().to_vec())
    }

    #[allow(clippy::unnecessary_wraps)]
    fn spf(d: &str, r: SpfResult) -> Option<SpfInput> {
        Some(SpfInput {
            domain: d.into(),
            result: r,
        })
    }

    fn dkim(d: &str, r: DkimResult) -> DkimInput {
        DkimInput {
            domain: d.into(),
            result: r,
        }
    }

    fn zone() -> StaticResolver {
        let mut z = StaticResolver::default();
        z.add(
            "_dmarc.example.org",
            txt("v=DMARC1; p=reject; sp=quarantine; np=reject; rua=mailto:d@example.org"),
        )
        .add("mail.example.org", Rr::A("192.0.2.1".parse().unwrap()))
        .add(
            "_dmarc.strict.example",
            txt("v=DMARC1; p=quarantine; adkim=s; aspf=s"),
        )
        .add("_dmarc.testing.example", txt("v=DMARC1; p=reject; t=y"))
        .add("_dmarc.gov.example", txt("v=DMARC1; p=none; psd=y"))
        .add("_dmarc.agency.gov.example", txt("v=DMARC1; p=reject"))
        .add("_dmarc.example", txt("v=DMARC1; p=quarantine; psd=y"))
        .add("_dmarc.two.example", txt("v=DMARC1; p=none"))
        .add("_dmarc.two.example", txt("v=DMARC1; p=reject"));
        z
    }

    #[test]
    fn alignment_relaxed_and_strict() {
        let z = zone();
        // SPF pass for a subdomain of the author domain: relaxed-aligned.
        let o = drive(
            Verifier::new(
                &["example.org"],
                spf("bounce.example.org", SpfResult::Pass),
                vec![],
            ),
            &z,
        );
        assert_eq!(o.result, DmarcResult::Pass);
        assert!(o.domains[0].spf_aligned);
        assert_eq!(o.domains[0].org_domain.as_deref(), Some("example.org"));
        // SPF fail does not count even when aligned (DMARC-004).
        let o = drive(
            Verifier::new(
                &["example.org"],
                spf("example.org", SpfResult::Fail),
                vec![],
            ),
            &z,
        );
        assert_eq!(
            (o.result, o.disposition),
            (DmarcResult::Fail, Policy::Reject)
        );
        // DKIM pass from an unrelated domain does not align.
        let o = drive(
            Verifier::new(
                &["example.org"],
                None,
                vec![dkim("esp.test", DkimResult::Pass)],
            ),
            &z,
        );
        assert_eq!(o.result, DmarcResult::Fail);
        // DKIM pass aligned.
        let o = drive(
            Verifier::new(
                &["example.org"],
                None,
                vec![
                    dkim("esp.test", DkimResult::Pass),
                    dkim("Mail.Example.org.", DkimResult::Pass),
                ],
            ),
            &z,
        );
        assert_eq!(o.result, DmarcResult::Pass);
        assert_eq!(
            o.domains[0].dkim_aligned.as_deref(),
            Some("mail.example.org")
        );
        // Strict: the subdomain no longer aligns; the same domain does.
        let o = drive(
            Verifier::new(
                &["strict.example"],
                None,
                vec![dkim("a.strict.example", DkimResult::Pass)],
            ),
            &z,
        );
        assert_eq!(
            (o.result, o.disposition),
            (DmarcResult::Fail, Policy::Quarantine)
        );
        let o = drive(
            Verifier::new(
                &["strict.example"],
                spf("STRICT.example", SpfResult::Pass),
                vec![],
            ),
            &z,
        );
        assert_eq!(o.result, DmarcResult::Pass);
    }

    #[test]
    fn subdomain_policies_sp_and_np() {
        let z = zone();
        // An existing subdomain: sp=quarantine.
        let o = drive(Verifier::new(&["mail.example.org"], None, vec![]), &z);
        let d = &o.domains[0];
        assert_eq!(d.policy_domain.as_deref(), Some("example.org"));
        assert_eq!((d.requested, d.non_existent), (Policy::Quarantine, false));
        // A non-existent one: np=reject (RFC 9989).
        let o = drive(Verifier::new(&["nope.example.org"], None, vec![]), &z);
        assert_eq!(
            (o.domains[0].requested, o.domains[0].non_existent),
            (Policy::Reject, true)
        );
        // RFC 7489 has no np: sp applies.
        let o = drive(
            Verifier::new(&["nope.example.org"], None, vec![]).mode(Mode::Rfc7489),
            &z,
        );
        assert_eq!(o.domains[0].requested, Policy::Quarantine);
    }

    #[test]
    fn testing_flag_and_pct() {
        let z = zone();
        let o = drive(Verifier::new(&["testing.example"], None, vec![]), &z);
        assert_eq!(
            (o.domains[0].requested, o.disposition),
            (Policy::Reject, Policy::Quarantine)
        );
        let mut z2 = StaticResolver::default();
        z2.add("_dmarc.example.co.uk", txt("v=DMARC1; p=reject; pct=20"));
        let v = || Verifier::new(&["mail.example.co.uk"], None, vec![]).mode(Mode::Rfc7489);
        let o = drive(v().pct_sample(19), &z2);
        assert_eq!(o.disposition, Policy::Reject);
        assert_eq!(o.domains[0].policy_domain.as_deref(), Some("example.co.uk"));
        let o = drive(v().pct_sample(20), &z2);
        assert_eq!(o.disposition, Policy::Quarantine);
    }

    #[test]
    fn psd_tree_walk() {
        let z = zone();
        // No record for the author; the walk finds the PSD record at gov.example.
        let o = drive(Verifier::new(&["x.city.gov.example"], None, vec![]), &z);
        assert_eq!(o.domains[0].policy_domain.as_deref(), Some("gov.example"));
        // Organizational Domain: one label below the PSD, so a DKIM pass from another
        // subdomain of city.gov.example aligns, but one from another city does not.
        let o = drive(
            Verifier::new(
                &["x.city.gov.example"],
                None,
                vec![dkim("y.city.gov.example", DkimResult::Pass)],
            ),
            &z,
        );
        assert_eq!(o.domains[0].org_domain.as_deref(), Some("city.gov.example"));
        assert_eq!(o.result, DmarcResult::Pass);
        let o = drive(
            Verifier::new(
                &["x.city.gov.example"],
                None,
                vec![dkim("town.gov.example", DkimResult::Pass)],
            ),
            &z,
        );
        assert_eq!(o.result, DmarcResult::Fail);
        // A record without psd: the one with the fewest labels is the org domain.
        let o = drive(
            Verifier::new(
                &["a.agency.gov.example"],
                None,
                vec![dkim("agency.gov.example", DkimResult::Pass)],
            ),
            &z,
        );
        assert_eq!(
            o.domains[0].policy_domain.as_deref(),
            Some("agency.gov.example")
        );
        assert_eq!(o.result, DmarcResult::Pass);
        assert_eq!(
            tree_walk("a.b.c.d.e.f.g.h.i.example"),
            [
                "a.b.c.d.e.f.g.h.i.example",
                "d.e.f.g.h.i.example",
                "e.f.g.h.i.example",
                "f.g.h.i.example",
                "g.h.i.example",
                "h.i.example",
                "i.example",
                "example"
            ]
        );
    }

    #[test]
    fn several_zero_and_broken() {
        let z = zone();
        let o = drive(
            Verifier::new(
                &["example.org", "strict.example", "Example.ORG"],
                spf("example.org", SpfResult::Pass),
                vec![],
            ),
            &z,
        );
        assert_eq!(o.domains.len(), 2);
        assert_eq!(o.result, DmarcResult::Fail);
        assert_eq!(o.disposition, Policy::Quarantine);
        let o = drive(Verifier::new::<&str>(&[], None, vec![]), &z);
        assert_eq!(o.result, DmarcResult::None);
        assert!(o.no_author_domain);
        // Two records: none is used.
        let o = drive(Verifier::new(&["two.example"], None, vec![]), &z);
        assert_eq!(o.domains[0].policy_domain.as_deref(), Some("example"));
        let mut z = zone();
        z.set(
            Question::new("_dmarc.slow.example", RecordType::Txt),
            Answer::TempFail("timeout".into()),
        );
        let o = drive(Verifier::new(&["slow.example"], None, vec![]), &z);
        assert_eq!(o.result, DmarcResult::TempError);
        let o = drive(
            Verifier::new(&["nothing.invalid"], None, vec![]),
            &StaticResolver::default(),
        );
        assert_eq!(o.result, DmarcResult::None);
    }

    #[test]
    fn report_destinations() {
        let mut z = StaticResolver::default();
        z.add("example.org._report._dmarc.reports.test", txt("v=DMARC1"));
        let uri = |u: &str| ReportUri {
            uri: u.into(),
            max_size: None,
        };
        for mode in [Mode::Rfc9989, Mode::Rfc7489] {
            let c = |u: &str| drive(DestinationCheck::new("example.org", &uri(u), mode), &z);
            assert_eq!(c("mailto:d@example.org"), Destination::Authorized);
            assert_eq!(c("mailto:d@reports.test"), Destination::Authorized);
            assert_eq!(c("mailto:d@other.test"), Destination::NotAuthorized);
            assert_eq!(c("https://x.test/"), Destination::Unsupported);
        }
    }

    #[test]
    fn authentication_results_entry() {
        use crate::auth_results::{AuthResult, MethodResult};
        let o = drive(Verifier::new(&["example.org"], None, vec![]), &zone());
        assert_eq!(
            MethodResult::from(&o),
            MethodResult::new("dmarc", AuthResult::Fail)
                .comment("p=reject dis=reject")
                .property("header", "from", "example.org")
                .property("policy", "dmarc", "reject")
        );
    }

    #[test]
    fn from_domains() {
        let m =
            b"From: A <a@Example.org>, b@other.test\r\nFrom: c@example.org\r\nTo: x@y\r\n\r\nbody";
        assert_eq!(author_domains(m), ["example.org", "other.test"]);
        assert!(author_domains(b"To: x@y\r\n\r\n").is_empty());
    }
}
