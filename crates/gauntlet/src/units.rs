//! The command line's numbers: durations, rates and counts, each a type
//! with its allowed range, checked by clap when the arguments are parsed.
//!
//! A value out of range is refused before anything runs, with clap's
//! message naming the option (`invalid value '1e20' for '--time-limit
//! <SECONDS>': ...`) followed by the range, and exit 254. Nothing later
//! converts an unchecked float: `Duration::from_secs_f64(1e20)` panics and
//! a latency of 1e16 ms used to wrap around to instant delivery.
//!
//! The ranges (also in README.md, "Limits"):
//! - every duration, in any unit: at most [`MAX_DURATION`], 365 days;
//!   where zero means nothing, at least [`MIN_DURATION`], 1 ms;
//! - `--latency`: 0 to 365 days in ms ([`gauntlet_net::Latency::MAX_MEAN_MS`]);
//! - `--rate`: 0 (no requests) or 0.001 to 1,000,000 per second;
//! - counts: at least 1, at most what each says.

use std::fmt;
use std::time::Duration;

use gauntlet_workbench::TestConfig;
use gauntlet_workbench::WorkloadOptions;

/// The longest duration any option takes: 365 days.
pub const MAX_DURATION: Duration = TestConfig::MAX_DURATION;
/// The shortest duration an option that must be more than zero takes.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// Why a value was refused. Each message ends with the allowed range, so
/// clap's line reads: the option, the value, what is wrong, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a number; expected {allowed}")]
    NotANumber { allowed: String },
    #[error("not a finite number; expected {allowed}")]
    NotFinite { allowed: String },
    #[error("out of range; expected {allowed}")]
    OutOfRange { allowed: String },
    #[error("an empty name; expected {allowed}")]
    NotAName { allowed: String },
    #[error("unknown name {name:?}; expected {allowed}")]
    UnknownName { name: String, allowed: String },
}

/// A duration given in seconds (`--time-limit 20`, fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

/// A duration given in minutes (`--minutes 480`, fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minutes(pub Duration);

impl Minutes {
    /// The duration in (fractional) minutes, as plans take it.
    pub fn as_minutes_f64(self) -> f64 {
        self.0.as_secs_f64() / 60.0
    }
}

/// A mean one-way latency in milliseconds; 0 is none.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Millis(pub f64);

/// Client requests per second; 0 is none.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

/// Client workers: a number, or K per node (`2n`), as Maelstrom's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    Workers(usize),
    PerNode(usize),
}

impl Concurrency {
    /// The number of workers for `nodes` nodes; `None` past the most
    /// workers a run takes.
    pub fn workers(self, nodes: usize) -> Option<usize> {
        let n = match self {
            Concurrency::Workers(n) => n,
            Concurrency::PerNode(k) => k.checked_mul(nodes)?,
        };
        (n <= TestConfig::MAX_CONCURRENCY).then_some(n)
    }
}

impl fmt::Display for Concurrency {
    /// As it was written: `7` or `2n`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Concurrency::Workers(n) => write!(f, "{n}"),
            Concurrency::PerNode(k) => write!(f, "{k}n"),
        }
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// A number of the given unit within `[min, max]`, or exactly 0 when
/// `zero` allows it. NaN, infinities and negatives never pass.
struct Range {
    unit: &'static str,
    min: f64,
    max: f64,
    zero: bool,
    /// How the maximum reads to a person (`365 days`).
    max_note: &'static str,
}

impl Range {
    fn allowed(&self) -> String {
        let max = match self.max_note {
            "" => format!("{}", self.max),
            note => format!("{} ({note})", self.max),
        };
        if self.zero && self.min == 0.0 {
            format!("{} from 0 to {max}", self.unit)
        } else if self.zero {
            format!("{} 0 (none) or from {} to {max}", self.unit, self.min)
        } else {
            format!("{} from {} to {max}", self.unit, self.min)
        }
    }

    fn parse(&self, text: &str) -> Result<f64, ValueError> {
        let allowed = || self.allowed();
        let x: f64 = text
            .trim()
            .parse()
            .map_err(|_| ValueError::NotANumber { allowed: allowed() })?;
        if !x.is_finite() {
            return Err(ValueError::NotFinite { allowed: allowed() });
        }
        if (self.zero && x == 0.0) || (self.min..=self.max).contains(&x) {
            Ok(x)
        } else {
            Err(ValueError::OutOfRange { allowed: allowed() })
        }
    }
}

const DAYS: &str = "365 days";

/// A duration in `unit`s of `unit_s` seconds each.
fn duration_range(unit: &'static str, unit_s: f64, zero: bool) -> Range {
    Range {
        unit,
        min: if zero {
            0.0
        } else {
            MIN_DURATION.as_secs_f64() / unit_s
        },
        max: MAX_DURATION.as_secs_f64() / unit_s,
        zero,
        max_note: DAYS,
    }
}

/// Seconds from 0.001 to 31536000 (365 days): options where zero means
/// nothing (a time limit, a timeout, an interval).
pub fn seconds(text: &str) -> Result<Seconds, ValueError> {
    let s = duration_range("seconds", 1.0, false).parse(text)?;
    Ok(Seconds(Duration::from_secs_f64(s)))
}

/// Seconds from 0 to 31536000 (365 days): options where zero is a choice
/// (no recovery wait).
pub fn seconds_or_zero(text: &str) -> Result<Seconds, ValueError> {
    let s = duration_range("seconds", 1.0, true).parse(text)?;
    Ok(Seconds(Duration::from_secs_f64(s)))
}

/// Minutes, more than zero, at most 525600 (365 days).
pub fn minutes(text: &str) -> Result<Minutes, ValueError> {
    let m = Range {
        // 60 ms: shorter is no soak, and the plan counts in whole ms.
        min: 0.001,
        ..duration_range("minutes", 60.0, false)
    }
    .parse(text)?;
    Ok(Minutes(Duration::from_secs_f64(m * 60.0)))
}

/// A duration with a unit, as plans write them (`500ms`, `30s`, `1m30s`),
/// or one number with a unit or none (`1.5`, `2.5m`: a plain number is
/// seconds), from 0 to 365 days: `gauntlet check --timeout`, where 0 is a
/// choice (decide nothing: the verdict is unknown).
pub fn duration_with_unit(text: &str) -> Result<Seconds, ValueError> {
    let allowed = || format!("a duration such as 500ms, 30s, 1m30s, 2.5m or 1h, from 0 to {DAYS}");
    let t = text.trim();
    match gauntlet_plan::parse_duration(t) {
        Ok(d) if d <= MAX_DURATION => return Ok(Seconds(d)),
        Ok(_) | Err(gauntlet_plan::UnitError::DurationTooLong { .. }) => {
            return Err(ValueError::OutOfRange { allowed: allowed() });
        }
        Err(_) => {} // a decimal, or a plain number: below
    }
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let per_unit = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(ValueError::NotANumber { allowed: allowed() }),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| ValueError::NotANumber { allowed: allowed() })?;
    let secs = n * per_unit;
    if !secs.is_finite() {
        return Err(ValueError::NotFinite { allowed: allowed() });
    }
    if !(0.0..=MAX_DURATION.as_secs_f64()).contains(&secs) {
        return Err(ValueError::OutOfRange { allowed: allowed() });
    }
    Ok(Seconds(Duration::from_secs_f64(secs)))
}

/// A timeout with a unit, as [`duration_with_unit`] reads it (`500ms`,
/// `2s`, `1m30s`; a plain number is seconds), from 1 ms to 365 days: a
/// zero timeout would give up on every request at once.
pub fn timeout_with_unit(text: &str) -> Result<Seconds, ValueError> {
    let allowed = || format!("a duration such as 500ms, 2s or 1m30s, from 1ms to {DAYS}");
    match duration_with_unit(text) {
        Ok(d) if d.0 >= MIN_DURATION => Ok(d),
        Ok(_) | Err(ValueError::OutOfRange { .. }) => {
            Err(ValueError::OutOfRange { allowed: allowed() })
        }
        Err(ValueError::NotFinite { .. }) => Err(ValueError::NotFinite { allowed: allowed() }),
        Err(_) => Err(ValueError::NotANumber { allowed: allowed() }),
    }
}

/// A mean latency in milliseconds, from 0 to 365 days: the network
/// model's own limit ([`gauntlet_net::Latency::MAX_MEAN_MS`]).
pub fn latency_ms(text: &str) -> Result<Millis, ValueError> {
    let ms = Range {
        unit: "milliseconds",
        min: 0.0,
        max: gauntlet_net::Latency::MAX_MEAN_MS,
        zero: true,
        max_note: DAYS,
    }
    .parse(text)?;
    Ok(Millis(ms))
}

/// Requests per second: 0 (none) or from 0.001 to 1000000, the
/// workbench's own limits.
pub fn rate(text: &str) -> Result<Rate, ValueError> {
    let r = Range {
        unit: "requests per second,",
        min: TestConfig::MIN_RATE,
        max: TestConfig::MAX_RATE,
        zero: true,
        max_note: "",
    }
    .parse(text)?;
    Ok(Rate(r))
}

/// A whole number within `[min, max]`.
fn count(text: &str, what: &str, min: usize, max: usize) -> Result<usize, ValueError> {
    let allowed = || format!("a whole number of {what} from {min} to {max}");
    let t = text.trim();
    // Digits only: `parse` would take a `+`, and a float or a negative
    // number is not a count.
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotANumber { allowed: allowed() });
    }
    match t.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        // Too many digits for a usize is out of range too.
        _ => Err(ValueError::OutOfRange { allowed: allowed() }),
    }
}

/// A comma-separated list of whole numbers of `what`, each within
/// `[min, max]`.
fn counts(text: &str, what: &str, min: usize, max: usize) -> Result<Counts, ValueError> {
    text.split(',')
        .map(|part| count(part, what, min, max))
        .collect::<Result<_, _>>()
        .map(Counts)
        .map_err(|e| match e {
            ValueError::NotANumber { allowed } => ValueError::NotANumber {
                allowed: format!("{allowed}, comma-separated"),
            },
            ValueError::OutOfRange { allowed } => ValueError::OutOfRange {
                allowed: format!("{allowed}, comma-separated"),
            },
            other => other,
        })
}

/// Counts given as a list (`5,25,100`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<usize>);

/// `bench --nodes`: clusters of 2 to 10000 nodes.
pub fn cluster_sizes(text: &str) -> Result<Counts, ValueError> {
    counts(text, "nodes", 2, TestConfig::MAX_NODES)
}

/// The most clients and ops of a history `bench check` generates (a
/// history of 10 M ops takes about 2 GB to check).
pub const MAX_BENCH_CLIENTS: usize = 10_000;
pub const MAX_BENCH_OPS: usize = 10_000_000;

/// `bench --clients`: 1 to 10000 clients per generated history.
pub fn bench_clients(text: &str) -> Result<Counts, ValueError> {
    counts(text, "clients", 1, MAX_BENCH_CLIENTS)
}

/// `bench --sizes`: 1 to 10000000 ops per generated history.
pub fn bench_sizes(text: &str) -> Result<Counts, ValueError> {
    counts(text, "ops", 1, MAX_BENCH_OPS)
}

/// `--node-count`: 1 to 10000 nodes.
pub fn node_count(text: &str) -> Result<usize, ValueError> {
    count(text, "nodes", 1, TestConfig::MAX_NODES)
}

/// The most simulated users of a soak (each one is a task with its keys
/// and its journal entries).
pub const MAX_USERS: usize = 100_000;

/// `--users`: 1 to 100000 simulated users.
pub fn users(text: &str) -> Result<u32, ValueError> {
    // MAX_USERS fits a u32.
    count(text, "users", 1, MAX_USERS).map(|n| n as u32)
}

/// The most checker threads: each is an OS thread, and a failed spawn
/// would panic.
pub const MAX_THREADS: usize = 1024;

/// `--threads`: 1 to 1024 worker threads.
pub fn threads(text: &str) -> Result<usize, ValueError> {
    count(text, "threads", 1, MAX_THREADS)
}

/// The most tokens per node in the router benchmark (they all stay in
/// flight for the whole measurement).
pub const MAX_TOKENS: usize = 100_000;

/// `gauntlet bench --tokens`: 1 to 100000 tokens per node.
pub fn tokens(text: &str) -> Result<u64, ValueError> {
    count(text, "tokens", 1, MAX_TOKENS).map(|n| n as u64)
}

/// The most packets of one `bench lab` delay measurement (200 s at its
/// 5000 packets/s).
pub const MAX_BENCH_PACKETS: usize = 1_000_000;

/// `gauntlet bench lab --packets`: 100 to 1000000 packets.
pub fn bench_packets(text: &str) -> Result<u64, ValueError> {
    count(text, "packets", 100, MAX_BENCH_PACKETS).map(|n| n as u64)
}

/// `--key-count`: 1 to 100000 active keys.
pub fn key_count(text: &str) -> Result<usize, ValueError> {
    count(text, "keys", 1, WorkloadOptions::MAX_KEY_COUNT)
}

/// `--max-txn-length`: 1 to 1000 micro-ops.
pub fn max_txn_length(text: &str) -> Result<usize, ValueError> {
    count(text, "micro-ops", 1, WorkloadOptions::MAX_TXN_LENGTH)
}

/// `--max-writes-per-key`: 1 to 1000000 writes.
pub fn max_writes_per_key(text: &str) -> Result<u64, ValueError> {
    // The maximum fits a usize on every platform gauntlet builds for.
    count(
        text,
        "writes",
        1,
        WorkloadOptions::MAX_WRITES_PER_KEY as usize,
    )
    .map(|n| n as u64)
}

/// Names given as a comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

/// `--consistency-models`: one or more of Elle's model names, split on
/// commas and trimmed, so both `a,b` and Maelstrom's `a , b` (its split
/// needs the spaces) read as `[a, b]`.
pub fn consistency_models(text: &str) -> Result<Names, ValueError> {
    let names: Vec<String> = text.split(',').map(|n| n.trim().to_owned()).collect();
    let allowed = || {
        format!(
            "one or more model names, comma-separated, of: {}",
            gauntlet_txn::known_models().join(", ")
        )
    };
    if names.iter().any(String::is_empty) {
        return Err(ValueError::NotAName { allowed: allowed() });
    }
    if let Some(name) = names.iter().find(|n| gauntlet_txn::parse_model(n).is_err()) {
        return Err(ValueError::UnknownName {
            name: name.clone(),
            allowed: allowed(),
        });
    }
    Ok(Names(names))
}

/// `--concurrency`: `N` workers or `Kn`, K per node, each from 1 to
/// 100000. (K times the node count is checked against the same maximum
/// once the node count is known.)
pub fn concurrency(text: &str) -> Result<Concurrency, ValueError> {
    let max = TestConfig::MAX_CONCURRENCY;
    let t = text.trim();
    let wrap = |e: ValueError| match e {
        ValueError::NotANumber { .. } => ValueError::NotANumber {
            allowed: format!("a number of workers from 1 to {max}, or Kn: K per node"),
        },
        other => other,
    };
    match t.strip_suffix('n') {
        Some(k) => count(k, "workers per node", 1, max)
            .map(Concurrency::PerNode)
            .map_err(wrap),
        None => count(t, "workers", 1, max)
            .map(Concurrency::Workers)
            .map_err(wrap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_reported_values_are_refused() {
        for bad in ["1e20", "inf", "NaN", "-1", "0", "1e-300", "abc", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            seconds("1e20"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(seconds("inf"), Err(ValueError::NotFinite { .. })));
        assert!(matches!(seconds("abc"), Err(ValueError::NotANumber { .. })));
        assert!(matches!(rate("1e-300"), Err(ValueError::OutOfRange { .. })));
        assert!(matches!(
            latency_ms("1e16"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            latency_ms("1e13"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            node_count("0"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(threads("0"), Err(ValueError::OutOfRange { .. })));
        assert!(matches!(users("0"), Err(ValueError::OutOfRange { .. })));
        assert!(matches!(
            concurrency("0n"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            concurrency("99999999999999999999999n"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            concurrency("xn"),
            Err(ValueError::NotANumber { .. })
        ));
    }

    #[test]
    fn the_edges_are_allowed() {
        assert_eq!(seconds("31536000"), Ok(Seconds(MAX_DURATION)));
        assert_eq!(seconds("0.001"), Ok(Seconds(MIN_DURATION)));
        assert!(seconds("31536000.001").is_err());
        assert_eq!(seconds_or_zero("0"), Ok(Seconds(Duration::ZERO)));
        assert_eq!(minutes("525600"), Ok(Minutes(MAX_DURATION)));
        assert_eq!(rate("0"), Ok(Rate(0.0)));
        assert_eq!(rate("0.001"), Ok(Rate(0.001)));
        assert_eq!(rate("1000000"), Ok(Rate(1e6)));
        assert!(rate("0.0009").is_err());
        assert_eq!(latency_ms("0"), Ok(Millis(0.0)));
        assert_eq!(latency_ms("31536000000"), Ok(Millis(31_536_000_000.0)));
        assert_eq!(node_count("10000"), Ok(10_000));
        assert!(node_count("10001").is_err());
        assert_eq!(concurrency("2n"), Ok(Concurrency::PerNode(2)));
        assert_eq!(concurrency("7"), Ok(Concurrency::Workers(7)));
        assert_eq!(Concurrency::PerNode(2).workers(5), Some(10));
        assert_eq!(Concurrency::PerNode(100_000).workers(2), None);
        assert_eq!(Concurrency::PerNode(usize::MAX).workers(2), None);
        assert_eq!(
            duration_with_unit("500ms"),
            Ok(Seconds(Duration::from_millis(500)))
        );
        assert_eq!(
            duration_with_unit("2m"),
            Ok(Seconds(Duration::from_secs(120)))
        );
        assert_eq!(
            duration_with_unit("1.5"),
            Ok(Seconds(Duration::from_millis(1500)))
        );
        assert_eq!(duration_with_unit("8760h"), Ok(Seconds(MAX_DURATION)));
        assert_eq!(duration_with_unit("0ms"), Ok(Seconds(Duration::ZERO)));
        // The plan's grammar too, so one duration means the same everywhere.
        assert_eq!(
            duration_with_unit("1m30s"),
            Ok(Seconds(Duration::from_secs(90)))
        );
        assert_eq!(
            duration_with_unit("2.5m"),
            Ok(Seconds(Duration::from_secs(150)))
        );
        for bad in [
            "8760h1s",
            "1m30",
            "8761h",
            "soon",
            "5d",
            "-1s",
            "1e3s",
            "99999999999999999999h",
        ] {
            assert!(duration_with_unit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts_are_durations_of_at_least_a_millisecond() {
        assert_eq!(
            timeout_with_unit("500ms"),
            Ok(Seconds(Duration::from_millis(500)))
        );
        assert_eq!(timeout_with_unit("2"), Ok(Seconds(Duration::from_secs(2))));
        assert_eq!(
            timeout_with_unit("1ms"),
            Ok(Seconds(Duration::from_millis(1)))
        );
        for bad in ["0", "0s", "0.0001", "soon", "-1s", "8761h", ""] {
            let e = timeout_with_unit(bad).unwrap_err().to_string();
            assert!(e.contains("from 1ms to 365 days"), "{bad}: {e}");
        }
    }

    /// The messages say what is allowed, so that clap's line, which names
    /// the option, is complete.
    #[test]
    fn messages_state_the_range() {
        let e = seconds("1e20").unwrap_err().to_string();
        assert_eq!(
            e,
            "out of range; expected seconds from 0.001 to 31536000 (365 days)"
        );
        let e = rate("1e-300").unwrap_err().to_string();
        assert_eq!(
            e,
            "out of range; expected requests per second, 0 (none) or from 0.001 to 1000000"
        );
        let e = node_count("0").unwrap_err().to_string();
        assert_eq!(
            e,
            "out of range; expected a whole number of nodes from 1 to 10000"
        );
    }

    #[test]
    fn workload_options_and_models() {
        assert_eq!(key_count("10"), Ok(10));
        assert_eq!(key_count("100000"), Ok(100_000));
        assert_eq!(max_txn_length("1"), Ok(1));
        assert_eq!(max_writes_per_key("1000000"), Ok(1_000_000));
        for bad in ["0", "-1", "1.5", "x", "", "100001"] {
            assert!(key_count(bad).is_err(), "{bad}");
        }
        assert!(max_txn_length("1001").is_err());
        assert!(max_writes_per_key("1000001").is_err());
        assert!(max_writes_per_key("99999999999999999999999").is_err());
        let two = Names(vec!["serializable".into(), "read-committed".into()]);
        assert_eq!(
            consistency_models("serializable,read-committed"),
            Ok(two.clone())
        );
        assert_eq!(consistency_models("serializable , read-committed"), Ok(two));
        assert_eq!(
            consistency_models("strict-serializable"),
            Ok(Names(vec!["strict-serializable".into()]))
        );
        // Unknown names too, at parse time.
        assert!(matches!(
            consistency_models("serializable,serialisable"),
            Err(ValueError::UnknownName { name, .. }) if name == "serialisable"
        ));
        for bad in ["", " ", "a,,b", "a,"] {
            assert!(consistency_models(bad).is_err(), "{bad:?}");
        }
    }

    /// The CLI never accepts what the workbench would then refuse.
    #[test]
    fn cli_ranges_fit_the_workbench() {
        let mut cfg = TestConfig::new("echo", "/bin/sh");
        cfg.time_limit = seconds("31536000").unwrap().0;
        cfg.recovery = seconds_or_zero("31536000").unwrap().0;
        cfg.rpc_timeout = seconds("0.001").unwrap().0;
        cfg.checker_timeout = seconds("0.001").unwrap().0;
        cfg.nemesis_interval = seconds("0.001").unwrap().0.as_secs_f64();
        cfg.rate = rate("0.001").unwrap().0;
        cfg.node_count = node_count("10000").unwrap();
        cfg.concurrency = concurrency("1n").unwrap().workers(cfg.node_count).unwrap();
        cfg.latency = gauntlet_net::Latency::new(
            latency_ms("31536000000").unwrap().0,
            gauntlet_net::LatencyDist::Exponential,
        )
        .unwrap();
        cfg.workload_options = WorkloadOptions {
            key_count: key_count("100000").unwrap(),
            max_txn_length: max_txn_length("1000").unwrap(),
            max_writes_per_key: max_writes_per_key("1000000").unwrap(),
        };
        cfg.consistency_models = consistency_models("serializable , read-committed")
            .unwrap()
            .0;
        cfg.validate().unwrap();
        cfg.nemesis_interval = seconds("31536000").unwrap().0.as_secs_f64();
        cfg.rate = rate("1000000").unwrap().0;
        cfg.validate().unwrap();
    }

    /// The difference between a parsed duration and the seconds written.
    fn off_by(d: Duration, secs: f64) -> f64 {
        (d.as_secs_f64() - secs).abs()
    }

    fn out_of_range<T>(r: Result<T, ValueError>) -> bool {
        matches!(r, Err(ValueError::OutOfRange { .. }))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every valid number of seconds parses to that duration (to the
        /// nanosecond, relative to f64's precision), and printing it gives
        /// text that parses to the same duration again.
        #[test]
        fn valid_seconds_round_trip(secs in 0.001f64..=31_536_000.0) {
            let text = secs.to_string();
            let d = seconds(&text).unwrap();
            prop_assert!(off_by(d.0, secs) <= 1e-9 + secs * 1e-15, "{text}: {d:?}");
            let again = seconds(&d.to_string()).unwrap();
            prop_assert!(off_by(again.0, d.0.as_secs_f64()) <= 1e-9 + secs * 1e-15, "{d}: {again:?}");
            prop_assert_eq!(seconds_or_zero(&text), Ok(d));
        }

        #[test]
        fn valid_minutes_round_trip(m in 0.001f64..=525_600.0) {
            let d = minutes(&m.to_string()).unwrap();
            prop_assert!((d.as_minutes_f64() - m).abs() <= 1e-9 + m * 1e-14, "{m}: {d:?}");
        }

        #[test]
        fn valid_rates_and_latencies_are_kept_exactly(
            r in 0.001f64..=1_000_000.0,
            ms in 0.0f64..=31_536_000_000.0,
        ) {
            prop_assert_eq!(rate(&r.to_string()), Ok(Rate(r)));
            prop_assert_eq!(latency_ms(&ms.to_string()), Ok(Millis(ms)));
            // What the CLI accepts, the library accepts.
            prop_assert!(gauntlet_net::Latency::new(ms, gauntlet_net::LatencyDist::Uniform).is_ok());
        }

        #[test]
        fn valid_counts_round_trip(n in 1usize..=10_000) {
            prop_assert_eq!(node_count(&n.to_string()), Ok(n));
            prop_assert_eq!(threads(&n.min(MAX_THREADS).to_string()), Ok(n.min(MAX_THREADS)));
            prop_assert_eq!(users(&n.to_string()), Ok(n as u32));
            prop_assert_eq!(concurrency(&format!("{n}n")), Ok(Concurrency::PerNode(n)));
        }

        /// Out of range, in every spelling a float has, is a typed error.
        #[test]
        fn out_of_range_floats_are_typed_errors(
            big in 31_536_000.001f64..=f64::MAX,
            neg in -f64::MAX..-0.0f64,
            tiny in f64::MIN_POSITIVE..0.000_999,
        ) {
            for text in [big.to_string(), format!("{big:e}"), neg.to_string(), format!("{tiny:e}")] {
                prop_assert!(out_of_range(seconds(&text)), "{}", text);
            }
            let (tiny, big, neg) = (format!("{tiny:e}"), format!("{big:e}"), format!("{neg:e}"));
            prop_assert!(out_of_range(rate(&tiny)), "{}", tiny);
            prop_assert!(out_of_range(rate(&big)), "{}", big);
            prop_assert!(out_of_range(latency_ms(&neg)), "{}", neg);
            prop_assert!(out_of_range(minutes(&big)), "{}", big);
        }

        #[test]
        fn counts_out_of_range_are_typed_errors(n in 10_001u128..u128::MAX / 2) {
            let text = n.to_string();
            prop_assert!(out_of_range(node_count(&text)));
            prop_assert!(out_of_range(threads(&text)));
            prop_assert!(out_of_range(users(&(n + 100_000).to_string())));
            let per_node = format!("{}n", n + 100_000);
            prop_assert!(out_of_range(concurrency(&per_node)), "{}", per_node);
        }

        /// Any text at all: a value or a typed error, never a panic, and a
        /// value is always within its range.
        #[test]
        fn no_text_panics(text in "\\PC{0,24}", number in "[-+]?[0-9]{0,30}(\\.[0-9]{0,10})?(e[-+]?[0-9]{1,4})?(ms|s|m|h|n)?") {
            for t in [&text, &number] {
                if let Ok(Seconds(d)) = seconds(t) {
                    prop_assert!((MIN_DURATION..=MAX_DURATION).contains(&d));
                }
                if let Ok(Seconds(d)) = seconds_or_zero(t) {
                    prop_assert!(d <= MAX_DURATION);
                }
                if let Ok(Seconds(d)) = duration_with_unit(t) {
                    prop_assert!(d <= MAX_DURATION);
                }
                if let Ok(m) = minutes(t) {
                    prop_assert!(m.0 <= MAX_DURATION && !m.0.is_zero());
                }
                if let Ok(Rate(r)) = rate(t) {
                    prop_assert!(r == 0.0 || (TestConfig::MIN_RATE..=TestConfig::MAX_RATE).contains(&r));
                }
                if let Ok(Millis(ms)) = latency_ms(t) {
                    prop_assert!(gauntlet_net::Latency::new(ms, gauntlet_net::LatencyDist::Exponential).is_ok());
                }
                if let Ok(n) = node_count(t) {
                    prop_assert!((1..=TestConfig::MAX_NODES).contains(&n));
                }
                let _ = users(t);
                let _ = threads(t);
                let _ = tokens(t);
                if let Ok(c) = concurrency(t) {
                    let _ = c.workers(TestConfig::MAX_NODES);
                }
            }
        }
    }
}
