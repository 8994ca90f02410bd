#![warn(missing_docs)]
//! Checkers: turn histories into verdicts (workload checkers, stats,
//! availability, latency).
//!
//! Everything here is a pure function of a history slice (no IO, no clocks),
//! so checks are deterministic, fast to test and replayable. Each checker
//! returns a [`CheckResult`] in the one shape DESIGN.md fixes:
//! `{"valid": true | false | "unknown", "checker": "...", ...figures, "evidence": [...]}`.
//! Semantics follow Maelstrom/Jepsen, with deviations documented on each
//! checker (chiefly: "nothing was checked" is `unknown`, never a pass).
//!
//!
//! Checkers are also looked up by name in a [`Checkers`] registry: each is a
//! [`Checker`] taking the one input shape, [`CheckInput`].
//!
//! ```
//! use gauntlet_check::{Validity, echo};
//! use gauntlet_history::{Op, OpType};
//! use serde_json::json;
//!
//! let sent = Op::invoke(0, "echo", json!("hi"));
//! let got = sent.complete(OpType::Ok, json!("hi"));
//! let result = echo::check(&[sent, got]);
//! assert_eq!(result.valid, Validity::Valid);
//! let text = serde_json::to_value(&result).unwrap();
//! assert_eq!(text["valid"], json!(true));
//! assert_eq!(text["checker"], json!("echo"));
//! ```

pub mod availability;
mod calls;
pub mod counter;
pub mod echo;
pub mod figures;
pub mod latency;
mod registry;
mod result;
pub mod set_full;
pub mod stats;
pub mod unique_ids;
mod validity;
mod value;

#[cfg(test)]
mod testkit;

pub use availability::{Availability, AvailabilityError};
pub use registry::{
    AvailabilityChecker, CheckInput, Checker, Checkers, Counter, Echo, SetFull, Stats, UniqueIds,
    UnknownChecker,
};
pub use result::{CheckResult, EVIDENCE_CAP, EVIDENCE_COUNT};
pub use validity::Validity;
