//! The one event stream of a run.
//!
//! Whatever runs — a workbench test, a plan, a soak — says what happens as
//! typed [`Event`]s on one [`Events`] handle. Who listens is not its
//! business: the progress printer (in the CLI), the store writer and, later,
//! the live dashboard are [`Subscriber`]s. This is nextest's split of a
//! runner that emits events from the reporters that consume them, and it is
//! why library crates never print.
//!
//! Delivery is synchronous, in order, on the emitting task: an event is
//! handled by every subscriber before `emit` returns, so a subscriber sees
//! the run's events in the order they happened and nothing is lost at the
//! end of a run. Subscribers must therefore be quick (print a line, queue a
//! row); one that needs to do slow work hands it to its own thread.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use gauntlet_events::{Event, Events, Subscriber};
//!
//! #[derive(Default)]
//! struct Count(Mutex<usize>);
//! impl Subscriber for Count {
//!     fn on_event(&self, _event: &Event) {
//!         *self.0.lock().unwrap() += 1;
//!     }
//! }
//!
//! let count = Arc::new(Count::default());
//! let events = Events::new(vec![count.clone() as Arc<dyn Subscriber>]);
//! events.emit(Event::Note { text: "starting api".into() });
//! assert_eq!(*count.0.lock().unwrap(), 1);
//! ```

pub mod clock;
mod event;

pub use event::{Event, StageOutcome};

use std::sync::Arc;

/// Consumes a run's events.
pub trait Subscriber: Send + Sync {
    /// Called once per event, in the order the run emitted them.
    fn on_event(&self, event: &Event);

    /// Whether this subscriber wants the streams: an `op` event per history
    /// op and a `sample` event per measurement (a live dashboard does; a
    /// printer or the store, which keeps samples in batches, does not). A
    /// run builds those events only when some subscriber wants them.
    fn wants_streams(&self) -> bool {
        true
    }

    /// Called once the run has ended (after `run-ended`): a subscriber
    /// that handed work to a thread of its own (a notifier's deliveries)
    /// waits here, within its own bounds, until that work is done, so
    /// nothing is lost when the process exits. Most have nothing to wait
    /// for.
    fn flush(&self) {}
}

/// The handle a run emits on: cheap to clone, shared by every task of the
/// run. With no subscribers, emitting costs a length check.
#[derive(Clone, Default)]
pub struct Events {
    subscribers: Arc<[Arc<dyn Subscriber>]>,
    /// Some subscriber wants the `op` and `sample` streams.
    streams: bool,
}

impl Events {
    /// Events delivered to `subscribers`, in this order.
    pub fn new(subscribers: Vec<Arc<dyn Subscriber>>) -> Events {
        Events {
            streams: subscribers.iter().any(|s| s.wants_streams()),
            subscribers: subscribers.into(),
        }
    }

    /// True when some subscriber wants `op` and `sample` events: a part
    /// that emits them checks first, so nobody pays for a stream nobody
    /// reads.
    pub fn wants_streams(&self) -> bool {
        self.streams
    }

    /// Events nobody listens to (benchmarks, library tests).
    pub fn none() -> Events {
        Events::default()
    }

    /// The same subscribers plus `more`.
    pub fn with(&self, more: Arc<dyn Subscriber>) -> Events {
        let mut all: Vec<Arc<dyn Subscriber>> = self.subscribers.to_vec();
        all.push(more);
        Events::new(all)
    }

    /// Delivers `event` to every subscriber.
    pub fn emit(&self, event: Event) {
        for s in self.subscribers.iter() {
            s.on_event(&event);
        }
    }

    /// Waits until every subscriber has done what it queued (see
    /// [`Subscriber::flush`]): the run's end, before the process exits.
    pub fn flush(&self) {
        for s in self.subscribers.iter() {
            s.flush();
        }
    }

    /// True when someone listens: lets a caller skip building an event
    /// that costs something to make.
    pub fn is_heard(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// A progress note inside the current stage.
    pub fn note(&self, text: impl Into<String>) {
        self.emit(Event::Note { text: text.into() });
    }

    /// Something a person should see even without progress output
    /// (a node's bad line, a crash): printed unless quiet.
    pub fn warn(&self, source: impl Into<String>, text: impl Into<String>) {
        self.emit(Event::Warning {
            source: source.into(),
            text: text.into(),
        });
    }
}

impl Events {
    /// A history recorder's observer that tells each op as an `op` event
    /// (nothing when no subscriber wants the streams):
    /// `Recorder::observed(events.ops())`.
    pub fn ops(&self) -> gauntlet_history::Observer {
        let events = self.clone();
        Arc::new(move |op: &gauntlet_history::Op| {
            if events.wants_streams() {
                events.emit(Event::Op {
                    t_ms: op.time.unwrap_or(0) / 1_000_000,
                    op: serde_json::to_value(op).unwrap_or_default(),
                });
            }
        })
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("subscribers", &self.subscribers.len())
            .finish()
    }
}

/// Keeps every event (tests, and the JSON event log of a run).
#[derive(Default)]
pub struct Collect {
    events: std::sync::Mutex<Vec<Event>>,
}

impl Collect {
    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Subscriber for Collect {
    fn on_event(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}
