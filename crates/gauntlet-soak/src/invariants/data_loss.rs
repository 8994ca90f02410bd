//! I4: every acknowledged write survives.

use gauntlet_check::CheckResult;
use serde_json::json;

use super::{EVIDENCE_PER_KIND, EXERCISED, I4, mark_not_exercised};
use crate::journal::Journal;
use crate::readback::{DataLoss, Finding};

/// I4: fails if any key was lost, stale or unexpected. Unknown if the
/// journal holds no acknowledged write ("never exercised"), if some keys
/// could not be read, or if no key was checked: it never passes without
/// having checked at least one key.
///
/// Evidence: one item per kind of violation (and one for unreadable keys),
/// each with the total `count` and the first [`EVIDENCE_PER_KIND`] findings
/// with their journal entries, so every kind shows however many of another
/// there are.
///
/// Figures: `checked`, `ok`, `lost`, `stale`, `explained`, `unexpected`,
/// `unreadable`, `acked-writes`, `unacked-writes`, `exercised`.
pub fn i4_no_data_loss(loss: &DataLoss, journal: &Journal) -> CheckResult {
    let mut r = CheckResult::new(I4)
        .with("checked", loss.checked)
        .with("ok", loss.ok)
        .with("lost", loss.lost.len())
        .with("stale", loss.stale.len())
        .with("explained", loss.explained.len())
        .with("unexpected", loss.unexpected.len())
        .with("unreadable", loss.unreadable.len())
        .with("acked-writes", journal.acked_writes())
        .with("unacked-writes", journal.unacked_writes())
        .with(EXERCISED, journal.acked_writes() > 0);
    for (findings, problem) in [
        (&loss.lost, "acknowledged writes lost: the key is absent"),
        (
            &loss.stale,
            "stale: the key holds an older value than the last acknowledged write",
        ),
        (
            &loss.unexpected,
            "unexpected: the key holds a value never written to it",
        ),
    ] {
        if !findings.is_empty() {
            r.fail(json!({
                "problem": problem,
                "count": findings.len(),
                "findings": first(findings),
            }));
        }
    }
    if journal.acked_writes() == 0 {
        let note = "never exercised: the journal holds no acknowledged write";
        mark_not_exercised(&mut r, note);
        r.undecided(json!({ "problem": note }));
    } else if loss.checked == 0 {
        r.undecided(json!({ "problem": "no key was checked" }));
    }
    if !loss.unreadable.is_empty() {
        let keys: Vec<_> = loss
            .unreadable
            .iter()
            .take(EVIDENCE_PER_KIND)
            .map(|(key, error)| json!({ "key": key, "error": error }))
            .collect();
        r.undecided(json!({
            "problem": "keys could not be read back",
            "count": loss.unreadable.len(),
            "keys": keys,
        }));
    }
    r
}

fn first(findings: &[Finding]) -> Vec<serde_json::Value> {
    findings
        .iter()
        .take(EVIDENCE_PER_KIND)
        .map(|f| {
            json!({
                "key": f.key,
                "read": f.read,
                "last-acked": f.last_acked,
                "matched": f.matched,
            })
        })
        .collect()
}
