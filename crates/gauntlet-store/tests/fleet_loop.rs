//! A fleet loop's run: its stages are added as the loop decides them, a
//! failed phase does not hold it by itself, and an operator's retry runs
//! the phase it held at, not an earlier failed one.

use gauntlet_check::Validity;
use gauntlet_store::{
    NewRun, NewStage, RunKind, RunState, StageEnd, StageState, Store, StoreError,
};

fn fleet_run(store: &Store) -> gauntlet_store::RunId {
    store
        .create_run_as(
            RunKind::Fleet,
            &NewRun {
                plan_name: "fleet:ant-quic".into(),
                stages: vec![NewStage::new("setup", "setup")],
                ..NewRun::default()
            },
        )
        .unwrap()
        .id
}

fn states(store: &Store, run: &gauntlet_store::RunId) -> Vec<(String, StageState)> {
    store.stage_states(run).unwrap()
}

#[test]
fn a_loop_grows_goes_past_a_failed_test_and_holds_where_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let run = fleet_run(&store);

    // Nothing can be added while a stage is pending.
    let err = store
        .append_stage(&run, &NewStage::new("build-1", "build"))
        .unwrap_err();
    assert!(matches!(err, StoreError::OutOfOrder { .. }), "{err}");

    store.start_stage(&run, "setup").unwrap();
    store
        .finish_stage(&run, "setup", StageEnd::passed())
        .unwrap();
    store
        .append_stage(&run, &NewStage::new("test-1", "test"))
        .unwrap();
    store.start_stage(&run, "test-1").unwrap();
    // A failed test is the loop's to answer: the run goes on.
    let state = store
        .finish_stage(&run, "test-1", StageEnd::failed("2 of 6 pairs unreachable"))
        .unwrap();
    assert_eq!(state, RunState::Running);
    let err = store
        .append_stage(&run, &NewStage::new("test-1", "test"))
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateStage { .. }), "{err}");
    store
        .append_stage(&run, &NewStage::new("fix-1", "fix"))
        .unwrap();
    store.start_stage(&run, "fix-1").unwrap();
    store
        .finish_stage(
            &run,
            "fix-1",
            StageEnd::failed("the hook committed nothing"),
        )
        .unwrap();
    store.hold_run(&run, "the fix hook made no fix").unwrap();
    let r = store.run(run.as_str()).unwrap();
    assert_eq!(r.state, RunState::Held);
    assert_eq!(r.held_stage.as_deref(), Some("fix-1"));
    assert_eq!(r.message.as_deref(), Some("the fix hook made no fix"));

    // The retry runs the fix again, not the earlier failed test.
    store.retry(&run).unwrap();
    let now = states(&store, &run);
    assert_eq!(
        now,
        vec![
            ("setup".into(), StageState::Passed),
            ("test-1".into(), StageState::Failed),
            ("fix-1".into(), StageState::Pending),
        ]
    );
    store.start_stage(&run, "fix-1").unwrap();
    store
        .finish_stage(&run, "fix-1", StageEnd::passed())
        .unwrap();
    store
        .conclude(
            &run,
            Validity::Invalid,
            Some("fewer than half the nodes are reachable"),
        )
        .unwrap();
    let r = store.run(run.as_str()).unwrap();
    assert_eq!(r.state, RunState::Finished);
    assert_eq!(r.result, Some(Validity::Invalid));
    assert_eq!(
        r.message.as_deref(),
        Some("fewer than half the nodes are reachable")
    );
}

#[test]
fn only_a_loop_grows_and_a_hold_needs_a_failed_phase() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let plan = store
        .create_run(&NewRun {
            plan_name: "p".into(),
            stages: vec![NewStage::new("a", "command")],
            ..NewRun::default()
        })
        .unwrap()
        .id;
    store.start_stage(&plan, "a").unwrap();
    store.finish_stage(&plan, "a", StageEnd::passed()).unwrap();
    let err = store
        .append_stage(&plan, &NewStage::new("b", "command"))
        .unwrap_err();
    assert!(matches!(err, StoreError::FixedStages { .. }), "{err}");

    let run = fleet_run(&store);
    store.start_stage(&run, "setup").unwrap();
    store
        .finish_stage(&run, "setup", StageEnd::passed())
        .unwrap();
    let err = store.hold_run(&run, "why").unwrap_err();
    assert!(matches!(err, StoreError::StageState { .. }), "{err}");
    assert_eq!(store.run(run.as_str()).unwrap().state, RunState::Running);
}
