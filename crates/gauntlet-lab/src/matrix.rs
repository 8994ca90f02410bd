//! Judging a connectivity matrix (the plan's `matrix` stage). Pure: the
//! stage runs the attempts and hands their outcomes here.
//!
//! Each ordered pair of hosts belongs to one category: the one most of its
//! successful attempts reported (`relayed` wins a tie, being the weakest
//! claim), or, when none succeeded, the one its place in the lab predicts
//! (`direct` when neither host is behind a NAT box, `nat-traversed`
//! otherwise). A category's success rate is the connected attempts over
//! all attempts of its pairs, judged against its threshold. So a pair of
//! symmetric NATs that never connects counts against `nat-traversed`;
//! with a relay it connects as `relayed` and is judged there. A category no
//! pair fell into is reported as not exercised, never as met.

use std::collections::BTreeMap;

use gauntlet_plan::{HostPlace, LabSpec};
use serde_json::{Value, json};

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Direct,
    NatTraversed,
    Relayed,
    Failed,
}

impl Outcome {
    /// An attempt's outcome from its exit and stdout: exit 0 is connected,
    /// and stdout names how (`direct` when it names nothing).
    pub fn of(connected: bool, stdout: &str) -> Outcome {
        if !connected {
            return Outcome::Failed;
        }
        let text = stdout.to_ascii_lowercase();
        if text.contains("relayed") {
            Outcome::Relayed
        } else if text.contains("nat-traversed") {
            Outcome::NatTraversed
        } else {
            Outcome::Direct
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Direct => "direct",
            Outcome::NatTraversed => "nat-traversed",
            Outcome::Relayed => "relayed",
            Outcome::Failed => "failed",
        }
    }
}

/// The attempts of one ordered pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub from: String,
    pub to: String,
    pub outcomes: Vec<Outcome>,
}

/// The matrix's verdict and what shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub passed: bool,
    /// One line per category below its threshold.
    pub failures: Vec<String>,
    /// The stage's summary (REPORT.json, report.html's table).
    pub summary: Value,
}

/// The category `lab` predicts for `from` → `to`.
pub fn predicted(lab: &LabSpec, from: &str, to: &str) -> Outcome {
    let natted = |h: &str| {
        lab.host(h)
            .is_some_and(|h| matches!(h.place, HostPlace::Behind(_)))
    };
    if natted(from) || natted(to) {
        Outcome::NatTraversed
    } else {
        Outcome::Direct
    }
}

/// A pair's category (see the module's documentation).
pub fn category(pair: &Pair, predicted: Outcome) -> Outcome {
    let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
    for o in pair.outcomes.iter().filter(|o| **o != Outcome::Failed) {
        *counts.entry(*o).or_default() += 1;
    }
    counts
        .into_iter()
        // Most attempts first; on a tie the later (weaker) category.
        .max_by_key(|(o, n)| (*n, *o))
        .map_or(predicted, |(o, _)| o)
}

/// Judges `pairs` against `thresholds` (percent per category name).
pub fn judge(
    lab: &LabSpec,
    hosts: &[String],
    pairs: &[Pair],
    thresholds: &BTreeMap<String, f64>,
) -> Judged {
    let mut per_category: BTreeMap<Outcome, (usize, usize, usize)> = BTreeMap::new();
    let mut rows = Vec::new();
    for pair in pairs {
        let class = category(pair, predicted(lab, &pair.from, &pair.to));
        let connected = pair
            .outcomes
            .iter()
            .filter(|o| **o != Outcome::Failed)
            .count();
        let entry = per_category.entry(class).or_default();
        entry.0 += 1;
        entry.1 += pair.outcomes.len();
        entry.2 += connected;
        let mut outcomes = serde_json::Map::new();
        for o in [
            Outcome::Direct,
            Outcome::NatTraversed,
            Outcome::Relayed,
            Outcome::Failed,
        ] {
            let n = pair.outcomes.iter().filter(|x| **x == o).count();
            outcomes.insert(o.name().to_owned(), json!(n));
        }
        rows.push(json!({
            "from": pair.from,
            "to": pair.to,
            "category": class.name(),
            "attempts": pair.outcomes.len(),
            "connected": connected,
            "rate": rate(connected, pair.outcomes.len()),
            "outcomes": outcomes,
        }));
    }
    let mut categories = serde_json::Map::new();
    let mut failures = Vec::new();
    for o in [Outcome::Direct, Outcome::NatTraversed, Outcome::Relayed] {
        let threshold = thresholds.get(o.name()).copied();
        let value = match per_category.get(&o) {
            None => json!({"pairs": 0, "exercised": false, "threshold": threshold}),
            Some(&(n, attempts, connected)) => {
                let r = rate(connected, attempts);
                let met = threshold.is_none_or(|t| r.is_some_and(|r| r + 1e-9 >= t));
                if !met {
                    failures.push(format!(
                        "{}: {connected} of {attempts} attempts connected ({:.1} %), below {:.1} %",
                        o.name(),
                        r.unwrap_or(0.0),
                        threshold.unwrap_or(0.0)
                    ));
                }
                json!({
                    "pairs": n,
                    "exercised": true,
                    "attempts": attempts,
                    "connected": connected,
                    "rate": r,
                    "threshold": threshold,
                    "met": met,
                })
            }
        };
        categories.insert(o.name().to_owned(), value);
    }
    let passed = failures.is_empty();
    Judged {
        passed,
        failures,
        summary: json!({
            "matrix": {
                "hosts": hosts,
                "pairs": rows,
                "categories": categories,
            },
            "verdict": if passed { "pass" } else { "fail" },
        }),
    }
}

/// Percent, `None` for no attempts.
fn rate(connected: usize, attempts: usize) -> Option<f64> {
    (attempts > 0).then(|| connected as f64 * 100.0 / attempts as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const LAB: &str = r#"
[[segment]]
name = "net"
subnet = "10.1.0.0/24"
[[nat]]
name = "s1"
type = "symmetric"
outside = "net"
[[nat]]
name = "s2"
type = "symmetric"
outside = "net"
[[host]]
name = "a"
segment = "net"
[[host]]
name = "b"
segment = "net"
[[host]]
name = "x"
behind = "s1"
[[host]]
name = "y"
behind = "s2"
"#;

    fn lab() -> LabSpec {
        gauntlet_plan::load_lab_str(LAB, Path::new("lab.toml")).unwrap()
    }

    fn thresholds() -> BTreeMap<String, f64> {
        gauntlet_plan::MATRIX_CATEGORIES
            .iter()
            .map(|(c, t)| ((*c).to_owned(), *t))
            .collect()
    }

    fn pair(from: &str, to: &str, outcomes: &[Outcome]) -> Pair {
        Pair {
            from: from.into(),
            to: to.into(),
            outcomes: outcomes.to_vec(),
        }
    }

    use Outcome::*;

    #[test]
    fn outcomes_read_the_command_s_word() {
        assert_eq!(Outcome::of(true, "direct\n"), Direct);
        assert_eq!(
            Outcome::of(true, "connected via NAT-traversed path"),
            NatTraversed
        );
        assert_eq!(Outcome::of(true, "relayed"), Relayed);
        assert_eq!(Outcome::of(true, ""), Direct);
        assert_eq!(Outcome::of(false, "direct"), Failed);
    }

    #[test]
    fn symmetric_pairs_that_never_connect_fail_nat_traversal() {
        let lab = lab();
        let hosts: Vec<String> = ["a", "b", "x", "y"].map(String::from).to_vec();
        let pairs = vec![
            pair("a", "b", &[Direct, Direct, Direct]),
            pair("x", "a", &[NatTraversed, NatTraversed, NatTraversed]),
            pair("x", "y", &[Failed, Failed, Failed]),
        ];
        let judged = judge(&lab, &hosts, &pairs, &thresholds());
        assert!(!judged.passed);
        assert_eq!(judged.failures.len(), 1, "{:?}", judged.failures);
        assert!(
            judged.failures[0].starts_with("nat-traversed: 3 of 6"),
            "{:?}",
            judged.failures
        );
        let cats = &judged.summary["matrix"]["categories"];
        assert_eq!(cats["direct"]["met"], true);
        assert_eq!(cats["relayed"]["exercised"], false);
        assert_eq!(judged.summary["verdict"], "fail");

        // With a relay the symmetric pair connects as relayed: all pass.
        let pairs = vec![
            pair("a", "b", &[Direct, Direct, Direct]),
            pair("x", "a", &[NatTraversed, NatTraversed, NatTraversed]),
            pair("x", "y", &[Relayed, Relayed, Relayed]),
        ];
        let judged = judge(&lab, &hosts, &pairs, &thresholds());
        assert!(judged.passed, "{:?}", judged.failures);
        assert_eq!(
            judged.summary["matrix"]["categories"]["relayed"]["rate"],
            100.0
        );
    }

    #[test]
    fn a_pair_s_category_is_its_usual_way_to_connect() {
        assert_eq!(
            category(&pair("a", "b", &[Direct, Relayed, Relayed]), Direct),
            Relayed
        );
        assert_eq!(
            category(&pair("a", "b", &[Direct, Relayed]), Direct),
            Relayed,
            "a tie goes to the weaker claim"
        );
        assert_eq!(
            category(&pair("a", "b", &[Failed]), NatTraversed),
            NatTraversed
        );
        // One lost attempt out of 100 direct ones keeps direct at 99 %: met.
        let mut outcomes = vec![Direct; 99];
        outcomes.push(Failed);
        let judged = judge(&lab(), &[], &[pair("a", "b", &outcomes)], &thresholds());
        assert!(judged.passed, "{:?}", judged.failures);
    }
}
