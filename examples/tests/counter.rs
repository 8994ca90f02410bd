mod common;

use common::Proc;
use serde_json::{Value, json};

const G: &str = env!("CARGO_BIN_EXE_node-g-counter");
const PN: &str = env!("CARGO_BIN_EXE_node-pn-counter");
const DOUBLE: &str = env!("CARGO_BIN_EXE_broken-counter-double");

const IDS: &[&str] = &["n1", "n2", "n3"];

fn add(p: &mut Proc, delta: i64) {
    let reply = p.call("c1", "n1", json!({"type": "add", "delta": delta}));
    assert_eq!(reply["body"]["type"], "add_ok", "{reply}");
}

fn read(p: &mut Proc) -> i64 {
    let reply = p.call("c1", "n1", json!({"type": "read"}));
    assert_eq!(reply["body"]["type"], "read_ok", "{reply}");
    reply["body"]["value"].as_i64().unwrap()
}

#[test]
fn g_counter_adds_under_its_own_key_and_reads_the_sum() {
    let mut p = Proc::start(G, "n1", IDS);
    assert_eq!(read(&mut p), 0);
    add(&mut p, 3);
    add(&mut p, 4);
    assert_eq!(p.kv.get("n1"), Some(&json!(7)));
    p.kv.set("n2", json!(10)); // another node's total
    p.kv.log.clear();
    assert_eq!(read(&mut p), 17);
    // The read forces a fresh view first: a write to its scratch key, then a
    // read of every node's key.
    let kinds: Vec<&str> = p.kv.log.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["write", "read", "read", "read"]);
    assert_eq!(p.kv.log[0].1, r#""scratch-n1""#);
    let scratch = p.kv.get("scratch-n1").cloned().unwrap();
    read(&mut p);
    assert_ne!(
        p.kv.get("scratch-n1"),
        Some(&scratch),
        "scratch writes must differ"
    );
}

#[test]
fn a_restarted_node_continues_from_the_stored_total_and_retries_stale_cas() {
    let mut p = Proc::start(PN, "n1", IDS);
    add(&mut p, 5);
    add(&mut p, -2);
    let kv = std::mem::take(&mut p.kv);
    drop(p);

    let mut p = Proc::start(PN, "n1", IDS);
    p.kv = kv;
    // The restarted node must read its key; make that first read stale so
    // its cas fails with 22 and it has to read again.
    p.kv.stale.insert(Value::from("n1").to_string(), json!(0));
    p.kv.log.clear();
    add(&mut p, -4);
    assert_eq!(p.kv.get("n1"), Some(&json!(-1)));
    let kinds: Vec<&str> = p.kv.log.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["read", "cas", "read", "cas"]);
    assert_eq!(read(&mut p), -1);
}

#[test]
fn bad_adds_are_refused() {
    let mut p = Proc::start(G, "n1", IDS);
    let reply = p.call("c1", "n1", json!({"type": "add", "delta": "three"}));
    assert_eq!(reply["body"]["code"], 12);
    assert_eq!(read(&mut p), 0);
}

#[test]
fn concurrent_adds_on_one_node_all_count() {
    let mut p = Proc::start(G, "n1", IDS);
    let ids: Vec<u64> = (1..=20)
        .map(|d| p.send("c1", "n1", json!({"type": "add", "delta": d})))
        .collect();
    for id in ids {
        let reply = p.expect(|m| m["body"]["in_reply_to"] == id);
        assert_eq!(reply["body"]["type"], "add_ok");
    }
    assert_eq!(read(&mut p), 210);
}

#[test]
fn broken_counter_double_counts_every_add_twice() {
    let mut p = Proc::start(DOUBLE, "n1", IDS);
    add(&mut p, 3);
    add(&mut p, 1);
    assert_eq!(
        read(&mut p),
        8,
        "the broken counter should report twice the true total 4"
    );
}
