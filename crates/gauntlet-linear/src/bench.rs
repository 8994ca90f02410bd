//! The benchmark behind `gauntlet bench check` and `cargo bench -p
//! gauntlet-linear`: times the checker on reference histories and on
//! generated ones, reporting operations per second and peak memory.
//!
//! Each case is timed once (these are big inputs, not microbenchmarks).
//! Peak memory is the process's `VmHWM`, reset before each case through
//! `/proc/self/clear_refs` (Linux), so it is the case's peak resident set,
//! the history included; run each case in its own process (as
//! `benches/check.rs` does) for figures untouched by the allocator's
//! leftovers from earlier cases.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gauntlet_check::Validity;
use gauntlet_history::{Format, Op, Process};
use serde::{Deserialize, Serialize};

use crate::check::{Analysis, Options};
use crate::generate::{GenConfig, generate};
use crate::models::model_by_name;

/// Which cases to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// A directory laid out like the repository's `testdata/histories` (with
    /// `expected.tsv`); `None` skips the reference histories.
    pub histories_dir: Option<PathBuf>,
    /// Client counts for generated histories.
    pub clients: Vec<usize>,
    /// Operation counts for generated histories.
    pub sizes: Vec<usize>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Per-case deadline; a case that hits it reports `unknown`.
    pub timeout: Option<Duration>,
    pub seed: u64,
    /// Also write each generated history to a temporary file in this
    /// format and check what `read_history` reads back, timing the read
    /// (`load-seconds`); `None` checks the generated ops directly.
    pub load_via: Option<Format>,
}

impl Default for BenchConfig {
    /// The repository's reference histories if present; 10, 50 and 100
    /// clients; 10^4, 10^5 and 10^6 operations.
    fn default() -> BenchConfig {
        // From the repository's root, or from this crate's folder (where
        // `cargo bench` runs); an installed binary far from a checkout
        // simply has none.
        let candidates = [
            PathBuf::from("testdata/histories"),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/histories"),
        ];
        BenchConfig {
            histories_dir: candidates
                .into_iter()
                .find(|dir| dir.join("expected.tsv").exists()),
            clients: vec![10, 50, 100],
            sizes: vec![10_000, 100_000, 1_000_000],
            threads: 0,
            timeout: Some(Duration::from_secs(300)),
            seed: 1,
            load_via: None,
        }
    }
}

/// One thing to time.
#[derive(Debug, Clone, PartialEq)]
pub enum BenchCase {
    /// Reference files checked one after the other (one figure for all).
    Files {
        name: String,
        model: String,
        files: Vec<PathBuf>,
        split: bool,
    },
    /// A generated history.
    Generated {
        name: String,
        config: GenConfig,
        split: bool,
    },
}

impl BenchCase {
    pub fn name(&self) -> &str {
        match self {
            BenchCase::Files { name, .. } | BenchCase::Generated { name, .. } => name,
        }
    }
}

/// One case's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BenchFigure {
    pub name: String,
    pub model: String,
    /// Histories checked (1 for generated cases).
    pub histories: usize,
    /// Client operations (invoke + completion pairs) over all histories.
    pub ops: usize,
    pub keys: usize,
    pub clients: Option<usize>,
    pub split: bool,
    /// The worst verdict over the case's histories.
    pub valid: Validity,
    /// Time in the checker (loading and generating excluded).
    pub seconds: f64,
    pub ops_per_sec: f64,
    /// Configurations explored.
    pub configs: u64,
    /// Peak resident set during the case (history included), KiB; `None`
    /// where `/proc` is missing.
    pub peak_rss_kib: Option<u64>,
    /// Resident set when the case started, KiB.
    pub start_rss_kib: Option<u64>,
    /// Time reading the history file back ([`BenchConfig::load_via`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_seconds: Option<f64>,
    /// The size of that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_bytes: Option<u64>,
}

/// The cases a config asks for: reference sets first, then generated
/// cas-register histories without and with keys (one key per 1,000
/// operations), then Porcupine-like kv histories split and whole.
pub fn cases(cfg: &BenchConfig) -> Vec<BenchCase> {
    let mut out = Vec::new();
    if let Some(dir) = &cfg.histories_dir
        && let Ok(table) = std::fs::read_to_string(dir.join("expected.tsv"))
    {
        let rows: Vec<(String, String)> = table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                (cols.len() >= 2).then(|| (cols[0].to_owned(), cols[1].to_owned()))
            })
            .collect();
        let etcd: Vec<PathBuf> = rows
            .iter()
            .filter(|(f, _)| f.starts_with("etcd/"))
            .map(|(f, _)| dir.join(f))
            .collect();
        if !etcd.is_empty() {
            out.push(BenchCase::Files {
                name: format!("etcd ({} Jepsen histories)", etcd.len()),
                model: "cas-register".into(),
                files: etcd,
                split: true,
            });
        }
        for (f, model) in rows.iter().filter(|(f, _)| !f.starts_with("etcd/")) {
            for split in [true, false] {
                out.push(BenchCase::Files {
                    name: format!("{f}{}", if split { "" } else { " (whole)" }),
                    model: model.clone(),
                    files: vec![dir.join(f)],
                    split,
                });
            }
        }
    }
    for &keyed in &[false, true] {
        for &ops in &cfg.sizes {
            for &clients in &cfg.clients {
                let keys = if keyed { (ops / 1000).max(1) } else { 0 };
                let config = GenConfig::new("cas-register", clients, ops, keys, cfg.seed);
                out.push(BenchCase::Generated {
                    name: format!(
                        "cas-register {clients} clients {ops} ops {}",
                        if keyed {
                            format!("{keys} keys")
                        } else {
                            "no keys".to_owned()
                        }
                    ),
                    config,
                    split: true,
                });
            }
        }
    }
    for &clients in &cfg.clients {
        for split in [true, false] {
            let config = GenConfig::new("kv", clients, 10_000, 10, cfg.seed);
            out.push(BenchCase::Generated {
                name: format!(
                    "kv {clients} clients 10000 ops 10 keys{}",
                    if split { "" } else { " (whole)" }
                ),
                config,
                split,
            });
        }
    }
    out
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets the kernel's peak-RSS mark to the current RSS (Linux 4.0+).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn load(path: &Path) -> Result<Vec<Op>, String> {
    gauntlet_history::read_jsonl(path).map_err(|e| e.to_string())
}

/// Writes `ops` to a temporary file in `format`, reads it back with
/// `read_history` and returns what it read, the seconds the read took and
/// the file's size. The file is removed.
fn through_file(ops: Vec<Op>, format: Format) -> Result<(Vec<Op>, f64, u64), String> {
    use std::io::Write as _;
    let ext = match format {
        Format::Jsonl => "jsonl",
        Format::Edn => "edn",
    };
    let path =
        std::env::temp_dir().join(format!("gauntlet-bench-load-{}.{ext}", std::process::id()));
    let write = || -> std::io::Result<u64> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut line = String::new();
        for op in &ops {
            line.clear();
            match format {
                Format::Jsonl => line.push_str(&serde_json::to_string(op)?),
                Format::Edn => edn_op(&mut line, op),
            }
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        out.flush()?;
        Ok(std::fs::metadata(&path)?.len())
    };
    let bytes = write().map_err(|e| format!("{}: {e}", path.display()))?;
    drop(ops);
    let started = Instant::now();
    let read = gauntlet_history::read_history(&path);
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok((read.map_err(|e| e.to_string())?.ops, seconds, bytes))
}

/// One op as a line of a Jepsen `history.edn`; a key as an independent tuple.
fn edn_op(out: &mut String, op: &Op) {
    use std::fmt::Write as _;
    let _ = write!(out, "{{:index {}", op.index);
    if let Some(t) = op.time {
        let _ = write!(out, ", :time {t}");
    }
    let kind = serde_json::to_value(op.kind).unwrap_or_default();
    let _ = write!(out, ", :type :{}", kind.as_str().unwrap_or("info"));
    match op.process {
        Process::Client(p) => {
            let _ = write!(out, ", :process {p}");
        }
        Process::Nemesis => out.push_str(", :process :nemesis"),
    }
    let _ = write!(out, ", :f :{}, :value ", op.f);
    if let Some(k) = &op.key {
        out.push_str("#jepsen.independent/tuple [");
        edn_value(out, k);
        out.push(' ');
        edn_value(out, &op.value);
        out.push(']');
    } else {
        edn_value(out, &op.value);
    }
    if let Some(e) = &op.error {
        out.push_str(", :error ");
        edn_value(out, e);
    }
    out.push('}');
}

fn edn_value(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        // JSON's string escapes are a superset of what EDN readers need here.
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                edn_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(' ');
                edn_value(out, v);
            }
            out.push('}');
        }
    }
}

/// Runs one case in this process.
pub fn run_case(case: &BenchCase, cfg: &BenchConfig) -> Result<BenchFigure, String> {
    reset_peak();
    let start_rss_kib = status_kib("VmRSS:");
    let (model_name, split) = match case {
        BenchCase::Files { model, split, .. } => (model.clone(), *split),
        BenchCase::Generated { config, split, .. } => (config.model.clone(), *split),
    };
    let model = model_by_name(&model_name).ok_or_else(|| format!("unknown model {model_name}"))?;
    let mut load_seconds = None;
    let mut load_bytes = None;
    let histories: Vec<Vec<Op>> = match case {
        BenchCase::Files { files, .. } => {
            files.iter().map(|f| load(f)).collect::<Result<_, _>>()?
        }
        BenchCase::Generated { config, .. } => match cfg.load_via {
            None => vec![generate(config)],
            Some(format) => {
                let (ops, seconds, bytes) = through_file(generate(config), format)?;
                load_seconds = Some(seconds);
                load_bytes = Some(bytes);
                vec![ops]
            }
        },
    };
    let mut analyses: Vec<Analysis> = Vec::with_capacity(histories.len());
    let started = Instant::now();
    for h in &histories {
        let options = Options {
            split,
            threads: cfg.threads,
            deadline: cfg.timeout.and_then(|t| Instant::now().checked_add(t)),
            ..Options::default()
        };
        analyses.push(
            model
                .check_history(h, &options)
                .map_err(|e| e.to_string())?,
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let ops: usize = analyses.iter().map(|a| a.counts.calls).sum();
    Ok(BenchFigure {
        name: case.name().to_owned(),
        model: model_name,
        histories: histories.len(),
        ops,
        keys: analyses.iter().map(|a| a.key_count).max().unwrap_or(0),
        clients: match case {
            BenchCase::Generated { config, .. } => Some(config.clients),
            BenchCase::Files { .. } => None,
        },
        split,
        valid: Validity::worst_of(analyses.iter().map(|a| a.valid)),
        seconds,
        ops_per_sec: ops as f64 / seconds.max(1e-9),
        configs: analyses.iter().map(|a| a.configs).sum(),
        peak_rss_kib: status_kib("VmHWM:"),
        start_rss_kib,
        load_seconds,
        load_bytes,
    })
}

/// Runs every case of `cfg` in this process, in order.
pub fn bench_suite(cfg: &BenchConfig) -> Vec<Result<BenchFigure, String>> {
    cases(cfg).iter().map(|c| run_case(c, cfg)).collect()
}

/// One line of a plain-text table for a figure.
pub fn format_figure(f: &BenchFigure) -> String {
    let load = match (f.load_seconds, f.load_bytes) {
        (Some(s), Some(b)) => format!("  (read back in {s:.3} s, {} MiB)", b >> 20),
        _ => String::new(),
    };
    format!(
        "{:<52} {:>8} ops {:>9.4} s {:>11.0} ops/s {:>8} MiB peak  {}{load}",
        f.name,
        f.ops,
        f.seconds,
        f.ops_per_sec,
        f.peak_rss_kib
            .map_or("?".to_owned(), |k| (k / 1024).to_string()),
        f.valid
    )
}
