//! `results.json`: every check's verdict, and the run's figures.

use gauntlet_check::{
    CheckResult, Validity, availability, counter, echo, latency, set_full, stats, unique_ids,
};
use gauntlet_history::Op;
use serde_json::{Map, Value, json};

use crate::config::TestConfig;
use crate::net::Net;
use crate::node::Crash;

pub(crate) struct Results {
    pub valid: Validity,
    pub json: Value,
}

/// Runs the workload's checker and the run-level checks over the history.
pub(crate) fn assemble(
    cfg: &TestConfig,
    history: &[Op],
    net: &Net,
    crashes: &[Crash],
    messages: u64,
) -> Results {
    let mut checks: Vec<(&str, CheckResult)> = Vec::new();
    checks.push(("workload", workload_check(&cfg.workload, history)));
    checks.push(("stats", stats::check(history)));
    if let Some(target) = cfg.availability {
        checks.push(("availability", availability::check(history, Some(target))));
    }
    checks.push(("protocol", protocol_check(net)));
    checks.push(("crashes", crash_check(crashes)));

    let valid = Validity::worst_of(checks.iter().map(|(_, c)| c.valid));
    let invokes = history
        .iter()
        .filter(|op| op.is_client() && op.kind == gauntlet_history::OpType::Invoke)
        .count() as u64;
    let faults = history.iter().filter(|op| !op.is_client()).count();
    let mut checks_json = Map::new();
    for (name, check) in checks {
        checks_json.insert(name.to_owned(), serde_json::to_value(check).expect("json"));
    }
    let mut net_stats = net.stats(invokes);
    net_stats["journal-records"] = json!(messages);
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

fn workload_check(workload: &str, history: &[Op]) -> CheckResult {
    match workload {
        "echo" => echo::check(history),
        "unique-ids" => unique_ids::check(history),
        "broadcast" => set_full::check(history, "broadcast"),
        "g-set" => set_full::check(history, "add"),
        "g-counter" | "pn-counter" => counter::check(history),
        "lin-kv" => linearizable(history),
        other => {
            let mut r = CheckResult::new(other);
            r.undecided(
                serde_json::json!({"problem": format!("no checker for the {other} workload yet")}),
            );
            r
        }
    }
}

/// lin-kv is a cas-register per key, checked key by key. The check gets a
/// generous deadline; past it the verdict is `unknown`, never `valid`.
fn linearizable(history: &[Op]) -> CheckResult {
    let options = gauntlet_linear::Options::with_timeout(std::time::Duration::from_secs(300));
    match gauntlet_linear::check(&gauntlet_linear::CasRegister, history, &options) {
        Ok(analysis) => analysis.result(),
        Err(e) => {
            let mut r = CheckResult::new(gauntlet_linear::CHECKER);
            r.undecided(json!({"problem": format!("the history could not be checked: {e}")}));
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
