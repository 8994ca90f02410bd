//! A plan's network lab, up for the length of its run: the plan's services
//! with a `host` run on that lab host (the netns backend), and partitions
//! of those services are cut on the lab's real network ([`LabNet`]). Built
//! before the first stage, by whichever preset drives the plan (a run, a
//! soak, a resumed run), and taken down when the run's driver returns, or
//! by the next run's sweep if gauntlet was killed.

use std::collections::BTreeMap;
use std::sync::Arc;

use gauntlet_lab::{Lab, LabError, LabNet, LabOptions};
use gauntlet_node::Backend;
use gauntlet_plan::Plan;

use crate::PipelineError;

/// The real network a plan's partitions are cut on: the lab's
/// ([`LabNet`]) or the fleet nodes' ([`crate::plan_fleet::FleetNet`]).
/// A partition's grudge indexes [`PlanNet::names`].
pub(crate) trait PlanNet: gauntlet_nemesis::FaultExecutor {
    /// The services, in grudge order.
    fn names(&self) -> Vec<String>;
}

impl PlanNet for LabNet {
    fn names(&self) -> Vec<String> {
        LabNet::names(self)
    }
}

/// The lab of a run, and what the run takes from it.
pub(crate) struct PlanLab {
    /// Held: dropping the last of it takes the lab down. Also the
    /// executor of link faults.
    pub lab: Arc<Lab>,
    /// Each host's backend, by host name.
    pub backends: BTreeMap<String, Arc<dyn Backend>>,
    /// Partitions among the services placed on hosts, in plan order.
    pub net: Arc<LabNet>,
}

/// Brings up `plan`'s lab, if it has one.
pub(crate) async fn up(plan: &Plan, seed: u64) -> Result<Option<PlanLab>, PipelineError> {
    let Some(spec) = plan.lab.clone() else {
        return Ok(None);
    };
    let source = plan.path.clone();
    let members: Vec<(String, String)> = plan
        .services
        .iter()
        .filter_map(|s| s.host.clone().map(|h| (s.name.clone(), h)))
        .collect();
    // Namespaces and rules are made by commands: off the async runtime.
    // The segments whose hosts run services: this machine must reach them
    // (health checks, clients, users all run here).
    let reached: Vec<String> = spec
        .hosts
        .iter()
        .filter(|h| members.iter().any(|(_, host)| host == &h.name))
        .filter_map(|h| match &h.place {
            gauntlet_plan::HostPlace::Segment(s) => Some(s.clone()),
            gauntlet_plan::HostPlace::Behind(_) => None,
        })
        .collect();
    let built = tokio::task::spawn_blocking(move || -> Result<PlanLab, LabError> {
        let lab = Lab::up(&spec, &LabOptions { seed, source })?;
        // A subnet this machine already routes (another lab of the same
        // plan running now, or a network of its own) leaves the segment
        // without a route from here: what this run would reach at those
        // addresses is someone else's. Refused, not run against it.
        let unreachable: Vec<&String> = lab
            .record()
            .unrouted
            .iter()
            .filter(|s| reached.contains(s))
            .collect();
        if let Some(segment) = unreachable.first() {
            let subnet = spec
                .segments
                .iter()
                .find(|s| &&s.name == segment)
                .map_or_else(String::new, |s| format!(" ({})", s.subnet));
            return Err(LabError::Conflict(format!(
                "segment {segment}{subnet} is already routed on this machine (another lab with the same subnet, or a network of its own): its services could not be reached from here. Give the plan other subnets, or wait for the other run (gauntlet lab ls)"
            )));
        }
        let mut backends: BTreeMap<String, Arc<dyn Backend>> = BTreeMap::new();
        for host in &spec.hosts {
            backends.insert(host.name.clone(), Arc::new(lab.backend(&host.name)?));
        }
        let net = Arc::new(LabNet::new(lab.record(), &members)?);
        Ok(PlanLab {
            lab: Arc::new(lab),
            backends,
            net,
        })
    })
    .await
    .map_err(|e| PipelineError::Lab(format!("building the lab failed: {e}")))?;
    built
        .map(Some)
        .map_err(|e| PipelineError::Lab(e.to_string()))
}
