//! The key-value wire API shared by `lin-kv`, `seq-kv` and `lww-kv`: parsing
//! a request into an operation, and what an operation does to one key.

use gauntlet_proto::ErrorCode;
use serde_json::Value;

use crate::wire::{Request, ok};

/// The request types the KV services serve, for error texts.
const KV_TYPES: &str = "read, write and cas";

/// One KV operation; it borrows its fields from the request body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KvOp<'a> {
    Read {
        key: &'a Value,
    },
    Write {
        key: &'a Value,
        value: &'a Value,
    },
    Cas {
        key: &'a Value,
        from: &'a Value,
        to: &'a Value,
        create_if_not_exists: bool,
    },
}

impl<'a> KvOp<'a> {
    /// Reads the operation; the error is a reply (10 for an unknown type,
    /// 12 for a missing field).
    pub fn parse(req: &Request<'a>, service: &str) -> Result<KvOp<'a>, Value> {
        match req.kind {
            "read" => Ok(KvOp::Read {
                key: req.field("key")?,
            }),
            "write" => Ok(KvOp::Write {
                key: req.field("key")?,
                value: req.field("value")?,
            }),
            "cas" => Ok(KvOp::Cas {
                key: req.field("key")?,
                from: req.field("from")?,
                to: req.field("to")?,
                create_if_not_exists: req.flag("create_if_not_exists")?,
            }),
            _ => Err(req.not_supported(service, KV_TYPES)),
        }
    }

    pub fn key(&self) -> &'a Value {
        match self {
            KvOp::Read { key } | KvOp::Write { key, .. } | KvOp::Cas { key, .. } => key,
        }
    }
}

/// What an operation does to its key, given the key's current value.
pub(crate) struct Outcome<'a> {
    /// The reply body, without `in_reply_to`.
    pub reply: Value,
    /// The value the operation stores, if it stores one (possibly equal to
    /// the current value).
    pub write: Option<&'a Value>,
}

impl Outcome<'_> {
    /// Whether applying the outcome changes a key whose value is `current`.
    pub fn changes(&self, current: Option<&Value>) -> bool {
        self.write.is_some_and(|w| current != Some(w))
    }
}

/// Evaluates `op` against its key's `current` value (`None`: the key does
/// not exist). With `allow_create` false (lww-kv), `create_if_not_exists`
/// is ignored and a missing key is error 20.
pub(crate) fn eval<'a>(op: &KvOp<'a>, current: Option<&Value>, allow_create: bool) -> Outcome<'a> {
    match *op {
        KvOp::Read { .. } => Outcome {
            reply: match current {
                Some(value) => {
                    let mut reply = ok("read_ok");
                    reply["value"] = value.clone();
                    reply
                }
                None => missing(""),
            },
            write: None,
        },
        KvOp::Write { value, .. } => Outcome {
            reply: ok("write_ok"),
            write: Some(value),
        },
        KvOp::Cas {
            from,
            to,
            create_if_not_exists,
            ..
        } => match current {
            Some(cur) if cur == from => Outcome {
                reply: ok("cas_ok"),
                write: Some(to),
            },
            Some(cur) => Outcome {
                reply: ErrorCode::PRECONDITION_FAILED
                    .reply(None, format!("current value {cur} is not {from}")),
                write: None,
            },
            None if create_if_not_exists && allow_create => Outcome {
                reply: ok("cas_ok"),
                write: Some(to),
            },
            None if create_if_not_exists => Outcome {
                reply: missing(" (this service does not support create_if_not_exists)"),
                write: None,
            },
            None => Outcome {
                reply: missing(""),
                write: None,
            },
        },
    }
}

fn missing(note: &str) -> Value {
    ErrorCode::KEY_DOES_NOT_EXIST.reply(None, format!("key does not exist{note}"))
}
