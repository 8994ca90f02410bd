mod common;

use std::collections::HashSet;

use common::Proc;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_node-unique-ids");

fn generate(p: &mut Proc, n: usize, seen: &mut HashSet<String>) {
    for _ in 0..n {
        let reply = p.call("c1", "n1", json!({"type": "generate"}));
        assert_eq!(reply["body"]["type"], "generate_ok");
        let id = reply["body"]["id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "duplicate id {id}");
    }
}

#[test]
fn ids_are_unique_across_nodes_and_restarts() {
    let mut seen = HashSet::new();
    for _life in 0..3 {
        let mut p = Proc::start(BIN, "n1", &["n1", "n2"]);
        generate(&mut p, 50, &mut seen);
    }
    let mut other = Proc::start(BIN, "n2", &["n1", "n2"]);
    let reply = other.call("c1", "n2", json!({"type": "generate"}));
    assert!(seen.insert(reply["body"]["id"].as_str().unwrap().to_owned()));
    assert_eq!(seen.len(), 151);
}
