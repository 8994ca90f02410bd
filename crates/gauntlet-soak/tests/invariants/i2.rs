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
            started_ms: None,
        })
        .collect()
}

const HOUR_MS: i64 = 3_600_000;

#[test]
fn passes_under_the_limit_with_exact_figures() {
    // 1 MB (10^6 bytes) per 10 minutes = 6 MB/hour.
    let samples = per_service(vec![("app", rss(13, 600_000, 100_000_000, 1_000_000))]);
    let r = i2_memory(&samples, &spec(), 2 * HOUR_MS, 0);
    assert_eq!(r.checker, I2);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(6.0));
    assert_eq!(fig(&r, "max-mb-per-hour"), &json!(10.0));
    assert_eq!(fig(&r, "mb"), &json!("10^6 bytes"));
    assert_eq!(fig(&r, "extrapolated"), &json!(false));
    assert_eq!(
        fig(&r, "services")["app"],
        json!({"slope-mb-per-hour": 6.0, "samples": 13, "lifetimes": 1,
               "span-ms": 7_200_000, "first-mb": 100.0, "last-mb": 112.0})
    );
}

#[test]
fn fails_above_the_limit_naming_the_service() {
    let samples = per_service(vec![
        ("app", rss(13, 600_000, 100_000_000, 0)),
        // 1 MB a minute, counted in 10^6 bytes: 60 MB/hour.
        ("leaky", rss(61, 60_000, 50_000_000, 1_000_000)),
    ]);
    let r = i2_memory(&samples, &spec(), 2 * HOUR_MS, 0);
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
    let r = i2_memory(&few, &spec(), 2 * HOUR_MS, 0);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(60.0));
    assert_eq!(r.evidence[0]["slope-mb-per-hour"], json!(60.0));
    assert_eq!(r.evidence[0]["samples"], json!(9));

    let short = per_service(vec![("app", rss(30, 1_000, 100_000_000, 0))]);
    let r = i2_memory(&short, &spec(), 30_000, 0);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "services")["app"]["span-ms"], json!(29_000));
    assert_eq!(fig(&r, "extrapolated"), &json!(true));

    let one = per_service(vec![("app", rss(1, 1_000, 5, 0))]);
    let r = i2_memory(&one, &spec(), HOUR_MS, 0);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(null));

    let r = i2_memory(&per_service(vec![]), &spec(), HOUR_MS, 0);
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
        i2_memory(&samples, &spec(), HOUR_MS, 0).valid,
        Validity::Invalid
    );
}

/// A service restarted every `life` samples (one per second), its RSS
/// starting at 2 MB and growing `step` bytes per second within a lifetime.
fn restarting(n: i64, life: i64, step: u64) -> Vec<RssSample> {
    (0..n)
        .map(|i| RssSample {
            t_ms: i * 1_000,
            bytes: 2_000_000 + step * (i % life) as u64,
            started_ms: Some((i / life) * life * 1_000 - 500),
        })
        .collect()
}

#[test]
fn restarts_split_the_series_so_a_sawtooth_is_not_a_leak() {
    // Flat within each 25 s lifetime, back to the same size after each
    // restart; one lifetime reloads more (a jump up after a restart).
    let mut samples = restarting(120, 25, 0);
    for s in samples.iter_mut().skip(50).take(25) {
        s.bytes += 10_000_000;
    }
    let r = i2_memory(
        &per_service(vec![("redis", samples.clone())]),
        &spec(),
        120_000,
        0,
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.evidence);
    assert_eq!(fig(&r, "slope-mb-per-hour"), &json!(0.0));
    assert_eq!(fig(&r, "services")["redis"]["lifetimes"], json!(5));
    assert_eq!(
        fig(&r, "services")["redis"]["span-ms"],
        json!(4 * 24_000 + 19_000)
    );

    // The same samples without their starts are one line: the jump looks
    // like growth. That is the wrong answer the split avoids.
    let unsplit: Vec<RssSample> = samples
        .into_iter()
        .map(|s| RssSample {
            started_ms: None,
            ..s
        })
        .collect();
    let r = i2_memory(&per_service(vec![("redis", unsplit)]), &spec(), 120_000, 0);
    assert_ne!(fig(&r, "slope-mb-per-hour"), &json!(0.0));
}

#[test]
fn a_leak_within_lifetimes_fails_although_restarts_reset_it() {
    // 1,000 bytes a second = 3.6 MB/h in every lifetime, under the limit;
    // 10,000 a second = 36 MB/h, over it, though no lifetime ends big.
    let ok = i2_memory(
        &per_service(vec![("api", restarting(120, 30, 1_000))]),
        &spec(),
        120_000,
        0,
    );
    assert_eq!(ok.valid, Validity::Valid, "{:?}", ok.evidence);
    assert_eq!(fig(&ok, "slope-mb-per-hour"), &json!(3.6));
    let leak = i2_memory(
        &per_service(vec![("api", restarting(120, 30, 10_000))]),
        &spec(),
        120_000,
        0,
    );
    assert_eq!(leak.valid, Validity::Invalid);
    assert_eq!(problems(&leak), ["RSS grows faster than allowed"]);
}

#[test]
fn the_warmup_of_every_lifetime_is_left_out() {
    // Each lifetime grows fast for its first 5 s (loading), then is flat.
    let samples: Vec<RssSample> = restarting(120, 30, 0)
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let age = i as u64 % 30;
            s.bytes += 4_000_000 * age.min(5);
            s
        })
        .collect();
    let warm = i2_memory(
        &per_service(vec![("db", samples.clone())]),
        &spec(),
        120_000,
        6_000,
    );
    assert_eq!(warm.valid, Validity::Valid, "{:?}", warm.evidence);
    assert_eq!(fig(&warm, "slope-mb-per-hour"), &json!(0.0));
    assert_eq!(fig(&warm, "warmup-ms"), &json!(6_000));
    assert_eq!(fig(&warm, "services")["db"]["samples"], json!(4 * 24));
    let cold = i2_memory(&per_service(vec![("db", samples)]), &spec(), 120_000, 0);
    assert_eq!(cold.valid, Validity::Invalid);
}
