//! Observers: what Gauntlet watches while services run.
//!
//! - [`probe`]: one health probe ([`probe_once`]) and the wait for a
//!   service to become healthy ([`wait_healthy`]) with a seeded
//!   exponential [`Backoff`], so a rerun of a plan with the same seed waits
//!   the same way.
//! - [`resources`]: RSS and CPU of a process group, read from `/proc`, and
//!   the cgroup OOM-kill counter that tells an OOM kill from other SIGKILLs.
//! - [`disk`]: file systems, partition tables and volume metadata on a
//!   block device, read-only, before a destructive stage.
//! - [`hwmon`]: temperatures, fans and power from `/sys/class/hwmon`.
//! - [`vitals`]: a host's load, memory, uptime and root disk in one
//!   round trip (a fleet node's, over SSH).
//! - [`mod@inventory`]: what a machine is (CPUs, memory, disks, NICs, ...) for
//!   `probe` stages, and [`compare`] against a plan's expectations.
//!
//! Parsing is separated from reading everywhere (the `parse_*` functions
//! and [`inventory_from`] take text or a root directory), so tests feed
//! fixtures instead of depending on the machine they run on.

pub mod backoff;
pub mod disk;
pub mod hwmon;
pub mod inventory;
pub mod probe;
pub mod resources;
pub mod vitals;

pub use backoff::Backoff;
pub use disk::{Signature, SignatureClass, probe_device, signatures};
pub use hwmon::{Reading, read_hwmon};
pub use inventory::{Difference, Disk, Inventory, Nic, Temp, compare, inventory, inventory_from};
pub use probe::{
    Healthy, HttpClient, HttpResponse, NeverHealthy, ProbeOutcome, http_request, probe_in,
    probe_once, wait_healthy,
};
pub use resources::{
    GroupSample, cpu_percent, cpu_percent_between, group_pids, looks_like_oom, oom_kill_count,
    percentile, sample_group, sample_pids, usage_of,
};
pub use vitals::{VITALS_SCRIPT, Vitals, parse_vitals};
