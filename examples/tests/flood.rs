mod common;

use std::time::Duration;

use common::Proc;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_node-flood");

#[test]
fn flood_injects_tokens_and_forwards_each_token_once() {
    let mut p = Proc::start(BIN, "n1", &["n1", "n2", "n3"]);
    let reply = p.call("c1", "n1", json!({"type": "flood", "tokens": 50}));
    assert_eq!(reply["body"]["type"], "flood_ok");
    let tokens = p.drain(Duration::from_millis(300));
    assert_eq!(tokens.len(), 50, "{tokens:?}");
    for t in &tokens {
        assert_eq!(t["src"], "n1");
        assert_eq!(t["body"], json!({"type": "token"}));
        assert!(t["dest"] == "n2" || t["dest"] == "n3", "{t}");
    }
    // Both peers get some: the choice is pseudo-random, not fixed.
    assert!(tokens.iter().any(|t| t["dest"] == "n2") && tokens.iter().any(|t| t["dest"] == "n3"));

    // Each received token goes straight back out, whatever its formatting.
    p.write_line(r#"{"id":7,"src":"n2","dest":"n1","body":{"type":"token"}}"#);
    p.write_line(r#"{"src":"n3","dest":"n1","body":{ "type" : "token" }}"#);
    let out = p.drain(Duration::from_millis(300));
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out.iter()
            .all(|t| t["body"]["type"] == "token" && t["dest"] != "n1")
    );

    let reply = p.call("c1", "n1", json!({"type": "echo", "echo": 1}));
    assert_eq!(reply["body"]["code"], 10);
    assert!(p.garbage.is_empty());
}

#[test]
fn a_lone_flood_node_drops_its_tokens() {
    let mut p = Proc::start(BIN, "n1", &["n1"]);
    let reply = p.call("c1", "n1", json!({"type": "flood", "tokens": 5}));
    assert_eq!(reply["body"]["type"], "flood_ok");
    assert!(p.drain(Duration::from_millis(200)).is_empty());
}

#[test]
fn a_firehose_floods_the_other_nodes_and_stops_reading() {
    let mut p = Proc::start(BIN, "n1", &["n1", "n2", "n3"]);
    let reply = p.call("c1", "n1", json!({"type": "firehose"}));
    assert_eq!(reply["body"]["type"], "firehose_ok");
    // It never stops on its own: read a good many tokens.
    for _ in 0..10_000 {
        let Some(common::Line::Msg(t)) = p.next_line(Duration::from_secs(5)) else {
            panic!("the firehose ran dry or printed garbage: {:?}", p.garbage);
        };
        assert_eq!(t["src"], "n1");
        assert_eq!(t["body"], json!({"type": "token"}));
        assert!(t["dest"] == "n2" || t["dest"] == "n3", "{t}");
    }
}
