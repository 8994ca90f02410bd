//! Helpers shared by the CLI's integration tests: run the real `gauntlet`
//! binary, with the bundled example nodes as the programs under test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn gauntlet() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"))
}

/// A `gauntlet test` invocation whose nodes are `gauntlet example-node NAME`,
/// with a store in a fresh temp dir and a marker in the environment so that
/// leak checks can find every process the run started.
pub struct TestRun {
    pub store: tempfile::TempDir,
    pub marker: String,
    pub args: Vec<String>,
}

impl TestRun {
    pub fn new(workload: &str, example: &str) -> TestRun {
        let store = tempfile::tempdir().unwrap();
        let marker = format!("gauntlet-test-{}-{}", std::process::id(), rand_suffix());
        let args = vec![
            "test".into(),
            "-w".into(),
            workload.into(),
            "--bin".into(),
            gauntlet().display().to_string(),
            "example-node".into(),
            example.into(),
            "--store".into(),
            store.path().display().to_string(),
        ];
        TestRun {
            store,
            marker,
            args,
        }
    }

    pub fn arg(mut self, flag: &str, value: impl ToString) -> TestRun {
        self.args.push(flag.into());
        self.args.push(value.to_string());
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(gauntlet());
        cmd.args(&self.args)
            .env("GAUNTLET_TEST_MARKER", &self.marker);
        cmd
    }

    pub fn run(&self) -> Output {
        let out = self.command().output().unwrap();
        assert_no_processes_with_marker(&self.marker);
        out
    }

    pub fn latest(&self) -> PathBuf {
        std::fs::canonicalize(self.store.path().join("latest")).expect("store/latest exists")
    }

    pub fn results(&self) -> Value {
        read_json(&self.latest().join("results.json"))
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Pids of live processes whose environment holds `marker`.
pub fn processes_with_marker(marker: &str) -> Vec<u32> {
    let needle = format!("GAUNTLET_TEST_MARKER={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            // Zombies still show their environment; they are leaks too.
            found.push(pid);
        }
    }
    found
}

/// Fails if any process of the run is still there after a short grace
/// period (the kernel may take a moment to tear a killed process down).
pub fn assert_no_processes_with_marker(marker: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = processes_with_marker(marker);
        if left.is_empty() {
            return;
        }
        if std::time::Instant::now() > deadline {
            let descr: Vec<String> = left
                .iter()
                .map(|p| {
                    let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                    format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
                })
                .collect();
            panic!("processes leaked: {descr:#?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Ctrl-C for a gauntlet started with piped output: SIGINT, then its
/// output once it has ended.
pub fn interrupt(child: std::process::Child) -> Output {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    child.wait_with_output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A workspace for runs: a temp dir holding the store, a bin dir with the
/// example http-service, and a marker for the leak check.
pub struct Bench {
    pub dir: tempfile::TempDir,
    pub marker: String,
}

/// A loopback port nothing listens on now, and one this test process has not
/// handed out before: the kernel may give a just-closed port again at once,
/// so two calls in a row could otherwise name the same port (CI once got a
/// proxy whose listen port was its own upstream's).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Whether `program` runs (`program --version`); when not, says which
/// Debian package the skipped test needs.
pub fn have(program: &str, package: &str) -> bool {
    let there = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !there {
        #[allow(
            clippy::disallowed_macros,
            reason = "a skipped test says why on stderr"
        )]
        {
            eprintln!("skipped: needs {program} (Debian {package})");
        }
    }
    there
}

/// A server a test started on a free loopback port, with its files in a
/// temp dir: SIGKILLed and reaped on drop, so also when the test panics
/// (a paused one too).
pub struct Server {
    child: std::process::Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// `scheme://127.0.0.1:PORT`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// SIGSTOP: it keeps its sockets (connections are accepted by the
    /// kernel) and answers nothing, as a paused or partitioned server.
    pub fn pause(&self) {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGSTOP).unwrap();
    }

    pub fn resume(&self) {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGCONT).unwrap();
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts `cmd` (its output discarded) and waits, at most 20 s, for
    /// `port` to take connections.
    fn start(mut cmd: Command, port: u16, dir: tempfile::TempDir) -> Server {
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let mut server = Server { child, port, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{cmd:?} exited before it listened: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{cmd:?} did not listen on {port} within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A single-member etcd (Debian etcd-server) on 127.0.0.1, taking
/// connections (it may need a moment more to elect itself and serve);
/// `None`, the test skipped, when there is no `etcd`.
pub fn start_etcd() -> Option<Server> {
    if !have("etcd", "etcd-server") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (client_port, peer_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client_port}");
    let mut cmd = Command::new("etcd");
    cmd.args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{peer_port}"),
        ]);
    Some(Server::start(cmd, client_port, dir))
}

/// A Redis (Debian redis-server) on 127.0.0.1 without persistence, ready;
/// `None`, the test skipped, when there is no `redis-server`.
pub fn start_redis() -> Option<Server> {
    if !have("redis-server", "redis-server") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path());
    Some(Server::start(cmd, port, dir))
}

impl Default for Bench {
    fn default() -> Bench {
        Bench::new()
    }
}

impl Bench {
    pub fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        // The plans name `${bin_dir}/http-service` (and the lab's example
        // programs); here each is gauntlet's own copy (`exec` keeps it in
        // the same process).
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for program in [
            "http-service",
            "stun-server",
            "nat-discover",
            "punch-rendezvous",
            "punch-peer",
        ] {
            let script = bin.join(program);
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\nexec '{}' example-node {program} \"$@\"\n",
                    gauntlet().display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let marker = format!("gauntlet-run-test-{}-{}", std::process::id(), free_port());
        Bench { dir, marker }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("gauntlet.db")
    }

    pub fn bin_dir(&self) -> String {
        self.path().join("bin").display().to_string()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(gauntlet());
        cmd.args(args)
            .arg("--db")
            .arg(self.db())
            .current_dir(self.path())
            .env("GAUNTLET_TEST_MARKER", &self.marker);
        cmd
    }

    /// Runs a gauntlet command to its end; nothing it started may remain.
    pub fn gauntlet(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap();
        assert_no_processes_with_marker(&self.marker);
        out
    }

    pub fn write_plan(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn runs(&self) -> Vec<Value> {
        let out = self.gauntlet(&["runs", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn artifact_dir(&self, run: &Value) -> PathBuf {
        self.path().join("store").join(run["id"].as_str().unwrap())
    }
}

/// Whether this process may build network labs (root); when not, says the
/// test skipped. CI runs as root.
pub fn lab_allowed() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        #[allow(
            clippy::disallowed_macros,
            reason = "a skipped test says why on stderr"
        )]
        {
            eprintln!("skipped: the network lab needs root");
        }
    }
    root
}

/// Namespaces whose name carries lab `id`.
pub fn namespaces_with(id: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("gt-{id}-")))
        .collect()
}

/// Nothing of lab `id` is left: no namespace, no control link.
pub fn assert_gone(id: &str) {
    assert!(
        namespaces_with(id).is_empty(),
        "left: {:?}",
        namespaces_with(id)
    );
    let control = std::path::Path::new("/sys/class/net").join(format!("gt-{id}"));
    assert!(!control.exists(), "{} left", control.display());
}

/// A cluster test's harness: plans written to a temp dir beside a store,
/// `gauntlet test PLAN` run with a leak-check marker of the test's own.
pub struct ClusterRun {
    pub dir: tempfile::TempDir,
    pub marker: String,
}

impl ClusterRun {
    /// `name`: this test's, so the leak check sees only its own processes.
    pub fn new(name: &str) -> ClusterRun {
        ClusterRun {
            dir: tempfile::tempdir().unwrap(),
            marker: format!("gauntlet-cluster-{name}-{}", std::process::id()),
        }
    }

    /// Runs `gauntlet test` on `text` (written as `file` beside the store)
    /// with `args`; nothing it started may outlive it.
    pub fn test(&self, file: &str, text: &str, args: &[&str]) -> Output {
        let plan = self.dir.path().join(file);
        std::fs::write(&plan, text).unwrap();
        let out = Command::new(gauntlet())
            .arg("test")
            .arg(&plan)
            .args(["--store", &self.store().display().to_string()])
            .args(args)
            .env("GAUNTLET_TEST_MARKER", &self.marker)
            .output()
            .unwrap();
        assert_no_processes_with_marker(&self.marker);
        out
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The newest run's directory.
    pub fn latest(&self) -> PathBuf {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self.store())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        runs.sort();
        runs.pop().expect("a run directory")
    }
}

/// An example file's path (`cluster/etcd.toml`).
pub fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(rel)
}

/// The example `rel` with some `key = value` lines changed (a shorter
/// time limit, fewer faults).
pub fn example_variant(rel: &str, changes: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(example(rel)).unwrap();
    for (key, value) in changes {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("{rel} has no {key} line"))
            .to_owned();
        text = text.replace(&line, &format!("{key} = {value}"));
    }
    text
}

/// A run's history, op by op.
pub fn history_of(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The nemesis ops of `h` with one of `fs`.
pub fn nemesis_ops<'a>(h: &'a [Value], fs: &[&str]) -> Vec<&'a Value> {
    h.iter()
        .filter(|o| o["process"] == "nemesis" && fs.contains(&o["f"].as_str().unwrap_or("")))
        .collect()
}

/// A command's stdout and stderr, for an assertion's message.
pub fn explain(out: &Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}
