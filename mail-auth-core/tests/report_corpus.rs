//! Report corpora in `tests/data/dmarc` (README.md there): DMARC aggregate reports and
//! failure reports (ARF) from Stalwart mail-auth's resources and parsedmarc's samples.
//! Each test prints a `<suite>: N passed, M failed` line.

use std::path::{Path, PathBuf};

use mail_auth_core::report::{
    self, AggregateReport, Limits, Payload, ReportError, parse_aggregate, parse_failure,
};
use serde_json::Value;

fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dmarc")
        .join(rel)
}

fn files(rel: &str, ext: &[&str]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(rel))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            ext.iter().any(|e| n.ends_with(e))
        })
        .collect();
    v.sort();
    v
}

/// `"AuthFailure"` / `"auth-failure"` / `"auth_failure"` all compare equal.
fn norm(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn jstr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Compares a parsed report with mail-auth's JSON model field by field.
fn compare_aggregate(r: &AggregateReport, j: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let mut eq = |what: &str, a: String, b: String| {
        if a != b {
            bad.push(format!("{what}: ours {a:?}, expected {b:?}"));
        }
    };
    let m = &j["report_metadata"];
    eq("org_name", r.org_name.clone(), jstr(&m["org_name"]));
    eq("email", r.email.clone(), jstr(&m["email"]));
    eq("report_id", r.report_id.clone(), jstr(&m["report_id"]));
    eq(
        "begin",
        r.begin.to_string(),
        jstr(&m["date_range"]["begin"]),
    );
    eq("end", r.end.to_string(), jstr(&m["date_range"]["end"]));
    let p = &j["policy_published"];
    eq("domain", r.policy.domain.clone(), jstr(&p["domain"]));
    eq(
        "p",
        r.policy
            .p
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
        norm(&jstr(&p["p"])),
    );
    let recs = j["record"].as_array().cloned().unwrap_or_default();
    eq(
        "records",
        r.records.len().to_string(),
        recs.len().to_string(),
    );
    for (a, b) in r.records.iter().zip(&recs) {
        let row = &b["row"];
        eq(
            "source_ip",
            a.source_ip.map(|i| i.to_string()).unwrap_or_default(),
            jstr(&row["source_ip"]),
        );
        eq("count", a.count.to_string(), jstr(&row["count"]));
        let pe = &row["policy_evaluated"];
        eq(
            "disposition",
            norm(&a.disposition),
            norm(&jstr(&pe["disposition"])),
        );
        eq("dkim", norm(&a.dkim), norm(&jstr(&pe["dkim"])));
        eq("spf", norm(&a.spf), norm(&jstr(&pe["spf"])));
        eq(
            "header_from",
            a.header_from.clone(),
            jstr(&b["identifiers"]["header_from"]),
        );
        let jd = b["auth_results"]["dkim"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        eq(
            "dkim results",
            a.dkim_results.len().to_string(),
            jd.len().to_string(),
        );
        for (x, y) in a.dkim_results.iter().zip(&jd) {
            eq(
                "dkim domain",
                x.domain.clone(),
                jstr(&y["domain"]).to_ascii_lowercase(),
            );
            eq("dkim result", norm(&x.result), norm(&jstr(&y["result"])));
        }
        let js = b["auth_results"]["spf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        eq(
            "spf results",
            a.spf_results.len().to_string(),
            js.len().to_string(),
        );
        for (x, y) in a.spf_results.iter().zip(&js) {
            eq(
                "spf domain",
                x.domain.clone(),
                jstr(&y["domain"]).to_ascii_lowercase(),
            );
            eq("spf result", norm(&x.result), norm(&jstr(&y["result"])));
        }
    }
    bad
}

fn report(name: &str, passed: usize, failed: &[String]) {
    for f in failed {
        println!("  FAILED {f}");
    }
    println!("{name}: {passed} passed, {} failed", failed.len());
}

#[test]
fn mail_auth_aggregate_reports() {
    let limits = Limits::default();
    let (mut passed, mut failed) = (0, Vec::new());
    for path in files("mail-auth/dmarc-feedback", &[".xml", ".eml"]) {
        let data = std::fs::read(&path).unwrap();
        let json: Value =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match parse_aggregate(&data, &limits) {
            Ok(r) => {
                let bad = compare_aggregate(&r, &json);
                if bad.is_empty() {
                    passed += 1;
                } else {
                    failed.push(format!("{name}: {bad:?}"));
                }
            }
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    report("dmarc-aggregate-mail-auth", passed, &failed);
    assert_eq!(passed + failed.len(), 10);
    assert!(failed.is_empty());
}

#[test]
fn parsedmarc_aggregate_samples() {
    let limits = Limits::default();
    let (mut passed, mut failed) = (0, Vec::new());
    for path in files("parsedmarc/aggregate", &[".xml", ".gz", ".zip", ".eml"]) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match parse_aggregate(&std::fs::read(&path).unwrap(), &limits) {
            Ok(r)
                if !r.report_id.is_empty()
                    && !r.policy.domain.is_empty()
                    && !r.records.is_empty() =>
            {
                passed += 1;
            }
            Ok(r) => failed.push(format!("{name}: incomplete {r:?}")),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    // Upper-cased result words are normalized.
    let r = parse_aggregate(
        &std::fs::read(dir(
            "parsedmarc/aggregate_invalid/report_with_upper_cased_pass.xml",
        ))
        .unwrap(),
        &limits,
    )
    .unwrap();
    let words: Vec<&str> = r
        .records
        .iter()
        .flat_map(|x| [x.dkim.as_str(), x.spf.as_str(), x.disposition.as_str()])
        .collect();
    if words
        .iter()
        .all(|w| *w == "pass" || *w == "none" || *w == "fail")
        && words.contains(&"pass")
    {
        passed += 1;
    } else {
        failed.push(format!("upper-cased: {words:?}"));
    }
    // The empty file is rejected cleanly.
    match parse_aggregate(
        &std::fs::read(dir("parsedmarc/empty.xml")).unwrap(),
        &limits,
    ) {
        Err(ReportError::Malformed(_) | ReportError::NotFound) => passed += 1,
        other => failed.push(format!("empty.xml: {other:?}")),
    }
    // Extraction from gzip and zip gives exactly the XML.
    let nice = std::fs::read(dir("parsedmarc/extract_report/nice-input.xml")).unwrap();
    let changed = std::fs::read(dir("parsedmarc/extract_report/changed-input.xml")).unwrap();
    for f in ["nice-input.xml", "nice-input.xml.gz", "nice-input.xml.zip"] {
        let got = report::extract(
            &std::fs::read(dir(&format!("parsedmarc/extract_report/{f}"))).unwrap(),
            &limits,
        );
        match got.as_deref() {
            Ok([Payload::Xml(x)]) if *x == nice && *x != changed => passed += 1,
            other => failed.push(format!("{f}: {other:?}")),
        }
    }
    report("dmarc-aggregate-parsedmarc", passed, &failed);
    assert_eq!(passed + failed.len(), 19 + 1 + 1 + 3);
    assert!(failed.is_empty());
}

#[test]
fn decompression_is_bounded() {
    // 10 MiB of zeros compress to ~10 KiB; a 1 MiB limit must refuse it, not truncate it.
    let big = vec![0u8; 10 << 20];
    let gz = report::gzip(&big);
    assert!(gz.len() < 64 << 10);
    let mut limits = Limits::default();
    limits.max_decompressed = 1 << 20;
    assert!(matches!(
        report::gunzip(&gz, limits.max_decompressed),
        Err(ReportError::TooComplex(_))
    ));
    assert!(matches!(
        report::extract(&gz, &limits),
        Err(ReportError::TooComplex(_))
    ));
    assert_eq!(report::gunzip(&gz, 10 << 20).unwrap().len(), 10 << 20);
    // Nested containers are bounded too.
    let mut nested = b"<feedback/>".to_vec();
    for _ in 0..6 {
        nested = report::gzip(&nested);
    }
    assert!(matches!(
        report::extract(&nested, &Limits::default()),
        Err(ReportError::TooComplex(_))
    ));
}

#[test]
fn generated_reports_round_trip() {
    let limits = Limits::default();
    for path in files("parsedmarc/aggregate", &[".xml", ".gz", ".zip", ".eml"]) {
        let r = parse_aggregate(&std::fs::read(&path).unwrap(), &limits).unwrap();
        let again = AggregateReport::parse(r.to_xml().as_bytes(), &limits).unwrap();
        let mut expect = r.clone();
        expect.version = Some(r.version.clone().unwrap_or_else(|| "1.0".into()));
        assert_eq!(again, expect, "{}", path.display());
    }
    let r = parse_aggregate(
        &std::fs::read(dir("mail-auth/dmarc-feedback/004.xml")).unwrap(),
        &limits,
    )
    .unwrap();
    assert_eq!(
        r.filename(),
        "example-reporter.com!example.com!302832000!302918399!3v98abbp8ya9n3va8yr8oa3ya.xml"
    );
    assert_eq!(
        r.subject(),
        "Report Domain: example.com Submitter: example-reporter.com Report-ID: <3v98abbp8ya9n3va8yr8oa3ya>"
    );
    assert_eq!(
        r.generator.as_deref(),
        Some("Example DMARC Aggregate Reporter v1.2")
    );
    assert_eq!(r.policy.discovery_method.as_deref(), Some("treewalk"));
    assert_eq!(r.policy.testing, Some(false));
}

#[test]
fn aggregate_report_from_evaluations() {
    use mail_auth_core::dmarc::{DkimInput, DkimResult, SpfInput, Verifier};
    use mail_auth_core::dns::{Record, StaticResolver, drive};
    use mail_auth_core::report::ReportRecord;
    use mail_auth_core::spf::SpfResult;
    let mut z = StaticResolver::default();
    z.add(
        "_dmarc.example.org",
        Record::Txt(b"v=DMARC1; p=quarantine".to_vec()),
    );
    let mut rep = AggregateReport::default();
    rep.org_name = "receiver.example".into();
    rep.email = "dmarc@receiver.example".into();
    rep.report_id = "r1".into();
    rep.policy.domain = "example.org".into();
    let ip = "192.0.2.1".parse().unwrap();
    for (spf_result, n) in [(SpfResult::Pass, 3), (SpfResult::Fail, 2)] {
        for _ in 0..n {
            let spf = SpfInput {
                domain: "example.org".into(),
                result: spf_result,
            };
            let dkim = vec![DkimInput {
                domain: "esp.example".into(),
                result: DkimResult::Pass,
            }];
            let out = drive(
                Verifier::new(&["example.org"], Some(spf.clone()), dkim.clone()),
                &z,
            );
            rep.add(ReportRecord::from_evaluation(
                ip,
                &out.domains[0],
                Some(&spf),
                &dkim,
            ));
        }
    }
    assert_eq!(rep.records.len(), 2);
    assert_eq!(
        (rep.records[0].count, rep.records[0].disposition.as_str()),
        (3, "pass")
    );
    assert_eq!(
        (rep.records[1].count, rep.records[1].disposition.as_str()),
        (2, "quarantine")
    );
    assert_eq!(rep.records[1].spf_results[0].result, "fail");
    let xml = rep.to_xml();
    let gz = report::gzip(xml.as_bytes());
    let back = parse_aggregate(&gz, &Limits::default()).unwrap();
    assert_eq!(back.records, rep.records);
    assert_eq!(back.message_count(), 5);
}

#[test]
fn failure_reports() {
    let (mut passed, mut failed) = (0, Vec::new());
    // mail-auth ARF samples against their JSON.
    for path in files("mail-auth/arf", &[".eml"]) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let j: Value =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
        let r = match parse_failure(&std::fs::read(&path).unwrap()) {
            Ok(r) => r,
            Err(e) => {
                failed.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut bad = Vec::new();
        let mut eq = |what: &str, a: String, b: String| {
            if a != b {
                bad.push(format!("{what}: ours {a:?}, expected {b:?}"));
            }
        };
        let unangle = |s: String| s.trim_start_matches('<').trim_end_matches('>').to_string();
        eq(
            "feedback_type",
            norm(&r.feedback_type),
            norm(&jstr(&j["feedback_type"])),
        );
        eq(
            "user_agent",
            r.user_agent.clone().unwrap_or_default(),
            jstr(&j["user_agent"]),
        );
        eq(
            "version",
            r.version.clone().unwrap_or_default(),
            jstr(&j["version"]),
        );
        eq(
            "incidents",
            r.incidents.map(|i| i.to_string()).unwrap_or_default(),
            jstr(&j["incidents"]),
        );
        eq(
            "source_ip",
            r.source_ip.map(|i| i.to_string()).unwrap_or_default(),
            jstr(&j["source_ip"]),
        );
        eq(
            "mail_from",
            r.original_mail_from.clone().unwrap_or_default(),
            unangle(jstr(&j["original_mail_from"])),
        );
        eq(
            "rcpt_to",
            r.original_rcpt_to.first().cloned().unwrap_or_default(),
            unangle(jstr(&j["original_rcpt_to"])),
        );
        eq(
            "envelope_id",
            r.original_envelope_id.clone().unwrap_or_default(),
            jstr(&j["original_envelope_id"]),
        );
        eq(
            "reporting_mta",
            r.reporting_mta.clone().unwrap_or_default(),
            jstr(&j["reporting_mta"]),
        );
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(|x| ws(&jstr(x))).collect())
                .unwrap_or_default()
        };
        eq(
            "reported_domain",
            format!("{:?}", r.reported_domain),
            format!("{:?}", list(&j["reported_domain"])),
        );
        eq(
            "reported_uri",
            format!("{:?}", r.reported_uri),
            format!("{:?}", list(&j["reported_uri"])),
        );
        eq(
            "authentication_results",
            format!(
                "{:?}",
                r.authentication_results
                    .iter()
                    .map(|a| ws(a))
                    .collect::<Vec<_>>()
            ),
            format!("{:?}", list(&j["authentication_results"])),
        );
        let af = norm(&jstr(&j["auth_failure"]));
        eq(
            "auth_failure",
            r.auth_failure
                .as_deref()
                .map_or_else(|| "unspecified".into(), norm),
            af,
        );
        eq(
            "dkim_domain",
            r.dkim_domain.clone().unwrap_or_default(),
            jstr(&j["dkim_domain"]),
        );
        eq(
            "dkim_identity",
            r.dkim_identity.clone().unwrap_or_default(),
            jstr(&j["dkim_identity"]),
        );
        eq(
            "dkim_selector",
            r.dkim_selector.clone().unwrap_or_default(),
            jstr(&j["dkim_selector"]),
        );
        eq(
            "dkim_canonicalized_body",
            ws(r.dkim_canonicalized_body.as_deref().unwrap_or_default()),
            ws(&jstr(&j["dkim_canonicalized_body"])),
        );
        if bad.is_empty() {
            passed += 1;
        } else {
            failed.push(format!("{name}: {bad:?}"));
        }
    }
    // parsedmarc's failure samples: all are auth-failure reports.
    for path in files("parsedmarc/failure", &[".eml"]) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match parse_failure(&std::fs::read(&path).unwrap()) {
            Ok(r) if r.feedback_type == "auth-failure" => {
                if name.starts_with("exim_plain")
                    && r.source_ip != Some("203.0.113.68".parse().unwrap())
                {
                    failed.push(format!("{name}: source ip {:?}", r.source_ip));
                } else {
                    passed += 1;
                }
            }
            Ok(r) => failed.push(format!("{name}: feedback type {}", r.feedback_type)),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    // An aggregate report is not a failure report.
    match parse_failure(&std::fs::read(dir("parsedmarc/aggregate/twilight.eml")).unwrap()) {
        Err(_) => passed += 1,
        Ok(r) => failed.push(format!("twilight.eml taken for a failure report: {r:?}")),
    }
    report("dmarc-failure-reports", passed, &failed);
    assert_eq!(passed + failed.len(), 5 + 5 + 1);
    assert!(failed.is_empty());
}

#[test]
fn failure_report_round_trip() {
    let orig = std::fs::read(dir("mail-auth/arf/005.eml")).unwrap();
    let r = parse_failure(&orig).unwrap();
    let msg = r.to_message(
        &[
            ("From", "dmarc@receiver.example"),
            ("To", "ruf@sender.example"),
            ("Subject", "DMARC failure report"),
        ],
        "=_b0undary_=",
    );
    let again = parse_failure(&msg).unwrap();
    assert_eq!(again.feedback_type, r.feedback_type);
    assert_eq!(again.source_ip, r.source_ip);
    assert_eq!(again.auth_failure, r.auth_failure);
    assert_eq!(again.reported_domain, r.reported_domain);
    assert_eq!(again.dkim_selector, r.dkim_selector);
    assert_eq!(again.original.is_some(), r.original.is_some());
}

#[test]
fn tls_reports() {
    use mail_auth_core::tlsrpt::TlsReport;
    let limits = Limits::default();
    let (mut passed, mut failed) = (0, Vec::new());
    for path in files("mail-auth/tlsrpt", &[".json"])
        .into_iter()
        .chain(files("parsedmarc/smtp_tls", &[".json", ".eml"]))
    {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match TlsReport::parse_any(&std::fs::read(&path).unwrap(), &limits) {
            Ok(r) if !r.policies.is_empty() && !r.report_id.is_empty() => {
                // Generated JSON reads back the same.
                if TlsReport::parse(r.to_json().as_bytes()).as_ref() == Ok(&r) {
                    passed += 1;
                } else {
                    failed.push(format!("{name}: round trip differs"));
                }
            }
            Ok(r) => failed.push(format!("{name}: incomplete {r:?}")),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    // The reports extracted from the e-mails equal their JSON files.
    for n in ["rpt01", "rpt02"] {
        let eml = std::fs::read(dir(&format!("mail-auth/tlsrpt/{n}.eml"))).unwrap();
        let json = std::fs::read(dir(&format!("mail-auth/tlsrpt/{n}.json"))).unwrap();
        match (TlsReport::parse_any(&eml, &limits), TlsReport::parse(&json)) {
            (Ok(a), Ok(b)) if a == b => passed += 1,
            (a, b) => failed.push(format!("{n}.eml: {a:?} vs {b:?}")),
        }
    }
    report("tls-rpt-reports", passed, &failed);
    assert_eq!(passed + failed.len(), 3 + 4 + 2);
    assert!(failed.is_empty());
}
