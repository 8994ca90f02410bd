//! `punch-rendezvous` and `punch-peer`, the real binaries, on loopback.
//! With no NAT in the way punching always succeeds and says `direct`; the
//! relay is tested against a listener told to ignore direct traffic
//! (`--no-direct`), the only way to make direct impossible without a NAT.

mod support;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use support::{Finished, Lines, Proc, run_within};

const RENDEZVOUS: &str = env!("CARGO_BIN_EXE_punch-rendezvous");
const PEER: &str = env!("CARGO_BIN_EXE_punch-peer");
const LIMIT: Duration = Duration::from_secs(10);

/// A rendezvous server on a free loopback port.
struct Rendezvous {
    proc: Proc,
    address: String,
}

impl Rendezvous {
    fn start() -> Rendezvous {
        let mut proc = Proc::spawn(
            "punch-rendezvous",
            Command::new(RENDEZVOUS).args(["--listen", "127.0.0.1:0"]),
        );
        let line = Lines::of(&mut proc).next_within(LIMIT);
        let address = line
            .as_deref()
            .and_then(|l| l.strip_prefix("listening 127.0.0.1:"))
            .map(|port| format!("127.0.0.1:{port}"))
            .unwrap_or_else(|| panic!("no listening line: {line:?}\n{}", proc.stderr()));
        Rendezvous { proc, address }
    }

    /// A listening peer, returned once it printed `registered`.
    fn listen(&self, name: &str, extra: &[&str]) -> Proc {
        let mut proc = Proc::spawn(
            "punch-peer listen",
            Command::new(PEER)
                .args(["--name", name, "--rendezvous", &self.address, "listen"])
                .args(extra),
        );
        let line = Lines::of(&mut proc).next_within(LIMIT);
        assert_eq!(
            line.as_deref(),
            Some("registered"),
            "{}\n{}",
            proc.stderr(),
            self.proc.stderr()
        );
        proc
    }

    fn connect(&self, name: &str, to: &str, extra: &[&str]) -> Finished {
        run_within(
            "punch-peer connect",
            Command::new(PEER)
                .args(["--name", name, "--rendezvous", &self.address, "connect", to])
                .args(extra),
            LIMIT,
        )
    }
}

#[test]
fn peers_on_loopback_connect_directly_again_and_again() {
    let rendezvous = Rendezvous::start();
    let _a = rendezvous.listen("A", &[]);
    // Successive attempts, from a new peer and from the same name again (a
    // new process, a new port), as a connectivity matrix makes them.
    for name in ["B", "C", "B"] {
        let started = Instant::now();
        let out = rendezvous.connect(name, "A", &[]);
        assert_eq!(out.code, Some(0), "{out:?}\n{}", rendezvous.proc.stderr());
        assert_eq!(out.stdout, "direct\n", "{out:?}");
        // Loopback needs one round trip: nowhere near the attempt time.
        assert!(started.elapsed() < Duration::from_secs(2), "{out:?}");
    }
    // And at once, from several peers.
    let attempts: Vec<_> = ["D", "E", "F"]
        .into_iter()
        .map(|name| {
            let address = rendezvous.address.clone();
            thread::spawn(move || {
                run_within(
                    "punch-peer connect",
                    Command::new(PEER).args([
                        "--name",
                        name,
                        "--rendezvous",
                        &address,
                        "connect",
                        "A",
                    ]),
                    LIMIT,
                )
            })
        })
        .collect();
    for attempt in attempts {
        let out = attempt.join().unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "direct\n"),
            "{out:?}"
        );
    }
}

#[test]
fn connecting_to_a_dead_peer_fails() {
    let rendezvous = Rendezvous::start();
    let mut a = rendezvous.listen("A", &[]);
    a.kill();
    // The server still has A's registration: it introduces B to an address
    // where nobody answers.
    let out = rendezvous.connect("B", "A", &["--attempt-ms", "500"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "failed\n", "{out:?}");
    // The relay cannot reach a dead peer either.
    let out = rendezvous.connect("B", "A", &["--attempt-ms", "300", "--relay"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "failed\n", "{out:?}");
    // A peer nobody ever registered: the server says so, the attempt fails.
    let out = rendezvous.connect("B", "nobody", &["--attempt-ms", "300", "--relay"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "failed\n", "{out:?}");
    assert!(out.stderr.contains("does not know nobody"), "{out:?}");
}

#[test]
fn the_relay_connects_when_direct_is_impossible() {
    let rendezvous = Rendezvous::start();
    let _a = rendezvous.listen("A", &["--no-direct"]);
    let out = rendezvous.connect("B", "A", &["--attempt-ms", "500", "--relay"]);
    assert_eq!(out.code, Some(0), "{out:?}\n{}", rendezvous.proc.stderr());
    assert_eq!(out.stdout, "relayed\n", "{out:?}");
    // Without --relay the same attempt fails.
    let out = rendezvous.connect("C", "A", &["--attempt-ms", "500"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "failed\n", "{out:?}");
}

#[test]
fn an_absent_rendezvous_server_fails() {
    let nobody = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = run_within(
        "punch-peer connect",
        Command::new(PEER).args([
            "--name",
            "B",
            "--rendezvous",
            &nobody,
            "connect",
            "A",
            "--attempt-ms",
            "300",
            "--relay",
        ]),
        LIMIT,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "failed\n", "{out:?}");
}

#[test]
fn bad_command_lines_are_exit_2() {
    for args in [
        &[][..],
        &["--name", "A", "listen"],
        &["--name", "A", "--rendezvous", "127.0.0.1:1"],
        &["--name", "A", "--rendezvous", "127.0.0.1:1", "connect"],
        &["--name", "A", "--rendezvous", "127.0.0.1:1", "connect", "A"],
        &[
            "--name",
            "A",
            "--rendezvous",
            "127.0.0.1:1",
            "listen",
            "--relay",
        ],
        &["--name", "A", "--rendezvous", "nowhere", "listen"],
    ] {
        let out = run_within("punch-peer", Command::new(PEER).args(args), LIMIT);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}: {out:?}");
    }
    for args in [&[][..], &["--listen"], &["--listen", "127.0.0.1"]] {
        let out = run_within(
            "punch-rendezvous",
            Command::new(RENDEZVOUS).args(args),
            LIMIT,
        );
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
    }
}
