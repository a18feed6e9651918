//! Interop with Dovecot 2.3 (the peers of `.ci/peers`): Dovecot serves a Maildir we wrote
//! and sees the same UIDs, UIDVALIDITY, flags, keywords and subscriptions; we read a Maildir
//! Dovecot wrote (dovecot-lda and LMTP deliveries, flags set over IMAP) and see the same.
//! Both sides also change one folder in turns, each seeing the other's changes.
//!
//! Needs `MAIL_PEERS_DIR` and `DC_IMAP_PORT`/`DC_LMTP_PORT` (set by `.ci/test`); fails
//! without them. Works in alice's Maildir under folder names unique to the run, and removes
//! them at the end.
//!
//! Dovecot's mail user is uid/gid 65534, and other tests use alice's Maildir at the same
//! time: a file or directory we created as root, even for a moment, would make Dovecot fail
//! for them. So everything our crate does here runs in a child process (this binary, role
//! `ours`) as uid/gid 65534, as a delivery agent or IMAP server would; the parent (root)
//! runs doveadm, dovecot-lda, LMTP and IMAP. Its own harness (`harness = false`) for that.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use maildir::{Access, Expunges, Flag, FlagSet, Maildir, Options, StoreOp, View};

struct Peers {
    conf: PathBuf,
    maildir: PathBuf,
    imap_port: u16,
    lmtp_port: u16,
}

fn peers() -> Peers {
    let need = |v: &str| {
        std::env::var(v).unwrap_or_else(|_| {
            panic!("{v} is not set: run the interop tests through .ci/test (it starts the peers)")
        })
    };
    let dir = PathBuf::from(need("MAIL_PEERS_DIR"));
    Peers {
        conf: dir.join("dovecot/dovecot.conf"),
        maildir: dir.join("dovecot/home/alice/Maildir"),
        imap_port: need("DC_IMAP_PORT").parse().unwrap(),
        lmtp_port: need("DC_LMTP_PORT").parse().unwrap(),
    }
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!("{prefix}{}x{n}", std::process::id())
}

fn doveadm(p: &Peers, args: &[&str]) -> String {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(&p.conf)
        .args(args)
        .output()
        .expect("doveadm");
    assert!(
        out.status.success(),
        "doveadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `doveadm fetch 'uid flags'`: (uid, sorted flags without \Recent).
fn dovecot_flags(p: &Peers, mailbox: &str) -> Vec<(u32, Vec<String>)> {
    let out = doveadm(
        p,
        &[
            "fetch",
            "-u",
            "alice",
            "uid flags",
            "mailbox",
            mailbox,
            "all",
        ],
    );
    let mut v = Vec::new();
    let mut uid = 0;
    for line in out.lines() {
        if let Some(u) = line.strip_prefix("uid: ") {
            uid = u.trim().parse().unwrap();
        } else if let Some(f) = line.strip_prefix("flags:") {
            let mut flags: Vec<String> = f
                .split_whitespace()
                .filter(|x| *x != "\\Recent")
                .map(str::to_owned)
                .collect();
            flags.sort();
            v.push((uid, flags));
        }
    }
    v
}

fn dovecot_status(p: &Peers, mailbox: &str) -> (u32, u32, u32) {
    let out = doveadm(
        p,
        &[
            "mailbox",
            "status",
            "-u",
            "alice",
            "uidvalidity uidnext messages",
            mailbox,
        ],
    );
    let get = |k: &str| -> u32 {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing in {out}"))
            .parse()
            .unwrap()
    };
    (get("uidvalidity"), get("uidnext"), get("messages"))
}

/// A tiny IMAP client for the few commands these tests need.
struct Imap {
    r: BufReader<TcpStream>,
    w: TcpStream,
    tag: u32,
}

impl Imap {
    fn login(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut me = Self {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            tag: 0,
        };
        let mut greeting = String::new();
        me.r.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        me.cmd("LOGIN alice alicepw");
        me
    }

    /// Runs a command and returns its untagged lines; panics unless it ends in OK.
    fn cmd(&mut self, c: &str) -> Vec<String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        write!(self.w, "{tag} {c}\r\n").unwrap();
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            assert!(self.r.read_line(&mut l).unwrap() > 0, "connection closed");
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{c}: {rest}");
                return lines;
            }
            lines.push(l.trim_end().to_owned());
        }
    }
}

fn mutf7(s: &str) -> String {
    maildir::mutf7::encode(s)
}

fn message(n: usize, id: &str) -> Vec<u8> {
    format!(
        "From: sender@example.test\r\nTo: alice@dc.test\r\nSubject: interop {n}\r\nMessage-ID: <{id}>\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

// ---------------------------------------------------------------- our side (uid 65534)

fn md(p: &Peers) -> Maildir {
    Maildir::open(&p.maildir, Options::default()).unwrap()
}

fn print_folder(f: &maildir::Folder) {
    println!("VALIDITY {}", f.uid_validity().unwrap());
    println!("UIDNEXT {}", f.uid_next().unwrap());
    for u in f.uids().unwrap() {
        let info = f.message(u).unwrap().unwrap();
        let mut names = info.flags.imap_names();
        names.sort();
        println!("MSG {u} {} {}", info.modseq, names.join(" "));
    }
}

/// `ours CMD ARGS`: one step of our side, printing what it sees.
fn ours_main(args: &[String]) {
    let p = peers();
    let a = |i: usize| args[i].as_str();
    match a(0) {
        "setup" => {
            let md = md(&p);
            let name = a(1);
            let f = md.create_folder(name).unwrap();
            for i in 0..4 {
                f.deliver(&message(i, &format!("{name}-{i}@test"))[..])
                    .unwrap();
            }
            let mut view = View::open(&f, Access::ReadWrite).unwrap();
            assert_eq!(view.uids(), [1, 2, 3, 4]);
            assert_eq!(view.recent_count(), 4);
            view.store(&[1], StoreOp::Add, &FlagSet::new().with(Flag::Seen), None)
                .unwrap();
            let kw = FlagSet::new().with(Flag::Flagged).with_keyword("$Label1");
            view.store(&[2], StoreOp::Add, &kw, None).unwrap();
            view.store(
                &[4],
                StoreOp::Add,
                &FlagSet::new().with(Flag::Replied),
                None,
            )
            .unwrap();
            f.expunge(&[3]).unwrap();
            md.subscribe(name).unwrap();
            let ch = view.sync(Expunges::Report).unwrap();
            assert_eq!(ch.expunged, [3]);
            print_folder(&f);
        }
        "show" => {
            let md = md(&p);
            let f = md.folder(a(1)).unwrap();
            // Read-only: a session that only looks (EXAMINE).
            let v = View::open(&f, Access::ReadOnly).unwrap();
            println!(
                "UIDS {}",
                v.uids()
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            print_folder(&f);
        }
        "deliver" => {
            let f = md(&p).folder(a(1)).unwrap();
            f.deliver(&message(9, a(2))[..]).unwrap();
            if a(3) == "sync" {
                f.sync(false).unwrap();
            }
            print_folder(&f);
        }
        "unflag" => {
            let f = md(&p).folder(a(1)).unwrap();
            let uid: u32 = a(2).parse().unwrap();
            let r = f
                .store(
                    &[uid],
                    StoreOp::Remove,
                    &FlagSet::new().with(Flag::Flagged),
                    None,
                )
                .unwrap();
            assert_eq!(r.changed.len(), 1);
        }
        "find" => {
            let md = md(&p);
            let inbox = md.inbox().unwrap();
            let view = View::open(&inbox, Access::ReadOnly).unwrap();
            let needle = format!("<{}>", a(1));
            for &u in view.uids() {
                let info = inbox.message(u).unwrap().unwrap();
                if std::fs::read_to_string(&info.path)
                    .unwrap()
                    .contains(&needle)
                {
                    println!("UID {u}");
                }
            }
            println!("VALIDITY {}", inbox.uid_validity().unwrap());
        }
        "delete" => {
            let md = md(&p);
            md.unsubscribe(a(1)).unwrap();
            md.delete_folder(a(1)).unwrap();
        }
        other => panic!("unknown step {other}"),
    }
}

/// Runs a step of our side as Dovecot's mail user.
fn ours(args: &[&str]) -> Vec<String> {
    use std::os::unix::process::CommandExt;
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("ours")
        .args(args)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("running our side as uid 65534 (the tests run as root in CI)");
    assert!(
        out.status.success(),
        "ours {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Parses `print_folder` output: (validity, uidnext, [(uid, modseq, flags)]).
type Msgs = Vec<(u32, u64, Vec<String>)>;

fn parse_folder(lines: &[String]) -> (u32, u32, Msgs) {
    let mut v = 0;
    let mut n = 0;
    let mut msgs = Vec::new();
    for l in lines {
        let mut it = l.split(' ');
        match it.next() {
            Some("VALIDITY") => v = it.next().unwrap().parse().unwrap(),
            Some("UIDNEXT") => n = it.next().unwrap().parse().unwrap(),
            Some("MSG") => {
                let uid = it.next().unwrap().parse().unwrap();
                let ms = it.next().unwrap().parse().unwrap();
                msgs.push((
                    uid,
                    ms,
                    it.filter(|x| !x.is_empty()).map(str::to_owned).collect(),
                ));
            }
            _ => {}
        }
    }
    (v, n, msgs)
}

fn flags_of(msgs: &[(u32, u64, Vec<String>)]) -> Vec<(u32, Vec<String>)> {
    msgs.iter().map(|(u, _, f)| (*u, f.clone())).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------- the tests

fn dovecot_serves_a_maildir_we_wrote() {
    let p = peers();
    // A name with a non-ASCII character: the directory is in modified UTF-7 on both sides.
    let name = unique("Wrote\u{fc}");
    let (validity, uidnext, msgs) = parse_folder(&ours(&["setup", &name]));
    assert_eq!(uidnext, 5);
    let modseq1 = msgs[0].1;

    // Dovecot sees our UIDs, UIDVALIDITY, UIDNEXT, flags and keywords.
    let (dc_validity, dc_uidnext, dc_messages) = dovecot_status(&p, &name);
    assert_eq!((dc_validity, dc_uidnext, dc_messages), (validity, 5, 3));
    let theirs = dovecot_flags(&p, &name);
    assert_eq!(theirs, flags_of(&msgs));
    assert_eq!(
        theirs,
        [
            (1, strs(&["\\Seen"])),
            (2, strs(&["$Label1", "\\Flagged"])),
            (4, strs(&["\\Answered"])),
        ]
    );
    let subscribed = doveadm(&p, &["mailbox", "list", "-u", "alice", "-s"]);
    assert!(subscribed.lines().any(|l| l == name), "{subscribed}");

    // Over IMAP: the same UIDVALIDITY and UIDNEXT; Dovecot changes flags, we see the
    // change with a new modseq.
    let mut imap = Imap::login(p.imap_port);
    let sel = imap.cmd(&format!("SELECT \"{}\"", mutf7(&name)));
    assert!(
        sel.iter()
            .any(|l| l.contains(&format!("[UIDVALIDITY {validity}]"))),
        "{sel:?}"
    );
    assert!(sel.iter().any(|l| l.contains("[UIDNEXT 5]")), "{sel:?}");
    imap.cmd("UID STORE 1 +FLAGS (\\Deleted $Junk)");
    assert_eq!(imap.cmd("UID FETCH 1:* (UID)").len(), 3);
    imap.cmd("LOGOUT");
    let (_, _, msgs) = parse_folder(&ours(&["show", &name]));
    assert_eq!(msgs[0].2, strs(&["$Junk", "\\Deleted", "\\Seen"]));
    assert!(
        msgs[0].1 > modseq1,
        "modseq went from {modseq1} to {}",
        msgs[0].1
    );

    // A message we deliver and number is seen by Dovecot with our UID; one we deliver and
    // Dovecot numbers first keeps Dovecot's UID on our side.
    let (_, uidnext, _) = parse_folder(&ours(&[
        "deliver",
        &name,
        &format!("{name}-5@test"),
        "sync",
    ]));
    assert_eq!(uidnext, 6);
    ours(&["deliver", &name, &format!("{name}-6@test"), "nosync"]);
    let theirs = dovecot_flags(&p, &name);
    assert_eq!(
        theirs.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        [1, 2, 4, 5, 6]
    );
    let out = doveadm(
        &p,
        &[
            "fetch",
            "-u",
            "alice",
            "uid",
            "mailbox",
            &name,
            "header",
            "Message-ID",
            &format!("<{name}-6@test>"),
        ],
    );
    assert_eq!(out.trim(), "uid: 6");
    let (_, _, msgs) = parse_folder(&ours(&["show", &name]));
    assert_eq!(flags_of(&msgs), dovecot_flags(&p, &name));

    ours(&["delete", &name]);
    let listed = doveadm(&p, &["mailbox", "list", "-u", "alice"]);
    assert!(!listed.lines().any(|l| l == name));
    assert!(
        !doveadm(&p, &["mailbox", "list", "-u", "alice", "-s"])
            .lines()
            .any(|l| l == name)
    );
}

fn lda(p: &Peers, mailbox: &str, msg: &[u8]) {
    let mut lda = Command::new("/usr/lib/dovecot/dovecot-lda")
        .arg("-c")
        .arg(&p.conf)
        .args(["-d", "alice", "-m", mailbox])
        .stdin(Stdio::piped())
        .spawn()
        .expect("dovecot-lda");
    lda.stdin.take().unwrap().write_all(msg).unwrap();
    assert!(lda.wait().unwrap().success(), "dovecot-lda failed");
}

fn lmtp(peers: &Peers, msg: &[u8]) {
    let stream = TcpStream::connect(("127.0.0.1", peers.lmtp_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let expect = |r: &mut BufReader<TcpStream>, code: &str| loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "expected {code}: {line}");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    };
    expect(&mut r, "220");
    for (cmd, code) in [
        ("LHLO test.example", "250"),
        ("MAIL FROM:<sender@example.test>", "250"),
        ("RCPT TO:<alice@dc.test>", "250"),
        ("DATA", "354"),
    ] {
        write!(w, "{cmd}\r\n").unwrap();
        expect(&mut r, code);
    }
    w.write_all(msg).unwrap();
    w.write_all(b".\r\n").unwrap();
    expect(&mut r, "250");
    w.write_all(b"QUIT\r\n").unwrap();
}

fn we_read_a_maildir_dovecot_wrote() {
    let p = peers();
    let name = unique("DcWrote");
    for i in 0..3 {
        lda(&p, &name, &message(i, &format!("{name}-{i}@test")));
    }
    let lmtp_id = format!("{name}-lmtp@test");
    lmtp(&p, &message(9, &lmtp_id));
    // Flags over IMAP, one expunge, then one more delivery.
    let mut imap = Imap::login(p.imap_port);
    imap.cmd(&format!("SELECT \"{name}\""));
    imap.cmd("UID STORE 1 +FLAGS (\\Seen)");
    imap.cmd("UID STORE 2 +FLAGS (\\Flagged \\Draft $Label7)");
    imap.cmd("UID STORE 3 +FLAGS (\\Deleted)");
    imap.cmd("EXPUNGE");
    imap.cmd("LOGOUT");
    lda(&p, &name, &message(3, &format!("{name}-3@test")));

    // We read it: same UIDVALIDITY, UIDNEXT, UIDs, flags and keywords.
    let out = ours(&["show", &name]);
    assert!(out.contains(&"UIDS 1 2 4".to_owned()), "{out:?}");
    let (validity, uidnext, msgs) = parse_folder(&out);
    let (dc_validity, dc_uidnext, dc_messages) = dovecot_status(&p, &name);
    assert_eq!(
        (validity, uidnext, msgs.len() as u32),
        (dc_validity, dc_uidnext, dc_messages)
    );
    assert_eq!(flags_of(&msgs), dovecot_flags(&p, &name));
    assert_eq!(msgs[1].2, strs(&["$Label7", "\\Draft", "\\Flagged"]));
    // The LMTP message in INBOX has the UID Dovecot gave it.
    let out = doveadm(
        &p,
        &[
            "fetch",
            "-u",
            "alice",
            "uid",
            "mailbox",
            "INBOX",
            "header",
            "Message-ID",
            &format!("<{lmtp_id}>"),
        ],
    );
    let dc_uid = out.trim().strip_prefix("uid: ").unwrap().to_owned();
    let found = ours(&["find", &lmtp_id]);
    assert!(
        found.contains(&format!("UID {dc_uid}")),
        "{found:?} vs {dc_uid}"
    );
    assert!(found.contains(&format!("VALIDITY {}", dovecot_status(&p, "INBOX").0)));
    // Our change is Dovecot's: unflag 2 here, Dovecot sees it.
    ours(&["unflag", &name, "2"]);
    assert_eq!(dovecot_flags(&p, &name)[1].1, strs(&["$Label7", "\\Draft"]));
    doveadm(&p, &["mailbox", "delete", "-u", "alice", &name]);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ours") {
        return ours_main(&args[1..]);
    }
    let names = [
        "dovecot_serves_a_maildir_we_wrote",
        "we_read_a_maildir_dovecot_wrote",
    ];
    if args.iter().any(|a| a == "--list") {
        for n in names {
            println!("{n}: test");
        }
        return;
    }
    // Interop tests run only when asked for, as the #[ignore]d tests of the other crates.
    if !args
        .iter()
        .any(|a| a == "--include-ignored" || a == "--ignored")
    {
        println!(
            "test dovecot_serves_a_maildir_we_wrote ... ignored, interop: needs the peers started by .ci/test"
        );
        println!(
            "test we_read_a_maildir_dovecot_wrote ... ignored, interop: needs the peers started by .ci/test"
        );
        println!("0 passed, 0 failed, 2 ignored");
        return;
    }
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let tests: [(&str, fn()); 2] = [
        (names[0], dovecot_serves_a_maildir_we_wrote),
        (names[1], we_read_a_maildir_dovecot_wrote),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, t) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if std::panic::catch_unwind(t).is_ok() {
            println!("test {name} ... ok");
            passed += 1;
        } else {
            println!("test {name} ... FAILED");
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
