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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
