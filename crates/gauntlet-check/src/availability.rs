//! Maelstrom's availability check: what fraction of client requests
//! succeeded, against an optional target.

use std::str::FromStr;

use gauntlet_history::{Op, OpType};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::CheckResult;

/// The availability a run demands (`--availability` in Maelstrom).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Availability {
    /// Every invoked op must complete ok.
    Total,
    /// At least this fraction (in `[0, 1]`) of invoked ops must complete ok.
    AtLeast(f64),
}

/// Why an availability target could not be parsed; the message quotes the
/// input so CLI and plan errors point at the mistake.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AvailabilityError {
    /// The text is neither `total` nor a number.
    #[error("availability {0:?} is neither \"total\" nor a number between 0 and 1")]
    NotANumber(String),
    /// A number, but not a fraction.
    #[error("availability {0} is outside [0, 1]; give a fraction such as 0.99, or \"total\"")]
    OutOfRange(f64),
}

impl FromStr for Availability {
    type Err = AvailabilityError;

    /// Accepts `total` (any case) or a fraction in `[0, 1]` such as `0.99`.
    fn from_str(s: &str) -> Result<Availability, AvailabilityError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("total") {
            return Ok(Availability::Total);
        }
        let x: f64 = t
            .parse()
            .map_err(|_| AvailabilityError::NotANumber(s.to_owned()))?;
        if x.is_nan() {
            return Err(AvailabilityError::NotANumber(s.to_owned()));
        }
        if !(0.0..=1.0).contains(&x) {
            return Err(AvailabilityError::OutOfRange(x));
        }
        Ok(Availability::AtLeast(x))
    }
}

impl std::fmt::Display for Availability {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Availability::Total => f.write_str("total"),
            Availability::AtLeast(x) => write!(f, "{x}"),
        }
    }
}

impl Serialize for Availability {
    /// `"total"` or the fraction, the same words the CLI accepts.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Availability::Total => s.serialize_str("total"),
            Availability::AtLeast(x) => s.serialize_f64(*x),
        }
    }
}

/// Computes `ok-fraction` = ok client completions / client invokes (1 when
/// nothing was invoked, as in Maelstrom) and judges it against `target`.
///
/// With no target the result is always `true`: availability is then a
/// figure to read, not a requirement (Maelstrom's behaviour). `Total` needs
/// every invoke to complete ok; `AtLeast(x)` needs `ok-fraction >= x`.
///
/// Result figures: `ok-fraction`, `ok-count`, `invoke-count`, `target`
/// (`"total"`, a number, or `null`). Evidence when below target: one item
/// with those numbers.
pub fn check(history: &[Op], target: Option<Availability>) -> CheckResult {
    let (mut invokes, mut oks) = (0u64, 0u64);
    for op in history.iter().filter(|o| o.is_client()) {
        match op.kind {
            OpType::Invoke => invokes += 1,
            OpType::Ok => oks += 1,
            OpType::Fail | OpType::Info => {}
        }
    }
    let fraction = if invokes == 0 {
        1.0
    } else {
        oks as f64 / invokes as f64
    };
    let met = match target {
        None => true,
        Some(Availability::Total) => oks >= invokes,
        Some(Availability::AtLeast(x)) => fraction >= x,
    };
    let target_json = target.map_or(Value::Null, |t| json!(t));
    let mut r = CheckResult::new("availability")
        .with("ok-fraction", fraction)
        .with("ok-count", oks)
        .with("invoke-count", invokes)
        .with("target", target_json.clone());
    if !met {
        r.fail(
            json!({"problem": "availability below target", "ok-fraction": fraction,
                      "target": target_json, "ok-count": oks, "invoke-count": invokes}),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validity;
    use crate::testkit::H;

    fn history(ok: usize, failed: usize) -> Vec<Op> {
        let mut h = H::new();
        for i in 0..ok + failed {
            h.inv(i as u64, "read", Value::Null);
            if i < ok {
                h.ok(i as u64, "read", json!(1));
            } else {
                h.info(i as u64, "read", Value::Null);
            }
        }
        h.nemesis("kill", json!(null)).build()
    }

    #[test]
    fn parses_targets_with_clear_errors() {
        assert_eq!("total".parse::<Availability>(), Ok(Availability::Total));
        assert_eq!(" Total ".parse::<Availability>(), Ok(Availability::Total));
        assert_eq!(
            "0.99".parse::<Availability>(),
            Ok(Availability::AtLeast(0.99))
        );
        assert_eq!("1".parse::<Availability>(), Ok(Availability::AtLeast(1.0)));
        let e = "most".parse::<Availability>().unwrap_err();
        assert!(e.to_string().contains("\"most\""), "{e}");
        assert_eq!(
            "1.5".parse::<Availability>(),
            Err(AvailabilityError::OutOfRange(1.5))
        );
        assert!("-0.1".parse::<Availability>().is_err());
        assert!("NaN".parse::<Availability>().is_err());
        assert!("".parse::<Availability>().is_err());
    }

    #[test]
    fn fraction_and_targets() {
        let h = history(9, 1);
        let r = check(&h, None);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.figure("ok-fraction"), Some(&json!(0.9)));
        assert_eq!(r.figure("invoke-count"), Some(&json!(10)));
        assert_eq!(
            check(&h, Some(Availability::AtLeast(0.9))).valid,
            Validity::Valid
        );
        assert_eq!(
            check(&h, Some(Availability::AtLeast(0.91))).valid,
            Validity::Invalid
        );
        let r = check(&h, Some(Availability::Total));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.figure("target"), Some(&json!("total")));
        assert_eq!(
            check(&history(3, 0), Some(Availability::Total)).valid,
            Validity::Valid
        );
    }

    #[test]
    fn no_invokes_is_fully_available() {
        let r = check(&[], Some(Availability::Total));
        assert_eq!(r.figure("ok-fraction"), Some(&json!(1.0)));
        assert_eq!(r.valid, Validity::Valid);
    }
}
