//! `gauntlet lab` as a user runs it: up (detached), status, exec, down;
//! a SIGKILLed owner's lab swept by `lab clean` and nothing else; bad
//! files named at their line. Needs root (CI runs as root).

mod common;

use std::process::{Command, Output};

use common::{assert_gone, gauntlet, namespaces_with, stderr, stdout};
use serde_json::Value;

fn lab(args: &[&str]) -> Output {
    Command::new(gauntlet())
        .arg("lab")
        .args(args)
        .output()
        .unwrap()
}

const LAB: &str = r#"
[[segment]]
name = "eu"
subnet = "10.92.1.0/24"
[[segment]]
name = "asia"
subnet = "10.92.2.0/24"
[[nat]]
name = "home1"
type = "symmetric"
outside = "eu"
[[host]]
name = "bootstrap1"
segment = "eu"
[[host]]
name = "peer"
behind = "home1"
[[host]]
name = "tokyo"
segment = "asia"
"#;

/// The lab with `id`, from `lab status --json`.
fn status_of(id: &str) -> Option<Value> {
    let out = lab(&["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == id)
}

/// Takes lab `.0` down when dropped, so a failing test leaves no lab up
/// (a no-op for a lab the test already took down or swept).
struct Held(String);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = lab(&["down", &self.0]);
    }
}

fn up(dir: &std::path::Path) -> (String, Value, Held) {
    up_lab(dir, LAB)
}

/// `lab up` of the lab `text` describes.
fn up_lab(dir: &std::path::Path, text: &str) -> (String, Value, Held) {
    let file = dir.join("lab.toml");
    std::fs::write(&file, text).unwrap();
    let out = lab(&["up", "--json", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let record: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let id = record["id"].as_str().unwrap().to_owned();
    (id.clone(), record, Held(id))
}

fn namespaces_of(record: &Value) -> Vec<String> {
    record["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

fn exists(ns: &str) -> bool {
    std::path::Path::new("/run/netns").join(ns).exists()
}

#[test]
fn up_exec_status_down() {
    if !common::lab_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (id, record, _held) = up(dir.path());
    let status = status_of(&id).expect("the lab is listed");
    assert_eq!(status["alive"], true);
    // exec runs inside the host: its own address, routes through the lab.
    let out = lab(&[
        "exec", "--lab", &id, "tokyo", "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("10.92.2.2/24"), "{}", stdout(&out));
    // The command's exit code is exec's.
    let out = lab(&["exec", "--lab", &id, "tokyo", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = lab(&["exec", "--lab", &id, "mars", "--", "true"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("no host called \"mars\""),
        "{}",
        stderr(&out)
    );

    let out = lab(&["down", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(status_of(&id).is_none());
    for ns in namespaces_of(&record) {
        assert!(!exists(&ns), "{ns} left behind");
    }
}

#[test]
fn a_sigkilled_owner_s_lab_is_swept_and_nothing_else() {
    if !common::lab_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (dead_id, dead, _dead_held) = up(dir.path());
    let (live_id, live, _live_held) = up(dir.path());
    // A process started in the dead lab, to be swept with it.
    let mut sleeper = Command::new(gauntlet())
        .args([
            "lab",
            "exec",
            "--lab",
            &dead_id,
            "bootstrap1",
            "--",
            "sleep",
            "300",
        ])
        .spawn()
        .unwrap();
    let owner = status_of(&dead_id).unwrap()["owner_pid"].as_i64().unwrap() as i32;
    // SAFETY: kill(2) on the owner pid the lab reported.
    assert_eq!(unsafe { libc::kill(owner, libc::SIGKILL) }, 0);
    // Other tests build labs in parallel, and every new lab sweeps dead
    // owners first: the dead lab may be gone before `clean` runs. Either
    // way it must go, and the live one must stay.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status_of(&dead_id).is_some_and(|s| s["alive"] == true) {
        assert!(
            std::time::Instant::now() < deadline,
            "the owner did not die"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let still_there = status_of(&dead_id).is_some();
    let out = lab(&["clean"]);
    assert!(out.status.success(), "{}", stderr(&out));
    if still_there {
        assert!(stdout(&out).contains(&dead_id), "{}", stdout(&out));
    }
    for ns in namespaces_of(&dead) {
        assert!(!exists(&ns), "{ns} left behind");
    }
    // The process in it was killed by the sweep.
    let exit = sleeper.wait().unwrap();
    assert!(!exit.success());
    // The live lab is untouched.
    assert_eq!(status_of(&live_id).unwrap()["alive"], true);
    for ns in namespaces_of(&live) {
        assert!(exists(&ns), "{ns} of a live lab was touched");
    }
    assert!(lab(&["down", &live_id]).status.success());
}

#[test]
fn bad_lab_files_are_named_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[segment]]\nname = \"eu\"\nsubnet = \"10.93.1.0/24\"\n[[host]]\nname = \"a\"\nbehind = \"home9\"\n",
    )
    .unwrap();
    let out = lab(&["up", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.toml:6:10: no NAT box called \"home9\""),
        "{}",
        stderr(&out)
    );
    let out = lab(&["up", dir.path().join("missing.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("missing.toml: cannot read"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctrl_c_takes_a_foreground_lab_down() {
    use std::io::{BufRead, BufReader};
    if !common::lab_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, LAB.replace("10.92.", "10.87.")).unwrap();
    let mut owner = Command::new(gauntlet())
        .args(["lab", "up", "--foreground", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // If an assert fails first, the owner still gets its Ctrl-C.
    struct Interrupt(u32);
    impl Drop for Interrupt {
        fn drop(&mut self) {
            // SAFETY: kill(2) on our own child (harmless once it exited).
            unsafe { libc::kill(self.0 as i32, libc::SIGINT) };
        }
    }
    let _interrupt = Interrupt(owner.id());
    let mut id = String::new();
    for line in BufReader::new(owner.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("gauntlet-lab-ready ") {
            id = rest.trim().to_owned();
            break;
        }
    }
    assert_eq!(id.len(), 6, "no ready line");
    assert_eq!(namespaces_with(&id).len(), 5);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(owner.id() as i32, libc::SIGINT) };
    let status = owner.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_gone(&id);
    assert!(status_of(&id).is_none());
}

#[test]
fn a_sigkilled_test_run_s_lab_is_swept_by_the_next_lab() {
    if !common::lab_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, LAB.replace("10.92.", "10.86.")).unwrap();
    let store = dir.path().join("store");
    let mut run = Command::new(gauntlet())
        .args(["test", "-w", "echo", "--bin"])
        .arg(gauntlet())
        .args([
            "example-node",
            "node-echo",
            "--node-count",
            "3",
            "--time-limit",
            "60",
            "--lab",
        ])
        .arg(&file)
        .arg("--store")
        .arg(&store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for its lab to be up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let id = loop {
        let out = lab(&["status", "--json"]);
        let found = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["owner_pid"] == run.id());
        if let Some(v) = found {
            break v["id"].as_str().unwrap().to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run's lab never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    run.kill().unwrap();
    run.wait().unwrap();
    assert!(
        !namespaces_with(&id).is_empty(),
        "SIGKILL alone removes nothing"
    );
    // Any next lab sweeps what the dead run left (and `lab clean` would).
    // Another test's lab, coming up at the same moment, may be the one
    // sweeping it (it holds the dead lab's lock while it does, and this
    // one's sweep then passes it by): give that sweep a moment to end.
    let (next, _, _held) = up(dir.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let control = std::path::Path::new("/sys/class/net").join(format!("gt-{id}"));
    while (!namespaces_with(&id).is_empty() || control.exists())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_gone(&id);
    assert!(lab(&["down", &next]).status.success());
}

/// A run whose services sit on a segment whose subnet this machine
/// already routes (another lab up now) would reach that lab's hosts at
/// those addresses: it is refused, naming the segment, and leaves
/// nothing; the lab that was there first is untouched.
#[test]
fn a_run_on_a_subnet_another_lab_routes_is_refused() {
    if !common::lab_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A subnet of this test's own: the other tests' labs come and go on
    // theirs meanwhile.
    let (id, _record, _held) = up_lab(
        dir.path(),
        "[[segment]]\nname = \"dc\"\nsubnet = \"10.93.1.0/24\"\n[[host]]\nname = \"a\"\nsegment = \"dc\"\n",
    );
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"name = "same-subnet"
[[segment]]
name = "dc"
subnet = "10.93.1.0/24"
[[host]]
name = "n1"
segment = "dc"
[[service]]
name = "db"
host = "n1"
command = ["sleep", "30"]
[[stage]]
name = "up"
kind = "up"
"#,
    )
    .unwrap();
    let out = Command::new(gauntlet())
        .args(["run", plan.to_str().unwrap(), "--store"])
        .arg(dir.path().join("store"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("segment dc (10.93.1.0/24) is already routed on this machine"),
        "{}",
        stderr(&out)
    );
    assert!(status_of(&id).is_some(), "the first lab is still up");
}
