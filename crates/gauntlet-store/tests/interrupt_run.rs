//! A live owner stopping its own run (Ctrl-C) leaves it `interrupted`,
//! with the running stage failed and a reason; `retry` resumes it.

use gauntlet_store::{NewRun, NewStage, RunState, StageState, Store};

#[test]
fn interrupt_run_holds_the_running_stage_and_retry_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("gauntlet.db")).unwrap();
    let run = store
        .create_run(&NewRun {
            plan_name: "p".into(),
            plan_text: "x".into(),
            stages: vec![NewStage::new("a", "wait"), NewStage::new("b", "down")],
            ..NewRun::default()
        })
        .unwrap();
    store.start_stage(&run.id, "a").unwrap();
    store.interrupt_run(&run.id, "stopped by a signal").unwrap();
    let r = store.run(run.id.as_str()).unwrap();
    assert_eq!(r.state, RunState::Interrupted);
    assert_eq!(r.held_stage.as_deref(), Some("a"));
    assert!(r.message.unwrap().contains("stopped by a signal"));
    let a = &store.stages(&run.id).unwrap()[0];
    assert_eq!(a.state(), StageState::Failed);
    assert_eq!(
        a.current().message.as_deref(),
        Some("interrupted: stopped by a signal")
    );
    // Not running any more: a second interrupt is refused.
    assert!(store.interrupt_run(&run.id, "again").is_err());
    let r = store.retry(&run.id).unwrap();
    assert_eq!(r.state, RunState::Running);
    assert_eq!(
        store.stages(&run.id).unwrap()[0].state(),
        StageState::Pending
    );
}
