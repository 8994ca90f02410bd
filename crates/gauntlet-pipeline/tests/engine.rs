//! The one engine's event stream, end to end: a plan run on the driver
//! tells what happens as events (stages, samples of a real service, a
//! check, the end), and the store files the check as the run's verdict
//! because it subscribes to those events.

use std::sync::Arc;

use gauntlet_check::Validity;
use gauntlet_events::{Collect, Event, Events, Subscriber};
use gauntlet_pipeline::{RunContext, Start};
use gauntlet_plan::{LoadOptions, load};
use gauntlet_store::{RunFilter, Store};

const PLAN: &str = r#"
[[service]]
name = "idle"
command = ["sleep", "60"]
[service.health]
command = ["true"]

[[stage]]
kind = "up"

[[stage]]
name = "settle"
kind = "wait"
duration = "1200ms"

[[stage]]
name = "linear"
kind = "check"
checker = "linearizable"
history = "${plan_dir}/kv.jsonl"
"#;

const KV: &str = r#"{"process":0,"type":"invoke","f":"write","key":0,"value":1}
{"process":0,"type":"ok","f":"write","key":0,"value":1}
{"process":1,"type":"invoke","f":"read","key":0,"value":null}
{"process":1,"type":"ok","f":"read","key":0,"value":1}
"#;

#[test]
fn a_plan_run_tells_its_stages_samples_check_and_end_as_events() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kv.jsonl"), KV).unwrap();
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(&plan_path, PLAN).unwrap();
    let plan = load(&plan_path, &LoadOptions::default()).unwrap();
    std::fs::create_dir(dir.path().join("store")).unwrap();
    let store = Store::open_dir(dir.path().join("store")).unwrap();

    let seen = Arc::new(Collect::default());
    let events = Events::new(vec![seen.clone() as Arc<dyn Subscriber>]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let outcome = runtime
        .block_on(gauntlet_pipeline::start(
            store,
            Start {
                plan,
                plan_text: PLAN.to_owned(),
                seed: 1,
                command_line: vec!["test".into()],
                context: RunContext::local(events),
            },
            cancel,
        ))
        .unwrap();
    assert_eq!(outcome.run.state.as_str(), "finished");

    let events = seen.events();
    let names: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::StageStarted { name, .. } => Some(format!("start {name}")),
            Event::StageEnded { name, outcome, .. } => {
                Some(format!("end {name} {}", outcome.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            "start up",
            "end up passed",
            "start settle",
            "end settle passed",
            "start linear",
            "end linear passed"
        ]
    );
    assert!(
        matches!(&events[0], Event::RunStarted { kind, stages: 3, .. } if kind == "run"),
        "{:?}",
        events[0]
    );
    // The service was sampled while it ran (every 0.5 s).
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Sample { kind, subject, value, .. }
                if kind == "rss" && subject == "idle" && *value > 0.0)),
        "no rss sample of the service in {events:?}"
    );
    let check = events
        .iter()
        .find_map(|e| match e {
            Event::Check { name, valid, .. } if name == "linear" => Some(*valid),
            _ => None,
        })
        .expect("a check event");
    assert_eq!(check, Validity::Valid);
    assert!(
        matches!(events.last().unwrap(), Event::RunEnded { state, valid: Validity::Valid } if state == "finished"),
        "{:?}",
        events.last()
    );

    // The store heard the check event: it is the run's verdict.
    let store = Store::open_dir(dir.path().join("store")).unwrap();
    let run = &store.runs(&RunFilter::default()).unwrap()[0];
    let verdicts = store.verdicts(&run.id).unwrap();
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0].checker, "linear");
    assert_eq!(verdicts[0].valid, Validity::Valid);
}
