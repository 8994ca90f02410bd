//! Process and real-time order as extra edges.
//!
//! Real time is a transitive reduction through barrier nodes: all ok txns
//! that completed since the last barrier point to a new barrier at the
//! next invoke, each barrier points to the next, and each invoked txn
//! hangs off the latest barrier. A path T1 → … → T2 exists exactly when T1
//! completed before T2 was invoked, with O(n) edges instead of O(n²).

use rustc_hash::FxHashMap;

use crate::graph::{EdgeList, PROCESS, REALTIME};
use crate::history::{Status, Txns};

/// Adds process and real-time edges; returns how many barrier nodes it
/// made (numbered from `txns.txns.len()`).
pub(crate) fn add_order_edges(txns: &Txns, edges: &mut EdgeList) -> u32 {
    let n = txns.txns.len() as u32;
    // Process order: each txn after its process's previous committed txn.
    let mut last_ok: FxHashMap<u64, u32> = FxHashMap::default();
    for (t, x) in txns.txns.iter().enumerate() {
        if x.status == Status::Fail {
            continue;
        }
        if let Some(&p) = last_ok.get(&x.process) {
            edges.add(p, t as u32, PROCESS);
        }
        if x.status == Status::Ok {
            last_ok.insert(x.process, t as u32);
        }
    }
    // Real time: invokes and ok completions in history order.
    let mut events: Vec<(u32, u32, bool)> = Vec::with_capacity(txns.txns.len() * 2);
    for (t, x) in txns.txns.iter().enumerate() {
        if x.status == Status::Fail {
            continue;
        }
        events.push((x.invoke_pos, t as u32, false));
        if x.status == Status::Ok
            && let Some(c) = x.complete_pos
        {
            events.push((c, t as u32, true));
        }
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut pending: Vec<u32> = Vec::new();
    let mut barrier: Option<u32> = None;
    let mut barriers = 0u32;
    for (_, t, completion) in events {
        if completion {
            pending.push(t);
            continue;
        }
        if !pending.is_empty() {
            let b = n + barriers;
            barriers += 1;
            for &p in &pending {
                edges.add(p, b, REALTIME);
            }
            pending.clear();
            if let Some(prev) = barrier {
                edges.add(prev, b, REALTIME);
            }
            barrier = Some(b);
        }
        if let Some(b) = barrier {
            edges.add(b, t, REALTIME);
        }
    }
    barriers
}
