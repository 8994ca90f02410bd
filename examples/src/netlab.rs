//! What the network-lab example programs share (`stun-server`,
//! `nat-discover`, `punch-rendezvous`, `punch-peer`): the command line,
//! printing that survives a closed stream, and binding a UDP socket to the
//! source address the route to a peer would use.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::str::FromStr;

/// Writes one line to stdout and flushes it at once: the lab reads these
/// lines (`listening ...`, `registered`, the verdict) while the program
/// runs. A closed stdout is ignored, not a panic: a long-running server
/// must not die because whoever read its first line went away.
pub fn say(line: impl Display) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Writes one line of log to stderr, prefixed with the program's name; a
/// closed stderr is ignored for the same reason as in [`say`].
pub fn log(program: &str, line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{program}: {line}");
}

/// The local address the kernel would send from to reach `dest`: connecting
/// a UDP socket sends nothing but picks the route and its source address.
pub fn route_source(dest: SocketAddr) -> io::Result<IpAddr> {
    let any: IpAddr = match dest {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let probe = UdpSocket::bind((any, 0))?;
    probe.connect(dest)?;
    Ok(probe.local_addr()?.ip())
}

/// A UDP socket bound to `bind`, except that an unspecified IP (0.0.0.0)
/// becomes the route's source address towards `dest`. A socket bound to
/// 0.0.0.0 cannot tell its own address, and the NAT checks compare exactly
/// that address with what the far side saw: binding the real one makes
/// `local_addr()` the truth.
pub fn bind_towards(bind: SocketAddr, dest: SocketAddr) -> io::Result<UdpSocket> {
    let ip = if bind.ip().is_unspecified() {
        route_source(dest)?
    } else {
        bind.ip()
    };
    UdpSocket::bind((ip, bind.port()))
}

/// A command line read as flags with a value (`--flag value` or
/// `--flag=value`), switches (`--flag`) and positional words.
#[derive(Debug, Default)]
pub struct Args {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    pub positional: Vec<String>,
}

impl Args {
    /// Reads `args` (without the program name); `valued` and `switches`
    /// list the flags, with their dashes, that the program knows.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        valued: &[&str],
        switches: &[&str],
    ) -> Result<Args, String> {
        let mut parsed = Args::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with("--") {
                parsed.positional.push(arg);
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            let seen =
                parsed.values.iter().any(|(f, _)| *f == flag) || parsed.switches.contains(&flag);
            if seen {
                return Err(format!("{flag} given twice"));
            }
            if valued.contains(&flag.as_str()) {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                parsed.values.push((flag, value));
            } else if switches.contains(&flag.as_str()) {
                if inline.is_some() {
                    return Err(format!("{flag} takes no value"));
                }
                parsed.switches.push(flag);
            } else {
                return Err(format!("unknown argument {arg:?}"));
            }
        }
        Ok(parsed)
    }

    pub fn get(&self, flag: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    /// The flag's value parsed as a `T`, `None` when the flag is absent.
    pub fn parsed<T: FromStr>(&self, flag: &str, what: &str) -> Result<Option<T>, String> {
        self.get(flag)
            .map(|text| {
                text.parse()
                    .map_err(|_| format!("{flag}: not {what}: {text:?}"))
            })
            .transpose()
    }

    /// A required `IP:PORT` flag.
    pub fn address(&self, flag: &str) -> Result<SocketAddr, String> {
        self.parsed(flag, "an IP:PORT address")?
            .ok_or_else(|| format!("{flag} IP:PORT is required"))
    }

    /// An optional duration in milliseconds, at least 1.
    pub fn millis(&self, flag: &str, default: u64) -> Result<std::time::Duration, String> {
        match self.parsed::<u64>(flag, "a number of milliseconds")? {
            Some(0) => Err(format!("{flag} must be at least 1")),
            ms => Ok(std::time::Duration::from_millis(ms.unwrap_or(default))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_flags_switches_and_positionals() {
        let args = Args::parse(
            words("--server 10.0.0.1:3478 --timeout-ms=200 --json connect A"),
            &["--server", "--timeout-ms"],
            &["--json"],
        )
        .unwrap();
        assert_eq!(
            args.address("--server").unwrap(),
            "10.0.0.1:3478".parse().unwrap()
        );
        assert_eq!(args.millis("--timeout-ms", 500).unwrap().as_millis(), 200);
        assert_eq!(args.millis("--other", 500).unwrap().as_millis(), 500);
        assert!(args.has("--json"));
        assert_eq!(args.positional, ["connect", "A"]);
    }

    #[test]
    fn rejects_bad_command_lines() {
        let parse = |text| Args::parse(words(text), &["--server"], &["--json"]);
        assert!(parse("--nope").unwrap_err().contains("unknown"));
        assert!(parse("--server").unwrap_err().contains("needs a value"));
        assert!(parse("--json=1").unwrap_err().contains("no value"));
        assert!(parse("--json --json").unwrap_err().contains("twice"));
        let args = parse("--server nowhere").unwrap();
        assert!(args.address("--server").unwrap_err().contains("IP:PORT"));
        assert!(parse("").unwrap().address("--server").is_err());
        let args = Args::parse(words("--t 0"), &["--t"], &[]).unwrap();
        assert!(args.millis("--t", 5).is_err());
    }

    #[test]
    fn binds_the_route_source_for_an_unspecified_address() {
        let far = UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = bind_towards("0.0.0.0:0".parse().unwrap(), far.local_addr().unwrap()).unwrap();
        assert_eq!(
            socket.local_addr().unwrap().ip(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
