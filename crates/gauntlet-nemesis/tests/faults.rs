//! What each process fault means, written once in `Signals`, and the fault
//! log's events. (The executors' real-process runs are in the workbench's
//! and the soak's end-to-end tests.)

use std::sync::{Arc, Mutex};

use gauntlet_events::{Collect, Event, Events, Subscriber};
use gauntlet_nemesis::{
    Fault, FaultError, FaultExecutor, FaultLog, Processes, Signals, VerbFuture, executor_for,
};
use serde_json::json;

/// Processes that write down every verb, so the meaning of each fault can
/// be read off the sequence.
#[derive(Default, Clone)]
struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn say(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn said(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Processes for Journal {
    fn kill<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        self.say(format!("kill {}", targets.join(",")));
        Box::pin(async move { targets.to_vec() })
    }
    fn freeze<'a>(&'a self, targets: &'a [String], pause: bool) -> VerbFuture<'a, ()> {
        self.say(format!(
            "{} {}",
            if pause { "stop" } else { "cont" },
            targets.join(",")
        ));
        Box::pin(async {})
    }
    fn stop<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        self.say(format!("term {}", targets.join(",")));
        Box::pin(async move { targets.to_vec() })
    }
    fn start<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        self.say(format!("start {}", targets.join(",")));
        let errors = targets
            .iter()
            .filter(|t| t.as_str() == "broken")
            .map(|t| format!("{t} did not come back"))
            .collect();
        Box::pin(async move { errors })
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn each_process_fault_means_one_thing() {
    let journal = Journal::default();
    let signals = Signals::new(journal.clone());
    let ab = names(&["a", "b"]);

    signals.inject(&Fault::Kill, &ab).await.unwrap();
    signals.heal(&Fault::Kill, &ab).await.unwrap();
    assert_eq!(journal.said(), ["kill a,b", "start a,b"]);

    signals.inject(&Fault::Pause, &ab).await.unwrap();
    signals.heal(&Fault::Pause, &ab).await.unwrap();
    assert_eq!(journal.said(), ["stop a,b", "cont a,b"]);

    // The graceful restart is over once injected: its heal does nothing.
    signals.inject(&Fault::GracefulRestart, &ab).await.unwrap();
    signals.heal(&Fault::GracefulRestart, &ab).await.unwrap();
    assert_eq!(journal.said(), ["term a,b", "start a,b"]);

    // A kill's heal starts only what that kill took down.
    signals.inject(&Fault::Kill, &names(&["a"])).await.unwrap();
    signals
        .inject(&Fault::PowerCut, &names(&["b", "c"]))
        .await
        .unwrap();
    signals
        .heal(&Fault::PowerCut, &names(&["b", "c"]))
        .await
        .unwrap();
    signals.heal(&Fault::Kill, &names(&["a"])).await.unwrap();
    assert_eq!(
        journal.said(),
        ["kill a", "kill b,c", "start b,c", "start a"]
    );
}

#[tokio::test]
async fn a_target_that_does_not_come_back_is_an_error_not_a_success() {
    let signals = Signals::new(Journal::default());
    let targets = names(&["ok", "broken"]);
    signals.inject(&Fault::Kill, &targets).await.unwrap();
    let healed = signals.heal(&Fault::Kill, &targets).await;
    assert_eq!(
        healed,
        Err(FaultError::Targets {
            errors: vec!["broken did not come back".into()]
        })
    );
}

#[test]
fn a_fault_no_executor_handles_is_named() {
    let signals = Signals::new(Journal::default());
    let executors: [&dyn FaultExecutor; 1] = [&signals];
    assert!(executor_for(&executors, &Fault::Pause).is_ok());
    let Err(e) = executor_for(&executors, &Fault::Reset) else {
        panic!("a proxy fault has no executor here");
    };
    assert_eq!(e.to_string(), "no executor for reset faults in this run");
}

#[test]
fn the_log_emits_one_event_per_injection_and_heal_and_keeps_windows() {
    let collect = Arc::new(Collect::default());
    let log = FaultLog::new(Events::new(vec![collect.clone() as Arc<dyn Subscriber>]));
    let id = log.started(
        1_000,
        "pause-api",
        &Fault::Pause,
        &names(&["api"]),
        json!(["api"]),
    );
    let restart = log.started(
        2_000,
        "restart",
        &Fault::GracefulRestart,
        &names(&["db"]),
        json!(["db"]),
    );
    log.healed(6_000, id, &Fault::Pause, json!(["api"]));
    log.healed(2_700, restart, &Fault::GracefulRestart, json!(null));
    let events = collect.events();
    assert_eq!(events.len(), 4);
    assert!(matches!(&events[0],
        Event::FaultStarted { t_ms: 1_000, kind, f, target, .. }
            if kind == "pause" && f == "pause" && target == "api"));
    assert!(matches!(&events[2],
        Event::FaultHealed { t_ms: 6_000, f, .. } if f == "resume"));
    let faults = log.faults();
    assert_eq!((faults[0].start_ms, faults[0].end_ms), (1_000, Some(6_000)));
    // A fault without a heal is over when its caller says so: its window
    // spans the whole stop and start.
    assert_eq!(faults[1].id, restart);
    assert_eq!((faults[1].start_ms, faults[1].end_ms), (2_000, Some(2_700)));
    assert!(matches!(&events[3], Event::FaultHealed { f, .. } if f == "done"));
}
