//! Readback classification: every outcome, duplicated values, unreadable
//! keys.

use std::collections::BTreeMap;

use serde_json::json;

use gauntlet_soak::journal::{Journal, JournalEntry};
use gauntlet_soak::readback::{DataLoss, Outcome, classify};

fn write(key: &str, value: &str, seq: u64, acked: bool) -> JournalEntry {
    JournalEntry {
        user: 0,
        key: key.to_owned(),
        value: value.to_owned(),
        seq,
        time_ms: seq as i64,
        acked,
    }
}

fn journal(writes: &[JournalEntry]) -> Journal {
    let mut j = Journal::new();
    for w in writes {
        j.record(w.clone());
    }
    j
}

type Reads = BTreeMap<String, Result<Option<String>, String>>;

fn reads(pairs: &[(&str, Result<Option<&str>, &str>)]) -> Reads {
    pairs
        .iter()
        .map(|(k, r)| {
            let r = r.map(|v| v.map(str::to_owned)).map_err(str::to_owned);
            ((*k).to_owned(), r)
        })
        .collect()
}

/// One key written `writes`, read back as `read`.
fn one(writes: &[JournalEntry], read: Option<&str>) -> DataLoss {
    let key = writes[0].key.clone();
    classify(&journal(writes), &reads(&[(key.as_str(), Ok(read))]))
}

fn outcome_of(loss: &DataLoss) -> Outcome {
    assert_eq!(loss.checked, 1);
    if loss.ok == 1 {
        return Outcome::Ok;
    }
    let all = [&loss.lost, &loss.stale, &loss.explained, &loss.unexpected];
    let found: Vec<_> = all.iter().flat_map(|v| v.iter()).collect();
    assert_eq!(found.len(), 1, "{loss:?}");
    found[0].outcome
}

#[test]
fn the_last_acked_value_is_ok() {
    let w = [write("k0", "a", 1, true), write("k0", "b", 2, true)];
    let loss = one(&w, Some("b"));
    assert_eq!((loss.checked, loss.ok, loss.violations()), (1, 1, 0));
}

#[test]
fn absent_is_lost_with_the_write_it_broke() {
    let w = [write("k0", "a", 1, true), write("k0", "b", 2, false)];
    let loss = one(&w, None);
    assert_eq!(outcome_of(&loss), Outcome::Lost);
    let f = &loss.lost[0];
    assert_eq!(f.key, "k0");
    assert_eq!(f.read, None);
    assert_eq!(f.last_acked, w[0]);
    assert_eq!(f.matched, None);
    assert_eq!(loss.violations(), 1);
}

#[test]
fn an_older_value_is_stale_acked_or_not() {
    let w = [
        write("k0", "a", 1, true),
        write("k0", "b", 2, false),
        write("k0", "c", 3, true),
    ];
    let loss = one(&w, Some("a"));
    assert_eq!(outcome_of(&loss), Outcome::Stale);
    assert_eq!(loss.stale[0].matched, Some(w[0].clone()));
    assert_eq!(loss.stale[0].last_acked, w[2]);
    let loss = one(&w, Some("b"));
    assert_eq!(outcome_of(&loss), Outcome::Stale);
    assert_eq!(loss.stale[0].matched, Some(w[1].clone()));
}

#[test]
fn a_later_unacked_value_is_explained() {
    let w = [
        write("k0", "a", 1, true),
        write("k0", "b", 2, false),
        write("k0", "c", 3, false),
    ];
    let loss = one(&w, Some("c"));
    assert_eq!(outcome_of(&loss), Outcome::Explained);
    assert_eq!(loss.explained[0].matched, Some(w[2].clone()));
    assert_eq!(loss.violations(), 0, "explained is not a violation");
}

#[test]
fn a_value_nobody_wrote_is_unexpected() {
    let w = [write("k0", "a", 1, true)];
    let loss = one(&w, Some("zzz"));
    assert_eq!(outcome_of(&loss), Outcome::Unexpected);
    assert_eq!(loss.unexpected[0].read.as_deref(), Some("zzz"));
    assert_eq!(loss.unexpected[0].matched, None);
    assert_eq!(loss.violations(), 1);
    // A value written to another key is still unexpected for this one.
    let j = journal(&[write("k0", "a", 1, true), write("k1", "b", 1, true)]);
    let loss = classify(&j, &reads(&[("k0", Ok(Some("b"))), ("k1", Ok(Some("b")))]));
    assert_eq!((loss.ok, loss.unexpected.len()), (1, 1));
    assert_eq!(loss.unexpected[0].key, "k0");
}

#[test]
fn duplicated_values_resolve_to_the_kindest_reading() {
    // The last acked value was also written before: ok, not stale.
    let w = [
        write("k0", "x", 1, true),
        write("k0", "y", 2, true),
        write("k0", "x", 3, true),
    ];
    let loss = one(&w, Some("x"));
    assert_eq!(outcome_of(&loss), Outcome::Ok);

    // ...and again after, unacknowledged: still ok.
    let w = [write("k0", "x", 1, true), write("k0", "x", 2, false)];
    assert_eq!(outcome_of(&one(&w, Some("x"))), Outcome::Ok);

    // A value both older and later: the later write may have happened.
    let w = [
        write("k0", "x", 1, true),
        write("k0", "y", 2, true),
        write("k0", "x", 3, false),
    ];
    let loss = one(&w, Some("x"));
    assert_eq!(outcome_of(&loss), Outcome::Explained);
    assert_eq!(loss.explained[0].matched.as_ref().map(|e| e.seq), Some(3));

    // Written twice before: stale, matched to the latest occurrence.
    let w = [
        write("k0", "x", 1, false),
        write("k0", "x", 2, true),
        write("k0", "y", 3, true),
    ];
    let loss = one(&w, Some("x"));
    assert_eq!(outcome_of(&loss), Outcome::Stale);
    assert_eq!(loss.stale[0].matched.as_ref().map(|e| e.seq), Some(2));
}

#[test]
fn order_is_by_seq_not_by_record_order() {
    // Recorded out of order: seq 2 is the last acked, whatever came last.
    let j = journal(&[write("k0", "new", 2, true), write("k0", "old", 1, true)]);
    let loss = classify(&j, &reads(&[("k0", Ok(Some("new")))]));
    assert_eq!(loss.ok, 1);
    let loss = classify(&j, &reads(&[("k0", Ok(Some("old")))]));
    assert_eq!(loss.stale.len(), 1);
}

#[test]
fn unreadable_keys_are_reported_not_checked() {
    let j = journal(&[
        write("k0", "a", 1, true),
        write("k1", "b", 1, true),
        write("k2", "c", 1, true),
    ]);
    let loss = classify(&j, &reads(&[("k0", Ok(Some("a"))), ("k1", Err("timeout"))]));
    assert_eq!((loss.checked, loss.ok), (1, 1));
    assert_eq!(
        loss.unreadable,
        [
            ("k1".to_owned(), "timeout".to_owned()),
            ("k2".to_owned(), "not read back".to_owned()),
        ]
    );
}

#[test]
fn only_keys_with_an_acked_write_are_judged() {
    let j = journal(&[write("k0", "a", 1, false), write("k1", "b", 1, true)]);
    let loss = classify(
        &j,
        &reads(&[("k0", Ok(None)), ("k1", Ok(Some("b"))), ("k9", Ok(None))]),
    );
    assert_eq!((loss.checked, loss.ok, loss.violations()), (1, 1, 0));
    assert!(loss.unreadable.is_empty());
}

#[test]
fn an_empty_journal_checks_nothing() {
    let loss = classify(&Journal::new(), &reads(&[("k0", Ok(Some("a")))]));
    assert_eq!(loss, DataLoss::default());
}

#[test]
fn checked_is_the_sum_of_outcomes() {
    let mut writes = Vec::new();
    let mut rs = Vec::new();
    let cases = [Some("v"), None, Some("old"), Some("later"), Some("??")];
    for (i, read) in cases.iter().enumerate() {
        let key = format!("k{i}");
        writes.push(write(&key, "old", 1, true));
        writes.push(write(&key, "v", 2, true));
        writes.push(write(&key, "later", 3, false));
        rs.push((key, *read));
    }
    let j = journal(&writes);
    let reads: Reads = rs
        .iter()
        .map(|(k, r)| (k.clone(), Ok(r.map(str::to_owned))))
        .collect();
    let loss = classify(&j, &reads);
    assert_eq!(loss.checked, 5);
    assert_eq!(
        (
            loss.ok,
            loss.lost.len(),
            loss.stale.len(),
            loss.explained.len(),
            loss.unexpected.len()
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(loss.violations(), 3);
}

/// The journal is a view of the soak's history: an `ok` write is
/// acknowledged, an `info` one and one never completed are sent with an
/// unknown effect, and reads are not writes.
#[test]
fn the_journal_is_a_view_of_the_history() {
    use gauntlet_history::{Op, OpType};

    let write = |user: u64, key: &str, value: &str, seq: u64, t_ms: u64| {
        let mut op = Op::invoke(user, "write", json!({"value": value, "seq": seq}));
        op.key = Some(json!(key));
        op.time = Some(t_ms * 1_000_000);
        op
    };
    let w1 = write(0, "k0", "u0-s1", 1, 10);
    let w2 = write(1, "k1", "u1-s1", 1, 12);
    let mut read = Op::invoke(0, "read", json!(null));
    read.key = Some(json!("k0"));
    let w3 = write(0, "k0", "u0-s2", 2, 30);
    let ops = vec![
        w1.clone(),
        w2.clone(),
        w1.complete(OpType::Ok, w1.value.clone()),
        w2.complete(OpType::Info, w2.value.clone()),
        read.clone(),
        read.complete(OpType::Ok, json!("u0-s1")),
        w3,
    ];
    let journal = Journal::from_history(&ops);
    assert_eq!(journal.len(), 3);
    assert_eq!((journal.acked_writes(), journal.unacked_writes()), (1, 2));
    let last = journal.last_acked("k0").unwrap();
    assert_eq!(
        (last.value.as_str(), last.seq, last.time_ms),
        ("u0-s1", 1, 10)
    );
    assert!(journal.last_acked("k1").is_none());
    assert_eq!(journal.writes("k0").count(), 2);
}
