//! The fault schedule: reproducible, within bounds, never overlapping on a
//! target, and stable under the caller's scenario filtering.

use std::time::Duration;

use gauntlet_nemesis::Schedule;
use gauntlet_plan::soak::{FaultKind, FaultSpec};
use gauntlet_soak::schedule::{Injection, Planned, SETTLE_MS, plan_injections};

const HOUR_MS: i64 = 3_600_000;

fn fault(
    name: &str,
    kind: FaultKind,
    target: Option<&str>,
    every_s: (u64, u64),
    dur_s: u64,
) -> FaultSpec {
    FaultSpec {
        name: name.to_owned(),
        kind,
        target: target.map(str::to_owned),
        every_min: Duration::from_secs(every_s.0),
        every_max: Duration::from_secs(every_s.1),
        duration: Duration::from_secs(dur_s),
        scenarios: vec!["all".to_owned()],
    }
}

fn mixed() -> Vec<FaultSpec> {
    vec![
        fault("kill-db", FaultKind::Kill, Some("db"), (60, 180), 10),
        fault("pause-db", FaultKind::Pause, Some("db"), (30, 90), 20),
        fault("reset-api", FaultKind::Reset, Some("api"), (20, 40), 5),
        fault("power-cut", FaultKind::PowerCut, None, (600, 900), 15),
    ]
}

fn plan(specs: &[FaultSpec], duration_ms: i64, seed: u64) -> Vec<Injection> {
    let refs: Vec<&FaultSpec> = specs.iter().collect();
    plan_injections(&refs, duration_ms, seed)
}

fn times_of(plan: &[Injection], fault: usize) -> Vec<i64> {
    plan.iter()
        .filter(|i| i.fault == fault)
        .map(|i| i.at_ms)
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    let specs = mixed();
    let a = plan(&specs, 2 * HOUR_MS, 42);
    assert_eq!(a, plan(&specs, 2 * HOUR_MS, 42));
    assert_ne!(a, plan(&specs, 2 * HOUR_MS, 43));
    assert!(a.len() > 100, "{}", a.len());
}

#[test]
fn injections_are_sorted_and_within_the_soak() {
    let specs = mixed();
    let p = plan(&specs, HOUR_MS, 7);
    assert!(p.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert!(p.iter().all(|i| (0..HOUR_MS).contains(&i.at_ms)));
    for i in &p {
        assert_eq!(i.duration_ms, specs[i.fault].duration.as_millis() as i64);
    }
    // Every fault fired.
    for f in 0..specs.len() {
        assert!(!times_of(&p, f).is_empty(), "fault {f} never fired");
    }
}

#[test]
fn a_lone_fault_keeps_its_interval() {
    let specs = [fault("kill", FaultKind::Kill, Some("db"), (60, 120), 10)];
    for seed in 0..20 {
        let t = times_of(&plan(&specs, 4 * HOUR_MS, seed), 0);
        assert!((60_000..=120_000).contains(&t[0]), "first at {}", t[0]);
        for w in t.windows(2) {
            let gap = w[1] - w[0];
            assert!((60_000..=120_000).contains(&gap), "gap {gap}");
        }
        // Nothing fits after the last one.
        assert!(t.last().unwrap() + 60_000 >= 4 * HOUR_MS - 60_000);
    }
}

#[test]
fn no_two_injections_overlap_on_a_target() {
    let specs = mixed();
    for seed in 0..10 {
        let p = plan(&specs, 3 * HOUR_MS, seed);
        for (i, a) in p.iter().enumerate() {
            for b in &p[i + 1..] {
                let (sa, sb) = (&specs[a.fault], &specs[b.fault]);
                let shared = sa.target.is_none() || sb.target.is_none() || sa.target == sb.target;
                if shared {
                    assert!(
                        b.at_ms >= a.at_ms + a.duration_ms + SETTLE_MS,
                        "seed {seed}: {} at {} overlaps {} at {}",
                        sb.name,
                        b.at_ms,
                        sa.name,
                        a.at_ms
                    );
                }
            }
        }
    }
}

#[test]
fn a_blocked_injection_is_pushed_to_just_after_the_heal() {
    // pause fires every 10 s for 25 s: each must wait for the previous.
    let specs = [fault("pause", FaultKind::Pause, Some("db"), (10, 10), 25)];
    let t = times_of(&plan(&specs, 100_000, 1), 0);
    assert_eq!(t, [10_000, 36_000, 62_000, 88_000]);

    // Different targets do not block each other.
    let specs = [
        fault("a", FaultKind::Pause, Some("db"), (10, 10), 25),
        fault("b", FaultKind::Pause, Some("api"), (10, 10), 25),
    ];
    let p = plan(&specs, 40_000, 1);
    let at: Vec<_> = p.iter().map(|i| (i.fault, i.at_ms)).collect();
    assert_eq!(at, [(0, 10_000), (1, 10_000), (0, 36_000), (1, 36_000)]);

    // A power cut blocks everything, and everything blocks it.
    let specs = [
        fault("cut", FaultKind::PowerCut, None, (10, 10), 5),
        fault("kill", FaultKind::Kill, Some("api"), (12, 12), 5),
    ];
    let p = plan(&specs, 30_000, 1);
    let at: Vec<_> = p.iter().map(|i| (i.fault, i.at_ms)).collect();
    assert_eq!(at, [(0, 10_000), (1, 16_000), (0, 22_000), (1, 28_000)]);
}

#[test]
fn scenario_filtering_by_the_caller_does_not_reshuffle_a_fault() {
    let all = mixed();
    let full = plan(&all, HOUR_MS, 9);
    // Only the api fault: its draws come from its own stream.
    let only = plan(&all[2..3], HOUR_MS, 9);
    let alone = times_of(&only, 0);
    assert!(!alone.is_empty());
    // In the full plan it may be pushed by power cuts, but where no push
    // happened its times are the same: compare up to the first power cut.
    let first_cut = times_of(&full, 3)[0];
    let before: Vec<_> = times_of(&full, 2)
        .into_iter()
        .filter(|&t| t < first_cut)
        .collect();
    assert!(!before.is_empty());
    assert_eq!(before, alone[..before.len()]);
}

#[test]
fn degenerate_specs_neither_hang_nor_panic() {
    assert!(plan(&[], HOUR_MS, 1).is_empty());
    let specs = [fault("x", FaultKind::Kill, Some("db"), (5, 5), 0)];
    assert!(plan(&specs, 0, 1).is_empty());
    assert!(plan(&specs, -5, 1).is_empty());
    // every_min > every_max is taken as the range between them.
    let specs = [fault("x", FaultKind::Kill, Some("db"), (20, 10), 1)];
    let t = times_of(&plan(&specs, 200_000, 3), 0);
    assert!(
        t.windows(2)
            .all(|w| (10_000..=20_000).contains(&(w[1] - w[0])))
    );
    // Zero intervals are raised to 1 ms; zero duration still leaves the
    // settle time between injections.
    let specs = [fault("x", FaultKind::Kill, Some("db"), (0, 0), 0)];
    let t = times_of(&plan(&specs, 5_000, 3), 0);
    assert_eq!(t, [1, 1_001, 2_001, 3_001, 4_001]);
}

#[test]
fn the_planned_schedule_yields_every_injection_at_its_time() {
    let specs = mixed();
    let refs: Vec<&FaultSpec> = specs.iter().collect();
    let planned = plan(&specs, HOUR_MS, 11);
    assert!(!planned.is_empty());
    let mut schedule = Planned::draw(&refs, HOUR_MS, 11);
    let mut followed = Vec::new();
    while let Some(due) = schedule.next_due() {
        assert_eq!(
            schedule.next_due(),
            Some(due),
            "asking again changes nothing"
        );
        let step = schedule.take_step().unwrap();
        assert_eq!(due, Duration::from_millis(step.at_ms as u64));
        followed.push(step);
    }
    assert_eq!(followed, planned);
}
