//! Checkers by name: one [`Checker`] signature, one [`CheckInput`] shape,
//! and the [`Checkers`] registry the workbench (and plans) look names up in.
//!
//! The registry holds what this crate can judge without IO. Checkers that
//! live in other crates (the linearizability checker in `gauntlet-linear`)
//! are registered by a crate that depends on both; external checker
//! programs are run at the IO edge (`gauntlet-check-program`) and produce
//! the same [`CheckResult`].

use std::collections::BTreeMap;
use std::sync::Arc;

use gauntlet_history::{Op, OpType};
use serde_json::json;

use crate::{Availability, CheckResult, availability, counter, echo, set_full, stats, unique_ids};

/// Everything a checker may judge: the one input shape every checker takes.
///
/// Today that is the history. The soak's journal, the run's measurements
/// and its fault log join as optional fields when a checker needs them
/// (the struct is `non_exhaustive`, so adding one breaks no caller); a
/// checker that needs an input the run did not provide says `unknown`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CheckInput<'a> {
    /// The run's history: client ops and nemesis ops in real-time order.
    pub history: &'a [Op],
}

impl<'a> CheckInput<'a> {
    /// An input holding only a history.
    pub fn new(history: &'a [Op]) -> CheckInput<'a> {
        CheckInput { history }
    }
}

/// A checker: a name and a pure function from the run's inputs to the one
/// result shape. Implementations do no IO and keep no state between calls.
pub trait Checker: Send + Sync {
    /// The name it is registered and looked up under (`"counter"`).
    fn name(&self) -> &str;
    /// Judges the input. Never panics on bad input: a history it cannot
    /// judge gives `unknown` with the reason as evidence.
    fn check(&self, input: &CheckInput<'_>) -> CheckResult;
}

/// A name no checker is registered under; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown checker {name:?}; known checkers are: {}", known.join(", "))]
pub struct UnknownChecker {
    /// The name asked for.
    pub name: String,
    /// Every registered name, sorted.
    pub known: Vec<String>,
}

/// Checkers by name. Cheap to clone (the checkers are shared).
#[derive(Clone, Default)]
pub struct Checkers {
    by_name: BTreeMap<String, Arc<dyn Checker>>,
}

impl std::fmt::Debug for Checkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

impl Checkers {
    /// An empty registry.
    pub fn new() -> Checkers {
        Checkers::default()
    }

    /// The checkers of this crate: `echo`, `unique-ids`, `set-full`,
    /// `counter`, `stats` and `availability` (with no target).
    pub fn builtin() -> Checkers {
        let mut c = Checkers::new();
        c.register(Echo);
        c.register(UniqueIds);
        c.register(SetFull);
        c.register(Counter);
        c.register(Stats);
        c.register(AvailabilityChecker::new(None));
        c
    }

    /// Adds `checker` under its name, replacing one of the same name (so a
    /// run can register `availability` with its own target).
    pub fn register(&mut self, checker: impl Checker + 'static) {
        self.by_name
            .insert(checker.name().to_owned(), Arc::new(checker));
    }

    /// The checker registered as `name`.
    pub fn get(&self, name: &str) -> Result<&dyn Checker, UnknownChecker> {
        self.by_name
            .get(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| UnknownChecker {
                name: name.to_owned(),
                known: self.names().map(str::to_owned).collect(),
            })
    }

    /// Whether a checker is registered as `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Looks `name` up and runs it over `input`.
    pub fn check(&self, name: &str, input: &CheckInput<'_>) -> Result<CheckResult, UnknownChecker> {
        Ok(self.get(name)?.check(input))
    }

    /// Like [`Checkers::check`], but a name this registry lacks is a verdict
    /// too: `unknown`, saying so (for names checked earlier, against a
    /// registry that may differ, such as a stored plan's).
    pub fn judge(&self, name: &str, input: &CheckInput<'_>) -> CheckResult {
        self.check(name, input).unwrap_or_else(|e| {
            let mut r = CheckResult::new(name);
            r.undecided(serde_json::json!({ "problem": e.to_string() }));
            r
        })
    }
}

/// [`echo::check`] by name.
#[derive(Debug, Clone, Copy)]
pub struct Echo;

impl Checker for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        echo::check(input.history)
    }
}

/// [`unique_ids::check`] by name.
#[derive(Debug, Clone, Copy)]
pub struct UniqueIds;

impl Checker for UniqueIds {
    fn name(&self) -> &str {
        "unique-ids"
    }
    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        unique_ids::check(input.history)
    }
}

/// [`set_full::check`] by name, for broadcast and g-set alike.
///
/// The add function is the history's one client `f` besides `read`
/// (`broadcast` for broadcast, `add` for g-set), so one name serves every
/// set workload. A history with two such functions cannot be judged as one
/// set and is `unknown`.
#[derive(Debug, Clone, Copy)]
pub struct SetFull;

impl Checker for SetFull {
    fn name(&self) -> &str {
        "set-full"
    }
    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        let mut adds: Vec<&str> = input
            .history
            .iter()
            .filter(|op| op.is_client() && op.kind == OpType::Invoke && op.f != "read")
            .map(|op| op.f.as_str())
            .collect();
        adds.sort_unstable();
        adds.dedup();
        match adds.as_slice() {
            // Nothing added: set-full says unknown by itself.
            [] => set_full::check(input.history, "add"),
            [one] => set_full::check(input.history, one),
            several => {
                let mut r = set_full::check(input.history, several[0]);
                r.undecided(json!({
                    "problem": "the history adds with more than one function; set-full judges one set",
                    "functions": several,
                }));
                r
            }
        }
    }
}

/// [`counter::check`] by name (g-counter and pn-counter).
#[derive(Debug, Clone, Copy)]
pub struct Counter;

impl Checker for Counter {
    fn name(&self) -> &str {
        "counter"
    }
    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        counter::check(input.history)
    }
}

/// [`stats::check`] by name.
#[derive(Debug, Clone, Copy)]
pub struct Stats;

impl Checker for Stats {
    fn name(&self) -> &str {
        "stats"
    }
    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        stats::check(input.history)
    }
}

/// [`availability::check`] by name, against the target it was made with.
#[derive(Debug, Clone, Copy)]
pub struct AvailabilityChecker {
    target: Option<Availability>,
}

impl AvailabilityChecker {
    /// With no target the result is a figure, always `true`; with one it
    /// is judged (see [`availability::check`]).
    pub fn new(target: Option<Availability>) -> AvailabilityChecker {
        AvailabilityChecker { target }
    }
}

impl Checker for AvailabilityChecker {
    fn name(&self) -> &str {
        "availability"
    }
    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        availability::check(input.history, self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validity;
    use crate::testkit::H;

    #[test]
    fn builtin_names_and_unknown_name_lists_them() {
        let c = Checkers::builtin();
        let names: Vec<&str> = c.names().collect();
        assert_eq!(
            names,
            [
                "availability",
                "counter",
                "echo",
                "set-full",
                "stats",
                "unique-ids"
            ]
        );
        let e = c.get("lineariz").err().expect("unknown");
        assert_eq!(e.name, "lineariz");
        let text = e.to_string();
        assert!(
            text.contains("\"lineariz\"") && text.contains("counter, echo, set-full"),
            "{text}"
        );
    }

    #[test]
    fn lookups_give_the_same_result_as_the_functions() {
        let mut h = H::new();
        h.inv(0, "echo", json!("hi"));
        h.ok(0, "echo", json!("hi"));
        let history = h.build();
        let input = CheckInput::new(&history);
        let c = Checkers::builtin();
        assert_eq!(c.check("echo", &input).unwrap(), echo::check(&history));
        assert_eq!(c.check("stats", &input).unwrap(), stats::check(&history));
        assert_eq!(
            c.check("echo", &input).unwrap().valid,
            Validity::Valid,
            "a correct echo passes"
        );
    }

    #[test]
    fn set_full_finds_its_add_function() {
        for add in ["broadcast", "add"] {
            let mut h = H::new();
            h.inv(0, add, json!(1));
            h.ok(0, add, json!(1));
            h.inv(1, "read", json!(null));
            h.ok(1, "read", json!([1]));
            let history = h.build();
            let r = Checkers::builtin()
                .check("set-full", &CheckInput::new(&history))
                .unwrap();
            assert_eq!(r, set_full::check(&history, add), "{add}");
            assert_eq!(r.valid, Validity::Valid, "{add}");
        }
        let mut h = H::new();
        h.inv(0, "add", json!(1));
        h.ok(0, "add", json!(1));
        h.inv(1, "broadcast", json!(2));
        h.ok(1, "broadcast", json!(2));
        h.inv(2, "read", json!(null));
        h.ok(2, "read", json!([1, 2]));
        let history = h.build();
        let r = SetFull.check(&CheckInput::new(&history));
        assert_eq!(r.valid, Validity::Unknown);
    }

    #[test]
    fn a_registered_checker_replaces_one_of_the_same_name() {
        let mut h = H::new();
        h.inv(0, "read", json!(null));
        h.info(0, "read", json!(null));
        let history = h.build();
        let mut c = Checkers::builtin();
        let input = CheckInput::new(&history);
        assert_eq!(
            c.check("availability", &input).unwrap().valid,
            Validity::Valid
        );
        c.register(AvailabilityChecker::new(Some(Availability::Total)));
        assert_eq!(
            c.check("availability", &input).unwrap().valid,
            Validity::Invalid
        );
    }
}
