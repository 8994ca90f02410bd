//! What one attempt of the soak stage saw, kept on disk beside its journal
//! (`soak-record.json`, `journal.jsonl`), so `calm` and `readback` can be
//! retried in a new process and an interrupted soak is judged on it.
//!
//! A new attempt of the soak stage moves the earlier attempt's files to
//! attempt-numbered names (`journal.attempt-1.jsonl`,
//! `soak-record.attempt-1.json`): every attempt's journal is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gauntlet_soak::invariants::{FaultWindow, HealthSample};
use gauntlet_soak::journal::Journal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{PipelineError, io_err};

pub(crate) const JOURNAL: &str = "journal.jsonl";
/// The soak's history (every user's writes, invoke and completion): the
/// journal is its view.
pub(crate) const HISTORY: &str = "history.jsonl";
pub(crate) const RECORD: &str = "soak-record.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SoakRecord {
    /// The soak stage's attempt that recorded it.
    pub attempt: u32,
    /// Wall-clock ms when the services of this attempt were started: its
    /// RSS series begin here.
    pub since_wall: i64,
    /// Wall-clock ms when the soak started; every `t_ms` counts from it.
    pub started_wall: i64,
    /// ms from the start to STOP.
    pub stopped_ms: i64,
    /// Why the soak stopped before its planned end, if it did.
    pub stopped_early: Option<String>,
    pub faults: Vec<FaultWindow>,
    pub health: BTreeMap<String, Vec<HealthSample>>,
    /// Restarts the supervisor made (restart policy), by service, at STOP.
    pub service_restarts: BTreeMap<String, u32>,
    /// Restarts the faults caused, by service.
    pub fault_restarts: BTreeMap<String, u32>,
    pub log_matches: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    /// The soak stage's summary (users' figures).
    pub users: Value,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Writes the journal and the record; returns their paths relative to `dir`
/// with the history they were read from.
pub(crate) fn save(
    dir: &Path,
    record: &SoakRecord,
    journal: &Journal,
) -> Result<[&'static str; 3], PipelineError> {
    // Streamed: the journal of a long soak is large.
    let path = dir.join(JOURNAL);
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    journal
        .write_jsonl(std::io::BufWriter::new(file))
        .map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    let text = serde_json::to_vec_pretty(record).unwrap_or_default();
    write_atomically(&dir.join(RECORD), &text)?;
    Ok([HISTORY, JOURNAL, RECORD])
}

/// Reads what the last soak attempt left.
pub(crate) fn load(dir: &Path) -> Result<(SoakRecord, Journal), String> {
    let path = dir.join(RECORD);
    let record: SoakRecord = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let path = dir.join(JOURNAL);
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let journal = Journal::read_jsonl(std::io::BufReader::new(file))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((record, journal))
}

/// Moves an earlier attempt's journal and record to attempt-numbered
/// names; returns the new names relative to `dir`.
pub(crate) fn keep_earlier(dir: &Path, this_attempt: u32) -> Result<Vec<String>, PipelineError> {
    // The record says which attempt wrote them; without it (the process
    // died mid-soak), the previous attempt is the best guess.
    let attempt = load(dir)
        .map(|(r, _)| r.attempt)
        .unwrap_or(this_attempt.saturating_sub(1).max(1));
    let mut kept = Vec::new();
    for (name, numbered) in [
        (HISTORY, format!("history.attempt-{attempt}.jsonl")),
        (JOURNAL, format!("journal.attempt-{attempt}.jsonl")),
        (RECORD, format!("soak-record.attempt-{attempt}.json")),
    ] {
        let from: PathBuf = dir.join(name);
        if from.exists() {
            let to = dir.join(&numbered);
            std::fs::rename(&from, &to).map_err(io_err(&to))?;
            kept.push(numbered);
        }
    }
    Ok(kept)
}
