//! Figures over samples, shared by every checker, observer and benchmark
//! that summarises numbers: one nearest-rank percentile and one
//! least-squares slope (and its pooled form over groups), so two reports
//! of the same data never disagree.
//!
//! (Jepsen's latency quantiles, `floor(n * p)`, are a different rule kept
//! apart in the latency checker so its figures match Maelstrom's.)

/// The index in a sorted sample of `n` values of the nearest-rank
/// percentile `p` (in percent: 95.0 for p95, clamped to 0..=100): the
/// smallest value with at least `p` percent of the sample at or below it.
/// `None` for an empty sample or a NaN `p`.
pub fn nearest_rank(n: usize, p: f64) -> Option<usize> {
    if n == 0 || p.is_nan() {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0 * n as f64).ceil() as usize;
    Some(rank.clamp(1, n) - 1)
}

/// The nearest-rank percentile `p` (see [`nearest_rank`]) of unsorted
/// samples.
///
/// ```
/// use gauntlet_check::figures::percentile;
/// let ms = [30, 10, 20, 40];
/// assert_eq!(percentile(&ms, 50.0), Some(20));
/// assert_eq!(percentile(&ms, 95.0), Some(40));
/// assert_eq!(percentile::<u32>(&[], 50.0), None);
/// ```
pub fn percentile<T: Ord + Copy>(samples: &[T], p: f64) -> Option<T> {
    let index = nearest_rank(samples.len(), p)?;
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    Some(sorted[index])
}

/// The nearest-rank percentile `p` of floats (NaN sorts last).
pub fn percentile_f64(samples: &[f64], p: f64) -> Option<f64> {
    let index = nearest_rank(samples.len(), p)?;
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[index])
}

/// The least-squares slope of `y` over `x`; `None` for fewer than two
/// points or when every `x` is the same.
///
/// ```
/// use gauntlet_check::figures::least_squares_slope;
/// let line = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)];
/// assert_eq!(least_squares_slope(line), Some(2.0));
/// assert_eq!(least_squares_slope([(1.0, 1.0), (1.0, 2.0)]), None);
/// ```
pub fn least_squares_slope(points: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let points: Vec<(f64, f64)> = points.into_iter().collect();
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The least-squares slope of `y` over `x` shared by several groups, each
/// with its own intercept (a fixed-effects fit): how fast `y` grows within
/// a group, with the jumps between groups left out. A restarted process
/// starts small again; fitted as one line its memory would seem to shrink
/// or, after a restart that reloads data, to grow. Groups with fewer than
/// two points add nothing; `None` when no group has two distinct `x`.
///
/// ```
/// use gauntlet_check::figures::pooled_slope;
/// // Two lifetimes, each growing by 1 per step, the second starting low.
/// let groups = [vec![(0.0, 10.0), (1.0, 11.0)], vec![(2.0, 0.0), (3.0, 1.0)]];
/// assert_eq!(pooled_slope(&groups), Some(1.0));
/// assert_eq!(pooled_slope(&[vec![(0.0, 1.0)]]), None);
/// ```
pub fn pooled_slope(groups: &[Vec<(f64, f64)>]) -> Option<f64> {
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for points in groups.iter().filter(|g| g.len() >= 2) {
        let n = points.len() as f64;
        let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
        let my = points.iter().map(|p| p.1).sum::<f64>() / n;
        sxx += points.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
        sxy += points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>();
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pooled_slope_of_one_group_is_its_least_squares_slope() {
        let line = vec![(0.0, 1.0), (1.0, 2.5), (2.0, 5.0), (4.0, 6.0)];
        assert_eq!(
            pooled_slope(std::slice::from_ref(&line)),
            least_squares_slope(line)
        );
        // Restarts that drop back to a low value do not pull the slope down.
        let sawtooth: Vec<Vec<(f64, f64)>> = (0..5)
            .map(|g| {
                (0..4)
                    .map(|i| ((g * 4 + i) as f64, 100.0 + i as f64 * 2.0))
                    .collect()
            })
            .collect();
        assert_eq!(pooled_slope(&sawtooth), Some(2.0));
        assert_eq!(pooled_slope(&[]), None);
        assert_eq!(pooled_slope(&[vec![(1.0, 1.0), (1.0, 2.0)]]), None);
    }

    #[test]
    fn nearest_rank_matches_its_definition() {
        assert_eq!(nearest_rank(100, 95.0), Some(94));
        assert_eq!(nearest_rank(100, 99.0), Some(98));
        assert_eq!(nearest_rank(3, 0.0), Some(0));
        assert_eq!(nearest_rank(3, 100.0), Some(2));
        assert_eq!(nearest_rank(3, 250.0), Some(2));
        assert_eq!(nearest_rank(0, 50.0), None);
        assert_eq!(nearest_rank(5, f64::NAN), None);
        assert_eq!(percentile_f64(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
    }
}
