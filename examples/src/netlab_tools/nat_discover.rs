//! `nat-discover`: the RFC 5780 NAT behaviour discovery client, the near
//! end of the network lab's NAT checks (`stun-server` is the far end).
//!
//! ```text
//! nat-discover --server IP:PORT [--bind IP:PORT] [--timeout-ms 500] [--tries 3] [--json]
//! ```
//!
//! From one local UDP port it runs the mapping tests (section 4.3) and the
//! filtering tests (section 4.4) against the server's primary address and
//! the alternate one the server names in OTHER-ADDRESS, and prints the
//! NAT's type, its mapping and filtering behaviour (RFC 4787 terms), the
//! address the server saw and the local address, on one line:
//!
//! ```text
//! port-restricted mapping=endpoint-independent filtering=address-and-port-dependent mapped=203.0.113.7:40000 local=192.168.1.2:5000
//! ```
//!
//! or with `--json` as one object:
//! `{"filtering":"...","local":"...","mapped":"...","mapping":"...","type":"..."}`.
//!
//! The type is `open` when the server saw the local address itself (no
//! NAT); else `full-cone` (mapping and filtering endpoint-independent),
//! `address-restricted` (filtering address-dependent), `port-restricted`
//! (filtering address-and-port-dependent), or `symmetric` (mapping not
//! endpoint-independent).
//!
//! All tests use one local port, the filtering tests first (see
//! `crate::nat::discover` for why). Keep the default port 0: a
//! fixed `--bind` port reused by the next run within the NAT's UDP timeout
//! finds the filter still open from this run's mapping tests, and the NAT
//! then looks less restrictive than it is.
//!
//! Each request is sent up to `--tries` times, waiting `--timeout-ms` for an
//! answer each time: UDP may lose one, and the filtering tests expect
//! silence from a restrictive NAT, so a verdict takes up to 2 × tries ×
//! timeout longer there.
//!
//! Exit status: 0 with a classification; 1 when the server does not answer
//! at all or cannot run the tests (why goes to stderr); 2 on a bad command
//! line.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use crate::nat::{self, UdpProbe};
use crate::netlab::{self, Args, log, say};

const NAME: &str = "nat-discover";

const USAGE: &str = "\
usage: nat-discover --server IP:PORT [--bind IP:PORT] [--timeout-ms N] [--tries N] [--json]

  --server IP:PORT   the STUN server's primary address (it must support RFC 5780)
  --bind IP:PORT     the local address for every test (default 0.0.0.0:0; an
                     unspecified IP binds the route's source address towards the server)
  --timeout-ms N     how long to wait for each answer (default 500)
  --tries N          how often to send each request before giving up (default 3)
  --json             print one JSON object instead of one line

Prints `TYPE mapping=M filtering=F mapped=ADDR local=ADDR`, TYPE one of open,
full-cone, address-restricted, port-restricted, symmetric. Exit 0 on a
classification, 1 when the server does not answer, 2 on a bad command line.";

struct Config {
    server: SocketAddr,
    bind: SocketAddr,
    timeout: Duration,
    tries: u32,
    json: bool,
}

fn parse(args: Vec<String>) -> Result<Config, String> {
    let args = Args::parse(
        args,
        &["--server", "--bind", "--timeout-ms", "--tries"],
        &["--json"],
    )?;
    if let Some(word) = args.positional.first() {
        return Err(format!("unexpected argument {word:?}"));
    }
    let server = args.address("--server")?;
    let any = if server.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let bind = args.parsed("--bind", "an IP:PORT address")?.unwrap_or(any);
    if bind.is_ipv4() != server.is_ipv4() {
        return Err(format!(
            "--bind {bind} and --server {server} differ in IP version"
        ));
    }
    let tries = match args.parsed("--tries", "a number")? {
        Some(0) => return Err("--tries must be at least 1".to_owned()),
        tries => tries.unwrap_or(3),
    };
    Ok(Config {
        server,
        bind,
        timeout: args.millis("--timeout-ms", 500)?,
        tries,
        json: args.has("--json"),
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
    // One socket for every test: a NAT maps per local port, so the tests
    // must all come from the same one to look at the same mapping.
    let socket = match netlab::bind_towards(config.bind, config.server) {
        Ok(socket) => socket,
        Err(err) => {
            log(
                NAME,
                format!("bind {} towards {}: {err}", config.bind, config.server),
            );
            return ExitCode::from(1);
        }
    };
    let local = match socket.local_addr() {
        Ok(local) => local,
        Err(err) => {
            log(NAME, format!("local address: {err}"));
            return ExitCode::from(1);
        }
    };
    let mut probe = UdpProbe {
        socket,
        timeout: config.timeout,
        tries: config.tries,
    };
    match nat::discover(&mut probe, config.server, local) {
        Ok(report) => {
            if config.json {
                say(report.to_json());
            } else {
                say(format!(
                    "{} mapping={} filtering={} mapped={} local={}",
                    report.nat_type, report.mapping, report.filtering, report.mapped, report.local
                ));
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            log(NAME, err);
            ExitCode::from(1)
        }
    }
}
