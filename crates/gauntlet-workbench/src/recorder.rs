//! The history as the run makes it: ops are stamped and numbered under one
//! lock, so the file's order is the real-time order.

use std::sync::{Arc, Mutex};

use gauntlet_history::Op;

use crate::net::Net;

#[derive(Clone)]
pub(crate) struct Recorder {
    ops: Arc<Mutex<Vec<Op>>>,
    net: Arc<Net>,
}

impl Recorder {
    pub fn new(net: Arc<Net>) -> Recorder {
        Recorder {
            ops: Arc::default(),
            net,
        }
    }

    /// Appends `op`, stamped with the current time and the next index.
    pub fn record(&self, mut op: Op) -> Op {
        let mut ops = self.ops.lock().expect("history lock");
        op.time = Some(self.net.now());
        op.index = ops.len() as u64;
        ops.push(op.clone());
        op
    }

    pub fn take(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.lock().expect("history lock"))
    }
}
