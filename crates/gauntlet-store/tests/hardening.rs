//! Issue 11 (hardening) on the store: a stopped run's time does not grow
//! with the wall clock, a stage that could not be carried out interrupts
//! the run (it does not hold it), and the driver's light view of the stages.

use gauntlet_store::{NewRun, NewStage, RunState, StageEnd, StageState, Store, now_ms};
use serde_json::json;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("gauntlet.db")).unwrap();
    (dir, store)
}

fn new_run(stages: &[(&str, &str)]) -> NewRun {
    NewRun {
        plan_name: "p".into(),
        plan_text: "x".into(),
        stages: stages.iter().map(|(n, k)| NewStage::new(*n, *k)).collect(),
        ..NewRun::default()
    }
}

const DAY: i64 = 86_400_000;

#[test]
fn a_held_or_abandoned_run_took_until_its_last_activity_not_until_now() {
    let (_dir, store) = temp_store();
    let run = store
        .create_run(&new_run(&[("a", "command"), ("b", "command")]))
        .unwrap();
    let fresh = store.run(run.id.as_str()).unwrap();
    assert_eq!(fresh.last_active_at, None);
    // Running: it runs on.
    assert_eq!(fresh.took_ms(fresh.started_at + DAY), DAY);

    store.start_stage(&run.id, "a").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    store
        .finish_stage(&run.id, "a", StageEnd::passed())
        .unwrap();
    store.start_stage(&run.id, "b").unwrap();
    let held = store
        .finish_stage(&run.id, "b", StageEnd::failed("exit status 1"))
        .unwrap();
    assert_eq!(held, RunState::Held);

    let r = store.run(run.id.as_str()).unwrap();
    let b_end = store.stages(&run.id).unwrap()[1]
        .current()
        .ended_at
        .unwrap();
    assert_eq!(r.last_active_at, Some(b_end));
    let took = r.took_ms(now_ms());
    assert!(took >= 20, "{took}");
    assert_eq!(r.took_ms(now_ms() + DAY), took, "a day later, the same");
    // `runs` lists the same figure.
    let listed = &store.runs(&Default::default()).unwrap()[0];
    assert_eq!(listed.took_ms(now_ms() + DAY), took);

    // Abandoned a day later: its time is still what it ran.
    store.abandon(&run.id, "superseded").unwrap();
    let r = store.run(run.id.as_str()).unwrap();
    assert!(r.ended_at.is_some());
    assert_eq!(r.took_ms(now_ms() + DAY), took);
}

#[test]
fn a_finished_run_took_until_it_ended() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&new_run(&[("a", "command")])).unwrap();
    store.start_stage(&run.id, "a").unwrap();
    store
        .finish_stage(&run.id, "a", StageEnd::passed())
        .unwrap();
    store
        .finish_run(&run.id, gauntlet_store::Validity::Valid)
        .unwrap();
    let r = store.run(run.id.as_str()).unwrap();
    let end = r.ended_at.unwrap();
    assert_eq!(r.took_ms(end + DAY), end - r.started_at);
}

#[test]
fn a_stage_that_could_not_be_carried_out_interrupts_the_run_and_retry_runs_it_again() {
    let (_dir, store) = temp_store();
    let run = store
        .create_run(&new_run(&[("up", "up"), ("after", "command")]))
        .unwrap();
    store.start_stage(&run.id, "up").unwrap();
    let end = StageEnd::failed("service api: cannot start /x/y: no such file")
        .with_summary(json!({ "services": [] }));
    store
        .interrupt_stage(&run.id, "up", end, "service api: cannot start /x/y")
        .unwrap();

    let r = store.run(run.id.as_str()).unwrap();
    assert_eq!(r.state, RunState::Interrupted);
    assert_eq!(r.held_stage.as_deref(), Some("up"));
    assert_eq!(
        r.message.as_deref(),
        Some("could not go on: service api: cannot start /x/y")
    );
    let up = &store.stages(&run.id).unwrap()[0];
    assert_eq!(up.state(), StageState::Failed);
    assert_eq!(
        up.current().message.as_deref(),
        Some("service api: cannot start /x/y: no such file")
    );
    assert_eq!(up.current().summary, Some(json!({ "services": [] })));
    assert!(up.current().ended_at.is_some());

    // Only a running stage of a run this process drives.
    assert!(
        store
            .interrupt_stage(&run.id, "up", StageEnd::failed("again"), "again")
            .is_err()
    );
    let resumed = store.retry(&run.id).unwrap();
    assert_eq!(resumed.state, RunState::Running);
    assert_eq!(
        store.stage_states(&run.id).unwrap(),
        vec![
            ("up".to_owned(), StageState::Pending),
            ("after".to_owned(), StageState::Pending)
        ]
    );
    assert_eq!(store.start_stage(&run.id, "up").unwrap().attempt, 2);
    assert_eq!(
        store.stage_states(&run.id).unwrap()[0],
        ("up".to_owned(), StageState::Running)
    );
}
