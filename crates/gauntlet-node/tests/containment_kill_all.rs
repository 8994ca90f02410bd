//! `kill_all` kills through the run cgroup: a `setsid` escapee dies too. Its
//! own test binary, because `kill_all` kills every node of the process.

mod common;

use common::{cgroup_or_skip, escapee, escaping_node, eventually, with_marker};
use gauntlet_node::{NodeProcess, kill_all};

#[tokio::test]
async fn kill_all_kills_setsid_escapees() {
    let Some(run) = cgroup_or_skip("kill_all") else {
        return;
    };
    let marker = format!("GAUNTLET_CONTAINMENT_TEST=kill-all-{}", std::process::id());
    let mut node = NodeProcess::spawn(&escaping_node(&marker)).unwrap();
    assert!(node.cgroup().unwrap().starts_with(&run));
    eventually("the escapee left the group", || {
        escapee(&marker, node.pgid()).is_some()
    })
    .await;
    kill_all();
    assert_eq!(node.wait().await.to_string(), "killed by SIGKILL");
    eventually("no marked process left", || with_marker(&marker).is_empty()).await;
}
