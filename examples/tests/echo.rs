mod common;

use common::{Proc, WAIT};
use serde_json::{Value, json};

const ECHO: &str = env!("CARGO_BIN_EXE_node-echo");

#[test]
fn echo_replies_with_the_same_value() {
    let mut p = Proc::start(ECHO, "n1", &["n1", "n2"]);
    for echo in [
        json!("Please echo 42"),
        json!({"nested": [1, 2]}),
        json!(null),
    ] {
        let id = p.send("c7", "n1", json!({"type": "echo", "echo": echo}));
        let reply = p.expect(|m| m["dest"] == "c7");
        assert_eq!(reply["src"], "n1");
        assert_eq!(reply["body"]["type"], "echo_ok");
        assert_eq!(reply["body"]["in_reply_to"], id);
        assert_eq!(reply["body"]["echo"], echo);
        assert!(reply["body"]["msg_id"].is_u64());
    }
}

#[test]
fn echo_survives_bad_input_and_rejects_unknown_requests() {
    let mut p = Proc::start(ECHO, "n1", &["n1"]);
    p.write_line("this is not json");
    p.write_line(r#"{"src":"c1","dest":"n1","body":"not an object"}"#);
    let reply = p.call("c1", "n1", json!({"type": "frobnicate"}));
    assert_eq!(reply["body"]["type"], "error");
    assert_eq!(reply["body"]["code"], 10);
    let reply = p.call("c1", "n1", json!({"type": "echo", "echo": "still here"}));
    assert_eq!(reply["body"]["echo"], "still here");
    assert!(p.garbage.is_empty(), "{:?}", p.garbage);
}

#[test]
fn requests_before_init_get_a_temporary_error() {
    let mut p = Proc::spawn(ECHO);
    let reply = p.call("c1", "n3", json!({"type": "echo", "echo": 1}));
    assert_eq!(reply["src"], "n3");
    assert_eq!(reply["body"]["code"], 11);
    let init = p.call(
        "c1",
        "n3",
        json!({"type": "init", "node_id": "n3", "node_ids": ["n3"]}),
    );
    assert_eq!(init["body"]["type"], "init_ok");
    // Nothing else was printed.
    assert!(p.next_line(WAIT / 10).is_none());
    let _: Value = p.call("c1", "n3", json!({"type": "echo", "echo": 1}));
}
