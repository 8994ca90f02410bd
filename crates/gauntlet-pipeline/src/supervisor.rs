//! Services: started in their own process groups (so a service is its
//! whole group, and nothing it forks outlives the run), kept alive by a
//! keeper task per service (restart policy, exits, OOM kills), sampled by a
//! sampler task (RSS and CPU of the group), stopped with SIGTERM and then
//! SIGKILL after the service's `stop_timeout`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet_events::{Event, Events};
use gauntlet_node::{Backend, NodeControl, NodeSpec, Usage};
use gauntlet_observe::{
    cpu_percent_between, looks_like_oom, oom_kill_count, usage_of, wait_healthy,
};
use gauntlet_plan::{Plan, Readiness, RestartPolicy, Service, dependency_order, stop_order};
use gauntlet_store::{AttemptId, Measurement, now_ms};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::command::lines_tail;

/// How often the sampler reads a service's process group.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_millis(500);

/// Measurements: each one a `sample` event as it is taken (a live view
/// subscribes), and kept for the store, which the driver writes in
/// batches (one transaction per stage or per 10 s of a soak, not one per
/// sample), tagged with the stage attempt running when it was taken.
#[derive(Clone, Default)]
pub(crate) struct Samples {
    buffer: Arc<Mutex<Vec<Measurement>>>,
    attempt: Arc<AtomicI64>,
    events: Events,
    /// The run's start: event times count from it.
    started: Option<Instant>,
}

impl Samples {
    /// Samples that are also told on `events`.
    pub fn new(events: Events) -> Samples {
        Samples {
            events,
            started: Some(Instant::now()),
            ..Samples::default()
        }
    }

    pub fn set_attempt(&self, attempt: Option<AttemptId>) {
        self.attempt
            .store(attempt.map_or(0, |a| a.0), Ordering::Relaxed);
    }

    pub fn push(&self, kind: &str, subject: &str, value: f64, unit: &str) {
        let a = self.attempt.load(Ordering::Relaxed);
        let m = Measurement {
            stage: (a != 0).then_some(AttemptId(a)),
            time: now_ms(),
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            value,
            unit: unit.to_owned(),
        };
        lock(&self.buffer).push(m);
        if self.events.wants_streams() {
            self.events.emit(Event::Sample {
                t_ms: self.started.map_or(0, |s| s.elapsed().as_millis() as u64),
                kind: kind.to_owned(),
                subject: subject.to_owned(),
                value,
                unit: unit.to_owned(),
            });
        }
    }

    pub fn drain(&self) -> Vec<Measurement> {
        std::mem::take(&mut *lock(&self.buffer))
    }
}

/// How long a one-shot job (`Readiness::Completed`) may run before its
/// dependents stop waiting, unless its health check's timeout says.
const JOB_TIMEOUT: Duration = Duration::from_secs(600);

/// The measurement kind of a service process start (value: its pid).
pub const STARTED: &str = "started";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicked sampler must not take the run's bookkeeping with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resource figures of one service over a window (a stage).
#[derive(Debug, Clone, Default)]
pub(crate) struct Window {
    pub rss_first: Option<u64>,
    pub rss_max: Option<u64>,
    pub rss_last: Option<u64>,
    pub cpu_max: Option<f64>,
    cpu_sum: f64,
    cpu_count: u32,
}

impl Window {
    fn add_rss(&mut self, rss: u64) {
        self.rss_first.get_or_insert(rss);
        self.rss_max = Some(self.rss_max.map_or(rss, |m| m.max(rss)));
        self.rss_last = Some(rss);
    }

    fn add_cpu(&mut self, cpu: f64) {
        self.cpu_max = Some(self.cpu_max.map_or(cpu, |m| m.max(cpu)));
        self.cpu_sum += cpu;
        self.cpu_count += 1;
    }

    pub fn cpu_mean(&self) -> Option<f64> {
        (self.cpu_count > 0).then(|| self.cpu_sum / f64::from(self.cpu_count))
    }
}

/// One life of a service's node: its pid (the process, or the process
/// standing for it) and the control faults and samplers act through.
#[derive(Debug, Clone)]
pub(crate) struct Life {
    pub pid: i32,
    pub control: Arc<dyn NodeControl>,
}

/// What the keeper and sampler know about a service, shared with the driver.
#[derive(Debug, Default)]
pub(crate) struct ServiceState {
    /// The running node; `None` while it is down.
    pub life: Option<Life>,
    pub restarts: u32,
    pub oom_kills: u32,
    /// Set when the service is down for good (it exited and will not be
    /// restarted, or could not be spawned): why.
    pub gone: Option<String>,
    pub window: Window,
    /// stderr lines of the last process that exited.
    pub last_stderr: Vec<String>,
    /// A fault SIGKILLed it: its exit is expected, not a crash.
    pub killed_by_fault: bool,
    /// Its program could not be started at all (not found, not
    /// executable): why, naming the service. Not a verdict on the service
    /// but a run that cannot be carried out.
    pub cannot_start: Option<String>,
    /// It ended on its own for good: whether with exit status 0 (what a
    /// one-shot job's dependents wait for).
    pub exited_ok: Option<bool>,
}

/// The running node of each service, for checks run inside one: a
/// handle that follows restarts, cheap to clone into a task.
#[derive(Clone, Default)]
pub(crate) struct Nodes(Arc<Mutex<BTreeMap<String, Arc<Mutex<ServiceState>>>>>);

impl Nodes {
    /// The control of `name`'s running node; `None` while it is down.
    pub fn control(&self, name: &str) -> Option<Arc<dyn NodeControl>> {
        let state = lock(&self.0).get(name)?.clone();
        lock(&state).life.as_ref().map(|l| l.control.clone())
    }
}

struct Handle {
    state: Arc<Mutex<ServiceState>>,
    stop: Option<oneshot::Sender<()>>,
    keeper: JoinHandle<()>,
    sampler: JoinHandle<()>,
    stop_timeout: Duration,
}

/// A service that became healthy.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub pid: Option<i32>,
    pub time_to_healthy: Duration,
    pub checks: u32,
    pub latencies: Vec<Duration>,
}

/// Starts, watches and stops the plan's services.
pub(crate) struct Supervisor {
    plan: Arc<Plan>,
    log_dir: PathBuf,
    seed: u64,
    samples: Samples,
    services: BTreeMap<String, Handle>,
    starts: u64,
    sample_interval: Duration,
    /// Where services run (one place to swap in another backend).
    backend: Arc<dyn Backend>,
    /// Where services with a `host` run: the plan's lab hosts.
    hosts: BTreeMap<String, Arc<dyn Backend>>,
    /// Where `docker` services run, by service name: their containers.
    containers: BTreeMap<String, Arc<dyn Backend>>,
    /// The offset files of services clock faults name (a soak's).
    clocks: Option<Arc<crate::clock::Clocks>>,
    nodes: Nodes,
}

impl Supervisor {
    pub fn new(
        plan: Arc<Plan>,
        log_dir: PathBuf,
        seed: u64,
        samples: Samples,
        backend: Arc<dyn Backend>,
        hosts: BTreeMap<String, Arc<dyn Backend>>,
    ) -> Supervisor {
        Supervisor {
            plan,
            log_dir,
            seed,
            samples,
            services: BTreeMap::new(),
            starts: 0,
            sample_interval: SAMPLE_INTERVAL,
            backend,
            hosts,
            containers: BTreeMap::new(),
            clocks: None,
            nodes: Nodes::default(),
        }
    }

    /// Each service's running node, as it is at any later moment.
    pub fn nodes(&self) -> Nodes {
        self.nodes.clone()
    }

    /// Runs the plan's `docker` services in these containers' backends
    /// (by service name).
    pub fn set_containers(&mut self, containers: BTreeMap<String, Arc<dyn Backend>>) {
        self.containers = containers;
    }

    /// Runs services with a `host` on these backends, by host name (a
    /// fleet's nodes, reached once the loop's setup has connected them).
    pub fn set_hosts(&mut self, hosts: BTreeMap<String, Arc<dyn Backend>>) {
        self.hosts = hosts;
    }

    /// Starts the services clock faults name under libfaketime, reading
    /// their offsets from `clocks`.
    pub fn set_clocks(&mut self, clocks: Arc<crate::clock::Clocks>) {
        self.clocks = Some(clocks);
    }

    /// How often services started from now on are sampled (a soak samples
    /// at its observer's pace, to keep its own cost flat for hours).
    pub fn set_sample_interval(&mut self, every: Duration) {
        self.sample_interval = every.max(Duration::from_millis(100));
    }

    fn service(&self, name: &str) -> &Service {
        self.plan
            .services
            .iter()
            .find(|s| s.name == name)
            .expect("stage service names are checked when the plan loads")
    }

    pub fn is_running(&self, name: &str) -> bool {
        self.services
            .get(name)
            .is_some_and(|h| lock(&h.state).gone.is_none())
    }

    /// Running services, in dependency order of the plan.
    pub fn running(&self) -> Vec<String> {
        self.plan
            .services
            .iter()
            .map(|s| s.name.clone())
            .filter(|n| self.is_running(n))
            .collect()
    }

    /// Starts every service of the plan that is not running, in dependency
    /// order (each healthy before the next), telling `starting` first;
    /// returns the whole order, or the service that would not start and why.
    pub async fn start_stopped(
        &mut self,
        starting: impl Fn(&str),
    ) -> Result<Vec<String>, (String, String)> {
        let names: Vec<String> = self.plan.services.iter().map(|s| s.name.clone()).collect();
        let order = dependency_order(&self.plan, &names);
        for name in &order {
            if self.is_running(name) {
                continue;
            }
            starting(name);
            if let Err(why) = self.start(name).await {
                return Err((name.clone(), why));
            }
        }
        Ok(order)
    }

    /// Why the service's program could not be started, when that is why
    /// its last start failed (see [`ServiceState::cannot_start`]).
    pub fn cannot_start(&self, name: &str) -> Option<String> {
        self.services
            .get(name)
            .and_then(|h| lock(&h.state).cannot_start.clone())
    }

    pub fn state(&self, name: &str) -> Option<Arc<Mutex<ServiceState>>> {
        self.services.get(name).map(|h| h.state.clone())
    }

    /// Starts the window of every running service afresh (a new stage).
    pub fn reset_windows(&self) {
        for h in self.services.values() {
            lock(&h.state).window = Window::default();
        }
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.log_dir.join(format!("{name}.log"))
    }

    /// The last lines a service wrote (stderr of its last process and its
    /// log), for a stage's failure message.
    pub fn last_lines(&self, name: &str, n: usize) -> Vec<String> {
        let mut lines = self
            .services
            .get(name)
            .map(|h| lock(&h.state).last_stderr.clone())
            .unwrap_or_default();
        if lines.is_empty() {
            lines = lines_tail(&self.log_path(name), n);
        }
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }

    /// Starts a service and waits until its health check passes (or, with
    /// no health check, until it has stayed up for a moment).
    pub async fn start(&mut self, name: &str) -> Result<Started, String> {
        if self.is_running(name) {
            return Err(format!("{name} is already running"));
        }
        self.forget(name).await;
        let service = self.service(name).clone();
        let mut spec = crate::command::node_spec(&service.run);
        self.fill_data_dir(name, &mut spec)?;
        spec.stderr_log = Some(self.log_path(name));
        spec.stderr_tail = 40;
        if let Some(clocks) = &self.clocks {
            spec.env.extend(
                clocks
                    .env_for(name)
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into())),
            );
        }

        let state = Arc::new(Mutex::new(ServiceState::default()));
        let (stop_tx, stop_rx) = oneshot::channel();
        // A service on a lab host or in a container runs there or not at
        // all: never quietly on this machine instead.
        let unplaced = |why: String| Arc::new(Unplaced(why)) as Arc<dyn Backend>;
        let backend = match (&service.container, &service.host) {
            (Some(_), _) => self.containers.get(name).cloned().unwrap_or_else(|| {
                unplaced("it runs in a container, and this run has no Docker Engine".into())
            }),
            (None, None) => self.backend.clone(),
            (None, Some(host)) => self.hosts.get(host).cloned().unwrap_or_else(|| {
                unplaced(format!(
                    "it runs on lab host {host:?}, and this run has no such host"
                ))
            }),
        };
        let keeper = tokio::spawn(keep(
            backend,
            service.clone(),
            spec,
            self.log_path(name),
            state.clone(),
            stop_rx,
            self.samples.clone(),
        ));
        let sampler = tokio::spawn(sample(
            name.to_owned(),
            state.clone(),
            self.samples.clone(),
            self.sample_interval,
        ));
        lock(&self.nodes.0).insert(name.to_owned(), state.clone());
        self.services.insert(
            name.to_owned(),
            Handle {
                state: state.clone(),
                stop: Some(stop_tx),
                keeper,
                sampler,
                stop_timeout: service.stop_timeout,
            },
        );
        self.starts += 1;
        let began = Instant::now();
        let seed = self.seed.wrapping_add(self.starts);
        let alive = {
            let state = state.clone();
            move || lock(&state).gone.is_none()
        };
        let outcome = match (service.ready, &service.health) {
            (Readiness::Completed, _) => {
                // A one-shot job: its dependents wait for its end, as long
                // as its health check's timeout says, else ten minutes.
                let bound = service.health.as_ref().map_or(JOB_TIMEOUT, |h| h.timeout);
                while alive() {
                    if began.elapsed() > bound {
                        return Err(format!(
                            "{name} did not complete in {:.0} s, and services wait for it to",
                            bound.as_secs_f64()
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let (ok, gone) = {
                    let s = lock(&state);
                    (s.exited_ok, s.gone.clone())
                };
                return match (ok, gone) {
                    (Some(true), _) => Ok(Started {
                        pid: None,
                        time_to_healthy: began.elapsed(),
                        checks: 0,
                        latencies: Vec::new(),
                    }),
                    (_, gone) => Err(format!(
                        "{name} did not complete successfully, and services wait for it to: {}",
                        gone.unwrap_or_else(|| "it ended".to_owned())
                    )),
                };
            }
            (Readiness::Healthy, Some(check)) => {
                let nodes = self.nodes.clone();
                let inside = || nodes.control(name);
                match wait_healthy(check, seed, alive, inside).await {
                    Ok(h) => Ok((h.attempts, h.latencies)),
                    Err(e) => Err(format!(
                        "{name} did not become healthy in {:.1} s ({} checks; last: {})",
                        e.elapsed.as_secs_f64(),
                        e.attempts,
                        e.last_detail
                    )),
                }
            }
            // Nothing to ask (or nobody waits for the answer: a service
            // its dependents need only started): it counts as up if it is
            // still running after a short grace period.
            (Readiness::Healthy | Readiness::Started, _) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if alive() {
                    Ok((0, Vec::new()))
                } else {
                    Err(format!("{name} exited right after it started"))
                }
            }
        };
        let (gone, cannot_start) = {
            let s = lock(&state);
            (s.gone.clone(), s.cannot_start.clone())
        };
        if let Some(why) = cannot_start {
            return Err(why);
        }
        match (outcome, gone) {
            (Ok((checks, latencies)), None) => {
                for l in &latencies {
                    self.samples.push("health_latency", name, ms(*l), "ms");
                }
                self.sample_now(name);
                Ok(Started {
                    pid: lock(&state).life.as_ref().map(|l| l.pid),
                    time_to_healthy: began.elapsed(),
                    checks,
                    latencies,
                })
            }
            (Ok(_), Some(why)) | (Err(_), Some(why)) => Err(format!("{name} is down: {why}")),
            (Err(e), None) => Err(e),
        }
    }

    /// The data directory of `name`: `<run dir>/data/<name>`, beside
    /// its log directory.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        data_root(&self.log_dir).join(name)
    }

    /// Fills in `${data_dir}` (the resolved plan's placeholder) in the
    /// program, arguments and environment, after making the directory.
    /// Kept across restarts, so a killed node comes back with its data.
    fn fill_data_dir(&self, name: &str, spec: &mut NodeSpec) -> Result<(), String> {
        let placeholder = gauntlet_plan::DATA_DIR_PLACEHOLDER;
        let uses = |s: &std::ffi::OsStr| s.to_string_lossy().contains(placeholder);
        if !(uses(spec.program.as_os_str())
            || spec.args.iter().any(|a| uses(a))
            || spec.env.iter().any(|(_, v)| uses(v)))
        {
            return Ok(());
        }
        let dir = self.data_dir(name);
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "{name}: cannot make its data directory {}: {e}",
                dir.display()
            )
        })?;
        let path = dir.to_string_lossy().into_owned();
        let fill = |s: &mut std::ffi::OsString| {
            if uses(s) {
                *s = s.to_string_lossy().replace(placeholder, &path).into();
            }
        };
        let mut program = std::mem::take(&mut spec.program).into_os_string();
        fill(&mut program);
        spec.program = program.into();
        spec.args.iter_mut().for_each(fill);
        spec.env.iter_mut().for_each(|(_, v)| fill(v));
        Ok(())
    }

    /// Takes an RSS sample right now (besides the sampler's ticks), so
    /// even a stage shorter than [`SAMPLE_INTERVAL`] has a figure.
    pub fn sample_now(&self, name: &str) {
        let Some(h) = self.services.get(name) else {
            return;
        };
        let Some(life) = lock(&h.state).life.clone() else {
            return;
        };
        if let Some(now) = usage_of(life.control.as_ref()) {
            self.samples
                .push("rss", name, now.rss_bytes as f64, "bytes");
            lock(&h.state).window.add_rss(now.rss_bytes);
        }
    }

    /// Gives a module whose stage is failing `grace` to show whether it is
    /// dying (a service stalled in the kernel's reclaim answers nothing
    /// for a moment before the OOM killer ends it), and its keeper 2 s
    /// more to note an end it sees: figures read next (an OOM kill, a
    /// restart) then include the death that made the stage fail.
    pub async fn settle(&self, name: &str, grace: Duration) {
        let Some(h) = self.services.get(name) else {
            return;
        };
        let began = Instant::now();
        let mut ended_at = None;
        while began.elapsed() < grace + Duration::from_secs(2) {
            let Some(life) = lock(&h.state).life.clone() else {
                return;
            };
            if life.control.is_running() {
                if began.elapsed() >= grace {
                    return;
                }
            } else {
                let at = *ended_at.get_or_insert_with(Instant::now);
                if at.elapsed() >= Duration::from_secs(2) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The processes on this machine of a running service (empty where
    /// its backend runs it elsewhere).
    pub fn member_pids(&self, name: &str) -> Vec<u32> {
        self.services
            .get(name)
            .and_then(|h| lock(&h.state).life.clone())
            .map_or_else(Vec::new, |l| l.control.member_pids())
    }

    /// Sends a signal to a running service's whole node (a fault), through
    /// its backend: SIGSTOP and SIGCONT pause and resume it (a container's
    /// freezer), anything else is a signal. A SIGKILL sent here is the
    /// fault's, so the keeper does not count it as a crash or restart the
    /// service: the fault starts it again.
    pub fn signal(&self, name: &str, signal: i32) -> bool {
        let Some(h) = self.services.get(name) else {
            return false;
        };
        let life = {
            let mut s = lock(&h.state);
            let Some(life) = s.life.clone() else {
                return false;
            };
            if signal == libc::SIGKILL {
                s.killed_by_fault = true;
            }
            life
        };
        let sent = match signal {
            libc::SIGSTOP => life.control.pause(),
            libc::SIGCONT => life.control.resume(),
            other => life.control.signal(other),
        };
        sent.is_ok()
    }

    /// Cuts a running service's power (a fault): killed at once like a
    /// fault's SIGKILL, and its next start begins from what a machine
    /// keeps across a reboot (see [`NodeControl::power_off`]).
    pub fn power_off(&self, name: &str) -> bool {
        let Some(h) = self.services.get(name) else {
            return false;
        };
        let life = {
            let mut s = lock(&h.state);
            let Some(life) = s.life.clone() else {
                return false;
            };
            s.killed_by_fault = true;
            life
        };
        life.control.power_off().is_ok()
    }

    /// Stops one service (SIGTERM to its group, SIGKILL after its
    /// `stop_timeout`) and waits until its process is reaped.
    pub async fn stop(&mut self, name: &str) {
        if let Some(mut h) = self.services.remove(name) {
            if let Some(stop) = h.stop.take() {
                let _ = stop.send(());
            }
            let grace = h.stop_timeout + Duration::from_secs(5);
            if tokio::time::timeout(grace, &mut h.keeper).await.is_err() {
                // The keeper is stuck; dropping its node handle kills it whole.
                h.keeper.abort();
                let _ = (&mut h.keeper).await;
            }
            h.sampler.abort();
            let _ = h.sampler.await;
        }
    }

    /// Forgets a service that is down for good, so it can be started again.
    async fn forget(&mut self, name: &str) {
        if self.services.contains_key(name) {
            self.stop(name).await;
        }
    }

    /// Stops these services, dependents first.
    pub async fn stop_many(&mut self, names: &[String]) -> Vec<String> {
        let order = stop_order(&self.plan, names);
        let mut stopped = Vec::new();
        for name in order {
            if self.services.contains_key(&name) {
                self.stop(&name).await;
                stopped.push(name);
            }
        }
        stopped
    }

    /// Stops everything this supervisor started.
    pub async fn stop_all(&mut self) -> Vec<String> {
        let names: Vec<String> = self.services.keys().cloned().collect();
        self.stop_many(&names).await
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Keeps one service running: spawns it, copies its stdout to its log,
/// restarts it on failure if the plan says so, and stops it when told.
async fn keep(
    backend: Arc<dyn Backend>,
    service: Service,
    spec: NodeSpec,
    log: PathBuf,
    state: Arc<Mutex<ServiceState>>,
    mut stop: oneshot::Receiver<()>,
    samples: Samples,
) {
    let name = service.name.clone();
    loop {
        let oom_before = oom_kill_count();
        let mut process = match backend.spawn(&spec) {
            Ok(p) => p,
            Err(e) => {
                let why = crate::command::cannot_start(&format!("service {name}"), &e);
                let mut s = lock(&state);
                s.gone = Some(why.clone());
                s.cannot_start = Some(why);
                return;
            }
        };
        let pid = process.pid() as i32;
        // Marks where a process lifetime begins: I2 judges memory growth
        // within a lifetime, never across a restart. Before the sampler can
        // see the new life, so no sample of this process predates it.
        samples.push(STARTED, &name, f64::from(pid), "pid");
        lock(&state).life = Some(Life {
            pid,
            control: process.control(),
        });
        if let Some(stdout) = process.take_stdout() {
            tokio::spawn(crate::command::copy_capped(stdout, log.clone(), None));
        }
        drop(process.take_stdin());

        tokio::select! {
            exit = process.wait() => {
                // The backend's word when it has one (a container engine
                // records OOM kills), else this cgroup's OOM counter.
                let oom = exit.oom_killed.unwrap_or_else(|| {
                    looks_like_oom(exit.termination.signal(), false, oom_before, oom_kill_count())
                });
                let restarts = {
                    let mut s = lock(&state);
                    s.life = None;
                    s.last_stderr = exit.stderr_tail.clone();
                    if oom {
                        s.oom_kills += 1;
                    }
                    if s.killed_by_fault {
                        s.gone = Some(format!("{name} was killed by a fault"));
                        return;
                    }
                    let asks_restart = match service.restart {
                        RestartPolicy::Never => false,
                        RestartPolicy::OnFailure => !exit.success(),
                        RestartPolicy::Always => true,
                    };
                    let may_restart = asks_restart
                        && service.limits.max_restarts.is_none_or(|m| s.restarts < m);
                    if may_restart {
                        s.restarts += 1;
                        Some(s.restarts)
                    } else {
                        s.exited_ok = Some(exit.success());
                        s.gone = Some(format!(
                            "{name} exited on its own: {}{}",
                            exit.termination,
                            if oom { " (OOM kill)" } else { "" }
                        ));
                        None
                    }
                };
                let Some(restarts) = restarts else {
                    return;
                };
                samples.push("restarts", &name, f64::from(restarts), "count");
                // Back off a little, more for a service that keeps dying.
                let pause = Duration::from_millis(200 * 2u64.pow(restarts.min(5)));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = &mut stop => {
                        lock(&state).gone = Some("stopped".into());
                        return;
                    }
                }
            }
            _ = &mut stop => {
                let _ = process.terminate();
                let graceful = tokio::time::timeout(service.stop_timeout, process.wait()).await;
                if graceful.is_err() {
                    let _ = process.kill();
                    process.wait().await;
                }
                let mut s = lock(&state);
                s.life = None;
                s.gone = Some("stopped".into());
                return;
            }
        }
    }
}

/// Samples the service's processes every `every`.
async fn sample(name: String, state: Arc<Mutex<ServiceState>>, samples: Samples, every: Duration) {
    let mut last: Option<(i32, Usage, Instant)> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(life) = lock(&state).life.clone() else {
            last = None;
            continue;
        };
        // Off the runtime's threads: a look into /proc, or a backend's
        // cached figures.
        let control = life.control.clone();
        let Ok(Some(now)) = tokio::task::spawn_blocking(move || usage_of(control.as_ref())).await
        else {
            continue;
        };
        let at = Instant::now();
        samples.push("rss", &name, now.rss_bytes as f64, "bytes");
        let cpu = match &last {
            Some((p, before, t)) if *p == life.pid => {
                Some(cpu_percent_between(before, &now, at - *t))
            }
            _ => None,
        };
        if let Some(cpu) = cpu {
            samples.push("cpu", &name, cpu, "percent");
        }
        {
            let mut s = lock(&state);
            s.window.add_rss(now.rss_bytes);
            if let Some(cpu) = cpu {
                s.window.add_cpu(cpu);
            }
        }
        last = Some((life.pid, now, at));
    }
}

/// The service log directory of a run.
pub(crate) fn log_dir(artifact_dir: &Path) -> PathBuf {
    artifact_dir.join("services")
}

/// Where the services' data directories are (`<run dir>/data`), from
/// their log directory (`<run dir>/services`).
pub(crate) fn data_root(log_dir: &Path) -> PathBuf {
    log_dir.parent().unwrap_or(log_dir).join("data")
}

/// The backend of a lab host or an engine this run does not have: every
/// start fails, saying why. (The loader checks every `host` against the
/// plan's lab, and the run builds that lab and its containers, so this is
/// a guard, not a path.)
#[derive(Debug)]
struct Unplaced(String);

impl Backend for Unplaced {
    fn name(&self) -> &'static str {
        "unplaced"
    }

    fn spawn(&self, spec: &NodeSpec) -> Result<gauntlet_node::Node, gauntlet_node::NodeError> {
        Err(gauntlet_node::NodeError::Spawn {
            program: spec.program.clone(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, self.0.clone()),
        })
    }
}
