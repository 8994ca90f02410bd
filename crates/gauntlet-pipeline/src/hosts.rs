//! Where a plan's services run beyond this machine, held for a run: the
//! plan's network lab or its fleet's nodes (a plan has at most one of
//! them). Every preset that drives a plan (run, soak, cluster) brings them
//! up before its run's clock starts and closes them once its driver has
//! returned, in one place.

use std::collections::BTreeMap;
use std::sync::Arc;

use gauntlet_node::Backend;
use gauntlet_plan::Plan;

use crate::PipelineError;
use crate::lab::{self, PlanLab, PlanNet};
use crate::plan_fleet::{self, PlanFleet};

pub(crate) struct PlanHosts {
    lab: Option<PlanLab>,
    nodes: Option<PlanFleet>,
}

impl PlanHosts {
    /// The plan's lab and fleet nodes, for run `run`.
    pub async fn up(plan: &Plan, seed: u64, run: &str) -> Result<PlanHosts, PipelineError> {
        let mut hosts = PlanHosts::lab_up(plan, seed).await?;
        hosts.nodes_up(plan, run).await?;
        Ok(hosts)
    }

    /// The lab only: before the run exists (a lab that cannot be built
    /// leaves no run behind that looks tried).
    pub async fn lab_up(plan: &Plan, seed: u64) -> Result<PlanHosts, PipelineError> {
        Ok(PlanHosts {
            lab: lab::up(plan, seed).await?,
            nodes: None,
        })
    }

    /// The fleet's nodes, once the run exists (their partition tables
    /// carry its id).
    pub async fn nodes_up(&mut self, plan: &Plan, run: &str) -> Result<(), PipelineError> {
        self.nodes = plan_fleet::up(plan, run).await?;
        Ok(())
    }

    /// Each host's backend, by host name, for the supervisor.
    pub fn backends(&self) -> BTreeMap<String, Arc<dyn Backend>> {
        match (&self.lab, &self.nodes) {
            (Some(l), _) => l.backends.clone(),
            (None, Some(n)) => n.backends.clone(),
            (None, None) => BTreeMap::new(),
        }
    }

    /// The real network a plan's partitions are cut on, when it has one.
    pub fn net(&self) -> Option<Arc<dyn PlanNet>> {
        match (&self.lab, &self.nodes) {
            (Some(l), _) => Some(l.net.clone() as Arc<dyn PlanNet>),
            (None, Some(n)) => n.net.clone().map(|n| n as Arc<dyn PlanNet>),
            (None, None) => None,
        }
    }

    /// The lab itself: the executor of link faults.
    pub fn links(&self) -> Option<Arc<gauntlet_lab::Lab>> {
        self.lab.as_ref().map(|l| l.lab.clone())
    }

    /// Closes the nodes' connections (off the runtime's threads) and takes
    /// the lab down. Called once the driver, its supervisor and their
    /// clones of the connections are gone.
    pub async fn close(self) {
        let PlanHosts { lab, nodes } = self;
        drop(lab);
        if let Some(nodes) = nodes {
            nodes.close().await;
        }
    }
}
