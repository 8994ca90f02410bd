//! Maelstrom `broadcast` (topology / broadcast / read), with a gossip that
//! survives partitions, pauses and restarts.
//!
//! * **Neighbours** come from `topology`. Before it arrives, and in a
//!   restarted process (the harness sends `topology` only at setup), every
//!   other node is a neighbour.
//! * **Push**: a message new to this node is sent at once, as a `gossip`
//!   batch, to every neighbour not known to have it.
//! * **Acknowledgements**: a node answers each `gossip` with `gossip_ok`
//!   (`in_reply_to` the gossip's `msg_id`); the sender then marks the batch as
//!   held by that neighbour. A node that sends us a message obviously has it.
//! * **Retry**: every tick (100 ms) each neighbour gets, in one batch, the
//!   messages it has not acknowledged and that were not sent to it within its
//!   retry delay (twice its smoothed round trip, clamped to 300 ms–3 s), so
//!   partitioned neighbours catch up after the heal without a flood meanwhile.
//! * **Catch-up**: a restarted node has lost its set. Harnesses send
//!   `topology` only at setup, right after `init`, so a node that hears no
//!   `topology` within two seconds of `init` knows it was restarted and asks
//!   every other node for its whole set (`sync` → `sync_ok`), retrying each
//!   second until each has answered. A first start skips this, which keeps a
//!   1,000-node cluster from sending a million syncs at setup.
//!   A node that gets a `sync` also forgets what the asker had acknowledged,
//!   since a restarted asker has lost it all; its `sync_ok` is then
//!   acknowledged and retried like any gossip batch.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use gauntlet_proto::Envelope;
use gauntlet_proto::node::{self, Handler, Node};
use serde_json::{Value, json};

const TICK: Duration = Duration::from_millis(100);
const MIN_RETRY: Duration = Duration::from_millis(300);
const MAX_RETRY: Duration = Duration::from_secs(3);
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How long after `init` a `topology` may take before the node decides it
/// was restarted.
const TOPOLOGY_GRACE: Duration = Duration::from_secs(2);
/// At most this many messages per gossip batch.
const MAX_BATCH: usize = 1024;

pub fn main() -> std::io::Result<()> {
    node::run(|node: &Node| Broadcast {
        values: Vec::new(),
        index: HashMap::new(),
        neighbours: node.peers().map(str::to_owned).collect(),
        peers: HashMap::new(),
        inflight: HashMap::new(),
        unsynced: node.peers().map(str::to_owned).collect(),
        next_sync: Instant::now() + TOPOLOGY_GRACE,
    })
}

struct Broadcast {
    /// Every message this node has, in the order it learnt them.
    values: Vec<Value>,
    /// A message's JSON text → its position in `values`.
    index: HashMap<String, usize>,
    neighbours: Vec<String>,
    peers: HashMap<String, Peer>,
    /// Gossip sent and not yet acknowledged: msg_id → (to, which, when).
    inflight: HashMap<u64, (String, Vec<usize>, Instant)>,
    /// Nodes that have not answered our `sync` yet.
    unsynced: HashSet<String>,
    next_sync: Instant,
}

#[derive(Default)]
struct Peer {
    /// The peer has every message below this position...
    floor: usize,
    /// ...and these ones above it.
    has: HashSet<usize>,
    /// When each message it lacks was last sent to it.
    sent: HashMap<usize, Instant>,
    /// Smoothed round trip of its acknowledgements.
    rtt: Option<Duration>,
}

impl Peer {
    fn holds(&self, i: usize) -> bool {
        i < self.floor || self.has.contains(&i)
    }

    fn mark(&mut self, i: usize) {
        self.sent.remove(&i);
        if i >= self.floor {
            self.has.insert(i);
            while self.has.remove(&self.floor) {
                self.floor += 1;
            }
        }
    }

    fn retry_after(&self) -> Duration {
        self.rtt
            .map_or(MIN_RETRY, |rtt| (rtt * 2).clamp(MIN_RETRY, MAX_RETRY))
    }
}

impl Broadcast {
    /// Adds a message; returns its position and whether it was new.
    fn learn(&mut self, value: &Value) -> (usize, bool) {
        let key = value.to_string();
        if let Some(&i) = self.index.get(&key) {
            return (i, false);
        }
        let i = self.values.len();
        self.values.push(value.clone());
        self.index.insert(key, i);
        (i, true)
    }

    /// Learns a batch that `from` sent us; returns the positions new to us.
    fn learn_from(&mut self, from: &str, messages: Option<&Value>) -> Vec<usize> {
        let mut fresh = Vec::new();
        let mut held = Vec::new();
        for value in messages.and_then(Value::as_array).into_iter().flatten() {
            let (i, new) = self.learn(value);
            held.push(i);
            if new {
                fresh.push(i);
            }
        }
        let peer = self.peers.entry(from.to_owned()).or_default();
        for i in held {
            peer.mark(i);
        }
        fresh
    }

    /// Sends `which` (those it lacks) to one peer as a gossip batch.
    fn gossip(&mut self, node: &Node, to: &str, which: impl IntoIterator<Item = usize>) {
        let now = Instant::now();
        let peer = self.peers.entry(to.to_owned()).or_default();
        let batch: Vec<usize> = which
            .into_iter()
            .filter(|&i| !peer.holds(i))
            .take(MAX_BATCH)
            .collect();
        if batch.is_empty() {
            return;
        }
        for &i in &batch {
            peer.sent.insert(i, now);
        }
        let messages: Vec<&Value> = batch.iter().map(|&i| &self.values[i]).collect();
        let msg_id = node.send(to, json!({"type": "gossip", "messages": messages}));
        self.inflight.insert(msg_id, (to.to_owned(), batch, now));
    }

    /// Pushes fresh messages to every neighbour but `except`.
    fn push(&mut self, node: &Node, fresh: &[usize], except: Option<&str>) {
        if fresh.is_empty() {
            return;
        }
        for to in self.neighbours.clone() {
            if Some(to.as_str()) != except {
                self.gossip(node, &to, fresh.iter().copied());
            }
        }
    }

    fn sync(&mut self, node: &Node) {
        self.next_sync = Instant::now() + SYNC_EVERY;
        for to in &self.unsynced {
            node.send(to, json!({"type": "sync"}));
        }
    }
}

impl Handler for Broadcast {
    fn handle(&mut self, node: &Node, msg: Envelope) {
        let body = &msg.body;
        match msg.body_type() {
            Some("topology") => {
                let mine = body
                    .get("topology")
                    .and_then(|t| t.get(node.id()))
                    .and_then(Value::as_array);
                match mine {
                    Some(list) => {
                        self.neighbours = list
                            .iter()
                            .filter_map(Value::as_str)
                            .filter(|id| *id != node.id())
                            .map(str::to_owned)
                            .collect();
                        eprintln!("{}: neighbours {:?}", node.id(), self.neighbours);
                    }
                    None => eprintln!(
                        "{}: topology names no neighbours for me; gossiping to all",
                        node.id()
                    ),
                }
                // A first start: there is nothing to catch up on.
                self.unsynced.clear();
                node.reply(&msg, json!({"type": "topology_ok"}));
            }
            Some("broadcast") => {
                let value = body.get("message").cloned().unwrap_or_default();
                let (i, new) = self.learn(&value);
                if new {
                    self.push(node, &[i], None);
                }
                node.reply(&msg, json!({"type": "broadcast_ok"}));
            }
            Some("read") => {
                node.reply(&msg, json!({"type": "read_ok", "messages": self.values}));
            }
            Some("gossip") => {
                let fresh = self.learn_from(&msg.src, body.get("messages"));
                node.reply(&msg, json!({"type": "gossip_ok"}));
                self.push(node, &fresh, Some(&msg.src));
            }
            Some("gossip_ok") => {
                let Some((to, batch, sent)) =
                    msg.in_reply_to().and_then(|id| self.inflight.remove(&id))
                else {
                    return;
                };
                let peer = self.peers.entry(to).or_default();
                let rtt = sent.elapsed();
                peer.rtt = Some(peer.rtt.map_or(rtt, |old| (old * 7 + rtt) / 8));
                for i in batch {
                    peer.mark(i);
                }
            }
            Some("sync") => {
                // The asker may have restarted and lost everything: forget
                // what it had acknowledged and send it all, as a batch that it
                // acknowledges like a gossip.
                let now = Instant::now();
                let all: Vec<usize> = (0..self.values.len()).collect();
                let peer = self.peers.entry(msg.src.clone()).or_default();
                *peer = Peer {
                    rtt: peer.rtt,
                    sent: all.iter().map(|&i| (i, now)).collect(),
                    ..Peer::default()
                };
                let reply = json!({"type": "sync_ok", "in_reply_to": msg.msg_id(), "messages": self.values});
                let msg_id = node.send(&msg.src, reply);
                self.inflight.insert(msg_id, (msg.src, all, now));
            }
            Some("sync_ok") => {
                self.unsynced.remove(&msg.src);
                let fresh = self.learn_from(&msg.src, body.get("messages"));
                node.reply(&msg, json!({"type": "gossip_ok"}));
                self.push(node, &fresh, Some(&msg.src));
            }
            // Late or unexpected replies, e.g. an error from a node that has
            // not been initialised yet: the retries cover them.
            Some("error") => {}
            _ => node.reply_unsupported(&msg),
        }
    }

    fn tick(&mut self, node: &Node) {
        let now = Instant::now();
        self.inflight
            .retain(|_, (_, _, sent)| now.duration_since(*sent) < MAX_RETRY * 4);
        if !self.unsynced.is_empty() && now >= self.next_sync {
            self.sync(node);
        }
        for to in self.neighbours.clone() {
            let peer = self.peers.entry(to.clone()).or_default();
            let retry = peer.retry_after();
            let due: Vec<usize> = (peer.floor..self.values.len())
                .filter(|&i| !peer.holds(i))
                .filter(|i| {
                    peer.sent
                        .get(i)
                        .is_none_or(|t| now.duration_since(*t) >= retry)
                })
                .take(MAX_BATCH)
                .collect();
            self.gossip(node, &to, due);
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(TICK)
    }
}
