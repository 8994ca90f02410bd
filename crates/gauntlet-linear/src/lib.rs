//! A linearizability checker: is there an order of a history's operations,
//! consistent with real time, in which a sequential model explains every
//! result?
//!
//! The search is Wing & Gong's with Lowe's just-in-time linearization and a
//! cache of visited configurations, as in Porcupine (see [`search`](crate)
//! module docs in `src/search.rs`). A history with keys is split into one
//! object per key (P-compositionality), checked in parallel; the verdict is
//! the worst of them. A deadline makes undecided keys `unknown`, never
//! `valid`.
//!
//! Semantics are Jepsen's: an operation is an invoke and the same
//! process's next completion; `ok` happened, `fail` did not (dropped),
//! `info` may have happened at any time after its invoke or not at all
//! (an invoke never completed is the same). Nemesis entries are ignored.
//!
//! ```
//! use gauntlet_linear::{check, model_by_name, CasRegister, Options};
//! use gauntlet_history::{Op, OpType};
//! use serde_json::json;
//!
//! let w = Op::invoke(0, "write", json!(1));
//! let r = Op::invoke(1, "read", json!(null));
//! let history = vec![
//!     w.clone(), w.complete(OpType::Ok, json!(1)),
//!     r.clone(), r.complete(OpType::Ok, json!(2)),
//! ];
//! let analysis = check(&CasRegister, &history, &Options::default()).unwrap();
//! assert!(!analysis.valid.is_valid());
//! let result = serde_json::to_value(analysis.result()).unwrap();
//! assert_eq!(result["valid"], json!(false));
//! assert_eq!(result["checker"], json!("linearizable"));
//! assert!(analysis.explain().contains("read → 2"));
//!
//! // The same through the name the CLI gets.
//! let model = model_by_name("cas-register").unwrap();
//! let again = model.check_history(&history, &Options::default()).unwrap();
//! assert_eq!(again.failures, analysis.failures);
//! ```

pub mod bench;
mod check;
mod checker;
mod error;
pub mod generate;
mod history;
mod intern;
mod model;
mod models;
mod report;
mod search;

pub use check::{Analysis, Counts, DynModel, Options, PartitionSummary, check};
pub use checker::{Linearizable, checkers};
pub use error::LinearError;
pub use history::Call;
pub use intern::Interner;
pub use model::{Model, ParseError};
pub use models::*;
pub use report::{
    CHECKER, Counterexample, LinearStep, OpRef, STUCK_CAP, StuckOp, TAIL, Timeline,
    TimelineFailure, TimelineOp,
};
