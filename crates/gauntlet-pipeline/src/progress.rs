//! The driver's voice: what happens in a run, as events on its stream
//! ([`gauntlet_events`]). Who shows it (a progress bar, plain lines, the
//! store, a dashboard) subscribes; the pipeline itself prints nothing.

use std::time::Duration;

use gauntlet_events::{Event, Events, StageOutcome};

#[derive(Clone, Debug)]
pub struct Progress {
    events: Events,
}

impl Progress {
    pub fn new(events: Events) -> Progress {
        Progress { events }
    }

    /// The run's event stream, for parts that emit events of their own
    /// (the fault log).
    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn run_start(&self, run: &str, kind: gauntlet_store::RunKind, stages: usize) {
        self.events.emit(Event::RunStarted {
            run: run.to_owned(),
            kind: kind.as_str().to_owned(),
            stages,
        });
    }

    pub fn resumed(&self, how: &crate::Resumption) {
        self.events.emit(match how {
            crate::Resumption::Retry => Event::RunResumed {
                how: "retry".to_owned(),
                stage: None,
                who: None,
                reason: None,
            },
            crate::Resumption::Override { stage, who, reason } => Event::RunResumed {
                how: "override".to_owned(),
                stage: Some(stage.clone()),
                who: Some(who.clone()),
                reason: Some(reason.clone()),
            },
        });
    }

    pub fn stage_start(&self, index: usize, total: usize, name: &str, kind: &str) {
        self.events.emit(Event::StageStarted {
            index,
            total,
            name: name.to_owned(),
            kind: kind.to_owned(),
        });
    }

    pub fn stage_end(
        &self,
        index: usize,
        total: usize,
        name: &str,
        outcome: StageOutcome,
        message: Option<&str>,
        verdict: Option<gauntlet_check::Validity>,
    ) {
        self.events.emit(Event::StageEnded {
            index,
            total,
            name: name.to_owned(),
            outcome,
            message: message.map(str::to_owned),
            verdict,
        });
    }

    /// A detail inside the current stage.
    pub fn note(&self, text: &str) {
        self.events.note(text);
    }

    /// Waits `d` on purpose (a `wait` stage); a printer may count it down.
    pub async fn countdown(&self, d: Duration) {
        self.events.emit(Event::Waiting {
            ms: d.as_millis() as u64,
        });
        tokio::time::sleep(d).await;
    }
}
