//! Our client against Dovecot (the peers of `.ci/peers`, started by `.ci/test`): STARTTLS and
//! IMAPS, LOGIN and AUTHENTICATE PLAIN (SASL-IR), LIST, CREATE, APPEND with synchronizing and
//! non-synchronizing literals, SELECT, FETCH of bodies, ENVELOPE and BODYSTRUCTURE, SEARCH and
//! ESEARCH, STORE, IDLE woken by a second connection's APPEND, ENABLE QRESYNC with VANISHED,
//! EXPUNGE, DELETE, LOGOUT. Every response Dovecot sends must parse (a malformed one fails the
//! test). Each run works in its own mailbox, so runs and other tests do not interfere.
#![cfg(feature = "tokio")]

use std::num::NonZeroU32;
use std::sync::Arc;

use imap_proto::client::{ClientConfig, ClientEvent};
use imap_proto::tokio::{Client, Completion};
use imap_proto::types::{
    AppendMessage, BodyKind, BodyStructure, CommandBody, Data, FetchAttr, FetchItems,
    FetchModifier, Flag, FlagFetch, IString, ListMailbox, ListPatterns, LiteralData, LiteralMode,
    Mailbox, MessageDataItem, QResync, SearchKey, SearchReturnData, SearchReturnOpt, SelectParam,
    SequenceSet, StatusKind, StoreKind, Vec1,
};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop tests through .ci/test (it starts the peers)")
    })
}

/// Trusts exactly the peers' certificate (byte for byte) and still checks the handshake
/// signatures: it is self-signed with CA:TRUE, which webpki refuses as a server certificate
/// (`CaUsedAsEndEntity`).
#[derive(Debug)]
struct Pinned {
    cert: rustls::pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject as _;
    let cert = rustls_pki_types::CertificateDer::pem_file_iter(env("PEERS_CA"))
        .unwrap()
        .next()
        .expect("a certificate in PEERS_CA")
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { cert, provider }))
            .with_no_client_auth(),
    )
}

fn unique_mailbox(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("imapproto-{tag}-{}-{nanos}", std::process::id())
}

fn passed(step: &str) {
    println!("dovecot interop: {step}: ok");
}

async fn connect_starttls(literal_plus: bool) -> Client<TcpStream> {
    let port = env("DC_IMAP_PORT");
    let mut cfg = ClientConfig::default();
    cfg.literal_plus = literal_plus;
    let mut c = Client::connect(format!("127.0.0.1:{port}"), cfg)
        .await
        .unwrap();
    let g = c.greeting().await.unwrap();
    assert_eq!(g.kind, StatusKind::Ok);
    assert!(
        c.session().has_capability("STARTTLS"),
        "{:?}",
        c.session().capabilities()
    );
    let st = c
        .starttls("localhost".try_into().unwrap(), tls_config())
        .await
        .unwrap();
    assert!(st.is_ok(), "{:?}", st.status);
    assert!(c.execute(CommandBody::Capability).await.unwrap().is_ok());
    assert!(c.session().has_capability("IMAP4rev1"));
    let l = c.login("alice", "alicepw").await.unwrap();
    assert!(l.is_ok(), "{:?}", l.status);
    passed("STARTTLS, CAPABILITY, LOGIN");
    c
}

fn mailbox(name: &str) -> Mailbox<'static> {
    Mailbox::from_name(name, false).unwrap()
}

fn append(
    name: &str,
    msg: &[u8],
    flags: Vec<Flag<'static>>,
    mode: LiteralMode,
) -> CommandBody<'static> {
    CommandBody::Append {
        mailbox: mailbox(name),
        messages: Vec1::new(AppendMessage {
            flags: Some(flags),
            date: None,
            data: LiteralData {
                data: msg.to_vec().into(),
                mode,
                binary: false,
            },
        }),
    }
}

fn fetch(uid: bool, set: SequenceSet, attrs: Vec<FetchAttr<'static>>) -> CommandBody<'static> {
    CommandBody::Fetch {
        uid,
        set,
        items: FetchItems::Attrs(Vec1::try_from(attrs).unwrap()),
        modifiers: vec![],
    }
}

fn fetched(c: &Completion) -> Vec<&imap_proto::types::FetchData<'static>> {
    c.data
        .iter()
        .filter_map(|d| match d {
            Data::Fetch(f) => Some(f),
            _ => None,
        })
        .collect()
}

const PLAIN: &[u8] = b"From: Alice <alice@dc.test>\r\nTo: bob@dc.test\r\nSubject: interop plain\r\nMessage-ID: <p1@dc.test>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello from imap-proto.\r\n";
const MULTI: &[u8] = b"From: Bob <bob@dc.test>\r\nTo: alice@dc.test\r\nSubject: =?UTF-8?Q?interop_multi_=E2=9C=93?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody text\r\n--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1--\r\n";

#[tokio::test]
#[ignore = "interop: needs the peers started by .ci/test"]
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
async fn our_client_against_dovecot() {
    let mut c = connect_starttls(true).await;
    let name = unique_mailbox("main");

    // CREATE and LIST.
    let cr = c
        .execute(CommandBody::Create {
            mailbox: mailbox(&name),
            special_use: vec![],
        })
        .await
        .unwrap();
    assert!(cr.is_ok(), "{:?}", cr.status);
    passed("CREATE");
    let list = c
        .execute(CommandBody::List {
            select: None,
            reference: Mailbox::try_from("").unwrap(),
            patterns: ListPatterns::Single(ListMailbox::try_from("*").unwrap()),
            return_opts: None,
        })
        .await
        .unwrap();
    assert!(list.is_ok());
    let names: Vec<String> = list
        .data
        .iter()
        .filter_map(|d| match d {
            Data::List(l) => Some(l.mailbox.name(false).unwrap().into_owned()),
            _ => None,
        })
        .collect();
    assert!(names.contains(&"INBOX".to_string()), "{names:?}");
    assert!(names.contains(&name), "{names:?}");
    passed("LIST");

    // APPEND: one literal built synchronizing, one non-synchronizing (Dovecot offers LITERAL+,
    // so the client sends both without waiting; the synchronizing path is covered by the
    // second connection below, which is configured without LITERAL+).
    let a1 = c
        .execute(append(&name, PLAIN, vec![Flag::Seen], LiteralMode::Sync))
        .await
        .unwrap();
    assert!(a1.is_ok(), "{:?}", a1.status);
    passed("APPEND (synchronizing literal)");
    let a2 = c
        .execute(append(&name, MULTI, vec![], LiteralMode::NonSync))
        .await
        .unwrap();
    assert!(a2.is_ok(), "{:?}", a2.status);
    passed("APPEND (LITERAL+ literal)");

    // SELECT.
    let sel = c
        .execute(CommandBody::Select {
            mailbox: mailbox(&name),
            params: vec![],
        })
        .await
        .unwrap();
    assert!(sel.is_ok(), "{:?}", sel.status);
    let m = c.session().selected().unwrap();
    assert_eq!(m.exists(), 2);
    let uid_validity = m.uid_validity().unwrap();
    passed("SELECT");

    // FETCH bodies and structures.
    let f = c
        .execute(fetch(
            false,
            SequenceSet::all(),
            vec![
                FetchAttr::Uid,
                FetchAttr::Flags,
                FetchAttr::Rfc822Size,
                FetchAttr::InternalDate,
                FetchAttr::Envelope,
                FetchAttr::BodyStructure,
                FetchAttr::BodySection {
                    section: None,
                    partial: None,
                    peek: true,
                },
            ],
        ))
        .await
        .unwrap();
    assert!(f.is_ok(), "{:?}", f.status);
    let items = fetched(&f);
    assert_eq!(items.len(), 2);
    let mut seen = Vec::new();
    for (fd, want) in items.iter().zip([PLAIN, MULTI]) {
        let mut body = None;
        let mut size = None;
        let mut env = None;
        let mut bs = None;
        for it in &fd.items {
            match it {
                MessageDataItem::BodySection { data, .. } => {
                    body = data.as_ref().map(|d| d.as_bytes().to_vec());
                }
                MessageDataItem::Rfc822Size(n) => size = Some(*n),
                MessageDataItem::Envelope(e) => env = Some(e.clone()),
                MessageDataItem::BodyStructure(b) => bs = Some(b.clone()),
                MessageDataItem::Flags(fl) => seen.push(fl.contains(&FlagFetch::Flag(Flag::Seen))),
                _ => {}
            }
        }
        assert_eq!(body.as_deref(), Some(want));
        assert_eq!(size, Some(want.len() as u64));
        let env = env.unwrap();
        assert!(env.from[0].mailbox.is_some());
        assert!(env.subject.is_some());
        match (*bs.unwrap(), want == MULTI) {
            (
                BodyStructure::Multi {
                    parts,
                    media_subtype,
                    ..
                },
                true,
            ) => {
                assert!(media_subtype.as_bytes().eq_ignore_ascii_case(b"mixed"));
                assert_eq!(parts.len(), 2);
                assert!(
                    matches!(&parts[0], BodyStructure::Single { kind: BodyKind::Text { lines: 0 }, fields, .. } if fields.octets == 9),
                    "{:?}",
                    parts[0]
                );
            }
            (
                BodyStructure::Single {
                    kind: BodyKind::Text { .. },
                    fields,
                    ..
                },
                false,
            ) => {
                assert_eq!(fields.octets, 24);
            }
            (other, multi) => panic!("unexpected structure (multi={multi}): {other:?}"),
        }
    }
    assert_eq!(seen, vec![true, false]);
    assert_eq!(c.session().selected().unwrap().uids(), &[1, 2]);
    passed("FETCH bodies, ENVELOPE, BODYSTRUCTURE, FLAGS, UID");

    // Partial body and header fields.
    let f = c
        .execute(fetch(
            true,
            SequenceSet::single(2).unwrap(),
            vec![
                FetchAttr::BodySection {
                    section: Some(imap_proto::types::Section::HeaderFields(
                        None,
                        Vec1::new(IString::try_from("Subject").unwrap()),
                    )),
                    partial: None,
                    peek: true,
                },
                FetchAttr::BodySection {
                    section: Some(imap_proto::types::Section::Part(imap_proto::types::Part(
                        Vec1::new(NonZeroU32::new(1).unwrap()),
                    ))),
                    partial: None,
                    peek: true,
                },
            ],
        ))
        .await
        .unwrap();
    assert!(f.is_ok());
    let part: Vec<Vec<u8>> = fetched(&f)[0]
        .items
        .iter()
        .filter_map(|i| match i {
            MessageDataItem::BodySection { data: Some(d), .. } => Some(d.as_bytes().to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(part.len(), 2);
    assert!(part.iter().any(|p| p == b"body text"), "{part:?}");
    passed("UID FETCH BODY[HEADER.FIELDS], BODY[1]");

    // SEARCH, UID SEARCH and ESEARCH.
    let s = c
        .execute(CommandBody::Search {
            uid: false,
            return_opts: None,
            charset: None,
            criteria: Vec1::new(SearchKey::Subject(IString::try_from("multi").unwrap())),
        })
        .await
        .unwrap();
    assert!(s.is_ok());
    assert!(
        matches!(&s.data[..], [Data::Search { numbers, .. }] if numbers == &[NonZeroU32::new(2).unwrap()]),
        "{:?}",
        s.data
    );
    passed("SEARCH");
    for cap in ["ESEARCH", "IDLE", "QRESYNC", "LITERAL+", "UIDPLUS"] {
        assert!(c.session().has_capability(cap), "Dovecot offers {cap}");
    }
    {
        let s = c
            .execute(CommandBody::Search {
                uid: true,
                return_opts: Some(vec![SearchReturnOpt::Min, SearchReturnOpt::Count]),
                charset: None,
                criteria: Vec1::new(SearchKey::All),
            })
            .await
            .unwrap();
        assert!(s.is_ok());
        match &s.data[..] {
            [
                Data::ESearch {
                    uid: true, items, ..
                },
            ] => {
                assert!(items.contains(&SearchReturnData::Count(2)), "{items:?}");
                assert!(items.contains(&SearchReturnData::Min(NonZeroU32::new(1).unwrap())));
                passed("UID SEARCH RETURN (MIN COUNT) (ESEARCH)");
            }
            other => panic!("{other:?}"),
        }
    }

    // STORE.
    let st = c
        .execute(CommandBody::Store {
            uid: true,
            set: SequenceSet::single(2).unwrap(),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: false,
            flags: vec![
                Flag::Flagged,
                Flag::Keyword(imap_proto::types::Atom::new("$Interop").unwrap()),
            ],
        })
        .await
        .unwrap();
    assert!(st.is_ok(), "{:?}", st.status);
    let flags = fetched(&st)[0].flags().unwrap().to_vec();
    assert!(flags.contains(&FlagFetch::Flag(Flag::Flagged)), "{flags:?}");
    passed("UID STORE +FLAGS");

    // IDLE, woken by another connection's APPEND to this mailbox.
    {
        let idle = c.idle().await.unwrap();
        let mut other = connect_starttls(false).await;
        let a3 = other
            .execute(append(&name, PLAIN, vec![], LiteralMode::Sync))
            .await
            .unwrap();
        assert!(a3.is_ok());
        other.logout().await.unwrap();
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                match c.next_event().await.unwrap() {
                    Some(ClientEvent::Data {
                        data: Data::Exists(n),
                        ..
                    }) => return n,
                    Some(_) => {}
                    None => panic!("connection closed during IDLE"),
                }
            }
        })
        .await
        .expect("EXISTS during IDLE");
        assert_eq!(n, 3);
        assert!(c.idle_done(idle).await.unwrap().is_ok());
        passed("IDLE (EXISTS from another connection's APPEND), DONE");
    }

    // Delete message 1 and EXPUNGE.
    c.execute(CommandBody::Store {
        uid: false,
        set: SequenceSet::single(1).unwrap(),
        unchanged_since: None,
        kind: StoreKind::Add,
        silent: true,
        flags: vec![Flag::Deleted],
    })
    .await
    .unwrap();
    let ex = c.execute(CommandBody::Expunge).await.unwrap();
    assert!(ex.is_ok());
    assert!(
        ex.data
            .iter()
            .any(|d| matches!(d, Data::Expunge(n) if n.get() == 1))
    );
    assert_eq!(c.session().selected().unwrap().exists(), 2);
    passed("STORE \\Deleted, EXPUNGE");

    // QRESYNC: reselect with known state; Dovecot reports the vanished UID 1.
    {
        c.execute(CommandBody::Unselect).await.unwrap();
        let en = c
            .execute(CommandBody::Enable(Vec1::new(
                imap_proto::types::Atom::new("QRESYNC").unwrap(),
            )))
            .await
            .unwrap();
        assert!(en.is_ok());
        let sel = c
            .execute(CommandBody::Select {
                mailbox: mailbox(&name),
                params: vec![SelectParam::QResync(QResync {
                    uid_validity,
                    modseq: 1,
                    known_uids: Some(SequenceSet::range(1, 3).unwrap()),
                    seq_match: None,
                })],
            })
            .await
            .unwrap();
        assert!(sel.is_ok(), "{:?}", sel.status);
        assert!(
            sel.data.iter().any(
                |d| matches!(d, Data::Vanished { earlier: true, uids } if uids.contains(1, 3))
            ),
            "{:?}",
            sel.data
        );
        let f = c
            .execute(CommandBody::Fetch {
                uid: true,
                set: SequenceSet::all(),
                items: FetchItems::Attrs(Vec1::new(FetchAttr::Flags)),
                modifiers: vec![FetchModifier::ChangedSince(1), FetchModifier::Vanished],
            })
            .await
            .unwrap();
        assert!(f.is_ok(), "{:?}", f.status);
    }
    passed(
        "UNSELECT, ENABLE QRESYNC, SELECT (QRESYNC) with VANISHED (EARLIER), UID FETCH (CHANGEDSINCE VANISHED)",
    );

    // Clean up.
    c.execute(CommandBody::Close).await.unwrap();
    let del = c
        .execute(CommandBody::Delete(mailbox(&name)))
        .await
        .unwrap();
    assert!(del.is_ok(), "{:?}", del.status);
    passed("CLOSE, DELETE");
    let lo = c.logout().await.unwrap();
    assert!(lo.is_ok());
    passed("LOGOUT");
}

#[tokio::test]
#[ignore = "interop: needs the peers started by .ci/test"]
async fn imaps_with_authenticate_plain() {
    let port = env("DC_IMAPS_PORT");
    let mut c = Client::connect_tls(
        format!("127.0.0.1:{port}"),
        "localhost".try_into().unwrap(),
        tls_config(),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    c.greeting().await.unwrap();
    assert!(c.session().has_capability("AUTH=PLAIN"));
    let bad = c
        .authenticate(
            smtp_proto::sasl::Mechanism::Plain,
            smtp_proto::sasl::Credentials::password("alice", "wrong"),
        )
        .await
        .unwrap();
    assert_eq!(bad.status.kind, StatusKind::No);
    passed("IMAPS AUTHENTICATE PLAIN, wrong password refused with NO");
    let ok = c
        .authenticate(
            smtp_proto::sasl::Mechanism::Plain,
            smtp_proto::sasl::Credentials::password("alice", "alicepw"),
        )
        .await
        .unwrap();
    assert!(ok.is_ok(), "{:?}", ok.status);
    passed("IMAPS AUTHENTICATE PLAIN (SASL-IR)");
    let st = c
        .execute(CommandBody::Status {
            mailbox: Mailbox::inbox(),
            items: Vec1::try_from(vec![
                imap_proto::types::StatusItem::Messages,
                imap_proto::types::StatusItem::UidNext,
                imap_proto::types::StatusItem::UidValidity,
            ])
            .unwrap(),
        })
        .await
        .unwrap();
    assert!(st.is_ok());
    assert!(matches!(&st.data[..], [Data::Status { items, .. }] if items.len() == 3));
    passed("STATUS");
    let ns = c.execute(CommandBody::Namespace).await.unwrap();
    assert!(ns.is_ok());
    assert!(matches!(
        &ns.data[..],
        [Data::Namespace {
            personal: Some(_),
            ..
        }]
    ));
    passed("NAMESPACE");
    c.logout().await.unwrap();
}
