//! A NAT box's nftables ruleset, per RFC 4787 type. Pure: text in, tested
//! by the RFC 5780 classification in `tests/nat.rs`.
//!
//! Linux's own NAT (`masquerade`) keeps a flow's source port when it is
//! free, so one inside socket appears under one public port whatever it
//! talks to: endpoint-independent mapping. `masquerade random` picks a
//! fresh port per flow: address-and-port-dependent mapping (symmetric).
//! Conntrack alone lets in only replies from the exact address and port a
//! flow went to: address-and-port-dependent filtering.
//!
//! The cone types need more than conntrack: a packet from someone the inside
//! host never sent to must reach it. The box remembers, as each packet goes
//! out, which inside address owns each public UDP port (`pmap`) and whom it
//! sent to (`peers`); a new packet from outside is DNATed through `pmap`
//! and then let through by the type's filter: anyone (full cone), an
//! address in `peers` (address-restricted), an address and port in `peers`
//! (port-restricted). Entries expire after the mapping timeout, as the
//! conntrack entries do (the box's UDP conntrack timeouts are set to it).
//!
//! Hairpinning: a packet from inside to the box's public address is DNATed
//! through `pmap` and SNATed to the public address, so the other inside
//! host sees its peer's public mapping. Symmetric boxes do not hairpin
//! (their mappings belong to one destination each).
//!
//! Limits, said plainly: the cone behaviour is for UDP (TCP through every
//! box filters like conntrack, address-and-port-dependent); and if two
//! inside hosts use the same source port, the second gets another public
//! port and `pmap` follows the first, so the second is reached only by
//! replies.

use std::fmt::Write;

use gauntlet_plan::lab::{Nat, NatType};

/// The box's ruleset (`nft -f -` input), table `ip gauntlet_nat`.
pub fn ruleset(nat: &Nat) -> String {
    let timeout = nat.mapping_timeout.as_secs().max(1);
    let public = nat.outside_addr;
    let inside = nat.inside;
    let mut r = String::new();
    let _ = writeln!(r, "table ip gauntlet_nat {{");
    let cone = nat.kind != NatType::Symmetric;
    if cone {
        let _ = writeln!(
            r,
            "  map pmap {{ type inet_service : ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"
        );
        match nat.kind {
            NatType::AddressRestricted => {
                let _ = writeln!(
                    r,
                    "  set peers {{ type ipv4_addr . inet_service . ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"
                );
            }
            NatType::PortRestricted => {
                let _ = writeln!(
                    r,
                    "  set peers {{ type ipv4_addr . inet_service . ipv4_addr . inet_service; flags dynamic,timeout; timeout {timeout}s; }}"
                );
            }
            _ => {}
        }
    }

    // forward: out always; back in by conntrack, or by the type's filter.
    let _ = writeln!(
        r,
        "  chain forward {{ type filter hook forward priority filter; policy drop;"
    );
    if cone {
        let remember = match nat.kind {
            NatType::AddressRestricted => " update @peers { ip saddr . udp sport . ip daddr }",
            NatType::PortRestricted => {
                " update @peers { ip saddr . udp sport . ip daddr . udp dport }"
            }
            _ => "",
        };
        let _ = writeln!(
            r,
            "    iifname \"lan\" oifname \"wan\" meta l4proto udp update @pmap {{ udp sport : ip saddr }}{remember} accept"
        );
    }
    let _ = writeln!(r, "    iifname \"lan\" oifname \"wan\" accept");
    let _ = writeln!(r, "    ct state established,related accept");
    if cone {
        let filter = match nat.kind {
            NatType::FullCone => "",
            NatType::AddressRestricted => " ip daddr . udp dport . ip saddr @peers",
            NatType::PortRestricted => " ip daddr . udp dport . ip saddr . udp sport @peers",
            NatType::Symmetric => unreachable!("not a cone"),
        };
        let _ = writeln!(
            r,
            "    iifname \"wan\" oifname \"lan\" ct status dnat meta l4proto udp{filter} accept"
        );
        if nat.hairpin {
            let _ = writeln!(
                r,
                "    iifname \"lan\" oifname \"lan\" ct status dnat accept"
            );
        }
    }
    let _ = writeln!(r, "  }}");

    let _ = writeln!(
        r,
        "  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept;"
    );
    if cone {
        let _ = writeln!(
            r,
            "    iifname \"wan\" ip daddr {public} meta l4proto udp dnat to udp dport map @pmap"
        );
        if nat.hairpin {
            let _ = writeln!(
                r,
                "    iifname \"lan\" ip daddr {public} meta l4proto udp dnat to udp dport map @pmap"
            );
        }
    }
    let _ = writeln!(r, "  }}");

    let _ = writeln!(
        r,
        "  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept;"
    );
    let random = if cone { "" } else { " random" };
    let _ = writeln!(
        r,
        "    oifname \"wan\" ip saddr {inside} masquerade{random}"
    );
    if cone && nat.hairpin {
        let _ = writeln!(
            r,
            "    oifname \"lan\" ip saddr {inside} ct status dnat snat to {public}"
        );
    }
    let _ = writeln!(r, "  }}");
    let _ = writeln!(r, "}}");
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_plan::lab::Subnet;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn nat(kind: NatType, hairpin: bool) -> Nat {
        Nat {
            name: "home".into(),
            kind,
            outside: "eu".into(),
            outside_addr: Ipv4Addr::new(10, 80, 1, 5),
            inside: Subnet::parse("192.168.0.0/24").unwrap(),
            inside_addr: Ipv4Addr::new(192, 168, 0, 1),
            mapping_timeout: Duration::from_secs(120),
            hairpin,
        }
    }

    #[test]
    fn each_type_filters_as_rfc_4787_says() {
        let full = ruleset(&nat(NatType::FullCone, false));
        assert!(
            full.contains("ct status dnat meta l4proto udp accept"),
            "{full}"
        );
        assert!(!full.contains("@peers"));
        let addr = ruleset(&nat(NatType::AddressRestricted, false));
        assert!(addr.contains("update @peers { ip saddr . udp sport . ip daddr }"));
        assert!(addr.contains("ip daddr . udp dport . ip saddr @peers accept"));
        let port = ruleset(&nat(NatType::PortRestricted, false));
        assert!(port.contains("ip daddr . udp dport . ip saddr . udp sport @peers accept"));
        let sym = ruleset(&nat(NatType::Symmetric, true));
        assert!(sym.contains("masquerade random"));
        assert!(
            !sym.contains("pmap"),
            "a symmetric box remembers no public ports"
        );
        for text in [&full, &addr, &port] {
            assert!(text.contains("masquerade\n"), "cones keep ports: {text}");
            assert!(text.contains("timeout 120s"));
        }
    }

    #[test]
    fn hairpinning_is_a_switch() {
        let on = ruleset(&nat(NatType::PortRestricted, true));
        assert!(on.contains("iifname \"lan\" ip daddr 10.80.1.5 meta l4proto udp dnat"));
        assert!(on.contains("snat to 10.80.1.5"));
        let off = ruleset(&nat(NatType::PortRestricted, false));
        assert!(!off.contains("iifname \"lan\" ip daddr"));
    }
}
