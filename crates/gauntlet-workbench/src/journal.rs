//! `messages.jsonl`: every network message with its send and delivery time,
//! or the reason it was dropped.
//!
//! Records go through a channel to one writer thread, so the routing path
//! never waits on the disk. The channel is bounded by what waits in it:
//! [`Journal::is_behind`] turns true once [`JOURNAL_HIGH_WATER`] bytes of
//! records wait, and the nodes' stdout readers then stop reading until the
//! writer is down to [`JOURNAL_LOW_WATER`] ([`Journal::room`]). That is
//! back-pressure on whoever prints messages faster than the disk takes
//! their records, and it cannot deadlock: the writer drains the channel
//! whatever any node does. Records that do not come from a node's stdout
//! (deliveries, drops, replies of services and clients) are never held
//! back; there are never more of them than messages the network holds,
//! which the inboxes bound.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::net::Packet;

/// Bytes of records waiting for the writer at which readers stop reading
/// the nodes' stdout.
pub(crate) const JOURNAL_HIGH_WATER: usize = 16 << 20;
/// Readers held back go on once the writer is down to this.
pub(crate) const JOURNAL_LOW_WATER: usize = 8 << 20;

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Delivered at this time (ns since start).
    Delivered(u64),
    /// Dropped, and why: `partition`, `node-down`, `in-flight` at the end,
    /// `inbox-full`, ...
    Dropped(&'static str),
}

enum Entry {
    Message {
        packet: Packet,
        fate: Fate,
    },
    /// Several messages at once: one channel operation for a delivery
    /// task's whole batch.
    Batch(Vec<(Packet, Fate)>),
    /// Flush and stop: the run is over, later records are not kept.
    Close,
}

/// How far the writer is behind, shared by the senders and the writer.
#[derive(Default)]
struct Gauge {
    /// Bytes of records sent and not yet written ([`Packet::cost`]).
    pending: AtomicUsize,
    /// Readers waiting for room.
    waiters: AtomicUsize,
    /// The writer has stopped (closed, or the disk failed): nobody waits
    /// for it any more.
    stopped: AtomicBool,
    notify: Notify,
    /// Times a reader was held back, and for how long in all.
    holds: AtomicU64,
    held_ns: AtomicU64,
}

impl Gauge {
    fn is_behind(&self) -> bool {
        self.pending.load(Ordering::SeqCst) > JOURNAL_HIGH_WATER
            && !self.stopped.load(Ordering::SeqCst)
    }

    /// The writer wrote `bytes` of records (or stopped): wakes the readers
    /// held back once it is down to the low-water mark.
    fn written(&self, bytes: usize) {
        let left = self.pending.fetch_sub(bytes, Ordering::SeqCst) - bytes;
        if left <= JOURNAL_LOW_WATER && self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// The handle senders use; cheap to call from any task.
pub(crate) struct Journal {
    tx: mpsc::Sender<Entry>,
    gauge: Arc<Gauge>,
}

/// The writer side, to be finished when the run ends.
pub(crate) struct JournalWriter {
    thread: JoinHandle<std::io::Result<u64>>,
}

/// How much the journal held the nodes' stdout back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Holds {
    pub count: u64,
    pub total: Duration,
}

impl Journal {
    pub fn create(path: &Path) -> std::io::Result<(Journal, JournalWriter)> {
        let file = File::create(path)?;
        let (tx, rx) = mpsc::channel::<Entry>();
        let gauge = Arc::new(Gauge::default());
        let writer_gauge = gauge.clone();
        let thread = std::thread::Builder::new()
            .name("gauntlet-journal".into())
            .spawn(move || {
                let result = write_all(rx, BufWriter::with_capacity(1 << 16, file), &writer_gauge);
                // Whatever ended it, nobody may wait for it any more.
                writer_gauge.stop();
                result
            })?;
        Ok((Journal { tx, gauge }, JournalWriter { thread }))
    }

    pub fn record(&self, packet: Packet, fate: Fate) {
        self.gauge
            .pending
            .fetch_add(packet.cost(), Ordering::Relaxed);
        // A send fails only after the writer stopped, when nothing is left to record.
        let _ = self.tx.send(Entry::Message { packet, fate });
    }

    /// Records a batch of messages' fates with one channel operation.
    pub fn record_batch(&self, batch: Vec<(Packet, Fate)>) {
        if batch.is_empty() {
            return;
        }
        let cost: usize = batch.iter().map(|(p, _)| p.cost()).sum();
        self.gauge.pending.fetch_add(cost, Ordering::Relaxed);
        let _ = self.tx.send(Entry::Batch(batch));
    }

    /// Ends the journal; records sent after this are ignored.
    pub fn close(&self) {
        let _ = self.tx.send(Entry::Close);
    }

    /// More records wait than the high-water mark: whoever prints new
    /// messages should wait for [`Journal::room`] first.
    pub fn is_behind(&self) -> bool {
        self.gauge.is_behind()
    }

    /// Waits until the writer is down to the low-water mark (or stopped),
    /// and counts the wait. Returns at once when the journal is not behind.
    pub async fn room(&self) {
        let gauge = &*self.gauge;
        if !gauge.is_behind() {
            return;
        }
        let started = Instant::now();
        let waiting = || {
            gauge.pending.load(Ordering::SeqCst) > JOURNAL_LOW_WATER
                && !gauge.stopped.load(Ordering::SeqCst)
        };
        while waiting() {
            let notified = gauge.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            gauge.waiters.fetch_add(1, Ordering::SeqCst);
            // Checked again after registering, so a wake-up between the
            // first check and the registration is not lost.
            if waiting() {
                notified.await;
            }
            gauge.waiters.fetch_sub(1, Ordering::SeqCst);
        }
        gauge.holds.fetch_add(1, Ordering::Relaxed);
        gauge
            .held_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// How often and how long readers were held back so far.
    pub fn holds(&self) -> Holds {
        Holds {
            count: self.gauge.holds.load(Ordering::Relaxed),
            total: Duration::from_nanos(self.gauge.held_ns.load(Ordering::Relaxed)),
        }
    }
}

impl JournalWriter {
    /// Waits until every record sent before [`Journal::close`] is on disk;
    /// returns how many were written.
    pub fn finish(self) -> std::io::Result<u64> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("journal writer panicked")))
    }
}

/// Records written between two updates of the gauge.
const BATCH: usize = 1024;

fn write_all(
    rx: mpsc::Receiver<Entry>,
    mut out: BufWriter<File>,
    gauge: &Gauge,
) -> std::io::Result<u64> {
    let mut n = 0;
    'run: while let Ok(mut entry) = rx.recv() {
        let mut written = 0usize;
        for batch in 1.. {
            match entry {
                Entry::Message { packet, fate } => {
                    write_one(&mut out, &packet, fate)?;
                    written += packet.cost();
                    n += 1;
                }
                Entry::Batch(records) => {
                    for (packet, fate) in &records {
                        write_one(&mut out, packet, *fate)?;
                        written += packet.cost();
                    }
                    n += records.len() as u64;
                }
                Entry::Close => {
                    gauge.written(written);
                    break 'run;
                }
            }
            if batch == BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(next) => entry = next,
                Err(_) => break,
            }
        }
        gauge.written(written);
    }
    out.flush()?;
    Ok(n)
}

fn write_one(out: &mut BufWriter<File>, packet: &Packet, fate: Fate) -> std::io::Result<()> {
    // Node names are letters, digits and dashes, but the one a record
    // names is quoted as JSON all the same.
    if let Some(via) = &packet.via {
        write!(
            out,
            "{{\"via\":{},",
            serde_json::to_string(via.as_ref()).map_err(std::io::Error::other)?
        )?;
    } else {
        out.write_all(b"{")?;
    }
    match fate {
        Fate::Delivered(at) => write!(
            out,
            "\"sent\":{},\"delivered\":{},\"message\":{}}}",
            packet.sent, at, packet.line
        )?,
        Fate::Dropped(why) => write!(
            out,
            "\"sent\":{},\"dropped\":\"{}\",\"message\":{}}}",
            packet.sent, why, packet.line
        )?,
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal whose writer is behind, with a reader waiting for room.
    async fn behind_with_a_waiter() -> (Arc<Journal>, tokio::task::JoinHandle<()>) {
        let (tx, _rx) = mpsc::channel();
        let gauge = Gauge::default();
        gauge
            .pending
            .store(JOURNAL_HIGH_WATER + 1, Ordering::SeqCst);
        let journal = Arc::new(Journal {
            tx,
            gauge: Arc::new(gauge),
        });
        assert!(journal.is_behind());
        let waiting = tokio::spawn({
            let journal = journal.clone();
            async move { journal.room().await }
        });
        while journal.gauge.waiters.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        (journal, waiting)
    }

    #[tokio::test]
    async fn a_reader_held_back_goes_on_once_the_writer_is_down_to_the_low_water_mark() {
        let (journal, waiting) = behind_with_a_waiter().await;
        // Below the high-water mark but above the low: it waits on.
        journal
            .gauge
            .written(JOURNAL_HIGH_WATER - JOURNAL_LOW_WATER);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        journal.gauge.written(2);
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the reader goes on")
            .unwrap();
        assert_eq!(journal.holds().count, 1);
    }

    #[tokio::test]
    async fn a_stopped_writer_holds_nobody_back() {
        let (journal, waiting) = behind_with_a_waiter().await;
        journal.gauge.stop();
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the reader goes on")
            .unwrap();
        assert!(!journal.is_behind());
    }

    #[test]
    fn the_writer_writes_every_record_and_counts_them_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        let (journal, writer) = Journal::create(&path).unwrap();
        for i in 0..5000u64 {
            let packet = Packet {
                src: 0,
                dest: 1,
                sent: i,
                deliver_at: i,
                line: format!("{{\"id\":{i}}}"),
                shared: true,
                via: (i == 7).then(|| "n3".into()),
            };
            let fate = if i % 2 == 0 {
                Fate::Delivered(i + 1)
            } else {
                Fate::Dropped("partition")
            };
            journal.record(packet, fate);
        }
        journal.close();
        assert_eq!(writer.finish().unwrap(), 5000);
        assert_eq!(journal.gauge.pending.load(Ordering::SeqCst), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5000);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            r#"{"sent":1,"dropped":"partition","message":{"id":1}}"#
        );
        // A message a node sent with another endpoint's src names the node.
        assert_eq!(
            text.lines().nth(7).unwrap(),
            r#"{"via":"n3","sent":7,"dropped":"partition","message":{"id":7}}"#
        );
    }
}
