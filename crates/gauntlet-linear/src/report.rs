//! Counterexamples, the project's result shape, plain-text explanations and
//! timeline data.

use std::fmt::Write as _;

use gauntlet_check::{CheckResult, Validity};
use gauntlet_history::Op;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::check::Analysis;
use crate::error::LinearError;
use crate::history::{Outcome, Paired, pair};
use crate::intern::short;
use crate::model::Model;
use crate::search::{Dead, Prepared};

/// The checker's name in results.
pub const CHECKER: &str = "linearizable";

/// How many linearized operations before the dead end a counterexample
/// describes in full (the whole order is in `linearization`).
pub const TAIL: usize = 10;

/// How many "could not go next" operations a counterexample describes.
pub const STUCK_CAP: usize = 16;

/// An operation as the reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct OpRef {
    /// The call's id (rank among client invokes; the timeline's id).
    pub id: usize,
    pub process: u64,
    pub f: String,
    /// The model's description, such as `cas 1→2` or `read → 3`.
    pub op: String,
    /// `ok`, `info` or `open` (never completed).
    pub outcome: String,
    /// The invoke's `index`.
    pub index: u64,
    /// The completion's `index` (`ok` or `info`), if any.
    pub completion_index: Option<u64>,
}

/// One step of the longest linearizable prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LinearStep {
    #[serde(flatten)]
    pub op: OpRef,
    /// The state this operation leaves.
    pub state_after: String,
}

/// An operation that could have gone next at the dead end, and why it
/// does not help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StuckOp {
    #[serde(flatten)]
    pub op: OpRef,
    pub reason: String,
}

/// Why one key (or the whole history) is not linearizable: the deepest
/// point the search reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Counterexample {
    /// The key; `None` for a history without keys or checked whole.
    pub key: Option<Value>,
    pub model: String,
    /// Operations of this key that the search had to place (ok ones, and
    /// indeterminate ones that were not dropped).
    pub op_count: usize,
    /// The longest linearizable prefix found, as call ids in linearization
    /// order.
    pub linearization: Vec<usize>,
    /// Its last [`TAIL`] steps, described, with the state after each.
    pub tail: Vec<LinearStep>,
    /// The model states reachable with exactly that prefix linearized (by
    /// some order of it that the search tried).
    pub states: Vec<String>,
    /// The `ok` operation that returned first among those not linearized:
    /// something must be linearized before its completion.
    pub blocking: OpRef,
    /// Every operation that could have been linearized next (invoked
    /// before `blocking` returned), with why none of them leads anywhere;
    /// at most [`STUCK_CAP`].
    pub stuck: Vec<StuckOp>,
    /// How many there were in all.
    pub stuck_count: usize,
}

fn op_ref<M: Model>(model: &M, history: &[Op], paired: &Paired, id: usize) -> OpRef {
    let rec = paired.calls[id];
    let call = rec.call(id, history);
    OpRef {
        id,
        process: call.process(),
        f: call.f().to_owned(),
        op: model.describe_op(&call),
        outcome: rec.outcome.name().to_owned(),
        index: call.invoke.index,
        completion_index: rec.completion.map(|p| history[p as usize].index),
    }
}

pub(crate) fn build_counterexample<M: Model>(
    model: &M,
    p: &Prepared<M>,
    dead: Dead<M::State>,
    history: &[Op],
    paired: &Paired,
    key: Option<Value>,
) -> Counterexample {
    let ctx = &p.ctx;
    let global = |l: u32| p.ids[l as usize] as usize;
    // Replay the prefix for the states along it.
    let skip = dead.order.len().saturating_sub(TAIL);
    let mut state = model.init(ctx);
    let mut tail = Vec::new();
    for (i, &l) in dead.order.iter().enumerate() {
        match model.step(ctx, &state, &p.ops[l as usize]) {
            Some(s) => state = s,
            None => break, // unreachable: the search took this path
        }
        if i >= skip {
            tail.push(LinearStep {
                op: op_ref(model, history, paired, global(l)),
                state_after: model.describe_state(ctx, &state),
            });
        }
    }
    let states: Vec<String> = dead
        .states
        .iter()
        .map(|s| model.describe_state(ctx, s))
        .collect();
    let one_state = (states.len() == 1).then(|| states[0].clone());
    let stuck = dead
        .candidates
        .iter()
        .take(STUCK_CAP)
        .map(|&l| {
            let op = &p.ops[l as usize];
            let next: Vec<M::State> = dead
                .states
                .iter()
                .filter_map(|s| model.step(ctx, s, op))
                .collect();
            let unknown = p.is_indeterminate(l as usize);
            let reason = if next.is_empty() {
                match &one_state {
                    Some(s) => format!("cannot happen when the state is {s}"),
                    None => format!(
                        "cannot happen in any of the {} reachable states",
                        states.len()
                    ),
                }
            } else {
                let after = model.describe_state(ctx, &next[0]);
                let more = if next.len() > 1 {
                    format!(" or {} other states", next.len() - 1)
                } else {
                    String::new()
                };
                if unknown {
                    format!(
                        "outcome unknown; could happen (leaving {after}{more}), but no order of the remaining operations works after it"
                    )
                } else {
                    format!(
                        "could happen (leaving {after}{more}), but no order of the remaining operations works after it"
                    )
                }
            };
            StuckOp {
                op: op_ref(model, history, paired, global(l)),
                reason,
            }
        })
        .collect();
    Counterexample {
        key: key.filter(|k| !k.is_null()),
        model: model.name().to_owned(),
        op_count: p.len(),
        linearization: dead.order.iter().map(|&l| global(l)).collect(),
        tail,
        states,
        blocking: op_ref(model, history, paired, global(dead.blocking)),
        stuck,
        stuck_count: dead.candidates.len(),
    }
}

fn span(op: &OpRef) -> String {
    match op.completion_index {
        Some(c) if op.outcome == "ok" => format!("[{}→{}]", op.index, c),
        Some(c) => format!("[{}→? info at {}]", op.index, c),
        None => format!("[{}→?]", op.index),
    }
}

fn line(op: &OpRef) -> String {
    format!("p{} {} {}", op.process, op.op, span(op))
}

impl Counterexample {
    /// Where this counterexample lives, for headings.
    pub fn place(&self) -> String {
        match &self.key {
            Some(k) => format!("key {}", short(k, 60)),
            None => "the history".to_owned(),
        }
    }

    /// A plain-text account of the dead end, for a person.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        if self.key.is_some() {
            let _ = writeln!(s, "At {} ({} model):", self.place(), self.model);
        }
        let n = self.linearization.len();
        if n == 0 {
            let _ = writeln!(
                s,
                "Not even the first operation can be linearized; the initial state is {}.",
                self.states.join(" or ")
            );
        } else {
            let _ = writeln!(
                s,
                "The longest linearizable prefix found has {n} of its {} operations{}:",
                self.op_count,
                if n > self.tail.len() {
                    format!("; the last {}", self.tail.len())
                } else {
                    String::new()
                }
            );
            let first = n - self.tail.len();
            let width = self
                .tail
                .iter()
                .map(|t| line(&t.op).chars().count())
                .max()
                .unwrap_or(0);
            for (i, t) in self.tail.iter().enumerate() {
                let l = line(&t.op);
                let pad = width - l.chars().count();
                let _ = writeln!(
                    s,
                    "  {:>5}. {l}{:pad$}  ⇒ {}",
                    first + i + 1,
                    "",
                    t.state_after
                );
            }
            match self.states.as_slice() {
                [one] => {
                    let _ = writeln!(s, "After it the state is {one}.");
                }
                many => {
                    let _ = writeln!(
                        s,
                        "After it (in the orders tried) the state is one of: {}.",
                        many.join(", ")
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "Next, something must take effect before p{}'s {} completes at index {}, but none of the {} operations that could go next leads to a linearization:",
            self.blocking.process,
            self.blocking.op,
            self.blocking
                .completion_index
                .unwrap_or(self.blocking.index),
            self.stuck_count
        );
        for st in &self.stuck {
            let _ = writeln!(s, "  - {}: {}", line(&st.op), st.reason);
        }
        if self.stuck_count > self.stuck.len() {
            let _ = writeln!(s, "  … and {} more", self.stuck_count - self.stuck.len());
        }
        s
    }

    /// The evidence item for [`CheckResult`].
    pub fn evidence(&self) -> Value {
        json!({
            "problem": "not linearizable",
            "key": self.key,
            "op-count": self.op_count,
            "linearized-count": self.linearization.len(),
            "linearized-tail": self.tail,
            "states": self.states,
            "blocking": self.blocking,
            "stuck": self.stuck,
            "stuck-count": self.stuck_count,
            "explanation": self.explain(),
        })
    }
}

impl Analysis {
    /// The verdict in the project's one result shape:
    /// `{"valid": .., "checker": "linearizable", ...figures, "evidence": [..]}`.
    pub fn result(&self) -> CheckResult {
        let c = &self.counts;
        let mut r = CheckResult::new(CHECKER)
            .with("model", self.model.as_str())
            .with("split", self.split)
            .with("op-count", c.calls)
            .with("ok-count", c.ok)
            .with("fail-count", c.fail)
            .with("info-count", c.info + c.open)
            .with("dropped-count", c.dropped)
            .with("key-count", self.key_count)
            .with("configs", self.configs);
        if !self.failures.is_empty() {
            if self.failures.iter().any(|f| f.key.is_some()) {
                let keys: Vec<Value> = self
                    .failures
                    .iter()
                    .map(|f| f.key.clone().unwrap_or(Value::Null))
                    .collect();
                r.set("invalid-keys", keys);
            }
            for f in &self.failures {
                r.fail(f.evidence());
            }
        }
        if !self.undecided_keys.is_empty() {
            r.set("undecided-keys", self.undecided_keys.clone());
            r.set("undecided-count", self.undecided_keys.len());
            r.undecided(json!({
                "problem": "the deadline passed before these keys were decided",
                "keys": self.undecided_keys.iter().take(100).collect::<Vec<_>>(),
            }));
        }
        if self.valid == Validity::Unknown && r.valid == Validity::Valid {
            r.undecided(json!({
                "problem": "no operation completed ok, so there was nothing to check",
            }));
        }
        r.demote(self.valid);
        r
    }

    /// A plain-text account of the verdict for a person.
    pub fn explain(&self) -> String {
        let c = &self.counts;
        let mut s = String::new();
        let what = format!(
            "{} operations ({} ok, {} info, {} failed{}){}",
            c.calls,
            c.ok,
            c.info + c.open,
            c.fail,
            if c.dropped > 0 {
                format!(
                    "; {} indeterminate {} no effect any read could see, so {} skipped",
                    c.dropped,
                    if c.dropped == 1 {
                        "one has"
                    } else {
                        "ones have"
                    },
                    if c.dropped == 1 { "it is" } else { "they are" }
                )
            } else {
                String::new()
            },
            if self.key_count > 1 {
                format!(
                    " over {} keys{}",
                    self.key_count,
                    if self.split {
                        ""
                    } else {
                        ", checked as one object"
                    }
                )
            } else {
                String::new()
            }
        );
        match self.valid {
            Validity::Valid => {
                let _ = writeln!(
                    s,
                    "Linearizable ({} model): {what}; {} configurations explored in {:.3} s.",
                    self.model, self.configs, self.seconds
                );
            }
            Validity::Unknown if self.undecided_keys.is_empty() => {
                let _ = writeln!(
                    s,
                    "Unknown ({} model): no operation completed ok, so there was nothing to check ({what}).",
                    self.model
                );
            }
            Validity::Unknown => {
                let keys: Vec<String> = self
                    .undecided_keys
                    .iter()
                    .take(20)
                    .map(|k| short(k, 30))
                    .collect();
                let _ = writeln!(
                    s,
                    "Unknown ({} model): the deadline passed before {} of {} keys were decided ({}{}); the others are linearizable. {what}.",
                    self.model,
                    self.undecided_keys.len(),
                    self.key_count,
                    keys.join(", "),
                    if self.undecided_keys.len() > 20 {
                        ", …"
                    } else {
                        ""
                    }
                );
            }
            Validity::Invalid => {
                let _ = writeln!(s, "Not linearizable ({} model): {what}.", self.model);
                for f in &self.failures {
                    s.push('\n');
                    s.push_str(&f.explain());
                }
            }
        }
        s
    }

    /// Per-operation data for a timeline drawing, with the failing key's
    /// partial linearization. `history` must be the one checked.
    pub fn timeline(&self, history: &[Op]) -> Result<Timeline, LinearError> {
        let paired = pair(history)?;
        let ops = paired
            .calls
            .iter()
            .enumerate()
            .map(|(id, rec)| {
                let inv = &history[rec.invoke as usize];
                let done = rec.completion.map(|p| &history[p as usize]);
                let returned = matches!(rec.outcome, Outcome::Ok | Outcome::Fail);
                TimelineOp {
                    id,
                    process: match inv.process {
                        gauntlet_history::Process::Client(p) => p,
                        gauntlet_history::Process::Nemesis => u64::MAX,
                    },
                    key: inv.key.clone(),
                    f: inv.f.clone(),
                    kind: match rec.outcome {
                        Outcome::Ok => "ok",
                        Outcome::Fail => "fail",
                        Outcome::Info | Outcome::Open => "info",
                    }
                    .to_owned(),
                    value: inv.value.clone(),
                    result: done
                        .filter(|_| rec.outcome == Outcome::Ok)
                        .map(|d| d.value.clone()),
                    invoke_index: inv.index,
                    invoke_time: inv.time,
                    return_index: done.filter(|_| returned).map(|d| d.index),
                    return_time: done.filter(|_| returned).and_then(|d| d.time),
                }
            })
            .collect();
        let failures = self
            .failures
            .iter()
            .map(|f| TimelineFailure {
                key: f.key.clone(),
                linearization: f.linearization.clone(),
                blocking: f.blocking.id,
                stuck: f.stuck.iter().map(|s| s.op.id).collect(),
                states: f.states.clone(),
            })
            .collect();
        Ok(Timeline {
            model: self.model.clone(),
            valid: self.valid,
            ops,
            failures,
        })
    }
}

/// What an HTML timeline needs: every client operation and, for each
/// invalid key, the partial linearization. Serializes as
/// `{"model": .., "valid": .., "ops": [..], "failures": [..]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub model: String,
    pub valid: Validity,
    /// Every client operation, by id (the position in this list).
    pub ops: Vec<TimelineOp>,
    /// One per reported counterexample.
    pub failures: Vec<TimelineFailure>,
}

/// One client operation on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TimelineOp {
    pub id: usize,
    pub process: u64,
    pub key: Option<Value>,
    pub f: String,
    /// `ok`, `fail` or `info` (also for calls that never completed).
    #[serde(rename = "type")]
    pub kind: String,
    /// The invoke's value (the argument).
    pub value: Value,
    /// The `ok` completion's value (a read's result); `null` otherwise.
    pub result: Option<Value>,
    pub invoke_index: u64,
    pub invoke_time: Option<u64>,
    /// `null` for `info`: such an operation's return is at infinity.
    pub return_index: Option<u64>,
    pub return_time: Option<u64>,
}

/// The failing key's partial linearization, as op ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineFailure {
    pub key: Option<Value>,
    /// The longest linearizable prefix, in order.
    pub linearization: Vec<usize>,
    /// The op whose completion bounds what can go next.
    pub blocking: usize,
    /// Ops that could have gone next and lead nowhere.
    pub stuck: Vec<usize>,
    /// States reachable after the prefix.
    pub states: Vec<String>,
}
