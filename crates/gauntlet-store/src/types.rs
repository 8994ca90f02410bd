//! The store's data types: what goes in and what comes out.

use gauntlet_check::Validity;
use serde::Serialize;
use serde_json::Value;

use crate::owner::Owner;

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// Every time in the store is one of these: integers sort and compare in
/// SQL, take 8 bytes per measurement, and convert to RFC 3339 at the edge.
pub type Millis = i64;

/// The wall clock now, as [`Millis`].
pub fn now_ms() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A run's id, e.g. `r20261123-174501-a3f`: `r`, the UTC date and time the
/// run was created, and three random hex digits. Ids sort by creation time
/// (to the second) and can be typed by any unique prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RunId(pub(crate) String);

impl RunId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One attempt of one stage, across the store. Measurements and artifacts
/// point at the attempt that produced them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AttemptId(pub i64);

/// A recorded fault, across the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FaultId(pub i64);

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $word:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vm])* $var,)* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var,)*];

            /// The lowercase word stored in the database and shown to users.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $word,)* }
            }

            /// The value for a stored word.
            pub fn parse(word: &str) -> Option<$name> {
                match word { $($word => Some($name::$var),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum! {
    /// Where a run is in its life.
    ///
    /// ```text
    ///  create ─► running ──stage fails──► held ──retry / override──► running
    ///              │  ▲                    │
    ///              │  └──retry / override──┤◄── interrupted ◄── owner died (while running)
    ///              │                       └──abandon──► abandoned
    ///              └──finish_run──► finished
    /// ```
    RunState {
        /// A live gauntlet process is driving it.
        Running = "running",
        /// A stage failed; it waits for the operator (retry, override, abandon).
        Held = "held",
        /// The gauntlet process driving it died; `retry` resumes it.
        Interrupted = "interrupted",
        /// Every stage passed, was overridden or skipped; `result` says the verdict.
        Finished = "finished",
        /// The operator gave up on it.
        Abandoned = "abandoned",
    }
}

word_enum! {
    /// Where one attempt of a stage is.
    StageState {
        /// Not started.
        Pending = "pending",
        /// Started, not finished.
        Running = "running",
        /// Finished and passed.
        Passed = "passed",
        /// Finished and failed (or its process died while it ran).
        Failed = "failed",
        /// Failed, then the operator let the run go on; see [`Override`].
        Overridden = "overridden",
        /// Never ran, by the plan's decision.
        Skipped = "skipped",
    }
}

word_enum! {
    /// Which command made a run. All three are rows of one store, listed by
    /// `gauntlet runs` and read by `show` and `report`.
    RunKind {
        /// `gauntlet test`: a workbench run (nodes on the simulated network).
        /// It never holds, so it is not retried or overridden.
        Test = "test",
        /// `gauntlet run`: a plan's stages.
        Run = "run",
        /// `gauntlet soak`: users and faults, then the invariants.
        Soak = "soak",
        /// `gauntlet start`: a fleet loop; its stages are the loop's phases,
        /// added as the loop decides them, and a failed phase is the
        /// loop's to answer (a fix, a hold), not a hold by itself.
        Fleet = "fleet",
    }
}

impl StageState {
    /// Passed, overridden or skipped: the next stage may start.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            StageState::Passed | StageState::Overridden | StageState::Skipped
        )
    }
}

/// The plan's state machine (`next_step`) reads the store's states as they
/// are: one stage-state type, no mirror.
impl gauntlet_plan::StageProgress for StageState {
    fn is_done(self) -> bool {
        StageState::is_done(self)
    }
    fn is_failed(self) -> bool {
        self == StageState::Failed
    }
}

/// A run to create: what the plan says, and how gauntlet was called.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    /// The plan's name (its `name`, or the file stem).
    pub plan_name: String,
    /// Where the plan file was, if it came from one (a preset built from flags has none).
    pub plan_path: Option<String>,
    /// The plan's full text, kept so the run can be reproduced; its sha256 is stored too.
    pub plan_text: String,
    /// The seed of the run.
    pub seed: u64,
    /// `env!("CARGO_PKG_VERSION")` of the gauntlet binary.
    pub gauntlet_version: String,
    /// The command line, one argument per element.
    pub command_line: Vec<String>,
    /// The plan's stages in the order they run; names must be unique in the run.
    pub stages: Vec<NewStage>,
}

/// One stage of a [`NewRun`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStage {
    /// Unique within the run; the operator names stages by it (`--stage NAME`).
    pub name: String,
    /// The stage's kind as the plan says it (`up`, `command`, `probe`, `wait`, `down`, ...).
    /// The store does not interpret it.
    pub kind: String,
}

impl NewStage {
    /// A stage with this name and kind.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> NewStage {
        NewStage {
            name: name.into(),
            kind: kind.into(),
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: RunId,
    /// Which command made it.
    pub kind: RunKind,
    pub plan_name: String,
    pub plan_path: Option<String>,
    pub plan_text: String,
    /// Lowercase hex sha256 of `plan_text`.
    pub plan_sha256: String,
    pub seed: u64,
    pub state: RunState,
    /// The verdict, once the run finished; `None` before, and for abandoned runs.
    pub result: Option<Validity>,
    pub started_at: Millis,
    /// The wall clock at the run's own time zero. Stored times are
    /// [`Millis`] since the epoch, but a history's `time` is nanoseconds
    /// since its run started: history time `t` happened at
    /// `clock_zero + t / 1_000_000`. A new run's clock zero is its
    /// `started_at` until the runtime says when its clock started
    /// ([`Store::set_clock_zero`](crate::Store::set_clock_zero)); `None` for
    /// runs stored before it was recorded.
    pub clock_zero: Option<Millis>,
    /// When it finished or was abandoned.
    pub ended_at: Option<Millis>,
    /// Its last recorded activity: the latest end (or, for a stage still
    /// running or whose process died, start) of any of its stage attempts;
    /// `None` before its first stage started. Computed, not stored.
    pub last_active_at: Option<Millis>,
    /// The stage that holds the run (while `held`), that was running when its
    /// process died (`interrupted`), or that held it when it was abandoned.
    /// Cleared by `retry` and `override`.
    pub held_stage: Option<String>,
    /// Why it was abandoned or interrupted.
    pub message: Option<String>,
    pub gauntlet_version: String,
    pub command_line: Vec<String>,
    /// The gauntlet process that drives (or last drove) the run.
    pub owner: Owner,
}

impl Run {
    /// How long the run took: a finished run until it ended, a running one
    /// until `now`; a run that stopped without a verdict (held,
    /// interrupted, abandoned) until its last activity, so it does not
    /// seem to run on while it waits for the operator.
    pub fn took_ms(&self, now: Millis) -> Millis {
        let until = match self.state {
            RunState::Running => now,
            RunState::Finished => self.ended_at.unwrap_or(now),
            RunState::Held | RunState::Interrupted | RunState::Abandoned => {
                self.last_active_at.unwrap_or(self.started_at)
            }
        };
        (until - self.started_at).max(0)
    }
}

/// A stage of a run with every attempt at it, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// Position in the plan, from 0.
    pub ordinal: u32,
    pub name: String,
    pub kind: String,
    /// Never empty: attempt 1 exists from the run's creation, each retry adds one.
    pub attempts: Vec<StageAttempt>,
}

impl Stage {
    /// The latest attempt, the one that counts.
    pub fn current(&self) -> &StageAttempt {
        self.attempts.last().expect("a stage always has an attempt")
    }

    /// The state of the latest attempt.
    pub fn state(&self) -> StageState {
        self.current().state
    }
}

/// One attempt at a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageAttempt {
    pub id: AttemptId,
    /// 1 for the first attempt, then 2, 3, ... for retries.
    pub attempt: u32,
    pub state: StageState,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// Figures the stage reported, as JSON.
    pub summary: Option<Value>,
    /// A one-line account: why it failed, why it was skipped.
    pub message: Option<String>,
}

/// How a running stage ended, for [`Store::finish_stage`](crate::Store::finish_stage).
#[derive(Debug, Clone, PartialEq)]
pub struct StageEnd {
    pub passed: bool,
    pub summary: Option<Value>,
    pub message: Option<String>,
}

impl StageEnd {
    /// The stage passed.
    pub fn passed() -> StageEnd {
        StageEnd {
            passed: true,
            summary: None,
            message: None,
        }
    }

    /// The stage failed, for this reason.
    pub fn failed(message: impl Into<String>) -> StageEnd {
        StageEnd {
            passed: false,
            summary: None,
            message: Some(message.into()),
        }
    }

    /// With figures.
    pub fn with_summary(mut self, summary: Value) -> StageEnd {
        self.summary = Some(summary);
        self
    }
}

/// Which runs [`Store::runs`](crate::Store::runs) lists. The default lists all, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub state: Option<RunState>,
    pub kind: Option<RunKind>,
    pub plan_name: Option<String>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
    /// Skip this many of the newest first (paging).
    pub offset: usize,
}

/// One sample of a time series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// The stage attempt it was taken during, if any.
    pub stage: Option<AttemptId>,
    pub time: Millis,
    /// What is measured: `rss`, `cpu`, `probe_latency`, ...
    pub kind: String,
    /// What it is measured on: a node, a service, an endpoint.
    pub subject: String,
    pub value: f64,
    /// `bytes`, `percent`, `ms`, ...
    pub unit: String,
}

/// A series' names, as [`SampleBatch`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesKey {
    pub kind: String,
    pub subject: String,
    /// The unit of its first sample in the batch.
    pub unit: String,
}

/// Samples read after a cursor ([`Store::samples_after`](crate::Store::samples_after)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleBatch {
    /// The series the samples belong to.
    pub series: Vec<SeriesKey>,
    /// (index into `series`, time, value), in the order stored.
    pub samples: Vec<(usize, Millis, f64)>,
    /// Where the next read starts.
    pub cursor: i64,
}

/// One time series of a run: a (kind, subject) pair and its extent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub kind: String,
    pub subject: String,
    /// The unit of its first sample.
    pub unit: String,
    pub count: u64,
    pub first: Millis,
    pub last: Millis,
}

/// A fault to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFault {
    pub time: Millis,
    /// `partition`, `kill`, `pause`, `latency`, ...
    pub kind: String,
    /// What it hits: a node, a link, `all`.
    pub target: String,
    /// The fault's parameters.
    pub value: Value,
}

/// A recorded fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub id: FaultId,
    pub time: Millis,
    pub kind: String,
    pub target: String,
    pub value: Value,
    /// When it was healed; `None` while it is active.
    pub healed_at: Option<Millis>,
}

/// A file kept with a run, under `store/<run-id>/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    pub stage: Option<AttemptId>,
    /// Relative to the run's artifact directory, with `/` separators.
    pub path: String,
    /// `log`, `history`, `report`, ...
    pub kind: String,
    /// Lowercase hex sha256 of the content when it was added.
    pub sha256: String,
    pub bytes: u64,
    pub added_at: Millis,
}

/// An operator's override of a failed stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Override {
    pub stage: String,
    pub ordinal: u32,
    /// The attempt that failed and was overridden.
    pub attempt: u32,
    pub reason: String,
    pub who: String,
    pub time: Millis,
}

/// One checker's verdict on a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub checker: String,
    pub valid: Validity,
    /// The checker's figures and evidence.
    pub figures: Value,
    pub time: Millis,
}
