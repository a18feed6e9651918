//! SMTP: our reply parser beside Stalwart's smtp-proto on the same replies.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const REPLIES: &[(&str, &[u8])] = &[
    ("single", b"250 2.1.5 Ok\r\n"),
    (
        "ehlo",
        b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
    ),
    (
        "reject",
        b"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550 5.1.1 unnecessary spaces. https://support.example.com/mail/?p=NoSuchUser\r\n",
    ),
];

fn replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("smtp/reply");
    let ours = smtp_proto::reply::ReplyParser::default();
    for (name, wire) in REPLIES {
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("ours", name), wire, |b, wire| {
            b.iter(|| match ours.parse(black_box(wire)) {
                Ok(smtp_proto::reply::Parsed::Complete { reply, .. }) => reply,
                other => panic!("{other:?}"),
            });
        });
        group.bench_with_input(BenchmarkId::new("stalwart", name), wire, |b, wire| {
            b.iter(|| {
                stalwart_smtp_proto::response::parser::ResponseReceiver::default()
                    .parse(&mut black_box(wire).iter())
                    .expect("stalwart parses the reply")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, replies);
criterion_main!(benches);
