//! NodeProcess against real processes.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{eventually, leftovers, live_members, sh_with_grandchild, stat};
use gauntlet_node::{NodeError, NodeProcess, NodeSpec, Termination, live_groups};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn cat_echoes_a_line_back() {
    let mut node = NodeProcess::spawn(&NodeSpec::new("cat")).unwrap();
    let mut stdin = node.take_stdin().unwrap();
    let mut stdout = BufReader::new(node.take_stdout().unwrap());
    assert!(node.take_stdin().is_none());

    stdin
        .write_all(b"{\"body\":{\"type\":\"echo\"}}\n")
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    assert_eq!(line, "{\"body\":{\"type\":\"echo\"}}\n");

    drop(stdin); // EOF: cat exits by itself
    let exit = node.wait().await;
    assert_eq!(exit.termination, Termination::Exited(0));
    assert!(exit.success());
    assert!(!live_groups().contains(&(exit.pid as i32)));
}

#[tokio::test]
async fn stderr_goes_to_the_log_and_the_tail_and_restarts_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node-logs/n1.log");
    let mut spec = NodeSpec::new("sh")
        .arg("-c")
        .arg("for i in 1 2 3 4 5; do echo line$i >&2; done; printf 'no newline' >&2; exit 3");
    spec.stderr_log = Some(log.clone());
    spec.stderr_tail = 3;

    let mut node = NodeProcess::spawn(&spec).unwrap();
    let exit = node.wait().await;
    assert_eq!(exit.termination, Termination::Exited(3));
    assert_eq!(exit.to_string(), "exited with code 3");
    assert_eq!(exit.stderr_tail, ["line4", "line5", "no newline"]);
    assert_eq!(node.stderr_tail(), exit.stderr_tail);
    assert_eq!(exit.stderr_log.as_deref(), Some(log.as_path()));
    // wait is repeatable and try_exit agrees.
    assert_eq!(node.wait().await, exit);
    assert_eq!(node.try_exit(), Some(exit));
    let first = std::fs::read_to_string(&log).unwrap();
    assert_eq!(first, "line1\nline2\nline3\nline4\nline5\nno newline");

    // A restart appends, after a separator line.
    let mut again = NodeProcess::spawn(&spec).unwrap();
    again.wait().await;
    let both = std::fs::read_to_string(&log).unwrap();
    let second = both.strip_prefix(first.as_str()).unwrap();
    let (separator, rest) = second.split_once('\n').unwrap();
    assert!(
        separator.contains("gauntlet: node restarted")
            && separator.contains(&again.pid().to_string()),
        "{separator:?}"
    );
    assert_eq!(rest, first);
}

/// A node that prints without end fills the log to its limit and no
/// further; the bytes are still counted, the tail still moves, and a note
/// says how much was not kept. A restart adds nothing to a full log.
#[tokio::test]
async fn the_stderr_log_stops_at_its_limit_and_says_how_much_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("n1.log");
    // 3 MiB of stderr: 24,576 lines of 127 zeros and a newline, then "last".
    let mut spec = NodeSpec::new("sh")
        .arg("-c")
        .arg("yes \"$(printf '%0127d' 0)\" | head -n 24576 >&2; echo last >&2");
    spec.stderr_log = Some(log.clone());
    spec.stderr_log_limit = 1024 * 1024;
    spec.stderr_tail = 2;

    let exit = NodeProcess::spawn(&spec).unwrap().wait().await;
    assert!(exit.success(), "{exit}");
    let total = 24_576 * 128 + 5;
    assert_eq!(exit.stderr_bytes, total as u64);
    assert_eq!(exit.stderr_tail.last().map(String::as_str), Some("last"));
    let text = std::fs::read_to_string(&log).unwrap();
    let (kept, note) = text.split_at(1024 * 1024);
    assert!(kept.bytes().all(|b| b == b'0' || b == b'\n'));
    let more = total - 1024 * 1024;
    assert_eq!(
        note,
        format!("\n[gauntlet: output truncated at 1 MiB; {more} more bytes were not kept]\n")
    );

    let exit = NodeProcess::spawn(&spec).unwrap().wait().await;
    assert_eq!(exit.stderr_bytes, total as u64);
    let again = std::fs::read_to_string(&log).unwrap();
    let second = again.strip_prefix(text.as_str()).unwrap();
    assert_eq!(
        second,
        format!("\n[gauntlet: output truncated at 1 MiB; {total} more bytes were not kept]\n"),
        "a full log gets only the note of the next incarnation"
    );
}

#[tokio::test]
async fn kill_is_reported_as_killed_by_sigkill() {
    let mut node = NodeProcess::spawn(&NodeSpec::new("sleep").arg("1000")).unwrap();
    let pid = node.pid();
    assert!(live_groups().contains(&(pid as i32)));
    assert_eq!(node.try_exit(), None);
    node.kill().unwrap();
    let exit = node.wait().await;
    assert_eq!(exit.termination.signal(), Some(libc::SIGKILL));
    assert_eq!(exit.to_string(), "killed by SIGKILL");
    assert!(!live_groups().contains(&(pid as i32)));
    // After reaping: kill is a no-op, pause and resume say why they cannot.
    node.kill().unwrap();
    let err = node.pause().unwrap_err();
    assert!(matches!(err, NodeError::NotRunning { .. }), "{err}");
    assert!(err.to_string().contains("already exited"), "{err}");
    assert!(node.resume().is_err());
}

#[tokio::test]
async fn terminate_sends_sigterm_to_the_whole_group() {
    let mut node = NodeProcess::spawn(&sh_with_grandchild()).unwrap();
    let pgid = node.pgid();
    assert_eq!(pgid, node.pid() as i32);
    eventually("three processes in the group", || {
        live_members(pgid).len() == 3
    })
    .await;
    node.terminate().unwrap();
    let exit = node.wait().await;
    assert_eq!(exit.termination.signal(), Some(libc::SIGTERM));
    assert_eq!(exit.to_string(), "killed by SIGTERM");
    eventually("group gone", || leftovers(pgid).is_empty()).await;
    // After reaping: terminate is a no-op, like kill.
    node.terminate().unwrap();
}

#[tokio::test]
async fn pause_stops_the_group_and_resume_continues_it() {
    let mut node = NodeProcess::spawn(&sh_with_grandchild()).unwrap();
    let pgid = node.pid() as i32;
    eventually("three processes in the group", || {
        live_members(pgid).len() == 3
    })
    .await;

    node.pause().unwrap();
    eventually("every member stopped (T)", || {
        live_members(pgid).iter().all(|p| p.state == 'T')
    })
    .await;
    node.resume().unwrap();
    eventually("every member running again", || {
        live_members(pgid).iter().all(|p| p.state != 'T')
    })
    .await;

    // A paused node still dies from kill.
    node.pause().unwrap();
    eventually("stopped again", || {
        stat(pgid).is_some_and(|p| p.state == 'T')
    })
    .await;
    node.kill().unwrap();
    assert_eq!(node.wait().await.to_string(), "killed by SIGKILL");
    eventually("group gone", || leftovers(pgid).is_empty()).await;
}

#[tokio::test]
async fn kill_takes_the_grandchildren_too() {
    let mut node = NodeProcess::spawn(&sh_with_grandchild()).unwrap();
    let pgid = node.pid() as i32;
    eventually("three processes in the group", || {
        live_members(pgid).len() == 3
    })
    .await;
    node.kill().unwrap();
    node.wait().await;
    eventually("group gone", || leftovers(pgid).is_empty()).await;
}

#[tokio::test]
async fn drop_kills_and_reaps_the_whole_group() {
    let node = NodeProcess::spawn(&sh_with_grandchild()).unwrap();
    let pgid = node.pid() as i32;
    eventually("three processes in the group", || {
        live_members(pgid).len() == 3
    })
    .await;
    drop(node);
    // `leftovers` includes a zombie leader we failed to reap.
    eventually("group gone and reaped", || leftovers(pgid).is_empty()).await;
    eventually("unregistered", || !live_groups().contains(&pgid)).await;
}

#[tokio::test]
async fn drop_of_a_paused_node_kills_it() {
    let node = NodeProcess::spawn(&sh_with_grandchild()).unwrap();
    let pgid = node.pid() as i32;
    eventually("three processes in the group", || {
        live_members(pgid).len() == 3
    })
    .await;
    node.pause().unwrap();
    eventually("stopped", || {
        live_members(pgid).iter().all(|p| p.state == 'T')
    })
    .await;
    drop(node);
    eventually("group gone and reaped", || leftovers(pgid).is_empty()).await;
}

#[tokio::test]
async fn when_the_node_exits_its_leftover_children_are_killed() {
    let mut node = NodeProcess::spawn(
        &NodeSpec::new("sh")
            .arg("-c")
            .arg("sleep 1000 & echo $! >&2"),
    )
    .unwrap();
    let exit = node.wait().await;
    assert_eq!(exit.termination, Termination::Exited(0));
    let sleep: i32 = exit.stderr_tail[0].parse().unwrap();
    let me = std::process::id() as i32;
    eventually("background sleep killed", || {
        // Gone, or a zombie waiting for init (which must reap orphans).
        stat(sleep).is_none_or(|p| p.state == 'Z' && p.ppid != me)
    })
    .await;
}

#[tokio::test]
async fn try_exit_reports_the_exit_code_without_blocking() {
    let mut node = NodeProcess::spawn(&NodeSpec::new("sh").arg("-c").arg("exit 7")).unwrap();
    let mut exit = None;
    eventually("try_exit", || {
        exit = node.try_exit();
        exit.is_some()
    })
    .await;
    let exit = exit.unwrap();
    assert_eq!(exit.termination.code(), Some(7));
    assert_eq!(exit.to_string(), "exited with code 7");
}

#[tokio::test]
async fn env_args_and_cwd_are_passed() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = NodeSpec::new("sh")
        .arg("-c")
        .arg("echo \"$GAUNTLET_TEST_VAR $1 $(pwd)\"")
        .arg("argv0")
        .arg("first");
    spec.env.push(("GAUNTLET_TEST_VAR".into(), "hello".into()));
    spec.cwd = Some(dir.path().to_path_buf());
    let mut node = NodeProcess::spawn(&spec).unwrap();
    let mut out = String::new();
    BufReader::new(node.take_stdout().unwrap())
        .read_line(&mut out)
        .await
        .unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(out.trim_end(), format!("hello first {}", cwd.display()));
    assert!(node.wait().await.success());
}

#[tokio::test]
async fn spawn_errors_name_the_program_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let message = |spec: NodeSpec| NodeProcess::spawn(&spec).unwrap_err().to_string();

    let missing = dir.path().join("no-such-node");
    let text = message(NodeSpec::new(&missing));
    assert!(
        text.contains(missing.to_str().unwrap()) && text.contains("no such file"),
        "{text}"
    );

    let text = message(NodeSpec::new("gauntlet-no-such-program-on-path"));
    assert!(
        text.contains("gauntlet-no-such-program-on-path") && text.contains("not found on PATH"),
        "{text}"
    );

    let not_executable = dir.path().join("node.sh");
    std::fs::write(&not_executable, "#!/bin/sh\necho hi\n").unwrap();
    let text = message(NodeSpec::new(&not_executable));
    assert!(
        text.contains("node.sh") && text.contains("permission denied"),
        "{text}"
    );

    let bad_interpreter = dir.path().join("node.py");
    std::fs::write(&bad_interpreter, "#!/nonexistent/python9\n").unwrap();
    std::fs::set_permissions(&bad_interpreter, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = message(NodeSpec::new(&bad_interpreter));
    assert!(
        text.contains("node.py") && text.contains("interpreter"),
        "{text}"
    );

    let text = message(NodeSpec::new(dir.path()));
    assert!(text.contains("is a directory"), "{text}");

    let mut bad_cwd = NodeSpec::new("cat");
    bad_cwd.cwd = Some(dir.path().join("nowhere"));
    let text = message(bad_cwd);
    assert!(
        text.contains("cat") && text.contains("working directory") && text.contains("nowhere"),
        "{text}"
    );

    let mut bad_log = NodeSpec::new("cat");
    bad_log.stderr_log = Some(not_executable.join("n1.log")); // under a file
    let text = message(bad_log);
    assert!(
        text.contains("stderr log") && text.contains("n1.log"),
        "{text}"
    );
}

#[test]
fn spawn_outside_a_runtime_is_an_error_not_a_panic() {
    let err = NodeProcess::spawn(&NodeSpec::new("cat")).unwrap_err();
    assert!(matches!(err, NodeError::NoRuntime { .. }), "{err}");
}

/// PR_SET_PDEATHSIG fires when the forking *thread* exits. A node spawned
/// from a thread that then ends (as tokio's blocking-pool threads do) must
/// live on, because the fork really happens on the crate's own thread.
#[tokio::test]
async fn a_node_outlives_the_short_lived_thread_that_spawned_it() {
    let handle = tokio::runtime::Handle::current();
    let (mut node, tid) = std::thread::spawn(move || {
        let _guard = handle.enter();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        (NodeProcess::spawn(&NodeSpec::new("cat")).unwrap(), tid)
    })
    .join()
    .unwrap();
    // Once the thread's /proc entry is gone it has fully exited, and any
    // death signal tied to it would have been sent already.
    eventually("spawning thread gone", || {
        !std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
    })
    .await;

    let mut stdin = node.take_stdin().unwrap();
    let mut stdout = BufReader::new(node.take_stdout().unwrap());
    stdin.write_all(b"still here\n").await.unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    assert_eq!(line, "still here\n");
    assert_eq!(node.try_exit(), None);
}
