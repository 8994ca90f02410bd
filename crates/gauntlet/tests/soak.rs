//! `gauntlet soak` on real systems: the example http-service with and
//! without its durability bug, and Redis with and without its append-only
//! file, each under power cuts. I4 (no data loss) must tell them apart.

mod common;

use common::{Bench, free_port, read_json, stderr, stdout};
use serde_json::Value;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A short soak of the http-service behind gauntlet's proxy; users PUT and
/// GET their keys; power cuts every few seconds.
fn http_plan(b: &Bench, service_args: &str) -> String {
    let port = free_port();
    let public = free_port();
    let data = b.path().join("kv.data");
    format!(
        r#"[vars]
bin_dir = "{bin}"

[[service]]
name = "api"
command = ["${{bin_dir}}/http-service", "--port", "{port}", "--data-file", "{data}"{service_args}]
[service.health]
http = "http://127.0.0.1:{port}/health"
interval = "50ms"

[soak]
duration = "12s"
warmup = "1s"
calm_timeout = "20s"

[users]
count = 4
think_min = "10ms"
think_max = "40ms"
keys_per_user = 20
unreachable_after = "5s"

[[users.step]]
name = "put"
method = "PUT"
url = "http://127.0.0.1:{public}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
timeout = "2s"

[readback]
http = "http://127.0.0.1:{port}/kv/{{{{key}}}}"

[proxy.api]
listen = "127.0.0.1:{public}"
upstream = "127.0.0.1:{port}"

[[fault]]
kind = "power-cut"
every = "3s..4s"
duration = "500ms"

[invariants]
gate = ["I4"]
"#,
        bin = b.bin_dir(),
        data = data.display(),
    )
}

fn soak(b: &Bench, plan: &str) -> (std::process::Output, Value) {
    let path = b.write_plan("soak.toml", plan);
    let out = b.gauntlet(&["soak", path.to_str().unwrap(), "--quiet", "--seed", "7"]);
    let runs = b.runs();
    assert_eq!(runs.len(), 1, "{}\n{}", stdout(&out), stderr(&out));
    let verdict = read_json(&b.artifact_dir(&runs[0]).join("verdict.json"));
    (out, verdict)
}

fn i4(verdict: &Value) -> &Value {
    &verdict["invariants"]["I4-no-data-loss"]
}

#[test]
fn a_durable_service_loses_nothing_under_power_cuts() {
    let b = Bench::new();
    let (out, verdict) = soak(&b, &http_plan(&b, ""));
    let i4 = i4(&verdict);
    assert_eq!(i4["valid"], true, "{i4:#}\n{}", stderr(&out));
    assert!(i4["checked"].as_u64().unwrap() > 10, "{i4}");
    assert!(
        verdict["faults"].as_array().unwrap().len() >= 2,
        "{verdict:#}"
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn acknowledging_before_durability_loses_acknowledged_writes_and_i4_names_them() {
    let b = Bench::new();
    let (out, verdict) = soak(
        &b,
        &http_plan(
            &b,
            r#", "--ack-before-durable", "--flush-every-ms", "60000""#,
        ),
    );
    let i4 = i4(&verdict);
    assert_eq!(i4["valid"], false, "{i4:#}");
    assert!(i4["lost"].as_u64().unwrap() > 0, "{i4}");
    let evidence = i4["evidence"].to_string();
    assert!(evidence.contains("lost"), "{evidence}");
    assert!(
        evidence.contains("\"key\":\"k"),
        "the lost keys are named: {evidence}"
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

fn redis_plan(b: &Bench, appendonly: &str) -> String {
    let port = free_port();
    let dir = b.path().join("redis");
    std::fs::create_dir_all(&dir).unwrap();
    format!(
        r#"[[service]]
name = "redis"
command = ["redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "{appendonly}", "--appendfsync", "always", "--dir", "{dir}"]
[service.health]
tcp = "127.0.0.1:{port}"
interval = "50ms"

[soak]
duration = "10s"
warmup = "1s"
calm_timeout = "20s"

[users]
count = 3
think_min = "10ms"
think_max = "30ms"
keys_per_user = 20
unreachable_after = "5s"
program = ["{gauntlet}", "example-node", "redis-user", "--redis", "127.0.0.1:{port}"]

[readback]
command = ["redis-cli", "-p", "{port}", "GET", "{{{{key}}}}"]

[[fault]]
kind = "power-cut"
every = "4s..5s"
duration = "300ms"

[invariants]
gate = ["I4"]
"#,
        dir = dir.display(),
        gauntlet = common::gauntlet().display(),
    )
}

#[test]
fn redis_without_its_append_only_file_loses_writes_at_a_power_cut() {
    let b = Bench::new();
    let (out, verdict) = soak(&b, &redis_plan(&b, "no"));
    let i4 = i4(&verdict);
    assert_eq!(i4["valid"], false, "{i4:#}\n{}", stderr(&out));
    assert!(i4["lost"].as_u64().unwrap() > 0, "{i4}");
    assert_eq!(code(&out), 1);
}

#[test]
fn redis_with_its_append_only_file_keeps_every_acknowledged_write() {
    let b = Bench::new();
    let (out, verdict) = soak(&b, &redis_plan(&b, "yes"));
    let i4 = i4(&verdict);
    assert_eq!(i4["valid"], true, "{i4:#}\n{}", stderr(&out));
    assert!(i4["checked"].as_u64().unwrap() > 10, "{i4}");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn users_that_cannot_reach_the_service_end_the_soak_early() {
    let b = Bench::new();
    let dead = free_port();
    let plan = b.write_plan(
        "dead.toml",
        &format!(
            r#"[[service]]
name = "sleeper"
command = "exec sleep 600"

[soak]
minutes = 60

[users]
count = 2
unreachable_after = "2s"
[[users.step]]
method = "PUT"
url = "http://127.0.0.1:{dead}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true

[readback]
http = "http://127.0.0.1:{dead}/kv/{{{{key}}}}"
"#
        ),
    );
    let started = std::time::Instant::now();
    let out = b.gauntlet(&["soak", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    assert!(stderr(&out).contains("could not reach"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
    // Not an hour: it gave up after about two seconds.
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn a_fault_aimed_at_a_missing_service_is_a_plan_error() {
    let b = Bench::new();
    let plan = b.write_plan(
        "typo.toml",
        r#"[[service]]
name = "api"
command = "exec sleep 600"

[soak]
minutes = 1

[users]
count = 1
[[users.step]]
url = "http://127.0.0.1:1/"

[readback]
http = "http://127.0.0.1:1/kv/{{key}}"

[[fault]]
kind = "kill"
service = "apii"
every = "1m"
"#,
    );
    let out = b.gauntlet(&["soak", plan.to_str().unwrap()]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(stderr(&out).contains("typo.toml:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("apii"), "{}", stderr(&out));
    assert!(b.runs().is_empty());
}

#[test]
fn ctrl_c_ends_a_soak_with_every_service_and_proxy_gone() {
    use std::process::Stdio;
    let b = Bench::new();
    let plan = b.write_plan("long.toml", &http_plan(&b, ""));
    let child = b
        .command(&["soak", plan.to_str().unwrap(), "--minutes", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once users are writing (the soak stage runs).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let soaking = b.db().exists() && {
            let store = gauntlet_store::Store::open(b.db()).unwrap();
            let runs = store.runs(&Default::default()).unwrap();
            runs.first().is_some_and(|r| {
                store.stages(&r.id).unwrap()[1].state() == gauntlet_store::StageState::Running
            })
        };
        if soaking {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the soak never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = common::interrupt(child);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    common::assert_no_processes_with_marker(&b.marker);
    let run = &b.runs()[0];
    assert_eq!(run["state"], "interrupted", "{run}");
    let verdict = read_json(&b.artifact_dir(run).join("verdict.json"));
    assert_eq!(verdict["valid"], "unknown", "{verdict}");
}

#[test]
fn proxy_partitions_cut_users_off_and_nothing_acknowledged_is_lost() {
    let b = Bench::new();
    // The http plan, with its power cuts swapped for refusing partitions
    // on the proxy users talk through.
    let plan = http_plan(&b, "").replace(
        "kind = \"power-cut\"\nevery = \"3s..4s\"\nduration = \"500ms\"",
        "kind = \"partition\"\nservice = \"api\"\nmode = \"refuse\"\nevery = \"2s..3s\"\nduration = \"1s\"",
    );
    assert!(plan.contains("kind = \"partition\""));
    let (out, verdict) = soak(&b, &plan);
    let faults = verdict["faults"].as_array().unwrap();
    assert!(faults.len() >= 2, "{verdict:#}");
    assert!(
        faults
            .iter()
            .all(|f| f["kind"] == "partition" && f["target"] == "api")
    );
    // Users were refused while the partitions lasted …
    assert!(
        verdict["users"]["user_ops_failed"].as_u64().unwrap() > 0,
        "{verdict:#}"
    );
    // … and what they were told was written is there.
    assert_eq!(i4(&verdict)["valid"], true, "{:#}", i4(&verdict));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_soak_plan_given_to_gauntlet_run_is_refused_not_passed() {
    let b = Bench::new();
    let plan = b.write_plan("soak.toml", &http_plan(&b, ""));
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 254, "{}", stdout(&out));
    assert!(stderr(&out).contains("gauntlet soak"), "{}", stderr(&out));
    assert!(b.runs().is_empty());
}

#[test]
fn pauses_and_graceful_restarts_are_injected_healed_and_recovered_from() {
    let b = Bench::new();
    let plan = http_plan(&b, "").replace(
        "kind = \"power-cut\"\nevery = \"3s..4s\"\nduration = \"500ms\"",
        "kind = \"pause\"\nservice = \"api\"\nevery = \"2s..3s\"\nduration = \"1s\"\n\n\
         [[fault]]\nkind = \"restart\"\nservice = \"api\"\nevery = \"4s..5s\"",
    );
    assert!(plan.contains("kind = \"restart\""));
    let (out, verdict) = soak(&b, &plan);
    let kinds: Vec<&str> = verdict["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"pause") && kinds.contains(&"restart"),
        "{kinds:?}"
    );
    // Every fault healed and the service answered again in time …
    let i3 = &verdict["invariants"]["I3-recovery"];
    assert_eq!(i3["valid"], true, "{i3:#}");
    // … the restarts are the faults' own, not instability …
    let i5 = &verdict["invariants"]["I5-stability"];
    assert_eq!(i5["valid"], true, "{i5:#}");
    // … and a graceful restart of a durable service loses nothing.
    assert_eq!(i4(&verdict)["valid"], true, "{:#}", i4(&verdict));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Waits until the soak stage of the only run is running.
fn wait_for_soak_stage(b: &Bench) {
    wait_for_stage(b, 1);
}

/// Waits until stage `index` of the only run is running.
fn wait_for_stage(b: &Bench, index: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let soaking = b.db().exists() && {
            let store = gauntlet_store::Store::open(b.db()).unwrap();
            let runs = store.runs(&Default::default()).unwrap();
            runs.first().is_some_and(|r| {
                store.stages(&r.id).unwrap()[index].state() == gauntlet_store::StageState::Running
            })
        };
        if soaking {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stage {index} never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The number of attempts of each stage of a run, as `gauntlet show
/// --json` reports them.
fn attempts(b: &Bench, run: &Value) -> Vec<(String, usize)> {
    let out = b.gauntlet(&["show", run["id"].as_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["attempts"].as_array().unwrap().len(),
            )
        })
        .collect()
}

fn acked_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["acked"] == true)
        .count()
}

#[test]
fn ctrl_c_keeps_the_journal_and_judges_what_was_seen_then_retry_resumes_the_soak() {
    use std::process::Stdio;
    let b = Bench::new();
    let plan = b.write_plan("soak.toml", &http_plan(&b, ""));
    let child = b
        .command(&[
            "soak",
            plan.to_str().unwrap(),
            "--minutes",
            "0.1",
            "--seed",
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_soak_stage(&b);
    // Users write for a while, then Ctrl-C.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = common::interrupt(child);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    common::assert_no_processes_with_marker(&b.marker);
    let run = b.runs()[0].clone();
    assert_eq!(run["state"], "interrupted", "{run}");
    let dir = b.artifact_dir(&run);

    // The journal of what users were told was written …
    let acked = acked_lines(&dir.join("journal.jsonl"));
    assert!(acked > 0, "no acknowledged write in the journal");
    // … and a verdict of what was seen: every invariant, I4 not judged.
    let verdict = read_json(&dir.join("verdict.json"));
    assert_eq!(
        verdict["invariants"].as_object().unwrap().len(),
        5,
        "{verdict:#}"
    );
    let i4 = &verdict["invariants"]["I4-no-data-loss"];
    assert_eq!(i4["valid"], "unknown", "{i4:#}");
    assert!(
        i4["evidence"]
            .to_string()
            .contains("interrupted before the readback"),
        "{i4:#}"
    );
    assert_ne!(verdict["valid"], true, "{verdict:#}");
    assert_eq!(verdict["pass"], false);
    assert_eq!(verdict["journal"]["acked"], acked as u64);
    assert!(verdict["error"].as_str().unwrap().contains("signal"));
    assert!(
        dir.join("plan.resolved.json").exists(),
        "a soak keeps its resolved plan"
    );

    // retry: the services come back, the soak runs again, then calm,
    // readback and a new verdict.
    let out = b.gauntlet(&["retry", run["id"].as_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let runs = b.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "finished", "{}", runs[0]);
    assert_eq!(runs[0]["result"], true, "{}", runs[0]);
    assert_eq!(
        attempts(&b, &runs[0]),
        [
            ("up".to_owned(), 1),
            ("soak".to_owned(), 2),
            ("calm".to_owned(), 1),
            ("readback".to_owned(), 1)
        ]
    );
    let verdict = read_json(&dir.join("verdict.json"));
    assert_eq!(verdict["valid"], true, "{verdict:#}");
    assert!(verdict.get("error").is_none(), "{verdict:#}");
    let i4 = &verdict["invariants"]["I4-no-data-loss"];
    assert_eq!(i4["valid"], true, "{i4:#}");
    assert!(i4["checked"].as_u64().unwrap() > 0, "{i4}");
    // The interrupted attempt's journal is kept beside the new one.
    assert_eq!(acked_lines(&dir.join("journal.attempt-1.jsonl")), acked);
    assert!(acked_lines(&dir.join("journal.jsonl")) > 0);
}

#[test]
fn a_held_soak_keeps_its_journal_retries_and_a_soak_without_its_plan_is_refused_unchanged() {
    let b = Bench::new();
    let dead = free_port();
    let plan = b.write_plan(
        "dead.toml",
        &format!(
            r#"[[service]]
name = "sleeper"
command = "exec sleep 600"

[soak]
minutes = 60

[users]
count = 2
unreachable_after = "1s"
[[users.step]]
method = "PUT"
url = "http://127.0.0.1:{dead}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true

[readback]
http = "http://127.0.0.1:{dead}/kv/{{{{key}}}}"
"#
        ),
    );
    let out = b.gauntlet(&["soak", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    let run = b.runs()[0].clone();
    assert_eq!(run["state"], "held", "{run}");
    let dir = b.artifact_dir(&run);
    // Ended early, yet the journal is there and what could be judged was.
    assert!(dir.join("journal.jsonl").exists());
    let verdict = read_json(&dir.join("verdict.json"));
    assert_eq!(
        verdict["invariants"].as_object().unwrap().len(),
        5,
        "{verdict:#}"
    );
    assert_ne!(verdict["valid"], true, "{verdict:#}");
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .contains("could not reach"),
        "{verdict:#}"
    );

    // A retry resumes it: the soak stage runs again (and holds again).
    let id = run["id"].as_str().unwrap();
    let out = b.gauntlet(&["retry", id, "--quiet"]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(b.runs()[0]["state"], "held");
    let before = attempts(&b, &run);
    assert_eq!(before[1], ("soak".to_owned(), 2), "{before:?}");
    assert!(dir.join("journal.attempt-1.jsonl").exists());

    // Without its resolved plan it cannot be resumed: refused, unchanged.
    std::fs::remove_file(dir.join("plan.resolved.json")).unwrap();
    let out = b.gauntlet(&["retry", id, "--quiet"]);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be resumed"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("plan.resolved.json"),
        "{}",
        stderr(&out)
    );
    assert_eq!(attempts(&b, &run), before);
    assert_eq!(b.runs()[0]["state"], "held");
}

#[test]
fn ctrl_c_in_the_calm_keeps_the_soak_and_retry_reads_back_what_it_journaled() {
    use std::process::Stdio;
    let b = Bench::new();
    let flag = b.path().join("unhealthy");
    let plan = http_plan(&b, "");
    // Healthy while the port answers and the flag is absent; no faults.
    let port = plan
        .split("\"--port\", \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let plan = plan
        .replace(
            &format!("http = \"http://127.0.0.1:{port}/health\""),
            &format!(
                "command = [\"bash\", \"-c\", \"test ! -e {} && exec 3<>/dev/tcp/127.0.0.1/{port}\"]",
                flag.display()
            ),
        )
        .replace(
            "[[fault]]\nkind = \"power-cut\"\nevery = \"3s..4s\"\nduration = \"500ms\"\n",
            "",
        );
    assert!(
        plan.contains("/dev/tcp") && !plan.contains("power-cut"),
        "{plan}"
    );
    let path = b.write_plan("calm.toml", &plan);
    let child = b
        .command(&["soak", path.to_str().unwrap(), "--minutes", "0.05"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_soak_stage(&b);
    // The service turns unhealthy: after STOP the calm waits for it.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    std::fs::write(&flag, "").unwrap();
    wait_for_stage(&b, 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = common::interrupt(child);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    common::assert_no_processes_with_marker(&b.marker);
    let run = b.runs()[0].clone();
    assert_eq!(run["state"], "interrupted", "{run}");
    assert_eq!(run["held_stage"], "calm", "{run}");
    let dir = b.artifact_dir(&run);
    let acked = acked_lines(&dir.join("journal.jsonl"));
    assert!(acked > 0);
    let verdict = read_json(&dir.join("verdict.json"));
    assert_eq!(
        verdict["invariants"]["I4-no-data-loss"]["valid"], "unknown",
        "{verdict:#}"
    );
    assert_ne!(verdict["valid"], true, "{verdict:#}");

    // Healthy again: the retry brings the service back, calms, and reads
    // back the journal the soak attempt left.
    std::fs::remove_file(&flag).unwrap();
    let out = b.gauntlet(&["retry", run["id"].as_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let runs = b.runs();
    assert_eq!(runs[0]["state"], "finished", "{}", runs[0]);
    assert_eq!(
        attempts(&b, &runs[0]),
        [
            ("up".to_owned(), 1),
            ("soak".to_owned(), 1),
            ("calm".to_owned(), 2),
            ("readback".to_owned(), 1)
        ]
    );
    let verdict = read_json(&dir.join("verdict.json"));
    let i4 = &verdict["invariants"]["I4-no-data-loss"];
    assert_eq!(i4["valid"], true, "{i4:#}");
    assert_eq!(i4["acked-writes"], acked as u64, "{i4:#}");
    assert_eq!(verdict["valid"], true, "{verdict:#}");
    assert!(!dir.join("journal.attempt-1.jsonl").exists());
}

/// A soak whose users are `program`, in front of a service that only
/// sleeps (the users keep their data in files, so nothing else is needed).
fn program_users_plan(program: &str, users: u32) -> String {
    format!(
        r#"[[service]]
name = "sleeper"
command = "exec sleep 600"

[soak]
duration = "4s"
warmup = "1s"
calm_timeout = "10s"

[users]
count = {users}
think_min = "10ms"
think_max = "20ms"
keys_per_user = 3
unreachable_after = "10m"
program = {program}

[readback]
program = true
"#
    )
}

/// A user program that does not exist, or cannot be executed, can never
/// run: the soak stops at once naming it (exit 255), rather than waiting
/// `unreachable_after` and blaming the service.
#[test]
fn a_user_program_that_cannot_start_stops_the_soak_at_once_naming_it() {
    let b = Bench::new();
    let not_executable = b.path().join("user.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    for program in [
        b.path().join("no-such-user-program"),
        not_executable.clone(),
    ] {
        let plan = b.write_plan(
            "users.toml",
            &program_users_plan(&format!("[{:?}]", program.display().to_string()), 2),
        );
        let started = std::time::Instant::now();
        let out = b.gauntlet(&["soak", plan.to_str().unwrap(), "--quiet"]);
        assert_eq!(code(&out), 255, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&program.display().to_string()), "{err}");
        assert!(!err.contains("could not reach"), "{err}");
        // A hang guard, not a speed figure: `unreachable_after` is 10 min.
        assert!(started.elapsed().as_secs() < 120);
        // It could not be carried out: interrupted (a retry runs the soak
        // stage again once the program is there), not held.
        let run = b.runs().pop().unwrap();
        assert_eq!(run["state"], "interrupted", "{run:#}");
    }
}

/// A soak service whose program does not exist: the same as in a plan run,
/// exit 255 naming the service, the run interrupted at `up`.
#[test]
fn a_soak_service_that_cannot_start_interrupts_the_run_naming_it() {
    let b = Bench::new();
    let plan = b.write_plan(
        "soak.toml",
        r#"[[service]]
name = "api"
command = ["./no-such-service"]

[soak]
duration = "4s"

[users]
count = 1
[[users.step]]
url = "http://127.0.0.1:9/"

[readback]
http = "http://127.0.0.1:9/{{key}}"
"#,
    );
    let out = b.gauntlet(&["soak", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("service api: cannot start ./no-such-service"),
        "{err}"
    );
    let run = b.runs().pop().unwrap();
    assert_eq!(run["state"], "interrupted", "{run:#}");
}

/// Users that die (here: most of them cannot start their program because
/// gauntlet runs out of file descriptors) are counted, and a soak where
/// most users never wrote is not judged as if they had: I4 is unknown and
/// so is the verdict (exit 2), with the figures that say why.
#[test]
fn a_soak_where_most_users_never_wrote_is_unknown_and_counts_them() {
    let b = Bench::new();
    let data = b.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let user = b.path().join("user.py");
    std::fs::write(
        &user,
        format!(
            r#"import json, os, sys
d = {data:?}
for line in sys.stdin:
    r = json.loads(line)
    p = os.path.join(d, r["key"])
    if r["op"] == "write":
        with open(p, "w") as f:
            f.write(r["value"])
        print(json.dumps({{"ok": True}}), flush=True)
    else:
        v = open(p).read() if os.path.exists(p) else None
        print(json.dumps({{"ok": True, "value": v}}), flush=True)
"#,
            data = data.display().to_string()
        ),
    )
    .unwrap();
    let plan = b.write_plan(
        "users.toml",
        &program_users_plan(
            &format!("[\"python3\", {:?}]", user.display().to_string()),
            300,
        ),
    );
    // Room for gauntlet itself and a few dozen user programs, not 300.
    let gauntlet = b.command(&["soak", plan.to_str().unwrap(), "--quiet"]);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 160 && exec \"$0\" \"$@\"")
        .arg(gauntlet.get_program())
        .args(gauntlet.get_args())
        .current_dir(b.path())
        .envs(gauntlet.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    let runs = b.runs();
    assert_eq!(runs.len(), 1, "{}\n{}", stdout(&out), stderr(&out));
    let verdict = read_json(&b.artifact_dir(&runs[0]).join("verdict.json"));
    let users = &verdict["users"];
    assert!(
        users["user_program_start_failures"].as_u64().unwrap() > 0,
        "{users:#}"
    );
    let wrote = users["users_with_acked_writes"].as_u64().unwrap();
    assert!(wrote > 0 && wrote < 150, "{users:#}");
    let i4 = i4(&verdict);
    assert_eq!(i4["valid"], "unknown", "{i4:#}");
    assert_eq!(
        i4["evidence"][0]["problem"], "most users never had a write acknowledged",
        "{i4:#}"
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}
