// Tests set options the way users outside the crate must (the structs are non_exhaustive).
#![allow(clippy::field_reassign_with_default)]

use super::*;

fn nonce(s: &str) -> Nonce {
    Nonce::new(s).unwrap()
}

fn server(mech: Mechanism) -> SaslServer {
    SaslServer::new(mech, &ServerOptions::default(), nonce("server-nonce"))
}

fn b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

fn expect_challenge(step: ServerStep) -> Vec<u8> {
    match step {
        ServerStep::Challenge(c) => c,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn expect_failure(step: ServerStep) -> FailureReason {
    match step {
        ServerStep::Failure(f) => f.reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn expect_success(step: ServerStep) -> Authenticated {
    match step {
        ServerStep::Success(a) => a,
        other => panic!("expected success, got {other:?}"),
    }
}

// --- base64 framing ---------------------------------------------------------------------------

#[test]
fn framing_helpers() {
    assert_eq!(decode_response(b"*", 10), Ok(ClientResponse::Cancel));
    assert_eq!(decode_response(b"", 10), Ok(ClientResponse::Data(vec![])));
    assert_eq!(
        decode_response(b"dGlt", 10),
        Ok(ClientResponse::Data(b"tim".to_vec()))
    );
    assert_eq!(decode_response(b"dGlt!", 10), Err(SaslError::InvalidBase64));
    assert_eq!(decode_response(b"dGl", 10), Err(SaslError::InvalidBase64));
    assert_eq!(decode_response(b"dG lt", 10), Err(SaslError::InvalidBase64));
    assert_eq!(
        decode_response(b"dGlt", 2),
        Err(SaslError::TooLong { limit: 2 })
    );
    // The limit is checked before decoding a huge line.
    let huge = vec![b'A'; 1 << 20];
    assert_eq!(
        decode_response(&huge, 1000),
        Err(SaslError::TooLong { limit: 1000 })
    );
    assert_eq!(decode_initial_response(b"=", 10), Ok(vec![]));
    assert_eq!(
        decode_initial_response(b"", 10),
        Err(SaslError::InvalidBase64)
    );
    assert_eq!(encode_initial_response(b""), "=");
    assert_eq!(encode_initial_response(b"tim"), "dGlt");
    assert_eq!(encode(b""), "");
}

#[test]
fn mechanism_names() {
    for m in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(m.name().as_bytes()), Some(m));
        assert_eq!(
            Mechanism::from_name(m.name().to_ascii_lowercase().as_bytes()),
            Some(m)
        );
    }
    assert_eq!(Mechanism::from_name(b"DIGEST-MD5"), None);
    assert_eq!(Mechanism::from_name(b"SCRAM-SHA-256-PLUSX"), None);
    assert!(Mechanism::Plain.reveals_secret());
    assert!(!Mechanism::ScramSha256.reveals_secret());
    assert!(!Mechanism::CramMd5.client_first());
}

#[test]
fn secrets_are_redacted() {
    let d = Decision::VerifyPassword {
        authzid: None,
        authcid: "tim".into(),
        password: Secret::new("hunter2".into()),
    };
    let text = format!("{d:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{:?}", nonce("abc")).contains("abc"));
    let creds = ScramCredentials::derive("pencil", b"salt", 4096).unwrap();
    assert!(!format!("{creds:?}").contains("stored"));
}

// --- PLAIN (RFC 4616) -------------------------------------------------------------------------

#[test]
fn plain_rfc4616_examples() {
    // RFC 4616 §4: "tim" with password "tanstaaftanstaaf", no authzid.
    let message = b64("AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    assert_eq!(message, b"\0tim\0tanstaaftanstaaf");
    let mut s = server(Mechanism::Plain);
    match s.start(Some(&message)) {
        ServerStep::Need(Decision::VerifyPassword {
            authzid,
            authcid,
            password,
        }) => {
            assert_eq!(authzid, None);
            assert_eq!(authcid, "tim");
            assert_eq!(password.expose(), "tanstaaftanstaaf");
        }
        other => panic!("{other:?}"),
    }
    let who = expect_success(s.answer(Answer::Accept));
    assert_eq!(who.identity(), "tim");
    assert_eq!(who.mechanism, Mechanism::Plain);

    // RFC 4616 §4: Kurt authenticates with "xipj3plmq" and asks to act as Ursel.
    let mut s = server(Mechanism::Plain);
    assert!(expect_challenge(s.start(None)).is_empty());
    match s.respond(b"Ursel\0Kurt\0xipj3plmq") {
        ServerStep::Need(Decision::VerifyPassword {
            authzid, authcid, ..
        }) => {
            assert_eq!(authzid.as_deref(), Some("Ursel"));
            assert_eq!(authcid, "Kurt");
        }
        other => panic!("{other:?}"),
    }
    let who = expect_success(s.answer(Answer::Accept));
    assert_eq!(who.identity(), "Ursel");
    assert_eq!(who.authcid, "Kurt");

    // Client side produces the same bytes.
    let mut c = SaslClient::new(
        Mechanism::Plain,
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(
        encode(&c.initial_response().unwrap().unwrap()),
        "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
    );
    c.finish(None).unwrap();
}

#[test]
fn plain_refusals() {
    for bad in [
        &b"tim\0tanstaaf"[..],
        b"\0\0pw",
        b"\0tim\0",
        b"a\0b\0c\0d",
        b"\0t\xffim\0pw",
        b"",
    ] {
        let mut s = server(Mechanism::Plain);
        assert_eq!(
            expect_failure(s.start(Some(bad))),
            FailureReason::Malformed,
            "{bad:?}"
        );
    }
    let mut s = server(Mechanism::Plain);
    s.start(Some(b"\0tim\0wrong"));
    assert_eq!(
        expect_failure(s.answer(Answer::Reject)),
        FailureReason::BadCredentials
    );
    let mut s = server(Mechanism::Plain);
    s.start(Some(b"\0tim\0pw"));
    assert_eq!(
        expect_failure(s.answer(Answer::TempFail)),
        FailureReason::TempFail
    );
    // Answer of the wrong kind, and use after the end, are reported, not panics.
    let mut s = server(Mechanism::Plain);
    s.start(Some(b"\0tim\0pw"));
    assert_eq!(
        expect_failure(s.answer(Answer::Secret(Secret::new(vec![])))),
        FailureReason::Misuse
    );
    assert_eq!(expect_failure(s.respond(b"x")), FailureReason::Misuse);
    // Client refuses NUL inside a value.
    assert!(
        SaslClient::new(
            Mechanism::Plain,
            Credentials::password("t\0m", "pw"),
            &ClientOptions::default(),
            nonce("n"),
        )
        .is_err()
    );
}

#[test]
fn response_size_limit() {
    let mut options = ServerOptions::default();
    options.max_response_len = 16;
    let mut s = SaslServer::new(Mechanism::Plain, &options, nonce("n"));
    assert_eq!(
        expect_failure(s.start(Some(&[b'a'; 17]))),
        FailureReason::TooLong
    );
    let mut s = SaslServer::new(Mechanism::Login, &options, nonce("n"));
    s.start(None);
    assert_eq!(
        expect_failure(s.respond(&[b'a'; 17])),
        FailureReason::TooLong
    );
}

// --- LOGIN ------------------------------------------------------------------------------------

#[test]
fn login_exchange_from_the_book() {
    // TC-SMTP-04: 334 VXNlcm5hbWU6 / 334 UGFzc3dvcmQ6 (requirements §10.1).
    let mut s = server(Mechanism::Login);
    let c1 = expect_challenge(s.start(None));
    assert_eq!(encode(&c1), "VXNlcm5hbWU6");
    let c2 = expect_challenge(s.respond(&b64("bXdsQHJhdG9wZXJhdGVkdmVoaWNsZS5jb20=")));
    assert_eq!(encode(&c2), "UGFzc3dvcmQ6");
    match s.respond(&b64("VGhpc0lzRm9vbGlzaD8h")) {
        ServerStep::Need(Decision::VerifyPassword {
            authcid, password, ..
        }) => {
            assert_eq!(authcid, "mwl@ratoperatedvehicle.com");
            assert_eq!(password.expose(), "ThisIsFoolish?!");
        }
        other => panic!("{other:?}"),
    }
    expect_success(s.answer(Answer::Accept));

    // With the user name as initial response.
    let mut s = server(Mechanism::Login);
    assert_eq!(expect_challenge(s.start(Some(b"bob"))), b"Password:");
    assert!(matches!(s.respond(b"pw"), ServerStep::Need(_)));

    // Client, without and with initial response.
    let creds = Credentials::password("bob", "bobpw");
    let mut c = SaslClient::new(
        Mechanism::Login,
        creds.clone(),
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(c.respond(b"Username:").unwrap(), b"bob");
    assert_eq!(c.respond(b"Password:").unwrap(), b"bobpw");
    assert!(c.respond(b"Password:").is_err());
    let mut c = SaslClient::new(
        Mechanism::Login,
        creds,
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(c.initial_response().unwrap().unwrap(), b"bob");
    // An unusual prompt: answered by order.
    assert_eq!(c.respond(b"Secret?").unwrap(), b"bobpw");
}

// --- CRAM-MD5 (RFC 2195) ----------------------------------------------------------------------

#[test]
fn cram_md5_rfc2195_example() {
    let challenge = b64("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
    assert_eq!(challenge, b"<1896.697170952@postoffice.reston.mci.net>");
    let mut c = SaslClient::new(
        Mechanism::CramMd5,
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(c.initial_response().unwrap(), None);
    let response = c.respond(&challenge).unwrap();
    assert_eq!(
        encode(&response),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    );
    assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");

    // The server side with the RFC's challenge.
    let mut s = SaslServer {
        mechanism: Mechanism::CramMd5,
        max_response_len: 1024,
        inner: ServerMech::CramMd5(cram::CramServer::with_challenge(challenge.clone())),
        done: false,
    };
    assert_eq!(expect_challenge(s.start(None)), challenge);
    assert_eq!(
        s.respond(&response),
        ServerStep::Need(Decision::CramMd5Secret { user: "tim".into() })
    );
    let who = expect_success(s.answer(Answer::Secret(Secret::new(b"tanstaaftanstaaf".to_vec()))));
    assert_eq!(who.authcid, "tim");

    // Wrong secret.
    let mut s = server(Mechanism::CramMd5);
    let ch = expect_challenge(s.start(None));
    assert!(ch.starts_with(b"<") && ch.ends_with(b"@localhost>"));
    let mut c = SaslClient::new(
        Mechanism::CramMd5,
        Credentials::password("tim", "wrong"),
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    s.respond(&c.respond(&ch).unwrap());
    assert_eq!(
        expect_failure(s.answer(Answer::Secret(Secret::new(b"right".to_vec())))),
        FailureReason::BadCredentials
    );
    // CRAM-MD5 has no initial response, and a malformed digest is refused.
    assert_eq!(
        expect_failure(server(Mechanism::CramMd5).start(Some(b"tim"))),
        FailureReason::Malformed
    );
    let mut s = server(Mechanism::CramMd5);
    s.start(None);
    assert_eq!(
        expect_failure(s.respond(b"tim b913a602c7eda7a495b4e6e7334d389")),
        FailureReason::Malformed
    );
}

// --- XOAUTH2 and OAUTHBEARER (RFC 7628) -------------------------------------------------------

#[test]
fn oauthbearer_rfc7628_examples() {
    // RFC 7628 §4.1 (IMAP, successful).
    let wire = "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
    let mut c = SaslClient::new(
        Mechanism::OAuthBearer,
        Credentials::Bearer {
            user: "user@example.com".into(),
            token: Secret::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into()),
            host: Some("server.example.com".into()),
            port: Some(143),
        },
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(encode(&c.initial_response().unwrap().unwrap()), wire);

    let mut s = server(Mechanism::OAuthBearer);
    match s.start(Some(&b64(wire))) {
        ServerStep::Need(Decision::ValidateToken {
            user,
            token,
            host,
            port,
        }) => {
            assert_eq!(user.as_deref(), Some("user@example.com"));
            assert_eq!(token.expose(), "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
            assert_eq!(host.as_deref(), Some("server.example.com"));
            assert_eq!(port, Some(143));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        expect_success(s.answer(Answer::Accept)).identity(),
        "user@example.com"
    );

    // RFC 7628 §4.3 (failure): the error JSON, the client's %x01, then failure.
    let mut s = server(Mechanism::OAuthBearer);
    s.start(Some(&b64(wire)));
    let error = OAuthError::new("invalid_token")
        .with_scope("example_scope")
        .with_openid_configuration("https://example.com/.well-known/openid-configuration");
    let challenge = expect_challenge(s.answer(Answer::RejectToken(error)));
    assert_eq!(
        encode(&challenge),
        "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0="
    );
    let dummy = c.respond(&challenge).unwrap();
    assert_eq!(encode(&dummy), "AQ==");
    assert!(c.server_error().unwrap().contains("invalid_token"));
    assert_eq!(
        expect_failure(s.respond(&dummy)),
        FailureReason::BadCredentials
    );
}

#[test]
fn oauthbearer_without_authzid_and_refusals() {
    let mut s = server(Mechanism::OAuthBearer);
    match s.start(Some(b"n,,\x01auth=Bearer abc\x01\x01")) {
        ServerStep::Need(Decision::ValidateToken { user, .. }) => assert_eq!(user, None),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        expect_success(s.answer(Answer::AcceptAs("carol".into()))).identity(),
        "carol"
    );
    for bad in [
        &b"p=tls-exporter,,\x01auth=Bearer abc\x01\x01"[..],
        b"n,,\x01auth=Basic abc\x01\x01",
        b"n,,\x01auth=Bearer abc\x01",
        b"n,,\x01host=x\x01\x01",
        b"n,,\x01port=99999\x01auth=Bearer a\x01\x01",
        b"n,,\x01auth=Bearer a b\x01\x01",
        b"n,a=bad=name,\x01auth=Bearer a\x01\x01",
    ] {
        assert_eq!(
            expect_failure(server(Mechanism::OAuthBearer).start(Some(bad))),
            FailureReason::Malformed,
            "{bad:?}"
        );
    }
}

#[test]
fn xoauth2_google_example() {
    // The example from Google's XOAUTH2 protocol page.
    let wire = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==";
    let mut c = SaslClient::new(
        Mechanism::XOAuth2,
        Credentials::bearer(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        ),
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(encode(&c.initial_response().unwrap().unwrap()), wire);
    let mut s = server(Mechanism::XOAuth2);
    assert!(matches!(
        s.start(Some(&b64(wire))),
        ServerStep::Need(Decision::ValidateToken { .. })
    ));
    // Refusal: Google's JSON shape, an empty client response, then failure.
    let challenge = expect_challenge(s.answer(Answer::Reject));
    assert_eq!(challenge, br#"{"status":"401","schemes":"bearer"}"#);
    assert_eq!(c.respond(&challenge).unwrap(), b"");
    assert_eq!(
        expect_failure(s.respond(b"")),
        FailureReason::BadCredentials
    );
}

#[test]
fn oauth_error_json_escapes() {
    let e = OAuthError::new("a\"b\\c\n");
    assert_eq!(e.to_json(), r#"{"status":"a\"b\\c\u000a"}"#);
}

// --- SCRAM-SHA-256 (RFC 7677 §3) ----------------------------------------------------------------

const RFC7677_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc7677_credentials() -> ScramCredentials {
    ScramCredentials::derive("pencil", &b64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096).unwrap()
}

#[test]
fn scram_rfc7677_client() {
    let mut c = SaslClient::new(
        Mechanism::ScramSha256,
        Credentials::password("user", "pencil"),
        &ClientOptions::default(),
        nonce("rOprNGfwEbeRWgbNEkqO"),
    )
    .unwrap();
    assert_eq!(
        c.initial_response().unwrap().unwrap(),
        RFC7677_CLIENT_FIRST.as_bytes()
    );
    assert_eq!(
        c.respond(RFC7677_SERVER_FIRST.as_bytes()).unwrap(),
        RFC7677_CLIENT_FINAL.as_bytes()
    );
    // finish before the server proved itself fails.
    assert_eq!(c.finish(None), Err(SaslError::ServerNotVerified));
    assert_eq!(c.respond(RFC7677_SERVER_FINAL.as_bytes()).unwrap(), b"");
    c.finish(None).unwrap();
}

#[test]
fn scram_rfc7677_server() {
    let mut s = SaslServer::new(
        Mechanism::ScramSha256,
        &ServerOptions::default(),
        nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
    );
    assert_eq!(
        s.start(Some(RFC7677_CLIENT_FIRST.as_bytes())),
        ServerStep::Need(Decision::ScramCredentials {
            authzid: None,
            authcid: "user".into()
        })
    );
    assert_eq!(
        expect_challenge(s.answer(Answer::Scram(rfc7677_credentials()))),
        RFC7677_SERVER_FIRST.as_bytes()
    );
    assert_eq!(
        expect_challenge(s.respond(RFC7677_CLIENT_FINAL.as_bytes())),
        RFC7677_SERVER_FINAL.as_bytes()
    );
    assert_eq!(expect_success(s.respond(b"")).authcid, "user");

    // With the final data carried by the success reply instead.
    let mut options = ServerOptions::default();
    options.final_data = FinalData::WithSuccess;
    let mut s = SaslServer::new(
        Mechanism::ScramSha256,
        &options,
        nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
    );
    s.start(Some(RFC7677_CLIENT_FIRST.as_bytes()));
    s.answer(Answer::Scram(rfc7677_credentials()));
    let who = expect_success(s.respond(RFC7677_CLIENT_FINAL.as_bytes()));
    assert_eq!(
        who.additional_data.as_deref(),
        Some(RFC7677_SERVER_FINAL.as_bytes())
    );
}

#[test]
fn scram_wrong_password_and_tampering() {
    // Wrong password: the proof does not verify.
    let wrong = ScramCredentials::derive("crayon", &b64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096).unwrap();
    let mut s = SaslServer::new(
        Mechanism::ScramSha256,
        &ServerOptions::default(),
        nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
    );
    s.start(Some(RFC7677_CLIENT_FIRST.as_bytes()));
    s.answer(Answer::Scram(wrong));
    assert_eq!(
        expect_failure(s.respond(RFC7677_CLIENT_FINAL.as_bytes())),
        FailureReason::BadCredentials
    );
    // Tampered nonce in the final message.
    let mut s = SaslServer::new(
        Mechanism::ScramSha256,
        &ServerOptions::default(),
        nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
    );
    s.start(Some(RFC7677_CLIENT_FIRST.as_bytes()));
    s.answer(Answer::Scram(rfc7677_credentials()));
    let tampered = RFC7677_CLIENT_FINAL.replace("k0,p=", "k1,p=");
    assert_eq!(
        expect_failure(s.respond(tampered.as_bytes())),
        FailureReason::BadCredentials
    );
    // A server that does not know the key: the client catches the bad signature.
    let mut c = SaslClient::new(
        Mechanism::ScramSha256,
        Credentials::password("user", "pencil"),
        &ClientOptions::default(),
        nonce("rOprNGfwEbeRWgbNEkqO"),
    )
    .unwrap();
    c.initial_response().unwrap();
    c.respond(RFC7677_SERVER_FIRST.as_bytes()).unwrap();
    assert_eq!(
        c.respond(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        Err(SaslError::ServerSignatureMismatch)
    );
    // Server errors and protocol violations on the client side.
    let mut c = SaslClient::new(
        Mechanism::ScramSha256,
        Credentials::password("user", "pencil"),
        &ClientOptions::default(),
        nonce("abc"),
    )
    .unwrap();
    c.initial_response().unwrap();
    assert_eq!(
        c.respond(b"r=xyzdef,s=c2FsdA==,i=4096"),
        Err(SaslError::NonceMismatch)
    );
    for (msg, err) in [
        (&b"r=abc,s=c2FsdA==,i=4096"[..], SaslError::NonceMismatch),
        (b"r=abcd,s=c2FsdA==,i=100", SaslError::IterationCount(100)),
        (
            b"r=abcd,s=c2FsdA==,i=4294967296",
            SaslError::Malformed("iteration count"),
        ),
        (
            b"r=abcd,s=c2FsdA==,i=04096",
            SaslError::Malformed("iteration count"),
        ),
        (b"r=abcd,s=,i=4096", SaslError::Malformed("salt")),
        (
            b"m=x,r=abcd,s=c2FsdA==,i=4096",
            SaslError::Malformed("server-first-message"),
        ),
    ] {
        let mut c = SaslClient::new(
            Mechanism::ScramSha256,
            Credentials::password("user", "pencil"),
            &ClientOptions::default(),
            nonce("abc"),
        )
        .unwrap();
        c.initial_response().unwrap();
        assert_eq!(c.respond(msg), Err(err), "{msg:?}");
    }
    let mut options = ClientOptions::default();
    options.min_iterations = 1;
    let mut c = SaslClient::new(
        Mechanism::ScramSha256,
        Credentials::password("user", "pencil"),
        &options,
        nonce("abc"),
    )
    .unwrap();
    c.initial_response().unwrap();
    c.respond(b"r=abcd,s=c2FsdA==,i=1").unwrap();
    assert_eq!(
        c.respond(b"e=invalid-proof"),
        Err(SaslError::ServerError("invalid-proof".into()))
    );
}

#[test]
fn scram_server_refuses_bad_client_first() {
    for (msg, reason) in [
        (&b"n,,m=ext,n=user,r=abc"[..], FailureReason::Malformed),
        (b"n,,n=user", FailureReason::Malformed),
        (b"n,,n=,r=abc", FailureReason::Malformed),
        (b"n,,n=us=er,r=abc", FailureReason::Malformed),
        (b"x,,n=user,r=abc", FailureReason::Malformed),
        (b"n,b=x,n=user,r=abc", FailureReason::Malformed),
        (
            b"p=tls-exporter,,n=user,r=abc",
            FailureReason::ChannelBinding,
        ),
        (b"n,,n=user,r=a\x7fc", FailureReason::Malformed),
    ] {
        assert_eq!(
            expect_failure(server(Mechanism::ScramSha256).start(Some(msg))),
            reason,
            "{msg:?}"
        );
    }
    // Escaped names are decoded for the host.
    assert_eq!(
        server(Mechanism::ScramSha256).start(Some(b"n,a=x=2Cy,n=a=3Db,r=abc")),
        ServerStep::Need(Decision::ScramCredentials {
            authzid: Some("x,y".into()),
            authcid: "a=b".into()
        })
    );
}

// --- SCRAM-SHA-256-PLUS with tls-exporter (RFC 9266) ------------------------------------------

fn pair_run(
    mech: Mechanism,
    client_cb: Option<&[u8]>,
    server_cb: Option<&[u8]>,
    password: &str,
) -> (ServerStep, Result<(), SaslError>) {
    let mut copts = ClientOptions::default();
    copts.channel_binding = client_cb.map(|b| Secret::new(b.to_vec()));
    let mut sopts = ServerOptions::default();
    sopts.channel_binding = server_cb.map(|b| Secret::new(b.to_vec()));
    let mut client = match SaslClient::new(
        mech,
        Credentials::password("alice", password),
        &copts,
        Nonce::from_random([7; 18]),
    ) {
        Ok(c) => c,
        Err(e) => return (ServerStep::Challenge(vec![]), Err(e)),
    };
    let mut server = SaslServer::new(mech, &sopts, Nonce::from_random([9; 18]));
    let creds = ScramCredentials::derive("alicepw", b"0123456789abcdef", 4096).unwrap();
    let mut step = server.start(client.initial_response().unwrap().as_deref());
    loop {
        step = match step {
            ServerStep::Need(Decision::ScramCredentials { .. }) => {
                server.answer(Answer::Scram(creds.clone()))
            }
            ServerStep::Challenge(c) => match client.respond(&c) {
                Ok(r) => server.respond(&r),
                Err(e) => return (ServerStep::Challenge(c), Err(e)),
            },
            done => {
                let fin = client.finish(None);
                return (done, fin);
            }
        };
    }
}

#[test]
fn scram_plus_channel_binding() {
    let cb = [0x5a; 32];
    // Matching exporter bytes: success, mutual.
    let (step, fin) = pair_run(Mechanism::ScramSha256Plus, Some(&cb), Some(&cb), "alicepw");
    assert_eq!(expect_success(step).authcid, "alice");
    fin.unwrap();
    // A man in the middle terminates TLS on both sides: the exporters differ.
    let (step, _) = pair_run(
        Mechanism::ScramSha256Plus,
        Some(&cb),
        Some(&[0xa5; 32]),
        "alicepw",
    );
    assert_eq!(expect_failure(step), FailureReason::ChannelBinding);
    // The server has no binding data (not TLS): PLUS is unavailable.
    let (step, _) = pair_run(Mechanism::ScramSha256Plus, Some(&cb), None, "alicepw");
    assert_eq!(expect_failure(step), FailureReason::Unavailable);
    // The client cannot do PLUS without binding data.
    let (_, fin) = pair_run(Mechanism::ScramSha256Plus, None, Some(&cb), "alicepw");
    assert_eq!(fin, Err(SaslError::ChannelBindingRequired));
    // Downgrade: the client could bind ("y") but the server offers PLUS: refused.
    let (step, _) = pair_run(Mechanism::ScramSha256, Some(&cb), Some(&cb), "alicepw");
    assert_eq!(expect_failure(step), FailureReason::ChannelBinding);
    // "y" to a server without binding support is fine.
    let (step, fin) = pair_run(Mechanism::ScramSha256, Some(&cb), None, "alicepw");
    expect_success(step);
    fin.unwrap();
    // Plain SCRAM with a wrong password.
    let (step, fin) = pair_run(Mechanism::ScramSha256, None, None, "bad");
    assert_eq!(expect_failure(step), FailureReason::BadCredentials);
    assert_eq!(fin, Err(SaslError::ServerNotVerified));
}

#[test]
fn scram_plus_messages_carry_the_binding() {
    let cb = b"exporter-bytes-32-long-xxxxxxxxx".to_vec();
    let mut copts = ClientOptions::default();
    copts.channel_binding = Some(Secret::new(cb.clone()));
    let mut c = SaslClient::new(
        Mechanism::ScramSha256Plus,
        Credentials::password("user", "pencil"),
        &copts,
        nonce("abc"),
    )
    .unwrap();
    let first = c.initial_response().unwrap().unwrap();
    assert_eq!(first, b"p=tls-exporter,,n=user,r=abc");
    let fin = c.respond(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
    let c_attr = fin.split(|&b| b == b',').next().unwrap();
    let mut expected = b"p=tls-exporter,,".to_vec();
    expected.extend_from_slice(&cb);
    assert_eq!(b64(std::str::from_utf8(&c_attr[2..]).unwrap()), expected);
}

#[test]
fn scram_credentials_storage_and_saslprep() {
    let creds = rfc7677_credentials();
    assert_eq!(creds.iterations(), 4096);
    let text = creds.to_rfc5803();
    assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
    assert_eq!(ScramCredentials::from_rfc5803(&text).unwrap(), creds);
    for bad in [
        "SCRAM-SHA-1$4096:c2FsdA==$AAAA:AAAA",
        "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
        "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
        "SCRAM-SHA-256$4096:c2FsdA==",
    ] {
        assert!(ScramCredentials::from_rfc5803(bad).is_err(), "{bad}");
    }
    // SASLprep (RFC 4013 §3): a non-ASCII space maps to SPACE, soft hyphen maps to nothing.
    let a = ScramCredentials::derive("I\u{00AD}X a", b"s", 4096).unwrap();
    let b = ScramCredentials::derive("IX\u{00A0}a", b"s", 4096).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, ScramCredentials::derive("IX a", b"s", 4096).unwrap());
    // Prohibited characters are refused.
    assert!(ScramCredentials::derive("a\u{0007}b", b"s", 4096).is_err());
    assert!(ScramCredentials::derive("pw", b"", 4096).is_err());
    assert!(ScramCredentials::derive("pw", b"s", 0).is_err());
}

// --- client mechanism choice ------------------------------------------------------------------

#[test]
fn client_choice() {
    let pw = Credentials::password("u", "p");
    let all = Mechanism::ALL;
    assert_eq!(pw.choose(all, true, true), Some(Mechanism::ScramSha256Plus));
    assert_eq!(pw.choose(all, true, false), Some(Mechanism::ScramSha256));
    assert_eq!(
        pw.choose([Mechanism::Login, Mechanism::Plain], true, false),
        Some(Mechanism::Plain)
    );
    // Never a plaintext password without TLS.
    assert_eq!(
        pw.choose([Mechanism::Login, Mechanism::Plain], false, false),
        None
    );
    assert_eq!(
        pw.choose([Mechanism::Plain, Mechanism::CramMd5], false, false),
        Some(Mechanism::CramMd5)
    );
    let token = Credentials::bearer("u", "t");
    assert_eq!(token.choose(all, true, true), Some(Mechanism::OAuthBearer));
    assert_eq!(token.choose([Mechanism::XOAuth2], false, false), None);
    assert_eq!(
        token.choose([Mechanism::XOAuth2, Mechanism::Plain], true, false),
        Some(Mechanism::XOAuth2)
    );
    // Mismatched credentials are refused at construction.
    assert!(
        SaslClient::new(
            Mechanism::Plain,
            token,
            &ClientOptions::default(),
            nonce("n")
        )
        .is_err()
    );
}

#[test]
fn client_without_initial_response() {
    // Protocols without SASL-IR: the server sends an empty challenge first.
    let mut c = SaslClient::new(
        Mechanism::Plain,
        Credentials::password("tim", "pw"),
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(c.respond(b"").unwrap(), b"\0tim\0pw");
    assert_eq!(c.respond(b""), Err(SaslError::UnexpectedStep));
    let mut c = SaslClient::new(
        Mechanism::Plain,
        Credentials::password("tim", "pw"),
        &ClientOptions::default(),
        nonce("n"),
    )
    .unwrap();
    assert!(c.respond(b"unexpected").is_err());
}

#[test]
fn nonce_validation() {
    assert!(Nonce::new("").is_err());
    assert!(Nonce::new("a,b").is_err());
    assert!(Nonce::new("a b").is_err());
    assert!(Nonce::new("x".repeat(257)).is_err());
    assert_eq!(Nonce::from_random([0; 18]).as_str().len(), 24);
    let (a, b) = (Nonce::generate().unwrap(), Nonce::generate().unwrap());
    assert_ne!(a.as_str(), b.as_str());
}

#[test]
fn saslname_escaping_round_trips() {
    for name in ["plain", "a,b", "a=b", "=2C", ",,==", ""] {
        assert_eq!(
            unescape_saslname(escape_saslname(name).as_bytes()).as_deref(),
            Some(name)
        );
    }
    assert_eq!(unescape_saslname(b"a=2"), None);
    assert_eq!(unescape_saslname(b"a,b"), None);
    assert_eq!(unescape_saslname(b"a=41"), None);
}
