//! The simulated network's routing core, free of IO.
//!
//! The workbench's runtime moves bytes between node processes; this crate
//! decides what happens to each message on the way: how long it travels
//! ([`Latency`]), whether a fault drops it ([`Grudge`]), and in which order a
//! destination receives what is due ([`DeliveryQueue`]). Every decision is a
//! function of its inputs and a seeded RNG, so it is tested without processes
//! and a run's choices replay from its seed.

mod grudge;
mod latency;
mod queue;
mod topology;

pub use grudge::Grudge;
pub use latency::{Latency, LatencyDist, LatencyError};
pub use queue::DeliveryQueue;
pub use topology::{Topology, TopologyError};
