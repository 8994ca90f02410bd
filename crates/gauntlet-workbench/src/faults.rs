//! The workbench's fault executors, in the one fault model of
//! gauntlet-nemesis: the simulated network carries out partitions, and the
//! shared [`Signals`] executor carries out kills and pauses through
//! [`Nodes`], the workbench's [`Processes`]. Every injection and heal goes
//! through one [`FaultLog`], whose events become the history's `nemesis`
//! ops (gauntlet-nemesis's `NemesisOps`).

use std::sync::Arc;
use std::time::Duration;

use gauntlet_nemesis::{
    Action, Fault, FaultError, FaultExecutor, FaultFuture, FaultLog, NemesisActions, Processes,
    Signals, Together, VerbFuture,
};
use gauntlet_net::Grudge;
use serde_json::json;
use tokio::sync::Mutex;

use crate::client::Client;
use crate::join::futures_join;
use crate::net::Net;
use crate::node::NodeSlot;

/// The workbench's nodes as the fault model's [`Processes`].
pub(crate) struct Nodes {
    pub nodes: Vec<Arc<NodeSlot>>,
    pub net: Arc<Net>,
    pub init_clients: Vec<Arc<Mutex<Client>>>,
    pub init_timeout: Duration,
}

impl Nodes {
    fn slots(&self, targets: &[String]) -> Vec<Arc<NodeSlot>> {
        targets
            .iter()
            .filter_map(|t| self.nodes.iter().find(|n| &n.name == t).cloned())
            .collect()
    }

    /// Starts node `slot` again and sends it a fresh `init`.
    fn start_one(
        &self,
        slot: Arc<NodeSlot>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send + use<> {
        let client = self.init_clients[slot.index as usize].clone();
        let names = self.net.names()[..self.nodes.len()].to_vec();
        let timeout = self.init_timeout;
        async move {
            slot.start().await?;
            init(slot, client, names, timeout)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

impl Processes for Nodes {
    fn kill<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        Box::pin(async move {
            let slots = self.slots(targets);
            futures_join(slots.into_iter().map(|n| async move { n.kill().await })).await;
            targets.to_vec()
        })
    }

    fn freeze<'a>(&'a self, targets: &'a [String], pause: bool) -> VerbFuture<'a, ()> {
        Box::pin(async move {
            for n in self.slots(targets) {
                if pause {
                    n.pause().await;
                } else {
                    n.resume().await;
                }
            }
        })
    }

    fn stop<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        // A Maelstrom node has no polite stop: its stdin closing is its end.
        self.kill(targets)
    }

    fn start<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        Box::pin(async move {
            let slots = self.slots(targets);
            futures_join(slots.into_iter().map(|n| self.start_one(n)))
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect()
        })
    }
}

/// Why a node could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InitError {
    /// It exited before it answered: nothing more can come of it.
    Exited(String),
    /// It did not answer as it should (in time, or with the right type).
    Answer(String),
}

impl InitError {
    /// The node is gone: waiting for the others changes nothing.
    pub fn is_exit(&self) -> bool {
        matches!(self, InitError::Exited(_))
    }
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitError::Exited(m) | InitError::Answer(m) => f.write_str(m),
        }
    }
}

/// Sends `body` to `node` from `client` and waits up to `timeout` for the
/// reply, or until the node's current incarnation exits on its own:
/// then the error names the node, how it ended and its last stderr lines.
/// `what` says what was sent, for the error.
pub(crate) async fn call_while_alive(
    node: &NodeSlot,
    client: &Mutex<Client>,
    body: serde_json::Value,
    timeout: Duration,
    what: &str,
) -> Result<Option<serde_json::Value>, InitError> {
    let incarnation = node.incarnation();
    tokio::select! {
        biased;
        reply = async { client.lock().await.call(node.index, body, timeout).await } => Ok(reply),
        Some(crash) = node.exited(incarnation) => Err(InitError::Exited(format!(
            "node {} {} before answering {what}; last stderr lines:\n{}\n  see node-logs/{}.log",
            node.name,
            crash.exit,
            crate::node::indent(&crash.stderr_tail),
            node.name
        ))),
    }
}

/// Sends `init` to `node` from its init client and waits for `init_ok`;
/// an error names the node and why. A node that exits meanwhile fails it
/// at once, with its exit status and last stderr lines.
pub(crate) async fn init(
    node: Arc<NodeSlot>,
    client: Arc<Mutex<Client>>,
    names: Vec<String>,
    timeout: Duration,
) -> Result<(), InitError> {
    let body = json!({"type": "init", "node_id": node.name, "node_ids": names});
    let reply = {
        // Cleared however the wait ends, an abort included.
        struct Initializing<'a>(&'a NodeSlot);
        impl Drop for Initializing<'_> {
            fn drop(&mut self) {
                self.0.init_over();
            }
        }
        let _initializing = Initializing(&node);
        call_while_alive(&node, &client, body, timeout, "init").await?
    };
    if reply.as_ref().and_then(|r| r["type"].as_str()) == Some("init_ok") {
        return Ok(());
    }
    let why = match &reply {
        None => format!("did not answer init within {} s", timeout.as_secs_f64()),
        Some(r) => format!("answered init with {r} instead of init_ok"),
    };
    let crashed = node
        .crashes()
        .last()
        .map(|c| format!(" (it {})", c.exit))
        .unwrap_or_default();
    Err(InitError::Answer(format!(
        "node {} {why}{crashed}; see node-logs/{}.log",
        node.name, node.name
    )))
}

/// The simulated network as a fault executor: a partition is a grudge.
pub(crate) struct SimNet {
    pub net: Arc<Net>,
}

impl FaultExecutor for SimNet {
    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Partition { .. })
    }

    fn inject<'a>(&'a self, fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            let Fault::Partition { shape, grudge } = fault else {
                return Err(FaultError::NoExecutor { kind: fault.kind() });
            };
            self.net.set_grudge(grudge.clone());
            Ok(json!({"shape": shape.name(), "grudge": grudge.describe(self.net.names())}))
        })
    }

    fn heal<'a>(&'a self, _fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            self.net.set_grudge(Grudge::new(0));
            Ok(json!("network-healed"))
        })
    }
}

/// Carries out the nemesis's actions through the executors and the log.
pub(crate) struct Faults {
    pub signals: Signals<Nodes>,
    pub sim_net: SimNet,
    /// A real network partitions also cut (a lab's), beside the simulated.
    pub network: Option<Arc<dyn FaultExecutor>>,
    actions: NemesisActions,
}

impl Faults {
    pub fn new(
        signals: Signals<Nodes>,
        sim_net: SimNet,
        network: Option<Arc<dyn FaultExecutor>>,
        log: FaultLog,
    ) -> Faults {
        Faults {
            signals,
            sim_net,
            network,
            actions: NemesisActions::new(log),
        }
    }

    pub async fn perform(&self, action: Action) {
        let (_, nodes) = action.fault();
        let targets: Vec<String> = nodes
            .iter()
            .map(|&i| self.signals.processes().nodes[i].name.clone())
            .collect();
        let both;
        let network: &dyn FaultExecutor = match &self.network {
            Some(real) => {
                both = Together {
                    first: &self.sim_net,
                    second: real.as_ref(),
                };
                &both
            }
            None => &self.sim_net,
        };
        let net = &self.sim_net.net;
        self.actions
            .perform(&action, &targets, &[&self.signals, network], || {
                net.now() / 1_000_000
            })
            .await;
    }
}
