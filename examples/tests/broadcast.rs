mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Proc;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_node-broadcast");
const NO_RETRY: &str = env!("CARGO_BIN_EXE_broken-broadcast-no-retry");
const IDS: &[&str] = &["n1", "n2", "n3"];

fn read(p: &mut Proc) -> BTreeSet<i64> {
    let reply = p.call("c1", "n1", json!({"type": "read"}));
    assert_eq!(reply["body"]["type"], "read_ok");
    reply["body"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn broadcast(p: &mut Proc, message: i64) {
    let reply = p.call("c1", "n1", json!({"type": "broadcast", "message": message}));
    assert_eq!(reply["body"]["type"], "broadcast_ok");
}

fn topology(p: &mut Proc) {
    let t = json!({"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2"]});
    let reply = p.call("c1", "n1", json!({"type": "topology", "topology": t}));
    assert_eq!(reply["body"]["type"], "topology_ok");
}

fn carries(m: &Value, to: &str, message: i64) -> bool {
    m["dest"] == to
        && m["body"]["type"] == "gossip"
        && m["body"]["messages"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(message)))
}

/// Answers the start-up `sync` requests with nothing.
fn sync_empty(p: &mut Proc) {
    for peer in ["n2", "n3"] {
        let sync = p.expect(|m| m["dest"] == peer && m["body"]["type"] == "sync");
        p.send(
            peer,
            "n1",
            json!({"type": "sync_ok", "messages": [], "in_reply_to": sync["body"]["msg_id"]}),
        );
        p.expect(|m| m["dest"] == peer && m["body"]["type"] == "gossip_ok");
    }
}

#[test]
fn a_started_node_catches_up_from_its_peers() {
    let mut p = Proc::start(BIN, "n1", IDS);
    let sync = p.expect(|m| m["dest"] == "n2" && m["body"]["type"] == "sync");
    let sync_ok = p.send(
        "n2",
        "n1",
        json!({"type": "sync_ok", "messages": [100, 101], "in_reply_to": sync["body"]["msg_id"]}),
    );
    let ack = p.expect(|m| m["dest"] == "n2" && m["body"]["type"] == "gossip_ok");
    assert_eq!(ack["body"]["in_reply_to"], sync_ok);
    assert_eq!(read(&mut p), BTreeSet::from([100, 101]));
    // n3 got them too (no topology yet: everyone is a neighbour), n2 did not.
    p.expect(|m| carries(m, "n3", 100) && carries(m, "n3", 101));
    // n3 never answered its sync: it is asked again.
    p.expect(|m| m["dest"] == "n3" && m["body"]["type"] == "sync");
    let all = p.drain(Duration::from_millis(500));
    assert!(
        !all.iter()
            .any(|m| m["dest"] == "n2" && m["body"]["type"] == "gossip"),
        "{all:?}"
    );
}

#[test]
fn gossip_is_retried_until_acknowledged() {
    let mut p = Proc::start(BIN, "n1", IDS);
    sync_empty(&mut p);
    topology(&mut p);
    broadcast(&mut p, 5);
    let first = p.expect(|m| carries(m, "n2", 5));
    // Not acknowledged: sent again (a partition ate it).
    let again = p.expect(|m| carries(m, "n2", 5));
    assert_ne!(first["body"]["msg_id"], again["body"]["msg_id"]);
    p.send(
        "n2",
        "n1",
        json!({"type": "gossip_ok", "in_reply_to": again["body"]["msg_id"]}),
    );
    // Acknowledged: no more, and n3 is no neighbour of n1.
    let later = p.drain(Duration::from_millis(1200));
    let resent: Vec<_> = later
        .iter()
        .filter(|m| m["body"]["type"] == "gossip")
        .collect();
    assert!(resent.is_empty(), "{resent:?}");
    assert_eq!(read(&mut p), BTreeSet::from([5]));
}

#[test]
fn gossip_received_is_acknowledged_and_kept() {
    let mut p = Proc::start(BIN, "n1", IDS);
    sync_empty(&mut p);
    let t = json!({"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]});
    p.call("c1", "n1", json!({"type": "topology", "topology": t}));
    let id = p.send("n2", "n1", json!({"type": "gossip", "messages": [7, 8]}));
    let ack = p.expect(|m| m["dest"] == "n2" && m["body"]["in_reply_to"] == id);
    assert_eq!(ack["body"]["type"], "gossip_ok");
    // Passed on to n3, never back to n2, which has them.
    let fwd = p.expect(|m| carries(m, "n3", 7));
    p.send(
        "n3",
        "n1",
        json!({"type": "gossip_ok", "in_reply_to": fwd["body"]["msg_id"]}),
    );
    let later = p.drain(Duration::from_millis(800));
    assert!(
        !later
            .iter()
            .any(|m| m["dest"] == "n2" && m["body"]["type"] == "gossip"),
        "{later:?}"
    );
    assert_eq!(read(&mut p), BTreeSet::from([7, 8]));
    // A duplicate gossip is acknowledged and changes nothing.
    p.call("n2", "n1", json!({"type": "gossip", "messages": [8]}));
    assert_eq!(read(&mut p), BTreeSet::from([7, 8]));
}

#[test]
fn a_sync_request_gets_everything_and_is_retried_until_acknowledged() {
    let mut p = Proc::start(BIN, "n1", IDS);
    sync_empty(&mut p);
    topology(&mut p);
    broadcast(&mut p, 1);
    broadcast(&mut p, 2);
    let g = p.expect(|m| carries(m, "n2", 2));
    p.send(
        "n2",
        "n1",
        json!({"type": "gossip_ok", "in_reply_to": g["body"]["msg_id"]}),
    );
    let g = p.expect(|m| carries(m, "n2", 1));
    p.send(
        "n2",
        "n1",
        json!({"type": "gossip_ok", "in_reply_to": g["body"]["msg_id"]}),
    );
    // n2 restarts and asks for everything.
    let reply = p.call("n2", "n1", json!({"type": "sync"}));
    assert_eq!(reply["body"]["type"], "sync_ok");
    assert_eq!(reply["body"]["messages"], json!([1, 2]));
    // Its sync_ok was "lost": n1 gossips everything to n2 again.
    p.expect(|m| carries(m, "n2", 1) && carries(m, "n2", 2));
}

#[test]
fn broken_broadcast_never_retries() {
    let mut p = Proc::start(NO_RETRY, "n1", IDS);
    topology(&mut p);
    broadcast(&mut p, 9);
    let sent = p.drain(Duration::from_millis(1500));
    let gossip: Vec<_> = sent
        .iter()
        .filter(|m| m["body"]["type"] == "gossip")
        .collect();
    assert_eq!(gossip.len(), 1, "{gossip:?}");
    assert_eq!(gossip[0]["dest"], "n2");
    assert_eq!(read(&mut p), BTreeSet::from([9]));
}
