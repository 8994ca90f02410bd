//! Jepsen's `set-full` checker (non-linearizable mode), used by Maelstrom's
//! `broadcast` and `g-set` workloads: does every added element show up in
//! reads, and stay there?
//!
//! Per element (tracked from its add's invoke):
//! - *known*: the add's ok completion or the completion of the first read
//!   that contained it, whichever comes first in the history;
//! - *last present* / *last absent*: the latest-invoked ok read (among reads
//!   completing after the add was invoked) that did / did not contain it;
//! - *stable*: seen, and no read invoked after the last sighting missed it;
//! - *lost*: known, and missed by a read invoked after both its last sighting
//!   and its known time;
//! - *never read*: neither;
//! - *stable latency*: from the known time to just after the last absent
//!   read's invocation (0 if no read missed it), truncated to whole ms like
//!   Jepsen; *stale* elements are stable ones with a positive stable latency;
//! - *lost latency*: from the known time to just after the last present
//!   read's invocation (0 if never seen).
//!
//! Jepsen updates every element on every read, which is quadratic. Here the
//! last sighting is found while sweeping reads' contents, and the last miss
//! by walking reads backwards from the newest until one lacks the element;
//! each step of that walk is paid for by one occurrence in the input, so the
//! whole check is about O(input size · log).

use gauntlet_history::{Op, OpType};
use rustc_hash::FxHashMap;
use serde_json::{Value, json};

use crate::CheckResult;
use crate::calls::{At, Calls, report_problems};
use crate::value::{Key, cmp_values, key, op_ref, quantiles};

/// The f of read operations; their ok value is the array of elements.
pub const READ_F: &str = "read";

/// How many stale elements `worst-stale` describes (Jepsen's number).
pub const WORST_STALE_SHOWN: usize = 8;

const NS_PER_MS: u64 = 1_000_000;

#[derive(Clone, Copy)]
enum Via {
    Add,
    Read,
}

#[derive(Clone, Copy)]
struct Known<'a> {
    at: At<'a>,
    via: Via,
}

struct Elem<'a> {
    value: &'a Value,
    /// Position of the first add invoke; `None` for elements only ever read.
    add_inv: Option<usize>,
    known: Option<Known<'a>>,
    last_present: Option<u32>,
    /// Calls of reads that were open when the add was invoked.
    concurrent_reads: Vec<u32>,
}

/// Interns elements so reads hold small ids instead of JSON values.
#[derive(Default)]
struct Elems<'a> {
    ids: FxHashMap<Key, u32>,
    list: Vec<Elem<'a>>,
}

impl<'a> Elems<'a> {
    fn intern(&mut self, v: &'a Value) -> u32 {
        let list = &mut self.list;
        *self.ids.entry(key(v)).or_insert_with(|| {
            list.push(Elem {
                value: v,
                add_inv: None,
                known: None,
                last_present: None,
                concurrent_reads: Vec::new(),
            });
            (list.len() - 1) as u32
        })
    }
}

struct Read<'a> {
    /// The read's invoke (its completion stands in when the invoke is missing).
    inv: At<'a>,
    comp: At<'a>,
    /// Element ids, sorted and deduplicated.
    members: Vec<u32>,
}

impl Read<'_> {
    fn has(&self, e: u32) -> bool {
        self.members.binary_search(&e).is_ok()
    }
    fn to_json(&self) -> Value {
        json!({"index": self.inv.op.index, "time": self.inv.op.time,
               "process": self.inv.op.process, "completion-index": self.comp.op.index})
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Stable,
    Lost,
    NeverRead,
}

struct Verdict {
    id: u32,
    outcome: Outcome,
    last_absent: Option<u32>,
    stable_latency: Option<u64>,
    lost_latency: Option<u64>,
}

/// Checks a set history: `add_f` ops (`"broadcast"` for broadcast, `"add"`
/// for g-set) whose value is the element, and `read` ops whose ok value is
/// an array of elements.
///
/// The verdict is `false` if any element is lost, any read lists an element
/// twice (Jepsen means to flag this but never does: its test is `count < 1`),
/// or an ok read's value is not an array (the system acknowledged a read
/// without giving a set); `unknown` if no element is stable (including when
/// nothing was added) or the history breaks the invoke/complete model;
/// otherwise `true`.
///
/// Result figures: `attempt-count`, `stable-count`, `lost-count`, `lost`
/// (sorted), `never-read-count`, `never-read`, `stale-count`, `stale`,
/// `worst-stale` (up to 8 `{element, stable-latency, known, last-absent}`),
/// `stable-latencies` / `lost-latencies` (quantiles `{"0","0.5","0.95","0.99","1"}`
/// in whole ms, present only when non-empty, as in Jepsen),
/// `duplicated-count`, `duplicated` (`[[element, max count in one read], ...]`),
/// `read-count`, `malformed-read-count`, `malformed-count`.
/// Evidence: per lost element `{element, known, last-present, last-absent}`
/// (reads given by their invoke's index/time/process and completion index),
/// per duplicated element the read that repeated it, and each malformed read.
///
/// Latencies need op times; elements whose latency cannot be computed for
/// lack of times are left out of the quantiles and of `stale`.
pub fn check(history: &[Op], add_f: &str) -> CheckResult {
    let calls = Calls::of(history);
    let mut r = CheckResult::new("set-full");

    let mut table = Elems::default();
    let mut reads: Vec<Read> = Vec::new();
    let mut read_of_call: FxHashMap<u32, u32> = FxHashMap::default();
    let mut open_reads: FxHashMap<u64, u32> = FxHashMap::default();
    // element id -> (max multiplicity in one read, the first read showing it)
    let mut dups: FxHashMap<u32, (u64, u32)> = FxHashMap::default();
    let mut malformed_reads = 0u64;
    let mut members: Vec<u32> = Vec::new();

    for &(cid, is_completion) in &calls.events {
        let call = &calls.calls[cid as usize];
        let f = call.f();
        let gauntlet_history::Process::Client(process) = call.process() else {
            continue;
        };
        if f == add_f {
            if !is_completion {
                let inv = call.invoke.expect("invoke event");
                let id = table.intern(&inv.op.value);
                let e = &mut table.list[id as usize];
                if e.add_inv.is_none() {
                    e.add_inv = Some(inv.pos);
                    e.concurrent_reads = open_reads.values().copied().collect();
                }
            } else {
                let comp = call.completion.expect("completion event");
                if comp.op.kind == OpType::Ok {
                    let id = table.intern(call.argument());
                    let e = &mut table.list[id as usize];
                    // An orphan add completion starts tracking too.
                    e.add_inv.get_or_insert(comp.pos);
                    e.known.get_or_insert(Known {
                        at: comp,
                        via: Via::Add,
                    });
                }
            }
        } else if f == READ_F {
            if !is_completion {
                open_reads.insert(process, cid);
                continue;
            }
            if call.invoke.is_some() {
                open_reads.remove(&process);
            }
            let comp = call.completion.expect("completion event");
            if comp.op.kind != OpType::Ok {
                continue;
            }
            let Some(items) = comp.op.value.as_array() else {
                malformed_reads += 1;
                r.fail(json!({"problem": "ok read whose value is not an array",
                              "op": op_ref(comp.op), "value": comp.op.value}));
                continue;
            };
            let rid = reads.len() as u32;
            members.clear();
            members.extend(items.iter().map(|v| table.intern(v)));
            members.sort_unstable();
            let mut i = 0;
            while i < members.len() {
                let mut j = i + 1;
                while j < members.len() && members[j] == members[i] {
                    j += 1;
                }
                if j - i > 1 {
                    let d = dups.entry(members[i]).or_insert((0, rid));
                    d.0 = d.0.max((j - i) as u64);
                }
                i = j;
            }
            members.dedup();
            let inv = call.invoke.unwrap_or(comp);
            for &id in &members {
                let e = &mut table.list[id as usize];
                if e.add_inv.is_none() {
                    continue; // not (yet) added: Jepsen ignores it
                }
                e.known.get_or_insert(Known {
                    at: comp,
                    via: Via::Read,
                });
                if e.last_present
                    .is_none_or(|lp| reads[lp as usize].inv.pos < inv.pos)
                {
                    e.last_present = Some(rid);
                }
            }
            read_of_call.insert(cid, rid);
            reads.push(Read {
                inv,
                comp,
                members: std::mem::take(&mut members),
            });
        }
    }

    let elems = table.list;
    // Reads ordered by invocation, for the backwards walk.
    let mut by_inv: Vec<u32> = (0..reads.len() as u32).collect();
    by_inv.sort_unstable_by_key(|&i| reads[i as usize].inv.pos);

    let mut verdicts: Vec<Verdict> = Vec::new();
    for (id, e) in elems.iter().enumerate() {
        let Some(a) = e.add_inv else { continue };
        let id = id as u32;
        let start = by_inv.partition_point(|&ri| reads[ri as usize].inv.pos <= a);
        let mut last_absent = by_inv[start..]
            .iter()
            .rev()
            .copied()
            .find(|&ri| !reads[ri as usize].has(id));
        if last_absent.is_none() {
            // Reads invoked before the add but completing after it count too.
            last_absent = e
                .concurrent_reads
                .iter()
                .filter_map(|c| read_of_call.get(c).copied())
                .filter(|&ri| !reads[ri as usize].has(id))
                .max_by_key(|&ri| reads[ri as usize].inv.pos);
        }
        let inv_pos = |ri: Option<u32>| ri.map(|ri| reads[ri as usize].inv.pos);
        let lp = inv_pos(e.last_present);
        let la = inv_pos(last_absent);
        let stable = lp.is_some() && la.is_none_or(|la| Some(la) < lp);
        let lost = match (e.known, la) {
            (Some(k), Some(la)) => lp.is_none_or(|lp| lp < la) && k.at.pos < la,
            _ => false,
        };
        let known_time = e.known.and_then(|k| k.at.op.time);
        // Jepsen: max(0, (event time + 1) - known time), in whole ms.
        let latency = |since: Option<u32>| -> Option<u64> {
            match since {
                None => Some(0),
                Some(ri) => {
                    let t = reads[ri as usize].inv.op.time?;
                    Some((t + 1).saturating_sub(known_time?) / NS_PER_MS)
                }
            }
        };
        verdicts.push(Verdict {
            id,
            outcome: if stable {
                Outcome::Stable
            } else if lost {
                Outcome::Lost
            } else {
                Outcome::NeverRead
            },
            last_absent,
            stable_latency: if stable { latency(last_absent) } else { None },
            lost_latency: if lost { latency(e.last_present) } else { None },
        });
    }
    let value_of = |id: u32| elems[id as usize].value;
    verdicts.sort_by(|x, y| cmp_values(value_of(x.id), value_of(y.id)));

    let of = |o: Outcome| verdicts.iter().filter(move |v| v.outcome == o);
    let values = |it: &mut dyn Iterator<Item = &Verdict>| -> Vec<Value> {
        it.map(|v| value_of(v.id).clone()).collect()
    };
    let stale: Vec<&Verdict> = of(Outcome::Stable)
        .filter(|v| v.stable_latency.is_some_and(|l| l > 0))
        .collect();
    let mut worst = stale.clone();
    worst.sort_by_key(|v| std::cmp::Reverse(v.stable_latency));
    let known_json = |k: Option<Known>| {
        k.map_or(Value::Null, |k| {
            json!({"index": k.at.op.index, "time": k.at.op.time,
                   "via": match k.via { Via::Add => "add", Via::Read => "read" }})
        })
    };
    let read_json = |ri: Option<u32>| ri.map_or(Value::Null, |ri| reads[ri as usize].to_json());
    let worst_stale: Vec<Value> = worst
        .iter()
        .take(WORST_STALE_SHOWN)
        .map(|v| {
            json!({"element": value_of(v.id), "stable-latency": v.stable_latency,
                   "known": known_json(elems[v.id as usize].known),
                   "last-absent": read_json(v.last_absent)})
        })
        .collect();
    let sorted_latencies = |f: fn(&Verdict) -> Option<u64>| {
        let mut l: Vec<u64> = verdicts.iter().filter_map(f).collect();
        l.sort_unstable();
        quantiles(&l)
    };
    let stable_latencies = sorted_latencies(|v| v.stable_latency);
    let lost_latencies = sorted_latencies(|v| v.lost_latency);

    let lost: Vec<&Verdict> = of(Outcome::Lost).collect();
    for v in &lost {
        let e = &elems[v.id as usize];
        r.fail(
            json!({"problem": "lost", "element": e.value, "known": known_json(e.known),
                      "last-present": read_json(e.last_present),
                      "last-absent": read_json(v.last_absent)}),
        );
    }
    let mut dup_list: Vec<(u32, (u64, u32))> = dups.into_iter().collect();
    dup_list.sort_by(|x, y| cmp_values(value_of(x.0), value_of(y.0)));
    for &(id, (count, ri)) in &dup_list {
        r.fail(json!({"problem": "element listed more than once in a read",
                      "element": value_of(id), "count": count,
                      "read": reads[ri as usize].to_json()}));
    }

    let stable_count = of(Outcome::Stable).count();
    r.set("attempt-count", verdicts.len() as u64);
    r.set("stable-count", stable_count as u64);
    r.set("lost-count", lost.len() as u64);
    r.set("lost", values(&mut lost.iter().copied()));
    r.set("never-read-count", of(Outcome::NeverRead).count() as u64);
    r.set("never-read", values(&mut of(Outcome::NeverRead)));
    r.set("stale-count", stale.len() as u64);
    r.set("stale", values(&mut stale.iter().copied()));
    r.set("worst-stale", worst_stale);
    if let Some(q) = stable_latencies {
        r.set("stable-latencies", q);
    }
    if let Some(q) = lost_latencies {
        r.set("lost-latencies", q);
    }
    r.set("duplicated-count", dup_list.len() as u64);
    r.set(
        "duplicated",
        dup_list
            .iter()
            .map(|&(id, (count, _))| json!([value_of(id), count]))
            .collect::<Vec<_>>(),
    );
    r.set("read-count", reads.len() as u64);
    r.set("malformed-read-count", malformed_reads);
    report_problems(&mut r, calls.problems_for(|f| f == add_f || f == READ_F));
    if stable_count == 0 {
        r.undecided(json!({"problem": "no element is stable",
                           "attempt-count": verdicts.len()}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validity;
    use crate::testkit::{H, MS};
    use gauntlet_history::Process;

    const ADD: &str = "add";

    fn fig<'r>(r: &'r CheckResult, k: &str) -> &'r Value {
        r.figure(k)
            .unwrap_or_else(|| panic!("no figure {k} in {r:?}"))
    }

    #[test]
    fn seen_after_add_is_stable() {
        let h = H::new()
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1))
            .nemesis("partition", json!({}))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1]))
            .build();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(fig(&r, "attempt-count"), &json!(1));
        assert_eq!(fig(&r, "stable-count"), &json!(1));
        assert_eq!(fig(&r, "stale-count"), &json!(0));
        assert_eq!(fig(&r, "stable-latencies")["1"], json!(0));
        assert!(r.figure("lost-latencies").is_none());
    }

    #[test]
    fn missed_then_seen_is_stale_with_latency() {
        let h = H::new()
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1)) // t = 1 ms: known
            .at(10)
            .inv(1, READ_F, Value::Null) // t = 10 ms: misses it
            .ok(1, READ_F, json!([]))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1]))
            .build();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(fig(&r, "stale"), &json!([1]));
        // (10 ms + 1 ns) - 1 ms, truncated to whole ms.
        assert_eq!(fig(&r, "stable-latencies")["0.5"], json!(9));
        let w = &fig(&r, "worst-stale")[0];
        assert_eq!(w["element"], json!(1));
        assert_eq!(w["stable-latency"], json!(9));
        assert_eq!(w["last-absent"]["index"], json!(2));
    }

    #[test]
    fn seen_then_missed_is_lost_with_evidence() {
        let h = H::new()
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1]))
            .inv(2, READ_F, Value::Null)
            .ok(2, READ_F, json!([]))
            .build();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(fig(&r, "lost"), &json!([1]));
        assert_eq!(fig(&r, "lost-count"), &json!(1));
        // (2 ms + 1 ns) - 1 ms
        assert_eq!(fig(&r, "lost-latencies")["0"], json!(1));
        let e = &r.evidence[0];
        assert_eq!(e["element"], json!(1));
        assert_eq!(e["known"]["index"], json!(1));
        assert_eq!(e["known"]["via"], json!("add"));
        assert_eq!(e["last-present"]["index"], json!(2));
        assert_eq!(e["last-absent"]["index"], json!(4));
        assert_eq!(e["last-absent"]["process"], json!(2));
    }

    #[test]
    fn first_read_can_make_an_element_known() {
        let h = H::new()
            .inv(0, ADD, json!("x"))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!(["x"]))
            .ok(0, ADD, json!("x"))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([]))
            .build();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.evidence[0]["known"]["via"], json!("read"));
        assert_eq!(r.evidence[0]["known"]["index"], json!(2));
    }

    #[test]
    fn miss_by_a_read_concurrent_with_the_add_is_not_a_loss() {
        let mut h = H::new();
        h.inv(1, READ_F, Value::Null)
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1))
            .ok(1, READ_F, json!([]));
        let r = check(&h.build(), ADD);
        assert_eq!(fig(&r, "never-read"), &json!([1]));
        assert_eq!(fig(&r, "lost-count"), &json!(0));
        // Nothing stable: cannot pass.
        assert_eq!(r.valid, Validity::Unknown);

        h.inv(1, READ_F, Value::Null)
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1))
            .ok(1, READ_F, json!([]))
            .inv(2, READ_F, Value::Null)
            .ok(2, READ_F, json!([1]));
        let r = check(&h.build(), ADD);
        assert_eq!(r.valid, Validity::Valid);
        // The miss was invoked before the add was known: latency clamps to 0.
        assert_eq!(fig(&r, "stale-count"), &json!(0));
    }

    #[test]
    fn unacknowledged_unseen_add_is_never_read() {
        let h = H::new()
            .inv(0, "broadcast", json!(1))
            .ok(0, "broadcast", json!(1))
            .inv(0, "broadcast", json!(2))
            .info(0, "broadcast", json!(2))
            .inv(3, "broadcast", json!(3)) // never completes
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1, 99])) // 99 was never added: ignored
            .build();
        let r = check(&h, "broadcast");
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(fig(&r, "attempt-count"), &json!(3));
        assert_eq!(fig(&r, "never-read"), &json!([2, 3]));
        // Reading with the wrong add f sees no adds at all.
        assert_eq!(check(&h, ADD).valid, Validity::Unknown);
    }

    #[test]
    fn duplicates_in_one_read_are_reported() {
        let h = H::new()
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1, 1, 1]))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1, 1]))
            .build();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(fig(&r, "duplicated-count"), &json!(1));
        assert_eq!(fig(&r, "duplicated"), &json!([[1, 3]]));
        assert_eq!(fig(&r, "stable-count"), &json!(1));
        assert_eq!(r.evidence[0]["read"]["index"], json!(2));
    }

    #[test]
    fn malformed_read_is_invalid_not_a_panic() {
        let h = H::new()
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!({"messages": [1]}))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1]))
            .build();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(fig(&r, "malformed-read-count"), &json!(1));
        assert_eq!(fig(&r, "read-count"), &json!(1));
    }

    #[test]
    fn empty_history_is_unknown() {
        let r = check(&[], ADD);
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(fig(&r, "attempt-count"), &json!(0));
    }

    #[test]
    fn missing_times_skip_latencies_but_not_outcomes() {
        let h = H::new()
            .inv(0, ADD, json!(1))
            .ok(0, ADD, json!(1))
            .untimed()
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([]))
            .inv(1, READ_F, Value::Null)
            .ok(1, READ_F, json!([1]))
            .build();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(fig(&r, "stable-count"), &json!(1));
        assert!(r.figure("stable-latencies").is_none());
        assert_eq!(fig(&r, "stale-count"), &json!(0));
    }

    /// (lost, never-read, stale, sorted stable latencies, sorted lost latencies)
    type Outcomes = (Vec<i64>, Vec<i64>, Vec<i64>, Vec<u64>, Vec<u64>);

    /// Jepsen's algorithm, literally: every ok read updates every element
    /// whose add was invoked so far. Quadratic, used only to check the fast
    /// path on random histories.
    fn reference(h: &[Op]) -> Outcomes {
        #[derive(Default, Clone, Copy)]
        struct S {
            known: Option<usize>,
            lp: Option<usize>,
            la: Option<usize>,
        }
        let mut st: std::collections::BTreeMap<i64, S> = Default::default();
        let mut open: FxHashMap<Process, usize> = FxHashMap::default();
        for (pos, op) in h.iter().enumerate() {
            let inv = if op.kind == OpType::Invoke {
                open.insert(op.process, pos);
                if op.f == ADD {
                    st.entry(op.value.as_i64().unwrap()).or_default();
                }
                continue;
            } else {
                open.remove(&op.process).unwrap()
            };
            match (op.f.as_str(), op.kind) {
                (ADD, OpType::Ok) => {
                    let s = st.get_mut(&h[inv].value.as_i64().unwrap()).unwrap();
                    s.known.get_or_insert(pos);
                }
                (READ_F, OpType::Ok) => {
                    let seen: Vec<i64> = op
                        .value
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap())
                        .collect();
                    for (e, s) in st.iter_mut() {
                        if seen.contains(e) {
                            s.known.get_or_insert(pos);
                            s.lp = Some(s.lp.map_or(inv, |x| x.max(inv)));
                        } else {
                            s.la = Some(s.la.map_or(inv, |x| x.max(inv)));
                        }
                    }
                }
                _ => {}
            }
        }
        let t = |p: usize| h[p].time.unwrap();
        let (mut lost, mut never, mut stale, mut sl, mut ll) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (e, s) in st {
            let stable = s.lp.is_some() && s.la.is_none_or(|a| Some(a) < s.lp);
            let is_lost = s.known.is_some()
                && s.la.is_some()
                && s.lp.is_none_or(|p| p < s.la.unwrap())
                && s.known.unwrap() < s.la.unwrap();
            let lat = |x: Option<usize>| {
                x.map_or(0, |x| (t(x) + 1).saturating_sub(t(s.known.unwrap())) / MS)
            };
            if stable {
                sl.push(lat(s.la));
                if lat(s.la) > 0 {
                    stale.push(e);
                }
            } else if is_lost {
                lost.push(e);
                ll.push(lat(s.lp));
            } else {
                never.push(e);
            }
        }
        sl.sort();
        ll.sort();
        (lost, never, stale, sl, ll)
    }

    /// A small deterministic PRNG so the random tests need no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_history(seed: u64, steps: usize) -> Vec<Op> {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut h = H::new();
        let mut now = 0u64;
        let mut next_elem = 0i64;
        let mut procs: Vec<u64> = (0..4).collect();
        let mut next_proc = 4;
        let mut open: FxHashMap<u64, (bool, i64)> = FxHashMap::default();
        let mut state: Vec<i64> = Vec::new(); // "the system's" set
        for _ in 0..steps {
            now += rng.below(5);
            h.at(now);
            let slot = rng.below(procs.len() as u64) as usize;
            let p = procs[slot];
            match open.remove(&p) {
                None => {
                    if rng.below(2) == 0 {
                        h.inv(p, ADD, json!(next_elem));
                        open.insert(p, (true, next_elem));
                        next_elem += 1;
                    } else {
                        h.inv(p, READ_F, Value::Null);
                        open.insert(p, (false, 0));
                    }
                }
                Some((true, e)) => {
                    let roll = rng.below(10);
                    if roll < 7 {
                        state.push(e);
                        h.ok(p, ADD, json!(e));
                    } else if roll < 8 {
                        h.fail(p, ADD, json!(e));
                    } else {
                        if rng.below(2) == 0 {
                            state.push(e);
                        }
                        h.info(p, ADD, json!(e));
                        procs[slot] = next_proc;
                        next_proc += 1;
                    }
                }
                Some((false, _)) => {
                    // A flaky replica: sometimes forgets or has not yet seen
                    // elements, sometimes lists a future one.
                    let mut v: Vec<Value> = state
                        .iter()
                        .filter(|_| rng.below(6) != 0)
                        .map(|&e| json!(e))
                        .collect();
                    if rng.below(8) == 0 {
                        v.push(json!(next_elem));
                    }
                    if rng.below(10) == 0 && !state.is_empty() {
                        state.remove(rng.below(state.len() as u64) as usize);
                    }
                    if rng.below(10) < 9 {
                        h.ok(p, READ_F, Value::Array(v));
                    } else {
                        h.info(p, READ_F, Value::Null);
                        procs[slot] = next_proc;
                        next_proc += 1;
                    }
                }
            }
        }
        h.build()
    }

    #[test]
    fn agrees_with_jepsens_quadratic_algorithm() {
        let mut lost_seen = 0;
        let mut stale_seen = 0;
        for seed in 1..=200 {
            let h = random_history(seed, 150);
            let r = check(&h, ADD);
            let (lost, never, stale, sl, ll) = reference(&h);
            let ctx = format!("seed {seed}");
            assert_eq!(fig(&r, "lost"), &json!(lost), "{ctx}");
            assert_eq!(fig(&r, "never-read"), &json!(never), "{ctx}");
            assert_eq!(fig(&r, "stale"), &json!(stale), "{ctx}");
            assert_eq!(
                r.figure("stable-latencies").cloned(),
                quantiles(&sl),
                "{ctx}"
            );
            assert_eq!(r.figure("lost-latencies").cloned(), quantiles(&ll), "{ctx}");
            let expected = if !lost.is_empty() {
                Validity::Invalid
            } else if sl.is_empty() {
                Validity::Unknown
            } else {
                Validity::Valid
            };
            assert_eq!(r.valid, expected, "{ctx}");
            lost_seen += lost.len();
            stale_seen += stale.len();
        }
        // The generator must actually exercise the interesting outcomes.
        assert!(lost_seen > 0 && stale_seen > 0, "{lost_seen} {stale_seen}");
    }

    #[test]
    fn scales_to_large_histories() {
        // 10^5 ops; every read misses everything (a broken node), so every
        // acknowledged element is lost. Jepsen's per-read update of every
        // element would be ~3 * 10^8 steps here.
        let mut h = H::new();
        for i in 0..25_000 {
            h.inv(0, ADD, json!(i)).ok(0, ADD, json!(i));
            h.inv(1, READ_F, Value::Null).ok(1, READ_F, json!([]));
        }
        let h = h.build();
        let start = std::time::Instant::now();
        let r = check(&h, ADD);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(fig(&r, "never-read-count"), &json!(0));
        assert_eq!(fig(&r, "lost-count"), &json!(25_000));
        assert_eq!(r.evidence.len(), crate::EVIDENCE_CAP);
        // 25 000 lost elements plus "no element is stable".
        assert_eq!(r.evidence_count(), 25_001);
        assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
    }
}
