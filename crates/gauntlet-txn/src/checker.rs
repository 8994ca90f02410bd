//! The checkers by name, for gauntlet-check's registry: `list-append` and
//! `rw-register`, judged against the models they were built with.

use gauntlet_check::{CheckInput, CheckResult, Checker, Checkers};
use serde_json::json;

use crate::{Options, TxnError, Workload, check, parse_model};

/// A transactional checker for one workload.
#[derive(Debug, Clone)]
pub struct TxnChecker {
    workload: Workload,
    options: Options,
}

impl TxnChecker {
    /// Checks `workload` histories with these options; the model names are
    /// validated here, so a typo fails before any run.
    pub fn new(workload: Workload, options: Options) -> Result<TxnChecker, TxnError> {
        for m in &options.models {
            parse_model(m)?;
        }
        Ok(TxnChecker { workload, options })
    }

    /// Strict serializability, with the default budget.
    pub fn strict(workload: Workload) -> TxnChecker {
        TxnChecker {
            workload,
            options: Options::default(),
        }
    }
}

impl Checker for TxnChecker {
    fn name(&self) -> &str {
        self.workload.name()
    }

    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        match check(input.history, self.workload, &self.options) {
            Ok(analysis) => analysis.result(),
            Err(e) => {
                let mut r = CheckResult::new(self.workload.name());
                let mut item = json!({"problem": format!("the history could not be checked: {e}")});
                if let Some(i) = e.index() {
                    item["ops"] = json!([i]);
                }
                r.undecided(item);
                r
            }
        }
    }
}

/// `list-append` and `rw-register` judged against `models` (Elle's names;
/// empty means strict-serializable), to add to a registry.
pub fn checkers<S: AsRef<str>>(models: &[S]) -> Result<Vec<TxnChecker>, TxnError> {
    let mut options = Options::default();
    if !models.is_empty() {
        options.models = models.iter().map(|m| m.as_ref().to_owned()).collect();
    }
    [Workload::ListAppend, Workload::RwRegister]
        .into_iter()
        .map(|w| TxnChecker::new(w, options.clone()))
        .collect()
}

/// Registers both checkers (strict-serializable) in `registry`.
pub fn register(registry: &mut Checkers) {
    registry.register(TxnChecker::strict(Workload::ListAppend));
    registry.register(TxnChecker::strict(Workload::RwRegister));
}
