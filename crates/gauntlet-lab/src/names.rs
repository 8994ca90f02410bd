//! Every name a lab gives the kernel, derived from its id, so what belongs
//! to a lab can be told from its name and two labs never collide.
//!
//! Namespaces are `gt-<id>-core` (the router between segments),
//! `gt-<id>-h-<host>` and `gt-<id>-n-<nat>`. Interfaces live inside the
//! lab's namespaces only, never in the machine's own, so their names need
//! only be unique per namespace: `br-<segment>`, `h<index>` and `n-<nat>`
//! in the core, and `mgmt` and `m<index>` for the management network;
//! `wan`, `lan` and `l<index>` in a NAT box; `eth0` (and `mgmt`) in a host.

use std::fmt;

/// Every namespace name of every lab starts with this.
pub const PREFIX: &str = "gt-";

/// A lab's id: six lowercase hex digits, fresh for each lab.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabId(String);

impl LabId {
    /// A fresh random id.
    pub fn fresh() -> LabId {
        use rand::RngExt;
        let n: u32 = rand::rng().random_range(0..0x100_0000);
        LabId(format!("{n:06x}"))
    }

    /// Parses an id as `lab status` prints it.
    pub fn parse(text: &str) -> Option<LabId> {
        (text.len() == 6
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| LabId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The router's namespace.
    pub fn core(&self) -> String {
        format!("{PREFIX}{}-core", self.0)
    }

    /// A host's namespace.
    pub fn host(&self, host: &str) -> String {
        format!("{PREFIX}{}-h-{host}", self.0)
    }

    /// A NAT box's namespace.
    pub fn nat(&self, nat: &str) -> String {
        format!("{PREFIX}{}-n-{nat}", self.0)
    }

    /// The control link's end on this machine (the only interface a lab
    /// makes outside its namespaces).
    pub fn control(&self) -> String {
        format!("{PREFIX}{}", self.0)
    }

    /// Whether the namespace `name` is one of this lab's.
    pub fn owns_namespace(&self, name: &str) -> bool {
        name.strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix(self.0.as_str()))
            .is_some_and(|rest| rest.starts_with('-'))
    }
}

impl fmt::Display for LabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A segment's bridge in the core.
pub fn bridge(segment: &str) -> String {
    format!("br-{segment}")
}

/// The core's end of the `index`th host's veth.
pub fn host_port(index: usize) -> String {
    format!("h{index}")
}

/// The core's end of a NAT box's outside veth.
pub fn nat_port(nat: &str) -> String {
    format!("n-{nat}")
}

/// The management network's bridge in the core (no segment's bridge: those
/// start with `br-`), and a host's end of its management veth.
pub const MANAGEMENT: &str = "mgmt";

/// The management network's name where a network is named (the record's
/// `unrouted`): not a valid segment name, so never one of them.
pub const MANAGEMENT_NET: &str = "[management]";

/// The core's end of the `index`th host's management veth.
pub fn management_port(index: usize) -> String {
    format!("m{index}")
}

/// Inside a NAT box: the end of the `index`th host's veth.
pub fn lan_port(index: usize) -> String {
    format!("l{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_owns_only_its_own_namespaces() {
        let id = LabId::parse("00ab12").unwrap();
        assert!(id.owns_namespace(&id.core()));
        assert!(id.owns_namespace(&id.host("peer-behind-nat")));
        assert!(!id.owns_namespace("gt-00ab123-core"));
        assert!(!id.owns_namespace("gt-00ab1-core"));
        assert!(!id.owns_namespace("00ab12-core"));
        assert!(LabId::parse("00AB12").is_none());
        assert!(LabId::parse("00ab1").is_none());
        assert!(LabId::parse(LabId::fresh().as_str()).is_some());
        // The longest names fit Linux's 15-byte interface names.
        assert!(bridge(&"x".repeat(gauntlet_plan::lab::MAX_NET_NAME)).len() <= 15);
        assert!(nat_port(&"x".repeat(gauntlet_plan::lab::MAX_NET_NAME)).len() <= 15);
    }
}
