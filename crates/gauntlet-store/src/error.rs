//! The store's one error type.

use std::path::{Path, PathBuf};

use crate::types::{RunId, RunKind, RunState, StageState};

/// What the caller tried to do when a state check refused it; it names the
/// operation in [`StoreError::RunState`] and [`StoreError::StageState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// [`Store::start_stage`](crate::Store::start_stage).
    StartStage,
    /// [`Store::finish_stage`](crate::Store::finish_stage).
    FinishStage,
    /// [`Store::skip_stage`](crate::Store::skip_stage).
    SkipStage,
    /// [`Store::override_stage`](crate::Store::override_stage).
    Override,
    /// [`Store::retry`](crate::Store::retry).
    Retry,
    /// [`Store::abandon`](crate::Store::abandon).
    Abandon,
    /// [`Store::finish_run`](crate::Store::finish_run).
    FinishRun,
    /// [`Store::interrupt_run`](crate::Store::interrupt_run).
    Interrupt,
    /// [`Store::append_stage`](crate::Store::append_stage).
    AppendStage,
    /// [`Store::hold_run`](crate::Store::hold_run).
    Hold,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::StartStage => "start a stage of it",
            Action::FinishStage => "finish a stage of it",
            Action::SkipStage => "skip a stage of it",
            Action::Override => "override a stage of it",
            Action::Retry => "retry it",
            Action::Abandon => "abandon it",
            Action::FinishRun => "finish it",
            Action::Interrupt => "interrupt it",
            Action::AppendStage => "add a stage to it",
            Action::Hold => "hold it",
        })
    }
}

/// Everything the store can refuse or fail at.
///
/// State errors name the run (and the stage with its attempt), the state it
/// is in and what was attempted, so the CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened, configured or migrated.
    ///
    /// SQLite's error is in `cause` and said once in the message; it is not
    /// the error's `source()`, so a printer that walks the chain (anyhow's
    /// `{:#}`) does not say it again.
    #[error("cannot open the store {}: {}", path.display(), Cause(cause))]
    Open {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    /// The file's schema version is not one this build knows (a newer gauntlet wrote it).
    #[error(
        "the store {} has schema version {found}; this gauntlet knows versions up to {supported}: use a newer gauntlet",
        path.display()
    )]
    UnsupportedSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// SQLite refused WAL mode (for instance on a file system without shared memory).
    #[error(
        "the store {} cannot use WAL mode (journal mode is {mode:?}); put it on a local file system",
        path.display()
    )]
    NotWal { path: PathBuf, mode: String },

    /// No run has this id, prefix or alias.
    #[error("no run matches {query:?}")]
    RunNotFound { query: String },
    /// The prefix matches more than one run.
    #[error(
        "{query:?} matches {count} runs: {}{}",
        candidates.iter().map(RunId::as_str).collect::<Vec<_>>().join(", "),
        if *count > candidates.len() { ", ..." } else { "" }
    )]
    AmbiguousRun {
        query: String,
        /// The newest matches (at most ten).
        candidates: Vec<RunId>,
        /// How many runs match in all.
        count: usize,
    },
    /// The run has no stage of that name.
    #[error("run {run} has no stage {stage:?}")]
    StageNotFound { run: RunId, stage: String },
    /// Two stages of a new run share a name.
    #[error("a run cannot have two stages named {stage:?}")]
    DuplicateStage { stage: String },
    /// The run's state does not allow the action.
    #[error("run {run} is {state}: cannot {action}")]
    RunState {
        run: RunId,
        state: RunState,
        action: Action,
    },
    /// The run's kind does not allow the action: a `gauntlet test` run
    /// never holds, so it is not retried or overridden.
    #[error(
        "run {run} is a `gauntlet {kind}` run: cannot {action}; a test run is judged once and never holds (run `gauntlet {kind}` again with the same command line and seed to repeat it)"
    )]
    NotResumable {
        run: RunId,
        kind: RunKind,
        action: Action,
    },
    /// The stage's current attempt's state does not allow the action.
    #[error("run {run}, stage {stage} (attempt {attempt}) is {state}: cannot {action}")]
    StageState {
        run: RunId,
        stage: String,
        attempt: u32,
        state: StageState,
        action: Action,
    },
    /// Stages run strictly in order: an earlier stage is not done yet.
    #[error(
        "run {run}: stage {stage} cannot start before stage {blocking} (which is {blocking_state})"
    )]
    OutOfOrder {
        run: RunId,
        stage: String,
        blocking: String,
        blocking_state: StageState,
    },
    /// Only a fleet loop's stage list grows as it runs.
    #[error(
        "run {run} is a `{kind}` run: its stages are fixed when it starts, so none can be added"
    )]
    FixedStages { run: RunId, kind: RunKind },
    /// A run cannot finish while a stage is not done.
    #[error("run {run} cannot finish: stage {stage} is {state}")]
    Unfinished {
        run: RunId,
        stage: String,
        state: StageState,
    },
    /// Another live gauntlet process drives the run.
    #[error("run {run} is running in gauntlet process {pid}{}, which is alive", host.as_deref().map(|h| format!(" on {h}")).unwrap_or_default())]
    RunIsLive {
        run: RunId,
        pid: u32,
        host: Option<String>,
    },
    /// This process tried to drive a run that another process owns (after a
    /// `retry` or `override` moved it there).
    #[error("run {run} is driven by gauntlet process {pid}, not this one ({this_pid})")]
    NotOwner { run: RunId, pid: u32, this_pid: u32 },
    /// An override needs a reason and a name; both are shown in every report.
    #[error("run {run}, stage {stage}: an override needs a non-empty {field}")]
    EmptyOverrideField {
        run: RunId,
        stage: String,
        field: &'static str,
    },
    /// The fault does not exist in that run.
    #[error("run {run} has no fault {fault}")]
    FaultNotFound { run: RunId, fault: i64 },
    /// The fault was healed before.
    #[error("run {run}: fault {fault} was already healed at {healed_at}")]
    FaultAlreadyHealed {
        run: RunId,
        fault: i64,
        healed_at: i64,
    },
    /// A measurement, artifact or override names a stage attempt of another run.
    #[error("run {run} has no stage attempt {attempt}")]
    AttemptNotInRun { run: RunId, attempt: i64 },
    /// An artifact path must be relative to the run's artifact directory and stay inside it.
    #[error("run {run}: artifact path {path:?} {reason}")]
    BadArtifactPath {
        run: RunId,
        path: String,
        reason: &'static str,
    },
    /// Reading an artifact to hash it failed.
    #[error("run {run}: cannot read artifact {}: {source}", path.display())]
    ArtifactIo {
        run: RunId,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Any other SQLite failure, with the database file (`None` only
    /// inside the store, before [`StoreError::in_store`] names it).
    #[error("the store {}: {}", path.as_deref().map_or_else(|| "?".into(), |p| p.display().to_string()), Cause(cause))]
    Sqlite {
        path: Option<PathBuf>,
        cause: rusqlite::Error,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(cause: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: None, cause }
    }
}

impl StoreError {
    /// Names the database file in an SQLite error that does not yet.
    pub(crate) fn in_store(self, db: &Path) -> StoreError {
        match self {
            StoreError::Sqlite { path: None, cause } => StoreError::Sqlite {
                path: Some(db.to_owned()),
                cause,
            },
            other => other,
        }
    }

    /// The SQLite error behind an [`StoreError::Open`] or
    /// [`StoreError::Sqlite`].
    pub fn sqlite_cause(&self) -> Option<&rusqlite::Error> {
        match self {
            StoreError::Open { cause, .. } | StoreError::Sqlite { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

/// What SQLite said, once: its message, or the words for its code (not
/// rusqlite's "Error code 26: ..."), and what to do about a file that is
/// not a database.
struct Cause<'a>(&'a rusqlite::Error);

impl std::fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            rusqlite::Error::SqliteFailure(e, message) => {
                match message {
                    Some(m) => f.write_str(m)?,
                    None => f.write_str(rusqlite::ffi::code_to_str(e.extended_code))?,
                }
                match e.code {
                    rusqlite::ErrorCode::NotADatabase => f.write_str(
                        " (it is not an SQLite database: move it aside, and a new store is made in its place)",
                    ),
                    rusqlite::ErrorCode::DatabaseCorrupt => {
                        f.write_str(" (the database is damaged)")
                    }
                    _ => Ok(()),
                }
            }
            other => write!(f, "{other}"),
        }
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
