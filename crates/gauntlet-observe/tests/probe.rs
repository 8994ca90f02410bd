//! Health probes against real sockets and processes.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use gauntlet_observe::resources::parse_stat;
use gauntlet_observe::{probe_once, wait_healthy};
use gauntlet_plan::{Command, CommandLine, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const T: Duration = Duration::from_secs(2);

/// Answers every request with `status`, until the task is aborted.
struct Server {
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_on(listener: TcpListener, status: Option<u16>) -> Server {
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            match status {
                Some(status) => {
                    tokio::spawn(answer(stream, status));
                }
                // A server that accepts and never answers.
                None => held.push(stream),
            }
        }
    });
    Server { port, task }
}

async fn serve(status: Option<u16>) -> Server {
    serve_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), status).await
}

async fn answer(mut stream: TcpStream, status: u16) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 512];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    assert!(request.starts_with(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:"));
    let response =
        format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
}

/// A socket bound but never listening: it holds its port (no parallel
/// test can take it, as a freed port could be) and refuses every
/// connection.
fn refusing_port() -> tokio::net::TcpSocket {
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    held
}

/// A port nobody listens on: bound, then released.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, status: u16) -> Probe {
    Probe::Http {
        url: format!("http://127.0.0.1:{port}/health"),
        status,
    }
}

fn shell(script: &str) -> Probe {
    Probe::Command(Command {
        command: CommandLine::Shell(script.into()),
        cwd: std::env::temp_dir(),
        env: BTreeMap::new(),
    })
}

fn argv(args: &[&str]) -> Probe {
    Probe::Command(Command {
        command: CommandLine::Argv(args.iter().map(|a| a.to_string()).collect()),
        cwd: "".into(),
        env: BTreeMap::new(),
    })
}

#[tokio::test]
async fn http_probe_reads_the_status() {
    let ok = serve(Some(200)).await;
    let outcome = probe_once(&http(ok.port, 200), T).await;
    assert!(outcome.healthy, "{outcome:?}");
    assert_eq!(outcome.detail, "HTTP 200");
    assert!(outcome.latency < T);

    let unavailable = serve(Some(503)).await;
    let outcome = probe_once(&http(unavailable.port, 200), T).await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "HTTP 503");
    // The expected status need not be 200.
    assert!(probe_once(&http(unavailable.port, 503), T).await.healthy);
}

#[tokio::test]
async fn http_probe_of_a_closed_port_is_refused() {
    let held = refusing_port();
    let port = held.local_addr().unwrap().port();
    let outcome = probe_once(&http(port, 200), T).await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "connection refused");
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let hang = serve(None).await;
    let timeout = Duration::from_millis(300);
    let outcome = probe_once(&http(hang.port, 200), timeout).await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "timed out after 300ms");
    assert!(
        outcome.latency >= timeout && outcome.latency < T,
        "{outcome:?}"
    );
}

#[tokio::test]
async fn https_and_bad_urls_are_unhealthy_with_a_reason() {
    let https = Probe::Http {
        url: "https://127.0.0.1/health".into(),
        status: 200,
    };
    let outcome = probe_once(&https, T).await;
    assert!(!outcome.healthy);
    assert!(
        outcome.detail.contains("only http://"),
        "{}",
        outcome.detail
    );
    let bad = Probe::Http {
        url: "127.0.0.1:80".into(),
        status: 200,
    };
    assert!(probe_once(&bad, T).await.detail.contains("bad URL"));
}

#[tokio::test]
async fn tcp_probe() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let outcome = probe_once(&Probe::Tcp { address }, T).await;
    assert!(outcome.healthy, "{outcome:?}");
    assert_eq!(outcome.detail, "connected");
    drop(listener);
    let held = refusing_port();
    let address = format!("127.0.0.1:{}", held.local_addr().unwrap().port());
    let outcome = probe_once(&Probe::Tcp { address }, T).await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "connection refused");

    // What a port proxy with nothing behind it does: accept, then close.
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = proxy.local_addr().unwrap().to_string();
    let closer = tokio::spawn(async move {
        loop {
            let (stream, _) = proxy.accept().await.unwrap();
            drop(stream);
        }
    });
    let outcome = probe_once(&Probe::Tcp { address }, T).await;
    closer.abort();
    assert!(!outcome.healthy, "{outcome:?}");
    assert!(outcome.detail.contains("closed at once"), "{outcome:?}");
}

#[tokio::test]
async fn command_probes() {
    let outcome = probe_once(&argv(&["true"]), T).await;
    assert!(outcome.healthy, "{outcome:?}");
    assert_eq!(outcome.detail, "exit status 0");

    let outcome = probe_once(&argv(&["false"]), T).await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "exit status 1");

    let outcome = probe_once(
        &shell("echo first >&2; echo 'not ready yet' >&2; exit 2"),
        T,
    )
    .await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "exit status 2: not ready yet");

    let outcome = probe_once(&argv(&["/nonexistent/gauntlet-probe"]), T).await;
    assert!(!outcome.healthy);
    assert_eq!(
        outcome.detail,
        "cannot run \"/nonexistent/gauntlet-probe\": not found"
    );

    let outcome = probe_once(&argv(&[]), T).await;
    assert_eq!(outcome.detail, "empty command");

    // cwd and env are applied.
    let mut probe = shell("test \"$PWD\" = \"$WANT\"");
    if let Probe::Command(command) = &mut probe {
        let dir = std::fs::canonicalize(std::env::temp_dir()).unwrap();
        command.cwd = dir.clone();
        command
            .env
            .insert("WANT".into(), dir.to_string_lossy().into());
    }
    assert!(probe_once(&probe, T).await.healthy);
}

#[tokio::test]
async fn a_command_that_runs_too_long_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!("sleep 30 & echo $! > {}; wait", pids.display());
    let started = Instant::now();
    let outcome = probe_once(&shell(&script), Duration::from_millis(300)).await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "timed out after 300ms");
    assert!(started.elapsed() < T);

    let sleep_pid: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL is delivered asynchronously: give it a moment. Gone, or a
    // zombie waiting for an init that does not reap.
    let dead = || match std::fs::read_to_string(format!("/proc/{sleep_pid}/stat")) {
        Ok(stat) => parse_stat(&stat).is_none_or(|s| s.comm != "sleep" || s.state == 'Z'),
        Err(_) => true,
    };
    let deadline = Instant::now() + T;
    while !dead() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !dead() {
        // SAFETY: kill(2) has no memory-safety preconditions. Do not leak
        // the sleep when the assertion below fails.
        unsafe { libc::kill(sleep_pid, libc::SIGKILL) };
        panic!("the probe's background sleep {sleep_pid} survived");
    }
}

#[tokio::test]
async fn wait_healthy_succeeds_once_a_late_server_starts() {
    let port = free_port();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        serve_on(
            TcpListener::bind(("127.0.0.1", port)).await.unwrap(),
            Some(200),
        )
        .await
    });
    let check = common::check(http(port, 200), 5_000);
    let healthy = wait_healthy(&check, 1, || true, || None).await.unwrap();
    let _server = late.await.unwrap();
    assert!(healthy.attempts > 1, "{healthy:?}");
    assert_eq!(healthy.latencies.len(), healthy.attempts as usize);
    assert!(healthy.elapsed >= Duration::from_millis(300), "{healthy:?}");
    assert!(healthy.elapsed < Duration::from_secs(5), "{healthy:?}");
}

#[tokio::test]
async fn wait_healthy_gives_up_with_the_last_detail() {
    let unavailable = serve(Some(503)).await;
    let check = common::check(http(unavailable.port, 200), 400);
    let started = Instant::now();
    let never = wait_healthy(&check, 1, || true, || None).await.unwrap_err();
    assert_eq!(never.last_detail, "HTTP 503");
    assert!(never.attempts >= 2, "{never:?}");
    assert!(never.elapsed >= Duration::from_millis(400), "{never:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(never.to_string().contains("HTTP 503"), "{never}");
}

#[tokio::test]
async fn wait_healthy_stops_at_once_when_the_process_dies() {
    let check = common::check(http(free_port(), 200), 60_000);
    let started = Instant::now();
    let never = wait_healthy(&check, 1, || false, || None)
        .await
        .unwrap_err();
    assert_eq!(never.attempts, 0);
    assert!(never.last_detail.contains("process exited"), "{never:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // Dies after two failed attempts: the last probe's detail is kept.
    let polls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&polls);
    let never = wait_healthy(
        &check,
        1,
        move || counter.fetch_add(1, Ordering::SeqCst) < 2,
        || None,
    )
    .await
    .unwrap_err();
    assert_eq!(never.attempts, 2);
    assert_eq!(
        never.last_detail,
        "the process exited (last probe: connection refused)"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
