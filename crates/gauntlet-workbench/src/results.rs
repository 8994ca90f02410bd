//! `results.json`: every check's verdict, and the run's figures.

use gauntlet_check::{CheckInput, CheckResult, Validity, availability, latency};
use gauntlet_history::Op;
use serde_json::{Map, Value, json};

use crate::checkers::{checkers, for_workload};
use crate::config::{CheckerSpec, TestConfig};
use crate::net::Net;
use crate::node::Crash;

pub(crate) struct Results {
    pub valid: Validity,
    pub json: Value,
}

/// Runs the workload's checker, the run-level checks and the built-in
/// checkers named with `--checker` over the history, and files the
/// checker programs' results (`programs`, already run) beside them.
pub(crate) fn assemble(
    cfg: &TestConfig,
    history: &[Op],
    net: &Net,
    crashes: &[Crash],
    messages: u64,
    programs: Vec<(String, CheckResult)>,
) -> Results {
    let registry = checkers(Some(cfg));
    let input = CheckInput::new(history);
    // Names are validated with the config; a miss here is still a verdict
    // (unknown, saying why), not a panic.
    let by_name = |name: &str| registry.judge(name, &input);
    let mut checks: Vec<(String, CheckResult)> = Vec::new();
    checks.push(("workload".into(), workload_check(&cfg.workload, &by_name)));
    checks.push(("stats".into(), by_name("stats")));
    if cfg.availability.is_some() {
        checks.push(("availability".into(), by_name("availability")));
    }
    checks.push(("protocol".into(), protocol_check(net)));
    checks.push(("crashes".into(), crash_check(crashes)));
    for spec in &cfg.checkers {
        if let CheckerSpec::Builtin(name) = spec {
            checks.push((name.clone(), by_name(name)));
        }
    }
    checks.extend(programs);

    let valid = Validity::worst_of(checks.iter().map(|(_, c)| c.valid));
    let invokes = history
        .iter()
        .filter(|op| op.is_client() && op.kind == gauntlet_history::OpType::Invoke)
        .count() as u64;
    let faults = history.iter().filter(|op| !op.is_client()).count();
    let mut checks_json = Map::new();
    for (name, check) in checks {
        checks_json.insert(name, serde_json::to_value(check).expect("json"));
    }
    let mut net_stats = net.stats(invokes);
    net_stats["journal-records"] = json!(messages);
    if let (Some(stats), Value::Object(limits)) = (net_stats.as_object_mut(), net.limit_figures()) {
        stats.extend(limits);
    }
    let json = json!({
        "valid": valid,
        "checks": checks_json,
        "net": net_stats,
        "latency": latency::summarize(history),
        "availability": availability::check(history, None).figures,
        "nemesis-events": faults,
    });
    Results { valid, json }
}

/// The workload's checker, by name from the registry.
fn workload_check(workload: &str, by_name: &dyn Fn(&str) -> CheckResult) -> CheckResult {
    match for_workload(workload) {
        Some(name) => by_name(name),
        None => {
            let mut r = CheckResult::new(workload);
            r.undecided(json!({"problem": format!("no checker for the {workload} workload yet")}));
            r
        }
    }
}

/// Every line a node printed must be a routable message. Late replies to
/// clients that gave up are counted but are no protocol error.
fn protocol_check(net: &Net) -> CheckResult {
    let summary = net.bad_output_summary();
    let mut check = CheckResult::new("protocol")
        .with("bad-line-count", summary.protocol_errors)
        .with(
            "by-class",
            serde_json::to_value(&summary.by_class).expect("json"),
        )
        .with(
            "by-node",
            serde_json::to_value(&summary.by_node).expect("json"),
        )
        .with(
            "by-node-and-class",
            serde_json::to_value(&summary.by_node_and_class).expect("json"),
        );
    for example in summary.examples {
        let item = serde_json::to_value(&example).expect("json");
        if example.is_protocol_error() {
            check.fail(item);
        }
    }
    check
}

/// A node that exits on its own, without a kill from the nemesis, is a bug.
fn crash_check(crashes: &[Crash]) -> CheckResult {
    let mut check = CheckResult::new("crashes").with("crash-count", crashes.len());
    for crash in crashes {
        check.fail(serde_json::to_value(crash).expect("json"));
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workload with no checker yet is judged unknown, never valid: a
    /// run of it exits 2 however clean its history looks. The positive
    /// control: a mapped workload gets its checker's verdict.
    #[test]
    fn a_workload_without_a_checker_is_unknown() {
        let registry = checkers(None);
        let empty: Vec<Op> = Vec::new();
        let input = CheckInput::new(&empty);
        let by_name = |name: &str| registry.judge(name, &input);
        let workload = "no-such-workload";
        let r = workload_check(workload, &by_name);
        assert_eq!(r.valid, Validity::Unknown, "{workload}");
        let why = serde_json::to_string(&r).unwrap();
        assert!(why.contains("no checker"), "{why}");
        assert_eq!(
            Validity::worst_of([Validity::Valid, r.valid]),
            Validity::Unknown
        );
        let echo = workload_check("echo", &by_name);
        assert_eq!(echo.checker, "echo");
        let txn = workload_check("txn-list-append", &by_name);
        assert_eq!(txn.checker, "list-append");
        // Nothing committed: unknown, from the checker itself.
        assert_eq!(txn.valid, Validity::Unknown);
    }
}
