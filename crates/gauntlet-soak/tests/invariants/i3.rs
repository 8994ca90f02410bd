use gauntlet_check::Validity;
use gauntlet_soak::invariants::{EXERCISED, I3, i3_recovery};
use serde_json::json;

use super::{fig, healthy, per_service, problems, series, spec, window};

#[test]
fn passes_when_healthy_soon_after_the_heal() {
    // Down from 20 s until 31 s; the fault healed at 30 s: 2 s to recover.
    let samples = per_service(vec![
        (
            "api",
            series(0, 60_000, |t| (20_000..32_000).contains(&t), |_| 10.0),
        ),
        ("db", healthy(0, 60_000)),
    ]);
    let faults = [window("kill-api", "kill", Some("api"), 20_000, 30_000)];
    let r = i3_recovery(&samples, &faults, &spec());
    assert_eq!(r.checker, I3);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    assert_eq!(fig(&r, "faults"), &json!(1));
    assert_eq!(fig(&r, EXERCISED), &json!(true));
    assert_eq!(fig(&r, "recoveries"), &json!(1));
    assert_eq!(fig(&r, "recovered"), &json!(1));
    assert_eq!(fig(&r, "late"), &json!(0));
    assert_eq!(fig(&r, "unobserved"), &json!(0));
    assert_eq!(fig(&r, "max-recovery-ms"), &json!(2000));
    assert_eq!(fig(&r, "recover-within-ms"), &json!(5000));
    assert_eq!(
        fig(&r, "by-fault"),
        &json!({"kill-api": {"injections": 1, "max-recovery-ms": 2000}})
    );
}

#[test]
fn fails_naming_the_fault_and_how_long() {
    let samples = per_service(vec![(
        "api",
        series(0, 60_000, |t| (20_000..40_000).contains(&t), |_| 10.0),
    )]);
    let faults = [window("kill-api", "kill", Some("api"), 20_000, 30_000)];
    let r = i3_recovery(&samples, &faults, &spec());
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, "late"), &json!(1));
    assert_eq!(
        r.evidence,
        [
            json!({"problem": "recovered too late", "fault": "kill-api", "kind": "kill",
                "service": "api", "start-ms": 20_000, "end-ms": 30_000,
                "recovered-after-ms": 10_000})
        ]
    );
}

#[test]
fn never_healthy_again_fails_if_seen_past_the_deadline() {
    let samples = per_service(vec![("api", series(0, 60_000, |t| t >= 20_000, |_| 10.0))]);
    let faults = [window("kill-api", "kill", Some("api"), 20_000, 30_000)];
    let r = i3_recovery(&samples, &faults, &spec());
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(problems(&r), ["did not recover"]);
    assert_eq!(r.evidence[0]["down-for-ms"], json!(30_000));
    assert_eq!(fig(&r, "max-recovery-ms"), &json!(null));
}

#[test]
fn recovery_cut_short_by_the_end_of_the_run_is_unknown() {
    let samples = per_service(vec![("api", series(0, 32_000, |t| t >= 20_000, |_| 10.0))]);
    let faults = [window("kill-api", "kill", Some("api"), 20_000, 30_000)];
    let r = i3_recovery(&samples, &faults, &spec());
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "unobserved"), &json!(1));
    assert_eq!(problems(&r), ["recovery not observed: the run ended first"]);
    assert_eq!(r.evidence[0]["fault"], json!("kill-api"));
    assert_eq!(r.evidence[0]["last-sample-ms"], json!(32_000));
}

#[test]
fn recovery_cut_short_by_the_next_fault_is_unknown() {
    let samples = per_service(vec![(
        "api",
        series(0, 90_000, |t| (20_000..60_000).contains(&t), |_| 10.0),
    )]);
    let faults = [
        window("kill-api", "kill", Some("api"), 20_000, 30_000),
        window("pause-api", "pause", Some("api"), 32_000, 50_000),
    ];
    let r = i3_recovery(&samples, &faults, &spec());
    // The first cannot be judged; the second is late (healthy at 60 s).
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(
        problems(&r),
        [
            "recovery not observed: the next fault began first",
            "recovered too late"
        ]
    );
    assert_eq!(r.evidence[0]["next-fault"], json!("pause-api"));
    assert_eq!(r.evidence[1]["recovered-after-ms"], json!(10_000));
}

#[test]
fn a_power_cut_is_judged_on_every_service() {
    let samples = per_service(vec![
        (
            "api",
            series(0, 60_000, |t| (20_000..33_000).contains(&t), |_| 10.0),
        ),
        (
            "db",
            series(0, 60_000, |t| (20_000..31_000).contains(&t), |_| 10.0),
        ),
    ]);
    let faults = [window("power-cut", "power-cut", None, 20_000, 30_000)];
    let r = i3_recovery(&samples, &faults, &spec());
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(fig(&r, "recoveries"), &json!(2));
    assert_eq!(fig(&r, "max-recovery-ms"), &json!(3000));
}

#[test]
fn no_fault_means_not_exercised() {
    let samples = per_service(vec![("api", healthy(0, 60_000))]);
    let r = i3_recovery(&samples, &[], &spec());
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "faults"), &json!(0));
    assert_eq!(fig(&r, EXERCISED), &json!(false));
    assert!(
        fig(&r, "note")
            .as_str()
            .unwrap()
            .starts_with("no fault exercised it")
    );
    assert_eq!(problems(&r), ["not exercised"]);
}

#[test]
fn a_target_without_samples_is_unknown() {
    let samples = per_service(vec![("api", healthy(0, 60_000))]);
    let faults = [window("kill-db", "kill", Some("db"), 20_000, 30_000)];
    let r = i3_recovery(&samples, &faults, &spec());
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "unobserved"), &json!(1));
}
