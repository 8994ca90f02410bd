//! Real processes for the service tests: a kill-on-drop process guard, the
//! http-service on a free port, a real `redis-server`, and temporary
//! directories. Every process a test starts is SIGKILLed and reaped when its
//! guard drops, so a failed assertion leaks nothing.

// Prints a failed test's node stderr for the person debugging it. The ban on
// print macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]
#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A running process, SIGKILLed and reaped on drop. Its stderr is collected
/// and shown when a test fails.
pub struct Proc {
    pub child: Child,
    name: &'static str,
    stderr: Arc<Mutex<String>>,
    /// Collects stderr until the pipe closes; joined once the process has
    /// exited, so that [`Proc::stderr`] then holds everything.
    collector: Option<thread::JoinHandle<()>>,
}

impl Proc {
    /// Spawns with stdin closed and stdout piped.
    pub fn spawn(name: &'static str, command: &mut Command) -> Proc {
        Proc::spawn_with_stdin(name, command, Stdio::null())
    }

    pub fn spawn_with_stdin(name: &'static str, command: &mut Command, stdin: Stdio) -> Proc {
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        let collector = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            child,
            name,
            stderr,
            collector: Some(collector),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether stderr shows `needle` within `limit` (it arrives through a
    /// pipe and a thread, a little after the process wrote it).
    pub fn stderr_shows(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.stderr().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap: no chance to
    /// flush or clean up, like a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(collector) = self.collector.take() {
                    let _ = collector.join();
                }
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("--- {} stderr ---\n{}", self.name, self.stderr());
        }
    }
}

/// A process's stdout line by line, read by a thread so a test can wait for
/// a line with a limit. The thread keeps the pipe open for the process's
/// whole life.
pub struct Lines(Receiver<String>);

impl Lines {
    pub fn of(proc: &mut Proc) -> Lines {
        let stdout = proc
            .child
            .stdout
            .take()
            .expect("stdout is piped and not taken");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    /// The next line, or `None` if none came within `limit` (or stdout
    /// closed).
    pub fn next_within(&self, limit: Duration) -> Option<String> {
        self.0.recv_timeout(limit).ok()
    }
}

/// What a program that ran to its end said.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end, which must come within `limit`: a program
/// that hangs fails the test (and is killed) instead of hanging it.
pub fn run_within(name: &'static str, command: &mut Command, limit: Duration) -> Finished {
    let mut proc = Proc::spawn(name, command);
    let mut stdout = proc.child.stdout.take().unwrap();
    // Read stdout as it comes, so a chatty program cannot block on a full
    // pipe while we wait for it to exit.
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let Some(status) = proc.exit_within(limit) else {
        panic!("{name} did not finish within {limit:?}\n{}", proc.stderr());
    };
    Finished {
        code: status.code(),
        stdout: reader.join().unwrap(),
        stderr: proc.stderr(),
    }
}

pub const HTTP_SERVICE: &str = env!("CARGO_BIN_EXE_http-service");

/// An http-service on a free port.
pub struct Service {
    pub proc: Proc,
    pub port: u16,
}

impl Service {
    /// Starts it with `args` and waits for its listening line.
    pub fn start(args: &[&str]) -> Service {
        let mut proc = Proc::spawn(
            "http-service",
            Command::new(HTTP_SERVICE).args(["--port", "0"]).args(args),
        );
        let mut line = String::new();
        BufReader::new(proc.child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("http-service listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no listening line: {line:?}\n{}", proc.stderr()));
        Service { proc, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn call(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        call(self.port, method, path, body)
    }
}

/// A raw HTTP/1.1 exchange, independent of the service's own client code.
pub fn call(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("Connection: close"), "{head}");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh directory under the system's temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "gauntlet-examples-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A real `redis-server` on 127.0.0.1, SIGKILLed on drop.
pub struct Redis {
    pub proc: Proc,
    pub port: u16,
    args: Vec<String>,
}

impl Redis {
    /// `redis-server` on a free port with `args` after `--port` and
    /// `--bind`; waits until it answers PING.
    pub fn start(args: &[&str]) -> Redis {
        Redis::start_on(free_port(), args)
    }

    pub fn start_on(port: u16, args: &[&str]) -> Redis {
        assert!(
            on_path("redis-server"),
            "redis-server is not on PATH: install it (Debian: apt-get install redis-server); \
             the tests use a real Redis"
        );
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        let proc = Proc::spawn(
            "redis-server",
            Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(&args),
        );
        let redis = Redis { proc, port, args };
        // Loading an append-only file answers -LOADING until done, so wait
        // for PONG, not for the port.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(port) {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING:\n{}",
                redis.proc.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL: Redis gets no chance to write anything on the way out.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Kills it (if still running) and starts it again on the same port
    /// with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        *self = Redis::start_on(self.port, &args);
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 7];
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// `GET key` straight from Redis with hand-written RESP, to see a value
/// really is in Redis. `None` for nil.
pub fn redis_get(port: u16, key: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    if header == "$-1\r\n" {
        return None;
    }
    let len: usize = header.trim().strip_prefix('$').unwrap().parse().unwrap();
    let mut value = vec![0; len];
    reader.read_exact(&mut value).unwrap();
    Some(String::from_utf8(value).unwrap())
}
