//! Gauntlet under its own faults: `gauntlet run` is SIGKILLed at seeded
//! random points of a plan with a service, a command, a wait and module
//! cycling. After each kill the store must be consistent (the next command
//! finds the dead run and marks it interrupted; `gauntlet runs` lists it),
//! nothing of the run may be left running, and `gauntlet retry` must
//! either carry the run to an end or refuse it with a reason.
//!
//! The points come from `GAUNTLET_TEST_SEED` (default below); a failure
//! prints the seed and the point, so it replays.

// Prints each kill point and its outcome, for the person running it. The ban on print
// macros (clippy.toml on main) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Bench, assert_no_processes_with_marker, free_port, stderr, stdout};
use gauntlet_store::{RunState, StageState, Store};

const DEFAULT_SEED: u64 = 0x5eed_0011;
const POINTS: usize = 5;
/// Kill points are drawn in [0, this): the plan takes about a second in a
/// debug build, so most points fall inside it, some after.
const LATEST_KILL_MS: u64 = 1_200;

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn plan(b: &Bench) -> std::path::PathBuf {
    b.write_plan(
        "faulty.toml",
        &format!(
            r#"[vars]
bin_dir = "{}"
port = "0"

[[service]]
name = "api"
command = ["${{bin_dir}}/http-service", "--port", "${{port}}"]
tests = [["${{bin_dir}}/http-service", "--selftest", "http://127.0.0.1:${{port}}"]]
[service.health]
http = "http://127.0.0.1:${{port}}/health"

[[stage]]
kind = "up"

[[stage]]
name = "smoke"
kind = "command"
command = ["${{bin_dir}}/http-service", "--selftest", "http://127.0.0.1:${{port}}"]

[[stage]]
kind = "wait"
duration = "300ms"

[[stage]]
kind = "down"

[[stage]]
kind = "cycle"
cycles = 2
"#,
            b.bin_dir()
        ),
    )
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn sigkilled_at_random_points_the_store_stays_consistent_and_nothing_is_left() {
    let seed = std::env::var("GAUNTLET_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut rng = seed;
    let b = Bench::new();
    let plan = plan(&b);
    let began = Instant::now();
    let mut seen_runs = 0;
    for point in 0..POINTS {
        let delay = Duration::from_millis(splitmix64(&mut rng) % LATEST_KILL_MS);
        let at = format!("seed {seed}, point {point}: SIGKILL after {delay:?}");
        eprintln!("{at}");
        let port = format!("port={}", free_port());
        let mut child = b
            .command(&["run", plan.to_str().unwrap(), "--set", &port, "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            child.kill().unwrap();
        }
        child.wait().unwrap();
        // Its service and commands die with it (their parent-death signal).
        assert_no_processes_with_marker(&b.marker);

        // The next command finds the dead run and lists it, interrupted.
        let runs = b.runs();
        if runs.len() == seen_runs {
            // Killed before it stored anything: nothing to resume.
            assert!(killed, "{at}: a run that ended was not stored");
            continue;
        }
        assert_eq!(runs.len(), seen_runs + 1, "{at}");
        seen_runs += 1;
        let run = &runs[0];
        let id = run["id"].as_str().unwrap().to_owned();
        let state = run["state"].as_str().unwrap();
        if killed {
            assert!(
                ["interrupted", "held", "finished"].contains(&state),
                "{at}: {run}"
            );
        }
        let store = Store::open(b.db()).unwrap();
        assert!(store.integrity_check().unwrap().is_empty(), "{at}");
        let r = store.run(&id).unwrap();
        let states = store.stage_states(&r.id).unwrap();
        assert!(
            states.iter().all(|(_, s)| *s != StageState::Running),
            "{at}: a stage still running in a run nobody drives: {states:?}"
        );
        if r.state == RunState::Interrupted
            && let Some(stage) = &r.held_stage
        {
            let failed = states.iter().find(|(n, _)| n == stage).unwrap();
            assert_eq!(failed.1, StageState::Failed, "{at}");
        }
        drop(store);

        // Retry: to an end, or refused with a reason (a run killed before
        // its resolved plan was written, a run that had finished).
        let before = Store::open(b.db()).unwrap().run(&id).unwrap();
        let out = b.gauntlet(&["retry", &id, "--quiet"]);
        let after = Store::open(b.db()).unwrap().run(&id).unwrap();
        eprintln!(
            "  {} at {:?}; retry exited {}, {}",
            before.state,
            before.held_stage,
            code(&out),
            after.state
        );
        match code(&out) {
            0 => assert_eq!(after.state, RunState::Finished, "{at}"),
            1 => assert_eq!(after.state, RunState::Held, "{at}"),
            254 | 255 => {
                assert!(
                    stderr(&out).contains("cannot"),
                    "{at}: refused without a reason: {}",
                    stderr(&out)
                );
                assert_eq!(
                    after.state, before.state,
                    "{at}: a refused retry changed the run"
                );
            }
            other => panic!(
                "{at}: retry exited {other}\n{}\n{}",
                stdout(&out),
                stderr(&out)
            ),
        }
        // `b.gauntlet` has checked that nothing of the run is left.
    }
    assert!(
        seen_runs > 0,
        "seed {seed}: every kill came before a run was stored"
    );
    eprintln!("{POINTS} points in {:?}", began.elapsed());
}
