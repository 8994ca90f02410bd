use std::collections::BTreeMap;

use gauntlet_check::Validity;
use gauntlet_soak::invariants::{EXERCISED, I4, i4_no_data_loss};
use gauntlet_soak::journal::{Journal, JournalEntry};
use gauntlet_soak::readback::{DataLoss, classify};
use serde_json::json;

use super::{fig, problems};

fn write(key: &str, value: &str, seq: u64, acked: bool) -> JournalEntry {
    JournalEntry {
        user: 0,
        key: key.to_owned(),
        value: value.to_owned(),
        seq,
        time_ms: seq as i64 * 10,
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

fn read_all(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Result<Option<String>, String>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Ok(v.map(str::to_owned))))
        .collect()
}

#[test]
fn passes_when_every_acked_write_is_there() {
    let j = journal(&[
        write("k0", "a", 1, true),
        write("k1", "b", 1, true),
        write("k1", "c", 2, false),
    ]);
    let loss = classify(&j, &read_all(&[("k0", Some("a")), ("k1", Some("c"))]));
    let r = i4_no_data_loss(&loss, &j);
    assert_eq!(r.checker, I4);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    for (name, value) in [
        ("checked", 2),
        ("ok", 1),
        ("lost", 0),
        ("stale", 0),
        ("explained", 1),
        ("unexpected", 0),
        ("unreadable", 0),
        ("acked-writes", 2),
        ("unacked-writes", 1),
    ] {
        assert_eq!(fig(&r, name), &json!(value), "{name}");
    }
    assert_eq!(fig(&r, EXERCISED), &json!(true));
    assert!(r.evidence.is_empty());
}

#[test]
fn fails_with_each_kind_and_its_journal_entries() {
    let j = journal(&[
        write("k0", "a", 1, true),
        write("k1", "old", 1, true),
        write("k1", "new", 2, true),
        write("k2", "x", 1, true),
    ]);
    let loss = classify(
        &j,
        &read_all(&[("k0", None), ("k1", Some("old")), ("k2", Some("junk"))]),
    );
    let r = i4_no_data_loss(&loss, &j);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(
        (fig(&r, "lost"), fig(&r, "stale"), fig(&r, "unexpected")),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(r.evidence.len(), 3);
    assert_eq!(
        r.evidence[0],
        json!({"problem": "acknowledged writes lost: the key is absent", "count": 1,
               "findings": [{"key": "k0", "read": null, "matched": null,
                             "last-acked": {"user": 0, "key": "k0", "value": "a", "seq": 1,
                                            "time_ms": 10, "acked": true}}]})
    );
    assert_eq!(
        r.evidence[1]["findings"][0]["matched"]["value"],
        json!("old")
    );
    assert_eq!(
        r.evidence[1]["findings"][0]["last-acked"]["value"],
        json!("new")
    );
    assert_eq!(r.evidence[2]["findings"][0]["read"], json!("junk"));
}

#[test]
fn evidence_lists_the_first_twenty_of_each_kind_and_counts_all() {
    let writes: Vec<_> = (0..25)
        .map(|i| write(&format!("k{i:02}"), "v", 1, true))
        .collect();
    let j = journal(&writes);
    let loss = classify(
        &j,
        &BTreeMap::from_iter(writes.iter().map(|w| (w.key.clone(), Ok(None)))),
    );
    let r = i4_no_data_loss(&loss, &j);
    assert_eq!(r.evidence[0]["count"], json!(25));
    let listed = r.evidence[0]["findings"].as_array().unwrap();
    assert_eq!(listed.len(), 20);
    assert_eq!(listed[0]["key"], json!("k00"));
    assert_eq!(listed[19]["key"], json!("k19"));
}

#[test]
fn never_passes_on_an_empty_journal() {
    let j = Journal::new();
    let loss = classify(&j, &BTreeMap::new());
    let r = i4_no_data_loss(&loss, &j);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "checked"), &json!(0));
    assert_eq!(fig(&r, "acked-writes"), &json!(0));
    assert_eq!(fig(&r, EXERCISED), &json!(false));
    assert_eq!(
        problems(&r),
        ["never exercised: the journal holds no acknowledged write"]
    );

    // Only unacknowledged writes: nothing was promised, nothing proven.
    let j = journal(&[write("k0", "a", 1, false)]);
    let loss = classify(&j, &read_all(&[("k0", None)]));
    let r = i4_no_data_loss(&loss, &j);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "unacked-writes"), &json!(1));
}

#[test]
fn never_passes_without_checking_a_key() {
    // A readback that never ran (or a DataLoss from elsewhere).
    let j = journal(&[write("k0", "a", 1, true)]);
    let r = i4_no_data_loss(&DataLoss::default(), &j);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(problems(&r), ["no key was checked"]);
}

#[test]
fn unreadable_keys_make_it_unknown_but_do_not_hide_a_loss() {
    let j = journal(&[write("k0", "a", 1, true), write("k1", "b", 1, true)]);
    let mut reads = read_all(&[("k0", Some("a"))]);
    reads.insert("k1".to_owned(), Err("connection refused".to_owned()));
    let r = i4_no_data_loss(&classify(&j, &reads), &j);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "unreadable"), &json!(1));
    assert_eq!(
        r.evidence,
        [json!({"problem": "keys could not be read back", "count": 1,
                "keys": [{"key": "k1", "error": "connection refused"}]})]
    );

    reads.insert("k0".to_owned(), Ok(None));
    let r = i4_no_data_loss(&classify(&j, &reads), &j);
    assert_eq!(r.valid, Validity::Invalid);
}
