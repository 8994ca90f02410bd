//! How long `read_history` takes on a big generated history, as JSONL and
//! as EDN: wall time and this process's CPU time, best of a few runs.
//!
//! `cargo run --release -p gauntlet-linear --example load_time -- [OPS] [RUNS] [DIR] [jsonl|edn]`
//! (defaults: 1000000 ops, 3 runs, the temp dir, both formats). The files are written
//! once to DIR (kept, and reused when present) so builds can be compared
//! on the same bytes.

// A measuring tool run by hand: it reports on stdout.
#![allow(clippy::disallowed_macros)]

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use gauntlet_history::{Op, Process};
use gauntlet_linear::generate::{GenConfig, generate};

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn edn(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "nil".into(),
        Value::Array(items) => format!("[{}]", items.iter().map(edn).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

fn edn_op(op: &Op) -> String {
    let kind = serde_json::to_value(op.kind).unwrap();
    let process = match op.process {
        Process::Client(p) => p.to_string(),
        Process::Nemesis => ":nemesis".into(),
    };
    let value = match &op.key {
        Some(k) => format!("#jepsen.independent/tuple [{} {}]", edn(k), edn(&op.value)),
        None => edn(&op.value),
    };
    format!(
        "{{:index {}, :time {}, :type :{}, :process {process}, :f :{}, :value {value}}}",
        op.index,
        op.time.unwrap_or(0),
        kind.as_str().unwrap(),
        op.f
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ops: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = args
        .get(2)
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let jsonl = dir.join(format!("gauntlet-load-{ops}.jsonl"));
    let edn_path = dir.join(format!("gauntlet-load-{ops}.edn"));
    if !jsonl.exists() || !edn_path.exists() {
        let history = generate(&GenConfig::new("cas-register", 10, ops, ops / 1000, 1));
        let mut j = std::io::BufWriter::new(std::fs::File::create(&jsonl).unwrap());
        let mut e = std::io::BufWriter::new(std::fs::File::create(&edn_path).unwrap());
        for op in &history {
            serde_json::to_writer(&mut j, op).unwrap();
            writeln!(j).unwrap();
            writeln!(e, "{}", edn_op(op)).unwrap();
        }
        j.flush().unwrap();
        e.flush().unwrap();
    }
    let only = args.get(3).map(String::as_str);
    for path in [&jsonl, &edn_path] {
        if only.is_some_and(|ext| path.extension().is_none_or(|e| e != ext)) {
            continue;
        }
        let size = std::fs::metadata(path).unwrap().len();
        let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
        let mut n = 0;
        for _ in 0..runs {
            let (t, c) = (Instant::now(), cpu_seconds());
            let h = gauntlet_history::read_history(Path::new(path)).unwrap();
            wall = wall.min(t.elapsed().as_secs_f64());
            cpu = cpu.min(cpu_seconds() - c);
            n = h.ops.len();
        }
        println!(
            "{}: {n} ops, {} MiB: best of {runs}: {wall:.2} s wall, {cpu:.2} s CPU",
            path.display(),
            size >> 20
        );
    }
}
