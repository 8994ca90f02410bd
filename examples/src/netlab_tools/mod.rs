//! The network lab's example programs, as library functions so that
//! `gauntlet example-node <name>` runs them as well as their own binaries:
//! a STUN server and an RFC 5780 NAT behaviour discovery client (to verify
//! the lab's NAT boxes), and a UDP hole-punching peer with its rendezvous
//! server and relay (to prove the lab end to end).

pub mod nat_discover;
pub mod punch_peer;
pub mod punch_rendezvous;
pub mod stun_server;

/// A program's main: its arguments in, its exit code out.
pub type Main = fn(Vec<String>) -> std::process::ExitCode;

/// The programs `gauntlet example-node` knows by name, with their mains.
pub const PROGRAMS: [(&str, Main); 4] = [
    ("stun-server", stun_server::run),
    ("nat-discover", nat_discover::run),
    ("punch-rendezvous", punch_rendezvous::run),
    ("punch-peer", punch_peer::run),
];
