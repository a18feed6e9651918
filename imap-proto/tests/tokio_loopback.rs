//! Our client against our server over TCP on 127.0.0.1 with the tokio adapter: STARTTLS and
//! implicit TLS (rustls), LOGINDISABLED before TLS, SELECT, FETCH, APPEND with a literal,
//! SEARCH, STORE, EXPUNGE, IDLE woken by the host, COMPRESS=DEFLATE, LOGOUT.
#![cfg(feature = "tokio")]

mod common;

use std::num::NonZeroU32;

use imap_proto::client::{ClientConfig, ClientEvent};
use imap_proto::tokio::{Client, ServerConnection};
use imap_proto::types::{
    AppendMessage, CommandBody, Data, FetchAttr, FetchItems, Flag, LiteralData, LiteralMode,
    Mailbox, MessageDataItem, SearchKey, SequenceSet, StatusKind, StoreKind, Vec1,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const M1: &[u8] = b"From: a@example.org\r\nSubject: first\r\n\r\nHello one\r\n";
const M2: &[u8] = b"From: b@example.org\r\nSubject: second\r\n\r\nHello two\r\n";

fn bodies(data: &[Data<'_>]) -> Vec<Vec<u8>> {
    data.iter()
        .filter_map(|d| match d {
            Data::Fetch(f) => f.items.iter().find_map(|i| match i {
                MessageDataItem::BodySection { data: Some(s), .. } => Some(s.as_bytes().to_vec()),
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

#[tokio::test]
#[allow(clippy::many_single_char_names, clippy::too_many_lines)]
async fn starttls_session_with_idle_and_compress() {
    let (server_tls, client_tls, _) = common::tls_pair();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = common::Store::with_inbox(&[M1, M2]);
    let (mail_tx, mail_rx) = mpsc::channel(4);
    let server_store = store.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let conn = ServerConnection::new(
            tcp,
            common::session(true, false),
            Some(TlsAcceptor::from(server_tls)),
        );
        common::serve(conn, server_store, mail_rx).await
    });

    let mut c = Client::connect(addr, ClientConfig::default())
        .await
        .unwrap();
    let g = c.greeting().await.unwrap();
    assert_eq!(g.kind, StatusKind::Ok);
    assert!(c.session().has_capability("STARTTLS"));
    assert!(c.session().has_capability("LOGINDISABLED"));
    // No password over plaintext.
    let refused = c.login("alice", "pw").await.unwrap();
    assert_eq!(refused.status.kind, StatusKind::No);
    let st = c
        .starttls("localhost".try_into().unwrap(), client_tls)
        .await
        .unwrap();
    assert!(st.is_ok());
    assert!(c.session().is_tls());
    let caps = c.execute(CommandBody::Capability).await.unwrap();
    assert!(caps.is_ok());
    assert!(c.session().has_capability("AUTH=PLAIN"));
    assert!(!c.session().has_capability("LOGINDISABLED"));
    assert!(c.login("alice", "pw").await.unwrap().is_ok());

    let sel = c
        .execute(CommandBody::Select {
            mailbox: Mailbox::inbox(),
            params: vec![],
        })
        .await
        .unwrap();
    assert!(sel.is_ok());
    assert_eq!(c.session().selected().unwrap().exists(), 2);

    let f = c
        .execute(CommandBody::Fetch {
            uid: true,
            set: SequenceSet::all(),
            items: FetchItems::Attrs(
                Vec1::try_from(vec![
                    FetchAttr::Flags,
                    FetchAttr::BodySection {
                        section: None,
                        partial: None,
                        peek: true,
                    },
                ])
                .unwrap(),
            ),
            modifiers: vec![],
        })
        .await
        .unwrap();
    assert!(f.is_ok());
    assert_eq!(bodies(&f.data), vec![M1.to_vec(), M2.to_vec()]);
    assert_eq!(c.session().selected().unwrap().uids(), &[1, 2]);

    // APPEND with a synchronizing literal (LITERAL+ is offered, so it goes non-sync: both
    // paths end the same).
    let new = b"From: c@example.org\r\nSubject: third\r\n\r\nHello three\r\n";
    let ap = c
        .execute(CommandBody::Append {
            mailbox: Mailbox::inbox(),
            messages: Vec1::new(AppendMessage {
                flags: Some(vec![Flag::Flagged]),
                date: None,
                data: LiteralData {
                    data: new[..].into(),
                    mode: LiteralMode::Sync,
                    binary: false,
                },
            }),
        })
        .await
        .unwrap();
    assert!(ap.is_ok(), "{:?}", ap.status);
    assert_eq!(c.session().selected().unwrap().exists(), 3);
    assert_eq!(store.lock().unwrap().boxes["INBOX"].0[2].body, new.to_vec());

    let s = c
        .execute(CommandBody::Search {
            uid: true,
            return_opts: None,
            charset: None,
            criteria: Vec1::new(SearchKey::Flagged),
        })
        .await
        .unwrap();
    assert!(s.is_ok());
    assert!(
        matches!(&s.data[..], [Data::Search { numbers, .. }] if numbers == &[NonZeroU32::new(3).unwrap()])
    );

    let st = c
        .execute(CommandBody::Store {
            uid: false,
            set: SequenceSet::single(1).unwrap(),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: false,
            flags: vec![Flag::Deleted],
        })
        .await
        .unwrap();
    assert!(st.is_ok());
    let ex = c.execute(CommandBody::Expunge).await.unwrap();
    assert!(ex.is_ok());
    assert!(matches!(&ex.data[..], [Data::Expunge(n)] if n.get() == 1));
    // The client learned UIDs 1 and 2 from the FETCH; the appended message's UID it has
    // not been told (0) — the tracker never guesses.
    assert_eq!(c.session().selected().unwrap().uids(), &[2, 0]);

    // IDLE, woken by new mail the host delivers.
    let idle = c.idle().await.unwrap();
    mail_tx.send(M1.to_vec()).await.unwrap();
    let exists = loop {
        match c.next_event().await.unwrap() {
            Some(ClientEvent::Data {
                data: Data::Exists(n),
                ..
            }) => break n,
            Some(_) => {}
            None => panic!("closed"),
        }
    };
    assert_eq!(exists, 3);
    assert!(c.idle_done(idle).await.unwrap().is_ok());

    // COMPRESS=DEFLATE, then more traffic through the compressed stream.
    assert!(c.session().has_capability("COMPRESS=DEFLATE"));
    assert!(c.compress().await.unwrap().is_ok());
    assert!(c.is_compressed());
    let f = c
        .execute(CommandBody::Fetch {
            uid: false,
            set: SequenceSet::single(3).unwrap(),
            items: FetchItems::Attrs(Vec1::new(FetchAttr::BodySection {
                section: None,
                partial: None,
                peek: true,
            })),
            modifiers: vec![],
        })
        .await
        .unwrap();
    assert_eq!(bodies(&f.data), vec![M1.to_vec()]);
    let lo = c.logout().await.unwrap();
    assert!(lo.is_ok());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn implicit_tls() {
    let (server_tls, client_tls, _) = common::tls_pair();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = common::Store::with_inbox(&[M1]);
    let (_tx, rx) = mpsc::channel(1);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor = TlsAcceptor::from(server_tls);
        let conn = ServerConnection::new_tls(tcp, common::session(false, true), &acceptor);
        common::serve(conn, store, rx).await
    });
    let mut c = Client::connect_tls(
        addr,
        "localhost".try_into().unwrap(),
        client_tls,
        ClientConfig::default(),
    )
    .await
    .unwrap();
    c.greeting().await.unwrap();
    assert!(c.session().has_capability("AUTH=PLAIN"));
    assert!(!c.session().has_capability("STARTTLS"));
    let a = c
        .authenticate(
            smtp_proto::sasl::Mechanism::Plain,
            smtp_proto::sasl::Credentials::password("alice", "pw"),
        )
        .await
        .unwrap();
    assert!(a.is_ok(), "{:?}", a.status);
    let st = c
        .execute(CommandBody::Status {
            mailbox: Mailbox::inbox(),
            items: Vec1::new(imap_proto::types::StatusItem::Messages),
        })
        .await
        .unwrap();
    assert!(st.is_ok());
    assert!(matches!(&st.data[..], [Data::Status { .. }]));
    c.logout().await.unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn scram_sha_256_plus_over_tls() {
    let (server_tls, client_tls, _) = common::tls_pair();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor = TlsAcceptor::from(server_tls);
        let mut cfg = common::config();
        cfg.tls_active = true;
        cfg.mechanisms = vec![smtp_proto::sasl::Mechanism::ScramSha256Plus];
        let session = imap_proto::server::ServerSession::new(cfg, std::time::Instant::now());
        let mut conn = ServerConnection::new_tls(tcp, session, &acceptor);
        let mut who = None;
        while let Some(ev) = conn.next_event().await.unwrap() {
            match ev {
                imap_proto::server::ServerEvent::Auth { id, decision, .. } => {
                    let answer = match decision {
                        smtp_proto::sasl::Decision::ScramCredentials { authcid, .. }
                            if authcid == "alice" =>
                        {
                            smtp_proto::sasl::Answer::Scram(
                                smtp_proto::sasl::ScramCredentials::derive("pw", b"salt", 4096)
                                    .unwrap(),
                            )
                        }
                        _ => smtp_proto::sasl::Answer::Reject,
                    };
                    conn.session().auth_answer(id, answer);
                }
                imap_proto::server::ServerEvent::Authenticated {
                    identity,
                    mechanism,
                    ..
                } => {
                    who = Some((identity, mechanism));
                }
                _ => {}
            }
        }
        who
    });
    let mut c = Client::connect_tls(
        addr,
        "localhost".try_into().unwrap(),
        client_tls,
        ClientConfig::default(),
    )
    .await
    .unwrap();
    c.greeting().await.unwrap();
    assert!(c.session().has_capability("AUTH=SCRAM-SHA-256-PLUS"));
    let a = c
        .authenticate(
            smtp_proto::sasl::Mechanism::ScramSha256Plus,
            smtp_proto::sasl::Credentials::password("alice", "pw"),
        )
        .await
        .unwrap();
    assert!(a.is_ok(), "{:?}", a.status);
    c.logout().await.unwrap();
    let who = server.await.unwrap();
    assert_eq!(
        who,
        Some((
            "alice".to_string(),
            Some(smtp_proto::sasl::Mechanism::ScramSha256Plus)
        ))
    );
}
