//! Maelstrom's `unique-ids` workload (Jepsen's `unique-ids` checker): every
//! acknowledged id must be distinct.

use std::cmp::Ordering;

use gauntlet_history::{Op, OpType};
use rustc_hash::FxHashMap;
use serde_json::{Value, json};

use crate::CheckResult;
use crate::value::{Key, cmp_values, key};

/// The f of id-generation operations.
pub const F: &str = "generate";

/// How many duplicated ids the `duplicated` figure lists (Jepsen's number).
pub const DUPLICATED_SHOWN: usize = 48;

/// How many op indices each duplicate's evidence lists.
const INDICES_SHOWN: usize = 8;

/// Checks a unique-ids history: `generate` ops whose ok value is the id.
///
/// Ids may be any JSON value and are compared structurally (object key order
/// does not matter; `1` and `1.0` differ). An ok completion with a `null`
/// value acknowledged an id it did not deliver, which is a violation too.
/// With no acknowledged ids the verdict is `unknown`: nothing was checked.
///
/// Result figures: `attempted-count` (invokes), `acknowledged-count` (ok
/// completions), `duplicated-count` (distinct ids seen more than once),
/// `duplicated` (`[[id, count], ...]`, most frequent first, at most 48; an
/// array of pairs because ids need not be strings), `range` (`[min, max]`
/// over the numeric ids, `null` when none are numbers), `missing-id-count`.
/// Evidence: one item per duplicated id with the indices of its first ops.
pub fn check(history: &[Op]) -> CheckResult {
    struct Seen<'a> {
        id: &'a Value,
        count: u64,
        indices: Vec<u64>,
    }
    let mut r = CheckResult::new("unique-ids");
    let (mut attempted, mut acked, mut missing) = (0u64, 0u64, 0u64);
    let mut seen: FxHashMap<Key, Seen> = FxHashMap::default();
    let mut range: Option<(&Value, &Value)> = None;
    for op in history.iter().filter(|o| o.is_client() && o.f == F) {
        match op.kind {
            OpType::Invoke => attempted += 1,
            OpType::Ok => {
                acked += 1;
                let id = &op.value;
                if id.is_null() {
                    missing += 1;
                    r.fail(json!({"problem": "acknowledged without an id",
                                  "index": op.index, "process": op.process}));
                    continue;
                }
                if id.is_number() {
                    range = Some(match range {
                        None => (id, id),
                        Some((lo, hi)) => (
                            if cmp_values(id, lo) == Ordering::Less {
                                id
                            } else {
                                lo
                            },
                            if cmp_values(id, hi) == Ordering::Greater {
                                id
                            } else {
                                hi
                            },
                        ),
                    });
                }
                let s = seen.entry(key(id)).or_insert_with(|| Seen {
                    id,
                    count: 0,
                    indices: Vec::new(),
                });
                s.count += 1;
                if s.indices.len() < INDICES_SHOWN {
                    s.indices.push(op.index);
                }
            }
            OpType::Fail | OpType::Info => {}
        }
    }
    let mut dups: Vec<&Seen> = seen.values().filter(|s| s.count > 1).collect();
    dups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| cmp_values(a.id, b.id)));
    for d in &dups {
        r.fail(
            json!({"problem": "duplicated id", "id": d.id, "count": d.count,
                      "indices": d.indices}),
        );
    }
    r.set("attempted-count", attempted);
    r.set("acknowledged-count", acked);
    r.set("duplicated-count", dups.len() as u64);
    r.set(
        "duplicated",
        dups.iter()
            .take(DUPLICATED_SHOWN)
            .map(|d| json!([d.id, d.count]))
            .collect::<Vec<_>>(),
    );
    r.set(
        "range",
        range.map_or(Value::Null, |(lo, hi)| json!([lo, hi])),
    );
    r.set("missing-id-count", missing);
    if acked == 0 {
        r.undecided(json!({"problem": "no id was acknowledged"}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validity;
    use crate::testkit::H;

    fn gen_ok(h: &mut H, p: u64, id: Value) {
        h.inv(p, F, Value::Null).ok(p, F, id);
    }

    #[test]
    fn distinct_ids_are_valid_with_numeric_range() {
        let mut h = H::new();
        for (p, id) in [
            (0, json!(5)),
            (1, json!(-2)),
            (0, json!("n1-7")),
            (2, json!(12)),
        ] {
            gen_ok(&mut h, p, id);
        }
        h.inv(3, F, Value::Null).info(3, F, Value::Null);
        h.inv(4, F, Value::Null).fail(4, F, Value::Null);
        let r = check(&h.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.figure("attempted-count"), Some(&json!(6)));
        assert_eq!(r.figure("acknowledged-count"), Some(&json!(4)));
        assert_eq!(r.figure("range"), Some(&json!([-2, 12])));
        assert_eq!(r.figure("duplicated-count"), Some(&json!(0)));
    }

    #[test]
    fn duplicates_are_counted_and_ranked() {
        let mut h = H::new();
        for id in [
            json!(1),
            json!({"a": 1, "b": 2}),
            json!(1),
            json!(3),
            json!(1),
        ] {
            gen_ok(&mut h, 0, id);
        }
        // Same object with its keys in another order is the same id.
        let reordered: Value = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        gen_ok(&mut h, 1, reordered);
        let r = check(&h.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.figure("duplicated-count"), Some(&json!(2)));
        assert_eq!(
            r.figure("duplicated"),
            Some(&json!([[1, 3], [{"a": 1, "b": 2}, 2]]))
        );
        assert_eq!(r.evidence[0]["indices"], json!([1, 5, 9]));
    }

    #[test]
    fn strings_only_have_no_numeric_range() {
        let mut h = H::new();
        gen_ok(&mut h, 0, json!("a"));
        let r = check(&h.build());
        assert_eq!(r.figure("range"), Some(&Value::Null));
        assert_eq!(r.valid, Validity::Valid);
    }

    #[test]
    fn no_acknowledgement_is_unknown_and_null_id_is_invalid() {
        let h = H::new()
            .inv(0, F, Value::Null)
            .info(0, F, Value::Null)
            .build();
        assert_eq!(check(&h).valid, Validity::Unknown);
        let mut h = H::new();
        gen_ok(&mut h, 0, json!(1));
        gen_ok(&mut h, 0, Value::Null);
        let r = check(&h.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.figure("missing-id-count"), Some(&json!(1)));
    }
}
