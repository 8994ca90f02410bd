#![warn(missing_docs)]
//! External checker programs: a user's invariant, in any language, judged
//! into the same result shape as the built-in checkers.
//!
//! A checker program gets the run's directory as its last argument (and in
//! `GAUNTLET_RUN_DIR`): `history.jsonl`, and for plan runs whatever the run
//! wrote (journal, measurements, service logs). It prints one JSON object
//! on stdout, `{"valid": true | false | "unknown", "checker": "...",
//! ...figures, "evidence": [...]}`, and exits 0.
//!
//! Anything else is `unknown` with the reason and the program's last stderr
//! lines as evidence, never a pass: a non-zero exit, a signal, running past
//! its timeout (it is then killed with its whole process group), printing
//! nothing, printing more than [`STDOUT_LIMIT`], printing something that is
//! not one JSON object, or an object whose `valid` is missing or not one of
//! the three values. The program runs through gauntlet-node, so it dies
//! with the run on Ctrl-C, a panic or a SIGKILL of gauntlet.
//!
//! [`judge`] and [`parse`] are pure; [`run_checker`] is the IO.
//!
//! ```no_run
//! # async fn demo() {
//! use gauntlet_check_program::{ProgramSpec, run_checker};
//! let mut spec = ProgramSpec::new("lease", "./check_leases.py");
//! spec.timeout = std::time::Duration::from_secs(10);
//! let run = run_checker(&spec, "store/echo/latest".as_ref()).await;
//! println!("{} {}", run.result.checker, run.result.valid);
//! # }
//! ```

mod judge;
mod run;

pub use judge::{BadOutput, Ended, judge, parse};
pub use run::{DEFAULT_TIMEOUT, ProgramRun, ProgramSpec, RUN_DIR_ENV, STDOUT_LIMIT, run_checker};
