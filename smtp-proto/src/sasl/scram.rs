//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) with `tls-exporter` channel
//! binding (RFC 9266).
//!
//! ```text
//! client-first-message = gs2-header client-first-message-bare
//! gs2-header           = gs2-cbind-flag "," [ "a=" saslname ] ","
//! gs2-cbind-flag       = ("p=" cb-name) / "n" / "y"
//! client-first-bare    = [ reserved-mext "," ] "n=" saslname "," "r=" c-nonce [ "," extensions ]
//! server-first-message = [ reserved-mext "," ] "r=" nonce "," "s=" salt "," "i=" count
//!                        [ "," extensions ]
//! client-final-message = "c=" base64(gs2-header [ cbind-data ]) "," "r=" nonce
//!                        [ "," extensions ] "," "p=" base64(proof)
//! server-final-message = ( "e=" server-error-value / "v=" base64(signature) )
//!                        [ "," extensions ]
//!
//! SaltedPassword  = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, i)
//! ClientKey       = HMAC(SaltedPassword, "Client Key")     StoredKey = SHA-256(ClientKey)
//! ServerKey       = HMAC(SaltedPassword, "Server Key")
//! AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
//! ClientProof     = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! ServerSignature = HMAC(ServerKey, AuthMessage)
//! ```

use std::fmt;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::{digest, hmac, pbkdf2};

use super::{
    Answer, ClientOptions, Decision, FailureReason, FinalData, Nonce, SaslError, Secret, Step,
    ct_eq, escape_saslname, unescape_saslname,
};

const CB_NAME: &str = "tls-exporter";
const KEY_LEN: usize = 32;

/// What a SCRAM-SHA-256 server stores per user instead of the password (RFC 5802 §3): the
/// salt, the iteration count, `StoredKey` and `ServerKey`. Knowing them does not let anyone
/// log in elsewhere with the password, but does let them impersonate this server.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    salt: Vec<u8>,
    iterations: NonZeroU32,
    stored_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredentials {
    /// The iteration count [`derive`](Self::derive) callers should use unless they have a
    /// reason: RFC 7677 §4 asks for at least 4096; every login costs the server this many
    /// HMACs only at derivation time, and the client this many per login.
    pub const DEFAULT_ITERATIONS: u32 = 4096;

    /// Derives the stored credentials from a password (SASLprep applied, RFC 4013). Use a
    /// fresh random salt of at least 16 bytes per user.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Result<Self, SaslError> {
        let iterations = NonZeroU32::new(iterations)
            .ok_or(SaslError::InvalidInput("iteration count must be positive"))?;
        if salt.is_empty() {
            return Err(SaslError::InvalidInput("salt must not be empty"));
        }
        let salted = salted_password(password, salt, iterations)?;
        let client_key = hmac_sha256(&salted, b"Client Key");
        Ok(Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        })
    }

    /// Builds credentials from stored parts.
    pub fn from_parts(
        salt: Vec<u8>,
        iterations: u32,
        stored_key: [u8; 32],
        server_key: [u8; 32],
    ) -> Result<Self, SaslError> {
        let iterations = NonZeroU32::new(iterations)
            .ok_or(SaslError::InvalidInput("iteration count must be positive"))?;
        if salt.is_empty() {
            return Err(SaslError::InvalidInput("salt must not be empty"));
        }
        Ok(Self {
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations.get()
    }

    /// `StoredKey`.
    pub fn stored_key(&self) -> &[u8; 32] {
        &self.stored_key
    }

    /// `ServerKey`.
    pub fn server_key(&self) -> &[u8; 32] {
        &self.server_key
    }

    /// The RFC 5803 storage form: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
    /// with base64 values.
    pub fn to_rfc5803(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }

    /// Parses [`to_rfc5803`](Self::to_rfc5803)'s form (the scheme name case-insensitively).
    pub fn from_rfc5803(text: &str) -> Result<Self, SaslError> {
        const BAD: SaslError = SaslError::InvalidInput("not an RFC 5803 SCRAM-SHA-256 value");
        let (scheme, rest) = text.split_once('$').ok_or(BAD)?;
        if !scheme.eq_ignore_ascii_case("SCRAM-SHA-256") {
            return Err(BAD);
        }
        let (params, keys) = rest.split_once('$').ok_or(BAD)?;
        let (iterations, salt) = params.split_once(':').ok_or(BAD)?;
        let (stored, server) = keys.split_once(':').ok_or(BAD)?;
        let iterations = parse_count(iterations.as_bytes()).ok_or(BAD)?;
        let decode_key = |k: &str| -> Result<[u8; 32], SaslError> {
            STANDARD
                .decode(k)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or(BAD)
        };
        Self::from_parts(
            STANDARD.decode(salt).map_err(|_| BAD)?,
            iterations,
            decode_key(stored)?,
            decode_key(server)?,
        )
    }
}

fn salted_password(
    password: &str,
    salt: &[u8],
    iterations: NonZeroU32,
) -> Result<[u8; KEY_LEN], SaslError> {
    let prepared = stringprep::saslprep(password)
        .map_err(|_| SaslError::InvalidInput("password refused by SASLprep (RFC 4013)"))?;
    let mut out = [0u8; KEY_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        prepared.as_bytes(),
        &mut out,
    );
    Ok(out)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; KEY_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message);
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// A positive decimal count without sign or leading zero, overflow refused.
fn parse_count(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn printable(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&c| (0x21..=0x7e).contains(&c) && c != b',')
}

/// The fields of a SCRAM message split at `,`, each as `(letter, value)`.
fn attributes(message: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    message
        .split(|&b| b == b',')
        .map(|attr| match attr {
            [name, b'=', value @ ..] if name.is_ascii_alphabetic() => Some((*name, value)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum ServerState {
    Start,
    AwaitClientFirst,
    AwaitCredentials(Box<ClientFirst>),
    AwaitClientFinal(Box<ClientFirst>, ScramCredentials, String),
    AwaitEmpty(String, Option<String>),
    Done,
}

#[derive(Debug)]
struct ClientFirst {
    gs2_header: Vec<u8>,
    bare: Vec<u8>,
    nonce: Vec<u8>,
    authcid: String,
    authzid: Option<String>,
}

#[derive(Debug)]
pub(super) struct ScramServer {
    plus: bool,
    channel_binding: Option<Secret<Vec<u8>>>,
    nonce: Nonce,
    final_data: FinalData,
    state: ServerState,
}

impl ScramServer {
    pub(super) fn new(
        plus: bool,
        channel_binding: Option<Secret<Vec<u8>>>,
        nonce: Nonce,
        final_data: FinalData,
    ) -> Self {
        Self {
            plus,
            channel_binding,
            nonce,
            final_data,
            state: ServerState::Start,
        }
    }

    pub(super) fn start(&mut self, ir: Option<&[u8]>) -> Step {
        match ir {
            Some(message) if !message.is_empty() => self.client_first(message),
            _ => {
                self.state = ServerState::AwaitClientFirst;
                Step::Challenge(Vec::new())
            }
        }
    }

    pub(super) fn respond(&mut self, response: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::AwaitClientFirst => self.client_first(response),
            ServerState::AwaitClientFinal(first, creds, server_first) => {
                self.client_final(&first, &creds, &server_first, response)
            }
            ServerState::AwaitEmpty(authcid, authzid) => {
                if response.is_empty() {
                    Step::success(authcid, authzid)
                } else {
                    Step::Failure(FailureReason::Malformed, Some(authcid))
                }
            }
            _ => Step::Failure(FailureReason::Misuse, None),
        }
    }

    fn client_first(&mut self, message: &[u8]) -> Step {
        self.state = ServerState::Done;
        match self.parse_client_first(message) {
            Ok(first) => {
                let decision = Decision::ScramCredentials {
                    authzid: first.authzid.clone(),
                    authcid: first.authcid.clone(),
                };
                self.state = ServerState::AwaitCredentials(Box::new(first));
                Step::Need(decision)
            }
            Err(reason) => Step::Failure(reason, None),
        }
    }

    fn parse_client_first(&self, message: &[u8]) -> Result<ClientFirst, FailureReason> {
        use FailureReason::{ChannelBinding, Malformed, Unavailable};
        // gs2-cbind-flag
        let comma = message.iter().position(|&b| b == b',').ok_or(Malformed)?;
        match &message[..comma] {
            b"n" if self.plus => return Err(ChannelBinding),
            b"n" => {}
            // The client supports binding but thinks we do not: if we do, someone stripped
            // the PLUS offer (RFC 5802 §6).
            b"y" if self.plus || self.channel_binding.is_some() => return Err(ChannelBinding),
            b"y" => {}
            flag => {
                let name = flag.strip_prefix(b"p=").ok_or(Malformed)?;
                if !self.plus || name != CB_NAME.as_bytes() {
                    return Err(ChannelBinding);
                }
                if self.channel_binding.is_none() {
                    return Err(Unavailable);
                }
            }
        }
        let rest = &message[comma + 1..];
        let comma2 = rest.iter().position(|&b| b == b',').ok_or(Malformed)?;
        let authzid = match &rest[..comma2] {
            [] => None,
            a => Some(
                a.strip_prefix(b"a=")
                    .and_then(unescape_saslname)
                    .filter(|s| !s.is_empty())
                    .ok_or(Malformed)?,
            ),
        };
        let header_len = comma + 1 + comma2 + 1;
        let (gs2_header, bare) = message.split_at(header_len);
        let attrs = attributes(bare).ok_or(Malformed)?;
        let [(b'n', user), (b'r', nonce), ..] = attrs.as_slice() else {
            // Includes a leading reserved "m=": mandatory extensions we do not know.
            return Err(Malformed);
        };
        let authcid = unescape_saslname(user)
            .filter(|s| !s.is_empty())
            .ok_or(Malformed)?;
        if !printable(nonce) {
            return Err(Malformed);
        }
        Ok(ClientFirst {
            gs2_header: gs2_header.to_vec(),
            bare: bare.to_vec(),
            nonce: nonce.to_vec(),
            authcid,
            authzid,
        })
    }

    pub(super) fn answer(&mut self, answer: Answer) -> Step {
        let ServerState::AwaitCredentials(first) =
            std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Step::Failure(FailureReason::Misuse, None);
        };
        match answer {
            Answer::Scram(creds) => {
                let server_first = format!(
                    "r={}{},s={},i={}",
                    String::from_utf8_lossy(&first.nonce),
                    self.nonce.as_str(),
                    STANDARD.encode(&creds.salt),
                    creds.iterations
                );
                let challenge = server_first.clone().into_bytes();
                self.state = ServerState::AwaitClientFinal(first, creds, server_first);
                Step::Challenge(challenge)
            }
            Answer::Reject => Step::Failure(FailureReason::BadCredentials, Some(first.authcid)),
            Answer::TempFail => Step::Failure(FailureReason::TempFail, Some(first.authcid)),
            _ => Step::Failure(FailureReason::Misuse, Some(first.authcid)),
        }
    }

    fn client_final(
        &mut self,
        first: &ClientFirst,
        creds: &ScramCredentials,
        server_first: &str,
        message: &[u8],
    ) -> Step {
        let user = Some(first.authcid.clone());
        let malformed = || Step::Failure(FailureReason::Malformed, user.clone());
        // The proof is the last attribute; everything before it is signed.
        let Some(p) = message.windows(3).rposition(|w| w == b",p=") else {
            return malformed();
        };
        let (without_proof, proof) = (&message[..p], &message[p + 3..]);
        let Some(attrs) = attributes(without_proof) else {
            return malformed();
        };
        let [(b'c', cbind), (b'r', nonce), ..] = attrs.as_slice() else {
            return malformed();
        };
        let Ok(proof) = STANDARD.decode(proof) else {
            return malformed();
        };
        let Ok(proof) = <[u8; KEY_LEN]>::try_from(proof) else {
            return malformed();
        };
        // c= must repeat the GS2 header, plus the binding data for PLUS.
        let mut expected_cb = first.gs2_header.clone();
        if first.gs2_header.starts_with(b"p=") {
            match &self.channel_binding {
                Some(data) => expected_cb.extend_from_slice(data.expose()),
                None => return Step::Failure(FailureReason::Unavailable, user),
            }
        }
        let Ok(cbind) = STANDARD.decode(cbind) else {
            return malformed();
        };
        if !ct_eq(&cbind, &expected_cb) {
            return Step::Failure(FailureReason::ChannelBinding, user);
        }
        let mut expected_nonce = first.nonce.clone();
        expected_nonce.extend_from_slice(self.nonce.as_str().as_bytes());
        if *nonce != expected_nonce.as_slice() {
            return Step::Failure(FailureReason::BadCredentials, user);
        }
        let mut auth_message = first.bare.clone();
        auth_message.push(b',');
        auth_message.extend_from_slice(server_first.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(without_proof);
        let client_signature = hmac_sha256(&creds.stored_key, &auth_message);
        let client_key = xor(&proof, &client_signature);
        if !ct_eq(&sha256(&client_key), &creds.stored_key) {
            return Step::Failure(FailureReason::BadCredentials, user);
        }
        let server_signature = hmac_sha256(&creds.server_key, &auth_message);
        let server_final = format!("v={}", STANDARD.encode(server_signature)).into_bytes();
        match self.final_data {
            FinalData::AsChallenge => {
                self.state = ServerState::AwaitEmpty(first.authcid.clone(), first.authzid.clone());
                Step::Challenge(server_final)
            }
            FinalData::WithSuccess => Step::Success {
                authcid: first.authcid.clone(),
                authzid: first.authzid.clone(),
                additional_data: Some(server_final),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum ClientState {
    Start,
    AwaitServerFirst,
    AwaitServerFinal([u8; KEY_LEN]),
    Verified,
    Failed,
}

pub(super) struct ScramClient {
    gs2_header: String,
    bare: String,
    nonce: String,
    password: Secret<String>,
    channel_binding: Option<Secret<Vec<u8>>>,
    plus: bool,
    min_iterations: u32,
    max_iterations: u32,
    state: ClientState,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("plus", &self.plus)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    pub(super) fn new(
        plus: bool,
        authzid: Option<&str>,
        authcid: &str,
        password: &Secret<String>,
        options: &ClientOptions,
        nonce: &Nonce,
    ) -> Result<Self, SaslError> {
        if plus && options.channel_binding.is_none() {
            return Err(SaslError::ChannelBindingRequired);
        }
        let user = stringprep::saslprep(authcid)
            .map_err(|_| SaslError::InvalidInput("user name refused by SASLprep (RFC 4013)"))?;
        if user.is_empty() {
            return Err(SaslError::InvalidInput("SCRAM needs a user name"));
        }
        // Fail early on a password SASLprep refuses.
        stringprep::saslprep(password.expose())
            .map_err(|_| SaslError::InvalidInput("password refused by SASLprep (RFC 4013)"))?;
        let flag = if plus {
            format!("p={CB_NAME}")
        } else if options.channel_binding.is_some() {
            "y".to_owned()
        } else {
            "n".to_owned()
        };
        let authz = match authzid {
            Some(a) if !a.is_empty() => format!("a={}", escape_saslname(a)),
            _ => String::new(),
        };
        Ok(Self {
            gs2_header: format!("{flag},{authz},"),
            bare: format!("n={},r={}", escape_saslname(&user), nonce.as_str()),
            nonce: nonce.as_str().to_owned(),
            password: password.clone(),
            channel_binding: options.channel_binding.clone(),
            plus,
            min_iterations: options.min_iterations,
            max_iterations: options.max_iterations,
            state: ClientState::Start,
        })
    }

    pub(super) fn initial(&mut self) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, ClientState::Start) {
            return Err(SaslError::UnexpectedStep);
        }
        self.state = ClientState::AwaitServerFirst;
        Ok(format!("{}{}", self.gs2_header, self.bare).into_bytes())
    }

    pub(super) fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            ClientState::AwaitServerFirst => {
                let (reply, expected) = self.server_first(challenge)?;
                self.state = ClientState::AwaitServerFinal(expected);
                Ok(reply)
            }
            ClientState::AwaitServerFinal(expected) => {
                verify_server_final(challenge, &expected)?;
                self.state = ClientState::Verified;
                Ok(Vec::new())
            }
            _ => Err(SaslError::UnexpectedStep),
        }
    }

    pub(super) fn finish(&mut self, additional_data: Option<&[u8]>) -> Result<(), SaslError> {
        match (&self.state, additional_data) {
            (ClientState::AwaitServerFinal(expected), Some(data)) => {
                let expected = *expected;
                self.state = ClientState::Failed;
                verify_server_final(data, &expected)?;
                self.state = ClientState::Verified;
                Ok(())
            }
            (ClientState::Verified, None | Some([])) => Ok(()),
            (ClientState::Verified, Some(_)) => Err(SaslError::UnexpectedStep),
            _ => Err(SaslError::ServerNotVerified),
        }
    }

    fn server_first(&self, message: &[u8]) -> Result<(Vec<u8>, [u8; KEY_LEN]), SaslError> {
        let attrs = attributes(message).ok_or(SaslError::Malformed("server-first-message"))?;
        let [(b'r', nonce), (b's', salt), (b'i', count), ..] = attrs.as_slice() else {
            return Err(SaslError::Malformed("server-first-message"));
        };
        if !printable(nonce)
            || !nonce.starts_with(self.nonce.as_bytes())
            || nonce.len() == self.nonce.len()
        {
            return Err(SaslError::NonceMismatch);
        }
        let salt = STANDARD
            .decode(salt)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or(SaslError::Malformed("salt"))?;
        let count = parse_count(count).ok_or(SaslError::Malformed("iteration count"))?;
        if count < self.min_iterations || count > self.max_iterations {
            return Err(SaslError::IterationCount(count));
        }
        let salted = salted_password(
            self.password.expose(),
            &salt,
            NonZeroU32::new(count).ok_or(SaslError::IterationCount(count))?,
        )?;
        let mut cbind = self.gs2_header.as_bytes().to_vec();
        if self.plus {
            let data = self
                .channel_binding
                .as_ref()
                .ok_or(SaslError::ChannelBindingRequired)?;
            cbind.extend_from_slice(data.expose());
        }
        let without_proof = format!(
            "c={},r={}",
            STANDARD.encode(&cbind),
            String::from_utf8_lossy(nonce)
        );
        let auth_message = format!(
            "{},{},{}",
            self.bare,
            String::from_utf8_lossy(message),
            without_proof
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key = sha256(&client_key);
        let client_signature = hmac_sha256(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_signature);
        let server_key = hmac_sha256(&salted, b"Server Key");
        let server_signature = hmac_sha256(&server_key, auth_message.as_bytes());
        let reply = format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes();
        Ok((reply, server_signature))
    }
}

fn verify_server_final(message: &[u8], expected: &[u8; KEY_LEN]) -> Result<(), SaslError> {
    let attrs = attributes(message).ok_or(SaslError::Malformed("server-final-message"))?;
    match attrs.first() {
        Some((b'v', sig)) => {
            let sig = STANDARD
                .decode(sig)
                .map_err(|_| SaslError::Malformed("server signature"))?;
            if ct_eq(&sig, expected) {
                Ok(())
            } else {
                Err(SaslError::ServerSignatureMismatch)
            }
        }
        Some((b'e', error)) => Err(SaslError::ServerError(
            String::from_utf8_lossy(error).into_owned(),
        )),
        _ => Err(SaslError::Malformed("server-final-message")),
    }
}
