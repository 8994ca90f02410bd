//! The fleet loop end to end against a real OpenSSH server on loopback:
//! a project in a git work tree whose first build is broken, a fix hook
//! that commits the fix, three nodes on the test sshd and one that never
//! answers (degraded), suites here and on each node, two short
//! checkpoints, the proof bundle; and a loop that has no fix, held, then
//! retried after the operator's fix. Skips (saying why on stderr) where
//! no sshd can run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{gauntlet, read_json};
use gauntlet_ssh::testing::{Sshd, closed_port, sshd};

/// A project whose artifact is a shell script: it says its version and,
/// run as the service, stays up. `broken` makes the first build's version
/// one the node suite refuses.
fn project(dir: &Path, broken: bool) -> PathBuf {
    let repo = dir.join("app");
    std::fs::create_dir_all(&repo).unwrap();
    let version = if broken { "broken" } else { "good" };
    std::fs::write(
        repo.join("app.sh"),
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo {version}; exit 0; fi\n\
             echo \"$1 up ({version})\" >&2\nwhile :; do sleep 1; done\n"
        ),
    )
    .unwrap();
    // The fix hook: given the evidence directory, it checks it holds the
    // failed test's results, then fixes the script and commits.
    std::fs::write(
        repo.join("fix.sh"),
        "#!/bin/sh\nset -e\ntest -f \"$GAUNTLET_EVIDENCE\"/test-1/results.json\n\
         sed -i s/broken/good/ app.sh\ngit commit -qam 'fix the version'\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);
    repo
}

fn fleet(dir: &Path, sshd: &Sshd, install: &Path, fix_hook: bool) -> PathBuf {
    fleet_with(dir, sshd, install, fix_hook, r#"["1s", "2s"]"#)
}

fn fleet_with(
    dir: &Path,
    sshd: &Sshd,
    install: &Path,
    fix_hook: bool,
    checkpoints: &str,
) -> PathBuf {
    let path = dir.join("fleet.toml");
    let hook = if fix_hook {
        "fix_hook = [\"sh\", \"fix.sh\"]\n"
    } else {
        ""
    };
    let text = format!(
        r#"name = "loopback"

[defaults]
identity = "{key}"
known_hosts = "{known}"
connect_timeout = "3s"
port = {port}

[[node]]
name = "boot-1"
address = "127.0.0.1"
role = "bootstrap"
region = "eu-west"

[[node]]
name = "test-1"
address = "127.0.0.1"

[[node]]
name = "nat-1"
address = "127.0.0.1"
nat = "symmetric"

[[node]]
name = "gone-1"
address = "127.0.0.1"
port = {closed}
connect_timeout = "1s"

[[notify]]
command = "cat >> notices.jsonl; echo >> notices.jsonl"
events = ["phase", "run-ended"]

[[project]]
name = "app"
repo = "app"
build = "mkdir -p out && cp app.sh out/app && chmod +x out/app"
artifact = "out/app"
install = "{install}"
checkpoints = {checkpoints}
max_fixes = 2
{hook}
[project.service]
command = ["{install}", "{{{{node}}}}"]

[[project.suite]]
name = "reach"
focus = ["connectivity"]
command = "for n in {{{{nodes}}}}; do echo $n; done; echo '{{\"direct_pct\": 100}}'"
[[project.suite.figure]]
name = "direct_pct"
json = "/direct_pct"
min = 99

[[project.suite]]
name = "rate"
focus = ["throughput"]
command = "cat rate.json"
[[project.suite.figure]]
name = "rate"
json = "/rate"

[[project.suite]]
name = "version"
focus = ["connectivity"]
on = "nodes"
command = "{install} --version | grep -x good"
"#,
        key = sshd.client_key.display(),
        known = sshd.known_hosts.display(),
        port = sshd.port,
        closed = closed_port(),
        install = install.display(),
        checkpoints = checkpoints,
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(gauntlet())
        .args(args)
        .arg("--store")
        .arg(dir.join("store"))
        .env_remove("GAUNTLET_FLEET")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A loop's phases from `status --json`: name and state.
fn phases(loop_: &serde_json::Value) -> Vec<(String, String)> {
    loop_["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn status_json(dir: &Path) -> serde_json::Value {
    let out = run(dir, &["status", "--json", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_broken_build_is_fixed_through_the_hook_and_stays_green_at_every_checkpoint() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    project(dir.path(), true);
    let install = dir.path().join("nodes/opt/app/bin/app");
    fleet(dir.path(), &sshd, &install, true);

    let out = run(
        dir.path(),
        &[
            "start",
            "app",
            "--focus",
            "connectivity",
            "--criteria",
            "all-pass",
            "--proof",
            "all-evidence",
            "--yes",
        ],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("PASS"), "{shown}");
    assert!(shown.contains("gone-1: degraded and skipped"), "{shown}");

    let status = status_json(dir.path());
    let run_id = status[0]["run"].as_str().unwrap().to_owned();
    let phases = phases(&status[0]);
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "setup", "build-1", "deploy-1", "test-1", "fix-1", "build-2", "deploy-2", "test-2",
            "wait-1", "test-3", "wait-2", "test-4"
        ],
        "{phases:?}"
    );
    assert_eq!(
        phases[3].1, "failed",
        "the broken version fails the node suite"
    );
    assert!(
        phases
            .iter()
            .filter(|(n, _)| n != "test-1")
            .all(|(_, s)| s == "passed"),
        "{phases:?}"
    );
    assert_eq!(status[0]["result"], "true");

    // The proof bundle: the verdict, every node, every phase, the figures,
    // the logs of the three live nodes, checksums that hold.
    let proof = dir.path().join("store").join(&run_id).join("proof");
    let md = std::fs::read_to_string(proof.join("PROOF.md")).unwrap();
    assert!(md.contains("**Verdict: PASS**"), "{md}");
    assert!(
        md.contains(
            "| gone-1 | test | - | public | 127.0.0.1 | no: unreachable at setup (degraded) |"
        ),
        "{md}"
    );
    for node in ["boot-1", "test-1", "nat-1", "gone-1"] {
        assert!(md.contains(node), "{md}");
    }
    assert!(md.contains("reach/direct_pct = 100"), "{md}");
    let json = read_json(&proof.join("proof.json"));
    assert_eq!(json["phases"].as_array().unwrap().len(), 12);
    for node in ["boot-1", "test-1", "nat-1"] {
        let log = proof.join(format!("logs/app@{node}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains(&format!("{node} up (good)")),
            "{}: {text:?}",
            log.display()
        );
    }
    assert!(!proof.join("logs/app@gone-1.log").exists());
    assert!(proof.join("evidence/fix-1/test-1/results.json").is_file());
    let sums = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&proof)
        .output()
        .unwrap();
    assert!(sums.status.success(), "{}", text(&sums));

    // The services on the nodes were sampled like any service.
    let report = read_json(&dir.path().join("store").join(&run_id).join("REPORT.json"));
    for node in ["boot-1", "test-1", "nat-1"] {
        let subject = format!("app@{node}");
        let sampled = report["series"].as_array().unwrap().iter().any(|s| {
            s["kind"] == "rss" && s["subject"] == subject.as_str() && s["max"].as_f64() > Some(0.0)
        });
        assert!(sampled, "no rss samples of {subject}: {}", report["series"]);
    }

    // The fix is the hook's commit, recorded with the fix phase.
    let fix = &json["phases"][4];
    assert_eq!(fix["state"], "passed");
    assert!(
        fix["message"].as_str().unwrap().contains("committed"),
        "{fix}"
    );

    // Nothing of the loop runs any more: its services were stopped.
    let left = Command::new("pgrep")
        .arg("-f")
        .arg(install.display().to_string())
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );

    // Every transition was told, in order, and then the end.
    let notices = std::fs::read_to_string(dir.path().join("notices.jsonl")).unwrap();
    let told: Vec<serde_json::Value> = notices
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let phases_told: Vec<&str> = told
        .iter()
        .filter(|n| n["event"] == "phase")
        .map(|n| n["stage"].as_str().unwrap())
        .collect();
    assert_eq!(phases_told, names, "{notices}");
    assert_eq!(told.last().unwrap()["event"], "run-ended", "{notices}");

    let out = run(dir.path(), &["logs", "app", "--node", "nat-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nat-1 | nat-1 up (good)"),
        "{}",
        text(&out)
    );
}

#[test]
fn without_a_fix_hook_a_failure_holds_and_a_retry_after_the_fix_goes_on() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let repo = project(dir.path(), true);
    let install = dir.path().join("nodes/app");
    fleet(dir.path(), &sshd, &install, false);

    let out = run(
        dir.path(),
        &["start", "app", "connectivity", "all-pass", "summary"],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "held: {shown}");
    assert!(shown.contains("HELD"), "{shown}");
    let status = status_json(dir.path());
    assert_eq!(status[0]["state"], "held");
    assert_eq!(status[0]["phase"], "fix-1");
    assert!(
        status[0]["message"]
            .as_str()
            .unwrap()
            .contains("no fix_hook"),
        "{status}"
    );
    let run_id = status[0]["run"].as_str().unwrap().to_owned();

    // The operator fixes it by hand, and the loop goes on from the fix.
    let fixed = std::fs::read_to_string(repo.join("app.sh"))
        .unwrap()
        .replace("broken", "good");
    std::fs::write(repo.join("app.sh"), fixed).unwrap();
    let out = run(
        dir.path(),
        &["override", &run_id, "--reason", "fixed by hand in app.sh"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status = status_json(dir.path());
    assert_eq!(status[0]["state"], "finished", "{status}");
    assert_eq!(status[0]["result"], "true", "{status}");
    let last: Vec<String> = phases(&status[0]).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        &last[4..8],
        ["fix-1", "build-2", "deploy-2", "test-2"],
        "{last:?}"
    );
}

#[test]
fn without_a_terminal_missing_answers_name_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    std::fs::write(
        dir.path().join("fleet.toml"),
        "[[node]]\nname = \"a\"\naddress = \"127.0.0.1\"\n[[project]]\nname = \"app\"\nbuild = \"true\"\nartifact = \"x\"\ninstall = \"/opt/x\"\n[project.service]\ncommand = \"/opt/x\"\n[[project.suite]]\nname = \"s\"\nfocus = [\"gossip\"]\ncommand = \"true\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["start", "app"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(254), "{shown}");
    assert!(
        shown.contains("--focus (one of: gossip, full-suite)"),
        "{shown}"
    );
    assert!(shown.contains("--criteria"), "{shown}");
    assert!(shown.contains("--proof"), "{shown}");

    let out = run(
        dir.path(),
        &["start", "app", "throughput", "all-pass", "logs"],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(254), "{shown}");
    assert!(
        shown.contains("no suite for focus \"throughput\""),
        "{shown}"
    );

    let out = run(dir.path(), &["start", "app", "gossip", "most", "logs"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        text(&out).contains("criteria \"most\" is not one of"),
        "{}",
        text(&out)
    );

    let out = run(dir.path(), &["start", "app", "gossip", "check", "logs"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        text(&out).contains("[project.criteria] check"),
        "{}",
        text(&out)
    );
}

/// Waits until the latest loop is in `phase` and running, or panics.
fn wait_for_phase(dir: &Path, phase: &str) -> String {
    let began = std::time::Instant::now();
    loop {
        let status = status_json(dir);
        if let Some(loop_) = status.get(0)
            && loop_["phase"] == phase
            && loop_["phases"]
                .as_array()
                .and_then(|p| p.last())
                .is_some_and(|p| p["state"] == "running")
        {
            return loop_["run"].as_str().unwrap().to_owned();
        }
        assert!(
            began.elapsed() < std::time::Duration::from_secs(60),
            "the loop never reached {phase}: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn spawn_start(dir: &Path) -> std::process::Child {
    Command::new(gauntlet())
        .args([
            "start",
            "app",
            "--focus",
            "connectivity",
            "--criteria",
            "all-pass",
            "--proof",
            "logs",
            "--yes",
            "--store",
        ])
        .arg(dir.join("store"))
        .env_remove("GAUNTLET_FLEET")
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn running_services(install: &Path) -> String {
    let out = Command::new("pgrep")
        .arg("-af")
        .arg(install.display().to_string())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_loop_killed_while_it_waits_goes_on_with_retry_and_a_stopped_one_too() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    project(dir.path(), false);
    let install = dir.path().join("nodes/app");
    fleet_with(dir.path(), &sshd, &install, false, r#"["9s"]"#);

    // SIGKILL while it waits for its checkpoint: what it started on the
    // nodes goes with its connections, and the store says interrupted.
    let mut child = spawn_start(dir.path());
    let run_id = wait_for_phase(dir.path(), "wait-1");
    assert!(
        !running_services(&install).is_empty(),
        "the services run while it waits"
    );
    // Long enough for the driver to write the wait's samples so far.
    std::thread::sleep(std::time::Duration::from_millis(6500));
    child.kill().unwrap();
    child.wait().unwrap();
    let store = gauntlet_store::Store::open_dir(dir.path().join("store")).unwrap();
    let id = store.resolve(&run_id).unwrap();
    let waiting_since = store
        .stages(&id)
        .unwrap()
        .iter()
        .find(|s| s.name == "wait-1")
        .and_then(|s| s.current().started_at)
        .unwrap();
    let during = store
        .measurements(&id, "rss", "app@boot-1")
        .unwrap()
        .into_iter()
        .filter(|m| m.time >= waiting_since)
        .count();
    assert!(
        during > 0,
        "no sample of the wait reached the store before the SIGKILL"
    );
    drop(store);
    let began = std::time::Instant::now();
    while !running_services(&install).is_empty() {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(20),
            "left running on the nodes after a SIGKILL: {}",
            running_services(&install)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = status_json(dir.path());
    assert_eq!(status[0]["state"], "interrupted", "{status}");

    // A retry reaches the nodes again, brings the service back, waits only
    // what is left of the checkpoint, and completes.
    let out = run(dir.path(), &["retry", &run_id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status = status_json(dir.path());
    assert_eq!(status[0]["state"], "finished", "{status}");
    assert_eq!(status[0]["result"], "true", "{status}");
    let names: Vec<String> = phases(&status[0]).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["setup", "build-1", "deploy-1", "test-1", "wait-1", "test-2"],
        "the wait went on where it was"
    );

    // `gauntlet stop` from another shell: the loop stops as at a Ctrl-C.
    let child = spawn_start(dir.path());
    let second = wait_for_phase(dir.path(), "wait-1");
    assert_ne!(second, run_id);
    // `logs -f` follows the nodes' logs until the loop stops.
    let follower = Command::new(gauntlet())
        .args(["logs", "app", "-f", "--store"])
        .arg(dir.path().join("store"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = run(dir.path(), &["stop", "app"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("interrupted"), "{}", text(&out));
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(followed.status.code(), Some(0), "{}", text(&followed));
    for node in ["boot-1", "test-1", "nat-1"] {
        assert!(
            String::from_utf8_lossy(&followed.stdout)
                .contains(&format!("{node} | {node} up (good)")),
            "{}",
            text(&followed)
        );
    }
    assert!(
        text(&followed).contains("is interrupted"),
        "{}",
        text(&followed)
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    assert!(
        running_services(&install).is_empty(),
        "{}",
        running_services(&install)
    );
    let out = run(dir.path(), &["stop", "app"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "nothing to stop: {}",
        text(&out)
    );
}

/// A terminal for the interview: a detached tmux session of its own
/// (its own socket), killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, command: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            #[allow(
                clippy::disallowed_macros,
                reason = "a skipped test says why on stderr"
            )]
            {
                eprintln!("skipped: needs tmux (Debian tmux)");
            }
            return None;
        }
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&tmux.socket)
            .args([
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
                "-s",
                "t",
                command,
            ])
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        Some(tmux)
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys {keys:?}");
    }

    /// Answers the menu `prompt` with `keys` once it waits for an answer
    /// with its items drawn (`❯` marks the chosen one; an answered menu
    /// keeps only its `✔` line).
    fn answer(&self, prompt: &str, keys: &[&str]) -> String {
        self.wait_for(&format!("? {prompt} ›"));
        let screen = self.wait_for("❯");
        self.keys(keys);
        screen
    }

    /// Waits until the screen shows `text`, or panics with the screen. A
    /// prompt waiting for an answer reads `? <prompt> ›`; an answered one
    /// `✔ <prompt> · <answer>`, so waiting for the first never matches a
    /// prompt already answered.
    fn wait_for(&self, text: &str) -> String {
        let began = std::time::Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                began.elapsed() < std::time::Duration::from_secs(60),
                "the terminal never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

#[test]
fn on_a_terminal_the_interview_asks_what_is_missing_and_the_plan_is_confirmed() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    project(dir.path(), false);
    let install = dir.path().join("nodes/app");
    fleet_with(dir.path(), &sshd, &install, false, r#"["1s"]"#);
    let command = format!(
        "{} start --store store; echo EXIT=$? > exit.txt; sleep 60",
        gauntlet().display()
    );
    let Some(tmux) = Tmux::start(dir.path(), &command) else {
        return;
    };
    // Nothing was said on the command line: each answer is a menu.
    tmux.answer("project", &["Enter"]);
    tmux.wait_for("connectivity  (reach, version)");
    tmux.answer("focus", &["Enter"]);
    tmux.wait_for("threshold  (each figure within its min/max)");
    tmux.answer("success criteria", &["Down", "Enter"]);
    tmux.answer("proof", &["Enter"]);
    // The plan, confirmed; modify asks again with the answers kept.
    let screen = tmux.answer("start this loop?", &["Down", "Enter"]);
    assert!(screen.contains("criteria: threshold"), "{screen}");
    assert!(
        screen.contains("nodes:    4 (1 bootstrap, 3 test; NAT: 3 public, 1 symmetric)"),
        "{screen}"
    );
    tmux.answer("project", &["Enter"]);
    tmux.answer("focus", &["Enter"]);
    tmux.answer("success criteria", &["Up", "Enter"]);
    tmux.answer("proof", &["Enter"]);
    let screen = tmux.answer("start this loop?", &["Enter"]);
    assert!(screen.contains("criteria: all-pass"), "{screen}");
    let began = std::time::Instant::now();
    while !dir.path().join("exit.txt").exists() {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(90),
            "the loop never ended:\n{}",
            tmux.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let exit = std::fs::read_to_string(dir.path().join("exit.txt")).unwrap();
    assert_eq!(exit.trim(), "EXIT=0", "{}", tmux.screen());
    let status = status_json(dir.path());
    assert_eq!(status[0]["result"], "true", "{status}");
}

#[test]
fn on_a_terminal_cancel_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    std::fs::write(
        dir.path().join("fleet.toml"),
        "[[node]]\nname = \"a\"\naddress = \"127.0.0.1\"\n[[project]]\nname = \"app\"\nbuild = \"true\"\nartifact = \"x\"\ninstall = \"/opt/x\"\n[project.service]\ncommand = \"/opt/x\"\n[[project.suite]]\nname = \"s\"\nfocus = [\"gossip\"]\ncommand = \"true\"\n",
    )
    .unwrap();
    let command = format!(
        "{} start app gossip all-pass logs --store store; echo EXIT=$? > exit.txt; sleep 60",
        gauntlet().display()
    );
    let Some(tmux) = Tmux::start(dir.path(), &command) else {
        return;
    };
    // Every answer was given: only the confirmation is asked.
    let screen = tmux.answer("start this loop?", &["Down", "Down", "Enter"]);
    assert!(screen.contains("focus:    gossip (suites: s)"), "{screen}");
    assert!(!screen.contains("success criteria"), "{screen}");
    let began = std::time::Instant::now();
    while !dir.path().join("exit.txt").exists() {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(30),
            "{}",
            tmux.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let exit = std::fs::read_to_string(dir.path().join("exit.txt")).unwrap();
    assert_eq!(exit.trim(), "EXIT=254", "{}", tmux.screen());
    assert!(
        tmux.screen().contains("cancelled: nothing was started"),
        "{}",
        tmux.screen()
    );
    let status = status_json(dir.path());
    assert_eq!(status, serde_json::json!([]), "no loop was created");
}

#[test]
fn improvement_fails_a_loop_whose_figure_fell_from_the_last_green_one() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let repo = project(dir.path(), false);
    let install = dir.path().join("nodes/app");
    fleet_with(dir.path(), &sshd, &install, false, r#"["1s"]"#);
    let start = [
        "start",
        "app",
        "throughput",
        "improvement",
        "summary",
        "--yes",
    ];

    // The first loop has nothing to improve on, and says so.
    std::fs::write(repo.join("rate.json"), r#"{"rate": 100}"#).unwrap();
    let out = run(dir.path(), &start);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status = status_json(dir.path());
    let first = &status[0]["phases"][3];
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("no earlier green test"),
        "{first}"
    );

    // The next one measures less than the last green test: not an improvement.
    std::fs::write(repo.join("rate.json"), r#"{"rate": 50}"#).unwrap();
    let out = run(dir.path(), &start);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let status = status_json(dir.path());
    let test = &status[0]["phases"][3];
    assert_eq!(test["state"], "failed", "{test}");
    assert!(
        test["message"]
            .as_str()
            .unwrap()
            .contains("rate/rate went from 100 to 50"),
        "{test}"
    );
    assert_eq!(status[0]["state"], "held", "no fix hook: {status}");
}

#[test]
fn a_figure_that_falls_back_by_a_checkpoint_is_a_regression() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let repo = project(dir.path(), false);
    let install = dir.path().join("nodes/app");
    fleet_with(dir.path(), &sshd, &install, false, r#"["4s"]"#);
    std::fs::write(repo.join("rate.json"), r#"{"rate": 100}"#).unwrap();
    let child = Command::new(gauntlet())
        .args([
            "start",
            "app",
            "throughput",
            "all-pass",
            "summary",
            "--yes",
            "--store",
        ])
        .arg(dir.path().join("store"))
        .env_remove("GAUNTLET_FLEET")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_phase(dir.path(), "wait-1");
    // Half the rate by the checkpoint: beyond the 10% tolerance.
    std::fs::write(repo.join("rate.json"), r#"{"rate": 50}"#).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let status = status_json(dir.path());
    assert_eq!(status[0]["state"], "held", "no fix hook: {status}");
    let test = &status[0]["phases"][5];
    assert_eq!(test["name"], "test-2", "{status}");
    assert_eq!(test["state"], "failed", "{test}");
    assert!(
        test["message"]
            .as_str()
            .unwrap()
            .contains("a regression at checkpoint 1: rate/rate went from 100 to 50"),
        "{test}"
    );
}
