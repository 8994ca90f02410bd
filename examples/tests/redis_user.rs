//! `redis-user`, the soak user program for Redis, against a real
//! `redis-server` (it must be on PATH) and against fake servers that stall
//! or answer garbage. The last tests pin down the durability facts the
//! Redis soak relies on: without an append-only file a SIGKILL loses
//! acknowledged writes, with `appendfsync always` it loses none.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Proc, Redis, TempDir, redis_get};

const BIN: &str = env!("CARGO_BIN_EXE_redis-user");

/// A running redis-user, fed and read line by line like the soak does.
struct User {
    proc: Proc,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
}

impl User {
    fn start(args: &[&str]) -> User {
        let mut proc =
            Proc::spawn_with_stdin("redis-user", Command::new(BIN).args(args), Stdio::piped());
        let stdin = proc.child.stdin.take();
        let stdout = proc.child.stdout.take().unwrap();
        let (tx, answers) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        User {
            proc,
            stdin,
            answers,
        }
    }

    fn against(redis: &Redis) -> User {
        User::start(&["--redis", &redis.address()])
    }

    /// Sends one raw line and returns the parsed answer line.
    fn send(&mut self, line: &[u8]) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let answer = self
            .answers
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no answer to {:?}", String::from_utf8_lossy(line)));
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("answer {answer:?}: {e}"))
    }

    fn call(&mut self, request: Value) -> Value {
        self.send(request.to_string().as_bytes())
    }

    fn write(&mut self, key: &str, value: &str) -> Value {
        self.call(json!({"op": "write", "key": key, "value": value}))
    }

    fn read(&mut self, key: &str) -> Value {
        self.call(json!({"op": "read", "key": key}))
    }
}

fn no_persistence(dir: &TempDir) -> Vec<String> {
    let dir = dir.path().to_str().unwrap().to_owned();
    ["--save", "", "--appendonly", "no", "--dir", &dir]
        .map(str::to_owned)
        .to_vec()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// An `{"ok":false}` answer with an error message containing `needle`.
fn assert_failed(answer: &Value, needle: &str) {
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(error.contains(needle), "{answer}: want {needle:?}");
}

#[test]
fn writes_and_reads_round_trip_through_redis() {
    let dir = TempDir::new("round-trip");
    let redis = Redis::start(&strs(&no_persistence(&dir)));
    let mut user = User::against(&redis);
    let cases = [
        ("plain", "v-3-42"),
        ("spaces", "a value with spaces"),
        ("lines", "two\nlines\r\nand CRLF"),
        ("tabs and \"quotes\"", "tab\there \"quoted\" \\ backslash"),
        ("unicode ключ", "ünïcødé ✓ 日本語 🦀"),
        ("empty", ""),
    ];
    for (key, value) in cases {
        assert_eq!(user.write(key, value), json!({"ok": true}), "{key}");
    }
    for (key, value) in cases {
        assert_eq!(user.read(key), json!({"ok": true, "value": value}), "{key}");
    }
    // Really in Redis, not just somewhere in the program.
    assert_eq!(redis_get(redis.port, "plain").as_deref(), Some("v-3-42"));
    assert_eq!(user.write("plain", "v-3-43"), json!({"ok": true}));
    assert_eq!(user.read("plain")["value"], "v-3-43");
    // Nil: the key was never written.
    assert_eq!(
        user.read("never-written"),
        json!({"ok": true, "value": null})
    );
}

#[test]
fn bad_input_is_answered_and_never_ends_the_program() {
    let dir = TempDir::new("bad-input");
    let redis = Redis::start(&strs(&no_persistence(&dir)));
    let mut user = User::against(&redis);
    for (line, why) in [
        (&b"not json"[..], "bad JSON"),
        (b"", "bad JSON"),
        (b"{\"op\":\"write\"", "bad JSON"),
        (b"[1,2]", "JSON object"),
        (b"{}", "missing \"op\""),
        (br#"{"op":"delete","key":"k"}"#, "unknown op"),
        (br#"{"op":"write","key":"k"}"#, "missing \"value\""),
        (
            br#"{"op":"write","key":"k","value":42}"#,
            "must be a string",
        ),
        (b"{\"op\":\"read\",\"key\":\"\xff\xfe\"}", "not UTF-8"),
    ] {
        assert_failed(&user.send(line), why);
    }
    // A Redis error reply is a failure too, and leaves the connection usable.
    assert_eq!(user.write("list", "x"), json!({"ok": true}));
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    raw.write_all(b"*3\r\n$5\r\nLPUSH\r\n$6\r\na-list\r\n$1\r\nx\r\n")
        .unwrap();
    let mut reply = [0u8; 4];
    raw.read_exact(&mut reply).unwrap();
    assert_failed(&user.read("a-list"), "WRONGTYPE");
    assert_eq!(user.read("list"), json!({"ok": true, "value": "x"}));

    // The end of stdin ends the program, cleanly.
    drop(user.stdin.take());
    let status = user.proc.exit_within(Duration::from_secs(5)).unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn reconnects_after_redis_is_killed_and_restarted() {
    let dir = TempDir::new("reconnect");
    let mut redis = Redis::start(&strs(&no_persistence(&dir)));
    let mut user = User::against(&redis);
    assert_eq!(user.write("k1", "before"), json!({"ok": true}));

    redis.kill();
    // The first request finds its connection dead, the next finds nothing
    // listening; both answer at once rather than hang.
    let started = Instant::now();
    for _ in 0..2 {
        let answer = user.write("k2", "while down");
        assert_failed(&answer, &redis.address());
    }
    assert_failed(&user.read("k1"), "connection refused");
    assert!(started.elapsed() < Duration::from_secs(2));

    redis.restart();
    assert_eq!(user.write("k3", "after"), json!({"ok": true}));
    assert_eq!(user.read("k3"), json!({"ok": true, "value": "after"}));
    // No persistence: what was written before the kill is gone.
    assert_eq!(user.read("k1"), json!({"ok": true, "value": null}));
}

/// A fake Redis: for the n-th connection it accepts, answers each command
/// with the n-th script's next `(delay, reply)`, then holds the connection
/// open and silent. Returns its address and a count of connections.
fn fake_redis(scripts: Vec<Vec<(Duration, &'static [u8])>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    thread::spawn(move || {
        let mut held = Vec::new();
        for script in scripts {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            for (delay, reply) in script {
                // Each command is one small write; one read takes it in.
                let mut command = [0u8; 1024];
                if stream.read(&mut command).unwrap_or(0) == 0 {
                    break;
                }
                thread::sleep(delay);
                let _ = stream.write_all(reply);
            }
            held.push(stream);
        }
        // Keep every connection open until the test process ends.
        thread::sleep(Duration::from_secs(3600));
    });
    (address, accepted)
}

#[test]
fn a_stalled_redis_times_out_and_its_late_reply_is_never_taken_for_the_next() {
    let now = Duration::ZERO;
    let (address, connections) = fake_redis(vec![
        // Answers only after the request's 300 ms are up.
        vec![(Duration::from_millis(700), b"$5\r\nstale\r\n")],
        // Not RESP at all.
        vec![(now, b"?garbage\r\n")],
        // An error reply, then a value, on the same connection.
        vec![(now, b"-ERR nope\r\n"), (now, b"$5\r\nfresh\r\n")],
    ]);
    let mut user = User::start(&["--redis", &address, "--timeout-ms", "300"]);

    let started = Instant::now();
    assert_failed(&user.read("k"), "timed out after 300ms");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Let the late reply arrive: were the connection reused, the next
    // request would read "stale" as its own answer.
    thread::sleep(Duration::from_secs(1));
    assert_failed(&user.read("k"), "unexpected reply");
    assert_failed(&user.write("k", "v"), "redis: ERR nope");
    assert_eq!(user.read("k"), json!({"ok": true, "value": "fresh"}));
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

/// Writes 100 keys through redis-user, SIGKILLs Redis, restarts it with the
/// same arguments and reads the keys back through a fresh redis-user.
/// Returns how many came back with their value.
fn keys_surviving_sigkill(args: &[String]) -> usize {
    let mut redis = Redis::start(&strs(args));
    let mut user = User::against(&redis);
    for i in 0..100 {
        let answer = user.write(&format!("k{i}"), &format!("v-{i}"));
        assert_eq!(answer, json!({"ok": true}), "k{i}");
    }
    redis.kill();
    redis.restart();
    let mut reader = User::against(&redis);
    (0..100)
        .filter(|i| {
            let answer = reader.read(&format!("k{i}"));
            assert_eq!(answer["ok"], true, "{answer}");
            answer["value"] == format!("v-{i}")
        })
        .count()
}

#[test]
fn without_an_append_only_file_sigkill_loses_every_acknowledged_write() {
    let dir = TempDir::new("no-aof");
    assert_eq!(keys_surviving_sigkill(&no_persistence(&dir)), 0);
}

#[test]
fn with_appendfsync_always_sigkill_loses_no_acknowledged_write() {
    let dir = TempDir::new("aof");
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        dir.path().to_str().unwrap(),
    ]
    .map(str::to_owned);
    assert_eq!(keys_surviving_sigkill(&args), 100);
}

#[test]
fn bad_flags_exit_2_with_usage() {
    for args in [
        &[][..],
        &["--redis"],
        &["--redis", "x:1", "--timeout-ms", "0"],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("usage: redis-user"));
    }
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--timeout-ms N"));
}
