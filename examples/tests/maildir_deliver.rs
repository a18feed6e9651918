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

/// Files in `dir/cur` and `dir/new` together.
fn stored(dir: &Path) -> Vec<String> {
    let mut v = names(&dir.join("new"));
    v.extend(names(&dir.join("cur")));
    v
}

fn script(dir: &TempDir, text: &str) -> String {
    let p = dir.path().join("filter.sieve");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const RUST_MSG: &[u8] =
    b"From: a@example.test\nTo: u@example.test\nSubject: [rust] release\nMessage-ID: <1@x>\n\nhi\n";
const OTHER_MSG: &[u8] =
    b"From: b@example.test\nTo: u@example.test\nSubject: lunch\nMessage-ID: <2@x>\n\nhi\n";

#[test]
fn sieve_fileinto_creates_folders_and_sets_flags_and_keywords() {
    let dir = TempDir::new();
    let md = dir.path().join("Maildir");
    let md_s = md.to_str().unwrap();
    let sieve = script(
        &dir,
        r#"require ["fileinto", "imap4flags"];
if header :contains "subject" "[rust]" {
    fileinto :flags "\\Seen" "Lists.rust";
    stop;
}
addflag ["\\Flagged", "$Important"];
"#,
    );
    let out = deliver(&["--maildir", md_s, "--sieve", &sieve, "-v"], RUST_MSG);
    ok(&out);
    // The folder was created (without :create), flagged \Seen in cur/, and subscribed.
    let files = names(&md.join(".Lists.rust/cur"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(":2,S"), "{files:?}");
    assert!(stored(&md).is_empty());
    let subs = std::fs::read_to_string(md.join("subscriptions")).unwrap();
    // Dovecot's subscriptions format, version 2: hierarchy levels separated by tabs.
    assert!(subs.lines().any(|l| l == "Lists\trust"), "{subs:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.trim().contains(".Lists.rust/cur/"), "{printed}");

    // The implicit keep with flags: \Flagged as F, $Important as a keyword letter.
    ok(&deliver(&["--maildir", md_s, "--sieve", &sieve], OTHER_MSG));
    let files = names(&md.join("cur"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(":2,Fa"), "{files:?}");
    let kw = std::fs::read_to_string(md.join("dovecot-keywords")).unwrap();
    assert_eq!(kw.trim(), "0 $Important");
    assert_eq!(
        std::fs::read(md.join("cur").join(&files[0])).unwrap(),
        OTHER_MSG
    );
}

#[test]
fn sieve_discard_reject_and_stop() {
    let dir = TempDir::new();
    let md = dir.path().join("Maildir");
    let md_s = md.to_str().unwrap();
    let sieve = script(
        &dir,
        r#"require ["reject"];
if header :is "subject" "lunch" { discard; stop; }
if header :contains "from" "a@" { reject "No mail from a, please."; }
"#,
    );
    let out = deliver(&["--maildir", md_s, "--sieve", &sieve, "-v"], OTHER_MSG);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("discarded"));
    let out = deliver(&["--maildir", md_s, "--sieve", &sieve], RUST_MSG);
    assert_eq!(out.status.code(), Some(77));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No mail from a, please."));
    assert!(stored(&md).is_empty());
    assert!(names(&md.join("tmp")).is_empty());
}

#[test]
fn sieve_redirect_and_vacation_have_no_outbound_path_and_keep() {
    let dir = TempDir::new();
    let md = dir.path().join("Maildir");
    let md_s = md.to_str().unwrap();
    // redirect without :copy cancels the implicit keep; deliver cannot send, so it keeps.
    let sieve = script(&dir, r#"redirect "elsewhere@example.net";"#);
    let out = deliver(&["--maildir", md_s, "--sieve", &sieve], RUST_MSG);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("elsewhere@example.net") && err.contains("no outbound mail path"),
        "{err}"
    );
    assert_eq!(stored(&md).len(), 1);
    // vacation: not sent, said so; the message is kept once.
    let sieve = script(
        &dir,
        r#"require ["vacation"]; vacation :addresses "u@example.test" "Away.";"#,
    );
    let out = deliver(
        &[
            "--maildir",
            md_s,
            "--sieve",
            &sieve,
            "--sender",
            "a@example.test",
            "--recipient",
            "u@example.test",
        ],
        RUST_MSG,
    );
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("automatic reply") && err.contains("not sent"),
        "{err}"
    );
    assert_eq!(stored(&md).len(), 2);
}

#[test]
fn sieve_broken_script_keeps_the_message() {
    let dir = TempDir::new();
    let md = dir.path().join("Maildir");
    let md_s = md.to_str().unwrap();
    let sieve = script(&dir, "fileinto \"x\";"); // fileinto without require
    let out = deliver(&["--maildir", md_s, "--sieve", &sieve], RUST_MSG);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeping the message"));
    assert_eq!(names(&md.join("new")).len(), 1);
    let missing = dir.path().join("missing.sieve");
    let out = deliver(
        &["--maildir", md_s, "--sieve", missing.to_str().unwrap()],
        RUST_MSG,
    );
    ok(&out);
    assert_eq!(names(&md.join("new")).len(), 2);
    // An invalid folder name from the script goes to INBOX.
    let sieve = script(&dir, "require \"fileinto\"; fileinto \"a..b\";");
    let out = deliver(&["--maildir", md_s, "--sieve", &sieve], RUST_MSG);
    ok(&out);
    assert_eq!(names(&md.join("new")).len(), 3);
}

#[test]
fn sieve_dir_active_script_include_and_duplicate_tracking() {
    use sieve::managesieve::ScriptName;
    use sieve::managesieve::store::FsScriptStore;
    let dir = TempDir::new();
    let home = dir.path().join("home");
    let md = home.join("Maildir");
    let md_s = md.to_str().unwrap();
    let sdir = home.join("sieve");
    let store = FsScriptStore::open(&sdir).unwrap();
    let main = ScriptName::new("main").unwrap();
    store
        .put(
            &main,
            br#"require ["include", "duplicate"];
if duplicate { discard; stop; }
include :personal "lists";"#,
        )
        .unwrap();
    store
        .put(
            &ScriptName::new("lists").unwrap(),
            br#"require ["fileinto"]; if header :contains "subject" "[rust]" { fileinto "Rust"; }"#,
        )
        .unwrap();
    let sdir_s = sdir.to_str().unwrap();
    // No active script yet: plain delivery.
    ok(&deliver(
        &["--maildir", md_s, "--sieve-dir", sdir_s],
        RUST_MSG,
    ));
    assert_eq!(names(&md.join("new")).len(), 1);
    store.set_active(Some(&main)).unwrap();
    ok(&deliver(
        &["--maildir", md_s, "--sieve-dir", sdir_s],
        RUST_MSG,
    ));
    assert_eq!(names(&md.join(".Rust/new")).len(), 1);
    // The same Message-ID again: a duplicate, discarded; tracked in the home.
    ok(&deliver(
        &["--maildir", md_s, "--sieve-dir", sdir_s],
        RUST_MSG,
    ));
    assert_eq!(names(&md.join(".Rust/new")).len(), 1);
    assert!(home.join("sieve-duplicates").is_file());
    ok(&deliver(
        &["--maildir", md_s, "--sieve-dir", sdir_s],
        OTHER_MSG,
    ));
    assert_eq!(names(&md.join("new")).len(), 2);
    let out = deliver(
        &["--maildir", md_s, "--sieve-dir", sdir_s, "--sieve", "x"],
        RUST_MSG,
    );
    assert_eq!(out.status.code(), Some(64));
}
