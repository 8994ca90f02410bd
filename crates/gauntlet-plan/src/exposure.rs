//! Addresses in a plan that reach beyond loopback: a service told to
//! listen on `0.0.0.0` (every interface) or checked at a non-loopback
//! address, a container's port published on one, a proxy listening on one. Gauntlet starts what the plan says,
//! so a plan that exposes a test system to the network does it without a
//! word; the runtime warns with what [`exposures`] finds.
//!
//! Only IP literals count (`0.0.0.0`, `::`, `10.1.2.3`, `[fe80::1]`); a
//! host name is not resolved here (sans-IO), and loopback (`127.0.0.0/8`,
//! `::1`) is what a test system should use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{CommandLine, Plan, Probe, Service, Subnet};

/// One address beyond loopback and where the plan has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub address: IpAddr,
    /// Where it appears, in the plan's order: `var host`, `service api:
    /// command`, `service api: health check`, `proxy of api: listen`.
    pub places: Vec<String>,
}

impl Exposure {
    /// Every interface (`0.0.0.0`, `::`) rather than one other address.
    pub fn every_interface(&self) -> bool {
        self.address.is_unspecified()
    }
}

impl std::fmt::Display for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.every_interface() {
            "every interface"
        } else {
            "not a loopback address"
        };
        write!(
            f,
            "exposed beyond loopback: {} ({what}) in {}; what gauntlet starts may be reachable from other machines",
            self.address,
            self.places.join(", ")
        )
    }
}

/// Every non-loopback address in the plan's variables, services (command,
/// environment, health check) and soak proxies (listen address), grouped by
/// address, in the order they first appear.
pub fn exposures(plan: &Plan) -> Vec<Exposure> {
    // The plan's own lab: its segments and the networks behind its NATs
    // live in namespaces this machine routes to, and no other machine does.
    let lab: Vec<Subnet> = plan
        .lab
        .iter()
        .flat_map(|l| {
            l.segments
                .iter()
                .map(|s| s.subnet)
                .chain(l.nats.iter().map(|n| n.inside))
        })
        .collect();
    let mut found = Found {
        found: Vec::new(),
        lab,
    };
    for (name, value) in &plan.vars {
        found.scan(value, || format!("var {name}"));
    }
    for service in &plan.services {
        scan_service(&mut found, service);
    }
    if let Some(soak) = &plan.soak {
        for (service, proxy) in &soak.proxies {
            found.scan(&proxy.listen, || format!("proxy of {service}: listen"));
        }
    }
    found.found
}

fn scan_service(found: &mut Found, service: &Service) {
    let name = &service.name;
    match &service.container {
        // A container listens on its own interfaces (`0.0.0.0` there is
        // the norm); what reaches this machine's network is a port
        // published beyond loopback.
        Some(container) => {
            for port in &container.ports {
                found.scan(&port.host_ip.to_string(), || {
                    format!("service {name}: port {}", port.host_port)
                });
            }
        }
        None => {
            scan_command(found, &service.run.command, || {
                format!("service {name}: command")
            });
            for (key, value) in &service.run.env {
                found.scan(value, || format!("service {name}: env {key}"));
            }
        }
    }
    let Some(health) = &service.health else {
        return;
    };
    let place = || format!("service {name}: health check");
    match &health.probe {
        Probe::Http { url, .. } => found.scan(url, place),
        Probe::Tcp { address } => found.scan(address, place),
        Probe::Command(c) => scan_command(found, &c.command, place),
        // Inside the container: nothing of this machine is exposed by it.
        Probe::Exec { .. } => {}
    }
}

fn scan_command(found: &mut Found, command: &CommandLine, place: impl Fn() -> String) {
    match command {
        CommandLine::Shell(s) => found.scan(s, &place),
        CommandLine::Argv(args) => {
            for a in args {
                found.scan(a, &place);
            }
        }
    }
}

struct Found {
    found: Vec<Exposure>,
    /// The subnets of the plan's network lab.
    lab: Vec<Subnet>,
}

impl Found {
    fn scan(&mut self, text: &str, place: impl Fn() -> String) {
        for address in addresses_in(text) {
            if is_loopback(address) || self.in_lab(address) {
                continue;
            }
            let at = match self.found.iter().position(|e| e.address == address) {
                Some(i) => i,
                None => {
                    self.found.push(Exposure {
                        address,
                        places: Vec::new(),
                    });
                    self.found.len() - 1
                }
            };
            let place = place();
            if !self.found[at].places.contains(&place) {
                self.found[at].places.push(place);
            }
        }
    }

    fn in_lab(&self, address: IpAddr) -> bool {
        match address {
            IpAddr::V4(v4) => self.lab.iter().any(|s| s.contains(v4)),
            IpAddr::V6(_) => false,
        }
    }
}

fn is_loopback(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The IP literals in `text`: IPv4 dotted quads and IPv6 addresses (bare,
/// or in brackets as in URLs), each standing alone (not part of a longer
/// word such as a version `v1.2.3.4` or a path `std::env`).
pub fn addresses_in(text: &str) -> Vec<IpAddr> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if !(c.is_ascii_hexdigit() || c == b':' || c == b'.') {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_hexdigit() || bytes[i] == b':' || bytes[i] == b'.')
        {
            i += 1;
        }
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let after = bytes.get(i).copied();
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            || after.is_some_and(|a| a.is_ascii_alphanumeric() || a == b'_')
        {
            continue;
        }
        // `host:port` and `[v6]:port`: the word runs on into the port.
        let word = text[start..i].trim_end_matches('.');
        if let Some(ip) = parse_word(word) {
            out.push(ip);
        }
    }
    out
}

fn parse_word(word: &str) -> Option<IpAddr> {
    if let Ok(v4) = word.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    // `1.2.3.4:8080`: an IPv4 address and a port.
    if let Some((host, port)) = word.rsplit_once(':')
        && port.bytes().all(|b| b.is_ascii_digit())
        && let Ok(v4) = host.parse::<Ipv4Addr>()
    {
        return Some(IpAddr::V4(v4));
    }
    if word.matches(':').count() >= 2
        && let Ok(v6) = word.parse::<Ipv6Addr>()
    {
        return Some(IpAddr::V6(v6));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        addresses_in(text).iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn literals_are_found_where_they_stand_alone() {
        assert_eq!(found("--bind 0.0.0.0 --port 80"), ["0.0.0.0"]);
        assert_eq!(found("http://10.1.2.3:8080/health"), ["10.1.2.3"]);
        assert_eq!(found("192.168.0.7:6379"), ["192.168.0.7"]);
        assert_eq!(found("127.0.0.1:6390"), ["127.0.0.1"]);
        assert_eq!(found("http://[::]:80/"), ["::"]);
        assert_eq!(found("--listen [fe80::1]:9000"), ["fe80::1"]);
        assert_eq!(found("--bind ::"), ["::"]);
        assert_eq!(found("addr=::1"), ["::1"]);
    }

    #[test]
    fn versions_paths_and_times_are_not_addresses() {
        assert!(found("v1.2.3.4").is_empty());
        assert!(found("cargo test -p api -- std::env::var").is_empty());
        assert!(found("at 12:30:45").is_empty());
        assert!(found("1.2.3").is_empty());
        assert!(found("6390").is_empty());
        assert!(found("deadbeef").is_empty());
        assert!(found("").is_empty());
    }

    #[test]
    fn loopback_is_fine() {
        for a in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(a.parse().unwrap()), "{a}");
        }
        for a in ["0.0.0.0", "::", "10.0.0.1", "fe80::1"] {
            assert!(!is_loopback(a.parse().unwrap()), "{a}");
        }
    }
}
