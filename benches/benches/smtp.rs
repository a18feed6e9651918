//! SMTP: our parsers beside Stalwart's smtp-proto on the same input: replies, a command mix,
//! and a 1 MiB DATA body with dot-stuffing.
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

/// A submission-like command mix, each line with its CRLF.
const COMMANDS: &[&[u8]] = &[
    b"EHLO client.example.org\r\n",
    b"MAIL FROM:<sender.name@example.org> SIZE=123456 BODY=8BITMIME\r\n",
    b"RCPT TO:<first.recipient@example.net>\r\n",
    b"RCPT TO:<second+tag@sub.example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;second+2Btag@sub.example.com\r\n",
    // A quoted local part (not an address literal: Stalwart's parser answers
    // `RCPT TO:<x@[192.0.2.1]>` with InvalidRecipientAddress, so the mix could not be shared).
    b"RCPT TO:<\"quoted local\"@example.net>\r\n",
    b"DATA\r\n",
    b"BDAT 65536 LAST\r\n",
    b"AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
];

/// Each side's parsed value is looked at in place (`black_box(&value)`), not moved out of
/// its `Result`: the move is a memcpy of the value (272 bytes for our `Command`, 200 for
/// Stalwart's `Request`), harness work rather than parsing.
fn commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("smtp/command");
    let total: usize = COMMANDS.iter().map(|l| l.len()).sum();
    group.throughput(Throughput::Bytes(total as u64));
    let ours = smtp_proto::command::CommandParser::default();
    group.bench_function("ours/mix", |b| {
        b.iter(|| {
            for line in COMMANDS {
                // Framing included: find the LF, drop the CRLF, parse the line.
                let line = black_box(*line);
                let lf = memchr_lf(line);
                let cmd = ours.parse(&line[..lf - 1]);
                black_box(cmd.as_ref().expect("ours parses the mix"));
            }
        });
    });
    group.bench_function("stalwart/mix", |b| {
        b.iter(|| {
            for line in COMMANDS {
                let cmd = stalwart_smtp_proto::Request::parse(&mut black_box(*line).iter());
                black_box(cmd.as_ref().expect("stalwart parses the mix"));
            }
        });
    });
    group.finish();
}

/// The framing our server session does (memchr for the LF), so the bench times what a
/// session spends per line; Stalwart's parser finds the LF itself.
fn memchr_lf(line: &[u8]) -> usize {
    memchr::memchr(b'\n', line).expect("line ends in LF")
}

/// About 1 MiB of message lines, a tenth of them starting with a dot, dot-stuffed, with the
/// terminator: the same bytes for both decoders.
fn data_fixture() -> Vec<u8> {
    let mut msg = Vec::with_capacity(1 << 20);
    msg.extend_from_slice(b"From: a@example.org\r\nTo: b@example.net\r\nSubject: bench\r\n\r\n");
    let mut i = 0u32;
    while msg.len() < (1 << 20) {
        if i.is_multiple_of(10) {
            msg.extend_from_slice(b".");
        }
        msg.extend_from_slice(
            b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n",
        );
        i += 1;
    }
    let mut wire = Vec::with_capacity(msg.len() + msg.len() / 50);
    smtp_proto::data::encode_data(&msg, &mut wire);
    wire
}

fn data(c: &mut Criterion) {
    let wire = data_fixture();
    let mut group = c.benchmark_group("smtp/data");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("ours/1MiB", |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            let mut d =
                smtp_proto::data::DataDecoder::new(smtp_proto::data::BareLineEndings::Reject);
            let r = d.decode(black_box(&wire), Some(&mut out));
            assert!(r.end);
            black_box(&out);
        });
    });
    group.bench_function("stalwart/1MiB", |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            let mut d = stalwart_smtp_proto::request::receiver::DataReceiver::new();
            assert!(d.ingest(&mut black_box(&wire).iter(), &mut out));
            black_box(&out);
        });
    });
    group.finish();
}

criterion_group!(benches, replies, commands, data);
criterion_main!(benches);
