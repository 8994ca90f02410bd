//! The `http-service` example against real sockets, and with a real Redis
//! (`redis-server` must be on PATH). Its `--data-file` durability is in
//! `durability.rs`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{HTTP_SERVICE as BIN, Redis, Service, free_port, redis_get};

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

    let mut redis = Redis::start(&["--save", "", "--appendonly", "no"]);
    let port = redis.port;
    let service = Service::start(&["--redis", &format!("127.0.0.1:{port}")]);
    assert_eq!(service.call("GET", "/health", ""), (200, "ok".into()));
    assert_eq!(
        service.call("PUT", "/kv/colour", "teal"),
        (200, "ok".into())
    );
    assert_eq!(service.call("GET", "/kv/colour", ""), (200, "teal".into()));
    assert_eq!(redis_get(port, "colour").as_deref(), Some("teal"));
    assert_eq!(service.call("GET", "/kv/never-set", "").0, 404);
    let (code, out) = selftest(&service.url());
    assert_eq!(code, 0, "{out}");

    // Redis dies: health follows.
    redis.kill();
    assert_eq!(
        service.call("GET", "/health", ""),
        (503, "redis unreachable".into())
    );
}
