//! The cluster client protocol end to end through the CLI: `gauntlet bench
//! client` drives real client programs (`example-node mem-client`) and
//! every op gets an answer.

mod common;

use std::process::Command;

use common::{gauntlet, stderr};
use serde_json::Value;

#[test]
fn bench_client_runs_ops_through_client_programs() {
    let out = Command::new(gauntlet())
        .args([
            "bench",
            "client",
            "--clients",
            "1,3",
            "--seconds",
            "0.5",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(row["ops"].as_u64().unwrap() > 10, "{row}");
        // mem-client answers every op: nothing indeterminate.
        assert_eq!(row["info"], 0, "{row}");
        assert!(row["ok"].as_u64().unwrap() > 0, "{row}");
    }
}

/// The documented Python client (examples/python/etcd_client.py) against
/// a real etcd, through the same ProgramClient cluster tests use.
#[tokio::test]
async fn the_python_etcd_client_speaks_the_protocol() {
    use gauntlet_client::protocol::{Outcome, request};
    use serde_json::json;
    if !common::have("python3", "python3") {
        return;
    }
    let Some(etcd) = common::start_etcd() else {
        return;
    };
    let url = etcd.url("http");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/python/etcd_client.py");
    let spec = gauntlet_node::NodeSpec::new("python3")
        .arg(script)
        .arg("--endpoints")
        .arg(&url);
    let problems = std::sync::Arc::new(gauntlet_client::Problems::default());
    let mut client = gauntlet_client::ProgramClient::new(
        0,
        gauntlet_node::LocalBackend::shared(),
        spec,
        std::time::Duration::from_secs(5),
        problems.clone(),
    );
    let key = json!("k1");
    // etcd takes a moment to serve: wait for the first write to land.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match client
            .invoke(&request("write", Some(&key), Some(&json!(3))))
            .await
        {
            Outcome::Ok { .. } => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "etcd never took a write: {other:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        client.invoke(&request("read", Some(&key), None)).await,
        Outcome::Ok { value: json!(3) }
    );
    assert_eq!(
        client
            .invoke(&request("cas", Some(&key), Some(&json!([3, 4]))))
            .await,
        Outcome::Ok {
            value: serde_json::Value::Null
        }
    );
    assert_eq!(
        client
            .invoke(&request("cas", Some(&key), Some(&json!([3, 5]))))
            .await,
        Outcome::Fail {
            error: json!("mismatch")
        }
    );
    assert_eq!(
        client.invoke(&request("read", Some(&key), None)).await,
        Outcome::Ok { value: json!(4) }
    );
    // With etcd gone, a write cannot reach it: a definite fail, not info.
    drop(etcd);
    let out = client
        .invoke(&request("write", Some(&key), Some(&json!(1))))
        .await;
    assert!(matches!(out, Outcome::Fail { .. }), "{out:?}");
    assert!(problems.counts().is_empty(), "{:?}", problems.kept());
}

/// A cluster plan is read and checked, but `gauntlet run` does not run
/// half of it (its stages without its workload) and call that a result.
#[test]
fn run_refuses_a_cluster_plan_it_cannot_run_whole() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cluster.toml");
    std::fs::write(
        &plan,
        "[[service]]\nname = \"db\"\ncommand = \"sleep 1\"\n[workload]\nkind = \"register\"\nclient = \"./c\"\n[[check]]\nname = \"linearizable\"\n[[stage]]\nname = \"up\"\nkind = \"up\"\n",
    )
    .unwrap();
    let out = Command::new(gauntlet())
        .args(["run", plan.to_str().unwrap(), "--store"])
        .arg(dir.path().join("store"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254), "{}", stderr(&out));
    assert!(stderr(&out).contains("cluster test"), "{}", stderr(&out));
}
