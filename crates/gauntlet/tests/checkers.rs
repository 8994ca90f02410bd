//! External checker programs, end to end through the real binary: valid,
//! invalid, crashing, hanging and garbage-printing programs (shell scripts
//! written into a temp dir), named with `gauntlet test --checker` and in a
//! plan's `check` stage. Nothing they start may outlive the run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Bench, TestRun, read_json, stderr, stdout};
use serde_json::Value;

/// The checker programs every test uses, written into `dir`.
fn write_checkers(dir: &Path) {
    let scripts = [
        // Judges the run's directory it was given: the same in $1 and the
        // environment, with a history (or, for a plan, the resolved plan).
        (
            "valid.sh",
            r#"[ "$1" = "$GAUNTLET_RUN_DIR" ] || { echo "dir $1 vs $GAUNTLET_RUN_DIR" >&2; exit 7; }
if [ -f "$1/history.jsonl" ]; then n=$(wc -l < "$1/history.jsonl");
elif [ -f "$1/plan.resolved.json" ]; then n=1; else echo "nothing in $1" >&2; exit 8; fi
printf '{"valid": true, "checker": "lines", "line-count": %d, "evidence": []}\n' "$n""#,
        ),
        (
            "invalid.sh",
            r#"echo '{"valid": false, "evidence": [{"problem": "two holders of lease 7"}]}'"#,
        ),
        ("crash.sh", "echo 'about to crash' >&2\nkill -SEGV $$"),
        ("exit3.sh", "echo 'could not parse history' >&2\nexit 3"),
        ("garbage.sh", "echo 'everything is fine'"),
        ("novalid.sh", r#"echo '{"checker": "x", "ok": true}'"#),
        ("hang.sh", "echo started >&2\nsleep 600 &\nsleep 600"),
        ("hang-exec.sh", "echo started >&2\nexec sleep 600"),
    ];
    for (name, body) in scripts {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn echo_run(checkers: &Path, args: &[&str]) -> TestRun {
    let mut run = TestRun::new("echo", "node-echo")
        .arg("--time-limit", 1)
        .arg("--node-count", 1)
        .arg("--recovery-time", 0)
        .arg("--rate", 20);
    for a in args {
        let a = match a.strip_prefix("./") {
            Some(file) => checkers.join(file).display().to_string(),
            None => match a.split_once("=./") {
                Some((name, file)) => format!("{name}={}", checkers.join(file).display()),
                None => a.to_string(),
            },
        };
        run.args.push(a);
    }
    run
}

fn problem(check: &Value) -> String {
    check["evidence"][0]["problem"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn test_checker_programs_join_results_json_and_the_worst_verdict_wins() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkers(tmp.path());

    // A passing program and a built-in checker by name: the run passes.
    let run = echo_run(
        tmp.path(),
        &["--checker", "./valid.sh", "--checker", "echo"],
    );
    let out = run.run();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let results = run.results();
    let checks = &results["checks"];
    assert_eq!(checks["valid"]["valid"], true, "{checks:#}");
    assert_eq!(checks["valid"]["checker"], "lines");
    assert!(checks["valid"]["line-count"].as_u64().unwrap() > 0);
    assert_eq!(checks["echo"]["valid"], true);
    assert_eq!(checks["echo"], checks["workload"]);
    for key in ["workload", "stats", "protocol", "crashes"] {
        assert!(checks[key].is_object(), "{key} is still there");
    }
    assert_eq!(results["valid"], true);
    assert!(
        stdout(&out).contains("valid        valid"),
        "{}",
        stdout(&out)
    );

    // false beats unknown: crashing, garbage and valid-less programs are
    // unknown, never a pass, and the invalid one decides the run.
    let run = echo_run(
        tmp.path(),
        &[
            "--checker",
            "./invalid.sh",
            "--checker",
            "segv=./crash.sh",
            "--checker",
            "./exit3.sh",
            "--checker",
            "./garbage.sh",
            "--checker",
            "./novalid.sh",
        ],
    );
    let out = run.run();
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let results = run.results();
    let checks = &results["checks"];
    assert_eq!(results["valid"], false);
    assert_eq!(checks["invalid"]["valid"], false);
    assert_eq!(checks["invalid"]["checker"], "invalid");
    assert_eq!(
        checks["invalid"]["evidence"][0]["problem"],
        "two holders of lease 7"
    );
    assert_eq!(checks["segv"]["valid"], "unknown");
    assert!(
        problem(&checks["segv"]).contains("killed by SIGSEGV"),
        "{}",
        checks["segv"]
    );
    assert_eq!(
        checks["segv"]["evidence"][0]["stderr-tail"],
        serde_json::json!(["about to crash"])
    );
    assert_eq!(checks["exit3"]["valid"], "unknown");
    assert!(problem(&checks["exit3"]).contains("exited with code 3"));
    assert_eq!(checks["garbage"]["valid"], "unknown");
    assert!(problem(&checks["garbage"]).contains("not one JSON object"));
    assert_eq!(checks["novalid"]["valid"], "unknown");
    assert!(problem(&checks["novalid"]).contains("no \"valid\" field"));
    let log = run.latest().join("checkers/segv.stderr.log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("about to crash")
    );

    // Without the invalid one the run is unknown (exit 2).
    let run = echo_run(
        tmp.path(),
        &["--checker", "./valid.sh", "--checker", "./garbage.sh"],
    );
    let out = run.run();
    assert_eq!(code(&out), 2, "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(run.results()["valid"], "unknown");
}

#[test]
fn a_hanging_test_checker_is_killed_at_its_timeout_and_is_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkers(tmp.path());
    let run = echo_run(
        tmp.path(),
        &["--checker", "./hang.sh", "--checker-timeout", "1"],
    );
    let began = Instant::now();
    // `run` also asserts no process with the run's marker remains: the
    // checker and its background sleep inherit it.
    let out = run.run();
    let took = began.elapsed();
    assert_eq!(code(&out), 2, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        took < Duration::from_secs(30),
        "took {took:?}, not about the timeout"
    );
    let hang = &run.results()["checks"]["hang"];
    assert_eq!(hang["valid"], "unknown");
    assert!(problem(hang).contains("timeout of 1 s"), "{hang}");
    let run_json = read_json(&run.latest().join("run.json"));
    assert_eq!(run_json["checkers"][0]["name"], "hang");
    assert_eq!(run_json["checker-timeout-s"], 1.0);
}

/// Starts a `gauntlet test` whose checker program hangs, and returns once
/// the program has started (its stderr log says so).
fn start_hanging_checker(checkers: &Path, script: &str) -> (TestRun, std::process::Child) {
    let run = echo_run(checkers, &["--checker", script, "--checker-timeout", "600"]);
    let child = run
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let name = Path::new(script).file_stem().unwrap().to_str().unwrap();
    let started = || {
        std::fs::read_dir(run.store.path().join("echo"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| {
                std::fs::read_to_string(d.path().join(format!("checkers/{name}.stderr.log")))
                    .is_ok_and(|log| log.contains("started"))
            })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    (run, child)
}

#[test]
fn ctrl_c_kills_a_running_checker_program_and_the_run_says_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkers(tmp.path());
    let (run, child) = start_hanging_checker(tmp.path(), "./hang.sh");
    let began = Instant::now();
    let out = common::interrupt(child);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    // The checker and its background child are gone with the run.
    common::assert_no_processes_with_marker(&run.marker);
    let hang = &run.results()["checks"]["hang"];
    assert_eq!(hang["valid"], "unknown", "{hang}");
    assert!(problem(hang).contains("interrupted"), "{hang}");
}

#[test]
fn sigkill_of_gauntlet_takes_a_running_checker_program_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkers(tmp.path());
    // `exec`: a process the checker forks itself is beyond the parent-death
    // signal when gauntlet is SIGKILLed, as for nodes.
    let (run, mut child) = start_hanging_checker(tmp.path(), "./hang-exec.sh");
    child.kill().unwrap();
    child.wait().unwrap();
    common::assert_no_processes_with_marker(&run.marker);
}

#[test]
fn bad_checker_arguments_exit_254_and_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkers(tmp.path());
    let cases: [(&[&str], &str); 5] = [
        (
            &["--checker", "lineariz"],
            "unknown checker \"lineariz\"; known checkers are: availability, counter, echo, kafka, linearizable, list-append, rw-register, set-full, stats, unique-ids",
        ),
        (&["--checker", "./missing.sh"], "missing.sh"),
        (
            &["--checker", "stats"],
            "already files a check named \"stats\"",
        ),
        (
            &["--checker", "./valid.sh", "--checker", "valid=./garbage.sh"],
            "two checkers are named \"valid\"",
        ),
        (
            &["--checker", "./valid.sh", "--checker-timeout", "0"],
            "--checker-timeout",
        ),
    ];
    for (args, why) in cases {
        let run = echo_run(tmp.path(), args);
        let out = run.run();
        assert_eq!(code(&out), 254, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
}

// --- plans -------------------------------------------------------------

/// Runs a one-stage plan (plus a passing check first) in a fresh bench.
fn plan_run(stage: &str) -> (Bench, Output, Duration) {
    let b = Bench::new();
    write_checkers(b.path());
    let plan = b.write_plan(
        "plan.toml",
        &format!(
            r#"[[stage]]
name = "lines"
kind = "check"
program = "./valid.sh"

[[stage]]
name = "argv"
kind = "check"
program = ["sh", "./valid.sh"]

[[stage]]
name = "under-test"
kind = "check"
{stage}
"#
        ),
    );
    let began = Instant::now();
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    (b, out, began.elapsed())
}

fn stage_summary(b: &Bench, stage: &str) -> Value {
    let runs = b.runs();
    let report = read_json(&b.artifact_dir(&runs[0]).join("REPORT.json"));
    let s = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == stage)
        .unwrap_or_else(|| panic!("no stage {stage} in {report:#}"))
        .clone();
    s["attempts"].as_array().unwrap().last().unwrap()["summary"].clone()
}

#[test]
fn a_plan_check_stage_passes_on_true_and_holds_on_false_crash_garbage_and_hang() {
    let (b, out, _) = plan_run("program = \"./valid.sh\"");
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    for stage in ["lines", "argv", "under-test"] {
        let summary = stage_summary(&b, stage);
        assert_eq!(summary["valid"], true, "{stage}: {summary:#}");
        assert_eq!(summary["result"]["checker"], "lines");
        assert_eq!(summary["result"]["line-count"], 1);
    }
    let dir = b.artifact_dir(&b.runs()[0]);
    let filed = read_json(&dir.join("stages/under-test/1/check.json"));
    assert_eq!(filed["valid"], true);

    let held: [(&str, Value, &str); 4] = [
        (
            "program = \"./invalid.sh\"",
            Value::Bool(false),
            "two holders of lease 7",
        ),
        (
            "program = [\"./crash.sh\"]",
            "unknown".into(),
            "killed by SIGSEGV",
        ),
        (
            "program = \"./garbage.sh\"",
            "unknown".into(),
            "not one JSON object",
        ),
        (
            "program = \"./hang.sh\"\ntimeout = \"1s\"",
            "unknown".into(),
            "timeout of 1 s",
        ),
    ];
    for (stage, valid, why) in held {
        // `gauntlet` in the bench asserts nothing with its marker remains.
        let (b, out, took) = plan_run(stage);
        assert_eq!(code(&out), 1, "{stage}: {}\n{}", stdout(&out), stderr(&out));
        assert!(took < Duration::from_secs(30), "{stage}: {took:?}");
        let runs = b.runs();
        assert_eq!(runs[0]["state"], "held", "{stage}");
        assert_eq!(runs[0]["held_stage"], "under-test", "{stage}");
        let summary = stage_summary(&b, "under-test");
        assert_eq!(summary["valid"], valid, "{stage}: {summary:#}");
        let problem = summary["result"]["evidence"][0]["problem"]
            .as_str()
            .unwrap();
        assert!(problem.contains(why), "{stage}: {problem}");
        let show = b.gauntlet(&["show", "latest"]);
        assert!(stdout(&show).contains(why), "{stage}: {}", stdout(&show));
    }
}

#[test]
fn a_check_stage_in_another_directory_gets_an_absolute_run_directory() {
    let b = Bench::new();
    let plans = b.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    write_checkers(&plans);
    let plan = plans.join("plan.toml");
    std::fs::write(
        &plan,
        "[[stage]]\nkind = \"check\"\nprogram = \"./valid.sh\"\n",
    )
    .unwrap();
    // Run from the bench directory, with the store given relative to it;
    // the check runs in plans/.
    let out = std::process::Command::new(common::gauntlet())
        .args(["run", "plans/plan.toml", "--quiet", "--db", "gauntlet.db"])
        .current_dir(b.path())
        .env("GAUNTLET_TEST_MARKER", &b.marker)
        .output()
        .unwrap();
    common::assert_no_processes_with_marker(&b.marker);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(stage_summary(&b, "check")["valid"], true);
}

/// Runs a plan whose one check stage names a built-in checker over a
/// history written beside the plan.
fn builtin_plan_run(history: Option<&str>) -> (Bench, Output) {
    let b = Bench::new();
    if let Some(text) = history {
        std::fs::write(b.path().join("kv.jsonl"), text).unwrap();
    }
    let plan = b.write_plan(
        "plan.toml",
        "[[stage]]\nname = \"linear\"\nkind = \"check\"\nchecker = \"linearizable\"\nhistory = \"${plan_dir}/kv.jsonl\"\n",
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    (b, out)
}

const KV: &str = r#"{"process":0,"type":"invoke","f":"write","key":0,"value":1}
{"process":0,"type":"ok","f":"write","key":0,"value":1}
{"process":1,"type":"invoke","f":"read","key":0,"value":null}
{"process":1,"type":"ok","f":"read","key":0,"value":READ}
"#;

#[test]
fn a_plan_check_stage_runs_a_built_in_checker_by_name_over_a_history() {
    let (b, out) = builtin_plan_run(Some(&KV.replace("READ", "1")));
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let summary = stage_summary(&b, "linear");
    assert_eq!(summary["valid"], true, "{summary:#}");
    assert_eq!(summary["builtin"], "linearizable");
    assert_eq!(summary["result"]["checker"], "linearizable");

    // A read of a value never written: not linearizable, the run holds.
    let (b, out) = builtin_plan_run(Some(&KV.replace("READ", "2")));
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(b.runs()[0]["held_stage"], "linear");
    assert_eq!(stage_summary(&b, "linear")["valid"], false);

    // No history: unknown, never a pass; the run holds saying why.
    let (b, out) = builtin_plan_run(None);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let summary = stage_summary(&b, "linear");
    assert_eq!(summary["valid"], "unknown", "{summary:#}");
    let problem = summary["result"]["evidence"][0]["problem"]
        .as_str()
        .unwrap();
    assert!(
        problem.contains("cannot read the history") && problem.contains("kv.jsonl"),
        "{problem}"
    );

    // An unknown name is a plan error at the name, listing the known ones.
    let b = Bench::new();
    let plan = b.write_plan(
        "plan.toml",
        "[[stage]]\nkind = \"check\"\nchecker = \"linear\"\n",
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(stderr(&out).contains("plan.toml:3:11"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("known checkers are: availability, counter"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_check_stage_with_a_wrong_key_is_a_plan_error_at_its_position() {
    let b = Bench::new();
    let plan = b.write_plan(
        "plan.toml",
        "[[stage]]\nkind = \"check\"\nprogram = \"./valid.sh\"\nexpect_exit = 0\n",
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(stderr(&out).contains("plan.toml:4:15"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`expect_exit` does not apply"),
        "{}",
        stderr(&out)
    );
}
