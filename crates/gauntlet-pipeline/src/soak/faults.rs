//! Injecting the planned faults: each one is applied, recorded as a fault
//! window, and healed after its duration. STOP cuts a fault short and heals
//! it at once, so the calm phase starts from a whole system.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gauntlet_plan::Plan;
use gauntlet_plan::soak::{FaultKind, FaultSpec, PartitionMode};
use gauntlet_proxy::{Proxy, Toxic};
use gauntlet_soak::invariants::FaultWindow;
use gauntlet_soak::schedule::Injection;
use tokio::sync::{Mutex, watch};

use crate::progress::Progress;
use crate::supervisor::Supervisor;

pub(crate) struct FaultContext {
    pub plan: Arc<Plan>,
    pub supervisor: Arc<Mutex<Supervisor>>,
    pub proxies: Arc<BTreeMap<String, Proxy>>,
    pub started: Instant,
    pub progress: Progress,
    /// Restarts each fault caused, by service (they are explained, for I5).
    pub caused_restarts: Arc<std::sync::Mutex<BTreeMap<String, u32>>>,
}

fn toxic(kind: &FaultKind) -> Option<Toxic> {
    Some(match kind {
        FaultKind::Partition {
            mode: PartitionMode::Refuse,
        } => Toxic::Refuse,
        FaultKind::Partition {
            mode: PartitionMode::Blackhole,
        } => Toxic::Blackhole,
        FaultKind::Latency { latency, jitter } => Toxic::Latency {
            latency: *latency,
            jitter: *jitter,
        },
        FaultKind::Bandwidth { bytes_per_sec } => Toxic::Bandwidth {
            bytes_per_sec: *bytes_per_sec,
        },
        FaultKind::Reset => Toxic::Reset,
        FaultKind::Timeout { after } => Toxic::Timeout { after: *after },
        _ => return None,
    })
}

/// Runs the schedule until it ends or STOP; returns the fault windows.
pub(crate) async fn run_faults(
    cx: FaultContext,
    specs: Vec<FaultSpec>,
    injections: Vec<Injection>,
    mut stop: watch::Receiver<bool>,
) -> Vec<FaultWindow> {
    let mut windows = Vec::new();
    for injection in injections {
        let at = cx.started + Duration::from_millis(injection.at_ms.max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let spec = &specs[injection.fault];
        let start_ms = cx.started.elapsed().as_millis() as i64;
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
        let healed = inject(
            &cx,
            spec,
            Duration::from_millis(injection.duration_ms as u64),
            &mut stop,
        )
        .await;
        let end_ms = cx.started.elapsed().as_millis() as i64;
        if let Err(e) = &healed {
            cx.progress.note(&format!("fault {}: {e}", spec.name));
        }
        windows.push(FaultWindow {
            fault: spec.name.clone(),
            kind: spec.kind.word().to_owned(),
            target: spec.target.clone(),
            start_ms,
            end_ms,
        });
        if *stop.borrow() {
            break;
        }
    }
    windows
}

/// Applies one fault, waits its duration (or STOP), heals it.
async fn inject(
    cx: &FaultContext,
    spec: &FaultSpec,
    duration: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let hold = async {
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    };
    let targets: Vec<String> = match &spec.target {
        Some(t) => vec![t.clone()],
        None => cx.plan.services.iter().map(|s| s.name.clone()).collect(),
    };
    if let Some(toxic) = toxic(&spec.kind) {
        let target = targets.first().cloned().unwrap_or_default();
        let proxy = cx
            .proxies
            .get(&target)
            .ok_or_else(|| format!("no proxy in front of {target}"))?;
        proxy.set(Some(toxic));
        hold.await;
        proxy.set(None);
        return Ok(());
    }
    match spec.kind {
        FaultKind::Pause => {
            let sup = cx.supervisor.lock().await;
            for t in &targets {
                sup.signal(t, libc::SIGSTOP);
            }
            drop(sup);
            hold.await;
            let sup = cx.supervisor.lock().await;
            for t in &targets {
                sup.signal(t, libc::SIGCONT);
            }
            Ok(())
        }
        FaultKind::Kill | FaultKind::PowerCut => {
            let killed: Vec<String> = {
                let sup = cx.supervisor.lock().await;
                // A power cut kills everything at the same instant.
                targets
                    .iter()
                    .filter(|t| sup.signal(t, libc::SIGKILL))
                    .cloned()
                    .collect()
            };
            hold.await;
            restart(cx, &killed).await
        }
        FaultKind::Restart => {
            let running: Vec<String> = {
                let mut sup = cx.supervisor.lock().await;
                let running: Vec<String> = targets
                    .iter()
                    .filter(|t| sup.is_running(t))
                    .cloned()
                    .collect();
                sup.stop_many(&running).await;
                running
            };
            restart(cx, &running).await
        }
        _ => Ok(()),
    }
}

/// Starts services again in dependency order and counts the restarts.
async fn restart(cx: &FaultContext, names: &[String]) -> Result<(), String> {
    let order = gauntlet_plan::dependency_order(&cx.plan, names);
    let mut sup = cx.supervisor.lock().await;
    let mut errors = Vec::new();
    for name in order.iter().filter(|n| names.contains(n)) {
        // Let the keeper see the exit first.
        for _ in 0..100 {
            if !sup.is_running(name) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match sup.start(name).await {
            Ok(_) => {
                *cx.caused_restarts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name.clone())
                    .or_default() += 1;
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
