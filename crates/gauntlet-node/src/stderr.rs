//! Copies a node's stderr, line by line, into its log file, a ring buffer of
//! the last lines (for crash reports) and optionally the caller's
//! [`LineSink`]. The library never prints: where echoed lines are shown is
//! the caller's business (the CLI prints them through its output module).
//!
//! The copier is a tokio task, not a thread per node: a thread per node made
//! every later `fork` copy one more stack mapping, so spawning 1,000 nodes
//! slowed to 35 a second. The log write is a plain `write(2)` into the page
//! cache, small enough to do on the runtime.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::process::ChildStderr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::capped::CappedLog;
use tokio::sync::watch;

/// Lines longer than this are cut in the tail and the echo (the log file
/// gets every byte, up to its limit), so a node printing a 10 MB line without a
/// newline cannot balloon gauntlet's memory.
const MAX_LINE: usize = 16 * 1024;

/// How long the copier keeps draining after the node's group is dead. Only a
/// process that escaped the group (`setsid`) and inherited stderr can hold
/// the pipe open past that; we stop reading rather than wait for it forever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How often an idle copier looks at whether the node is gone.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// Takes each line of a node's stderr as it arrives
/// ([`NodeSpec::echo_stderr`](crate::NodeSpec::echo_stderr)): called on the
/// runtime, so it must not block for long.
#[derive(Clone)]
pub struct LineSink(Arc<dyn Fn(&str) + Send + Sync>);

impl LineSink {
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> LineSink {
        LineSink(Arc::new(f))
    }

    /// Hands one line to the sink (a backend that copies a node's output
    /// itself, such as a container's).
    pub fn send(&self, line: &str) {
        (self.0)(line)
    }
}

impl fmt::Debug for LineSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LineSink(..)")
    }
}

/// Two sinks are equal when they are the same function (clones of one).
impl PartialEq for LineSink {
    fn eq(&self, other: &LineSink) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LineSink {}

/// The last lines a node wrote, at most a capacity of them, oldest
/// first: what a crash report shows. Shared between the copier that
/// pushes and the handle that reads.
#[derive(Debug)]
pub struct LineTail {
    lines: Mutex<VecDeque<String>>,
    capacity: usize,
}

impl LineTail {
    /// Keeps the last `capacity` lines (none when 0).
    pub fn new(capacity: usize) -> LineTail {
        LineTail {
            lines: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
        }
    }

    /// Adds a line, dropping the oldest when full.
    pub fn push(&self, line: String) {
        if self.capacity == 0 {
            return;
        }
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// State shared between a [`NodeProcess`](crate::NodeProcess) and its copier.
pub(crate) struct StderrShared {
    tail: LineTail,
    /// Set once the node's leader has been reaped (and its group killed).
    leader_gone: AtomicBool,
    /// Bytes read from the pipe so far.
    bytes: AtomicU64,
}

impl StderrShared {
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.lines()
    }

    /// Every byte the node wrote to stderr, whether or not its log kept it.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(SeqCst)
    }

    pub(crate) fn leader_gone(&self) {
        self.leader_gone.store(true, SeqCst);
    }

    fn push(&self, line: String) {
        self.tail.push(line);
    }
}

pub(crate) struct Copier {
    pub shared: Arc<StderrShared>,
    /// Becomes `true` when the copier has finished (EOF or grace expired).
    pub done: watch::Receiver<bool>,
}

/// Starts the copier task for a node's stderr; call it inside the runtime.
pub(crate) fn start(
    stderr: ChildStderr,
    log: Option<CappedLog>,
    separator: Option<String>,
    capacity: usize,
    echo: Option<LineSink>,
) -> io::Result<Copier> {
    let shared = Arc::new(StderrShared {
        tail: LineTail::new(capacity),
        leader_gone: AtomicBool::new(false),
        bytes: AtomicU64::new(0),
    });
    let (done_tx, done) = watch::channel(false);
    let task_shared = Arc::clone(&shared);
    let stderr = tokio::process::ChildStderr::from_std(stderr)?;
    tokio::spawn(async move {
        copy(stderr, log, separator, echo, &task_shared).await;
        let _ = done_tx.send(true);
    });
    Ok(Copier { shared, done })
}

async fn copy(
    mut stderr: tokio::process::ChildStderr,
    mut log: Option<CappedLog>,
    separator: Option<String>,
    echo: Option<LineSink>,
    shared: &StderrShared,
) {
    if let (Some(log), Some(separator)) = (log.as_mut(), separator) {
        // A log that already has content belongs to an earlier incarnation
        // of this node: mark where the restart begins.
        if !log.is_empty() && !log.is_full() {
            let _ = log.write(separator.as_bytes());
        }
    }
    let mut line = LineBuf::default();
    let mut buf = vec![0u8; 8192];
    let mut gone_since: Option<Instant> = None;
    loop {
        let read = tokio::time::timeout(POLL_EVERY, stderr.read(&mut buf)).await;
        let n = match read {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(_)) => break,
            Err(_idle) => {
                // Stop when the node's group has been gone for the grace
                // period and something outside it still holds the pipe.
                if shared.leader_gone.load(SeqCst) {
                    let since = *gone_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= DRAIN_GRACE {
                        break;
                    }
                }
                continue;
            }
        };
        let chunk = &buf[..n];
        shared.bytes.fetch_add(n as u64, SeqCst);
        if let Some(file) = log.as_mut()
            && file.write(chunk).is_err()
        {
            // Disk full or similar: keep the tail and the echo going.
            log = None;
        }
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let (bytes, ends) = match piece.split_last() {
                Some((b'\n', rest)) => (rest, true),
                _ => (piece, false),
            };
            line.extend(bytes);
            if ends {
                emit(line.take(), &echo, shared);
            }
        }
    }
    if !line.is_empty() {
        emit(line.take(), &echo, shared);
    }
    if let Some(log) = log {
        log.finish();
    }
}

fn emit(line: String, echo: &Option<LineSink>, shared: &StderrShared) {
    if let Some(sink) = echo {
        (sink.0)(&line);
    }
    shared.push(line);
}

/// One line being assembled, capped at [`MAX_LINE`] bytes.
#[derive(Default)]
struct LineBuf {
    bytes: Vec<u8>,
    truncated: bool,
}

impl LineBuf {
    fn extend(&mut self, more: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.bytes.len());
        if more.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&more[..more.len().min(room)]);
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && !self.truncated
    }

    fn take(&mut self) -> String {
        let mut bytes = std::mem::take(&mut self.bytes);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let mut line = String::from_utf8_lossy(&bytes).into_owned();
        if std::mem::take(&mut self.truncated) {
            line.push_str(" [line truncated]");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_capped_and_marked() {
        let mut line = LineBuf::default();
        line.extend(&vec![b'x'; MAX_LINE - 1]);
        line.extend(b"yz");
        let text = line.take();
        assert!(
            text.ends_with("y [line truncated]"),
            "{}",
            &text[text.len() - 30..]
        );
        assert!(line.is_empty());
    }

    #[test]
    fn invalid_utf8_and_crlf_are_tolerated() {
        let mut line = LineBuf::default();
        line.extend(b"caf\xff\r");
        assert_eq!(line.take(), "caf\u{fffd}");
    }
}
