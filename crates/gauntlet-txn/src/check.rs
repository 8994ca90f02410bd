//! The whole check: parse, infer, order, search cycles, judge models.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gauntlet_check::Validity;
use gauntlet_history::Op;

use crate::anomaly::{Anomalies, Anomaly, Step, who};
use crate::cycle::{Cycle, SearchTimeout, Searcher};
use crate::error::TxnError;
use crate::graph::{EdgeList, PROCESS, REALTIME, rel_name};
use crate::history::{Transactions, Txns, Workload, parse};
use crate::model::{impossible_models, parse_model, prohibited_by};
use crate::{append, order, register};

/// What to check for, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Budget for the cycle search; past it, the classes not searched make
    /// the models they would rule out `unknown`, never `valid`. `None`: no
    /// limit.
    pub timeout: Option<Duration>,
    /// The consistency models to judge, as Elle names them.
    pub models: Vec<String>,
}

impl Default for Options {
    /// Strict serializability, one minute of cycle search.
    fn default() -> Options {
        Options {
            timeout: Some(Duration::from_secs(60)),
            models: vec!["strict-serializable".to_owned()],
        }
    }
}

impl Options {
    /// These models with the default budget.
    pub fn models<S: Into<String>>(models: impl IntoIterator<Item = S>) -> Options {
        Options {
            models: models.into_iter().map(Into::into).collect(),
            ..Options::default()
        }
    }
}

/// One requested model's fate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelVerdict {
    pub model: &'static str,
    /// `Valid`: holds as far as the history shows; `Invalid`: ruled out;
    /// `Unknown`: could not be decided.
    pub valid: Validity,
    /// The anomaly types that rule it out, or the unsearched classes that
    /// leave it undecided.
    pub because: Vec<&'static str>,
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub workload: Workload,
    /// The worst of the model verdicts (`Unknown` when there was nothing
    /// to check).
    pub valid: Validity,
    /// Transactions in the history (ok, fail and indeterminate).
    pub txn_count: usize,
    /// Committed transactions.
    pub ok_count: usize,
    pub anomalies: Anomalies,
    pub timeouts: Vec<SearchTimeout>,
    pub models: Vec<ModelVerdict>,
    /// The weakest models the anomalies rule out (Elle's `:not`).
    pub not: Vec<&'static str>,
    /// The stronger models ruled out too (Elle's `:also-not`).
    pub also_not: Vec<&'static str>,
    /// Graph size, for reports: nodes (transactions and real-time
    /// barriers) and edges.
    pub graph_nodes: usize,
    pub graph_edges: usize,
}

enum Index {
    Append(append::AppendIndex),
    Register(register::RegisterIndex),
}

/// Checks a history of `txn` ops against `options.models`.
pub fn check(history: &[Op], workload: Workload, options: &Options) -> Result<Analysis, TxnError> {
    // The model names first: a typo is the error, whatever the history.
    for m in &options.models {
        parse_model(m)?;
    }
    check_transactions(parse(history, workload)?, options)
}

/// Checks transactions parsed op by op with a [`TxnBuilder`](crate::TxnBuilder)
/// (a history streamed from a file, never held whole) against
/// `options.models`. The search budget counts from this call.
pub fn check_transactions(
    transactions: Transactions,
    options: &Options,
) -> Result<Analysis, TxnError> {
    let started = Instant::now();
    let models: Vec<&'static str> = options
        .models
        .iter()
        .map(|m| parse_model(m))
        .collect::<Result<_, _>>()?;
    let Transactions { txns, workload } = transactions;
    let mut edges = EdgeList::default();
    let mut anomalies = Anomalies::default();
    let index = match workload {
        Workload::ListAppend => Index::Append(append::infer(&txns, &mut edges, &mut anomalies)?),
        Workload::RwRegister => {
            Index::Register(register::infer(&txns, &mut edges, &mut anomalies)?)
        }
    };
    let barriers = order::add_order_edges(&txns, &mut edges);
    let n = txns.txns.len() as u32;
    let graph = edges.build(n + barriers);
    let deadline = options.timeout.map(|t| started + t);
    let mut searcher = Searcher::new(&graph, deadline);
    let (cycles, timeouts) = searcher.run(&|v| v < n, &|v| txns.txns[v as usize].op_index());
    for cycle in cycles {
        anomalies.push(describe_cycle(&txns, &index, n, &cycle));
    }
    let found: Vec<&'static str> = anomalies.types().collect();
    let (not, also_not) = impossible_models(found.iter().copied());
    let ok_count = txns.ok_count();
    let unsearched: BTreeSet<&'static str> = timeouts
        .iter()
        .flat_map(|t| t.classes.iter().copied())
        .collect();
    let verdicts: Vec<ModelVerdict> = models
        .iter()
        .map(|&model| {
            let banned = prohibited_by(model);
            let because: Vec<&'static str> = found
                .iter()
                .copied()
                .filter(|a| banned.contains(a))
                .collect();
            if !because.is_empty() {
                return ModelVerdict {
                    model,
                    valid: Validity::Invalid,
                    because,
                };
            }
            let open: Vec<&'static str> = unsearched
                .iter()
                .copied()
                .filter(|a| banned.contains(a))
                .collect();
            if !open.is_empty() {
                return ModelVerdict {
                    model,
                    valid: Validity::Unknown,
                    because: open,
                };
            }
            let valid = if ok_count == 0 {
                Validity::Unknown
            } else {
                Validity::Valid
            };
            ModelVerdict {
                model,
                valid,
                because: Vec::new(),
            }
        })
        .collect();
    let mut valid = Validity::worst_of(verdicts.iter().map(|v| v.valid));
    if ok_count == 0 {
        valid = Validity::worst(valid, Validity::Unknown);
    }
    Ok(Analysis {
        workload,
        valid,
        txn_count: txns.txns.len(),
        ok_count,
        anomalies,
        timeouts,
        models: verdicts,
        not: not.into_iter().collect(),
        also_not: also_not.into_iter().collect(),
        graph_nodes: graph.node_count(),
        graph_edges: graph.edge_count(),
    })
}

/// Collapses runs through real-time barrier nodes into one realtime edge
/// between transactions, then explains each step.
fn describe_cycle(txns: &Txns, index: &Index, n: u32, cycle: &Cycle) -> Anomaly {
    let kind = crate::cycle::classify(cycle);
    // Rotate so the cycle starts at a transaction.
    let start = cycle.iter().position(|e| e.0 < n).unwrap_or(0);
    let mut steps: Vec<(u32, u32, u8)> = Vec::new();
    let mut from = None;
    for i in 0..cycle.len() {
        let (a, b, rel) = cycle[(start + i) % cycle.len()];
        let a = from.take().unwrap_or(a);
        if b >= n {
            from = Some(a);
            continue;
        }
        steps.push((a, b, rel));
    }
    let names: Vec<u32> = steps.iter().map(|s| s.0).collect();
    let label = |t: u32| {
        format!(
            "T{}",
            names.iter().position(|&x| x == t).map_or(0, |i| i + 1)
        )
    };
    let mut lines: Vec<String> = names
        .iter()
        .map(|&t| format!("{} = {}", label(t), who(txns, t)))
        .collect();
    let mut out_steps = Vec::new();
    for &(a, b, rel) in &steps {
        let why = match rel {
            PROCESS => format!(
                "process {} ran {} and then {}",
                txns.txns[a as usize].process,
                who(txns, a),
                who(txns, b)
            ),
            REALTIME => format!(
                "{} completed (op {}) before {} was invoked (op {})",
                who(txns, a),
                txns.txns[a as usize].op_index(),
                who(txns, b),
                txns.txns[b as usize].invoke_index
            ),
            _ => match index {
                Index::Append(i) => i.explain(txns, a, b, rel),
                Index::Register(i) => i.explain(txns, a, b, rel),
            }
            .unwrap_or_else(|| format!("{} -{}-> {}", who(txns, a), rel_name(rel), who(txns, b))),
        };
        lines.push(format!(
            "{} -{}-> {}: {why}",
            label(a),
            rel_name(rel),
            label(b)
        ));
        out_steps.push(Step {
            from: txns.txns[a as usize].op_index(),
            to: txns.txns[b as usize].op_index(),
            rel: rel_name(rel),
            explanation: why,
        });
    }
    lines.push(format!(
        "a cycle, so no order of these transactions explains them all: {kind}"
    ));
    Anomaly {
        kind,
        ops: names
            .iter()
            .map(|&t| txns.txns[t as usize].op_index())
            .collect(),
        key: None,
        cycle: out_steps,
        explanation: lines.join("\n"),
    }
}

impl Analysis {
    /// Whether the history showed no committed transaction at all.
    pub fn nothing_to_check(&self) -> bool {
        self.ok_count == 0
    }
}
