mod common;

use std::time::Duration;

use common::Proc;
use serde_json::json;

#[test]
fn broken_echo_wrong_answers_with_a_different_value() {
    let mut p = Proc::start(env!("CARGO_BIN_EXE_broken-echo-wrong"), "n1", &["n1"]);
    for echo in [json!("Please echo 42"), json!("abba"), json!(17)] {
        let reply = p.call("c1", "n1", json!({"type": "echo", "echo": echo}));
        assert_eq!(reply["body"]["type"], "echo_ok");
        assert_ne!(reply["body"]["echo"], echo);
    }
}

#[test]
fn broken_garbage_echoes_correctly_but_prints_junk_and_writes_to_n999() {
    let mut p = Proc::start(env!("CARGO_BIN_EXE_broken-garbage"), "n1", &["n1", "n2"]);
    for i in 0..6 {
        let reply = p.call("c1", "n1", json!({"type": "echo", "echo": i}));
        assert_eq!(reply["body"]["echo"], i);
    }
    let to_n999 = p.drain(Duration::from_millis(100));
    assert_eq!(
        to_n999.iter().filter(|m| m["dest"] == "n999").count(),
        2,
        "{to_n999:?}"
    );
    assert_eq!(p.garbage.len(), 2, "{:?}", p.garbage);
    assert!(
        p.garbage
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
    );
}
