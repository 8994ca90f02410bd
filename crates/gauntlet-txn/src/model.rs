//! Consistency models and the anomalies each rules out: Elle's lattice
//! (`elle.consistency-model`), with its canonical Adya names (`PL-3`,
//! `PL-SI`, ...) accepted as aliases of the friendly ones.

use std::collections::BTreeSet;

use crate::error::TxnError;

/// `a` implies `b`: a history satisfying `a` satisfies `b`.
const MODEL_IMPLIES: &[(&str, &[&str])] = &[
    ("causal-cerone", &["read-atomic"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    ("cursor-stability", &["read-committed"]),
    ("forward-consistent-view", &["consistent-view"]),
    ("read-committed", &["read-uncommitted"]),
    (
        "serializable",
        &[
            "repeatable-read",
            "update-serializable",
            "snapshot-isolation",
            "view-serializable",
        ],
    ),
    ("update-serializable", &["forward-consistent-view"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("monotonic-view", &["read-committed"]),
    ("monotonic-snapshot-read", &["read-committed"]),
    ("parallel-snapshot-isolation", &["causal-cerone", "ROLA"]),
    ("prefix", &["causal-cerone"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    (
        "repeatable-read",
        &["cursor-stability", "monotonic-atomic-view"],
    ),
    ("ROLA", &["read-atomic"]),
    ("session-serializable", &["1SR"]),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "monotonic-snapshot-read",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    (
        "strict-serializable",
        &[
            "serializable",
            "linearizable",
            "snapshot-isolation",
            "strong-snapshot-isolation",
            "strong-session-serializable",
            "session-serializable",
        ],
    ),
    ("strong-session-read-uncommitted", &["read-uncommitted"]),
    (
        "strong-session-read-committed",
        &["read-committed", "strong-session-read-uncommitted"],
    ),
    (
        "strong-read-uncommitted",
        &["strong-session-read-uncommitted"],
    ),
    (
        "strong-read-committed",
        &["strong-session-read-committed", "strong-read-uncommitted"],
    ),
    (
        "strong-session-serializable",
        &["serializable", "strong-session-snapshot-isolation"],
    ),
    (
        "strong-session-snapshot-isolation",
        &["snapshot-isolation", "strong-session-read-committed"],
    ),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-read-committed"],
    ),
    ("linearizable", &["sequential"]),
    ("sequential", &["causal"]),
    ("causal", &["writes-follow-reads", "PRAM"]),
    (
        "PRAM",
        &["monotonic-reads", "monotonic-writes", "read-your-writes"],
    ),
];

/// Other names of the same models (Adya's, and Elle's synonyms).
const ALIASES: &[(&str, &str)] = &[
    ("PL-1", "read-uncommitted"),
    ("PL-2", "read-committed"),
    ("PL-2+", "consistent-view"),
    ("PL-2.99", "repeatable-read"),
    ("PL-2L", "monotonic-view"),
    ("PL-3", "serializable"),
    ("PL-3U", "update-serializable"),
    ("PL-CS", "cursor-stability"),
    ("PL-FCV", "forward-consistent-view"),
    ("PL-MSR", "monotonic-snapshot-read"),
    ("PL-SI", "snapshot-isolation"),
    ("PL-SS", "strict-serializable"),
    ("conflict-serializable", "serializable"),
    ("strong-serializable", "strict-serializable"),
    ("strong-session-PL-1", "strong-session-read-uncommitted"),
    ("strong-session-PL-2", "strong-session-read-committed"),
    ("strong-PL-1", "strong-read-uncommitted"),
    ("strong-PL-2", "strong-read-committed"),
];

/// The anomalies a model rules out beyond the models it implies.
const PROSCRIBES: &[(&str, &[&str])] = &[
    ("causal-cerone", &["internal", "G1a"]),
    ("cursor-stability", &["G1", "G-cursor", "lost-update"]),
    ("monotonic-view", &["G1", "G-monotonic"]),
    ("monotonic-snapshot-read", &["G1", "G-MSR"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1", "GSIb"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("serializable", &["internal", "G1", "G2"]),
    ("read-committed", &["G1"]),
    (
        "read-uncommitted",
        &["G0", "duplicate-elements", "cyclic-versions"],
    ),
    ("prefix", &["internal", "G1a"]),
    (
        "snapshot-isolation",
        &["internal", "G1", "GSI", "G-nonadjacent"],
    ),
    ("read-atomic", &["internal", "G1a", "future-read"]),
    ("repeatable-read", &["G1", "G2-item", "lost-update"]),
    ("ROLA", &["lost-update"]),
    (
        "strict-serializable",
        &["G1", "G1c-realtime", "G2-realtime"],
    ),
    ("strong-session-read-uncommitted", &["G0-process"]),
    ("strong-session-read-committed", &["G1c-process"]),
    ("strong-read-uncommitted", &["G0-realtime"]),
    ("strong-read-committed", &["G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &["internal", "G1-process", "G-nonadjacent-process"],
    ),
    (
        "strong-snapshot-isolation",
        &["internal", "G1-realtime", "G-nonadjacent-realtime"],
    ),
    ("strong-session-serializable", &["G1-process", "G2-process"]),
    ("update-serializable", &["G1", "G-update"]),
];

/// Anomaly `a` implies anomaly `b` (finding `a` means `b` is present too).
/// Every cycle this checker finds is over items (no predicate reads), so
/// G-single and G-nonadjacent are Elle's `-item` variants and imply
/// G2-item. A garbage read (a value no transaction wrote) is treated as an
/// aborted read: whatever wrote it is not a committed transaction.
const ANOMALY_IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    (
        "G-single",
        &["G-nonadjacent", "GSIb", "G-single-process", "G2-item"],
    ),
    (
        "G-single-process",
        &[
            "G-nonadjacent-process",
            "G-single-realtime",
            "G2-item-process",
        ],
    ),
    (
        "G-single-realtime",
        &["G-nonadjacent-realtime", "G2-item-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process", "G2-item"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime", "G2-item-process"],
    ),
    (
        "G-nonadjacent-realtime",
        &["G2-realtime", "G2-item-realtime"],
    ),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    ("GSIa", &["GSI"]),
    ("GSIb", &["GSI"]),
    ("incompatible-order", &["G1a"]),
    ("future-read", &["G1c"]),
    ("dirty-update", &["G1a"]),
    ("garbage-read", &["G1a"]),
    ("lost-update", &["write-skew", "G2-item"]),
    ("write-skew", &["G2"]),
];

fn out<'a>(table: &'a [(&'a str, &'a [&'a str])], x: &str) -> &'a [&'a str] {
    table
        .iter()
        .find(|(a, _)| *a == x)
        .map_or(&[], |(_, bs)| bs)
}

/// Everything reachable from `start` along `next` (start included).
fn closure<'a>(
    start: impl IntoIterator<Item = &'a str>,
    next: impl Fn(&str) -> Vec<&'a str>,
) -> BTreeSet<&'a str> {
    let mut seen: BTreeSet<&'a str> = BTreeSet::new();
    let mut todo: Vec<&'a str> = start.into_iter().collect();
    while let Some(x) = todo.pop() {
        if seen.insert(x) {
            todo.extend(next(x));
        }
    }
    seen
}

/// Every model name, friendly and alias, sorted.
pub fn known_models() -> Vec<&'static str> {
    let mut all: BTreeSet<&'static str> = BTreeSet::new();
    for (a, bs) in MODEL_IMPLIES {
        all.insert(a);
        all.extend(bs.iter().copied());
    }
    all.extend(PROSCRIBES.iter().map(|p| p.0));
    all.extend(ALIASES.iter().map(|p| p.0));
    all.into_iter().collect()
}

/// The friendly name of a model, as Elle and Maelstrom spell it; aliases
/// (`PL-3`) map to theirs (`serializable`). Unknown names are an error
/// listing the known ones.
pub fn parse_model(name: &str) -> Result<&'static str, TxnError> {
    let name = name.strip_prefix(':').unwrap_or(name);
    if let Some((_, to)) = ALIASES.iter().find(|(a, _)| *a == name) {
        return Ok(to);
    }
    known_models()
        .into_iter()
        .find(|m| *m == name)
        .ok_or_else(|| TxnError::UnknownModel {
            name: name.to_owned(),
            known: known_models().into_iter().map(str::to_owned).collect(),
        })
}

fn models_implying(m: &str) -> Vec<&'static str> {
    MODEL_IMPLIES
        .iter()
        .filter(|(_, bs)| bs.contains(&m))
        .map(|(a, _)| *a)
        .collect()
}

fn anomalies_implying(x: &str) -> Vec<&'static str> {
    ANOMALY_IMPLIES
        .iter()
        .filter(|(_, bs)| bs.contains(&x))
        .map(|(a, _)| *a)
        .collect()
}

/// Every anomaly implied by the given ones, themselves included.
pub fn implied_anomalies<'a>(found: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    closure(found, |x| out(ANOMALY_IMPLIES, x).to_vec())
}

/// The anomalies that cannot be present if `model` holds: the ones it and
/// every weaker model proscribe, and every anomaly that implies one of
/// those.
pub fn prohibited_by(model: &str) -> BTreeSet<&'static str> {
    let model = parse_model(model).unwrap_or("strict-serializable");
    let models = closure([model], |m| out(MODEL_IMPLIES, m).to_vec());
    let direct = models
        .iter()
        .flat_map(|m| out(PROSCRIBES, m).iter().copied());
    closure(direct, anomalies_implying)
}

/// The models ruled out by these anomalies, and of those the weakest
/// (`not`) and the rest (`also-not`), as Elle's `boundary`.
pub fn impossible_models<'a>(
    found: impl IntoIterator<Item = &'a str>,
) -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    let implied = implied_anomalies(found);
    let direct = PROSCRIBES
        .iter()
        .filter(|(_, xs)| xs.iter().any(|x| implied.contains(x)))
        .map(|(m, _)| *m);
    let impossible = closure(direct, models_implying);
    // Weakest: no other impossible model is implied by it.
    let not: BTreeSet<&'static str> = impossible
        .iter()
        .copied()
        .filter(|m| {
            let weaker = closure([*m], |x| out(MODEL_IMPLIES, x).to_vec());
            !weaker.iter().any(|w| w != m && impossible.contains(w))
        })
        .collect();
    let also_not = impossible.difference(&not).copied().collect();
    (not, also_not)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_serializable_rules_out_what_serializable_does() {
        let strict = prohibited_by("strict-serializable");
        for a in prohibited_by("serializable") {
            assert!(strict.contains(a), "{a}");
        }
        assert!(strict.contains("G1c-realtime"));
        assert!(strict.contains("G-single-realtime"));
        assert!(!prohibited_by("serializable").contains("G-single-realtime"));
        assert!(prohibited_by("serializable").contains("G-single"));
        assert!(prohibited_by("serializable").contains("lost-update"));
        assert!(!prohibited_by("read-committed").contains("G-single"));
        assert!(prohibited_by("read-committed").contains("G1a"));
        assert!(prohibited_by("read-committed").contains("G0"));
        assert!(prohibited_by("snapshot-isolation").contains("G-single"));
        assert!(!prohibited_by("snapshot-isolation").contains("G2-item"));
        assert!(prohibited_by("repeatable-read").contains("G2-item"));
    }

    #[test]
    fn boundary_names_the_weakest() {
        let (not, also) = impossible_models(["G-single"]);
        assert!(not.contains("consistent-view"), "{not:?}");
        assert!(also.contains("serializable"));
        assert!(also.contains("strict-serializable"));
        let (not, _) = impossible_models(["G2-item-realtime"]);
        assert!(not.contains("strict-serializable"), "{not:?}");
        let (not, _) = impossible_models(["G0"]);
        assert!(not.contains("read-uncommitted"), "{not:?}");
    }

    #[test]
    fn names_parse_with_aliases_and_unknowns_fail() {
        assert_eq!(parse_model("PL-3").unwrap(), "serializable");
        assert_eq!(
            parse_model(":strict-serializable").unwrap(),
            "strict-serializable"
        );
        let e = parse_model("bogus").unwrap_err();
        assert!(e.to_string().contains("snapshot-isolation"));
    }
}
