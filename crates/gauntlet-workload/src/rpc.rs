use gauntlet_proto::ErrorCode;
use serde_json::{Value, json};

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It happened; the completion's value.
    Ok(Value),
    /// It certainly did not happen; the error.
    Fail(Value),
    /// It may or may not have happened; the error.
    Info(Value),
}

impl Outcome {
    /// Whether the operation may still be in flight: its process never
    /// completes another, so its client goes on as a new process
    /// (Jepsen's rule).
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Outcome::Info(_))
    }

    /// The history's completion of `invoke`: `ok` with the completed
    /// value; `fail` and `info` with the invoke's value and the error.
    pub fn completion(self, invoke: &gauntlet_history::Op) -> gauntlet_history::Op {
        use gauntlet_history::OpType;
        match self {
            Outcome::Ok(v) => invoke.complete(OpType::Ok, v),
            Outcome::Fail(e) => invoke
                .complete(OpType::Fail, invoke.value.clone())
                .with_error(e),
            Outcome::Info(e) => invoke
                .complete(OpType::Info, invoke.value.clone())
                .with_error(e),
        }
    }
}

/// The closed schema of an `*_ok` reply: its type and the keys it must carry.
/// `msg_id` and `in_reply_to` are always allowed; any other key is malformed,
/// as in Maelstrom.
#[derive(Debug, Clone, Copy)]
pub struct ReplySchema {
    pub ok_type: &'static str,
    pub fields: &'static [&'static str],
}

/// What the error rules of a workload are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorRule {
    /// Maelstrom's `with-errors`: definite errors, and any error of an
    /// idempotent op, are `fail`; the rest `info`.
    Definite { idempotent: bool },
    /// g-set and the counters: every error or timeout is indefinite.
    AlwaysInfo,
}

impl ReplySchema {
    /// Checks `reply` and, for an ok reply, returns its body.
    pub(crate) fn judge<'a>(
        &self,
        reply: &'a Value,
        rule: ErrorRule,
    ) -> Result<&'a serde_json::Map<String, Value>, Outcome> {
        let Some(body) = reply.as_object() else {
            return Err(Outcome::Info(malformed("reply body is not an object")));
        };
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "error" {
            return Err(error_outcome(body, rule));
        }
        if kind != self.ok_type {
            return Err(Outcome::Info(malformed(&format!(
                "expected a reply of type {:?}, got {kind:?}",
                self.ok_type
            ))));
        }
        for key in body.keys() {
            let allowed = matches!(key.as_str(), "type" | "msg_id" | "in_reply_to")
                || self.fields.contains(&key.as_str());
            if !allowed {
                return Err(Outcome::Info(malformed(&format!(
                    "unexpected key {key:?} in {}",
                    self.ok_type
                ))));
            }
        }
        if let Some(missing) = self.fields.iter().find(|f| !body.contains_key(**f)) {
            return Err(Outcome::Info(malformed(&format!(
                "{} lacks {missing:?}",
                self.ok_type
            ))));
        }
        Ok(body)
    }
}

pub(crate) fn malformed(why: &str) -> Value {
    json!(["malformed-response", why])
}

fn error_outcome(body: &serde_json::Map<String, Value>, rule: ErrorRule) -> Outcome {
    let code = ErrorCode(body.get("code").and_then(Value::as_u64).unwrap_or(13));
    let text = body.get("text").cloned().unwrap_or(Value::Null);
    let err = json!([code.name(), text]);
    match rule {
        ErrorRule::Definite { idempotent } if idempotent || code.is_definite() => {
            Outcome::Fail(err)
        }
        _ => Outcome::Info(err),
    }
}

pub(crate) fn timeout_outcome(rule: ErrorRule) -> Outcome {
    let err = json!("net-timeout");
    match rule {
        ErrorRule::Definite { idempotent: true } => Outcome::Fail(err),
        _ => Outcome::Info(err),
    }
}
