use std::time::Duration;

use anyhow::Result;

use crate::cli::BenchArgs;
use crate::exit::{self, Failure};

pub fn run(args: BenchArgs) -> Result<u8> {
    if args.what != "router" {
        return Err(Failure::bad_args(format!(
            "unknown benchmark {:?}; there is: router",
            args.what
        )));
    }
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
