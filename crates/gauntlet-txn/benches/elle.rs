//! `cargo bench -p gauntlet-txn [-- --sizes 10000,100000,1000000 --processes 10,100]`
//!
//! Generates Elle-paper-like list-append histories and checks each once
//! for strict serializability, in a child process so its peak RSS
//! (`VmHWM`) is its own. Prints txns/s, time and peak RSS per case.

// Prints a benchmark's figures, its whole point. The ban on print macros
// (clippy.toml) guards gauntlet's own output, not its benches'.
#![allow(clippy::disallowed_macros)]

use std::process::Command;
use std::time::Instant;

use gauntlet_txn::generate::{GenConfig, list_append};
use gauntlet_txn::{Options, Workload, check};

fn list(args: &[String], name: &str, default: &[usize]) -> Vec<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn run_case(txns: usize, processes: usize) {
    let gen_start = Instant::now();
    let history = list_append(&GenConfig {
        txns,
        processes,
        seed: 42,
        ..GenConfig::default()
    });
    let gen_secs = gen_start.elapsed().as_secs_f64();
    let start = Instant::now();
    let analysis = check(
        &history,
        Workload::ListAppend,
        &Options::models(["strict-serializable"]),
    )
    .expect("generated history checks");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "txns {txns:>8}  processes {processes:>3}  valid {:<7}  check {secs:>7.3} s  {:>10.0} txns/s  graph {} nodes {} edges  peak RSS {:.0} MiB (history generated in {gen_secs:.1} s)",
        analysis.valid.to_string(),
        txns as f64 / secs,
        analysis.graph_nodes,
        analysis.graph_edges,
        vm_hwm_kib() as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let txns: usize = args[i + 1].parse().expect("--case TXNS PROCESSES");
        let processes: usize = args[i + 2].parse().expect("--case TXNS PROCESSES");
        run_case(txns, processes);
        return;
    }
    let sizes = list(&args, "--sizes", &[10_000, 100_000, 1_000_000]);
    let processes = list(&args, "--processes", &[10, 100]);
    let exe = std::env::current_exe().expect("own path");
    for &n in &sizes {
        for &p in &processes {
            let out = Command::new(&exe)
                .args(["--case", &n.to_string(), &p.to_string()])
                .output()
                .expect("run a case");
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprintln!(
                    "txns {n} processes {p}: failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}
