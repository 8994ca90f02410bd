//! `[[notify]]` through the real binary: a receiver on loopback and a
//! command are told of a held run (started, the failed stage, held), then
//! of its override and its end; a bearer token from the environment
//! reaches the receiver's header and no file of the run or the store;
//! deliveries that fail (a 500, nobody listening, a token not set, a
//! command past its timeout) are warnings on stderr and change neither the
//! run's state nor gauntlet's exit code.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Bench, assert_no_processes_with_marker, explain, free_port, stderr};
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Request {
    line: String,
    /// Header names in lower case.
    headers: BTreeMap<String, String>,
    body: Value,
}

/// An HTTP receiver on 127.0.0.1 that records every request and answers
/// each with `status`. Its thread ends with the test process.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start(status: &'static str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = BTreeMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                record.lock().unwrap().push(Request {
                    line: line.trim().to_owned(),
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Receiver { port, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }

    fn bodies(&self) -> Vec<Value> {
        self.requests().into_iter().map(|r| r.body).collect()
    }
}

/// The `event` field of each payload.
fn events(payloads: &[Value]) -> Vec<String> {
    payloads
        .iter()
        .map(|p| p["event"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The payloads a command notifier appended to `path`, one per line.
fn lines_of(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs gauntlet in the bench with `env` added; nothing it started may
/// remain.
fn gauntlet_with(bench: &Bench, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bench.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_no_processes_with_marker(&bench.marker);
    out
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

const TOKEN: &str = "tok-3f9a-never-stored";

/// A command stage that fails, then one that passes.
const STAGES: &str = r#"
[[stage]]
name = "wipe"
kind = "command"
command = "exit 1"

[[stage]]
name = "after"
kind = "command"
command = "true"
"#;

#[test]
fn a_held_run_and_its_override_reach_a_url_and_a_command() {
    let bench = Bench::new();
    let receiver = Receiver::start("200 OK");
    let told = bench.path().join("told.jsonl");
    let plan = bench.write_plan(
        "hook.toml",
        &format!(
            r#"{STAGES}
[[notify]]
url = "{}?channel=ops"
bearer_env = "NOTIFY_TEST_TOKEN"
timeout = "3s"

[[notify]]
command = ["sh", "-c", "cat >> '{}'; test -n \"$GAUNTLET_EVENT\""]
events = ["run-started", "stage-failed", "override", "run-ended"]
"#,
            receiver.url(),
            told.display()
        ),
    );
    let env = [("NOTIFY_TEST_TOKEN", TOKEN)];
    let out = gauntlet_with(&bench, &["run", plan.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    assert!(!explain(&out).contains(TOKEN), "{}", explain(&out));
    assert!(!stderr(&out).contains("not delivered"), "{}", explain(&out));

    let run = bench.runs().into_iter().next().unwrap();
    let id = run["id"].as_str().unwrap().to_owned();
    let got = receiver.bodies();
    assert_eq!(
        events(&got),
        ["run-started", "stage-failed", "run-ended"],
        "{got:#?}"
    );
    for p in &got {
        assert_eq!(p["run"], id.as_str());
        assert_eq!(p["plan"], "hook");
        assert!(p["time"].as_str().unwrap().ends_with('Z'), "{p}");
    }
    assert_eq!(got[0]["stage"], Value::Null);
    assert_eq!(got[1]["stage"], "wipe");
    assert!(
        got[1]["summary"]
            .as_str()
            .unwrap()
            .contains("stage wipe failed"),
        "{}",
        got[1]
    );
    assert_eq!(got[2]["state"], "held");
    assert_eq!(got[2]["valid"], "unknown");
    assert_eq!(got[2]["stage"], "wipe");
    assert_eq!(
        got[2]["summary"],
        format!("run {id} held at stage wipe").as_str()
    );
    for r in receiver.requests() {
        assert!(r.line.starts_with("POST /hook?channel=ops "), "{}", r.line);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
    }
    assert_eq!(
        events(&lines_of(&told)),
        ["run-started", "stage-failed", "run-ended"]
    );
    assert_eq!(lines_of(&told)[1]["stage"], "wipe");

    // The operator lets the stage through: the override, who and why, and
    // the run's end.
    let out = gauntlet_with(
        &bench,
        &[
            "override",
            "latest",
            "--reason",
            "wipe is flaky here; OPS-7",
            "--by",
            "ci-bot",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let got = receiver.bodies();
    assert_eq!(
        events(&got[3..]),
        ["run-started", "override", "run-ended"],
        "{got:#?}"
    );
    let o = &got[4];
    assert_eq!(o["stage"], "wipe");
    assert_eq!(o["who"], "ci-bot");
    assert_eq!(o["reason"], "wipe is flaky here; OPS-7");
    assert_eq!(got[5]["state"], "finished");
    assert_eq!(got[5]["valid"], true);
    assert_eq!(
        got[5]["summary"],
        format!("run {id} finished: valid").as_str()
    );
    let told = lines_of(&told);
    assert_eq!(events(&told[3..]), ["run-started", "override", "run-ended"]);
    assert_eq!(told[4]["who"], "ci-bot");

    // The token went into the header only: no file of the run, and not
    // the store, holds it.
    let dir = bench.artifact_dir(&run);
    assert!(dir.join("plan.resolved.json").exists());
    assert_eq!(files_containing(&dir, TOKEN), Vec::<String>::new());
    assert_eq!(
        files_containing(bench.path(), TOKEN),
        Vec::<String>::new(),
        "neither the store (gauntlet.db and its WAL) nor any other file"
    );
}

#[test]
fn failed_deliveries_are_warnings_and_change_neither_the_run_nor_the_exit_code() {
    let bench = Bench::new();
    let failing = Receiver::start("500 Internal Server Error");
    let nobody = free_port();
    let notify = format!(
        r#"
[[notify]]
url = "{}?token=IN-THE-QUERY"
[[notify]]
url = "http://127.0.0.1:{nobody}/hook"
events = ["run-ended"]
[[notify]]
url = "{}"
bearer_env = "NOTIFY_TEST_UNSET"
events = ["run-ended"]
[[notify]]
command = "sleep 30"
timeout = "300ms"
events = ["run-ended"]
"#,
        failing.url(),
        failing.url()
    );
    let passing = "[[stage]]\nname = \"ok\"\nkind = \"command\"\ncommand = \"true\"\n";
    for (name, stages, code, state) in [
        ("held", STAGES, 1, "held"),
        ("passed", passing, 0, "finished"),
    ] {
        let plain = bench.write_plan(&format!("{name}.toml"), stages);
        let out = gauntlet_with(&bench, &["run", plain.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(code), "{}", explain(&out));
        let without = bench.runs().into_iter().next().unwrap();

        let plan = bench.write_plan(&format!("{name}-notify.toml"), &format!("{stages}{notify}"));
        let started = Instant::now();
        let out = gauntlet_with(&bench, &["run", plan.to_str().unwrap()], &[]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "the same exit code as without notify: {}",
            explain(&out)
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bounded: {:?}",
            started.elapsed()
        );
        let with = bench.runs().into_iter().next().unwrap();
        assert_ne!(with["id"], without["id"]);
        assert_eq!(with["state"], state);
        assert_eq!(with["state"], without["state"]);
        assert_eq!(with["result"], without["result"]);

        let err = stderr(&out);
        let hook = failing.url();
        assert!(
            err.contains(&format!(
                "notify {hook}: run-started not delivered: answered 500 Internal Server Error"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "notify http://127.0.0.1:{nobody}/hook: run-ended not delivered: "
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "notify {hook}: run-ended not delivered: bearer_env NOTIFY_TEST_UNSET is not set"
            )),
            "{err}"
        );
        assert!(
            err.contains(
                "notify `sleep 30`: run-ended not delivered: it ran past its timeout (300ms) and was killed"
            ),
            "{err}"
        );
        assert!(
            !err.contains("IN-THE-QUERY"),
            "URLs are logged without their query: {err}"
        );
    }
}
