//! `gauntlet serve` in a real browser: Debian's headless Chromium driven
//! over WebDriver (chromedriver) by fantoccini. The runs list shows a
//! finished run; a live soak's chart gains points while the test watches;
//! a held plan run is overridden from its page and completes. Each test
//! keeps screenshots in `target/tmp/serve-screenshots/`.

#![allow(clippy::disallowed_macros)]

mod common;
mod dashboard;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Bench, free_port};
use dashboard::{Dashboard, held_run, live_soak, wait_for_state};
use fantoccini::{Client, ClientBuilder, Locator};

/// A chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    /// Chromium's profile: thrown away with the driver.
    profile: tempfile::TempDir,
}

impl Driver {
    /// `None` (the test says it skipped) where Chromium or its driver is
    /// missing; CI installs both.
    fn start() -> Option<Driver> {
        if !common::have("chromedriver", "chromium-driver") || !common::have("chromium", "chromium")
        {
            return None;
        }
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Driver {
            child,
            port,
            profile: tempfile::tempdir().unwrap(),
        })
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    // CI runs as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,1600",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots are kept.
fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = shots().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// Waits (polling the page, at most `secs`) until `ready` says yes.
async fn wait_until<F, Fut>(secs: u64, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready().await {
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    let e = c.find(Locator::Css(css)).await.ok()?;
    e.attr(name).await.ok().flatten()
}

/// A plan whose stages all pass.
fn finished_run(b: &Bench) -> String {
    let plan = b.write_plan(
        "fine.toml",
        "name = \"fine\"\n\n[[stage]]\nname = \"one\"\nkind = \"command\"\ncommand = \"echo one\"\n",
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    b.runs()[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_list_shows_a_finished_run() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let b = Bench::new();
    let id = finished_run(&b);
    let d = Dashboard::start(&b, &[]);
    let c = driver.browser().await;
    c.goto(&format!("{}/", d.url)).await.unwrap();
    let row = format!("tr[data-run=\"{id}\"]");
    let state = attr(&c, &row, "data-state").await;
    assert_eq!(state.as_deref(), Some("finished"));
    let text = c
        .find(Locator::Css(&row))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("fine") && text.contains("valid"), "{text}");
    // Its link opens the run's page, which says PASS.
    c.find(Locator::Css(&format!("{row} a")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let badge = c
        .wait()
        .for_element(Locator::Css("header.run .badge"))
        .await
        .unwrap();
    assert_eq!(badge.text().await.unwrap(), "PASS");
    screenshot(&c, "runs-list-finished-run").await;
    c.goto(&format!("{}/", d.url)).await.unwrap();
    screenshot(&c, "runs-list").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_soaks_chart_gains_points_while_the_page_is_open() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let b = Bench::new();
    let (mut soak, id) = live_soak(&b, "30s");
    let d = Dashboard::start(&b, &[]);
    let c = driver.browser().await;
    c.goto(&format!("{}/runs/{id}", d.url)).await.unwrap();
    let samples = |c: &Client| {
        let c = c.clone();
        async move {
            attr(&c, "#chart-rss path.line", "data-samples")
                .await
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        }
    };
    let first = samples(&c).await;
    // Without a reload: the page's event stream brings the new points.
    let c2 = c.clone();
    wait_until(30, "the RSS chart to gain points", || {
        let c = c2.clone();
        let s = samples;
        async move { s(&c).await >= first + 3 }
    })
    .await;
    let updates: u64 = attr(&c, "#run", "data-updates")
        .await
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(updates >= 1, "the report was replaced by the event stream");
    let live = c
        .find(Locator::Id("live"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(live.starts_with("live"), "{live}");
    screenshot(&c, "live-soak").await;
    c.close().await.unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(soak.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = soak.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_run_is_overridden_from_its_page_and_completes() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let b = Bench::new();
    let id = held_run(&b);
    let d = Dashboard::start(&b, &[]);
    let c = driver.browser().await;
    c.goto(&format!("{}/runs/{id}", d.url)).await.unwrap();
    assert_eq!(
        attr(&c, "#run", "data-state").await.as_deref(),
        Some("held")
    );
    screenshot(&c, "held-run").await;
    // The reason is required: the browser does not send the form without it.
    c.find(Locator::Id("override"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        attr(&c, "#run", "data-state").await.as_deref(),
        Some("held"),
        "not sent"
    );
    c.find(Locator::Id("override-reason"))
        .await
        .unwrap()
        .send_keys("flaky on this runner; ticket OPS-12")
        .await
        .unwrap();
    c.find(Locator::Id("override"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The page follows the run until it is finished.
    let c2 = c.clone();
    wait_until(60, "the run to finish on the page", || {
        let c = c2.clone();
        async move { attr(&c, "#run", "data-state").await.as_deref() == Some("finished") }
    })
    .await;
    let badge = c
        .find(Locator::Css("header.run .badge"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(badge, "PASS WITH 1 OVERRIDE");
    let overrides = c
        .find(Locator::Id("overrides"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        overrides.contains("flaky on this runner; ticket OPS-12"),
        "{overrides}"
    );
    screenshot(&c, "overridden-run").await;
    c.close().await.unwrap();
    wait_for_state(&b, &id, "finished");
}
