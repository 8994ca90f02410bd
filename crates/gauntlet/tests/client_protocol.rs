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
