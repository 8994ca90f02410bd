//! Replaying a recorded run's storm: its nemesis ops, read back from its
//! history, become the same actions at the same offsets on the same
//! nodes — a [`Schedule`] like the drawn [`Nemesis`](crate::Nemesis), so
//! the fault loop that follows one follows the other. After a fix, the
//! user re-runs the exact storm that broke the system.

use std::collections::VecDeque;
use std::time::Duration;

use gauntlet_net::Grudge;
use serde_json::Value;

use crate::schedule::Active;
use crate::{Action, PartitionShape, Schedule};

/// Why a recorded storm cannot be replayed on these nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "the recorded op {index} ({f}) names node {name:?}, which this test does not have (its nodes: {nodes})"
    )]
    UnknownNode {
        index: u64,
        f: String,
        name: String,
        nodes: String,
    },
    #[error("the recorded op {index} ({f}) cannot be replayed: {why}")]
    Unreplayable { index: u64, f: String, why: String },
}

/// One recorded nemesis op: its history index, time (ns since the run's
/// start), `f` and value.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedOp {
    pub index: u64,
    pub time_ns: u64,
    pub f: String,
    pub value: Value,
}

/// A recorded storm, replayed in order at its recorded offsets.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    steps: VecDeque<(Duration, Action)>,
    active: Active,
}

impl Replay {
    /// The actions of `ops` (a history's nemesis ops, in order) on
    /// `nodes`, the test's nodes by name in the nemesis's index order.
    pub fn new(ops: &[RecordedOp], nodes: &[String]) -> Result<Replay, ReplayError> {
        let index_of = |op: &RecordedOp, name: &str| {
            nodes
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| ReplayError::UnknownNode {
                    index: op.index,
                    f: op.f.clone(),
                    name: name.to_owned(),
                    nodes: nodes.join(", "),
                })
        };
        let named = |op: &RecordedOp| -> Result<Vec<usize>, ReplayError> {
            // A failed executor's record is {"nodes": [...], "errors": [...]};
            // a clock's, {"offset-s": n, "services": [...]}.
            let list = op
                .value
                .get("nodes")
                .or_else(|| op.value.get("services"))
                .unwrap_or(&op.value);
            let Some(names) = list.as_array() else {
                return Err(unreplayable(op, "its value names no nodes"));
            };
            names
                .iter()
                .map(|n| match n.as_str() {
                    Some(name) => index_of(op, name),
                    None => Err(unreplayable(op, "a node that is not a name")),
                })
                .collect()
        };
        let mut steps = VecDeque::new();
        let mut powered_off = false;
        for op in ops {
            let action = match op.f.as_str() {
                "start-partition" => {
                    let shape = op
                        .value
                        .get("shape")
                        .and_then(Value::as_str)
                        .and_then(PartitionShape::from_name)
                        .unwrap_or(PartitionShape::One);
                    let Some(cuts) = op.value.get("grudge").and_then(Value::as_object) else {
                        return Err(unreplayable(op, "it has no grudge"));
                    };
                    let mut grudge = Grudge::new(nodes.len());
                    for (dest, sources) in cuts {
                        let dest = index_of(op, dest)?;
                        for src in sources.as_array().into_iter().flatten() {
                            let src = src
                                .as_str()
                                .ok_or_else(|| unreplayable(op, "a source that is not a name"))?;
                            grudge.drop_from(dest, index_of(op, src)?);
                        }
                    }
                    Action::StartPartition { shape, grudge }
                }
                "stop-partition" => Action::HealPartition,
                "kill" => Action::Kill(named(op)?),
                "power-cut" => {
                    powered_off = true;
                    Action::PowerCut(named(op)?)
                }
                // The heal of a kill and of a power cut have one name.
                "start" if std::mem::take(&mut powered_off) => Action::PowerOn(named(op)?),
                "start" => Action::Start(named(op)?),
                "pause" => Action::Pause(named(op)?),
                "resume" => Action::Resume(named(op)?),
                "bump-clock" => Action::BumpClock {
                    nodes: named(op)?,
                    offset_s: op
                        .value
                        .get("offset-s")
                        .and_then(Value::as_i64)
                        .ok_or_else(|| unreplayable(op, "it has no offset-s"))?,
                },
                "reset-clock" => Action::ResetClock(named(op)?),
                other => {
                    return Err(unreplayable(
                        op,
                        &format!("{other} is not a fault a cluster test's nemesis makes"),
                    ));
                }
            };
            steps.push_back((Duration::from_nanos(op.time_ns), action));
        }
        Ok(Replay {
            steps,
            ..Replay::default()
        })
    }

    /// How many actions are left.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Heals what the replayed actions left active, for the final phase.
    pub fn heal_all(&mut self) -> Vec<Action> {
        self.active.heal_all()
    }
}

fn unreplayable(op: &RecordedOp, why: &str) -> ReplayError {
    ReplayError::Unreplayable {
        index: op.index,
        f: op.f.clone(),
        why: why.to_owned(),
    }
}

impl Schedule for Replay {
    type Step = Action;

    fn next_due(&mut self) -> Option<Duration> {
        self.steps.front().map(|(due, _)| *due)
    }

    fn take_step(&mut self) -> Option<Action> {
        let (_, action) = self.steps.pop_front()?;
        self.active.track(&action);
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(index: u64, ms: u64, f: &str, value: Value) -> RecordedOp {
        RecordedOp {
            index,
            time_ns: ms * 1_000_000,
            f: f.to_owned(),
            value,
        }
    }

    fn nodes() -> Vec<String> {
        ["etcd-n1", "etcd-n2", "etcd-n3"].map(String::from).to_vec()
    }

    #[test]
    fn a_recorded_storm_comes_back_as_the_same_actions_at_the_same_offsets() {
        let ops = [
            op(
                4,
                1_135,
                "start-partition",
                json!({"shape": "majorities-ring", "network": "lab",
                "grudge": {"etcd-n1": ["etcd-n2"], "etcd-n2": ["etcd-n3"], "etcd-n3": ["etcd-n1"]}}),
            ),
            op(9, 5_559, "stop-partition", json!("network-healed")),
            op(20, 13_690, "kill", json!(["etcd-n1"])),
            op(22, 13_944, "start", json!(["etcd-n1"])),
            op(
                30,
                16_000,
                "power-cut",
                json!(["etcd-n1", "etcd-n2", "etcd-n3"]),
            ),
            op(
                31,
                17_000,
                "start",
                json!({"nodes": ["etcd-n1", "etcd-n2", "etcd-n3"], "errors": ["etcd-n2 did not become healthy"]}),
            ),
            op(40, 26_043, "pause", json!(["etcd-n2"])),
        ];
        let mut r = Replay::new(&ops, &nodes()).unwrap();
        assert_eq!(r.len(), 7);
        assert_eq!(r.next_due(), Some(Duration::from_millis(1_135)));
        let Some(Action::StartPartition { shape, grudge }) = r.take_step() else {
            panic!("a partition first");
        };
        assert_eq!(shape, PartitionShape::MajoritiesRing);
        assert_eq!(
            grudge.describe(&nodes()),
            json!({"etcd-n1": ["etcd-n2"], "etcd-n2": ["etcd-n3"], "etcd-n3": ["etcd-n1"]})
        );
        let rest: Vec<Action> = std::iter::from_fn(|| r.take_step()).collect();
        assert_eq!(
            rest,
            [
                Action::HealPartition,
                Action::Kill(vec![0]),
                Action::Start(vec![0]),
                Action::PowerCut(vec![0, 1, 2]),
                Action::PowerOn(vec![0, 1, 2]),
                Action::Pause(vec![1]),
            ]
        );
        // The pause was still on when the recorded run ended.
        assert_eq!(r.heal_all(), [Action::Resume(vec![1])]);
        assert!(r.heal_all().is_empty());
    }

    #[test]
    fn a_storm_on_other_nodes_or_of_other_faults_is_refused() {
        let e = Replay::new(&[op(3, 10, "kill", json!(["db-n7"]))], &nodes()).unwrap_err();
        assert!(e.to_string().contains("\"db-n7\""), "{e}");
        assert!(e.to_string().contains("etcd-n1, etcd-n2, etcd-n3"), "{e}");
        let e = Replay::new(&[op(3, 10, "bump-clock", json!({}))], &nodes()).unwrap_err();
        assert!(e.to_string().contains("op 3 (bump-clock)"), "{e}");
        let e = Replay::new(&[op(5, 10, "restore-link", json!({}))], &nodes()).unwrap_err();
        assert!(e.to_string().contains("op 5 (restore-link)"), "{e}");
        let mut r = Replay::new(
            &[op(
                3,
                10,
                "bump-clock",
                json!({"offset-s": -7, "services": ["etcd-n2"]}),
            )],
            &nodes(),
        )
        .unwrap();
        assert_eq!(
            r.take_step(),
            Some(Action::BumpClock {
                nodes: vec![1],
                offset_s: -7
            })
        );
        assert_eq!(r.heal_all(), [Action::ResetClock(vec![1])]);
    }
}
