//! The proof bundle a fleet loop hands over: `proof/` in the run's
//! directory, written from the store whenever the loop stops (complete,
//! failed, held or interrupted), so it says what is true at that moment.
//!
//! - `PROOF.md`: the verdict and why, the nodes (role, region, NAT,
//!   degraded), every phase with its outcome, each build's commit and
//!   sha256, each test's figures, and the commands that show the rest.
//! - `proof.json`: the same, for machines.
//! - `logs/` (proof `logs` and `all-evidence`): every node's service log.
//! - `phases/`, `evidence/` (proof `all-evidence`): every suite's output,
//!   every build log, what each fix hook was given.
//! - `SHA256SUMS`: every file of the bundle, as `sha256sum -c` reads it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gauntlet_plan::Proof;
use gauntlet_store::{RunId, Store};
use serde_json::{Value, json};

use super::phases::{copy_tree, sha256_file};
use crate::{PipelineError, io_err};

/// The bundle's directory in the run's directory.
pub const PROOF_DIR: &str = "proof";

/// Writes the bundle; returns `PROOF.md`'s path.
pub(super) fn write(
    store: &Store,
    run: &RunId,
    proof: Proof,
) -> Result<Vec<PathBuf>, PipelineError> {
    let run_dir = store.artifact_dir(run);
    let dir = run_dir.join(PROOF_DIR);
    // A resumed loop writes it afresh.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let r = store.run(run.as_str())?;
    let plan = super::resolved_loop(store, run)?;
    let stages = store.stages(run)?;

    let mut phases = Vec::new();
    for s in &stages {
        let a = s.current();
        let summary = a.summary.clone().unwrap_or(Value::Null);
        phases.push(json!({
            "name": s.name, "kind": s.kind, "state": a.state.as_str(),
            "attempt": a.attempt, "started_at": a.started_at, "ended_at": a.ended_at,
            "message": a.message, "ended": summary.get("ended"),
            "commit": summary.get("commit"), "sha256": summary.get("sha256"),
            "nodes": summary.get("nodes"), "reasons": summary.get("reasons"),
        }));
    }
    // The nodes the setup found unreachable, skipped by the loop.
    let degraded: Vec<String> = stages
        .iter()
        .filter(|s| s.kind == "setup")
        .filter_map(|s| s.current().summary.as_ref())
        .flat_map(|summary| summary["degraded"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let project = plan.project();
    let nodes: Vec<Value> = project
        .nodes
        .iter()
        .filter_map(|n| plan.fleet.node(n))
        .map(|n| {
            json!({
                "name": n.name, "role": n.role, "region": n.region, "nat": n.nat_word(),
                "address": n.ssh.address, "degraded": degraded.contains(&n.name),
            })
        })
        .collect();
    let verdict = match (r.state.as_str(), r.result) {
        ("finished", Some(gauntlet_store::Validity::Valid)) => "pass".to_owned(),
        ("finished", Some(gauntlet_store::Validity::Invalid)) => "fail".to_owned(),
        ("finished", _) => "unknown".to_owned(),
        (state, _) => state.to_owned(),
    };
    let doc = json!({
        "run": r.id.as_str(), "project": project.name, "fleet": plan.fleet.path,
        "focus": plan.choices.focus, "criteria": plan.choices.criteria.word(),
        "proof": proof.word(), "state": r.state.as_str(), "verdict": verdict,
        "message": r.message, "nodes": nodes, "phases": phases,
        "command_line": r.command_line,
    });
    let json_path = dir.join("proof.json");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(io_err(&json_path))?;
    let md_path = dir.join("PROOF.md");
    std::fs::write(&md_path, markdown(&doc)).map_err(io_err(&md_path))?;

    let mut copied = Vec::new();
    if matches!(proof, Proof::Logs | Proof::AllEvidence) {
        copy_tree(
            &crate::supervisor::log_dir(&run_dir),
            &dir.join("logs"),
            &mut copied,
        );
    }
    if proof == Proof::AllEvidence {
        copy_tree(&run_dir.join("phases"), &dir.join("phases"), &mut copied);
        copy_tree(
            &run_dir.join("evidence"),
            &dir.join("evidence"),
            &mut copied,
        );
    }
    for name in ["REPORT.md", "REPORT.json", "report.html", "junit.xml"] {
        if run_dir.join(name).is_file() {
            let _ = std::fs::copy(run_dir.join(name), dir.join(name));
        }
    }
    write_sums(&dir)?;
    let rel = format!("{PROOF_DIR}/PROOF.md");
    store.add_artifact(run, None, rel, "report")?;
    Ok(vec![md_path])
}

/// `SHA256SUMS` over every file of the bundle, relative paths, sorted.
fn write_sums(dir: &Path) -> Result<(), PipelineError> {
    let mut files = Vec::new();
    list(dir, dir, &mut files);
    files.sort();
    let mut out = String::new();
    for rel in files {
        if let Ok((sha, _)) = sha256_file(&dir.join(&rel)) {
            let _ = writeln!(out, "{sha}  {rel}");
        }
    }
    let path = dir.join("SHA256SUMS");
    std::fs::write(&path, out).map_err(io_err(&path))
}

fn list(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            list(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.display().to_string());
        }
    }
}

fn markdown(doc: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Proof: {} on {}\n",
        s(&doc["project"]),
        s(&doc["fleet"])
    );
    let _ = writeln!(
        md,
        "**Verdict: {}** ({}). {}\n",
        s(&doc["verdict"]).to_uppercase(),
        s(&doc["state"]),
        s(&doc["message"])
    );
    let _ = writeln!(
        md,
        "Run `{}`; focus `{}`, criteria `{}`, proof `{}`.\n",
        s(&doc["run"]),
        s(&doc["focus"]),
        s(&doc["criteria"]),
        s(&doc["proof"])
    );
    let _ = writeln!(
        md,
        "## Nodes\n\n| node | role | region | NAT | address |\n|---|---|---|---|---|"
    );
    for n in doc["nodes"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            s(&n["name"]),
            s(&n["role"]),
            n["region"].as_str().unwrap_or("-"),
            s(&n["nat"]),
            s(&n["address"]),
            if n["degraded"] == true {
                "no: unreachable at setup (degraded)"
            } else {
                "yes"
            }
        );
    }
    let _ = writeln!(
        md,
        "\n## Phases\n\n| phase | state | what happened |\n|---|---|---|"
    );
    for p in doc["phases"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            s(&p["name"]),
            s(&p["state"]),
            s(&p["message"]).replace('|', "\\|")
        );
    }
    let _ = writeln!(md, "\n## Figures by test\n");
    for p in doc["phases"].as_array().into_iter().flatten() {
        let Some(figures) = p["ended"]["Tested"]["figures"].as_object() else {
            continue;
        };
        if figures.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "- **{}**: {}",
            s(&p["name"]),
            figures
                .iter()
                .map(|(k, v)| format!("{k} = {}", v["value"]))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        md,
        "\n`gauntlet show {}` shows every phase; `sha256sum -c SHA256SUMS` checks this bundle.",
        s(&doc["run"])
    );
    md
}
