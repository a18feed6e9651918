//! DKIM: relaxed body canonicalization, ours beside mail-auth's, on the same bodies.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mail_auth::common::headers::Writable;
use std::hint::black_box;

/// A text body of about `size` bytes with the whitespace relaxed canonicalization rewrites:
/// runs of spaces and tabs, trailing whitespace, and empty lines at the end.
fn body(size: usize) -> Vec<u8> {
    let line = b"Lorem ipsum  dolor sit amet,\tconsectetur adipiscing elit, sed do eiusmod   \r\n";
    let mut out = Vec::with_capacity(size + line.len());
    while out.len() < size {
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

fn relaxed_body(c: &mut Criterion) {
    let mut group = c.benchmark_group("dkim/relaxed-body");
    for (name, size) in [("4KiB", 4 << 10), ("1MiB", 1 << 20)] {
        let input = body(size);
        let expected = mail_auth_core::dkim::canon::body(
            mail_auth_core::dkim::canon::Canonicalization::Relaxed,
            &input,
        );
        let mut theirs = Vec::new();
        mail_auth::dkim::Canonicalization::Relaxed
            .canonical_body(&input, 0)
            .write(&mut theirs);
        assert_eq!(expected, theirs, "both canonicalize the same way");
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("ours", name), &input, |b, input| {
            let mut out = Vec::with_capacity(input.len());
            b.iter(|| {
                out.clear();
                let mut canon = mail_auth_core::dkim::canon::BodyCanonicalizer::new(
                    mail_auth_core::dkim::canon::Canonicalization::Relaxed,
                );
                canon.update(black_box(input), &mut out);
                canon.finish(&mut out);
                black_box(out.len())
            });
        });
        group.bench_with_input(BenchmarkId::new("mail-auth", name), &input, |b, input| {
            let mut out = Vec::with_capacity(input.len());
            b.iter(|| {
                out.clear();
                mail_auth::dkim::Canonicalization::Relaxed
                    .canonical_body(black_box(input), 0)
                    .write(&mut out);
                black_box(out.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, relaxed_body);
criterion_main!(benches);
