//! The nemesis of a cluster test: the workbench's staggered [`Nemesis`]
//! (the same words, the same shapes, kills and pauses a minority), its
//! actions carried out on real processes and a real network — kills and
//! pauses through the shared [`Signals`] executor over the plan's
//! services, partitions as nftables rules between lab hosts
//! ([`LabNet`]), clock jumps through libfaketime's offset files
//! ([`crate::clock::Clocks`]). Every action is logged by the run's fault log, whose
//! events become the history's nemesis ops and the store's fault rows.

use std::sync::Arc;
use std::time::Instant;

use gauntlet_nemesis::{Action, FaultExecutor, Nemesis, NemesisActions, Replay, Schedule, Signals};
use tokio::sync::watch;

use crate::soak::faults::Services;

/// What carries out a cluster's nemesis actions.
pub(crate) struct ClusterFaults {
    pub actions: NemesisActions,
    pub signals: Signals<Services>,
    pub network: Option<Arc<dyn crate::lab::PlanNet>>,
    /// The nodes' clocks, when the nemesis skews them.
    pub clocks: Option<Arc<crate::clock::Clocks>>,
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
        if let Some(clocks) = &self.clocks {
            executors.push(clocks.as_ref());
        }
        let started = self.started;
        self.actions
            .perform(action, &targets, &executors, || {
                started.elapsed().as_millis() as u64
            })
            .await;
    }
}

/// Where a cluster test's storm comes from: drawn from the seed, or
/// replayed from a recorded run.
pub(crate) enum Storm {
    Drawn(Box<Nemesis>),
    Replayed(Replay),
}

impl Storm {
    /// What is still active, healed.
    pub fn heal_all(&mut self) -> Vec<Action> {
        match self {
            Storm::Drawn(n) => n.heal_all(),
            Storm::Replayed(r) => r.heal_all(),
        }
    }
}

impl Schedule for Storm {
    type Step = Action;

    fn next_due(&mut self) -> Option<std::time::Duration> {
        match self {
            Storm::Drawn(n) => n.next_due(),
            Storm::Replayed(r) => r.next_due(),
        }
    }

    fn take_step(&mut self) -> Option<Action> {
        match self {
            Storm::Drawn(n) => n.take_step(),
            Storm::Replayed(r) => r.take_step(),
        }
    }
}

/// Follows the storm's schedule until `until` or a Ctrl-C, each action
/// at its due time after the history's zero. Returns the storm, so the
/// final phase heals what it left active.
pub(crate) async fn follow(
    mut nemesis: Storm,
    faults: &ClusterFaults,
    until: Instant,
    mut cancel: watch::Receiver<bool>,
) -> Storm {
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
