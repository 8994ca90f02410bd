//! [`ProgramClient`]: one worker's client program, started on first use
//! and replaced whenever it misbehaves, with every misbehaviour counted
//! and the first ones kept with the worker and the line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gauntlet_node::{Backend, NodeSpec};
use serde::Serialize;
use serde_json::Value;

use crate::protocol::{Outcome, Problem, outcome};
use crate::{CallError, LineProgram};

/// How many misbehaviours are kept in full; the rest are only counted.
pub const KEPT_PROBLEMS: usize = 100;

/// One kept misbehaviour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProblemRecord {
    pub worker: usize,
    pub problem: &'static str,
    /// The request it got.
    pub request: String,
    pub detail: String,
    /// Its last stderr lines.
    pub stderr: Vec<String>,
}

/// What every worker's client adds to (shared by a run's workers).
#[derive(Debug, Default)]
pub struct Problems {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    kept: Mutex<Vec<ProblemRecord>>,
}

impl Problems {
    fn note(&self, record: ProblemRecord) {
        *lock(&self.counts).entry(record.problem).or_default() += 1;
        let mut kept = lock(&self.kept);
        if kept.len() < KEPT_PROBLEMS {
            kept.push(record);
        }
    }

    /// Counts by kind (`garbage`, `hang`, `crash`, `start`).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.counts).clone()
    }

    /// The first [`KEPT_PROBLEMS`], in the order they happened.
    pub fn kept(&self) -> Vec<ProblemRecord> {
        lock(&self.kept).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A worker's client: `spec` run through `backend`.
pub struct ProgramClient {
    worker: usize,
    backend: Arc<dyn Backend>,
    spec: NodeSpec,
    timeout: Duration,
    program: Option<LineProgram>,
    /// How many programs this worker has started.
    started: u64,
    problems: Arc<Problems>,
}

impl ProgramClient {
    pub fn new(
        worker: usize,
        backend: Arc<dyn Backend>,
        spec: NodeSpec,
        timeout: Duration,
        problems: Arc<Problems>,
    ) -> ProgramClient {
        ProgramClient {
            worker,
            backend,
            spec,
            timeout,
            program: None,
            started: 0,
            problems,
        }
    }

    /// How many client programs this worker started so far: a history
    /// gives each its own process number, as Jepsen gives a replaced
    /// client a new one.
    pub fn generation(&self) -> u64 {
        self.started
    }

    /// Sends one request line and returns how the op ended. A program
    /// that cannot start fails the op (it cannot have happened); one that
    /// misbehaves makes it `info` and is replaced before the next.
    pub async fn invoke(&mut self, request: &str) -> Outcome {
        if self.program.is_none() {
            match LineProgram::spawn(self.backend.as_ref(), &self.spec) {
                Ok(p) => {
                    self.program = Some(p);
                    self.started += 1;
                }
                Err(e) => {
                    let detail = e.to_string();
                    self.problems.note(ProblemRecord {
                        worker: self.worker,
                        problem: "start",
                        request: request.to_owned(),
                        detail: detail.clone(),
                        stderr: Vec::new(),
                    });
                    return Outcome::Fail {
                        error: Value::String(format!("the client could not start: {detail}")),
                    };
                }
            }
        }
        let program = self.program.as_mut().expect("started above");
        let answer = match program.call_line(request, self.timeout).await {
            Ok(line) => serde_json::from_str::<Value>(&line).map_err(|e| CallError::Garbage {
                line,
                error: e.to_string(),
            }),
            Err(e) => Err(e),
        };
        let result = outcome(answer);
        if let Outcome::Info {
            error,
            problem: Some(problem),
        } = &result
        {
            self.replace(*problem, request, error).await;
        }
        result
    }

    /// Kills the misbehaving program (its stderr drained, within a
    /// moment) and notes the problem with its last stderr lines.
    async fn replace(&mut self, problem: Problem, request: &str, error: &Value) {
        let stderr = match self.program.take() {
            Some(p) => p.kill_and_collect(Duration::from_secs(1)).await,
            None => Vec::new(),
        };
        self.problems.note(ProblemRecord {
            worker: self.worker,
            problem: problem.name(),
            request: request.to_owned(),
            detail: error.as_str().unwrap_or_default().to_owned(),
            stderr,
        });
    }
}
