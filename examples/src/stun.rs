//! A small STUN codec: Binding requests and responses (RFC 8489, formerly
//! RFC 5389) with the attributes RFC 5780 NAT behaviour discovery needs:
//! XOR-MAPPED-ADDRESS, MAPPED-ADDRESS (read by old clients, so decoded too),
//! CHANGE-REQUEST, RESPONSE-ORIGIN and OTHER-ADDRESS, plus ERROR-CODE and
//! UNKNOWN-ATTRIBUTES for the error a server owes a request it cannot read.
//!
//! No authentication, no FINGERPRINT: the lab's STUN traffic never leaves
//! the lab. Attributes this codec does not know are kept as raw bytes, so a
//! server can tell which comprehension-required ones it was sent.
//!
//! [`Message::decode`] reads datagrams off the network, so it takes any bytes
//! and answers an error, never a panic.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The fixed value in every STUN header since RFC 5389; it tells STUN apart
/// from other protocols on the same port and keys the XOR of addresses.
pub const MAGIC_COOKIE: u32 = 0x2112_a442;

/// The STUN header's length in bytes.
pub const HEADER_LEN: usize = 20;

/// Attribute types (RFC 8489 section 18.3, RFC 5780 section 7).
pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const CHANGE_REQUEST: u16 = 0x0003;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000a;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const RESPONSE_PORT: u16 = 0x0027;
    pub const SOFTWARE: u16 = 0x8022;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const RESPONSE_ORIGIN: u16 = 0x802b;
    pub const OTHER_ADDRESS: u16 = 0x802c;
}

/// The message types this codec names; anything else is [`Kind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BindingRequest,
    BindingSuccess,
    BindingError,
    Other(u16),
}

impl Kind {
    pub fn code(self) -> u16 {
        match self {
            Kind::BindingRequest => 0x0001,
            Kind::BindingSuccess => 0x0101,
            Kind::BindingError => 0x0111,
            Kind::Other(code) => code,
        }
    }

    pub fn from_code(code: u16) -> Kind {
        match code {
            0x0001 => Kind::BindingRequest,
            0x0101 => Kind::BindingSuccess,
            0x0111 => Kind::BindingError,
            other => Kind::Other(other),
        }
    }
}

/// CHANGE-REQUEST's two flags (RFC 5780 section 7.2): answer from the
/// server's other IP address and/or its other port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Change {
    pub ip: bool,
    pub port: bool,
}

impl Change {
    pub const NONE: Change = Change {
        ip: false,
        port: false,
    };
    pub const PORT: Change = Change {
        ip: false,
        port: true,
    };
    pub const IP_AND_PORT: Change = Change {
        ip: true,
        port: true,
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    MappedAddress(SocketAddr),
    XorMappedAddress(SocketAddr),
    ChangeRequest(Change),
    ResponseOrigin(SocketAddr),
    OtherAddress(SocketAddr),
    ErrorCode {
        code: u16,
        reason: String,
    },
    UnknownAttributes(Vec<u16>),
    /// Any other attribute, undecoded.
    Unknown {
        kind: u16,
        value: Vec<u8>,
    },
}

impl Attribute {
    pub fn kind(&self) -> u16 {
        match self {
            Attribute::MappedAddress(_) => attr::MAPPED_ADDRESS,
            Attribute::XorMappedAddress(_) => attr::XOR_MAPPED_ADDRESS,
            Attribute::ChangeRequest(_) => attr::CHANGE_REQUEST,
            Attribute::ResponseOrigin(_) => attr::RESPONSE_ORIGIN,
            Attribute::OtherAddress(_) => attr::OTHER_ADDRESS,
            Attribute::ErrorCode { .. } => attr::ERROR_CODE,
            Attribute::UnknownAttributes(_) => attr::UNKNOWN_ATTRIBUTES,
            Attribute::Unknown { kind, .. } => *kind,
        }
    }
}

/// Types below 0x8000 are comprehension-required: a server that does not
/// know one must refuse the request (420) rather than ignore it.
pub fn comprehension_required(kind: u16) -> bool {
    kind < 0x8000
}

/// Why bytes are not a STUN message this codec can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than 20 bytes: not even a header.
    TooShort(usize),
    /// The two top bits of the type are not zero, or the magic cookie is
    /// wrong: another protocol (or an RFC 3489 client).
    NotStun,
    /// The header's length disagrees with the datagram's, or is not a
    /// multiple of 4.
    BadLength { header: usize, actual: usize },
    /// An attribute runs past the end of the message.
    TruncatedAttribute { kind: u16 },
    /// An attribute this codec knows has a value it cannot read.
    BadAttribute { kind: u16, why: &'static str },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(f, "{n} bytes is shorter than a STUN header"),
            DecodeError::NotStun => f.write_str("not a STUN message (type bits or magic cookie)"),
            DecodeError::BadLength { header, actual } => write!(
                f,
                "header says {header} attribute bytes, the datagram has {actual}"
            ),
            DecodeError::TruncatedAttribute { kind } => {
                write!(f, "attribute {kind:#06x} runs past the end of the message")
            }
            DecodeError::BadAttribute { kind, why } => write!(f, "attribute {kind:#06x}: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One STUN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub transaction_id: [u8; 12],
    pub attributes: Vec<Attribute>,
}

impl Message {
    /// A Binding request with a fresh random transaction id.
    pub fn binding_request(change: Change) -> Message {
        let mut transaction_id = [0u8; 12];
        transaction_id[..8].copy_from_slice(&crate::random_u64().to_le_bytes());
        transaction_id[8..].copy_from_slice(&crate::random_u64().to_le_bytes()[..4]);
        let attributes = if change == Change::NONE {
            Vec::new()
        } else {
            vec![Attribute::ChangeRequest(change)]
        };
        Message {
            kind: Kind::BindingRequest,
            transaction_id,
            attributes,
        }
    }

    /// The mapped address: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS (which
    /// only pre-RFC 5389 servers send alone).
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        self.attributes
            .iter()
            .find_map(|a| match a {
                Attribute::XorMappedAddress(addr) => Some(*addr),
                _ => None,
            })
            .or_else(|| {
                self.attributes.iter().find_map(|a| match a {
                    Attribute::MappedAddress(addr) => Some(*addr),
                    _ => None,
                })
            })
    }

    pub fn change_request(&self) -> Change {
        self.attributes
            .iter()
            .find_map(|a| match a {
                Attribute::ChangeRequest(change) => Some(*change),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub fn response_origin(&self) -> Option<SocketAddr> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ResponseOrigin(addr) => Some(*addr),
            _ => None,
        })
    }

    pub fn other_address(&self) -> Option<SocketAddr> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::OtherAddress(addr) => Some(*addr),
            _ => None,
        })
    }

    pub fn error_code(&self) -> Option<(u16, &str)> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ErrorCode { code, reason } => Some((*code, reason.as_str())),
            _ => None,
        })
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 16 * self.attributes.len());
        out.extend_from_slice(&self.kind.code().to_be_bytes());
        out.extend_from_slice(&[0, 0]); // the length, filled in below
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction_id);
        for attribute in &self.attributes {
            let value = self.encode_value(attribute);
            out.extend_from_slice(&attribute.kind().to_be_bytes());
            // Values longer than 64 KiB cannot be said; truncate rather than
            // write a header that lies. No attribute this codec makes is
            // anywhere near.
            let len = value.len().min(usize::from(u16::MAX) - 3);
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.extend_from_slice(&value[..len]);
            out.resize(out.len() + (4 - len % 4) % 4, 0);
        }
        let len = (out.len() - HEADER_LEN) as u16;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        out
    }

    fn encode_value(&self, attribute: &Attribute) -> Vec<u8> {
        match attribute {
            Attribute::MappedAddress(addr)
            | Attribute::ResponseOrigin(addr)
            | Attribute::OtherAddress(addr) => encode_address(*addr),
            Attribute::XorMappedAddress(addr) => {
                encode_address(xor_address(*addr, &self.transaction_id))
            }
            Attribute::ChangeRequest(change) => {
                let flags = (u32::from(change.ip) << 2) | (u32::from(change.port) << 1);
                flags.to_be_bytes().to_vec()
            }
            Attribute::ErrorCode { code, reason } => {
                let mut value = vec![0, 0, ((code / 100) as u8) & 0x07, (code % 100) as u8];
                value.extend_from_slice(reason.as_bytes());
                value
            }
            Attribute::UnknownAttributes(kinds) => {
                kinds.iter().flat_map(|k| k.to_be_bytes()).collect()
            }
            Attribute::Unknown { value, .. } => value.clone(),
        }
    }

    /// Reads one message; any bytes at all are fine to pass.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort(bytes.len()));
        }
        let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
        let cookie = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if kind & 0xc000 != 0 || cookie != MAGIC_COOKIE {
            return Err(DecodeError::NotStun);
        }
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let body = &bytes[HEADER_LEN..];
        if length != body.len() || !length.is_multiple_of(4) {
            return Err(DecodeError::BadLength {
                header: length,
                actual: body.len(),
            });
        }
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&bytes[8..HEADER_LEN]);

        let mut attributes = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            // The body's length is a multiple of 4 and so is every padded
            // attribute, so at least a 4-byte header is left here.
            let kind = u16::from_be_bytes([rest[0], rest[1]]);
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let padded = len + (4 - len % 4) % 4;
            if rest.len() < 4 + padded {
                return Err(DecodeError::TruncatedAttribute { kind });
            }
            let value = &rest[4..4 + len];
            attributes.push(decode_attribute(kind, value, &transaction_id)?);
            rest = &rest[4 + padded..];
        }
        Ok(Message {
            kind: Kind::from_code(kind),
            transaction_id,
            attributes,
        })
    }
}

fn decode_attribute(
    kind: u16,
    value: &[u8],
    transaction_id: &[u8; 12],
) -> Result<Attribute, DecodeError> {
    let bad = |why| DecodeError::BadAttribute { kind, why };
    Ok(match kind {
        attr::MAPPED_ADDRESS => Attribute::MappedAddress(decode_address(value).map_err(bad)?),
        attr::XOR_MAPPED_ADDRESS => Attribute::XorMappedAddress(xor_address(
            decode_address(value).map_err(bad)?,
            transaction_id,
        )),
        attr::RESPONSE_ORIGIN => Attribute::ResponseOrigin(decode_address(value).map_err(bad)?),
        attr::OTHER_ADDRESS => Attribute::OtherAddress(decode_address(value).map_err(bad)?),
        attr::CHANGE_REQUEST => {
            let flags: [u8; 4] = value
                .try_into()
                .map_err(|_| bad("CHANGE-REQUEST is not 4 bytes"))?;
            let flags = u32::from_be_bytes(flags);
            Attribute::ChangeRequest(Change {
                ip: flags & 0x4 != 0,
                port: flags & 0x2 != 0,
            })
        }
        attr::ERROR_CODE => {
            if value.len() < 4 {
                return Err(bad("ERROR-CODE is shorter than 4 bytes"));
            }
            let class = u16::from(value[2] & 0x07);
            let number = u16::from(value[3]);
            if !(3..=6).contains(&class) || number > 99 {
                return Err(bad("ERROR-CODE is not a code from 300 to 699"));
            }
            Attribute::ErrorCode {
                code: class * 100 + number,
                reason: String::from_utf8_lossy(&value[4..]).into_owned(),
            }
        }
        attr::UNKNOWN_ATTRIBUTES => {
            if !value.len().is_multiple_of(2) {
                return Err(bad("UNKNOWN-ATTRIBUTES has an odd length"));
            }
            Attribute::UnknownAttributes(
                value
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect(),
            )
        }
        _ => Attribute::Unknown {
            kind,
            value: value.to_vec(),
        },
    })
}

/// The address attributes' shared layout: a zero byte, the family (1 IPv4,
/// 2 IPv6), the port, the address.
fn encode_address(addr: SocketAddr) -> Vec<u8> {
    let mut value = vec![0];
    match addr.ip() {
        IpAddr::V4(ip) => {
            value.push(1);
            value.extend_from_slice(&addr.port().to_be_bytes());
            value.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            value.push(2);
            value.extend_from_slice(&addr.port().to_be_bytes());
            value.extend_from_slice(&ip.octets());
        }
    }
    value
}

fn decode_address(value: &[u8]) -> Result<SocketAddr, &'static str> {
    let (family, port, ip) = match value {
        [_, family, p0, p1, ip @ ..] => (*family, u16::from_be_bytes([*p0, *p1]), ip),
        _ => return Err("address shorter than 4 bytes"),
    };
    let ip = match (family, ip.len()) {
        (1, 4) => IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
        (2, 16) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(ip);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        (1 | 2, _) => return Err("address length does not match its family"),
        _ => return Err("unknown address family"),
    };
    Ok(SocketAddr::new(ip, port))
}

/// XOR-MAPPED-ADDRESS's obfuscation (RFC 8489 section 14.2), its own
/// inverse: the port XOR the cookie's top half, an IPv4 address XOR the
/// cookie, an IPv6 address XOR the cookie and the transaction id. It keeps
/// NATs that rewrite addresses they recognise in payloads away from it.
fn xor_address(addr: SocketAddr, transaction_id: &[u8; 12]) -> SocketAddr {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match addr.ip() {
        IpAddr::V4(ip) => {
            let mut octets = ip.octets();
            octets.iter_mut().zip(cookie).for_each(|(o, c)| *o ^= c);
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        IpAddr::V6(ip) => {
            let mut octets = ip.octets();
            let key = cookie.iter().chain(transaction_id);
            octets.iter_mut().zip(key).for_each(|(o, c)| *o ^= c);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn full_response() -> Message {
        Message {
            kind: Kind::BindingSuccess,
            transaction_id: *b"abcdefghijkl",
            attributes: vec![
                Attribute::XorMappedAddress(addr("192.0.2.1:32853")),
                Attribute::MappedAddress(addr("192.0.2.1:32853")),
                Attribute::ResponseOrigin(addr("10.80.1.5:3478")),
                Attribute::OtherAddress(addr("10.80.1.6:3479")),
                Attribute::XorMappedAddress(addr("[2001:db8::1]:9")),
                Attribute::ErrorCode {
                    code: 420,
                    reason: "Unknown Attribute".into(),
                },
                Attribute::UnknownAttributes(vec![attr::RESPONSE_PORT]),
                Attribute::Unknown {
                    kind: attr::SOFTWARE,
                    value: b"lab".to_vec(),
                },
            ],
        }
    }

    #[test]
    fn messages_round_trip() {
        for change in [Change::NONE, Change::PORT, Change::IP_AND_PORT] {
            let request = Message::binding_request(change);
            let bytes = request.encode();
            assert_eq!(bytes.len() % 4, 0);
            let decoded = Message::decode(&bytes).unwrap();
            assert_eq!(decoded, request);
            assert_eq!(decoded.change_request(), change);
        }
        let response = full_response();
        let decoded = Message::decode(&response.encode()).unwrap();
        assert_eq!(decoded, response);
        assert_eq!(decoded.mapped_address(), Some(addr("192.0.2.1:32853")));
        assert_eq!(decoded.response_origin(), Some(addr("10.80.1.5:3478")));
        assert_eq!(decoded.other_address(), Some(addr("10.80.1.6:3479")));
        assert_eq!(decoded.error_code(), Some((420, "Unknown Attribute")));
    }

    #[test]
    fn fresh_requests_have_distinct_transaction_ids() {
        let a = Message::binding_request(Change::NONE);
        let b = Message::binding_request(Change::NONE);
        assert_ne!(a.transaction_id, b.transaction_id);
        assert_eq!(a.kind, Kind::BindingRequest);
        assert!(a.attributes.is_empty());
    }

    #[test]
    fn xor_mapped_address_is_obfuscated_on_the_wire() {
        let message = Message {
            kind: Kind::BindingSuccess,
            transaction_id: [0; 12],
            attributes: vec![Attribute::XorMappedAddress(addr("192.0.2.1:32853"))],
        };
        // RFC 5769 section 2.2's bytes for the same address.
        assert_eq!(
            &message.encode()[20..],
            &[
                0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43
            ]
        );
    }

    /// RFC 5769 section 2.2, the IPv4 sample response, with SOFTWARE,
    /// MESSAGE-INTEGRITY and FINGERPRINT kept raw.
    #[test]
    fn decodes_the_rfc_5769_sample_response() {
        let bytes: &[u8] = &[
            0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
            0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
            0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
            0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
            0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
            0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
        ];
        let message = Message::decode(bytes).unwrap();
        assert_eq!(message.kind, Kind::BindingSuccess);
        assert_eq!(message.mapped_address(), Some(addr("192.0.2.1:32853")));
        assert_eq!(
            message.attributes[0],
            Attribute::Unknown {
                kind: attr::SOFTWARE,
                value: b"test vector".to_vec()
            }
        );
        assert_eq!(message.attributes.len(), 4);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = full_response().encode();
        for len in 0..bytes.len() {
            assert!(Message::decode(&bytes[..len]).is_err(), "{len} bytes");
        }
        // A header that agrees with a cut datagram: the last attribute then
        // runs past the end.
        let mut cut = bytes[..bytes.len() - 4].to_vec();
        let len = (cut.len() - HEADER_LEN) as u16;
        cut[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            Message::decode(&cut),
            Err(DecodeError::TruncatedAttribute {
                kind: attr::SOFTWARE
            })
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(Message::decode(b""), Err(DecodeError::TooShort(0)));
        assert_eq!(
            Message::decode(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Err(DecodeError::NotStun)
        );
        let mut bytes = Message::binding_request(Change::NONE).encode();
        bytes[4] ^= 1;
        assert_eq!(Message::decode(&bytes), Err(DecodeError::NotStun));

        let request = |attribute: &[u8]| {
            let mut bytes = Message::binding_request(Change::NONE).encode();
            bytes.extend_from_slice(attribute);
            let len = (bytes.len() - HEADER_LEN) as u16;
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
            Message::decode(&bytes)
        };
        // CHANGE-REQUEST of 2 bytes, an address of family 7, an IPv4
        // address with 16 bytes, an ERROR-CODE of class 9.
        for attribute in [
            &[0x00, 0x03, 0x00, 0x02, 0, 0, 0, 0][..],
            &[0x00, 0x20, 0x00, 0x08, 0, 7, 0, 1, 1, 2, 3, 4],
            &[
                0x80, 0x2c, 0x00, 0x14, 0, 1, 0, 1, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4,
            ],
            &[0x00, 0x09, 0x00, 0x04, 0, 0, 9, 1],
        ] {
            assert!(
                matches!(request(attribute), Err(DecodeError::BadAttribute { .. })),
                "{attribute:?}: {:?}",
                request(attribute)
            );
        }
        // Odd lengths are fine when padded: SOFTWARE of 3 bytes.
        assert!(request(&[0x80, 0x22, 0x00, 0x03, b'a', b'b', b'c', 0]).is_ok());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng::new(crate::random_u64());
        let valid = full_response().encode();
        for _ in 0..20_000 {
            // Mostly mutated valid messages, so the fuzzing reaches the
            // attribute parser rather than dying at the cookie.
            let mut bytes = valid.clone();
            bytes.truncate(rng.below(valid.len() + 1));
            for _ in 0..rng.below(4) {
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next_u64() as u8;
                }
            }
            if bytes.len() >= HEADER_LEN && rng.below(2) == 0 {
                let len = (bytes.len() - HEADER_LEN) as u16;
                bytes[2..4].copy_from_slice(&len.to_be_bytes());
            }
            let _ = Message::decode(&bytes);
            let noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            let _ = Message::decode(&noise);
        }
    }
}
