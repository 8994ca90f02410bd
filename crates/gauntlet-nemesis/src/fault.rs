//! The one fault model: every fault Gauntlet knows ([`Fault`]), the one
//! interface that carries faults out ([`FaultExecutor`]), the shared
//! executor for process faults ([`Signals`], over any [`Processes`]) and the
//! one log of what was injected and healed ([`FaultLog`]).
//!
//! A schedule — the staggered nemesis of `gauntlet test` or the planned
//! injections of `gauntlet soak`, both drawn from the run's seed — says
//! *which* fault, on *whom*, *when*. An executor says *how*: the simulated
//! network swaps its grudge, a proxy switches its toxic, [`Signals`] signals
//! processes through whatever [`Processes`] the run has (workbench nodes,
//! plan services; local processes today, namespaces, containers or SSH
//! hosts tomorrow). The [`FaultLog`] turns every injection and heal into
//! one event, from which the history's `nemesis` op, the store's fault row
//! and the invariants' fault windows are all derived.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use gauntlet_events::{Event, Events};
use gauntlet_net::Grudge;
use serde_json::{Value, json};

use crate::PartitionShape;

/// Every fault Gauntlet knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// SIGKILL the targets' processes; the heal starts them again, their
    /// memory gone (a workbench node gets a fresh `init`).
    Kill,
    /// SIGKILL every target at the same instant; the heal starts them all
    /// again (in dependency order where the run has one).
    PowerCut,
    /// SIGSTOP; the heal is SIGCONT.
    Pause,
    /// The polite restart: SIGTERM, wait for the exit (SIGKILL after the
    /// grace), start again. Over once it is done: it has no heal.
    GracefulRestart,
    /// A directional cut of the simulated network: `grudge` says which
    /// destination stops hearing which source.
    Partition {
        shape: PartitionShape,
        grudge: Grudge,
    },
    /// A cut through a service's proxy: new connections refused, open ones
    /// closed.
    Refuse,
    /// A cut through a service's proxy: connections accepted, nothing comes
    /// back.
    Blackhole,
    /// Added delay through a proxy, `latency ± jitter` (jitter drawn from
    /// the run's seed).
    Latency { latency: Duration, jitter: Duration },
    /// A bandwidth cap through a proxy.
    Bandwidth { bytes_per_sec: u64 },
    /// Every connection through a proxy reset (RST).
    Reset,
    /// Connections through a proxy cut after `after`.
    Timeout { after: Duration },
    /// The targets' clocks jump by `offset_s` seconds (negative: back);
    /// the heal puts them right.
    Clock { offset_s: i64 },
    /// A real link between two network segments gets these properties
    /// (delay ± jitter, loss in percent, a rate cap); the heal restores
    /// the link's own.
    Link {
        between: [String; 2],
        latency: Duration,
        jitter: Duration,
        loss_percent: f64,
        bandwidth_bits_per_sec: Option<u64>,
    },
    /// A host's only link goes down; the heal brings it up.
    LinkDown { host: String },
    /// The targets' containers taken off every network they are on (the
    /// engine's network disconnect: their interfaces vanish); the heal
    /// connects them again, reachable by the same names.
    Disconnect,
}

impl Fault {
    /// The fault's kind, as the store's fault rows and the soak's verdict
    /// name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::PowerCut => "power-cut",
            Fault::Pause => "pause",
            Fault::GracefulRestart => "restart",
            Fault::Partition { .. } | Fault::Refuse | Fault::Blackhole => "partition",
            Fault::Latency { .. } => "latency",
            Fault::Bandwidth { .. } => "bandwidth",
            Fault::Reset => "reset",
            Fault::Timeout { .. } => "timeout",
            Fault::Clock { .. } => "clock",
            Fault::Link { .. } => "link",
            Fault::LinkDown { .. } => "link-down",
            Fault::Disconnect => "disconnect",
        }
    }

    /// The history's `f` for the injection (Jepsen's and Maelstrom's names
    /// where they have one).
    pub fn start_f(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "start-partition",
            Fault::Clock { .. } => "bump-clock",
            other => other.kind(),
        }
    }

    /// The history's `f` for the heal, `None` for a fault that is over once
    /// injected. A killed process is *started* again (Jepsen's `:start`);
    /// "restart" means only the graceful restart.
    pub fn heal_f(&self) -> Option<&'static str> {
        Some(match self {
            Fault::Kill | Fault::PowerCut => "start",
            Fault::Pause => "resume",
            Fault::GracefulRestart => return None,
            Fault::Partition { .. } => "stop-partition",
            Fault::Clock { .. } => "reset-clock",
            Fault::Link { .. } => "restore-link",
            Fault::LinkDown { .. } => "link-up",
            Fault::Disconnect => "reconnect",
            _ => "heal",
        })
    }

    /// True for the faults [`Signals`] carries out.
    pub fn is_process_fault(&self) -> bool {
        matches!(
            self,
            Fault::Kill | Fault::PowerCut | Fault::Pause | Fault::GracefulRestart
        )
    }
}

/// Why a fault could not be carried out (in full).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// No executor of the run carries out this kind of fault.
    #[error("no executor for {kind} faults in this run")]
    NoExecutor { kind: &'static str },
    /// Some targets could not be brought back (a restart that failed).
    #[error("{}", .errors.join("; "))]
    Targets { errors: Vec<String> },
}

impl FaultError {
    /// A fault that could not be carried out, for one reason.
    pub fn failed(why: impl std::fmt::Display) -> FaultError {
        FaultError::Targets {
            errors: vec![why.to_string()],
        }
    }
}

/// A boxed future, so executors can be trait objects.
pub type FaultFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, FaultError>> + Send + 'a>>;

/// Carries out faults of some kinds on some targets. What it returns is
/// what the fault log records as the op's value (the names it hit, ...).
pub trait FaultExecutor: Send + Sync {
    /// Whether this executor carries out `fault`.
    fn handles(&self, fault: &Fault) -> bool;
    /// Injects `fault` on `targets`.
    fn inject<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a>;
    /// Heals `fault` on `targets` (nothing for a fault that has no heal).
    fn heal<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a>;
}

/// Runs `fault` through the first of `executors` that handles it.
pub fn executor_for<'a>(
    executors: &'a [&'a dyn FaultExecutor],
    fault: &Fault,
) -> Result<&'a dyn FaultExecutor, FaultError> {
    executors
        .iter()
        .copied()
        .find(|e| e.handles(fault))
        .ok_or(FaultError::NoExecutor { kind: fault.kind() })
}

/// A boxed future of the [`Processes`] verbs.
pub type VerbFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The verbs process faults need, on whatever runs the targets: workbench
/// nodes, plan services. Names are the run's node or service names.
pub trait Processes: Send + Sync {
    /// SIGKILL each target's processes at once; returns the targets that
    /// were running (and so need starting again).
    fn kill<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>>;
    /// SIGSTOP (`pause`) or SIGCONT (`!pause`) each target.
    fn freeze<'a>(&'a self, targets: &'a [String], pause: bool) -> VerbFuture<'a, ()>;
    /// Stops each target politely (SIGTERM, then SIGKILL after its grace);
    /// returns the targets that were running.
    fn stop<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>>;
    /// Starts each target again (dependency order, a fresh `init`, ...);
    /// an error per target that did not come back.
    fn start<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>>;
    /// Cuts the power of each target: what is in memory is lost, and what
    /// a machine keeps across a reboot stays (for a process, a SIGKILL;
    /// for a container, also its file system outside its volumes).
    /// Returns the targets that were running.
    fn power_cut<'a>(&'a self, targets: &'a [String]) -> VerbFuture<'a, Vec<String>> {
        self.kill(targets)
    }
}

/// The one executor of process faults (kill, power cut, pause, graceful
/// restart), whatever runs the processes: what each fault means is written
/// once, here.
pub struct Signals<P> {
    processes: P,
    /// Targets a kill or power cut took down, to start again at the heal.
    down: Mutex<Vec<String>>,
}

impl<P: Processes> Signals<P> {
    pub fn new(processes: P) -> Signals<P> {
        Signals {
            processes,
            down: Mutex::new(Vec::new()),
        }
    }

    /// The processes this executor acts on.
    pub fn processes(&self) -> &P {
        &self.processes
    }

    fn take_down(&self, targets: &[String]) -> Vec<String> {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        let (these, others): (Vec<String>, Vec<String>) =
            down.drain(..).partition(|t| targets.contains(t));
        *down = others;
        these
    }
}

fn names(targets: &[String]) -> Value {
    json!(targets)
}

fn outcome(targets: &[String], errors: Vec<String>) -> Result<Value, FaultError> {
    if errors.is_empty() {
        Ok(names(targets))
    } else {
        Err(FaultError::Targets { errors })
    }
}

impl<P: Processes> FaultExecutor for Signals<P> {
    fn handles(&self, fault: &Fault) -> bool {
        fault.is_process_fault()
    }

    fn inject<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            match fault {
                Fault::Kill | Fault::PowerCut => {
                    let killed = if *fault == Fault::PowerCut {
                        self.processes.power_cut(targets).await
                    } else {
                        self.processes.kill(targets).await
                    };
                    self.down
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(killed);
                    Ok(names(targets))
                }
                Fault::Pause => {
                    self.processes.freeze(targets, true).await;
                    Ok(names(targets))
                }
                Fault::GracefulRestart => {
                    let stopped = self.processes.stop(targets).await;
                    let errors = self.processes.start(&stopped).await;
                    outcome(targets, errors)
                }
                _ => Err(FaultError::NoExecutor { kind: fault.kind() }),
            }
        })
    }

    fn heal<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            match fault {
                Fault::Kill | Fault::PowerCut => {
                    let down = self.take_down(targets);
                    let errors = self.processes.start(&down).await;
                    outcome(targets, errors)
                }
                Fault::Pause => {
                    self.processes.freeze(targets, false).await;
                    Ok(names(targets))
                }
                Fault::GracefulRestart => Ok(Value::Null),
                _ => Err(FaultError::NoExecutor { kind: fault.kind() }),
            }
        })
    }
}

/// Which fault the log knows by this id.
pub type FaultId = u64;

/// One fault as the log saw it: injected at `start_ms`, healed at `end_ms`
/// (ms since the run's start).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedFault {
    pub id: FaultId,
    /// The plan's name for it (a soak's `[[fault]]` name), else its kind.
    pub name: String,
    pub kind: &'static str,
    pub targets: Vec<String>,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
}

/// The one record of what was injected and healed. Every entry becomes an
/// event ([`Event::FaultStarted`], [`Event::FaultHealed`]) that the
/// history, the store and the dashboard subscribe to; the invariants' fault
/// windows are read back from [`FaultLog::faults`]. Times are the caller's
/// (ms since the run's start), so the log itself is free of clocks.
#[derive(Debug)]
pub struct FaultLog {
    events: Events,
    faults: Mutex<Vec<LoggedFault>>,
}

impl FaultLog {
    pub fn new(events: Events) -> FaultLog {
        FaultLog {
            events,
            faults: Mutex::new(Vec::new()),
        }
    }

    /// Records an injection at `t_ms`; `value` is what the executor said it
    /// did (the op's value in the history).
    pub fn started(
        &self,
        t_ms: u64,
        name: &str,
        fault: &Fault,
        targets: &[String],
        value: Value,
    ) -> FaultId {
        let id = {
            let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
            let id = faults.len() as FaultId + 1;
            faults.push(LoggedFault {
                id,
                name: name.to_owned(),
                kind: fault.kind(),
                targets: targets.to_vec(),
                start_ms: t_ms,
                end_ms: None,
            });
            id
        };
        self.events.emit(Event::FaultStarted {
            t_ms,
            id,
            fault: name.to_owned(),
            kind: fault.kind().to_owned(),
            f: fault.start_f().to_owned(),
            target: target_text(targets),
            value,
        });
        id
    }

    /// Records the end of `id` at `t_ms`: its heal, or, for a fault that
    /// has none (a graceful restart), the moment it was over.
    pub fn healed(&self, t_ms: u64, id: FaultId, fault: &Fault, value: Value) {
        {
            let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = faults.iter_mut().find(|f| f.id == id) {
                f.end_ms = Some(t_ms);
            }
        }
        self.events.emit(Event::FaultHealed {
            t_ms,
            id,
            f: fault.heal_f().unwrap_or("done").to_owned(),
            value,
        });
    }

    /// Every fault so far, in the order injected.
    pub fn faults(&self) -> Vec<LoggedFault> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// How a fault row names its targets: one name, a comma list, or `all`.
fn target_text(targets: &[String]) -> String {
    if targets.is_empty() {
        "all".to_owned()
    } else {
        targets.join(",")
    }
}
