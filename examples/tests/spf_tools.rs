//! `spf-check` and `dmarc-check` offline, with a zone file (no peers needed).

use std::process::Command;

const ZONE: &str = r#"
$ORIGIN example.
$TTL 300
sender      TXT   "v=spf1 ip4:192.0.2.0/24 include:esp.example -all"
esp         TXT   "v=spf1 ip6:2001:db8::/32 ~all"
_dmarc.sender TXT ( "v=DMARC1; p=reject; "
                    "rua=mailto:d@reports.example" )
sender.example._report._dmarc.reports TXT "v=DMARC1"
why         TXT   "%{i} may not send for %{d}"
strict      TXT   "v=spf1 -all exp=why.example"
$INCLUDE extra.zone
"#;

fn run(bin: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn tools_answer_from_a_zone_file() {
    let dir = Dir(std::env::temp_dir().join(format!("spf-tools-test-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let zone = dir.path().join("test.zone");
    std::fs::write(&zone, ZONE).unwrap();
    std::fs::write(dir.path().join("extra.zone"), "mx.sender A 192.0.2.25\n").unwrap();
    let z = zone.to_str().unwrap();
    let spf = env!("CARGO_BIN_EXE_spf-check");
    let dmarc = env!("CARGO_BIN_EXE_dmarc-check");

    let (code, out) = run(
        spf,
        &[
            "--zone",
            z,
            "--ip",
            "192.0.2.9",
            "--sender",
            "a@sender.example",
            "--helo",
            "mx.sender.example",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pass");
    assert!(lines[3].starts_with("Received-SPF: pass ("), "{out}");
    assert!(lines[3].contains("mechanism=\"ip4:192.0.2.0/24\""), "{out}");

    // The include's ~all does not match; the outer -all fails.
    let (_, out) = run(
        spf,
        &[
            "--zone",
            z,
            "--ip",
            "2001:db9::1",
            "--sender",
            "a@sender.example",
            "-v",
        ],
    );
    assert!(out.starts_with("fail\n"), "{out}");
    assert!(out.contains("dns lookups: 1"), "{out}");
    // exp= with macros.
    let (_, out) = run(
        spf,
        &[
            "--zone",
            z,
            "--ip",
            "198.51.100.1",
            "--sender",
            "b@strict.example",
        ],
    );
    assert_eq!(
        out.lines().nth(1),
        Some("198.51.100.1 may not send for strict.example"),
        "{out}"
    );
    // HELO identity, from $INCLUDE'd data: no SPF record there.
    let (_, out) = run(
        spf,
        &[
            "--zone",
            z,
            "--ip",
            "192.0.2.25",
            "--helo",
            "mx.sender.example",
            "--identity",
            "helo",
        ],
    );
    assert!(out.starts_with("none\n"), "{out}");
    // A missing zone file is a setup error.
    let (code, _) = run(
        spf,
        &[
            "--zone",
            "/nonexistent.zone",
            "--ip",
            "192.0.2.1",
            "--sender",
            "a@b.example",
        ],
    );
    assert_eq!(code, 2);

    let (code, out) = run(
        dmarc,
        &[
            "--zone",
            z,
            "--from",
            "sender.example",
            "--ip",
            "192.0.2.9",
            "--mail-from",
            "a@sender.example",
            "--helo",
            "h",
            "--check-rua",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("spf=pass smtp.mailfrom=a@sender.example"),
        "{out}"
    );
    assert!(
        out.contains("dmarc=pass (p=reject dis=none) header.from=sender.example"),
        "{out}"
    );
    assert!(
        out.contains("rua mailto:d@reports.example: Authorized"),
        "{out}"
    );
    let (code, out) = run(
        dmarc,
        &[
            "--zone",
            z,
            "--from",
            "sender.example",
            "--dkim",
            "other.example=pass",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("policy.dmarc=reject"), "{out}");
    let msg = dir.path().join("msg.eml");
    std::fs::write(
        &msg,
        "From: A <a@Sender.Example>\r\nTo: b@x.example\r\n\r\nhi\r\n",
    )
    .unwrap();
    let (code, out) = run(
        dmarc,
        &[
            "--zone",
            z,
            "--message",
            msg.to_str().unwrap(),
            "--dkim",
            "sender.example=pass",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("author domain: sender.example"), "{out}");
    let (code, out) = run(dmarc, &["--lint", "v=DMARC1; p=none; fo=0;1;"]);
    assert_eq!(code, 1);
    assert!(out.contains("fo=0:1"), "{out}");
}

/// A scratch directory removed at the end.
struct Dir(std::path::PathBuf);

impl Dir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
