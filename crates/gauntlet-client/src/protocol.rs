//! The operation protocol of cluster tests, sans-IO.
//!
//! Gauntlet writes one line per operation, Jepsen's op without its
//! bookkeeping: `{"f":"write","key":"k3","value":4}`,
//! `{"f":"read","key":"k3"}`, `{"f":"cas","key":"k3","value":[1,4]}`, or
//! whatever `f` a workload uses. The client answers with one line:
//!
//! | answer | meaning |
//! |---|---|
//! | `{"type":"ok","value":…}` | it happened (`value`: what a read saw) |
//! | `{"type":"fail","error":…}` | it certainly did not happen |
//! | `{"type":"info","error":…}` | it may or may not have happened |
//!
//! Anything else — not JSON, another `type`, no answer within the time
//! limit, the client exiting — is `info` too (the op may have happened),
//! counted as a client [`Problem`], and the client is replaced before the
//! next op, as Jepsen replaces a crashed client with a fresh process.

use serde_json::{Map, Value};

use crate::CallError;

/// One request line for operation `f` on `key` with `value` (each left
/// out when `None`).
pub fn request(f: &str, key: Option<&Value>, value: Option<&Value>) -> String {
    let mut m = Map::new();
    m.insert("f".into(), Value::String(f.to_owned()));
    if let Some(k) = key {
        m.insert("key".into(), k.clone());
    }
    if let Some(v) = value {
        m.insert("value".into(), v.clone());
    }
    Value::Object(m).to_string()
}

/// The value an `ok` completion records: what the client answered when
/// it answered a value (a read's value, a transaction with its reads
/// filled in), else the invoke's own (a write's value, a cas's pair), as
/// Jepsen's clients return the op with its value completed.
pub fn completed_value(invoked: &Value, answered: &Value) -> Value {
    if answered.is_null() {
        invoked.clone()
    } else {
        answered.clone()
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok {
        value: Value,
    },
    Fail {
        error: Value,
    },
    /// Indeterminate; `problem` when the client misbehaved rather than
    /// said so.
    Info {
        error: Value,
        problem: Option<Problem>,
    },
}

impl Outcome {
    /// Whether the client must be replaced before its next op.
    pub fn replaces_client(&self) -> bool {
        matches!(
            self,
            Outcome::Info {
                problem: Some(_),
                ..
            }
        )
    }
}

/// How a client misbehaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Problem {
    /// Its line was not an answer (not JSON, not an object, another
    /// `type`).
    Garbage,
    /// No answer within the time limit.
    Hang,
    /// It exited, or its pipes broke.
    Crash,
}

impl Problem {
    pub fn name(self) -> &'static str {
        match self {
            Problem::Garbage => "garbage",
            Problem::Hang => "hang",
            Problem::Crash => "crash",
        }
    }
}

/// The outcome of one call: the client's answer, or what went wrong.
pub fn outcome(answer: Result<Value, CallError>) -> Outcome {
    let info = |problem: Problem, why: String| Outcome::Info {
        error: Value::String(why),
        problem: Some(problem),
    };
    let value = match answer {
        Ok(v) => v,
        Err(e @ CallError::Garbage { .. }) => return info(Problem::Garbage, e.to_string()),
        Err(e @ CallError::Timeout(_)) => return info(Problem::Hang, e.to_string()),
        Err(e @ (CallError::Exited | CallError::Io(_))) => {
            return info(Problem::Crash, e.to_string());
        }
    };
    let error = || value.get("error").cloned().unwrap_or(Value::Null);
    match value.get("type").and_then(Value::as_str) {
        Some("ok") => Outcome::Ok {
            value: value.get("value").cloned().unwrap_or(Value::Null),
        },
        Some("fail") => Outcome::Fail { error: error() },
        Some("info") => Outcome::Info {
            error: error(),
            problem: None,
        },
        _ => info(
            Problem::Garbage,
            format!("the answer {value} has no \"type\" of ok, fail or info"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn requests_leave_out_what_is_not_there() {
        assert_eq!(
            request("read", Some(&json!("k3")), None),
            r#"{"f":"read","key":"k3"}"#
        );
        assert_eq!(
            request("cas", Some(&json!("k3")), Some(&json!([1, 4]))),
            r#"{"f":"cas","key":"k3","value":[1,4]}"#
        );
    }

    #[test]
    fn completions_keep_the_invoke_value_unless_the_client_answered_one() {
        assert_eq!(completed_value(&json!(4), &Value::Null), json!(4));
        assert_eq!(completed_value(&Value::Null, &json!(3)), json!(3));
        assert_eq!(
            completed_value(&json!([["r", 1, null]]), &json!([["r", 1, [2]]])),
            json!([["r", 1, [2]]])
        );
    }

    #[test]
    fn answers_become_outcomes() {
        assert_eq!(
            outcome(Ok(json!({"type": "ok", "value": 3}))),
            Outcome::Ok { value: json!(3) }
        );
        assert_eq!(
            outcome(Ok(json!({"type": "ok"}))),
            Outcome::Ok { value: Value::Null }
        );
        assert_eq!(
            outcome(Ok(json!({"type": "fail", "error": "cas mismatch"}))),
            Outcome::Fail {
                error: json!("cas mismatch")
            }
        );
        let said = outcome(Ok(json!({"type": "info", "error": "timeout"})));
        assert_eq!(
            said,
            Outcome::Info {
                error: json!("timeout"),
                problem: None
            }
        );
        assert!(!said.replaces_client(), "a client that says info is fine");
    }

    #[test]
    fn misbehaviour_is_info_and_replaces_the_client() {
        for (answer, problem) in [
            (Ok(json!({"type": "maybe"})), Problem::Garbage),
            (Ok(json!([1, 2])), Problem::Garbage),
            (
                Err(CallError::Garbage {
                    line: "hello".into(),
                    error: "expected value".into(),
                }),
                Problem::Garbage,
            ),
            (
                Err(CallError::Timeout(Duration::from_secs(1))),
                Problem::Hang,
            ),
            (Err(CallError::Exited), Problem::Crash),
        ] {
            let o = outcome(answer);
            assert!(
                matches!(o, Outcome::Info { problem: Some(p), .. } if p == problem),
                "{o:?}"
            );
            assert!(o.replaces_client());
        }
    }
}
