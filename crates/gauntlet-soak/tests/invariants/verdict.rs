use gauntlet_check::{CheckResult, Validity};
use gauntlet_soak::invariants::{EXERCISED, I1, I2, I3, I4, I5, not_exercised, verdict};
use serde_json::json;

fn result(checker: &str, valid: Validity) -> CheckResult {
    let mut r = CheckResult::new(checker);
    r.demote(valid);
    r
}

fn gate(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn results() -> Vec<CheckResult> {
    vec![
        result(I1, Validity::Valid),
        result(I2, Validity::Invalid),
        result(I3, Validity::Unknown),
        result(I4, Validity::Valid),
        result(I5, Validity::Valid),
    ]
}

#[test]
fn only_gated_invariants_decide() {
    let rs = results();
    assert_eq!(verdict(&rs, &gate(&["I1", "I4"])), Validity::Valid);
    assert_eq!(verdict(&rs, &gate(&["I1", "I3"])), Validity::Unknown);
    assert_eq!(verdict(&rs, &gate(&["I3", "I2"])), Validity::Invalid);
    // Full names and any case.
    assert_eq!(verdict(&rs, &gate(&["i2-memory"])), Validity::Invalid);
    assert_eq!(verdict(&rs, &gate(&[" i5 "])), Validity::Valid);
}

#[test]
fn all_or_an_empty_gate_gates_everything() {
    let rs = results();
    assert_eq!(verdict(&rs, &gate(&["all"])), Validity::Invalid);
    assert_eq!(verdict(&rs, &[]), Validity::Invalid);
    let good: Vec<_> = [I1, I4]
        .iter()
        .map(|c| result(c, Validity::Valid))
        .collect();
    assert_eq!(verdict(&good, &[]), Validity::Valid);
}

#[test]
fn judging_nothing_never_passes() {
    assert_eq!(verdict(&[], &[]), Validity::Unknown);
    assert_eq!(verdict(&[], &gate(&["all"])), Validity::Unknown);
    // A gated invariant without a result (or a typo) was never judged.
    let rs = results();
    assert_eq!(verdict(&rs, &gate(&["I1", "I6"])), Validity::Unknown);
    // "I1" does not name "I10-…".
    let ten = [result("I10-extra", Validity::Valid)];
    assert_eq!(verdict(&ten, &gate(&["I1"])), Validity::Unknown);
}

#[test]
fn not_exercised_is_unknown_and_says_so() {
    let r = not_exercised(I2, "no RSS was sampled");
    assert_eq!(r.checker, I2);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(r.figure(EXERCISED), Some(&json!(false)));
    assert_eq!(r.figure("note"), Some(&json!("no RSS was sampled")));
    assert_eq!(
        r.evidence,
        [json!({"problem": "not exercised", "note": "no RSS was sampled"})]
    );
}
