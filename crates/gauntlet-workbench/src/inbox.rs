//! An endpoint's side of the network: messages wait here until due.

use std::sync::Arc;
use std::time::Duration;

use gauntlet_net::DeliveryQueue;
use tokio::sync::mpsc;

use crate::journal::Fate;
use crate::net::{Net, Packet, Taken};

/// Bytes of messages taken out of the inbox before the network is told
/// ([`Net::release`]): one update per batch, not per message.
const RELEASE_BATCH: usize = 64 << 10;

/// Yields the packets due at one endpoint, in delivery order, and records the
/// ones a partition drops at the moment they would have arrived.
pub(crate) struct Inbox {
    index: u32,
    rx: mpsc::UnboundedReceiver<Packet>,
    queue: DeliveryQueue<Packet>,
    net: Arc<Net>,
    closed: bool,
    /// Bytes of packets taken out and not yet given back to the network.
    taken: Taken,
}

impl Inbox {
    pub fn new(index: u32, rx: mpsc::UnboundedReceiver<Packet>, net: Arc<Net>) -> Inbox {
        Inbox {
            index,
            rx,
            queue: DeliveryQueue::new(),
            net,
            closed: false,
            taken: Taken::default(),
        }
    }

    /// The next due packet, without waiting.
    pub fn try_next_due(&mut self) -> Option<Packet> {
        loop {
            while let Ok(p) = self.rx.try_recv() {
                self.queue.push(p.deliver_at, p);
            }
            let Some(p) = self.queue.pop_due(self.net.now()) else {
                self.release();
                return None;
            };
            self.taken.add(&p);
            if self.taken.inbox >= RELEASE_BATCH {
                self.release();
            }
            if Net::partitioned(&self.net.grudge(), p.src, p.dest) {
                self.net.record(p, Fate::Dropped("partition"));
                continue;
            }
            return Some(p);
        }
    }

    /// Gives back to the network what the packets taken out held.
    fn release(&mut self) {
        self.net
            .release(self.index, std::mem::take(&mut self.taken));
    }

    /// Waits for the next due packet; `None` once the network is shut down
    /// and nothing is left. Cancel-safe: nothing is lost if the future is
    /// dropped at an await point.
    pub async fn next_due(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = self.try_next_due() {
                return Some(p);
            }
            let wait = self
                .queue
                .next_deadline()
                .map(|d| Duration::from_nanos(d.saturating_sub(self.net.now())));
            if self.closed && wait.is_none() {
                return None;
            }
            tokio::select! {
                p = self.rx.recv(), if !self.closed => match p {
                    Some(p) => self.queue.push(p.deliver_at, p),
                    None => self.closed = true,
                },
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
        }
    }

    /// Records everything still waiting as dropped for `why`.
    pub fn drop_all(&mut self, why: &'static str) {
        while let Ok(p) = self.rx.try_recv() {
            self.queue.push(p.deliver_at, p);
        }
        for p in self.queue.drain() {
            self.taken.add(&p);
            self.net.record(p, Fate::Dropped(why));
        }
        self.release();
    }
}
