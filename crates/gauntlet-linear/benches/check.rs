//! `cargo bench -p gauntlet-linear [-- --sizes 10000,100000 --clients 10,50 --json]`
//!
//! `--load jsonl` (or `edn`) writes each generated history to a file and
//! checks what `read_history` reads back, printing how long the read took.
//!
//! A plain benchmark binary (no criterion: each case checks one big
//! history once, which criterion's repeated sampling does not suit). Every
//! case runs in a child process of this binary (`--case N`), so its peak
//! RSS (`VmHWM`) is its own. Prints one line per case, or JSON with
//! `--json`.

// Prints a benchmark's figures, its whole point. The ban on print macros
// (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

use std::process::Command;
use std::time::Duration;

use gauntlet_linear::bench::{BenchConfig, BenchFigure, cases, format_figure, run_case};

fn list(arg: Option<&String>) -> Option<Vec<usize>> {
    arg.map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
}

fn config(args: &[String]) -> BenchConfig {
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let mut cfg = BenchConfig::default();
    if let Some(s) = list(get("--sizes")) {
        cfg.sizes = s;
    }
    if let Some(c) = list(get("--clients")) {
        cfg.clients = c;
    }
    if let Some(t) = get("--threads").and_then(|t| t.parse().ok()) {
        cfg.threads = t;
    }
    if let Some(t) = get("--timeout").and_then(|t| t.parse::<f64>().ok()) {
        cfg.timeout = Some(Duration::from_secs_f64(t));
    }
    if args.iter().any(|a| a == "--no-files") {
        cfg.histories_dir = None;
    }
    cfg.load_via = match get("--load").map(String::as_str) {
        None => None,
        Some("jsonl") => Some(gauntlet_history::Format::Jsonl),
        Some("edn") => Some(gauntlet_history::Format::Edn),
        Some(other) => panic!("--load jsonl|edn, not {other:?}"),
    };
    cfg
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = config(&args);
    let all = cases(&cfg);
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1))
        .cloned();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let n: usize = args[i + 1].parse().expect("--case N");
        match run_case(&all[n], &cfg) {
            Ok(f) => println!("{}", serde_json::to_string(&f).unwrap()),
            Err(e) => {
                eprintln!("{}: {e}", all[n].name());
                std::process::exit(1);
            }
        }
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let exe = std::env::current_exe().expect("own path");
    let mut figures: Vec<BenchFigure> = Vec::new();
    for (n, case) in all.iter().enumerate() {
        if filter
            .as_ref()
            .is_some_and(|f| !case.name().contains(f.as_str()))
        {
            continue;
        }
        let out = Command::new(&exe)
            .args(&args)
            .arg("--case")
            .arg(n.to_string())
            .output()
            .expect("run a case");
        if !out.status.success() {
            eprintln!(
                "{}: failed: {}",
                case.name(),
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        let f: BenchFigure = serde_json::from_slice(&out.stdout).expect("case output");
        if !json {
            println!("{}", format_figure(&f));
        }
        figures.push(f);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    }
}
