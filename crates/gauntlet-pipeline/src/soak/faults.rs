//! Injecting the planned faults, in the one fault model of
//! gauntlet-nemesis: process faults (kill, power cut, pause, graceful
//! restart) go through the shared [`Signals`] executor over the plan's
//! services ([`Services`]), network faults through the services' proxies
//! ([`Proxies`]). Every injection and heal goes through one [`FaultLog`]:
//! its events reach the store (fault rows) and the person watching, and
//! the invariants' fault windows are read back from it. STOP cuts a fault
//! short and heals it at once, so the calm phase starts from a whole
//! system.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gauntlet_nemesis::PartitionShape;
use gauntlet_nemesis::{
    Fault, FaultError, FaultExecutor, FaultFuture, FaultLog, Processes, Schedule, Signals,
    VerbFuture, executor_for,
};
use gauntlet_net::Grudge;
use gauntlet_plan::Plan;
use gauntlet_plan::soak::{FaultKind, FaultSpec, PartitionMode};
use gauntlet_proxy::{Proxy, Toxic};
use gauntlet_soak::invariants::FaultWindow;
use gauntlet_soak::schedule::Injection;
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};

use crate::container_net::ContainerNet;
use crate::progress::Progress;
use crate::supervisor::Supervisor;

pub(crate) struct FaultContext {
    pub plan: Arc<Plan>,
    pub supervisor: Arc<Mutex<Supervisor>>,
    pub proxies: Arc<BTreeMap<String, Proxy>>,
    pub started: Instant,
    pub progress: Progress,
    /// Where every injection and heal is recorded.
    pub log: Arc<FaultLog>,
    /// Restarts each fault caused, by service (they are explained, for I5).
    pub caused_restarts: Arc<std::sync::Mutex<BTreeMap<String, u32>>>,
    /// The real network (the lab's, the fleet nodes'), when the plan has one.
    pub network: Option<Arc<dyn crate::lab::PlanNet>>,
    /// The clocks of services clock faults name.
    pub clocks: Option<Arc<crate::clock::Clocks>>,
    /// The lab, for link faults.
    pub links: Option<Arc<gauntlet_lab::Lab>>,
    /// The containers' network, when the plan has docker services.
    pub containers: Option<Arc<ContainerNet>>,
}

/// A plan's fault kind in the one fault model. A network partition cuts
/// `target` off from every other member of its network, both ways: the
/// grudge over `members` (the lab's services, or the run's containers;
/// empty when there is neither, which the loader rules out).
pub(crate) fn fault_of(kind: &FaultKind, target: Option<&str>, members: &[String]) -> Fault {
    match kind {
        FaultKind::Partition {
            mode: PartitionMode::Network,
        } => {
            let names = members;
            let n = names.len();
            let grudge = match names.iter().position(|s| Some(s.as_str()) == target) {
                Some(i) => {
                    Grudge::isolate_components(n, &[vec![i], (0..n).filter(|&j| j != i).collect()])
                }
                None => Grudge::new(n),
            };
            Fault::Partition {
                shape: PartitionShape::One,
                grudge,
            }
        }
        FaultKind::Kill => Fault::Kill,
        FaultKind::PowerCut => Fault::PowerCut,
        FaultKind::Pause => Fault::Pause,
        FaultKind::Restart => Fault::GracefulRestart,
        FaultKind::Partition {
            mode: PartitionMode::Refuse,
        } => Fault::Refuse,
        FaultKind::Partition {
            mode: PartitionMode::Blackhole,
        } => Fault::Blackhole,
        FaultKind::Latency { latency, jitter } => Fault::Latency {
            latency: *latency,
            jitter: *jitter,
        },
        FaultKind::Bandwidth { bytes_per_sec } => Fault::Bandwidth {
            bytes_per_sec: *bytes_per_sec,
        },
        FaultKind::Reset => Fault::Reset,
        FaultKind::Timeout { after } => Fault::Timeout { after: *after },
        FaultKind::Clock { offset_s } => Fault::Clock {
            offset_s: *offset_s,
        },
        FaultKind::Link { between, shape } => Fault::Link {
            between: between.clone(),
            latency: shape.latency,
            jitter: shape.jitter,
            loss_percent: shape.loss_percent,
            bandwidth_bits_per_sec: shape.bandwidth_bits_per_sec,
        },
        FaultKind::LinkDown { host } => Fault::LinkDown { host: host.clone() },
        FaultKind::Disconnect => Fault::Disconnect,
    }
}

/// The plan's services as the fault model's [`Processes`].
pub(crate) struct Services {
    pub plan: Arc<Plan>,
    pub supervisor: Arc<Mutex<Supervisor>>,
    pub caused_restarts: Arc<std::sync::Mutex<BTreeMap<String, u32>>>,
}

impl Processes for Services {
    fn kill<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        Box::pin(async move {
            let sup = self.supervisor.lock().await;
            // One lock, one pass: a power cut kills everything at once.
            targets
                .iter()
                .filter(|t| sup.signal(t, libc::SIGKILL))
                .cloned()
                .collect()
        })
    }

    fn power_cut<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        Box::pin(async move {
            let sup = self.supervisor.lock().await;
            targets
                .iter()
                .filter(|t| sup.power_off(t))
                .cloned()
                .collect()
        })
    }

    fn freeze<'a>(&'a self, targets: &'a [String], pause: bool) -> VerbFuture<'a, ()> {
        Box::pin(async move {
            let sup = self.supervisor.lock().await;
            let signal = if pause { libc::SIGSTOP } else { libc::SIGCONT };
            for t in targets {
                sup.signal(t, signal);
            }
        })
    }

    fn stop<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut sup = self.supervisor.lock().await;
            let running: Vec<String> = targets
                .iter()
                .filter(|t| sup.is_running(t))
                .cloned()
                .collect();
            sup.stop_many(&running).await;
            running
        })
    }

    /// Starts services again in dependency order and counts the restarts.
    fn start<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        Box::pin(async move {
            let order = gauntlet_plan::dependency_order(&self.plan, targets);
            let mut sup = self.supervisor.lock().await;
            let mut errors = Vec::new();
            for name in order.iter().filter(|n| targets.contains(n)) {
                // Let the keeper see the exit first.
                for _ in 0..100 {
                    if !sup.is_running(name) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                match sup.start(name).await {
                    Ok(_) => {
                        *self
                            .caused_restarts
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(name.clone())
                            .or_default() += 1;
                    }
                    Err(e) => errors.push(e),
                }
            }
            errors
        })
    }
}

/// The services' proxies as a fault executor: network faults switch the
/// target's proxy to a toxic, the heal switches it back.
pub(crate) struct Proxies(pub Arc<BTreeMap<String, Proxy>>);

fn toxic(fault: &Fault) -> Option<Toxic> {
    Some(match fault {
        Fault::Refuse => Toxic::Refuse,
        Fault::Blackhole => Toxic::Blackhole,
        Fault::Latency { latency, jitter } => Toxic::Latency {
            latency: *latency,
            jitter: *jitter,
        },
        Fault::Bandwidth { bytes_per_sec } => Toxic::Bandwidth {
            bytes_per_sec: *bytes_per_sec,
        },
        Fault::Reset => Toxic::Reset,
        Fault::Timeout { after } => Toxic::Timeout { after: *after },
        _ => return None,
    })
}

impl Proxies {
    fn switch(&self, targets: &[String], toxic: Option<Toxic>) -> Result<Value, FaultError> {
        let target = targets.first().cloned().unwrap_or_default();
        let proxy = self
            .0
            .get(&target)
            .ok_or_else(|| FaultError::failed(format!("no proxy in front of {target}")))?;
        proxy.set(toxic);
        Ok(json!([target]))
    }
}

impl FaultExecutor for Proxies {
    fn handles(&self, fault: &Fault) -> bool {
        toxic(fault).is_some()
    }

    fn inject<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move { self.switch(targets, toxic(fault)) })
    }

    fn heal<'a>(&'a self, _fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move { self.switch(targets, None) })
    }
}

/// Follows the schedule until it ends or STOP: each injection at its due
/// time after the soak's start, held for its duration, then healed.
/// Returns the fault windows, read from the fault log.
pub(crate) async fn run_faults(
    cx: FaultContext,
    specs: Vec<FaultSpec>,
    mut schedule: impl Schedule<Step = Injection>,
    mut stop: watch::Receiver<bool>,
) -> Vec<FaultWindow> {
    let signals = Signals::new(Services {
        plan: cx.plan.clone(),
        supervisor: cx.supervisor.clone(),
        caused_restarts: cx.caused_restarts.clone(),
    });
    let proxies = Proxies(cx.proxies.clone());
    let mut executors: Vec<&dyn FaultExecutor> = vec![&signals, &proxies];
    // A partition's network: the containers' for a docker service, the
    // lab's otherwise (the loader keeps a plan to one of the two).
    if let Some(containers) = &cx.containers {
        executors.push(containers.as_ref());
    }
    if let Some(network) = &cx.network {
        executors.push(network.as_ref());
    }
    if let Some(clocks) = &cx.clocks {
        executors.push(clocks.as_ref());
    }
    if let Some(links) = &cx.links {
        executors.push(links.as_ref());
    }
    let now_ms = || cx.started.elapsed().as_millis() as u64;
    while let Some(due) = schedule.next_due() {
        tokio::select! {
            _ = tokio::time::sleep_until((cx.started + due).into()) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let Some(injection) = schedule.take_step() else {
            break;
        };
        let spec = &specs[injection.fault];
        let members = match (&cx.containers, &cx.network) {
            (Some(c), _) => c.names(),
            (None, Some(n)) => n.names(),
            (None, None) => Vec::new(),
        };
        let fault = fault_of(&spec.kind, spec.target.as_deref(), &members);
        // What the log names (the plan's target, or none: all services),
        // and what the executor acts on.
        let named: Vec<String> = spec.target.iter().cloned().collect();
        let targets: Vec<String> = match &spec.target {
            Some(t) => vec![t.clone()],
            None => cx.plan.services.iter().map(|s| s.name.clone()).collect(),
        };
        cx.progress.note(&format!(
            "fault {} ({}{}) for {:.1} s",
            spec.name,
            spec.kind.word(),
            spec.target
                .as_ref()
                .map(|t| format!(" on {t}"))
                .unwrap_or_default(),
            injection.duration_ms as f64 / 1000.0
        ));
        let executor = match executor_for(&executors, &fault) {
            Ok(e) => e,
            Err(e) => {
                cx.progress.note(&format!("fault {}: {e}", spec.name));
                continue;
            }
        };
        // The window opens when the injection starts (a graceful restart
        // takes its whole stop and start), so the invariants see the
        // fault's effect inside it; it is logged once the executor has
        // answered, with what it did (the rules it set, the names it hit)
        // as the record's value. A failed injection is told, and its
        // window stays.
        let start_ms = now_ms();
        let done = outcome(&cx, spec, executor.inject(&fault, &targets).await);
        let value = if done.is_null() { json!(targets) } else { done };
        let id = cx.log.started(start_ms, &spec.name, &fault, &named, value);
        let value = if fault.heal_f().is_some() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(injection.duration_ms.max(0) as u64)) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            outcome(&cx, spec, executor.heal(&fault, &targets).await)
        } else {
            // Over once injected (a graceful restart): its window closes now.
            Value::Null
        };
        cx.log.healed(now_ms(), id, &fault, value);
        if *stop.borrow() {
            break;
        }
    }
    cx.log
        .faults()
        .into_iter()
        .map(|f| FaultWindow {
            fault: f.name,
            kind: f.kind.to_owned(),
            target: f.targets.first().cloned(),
            start_ms: f.start_ms as i64,
            end_ms: f.end_ms.unwrap_or(f.start_ms) as i64,
        })
        .collect()
}

/// What the log records of an executor's answer; a failure is also told
/// to the person watching.
fn outcome(cx: &FaultContext, spec: &FaultSpec, done: Result<Value, FaultError>) -> Value {
    match done {
        Ok(v) => v,
        Err(e) => {
            cx.progress.note(&format!("fault {}: {e}", spec.name));
            json!({ "error": e.to_string() })
        }
    }
}
