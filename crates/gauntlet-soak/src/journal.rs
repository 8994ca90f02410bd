//! The write journal: every write a simulated user sent, and whether the
//! service acknowledged it.
//!
//! The journal is the ground truth of the data-loss invariant (I4), so it
//! records unacknowledged writes too: a write that timed out may still have
//! happened, and a readback that finds its value is *explained*, not
//! *unexpected* (see [`crate::readback`]).
//!
//! Keys are partitioned among users ([`owner_of`], [`key_for`]) so every key
//! has a single writer and its writes are totally ordered by that writer's
//! `seq`; "the last acknowledged write of a key" is then unambiguous.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

/// One write a user sent. Serialized as one line of `journal.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The user (0-based) that sent it.
    pub user: u32,
    /// The key written.
    pub key: String,
    /// The value written.
    pub value: String,
    /// The user's write counter, from 1: orders the writes of a key.
    pub seq: u64,
    /// When the write was sent, in ms since the soak started.
    pub time_ms: i64,
    /// Whether the service acknowledged it. `false`: sent but answered with
    /// an error or not at all, so its effect is unknown.
    pub acked: bool,
}

/// Why a journal file could not be read. Line numbers count from 1.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The reader failed (or the line is not UTF-8).
    #[error("journal line {line}: {source}")]
    Read {
        /// The line being read.
        line: usize,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The line is not a JSON journal entry.
    #[error("journal line {line}: not a journal entry: {source}")]
    Parse {
        /// The offending line.
        line: usize,
        /// What serde found wrong.
        source: serde_json::Error,
    },
}

impl JournalError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            JournalError::Read { line, .. } | JournalError::Parse { line, .. } => *line,
        }
    }
}

/// The writes of one key, as indices into [`Journal::entries`] so each
/// entry is stored once.
#[derive(Clone, Debug, Default)]
struct KeyWrites {
    /// Ordered by `seq`; equal `seq`s (only possible if two users share a
    /// key) keep record order.
    writes: Vec<usize>,
    /// The last acknowledged write in that order.
    last_acked: Option<usize>,
}

/// The journal of a soak, in memory.
///
/// It is the only structure whose size grows with the soak's length:
/// O(entries), each entry stored once plus one index per entry.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    /// Record order, which is what [`Journal::write_jsonl`] preserves.
    entries: Vec<JournalEntry>,
    by_key: BTreeMap<String, KeyWrites>,
    acked: usize,
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Journal {
        Journal::default()
    }

    /// Adds a write. Writes of a key may arrive out of `seq` order (users
    /// run concurrently and lock the journal after their request returns);
    /// the per-key order is by `seq` regardless.
    pub fn record(&mut self, e: JournalEntry) {
        let index = self.entries.len();
        let slot = self.by_key.entry(e.key.clone()).or_default();
        let entries = &self.entries;
        // Usually an append: `partition_point` on a sorted tail is cheap.
        let at = slot.writes.partition_point(|&i| entries[i].seq <= e.seq);
        slot.writes.insert(at, index);
        if e.acked {
            self.acked += 1;
            let later = slot
                .last_acked
                .is_none_or(|last| entries[last].seq <= e.seq);
            if later {
                slot.last_acked = Some(index);
            }
        }
        self.entries.push(e);
    }

    /// The journal as a view of a soak's history: every `write` a user
    /// invoked (its value `{"value": V, "seq": S}`, its `key`) is one
    /// entry, acknowledged when it completed `ok`; one that completed
    /// `info` or `fail`, or never completed (the soak stopped mid-request),
    /// was sent with an unknown effect. Other ops (reads) are not writes.
    pub fn from_history(ops: &[gauntlet_history::Op]) -> Journal {
        use gauntlet_history::{OpType, Process};
        use std::collections::HashMap;
        let mut journal = Journal::new();
        // Each user has one request in flight: its open invoke.
        let mut open: HashMap<u64, &gauntlet_history::Op> = HashMap::new();
        let entry = |invoke: &gauntlet_history::Op, acked: bool| -> Option<JournalEntry> {
            let Process::Client(user) = invoke.process else {
                return None;
            };
            Some(JournalEntry {
                user: u32::try_from(user).ok()?,
                key: invoke.key.as_ref()?.as_str()?.to_owned(),
                value: invoke.value["value"].as_str()?.to_owned(),
                seq: invoke.value["seq"].as_u64()?,
                time_ms: (invoke.time.unwrap_or(0) / 1_000_000) as i64,
                acked,
            })
        };
        for op in ops.iter().filter(|op| op.f == "write") {
            let Process::Client(p) = op.process else {
                continue;
            };
            if op.kind == OpType::Invoke {
                if let Some(earlier) = open.insert(p, op)
                    && let Some(e) = entry(earlier, false)
                {
                    journal.record(e);
                }
            } else if let Some(invoke) = open.remove(&p)
                && let Some(e) = entry(invoke, op.kind == OpType::Ok)
            {
                journal.record(e);
            }
        }
        let mut unfinished: Vec<&gauntlet_history::Op> = open.into_values().collect();
        unfinished.sort_by_key(|op| op.index);
        for invoke in unfinished {
            if let Some(e) = entry(invoke, false) {
                journal.record(e);
            }
        }
        journal
    }

    /// Writes one JSON entry per line, in record order, and flushes (a
    /// `BufWriter` dropped unflushed would swallow the error).
    pub fn write_jsonl(&self, mut w: impl Write) -> std::io::Result<()> {
        for e in &self.entries {
            serde_json::to_writer(&mut w, e)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }

    /// Reads what [`Journal::write_jsonl`] wrote. Blank lines are skipped
    /// (a trailing newline, a hand-edited file); anything else that is not
    /// an entry is an error naming its line.
    pub fn read_jsonl(r: impl BufRead) -> Result<Journal, JournalError> {
        let mut journal = Journal::new();
        for (i, line) in r.lines().enumerate() {
            let line_no = i + 1;
            let text = line.map_err(|source| JournalError::Read {
                line: line_no,
                source,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let entry = serde_json::from_str(&text).map_err(|source| JournalError::Parse {
                line: line_no,
                source,
            })?;
            journal.record(entry);
        }
        Ok(journal)
    }

    /// Keys with at least one acknowledged write, sorted: the keys the
    /// readback must check. Keys only ever written without an
    /// acknowledgement promise nothing and are left out.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.by_key
            .iter()
            .filter(|(_, w)| w.last_acked.is_some())
            .map(|(k, _)| k.as_str())
    }

    /// How many distinct users had at least one write acknowledged.
    pub fn users_with_acked_writes(&self) -> usize {
        self.entries()
            .filter(|e| e.acked)
            .map(|e| e.user)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }

    /// How many writes were acknowledged.
    pub fn acked_writes(&self) -> usize {
        self.acked
    }

    /// How many writes were sent without an acknowledgement.
    pub fn unacked_writes(&self) -> usize {
        self.entries.len() - self.acked
    }

    /// How many writes were recorded in all.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last acknowledged write of `key` in `seq` order.
    pub fn last_acked(&self, key: &str) -> Option<&JournalEntry> {
        let index = self.by_key.get(key)?.last_acked?;
        self.entries.get(index)
    }

    /// Every write of `key` (acknowledged or not), in `seq` order.
    pub fn writes(&self, key: &str) -> impl Iterator<Item = &JournalEntry> {
        self.by_key
            .get(key)
            .map(|w| w.writes.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.entries.get(i))
    }

    /// Every write, in record order.
    pub fn entries(&self) -> impl Iterator<Item = &JournalEntry> {
        self.entries.iter()
    }
}

/// The user that owns key number `key_index`: `key_index % users`.
/// `users == 0` is treated as one user rather than dividing by zero.
pub fn owner_of(key_index: u64, users: u32) -> u32 {
    // The remainder is below `users`, so it fits in a u32.
    (key_index % u64::from(users.max(1))) as u32
}

/// The `n`-th key (from 0) owned by `user`: `n * users + user`, the inverse
/// of [`owner_of`]. Saturates instead of overflowing, which only an absurd
/// `keys_per_user` could reach.
pub fn key_for(user: u32, n: u64, users: u32) -> u64 {
    n.saturating_mul(u64::from(users.max(1)))
        .saturating_add(u64::from(user))
}

/// The key's name on the wire and in the journal: `k` then the decimal
/// index, unpadded (`k0`, `k42`, `k1234`), so names stay valid in URLs and
/// shell arguments without quoting and never depend on how many keys there
/// are. They sort as strings, not numbers (`k10` < `k9`).
pub fn key_name(k: u64) -> String {
    format!("k{k}")
}
