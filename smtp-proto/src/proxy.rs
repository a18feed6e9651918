//! Connection facts from a trusted proxy: the PROXY protocol header (HAProxy, versions 1
//! and 2) read before the SMTP greeting, and typed XCLIENT/XFORWARD attributes (Postfix).
//!
//! ```text
//! v1 = "PROXY" SP ( "TCP4" / "TCP6" ) SP src-ip SP dst-ip SP src-port SP dst-port CRLF
//!    / "PROXY" SP "UNKNOWN" *( SP / VCHAR ) CRLF                  ; at most 107 octets
//! v2 = sig(12) ver-cmd(1) fam(1) len(2, big endian) addresses(len...) TLVs(rest of len)
//! sig = %x0D.0A.0D.0A.00.0D.0A.51.55.49.54.0A                   ; "\r\n\r\n\0\r\nQUIT\n"
//! ```
//!
//! Only accept either from proxies you trust: both rewrite who the client is. The parser
//! reports [`ProxyParsed::Incomplete`] until the whole header has arrived, so it can be fed
//! from the first reads of a connection; what follows the header is the SMTP stream.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version 2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Longest version 1 header, CRLF included (the spec's 107).
pub const V1_MAX_LEN: usize = 107;

/// `LOCAL` (the proxy's own connection, e.g. a health check: use the real peer address)
/// or `PROXY` (relayed for the client below).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyCommand {
    /// Version 2 `LOCAL`, or version 1 `UNKNOWN`.
    Local,
    /// Relayed: the addresses are the client's.
    Proxy,
}

/// The transport the proxy received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Unspecified / unknown.
    Unspecified,
    /// TCP (stream).
    Stream,
    /// UDP (datagram).
    Datagram,
}

/// The original connection's addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyAddresses {
    /// None given (`UNKNOWN`, `LOCAL`, `AF_UNSPEC`).
    None,
    /// IPv4 or IPv6 source and destination.
    Inet {
        /// The client.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
    /// Unix socket paths (version 2 `AF_UNIX`), NUL padding removed.
    Unix {
        /// Source path.
        source: Vec<u8>,
        /// Destination path.
        destination: Vec<u8>,
    },
}

/// A type-length-value field of a version 2 header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type (`0x01` ALPN, `0x02` AUTHORITY, `0x05` UNIQUE_ID, `0x20` SSL, ...).
    pub kind: u8,
    /// The value.
    pub value: Vec<u8>,
}

/// `PP2_TYPE_ALPN`
pub const TLV_ALPN: u8 = 0x01;
/// `PP2_TYPE_AUTHORITY` (the SNI host name)
pub const TLV_AUTHORITY: u8 = 0x02;
/// `PP2_TYPE_CRC32C`
pub const TLV_CRC32C: u8 = 0x03;
/// `PP2_TYPE_UNIQUE_ID`
pub const TLV_UNIQUE_ID: u8 = 0x05;
/// `PP2_TYPE_SSL`
pub const TLV_SSL: u8 = 0x20;

/// A parsed PROXY header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ProxyHeader {
    /// 1 or 2.
    pub version: u8,
    /// `LOCAL` or `PROXY`.
    pub command: ProxyCommand,
    /// TCP, UDP or unspecified.
    pub transport: Transport,
    /// The addresses.
    pub addresses: ProxyAddresses,
    /// Version 2 TLVs, in order.
    pub tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// The client's address, for a relayed IP connection.
    pub fn source(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (ProxyCommand::Proxy, ProxyAddresses::Inet { source, .. }) => Some(*source),
            _ => None,
        }
    }

    /// The address the client connected to, for a relayed IP connection.
    pub fn destination(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (ProxyCommand::Proxy, ProxyAddresses::Inet { destination, .. }) => Some(*destination),
            _ => None,
        }
    }

    /// The first TLV of this type.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }

    /// The TLS server name the client asked for (`PP2_TYPE_AUTHORITY`), when UTF-8.
    pub fn authority(&self) -> Option<&str> {
        self.tlv(TLV_AUTHORITY)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// A version 1 header for a relayed TCP connection (`UNKNOWN` when the families differ).
    pub fn v1(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
        let family = match (source, destination) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) => "TCP4",
            (SocketAddr::V6(_), SocketAddr::V6(_)) => "TCP6",
            _ => return b"PROXY UNKNOWN\r\n".to_vec(),
        };
        format!(
            "PROXY {family} {} {} {} {}\r\n",
            source.ip(),
            destination.ip(),
            source.port(),
            destination.port()
        )
        .into_bytes()
    }

    /// Writes this header in version 2 form (whatever its `version`). Fails when the TLVs
    /// make it longer than 65 535 octets of payload.
    pub fn to_v2(&self) -> Result<Vec<u8>, ProxyError> {
        let mut body = Vec::new();
        let fam = match &self.addresses {
            ProxyAddresses::None => 0x00,
            ProxyAddresses::Inet {
                source: SocketAddr::V4(s),
                destination: SocketAddr::V4(d),
            } => {
                body.extend_from_slice(&s.ip().octets());
                body.extend_from_slice(&d.ip().octets());
                body.extend_from_slice(&s.port().to_be_bytes());
                body.extend_from_slice(&d.port().to_be_bytes());
                0x10
            }
            ProxyAddresses::Inet {
                source,
                destination,
            } => {
                let v6 = |a: SocketAddr| match a.ip() {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                body.extend_from_slice(&v6(*source).octets());
                body.extend_from_slice(&v6(*destination).octets());
                body.extend_from_slice(&source.port().to_be_bytes());
                body.extend_from_slice(&destination.port().to_be_bytes());
                0x20
            }
            ProxyAddresses::Unix {
                source,
                destination,
            } => {
                for p in [source, destination] {
                    if p.len() > 108 {
                        return Err(ProxyError::TooLong);
                    }
                    let mut field = [0u8; 108];
                    field[..p.len()].copy_from_slice(p);
                    body.extend_from_slice(&field);
                }
                0x30
            }
        };
        let proto = match self.transport {
            Transport::Unspecified => 0,
            Transport::Stream => 1,
            Transport::Datagram => 2,
        };
        for t in &self.tlvs {
            let len = u16::try_from(t.value.len()).map_err(|_| ProxyError::TooLong)?;
            body.push(t.kind);
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(&t.value);
        }
        let len = u16::try_from(body.len()).map_err(|_| ProxyError::TooLong)?;
        let mut out = Vec::with_capacity(16 + body.len());
        out.extend_from_slice(&V2_SIGNATURE);
        out.push(match self.command {
            ProxyCommand::Local => 0x20,
            ProxyCommand::Proxy => 0x21,
        });
        out.push(fam | proto);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }
}

/// What a parse found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyParsed {
    /// A header, and how many input bytes it took.
    Complete {
        /// The header.
        header: ProxyHeader,
        /// Bytes consumed; the SMTP stream starts after them.
        consumed: usize,
    },
    /// More bytes are needed.
    Incomplete,
}

/// Why a PROXY header was refused (the connection should be closed without a reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyError {
    /// The input starts with neither signature.
    NotProxy,
    /// A version 1 line that breaks the grammar.
    BadV1,
    /// A version 2 header with an unknown version, command, family or protocol, or an
    /// address block longer than its length, or a TLV that overruns it.
    BadV2,
    /// Longer than the limit.
    TooLong,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotProxy => "no PROXY protocol header",
            Self::BadV1 => "malformed PROXY v1 header",
            Self::BadV2 => "malformed PROXY v2 header",
            Self::TooLong => "PROXY header too long",
        })
    }
}

impl std::error::Error for ProxyError {}

/// A PROXY header parser with an explicit size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyParser {
    /// Largest version 2 payload (after the 16-octet fixed part) accepted. Default 2048:
    /// addresses take at most 216, and the TLVs proxies send (ALPN, authority, SSL, unique
    /// id) are small.
    pub max_v2_payload: usize,
}

impl Default for ProxyParser {
    fn default() -> Self {
        Self {
            max_v2_payload: 2048,
        }
    }
}

impl ProxyParser {
    /// Parses a header (either version) from the start of `input`.
    pub fn parse(self, input: &[u8]) -> Result<ProxyParsed, ProxyError> {
        let n = input.len().min(V2_SIGNATURE.len());
        if input[..n] == V2_SIGNATURE[..n] && !input.is_empty() && input[0] == b'\r' {
            if n < V2_SIGNATURE.len() {
                return Ok(ProxyParsed::Incomplete);
            }
            return self.parse_v2(input);
        }
        let n = input.len().min(6);
        if input[..n] != b"PROXY "[..n] {
            return Err(ProxyError::NotProxy);
        }
        parse_v1(input)
    }

    fn parse_v2(self, input: &[u8]) -> Result<ProxyParsed, ProxyError> {
        if input.len() < 16 {
            return Ok(ProxyParsed::Incomplete);
        }
        let ver_cmd = input[12];
        if ver_cmd >> 4 != 2 {
            return Err(ProxyError::BadV2);
        }
        let command = match ver_cmd & 0x0f {
            0 => ProxyCommand::Local,
            1 => ProxyCommand::Proxy,
            _ => return Err(ProxyError::BadV2),
        };
        let fam = input[13];
        let transport = match fam & 0x0f {
            0 => Transport::Unspecified,
            1 => Transport::Stream,
            2 => Transport::Datagram,
            _ => return Err(ProxyError::BadV2),
        };
        let len = usize::from(u16::from_be_bytes([input[14], input[15]]));
        if len > self.max_v2_payload {
            return Err(ProxyError::TooLong);
        }
        if input.len() < 16 + len {
            return Ok(ProxyParsed::Incomplete);
        }
        let body = &input[16..16 + len];
        let (addresses, used) = match fam >> 4 {
            0 => (ProxyAddresses::None, 0),
            1 => {
                let b = body.get(..12).ok_or(ProxyError::BadV2)?;
                let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
                let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
                (
                    ProxyAddresses::Inet {
                        source: SocketAddr::new(ip(0).into(), port(8)),
                        destination: SocketAddr::new(ip(4).into(), port(10)),
                    },
                    12,
                )
            }
            2 => {
                let b = body.get(..36).ok_or(ProxyError::BadV2)?;
                let ip = |o: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&b[o..o + 16]);
                    Ipv6Addr::from(a)
                };
                let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
                (
                    ProxyAddresses::Inet {
                        source: SocketAddr::new(ip(0).into(), port(32)),
                        destination: SocketAddr::new(ip(16).into(), port(34)),
                    },
                    36,
                )
            }
            3 => {
                let b = body.get(..216).ok_or(ProxyError::BadV2)?;
                let path = |p: &[u8]| {
                    let end = memchr::memchr(0, p).unwrap_or(p.len());
                    p[..end].to_vec()
                };
                (
                    ProxyAddresses::Unix {
                        source: path(&b[..108]),
                        destination: path(&b[108..]),
                    },
                    216,
                )
            }
            _ => return Err(ProxyError::BadV2),
        };
        let mut tlvs = Vec::new();
        let mut rest = &body[used..];
        while !rest.is_empty() {
            if rest.len() < 3 {
                return Err(ProxyError::BadV2);
            }
            let l = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
            let value = rest.get(3..3 + l).ok_or(ProxyError::BadV2)?;
            tlvs.push(Tlv {
                kind: rest[0],
                value: value.to_vec(),
            });
            rest = &rest[3 + l..];
        }
        Ok(ProxyParsed::Complete {
            header: ProxyHeader {
                version: 2,
                command,
                transport,
                addresses,
                tlvs,
            },
            consumed: 16 + len,
        })
    }
}

fn parse_v1(input: &[u8]) -> Result<ProxyParsed, ProxyError> {
    let window = &input[..input.len().min(V1_MAX_LEN)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return if input.len() >= V1_MAX_LEN {
            Err(ProxyError::TooLong)
        } else {
            Ok(ProxyParsed::Incomplete)
        };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ProxyError::BadV1);
    }
    let line = std::str::from_utf8(&window[..lf - 1]).map_err(|_| ProxyError::BadV1)?;
    let mut parts = line.split(' ');
    let _proxy = parts.next();
    let family = parts.next().ok_or(ProxyError::BadV1)?;
    let header = |command, addresses| ProxyHeader {
        version: 1,
        command,
        transport: Transport::Stream,
        addresses,
        tlvs: Vec::new(),
    };
    if family == "UNKNOWN" {
        return Ok(ProxyParsed::Complete {
            header: header(ProxyCommand::Local, ProxyAddresses::None),
            consumed: lf + 1,
        });
    }
    let v6 = match family {
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(ProxyError::BadV1),
    };
    let ip = |s: Option<&str>| -> Result<IpAddr, ProxyError> {
        let s = s.ok_or(ProxyError::BadV1)?;
        let ip: IpAddr = s.parse().map_err(|_| ProxyError::BadV1)?;
        if ip.is_ipv6() == v6 {
            Ok(ip)
        } else {
            Err(ProxyError::BadV1)
        }
    };
    let port = |s: Option<&str>| -> Result<u16, ProxyError> {
        let s = s.ok_or(ProxyError::BadV1)?;
        // Decimal without a leading zero (the spec's grammar), 0..=65535.
        if s.is_empty()
            || (s.len() > 1 && s.starts_with('0'))
            || !s.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ProxyError::BadV1);
        }
        s.parse().map_err(|_| ProxyError::BadV1)
    };
    let (src, dst) = (ip(parts.next())?, ip(parts.next())?);
    let (sport, dport) = (port(parts.next())?, port(parts.next())?);
    if parts.next().is_some() {
        return Err(ProxyError::BadV1);
    }
    Ok(ProxyParsed::Complete {
        header: header(
            ProxyCommand::Proxy,
            ProxyAddresses::Inet {
                source: SocketAddr::new(src, sport),
                destination: SocketAddr::new(dst, dport),
            },
        ),
        consumed: lf + 1,
    })
}

// ---------------------------------------------------------------------------------------------
// XCLIENT / XFORWARD

/// An attribute value: a value, or one of Postfix's placeholders.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttrValue<T> {
    /// A value.
    Value(T),
    /// `[UNAVAILABLE]`: the proxy does not know it.
    Unavailable,
    /// `[TEMPUNAVAIL]`: a temporary lookup failure (e.g. reverse DNS).
    TempUnavailable,
}

/// `PROTO=` of XCLIENT/XFORWARD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeloProtocol {
    /// `SMTP` (HELO)
    Smtp,
    /// `ESMTP` (EHLO)
    Esmtp,
}

/// `SOURCE=` of XFORWARD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MailSource {
    /// `LOCAL`: submitted on this host.
    Local,
    /// `REMOTE`: received from the network.
    Remote,
}

/// Why XCLIENT/XFORWARD attributes were refused (`501 5.5.4`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttributeError {
    /// An attribute name the command does not define.
    UnknownName(String),
    /// A value that does not fit its attribute.
    BadValue(String),
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownName(n) => write!(f, "bad attribute name: {n}"),
            Self::BadValue(n) => write!(f, "bad value for attribute {n}"),
        }
    }
}

impl std::error::Error for AttributeError {}

/// XCLIENT attributes (Postfix `XCLIENT_README`): what a trusted proxy says about the real
/// client. `None`: not given in this command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Xclient {
    /// `NAME=`: the client's verified host name.
    pub name: Option<AttrValue<String>>,
    /// `ADDR=`: the client's IP address (`IPV6:` prefix accepted).
    pub addr: Option<AttrValue<IpAddr>>,
    /// `PORT=`
    pub port: Option<AttrValue<u16>>,
    /// `PROTO=`
    pub proto: Option<AttrValue<HeloProtocol>>,
    /// `HELO=`
    pub helo: Option<AttrValue<String>>,
    /// `LOGIN=`: the SASL login the proxy authenticated.
    pub login: Option<AttrValue<String>>,
    /// `DESTADDR=`
    pub destaddr: Option<AttrValue<IpAddr>>,
    /// `DESTPORT=`
    pub destport: Option<AttrValue<u16>>,
}

/// XFORWARD attributes (Postfix `XFORWARD_README`): what a content filter says about the
/// original client of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Xforward {
    /// `NAME=`
    pub name: Option<AttrValue<String>>,
    /// `ADDR=`
    pub addr: Option<AttrValue<IpAddr>>,
    /// `PORT=`
    pub port: Option<AttrValue<u16>>,
    /// `PROTO=`
    pub proto: Option<AttrValue<HeloProtocol>>,
    /// `HELO=`
    pub helo: Option<AttrValue<String>>,
    /// `IDENT=`: the original queue id.
    pub ident: Option<AttrValue<String>>,
    /// `SOURCE=`
    pub source: Option<AttrValue<MailSource>>,
}

fn value<T>(
    name: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<AttrValue<T>, AttributeError> {
    match raw {
        "[UNAVAILABLE]" => Ok(AttrValue::Unavailable),
        "[TEMPUNAVAIL]" => Ok(AttrValue::TempUnavailable),
        _ => parse(raw)
            .map(AttrValue::Value)
            .ok_or_else(|| AttributeError::BadValue(name.to_owned())),
    }
}

fn addr(raw: &str) -> Option<IpAddr> {
    let text = raw
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("IPV6:"))
        .map_or(raw, |_| &raw[5..]);
    text.parse().ok()
}

fn port(raw: &str) -> Option<u16> {
    (!raw.is_empty() && raw.len() <= 5 && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse().ok())
        .flatten()
}

fn text(raw: &str) -> Option<String> {
    (!raw.is_empty() && !raw.chars().any(char::is_control)).then(|| raw.to_owned())
}

fn proto(raw: &str) -> Option<HeloProtocol> {
    if raw.eq_ignore_ascii_case("SMTP") {
        Some(HeloProtocol::Smtp)
    } else if raw.eq_ignore_ascii_case("ESMTP") {
        Some(HeloProtocol::Esmtp)
    } else {
        None
    }
}

type Attr<'s> = (Cow<'s, str>, Cow<'s, str>);

impl Xclient {
    /// Types the attributes of an XCLIENT command (names case-insensitive, values already
    /// xtext-decoded, as [`Command::Xclient`](crate::command::Command::Xclient) holds them).
    pub fn parse<'s, I, K, V>(attrs: I) -> Result<Self, AttributeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Cow<'s, str>>,
        V: Into<Cow<'s, str>>,
    {
        let mut x = Self::default();
        for (k, v) in attrs {
            let (k, v): Attr<'s> = (k.into(), v.into());
            let n = k.to_ascii_uppercase();
            match n.as_str() {
                "NAME" => x.name = Some(value(&n, &v, text)?),
                "ADDR" => x.addr = Some(value(&n, &v, addr)?),
                "PORT" => x.port = Some(value(&n, &v, port)?),
                "PROTO" => x.proto = Some(value(&n, &v, proto)?),
                "HELO" => x.helo = Some(value(&n, &v, text)?),
                "LOGIN" => x.login = Some(value(&n, &v, text)?),
                "DESTADDR" => x.destaddr = Some(value(&n, &v, addr)?),
                "DESTPORT" => x.destport = Some(value(&n, &v, port)?),
                _ => return Err(AttributeError::UnknownName(k.into_owned())),
            }
        }
        Ok(x)
    }
}

impl Xforward {
    /// Types the attributes of an XFORWARD command.
    pub fn parse<'s, I, K, V>(attrs: I) -> Result<Self, AttributeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Cow<'s, str>>,
        V: Into<Cow<'s, str>>,
    {
        let mut x = Self::default();
        for (k, v) in attrs {
            let (k, v): Attr<'s> = (k.into(), v.into());
            let n = k.to_ascii_uppercase();
            match n.as_str() {
                "NAME" => x.name = Some(value(&n, &v, text)?),
                "ADDR" => x.addr = Some(value(&n, &v, addr)?),
                "PORT" => x.port = Some(value(&n, &v, port)?),
                "PROTO" => x.proto = Some(value(&n, &v, proto)?),
                "HELO" => x.helo = Some(value(&n, &v, text)?),
                "IDENT" => x.ident = Some(value(&n, &v, text)?),
                "SOURCE" => {
                    x.source = Some(value(&n, &v, |s| {
                        if s.eq_ignore_ascii_case("LOCAL") {
                            Some(MailSource::Local)
                        } else if s.eq_ignore_ascii_case("REMOTE") {
                            Some(MailSource::Remote)
                        } else {
                            None
                        }
                    })?);
                }
                _ => return Err(AttributeError::UnknownName(k.into_owned())),
            }
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(input: &[u8]) -> (ProxyHeader, usize) {
        let p = ProxyParser::default();
        // Every strict prefix is incomplete, never an error.
        for cut in 0..input.len() {
            if let Ok(ProxyParsed::Complete { consumed, .. }) = p.parse(&input[..cut]) {
                assert!(consumed <= cut);
                continue;
            }
            assert_eq!(
                p.parse(&input[..cut]),
                Ok(ProxyParsed::Incomplete),
                "cut {cut}"
            );
        }
        match p.parse(input) {
            Ok(ProxyParsed::Complete { header, consumed }) => (header, consumed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_examples_from_the_spec() {
        let wire = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nEHLO x\r\n";
        let (h, n) = complete(&wire[..47]);
        assert_eq!(n, 47);
        assert_eq!(h.source(), Some("192.168.0.1:56324".parse().unwrap()));
        assert_eq!(h.destination(), Some("192.168.0.11:443".parse().unwrap()));
        let Ok(ProxyParsed::Complete { consumed, .. }) = ProxyParser::default().parse(wire) else {
            panic!()
        };
        assert_eq!(&wire[consumed..], b"EHLO x\r\n");

        let (h, _) = complete(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 25\r\n");
        assert_eq!(h.source(), Some("[2001:db8::1]:1".parse().unwrap()));
        let (h, _) = complete(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
        assert_eq!(h.command, ProxyCommand::Local);
        assert_eq!(h.source(), None);

        let p = ProxyParser::default();
        for bad in [
            &b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n"[..],
            b"PROXY TCP4 2001:db8::1 192.168.0.11 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 25\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 025 25\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 25 extra\r\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 25\r\n",
        ] {
            assert_eq!(p.parse(bad), Err(ProxyError::BadV1), "{bad:?}");
        }
        assert_eq!(p.parse(b"EHLO x\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(p.parse(&[b'P'; 200]), Err(ProxyError::NotProxy));
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(120, b'x');
        assert_eq!(p.parse(&long), Err(ProxyError::TooLong));
    }

    #[test]
    fn v2_round_trips() {
        let h = ProxyHeader {
            version: 2,
            command: ProxyCommand::Proxy,
            transport: Transport::Stream,
            addresses: ProxyAddresses::Inet {
                source: "203.0.113.7:40000".parse().unwrap(),
                destination: "198.51.100.1:25".parse().unwrap(),
            },
            tlvs: vec![
                Tlv {
                    kind: TLV_AUTHORITY,
                    value: b"mx.example.org".to_vec(),
                },
                Tlv {
                    kind: TLV_UNIQUE_ID,
                    value: vec![1, 2, 3],
                },
            ],
        };
        let wire = h.to_v2().unwrap();
        assert_eq!(wire[..12], V2_SIGNATURE);
        assert_eq!(wire[12..14], [0x21, 0x11]);
        let (back, n) = complete(&wire);
        assert_eq!(n, wire.len());
        assert_eq!(back, h);
        assert_eq!(back.authority(), Some("mx.example.org"));

        let mut h6 = h.clone();
        h6.addresses = ProxyAddresses::Inet {
            source: "[2001:db8::7]:1".parse().unwrap(),
            destination: "[2001:db8::1]:587".parse().unwrap(),
        };
        h6.tlvs.clear();
        let (back, _) = complete(&h6.to_v2().unwrap());
        assert_eq!(back, h6);

        let unix = ProxyHeader {
            version: 2,
            command: ProxyCommand::Local,
            transport: Transport::Unspecified,
            addresses: ProxyAddresses::Unix {
                source: b"/run/a".to_vec(),
                destination: b"/run/b".to_vec(),
            },
            tlvs: vec![],
        };
        let (back, _) = complete(&unix.to_v2().unwrap());
        assert_eq!(back, unix);
    }

    #[test]
    fn v2_refusals() {
        let p = ProxyParser::default();
        let mut base = V2_SIGNATURE.to_vec();
        base.extend_from_slice(&[0x21, 0x11, 0, 12]);
        base.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 25]);
        assert!(matches!(p.parse(&base), Ok(ProxyParsed::Complete { .. })));
        let mut bad_version = base.clone();
        bad_version[12] = 0x11;
        assert_eq!(p.parse(&bad_version), Err(ProxyError::BadV2));
        let mut bad_family = base.clone();
        bad_family[13] = 0x41;
        assert_eq!(p.parse(&bad_family), Err(ProxyError::BadV2));
        let mut short_addr = base.clone();
        short_addr[15] = 8;
        assert_eq!(p.parse(&short_addr[..24]), Err(ProxyError::BadV2));
        let mut bad_tlv = base.clone();
        bad_tlv[15] = 15;
        bad_tlv.extend_from_slice(&[0x02, 0, 9]);
        assert_eq!(p.parse(&bad_tlv), Err(ProxyError::BadV2));
        let mut huge = base;
        huge[14] = 0xff;
        assert_eq!(p.parse(&huge), Err(ProxyError::TooLong));
    }

    #[test]
    fn xclient_attributes() {
        let x = Xclient::parse([
            ("NAME", "spike.porcupine.org"),
            ("ADDR", "IPV6:2001:db8::1"),
            ("port", "1234"),
            ("PROTO", "ESMTP"),
            ("HELO", "[TEMPUNAVAIL]"),
            ("LOGIN", "[UNAVAILABLE]"),
            ("DESTADDR", "192.0.2.25"),
            ("DESTPORT", "587"),
        ])
        .unwrap();
        assert_eq!(
            x.addr,
            Some(AttrValue::Value("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(x.port, Some(AttrValue::Value(1234)));
        assert_eq!(x.proto, Some(AttrValue::Value(HeloProtocol::Esmtp)));
        assert_eq!(x.helo, Some(AttrValue::TempUnavailable));
        assert_eq!(x.login, Some(AttrValue::Unavailable));
        assert_eq!(x.destport, Some(AttrValue::Value(587)));
        assert_eq!(
            Xclient::parse([("IDENT", "x")]),
            Err(AttributeError::UnknownName("IDENT".into()))
        );
        assert_eq!(
            Xclient::parse([("PORT", "65536")]),
            Err(AttributeError::BadValue("PORT".into()))
        );
        assert_eq!(
            Xclient::parse([("ADDR", "not-an-ip")]),
            Err(AttributeError::BadValue("ADDR".into()))
        );
        let f = Xforward::parse([("IDENT", "899B210471"), ("SOURCE", "REMOTE")]).unwrap();
        assert_eq!(f.ident, Some(AttrValue::Value("899B210471".into())));
        assert_eq!(f.source, Some(AttrValue::Value(MailSource::Remote)));
        assert!(Xforward::parse([("LOGIN", "x")]).is_err());
    }
}
