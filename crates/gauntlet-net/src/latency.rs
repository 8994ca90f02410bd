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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub mean_ms: f64,
    pub dist: LatencyDist,
}

impl Latency {
    pub const ZERO: Latency = Latency {
        mean_ms: 0.0,
        dist: LatencyDist::Constant,
    };

    pub fn new(mean_ms: f64, dist: LatencyDist) -> Latency {
        Latency { mean_ms, dist }
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
            let m = mean_of(Latency::new(100.0, dist), 20_000);
            assert!((m - 100.0).abs() < 5.0, "{dist:?}: mean {m}");
        }
    }

    #[test]
    fn uniform_stays_in_range_and_zero_mean_is_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let lat = Latency::new(10.0, LatencyDist::Uniform);
        assert!((0..1000).all(|_| lat.sample_ns(&mut rng) < 20_000_000));
        let zero = Latency::new(0.0, LatencyDist::Exponential);
        assert_eq!(zero.sample_ns(&mut rng), 0);
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
