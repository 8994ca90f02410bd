//! A cluster test leaves nothing behind when it is stopped: after a
//! Ctrl-C at once (its services, clients, lab and data directories), and
//! after a SIGKILL at the next cluster test (which sweeps what the dead
//! one left, and nothing else). Alone in its file, so no other test's lab
//! comes and goes while it counts namespaces.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_no_processes_with_marker, gauntlet, have, interrupt, lab_allowed, processes_with_marker,
    stderr,
};

fn namespaces() -> BTreeSet<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gt-"))
        .collect()
}

/// The one run directory in `store`.
fn run_dir(store: &Path) -> Option<PathBuf> {
    std::fs::read_dir(store)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('r'))
        })
}

/// Waits until the run has recorded `ops` history lines.
fn wait_for_ops(store: &Path, ops: usize) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(dir) = run_dir(store)
            && std::fs::read_to_string(dir.join("history.jsonl"))
                .is_ok_and(|h| h.lines().count() >= ops)
        {
            return dir;
        }
        assert!(Instant::now() < deadline, "the run recorded no ops");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_stopped_cluster_test_leaves_nothing_behind() {
    if !lab_allowed() || !have("redis-server", "redis-server") {
        return;
    }
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster/redis.toml");
    // Labs dead owners left earlier are not this test's to count.
    let clean = Command::new(gauntlet())
        .args(["lab", "clean"])
        .output()
        .unwrap();
    assert!(clean.status.success(), "{}", stderr(&clean));
    let before = namespaces();
    let start = |store: &Path, marker: &str| {
        Command::new(gauntlet())
            .arg("test")
            .arg(&plan)
            .args(["--store", &store.display().to_string(), "--seed", "5"])
            .env("GAUNTLET_TEST_MARKER", marker)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // Ctrl-C: interrupted at once, the history kept, everything else gone.
    let store = tempfile::tempdir().unwrap();
    let marker = format!("gauntlet-cluster-stop-{}", std::process::id());
    let child = start(store.path(), &marker);
    let dir = wait_for_ops(store.path(), 50);
    assert!(namespaces().len() > before.len(), "the lab is up");
    let out = interrupt(child);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert_no_processes_with_marker(&marker);
    assert_eq!(namespaces(), before, "the lab is down");
    assert!(!dir.join("data").exists(), "the data directories are gone");
    assert!(
        dir.join("history.jsonl").is_file(),
        "what was recorded stays"
    );

    // SIGKILL: the services and clients die with gauntlet (parent-death
    // signal, cgroups); the lab and the data stay until the next cluster
    // test sweeps them — here one that stops at a bad --replay.
    let store = tempfile::tempdir().unwrap();
    let marker = format!("gauntlet-cluster-kill-{}", std::process::id());
    let mut child = start(store.path(), &marker);
    let dir = wait_for_ops(store.path(), 50);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.join("data").exists(), "nothing removed them yet");
    let out = Command::new(gauntlet())
        .arg("test")
        .arg(&plan)
        .args([
            "--store",
            &store.path().display().to_string(),
            "--replay",
            "r-none",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("left by a cluster test whose gauntlet died"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("data").exists(), "the dead run's data is removed");
    assert_eq!(namespaces(), before, "the dead run's lab is swept");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with_marker(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_no_processes_with_marker(&marker);
}
