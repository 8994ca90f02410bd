//! Hand-written histories for unit tests: ops get `index` = position and
//! `time` = position in ms unless `at` moves the clock.

use gauntlet_history::{Op, OpType, Process};
use serde_json::Value;

pub(crate) const MS: u64 = 1_000_000;

#[derive(Default)]
pub(crate) struct H {
    ops: Vec<Op>,
    next_ms: Option<u64>,
    last_ms: Option<u64>,
}

impl H {
    pub fn new() -> H {
        H::default()
    }

    /// Sets the clock (in ms) for the next op; later ops continue 1 ms apart.
    pub fn at(&mut self, ms: u64) -> &mut H {
        self.next_ms = Some(ms);
        self
    }

    fn push(&mut self, process: Process, kind: OpType, f: &str, value: Value) -> &mut H {
        let ms = match (self.next_ms, self.last_ms) {
            (Some(ms), _) => ms,
            (None, Some(prev)) => prev + 1,
            (None, None) => 0,
        };
        self.next_ms = None;
        self.last_ms = Some(ms);
        self.ops.push(Op {
            index: self.ops.len() as u64,
            time: Some(ms * MS),
            process,
            kind,
            f: f.to_owned(),
            key: None,
            value,
            error: None,
            is_final: false,
        });
        self
    }

    pub fn inv(&mut self, p: u64, f: &str, v: Value) -> &mut H {
        self.push(Process::Client(p), OpType::Invoke, f, v)
    }
    pub fn ok(&mut self, p: u64, f: &str, v: Value) -> &mut H {
        self.push(Process::Client(p), OpType::Ok, f, v)
    }
    pub fn fail(&mut self, p: u64, f: &str, v: Value) -> &mut H {
        self.push(Process::Client(p), OpType::Fail, f, v)
    }
    pub fn info(&mut self, p: u64, f: &str, v: Value) -> &mut H {
        self.push(Process::Client(p), OpType::Info, f, v)
    }
    pub fn nemesis(&mut self, f: &str, v: Value) -> &mut H {
        self.push(Process::Nemesis, OpType::Info, f, v)
    }
    /// Marks the last op as part of the final phase.
    pub fn fin(&mut self) -> &mut H {
        self.ops.last_mut().unwrap().is_final = true;
        self
    }
    /// Drops the time of the last op.
    pub fn untimed(&mut self) -> &mut H {
        self.ops.last_mut().unwrap().time = None;
        self
    }
    pub fn build(&mut self) -> Vec<Op> {
        self.last_ms = None;
        std::mem::take(&mut self.ops)
    }
}
