//! Sieve: our compiler and runtime beside sieve-rs (AGPL; a bench-only dependency) on the
//! same realistic 30-line script, with 4 KiB and 1 MiB messages (header, address, envelope,
//! body :text / :raw, :regex, :count tests and variables).
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;

const SCRIPT: &[u8] =
    br#"require ["fileinto", "body", "regex", "variables", "imap4flags", "envelope",
         "relational", "comparator-i;ascii-numeric", "copy", "mailbox"];

# Spam first.
if header :contains "X-Spam-Flag" "YES" {
    fileinto :create "Junk";
    stop;
}
if address :is :domain "from" ["example.com", "example.net"] {
    addflag "\\Flagged";
}
if header :regex "subject" "^\\[([a-z0-9-]+)\\] (.*)$" {
    set "list" "${1}";
    fileinto :copy "lists.${list}";
}
if anyof (header :contains "list-id" "<dev.lists.example.org>",
          envelope :is "to" "dev-owner@example.org") {
    fileinto "dev";
}
if body :text :contains ["unsubscribe here", "cheap pills"] {
    addflag "$Bulk";
}
if body :raw :regex "invoice[ -]?no[.]? ?[0-9]{6,}" {
    fileinto "Invoices";
}
if size :over 500K {
    addflag "$Large";
}
if header :count "ge" :comparator "i;ascii-numeric" "received" "5" {
    addflag "$ManyHops";
}
keep;
"#;

fn message(body_size: usize) -> Vec<u8> {
    let mut m = String::new();
    for i in 0..6 {
        let _ = write!(
            m,
            "Received: from relay{i}.example.net (relay{i}.example.net [192.0.2.{i}])\r\n\tby mx.example.org with ESMTPS id ABC{i}DEF; Tue, 1 Apr 2025 09:0{i}:31 +0000\r\n"
        );
    }
    m.push_str("From: \"Alice Example\" <alice@example.com>\r\nTo: dev-owner@example.org, \"Bob\" <bob@example.org>\r\nCc: carol@example.net\r\nSubject: [dev-team] Weekly status and the release plan\r\nDate: Tue, 1 Apr 2025 09:06:31 +0000\r\nMessage-ID: <20250401090631.12345@example.com>\r\nList-Id: Developers <dev.lists.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nX-Spam-Flag: NO\r\nX-Spam-Score: 0.3\r\n\r\n");
    let line = "Status for this week: the parser is done, the runtime answers questions, and the benches run beside the peer.\r\n";
    while m.len() < body_size {
        m.push_str(line);
    }
    m.push_str("Please pay invoice no. 12345678 before Friday.\r\n");
    m.into_bytes()
}

fn run_ours(program: &sieve::Program, msg: &[u8], ctx: &sieve::Context) -> usize {
    let env = sieve::Envelope::new("alice@example.com", "dev-owner@example.org");
    let mut rt = sieve::Runtime::new(program, msg, env, ctx.clone());
    loop {
        match rt.run() {
            sieve::Step::Done(o) => return o.actions.len(),
            sieve::Step::Question(_) => rt.answer(sieve::Answer::Bool(false)),
            _ => unreachable!("two kinds of step"),
        }
    }
}

fn run_theirs(
    runtime: &sieve_rs::Runtime,
    script: &std::sync::Arc<sieve_rs::Sieve>,
    msg: &[u8],
) -> usize {
    let mut instance = runtime.filter(msg);
    instance.set_envelope(sieve_rs::Envelope::From, "alice@example.com");
    instance.set_envelope(sieve_rs::Envelope::To, "dev-owner@example.org");
    let mut input = sieve_rs::Input::script("bench", script.clone());
    let mut actions = 0;
    while let Some(r) = instance.run(input) {
        input = match r {
            Ok(sieve_rs::Event::Keep { .. } | sieve_rs::Event::FileInto { .. }) => {
                actions += 1;
                true.into()
            }
            Ok(sieve_rs::Event::MailboxExists { .. } | sieve_rs::Event::DuplicateId { .. }) => {
                false.into()
            }
            _ => true.into(),
        };
    }
    actions
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("sieve/compile");
    group.throughput(Throughput::Bytes(SCRIPT.len() as u64));
    let opts = sieve::CompileOptions::default();
    group.bench_function("ours", |b| {
        b.iter(|| {
            sieve::compile(black_box(SCRIPT), &opts).expect("our compiler accepts the script")
        });
    });
    let compiler = sieve_rs::Compiler::new();
    group.bench_function("sieve-rs", |b| {
        b.iter(|| {
            compiler
                .compile(black_box(SCRIPT))
                .expect("sieve-rs accepts the script")
        });
    });
    group.finish();
}

fn run(c: &mut Criterion) {
    let ours = sieve::compile(SCRIPT, &sieve::CompileOptions::default()).expect("compiles");
    let ctx = sieve::Context::default();
    let theirs_runtime = sieve_rs::Runtime::new();
    let theirs = std::sync::Arc::new(sieve_rs::Compiler::new().compile(SCRIPT).expect("compiles"));
    let mut group = c.benchmark_group("sieve/run");
    for (name, size) in [("4KiB", 4 * 1024), ("1MiB", 1 << 20)] {
        let msg = message(size);
        // Both must take the same decisions on this input.
        // Both must take the same decisions: fileinto :copy "lists.dev-team", "dev",
        // "Invoices", and keep.
        assert_eq!(run_ours(&ours, &msg, &ctx), 4, "our actions");
        assert_eq!(
            run_theirs(&theirs_runtime, &theirs, &msg),
            4,
            "sieve-rs actions"
        );
        group.throughput(Throughput::Bytes(msg.len() as u64));
        if size > 64 * 1024 {
            group.sample_size(20);
        }
        group.bench_with_input(BenchmarkId::new("ours", name), &msg, |b, msg| {
            b.iter(|| run_ours(&ours, black_box(msg), &ctx));
        });
        group.bench_with_input(BenchmarkId::new("sieve-rs", name), &msg, |b, msg| {
            b.iter(|| run_theirs(&theirs_runtime, &theirs, black_box(msg)));
        });
    }
    group.finish();
}

criterion_group!(benches, compile, run);
criterion_main!(benches);
