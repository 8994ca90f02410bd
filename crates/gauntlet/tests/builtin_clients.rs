//! `gauntlet client etcd` and `gauntlet client redis`, the built-in client
//! programs, driven through their stdin and stdout against a real etcd
//! 3.4 and a real Redis on loopback: the register's operations, bad lines,
//! endpoints that are down, and a paused or killed server answered within
//! the timeout.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, gauntlet, stderr};
use serde_json::{Value, json};

/// The client's --timeout where the tests time what a stopped server
/// costs.
const TIMEOUT: Duration = Duration::from_millis(700);
/// The client's --timeout where they only check answers: a loaded
/// machine's etcd can take more than a second to fsync its first write.
const OPS_TIMEOUT: &str = "5000ms";
/// What an answer may take past the timeout (a loaded CI machine).
const SLACK: Duration = Duration::from_millis(1500);

/// A running `gauntlet client ...`: one request line in, one answer line
/// out; killed on drop.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: mpsc::Receiver<String>,
}

impl Client {
    fn start(args: &[&str]) -> Client {
        let mut child = Command::new(gauntlet())
            .arg("client")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            answers,
        }
    }

    /// Sends `line` and returns the answer and how long it took; no
    /// answer within 10 s fails the test.
    fn ask(&mut self, line: &str) -> (Value, Duration) {
        let start = Instant::now();
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let answer = self
            .answers
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("no answer to {line}: {e}"));
        let took = start.elapsed();
        let value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("{line} -> {answer:?}, not JSON: {e}"));
        (value, took)
    }

    fn op(&mut self, request: Value) -> Value {
        self.ask(&request.to_string()).0
    }

    /// Closes stdin: the client ends, exit 0, within 5 s.
    fn finish(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the client did not end with stdin"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(key: &str) -> Value {
    json!({"f": "read", "key": key})
}

fn write(key: &str, value: i64) -> Value {
    json!({"f": "write", "key": key, "value": value})
}

fn cas(key: &str, from: i64, to: i64) -> Value {
    json!({"f": "cas", "key": key, "value": [from, to]})
}

fn ok() -> Value {
    json!({"type": "ok"})
}

fn ok_value(v: Value) -> Value {
    json!({"type": "ok", "value": v})
}

fn fail_mismatch() -> Value {
    json!({"type": "fail", "error": "mismatch"})
}

/// The operations every client must get right, on a fresh store that
/// serves.
fn register_operations(c: &mut Client) {
    assert_eq!(c.op(read("absent")), ok_value(Value::Null));
    assert_eq!(c.op(write("k1", 3)), ok());
    assert_eq!(c.op(read("k1")), ok_value(json!(3)));
    assert_eq!(c.op(cas("k1", 3, 4)), ok());
    assert_eq!(c.op(cas("k1", 3, 5)), fail_mismatch());
    assert_eq!(c.op(cas("absent", 0, 1)), fail_mismatch());
    assert_eq!(c.op(read("absent")), ok_value(Value::Null));
    assert_eq!(c.op(read("k1")), ok_value(json!(4)));
    // A number key is its decimal text.
    assert_eq!(c.op(json!({"f": "write", "key": 7, "value": -2})), ok());
    assert_eq!(c.op(read("7")), ok_value(json!(-2)));
    // Bad lines get a fail answer each, and the client goes on.
    for bad in [
        "this is not json",
        r#"{"f":"append","key":"k1","value":1}"#,
        r#"{"f":"write","key":"k1","value":"four"}"#,
        r#"{"f":"read"}"#,
    ] {
        let (a, _) = c.ask(bad);
        assert_eq!(a["type"], "fail", "{bad} -> {a}");
        assert!(a["error"].is_string(), "{bad} -> {a}");
    }
    assert_eq!(c.op(read("k1")), ok_value(json!(4)));
}

/// A paused server (SIGSTOP: connections still accepted, nothing
/// answered): a write and a cas are info, a read fail, each within the
/// timeout. Then killed: a write is answered at once, and once the
/// client has reconnected, a refused connection is a definite fail.
fn pause_then_kill(c: &mut Client, server: &mut Server) {
    server.pause();
    for (request, want) in [
        (write("k1", 9), "info"),
        (cas("k1", 4, 9), "info"),
        (read("k1"), "fail"),
    ] {
        let (a, took) = c.ask(&request.to_string());
        assert_eq!(a["type"], want, "{request} against a paused server -> {a}");
        assert!(
            took >= TIMEOUT - Duration::from_millis(50) && took < TIMEOUT + SLACK,
            "{request} took {took:?} with --timeout {TIMEOUT:?}"
        );
    }
    server.resume();
    server.kill();
    let (a, took) = c.ask(&write("k1", 10).to_string());
    // On a connection the server had, the write may have gone out (info);
    // on a new one it was refused (fail). Never ok, never a hang.
    assert!(a["type"] == "info" || a["type"] == "fail", "{a}");
    assert!(took < TIMEOUT + SLACK, "took {took:?}");
    let (a, took) = c.ask(&write("k1", 11).to_string());
    assert_eq!(a["type"], "fail", "a refused connection: {a}");
    assert!(took < SLACK, "took {took:?}");
    let (a, _) = c.ask(&read("k1").to_string());
    assert_eq!(a["type"], "fail", "{a}");
}

/// A client whose first endpoint is down: its first request fails (the
/// connection was refused: it never happened); with `--failover` the next
/// goes to the next endpoint, without it to the same one (a client bound
/// to its member, as Jepsen's).
fn moves_on_from_a_dead_endpoint_only_when_it_fails_over(system: &str, dead: &str, live: &str) {
    let endpoints = format!("{dead},{live}");
    let start = |more: &[&str]| {
        let mut args = vec![
            system,
            "--endpoints",
            &endpoints,
            "--worker",
            "0",
            "--timeout",
            OPS_TIMEOUT,
        ];
        args.extend(more);
        Client::start(&args)
    };
    let mut bound = start(&[]);
    for value in [20, 21] {
        let a = bound.op(write("k1", value));
        assert_eq!(a["type"], "fail", "{a}");
        assert!(a["error"].as_str().unwrap().contains(dead), "{a}");
    }
    bound.finish();

    let mut c = start(&["--failover"]);
    let a = c.op(write("k1", 20));
    assert_eq!(a["type"], "fail", "{a}");
    assert!(a["error"].as_str().unwrap().contains(dead), "{a}");
    assert_eq!(c.op(write("k1", 21)), ok());
    assert_eq!(c.op(read("k1")), ok_value(json!(21)));
    c.finish();
}

/// A loopback URL nothing listens on.
fn dead_url(scheme: &str) -> String {
    format!("{scheme}://127.0.0.1:{}", common::free_port())
}

#[test]
fn the_etcd_client_against_a_real_etcd() {
    let Some(mut etcd) = common::start_etcd() else {
        return;
    };
    let url = etcd.url("http");
    let mut c = Client::start(&["etcd", "--endpoints", &url, "--timeout", OPS_TIMEOUT]);
    // etcd takes connections before it has elected itself: wait until a
    // read is served (a read changes nothing, so retrying is harmless).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = c.op(read("warmup"));
        if a["type"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "etcd never served a read: {a}");
        std::thread::sleep(Duration::from_millis(100));
    }
    register_operations(&mut c);

    let mut serializable = Client::start(&[
        "etcd",
        "--endpoints",
        &url,
        "--reads",
        "serializable",
        "--timeout",
        OPS_TIMEOUT,
    ]);
    assert_eq!(serializable.op(read("k1")), ok_value(json!(4)));
    assert_eq!(serializable.op(read("absent")), ok_value(Value::Null));
    assert_eq!(serializable.op(cas("k1", 4, 5)), ok());
    assert_eq!(serializable.op(read("k1")), ok_value(json!(5)));
    serializable.finish();
    assert_eq!(c.op(cas("k1", 5, 4)), ok());

    moves_on_from_a_dead_endpoint_only_when_it_fails_over("etcd", &dead_url("http"), &url);
    c.finish();

    let timeout = format!("{}ms", TIMEOUT.as_millis());
    let mut timed = Client::start(&["etcd", "--endpoints", &url, "--timeout", &timeout]);
    assert_eq!(
        timed.op(read("k1"))["type"],
        "ok",
        "served before the pause"
    );
    pause_then_kill(&mut timed, &mut etcd);
    timed.finish();
}

#[test]
fn the_redis_client_against_a_real_redis() {
    let Some(mut redis) = common::start_redis() else {
        return;
    };
    let url = redis.url("redis");
    let mut c = Client::start(&["redis", "--endpoints", &url, "--timeout", OPS_TIMEOUT]);
    register_operations(&mut c);
    moves_on_from_a_dead_endpoint_only_when_it_fails_over("redis", &dead_url("redis"), &url);
    // The dead-endpoint client left k1 at 21.
    assert_eq!(c.op(cas("k1", 21, 4)), ok());
    c.finish();

    let timeout = format!("{}ms", TIMEOUT.as_millis());
    let mut timed = Client::start(&["redis", "--endpoints", &url, "--timeout", &timeout]);
    assert_eq!(
        timed.op(read("k1"))["type"],
        "ok",
        "served before the pause"
    );
    pause_then_kill(&mut timed, &mut redis);
    timed.finish();
}

/// A partitioned server drops the SYN, so a connection never completes:
/// here a listener whose accept queue is full. A write then never went
/// out, so it is a definite fail, answered within the timeout.
#[test]
fn a_connection_that_never_completes_is_a_fail_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Fill its accept queue (it never accepts): the kernel then drops
    // further SYNs.
    let held: Vec<_> = (0..1000)
        .map_while(|_| {
            std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_millis(100),
            )
            .ok()
        })
        .collect();
    assert!(held.len() < 1000, "the accept queue never filled");
    let timeout = format!("{}ms", TIMEOUT.as_millis());
    for (system, scheme) in [("etcd", "http"), ("redis", "redis")] {
        let url = format!("{scheme}://127.0.0.1:{port}");
        let mut c = Client::start(&[system, "--endpoints", &url, "--timeout", &timeout]);
        let (a, took) = c.ask(&write("k1", 1).to_string());
        assert_eq!(a["type"], "fail", "{system}: {a}");
        assert!(
            a["error"].as_str().unwrap().contains("could not connect"),
            "{system}: {a}"
        );
        assert!(took < TIMEOUT + SLACK, "{system}: took {took:?}");
        c.finish();
    }
}

#[test]
fn bad_arguments_are_refused_with_exit_254() {
    for (args, says) in [
        (&["etcd", "--endpoints", "10.0.0.2:2379"][..], "not a URL"),
        (&["etcd", "--endpoints", "https://10.0.0.2:2379"], "TLS"),
        (
            &["etcd", "--endpoints", "http://a:2379,", "--timeout", "1s"],
            "not a URL",
        ),
        (
            &["etcd", "--endpoints", "http://a:2379", "--timeout", "0"],
            "1ms",
        ),
        (
            &["etcd", "--endpoints", "http://a:2379", "--reads", "stale"],
            "serializable",
        ),
        (&["etcd"], "--endpoints"),
        (
            &["redis", "--endpoints", "http://10.0.0.2:6379"],
            "redis://",
        ),
        (&["redis", "--endpoints", "localhost:6379"], "redis://"),
        (
            &[
                "redis",
                "--endpoints",
                "redis://a:6379",
                "--timeout",
                "soon",
            ],
            "500ms",
        ),
        (&["memcached", "--endpoints", "x"], "memcached"),
    ] {
        let out = Command::new(gauntlet())
            .arg("client")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(254), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_shows_an_example_and_the_protocol() {
    for system in ["etcd", "redis"] {
        let out = Command::new(gauntlet())
            .args(["client", system, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains(&format!("gauntlet client {system} --endpoints")),
            "{help}"
        );
        assert!(help.contains(r#"{"f":"read"|"write"|"cas""#), "{help}");
        assert!(help.contains(r#"{"type":"ok"|"fail"|"info""#), "{help}");
    }
}
