//! What the checker found: anomalies with the transactions involved and an
//! explanation a person can follow.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::{Status, Txns};

/// One step of a dependency cycle: `from -rel-> to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Op index of the transaction the edge leaves.
    pub from: u64,
    /// Op index of the transaction the edge enters.
    pub to: u64,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub rel: &'static str,
    /// Why the edge holds, in words.
    pub explanation: String,
}

/// One anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Elle's name: `G0`, `G1c-realtime`, `internal`, `lost-update`, ...
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Op indices of the transactions involved (their completions, or
    /// their invokes when they never completed).
    pub ops: Vec<u64>,
    /// The key, for anomalies about one key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<i64>,
    /// The cycle, for cycle anomalies: each step's target is the next
    /// step's source, and the last step returns to the first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<Step>,
    /// The whole story, one line per step for cycles.
    pub explanation: String,
}

/// How many anomalies of one type are kept (all are counted): a badly
/// broken history can have millions, and the first ones prove the point.
pub const KEEP_PER_TYPE: usize = 100;

/// Anomalies by type, capped per type, with full counts.
#[derive(Debug, Clone, Default)]
pub struct Anomalies {
    pub(crate) by_type: BTreeMap<&'static str, Vec<Anomaly>>,
    pub(crate) counts: BTreeMap<&'static str, usize>,
}

impl Anomalies {
    pub(crate) fn push(&mut self, a: Anomaly) {
        *self.counts.entry(a.kind).or_insert(0) += 1;
        let kept = self.by_type.entry(a.kind).or_default();
        if kept.len() < KEEP_PER_TYPE {
            kept.push(a);
        }
    }

    /// The kept anomalies of one type.
    pub fn of(&self, kind: &str) -> &[Anomaly] {
        self.by_type.get(kind).map_or(&[], Vec::as_slice)
    }

    /// Every type found, sorted.
    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.counts.keys().copied()
    }

    /// How many of `kind` were found in all.
    pub fn count(&self, kind: &str) -> usize {
        self.counts.get(kind).copied().unwrap_or(0)
    }

    /// Every kept anomaly, by type.
    pub fn iter(&self) -> impl Iterator<Item = &Anomaly> {
        self.by_type.values().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// `op 12 (process 3)`, with `, failed` / `, indeterminate` when it did not
/// commit: how explanations name a transaction.
pub(crate) fn who(txns: &Txns, t: u32) -> String {
    let x = &txns.txns[t as usize];
    let status = match x.status {
        Status::Ok => "",
        Status::Fail => ", failed",
        Status::Info => ", indeterminate",
    };
    format!("op {} (process {}{status})", x.op_index(), x.process)
}

/// `[1 2 3]`, Elle's way of printing a list.
pub(crate) fn list(vs: &[i64]) -> String {
    let mut s = String::from("[");
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&v.to_string());
    }
    s.push(']');
    s
}

/// Whether `a` is a prefix of `b`.
pub(crate) fn is_prefix(a: &[i64], b: &[i64]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}
