//! [`LineProgram`]: one client process, one JSON line each way per call.

use std::time::Duration;

use gauntlet_node::{Backend, Node, NodeError, NodeSpec};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

/// Why a call got no answer. Every one leaves the program unfit for the
/// next call (its next line could be this call's late answer), so the
/// caller kills it and starts another, as Jepsen replaces a crashed
/// client.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer line within the time limit.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Its stdout closed: it exited or crashed.
    #[error("the program exited (its stdout closed)")]
    Exited,
    /// The answer is not a JSON value.
    #[error("the program answered {line:?}, which is not JSON: {error}")]
    Garbage { line: String, error: String },
    /// Writing the request or reading the answer failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running client program.
#[derive(Debug)]
pub struct LineProgram {
    process: Node,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    line: String,
}

impl LineProgram {
    /// Starts `spec` through `backend` (its stdin and stdout piped, as
    /// every backend gives them).
    pub fn spawn(backend: &dyn Backend, spec: &NodeSpec) -> Result<LineProgram, NodeError> {
        let mut process = backend.spawn(spec)?;
        let missing = || NodeError::Spawn {
            program: spec.program.clone(),
            error: std::io::Error::other("its stdin and stdout are not piped"),
        };
        let stdin = process.take_stdin().ok_or_else(missing)?;
        let stdout = process.take_stdout().ok_or_else(missing)?;
        Ok(LineProgram {
            process,
            stdin,
            lines: BufReader::new(stdout).lines(),
            line: String::with_capacity(256),
        })
    }

    /// Writes `request` as one line and returns the answer line, within
    /// `timeout` for the whole exchange.
    pub async fn call_line(
        &mut self,
        request: &str,
        timeout: Duration,
    ) -> Result<String, CallError> {
        self.line.clear();
        self.line.push_str(request);
        self.line.push('\n');
        let exchange = async {
            self.stdin.write_all(self.line.as_bytes()).await?;
            self.stdin.flush().await?;
            match self.lines.next_line().await? {
                Some(answer) => Ok(answer),
                None => Err(CallError::Exited),
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout(timeout)),
        }
    }

    /// [`call_line`](Self::call_line) with JSON both ways.
    pub async fn call(&mut self, request: &Value, timeout: Duration) -> Result<Value, CallError> {
        let answer = self.call_line(&request.to_string(), timeout).await?;
        serde_json::from_str(&answer).map_err(|e| CallError::Garbage {
            line: answer,
            error: e.to_string(),
        })
    }

    /// The last lines it wrote on stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.process.stderr_tail()
    }

    /// Its pid (for resource sampling and messages).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILL to it and all it started (dropping it does the same).
    pub fn kill(&self) {
        let _ = self.process.kill();
    }

    /// Kills it and returns its last stderr lines once its stderr is
    /// drained (or `limit` passed): a program that just crashed may still
    /// have its last words in the pipe when its stdout closes.
    pub async fn kill_and_collect(mut self, limit: Duration) -> Vec<String> {
        let _ = self.process.kill();
        let _ = tokio::time::timeout(limit, self.process.wait()).await;
        self.process.stderr_tail()
    }
}
