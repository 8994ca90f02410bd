//! The scripts, run on this machine with `/bin/sh` (no ssh): what a host
//! does with them.

use super::*;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Owner, RunDir};

/// A run directory of this test's own, removed at the end.
struct TestDir(String);

impl TestDir {
    fn new() -> TestDir {
        static NEXT: AtomicU64 = AtomicU64::new(900_000);
        TestDir(
            RunDir {
                owner: Owner::current(),
                index: NEXT.fetch_add(1, Ordering::Relaxed),
            }
            .to_string(),
        )
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(REMOTE_ROOT).join(&self.0)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.path());
    }
}

/// What the host's login shell does with a remote command.
fn run(script: &[u8]) -> Command {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(remote_command(script).unwrap());
    command
}

fn os(values: &[&str]) -> Vec<OsString> {
    values.iter().map(OsString::from).collect()
}

/// A process group of its own (`sleep`), with the marker `marker` in its
/// environment when given; killed on drop.
struct Group(Child);

impl Group {
    fn start(marker: Option<&str>) -> Group {
        let mut command = Command::new("sleep");
        command.arg("30").process_group(0);
        if let Some(marker) = marker {
            command.env(MARKER_VAR, marker);
        }
        Group(command.spawn().unwrap())
    }

    fn pgid(&self) -> i32 {
        self.0.id() as i32
    }

    fn start_time(&self) -> u64 {
        gauntlet_node::start_time(self.pgid()).unwrap()
    }

    /// Its signal once it has ended within a few seconds, else `None`.
    fn ended_by(&mut self) -> Option<i32> {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.signal();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn alive_after(&mut self, wait: Duration) -> bool {
        std::thread::sleep(wait);
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_node_starts_in_its_own_group_with_its_cwd_env_and_stdin_and_ends_with_its_status() {
    let dir = TestDir::new();
    let hostile = "it's $HOME `x` \"q\"\nline";
    let args = os(&[
        "-c",
        "read -r l; printf 'got %s|%s|%s|%s\\n' \"$l\" \"$X\" \"$(pwd)\" \"$GAUNTLET_SSH_NODE\"; \
         echo oops >&2; exit 3",
        "ignored $0",
    ]);
    let env = vec![(OsString::from("X"), OsString::from(hostile))];
    let script = wrapper(&Launch {
        dir: &dir.0,
        node: "n1-sh",
        program: OsStr::new("sh"),
        args: &args,
        cwd: Some(OsStr::new("/tmp")),
        env: &env,
    })
    .unwrap();
    let mut child = run(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    stdout.read_line(&mut header).unwrap();
    let fields: Vec<&str> = header
        .strip_prefix(STARTED)
        .unwrap_or_else(|| panic!("{header:?}"))
        .split_whitespace()
        .collect();
    let pgid: i32 = fields[0].parse().unwrap();
    // The program leads its own group and session.
    assert_eq!(nix_pgid(pgid), Some(pgid));
    let pid_file = dir.path().join("n1-sh.pid");
    let recorded = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(
        recorded.trim(),
        format!("{pgid} {} {}", fields[1], crate::owner::this_boot())
    );
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, format!("got hello|{hostile}|/tmp|{}/n1-sh\n", dir.0));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(stderr, "oops\n");
    assert!(!pid_file.exists(), "the wrapper removes the pid file");
}

/// The process group of `pid`, from `/proc`.
fn nix_pgid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

#[test]
fn a_death_by_signal_is_128_plus_the_signal_and_leftovers_of_the_group_die() {
    let dir = TestDir::new();
    // The program leaves a background child in its group, then dies by
    // SIGTERM; the child must not survive it.
    let args = os(&["-c", "sleep 30 & echo $!; kill -TERM $$"]);
    let script = wrapper(&Launch {
        dir: &dir.0,
        node: "n2",
        program: OsStr::new("/bin/sh"),
        args: &args,
        cwd: None,
        env: &[],
    })
    .unwrap();
    let out = run(&script).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let leftover: i32 = text.lines().nth(1).unwrap().parse().unwrap();
    assert!(
        gauntlet_node::start_time(leftover).is_none(),
        "the group's leftover {leftover} still runs"
    );
}

#[test]
fn what_cannot_start_says_why_on_the_first_line() {
    let dir = TestDir::new();
    for (program, cwd, why) in [
        (
            "no-such-program-gauntlet",
            None,
            "no-such-program-gauntlet: not found on PATH",
        ),
        (
            "/no/such/program",
            None,
            "/no/such/program: no such executable file",
        ),
        (
            "sh",
            Some("/no/such/dir"),
            "working directory /no/such/dir: no such directory",
        ),
    ] {
        let script = wrapper(&Launch {
            dir: &dir.0,
            node: "n3",
            program: OsStr::new(program),
            args: &[],
            cwd: cwd.map(OsStr::new),
            env: &[],
        })
        .unwrap();
        let out = run(&script).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(126));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{ERROR}{why}\n")
        );
    }
    let bad_env = vec![(OsString::from("A-B"), OsString::from("x"))];
    let err = wrapper(&Launch {
        dir: &dir.0,
        node: "n3",
        program: OsStr::new("sh"),
        args: &[],
        cwd: None,
        env: &bad_env,
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("\"A-B\""), "{err}");
}

#[test]
fn only_a_group_that_is_provably_ours_is_signalled() {
    let marker = "some-run/n9";
    // Not ours: another start time, and no marker.
    let mut stranger = Group::start(None);
    let script = signal("KILL", stranger.pgid(), stranger.start_time() + 1, marker);
    assert!(run(script.as_bytes()).status().unwrap().success());
    assert!(stranger.alive_after(Duration::from_millis(200)));
    // Another's marker is not ours either.
    let mut other = Group::start(Some("some-run/n10"));
    let script = signal("KILL", other.pgid(), other.start_time() + 1, marker);
    assert!(run(script.as_bytes()).status().unwrap().success());
    assert!(other.alive_after(Duration::from_millis(200)));
    // The leader's start time matches: ours.
    let script = signal("TERM", stranger.pgid(), stranger.start_time(), marker);
    assert!(run(script.as_bytes()).status().unwrap().success());
    assert_eq!(stranger.ended_by(), Some(libc::SIGTERM));
    // The marker is in a member's environment: ours.
    let mut marked = Group::start(Some(marker));
    let script = signal("KILL", marked.pgid(), marked.start_time() + 1, marker);
    assert!(run(script.as_bytes()).status().unwrap().success());
    assert_eq!(marked.ended_by(), Some(libc::SIGKILL));
    // A group that is gone, and ids that name no group, are nothing to do.
    for pgid in [marked.pgid(), 0, 1, -5] {
        let script = signal("KILL", pgid, 1, marker);
        let out = run(script.as_bytes()).output().unwrap();
        assert!(out.status.success(), "{pgid}: {out:?}");
    }
}

#[test]
fn the_keeper_kills_every_group_of_its_run_dir_when_its_input_ends() {
    let dir = TestDir::new();
    let mut keeper = run(keeper(&dir.0).as_bytes())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(keeper.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert_eq!(ready, format!("{READY}{}\n", crate::owner::this_boot()));
    // It answers requests, one after another, without mixing them up.
    let mut input = keeper.stdin.take().unwrap();
    let probe = Group::start(None);
    for id in [7, 8] {
        input
            .write_all(request(id, &usage(probe.pgid())).as_bytes())
            .unwrap();
        input.flush().unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let done = line.starts_with(&format!("gauntlet-ssh done {id} "));
            lines.push(line);
            if done {
                break;
            }
        }
        assert_eq!(lines[0], format!("gauntlet-ssh begin {id}\n"));
        assert!(lines[1].starts_with("1 "), "{lines:?}");
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(lines[4], format!("gauntlet-ssh done {id} 0\n"));
    }
    let failing = "echo 'it failed' >&2; exit 3";
    input.write_all(request(9, failing).as_bytes()).unwrap();
    let mut answer = String::new();
    for _ in 0..3 {
        stdout.read_line(&mut answer).unwrap();
    }
    assert_eq!(
        answer,
        "gauntlet-ssh begin 9\nit failed\ngauntlet-ssh done 9 3\n"
    );
    let mut ours = Group::start(Some(&format!("{}/n1", dir.0)));
    let mut stranger = Group::start(None);
    let boot = crate::owner::this_boot();
    let write = |node: &str, g: &Group, start: u64, boot: &str| {
        std::fs::write(
            dir.path().join(format!("{node}.pid")),
            format!("{} {start} {boot}\n", g.pgid()),
        )
        .unwrap();
    };
    write("n1", &ours, ours.start_time(), boot);
    // A pid file naming someone else's group (its start time differs, it
    // carries no marker): removed, the group left alone.
    write("n2", &stranger, stranger.start_time() + 7, boot);
    // One of an earlier boot: removed, nothing signalled.
    write(
        "n3",
        &stranger,
        stranger.start_time(),
        "6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11",
    );
    // A request cut short by the end of the input is not run.
    input
        .write_all(b"gauntlet-ssh run 10\ntouch /tmp/gauntlet-ssh-cut-short\n")
        .unwrap();
    drop(input);
    assert!(keeper.wait().unwrap().success());
    assert!(!Path::new("/tmp/gauntlet-ssh-cut-short").exists());
    assert_eq!(ours.ended_by(), Some(libc::SIGKILL));
    assert!(stranger.alive_after(Duration::from_millis(100)));
    assert!(!dir.path().exists());
}

#[test]
fn usage_sums_a_group() {
    let group = Group::start(None);
    let out = run(usage(group.pgid()).as_bytes()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let figures: Vec<u64> = lines[0]
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    assert_eq!(figures[0], 1, "{text}");
    assert!(figures[2] > 0, "{text}");
    assert!(lines[1].parse::<u64>().unwrap() > 0);
    assert!(lines[2].parse::<u64>().unwrap() >= 4096);
}

#[test]
fn an_upload_is_renamed_into_place_only_when_whole() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("prog");
    let tmp = dir.path().join(".prog.tmp");
    std::fs::write(&target, b"old").unwrap();
    let send = |bytes: &[u8], size: u64| {
        let script = upload(tmp.as_os_str(), target.as_os_str(), size, 0o750).unwrap();
        let mut child = run(&script)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        child.wait_with_output().unwrap()
    };
    let short = send(b"new", 10);
    assert!(!short.status.success());
    assert_eq!(
        String::from_utf8_lossy(&short.stderr),
        "received 3 of 10 bytes\n"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"old");
    assert!(!tmp.exists());
    let whole = send(b"new bytes", 9);
    assert!(whole.status.success(), "{whole:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"new bytes");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o750);
    assert!(!tmp.exists());
}

#[test]
fn a_file_is_read_with_its_size_up_to_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log");
    std::fs::write(&file, b"0123456789").unwrap();
    let out = run(&read_file(file.as_os_str(), 4).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"gauntlet-ssh size 10\n0123");
    let missing = dir.path().join("nope");
    let out = run(&read_file(missing.as_os_str(), 4).unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(ERROR));
}

#[test]
fn run_dirs_are_listed_and_swept() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    let out = run(list_run_dirs().as_bytes()).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == dir.0)
    );
    let mut ours = Group::start(Some(&format!("{}/n1", dir.0)));
    std::fs::write(
        dir.path().join("n1.pid"),
        format!(
            "{} {} {}\n",
            ours.pgid(),
            ours.start_time(),
            crate::owner::this_boot()
        ),
    )
    .unwrap();
    let out = run(sweep(std::slice::from_ref(&dir.0)).as_bytes())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "gauntlet-ssh swept 1\n"
    );
    assert_eq!(ours.ended_by(), Some(libc::SIGKILL));
    assert!(!dir.path().exists());
}

#[test]
fn signals_have_names_kill_takes() {
    assert_eq!(signal_spec(libc::SIGKILL), "KILL");
    assert_eq!(signal_spec(libc::SIGSTOP), "STOP");
    assert_eq!(signal_spec(libc::SIGUSR1), "USR1");
    let rt = libc::SIGRTMIN() + 1;
    assert_eq!(signal_spec(rt), rt.to_string());
}

#[test]
fn an_undo_script_is_recorded_forgotten_and_run_when_its_run_dir_is_cleaned_up() {
    let dir = TestDir::new();
    let scratch = tempfile::tempdir().unwrap();
    let done = scratch.path().join("undone");
    let undo = format!(
        "echo 'it ran' > {}\necho second line >> {}",
        quote_str(&done.to_string_lossy()),
        quote_str(&done.to_string_lossy())
    );
    // Recorded, then forgotten: nothing runs.
    assert!(
        run(set_undo(&dir.0, "t1", Some(&undo)).as_bytes())
            .status()
            .unwrap()
            .success()
    );
    assert!(dir.path().join("t1.undo").is_file());
    assert!(
        run(set_undo(&dir.0, "t1", None).as_bytes())
            .status()
            .unwrap()
            .success()
    );
    assert!(!dir.path().join("t1.undo").exists());
    // Recorded again: a sweep of the directory (as for a dead owner, or
    // the keeper's own end) runs it, whole, and removes the directory.
    assert!(
        run(set_undo(&dir.0, "t1", Some(&undo)).as_bytes())
            .status()
            .unwrap()
            .success()
    );
    let out = run(sweep(std::slice::from_ref(&dir.0)).as_bytes())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "gauntlet-ssh swept 0\n"
    );
    assert_eq!(
        std::fs::read_to_string(&done).unwrap(),
        "it ran\nsecond line\n"
    );
    assert!(!dir.path().exists());
}
