//! A cluster test without a lab (no root needed): client programs that
//! keep their data in their own memory. One client is one consistent
//! system; several clients, each with its own memory, are not one
//! system at all, and the checkers must say so — for registers
//! (linearizable) and for transactions (Elle's list-append). Also: a
//! cluster plan's mistakes refused before anything runs.

mod common;

use std::process::Output;

use common::{gauntlet, read_json, stderr, stdout};

fn plan(kind: &str, concurrency: usize, check: &str) -> String {
    format!(
        r#"
[workload]
kind = "{kind}"
client = ["{gauntlet}", "example-node", "mem-client"]
keys = 3
concurrency = {concurrency}
rate = 200
time_limit = "2s"
recovery = "0s"

[[check]]
name = "{check}"
"#,
        gauntlet = gauntlet().display()
    )
}

fn test(dir: &tempfile::TempDir, text: &str, args: &[&str]) -> Output {
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, text).unwrap();
    std::process::Command::new(gauntlet())
        .arg("test")
        .arg(&file)
        .args(["--store", &dir.path().join("store").display().to_string()])
        .args(args)
        .output()
        .unwrap()
}

fn results(dir: &tempfile::TempDir) -> serde_json::Value {
    let store = dir.path().join("store");
    let run = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .max()
        .unwrap();
    read_json(&run.join("results.json"))
}

#[test]
fn one_client_is_consistent_and_many_separate_memories_are_not() {
    for (kind, check) in [
        ("cas-register", "linearizable"),
        ("list-append", "list-append"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = test(&dir, &plan(kind, 1, check), &["--seed", "4"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{kind}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let r = results(&dir);
        assert_eq!(r["valid"], true, "{kind}: {r}");

        let dir = tempfile::tempdir().unwrap();
        let out = test(&dir, &plan(kind, 4, check), &["--seed", "4"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{kind}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(results(&dir)["valid"], false, "{kind}");
        assert!(stdout(&out).contains("FAIL"), "{}", stdout(&out));
    }
}

#[test]
fn cluster_plan_mistakes_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Not a cluster plan.
    let out = test(
        &dir,
        "[[service]]\nname = \"a\"\ncommand = \"sleep 1\"\n[[stage]]\nkind = \"up\"\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("not a cluster test"),
        "{}",
        stderr(&out)
    );
    // A plan and more words.
    let out = std::process::Command::new(gauntlet())
        .args(["test", "a.toml", "b.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("one word too many"),
        "{}",
        stderr(&out)
    );
    // Neither --bin nor a plan.
    let out = std::process::Command::new(gauntlet())
        .arg("test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(stderr(&out).contains("--bin"), "{}", stderr(&out));
    // A replay of a run the store does not have.
    let out = test(
        &dir,
        &plan("register", 1, "linearizable"),
        &["--replay", "r-nope"],
    );
    assert_eq!(out.status.code(), Some(254), "{}", stderr(&out));
    assert!(stderr(&out).contains("r-nope"), "{}", stderr(&out));
    // A bad line names the file and line.
    let out = test(&dir, &plan("register", 0, "linearizable"), &[]);
    assert_eq!(out.status.code(), Some(254));
    assert!(stderr(&out).contains("cluster.toml:6"), "{}", stderr(&out));
    // Nothing ran.
    assert!(!dir.path().join("store").exists() || results_absent(&dir));
}

fn results_absent(dir: &tempfile::TempDir) -> bool {
    std::fs::read_dir(dir.path().join("store"))
        .unwrap()
        .flatten()
        .all(|e| !e.path().join("results.json").exists())
}
