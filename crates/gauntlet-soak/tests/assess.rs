//! The soak's verdict assembly: I4's demotion when every read failed, the
//! "no value for any key" note, restart counting, a soak that stopped
//! before its readback, and the shape of `verdict.json`.

use std::collections::BTreeMap;
use std::time::Duration;

use gauntlet_check::Validity;
use gauntlet_plan::soak::InvariantSpec;
use gauntlet_soak::assess::{
    Inputs, Readback, Reads, RunFacts, assess, restart_counts, verdict_json,
};
use gauntlet_soak::invariants::{FaultWindow, HealthSample, I1, I4, I5, RssSample};
use gauntlet_soak::journal::{Journal, JournalEntry};
use serde_json::{Value, json};

fn spec(gate: &[&str]) -> InvariantSpec {
    InvariantSpec {
        p95_max: Duration::from_millis(100),
        gap_max: Duration::from_secs(5),
        grace: Duration::from_secs(2),
        rss_slope_max_mb_per_hour: 10.0,
        recover_within: Duration::from_secs(5),
        restart_budget: 0,
        flap_budget: 0,
        gate: gate.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Keys k0..k{n}, each written once and acknowledged with value `v{i}`.
fn journal(n: usize) -> Journal {
    let mut j = Journal::new();
    for i in 0..n {
        j.record(JournalEntry {
            user: 0,
            key: format!("k{i}"),
            value: format!("v{i}"),
            seq: i as u64 + 1,
            time_ms: 100 * i as i64,
            acked: true,
        });
    }
    j
}

/// Healthy every second for 20 s.
fn health() -> BTreeMap<String, Vec<HealthSample>> {
    let samples = (0..=20_000)
        .step_by(1000)
        .map(|t| HealthSample {
            t_ms: t,
            healthy: true,
            latency_ms: Some(5.0),
        })
        .collect();
    BTreeMap::from([("api".to_owned(), samples)])
}

fn kill(start_ms: i64, end_ms: i64) -> FaultWindow {
    FaultWindow {
        fault: "kill-api".into(),
        kind: "kill".into(),
        target: Some("api".into()),
        start_ms,
        end_ms,
    }
}

struct Case {
    journal: Journal,
    health: BTreeMap<String, Vec<HealthSample>>,
    rss: BTreeMap<String, Vec<RssSample>>,
    restarts: BTreeMap<String, u32>,
    faults: Vec<FaultWindow>,
    spec: InvariantSpec,
}

impl Case {
    fn new(keys: usize, gate: &[&str]) -> Case {
        Case {
            journal: journal(keys),
            health: health(),
            rss: BTreeMap::new(),
            restarts: BTreeMap::new(),
            faults: Vec::new(),
            spec: spec(gate),
        }
    }

    fn inputs<'a>(&'a self, readback: Readback<'a>) -> Inputs<'a> {
        Inputs {
            journal: &self.journal,
            readback,
            health: &self.health,
            rss: &self.rss,
            restarts: &self.restarts,
            faults: &self.faults,
            spec: &self.spec,
            warmup_ms: 1000,
            duration_ms: 20_000,
            users: 1,
            checks: &[],
        }
    }
}

fn problems(v: &Value) -> Vec<String> {
    v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["problem"].as_str().map(str::to_owned))
        .collect()
}

fn i4(a: &gauntlet_soak::assess::Assessment) -> Value {
    let r = a.results.iter().find(|r| r.checker == I4).unwrap();
    serde_json::to_value(r).unwrap()
}

#[test]
fn every_read_failing_makes_i4_unknown_not_a_loss() {
    let case = Case::new(3, &["I4"]);
    let reads: Reads = (0..3)
        .map(|i| (format!("k{i}"), Err("connection refused".to_owned())))
        .collect();
    let a = assess(&case.inputs(Readback::Done(&reads)));
    let i4 = i4(&a);
    assert_eq!(i4["valid"], "unknown", "{i4:#}");
    assert!(
        problems(&i4).contains(&"the readback failed for every key".to_owned()),
        "{i4:#}"
    );
    assert_eq!(a.valid, Validity::Unknown);
    assert_eq!(a.loss.as_ref().unwrap().unreadable.len(), 3);
}

#[test]
fn finding_no_value_at_all_fails_i4_and_says_to_check_the_readback() {
    let case = Case::new(3, &["I4"]);
    let reads: Reads = (0..3).map(|i| (format!("k{i}"), Ok(None))).collect();
    let a = assess(&case.inputs(Readback::Done(&reads)));
    let i4 = i4(&a);
    assert_eq!(i4["valid"], false, "{i4:#}");
    assert_eq!(i4["lost"], 3);
    assert!(
        problems(&i4).contains(&"the readback found no value for any key".to_owned()),
        "{i4:#}"
    );
    assert_eq!(a.valid, Validity::Invalid);
}

#[test]
fn a_full_readback_of_every_acknowledged_write_passes() {
    let case = Case::new(3, &["I4"]);
    let reads: Reads = (0..3)
        .map(|i| (format!("k{i}"), Ok(Some(format!("v{i}")))))
        .collect();
    let a = assess(&case.inputs(Readback::Done(&reads)));
    assert_eq!(i4(&a)["valid"], true);
    assert_eq!(i4(&a)["checked"], 3);
    assert_eq!(a.valid, Validity::Valid);
    // One result per invariant, in order.
    let names: Vec<&str> = a.results.iter().map(|r| r.checker.as_str()).collect();
    assert_eq!(
        names,
        [
            "I1-responsiveness",
            "I2-memory",
            "I3-recovery",
            "I4-no-data-loss",
            "I5-stability"
        ]
    );
}

/// The plan's own checks join the verdict after I1–I5 and always gate:
/// one that fails fails the soak, one that could not decide makes it
/// unknown, even when every gated invariant passed.
#[test]
fn the_plans_checks_join_and_gate_the_verdict() {
    use gauntlet_check::CheckResult;
    let case = Case::new(3, &["I4"]);
    let reads: Reads = (0..3)
        .map(|i| (format!("k{i}"), Ok(Some(format!("v{i}")))))
        .collect();
    let with = |valid: Validity| {
        let mut check = CheckResult::new("lease");
        match valid {
            Validity::Valid => {}
            Validity::Invalid => check.fail(json!({"problem": "two holders"})),
            Validity::Unknown => check.undecided(json!({"problem": "crashed"})),
        }
        let checks = [check];
        let a = assess(&Inputs {
            checks: &checks,
            ..case.inputs(Readback::Done(&reads))
        });
        assert_eq!(a.results.last().unwrap().checker, "lease");
        assert_eq!(a.results.len(), 6);
        a.valid
    };
    assert_eq!(with(Validity::Valid), Validity::Valid);
    assert_eq!(with(Validity::Invalid), Validity::Invalid);
    assert_eq!(with(Validity::Unknown), Validity::Unknown);
}

#[test]
fn restarts_add_the_faults_own_to_the_supervisors() {
    let service = BTreeMap::from([("api".to_owned(), 1), ("db".to_owned(), 0)]);
    let caused = BTreeMap::from([("api".to_owned(), 2), ("cache".to_owned(), 1)]);
    assert_eq!(
        restart_counts(&service, &caused),
        BTreeMap::from([
            ("api".to_owned(), 3),
            ("cache".to_owned(), 1),
            ("db".to_owned(), 0)
        ])
    );
}

#[test]
fn fault_caused_restarts_are_explained_and_one_more_is_not() {
    let mut case = Case::new(1, &["I5"]);
    case.faults = vec![kill(5000, 6000), kill(12_000, 13_000)];
    let reads: Reads = BTreeMap::from([("k0".to_owned(), Ok(Some("v0".to_owned())))]);
    // Two kills, each restarted by the fault executor: explained.
    case.restarts = restart_counts(&BTreeMap::new(), &BTreeMap::from([("api".to_owned(), 2)]));
    let a = assess(&case.inputs(Readback::Done(&reads)));
    let i5 = a.results.iter().find(|r| r.checker == I5).unwrap();
    assert_eq!(i5.valid, Validity::Valid, "{i5:?}");
    assert_eq!(i5.figure("explained-restarts"), Some(&json!(2)));
    // The service also crashed once by itself: beyond the faults.
    case.restarts = restart_counts(
        &BTreeMap::from([("api".to_owned(), 1)]),
        &BTreeMap::from([("api".to_owned(), 2)]),
    );
    let a = assess(&case.inputs(Readback::Done(&reads)));
    let i5 = a.results.iter().find(|r| r.checker == I5).unwrap();
    assert_eq!(i5.valid, Validity::Invalid, "{i5:?}");
    assert_eq!(i5.figure("unexplained-restarts"), Some(&json!(1)));
    assert_eq!(a.valid, Validity::Invalid);
}

#[test]
fn a_soak_without_readback_judges_what_it_saw_and_never_passes() {
    // Gated on I1 only, and I1 passes on the samples so far: still unknown.
    let case = Case::new(5, &["I1"]);
    let a = assess(&case.inputs(Readback::Skipped("interrupted before the readback")));
    let i1 = a.results.iter().find(|r| r.checker == I1).unwrap();
    assert_eq!(i1.valid, Validity::Valid, "{i1:?}");
    let i4 = i4(&a);
    assert_eq!(i4["valid"], "unknown");
    assert_eq!(problems(&i4), ["interrupted before the readback"]);
    assert_eq!(i4["acked-writes"], 5);
    assert!(a.loss.is_none());
    assert_eq!(a.valid, Validity::Unknown);

    // What the samples show still fails it: a service down for 10 s.
    let mut case = Case::new(5, &["I1"]);
    for s in case.health.get_mut("api").unwrap() {
        if (5000..15_000).contains(&s.t_ms) {
            s.healthy = false;
            s.latency_ms = None;
        }
    }
    let a = assess(&case.inputs(Readback::Skipped("interrupted before the readback")));
    assert_eq!(a.valid, Validity::Invalid);
}

fn facts<'a>(stopped_early: Option<&'a str>) -> RunFacts<'a> {
    RunFacts {
        run: "r20261202-1",
        plan: "kv",
        minutes: 0.2,
        scenario: "all",
        seed: 7,
        users: json!({ "users": 4, "user_ops_ok": 10 }),
        log_matches: json!({}),
        stopped_early,
    }
}

#[test]
fn verdict_json_keeps_its_fields() {
    let mut case = Case::new(2, &["I4"]);
    case.faults = vec![kill(5000, 6000)];
    let reads: Reads = (0..2)
        .map(|i| (format!("k{i}"), Ok(Some(format!("v{i}")))))
        .collect();
    let a = assess(&case.inputs(Readback::Done(&reads)));
    let v = verdict_json(&facts(None), &a, &case.journal, &case.faults, &case.spec);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "faults",
            "gate",
            "invariants",
            "journal",
            "log_matches",
            "minutes",
            "pass",
            "plan",
            "run",
            "scenario",
            "seed",
            "users",
            "valid"
        ]
    );
    assert_eq!(v["valid"], true);
    assert_eq!(v["pass"], true);
    assert_eq!(v["gate"], json!(["I4"]));
    assert_eq!(v["seed"], 7);
    assert_eq!(v["journal"], json!({"acked": 2, "unacked": 0, "keys": 2}));
    assert_eq!(
        v["faults"],
        json!([{"fault": "kill-api", "kind": "kill", "target": "api", "start_ms": 5000, "end_ms": 6000}])
    );
    assert_eq!(v["invariants"].as_object().unwrap().len(), 5);
    assert_eq!(
        v["invariants"]["I4-no-data-loss"]["checker"],
        "I4-no-data-loss"
    );
    assert_eq!(v["users"]["user_ops_ok"], 10);
}

#[test]
fn an_interrupted_soaks_verdict_says_why_and_is_unknown() {
    let case = Case::new(2, &[]);
    let why = "stopped by a signal (Ctrl-C or SIGTERM)";
    let a = assess(&case.inputs(Readback::Skipped("interrupted before the readback")));
    let v = verdict_json(&facts(Some(why)), &a, &case.journal, &[], &case.spec);
    assert_eq!(v["valid"], "unknown");
    assert_eq!(v["pass"], false);
    assert_eq!(v["error"], why);
    assert_eq!(v["invariants"]["I4-no-data-loss"]["valid"], "unknown");
    assert_eq!(v["journal"]["acked"], 2);
}

/// 100,000 users planned, one of them ever acknowledged: every key that
/// one user wrote reads back, yet the soak did not run as planned.
#[test]
fn a_soak_where_most_users_never_wrote_is_not_a_pass() {
    let case = Case::new(3, &["I4"]);
    let reads: Reads = (0..3)
        .map(|i| (format!("k{i}"), Ok(Some(format!("v{i}")))))
        .collect();
    let a = assess(&Inputs {
        users: 100_000,
        ..case.inputs(Readback::Done(&reads))
    });
    let i4 = i4(&a);
    assert_eq!(i4["valid"], "unknown", "{i4:#}");
    assert!(
        problems(&i4).contains(&"most users never had a write acknowledged".to_owned()),
        "{i4:#}"
    );
    assert_eq!(i4["evidence"][0]["users-with-acked-writes"], 1);
    assert_eq!(a.valid, Validity::Unknown);

    // Gating something else does not let it pass either.
    let case = Case::new(3, &["I1"]);
    let a = assess(&Inputs {
        users: 100_000,
        ..case.inputs(Readback::Done(&reads))
    });
    assert_eq!(a.valid, Validity::Unknown);

    // Two users planned, the one that wrote is half of them: judged.
    let a = assess(&Inputs {
        users: 2,
        ..case.inputs(Readback::Done(&reads))
    });
    assert_eq!(a.valid, Validity::Valid);
}
