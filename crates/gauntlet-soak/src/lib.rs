#![warn(missing_docs)]
//! The sans-IO core of `gauntlet soak`.
//!
//! A soak drives a real service with simulated users who journal every
//! write they sent, injects faults for hours, samples health every second,
//! and at the end (after STOP and a quiet period) reads back every journaled
//! key and judges the invariants I1–I5. The runtime (sockets, processes,
//! clocks) lives in `gauntlet-pipeline`; everything here is a pure function
//! of what it recorded, so verdicts are deterministic and replayable.
//! Times are milliseconds since the soak started, passed in, never read.
//!
//! - [`journal`]: what the users wrote and whether they were told it
//!   succeeded — the ground truth for data loss.
//! - [`readback`]: compares the final values with the journal.
//! - [`schedule`]: the seeded fault schedule.
//! - [`invariants`]: I1 responsiveness, I2 memory, I3 recovery, I4 no data
//!   loss, I5 stability, and the gated verdict.
//! - [`assess`]: the soak's verdict from what was recorded — the five
//!   results, the gated verdict (never a pass for a soak that did not
//!   finish) and the `verdict.json` value.
//! - [`template`]: `{{name}}` substitution and JSON captures for HTTP steps.
//! - [`throughput`]: events per second for charts.
//!
//! ```
//! use std::collections::BTreeMap;
//! use gauntlet_soak::journal::{Journal, JournalEntry, key_for, key_name};
//! use gauntlet_soak::readback::classify;
//!
//! let mut journal = Journal::new();
//! let key = key_name(key_for(1, 0, 4)); // user 1's first key of 4 users
//! journal.record(JournalEntry {
//!     user: 1, key: key.clone(), value: "v1".into(), seq: 1, time_ms: 10, acked: true,
//! });
//! let reads = BTreeMap::from([(key, Ok(Some("v1".to_owned())))]);
//! let loss = classify(&journal, &reads);
//! assert_eq!((loss.checked, loss.ok), (1, 1));
//! ```

pub mod assess;
pub mod invariants;
pub mod journal;
pub mod readback;
pub mod schedule;
pub mod template;
pub mod throughput;
