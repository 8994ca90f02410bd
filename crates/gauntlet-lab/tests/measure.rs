//! The measurements of `gauntlet bench lab` work: each builds its lab,
//! counts what it should and takes the lab down. How fast or precise the
//! lab is, is the bench's to say (`gauntlet bench lab`), not these tests':
//! their bounds only catch a measurement that measures the wrong thing.
//!
//! Needs root (CI runs as root); skips with a note otherwise.
#![allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr, which the harness captures"
)]

use std::time::Duration;

use gauntlet_lab::measure::{
    DelayOptions, ThroughputOptions, measure_bring_up, measure_delay, measure_throughput,
};
use gauntlet_plan::LinkShape;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: the network lab needs root");
    }
    root
}

// The three share the bench's subnets: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn bring_up_builds_and_removes_the_lab() {
    if !root() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let report = measure_bring_up(1).expect("bring up");
    assert_eq!(
        (
            report.hosts,
            report.segments,
            report.nats,
            report.shaped_links
        ),
        (10, 3, 4, 2)
    );
    assert_eq!(report.rounds, 1);
    assert!(report.up.min > Duration::ZERO && report.up.min == report.up.max);
    assert!(report.down.min > Duration::ZERO);
}

#[test]
fn delay_counts_every_packet_and_the_setting_shows() {
    if !root() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let options = DelayOptions {
        shape: LinkShape {
            latency: Duration::from_millis(30),
            loss_percent: 20.0,
            ..LinkShape::default()
        },
        packets: 400,
        rate: 1000,
        ..DelayOptions::default()
    };
    let report = measure_delay(&options).expect("delay");
    assert_eq!(report.sent, 400);
    // What the socket saw is what the shaper did.
    assert_eq!(report.stats.received, 400, "{report:#?}");
    assert_eq!(
        report.stats.accepted + report.stats.dropped_loss,
        400,
        "{report:#?}"
    );
    assert_eq!(report.received, report.stats.accepted, "{report:#?}");
    // 20 % of 400: 80 expected, σ = 8; seeded, so steady.
    assert!(
        (40..=120).contains(&report.stats.dropped_loss),
        "{report:#?}"
    );
    let lost = 400 - report.received;
    assert!(
        (report.observed_loss_percent - lost as f64 / 4.0).abs() < 1e-9,
        "{report:#?}"
    );
    // A one-way delay is never below the setting, nor the baseline above it.
    assert!(
        report.median_delay >= Duration::from_millis(30),
        "{report:#?}"
    );
    assert!(report.p99_delay >= report.median_delay);
    assert!(report.max_delay >= report.p99_delay);
    assert!(report.baseline_median_delay < Duration::from_millis(30));
    assert!(report.added_median_delay() <= report.median_delay);
}

#[test]
fn throughput_counts_what_passes_and_reads_the_shapers_cpu() {
    if !root() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let report = measure_throughput(&ThroughputOptions {
        rate: 1000,
        duration: Duration::from_millis(500),
        latency: Duration::ZERO,
        payload_len: 64,
    })
    .expect("throughput");
    assert_eq!(report.sent, 500, "{report:#?}");
    // Everything sent reached the shaper or was dropped by the kernel on
    // the way; what it accepted reached the socket or overflowed it.
    assert_eq!(
        report.stats.received + report.stats.dropped_kernel,
        500,
        "{report:#?}"
    );
    assert!(report.delivered <= report.stats.accepted, "{report:#?}");
    assert!(report.delivered > 0, "{report:#?}");
    assert!(report.shaper_cpu.is_some(), "{report:#?}");
}
