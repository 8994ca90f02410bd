//! Server nodes: a user's program as a child process, wired to the network.
//!
//! Each node has two tasks: a reader per incarnation that routes what the
//! program prints, and one delivery task for the node's whole life that
//! writes due messages to whichever incarnation is up. A kill detaches the
//! delivery task (messages to a dead node are dropped as `node-down`); a
//! restart attaches the new process's stdin.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gauntlet_node::{Backend, Node, NodeSpec};
use gauntlet_proto::{EnvelopeError, RawEnvelope};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, watch};

use crate::inbox::Inbox;
use crate::journal::Fate;
use crate::net::{MAX_MESSAGE_BYTES, Net};

/// A node that exited while nothing asked it to.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Crash {
    pub node: String,
    pub time: u64,
    pub exit: String,
    pub stderr_tail: Vec<String>,
}

enum Ctl {
    Attach(ChildStdin),
    Detach,
}

pub(crate) struct NodeSlot {
    pub index: u32,
    pub name: String,
    spec: NodeSpec,
    net: Arc<Net>,
    seed: u64,
    process: tokio::sync::Mutex<Option<Node>>,
    /// Where the program runs (one place to swap in another backend).
    backend: Arc<dyn Backend>,
    ctl: mpsc::UnboundedSender<Ctl>,
    incarnation: AtomicU64,
    /// Set while Gauntlet takes the node down on purpose.
    expected_down: AtomicBool,
    /// Set from its start until its `init` is answered (or not): an exit
    /// then fails the init, which reports it, instead of being a warning of
    /// its own.
    initializing: AtomicBool,
    crashes: Mutex<Vec<Crash>>,
    /// The incarnation that last exited on its own (0: none yet).
    exits: watch::Sender<u64>,
}

impl NodeSlot {
    /// Creates the slot and its delivery task; the process starts with [`NodeSlot::start`].
    pub fn new(
        index: u32,
        spec: NodeSpec,
        inbox: Inbox,
        net: Arc<Net>,
        seed: u64,
        backend: Arc<dyn Backend>,
    ) -> Arc<NodeSlot> {
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver(inbox, ctl_rx, net.clone()));
        Arc::new(NodeSlot {
            index,
            name: net.name(index).to_owned(),
            spec,
            net,
            seed,
            process: tokio::sync::Mutex::new(None),
            backend,
            ctl,
            incarnation: AtomicU64::new(0),
            expected_down: AtomicBool::new(false),
            initializing: AtomicBool::new(false),
            crashes: Mutex::new(Vec::new()),
            exits: watch::Sender::new(0),
        })
    }

    /// The running incarnation's number (1 for the first start).
    pub fn incarnation(&self) -> u64 {
        self.incarnation.load(Ordering::SeqCst)
    }

    /// Waits until incarnation `incarnation` (or a later one) exits on its
    /// own, and returns the crash report. Gauntlet's own kills do not count.
    pub async fn exited(&self, incarnation: u64) -> Option<Crash> {
        let mut rx = self.exits.subscribe();
        rx.wait_for(|last| *last >= incarnation).await.ok()?;
        self.crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
    }

    /// Its init is over, answered or not: from now on an exit is a crash
    /// of its own, warned about.
    pub fn init_over(&self) {
        self.initializing.store(false, Ordering::SeqCst);
    }

    /// Starts a fresh incarnation of the program.
    pub async fn start(self: &Arc<Self>) -> Result<(), String> {
        let mut guard = self.process.lock().await;
        let mut process = self
            .backend
            .spawn(&self.spec)
            .map_err(|e| format!("{}: {e}", self.name))?;
        let incarnation = self.incarnation.fetch_add(1, Ordering::SeqCst) + 1;
        self.expected_down.store(false, Ordering::SeqCst);
        // Until its init is answered: an exit before then fails the init.
        self.initializing.store(true, Ordering::SeqCst);
        let stdin = process.take_stdin().expect("stdin is piped");
        let stdout = process.take_stdout().expect("stdout is piped");
        let _ = self.ctl.send(Ctl::Attach(stdin));
        tokio::spawn(read_stdout(self.clone(), stdout, incarnation));
        *guard = Some(process);
        Ok(())
    }

    /// SIGKILLs the node and waits until it is gone.
    pub async fn kill(&self) {
        self.expected_down.store(true, Ordering::SeqCst);
        let mut guard = self.process.lock().await;
        if let Some(mut p) = guard.take() {
            let _ = p.kill();
            p.wait().await;
        }
        let _ = self.ctl.send(Ctl::Detach);
    }

    pub async fn pause(&self) {
        if let Some(p) = self.process.lock().await.as_ref() {
            let _ = p.pause();
        }
    }

    pub async fn resume(&self) {
        if let Some(p) = self.process.lock().await.as_ref() {
            let _ = p.resume();
        }
    }

    pub fn crashes(&self) -> Vec<Crash> {
        self.crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The program's stdout closed. Unless Gauntlet took it down, that is a
    /// crash: report it with the exit status and the last stderr lines, and
    /// let the run go on without the node.
    async fn stdout_closed(&self, incarnation: u64) {
        if self.incarnation.load(Ordering::SeqCst) != incarnation
            || self.expected_down.load(Ordering::SeqCst)
        {
            return;
        }
        let mut guard = self.process.lock().await;
        if self.incarnation.load(Ordering::SeqCst) != incarnation
            || self.expected_down.load(Ordering::SeqCst)
        {
            return;
        }
        let Some(mut p) = guard.take() else { return };
        let (exit, description) = match tokio::time::timeout(Duration::from_secs(2), p.wait()).await
        {
            Ok(exit) => {
                let d = exit.to_string();
                (exit, d)
            }
            Err(_) => {
                // It closed stdout but lives on: it can never answer again.
                let _ = p.kill();
                let exit = p.wait().await;
                (exit, "closed its stdout, so it was killed".to_string())
            }
        };
        let _ = self.ctl.send(Ctl::Detach);
        let crash = Crash {
            node: self.name.clone(),
            time: self.net.now(),
            exit: description,
            stderr_tail: exit.stderr_tail,
        };
        if !self.initializing.load(Ordering::SeqCst) {
            self.net.events().warn(
                &self.name,
                format!(
                    "node {} {} while the run went on; last stderr lines:\n{}",
                    self.name,
                    crash.exit,
                    indent(&crash.stderr_tail)
                ),
            );
        }
        self.crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(crash);
        self.exits.send_replace(incarnation);
    }
}

pub(crate) fn indent(lines: &[String]) -> String {
    if lines.is_empty() {
        return "    (none)".into();
    }
    lines
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fates a delivery task hands the journal at once, at most.
const RECORD_BATCH: usize = 256;

/// Writes due messages to the node's stdin, batching the flush and the
/// journal's records.
async fn deliver(mut inbox: Inbox, mut ctl: mpsc::UnboundedReceiver<Ctl>, net: Arc<Net>) {
    let mut stdin: Option<BufWriter<ChildStdin>> = None;
    let mut fates = Vec::new();
    loop {
        tokio::select! {
            biased;
            c = ctl.recv() => match c {
                Some(Ctl::Attach(s)) => stdin = Some(BufWriter::with_capacity(1 << 16, s)),
                Some(Ctl::Detach) => stdin = None,
                None => break,
            },
            p = inbox.next_due() => {
                let Some(mut p) = p else { break };
                loop {
                    fates.push(write_one(&mut stdin, p, &net).await);
                    // A node that keeps up can keep a batch going for good:
                    // its fates go to the journal as they pile up.
                    if fates.len() >= RECORD_BATCH {
                        net.record_batch(std::mem::take(&mut fates));
                    }
                    match inbox.try_next_due() {
                        Some(next) => p = next,
                        None => break,
                    }
                }
                net.record_batch(std::mem::take(&mut fates));
                if let Some(w) = stdin.as_mut()
                    && w.flush().await.is_err()
                {
                    stdin = None;
                }
            }
        }
    }
    inbox.drop_all("in-flight");
}

/// Writes one packet to the node's stdin; returns its fate, to be recorded.
async fn write_one(
    stdin: &mut Option<BufWriter<ChildStdin>>,
    p: crate::net::Packet,
    net: &Net,
) -> (crate::net::Packet, Fate) {
    let Some(w) = stdin.as_mut() else {
        return (p, Fate::Dropped("node-down"));
    };
    let ok = w.write_all(p.line.as_bytes()).await.is_ok() && w.write_all(b"\n").await.is_ok();
    if ok {
        (p, Fate::Delivered(net.now()))
    } else {
        *stdin = None;
        (p, Fate::Dropped("node-down"))
    }
}

/// Bytes a reader reads between two looks at the journal's backlog.
const JOURNAL_CHECK_BYTES: usize = 64 << 10;

/// Routes everything one incarnation prints.
async fn read_stdout(slot: Arc<NodeSlot>, stdout: ChildStdout, incarnation: u64) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut rng =
        ChaCha8Rng::seed_from_u64(slot.seed ^ ((slot.index as u64) << 20) ^ (incarnation << 44));
    let mut buf = Vec::with_capacity(1024);
    let mut unchecked = 0usize;
    loop {
        // While the journal is behind, stop reading: the node blocks on a
        // full pipe, as a sender does on a full socket. The journal's writer
        // needs no node, so this never waits on this node's own stdin.
        // Looked at every 64 KiB read, not on every line.
        if unchecked >= JOURNAL_CHECK_BYTES {
            unchecked = 0;
            if slot.net.journal().is_behind() {
                slot.net.journal().room().await;
            }
        }
        let line = read_line_capped(&mut reader, &mut buf, MAX_MESSAGE_BYTES).await;
        unchecked += buf.len() + 1;
        match line {
            Ok(Line::Complete) => route(&slot, &buf, &mut rng),
            // The end of a line cut short by Gauntlet's own kill is no
            // output of the node's; a node that exits on its own after an
            // unterminated line still sent it.
            Ok(Line::Unterminated) if slot.expected_down.load(Ordering::SeqCst) => break,
            Ok(Line::Unterminated) => route(&slot, &buf, &mut rng),
            Ok(Line::TooLong(len)) => slot.net.bad_output(
                &slot.name,
                "too-long",
                format!("a line of {len} bytes exceeds the {MAX_MESSAGE_BYTES}-byte message limit"),
                &String::from_utf8_lossy(&buf),
            ),
            Ok(Line::Eof) | Err(_) => break,
        }
    }
    slot.stdout_closed(incarnation).await;
}

fn route(slot: &NodeSlot, line: &[u8], rng: &mut ChaCha8Rng) {
    route_line(&slot.net, slot.index, &slot.name, line, rng);
}

/// Routes one line that node `index`, called `name`, printed.
fn route_line(net: &Net, index: u32, name: &str, line: &[u8], rng: &mut ChaCha8Rng) {
    let Ok(text) = std::str::from_utf8(line) else {
        net.bad_output(
            name,
            "not-json",
            "invalid UTF-8".into(),
            &String::from_utf8_lossy(line),
        );
        return;
    };
    let text = text.trim_end_matches('\r');
    if text.trim().is_empty() {
        return;
    }
    let env = match RawEnvelope::parse(text) {
        Ok(env) => env,
        Err(EnvelopeError::Json(e)) if e.is_syntax() || e.is_eof() => {
            net.bad_output(name, "not-json", e.to_string(), text);
            return;
        }
        Err(e) => {
            net.bad_output(name, "malformed", e.to_string(), text);
            return;
        }
    };
    let Some(dest) = net.lookup(&env.dest) else {
        net.bad_output(
            name,
            "unknown-dest",
            format!("no node or client named {:?}", env.dest),
            text,
        );
        return;
    };
    if env.src == name {
        net.send(index, dest, env.body.get(), rng);
        return;
    }
    // Maelstrom routes by `dest` and only asks that `src` name an endpoint:
    // its Python Raft demo forwards a client's request to the leader with
    // the client's `src`, so the leader's reply goes straight back to the
    // client. Such a message travels as one from `src`; a `src` that names
    // nothing is garbage.
    let Some(src) = net.lookup(&env.src) else {
        net.bad_output(
            name,
            "wrong-src",
            format!(
                "src {:?} names no node, client or service (this is {})",
                env.src, name
            ),
            text,
        );
        return;
    };
    net.forward(index, src, dest, env.body.get(), rng);
}

enum Line {
    Complete,
    /// The stream ended after these bytes, without a newline.
    Unterminated,
    TooLong(usize),
    Eof,
}

/// Reads one line into `buf` (without the newline). A line over `max` bytes
/// is consumed but not kept: `buf` holds its first `max` bytes.
async fn read_line_capped<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if total == 0 {
                Line::Eof
            } else if total > max {
                Line::TooLong(total)
            } else {
                Line::Unterminated
            });
        }
        let (take, done) = match memchr(chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        total += take;
        reader.consume(take + done as usize);
        if done {
            return Ok(if total > max {
                Line::TooLong(total)
            } else {
                Line::Complete
            });
        }
    }
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::net::{Kind, NetLimits, Packet};
    use gauntlet_events::Events;
    use serde_json::{Value, json};

    type Fixture = (
        Arc<Net>,
        Vec<mpsc::UnboundedReceiver<Packet>>,
        tempfile::TempDir,
    );

    fn net() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _writer) =
            crate::journal::Journal::create(&dir.path().join("messages.jsonl")).unwrap();
        let endpoints = ["n0", "n1", "lin-kv", "c0"].map(|n| {
            let kind = match n {
                "lin-kv" => Kind::Service,
                n if n.starts_with('c') => Kind::Client,
                _ => Kind::Server,
            };
            (n.to_string(), kind)
        });
        let (net, rx) = Net::new(
            endpoints.to_vec(),
            gauntlet_net::Latency::ZERO,
            NetLimits::default(),
            journal,
            Events::new(Vec::new()),
        );
        (net, rx, dir)
    }

    fn body(p: &Packet) -> Value {
        serde_json::from_str::<Value>(&p.line).unwrap()
    }

    /// Maelstrom's Python Raft demo: a follower (n1) forwards a client's
    /// request to the leader (n0) keeping the client's src; the leader's
    /// reply goes to the client, whose call gets it.
    #[tokio::test]
    async fn a_request_forwarded_with_the_clients_src_gets_its_reply() {
        let (net, mut rx, _dir) = net();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut client = Client::new(3, rx.pop().unwrap(), net.clone());
        let call = tokio::spawn(async move {
            client
                .call(1, json!({"type": "read", "key": 1}), Duration::from_secs(5))
                .await
        });
        // n1 gets the request and passes it on unchanged but for dest.
        let at_n1 = rx[1].recv().await.unwrap();
        let mut fwd = body(&at_n1);
        fwd["dest"] = json!("n0");
        fwd.as_object_mut().unwrap().remove("id");
        route_line(&net, 1, "n1", fwd.to_string().as_bytes(), &mut rng);
        let at_n0 = rx[0].recv().await.unwrap();
        assert_eq!(at_n0.src, 3, "it travels as the client's");
        assert_eq!(at_n0.via.as_deref(), Some("n1"), "the journal names n1");
        let req = body(&at_n0);
        assert_eq!(req["src"], "c0");
        let reply = json!({"src": "n0", "dest": req["src"], "body": {
            "type": "read_ok", "value": 7, "in_reply_to": req["body"]["msg_id"]}});
        route_line(&net, 0, "n0", reply.to_string().as_bytes(), &mut rng);
        let got = call
            .await
            .unwrap()
            .expect("the client gets the leader's reply");
        assert_eq!(got["value"], 7);
        assert_eq!(net.bad_output_summary().protocol_errors, 0);
    }

    /// A src that names no endpoint is still garbage: dropped and counted
    /// against the node that printed it. Its own name and any endpoint's
    /// (a node's, a service's) go through.
    #[tokio::test]
    async fn a_src_naming_no_endpoint_is_dropped_and_counted() {
        let (net, mut rx, _dir) = net();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for src in ["c9", "n7", "", "N0"] {
            let line = json!({"src": src, "dest": "n0", "body": {"type": "x"}}).to_string();
            route_line(&net, 1, "n1", line.as_bytes(), &mut rng);
        }
        assert!(rx[0].try_recv().is_err(), "nothing delivered");
        let summary = net.bad_output_summary();
        assert_eq!(summary.protocol_errors, 4);
        assert_eq!(summary.by_class["wrong-src"], 4);
        assert_eq!(summary.by_node["n1"], 4);
        for (src, index, via) in [
            ("n1", 1, None),
            ("n0", 0, Some("n1")),
            ("lin-kv", 2, Some("n1")),
        ] {
            let line = json!({"src": src, "dest": "n0", "body": {"type": "x"}}).to_string();
            route_line(&net, 1, "n1", line.as_bytes(), &mut rng);
            let p = rx[0].try_recv().expect("delivered");
            assert_eq!((p.src, p.via.as_deref()), (index, via), "{src}");
        }
        assert_eq!(net.bad_output_summary().protocol_errors, 4);
    }

    #[tokio::test]
    async fn lines_are_split_and_long_ones_capped() {
        let data = b"short\nabcdefghij\n\nlast".to_vec();
        let mut reader = BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            match read_line_capped(&mut reader, &mut buf, 6).await.unwrap() {
                Line::Complete => got.push(String::from_utf8(buf.clone()).unwrap()),
                Line::Unterminated => got.push(format!("cut: {}", String::from_utf8_lossy(&buf))),
                Line::TooLong(n) => {
                    got.push(format!("too long {n}: {}", String::from_utf8_lossy(&buf)))
                }
                Line::Eof => break,
            }
        }
        assert_eq!(got, vec!["short", "too long 10: abcdef", "", "cut: last"]);
    }
}
