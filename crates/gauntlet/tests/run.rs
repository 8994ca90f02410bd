//! `gauntlet run` and the operator commands, end to end: real Redis, the
//! example http-service, a real SQLite store, every report format, and a
//! leak check after every command.

// Prints why a test skipped, for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{Bench, assert_no_processes_with_marker, free_port, read_json, stderr, stdout};
use serde_json::Value;

fn examples_plan(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plans")
        .join(name)
        .display()
        .to_string()
}

fn ports(b: &Bench) -> Vec<String> {
    vec![
        format!("bin_dir={}", b.bin_dir()),
        format!("redis_port={}", free_port()),
        format!("api_port={}", free_port()),
        format!("worker_port={}", free_port()),
    ]
}

fn run_args<'a>(plan: &'a str, sets: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["run", plan, "--quiet"];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    args
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn the_shop_plan_runs_redis_and_the_api_in_order_cycles_modules_and_reports() {
    let b = Bench::new();
    let plan = examples_plan("shop.toml");
    let sets = ports(&b);
    let out = b.gauntlet(&run_args(&plan, &sets));
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("finished, PASS"), "{}", stdout(&out));

    let runs = b.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "finished");
    let dir = b.artifact_dir(&runs[0]);
    let report = read_json(&dir.join("REPORT.json"));

    // Redis came up before the API that depends on it, both healthy.
    let stages = report["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "start",
            "smoke",
            "machine",
            "stop-api",
            "cycle1/api",
            "cycle1/worker",
            "cycle2/api",
            "cycle2/worker",
            "soak",
            "stop"
        ]
    );
    let start = summary_of(&report, "start");
    let started: Vec<&str> = start["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(started, ["redis", "api"]);

    // Two modules cycled twice, each with figures and a passing test.
    for stage in ["cycle1/api", "cycle1/worker", "cycle2/api", "cycle2/worker"] {
        let m = summary_of(&report, stage);
        assert_eq!(m["status"], "pass", "{stage}: {m}");
        assert!(
            m["rss_bytes"]["max"].as_u64().unwrap() > 100_000,
            "{stage}: {m}"
        );
        assert!(m["health"]["checks"].as_u64().unwrap() >= 1, "{stage}: {m}");
        assert_eq!(m["tests"][0]["passed"], true, "{stage}: {m}");
    }
    assert!(summary_of(&report, "cycle2/api")["rss_growth_pct"].is_number());
    // The worker's cycle brought its dependency (api) up and down itself.
    assert_eq!(
        report["summary"]["modules"]["pass"], 4,
        "{}",
        report["summary"]
    );

    // Every format is there and says the same thing.
    let md = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert!(md.contains("cycle2/worker") && md.contains("PASS"), "{md}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.starts_with("<?xml"), "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 10 + 5, "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg"), "the RSS and CPU charts");
    // The store kept time series for the services.
    let series: Vec<(String, String)> = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_owned(),
                s["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [("rss", "redis"), ("rss", "api"), ("health_latency", "api")] {
        assert!(
            series.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} in {series:?}"
        );
    }
    // `gauntlet report` renders the same run on demand.
    let out = b.gauntlet(&["report", "latest", "--format", "junit"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("<testsuites"));
}

fn summary_of<'a>(report: &'a Value, stage: &str) -> &'a Value {
    let s = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == stage)
        .unwrap_or_else(|| panic!("no stage {stage}"));
    let attempts = s["attempts"].as_array().unwrap();
    &attempts.last().unwrap()["summary"]
}

#[test]
fn a_failing_stage_holds_the_run_until_the_operator_overrides_it() {
    let b = Bench::new();
    let plan = examples_plan("hold.toml");
    let sets = ports(&b);
    let out = b.gauntlet(&run_args(&plan, &sets));
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("HELD at stage flaky"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("gauntlet override"),
        "{}",
        stdout(&out)
    );
    let run = &b.runs()[0];
    assert_eq!(run["state"], "held");
    assert_eq!(run["held_stage"], "flaky");

    // A retry runs the stage again (it fails again: still held).
    let out = b.gauntlet(&["retry", "latest", "--quiet"]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));

    // Overriding it lets the run go on to the end.
    let reason = "known flake <on this runner> & ticket OPS-12";
    let out = b.gauntlet(&[
        "override", "latest", "--stage", "flaky", "--reason", reason, "--by", "ci-bot", "--quiet",
    ]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let run = &b.runs()[0];
    assert_eq!(run["state"], "finished");

    let dir = b.artifact_dir(run);
    let report = read_json(&dir.join("REPORT.json"));
    assert_eq!(report["overrides"][0]["reason"], reason);
    assert_eq!(report["overrides"][0]["who"], "ci-bot");
    let flaky = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "flaky")
        .unwrap();
    assert_eq!(flaky["attempts"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert!(md.contains("OPS-12"), "the override's reason in REPORT.md");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("OPS-12") && junit.contains("&lt;on this runner&gt;"),
        "{junit}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("OPS-12") && !html.contains("<on this runner>"),
        "escaped"
    );
    let show = b.gauntlet(&["show", "latest"]);
    assert!(stdout(&show).contains("overridden"), "{}", stdout(&show));
    assert!(stdout(&show).contains("OPS-12"), "{}", stdout(&show));

    // A finished run cannot be overridden or retried again.
    let out = b.gauntlet(&["retry", "latest"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
}

#[test]
fn bad_plans_exit_254_naming_the_file_line_and_column() {
    let b = Bench::new();
    let cases = [
        (
            "unknown-key.toml",
            "[[service]]\nname = \"a\"\ncommand = \"true\"\nhealth_chek = 1\n\n[[stage]]\nkind = \"up\"\n",
            ":4:1",
            "health_chek",
        ),
        (
            "missing-command.toml",
            "[[service]]\nname = \"a\"\n\n[[stage]]\nkind = \"up\"\n",
            ":1:1",
            "command",
        ),
        (
            "cycle.toml",
            "[[service]]\nname = \"a\"\ncommand = \"true\"\ndepends_on = [\"b\"]\n\n[[service]]\nname = \"b\"\ncommand = \"true\"\ndepends_on = [\"a\"]\n\n[[stage]]\nkind = \"up\"\n",
            ":9:15",
            "a → b → a",
        ),
        (
            "unknown-service.toml",
            "[[service]]\nname = \"a\"\ncommand = \"true\"\n\n[[stage]]\nkind = \"up\"\nservices = [\"a\", \"nope\"]\n",
            ":7:",
            "nope",
        ),
    ];
    for (file, text, position, needle) in cases {
        let plan = b.write_plan(file, text);
        let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 254, "{file}: {err}");
        assert!(err.contains(&format!("{file}{position}")), "{file}: {err}");
        assert!(err.contains(needle), "{file}: {err}");
    }
    // Nothing was run, nothing was stored.
    assert!(b.runs().is_empty());
    // Wrong options too.
    let plan = b.write_plan(
        "ok.toml",
        "[vars]\nport = \"1\"\n\n[[stage]]\nkind = \"wait\"\nduration = \"1ms\"\n",
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--set", "prot=2"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(stderr(&out).contains("prot"), "{}", stderr(&out));
    let out = b.gauntlet(&["report", "latest", "--format", "pdf"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
}

#[test]
fn a_service_that_never_gets_healthy_fails_its_stage_with_its_last_lines() {
    let b = Bench::new();
    let port = free_port();
    let plan = b.write_plan(
        "sick.toml",
        &format!(
            r#"[[service]]
name = "sick"
command = "echo booting; echo 'cannot open /etc/sick.conf' >&2; exec sleep 60"
[service.health]
tcp = "127.0.0.1:{port}"
timeout = "1s"
interval = "50ms"

[[stage]]
kind = "up"
"#
        ),
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let run = &b.runs()[0];
    assert_eq!(run["state"], "held");
    let report = read_json(&b.artifact_dir(run).join("REPORT.json"));
    let up = &report["stages"][0]["attempts"][0];
    assert!(
        up["message"]
            .as_str()
            .unwrap()
            .contains("did not become healthy"),
        "{up}"
    );
    let tail = up["summary"]["log_tail"]["sick"].to_string();
    assert!(tail.contains("cannot open /etc/sick.conf"), "{tail}");
}

#[test]
fn module_cycling_warns_on_rss_growth_and_on_modules_without_tests() {
    let b = Bench::new();
    let grower_port = free_port();
    // The grower's test makes it leak only from the second cycle on, so its
    // RSS at cycle 2 is far above cycle 1's.
    let plan = b.write_plan(
        "cycling.toml",
        &format!(
            r#"[vars]
bin_dir = "/nonexistent"

[[service]]
name = "grower"
command = ["${{bin_dir}}/http-service", "--port", "{grower_port}", "--leak-kib-per-request", "4096"]
tests = [{{ name = "load", command = """
n=$(cat "${{plan_dir}}/cycle" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "${{plan_dir}}/cycle"
if [ $n -ge 2 ]; then for i in 1 2 3 4 5; do "${{bin_dir}}/http-service" --selftest http://127.0.0.1:{grower_port} || exit 1; done; fi
""" }}]
[service.health]
http = "http://127.0.0.1:{grower_port}/health"
[service.limits]
rss_growth_warn_pct = 20.0

[[service]]
name = "idle"
command = "exec sleep 60"
tests = ["echo 'running 0 tests'"]

[[stage]]
kind = "cycle"
cycles = 2
"#
        ),
    );
    let bin = format!("bin_dir={}", b.bin_dir());
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet", "--set", &bin]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let run = &b.runs()[0];
    let report = read_json(&b.artifact_dir(run).join("REPORT.json"));
    let first = summary_of(&report, "cycle1/grower");
    assert_eq!(first["status"], "pass", "{first}");
    let second = summary_of(&report, "cycle2/grower");
    assert_eq!(second["status"], "warn", "{second}");
    assert!(
        second["rss_growth_pct"].as_f64().unwrap() > 100.0,
        "{second}"
    );
    assert!(second["reasons"].to_string().contains("RSS"), "{second}");
    let idle = summary_of(&report, "cycle1/idle");
    assert_eq!(idle["status"], "warn", "{idle}");
    assert_eq!(idle["tests"][0]["no_tests_found"], true, "{idle}");
    assert_eq!(
        report["summary"]["modules"]["warn"], 3,
        "{}",
        report["summary"]
    );
}

#[test]
fn a_module_over_its_memory_limit_fails_and_holds() {
    let b = Bench::new();
    let port = free_port();
    let plan = b.write_plan(
        "limit.toml",
        &format!(
            r#"[vars]
bin_dir = "/nonexistent"

[[service]]
name = "api"
command = ["${{bin_dir}}/http-service", "--port", "{port}"]
tests = [["${{bin_dir}}/http-service", "--selftest", "http://127.0.0.1:{port}"]]
[service.health]
http = "http://127.0.0.1:{port}/health"
[service.limits]
max_rss = "64KiB"

[[stage]]
kind = "cycle"
"#
        ),
    );
    let bin = format!("bin_dir={}", b.bin_dir());
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet", "--set", &bin]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let run = &b.runs()[0];
    assert_eq!(run["held_stage"], "cycle1/api");
    let report = read_json(&b.artifact_dir(run).join("REPORT.json"));
    let m = summary_of(&report, "cycle1/api");
    assert_eq!(m["status"], "fail", "{m}");
    assert!(m["reasons"].to_string().contains("max_rss"), "{m}");
}

#[test]
fn two_gauntlet_processes_share_one_store() {
    let b = Bench::new();
    let plan = b.write_plan(
        "small.toml",
        r#"[[service]]
name = "sleeper"
command = "exec sleep 60"

[[stage]]
kind = "up"

[[stage]]
kind = "wait"
duration = "1500ms"

[[stage]]
kind = "command"
command = "echo done"
"#,
    );
    let children: Vec<_> = (0..3)
        .map(|_| {
            b.command(&["run", plan.to_str().unwrap(), "--quiet"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    }
    assert_no_processes_with_marker(&b.marker);
    let runs = b.runs();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r["state"] == "finished"), "{runs:?}");
    let store = gauntlet_store::Store::open(b.db()).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    for r in &runs {
        let id = store.resolve(r["id"].as_str().unwrap()).unwrap();
        assert!(
            !store
                .measurements(&id, "rss", "sleeper")
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn ctrl_c_stops_every_service_and_retry_resumes_the_run() {
    let b = Bench::new();
    let plan = b.write_plan(
        "long.toml",
        r#"[[service]]
name = "sleeper"
command = "exec sleep 600"

[[stage]]
kind = "up"

[[stage]]
kind = "wait"
duration = "2s"

[[stage]]
kind = "command"
command = "echo done"
"#,
    );
    let mut child = b
        .command(&["run", plan.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the wait stage runs (the service is up by then).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Straight from the store: `gauntlet runs` here would wait for the
        // run's processes to end (its leak check).
        let waiting = b.db().exists() && {
            let store = gauntlet_store::Store::open(b.db()).unwrap();
            let runs = store.runs(&Default::default()).unwrap();
            runs.first().is_some_and(|r| {
                store.stages(&r.id).unwrap()[1].state() == gauntlet_store::StageState::Running
            })
        };
        if waiting {
            break;
        }
        assert!(Instant::now() < deadline, "the wait stage never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(255));
    assert_no_processes_with_marker(&b.marker);
    let run = &b.runs()[0];
    assert_eq!(run["state"], "interrupted");
    assert_eq!(run["held_stage"], "wait");

    let out = b.gauntlet(&["retry", "latest", "--quiet"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(b.runs()[0]["state"], "finished");
}

#[test]
fn a_crashing_service_is_restarted_until_its_limit_and_the_stage_fails() {
    let b = Bench::new();
    let port = free_port();
    // Every health probe is a request; the service dies after its third.
    let plan = b.write_plan(
        "crashy.toml",
        &format!(
            r#"[vars]
bin_dir = "/nonexistent"

[[service]]
name = "crashy"
command = ["${{bin_dir}}/http-service", "--port", "{port}", "--crash-after", "3"]
restart = "on-failure"
[service.health]
http = "http://127.0.0.1:{port}/health"
interval = "50ms"
[service.limits]
max_restarts = 2

[[stage]]
kind = "up"

[[stage]]
kind = "wait"
duration = "60s"
"#
        ),
    );
    let bin = format!("bin_dir={}", b.bin_dir());
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet", "--set", &bin]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let run = &b.runs()[0];
    assert_eq!(run["held_stage"], "wait");
    let report = read_json(&b.artifact_dir(run).join("REPORT.json"));
    let wait = &report["stages"][1]["attempts"][0];
    // It failed when the service went down for good, not after 60 s.
    let took = wait["ended_at"].as_i64().unwrap() - wait["started_at"].as_i64().unwrap();
    assert!(took < 50_000, "{took} ms");
    assert_eq!(
        wait["summary"]["services"]["crashy"]["restarts"], 2,
        "{wait}"
    );
    assert!(
        wait["message"]
            .as_str()
            .unwrap()
            .contains("exited on its own: exited with code 3"),
        "{wait}"
    );
}

/// A service's figures cover every process of its node as the backend
/// lists them: a daemon it started with `setsid` (out of its process group,
/// still in its cgroup) holding 120 MiB counts against `max_rss`, so the
/// module fails; sampled by process group, it would pass unseen.
#[test]
fn a_services_daemon_counts_in_its_memory() {
    if !matches!(
        gauntlet_node::containment(),
        gauntlet_node::Containment::Cgroup { .. }
    ) {
        assert!(
            std::env::var_os("GAUNTLET_TEST_NO_CGROUP").is_some(),
            "no cgroup containment here; set GAUNTLET_TEST_NO_CGROUP=1 to skip"
        );
        eprintln!("skipped: no cgroup containment here");
        return;
    }
    let b = Bench::new();
    let port = free_port();
    let ready = b.path().join("daemon.ready");
    let script = b.write_plan(
        "with-daemon.sh",
        "#!/bin/sh\n\
         setsid python3 -c 'import sys, time\nheld = b\"x\" * (120 << 20)\nopen(sys.argv[1], \"w\").close()\ntime.sleep(300)' \"$1\" &\n\
         while [ ! -f \"$1\" ]; do sleep 0.05; done\n\
         exec \"$2/http-service\" --port \"$3\"\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let plan = b.write_plan(
        "daemon.toml",
        &format!(
            r#"[[service]]
name = "api"
command = ["{script}", "{ready}", "{bin}", "{port}"]
tests = [["{bin}/http-service", "--selftest", "http://127.0.0.1:{port}"]]
[service.health]
http = "http://127.0.0.1:{port}/health"
[service.limits]
max_rss = "80MiB"

[[stage]]
kind = "cycle"
"#,
            script = script.display(),
            ready = ready.display(),
            bin = b.bin_dir(),
        ),
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let run = &b.runs()[0];
    let report = read_json(&b.artifact_dir(run).join("REPORT.json"));
    let m = summary_of(&report, "cycle1/api");
    assert_eq!(m["status"], "fail", "{m}");
    assert!(m["reasons"].to_string().contains("max_rss"), "{m}");
}
