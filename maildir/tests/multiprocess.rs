//! Tests that need several processes: concurrency (threads AND processes delivering,
//! syncing and flagging at once) and crash safety (deliveries killed with SIGKILL at random
//! points). This binary is its own child: `multiprocess child-... ARGS` runs a child role.
//!
//! Figures for the report: `MAILDIR_CRASH_RUNS` (default 100) sets the number of killed
//! children; each run prints nothing unless it fails; the summary line names runs, kills and
//! messages checked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use maildir::options::{RandomSource, SeededRandom};
use maildir::{Access, Expunges, Flag, FlagSet, Folder, Options, StoreOp, View};

fn below(r: &SeededRandom, n: u64) -> u64 {
    r.next_u64() % n.max(1)
}

/// FNV-1a, enough to detect a torn or mixed-up body.
fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A self-verifying message: its headers carry the body's length and checksum.
fn make_message(id: &str, rng: &SeededRandom, max_body: usize) -> Vec<u8> {
    let len = (below(rng, max_body as u64) as usize) + 1;
    let mut body = Vec::with_capacity(len);
    while body.len() < len {
        let line = format!("{:016x} line of {id}\r\n", rng.next_u64());
        body.extend_from_slice(line.as_bytes());
    }
    body.truncate(len);
    let mut m = format!(
        "X-Test-Id: {id}\r\nX-Len: {}\r\nX-Sum: {:016x}\r\n\r\n",
        body.len(),
        fnv(&body)
    )
    .into_bytes();
    m.extend_from_slice(&body);
    m
}

/// Checks a stored message; returns its id.
fn verify_message(data: &[u8]) -> Result<String, String> {
    let text_end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no header end")?;
    let head = std::str::from_utf8(&data[..text_end]).map_err(|_| "header not UTF-8")?;
    let body = &data[text_end + 4..];
    let mut id = None;
    let mut len = None;
    let mut sum = None;
    for line in head.split("\r\n") {
        if let Some(v) = line.strip_prefix("X-Test-Id: ") {
            id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("X-Len: ") {
            len = v.parse::<usize>().ok();
        } else if let Some(v) = line.strip_prefix("X-Sum: ") {
            sum = u64::from_str_radix(v, 16).ok();
        }
    }
    let (Some(id), Some(len), Some(sum)) = (id, len, sum) else {
        return Err("missing test headers".into());
    };
    if body.len() != len {
        return Err(format!("{id}: body {} bytes, expected {len}", body.len()));
    }
    if fnv(body) != sum {
        return Err(format!("{id}: checksum mismatch"));
    }
    Ok(id)
}

fn options(fsync: bool, seed: u64) -> Options {
    let mut o = Options::default();
    o.dangerous_no_fsync(!fsync)
        .random(Arc::new(SeededRandom::new(seed)))
        .lock_timeout(Duration::from_secs(20));
    o
}

// ---------------------------------------------------------------- child roles

/// `child-deliver DIR COUNT SEED FSYNC SYNC_EVERY`: delivers COUNT messages, printing
/// `OK <file name> <id>` after each success and `UID <uid> <base>` for what its syncs see.
fn child_deliver(args: &[String]) {
    let dir = PathBuf::from(&args[0]);
    let count: usize = args[1].parse().unwrap();
    let seed: u64 = args[2].parse().unwrap();
    let fsync = args[3] == "1";
    let sync_every: usize = args[4].parse().unwrap();
    let f = Folder::open_dir(&dir, options(fsync, seed)).unwrap();
    let rng = SeededRandom::new(seed ^ 0x5555);
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    for i in 0..count {
        let id = format!("p{}-{seed}-{i}", std::process::id());
        let m = make_message(&id, &rng, 20_000);
        let d = f.deliver(&m[..]).unwrap();
        writeln!(out, "OK {} {id}", d.name).unwrap();
        out.flush().unwrap();
        if sync_every > 0 && i % sync_every == sync_every - 1 {
            f.sync(false).unwrap();
            for uid in f.uids().unwrap() {
                if let Some(info) = f.message(uid).unwrap() {
                    let base = info.file_name.split(':').next().unwrap().to_owned();
                    writeln!(out, "UID {uid} {base}").unwrap();
                }
            }
            out.flush().unwrap();
        }
    }
}

/// `child-flag DIR ROUNDS SEED`: a read-write session that flags random messages and syncs,
/// printing `UID <uid> <base>` for everything it sees and `MAXUID <n>` after each sync.
fn child_flag(args: &[String]) {
    let dir = PathBuf::from(&args[0]);
    let rounds: usize = args[1].parse().unwrap();
    let seed: u64 = args[2].parse().unwrap();
    let f = Folder::open_dir(&dir, options(false, seed)).unwrap();
    let rng = SeededRandom::new(seed);
    let mut view = View::open(&f, Access::ReadWrite).unwrap();
    let out = std::io::stdout();
    let mut out = out.lock();
    for _ in 0..rounds {
        view.sync(Expunges::Report).unwrap();
        if let Some(&max) = view.uids().last() {
            writeln!(out, "MAXUID {max}").unwrap();
        }
        if !view.is_empty() {
            let uid = view.uids()[below(&rng, u64::from(view.len())) as usize];
            let flag = [Flag::Seen, Flag::Flagged, Flag::Replied][below(&rng, 3) as usize];
            let op = if below(&rng, 2) == 0 {
                StoreOp::Add
            } else {
                StoreOp::Remove
            };
            view.store(&[uid], op, &FlagSet::new().with(flag), None)
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    view.sync(Expunges::Report).unwrap();
    for &uid in view.uids() {
        if let Some(info) = f.message(uid).unwrap() {
            let base = info.file_name.split(':').next().unwrap().to_owned();
            writeln!(out, "UID {uid} {base}").unwrap();
        }
    }
}

/// `child-full DIR`: DIR is a tiny tmpfs. Delivers until the disk is full, then checks that
/// the failure is a temporary "storage full" error and that nothing partial was left.
fn child_full(args: &[String]) {
    let dir = PathBuf::from(&args[0]);
    let f = Folder::open_dir(dir.join("Maildir"), options(true, 9)).unwrap();
    let rng = SeededRandom::new(9);
    let mut ok = 0;
    let err = loop {
        let m = make_message(&format!("full-{ok}"), &rng, 60_000);
        match f.deliver(&m[..]) {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
        assert!(ok < 1000, "the disk never filled up");
    };
    assert!(
        matches!(err, maildir::Error::StorageFull { .. }),
        "expected StorageFull, got {err:?}"
    );
    assert!(err.is_temporary());
    let mut complete = 0;
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(dir.join("Maildir").join(sub)).unwrap() {
            verify_message(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            complete += 1;
        }
    }
    assert_eq!(complete, ok);
    assert_eq!(
        std::fs::read_dir(dir.join("Maildir/tmp")).unwrap().count(),
        0
    );
    println!("FULL {ok}");
}

// ---------------------------------------------------------------- parent tests

fn disk_full() -> Result<String, String> {
    // A 256 KiB tmpfs in a private mount namespace (needs root, as CI runs).
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs -o size=256k none '{0}' && exec '{1}' child-full '{0}'",
        dir.path().display(),
        me().display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "child failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let n = stdout
        .trim()
        .strip_prefix("FULL ")
        .ok_or_else(|| format!("unexpected output {stdout:?}"))?;
    Ok(format!(
        "{n} messages fitted, then a temporary StorageFull error, nothing partial"
    ))
}

fn me() -> PathBuf {
    std::env::current_exe().unwrap()
}

/// Collects a child's `UID` lines into `uids` (base → uid), checking that one process
/// never sees two UIDs for one file; returns the `OK` ids and the `MAXUID` sequence.
fn collect(
    out: &str,
    uids: &Mutex<HashMap<String, u32>>,
) -> Result<(Vec<String>, Vec<u32>), String> {
    let mut ok = Vec::new();
    let mut maxes = Vec::new();
    let mut uids = uids.lock().unwrap();
    for line in out.lines() {
        let mut it = line.split(' ');
        match it.next() {
            Some("OK") => {
                let _name = it.next();
                ok.push(it.next().unwrap_or("").to_owned());
            }
            Some("UID") => {
                let uid: u32 = it.next().unwrap().parse().unwrap();
                let base = it.next().unwrap().to_owned();
                if let Some(prev) = uids.insert(base.clone(), uid)
                    && prev != uid
                {
                    return Err(format!("{base} seen as UID {prev} and {uid}"));
                }
            }
            Some("MAXUID") => maxes.push(it.next().unwrap().parse().unwrap()),
            _ => {}
        }
    }
    Ok((ok, maxes))
}

const PROCS: usize = 3;
const PER_PROC: usize = 60;
const THREADS: usize = 3;
const PER_THREAD: usize = 60;

type TestFn = fn() -> Result<String, String>;

fn concurrency() -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    Folder::open_dir(&md, options(false, 1)).unwrap();
    let uids = Arc::new(Mutex::new(HashMap::new()));
    // Processes: deliverers that also sync, and flaggers.
    let mut children = Vec::new();
    for p in 0..PROCS {
        children.push(
            Command::new(me())
                .args(["child-deliver", md.to_str().unwrap()])
                .arg(PER_PROC.to_string())
                .arg((100 + p).to_string())
                .args(["0", "7"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for p in 0..2 {
        children.push(
            Command::new(me())
                .args(["child-flag", md.to_str().unwrap(), "80"])
                .arg((200 + p).to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    // Threads in this process share one Folder handle.
    let folder = Folder::open_dir(&md, options(false, 2)).unwrap();
    let mut delivered_here = Vec::new();
    std::thread::scope(|s| {
        let mut hs = Vec::new();
        for t in 0..THREADS {
            let folder = folder.clone();
            hs.push(s.spawn(move || {
                let rng = SeededRandom::new(300 + t as u64);
                let mut ids = Vec::new();
                for i in 0..PER_THREAD {
                    let id = format!("t{t}-{i}");
                    folder.deliver(&make_message(&id, &rng, 4000)[..]).unwrap();
                    ids.push(id);
                    if i % 5 == 0 {
                        folder.sync(false).unwrap();
                    }
                }
                ids
            }));
        }
        // A session thread flagging while everyone delivers.
        let folder2 = folder.clone();
        let flagger = s.spawn(move || {
            let mut v = View::open(&folder2, Access::ReadWrite).unwrap();
            let mut last_max = 0;
            for i in 0..60u32 {
                v.sync(Expunges::Report).unwrap();
                let max = v.uids().last().copied().unwrap_or(0);
                assert!(max >= last_max, "UIDs went backwards in a view");
                assert!(v.uids().windows(2).all(|w| w[0] < w[1]));
                last_max = max;
                if !v.is_empty() {
                    let uid = v.uids()[(i as usize * 7) % v.uids().len()];
                    v.store(
                        &[uid],
                        StoreOp::Add,
                        &FlagSet::new().with_keyword("$Seen1"),
                        None,
                    )
                    .unwrap();
                }
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        for h in hs {
            delivered_here.extend(h.join().unwrap());
        }
        flagger.join().unwrap();
    });
    let mut delivered: HashSet<String> = delivered_here.into_iter().collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        if !out.status.success() {
            return Err(format!("child failed: {:?}", out.status));
        }
        let (ok, maxes) = collect(&String::from_utf8_lossy(&out.stdout), &uids)?;
        if maxes.windows(2).any(|w| w[0] > w[1]) {
            return Err("a child's view saw its highest UID go down".into());
        }
        for id in ok {
            if !delivered.insert(id.clone()) {
                return Err(format!("{id} acknowledged twice"));
            }
        }
    }
    // The final state, from a fresh handle.
    let fin = Folder::open_dir(&md, options(false, 3)).unwrap();
    fin.sync(true).unwrap();
    let all = fin.uids().unwrap();
    let total = PROCS * PER_PROC + THREADS * PER_THREAD;
    if delivered.len() != total || all.len() != total {
        return Err(format!(
            "{} acknowledged, {} stored, {total} expected",
            delivered.len(),
            all.len()
        ));
    }
    if all.windows(2).any(|w| w[0] >= w[1]) || all.first() != Some(&1) {
        return Err("final UIDs not strictly increasing from 1".into());
    }
    let mut ids = HashSet::new();
    let observed = uids.lock().unwrap();
    for &uid in &all {
        let info = fin.message(uid).unwrap().unwrap();
        let id = verify_message(&std::fs::read(&info.path).unwrap())?;
        if !ids.insert(id.clone()) {
            return Err(format!("{id} stored twice"));
        }
        let base = info.file_name.split(':').next().unwrap();
        if let Some(&seen) = observed.get(base)
            && seen != uid
        {
            return Err(format!("{base}: a child saw UID {seen}, final UID {uid}"));
        }
    }
    if ids != delivered {
        return Err("stored ids differ from acknowledged ids".into());
    }
    // The uidlist parses and maps every file once.
    let ul = maildir::uidlist::UidList::parse(&std::fs::read(md.join("dovecot-uidlist")).unwrap())
        .map_err(|e| e.to_string())?
        .unwrap();
    let bases: HashSet<&str> = ul.records.iter().map(|r| r.filename.as_str()).collect();
    if bases.len() != ul.records.len() {
        return Err("a file has two uidlist records".into());
    }
    Ok(format!(
        "{total} messages from {PROCS} processes + {THREADS} threads, 3 flagging sessions, {} UIDs cross-checked",
        observed.len()
    ))
}

fn crash() -> Result<String, String> {
    let runs: usize = std::env::var("MAILDIR_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    Folder::open_dir(&md, options(true, 1)).unwrap();
    let rng = SeededRandom::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    let mut acked: BTreeMap<String, String> = BTreeMap::new(); // id -> file name
    let mut kills = 0;
    let started = Instant::now();
    for run in 0..runs {
        let mut child = Command::new(me())
            .args(["child-deliver", md.to_str().unwrap(), "100000"])
            .arg((1000 + run).to_string())
            .args(["1", "25"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                l2.lock().unwrap().push(line);
            }
        });
        // Wait for the child to start delivering, then kill it at a random moment.
        let t0 = Instant::now();
        while lines.lock().unwrap().is_empty() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(below(&rng, 40_000)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = child.wait();
        reader.join().unwrap();
        for line in lines.lock().unwrap().iter() {
            if let Some(rest) = line.strip_prefix("OK ") {
                let (name, id) = rest.split_once(' ').unwrap();
                acked.insert(id.to_owned(), name.to_owned());
            }
        }
    }
    // Every acknowledged message is present and complete; nothing partial in new/ or cur/.
    let mut checked = 0;
    let mut found: HashSet<String> = HashSet::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(md.join(sub)).unwrap() {
            let e = e.unwrap();
            let data = std::fs::read(e.path()).unwrap();
            let id = verify_message(&data)
                .map_err(|err| format!("partial or corrupt file {}: {err}", e.path().display()))?;
            found.insert(id);
            checked += 1;
        }
    }
    for (id, name) in &acked {
        if !found.contains(id) {
            return Err(format!("acknowledged {id} ({name}) is missing"));
        }
    }
    // And the store still works: a sync gives every file one UID.
    let f = Folder::open_dir(&md, options(true, 2)).unwrap();
    f.sync(true).unwrap();
    if f.len().unwrap() != checked {
        return Err(format!("{} UIDs for {checked} files", f.len().unwrap()));
    }
    let tmp_left = std::fs::read_dir(md.join("tmp")).unwrap().count();
    Ok(format!(
        "{runs} runs, {kills} SIGKILLs, {} acknowledged, {checked} messages checked complete, {tmp_left} torn files left in tmp/, {:.1}s",
        acked.len(),
        started.elapsed().as_secs_f64()
    ))
}

fn stale_lock_of_killed_process() -> Result<String, String> {
    // A child killed while it holds dovecot-uidlist.lock: the lock names its dead PID, so
    // the next process takes it over after 2 s instead of waiting for the 120 s timeout.
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    let f = Folder::open_dir(&md, options(false, 1)).unwrap();
    f.deliver(&b"X: y\r\n\r\nz"[..]).unwrap();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id();
    std::fs::write(
        md.join("dovecot-uidlist.lock"),
        format!(
            "{pid}:{}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim()
        ),
    )
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    f.sync(false).map_err(|e| e.to_string())?;
    let waited = t.elapsed();
    if waited > Duration::from_secs(10) || f.len().unwrap() != 1 {
        return Err(format!("took {waited:?}"));
    }
    Ok(format!("dead owner's lock overridden after {waited:.1?}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("child-deliver") => return child_deliver(&args[1..]),
        Some("child-flag") => return child_flag(&args[1..]),
        Some("child-full") => return child_full(&args[1..]),
        _ => {}
    }
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if args.iter().any(|a| a == "--list") {
        for n in [
            "concurrency",
            "crash",
            "stale_lock_of_killed_process",
            "disk_full",
        ] {
            println!("{n}: test");
        }
        return;
    }
    let tests: [(&str, TestFn); 4] = [
        ("concurrency", concurrency),
        ("disk_full", disk_full),
        ("crash", crash),
        ("stale_lock_of_killed_process", stale_lock_of_killed_process),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, t) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match t() {
            Ok(summary) => {
                println!("test {name} ... ok ({summary})");
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED: {e}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
