//! `--cycles` and `--modules`: what the command line changes in the
//! plan's cycle stages.

use std::collections::HashSet;

use super::stages::DefaultNames;
use super::{LoadOptions, list_or_none, modules_of, sort_modules};
use crate::error::PlanError;
use crate::{MAX_CYCLES, Service, StageKind, StageSpec};

/// Applies `--cycles` and `--modules`.
pub(super) fn apply_options(
    stages: &mut Vec<StageSpec>,
    services: &[Service],
    opts: &LoadOptions,
) -> Result<(), PlanError> {
    if opts.cycles == Some(0) {
        return Err(PlanError::option("--cycles must be at least 1"));
    }
    if let Some(n) = opts.cycles.filter(|n| *n > MAX_CYCLES) {
        return Err(PlanError::option(format!(
            "--cycles {n}: at most {MAX_CYCLES} rounds"
        )));
    }
    let with_tests = modules_of(services);
    if let Some(selected) = &opts.modules {
        if selected.is_empty() {
            return Err(PlanError::option("--modules names no module"));
        }
        let mut seen = HashSet::new();
        for m in selected {
            if !services.iter().any(|s| &s.name == m) {
                return Err(PlanError::option(format!(
                    "unknown module \"{m}\" in --modules; modules (services with tests) are: {}",
                    list_or_none(&with_tests)
                )));
            }
            if !with_tests.contains(m) {
                return Err(PlanError::option(format!(
                    "service \"{m}\" in --modules has no tests to cycle; modules (services with tests) are: {}",
                    list_or_none(&with_tests)
                )));
            }
            if !seen.insert(m) {
                return Err(PlanError::option(format!(
                    "\"{m}\" is listed twice in --modules"
                )));
            }
        }
    }

    let has_cycle = stages
        .iter()
        .any(|s| matches!(s.kind, StageKind::Cycle { .. }));
    if !has_cycle {
        if opts.cycles.is_none() && opts.modules.is_none() {
            return Ok(());
        }
        let modules = opts.modules.clone().unwrap_or_else(|| with_tests.clone());
        if modules.is_empty() {
            return Err(PlanError::option(
                "--cycles: no service has `tests`, so there is no module to cycle",
            ));
        }
        let taken = stages.iter().map(|s| s.name.clone()).collect();
        stages.push(StageSpec {
            name: DefaultNames::new(taken).next("cycle"),
            kind: StageKind::Cycle {
                modules: sort_modules(services, &modules),
                cycles: opts.cycles.unwrap_or(1),
            },
            guards: Default::default(),
        });
        return Ok(());
    }

    let mut covered: HashSet<String> = HashSet::new();
    for stage in stages.iter_mut() {
        if let StageKind::Cycle { modules, cycles } = &mut stage.kind {
            if let Some(n) = opts.cycles {
                *cycles = n;
            }
            covered.extend(modules.iter().cloned());
            if let Some(selected) = &opts.modules {
                modules.retain(|m| selected.contains(m));
            }
        }
    }
    if let Some(selected) = &opts.modules
        && let Some(missing) = selected.iter().find(|m| !covered.contains(*m))
    {
        let mut covered: Vec<String> = covered.into_iter().collect();
        covered.sort();
        return Err(PlanError::option(format!(
            "module \"{missing}\" from --modules is in no cycle stage of the plan; they cycle: {}",
            covered.join(", ")
        )));
    }
    Ok(())
}
