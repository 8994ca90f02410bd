//! `gauntlet serve` over HTTP: the real binary serving a real store that
//! real runs write; pages, actions, the token, read-only mode, the event
//! stream of a live soak, and `/metrics` read by a Prometheus text parser.

#![allow(clippy::disallowed_macros)]

mod common;
mod dashboard;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::Bench;
use dashboard::{Dashboard, csrf, held_run, http, live_soak, wait_for_state};

#[test]
fn a_held_run_is_listed_escaped_and_overridden_from_its_page() {
    let b = Bench::new();
    let id = held_run(&b);
    let d = Dashboard::start(&b, &[]);

    let (status, list) = d.get("/");
    assert_eq!(status, 200);
    assert!(list.contains(&id), "{list}");
    assert!(list.contains("data-state=\"held\""), "{list}");
    assert!(
        list.contains("held-&lt;i&gt;plan&lt;/i&gt;"),
        "the plan name escaped: {list}"
    );
    assert!(!list.contains("<i>plan</i>"));
    let (status, filtered) = d.get("/?state=finished");
    assert_eq!(status, 200);
    assert!(!filtered.contains(&id), "a held run is not finished");
    let (status, bad) = d.get("/?state=sleeping");
    assert_eq!(status, 400);
    assert!(bad.contains("none of: running, held"), "{bad}");

    let (status, page) = d.get(&format!("/runs/{id}"));
    assert_eq!(status, 200);
    assert!(page.contains("id=\"override\""), "held: override offered");
    assert!(page.contains("id=\"retry\""));
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "the stage's output escaped"
    );
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let token = csrf(&page);

    // Refused by the dashboard: no reason; a foreign page; a wrong secret.
    let (status, refused) = d.post(
        &format!("/runs/{id}/override"),
        &[("csrf", &token), ("stage", "flaky"), ("reason", "  ")],
    );
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("needs a reason"), "{refused}");
    let (status, _) = d.request(
        "POST",
        &format!("/runs/{id}/override"),
        &[
            ("Origin", "http://evil.example"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(format!("csrf={token}&stage=flaky&reason=x")),
    );
    assert_eq!(status, 403);
    let (status, _) = d.post(
        &format!("/runs/{id}/override"),
        &[("csrf", "0"), ("stage", "flaky"), ("reason", "x")],
    );
    assert_eq!(status, 403);
    // Refused by the store, in its words: the stage did not fail.
    let (status, refused) = d.post(
        &format!("/runs/{id}/override"),
        &[("csrf", &token), ("stage", "first"), ("reason", "why not")],
    );
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused.contains("class=\"callout bad refused\""),
        "{refused}"
    );
    assert!(refused.contains("first"), "{refused}");

    let (status, _) = d.post(
        &format!("/runs/{id}/override"),
        &[
            ("csrf", &token),
            ("stage", "flaky"),
            ("reason", "known flake <b>#42</b>"),
            ("by", "alice"),
        ],
    );
    assert_eq!(status, 303);
    wait_for_state(&b, &id, "finished");
    let (_, page) = d.get(&format!("/runs/{id}?done=override"));
    assert!(page.contains("Override recorded"), "the fixed notice");
    assert!(
        page.contains("known flake &lt;b&gt;#42&lt;/b&gt;"),
        "the reason, escaped"
    );
    assert!(
        page.contains("alice (dashboard, 127.0.0.1)"),
        "who, as recorded"
    );
    assert!(
        !page.contains("id=\"override\""),
        "a finished run offers nothing"
    );
    // The same transition as the CLI: a finished run cannot be retried.
    let (status, refused) = d.post(&format!("/runs/{id}/retry"), &[("csrf", &token)]);
    assert_eq!(status, 409, "{refused}");
    assert!(refused.contains("finished"), "{refused}");
    let (status, report) = d.get(&format!("/runs/{id}/report"));
    assert_eq!(status, 200);
    assert!(report.contains("PASS WITH 1 OVERRIDE"), "the stored report");
    let (status, _) = d.get("/runs/r00000000-000000-000");
    assert_eq!(status, 404);
}

#[test]
fn a_held_run_is_abandoned_from_its_page() {
    let b = Bench::new();
    let id = held_run(&b);
    let d = Dashboard::start(&b, &[]);
    let (_, page) = d.get(&format!("/runs/{id}"));
    let (status, _) = d.post(
        &format!("/runs/{id}/abandon"),
        &[
            ("csrf", &csrf(&page)),
            ("reason", "superseded"),
            ("by", "bob"),
        ],
    );
    assert_eq!(status, 303);
    wait_for_state(&b, &id, "abandoned");
    let store = gauntlet_store::Store::open(b.db()).unwrap();
    let run = store.run(&id).unwrap();
    assert_eq!(
        run.message.as_deref(),
        Some("superseded — by bob (dashboard, 127.0.0.1)"),
        "why and who"
    );
    let (_, page) = d.get(&format!("/runs/{id}?done=abandon"));
    assert!(page.contains("The run was abandoned."));
    assert!(
        !page.contains("<form method=\"post\""),
        "nothing left to do"
    );
}

#[test]
fn read_only_shows_no_action_and_writes_nothing() {
    let b = Bench::new();
    let id = held_run(&b);
    let before = std::fs::read(b.db()).unwrap();
    let d = Dashboard::start(&b, &["--read-only"]);
    let (status, page) = d.get(&format!("/runs/{id}"));
    assert_eq!(status, 200);
    assert!(page.contains("Read-only dashboard"), "{page}");
    assert!(!page.contains("<form method=\"post\""), "no action offered");
    let (status, _) = d.post(&format!("/runs/{id}/retry"), &[("csrf", "x")]);
    assert_eq!(status, 403);
    drop(d);
    wait_for_state(&b, &id, "held");
    assert_eq!(
        std::fs::read(b.db()).unwrap(),
        before,
        "the store file is unchanged"
    );
}

#[test]
fn beyond_loopback_a_token_guards_every_page_and_is_never_written() {
    let b = Bench::new();
    let id = held_run(&b);
    // No token: refused before anything listens.
    let Err((code, said)) = Dashboard::start_with(&b, "0.0.0.0:0", &[], &[]) else {
        panic!("served beyond loopback without a token");
    };
    assert_eq!(code, 254, "{said}");
    assert!(said.contains("GAUNTLET_SERVE_TOKEN"), "{said}");
    let Err((code, said)) =
        Dashboard::start_with(&b, "0.0.0.0:0", &[], &[("GAUNTLET_SERVE_TOKEN", "short")])
    else {
        panic!("served with a guessable token");
    };
    assert_eq!(code, 254, "{said}");

    let token = "t0ken-for-the-test-9f8e7d6c5b4a";
    let d =
        Dashboard::start_with(&b, "0.0.0.0:0", &[], &[("GAUNTLET_SERVE_TOKEN", token)]).unwrap();
    let port = d.url.rsplit(':').next().unwrap().to_owned();
    let local = format!("http://127.0.0.1:{port}");
    let (status, _, _) = http(&local, "GET", "/", &[], None);
    assert_eq!(status, 401);
    let (status, _, _) = http(&local, "GET", "/metrics", &[], None);
    assert_eq!(status, 401);
    let (status, headers, _) = http(&local, "GET", "/", &[("Accept", "text/html")], None);
    assert_eq!(status, 303, "a browser is sent to log in");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "location" && v == "/login")
    );
    let bearer = format!("Bearer {token}");
    let (status, _, list) = http(&local, "GET", "/", &[("Authorization", &bearer)], None);
    assert_eq!(status, 200);
    assert!(list.contains(&id));
    let (status, _, _) = http(
        &local,
        "GET",
        "/",
        &[("Authorization", "Bearer wrong-token-wrong-token")],
        None,
    );
    assert_eq!(status, 401);
    // The login page trades the token for a session cookie (not the token).
    let form = [
        ("Origin", local.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (status, _, _) = http(&local, "POST", "/login", &form, Some("token=nope".into()));
    assert_eq!(status, 401);
    let (status, headers, _) = http(
        &local,
        "POST",
        "/login",
        &form,
        Some(format!("token={token}")),
    );
    assert_eq!(status, 303);
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(token), "the cookie is not the token");
    let session = cookie.split(';').next().unwrap().to_owned();
    let (status, _, _) = http(
        &local,
        "GET",
        &format!("/runs/{id}"),
        &[("Cookie", &session)],
        None,
    );
    assert_eq!(status, 200);
    let said = d.said.lock().unwrap().clone();
    drop(d);
    assert!(said.contains("token required"), "{said}");
    // The token is in no file of the store and nothing it printed.
    assert!(!said.contains(token));
    for entry in walk(b.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{} holds the token",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Samples drawn so far on the RSS chart of an event's report, if any.
fn rss_samples(report: &str) -> Option<u64> {
    let at = report.find("id=\"chart-rss\"")?;
    let chart = &report[at..];
    let end = chart.find("</figure>").unwrap_or(chart.len());
    let at = chart[..end].find("data-samples=\"")?;
    chart[at + 14..].split('"').next()?.parse().ok()
}

#[test]
fn a_live_soak_streams_its_report_as_it_grows_and_stops_from_the_page() {
    let b = Bench::new();
    let (soak, id) = live_soak(&b, "60s");
    let d = Dashboard::start(&b, &[]);
    // The event stream: a state, then reports whose charts grow.
    let url = format!("{}/runs/{id}/events", d.url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let res = agent.get(&url).call().unwrap();
    assert!(
        res.headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"))
    );
    let mut lines = BufReader::new(res.into_body().into_reader()).lines();
    let mut event = String::new();
    let mut data = String::new();
    let mut seen: Vec<u64> = Vec::new();
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(45);
    while seen.len() < 3 && Instant::now() < deadline {
        let line = lines.next().expect("the stream goes on").unwrap();
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_owned();
        } else if let Some(x) = line.strip_prefix("data: ") {
            data.push_str(x);
            data.push('\n');
        } else if line.is_empty() {
            match event.as_str() {
                "report" => {
                    if let Some(n) = rss_samples(&data)
                        && seen.last().is_none_or(|last| n > *last)
                    {
                        seen.push(n);
                    }
                    assert!(
                        data.contains("id=\"now\""),
                        "what is active now comes first"
                    );
                }
                "state" => states.push(data.clone()),
                _ => {}
            }
            event.clear();
            data.clear();
        }
    }
    assert!(seen.len() >= 3, "the RSS chart grew in 3 updates: {seen:?}");
    assert!(states[0].contains("\"running\""), "{states:?}");

    // The running run's page offers a stop, which ends it as Ctrl-C does.
    let (_, page) = d.get(&format!("/runs/{id}"));
    assert!(page.contains("id=\"stop\""), "running: stop offered");
    let (status, _) = d.post(&format!("/runs/{id}/stop"), &[("csrf", &csrf(&page))]);
    assert_eq!(status, 303);
    let out = soak.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(255),
        "a stopped soak exits as at Ctrl-C"
    );
    wait_for_state(&b, &id, "interrupted");
}

/// The buckets of a service's histogram.
fn histogram(
    s: &prometheus_parse::Scrape,
    name: &str,
    service: &str,
) -> Option<Vec<prometheus_parse::HistogramCount>> {
    s.samples.iter().find_map(|x| match &x.value {
        prometheus_parse::Value::Histogram(h)
            if x.metric == name && x.labels.get("service") == Some(service) =>
        {
            Some(h.clone())
        }
        _ => None,
    })
}

#[test]
fn metrics_of_a_live_soak_parse_as_prometheus_text() {
    let b = Bench::new();
    let (soak, id) = live_soak(&b, "8s");
    let d = Dashboard::start(&b, &[]);
    // Health checks every 100 ms, samples stored every second.
    std::thread::sleep(Duration::from_secs(3));
    let (status, headers, text) = http(&d.url, "GET", "/metrics", &[], None);
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/openmetrics-text")),
        "{headers:?}"
    );
    assert!(text.ends_with("# EOF\n"));
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the text format parses");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(h) => {
                    h.iter().map(|c| c.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
    };
    assert_eq!(
        value("gauntlet_runs", &[("state", "running")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            "gauntlet_run_info",
            &[("run", &id), ("kind", "soak"), ("state", "running")]
        ),
        Some(1.0),
        "{text}"
    );
    let rss = value(
        "gauntlet_service_rss_bytes",
        &[("run", &id), ("service", "api")],
    )
    .expect("rss of api");
    assert!(rss > 100_000.0, "a live process's RSS: {rss}");
    let buckets = histogram(&scrape, "gauntlet_health_latency_seconds", "api")
        .expect("a health latency histogram");
    let inf = buckets
        .iter()
        .find(|c| c.less_than == f64::INFINITY)
        .expect("+Inf bucket");
    assert!(inf.count >= 5.0, "health checks counted: {buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].count <= w[1].count),
        "cumulative buckets: {buckets:?}"
    );
    let puts = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "gauntlet_ops_total" && s.labels.get("run") == Some(id.as_str()))
        .count();
    assert!(puts > 0, "ops by type and function: {text}");
    // A second scrape only adds: counters never go back.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, _, again) = http(&d.url, "GET", "/metrics", &[], None);
    let scrape2 = prometheus_parse::Scrape::parse(again.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let count = |s: &prometheus_parse::Scrape| {
        histogram(s, "gauntlet_health_latency_seconds", "api")
            .and_then(|h| h.last().map(|c| c.count))
            .unwrap_or(0.0)
    };
    assert!(count(&scrape2) >= count(&scrape), "a counter went back");
    let out = soak.wait_with_output().unwrap();
    assert!(out.status.code().is_some(), "the soak ended");
}
