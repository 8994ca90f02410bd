//! `[[notify]]`: the run's events told to URLs and commands.
//!
//! The [`Notifier`] is one more subscriber of the run's events. It turns
//! the events a plan's `[[notify]]` entries ask for into payloads and
//! queues them to a thread of its own, which delivers them one at a time,
//! in order: a `POST` of the JSON payload, or a command with the payload
//! on its stdin, each within its entry's timeout. A delivery that fails is
//! a warning on the run's events (source `notify`) and nothing else: it
//! never changes a stage, a verdict or an exit code. The driver flushes
//! the events after `run-ended`, and the notifier's flush waits until the
//! queue is delivered, bounded by the timeouts of what is left in it.
//!
//! A bearer token is read from its variable when a request is made and
//! goes only into that request's header; URLs are logged without their
//! query string.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gauntlet_check::Validity;
use gauntlet_events::{Event, Events, StageOutcome, Subscriber};
use gauntlet_node::{LocalBackend, NodeError, run_to_end};
use gauntlet_plan::{Notify, NotifyEvent, NotifyTarget, Plan, format_duration};
use serde_json::{Map, Value, json};

use crate::RunContext;

/// What a delivery may take beyond its entry's timeout: a command killed
/// at its timeout is reaped and its pipes closed.
const SLACK: Duration = Duration::from_secs(2);

/// The longest summary line, in characters.
const SUMMARY_CHARS: usize = 300;

/// `context` with a notifier of `plan`'s `[[notify]]` entries among its
/// subscribers (unchanged when the plan has none). Failures are told on
/// `context.events` as it is, never to the notifier itself.
pub(crate) fn attach(plan: &Plan, context: RunContext) -> RunContext {
    attach_entries(&plan.name, &plan.notify, context)
}

/// [`attach`] for what is not a plan (a fleet loop): its name and its
/// `[[notify]]` entries.
pub(crate) fn attach_entries(name: &str, notify: &[Notify], context: RunContext) -> RunContext {
    if notify.is_empty() {
        return context;
    }
    match Notifier::start(name, notify, context.events.clone()) {
        Ok(notifier) => RunContext {
            events: context.events.with(Arc::new(notifier)),
            ..context
        },
        Err(e) => {
            context.events.warn(
                "notify",
                format!("notify: no notifications in this run: cannot start its thread: {e}"),
            );
            context
        }
    }
}

/// The subscriber that hands `[[notify]]` deliveries to its thread.
pub(crate) struct Notifier {
    entries: Arc<[Notify]>,
    seen: Mutex<Seen>,
    queue: mpsc::Sender<Job>,
    pending: Arc<Pending>,
    /// Where failures are told (the run's events without the notifier).
    events: Events,
}

impl Notifier {
    fn start(name: &str, notify: &[Notify], events: Events) -> std::io::Result<Notifier> {
        let entries: Arc<[Notify]> = notify.to_vec().into();
        let pending = Arc::new(Pending::default());
        let (queue, jobs) = mpsc::channel();
        let worker = Worker {
            entries: entries.clone(),
            pending: pending.clone(),
            events: events.clone(),
            runtime: None,
        };
        std::thread::Builder::new()
            .name("gauntlet-notify".into())
            .spawn(move || worker.work(jobs))?;
        Ok(Notifier {
            entries,
            seen: Mutex::new(Seen::new(name.to_owned())),
            queue,
            pending,
            events,
        })
    }
}

impl Subscriber for Notifier {
    fn on_event(&self, event: &Event) {
        let (notices, run, plan) = {
            let mut seen = lock(&self.seen);
            let notices = seen.notices(event);
            (notices, seen.run.clone(), seen.plan.clone())
        };
        if notices.is_empty() {
            return;
        }
        let time = gauntlet_events::clock::rfc3339(gauntlet_store::now_ms());
        for notice in notices {
            let payload = notice.payload(&run, &plan, &time);
            for (entry, notify) in self.entries.iter().enumerate() {
                if !notify.wants(notice.event) {
                    continue;
                }
                let job = Job {
                    entry,
                    event: notice.event,
                    stage: notice.stage.clone(),
                    summary: notice.summary.clone(),
                    run: run.clone(),
                    plan: plan.clone(),
                    payload: payload.clone(),
                    budget: notify.timeout + SLACK,
                };
                self.pending.add(job.budget);
                if let Err(mpsc::SendError(job)) = self.queue.send(job) {
                    // The thread is gone (it panicked): say so, once per
                    // notification, and wait for nothing.
                    self.pending.done(job.budget);
                    self.events.warn(
                        "notify",
                        format!(
                            "notify {}: {} not delivered: its thread has stopped",
                            notify.target.describe(),
                            job.event
                        ),
                    );
                }
            }
        }
    }

    fn wants_streams(&self) -> bool {
        false
    }

    fn flush(&self) {
        let left = self.pending.wait();
        if left > 0 {
            self.events.warn(
                "notify",
                format!(
                    "notify: {left} notification{} not delivered: the run is over and their time is up",
                    if left == 1 { "" } else { "s" }
                ),
            );
        }
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("entries", &self.entries.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What is queued and not yet delivered: how many deliveries, and the
/// time they may still take (the flush's bound).
#[derive(Default)]
struct Pending {
    state: Mutex<(usize, Duration)>,
    changed: Condvar,
}

impl Pending {
    fn add(&self, budget: Duration) {
        let mut s = lock(&self.state);
        s.0 += 1;
        s.1 += budget;
    }

    fn done(&self, budget: Duration) {
        let mut s = lock(&self.state);
        s.0 = s.0.saturating_sub(1);
        s.1 = s.1.saturating_sub(budget);
        self.changed.notify_all();
    }

    /// Waits until nothing is pending, at most the time what is pending
    /// may take; returns how many are left.
    fn wait(&self) -> usize {
        let mut s = lock(&self.state);
        let deadline = Instant::now() + s.1;
        while s.0 > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        s.0
    }
}

/// One delivery: a notification to one entry.
struct Job {
    entry: usize,
    event: NotifyEvent,
    stage: Option<String>,
    summary: String,
    run: String,
    plan: String,
    payload: Value,
    budget: Duration,
}

/// The notifier's thread: delivers jobs in order, one at a time.
struct Worker {
    entries: Arc<[Notify]>,
    pending: Arc<Pending>,
    events: Events,
    /// For commands (made on the first one): they run through
    /// gauntlet-node, whose processes need a runtime.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Worker {
    fn work(mut self, jobs: mpsc::Receiver<Job>) {
        let entries = self.entries.clone();
        let agents: Vec<ureq::Agent> = entries.iter().map(agent).collect();
        for job in jobs {
            let entry = &entries[job.entry];
            let result = match &entry.target {
                NotifyTarget::Url { url, bearer_env } => {
                    post(&agents[job.entry], url, bearer_env.as_deref(), &job, entry)
                }
                NotifyTarget::Command { .. } => self.command(entry, &job),
            };
            if let Err(e) = result {
                self.events.warn(
                    "notify",
                    format!(
                        "notify {}: {} not delivered: {e}",
                        entry.target.describe(),
                        job.event
                    ),
                );
            }
            self.pending.done(job.budget);
        }
    }

    /// Runs the entry's command with the payload on stdin and the
    /// notification in its environment; killed after the timeout.
    fn command(&mut self, entry: &Notify, job: &Job) -> Result<(), DeliveryError> {
        let NotifyTarget::Command { command, cwd } = &entry.target else {
            return Ok(());
        };
        if self.runtime.is_none() {
            self.runtime = Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(DeliveryError::Runtime)?,
            );
        }
        let Some(runtime) = &self.runtime else {
            return Ok(());
        };
        let env = [
            ("GAUNTLET_EVENT", job.event.as_str().to_owned()),
            ("GAUNTLET_RUN", job.run.clone()),
            ("GAUNTLET_PLAN", job.plan.clone()),
            ("GAUNTLET_STAGE", job.stage.clone().unwrap_or_default()),
            ("GAUNTLET_SUMMARY", job.summary.clone()),
        ];
        let mut spec = crate::command::node_spec(&gauntlet_plan::Command {
            command: command.clone(),
            cwd: cwd.clone(),
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        });
        spec.stderr_tail = 8;
        let program = spec.program.display().to_string();
        let mut stdin = job.payload.to_string().into_bytes();
        stdin.push(b'\n');
        let out = runtime
            .block_on(run_to_end(
                &LocalBackend,
                &spec,
                Some(stdin),
                entry.timeout,
                0,
            ))
            .map_err(|source| DeliveryError::Start { program, source })?;
        if out.timed_out {
            return Err(DeliveryError::Killed(entry.timeout));
        }
        if !out.exit.success() {
            return Err(DeliveryError::Exit {
                termination: out.exit.termination.to_string(),
                stderr: out
                    .exit
                    .stderr_tail
                    .iter()
                    .rev()
                    .map(|l| l.trim())
                    .find(|l| !l.is_empty())
                    .map(str::to_owned),
            });
        }
        Ok(())
    }
}

/// The HTTP client of one entry: its timeout for the whole request, every
/// answer's status read as it is, straight to the URL (no proxy from the
/// environment).
fn agent(entry: &Notify) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(entry.timeout))
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(concat!("gauntlet/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// POSTs the payload; a 2xx answer is delivered.
fn post(
    agent: &ureq::Agent,
    url: &str,
    bearer_env: Option<&str>,
    job: &Job,
    entry: &Notify,
) -> Result<(), DeliveryError> {
    let mut request = agent.post(url).header("content-type", "application/json");
    if let Some(name) = bearer_env {
        let token = std::env::var(name)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| DeliveryError::NoToken(name.to_owned()))?;
        request = request.header("authorization", format!("Bearer {token}"));
    }
    match request.send(job.payload.to_string()) {
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => Err(DeliveryError::Status(answer.status())),
        Err(ureq::Error::Timeout(_)) => Err(DeliveryError::Timeout(entry.timeout)),
        Err(source) => Err(DeliveryError::Transport(source)),
    }
}

/// Why a notification was not delivered: the warning's text.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("answered {0}")]
    Status(ureq::http::StatusCode),
    #[error("no answer within {}", format_duration(*.0))]
    Timeout(Duration),
    #[error("{}", transport(.0))]
    Transport(ureq::Error),
    #[error("bearer_env {0} is not set (the request was not sent)")]
    NoToken(String),
    #[error("{program} cannot start: {source}")]
    Start { program: String, source: NodeError },
    #[error("it ran past its timeout ({}) and was killed", format_duration(*.0))]
    Killed(Duration),
    #[error("it {termination}{}", stderr.as_ref().map(|l| format!(": {l}")).unwrap_or_default())]
    Exit {
        termination: String,
        stderr: Option<String>,
    },
    #[error("no runtime to run commands on: {0}")]
    Runtime(std::io::Error),
}

/// A transport error in words that never repeat the URL (its query may
/// hold a token).
fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::BadUri(_) => "the URL is not one it can send to".to_owned(),
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "the connection failed".to_owned(),
        other => other.to_string(),
    }
}

/// What the notifier keeps of the run's events to word its notifications.
struct Seen {
    plan: String,
    run: String,
    /// The run's kind (`run`, `soak`, `test`).
    kind: String,
    /// The stage running now, with its kind.
    stage: Option<(String, String)>,
    /// The stage the run stopped at: the last that failed or was
    /// interrupted.
    stopped_at: Option<String>,
}

/// One notification, before it is addressed to the entries that want it.
#[derive(Debug, Clone, PartialEq)]
struct Notice {
    event: NotifyEvent,
    stage: Option<String>,
    summary: String,
    /// The event's own fields (`who`, `reason`; `state`, `valid`).
    extra: Map<String, Value>,
}

impl Notice {
    fn new(event: NotifyEvent, stage: Option<&str>, summary: String) -> Notice {
        Notice {
            event,
            stage: stage.map(str::to_owned),
            summary: one_line(&summary),
            extra: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: Value) -> Notice {
        self.extra.insert(key.to_owned(), value);
        self
    }

    fn payload(&self, run: &str, plan: &str, time: &str) -> Value {
        let mut payload = json!({
            "event": self.event.as_str(),
            "run": run,
            "plan": plan,
            "stage": self.stage,
            "summary": self.summary,
            "time": time,
        });
        if let Value::Object(map) = &mut payload {
            map.extend(self.extra.clone());
        }
        payload
    }
}

impl Seen {
    fn new(plan: String) -> Seen {
        Seen {
            plan,
            run: String::new(),
            kind: String::new(),
            stage: None,
            stopped_at: None,
        }
    }

    /// The notifications `event` makes (most make none).
    fn notices(&mut self, event: &Event) -> Vec<Notice> {
        match event {
            Event::RunStarted { run, kind, stages } => {
                self.run = run.clone();
                self.kind = kind.clone();
                let what = if kind == "run" {
                    "run".to_owned()
                } else {
                    format!("{kind} run")
                };
                vec![Notice::new(
                    NotifyEvent::RunStarted,
                    None,
                    format!(
                        "{what} {run} of plan {} started: {stages} stages",
                        self.plan
                    ),
                )]
            }
            Event::StageStarted { name, kind, .. } => {
                self.stage = Some((name.clone(), kind.clone()));
                if self.kind == "fleet" {
                    vec![
                        Notice::new(
                            NotifyEvent::Phase,
                            Some(name),
                            format!(
                                "loop {} of {}: {kind} phase {name} started",
                                self.run, self.plan
                            ),
                        )
                        .with("phase", json!(kind)),
                    ]
                } else {
                    Vec::new()
                }
            }
            Event::StageEnded {
                name,
                outcome,
                message,
                ..
            } => {
                let kind = self
                    .stage
                    .take()
                    .filter(|(n, _)| n == name)
                    .map(|(_, k)| k)
                    .unwrap_or_default();
                let run = &self.run;
                let why = message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                match outcome {
                    StageOutcome::Failed => {
                        self.stopped_at = Some(name.clone());
                        let mut notices = vec![Notice::new(
                            NotifyEvent::StageFailed,
                            Some(name),
                            format!("run {run}: stage {name} failed{why}"),
                        )];
                        if kind == "probe" {
                            notices.push(Notice::new(
                                NotifyEvent::SpecMismatch,
                                Some(name),
                                format!(
                                    "run {run}: probe stage {name}: the machine is not as the plan expects{why}"
                                ),
                            ));
                        }
                        notices
                    }
                    StageOutcome::Interrupted => {
                        self.stopped_at = Some(name.clone());
                        Vec::new()
                    }
                    StageOutcome::Passed if self.kind == "soak" => vec![Notice::new(
                        NotifyEvent::Checkpoint,
                        Some(name),
                        format!("soak run {run}: checkpoint {name} passed"),
                    )],
                    StageOutcome::Passed | StageOutcome::Skipped => Vec::new(),
                }
            }
            Event::RunResumed {
                how,
                stage,
                who,
                reason,
            } if how == "override" => {
                let stage_name = stage.as_deref().unwrap_or("(unnamed)");
                let by = who.as_deref().unwrap_or("someone");
                let reason_text = reason.as_deref().unwrap_or("");
                vec![
                    Notice::new(
                        NotifyEvent::Override,
                        stage.as_deref(),
                        format!(
                            "run {}: stage {stage_name} overridden by {by}: {reason_text}",
                            self.run
                        ),
                    )
                    .with("who", json!(who))
                    .with("reason", json!(reason)),
                ]
            }
            Event::RunEnded { state, valid } => {
                // A stage still running (an error ended the run) is where
                // it stopped.
                if let Some((name, _)) = self.stage.take() {
                    self.stopped_at = Some(name);
                }
                let stage = (state != "finished")
                    .then(|| self.stopped_at.clone())
                    .flatten();
                let run = &self.run;
                let summary = match (state.as_str(), &stage) {
                    ("finished", _) => format!("run {run} finished: {}", word(*valid)),
                    (state, Some(s)) => format!("run {run} {state} at stage {s}"),
                    (state, None) => format!("run {run} {state}"),
                };
                vec![
                    Notice::new(NotifyEvent::RunEnded, stage.as_deref(), summary)
                        .with("state", json!(state))
                        .with("valid", serde_json::to_value(valid).unwrap_or(Value::Null)),
                ]
            }
            _ => Vec::new(),
        }
    }
}

/// A verdict in a word.
fn word(valid: Validity) -> &'static str {
    match valid {
        Validity::Valid => "valid",
        Validity::Invalid => "invalid",
        Validity::Unknown => "unknown",
    }
}

/// `text` on one line: its lines joined, spaces squeezed, at most
/// [`SUMMARY_CHARS`] characters.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= SUMMARY_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(SUMMARY_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(kind: &str) -> Event {
        Event::RunStarted {
            run: "r1".into(),
            kind: kind.into(),
            stages: 3,
        }
    }

    fn stage(name: &str, kind: &str) -> Event {
        Event::StageStarted {
            index: 0,
            total: 3,
            name: name.into(),
            kind: kind.into(),
        }
    }

    fn ended(name: &str, outcome: StageOutcome, message: Option<&str>) -> Event {
        Event::StageEnded {
            index: 0,
            total: 3,
            name: name.into(),
            outcome,
            message: message.map(Into::into),
            verdict: None,
        }
    }

    fn events_of(seen: &mut Seen, events: &[Event]) -> Vec<Notice> {
        events.iter().flat_map(|e| seen.notices(e)).collect()
    }

    #[test]
    fn a_held_plan_run_tells_its_start_the_failure_and_where_it_held() {
        let mut seen = Seen::new("shop".into());
        let n = events_of(
            &mut seen,
            &[
                started("run"),
                stage("up", "up"),
                ended("up", StageOutcome::Passed, None),
                stage("wipe", "command"),
                ended(
                    "wipe",
                    StageOutcome::Failed,
                    Some("exited with code 1\nsecond line"),
                ),
                Event::RunEnded {
                    state: "held".into(),
                    valid: Validity::Unknown,
                },
            ],
        );
        let events: Vec<NotifyEvent> = n.iter().map(|n| n.event).collect();
        assert_eq!(
            events,
            [
                NotifyEvent::RunStarted,
                NotifyEvent::StageFailed,
                NotifyEvent::RunEnded
            ]
        );
        assert_eq!(n[0].summary, "run r1 of plan shop started: 3 stages");
        assert_eq!(n[1].stage.as_deref(), Some("wipe"));
        assert_eq!(
            n[1].summary,
            "run r1: stage wipe failed: exited with code 1 second line"
        );
        assert_eq!(n[2].summary, "run r1 held at stage wipe");
        let payload = n[2].payload("r1", "shop", "2026-01-01T00:00:00.000Z");
        assert_eq!(
            payload,
            json!({"event": "run-ended", "run": "r1", "plan": "shop", "stage": "wipe",
                   "summary": "run r1 held at stage wipe", "time": "2026-01-01T00:00:00.000Z",
                   "state": "held", "valid": "unknown"})
        );
    }

    #[test]
    fn a_failed_probe_is_a_spec_mismatch_as_well() {
        let mut seen = Seen::new("hw".into());
        let n = events_of(
            &mut seen,
            &[
                started("run"),
                stage("inventory", "probe"),
                ended("inventory", StageOutcome::Failed, Some("cpus = 2, min 8")),
            ],
        );
        assert_eq!(n[1].event, NotifyEvent::StageFailed);
        assert_eq!(n[2].event, NotifyEvent::SpecMismatch);
        assert_eq!(n[2].stage.as_deref(), Some("inventory"));
        assert!(
            n[2].summary
                .ends_with("not as the plan expects: cpus = 2, min 8")
        );
    }

    #[test]
    fn an_override_names_who_and_why_and_a_finished_run_its_verdict() {
        let mut seen = Seen::new("shop".into());
        let n = events_of(
            &mut seen,
            &[
                started("run"),
                Event::RunResumed {
                    how: "override".into(),
                    stage: Some("wipe".into()),
                    who: Some("ci-bot".into()),
                    reason: Some("known flake".into()),
                },
                Event::RunResumed {
                    how: "retry".into(),
                    stage: None,
                    who: None,
                    reason: None,
                },
                Event::RunEnded {
                    state: "finished".into(),
                    valid: Validity::Valid,
                },
            ],
        );
        assert_eq!(n.len(), 3, "a retry is no override: {n:#?}");
        let o = n[1].payload("r1", "shop", "t");
        assert_eq!(o["event"], "override");
        assert_eq!(o["stage"], "wipe");
        assert_eq!(o["who"], "ci-bot");
        assert_eq!(o["reason"], "known flake");
        assert_eq!(
            n[1].summary,
            "run r1: stage wipe overridden by ci-bot: known flake"
        );
        let e = n[2].payload("r1", "shop", "t");
        assert_eq!(e["summary"], "run r1 finished: valid");
        assert_eq!(e["stage"], Value::Null);
        assert_eq!(e["valid"], true);
        assert_eq!(e["state"], "finished");
    }

    #[test]
    fn a_soak_stage_that_passes_is_a_checkpoint_and_a_plan_stage_is_not() {
        let mut seen = Seen::new("s".into());
        let n = events_of(
            &mut seen,
            &[
                started("soak"),
                stage("up", "up"),
                ended("up", StageOutcome::Passed, None),
                stage("soak", "soak"),
                ended("soak", StageOutcome::Passed, None),
            ],
        );
        assert_eq!(n[0].summary, "soak run r1 of plan s started: 3 stages");
        assert_eq!(n[1].event, NotifyEvent::Checkpoint);
        assert_eq!(n[2].summary, "soak run r1: checkpoint soak passed");

        let mut seen = Seen::new("p".into());
        let n = events_of(
            &mut seen,
            &[
                started("run"),
                stage("up", "up"),
                ended("up", StageOutcome::Passed, None),
            ],
        );
        assert_eq!(n.len(), 1, "{n:#?}");
    }

    #[test]
    fn an_interrupted_run_says_at_which_stage() {
        let mut seen = Seen::new("p".into());
        let n = events_of(
            &mut seen,
            &[
                started("run"),
                stage("load", "command"),
                ended("load", StageOutcome::Interrupted, Some("interrupted")),
                Event::RunEnded {
                    state: "interrupted".into(),
                    valid: Validity::Unknown,
                },
            ],
        );
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].summary, "run r1 interrupted at stage load");
    }

    #[test]
    fn a_summary_is_one_bounded_line() {
        assert_eq!(one_line("a\n  b\tc\n"), "a b c");
        let long = one_line(&"x".repeat(1000));
        assert_eq!(long.chars().count(), SUMMARY_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn pending_waits_until_done_and_no_longer_than_its_budget() {
        let pending = Arc::new(Pending::default());
        assert_eq!(pending.wait(), 0, "nothing pending: no wait");
        pending.add(Duration::from_secs(5));
        let p = pending.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            p.done(Duration::from_secs(5));
        });
        assert_eq!(pending.wait(), 0);
        t.join().unwrap();

        pending.add(Duration::from_millis(100));
        let at = Instant::now();
        assert_eq!(pending.wait(), 1, "never done: given up after its budget");
        assert!(at.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_command_gets_the_payload_and_the_flush_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got.json");
        let plan = gauntlet_plan::load_str(
            &format!(
                "[[stage]]\nkind = \"command\"\ncommand = \"true\"\n[[notify]]\ncommand = \"sleep 0.2; cat > '{}'; echo \\\"$GAUNTLET_EVENT $GAUNTLET_RUN\\\" >> '{}'\"\nevents = [\"run-started\"]\n",
                out.display(),
                out.display()
            ),
            &dir.path().join("plan.toml"),
            &Default::default(),
        )
        .unwrap();
        let collect = Arc::new(gauntlet_events::Collect::default());
        let events = Events::new(vec![collect.clone() as Arc<dyn Subscriber>]);
        let notifier = Notifier::start(&plan.name, &plan.notify, events).unwrap();
        notifier.on_event(&started("run"));
        notifier.flush();
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines = text.lines();
        let payload: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(payload["event"], "run-started");
        assert_eq!(payload["run"], "r1");
        assert_eq!(payload["plan"], "plan");
        assert_eq!(lines.next(), Some("run-started r1"));
        assert!(collect.events().is_empty(), "{:?}", collect.events());
    }

    #[test]
    fn a_failed_command_is_a_warning_with_its_last_stderr_line() {
        let dir = tempfile::tempdir().unwrap();
        let plan = gauntlet_plan::load_str(
            "[[stage]]\nkind = \"command\"\ncommand = \"true\"\n[[notify]]\ncommand = \"echo first >&2; echo 'hook is down' >&2; exit 3\"\n",
            &dir.path().join("plan.toml"),
            &Default::default(),
        )
        .unwrap();
        let collect = Arc::new(gauntlet_events::Collect::default());
        let events = Events::new(vec![collect.clone() as Arc<dyn Subscriber>]);
        let notifier = Notifier::start(&plan.name, &plan.notify, events).unwrap();
        notifier.on_event(&started("run"));
        notifier.flush();
        let warnings: Vec<String> = collect
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Warning { source, text } if source == "notify" => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("run-started not delivered: it exited with code 3: hook is down"),
            "{warnings:?}"
        );
    }
}
