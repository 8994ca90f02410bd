//! Runs as they happen: one poller per watched run, shared by every
//! browser watching it, pushing over Server-Sent Events.
//!
//! A poller reads what is new in the store since its last look — the run
//! row, stages, faults, verdicts (small: read whole) and the samples after
//! its cursor (read once each) — keeps every sample of the run in memory
//! (compacted past [`KEEP_POINTS`] a series), and when anything changed
//! renders the report once, downsampled to [`LIVE_POINTS`] a series, for
//! all its watchers. A watcher that falls behind skips to the newest
//! render; a new one gets the newest render at once.
//!
//! Events: `report` (the report's HTML, with what is active now above it),
//! `logs` (the last lines of each service's log), `state` (`{"state",
//! "result"}`: the page reloads when it changes, so its actions fit).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use gauntlet_report::run::{RunReport, SeriesData, downsample};
use gauntlet_store::{Millis, Run, RunId, RunState, Store, StoreError, now_ms};
use tokio::sync::{broadcast, watch};

use crate::page::{esc, problem, store_problem};
use crate::runs_page::shown_state;
use crate::{App, MAX_WATCHERS};

/// Points a series is drawn with on a live page.
pub const LIVE_POINTS: usize = 1000;

/// Samples a poller keeps of one series before it compacts them (to half,
/// keeping each bucket's lowest and highest: the shape survives).
pub const KEEP_POINTS: usize = 400_000;

/// How often a running run is looked at.
const POLL_RUNNING: Duration = Duration::from_millis(500);
/// How often a run that is not running is (a retry may start it again).
const POLL_RESTING: Duration = Duration::from_secs(3);
/// A poller nobody has watched for this long ends.
const IDLE_END: Duration = Duration::from_secs(15);

/// Samples read per store query.
const BATCH: usize = 100_000;

/// One message to every watcher of a run.
#[derive(Debug)]
pub(crate) struct Update {
    pub event: &'static str,
    pub data: String,
}

/// The newest of each kind of update: what a new or lagging watcher gets.
#[derive(Debug, Default, Clone)]
struct Newest {
    report: Option<Arc<Update>>,
    logs: Option<Arc<Update>>,
    state: Option<Arc<Update>>,
}

impl Newest {
    fn all(&self) -> Vec<Arc<Update>> {
        [&self.state, &self.report, &self.logs]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn keep(&mut self, u: &Arc<Update>) {
        match u.event {
            "report" => self.report = Some(u.clone()),
            "logs" => self.logs = Some(u.clone()),
            _ => self.state = Some(u.clone()),
        }
    }
}

struct Watched {
    tx: broadcast::Sender<Arc<Update>>,
    newest: Mutex<Newest>,
    /// Asks the poller to look now (a page is being loaded).
    poke: tokio::sync::Notify,
    /// How many looks the poller has begun and finished.
    looks: watch::Sender<(u64, u64)>,
}

/// Every watched run's poller.
pub(crate) struct Hub {
    runs: Mutex<HashMap<RunId, Arc<Watched>>>,
    closed: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub {
            runs: Mutex::new(HashMap::new()),
            closed: watch::channel(false).0,
        }
    }
}

impl Hub {
    /// Ends every event stream (the server is shutting down).
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }

    /// Watches `run`: the newest updates and a receiver of what follows;
    /// starts the run's poller if none runs.
    fn watch(&self, app: &Arc<App>, run: RunId) -> Watching {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = runs.get(&run) {
            let rx = w.tx.subscribe();
            let newest = w.newest.lock().unwrap_or_else(|e| e.into_inner()).all();
            return Watching {
                newest,
                rx,
                watched: w.clone(),
            };
        }
        let (tx, rx) = broadcast::channel(16);
        let watched = Arc::new(Watched {
            tx,
            newest: Mutex::new(Newest::default()),
            poke: tokio::sync::Notify::new(),
            looks: watch::channel((0, 0)).0,
        });
        runs.insert(run.clone(), watched.clone());
        tokio::spawn(poll_loop(app.clone(), run, watched.clone()));
        Watching {
            newest: Vec::new(),
            rx,
            watched,
        }
    }

    /// The run's report as it is now: the run's poller looks once more
    /// (a page must not show what was true a few seconds ago) and the
    /// newest render is returned; `None` if that takes longer than `wait`.
    /// The poller stays a while for the page's own event stream.
    pub async fn report(&self, app: &Arc<App>, run: RunId, wait: Duration) -> Option<Arc<Update>> {
        let w = self.watch(app, run);
        let mut looks = w.watched.looks.subscribe();
        let (begun, finished) = *looks.borrow_and_update();
        // A look that begins after this request: the next one, or the one
        // after the look under way.
        let target = if begun > finished {
            begun + 1
        } else {
            finished + 1
        };
        w.watched.poke.notify_one();
        let done = tokio::time::timeout(wait, looks.wait_for(|l| l.1 >= target)).await;
        if !matches!(done, Ok(Ok(_))) {
            return None;
        }
        w.watched
            .newest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .report
            .clone()
    }

    /// Forgets `run`'s poller (if it is still `watched`'s), watched or not.
    fn forget(&self, run: &RunId, watched: &Arc<Watched>) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if runs.get(run).is_some_and(|w| Arc::ptr_eq(w, watched)) {
            runs.remove(run);
        }
    }

    /// Forgets `run`'s poller if nobody watches it (under the lock a new
    /// watcher takes, so none is lost between the check and the removal).
    fn end_if_unwatched(&self, run: &RunId, watched: &Arc<Watched>) -> bool {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if watched.tx.receiver_count() > 0 {
            return false;
        }
        if runs.get(run).is_some_and(|w| Arc::ptr_eq(w, watched)) {
            runs.remove(run);
        }
        true
    }
}

/// A new watcher's start: the newest updates, and what follows.
struct Watching {
    newest: Vec<Arc<Update>>,
    rx: broadcast::Receiver<Arc<Update>>,
    watched: Arc<Watched>,
}

/// The poller of one run.
async fn poll_loop(app: Arc<App>, run: RunId, watched: Arc<Watched>) {
    let mut tracker = Some(Tracker::new(run.clone()));
    let mut unwatched_since: Option<Instant> = None;
    let mut closed = app.live.closed.subscribe();
    loop {
        let Some(mut t) = tracker.take() else { return };
        watched.looks.send_modify(|l| l.0 += 1);
        let polled = app
            .stores
            .with(move |store| {
                let updates = t.poll(store);
                Ok((t, updates))
            })
            .await;
        let resting = match polled {
            Ok((t, updates)) => {
                let resting = t.resting();
                tracker = Some(t);
                match updates {
                    Ok(updates) => {
                        let mut newest = watched.newest.lock().unwrap_or_else(|e| e.into_inner());
                        for u in updates {
                            let u = Arc::new(u);
                            newest.keep(&u);
                            // No receiver is no error: the next watcher
                            // gets the newest at once.
                            let _ = watched.tx.send(u);
                        }
                    }
                    Err(e) => {
                        let _ = watched.tx.send(Arc::new(Update {
                            event: "problem",
                            data: e.to_string(),
                        }));
                    }
                }
                resting
            }
            // The blocking task died (a panic in a render) or no store
            // connection could be opened: this poller cannot go on. Forgotten, watched or not: its watchers' streams
            // end (browsers reconnect) and the next watcher starts a new one.
            Err(_) => {
                app.live.forget(&run, &watched);
                return;
            }
        };
        watched.looks.send_modify(|l| l.1 += 1);
        if watched.tx.receiver_count() == 0 {
            let since = *unwatched_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= IDLE_END && app.live.end_if_unwatched(&run, &watched) {
                return;
            }
        } else {
            unwatched_since = None;
        }
        let pause = if resting { POLL_RESTING } else { POLL_RUNNING };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = watched.poke.notified() => {}
            _ = closed.wait_for(|c| *c) => {
                app.live.end_if_unwatched(&run, &watched);
                return;
            }
        }
    }
}

/// One series' samples as read so far.
struct Raw {
    unit: String,
    points: Vec<(Millis, f64)>,
    /// Samples read, compacted or not.
    samples: u64,
}

/// What a poller knows of its run.
struct Tracker {
    run: RunId,
    cursor: i64,
    series: BTreeMap<(String, String), Raw>,
    /// The run row, stages, faults, verdicts and overrides as last seen.
    seen: String,
    state: Option<(RunState, String)>,
    logs: String,
    resting: bool,
}

impl Tracker {
    fn new(run: RunId) -> Tracker {
        Tracker {
            run,
            cursor: 0,
            series: BTreeMap::new(),
            seen: String::new(),
            state: None,
            logs: String::new(),
            resting: false,
        }
    }

    fn resting(&self) -> bool {
        self.resting
    }

    /// Reads what is new and says what changed.
    fn poll(&mut self, store: &Store) -> Result<Vec<Update>, StoreError> {
        let run = store.run(self.run.as_str())?;
        let stages = store.stages(&run.id)?;
        let overrides = store.overrides(&run.id)?;
        let faults = store.faults(&run.id)?;
        let verdicts = store.verdicts(&run.id)?;
        let artifacts = store.artifacts(&run.id)?;
        let mut fresh = 0usize;
        loop {
            let batch = store.samples_after(&run.id, self.cursor, BATCH)?;
            self.cursor = batch.cursor;
            fresh += batch.samples.len();
            let more = batch.samples.len() == BATCH;
            let keys: Vec<(String, String)> = batch
                .series
                .iter()
                .map(|k| {
                    let key = (k.kind.clone(), k.subject.clone());
                    self.series.entry(key.clone()).or_insert_with(|| Raw {
                        unit: k.unit.clone(),
                        points: Vec::new(),
                        samples: 0,
                    });
                    key
                })
                .collect();
            for (i, time, value) in batch.samples {
                let Some(raw) = self.series.get_mut(&keys[i]) else {
                    continue;
                };
                raw.points.push((time, value));
                raw.samples += 1;
                if raw.points.len() > KEEP_POINTS {
                    let points = std::mem::take(&mut raw.points);
                    raw.points = downsample(points, KEEP_POINTS / 2);
                }
            }
            if !more {
                break;
            }
        }
        let seen = serde_json::to_string(&(&run, &stages, &overrides, &faults, &verdicts))
            .unwrap_or_default();
        let mut updates = Vec::new();
        let shown = shown_state(&run).to_owned();
        let result = run.result.map_or("none".to_owned(), |v| v.to_string());
        if self.state.as_ref() != Some(&(run.state, shown.clone())) {
            self.state = Some((run.state, shown.clone()));
            updates.push(Update {
                event: "state",
                data: serde_json::json!({ "state": shown, "result": result }).to_string(),
            });
        }
        self.resting = run.state != RunState::Running;
        if fresh > 0 || seen != self.seen {
            self.seen = seen;
            let report = RunReport {
                series: self
                    .series
                    .iter()
                    .map(|((kind, subject), raw)| {
                        let mut s = SeriesData::from_points(
                            kind,
                            subject,
                            &raw.unit,
                            &raw.points,
                            LIVE_POINTS,
                        );
                        s.samples = raw.samples;
                        s
                    })
                    .collect(),
                run,
                stages,
                overrides,
                artifacts,
                faults,
                verdicts,
                generated_at: now_ms(),
            };
            updates.push(Update {
                event: "report",
                data: render_report(&report),
            });
            let logs = logs_html(&store.artifact_dir(&self.run));
            if logs != self.logs {
                self.logs = logs.clone();
                updates.push(Update {
                    event: "logs",
                    data: logs,
                });
            }
        }
        Ok(updates)
    }
}

/// The report with what is happening now above it.
pub(crate) fn render_report(r: &RunReport) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h.push_str(&now_html(r));
    h.push_str(&r.to_html_body());
    h
}

/// The stage running now and the faults not yet healed.
fn now_html(r: &RunReport) -> String {
    let now = now_ms();
    let mut h = String::from("<section id=\"now\" class=\"now\">");
    let running: Vec<String> = r
        .stages
        .iter()
        .filter(|s| s.state() == gauntlet_store::StageState::Running)
        .map(|s| {
            let since = s.current().started_at.map_or(0, |t| now - t);
            format!(
                "<span class=\"pill info\">{}</span> for {}",
                esc(&s.name),
                crate::runs_page::took(since)
            )
        })
        .collect();
    let _ = write!(
        h,
        "<div><strong>Now</strong> {}</div>",
        if running.is_empty() {
            "<span class=\"muted\">no stage running</span>".to_owned()
        } else {
            running.join(" ")
        }
    );
    let active: Vec<String> = r
        .faults
        .iter()
        .filter(|f| f.healed_at.is_none())
        .map(|f| {
            format!(
                "<li class=\"fault-active\"><span class=\"pill bad\">{}</span> on {} for {}</li>",
                esc(&f.kind),
                esc(&f.target),
                crate::runs_page::took(now - f.time)
            )
        })
        .collect();
    let _ = write!(
        h,
        "<div><strong>Active faults</strong> {}</div>",
        if active.is_empty() {
            "<span class=\"muted\">none</span>".to_owned()
        } else {
            format!("<ul class=\"faults\">{}</ul>", active.join(""))
        }
    );
    h.push_str("</section>\n");
    h
}

/// At most this many services' logs are shown, each its last lines.
const LOG_FILES: usize = 24;
const LOG_LINES: usize = 12;
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The last lines of each service's log (`services/*.log` of the run).
pub(crate) fn logs_html(run_dir: &Path) -> String {
    let dir = run_dir.join("services");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        return "<p class=\"empty\">no service logs</p>".to_owned();
    }
    let mut h = String::new();
    for f in files.iter().take(LOG_FILES) {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lines = tail(f, LOG_LINES);
        let _ = write!(
            h,
            "<div class=\"log\" data-service=\"{}\"><div class=\"output-title\">{}</div><pre>{}</pre></div>",
            esc(&name),
            esc(&name),
            esc(&lines.join("\n"))
        );
    }
    if files.len() > LOG_FILES {
        let _ = write!(
            h,
            "<p class=\"muted\">and {} more logs in the run's directory</p>",
            files.len() - LOG_FILES
        );
    }
    h
}

/// The last `n` lines of a file, read from its last [`LOG_TAIL_BYTES`].
fn tail(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let from = len.saturating_sub(LOG_TAIL_BYTES);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err()
        || f.take(LOG_TAIL_BYTES).read_to_end(&mut buf).is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if from > 0 && !lines.is_empty() {
        lines.remove(0); // cut in the middle
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| (*l).to_owned()).collect()
}

/// Counts a watcher while its stream lives.
struct Watcher(Arc<App>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `/runs/{id}/events`.
pub(crate) async fn events(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> Response {
    let found = app.stores.with(move |store: &Store| store.run(&id)).await;
    let run: Run = match found {
        Ok(r) => r,
        Err(e) => return store_problem(&e),
    };
    if app.watchers.fetch_add(1, Ordering::Relaxed) >= MAX_WATCHERS {
        app.watchers.fetch_sub(1, Ordering::Relaxed);
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many watchers",
            &format!("{MAX_WATCHERS} pages are watching runs already; close some."),
        );
    }
    let guard = Watcher(app.clone());
    let w = app.live.watch(&app, run.id.clone());
    let state = Stream {
        pending: w.newest.into(),
        rx: w.rx,
        closed: app.live.closed.subscribe(),
        watched: Arc::downgrade(&w.watched),
        _guard: guard,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        let u = s.next().await?;
        let event = Event::default().event(u.event).data(&u.data);
        Some((Ok::<_, Infallible>(event), s))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One watcher's side of a run's updates.
struct Stream {
    pending: std::collections::VecDeque<Arc<Update>>,
    rx: broadcast::Receiver<Arc<Update>>,
    closed: watch::Receiver<bool>,
    /// Weak: the poller and the hub own it, so when its poller is gone
    /// its sender is too, and the stream ends.
    watched: std::sync::Weak<Watched>,
    _guard: Watcher,
}

impl Stream {
    async fn next(&mut self) -> Option<Arc<Update>> {
        if let Some(u) = self.pending.pop_front() {
            return Some(u);
        }
        loop {
            tokio::select! {
                got = self.rx.recv() => match got {
                    Ok(u) => return Some(u),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Behind: skip to the newest of each.
                        let watched = self.watched.upgrade()?;
                        self.pending = watched
                            .newest
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .all()
                            .into();
                        if let Some(u) = self.pending.pop_front() {
                            return Some(u);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.closed.wait_for(|c| *c) => return None,
            }
        }
    }
}
