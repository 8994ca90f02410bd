//! The fleet: nodes of a `fleet.toml` reached over SSH, and the fleet
//! loop's preset on the one driver.

pub mod diagnose;
pub mod survey;

use gauntlet_plan::FleetNode;
use gauntlet_ssh::HostSpec;

/// How long a control step on a fleet node may take (a signal, a usage
/// look, a node's start) unless a command says otherwise.
pub const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The SSH connection a fleet node asks for: the one place a fleet file's
/// `SshTarget` becomes a [`HostSpec`].
pub fn host_spec(node: &FleetNode) -> HostSpec {
    let ssh = &node.ssh;
    HostSpec {
        name: node.name.clone(),
        address: ssh.address.clone(),
        fallback_address: ssh.fallback_address.clone(),
        port: ssh.port,
        user: ssh.user.clone(),
        identity: ssh.identity.clone(),
        known_hosts: ssh.known_hosts.clone(),
        connect_timeout: ssh.connect_timeout,
        command_timeout: COMMAND_TIMEOUT,
    }
}
