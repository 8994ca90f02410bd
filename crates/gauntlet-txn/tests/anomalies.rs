//! One tiny hand-written history per anomaly, each next to a valid
//! control that differs only where the anomaly is.

use gauntlet_check::Validity;
use gauntlet_history::{Op, OpType};
use gauntlet_txn::{Analysis, Options, TxnError, Workload, check};
use serde_json::{Value, json};

/// A history built step by step; indices follow the order of calls.
#[derive(Default)]
struct H {
    ops: Vec<Op>,
}

impl H {
    fn push(&mut self, mut op: Op) -> &mut H {
        op.index = self.ops.len() as u64;
        self.ops.push(op);
        self
    }
    fn invoke(&mut self, p: u64, v: Value) -> &mut H {
        self.push(Op::invoke(p, "txn", v))
    }
    fn done(&mut self, p: u64, kind: OpType, v: Value) -> &mut H {
        let inv = Op::invoke(p, "txn", Value::Null);
        self.push(inv.complete(kind, v))
    }
    fn ok(&mut self, p: u64, v: Value) -> &mut H {
        self.done(p, OpType::Ok, v)
    }
    /// A txn invoked and completed ok at once.
    fn txn(&mut self, p: u64, invoke: Value, ok: Value) -> &mut H {
        self.invoke(p, invoke).ok(p, ok)
    }
}

fn nulls(v: &Value) -> Value {
    Value::Array(
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                if m[0] == "r" {
                    json!([m[0], m[1], null])
                } else {
                    m.clone()
                }
            })
            .collect(),
    )
}

/// Checks a list-append history built from (process, completed value)
/// pairs run one after another (sequential: no concurrency).
fn run(h: &H, workload: Workload, models: &[&str]) -> Analysis {
    check(&h.ops, workload, &Options::models(models.iter().copied())).unwrap()
}

fn types(a: &Analysis) -> Vec<&'static str> {
    a.anomalies.types().collect()
}

fn seq(txns: &[(u64, Value)]) -> H {
    let mut h = H::default();
    for (p, v) in txns {
        h.txn(*p, nulls(v), v.clone());
    }
    h
}

/// Two txns invoked together, then completed; then sequential readers.
fn concurrent(a: Value, b: Value, readers: &[Value]) -> H {
    let mut h = H::default();
    h.invoke(0, nulls(&a))
        .invoke(1, nulls(&b))
        .ok(0, a)
        .ok(1, b);
    for r in readers {
        h.txn(2, nulls(r), r.clone());
    }
    h
}

const LA: Workload = Workload::ListAppend;

#[test]
fn g0_write_cycle() {
    let a = json!([["append", 0, 1], ["append", 1, 2]]);
    let b = json!([["append", 0, 3], ["append", 1, 4]]);
    let bad = concurrent(
        a.clone(),
        b.clone(),
        &[json!([["r", 0, [1, 3]], ["r", 1, [4, 2]]])],
    );
    let r = run(&bad, LA, &["read-uncommitted"]);
    assert_eq!(types(&r), ["G0"], "{:?}", r.anomalies);
    assert_eq!(r.valid, Validity::Invalid);
    let g0 = &r.anomalies.of("G0")[0];
    assert_eq!(g0.cycle.len(), 2);
    assert!(
        g0.explanation.contains("appended 1 to key 0"),
        "{}",
        g0.explanation
    );
    let good = concurrent(a, b, &[json!([["r", 0, [1, 3]], ["r", 1, [2, 4]]])]);
    let r = run(&good, LA, &["strict-serializable"]);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
}

/// A write cycle and an information flow cycle among the same two
/// transactions: both are named. (Kafka allows G0 but not G1c, so a G0
/// must not hide a G1c in its component.)
#[test]
fn g0_does_not_hide_a_g1c_in_the_same_component() {
    let bad = concurrent(
        json!([["append", 0, 1], ["append", 1, 2], ["append", 2, 5]]),
        json!([["append", 0, 3], ["append", 1, 4], ["r", 2, [5]]]),
        &[json!([["r", 0, [1, 3]], ["r", 1, [4, 2]]])],
    );
    let r = run(&bad, LA, &["read-committed"]);
    assert_eq!(types(&r), ["G0", "G1c"], "{:?}", r.anomalies);
}

#[test]
fn g1a_aborted_read() {
    let mut h = H::default();
    h.invoke(0, json!([["append", 0, 1]]))
        .done(0, OpType::Fail, json!([["append", 0, 1]]));
    let mut good = H { ops: h.ops.clone() };
    h.txn(1, json!([["r", 0, null]]), json!([["r", 0, [1]]]));
    good.txn(1, json!([["r", 0, null]]), json!([["r", 0, []]]));
    let r = run(&h, LA, &["read-committed"]);
    assert!(types(&r).contains(&"G1a"), "{:?}", types(&r));
    assert_eq!(r.valid, Validity::Invalid);
    assert!(r.not.contains(&"read-committed"), "{:?}", r.not);
    assert_eq!(
        run(&good, LA, &["strict-serializable"]).valid,
        Validity::Valid
    );
}

#[test]
fn g1b_intermediate_read() {
    let w = (0, json!([["append", 0, 1], ["append", 0, 2]]));
    let bad = seq(&[
        w.clone(),
        (1, json!([["r", 0, [1]]])),
        (1, json!([["r", 0, [1, 2]]])),
    ]);
    let r = run(&bad, LA, &["read-committed"]);
    assert!(types(&r).contains(&"G1b"), "{:?}", types(&r));
    let good = seq(&[w, (1, json!([["r", 0, [1, 2]]]))]);
    assert_eq!(
        run(&good, LA, &["strict-serializable"]).valid,
        Validity::Valid
    );
}

#[test]
fn g1c_circular_information_flow() {
    let bad = concurrent(
        json!([["append", 0, 1], ["r", 1, [2]]]),
        json!([["append", 1, 2], ["r", 0, [1]]]),
        &[],
    );
    let r = run(&bad, LA, &["read-committed"]);
    assert_eq!(types(&r), ["G1c"], "{:?}", r.anomalies);
    let good = concurrent(
        json!([["append", 0, 1], ["r", 1, [2]]]),
        json!([["append", 1, 2], ["r", 0, []]]),
        &[json!([["r", 0, [1]]])],
    );
    assert_eq!(run(&good, LA, &["serializable"]).valid, Validity::Valid);
}

#[test]
fn g_single_read_skew() {
    let w = json!([["append", 0, 1], ["append", 1, 1]]);
    let bad = concurrent(
        w.clone(),
        json!([["r", 0, []], ["r", 1, [1]]]),
        &[json!([["r", 0, [1]]])],
    );
    let r = run(&bad, LA, &["snapshot-isolation"]);
    assert_eq!(types(&r), ["G-single"], "{:?}", r.anomalies);
    assert_eq!(r.valid, Validity::Invalid);
    // Read committed allows it.
    assert_eq!(run(&bad, LA, &["read-committed"]).valid, Validity::Valid);
    let a = &r.anomalies.of("G-single")[0];
    let svg = r.cycle_svg(a);
    assert!(
        svg.starts_with("<svg") && svg.contains(">rw<") && svg.contains(">wr<"),
        "{svg}"
    );
    assert!(a.explanation.contains("without 1"), "{}", a.explanation);
    let good = concurrent(w, json!([["r", 0, [1]], ["r", 1, [1]]]), &[]);
    assert_eq!(
        run(&good, LA, &["strict-serializable"]).valid,
        Validity::Valid
    );
}

#[test]
fn g2_item_write_skew() {
    let bad = concurrent(
        json!([["append", 0, 1], ["r", 1, []]]),
        json!([["append", 1, 2], ["r", 0, []]]),
        &[json!([["r", 0, [1]], ["r", 1, [2]]])],
    );
    let r = run(&bad, LA, &["repeatable-read", "snapshot-isolation"]);
    assert_eq!(types(&r), ["G2-item"]);
    assert_eq!(r.models[0].valid, Validity::Invalid);
    assert_eq!(r.models[1].valid, Validity::Valid, "SI allows write skew");
    let good = concurrent(
        json!([["append", 0, 1], ["r", 1, []]]),
        json!([["append", 1, 2], ["r", 0, [1]]]),
        &[json!([["r", 0, [1]], ["r", 1, [2]]])],
    );
    assert_eq!(run(&good, LA, &["serializable"]).valid, Validity::Valid);
}

/// Ten thousand write skews one after another: ten thousand small
/// components, each searched on its own (the search must not cost the
/// whole graph per component), each one's anomaly counted.
#[test]
fn many_small_bad_components_are_each_found() {
    const N: i64 = 10_000;
    let mut h = H::default();
    for i in 0..N {
        let (x, y) = (2 * i, 2 * i + 1);
        let a = json!([["append", x, 1], ["r", y, []]]);
        let b = json!([["append", y, 1], ["r", x, []]]);
        let r = json!([["r", x, [1]], ["r", y, [1]]]);
        h.invoke(0, nulls(&a))
            .invoke(1, nulls(&b))
            .ok(0, a)
            .ok(1, b);
        h.txn(2, nulls(&r), r);
    }
    let r = run(&h, LA, &["strict-serializable"]);
    assert_eq!(types(&r), ["G2-item"]);
    assert_eq!(r.anomalies.count("G2-item"), N as usize);
    assert!(r.timeouts.is_empty());
    assert_eq!(r.valid, Validity::Invalid);
}

#[test]
fn internal_inconsistency() {
    let bad = seq(&[(0, json!([["append", 0, 1], ["r", 0, []]]))]);
    let r = run(&bad, LA, &["serializable"]);
    assert_eq!(types(&r), ["internal"]);
    let good = seq(&[(0, json!([["append", 0, 1], ["r", 0, [1]]]))]);
    assert_eq!(run(&good, LA, &["serializable"]).valid, Validity::Valid);
}

#[test]
fn incompatible_order_and_duplicates() {
    let w = [
        (0, json!([["append", 0, 1]])),
        (0, json!([["append", 0, 2]])),
    ];
    let mut bad = w.to_vec();
    bad.extend([
        (1, json!([["r", 0, [1, 2]]])),
        (1, json!([["r", 0, [2, 1]]])),
    ]);
    let r = run(&seq(&bad), LA, &["read-committed"]);
    assert!(types(&r).contains(&"incompatible-order"), "{:?}", types(&r));
    assert_eq!(r.valid, Validity::Invalid);
    let mut dup = w.to_vec();
    dup.push((1, json!([["r", 0, [1, 2, 1]]])));
    let r = run(&seq(&dup), LA, &["read-uncommitted"]);
    assert!(types(&r).contains(&"duplicate-elements"), "{:?}", types(&r));
    let good = [
        w[0].clone(),
        (1, json!([["r", 0, [1]]])),
        w[1].clone(),
        (1, json!([["r", 0, [1, 2]]])),
    ];
    assert_eq!(
        run(&seq(&good), LA, &["strict-serializable"]).valid,
        Validity::Valid
    );
}

#[test]
fn lost_update() {
    let bad = concurrent(
        json!([["r", 0, []], ["append", 0, 1]]),
        json!([["r", 0, []], ["append", 0, 2]]),
        &[json!([["r", 0, [1, 2]]])],
    );
    let r = run(&bad, LA, &["repeatable-read"]);
    assert!(types(&r).contains(&"lost-update"), "{:?}", types(&r));
    assert_eq!(r.valid, Validity::Invalid);
    let good = concurrent(
        json!([["r", 0, []], ["append", 0, 1]]),
        json!([["r", 0, [1]], ["append", 0, 2]]),
        &[json!([["r", 0, [1, 2]]])],
    );
    assert_eq!(
        run(&good, LA, &["strict-serializable"]).valid,
        Validity::Valid
    );
}

#[test]
fn stale_read_is_a_realtime_cycle() {
    // T1 appends and completes; T2 starts afterwards and misses it.
    let bad = seq(&[
        (0, json!([["append", 0, 1]])),
        (1, json!([["r", 0, []]])),
        (2, json!([["r", 0, [1]]])),
    ]);
    let r = run(&bad, LA, &["serializable", "strict-serializable"]);
    assert_eq!(types(&r), ["G-single-realtime"], "{:?}", r.anomalies);
    assert_eq!(r.models[0].valid, Validity::Valid);
    assert_eq!(r.models[1].valid, Validity::Invalid);
    let a = &r.anomalies.of("G-single-realtime")[0];
    assert!(
        a.explanation.contains("completed (op 1) before"),
        "{}",
        a.explanation
    );
    let good = seq(&[(0, json!([["append", 0, 1]])), (1, json!([["r", 0, [1]]]))]);
    assert_eq!(
        run(&good, LA, &["strict-serializable"]).valid,
        Validity::Valid
    );
    // Same process: a process-order cycle, ruling out strong session
    // serializability too.
    let same = seq(&[
        (0, json!([["append", 0, 1]])),
        (0, json!([["r", 0, []]])),
        (2, json!([["r", 0, [1]]])),
    ]);
    let r = run(&same, LA, &["strong-session-serializable"]);
    assert_eq!(types(&r), ["G-single-process"], "{:?}", r.anomalies);
    assert_eq!(r.valid, Validity::Invalid);
}

#[test]
fn info_writes_may_be_seen_and_prove_nothing() {
    let mut h = H::default();
    h.invoke(0, json!([["append", 0, 1], ["r", 1, null]])).done(
        0,
        OpType::Info,
        json!([["append", 0, 1], ["r", 1, null]]),
    );
    h.txn(1, json!([["r", 0, null]]), json!([["r", 0, [1]]]));
    // An invoke that never completes: also indeterminate.
    h.invoke(3, json!([["append", 0, 2]]));
    let r = run(&h, LA, &["strict-serializable"]);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
}

#[test]
fn nothing_committed_is_unknown() {
    let mut h = H::default();
    h.invoke(0, json!([["append", 0, 1]]))
        .done(0, OpType::Fail, json!([["append", 0, 1]]));
    let r = run(&h, LA, &["strict-serializable"]);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(r.result().valid, Validity::Unknown);
    assert_eq!(
        run(&H::default(), LA, &["serializable"]).valid,
        Validity::Unknown
    );
}

#[test]
fn edn_keywords_and_nemesis_are_accepted() {
    let mut h = seq(&[
        (0, json!([[":append", 0, 1]])),
        (1, json!([[":r", 0, [1]]])),
    ]);
    h.push(Op::nemesis("start-partition", json!("majority")));
    assert_eq!(run(&h, LA, &["strict-serializable"]).valid, Validity::Valid);
}

#[test]
fn bad_input_is_a_typed_error_naming_the_op() {
    let h = seq(&[(0, json!([["append", "k", 1]]))]);
    let e = check(&h.ops, LA, &Options::default()).unwrap_err();
    // The ok completion (op 1) carries the values the checker reads.
    assert_eq!(e.index(), Some(1));
    assert!(matches!(e, TxnError::BadTxn { .. }));
    let h = seq(&[(0, json!([["w", 0, 1]]))]);
    assert!(check(&h.ops, LA, &Options::default()).is_err());
    let e = check(&[], LA, &Options::models(["strictly-serial"])).unwrap_err();
    assert!(e.to_string().contains("strict-serializable"), "{e}");
    let h = seq(&[
        (0, json!([["append", 0, 1]])),
        (1, json!([["append", 0, 1]])),
    ]);
    assert!(matches!(
        check(&h.ops, LA, &Options::default()).unwrap_err(),
        TxnError::DuplicateWrite { .. }
    ));
}

#[test]
fn result_has_figures_and_evidence() {
    let w = json!([["append", 0, 1], ["append", 1, 1]]);
    let bad = concurrent(
        w,
        json!([["r", 0, []], ["r", 1, [1]]]),
        &[json!([["r", 0, [1]]])],
    );
    let r = run(&bad, LA, &["serializable"]).result();
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["valid"], json!(false));
    assert_eq!(v["checker"], json!("list-append"));
    assert_eq!(v["anomaly-types"], json!(["G-single"]));
    assert!(
        v["not"]
            .as_array()
            .unwrap()
            .contains(&json!("consistent-view")),
        "{v}"
    );
    assert_eq!(v["txn-count"], json!(3));
    assert_eq!(v["evidence"][0]["problem"], json!("G-single"));
    let mut ops: Vec<u64> = serde_json::from_value(v["evidence"][0]["ops"].clone()).unwrap();
    ops.sort();
    assert_eq!(ops, [2, 3]);
}

#[test]
fn exhausted_budget_is_unknown_never_valid() {
    let w = json!([["append", 0, 1], ["append", 1, 1]]);
    let bad = concurrent(
        w,
        json!([["r", 0, []], ["r", 1, [1]]]),
        &[json!([["r", 0, [1]]])],
    );
    let opts = Options {
        timeout: Some(std::time::Duration::ZERO),
        models: vec!["serializable".into()],
    };
    let r = check(&bad.ops, LA, &opts).unwrap();
    assert_eq!(r.valid, Validity::Unknown);
    assert!(!r.timeouts.is_empty());
    let v = serde_json::to_value(r.result()).unwrap();
    assert_eq!(v["evidence"][0]["problem"], json!("cycle-search-timeout"));
}

const RW: Workload = Workload::RwRegister;

#[test]
fn register_anomalies() {
    // G-single: T2 sees T1's write to 1 but not to 0 (nil precedes 1).
    let bad = concurrent(
        json!([["w", 0, 1], ["w", 1, 1]]),
        json!([["r", 0, null], ["r", 1, 1]]),
        &[],
    );
    let r = run(&bad, RW, &["serializable"]);
    assert_eq!(types(&r), ["G-single"], "{:?}", r.anomalies);
    let good = concurrent(
        json!([["w", 0, 1], ["w", 1, 1]]),
        json!([["r", 0, 1], ["r", 1, 1]]),
        &[],
    );
    assert_eq!(
        run(&good, RW, &["strict-serializable"]).valid,
        Validity::Valid
    );
    // G1a, G1b, internal, lost update.
    let mut h = H::default();
    h.invoke(0, json!([["w", 0, 1]]))
        .done(0, OpType::Fail, json!([["w", 0, 1]]));
    h.txn(1, json!([["r", 0, null]]), json!([["r", 0, 1]]));
    assert!(types(&run(&h, RW, &["read-committed"])).contains(&"G1a"));
    let g1b = seq(&[
        (0, json!([["w", 0, 1], ["w", 0, 2]])),
        (1, json!([["r", 0, 1]])),
    ]);
    assert!(types(&run(&g1b, RW, &["read-committed"])).contains(&"G1b"));
    let internal = seq(&[(0, json!([["w", 0, 1], ["r", 0, 2]]))]);
    assert!(types(&run(&internal, RW, &["serializable"])).contains(&"internal"));
    let lost = concurrent(
        json!([["r", 0, null], ["w", 0, 1]]),
        json!([["r", 0, null], ["w", 0, 2]]),
        &[],
    );
    let r = run(&lost, RW, &["repeatable-read"]);
    assert!(types(&r).contains(&"lost-update"), "{:?}", types(&r));
    assert_eq!(r.valid, Validity::Invalid);
    // Writes follow reads order versions: T2 read 1 and wrote 2; T3 read
    // 2 then T4 (later, real time) read 1: a stale read.
    let wfr = seq(&[
        (0, json!([["w", 0, 1]])),
        (1, json!([["r", 0, 1], ["w", 0, 2]])),
        (2, json!([["r", 0, 1]])),
    ]);
    let r = run(&wfr, RW, &["serializable", "strict-serializable"]);
    assert_eq!(r.models[0].valid, Validity::Valid);
    assert_eq!(r.models[1].valid, Validity::Invalid, "{:?}", r.anomalies);
}
