//! Gauntlet under its own faults: a `gauntlet soak` SIGKILLed at seeded
//! random points. Whatever the point, the next command finds a consistent
//! store (the dead run is `interrupted`, never left `running`), nothing
//! the dead gauntlet started survives that command, and `retry` either
//! resumes the soak to a verdict or refuses with a reason.

// Prints each kill point's outcome for the person running it. The ban on
// print macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Bench, assert_no_processes_with_marker, free_port, stderr, stdout};

/// A 6 s soak of the example http-service, with power cuts.
fn plan(b: &Bench) -> String {
    let port = free_port();
    format!(
        r#"[[service]]
name = "api"
command = ["{bin}/http-service", "--port", "{port}", "--data-file", "{data}"]
[service.health]
http = "http://127.0.0.1:{port}/health"
interval = "50ms"

[soak]
duration = "6s"
warmup = "1s"
calm_timeout = "20s"

[users]
count = 3
think_min = "10ms"
think_max = "40ms"
keys_per_user = 10
unreachable_after = "5s"
[[users.step]]
method = "PUT"
url = "http://127.0.0.1:{port}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true

[readback]
http = "http://127.0.0.1:{port}/kv/{{{{key}}}}"

[[fault]]
kind = "power-cut"
every = "2s..3s"
duration = "300ms"
"#,
        bin = b.bin_dir(),
        data = b.path().join("kv.data").display(),
    )
}

/// Kill points in ms after the start, drawn from a fixed seed (a
/// splitmix64 stream) so a failure names a point that reproduces.
fn kill_points(seed: u64, n: usize) -> Vec<u64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            // Anywhere from start-up to the calm after the soak.
            50 + z % 9_000
        })
        .collect()
}

#[test]
fn a_sigkilled_soak_leaves_a_consistent_store_nothing_running_and_retry_ends_it() {
    for kill_ms in kill_points(0x5eed, 3) {
        let b = Bench::new();
        let plan = b.write_plan("soak.toml", &plan(&b));
        let mut child = b
            .command(&["soak", plan.to_str().unwrap(), "--seed", "7"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // `retry` sweeps what the dead gauntlet left, then resumes or
        // refuses; either way it says what happened and does not panic.
        let retry = b.command(&["retry", "latest", "--quiet"]).output().unwrap();
        let (out, err) = (stdout(&retry), stderr(&retry));
        let code = retry.status.code();
        let context = format!("killed at {kill_ms} ms; retry exit {code:?}\n{out}\n{err}");
        eprintln!("{context}");
        assert!(!err.contains("panicked"), "{context}");
        match code {
            // Resumed to a verdict.
            Some(0..=2) => {}
            // Refused or could not go on: with a reason.
            Some(254 | 255) => assert!(!err.trim().is_empty(), "{context}"),
            _ => panic!("unexpected exit: {context}"),
        }
        assert_no_processes_with_marker(&b.marker);

        let runs = b.runs();
        assert!(runs.len() <= 1, "{context}\n{runs:#?}");
        let Some(run) = runs.first() else {
            // Killed before the run was stored: retry had nothing to resume.
            assert!(code.is_some_and(|c| c >= 254), "{context}");
            continue;
        };
        let state = run["state"].as_str().unwrap();
        match code {
            Some(0..=2) => assert_eq!(state, "finished", "{context}\n{run:#}"),
            _ => assert!(
                matches!(state, "interrupted" | "held" | "finished"),
                "{context}\n{run:#}"
            ),
        }
        // The store answers for it: its record and reports are readable.
        let show = b.gauntlet(&["show", run["id"].as_str().unwrap()]);
        assert!(show.status.success(), "{context}\n{}", stderr(&show));
    }
}
