use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use gauntlet_check::Validity;
use gauntlet_events::Events;
use gauntlet_store::StoreWriter;
use gauntlet_workbench::{CheckerSpec, RunError, RunOutcome, TestConfig};
use serde_json::Value;

use crate::cli::TestArgs;
use crate::exit::{self, Failure};
use crate::store_opt::Location;
use crate::test_record;

pub fn run(args: TestArgs) -> Result<u8> {
    let json = args.json.on;
    let quiet = args.quiet.on;
    let location = args.store.location()?;
    let cfg = config_from(args)?;
    let outcome = run_stored(&location, cfg, quiet)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome.results)?);
    } else if quiet {
        print_verdict(&outcome);
    } else {
        print_summary(&outcome);
    }
    if outcome.interrupted {
        return Err(Failure {
            code: exit::CRASHED,
            message: format!(
                "the run was interrupted; what was recorded is in {}",
                outcome.dir.display()
            ),
        }
        .into());
    }
    Ok(exit::for_validity(outcome.valid))
}

/// Runs one test as a run of the store at `location`: the run is created
/// first, the workbench writes into its directory, and what happened is
/// recorded when it ends, whichever way it ends.
pub fn run_stored(location: &Location, mut cfg: TestConfig, quiet: bool) -> Result<RunOutcome> {
    // A bad configuration is refused before it becomes a run.
    cfg.validate()
        .map_err(|e| Failure::bad_args(e.to_string()))?;
    let store = location.open(true)?;
    store.mark_dead_runs_interrupted()?;
    let (run, attempt) = test_record::create(&store, &cfg)?;
    if !quiet {
        eprintln!("gauntlet: stored as run {run}");
    }
    cfg.store = location.artifact_root();
    cfg.run_name = Some(run.to_string());
    // The run's events: printed for the person watching, and its faults
    // written as fault rows as they happen (on a connection of their own).
    let writer = Arc::new(StoreWriter::new(location.open(false)?, run.clone()));
    let events = Events::new(vec![
        Arc::new(crate::progress::Lines::new(quiet)),
        writer.clone(),
    ]);
    let outcome = run_workbench(cfg, events);
    if let Err(e) = writer.finish() {
        eprintln!("gauntlet: run {run}: a fault could not be recorded in the store: {e}");
    }
    // The verdict stands even if recording it fails; say so, keep the exit code.
    if let Err(e) = test_record::complete(&store, &run, attempt, &outcome) {
        eprintln!("gauntlet: run {run} could not be fully recorded in the store: {e:#}");
    }
    Ok(outcome?)
}

/// Runs one test on a fresh runtime, with Ctrl-C handling.
fn run_workbench(cfg: TestConfig, events: Events) -> Result<RunOutcome, RunError> {
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            context: "starting the runtime".into(),
            source,
        })?;
    let outcome = runtime.block_on(async {
        let cancel = crate::signals::cancel_on_signals();
        gauntlet_workbench::run_test(cfg, events, cancel).await
    });
    // Node reapers and delivery tasks end with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(2));
    outcome
}

fn config_from(a: TestArgs) -> Result<TestConfig> {
    let bad = Failure::bad_args;
    let bin = resolve_bin(&a.bin)?;
    let mut cfg = TestConfig::new(a.workload, bin);
    cfg.args = a.args.into_iter().map(Into::into).collect();
    cfg.node_count = a.node_count;
    cfg.time_limit = seconds("--time-limit", a.time_limit)?;
    cfg.rate = a.rate;
    cfg.concurrency = parse_concurrency(&a.concurrency, a.node_count).map_err(bad)?;
    let dist = a.latency_dist.parse().map_err(bad)?;
    cfg.latency = gauntlet_net::Latency::new(a.latency, dist);
    cfg.topology = a
        .topology
        .parse()
        .map_err(|e: gauntlet_net::TopologyError| bad(e.to_string()))?;
    cfg.nemesis = gauntlet_nemesis::parse_faults(&a.nemesis).map_err(bad)?;
    cfg.nemesis_interval = a.nemesis_interval;
    cfg.availability =
        match a.availability {
            Some(s) => Some(s.parse().map_err(|e: gauntlet_check::AvailabilityError| {
                bad(format!("--availability: {e}"))
            })?),
            None => None,
        };
    cfg.log_stderr = a.log_stderr;
    cfg.seed = a.seed.value.unwrap_or_else(random_seed);
    cfg.recovery = seconds("--recovery-time", a.recovery_time)?;
    cfg.rpc_timeout = seconds("--rpc-timeout", a.rpc_timeout)?;
    cfg.command_line = std::env::args().collect();
    for text in &a.checkers {
        let spec = CheckerSpec::parse(text).map_err(|e| bad(e.to_string()))?;
        cfg.checkers.push(match spec {
            CheckerSpec::Program { name, program } => CheckerSpec::Program {
                name,
                program: resolve_bin(&program)?,
            },
            builtin => builtin,
        });
    }
    cfg.checker_timeout = seconds("--checker-timeout", a.checker_timeout)?;
    Ok(cfg)
}

/// `--bin ./node` is made absolute so it does not depend on the nodes' cwd;
/// a bare name (`python3`) is looked up on PATH.
fn resolve_bin(bin: &std::path::Path) -> Result<std::path::PathBuf> {
    if bin.components().count() > 1 || bin.is_absolute() {
        return Ok(std::path::absolute(bin)?);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(bin))
        .find(|p| p.is_file());
    Ok(found.unwrap_or_else(|| std::path::absolute(bin).unwrap_or_else(|_| bin.to_owned())))
}

fn seconds(flag: &str, s: f64) -> Result<Duration> {
    if s.is_finite() && s >= 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(Failure::bad_args(format!(
            "{flag} must be a number of seconds >= 0, not {s}"
        )))
    }
}

/// `5` or `2n` (twice the node count), as Maelstrom's `--concurrency`.
fn parse_concurrency(s: &str, nodes: usize) -> Result<usize, String> {
    let err =
        || format!("--concurrency must be a number or Kn (K times the node count), not {s:?}");
    let n = match s.strip_suffix('n') {
        Some(k) => k.parse::<usize>().map_err(|_| err())? * nodes,
        None => s.parse::<usize>().map_err(|_| err())?,
    };
    if n == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    Ok(n)
}

fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 32)
}

/// 1,000 nodes need about 4,000 descriptors; lift the soft limit to the hard one.
fn raise_fd_limit() {
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
}

pub fn print_summary(o: &RunOutcome) {
    let r = &o.results;
    if let Some(checks) = r["checks"].as_object() {
        for (name, check) in checks {
            println!(
                "{name:<12} {:<8} {}",
                verdict(&check["valid"]),
                highlights(name, check)
            );
            if let Some(ev) = check["evidence"].as_array()
                && !ev.is_empty()
            {
                for item in ev.iter().take(3) {
                    match item["explanation"].as_str() {
                        // The linearizability checker explains itself in prose.
                        Some(text) => {
                            for line in text.lines() {
                                println!("{:<12}   {line}", "");
                            }
                        }
                        None => {
                            println!("{:<12}   evidence: {}", "", shorten(&item.to_string(), 160))
                        }
                    }
                }
                let total = check["evidence-count"].as_u64().unwrap_or(ev.len() as u64);
                if total > 3 {
                    println!("{:<12}   … {} in all, see results.json", "", total);
                }
            }
        }
    }
    let net = &r["net"];
    println!(
        "net          {} messages ({} between servers), {} per op",
        net["all"]["msg-count"],
        net["servers"]["msg-count"],
        match net["all"]["msgs-per-op"].as_f64() {
            Some(x) => format!("{x:.1}"),
            None => "-".into(),
        }
    );
    if let Some(by_f) = r["latency"]["by-f"].as_object() {
        for (f, figs) in by_f {
            let q = &figs["ok"]["latency-ms"];
            if q.is_object() {
                println!(
                    "latency      {f}: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (ok ops)",
                    ms(&q["0.5"]),
                    ms(&q["0.95"]),
                    ms(&q["0.99"]),
                    ms(&q["1"])
                );
            }
        }
    }
    println!();
    print_verdict(o);
}

/// The last two lines of the summary: the verdict and where results.json is.
fn print_verdict(o: &RunOutcome) {
    println!(
        "{}",
        match o.valid {
            Validity::Valid => "Everything looks good! ヽ(‘ー`)ノ",
            Validity::Invalid => "Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻",
            Validity::Unknown =>
                "The checks could not decide: nothing invalid was found, but something was not checked. ಠ~ಠ",
        }
    );
    println!("results: {}", o.dir.join("results.json").display());
}

fn verdict(v: &Value) -> &'static str {
    match v {
        Value::Bool(true) => "valid",
        Value::Bool(false) => "INVALID",
        _ => "unknown",
    }
}

fn ms(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.1}"))
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max).collect::<String>() + "…"
    }
}

/// The figures worth a glance for each check.
fn highlights(name: &str, check: &Value) -> String {
    let keys: &[&str] = match name {
        "workload" => &[
            "attempt-count",
            "stable-count",
            "lost-count",
            "never-read-count",
            "stale-count",
            "acknowledged-count",
            "duplicated-count",
            "final-reads",
            "acceptable",
            "error-count",
            "op-count",
            "key-count",
            "invalid-keys",
        ],
        "stats" => &["count", "ok-count", "fail-count", "info-count"],
        "availability" => &["ok-fraction"],
        "protocol" => &["bad-line-count"],
        "crashes" => &["crash-count"],
        _ => &[],
    };
    keys.iter()
        .filter_map(|k| {
            check
                .get(*k)
                .map(|v| format!("{k} {}", shorten(&v.to_string(), 60)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_accepts_numbers_and_multiples_of_nodes() {
        assert_eq!(parse_concurrency("4", 5), Ok(4));
        assert_eq!(parse_concurrency("2n", 5), Ok(10));
        assert!(parse_concurrency("0", 5).is_err());
        assert!(parse_concurrency("xn", 5).unwrap_err().contains("xn"));
    }
}
