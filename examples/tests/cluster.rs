//! Several node processes behind a tiny in-test router with partitions,
//! restarts and pauses, and a seq-kv that really serves stale states: enough
//! to check that the broadcast and counter nodes converge. (The real
//! simulated network lives in gauntlet-workbench; this only routes.)

// Prints a test's measurements for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use gauntlet_examples::Rng;
use serde_json::{Value, json};

struct Proc {
    child: Child,
    stdin: ChildStdin,
    life: u64,
}

struct Cluster {
    bin: &'static str,
    ids: Vec<String>,
    procs: HashMap<String, Proc>,
    lives: u64,
    tx: Sender<(String, u64, Value)>,
    rx: Receiver<(String, u64, Value)>,
    /// Blocked (src, dest) pairs.
    cut: HashSet<(String, String)>,
    replies: VecDeque<Value>,
    next_msg_id: u64,
    seq_kv: SeqKv,
    /// Messages between nodes, delivered or dropped.
    node_messages: usize,
}

impl Cluster {
    fn new(bin: &'static str, n: usize) -> Cluster {
        let (tx, rx) = mpsc::channel();
        let mut c = Cluster {
            bin,
            ids: (1..=n).map(|i| format!("n{i}")).collect(),
            procs: HashMap::new(),
            lives: 0,
            tx,
            rx,
            cut: HashSet::new(),
            replies: VecDeque::new(),
            next_msg_id: 0,
            seq_kv: SeqKv::new(),
            node_messages: 0,
        };
        for id in c.ids.clone() {
            c.start(&id);
        }
        c
    }

    /// Starts (or restarts) a node process and initialises it.
    fn start(&mut self, id: &str) {
        if let Some(mut old) = self.procs.remove(id) {
            let _ = old.child.kill();
            let _ = old.child.wait();
        }
        let mut child = Command::new(self.bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.lives += 1;
        let life = self.lives;
        let stdout = child.stdout.take().unwrap();
        let tx = self.tx.clone();
        let from = id.to_owned();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let msg: Value = serde_json::from_str(&line).expect("node printed a non-JSON line");
                if tx.send((from.clone(), life, msg)).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        self.procs
            .insert(id.to_owned(), Proc { child, stdin, life });
        let ids = self.ids.clone();
        let ok = self.call(id, json!({"type": "init", "node_id": id, "node_ids": ids}));
        assert_eq!(ok["type"], "init_ok");
    }

    fn deliver(&mut self, dest: &str, msg: &Value) {
        if let Some(p) = self.procs.get_mut(dest) {
            // A dead or dying process may have closed its stdin: like a lost message.
            let _ = writeln!(p.stdin, "{msg}");
        }
    }

    /// Routes messages until `until` holds or `wait` has passed.
    fn pump(&mut self, wait: Duration, until: impl Fn(&VecDeque<Value>) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !until(&self.replies) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok((from, life, msg)) = self.rx.recv_timeout(left) else {
                return false;
            };
            if self.procs.get(&from).is_none_or(|p| p.life != life) {
                continue; // printed by a process that has since been killed
            }
            assert_eq!(msg["src"], from.as_str(), "a node must send as itself");
            let dest = msg["dest"].as_str().unwrap().to_owned();
            if dest.starts_with('c') {
                self.replies.push_back(msg);
            } else if dest == "seq-kv" {
                let reply = self.seq_kv.serve(&msg);
                self.deliver(&from, &reply);
            } else {
                assert!(self.ids.contains(&dest), "message to unknown node {dest}");
                self.node_messages += 1;
                if !self.cut.contains(&(from, dest.clone())) {
                    self.deliver(&dest, &msg);
                }
            }
        }
        true
    }

    fn call(&mut self, node: &str, mut body: Value) -> Value {
        self.next_msg_id += 1;
        let id = self.next_msg_id;
        body["msg_id"] = id.into();
        let msg = json!({"src": "c1", "dest": node, "body": body});
        self.deliver(node, &msg);
        let found = self.pump(Duration::from_secs(10), |r| {
            r.iter().any(|m| m["body"]["in_reply_to"] == id)
        });
        assert!(found, "no reply from {node} to {body}");
        let pos = self
            .replies
            .iter()
            .position(|m| m["body"]["in_reply_to"] == id)
            .unwrap();
        self.replies.remove(pos).unwrap()["body"].take()
    }

    fn partition(&mut self, side: &[&str]) {
        for a in &self.ids {
            for b in &self.ids {
                if side.contains(&a.as_str()) != side.contains(&b.as_str()) {
                    self.cut.insert((a.clone(), b.clone()));
                }
            }
        }
    }

    fn signal(&self, node: &str, sig: &str) {
        let pid = self.procs[node].child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.procs.values_mut() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

/// Maelstrom's seq-kv rules: each op first runs on a random state between
/// the client's last observed state and the newest; if it changes nothing its
/// (possibly stale) result stands, otherwise it is applied to the newest.
struct SeqKv {
    states: Vec<HashMap<String, Value>>,
    seen: HashMap<String, usize>,
    rng: Rng,
}

impl SeqKv {
    fn new() -> SeqKv {
        SeqKv {
            states: vec![HashMap::new()],
            seen: HashMap::new(),
            rng: Rng::new(7),
        }
    }

    fn apply(state: &mut HashMap<String, Value>, body: &Value) -> Value {
        let key = body["key"].to_string();
        let error = |code: u64| json!({"type": "error", "code": code});
        match body["type"].as_str().unwrap() {
            "read" => state
                .get(&key)
                .map_or(error(20), |v| json!({"type": "read_ok", "value": v})),
            "write" => {
                state.insert(key, body["value"].clone());
                json!({"type": "write_ok"})
            }
            "cas" => match state.get(&key) {
                None if body["create_if_not_exists"] == true => {
                    state.insert(key, body["to"].clone());
                    json!({"type": "cas_ok"})
                }
                None => error(20),
                Some(v) if *v == body["from"] => {
                    state.insert(key, body["to"].clone());
                    json!({"type": "cas_ok"})
                }
                Some(_) => error(22),
            },
            other => panic!("seq-kv got {other}"),
        }
    }

    fn serve(&mut self, msg: &Value) -> Value {
        let client = msg["src"].as_str().unwrap().to_owned();
        let latest = self.states.len() - 1;
        let from = self.seen.get(&client).copied().unwrap_or(0);
        let at = from + self.rng.below(latest - from + 1);
        let mut state = self.states[at].clone();
        let mut reply = Self::apply(&mut state, &msg["body"]);
        if state == self.states[at] {
            self.seen.insert(client.clone(), at);
        } else {
            let mut newest = self.states[latest].clone();
            reply = Self::apply(&mut newest, &msg["body"]);
            if newest != self.states[latest] {
                self.states.push(newest);
            }
            self.seen.insert(client.clone(), self.states.len() - 1);
        }
        reply["in_reply_to"] = msg["body"]["msg_id"].clone();
        json!({"src": "seq-kv", "dest": client, "body": reply})
    }
}

fn read_set(c: &mut Cluster, node: &str) -> BTreeSet<i64> {
    let body = c.call(node, json!({"type": "read"}));
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

/// Broadcasts through a partition, a restart and a pause, heals, and waits
/// up to `settle` for every node to read every message. Returns the cluster
/// and the nodes that still miss some.
fn broadcast_scenario(bin: &'static str, settle: Duration) -> (Cluster, Vec<&'static str>) {
    let mut c = Cluster::new(bin, 5);
    let line = json!({"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2", "n4"], "n4": ["n3", "n5"], "n5": ["n4"]});
    for id in c.ids.clone() {
        assert_eq!(
            c.call(&id, json!({"type": "topology", "topology": line}))["type"],
            "topology_ok"
        );
    }
    let mut sent: Vec<(i64, &str)> = Vec::new();
    let broadcast = |c: &mut Cluster,
                     sent: &mut Vec<(i64, &'static str)>,
                     nodes: &[&'static str],
                     count: usize| {
        for i in 0..count {
            let (message, node) = (sent.len() as i64, nodes[i % nodes.len()]);
            let ok = c.call(node, json!({"type": "broadcast", "message": message}));
            assert_eq!(ok["type"], "broadcast_ok");
            sent.push((message, node));
        }
    };
    let all = ["n1", "n2", "n3", "n4", "n5"];
    broadcast(&mut c, &mut sent, &all, 10);
    c.pump(Duration::from_millis(300), |_| false);
    c.partition(&["n1", "n2"]);
    broadcast(&mut c, &mut sent, &all, 20);
    // n4 is killed and restarted mid-partition: it loses everything and gets
    // no topology again.
    c.start("n4");
    broadcast(&mut c, &mut sent, &all, 5);
    // n5 is paused for a while; the others keep taking broadcasts.
    c.signal("n5", "-STOP");
    broadcast(&mut c, &mut sent, &["n1", "n2", "n3", "n4"], 5);
    c.pump(Duration::from_millis(500), |_| false);
    c.signal("n5", "-CONT");
    // Before the heal, no message crossed the partition.
    let minority: BTreeSet<i64> = sent
        .iter()
        .filter(|(m, node)| *m < 10 || ["n1", "n2"].contains(node))
        .map(|(m, _)| *m)
        .collect();
    assert_eq!(read_set(&mut c, "n1"), minority);
    c.cut.clear();

    let next = sent.len() as i64;
    let want: BTreeSet<i64> = (0..next).collect();
    let deadline = Instant::now() + settle;
    let mut missing = Vec::new();
    while Instant::now() < deadline {
        missing = all
            .into_iter()
            .filter(|n| read_set(&mut c, n) != want)
            .collect();
        if missing.is_empty() {
            break;
        }
        c.pump(Duration::from_millis(200), |_| false);
    }
    (c, missing)
}

#[test]
fn broadcast_converges_after_partition_restart_and_pause() {
    let (mut c, missing) = broadcast_scenario(
        env!("CARGO_BIN_EXE_node-broadcast"),
        Duration::from_secs(10),
    );
    assert!(missing.is_empty(), "{missing:?} never got every message");
    // Once everyone has answered the restarted node's sync and acknowledged
    // every batch, the gossip goes quiet.
    c.pump(Duration::from_secs(2), |_| false);
    let busy = c.node_messages;
    c.pump(Duration::from_secs(1), |_| false);
    eprintln!("{busy} node-to-node messages for 40 broadcasts");
    assert_eq!(
        c.node_messages, busy,
        "messages kept flowing when there was nothing to tell"
    );
}

#[test]
fn broadcast_without_retries_loses_messages_in_the_same_scenario() {
    let bin = env!("CARGO_BIN_EXE_broken-broadcast-no-retry");
    let (_, missing) = broadcast_scenario(bin, Duration::from_secs(2));
    assert!(
        !missing.is_empty(),
        "the broken broadcast should lose messages"
    );
}

#[test]
fn counter_final_reads_are_exact_on_a_stale_seq_kv() {
    let mut c = Cluster::new(env!("CARGO_BIN_EXE_node-pn-counter"), 3);
    let mut total = 0;
    let mut rng = Rng::new(11);
    for i in 0..60 {
        if i == 30 {
            c.start("n2"); // a restarted node has forgotten its cached total
        }
        let delta = rng.below(10) as i64 - 5;
        let node = ["n1", "n2", "n3"][i % 3];
        assert_eq!(
            c.call(node, json!({"type": "add", "delta": delta}))["type"],
            "add_ok"
        );
        total += delta;
        if i % 7 == 0 {
            c.call(node, json!({"type": "read"})); // intermediate reads may be stale
        }
    }
    for node in ["n1", "n2", "n3"] {
        let read = c.call(node, json!({"type": "read"}));
        assert_eq!(read["value"], total, "final read on {node}");
    }
}
