//! Plans: what `gauntlet run plan.toml` runs.
//!
//! A plan file is TOML (see `docs/plan.md`). [`load()`] reads it, applies
//! `--set` overrides to its `[vars]`, checks it and resolves it into a
//! [`Plan`]: every `${var}` expanded, every `cwd` absolute, every duration
//! and size parsed, every service name checked, `depends_on` acyclic.
//! Errors name the file, line and column ([`PlanError`]).
//!
//! Everything here is sans-IO: no processes, no clocks, and no file access
//! beyond [`load()`] reading the plan and the Compose file it names
//! ([`compose`]: the file, `.env` and `env_file`s). The runtime (`gauntlet-pipeline`)
//! executes a [`Plan`]: [`expand`] turns it into the run's stage list,
//! [`next_step`] decides what to do next from the stages' states (so a
//! resumed run takes the same decisions), [`running_before`] says what a
//! resumed run must bring back up, and [`module_status`] judges a module.
//!
//! A plan with a `[soak]` table is a soak plan (`gauntlet soak`, see
//! `docs/soak.md`): [`Plan::soak`] holds its users, readback, faults,
//! proxies, observer and invariants ([`soak`]), and its `[[stage]]` list
//! may be empty.
//!
//! Any plan may have `[[notify]]` entries ([`notify`]): a URL or a command
//! told of chosen events of its runs.

pub mod cluster;
pub mod compose;
pub mod container;
pub mod error;
pub mod exposure;
pub mod figures;
pub mod fleet;
pub mod hardware;
pub mod lab;
pub mod load;
mod model;
pub mod notify;
pub mod order;
pub mod progress;
mod raw;
pub mod stages;
pub mod template;
pub mod units;
mod vars;

pub use cluster::{
    BUILTIN_CLIENTS, CLUSTER_FAULTS, CLUSTER_WORKLOADS, Cluster, ClusterClient, ClusterNemesis,
    ClusterWorkload, PARTITION_SHAPES,
};
pub use compose::ComposeSource;
pub use container::{
    ContainerService, DEFAULT_NETWORK, ImageSource, PortMapping, VolumeMount, VolumeSource,
};
pub use error::PlanError;
pub use exposure::{Exposure, exposures};
pub use figures::{judge_figure, read_figure};
pub use fleet::{
    Criteria, FULL_SUITE, Fleet, FleetNode, Project, ProjectService, Proof, ServiceControl,
    SshTarget, Suite, SuiteRuns,
};
pub use hardware::{Guards, HWMON_ROOT, Requirements, SENSOR_INTERVAL, SensorKind, Sensors};
pub use lab::{
    HostPlace, LabHost, LabSpec, Link, LinkShape, Management, Nat, NatType, Segment, Subnet,
};
pub use load::{
    LoadOptions, load, load_fleet, load_fleet_str, load_lab, load_lab_str, load_str, parse_set,
};
pub use model::*;
pub use notify::{
    MAX_NOTIFY_TIMEOUT, NOTIFY_TIMEOUT, Notify, NotifyEvent, NotifyTarget, url_for_log,
};
pub mod soak;
pub use order::{dependency_order, stop_order};
pub use progress::{
    ModuleFigures, ModuleStatus, Next, NoTestsScan, StageProgress, module_status, next_step,
    no_tests_found,
};
pub use soak::{faults_in_scenario, known_scenarios};
pub use stages::{
    MAX_CYCLES, MAX_RUN_STAGES, RunStage, StageAction, expand, run_stage_count, running_before,
};
pub use units::{UnitError, format_duration, parse_duration, parse_size};
pub use vars::{DATA_DIR, DATA_DIR_PLACEHOLDER, PLAN_DIR};
