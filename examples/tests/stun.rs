//! `stun-server` and `nat-discover`, the real binaries, on loopback: Linux
//! routes all of 127.0.0.0/8 to `lo`, so 127.0.0.1 and 127.0.0.2 give the
//! server its two IP addresses without a network namespace. There is no
//! NAT on loopback, so the client must find `open`; the NAT kinds are
//! covered by the simulated NAT in `nat.rs`'s unit tests and by the
//! network lab itself.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use gauntlet_examples::nat::{self, Behaviour, NatType, UdpProbe};
use gauntlet_examples::stun::{Change, Kind, Message};
use serde_json::Value;
use support::{Finished, Lines, Proc, run_within};

const SERVER: &str = env!("CARGO_BIN_EXE_stun-server");
const DISCOVER: &str = env!("CARGO_BIN_EXE_nat-discover");
const LIMIT: Duration = Duration::from_secs(10);

/// A running stun-server on 127.0.0.1:P1 and 127.0.0.2:P2.
struct Server {
    _proc: Proc,
    /// IP1:P1, IP1:P2, IP2:P1, IP2:P2.
    addresses: [SocketAddr; 4],
}

/// A UDP port free on both loopback addresses a moment ago.
fn port_free_on_both(avoid: u16) -> u16 {
    loop {
        let first = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port != avoid && UdpSocket::bind(("127.0.0.2", port)).is_ok() {
            return port;
        }
    }
}

impl Server {
    fn start() -> Server {
        // Another process may take a port between our check and the
        // server's bind: try a few pairs.
        for _ in 0..5 {
            let p1 = port_free_on_both(0);
            let p2 = port_free_on_both(p1);
            let primary: SocketAddr = format!("127.0.0.1:{p1}").parse().unwrap();
            let alternate: SocketAddr = format!("127.0.0.2:{p2}").parse().unwrap();
            let mut proc = Proc::spawn(
                "stun-server",
                Command::new(SERVER).args([
                    "--primary",
                    &primary.to_string(),
                    "--alternate",
                    &alternate.to_string(),
                ]),
            );
            let lines = Lines::of(&mut proc);
            match lines.next_within(LIMIT) {
                Some(line) => {
                    assert_eq!(line, format!("listening {primary} {alternate}"));
                    let at =
                        |ip: SocketAddr, port: SocketAddr| SocketAddr::new(ip.ip(), port.port());
                    return Server {
                        _proc: proc,
                        addresses: [
                            primary,
                            at(primary, alternate),
                            at(alternate, primary),
                            alternate,
                        ],
                    };
                }
                None => assert!(
                    proc.stderr_shows("bind", Duration::from_secs(1)),
                    "no listening line:\n{}",
                    proc.stderr()
                ),
            }
        }
        panic!("stun-server could not bind five times");
    }

    fn primary(&self) -> SocketAddr {
        self.addresses[0]
    }
}

fn discover(args: &[&str]) -> Finished {
    run_within("nat-discover", Command::new(DISCOVER).args(args), LIMIT)
}

#[test]
fn loopback_is_open_with_endpoint_independent_mapping_and_filtering() {
    let server = Server::start();
    let primary = server.primary().to_string();
    let out = discover(&["--server", &primary, "--bind", "127.0.0.1:0", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let report: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["type"], "open", "{report}");
    assert_eq!(report["mapping"], "endpoint-independent", "{report}");
    assert_eq!(report["filtering"], "endpoint-independent", "{report}");
    assert_eq!(report["mapped"], report["local"], "{report}");
    let local: SocketAddr = report["local"].as_str().unwrap().parse().unwrap();
    assert_eq!(local.ip().to_string(), "127.0.0.1");
    assert_ne!(local.port(), 0);

    // The default bind, 0.0.0.0:0, becomes the route's source address, so
    // the local address is known and the verdict is the same.
    let out = discover(&["--server", &primary]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(
        words[..3],
        [
            "open",
            "mapping=endpoint-independent",
            "filtering=endpoint-independent"
        ]
    );
    let mapped = words[3].strip_prefix("mapped=").unwrap();
    assert_eq!(words[4], format!("local={mapped}"), "{}", out.stdout);
    assert!(mapped.starts_with("127.0.0.1:"), "{}", out.stdout);
}

/// All five tests against the real server: a pretend local address makes
/// the client believe it is behind a NAT, so it runs the mapping tests to
/// the alternate address too, which loopback maps like a full cone.
#[test]
fn every_test_runs_against_the_real_server() {
    let server = Server::start();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let real = socket.local_addr().unwrap();
    let mut probe = UdpProbe {
        socket,
        timeout: Duration::from_millis(500),
        tries: 3,
    };
    let pretend: SocketAddr = "192.168.1.2:4000".parse().unwrap();
    let report = nat::discover(&mut probe, server.primary(), pretend).unwrap();
    assert_eq!(report.mapping, Behaviour::EndpointIndependent);
    assert_eq!(report.filtering, Behaviour::EndpointIndependent);
    assert_eq!(report.nat_type, NatType::FullCone);
    assert_eq!(report.mapped, real);
}

#[test]
fn answers_come_from_the_socket_change_request_names() {
    let server = Server::start();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let me = client.local_addr().unwrap();
    let mut buf = [0u8; 2048];
    for index in 0..4 {
        for (change, flip) in [
            (Change::NONE, 0),
            (Change::PORT, 1),
            (
                Change {
                    ip: true,
                    port: false,
                },
                2,
            ),
            (Change::IP_AND_PORT, 3),
        ] {
            let request = Message::binding_request(change);
            let to = server.addresses[index];
            // Loopback loses nothing, but a retry costs little.
            let (response, source) = (0..3)
                .find_map(|_| {
                    client.send_to(&request.encode(), to).unwrap();
                    let (n, source) = client.recv_from(&mut buf).ok()?;
                    Some((Message::decode(&buf[..n]).unwrap(), source))
                })
                .unwrap_or_else(|| panic!("no answer from {to} to {change:?}"));
            let expected = server.addresses[index ^ flip];
            assert_eq!(response.kind, Kind::BindingSuccess);
            assert_eq!(response.transaction_id, request.transaction_id);
            assert_eq!(source, expected, "{to} {change:?}");
            assert_eq!(response.response_origin(), Some(expected));
            assert_eq!(response.other_address(), Some(server.addresses[index ^ 3]));
            assert_eq!(response.mapped_address(), Some(me));
        }
    }
    // Garbage gets no answer and does not kill the server.
    client.send_to(b"hello", server.primary()).unwrap();
    let request = Message::binding_request(Change::NONE);
    client.send_to(&request.encode(), server.primary()).unwrap();
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(
        Message::decode(&buf[..n]).unwrap().transaction_id,
        request.transaction_id
    );
}

#[test]
fn a_silent_server_is_exit_1() {
    // A port nobody listens on: the ICMP errors or the silence both mean no
    // answer.
    let nobody = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = discover(&[
        "--server",
        &nobody.to_string(),
        "--timeout-ms",
        "100",
        "--tries",
        "2",
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("did not answer"), "{}", out.stderr);
}

#[test]
fn bad_command_lines_are_exit_2() {
    for args in [
        &[][..],
        &["--server"],
        &["--server", "somewhere"],
        &["--server", "127.0.0.1:3478", "--timeout-ms", "0"],
        &["--server", "127.0.0.1:3478", "--tries", "-1"],
        &["--server", "127.0.0.1:3478", "--bind", "[::1]:0"],
        &["--server", "127.0.0.1:3478", "extra"],
        &["--server", "127.0.0.1:3478", "--verbose"],
    ] {
        let out = discover(args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("usage:"), "{args:?}: {out:?}");
    }
    for args in [
        &[][..],
        &["--primary", "127.0.0.1:3478"],
        &[
            "--primary",
            "127.0.0.1:3478",
            "--alternate",
            "127.0.0.1:3479",
        ],
        &[
            "--primary",
            "127.0.0.1:3478",
            "--alternate",
            "127.0.0.2:3478",
        ],
    ] {
        let out = run_within("stun-server", Command::new(SERVER).args(args), LIMIT);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
    }
    let help = discover(&["--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.starts_with("usage: nat-discover"), "{help:?}");
}
