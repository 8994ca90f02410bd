//! Clients: synchronous RPC endpoints (`c0`, `c1`, ...), one request at a time.

use std::sync::Arc;
use std::time::Duration;

use gauntlet_proto::Envelope;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::journal::Fate;
use crate::net::{Net, Packet, Taken};

pub(crate) struct Client {
    pub index: u32,
    inbox: mpsc::UnboundedReceiver<Packet>,
    net: Arc<Net>,
    next_msg_id: u64,
    // Client traffic has no latency, so this is never drawn from; `send`
    // takes one for server traffic.
    rng: ChaCha8Rng,
}

impl Client {
    pub fn new(index: u32, inbox: mpsc::UnboundedReceiver<Packet>, net: Arc<Net>) -> Client {
        Client {
            index,
            inbox,
            net,
            next_msg_id: 0,
            rng: ChaCha8Rng::seed_from_u64(index as u64),
        }
    }

    pub fn name(&self) -> &str {
        self.net.name(self.index)
    }

    /// Sends `body` to `dest` and waits up to `timeout` for the reply whose
    /// `in_reply_to` matches. Other messages that arrive meanwhile are late
    /// replies to requests this client already gave up on: they are counted
    /// and dropped, as Maelstrom's clients do. `None` on timeout.
    pub async fn call(&mut self, dest: u32, mut body: Value, timeout: Duration) -> Option<Value> {
        self.next_msg_id += 1;
        let msg_id = self.next_msg_id;
        if let Value::Object(m) = &mut body {
            m.insert("msg_id".into(), msg_id.into());
        }
        let text = body.to_string();
        self.net.send(self.index, dest, &text, &mut self.rng);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let packet = match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(p)) => p,
                Ok(None) | Err(_) => return None,
            };
            if let Some(reply) = self.accept(packet, msg_id) {
                return Some(reply);
            }
        }
    }

    /// Records a delivered packet; returns its body if it answers `msg_id`.
    fn accept(&self, packet: Packet, msg_id: u64) -> Option<Value> {
        let at = self.net.now();
        let mut taken = Taken::default();
        taken.add(&packet);
        self.net.release(self.index, taken);
        let parsed: Option<Envelope> = serde_json::from_str(&packet.line).ok();
        let src = self.net.name(packet.src).to_owned();
        let line = packet.line.clone();
        self.net.record(packet, Fate::Delivered(at));
        let env = parsed?;
        if env.in_reply_to() == Some(msg_id) {
            Some(env.body)
        } else {
            self.net.late_reply(&src, self.name(), &line);
            None
        }
    }

    /// Counts whatever arrived after the client stopped calling.
    pub fn drain(&mut self) {
        while let Ok(p) = self.inbox.try_recv() {
            let _ = self.accept(p, 0);
        }
    }
}
