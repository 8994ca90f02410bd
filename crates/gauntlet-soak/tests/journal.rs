//! The journal: per-key order, counts, JSONL round trip, error lines, and
//! the key-ownership helpers.

use gauntlet_soak::journal::{Journal, JournalEntry, JournalError, key_for, key_name, owner_of};

fn entry(user: u32, key: &str, value: &str, seq: u64, acked: bool) -> JournalEntry {
    JournalEntry {
        user,
        key: key.to_owned(),
        value: value.to_owned(),
        seq,
        time_ms: seq as i64 * 100,
        acked,
    }
}

#[test]
fn keys_are_those_with_an_acked_write_sorted() {
    let mut j = Journal::new();
    j.record(entry(0, "k4", "a", 1, true));
    j.record(entry(1, "k1", "b", 1, false));
    j.record(entry(0, "k0", "c", 2, true));
    j.record(entry(0, "k4", "d", 3, false));
    assert_eq!(j.keys().collect::<Vec<_>>(), ["k0", "k4"]);
    assert_eq!((j.acked_writes(), j.unacked_writes(), j.len()), (2, 2, 4));
    assert_eq!(j.last_acked("k4").map(|e| e.value.as_str()), Some("a"));
    assert_eq!(
        j.last_acked("k1"),
        None,
        "an unacked write promises nothing"
    );
    assert_eq!(j.last_acked("nope"), None);
    let k4: Vec<_> = j.writes("k4").map(|e| e.seq).collect();
    assert_eq!(k4, [1, 3]);
    assert_eq!(j.writes("nope").count(), 0);
}

#[test]
fn per_key_order_is_by_seq_even_if_recorded_out_of_order() {
    let mut j = Journal::new();
    j.record(entry(0, "k0", "third", 3, true));
    j.record(entry(0, "k0", "first", 1, true));
    j.record(entry(0, "k0", "second", 2, false));
    let order: Vec<_> = j.writes("k0").map(|e| e.value.as_str()).collect();
    assert_eq!(order, ["first", "second", "third"]);
    assert_eq!(j.last_acked("k0").unwrap().value, "third");
    // Record order is what the file keeps.
    let recorded: Vec<_> = j.entries().map(|e| e.seq).collect();
    assert_eq!(recorded, [3, 1, 2]);
}

#[test]
fn jsonl_round_trip_keeps_record_order_and_everything_else() {
    let mut j = Journal::new();
    j.record(entry(2, "k2", "v \"quoted\"\nnewline", 7, true));
    j.record(entry(0, "k0", "x", 1, false));
    let mut buf = Vec::new();
    j.write_jsonl(&mut buf).unwrap();
    let text = String::from_utf8(buf.clone()).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.ends_with('\n'));
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"user":2,"key":"k2","value":"v \"quoted\"\nnewline","seq":7,"time_ms":700,"acked":true}"#
    );
    let back = Journal::read_jsonl(&buf[..]).unwrap();
    assert_eq!(
        back.entries().collect::<Vec<_>>(),
        j.entries().collect::<Vec<_>>()
    );
    assert_eq!(back.keys().collect::<Vec<_>>(), ["k2"]);
    assert_eq!((back.acked_writes(), back.unacked_writes()), (1, 1));
}

#[test]
fn empty_journal_round_trips_to_nothing() {
    let mut buf = Vec::new();
    Journal::new().write_jsonl(&mut buf).unwrap();
    assert!(buf.is_empty());
    let back = Journal::read_jsonl(&buf[..]).unwrap();
    assert!(back.is_empty());
    assert_eq!(back.keys().count(), 0);
}

#[test]
fn read_errors_name_the_line_and_blank_lines_are_skipped() {
    let good = r#"{"user":0,"key":"k0","value":"a","seq":1,"time_ms":5,"acked":true}"#;
    let text = format!("{good}\n\n{{\"user\":0,\"key\":\"k0\"}}\n{good}\n");
    let err = Journal::read_jsonl(text.as_bytes()).unwrap_err();
    assert_eq!(err.line(), 3);
    assert!(matches!(err, JournalError::Parse { line: 3, .. }));
    let message = err.to_string();
    assert!(
        message.starts_with("journal line 3: not a journal entry"),
        "{message}"
    );

    let err = Journal::read_jsonl(&b"not json\n"[..]).unwrap_err();
    assert_eq!(err.line(), 1);

    let mut bytes = format!("{good}\n").into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\n");
    let err = Journal::read_jsonl(&bytes[..]).unwrap_err();
    assert!(matches!(err, JournalError::Read { line: 2, .. }), "{err}");

    // Trailing blank lines and a missing final newline are fine.
    let ok = Journal::read_jsonl(format!("{good}\n{good}\n\n  \n").as_bytes()).unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(Journal::read_jsonl(good.as_bytes()).unwrap().len(), 1);
}

#[test]
fn key_helpers_partition_keys_among_users() {
    let users = 3;
    for user in 0..users {
        for n in 0..10 {
            let k = key_for(user, n, users);
            assert_eq!(owner_of(k, users), user);
        }
    }
    assert_eq!(key_for(1, 2, 3), 7);
    assert_eq!(owner_of(7, 3), 1);
    assert_eq!(key_name(42), "k42");
    assert_eq!(key_name(0), "k0");
    // No division by zero, no overflow panic.
    assert_eq!(owner_of(5, 0), 0);
    assert_eq!(key_for(0, 4, 0), 4);
    assert_eq!(key_for(1, u64::MAX, 2), u64::MAX);
}
