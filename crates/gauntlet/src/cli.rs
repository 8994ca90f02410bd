use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::units::{self, Concurrency, Millis, Minutes, Rate, Seconds};

#[derive(Debug, Parser)]
#[command(
    name = "gauntlet",
    version,
    about = "Puts a distributed system through the real world before its users do",
    long_about = "Puts a distributed system through the real world before its users do.\n\n\
        Runs node programs (any language, JSON lines on stdin/stdout) on a simulated network, \
        drives them with clients, injects faults, and checks what happened (`test`); checks \
        recorded histories for linearizability or transactional consistency (`check`); runs staged pipelines of services, \
        test commands and module cycling from a plan, with halt-and-hold and reports (`run`); \
        soaks a system with simulated users and hours of faults, then judges invariants such as \
        no data loss (`soak`); tests a real cluster under a nemesis (`test cluster.toml`); \
        runs the fleet loop on hosts over SSH: build here, deploy, test, fix, re-test at \
        checkpoints, proof bundle (`start`, `status`, `nodes`); and shows every run live in a \
        browser, with the operator's actions and Prometheus metrics (`serve`).",
    after_help = "Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 the run could not be carried out.\n\
        Limits: every duration is at most 365 days (31536000 s), and at least 1 ms where zero means \
        nothing; rates are 0 or 0.001 to 1000000 per second; counts are at least 1."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Maelstrom-style test: nodes on a simulated network, clients, faults, checks.
    Test(Box<TestArgs>),
    /// Check a recorded history for linearizability or, with list-append and rw-register, transactional consistency (JSONL or Jepsen EDN).
    Check(CheckArgs),
    /// Run a correct and a broken example end to end and show both verdicts.
    Demo(DemoArgs),
    /// Measure Gauntlet's own speed.
    Bench(BenchArgs),
    /// Run a plan: services in dependency order, stages in strict order, module cycling, reports.
    Run(RunArgs),
    /// Soak a system: simulated users, hours of injected faults, invariants judged on a quiet system.
    Soak(SoakArgs),
    /// List the runs in the store: id, plan, state, result, failed stage, started, took.
    Runs(RunsArgs),
    /// Show one run: its stages with their figures, overrides and artifacts.
    Show(ShowArgs),
    /// Resume a held or interrupted run: run its failed stage again and go on.
    Retry(RetryArgs),
    /// Accept a run's failed stage, with a reason that every report shows, and go on.
    Override(OverrideArgs),
    /// Give up on a held or interrupted run.
    Abandon(AbandonArgs),
    /// Print or write a run's report: md, html, json or junit.
    Report(ReportArgs),
    /// The network lab: hosts in network namespaces, segments, lossy links, NAT boxes.
    Lab(crate::cmd_lab::LabArgs),
    /// Remove what gauntlet processes that died (SIGKILL) left: processes, labs, containers, data.
    Clean(crate::cmd_clean::CleanArgs),
    /// Start a fleet loop: build here, deploy to the nodes over SSH, test, fix, re-test at checkpoints.
    Start(crate::cmd_loop::StartArgs),
    /// The fleet loops: each project's latest loop, its phase and its phases so far.
    Status(crate::cmd_loop::StatusArgs),
    /// Stop a project's running fleet loop (it can go on later with `gauntlet retry`).
    Stop(crate::cmd_loop::StopArgs),
    /// Print (and follow) the service logs of a project's latest fleet loop.
    Logs(crate::cmd_loop::LogsArgs),
    /// A built-in client program for cluster tests (etcd, redis): JSON lines on stdin and stdout.
    Client(crate::cmd_client::ClientArgs),
    /// The nodes of a fleet file: reached over SSH or not, load, memory, disk, services.
    Nodes(crate::cmd_fleet::NodesArgs),
    /// One node of a fleet file up close: services, logs, disk, memory, sockets.
    Diagnose(crate::cmd_fleet::DiagnoseArgs),
    /// The live dashboard: every run as it happens, the operator's actions, Prometheus metrics.
    Serve(crate::cmd_serve::ServeArgs),
    /// Run one of the bundled example node programs (for `--bin`).
    #[command(hide = true)]
    ExampleNode {
        name: String,
        /// Arguments for the program (the http-service takes flags).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet test -w echo --bin ./my-node --node-count 1 --time-limit 10\n  \
    gauntlet test -w broadcast --bin ./my-node --node-count 5 --time-limit 20 --rate 100 --latency 100 --nemesis partition\n  \
    gauntlet test -w g-counter --bin ./counter --node-count 3 --nemesis partition,kill,pause --seed 42\n  \
    gauntlet test -w echo --bin python3 my_node.py   # arguments after --bin go to the program\n  \
    gauntlet test -w lin-kv --bin ./kv --checker ./leases.py --checker-timeout 30   # a custom checker\n  \
    gauntlet test examples/cluster/etcd.toml --seed 7   # Jepsen mode: a real cluster on lab hosts (root)\n  \
    gauntlet test examples/cluster/etcd.toml --replay r20261203-115542-11f   # that run's faults again\n\n\
    A Maelstrom test's results go to STORE/<workload>/<run-id>/ (also STORE/<run-id>; STORE/latest points at the newest):\n  \
    history.jsonl, results.json, messages.jsonl, node-logs/<node>.log, run.json.\n\
    A cluster test's (a plan, no --bin) go to STORE/<run-id>/: history.jsonl, results.json,\n  \
    checks/<name>/ (anomalies.txt: each anomaly beside its faults), clients/, services/, the reports;\n  \
    docs/cluster.md has the plan's format. Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad input,\n  \
    255 the test could not run or was interrupted.\n\
    The run is listed by `gauntlet runs`; `gauntlet show RUN` and `gauntlet report RUN` read it.")]
pub struct TestArgs {
    /// The workload: echo, unique-ids, broadcast, g-set, g-counter, pn-counter, lin-kv,
    /// txn-list-append, txn-rw-register.
    #[arg(short = 'w', long, default_value = "echo")]
    pub workload: String,
    /// The node program to run (each node is one process of it).
    #[arg(long)]
    pub bin: Option<PathBuf>,
    /// Arguments for the node program; without --bin, a cluster plan
    /// (cluster.toml: services on lab hosts, [workload], [nemesis],
    /// [[check]]; see docs/cluster.md).
    #[arg(allow_hyphen_values = false, value_name = "ARGS | CLUSTER.toml")]
    pub args: Vec<String>,
    /// A cluster plan: set a plan variable (NAME=VALUE), repeatable.
    #[command(flatten)]
    pub sets: SetArgs,
    /// A cluster plan: keep the services' data directories (data/ in
    /// the run's directory) instead of removing them at the end.
    #[arg(long)]
    pub keep_data: bool,
    /// A cluster plan: replay the storm of a recorded run (its nemesis
    /// actions, at the same offsets, on the same nodes) instead of drawing
    /// one from the seed: re-run the exact faults that broke the system.
    #[arg(long, value_name = "RUN-ID")]
    pub replay: Option<String>,
    /// Number of nodes, named n0 … n{N-1}: 1 to 10000.
    #[arg(long, default_value = "5", value_name = "N", allow_negative_numbers = true, value_parser = units::node_count)]
    pub node_count: usize,
    /// Seconds of the main phase (setup and the final phase come on top):
    /// 0.001 to 31536000 (365 days).
    #[arg(long, default_value = "60", value_name = "SECONDS", allow_negative_numbers = true, value_parser = units::seconds)]
    pub time_limit: Seconds,
    /// Client requests per second, across all clients: 0 (none) or 0.001
    /// to 1000000.
    #[arg(long, default_value = "5", value_name = "R", allow_negative_numbers = true, value_parser = units::rate)]
    pub rate: Rate,
    /// Client workers: a number, or Kn for K times the node count; 1 to
    /// 100000 workers.
    #[arg(long, default_value = "1n", value_name = "N|Kn", allow_negative_numbers = true, value_parser = units::concurrency)]
    pub concurrency: Concurrency,
    /// Mean one-way latency between nodes, in milliseconds: 0 to
    /// 31536000000 (365 days).
    #[arg(long, default_value = "0", value_name = "MS", allow_negative_numbers = true, value_parser = units::latency_ms)]
    pub latency: Millis,
    /// constant, uniform or exponential.
    #[arg(long, default_value = "constant")]
    pub latency_dist: String,
    /// Faults to inject, comma-separated: partition, kill, pause, power-cut.
    #[arg(long, default_value = "")]
    pub nemesis: String,
    /// Mean seconds between nemesis actions: 0.001 to 31536000 (365 days).
    #[arg(long, default_value = "10", value_name = "SECONDS", allow_negative_numbers = true, value_parser = units::seconds)]
    pub nemesis_interval: Seconds,
    /// Broadcast topology: grid, line, total, tree2, tree3, tree4.
    #[arg(long, default_value = "grid")]
    pub topology: String,
    /// Transactional workloads: keys active at once (a key retires after
    /// --max-writes-per-key writes and a new one takes its place): 1 to 100000.
    #[arg(long, default_value = "10", value_name = "N", allow_negative_numbers = true, value_parser = units::key_count)]
    pub key_count: usize,
    /// Transactional workloads: the most micro-ops per transaction (each has
    /// 1 to N): 1 to 1000.
    #[arg(long, default_value = "4", value_name = "N", allow_negative_numbers = true, value_parser = units::max_txn_length)]
    pub max_txn_length: usize,
    /// Transactional workloads: writes a key gets before it retires: 1 to
    /// 1000000.
    #[arg(long, default_value = "16", value_name = "N", allow_negative_numbers = true, value_parser = units::max_writes_per_key)]
    pub max_writes_per_key: u64,
    /// Transactional workloads: the consistency models the history is
    /// checked against, comma-separated (`serializable,read-committed`;
    /// Maelstrom's `a , b` works too).
    #[arg(long, default_value = "strict-serializable", value_name = "MODELS", value_parser = units::consistency_models)]
    pub consistency_models: units::Names,
    /// Required availability: "total", or a fraction of ok ops in 0..1.
    #[arg(long)]
    pub availability: Option<String>,
    /// Also print node stderr to gauntlet's stderr.
    #[arg(long)]
    pub log_stderr: bool,
    #[command(flatten)]
    pub seed: SeedArg,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Seconds to wait after healing before the final reads: 0 to 31536000
    /// (365 days).
    #[arg(long, default_value = "10", value_name = "SECONDS", allow_negative_numbers = true, value_parser = units::seconds_or_zero)]
    pub recovery_time: Seconds,
    /// Seconds a client waits for a reply: 0.001 to 31536000 (365 days).
    #[arg(long, default_value = "5", value_name = "SECONDS", allow_negative_numbers = true, value_parser = units::seconds)]
    pub rpc_timeout: Seconds,
    /// An extra checker, repeatable: a built-in checker's name (linearizable,
    /// counter, ...), a program given as a path (./lease.py, filed under
    /// "lease"), or NAME=PROGRAM. A program gets the run's directory and
    /// prints one JSON result object.
    #[arg(long = "checker", value_name = "CHECKER")]
    pub checkers: Vec<String>,
    /// Seconds each checker program may run; past it, it is killed and its
    /// verdict is unknown. 0.001 to 31536000 (365 days).
    #[arg(long, default_value = "60", value_name = "SECONDS", allow_negative_numbers = true, value_parser = units::seconds)]
    pub checker_timeout: Seconds,
    /// Run the nodes on the hosts of a network lab (node i on the lab's
    /// i-th host, round robin), built for this run and removed after it.
    /// Messages still travel the simulated network; partitions cut both
    /// it and the real one (nftables on the hosts). Needs root.
    #[arg(long, value_name = "LAB.toml")]
    pub lab: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet check --model cas-register history.jsonl\n  \
    gauntlet check --model kv store/latest/history.jsonl --timeout 60s --html linear.html\n  \
    gauntlet check --model cas-register jepsen/history.edn --json\n  \
    gauntlet check --model list-append --consistency-models serializable history.edn\n  \
    gauntlet check --model rw-register store/latest/history.jsonl --html anomalies/\n  \
    gauntlet check --model kafka store/latest/history.jsonl --json\n\n\
    Models: register, cas-register, kv, set, fifo-queue, mutex, counter (linearizability);\n\
    list-append, rw-register (transactions, judged against --consistency-models);\n\
    kafka (Jepsen's kafka checker: offsets, lost and unseen messages, G0/G1c).\n\
    Exit codes: 0 valid, 1 not, 2 undecided (the time ran out, or nothing to check), 254 bad input.")]
pub struct CheckArgs {
    /// The history: JSONL (one op per line) or a Jepsen history.edn.
    pub history: PathBuf,
    /// The model the history is checked against.
    #[arg(short, long)]
    pub model: String,
    /// Give up after this long (500ms, 30s, 1m30s, 2.5m, 1h; 0 to 365 days);
    /// undecided keys make the verdict unknown.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = units::duration_with_unit)]
    pub timeout: Option<Seconds>,
    /// Write a self-contained HTML timeline (the failing key's ops and partial linearization);
    /// for list-append and rw-register, a directory with index.html and an SVG per cycle.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// list-append and rw-register: the consistency models to judge (Elle's names,
    /// comma-separated; default strict-serializable).
    #[arg(long, value_name = "MODELS", value_parser = units::consistency_models)]
    pub consistency_models: Option<units::Names>,
    /// Check a keyed history as one object instead of key by key.
    #[arg(long)]
    pub no_split: bool,
    /// Read `[k v]` values as jepsen.independent tuples: k becomes the op's key.
    /// (Jepsen prints them as plain pairs, indistinguishable from a cas `[from to]`.)
    #[arg(long)]
    pub independent: bool,
    /// Worker threads, 1 to 1024 (default: one per core).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = units::threads)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Seconds each demo run lasts: 0.001 to 31536000 (365 days).
    #[arg(long, default_value = "5", value_name = "SECONDS", allow_negative_numbers = true, value_parser = units::seconds)]
    pub time_limit: Seconds,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  gauntlet bench router\n  gauntlet bench router --nodes 5,25,100 --seconds 10 --json\n  gauntlet bench check --histories testdata/histories --sizes 10000,100000\n  gauntlet bench elle --sizes 100000,1000000 --clients 100\n  gauntlet bench soak --minutes 10 --users 10\n  gauntlet bench flood --nodes 2,25 --seconds 20\n  sudo gauntlet bench lab\n  sudo gauntlet bench lab --packets 100000 --seconds 10 --json\n  gauntlet bench client --clients 1,10,50 --seconds 5\n  gauntlet bench serve --clients 50 --seconds 20"
)]
pub struct BenchArgs {
    /// What to measure: router (messages per second between real node
    /// processes), flood (gauntlet's memory while every node floods the
    /// network and none reads), check (the linearizability checker's ops
    /// per second and peak memory), elle (the transaction checker on
    /// Elle-paper-like list-append histories: each written to a JSONL file,
    /// then read and checked strict-serializable as `gauntlet check --model
    /// list-append` does, in a child process whose peak memory is its own),
    /// soak (gauntlet's own CPU and memory while it soaks a service) or lab
    /// (the network lab, as root: how long a lab of 10 hosts, 3 segments
    /// and 4 NAT boxes takes to come up and go down, 5 rounds; a link's
    /// added delay and loss against its setting; the packets per second a
    /// link passes and its shaper's CPU) or client (operations per second
    /// through the cluster client protocol, each worker with its own
    /// in-memory client program, and gauntlet's own CPU per op) or docker
    /// (the Docker Engine: start-to-healthy and kill-to-exited times of 10
    /// containers one at a time, and gauntlet's own CPU while it reads the
    /// figures of 20 running containers every second for 20 s) or serve
    /// (the dashboard: a run page's latency with 10^5 samples per series,
    /// and a live run writing 1,000 samples a second watched by --clients
    /// event streams, default 50, for --seconds: their lag, the server's
    /// CPU).
    pub what: String,
    /// soak: minutes to soak (the per-hour figures are extrapolated from
    /// it): 0.001 to 525600 (365 days).
    #[arg(long, default_value = "2", allow_negative_numbers = true, value_parser = units::minutes)]
    pub minutes: Minutes,
    /// soak: simulated users, 1 to 100000.
    #[arg(long, default_value = "10", value_name = "N", allow_negative_numbers = true, value_parser = units::users)]
    pub users: u32,
    /// check: a directory of reference histories with an expected.tsv.
    #[arg(long)]
    pub histories: Option<PathBuf>,
    /// check, elle: sizes of the generated histories (check: ops; elle:
    /// transactions), comma-separated: 1 to 10000000 each.
    #[arg(long, default_value = "10000,100000,1000000", value_parser = units::bench_sizes)]
    pub sizes: units::Counts,
    /// check, elle: client counts (elle: concurrent processes) of the
    /// generated histories; client: concurrent client programs.
    /// Comma-separated, 1 to 10000 each [default: check 10,50,100; elle
    /// 10,100; client 1,10].
    #[arg(long, value_parser = units::bench_clients)]
    pub clients: Option<units::Counts>,
    /// elle, internal: check this history file in this process and print
    /// its figures as JSON (what each case's child process runs).
    #[arg(long, hide = true, value_name = "FILE")]
    pub elle_case: Option<PathBuf>,
    /// Cluster sizes to measure, comma-separated: 2 to 10000 nodes each.
    #[arg(long, default_value = "5,25,100", value_parser = units::cluster_sizes)]
    pub nodes: units::Counts,
    /// Seconds to measure each size (lab: each rate): 0.001 to 31536000
    /// (365 days).
    #[arg(long, default_value = "5", allow_negative_numbers = true, value_parser = units::seconds)]
    pub seconds: Seconds,
    /// lab: packets sent through the link for each delay figure, 100 to
    /// 1000000.
    #[arg(long, default_value = "10000", value_name = "N", allow_negative_numbers = true, value_parser = units::bench_packets)]
    pub packets: u64,
    /// Tokens each node injects, 1 to 100000; they circulate for the whole
    /// measurement.
    #[arg(long, default_value = "64", value_name = "N", allow_negative_numbers = true, value_parser = units::tokens)]
    pub tokens: u64,
    #[command(flatten)]
    pub json: JsonArg,
}

// Options several commands take are defined once, here, and flattened into
// each command's arguments, so the flag, its help and its meaning are the
// same everywhere.

/// Where runs live, for every command that reads or writes runs.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where runs live: the database DIR/gauntlet.db and each run's files in
    /// DIR/<run-id>/ [env: GAUNTLET_STORE] [default: store]
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// The older spelling: a database FILE, with each run's files in
    /// store/<run-id>/ beside it [env: GAUNTLET_DB].
    #[arg(long, value_name = "FILE", hide = true, conflicts_with = "store")]
    pub db: Option<PathBuf>,
}

/// `--seed`.
#[derive(Debug, Clone, Copy, Args)]
pub struct SeedArg {
    /// Seeds every random draw of the run (op mix, latencies, think times,
    /// keys, the fault schedule, jitter); random when not given, always recorded.
    #[arg(id = "seed", long = "seed", value_name = "N")]
    pub value: Option<u64>,
}

/// `--set`.
#[derive(Debug, Clone, Args)]
pub struct SetArgs {
    /// Override a plan variable from its [vars] table (repeatable).
    #[arg(id = "set", long = "set", value_name = "KEY=VALUE")]
    pub values: Vec<String>,
}

/// `--quiet`.
#[derive(Debug, Clone, Copy, Args)]
pub struct QuietArg {
    /// No progress output; only how the run ended (and errors).
    #[arg(id = "quiet", long = "quiet", short = 'q')]
    pub on: bool,
}

/// `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonArg {
    /// Print the result as JSON instead of text.
    #[arg(id = "json", long = "json")]
    pub on: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet run examples/plans/shop.toml\n  \
    gauntlet run plan.toml --cycles 2 --modules api,worker\n  \
    gauntlet run plan.toml --set api_port=9000 --store /tmp/ci\n\n\
    A failed stage holds the run (exit 1); go on with `gauntlet retry RUN`,\n\
    `gauntlet override RUN --stage S --reason \"...\"` or `gauntlet abandon RUN`.\n\
    Reports (REPORT.json, REPORT.md, report.html, junit.xml) go to STORE/<run-id>/.\n\
    The plan format: docs/plan.md.")]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Module cycling: rounds over the modules, at most 1000 (adds a cycle stage if the plan has none).
    #[arg(long)]
    pub cycles: Option<u32>,
    /// Module cycling: only these modules, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub modules: Option<Vec<String>>,
    #[command(flatten)]
    pub sets: SetArgs,
    #[command(flatten)]
    pub seed: SeedArg,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub json: JsonArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  gauntlet runs\n  gauntlet runs --state held\n  gauntlet runs --plan shop --limit 5 --json"
)]
pub struct RunsArgs {
    /// Only runs in this state: running, held, interrupted, finished, abandoned.
    #[arg(long)]
    pub state: Option<String>,
    /// Only runs of this plan.
    #[arg(long)]
    pub plan: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Only runs of this kind: test, run, soak.
    #[arg(long)]
    pub kind: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "RUN is a run id, any unique prefix of one, or `latest`.\n\nExamples:\n  gauntlet show latest\n  gauntlet show r20261123-1745 --json"
)]
pub struct ShowArgs {
    /// The run: an id, a unique prefix, or `latest`.
    #[arg(default_value = "latest")]
    pub run: String,
    #[command(flatten)]
    pub json: JsonArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  gauntlet retry latest\n  gauntlet retry r20261123-174501-a3f")]
pub struct RetryArgs {
    /// The run: an id, a unique prefix, or `latest`.
    pub run: String,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  gauntlet override latest --stage smoke --reason \"flaky on this runner; ticket OPS-12\""
)]
pub struct OverrideArgs {
    /// The run: an id, a unique prefix, or `latest`.
    pub run: String,
    /// The failed stage to accept (default: the stage that holds the run).
    #[arg(long)]
    pub stage: Option<String>,
    /// Why; kept with the run and shown in every report.
    #[arg(long)]
    pub reason: String,
    /// Who overrides (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  gauntlet abandon latest --reason \"superseded by a new build\""
)]
pub struct AbandonArgs {
    /// The run: an id, a unique prefix, or `latest`.
    pub run: String,
    /// Why.
    #[arg(long, default_value = "abandoned by the operator")]
    pub reason: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  gauntlet report latest\n  gauntlet report latest --format html -o report.html\n  gauntlet report r2026 --format junit -o junit.xml"
)]
pub struct ReportArgs {
    /// The run: an id, a unique prefix, or `latest`.
    #[arg(default_value = "latest")]
    pub run: String,
    /// md, html, json or junit.
    #[arg(long, default_value = "md")]
    pub format: String,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet soak examples/plans/soak-shop.toml --minutes 480 --scenario all\n  \
    SOAK_MINUTES=2 USERS=4 gauntlet soak examples/plans/soak-redis.toml\n\n\
    Writes STORE/<run-id>/verdict.json (each invariant I1-I5 with its figures and evidence),\n\
    report.html, journal.jsonl and every service's log. Exit codes: 0 every gated invariant\n\
    passed, 1 one failed, 2 one could not decide, 254 a bad plan, 255 the soak could not run.\n\
    The plan format: docs/soak.md.")]
pub struct SoakArgs {
    /// The soak plan (TOML with a [soak] table).
    pub plan: PathBuf,
    /// How long users and faults run, in minutes (fractions allowed):
    /// 0.001 to 525600 (365 days).
    #[arg(long, env = "SOAK_MINUTES", allow_negative_numbers = true, value_parser = units::minutes)]
    pub minutes: Option<Minutes>,
    /// The fault scenario: a name the plan's faults list, `all` or `clean`.
    #[arg(long, env = "SCENARIO")]
    pub scenario: Option<String>,
    /// How many simulated users: 1 to 100000.
    #[arg(long, env = "USERS", value_name = "N", allow_negative_numbers = true, value_parser = units::users)]
    pub users: Option<u32>,
    #[command(flatten)]
    pub sets: SetArgs,
    #[command(flatten)]
    pub seed: SeedArg,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub json: JsonArg,
    #[command(flatten)]
    pub store: StoreArgs,
}
