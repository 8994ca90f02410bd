//! Files written by an older gauntlet open and upgrade in place; the run
//! kind and the clock zero behave as documented.

use gauntlet_store::{
    Action, NewRun, NewStage, RunFilter, RunKind, RunState, StageEnd, Store, StoreError,
};
use rusqlite::{Connection, params};

const V1: &str = include_str!("data/schema-v1.sql");

/// A version-1 file as the first gauntlet left it: a plan run, finished,
/// and a soak, held.
fn v1_file(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(V1).unwrap();
    let run = |id: &str, plan: &str, state: &str, stages: &[(&str, &str)]| {
        conn.execute(
            "INSERT INTO runs (id, plan_name, plan_text, plan_sha256, seed, state, started_at,
                gauntlet_version, command_line, owner_pid)
             VALUES (?1, ?2, '', '', 7, ?3, 1795451275000, '0.1.0', '[]', 1)",
            params![id, plan, state],
        )
        .unwrap();
        let seq = conn.last_insert_rowid();
        for (i, (name, kind)) in stages.iter().enumerate() {
            conn.execute(
                "INSERT INTO stages (run_seq, ordinal, name, kind) VALUES (?1, ?2, ?3, ?4)",
                params![seq, i as i64, name, kind],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO stage_attempts (stage_id, attempt, state) VALUES (?1, 1, 'passed')",
                [conn.last_insert_rowid()],
            )
            .unwrap();
        }
    };
    run(
        "r20261123-162755-aaa",
        "shop",
        "finished",
        &[("start", "up"), ("tests", "command")],
    );
    run(
        "r20261123-162756-bbb",
        "soak-redis",
        "held",
        &[
            ("up", "up"),
            ("soak", "soak"),
            ("calm", "soak"),
            ("readback", "soak"),
        ],
    );
    conn.pragma_update(None, "user_version", 1).unwrap();
}

#[test]
fn a_version_1_file_upgrades_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gauntlet.db");
    v1_file(&path);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(Store::latest_schema_version(), 3);
    assert!(store.integrity_check().unwrap().is_empty());

    let plan = store.run("r20261123-162755").unwrap();
    assert_eq!(plan.kind, RunKind::Run);
    assert_eq!(plan.state, RunState::Finished);
    assert_eq!(plan.started_at, 1_795_451_275_000);
    // Nothing recorded it then; it is not invented now.
    assert_eq!(plan.clock_zero, None);
    let soak = store.run("r20261123-162756").unwrap();
    assert_eq!(soak.kind, RunKind::Soak, "a run with soak stages is a soak");
    assert_eq!(store.stages(&soak.id).unwrap().len(), 4);
    // The rebuilt runs table kept the stages pointing at it, and its keys
    // are enforced again.
    assert!(
        store
            .stages(&plan.id)
            .unwrap()
            .iter()
            .all(|s| s.state() == gauntlet_store::StageState::Passed)
    );
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    assert!(
        conn.execute(
            "INSERT INTO stages (run_seq, ordinal, name, kind) VALUES (999, 0, 'x', 'up')",
            []
        )
        .is_err(),
        "a stage of no run is refused"
    );
    let dangling: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0);
    drop(conn);

    // Opening again is a no-op, and an older gauntlet's writes still fit.
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(store.runs(&RunFilter::default()).unwrap().len(), 2);
}

#[test]
fn a_kind_the_schema_does_not_know_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gauntlet.db");
    let store = Store::open(&path).unwrap();
    store
        .create_run(&NewRun {
            plan_name: "p".into(),
            ..NewRun::default()
        })
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    assert!(conn.execute("UPDATE runs SET kind = 'bench'", []).is_err());
}

fn test_run() -> NewRun {
    NewRun {
        plan_name: "test:echo".into(),
        plan_text: "{\"workload\": \"echo\"}\n".into(),
        seed: 3,
        gauntlet_version: "test".into(),
        command_line: vec!["gauntlet".into(), "test".into()],
        stages: vec![NewStage::new("test", "test")],
        ..NewRun::default()
    }
}

#[test]
fn runs_have_kinds_and_a_clock_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    assert_eq!(store.path(), dir.path().join("gauntlet.db"));
    assert_eq!(store.artifact_root(), dir.path());

    let plan = store
        .create_run(&NewRun {
            plan_name: "shop".into(),
            stages: vec![NewStage::new("up", "up")],
            ..NewRun::default()
        })
        .unwrap();
    assert_eq!(plan.kind, RunKind::Run);
    assert_eq!(plan.clock_zero, Some(plan.started_at));
    assert_eq!(
        store.artifact_dir(&plan.id),
        dir.path().join(plan.id.as_str())
    );

    let test = store.create_run_as(RunKind::Test, &test_run()).unwrap();
    assert_eq!(test.kind, RunKind::Test);
    store
        .set_clock_zero(&test.id, test.started_at + 12)
        .unwrap();
    assert_eq!(
        store.run(test.id.as_str()).unwrap().clock_zero,
        Some(test.started_at + 12)
    );

    let tests = store
        .runs(&RunFilter {
            kind: Some(RunKind::Test),
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].id, test.id);
    let json = serde_json::to_value(&tests[0]).unwrap();
    assert_eq!(json["kind"], "test");
}

#[test]
fn a_test_run_is_not_retried_or_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let run = store.create_run_as(RunKind::Test, &test_run()).unwrap();
    store.start_stage(&run.id, "test").unwrap();
    store.interrupt_run(&run.id, "Ctrl-C").unwrap();
    assert_eq!(
        store.run(run.id.as_str()).unwrap().state,
        RunState::Interrupted
    );
    let err = store.retry(&run.id).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotResumable {
                kind: RunKind::Test,
                action: Action::Retry,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(run.id.as_str()), "{err}");
    let err = store
        .override_stage(&run.id, "test", "fine", "alice")
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotResumable {
                action: Action::Override,
                ..
            }
        ),
        "{err:?}"
    );
    // Still interrupted, and it can be given up on.
    assert_eq!(
        store.run(run.id.as_str()).unwrap().state,
        RunState::Interrupted
    );
    store.abandon(&run.id, "not needed").unwrap();

    // A finished test run lists like any other.
    let ok = store.create_run_as(RunKind::Test, &test_run()).unwrap();
    store.start_stage(&ok.id, "test").unwrap();
    store
        .finish_stage(&ok.id, "test", StageEnd::passed())
        .unwrap();
    store
        .finish_run(&ok.id, gauntlet_store::Validity::Invalid)
        .unwrap();
    let r = store.run("latest").unwrap();
    assert_eq!((r.kind, r.state), (RunKind::Test, RunState::Finished));
}
