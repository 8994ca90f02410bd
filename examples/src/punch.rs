//! The UDP hole-punching protocol of `punch-rendezvous` and `punch-peer`:
//! one text message per datagram, words separated by single spaces.
//!
//! Peer to rendezvous server:
//! - `REGISTER <name> <local ip:port>`: here I am, and this is the address
//!   I think I have; sent every second to keep the registration (and the
//!   NAT mapping towards the server) alive.
//! - `CONNECT <me> <other>`: introduce me to `<other>`.
//! - `RELAY <from> <to> <payload>`: forward `<payload>` to `<to>`.
//!
//! Rendezvous server to peer:
//! - `REGISTERED <ip:port>`: the address the server saw the REGISTER from
//!   (the peer's public address).
//! - `PEER <name> <public ip:port> <local ip:port>`: `<name>`'s public
//!   address to punch towards, and the local address it reported; the two
//!   differ when `<name>` is behind a NAT. Sent to both sides of a CONNECT
//!   at once, so both start punching together.
//! - `UNKNOWN <name>`: no live registration for `<name>`.
//! - `RELAYED <from> <payload>`.
//!
//! Peer to peer, directly or as a relayed payload:
//! - `PING <from> <to> <nonce>` and `PONG <from> <to> <nonce>`, the PONG
//!   echoing the PING's nonce. Names and nonce make a stray datagram (a
//!   late answer to an earlier attempt, a host that happens to have the
//!   same private address on another LAN) unable to pass for an answer.

use std::fmt;
use std::net::SocketAddr;

/// The longest name a peer may have; names are words, so no whitespace.
pub const MAX_NAME: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Register {
        name: String,
        local: SocketAddr,
    },
    Registered {
        observed: SocketAddr,
    },
    Connect {
        from: String,
        to: String,
    },
    Peer {
        name: String,
        public: SocketAddr,
        local: SocketAddr,
    },
    Unknown {
        name: String,
    },
    Relay {
        from: String,
        to: String,
        payload: String,
    },
    Relayed {
        from: String,
        payload: String,
    },
    Ping {
        from: String,
        to: String,
        nonce: u64,
    },
    Pong {
        from: String,
        to: String,
        nonce: u64,
    },
}

/// Whether `name` can be a peer's name: 1 to [`MAX_NAME`] visible ASCII
/// characters.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

impl Msg {
    /// Reads one datagram. A trailing newline is allowed, so `nc -u` can
    /// talk to the server by hand.
    pub fn parse(datagram: &[u8]) -> Result<Msg, String> {
        let text = std::str::from_utf8(datagram).map_err(|_| "not UTF-8".to_owned())?;
        let text = text.trim_end_matches(['\r', '\n']);
        let mut words = Words(text);
        let verb = words.next()?;
        let msg = match verb {
            "REGISTER" => Msg::Register {
                name: words.name()?,
                local: words.address()?,
            },
            "REGISTERED" => Msg::Registered {
                observed: words.address()?,
            },
            "CONNECT" => Msg::Connect {
                from: words.name()?,
                to: words.name()?,
            },
            "PEER" => Msg::Peer {
                name: words.name()?,
                public: words.address()?,
                local: words.address()?,
            },
            "UNKNOWN" => Msg::Unknown {
                name: words.name()?,
            },
            "RELAY" => {
                return Ok(Msg::Relay {
                    from: words.name()?,
                    to: words.name()?,
                    payload: words.rest()?,
                });
            }
            "RELAYED" => {
                return Ok(Msg::Relayed {
                    from: words.name()?,
                    payload: words.rest()?,
                });
            }
            "PING" | "PONG" => {
                let from = words.name()?;
                let to = words.name()?;
                let nonce = words.next()?;
                let nonce = nonce
                    .parse()
                    .map_err(|_| format!("not a nonce: {nonce:?}"))?;
                if verb == "PING" {
                    Msg::Ping { from, to, nonce }
                } else {
                    Msg::Pong { from, to, nonce }
                }
            }
            _ => return Err(format!("unknown message {verb:?}")),
        };
        match words.0 {
            "" => Ok(msg),
            extra => Err(format!("{verb}: unexpected {extra:?} at the end")),
        }
    }
}

/// Whether a peer sits behind a NAT: the server saw another address than
/// the one the peer has (or reported, in a `PEER` message).
pub fn behind_nat(public: SocketAddr, local: SocketAddr) -> bool {
    public != local
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Register { name, local } => write!(f, "REGISTER {name} {local}"),
            Msg::Registered { observed } => write!(f, "REGISTERED {observed}"),
            Msg::Connect { from, to } => write!(f, "CONNECT {from} {to}"),
            Msg::Peer {
                name,
                public,
                local,
            } => write!(f, "PEER {name} {public} {local}"),
            Msg::Unknown { name } => write!(f, "UNKNOWN {name}"),
            Msg::Relay { from, to, payload } => write!(f, "RELAY {from} {to} {payload}"),
            Msg::Relayed { from, payload } => write!(f, "RELAYED {from} {payload}"),
            Msg::Ping { from, to, nonce } => write!(f, "PING {from} {to} {nonce}"),
            Msg::Pong { from, to, nonce } => write!(f, "PONG {from} {to} {nonce}"),
        }
    }
}

/// The words of a message, taken one at a time from the front.
struct Words<'a>(&'a str);

impl<'a> Words<'a> {
    fn next(&mut self) -> Result<&'a str, String> {
        if self.0.is_empty() {
            return Err("message too short".to_owned());
        }
        let (word, rest) = self.0.split_once(' ').unwrap_or((self.0, ""));
        self.0 = rest;
        Ok(word)
    }

    fn name(&mut self) -> Result<String, String> {
        let word = self.next()?;
        if valid_name(word) {
            Ok(word.to_owned())
        } else {
            Err(format!("not a name: {word:?}"))
        }
    }

    fn address(&mut self) -> Result<SocketAddr, String> {
        let word = self.next()?;
        word.parse()
            .map_err(|_| format!("not an ip:port address: {word:?}"))
    }

    /// Everything left, spaces and all; it must not be empty.
    fn rest(&mut self) -> Result<String, String> {
        if self.0.is_empty() {
            return Err("message too short: no payload".to_owned());
        }
        Ok(std::mem::take(&mut self.0).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn messages_round_trip_through_text() {
        let ping = Msg::Ping {
            from: "B".into(),
            to: "A".into(),
            nonce: u64::MAX,
        };
        for msg in [
            Msg::Register {
                name: "A".into(),
                local: addr("192.168.1.2:4000"),
            },
            Msg::Registered {
                observed: addr("203.0.113.7:40000"),
            },
            Msg::Connect {
                from: "B".into(),
                to: "A".into(),
            },
            Msg::Peer {
                name: "A".into(),
                public: addr("203.0.113.7:40000"),
                local: addr("192.168.1.2:4000"),
            },
            Msg::Unknown { name: "C".into() },
            Msg::Relay {
                from: "B".into(),
                to: "A".into(),
                payload: ping.to_string(),
            },
            Msg::Relayed {
                from: "B".into(),
                payload: ping.to_string(),
            },
            ping.clone(),
            Msg::Pong {
                from: "A".into(),
                to: "B".into(),
                nonce: 7,
            },
        ] {
            let text = msg.to_string();
            assert_eq!(Msg::parse(text.as_bytes()), Ok(msg.clone()), "{text}");
        }
        let relayed = Msg::parse(b"RELAYED B PING B A 18446744073709551615\n").unwrap();
        let Msg::Relayed { payload, .. } = relayed else {
            panic!("{relayed:?}")
        };
        assert_eq!(Msg::parse(payload.as_bytes()), Ok(ping));
        assert!(behind_nat(addr("203.0.113.7:1"), addr("10.0.0.2:1")));
        assert!(!behind_nat(addr("10.0.0.2:1"), addr("10.0.0.2:1")));
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"HELLO",
            b"REGISTER",
            b"REGISTER A",
            b"REGISTER A nowhere",
            b"REGISTER A 1.2.3.4:5 extra",
            b"REGISTER  A 1.2.3.4:5",
            b"CONNECT A",
            b"PEER A 1.2.3.4:5",
            b"RELAY A B",
            b"RELAYED A",
            b"PING A B x",
            b"PONG A B",
            b"UNKNOWN \x01",
        ] {
            assert!(
                Msg::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(!valid_name(&"x".repeat(MAX_NAME + 1)));
        assert!(valid_name(&"x".repeat(MAX_NAME)));
    }
}
