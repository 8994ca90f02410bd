//! What the loop does between tests: build, deploy, fix and wait. Each
//! returns how it ended (the loop's record) and the details its stage's
//! summary keeps.

use std::path::Path;
use std::time::Duration;

use gauntlet_fleet::{Ended, Phase};
use gauntlet_node::LocalBackend;
use gauntlet_plan::{ServiceControl, TestCommand};
use gauntlet_ssh::Host;
use gauntlet_store::now_ms;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::nodes::{fill, remote, service_name};
use super::preset::FleetLoop;
use crate::command::{TestRecord, run_test};

/// An upload of the artifact to one node.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);

impl FleetLoop {
    pub(super) async fn build(&mut self, attempt: u32, stage: &str) -> (Ended, Value) {
        let project = self.plan.project().clone();
        self.progress.note(&format!(
            "building {} (attempt {attempt}) in {}",
            project.name,
            project.repo.display()
        ));
        let test = TestCommand {
            name: "build".to_owned(),
            run: project.build.clone(),
            timeout: project.build_timeout,
            expect: no_expectations(),
        };
        let rel = format!("phases/{stage}/build");
        let record = self.run_here(&test, &rel).await;
        let commit = head(&project.repo).await;
        if !record.passed {
            let why = failure_line(&record);
            return (
                Ended::Failed(why.clone()),
                json!({ "commit": commit, "log": rel, "record": record, "message": why }),
            );
        }
        match sha256_file(&project.artifact) {
            Ok((sha, bytes)) => {
                let message = format!(
                    "built {} ({bytes} bytes, sha256 {}){}",
                    project.artifact.display(),
                    &sha[..12],
                    commit
                        .as_deref()
                        .map(|c| format!(" at {}", &c[..c.len().min(12)]))
                        .unwrap_or_default()
                );
                self.progress.note(&message);
                (
                    Ended::Done,
                    json!({
                        "commit": commit, "artifact": project.artifact, "sha256": sha,
                        "bytes": bytes, "log": rel, "message": message,
                    }),
                )
            }
            Err(e) => {
                let why = format!(
                    "the build exited 0 but its artifact {} cannot be read: {e}",
                    project.artifact.display()
                );
                (
                    Ended::Failed(why.clone()),
                    json!({ "commit": commit, "log": rel, "message": why }),
                )
            }
        }
    }

    /// Stops the service on every live node, uploads the artifact beside
    /// its install path and renames it over it, checks the bytes, starts
    /// the service and checks it is up.
    pub(super) async fn deploy(&mut self) -> (Ended, Value) {
        let project = self.plan.project().clone();
        let (sha, bytes) = match sha256_file(&project.artifact) {
            Ok(x) => x,
            Err(e) => {
                let why = format!(
                    "the artifact {} cannot be read: {e}",
                    project.artifact.display()
                );
                return (Ended::Failed(why.clone()), json!({ "message": why }));
            }
        };
        let mut shown = Vec::new();
        let mut failed = Vec::new();
        for node in self.live() {
            let host = self.hosts[&node].clone();
            let name = service_name(&project.name, &node);
            let step = self.deploy_one(&host, &node, &name, &project, &sha).await;
            match step {
                Ok(detail) => {
                    self.progress
                        .note(&format!("{node}: deployed and up ({detail})"));
                    shown.push(json!({ "node": node, "deployed": true, "detail": detail }));
                }
                Err(why) => {
                    self.progress.note(&format!("{node}: deploy FAILED: {why}"));
                    shown.push(json!({ "node": node, "deployed": false, "error": why }));
                    failed.push(format!("{node}: {why}"));
                }
            }
        }
        let live = self.live().len();
        if live == 0 {
            let why = "no node to deploy to".to_owned();
            return (Ended::Failed(why.clone()), json!({ "message": why }));
        }
        let details = |message: String| {
            json!({
                "nodes": shown, "sha256": sha, "bytes": bytes,
                "install": project.install, "message": message,
            })
        };
        if failed.is_empty() {
            (
                Ended::Done,
                details(format!("{live} nodes run sha256 {}", &sha[..12])),
            )
        } else {
            let why = failed.join("; ");
            (Ended::Failed(why.clone()), details(why))
        }
    }

    async fn deploy_one(
        &mut self,
        host: &Host,
        node: &str,
        name: &str,
        project: &gauntlet_plan::Project,
        sha: &str,
    ) -> Result<String, String> {
        // Stop: the old binary must not keep serving the new test.
        match &project.service.control {
            ServiceControl::Supervised { .. } => self.supervisor.stop(name).await,
            ServiceControl::Systemd { unit } => {
                remote(host, &["systemctl", "stop", unit], "systemctl stop").await?;
            }
        }
        let install = Path::new(&project.install);
        let dir = install.parent().unwrap_or(Path::new("/"));
        remote(
            host,
            &["mkdir", "-p", &dir.to_string_lossy()],
            "make the install directory",
        )
        .await?;
        match tokio::time::timeout(
            UPLOAD_TIMEOUT,
            host.upload(&project.artifact, install, 0o755),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("upload: {e}")),
            Err(_) => {
                return Err(format!(
                    "upload: not done in {} s",
                    UPLOAD_TIMEOUT.as_secs()
                ));
            }
        }
        let sum = remote(host, &["sha256sum", &project.install], "sha256sum").await?;
        if !sum.starts_with(sha) {
            return Err(format!(
                "{} on the node is not the artifact: sha256 {} where the build made {}",
                project.install,
                sum.split_whitespace().next().unwrap_or("?"),
                sha
            ));
        }
        self.start_service(node, name).await?;
        Ok(format!("sha256 {} verified", &sha[..12]))
    }

    pub(super) async fn run_here(&self, test: &TestCommand, rel: &str) -> TestRecord {
        match run_test(test, &LocalBackend, &self.dir, rel).await {
            Ok(r) => r,
            Err(e) => TestRecord::not_run(test, format!("could not write its output files: {e}")),
        }
    }

    /// Collects the evidence of the phase that failed (the stage before
    /// this one) and calls the fix hook with it; a new commit in the
    /// project's tree is the fix.
    pub(super) async fn fix(&mut self, round: u32, failed_stage: Option<&str>) -> (Ended, Value) {
        let project = self.plan.project().clone();
        let Some(hook) = &project.fix_hook else {
            let why = "the project has no fix_hook: an operator fixes it, then `gauntlet retry`"
                .to_owned();
            return (Ended::NoFix(why.clone()), json!({ "message": why }));
        };
        let evidence = self.dir.join(format!("evidence/fix-{round}"));
        let collected = self.collect_evidence(&evidence, failed_stage);
        let before = head(&project.repo).await;
        let evidence_text = evidence.display().to_string();
        let mut run = fill(hook, &[("evidence", &evidence_text)]);
        run.env
            .insert("GAUNTLET_EVIDENCE".to_owned(), evidence_text.clone());
        run.env
            .insert("GAUNTLET_PROJECT".to_owned(), project.name.clone());
        run.env
            .insert("GAUNTLET_RUN".to_owned(), self.run.to_string());
        let test = TestCommand {
            name: "fix-hook".to_owned(),
            run,
            timeout: project.fix_timeout,
            expect: no_expectations(),
        };
        self.progress
            .note(&format!("calling the fix hook with {evidence_text}"));
        let rel = format!("evidence/fix-{round}/hook");
        let record = self.run_here(&test, &rel).await;
        let after = head(&project.repo).await;
        let details = |message: &str| {
            json!({
                "evidence": format!("evidence/fix-{round}"), "collected": collected,
                "before": before, "after": after, "log": rel, "message": message,
            })
        };
        if !record.passed {
            let why = format!("the fix hook failed: {}", failure_line(&record));
            return (Ended::NoFix(why.clone()), details(&why));
        }
        match (&before, &after) {
            (_, Some(a)) if before.as_ref() != Some(a) => {
                let message = format!("the fix hook committed {}", &a[..a.len().min(12)]);
                self.progress.note(&message);
                (Ended::Fixed { commit: a.clone() }, details(&message))
            }
            (_, None) => {
                let why = format!(
                    "the fix hook exited 0, but {} is not a git work tree, so no commit can be seen",
                    project.repo.display()
                );
                (Ended::NoFix(why.clone()), details(&why))
            }
            (_, Some(a)) => {
                let why = format!(
                    "the fix hook exited 0 but committed nothing (HEAD is still {})",
                    &a[..a.len().min(12)]
                );
                (Ended::NoFix(why.clone()), details(&why))
            }
        }
    }

    /// Copies what the failed phase left (its outputs and results) and
    /// every service log into `evidence`; returns the files copied.
    fn collect_evidence(&self, evidence: &Path, failed_stage: Option<&str>) -> Vec<String> {
        let mut copied = Vec::new();
        let _ = std::fs::create_dir_all(evidence);
        if let Some(stage) = failed_stage {
            copy_tree(
                &self.dir.join("phases").join(stage),
                &evidence.join(stage),
                &mut copied,
            );
        }
        copy_tree(
            &crate::supervisor::log_dir(&self.dir),
            &evidence.join("services"),
            &mut copied,
        );
        copied
    }

    /// Waits until checkpoint `until` after the end of the first green
    /// test since the last deploy (the wall clock, so a loop resumed
    /// later waits only what is left).
    pub(super) async fn wait(&mut self, checkpoint: usize, until: Duration) -> (Ended, Value) {
        let mut green_at = None;
        for (r, ended_at) in &self.records {
            match (&r.phase, &r.ended) {
                (Phase::Deploy, Ended::Done) => green_at = None,
                (Phase::Test { .. }, Ended::Tested { passed: true, .. }) if green_at.is_none() => {
                    green_at = *ended_at;
                }
                _ => {}
            }
        }
        let from = green_at.unwrap_or_else(now_ms);
        let due = from + until.as_millis() as i64;
        let left = Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64);
        self.progress.note(&format!(
            "checkpoint {checkpoint}: testing again in {}",
            gauntlet_plan::format_duration(left)
        ));
        tokio::time::sleep(left).await;
        (
            Ended::Waited,
            json!({
                "checkpoint": checkpoint, "due": due, "after": gauntlet_plan::format_duration(until),
                "message": format!("checkpoint {checkpoint}, {} after the first green test", gauntlet_plan::format_duration(until)),
            }),
        )
    }
}

pub(super) fn no_expectations() -> gauntlet_plan::Expect {
    gauntlet_plan::Expect {
        exit: 0,
        stdout_contains: None,
        figures: Vec::new(),
    }
}

/// A record's failure in one line, with its last stderr line.
pub(super) fn failure_line(record: &TestRecord) -> String {
    let mut line = record
        .failure
        .clone()
        .unwrap_or_else(|| "failed".to_owned());
    if let Some(last) = record
        .stderr_tail
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
    {
        line.push_str(&format!(" (stderr: {})", last.trim()));
    }
    line
}

/// The work tree's HEAD commit, if it is a git work tree.
async fn head(repo: &Path) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "HEAD"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The file's sha256 (hex) and size.
pub(super) fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok((hex, bytes))
}

/// Copies the files under `from` into `to` (each at most 8 MiB: the
/// tail of a longer log), recording each copied path.
pub(super) fn copy_tree(from: &Path, to: &Path, copied: &mut Vec<String>) {
    const MAX: u64 = 8 << 20;
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let target = to.join(e.file_name());
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            copy_tree(&path, &target, copied);
        } else if kind.is_file() {
            let _ = std::fs::create_dir_all(to);
            let ok = match std::fs::metadata(&path) {
                Ok(m) if m.len() > MAX => tail_copy(&path, &target, MAX).is_ok(),
                Ok(_) => std::fs::copy(&path, &target).is_ok(),
                Err(_) => false,
            };
            if ok {
                copied.push(target.display().to_string());
            }
        }
    }
}

fn tail_copy(from: &Path, to: &Path, max: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(from)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len - max))?;
    let mut buf = Vec::with_capacity(max as usize);
    file.take(max).read_to_end(&mut buf)?;
    std::fs::write(to, buf)
}
