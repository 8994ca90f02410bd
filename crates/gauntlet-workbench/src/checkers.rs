//! The checkers a workbench run can name: the registry of gauntlet-check
//! plus the linearizability checker (gauntlet-linear depends on
//! gauntlet-check, so it is registered here, where both are known), and
//! which checker judges each workload.

use std::time::Duration;

use gauntlet_check::{AvailabilityChecker, CheckInput, CheckResult, Checker, Checkers};
use serde_json::json;

use crate::config::TestConfig;

/// Every built-in checker by name, with `availability` judged against
/// `--availability` when one is given.
pub fn checkers(cfg: Option<&TestConfig>) -> Checkers {
    let mut c = Checkers::builtin();
    c.register(Linearizable::default());
    if let Some(cfg) = cfg {
        c.register(AvailabilityChecker::new(cfg.availability));
    }
    c
}

/// The checker that judges a workload's history (filed as `workload` in
/// `results.json`), or `None` for a workload with no checker yet.
pub(crate) fn for_workload(workload: &str) -> Option<&'static str> {
    Some(match workload {
        "echo" => "echo",
        "unique-ids" => "unique-ids",
        "broadcast" | "g-set" => "set-full",
        "g-counter" | "pn-counter" => "counter",
        "lin-kv" => "linearizable",
        _ => return None,
    })
}

/// lin-kv is a cas-register per key, checked key by key. The check gets a
/// generous deadline; past it the verdict is `unknown`, never `valid`.
#[derive(Debug, Clone, Copy)]
pub struct Linearizable {
    timeout: Duration,
}

impl Default for Linearizable {
    fn default() -> Linearizable {
        Linearizable {
            timeout: Duration::from_secs(300),
        }
    }
}

impl Checker for Linearizable {
    fn name(&self) -> &str {
        gauntlet_linear::CHECKER
    }

    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        let options = gauntlet_linear::Options::with_timeout(self.timeout);
        match gauntlet_linear::check(&gauntlet_linear::CasRegister, input.history, &options) {
            Ok(analysis) => analysis.result(),
            Err(e) => {
                let mut r = CheckResult::new(gauntlet_linear::CHECKER);
                r.undecided(json!({"problem": format!("the history could not be checked: {e}")}));
                r
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_with_a_checker_names_a_registered_one() {
        let c = checkers(None);
        for w in gauntlet_workload::WORKLOAD_NAMES {
            if let Some(name) = for_workload(w) {
                assert!(c.contains(name), "{w} -> {name}");
            }
        }
        assert!(c.contains("linearizable"));
        assert_eq!(for_workload("g-set"), Some("set-full"));
    }
}
