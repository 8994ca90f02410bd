//! The checkers a workbench run can name (every built-in checker, from
//! gauntlet-checkers, with the run's options), and which checker judges
//! each workload.

use gauntlet_check::{AvailabilityChecker, Checkers};
use gauntlet_txn::{Options, TxnChecker, Workload};

use crate::config::TestConfig;

/// Every built-in checker by name, with `availability` judged against
/// `--availability` and the transaction checkers against
/// `--consistency-models` when a configuration is given.
pub fn checkers(cfg: Option<&TestConfig>) -> Checkers {
    let mut c = gauntlet_checkers::builtin();
    if let Some(cfg) = cfg {
        c.register(AvailabilityChecker::new(cfg.availability));
        let options = Options {
            models: cfg.consistency_models.clone(),
            ..Options::default()
        };
        for workload in [Workload::ListAppend, Workload::RwRegister] {
            // The names were validated with the configuration; a name that
            // slipped through keeps the strict checker registered above,
            // and the configuration's own check reports it.
            if let Ok(checker) = TxnChecker::new(workload, options.clone()) {
                c.register(checker);
            }
        }
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
        "txn-list-append" => "list-append",
        "txn-rw-register" => "rw-register",
        "kafka" => "kafka",
        _ => return None,
    })
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
        assert_eq!(for_workload("kafka"), Some("kafka"));
        assert!(c.contains("kafka"));
    }
}
