//! The router: the runtime half of the simulated network.
//!
//! Every endpoint (server node, built-in service, client) has a dense index
//! and an inbox. A sender stamps a message with an id and a delivery time and
//! pushes it into the destination's inbox; the destination's own task holds it
//! in a [`DeliveryQueue`] until it is due and checks the grudge at delivery, so
//! a partition that starts while a message is in flight drops it. There is no
//! central router task and no thread per node: routing costs one channel push
//! per message and scales with the tokio worker threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use gauntlet_events::Events;
use gauntlet_net::{Grudge, Latency};
use rustc_hash::FxHashMap;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::journal::{Fate, Journal};

/// What an endpoint is; decides latency and partition rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Server,
    Service,
    Client,
}

/// One message on its way.
#[derive(Debug)]
pub(crate) struct Packet {
    pub src: u32,
    pub dest: u32,
    pub sent: u64,
    pub deliver_at: u64,
    /// The message as the destination reads it, `id` included, no newline.
    pub line: String,
}

/// Message counts, Maelstrom's `:net` figures.
#[derive(Debug, Default)]
struct Counts {
    client_send: AtomicU64,
    client_recv: AtomicU64,
    server_send: AtomicU64,
    server_recv: AtomicU64,
}

/// A line a node printed that Gauntlet dropped instead of delivering.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct BadOutput {
    pub node: String,
    pub time: u64,
    /// `not-json`, `malformed`, `unknown-dest`, `wrong-src`, `too-long`, or
    /// `late-reply` (a reply to a client that had already given up).
    pub class: &'static str,
    pub detail: String,
    pub line: String,
}

impl BadOutput {
    /// Late replies are a symptom of slowness or faults, not a protocol bug.
    pub fn is_protocol_error(&self) -> bool {
        self.class != LATE_REPLY
    }
}

pub(crate) const LATE_REPLY: &str = "late-reply";

/// The shared routing table and counters.
pub(crate) struct Net {
    names: Vec<String>,
    kinds: Vec<Kind>,
    by_name: FxHashMap<String, u32>,
    inboxes: Vec<mpsc::UnboundedSender<Packet>>,
    grudge: RwLock<Arc<Grudge>>,
    pub latency: Latency,
    next_id: AtomicU64,
    start: Instant,
    /// The wall clock at `start`, so history times can be placed in time.
    start_wall: std::time::SystemTime,
    counts: Counts,
    journal: Journal,
    bad_output: Mutex<BadOutputLog>,
    /// The run's event stream: what a person should see goes here, never
    /// to stderr directly.
    events: Events,
}

#[derive(Default)]
struct BadOutputLog {
    /// Counts by (node, class).
    counts: FxHashMap<(String, &'static str), u64>,
    /// The first few of each class.
    examples: Vec<BadOutput>,
}

/// Lines longer than this are not read into memory: a node that prints a
/// 10 MB "message" gets a clear error instead of stalling the router.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1 << 20;
const BAD_OUTPUT_EXAMPLES: usize = 32;

impl Net {
    /// Builds the table; returns each endpoint's inbox receiver by index.
    pub fn new(
        endpoints: Vec<(String, Kind)>,
        latency: Latency,
        journal: Journal,
        events: Events,
    ) -> (Arc<Net>, Vec<mpsc::UnboundedReceiver<Packet>>) {
        let mut inboxes = Vec::with_capacity(endpoints.len());
        let mut receivers = Vec::with_capacity(endpoints.len());
        for _ in &endpoints {
            let (tx, rx) = mpsc::unbounded_channel();
            inboxes.push(tx);
            receivers.push(rx);
        }
        let by_name = endpoints
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i as u32))
            .collect();
        let (names, kinds) = endpoints.into_iter().unzip();
        let net = Net {
            names,
            kinds,
            by_name,
            inboxes,
            grudge: RwLock::new(Arc::new(Grudge::new(0))),
            latency,
            next_id: AtomicU64::new(0),
            start: Instant::now(),
            start_wall: std::time::SystemTime::now(),
            counts: Counts::default(),
            journal,
            bad_output: Mutex::new(BadOutputLog::default()),
            events,
        };
        (Arc::new(net), receivers)
    }

    /// The run's event stream.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// When the network started: zero on the history's clock.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Nanoseconds since the network started: the history's clock.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// The wall clock when the history's clock read zero.
    pub fn started_at(&self) -> std::time::SystemTime {
        self.start_wall
    }

    pub fn name(&self, index: u32) -> &str {
        &self.names[index as usize]
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn kind(&self, index: u32) -> Kind {
        self.kinds[index as usize]
    }

    pub fn lookup(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn set_grudge(&self, grudge: Grudge) {
        *self.grudge.write().expect("grudge lock") = Arc::new(grudge);
    }

    pub fn grudge(&self) -> Arc<Grudge> {
        self.grudge.read().expect("grudge lock").clone()
    }

    /// Sends a message whose body is the JSON text `body`, with a latency
    /// drawn from `rng` for server-to-server traffic. Client traffic has no
    /// latency, as in Maelstrom.
    pub fn send(&self, src: u32, dest: u32, body: &str, rng: &mut impl rand::Rng) {
        let client = self.kind(src) == Kind::Client || self.kind(dest) == Kind::Client;
        let latency = if client {
            0
        } else {
            self.latency.sample_ns(rng)
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = String::with_capacity(body.len() + 64);
        line.push_str("{\"id\":");
        line.push_str(&id.to_string());
        line.push_str(",\"src\":");
        push_json_str(&mut line, self.name(src));
        line.push_str(",\"dest\":");
        push_json_str(&mut line, self.name(dest));
        line.push_str(",\"body\":");
        line.push_str(body);
        line.push('}');
        let counter = if client {
            &self.counts.client_send
        } else {
            &self.counts.server_send
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let sent = self.now();
        let packet = Packet {
            src,
            dest,
            sent,
            deliver_at: sent + latency,
            line,
        };
        if let Err(mpsc::error::SendError(p)) = self.inboxes[dest as usize].send(packet) {
            // The endpoint's task is gone: the run is shutting down.
            self.record(p, Fate::Dropped("shutdown"));
        }
    }

    /// Records what became of a packet, and counts deliveries.
    pub fn record(&self, packet: Packet, fate: Fate) {
        if matches!(fate, Fate::Delivered(_)) {
            let client =
                self.kind(packet.src) == Kind::Client || self.kind(packet.dest) == Kind::Client;
            let counter = if client {
                &self.counts.client_recv
            } else {
                &self.counts.server_recv
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.journal.record(packet, fate);
    }

    /// Whether a message from `src` to `dest` is cut by the current grudge.
    pub fn partitioned(grudge: &Grudge, src: u32, dest: u32) -> bool {
        grudge.drops(src as usize, dest as usize)
    }

    /// Logs and counts a line from `node` that was dropped; the node keeps
    /// being read.
    pub fn bad_output(&self, node: &str, class: &'static str, detail: String, line: &str) {
        const MAX_LINE: usize = 512;
        let mut shown: String = line.chars().take(MAX_LINE).collect();
        if shown.len() < line.len() {
            shown.push('…');
        }
        if class != LATE_REPLY {
            self.events.warn(
                node,
                format!("{node}: dropped a bad line ({class}: {detail}): {shown}"),
            );
        }
        let mut log = self.bad_output.lock().expect("bad output lock");
        let count = log.counts.entry((node.to_owned(), class)).or_default();
        *count += 1;
        let first_few = *count <= 4;
        if first_few && log.examples.len() < BAD_OUTPUT_EXAMPLES {
            log.examples.push(BadOutput {
                node: node.to_owned(),
                time: self.now(),
                class,
                detail,
                line: shown,
            });
        }
    }

    /// A reply from `node` reached `client` after it had given up waiting.
    pub fn late_reply(&self, node: &str, client: &str, line: &str) {
        self.bad_output(node, LATE_REPLY, format!("{client} had given up"), line);
    }

    /// Bad output so far: counts per class and per node, and examples.
    pub fn bad_output_summary(&self) -> BadOutputSummary {
        let log = self.bad_output.lock().expect("bad output lock");
        let mut summary = BadOutputSummary {
            examples: log.examples.clone(),
            ..Default::default()
        };
        for ((node, class), n) in &log.counts {
            *summary.by_class.entry(class.to_string()).or_default() += n;
            if *class != LATE_REPLY {
                summary.protocol_errors += n;
                *summary.by_node.entry(node.clone()).or_default() += n;
            }
        }
        summary
    }

    /// Maelstrom's `:net` figures; `invokes` is the number of client invokes.
    pub fn stats(&self, invokes: u64) -> Value {
        let c = &self.counts;
        let cs = c.client_send.load(Ordering::Relaxed);
        let cr = c.client_recv.load(Ordering::Relaxed);
        let ss = c.server_send.load(Ordering::Relaxed);
        let sr = c.server_recv.load(Ordering::Relaxed);
        let per_op = |n: u64| {
            if invokes == 0 {
                Value::Null
            } else {
                json!(n as f64 / invokes as f64)
            }
        };
        json!({
            "all": {"send-count": cs + ss, "recv-count": cr + sr, "msg-count": cs + ss, "msgs-per-op": per_op(cs + ss)},
            "clients": {"send-count": cs, "recv-count": cr, "msg-count": cs},
            "servers": {"send-count": ss, "recv-count": sr, "msg-count": ss, "msgs-per-op": per_op(ss)},
        })
    }

    pub fn server_sends(&self) -> u64 {
        self.counts.server_send.load(Ordering::Relaxed)
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }
}

/// Appends `s` as a JSON string literal.
/// Lines dropped during a run, for results.json.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct BadOutputSummary {
    /// Every dropped line except late replies.
    pub protocol_errors: u64,
    pub by_class: std::collections::BTreeMap<String, u64>,
    /// Protocol errors per node.
    pub by_node: std::collections::BTreeMap<String, u64>,
    pub examples: Vec<BadOutput>,
}

fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("strings serialize"));
    }
}
