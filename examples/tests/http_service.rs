//! The `http-service` example against real sockets, and with a real Redis
//! when `redis-server` is on PATH.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_http-service");

/// A running process, killed and reaped on drop, so a failed assertion
/// leaks nothing. Its stderr is collected and shown when a test fails.
struct Proc {
    child: Child,
    name: &'static str,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(name: &'static str, command: &mut Command) -> Proc {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
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
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit by itself.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
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
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- {} stderr ---\n{}",
                self.name,
                self.stderr.lock().unwrap()
            );
        }
    }
}

/// An http-service on a free port.
struct Service {
    proc: Proc,
    port: u16,
}

impl Service {
    fn start(args: &[&str]) -> Service {
        let mut proc = Proc::spawn(
            "http-service",
            Command::new(BIN).args(["--port", "0"]).args(args),
        );
        let mut line = String::new();
        BufReader::new(proc.child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("http-service listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no listening line: {line:?}"));
        Service { proc, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn call(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        call(self.port, method, path, body)
    }
}

/// A raw HTTP/1.1 exchange, independent of the service's own client code.
fn call(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn selftest(url: &str) -> (i32, String) {
    let output = Command::new(BIN)
        .args(["--selftest", url])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn health_kv_round_trip_stats_and_404() {
    let service = Service::start(&[]);
    assert_eq!(service.call("GET", "/health", ""), (200, "ok".into()));
    assert_eq!(
        service.call("PUT", "/kv/greeting", "hello world"),
        (200, "ok".into())
    );
    assert_eq!(
        service.call("GET", "/kv/greeting?x=1", ""),
        (200, "hello world".into())
    );
    assert_eq!(
        service.call("PUT", "/kv/greeting", "bye"),
        (200, "ok".into())
    );
    assert_eq!(service.call("GET", "/kv/greeting", "").1, "bye");
    assert_eq!(service.call("GET", "/kv/missing", "").0, 404);
    assert_eq!(service.call("GET", "/nope", "").0, 404);
    assert_eq!(service.call("GET", "/kv/", "").0, 404);
    assert_eq!(service.call("DELETE", "/kv/greeting", "").0, 405);
    assert_eq!(service.call("POST", "/health", "").0, 405);

    let (status, stats) = service.call("GET", "/", "");
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats, serde_json::json!({"requests": 11, "leaked_kib": 0}));

    // A TCP probe (connect, close) is not a request, and garbage is a 400.
    drop(TcpStream::connect(("127.0.0.1", service.port)).unwrap());
    let mut garbage = TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    garbage.write_all(b"HELLO\r\n\r\n").unwrap();
    let mut answer = String::new();
    garbage.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let stats = service.call("GET", "/", "").1;
    assert!(stats.contains("\"requests\":12"), "{stats}");
}

#[test]
fn crash_after_three_requests_exits_with_status_3() {
    let mut service = Service::start(&["--crash-after", "3"]);
    for _ in 0..2 {
        assert_eq!(service.call("GET", "/health", "").0, 200);
    }
    assert_eq!(service.proc.exit_within(Duration::from_millis(200)), None);
    // The third request is answered, then the process exits.
    assert_eq!(service.call("GET", "/health", ""), (200, "ok".into()));
    let status = service.proc.exit_within(Duration::from_secs(5)).unwrap();
    assert_eq!(status.code(), Some(3));
}

#[test]
fn leaking_grows_rss() {
    let service = Service::start(&["--leak-kib-per-request", "1024"]);
    let pid = service.proc.pid();
    let before = vm_rss_kib(pid);
    for _ in 0..49 {
        assert_eq!(service.call("GET", "/health", "").0, 200);
    }
    let after = vm_rss_kib(pid);
    assert!(after >= before + 40 * 1024, "{before} KiB -> {after} KiB");
    let stats = service.call("GET", "/", "").1;
    assert!(stats.contains("\"leaked_kib\":51200"), "{stats}");
}

#[test]
fn slow_start_delays_listening() {
    let started = Instant::now();
    let service = Service::start(&["--slow-start", "0.8"]);
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(service.call("GET", "/health", "").0, 200);
}

#[test]
fn selftest_passes_against_a_live_service_and_fails_against_a_dead_port() {
    let service = Service::start(&[]);
    let (code, out) = selftest(&service.url());
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("selftest: 3 passed, 0 failed\n"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        3,
        "{out}"
    );

    let (code, out) = selftest(&format!("http://127.0.0.1:{}/", free_port()));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL GET /health: connection refused"),
        "{out}"
    );
    assert!(out.ends_with("selftest: 0 passed, 3 failed\n"), "{out}");
}

#[test]
fn bad_flags_exit_2_with_usage() {
    let output = Command::new(BIN).arg("--crash-after=0").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: http-service"));
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--selftest URL"));
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// `redis-server` on a free port, without persistence; `None` when it is
/// not installed.
fn start_redis() -> Option<(Proc, u16)> {
    if !on_path("redis-server") {
        return None;
    }
    let port = free_port();
    let redis = Proc::spawn(
        "redis-server",
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        thread::sleep(Duration::from_millis(20));
    }
    Some((redis, port))
}

/// `GET key` straight from Redis, to see the service really stored there.
fn redis_get(port: u16, key: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    let len: usize = header.trim().strip_prefix('$').unwrap().parse().unwrap();
    let mut value = vec![0; len];
    reader.read_exact(&mut value).unwrap();
    String::from_utf8(value).unwrap()
}

#[test]
fn with_redis_values_live_in_redis_and_health_follows_it() {
    // Redis down from the start: unhealthy, and /kv says why.
    let dead = format!("127.0.0.1:{}", free_port());
    let orphan = Service::start(&["--redis", &dead]);
    assert_eq!(
        orphan.call("GET", "/health", ""),
        (503, "redis unreachable".into())
    );
    assert_eq!(orphan.call("GET", "/kv/a", "").0, 502);
    drop(orphan);

    let (mut redis, port) = start_redis().expect(
        "redis-server is not on PATH: install it (Debian: apt-get install redis-server); \
         the tests use a real Redis",
    );
    let service = Service::start(&["--redis", &format!("127.0.0.1:{port}")]);
    assert_eq!(service.call("GET", "/health", ""), (200, "ok".into()));
    assert_eq!(
        service.call("PUT", "/kv/colour", "teal"),
        (200, "ok".into())
    );
    assert_eq!(service.call("GET", "/kv/colour", ""), (200, "teal".into()));
    assert_eq!(redis_get(port, "colour"), "teal");
    assert_eq!(service.call("GET", "/kv/never-set", "").0, 404);
    let (code, out) = selftest(&service.url());
    assert_eq!(code, 0, "{out}");

    // Redis dies: health follows.
    redis.child.kill().unwrap();
    redis.child.wait().unwrap();
    assert_eq!(
        service.call("GET", "/health", ""),
        (503, "redis unreachable".into())
    );
}
