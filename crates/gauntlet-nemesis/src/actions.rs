//! Carrying out a [`Nemesis`](crate::Nemesis)'s actions: each one through
//! the executor that handles its fault, logged in the run's [`FaultLog`],
//! and its heal closing the fault it heals. The workbench (simulated
//! network, Maelstrom nodes) and a cluster test (services on lab hosts,
//! the lab's network) differ only in the executors they pass.

use std::collections::HashMap;
use std::sync::Mutex;

use gauntlet_events::{Event, Subscriber};
use gauntlet_history::{Op, Recorder};
use serde_json::json;

use crate::{Action, FaultError, FaultExecutor, FaultId, FaultLog, executor_for};

/// A nemesis's actions as a run carries them out.
#[derive(Debug)]
pub struct NemesisActions {
    log: FaultLog,
    /// The fault each kind has active, to heal it by its id.
    active: Mutex<HashMap<&'static str, FaultId>>,
}

impl NemesisActions {
    pub fn new(log: FaultLog) -> NemesisActions {
        NemesisActions {
            log,
            active: Mutex::new(HashMap::new()),
        }
    }

    pub fn log(&self) -> &FaultLog {
        &self.log
    }

    /// Carries out `action` on `targets` (the names of the nodes it
    /// acts on, in the action's order) through the first of `executors`
    /// that handles its fault, and logs it at the time `now_ms` gives
    /// once the executor answered. A failed executor is logged with its
    /// errors as the op's value: the fault window stays, and the history
    /// says what went wrong.
    pub async fn perform(
        &self,
        action: &Action,
        targets: &[String],
        executors: &[&dyn FaultExecutor],
        now_ms: impl Fn() -> u64,
    ) {
        let (fault, _) = action.fault();
        let Ok(executor) = executor_for(executors, &fault) else {
            // A fault nobody carries out is not logged as if it happened.
            return;
        };
        let failed = |e: FaultError| {
            let errors = match e {
                FaultError::Targets { errors } => errors,
                e => vec![e.to_string()],
            };
            json!({"nodes": targets, "errors": errors})
        };
        if action.is_heal() {
            let value = executor.heal(&fault, targets).await.unwrap_or_else(failed);
            let id = self
                .active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(fault.kind());
            self.log
                .healed(now_ms(), id.unwrap_or_default(), &fault, value);
        } else {
            let value = executor
                .inject(&fault, targets)
                .await
                .unwrap_or_else(failed);
            let id = self
                .log
                .started(now_ms(), fault.kind(), &fault, targets, value);
            self.active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(fault.kind(), id);
        }
    }
}

/// Turns the fault log's events into the history's `nemesis` ops, so
/// every fault and heal is an op beside the clients' (subscribe it to
/// the events the run's [`FaultLog`] emits).
pub struct NemesisOps {
    pub recorder: Recorder,
}

impl Subscriber for NemesisOps {
    /// Only faults become nemesis ops.
    fn wants_streams(&self) -> bool {
        false
    }

    fn on_event(&self, event: &Event) {
        let (f, value) = match event {
            Event::FaultStarted { f, value, .. } | Event::FaultHealed { f, value, .. } => {
                (f, value)
            }
            _ => return,
        };
        self.recorder.record(Op::nemesis(f.clone(), value.clone()));
    }
}
