use gauntlet_check::Validity;
use gauntlet_soak::invariants::{I1, i1_responsiveness};
use serde_json::json;

use super::{fig, healthy, per_service, problems, series, spec, window};

#[test]
fn passes_judging_only_after_warmup_and_outside_fault_windows() {
    // Latency t/1000 ms: warmup (0–9 s) and the fault window plus grace
    // (20–27 s) would hold the extremes if they were judged.
    let samples = per_service(vec![(
        "api",
        series(0, 59_000, |_| false, |t| (t / 1000) as f64),
    )]);
    let faults = [window("kill-api", "kill", Some("api"), 20_000, 25_000)];
    let r = i1_responsiveness(&samples, &faults, &spec(), 10_000);
    assert_eq!(r.checker, I1);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    // Judged: 10..=19 and 28..=59 → 42 samples; the 40th smallest is 57.
    assert_eq!(fig(&r, "p95-ms"), &json!(57.0));
    assert_eq!(fig(&r, "max-gap-ms"), &json!(1000));
    assert_eq!(fig(&r, "judged-samples"), &json!(42));
    assert_eq!(fig(&r, "excluded-samples"), &json!(8));
    assert_eq!(
        fig(&r, "services"),
        &json!({"api": {"p95-ms": 57.0, "max-gap-ms": 1000, "judged-samples": 42,
                         "excluded-samples": 8, "warmup-samples": 10}})
    );
    assert_eq!(fig(&r, "p95-max-ms"), &json!(100.0));
    assert_eq!(fig(&r, "gap-max-ms"), &json!(5000));
}

#[test]
fn fails_on_slow_answers() {
    let samples = per_service(vec![
        ("api", healthy(0, 30_000)),
        (
            "db",
            series(
                0,
                30_000,
                |_| false,
                |t| if t % 10_000 == 0 { 250.0 } else { 20.0 },
            ),
        ),
    ]);
    let r = i1_responsiveness(&samples, &[], &spec(), 0);
    assert_eq!(r.valid, Validity::Invalid);
    // 31 samples, rank 30: the four 250 ms answers fill ranks 28–31.
    assert_eq!(fig(&r, "p95-ms"), &json!(250.0));
    assert_eq!(fig(&r, "services")["api"]["p95-ms"], json!(10.0));
    assert_eq!(r.evidence.len(), 1);
    assert_eq!(
        r.evidence[0],
        json!({"problem": "health latency p95 above the limit", "service": "db",
               "p95-ms": 250.0, "p95-max-ms": 100.0})
    );
}

#[test]
fn fails_on_a_long_gap_and_says_where() {
    let samples = per_service(vec![(
        "api",
        series(0, 59_000, |t| (40_000..=45_000).contains(&t), |_| 10.0),
    )]);
    let r = i1_responsiveness(&samples, &[], &spec(), 0);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, "max-gap-ms"), &json!(7000));
    assert_eq!(
        r.evidence[0],
        json!({"problem": "too long without a healthy answer", "service": "api",
               "from-ms": 39_000, "to-ms": 46_000, "gap-ms": 7000, "gap-max-ms": 5000})
    );
}

#[test]
fn a_gap_at_the_end_counts() {
    let samples = per_service(vec![("api", series(0, 59_000, |t| t > 50_000, |_| 10.0))]);
    let r = i1_responsiveness(&samples, &[], &spec(), 0);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.evidence[0]["from-ms"], json!(50_000));
    assert_eq!(r.evidence[0]["to-ms"], json!(59_000));
}

#[test]
fn downtime_inside_a_fault_window_is_not_judged() {
    let samples = per_service(vec![(
        "api",
        series(0, 59_000, |t| (20_000..27_000).contains(&t), |_| 10.0),
    )]);
    let faults = [window("pause-api", "pause", Some("api"), 20_000, 25_000)];
    let r = i1_responsiveness(&samples, &faults, &spec(), 0);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    assert_eq!(fig(&r, "max-gap-ms"), &json!(1000));
}

#[test]
fn a_gap_straddling_an_excluded_window_is_not_counted() {
    // No samples at all from 20 s to 27 s (the observer itself stalled).
    let mut api = healthy(0, 19_000);
    api.extend(healthy(28_000, 59_000));
    let samples = per_service(vec![("api", api)]);
    let on_api = [window("kill-api", "kill", Some("api"), 20_000, 25_000)];
    let r = i1_responsiveness(&samples, &on_api, &spec(), 0);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    assert_eq!(fig(&r, "max-gap-ms"), &json!(1000));
    assert_eq!(fig(&r, "excluded-samples"), &json!(0));

    // A power cut hits every service.
    let cut = [window("power-cut", "power-cut", None, 20_000, 25_000)];
    let r = i1_responsiveness(&samples, &cut, &spec(), 0);
    assert_eq!(r.valid, Validity::Valid);

    // A fault on another service explains nothing here.
    let on_db = [window("kill-db", "kill", Some("db"), 20_000, 25_000)];
    let r = i1_responsiveness(&samples, &on_db, &spec(), 0);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, "max-gap-ms"), &json!(9000));
}

#[test]
fn too_few_judged_samples_is_unknown() {
    let samples = per_service(vec![("api", healthy(0, 13_000))]);
    let r = i1_responsiveness(&samples, &[], &spec(), 10_000);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "judged-samples"), &json!(4));
    assert_eq!(fig(&r, "services")["api"]["warmup-samples"], json!(10));
    assert_eq!(
        problems(&r),
        ["too few samples to judge outside warmup and fault windows"]
    );
    // Not judged, so its values do not become the headline.
    assert_eq!(fig(&r, "p95-ms"), &json!(null));

    let r = i1_responsiveness(&per_service(vec![]), &[], &spec(), 0);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(problems(&r), ["no health samples"]);
}

#[test]
fn a_service_never_healthy_fails_on_the_gap() {
    let samples = per_service(vec![("api", series(0, 9_000, |_| true, |_| 0.0))]);
    let r = i1_responsiveness(&samples, &[], &spec(), 0);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, "p95-ms"), &json!(null));
    assert_eq!(fig(&r, "max-gap-ms"), &json!(9000));
}
