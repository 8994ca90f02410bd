//! Containment by cgroup: what escapes the process group (`setsid`) still
//! dies with the node, and a SIGKILLed gauntlet's leftovers are swept by the
//! next one. Real processes, found by a marker in their environment.

// Prints a helper process's report (cgroup, pgid) to the test that
// re-executes it. The ban on print macros (clippy.toml) guards gauntlet's own
// output, not its tests'.
#![allow(clippy::disallowed_macros)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{
    cgroup_or_skip, escapee, escaping_node, eventually, eventually_blocking, stat, with_marker,
};
use gauntlet_node::{NodeProcess, NodeSpec, sweep_dead_owners};

fn marker(test: &str) -> String {
    format!("GAUNTLET_CONTAINMENT_TEST={test}-{}", std::process::id())
}

#[tokio::test]
async fn kill_kills_a_setsid_escapee_and_removes_the_cgroup() {
    let Some(_) = cgroup_or_skip("kill") else {
        return;
    };
    let marker = marker("kill");
    let mut node = NodeProcess::spawn(&escaping_node(&marker)).unwrap();
    let pgid = node.pgid();
    let cgroup = node.cgroup().expect("a node has its own cgroup").to_owned();
    eventually("the escapee left the group", || {
        escapee(&marker, pgid).is_some()
    })
    .await;
    let members = node.member_pids();
    assert!(
        members.len() >= 2,
        "node and escapee in its cgroup: {members:?}"
    );

    node.kill().unwrap();
    assert_eq!(node.wait().await.to_string(), "killed by SIGKILL");
    eventually("no marked process left", || with_marker(&marker).is_empty()).await;
    eventually("node cgroup removed", || !cgroup.exists()).await;
}

/// The control a supervisor keeps while another task waits on the node:
/// its kill and pause reach an escapee as the handle's do, and once the
/// node is reaped it signals nothing (the group id may be someone else's).
#[tokio::test]
async fn a_control_kills_and_pauses_the_whole_node_and_nothing_after_the_reap() {
    use gauntlet_node::NodeHandle;
    let Some(_) = cgroup_or_skip("control") else {
        return;
    };
    let marker = marker("control");
    let mut node = NodeProcess::spawn(&escaping_node(&marker)).unwrap();
    let pgid = node.pgid();
    let control = NodeHandle::control(&node);
    eventually("the escapee left the group", || {
        escapee(&marker, pgid).is_some()
    })
    .await;
    assert!(control.member_pids().len() >= 2, "node and escapee");

    control.pause().unwrap();
    eventually("every process of the node stopped (T)", || {
        with_marker(&marker)
            .into_iter()
            .filter_map(stat)
            .all(|p| matches!(p.state, 'T' | 'Z'))
    })
    .await;
    control.resume().unwrap();
    control.signal(libc::SIGKILL).unwrap();
    assert_eq!(node.wait().await.to_string(), "killed by SIGKILL");
    eventually("no marked process left", || with_marker(&marker).is_empty()).await;

    assert!(control.member_pids().is_empty(), "a reaped node has none");
    control.signal(libc::SIGTERM).unwrap();
    control.pause().unwrap();
}

#[tokio::test]
async fn drop_kills_a_setsid_escapee() {
    let Some(_) = cgroup_or_skip("drop") else {
        return;
    };
    let marker = marker("drop");
    let node = NodeProcess::spawn(&escaping_node(&marker)).unwrap();
    let pgid = node.pgid();
    let cgroup = node.cgroup().unwrap().to_owned();
    eventually("the escapee left the group", || {
        escapee(&marker, pgid).is_some()
    })
    .await;
    drop(node);
    eventually("no marked process left", || with_marker(&marker).is_empty()).await;
    eventually("node cgroup removed", || !cgroup.exists()).await;
}

#[tokio::test]
async fn an_escapee_dies_when_its_node_exits_by_itself() {
    let Some(_) = cgroup_or_skip("exit") else {
        return;
    };
    let marker = marker("exit");
    let (name, value) = marker.split_once('=').unwrap();
    let mut spec = NodeSpec::new("sh")
        .arg("-c")
        .arg("setsid sleep 4777 </dev/null >/dev/null 2>&1 & sleep 0.3");
    spec.env.push((name.into(), value.into()));
    let mut node = NodeProcess::spawn(&spec).unwrap();
    eventually("the escapee started", || {
        escapee(&marker, node.pgid()).is_some()
    })
    .await;
    assert_eq!(node.wait().await.to_string(), "exited with code 0");
    eventually("no marked process left", || with_marker(&marker).is_empty()).await;
}

const HELPER_ENV: &str = "GAUNTLET_NODE_OWNER_HELPER";

/// Only does something when re-executed as the helper: a gauntlet-like
/// owner that spawns an escaping node, says where, and waits to be killed.
#[test]
fn helper_owner_spawns_an_escaping_node_and_waits() {
    let Some(marker) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let node = NodeProcess::spawn(&escaping_node(marker.to_str().unwrap())).unwrap();
    println!("CGROUP={}", node.cgroup().unwrap().display());
    println!("PGID={}", node.pgid());
    loop {
        std::thread::park();
    }
}

#[test]
fn the_next_gauntlet_sweeps_what_a_sigkilled_one_left() {
    if std::env::var_os(HELPER_ENV).is_some() {
        return;
    }
    let Some(_) = cgroup_or_skip("sweep") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    // This process is a live owner too: its node must survive the sweep.
    let live_marker = marker("sweep-live");
    let mut live = NodeProcess::spawn(&escaping_node(&live_marker)).unwrap();
    let live_cgroup = live.cgroup().unwrap().to_owned();

    let dead_marker = marker("sweep-dead");
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_owner_spawns_an_escaping_node_and_waits",
            "--nocapture",
        ])
        .env(HELPER_ENV, &dead_marker)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(helper.stdout.take().unwrap()).lines();
    // libtest may print "test NAME ... " on the same line first.
    let mut field = |key: &str| loop {
        let line = lines.next().expect("helper output").unwrap();
        if let Some(at) = line.find(key) {
            return line[at + key.len()..].trim().to_owned();
        }
    };
    let node_cgroup = std::path::PathBuf::from(field("CGROUP="));
    let pgid: i32 = field("PGID=").parse().unwrap();
    let owner_cgroup = node_cgroup.parent().unwrap().to_owned();
    assert!(
        owner_cgroup
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&format!("{}-", helper.id())),
        "owner cgroup {} is named <pid>-<starttime>",
        owner_cgroup.display()
    );
    eventually_blocking("the helper's escapee left its group", || {
        escapee(&dead_marker, pgid).is_some()
    });

    helper.kill().unwrap();
    helper.wait().unwrap();
    // PDEATHSIG took the node; the daemonised grandchild lives on.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        escapee(&dead_marker, pgid).is_some(),
        "the escapee should outlive its SIGKILLed owner until a sweep"
    );
    assert!(owner_cgroup.exists());

    let sweep = sweep_dead_owners();
    assert!(sweep.failed.is_empty(), "{sweep:?}");
    assert!(sweep.removed.contains(&owner_cgroup), "{sweep:?}");
    eventually_blocking("the dead owner's escapee is gone", || {
        with_marker(&dead_marker).is_empty()
    });
    assert!(!owner_cgroup.exists(), "dead owner's cgroup removed");

    // The live owner (this process) was not touched.
    assert!(live_cgroup.exists());
    assert!(live.try_exit().is_none(), "the live node still runs");
    assert!(
        with_marker(&live_marker).len() >= 2,
        "live node and its escapee still run"
    );
    drop(live);
    eventually_blocking("live node gone after drop", || {
        with_marker(&live_marker).is_empty()
    });
}

/// The size of `path`, 0 while it does not exist.
fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[tokio::test]
async fn a_pause_stops_a_setsid_escapee_too_and_resume_continues_it() {
    let Some(_) = cgroup_or_skip("pause") else {
        return;
    };
    let marker = marker("pause");
    let dir = tempfile::tempdir().unwrap();
    let ticks = dir.path().join("ticks");
    let (name, value) = marker.split_once('=').unwrap();
    // The escapee appends a byte every 20 ms: it is running while the file
    // grows.
    let mut spec = NodeSpec::new("sh").arg("-c").arg(format!(
        "setsid sh -c 'while :; do printf x >> {}; sleep 0.02; done' </dev/null >/dev/null 2>&1 & exec sleep 1000",
        ticks.display()
    ));
    spec.env.push((name.into(), value.into()));
    let mut node = NodeProcess::spawn(&spec).unwrap();
    eventually("the escapee ticks", || size(&ticks) > 3).await;

    node.pause().unwrap();
    eventually(
        "every process of the node, escapee included, stopped (T)",
        || {
            with_marker(&marker)
                .into_iter()
                .filter_map(stat)
                .all(|p| matches!(p.state, 'T' | 'Z'))
        },
    )
    .await;
    // And the escapee does no work while stopped: the file stops growing.
    let mut last = size(&ticks);
    let mut still = 0;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let now = size(&ticks);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still >= 6 {
            break;
        }
    }
    assert!(
        still >= 6,
        "the escapee kept ticking while its node was paused"
    );

    node.resume().unwrap();
    eventually("no process of the node stopped", || {
        with_marker(&marker)
            .into_iter()
            .filter_map(stat)
            .all(|p| p.state != 'T')
    })
    .await;
    eventually("the escapee ticks again", || size(&ticks) > last + 3).await;

    // A paused node still dies whole.
    node.pause().unwrap();
    node.kill().unwrap();
    assert_eq!(node.wait().await.to_string(), "killed by SIGKILL");
    eventually("no marked process left", || with_marker(&marker).is_empty()).await;
}
