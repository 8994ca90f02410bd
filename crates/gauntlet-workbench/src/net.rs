//! The router: the runtime half of the simulated network.
//!
//! Every endpoint (server node, built-in service, client) has a dense index
//! and an inbox. A sender stamps a message with an id and a delivery time and
//! pushes it into the destination's inbox; the destination's own task holds it
//! in a [`DeliveryQueue`] until it is due and checks the grudge at delivery, so
//! a partition that starts while a message is in flight drops it. There is no
//! central router task and no thread per node: routing costs one channel push
//! per message and scales with the tokio worker threads.
//!
//! The network holds a bounded amount: every inbox counts the bytes of the
//! messages it holds (sent, not yet delivered or dropped), and a message
//! that would take an inbox over [`NetLimits::inbox_bytes`], or the whole
//! network over [`NetLimits::network_bytes`], is dropped as `inbox-full`,
//! journaled and counted in `results.json`. Drops, not back-pressure: an
//! inbox drains only when its node reads its stdin, and a node blocked on
//! its stdout may be the very one that is not reading, so holding back a
//! sender until an inbox has room could deadlock two nodes that write to
//! each other. A sender is held back only by the journal
//! ([`crate::journal`]), whose writer needs nobody.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// Between servers and services (no client at either end): counted
    /// against the network's limit as well as its inbox's.
    pub shared: bool,
    /// The node that printed the message, when its `src` names another
    /// endpoint (a node forwarding a client's request keeps the client's
    /// `src`, as Maelstrom allows); the journal records it as `via`.
    pub via: Option<Box<str>>,
}

/// What the network counts a message as holding: its text and, roughly, the
/// bookkeeping around it (the packet, the queue's entry, the allocation).
pub(crate) const PACKET_OVERHEAD: usize = 128;

impl Packet {
    /// The bytes this message holds while it is in an inbox or the journal.
    pub fn cost(&self) -> usize {
        self.line.len() + PACKET_OVERHEAD
    }
}

/// Bytes taken out of an inbox, to give back with [`Net::release`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Of every packet.
    pub inbox: usize,
    /// Of the packets that also counted against the network's limit.
    pub shared: usize,
}

impl Taken {
    pub fn add(&mut self, p: &Packet) {
        let cost = p.cost();
        self.inbox += cost;
        if p.shared {
            self.shared += cost;
        }
    }
}

/// How much the simulated network holds before it drops messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLimits {
    /// Bytes of messages one endpoint's inbox holds: in flight (waiting
    /// for their latency) or due and not yet read by the node.
    pub inbox_bytes: usize,
    /// Bytes of messages all inboxes together hold.
    pub network_bytes: usize,
}

impl Default for NetLimits {
    /// 16 MiB per inbox (about 100,000 small messages), 64 MiB in all.
    fn default() -> NetLimits {
        NetLimits {
            inbox_bytes: 16 << 20,
            network_bytes: 64 << 20,
        }
    }
}

/// The reasons a message is dropped, as `messages.jsonl` and
/// `results.json` spell them; anything else counts as `other`.
pub(crate) const DROP_REASONS: [&str; 6] = [
    "partition",
    "node-down",
    "inbox-full",
    "in-flight",
    "shutdown",
    "other",
];

pub(crate) const INBOX_FULL: &str = "inbox-full";

/// How many `inbox-full` drops per destination get a line in
/// `messages.jsonl`; later ones are only counted. A node flooding a full
/// inbox would otherwise write its whole flood to disk (150 MB/s here),
/// and the first drops already show who flooded whom and with what.
pub(crate) const JOURNALED_OVERFLOWS: u64 = 1000;

/// One endpoint's inbox as senders see it. Aligned so that two inboxes'
/// counters never share a cache line.
#[repr(align(128))]
struct Lane {
    tx: mpsc::UnboundedSender<Packet>,
    /// Bytes of the messages the inbox holds.
    held: AtomicUsize,
    /// Messages dropped because the inbox (or the network) was full.
    overflowed: AtomicU64,
    /// Its being full was told.
    told_full: AtomicBool,
}

/// Which bound a dropped message would have crossed.
enum Full {
    Inbox(usize),
    Network(usize),
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
    lanes: Vec<Lane>,
    limits: NetLimits,
    /// Bytes of messages all inboxes hold.
    held: AtomicUsize,
    dropped: [AtomicU64; DROP_REASONS.len()],
    /// The network's being full was told.
    told_full: AtomicBool,
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
    /// Counts by node, then class.
    counts: FxHashMap<String, FxHashMap<&'static str, u64>>,
    /// The first few of each class.
    examples: Vec<BadOutput>,
}

/// Lines longer than this are not read into memory: a node that prints a
/// 10 MB "message" gets a clear error instead of stalling the router.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1 << 20;
const BAD_OUTPUT_EXAMPLES: usize = 32;
/// Bad lines shown as warnings per node and class; later ones are counted.
pub(crate) const BAD_OUTPUT_SHOWN: u64 = 10;

impl Net {
    /// Builds the table; returns each endpoint's inbox receiver by index.
    pub fn new(
        endpoints: Vec<(String, Kind)>,
        latency: Latency,
        limits: NetLimits,
        journal: Journal,
        events: Events,
    ) -> (Arc<Net>, Vec<mpsc::UnboundedReceiver<Packet>>) {
        let mut lanes = Vec::with_capacity(endpoints.len());
        let mut receivers = Vec::with_capacity(endpoints.len());
        for _ in &endpoints {
            let (tx, rx) = mpsc::unbounded_channel();
            lanes.push(Lane {
                tx,
                held: AtomicUsize::new(0),
                overflowed: AtomicU64::new(0),
                told_full: AtomicBool::new(false),
            });
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
            lanes,
            limits,
            held: AtomicUsize::new(0),
            dropped: Default::default(),
            told_full: AtomicBool::new(false),
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
        *self.grudge.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(grudge);
    }

    pub fn grudge(&self) -> Arc<Grudge> {
        self.grudge
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends a message whose body is the JSON text `body`, with a latency
    /// drawn from `rng` for server-to-server traffic. Client traffic has no
    /// latency, as in Maelstrom.
    pub fn send(&self, src: u32, dest: u32, body: &str, rng: &mut impl rand::Rng) {
        self.send_via(None, src, dest, body, rng);
    }

    /// Sends a message that node `by` printed with another endpoint's
    /// `src`. It travels as a message from `src` would, as in Maelstrom,
    /// which routes by `dest` and never checks the sender: a client's `src`
    /// makes it client traffic (no latency, never partitioned), and the
    /// reply goes to `src`. Only the journal tells who sent it (`via`).
    pub fn forward(&self, by: u32, src: u32, dest: u32, body: &str, rng: &mut impl rand::Rng) {
        let via = (by != src).then(|| Box::from(self.name(by)));
        self.send_via(via, src, dest, body, rng);
    }

    fn send_via(
        &self,
        via: Option<Box<str>>,
        src: u32,
        dest: u32,
        body: &str,
        rng: &mut impl rand::Rng,
    ) {
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
            shared: !client,
            via,
        };
        let lane = &self.lanes[dest as usize];
        if let Err(full) = self.admit(lane, packet.cost(), packet.shared) {
            self.overflow(lane, packet, full);
            return;
        }
        if let Err(mpsc::error::SendError(p)) = lane.tx.send(packet) {
            // The endpoint's task is gone: the run is shutting down.
            let mut taken = Taken::default();
            taken.add(&p);
            self.release(dest, taken);
            self.record(p, Fate::Dropped("shutdown"));
        }
    }

    /// Takes `cost` bytes in `lane` and, for traffic between servers and
    /// services (`shared`), in the network, unless either would go over its
    /// limit. Client traffic counts only in its inbox, so a flood between
    /// nodes never starves the clients' requests and replies.
    fn admit(&self, lane: &Lane, cost: usize, shared: bool) -> Result<(), Full> {
        let held = lane.held.fetch_add(cost, Ordering::Relaxed) + cost;
        if held > self.limits.inbox_bytes {
            lane.held.fetch_sub(cost, Ordering::Relaxed);
            return Err(Full::Inbox(held - cost));
        }
        if !shared {
            return Ok(());
        }
        let total = self.held.fetch_add(cost, Ordering::Relaxed) + cost;
        if total > self.limits.network_bytes {
            self.held.fetch_sub(cost, Ordering::Relaxed);
            lane.held.fetch_sub(cost, Ordering::Relaxed);
            return Err(Full::Network(total - cost));
        }
        Ok(())
    }

    /// Gives back what messages that left `dest`'s inbox held (delivered
    /// or dropped); the inbox's owner calls it once it took them out.
    pub fn release(&self, dest: u32, taken: Taken) {
        if taken.inbox > 0 {
            self.lanes[dest as usize]
                .held
                .fetch_sub(taken.inbox, Ordering::Relaxed);
        }
        if taken.shared > 0 {
            self.held.fetch_sub(taken.shared, Ordering::Relaxed);
        }
    }

    /// Drops a message the network has no room for: counted, journaled
    /// while [`JOURNALED_OVERFLOWS`] for its destination are not yet, and
    /// told once per full inbox (once for a full network).
    fn overflow(&self, lane: &Lane, packet: Packet, full: Full) {
        let earlier = lane.overflowed.fetch_add(1, Ordering::Relaxed);
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        let dest = self.name(packet.dest);
        match full {
            Full::Inbox(held) if !lane.told_full.swap(true, Ordering::Relaxed) => {
                self.events.warn(
                    dest,
                    format!(
                        "{dest}'s inbox is full: it holds {:.1} MiB of messages (limit {:.0} MiB) \
                         that {dest} has not read yet; messages to {dest} are dropped \
                         (inbox-full) while it stays full, each one counted in results.json \
                         (the first {JOURNALED_OVERFLOWS} in messages.jsonl)",
                        mib(held),
                        mib(self.limits.inbox_bytes)
                    ),
                );
            }
            Full::Network(held) if !self.told_full.swap(true, Ordering::Relaxed) => {
                self.events.warn(
                    dest,
                    format!(
                        "the network is full: its inboxes hold {:.1} MiB of messages between \
                         nodes (limit {:.0} MiB) that have not been read yet; messages between \
                         nodes are dropped (inbox-full) while it stays full, each one counted in \
                         results.json, the first {JOURNALED_OVERFLOWS} per destination in \
                         messages.jsonl (client requests and replies still go through)",
                        mib(held),
                        mib(self.limits.network_bytes)
                    ),
                );
            }
            _ => {}
        }
        self.count_drop(INBOX_FULL);
        if earlier < JOURNALED_OVERFLOWS {
            self.journal.record(packet, Fate::Dropped(INBOX_FULL));
        }
    }

    /// Messages dropped so far for `why` (one of [`DROP_REASONS`]).
    pub fn dropped(&self, why: &str) -> u64 {
        DROP_REASONS
            .iter()
            .position(|r| *r == why)
            .map_or(0, |i| self.dropped[i].load(Ordering::Relaxed))
    }

    fn count_drop(&self, why: &str) {
        let i = DROP_REASONS
            .iter()
            .position(|r| *r == why)
            .unwrap_or(DROP_REASONS.len() - 1);
        self.dropped[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Records what became of a packet, and counts deliveries and drops.
    /// The inbox's owner gives back what it held ([`Net::release`]).
    pub fn record(&self, packet: Packet, fate: Fate) {
        if let Fate::Dropped(why) = fate {
            self.count_drop(why);
        }
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

    /// Records the fates of a batch of packets (a delivery task's), with one
    /// update of each counter and one journal operation.
    pub fn record_batch(&self, batch: Vec<(Packet, Fate)>) {
        let (mut client, mut server) = (0, 0);
        for (packet, fate) in &batch {
            match fate {
                Fate::Delivered(_) => {
                    if self.kind(packet.src) == Kind::Client
                        || self.kind(packet.dest) == Kind::Client
                    {
                        client += 1;
                    } else {
                        server += 1;
                    }
                }
                Fate::Dropped(why) => self.count_drop(why),
            }
        }
        if client > 0 {
            self.counts.client_recv.fetch_add(client, Ordering::Relaxed);
        }
        if server > 0 {
            self.counts.server_recv.fetch_add(server, Ordering::Relaxed);
        }
        self.journal.record_batch(batch);
    }

    /// Whether a message from `src` to `dest` is cut by the current grudge.
    pub fn partitioned(grudge: &Grudge, src: u32, dest: u32) -> bool {
        grudge.drops(src as usize, dest as usize)
    }

    /// Counts a line from `node` that was dropped, and logs the first
    /// [`BAD_OUTPUT_SHOWN`] of each node and class; the node keeps being
    /// read. Late replies are counted only.
    pub fn bad_output(&self, node: &str, class: &'static str, detail: String, line: &str) {
        let (count, example) = {
            let mut log = self.bad_output.lock().unwrap_or_else(|e| e.into_inner());
            let count = match log.counts.get_mut(node) {
                Some(classes) => classes.entry(class).or_default(),
                None => log
                    .counts
                    .entry(node.to_owned())
                    .or_default()
                    .entry(class)
                    .or_default(),
            };
            *count += 1;
            let count = *count;
            (
                count,
                count <= 4 && log.examples.len() < BAD_OUTPUT_EXAMPLES,
            )
        };
        let shown = count <= BAD_OUTPUT_SHOWN && class != LATE_REPLY;
        if !shown && !example {
            if count == BAD_OUTPUT_SHOWN + 1 && class != LATE_REPLY {
                self.events.warn(
                    node,
                    format!(
                        "{node}: more bad lines ({class}) are dropped; they are counted in \
                         results.json but no longer shown"
                    ),
                );
            }
            return;
        }
        const MAX_LINE: usize = 512;
        let mut text: String = line.chars().take(MAX_LINE).collect();
        if text.len() < line.len() {
            text.push('…');
        }
        if shown {
            self.events.warn(
                node,
                format!("{node}: dropped a bad line ({class}: {detail}): {text}"),
            );
        }
        if example {
            let mut log = self.bad_output.lock().unwrap_or_else(|e| e.into_inner());
            if log.examples.len() < BAD_OUTPUT_EXAMPLES {
                log.examples.push(BadOutput {
                    node: node.to_owned(),
                    time: self.now(),
                    class,
                    detail,
                    line: text,
                });
            }
        }
    }

    /// A reply from `node` reached `client` after it had given up waiting.
    pub fn late_reply(&self, node: &str, client: &str, line: &str) {
        self.bad_output(node, LATE_REPLY, format!("{client} had given up"), line);
    }

    /// Bad output so far: counts per class and per node, and examples.
    pub fn bad_output_summary(&self) -> BadOutputSummary {
        let log = self.bad_output.lock().unwrap_or_else(|e| e.into_inner());
        let mut summary = BadOutputSummary {
            examples: log.examples.clone(),
            ..Default::default()
        };
        for (node, classes) in &log.counts {
            for (class, n) in classes {
                *summary.by_class.entry(class.to_string()).or_default() += n;
                if *class != LATE_REPLY {
                    summary.protocol_errors += n;
                    *summary.by_node.entry(node.clone()).or_default() += n;
                    *summary
                        .by_node_and_class
                        .entry(node.clone())
                        .or_default()
                        .entry(class.to_string())
                        .or_default() += n;
                }
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

    /// What the network dropped, by reason and (for `inbox-full`) by
    /// destination; the limits; and how long the journal held the nodes'
    /// stdout back. For results.json's `net`.
    pub fn limit_figures(&self) -> Value {
        let dropped: serde_json::Map<String, Value> = DROP_REASONS
            .iter()
            .zip(&self.dropped)
            .map(|(why, n)| (why.to_string(), json!(n.load(Ordering::Relaxed))))
            .collect();
        let by_dest: serde_json::Map<String, Value> = self
            .lanes
            .iter()
            .enumerate()
            .filter_map(|(i, lane)| {
                let n = lane.overflowed.load(Ordering::Relaxed);
                (n > 0).then(|| (self.names[i].clone(), json!(n)))
            })
            .collect();
        let holds = self.journal.holds();
        json!({
            "dropped": dropped,
            "inbox-full-by-dest": by_dest,
            "limits": {
                "inbox-bytes": self.limits.inbox_bytes,
                "network-bytes": self.limits.network_bytes,
                "journal-behind-bytes": crate::journal::JOURNAL_HIGH_WATER,
                "journaled-inbox-full-per-dest": JOURNALED_OVERFLOWS,
            },
            "journal-holds": {
                "count": holds.count,
                "seconds": holds.total.as_secs_f64(),
            },
        })
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
    /// Protocol errors per node and class.
    pub by_node_and_class:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    type Fixture = (
        Arc<Net>,
        Vec<mpsc::UnboundedReceiver<Packet>>,
        Arc<gauntlet_events::Collect>,
        tempfile::TempDir,
    );

    fn net(limits: NetLimits) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _writer) = Journal::create(&dir.path().join("messages.jsonl")).unwrap();
        let endpoints = vec![
            ("n0".to_string(), Kind::Server),
            ("n1".to_string(), Kind::Server),
            ("c0".to_string(), Kind::Client),
        ];
        let seen = Arc::new(gauntlet_events::Collect::default());
        let events = Events::new(vec![seen.clone()]);
        let (net, rx) = Net::new(endpoints, Latency::ZERO, limits, journal, events);
        (net, rx, seen, dir)
    }

    fn warnings(seen: &gauntlet_events::Collect) -> Vec<String> {
        seen.events()
            .into_iter()
            .filter_map(|e| match e {
                gauntlet_events::Event::Warning { text, .. } => Some(text),
                _ => None,
            })
            .collect()
    }

    const BODY: &str = r#"{"type":"token"}"#;

    fn cost(net: &Net, src: u32, dest: u32) -> usize {
        let line = format!(
            r#"{{"id":0,"src":"{}","dest":"{}","body":{BODY}}}"#,
            net.name(src),
            net.name(dest)
        );
        line.len() + PACKET_OVERHEAD
    }

    /// Takes everything out of an inbox and gives it back to the network.
    fn drain(net: &Net, index: u32, rx: &mut mpsc::UnboundedReceiver<Packet>) -> usize {
        let mut taken = Taken::default();
        let mut n = 0;
        while let Ok(p) = rx.try_recv() {
            taken.add(&p);
            n += 1;
        }
        net.release(index, taken);
        n
    }

    #[test]
    fn a_full_inbox_drops_and_counts_until_it_is_read() {
        let one = 60 + PACKET_OVERHEAD; // a little more than one token
        let (net, mut rx, seen, _dir) = net(NetLimits {
            inbox_bytes: 4 * one,
            network_bytes: 100 * one,
        });
        assert!(cost(&net, 0, 1) <= one && 2 * cost(&net, 0, 1) > one);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10 {
            net.send(0, 1, BODY, &mut rng);
        }
        assert_eq!(net.dropped(INBOX_FULL), 6);
        assert_eq!(drain(&net, 1, &mut rx[1]), 4);
        // Read: room again.
        for _ in 0..4 {
            net.send(0, 1, BODY, &mut rng);
        }
        assert_eq!(net.dropped(INBOX_FULL), 6);
        assert_eq!(drain(&net, 1, &mut rx[1]), 4);
        let figures = net.limit_figures();
        assert_eq!(figures["dropped"]["inbox-full"], 6);
        assert_eq!(figures["inbox-full-by-dest"], json!({"n1": 6}));
        assert_eq!(net.held.load(Ordering::Relaxed), 0);
        assert_eq!(net.lanes[1].held.load(Ordering::Relaxed), 0);
        let told = warnings(&seen);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].starts_with("n1's inbox is full"), "{told:?}");
    }

    /// A flood into a full inbox: every drop counted, only the first
    /// [`JOURNALED_OVERFLOWS`] per destination written to the journal.
    #[test]
    fn drops_past_the_first_thousand_per_destination_are_counted_not_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        let (journal, writer) = Journal::create(&path).unwrap();
        let endpoints = vec![
            ("n0".to_string(), Kind::Server),
            ("n1".to_string(), Kind::Server),
        ];
        let events = Events::new(Vec::new());
        let one = 60 + PACKET_OVERHEAD;
        let limits = NetLimits {
            inbox_bytes: 4 * one,
            network_bytes: 100 * one,
        };
        let (net, _rx) = Net::new(endpoints, Latency::ZERO, limits, journal, events);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..2504 {
            net.send(0, 1, BODY, &mut rng);
            net.send(1, 0, BODY, &mut rng);
        }
        assert_eq!(net.dropped(INBOX_FULL), 2 * 2500);
        let figures = net.limit_figures();
        assert_eq!(
            figures["inbox-full-by-dest"],
            json!({"n0": 2500, "n1": 2500})
        );
        assert_eq!(
            figures["limits"]["journaled-inbox-full-per-dest"],
            JOURNALED_OVERFLOWS
        );
        net.journal().close();
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let dropped_to = |dest: &str| {
            text.lines()
                .filter(|l| l.contains(r#""dropped":"inbox-full""#))
                .filter(|l| l.contains(&format!(r#""dest":"{dest}""#)))
                .count() as u64
        };
        assert_eq!(dropped_to("n0"), JOURNALED_OVERFLOWS);
        assert_eq!(dropped_to("n1"), JOURNALED_OVERFLOWS);
    }

    #[test]
    fn a_full_network_drops_between_nodes_but_lets_clients_through() {
        let one = 60 + PACKET_OVERHEAD;
        let (net, mut rx, seen, _dir) = net(NetLimits {
            inbox_bytes: 4 * one,
            network_bytes: 5 * one,
        });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..4 {
            net.send(0, 1, BODY, &mut rng);
        }
        // n0's inbox is empty, but the network holds all it may.
        for _ in 0..4 {
            net.send(1, 0, BODY, &mut rng);
        }
        assert_eq!(net.dropped(INBOX_FULL), 3);
        // A client's request still reaches n0, and n0's reply the client.
        net.send(2, 0, BODY, &mut rng);
        net.send(0, 2, BODY, &mut rng);
        assert_eq!(net.dropped(INBOX_FULL), 3);
        assert_eq!(drain(&net, 0, &mut rx[0]), 2);
        assert_eq!(drain(&net, 2, &mut rx[2]), 1);
        assert_eq!(drain(&net, 1, &mut rx[1]), 4);
        assert_eq!(net.held.load(Ordering::Relaxed), 0);
        for lane in &net.lanes {
            assert_eq!(lane.held.load(Ordering::Relaxed), 0);
        }
        let told = warnings(&seen);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].starts_with("the network is full"), "{told:?}");
    }

    #[test]
    fn bad_lines_are_counted_per_node_and_class_and_shown_a_few_times() {
        let (net, _rx, seen, _dir) = net(NetLimits::default());
        for i in 0..25 {
            net.bad_output("n0", "not-json", "x".into(), &format!("line {i}"));
        }
        net.bad_output("n1", "unknown-dest", "x".into(), "line");
        let summary = net.bad_output_summary();
        assert_eq!(summary.protocol_errors, 26);
        assert_eq!(summary.by_node_and_class["n0"]["not-json"], 25);
        assert_eq!(summary.by_node_and_class["n1"]["unknown-dest"], 1);
        assert_eq!(summary.examples.len(), 5);
        let told = warnings(&seen);
        assert_eq!(told.len(), 10 + 1 + 1, "{told:?}");
        assert_eq!(told[9], "n0: dropped a bad line (not-json: x): line 9");
        assert!(told[10].contains("no longer shown"), "{told:?}");
        assert!(told[11].starts_with("n1: dropped a bad line"), "{told:?}");
        // Late replies are counted, never shown, and no protocol error.
        net.late_reply("n0", "c0", "line");
        assert_eq!(warnings(&seen).len(), 12);
        assert_eq!(net.bad_output_summary().protocol_errors, 26);
    }
}
