//! Issue 11 (hardening), end to end on the real binary: bounded counts
//! that still stop at once, huge command output, refused retries that
//! change nothing, programs that cannot be started, a stopped run's time,
//! `latest` links that never destroy, and addresses beyond loopback.

// Prints how long a stop took and the peak RSS measured, for the person running it. The ban on print
// macros (clippy.toml on main) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Bench, assert_no_processes_with_marker, gauntlet, stderr, stdout};
use gauntlet_store::{RunState, StageState, Store};

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Waits until the newest run of the bench's store has a stage running
/// whose name satisfies `which`, straight from the store (a `gauntlet`
/// command here would wait for the run's processes to end).
fn wait_for_running_stage(b: &Bench, which: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = b.db().exists()
            && Store::open(b.db()).is_ok_and(|store| {
                let runs = store.runs(&Default::default()).unwrap_or_default();
                runs.first().is_some_and(|r| {
                    store
                        .stage_states(&r.id)
                        .unwrap_or_default()
                        .iter()
                        .any(|(name, state)| *state == StageState::Running && which(name))
                })
            });
        if running {
            return;
        }
        assert!(Instant::now() < deadline, "the stage never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// Waits for `child` and returns its exit status with its peak resident
/// memory (`wait4`'s rusage: the largest of it and the descendants it
/// waited for), in KiB.
fn wait_with_peak_rss(child: &mut Child) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(libc::WIFEXITED(status), "killed: {status}");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

fn modules_plan(b: &Bench, n: usize) -> std::path::PathBuf {
    let services: String = (0..n)
        .map(|i| {
            format!(
                "[[service]]\nname = \"m{i}\"\ncommand = \"exec sleep 600\"\ntests = [\"true\"]\n"
            )
        })
        .collect();
    b.write_plan("modules.toml", &services)
}

#[test]
fn counts_above_the_maximum_are_refused_before_anything_runs() {
    let b = Bench::new();
    let plan = modules_plan(&b, 1);
    let plan = plan.to_str().unwrap();
    for n in ["1001", "100000", "4294967295"] {
        let out = b.gauntlet(&["run", plan, "--cycles", n, "--quiet"]);
        assert_eq!(code(&out), 254, "{n}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("--cycles {n}: at most 1000 rounds")),
            "{}",
            stderr(&out)
        );
    }
    assert!(!b.db().exists(), "nothing was stored");
    // 3 modules × 1,000 rounds: each count allowed, the run too big.
    let plan = modules_plan(&b, 3);
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--cycles", "1000"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the plan makes 3000 run stages")
            && stderr(&out).contains("at most 2000 fit in a run"),
        "{}",
        stderr(&out)
    );
    let help = Command::new(gauntlet())
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(
        stdout(&help).contains("at most 1000"),
        "--help says the maximum: {}",
        stdout(&help)
    );
}

#[test]
fn sigterm_stops_a_run_of_the_most_stages_allowed_at_once() {
    let b = Bench::new();
    // 2 modules × 1,000 rounds = 2,000 stages, the most a run may have.
    let plan = modules_plan(&b, 2);
    let mut child = b
        .command(&["run", plan.to_str().unwrap(), "--cycles", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_running_stage(&b, |name| name.starts_with("cycle1/m"));
    let sent = Instant::now();
    signal(&child, nix::sys::signal::Signal::SIGTERM);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // A debug build on a shared 2-core machine: generous, but a run
        // that goes on cycling (or writes hundreds of MB) takes minutes.
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "still running {:?} after SIGTERM",
            sent.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(255), "{}", stderr(&out));
    eprintln!("exited {took:?} after SIGTERM");
    assert_no_processes_with_marker(&b.marker);

    let store = Store::open(b.db()).unwrap();
    let run = &store.runs(&Default::default()).unwrap()[0];
    assert_eq!(run.state, RunState::Interrupted);
    assert!(
        run.message
            .as_deref()
            .unwrap()
            .contains("stopped by a signal"),
        "{run:?}"
    );
    let states = store.stage_states(&run.id).unwrap();
    assert_eq!(states.len(), 2_000);
    assert!(states.iter().all(|(_, s)| *s != StageState::Running));
    // The reports were written, and stay small: a pending stage costs
    // little.
    let report = b.artifact_dir(&serde_json::json!({ "id": run.id.as_str() }));
    let json = std::fs::metadata(report.join("REPORT.json")).unwrap().len();
    assert!(json < 32 << 20, "REPORT.json is {json} bytes");
}

#[test]
fn a_huge_command_output_is_kept_bounded_and_the_run_passes() {
    let b = Bench::new();
    let plan = b.write_plan(
        "loud.toml",
        r#"[[stage]]
name = "loud"
kind = "command"
command = "head -c 80000000 /dev/zero | tr '\\0' a; head -c 70000000 /dev/zero | tr '\\0' b >&2; echo; echo THE-END"
expect_stdout = "THE-END"
"#,
    );
    let mut child = b
        .command(&["run", plan.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (status, peak_kib) = wait_with_peak_rss(&mut child);
    assert_no_processes_with_marker(&b.marker);
    assert_eq!(status, 0, "the run passes (expect_stdout seen at the end)");
    eprintln!("peak RSS {} MiB", peak_kib / 1024);
    assert!(peak_kib < 96 * 1024, "peak RSS {peak_kib} KiB");

    let store = Store::open(b.db()).unwrap();
    let run = &store.runs(&Default::default()).unwrap()[0];
    assert_eq!(run.state, RunState::Finished);
    let stage = &store.stages(&run.id).unwrap()[0];
    let summary = stage.current().summary.clone().unwrap();
    let row = summary.to_string().len();
    assert!(row < 128 * 1024, "the stored summary is {row} bytes");
    let t = &summary["tests"][0];
    assert_eq!(t["stdout_bytes"], 80_000_009);
    assert_eq!(t["stderr_bytes"], 70_000_000);
    assert_eq!(
        t["stdout_tail"].as_array().unwrap().last().unwrap(),
        "THE-END"
    );
    assert_eq!(t["stdout_truncated"], true);
    assert!(t["stdout_elided"].as_u64().unwrap() > 79_000_000, "{t}");
    assert_eq!(t["stderr_truncated"], true);
    assert!(t["stderr_elided"].as_u64().unwrap() > 69_000_000, "{t}");
    let head = t["stdout_head"][0].as_str().unwrap();
    assert!(
        head.len() <= 16 * 1024 + 3 && head.starts_with("aaaa"),
        "{}",
        head.len()
    );

    let dir = b.artifact_dir(&serde_json::json!({ "id": run.id.as_str() }));
    for name in ["REPORT.json", "REPORT.md", "report.html", "junit.xml"] {
        let len = std::fs::metadata(dir.join(name)).unwrap().len();
        assert!(len < 1 << 20, "{name} is {len} bytes");
    }
    // The whole output in its file, up to the cap, then a note.
    // (stderr too, while the command runs: a full disk is never the cost).
    for (stream, more) in [("stdout", 12_891_145), ("stderr", 2_891_136)] {
        let file = dir.join(format!("stages/loud/1/command.{stream}.log"));
        let len = std::fs::metadata(&file).unwrap().len();
        assert!(
            (64 << 20..(64 << 20) + 200).contains(&len),
            "{len} bytes in {file:?}"
        );
        let mut f = std::fs::File::open(&file).unwrap();
        use std::io::{Read, Seek, SeekFrom};
        f.seek(SeekFrom::Start(64 << 20)).unwrap();
        let mut note = String::new();
        f.read_to_string(&mut note).unwrap();
        assert_eq!(
            note,
            format!("\n[gauntlet: output truncated at 64 MiB; {more} more bytes were not kept]\n"),
            "{stream}"
        );
    }
}

/// A service printing without end on stdout and stderr fills its log to
/// the cap, shared by both streams, and no further; each stream's note
/// says how much it left out.
#[test]
fn a_service_log_stops_at_its_cap_whatever_the_service_prints() {
    let b = Bench::new();
    let plan = b.write_plan(
        "loud-service.toml",
        r#"[[service]]
name = "loud"
command = "head -c 100000000 /dev/zero | tr '\\0' a; head -c 100000000 /dev/zero | tr '\\0' b >&2; touch flooded; exec sleep 600"
tests = ["until [ -e flooded ]; do sleep 0.05; done"]
"#,
    );
    let out = b
        .command(&["run", plan.to_str().unwrap(), "--cycles", "1", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_processes_with_marker(&b.marker);
    let store = Store::open(b.db()).unwrap();
    let run = &store.runs(&Default::default()).unwrap()[0];
    let dir = b.artifact_dir(&serde_json::json!({ "id": run.id.as_str() }));
    let log = std::fs::read(dir.join("services/loud.log")).unwrap();
    assert!(
        (64 << 20..(64 << 20) + 400).contains(&log.len()),
        "{} bytes in the log",
        log.len()
    );
    let text = String::from_utf8_lossy(&log[64 << 20..]);
    // All of stdout came first (the shell wrote it before stderr): 64 MiB
    // of it kept, the rest and all of stderr counted.
    assert!(
        text.contains("output truncated at 64 MiB; 32891136 more bytes were not kept"),
        "{text:?}"
    );
    assert!(
        text.contains("output truncated at 64 MiB; 100000000 more bytes were not kept"),
        "{text:?}"
    );
}

const HOLD: &str = r#"[[stage]]
name = "ok"
kind = "command"
command = "true"

[[stage]]
name = "flaky"
kind = "command"
command = "exit 1"

[[stage]]
name = "after"
kind = "command"
command = "true"
"#;

/// The run and its stages as stored, to compare before and after.
fn snapshot(b: &Bench) -> (gauntlet_store::Run, Vec<gauntlet_store::Stage>) {
    let store = Store::open(b.db()).unwrap();
    let run = store.run("latest").unwrap();
    let stages = store.stages(&run.id).unwrap();
    (run, stages)
}

#[test]
fn a_refused_retry_or_override_leaves_the_run_exactly_as_it_was() {
    let b = Bench::new();
    let plan = b.write_plan("hold.toml", HOLD);
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let before = snapshot(&b);
    assert_eq!(before.0.state, RunState::Held);
    assert_eq!(before.0.held_stage.as_deref(), Some("flaky"));
    let dir = b.artifact_dir(&serde_json::json!({ "id": before.0.id.as_str() }));
    let resolved = dir.join("plan.resolved.json");
    let good = std::fs::read_to_string(&resolved).unwrap();

    // A resolved plan that reads but is not the run's (a stage fewer).
    let mut other: serde_json::Value = serde_json::from_str(&good).unwrap();
    other["stages"].as_array_mut().unwrap().pop();
    let broken = [
        (serde_json::to_string(&other).unwrap(), "is not the run's"),
        ("{ not json".to_owned(), "cannot be read"),
        (String::new(), "cannot be read"),
    ];
    for (text, why) in &broken {
        std::fs::write(&resolved, text).unwrap();
        for args in [
            vec!["retry", "latest"],
            vec!["override", "latest", "--reason", "known"],
        ] {
            let out = b.gauntlet(&args);
            assert_eq!(code(&out), 255, "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                err.contains("cannot be resumed, and was left as it is") && err.contains(why),
                "{args:?}: {err}"
            );
            assert_eq!(snapshot(&b), before, "{args:?} with {why}: the run changed");
        }
    }
    // A run in a state that cannot be retried: refused (bad arguments),
    // unchanged too.
    std::fs::write(&resolved, &good).unwrap();
    let out = b.gauntlet(&["abandon", "latest"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let abandoned = snapshot(&b);
    let out = b.gauntlet(&["retry", "latest"]);
    assert_eq!(code(&out), 254, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is abandoned: cannot retry it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&b), abandoned);
}

#[test]
fn the_resolved_plan_restored_the_run_resumes() {
    let b = Bench::new();
    let plan = b.write_plan("hold.toml", HOLD);
    assert_eq!(
        code(&b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"])),
        1
    );
    let (run, _) = snapshot(&b);
    let dir = b.artifact_dir(&serde_json::json!({ "id": run.id.as_str() }));
    let resolved = dir.join("plan.resolved.json");
    let good = std::fs::read_to_string(&resolved).unwrap();
    std::fs::write(&resolved, "{}").unwrap();
    assert_eq!(code(&b.gauntlet(&["retry", "latest"])), 255);
    std::fs::write(&resolved, good).unwrap();
    // Retried: the stage runs again (and fails again), attempt 2.
    let out = b.gauntlet(&["retry", "latest", "--quiet"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let (run, stages) = snapshot(&b);
    assert_eq!(run.state, RunState::Held);
    assert_eq!(stages[1].attempts.len(), 2);
    let out = b.gauntlet(&["override", "latest", "--reason", "known", "--quiet"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(snapshot(&b).0.state, RunState::Finished);
}

#[test]
fn a_program_that_cannot_be_started_is_exit_255_naming_what() {
    let b = Bench::new();
    let cases = [
        (
            "[[service]]\nname = \"api\"\ncommand = [\"/nonexistent/gauntlet-api\", \"--port\", \"1\"]\n[service.health]\ntcp = \"127.0.0.1:1\"\n[[stage]]\nkind = \"up\"\n",
            "up",
            "service api: cannot start /nonexistent/gauntlet-api: no such file",
        ),
        (
            "[[service]]\nname = \"db\"\ncommand = [\"gauntlet-no-such-program\"]\n[[stage]]\nkind = \"up\"\n",
            "up",
            "service db: cannot start gauntlet-no-such-program: not found on PATH",
        ),
        (
            "[[stage]]\nname = \"smoke\"\nkind = \"command\"\ncommand = [\"/nonexistent/smoke\"]\n",
            "smoke",
            "test smoke: cannot start /nonexistent/smoke: no such file",
        ),
        (
            "[[service]]\nname = \"m\"\ncommand = \"exec sleep 600\"\ntests = [[\"/nonexistent/t\"]]\n[[stage]]\nkind = \"cycle\"\n",
            "cycle1/m",
            "test /nonexistent/t: cannot start /nonexistent/t: no such file",
        ),
    ];
    for (i, (text, stage, why)) in cases.iter().enumerate() {
        let plan = b.write_plan(&format!("p{i}.toml"), text);
        let out = b.gauntlet(&["run", plan.to_str().unwrap()]);
        let all = format!("{}\n{}", stdout(&out), stderr(&out));
        assert_eq!(code(&out), 255, "{all}");
        assert!(all.contains(why), "{why}: {all}");
        assert!(!all.contains("node program"), "{all}");
        let (run, stages) = snapshot(&b);
        assert_eq!(run.state, RunState::Interrupted, "{all}");
        assert_eq!(run.held_stage.as_deref(), Some(*stage));
        assert!(run.message.as_deref().unwrap().contains(why), "{run:?}");
        let s = stages.iter().find(|s| s.name == *stage).unwrap();
        assert_eq!(s.state(), StageState::Failed);
    }
    // Still missing: a retry is interrupted the same way, one attempt more.
    let out = b.gauntlet(&["retry", "latest", "--quiet"]);
    assert_eq!(code(&out), 255, "{}", stderr(&out));
    assert_eq!(snapshot(&b).1[0].attempts.len(), 2);
}

/// The TOOK cell of the newest run in `gauntlet runs`.
fn took(b: &Bench) -> String {
    let out = b.gauntlet(&["runs", "--limit", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let row = text.lines().nth(1).unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    cells[cells.len() - 2..].join(" ")
}

#[test]
fn runs_shows_the_time_a_stopped_run_ran_not_the_time_since() {
    let b = Bench::new();
    let plan = b.write_plan("hold.toml", HOLD);
    assert_eq!(
        code(&b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"])),
        1
    );
    let first = took(&b);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(took(&b), first, "a held run");

    // A run whose gauntlet was killed mid-stage.
    let plan = b.write_plan(
        "wait.toml",
        "[[stage]]\nkind = \"wait\"\nduration = \"60s\"\n",
    );
    let mut child = b
        .command(&["run", plan.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_running_stage(&b, |name| name == "wait");
    child.kill().unwrap();
    child.wait().unwrap();
    let first = took(&b);
    let (run, stages) = snapshot(&b);
    assert_eq!(run.state, RunState::Interrupted);
    assert_eq!(stages[0].current().ended_at, None, "nobody saw it end");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(took(&b), first, "an interrupted run");
}

#[test]
fn latest_links_never_replace_what_gauntlet_did_not_make() {
    let b = Bench::new();
    let store = b.path().join("runs");
    std::fs::create_dir_all(store.join("latest")).unwrap();
    std::fs::write(store.join("latest/notes.txt"), "mine").unwrap();
    std::fs::create_dir_all(store.join("echo")).unwrap();
    std::fs::write(store.join("echo/latest"), "mine too").unwrap();
    let bin = gauntlet().display().to_string();
    // `b.gauntlet` names the bench's `--db`; this run names its `--store`.
    let plain = |args: &[&str]| {
        let out = Command::new(gauntlet())
            .args(args)
            .current_dir(b.path())
            .env("GAUNTLET_TEST_MARKER", &b.marker)
            .env_remove("GAUNTLET_DB")
            .env_remove("GAUNTLET_STORE")
            .output()
            .unwrap();
        assert_no_processes_with_marker(&b.marker);
        out
    };
    let out = plain(&[
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
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("latest not pointed at the run: it is a directory gauntlet did not make"),
        "{err}"
    );
    assert!(err.contains("it is a file gauntlet did not make"), "{err}");
    assert_eq!(
        std::fs::read_to_string(store.join("latest/notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(store.join("echo/latest")).unwrap(),
        "mine too"
    );
    assert_no_temp_links(&store);
    assert_no_temp_links(&store.join("echo"));
    // The run is stored and reachable as usual.
    let out = plain(&["runs", "--store", store.to_str().unwrap(), "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["state"], "finished");
}

fn assert_no_temp_links(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains("tmp-link"),
            "{name} left in {}",
            dir.display()
        );
    }
}

#[test]
fn a_plan_that_exposes_services_beyond_loopback_is_warned_about() {
    let b = Bench::new();
    let plan = b.write_plan(
        "open.toml",
        r#"[vars]
bind = "0.0.0.0"

[[service]]
name = "api"
command = "exec sleep 600"
env = { BIND = "${bind}" }

[[stage]]
kind = "up"

[[stage]]
kind = "down"
"#,
    );
    // Quiet or not, JSON or not: the warning is on stderr.
    for extra in [&[][..], &["--quiet"], &["--json"]] {
        let mut args = vec!["run", plan.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = b.gauntlet(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "gauntlet: exposed beyond loopback: 0.0.0.0 (every interface) in var bind, service api: env BIND"
            ),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
    let plan = b.write_plan(
        "closed.toml",
        "[vars]\nbind = \"127.0.0.1\"\n[[stage]]\nkind = \"command\"\ncommand = \"true\"\n",
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("beyond loopback"),
        "{}",
        stderr(&out)
    );
}
