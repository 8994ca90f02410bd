//! `stun-server`: a STUN server for RFC 5780 NAT behaviour discovery, the
//! far end of the network lab's NAT checks (`nat-discover` is the near end).
//!
//! ```text
//! stun-server --primary IP1:PORT1 --alternate IP2:PORT2
//! ```
//!
//! The two addresses must differ in IP and in port (e.g. 10.80.1.5:3478 and
//! 10.80.1.6:3479). It binds four UDP sockets, IP1:PORT1, IP1:PORT2,
//! IP2:PORT1 and IP2:PORT2, and answers a Binding request from the socket it
//! arrived on, or from the socket with the other IP and/or port when the
//! request's CHANGE-REQUEST asks. Every response carries XOR-MAPPED-ADDRESS
//! (the request's source as seen here), RESPONSE-ORIGIN (the socket it is
//! sent from) and OTHER-ADDRESS (the socket a change-IP-and-port answer
//! would come from: IP2:PORT2 for requests to IP1:PORT1, IP1:PORT1 for
//! requests to IP2:PORT2, as RFC 5780 section 7.4 defines it).
//!
//! Once all four sockets are bound it prints `listening IP1:PORT1
//! IP2:PORT2` to stdout; it then serves until killed, logging each request
//! to stderr. Exit status 2 on a bad command line, 1 when a socket cannot be
//! bound.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::netlab::{Args, log, say};
use crate::stun::{Attribute, Kind, Message, comprehension_required};

const NAME: &str = "stun-server";

const USAGE: &str = "\
usage: stun-server --primary IP1:PORT1 --alternate IP2:PORT2

  --primary IP1:PORT1     the address clients are given
  --alternate IP2:PORT2   the second address; IP and port both differ from the primary's

Binds IP1:PORT1, IP1:PORT2, IP2:PORT1 and IP2:PORT2, prints
`listening IP1:PORT1 IP2:PORT2` and answers STUN Binding requests
(RFC 5389/8489 with RFC 5780's CHANGE-REQUEST, RESPONSE-ORIGIN and
OTHER-ADDRESS) until killed.";

/// The program's main, with its arguments (without the program name).
pub fn run(args: Vec<String>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        say(USAGE);
        return ExitCode::SUCCESS;
    }
    let addresses = match parse(args) {
        Ok(addresses) => addresses,
        Err(err) => {
            log(NAME, format!("{err}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let mut sockets = Vec::with_capacity(4);
    for address in addresses {
        match UdpSocket::bind(address) {
            Ok(socket) => sockets.push(socket),
            Err(err) => {
                log(NAME, format!("bind {address}: {err}"));
                return ExitCode::from(1);
            }
        }
    }
    let sockets: Arc<[UdpSocket]> = sockets.into();
    say(format!("listening {} {}", addresses[0], addresses[3]));
    let servers: Vec<_> = (0..sockets.len())
        .map(|index| {
            let sockets = Arc::clone(&sockets);
            thread::spawn(move || serve(&sockets, &addresses, index))
        })
        .collect();
    for server in servers {
        let _ = server.join();
    }
    ExitCode::from(1)
}

/// The four addresses, indexed so that bit 1 is the IP (0 primary, 1
/// alternate) and bit 0 the port: a change of IP is `^ 2`, of port `^ 1`.
fn parse(args: Vec<String>) -> Result<[SocketAddr; 4], String> {
    let args = Args::parse(args, &["--primary", "--alternate"], &[])?;
    if let Some(word) = args.positional.first() {
        return Err(format!("unexpected argument {word:?}"));
    }
    let primary = args.address("--primary")?;
    let alternate = args.address("--alternate")?;
    if primary.is_ipv4() != alternate.is_ipv4() {
        return Err("--primary and --alternate must be of one IP version".to_owned());
    }
    if primary.ip() == alternate.ip() || primary.port() == alternate.port() {
        return Err(format!(
            "--primary {primary} and --alternate {alternate} must differ in both IP and port"
        ));
    }
    // Clients are told these addresses (RESPONSE-ORIGIN, OTHER-ADDRESS):
    // they must be addresses one can send to.
    for address in [primary, alternate] {
        if address.ip().is_unspecified() || address.port() == 0 {
            return Err(format!(
                "{address}: give a real IP and port, the server tells clients these"
            ));
        }
    }
    let at = |ip: &SocketAddr, port: &SocketAddr| SocketAddr::new(ip.ip(), port.port());
    Ok([
        primary,
        at(&primary, &alternate),
        at(&alternate, &primary),
        alternate,
    ])
}

/// Answers the requests arriving on socket `index`, forever.
fn serve(sockets: &[UdpSocket], addresses: &[SocketAddr; 4], index: usize) {
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = match sockets[index].recv_from(&mut buf) {
            Ok(got) => got,
            Err(err) => {
                // Errors on an unconnected UDP socket are transient (an
                // interrupted call, a stray ICMP error); a short pause keeps
                // a persistent one from spinning.
                log(NAME, format!("receive on {}: {err}", addresses[index]));
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some((out, response)) = answer(addresses, index, &buf[..n], from) else {
            continue;
        };
        if let Err(err) = sockets[out].send_to(&response.encode(), from) {
            log(
                NAME,
                format!("send from {} to {from}: {err}", addresses[out]),
            );
        }
    }
}

/// The response to a datagram from `from` arriving on socket `index`, and
/// the socket to send it from; `None` for anything that is not a Binding
/// request.
fn answer(
    addresses: &[SocketAddr; 4],
    index: usize,
    datagram: &[u8],
    from: SocketAddr,
) -> Option<(usize, Message)> {
    let here = addresses[index];
    let request = match Message::decode(datagram) {
        Ok(request) if request.kind == Kind::BindingRequest => request,
        Ok(other) => {
            log(
                NAME,
                format!("{here}: ignoring a {:?} from {from}", other.kind),
            );
            return None;
        }
        Err(err) => {
            log(
                NAME,
                format!(
                    "{here}: ignoring {} bytes from {from}: {err}",
                    datagram.len()
                ),
            );
            return None;
        }
    };
    // A request with a comprehension-required attribute this server does
    // not know (RESPONSE-PORT, PADDING, ...) must be refused, not half
    // served (RFC 8489 section 6.3.1).
    let unknown: Vec<u16> = request
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Unknown { kind, .. } if comprehension_required(*kind) => Some(*kind),
            _ => None,
        })
        .collect();
    if !unknown.is_empty() {
        log(
            NAME,
            format!("{here}: 420 to {from}: unknown attributes {unknown:04x?}"),
        );
        let error = Message {
            kind: Kind::BindingError,
            transaction_id: request.transaction_id,
            attributes: vec![
                Attribute::ErrorCode {
                    code: 420,
                    reason: "Unknown Attribute".to_owned(),
                },
                Attribute::UnknownAttributes(unknown),
            ],
        };
        return Some((index, error));
    }
    let change = request.change_request();
    let out = index ^ (usize::from(change.ip) << 1) ^ usize::from(change.port);
    log(
        NAME,
        format!(
            "{here}: binding from {from}{}{}, answered from {}",
            if change.ip { " change-ip" } else { "" },
            if change.port { " change-port" } else { "" },
            addresses[out]
        ),
    );
    let response = Message {
        kind: Kind::BindingSuccess,
        transaction_id: request.transaction_id,
        attributes: vec![
            Attribute::XorMappedAddress(from),
            Attribute::ResponseOrigin(addresses[out]),
            Attribute::OtherAddress(addresses[index ^ 3]),
        ],
    };
    Some((out, response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{Change, attr};

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn addresses() -> [SocketAddr; 4] {
        parse(words("--primary 10.80.1.5:3478 --alternate 10.80.1.6:3479")).unwrap()
    }

    #[test]
    fn four_addresses_from_two() {
        let text: Vec<String> = addresses().iter().map(|a| a.to_string()).collect();
        assert_eq!(
            text,
            [
                "10.80.1.5:3478",
                "10.80.1.5:3479",
                "10.80.1.6:3478",
                "10.80.1.6:3479"
            ]
        );
        for bad in [
            "--primary 10.80.1.5:3478",
            "--primary 10.80.1.5:3478 --alternate 10.80.1.5:3479",
            "--primary 10.80.1.5:3478 --alternate 10.80.1.6:3478",
            "--primary 10.80.1.5:3478 --alternate [::1]:3479",
            "--primary 0.0.0.0:3478 --alternate 10.80.1.6:3479",
            "--primary 10.80.1.5:3478 --alternate 10.80.1.6:3479 extra",
        ] {
            assert!(parse(words(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_from_the_socket_change_request_asks_for() {
        let addresses = addresses();
        let from: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        for (index, change, out) in [
            (0, Change::NONE, 0),
            (0, Change::PORT, 1),
            (0, Change::IP_AND_PORT, 3),
            (3, Change::IP_AND_PORT, 0),
            (2, Change::PORT, 3),
            (
                1,
                Change {
                    ip: true,
                    port: false,
                },
                3,
            ),
        ] {
            let request = Message::binding_request(change);
            let (sent_from, response) = answer(&addresses, index, &request.encode(), from).unwrap();
            assert_eq!(sent_from, out);
            assert_eq!(response.kind, Kind::BindingSuccess);
            assert_eq!(response.transaction_id, request.transaction_id);
            assert_eq!(response.mapped_address(), Some(from));
            assert_eq!(response.response_origin(), Some(addresses[out]));
            assert_eq!(response.other_address(), Some(addresses[index ^ 3]));
        }
    }

    #[test]
    fn refuses_unknown_required_attributes_and_ignores_the_rest() {
        let addresses = addresses();
        let from: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        let mut request = Message::binding_request(Change::NONE);
        request.attributes.push(Attribute::Unknown {
            kind: attr::RESPONSE_PORT,
            value: vec![0x12, 0x34, 0, 0],
        });
        request.attributes.push(Attribute::Unknown {
            kind: attr::SOFTWARE,
            value: b"x".to_vec(),
        });
        let (out, error) = answer(&addresses, 0, &request.encode(), from).unwrap();
        assert_eq!(out, 0);
        assert_eq!(error.kind, Kind::BindingError);
        assert_eq!(error.error_code().map(|(code, _)| code), Some(420));
        assert!(
            error
                .attributes
                .contains(&Attribute::UnknownAttributes(vec![attr::RESPONSE_PORT]))
        );

        assert!(answer(&addresses, 0, b"garbage", from).is_none());
        let mut response = Message::binding_request(Change::NONE);
        response.kind = Kind::BindingSuccess;
        assert!(answer(&addresses, 0, &response.encode(), from).is_none());
    }
}
