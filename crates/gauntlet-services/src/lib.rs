//! Maelstrom's built-in services (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`)
//! as sans-IO request handlers.
//!
//! In a Maelstrom test, node programs can send RPCs to a few service nodes
//! that the harness itself provides. The simulated network delivers each
//! request addressed to a service to that service's [`Service::handle`] and
//! routes the returned body back to the sender. A service does no IO, reads
//! no clock and starts no thread; its random choices come from the seed it
//! was built with, so a run replays exactly.
//!
//! ```
//! use serde_json::json;
//!
//! let mut kv = gauntlet_services::service("lin-kv", 42).unwrap();
//! let reply = kv.handle("n1", &json!({"type": "write", "key": "x", "value": 1, "msg_id": 7}));
//! assert_eq!(reply, Some(json!({"type": "write_ok", "in_reply_to": 7})));
//! let reply = kv.handle("n2", &json!({"type": "cas", "key": "x", "from": 2, "to": 3, "msg_id": 1}));
//! assert_eq!(reply.unwrap()["code"], 22); // precondition-failed: the value is 1
//! ```
//!
//! # Wire API
//!
//! The KV services (`lin-kv`, `seq-kv`, `lww-kv`) serve:
//!
//! | request | reply |
//! | --- | --- |
//! | `{"type":"read","key":K}` | `{"type":"read_ok","value":V}`, or error 20 key-does-not-exist |
//! | `{"type":"write","key":K,"value":V}` | `{"type":"write_ok"}` |
//! | `{"type":"cas","key":K,"from":A,"to":B}` | `{"type":"cas_ok"}`; error 22 precondition-failed `current value X is not A` when the value differs; error 20 when the key is missing, unless `"create_if_not_exists":true`, which sets it to `B` (not on `lww-kv`) |
//!
//! `lin-tso` serves `{"type":"ts"}` → `{"type":"ts_ok","ts":N}`, N = 0, 1, 2, …
//!
//! Keys and values are any JSON, `null` included. Equality is structural
//! (object members in any order) and, as in Maelstrom (Clojure's `=`),
//! integers and floats differ: `1` and `1.0` are different keys, and a cas
//! from `1` fails on `1.0` with the text `current value 1.0 is not 1`.
//!
//! Every reply carries `in_reply_to`: the request's `msg_id`, echoed
//! verbatim, or `null` when the request had none. Replies have no `msg_id`
//! of their own. Errors are `{"type":"error","code":C,"text":…}` bodies.
//!
//! # Where this differs from Maelstrom, on purpose
//!
//! - **Unknown request types get an answer.** Maelstrom's service throws,
//!   logs "Error in service worker!" and sends nothing, so the caller waits
//!   until it times out. Here the reply is error 10 not-supported naming the
//!   type and what the service does serve.
//! - **Malformed requests get an answer.** A missing `key`, `value`, `from`
//!   or `to`, a missing or non-string `type`, a body that is not an object or
//!   a non-boolean `create_if_not_exists` is error 12 malformed-request naming
//!   the field. (Maelstrom would treat a missing field as `nil`.) A field
//!   that is present with the value `null` is fine.
//! - **Stray replies are dropped.** A body whose `type` is `error` or ends in
//!   `_ok` is a reply, not a request; [`Service::handle`] returns `None` for
//!   it rather than answering (which could ping-pong forever with a node that
//!   answers errors).
//! - **`seq-kv` can always catch up** (the fix for maelstrom#47); see
//!   [`SeqKv`].
//! - **`lww-kv` replicas converge**: Maelstrom throws its merge result away;
//!   see [`LwwKv`].

mod kv;
mod lin_kv;
mod lin_tso;
mod lww_kv;
mod seq_kv;
mod wire;

use serde_json::Value;

pub use lin_kv::LinKv;
pub use lin_tso::LinTso;
pub use lww_kv::{LWW_KV_REPLICAS, LwwKv};
pub use seq_kv::{SEQ_KV_HISTORY, SeqKv};

/// A built-in service: a state machine fed one request at a time.
pub trait Service: Send {
    /// Handles one request body from node `src`; returns the reply body
    /// (with `in_reply_to` set to the request's `msg_id`, no `msg_id` of
    /// its own), or `None` when no reply is due.
    ///
    /// No reply is due only when `body` is itself a reply (its `type` is
    /// `error` or ends in `_ok`). Every request, well-formed or not, gets an
    /// answer. `src` matters only to `seq-kv`, which tracks what each client
    /// has observed.
    fn handle(&mut self, src: &str, body: &Value) -> Option<Value>;
}

/// The node ids of the built-in services, as Maelstrom names them.
pub const SERVICE_NAMES: [&str; 4] = ["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// Builds a service by name; randomness (seq-kv's stale state choice, lww-kv's
/// replica choice) is drawn from `seed` so a run replays.
///
/// Returns `None` for a name not in [`SERVICE_NAMES`].
pub fn service(name: &str, seed: u64) -> Option<Box<dyn Service>> {
    Some(match name {
        "lin-kv" => Box::new(LinKv::new()),
        "seq-kv" => Box::new(SeqKv::new(seed)),
        "lww-kv" => Box::new(LwwKv::new(seed)),
        "lin-tso" => Box::new(LinTso::new()),
        _ => return None,
    })
}

/// The request handling shared by the KV services: parse, apply, reply.
fn handle_kv(
    body: &Value,
    service: &str,
    apply: impl FnOnce(kv::KvOp<'_>) -> Value,
) -> Option<Value> {
    let req = match wire::Request::parse(body) {
        Ok(req) => req,
        Err(reply) => return reply,
    };
    let reply = match kv::KvOp::parse(&req, service) {
        Ok(op) => apply(op),
        Err(error) => error,
    };
    Some(req.finish(reply))
}
