//! RFC 5780 NAT behaviour discovery, the logic behind `nat-discover`: which
//! tests to send, in which order, and what the answers say about the NAT's
//! mapping (section 4.3) and filtering (section 4.4), named in RFC 4787's
//! terms and in the classic cone names.
//!
//! The tests go through a [`Probe`], so the unit tests here can run them
//! against a simulated NAT of every kind; [`UdpProbe`] is the real one.

use std::fmt;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::stun::{Change, Kind, Message};

/// How a NAT maps (which destinations share a public address) or filters
/// (which sources may send in), RFC 4787 section 4.1 and 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}

impl Behaviour {
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::EndpointIndependent => "endpoint-independent",
            Behaviour::AddressDependent => "address-dependent",
            Behaviour::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The classic (RFC 3489) names, which the lab's NAT boxes are built as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatType {
    /// No NAT: the server saw the local address itself.
    Open,
    FullCone,
    AddressRestricted,
    PortRestricted,
    Symmetric,
}

impl NatType {
    pub fn classify(open: bool, mapping: Behaviour, filtering: Behaviour) -> NatType {
        match (open, mapping, filtering) {
            (true, ..) => NatType::Open,
            (false, Behaviour::EndpointIndependent, Behaviour::EndpointIndependent) => {
                NatType::FullCone
            }
            (false, Behaviour::EndpointIndependent, Behaviour::AddressDependent) => {
                NatType::AddressRestricted
            }
            (false, Behaviour::EndpointIndependent, Behaviour::AddressAndPortDependent) => {
                NatType::PortRestricted
            }
            (false, ..) => NatType::Symmetric,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NatType::Open => "open",
            NatType::FullCone => "full-cone",
            NatType::AddressRestricted => "address-restricted",
            NatType::PortRestricted => "port-restricted",
            NatType::Symmetric => "symmetric",
        }
    }
}

impl fmt::Display for NatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Binding success response, as the tests need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// XOR-MAPPED-ADDRESS: the request's source as the server saw it.
    pub mapped: SocketAddr,
    /// Where the response came from (the datagram's source).
    pub source: SocketAddr,
    /// OTHER-ADDRESS, if the server sent it.
    pub other: Option<SocketAddr>,
}

/// Sends one Binding request, retransmitting as it sees fit.
pub trait Probe {
    /// The response to a Binding request sent to `to` with `change` in its
    /// CHANGE-REQUEST; `Ok(None)` when none came back. `Err` is for a
    /// server that refused or a socket that failed: the tests cannot go on.
    fn binding(&mut self, to: SocketAddr, change: Change) -> Result<Option<Answer>, String>;
}

/// What the tests found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub mapping: Behaviour,
    pub filtering: Behaviour,
    pub nat_type: NatType,
    /// The address the server saw in test I.
    pub mapped: SocketAddr,
    pub local: SocketAddr,
}

impl Report {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mapping": self.mapping.as_str(),
            "filtering": self.filtering.as_str(),
            "type": self.nat_type.as_str(),
            "mapped": self.mapped.to_string(),
            "local": self.local.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoverError {
    /// Test I got no answer at all.
    NoAnswer(SocketAddr),
    /// The server answered but cannot run the tests (no OTHER-ADDRESS,
    /// ignores CHANGE-REQUEST, its alternate address is silent), or the
    /// socket failed.
    Server(String),
}

impl fmt::Display for DiscoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoverError::NoAnswer(server) => {
                write!(f, "the STUN server {server} did not answer")
            }
            DiscoverError::Server(why) => f.write_str(why),
        }
    }
}

/// Runs the RFC 5780 tests against the server's primary address `server`
/// from `local`, the probe's own address.
///
/// The order matters. Every datagram sent opens the NAT's filter to its
/// destination, so RFC 5780 section 4.4 says to run the filtering tests
/// from a port the mapping tests have not used. Here all tests share one
/// local port (one mapping, whose address is the one reported), and the
/// filtering tests, whose answers come from addresses not sent to yet, run
/// right after test I; the mapping tests, which send to the alternate
/// address, come last. The other way round a port-restricted NAT would let
/// the filtering answers in and pass for a full cone. The filtering tests
/// send only to the primary address, so they leave the mapping tests
/// nothing to trip over.
pub fn discover(
    probe: &mut impl Probe,
    server: SocketAddr,
    local: SocketAddr,
) -> Result<Report, DiscoverError> {
    let server_err = |why: String| DiscoverError::Server(why);
    // Test I.
    let first = probe
        .binding(server, Change::NONE)
        .map_err(server_err)?
        .ok_or(DiscoverError::NoAnswer(server))?;
    let other = first.other.ok_or_else(|| {
        server_err(format!(
            "{server} sent no OTHER-ADDRESS: it has no second address for RFC 5780 tests"
        ))
    })?;
    if other.ip() == server.ip() || other.port() == server.port() {
        return Err(server_err(format!(
            "{server}'s OTHER-ADDRESS {other} must differ in both IP and port"
        )));
    }
    let mapped = first.mapped;

    // Filtering test II: answer from the other IP and port.
    let filtering = match probe
        .binding(server, Change::IP_AND_PORT)
        .map_err(server_err)?
    {
        Some(answer) => {
            if answer.source.ip() == server.ip() || answer.source.port() == server.port() {
                return Err(server_err(format!(
                    "{server} ignored CHANGE-REQUEST (change IP and port): answered from {}",
                    answer.source
                )));
            }
            Behaviour::EndpointIndependent
        }
        // Filtering test III: answer from the same IP, other port.
        None => match probe.binding(server, Change::PORT).map_err(server_err)? {
            Some(answer) => {
                if answer.source.ip() != server.ip() || answer.source.port() == server.port() {
                    return Err(server_err(format!(
                        "{server} ignored CHANGE-REQUEST (change port): answered from {}",
                        answer.source
                    )));
                }
                Behaviour::AddressDependent
            }
            None => Behaviour::AddressAndPortDependent,
        },
    };

    // Mapping: no NAT maps nothing; else test II (the alternate IP, the
    // primary port) and, if that mapped differently, test III (the
    // alternate IP and port).
    let open = mapped == local;
    let mapping = if open {
        Behaviour::EndpointIndependent
    } else {
        let mut mapped_by = |to: SocketAddr| -> Result<SocketAddr, DiscoverError> {
            let answer = probe.binding(to, Change::NONE).map_err(server_err)?;
            answer.map(|a| a.mapped).ok_or_else(|| {
                server_err(format!(
                    "{to}, the server's alternate address, did not answer (test I did)"
                ))
            })
        };
        let second = mapped_by(SocketAddr::new(other.ip(), server.port()))?;
        if second == mapped {
            Behaviour::EndpointIndependent
        } else if mapped_by(other)? == second {
            Behaviour::AddressDependent
        } else {
            Behaviour::AddressAndPortDependent
        }
    };
    Ok(Report {
        mapping,
        filtering,
        nat_type: NatType::classify(open, mapping, filtering),
        mapped,
        local,
    })
}

/// The real probe: one UDP socket, a request retransmitted `tries` times,
/// waiting `timeout` for each. Answers to other transactions (a late
/// response to an earlier test) and garbage are skipped.
pub struct UdpProbe {
    pub socket: UdpSocket,
    pub timeout: Duration,
    pub tries: u32,
}

impl Probe for UdpProbe {
    fn binding(&mut self, to: SocketAddr, change: Change) -> Result<Option<Answer>, String> {
        // Retransmissions reuse the transaction id (RFC 8489 section 6.2.1),
        // so an answer to any of them counts.
        let request = Message::binding_request(change);
        let bytes = request.encode();
        let mut buf = [0u8; 2048];
        for _ in 0..self.tries {
            self.socket
                .send_to(&bytes, to)
                .map_err(|e| format!("send to {to}: {e}"))?;
            let deadline = Instant::now() + self.timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                self.socket
                    .set_read_timeout(Some(left))
                    .map_err(|e| format!("set a read timeout: {e}"))?;
                let (n, source) = match self.socket.recv_from(&mut buf) {
                    Ok(got) => got,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // An ICMP error from an earlier send: no answer from
                    // there, but the next try may still get one.
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(format!("receive: {e}")),
                };
                let Ok(message) = Message::decode(&buf[..n]) else {
                    continue;
                };
                if message.transaction_id != request.transaction_id {
                    continue;
                }
                match message.kind {
                    Kind::BindingSuccess => {
                        let mapped = message.mapped_address().ok_or_else(|| {
                            format!("{source} answered without XOR-MAPPED-ADDRESS")
                        })?;
                        return Ok(Some(Answer {
                            mapped,
                            source,
                            other: message.other_address(),
                        }));
                    }
                    Kind::BindingError => {
                        let (code, reason) = message.error_code().unwrap_or((0, "no ERROR-CODE"));
                        return Err(format!("{source} refused the request: {code} {reason}"));
                    }
                    _ => continue,
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::IpAddr;

    const ALL: [Behaviour; 3] = [
        Behaviour::EndpointIndependent,
        Behaviour::AddressDependent,
        Behaviour::AddressAndPortDependent,
    ];

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// A STUN server with two addresses behind a NAT model: the mapping
    /// decides the public port per destination, the filter admits answers
    /// from where the client has sent before.
    struct SimNat {
        mapping: Behaviour,
        filtering: Behaviour,
        /// No NAT at all: the server sees the local address.
        open: bool,
        /// The server's sockets: [IP1:P1, IP1:P2, IP2:P1, IP2:P2].
        server: [SocketAddr; 4],
        ports: HashMap<(Option<IpAddr>, Option<u16>), u16>,
        sent_to: Vec<SocketAddr>,
        /// A server that answers CHANGE-REQUEST from where it was asked.
        ignores_change: bool,
    }

    const LOCAL: &str = "192.168.1.2:5000";

    impl SimNat {
        fn new(mapping: Behaviour, filtering: Behaviour) -> SimNat {
            SimNat {
                mapping,
                filtering,
                open: false,
                server: [
                    addr("10.80.1.5:3478"),
                    addr("10.80.1.5:3479"),
                    addr("10.80.1.6:3478"),
                    addr("10.80.1.6:3479"),
                ],
                ports: HashMap::new(),
                sent_to: Vec::new(),
                ignores_change: false,
            }
        }
    }

    impl Probe for SimNat {
        fn binding(&mut self, to: SocketAddr, change: Change) -> Result<Option<Answer>, String> {
            let Some(index) = self.server.iter().position(|&s| s == to) else {
                return Ok(None);
            };
            self.sent_to.push(to);
            let mapped = if self.open {
                addr(LOCAL)
            } else {
                let key = match self.mapping {
                    Behaviour::EndpointIndependent => (None, None),
                    Behaviour::AddressDependent => (Some(to.ip()), None),
                    Behaviour::AddressAndPortDependent => (Some(to.ip()), Some(to.port())),
                };
                let next = 40_000 + self.ports.len() as u16;
                SocketAddr::new(
                    "203.0.113.7".parse().unwrap(),
                    *self.ports.entry(key).or_insert(next),
                )
            };
            let change = if self.ignores_change {
                Change::NONE
            } else {
                change
            };
            let source =
                self.server[index ^ (usize::from(change.ip) << 1) ^ usize::from(change.port)];
            let admitted = self.open
                || match self.filtering {
                    Behaviour::EndpointIndependent => true,
                    Behaviour::AddressDependent => {
                        self.sent_to.iter().any(|s| s.ip() == source.ip())
                    }
                    Behaviour::AddressAndPortDependent => self.sent_to.contains(&source),
                };
            Ok(admitted.then(|| Answer {
                mapped,
                source,
                other: Some(self.server[index ^ 3]),
            }))
        }
    }

    #[test]
    fn classifies_every_mapping_and_filtering() {
        for mapping in ALL {
            for filtering in ALL {
                let mut nat = SimNat::new(mapping, filtering);
                let server = nat.server[0];
                let report = discover(&mut nat, server, addr(LOCAL)).unwrap();
                assert_eq!(
                    (report.mapping, report.filtering),
                    (mapping, filtering),
                    "{:?}",
                    nat.sent_to
                );
                assert_eq!(report.mapped.ip(), "203.0.113.7".parse::<IpAddr>().unwrap());
                let expected = match (mapping, filtering) {
                    (Behaviour::EndpointIndependent, Behaviour::EndpointIndependent) => "full-cone",
                    (Behaviour::EndpointIndependent, Behaviour::AddressDependent) => {
                        "address-restricted"
                    }
                    (Behaviour::EndpointIndependent, Behaviour::AddressAndPortDependent) => {
                        "port-restricted"
                    }
                    _ => "symmetric",
                };
                assert_eq!(report.nat_type.as_str(), expected);
            }
        }
    }

    #[test]
    fn no_nat_is_open() {
        let mut nat = SimNat::new(
            Behaviour::EndpointIndependent,
            Behaviour::EndpointIndependent,
        );
        nat.open = true;
        let server = nat.server[0];
        let report = discover(&mut nat, server, addr(LOCAL)).unwrap();
        assert_eq!(report.nat_type, NatType::Open);
        assert_eq!(report.mapped, addr(LOCAL));
        assert_eq!(
            report.to_json(),
            serde_json::json!({
                "mapping": "endpoint-independent",
                "filtering": "endpoint-independent",
                "type": "open",
                "mapped": LOCAL,
                "local": LOCAL,
            })
        );
    }

    #[test]
    fn servers_that_cannot_run_the_tests_are_errors() {
        let mut nat = SimNat::new(
            Behaviour::EndpointIndependent,
            Behaviour::EndpointIndependent,
        );
        let silent = addr("10.99.0.1:3478");
        assert_eq!(
            discover(&mut nat, silent, addr(LOCAL)),
            Err(DiscoverError::NoAnswer(silent))
        );

        nat.ignores_change = true;
        let server = nat.server[0];
        let err = discover(&mut nat, server, addr(LOCAL)).unwrap_err();
        assert!(err.to_string().contains("ignored CHANGE-REQUEST"), "{err}");

        struct NoOther;
        impl Probe for NoOther {
            fn binding(&mut self, to: SocketAddr, _: Change) -> Result<Option<Answer>, String> {
                Ok(Some(Answer {
                    mapped: addr(LOCAL),
                    source: to,
                    other: None,
                }))
            }
        }
        let err = discover(&mut NoOther, server, addr(LOCAL)).unwrap_err();
        assert!(err.to_string().contains("OTHER-ADDRESS"), "{err}");
    }
}
