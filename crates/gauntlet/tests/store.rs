//! One store for every kind of run: a `gauntlet test`, a plan run and a
//! soak go into the same `--store` directory, and `runs`, `show` and
//! `report` read all three. The older `--db` spelling cannot be mixed in.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Bench, free_port, gauntlet, read_json, stderr, stdout};
use serde_json::Value;

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// `gauntlet ARGS --store STORE`, in the bench's directory; nothing it
/// started may remain.
fn g(b: &Bench, store: &Path, args: &[&str]) -> Output {
    let out = Command::new(gauntlet())
        .args(args)
        .arg("--store")
        .arg(store)
        .current_dir(b.path())
        .env("GAUNTLET_TEST_MARKER", &b.marker)
        .env_remove("GAUNTLET_DB")
        .env_remove("GAUNTLET_STORE")
        .output()
        .unwrap();
    common::assert_no_processes_with_marker(&b.marker);
    out
}

fn json_of(out: &Output) -> Value {
    assert_eq!(code(out), 0, "{}\n{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn echo_test(b: &Bench, store: &Path, extra: &[&str]) -> Output {
    let bin = gauntlet().display().to_string();
    let mut args = vec![
        "test",
        "-w",
        "echo",
        "--bin",
        &bin,
        "example-node",
        "node-echo",
        "--node-count",
        "1",
        "--time-limit",
        "1",
        "--recovery-time",
        "0",
        "--rate",
        "20",
        "--seed",
        "5",
    ];
    args.extend_from_slice(extra);
    g(b, store, &args)
}

/// A plan with one command stage; nothing to start.
fn tiny_plan(b: &Bench) -> PathBuf {
    b.write_plan(
        "tiny.toml",
        "[[stage]]\nname = \"hello\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo hello\"]\n",
    )
}

/// The shortest honest soak: one user writing to the example http-service
/// for two seconds, no faults, everything read back; only I4 (no data
/// loss) gates, the others cannot judge so short a soak.
fn tiny_soak(b: &Bench) -> PathBuf {
    let port = free_port();
    let data = b.path().join("kv.data");
    b.write_plan(
        "tiny-soak.toml",
        &format!(
            r#"[[service]]
name = "api"
command = ["{bin}/http-service", "--port", "{port}", "--data-file", "{data}"]
[service.health]
http = "http://127.0.0.1:{port}/health"
interval = "50ms"

[soak]
duration = "2s"
warmup = "200ms"
calm_timeout = "10s"

[users]
count = 1
think_min = "20ms"
think_max = "50ms"
keys_per_user = 5

[[users.step]]
name = "put"
method = "PUT"
url = "http://127.0.0.1:{port}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
timeout = "2s"

[readback]
http = "http://127.0.0.1:{port}/kv/{{{{key}}}}"

[invariants]
gate = ["I4"]
"#,
            bin = b.bin_dir(),
            data = data.display(),
        ),
    )
}

#[test]
fn a_test_run_a_plan_run_and_a_soak_share_one_store() {
    let b = Bench::new();
    let store = b.path().join("runs");

    // A test run: the README's files, the latest links, and a store row.
    let out = echo_test(&b, &store, &[]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Everything looks good!"),
        "{}",
        stdout(&out)
    );
    let results = read_json(&store.join("latest/results.json"));
    assert_eq!(results["valid"], true);
    assert!(store.join("latest/history.jsonl").is_file());
    assert!(store.join("echo/latest/run.json").is_file());

    let plan = tiny_plan(&b);
    let out = g(&b, &store, &["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));

    let soak_plan = tiny_soak(&b);
    let started = Instant::now();
    let out = g(
        &b,
        &store,
        &[
            "soak",
            soak_plan.to_str().unwrap(),
            "--quiet",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(30));

    // All three, newest first, each with its kind and result.
    let runs = json_of(&g(&b, &store, &["runs", "--json"]));
    let runs = runs.as_array().unwrap();
    let got: Vec<(&str, &str, &str, Value)> = runs
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["plan_name"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
                r["result"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("soak", "tiny-soak", "finished", Value::Bool(true)),
            ("run", "tiny", "finished", Value::Bool(true)),
            ("test", "test:echo", "finished", Value::Bool(true)),
        ],
        "{runs:#?}"
    );
    let only_tests = json_of(&g(&b, &store, &["runs", "--json", "--kind", "test"]));
    assert_eq!(only_tests.as_array().unwrap().len(), 1);
    let table = stdout(&g(&b, &store, &["runs"]));
    assert!(table.starts_with("ID") && table.contains("KIND"), "{table}");

    // The test run, shown: its stage, its checks as verdicts, its files.
    let test = &runs[2];
    let id = test["id"].as_str().unwrap();
    assert_eq!(test["seed"], 5);
    assert!(test["clock_zero"].as_i64().unwrap() >= test["started_at"].as_i64().unwrap());
    let show = json_of(&g(&b, &store, &["show", id, "--json"]));
    let checks: Vec<&str> = show["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["checker"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = results["checks"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(checks.contains(&"workload"), "{show:#}");
    assert_eq!(checks.len(), expected.len(), "{show:#}");
    for v in show["verdicts"].as_array().unwrap() {
        let name = v["checker"].as_str().unwrap();
        assert_eq!(v["valid"], results["checks"][name]["valid"], "{name}");
    }
    let artifacts: Vec<&str> = show["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    for f in [
        "run.json",
        "history.jsonl",
        "results.json",
        "messages.jsonl",
        "node-logs/n0.log",
    ] {
        assert!(artifacts.contains(&f), "{f} not in {artifacts:?}");
    }
    // The store's directory for the run is the one latest points at.
    assert_eq!(
        std::fs::canonicalize(store.join(id)).unwrap(),
        std::fs::canonicalize(store.join("latest")).unwrap()
    );
    let text = stdout(&g(&b, &store, &["show", id]));
    assert!(
        text.contains("test:echo") && text.contains("checks"),
        "{text}"
    );

    let out = g(&b, &store, &["report", id, "--format", "md"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let md = stdout(&out);
    assert!(md.contains("test:echo") && md.contains("workload"), "{md}");

    // A test run never holds: nothing to retry.
    let out = g(&b, &store, &["retry", id]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(stderr(&out).contains("gauntlet test"), "{}", stderr(&out));
}

#[test]
fn nemesis_faults_become_fault_rows() {
    let b = Bench::new();
    let store = b.path().join("runs");
    let out = echo_test(
        &b,
        &store,
        &["--nemesis", "kill", "--nemesis-interval", "0.3"],
    );
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let history = std::fs::read_to_string(store.join("latest/history.jsonl")).unwrap();
    let kills = history
        .lines()
        .filter(|l| l.contains(r#""f":"kill""#))
        .count();
    assert!(kills > 0, "{history}");
    let report = json_of(&g(&b, &store, &["show", "latest", "--json"]));
    let faults = report["faults"].as_array().unwrap();
    assert_eq!(faults.len(), kills, "{report:#}");
    assert!(
        faults
            .iter()
            .all(|f| f["kind"] == "kill" && f["target"] == "n0")
    );
}

#[test]
fn ctrl_c_leaves_an_interrupted_test_run() {
    let b = Bench::new();
    let store = b.path().join("runs");
    let bin = gauntlet().display().to_string();
    let child = Command::new(gauntlet())
        .args([
            "test",
            "-w",
            "echo",
            "--bin",
            &bin,
            "example-node",
            "node-echo",
        ])
        .args(["--node-count", "1", "--time-limit", "60", "--store"])
        .arg(&store)
        .current_dir(b.path())
        .env("GAUNTLET_TEST_MARKER", &b.marker)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::processes_with_marker(&b.marker).len() < 2 {
        assert!(Instant::now() < deadline, "the node never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let out = common::interrupt(child);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    common::assert_no_processes_with_marker(&b.marker);
    let runs = json_of(&g(&b, &store, &["runs", "--json"]));
    assert_eq!(runs[0]["kind"], "test");
    assert_eq!(runs[0]["state"], "interrupted", "{runs:#}");
    assert_eq!(runs[0]["held_stage"], "test");
    assert!(store.join("latest/results.json").is_file());
    // The report offers what a test run allows: run it again, or abandon it.
    let report = json_of(&g(&b, &store, &["report", "latest", "--format", "json"]));
    assert_eq!(report["run"]["kind"], "test");
    let commands = report["hold"]["commands"].as_array().unwrap();
    assert!(
        commands
            .iter()
            .all(|c| !c.as_str().unwrap().contains("retry")),
        "{commands:?}"
    );
    assert!(
        commands[0].as_str().unwrap().contains("test -w echo"),
        "{commands:?}"
    );
}

/// A store directory whose database file is garbage: the error names the
/// file and says what is wrong once (it used to say "file is not a
/// database: file is not a database: Error code 26: ...").
#[test]
fn a_garbage_database_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gauntlet.db");
    std::fs::write(&db, vec![0xAB; 8192]).unwrap();
    for args in [&["runs"][..], &["show", "latest"][..]] {
        let out = Command::new(gauntlet())
            .args(args)
            .arg("--store")
            .arg(dir.path())
            .env_remove("GAUNTLET_DB")
            .env_remove("GAUNTLET_STORE")
            .output()
            .unwrap();
        assert_eq!(code(&out), 255, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!(
                "gauntlet: cannot open the store {}: file is not a database",
                db.display()
            )),
            "{err}"
        );
        assert_eq!(err.matches("not a database").count(), 1, "{err}");
        assert!(!err.contains("Error code"), "{err}");
    }
}

#[test]
fn store_and_db_together_are_refused() {
    let b = Bench::new();
    let out = g(&b, &b.path().join("runs"), &["runs", "--db", "x.db"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    let out = echo_test(&b, &b.path().join("runs"), &["--db", "x.db"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(!b.path().join("runs").exists(), "nothing was run");
    assert!(!b.path().join("x.db").exists(), "nothing was run");

    // The variables: GAUNTLET_STORE names the store; with GAUNTLET_DB too
    // it is ambiguous; the command line beats either.
    let env_runs = |vars: &[(&str, &str)], args: &[&str]| {
        let mut cmd = Command::new(gauntlet());
        cmd.args(["runs", "--json"])
            .args(args)
            .current_dir(b.path())
            .env_remove("GAUNTLET_DB")
            .env_remove("GAUNTLET_STORE");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = echo_test(&b, &b.path().join("envstore"), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = json_of(&env_runs(&[("GAUNTLET_STORE", "envstore")], &[]));
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let both = [("GAUNTLET_STORE", "envstore"), ("GAUNTLET_DB", "x.db")];
    let out = env_runs(&both, &[]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    let runs = json_of(&env_runs(&both, &["--store", "envstore"]));
    assert_eq!(runs.as_array().unwrap().len(), 1);
}

#[test]
fn the_older_db_option_keeps_its_layout_for_test_runs_too() {
    let b = Bench::new();
    let bin = gauntlet().display().to_string();
    let out = Command::new(gauntlet())
        .args([
            "test",
            "-w",
            "echo",
            "--bin",
            &bin,
            "example-node",
            "node-echo",
        ])
        .args([
            "--node-count",
            "1",
            "--time-limit",
            "1",
            "--recovery-time",
            "0",
        ])
        .args(["--db", "old.db", "--quiet"])
        .current_dir(b.path())
        .env("GAUNTLET_TEST_MARKER", &b.marker)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // --quiet: the verdict and where the results are, nothing else.
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    assert!(b.path().join("old.db").is_file());
    assert!(b.path().join("store/latest/results.json").is_file());
    let runs = Command::new(gauntlet())
        .args(["runs", "--json"])
        .current_dir(b.path())
        .env("GAUNTLET_DB", "old.db")
        .env_remove("GAUNTLET_STORE")
        .output()
        .unwrap();
    let runs = json_of(&runs);
    assert_eq!(runs[0]["kind"], "test");
    let id = runs[0]["id"].as_str().unwrap();
    assert!(
        b.path()
            .join("store")
            .join(id)
            .join("results.json")
            .is_file()
    );
}

/// One fault model under both: a pause injected by `gauntlet test`'s
/// nemesis and one planned by a soak go through the same executor
/// (gauntlet-nemesis's `Signals`) and the same fault log, so both runs'
/// fault rows have one shape, written as they happened, each healed.
#[test]
fn a_pause_goes_through_one_fault_model_in_a_test_and_in_a_soak() {
    let b = Bench::new();
    let store = b.path().join("runs");
    let out = echo_test(
        &b,
        &store,
        &["--nemesis", "pause", "--nemesis-interval", "0.3"],
    );
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let test_run = json_of(&g(&b, &store, &["show", "latest", "--json"]));

    let plan = tiny_soak(&b);
    let text = std::fs::read_to_string(&plan).unwrap().replace(
        "[invariants]",
        "[[fault]]\nname = \"freeze-api\"\nkind = \"pause\"\nservice = \"api\"\nevery = \"500ms\"\nduration = \"300ms\"\n\n[invariants]",
    );
    std::fs::write(&plan, text).unwrap();
    let out = g(&b, &store, &["soak", plan.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let soak_run = json_of(&g(&b, &store, &["show", "latest", "--json"]));

    for (run, name, target) in [(&test_run, "pause", "n0"), (&soak_run, "freeze-api", "api")] {
        let faults = run["faults"].as_array().unwrap();
        assert!(!faults.is_empty(), "no fault rows: {run:#}");
        for f in faults {
            assert_eq!(f["kind"], "pause", "{f:#}");
            assert_eq!(f["target"], target, "{f:#}");
            // The fault log's row: the plan's (or nemesis's) name for it and
            // what the Signals executor reports it did.
            assert_eq!(f["value"]["fault"], name, "{f:#}");
            assert_eq!(f["value"]["value"], serde_json::json!([target]), "{f:#}");
            assert!(!f["healed_at"].is_null(), "never healed: {f:#}");
        }
    }
}

/// A soak names checker programs as `check` stages: judged after the
/// readback over the soak's files, each joins verdict.json and gates it.
/// One that reads the journal passes; one that finds a violation fails
/// the soak. Any other stage kind in a soak plan is a plan error.
#[test]
fn a_soaks_checker_programs_join_and_gate_its_verdict() {
    let b = Bench::new();
    let store = b.path().join("runs");
    let journal_check = b.write_plan(
        "journal-check.sh",
        "#!/bin/sh\nn=$(grep -c '\"acked\":true' \"$1/journal.jsonl\")\n\
         [ \"$n\" -gt 0 ] || { echo \"no acknowledged writes in $1\" >&2; exit 4; }\n\
         printf '{\"valid\": true, \"acked\": %d, \"evidence\": []}\\n' \"$n\"\n",
    );
    let violation = b.write_plan(
        "violation.sh",
        "#!/bin/sh\necho '{\"valid\": false, \"evidence\": [{\"problem\": \"two holders of lease 7\"}]}'\n",
    );
    for f in [&journal_check, &violation] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let plan = tiny_soak(&b);
    let base = std::fs::read_to_string(&plan).unwrap();
    let with_checks = |checks: &[(&str, &Path)]| {
        let mut text = base.clone();
        for (name, program) in checks {
            text.push_str(&format!(
                "\n[[stage]]\nname = \"{name}\"\nkind = \"check\"\nprogram = [\"{}\"]\ntimeout = \"20s\"\n",
                program.display()
            ));
        }
        std::fs::write(&plan, text).unwrap();
    };

    with_checks(&[("journal", &journal_check)]);
    let out = g(&b, &store, &["soak", plan.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let newest = |b: &Bench| {
        let runs = json_of(&g(b, &store, &["runs", "--json"]));
        read_json(
            &store
                .join(runs[0]["id"].as_str().unwrap())
                .join("verdict.json"),
        )
    };
    let verdict = newest(&b);
    assert_eq!(verdict["valid"], true, "{verdict:#}");
    assert_eq!(
        verdict["invariants"]["journal"]["valid"], true,
        "{verdict:#}"
    );
    assert!(verdict["invariants"]["journal"]["acked"].as_u64().unwrap() > 0);
    // The users' writes went into the soak's history through the one
    // recorder; the journal is its view: one acknowledged write per `ok`.
    let runs = json_of(&g(&b, &store, &["runs", "--json"]));
    let dir = store.join(runs[0]["id"].as_str().unwrap());
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let oks = history
        .lines()
        .filter(|l| l.contains(r#""type":"ok""#) && l.contains(r#""f":"write""#))
        .count() as u64;
    assert!(oks > 0, "{history}");
    assert_eq!(verdict["journal"]["acked"], oks, "{verdict:#}");

    with_checks(&[("journal", &journal_check), ("lease", &violation)]);
    let out = g(&b, &store, &["soak", plan.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let verdict = newest(&b);
    assert_eq!(verdict["valid"], false, "{verdict:#}");
    assert_eq!(
        verdict["invariants"]["lease"]["valid"], false,
        "{verdict:#}"
    );
    let show = json_of(&g(&b, &store, &["show", "latest", "--json"]));
    assert!(
        show["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["checker"] == "lease" && v["valid"] == false),
        "{show:#}"
    );

    let mut text = base.clone();
    text.push_str("\n[[stage]]\nname = \"smoke\"\nkind = \"command\"\ncommand = [\"true\"]\n");
    std::fs::write(&plan, text).unwrap();
    let out = g(&b, &store, &["soak", plan.to_str().unwrap()]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("only be `check` stages"),
        "{}",
        stderr(&out)
    );
}
