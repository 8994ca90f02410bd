//! The run store: one SQLite file holding runs (of `gauntlet test`, `run`
//! and `soak`), their stages and attempts, measurements, faults,
//! artifacts, overrides and verdicts, and a directory per run for its
//! files. [`Store::open_dir`] is the layout every command uses: `DIR/gauntlet.db`
//! and `DIR/<run-id>/`. [`Store::open`] is the older one: a database file
//! anywhere, with run files in `store/<run-id>/` beside it.
//!
//! # Shape
//!
//! - **Typed API, no SQL outside.** Callers see [`Run`], [`Stage`],
//!   [`Measurement`], ... and [`StoreError`]; the schema is private and
//!   migrated on [`Store::open`] (migrations are compiled in, see `schema.rs`).
//! - **Time** is [`Millis`]: `i64` milliseconds since the Unix epoch, UTC.
//!   The store stamps lifecycle times (stage start/end, run end) from the
//!   wall clock; measurements and faults carry the caller's times.
//! - **Runs** get ids like `r20261123-174501-a3f` ([`RunId`]). Any unique
//!   prefix, or `latest`, finds a run ([`Store::run`]).
//! - **State transitions are checked** inside the same write transaction
//!   that makes them; a refused transition is a typed error naming the run,
//!   the stage and the state ([`StoreError::RunState`],
//!   [`StoreError::StageState`], ...). See [`RunState`] for the diagram.
//!
//! # Concurrency
//!
//! The file is in WAL mode, every connection waits up to
//! [`Store::BUSY_TIMEOUT`] for a lock, and every write is one
//! `BEGIN IMMEDIATE` transaction, so several gauntlet processes can share a
//! store: writers queue, readers never block. A [`Store`] is one connection:
//! it is `Send` but not `Sync`; give each thread its own (or one writer
//! thread).
//!
//! A run is driven by the process that created it (its [`Owner`]), or the
//! one that last retried or overrode it. Stage transitions from any other
//! process are refused ([`StoreError::NotOwner`]). A run whose owner died
//! while running becomes `interrupted` when someone looks
//! ([`Store::mark_interrupted_if_dead`], [`Store::mark_dead_runs_interrupted`],
//! and implicitly in [`Store::retry`], [`Store::override_stage`] and
//! [`Store::abandon`]); `retry` resumes it.
//!
//! ```no_run
//! use gauntlet_store::{NewRun, NewStage, StageEnd, Store, Validity};
//!
//! let store = Store::open("gauntlet.db")?;
//! let run = store.create_run(&NewRun {
//!     plan_name: "smoke".into(),
//!     plan_text: "...".into(),
//!     stages: vec![NewStage::new("start", "up"), NewStage::new("tests", "command")],
//!     ..NewRun::default()
//! })?;
//! store.start_stage(&run.id, "start")?;
//! store.finish_stage(&run.id, "start", StageEnd::passed())?;
//! store.start_stage(&run.id, "tests")?;
//! store.finish_stage(&run.id, "tests", StageEnd::failed("3 of 40 failed"))?; // the run is held
//! // later, maybe in another process:
//! store.override_stage(&run.id, "tests", "known flaky, tracked in #12", "alice")?;
//! store.finish_run(&run.id, Validity::Valid)?;
//! # Ok::<(), gauntlet_store::StoreError>(())
//! ```

mod data;
mod error;
mod owner;
mod runid;
mod runs;
mod schema;
mod sql;
mod types;
mod writer;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

pub use error::{Action, Result, StoreError};
/// The verdict type of runs and checks, re-exported from `gauntlet-check`.
pub use gauntlet_check::Validity;
pub use owner::{Liveness, Owner};
pub use runid::{format_utc, utc_parts};
pub use types::{
    Artifact, AttemptId, Fault, FaultId, Measurement, Millis, NewFault, NewRun, NewStage, Override,
    Run, RunFilter, RunId, RunKind, RunState, SampleBatch, Series, SeriesKey, Stage, StageAttempt,
    StageEnd, StageState, Verdict, now_ms,
};
pub use writer::StoreWriter;

/// An open store: one connection to the database file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Where the runs' artifact directories are.
    artifacts: PathBuf,
    owner: Owner,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// The database file of the older layout, unless told otherwise
    /// (relative to the working directory); see [`Store::open`].
    pub const DEFAULT_PATH: &'static str = "gauntlet.db";

    /// The store directory unless told otherwise (relative to the working
    /// directory); see [`Store::open_dir`].
    pub const DEFAULT_DIR: &'static str = "store";

    /// The database file's name inside a store directory.
    pub const DB_FILE: &'static str = "gauntlet.db";

    /// Opens the store directory `dir`: the database `dir/gauntlet.db`, and
    /// each run's files in `dir/<run-id>/`. The directory must exist.
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = std::path::absolute(dir.as_ref()).unwrap_or_else(|_| dir.as_ref().into());
        let mut store = Store::open(dir.join(Self::DB_FILE))?;
        store.artifacts = dir;
        Ok(store)
    }

    /// How long a write waits for another process's write to finish before
    /// failing with `database is locked`.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

    /// Opens the database file `path`, creating it if needed (its directory
    /// must exist), switching it to WAL mode and migrating it to this
    /// build's schema. Run files go to `store/<run-id>/` beside the file
    /// (the older layout; [`Store::open_dir`] is the current one).
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = std::path::absolute(path.as_ref()).unwrap_or_else(|_| path.as_ref().into());
        let open_err = |cause| StoreError::Open {
            path: path.clone(),
            cause,
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(Self::BUSY_TIMEOUT).map_err(open_err)?;
        // Switching a new file to WAL takes an exclusive lock; a second
        // process opening the same new file can see SQLITE_BUSY here
        // without the busy handler being consulted, so retry by hand.
        let mode: String =
            retry_busy(|| conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0)))
                .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NotWal { path, mode });
        }
        // NORMAL is durable in WAL mode except for the last commits before a
        // power loss, and spares an fsync per commit.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        match retry_busy(|| schema::migrate(&conn)).map_err(open_err)? {
            schema::Migrated::Current => {}
            schema::Migrated::Unsupported(found) => {
                return Err(StoreError::UnsupportedSchema {
                    path,
                    found,
                    supported: schema::latest(),
                });
            }
        }
        let artifacts = path
            .parent()
            .map_or_else(|| PathBuf::from("store"), |p| p.join("store"));
        Ok(Store {
            conn,
            path,
            artifacts,
            owner: Owner::current(),
        })
    }

    /// The database file (absolute).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This process, as recorded as the owner of the runs it creates.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The directory that holds every run's artifact directory: the store
    /// directory ([`Store::open_dir`]), or `store/` next to the database
    /// file ([`Store::open`]). Absolute.
    pub fn artifact_root(&self) -> PathBuf {
        self.artifacts.clone()
    }

    /// The run's artifact directory, `<artifact root>/<run-id>/`. Artifact
    /// paths are relative to it. It is not created here.
    pub fn artifact_dir(&self, run: &RunId) -> PathBuf {
        self.artifact_root().join(run.as_str())
    }

    /// The schema version of the file (the number of migrations applied).
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.error(e.into()))
    }

    /// The schema version this build writes.
    pub fn latest_schema_version() -> i64 {
        schema::latest()
    }

    /// SQLite's `PRAGMA integrity_check`: `Ok(vec![])` when the file is
    /// sound, otherwise the problems it lists.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let check = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
            let lines = stmt.query_map([], |r| r.get::<_, String>(0))?;
            lines.collect()
        };
        let lines = check().map_err(|e| self.error(e.into()))?;
        Ok(if lines == ["ok"] { Vec::new() } else { lines })
    }

    /// An error of this store, with its database file named.
    fn error(&self, e: StoreError) -> StoreError {
        e.in_store(&self.path)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it
    /// returns `Ok`, rolled back otherwise.
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let run = || {
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e| self.error(e))
    }

    /// Runs `f` in one read transaction, so it sees one snapshot.
    fn read<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let run = || {
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e| self.error(e))
    }
}

/// Retries `f` while SQLite says busy or locked, up to [`Store::BUSY_TIMEOUT`].
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = Instant::now() + Store::BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_configured() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("g.db")).unwrap();
        let pragma = |name: &str| -> String {
            store
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
        assert_eq!(pragma("foreign_keys"), "Integer(1)");
        assert_eq!(pragma("synchronous"), "Integer(1)"); // NORMAL
        assert_eq!(pragma("busy_timeout"), "Integer(30000)");
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        drop(Store::open(&path).unwrap());
        let later = schema::latest() + 1;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", later)
            .unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedSchema { found, supported, .. }
                if found == later && supported == schema::latest()),
            "{err:?}"
        );
        assert!(err.to_string().contains("g.db"), "{err}");
        let v: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, later);
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("g.db")).unwrap();
        assert!(matches!(
            schema::migrate(&store.conn).unwrap(),
            schema::Migrated::Current
        ));
        assert_eq!(store.schema_version().unwrap(), schema::latest());
    }
}
