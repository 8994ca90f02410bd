//! The lock example of cluster tests, piece by piece on loopback: the
//! `lock-server` keeps its holders across a SIGKILL unless `--forgetful`
//! (the deliberate bug), the `lock-client` speaks the op protocol to it
//! through a restart, and `examples/python/one_holder.py` judges a history
//! (its doctests, and the program on two hand-written histories).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Lines, Proc, TempDir, free_port, on_path};

const SERVER: &str = env!("CARGO_BIN_EXE_lock-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_lock-client");

fn start_server(port: u16, data: &Path, forgetful: bool) -> Proc {
    let mut cmd = Command::new(SERVER);
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data);
    if forgetful {
        cmd.arg("--forgetful");
    }
    let proc = Proc::spawn("lock-server", &mut cmd);
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "lock-server did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    proc
}

/// A connection to the server, one request line at a time.
struct Conn(BufReader<TcpStream>);

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Conn(BufReader::new(s))
    }

    fn send(&mut self, line: &str) -> Value {
        self.0.get_mut().write_all(line.as_bytes()).unwrap();
        let mut answer = String::new();
        self.0.read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{answer:?}"))
    }

    fn ask(&mut self, op: &str, lock: u64, client: &str) -> Value {
        self.send(&format!(
            "{}\n",
            json!({"op": op, "lock": lock, "client": client})
        ))
    }
}

#[test]
fn a_restarted_server_remembers_its_holders_unless_forgetful() {
    for forgetful in [false, true] {
        let dir = TempDir::new("lock");
        let port = free_port();
        let mut server = start_server(port, dir.path(), forgetful);
        let mut c = Conn::new(port);
        assert_eq!(c.ask("acquire", 1, "a"), json!({"ok": true}));
        assert_eq!(c.ask("acquire", 2, "a"), json!({"ok": true}));
        assert_eq!(c.ask("release", 2, "a"), json!({"ok": true}));
        assert_eq!(
            c.ask("acquire", 1, "b"),
            json!({"ok": false, "holder": "a"})
        );
        server.kill();
        let _server = start_server(port, dir.path(), forgetful);
        let mut c = Conn::new(port);
        let again = c.ask("acquire", 1, "b");
        let freed = c.ask("acquire", 2, "b");
        if forgetful {
            // The bug: a held lock granted again.
            assert_eq!(again, json!({"ok": true}));
            assert!(!dir.join("locks.json").exists(), "nothing on disk");
        } else {
            assert_eq!(again, json!({"ok": false, "holder": "a"}));
        }
        // A release is remembered as well as a grant.
        assert_eq!(freed, json!({"ok": true}), "forgetful: {forgetful}");
    }
}

#[test]
fn the_server_bounds_its_lines() {
    let dir = TempDir::new("lock-lines");
    let port = free_port();
    let _server = start_server(port, dir.path(), false);
    let mut c = Conn::new(port);
    assert_eq!(c.send("garbage\n")["error"], "not JSON");
    let answer = c.send(&"x".repeat(5000));
    assert!(answer["error"].as_str().unwrap().contains("too long"));
    // And the connection is closed.
    let mut rest = String::new();
    assert_eq!(c.0.read_line(&mut rest).unwrap(), 0);
    assert_eq!(Conn::new(port).ask("acquire", 0, "a")["ok"], true);
}

#[test]
fn the_client_fails_while_the_server_is_down_and_carries_on_after_a_restart() {
    let dir = TempDir::new("lock-client");
    let port = free_port();
    let mut server = start_server(port, dir.path(), false);
    let mut client = Proc::spawn_with_stdin(
        "lock-client",
        Command::new(CLIENT).args(["--endpoint", &format!("127.0.0.1:{port}")]),
        Stdio::piped(),
    );
    let mut stdin = client.child.stdin.take().unwrap();
    let lines = Lines::of(&mut client);
    let mut op = |f: &str, key: u64| -> Value {
        writeln!(stdin, "{}", json!({"f": f, "key": key})).unwrap();
        let line = lines
            .next_within(Duration::from_secs(5))
            .expect("an answer");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(op("acquire", 7), json!({"type": "ok"}));
    assert_eq!(op("release", 8)["type"], "fail");
    let held = Conn::new(port).ask("acquire", 7, "someone");
    let holder = held["holder"]
        .as_str()
        .expect("the client holds 7")
        .to_owned();
    assert!(holder.starts_with('c'), "the client's own id: {held}");
    server.kill();
    // Refused: it cannot have happened.
    let down = op("acquire", 9);
    assert_eq!(down["type"], "fail", "{down}");
    let _server = start_server(port, dir.path(), false);
    assert_eq!(
        Conn::new(port).ask("acquire", 7, "someone")["holder"],
        holder
    );
    // The connection the restart closed is not written to: ok, not info,
    // and the client is still the holder of 7.
    assert_eq!(op("acquire", 7), json!({"type": "ok"}));
    assert_eq!(op("release", 7), json!({"type": "ok"}));
    assert_eq!(op("acquire", 9), json!({"type": "ok"}));
    assert_eq!(op("steal", 9)["type"], "fail");
    drop(stdin);
    assert!(
        client
            .exit_within(Duration::from_secs(5))
            .unwrap()
            .success()
    );
    assert!(
        client.stderr().contains("4 ok, 3 fail, 0 info"),
        "{}",
        client.stderr()
    );
}

fn one_holder() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/one_holder.py")
}

/// The checker over a history of `ops` (indices and times filled in):
/// its result object, after it exited 0.
fn judge(ops: &[Value]) -> Value {
    let dir = TempDir::new("one-holder");
    let text: String = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let mut op = op.clone();
            op["index"] = json!(i);
            op["time"] = json!(i * 1_000_000);
            format!("{op}\n")
        })
        .collect();
    std::fs::write(dir.join("history.jsonl"), text).unwrap();
    let out = Command::new("python3")
        .arg(one_holder())
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "one object: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn op(process: u64, kind: &str, f: &str, key: u64) -> Value {
    json!({"process": process, "type": kind, "f": f, "key": key})
}

#[test]
fn the_one_holder_checker_finds_two_holders_and_nothing_else() {
    if !on_path("python3") {
        #[allow(
            clippy::disallowed_macros,
            reason = "a skipped test says why on stderr"
        )]
        {
            eprintln!("skipped: needs python3");
        }
        return;
    }
    let doctest = Command::new("python3")
        .args(["-m", "doctest"])
        .arg(one_holder())
        .output()
        .unwrap();
    assert!(doctest.status.success(), "{doctest:?}");

    // p0 holds 1 until it asks to release it; p1's acquire in between
    // may or may not have happened (info); p2 gets it after the release.
    let nemesis = json!({"process": "nemesis", "type": "info", "f": "kill", "value": ["n1"]});
    let valid = [
        op(0, "invoke", "acquire", 1),
        op(0, "ok", "acquire", 1),
        op(1, "invoke", "acquire", 1),
        nemesis.clone(),
        op(1, "info", "acquire", 1),
        op(3, "invoke", "acquire", 2),
        op(3, "fail", "acquire", 2),
        op(0, "invoke", "release", 1),
        op(0, "ok", "release", 1),
        op(2, "invoke", "acquire", 1),
        op(2, "ok", "acquire", 1),
    ];
    let r = judge(&valid);
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["acquired"], 2);
    assert_eq!(r["evidence"], json!([]));
    // Nothing granted, only an info acquire: nothing judged.
    assert_eq!(judge(&valid[2..5])["valid"], "unknown");

    // After the kill, p2 is granted 1 while p0 still holds it.
    let invalid = [
        op(0, "invoke", "acquire", 1),
        op(0, "ok", "acquire", 1),
        nemesis,
        op(2, "invoke", "acquire", 1),
        op(2, "ok", "acquire", 1),
        op(0, "invoke", "release", 1),
        op(0, "fail", "release", 1),
    ];
    let r = judge(&invalid);
    assert_eq!(r["valid"], false, "{r}");
    assert_eq!(r["problem"], "two holders");
    assert_eq!(r["evidence-count"], 1);
    let e = &r["evidence"][0];
    assert_eq!(e["key"], 1);
    assert_eq!(e["problem"], "two holders");
    assert_eq!(
        (&e["first"], &e["second"]),
        (
            &json!({"process": 0, "index": 0, "completion-index": 1, "time": 1_000_000}),
            &json!({"process": 2, "index": 3, "completion-index": 4, "time": 4_000_000})
        )
    );
}
