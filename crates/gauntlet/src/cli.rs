use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gauntlet",
    version,
    about = "Puts a distributed system through the real world before its users do",
    long_about = "Puts a distributed system through the real world before its users do.\n\n\
        Runs node programs (any language, JSON lines on stdin/stdout) on a simulated network, \
        drives them with clients, injects faults, and checks what happened.",
    after_help = "Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 the run could not be carried out."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Maelstrom-style test: nodes on a simulated network, clients, faults, checks.
    Test(Box<TestArgs>),
    /// Check a recorded history for linearizability (JSONL or Jepsen EDN).
    Check(CheckArgs),
    /// Run a correct and a broken example end to end and show both verdicts.
    Demo(DemoArgs),
    /// Measure Gauntlet's own speed.
    Bench(BenchArgs),
    /// Run one of the bundled example node programs (for `--bin`).
    #[command(hide = true)]
    ExampleNode { name: String },
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet test -w echo --bin ./my-node --node-count 1 --time-limit 10\n  \
    gauntlet test -w broadcast --bin ./my-node --node-count 5 --time-limit 20 --rate 100 --latency 100 --nemesis partition\n  \
    gauntlet test -w g-counter --bin ./counter --node-count 3 --nemesis partition,kill,pause --seed 42\n  \
    gauntlet test -w echo --bin python3 my_node.py   # arguments after --bin go to the program\n\n\
    Results go to STORE/<workload>/<timestamp>/ (STORE/latest points at the newest):\n  \
    history.jsonl, results.json, messages.jsonl, node-logs/<node>.log, run.json")]
pub struct TestArgs {
    /// The workload: echo, unique-ids, broadcast, g-set, g-counter, pn-counter, lin-kv.
    #[arg(short = 'w', long, default_value = "echo")]
    pub workload: String,
    /// The node program to run (each node is one process of it).
    #[arg(long)]
    pub bin: PathBuf,
    /// Arguments for the node program.
    #[arg(allow_hyphen_values = false)]
    pub args: Vec<String>,
    /// Number of nodes, named n0 … n{N-1}.
    #[arg(long, default_value_t = 5)]
    pub node_count: usize,
    /// Seconds of the main phase (setup and the final phase come on top).
    #[arg(long, default_value_t = 60.0)]
    pub time_limit: f64,
    /// Client requests per second, across all clients.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Client workers: a number, or Kn for K times the node count.
    #[arg(long, default_value = "1n")]
    pub concurrency: String,
    /// Mean one-way latency between nodes, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    pub latency: f64,
    /// constant, uniform or exponential.
    #[arg(long, default_value = "constant")]
    pub latency_dist: String,
    /// Faults to inject, comma-separated: partition, kill, pause.
    #[arg(long, default_value = "")]
    pub nemesis: String,
    /// Mean seconds between nemesis actions.
    #[arg(long, default_value_t = 10.0)]
    pub nemesis_interval: f64,
    /// Broadcast topology: grid, line, total, tree2, tree3, tree4.
    #[arg(long, default_value = "grid")]
    pub topology: String,
    /// Required availability: "total", or a fraction of ok ops in 0..1.
    #[arg(long)]
    pub availability: Option<String>,
    /// Also print node stderr to gauntlet's stderr.
    #[arg(long)]
    pub log_stderr: bool,
    /// Seed for the op mix, latencies and the nemesis schedule (random if absent; always recorded).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Seconds to wait after healing before the final reads.
    #[arg(long, default_value_t = 10.0)]
    pub recovery_time: f64,
    /// Seconds a client waits for a reply.
    #[arg(long, default_value_t = 5.0)]
    pub rpc_timeout: f64,
    /// Print results.json instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet check --model cas-register history.jsonl\n  \
    gauntlet check --model kv store/latest/history.jsonl --timeout 60s --html linear.html\n  \
    gauntlet check --model cas-register jepsen/history.edn --json\n\n\
    Models: register, cas-register, kv, set, fifo-queue, mutex, counter.\n\
    Exit codes: 0 linearizable, 1 not, 2 undecided (the time ran out), 254 bad input.")]
pub struct CheckArgs {
    /// The history: JSONL (one op per line) or a Jepsen history.edn.
    pub history: PathBuf,
    /// The model the history is checked against.
    #[arg(short, long)]
    pub model: String,
    /// Give up after this long (30s, 2m, ...); undecided keys make the verdict unknown.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Write a self-contained HTML timeline (the failing key's ops and partial linearization).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Check a keyed history as one object instead of key by key.
    #[arg(long)]
    pub no_split: bool,
    /// Read `[k v]` values as jepsen.independent tuples: k becomes the op's key.
    /// (Jepsen prints them as plain pairs, indistinguishable from a cas `[from to]`.)
    #[arg(long)]
    pub independent: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Seconds each demo run lasts.
    #[arg(long, default_value_t = 5.0)]
    pub time_limit: f64,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  gauntlet bench router\n  gauntlet bench router --nodes 5,25,100 --seconds 10 --json\n  gauntlet bench check --histories ../shared/data/histories --sizes 10000,100000"
)]
pub struct BenchArgs {
    /// What to measure: router (messages per second between real node
    /// processes) or check (the linearizability checker's ops per second and peak memory).
    pub what: String,
    /// check: a directory of reference histories with an expected.tsv.
    #[arg(long)]
    pub histories: Option<PathBuf>,
    /// check: sizes (ops) of the generated histories, comma-separated.
    #[arg(long, default_value = "10000,100000,1000000")]
    pub sizes: String,
    /// check: client counts of the generated histories, comma-separated.
    #[arg(long, default_value = "10,50,100")]
    pub clients: String,
    /// Cluster sizes to measure, comma-separated.
    #[arg(long, default_value = "5,25,100")]
    pub nodes: String,
    /// Seconds to measure each size.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Tokens each node injects; they circulate for the whole measurement.
    #[arg(long, default_value_t = 64)]
    pub tokens: u64,
    /// Print figures as JSON.
    #[arg(long)]
    pub json: bool,
}
