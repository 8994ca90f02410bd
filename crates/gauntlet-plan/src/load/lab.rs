//! `[[segment]]`, `[[link]]`, `[[nat]]`, `[[host]]` → a [`LabSpec`] with
//! every address handed out (see [`crate::lab`] for the order).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use toml::Spanned;

use super::Cx;
use crate::error::PlanError;
use crate::lab::{
    HostPlace, LabHost, LabSpec, Link, LinkShape, MAX_HOST_NAME, MAX_NET_NAME, Management, Nat,
    NatType, Segment, Subnet,
};
use crate::raw::{RawHost, RawLab, RawLink, RawNat};

/// RFC 4787 REQ-5: a UDP mapping lives at least two minutes.
const DEFAULT_MAPPING_TIMEOUT: Duration = Duration::from_secs(120);

impl Cx<'_> {
    /// The lab, or `None` when the plan has none of its tables.
    pub(super) fn lab(&self, raw: &RawLab<'_>) -> Result<Option<LabSpec>, PlanError> {
        if raw.segment.is_empty()
            && raw.link.is_empty()
            && raw.nat.is_empty()
            && raw.host.is_empty()
        {
            return Ok(None);
        }
        let mut names = BTreeSet::new();
        let mut taken: Vec<(Subnet, String)> = Vec::new();
        let mut segments = Vec::new();
        for raw_segment in raw.segment {
            let s = raw_segment.get_ref();
            self.net_name(&s.name, "segment", &mut names)?;
            let subnet = Subnet::parse(s.subnet.get_ref())
                .map_err(|m| self.err(s.subnet.span(), format!("`subnet`: {m}")))?;
            self.no_overlap(&taken, subnet, &s.subnet)?;
            taken.push((subnet, format!("segment {:?}", s.name.get_ref())));
            segments.push(Segment {
                name: s.name.get_ref().clone(),
                subnet,
                router: subnet.nth(1).expect("a /30 or wider has a .1"),
            });
        }
        if segments.is_empty() {
            let span = raw
                .host
                .first()
                .map(Spanned::span)
                .or_else(|| raw.nat.first().map(Spanned::span))
                .or_else(|| raw.link.first().map(Spanned::span))
                .unwrap_or(0..0);
            return Err(self.err(
                span,
                "the lab has no [[segment]]: every host and NAT box needs one to stand on",
            ));
        }
        let links = self.links(raw.link, &segments)?;
        // Before the NAT boxes, so a default inside subnet never takes it.
        let management = match raw.management {
            None => None,
            Some(m) => {
                let text = &m.get_ref().subnet;
                let subnet = Subnet::parse(text.get_ref())
                    .map_err(|e| self.err(text.span(), format!("`subnet`: {e}")))?;
                self.no_overlap(&taken, subnet, text)?;
                taken.push((subnet, "the management network".to_owned()));
                Some((
                    Management {
                        subnet,
                        router: subnet.nth(1).expect("a /30 or wider has a .1"),
                    },
                    text,
                ))
            }
        };

        // Hosts on segments take their addresses first, in file order, so
        // the first host of a segment is always `.2`.
        let mut next: BTreeMap<String, u32> =
            segments.iter().map(|s| (s.name.clone(), 2)).collect();
        let mut hosts: Vec<Option<LabHost>> = Vec::new();
        let mut host_names = BTreeSet::new();
        for raw_host in raw.host {
            let h = raw_host.get_ref();
            self.host_name(&h.name, &mut host_names, &names)?;
            let count = self.address_count(h)?;
            match (&h.segment, &h.behind) {
                (Some(segment), None) => {
                    let seg = segments
                        .iter()
                        .find(|s| &s.name == segment.get_ref())
                        .ok_or_else(|| {
                            self.unknown(segment, "segment", segments.iter().map(|s| &s.name))
                        })?;
                    let addresses = self.take(
                        seg.subnet,
                        next.get_mut(&seg.name).expect("every segment"),
                        count,
                        segment,
                    )?;
                    hosts.push(Some(LabHost {
                        name: h.name.get_ref().clone(),
                        place: HostPlace::Segment(seg.name.clone()),
                        addresses,
                        gateway: seg.router,
                        prefix: seg.subnet.prefix,
                        management: None,
                    }));
                }
                (None, Some(_)) => hosts.push(None), // after the NAT boxes
                (Some(segment), Some(_)) => {
                    return Err(self.err(
                        segment.span(),
                        "a host is either on a `segment` or `behind` a NAT box, not both",
                    ));
                }
                (None, None) => {
                    return Err(self.err(
                        h.name.span(),
                        format!(
                            "host {:?} needs `segment = \"…\"` or `behind = \"<nat>\"`",
                            h.name.get_ref()
                        ),
                    ));
                }
            }
        }

        let mut nats = Vec::new();
        for (index, raw_nat) in raw.nat.iter().enumerate() {
            let nat = self.nat(raw_nat, index, &segments, &mut next, &mut taken, &mut names)?;
            nats.push(nat);
        }
        let mut behind_next: BTreeMap<String, u32> =
            nats.iter().map(|n| (n.name.clone(), 2)).collect();
        for (slot, raw_host) in hosts.iter_mut().zip(raw.host) {
            if slot.is_some() {
                continue;
            }
            let h = raw_host.get_ref();
            let behind = h.behind.as_ref().expect("only hosts behind a NAT are left");
            let nat = nats
                .iter()
                .find(|n| &n.name == behind.get_ref())
                .ok_or_else(|| self.unknown(behind, "NAT box", nats.iter().map(|n| &n.name)))?;
            let count = self.address_count(h)?;
            let addresses = self.take(
                nat.inside,
                behind_next.get_mut(&nat.name).expect("every NAT"),
                count,
                behind,
            )?;
            *slot = Some(LabHost {
                name: h.name.get_ref().clone(),
                place: HostPlace::Behind(nat.name.clone()),
                addresses,
                gateway: nat.inside_addr,
                prefix: nat.inside.prefix,
                management: None,
            });
        }
        let mut hosts: Vec<LabHost> = hosts
            .into_iter()
            .map(|h| h.expect("every host placed"))
            .collect();
        if let Some((m, text)) = &management {
            // Every host behind a NAT box, in file order, from `.2` (this
            // machine reaches the others at their addresses).
            let mut next = 2;
            for host in hosts
                .iter_mut()
                .filter(|h| matches!(h.place, HostPlace::Behind(_)))
            {
                host.management = Some(self.take(m.subnet, &mut next, 1, text)?[0]);
            }
        }
        Ok(Some(LabSpec {
            segments,
            links,
            nats,
            hosts,
            management: management.map(|(m, _)| m),
        }))
    }

    fn links(
        &self,
        raw: &[Spanned<RawLink>],
        segments: &[Segment],
    ) -> Result<Vec<Link>, PlanError> {
        let mut links: Vec<Link> = Vec::new();
        for raw_link in raw {
            let l = raw_link.get_ref();
            let ends = l.between.get_ref();
            if ends.len() != 2 {
                return Err(self.err(
                    l.between.span(),
                    "`between` names two segments: between = [\"eu\", \"asia\"]",
                ));
            }
            for end in ends {
                if !segments.iter().any(|s| &s.name == end.get_ref()) {
                    return Err(self.unknown(end, "segment", segments.iter().map(|s| &s.name)));
                }
            }
            let (a, b) = (ends[0].get_ref().clone(), ends[1].get_ref().clone());
            if a == b {
                return Err(self.err(l.between.span(), "a link joins two different segments"));
            }
            if links
                .iter()
                .any(|k| k.between.contains(&a) && k.between.contains(&b))
            {
                return Err(self.err(
                    l.between.span(),
                    format!("a second [[link]] between {a:?} and {b:?}"),
                ));
            }
            let latency = self.duration_or(l.latency.as_ref(), "latency", Duration::ZERO)?;
            let jitter = self.duration_or(l.jitter.as_ref(), "jitter", Duration::ZERO)?;
            let loss_percent = match &l.loss {
                None => 0.0,
                Some(v) => loss_percent(self, v)?,
            };
            let bandwidth_bits_per_sec = match &l.bandwidth {
                None => None,
                Some(b) => Some(
                    parse_bandwidth(b.get_ref())
                        .map_err(|m| self.err(b.span(), format!("`bandwidth`: {m}")))?,
                ),
            };
            links.push(Link {
                between: [a, b],
                shape: LinkShape {
                    latency,
                    jitter,
                    loss_percent,
                    bandwidth_bits_per_sec,
                },
            });
        }
        Ok(links)
    }

    #[allow(clippy::too_many_arguments)]
    fn nat(
        &self,
        raw: &Spanned<RawNat>,
        index: usize,
        segments: &[Segment],
        next: &mut BTreeMap<String, u32>,
        taken: &mut Vec<(Subnet, String)>,
        names: &mut BTreeSet<String>,
    ) -> Result<Nat, PlanError> {
        let n = raw.get_ref();
        self.net_name(&n.name, "NAT box", names)?;
        let kind = NatType::parse(n.kind.get_ref()).ok_or_else(|| {
            self.err(
                n.kind.span(),
                format!(
                    "unknown NAT type {:?}: full-cone, address-restricted, port-restricted or symmetric",
                    n.kind.get_ref()
                ),
            )
        })?;
        let seg = segments
            .iter()
            .find(|s| &s.name == n.outside.get_ref())
            .ok_or_else(|| self.unknown(&n.outside, "segment", segments.iter().map(|s| &s.name)))?;
        let outside_addr = self.take(
            seg.subnet,
            next.get_mut(&seg.name).expect("every segment"),
            1,
            &n.outside,
        )?[0];
        let inside = match &n.inside {
            Some(text) => {
                let subnet = Subnet::parse(text.get_ref())
                    .map_err(|m| self.err(text.span(), format!("`inside`: {m}")))?;
                self.no_overlap(taken, subnet, text)?;
                subnet
            }
            None => default_inside(index, taken).ok_or_else(|| {
                self.err(
                    n.name.span(),
                    "no free 192.168.x.0/24 is left for this NAT box's inside: give it `inside = \"…\"`",
                )
            })?,
        };
        taken.push((
            inside,
            format!("the inside of NAT box {:?}", n.name.get_ref()),
        ));
        let mapping_timeout = self.duration_or(
            n.mapping_timeout.as_ref(),
            "mapping_timeout",
            DEFAULT_MAPPING_TIMEOUT,
        )?;
        if mapping_timeout < Duration::from_secs(1) {
            let span = n.mapping_timeout.as_ref().map_or(0..0, Spanned::span);
            return Err(self.err(span, "`mapping_timeout` must be at least 1s"));
        }
        Ok(Nat {
            name: n.name.get_ref().clone(),
            kind,
            outside: seg.name.clone(),
            outside_addr,
            inside,
            inside_addr: inside.nth(1).expect("a /30 or wider has a .1"),
            mapping_timeout,
            hairpin: n.hairpin.unwrap_or(true),
        })
    }

    /// Segment and NAT names: they become parts of interface names.
    fn net_name(
        &self,
        name: &Spanned<String>,
        what: &str,
        names: &mut BTreeSet<String>,
    ) -> Result<(), PlanError> {
        let n = name.get_ref();
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(self.err(
                name.span(),
                format!("invalid {what} name {n:?}: use letters, digits and '-'"),
            ));
        }
        if n.len() > MAX_NET_NAME {
            return Err(self.err(
                name.span(),
                format!(
                    "{what} name {n:?} is too long for an interface name: at most {MAX_NET_NAME} characters (Linux allows 15, and the lab adds a prefix)"
                ),
            ));
        }
        if !names.insert(n.clone()) {
            return Err(self.err(
                name.span(),
                format!("a second segment or NAT box called {n:?}"),
            ));
        }
        Ok(())
    }

    fn host_name(
        &self,
        name: &Spanned<String>,
        hosts: &mut BTreeSet<String>,
        nets: &BTreeSet<String>,
    ) -> Result<(), PlanError> {
        let n = name.get_ref();
        if n.is_empty()
            || n.len() > MAX_HOST_NAME
            || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(self.err(
                name.span(),
                format!("invalid host name {n:?}: 1 to {MAX_HOST_NAME} letters, digits and '-'"),
            ));
        }
        if !hosts.insert(n.clone()) {
            return Err(self.err(name.span(), format!("a second host called {n:?}")));
        }
        let _ = nets; // hosts and networks live in separate name spaces
        Ok(())
    }

    fn address_count(&self, h: &RawHost) -> Result<u32, PlanError> {
        match &h.addresses {
            None => Ok(1),
            Some(n) if (1..=16).contains(n.get_ref()) => Ok(*n.get_ref() as u32),
            Some(n) => Err(self.err(n.span(), "`addresses` is from 1 to 16")),
        }
    }

    /// The next `count` addresses of `subnet`.
    fn take(
        &self,
        subnet: Subnet,
        next: &mut u32,
        count: u32,
        at: &Spanned<String>,
    ) -> Result<Vec<Ipv4Addr>, PlanError> {
        let mut out = Vec::new();
        for _ in 0..count {
            let addr = subnet.nth(*next).ok_or_else(|| {
                self.err(at.span(), format!("{subnet} has no address left for this"))
            })?;
            out.push(addr);
            *next += 1;
        }
        Ok(out)
    }

    fn no_overlap(
        &self,
        taken: &[(Subnet, String)],
        subnet: Subnet,
        at: &Spanned<String>,
    ) -> Result<(), PlanError> {
        match taken.iter().find(|(t, _)| t.overlaps(&subnet)) {
            Some((other, whose)) => {
                Err(self.err(at.span(), format!("{subnet} overlaps {other} of {whose}")))
            }
            None => Ok(()),
        }
    }

    /// The host of `lab` that `name` names, or an error at `name` listing
    /// the lab's hosts.
    pub(super) fn lab_host<'l>(
        &self,
        lab: &'l LabSpec,
        name: &Spanned<String>,
    ) -> Result<&'l LabHost, PlanError> {
        lab.host(name.get_ref())
            .ok_or_else(|| self.unknown(name, "lab host", lab.hosts.iter().map(|h| &h.name)))
    }

    fn unknown<'n>(
        &self,
        name: &Spanned<String>,
        what: &str,
        known: impl Iterator<Item = &'n String>,
    ) -> PlanError {
        let known: Vec<&str> = known.map(String::as_str).collect();
        self.err(
            name.span(),
            format!(
                "no {what} called {:?} (the lab has: {})",
                name.get_ref(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        )
    }
}

/// `loss`: a percentage from 0 to 100, integer or not.
pub(super) fn loss_percent(cx: &Cx<'_>, v: &Spanned<toml::Value>) -> Result<f64, PlanError> {
    let p = match v.get_ref() {
        toml::Value::Float(f) => *f,
        toml::Value::Integer(i) => *i as f64,
        other => {
            return Err(cx.err(
                v.span(),
                format!(
                    "`loss` is a percentage such as 0.5, not {}",
                    other.type_str()
                ),
            ));
        }
    };
    if !(0.0..=100.0).contains(&p) {
        return Err(cx.err(v.span(), "`loss` is a percentage from 0 to 100"));
    }
    Ok(p)
}

/// `192.168.<n>.0/24` for the `index`th NAT box, skipping any that is
/// already taken.
fn default_inside(index: usize, taken: &[(Subnet, String)]) -> Option<Subnet> {
    (index..=255).find_map(|n| {
        let subnet = Subnet {
            network: Ipv4Addr::new(192, 168, n as u8, 0),
            prefix: 24,
        };
        (!taken.iter().any(|(t, _)| t.overlaps(&subnet))).then_some(subnet)
    })
}

/// `"50mbit"` → 50,000,000 bits/s. tc's units: `bit`, `kbit`, `mbit`,
/// `gbit` (powers of 1000). tc's `kbps`/`mbps` mean *bytes* per second,
/// which is a trap; they are refused with a hint.
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: f64 = match unit.trim() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        u if u.ends_with("bps") => {
            return Err(format!(
                "{text:?}: write bits per second (\"50mbit\"); `{u}` is ambiguous (tc reads it as bytes)"
            ));
        }
        _ => {
            return Err(format!(
                "{text:?} is not a bandwidth: a number and bit, kbit, mbit or gbit (\"50mbit\")"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a bandwidth: no number before the unit"))?;
    let bits = value * factor;
    if !(1000.0..=1e12).contains(&bits) {
        return Err(format!("{text:?} is out of range: from 1kbit to 1000gbit"));
    }
    Ok(bits as u64)
}
