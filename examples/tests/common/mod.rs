//! Drives one node program over stdin/stdout, standing in for the network,
//! the clients, the other nodes and the KV services.
#![allow(dead_code)] // each test file uses a different part

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const WAIT: Duration = Duration::from_secs(5);

/// A line the node printed: a message, or something that is not JSON.
#[derive(Debug, Clone)]
pub enum Line {
    Msg(Value),
    Raw(String),
}

pub struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Line>,
    /// Messages read but not yet asked for.
    backlog: VecDeque<Value>,
    /// Lines that were not JSON.
    pub garbage: Vec<String>,
    next_msg_id: u64,
    /// The KV service's state, when the test plays `lin-kv` / `seq-kv`.
    pub kv: Kv,
}

impl Proc {
    pub fn spawn(bin: &str) -> Proc {
        let mut child = Command::new(bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node program");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let parsed = match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => Line::Msg(v),
                    _ => Line::Raw(line),
                };
                if tx.send(parsed).is_err() {
                    return;
                }
            }
        });
        Proc {
            child,
            stdin,
            lines,
            backlog: VecDeque::new(),
            garbage: Vec::new(),
            next_msg_id: 1000,
            kv: Kv::default(),
        }
    }

    /// Spawns the program and initialises it as `id` of `ids`.
    pub fn start(bin: &str, id: &str, ids: &[&str]) -> Proc {
        let mut p = Proc::spawn(bin);
        let reply = p.call(
            "c0",
            id,
            json!({"type": "init", "node_id": id, "node_ids": ids}),
        );
        assert_eq!(reply["body"]["type"], "init_ok", "{reply}");
        assert_eq!(reply["src"], id);
        p
    }

    pub fn write_line(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a message with a fresh `msg_id` (unless the body has one) and returns it.
    pub fn send(&mut self, src: &str, dest: &str, mut body: Value) -> u64 {
        let id = match body.get("msg_id").and_then(Value::as_u64) {
            Some(id) => id,
            None => {
                self.next_msg_id += 1;
                body["msg_id"] = self.next_msg_id.into();
                self.next_msg_id
            }
        };
        let line = json!({"src": src, "dest": dest, "body": body}).to_string();
        self.write_line(&line);
        id
    }

    /// The next line, or `None` after `wait`. Non-JSON lines go to `garbage`
    /// and are returned too.
    pub fn next_line(&mut self, wait: Duration) -> Option<Line> {
        if let Some(m) = self.backlog.pop_front() {
            return Some(Line::Msg(m));
        }
        let line = self.lines.recv_timeout(wait).ok()?;
        if let Line::Raw(text) = &line {
            self.garbage.push(text.clone());
        }
        Some(line)
    }

    /// The first message matching `pred` within `wait`, answering KV
    /// requests on the way; other messages stay in the backlog.
    pub fn try_expect(&mut self, wait: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(pos);
        }
        let deadline = Instant::now() + wait;
        let mut skipped = Vec::new();
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                break None;
            };
            let msg = match line {
                Line::Msg(m) => m,
                Line::Raw(text) => {
                    self.garbage.push(text);
                    continue;
                }
            };
            if let Some(reply) = self.kv.serve(&msg) {
                self.write_line(&reply.to_string());
                continue;
            }
            if pred(&msg) {
                break Some(msg);
            }
            skipped.push(msg);
        };
        self.backlog.extend(skipped);
        found
    }

    pub fn expect(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.try_expect(WAIT, pred)
            .unwrap_or_else(|| panic!("expected message not seen; backlog: {:?}", self.backlog))
    }

    /// Sends a request and waits for its reply (serving KV meanwhile).
    pub fn call(&mut self, src: &str, dest: &str, body: Value) -> Value {
        let id = self.send(src, dest, body);
        let src = src.to_owned();
        self.expect(move |m| m["dest"] == src.as_str() && m["body"]["in_reply_to"] == id)
    }

    /// Every message that arrives within `wait` (serving KV meanwhile),
    /// including the backlog.
    pub fn drain(&mut self, wait: Duration) -> Vec<Value> {
        self.try_expect(wait, |_| false);
        self.backlog.drain(..).collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A linearizable KV service with the lin-kv / seq-kv wire API (a valid,
/// if unusually fresh, seq-kv). `stale` makes the next read of a key return
/// the value given there instead, once.
#[derive(Default)]
pub struct Kv {
    pub data: HashMap<String, Value>,
    pub stale: HashMap<String, Value>,
    /// Every request served, in order: (type, key).
    pub log: Vec<(String, String)>,
}

impl Kv {
    pub fn serve(&mut self, msg: &Value) -> Option<Value> {
        let service = msg["dest"].as_str()?;
        if !matches!(service, "lin-kv" | "seq-kv" | "lww-kv") {
            return None;
        }
        let body = &msg["body"];
        let key = body["key"].to_string();
        let kind = body["type"].as_str().unwrap_or_default();
        self.log.push((kind.to_owned(), key.clone()));
        let error = |code: u64, text: &str| json!({"type": "error", "code": code, "text": text});
        let reply = match kind {
            "read" => match self
                .stale
                .remove(&key)
                .or_else(|| self.data.get(&key).cloned())
            {
                Some(v) => json!({"type": "read_ok", "value": v}),
                None => error(20, "key does not exist"),
            },
            "write" => {
                self.data.insert(key, body["value"].clone());
                json!({"type": "write_ok"})
            }
            "cas" => match self.data.get(&key) {
                None if body["create_if_not_exists"] == true => {
                    self.data.insert(key, body["to"].clone());
                    json!({"type": "cas_ok"})
                }
                None => error(20, "key does not exist"),
                Some(v) if *v == body["from"] => {
                    self.data.insert(key, body["to"].clone());
                    json!({"type": "cas_ok"})
                }
                Some(v) => error(22, &format!("current value {v} is not {}", body["from"])),
            },
            _ => return None,
        };
        let mut reply = reply;
        reply["in_reply_to"] = body["msg_id"].clone();
        Some(json!({"src": service, "dest": msg["src"], "body": reply}))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(&Value::from(key).to_string())
    }

    pub fn set(&mut self, key: &str, value: Value) {
        self.data.insert(Value::from(key).to_string(), value);
    }
}
