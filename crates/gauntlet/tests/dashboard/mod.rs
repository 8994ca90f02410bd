//! The dashboard's test harness, shared by its HTTP and browser tests:
//! a `gauntlet serve` of a bench's store, HTTP on loopback, and runs to
//! look at (a held plan run, a live soak).

#![allow(dead_code, clippy::disallowed_macros)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Bench, free_port, gauntlet, stderr};

/// A `gauntlet serve` of a bench's store, stopped (SIGINT) when dropped.
pub struct Dashboard {
    child: Option<Child>,
    /// Every process it (or a run it resumed) started carries it.
    marker: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it printed on stderr, read on a thread.
    pub said: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Dashboard {
    pub fn start(b: &Bench, extra: &[&str]) -> Dashboard {
        Dashboard::start_with(b, "127.0.0.1:0", extra, &[]).expect("gauntlet serve starts")
    }

    /// Starts it; `Err` with its exit code and stderr if it exits instead.
    pub fn start_with(
        b: &Bench,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Dashboard, (i32, String)> {
        let mut cmd = Command::new(gauntlet());
        cmd.args(["serve", "--listen", listen])
            .args(extra)
            .arg("--db")
            .arg(b.db())
            .current_dir(b.path())
            .env("GAUNTLET_TEST_MARKER", &b.marker)
            .env_remove("GAUNTLET_SERVE_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        let Some(at) = first.find("http://") else {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            let code = child.wait().unwrap().code().unwrap_or(-1);
            return Err((code, first + &rest));
        };
        let url = first[at..].split('/').take(3).collect::<Vec<_>>().join("/");
        let said = std::sync::Arc::new(std::sync::Mutex::new(first.clone()));
        let keep = said.clone();
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            keep.lock().unwrap().push_str(&rest);
        });
        Ok(Dashboard {
            marker: b.marker.clone(),
            child: Some(child),
            url,
            said,
        })
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], None)
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request(
            "POST",
            path,
            &[
                ("Origin", &self.url),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(body),
        )
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> (u16, String) {
        let (status, _, text) = http(&self.url, method, path, headers, body);
        (status, text)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let out = common::interrupt(child);
            assert!(
                out.status.success(),
                "gauntlet serve ends cleanly at Ctrl-C: {:?}",
                out.status
            );
            if !std::thread::panicking() {
                common::assert_no_processes_with_marker(&self.marker);
            }
        }
    }
}

/// One HTTP/1.1 request over a fresh loopback connection: status,
/// headers (lowercase names), body. No redirects followed.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (u16, Vec<(String, String)>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{base}{path}");
    let mut res = match (method, body) {
        ("POST", Some(b)) => {
            let mut req = agent.post(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(b).unwrap()
        }
        _ => {
            let mut req = agent.get(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call().unwrap()
        }
    };
    let status = res.status().as_u16();
    let hs = res
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (status, hs, text)
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The CSRF secret in a page's forms.
pub fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field");
    page[at + 19..].split('"').next().unwrap().to_owned()
}

/// A plan whose second stage fails with markup in its output: the run holds.
pub fn held_plan(b: &Bench) -> std::path::PathBuf {
    b.write_plan(
        "held.toml",
        r#"name = "held-<i>plan</i>"

[[stage]]
name = "first"
kind = "command"
command = "echo fine"

[[stage]]
name = "flaky"
kind = "command"
command = "echo '<script>alert(1)</script>' >&2; exit 3"

[[stage]]
name = "last"
kind = "command"
command = "echo done"
"#,
    )
}

pub fn held_run(b: &Bench) -> String {
    let plan = held_plan(b);
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    b.runs()[0]["id"].as_str().unwrap().to_owned()
}

/// Waits until the store says the run is `state` (read directly: a
/// dashboard may be running, and `gauntlet runs` would count it a leak).
pub fn wait_for_state(b: &Bench, id: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let store = gauntlet_store::Store::open(b.db()).unwrap();
        let run = store.run(id).unwrap();
        if run.state.as_str() == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} never became {state}: {}",
            run.state
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A soak of the example http-service with users, health checks every
/// 100 ms and pauses: long enough to watch.
pub fn soak_plan(b: &Bench, duration: &str) -> std::path::PathBuf {
    let port = free_port();
    b.write_plan(
        "soak.toml",
        &format!(
            r#"name = "watched"

[vars]
bin_dir = "{bin}"

[[service]]
name = "api"
command = ["${{bin_dir}}/http-service", "--port", "{port}"]
[service.health]
http = "http://127.0.0.1:{port}/health"
interval = "100ms"

[soak]
duration = "{duration}"
warmup = "1s"
calm_timeout = "20s"

[users]
count = 2
think_min = "20ms"
think_max = "60ms"
keys_per_user = 10

[[users.step]]
name = "put"
method = "PUT"
url = "http://127.0.0.1:{port}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
timeout = "2s"

[readback]
http = "http://127.0.0.1:{port}/kv/{{{{key}}}}"

[[fault]]
kind = "pause"
service = "api"
every = "2s..3s"
duration = "1500ms"
"#,
            bin = b.bin_dir()
        ),
    )
}

/// Starts a soak and waits until its soak stage runs; its id.
#[allow(clippy::zombie_processes)] // the caller waits for the soak it gets
pub fn live_soak(b: &Bench, duration: &str) -> (Child, String) {
    let plan = soak_plan(b, duration);
    let mut child = b
        .command(&["soak", plan.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if b.db().exists() {
            let store = gauntlet_store::Store::open(b.db()).unwrap();
            if let Some(r) = store.runs(&Default::default()).unwrap().first()
                && store
                    .stages(&r.id)
                    .unwrap()
                    .iter()
                    .any(|s| s.name == "soak" && s.state() == gauntlet_store::StageState::Running)
            {
                return (child, r.id.as_str().to_owned());
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the soak never started");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
