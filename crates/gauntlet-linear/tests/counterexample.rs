//! Counterexamples name what could not be linearized, in the JSON result,
//! in the plain text and in the timeline.

use gauntlet_check::Validity;
use gauntlet_history::read_jsonl_str;
use gauntlet_linear::{CasRegister, Options, check, model_by_name};
use serde_json::json;

/// write 1 completes; then a cas 1→2 completes; then a read returns 1,
/// which no order allows; a concurrent write 3 cannot save it. The
/// longest prefix takes the write 3 too (three ok ops beat two).
const STALE_READ: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time":10,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time":20,"process":1,"type":"invoke","f":"cas","value":[1,2]}
{"index":3,"time":30,"process":1,"type":"ok","f":"cas","value":[1,2]}
{"index":4,"time":40,"process":2,"type":"invoke","f":"write","value":3}
{"index":5,"time":45,"process":0,"type":"invoke","f":"read","value":null}
{"index":6,"time":50,"process":0,"type":"ok","f":"read","value":1}
{"index":7,"time":60,"process":2,"type":"ok","f":"write","value":3}"#;

#[test]
fn the_stale_read_is_named() {
    let h = read_jsonl_str("stale.jsonl", STALE_READ).unwrap();
    let a = check(&CasRegister, &h, &Options::default()).unwrap();
    assert_eq!(a.valid, Validity::Invalid);
    let cx = &a.failures[0];
    // The prefix: the write, the cas and the concurrent write, in order.
    assert_eq!(cx.linearization, vec![0, 1, 2]);
    assert_eq!(cx.states, vec!["3"]);
    assert_eq!(cx.blocking.index, 5);
    assert_eq!(cx.blocking.completion_index, Some(6));
    assert_eq!(cx.blocking.op, "read → 1");
    let stuck: Vec<(&str, &str)> = cx
        .stuck
        .iter()
        .map(|s| (s.op.op.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        stuck,
        vec![("read → 1", "cannot happen when the state is 3")]
    );

    let text = a.explain();
    for needle in [
        "Not linearizable (cas-register model",
        "1. p0 write 1 [0→1]",
        "2. p1 cas 1→2 [2→3]",
        "3. p2 write 3 [4→7]",
        "⇒ 2",
        "After it the state is 3.",
        "p0's read → 1 completes at index 6",
        "- p0 read → 1 [5→6]: cannot happen when the state is 3",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    let r = serde_json::to_value(a.result()).unwrap();
    assert_eq!(r["valid"], json!(false));
    assert_eq!(r["checker"], json!("linearizable"));
    assert_eq!(r["model"], json!("cas-register"));
    assert_eq!(r["op-count"], json!(4));
    let ev = &r["evidence"][0];
    assert_eq!(ev["problem"], json!("not linearizable"));
    assert_eq!(ev["linearized-count"], json!(3));
    assert_eq!(ev["blocking"]["index"], json!(5));
    assert_eq!(ev["blocking"]["op"], json!("read → 1"));
    assert_eq!(ev["stuck"][0]["op"], json!("read → 1"));
    assert_eq!(
        ev["stuck"][0]["reason"],
        json!("cannot happen when the state is 3")
    );
    assert_eq!(ev["linearized-tail"][1]["state-after"], json!("2"));
    assert!(r.get("invalid-keys").is_none());

    let t = a.timeline(&h).unwrap();
    let tj = serde_json::to_value(&t).unwrap();
    assert_eq!(tj["ops"].as_array().unwrap().len(), 4);
    assert_eq!(
        tj["ops"][3],
        json!({"id": 3, "process": 0, "key": null, "f": "read", "type": "ok",
               "value": null, "result": 1, "invoke-index": 5, "invoke-time": 45,
               "return-index": 6, "return-time": 50})
    );
    assert_eq!(tj["failures"][0]["linearization"], json!([0, 1, 2]));
    assert_eq!(tj["failures"][0]["blocking"], json!(3));
    assert_eq!(tj["failures"][0]["stuck"], json!([3]));
}

#[test]
fn info_ops_have_no_return_on_the_timeline() {
    let text = r#"{"index":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"process":0,"type":"info","f":"write","value":1}
{"index":2,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"process":1,"type":"ok","f":"read","value":1}
{"index":4,"process":2,"type":"invoke","f":"write","value":2}"#;
    let h = read_jsonl_str("h", text).unwrap();
    let a = check(&CasRegister, &h, &Options::default()).unwrap();
    // The info write may have happened: the read of 1 is explained.
    assert_eq!(a.valid, Validity::Valid);
    assert_eq!(a.counts.info, 1);
    assert_eq!(a.counts.open, 1);
    let t = serde_json::to_value(a.timeline(&h).unwrap()).unwrap();
    assert_eq!(t["ops"][0]["type"], json!("info"));
    assert_eq!(t["ops"][0]["return-index"], json!(null));
    assert_eq!(t["ops"][2]["type"], json!("info"));
    assert_eq!(t["ops"][2]["return-time"], json!(null));
    assert_eq!(t["failures"], json!([]));
}

#[test]
fn keyed_counterexamples_name_the_key() {
    let text = r#"{"index":0,"process":0,"type":"invoke","f":"put","key":"a","value":"x"}
{"index":1,"process":0,"type":"ok","f":"put","key":"a","value":"x"}
{"index":2,"process":1,"type":"invoke","f":"append","key":"b","value":"y"}
{"index":3,"process":1,"type":"ok","f":"append","key":"b","value":"y"}
{"index":4,"process":0,"type":"invoke","f":"get","key":"b","value":null}
{"index":5,"process":0,"type":"ok","f":"get","key":"b","value":"yy"}
{"index":6,"process":1,"type":"invoke","f":"get","key":"a","value":null}
{"index":7,"process":1,"type":"ok","f":"get","key":"a","value":"x"}"#;
    let h = read_jsonl_str("h", text).unwrap();
    for split in [true, false] {
        let a = model_by_name("kv")
            .unwrap()
            .check_history(
                &h,
                &Options {
                    split,
                    ..Options::default()
                },
            )
            .unwrap();
        assert_eq!(a.valid, Validity::Invalid);
        let cx = &a.failures[0];
        assert!(
            cx.blocking.op.ends_with("get \"b\" → \"yy\""),
            "{}",
            cx.blocking.op
        );
        if split {
            assert_eq!(cx.key, Some(json!("b")));
            let r = serde_json::to_value(a.result()).unwrap();
            assert_eq!(r["invalid-keys"], json!(["b"]));
            assert!(a.explain().contains("key \"b\""), "{}", a.explain());
        } else {
            assert_eq!(cx.key, None);
        }
    }
}
