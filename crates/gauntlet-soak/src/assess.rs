//! The soak's verdict, assembled from what the runtime recorded: the five
//! invariant results, the gated verdict and the `verdict.json` value.
//!
//! The runtime gathers the inputs (journal, readback, health and RSS
//! samples, restart counts, fault windows) and writes the outputs; every
//! decision in between is here, so it is tested without processes and
//! replays from what a run left on disk.
//!
//! A soak that ended before its readback (Ctrl-C, users that never got
//! through) is still judged on what was recorded: I1, I2, I3 and I5 from
//! the samples so far, I4 `unknown` with the reason, and the gated verdict
//! at best `unknown` — never a pass for a soak that did not finish.

use std::collections::BTreeMap;

use gauntlet_check::{CheckResult, Validity};
use gauntlet_plan::soak::InvariantSpec;
use serde_json::{Map, Value, json};

use crate::invariants::{
    EXERCISED, FaultWindow, HealthSample, I4, NOTE, RssSample, i1_responsiveness, i2_memory,
    i3_recovery, i4_no_data_loss, i5_stability, verdict,
};
use crate::journal::Journal;
use crate::readback::{DataLoss, classify};

/// One key's readback: `Ok(Some(value))`, `Ok(None)` (absent) or
/// `Err(why it could not be read)`.
pub type Reads = BTreeMap<String, Result<Option<String>, String>>;

/// What the readback stage produced.
#[derive(Clone, Copy, Debug)]
pub enum Readback<'a> {
    /// Every journaled key was read (or tried).
    Done(&'a Reads),
    /// There was no readback; the string says why (e.g. "interrupted
    /// before the readback"). I4 is then `unknown` with that reason.
    Skipped(&'a str),
}

/// Everything the invariants are judged on.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// What the users wrote.
    pub journal: &'a Journal,
    /// What was read back, or why nothing was.
    pub readback: Readback<'a>,
    /// Health probes per service, ms since the soak started.
    pub health: &'a BTreeMap<String, Vec<HealthSample>>,
    /// RSS per service, ms since the soak started.
    pub rss: &'a BTreeMap<String, Vec<RssSample>>,
    /// Restarts per service: see [`restart_counts`].
    pub restarts: &'a BTreeMap<String, u32>,
    /// The faults as they happened.
    pub faults: &'a [FaultWindow],
    /// The plan's limits and gate.
    pub spec: &'a InvariantSpec,
    /// I1 ignores samples before this; I2 the first this long of every
    /// process lifetime.
    pub warmup_ms: i64,
    /// How long the soak ran (I2 extrapolates a shorter one).
    pub duration_ms: i64,
    /// How many users the plan ran. When most of them never had a write
    /// acknowledged (they could not start, ran out of file descriptors,
    /// …), the soak did not put the planned load on the system: I4 is
    /// then `unknown` and so is the verdict at best.
    pub users: u32,
    /// The plan's own checks (checker programs, built-in checkers), judged
    /// after the readback. Each one gates: a user who names a check wants
    /// it to count.
    pub checks: &'a [CheckResult],
}

/// The judged soak.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// I1–I5, in that order, then the plan's checks.
    pub results: Vec<CheckResult>,
    /// The readback's classification (`None` without a readback).
    pub loss: Option<DataLoss>,
    /// The worst gated result; at best `Unknown` without a readback.
    pub valid: Validity,
}

/// Restarts per service as I5 counts them: those the supervisor made
/// (the service's restart policy) plus those the faults caused (a `kill`
/// or `power-cut` followed by a start, a graceful `restart`). I5 then
/// explains one restart per restarting fault window.
pub fn restart_counts(
    service: &BTreeMap<String, u32>,
    fault_caused: &BTreeMap<String, u32>,
) -> BTreeMap<String, u32> {
    let mut out = service.clone();
    for (name, n) in fault_caused {
        let slot = out.entry(name.clone()).or_default();
        *slot = slot.saturating_add(*n);
    }
    out
}

/// Judges I1–I5 and the gated verdict.
///
/// I4 is demoted to `unknown` when every read failed (the readback is
/// broken, not the data), and carries a note when it found no value for
/// any key (every acknowledged write gone: more likely a wrong
/// `[readback]` than a total loss, so it says to check).
pub fn assess(inputs: &Inputs<'_>) -> Assessment {
    let Inputs {
        journal,
        readback,
        health,
        rss,
        restarts,
        faults,
        spec,
        warmup_ms,
        duration_ms,
        users,
        checks,
    } = *inputs;
    let (i4, loss) = match readback {
        Readback::Done(reads) => {
            let loss = classify(journal, reads);
            (judge_i4(journal, reads, &loss), Some(loss))
        }
        Readback::Skipped(why) => (not_read_back(journal, why), None),
    };
    let underloaded = too_few_users(journal, users);
    let i4 = match &underloaded {
        Some(evidence) => {
            let mut i4 = i4;
            i4.demote(Validity::Unknown);
            i4.evidence(evidence.clone());
            i4
        }
        None => i4,
    };
    let results = vec![
        i1_responsiveness(health, faults, spec, warmup_ms),
        i2_memory(rss, spec, duration_ms, warmup_ms),
        i3_recovery(health, faults, spec),
        i4,
        i5_stability(restarts, health, faults, spec),
    ];
    let mut results = results;
    let mut valid = verdict(&results, &spec.gate);
    for check in checks {
        valid = Validity::worst(valid, check.valid);
        results.push(check.clone());
    }
    if loss.is_none() || underloaded.is_some() {
        // The soak did not finish, or most users never wrote: what was
        // judged may fail it, but it cannot pass.
        valid = Validity::worst(valid, Validity::Unknown);
    }
    Assessment {
        results,
        loss,
        valid,
    }
}

/// The evidence that most of the plan's `users` never had a write
/// acknowledged, when they did not; `None` when no write was acknowledged
/// at all (I4 is then not exercised anyway) or enough users wrote.
fn too_few_users(journal: &Journal, users: u32) -> Option<Value> {
    let wrote = journal.users_with_acked_writes();
    let most_never_wrote = wrote > 0 && (wrote as u64) * 2 < u64::from(users);
    most_never_wrote.then(|| {
        json!({
            "problem": "most users never had a write acknowledged",
            "users": users,
            "users-with-acked-writes": wrote,
            "note": "the soak did not put the planned load on the system; see the users' figures for why",
        })
    })
}

fn judge_i4(journal: &Journal, reads: &Reads, loss: &DataLoss) -> CheckResult {
    let mut r = i4_no_data_loss(loss, journal);
    let all_errors = !reads.is_empty() && reads.values().all(|r| r.is_err());
    if all_errors {
        let first = reads
            .values()
            .find_map(|r| r.as_ref().err().cloned())
            .unwrap_or_default();
        r.demote(Validity::Unknown);
        r.evidence(json!({
            "problem": "the readback failed for every key",
            "error": first,
        }));
    } else if loss.checked > 0 && loss.ok == 0 && loss.explained.is_empty() {
        r.evidence(json!({
            "problem": "the readback found no value for any key",
            "note": "every acknowledged write is gone; if the data should be there, check [readback]",
        }));
    }
    r
}

/// I4 without a readback: `unknown`, with the journal's figures and why.
fn not_read_back(journal: &Journal, why: &str) -> CheckResult {
    let mut r = CheckResult::new(I4)
        .with("checked", 0)
        .with("acked-writes", journal.acked_writes())
        .with("unacked-writes", journal.unacked_writes())
        .with(EXERCISED, false)
        .with(NOTE, why);
    r.undecided(json!({ "problem": why }));
    r
}

/// How the run went, for `verdict.json`.
#[derive(Clone, Debug)]
pub struct RunFacts<'a> {
    /// The run's id.
    pub run: &'a str,
    /// The plan's name.
    pub plan: &'a str,
    /// The planned duration, in minutes.
    pub minutes: f64,
    /// The fault scenario.
    pub scenario: &'a str,
    /// The run's seed.
    pub seed: u64,
    /// The users' figures (ops ok and failed, last error, …).
    pub users: Value,
    /// Log pattern → service → matches (`null` if nobody looked).
    pub log_matches: Value,
    /// Why the soak stopped before its readback, if it did.
    pub stopped_early: Option<&'a str>,
}

/// The `verdict.json` value.
///
/// Its fields are those scripts read since the first soak: `run`, `plan`,
/// `minutes`, `scenario`, `seed`, `valid`, `pass`, `gate`, `invariants`
/// (checker name → result), `users`, `faults`, `log_matches`, `journal`.
/// A soak that stopped early adds `error` (why), the field its verdict
/// has always used for that.
pub fn verdict_json(
    facts: &RunFacts<'_>,
    assessment: &Assessment,
    journal: &Journal,
    faults: &[FaultWindow],
    spec: &InvariantSpec,
) -> Value {
    let mut invariants = Map::new();
    for r in &assessment.results {
        invariants.insert(
            r.checker.clone(),
            serde_json::to_value(r).unwrap_or(Value::Null),
        );
    }
    let mut v = json!({
        "run": facts.run,
        "plan": facts.plan,
        "minutes": facts.minutes,
        "scenario": facts.scenario,
        "seed": facts.seed,
        "valid": assessment.valid,
        "pass": assessment.valid == Validity::Valid,
        "gate": spec.gate,
        "invariants": invariants,
        "users": facts.users,
        "faults": faults.iter().map(|w| json!({
            "fault": w.fault, "kind": w.kind, "target": w.target,
            "start_ms": w.start_ms, "end_ms": w.end_ms,
        })).collect::<Vec<_>>(),
        "log_matches": facts.log_matches,
        "journal": {
            "acked": journal.acked_writes(),
            "unacked": journal.unacked_writes(),
            "keys": journal.keys().count(),
        },
    });
    if let Some(why) = facts.stopped_early {
        v["error"] = json!(why);
    }
    v
}

/// The readback stage's summary figures.
pub fn readback_summary(loss: &DataLoss) -> Value {
    json!({
        "checked": loss.checked, "ok": loss.ok, "lost": loss.lost.len(),
        "stale": loss.stale.len(), "explained": loss.explained.len(),
        "unexpected": loss.unexpected.len(), "unreadable": loss.unreadable.len(),
    })
}
