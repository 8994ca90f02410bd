use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Validity;

/// How many evidence items a result keeps. Histories of 10^5 ops can fail in
/// thousands of places; the first few prove the point and keep reports
/// readable, while the `evidence-count` figure still tells how many there
/// were in all.
pub const EVIDENCE_CAP: usize = 32;

/// The figure that holds the total number of evidence items, including
/// those dropped beyond [`EVIDENCE_CAP`].
pub const EVIDENCE_COUNT: &str = "evidence-count";

/// One check's outcome, in the single shape every Gauntlet check shares:
/// `{"valid": ..., "checker": "...", ...figures, "evidence": [...]}`.
///
/// Figures are flattened into the top-level object (Jepsen style) so existing
/// Jepsen/Maelstrom readers find `attempt-count`, `lost` and friends where
/// they expect them. The builder methods below keep `valid` and the evidence
/// count consistent, so checkers never tally by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The verdict; the run's own verdict is the worst of its checks'.
    pub valid: Validity,
    /// Which checker produced this, so a result read back from disk still
    /// says what it judged.
    pub checker: String,
    /// Named numbers and lists (kebab-case, Jepsen's names where Jepsen has
    /// one), always including `evidence-count`.
    #[serde(flatten)]
    pub figures: Map<String, Value>,
    /// Why the verdict is what it is: the first [`EVIDENCE_CAP`] items, each
    /// a JSON object with a `problem` string and references to the ops
    /// involved (their `index` in the history).
    #[serde(default)]
    pub evidence: Vec<Value>,
}

impl CheckResult {
    /// A passing result with no figures, for a checker to demote as it finds
    /// problems. Starting from `Valid` is safe only because every checker in
    /// this crate also demotes to `Unknown` when it had nothing to check.
    pub fn new(checker: impl Into<String>) -> CheckResult {
        let mut figures = Map::new();
        figures.insert(EVIDENCE_COUNT.to_owned(), Value::from(0u64));
        CheckResult {
            valid: Validity::Valid,
            checker: checker.into(),
            figures,
            evidence: Vec::new(),
        }
    }

    /// Sets a figure; chainable form of [`CheckResult::set`].
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> CheckResult {
        self.set(key, value);
        self
    }

    /// Sets a figure. `valid`, `checker` and `evidence` are reserved because
    /// a flattened figure with those names would produce duplicate JSON keys.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        debug_assert!(
            !matches!(key, "valid" | "checker" | "evidence"),
            "figure name {key:?} is reserved"
        );
        self.figures.insert(key.to_owned(), value.into());
    }

    /// Lowers the verdict to at most `v` (it never raises it).
    pub fn demote(&mut self, v: Validity) {
        self.valid = Validity::worst(self.valid, v);
    }

    /// Records an evidence item without changing the verdict: kept if fewer
    /// than [`EVIDENCE_CAP`] are held, counted either way.
    pub fn evidence(&mut self, item: Value) {
        let total = self.evidence_count() + 1;
        self.figures
            .insert(EVIDENCE_COUNT.to_owned(), Value::from(total));
        if self.evidence.len() < EVIDENCE_CAP {
            self.evidence.push(item);
        }
    }

    /// Records a violation: the result becomes invalid and `item` says why.
    pub fn fail(&mut self, item: Value) {
        self.demote(Validity::Invalid);
        self.evidence(item);
    }

    /// Records why the checker could not decide: the result becomes at most
    /// unknown (an earlier violation still wins).
    pub fn undecided(&mut self, item: Value) {
        self.demote(Validity::Unknown);
        self.evidence(item);
    }

    /// How many evidence items there were in all, including those dropped
    /// beyond the cap.
    pub fn evidence_count(&self) -> u64 {
        self.figures
            .get(EVIDENCE_COUNT)
            .and_then(Value::as_u64)
            .unwrap_or(self.evidence.len() as u64)
    }

    /// A figure by name, for callers that combine or display results.
    pub fn figure(&self, key: &str) -> Option<&Value> {
        self.figures.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_flat_with_evidence_last_field() {
        let mut r = CheckResult::new("demo").with("attempt-count", 3);
        r.fail(json!({"problem": "x"}));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"valid": false, "checker": "demo", "attempt-count": 3,
                   "evidence-count": 1, "evidence": [{"problem": "x"}]})
        );
        let back: CheckResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn evidence_is_capped_but_counted() {
        let mut r = CheckResult::new("demo");
        for i in 0..(EVIDENCE_CAP + 5) {
            r.evidence(json!(i));
        }
        assert_eq!(r.evidence.len(), EVIDENCE_CAP);
        assert_eq!(r.evidence_count(), (EVIDENCE_CAP + 5) as u64);
        assert_eq!(r.evidence[0], json!(0));
        // Evidence alone does not change the verdict.
        assert_eq!(r.valid, Validity::Valid);
    }

    #[test]
    fn undecided_does_not_hide_a_failure() {
        let mut r = CheckResult::new("demo");
        r.undecided(json!("a"));
        assert_eq!(r.valid, Validity::Unknown);
        r.fail(json!("b"));
        r.undecided(json!("c"));
        assert_eq!(r.valid, Validity::Invalid);
    }
}
