//! History well-formedness: each client invoke paired with its completion.
//!
//! The rules are Jepsen's: a client process has at most one op open at a
//! time; `ok`, `fail` and `info` each complete the process's open invoke, with
//! the same `f`. An `info` closes the call like the others (the op may or may
//! not have happened); a process invoking again after an `info` is not
//! flagged here, though Jepsen itself would have moved on to a new process
//! number. Nemesis ops are skipped.

use std::collections::HashMap;

use crate::{Op, OpType, Process};

/// One client operation: indices into the history's ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Call {
    /// The invoke.
    pub invoke: usize,
    /// Its completion; `None` when the history ends with the op still open.
    pub completion: Option<usize>,
}

/// Where a history breaks the invoke/completion model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("op {index}{}: {kind}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct PairError {
    /// The offending op's position in the slice.
    pub at: usize,
    /// Its `index` field.
    pub index: u64,
    /// Its line in the file, when known (see [`crate::History::pair_calls`]).
    pub line: Option<usize>,
    pub kind: PairErrorKind,
}

/// What is wrong; positions are indices into the ops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairErrorKind {
    #[error("a completion by process {process} without an open invoke")]
    CompletionWithoutInvoke { process: u64 },
    #[error("process {process} invokes while its op {open_index} is still open")]
    InvokeWhileOpen {
        process: u64,
        /// Position of the open invoke.
        open: usize,
        /// Its `index` field.
        open_index: u64,
    },
    #[error("completes {f:?} but its invoke (op {invoke_index}) was {invoke_f:?}")]
    FunctionMismatch {
        /// Position of the invoke.
        invoke: usize,
        invoke_index: u64,
        invoke_f: String,
        f: String,
    },
}

/// Pairs each client invoke with its completion, in invoke order. Errors name
/// the op (index and, through [`crate::History::pair_calls`], line): a
/// completion without an open invoke by its process, a second invoke while
/// one is open, a completion whose `f` differs from its invoke.
pub fn pair_calls(ops: &[Op]) -> Result<Vec<Call>, PairError> {
    let mut calls: Vec<Call> = Vec::with_capacity(ops.len() / 2 + 1);
    let mut open: HashMap<u64, usize> = HashMap::new();
    for (at, op) in ops.iter().enumerate() {
        let Process::Client(process) = op.process else {
            continue;
        };
        let error = |kind| PairError {
            at,
            index: op.index,
            line: None,
            kind,
        };
        if op.kind == OpType::Invoke {
            if let Some(&call) = open.get(&process) {
                let open = calls[call].invoke;
                return Err(error(PairErrorKind::InvokeWhileOpen {
                    process,
                    open,
                    open_index: ops[open].index,
                }));
            }
            open.insert(process, calls.len());
            calls.push(Call {
                invoke: at,
                completion: None,
            });
            continue;
        }
        let Some(call) = open.remove(&process) else {
            return Err(error(PairErrorKind::CompletionWithoutInvoke { process }));
        };
        let invoke = &ops[calls[call].invoke];
        if invoke.f != op.f {
            return Err(error(PairErrorKind::FunctionMismatch {
                invoke: calls[call].invoke,
                invoke_index: invoke.index,
                invoke_f: invoke.f.clone(),
                f: op.f.clone(),
            }));
        }
        calls[call].completion = Some(at);
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn numbered(mut ops: Vec<Op>) -> Vec<Op> {
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        ops
    }

    #[test]
    fn pairs_in_invoke_order_and_skips_the_nemesis() {
        let a = Op::invoke(0, "read", Value::Null);
        let b = Op::invoke(1, "write", Value::from(1));
        let ops = numbered(vec![
            a.clone(),
            b.clone(),
            Op::nemesis("kill", Value::Null),
            b.complete(OpType::Info, Value::Null),
            a.complete(OpType::Ok, Value::from(3)),
            Op::invoke(1, "read", Value::Null),
        ]);
        let calls = pair_calls(&ops).unwrap();
        assert_eq!(
            calls,
            vec![
                Call {
                    invoke: 0,
                    completion: Some(4)
                },
                Call {
                    invoke: 1,
                    completion: Some(3)
                },
                Call {
                    invoke: 5,
                    completion: None
                },
            ]
        );
    }

    #[test]
    fn completion_without_invoke() {
        let a = Op::invoke(2, "read", Value::Null);
        let ops = numbered(vec![a.complete(OpType::Ok, Value::Null)]);
        let e = pair_calls(&ops).unwrap_err();
        assert_eq!(e.at, 0);
        assert_eq!(
            e.to_string(),
            "op 0: a completion by process 2 without an open invoke"
        );
    }

    #[test]
    fn second_invoke_while_open() {
        let ops = numbered(vec![
            Op::invoke(0, "read", Value::Null),
            Op::invoke(1, "read", Value::Null),
            Op::invoke(0, "write", Value::from(1)),
        ]);
        let e = pair_calls(&ops).unwrap_err();
        assert_eq!(e.at, 2);
        assert!(matches!(
            e.kind,
            PairErrorKind::InvokeWhileOpen {
                process: 0,
                open: 0,
                ..
            }
        ));
        assert!(e.to_string().contains("op 0 is still open"), "{e}");
    }

    #[test]
    fn completion_with_another_f() {
        let a = Op::invoke(0, "read", Value::Null);
        let mut done = a.complete(OpType::Ok, Value::Null);
        done.f = "write".into();
        let ops = numbered(vec![a, done]);
        let e = pair_calls(&ops).unwrap_err();
        assert_eq!(e.at, 1);
        assert_eq!(
            e.to_string(),
            "op 1: completes \"write\" but its invoke (op 0) was \"read\""
        );
    }
}
