//! The process-wide registry. Its own test binary, because `kill_all` and
//! `shutdown` would kill the nodes of tests running alongside.

mod common;

use common::{eventually, leftovers, live_members, sh_with_grandchild};
use gauntlet_node::{NodeError, NodeProcess, NodeSpec, kill_all, live_groups, shutdown};

#[tokio::test]
async fn kill_all_kills_every_registered_group_and_shutdown_refuses_new_ones() {
    let mut nodes = vec![
        NodeProcess::spawn(&NodeSpec::new("sleep").arg("1000")).unwrap(),
        NodeProcess::spawn(&NodeSpec::new("cat")).unwrap(),
        NodeProcess::spawn(&sh_with_grandchild()).unwrap(),
    ];
    let pgids: Vec<i32> = nodes.iter().map(|n| n.pid() as i32).collect();
    let mut live = live_groups();
    live.sort();
    let mut expected = pgids.clone();
    expected.sort();
    assert_eq!(live, expected);
    eventually("grandchild started", || live_members(pgids[2]).len() == 3).await;

    assert_eq!(kill_all(), 3);
    for node in &mut nodes {
        assert_eq!(node.wait().await.to_string(), "killed by SIGKILL");
    }
    for &pgid in &pgids {
        eventually("group gone", || leftovers(pgid).is_empty()).await;
    }
    assert!(live_groups().is_empty());

    // After shutdown nothing new starts, and what lives is killed.
    let mut survivor = NodeProcess::spawn(&NodeSpec::new("sleep").arg("1000")).unwrap();
    assert_eq!(shutdown(), 1);
    assert_eq!(survivor.wait().await.to_string(), "killed by SIGKILL");
    let err = NodeProcess::spawn(&NodeSpec::new("sleep").arg("1000")).unwrap_err();
    assert!(matches!(err, NodeError::ShuttingDown { .. }), "{err}");
    assert!(live_groups().is_empty());
}
