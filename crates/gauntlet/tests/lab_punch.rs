//! The network lab proved end to end with the hole-punching example
//! (examples/plans/lab-punch.toml): through cones the connectivity matrix
//! meets its thresholds; between symmetric NATs punching fails, and the
//! run holds, unless the relay is allowed. Needs root (CI runs as root).

mod common;

use std::path::Path;

use common::{Bench, stderr, stdout};
use serde_json::Value;

fn plan() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plans/lab-punch.toml")
        .display()
        .to_string()
}

/// The `matrix` summary of stage `name` in the report of `gauntlet show`.
fn matrix_of(report: &Value, name: &str) -> Value {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name}: {report}"))["summary"]
        .clone()
}

fn category<'a>(summary: &'a Value, c: &str) -> &'a Value {
    &summary["matrix"]["categories"][c]
}

#[test]
fn cones_punch_through_symmetric_nats_need_the_relay() {
    if !common::lab_allowed() {
        return;
    }
    let b = Bench::new();
    let bin = format!("bin_dir={}", b.bin_dir());
    let plan = plan();

    // Without a relay: the cones pass, the symmetric pairs hold the run.
    let out = b.gauntlet(&["run", &plan, "--set", &bin, "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let runs = b.runs();
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    let shown = b.gauntlet(&["show", &id, "--json"]);
    let report: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let cones = matrix_of(&report, "cones");
    assert_eq!(cones["verdict"], "pass", "{cones}");
    assert_eq!(category(&cones, "direct")["rate"], 100.0, "{cones}");
    assert_eq!(category(&cones, "nat-traversed")["met"], true, "{cones}");
    let sym = matrix_of(&report, "symmetric");
    assert_eq!(sym["verdict"], "fail", "{sym}");
    let pairs = sym["matrix"]["pairs"].as_array().unwrap();
    let pair = |from: &str, to: &str| {
        pairs
            .iter()
            .find(|p| p["from"] == from && p["to"] == to)
            .unwrap()
            .clone()
    };
    assert_eq!(pair("sym1", "sym2")["connected"], 0, "{sym}");
    assert_eq!(pair("sym2", "sym1")["connected"], 0, "{sym}");
    // report.html draws the matrix: categories and the coloured grid.
    let html = std::fs::read_to_string(b.artifact_dir(&runs[0]).join("report.html")).unwrap();
    assert!(
        html.contains("below threshold") && html.contains("0/2 nat-traversed"),
        "no matrix in report.html"
    );

    // With the relay: every pair connects, the symmetric ones relayed.
    let out = b.gauntlet(&[
        "run",
        &plan,
        "--set",
        &bin,
        "--set",
        "relay=--relay",
        "--quiet",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let runs = b.runs();
    let id = runs.iter().find(|r| r["state"] == "finished").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = b.gauntlet(&["show", &id, "--json"]);
    let report: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let sym = matrix_of(&report, "symmetric");
    assert_eq!(sym["verdict"], "pass", "{sym}");
    assert_eq!(category(&sym, "relayed")["rate"], 100.0, "{sym}");
}
