//! The one recorder every client records through: it stamps each op with
//! the time since the run's start and the next index under one lock, so
//! the history's order is the real-time order, whatever the client
//! (Maelstrom RPC in the workbench, a soak's HTTP steps or JSON-lines
//! programs). It keeps the ops in memory (the workbench's checkers read
//! them) or streams them to a JSONL file (a soak of hours keeps nothing).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::{HistoryWriter, Op};

/// A shared handle: clone it into every client task.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    inner: Arc<Mutex<Inner>>,
    /// Told every op as recorded, in order (the run's `op` events).
    observer: Option<Observer>,
}

/// What a recorder tells each op to: quick, it runs under the lock that
/// keeps the history's order.
pub type Observer = Arc<dyn Fn(&Op) + Send + Sync>;

enum Sink {
    Memory(Vec<Op>),
    File(HistoryWriter),
}

struct Inner {
    next: u64,
    sink: Sink,
    /// The first write error of a file sink (the run goes on; the caller
    /// learns it from [`Recorder::finish`]).
    error: Option<std::io::Error>,
}

impl Recorder {
    /// Keeps the ops in memory; times count from `start`.
    pub fn in_memory(start: Instant) -> Recorder {
        Recorder::with(start, Sink::Memory(Vec::new()))
    }

    /// Streams the ops to `path` (created afresh) and keeps none.
    pub fn to_file(start: Instant, path: &Path) -> std::io::Result<Recorder> {
        Ok(Recorder::with(
            start,
            Sink::File(HistoryWriter::create(path)?),
        ))
    }

    fn with(start: Instant, sink: Sink) -> Recorder {
        Recorder {
            start,
            inner: Arc::new(Mutex::new(Inner {
                next: 0,
                sink,
                error: None,
            })),
            observer: None,
        }
    }

    /// The same recorder, telling every op it records to `observer` (set
    /// it before cloning the recorder into the clients).
    pub fn observed(mut self, observer: Observer) -> Recorder {
        self.observer = Some(observer);
        self
    }

    /// Nanoseconds since the run's start: the history's clock.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Appends `op`, stamped with the current time and the next index, and
    /// returns it as recorded.
    pub fn record(&self, mut op: Op) -> Op {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        op.time = Some(self.now());
        let Inner { next, sink, error } = &mut *inner;
        match sink {
            Sink::Memory(ops) => {
                op.index = *next;
                ops.push(op.clone());
            }
            Sink::File(writer) => {
                if let Err(e) = writer.append(&mut op)
                    && error.is_none()
                {
                    *error = Some(e);
                }
            }
        }
        *next += 1;
        if let Some(observer) = &self.observer {
            observer(&op);
        }
        op
    }

    /// The ops kept in memory so far (none for a file sink), leaving it
    /// empty.
    pub fn take(&self) -> Vec<Op> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match &mut inner.sink {
            Sink::Memory(ops) => std::mem::take(ops),
            Sink::File(_) => Vec::new(),
        }
    }

    /// Flushes a file sink; the first error writing it, if any.
    pub fn finish(&self) -> std::io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        match &mut inner.sink {
            Sink::File(writer) => writer.flush(),
            Sink::Memory(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpType, read_jsonl};
    use serde_json::json;

    #[test]
    fn ops_are_stamped_and_numbered_in_real_time_order() {
        let r = Recorder::in_memory(Instant::now());
        let a = r.record(Op::invoke(0, "write", json!(1)));
        let b = r.record(a.complete(OpType::Ok, json!(1)));
        assert_eq!((a.index, b.index), (0, 1));
        assert!(b.time >= a.time);
        assert_eq!(r.take().len(), 2);
    }

    #[test]
    fn a_file_sink_streams_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::to_file(Instant::now(), &path).unwrap();
        let a = r.record(Op::invoke(3, "write", json!("v")));
        r.record(a.complete(OpType::Info, json!("v")));
        assert!(r.take().is_empty());
        r.finish().unwrap();
        let ops = read_jsonl(&path).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].kind, OpType::Info);
        assert_eq!(ops[1].index, 1);
    }
}
