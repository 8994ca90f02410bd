use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use gauntlet_check::Validity;
use gauntlet_events::Events;
use gauntlet_pipeline::RunContext;
use gauntlet_workbench::{CheckerSpec, RunOutcome, TestConfig};
use serde_json::Value;

use crate::cli::TestArgs;
use crate::exit::{self, Failure};
use crate::out::{note, out};
use crate::store_opt::Location;

pub fn run(args: TestArgs) -> Result<u8> {
    if args.bin.is_none() {
        return crate::cmd_cluster::run(args);
    }
    let json = args.json.on;
    let quiet = args.quiet.on;
    let location = args.store.location()?;
    let lab_file = args.lab.clone();
    let mut cfg = config_from(args)?;
    // Held for the run, taken down when it drops (also on an error).
    let _lab = match &lab_file {
        Some(file) => Some(place_on_lab(&mut cfg, file)?),
        None => None,
    };
    let outcome = run_stored(&location, cfg, quiet)?;
    if json {
        out!("{}", serde_json::to_string_pretty(&outcome.results)?);
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

/// Runs one test as a run of the store at `location`, on the one driver
/// (`gauntlet_pipeline::test`): the run is created first, the workbench
/// writes into its directory, and what happened is recorded when it ends,
/// whichever way it ends.
pub fn run_stored(location: &Location, mut cfg: TestConfig, quiet: bool) -> Result<RunOutcome> {
    // A bad configuration is refused before it becomes a run.
    cfg.validate()
        .map_err(|e| Failure::bad_args(e.to_string()))?;
    let store = location.open(true)?;
    store.mark_dead_runs_interrupted()?;
    cfg.store = location.artifact_root();
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The person watching sees the run's notes and warnings.
    let events = Events::new(vec![Arc::new(crate::progress::Lines::new(quiet))]);
    let tested = runtime.block_on(async {
        let cancel = crate::signals::cancel_on_signals();
        gauntlet_pipeline::test::test(&store, cfg, RunContext::local(events), cancel).await
    });
    // Node reapers and delivery tasks end with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(2));
    let tested = tested?;
    // The verdict stands even if recording it fails; say so, keep the exit code.
    if let Err(e) = &tested.recorded {
        note!("gauntlet: the run could not be fully recorded in the store: {e}");
    }
    Ok(tested.workbench?)
}

/// Builds the lab of `file` and puts node `i` on its `i`-th host (round
/// robin); partitions cut the hosts' real network too.
fn place_on_lab(cfg: &mut TestConfig, file: &std::path::Path) -> Result<gauntlet_lab::Lab> {
    let spec = gauntlet_plan::load_lab(file).map_err(|e| Failure::bad_args(e.to_string()))?;
    if spec.hosts.is_empty() {
        return Err(Failure::bad_args(format!(
            "{}: the lab has no [[host]] to run nodes on",
            file.display()
        )));
    }
    let lab = gauntlet_lab::Lab::up(
        &spec,
        &gauntlet_lab::LabOptions {
            seed: cfg.seed,
            source: std::path::absolute(file).ok(),
        },
    )
    .map_err(crate::cmd_lab::lab_failure)?;
    let hosts: Vec<&str> = spec.hosts.iter().map(|h| h.name.as_str()).collect();
    let placement: Vec<(String, String)> = (0..cfg.node_count)
        .map(|i| (format!("n{i}"), hosts[i % hosts.len()].to_owned()))
        .collect();
    cfg.node_backends = hosts
        .iter()
        .take(cfg.node_count)
        .map(|h| Ok(Arc::new(lab.backend(h)?) as Arc<dyn gauntlet_node::Backend>))
        .collect::<Result<_, gauntlet_lab::LabError>>()
        .map_err(crate::cmd_lab::lab_failure)?;
    let network =
        gauntlet_lab::LabNet::new(lab.record(), &placement).map_err(crate::cmd_lab::lab_failure)?;
    cfg.network = Some(gauntlet_workbench::RealNetwork(Arc::new(network)));
    Ok(lab)
}

fn config_from(a: TestArgs) -> Result<TestConfig> {
    let bad = Failure::bad_args;
    let Some(bin) = &a.bin else {
        return Err(bad("--bin is missing".to_owned()));
    };
    let bin = resolve_bin(bin)?;
    let mut cfg = TestConfig::new(a.workload, bin);
    cfg.args = a.args.into_iter().map(Into::into).collect();
    // The numbers were range-checked when the arguments were parsed
    // (units.rs); what depends on two options is checked here.
    cfg.node_count = a.node_count;
    cfg.time_limit = a.time_limit.0;
    cfg.rate = a.rate.0;
    cfg.concurrency = a.concurrency.workers(a.node_count).ok_or_else(|| {
        bad(format!(
            "--concurrency {} makes more than {} workers for {} nodes",
            a.concurrency,
            TestConfig::MAX_CONCURRENCY,
            a.node_count
        ))
    })?;
    let dist = a.latency_dist.parse().map_err(bad)?;
    cfg.latency = gauntlet_net::Latency::new(a.latency.0, dist)
        .map_err(|e| bad(format!("--latency: {e}")))?;
    cfg.topology = a
        .topology
        .parse()
        .map_err(|e: gauntlet_net::TopologyError| bad(e.to_string()))?;
    cfg.nemesis = gauntlet_nemesis::parse_faults(&a.nemesis).map_err(bad)?;
    cfg.nemesis_interval = a.nemesis_interval.0.as_secs_f64();
    cfg.availability =
        match a.availability {
            Some(s) => Some(s.parse().map_err(|e: gauntlet_check::AvailabilityError| {
                bad(format!("--availability: {e}"))
            })?),
            None => None,
        };
    cfg.workload_options = gauntlet_workbench::WorkloadOptions {
        key_count: a.key_count,
        max_txn_length: a.max_txn_length,
        max_writes_per_key: a.max_writes_per_key,
    };
    cfg.consistency_models = a.consistency_models.0;
    cfg.log_stderr = a.log_stderr;
    cfg.seed = a.seed.value.unwrap_or_else(random_seed);
    cfg.recovery = a.recovery_time.0;
    cfg.rpc_timeout = a.rpc_timeout.0;
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
    cfg.checker_timeout = a.checker_timeout.0;
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
            out!(
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
                                out!("{:<12}   {line}", "");
                            }
                        }
                        None => {
                            out!("{:<12}   evidence: {}", "", shorten(&item.to_string(), 160))
                        }
                    }
                }
                let total = check["evidence-count"].as_u64().unwrap_or(ev.len() as u64);
                if total > 3 {
                    out!("{:<12}   … {} in all, see results.json", "", total);
                }
            }
        }
    }
    let net = &r["net"];
    out!(
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
                out!(
                    "latency      {f}: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (ok ops)",
                    ms(&q["0.5"]),
                    ms(&q["0.95"]),
                    ms(&q["0.99"]),
                    ms(&q["1"])
                );
            }
        }
    }
    out!();
    print_verdict(o);
}

/// The last two lines of the summary: the verdict and where results.json is.
fn print_verdict(o: &RunOutcome) {
    out!(
        "{}",
        match o.valid {
            Validity::Valid => "Everything looks good! ヽ(‘ー`)ノ",
            Validity::Invalid => "Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻",
            Validity::Unknown =>
                "The checks could not decide: nothing invalid was found, but something was not checked. ಠ~ಠ",
        }
    );
    out!("results: {}", o.dir.join("results.json").display());
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
