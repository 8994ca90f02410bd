//! [`Together`]: one fault carried out by two executors at once, for a
//! run whose nodes talk over two networks. A workbench run on lab hosts
//! routes Maelstrom messages through the simulated network while the nodes
//! also share a real one: a partition must cut both, or the nodes would
//! route around it.

use serde_json::Value;

use crate::{Fault, FaultError, FaultExecutor, FaultFuture};

/// Both executors, in order; each carries out the faults it handles.
pub struct Together<'a> {
    pub first: &'a dyn FaultExecutor,
    pub second: &'a dyn FaultExecutor,
}

impl FaultExecutor for Together<'_> {
    fn handles(&self, fault: &Fault) -> bool {
        self.first.handles(fault) || self.second.handles(fault)
    }

    fn inject<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            let first = self.run(self.first, fault, targets, false).await;
            let second = self.run(self.second, fault, targets, false).await;
            merge(first, second)
        })
    }

    fn heal<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            let first = self.run(self.first, fault, targets, true).await;
            let second = self.run(self.second, fault, targets, true).await;
            merge(first, second)
        })
    }
}

impl Together<'_> {
    async fn run(
        &self,
        executor: &dyn FaultExecutor,
        fault: &Fault,
        targets: &[String],
        heal: bool,
    ) -> Option<Result<Value, FaultError>> {
        if !executor.handles(fault) {
            return None;
        }
        Some(if heal {
            executor.heal(fault, targets).await
        } else {
            executor.inject(fault, targets).await
        })
    }
}

/// The first's value, with the second's keys added where both are objects
/// (the history keeps one value per op); any error is the outcome, both
/// errors joined.
fn merge(
    first: Option<Result<Value, FaultError>>,
    second: Option<Result<Value, FaultError>>,
) -> Result<Value, FaultError> {
    match (first, second) {
        (None, None) => Ok(Value::Null),
        (Some(one), None) | (None, Some(one)) => one,
        (Some(Ok(mut a)), Some(Ok(b))) => {
            if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
                for (k, v) in b {
                    a.entry(k).or_insert(v);
                }
            }
            Ok(a)
        }
        (Some(Err(e)), Some(Ok(_))) | (Some(Ok(_)), Some(Err(e))) => Err(e),
        (Some(Err(a)), Some(Err(b))) => Err(FaultError::Targets {
            errors: vec![a.to_string(), b.to_string()],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        kind: &'static str,
        calls: AtomicUsize,
        value: Value,
    }

    impl FaultExecutor for Counting {
        fn handles(&self, fault: &Fault) -> bool {
            fault.kind() == self.kind
        }
        fn inject<'a>(&'a self, _: &'a Fault, _: &'a [String]) -> FaultFuture<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let v = self.value.clone();
            Box::pin(async move { Ok(v) })
        }
        fn heal<'a>(&'a self, _: &'a Fault, _: &'a [String]) -> FaultFuture<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { Ok(json!("healed")) })
        }
    }

    #[tokio::test]
    async fn both_carry_out_what_each_handles() {
        let sim = Counting {
            kind: "partition",
            calls: AtomicUsize::new(0),
            value: json!({"shape": "one", "grudge": {}}),
        };
        let lab = Counting {
            kind: "partition",
            calls: AtomicUsize::new(0),
            value: json!({"network": "lab", "shape": "other"}),
        };
        let together = Together {
            first: &sim,
            second: &lab,
        };
        let fault = Fault::Partition {
            shape: crate::PartitionShape::One,
            grudge: gauntlet_net::Grudge::new(2),
        };
        let v = together.inject(&fault, &[]).await.unwrap();
        assert_eq!(v, json!({"shape": "one", "grudge": {}, "network": "lab"}));
        assert_eq!(together.heal(&fault, &[]).await.unwrap(), json!("healed"));
        assert_eq!(sim.calls.load(Ordering::SeqCst), 2);
        assert_eq!(lab.calls.load(Ordering::SeqCst), 2);
        assert!(!together.handles(&Fault::Kill));
    }
}
