//! Pairs each client invoke with its completion, the unit most checkers
//! reason about, and notes where a history breaks the invoke/complete model.

use gauntlet_history::{Op, OpType, Process};
use rustc_hash::FxHashMap;
use serde_json::{Value, json};

use crate::CheckResult;
use crate::value::op_ref;

/// An op and its position in the history slice. Positions, not `Op::index`,
/// order events: the slice is in real-time order by contract, while `index`
/// may be unset (0) in histories built in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub pos: usize,
    pub op: &'a Op,
}

/// One client operation: an invoke and its completion. At least one of the
/// two is present; `completion == None` means it never completed (open).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub invoke: Option<At<'a>>,
    pub completion: Option<At<'a>>,
}

impl<'a> Call<'a> {
    /// The invoke if present, else the completion.
    pub fn first(&self) -> At<'a> {
        self.invoke.or(self.completion).expect("a call has an op")
    }

    pub fn f(&self) -> &'a str {
        &self.first().op.f
    }

    pub fn process(&self) -> Process {
        self.first().op.process
    }

    /// The completion type; `None` while the op is open.
    pub fn outcome(&self) -> Option<OpType> {
        self.completion.map(|c| c.op.kind)
    }

    /// The op's argument: the invoke's value, or the completion's when the
    /// invoke is missing.
    pub fn argument(&self) -> &'a Value {
        &self.first().op.value
    }

    /// Marked as part of the final phase on either half (recorders may set
    /// the flag on only one of them).
    pub fn is_final(&self) -> bool {
        self.invoke.is_some_and(|a| a.op.is_final) || self.completion.is_some_and(|a| a.op.is_final)
    }
}

/// A place where the history breaks the model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Problem<'a> {
    pub what: &'static str,
    pub at: At<'a>,
    pub other: Option<At<'a>>,
}

impl Problem<'_> {
    pub fn to_json(self) -> Value {
        let mut v = json!({"problem": self.what, "op": op_ref(self.at.op)});
        if let Some(o) = self.other {
            v["other"] = op_ref(o.op);
        }
        v
    }

    fn concerns(&self, want: &impl Fn(&str) -> bool) -> bool {
        want(&self.at.op.f) || self.other.is_some_and(|o| want(&o.op.f))
    }
}

/// All client calls of a history, in order of their first op, plus the
/// history's events (`(call, is_completion)`) in real-time order for sweeps.
pub(crate) struct Calls<'a> {
    pub calls: Vec<Call<'a>>,
    pub events: Vec<(u32, bool)>,
    pub problems: Vec<Problem<'a>>,
}

impl<'a> Calls<'a> {
    pub fn of(history: &'a [Op]) -> Calls<'a> {
        let mut calls: Vec<Call<'a>> = Vec::new();
        let mut events = Vec::with_capacity(history.len());
        let mut problems = Vec::new();
        let mut open: FxHashMap<u64, u32> = FxHashMap::default();
        for (pos, op) in history.iter().enumerate() {
            let Process::Client(p) = op.process else {
                continue;
            };
            let at = At { pos, op };
            if op.kind == OpType::Invoke {
                let id = calls.len() as u32;
                if let Some(prev) = open.insert(p, id) {
                    // The earlier op stays open: it may or may not have happened.
                    problems.push(Problem {
                        what: "invoke while the same process had an open op",
                        at,
                        other: calls[prev as usize].invoke,
                    });
                }
                calls.push(Call {
                    invoke: Some(at),
                    completion: None,
                });
                events.push((id, false));
            } else if let Some(id) = open.remove(&p) {
                let call = &mut calls[id as usize];
                let inv = call.invoke.expect("open calls have an invoke");
                if inv.op.f != op.f {
                    problems.push(Problem {
                        what: "completion's f differs from its invoke's f",
                        at,
                        other: Some(inv),
                    });
                }
                call.completion = Some(at);
                events.push((id, true));
            } else {
                problems.push(Problem {
                    what: "completion without an open invoke of the same process",
                    at,
                    other: None,
                });
                let id = calls.len() as u32;
                calls.push(Call {
                    invoke: None,
                    completion: Some(at),
                });
                events.push((id, true));
            }
        }
        Calls {
            calls,
            events,
            problems,
        }
    }

    /// The problems that touch ops whose f satisfies `want`.
    pub fn problems_for(&self, want: impl Fn(&str) -> bool) -> impl Iterator<Item = Problem<'a>> {
        self.problems
            .iter()
            .copied()
            .filter(move |p| p.concerns(&want))
            .collect::<Vec<_>>()
            .into_iter()
    }
}

/// Reports shape problems on a workload result: counted in `malformed-count`,
/// listed as evidence, and the verdict at most unknown, because a history
/// that breaks the invoke/complete model cannot prove a pass.
pub(crate) fn report_problems<'a>(
    r: &mut CheckResult,
    problems: impl Iterator<Item = Problem<'a>>,
) {
    let mut n = 0u64;
    for p in problems {
        n += 1;
        r.undecided(p.to_json());
    }
    r.set("malformed-count", n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_by_process_and_flags_breaks() {
        let a = Op::invoke(1, "read", json!(null));
        let b = Op::invoke(2, "add", json!(3));
        let h = vec![
            a.clone(),
            b.clone(),
            Op::nemesis("kill", json!(null)),
            b.complete(OpType::Ok, json!(3)),
            a.complete(OpType::Info, json!(null)),
            // process 2 completes again without an invoke
            b.complete(OpType::Ok, json!(3)),
            Op::invoke(3, "read", json!(null)),
            Op::invoke(3, "read", json!(null)),
        ];
        let c = Calls::of(&h);
        assert_eq!(c.calls.len(), 5);
        assert_eq!(c.calls[0].outcome(), Some(OpType::Info));
        assert_eq!(c.calls[1].completion.unwrap().pos, 3);
        assert!(c.calls[2].invoke.is_none());
        assert_eq!(c.calls[3].outcome(), None);
        assert_eq!(c.problems.len(), 2);
        assert_eq!(c.problems_for(|f| f == "add").count(), 1);
        assert_eq!(c.problems_for(|f| f == "echo").count(), 0);
        assert_eq!(c.events.len(), 7);
    }
}
