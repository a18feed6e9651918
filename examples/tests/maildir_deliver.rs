//! The `deliver` local delivery agent: exit codes per sysexits, Maildir created when
//! missing, headers prepended, mbox `From ` line dropped, nothing partial on failure.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A scratch directory removed on drop (examples has no `tempfile` dependency).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("maildir-deliver-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn deliver(args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deliver"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may exit (usage error, unusable path) before it reads its input.
    match c.stdin.take().unwrap().write_all(stdin) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("writing to deliver: {e}"),
    }
    c.wait_with_output().unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

const MSG: &[u8] = b"From sender@example.test Sat Nov 21 05:56:24 2026\nSubject: hi\n\nhello\n";

#[test]
fn delivers_into_a_new_maildir_with_headers() {
    let dir = TempDir::new();
    let md = dir.path().join("home/u/Maildir");
    let md_s = md.to_str().unwrap();
    let out = deliver(
        &[
            "--maildir",
            md_s,
            "--return-path",
            "sender@example.test",
            "--delivered-to",
            "u@example.test\r\nX-Evil: 1",
            "-v",
        ],
        MSG,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(path.trim());
    assert_eq!(path.parent().unwrap(), md.join("new"));
    assert_eq!(
        std::fs::read(path).unwrap(),
        b"Return-Path: <sender@example.test>\nDelivered-To: u@example.testX-Evil: 1\nSubject: hi\n\nhello\n"
    );
    for sub in ["cur", "tmp"] {
        assert!(md.join(sub).is_dir() && names(&md.join(sub)).is_empty());
    }
}

#[test]
fn over_quota_is_a_temporary_failure_and_leaves_nothing() {
    let dir = TempDir::new();
    let md = dir.path().join("Maildir");
    let md_s = md.to_str().unwrap();
    let ok = deliver(
        &["--maildir", md_s, "--quota-bytes", "100"],
        b"Subject: a\n\nx\n",
    );
    assert_eq!(ok.status.code(), Some(0));
    let big = vec![b'x'; 200];
    let out = deliver(&["--maildir", md_s, "--quota-bytes", "100"], &big);
    assert_eq!(out.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quota exceeded"));
    let out = deliver(
        &[
            "--maildir",
            md_s,
            "--quota-bytes",
            "100",
            "--quota-permanent",
        ],
        &big,
    );
    assert_eq!(out.status.code(), Some(73));
    assert_eq!(names(&md.join("new")).len(), 1);
    assert!(names(&md.join("tmp")).is_empty());
    let out = deliver(&["--maildir", md_s, "--max-size", "10"], &big);
    assert_eq!(out.status.code(), Some(73));
}

#[test]
fn folders_create_or_fall_back_to_inbox() {
    let dir = TempDir::new();
    let md = dir.path().join("Maildir");
    let md_s = md.to_str().unwrap();
    let out = deliver(
        &["--maildir", md_s, "--folder", "Lists.rust", "--create"],
        MSG,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(names(&md.join(".Lists.rust/new")).len(), 1);
    assert!(md.join(".Lists.rust/maildirfolder").exists());
    let out = deliver(&["--maildir", md_s, "--folder", "Nope"], MSG);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivering to INBOX"));
    assert_eq!(names(&md.join("new")).len(), 1);
    let out = deliver(&["--maildir", md_s, "--folder", "a..b", "--create"], MSG);
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn usage_and_unusable_paths() {
    let out = deliver(&[], MSG);
    assert_eq!(out.status.code(), Some(64));
    let dir = TempDir::new();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    // A Maildir under a regular file cannot be created: temporary (a configuration error
    // must not bounce mail).
    let out = deliver(&["--maildir", file.join("Maildir").to_str().unwrap()], MSG);
    assert_eq!(out.status.code(), Some(75));
}
