//! The store on real SQLite files in temporary directories, one process.

// Prints a test's measurements for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

use gauntlet_store::{
    Action, AttemptId, Measurement, NewFault, NewRun, NewStage, RunFilter, RunId, RunState,
    StageEnd, StageState, Store, StoreError, Validity,
};
use serde_json::json;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("gauntlet.db")).unwrap();
    (dir, store)
}

fn plan(stages: &[(&str, &str)]) -> NewRun {
    NewRun {
        plan_name: "smoke".into(),
        plan_path: Some("plans/smoke.toml".into()),
        plan_text: "[[stage]]\nkind = \"up\"\n".into(),
        seed: 42,
        gauntlet_version: "0.1.0".into(),
        command_line: vec!["gauntlet".into(), "run".into(), "plans/smoke.toml".into()],
        stages: stages.iter().map(|(n, k)| NewStage::new(*n, *k)).collect(),
    }
}

fn three() -> NewRun {
    plan(&[("start", "up"), ("tests", "command"), ("stop", "down")])
}

fn pass(store: &Store, run: &RunId, stage: &str) {
    store.start_stage(run, stage).unwrap();
    assert_eq!(
        store.finish_stage(run, stage, StageEnd::passed()).unwrap(),
        RunState::Running
    );
}

fn fail(store: &Store, run: &RunId, stage: &str) {
    store.start_stage(run, stage).unwrap();
    assert_eq!(
        store
            .finish_stage(run, stage, StageEnd::failed("exit status 1"))
            .unwrap(),
        RunState::Held
    );
}

fn state_of(store: &Store, run: &RunId) -> RunState {
    store.run(run.as_str()).unwrap().state
}

/// Asserts a run-state refusal naming this run, state and action.
#[track_caller]
fn assert_run_state<T: std::fmt::Debug>(
    r: Result<T, StoreError>,
    run: &RunId,
    state: RunState,
    action: Action,
) {
    match r {
        Err(e @ StoreError::RunState { .. }) => {
            let StoreError::RunState {
                run: r,
                state: s,
                action: a,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((r, *s, *a), (run, state, action), "{e}");
            let text = e.to_string();
            assert!(
                text.contains(run.as_str()) && text.contains(state.as_str()),
                "{text}"
            );
        }
        other => panic!("expected run {run} {state} refusing {action:?}, got {other:?}"),
    }
}

/// Asserts a stage-state refusal naming this run, stage, state and action.
#[track_caller]
fn assert_stage_state<T: std::fmt::Debug>(
    r: Result<T, StoreError>,
    run: &RunId,
    stage: &str,
    state: StageState,
    action: Action,
) {
    match r {
        Err(e @ StoreError::StageState { .. }) => {
            let StoreError::StageState {
                run: r,
                stage: st,
                state: s,
                action: a,
                ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((r, st.as_str(), *s, *a), (run, stage, state, action), "{e}");
            let text = e.to_string();
            assert!(
                text.contains(run.as_str())
                    && text.contains(stage)
                    && text.contains(state.as_str()),
                "{text}"
            );
        }
        other => panic!("expected stage {stage} {state} refusing {action:?}, got {other:?}"),
    }
}

#[test]
fn a_new_file_is_migrated_and_in_wal_mode() {
    let (dir, store) = temp_store();
    assert_eq!(
        store.schema_version().unwrap(),
        Store::latest_schema_version()
    );
    assert!(Store::latest_schema_version() >= 1);
    assert!(dir.path().join("gauntlet.db-wal").exists(), "WAL file");
    assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());
    assert!(store.runs(&RunFilter::default()).unwrap().is_empty());
    assert_eq!(store.artifact_root(), dir.path().join("store"));
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let id = {
        let store = Store::open(&path).unwrap();
        let run = store.create_run(&three()).unwrap();
        pass(&store, &run.id, "start");
        run.id
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        Store::latest_schema_version()
    );
    let run = store.run(id.as_str()).unwrap();
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.plan_name, "smoke");
    let stages = store.stages(&id).unwrap();
    assert_eq!(stages[0].state(), StageState::Passed);
    // This process still drives it.
    pass(&store, &id, "tests");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("notes.db"), "{err}");
    // The cause once, in words, and not again down the error chain.
    assert_eq!(text.matches("file is not a database").count(), 1, "{text}");
    assert!(!text.contains("Error code"), "{text}");
    assert!(text.contains("move it aside"), "{text}");
    assert!(std::error::Error::source(&err).is_none());
    assert!(err.sqlite_cause().is_some());
    // The same through a store directory.
    std::fs::write(dir.path().join("gauntlet.db"), vec![0xAB; 8192]).unwrap();
    let err = Store::open_dir(dir.path()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot open the store {}: file is not a database",
            dir.path().join("gauntlet.db").display()
        )),
        "{err}"
    );
}

#[test]
fn an_sqlite_error_names_the_database_file_once() {
    let (dir, store) = temp_store();
    store.create_run(&three()).unwrap();
    let run = store.run("latest").unwrap().id;
    // Break the schema behind the store's back.
    rusqlite::Connection::open(dir.path().join("gauntlet.db"))
        .unwrap()
        .execute_batch("PRAGMA foreign_keys = OFF; DROP TABLE stage_attempts;")
        .unwrap();
    let err = store.stages(&run).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Sqlite { path: Some(_), .. }),
        "{err:?}"
    );
    assert_eq!(
        text,
        format!(
            "the store {}: no such table: stage_attempts",
            dir.path().join("gauntlet.db").display()
        )
    );
    // Asked again, the same one cause: nothing piles up on the store.
    assert_eq!(store.stages(&run).unwrap_err().to_string(), text);
}

#[test]
fn a_run_records_what_it_was_created_with() {
    let (_dir, store) = temp_store();
    let mut new = three();
    new.seed = u64::MAX;
    let before = gauntlet_store::now_ms();
    let run = store.create_run(&new).unwrap();
    assert_eq!(run.seed, u64::MAX, "u64 seeds survive the i64 column");
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.result, None);
    assert_eq!(run.plan_path.as_deref(), Some("plans/smoke.toml"));
    assert_eq!(run.plan_text, new.plan_text);
    assert_eq!(run.plan_sha256.len(), 64);
    assert_eq!(run.command_line, new.command_line);
    assert_eq!(run.gauntlet_version, "0.1.0");
    assert_eq!(&run.owner, store.owner());
    assert_eq!(run.owner.pid, std::process::id());
    assert!(run.started_at >= before && run.ended_at.is_none());
    assert!(
        run.id.as_str().starts_with('r') && run.id.as_str().len() == 20,
        "{}",
        run.id
    );

    let stages = store.stages(&run.id).unwrap();
    let names: Vec<_> = stages
        .iter()
        .map(|s| (s.ordinal, s.name.as_str(), s.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (0, "start", "up"),
            (1, "tests", "command"),
            (2, "stop", "down")
        ]
    );
    assert!(stages.iter().all(|s| s.attempts.len() == 1
        && s.current().attempt == 1
        && s.state() == StageState::Pending));
}

#[test]
fn duplicate_stage_names_are_refused() {
    let (_dir, store) = temp_store();
    let err = store
        .create_run(&plan(&[("a", "up"), ("b", "command"), ("a", "down")]))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateStage { ref stage } if stage == "a"),
        "{err}"
    );
    assert!(store.runs(&RunFilter::default()).unwrap().is_empty());
}

#[test]
fn a_run_that_passes_every_stage_finishes() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let a = store.start_stage(&run.id, "start").unwrap();
    assert_eq!((a.attempt, a.state), (1, StageState::Running));
    assert!(a.started_at.is_some());
    let st = store
        .finish_stage(
            &run.id,
            "start",
            StageEnd::passed().with_summary(json!({"services": 3})),
        )
        .unwrap();
    assert_eq!(st, RunState::Running);
    pass(&store, &run.id, "tests");
    pass(&store, &run.id, "stop");
    store.finish_run(&run.id, Validity::Valid).unwrap();

    let done = store.run(run.id.as_str()).unwrap();
    assert_eq!(done.state, RunState::Finished);
    assert_eq!(done.result, Some(Validity::Valid));
    assert!(done.ended_at.unwrap() >= done.started_at);
    assert_eq!(
        done.took_ms(i64::MAX),
        done.ended_at.unwrap() - done.started_at
    );
    let stages = store.stages(&run.id).unwrap();
    assert_eq!(stages[0].current().summary, Some(json!({"services": 3})));
    assert!(
        stages
            .iter()
            .all(|s| s.state() == StageState::Passed
                && s.current().ended_at >= s.current().started_at)
    );

    // Nothing moves a finished run.
    assert_run_state(
        store.finish_run(&run.id, Validity::Valid),
        &run.id,
        RunState::Finished,
        Action::FinishRun,
    );
    assert_run_state(
        store.retry(&run.id),
        &run.id,
        RunState::Finished,
        Action::Retry,
    );
    assert_run_state(
        store.abandon(&run.id, "why"),
        &run.id,
        RunState::Finished,
        Action::Abandon,
    );
    assert_run_state(
        store.override_stage(&run.id, "tests", "r", "me"),
        &run.id,
        RunState::Finished,
        Action::Override,
    );
    assert_run_state(
        store.start_stage(&run.id, "tests"),
        &run.id,
        RunState::Finished,
        Action::StartStage,
    );
}

#[test]
fn stages_run_strictly_in_order() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let err = store.start_stage(&run.id, "tests").unwrap_err();
    match &err {
        StoreError::OutOfOrder {
            run: r,
            stage,
            blocking,
            blocking_state,
        } => {
            assert_eq!(
                (r, stage.as_str(), blocking.as_str(), *blocking_state),
                (&run.id, "tests", "start", StageState::Pending)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("tests") && err.to_string().contains("start"),
        "{err}"
    );
    assert!(matches!(
        store.skip_stage(&run.id, "stop", "no"),
        Err(StoreError::OutOfOrder { .. })
    ));

    store.start_stage(&run.id, "start").unwrap();
    // Not twice, and not the next one while this one runs.
    assert_stage_state(
        store.start_stage(&run.id, "start"),
        &run.id,
        "start",
        StageState::Running,
        Action::StartStage,
    );
    assert!(matches!(
        store.start_stage(&run.id, "tests"),
        Err(StoreError::OutOfOrder {
            blocking_state: StageState::Running,
            ..
        })
    ));
    // Only a running stage finishes.
    assert_stage_state(
        store.finish_stage(&run.id, "tests", StageEnd::passed()),
        &run.id,
        "tests",
        StageState::Pending,
        Action::FinishStage,
    );
    assert!(matches!(store.finish_run(&run.id, Validity::Valid),
        Err(StoreError::Unfinished { ref stage, state: StageState::Running, .. }) if stage == "start"));
    store
        .finish_stage(&run.id, "start", StageEnd::passed())
        .unwrap();
    assert_stage_state(
        store.finish_stage(&run.id, "start", StageEnd::passed()),
        &run.id,
        "start",
        StageState::Passed,
        Action::FinishStage,
    );
    assert_stage_state(
        store.start_stage(&run.id, "start"),
        &run.id,
        "start",
        StageState::Passed,
        Action::StartStage,
    );

    // A skipped stage counts as done.
    store
        .skip_stage(&run.id, "tests", "no tests in this plan")
        .unwrap();
    assert_stage_state(
        store.skip_stage(&run.id, "tests", ""),
        &run.id,
        "tests",
        StageState::Skipped,
        Action::SkipStage,
    );
    assert!(matches!(store.finish_run(&run.id, Validity::Valid),
        Err(StoreError::Unfinished { ref stage, state: StageState::Pending, .. }) if stage == "stop"));
    pass(&store, &run.id, "stop");
    store.finish_run(&run.id, Validity::Unknown).unwrap();
    let stages = store.stages(&run.id).unwrap();
    assert_eq!(stages[1].state(), StageState::Skipped);
    assert_eq!(
        stages[1].current().message.as_deref(),
        Some("no tests in this plan")
    );
    assert_eq!(store.run("latest").unwrap().result, Some(Validity::Unknown));
}

#[test]
fn unknown_stages_and_runs_are_named_in_the_error() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let err = store.start_stage(&run.id, "deploy").unwrap_err();
    assert!(matches!(err, StoreError::StageNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("deploy") && err.to_string().contains(run.id.as_str()));
    let ghost = store.resolve("nope").unwrap_err();
    assert!(matches!(ghost, StoreError::RunNotFound { ref query } if query == "nope"));
}

#[test]
fn a_failed_stage_holds_the_run_until_retried() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    pass(&store, &run.id, "start");
    fail(&store, &run.id, "tests");
    let held = store.run(run.id.as_str()).unwrap();
    assert_eq!(held.state, RunState::Held);
    assert_eq!(held.held_stage.as_deref(), Some("tests"));

    // Held: nothing moves until the operator says.
    assert_run_state(
        store.start_stage(&run.id, "stop"),
        &run.id,
        RunState::Held,
        Action::StartStage,
    );
    assert_run_state(
        store.start_stage(&run.id, "tests"),
        &run.id,
        RunState::Held,
        Action::StartStage,
    );
    assert_run_state(
        store.finish_run(&run.id, Validity::Invalid),
        &run.id,
        RunState::Held,
        Action::FinishRun,
    );
    assert_run_state(
        store.skip_stage(&run.id, "stop", ""),
        &run.id,
        RunState::Held,
        Action::SkipStage,
    );

    let resumed = store.retry(&run.id).unwrap();
    assert_eq!(resumed.state, RunState::Running);
    assert_eq!(resumed.held_stage, None);
    // Running again: no second retry, no override.
    assert_run_state(
        store.retry(&run.id),
        &run.id,
        RunState::Running,
        Action::Retry,
    );
    assert_run_state(
        store.override_stage(&run.id, "tests", "flaky", "ops"),
        &run.id,
        RunState::Running,
        Action::Override,
    );

    // The retry is attempt 2; attempt 1 stays as history.
    let a2 = store.start_stage(&run.id, "tests").unwrap();
    assert_eq!(a2.attempt, 2);
    store
        .finish_stage(&run.id, "tests", StageEnd::passed())
        .unwrap();
    pass(&store, &run.id, "stop");
    store.finish_run(&run.id, Validity::Valid).unwrap();
}

#[test]
fn retries_keep_every_attempt() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    pass(&store, &run.id, "start");
    fail(&store, &run.id, "tests");
    store.retry(&run.id).unwrap();
    fail(&store, &run.id, "tests");
    store.retry(&run.id).unwrap();
    pass(&store, &run.id, "tests");
    pass(&store, &run.id, "stop");
    store.finish_run(&run.id, Validity::Valid).unwrap();
    let stages = store.stages(&run.id).unwrap();
    let tests = &stages[1];
    let history: Vec<_> = tests
        .attempts
        .iter()
        .map(|a| (a.attempt, a.state))
        .collect();
    assert_eq!(
        history,
        [
            (1, StageState::Failed),
            (2, StageState::Failed),
            (3, StageState::Passed)
        ]
    );
    assert_eq!(tests.attempts[0].message.as_deref(), Some("exit status 1"));
    assert_eq!(stages[0].attempts.len(), 1);
}

#[test]
fn an_override_needs_a_failed_stage_and_a_reason_and_is_recorded() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    pass(&store, &run.id, "start");
    fail(&store, &run.id, "tests");

    assert_stage_state(
        store.override_stage(&run.id, "start", "why not", "alice"),
        &run.id,
        "start",
        StageState::Passed,
        Action::Override,
    );
    assert_stage_state(
        store.override_stage(&run.id, "stop", "skip ahead", "alice"),
        &run.id,
        "stop",
        StageState::Pending,
        Action::Override,
    );
    for (reason, who, field) in [
        ("", "alice", "reason"),
        ("  ", "alice", "reason"),
        ("flaky", "", "who"),
    ] {
        match store.override_stage(&run.id, "tests", reason, who) {
            Err(StoreError::EmptyOverrideField {
                field: f,
                ref stage,
                ..
            }) => {
                assert_eq!((f, stage.as_str()), (field, "tests"));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        state_of(&store, &run.id),
        RunState::Held,
        "refusals change nothing"
    );

    store
        .override_stage(
            &run.id,
            "tests",
            "known flaky test, tracked in #12",
            "alice",
        )
        .unwrap();
    assert_eq!(state_of(&store, &run.id), RunState::Running);
    let stages = store.stages(&run.id).unwrap();
    assert_eq!(stages[1].state(), StageState::Overridden);
    assert_eq!(
        stages[1].current().message.as_deref(),
        Some("exit status 1"),
        "the failure stays"
    );
    let overrides = store.overrides(&run.id).unwrap();
    assert_eq!(overrides.len(), 1);
    let o = &overrides[0];
    assert_eq!((o.stage.as_str(), o.ordinal, o.attempt), ("tests", 1, 1));
    assert_eq!(
        (o.reason.as_str(), o.who.as_str()),
        ("known flaky test, tracked in #12", "alice")
    );

    // Overridden counts as done: the run goes on and can finish.
    pass(&store, &run.id, "stop");
    store.finish_run(&run.id, Validity::Valid).unwrap();
    assert_eq!(
        store.overrides(&run.id).unwrap(),
        overrides,
        "kept after the run"
    );
}

#[test]
fn abandoning_ends_a_held_or_own_running_run_for_good() {
    let (_dir, store) = temp_store();
    let held = store.create_run(&three()).unwrap();
    fail(&store, &held.id, "start");
    store.abandon(&held.id, "the cluster is gone").unwrap();
    let r = store.run(held.id.as_str()).unwrap();
    assert_eq!(r.state, RunState::Abandoned);
    assert_eq!(r.result, None);
    assert_eq!(r.message.as_deref(), Some("the cluster is gone"));
    assert_eq!(r.held_stage.as_deref(), Some("start"));
    assert!(r.ended_at.is_some());
    assert_run_state(
        store.retry(&held.id),
        &held.id,
        RunState::Abandoned,
        Action::Retry,
    );
    assert_run_state(
        store.override_stage(&held.id, "start", "r", "me"),
        &held.id,
        RunState::Abandoned,
        Action::Override,
    );
    assert_run_state(
        store.abandon(&held.id, ""),
        &held.id,
        RunState::Abandoned,
        Action::Abandon,
    );
    assert_run_state(
        store.finish_run(&held.id, Validity::Valid),
        &held.id,
        RunState::Abandoned,
        Action::FinishRun,
    );
    assert_run_state(
        store.start_stage(&held.id, "tests"),
        &held.id,
        RunState::Abandoned,
        Action::StartStage,
    );

    // This process's own running run (Ctrl-C): its running stage fails.
    let mine = store.create_run(&three()).unwrap();
    pass(&store, &mine.id, "start");
    store.start_stage(&mine.id, "tests").unwrap();
    store.abandon(&mine.id, "").unwrap();
    let r = store.run(mine.id.as_str()).unwrap();
    assert_eq!(
        (r.state, r.message.as_deref(), r.held_stage.as_deref()),
        (RunState::Abandoned, None, Some("tests"))
    );
    let stages = store.stages(&mine.id).unwrap();
    assert_eq!(stages[1].state(), StageState::Failed);
    assert_eq!(
        stages[1].current().message.as_deref(),
        Some("abandoned: no reason given")
    );
    assert_eq!(stages[2].state(), StageState::Pending);
}

#[test]
fn runs_resolve_by_latest_id_or_unique_prefix() {
    let (_dir, store) = temp_store();
    assert!(matches!(
        store.resolve("latest"),
        Err(StoreError::RunNotFound { .. })
    ));
    let ids: Vec<RunId> = (0..12)
        .map(|_| store.create_run(&three()).unwrap().id)
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());

    assert_eq!(&store.resolve("latest").unwrap(), ids.last().unwrap());
    assert_eq!(&store.run("LATEST").unwrap().id, ids.last().unwrap());
    for id in &ids {
        assert_eq!(&store.resolve(id.as_str()).unwrap(), id);
        assert_eq!(
            &store.resolve(&id.as_str().to_uppercase()).unwrap(),
            id,
            "case-insensitive"
        );
        assert_eq!(
            &store.resolve(&id.as_str()[1..]).unwrap(),
            id,
            "the leading r may be left out"
        );
        // The shortest prefix no other id shares resolves to it.
        let n = (1..=id.as_str().len())
            .find(|&n| {
                ids.iter()
                    .filter(|o| o.as_str().starts_with(&id.as_str()[..n]))
                    .count()
                    == 1
            })
            .unwrap();
        assert_eq!(&store.resolve(&id.as_str()[..n]).unwrap(), id);
        // One character less is ambiguous (or, past "r", still unique to it and others).
        if n > 1 {
            assert!(matches!(
                store.resolve(&id.as_str()[..n - 1]),
                Err(StoreError::AmbiguousRun { .. })
            ));
        }
    }

    let err = store.resolve("r").unwrap_err();
    match &err {
        StoreError::AmbiguousRun {
            query,
            candidates,
            count,
        } => {
            assert_eq!((query.as_str(), *count), ("r", 12));
            assert_eq!(candidates.len(), 10, "at most ten listed");
            let newest_first: Vec<_> = ids.iter().rev().take(10).cloned().collect();
            assert_eq!(candidates, &newest_first);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("12 runs") && text.contains(ids[11].as_str()) && text.ends_with("..."),
        "{text}"
    );

    for missing in ["", "   ", "x", "r1999", "%", "r_"] {
        assert!(
            matches!(store.resolve(missing), Err(StoreError::RunNotFound { .. })),
            "{missing:?}"
        );
    }
}

#[test]
fn runs_list_newest_first_and_filter() {
    let (_dir, store) = temp_store();
    let a = store.create_run(&three()).unwrap().id;
    let mut other = three();
    other.plan_name = "soak".into();
    let b = store.create_run(&other).unwrap().id;
    let c = store.create_run(&three()).unwrap().id;
    fail(&store, &c, "start");

    let all: Vec<_> = store
        .runs(&RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, [c.clone(), b.clone(), a.clone()]);
    let held: Vec<_> = store
        .runs(&RunFilter {
            state: Some(RunState::Held),
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].id.clone(), held[0].held_stage.as_deref()),
        (c.clone(), Some("start"))
    );
    let smoke: Vec<_> = store
        .runs(&RunFilter {
            plan_name: Some("smoke".into()),
            limit: Some(1),
            ..RunFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(smoke, [c]);
}

fn sample(
    stage: Option<AttemptId>,
    time: i64,
    kind: &str,
    subject: &str,
    value: f64,
) -> Measurement {
    Measurement {
        stage,
        time,
        kind: kind.into(),
        subject: subject.into(),
        value,
        unit: if kind == "rss" { "bytes" } else { "ms" }.into(),
    }
}

#[test]
fn measurements_take_bulk_inserts_and_come_back_in_time_order() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let other = store.create_run(&three()).unwrap();
    let stage = store.start_stage(&run.id, "start").unwrap().id;

    // 40,000 samples over four series, times shuffled (a fixed permutation).
    const N: i64 = 10_000;
    let series = [
        ("rss", "n1"),
        ("rss", "n2"),
        ("latency", "n1"),
        ("latency", "n2"),
    ];
    let mut all = Vec::new();
    for i in 0..N {
        let t = (i * 7919) % N; // 7919 is prime, so this visits every t once
        for (k, (kind, subject)) in series.iter().enumerate() {
            all.push(sample(
                Some(stage),
                1_000 * t,
                kind,
                subject,
                (t * 10 + k as i64) as f64,
            ));
        }
    }
    let started = std::time::Instant::now();
    for batch in all.chunks(5_000) {
        store.add_measurements(&run.id, batch).unwrap();
    }
    let took = started.elapsed();
    eprintln!(
        "{} samples in {took:?} ({:.0}/s)",
        all.len(),
        all.len() as f64 / took.as_secs_f64()
    );
    assert!(took.as_secs() < 20, "bulk insert too slow: {took:?}");
    // A sample of the other run in the same series name does not leak in.
    store
        .add_measurements(&other.id, &[sample(None, 5, "rss", "n1", -1.0)])
        .unwrap();

    let rss = store.measurements(&run.id, "rss", "n2").unwrap();
    assert_eq!(rss.len() as i64, N);
    for (i, m) in rss.iter().enumerate() {
        assert_eq!(m.time, 1_000 * i as i64);
        assert_eq!(m.value, (i as i64 * 10 + 1) as f64);
        assert_eq!(
            (
                m.kind.as_str(),
                m.subject.as_str(),
                m.unit.as_str(),
                m.stage
            ),
            ("rss", "n2", "bytes", Some(stage))
        );
    }
    let window = store
        .measurements_between(&run.id, "latency", "n1", 5_000, 8_000)
        .unwrap();
    assert_eq!(
        window.iter().map(|m| m.time).collect::<Vec<_>>(),
        [5_000, 6_000, 7_000]
    );
    assert!(store.measurements(&run.id, "rss", "n3").unwrap().is_empty());

    // Ties keep the order they were added in.
    store
        .add_measurements(
            &other.id,
            &[
                sample(None, 5, "rss", "n1", 1.0),
                sample(None, 4, "rss", "n1", 0.0),
                sample(None, 5, "rss", "n1", 2.0),
            ],
        )
        .unwrap();
    let values: Vec<_> = store
        .measurements(&other.id, "rss", "n1")
        .unwrap()
        .into_iter()
        .map(|m| m.value)
        .collect();
    assert_eq!(values, [0.0, -1.0, 1.0, 2.0]);

    let s = store.series(&run.id).unwrap();
    let got: Vec<_> = s
        .iter()
        .map(|s| {
            (
                s.kind.as_str(),
                s.subject.as_str(),
                s.unit.as_str(),
                s.count,
                s.first,
                s.last,
            )
        })
        .collect();
    let last = 1_000 * (N - 1);
    assert_eq!(
        got,
        [
            ("latency", "n1", "ms", N as u64, 0, last),
            ("latency", "n2", "ms", N as u64, 0, last),
            ("rss", "n1", "bytes", N as u64, 0, last),
            ("rss", "n2", "bytes", N as u64, 0, last),
        ]
    );
}

#[test]
fn a_batch_is_all_or_nothing_and_stages_must_belong_to_the_run() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let other = store.create_run(&three()).unwrap();
    let foreign = store.start_stage(&other.id, "start").unwrap().id;
    let batch = [
        sample(None, 1, "rss", "n1", 1.0),
        sample(Some(foreign), 2, "rss", "n1", 2.0),
    ];
    let err = store.add_measurements(&run.id, &batch).unwrap_err();
    assert!(
        matches!(err, StoreError::AttemptNotInRun { ref run, attempt } if *run == run.clone() && attempt == foreign.0),
        "{err}"
    );
    assert!(
        store.measurements(&run.id, "rss", "n1").unwrap().is_empty(),
        "rolled back"
    );
    let ghost = RunId::clone(&other.id);
    store.abandon(&ghost, "").unwrap();
    assert!(matches!(
        store.add_measurements(
            &run.id,
            &[sample(Some(AttemptId(999_999)), 1, "x", "y", 0.0)]
        ),
        Err(StoreError::AttemptNotInRun { .. })
    ));
}

#[test]
fn artifacts_are_hashed_and_sized_and_paths_stay_inside() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let stage = store.start_stage(&run.id, "start").unwrap().id;
    let dir = store.artifact_dir(&run.id);
    assert_eq!(dir, store.artifact_root().join(run.id.as_str()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs/n1.log"), "hello\n").unwrap();
    std::fs::write(dir.join("empty"), "").unwrap();

    let a = store
        .add_artifact(&run.id, Some(stage), "logs/n1.log", "log")
        .unwrap();
    assert_eq!(
        a.sha256,
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    assert_eq!(
        (a.bytes, a.path.as_str(), a.kind.as_str(), a.stage),
        (6, "logs/n1.log", "log", Some(stage))
    );
    let e = store
        .add_artifact(&run.id, None, "./empty", "marker")
        .unwrap();
    assert_eq!(
        e.sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!((e.bytes, e.path.as_str()), (0, "empty"));

    // A rewritten file is recorded again under the same path.
    let big = vec![b'a'; 200_000];
    std::fs::write(dir.join("logs/n1.log"), &big).unwrap();
    let again = store
        .add_artifact(&run.id, None, "logs/n1.log", "log")
        .unwrap();
    assert_eq!(again.bytes, 200_000);
    assert_ne!(again.sha256, a.sha256);
    let listed = store.artifacts(&run.id).unwrap();
    assert_eq!(listed, [again.clone(), e]);

    for bad in ["../escape", "logs/../../x", "/etc/passwd", "", "."] {
        let err = store.add_artifact(&run.id, None, bad, "log").unwrap_err();
        assert!(
            matches!(err, StoreError::BadArtifactPath { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let err = store
        .add_artifact(&run.id, None, "missing.txt", "log")
        .unwrap_err();
    assert!(matches!(err, StoreError::ArtifactIo { .. }), "{err:?}");
    assert!(
        err.to_string().contains("missing.txt") && err.to_string().contains(run.id.as_str()),
        "{err}"
    );
    assert_eq!(store.artifacts(&run.id).unwrap().len(), 2);
}

#[test]
fn faults_are_recorded_and_healed_once() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let other = store.create_run(&three()).unwrap();
    let late = store
        .record_fault(
            &run.id,
            &NewFault {
                time: 2_000,
                kind: "kill".into(),
                target: "n2".into(),
                value: json!(null),
            },
        )
        .unwrap();
    let early = store
        .record_fault(
            &run.id,
            &NewFault {
                time: 1_000,
                kind: "partition".into(),
                target: "n1".into(),
                value: json!({"n1": ["n2", "n3"]}),
            },
        )
        .unwrap();
    store.heal_fault(&run.id, early, 1_500).unwrap();
    let err = store.heal_fault(&run.id, early, 1_600).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::FaultAlreadyHealed {
                healed_at: 1_500,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        store.heal_fault(&other.id, late, 3_000),
        Err(StoreError::FaultNotFound { .. })
    ));

    let faults = store.faults(&run.id).unwrap();
    assert_eq!(faults.len(), 2);
    assert_eq!(
        (faults[0].id, faults[0].kind.as_str(), faults[0].healed_at),
        (early, "partition", Some(1_500))
    );
    assert_eq!(faults[0].value, json!({"n1": ["n2", "n3"]}));
    assert_eq!(
        (faults[1].id, faults[1].target.as_str(), faults[1].healed_at),
        (late, "n2", None)
    );
    assert!(store.faults(&other.id).unwrap().is_empty());
}

#[test]
fn verdicts_are_kept_per_checker_and_replaced() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    store
        .set_verdict(&run.id, "stats", Validity::Valid, &json!({"ok": 10}))
        .unwrap();
    store
        .set_verdict(
            &run.id,
            "linear",
            Validity::Unknown,
            &json!({"reason": "timeout"}),
        )
        .unwrap();
    store
        .set_verdict(
            &run.id,
            "linear",
            Validity::Invalid,
            &json!({"anomaly": [1, 2]}),
        )
        .unwrap();
    let v: Vec<_> = store
        .verdicts(&run.id)
        .unwrap()
        .into_iter()
        .map(|v| (v.checker, v.valid, v.figures))
        .collect();
    assert_eq!(
        v,
        [
            (
                "linear".to_string(),
                Validity::Invalid,
                json!({"anomaly": [1, 2]})
            ),
            ("stats".to_string(), Validity::Valid, json!({"ok": 10})),
        ]
    );
}

#[test]
fn samples_after_a_cursor_are_each_read_once_in_stored_order() {
    let (_dir, store) = temp_store();
    let run = store.create_run(&three()).unwrap();
    let other = store.create_run(&three()).unwrap();
    let rows: Vec<Measurement> = (0..5)
        .flat_map(|i| {
            [
                sample(None, i, "rss", "n1", i as f64),
                sample(None, i, "cpu", "n1", 10.0 + i as f64),
            ]
        })
        .collect();
    store.add_measurements(&run.id, &rows).unwrap();
    store
        .add_measurements(&other.id, &[sample(None, 0, "rss", "n1", -1.0)])
        .unwrap();
    let first = store.samples_after(&run.id, 0, 3).unwrap();
    assert_eq!(first.samples.len(), 3);
    let names: Vec<(&str, &str)> = first
        .series
        .iter()
        .map(|k| (k.kind.as_str(), k.subject.as_str()))
        .collect();
    assert_eq!(names, [("rss", "n1"), ("cpu", "n1")]);
    assert_eq!(first.samples, [(0, 0, 0.0), (1, 0, 10.0), (0, 1, 1.0)]);
    let rest = store.samples_after(&run.id, first.cursor, 100).unwrap();
    assert_eq!(
        rest.samples.len(),
        7,
        "the rest, once, and nothing of the other run"
    );
    assert!(
        rest.samples
            .iter()
            .all(|(i, _, v)| match rest.series[*i].kind.as_str() {
                "rss" => *v < 10.0 && *v >= 0.0,
                _ => *v >= 10.0,
            })
    );
    let none = store.samples_after(&run.id, rest.cursor, 100).unwrap();
    assert!(none.samples.is_empty());
    assert_eq!(none.cursor, rest.cursor, "an empty read keeps the cursor");
}
