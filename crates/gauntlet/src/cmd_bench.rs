use std::time::Duration;

use anyhow::Result;

use crate::cli::BenchArgs;
use crate::exit::{self, Failure};
use crate::out::out;

pub fn run(args: BenchArgs) -> Result<u8> {
    match args.what.as_str() {
        "router" => router(args),
        "flood" => flood(args),
        "check" => check(args),
        "soak" => soak(args),
        "elle" => elle(args),
        "lab" => lab(args),
        "client" => client(args),
        "docker" => docker(args),
        "serve" => serve(args),
        other => Err(Failure::bad_args(format!(
            "unknown benchmark {other:?}; there are: router, flood, check, elle, soak, lab, client, docker, serve"
        ))),
    }
}

/// The linearizability checker on reference and generated histories.
fn check(args: BenchArgs) -> Result<u8> {
    use gauntlet_linear::bench::{BenchConfig, bench_suite, format_figure};
    if let Some(dir) = &args.histories
        && !dir.join("expected.tsv").is_file()
    {
        return Err(Failure::bad_args(format!(
            "{}: no expected.tsv there",
            dir.display()
        )));
    }
    let cfg = BenchConfig {
        histories_dir: args.histories.clone(),
        clients: args
            .clients
            .as_ref()
            .map_or_else(|| vec![10, 50, 100], |c| c.0.clone()),
        sizes: args.sizes.0.clone(),
        ..BenchConfig::default()
    };
    let mut figures = Vec::new();
    for result in bench_suite(&cfg) {
        let figure = result.map_err(|e| anyhow::anyhow!(e))?;
        if !args.json.on {
            out!("{}", format_figure(&figure));
        }
        figures.push(figure);
    }
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&figures)?);
    }
    Ok(exit::VALID)
}

/// The transaction checker, as a user meets it: per size and process
/// count, an Elle-paper-like list-append history (1–5 micro-ops, 100
/// active keys, 100 appends per key; strict serializable by construction)
/// is generated straight to a JSONL file, then a child process (so its
/// peak RSS is the case's own) reads it as `gauntlet check --model
/// list-append` does and checks it strict-serializable.
fn elle(args: BenchArgs) -> Result<u8> {
    if let Some(path) = &args.elle_case {
        let figure = elle_case(path)?;
        out!("{}", serde_json::to_string(&figure)?);
        return Ok(exit::VALID);
    }
    let clients = args
        .clients
        .as_ref()
        .map_or_else(|| vec![10, 100], |c| c.0.clone());
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut figures = Vec::new();
    for &txns in &args.sizes.0 {
        for &processes in &clients {
            let path = dir.path().join(format!("elle-{txns}-{processes}.jsonl"));
            let written = std::time::Instant::now();
            let bytes = write_elle_history(&path, txns, processes)?;
            let generate_seconds = written.elapsed().as_secs_f64();
            let child = std::process::Command::new(&exe)
                .args(["bench", "elle", "--elle-case"])
                .arg(&path)
                .stdin(std::process::Stdio::null())
                .output()?;
            let _ = std::fs::remove_file(&path);
            if !child.status.success() {
                return Err(anyhow::anyhow!(
                    "bench elle: the case of {txns} transactions, {processes} processes failed: {}",
                    String::from_utf8_lossy(&child.stderr).trim()
                ));
            }
            let mut figure: serde_json::Value = serde_json::from_slice(&child.stdout)?;
            figure["processes"] = processes.into();
            figure["file_mib"] = (bytes as f64 / 1048576.0).into();
            figure["generate_seconds"] = generate_seconds.into();
            if !args.json.on {
                let f = |k: &str| figure[k].as_f64().unwrap_or(f64::NAN);
                out!(
                    "elle  {:>8} txns  {:>4} processes  read {:>7.3} s + check {:>7.3} s = {:>7.3} s  {:>9.0} txns/s  peak RSS {:>6.0} MiB  {}  ({:.0} MiB JSONL)",
                    txns,
                    processes,
                    f("read_seconds"),
                    f("check_seconds"),
                    f("seconds"),
                    f("txns_per_sec"),
                    f("peak_rss_mib"),
                    figure["valid"].as_str().unwrap_or("?"),
                    f("file_mib"),
                );
            }
            figures.push(figure);
        }
    }
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&figures)?);
    }
    Ok(exit::VALID)
}

/// Generates one bench history straight to `path` as JSONL (never held
/// whole); returns the file's size.
fn write_elle_history(path: &std::path::Path, txns: usize, processes: usize) -> Result<u64> {
    use gauntlet_txn::generate::{GenConfig, list_append_each};
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut failed: Option<std::io::Error> = None;
    list_append_each(
        &GenConfig {
            txns,
            processes,
            seed: 42,
            ..GenConfig::default()
        },
        |op| {
            if failed.is_none()
                && let Err(e) = serde_json::to_writer(&mut out, &op)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"))
            {
                failed = Some(e);
            }
        },
    );
    if let Some(e) = failed {
        return Err(anyhow::anyhow!("{}: {e}", path.display()));
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// One case, in this (child) process: read `path` into transactions (the
/// streamed reader `gauntlet check` uses), check strict-serializable, and
/// the figures, peak RSS included.
fn elle_case(path: &std::path::Path) -> Result<serde_json::Value> {
    let started = std::time::Instant::now();
    let read = crate::cmd_check_txn::read(path, gauntlet_txn::Workload::ListAppend)?;
    let read_seconds = started.elapsed().as_secs_f64();
    let txns = read.parsed.len();
    drop(read.lines);
    let checked = std::time::Instant::now();
    let analysis = gauntlet_txn::check_transactions(
        read.parsed,
        &gauntlet_txn::Options::models(["strict-serializable"]),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let check_seconds = checked.elapsed().as_secs_f64();
    let seconds = started.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "txns": txns,
        "valid": analysis.valid.to_string(),
        "read_seconds": read_seconds,
        "check_seconds": check_seconds,
        "seconds": seconds,
        "txns_per_sec": txns as f64 / seconds.max(1e-9),
        "peak_rss_mib": status_kib("VmHWM:").map(|k| k as f64 / 1024.0),
        "graph_nodes": analysis.graph_nodes,
        "graph_edges": analysis.graph_edges,
    }))
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// gauntlet's own memory while every node floods the network as fast as it
/// can and none reads its stdin (`node-flood`'s firehose): the inboxes and
/// the journal must stay bounded.
fn flood(args: BenchArgs) -> Result<u8> {
    each_cluster_size(&args, |runtime, program, n| {
        let report = runtime.block_on(gauntlet_workbench::bench_flood(
            gauntlet_workbench::FloodBench {
                program,
                args: node_flood_args(),
                nodes: n,
                duration: args.seconds.0,
            },
        ))?;
        let line = format!(
            "flood  {:>4} nodes  RSS {:>6.1} → {:>6.1} MiB (peak {:>6.1})  {:>9.0} msgs/s sent, \
             {} dropped (inbox-full), journal held the nodes {} times for {:.1} s, \
             messages.jsonl {:.0} MiB  ({:.1} s)",
            n,
            report.rss_start_mib,
            report.rss_end_mib,
            report.rss_peak_mib,
            report.messages_per_sec,
            report.dropped_inbox_full,
            report.journal_holds,
            report.journal_held_seconds,
            report.journal_mib,
            report.seconds
        );
        Ok((report, line))
    })
}

fn router(args: BenchArgs) -> Result<u8> {
    each_cluster_size(&args, |runtime, program, n| {
        let report = runtime.block_on(gauntlet_workbench::bench_router(
            gauntlet_workbench::RouterBench {
                program,
                args: node_flood_args(),
                nodes: n,
                duration: args.seconds.0,
                tokens_per_node: args.tokens,
            },
        ))?;
        let line = format!(
            "router  {:>4} nodes  {:>9.0} msgs/s  {:>6.2} µs gauntlet CPU per message  ({} messages in {:.1} s)",
            n, report.messages_per_sec, report.cpu_us_per_message, report.messages, report.seconds
        );
        Ok((report, line))
    })
}

/// The bundled `node-flood`, run as this binary's `example-node`.
fn node_flood_args() -> Vec<std::ffi::OsString> {
    vec!["example-node".into(), "node-flood".into()]
}

/// Runs a network bench once per `--nodes` size on one runtime, with this
/// binary as the node program: a line per size, or all reports as JSON.
fn each_cluster_size<R: serde::Serialize>(
    args: &BenchArgs,
    bench: impl Fn(&tokio::runtime::Runtime, std::path::PathBuf, usize) -> Result<(R, String)>,
) -> Result<u8> {
    let sizes = args.nodes.0.clone();
    let exe = std::env::current_exe()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut all = Vec::new();
    for n in sizes {
        let (report, line) = bench(&runtime, exe.clone(), n)?;
        if !args.json.on {
            out!("{line}");
        }
        all.push(report);
    }
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&all)?);
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(exit::VALID)
}

/// gauntlet's own cost during a soak: `users` simulated users writing and
/// reading the example http-service (durable, on a temp file), the
/// observer probing every second, no faults. CPU is gauntlet's own
/// (`/proc/self/stat`: the service and its children are other processes);
/// memory is gauntlet's resident set, sampled every second, with its
/// least-squares slope.
fn soak(args: BenchArgs) -> Result<u8> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let port = free_port()?;
    let plan_path = dir.path().join("bench-soak.toml");
    std::fs::write(
        &plan_path,
        format!(
            r#"name = "bench-soak"
[[service]]
name = "api"
command = ["{exe}", "example-node", "http-service", "--port", "{port}", "--data-file", "{data}"]
[service.health]
http = "http://127.0.0.1:{port}/health"

[soak]
minutes = {minutes}
warmup = "5s"
scenario = "clean"

[users]
count = {users}
think_min = "100ms"
think_max = "500ms"
[[users.step]]
name = "put"
method = "PUT"
url = "http://127.0.0.1:{port}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
[[users.step]]
name = "get"
url = "http://127.0.0.1:{port}/kv/{{{{key}}}}"

[readback]
http = "http://127.0.0.1:{port}/kv/{{{{key}}}}"

[observer]
interval = "1s"
"#,
            exe = exe.display(),
            data = dir.path().join("kv.data").display(),
            minutes = args.minutes.as_minutes_f64(),
            users = args.users,
        ),
    )?;
    let plan = gauntlet_plan::load(&plan_path, &gauntlet_plan::LoadOptions::default())
        .map_err(|e| anyhow::anyhow!(e))?;
    let store = gauntlet_store::Store::open(dir.path().join("gauntlet.db"))?;
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(f64, u64)>::new()));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let sampler = {
        let samples = samples.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            loop {
                if let Some(rss) = gauntlet_node::self_rss_bytes() {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((start.elapsed().as_secs_f64(), rss));
                }
                if done_rx.recv_timeout(Duration::from_secs(1)).is_ok() {
                    return;
                }
            }
        })
    };
    let cpu_before = self_cpu_seconds();
    let wall = std::time::Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(async {
        let (_tx, cancel) = tokio::sync::watch::channel(false);
        gauntlet_pipeline::soak::soak(
            store,
            gauntlet_pipeline::soak::SoakStart {
                plan,
                plan_text: String::new(),
                seed: 1,
                command_line: std::env::args().collect(),
                context: gauntlet_pipeline::RunContext::local(gauntlet_events::Events::none()),
            },
            cancel,
        )
        .await
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    let seconds = wall.elapsed().as_secs_f64();
    let cpu = self_cpu_seconds() - cpu_before;
    let _ = done_tx.send(());
    let _ = sampler.join();
    let outcome = outcome?;
    let verdict: serde_json::Value = std::fs::read_to_string(&outcome.verdict_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // The slope after the first 10 s (start-up allocations are not growth).
    let steady: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, _)| *t >= 10.0)
        .map(|(t, rss)| (*t, *rss as f64))
        .collect();
    let slope_mb_per_hour = (steady.len() >= 3)
        .then(|| gauntlet_check::figures::least_squares_slope(steady.iter().copied()))
        .flatten()
        .map(|b| b * 3600.0 / 1e6);
    let peak = samples.iter().map(|(_, r)| *r).max().unwrap_or(0);
    let acked = verdict["journal"]["acked"].as_u64().unwrap_or(0);
    let figures = serde_json::json!({
        "users": args.users,
        "probe_interval_s": 1,
        "minutes": seconds / 60.0,
        "cpu_seconds": cpu,
        "cpu_percent_of_one_core": cpu / seconds * 100.0,
        "cpu_seconds_per_hour": cpu / seconds * 3600.0,
        "rss_start_mib": samples.first().map(|(_, r)| *r as f64 / 1048576.0),
        "rss_end_mib": samples.last().map(|(_, r)| *r as f64 / 1048576.0),
        "rss_peak_mib": peak as f64 / 1048576.0,
        "rss_slope_mb_per_hour": slope_mb_per_hour,
        "journal_acked_writes": acked,
        "user_ops_ok": verdict["users"]["user_ops_ok"],
        "verdict": verdict["valid"],
    });
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        out!(
            "soak  {} users, 1 s probes, {:.1} min: gauntlet CPU {:.2}% of one core ({:.0} s per hour), \
             RSS {:.1} → {:.1} MiB (peak {:.1}), slope {} MB/h, {} acknowledged writes journaled",
            args.users,
            seconds / 60.0,
            cpu / seconds * 100.0,
            cpu / seconds * 3600.0,
            figures["rss_start_mib"].as_f64().unwrap_or(0.0),
            figures["rss_end_mib"].as_f64().unwrap_or(0.0),
            peak as f64 / 1048576.0,
            slope_mb_per_hour.map_or("n/a".to_owned(), |s| format!("{s:.1}")),
            acked
        );
    }
    Ok(exit::VALID)
}

/// How many times `bench lab` builds and removes its lab.
const LAB_ROUNDS: usize = 5;

/// The network lab (root only): how long a lab of 10 hosts, 3 segments, 4
/// NAT boxes (one of each type) and 2 shaped links takes to come up and go
/// down; a link's delay stage against its setting (`--packets` UDP packets
/// at 5000/s through 100 ms, then 100 ± 10 ms with 10 % loss); and the
/// packets per second a 100 ms link passes at 20,000 and 50,000 packets/s
/// (`--seconds` each), with its shaper thread's CPU. Each figure comes from
/// a real lab, built and removed as `gauntlet lab up` does.
fn lab(args: BenchArgs) -> Result<u8> {
    use crate::cmd_lab::lab_failure;
    use gauntlet_lab::measure::{
        DelayOptions, ThroughputOptions, measure_bring_up, measure_delay, measure_throughput,
    };
    use gauntlet_plan::LinkShape;

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let spread = |s: &gauntlet_lab::measure::Spread| {
        serde_json::json!({
            "min": s.min.as_secs_f64(),
            "median": s.median.as_secs_f64(),
            "max": s.max.as_secs_f64(),
        })
    };

    let up = measure_bring_up(LAB_ROUNDS).map_err(lab_failure)?;
    let bring_up = serde_json::json!({
        "rounds": up.rounds,
        "hosts": up.hosts,
        "segments": up.segments,
        "nats": up.nats,
        "shaped_links": up.shaped_links,
        "up_seconds": spread(&up.up),
        "down_seconds": spread(&up.down),
    });
    if !args.json.on {
        let what = format!(
            "{} hosts, {} segments, {} NAT boxes, {} shaped links",
            up.hosts, up.segments, up.nats, up.shaped_links
        );
        for (verb, s) in [("up  ", &up.up), ("down", &up.down)] {
            out!(
                "lab {verb}   {what}: min {:.3} s  median {:.3} s  max {:.3} s  ({} rounds)",
                s.min.as_secs_f64(),
                s.median.as_secs_f64(),
                s.max.as_secs_f64(),
                up.rounds
            );
        }
    }

    let mut delays = Vec::new();
    let hundred = Duration::from_millis(100);
    for shape in [
        LinkShape {
            latency: hundred,
            ..LinkShape::default()
        },
        LinkShape {
            latency: hundred,
            jitter: Duration::from_millis(10),
            loss_percent: 10.0,
            ..LinkShape::default()
        },
    ] {
        let options = DelayOptions {
            shape,
            packets: args.packets,
            ..DelayOptions::default()
        };
        let r = measure_delay(&options).map_err(lab_failure)?;
        if !args.json.on {
            let setting = if shape.jitter.is_zero() {
                format!("{:.0} ms", ms(shape.latency))
            } else {
                format!("{:.0} ± {:.0} ms", ms(shape.latency), ms(shape.jitter))
            };
            out!(
                "lab delay  {setting}, {} % loss: median {:.2} ms ({:.2} ms added to {:.2} ms through the link set to nothing), \
                 p99 {:.2} ms, max {:.2} ms; {:.2} % lost; {} packets at {}/s, {} dropped by the kernel",
                shape.loss_percent,
                ms(r.median_delay),
                ms(r.added_median_delay()),
                ms(r.baseline_median_delay),
                ms(r.p99_delay),
                ms(r.max_delay),
                r.observed_loss_percent,
                r.sent,
                options.rate,
                r.stats.dropped_kernel
            );
        }
        delays.push(serde_json::json!({
            "latency_ms": ms(shape.latency),
            "jitter_ms": ms(shape.jitter),
            "loss_setting_percent": shape.loss_percent,
            "packets": r.sent,
            "rate": options.rate,
            "received": r.received,
            "observed_loss_percent": r.observed_loss_percent,
            "median_ms": ms(r.median_delay),
            "added_median_ms": ms(r.added_median_delay()),
            "baseline_median_ms": ms(r.baseline_median_delay),
            "p99_ms": ms(r.p99_delay),
            "max_ms": ms(r.max_delay),
            "dropped_loss": r.stats.dropped_loss,
            "dropped_kernel": r.stats.dropped_kernel,
        }));
    }

    let mut rates = Vec::new();
    for rate in [20_000, 50_000] {
        let options = ThroughputOptions {
            rate,
            duration: args.seconds.0,
            latency: hundred,
            ..ThroughputOptions::default()
        };
        let r = measure_throughput(&options).map_err(lab_failure)?;
        if !args.json.on {
            out!(
                "lab rate   {rate}/s through {:.0} ms for {:.1} s: {:.0} packets/s delivered ({} of {} sent), \
                 shaper {} of one core ({} packets per CPU second), {} dropped by the kernel, {} by the link's limit",
                ms(options.latency),
                options.duration.as_secs_f64(),
                r.delivered_per_sec,
                r.delivered,
                r.sent,
                r.shaper_cpu_percent()
                    .map_or("n/a".to_owned(), |p| format!("{p:.1} %")),
                r.packets_per_cpu_second()
                    .map_or("n/a".to_owned(), |p| format!("{p:.0}")),
                r.stats.dropped_kernel,
                r.stats.dropped_queue_full
            );
        }
        rates.push(serde_json::json!({
            "rate": rate,
            "latency_ms": ms(options.latency),
            "seconds": options.duration.as_secs_f64(),
            "sent": r.sent,
            "sent_per_sec": r.sent_per_sec,
            "delivered": r.delivered,
            "delivered_per_sec": r.delivered_per_sec,
            "shaper_cpu_percent": r.shaper_cpu_percent(),
            "packets_per_cpu_second": r.packets_per_cpu_second(),
            "dropped_kernel": r.stats.dropped_kernel,
            "dropped_queue_full": r.stats.dropped_queue_full,
        }));
    }
    if args.json.on {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bring_up": bring_up,
                "delay": delays,
                "throughput": rates,
            }))?
        );
    }
    Ok(exit::VALID)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The client protocol: `--clients` workers (default 1, 10), each with
/// its own in-memory client program (`example-node mem-client`), ops as
/// fast as answers come for `--seconds`; ops per second and gauntlet's own
/// CPU per op (the client programs' CPU is theirs, not counted).
fn client(args: BenchArgs) -> Result<u8> {
    let exe = std::env::current_exe()?;
    let spec = gauntlet_node::NodeSpec::new(exe)
        .arg("example-node")
        .arg("mem-client");
    let clients = args
        .clients
        .as_ref()
        .map_or_else(|| vec![1, 10], |c| c.0.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for n in clients {
        let cpu_before = self_cpu_seconds();
        let report = runtime.block_on(gauntlet_client::bench::run(
            gauntlet_node::LocalBackend::shared(),
            spec.clone(),
            n,
            args.seconds.0,
        ));
        let cpu = self_cpu_seconds() - cpu_before;
        let cpu_us_per_op = if report.ops > 0 {
            cpu * 1e6 / report.ops as f64
        } else {
            f64::NAN
        };
        if !args.json.on {
            out!(
                "{n:>5} clients: {:>9.0} ops/s, gauntlet CPU {:.1} µs/op ({} ops in {:.1} s: {} ok, {} fail, {} info)",
                report.ops_per_sec,
                cpu_us_per_op,
                report.ops,
                report.seconds,
                report.ok,
                report.fail,
                report.info
            );
        }
        let mut row = serde_json::to_value(&report)?;
        row["gauntlet_cpu_us_per_op"] = serde_json::json!(cpu_us_per_op);
        rows.push(row);
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(exit::VALID)
}

/// User + system CPU of this process (all its threads), in seconds.
fn self_cpu_seconds() -> f64 {
    gauntlet_node::self_cpu_time().as_secs_f64()
}

/// How many containers `bench docker` starts and stops one by one.
const DOCKER_STARTS: usize = 10;
/// How many containers it samples at once, and for how long.
const DOCKER_SAMPLED: usize = 20;
const DOCKER_SAMPLING: Duration = Duration::from_secs(20);

/// The Docker Engine: start-to-healthy and kill-to-exited times of 10
/// containers of the example HTTP service (this binary's, in an image
/// built offline), then gauntlet's own CPU while it reads the figures of
/// 20 running containers once a second for 20 s, as the supervisor does.
fn docker(args: BenchArgs) -> Result<u8> {
    use gauntlet_docker::measure::{BenchService, measure};
    let exe = std::env::current_exe()?;
    let service_args = ["example-node".to_owned(), "http-service".to_owned()];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(measure(
        BenchService {
            executable: &exe,
            args: &service_args,
        },
        DOCKER_STARTS,
        DOCKER_SAMPLED,
        DOCKER_SAMPLING,
    ));
    runtime.shutdown_timeout(Duration::from_secs(2));
    let (starts, sampling) = figures?;
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let spread = |v: &[Duration]| {
        let mut v: Vec<f64> = v.iter().map(ms).collect();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.0), at(0.5), at(1.0))
    };
    let (h_min, h_med, h_max) = spread(&starts.start_to_healthy);
    let (k_min, k_med, k_max) = spread(&starts.kill_to_exited);
    if args.json.on {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image_build_ms": ms(&starts.image_build),
                "containers": starts.start_to_healthy.len(),
                "start_to_healthy_ms": { "min": h_min, "median": h_med, "max": h_max },
                "kill_to_exited_ms": { "min": k_min, "median": k_med, "max": k_max },
                "sampled_containers": sampling.containers,
                "sampling_seconds": sampling.span.as_secs_f64(),
                "reads": sampling.reads,
                "reads_with_figures": sampling.with_figures,
                "gauntlet_cpu_percent": sampling.cpu_percent,
            }))?
        );
    } else {
        out!("image built in {:.0} ms", ms(&starts.image_build));
        out!(
            "{} containers, one at a time: start to healthy min {h_min:.0} ms  median {h_med:.0} ms  max {h_max:.0} ms",
            starts.start_to_healthy.len()
        );
        out!(
            "{} containers: SIGKILL to exited min {k_min:.0} ms  median {k_med:.0} ms  max {k_max:.0} ms",
            starts.kill_to_exited.len()
        );
        out!(
            "{} containers sampled every second for {:.0} s: gauntlet CPU {:.2} % of a core ({} of {} reads had figures)",
            sampling.containers,
            sampling.span.as_secs_f64(),
            sampling.cpu_percent,
            sampling.with_figures,
            sampling.reads
        );
    }
    Ok(exit::VALID)
}

/// The dashboard: a run page's latency with 10^5 samples per series, and
/// a live run writing 1,000 samples a second watched by `--clients` event
/// streams (default 50): each client's lag behind the store, the
/// server's CPU.
fn serve(args: BenchArgs) -> Result<u8> {
    let clients = args.clients.as_ref().map_or(50, |c| c.0[0]);
    let report = gauntlet_serve::bench::run(&gauntlet_serve::bench::BenchOptions {
        gauntlet: std::env::current_exe()?,
        samples: 100_000,
        loads: 50,
        clients,
        events_per_second: 1_000,
        seconds: args.seconds.0.max(Duration::from_secs(5)),
    })?;
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(exit::VALID);
    }
    out!(
        "run page, {} series of {} samples: cold {:.0} ms, then median {:.1} ms, p95 {:.1} ms ({} KiB); runs list median {:.1} ms",
        report.series,
        report.samples_per_series,
        report.page_cold_ms,
        report.page_median_ms,
        report.page_p95_ms,
        report.page_bytes / 1024,
        report.list_median_ms
    );
    out!(
        "live run writing {:.0} samples/s, {} event-stream clients: {:.1} updates/s delivered ({:.2} MB/s), every client saw {} of {} batches; lag behind the store median {:.0} ms, p99 {:.0} ms, max {:.0} ms; server CPU {:.1} % of a core",
        report.events_per_second_written,
        report.clients,
        report.updates_per_second,
        report.stream_mb_per_second,
        report.batches_seen_by_all,
        report.batches,
        report.lag_median_ms,
        report.lag_p99_ms,
        report.lag_max_ms,
        report.server_cpu_percent
    );
    Ok(exit::VALID)
}
