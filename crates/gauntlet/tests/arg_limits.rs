//! Numbers on the command line are checked when the arguments are parsed:
//! out of range is exit 254 with a message naming the option and what is
//! allowed, never a panic (exit 101) and never a run on a value silently
//! clamped or wrapped.

mod common;

use std::process::{Command, Output};

use common::{TestRun, gauntlet, stderr};

fn gauntlet_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(gauntlet());
    cmd.args(args)
        .env_remove("SOAK_MINUTES")
        .env_remove("USERS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Refused with 254; the message names `option` (as clap shows it, with
/// its value name) and says what is expected.
fn assert_refused(args: &[&str], env: &[(&str, &str)], option: &str) {
    let out = gauntlet_with(args, env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(254), "{args:?} {env:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        err.contains(&format!("'{option}")) || err.contains(&format!("{option} ")),
        "{args:?} {env:?} should name {option}: {err}"
    );
    assert!(
        err.contains("expected") || err.contains("more than"),
        "{args:?} {env:?} should say what is allowed: {err}"
    );
}

const TEST: [&str; 6] = ["test", "-w", "echo", "--bin", "/bin/cat", "--node-count=2"];

#[test]
fn every_duration_and_rate_of_gauntlet_test_is_range_checked() {
    let cases: &[(&str, &str)] = &[
        // The values of the report: each panicked in Duration::from_secs_f64.
        ("--time-limit", "1e20"),
        ("--rate", "1e-300"),
        ("--rpc-timeout", "1e20"),
        ("--recovery-time", "1e20"),
        // And their siblings.
        ("--nemesis-interval", "1e20"),
        ("--checker-timeout", "1e20"),
        ("--time-limit", "NaN"),
        ("--time-limit", "inf"),
        ("--time-limit", "-1"),
        ("--time-limit", "0"),
        ("--time-limit", "31536000.5"),
        ("--rate", "inf"),
        ("--rate", "-5"),
        ("--rate", "1e7"),
        ("--rpc-timeout", "0"),
        ("--nemesis-interval", "0"),
        ("--checker-timeout", "-0.5"),
        ("--recovery-time", "-1"),
        ("--latency", "1e16"),
        ("--latency", "1e13"),
        ("--latency", "-1"),
        ("--latency", "NaN"),
    ];
    for (option, value) in cases {
        let mut args = TEST.to_vec();
        args.extend([*option, *value]);
        assert_refused(&args, &[], option);
    }
}

#[test]
fn durations_and_counts_of_the_other_commands_are_range_checked() {
    assert_refused(
        &["check", "--model", "kv", "h.jsonl", "--timeout", "9000h"],
        &[],
        "--timeout",
    );
    assert_refused(
        &["check", "--model", "kv", "h.jsonl", "--timeout=-1s"],
        &[],
        "--timeout",
    );
    assert_refused(
        &["check", "--model", "kv", "h.jsonl", "--threads", "0"],
        &[],
        "--threads",
    );
    assert_refused(&["demo", "--time-limit", "1e20"], &[], "--time-limit");
    assert_refused(&["bench", "soak", "--minutes", "1e20"], &[], "--minutes");
    assert_refused(&["bench", "soak", "--minutes", "0"], &[], "--minutes");
    assert_refused(&["bench", "soak", "--users", "0"], &[], "--users");
    assert_refused(&["bench", "router", "--seconds", "1e20"], &[], "--seconds");
    assert_refused(&["bench", "router", "--tokens", "0"], &[], "--tokens");
    assert_refused(&["bench", "flood", "--nodes", "2,10001"], &[], "--nodes");
    assert_refused(
        &["bench", "check", "--sizes", "99999999999"],
        &[],
        "--sizes",
    );
    assert_refused(&["bench", "check", "--clients", "10,0"], &[], "--clients");
    assert_refused(&["bench", "lab", "--packets", "99"], &[], "--packets");
    assert_refused(&["bench", "lab", "--packets", "1e6"], &[], "--packets");
    assert_refused(
        &["soak", "plan.toml", "--minutes", "1e20"],
        &[],
        "--minutes",
    );
    assert_refused(&["soak", "plan.toml", "--minutes", "NaN"], &[], "--minutes");
    assert_refused(&["soak", "plan.toml", "--users", "0"], &[], "--users");
    // The environment's spellings of the same options.
    assert_refused(
        &["soak", "plan.toml"],
        &[("SOAK_MINUTES", "inf")],
        "--minutes",
    );
    assert_refused(&["soak", "plan.toml"], &[("USERS", "-3")], "--users");
}

#[test]
fn counts_name_the_option_that_is_wrong() {
    // `--node-count 0` used to say "--concurrency must be at least 1".
    let mut args = TEST[..5].to_vec();
    args.extend(["--node-count", "0"]);
    assert_refused(&args, &[], "--node-count");
    let err = stderr(&gauntlet_with(&args, &[]));
    assert!(!err.contains("--concurrency"), "{err}");

    for value in ["0", "0n", "x", "-2", "1.5"] {
        let mut args = TEST.to_vec();
        args.extend(["--concurrency", value]);
        assert_refused(&args, &[], "--concurrency");
    }
    // K per node times the node count past the most workers, and no
    // overflow on the way.
    for value in ["99999n", "100000n"] {
        let mut args = TEST.to_vec();
        args.extend(["--concurrency", value]);
        assert_refused(&args, &[], "--concurrency");
    }
    let mut args = TEST[..5].to_vec();
    args.extend(["--node-count", "10001"]);
    assert_refused(&args, &[], "--node-count");
}

#[test]
fn the_transaction_options_are_range_checked() {
    let cases: &[(&str, &str)] = &[
        ("--key-count", "0"),
        ("--key-count", "100001"),
        ("--key-count", "-3"),
        ("--max-txn-length", "0"),
        ("--max-txn-length", "1001"),
        ("--max-txn-length", "2.5"),
        ("--max-writes-per-key", "0"),
        ("--max-writes-per-key", "1000001"),
        ("--consistency-models", ""),
        ("--consistency-models", "serializable,,read-committed"),
    ];
    for (option, value) in cases {
        let mut args = TEST.to_vec();
        args.extend([*option, *value]);
        assert_refused(&args, &[], option);
    }
}

#[test]
fn help_states_the_limits() {
    let out = gauntlet_with(&["test", "--help"], &[]);
    let help = common::stdout(&out);
    assert!(help.contains("365 days"), "{help}");
    let out = gauntlet_with(&["--help"], &[]);
    let help = common::stdout(&out);
    assert!(help.contains("Limits:"), "{help}");
}

/// The largest latency allowed really is that large: no message between
/// nodes arrives within the run, so a broadcast loses its values. (A mean
/// of 1e16 ms used to wrap around to instant delivery and pass.)
#[test]
fn the_largest_latency_delays_messages_instead_of_wrapping() {
    let run = TestRun::new("broadcast", "node-broadcast")
        .arg("--node-count", 3)
        .arg("--time-limit", 1)
        .arg("--rate", 20)
        .arg("--recovery-time", 0)
        .arg("--latency", 31_536_000_000u64)
        .arg("--seed", 5);
    let out = run.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let results = run.results();
    let workload = &results["checks"]["workload"];
    assert_eq!(workload["valid"], false, "{workload}");
    assert!(
        workload["lost-count"].as_u64().unwrap_or(0) > 0,
        "{workload}"
    );
    // Sent between nodes, and not one delivered.
    let servers = &results["net"]["servers"];
    assert!(servers["send-count"].as_u64().unwrap() > 0, "{servers}");
    assert_eq!(servers["recv-count"], 0, "{servers}");
}
