//! Malformed histories give typed errors naming the op; a deadline gives
//! `unknown`, never `valid`; nothing to check gives `unknown`.

use std::time::{Duration, Instant};

use gauntlet_check::Validity;
use gauntlet_history::{Op, read_jsonl_str};
use gauntlet_linear::generate::{GenConfig, generate};
use gauntlet_linear::{CasRegister, Kv, LinearError, Options, check, model_by_name};
use serde_json::json;

fn history(text: &str) -> Vec<Op> {
    read_jsonl_str("h.jsonl", text).unwrap()
}

#[test]
fn completion_without_invoke_names_the_op() {
    let h = history(
        r#"{"index":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"process":1,"type":"ok","f":"read","value":1}"#,
    );
    let err = check(&CasRegister, &h, &Options::default()).unwrap_err();
    assert!(
        matches!(
            err,
            LinearError::CompletionWithoutInvoke {
                index: 2,
                process: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.index(), Some(2));
    assert!(err.to_string().starts_with("op 2:"), "{err}");
}

#[test]
fn second_invoke_while_open_names_both_ops() {
    let h = history(
        r#"{"index":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"process":1,"type":"invoke","f":"read","value":null}
{"index":2,"process":0,"type":"invoke","f":"write","value":2}"#,
    );
    let err = check(&CasRegister, &h, &Options::default()).unwrap_err();
    assert_eq!(
        err,
        LinearError::InvokeWhileOpen {
            index: 2,
            process: 0,
            f: "write".into(),
            open_index: 0
        }
    );
}

#[test]
fn f_mismatch_names_the_completion() {
    let h = history(
        r#"{"index":0,"process":3,"type":"invoke","f":"write","value":1}
{"index":1,"process":3,"type":"ok","f":"read","value":1}"#,
    );
    let err = check(&CasRegister, &h, &Options::default()).unwrap_err();
    assert!(
        matches!(&err, LinearError::FMismatch { index: 1, invoke_index: 0, expected, found }
            if expected == "write" && found == "read"),
        "{err:?}"
    );
}

#[test]
fn key_mismatch_names_the_completion() {
    let h = history(
        r#"{"index":0,"process":3,"type":"invoke","f":"put","key":"a","value":"x"}
{"index":1,"process":3,"type":"ok","f":"put","key":"b","value":"x"}"#,
    );
    let err = check(&Kv, &h, &Options::default()).unwrap_err();
    assert!(
        matches!(err, LinearError::KeyMismatch { index: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn values_a_model_cannot_read_are_errors() {
    // An unknown f, on the invoke.
    let h = history(
        r#"{"index":0,"process":0,"type":"invoke","f":"delete","value":null}
{"index":1,"process":0,"type":"ok","f":"delete","value":null}"#,
    );
    let err = check(&CasRegister, &h, &Options::default()).unwrap_err();
    assert!(matches!(&err, LinearError::BadOp { index: 0, model, .. } if model == "cas-register"));
    assert!(err.to_string().contains("unknown f \"delete\""), "{err}");
    // A cas without [from, to].
    let h = history(
        r#"{"index":0,"process":0,"type":"invoke","f":"cas","value":3}
{"index":1,"process":0,"type":"ok","f":"cas","value":3}"#,
    );
    let err = check(&CasRegister, &h, &Options::default()).unwrap_err();
    assert_eq!(err.index(), Some(0), "{err}");
    // A bad read result: the completion is named.
    let h = history(
        r#"{"index":5,"process":0,"type":"invoke","f":"read","value":null}
{"index":6,"process":0,"type":"ok","f":"read","value":"three"}"#,
    );
    let err = model_by_name("counter")
        .unwrap()
        .check_history(&h, &Options::default())
        .unwrap_err();
    assert_eq!(err.index(), Some(6), "{err}");
    let h = history(
        r#"{"index":0,"process":0,"type":"invoke","f":"get","key":"k","value":null}
{"index":1,"process":0,"type":"ok","f":"get","key":"k","value":7}"#,
    );
    let err = check(&Kv, &h, &Options::default()).unwrap_err();
    assert_eq!(err.index(), Some(1), "{err}");
}

#[test]
fn of_several_errors_the_earliest_is_reported() {
    // Two keys, both with a bad op; whatever thread finds which first, the
    // error names the earlier op.
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!(
            "{{\"index\":{},\"process\":{i},\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k{i}\",\"value\":\"v\"}}\n",
            i
        ));
    }
    text.push_str(r#"{"index":50,"process":0,"type":"ok","f":"put","key":"k0","value":"v"}"#);
    text.push('\n');
    text.push_str(r#"{"index":51,"process":60,"type":"invoke","f":"frob","key":"k9","value":1}"#);
    text.push('\n');
    text.push_str(r#"{"index":52,"process":61,"type":"invoke","f":"frob","key":"k3","value":1}"#);
    let h = history(&text);
    for _ in 0..5 {
        let err = check(&Kv, &h, &Options::default()).unwrap_err();
        assert_eq!(err.index(), Some(51), "{err}");
    }
}

#[test]
fn nemesis_ops_are_ignored_and_fails_dropped() {
    let h = history(
        r#"{"index":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"process":"nemesis","type":"info","f":"partition","value":{"n1":["n2"]}}
{"index":2,"process":0,"type":"ok","f":"write","value":1}
{"index":3,"process":1,"type":"invoke","f":"cas","value":[2,3]}
{"index":4,"process":1,"type":"fail","f":"cas","value":[2,3]}
{"index":5,"process":1,"type":"invoke","f":"read","value":null}
{"index":6,"process":1,"type":"ok","f":"read","value":1}"#,
    );
    let a = check(&CasRegister, &h, &Options::default()).unwrap();
    assert_eq!(a.valid, Validity::Valid);
    assert_eq!(a.counts.nemesis, 1);
    assert_eq!(a.counts.fail, 1);
}

#[test]
fn nothing_completed_is_unknown() {
    let h = history(
        r#"{"index":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"process":0,"type":"info","f":"write","value":1}"#,
    );
    let a = check(&CasRegister, &h, &Options::default()).unwrap();
    assert_eq!(a.valid, Validity::Unknown);
    let r = serde_json::to_value(a.result()).unwrap();
    assert_eq!(r["valid"], json!("unknown"));
    assert!(
        r["evidence"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("nothing to check")
    );
    let a = check(&CasRegister, &[], &Options::default()).unwrap();
    assert_eq!(a.valid, Validity::Unknown);
}

/// A history too hard to finish by the deadline: one kv key, 50 clients.
fn hard_history() -> Vec<Op> {
    generate(&GenConfig::new("kv", 50, 20_000, 0, 1))
}

#[test]
fn a_passed_deadline_is_unknown_never_valid() {
    let h = generate(&GenConfig::new("cas-register", 5, 2_000, 20, 3));
    // Already passed: nothing is decided.
    let options = Options {
        deadline: Some(Instant::now()),
        ..Options::default()
    };
    let a = check(&CasRegister, &h, &options).unwrap();
    assert_eq!(a.valid, Validity::Unknown);
    assert_eq!(a.undecided_keys.len(), 20);
    let r = serde_json::to_value(a.result()).unwrap();
    assert_eq!(r["valid"], json!("unknown"));
    assert_eq!(r["undecided-count"], json!(20));
    assert_eq!(r["undecided-keys"].as_array().unwrap().len(), 20);
    assert!(a.explain().starts_with("Unknown"), "{}", a.explain());
    // Without a deadline the same history is valid.
    assert_eq!(
        check(&CasRegister, &h, &Options::default()).unwrap().valid,
        Validity::Valid
    );
}

#[test]
fn a_deadline_stops_a_long_search() {
    let h = hard_history();
    let start = Instant::now();
    let a = check(&Kv, &h, &Options::with_timeout(Duration::from_millis(300))).unwrap();
    assert_eq!(a.valid, Validity::Unknown);
    assert_eq!(a.undecided_keys, vec![serde_json::Value::Null]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
