use std::time::Duration;

use anyhow::Result;
use gauntlet_check::Validity;
use gauntlet_workbench::TestConfig;

use crate::cli::DemoArgs;
use crate::exit::{self, Failure};
use crate::out::out;

/// Runs the correct gossip broadcast and the one that never retries, both
/// under partitions; the first must pass and the second must lose messages.
pub fn run(args: DemoArgs) -> Result<u8> {
    let exe = std::env::current_exe()?;
    let demos = [
        (
            "node-broadcast",
            "a gossip that retries until acknowledged",
            Validity::Valid,
        ),
        (
            "broken-broadcast-no-retry",
            "a broadcast that sends once and never retries",
            Validity::Invalid,
        ),
    ];
    let location = args.store.location()?;
    let mut as_expected = true;
    for (i, (example, what, expected)) in demos.iter().enumerate() {
        out!("== {example}: {what}");
        out!(
            "   gauntlet test -w broadcast --bin {} example-node {example} --node-count 5 --time-limit {} --rate 50 --latency 10 --nemesis partition --nemesis-interval 1\n",
            exe.display(),
            args.time_limit
        );
        let mut cfg = TestConfig::new("broadcast", &exe);
        cfg.args = vec!["example-node".into(), (*example).into()];
        cfg.node_count = 5;
        cfg.time_limit = args.time_limit.0;
        cfg.rate = 50.0;
        cfg.concurrency = 5;
        cfg.latency = gauntlet_net::Latency::new(10.0, gauntlet_net::LatencyDist::Constant)?;
        cfg.nemesis = vec![gauntlet_nemesis::FaultKind::Partition];
        cfg.nemesis_interval = 1.0;
        cfg.recovery = Duration::from_secs(3);
        cfg.seed = 7 + i as u64;
        cfg.command_line = std::env::args().collect();
        let outcome = crate::cmd_test::run_stored(&location, cfg, false)?;
        crate::cmd_test::print_summary(&outcome);
        out!();
        as_expected &= outcome.valid == *expected;
    }
    if as_expected {
        out!("The correct node passed and the broken one failed, as they should.");
        Ok(exit::VALID)
    } else {
        Err(Failure {
            code: exit::INVALID,
            message: "the demo did not turn out as expected (see the verdicts above)".into(),
        }
        .into())
    }
}

/// `gauntlet example-node NAME`: runs a bundled example node on stdin/stdout.
pub fn example_node(name: &str, args: Vec<String>) -> Result<u8> {
    if name == "redis-user" {
        return Ok(gauntlet_examples::services::redis_user::run(args));
    }
    if name == "mem-client" {
        return Ok(exit_code_of(gauntlet_examples::services::mem_client::run(
            args,
        )));
    }
    if name == "http-service" {
        // Its exit status is its own (2 on bad flags, 1 for a failed selftest).
        return Ok(gauntlet_examples::services::http::run(args));
    }
    if let Some((_, main)) = gauntlet_examples::netlab_tools::PROGRAMS
        .iter()
        .chain(&gauntlet_examples::services::PROGRAMS)
        .find(|(program, _)| *program == name)
    {
        // Their exit status is their own (1 no answer/failed, 2 bad flags;
        // the lock server 1 when it cannot start).
        return Ok(exit_code_of(main(args)));
    }
    match gauntlet_examples::node_main(name) {
        Some(main) => {
            main().map_err(|e| anyhow::anyhow!("example node {name}: {e}"))?;
            Ok(exit::VALID)
        }
        None => Err(Failure::bad_args(format!(
            "no example node named {name:?}; there are: {}, {}, {}",
            gauntlet_examples::NODE_NAMES.join(", "),
            gauntlet_examples::netlab_tools::PROGRAMS
                .map(|(n, _)| n)
                .join(", "),
            gauntlet_examples::services::PROGRAMS
                .map(|(n, _)| n)
                .join(", ")
        ))),
    }
}

/// The `u8` of an `ExitCode` the example returned (0, 1 or 2 for these).
fn exit_code_of(code: std::process::ExitCode) -> u8 {
    if code == std::process::ExitCode::SUCCESS {
        exit::VALID
    } else if code == std::process::ExitCode::from(2) {
        2
    } else {
        1
    }
}
