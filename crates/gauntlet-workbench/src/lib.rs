//! The Maelstrom-style workbench: node programs as child processes on a
//! simulated network, driven by clients, broken by a nemesis, checked.
//!
//! [`run_test`] is the whole of `gauntlet test`: it lays out the run's store
//! directory, starts the built-in services and the nodes, sends `init`, runs
//! the workload and the nemesis for the time limit, heals, runs the final
//! reads, tears everything down and checks what was recorded. The IO lives
//! here; the decisions come from the sans-IO crates (`gauntlet-net`,
//! `gauntlet-nemesis`, `gauntlet-workload`, `gauntlet-services`,
//! `gauntlet-check`).

mod bench;
mod checkers;
mod client;
mod config;
mod faults;
mod inbox;
mod join;
mod journal;
mod net;
mod node;
mod results;
mod run;
mod service;
mod store;

pub use bench::{
    FloodBench, FloodBenchReport, RouterBench, RouterBenchReport, bench_flood, bench_router,
};
pub use checkers::checkers;
pub use config::{CheckerSpec, ConfigError, RealNetwork, TestConfig};
/// The workload options a [`TestConfig`] carries.
pub use gauntlet_workload::WorkloadOptions;
pub use net::NetLimits;
pub use run::{RunError, RunOutcome, run_test};
