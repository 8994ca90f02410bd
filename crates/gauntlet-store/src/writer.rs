//! The store as a subscriber of a run's events: the fault log's injections
//! and heals become fault rows as they happen, and check results become
//! the run's verdicts.
//!
//! Stage transitions are not written from events: they are checked
//! decisions (`start_stage`, `finish_stage` refuse a transition that does
//! not fit and say whether the run now holds), so the driver makes them and
//! acts on the answer. What is only recorded — faults and verdicts — is
//! written by whoever listens.

use std::collections::HashMap;
use std::sync::Mutex;

use gauntlet_events::{Event, Subscriber};

use crate::{FaultId, NewFault, RunId, Store, StoreError, now_ms};

/// Writes a run's fault and check events into its store rows. Times are the wall
/// clock when the event arrives: delivery is synchronous, so that is when
/// the fault happened. A store error is kept (the first one) for the
/// caller to check with [`StoreWriter::finish`]; a run never stops because
/// its record could not be written.
pub struct StoreWriter {
    run: RunId,
    state: Mutex<State>,
}

struct State {
    store: Store,
    /// The log's fault ids to the store's.
    faults: HashMap<u64, FaultId>,
    error: Option<StoreError>,
}

impl StoreWriter {
    /// A writer into `store` (its own connection) for `run`.
    pub fn new(store: Store, run: RunId) -> StoreWriter {
        StoreWriter {
            run,
            state: Mutex::new(State {
                store,
                faults: HashMap::new(),
                error: None,
            }),
        }
    }

    /// The first error writing a row, if any.
    pub fn finish(&self) -> Result<(), StoreError> {
        match self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Subscriber for StoreWriter {
    /// Samples reach the store in the driver's batches; ops are in the
    /// history file.
    fn wants_streams(&self) -> bool {
        false
    }

    fn on_event(&self, event: &Event) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State {
            store,
            faults,
            error,
        } = &mut *state;
        let written = match event {
            Event::FaultStarted {
                id,
                fault,
                kind,
                target,
                value,
                ..
            } => store
                .record_fault(
                    &self.run,
                    &NewFault {
                        time: now_ms(),
                        kind: kind.clone(),
                        target: target.clone(),
                        value: serde_json::json!({ "fault": fault, "value": value }),
                    },
                )
                .map(|row| {
                    faults.insert(*id, row);
                }),
            Event::FaultHealed { id, .. } => match faults.get(id) {
                Some(row) => store.heal_fault(&self.run, *row, now_ms()),
                None => Ok(()),
            },
            Event::Check {
                name,
                valid,
                result,
            } => store.set_verdict(&self.run, name, *valid, result),
            _ => Ok(()),
        };
        if let Err(e) = written
            && error.is_none()
        {
            *error = Some(e);
        }
    }
}
