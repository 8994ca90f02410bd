//! One round of health probes: every service that has a health check,
//! probed once. The observer of a soak (every second), a plan's module
//! stages (every second), the soak's calm phase (until all are healthy)
//! and its last look after calm all probe through this, so a probe and
//! its sample mean the same everywhere.

use gauntlet_observe::{ProbeOutcome, probe_in};
use gauntlet_plan::Plan;

use crate::supervisor::{Nodes, Samples};

/// Probes, in plan order, every service of `plan` that has a health check
/// and is among `only` (all when `None`). With `samples`, each outcome is
/// also a measurement: `health_latency` (ms) when healthy, `health_failure`
/// (a count of 1) when not. A check run inside a service's node finds it
/// in `nodes`.
pub(crate) async fn probe_round(
    plan: &Plan,
    only: Option<&[String]>,
    samples: Option<&Samples>,
    nodes: &Nodes,
) -> Vec<(String, ProbeOutcome)> {
    let mut out = Vec::new();
    for service in &plan.services {
        let Some(check) = &service.health else {
            continue;
        };
        if only.is_some_and(|names| !names.contains(&service.name)) {
            continue;
        }
        let outcome = probe_in(
            &check.probe,
            check.probe_timeout,
            nodes.control(&service.name),
        )
        .await;
        if let Some(samples) = samples {
            if outcome.healthy {
                let ms = outcome.latency.as_secs_f64() * 1000.0;
                samples.push("health_latency", &service.name, ms, "ms");
            } else {
                samples.push("health_failure", &service.name, 1.0, "count");
            }
        }
        out.push((service.name.clone(), outcome));
    }
    out
}
