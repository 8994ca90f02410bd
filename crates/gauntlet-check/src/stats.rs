//! Jepsen's `stats` checker as Maelstrom uses it: how many client ops
//! succeeded, failed or crashed, overall and per f.

use std::collections::BTreeMap;

use gauntlet_history::{Op, OpType};
use serde_json::{Map, Value, json};

use crate::CheckResult;

/// The f that is never ok (kafka's client crash).
const CRASH: &str = "crash";

#[derive(Default, Clone, Copy)]
struct Counts {
    invokes: u64,
    ok: u64,
    fail: u64,
    info: u64,
}

impl Counts {
    fn add(&mut self, kind: OpType) {
        match kind {
            OpType::Invoke => self.invokes += 1,
            OpType::Ok => self.ok += 1,
            OpType::Fail => self.fail += 1,
            OpType::Info => self.info += 1,
        }
    }
    fn completions(&self) -> u64 {
        self.ok + self.fail + self.info
    }
}

/// Counts client completions (invokes and nemesis ops excluded, as in
/// Jepsen) by type, overall and per f.
///
/// Maelstrom's rule makes this a check, not just a table: an f with no ok
/// completion means that whole kind of operation never worked, so the
/// result is `false`, with evidence naming each such f. Unlike Jepsen, an f
/// that was invoked but never completed at all counts too (it has zero ok),
/// and a history with no client invokes is `unknown`.
///
/// Except `crash`: the kafka workload's client crash is `info` by design,
/// never ok, so (as Jepsen's kafka `stats-checker`) it is counted but
/// never makes the result false.
///
/// Result figures: `count`, `ok-count`, `fail-count`, `info-count`, and
/// `by-f`: `{f: {"valid", "count", "ok-count", "fail-count", "info-count"}}`
/// sorted by f. Evidence: `{problem, f, invoke-count, count}` per f that
/// never succeeded.
pub fn check(history: &[Op]) -> CheckResult {
    let mut all = Counts::default();
    let mut by_f: BTreeMap<&str, Counts> = BTreeMap::new();
    for op in history.iter().filter(|o| o.is_client()) {
        all.add(op.kind);
        by_f.entry(op.f.as_str()).or_default().add(op.kind);
    }
    let mut r = CheckResult::new("stats");
    let mut table = Map::new();
    for (f, c) in &by_f {
        if c.ok == 0 && *f != CRASH {
            r.fail(
                json!({"problem": "no operation of this f completed ok", "f": f,
                          "invoke-count": c.invokes, "count": c.completions()}),
            );
        }
        table.insert(
            (*f).to_owned(),
            counts_json(c, Some(c.ok > 0 || *f == CRASH)),
        );
    }
    if let Value::Object(m) = counts_json(&all, None) {
        for (k, v) in m {
            r.set(&k, v);
        }
    }
    r.set("by-f", table);
    if all.invokes == 0 {
        r.undecided(json!({"problem": "no client operation was invoked"}));
    }
    r
}

fn counts_json(c: &Counts, valid: Option<bool>) -> Value {
    let mut v = json!({"count": c.completions(), "ok-count": c.ok,
                       "fail-count": c.fail, "info-count": c.info});
    if let Some(ok) = valid {
        v["valid"] = json!(ok);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validity;
    use crate::testkit::H;

    #[test]
    fn counts_completions_by_type_and_f() {
        let h = H::new()
            .inv(0, "read", Value::Null)
            .ok(0, "read", json!(1))
            .inv(0, "write", json!(2))
            .fail(0, "write", json!(2))
            .inv(1, "write", json!(3))
            .info(1, "write", json!(3))
            .nemesis("partition", json!({}))
            .inv(2, "write", json!(4))
            .ok(2, "write", json!(4))
            .build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.figure("count"), Some(&json!(4)));
        assert_eq!(r.figure("ok-count"), Some(&json!(2)));
        assert_eq!(r.figure("fail-count"), Some(&json!(1)));
        assert_eq!(r.figure("info-count"), Some(&json!(1)));
        assert_eq!(
            r.figure("by-f").unwrap()["write"],
            json!({"valid": true, "count": 3, "ok-count": 1, "fail-count": 1, "info-count": 1})
        );
    }

    #[test]
    fn an_f_without_ok_is_named() {
        let h = H::new()
            .inv(0, "read", Value::Null)
            .ok(0, "read", json!(1))
            .inv(0, "cas", json!([1, 2]))
            .fail(0, "cas", json!([1, 2]))
            .inv(1, "write", json!(1)) // invoked, never completed
            .build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid);
        let named: Vec<_> = r.evidence.iter().map(|e| e["f"].clone()).collect();
        assert_eq!(named, vec![json!("cas"), json!("write")]);
        assert_eq!(r.figure("by-f").unwrap()["write"]["count"], json!(0));
        assert_eq!(r.figure("by-f").unwrap()["cas"]["valid"], json!(false));
    }

    #[test]
    fn kafka_crashes_are_info_by_design() {
        let h = H::new()
            .inv(0, "poll", json!([["poll"]]))
            .ok(0, "poll", json!([["poll", {}]]))
            .inv(0, "crash", Value::Null)
            .info(0, "crash", Value::Null)
            .build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.figure("by-f").unwrap()["crash"]["info-count"], json!(1));
    }

    #[test]
    fn empty_is_unknown() {
        let h = H::new().nemesis("kill", json!(null)).build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.figure("count"), Some(&json!(0)));
    }
}
