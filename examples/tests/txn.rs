//! The transaction nodes against a stand-in lin-kv: the correct transactor
//! starts over when it loses the `cas` race; the stale cache never reads
//! back what another node wrote. (`gauntlet test` runs them end to end in
//! crates/gauntlet/tests/txn.rs.)

mod common;

use common::Proc;
use serde_json::{Value, json};

const SINGLE_KEY: &str = env!("CARGO_BIN_EXE_node-txn-single-key");
const MULTI_KEY: &str = env!("CARGO_BIN_EXE_node-txn-multi-key");
const STALE_CACHE: &str = env!("CARGO_BIN_EXE_broken-txn-stale-cache");

fn txn(p: &mut Proc, ops: Value) -> Value {
    let r = p.call("c1", "n1", json!({"type": "txn", "txn": ops}));
    r["body"].clone()
}

#[test]
fn the_transactor_retries_a_lost_cas_and_reads_its_own_writes() {
    let mut p = Proc::start(SINGLE_KEY, "n1", &["n1", "n2"]);
    let r = txn(
        &mut p,
        json!([["r", 1, null], ["append", 1, 1], ["r", 1, null]]),
    );
    assert_eq!(r["type"], "txn_ok", "{r}");
    assert_eq!(
        r["txn"],
        json!([["r", 1, null], ["append", 1, 1], ["r", 1, [1]]])
    );
    // The next read of the root is stale, as if another transaction had
    // installed its database meanwhile: the cas from it fails, and the
    // transaction starts over from the current root.
    p.kv.stale.insert(json!("txn-root").to_string(), json!({}));
    let r = txn(&mut p, json!([["append", 1, 2], ["r", 1, null]]));
    assert_eq!(r["txn"], json!([["append", 1, 2], ["r", 1, [1, 2]]]), "{r}");
    let cas = p.kv.log.iter().filter(|(t, _)| t == "cas").count();
    assert_eq!(cas, 3, "one cas lost, then retried: {:?}", p.kv.log);
    // Read-only: one read of the root, no cas.
    let r = txn(&mut p, json!([["r", 1, null], ["r", 9, null]]));
    assert_eq!(r["txn"], json!([["r", 1, [1, 2]], ["r", 9, null]]));
    assert_eq!(p.kv.log.iter().filter(|(t, _)| t == "cas").count(), 3);
}

/// The stand-in serves lin-kv and lww-kv from one map: the root under
/// "txn-root", thunks under their ids.
#[test]
fn the_multi_key_transactor_keeps_values_in_thunks_and_retries() {
    let mut p = Proc::start(MULTI_KEY, "n1", &["n1", "n2"]);
    let r = txn(
        &mut p,
        json!([
            ["r", 1, null],
            ["append", 1, 1],
            ["w", 2, 5],
            ["r", 2, null]
        ]),
    );
    assert_eq!(r["type"], "txn_ok", "{r}");
    assert_eq!(
        r["txn"],
        json!([["r", 1, null], ["append", 1, 1], ["w", 2, 5], ["r", 2, 5]])
    );
    // The root names one fresh thunk per key written, holding its value.
    let root = p.kv.get("txn-root").unwrap().clone();
    let (t1, t2) = (root["1"].as_str().unwrap(), root["2"].as_str().unwrap());
    assert!(
        t1.starts_with("n1-") && t2.starts_with("n1-") && t1 != t2,
        "{root}"
    );
    assert_eq!(p.kv.get(t1), Some(&json!([1])));
    assert_eq!(p.kv.get(t2), Some(&json!(5)));

    // Another node installed a root naming its own thunk, which the lww-kv
    // replica asked does not have yet: the read is retried until it does.
    p.kv.set("txn-root", json!({"1": "n2-x-1", "2": t2}));
    p.send("c1", "n1", json!({"type": "txn", "txn": [["r", 1, null]]}));
    let early = p.drain(std::time::Duration::from_millis(50));
    assert!(early.is_empty(), "replied without the thunk: {early:?}");
    let misses = p.kv.log.iter().filter(|(_, k)| k == "\"n2-x-1\"").count();
    assert!(misses >= 1, "{:?}", p.kv.log);
    p.kv.set("n2-x-1", json!([1, 2]));
    let r = p.expect(|m| m["body"]["type"] == "txn_ok");
    assert_eq!(r["body"]["txn"], json!([["r", 1, [1, 2]]]));

    // A lost cas race: the transaction starts over from the current root.
    // Read-only transactions read the root each time but never cas; thunks
    // come from the cache once read.
    p.kv.stale
        .insert(json!("txn-root").to_string(), json!({"2": t2}));
    let r = txn(&mut p, json!([["append", 1, 3], ["r", 1, null]]));
    assert_eq!(
        r["txn"],
        json!([["append", 1, 3], ["r", 1, [1, 2, 3]]]),
        "{r}"
    );
    let cas = p.kv.log.iter().filter(|(t, _)| t == "cas").count();
    assert_eq!(cas, 3, "one cas lost, then retried: {:?}", p.kv.log);
    let before = p.kv.log.len();
    let r = txn(
        &mut p,
        json!([["r", 1, null], ["r", 2, null], ["r", 9, null]]),
    );
    assert_eq!(
        r["txn"],
        json!([["r", 1, [1, 2, 3]], ["r", 2, 5], ["r", 9, null]])
    );
    let root_key = json!("txn-root").to_string();
    assert_eq!(p.kv.log[before..], [("read".to_owned(), root_key)]);
}

#[test]
fn the_stale_cache_never_sees_another_nodes_writes() {
    let mut p = Proc::start(STALE_CACHE, "n1", &["n1", "n2"]);
    let r = txn(&mut p, json!([["append", 1, 1]]));
    assert_eq!(r["type"], "txn_ok", "{r}");
    // Another node's write reaches lin-kv; this node reads its own copy.
    p.kv.set("txn-root", json!({"1": [1, 2, 3]}));
    let r = txn(&mut p, json!([["r", 1, null]]));
    assert_eq!(r["txn"], json!([["r", 1, [1]]]));
}
