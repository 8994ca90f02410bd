//! Latency summary: how long client ops took, per f and completion type.
//! Not a check (nothing to pass or fail) but the figures a report plots
//! next to the verdict.

use std::collections::BTreeMap;

use gauntlet_history::{Op, OpType};
use serde_json::{Map, Value, json};

use crate::calls::Calls;
use crate::value::quantiles;

#[derive(Default)]
struct Samples {
    ok: Vec<u64>,
    fail: Vec<u64>,
    info: Vec<u64>,
}

impl Samples {
    fn push(&mut self, kind: OpType, ns: u64) {
        match kind {
            OpType::Ok => self.ok.push(ns),
            OpType::Fail => self.fail.push(ns),
            OpType::Info | OpType::Invoke => self.info.push(ns),
        }
    }

    fn into_json(mut self) -> Value {
        let mut m = Map::new();
        let mut count = 0;
        for (name, v) in [
            ("ok", &mut self.ok),
            ("fail", &mut self.fail),
            ("info", &mut self.info),
        ] {
            if v.is_empty() {
                continue;
            }
            count += v.len();
            v.sort_unstable();
            let ms: Vec<f64> = v.iter().map(|&ns| ns as f64 / 1e6).collect();
            m.insert(
                name.to_owned(),
                json!({"count": v.len(), "latency-ms": quantiles(&ms)}),
            );
        }
        m.insert("count".to_owned(), json!(count));
        Value::Object(m)
    }
}

/// Summarises client op latencies, from invoke time to completion time.
///
/// Shape:
/// `{"all": S, "by-f": {f: S, ...}, "skipped-count": n}` where each `S` is
/// `{"count": n, "ok": T, "fail": T, "info": T}` (a type appears only when it
/// has samples) and `T` is `{"count": n, "latency-ms": {"0","0.5","0.95","0.99","1"}}`
/// in milliseconds with fractions, using Jepsen's quantile indexing.
///
/// Ops still open at the end, ops whose invoke or completion has no time,
/// and ops that completed "before" they were invoked (clock trouble) are
/// left out and counted in `skipped-count`, so a partial summary is visible
/// as such rather than silently biased.
pub fn summarize(history: &[Op]) -> Value {
    let calls = Calls::of(history);
    let mut all = Samples::default();
    let mut by_f: BTreeMap<&str, Samples> = BTreeMap::new();
    let mut skipped = 0u64;
    for call in &calls.calls {
        let timed = match (call.invoke, call.completion) {
            (Some(i), Some(c)) => match (i.op.time, c.op.time) {
                (Some(a), Some(b)) if b >= a => Some((c.op.kind, b - a)),
                _ => None,
            },
            _ => None,
        };
        let Some((kind, ns)) = timed else {
            skipped += 1;
            continue;
        };
        all.push(kind, ns);
        by_f.entry(call.f()).or_default().push(kind, ns);
    }
    let by_f: Map<String, Value> = by_f
        .into_iter()
        .map(|(f, s)| (f.to_owned(), s.into_json()))
        .collect();
    json!({"all": all.into_json(), "by-f": by_f, "skipped-count": skipped})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::H;

    #[test]
    fn quantiles_per_f_and_type_in_ms() {
        let mut h = H::new();
        // read ok latencies 1..=4 ms; one read fails after 10 ms.
        for (p, d) in [(0u64, 1u64), (1, 2), (2, 3), (3, 4)] {
            h.at(100 * p).inv(p, "read", Value::Null);
            h.at(100 * p + d).ok(p, "read", json!(1));
        }
        h.at(1000)
            .inv(9, "read", Value::Null)
            .at(1010)
            .fail(9, "read", Value::Null);
        h.at(2000)
            .inv(9, "write", json!(1))
            .at(2000)
            .info(9, "write", Value::Null);
        h.inv(10, "write", json!(2)); // open: skipped
        h.inv(11, "write", json!(3))
            .untimed()
            .ok(11, "write", json!(3)); // untimed: skipped
        h.nemesis("kill", Value::Null);
        let s = summarize(&h.build());
        let read = &s["by-f"]["read"];
        assert_eq!(read["count"], json!(5));
        assert_eq!(read["ok"]["count"], json!(4));
        assert_eq!(
            read["ok"]["latency-ms"],
            json!({"0": 1.0, "0.5": 3.0, "0.95": 4.0, "0.99": 4.0, "1": 4.0})
        );
        assert_eq!(read["fail"]["latency-ms"]["1"], json!(10.0));
        assert!(read.get("info").is_none());
        assert_eq!(s["by-f"]["write"]["info"]["latency-ms"]["0"], json!(0.0));
        assert_eq!(s["all"]["count"], json!(6));
        assert_eq!(s["skipped-count"], json!(2));
    }

    #[test]
    fn fractions_of_ms_survive() {
        let mut h = H::new();
        h.inv(0, "echo", json!("x")).ok(0, "echo", json!("x"));
        let mut ops = h.build();
        ops[0].time = Some(1_000);
        ops[1].time = Some(1_501_000);
        let s = summarize(&ops);
        assert_eq!(s["by-f"]["echo"]["ok"]["latency-ms"]["0.5"], json!(1.5));
    }

    #[test]
    fn empty_history() {
        let s = summarize(&[]);
        assert_eq!(
            s,
            json!({"all": {"count": 0}, "by-f": {}, "skipped-count": 0})
        );
    }
}
