//! Reading request bodies and building reply bodies.

use std::fmt::Write as _;

use gauntlet_proto::ErrorCode;
use serde_json::{Map, Value};

/// The parts of a request body that every service reads.
pub(crate) struct Request<'a> {
    /// The request's `msg_id`, verbatim (Maelstrom echoes whatever it got).
    msg_id: Option<&'a Value>,
    /// The body's `type`.
    pub kind: &'a str,
    /// The whole body, for the fields a service reads.
    pub body: &'a Map<String, Value>,
}

impl<'a> Request<'a> {
    /// Reads a request body.
    ///
    /// `Err(None)` means the body is itself a reply (`type` is `error` or ends
    /// in `_ok`) and is dropped: answering a stray reply could start an
    /// endless error ping-pong with a node that answers everything.
    /// `Err(Some(reply))` is an error reply ready to send.
    pub fn parse(body: &'a Value) -> Result<Request<'a>, Option<Value>> {
        let Some(map) = body.as_object() else {
            return Err(Some(finish(
                None,
                malformed("the request body is not a JSON object"),
            )));
        };
        let msg_id = map.get("msg_id").filter(|v| !v.is_null());
        let kind = match map.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            Some(other) => {
                return Err(Some(finish(
                    msg_id,
                    malformed(format!("field `type` must be a string, got {other}")),
                )));
            }
            None => {
                return Err(Some(finish(
                    msg_id,
                    malformed("the request has no `type` field"),
                )));
            }
        };
        if kind == "error" || kind.ends_with("_ok") {
            return Err(None);
        }
        Ok(Request {
            msg_id,
            kind,
            body: map,
        })
    }

    /// A required field; missing is error 12 naming it. JSON `null` is a
    /// value like any other (Maelstrom keys and values may be null).
    pub fn field(&self, name: &str) -> Result<&'a Value, Value> {
        self.body.get(name).ok_or_else(|| {
            malformed(format!(
                "{} request is missing field `{name}`",
                quoted(self.kind)
            ))
        })
    }

    /// An optional boolean flag: absent or `null` is false; any other
    /// non-boolean is error 12.
    pub fn flag(&self, name: &str) -> Result<bool, Value> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(malformed(format!(
                "field `{name}` must be a boolean, got {other}"
            ))),
        }
    }

    /// Error 10 for a `type` the service does not serve.
    pub fn not_supported(&self, service: &str, serves: &str) -> Value {
        ErrorCode::NOT_SUPPORTED.reply(
            None,
            format!(
                "{service} does not support requests of type {}; it serves {serves}",
                quoted(self.kind)
            ),
        )
    }

    /// Sets the reply's `in_reply_to` to this request's `msg_id` (null when it had none).
    pub fn finish(&self, reply: Value) -> Value {
        finish(self.msg_id, reply)
    }
}

fn finish(msg_id: Option<&Value>, mut reply: Value) -> Value {
    if let Value::Object(map) = &mut reply {
        map.insert(
            "in_reply_to".to_owned(),
            msg_id.cloned().unwrap_or(Value::Null),
        );
    }
    reply
}

fn malformed(text: impl Into<String>) -> Value {
    ErrorCode::MALFORMED_REQUEST.reply(None, text)
}

/// A string as a JSON literal, for error texts.
fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// A reply body of the given type with no other fields yet.
pub(crate) fn ok(kind: &str) -> Value {
    let mut map = Map::new();
    map.insert("type".to_owned(), Value::String(kind.to_owned()));
    Value::Object(map)
}

/// A JSON value as a map key.
///
/// Two keys are equal exactly when their JSON values are equal the way
/// `serde_json::Value`'s `==` (and Clojure's `=`) has it: structurally, with
/// object members in any order, and with integers and floats distinct
/// (`1` and `1.0` are different keys). The key is the value's compact JSON
/// text with object members sorted, so it hashes without `Value: Hash`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key(Box<str>);

impl Key {
    pub fn of(value: &Value) -> Key {
        let mut out = String::new();
        canonical(value, &mut out);
        Key(out.into_boxed_str())
    }
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            // Display of a scalar Value is its compact JSON text.
            let _ = write!(out, "{value}");
        }
        Value::Number(n) => {
            if n.is_f64() && n.as_f64() == Some(0.0) {
                // -0.0 == 0.0 for Value's `==`; keep the key in step.
                out.push_str("0.0");
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quoted(name));
                out.push(':');
                canonical(item, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_structural() {
        assert_eq!(
            Key::of(&json!({"a": 1, "b": [1, "x"]})),
            Key::of(&json!({"b": [1, "x"], "a": 1}))
        );
        assert_ne!(Key::of(&json!(1)), Key::of(&json!(1.0)));
        assert_ne!(Key::of(&json!(1)), Key::of(&json!("1")));
        assert_ne!(Key::of(&json!(["a,b"])), Key::of(&json!(["a", "b"])));
        assert_ne!(Key::of(&json!(null)), Key::of(&json!("null")));
        assert_eq!(Key::of(&json!("q\"uote")), Key::of(&json!("q\"uote")));
    }

    #[test]
    fn key_equality_agrees_with_value_equality() {
        let samples = [
            json!(null),
            json!(true),
            json!(0),
            json!(-0.0),
            json!(0.0),
            json!(1),
            json!(1.0),
            json!(-1),
            json!(u64::MAX),
            json!(1.5),
            json!(""),
            json!("1"),
            json!([]),
            json!({}),
            json!([1, [2]]),
            json!({"a": {"b": null}}),
            serde_json::from_str("-0").unwrap(),
            serde_json::from_str("-0.0").unwrap(),
            serde_json::from_str("1e0").unwrap(),
            serde_json::from_str("100").unwrap(),
            serde_json::from_str("1e2").unwrap(),
        ];
        for a in &samples {
            for b in &samples {
                assert_eq!(a == b, Key::of(a) == Key::of(b), "{a} vs {b}");
            }
        }
    }
}
