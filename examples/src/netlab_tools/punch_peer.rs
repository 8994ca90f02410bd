//! `punch-peer`: a UDP hole-punching peer, the network lab's end-to-end
//! check that hosts behind its NAT boxes can reach each other, directly or
//! through a relay. `punch-rendezvous` introduces the peers.
//!
//! ```text
//! punch-peer --name A --rendezvous IP:PORT [--bind IP:PORT] listen
//! punch-peer --name B --rendezvous IP:PORT [--bind IP:PORT] connect A [--relay] [--attempt-ms 3000]
//! ```
//!
//! `listen` registers with the rendezvous server and renews the
//! registration every second, prints `registered` to stdout once the server
//! acknowledged, answers every `PING` with a `PONG`, and when the server
//! introduces a peer (because that peer asked to connect) punches towards
//! it, PINGing its public address every 50 ms for a few seconds. It serves
//! any number of peers, one after the other or at once, until killed.
//!
//! `connect A` registers, asks the server for A, and punches: it PINGs A's
//! public address (and any address a PING from A arrives from, which is
//! another one behind a symmetric NAT) every 50 ms while A does the same
//! the other way, until a PONG comes straight from A. Then it prints `direct` (neither side is
//! behind a NAT: the server saw both at their own addresses) or
//! `nat-traversed` (the punch went through a NAT) and exits 0. With no
//! direct PONG within `--attempt-ms` (counted from the start): with
//! `--relay` it PINGs A through the server's relay for up to another
//! `--attempt-ms` and prints `relayed` and exits 0 on a relayed PONG;
//! otherwise, or when the relay fails too, it prints `failed` and exits 1.
//! The verdict is the only line on stdout; the log goes to stderr.
//!
//! `--bind` picks the local address (default 0.0.0.0:0; an unspecified IP
//! binds the route's source address towards the server, so the peer knows
//! its own address and can tell whether the server saw another one).
//! `listen --no-direct` (for tests) ignores every direct PING and PONG and
//! does not punch, so only the relay can reach it.
//!
//! Exit status 2 on a bad command line; `listen` exits 1 only when its
//! socket fails.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::netlab::{self, Args, log, say};
use crate::punch::{Msg, behind_nat, valid_name};
use crate::random_u64;

const NAME: &str = "punch-peer";

const USAGE: &str = "\
usage: punch-peer --name NAME --rendezvous IP:PORT [--bind IP:PORT] listen
       punch-peer --name NAME --rendezvous IP:PORT [--bind IP:PORT] connect PEER
                  [--relay] [--attempt-ms N]

  --name NAME           this peer's name (no spaces, at most 64 characters)
  --rendezvous IP:PORT  the punch-rendezvous server
  --bind IP:PORT        local address (default 0.0.0.0:0: the route's source towards the server)
  --relay               connect: fall back to the server's relay when punching fails
  --attempt-ms N        connect: how long to punch, and then to try the relay (default 3000)

listen prints `registered` once the server acknowledged and serves until killed.
connect prints one of `direct`, `nat-traversed`, `relayed` (exit 0) or `failed` (exit 1).";

/// How often a peer renews its registration, which also keeps its NAT
/// mapping towards the server alive.
const KEEPALIVE: Duration = Duration::from_secs(1);
/// How often to PING while punching.
const PUNCH_EVERY: Duration = Duration::from_millis(50);
/// How long `listen` punches towards a peer after an introduction. The
/// connecting peer repeats its CONNECT every second while it punches, and
/// each introduction extends this.
const PUNCH_WINDOW: Duration = Duration::from_secs(3);
/// How often to resend REGISTER, CONNECT and relayed PINGs while waiting
/// for their answer: UDP may lose any of them.
const RESEND: Duration = Duration::from_millis(200);

#[derive(Debug, PartialEq)]
enum Mode {
    Listen {
        no_direct: bool,
    },
    Connect {
        peer: String,
        relay: bool,
        attempt: Duration,
    },
}

#[derive(Debug)]
struct Config {
    name: String,
    rendezvous: SocketAddr,
    bind: SocketAddr,
    mode: Mode,
}

fn parse(args: Vec<String>) -> Result<Config, String> {
    let args = Args::parse(
        args,
        &["--name", "--rendezvous", "--bind", "--attempt-ms"],
        &["--relay", "--no-direct"],
    )?;
    let name = args.get("--name").ok_or("--name NAME is required")?;
    if !valid_name(name) {
        return Err(format!(
            "--name {name:?}: a name is 1 to 64 visible characters, no spaces"
        ));
    }
    let rendezvous = args.address("--rendezvous")?;
    let any = if rendezvous.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let bind = args.parsed("--bind", "an IP:PORT address")?.unwrap_or(any);
    if bind.is_ipv4() != rendezvous.is_ipv4() {
        return Err(format!(
            "--bind {bind} and --rendezvous {rendezvous} differ in IP version"
        ));
    }
    let only = |flag: &str, mode: &str| -> Result<(), String> {
        if args.has(flag) || args.get(flag).is_some() {
            Err(format!("{flag} is for {mode} only"))
        } else {
            Ok(())
        }
    };
    let mode = match args.positional.as_slice() {
        [mode] if mode == "listen" => {
            only("--relay", "connect")?;
            only("--attempt-ms", "connect")?;
            Mode::Listen {
                no_direct: args.has("--no-direct"),
            }
        }
        [mode, peer] if mode == "connect" => {
            only("--no-direct", "listen")?;
            if !valid_name(peer) {
                return Err(format!("connect {peer:?}: not a peer name"));
            }
            if peer == name {
                return Err(format!("{name} cannot connect to itself"));
            }
            Mode::Connect {
                peer: peer.clone(),
                relay: args.has("--relay"),
                attempt: args.millis("--attempt-ms", 3000)?,
            }
        }
        [] => return Err("say listen or connect PEER".to_owned()),
        words => return Err(format!("expected listen or connect PEER, got {words:?}")),
    };
    Ok(Config {
        name: name.to_owned(),
        rendezvous,
        bind,
        mode,
    })
}

/// The program's main, with its arguments (without the program name).
pub fn run(args: Vec<String>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        say(USAGE);
        return ExitCode::SUCCESS;
    }
    let config = match parse(args) {
        Ok(config) => config,
        Err(err) => {
            log(NAME, format!("{err}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let peer = match Peer::bind(&config) {
        Ok(peer) => peer,
        Err(err) => {
            log(NAME, format!("bind {}: {err}", config.bind));
            return ExitCode::from(1);
        }
    };
    log(
        NAME,
        format!(
            "{} at {}, rendezvous {}",
            peer.name, peer.local, peer.rendezvous
        ),
    );
    match config.mode {
        Mode::Listen { no_direct } => {
            let err = peer.listen(no_direct);
            log(NAME, err);
            ExitCode::from(1)
        }
        Mode::Connect {
            peer: other,
            relay,
            attempt,
        } => {
            let verdict = peer.connect(&other, relay, attempt);
            say(verdict.as_str());
            if verdict == Verdict::Failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Direct,
    NatTraversed,
    Relayed,
    Failed,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Direct => "direct",
            Verdict::NatTraversed => "nat-traversed",
            Verdict::Relayed => "relayed",
            Verdict::Failed => "failed",
        }
    }
}

/// Someone `listen` is punching towards.
struct Punch {
    to: SocketAddr,
    until: Instant,
    nonce: u64,
}

struct Peer {
    name: String,
    socket: UdpSocket,
    local: SocketAddr,
    rendezvous: SocketAddr,
}

/// When a timer fires: `at` and then every `every`.
struct Every {
    at: Instant,
    every: Duration,
}

impl Every {
    fn now(every: Duration) -> Every {
        Every {
            at: Instant::now(),
            every,
        }
    }

    /// Whether it is due; if so, it is due again `every` from now.
    fn due(&mut self, now: Instant) -> bool {
        if now < self.at {
            return false;
        }
        self.at = now + self.every;
        true
    }
}

impl Peer {
    fn bind(config: &Config) -> std::io::Result<Peer> {
        let socket = netlab::bind_towards(config.bind, config.rendezvous)?;
        Ok(Peer {
            name: config.name.clone(),
            local: socket.local_addr()?,
            socket,
            rendezvous: config.rendezvous,
        })
    }

    fn send(&self, msg: &Msg, to: SocketAddr) {
        // A failed send is a lost datagram; every sender here retries.
        if let Err(err) = self.socket.send_to(msg.to_string().as_bytes(), to) {
            log(NAME, format!("send {msg} to {to}: {err}"));
        }
    }

    fn register(&self) {
        let msg = Msg::Register {
            name: self.name.clone(),
            local: self.local,
        };
        self.send(&msg, self.rendezvous);
    }

    /// The next message, waiting until `until` at most. `Ok(None)` on a
    /// timeout or a datagram that is not a message; `Err` when the socket
    /// fails for good.
    fn recv(&self, until: Instant) -> Result<Option<(Msg, SocketAddr)>, String> {
        let wait = until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.socket
            .set_read_timeout(Some(wait))
            .map_err(|e| format!("set a read timeout: {e}"))?;
        let mut buf = [0u8; 2048];
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => match Msg::parse(&buf[..n]) {
                Ok(msg) => Ok(Some((msg, from))),
                Err(err) => {
                    log(NAME, format!("ignoring {n} bytes from {from}: {err}"));
                    Ok(None)
                }
            },
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            // ICMP errors from earlier sends (a peer that is gone): a lost
            // datagram, nothing more.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted
                        | ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("receive: {e}")),
        }
    }

    /// Serves until the socket fails; returns why.
    fn listen(&self, no_direct: bool) -> String {
        let mut keepalive = Every::now(KEEPALIVE);
        let mut punch = Every::now(PUNCH_EVERY);
        let mut punching: HashMap<String, Punch> = HashMap::new();
        let mut observed = None;
        loop {
            let now = Instant::now();
            if keepalive.due(now) {
                self.register();
            }
            punching.retain(|_, p| p.until > now);
            if !punching.is_empty() && punch.due(now) {
                for (name, p) in &punching {
                    let ping = Msg::Ping {
                        from: self.name.clone(),
                        to: name.clone(),
                        nonce: p.nonce,
                    };
                    self.send(&ping, p.to);
                }
            }
            let wake = if punching.is_empty() {
                keepalive.at
            } else {
                keepalive.at.min(punch.at)
            };
            let (msg, from) = match self.recv(wake) {
                Ok(Some(got)) => got,
                Ok(None) => continue,
                Err(err) => return err,
            };
            match msg {
                Msg::Registered { observed: seen } => {
                    if observed.is_none() {
                        say("registered");
                    }
                    if observed != Some(seen) {
                        log(NAME, format!("the server sees {} at {seen}", self.name));
                        observed = Some(seen);
                    }
                }
                Msg::Peer {
                    name,
                    public,
                    local,
                } => {
                    if no_direct {
                        log(NAME, format!("not punching towards {name} (--no-direct)"));
                        continue;
                    }
                    log(
                        NAME,
                        format!("punching towards {name} at {public} (local {local})"),
                    );
                    let until = Instant::now() + PUNCH_WINDOW;
                    punching
                        .entry(name)
                        .and_modify(|p| {
                            p.to = public;
                            p.until = until;
                        })
                        .or_insert_with(|| Punch {
                            to: public,
                            until,
                            nonce: random_u64(),
                        });
                    // Punch at once: the other side starts now too.
                    punch.at = Instant::now();
                }
                Msg::Ping {
                    from: who,
                    to,
                    nonce,
                } if to == self.name => {
                    if no_direct {
                        continue;
                    }
                    // Answer where it came from, not where the server saw
                    // the sender: a symmetric NAT gives each destination its
                    // own port.
                    let pong = Msg::Pong {
                        from: self.name.clone(),
                        to: who.clone(),
                        nonce,
                    };
                    self.send(&pong, from);
                    // Its PING got in, so our PONG will get out through its
                    // NAT: the hole is open, no need to keep punching.
                    if punching.remove(&who).is_some() {
                        log(NAME, format!("{who} reached us from {from}"));
                    }
                }
                Msg::Pong { from: who, to, .. } if to == self.name => {
                    if !no_direct && punching.remove(&who).is_some() {
                        log(NAME, format!("reached {who} at {from}"));
                    }
                }
                Msg::Relayed { from: who, payload } => match Msg::parse(payload.as_bytes()) {
                    Ok(Msg::Ping { from: f, to, nonce }) if f == who && to == self.name => {
                        let pong = Msg::Pong {
                            from: self.name.clone(),
                            to: who.clone(),
                            nonce,
                        };
                        let relay = Msg::Relay {
                            from: self.name.clone(),
                            to: who,
                            payload: pong.to_string(),
                        };
                        self.send(&relay, self.rendezvous);
                    }
                    _ => log(NAME, format!("ignoring relayed {payload:?} from {who}")),
                },
                other => log(NAME, format!("ignoring {other} from {from}")),
            }
        }
    }

    /// Punches towards `other`, then tries the relay if `relay`.
    fn connect(&self, other: &str, relay: bool, attempt: Duration) -> Verdict {
        let nonce = random_u64();
        let deadline = Instant::now() + attempt;
        let mut keepalive = Every::now(RESEND);
        let mut ask = Every::now(RESEND);
        let mut punch = Every::now(PUNCH_EVERY);
        let mut observed: Option<SocketAddr> = None;
        // The other side's public and local address, from the server.
        let mut target: Option<(SocketAddr, SocketAddr)> = None;
        // Where to PING: its public address, and any address a PING from
        // it came from. A symmetric NAT gives its punches towards us
        // another port than its mapping towards the server; PINGing back
        // there (ICE's peer-reflexive candidate) gets through its filter,
        // which now expects us there.
        let mut destinations: Vec<SocketAddr> = Vec::new();
        let mut told_unknown = false;
        let ping = Msg::Ping {
            from: self.name.clone(),
            to: other.to_owned(),
            nonce,
        };
        while Instant::now() < deadline {
            let now = Instant::now();
            if keepalive.due(now) {
                self.register();
            }
            if observed.is_some() && ask.due(now) {
                let connect = Msg::Connect {
                    from: self.name.clone(),
                    to: other.to_owned(),
                };
                self.send(&connect, self.rendezvous);
            }
            if !destinations.is_empty() && punch.due(now) {
                for &to in &destinations {
                    self.send(&ping, to);
                }
            }
            let mut wake = deadline.min(keepalive.at);
            if observed.is_some() {
                wake = wake.min(ask.at);
            }
            if !destinations.is_empty() {
                wake = wake.min(punch.at);
            }
            let (msg, from) = match self.recv(wake) {
                Ok(Some(got)) => got,
                Ok(None) => continue,
                Err(err) => {
                    log(NAME, err);
                    return Verdict::Failed;
                }
            };
            match msg {
                Msg::Registered { observed: seen } => {
                    if observed.is_none() {
                        log(NAME, format!("the server sees {} at {seen}", self.name));
                        // Registered: renew it at the normal pace, and ask
                        // for the peer right away.
                        keepalive.every = KEEPALIVE;
                        ask.at = Instant::now();
                    }
                    observed = Some(seen);
                }
                Msg::Peer {
                    name,
                    public,
                    local,
                } if name == other => {
                    if target.is_none() {
                        log(
                            NAME,
                            format!("punching towards {name} at {public} (local {local})"),
                        );
                        // From now on CONNECT only renews the other side's
                        // punching window.
                        ask.every = KEEPALIVE;
                    }
                    target = Some((public, local));
                    if !destinations.contains(&public) {
                        destinations.insert(0, public);
                        punch.at = Instant::now();
                    }
                }
                Msg::Unknown { name } => {
                    if !told_unknown {
                        log(NAME, format!("the server does not know {name} (yet)"));
                        told_unknown = true;
                    }
                }
                Msg::Ping {
                    from: who,
                    to,
                    nonce,
                } if who == other && to == self.name => {
                    let pong = Msg::Pong {
                        from: self.name.clone(),
                        to: who,
                        nonce,
                    };
                    self.send(&pong, from);
                    // A few at most: a peer sends from one or two ports,
                    // anything beyond is noise not worth PINGing.
                    if !destinations.contains(&from) && destinations.len() < 4 {
                        log(
                            NAME,
                            format!("{other} PINGs from {from}: punching there too"),
                        );
                        destinations.push(from);
                        punch.at = Instant::now();
                    }
                }
                Msg::Pong {
                    from: who,
                    to,
                    nonce: n,
                } if who == other && to == self.name && n == nonce => {
                    log(NAME, format!("PONG from {who} at {from}"));
                    let nat = observed.is_some_and(|seen| behind_nat(seen, self.local))
                        || target.is_some_and(|(public, local)| behind_nat(public, local));
                    return if nat {
                        Verdict::NatTraversed
                    } else {
                        Verdict::Direct
                    };
                }
                ignored => log(NAME, format!("ignoring {ignored} from {from}")),
            }
        }
        if !relay {
            log(
                NAME,
                format!("no direct PONG from {other} within {attempt:?}"),
            );
            return Verdict::Failed;
        }
        if observed.is_none() {
            log(
                NAME,
                "the rendezvous server never answered, so no relay either",
            );
            return Verdict::Failed;
        }
        log(
            NAME,
            format!("no direct PONG from {other}: trying the relay"),
        );
        self.relay(other, nonce, attempt)
    }

    /// PINGs `other` through the server's relay until a relayed PONG comes
    /// back or `attempt` is over.
    fn relay(&self, other: &str, nonce: u64, attempt: Duration) -> Verdict {
        let deadline = Instant::now() + attempt;
        let mut keepalive = Every::now(KEEPALIVE);
        let mut resend = Every::now(RESEND);
        let ping = Msg::Ping {
            from: self.name.clone(),
            to: other.to_owned(),
            nonce,
        };
        let relay = Msg::Relay {
            from: self.name.clone(),
            to: other.to_owned(),
            payload: ping.to_string(),
        };
        while Instant::now() < deadline {
            let now = Instant::now();
            if keepalive.due(now) {
                self.register();
            }
            if resend.due(now) {
                self.send(&relay, self.rendezvous);
            }
            let (msg, _) = match self.recv(deadline.min(keepalive.at).min(resend.at)) {
                Ok(Some(got)) => got,
                Ok(None) => continue,
                Err(err) => {
                    log(NAME, err);
                    return Verdict::Failed;
                }
            };
            if let Msg::Relayed { from: who, payload } = msg
                && who == other
                && Msg::parse(payload.as_bytes())
                    == Ok(Msg::Pong {
                        from: other.to_owned(),
                        to: self.name.clone(),
                        nonce,
                    })
            {
                log(NAME, format!("relayed PONG from {other}"));
                return Verdict::Relayed;
            }
        }
        log(
            NAME,
            format!("no relayed PONG from {other} within {attempt:?}"),
        );
        Verdict::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(text: &str) -> Result<Config, String> {
        parse(text.split_whitespace().map(str::to_owned).collect())
    }

    #[test]
    fn parses_both_modes() {
        let config = parse_words("--name A --rendezvous 10.0.0.1:7000 listen").unwrap();
        assert_eq!(config.name, "A");
        assert_eq!(config.mode, Mode::Listen { no_direct: false });
        assert_eq!(config.bind, "0.0.0.0:0".parse().unwrap());
        let config =
            parse_words("--name B --rendezvous 10.0.0.1:7000 connect A --relay --attempt-ms 500")
                .unwrap();
        assert_eq!(
            config.mode,
            Mode::Connect {
                peer: "A".into(),
                relay: true,
                attempt: Duration::from_millis(500)
            }
        );
    }

    #[test]
    fn rejects_bad_command_lines() {
        for bad in [
            "--rendezvous 10.0.0.1:7000 listen",
            "--name A listen",
            "--name A --rendezvous 10.0.0.1:7000",
            "--name A --rendezvous 10.0.0.1:7000 serve",
            "--name A --rendezvous 10.0.0.1:7000 connect",
            "--name A --rendezvous 10.0.0.1:7000 connect A",
            "--name A --rendezvous 10.0.0.1:7000 connect B C",
            "--name A --rendezvous 10.0.0.1:7000 listen --relay",
            "--name A --rendezvous 10.0.0.1:7000 listen --attempt-ms 5",
            "--name B --rendezvous 10.0.0.1:7000 connect A --no-direct",
            "--name B --rendezvous 10.0.0.1:7000 connect A --attempt-ms 0",
            "--name B --rendezvous 10.0.0.1:7000 --bind [::]:0 connect A",
        ] {
            assert!(parse_words(bad).is_err(), "{bad}");
        }
    }
}
