use std::time::Duration;

use anyhow::Result;

use crate::cli::BenchArgs;
use crate::exit::{self, Failure};

pub fn run(args: BenchArgs) -> Result<u8> {
    match args.what.as_str() {
        "router" => router(args),
        "check" => check(args),
        other => Err(Failure::bad_args(format!(
            "unknown benchmark {other:?}; there are: router, check"
        ))),
    }
}

fn numbers(flag: &str, list: &str) -> Result<Vec<usize>> {
    list.split(',')
        .map(|s| s.trim().parse::<usize>().ok().filter(|n| *n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Failure::bad_args(format!(
                "{flag} wants positive numbers like 10,50; not {list:?}"
            ))
        })
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
        clients: numbers("--clients", &args.clients)?,
        sizes: numbers("--sizes", &args.sizes)?,
        ..BenchConfig::default()
    };
    let mut figures = Vec::new();
    for result in bench_suite(&cfg) {
        let figure = result.map_err(|e| anyhow::anyhow!(e))?;
        if !args.json {
            println!("{}", format_figure(&figure));
        }
        figures.push(figure);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    }
    Ok(exit::VALID)
}

fn router(args: BenchArgs) -> Result<u8> {
    let sizes: Vec<usize> = args
        .nodes
        .split(',')
        .map(|s| s.trim().parse::<usize>().ok().filter(|n| *n >= 2))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Failure::bad_args(format!(
                "--nodes wants sizes of 2 or more, like 5,25,100; not {:?}",
                args.nodes
            ))
        })?;
    let exe = std::env::current_exe()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut all = Vec::new();
    for n in sizes {
        let report = runtime.block_on(gauntlet_workbench::bench_router(
            gauntlet_workbench::RouterBench {
                program: exe.clone(),
                args: vec!["example-node".into(), "node-flood".into()],
                nodes: n,
                duration: Duration::from_secs_f64(args.seconds),
                tokens_per_node: args.tokens,
            },
        ))?;
        if !args.json {
            println!(
                "router  {:>4} nodes  {:>9.0} msgs/s  {:>6.2} µs gauntlet CPU per message  ({} messages in {:.1} s)",
                n,
                report.messages_per_sec,
                report.cpu_us_per_message,
                report.messages,
                report.seconds
            );
        }
        all.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(exit::VALID)
}
