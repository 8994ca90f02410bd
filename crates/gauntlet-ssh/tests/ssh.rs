//! The ssh backend against a real OpenSSH server on loopback (the
//! "remote" host is this machine, so a test looks at the host's `/proc`
//! directly).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use gauntlet_node::{Backend, NodeSpec, Termination};
use gauntlet_ssh::testing::{eventually, marker, pids_with_env, sshd, state};
use gauntlet_ssh::{Host, Owner, RunDir, SshBackend, SshError, sweep};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

async fn connect(sshd: &gauntlet_ssh::testing::Sshd, name: &str) -> Host {
    Host::connect(sshd.spec(name))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd said: {}", sshd.log()))
}

/// A spec whose processes carry `key=value` in their environment.
fn marked(mut spec: NodeSpec, (key, value): &(String, String)) -> NodeSpec {
    spec.env.push((key.into(), value.into()));
    spec
}

fn entry((key, value): &(String, String)) -> String {
    format!("{key}={value}")
}

#[tokio::test]
async fn a_node_speaks_json_lines_over_its_stdin_and_stdout() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "json").await;
    let backend = SshBackend::new(host.clone());
    assert_eq!(backend.name(), "ssh");
    // A Maelstrom-style node: one JSON line in, one JSON line out.
    let spec = NodeSpec::new("sh").arg("-c").arg(
        r#"while IFS= read -r line; do printf '{"src":"n1","dest":"c1","body":%s}\n' "$line"; done"#,
    );
    let mut node = backend.spawn(&spec).unwrap();
    assert_eq!(node.address(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(node.member_pids().is_empty());
    let mut stdin = node.take_stdin().unwrap();
    let mut lines = BufReader::new(node.take_stdout().unwrap()).lines();
    let body =
        |i: usize| format!(r#"{{"type":"echo","msg_id":{i},"echo":"it's $HOME `x` \\ \" ünï"}}"#);
    let writer = tokio::spawn(async move {
        for i in 0..500 {
            stdin
                .write_all(format!("{}\n", body(i)).as_bytes())
                .await
                .unwrap();
        }
        stdin.flush().await.unwrap();
        // Dropped: the node sees its input end.
    });
    for i in 0..500 {
        let line = lines.next_line().await.unwrap().unwrap();
        assert_eq!(
            line,
            format!(r#"{{"src":"n1","dest":"c1","body":{}}}"#, body(i))
        );
    }
    writer.await.unwrap();
    assert_eq!(lines.next_line().await.unwrap(), None);
    let exit = node.wait().await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(exit.program, Path::new("sh"));
    assert!(node.try_exit().unwrap().success());
}

#[tokio::test]
async fn a_node_s_exit_status_stderr_cwd_and_environment_are_the_program_s() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "status").await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("node-logs/n1.log");
    let hostile = "it's $HOME `id` \"q\" \\";
    let mut spec = NodeSpec::new("sh")
        .arg("-c")
        .arg("echo starting >&2; pwd; printf '%s\\n' \"$X\"; echo 'last words' >&2; exit 3");
    spec.cwd = Some("/usr".into());
    spec.env.push(("X".into(), hostile.into()));
    spec.stderr_log = Some(log.clone());
    // Through the async start.
    let mut node = host.spawn(&spec).await.unwrap();
    let mut out = String::new();
    gauntlet_node::NodeHandle::take_stdout(&mut node)
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, format!("/usr\n{hostile}\n"));
    let exit = gauntlet_node::NodeHandle::wait(&mut node).await;
    assert_eq!(exit.termination, Termination::Exited(3));
    assert_eq!(exit.stderr_tail, ["starting", "last words"]);
    assert_eq!(exit.stderr_log.as_deref(), Some(log.as_path()));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "starting\nlast words\n"
    );

    // A death by signal on the host reads as that signal.
    let backend = SshBackend::new(host.clone());
    let mut node = backend
        .spawn(&NodeSpec::new("sh").arg("-c").arg("kill -SEGV $$"))
        .unwrap();
    let exit = node.wait().await;
    assert_eq!(
        exit.termination,
        Termination::Signaled {
            signal: libc::SIGSEGV,
            core_dumped: false
        }
    );

    // What cannot start says why, and where.
    for (spec, why) in [
        (
            NodeSpec::new("no-such-program-gauntlet"),
            "no-such-program-gauntlet: not found on PATH",
        ),
        (
            NodeSpec::new("/no/such/program"),
            "/no/such/program: no such executable file",
        ),
        (
            NodeSpec {
                cwd: Some("/no/such/dir".into()),
                ..NodeSpec::new("sh")
            },
            "working directory /no/such/dir: no such directory",
        ),
    ] {
        let err = backend.spawn(&spec).unwrap_err().to_string();
        assert!(err.contains("on host status"), "{err}");
        assert!(err.contains(why), "{err}");
    }
}

#[tokio::test]
async fn kill_pause_and_resume_are_seen_on_the_host() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "faults").await;
    let backend = SshBackend::new(host);
    let mark = marker("faults");
    let mut node = backend
        .spawn(&marked(NodeSpec::new("sleep").arg("300"), &mark))
        .unwrap();
    let pids = pids_with_env(&entry(&mark));
    assert_eq!(pids.len(), 1, "{pids:?}");
    let pid = pids[0];
    let control = node.control();
    assert!(control.is_running());
    node.pause().unwrap();
    assert_eq!(state(pid), Some('T'), "paused is stopped at once");
    node.resume().unwrap();
    assert!(eventually(Duration::from_secs(2), || state(pid) == Some('S')).await);
    // The same through the control a fault holds.
    control.pause().unwrap();
    assert_eq!(state(pid), Some('T'));
    control.resume().unwrap();
    assert!(eventually(Duration::from_secs(2), || state(pid) == Some('S')).await);
    assert!(node.try_exit().is_none());
    node.kill().unwrap();
    let exit = node.wait().await;
    assert_eq!(
        exit.termination,
        Termination::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    assert!(pids_with_env(&entry(&mark)).is_empty());
    assert!(!control.is_running());
    // A node that has ended is nothing to act on.
    control.signal(libc::SIGTERM).unwrap();
    node.pause().unwrap();

    // The polite stop reaches the whole group; the program's own end.
    let mut node = backend
        .spawn(
            &NodeSpec::new("sh")
                .arg("-c")
                .arg("trap 'echo bye >&2; exit 7' TERM; echo up; sleep 300 & wait"),
        )
        .unwrap();
    let mut lines = BufReader::new(node.take_stdout().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("up"));
    node.terminate().unwrap();
    let exit = node.wait().await;
    assert_eq!(exit.termination, Termination::Exited(7));
    assert_eq!(exit.stderr_tail, ["bye"]);
}

#[tokio::test]
async fn usage_is_the_group_s_footprint_on_the_host() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "usage").await;
    let backend = SshBackend::new(host);
    let mark = marker("usage");
    // Some CPU, then 8 MB held in a shell variable, then a child.
    let node = backend
        .spawn(&marked(
            NodeSpec::new("sh").arg("-c").arg(
                "i=0; while [ $i -lt 100000 ]; do i=$((i + 1)); done; \
                 x=$(head -c 8000000 /dev/zero | tr '\\0' a); echo ready; sleep 300 & wait",
            ),
            &mark,
        ))
        .unwrap();
    let control = node.control();
    assert!(control.member_pids().is_empty());
    let grown = eventually(Duration::from_secs(15), || {
        control.usage().is_some_and(|u| u.rss_bytes > 8_000_000)
    })
    .await;
    let usage = control.usage().unwrap();
    assert!(grown, "{usage:?}");
    assert!(usage.rss_bytes < 1 << 30, "{usage:?}");
    assert!(usage.cpu_ns > 10_000_000, "{usage:?}");
    // What /proc says about the same processes, here.
    let local: u64 = pids_with_env(&entry(&mark))
        .iter()
        .filter_map(|pid| {
            gauntlet_node::status_rss_bytes(
                &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
            )
        })
        .sum();
    assert!(
        usage.rss_bytes / 2 < local && local < usage.rss_bytes * 2,
        "{usage:?} vs {local}"
    );
    drop(node);
    assert_eq!(control.usage(), None);
}

#[tokio::test]
async fn dropping_a_node_leaves_no_process_on_the_host() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "drop").await;
    let backend = SshBackend::new(host.clone());
    let mark = marker("drop");
    let node = backend
        .spawn(&marked(
            NodeSpec::new("sh")
                .arg("-c")
                .arg("sleep 300 & sleep 300 & wait"),
            &mark,
        ))
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || pids_with_env(&entry(&mark))
            .len()
            == 3)
        .await
    );
    drop(node);
    assert_eq!(pids_with_env(&entry(&mark)), Vec::<u32>::new());
    // A paused node too.
    let node = backend
        .spawn(&marked(NodeSpec::new("sleep").arg("300"), &mark))
        .unwrap();
    node.pause().unwrap();
    drop(node);
    assert_eq!(pids_with_env(&entry(&mark)), Vec::<u32>::new());
    // No pid file is left in the run directory.
    let dir = Path::new(gauntlet_ssh::REMOTE_ROOT).join(host.run_dir().to_string());
    assert!(
        eventually(Duration::from_secs(2), || std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .is_none())
        .await
    );
    // The control socket is in a short 0700 directory under /tmp.
    let socket = host.control_socket().to_owned();
    assert!(socket.as_os_str().len() < 108, "{socket:?}");
    let control_dir = socket
        .ancestors()
        .find(|d| d.parent() == Some(Path::new("/tmp")))
        .unwrap()
        .to_owned();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&control_dir)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // Dropping the host (its last clone) removes its run directory on
    // the host and its control directory here.
    drop(backend);
    drop(host);
    assert!(!dir.exists());
    assert!(!control_dir.exists());
}

#[tokio::test]
async fn an_unknown_or_changed_host_key_is_refused_with_how_to_accept_it() {
    let Some(sshd) = sshd() else { return };
    let empty = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let mut spec = sshd.spec("stranger");
    spec.known_hosts = Some(empty.clone());
    let err = Host::connect(spec).await.unwrap_err();
    assert!(matches!(err, SshError::HostKey { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        "cannot connect to host stranger",
        "host key is unknown or has changed",
        "always checked",
        "fingerprint",
        &format!(
            "ssh-keyscan -p {} 127.0.0.1 >> {}",
            sshd.port,
            empty.display()
        ),
    ] {
        assert!(text.contains(part), "{part:?} is not in: {text}");
    }
    // A key that differs from the one known: refused the same way.
    let other = sshd.dir.path().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let changed = sshd.dir.path().join("changed_known_hosts");
    std::fs::write(
        &changed,
        format!("[127.0.0.1]:{} {}\n", sshd.port, key.join(" ")),
    )
    .unwrap();
    let mut spec = sshd.spec("impostor");
    spec.known_hosts = Some(changed);
    let err = Host::connect(spec).await.unwrap_err();
    assert!(matches!(err, SshError::HostKey { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{err}"
    );
}

#[tokio::test]
async fn the_fallback_address_is_tried_when_the_address_does_not_answer() {
    let Some(sshd) = sshd() else { return };
    // Nothing listens on 127.0.0.2 (sshd is on 127.0.0.1 only).
    let mut spec = sshd.spec("two-ways");
    spec.address = "127.0.0.2".into();
    spec.fallback_address = Some("127.0.0.1".into());
    let host = Host::connect(spec.clone()).await.unwrap();
    assert_eq!(host.address(), "127.0.0.1");
    let out = host
        .run(&["echo", "reached"], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"reached\n");
    // Neither answers: the error names both attempts.
    spec.fallback_address = Some("127.0.0.3".into());
    let err = Host::connect(spec).await.unwrap_err();
    assert!(matches!(err, SshError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    let port = sshd.port;
    for part in [
        "cannot connect to host two-ways".to_owned(),
        format!("127.0.0.2:{port}: "),
        format!("; then 127.0.0.3:{port}: "),
        "Connection refused".to_owned(),
    ] {
        assert!(text.contains(&part), "{part:?} is not in: {text}");
    }
}

#[tokio::test]
async fn run_kills_what_it_ran_when_it_times_out_and_exec_runs_on_the_host() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "run").await;
    let mark = marker("run");
    let env = entry(&mark);
    let started = std::time::Instant::now();
    let out = host
        .run(
            &[
                "env",
                &env,
                "sh",
                "-c",
                "echo started; sleep 300 & sleep 300",
            ],
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.timed_out);
    assert_eq!(out.stdout, b"started\n");
    assert_eq!(
        out.exit.termination,
        Termination::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    assert_eq!(pids_with_env(&env), Vec::<u32>::new());

    let out = host
        .run(
            &["sh", "-c", "echo out; echo err >&2; exit 4"],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(!out.timed_out);
    assert_eq!(out.exit.termination, Termination::Exited(4));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.exit.stderr_tail, ["err"]);
    let err = host
        .run(&[] as &[&str], Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    // A node's exec is a command on its host (a health check).
    let backend = SshBackend::new(host.clone());
    let node = backend.spawn(&NodeSpec::new("sleep").arg("300")).unwrap();
    let control = node.control();
    let argv = |s: &str| vec!["sh".to_owned(), "-c".to_owned(), s.to_owned()];
    let done = control
        .exec(&argv("echo hi; exit 2"), Duration::from_secs(5))
        .unwrap();
    assert_eq!(done.exit_code, Some(2));
    assert_eq!(done.output, "hi\n");
    let hung = control
        .exec(&argv("sleep 300"), Duration::from_millis(500))
        .unwrap();
    assert!(hung.timed_out);
    assert_eq!(hung.exit_code, None);
}

#[tokio::test]
async fn an_upload_replaces_a_running_program_s_file_and_the_program_keeps_running() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "deploy").await;
    let backend = SshBackend::new(host.clone());
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("prog");
    host.upload(Path::new("/bin/sleep"), &target, 0o755)
        .await
        .unwrap();
    let mark = marker("deploy");
    let node = backend
        .spawn(&marked(NodeSpec::new(&target).arg("300"), &mark))
        .unwrap();
    let pids = pids_with_env(&entry(&mark));
    assert_eq!(pids.len(), 1);
    let pid = pids[0];

    let replacement = dir.path().join("replacement.sh");
    std::fs::write(&replacement, "#!/bin/sh\necho replaced\n").unwrap();
    host.upload(&replacement, &target, 0o750).await.unwrap();
    assert_eq!(state(pid), Some('S'), "the running program still runs");
    assert!(node.control().is_running());
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.to_string_lossy().ends_with("(deleted)"), "{exe:?}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(&replacement).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o750);
    let out = host.run(&[&target], Duration::from_secs(5)).await.unwrap();
    assert_eq!(out.stdout, b"replaced\n");
    // No temporary file is left beside it.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["prog", "replacement.sh"]);

    // Reading back, whole and bounded.
    let whole = host.read_file(&target, 1 << 20).await.unwrap();
    assert_eq!(whole.bytes, b"#!/bin/sh\necho replaced\n");
    assert!(!whole.truncated());
    let head = host.read_file(&target, 9).await.unwrap();
    assert_eq!(head.bytes, b"#!/bin/sh");
    assert_eq!(head.size, 24);
    assert!(head.truncated());
    let err = host
        .read_file(&dir.path().join("nope"), 10)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such regular file"), "{err}");
    // Into a directory that is not there: refused, nothing written.
    let err = host
        .upload(&replacement, Path::new("/no/such/dir/prog"), 0o644)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Remote { .. }), "{err:?}");
    let err = host
        .upload(&dir.path().join("missing"), &target, 0o644)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Local { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(&replacement).unwrap()
    );
}

#[tokio::test]
async fn the_sweep_removes_a_dead_owner_s_leftovers_and_nothing_else() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "sweeper").await;
    let root = Path::new(gauntlet_ssh::REMOTE_ROOT);
    // A gauntlet of this machine whose pid does not exist: dead.
    let dead = RunDir {
        owner: Owner {
            pid: i32::MAX,
            ..Owner::current()
        },
        index: 0,
    }
    .to_string();
    // This process: alive. Another machine's: not ours to judge.
    let live = RunDir {
        owner: Owner::current(),
        index: 999_999,
    }
    .to_string();
    let elsewhere = RunDir {
        owner: Owner {
            host: "another-machine".into(),
            pid: i32::MAX,
            ..Owner::current()
        },
        index: 0,
    }
    .to_string();
    /// Starts a process group on the host that outlives the command
    /// (its own session), marked; returns its pid here.
    async fn leftover(host: &Host, node_marker: Option<&str>, test_mark: &str) -> u32 {
        let node = match node_marker {
            Some(m) => format!("GAUNTLET_SSH_NODE={m}"),
            None => "-u GAUNTLET_SSH_NODE".to_owned(),
        };
        // The command's own group is killed when it ends: it waits
        // until the leftover has left for a session of its own.
        let script = format!(
            "env {node} GAUNTLET_TEST_MARK={test_mark} setsid sleep 300 \
             </dev/null >/dev/null 2>&1 & c=$!; \
             while [ \"$(awk '{{ sub(/^.*\\) /, \"\"); print $4 }}' /proc/$c/stat)\" != $c ]; do sleep 0.01; done"
        );
        let out = host
            .run(&["sh", "-c", &script], Duration::from_secs(5))
            .await
            .unwrap();
        assert!(out.exit.success(), "{out:?}");
        let entry = format!("GAUNTLET_TEST_MARK={test_mark}");
        assert!(eventually(Duration::from_secs(2), || pids_with_env(&entry).len() == 1).await);
        pids_with_env(&entry)[0]
    }
    let tag = std::process::id();
    let boot = host.remote_boot().to_owned();
    let pid_file = |dir: &str, node: &str, pid: u32, start: u64| {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{node}.pid")),
            format!("{pid} {start} {boot}\n"),
        )
        .unwrap();
    };
    let start = |pid: u32| gauntlet_node::start_time(pid as i32).unwrap();
    let dead_pid = leftover(&host, Some(&format!("{dead}/n1")), &format!("dead-{tag}")).await;
    pid_file(&dead, "n1", dead_pid, start(dead_pid));
    // A pid file of the dead owner naming a group that is not its node's
    // (another start time, no marker): the file goes, the group stays.
    let stranger = leftover(&host, None, &format!("stranger-{tag}")).await;
    pid_file(&dead, "n2", stranger, start(stranger) + 1);
    let live_pid = leftover(&host, Some(&format!("{live}/n1")), &format!("live-{tag}")).await;
    pid_file(&live, "n1", live_pid, start(live_pid));
    let far_pid = leftover(
        &host,
        Some(&format!("{elsewhere}/n1")),
        &format!("far-{tag}"),
    )
    .await;
    pid_file(&elsewhere, "n1", far_pid, start(far_pid));

    let swept = sweep(&host).await.unwrap();
    assert!(swept.run_dirs.contains(&dead), "{swept:?}");
    assert!(!swept.run_dirs.contains(&live), "{swept:?}");
    assert!(!swept.run_dirs.contains(&elsewhere), "{swept:?}");
    assert!(
        !swept.run_dirs.contains(&host.run_dir().to_string()),
        "{swept:?}"
    );
    assert!(swept.groups_killed >= 1, "{swept:?}");
    let alive = |pid: u32| state(pid).is_some_and(|s| s != 'Z');
    assert!(eventually(Duration::from_secs(2), || !alive(dead_pid)).await);
    assert!(!root.join(&dead).exists());
    assert!(alive(stranger), "not the dead owner's to kill");
    assert!(alive(live_pid), "a live owner's");
    assert!(root.join(&live).join("n1.pid").exists());
    assert!(alive(far_pid), "another machine's owner");
    assert!(root.join(&elsewhere).join("n1.pid").exists());
    // A second sweep finds nothing more.
    let again = sweep(&host).await.unwrap();
    assert!(!again.run_dirs.contains(&dead));

    for pid in [stranger, live_pid, far_pid] {
        // SAFETY: kill(2) on processes this test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    for dir in [&live, &elsewhere] {
        std::fs::remove_dir_all(root.join(dir)).unwrap();
    }
}

#[tokio::test]
async fn when_the_connection_goes_its_keeper_kills_what_it_started_and_errors_say_so() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "fragile").await;
    assert!(host.is_connected());
    let backend = SshBackend::new(host.clone());
    let mark = marker("fragile");
    let mut node = backend
        .spawn(&marked(NodeSpec::new("sleep").arg("300"), &mark))
        .unwrap();
    assert_eq!(pids_with_env(&entry(&mark)).len(), 1);
    // The master goes (as when the network drops it).
    let status = std::process::Command::new("ssh")
        .arg("-S")
        .arg(host.control_socket())
        .args(["-O", "exit", "none"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), node.wait())
        .await
        .expect("the node's end is seen");
    let said = exit.stderr_tail.join("\n");
    assert!(
        said.contains("the connection to host fragile is gone"),
        "{exit:?}"
    );
    // The keeper on the host saw its input end and killed the node.
    assert!(
        eventually(Duration::from_secs(5), || pids_with_env(&entry(&mark))
            .is_empty())
        .await
    );
    assert!(!host.is_connected());
    let err = host
        .run(&["true"], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    assert!(
        err.to_string()
            .contains("the connection to host fragile is gone"),
        "{err}"
    );
    let err = backend
        .spawn(&NodeSpec::new("true"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is gone"), "{err}");
}

#[tokio::test]
async fn control_needs_no_session_so_a_host_full_of_nodes_is_still_signalled() {
    let Some(sshd) = sshd() else { return };
    let host = connect(&sshd, "crowded").await;
    let backend = SshBackend::new(host.clone());
    let mark = marker("crowded");
    // sshd allows ten sessions per connection by default: the keeper's
    // and nine nodes'.
    let nodes: Vec<_> = (0..9)
        .map(|_| {
            backend
                .spawn(&marked(NodeSpec::new("sleep").arg("300"), &mark))
                .unwrap()
        })
        .collect();
    let err = backend
        .spawn(&NodeSpec::new("true"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refused another session") && err.contains("MaxSessions"),
        "{err}"
    );
    let err = host
        .run(&["true"], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::NoSession { .. }), "{err:?}");
    // Control still reaches every node: it goes through the keeper.
    let pids = pids_with_env(&entry(&mark));
    assert_eq!(pids.len(), 9);
    for node in &nodes {
        node.pause().unwrap();
        assert!(node.control().usage().is_some());
    }
    assert!(pids.iter().all(|pid| state(*pid) == Some('T')));
    let swept = sweep(&host).await.unwrap();
    assert!(!swept.run_dirs.contains(&host.run_dir().to_string()));
    drop(nodes);
    assert_eq!(pids_with_env(&entry(&mark)), Vec::<u32>::new());
}
