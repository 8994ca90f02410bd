use std::collections::BTreeMap;

use gauntlet_check::Validity;
use gauntlet_soak::invariants::{EXERCISED, I5, i5_stability};
use serde_json::json;

use super::{fig, healthy, per_service, problems, series, spec, window};

fn restarts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

#[test]
fn restarts_the_faults_explain_pass() {
    let samples = per_service(vec![
        (
            "api",
            series(0, 60_000, |t| (20_000..31_000).contains(&t), |_| 10.0),
        ),
        (
            "db",
            series(0, 60_000, |t| (40_000..43_000).contains(&t), |_| 10.0),
        ),
    ]);
    let faults = [
        window("kill-api", "kill", Some("api"), 20_000, 30_000),
        window("power-cut", "power-cut", None, 40_000, 41_000),
    ];
    let r = i5_stability(
        &restarts(&[("api", 2), ("db", 1)]),
        &samples,
        &faults,
        &spec(),
    );
    assert_eq!(r.checker, I5);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    assert_eq!(fig(&r, "faults"), &json!(2));
    assert_eq!(fig(&r, EXERCISED), &json!(true));
    assert_eq!(fig(&r, "restarts"), &json!(3));
    assert_eq!(fig(&r, "explained-restarts"), &json!(3));
    assert_eq!(fig(&r, "unexplained-restarts"), &json!(0));
    assert_eq!(fig(&r, "flaps"), &json!(0));
    assert_eq!(
        fig(&r, "services"),
        &json!({
            "api": {"restarts": 2, "explained-restarts": 2, "unexplained-restarts": 0, "flaps": 0},
            "db": {"restarts": 1, "explained-restarts": 1, "unexplained-restarts": 0, "flaps": 0},
        })
    );
}

#[test]
fn unexplained_restarts_over_budget_fail() {
    let samples = per_service(vec![("api", healthy(0, 60_000))]);
    // A pause explains no restart.
    let faults = [
        window("kill-api", "kill", Some("api"), 10_000, 12_000),
        window("pause-api", "pause", Some("api"), 30_000, 32_000),
    ];
    let mut s = spec();
    s.restart_budget = 1;
    let r = i5_stability(&restarts(&[("api", 3)]), &samples, &faults, &s);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, "unexplained-restarts"), &json!(2));
    assert_eq!(
        r.evidence,
        [
            json!({"problem": "restarts beyond what the faults explain", "service": "api",
                "restarts": 3, "explained-restarts": 1, "restart-budget": 1})
        ]
    );
    // Within budget.
    s.restart_budget = 2;
    assert_eq!(
        i5_stability(&restarts(&[("api", 3)]), &samples, &faults, &s).valid,
        Validity::Valid
    );
}

#[test]
fn flaps_outside_fault_windows_count() {
    // Flaps at 10 s and 40 s; the one at 21 s is inside kill-api.
    let down = |t: i64| [10_000, 21_000, 40_000].contains(&t);
    let samples = per_service(vec![("api", series(0, 60_000, down, |_| 10.0))]);
    let faults = [window("pause-api", "pause", Some("api"), 20_000, 22_000)];
    let mut s = spec();
    s.flap_budget = 1;
    let r = i5_stability(&BTreeMap::new(), &samples, &faults, &s);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, "flaps"), &json!(2));
    assert_eq!(
        r.evidence,
        [
            json!({"problem": "health flaps outside fault windows", "service": "api",
                "flaps": 2, "flap-budget": 1, "at-ms": [10_000, 40_000]})
        ]
    );
    s.flap_budget = 2;
    assert_eq!(
        i5_stability(&BTreeMap::new(), &samples, &faults, &s).valid,
        Validity::Valid
    );
}

#[test]
fn starting_up_unhealthy_is_not_a_flap() {
    let samples = per_service(vec![("api", series(0, 60_000, |t| t < 5_000, |_| 10.0))]);
    let r = i5_stability(&restarts(&[("api", 0)]), &samples, &[], &spec());
    assert_eq!(fig(&r, "flaps"), &json!(0));
    assert_eq!(r.valid, Validity::Valid);
}

#[test]
fn without_faults_it_still_judges_and_says_it_was_not_exercised() {
    let samples = per_service(vec![("api", healthy(0, 60_000))]);
    let r = i5_stability(&restarts(&[("api", 0)]), &samples, &[], &spec());
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(fig(&r, "faults"), &json!(0));
    assert_eq!(fig(&r, EXERCISED), &json!(false));
    assert!(
        fig(&r, "note")
            .as_str()
            .unwrap()
            .starts_with("no fault exercised it")
    );

    let r = i5_stability(&restarts(&[("api", 1)]), &samples, &[], &spec());
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, EXERCISED), &json!(false));
}

#[test]
fn nothing_observed_is_unknown() {
    let r = i5_stability(&BTreeMap::new(), &BTreeMap::new(), &[], &spec());
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(problems(&r), ["no restart counts and no health samples"]);
}
