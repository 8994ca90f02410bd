//! `messages.jsonl`: every network message with its send and delivery time,
//! or the reason it was dropped.
//!
//! Records go through a channel to one writer thread, so the routing path
//! never waits on the disk.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::net::Packet;

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Delivered at this time (ns since start).
    Delivered(u64),
    /// Dropped, and why: `partition`, `node-down`, `in-flight` at the end, ...
    Dropped(&'static str),
}

enum Entry {
    Message {
        packet: Packet,
        fate: Fate,
    },
    /// Flush and stop: the run is over, later records are not kept.
    Close,
}

/// The handle senders use; cheap to call from any task.
pub(crate) struct Journal {
    tx: mpsc::Sender<Entry>,
}

/// The writer side, to be finished when the run ends.
pub(crate) struct JournalWriter {
    thread: JoinHandle<std::io::Result<u64>>,
}

impl Journal {
    pub fn create(path: &Path) -> std::io::Result<(Journal, JournalWriter)> {
        let file = File::create(path)?;
        let (tx, rx) = mpsc::channel::<Entry>();
        let thread = std::thread::Builder::new()
            .name("gauntlet-journal".into())
            .spawn(move || write_all(rx, BufWriter::with_capacity(1 << 16, file)))?;
        Ok((Journal { tx }, JournalWriter { thread }))
    }

    pub fn record(&self, packet: Packet, fate: Fate) {
        // A send fails only after the writer stopped, when nothing is left to record.
        let _ = self.tx.send(Entry::Message { packet, fate });
    }

    /// Ends the journal; records sent after this are ignored.
    pub fn close(&self) {
        let _ = self.tx.send(Entry::Close);
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

fn write_all(rx: mpsc::Receiver<Entry>, mut out: BufWriter<File>) -> std::io::Result<u64> {
    let mut n = 0;
    for entry in rx {
        let Entry::Message { packet, fate } = entry else {
            break;
        };
        match fate {
            Fate::Delivered(at) => write!(
                out,
                "{{\"sent\":{},\"delivered\":{},\"message\":{}}}",
                packet.sent, at, packet.line
            )?,
            Fate::Dropped(why) => write!(
                out,
                "{{\"sent\":{},\"dropped\":\"{}\",\"message\":{}}}",
                packet.sent, why, packet.line
            )?,
        }
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}
