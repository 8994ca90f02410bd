//! Classifies what the final readback found against the journal.
//!
//! Only acknowledged writes are promises. For each key with one, the value
//! read must be the last acknowledged one, or the value of a later write
//! that was sent but never acknowledged (it may have happened: that is
//! *explained*). An older value means a lost update (*stale*); nothing means
//! the key is *lost*; a value nobody wrote is *unexpected* (corruption, or a
//! writer outside the soak) and counts against the system like a loss.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::journal::{Journal, JournalEntry};

/// What the readback of one key showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The last acknowledged value.
    Ok,
    /// Absent, though a write was acknowledged.
    Lost,
    /// The value of a write older than the last acknowledged one.
    Stale,
    /// The value of a later, unacknowledged write: it happened after all.
    Explained,
    /// A value no write of this key carried.
    Unexpected,
}

/// One key's classification, with the journal entries that explain it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The key read back.
    pub key: String,
    /// How it was classified.
    pub outcome: Outcome,
    /// What was read (`None`: absent).
    pub read: Option<String>,
    /// The write the readback was judged against.
    pub last_acked: JournalEntry,
    /// The journal entry whose value was read, if any (for a value written
    /// several times: the latest occurrence of the matching kind).
    pub matched: Option<JournalEntry>,
}

/// The readback of a whole journal. `ok` is only counted: a soak of hours
/// reads back thousands of healthy keys and nobody needs them listed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataLoss {
    /// Keys whose read succeeded, so
    /// `checked == ok + lost + stale + explained + unexpected`.
    pub checked: usize,
    /// Keys holding their last acknowledged value.
    pub ok: usize,
    /// Keys found absent.
    pub lost: Vec<Finding>,
    /// Keys holding an older value.
    pub stale: Vec<Finding>,
    /// Keys holding the value of a later unacknowledged write.
    pub explained: Vec<Finding>,
    /// Keys holding a value never written to them.
    pub unexpected: Vec<Finding>,
    /// Keys that could not be read: `(key, error)`. Not checked, so they
    /// count neither for nor against the system.
    pub unreadable: Vec<(String, String)>,
}

impl DataLoss {
    /// Keys that broke a promise: lost, stale or unexpected.
    pub fn violations(&self) -> usize {
        self.lost.len() + self.stale.len() + self.unexpected.len()
    }
}

/// Classifies `reads` (key → the readback's answer: `Ok(None)` absent,
/// `Err` could not read) against `journal`.
///
/// Every key of [`Journal::keys`] is judged; one missing from `reads` is
/// unreadable ("not read back"), and reads of keys the journal never
/// acknowledged are ignored. Per key, with the writes in `seq` order and
/// `L` the last acknowledged one:
/// - the value of `L` → ok (even if an older write carried it too, and
///   whether or not a later unacknowledged write repeats it);
/// - the value of a write after `L` (necessarily unacknowledged) →
///   explained;
/// - the value of a write before `L`, acknowledged or not → stale;
/// - absent → lost; anything else → unexpected.
pub fn classify(
    journal: &Journal,
    reads: &BTreeMap<String, Result<Option<String>, String>>,
) -> DataLoss {
    let mut loss = DataLoss::default();
    for key in journal.keys() {
        let Some(last) = journal.last_acked(key) else {
            continue;
        };
        let read = match reads.get(key) {
            Some(Ok(read)) => read,
            Some(Err(e)) => {
                loss.unreadable.push((key.to_owned(), e.clone()));
                continue;
            }
            None => {
                loss.unreadable
                    .push((key.to_owned(), "not read back".to_owned()));
                continue;
            }
        };
        loss.checked += 1;
        let (outcome, matched) = judge(journal, key, last, read.as_deref());
        let finding = || Finding {
            key: key.to_owned(),
            outcome,
            read: read.clone(),
            last_acked: last.clone(),
            matched: matched.cloned(),
        };
        match outcome {
            Outcome::Ok => loss.ok += 1,
            Outcome::Lost => loss.lost.push(finding()),
            Outcome::Stale => loss.stale.push(finding()),
            Outcome::Explained => loss.explained.push(finding()),
            Outcome::Unexpected => loss.unexpected.push(finding()),
        }
    }
    loss
}

/// One key's outcome and the entry whose value was read.
fn judge<'j>(
    journal: &'j Journal,
    key: &str,
    last: &'j JournalEntry,
    read: Option<&str>,
) -> (Outcome, Option<&'j JournalEntry>) {
    let Some(value) = read else {
        return (Outcome::Lost, None);
    };
    if value == last.value {
        return (Outcome::Ok, Some(last));
    }
    let mut older = None;
    let mut later = None;
    let mut past_last = false;
    for w in journal.writes(key) {
        if std::ptr::eq(w, last) {
            past_last = true;
        } else if w.value == value {
            // Keep the latest occurrence on each side of `last`.
            if past_last {
                later = Some(w);
            } else {
                older = Some(w);
            }
        }
    }
    match (later, older) {
        (Some(w), _) => (Outcome::Explained, Some(w)),
        (None, Some(w)) => (Outcome::Stale, Some(w)),
        (None, None) => (Outcome::Unexpected, None),
    }
}
