//! The nemesis of a cluster test: the workbench's staggered [`Nemesis`]
//! (the same words, the same shapes, kills and pauses a minority), its
//! actions carried out on real processes and a real network — kills and
//! pauses through the shared [`Signals`] executor over the plan's
//! services, partitions as nftables rules between lab hosts
//! ([`LabNet`]). Every action is logged by the run's fault log, whose
//! events become the history's nemesis ops and the store's fault rows.

use std::sync::Arc;
use std::time::Instant;

use gauntlet_lab::LabNet;
use gauntlet_nemesis::{Action, FaultExecutor, Nemesis, NemesisActions, Schedule, Signals};
use tokio::sync::watch;

use crate::soak::faults::Services;

/// What carries out a cluster's nemesis actions.
pub(crate) struct ClusterFaults {
    pub actions: NemesisActions,
    pub signals: Signals<Services>,
    pub network: Option<Arc<LabNet>>,
    /// The nodes, in the nemesis's index order (the plan's order of the
    /// services on lab hosts, which is also the lab network's).
    pub nodes: Vec<String>,
    /// The history's zero.
    pub started: Instant,
}

impl ClusterFaults {
    pub async fn perform(&self, action: &Action) {
        let (_, indices) = action.fault();
        let targets: Vec<String> = indices
            .iter()
            .filter_map(|&i| self.nodes.get(i).cloned())
            .collect();
        let mut executors: Vec<&dyn FaultExecutor> = vec![&self.signals];
        if let Some(network) = &self.network {
            executors.push(network.as_ref());
        }
        let started = self.started;
        self.actions
            .perform(action, &targets, &executors, || {
                started.elapsed().as_millis() as u64
            })
            .await;
    }
}

/// Follows the nemesis's schedule until `until` or a Ctrl-C, each action
/// at its due time after the history's zero. Returns the nemesis, so the
/// final phase heals what it left active.
pub(crate) async fn follow(
    mut nemesis: Nemesis,
    faults: &ClusterFaults,
    until: Instant,
    mut cancel: watch::Receiver<bool>,
) -> Nemesis {
    while let Some(due) = nemesis.next_due() {
        let at = faults.started + due;
        if at >= until {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = crate::driver::cancelled(&mut cancel) => break,
        }
        if let Some(action) = nemesis.take_step() {
            faults.perform(&action).await;
        }
    }
    nemesis
}
