//! `echo_stderr` copies each stderr line, prefixed, to gauntlet's stderr.
//! Checked by re-executing this test binary as a helper and reading its
//! stderr.

use std::process::Command;

use gauntlet_node::{NodeProcess, NodeSpec};

const HELPER_ENV: &str = "GAUNTLET_NODE_ECHO_HELPER";

/// Only does something when run as the helper.
#[test]
fn helper_runs_a_chatty_node() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut spec = NodeSpec::new("sh")
            .arg("-c")
            .arg("echo one >&2; echo two >&2");
        spec.echo_stderr = Some("[n1] ".into());
        let exit = NodeProcess::spawn(&spec).unwrap().wait().await;
        assert!(exit.success());
        spec.echo_stderr = Some("n2".into());
        let exit = NodeProcess::spawn(&spec).unwrap().wait().await;
        assert!(exit.success());
    });
}

#[test]
fn stderr_lines_are_echoed_with_the_prefix() {
    if std::env::var_os(HELPER_ENV).is_some() {
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_runs_a_chatty_node", "--nocapture"])
        .env(HELPER_ENV, "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[n1] one\n[n1] two\n"), "{stderr}");
    assert!(stderr.contains("n2 one\nn2 two\n"), "{stderr}");
}
