//! One workbench run, phase by phase.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gauntlet_check::{CheckResult, Validity};
use gauntlet_check_program::{ProgramSpec, run_checker};
use gauntlet_events::{Event, Events};
use gauntlet_history::{Op, Recorder};
use gauntlet_nemesis::{Action, FaultLog, Nemesis, Schedule, Signals};
use gauntlet_node::{LineSink, NodeSpec};
use gauntlet_workload::{Outcome, Request, Session, Step, Workload};
use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::client::Client;
use crate::config::{CheckerSpec, ConfigError, TestConfig};
use crate::faults::{Faults, InitError, Nodes, SimNet, call_while_alive};
use crate::inbox::Inbox;
use crate::join::futures_join;
use crate::journal::Journal;
use crate::net::{Kind, Net};
use crate::node::NodeSlot;
use crate::{results, store};
use gauntlet_nemesis::NemesisOps;

/// How the setup phase ended, when nothing went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetupEnd {
    /// Every node answered init (and the workload's setup request).
    Ready,
    /// A Ctrl-C came first.
    Interrupted,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's directory in the store.
    pub dir: PathBuf,
    /// The worst of all checks.
    pub valid: Validity,
    /// `results.json`'s content.
    pub results: Value,
    /// The run was cut short (Ctrl-C); results cover what was recorded.
    pub interrupted: bool,
    /// The wall clock when the history's clock (`time`, in ns) read zero.
    pub clock_zero: std::time::SystemTime,
}

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad flags: exit 254.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The system could not be set up (a node never answered `init`, ...):
    /// exit 255. What was recorded is still in `dir`.
    #[error("{message}")]
    Setup {
        message: String,
        dir: Option<PathBuf>,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

const SERVICES: [&str; 4] = ["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// Seeds for the run's independent random streams, so adding draws to one
/// (say, a new partition shape) leaves the others as they were.
fn sub_seed(seed: u64, stream: u64) -> u64 {
    seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Runs a test. `cancel` turning true (Ctrl-C) ends the run early: the nodes
/// are torn down and what was recorded is checked and written.
/// What happens is told on `events` (faults, notes, warnings such as a
/// node's bad output); the workbench itself prints nothing.
pub async fn run_test(
    cfg: TestConfig,
    events: Events,
    cancel: watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    cfg.validate()?;
    let dir = match &cfg.run_name {
        Some(name) => store::create_named_run_dir(&cfg.store, &cfg.workload, name),
        None => store::create_run_dir(&cfg.store, &cfg.workload),
    }
    .map_err(io_err(format!(
        "creating a run directory under {}",
        cfg.store.display()
    )))?;
    write_run_json(&cfg, &dir, None)?;
    let outcome = Run::new(cfg.clone(), dir.clone(), events.clone(), cancel)?
        .go()
        .await;
    for problem in store::link_latest(&cfg.store, &cfg.workload, &dir) {
        events.warn("store", problem);
    }
    match outcome {
        Ok(mut o) => {
            write_run_json(&cfg, &dir, Some(&o))?;
            o.dir = dir;
            Ok(o)
        }
        Err(RunError::Setup { message, .. }) => Err(RunError::Setup {
            message,
            dir: Some(dir),
        }),
        Err(e) => Err(e),
    }
}

fn write_run_json(
    cfg: &TestConfig,
    dir: &std::path::Path,
    outcome: Option<&RunOutcome>,
) -> Result<(), RunError> {
    let mut run = cfg.settings();
    run["finished"] = json!(outcome.is_some());
    run["interrupted"] = json!(outcome.is_some_and(|o| o.interrupted));
    if !cfg.checkers.is_empty() {
        run["checkers"] = cfg
            .checkers
            .iter()
            .map(|c| match c {
                CheckerSpec::Builtin(name) => json!({"name": name}),
                CheckerSpec::Program { name, program } => json!({"name": name, "program": program}),
            })
            .collect();
        run["checker-timeout-s"] = json!(cfg.checker_timeout.as_secs_f64());
    }
    let text = serde_json::to_string_pretty(&run).expect("json");
    std::fs::write(dir.join("run.json"), text + "\n").map_err(io_err("writing run.json"))
}

type SharedWorkload = Arc<Mutex<Box<dyn Workload>>>;

pub(crate) struct Run {
    cfg: TestConfig,
    pub(crate) dir: PathBuf,
    cancel: watch::Receiver<bool>,
    net: Arc<Net>,
    journal_writer: Option<crate::journal::JournalWriter>,
    nodes: Vec<Arc<NodeSlot>>,
    init_clients: Vec<Arc<tokio::sync::Mutex<Client>>>,
    worker_clients: Vec<Client>,
    recorder: Recorder,
    workload: SharedWorkload,
    faults: Arc<Faults>,
}

impl Run {
    pub(crate) fn new(
        cfg: TestConfig,
        dir: PathBuf,
        events: Events,
        cancel: watch::Receiver<bool>,
    ) -> Result<Run, RunError> {
        let n = cfg.node_count;
        let mut endpoints: Vec<(String, Kind)> =
            (0..n).map(|i| (format!("n{i}"), Kind::Server)).collect();
        endpoints.extend(SERVICES.iter().map(|s| (s.to_string(), Kind::Service)));
        let first_client = endpoints.len();
        endpoints.extend((0..n + cfg.concurrency).map(|i| (format!("c{i}"), Kind::Client)));
        let (journal, journal_writer) = Journal::create(&dir.join("messages.jsonl"))
            .map_err(io_err("creating messages.jsonl"))?;
        let (net, inboxes) = Net::new(
            endpoints,
            cfg.latency,
            cfg.net_limits,
            journal,
            events.clone(),
        );
        let mut inboxes: Vec<Option<_>> = inboxes.into_iter().map(Some).collect();
        let mut take = |i: usize| {
            Inbox::new(
                i as u32,
                inboxes[i].take().expect("each inbox once"),
                net.clone(),
            )
        };

        for (k, name) in SERVICES.iter().enumerate() {
            let index = n + k;
            let service = gauntlet_services::service(name, sub_seed(cfg.seed, 100 + k as u64))
                .expect("every listed service exists");
            tokio::spawn(crate::service::serve(
                index as u32,
                service,
                take(index),
                net.clone(),
                sub_seed(cfg.seed, 200 + k as u64),
            ));
        }
        let nodes = (0..n)
            .map(|i| {
                let spec = NodeSpec {
                    program: cfg.bin.clone(),
                    args: cfg.args.clone(),
                    cwd: None,
                    env: Vec::new(),
                    stderr_log: Some(dir.join("node-logs").join(format!("n{i}.log"))),
                    stderr_log_limit: gauntlet_node::DEFAULT_STDERR_LOG_LIMIT,
                    stderr_tail: 32,
                    // `--log-stderr`: each line becomes an event; the CLI prints it.
                    echo_stderr: cfg.log_stderr.then(|| {
                        let (events, node) = (events.clone(), format!("n{i}"));
                        LineSink::new(move |line| {
                            events.emit(Event::Output {
                                source: node.clone(),
                                line: line.to_owned(),
                            })
                        })
                    }),
                };
                NodeSlot::new(
                    i as u32,
                    spec,
                    take(i),
                    net.clone(),
                    sub_seed(cfg.seed, 1),
                    if cfg.node_backends.is_empty() {
                        cfg.backend.clone()
                    } else {
                        cfg.node_backends[i % cfg.node_backends.len()].clone()
                    },
                )
            })
            .collect();
        let mut clients = (first_client..first_client + n + cfg.concurrency).map(|i| {
            let rx = inboxes[i].take().expect("each inbox once");
            Client::new(i as u32, rx, net.clone())
        });
        let init_clients = clients
            .by_ref()
            .take(n)
            .map(|c| Arc::new(tokio::sync::Mutex::new(c)))
            .collect();
        let worker_clients = clients.collect();
        let workload = gauntlet_workload::workload(&cfg.workload, &cfg.workload_options)
            .map_err(|e| ConfigError(e.to_string()))?;
        // The history's clock is the network's: message and op times agree.
        // Every op is also an `op` event, for whoever watches the run live.
        let recorder = Recorder::in_memory(net.started()).observed(events.ops());
        let init_clients: Vec<Arc<tokio::sync::Mutex<Client>>> = init_clients;
        let nodes: Vec<Arc<NodeSlot>> = nodes;
        // Every fault and heal goes through one log; its events become the
        // history's nemesis ops.
        let log = FaultLog::new(events.with(Arc::new(NemesisOps {
            recorder: recorder.clone(),
        })));
        let faults = Arc::new(Faults::new(
            Signals::new(Nodes {
                nodes: nodes.clone(),
                net: net.clone(),
                init_clients: init_clients.clone(),
                init_timeout: cfg.init_timeout,
            }),
            SimNet { net: net.clone() },
            cfg.network.as_ref().map(|n| n.0.clone()),
            log,
        ));
        Ok(Run {
            faults,
            recorder,
            cfg,
            dir,
            cancel,
            net,
            journal_writer: Some(journal_writer),
            nodes,
            init_clients,
            worker_clients,
            workload: Arc::new(Mutex::new(workload)),
        })
    }

    async fn go(mut self) -> Result<RunOutcome, RunError> {
        let setup = self.setup().await;
        let mut interrupted = match setup {
            Ok(SetupEnd::Ready) => self.main_and_final().await,
            Ok(SetupEnd::Interrupted) => true,
            Err(_) => false,
        };
        self.teardown().await;
        let history = self.recorder.take();
        let journal_count = self
            .journal_writer
            .take()
            .expect("finished once")
            .finish()
            .map_err(io_err("writing messages.jsonl"))?;
        write_history(&self.dir, &history)?;
        setup?;
        let crashes: Vec<_> = self.nodes.iter().flat_map(|n| n.crashes()).collect();
        let (programs, cut_short) = self.run_checker_programs(interrupted).await;
        interrupted |= cut_short;
        let results = results::assemble(
            &self.cfg,
            &history,
            &self.net,
            &crashes,
            journal_count,
            programs,
        );
        let text = serde_json::to_string_pretty(&results.json).expect("json");
        std::fs::write(self.dir.join("results.json"), text + "\n")
            .map_err(io_err("writing results.json"))?;
        // Every check's verdict is an event: the store files it as the
        // run's verdict, a dashboard shows it.
        for (name, check) in results.json["checks"].as_object().into_iter().flatten() {
            self.net.events().emit(gauntlet_events::Event::Check {
                name: name.clone(),
                valid: serde_json::from_value(check["valid"].clone()).unwrap_or(Validity::Unknown),
                result: check.clone(),
            });
        }
        Ok(RunOutcome {
            dir: self.dir.clone(),
            valid: results.valid,
            results: results.json,
            interrupted,
            clock_zero: self.net.started_at(),
        })
    }

    /// Runs each `--checker` program over the run's directory, one after
    /// the other, once the history is written. An interrupted run does not
    /// start them, and a Ctrl-C while one runs kills it (dropping the run
    /// kills its process group): either way its verdict is `unknown`.
    /// Also says whether a Ctrl-C came while they ran.
    async fn run_checker_programs(&self, interrupted: bool) -> (Vec<(String, CheckResult)>, bool) {
        let mut out = Vec::new();
        let mut cut_short = false;
        for spec in &self.cfg.checkers {
            let CheckerSpec::Program { name, program } = spec else {
                continue;
            };
            let not_run = |why: &str| {
                let mut r = CheckResult::new(name.clone());
                r.undecided(json!({"problem": why, "program": program}));
                r
            };
            if interrupted || cut_short || *self.cancel.borrow() {
                cut_short |= !interrupted;
                out.push((name.clone(), not_run("not run: the run was interrupted")));
                continue;
            }
            let mut p = ProgramSpec::new(name.clone(), program.clone());
            p.timeout = self.cfg.checker_timeout;
            p.stderr_log = Some(self.dir.join("checkers").join(format!("{name}.stderr.log")));
            let mut cancel = self.cancel.clone();
            let result = tokio::select! {
                run = run_checker(&p, &self.dir) => run.result,
                _ = cancel.wait_for(|c| *c) => {
                    cut_short = true;
                    not_run("killed: the run was interrupted")
                }
            };
            out.push((name.clone(), result));
        }
        (out, cut_short)
    }

    /// Starts every node, sends `init`, then the workload's setup request.
    /// A node that exits fails the setup at once (the other nodes' inits
    /// are not waited for); a Ctrl-C (`cancel`) ends it at once as
    /// [`SetupEnd::Interrupted`]. Either way the caller tears down what was
    /// started.
    pub(crate) async fn setup(&self) -> Result<SetupEnd, RunError> {
        let started = futures_join(self.nodes.iter().map(|node| {
            let node = node.clone();
            let cancel = self.cancel.clone();
            async move {
                // After a Ctrl-C the nodes not yet started stay down.
                if *cancel.borrow() {
                    return Ok(());
                }
                node.start().await
            }
        }))
        .await;
        if *self.cancel.borrow() {
            return Ok(SetupEnd::Interrupted);
        }
        if let Some(Err(e)) = started.into_iter().find(Result::is_err) {
            return Err(RunError::Setup {
                message: format!("could not start node {e}"),
                dir: None,
            });
        }
        // Each node gets the workload's setup request (broadcast's topology)
        // right after its own init_ok, not after every node's: with 1,000
        // nodes the last init comes seconds after the first.
        let topology = self
            .cfg
            .topology
            .to_json(&self.net.names()[..self.nodes.len()]);
        let setup_request = self
            .workload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .setup(&topology);
        let mut inits = tokio::task::JoinSet::new();
        for i in 0..self.nodes.len() {
            let init = self.init(i);
            let setup = setup_request.clone().map(|req| self.setup_node(i, req));
            inits.spawn(async move {
                let result = async {
                    init.await?;
                    match setup {
                        Some(setup) => setup.await,
                        None => Ok(()),
                    }
                }
                .await;
                result.map_err(|e| (i, e))
            });
        }
        let mut failures: Vec<(usize, String)> = Vec::new();
        let mut cancel = self.cancel.clone();
        // Dropping `inits` aborts the inits still waiting.
        loop {
            tokio::select! {
                done = inits.join_next() => match done {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err((i, e)))) => {
                        let exited = e.is_exit();
                        failures.push((i, e.to_string()));
                        if exited {
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        failures.push((usize::MAX, format!("a node's setup task failed: {e}")));
                        break;
                    }
                },
                Ok(_) = cancel.wait_for(|c| *c) => return Ok(SetupEnd::Interrupted),
            }
        }
        if !failures.is_empty() {
            failures.sort();
            return Err(RunError::Setup {
                message: failures
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect::<Vec<_>>()
                    .join("\n"),
                dir: None,
            });
        }
        Ok(SetupEnd::Ready)
    }

    /// Sends the workload's setup request to node `i` and checks the reply
    /// type; fails at once if the node exits meanwhile.
    fn setup_node(
        &self,
        i: usize,
        (body, ok_type): (Value, &'static str),
    ) -> impl std::future::Future<Output = Result<(), InitError>> + use<> {
        let client = self.init_clients[i].clone();
        let node = self.nodes[i].clone();
        let timeout = self.cfg.rpc_timeout;
        async move {
            let what = format!(
                "the setup request ({})",
                body["type"].as_str().unwrap_or("?")
            );
            let reply = call_while_alive(&node, &client, body, timeout, &what).await?;
            let got = reply
                .as_ref()
                .and_then(|r| r.get("type"))
                .and_then(Value::as_str);
            if got == Some(ok_type) {
                return Ok(());
            }
            Err(InitError::Answer(format!(
                "node n{i} did not answer the setup request with {ok_type}: {}",
                reply.map_or("no reply within the RPC timeout".to_string(), |r| r
                    .to_string())
            )))
        }
    }

    /// Sends `init` to node `i` and waits for `init_ok`.
    fn init(&self, i: usize) -> impl std::future::Future<Output = Result<(), InitError>> + use<> {
        crate::faults::init(
            self.nodes[i].clone(),
            self.init_clients[i].clone(),
            self.net.names()[..self.nodes.len()].to_vec(),
            self.cfg.init_timeout,
        )
    }

    /// The main phase (workload and nemesis for the time limit), then the
    /// final phase. Returns whether the run was interrupted.
    async fn main_and_final(&mut self) -> bool {
        let cfg = self.cfg.clone();
        let n = self.nodes.len();
        let (free_tx, mut free_rx) = mpsc::unbounded_channel::<usize>();
        let mut worker_txs = Vec::new();
        let mut worker_tasks = Vec::new();
        for (w, client) in std::mem::take(&mut self.worker_clients)
            .into_iter()
            .enumerate()
        {
            let (tx, rx) = mpsc::unbounded_channel::<Request>();
            worker_txs.push(tx);
            let worker = Worker {
                id: w,
                process: w as u64,
                concurrency: cfg.concurrency as u64,
                node: (w % n) as u32,
                client,
                recorder: self.recorder.clone(),
                workload: self.workload.clone(),
                timeout: cfg.rpc_timeout,
                // Asked once: a workload either gives every client a
                // session or none, and a one-call worker never asks again.
                session: self
                    .workload
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .session()
                    .map(|s| (w as u64, s)),
            };
            worker_tasks.push(tokio::spawn(worker.run(rx, free_tx.clone())));
        }
        for w in 0..cfg.concurrency {
            free_tx.send(w).expect("receiver alive");
        }

        let start = Instant::now();
        let deadline = start + cfg.time_limit;
        let nemesis = Nemesis::new(
            cfg.nemesis.clone(),
            cfg.nemesis_interval,
            n,
            n,
            sub_seed(cfg.seed, 2),
        );
        let nemesis_task = tokio::spawn(run_nemesis(
            nemesis,
            start,
            deadline,
            self.cancel.clone(),
            self.actor(),
        ));

        // Hand ops to free workers at the configured rate: gaps uniform on
        // [0, 2/rate), Jepsen's stagger.
        let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(cfg.seed, 3));
        let mut cancel = self.cancel.clone();
        let mut interrupted = false;
        'main: loop {
            let gap = if cfg.rate > 0.0 {
                Duration::from_secs_f64(rng.random_range(0.0..2.0 / cfg.rate))
            } else {
                cfg.time_limit
            };
            let next = (Instant::now() + gap).min(deadline);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = cancel.wait_for(|c| *c) => { interrupted = true; break 'main; }
            }
            if Instant::now() >= deadline || cfg.rate == 0.0 {
                break;
            }
            let w = tokio::select! {
                w = free_rx.recv() => w.expect("workers hold senders"),
                _ = tokio::time::sleep_until(deadline) => break 'main,
                _ = cancel.wait_for(|c| *c) => { interrupted = true; break 'main; }
            };
            let req = self
                .workload
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next(&mut rng);
            let _ = worker_txs[w].send(req);
        }

        let mut nemesis = crate::join::joined(nemesis_task.await);
        // Wait for in-flight ops: each finishes within the RPC timeout.
        let idle =
            wait_all_free(&mut free_rx, cfg.concurrency, &mut cancel, &mut interrupted).await;

        // Final phase: heal, let the system recover, then final reads.
        if !interrupted {
            let actor = self.actor();
            for action in nemesis.heal_all() {
                actor.perform(action).await;
            }
        }
        let finals = self
            .workload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .final_requests();
        if idle && !interrupted && !finals.is_empty() {
            self.net.events().note(format!(
                "healed; waiting {} s for recovery before final reads",
                cfg.recovery.as_secs_f64()
            ));
            tokio::select! {
                _ = tokio::time::sleep(cfg.recovery) => {}
                _ = cancel.wait_for(|c| *c) => interrupted = true,
            }
            if !interrupted {
                for tx in &worker_txs {
                    for req in &finals {
                        let _ = tx.send(req.clone());
                    }
                }
                let mut done = 0;
                let expected = cfg.concurrency * finals.len();
                while done < expected {
                    tokio::select! {
                        w = free_rx.recv() => { if w.is_none() { break } done += 1 }
                        _ = cancel.wait_for(|c| *c) => { interrupted = true; break }
                    }
                }
            }
        }
        drop(worker_txs);
        for t in worker_tasks {
            if let Ok(mut client) = t.await {
                client.drain();
            }
        }
        interrupted
    }

    fn actor(&self) -> Actor {
        Actor {
            faults: self.faults.clone(),
        }
    }

    /// Sends `body` to node `i` from its init client and waits for the reply.
    pub(crate) async fn call_as_init_client(&self, i: usize, body: Value) -> Option<Value> {
        let mut client = self.init_clients[i].lock().await;
        client.call(i as u32, body, self.cfg.rpc_timeout).await
    }

    /// Messages sent between servers (and services) so far.
    pub(crate) fn server_messages(&self) -> u64 {
        self.net.server_sends()
    }

    /// Messages dropped so far because an inbox or the network was full.
    pub(crate) fn dropped_inbox_full(&self) -> u64 {
        self.net.dropped(crate::net::INBOX_FULL)
    }

    /// How much the journal held the nodes' stdout back so far.
    pub(crate) fn journal_holds(&self) -> crate::journal::Holds {
        self.net.journal().holds()
    }

    /// Tears down without checking: kills the nodes and ends the journal.
    pub(crate) async fn shutdown(mut self) {
        self.teardown().await;
        if let Some(w) = self.journal_writer.take() {
            let _ = w.finish();
        }
    }

    async fn teardown(&self) {
        futures_join(self.nodes.iter().map(|n| {
            let n = n.clone();
            async move { n.kill().await }
        }))
        .await;
        // Give delivery tasks a moment to record what was still in flight.
        self.net.journal().close();
    }
}

async fn wait_all_free(
    free_rx: &mut mpsc::UnboundedReceiver<usize>,
    workers: usize,
    cancel: &mut watch::Receiver<bool>,
    interrupted: &mut bool,
) -> bool {
    let mut free = std::collections::BTreeSet::new();
    while free.len() < workers {
        tokio::select! {
            w = free_rx.recv() => match w { Some(w) => { free.insert(w); } None => return false },
            _ = cancel.wait_for(|c| *c), if !*interrupted => { *interrupted = true; return false; }
        }
    }
    true
}

/// Carries out nemesis actions and records them on the timeline.
/// Carries out the nemesis's actions: through the one fault model's
/// executors and log (`crate::faults`).
#[derive(Clone)]
struct Actor {
    faults: Arc<Faults>,
}

impl Actor {
    async fn perform(&self, action: Action) {
        self.faults.perform(action).await;
    }
}

/// Follows the nemesis's schedule until the deadline or a Ctrl-C: each
/// action at its due time after `start`, through the one fault model's
/// executors and log.
async fn run_nemesis(
    mut nemesis: Nemesis,
    start: Instant,
    deadline: Instant,
    mut cancel: watch::Receiver<bool>,
    actor: Actor,
) -> Nemesis {
    while let Some(due) = nemesis.next_due() {
        let at = start + due;
        if at >= deadline {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = cancel.wait_for(|c| *c) => break,
        }
        if let Some(action) = nemesis.take_step() {
            actor.perform(action).await;
        }
    }
    nemesis
}

/// A client worker: performs the ops it is handed against one node.
struct Worker {
    id: usize,
    /// The Jepsen process: a new one after every indefinite outcome.
    process: u64,
    concurrency: u64,
    node: u32,
    client: Client,
    recorder: Recorder,
    workload: SharedWorkload,
    timeout: Duration,
    /// The client's session and the process it belongs to, for workloads
    /// whose clients keep state (kafka); `None`: one RPC per operation,
    /// judged by the workload.
    session: Option<(u64, Box<dyn Session>)>,
}

impl Worker {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Request>,
        free: mpsc::UnboundedSender<usize>,
    ) -> Client {
        while let Some(req) = rx.recv().await {
            self.perform(req).await;
            if free.send(self.id).is_err() {
                break;
            }
        }
        self.client
    }

    async fn perform(&mut self, req: Request) {
        let Some((process, _)) = &self.session else {
            return self.perform_one_call(req).await;
        };
        // One client per Jepsen process: a new one after a crash (`info`).
        if *process != self.process {
            let fresh = self
                .workload
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .session();
            self.session = fresh.map(|s| (self.process, s));
        }
        self.perform_in_session(req).await
    }

    /// One RPC, judged by the workload.
    async fn perform_one_call(&mut self, req: Request) {
        let invoke = self.record_invoke(&req);
        let reply = self
            .client
            .call(self.node, req.body.clone(), self.timeout)
            .await;
        let outcome = {
            let wl = self.workload.lock().unwrap_or_else(|e| e.into_inner());
            match &reply {
                Some(r) => wl.complete(&req, r),
                None => wl.timeout(&req),
            }
        };
        self.record_completion(&invoke, outcome);
    }

    /// As many RPCs as the client's session asks for.
    async fn perform_in_session(&mut self, req: Request) {
        let Some((_, session)) = self.session.as_mut() else {
            return;
        };
        let mut step = session.start(&req);
        if step == Step::Skip {
            return;
        }
        let invoke = self.record_invoke(&req);
        let outcome = loop {
            match step {
                Step::Done(outcome) => break outcome,
                // Skipping once the invoke is recorded would leave the op
                // open: it is an indefinite outcome instead.
                Step::Skip => break Outcome::Info(serde_json::json!("skipped mid-operation")),
                Step::Call(body) => {
                    let reply = self.client.call(self.node, body, self.timeout).await;
                    let Some((_, session)) = self.session.as_mut() else {
                        return;
                    };
                    step = session.reply(&req, reply.as_ref());
                }
            }
        };
        self.record_completion(&invoke, outcome);
    }

    fn record_invoke(&self, req: &Request) -> Op {
        let mut invoke = Op::invoke(self.process, req.f, req.value.clone());
        invoke.key = req.key.clone();
        invoke.is_final = req.is_final;
        self.recorder.record(invoke)
    }

    fn record_completion(&mut self, invoke: &Op, outcome: Outcome) {
        if outcome.is_indeterminate() {
            self.process += self.concurrency;
        }
        self.recorder.record(outcome.completion(invoke));
    }
}

fn write_history(dir: &std::path::Path, history: &[Op]) -> Result<(), RunError> {
    use std::io::Write;
    let path = dir.join("history.jsonl");
    let file = std::fs::File::create(&path).map_err(io_err("writing history.jsonl"))?;
    let mut out = std::io::BufWriter::new(file);
    for op in history {
        serde_json::to_writer(&mut out, op)
            .map_err(|e| io_err("writing history.jsonl")(e.into()))?;
        out.write_all(b"\n")
            .map_err(io_err("writing history.jsonl"))?;
    }
    out.flush().map_err(io_err("writing history.jsonl"))
}
