//! A small synchronous kit for writing Maelstrom nodes in Rust (std threads,
//! no async runtime).
//!
//! # Shape
//!
//! [`run`] owns the process's stdin and stdout:
//!
//! * a **reader thread** reads stdin, one JSON message per line. A message whose
//!   body has an `in_reply_to` that matches an [`Node::rpc`] still waiting is
//!   handed to that RPC; every other message goes to the event loop. Lines that
//!   are not messages are logged to stderr and skipped. No user code ever runs
//!   on the reader thread, so a waiting RPC can never block it.
//! * the **event loop** (the thread that called [`run`]) answers `init` itself
//!   (it records the node id and `node_ids`, builds your [`Handler`] and replies
//!   `init_ok`), then calls [`Handler::handle`] for each message, in arrival
//!   order, and [`Handler::tick`] every [`Handler::tick_interval`]. Handle and
//!   tick run on the same thread, so a handler's state needs no lock.
//! * **stdout** is one writer behind a mutex: every message is serialised first,
//!   then written as one line and flushed while the lock is held, so lines from
//!   several threads never interleave.
//!
//! [`Node`] is a cheap, cloneable handle: [`Node::send`], [`Node::reply`],
//! [`Node::reply_error`] and the blocking [`Node::rpc`] work from any thread.
//! Every message sent gets a fresh `msg_id`; replies get `in_reply_to`.
//!
//! # RPCs
//!
//! [`Node::rpc`] sends a request and blocks the calling thread until the reply
//! arrives or the timeout passes. An `error` body becomes
//! [`RpcError::Remote`] with its code. Calling it from `handle` is allowed (the
//! reader keeps running) but stalls the event loop for the round trip; a
//! handler that wants to serve other requests meanwhile moves the work to a
//! thread with [`Node::spawn`] and replies from there. [`Kv`] wraps the
//! `lin-kv` / `seq-kv` / `lww-kv` services' wire API.
//!
//! Replies that match no waiting RPC (late ones, after a timeout, or replies
//! to plain [`Node::send`]s) are delivered to the handler like any message.
//!
//! # Example
//!
//! ```no_run
//! use gauntlet_proto::Envelope;
//! use gauntlet_proto::node::{self, Node};
//! use serde_json::json;
//!
//! fn main() -> std::io::Result<()> {
//!     node::run(|_node: &Node| {
//!         |node: &Node, msg: Envelope| match msg.body_type() {
//!             Some("echo") => node.reply(&msg, json!({"type": "echo_ok", "echo": msg.body["echo"]})),
//!             _ => node.reply_unsupported(&msg),
//!         }
//!     })
//! }
//! ```

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::{Envelope, ErrorCode};

/// What a node does with the messages it gets.
///
/// Any `FnMut(&Node, Envelope)` closure is a handler without a timer.
pub trait Handler {
    /// Called for every message except `init` and replies taken by a waiting
    /// [`Node::rpc`]. Requests this handler does not know should get
    /// [`Node::reply_unsupported`]; unexpected replies can be ignored.
    fn handle(&mut self, node: &Node, msg: Envelope);

    /// Called every [`Handler::tick_interval`], on the same thread as `handle`.
    fn tick(&mut self, _node: &Node) {}

    /// How often to call [`Handler::tick`]; `None` (the default) for never.
    /// Read once, right after the handler is built.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }
}

impl<F: FnMut(&Node, Envelope)> Handler for F {
    fn handle(&mut self, node: &Node, msg: Envelope) {
        self(node, msg)
    }
}

/// Why an RPC did not return a reply body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcError {
    /// No reply within the timeout. Indefinite: the request may have been applied.
    #[error("timed out waiting for a reply")]
    Timeout,
    /// The peer replied with an `error` body.
    #[error("error {} ({}): {text}", code.0, code.name())]
    Remote { code: ErrorCode, text: String },
    /// The request body was not a JSON object, so it was not sent.
    #[error("request body is not a JSON object")]
    NotAnObject,
}

impl RpcError {
    /// The Maelstrom error code this stands for: a remote error keeps its
    /// code, a timeout is code 0 and a bad request code 12.
    pub fn code(&self) -> ErrorCode {
        match self {
            RpcError::Timeout => ErrorCode::TIMEOUT,
            RpcError::Remote { code, .. } => *code,
            RpcError::NotAnObject => ErrorCode::MALFORMED_REQUEST,
        }
    }

    /// An error body answering `req` with the same code, to pass an error on.
    pub fn to_reply(&self, req: &Envelope) -> Value {
        let text = match self {
            RpcError::Remote { text, .. } => text.clone(),
            other => other.to_string(),
        };
        self.code().reply(req.msg_id(), text)
    }
}

/// A handle on the running node; clone it freely (it is an `Arc`).
#[derive(Clone)]
pub struct Node {
    shared: Arc<Shared>,
}

struct Shared {
    id: OnceLock<String>,
    node_ids: OnceLock<Vec<String>>,
    next_msg_id: AtomicU64,
    pending: Mutex<HashMap<u64, SyncSender<Value>>>,
    out: Mutex<Box<dyn Write + Send>>,
}

#[derive(Serialize)]
struct Outgoing<'a> {
    src: &'a str,
    dest: &'a str,
    body: &'a Value,
}

/// Poisoning only means another thread panicked while it held the lock; the
/// data (a map of waiters, a writer) is still usable.
fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Node {
    /// A node that writes its messages to `out`. [`run`] makes one; tests can
    /// too, and then set its identity with [`Node::init`].
    pub fn new(out: Box<dyn Write + Send>) -> Node {
        Node {
            shared: Arc::new(Shared {
                id: OnceLock::new(),
                node_ids: OnceLock::new(),
                next_msg_id: AtomicU64::new(1),
                pending: Mutex::new(HashMap::new()),
                out: Mutex::new(out),
            }),
        }
    }

    /// Records the identity from an `init` body (`node_id`, `node_ids`).
    /// The first call wins; later ones are checked but change nothing.
    pub fn init(&self, body: &Value) -> Result<(), String> {
        let id = body
            .get("node_id")
            .and_then(Value::as_str)
            .ok_or("init without a string node_id")?;
        let ids: Vec<String> = body
            .get("node_ids")
            .and_then(Value::as_array)
            .ok_or("init without a node_ids array")?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("init with a non-string in node_ids")?;
        let _ = self.shared.id.set(id.to_owned());
        let _ = self.shared.node_ids.set(ids);
        if self.id() != id {
            return Err(format!(
                "second init as {id}, but this node is {}",
                self.id()
            ));
        }
        Ok(())
    }

    /// This node's id (`""` before `init`).
    pub fn id(&self) -> &str {
        self.shared.id.get().map_or("", String::as_str)
    }

    /// Every node's id, this one included, as `init` listed them.
    pub fn node_ids(&self) -> &[String] {
        self.shared.node_ids.get().map_or(&[], Vec::as_slice)
    }

    /// Every node's id except this one.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        let me = self.id();
        self.node_ids()
            .iter()
            .map(String::as_str)
            .filter(move |id| *id != me)
    }

    fn fresh_msg_id(&self) -> u64 {
        self.shared.next_msg_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `body` to `dest` with a fresh `msg_id` (any `msg_id` in `body`
    /// is replaced) and returns that id. A body that is not a JSON object is
    /// logged and dropped.
    pub fn send(&self, dest: &str, mut body: Value) -> u64 {
        let msg_id = self.fresh_msg_id();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("msg_id".into(), msg_id.into());
        }
        self.write(self.id(), dest, &body);
        msg_id
    }

    /// Replies to `req`: to its `src`, with `in_reply_to` set to its `msg_id`
    /// (left out when the request had none) and a fresh `msg_id`.
    pub fn reply(&self, req: &Envelope, mut body: Value) {
        if let Some(obj) = body.as_object_mut() {
            if let Some(id) = req.msg_id() {
                obj.insert("in_reply_to".into(), id.into());
            }
            obj.insert("msg_id".into(), self.fresh_msg_id().into());
        }
        // Before init our id is unknown; the request's dest is our name.
        let src = if self.id().is_empty() {
            req.dest.as_str()
        } else {
            self.id()
        };
        self.write(src, &req.src, &body);
    }

    /// Replies to `req` with an `error` body.
    pub fn reply_error(&self, req: &Envelope, code: ErrorCode, text: impl Into<String>) {
        self.reply(req, code.reply(req.msg_id(), text));
    }

    /// Answers a request this node does not understand with error 10
    /// (not-supported). Messages without a `msg_id` and replies are ignored:
    /// nobody waits for an answer to them.
    pub fn reply_unsupported(&self, req: &Envelope) {
        if req.msg_id().is_some() && req.in_reply_to().is_none() {
            let kind = req.body_type().unwrap_or("(no type)").to_owned();
            self.reply_error(
                req,
                ErrorCode::NOT_SUPPORTED,
                format!("unsupported type {kind}"),
            );
        }
    }

    /// Sends a request to a node or service and waits up to `timeout` for the
    /// reply, returning its body. Never call it while holding a lock that the
    /// handler needs, and prefer a spawned thread ([`Node::spawn`]) when other
    /// requests should be served meanwhile.
    pub fn rpc(&self, dest: &str, mut body: Value, timeout: Duration) -> Result<Value, RpcError> {
        let Some(obj) = body.as_object_mut() else {
            return Err(RpcError::NotAnObject);
        };
        let msg_id = self.fresh_msg_id();
        obj.insert("msg_id".into(), msg_id.into());
        let (tx, rx) = mpsc::sync_channel(1);
        lock(&self.shared.pending).insert(msg_id, tx);
        self.write(self.id(), dest, &body);
        let reply = match rx.recv_timeout(timeout) {
            Ok(reply) => reply,
            Err(_) => {
                // The reader may have taken our entry just before we gave up;
                // if so the reply is already in the channel.
                let gone = lock(&self.shared.pending).remove(&msg_id).is_none();
                match rx.try_recv() {
                    Ok(reply) if gone => reply,
                    _ => return Err(RpcError::Timeout),
                }
            }
        };
        if reply.get("type").and_then(Value::as_str) == Some("error") {
            let code = ErrorCode(reply.get("code").and_then(Value::as_u64).unwrap_or(13));
            let text = reply
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            return Err(RpcError::Remote { code, text });
        }
        Ok(reply)
    }

    /// Runs `f` on a new thread with a clone of this handle: the way to make
    /// RPCs without stalling the handler.
    pub fn spawn(&self, f: impl FnOnce(Node) + Send + 'static) {
        let node = self.clone();
        thread::spawn(move || f(node));
    }

    /// Writes `line` to stdout verbatim (plus a newline), through the same
    /// lock as messages. Only for simulating broken nodes: the harness must
    /// cope with a line that is not a message.
    pub fn send_raw_line(&self, line: &str) {
        self.write_line(line.as_bytes());
    }

    /// Takes an incoming message: a reply that a waiting RPC expects goes to
    /// it (and `None` comes back); anything else is returned for the handler.
    pub fn route(&self, msg: Envelope) -> Option<Envelope> {
        if let Some(waiting) = msg
            .in_reply_to()
            .and_then(|id| lock(&self.shared.pending).remove(&id))
        {
            let _ = waiting.try_send(msg.body);
            return None;
        }
        Some(msg)
    }

    fn write(&self, src: &str, dest: &str, body: &Value) {
        if !body.is_object() {
            log(format_args!(
                "dropped a message to {dest}: body is not a JSON object: {body}"
            ));
            return;
        }
        match serde_json::to_vec(&Outgoing { src, dest, body }) {
            Ok(line) => self.write_line(&line),
            Err(e) => log(format_args!("could not serialise a message to {dest}: {e}")),
        }
    }

    fn write_line(&self, line: &[u8]) {
        let mut out = lock(&self.shared.out);
        let res = out
            .write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = res {
            log(format_args!("writing stdout failed: {e}"));
        }
    }

    fn read_loop(&self, mut input: impl BufRead, to_loop: Sender<io::Result<Envelope>>) {
        let mut line = Vec::new();
        loop {
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = to_loop.send(Err(e));
                    return;
                }
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            let msg: Envelope = match serde_json::from_slice(&line) {
                Ok(msg) => msg,
                Err(e) => {
                    let text = String::from_utf8_lossy(&line);
                    log(format_args!(
                        "skipped a line that is not a message ({e}): {}",
                        text.trim_end()
                    ));
                    continue;
                }
            };
            if let Some(msg) = self.route(msg)
                && to_loop.send(Ok(msg)).is_err()
            {
                return;
            }
        }
    }
}

/// A line on the node's stderr, its log. A node's stdout is its protocol
/// and its stderr its log; a closed stderr must not kill the node (as
/// `eprintln!` would, by panicking), so a failed write is dropped.
fn log(args: std::fmt::Arguments) {
    let _ = writeln!(io::stderr().lock(), "node kit: {args}");
}

/// Runs a node on stdin/stdout until stdin closes. `make` builds the handler
/// once `init` has arrived (so `node.id()` and `node.node_ids()` are set); it
/// may send messages, and `init_ok` is sent right after it returns.
pub fn run<H: Handler>(make: impl FnOnce(&Node) -> H) -> io::Result<()> {
    run_with(io::stdin(), BufWriter::new(io::stdout()), make)
}

/// [`run`] over any input and output (tests use pipes).
pub fn run_with<H, R, W>(input: R, output: W, make: impl FnOnce(&Node) -> H) -> io::Result<()>
where
    H: Handler,
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let node = Node::new(Box::new(output));
    let input = BufReader::with_capacity(64 * 1024, input);
    let (tx, rx) = mpsc::channel();
    {
        let node = node.clone();
        // Detached: it ends when stdin does, or with the process.
        thread::spawn(move || node.read_loop(input, tx));
    }

    let mut handler = loop {
        let msg = match rx.recv() {
            Ok(msg) => msg?,
            Err(_) => return Ok(()), // stdin closed before init
        };
        if msg.body_type() != Some("init") {
            if msg.msg_id().is_some() && msg.in_reply_to().is_none() {
                node.reply_error(
                    &msg,
                    ErrorCode::TEMPORARILY_UNAVAILABLE,
                    "not initialised yet",
                );
            }
            continue;
        }
        match node.init(&msg.body) {
            Ok(()) => {
                let handler = make(&node);
                node.reply(&msg, json!({"type": "init_ok"}));
                break handler;
            }
            Err(text) => node.reply_error(&msg, ErrorCode::MALFORMED_REQUEST, text),
        }
    };

    let interval = handler.tick_interval();
    let mut next_tick = interval.map(|every| Instant::now() + every);
    loop {
        let got = match next_tick {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match got {
            Ok(msg) => {
                let msg = msg?;
                if msg.body_type() == Some("init") {
                    match node.init(&msg.body) {
                        Ok(()) => node.reply(&msg, json!({"type": "init_ok"})),
                        Err(text) => node.reply_error(&msg, ErrorCode::MALFORMED_REQUEST, text),
                    }
                } else {
                    handler.handle(&node, msg);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if let (Some(at), Some(every)) = (next_tick, interval)
            && Instant::now() >= at
        {
            handler.tick(&node);
            next_tick = Some(Instant::now() + every);
        }
    }
}

/// A client for the key-value services (`lin-kv`, `seq-kv`, `lww-kv`).
/// Its calls block like [`Node::rpc`].
#[derive(Clone)]
pub struct Kv {
    node: Node,
    service: String,
    /// How long each call waits for the service.
    pub timeout: Duration,
}

impl Kv {
    /// A client for `service` with a 1 s timeout.
    pub fn new(node: &Node, service: &str) -> Kv {
        Kv {
            node: node.clone(),
            service: service.to_owned(),
            timeout: Duration::from_secs(1),
        }
    }

    /// `read{key}` → the value; a missing key is error 20.
    pub fn read(&self, key: impl Into<Value>) -> Result<Value, RpcError> {
        let reply = self.call(json!({"type": "read", "key": key.into()}))?;
        Ok(reply.get("value").cloned().unwrap_or(Value::Null))
    }

    /// `write{key, value}`.
    pub fn write(&self, key: impl Into<Value>, value: impl Into<Value>) -> Result<(), RpcError> {
        self.call(json!({"type": "write", "key": key.into(), "value": value.into()}))
            .map(drop)
    }

    /// `cas{key, from, to}`: error 22 when the value is not `from`, error 20
    /// when the key is missing, unless `create` is set (then it is created
    /// with `to`).
    pub fn cas(
        &self,
        key: impl Into<Value>,
        from: impl Into<Value>,
        to: impl Into<Value>,
        create: bool,
    ) -> Result<(), RpcError> {
        let mut body =
            json!({"type": "cas", "key": key.into(), "from": from.into(), "to": to.into()});
        if create {
            body["create_if_not_exists"] = true.into();
        }
        self.call(body).map(drop)
    }

    fn call(&self, body: Value) -> Result<Value, RpcError> {
        self.node.rpc(&self.service, body, self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;

    /// An output that tests can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn messages(&self) -> Vec<Value> {
            let text = String::from_utf8(lock(&self.0).clone()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    fn node_as(id: &str) -> (Node, Sink) {
        let sink = Sink::default();
        let node = Node::new(Box::new(sink.clone()));
        node.init(&json!({"node_id": id, "node_ids": ["n1", "n2", "n3"]}))
            .unwrap();
        (node, sink)
    }

    fn env(src: &str, dest: &str, body: Value) -> Envelope {
        Envelope {
            id: None,
            src: src.into(),
            dest: dest.into(),
            body,
        }
    }

    #[test]
    fn init_records_identity_and_rejects_bad_bodies() {
        let (node, _) = node_as("n2");
        assert_eq!(node.id(), "n2");
        assert_eq!(node.node_ids(), ["n1", "n2", "n3"]);
        assert_eq!(node.peers().collect::<Vec<_>>(), ["n1", "n3"]);
        assert!(
            node.init(&json!({"node_id": "n2", "node_ids": ["n1", "n2", "n3"]}))
                .is_ok()
        );
        assert!(
            node.init(&json!({"node_id": "n9", "node_ids": []}))
                .is_err()
        );

        let fresh = Node::new(Box::new(Sink::default()));
        assert!(fresh.init(&json!({"node_ids": []})).is_err());
        assert!(
            fresh
                .init(&json!({"node_id": "n1", "node_ids": [1]}))
                .is_err()
        );
        assert_eq!(fresh.id(), "");
    }

    #[test]
    fn send_and_reply_assign_msg_ids_and_in_reply_to() {
        let (node, sink) = node_as("n1");
        let a = node.send("n2", json!({"type": "gossip", "msg_id": 999}));
        let b = node.send("n3", json!({"type": "gossip"}));
        assert!(b > a);
        node.reply(
            &env("c4", "n1", json!({"type": "echo", "msg_id": 7})),
            json!({"type": "echo_ok"}),
        );
        node.reply(
            &env("c4", "n1", json!({"type": "echo"})),
            json!({"type": "echo_ok"}),
        );
        node.send("n2", json!([1, 2])); // not an object: dropped
        let out = sink.messages();
        assert_eq!(out.len(), 4);
        assert_eq!(
            out[0],
            json!({"src": "n1", "dest": "n2", "body": {"type": "gossip", "msg_id": a}})
        );
        assert_eq!(out[1]["body"]["msg_id"], b);
        assert_eq!(out[2]["dest"], "c4");
        assert_eq!(out[2]["body"]["in_reply_to"], 7);
        assert!(out[2]["body"]["msg_id"].as_u64().unwrap() > b);
        assert!(out[3]["body"].get("in_reply_to").is_none());
    }

    #[test]
    fn reply_error_and_unsupported() {
        let (node, sink) = node_as("n1");
        let req = env("c1", "n1", json!({"type": "frob", "msg_id": 3}));
        node.reply_unsupported(&req);
        node.reply_unsupported(&env("n2", "n1", json!({"type": "frob"}))); // no msg_id
        node.reply_unsupported(&env(
            "n2",
            "n1",
            json!({"type": "x_ok", "msg_id": 4, "in_reply_to": 2}),
        ));
        node.reply_error(&req, ErrorCode::PRECONDITION_FAILED, "nope");
        let out = sink.messages();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["body"]["type"], "error");
        assert_eq!(out[0]["body"]["code"], 10);
        assert_eq!(out[0]["body"]["in_reply_to"], 3);
        assert_eq!(out[1]["body"]["code"], 22);
        assert_eq!(out[1]["body"]["text"], "nope");
    }

    /// Waits until the sink holds `n` messages.
    fn wait_for(sink: &Sink, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = sink.messages();
            if out.len() >= n || Instant::now() > deadline {
                return out;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn rpc_returns_the_matching_reply() {
        let (node, sink) = node_as("n1");
        let caller = node.clone();
        let call = thread::spawn(move || {
            caller.rpc(
                "lin-kv",
                json!({"type": "read", "key": "x"}),
                Duration::from_secs(5),
            )
        });
        let out = wait_for(&sink, 1);
        assert_eq!(out[0]["dest"], "lin-kv");
        let id = out[0]["body"]["msg_id"].as_u64().unwrap();
        // Another reply is not taken by the RPC.
        let other = env(
            "lin-kv",
            "n1",
            json!({"type": "read_ok", "in_reply_to": id + 100}),
        );
        assert!(node.route(other).is_some());
        let reply = env(
            "lin-kv",
            "n1",
            json!({"type": "read_ok", "value": 5, "in_reply_to": id}),
        );
        assert!(node.route(reply).is_none());
        assert_eq!(call.join().unwrap().unwrap()["value"], 5);
        // The same reply again (a duplicate) goes to the handler.
        let dup = env(
            "lin-kv",
            "n1",
            json!({"type": "read_ok", "in_reply_to": id}),
        );
        assert!(node.route(dup).is_some());
    }

    #[test]
    fn rpc_error_bodies_become_errors_with_their_code() {
        let (node, sink) = node_as("n1");
        let caller = node.clone();
        let call = thread::spawn(move || Kv::new(&caller, "seq-kv").cas("k", 1, 2, true));
        let out = wait_for(&sink, 1);
        let body = &out[0]["body"];
        assert_eq!(body["type"], "cas");
        assert_eq!(body["create_if_not_exists"], true);
        let id = body["msg_id"].as_u64().unwrap();
        let reply = json!({"type": "error", "code": 22, "text": "current value 3 is not 1", "in_reply_to": id});
        node.route(env("seq-kv", "n1", reply));
        let err = call.join().unwrap().unwrap_err();
        assert_eq!(err.code(), ErrorCode::PRECONDITION_FAILED);
        assert_eq!(
            err,
            RpcError::Remote {
                code: ErrorCode(22),
                text: "current value 3 is not 1".into()
            }
        );
        let req = env("c1", "n1", json!({"type": "cas", "msg_id": 9}));
        assert_eq!(err.to_reply(&req)["in_reply_to"], 9);
        assert_eq!(err.to_reply(&req)["code"], 22);
    }

    #[test]
    fn rpc_times_out_and_a_late_reply_goes_to_the_handler() {
        let (node, sink) = node_as("n1");
        let started = Instant::now();
        let res = node.rpc("n2", json!({"type": "ping"}), Duration::from_millis(50));
        assert_eq!(res, Err(RpcError::Timeout));
        assert_eq!(res.unwrap_err().code(), ErrorCode::TIMEOUT);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(lock(&node.shared.pending).is_empty());
        let id = sink.messages()[0]["body"]["msg_id"].as_u64().unwrap();
        let late = env("n2", "n1", json!({"type": "pong", "in_reply_to": id}));
        assert!(node.route(late).is_some());
        assert_eq!(
            node.rpc("n2", json!(3), Duration::from_millis(1)),
            Err(RpcError::NotAnObject)
        );
    }

    /// Lines written by a running node, read on a thread so tests can time out.
    struct Lines(Receiver<Value>);

    impl Lines {
        fn new(from: impl Read + Send + 'static) -> Lines {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(from).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                        return;
                    }
                }
            });
            Lines(rx)
        }
        fn next(&self) -> Value {
            self.0
                .recv_timeout(Duration::from_secs(5))
                .expect("no message from the node")
        }
    }

    fn line(v: Value) -> Vec<u8> {
        let mut s = serde_json::to_vec(&v).unwrap();
        s.push(b'\n');
        s
    }

    #[test]
    fn run_handles_init_requests_ticks_and_eof() {
        struct Counter {
            ticks: u32,
        }
        impl Handler for Counter {
            fn handle(&mut self, node: &Node, msg: Envelope) {
                match msg.body_type() {
                    Some("ticks") => {
                        node.reply(&msg, json!({"type": "ticks_ok", "ticks": self.ticks}))
                    }
                    Some("slow") => node.spawn(move |node| {
                        let res = node.rpc("n2", json!({"type": "ping"}), Duration::from_secs(5));
                        node.reply(&msg, json!({"type": "slow_ok", "pong": res.unwrap()["n"]}));
                    }),
                    _ => node.reply_unsupported(&msg),
                }
            }
            fn tick(&mut self, _node: &Node) {
                self.ticks += 1;
            }
            fn tick_interval(&self) -> Option<Duration> {
                Some(Duration::from_millis(10))
            }
        }

        let (in_r, mut in_w) = io::pipe().unwrap();
        let (out_r, out_w) = io::pipe().unwrap();
        let out = Lines::new(out_r);
        let runner = thread::spawn(move || {
            run_with(in_r, out_w, |node| {
                assert_eq!(node.id(), "n1");
                Counter { ticks: 0 }
            })
        });

        in_w.write_all(&line(
            json!({"src": "c1", "dest": "n1", "body": {"type": "ticks", "msg_id": 1}}),
        ))
        .unwrap();
        let early = out.next();
        assert_eq!(early["src"], "n1");
        assert_eq!(early["body"]["code"], 11);

        in_w.write_all(b"this is not json\n\n").unwrap();
        in_w.write_all(&line(json!({"src": "c1", "dest": "n1", "body": {"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1", "n2"]}}))).unwrap();
        let ok = out.next();
        assert_eq!(
            ok,
            json!({"src": "n1", "dest": "c1", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": ok["body"]["msg_id"]}})
        );

        // A request that waits on an RPC does not stop the node serving others.
        in_w.write_all(&line(
            json!({"src": "c2", "dest": "n1", "body": {"type": "slow", "msg_id": 1}}),
        ))
        .unwrap();
        let ping = out.next();
        assert_eq!(ping["dest"], "n2");
        thread::sleep(Duration::from_millis(80));
        in_w.write_all(&line(
            json!({"src": "c3", "dest": "n1", "body": {"type": "ticks", "msg_id": 5}}),
        ))
        .unwrap();
        let ticks = out.next();
        assert_eq!(ticks["dest"], "c3");
        assert!(ticks["body"]["ticks"].as_u64().unwrap() >= 2, "{ticks}");
        let ping_id = ping["body"]["msg_id"].clone();
        in_w.write_all(&line(json!({"src": "n2", "dest": "n1", "body": {"type": "pong", "n": 42, "in_reply_to": ping_id}}))).unwrap();
        let slow = out.next();
        assert_eq!(slow["dest"], "c2");
        assert_eq!(slow["body"]["pong"], 42);

        in_w.write_all(&line(
            json!({"src": "c3", "dest": "n1", "body": {"type": "frob", "msg_id": 6}}),
        ))
        .unwrap();
        assert_eq!(out.next()["body"]["code"], 10);

        drop(in_w);
        runner.join().unwrap().unwrap();
    }

    #[test]
    fn concurrent_writers_never_interleave_lines() {
        let (node, sink) = node_as("n1");
        let big = "x".repeat(10_000);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let node = node.clone();
                let big = big.clone();
                thread::spawn(move || {
                    for i in 0..50 {
                        node.send("n2", json!({"type": "blob", "t": t, "i": i, "data": big}));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let out = sink.messages(); // panics on a torn line
        assert_eq!(out.len(), 400);
        let mut ids: Vec<u64> = out
            .iter()
            .map(|m| m["body"]["msg_id"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 400);
    }
}
