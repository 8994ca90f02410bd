//! The run's stage list: the plan's stages with module cycling unrolled,
//! so the store can keep one state per step and a resumed run knows
//! exactly where it stopped.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::order::{dependency_order, stop_order};
use crate::{CheckStage, Expectation, Plan, StageKind, TestCommand};

/// One stage of a run as the store knows it (the store keeps name + kind word).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStage {
    pub name: String,
    pub action: StageAction,
    /// The plan stage's guards (a module stage has its cycle stage's; a
    /// gate none of its own).
    #[serde(default)]
    pub guards: crate::Guards,
}

impl RunStage {
    /// `"up"`, `"command"`, `"probe"`, `"wait"`, `"down"`, `"module"`,
    /// `"check"`, `"matrix"` or `"gate"`.
    pub fn kind(&self) -> &'static str {
        match self.action {
            StageAction::Up { .. } => "up",
            StageAction::Command(_) => "command",
            StageAction::Probe { .. } => "probe",
            StageAction::Wait { .. } => "wait",
            StageAction::Down { .. } => "down",
            StageAction::Module { .. } => "module",
            StageAction::Check(_) => "check",
            StageAction::Matrix(_) => "matrix",
            StageAction::Gate { .. } => "gate",
        }
    }
}

/// What one run stage does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StageAction {
    /// Start these, in this order (dependencies included and first), each
    /// healthy before the next starts.
    Up {
        services: Vec<String>,
    },
    Command(TestCommand),
    Probe {
        expected: Vec<Expectation>,
    },
    Wait {
        duration: Duration,
    },
    /// Stop these, in this order (dependents first).
    Down {
        services: Vec<String>,
    },
    /// One module in one round of a `cycle` stage. `deps` is the
    /// dependency order of the module's `depends_on` (module excluded):
    /// what must run before the module starts.
    Module {
        module: String,
        cycle: u32,
        cycles: u32,
        deps: Vec<String>,
    },
    /// Judge the run's files (see [`CheckStage`]).
    Check(CheckStage),
    /// A connectivity matrix over lab hosts.
    Matrix(crate::MatrixStage),
    /// Before a destructive stage: probes its devices, read-only, for
    /// file systems, partition tables and volume metadata; finding any
    /// fails it, which holds the run until an operator overrides it (with
    /// a reason, in every report) or clears the device and retries.
    Gate {
        /// The destructive stage it guards.
        stage: String,
        devices: Vec<PathBuf>,
        /// The plan's `allowed_devices`, checked again on the device each
        /// path resolves to.
        allowed: Vec<PathBuf>,
    },
}

/// How many rounds a `cycle` stage may have (`cycles`, `--cycles`): a
/// bigger count is a plan error.
pub const MAX_CYCLES: u32 = 1_000;

/// How many stages a run may have once its `cycle` stages are expanded
/// (one per round and module): the store keeps a row for each and every
/// report lists them, so a bigger plan is a plan error rather than a run
/// whose reports take seconds to write when it is stopped (2,000 finished
/// module stages write all four reports in about 0.7 s).
pub const MAX_RUN_STAGES: usize = 2_000;

/// How many stages [`expand`] makes of these, counted without making them.
pub fn run_stage_count(stages: &[crate::StageSpec]) -> u64 {
    stages
        .iter()
        .map(|s| match &s.kind {
            StageKind::Cycle { modules, cycles } => u64::from(*cycles) * modules.len() as u64,
            // A destructive stage has its gate before it.
            _ if !s.guards.devices.is_empty() => 2,
            _ => 1,
        })
        .sum()
}

/// The plan's stages with each `cycle` stage expanded into one `module`
/// stage per (cycle, module), rounds outermost and modules in dependency
/// order, named `cycle1/api`, `cycle1/worker`, `cycle2/api`, … When the
/// plan has more than one cycle stage, names are prefixed with the stage
/// name (`<stage>:cycle1/api`) so they stay unique.
pub fn expand(plan: &Plan) -> Vec<RunStage> {
    let cycle_stages = plan
        .stages
        .iter()
        .filter(|s| matches!(s.kind, StageKind::Cycle { .. }))
        .count();
    let mut names = UniqueNames::default();
    let mut out = Vec::new();
    for stage in &plan.stages {
        let action = match &stage.kind {
            StageKind::Up { services } => StageAction::Up {
                services: dependency_order(plan, services),
            },
            StageKind::Command(test) => StageAction::Command(test.clone()),
            StageKind::Check(check) => StageAction::Check(check.clone()),
            StageKind::Matrix(matrix) => StageAction::Matrix(matrix.clone()),
            StageKind::Probe { expected } => StageAction::Probe {
                expected: expected.clone(),
            },
            StageKind::Wait { duration } => StageAction::Wait {
                duration: *duration,
            },
            StageKind::Down { services } => StageAction::Down {
                services: stop_order(plan, services),
            },
            StageKind::Cycle { modules, cycles } => {
                let prefix = if cycle_stages > 1 {
                    format!("{}:", stage.name)
                } else {
                    String::new()
                };
                let modules = modules_in_order(plan, modules);
                for cycle in 1..=*cycles {
                    for module in &modules {
                        out.push(RunStage {
                            name: names.take(format!("{prefix}cycle{cycle}/{module}")),
                            action: StageAction::Module {
                                module: module.clone(),
                                cycle,
                                cycles: *cycles,
                                deps: module_deps(plan, module),
                            },
                            guards: stage.guards.clone(),
                        });
                    }
                }
                continue;
            }
        };
        if !stage.guards.devices.is_empty() {
            out.push(RunStage {
                name: names.take(format!("{}/gate", stage.name)),
                action: StageAction::Gate {
                    stage: stage.name.clone(),
                    devices: stage.guards.devices.clone(),
                    allowed: plan.allowed_devices.clone(),
                },
                guards: crate::Guards::default(),
            });
        }
        out.push(RunStage {
            name: names.take(stage.name.clone()),
            action,
            guards: stage.guards.clone(),
        });
    }
    out
}

/// Services that are running after `stages[..index]` have run (`up` adds,
/// `down` removes; `module` stages leave nothing running that was not
/// running before), in dependency order — what a resumed run must bring
/// back up before it runs `stages[index]`.
pub fn running_before(plan: &Plan, stages: &[RunStage], index: usize) -> Vec<String> {
    let mut running: BTreeSet<&str> = BTreeSet::new();
    for stage in &stages[..index.min(stages.len())] {
        match &stage.action {
            StageAction::Up { services } => running.extend(services.iter().map(String::as_str)),
            StageAction::Down { services } => {
                for s in services {
                    running.remove(s.as_str());
                }
            }
            StageAction::Command(_)
            | StageAction::Probe { .. }
            | StageAction::Wait { .. }
            | StageAction::Module { .. }
            | StageAction::Check(_)
            | StageAction::Matrix(_)
            | StageAction::Gate { .. } => {}
        }
    }
    let running: Vec<String> = running.into_iter().map(str::to_owned).collect();
    dependency_order(plan, &running)
        .into_iter()
        .filter(|s| running.contains(s))
        .collect()
}

/// `modules` in dependency order among themselves.
pub(crate) fn modules_in_order(plan: &Plan, modules: &[String]) -> Vec<String> {
    dependency_order(plan, modules)
        .into_iter()
        .filter(|s| modules.contains(s))
        .collect()
}

/// What must run before `module` starts: its dependencies, transitively.
fn module_deps(plan: &Plan, module: &str) -> Vec<String> {
    let direct = plan
        .services
        .iter()
        .find(|s| s.name == module)
        .map(|s| s.depends_on.clone())
        .unwrap_or_default();
    dependency_order(plan, &direct)
        .into_iter()
        .filter(|s| s != module)
        .collect()
}

/// Hands out names, suffixing `-2`, `-3`, … to a name already taken. A
/// loaded plan never needs it; a hand-built one must not make the store
/// see two stages with one name.
#[derive(Default)]
struct UniqueNames(HashSet<String>);

impl UniqueNames {
    fn take(&mut self, name: String) -> String {
        let mut candidate = name.clone();
        let mut n = 2;
        while self.0.contains(&candidate) {
            candidate = format!("{name}-{n}");
            n += 1;
        }
        self.0.insert(candidate.clone());
        candidate
    }
}
