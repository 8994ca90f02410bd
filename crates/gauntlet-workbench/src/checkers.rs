//! The checkers a workbench run can name (every built-in checker, from
//! gauntlet-linear's registry, which adds `linearizable` to
//! gauntlet-check's), and which checker judges each workload.

use gauntlet_check::{AvailabilityChecker, Checkers};

use crate::config::TestConfig;

/// Every built-in checker by name, with `availability` judged against
/// `--availability` when one is given.
pub fn checkers(cfg: Option<&TestConfig>) -> Checkers {
    let mut c = gauntlet_linear::checkers();
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
