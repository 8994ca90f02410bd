//! `run_to_end`: the helper for commands run to completion (readback
//! commands, command probes, external checkers).

mod common;

use std::time::Duration;

use common::{cgroup_or_skip, eventually, with_marker};
use gauntlet_node::{LocalBackend, NodeSpec, run_to_end};

fn sh(script: &str) -> NodeSpec {
    NodeSpec::new("sh").arg("-c").arg(script)
}

#[tokio::test]
async fn collects_stdout_feeds_stdin_and_reports_the_exit() {
    let out = run_to_end(
        &LocalBackend,
        &sh("read line; echo \"got $line\"; echo oops >&2; exit 3"),
        Some(b"hello\n".to_vec()),
        Duration::from_secs(10),
        1024,
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"got hello\n");
    assert!(!out.timed_out && !out.stdout_truncated);
    assert_eq!(out.exit.termination.code(), Some(3));
    assert_eq!(out.exit.stderr_tail, vec!["oops".to_owned()]);

    let out = run_to_end(
        &LocalBackend,
        &sh("yes | head -c 5000"),
        None,
        Duration::from_secs(10),
        100,
    )
    .await
    .unwrap();
    assert_eq!(out.stdout.len(), 100);
    assert!(out.stdout_truncated);
    assert!(out.exit.success());

    let err = run_to_end(
        &LocalBackend,
        &NodeSpec::new("/nonexistent/x"),
        None,
        Duration::from_secs(1),
        0,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/x"), "{err}");
}

#[tokio::test]
async fn a_command_that_exits_but_leaves_a_pipe_holder_is_done_not_hung() {
    let out = run_to_end(
        &LocalBackend,
        &sh("sleep 4777 & echo done"),
        None,
        Duration::from_secs(30),
        1024,
    )
    .await
    .unwrap();
    assert!(!out.timed_out);
    assert!(out.exit.success(), "{}", out.exit);
    assert_eq!(out.stdout, b"done\n");
}

#[tokio::test]
async fn a_hanging_command_and_its_setsid_daemon_die_at_the_timeout() {
    let Some(_) = cgroup_or_skip("run_to_end timeout") else {
        return;
    };
    let marker = format!("GAUNTLET_RUN_TO_END_TEST={}", std::process::id());
    let mut spec = common::escaping_node(&marker);
    spec.args[1] =
        "setsid sleep 4777 </dev/null >/dev/null 2>&1 & echo partial; exec sleep 4777".into();
    let out = run_to_end(&LocalBackend, &spec, None, Duration::from_millis(500), 1024)
        .await
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.stdout, b"partial\n");
    assert_eq!(out.exit.to_string(), "killed by SIGKILL");
    eventually("nothing marked left", || with_marker(&marker).is_empty()).await;
}
