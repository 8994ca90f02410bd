//! The soak stage: users, faults and the observer for the duration, then
//! STOP. Whatever ends it (the duration, a Ctrl-C, users that never get
//! through), the journal and what was seen are written; an early end is
//! judged on them at once.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use gauntlet_history::Recorder;
use gauntlet_nemesis::FaultLog;
use gauntlet_plan::faults_in_scenario;
use gauntlet_soak::assess;
use gauntlet_soak::journal::Journal;
use gauntlet_soak::schedule::Planned;
use gauntlet_store::StageEnd;
use serde_json::json;
use tokio::sync::watch;

use super::record::{self, SoakRecord};
use super::users::{self, UserStats};
use super::{Driver, Seen, faults, observer};
use crate::driver::{INTERRUPTED, StageOutcome};
use crate::supervisor::log_dir;
use crate::{PipelineError, io_err};

impl Driver<'_> {
    /// The soak stage: users, faults and the observer until the end, a
    /// Ctrl-C, or users that never get through. Whatever ends it, the
    /// journal and what was seen are written; an early end is judged on
    /// them at once.
    pub(super) async fn soak(
        &mut self,
        attempt: u32,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<StageOutcome, PipelineError> {
        for kept in record::keep_earlier(&self.dir, attempt)? {
            self.store.add_artifact(&self.run, None, &kept, "journal")?;
        }
        let proxies = Arc::new(std::mem::take(&mut self.proxies));
        let started = Instant::now();
        // The same instant on the wall clock, for what the store keeps.
        let started_wall = gauntlet_store::now_ms();
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every client op goes into the soak's history, streamed to disk so
        // hours of users keep nothing in memory; the journal is its view.
        let history_path = self.dir.join(record::HISTORY);
        let history = Recorder::to_file(started, &history_path)
            .map_err(io_err(&history_path))?
            .observed(self.progress.events().ops());
        let stats = Arc::new(UserStats::default());
        let mut user_tasks = Vec::new();
        for id in 0..self.spec.users.count {
            user_tasks.push(tokio::spawn(users::run_user(users::UserContext {
                id,
                users: self.spec.users.clone(),
                history: history.clone(),
                stats: stats.clone(),
                stop: stop_rx.clone(),
                seed: self.seed,
            })));
        }
        let scenario_faults: Vec<_> = faults_in_scenario(&self.spec, &self.spec.scenario)
            .into_iter()
            .cloned()
            .collect();
        let duration_ms = self.spec.duration.as_millis() as i64;
        let injections = {
            let refs: Vec<_> = scenario_faults.iter().collect();
            Planned::draw(&refs, duration_ms, self.seed)
        };
        let caused_restarts = Arc::new(StdMutex::new(BTreeMap::new()));
        // The fault log tells whoever watches the run: the store (fault
        // rows, as they happen), the printer.
        let log = Arc::new(FaultLog::new(self.progress.events().clone()));
        let faults_task = tokio::spawn(faults::run_faults(
            faults::FaultContext {
                plan: self.plan.clone(),
                supervisor: self.supervisor.clone(),
                proxies: proxies.clone(),
                started,
                progress: self.progress.clone(),
                log,
                caused_restarts: caused_restarts.clone(),
                network: self.network.clone(),
                clocks: self.clocks.clone(),
                links: self.links.clone(),
                containers: self.container_net.clone(),
            },
            scenario_faults.clone(),
            injections,
            stop_rx.clone(),
        ));
        let nodes = self.supervisor.lock().await.nodes();
        let observer_task = tokio::spawn(observer::observe(
            observer::ObserverContext {
                plan: self.plan.clone(),
                supervisor: self.supervisor.clone(),
                nodes,
                samples: self.samples.clone(),
                stats: stats.clone(),
                started,
                interval: self.spec.observer.interval,
                patterns: self.spec.observer.log_patterns.clone(),
                log_dir: log_dir(&self.dir),
            },
            stop_rx.clone(),
        ));
        // Wait for the end, a Ctrl-C, or users that never get through.
        let unreachable_after = self.spec.users.unreachable_after;
        let mut interrupted = false;
        let flushed = tokio::select! {
            r = self.flush_until(started + self.spec.duration) => r,
            _ = cancel.wait_for(|c| *c) => {
                interrupted = true;
                Ok(Some(INTERRUPTED.to_owned()))
            }
            why = unreachable(stats.clone(), unreachable_after) => Ok(Some(why)),
            why = stats.program_cannot_start() => {
                self.broken = Some(why.clone());
                Ok(Some(why))
            }
        };
        // STOP: users stop, faults heal — also when the store failed above,
        // so nothing keeps writing.
        let _ = stop_tx.send(true);
        self.progress.note("STOP: users stop, faults heal");
        for t in user_tasks {
            let _ = t.await;
        }
        let windows = faults_task.await.unwrap_or_default();
        let observation = observer_task.await.ok();
        for (_, p) in proxies.iter() {
            p.set(None);
        }
        // The fault task is done: the proxies are the driver's again.
        if let Ok(map) = Arc::try_unwrap(proxies) {
            self.proxies = map;
        }
        let early = flushed?;
        let stopped_ms = started.elapsed().as_millis() as i64;
        // Every user has stopped: the history is complete, and the journal
        // is read off it.
        history.finish().map_err(io_err(&history_path))?;
        drop(history);
        let ops = gauntlet_history::read_jsonl(&history_path).map_err(|e| PipelineError::Io {
            path: history_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let journal = Journal::from_history(&ops);
        drop(ops);
        let soak_summary = json!({
            "minutes": self.spec.duration.as_secs_f64() / 60.0,
            "scenario": self.spec.scenario,
            "users": self.spec.users.count,
            "users_with_acked_writes": journal.users_with_acked_writes(),
            "user_ops_ok": stats.successes.load(Ordering::Relaxed),
            "user_ops_failed": stats.failures.load(Ordering::Relaxed),
            "last_user_error": stats.last_error(),
            "user_program_start_failures": stats.program_start_failures.load(Ordering::Relaxed),
            "user_programs_lost": stats.programs_lost.load(Ordering::Relaxed),
            "faults": windows.len(),
        });
        let seen = SoakRecord {
            attempt,
            since_wall: self.since_wall,
            started_wall,
            stopped_ms,
            stopped_early: early.clone(),
            faults: windows,
            health: observation
                .as_ref()
                .map(|o| o.health.clone())
                .unwrap_or_default(),
            service_restarts: self.service_restarts().await,
            fault_restarts: caused_restarts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            log_matches: observation.map(|o| o.log_matches),
            users: soak_summary.clone(),
        };
        for path in record::save(&self.dir, &seen, &journal)? {
            let kind = match path {
                record::HISTORY => "history",
                record::JOURNAL => "journal",
                _ => "record",
            };
            self.store.add_artifact(&self.run, None, path, kind)?;
        }
        let seen = Seen {
            record: seen,
            journal,
            restarts_before: BTreeMap::new(),
        };
        let Some(why) = early else {
            self.seen = Some(seen);
            return Ok(StageOutcome::Ended(
                StageEnd::passed().with_summary(soak_summary),
            ));
        };
        // Stopped early: no readback (after a Ctrl-C the user wants to
        // stop; unreachable users wrote nothing to read), but what was
        // recorded is judged.
        let reason = if interrupted {
            "interrupted before the readback".to_owned()
        } else {
            format!("the soak stopped early, before the readback: {why}")
        };
        let (_, verdict) =
            self.judge(&seen, assess::Readback::Skipped(&reason), &[], Some(&why))?;
        self.verdict = Some(verdict);
        self.stopped = Some(why.clone());
        Ok(if interrupted {
            StageOutcome::Interrupted(why)
        } else {
            StageOutcome::Ended(StageEnd::failed(why).with_summary(soak_summary))
        })
    }

    /// Sleeps until `end`, writing the samples to the store every 10 s so
    /// memory stays flat however long the soak is.
    async fn flush_until(&self, end: Instant) -> Result<Option<String>, PipelineError> {
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(None);
            }
            tokio::time::sleep((end - now).min(Duration::from_secs(10))).await;
            self.store
                .add_measurements(&self.run, &self.samples.drain())?;
        }
    }
}

/// Resolves when no user operation has succeeded for `after` since the
/// start: the service is unreachable, so hours of soak would prove nothing.
async fn unreachable(stats: Arc<UserStats>, after: Duration) -> String {
    tokio::time::sleep(after).await;
    loop {
        if stats.successes.load(Ordering::Relaxed) == 0 {
            return format!(
                "users could not reach the service in {:.0} s: {}",
                after.as_secs_f64(),
                stats
                    .last_error()
                    .unwrap_or_else(|| "no request succeeded".to_owned())
            );
        }
        // Reached at least once: from here on outages are faults to judge.
        std::future::pending::<()>().await;
    }
}
