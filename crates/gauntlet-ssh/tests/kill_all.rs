//! `gauntlet_node::kill_all` (what Ctrl-C, a panic and the exit of
//! gauntlet call) reaches the nodes on hosts too: it kills the local
//! `ssh` of each connection's keeper, whose end the keeper on the host
//! sees, and it kills every group of its run directory. A binary of its
//! own: `kill_all` kills every node of the process.

use std::time::Duration;

use gauntlet_node::{Backend, NodeSpec};
use gauntlet_ssh::testing::{eventually, marker, pids_with_env, sshd};
use gauntlet_ssh::{Host, SshBackend};

#[tokio::test]
async fn kill_all_reaches_the_nodes_on_a_host() {
    let Some(sshd) = sshd() else { return };
    let host = Host::connect(sshd.spec("everything"))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd said: {}", sshd.log()));
    let backend = SshBackend::new(host.clone());
    let (key, value) = marker("kill-all");
    let entry = format!("{key}={value}");
    let mut spec = NodeSpec::new("sh")
        .arg("-c")
        .arg("sleep 300 & sleep 300 & wait");
    spec.env.push((key.into(), value.into()));
    let mut nodes: Vec<_> = (0..3).map(|_| backend.spawn(&spec).unwrap()).collect();
    let nine = eventually(Duration::from_secs(5), || pids_with_env(&entry).len() == 9).await;
    assert!(nine, "{:?}", pids_with_env(&entry));
    gauntlet_node::kill_all();
    assert!(
        eventually(Duration::from_secs(5), || pids_with_env(&entry).is_empty()).await,
        "left on the host: {:?}",
        pids_with_env(&entry)
    );
    for node in &mut nodes {
        tokio::time::timeout(Duration::from_secs(5), node.wait())
            .await
            .expect("each node's end is seen");
    }
    assert!(!host.is_connected());
}
