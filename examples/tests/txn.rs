//! The transaction nodes against a stand-in lin-kv: the correct transactor
//! starts over when it loses the `cas` race; the stale cache never reads
//! back what another node wrote. (`gauntlet test` runs them end to end in
//! crates/gauntlet/tests/txn.rs.)

mod common;

use common::Proc;
use serde_json::{Value, json};

const SINGLE_KEY: &str = env!("CARGO_BIN_EXE_node-txn-single-key");
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
