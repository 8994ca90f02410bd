//! The store shared by real OS processes: this test binary re-executed as
//! a child (the `child` test, which does nothing unless `CHILD_ROLE` is set).

// Prints a test's measurements for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gauntlet_store::{
    Action, Measurement, NewFault, NewRun, NewStage, RunFilter, RunId, RunState, StageEnd,
    StageState, Store, StoreError, Validity,
};
use serde_json::json;

const ROLE: &str = "GAUNTLET_STORE_CHILD_ROLE";
const DB: &str = "GAUNTLET_STORE_CHILD_DB";
const DIR: &str = "GAUNTLET_STORE_CHILD_DIR";

/// Runs per writer process, and samples per run.
const RUNS: usize = 12;
const SAMPLES: usize = 3_000;
const BATCH: usize = 250;

fn spawn_child(role: &str, db: &Path, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DB, db)
        .env(DIR, dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes `text` to `path` atomically (the reader polls for the name).
fn publish(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

fn plan(name: &str) -> NewRun {
    NewRun {
        plan_name: name.into(),
        plan_text: format!("# plan {name}\n"),
        gauntlet_version: "test".into(),
        stages: vec![
            NewStage::new("up", "up"),
            NewStage::new("load", "workload"),
            NewStage::new("down", "down"),
        ],
        ..NewRun::default()
    }
}

/// The child's side. Not a test of its own: a no-op unless re-executed.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let db = PathBuf::from(std::env::var_os(DB).unwrap());
    let dir = PathBuf::from(std::env::var_os(DIR).unwrap());
    match role.as_str() {
        "writer-a" | "writer-b" => writer(&role, &db, &dir),
        "holder" => holder(&db, &dir),
        other => panic!("unknown role {other}"),
    }
}

/// Creates and drives RUNS runs through every kind of write: stage
/// transitions (half the runs fail a stage, are held and retried), bulk
/// measurements, faults and verdicts.
fn writer(role: &str, db: &Path, dir: &Path) {
    // Both writers open (and so create and migrate) the new file at once.
    let store = Store::open(db).unwrap();
    wait_for(&dir.join("go"));
    for i in 0..RUNS {
        let run = store.create_run(&plan(role)).unwrap().id;
        store.start_stage(&run, "up").unwrap();
        store.finish_stage(&run, "up", StageEnd::passed()).unwrap();
        let load = store.start_stage(&run, "load").unwrap().id;
        let fault = store
            .record_fault(
                &run,
                &NewFault {
                    time: 10,
                    kind: "kill".into(),
                    target: "n1".into(),
                    value: json!({"signal": 9}),
                },
            )
            .unwrap();
        let samples: Vec<Measurement> = (0..SAMPLES)
            .map(|t| Measurement {
                stage: Some(load),
                time: t as i64,
                kind: "rss".into(),
                subject: role.into(),
                value: (i * SAMPLES + t) as f64,
                unit: "bytes".into(),
            })
            .collect();
        for batch in samples.chunks(BATCH) {
            store.add_measurements(&run, batch).unwrap();
        }
        store.heal_fault(&run, fault, 20).unwrap();
        if i % 2 == 1 {
            let state = store
                .finish_stage(&run, "load", StageEnd::failed("injected"))
                .unwrap();
            assert_eq!(state, RunState::Held);
            store.retry(&run).unwrap();
            store.start_stage(&run, "load").unwrap();
        }
        store
            .finish_stage(&run, "load", StageEnd::passed())
            .unwrap();
        store.start_stage(&run, "down").unwrap();
        store
            .finish_stage(&run, "down", StageEnd::passed())
            .unwrap();
        store
            .set_verdict(&run, "stats", Validity::Valid, &json!({ "i": i }))
            .unwrap();
        store.finish_run(&run, Validity::Valid).unwrap();
    }
}

/// Creates three runs, starts a stage in two, says their ids, and waits to
/// be released; then exits without finishing anything.
fn holder(db: &Path, dir: &Path) {
    let store = Store::open(db).unwrap();
    let mid_stage = store.create_run(&plan("holder")).unwrap().id;
    store.start_stage(&mid_stage, "up").unwrap();
    let between = store.create_run(&plan("holder")).unwrap().id;
    store.start_stage(&between, "up").unwrap();
    store
        .finish_stage(&between, "up", StageEnd::passed())
        .unwrap();
    let swept = store.create_run(&plan("holder")).unwrap().id;
    store.start_stage(&swept, "up").unwrap();
    publish(
        &dir.join("ids"),
        &format!("{mid_stage} {between} {swept} {}", std::process::id()),
    );
    wait_for(&dir.join("release"));
}

fn wait_ok(mut child: Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn two_processes_write_concurrently_without_corruption_or_spurious_failures() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let a = spawn_child("writer-a", &db, dir.path());
    let b = spawn_child("writer-b", &db, dir.path());
    std::fs::write(dir.path().join("go"), "").unwrap();
    wait_ok(a, "writer-a");
    wait_ok(b, "writer-b");

    let store = Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());
    assert_eq!(
        store.schema_version().unwrap(),
        Store::latest_schema_version()
    );
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 2 * RUNS);
    // How often creation order switched writer: > 1 means they overlapped.
    let switches = runs
        .windows(2)
        .filter(|w| w[0].plan_name != w[1].plan_name)
        .count();
    eprintln!("run creation switched writer {switches} times");
    for role in ["writer-a", "writer-b"] {
        let mine: Vec<_> = runs.iter().filter(|r| r.plan_name == role).collect();
        assert_eq!(mine.len(), RUNS, "{role}");
        // Newest first; run i of this writer is mine[RUNS - 1 - i].
        for (i, run) in mine.iter().rev().enumerate() {
            assert_eq!(
                (run.state, run.result),
                (RunState::Finished, Some(Validity::Valid))
            );
            let samples = store.measurements(&run.id, "rss", role).unwrap();
            assert_eq!(samples.len(), SAMPLES, "{}", run.id);
            assert!(
                samples
                    .iter()
                    .enumerate()
                    .all(|(t, m)| m.time == t as i64 && m.value == (i * SAMPLES + t) as f64),
                "{}",
                run.id
            );
            let stages = store.stages(&run.id).unwrap();
            assert!(stages.iter().all(|s| s.state() == StageState::Passed));
            assert_eq!(stages[1].attempts.len(), 1 + i % 2, "{}", run.id);
            let faults = store.faults(&run.id).unwrap();
            assert_eq!((faults.len(), faults[0].healed_at), (1, Some(20)));
            assert_eq!(
                store.verdicts(&run.id).unwrap()[0].figures,
                json!({ "i": i })
            );
        }
    }
}

#[test]
fn a_run_whose_process_died_is_interrupted_and_can_be_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gauntlet.db");
    let child = spawn_child("holder", &db, dir.path());
    wait_for(&dir.path().join("ids"));
    let ids = std::fs::read_to_string(dir.path().join("ids")).unwrap();
    let ids: Vec<&str> = ids.split(' ').collect();
    let store = Store::open(&db).unwrap();
    let [mid_stage, between, swept] = [0, 1, 2].map(|i| store.resolve(ids[i]).unwrap());
    let pid: u32 = ids[3].parse().unwrap();

    // While the holder lives, its runs are its own.
    let run = store.run(mid_stage.as_str()).unwrap();
    assert_eq!((run.state, run.owner.pid), (RunState::Running, pid));
    assert!(!store.mark_interrupted_if_dead(&mid_stage).unwrap());
    assert!(store.mark_dead_runs_interrupted().unwrap().is_empty());
    match store.retry(&mid_stage) {
        Err(e @ StoreError::RunIsLive { .. }) => {
            assert!(e.to_string().contains(&pid.to_string()), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.abandon(&mid_stage, "mine now"),
        Err(StoreError::RunIsLive { .. })
    ));
    assert!(matches!(
        store.override_stage(&mid_stage, "up", "r", "me"),
        Err(StoreError::RunIsLive { .. })
    ));
    match store.finish_stage(&mid_stage, "up", StageEnd::passed()) {
        Err(StoreError::NotOwner {
            pid: p, this_pid, ..
        }) => {
            assert_eq!((p, this_pid), (pid, std::process::id()));
        }
        other => panic!("{other:?}"),
    }

    // The holder dies (exits without finishing anything).
    std::fs::write(dir.path().join("release"), "").unwrap();
    wait_ok(child, "holder");

    // 1. Asked directly.
    assert!(store.mark_interrupted_if_dead(&mid_stage).unwrap());
    assert!(!store.mark_interrupted_if_dead(&mid_stage).unwrap(), "once");
    let run = store.run(mid_stage.as_str()).unwrap();
    assert_eq!(run.state, RunState::Interrupted);
    assert_eq!(run.held_stage.as_deref(), Some("up"));
    assert!(
        run.message.as_deref().unwrap().contains(&pid.to_string()),
        "{run:?}"
    );
    let up = &store.stages(&mid_stage).unwrap()[0];
    assert_eq!(up.state(), StageState::Failed);
    assert!(
        up.current()
            .message
            .as_deref()
            .unwrap()
            .starts_with("interrupted")
    );
    assert!(matches!(
        store.start_stage(&mid_stage, "up"),
        Err(StoreError::RunState {
            state: RunState::Interrupted,
            action: Action::StartStage,
            ..
        })
    ));
    // Retry resumes it here, with a new attempt at the stage it was in.
    let resumed = store.retry(&mid_stage).unwrap();
    assert_eq!(resumed.state, RunState::Running);
    assert_eq!(&resumed.owner, store.owner());
    assert_eq!(resumed.held_stage, None);
    assert_eq!(store.start_stage(&mid_stage, "up").unwrap().attempt, 2);
    finish_all(&store, &mid_stage, &["up", "load", "down"]);

    // 2. Found by retry itself; it died between stages, so no stage failed.
    let resumed = store.retry(&between).unwrap();
    assert_eq!(resumed.state, RunState::Running);
    let stages = store.stages(&between).unwrap();
    assert_eq!(
        stages
            .iter()
            .map(|s| (s.state(), s.attempts.len()))
            .collect::<Vec<_>>(),
        [
            (StageState::Passed, 1),
            (StageState::Pending, 1),
            (StageState::Pending, 1)
        ]
    );
    store.start_stage(&between, "load").unwrap();
    finish_all(&store, &between, &["load", "down"]);

    // 3. Found by the sweep; then overridden rather than retried.
    assert_eq!(
        store.mark_dead_runs_interrupted().unwrap(),
        vec![swept.clone()]
    );
    assert_eq!(
        store.run(swept.as_str()).unwrap().state,
        RunState::Interrupted
    );
    store
        .override_stage(&swept, "up", "it was up; the runner was OOM-killed", "ops")
        .unwrap();
    assert_eq!(
        store.stages(&swept).unwrap()[0].state(),
        StageState::Overridden
    );
    store.start_stage(&swept, "load").unwrap();
    finish_all(&store, &swept, &["load", "down"]);
    assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());
}

/// Finishes the running first stage, then runs the rest, then the run.
fn finish_all(store: &Store, run: &RunId, stages: &[&str]) {
    store
        .finish_stage(run, stages[0], StageEnd::passed())
        .unwrap();
    for s in &stages[1..] {
        store.start_stage(run, s).unwrap();
        store.finish_stage(run, s, StageEnd::passed()).unwrap();
    }
    store.finish_run(run, Validity::Valid).unwrap();
    assert_eq!(store.run(run.as_str()).unwrap().state, RunState::Finished);
}
