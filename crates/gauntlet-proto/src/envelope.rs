use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// A message with a fully parsed body, for code that reads bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub src: String,
    pub dest: String,
    pub body: Value,
}

impl Envelope {
    pub fn body_type(&self) -> Option<&str> {
        self.body.get("type").and_then(Value::as_str)
    }
    pub fn msg_id(&self) -> Option<u64> {
        self.body.get("msg_id").and_then(Value::as_u64)
    }
    pub fn in_reply_to(&self) -> Option<u64> {
        self.body.get("in_reply_to").and_then(Value::as_u64)
    }
}

/// A message whose body is left unparsed: what the router reads from a node's
/// stdout. Routing needs only `src` and `dest`, so node-to-node bodies are
/// never parsed, which keeps the router's cost per message small.
///
/// The top level is closed like Maelstrom's schema: a key other than `id`,
/// `src`, `dest` and `body` is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvelope<'a> {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(borrow)]
    pub src: Cow<'a, str>,
    #[serde(borrow)]
    pub dest: Cow<'a, str>,
    #[serde(borrow)]
    pub body: &'a RawValue,
}

/// Why a line is not a message.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a JSON message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("body is not a JSON object")]
    BodyNotObject,
}

impl<'a> RawEnvelope<'a> {
    /// Parses one line as printed by a node.
    ///
    /// The body is checked to be well-formed JSON and an object, not read:
    /// a body that `serde_json::Value` cannot hold (a number beyond `f64`
    /// such as `1E400`, nesting deeper than 128 levels, a lone UTF-16
    /// surrogate escape such as `"\ud800"`) is accepted and
    /// routed, as JSON allows it; [`RawEnvelope::body_value`] then fails
    /// with a typed error.
    pub fn parse(line: &'a str) -> Result<RawEnvelope<'a>, EnvelopeError> {
        let env: RawEnvelope = serde_json::from_str(line)?;
        if !env.body.get().starts_with('{') {
            return Err(EnvelopeError::BodyNotObject);
        }
        Ok(env)
    }

    /// Parses the body, for messages whose body the harness must read. Fails
    /// on a number beyond `f64` or nesting deeper than 128 levels, which
    /// [`RawEnvelope::parse`] lets through.
    pub fn body_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.body.get())
    }
}

/// The body's `type`, read from a raw body without parsing all of it.
pub fn body_type(body: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Peek>(body.get())
        .ok()
        .and_then(|p| p.kind.map(Cow::into_owned))
}

/// The body's `msg_id`, read from a raw body.
pub fn body_msg_id(body: &RawValue) -> Option<u64> {
    #[derive(Deserialize)]
    struct Peek {
        msg_id: Option<u64>,
    }
    serde_json::from_str::<Peek>(body.get())
        .ok()
        .and_then(|p| p.msg_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_message_and_keeps_the_body_raw() {
        let line = r#"{"src":"n1","dest":"c2","body":{"type":"echo_ok","in_reply_to":1,"echo":"hi \"x\""}}"#;
        let env = RawEnvelope::parse(line).unwrap();
        assert_eq!(env.src, "n1");
        assert_eq!(env.dest, "c2");
        assert_eq!(body_type(env.body).as_deref(), Some("echo_ok"));
        assert_eq!(env.body_value().unwrap()["echo"], "hi \"x\"");
    }

    #[test]
    fn escaped_ids_still_parse() {
        let env = RawEnvelope::parse(r#"{"src":"n\u0031","dest":"c1","body":{}}"#).unwrap();
        assert_eq!(env.src, "n1");
    }

    #[test]
    fn extra_top_level_keys_are_rejected() {
        let err =
            RawEnvelope::parse(r#"{"src":"n1","dest":"c1","body":{},"extra":1}"#).unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
    }

    /// Found by fuzzing (fuzz/, target `envelope`): a well-formed body with a
    /// number past `f64` (or nested past 128 levels) is routed, since the
    /// router never reads bodies; reading it is a typed error, never a
    /// panic, and what can be peeked still is.
    #[test]
    fn a_body_too_big_to_read_is_routed_and_reading_it_is_an_error() {
        let line = r#"{"src":"n0","dest":"n1","body":{"type":"broadcast","message":1234567E89012345678079,"msg_id":null,"msg_id":null}}"#;
        let env = RawEnvelope::parse(line).unwrap();
        assert_eq!(body_type(env.body).as_deref(), Some("broadcast"));
        assert_eq!(body_msg_id(env.body), None, "a duplicate key is no msg_id");
        let e = env.body_value().unwrap_err();
        assert!(e.to_string().contains("number out of range"), "{e}");
        assert!(serde_json::from_str::<Envelope>(line).is_err());

        let deep = format!(
            r#"{{"src":"n0","dest":"n1","body":{{"a":{}1{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let env = RawEnvelope::parse(&deep).unwrap();
        let e = env.body_value().unwrap_err();
        assert!(e.to_string().contains("recursion limit exceeded"), "{e}");

        // Found by fuzzing too: a lone UTF-16 surrogate escape passes the
        // router's well-formedness check but is no string `Value` holds.
        let lone = r#"{"src":"n0","dest":"n1","body":{"type":"echo","echo":"\ud800"}}"#;
        let env = RawEnvelope::parse(lone).unwrap();
        assert_eq!(body_type(env.body).as_deref(), Some("echo"));
        let e = env.body_value().unwrap_err();
        assert!(e.to_string().contains("hex escape"), "{e}");
    }

    #[test]
    fn garbage_and_non_object_bodies_are_rejected() {
        assert!(RawEnvelope::parse("hello").is_err());
        assert!(RawEnvelope::parse(r#"{"src":"n1","dest":"c1"}"#).is_err());
        assert!(matches!(
            RawEnvelope::parse(r#"{"src":"n1","dest":"c1","body":3}"#),
            Err(EnvelopeError::BodyNotObject)
        ));
    }
}
