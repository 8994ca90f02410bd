use gauntlet_check::Validity;
use gauntlet_soak::invariants::{I2, RssSample, i2_memory};
use serde_json::json;

use super::{fig, per_service, problems, spec};

/// `n` samples `every_ms` apart, starting at `start` bytes and growing by
/// `step` bytes each.
fn rss(n: i64, every_ms: i64, start: u64, step: u64) -> Vec<RssSample> {
    (0..n)
        .map(|i| RssSample {
            t_ms: i * every_ms,
            bytes: start + step * i as u64,
        })
        .collect()
}

const HOUR_MS: i64 = 3_600_000;

#[test]
fn passes_under_the_limit_with_exact_figures() {
    // 1 MB (10^6 bytes) per 10 minutes = 6 MB/hour.
    let samples = per_service(vec![("app", rss(13, 600_000, 100_000_000, 1_000_000))]);
    let r = i2_memory(&samples, &spec(), 2 * HOUR_MS);
    assert_eq!(r.checker, I2);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(6.0));
    assert_eq!(fig(&r, "max-mb-per-hour"), &json!(10.0));
    assert_eq!(fig(&r, "mb"), &json!("10^6 bytes"));
    assert_eq!(fig(&r, "extrapolated"), &json!(false));
    assert_eq!(
        fig(&r, "services")["app"],
        json!({"slope-mb-per-hour": 6.0, "samples": 13, "span-ms": 7_200_000,
               "first-mb": 100.0, "last-mb": 112.0})
    );
}

#[test]
fn fails_above_the_limit_naming_the_service() {
    let samples = per_service(vec![
        ("app", rss(13, 600_000, 100_000_000, 0)),
        // 1 MB a minute, counted in 10^6 bytes: 60 MB/hour.
        ("leaky", rss(61, 60_000, 50_000_000, 1_000_000)),
    ]);
    let r = i2_memory(&samples, &spec(), 2 * HOUR_MS);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(60.0));
    assert_eq!(fig(&r, "services")["app"]["slope-mb-per-hour"], json!(0.0));
    assert_eq!(
        r.evidence,
        [
            json!({"problem": "RSS grows faster than allowed", "service": "leaky",
                "slope-mb-per-hour": 60.0, "max-mb-per-hour": 10.0})
        ]
    );
}

#[test]
fn too_few_samples_or_too_short_is_unknown_but_reports_the_slope() {
    let few = per_service(vec![("app", rss(9, 600_000, 100_000_000, 10_000_000))]);
    let r = i2_memory(&few, &spec(), 2 * HOUR_MS);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(60.0));
    assert_eq!(r.evidence[0]["slope-mb-per-hour"], json!(60.0));
    assert_eq!(r.evidence[0]["samples"], json!(9));

    let short = per_service(vec![("app", rss(30, 1_000, 100_000_000, 0))]);
    let r = i2_memory(&short, &spec(), 30_000);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "services")["app"]["span-ms"], json!(29_000));
    assert_eq!(fig(&r, "extrapolated"), &json!(true));

    let one = per_service(vec![("app", rss(1, 1_000, 5, 0))]);
    let r = i2_memory(&one, &spec(), HOUR_MS);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(null));

    let r = i2_memory(&per_service(vec![]), &spec(), HOUR_MS);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(problems(&r), ["no RSS samples"]);
}

#[test]
fn a_leak_is_not_hidden_by_an_undecided_service() {
    let samples = per_service(vec![
        ("few", rss(3, 1_000, 1, 0)),
        ("leaky", rss(61, 60_000, 50_000_000, 1_000_000)),
    ]);
    assert_eq!(
        i2_memory(&samples, &spec(), HOUR_MS).valid,
        Validity::Invalid
    );
}
