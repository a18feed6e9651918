//! The hickory adapter against a small DNS server on 127.0.0.1 (an ephemeral UDP port) that
//! answers from a `StaticResolver`, counts the queries it gets, and never answers names
//! starting with `silent.` nor reverse (in-addr.arpa) names (to test timeouts).
#![cfg(feature = "hickory")]
#![allow(clippy::many_single_char_names, clippy::duration_suboptimal_units)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, MX, PTR, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record as HRecord, RecordType as HType};
use mail_auth_core::dns::{Answer, DnsMachine, Poll, Question, Record, RecordType, Resolve, zone};
use mail_auth_core::hickory::{HickoryConfig, HickoryResolver};
use mail_auth_core::spf::{SpfResult, Verifier};
use tokio::net::UdpSocket;

const ZONE: &str = r#"
$ORIGIN test.
$TTL 300
sender      TXT  "v=spf1 mx:mxs.test a:silent.test -all"
mxs         MX   10 a.mxs
mxs         MX   20 b.mxs
a.mxs       A    192.0.2.1
b.mxs       A    192.0.2.2
b.mxs       AAAA 2001:db8::2
other       TXT  "v=spf1 a:nothing.test -all"
ptrs        TXT  "v=spf1 ptr ptr ptr -all"
long        TXT  ( "v=spf1 ip4:192.0.2.0/24 "
                   "-all" )
"#;

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server() -> Server {
    let z = zone::parse(ZONE, None).unwrap().resolver;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(msg) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            h.fetch_add(1, Ordering::SeqCst);
            let Some(q) = msg.queries().first().cloned() else {
                continue;
            };
            let name = q.name().to_ascii();
            if name.starts_with("silent.") || name.ends_with(".in-addr.arpa.") {
                continue;
            }
            let rtype = match q.query_type() {
                HType::A => RecordType::A,
                HType::AAAA => RecordType::Aaaa,
                HType::MX => RecordType::Mx,
                HType::TXT => RecordType::Txt,
                HType::PTR => RecordType::Ptr,
                _ => continue,
            };
            let mut resp = Message::new();
            resp.set_id(msg.id())
                .set_message_type(MessageType::Response)
                .set_op_code(OpCode::Query)
                .set_authoritative(true)
                .set_recursion_desired(msg.recursion_desired())
                .add_query(q.clone());
            match z.resolve(&Question::new(&name, rtype)) {
                Answer::Records { records, ttl, .. } => {
                    for r in records {
                        let rdata = match r {
                            Record::A(a) => RData::A(A(a)),
                            Record::Aaaa(a) => RData::AAAA(AAAA(a)),
                            Record::Mx {
                                preference,
                                exchange,
                            } => RData::MX(MX::new(
                                preference,
                                Name::from_ascii(format!("{exchange}.")).unwrap(),
                            )),
                            Record::Txt(t) => RData::TXT(TXT::from_bytes(vec![&t[..]])),
                            Record::Ptr(p) => {
                                RData::PTR(PTR(Name::from_ascii(format!("{p}.")).unwrap()))
                            }
                            _ => continue,
                        };
                        resp.add_answer(HRecord::from_rdata(q.name().clone(), ttl, rdata));
                    }
                }
                Answer::NxDomain { .. } => {
                    resp.set_response_code(ResponseCode::NXDomain);
                }
                Answer::NoData { .. } => {}
                _ => {
                    resp.set_response_code(ResponseCode::ServFail);
                }
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
        }
    });
    Server { addr, hits, task }
}

fn config(addr: SocketAddr) -> HickoryConfig {
    let mut c = HickoryConfig::with_nameserver(addr);
    c.query_timeout = Duration::from_millis(300);
    c.total_timeout = Duration::from_secs(2);
    c.attempts = 1;
    c
}

#[tokio::test]
async fn answers_cache_and_timeouts() {
    let s = server().await;
    let r = HickoryResolver::new(&config(s.addr)).unwrap();

    // Records, NXDOMAIN and NODATA map onto the Answer kinds.
    let a = r.resolve(&Question::new("b.mxs.test", RecordType::A)).await;
    assert_eq!(a.ips().next(), Some("192.0.2.2".parse().unwrap()));
    assert_eq!(a.ttl(), Some(300));
    let a = r
        .resolve(&Question::new("long.test", RecordType::Txt))
        .await;
    assert_eq!(a.txt().next(), Some(&b"v=spf1 ip4:192.0.2.0/24 -all"[..]));
    assert!(matches!(
        r.resolve(&Question::new("nope.test", RecordType::A)).await,
        Answer::NxDomain { .. }
    ));
    assert!(matches!(
        r.resolve(&Question::new("a.mxs.test", RecordType::Txt))
            .await,
        Answer::NoData { .. }
    ));

    // SPF: the MX hosts' A lookups are asked together; `a:silent.test` never gets an
    // answer, so a client that matches neither MX host ends in temperror.
    let before = s.hits.load(Ordering::SeqCst);
    let out = r
        .drive(Verifier::mail_from(
            "192.0.2.2".parse().unwrap(),
            "h.test",
            "x@sender.test",
        ))
        .await;
    assert_eq!(out.result, SpfResult::Pass);
    assert_eq!(out.mechanism.as_deref(), Some("mx:mxs.test"));
    // TXT + MX + A of a.mxs (b.mxs A is cached from above).
    assert_eq!(s.hits.load(Ordering::SeqCst) - before, 3);

    let t0 = Instant::now();
    let out = r
        .drive(Verifier::mail_from(
            "198.51.100.1".parse().unwrap(),
            "h.test",
            "x@sender.test",
        ))
        .await;
    assert_eq!(out.result, SpfResult::TempError, "{out:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));

    // Everything but the timeout is cached now: no new query for the same check.
    let before = s.hits.load(Ordering::SeqCst);
    let out = r
        .drive(Verifier::mail_from(
            "192.0.2.2".parse().unwrap(),
            "h.test",
            "x@sender.test",
        ))
        .await;
    assert_eq!(out.result, SpfResult::Pass);
    assert_eq!(s.hits.load(Ordering::SeqCst), before);
    assert!(r.cached() >= 6);
}

#[tokio::test]
async fn total_time_limit_ends_the_evaluation() {
    let s = server().await;
    let mut c = config(s.addr);
    c.query_timeout = Duration::from_millis(400);
    c.total_timeout = Duration::from_millis(500);
    let r = HickoryResolver::new(&c).unwrap();
    // A machine that asks three never-answered questions one after another, whatever
    // the answers: without a budget that takes 3 x 400 ms; with 500 ms for the whole
    // drive, the third question is failed at once.
    let t0 = Instant::now();
    let answers = r.drive(Sequential(Vec::new())).await;
    let took = t0.elapsed();
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(Answer::is_temp_fail));
    assert!(
        matches!(&answers[2], Answer::TempFail(m) if m.contains("time limit")),
        "{answers:?}"
    );
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(900),
        "{took:?}"
    );
}

struct Sequential(Vec<Answer>);

impl DnsMachine for Sequential {
    type Output = Vec<Answer>;
    fn poll(&mut self) -> Poll<Vec<Answer>> {
        if self.0.len() == 3 {
            Poll::Ready(std::mem::take(&mut self.0))
        } else {
            let name = format!("silent.{}.test", self.0.len());
            Poll::Pending(vec![Question::new(&name, RecordType::A)])
        }
    }
    fn provide(&mut self, _: &Question, a: Answer) {
        self.0.push(a);
    }
}
