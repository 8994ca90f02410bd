//! Runs and stages: creation, the checked state transitions, and lookups.

use std::collections::HashSet;

use gauntlet_check::Validity;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use crate::Store;
use crate::error::{Action, Result, StoreError};
use crate::owner::{Liveness, Owner};
use crate::runid::{format_id, random_suffix};
use crate::sql::{Json, Strings, Valid, hex};
use crate::types::{
    AttemptId, Millis, NewRun, NewStage, Override, Run, RunFilter, RunId, RunKind, RunState, Stage,
    StageAttempt, StageEnd, StageState, now_ms,
};

const RUN_COLS: &str = "seq, id, plan_name, plan_path, plan_text, plan_sha256, seed, state, \
     result, started_at, ended_at, held_stage, message, gauntlet_version, command_line, \
     owner_pid, owner_start_ticks, owner_boot_id, owner_host, kind, clock_zero, \
     (SELECT MAX(COALESCE(a.ended_at, a.started_at)) FROM stages s \
      JOIN stage_attempts a ON a.stage_id = s.id WHERE s.run_seq = runs.seq)";

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Run)> {
    Ok((
        r.get(0)?,
        Run {
            id: RunId(r.get(1)?),
            kind: r.get(19)?,
            plan_name: r.get(2)?,
            plan_path: r.get(3)?,
            plan_text: r.get(4)?,
            plan_sha256: r.get(5)?,
            seed: r.get::<_, i64>(6)? as u64,
            state: r.get(7)?,
            result: r.get::<_, Option<Valid>>(8)?.map(|v| v.0),
            started_at: r.get(9)?,
            clock_zero: r.get(20)?,
            ended_at: r.get(10)?,
            last_active_at: r.get(21)?,
            held_stage: r.get(11)?,
            message: r.get(12)?,
            gauntlet_version: r.get(13)?,
            command_line: r.get::<_, Strings>(14)?.0,
            owner: Owner {
                pid: r.get(15)?,
                start_ticks: r.get::<_, Option<i64>>(16)?.map(|t| t as u64),
                boot_id: r.get(17)?,
                host: r.get(18)?,
            },
        },
    ))
}

/// The run with exactly this id, and its `seq`.
pub(crate) fn load_run(conn: &Connection, id: &RunId) -> Result<(i64, Run)> {
    conn.query_row(
        &format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"),
        [id.as_str()],
        run_from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::RunNotFound {
        query: id.to_string(),
    })
}

/// The `seq` of the run with exactly this id.
pub(crate) fn seq_of(conn: &Connection, id: &RunId) -> Result<i64> {
    conn.query_row("SELECT seq FROM runs WHERE id = ?1", [id.as_str()], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| StoreError::RunNotFound {
        query: id.to_string(),
    })
}

/// Finds the one run that `query` names: `latest`, an id, or a unique
/// prefix of one (the leading `r` may be left out).
fn resolve(conn: &Connection, query: &str) -> Result<RunId> {
    let not_found = || StoreError::RunNotFound {
        query: query.to_owned(),
    };
    let q = query.trim().to_ascii_lowercase();
    if q.is_empty() {
        return Err(not_found());
    }
    if q == "latest" {
        return conn
            .query_row("SELECT id FROM runs ORDER BY seq DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?
            .map(RunId)
            .ok_or_else(not_found);
    }
    let with_prefix = |p: &str| -> Result<Vec<RunId>> {
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY seq DESC",
        )?;
        let ids = stmt
            .query_map([p], |r| r.get(0).map(RunId))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ids)
    };
    let mut found = with_prefix(&q)?;
    if found.is_empty() && !q.starts_with('r') {
        found = with_prefix(&format!("r{q}"))?;
    }
    // An exact id wins even if it is also a prefix of others (it cannot be
    // with the current format, but ids are data).
    if let Some(exact) = found.iter().find(|id| id.0 == q || id.0 == format!("r{q}")) {
        return Ok(exact.clone());
    }
    match found.len() {
        0 => Err(not_found()),
        1 => Ok(found.pop().expect("one")),
        count => {
            found.truncate(10);
            Err(StoreError::AmbiguousRun {
                query: query.to_owned(),
                candidates: found,
                count,
            })
        }
    }
}

/// The latest attempt of a stage, as the transitions need it.
struct Current {
    stage_id: i64,
    ordinal: u32,
    name: String,
    attempt_id: i64,
    attempt: u32,
    state: StageState,
}

/// Every stage of the run with its latest attempt, in plan order.
fn current_stages(conn: &Connection, seq: i64) -> Result<Vec<Current>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.ordinal, s.name, a.id, a.attempt, a.state
         FROM stages s JOIN stage_attempts a ON a.stage_id = s.id
         WHERE s.run_seq = ?1
           AND a.attempt = (SELECT MAX(attempt) FROM stage_attempts WHERE stage_id = s.id)
         ORDER BY s.ordinal",
    )?;
    let rows = stmt
        .query_map([seq], |r| {
            Ok(Current {
                stage_id: r.get(0)?,
                ordinal: r.get(1)?,
                name: r.get(2)?,
                attempt_id: r.get(3)?,
                attempt: r.get(4)?,
                state: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn find<'a>(stages: &'a [Current], run: &RunId, name: &str) -> Result<&'a Current> {
    stages
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| StoreError::StageNotFound {
            run: run.clone(),
            stage: name.to_owned(),
        })
}

fn stage_state_error(run: &RunId, s: &Current, action: Action) -> StoreError {
    StoreError::StageState {
        run: run.clone(),
        stage: s.name.clone(),
        attempt: s.attempt,
        state: s.state,
        action,
    }
}

/// `s` must be pending and every stage before it done.
fn check_next(stages: &[Current], s: &Current, run: &Run, action: Action) -> Result<()> {
    if s.state != StageState::Pending {
        return Err(stage_state_error(&run.id, s, action));
    }
    if let Some(b) = stages
        .iter()
        .find(|e| e.ordinal < s.ordinal && !may_follow(run.kind, e.state))
    {
        return Err(StoreError::OutOfOrder {
            run: run.id.clone(),
            stage: s.name.clone(),
            blocking: b.name.clone(),
            blocking_state: b.state,
        });
    }
    Ok(())
}

/// Whether a stage in `state` lets a later stage start: in a plan run
/// only a done one (passed, overridden, skipped); in a fleet loop any
/// ended one, since a failed phase is the loop's to answer with the next.
fn may_follow(kind: RunKind, state: StageState) -> bool {
    match kind {
        RunKind::Fleet => !matches!(state, StageState::Pending | StageState::Running),
        _ => state.is_done(),
    }
}

fn load_attempt(conn: &Connection, id: i64) -> Result<StageAttempt> {
    Ok(conn.query_row(
        "SELECT id, attempt, state, started_at, ended_at, summary, message
         FROM stage_attempts WHERE id = ?1",
        [id],
        |r| attempt_from_row(r, 0),
    )?)
}

fn attempt_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<StageAttempt> {
    Ok(StageAttempt {
        id: AttemptId(r.get(at)?),
        attempt: r.get(at + 1)?,
        state: r.get(at + 2)?,
        started_at: r.get(at + 3)?,
        ended_at: r.get(at + 4)?,
        summary: r.get::<_, Option<Json>>(at + 5)?.map(|j| j.0),
        message: r.get(at + 6)?,
    })
}

/// Why a run stopped without a verdict: its owner died, or its owner was
/// told to stop (Ctrl-C).
enum Cause<'a> {
    Died,
    Stopped(&'a str),
}

/// Marks a run interrupted: its running stage attempt fails (the process
/// cannot say otherwise) and becomes the run's `held_stage`. When its
/// owner died, nobody saw when: the attempt keeps no end time (so a run
/// found dead a day later does not seem to have run for a day), and its
/// last activity is its start.
fn interrupt(conn: &Connection, seq: i64, run: &Run, now: Millis, cause: Cause) -> Result<()> {
    let who = match &run.owner.host {
        Some(h) => format!("gauntlet process {} on {h}", run.owner.pid),
        None => format!("gauntlet process {}", run.owner.pid),
    };
    let ended_at = (!matches!(cause, Cause::Died)).then_some(now);
    let (stage_message, run_message) = match cause {
        Cause::Died => (
            format!("interrupted: {who} died"),
            format!("{who} died while running it"),
        ),
        Cause::Stopped(why) => (
            format!("interrupted: {why}"),
            format!("{who} stopped it: {why}"),
        ),
    };
    let mut held = None;
    for s in current_stages(conn, seq)? {
        if s.state == StageState::Running {
            conn.execute(
                "UPDATE stage_attempts SET state = 'failed', ended_at = ?2, message = ?3
                 WHERE id = ?1",
                params![s.attempt_id, ended_at, stage_message],
            )?;
            held = Some(s.name);
        }
    }
    conn.execute(
        "UPDATE runs SET state = 'interrupted', held_stage = ?2, message = ?3 WHERE seq = ?1",
        params![seq, held, run_message],
    )?;
    Ok(())
}

impl Store {
    /// Records a new plan run (`gauntlet run`), `running` and driven by
    /// this process, with every stage pending at attempt 1.
    pub fn create_run(&self, new: &NewRun) -> Result<Run> {
        self.create_run_as(RunKind::Run, new)
    }

    /// [`Store::create_run`] for a run of any kind. Its clock zero is its
    /// start until [`Store::set_clock_zero`] says otherwise.
    pub fn create_run_as(&self, kind: RunKind, new: &NewRun) -> Result<Run> {
        let mut names = HashSet::new();
        for s in &new.stages {
            if !names.insert(s.name.as_str()) {
                return Err(StoreError::DuplicateStage {
                    stage: s.name.clone(),
                });
            }
        }
        let sha = hex(&Sha256::digest(new.plan_text.as_bytes()));
        let command_line =
            serde_json::to_string(&new.command_line).expect("strings always serialize");
        let o = &self.owner;
        self.write(|tx| {
            let now = now_ms();
            let id = unused_id(tx, now)?;
            tx.execute(
                "INSERT INTO runs (id, plan_name, plan_path, plan_text, plan_sha256, seed, state,
                    started_at, gauntlet_version, command_line,
                    owner_pid, owner_start_ticks, owner_boot_id, owner_host, kind, clock_zero)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                    ?14, ?7)",
                params![
                    id,
                    new.plan_name,
                    new.plan_path,
                    new.plan_text,
                    sha,
                    new.seed as i64,
                    now,
                    new.gauntlet_version,
                    command_line,
                    o.pid,
                    o.start_ticks.map(|t| t as i64),
                    o.boot_id,
                    o.host,
                    kind,
                ],
            )?;
            let seq = tx.last_insert_rowid();
            for (ordinal, s) in new.stages.iter().enumerate() {
                tx.execute(
                    "INSERT INTO stages (run_seq, ordinal, name, kind) VALUES (?1, ?2, ?3, ?4)",
                    params![seq, ordinal as i64, s.name, s.kind],
                )?;
                tx.execute(
                    "INSERT INTO stage_attempts (stage_id, attempt, state)
                     VALUES (?1, 1, 'pending')",
                    [tx.last_insert_rowid()],
                )?;
            }
            Ok(load_run(tx, &RunId(id))?.1)
        })
    }

    /// Records when the run's own clock (its history's `time` 0) read
    /// zero, as wall-clock [`Millis`]; see [`Run::clock_zero`]. The run must
    /// be driven by this process (running, or just ended by it).
    pub fn set_clock_zero(&self, run: &RunId, at: Millis) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            if r.owner != self.owner {
                return Err(StoreError::NotOwner {
                    run: run.clone(),
                    pid: r.owner.pid,
                    this_pid: self.owner.pid,
                });
            }
            tx.execute(
                "UPDATE runs SET clock_zero = ?2 WHERE seq = ?1",
                params![seq, at],
            )?;
            Ok(())
        })
    }

    /// A test run is judged once and never holds: there is no failed
    /// stage to run again or accept, only the command to repeat.
    fn ensure_resumable(run: &Run, action: Action) -> Result<()> {
        if run.kind == RunKind::Test {
            return Err(StoreError::NotResumable {
                run: run.id.clone(),
                kind: run.kind,
                action,
            });
        }
        Ok(())
    }

    /// The run must be `running` and driven by this process.
    fn ensure_driving(&self, run: &Run, action: Action) -> Result<()> {
        if run.state != RunState::Running {
            return Err(StoreError::RunState {
                run: run.id.clone(),
                state: run.state,
                action,
            });
        }
        if run.owner != self.owner {
            return Err(StoreError::NotOwner {
                run: run.id.clone(),
                pid: run.owner.pid,
                this_pid: self.owner.pid,
            });
        }
        Ok(())
    }

    /// Loads a run for an operator action. A run still `running` under a
    /// dead owner is marked interrupted first; under another live (or
    /// unknowable) owner the action is refused.
    fn load_for_operator(&self, conn: &Connection, id: &RunId) -> Result<(i64, Run)> {
        let (seq, run) = load_run(conn, id)?;
        if run.state != RunState::Running || run.owner == self.owner {
            return Ok((seq, run));
        }
        match run.owner.liveness() {
            Liveness::Dead => {
                interrupt(conn, seq, &run, now_ms(), Cause::Died)?;
                load_run(conn, id)
            }
            Liveness::Alive | Liveness::Unknown => Err(StoreError::RunIsLive {
                run: id.clone(),
                pid: run.owner.pid,
                host: run.owner.host,
            }),
        }
    }

    /// The run is `running` again, driven by this process.
    fn resume(&self, conn: &Connection, seq: i64) -> Result<()> {
        let o = &self.owner;
        conn.execute(
            "UPDATE runs SET state = 'running', held_stage = NULL, message = NULL,
                owner_pid = ?2, owner_start_ticks = ?3, owner_boot_id = ?4, owner_host = ?5
             WHERE seq = ?1",
            params![
                seq,
                o.pid,
                o.start_ticks.map(|t| t as i64),
                o.boot_id,
                o.host
            ],
        )?;
        Ok(())
    }

    /// Starts the stage's current attempt. The run must be `running` and
    /// driven by this process, the attempt `pending`, and every earlier
    /// stage passed, overridden or skipped.
    pub fn start_stage(&self, run: &RunId, stage: &str) -> Result<StageAttempt> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::StartStage)?;
            let stages = current_stages(tx, seq)?;
            let s = find(&stages, run, stage)?;
            check_next(&stages, s, &r, Action::StartStage)?;
            tx.execute(
                "UPDATE stage_attempts SET state = 'running', started_at = ?2 WHERE id = ?1",
                params![s.attempt_id, now_ms()],
            )?;
            load_attempt(tx, s.attempt_id)
        })
    }

    /// Ends the stage's running attempt. A failure holds the run (in the
    /// same transaction): the returned state is `held`, else `running`.
    pub fn finish_stage(&self, run: &RunId, stage: &str, end: StageEnd) -> Result<RunState> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::FinishStage)?;
            let stages = current_stages(tx, seq)?;
            let s = find(&stages, run, stage)?;
            if s.state != StageState::Running {
                return Err(stage_state_error(run, s, Action::FinishStage));
            }
            let state = if end.passed {
                StageState::Passed
            } else {
                StageState::Failed
            };
            tx.execute(
                "UPDATE stage_attempts SET state = ?2, ended_at = ?3, summary = ?4, message = ?5
                 WHERE id = ?1",
                params![
                    s.attempt_id,
                    state,
                    now_ms(),
                    end.summary.map(|v| v.to_string()),
                    end.message
                ],
            )?;
            // A fleet loop answers a failed phase itself (a fix, a hold).
            if end.passed || r.kind == RunKind::Fleet {
                return Ok(RunState::Running);
            }
            tx.execute(
                "UPDATE runs SET state = 'held', held_stage = ?2 WHERE seq = ?1",
                params![seq, s.name],
            )?;
            Ok(RunState::Held)
        })
    }

    /// Skips a stage: a pending one, next in order, without running it, or
    /// the running one, which found that what it needs is absent.
    /// `message` says why; a skipped stage counts as done, never as passed.
    pub fn skip_stage(&self, run: &RunId, stage: &str, message: &str) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::SkipStage)?;
            let stages = current_stages(tx, seq)?;
            let s = find(&stages, run, stage)?;
            if s.state != StageState::Running {
                check_next(&stages, s, &r, Action::SkipStage)?;
            }
            tx.execute(
                "UPDATE stage_attempts SET state = 'skipped', ended_at = ?2, message = ?3
                 WHERE id = ?1",
                params![
                    s.attempt_id,
                    now_ms(),
                    (!message.is_empty()).then_some(message)
                ],
            )?;
            Ok(())
        })
    }

    /// Adds a pending stage at the end of a fleet loop, the phase the loop
    /// decided on. The run must be running, driven by this process, and
    /// every stage ended.
    pub fn append_stage(&self, run: &RunId, stage: &NewStage) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::AppendStage)?;
            if r.kind != RunKind::Fleet {
                return Err(StoreError::FixedStages {
                    run: run.clone(),
                    kind: r.kind,
                });
            }
            let stages = current_stages(tx, seq)?;
            if let Some(b) = stages.iter().find(|e| !may_follow(r.kind, e.state)) {
                return Err(StoreError::OutOfOrder {
                    run: run.clone(),
                    stage: stage.name.clone(),
                    blocking: b.name.clone(),
                    blocking_state: b.state,
                });
            }
            if stages.iter().any(|e| e.name == stage.name) {
                return Err(StoreError::DuplicateStage {
                    stage: stage.name.clone(),
                });
            }
            let ordinal = stages.last().map_or(0, |e| e.ordinal + 1);
            tx.execute(
                "INSERT INTO stages (run_seq, ordinal, name, kind) VALUES (?1, ?2, ?3, ?4)",
                params![seq, ordinal, stage.name, stage.kind],
            )?;
            tx.execute(
                "INSERT INTO stage_attempts (stage_id, attempt, state) VALUES (?1, 1, 'pending')",
                [tx.last_insert_rowid()],
            )?;
            Ok(())
        })
    }

    /// Holds a fleet loop that wants an operator: at its last stage, which
    /// must have failed (a retry runs it again, an override counts it as
    /// done), with `why` as the run's message.
    pub fn hold_run(&self, run: &RunId, why: &str) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::Hold)?;
            let stages = current_stages(tx, seq)?;
            let Some(last) = stages.last() else {
                return Err(StoreError::RunState {
                    run: run.clone(),
                    state: r.state,
                    action: Action::Hold,
                });
            };
            if last.state != StageState::Failed {
                return Err(stage_state_error(run, last, Action::Hold));
            }
            tx.execute(
                "UPDATE runs SET state = 'held', held_stage = ?2, message = ?3 WHERE seq = ?1",
                params![seq, last.name, why],
            )?;
            Ok(())
        })
    }

    /// Ends a run whose stages are all passed, overridden or skipped, with
    /// its verdict.
    pub fn finish_run(&self, run: &RunId, result: Validity) -> Result<()> {
        self.conclude(run, result, None)
    }

    /// [`Store::finish_run`] with a message saying why the run ended as it
    /// did (a fleet loop that could not go on). A fleet loop's stages must
    /// all have ended, failed ones included.
    pub fn conclude(&self, run: &RunId, result: Validity, message: Option<&str>) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::FinishRun)?;
            if let Some(s) = current_stages(tx, seq)?
                .into_iter()
                .find(|s| !may_follow(r.kind, s.state))
            {
                return Err(StoreError::Unfinished {
                    run: run.clone(),
                    stage: s.name,
                    state: s.state,
                });
            }
            tx.execute(
                "UPDATE runs SET state = 'finished', result = ?2, ended_at = ?3, held_stage = NULL,
                    message = COALESCE(?4, message)
                 WHERE seq = ?1",
                params![seq, Valid(result), now_ms(), message],
            )?;
            Ok(())
        })
    }

    /// Resumes a `held` or `interrupted` run (an interrupted one may still
    /// say `running`: its dead owner is detected here). The failed stage,
    /// if any, gets a new pending attempt; the run is `running` again,
    /// driven by this process, which then starts that stage.
    pub fn retry(&self, run: &RunId) -> Result<Run> {
        self.write(|tx| {
            let (seq, r) = self.load_for_operator(tx, run)?;
            Self::ensure_resumable(&r, Action::Retry)?;
            if !matches!(r.state, RunState::Held | RunState::Interrupted) {
                return Err(StoreError::RunState {
                    run: run.clone(),
                    state: r.state,
                    action: Action::Retry,
                });
            }
            // The stage the run holds at (a fleet loop keeps failed phases
            // behind it, answered; only the one it stopped at runs again).
            if let Some(s) = current_stages(tx, seq)?.into_iter().find(|s| {
                s.state == StageState::Failed && r.held_stage.as_deref().is_none_or(|h| h == s.name)
            }) {
                tx.execute(
                    "INSERT INTO stage_attempts (stage_id, attempt, state) VALUES (?1, ?2, 'pending')",
                    params![s.stage_id, s.attempt + 1],
                )?;
            }
            self.resume(tx, seq)?;
            Ok(load_run(tx, run)?.1)
        })
    }

    /// The operator accepts a failed stage and lets the run go on: the
    /// stage's failed attempt becomes `overridden`, the override is
    /// recorded (see [`Store::overrides`]), and the run is `running` again,
    /// driven by this process, which then starts the next stage (or
    /// finishes the run). The run must be `held` or `interrupted`.
    pub fn override_stage(&self, run: &RunId, stage: &str, reason: &str, who: &str) -> Result<()> {
        for (field, value) in [("reason", reason), ("who", who)] {
            if value.trim().is_empty() {
                return Err(StoreError::EmptyOverrideField {
                    run: run.clone(),
                    stage: stage.to_owned(),
                    field,
                });
            }
        }
        self.write(|tx| {
            let (seq, r) = self.load_for_operator(tx, run)?;
            Self::ensure_resumable(&r, Action::Override)?;
            if !matches!(r.state, RunState::Held | RunState::Interrupted) {
                return Err(StoreError::RunState {
                    run: run.clone(),
                    state: r.state,
                    action: Action::Override,
                });
            }
            let stages = current_stages(tx, seq)?;
            let s = find(&stages, run, stage)?;
            if s.state != StageState::Failed {
                return Err(stage_state_error(run, s, Action::Override));
            }
            let now = now_ms();
            tx.execute(
                "UPDATE stage_attempts SET state = 'overridden' WHERE id = ?1",
                [s.attempt_id],
            )?;
            tx.execute(
                "INSERT INTO overrides (run_seq, attempt_id, reason, who, time)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![seq, s.attempt_id, reason.trim(), who.trim(), now],
            )?;
            self.resume(tx, seq)
        })
    }

    /// Gives up on a run: `held`, `interrupted`, or `running` in this
    /// process (its running stage attempt then fails). The run ends
    /// `abandoned` with no result; `reason` (may be empty) is kept as its
    /// message.
    pub fn abandon(&self, run: &RunId, reason: &str) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = self.load_for_operator(tx, run)?;
            let now = now_ms();
            let reason = (!reason.trim().is_empty()).then(|| reason.trim());
            let mut held = r.held_stage.clone();
            match r.state {
                RunState::Held | RunState::Interrupted => {}
                // Only this process's own run gets here while running.
                RunState::Running => {
                    for s in current_stages(tx, seq)? {
                        if s.state == StageState::Running {
                            tx.execute(
                                "UPDATE stage_attempts SET state = 'failed', ended_at = ?2,
                                    message = ?3 WHERE id = ?1",
                                params![
                                    s.attempt_id,
                                    now,
                                    format!("abandoned: {}", reason.unwrap_or("no reason given"))
                                ],
                            )?;
                            held = Some(s.name);
                        }
                    }
                }
                RunState::Finished | RunState::Abandoned => {
                    return Err(StoreError::RunState {
                        run: run.clone(),
                        state: r.state,
                        action: Action::Abandon,
                    });
                }
            }
            tx.execute(
                "UPDATE runs SET state = 'abandoned', ended_at = ?2, message = ?3, held_stage = ?4
                 WHERE seq = ?1",
                params![seq, now, reason, held],
            )?;
            Ok(())
        })
    }

    /// Marks a run this process drives `interrupted` (the operator stopped
    /// it, e.g. with Ctrl-C): the running stage attempt fails with `why`,
    /// and `retry` resumes the run from there.
    pub fn interrupt_run(&self, run: &RunId, why: &str) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::Interrupt)?;
            interrupt(tx, seq, &r, now_ms(), Cause::Stopped(why))
        })
    }

    /// Ends the stage's running attempt as failed (with `end`'s summary and
    /// message) and marks the run `interrupted` with `why`, in one
    /// transaction: the stage could not be carried out (a program that
    /// cannot be started), which is no verdict on what it tests, so the run
    /// does not hold; `retry` runs the stage again once the cause is fixed.
    pub fn interrupt_stage(
        &self,
        run: &RunId,
        stage: &str,
        end: StageEnd,
        why: &str,
    ) -> Result<()> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            self.ensure_driving(&r, Action::Interrupt)?;
            let stages = current_stages(tx, seq)?;
            let s = find(&stages, run, stage)?;
            if s.state != StageState::Running {
                return Err(stage_state_error(run, s, Action::Interrupt));
            }
            tx.execute(
                "UPDATE stage_attempts SET state = 'failed', ended_at = ?2, summary = ?3,
                    message = ?4 WHERE id = ?1",
                params![
                    s.attempt_id,
                    now_ms(),
                    end.summary.map(|v| v.to_string()),
                    end.message.as_deref().unwrap_or(why)
                ],
            )?;
            tx.execute(
                "UPDATE runs SET state = 'interrupted', held_stage = ?2, message = ?3
                 WHERE seq = ?1",
                params![seq, s.name, format!("could not go on: {why}")],
            )?;
            Ok(())
        })
    }

    /// The state of each stage's latest attempt, in plan order: what the
    /// driver decides the next step from, without reading every summary.
    pub fn stage_states(&self, run: &RunId) -> Result<Vec<(String, StageState)>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            Ok(current_stages(tx, seq)?
                .into_iter()
                .map(|s| (s.name, s.state))
                .collect())
        })
    }

    /// If the run is `running` and its owner process is proven dead (see
    /// [`Owner::liveness`]), marks it `interrupted` and returns true. The
    /// stage attempt it was running fails, with a message saying so.
    pub fn mark_interrupted_if_dead(&self, run: &RunId) -> Result<bool> {
        self.write(|tx| {
            let (seq, r) = load_run(tx, run)?;
            if r.state != RunState::Running || !r.owner.is_dead() {
                return Ok(false);
            }
            interrupt(tx, seq, &r, now_ms(), Cause::Died)?;
            Ok(true)
        })
    }

    /// [`Store::mark_interrupted_if_dead`] for every running run; returns
    /// those it marked. Call it before listing runs.
    pub fn mark_dead_runs_interrupted(&self) -> Result<Vec<RunId>> {
        self.write(|tx| {
            let running = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {RUN_COLS} FROM runs WHERE state = 'running'"
                ))?;
                stmt.query_map([], run_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            let now = now_ms();
            let mut marked = Vec::new();
            for (seq, r) in running {
                if r.owner.is_dead() {
                    interrupt(tx, seq, &r, now, Cause::Died)?;
                    marked.push(r.id);
                }
            }
            Ok(marked)
        })
    }

    /// The run that `query` names: `latest`, a full id, or any unique prefix
    /// of one (the leading `r` may be left out). An ambiguous prefix is
    /// [`StoreError::AmbiguousRun`], listing the candidates.
    pub fn run(&self, query: &str) -> Result<Run> {
        self.read(|tx| {
            let id = resolve(tx, query)?;
            Ok(load_run(tx, &id)?.1)
        })
    }

    /// The id that `query` names; see [`Store::run`].
    pub fn resolve(&self, query: &str) -> Result<RunId> {
        resolve(&self.conn, query).map_err(|e| e.in_store(&self.path))
    }

    /// Runs, newest first. Does not look for dead owners: call
    /// [`Store::mark_dead_runs_interrupted`] first for an honest `state`.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        self.runs_unnamed(filter)
            .map_err(|e| e.in_store(&self.path))
    }

    fn runs_unnamed(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR plan_name = ?2)
               AND (?4 IS NULL OR kind = ?4)
             ORDER BY seq DESC LIMIT ?3 OFFSET ?5"
        ))?;
        let limit = filter.limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        let offset = filter.offset.min(i64::MAX as usize) as i64;
        let runs = stmt
            .query_map(
                params![filter.state, filter.plan_name, limit, filter.kind, offset],
                |r| run_from_row(r).map(|x| x.1),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(runs)
    }

    /// How many runs `filter` matches, whatever its `limit` and `offset`
    /// (a paged list's total).
    pub fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        self.read(|tx| {
            let count: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM runs
                     WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR plan_name = ?2)
                       AND (?3 IS NULL OR kind = ?3)",
                )?
                .query_row(params![filter.state, filter.plan_name, filter.kind], |r| {
                    r.get(0)
                })?;
            Ok(count.max(0) as u64)
        })
    }

    /// How many runs are in each state, every state named (zero where none).
    pub fn runs_by_state(&self) -> Result<Vec<(RunState, u64)>> {
        let found = self.read(|tx| {
            Ok(tx
                .prepare_cached("SELECT state, count(*) FROM runs GROUP BY state")?
                .query_map([], |r| Ok((r.get::<_, RunState>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        Ok(RunState::ALL
            .iter()
            .map(|&state| {
                let n = found.iter().find(|(s, _)| *s == state).map_or(0, |f| f.1);
                (state, n.max(0) as u64)
            })
            .collect())
    }

    /// The run's stages in plan order, each with all its attempts.
    pub fn stages(&self, run: &RunId) -> Result<Vec<Stage>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT s.ordinal, s.name, s.kind,
                        a.id, a.attempt, a.state, a.started_at, a.ended_at, a.summary, a.message
                 FROM stages s JOIN stage_attempts a ON a.stage_id = s.id
                 WHERE s.run_seq = ?1 ORDER BY s.ordinal, a.attempt",
            )?;
            let mut rows = stmt.query([seq])?;
            let mut stages: Vec<Stage> = Vec::new();
            while let Some(r) = rows.next()? {
                let ordinal: u32 = r.get(0)?;
                let attempt = attempt_from_row(r, 3)?;
                match stages.last_mut() {
                    Some(s) if s.ordinal == ordinal => s.attempts.push(attempt),
                    _ => stages.push(Stage {
                        ordinal,
                        name: r.get(1)?,
                        kind: r.get(2)?,
                        attempts: vec![attempt],
                    }),
                }
            }
            Ok(stages)
        })
    }

    /// The run's overrides, oldest first.
    pub fn overrides(&self, run: &RunId) -> Result<Vec<Override>> {
        self.read(|tx| {
            let seq = seq_of(tx, run)?;
            let mut stmt = tx.prepare_cached(
                "SELECT s.name, s.ordinal, a.attempt, o.reason, o.who, o.time
                 FROM overrides o
                 JOIN stage_attempts a ON a.id = o.attempt_id
                 JOIN stages s ON s.id = a.stage_id
                 WHERE o.run_seq = ?1 ORDER BY o.id",
            )?;
            let all = stmt
                .query_map([seq], |r| {
                    Ok(Override {
                        stage: r.get(0)?,
                        ordinal: r.get(1)?,
                        attempt: r.get(2)?,
                        reason: r.get(3)?,
                        who: r.get(4)?,
                        time: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(all)
        })
    }
}

/// A run id for `now` not yet in the store: random suffixes first; should
/// a second be that crowded, later seconds.
fn unused_id(conn: &Connection, now: Millis) -> Result<String> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?;
    for second in 0.. {
        let at = now + second * 1000;
        for _ in 0..64 {
            let id = format_id(at, random_suffix());
            if !stmt.exists([&id])? {
                return Ok(id);
            }
        }
    }
    unreachable!("some second has a free id")
}
