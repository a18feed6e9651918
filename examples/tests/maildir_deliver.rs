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

/// A private Postfix instance in a scratch directory, stopped (by its master's PID) on drop.
struct Postfix {
    etc: std::path::PathBuf,
    pid_file: std::path::PathBuf,
}

impl Postfix {
    fn run(etc: &Path, what: &str) -> Output {
        Command::new("postfix")
            .args(["-c", etc.to_str().unwrap(), what])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("postfix {what}: {e} (is Postfix installed?)"))
    }

    fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

fn alive(pid: u32) -> bool {
    // A zombie is not alive (PID 1 here may reap late).
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = self.master_pid();
        let _ = Self::run(&self.etc, "stop");
        if let Some(pid) = pid {
            for _ in 0..100 {
                if !alive(pid) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn smtp_send(port: u16, from: &str, to: &str, msg: &str) {
    use std::io::{BufRead, BufReader};
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut expect = |code: &str| {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with(code), "expected {code}, got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    };
    expect("220");
    for (cmd, code) in [
        ("EHLO client.test".to_string(), "250"),
        (format!("MAIL FROM:<{from}>"), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        write!(w, "{cmd}\r\n").unwrap();
        expect(code);
    }
    assert!(msg.ends_with('\n'));
    write!(w, "{}.\r\n", msg.replace('\n', "\r\n")).unwrap();
    expect("250");
    write!(w, "QUIT\r\n").unwrap();
    expect("221");
}

/// Postfix's local(8) with `mailbox_command` running our `deliver` (with a Sieve script)
/// as the recipient: a message submitted over SMTP lands in our Maildir, filtered.
#[test]
#[ignore = "interop: needs root and Postfix installed (.ci/peers/install-peers.sh); starts its own instance"]
fn postfix_mailbox_command_runs_deliver() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test starts Postfix, which needs root"
    );
    let dir = TempDir::new();
    let d = dir.path();
    // Every ancestor must be searchable by postfix and nobody.
    Command::new("chmod")
        .args(["755", d.to_str().unwrap()])
        .status()
        .unwrap();
    let etc = d.join("postfix/etc");
    for sub in ["postfix/etc", "postfix/spool", "postfix/data", "Maildir"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let md = d.join("Maildir");
    // local(8) runs mailbox_command as the recipient, here `nobody`.
    assert!(
        Command::new("chown")
            .args(["65534:65534", md.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new("chown")
            .args(["postfix", d.join("postfix/data").to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
    let sieve = d.join("filter.sieve");
    std::fs::write(
        &sieve,
        r#"require ["fileinto", "envelope"];
if envelope :is "from" "alice@sender.test" {
    if header :contains "subject" "[rust]" { fileinto "Lists.rust"; }
}
"#,
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = |x: &Path| x.to_str().unwrap().to_owned();
    let main_cf = format!(
        r#"compatibility_level = 3.6
config_directory = {etc}
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d}/postfix/postfix.log
maillog_file_prefixes = {d}
myhostname = mx.deliver.test
mydomain = deliver.test
myorigin = deliver.test
mydestination = deliver.test
alias_maps =
alias_database =
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:9
default_transport = error:no remote delivery in this test
mailbox_command = {deliver} --maildir {md} --sender "$SENDER" --recipient "$RECIPIENT" --sieve {sieve}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
in_flow_delay = 0s
smtpd_error_sleep_time = 0s
"#,
        etc = p(&etc),
        spool = p(&d.join("postfix/spool")),
        data = p(&d.join("postfix/data")),
        d = p(d),
        deliver = env!("CARGO_BIN_EXE_deliver"),
        md = p(&md),
        sieve = p(&sieve),
    );
    std::fs::write(etc.join("main.cf"), main_cf).unwrap();
    let mut master = format!("127.0.0.1:{port} inet n - n - - smtpd\n");
    for line in [
        "pickup unix n - n 60 1 pickup",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "proxywrite unix - - n - 1 proxymap",
        "smtp unix - - n - - smtp",
        "relay unix - - n - - smtp",
        "showq unix n - n - - showq",
        "error unix - - n - - error",
        "retry unix - - n - - error",
        "discard unix - - n - - discard",
        "local unix - n n - - local",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ] {
        master.push_str(line);
        master.push('\n');
    }
    std::fs::write(etc.join("master.cf"), master).unwrap();
    let log = d.join("postfix/postfix.log");
    let check = Postfix::run(&etc, "check");
    assert!(check.status.success(), "postfix check: {check:?}");
    let pf = Postfix {
        etc: etc.clone(),
        pid_file: d.join("postfix/spool/pid/master.pid"),
    };
    let start = Postfix::run(&etc, "start");
    assert!(
        start.status.success(),
        "postfix start: {start:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "postfix does not listen:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(pf.master_pid().is_some_and(alive));

    smtp_send(
        port,
        "alice@sender.test",
        "nobody@deliver.test",
        "From: alice@sender.test\nTo: nobody@deliver.test\nSubject: [rust] 1.95 is out\n\nRelease notes.\n",
    );
    smtp_send(
        port,
        "bob@sender.test",
        "nobody@deliver.test",
        "From: bob@sender.test\nTo: nobody@deliver.test\nSubject: lunch?\n\nAt noon.\n",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let done =
            names(&md.join(".Lists.rust/new")).len() == 1 && names(&md.join("new")).len() == 1;
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered in a minute; Maildir: {:?} / {:?}\n{}",
            names(&md.join("new")),
            names(&md.join(".Lists.rust/new")),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let rust = md
        .join(".Lists.rust/new")
        .join(&names(&md.join(".Lists.rust/new"))[0]);
    let text = std::fs::read_to_string(rust).unwrap();
    // local(8) adds the envelope fields itself; deliver added none of its own.
    assert!(
        text.starts_with("Return-Path: <alice@sender.test>\n"),
        "{text}"
    );
    assert!(
        text.contains("\nDelivered-To: nobody@deliver.test\n"),
        "{text}"
    );
    assert!(text.contains("\nSubject: [rust] 1.95 is out\n"), "{text}");
    assert!(text.ends_with("\n\nRelease notes.\n"), "{text}");
    assert!(!text.contains("\r\n"), "LF line ends from Postfix: {text}");
    let inbox = md.join("new").join(&names(&md.join("new"))[0]);
    assert!(
        std::fs::read_to_string(inbox)
            .unwrap()
            .contains("Subject: lunch?")
    );
    // Files are owned by the recipient that local(8) ran deliver as.
    let meta = std::fs::metadata(md.join(".Lists.rust")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 65534);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log_text
            .matches("status=sent (delivered to command:")
            .count()
            >= 2,
        "{log_text}"
    );
    let pid = pf.master_pid().unwrap();
    drop(pf);
    assert!(!alive(pid), "postfix master {pid} still running");
}
