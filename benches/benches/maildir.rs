//! Maildir: delivery of 1,000 messages (with and without fsync, reported separately) and
//! listing plus UID mapping of a 100,000-message folder; ours beside staktrace's `maildir`
//! 0.6 (the existing Rust crate) on the same files.
//!
//! The 100,000-message folder is built once per run in a temporary directory (about 15 s,
//! outside the measurements); nothing of this runs in CI. Notes on fairness:
//! - `maildir` 0.6 always fsyncs the file and never the directory; ours fsyncs both (the
//!   "fsync" group), or neither with `dangerous_no_fsync` (the "no-fsync" group, where the
//!   peer still fsyncs its files, so only our number is meaningful there).
//! - Listing: the peer only lists and parses names; ours also reads `dovecot-uidlist` and
//!   `maildir-modseq` and maps every file to its UID ("cold open"), which is what an IMAP
//!   SELECT needs. "resync, nothing changed" is the cost of an IDLE/NOOP poll.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use maildir::{Access, Folder, Options, View};

fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender@example.test\r\nTo: user@example.test\r\nSubject: message {i}\r\nMessage-ID: <{i}@example.test>\r\n\r\n"
    )
    .into_bytes();
    while m.len() < 4096 {
        m.extend_from_slice(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
    }
    m
}

fn opts(fsync: bool) -> Options {
    let mut o = Options::default();
    o.dangerous_no_fsync(!fsync);
    o
}

fn delivery(c: &mut Criterion) {
    let msgs: Vec<Vec<u8>> = (0..1000).map(message).collect();
    for (group, fsync) in [
        ("maildir/deliver-1000/fsync", true),
        ("maildir/deliver-1000/no-fsync", false),
    ] {
        let mut g = c.benchmark_group(group);
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(20));
        g.throughput(Throughput::Elements(1000));
        g.bench_function("ours", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let f = Folder::open_dir(dir.path().join("Maildir"), opts(fsync)).unwrap();
                    (dir, f)
                },
                |(dir, f)| {
                    for m in &msgs {
                        black_box(f.deliver(&m[..]).unwrap());
                    }
                    dir
                },
                BatchSize::PerIteration,
            );
        });
        g.bench_function("maildir-0.6", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let md = staktrace_maildir::Maildir::from(dir.path().join("Maildir"));
                    md.create_dirs().unwrap();
                    (dir, md)
                },
                |(dir, md)| {
                    for m in &msgs {
                        black_box(md.store_new(m).unwrap());
                    }
                    dir
                },
                BatchSize::PerIteration,
            );
        });
        g.finish();
    }
}

/// A folder of `n` messages in `cur/`, registered (UIDs assigned) by our store.
fn big_folder(root: &Path, n: usize) {
    let f = Folder::open_dir(root, opts(false)).unwrap();
    let m = message(0);
    for _ in 0..n {
        f.deliver(&m[..]).unwrap();
    }
    // Move all to cur/ and assign UIDs: the state of a folder a client has seen.
    View::open(&f, Access::ReadWrite).unwrap();
}

fn listing(c: &mut Criterion) {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    big_folder(&root, N);
    let mut g = c.benchmark_group("maildir/list-100k");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("ours: cold open + UID map", |b| {
        b.iter(|| {
            let f = Folder::open_dir(&root, opts(false)).unwrap();
            let v = View::open(&f, Access::ReadOnly).unwrap();
            assert_eq!(v.len() as usize, N);
            black_box(v.uid(v.len()))
        });
    });
    g.bench_function("maildir-0.6: list_cur", |b| {
        let md = staktrace_maildir::Maildir::from(root.clone());
        b.iter(|| {
            let mut n = 0;
            for e in md.list_cur() {
                let e = e.unwrap();
                black_box(e.flags());
                black_box(e.id());
                n += 1;
            }
            assert_eq!(n, N);
        });
    });
    g.finish();

    let f = Folder::open_dir(&root, opts(false)).unwrap();
    let v = View::open(&f, Access::ReadOnly).unwrap();
    let mut g = c.benchmark_group("maildir/uid-map-100k");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("ours: seq->uid and uid->seq, all", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for seq in 1..=v.len() {
                let uid = v.uid(seq).unwrap();
                acc += u64::from(v.seq(uid).unwrap());
            }
            black_box(acc)
        });
    });
    g.bench_function("ours: resync, nothing changed", |b| {
        b.iter(|| black_box(f.sync(false).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, delivery, listing);
criterion_main!(benches);
