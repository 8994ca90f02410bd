mod common;

use common::Proc;
use serde_json::json;

const PROXY: &str = env!("CARGO_BIN_EXE_node-lin-kv-proxy");
const CACHE: &str = env!("CARGO_BIN_EXE_broken-lin-kv-cache");

fn scenario(bin: &str) -> (Proc, serde_json::Value) {
    let mut p = Proc::start(bin, "n1", &["n1", "n2"]);
    let r = p.call("c1", "n1", json!({"type": "read", "key": 0}));
    assert_eq!(r["body"]["type"], "error");
    assert_eq!(r["body"]["code"], 20);
    let r = p.call("c1", "n1", json!({"type": "write", "key": 0, "value": 3}));
    assert_eq!(
        r["body"],
        json!({"type": "write_ok", "in_reply_to": r["body"]["in_reply_to"], "msg_id": r["body"]["msg_id"]})
    );
    let r = p.call(
        "c1",
        "n1",
        json!({"type": "cas", "key": 0, "from": 1, "to": 2}),
    );
    assert_eq!(r["body"]["code"], 22);
    let r = p.call(
        "c1",
        "n1",
        json!({"type": "cas", "key": 0, "from": 3, "to": 4}),
    );
    assert_eq!(r["body"]["type"], "cas_ok");
    let r = p.call("c1", "n1", json!({"type": "read", "key": 0}));
    assert_eq!(r["body"]["value"], 4);
    // Another node writes the key through the service.
    p.kv.data.insert("0".into(), json!(1));
    let r = p.call("c1", "n1", json!({"type": "read", "key": 0}));
    (p, r["body"]["value"].clone())
}

#[test]
fn proxy_passes_requests_and_errors_through() {
    let (_, after_other_write) = scenario(PROXY);
    assert_eq!(after_other_write, 1);
}

#[test]
fn cache_serves_its_own_stale_write() {
    let (_, after_other_write) = scenario(CACHE);
    assert_eq!(
        after_other_write, 4,
        "the broken cache should miss the other node's write"
    );
}
