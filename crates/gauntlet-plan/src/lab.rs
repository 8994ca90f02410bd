//! The network lab as a plan describes it: segments, links, NAT boxes and
//! hosts, every address resolved. Pure data: `gauntlet-lab` builds it out of
//! namespaces, bridges and nftables, and a later backend may map the same
//! names onto real hosts.
//!
//! Addresses are handed out in a fixed order so a user can write them in a
//! command line before the lab exists: in a segment `.1` is the router,
//! then each host of the segment in file order (a host with `addresses = 2`
//! takes two in a row), then the outside address of each NAT box on it. A
//! NAT box is `.1` of its inside subnet; the hosts behind it follow from
//! `.2`. On the management network (`[management]`), `.1` is the lab's
//! router and each host behind a NAT box follows from `.2`, in file order.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The lab part of a plan (or the whole of a `lab.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabSpec {
    pub segments: Vec<Segment>,
    pub links: Vec<Link>,
    pub nats: Vec<Nat>,
    pub hosts: Vec<LabHost>,
    /// The management network (`[management]`), if the lab has one.
    /// `default`: a lab recorded before it existed has none.
    #[serde(default)]
    pub management: Option<Management>,
}

/// A network only this machine and the hosts behind NAT boxes are on, each
/// host by an address of its own (`LabHost::management`), so this machine
/// reaches a host behind a NAT box as a real fleet's control node reaches
/// a node by its management address. Hosts do not reach each other over
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Management {
    pub subnet: Subnet,
    /// The router's address on it (`.1`).
    pub router: Ipv4Addr,
}

impl LabSpec {
    /// The host called `name`.
    pub fn host(&self, name: &str) -> Option<&LabHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The segment called `name`.
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// The NAT box called `name`.
    pub fn nat(&self, name: &str) -> Option<&Nat> {
        self.nats.iter().find(|n| n.name == name)
    }
}

/// An IPv4 subnet, `10.80.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/p` with the host bits zero and a prefix from 8 to 30
    /// (a /31 or /32 leaves no room for a router and a host).
    pub fn parse(text: &str) -> Result<Subnet, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a subnet: write it as 10.80.1.0/24"))?;
        let network: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("the prefix of {text:?} must be from 8 to 30"))?;
        let subnet = Subnet { network, prefix };
        if subnet.network != Ipv4Addr::from(u32::from(network) & subnet.mask()) {
            return Err(format!(
                "{text:?} has host bits set: the subnet is {}/{prefix}",
                Ipv4Addr::from(u32::from(network) & subnet.mask())
            ));
        }
        Ok(subnet)
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    /// The `n`th address (`nth(1)` is `.1`), if it is a usable host
    /// address (not the network or the broadcast address).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (n >= 1 && u64::from(n) < size - 1).then(|| Ipv4Addr::from(u32::from(self.network) + n))
    }

    /// Whether `addr` lies inside.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let mask = u32::MAX << (32 - u32::from(shorter));
        u32::from(self.network) & mask == u32::from(other.network) & mask
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A broadcast domain: a region, a LAN. Its `.1` is the router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    pub subnet: Subnet,
    /// The router's address on it (`.1`), every host's gateway.
    pub router: Ipv4Addr,
}

/// What lies between two segments. Traffic between segments without a
/// `[[link]]` is routed unshaped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub between: [String; 2],
    pub shape: LinkShape,
}

/// A link's properties, the same in both directions (each direction draws
/// from its own seeded stream).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LinkShape {
    pub latency: Duration,
    pub jitter: Duration,
    /// Percent of packets lost, 0 to 100.
    pub loss_percent: f64,
    /// `None`: as fast as the machine goes.
    pub bandwidth_bits_per_sec: Option<u64>,
}

impl LinkShape {
    /// Whether packets on it need the userspace shaper at all.
    pub fn is_shaped(&self) -> bool {
        !self.latency.is_zero()
            || !self.jitter.is_zero()
            || self.loss_percent > 0.0
            || self.bandwidth_bits_per_sec.is_some()
    }
}

/// The four classic NAT types, in RFC 4787's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatType {
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    AddressRestricted,
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    PortRestricted,
    /// Address-and-port-dependent mapping (and filtering).
    Symmetric,
}

impl NatType {
    pub const ALL: [NatType; 4] = [
        NatType::FullCone,
        NatType::AddressRestricted,
        NatType::PortRestricted,
        NatType::Symmetric,
    ];

    /// The name a plan writes.
    pub fn name(self) -> &'static str {
        match self {
            NatType::FullCone => "full-cone",
            NatType::AddressRestricted => "address-restricted",
            NatType::PortRestricted => "port-restricted",
            NatType::Symmetric => "symmetric",
        }
    }

    /// Parses a plan's name.
    pub fn parse(text: &str) -> Option<NatType> {
        NatType::ALL.into_iter().find(|t| t.name() == text)
    }
}

impl fmt::Display for NatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A NAT box: a router with one address on a segment (`outside`) and a
/// private subnet behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nat {
    pub name: String,
    pub kind: NatType,
    /// The segment it sits on.
    pub outside: String,
    /// Its public address on that segment.
    pub outside_addr: Ipv4Addr,
    /// The private subnet behind it; the box is its `.1`.
    pub inside: Subnet,
    pub inside_addr: Ipv4Addr,
    /// How long an idle UDP mapping (and the filter's memory of a peer)
    /// lives.
    pub mapping_timeout: Duration,
    /// Whether a host behind the box reaches another one through the box's
    /// public address (RFC 4787 REQ-9).
    pub hairpin: bool,
}

/// A host: one namespace, with one or more addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabHost {
    pub name: String,
    pub place: HostPlace,
    /// Its addresses, the first the main one.
    pub addresses: Vec<Ipv4Addr>,
    /// Its gateway: the segment's router, or the NAT box.
    pub gateway: Ipv4Addr,
    /// The prefix of its subnet.
    pub prefix: u8,
    /// Its address on the management network: a host behind a NAT box in a
    /// lab with one (`None` otherwise).
    #[serde(default)]
    pub management: Option<Ipv4Addr>,
}

impl LabHost {
    /// Its main address.
    pub fn address(&self) -> Ipv4Addr {
        self.addresses[0]
    }
}

/// Where a host is plugged in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPlace {
    /// On a segment, with public addresses.
    Segment(String),
    /// Behind a NAT box.
    Behind(String),
}

/// The longest segment or NAT name: it becomes part of an interface name
/// (`br-<segment>`, `n-<nat>`), and Linux allows 15 bytes.
pub const MAX_NET_NAME: usize = 12;

/// The longest host name: it names a network namespace and appears in
/// file names.
pub const MAX_HOST_NAME: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let a = Subnet::parse("10.80.1.0/24").unwrap();
        assert_eq!(a.nth(1), Some(Ipv4Addr::new(10, 80, 1, 1)));
        assert_eq!(a.nth(254), Some(Ipv4Addr::new(10, 80, 1, 254)));
        assert_eq!(a.nth(255), None, "the broadcast address is no host");
        assert_eq!(a.nth(0), None);
        assert!(a.contains(Ipv4Addr::new(10, 80, 1, 77)));
        assert!(!a.contains(Ipv4Addr::new(10, 80, 2, 1)));
        let b = Subnet::parse("10.80.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&Subnet::parse("10.80.2.0/24").unwrap()));
        assert!(
            Subnet::parse("10.80.1.5/24")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(Subnet::parse("10.80.1.0/31").is_err());
        assert!(Subnet::parse("10.80.1.0").is_err());
        assert!(Subnet::parse("eu/24").is_err());
    }

    #[test]
    fn the_management_network_gives_each_host_behind_a_nat_box_an_address() {
        let lab = |extra: &str| {
            crate::load_lab_str(
                &format!(
                    "[[segment]]\nname = \"eu\"\nsubnet = \"10.80.1.0/24\"\n{extra}\n\
                     [[nat]]\nname = \"home\"\ntype = \"symmetric\"\noutside = \"eu\"\n\
                     [[host]]\nname = \"a\"\nsegment = \"eu\"\n\
                     [[host]]\nname = \"b\"\nbehind = \"home\"\n\
                     [[host]]\nname = \"c\"\nbehind = \"home\"\n"
                ),
                std::path::Path::new("lab.toml"),
            )
        };
        let spec = lab("").unwrap();
        assert!(spec.management.is_none());
        assert!(spec.hosts.iter().all(|h| h.management.is_none()));

        let spec = lab("[management]\nsubnet = \"10.80.9.0/24\"").unwrap();
        let m = spec.management.unwrap();
        assert_eq!(m.router, Ipv4Addr::new(10, 80, 9, 1));
        let of = |name: &str| spec.host(name).unwrap().management;
        assert_eq!(of("a"), None, "reached at its own address");
        assert_eq!(of("b"), Some(Ipv4Addr::new(10, 80, 9, 2)));
        assert_eq!(of("c"), Some(Ipv4Addr::new(10, 80, 9, 3)));
        // Its main addresses are the same as without it.
        assert_eq!(
            spec.host("b").unwrap().address(),
            lab("").unwrap().host("b").unwrap().address()
        );

        let err = lab("[management]\nsubnet = \"10.80.0.0/16\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("overlaps 10.80.1.0/24"), "{err}");
        let err = lab("[management]\nsubnet = \"10.80.9.0/30\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no address left"), "{err}");
        let err = lab("[management]\nsubnet = \"10.80.9.0/24\"\nhosts = 2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("hosts"), "{err}");
    }

    #[test]
    fn nat_types_round_trip_their_names() {
        for t in NatType::ALL {
            assert_eq!(NatType::parse(t.name()), Some(t));
        }
        assert_eq!(NatType::parse("cone"), None);
    }
}
