//! `cargo bench -p gauntlet-txn [-- --sizes 10000,100000,1000000 --processes 10,100]`
//!
//! Generates Elle-paper-like list-append histories and checks each once
//! for strict serializability, two ways, each case in a child process so
//! its peak RSS (`VmHWM`) is its own:
//!
//! - `held`: the history generated whole as `Vec<Op>` (JSON values), then
//!   `check`: the RSS after generating, and the checker's increment on it;
//! - `streamed`: each op handed from the generator to a `TxnBuilder` as it
//!   is made, then `check_transactions`: the checker's own peak.
//!
//! Prints txns/s, time and memory per case.

// Prints a benchmark's figures, its whole point. The ban on print macros
// (clippy.toml) guards gauntlet's own output, not its benches'.
#![allow(clippy::disallowed_macros)]

use std::process::Command;
use std::time::Instant;

use gauntlet_txn::generate::{GenConfig, list_append, list_append_each};
use gauntlet_txn::{Options, TxnBuilder, Workload, check, check_transactions};

fn list(args: &[String], name: &str, default: &[usize]) -> Vec<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// `VmRSS` or `VmHWM` of this process, in MiB.
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0) as f64
        / 1024.0
}

fn run_case(mode: &str, txns: usize, processes: usize) {
    let cfg = GenConfig {
        txns,
        processes,
        seed: 42,
        ..GenConfig::default()
    };
    let options = Options::models(["strict-serializable"]);
    let start = Instant::now();
    let (analysis, secs, memory) = if mode == "held" {
        let history = list_append(&cfg);
        let gen_secs = start.elapsed().as_secs_f64();
        let held = status_mib("VmRSS:");
        let start = Instant::now();
        let analysis = check(&history, Workload::ListAppend, &options).expect("checks");
        let secs = start.elapsed().as_secs_f64();
        let peak = status_mib("VmHWM:");
        let memory = format!(
            "history held {held:.0} MiB (generated in {gen_secs:.1} s), checker +{:.0} MiB, peak {peak:.0} MiB",
            peak - held
        );
        (analysis, secs, memory)
    } else {
        let mut builder = TxnBuilder::new(Workload::ListAppend);
        list_append_each(&cfg, |op| builder.push(&op).expect("parses"));
        let parsed = builder.finish().expect("parses");
        let analysis = check_transactions(parsed, &options).expect("checks");
        let secs = start.elapsed().as_secs_f64();
        let memory = format!("generate+parse+check, peak {:.0} MiB", status_mib("VmHWM:"));
        (analysis, secs, memory)
    };
    println!(
        "{mode:<8}  txns {txns:>8}  processes {processes:>3}  valid {:<7}  {secs:>7.3} s  {:>9.0} txns/s  graph {} nodes {} edges  {memory}",
        analysis.valid.to_string(),
        txns as f64 / secs,
        analysis.graph_nodes,
        analysis.graph_edges,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let mode = &args[i + 1];
        let txns: usize = args[i + 2].parse().expect("--case MODE TXNS PROCESSES");
        let processes: usize = args[i + 3].parse().expect("--case MODE TXNS PROCESSES");
        run_case(mode, txns, processes);
        return;
    }
    let sizes = list(&args, "--sizes", &[10_000, 100_000, 1_000_000]);
    let processes = list(&args, "--processes", &[10, 100]);
    let exe = std::env::current_exe().expect("own path");
    for &n in &sizes {
        for &p in &processes {
            for mode in ["held", "streamed"] {
                let out = Command::new(&exe)
                    .args(["--case", mode, &n.to_string(), &p.to_string()])
                    .output()
                    .expect("run a case");
                print!("{}", String::from_utf8_lossy(&out.stdout));
                if !out.status.success() {
                    eprintln!(
                        "{mode} txns {n} processes {p}: failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
}
