//! Maelstrom's `g-counter` / `pn-counter` checker: every final read must be
//! a value the counter could hold given which adds happened.

use gauntlet_history::{Op, OpType};
use serde_json::{Value, json};

use crate::CheckResult;
use crate::calls::{Calls, report_problems};
use crate::value::{as_integer, int_value, op_ref};

/// The f of add operations; the invoke's value is the integer delta.
pub const ADD_F: &str = "add";
/// The f of read operations; the ok value is the integer read.
pub const READ_F: &str = "read";

/// The most disjoint ranges the acceptable set may hold before the checker
/// gives up with `unknown`. Each indefinite add can double the range count
/// when deltas are far apart; small deltas (Maelstrom's -5..4) keep it at
/// one or two ranges.
pub const MAX_RANGES: usize = 100_000;

/// A set of integers as sorted, disjoint, non-adjacent closed ranges. The
/// non-adjacency is what Maelstrom gets by storing open ranges in a Guava
/// RangeSet: `[8,9]` and `[10,10]` merge into `[8,10]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ranges(Vec<(i128, i128)>);

impl Ranges {
    fn single(v: i128) -> Ranges {
        Ranges(vec![(v, v)])
    }

    /// `self ∪ (self + d)`: the add of `d` may or may not have happened.
    fn widen(&mut self, d: i128) {
        if d == 0 {
            return;
        }
        let shifted = self.0.iter().map(|&(lo, hi)| (lo + d, hi + d));
        let mut all: Vec<(i128, i128)> = Vec::with_capacity(self.0.len() * 2);
        // Both inputs are sorted: merge them, then coalesce.
        let (mut a, mut b) = (self.0.iter().copied().peekable(), shifted.peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            let (lo, hi) = next.expect("peeked");
            match all.last_mut() {
                Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => all.push((lo, hi)),
            }
        }
        self.0 = all;
    }

    fn contains(&self, v: i128) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < v);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= v)
    }

    fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|&(lo, hi)| json!([int_value(lo), int_value(hi)]))
                .collect(),
        )
    }
}

/// Checks a counter history: `add` ops with an integer delta and `read` ops
/// whose ok value is an integer.
///
/// The acceptable final values start at the sum of ok adds; every info add,
/// and every add still open at the end (it may have happened just the
/// same), widens the set by "with or without this delta". Failed adds are
/// ignored. Only final reads (`is_final` on the read's invoke or completion)
/// are checked, as in Maelstrom: intermediate reads of an eventually
/// consistent counter may lag.
///
/// The verdict is `false` if an ok final read lies outside the acceptable
/// set or is not an integer; `unknown` if there is no ok final read (Maelstrom
/// says `true` here; never checked is not a pass), if an add that may have
/// happened has a non-integer delta (the acceptable set is then not known),
/// if the set grew past [`MAX_RANGES`], or if the history breaks the
/// invoke/complete model; otherwise `true`.
///
/// Result figures: `final-reads` (values, in history order), `acceptable`
/// (`[[lo, hi], ...]`, inclusive, sorted), `definite` (sum of ok adds),
/// `ok-add-count`, `indefinite-add-count`, `malformed-add-count`,
/// `malformed-count`. Evidence: each bad final read
/// `{problem, value, op}` and each malformed add.
pub fn check(history: &[Op]) -> CheckResult {
    let calls = Calls::of(history);
    let mut r = CheckResult::new("counter");
    let mut definite: i128 = 0;
    let mut indefinite: Vec<i128> = Vec::new();
    let (mut ok_adds, mut malformed_adds) = (0u64, 0u64);
    let mut final_reads: Vec<(Value, &Op)> = Vec::new();
    for call in &calls.calls {
        match call.f() {
            ADD_F => {
                let outcome = call.outcome();
                if outcome == Some(OpType::Fail) {
                    continue;
                }
                let Some(delta) = as_integer(call.argument()) else {
                    malformed_adds += 1;
                    r.undecided(json!({"problem": "add whose delta is not an integer",
                                       "op": op_ref(call.first().op),
                                       "delta": call.argument()}));
                    continue;
                };
                if outcome == Some(OpType::Ok) {
                    ok_adds += 1;
                    definite += delta;
                } else {
                    indefinite.push(delta);
                }
            }
            READ_F if call.is_final() => {
                if let Some(c) = call.completion.filter(|c| c.op.kind == OpType::Ok) {
                    final_reads.push((c.op.value.clone(), c.op));
                }
            }
            _ => {}
        }
    }

    let mut acceptable = Ranges::single(definite);
    let mut overflowed = false;
    for &d in &indefinite {
        acceptable.widen(d);
        if acceptable.0.len() > MAX_RANGES {
            overflowed = true;
            break;
        }
    }
    if overflowed {
        r.undecided(
            json!({"problem": "too many disjoint acceptable ranges to check",
                           "max-ranges": MAX_RANGES}),
        );
    }
    let trusted = !overflowed && malformed_adds == 0;

    for (value, op) in &final_reads {
        match as_integer(value) {
            None => r.fail(json!({"problem": "final read is not an integer",
                                  "value": value, "op": op_ref(op)})),
            Some(v) if trusted && !acceptable.contains(v) => r
                .fail(json!({"problem": "final read outside the acceptable set",
                              "value": value, "op": op_ref(op)})),
            Some(_) => {}
        }
    }

    r.set(
        "final-reads",
        final_reads
            .iter()
            .map(|(v, _)| v.clone())
            .collect::<Vec<_>>(),
    );
    r.set(
        "acceptable",
        if overflowed {
            Value::Null
        } else {
            acceptable.to_json()
        },
    );
    r.set("definite", int_value(definite));
    r.set("ok-add-count", ok_adds);
    r.set("indefinite-add-count", indefinite.len() as u64);
    r.set("malformed-add-count", malformed_adds);
    report_problems(&mut r, calls.problems_for(|f| f == ADD_F || f == READ_F));
    if final_reads.is_empty() {
        r.undecided(json!({"problem": "no final read completed ok"}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validity;
    use crate::testkit::H;

    fn add(h: &mut H, p: u64, d: Value, outcome: OpType) {
        h.inv(p, ADD_F, d.clone());
        match outcome {
            OpType::Ok => h.ok(p, ADD_F, d),
            OpType::Fail => h.fail(p, ADD_F, d),
            OpType::Info => h.info(p, ADD_F, d),
            OpType::Invoke => h,
        };
    }

    fn final_read(h: &mut H, p: u64, v: Value) {
        h.inv(p, READ_F, Value::Null).fin().ok(p, READ_F, v).fin();
    }

    // Maelstrom's test vectors (pn_counter_test.clj), recorded the way
    // Gauntlet records them: with invokes.

    #[test]
    fn maelstrom_empty() {
        let r = check(&[]);
        assert_eq!(r.figure("acceptable"), Some(&json!([[0, 0]])));
        assert_eq!(r.figure("final-reads"), Some(&json!([])));
        // Maelstrom says true; with nothing read, Gauntlet says unknown.
        assert_eq!(r.valid, Validity::Unknown);
    }

    #[test]
    fn maelstrom_definite() {
        let mut h = H::new();
        add(&mut h, 0, json!(2), OpType::Ok);
        add(&mut h, 1, json!(3), OpType::Ok);
        final_read(&mut h, 0, json!(5));
        final_read(&mut h, 1, json!(4));
        let r = check(&h.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.figure("final-reads"), Some(&json!([5, 4])));
        assert_eq!(r.figure("acceptable"), Some(&json!([[5, 5]])));
        assert_eq!(r.evidence_count(), 1);
        assert_eq!(r.evidence[0]["value"], json!(4));
        assert_eq!(r.evidence[0]["op"]["process"], json!(1));
    }

    #[test]
    fn maelstrom_indefinite() {
        let mut h = H::new();
        add(&mut h, 0, json!(10), OpType::Ok);
        add(&mut h, 1, json!(5), OpType::Info);
        add(&mut h, 2, json!(-1), OpType::Info);
        add(&mut h, 3, json!(-1), OpType::Info);
        final_read(&mut h, 4, json!(11));
        final_read(&mut h, 5, json!(15));
        let r = check(&h.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.figure("final-reads"), Some(&json!([11, 15])));
        assert_eq!(r.figure("acceptable"), Some(&json!([[8, 10], [13, 15]])));
        assert_eq!(r.evidence_count(), 1);
        assert_eq!(r.evidence[0]["value"], json!(11));
    }

    #[test]
    fn maelstrom_vectors_without_invokes_still_judge() {
        // The literal Clojure vectors have completions only. Invalid still
        // wins over the shape problems those orphans raise.
        let mut h = H::new();
        h.ok(0, ADD_F, json!(10))
            .info(1, ADD_F, json!(5))
            .info(2, ADD_F, json!(-1))
            .info(3, ADD_F, json!(-1))
            .ok(4, READ_F, json!(11))
            .fin()
            .ok(5, READ_F, json!(15))
            .fin();
        let r = check(&h.build());
        assert_eq!(r.figure("acceptable"), Some(&json!([[8, 10], [13, 15]])));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.figure("malformed-count"), Some(&json!(6)));
    }

    #[test]
    fn acceptable_reads_pass_and_fails_and_intermediate_reads_are_ignored() {
        let mut h = H::new();
        add(&mut h, 0, json!(4), OpType::Ok);
        add(&mut h, 0, json!(100), OpType::Fail);
        add(&mut h, 1, json!(-3), OpType::Info);
        add(&mut h, 2, json!(2), OpType::Invoke); // still open: may have happened
        h.inv(3, READ_F, Value::Null).ok(3, READ_F, json!(1000)); // not final
        final_read(&mut h, 3, json!(4));
        final_read(&mut h, 4, json!(1));
        final_read(&mut h, 5, json!(3));
        let r = check(&h.build());
        // {4} widened by -3 then by 2: {1, 4} ∪ {3, 6}.
        assert_eq!(
            r.figure("acceptable"),
            Some(&json!([[1, 1], [3, 4], [6, 6]]))
        );
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.figure("indefinite-add-count"), Some(&json!(2)));
        assert_eq!(r.figure("ok-add-count"), Some(&json!(1)));
    }

    #[test]
    fn only_intermediate_reads_is_unknown() {
        let mut h = H::new();
        add(&mut h, 0, json!(1), OpType::Ok);
        h.inv(0, READ_F, Value::Null).ok(0, READ_F, json!(1));
        h.inv(0, READ_F, Value::Null)
            .fin()
            .fail(0, READ_F, Value::Null)
            .fin();
        assert_eq!(check(&h.build()).valid, Validity::Unknown);
    }

    #[test]
    fn non_integer_delta_makes_the_set_unknown() {
        let mut h = H::new();
        add(&mut h, 0, json!(1), OpType::Ok);
        add(&mut h, 1, json!("two"), OpType::Ok);
        add(&mut h, 2, json!(2.5), OpType::Fail); // failed: harmless
        final_read(&mut h, 0, json!(7));
        let r = check(&h.build());
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.figure("malformed-add-count"), Some(&json!(1)));
        assert_eq!(r.evidence[0]["delta"], json!("two"));
    }

    #[test]
    fn non_integer_final_read_is_invalid() {
        let mut h = H::new();
        add(&mut h, 0, json!(1), OpType::Ok);
        final_read(&mut h, 0, json!(1));
        final_read(&mut h, 1, json!("1"));
        final_read(&mut h, 2, json!(1.0)); // integral float: accepted
        let r = check(&h.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.evidence_count(), 1);
        assert_eq!(r.evidence[0]["value"], json!("1"));
    }

    #[test]
    fn widening_merges_adjacent_ranges_and_stays_small() {
        let mut s = Ranges::single(0);
        for d in [1, -1, 3] {
            s.widen(d);
        }
        // {0} -> {0,1} -> {-1,0,1} -> {-1..1} ∪ {2..4} = [-1, 4]
        assert_eq!(s, Ranges(vec![(-1, 4)]));
        assert!(s.contains(4) && !s.contains(5) && !s.contains(-2));
        // Maelstrom's pn-counter deltas (-5..4) keep the set one range wide.
        let mut big = Ranges::single(0);
        for i in 0..50_000 {
            big.widen((i % 10) as i128 - 5);
        }
        assert_eq!(big.0.len(), 1);
    }

    #[test]
    fn widening_matches_brute_force_subset_sums() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..300 {
            let base = rand(21) as i128 - 10;
            let deltas: Vec<i128> = (0..rand(11)).map(|_| rand(31) as i128 - 15).collect();
            let mut sums = std::collections::BTreeSet::from([base]);
            for &d in &deltas {
                let shifted: Vec<i128> = sums.iter().map(|s| s + d).collect();
                sums.extend(shifted);
            }
            let mut set = Ranges::single(base);
            for &d in &deltas {
                set.widen(d);
            }
            for w in set.0.windows(2) {
                assert!(w[0].1 + 1 < w[1].0, "ranges overlap or touch: {set:?}");
            }
            let (lo, hi) = (*sums.first().unwrap(), *sums.last().unwrap());
            for v in lo - 2..=hi + 2 {
                assert_eq!(
                    set.contains(v),
                    sums.contains(&v),
                    "{base} {deltas:?} at {v}"
                );
            }
        }
    }

    #[test]
    fn far_apart_deltas_give_up_as_unknown() {
        let mut h = H::new();
        for i in 0..20u32 {
            add(&mut h, u64::from(i), json!(1i64 << (i + 10)), OpType::Info);
        }
        final_read(&mut h, 100, json!(0));
        let r = check(&h.build());
        // 2^17 > MAX_RANGES disjoint sums.
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.figure("acceptable"), Some(&Value::Null));
    }
}
