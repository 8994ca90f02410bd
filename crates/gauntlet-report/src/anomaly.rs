//! An anomaly beside the faults that caused it: the operations a checker
//! names as its evidence, interleaved in time with the nemesis's actions
//! around them, and the faults already active when they began, as lines a
//! person reads:
//!
//! ```text
//! t=24.253 s  nemesis  start-partition majorities-ring: etcd-n1 ✕ etcd-n2 ...   (active)
//! t=25.881 s  p14      write 4 on key 4: ok (took 19 ms)
//! t=26.101 s  p29      read on key 4 → 2: ok (took 2 ms)   ◀
//! ```
//!
//! Generic over checkers: the evidence names history ops by `index` and
//! `completion-index` (the linearizability counterexample does, and so can
//! any checker program); the ops named last are marked. Sans-IO: the
//! caller reads the history.

use std::collections::{BTreeMap, BTreeSet};

use gauntlet_history::{Op, OpType, Process};
use serde_json::Value;

/// How far before the anomaly's first op nemesis actions are shown.
pub const WINDOW_NS: u64 = 10_000_000_000;

/// The history indices an evidence object names (`index`,
/// `completion-index`, anywhere in it), and the one it names as the op
/// that could not happen (`blocking`, or the last named), in order.
pub fn named_indices(evidence: &Value) -> (BTreeSet<u64>, Option<u64>) {
    fn walk(v: &Value, out: &mut BTreeSet<u64>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if (k == "index" || k == "completion-index")
                        && let Some(i) = v.as_u64()
                    {
                        out.insert(i);
                    }
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut all = BTreeSet::new();
    walk(evidence, &mut all);
    let blocking = evidence
        .get("blocking")
        .and_then(|b| b.get("index"))
        .and_then(Value::as_u64)
        .or_else(|| all.last().copied());
    (all, blocking)
}

/// The lines that put the ops at `indices` beside the nemesis's actions:
/// every nemesis op from [`WINDOW_NS`] before the first of them to the
/// last, the faults still active at the window's start, and each named
/// op once, at its invoke, with how it ended. `mark` is the op the
/// anomaly ends at. Empty when the history has no times.
pub fn beside_faults(ops: &[Op], indices: &BTreeSet<u64>, mark: Option<u64>) -> Vec<String> {
    let by_index: BTreeMap<u64, &Op> = ops.iter().map(|o| (o.index, o)).collect();
    // Each named op as its invoke, paired with its completion.
    let mut named: BTreeMap<u64, (&Op, Option<&Op>)> = BTreeMap::new();
    for i in indices {
        let Some(op) = by_index.get(i) else { continue };
        let (invoke, completion) = if op.kind == OpType::Invoke {
            (*op, completion_of(ops, op))
        } else {
            match invoke_of(ops, op) {
                Some(inv) => (inv, Some(*op)),
                None => (*op, None),
            }
        };
        named.insert(invoke.index, (invoke, completion));
    }
    let marked_invoke = mark.and_then(|m| {
        named
            .iter()
            .find(|(_, (inv, c))| inv.index == m || c.is_some_and(|c| c.index == m))
            .map(|(i, _)| *i)
    });
    let (Some(first), Some(last)) = (
        named.values().filter_map(|(inv, _)| inv.time).min(),
        named
            .values()
            .filter_map(|(inv, c)| c.and_then(|c| c.time).or(inv.time))
            .max(),
    ) else {
        return Vec::new();
    };
    let from = first.saturating_sub(WINDOW_NS);
    let mut lines: Vec<(u64, u64, String)> = Vec::new();
    for (op, still_active) in nemesis_around(ops, from, last) {
        let t = op.time.unwrap_or(0);
        let active = if still_active { "   (active)" } else { "" };
        lines.push((
            t,
            op.index,
            format!(
                "{}  nemesis  {}{}{active}",
                at(t),
                op.f,
                nemesis_value(&op.value)
            ),
        ));
    }
    for (i, (invoke, completion)) in &named {
        let t = invoke.time.unwrap_or(0);
        let arrow = if Some(*i) == marked_invoke {
            "   ◀"
        } else {
            ""
        };
        lines.push((
            t,
            invoke.index,
            format!(
                "{}  {:<7}  {}{arrow}",
                at(t),
                process_name(&invoke.process),
                op_text(invoke, *completion)
            ),
        ));
    }
    lines.sort_by_key(|(t, i, _)| (*t, *i));
    lines.into_iter().map(|(_, _, l)| l).collect()
}

fn at(ns: u64) -> String {
    format!("t={:.3} s", ns as f64 / 1e9)
}

fn process_name(p: &Process) -> String {
    match p {
        Process::Client(n) => format!("p{n}"),
        Process::Nemesis => "nemesis".to_owned(),
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

fn completion_of<'a>(ops: &'a [Op], invoke: &Op) -> Option<&'a Op> {
    ops.iter()
        .filter(|o| o.index > invoke.index && o.process == invoke.process)
        .find(|o| o.kind.is_completion())
}

fn invoke_of<'a>(ops: &'a [Op], completion: &Op) -> Option<&'a Op> {
    ops.iter()
        .rev()
        .filter(|o| o.index < completion.index && o.process == completion.process)
        .find(|o| o.kind == OpType::Invoke)
}

/// `read on key 4 → 2: ok (took 2 ms)`, `write 4 on key 4: info (timeout)`.
fn op_text(invoke: &Op, completion: Option<&Op>) -> String {
    let key = invoke
        .key
        .as_ref()
        .map(|k| format!(" on key {}", compact(k)))
        .unwrap_or_default();
    let asked = if invoke.value.is_null() {
        String::new()
    } else {
        format!(" {}", compact(&invoke.value))
    };
    let Some(c) = completion else {
        return format!("{}{asked}{key}: never completed", invoke.f);
    };
    let took = match (invoke.time, c.time) {
        (Some(a), Some(b)) => format!(" (took {:.0} ms)", b.saturating_sub(a) as f64 / 1e6),
        _ => String::new(),
    };
    match c.kind {
        // What a read saw; an op without a value of its own that answered
        // one. An ok without either (an acquire) has nothing to show.
        OpType::Ok if invoke.f == "read" || (invoke.value.is_null() && !c.value.is_null()) => {
            format!("{}{key} → {}: ok{took}", invoke.f, compact(&c.value))
        }
        OpType::Ok => format!("{}{asked}{key}: ok{took}", invoke.f),
        kind => {
            let word = if kind == OpType::Fail { "fail" } else { "info" };
            let why = c
                .error
                .as_ref()
                .map(|e| format!(" ({})", compact(e)))
                .unwrap_or_default();
            format!("{}{asked}{key}: {word}{why}{took}", invoke.f)
        }
    }
}

fn compact(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// A nemesis op's value in a few words: a partition's grudge as who
/// cannot reach whom, the nodes a kill or pause took.
fn nemesis_value(v: &Value) -> String {
    if let Some(grudge) = v.get("grudge").and_then(Value::as_object) {
        let shape = v.get("shape").and_then(Value::as_str).unwrap_or("");
        let cuts: Vec<String> = grudge
            .iter()
            .map(|(to, froms)| {
                let froms: Vec<String> = froms
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(compact)
                    .collect();
                format!("{to} ✕ {}", froms.join(" "))
            })
            .collect();
        return format!(" {shape}: {}", cuts.join("; "));
    }
    match v {
        Value::Null => String::new(),
        Value::Array(a) => format!(" {}", a.iter().map(compact).collect::<Vec<_>>().join(" ")),
        other => format!(" {}", compact(other)),
    }
}

/// The fault family a nemesis `f` starts or heals, and whether it heals.
fn family(f: &str) -> Option<(&'static str, bool)> {
    Some(match f {
        "start-partition" => ("partition", false),
        "stop-partition" => ("partition", true),
        "kill" | "power-cut" => ("down", false),
        "start" => ("down", true),
        "pause" => ("pause", false),
        "resume" => ("pause", true),
        "bump-clock" => ("clock", false),
        "reset-clock" => ("clock", true),
        _ => return None,
    })
}

/// The nemesis ops from `from` to `to`, and before them the injections
/// still active at `from` (flagged).
fn nemesis_around(ops: &[Op], from: u64, to: u64) -> Vec<(&Op, bool)> {
    let mut active: BTreeMap<&'static str, &Op> = BTreeMap::new();
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.process == Process::Nemesis) {
        let Some(t) = op.time else { continue };
        if t > to {
            break;
        }
        if t < from {
            if let Some((fam, heals)) = family(&op.f) {
                if heals {
                    active.remove(fam);
                } else {
                    active.insert(fam, op);
                }
            }
            continue;
        }
        out.push((op, false));
    }
    let mut before: Vec<(&Op, bool)> = active.into_values().map(|o| (o, true)).collect();
    before.sort_by_key(|(o, _)| o.index);
    before.extend(out);
    before
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(index: u64, t_ms: u64, process: Process, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index,
            time: Some(t_ms * 1_000_000),
            process,
            kind,
            f: f.to_owned(),
            key: (process != Process::Nemesis).then(|| json!(3)),
            value,
            error: None,
            is_final: false,
        }
    }

    #[test]
    fn a_stale_read_is_shown_beside_the_partition_before_it() {
        use OpType::*;
        let c = Process::Client;
        let nem = Process::Nemesis;
        let ops = vec![
            op(0, 100, nem, Info, "kill", json!(["n2"])),
            op(1, 200, nem, Info, "start", json!(["n2"])),
            op(
                2,
                12_500,
                nem,
                Info,
                "start-partition",
                json!({"shape": "one", "grudge": {"n1": ["n2", "n3"]}}),
            ),
            op(3, 12_800, c(2), Invoke, "write", json!(2)),
            op(4, 12_900, c(2), Ok, "write", json!(2)),
            op(5, 13_000, c(4), Invoke, "read", Value::Null),
            op(6, 13_100, c(4), Ok, "read", json!(1)),
            op(
                7,
                20_000,
                nem,
                Info,
                "stop-partition",
                json!("network-healed"),
            ),
        ];
        let evidence = json!({
            "blocking": {"index": 5, "completion-index": 6},
            "linearized-tail": [{"index": 3, "completion-index": 4}],
        });
        let (indices, mark) = named_indices(&evidence);
        assert_eq!(indices.into_iter().collect::<Vec<_>>(), [3, 4, 5, 6]);
        assert_eq!(mark, Some(5));
        let (indices, mark) = named_indices(&evidence);
        let lines = beside_faults(&ops, &indices, mark);
        assert_eq!(
            lines,
            [
                "t=12.500 s  nemesis  start-partition one: n1 ✕ n2 n3",
                "t=12.800 s  p2       write 2 on key 3: ok (took 100 ms)",
                "t=13.000 s  p4       read on key 3 → 1: ok (took 100 ms)   ◀",
            ]
        );
        // The kill 12 s earlier is over and outside the window; a
        // partition started before the window and still active is shown.
        let early = vec![
            op(
                0,
                100,
                nem,
                Info,
                "start-partition",
                json!({"shape": "one", "grudge": {"n1": ["n2"]}}),
            ),
            op(1, 30_000, c(4), Invoke, "read", Value::Null),
            op(2, 30_100, c(4), Ok, "read", json!(1)),
        ];
        let lines = beside_faults(&early, &[1, 2].into_iter().collect(), Some(1));
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("(active)"), "{lines:?}");
    }
}
