//! [`NetnsBackend`]: processes inside a network namespace of this machine
//! (a host of the network lab).
//!
//! Only the network namespace differs from [`LocalBackend`](crate::LocalBackend):
//! the child enters it (`setns`) between fork and exec, after which the
//! same cgroup, process group, death signal, stderr capture and reaping
//! apply. So everything the local backend promises (kill reaches all the
//! node started, dropping the handle kills it, `kill_all` reaches it, a
//! SIGKILLed gauntlet leaves nothing running) holds here unchanged, and the
//! process is still gauntlet's own child, so its resources are sampled the
//! same way. What the namespace adds is its own interfaces, addresses,
//! routes and firewall, which the lab builds and tears down.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::backend::{BoxFuture, Node, NodeHandle};
use crate::{Backend, Exit, NodeError, NodeProcess, NodeSpec};

/// Spawns into the network namespace at `netns` (`/run/netns/<name>`).
#[derive(Debug, Clone)]
pub struct NetnsBackend {
    netns: PathBuf,
    address: IpAddr,
}

impl NetnsBackend {
    /// A backend for the namespace at `netns`, whose nodes others reach at
    /// `address`.
    pub fn new(netns: impl Into<PathBuf>, address: IpAddr) -> Self {
        NetnsBackend {
            netns: netns.into(),
            address,
        }
    }

    /// The namespace's file.
    pub fn netns(&self) -> &Path {
        &self.netns
    }
}

impl Backend for NetnsBackend {
    fn name(&self) -> &'static str {
        "netns"
    }

    fn spawn(&self, spec: &NodeSpec) -> Result<Node, NodeError> {
        Ok(Box::new(NetnsNode {
            process: NodeProcess::spawn_in(spec, Some(&self.netns))?,
            address: self.address,
        }))
    }
}

/// A node in a namespace: a local process with the host's address.
#[derive(Debug)]
struct NetnsNode {
    process: NodeProcess,
    address: IpAddr,
}

impl NodeHandle for NetnsNode {
    fn program(&self) -> &Path {
        self.process.program()
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn address(&self) -> IpAddr {
        self.address
    }

    fn signal(&self, signal: i32) -> Result<(), NodeError> {
        self.process.signal(signal)
    }

    fn terminate(&self) -> Result<(), NodeError> {
        self.process.terminate()
    }

    fn kill(&self) -> Result<(), NodeError> {
        self.process.kill()
    }

    fn pause(&self) -> Result<(), NodeError> {
        self.process.pause()
    }

    fn resume(&self) -> Result<(), NodeError> {
        self.process.resume()
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(self.process.wait())
    }

    fn try_exit(&mut self) -> Option<Exit> {
        self.process.try_exit()
    }

    fn take_stdin(&mut self) -> Option<tokio::process::ChildStdin> {
        self.process.take_stdin()
    }

    fn take_stdout(&mut self) -> Option<tokio::process::ChildStdout> {
        self.process.take_stdout()
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.process.stderr_tail()
    }

    fn member_pids(&self) -> Vec<u32> {
        self.process.member_pids()
    }

    fn control(&self) -> std::sync::Arc<dyn crate::NodeControl> {
        std::sync::Arc::new(self.process.control())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::process::Command;

    /// A namespace of this test's own, deleted on drop (also on a panic).
    struct Ns(String);

    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    fn can_make_namespaces() -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        root && Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[tokio::test]
    #[allow(clippy::disallowed_macros, reason = "a skipped test says why")]
    async fn a_node_runs_inside_the_namespace() {
        if !can_make_namespaces() {
            eprintln!("skipped: needs root and iproute2 to make a network namespace");
            return;
        }
        let name = format!("gtnode{}", std::process::id());
        assert!(
            Command::new("ip")
                .args(["netns", "add", &name])
                .status()
                .unwrap()
                .success()
        );
        let ns = Ns(name);
        let backend = NetnsBackend::new(
            format!("/run/netns/{}", ns.0),
            Ipv4Addr::new(10, 1, 2, 3).into(),
        );
        // Inside, only `lo` exists (and it is down): the namespace's own
        // view, not the machine's.
        let spec = NodeSpec::new("sh")
            .arg("-c")
            .arg("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
        let out = crate::run_to_end(
            &backend,
            &spec,
            None,
            std::time::Duration::from_secs(10),
            4096,
        )
        .await
        .unwrap();
        assert!(out.exit.success(), "{:?}", out.exit);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "lo");

        let node = backend.spawn(&NodeSpec::new("sleep").arg("100")).unwrap();
        assert_eq!(node.address(), IpAddr::from(Ipv4Addr::new(10, 1, 2, 3)));
        let inode = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        assert_ne!(inode(node.pid()), inode(std::process::id()));
        drop(node);

        let missing =
            NetnsBackend::new("/run/netns/gauntlet-no-such-ns", Ipv4Addr::LOCALHOST.into());
        let err = missing
            .spawn(&NodeSpec::new("true"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot enter network namespace /run/netns/gauntlet-no-such-ns"),
            "{err}"
        );
    }
}
