//! Maelstrom's `echo` workload: every message sent must come back unchanged.

use gauntlet_history::{Op, OpType};
use serde_json::json;

use crate::CheckResult;
use crate::calls::{Calls, report_problems};

/// The f of echo operations.
pub const F: &str = "echo";

/// Checks an echo history: each `echo` invoke (value = the string sent) must
/// complete `ok` with an equal value (the reply's `echo` field).
///
/// Only a wrong answer is a violation. Maelstrom also fails the test on any
/// timeout, which makes echo untestable under kills and pauses; here an
/// unanswered echo is unavailability, counted in `failed-count` and judged by
/// the `stats` and `availability` checks, not a wrong answer. Evidence names
/// the process, what was sent and what came back. A history with no `ok`
/// echo is `unknown`, not a pass: nothing was checked.
///
/// Result figures: `attempt-count`, `ok-count`, `mismatch-count`,
/// `failed-count` (fail, info or open), `malformed-count`.
pub fn check(history: &[Op]) -> CheckResult {
    let calls = Calls::of(history);
    let mut r = CheckResult::new("echo");
    let (mut attempts, mut oks, mut mismatches, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for call in calls.calls.iter().filter(|c| c.f() == F) {
        // Orphan completions are reported as shape problems below.
        let Some(inv) = call.invoke else { continue };
        attempts += 1;
        let sent = &inv.op.value;
        let base = json!({"process": inv.op.process, "index": inv.op.index, "sent": sent});
        match call.completion {
            Some(c) if c.op.kind == OpType::Ok => {
                oks += 1;
                if &c.op.value != sent {
                    mismatches += 1;
                    let mut e = base;
                    e["problem"] = json!("received a different message");
                    e["received"] = c.op.value.clone();
                    e["completion-index"] = json!(c.op.index);
                    r.fail(e);
                }
            }
            Some(_) | None => failed += 1,
        }
    }
    r.set("attempt-count", attempts);
    r.set("ok-count", oks);
    r.set("mismatch-count", mismatches);
    r.set("failed-count", failed);
    report_problems(&mut r, calls.problems_for(|f| f == F));
    if oks == 0 {
        r.undecided(json!({"problem": "no echo was answered, so none could be checked"}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validity;
    use crate::testkit::H;

    #[test]
    fn all_echoed_is_valid() {
        let h = H::new()
            .inv(0, F, json!("Please echo 1"))
            .inv(1, F, json!("Please echo 2"))
            .nemesis("partition", json!({}))
            .ok(1, F, json!("Please echo 2"))
            .ok(0, F, json!("Please echo 1"))
            .build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.figure("attempt-count"), Some(&json!(2)));
        assert_eq!(r.figure("ok-count"), Some(&json!(2)));
        assert!(r.evidence.is_empty());
    }

    #[test]
    fn mismatch_names_process_sent_and_received() {
        // Process 1's reply carries process 0's message: paired by process,
        // both are mismatches.
        let h = H::new()
            .inv(0, F, json!("a"))
            .inv(1, F, json!("b"))
            .ok(1, F, json!("a"))
            .ok(0, F, json!("b"))
            .build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.figure("mismatch-count"), Some(&json!(2)));
        let e = &r.evidence[0];
        assert_eq!(e["process"], json!(0));
        assert_eq!(e["sent"], json!("a"));
        assert_eq!(e["received"], json!("b"));
    }

    #[test]
    fn unanswered_echoes_are_counted_not_violations() {
        let h = H::new()
            .inv(0, F, json!("a"))
            .fail(0, F, json!("a"))
            .inv(1, F, json!("b"))
            .info(1, F, json!("b"))
            .inv(2, F, json!("c"))
            .inv(3, F, json!("d"))
            .ok(3, F, json!("d"))
            .build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.figure("failed-count"), Some(&json!(3)));
        assert_eq!(r.figure("ok-count"), Some(&json!(1)));
        assert_eq!(r.evidence_count(), 0);
    }

    #[test]
    fn no_answer_at_all_is_unknown() {
        let h = H::new()
            .inv(0, F, json!("a"))
            .info(0, F, json!("a"))
            .build();
        assert_eq!(check(&h).valid, Validity::Unknown);
    }

    #[test]
    fn nothing_to_check_is_unknown() {
        let h = H::new().nemesis("kill", json!(null)).build();
        assert_eq!(check(&h).valid, Validity::Unknown);
        assert_eq!(check(&[]).valid, Validity::Unknown);
    }

    #[test]
    fn orphan_completion_cannot_pass() {
        let h = H::new()
            .inv(0, F, json!("a"))
            .ok(0, F, json!("a"))
            .ok(7, F, json!("x"))
            .build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.figure("malformed-count"), Some(&json!(1)));
    }
}
