//! `punch-rendezvous`: the rendezvous server (and relay) for UDP hole
//! punching between `punch-peer`s, the network lab's end-to-end check that
//! peers behind its NAT boxes can reach each other.
//!
//! ```text
//! punch-rendezvous --listen IP:PORT
//! ```
//!
//! Peers register by name (`REGISTER <name> <local ip:port>`, answered
//! `REGISTERED <observed ip:port>`) and the server remembers the address it
//! saw each one at, its public address. `CONNECT <me> <other>` sends
//! `PEER <name> <public> <local>` to both peers at once, each about the
//! other, so both punch at the same time. `RELAY <from> <to> <payload>`
//! forwards the payload to `<to>` as `RELAYED <from> <payload>`, the way
//! round NATs that cannot be punched. A name nobody registered in the last
//! 10 seconds is answered `UNKNOWN <name>`. The protocol is in
//! `crate::punch`.
//!
//! Once bound it prints `listening IP:PORT` to stdout; it serves until
//! killed and logs every message to stderr. Exit status 2 on a bad command
//! line, 1 when it cannot bind.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use crate::netlab::{Args, log, say};
use crate::punch::Msg;

const NAME: &str = "punch-rendezvous";

/// Peers re-register every second; ten missed in a row means it is gone
/// (a mere lost datagram or two must not forget a live peer).
const REGISTRATION_TTL: Duration = Duration::from_secs(10);

const USAGE: &str = "\
usage: punch-rendezvous --listen IP:PORT

Rendezvous server and relay for punch-peer: prints `listening IP:PORT`, then
serves REGISTER, CONNECT and RELAY (see the punch module's docs) until killed.";

struct Registration {
    public: SocketAddr,
    local: SocketAddr,
    seen: Instant,
}

/// The program's main, with its arguments (without the program name).
pub fn run(args: Vec<String>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        say(USAGE);
        return ExitCode::SUCCESS;
    }
    let listen = match parse(args) {
        Ok(listen) => listen,
        Err(err) => {
            log(NAME, format!("{err}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let socket = match UdpSocket::bind(listen) {
        Ok(socket) => socket,
        Err(err) => {
            log(NAME, format!("bind {listen}: {err}"));
            return ExitCode::from(1);
        }
    };
    // Port 0 asks for any free port: print the one we got.
    let listen = socket.local_addr().unwrap_or(listen);
    say(format!("listening {listen}"));
    let mut peers = HashMap::new();
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => {
                // Transient on an unconnected UDP socket (a stray ICMP
                // error); the pause keeps a persistent one from spinning.
                log(NAME, format!("receive: {err}"));
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let msg = match Msg::parse(&buf[..n]) {
            Ok(msg) => msg,
            Err(err) => {
                log(NAME, format!("ignoring {n} bytes from {from}: {err}"));
                continue;
            }
        };
        for (to, reply) in handle(&mut peers, msg, from, Instant::now()) {
            if let Err(err) = socket.send_to(reply.to_string().as_bytes(), to) {
                log(NAME, format!("send {reply} to {to}: {err}"));
            }
        }
    }
}

fn parse(args: Vec<String>) -> Result<SocketAddr, String> {
    let args = Args::parse(args, &["--listen"], &[])?;
    if let Some(word) = args.positional.first() {
        return Err(format!("unexpected argument {word:?}"));
    }
    args.address("--listen")
}

/// The messages to send (and where) for `msg` from `from`, at `now`.
fn handle(
    peers: &mut HashMap<String, Registration>,
    msg: Msg,
    from: SocketAddr,
    now: Instant,
) -> Vec<(SocketAddr, Msg)> {
    peers.retain(|_, r| now.duration_since(r.seen) < REGISTRATION_TTL);
    match msg {
        Msg::Register { name, local } => {
            let renewed = peers
                .get(&name)
                .is_some_and(|r| r.public == from && r.local == local);
            if !renewed {
                log(NAME, format!("{name} registered at {from} (local {local})"));
            }
            peers.insert(
                name,
                Registration {
                    public: from,
                    local,
                    seen: now,
                },
            );
            vec![(from, Msg::Registered { observed: from })]
        }
        Msg::Connect { from: me, to } => {
            // The CONNECT comes through the same NAT mapping as the peer's
            // REGISTERs (same socket, same destination), but a mapping may
            // have expired and been renewed on another port since: the
            // latest source is the one to give out.
            let Some(mine) = peers.get_mut(&me) else {
                log(NAME, format!("CONNECT from unregistered {me} at {from}"));
                return vec![(from, Msg::Unknown { name: me })];
            };
            mine.public = from;
            let mine_local = mine.local;
            let Some(theirs) = peers.get(&to) else {
                log(NAME, format!("{me} asks for {to}, who is not registered"));
                return vec![(from, Msg::Unknown { name: to })];
            };
            log(
                NAME,
                format!("introducing {me} at {from} and {to} at {}", theirs.public),
            );
            vec![
                (
                    from,
                    Msg::Peer {
                        name: to,
                        public: theirs.public,
                        local: theirs.local,
                    },
                ),
                (
                    theirs.public,
                    Msg::Peer {
                        name: me,
                        public: from,
                        local: mine_local,
                    },
                ),
            ]
        }
        Msg::Relay {
            from: sender,
            to,
            payload,
        } => match peers.get(&to) {
            Some(theirs) => {
                log(NAME, format!("relaying {sender} -> {to}: {payload}"));
                vec![(
                    theirs.public,
                    Msg::Relayed {
                        from: sender,
                        payload,
                    },
                )]
            }
            None => {
                log(
                    NAME,
                    format!("cannot relay {sender} -> {to}: not registered"),
                );
                vec![(from, Msg::Unknown { name: to })]
            }
        },
        other => {
            log(NAME, format!("ignoring {other} from {from}"));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn register(
        peers: &mut HashMap<String, Registration>,
        name: &str,
        public: &str,
        local: &str,
        now: Instant,
    ) {
        let msg = Msg::Register {
            name: name.into(),
            local: addr(local),
        };
        assert_eq!(
            handle(peers, msg, addr(public), now),
            [(
                addr(public),
                Msg::Registered {
                    observed: addr(public)
                }
            )]
        );
    }

    #[test]
    fn introduces_both_peers_and_relays() {
        let mut peers = HashMap::new();
        let now = Instant::now();
        register(&mut peers, "A", "203.0.113.1:4000", "192.168.1.2:4000", now);
        register(
            &mut peers,
            "B",
            "198.51.100.1:5000",
            "198.51.100.1:5000",
            now,
        );
        let connect = Msg::Connect {
            from: "B".into(),
            to: "A".into(),
        };
        assert_eq!(
            handle(&mut peers, connect, addr("198.51.100.1:5000"), now),
            [
                (
                    addr("198.51.100.1:5000"),
                    Msg::Peer {
                        name: "A".into(),
                        public: addr("203.0.113.1:4000"),
                        local: addr("192.168.1.2:4000"),
                    }
                ),
                (
                    addr("203.0.113.1:4000"),
                    Msg::Peer {
                        name: "B".into(),
                        public: addr("198.51.100.1:5000"),
                        local: addr("198.51.100.1:5000"),
                    }
                ),
            ]
        );
        let relay = Msg::Relay {
            from: "B".into(),
            to: "A".into(),
            payload: "PING B A 1".into(),
        };
        assert_eq!(
            handle(&mut peers, relay, addr("198.51.100.1:5000"), now),
            [(
                addr("203.0.113.1:4000"),
                Msg::Relayed {
                    from: "B".into(),
                    payload: "PING B A 1".into()
                }
            )]
        );
    }

    #[test]
    fn unknown_and_expired_peers() {
        let mut peers = HashMap::new();
        let now = Instant::now();
        let b = addr("198.51.100.1:5000");
        let connect = || Msg::Connect {
            from: "B".into(),
            to: "A".into(),
        };
        assert_eq!(
            handle(&mut peers, connect(), b, now),
            [(b, Msg::Unknown { name: "B".into() })]
        );
        register(
            &mut peers,
            "B",
            "198.51.100.1:5000",
            "198.51.100.1:5000",
            now,
        );
        register(&mut peers, "A", "203.0.113.1:4000", "192.168.1.2:4000", now);
        let later = now + REGISTRATION_TTL + Duration::from_secs(1);
        register(
            &mut peers,
            "B",
            "198.51.100.1:5000",
            "198.51.100.1:5000",
            later,
        );
        assert_eq!(
            handle(&mut peers, connect(), b, later),
            [(b, Msg::Unknown { name: "A".into() })]
        );
        let relay = Msg::Relay {
            from: "B".into(),
            to: "A".into(),
            payload: "x".into(),
        };
        assert_eq!(
            handle(&mut peers, relay, b, later),
            [(b, Msg::Unknown { name: "A".into() })]
        );
        let ping = Msg::Ping {
            from: "B".into(),
            to: "A".into(),
            nonce: 1,
        };
        assert!(handle(&mut peers, ping, b, later).is_empty());
    }
}
