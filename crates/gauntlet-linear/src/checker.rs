//! The linearizability checker by name, in the registry of gauntlet-check:
//! this crate depends on gauntlet-check, so it is where both are known.

use std::time::Duration;

use gauntlet_check::{CheckInput, CheckResult, Checker, Checkers};
use serde_json::json;

use crate::{CHECKER, CasRegister, Options, check};

/// `linearizable`: a cas-register per key (lin-kv's model), checked key by
/// key. The check gets a generous deadline; past it the verdict is
/// `unknown`, never `valid`.
#[derive(Debug, Clone, Copy)]
pub struct Linearizable {
    timeout: Duration,
}

impl Linearizable {
    /// With this deadline for the whole check.
    pub fn with_timeout(timeout: Duration) -> Linearizable {
        Linearizable { timeout }
    }
}

impl Default for Linearizable {
    /// Five minutes.
    fn default() -> Linearizable {
        Linearizable::with_timeout(Duration::from_secs(300))
    }
}

impl Checker for Linearizable {
    fn name(&self) -> &str {
        CHECKER
    }

    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        match check(
            &CasRegister,
            input.history,
            &Options::with_timeout(self.timeout),
        ) {
            Ok(analysis) => analysis.result(),
            Err(e) => {
                let mut r = CheckResult::new(CHECKER);
                r.undecided(json!({"problem": format!("the history could not be checked: {e}")}));
                r
            }
        }
    }
}

/// Every built-in checker by name: gauntlet-check's
/// ([`Checkers::builtin`]) and `linearizable`.
pub fn checkers() -> Checkers {
    let mut c = Checkers::builtin();
    c.register(Linearizable::default());
    c
}
