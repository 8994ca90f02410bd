//! An Elle-style transactional consistency checker (Kingsbury & Alvaro,
//! "Elle: Inferring Isolation Anomalies from Experimental Observations",
//! VLDB 2020) for list-append and read-write-register histories.
//!
//! From a history of `txn` ops it infers who wrote each version and the
//! order of versions, builds the dependency graph (ww, wr, rw, plus
//! process and real-time order), finds cycles in its strongly connected
//! components, names them (G0, G1c, G-single, G-nonadjacent, G2-item and
//! their `-process` / `-realtime` variants), adds the anomalies that need
//! no cycle (G1a, G1b, internal, lost-update, ...), and judges consistency
//! models through Elle's lattice. Sans-IO: a history in, an [`Analysis`]
//! out.
//!
//! A history held whole goes to [`check`]. A big one read from a file
//! need not be: push its ops one at a time into a [`TxnBuilder`] (for
//! example from `gauntlet_history::for_each_op`) and check the compact
//! [`Transactions`] it makes with [`check_transactions`]; a million
//! transactions then take a few hundred MiB instead of several GiB of
//! JSON values.
//!
//! Semantics are Jepsen's: `ok` committed, `fail` did not happen, `info`
//! (or no completion) may have happened — its writes may be visible, its
//! reads are unknown, and it precedes nothing in real time.
//!
//! ```
//! use gauntlet_history::{Op, OpType};
//! use gauntlet_txn::{check, Options, Workload};
//! use serde_json::json;
//!
//! // T1 appends 1 to key 0 and reads key 1 empty; T2 appends 2 to key 1
//! // and reads key 0 empty: each missed the other's write (G2-item).
//! let t1 = Op::invoke(0, "txn", json!([["append", 0, 1], ["r", 1, null]]));
//! let t2 = Op::invoke(1, "txn", json!([["append", 1, 2], ["r", 0, null]]));
//! let mut history = vec![
//!     t1.clone(), t2.clone(),
//!     t1.complete(OpType::Ok, json!([["append", 0, 1], ["r", 1, []]])),
//!     t2.complete(OpType::Ok, json!([["append", 1, 2], ["r", 0, []]])),
//!     // Reads that fix the version order of both keys.
//!     Op::invoke(2, "txn", json!([["r", 0, null], ["r", 1, null]])),
//! ];
//! history.push(history[4].complete(OpType::Ok, json!([["r", 0, [1]], ["r", 1, [2]]])));
//! for (i, op) in history.iter_mut().enumerate() { op.index = i as u64; }
//! let analysis = check(&history, Workload::ListAppend, &Options::models(["serializable"])).unwrap();
//! assert!(!analysis.valid.is_valid());
//! assert_eq!(analysis.anomalies.types().collect::<Vec<_>>(), ["G2-item"]);
//! let result = serde_json::to_value(analysis.result()).unwrap();
//! assert_eq!(result["valid"], json!(false));
//! assert!(analysis.not.contains(&"repeatable-read"));
//! ```

mod anomaly;
mod append;
mod check;
mod checker;
mod cycle;
mod error;
pub mod generate;
mod graph;
mod history;
pub mod kafka;
mod model;
mod order;
mod register;
mod report;

pub use anomaly::{Anomalies, Anomaly, KEEP_PER_TYPE, Step};
pub use check::{Analysis, ModelVerdict, Options, check, check_transactions};
pub use checker::{TxnChecker, checkers, register};
pub use cycle::SearchTimeout;
pub use error::TxnError;
pub use history::{Status, Transactions, TxnBuilder, Workload};
pub use model::{implied_anomalies, impossible_models, known_models, parse_model, prohibited_by};
pub use report::cycle_svg;
