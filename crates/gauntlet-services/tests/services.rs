//! Black-box tests of the built-in services through `service(name, seed)`.

use gauntlet_services::{SERVICE_NAMES, SeqKv, Service, service};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

const KV_NAMES: [&str; 3] = ["lin-kv", "seq-kv", "lww-kv"];

fn svc(name: &str, seed: u64) -> Box<dyn Service> {
    service(name, seed).unwrap_or_else(|| panic!("no service {name}"))
}

fn call(s: &mut dyn Service, src: &str, body: Value) -> Value {
    s.handle(src, &body)
        .unwrap_or_else(|| panic!("no reply to {body}"))
}

fn code(reply: &Value) -> Option<u64> {
    (reply["type"] == "error").then(|| reply["code"].as_u64().unwrap())
}

#[test]
fn every_name_builds_and_others_do_not() {
    for name in SERVICE_NAMES {
        assert!(service(name, 0).is_some(), "{name}");
    }
    assert!(service("lin-kv ", 0).is_none());
    assert!(service("kv", 0).is_none());
    assert!(service("", 0).is_none());
}

// ---------------------------------------------------------------- lin-kv

#[test]
fn lin_kv_read_write_cas() {
    let mut kv = svc("lin-kv", 0);
    let kv = kv.as_mut();
    let r = call(kv, "n1", json!({"type": "read", "key": "x", "msg_id": 1}));
    assert_eq!(
        r,
        json!({"type": "error", "code": 20, "text": "key does not exist", "in_reply_to": 1})
    );
    let r = call(
        kv,
        "n1",
        json!({"type": "write", "key": "x", "value": 1, "msg_id": 2}),
    );
    assert_eq!(r, json!({"type": "write_ok", "in_reply_to": 2}));
    let r = call(kv, "n2", json!({"type": "read", "key": "x", "msg_id": 3}));
    assert_eq!(r, json!({"type": "read_ok", "value": 1, "in_reply_to": 3}));

    // cas success
    let r = call(
        kv,
        "n2",
        json!({"type": "cas", "key": "x", "from": 1, "to": 2, "msg_id": 4}),
    );
    assert_eq!(r, json!({"type": "cas_ok", "in_reply_to": 4}));
    assert_eq!(
        call(kv, "n1", json!({"type": "read", "key": "x"}))["value"],
        2
    );

    // cas mismatch
    let r = call(
        kv,
        "n2",
        json!({"type": "cas", "key": "x", "from": 1, "to": 3, "msg_id": 5}),
    );
    assert_eq!(
        r,
        json!({"type": "error", "code": 22, "text": "current value 2 is not 1", "in_reply_to": 5})
    );
    assert_eq!(
        call(kv, "n1", json!({"type": "read", "key": "x"}))["value"],
        2
    );

    // cas on a missing key
    let r = call(
        kv,
        "n2",
        json!({"type": "cas", "key": "y", "from": 1, "to": 3, "msg_id": 6}),
    );
    assert_eq!(code(&r), Some(20));
    assert_eq!(
        code(&call(kv, "n1", json!({"type": "read", "key": "y"}))),
        Some(20)
    );

    // cas with create_if_not_exists creates a missing key with `to` ...
    let body = json!({"type": "cas", "key": "y", "from": 1, "to": 3, "create_if_not_exists": true});
    assert_eq!(call(kv, "n2", body.clone())["type"], "cas_ok");
    assert_eq!(
        call(kv, "n1", json!({"type": "read", "key": "y"}))["value"],
        3
    );
    // ... and is a plain cas on an existing one.
    let r = call(kv, "n2", body);
    assert_eq!(code(&r), Some(22));
    assert_eq!(r["text"], "current value 3 is not 1");
    let body =
        json!({"type": "cas", "key": "y", "from": 3, "to": 4, "create_if_not_exists": false});
    assert_eq!(call(kv, "n2", body)["type"], "cas_ok");
    let body = json!({"type": "cas", "key": "z", "from": 3, "to": 4, "create_if_not_exists": null});
    assert_eq!(code(&call(kv, "n2", body)), Some(20));
}

#[test]
fn kv_keys_and_values_are_any_json_compared_structurally() {
    for name in ["lin-kv", "seq-kv"] {
        let mut kv = svc(name, 3);
        let kv = kv.as_mut();
        let key = json!({"a": [1, {"b": null}], "c": "d"});
        let same_key: Value = serde_json::from_str(r#"{"c":"d","a":[1,{"b":null}]}"#).unwrap();
        let value = json!([1, "two", {"three": 3.5}, null]);
        call(
            kv,
            "n1",
            json!({"type": "write", "key": key, "value": value}),
        );
        let r = call(kv, "n1", json!({"type": "read", "key": same_key}));
        assert_eq!(r["value"], value, "{name}");
        let r = call(
            kv,
            "n1",
            json!({"type": "cas", "key": same_key, "from": value, "to": null}),
        );
        assert_eq!(r["type"], "cas_ok", "{name}");
        let r = call(kv, "n1", json!({"type": "read", "key": key}));
        assert_eq!(
            r,
            json!({"type": "read_ok", "value": null, "in_reply_to": null}),
            "{name}"
        );

        // null is a key like any other; 1 and 1.0 are different keys and values.
        call(kv, "n1", json!({"type": "write", "key": null, "value": 1}));
        assert_eq!(
            call(kv, "n1", json!({"type": "read", "key": null}))["value"],
            1
        );
        assert_eq!(
            code(&call(kv, "n1", json!({"type": "read", "key": 1.0}))),
            Some(20)
        );
        call(kv, "n1", json!({"type": "write", "key": 1, "value": 1}));
        assert_eq!(
            code(&call(kv, "n1", json!({"type": "read", "key": 1.0}))),
            Some(20)
        );
        let r = call(
            kv,
            "n1",
            json!({"type": "cas", "key": 1, "from": 1.0, "to": 2}),
        );
        assert_eq!(r["text"], "current value 1 is not 1.0", "{name}");
        let r = call(
            kv,
            "n1",
            json!({"type": "cas", "key": "1", "from": 1, "to": 2}),
        );
        assert_eq!(code(&r), Some(20), "{name}: \"1\" is not 1");
    }
}

#[test]
fn lin_kv_matches_a_map_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut kv = svc("lin-kv", 0);
    let mut model = std::collections::HashMap::<i64, i64>::new();
    for i in 0..5000 {
        let key = rng.random_range(0..4i64);
        let (a, b) = (rng.random_range(0..3i64), rng.random_range(0..3i64));
        let create = rng.random_bool(0.2);
        let (body, expected) = match rng.random_range(0..3) {
            0 => (
                json!({"type": "read", "key": key, "msg_id": i}),
                match model.get(&key) {
                    Some(v) => json!({"type": "read_ok", "value": v, "in_reply_to": i}),
                    None => {
                        json!({"type": "error", "code": 20, "text": "key does not exist", "in_reply_to": i})
                    }
                },
            ),
            1 => {
                model.insert(key, a);
                (
                    json!({"type": "write", "key": key, "value": a, "msg_id": i}),
                    json!({"type": "write_ok", "in_reply_to": i}),
                )
            }
            _ => {
                let body = json!({"type": "cas", "key": key, "from": a, "to": b, "create_if_not_exists": create, "msg_id": i});
                let expected = match model.get(&key).copied() {
                    Some(v) if v == a => {
                        model.insert(key, b);
                        json!({"type": "cas_ok", "in_reply_to": i})
                    }
                    Some(v) => {
                        json!({"type": "error", "code": 22, "text": format!("current value {v} is not {a}"), "in_reply_to": i})
                    }
                    None if create => {
                        model.insert(key, b);
                        json!({"type": "cas_ok", "in_reply_to": i})
                    }
                    None => {
                        json!({"type": "error", "code": 20, "text": "key does not exist", "in_reply_to": i})
                    }
                };
                (body, expected)
            }
        };
        assert_eq!(call(kv.as_mut(), "n1", body), expected);
    }
}

// ---------------------------------------------------------------- replies and bad input

#[test]
fn in_reply_to_echoes_msg_id_or_is_null_and_replies_have_no_msg_id() {
    for name in SERVICE_NAMES {
        let mut s = svc(name, 1);
        let kind = if name == "lin-tso" { "ts" } else { "read" };
        for (msg_id, expected) in [
            (json!(17), json!(17)),
            (json!(null), json!(null)),
            (json!(u64::MAX), json!(u64::MAX)),
        ] {
            let r = call(
                s.as_mut(),
                "n1",
                json!({"type": kind, "key": 1, "msg_id": msg_id}),
            );
            assert_eq!(r["in_reply_to"], expected, "{name}");
            assert!(r.get("msg_id").is_none(), "{name}: {r}");
        }
        let r = call(s.as_mut(), "n1", json!({"type": kind, "key": 1}));
        assert_eq!(r.get("in_reply_to"), Some(&Value::Null), "{name}");
        // Errors carry it too.
        let r = call(s.as_mut(), "n1", json!({"type": "nope", "msg_id": 3}));
        assert_eq!(r["in_reply_to"], 3, "{name}");
    }
}

#[test]
fn malformed_requests_get_error_12_naming_the_field() {
    let cases = [
        (json!({"type": "read"}), "`key`"),
        (json!({"type": "write", "value": 1}), "`key`"),
        (json!({"type": "write", "key": 1}), "`value`"),
        (json!({"type": "cas", "from": 1, "to": 2}), "`key`"),
        (json!({"type": "cas", "key": 1, "to": 2}), "`from`"),
        (json!({"type": "cas", "key": 1, "from": 2}), "`to`"),
        (json!({"type": "cas", "key": 1}), "`from`"),
        (
            json!({"type": "cas", "key": 1, "from": 1, "to": 2, "create_if_not_exists": "yes"}),
            "`create_if_not_exists`",
        ),
        (json!({"key": 1}), "`type`"),
        (json!({"type": 5, "key": 1}), "`type`"),
    ];
    for name in KV_NAMES {
        let mut kv = svc(name, 2);
        for (mut body, field) in cases.clone() {
            body["msg_id"] = json!(8);
            let r = call(kv.as_mut(), "n1", body.clone());
            assert_eq!(code(&r), Some(12), "{name} {body}: {r}");
            assert_eq!(r["in_reply_to"], 8, "{name} {body}");
            let text = r["text"].as_str().unwrap();
            assert!(text.contains(field), "{name} {body}: {text}");
        }
        // Nothing was stored by the malformed writes.
        assert_eq!(
            code(&call(kv.as_mut(), "n1", json!({"type": "read", "key": 1}))),
            Some(20)
        );
    }
    for name in SERVICE_NAMES {
        let mut s = svc(name, 2);
        for body in [json!(1), json!("read"), json!([1]), json!(null)] {
            let r = call(s.as_mut(), "n1", body.clone());
            assert_eq!(code(&r), Some(12), "{name} {body}");
            assert_eq!(r["in_reply_to"], Value::Null);
        }
        let r = call(s.as_mut(), "n1", json!({"msg_id": 2}));
        assert_eq!(code(&r), Some(12), "{name}");
        assert_eq!(r["in_reply_to"], 2);
    }
}

#[test]
fn unknown_types_get_error_10_naming_the_type() {
    for name in SERVICE_NAMES {
        let mut s = svc(name, 2);
        let other = if name == "lin-tso" { "read" } else { "ts" };
        for kind in ["frobnicate", other, "READ", ""] {
            let r = call(
                s.as_mut(),
                "n1",
                json!({"type": kind, "key": 1, "msg_id": 5}),
            );
            assert_eq!(code(&r), Some(10), "{name} {kind}");
            assert_eq!(r["in_reply_to"], 5);
            let text = r["text"].as_str().unwrap();
            assert!(text.contains(&format!("\"{kind}\"")), "{text}");
            assert!(text.contains(name), "{text}");
        }
    }
}

#[test]
fn stray_replies_get_no_answer() {
    for name in SERVICE_NAMES {
        let mut s = svc(name, 2);
        for body in [
            json!({"type": "read_ok", "value": 1, "in_reply_to": 3}),
            json!({"type": "error", "code": 13, "in_reply_to": 3}),
            json!({"type": "init_ok"}),
        ] {
            assert_eq!(s.handle("n1", &body), None, "{name} {body}");
        }
    }
}

// ---------------------------------------------------------------- lin-tso

#[test]
fn lin_tso_counts_from_zero_across_clients() {
    let mut tso = svc("lin-tso", 0);
    for i in 0..1000u64 {
        let src = format!("n{}", i % 5);
        let r = call(tso.as_mut(), &src, json!({"type": "ts", "msg_id": i + 1}));
        assert_eq!(r, json!({"type": "ts_ok", "ts": i, "in_reply_to": i + 1}));
    }
    // Errors do not consume a timestamp.
    call(tso.as_mut(), "n1", json!({"type": "read"}));
    assert_eq!(call(tso.as_mut(), "n1", json!({"type": "ts"}))["ts"], 1000);
}

// ---------------------------------------------------------------- seq-kv

/// Drives a register workload on one service and checks that what every
/// client observes fits one total order of states that respects each
/// client's own order: sequential consistency.
///
/// Every successful write and cas stores a fresh value, larger than all
/// before it, so each one is exactly one new state and the test knows the
/// state order. A read (or the current value in a cas error) of value `v`
/// means the client observed some state from the one that wrote `v` up to
/// (excluding) the next write of that key; a client's observed state must
/// never go back. Returns how many observations were stale (older than the
/// newest state at the time).
fn check_sequential(
    s: &mut dyn Service,
    seed: u64,
    clients: usize,
    keys: i64,
    ops: usize,
) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    // Per key, (state, value) for each successful mutation, in order.
    let mut log: Vec<Vec<(u64, i64)>> = vec![Vec::new(); keys as usize];
    let mut states = 0u64;
    let mut fresh = 0i64;
    // Per client: the lowest state it can be at, and the values it saw.
    let mut at = vec![0u64; clients];
    let mut last_seen: Vec<Vec<i64>> = vec![vec![0; keys as usize]; clients];
    let mut stale = 0;

    // The states in which `key` holds `value` (0 = missing): [lo, hi).
    let interval = |log: &[Vec<(u64, i64)>], key: usize, value: i64| -> (u64, u64) {
        let versions = &log[key];
        let pos = if value == 0 {
            None
        } else {
            Some(
                versions
                    .iter()
                    .position(|&(_, v)| v == value)
                    .expect("value never written"),
            )
        };
        let lo = pos.map_or(0, |p| versions[p].0);
        let next = pos.map_or(0, |p| p + 1);
        let hi = versions.get(next).map_or(u64::MAX, |&(s, _)| s);
        (lo, hi)
    };

    for _ in 0..ops {
        let c = rng.random_range(0..clients);
        let src = format!("n{c}");
        let key = rng.random_range(0..keys);
        let k = key as usize;
        let observed: Option<i64> = match rng.random_range(0..4) {
            0 | 1 => {
                let r = call(s, &src, json!({"type": "read", "key": key}));
                match code(&r) {
                    None => Some(r["value"].as_i64().unwrap()),
                    Some(20) => Some(0),
                    other => panic!("read: {other:?} {r}"),
                }
            }
            2 => {
                fresh += 1;
                let r = call(
                    s,
                    &src,
                    json!({"type": "write", "key": key, "value": fresh}),
                );
                assert_eq!(r["type"], "write_ok");
                states += 1;
                log[k].push((states, fresh));
                assert!(states >= at[c]);
                at[c] = states;
                last_seen[c][k] = fresh;
                None
            }
            _ => {
                // cas from the value this client last saw (or a random older one)
                let from = if rng.random_bool(0.7) {
                    last_seen[c][k]
                } else {
                    rng.random_range(0..=fresh)
                };
                fresh += 1;
                let create = rng.random_bool(0.3);
                let r = call(
                    s,
                    &src,
                    json!({"type": "cas", "key": key, "from": from, "to": fresh, "create_if_not_exists": create}),
                );
                match code(&r) {
                    None => {
                        states += 1;
                        log[k].push((states, fresh));
                        at[c] = states;
                        last_seen[c][k] = fresh;
                        None
                    }
                    Some(20) => Some(0),
                    Some(22) => {
                        let text = r["text"].as_str().unwrap();
                        let current = text
                            .strip_prefix("current value ")
                            .and_then(|t| t.split(" is not ").next())
                            .unwrap();
                        Some(current.parse().unwrap())
                    }
                    other => panic!("cas: {other:?} {r}"),
                }
            }
        };
        if let Some(value) = observed {
            let (lo, hi) = interval(&log, k, value);
            assert!(
                hi > at[c],
                "seed {seed}: client {c} went back in time: saw key {key} = {value} (states {lo}..{hi}) after state {}",
                at[c]
            );
            at[c] = at[c].max(lo);
            last_seen[c][k] = value;
            if hi != u64::MAX {
                stale += 1;
            }
        }
    }
    stale
}

#[test]
fn seq_kv_is_sequentially_consistent_and_sometimes_stale() {
    let mut stale = 0;
    for seed in 0..200 {
        let mut kv = svc("seq-kv", seed);
        stale += check_sequential(kv.as_mut(), seed, 4, 3, 300);
    }
    assert!(
        stale > 100,
        "seq-kv never served a stale value: it is secretly linearizable"
    );
}

#[test]
fn lin_kv_and_one_state_seq_kv_are_never_stale() {
    for seed in 0..50 {
        let mut kv = svc("lin-kv", seed);
        assert_eq!(check_sequential(kv.as_mut(), seed, 4, 3, 300), 0);
        let mut kv = SeqKv::with_history(seed, 1);
        assert_eq!(check_sequential(&mut kv, seed, 4, 3, 300), 0);
    }
}

#[test]
fn seq_kv_reads_are_monotonic_per_client() {
    // One writer counting up, two readers: what each reader sees never
    // decreases, and the writer always reads its own latest write.
    for seed in 0..100 {
        let mut kv = svc("seq-kv", seed);
        let kv = kv.as_mut();
        let mut last = [0i64; 2];
        for i in 1..=200i64 {
            call(kv, "n0", json!({"type": "write", "key": "x", "value": i}));
            assert_eq!(
                call(kv, "n0", json!({"type": "read", "key": "x"}))["value"],
                i
            );
            for (r, seen) in last.iter_mut().enumerate() {
                let reply = call(
                    kv,
                    &format!("n{}", r + 1),
                    json!({"type": "read", "key": "x"}),
                );
                let v = reply["value"].as_i64().unwrap_or(0);
                assert!(v >= *seen, "seed {seed}: reader {r} saw {v} after {seen}");
                *seen = v;
            }
        }
    }
}

#[test]
fn seq_kv_readers_catch_up_with_the_newest_write() {
    // Maelstrom issue #47: the newest state must be reachable.
    let mut worst = 0;
    for seed in 0..300 {
        let mut kv = svc("seq-kv", seed);
        let kv = kv.as_mut();
        // The reader has seen an old state and then every state but the newest.
        call(kv, "n2", json!({"type": "read", "key": "x"}));
        for i in 1..=10 {
            call(kv, "n1", json!({"type": "write", "key": "x", "value": i}));
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let r = call(kv, "n2", json!({"type": "read", "key": "x"}));
            if r["value"] == 10 {
                break;
            }
            assert!(tries < 100, "seed {seed}: reader stuck at {r}");
        }
        worst = worst.max(tries);
        // Once seen, the newest value sticks.
        for _ in 0..10 {
            assert_eq!(
                call(kv, "n2", json!({"type": "read", "key": "x"}))["value"],
                10
            );
        }
    }
    assert!(worst > 1, "reads were never stale");
}

#[test]
fn seq_kv_reader_far_behind_jumps_into_the_kept_history() {
    for seed in 0..50 {
        let mut kv = svc("seq-kv", seed);
        let kv = kv.as_mut();
        call(kv, "n2", json!({"type": "read", "key": "x"}));
        for i in 1..=100 {
            call(kv, "n1", json!({"type": "write", "key": "x", "value": i}));
        }
        // 32 states are kept: 69..=100 (state i holds value i).
        let v = call(kv, "n2", json!({"type": "read", "key": "x"}))["value"]
            .as_i64()
            .unwrap();
        assert!((69..=100).contains(&v), "seed {seed}: {v}");
    }
}

#[test]
fn seq_kv_stale_identity_cas_may_succeed() {
    // Maelstrom issue #39: legal under sequential consistency.
    let succeeded = (0..100).any(|seed| {
        let mut kv = svc("seq-kv", seed);
        let kv = kv.as_mut();
        call(kv, "n1", json!({"type": "write", "key": "x", "value": 1}));
        call(kv, "n1", json!({"type": "write", "key": "x", "value": 2}));
        // n2 has observed nothing yet, so it may land on the state where x = 1.
        call(
            kv,
            "n2",
            json!({"type": "cas", "key": "x", "from": 1, "to": 1}),
        )["type"]
            == "cas_ok"
    });
    assert!(succeeded);
}

#[test]
fn seq_kv_retried_cas_from_the_newest_value_succeeds() {
    // A stale state may fail the cas (legal), but each failure moves the
    // client forward, so retrying reaches the newest state and succeeds.
    let mut failed = 0;
    for seed in 0..50 {
        let mut kv = svc("seq-kv", seed);
        let kv = kv.as_mut();
        for i in 0..50 {
            call(
                kv,
                &format!("n{}", i % 3),
                json!({"type": "write", "key": "x", "value": i}),
            );
            let mut tries = 0;
            loop {
                let r = call(
                    kv,
                    "n9",
                    json!({"type": "cas", "key": "x", "from": i, "to": i + 1000}),
                );
                if r["type"] == "cas_ok" {
                    break;
                }
                assert!(matches!(code(&r), Some(20 | 22)), "seed {seed}: {r}");
                failed += 1;
                tries += 1;
                assert!(tries < 100, "seed {seed}: cas never succeeded");
            }
            // The cas moved the client to the newest state, which holds its value.
            assert_eq!(
                call(kv, "n9", json!({"type": "read", "key": "x"}))["value"],
                i + 1000
            );
        }
    }
    assert!(failed > 0, "no cas ever hit a stale state");
}

// ---------------------------------------------------------------- lww-kv

#[test]
fn lww_kv_retried_reads_find_a_write_and_sometimes_miss_it() {
    let mut missed = 0;
    for seed in 0..100 {
        let mut kv = svc("lww-kv", seed);
        let kv = kv.as_mut();
        call(kv, "n1", json!({"type": "write", "key": "k", "value": "v"}));
        let mut tries = 0;
        loop {
            tries += 1;
            let r = call(kv, "n2", json!({"type": "read", "key": "k"}));
            if r["value"] == "v" {
                break;
            }
            assert_eq!(code(&r), Some(20));
            missed += 1;
            assert!(tries < 100, "seed {seed}");
        }
    }
    assert!(
        missed > 0,
        "lww-kv never missed a write: it is secretly linearizable"
    );
}

#[test]
fn lww_kv_settles_on_one_value_once_writes_stop() {
    for seed in 0..100 {
        let mut kv = svc("lww-kv", seed);
        let kv = kv.as_mut();
        for i in 0..50 {
            call(
                kv,
                &format!("n{}", i % 3),
                json!({"type": "write", "key": "k", "value": i}),
            );
        }
        let reads: Vec<Value> = (0..200)
            .map(|_| call(kv, "n1", json!({"type": "read", "key": "k"}))["value"].clone())
            .collect();
        let settled = &reads[100];
        assert!(settled.is_i64());
        assert!(
            reads[100..].iter().all(|r| r == settled),
            "seed {seed}: {reads:?}"
        );
    }
}

#[test]
fn lww_kv_cas_has_no_create_if_not_exists() {
    for seed in 0..20 {
        let mut kv = svc("lww-kv", seed);
        let body =
            json!({"type": "cas", "key": "k", "from": 1, "to": 2, "create_if_not_exists": true});
        assert_eq!(code(&call(kv.as_mut(), "n1", body)), Some(20));
        for _ in 0..10 {
            assert_eq!(
                code(&call(
                    kv.as_mut(),
                    "n1",
                    json!({"type": "read", "key": "k"})
                )),
                Some(20)
            );
        }
    }
}

// ---------------------------------------------------------------- replay

#[test]
fn the_same_seed_replays_and_another_seed_differs() {
    let run = |name: &str, seed: u64| -> Vec<Value> {
        let mut s = svc(name, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        (0..500)
            .map(|i| {
                let key = rng.random_range(0..3);
                let body = if rng.random_bool(0.3) {
                    json!({"type": "write", "key": key, "value": i, "msg_id": i})
                } else {
                    json!({"type": "read", "key": key, "msg_id": i})
                };
                call(s.as_mut(), &format!("n{}", i % 4), body)
            })
            .collect()
    };
    for name in ["seq-kv", "lww-kv"] {
        assert_eq!(run(name, 5), run(name, 5), "{name}");
        assert_ne!(run(name, 5), run(name, 6), "{name}");
    }
}

#[test]
fn a_thousand_keys_stay_cheap() {
    // Per-op cost must not grow with the number of keys (no whole-map copies).
    for name in KV_NAMES {
        let mut kv = svc(name, 1);
        let start = std::time::Instant::now();
        for i in 0..60_000i64 {
            let key = i % 1000;
            let body = match i % 3 {
                0 => json!({"type": "write", "key": key, "value": i}),
                1 => json!({"type": "cas", "key": key, "from": i - 1, "to": i}),
                _ => json!({"type": "read", "key": key}),
            };
            call(kv.as_mut(), &format!("n{}", i % 5), body);
        }
        // Generous even for a debug build on a busy machine; a quadratic
        // store (copying 1000 keys per write) takes far longer.
        assert!(
            start.elapsed().as_secs() < 20,
            "{name}: {:?}",
            start.elapsed()
        );
    }
}
