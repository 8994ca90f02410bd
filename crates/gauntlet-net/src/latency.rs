use std::str::FromStr;

use rand::RngExt;

/// The shape of the one-way latency between two server nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyDist {
    /// Always the mean.
    Constant,
    /// Uniform on `[0, 2·mean)`.
    Uniform,
    /// Exponential with the given mean: mostly short, with a long tail that
    /// reorders messages.
    Exponential,
}

impl FromStr for LatencyDist {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(LatencyDist::Constant),
            "uniform" => Ok(LatencyDist::Uniform),
            "exponential" => Ok(LatencyDist::Exponential),
            other => Err(format!(
                "unknown latency distribution {other:?} (expected constant, uniform or exponential)"
            )),
        }
    }
}

/// A latency model: a mean and a distribution, sampled in nanoseconds.
///
/// Built only by [`Latency::new`], which refuses a mean outside
/// `0..=`[`Latency::MAX_MEAN_MS`]: a larger mean does not fit the
/// nanosecond clock deliveries are scheduled on, and used to wrap around to
/// instant delivery instead of failing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    mean_ms: f64,
    dist: LatencyDist,
}

/// A latency that cannot be modelled.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum LatencyError {
    /// Negative, NaN, infinite or above [`Latency::MAX_MEAN_MS`].
    #[error(
        "a mean latency must be a number of milliseconds from 0 to {max} (365 days), not {0}",
        max = Latency::MAX_MEAN_MS
    )]
    OutOfRange(f64),
}

impl Latency {
    pub const ZERO: Latency = Latency {
        mean_ms: 0.0,
        dist: LatencyDist::Constant,
    };

    /// The largest mean, in milliseconds: 365 days. An exponential draw is
    /// at most about 37 means (the log of the smallest `1 - u`), so every
    /// draw of every distribution stays below 2^61 ns (73 years) and a delivery time
    /// (send time + draw) cannot overflow a `u64`.
    pub const MAX_MEAN_MS: f64 = 365.0 * 24.0 * 3600.0 * 1000.0;

    /// A model with mean `mean_ms` milliseconds; zero means none.
    pub fn new(mean_ms: f64, dist: LatencyDist) -> Result<Latency, LatencyError> {
        // Written so that NaN fails too.
        if (0.0..=Self::MAX_MEAN_MS).contains(&mean_ms) {
            Ok(Latency { mean_ms, dist })
        } else {
            Err(LatencyError::OutOfRange(mean_ms))
        }
    }

    /// The mean, in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        self.mean_ms
    }

    /// The distribution.
    pub fn dist(&self) -> LatencyDist {
        self.dist
    }

    /// Draws one latency in nanoseconds. A mean of zero is zero under every
    /// distribution (Maelstrom's exponential divides by zero there).
    pub fn sample_ns(&self, rng: &mut impl rand::Rng) -> u64 {
        if self.mean_ms <= 0.0 {
            return 0;
        }
        let mean_ns = self.mean_ms * 1e6;
        let ns = match self.dist {
            LatencyDist::Constant => mean_ns,
            LatencyDist::Uniform => rng.random_range(0.0..2.0 * mean_ns),
            LatencyDist::Exponential => {
                // Inverse transform; 1 - u is in (0, 1], so the log is finite.
                let u: f64 = rng.random_range(0.0..1.0);
                -mean_ns * (1.0 - u).ln()
            }
        };
        ns as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mean_of(lat: Latency, n: usize) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        (0..n).map(|_| lat.sample_ns(&mut rng) as f64).sum::<f64>() / n as f64 / 1e6
    }

    #[test]
    fn every_distribution_keeps_its_mean() {
        for dist in [
            LatencyDist::Constant,
            LatencyDist::Uniform,
            LatencyDist::Exponential,
        ] {
            let m = mean_of(Latency::new(100.0, dist).unwrap(), 20_000);
            assert!((m - 100.0).abs() < 5.0, "{dist:?}: mean {m}");
        }
    }

    #[test]
    fn uniform_stays_in_range_and_zero_mean_is_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let lat = Latency::new(10.0, LatencyDist::Uniform).unwrap();
        assert!((0..1000).all(|_| lat.sample_ns(&mut rng) < 20_000_000));
        let zero = Latency::new(0.0, LatencyDist::Exponential).unwrap();
        assert_eq!(zero.sample_ns(&mut rng), 0);
    }

    #[test]
    fn means_outside_the_range_are_errors_never_clamped() {
        for bad in [
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            Latency::MAX_MEAN_MS * 1.000001,
            1e16,
        ] {
            let e = Latency::new(bad, LatencyDist::Constant).unwrap_err();
            assert!(matches!(e, LatencyError::OutOfRange(_)), "{bad}: {e}");
        }
        assert!(Latency::new(Latency::MAX_MEAN_MS, LatencyDist::Constant).is_ok());
    }

    /// The largest mean under the widest distribution still schedules
    /// deliveries far from the end of the nanosecond clock (1e16 ms used to
    /// saturate the draw, and the delivery time then wrapped to "now").
    #[test]
    fn the_largest_mean_never_overflows_a_delivery_time() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for dist in [
            LatencyDist::Constant,
            LatencyDist::Uniform,
            LatencyDist::Exponential,
        ] {
            let lat = Latency::new(Latency::MAX_MEAN_MS, dist).unwrap();
            for _ in 0..10_000 {
                let ns = lat.sample_ns(&mut rng);
                assert!(ns < 1 << 61, "{dist:?}: {ns}");
            }
        }
        // The smallest 1 - u a draw can give is 2^-53: about 36.7 means.
        let worst = Latency::MAX_MEAN_MS * 1e6 * (2f64.powi(53)).ln();
        assert!(worst < (1u64 << 61) as f64, "{worst}");
    }

    #[test]
    fn parses_names_and_rejects_others() {
        assert_eq!("uniform".parse::<LatencyDist>(), Ok(LatencyDist::Uniform));
        assert!(
            "gaussian"
                .parse::<LatencyDist>()
                .unwrap_err()
                .contains("gaussian")
        );
    }
}
