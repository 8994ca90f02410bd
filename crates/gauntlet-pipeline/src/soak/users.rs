//! Simulated users: each one loops over its scenario with a think time,
//! writes only the keys it owns, and journals every write with whether it
//! was acknowledged. The journal is the ground truth of "no data loss".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gauntlet_client::LineProgram;
use gauntlet_history::{Op, OpType, Recorder};
use gauntlet_node::{LocalBackend, NodeError};
use gauntlet_observe::HttpClient;
use gauntlet_plan::Command;
use gauntlet_plan::soak::{HttpStep, UserScenario, Users};
use gauntlet_soak::journal::{key_for, key_name};
use gauntlet_soak::template::{capture, render};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::watch;

/// What every user adds to, shared with the observer.
#[derive(Default)]
pub(crate) struct UserStats {
    pub successes: AtomicU64,
    pub failures: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// Times a user program could not be started (each user tries again
    /// next round: running out of file descriptors passes).
    pub program_start_failures: AtomicU64,
    /// Times a running user program was lost (it exited, or stopped
    /// answering and was killed) and started again.
    pub programs_lost: AtomicU64,
    /// Set when the user program can never start (it does not exist, is
    /// not executable, its working directory is missing): the soak stops
    /// at once with this, rather than waiting to blame the service.
    cannot_start: Mutex<Option<String>>,
    cannot_start_told: tokio::sync::Notify,
}

impl UserStats {
    fn failed(&self, why: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// Resolves with why, once the user program is known never to start.
    pub async fn program_cannot_start(&self) -> String {
        loop {
            let told = self.cannot_start_told.notified();
            if let Some(why) = self
                .cannot_start
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
            {
                return why;
            }
            told.await;
        }
    }

    fn cannot_start(&self, why: String) {
        self.cannot_start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
        self.cannot_start_told.notify_waiters();
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub(crate) struct UserContext {
    pub id: u32,
    pub users: Users,
    /// The soak's history: every write a user sends is an invoke and its
    /// completion (`ok` when acknowledged, `info` when its effect is
    /// unknown); the journal is read off it at STOP.
    pub history: Recorder,
    pub stats: Arc<UserStats>,
    pub stop: watch::Receiver<bool>,
    pub seed: u64,
}

/// One user's life: until STOP.
pub(crate) async fn run_user(mut cx: UserContext) {
    let mut rng = ChaCha8Rng::seed_from_u64(cx.seed ^ (u64::from(cx.id) << 32));
    let mut program = None;
    let mut client = HttpClient::new();
    let mut seq = 0u64;
    loop {
        if *cx.stop.borrow() {
            break;
        }
        seq += 1;
        let n = rng.random_range(0..u64::from(cx.users.keys_per_user.max(1)));
        let key = key_name(key_for(cx.id, n, cx.users.count));
        let value = format!("u{}-s{seq}", cx.id);
        match &cx.users.scenario {
            UserScenario::Http(steps) => {
                http_round(&cx, &mut client, steps, &key, &value, seq).await
            }
            UserScenario::Program(command) => {
                program_round(&cx, command, &mut program, &key, &value, seq).await
            }
        }
        let think = think_time(&mut rng, &cx.users);
        tokio::select! {
            _ = tokio::time::sleep(think) => {}
            _ = cx.stop.changed() => {}
        }
    }
}

fn think_time(rng: &mut ChaCha8Rng, users: &Users) -> Duration {
    let (lo, hi) = (
        users.think_min.as_millis() as u64,
        users.think_max.as_millis() as u64,
    );
    Duration::from_millis(if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    })
}

/// Records that user `cx.id` sends a write of `value` (its `seq`-th) to
/// `key`; the returned op is completed by [`written`].
fn writing(cx: &UserContext, key: &str, value: &str, seq: u64) -> Op {
    let mut op = Op::invoke(
        u64::from(cx.id),
        "write",
        json!({ "value": value, "seq": seq }),
    );
    op.key = Some(json!(key));
    cx.history.record(op)
}

/// Records how a write ended: acknowledged (`ok`) or not (`info`: it was
/// sent, its effect is unknown).
fn written(cx: &UserContext, invoke: &Op, acked: bool) {
    let kind = if acked { OpType::Ok } else { OpType::Info };
    cx.history
        .record(invoke.complete(kind, invoke.value.clone()));
}

async fn http_round(
    cx: &UserContext,
    client: &mut HttpClient,
    steps: &[HttpStep],
    key: &str,
    value: &str,
    seq: u64,
) {
    let mut vars: BTreeMap<String, String> = BTreeMap::from([
        ("user".to_owned(), cx.id.to_string()),
        ("key".to_owned(), key.to_owned()),
        ("value".to_owned(), value.to_owned()),
        ("seq".to_owned(), seq.to_string()),
    ]);
    for step in steps {
        let rendered = render(&step.url, &vars).and_then(|url| {
            let body = step.body.as_ref().map(|b| render(b, &vars)).transpose()?;
            Ok((url, body))
        });
        let (url, body) = match rendered {
            Ok(r) => r,
            Err(e) => {
                cx.stats.failed(format!("step {}: {e}", step.name));
                return;
            }
        };
        let invoke = step.write.then(|| writing(cx, key, value, seq));
        let answer = client
            .request(
                &step.method,
                &url,
                body.as_deref().map(str::as_bytes),
                step.timeout,
            )
            .await;
        let ok = matches!(&answer, Ok(r) if r.status == step.expect_status);
        if let Some(invoke) = &invoke {
            written(cx, invoke, ok);
        }
        match answer {
            Ok(r) if ok => {
                cx.stats.successes.fetch_add(1, Ordering::Relaxed);
                if !step.capture.is_empty()
                    && let Ok(json) = serde_json::from_slice::<Value>(&r.body)
                {
                    for (name, pointer) in &step.capture {
                        if let Some(v) = capture(&json, pointer) {
                            vars.insert(name.clone(), v);
                        }
                    }
                }
            }
            Ok(r) => {
                cx.stats.failed(format!(
                    "step {}: {} {url} answered {} (expected {})",
                    step.name, step.method, r.status, step.expect_status
                ));
                return;
            }
            Err(e) => {
                cx.stats
                    .failed(format!("step {}: {} {url}: {e}", step.name, step.method));
                return;
            }
        }
    }
}

/// A user program: one process per user, JSON lines both ways.
pub(crate) struct Program {
    line: LineProgram,
}

const PROGRAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a user program did not start, and whether trying again can help.
#[derive(Debug)]
pub(crate) struct SpawnFailure {
    pub message: String,
    /// It can never start as the plan says (not found, not executable, no
    /// such working directory); anything else (out of file descriptors or
    /// processes) may pass.
    pub permanent: bool,
}

impl SpawnFailure {
    /// `who` names the program's user in the message (`user 3`), worded
    /// as for services and test commands.
    fn of(who: &str, e: &NodeError) -> SpawnFailure {
        let permanent = match e {
            NodeError::Spawn { error, .. } => {
                matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) || matches!(
                    error.raw_os_error(),
                    Some(libc::ENOEXEC | libc::ENOTDIR | libc::EISDIR)
                )
            }
            NodeError::Cwd { .. } => true,
            _ => false,
        };
        SpawnFailure {
            message: crate::command::cannot_start(who, e),
            permanent,
        }
    }
}

impl Program {
    pub fn spawn(
        who: &str,
        command: &Command,
        stderr_log: Option<std::path::PathBuf>,
    ) -> Result<Program, SpawnFailure> {
        let mut spec = crate::command::node_spec(command);
        spec.stderr_log = stderr_log;
        let line =
            LineProgram::spawn(&LocalBackend, &spec).map_err(|e| SpawnFailure::of(who, &e))?;
        Ok(Program { line })
    }

    /// Sends one request and waits for its answer line.
    pub async fn call(&mut self, request: &Value) -> Result<Value, String> {
        self.line
            .call(request, PROGRAM_TIMEOUT)
            .await
            .map_err(|e| format!("the user program: {e}"))
    }

    pub fn kill(&self) {
        self.line.kill();
    }
}

async fn program_round(
    cx: &UserContext,
    command: &Command,
    program: &mut Option<Program>,
    key: &str,
    value: &str,
    seq: u64,
) {
    if program.is_none() {
        match Program::spawn(&format!("user {}", cx.id), command, None) {
            Ok(p) => *program = Some(p),
            Err(e) => {
                cx.stats
                    .program_start_failures
                    .fetch_add(1, Ordering::Relaxed);
                if e.permanent {
                    cx.stats.cannot_start(e.message.clone());
                }
                cx.stats.failed(e.message);
                return;
            }
        }
    }
    let Some(p) = program.as_mut() else {
        return;
    };
    let invoke = writing(cx, key, value, seq);
    let answer = p
        .call(&json!({"op": "write", "key": key, "value": value}))
        .await;
    let ok = matches!(&answer, Ok(v) if v["ok"] == true);
    written(cx, &invoke, ok);
    match answer {
        Ok(_) if ok => {
            cx.stats.successes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(v) => cx.stats.failed(format!(
            "write {key}: {}",
            v["error"].as_str().unwrap_or("refused")
        )),
        Err(e) => {
            // A program that does not answer is restarted for the next round.
            p.kill();
            *program = None;
            cx.stats.programs_lost.fetch_add(1, Ordering::Relaxed);
            cx.stats.failed(format!("write {key}: {e}"));
        }
    }
}
