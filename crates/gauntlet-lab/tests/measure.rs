//! Runs the lab's link measurements and prints the figures: a benchmark
//! kept with the tests until `gauntlet bench lab` calls it. Ignored by
//! default (it takes seconds and needs root):
//!
//! ```text
//! cargo test --release -p gauntlet-lab --test measure -- --ignored --nocapture
//! ```
#![allow(
    clippy::disallowed_macros,
    reason = "a benchmark's output is its figures, printed for the reader"
)]

use std::time::Duration;

use gauntlet_lab::measure::{DelayOptions, ThroughputOptions, measure_delay, measure_throughput};
use gauntlet_lab::shaper::LinkParams;

#[test]
#[ignore = "a benchmark: needs root and takes seconds"]
fn link_figures() {
    let options = DelayOptions::default();
    let report = measure_delay(&options).expect("delay");
    println!(
        "100 ms link, {} packets at {}/s: {report:#?}",
        options.packets, options.rate
    );

    let lossy = DelayOptions {
        params: LinkParams {
            latency: Duration::from_millis(100),
            jitter: Duration::from_millis(10),
            loss_percent: 1.0,
            ..LinkParams::default()
        },
        ..DelayOptions::default()
    };
    let report = measure_delay(&lossy).expect("delay");
    println!("100 ± 10 ms, 1 % loss: {report:#?}");

    for (rate, latency) in [(20_000, 100), (50_000, 100), (100_000, 0), (200_000, 0)] {
        let options = ThroughputOptions {
            rate,
            latency: Duration::from_millis(latency),
            ..ThroughputOptions::default()
        };
        let report = measure_throughput(&options).expect("throughput");
        println!("{rate}/s through {latency} ms for 2 s: {report:#?}");
    }
    let idle = ThroughputOptions {
        rate: 1,
        duration: Duration::from_secs(3),
        latency: Duration::ZERO,
        ..ThroughputOptions::default()
    };
    let report = measure_throughput(&idle).expect("idle");
    println!(
        "idle (1 packet/s): queue thread CPU {:?} %",
        report.queue_thread_cpu_percent
    );
}
