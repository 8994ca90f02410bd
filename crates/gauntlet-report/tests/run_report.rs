//! Run reports from a real store: a staged pipeline with module cycling, an
//! overridden failure, a held run and an empty one, in every format.

use gauntlet_report::run::{Format, RunReport, render};
use gauntlet_store::{Measurement, NewFault, NewRun, NewStage, RunId, StageEnd, Store, Validity};
use serde_json::{Value, json};

const REASON: &str = "known leak in worker, tracked in issue 42";
const EVIL: &str = "<script>alert('pwned')</script> worker RSS grew 62% > fail 50%";

fn new_run(store: &Store, stages: &[(&str, &str)]) -> RunId {
    store
        .create_run(&NewRun {
            plan_name: "nightly".into(),
            plan_path: Some("plans/nightly.toml".into()),
            plan_text: "name = \"nightly\"\n".into(),
            seed: 42,
            gauntlet_version: "0.1.0".into(),
            command_line: vec!["gauntlet".into(), "run".into(), "plans/nightly.toml".into()],
            stages: stages.iter().map(|(n, k)| NewStage::new(*n, *k)).collect(),
        })
        .unwrap()
        .id
}

/// A test record as the runtime writes it; a failed one has output tails
/// and a one-line `failure`.
fn test_json(name: &str, passed: bool) -> Value {
    let mut t = json!({
        "name": name,
        "command": format!("pytest -k {name}"),
        "passed": passed,
        "exit": if passed { 0 } else { 1 },
        "signal": null,
        "duration_ms": 1234,
        "timed_out": false,
        "no_tests_found": false,
        "stdout_artifact": format!("stages/{name}/1/stdout.log"),
        "stderr_artifact": format!("stages/{name}/1/stderr.log"),
        "stdout_tail": [],
        "stderr_tail": [],
    });
    if !passed {
        t["stdout_tail"] = json!(["collected 12 items", "FAILED test_leak.py::test_rss"]);
        t["stderr_tail"] = json!(["AssertionError: rss 812 MiB > 500 MiB"]);
        t["failure"] = json!("exited with status 1");
    }
    t
}

fn module_json(
    module: &str,
    cycle: u64,
    status: &str,
    reasons: &[&str],
    test_passed: bool,
) -> Value {
    let mut v = json!({
        "module": module, "cycle": cycle, "cycles": 2, "status": status,
        "reasons": reasons,
        "health": {"checks": 12, "p50_ms": 1.2, "p95_ms": 3.4, "time_to_healthy_ms": 230},
        "rss_bytes": {"first": 100_000_000u64, "max": 150_000_000u64, "last": 140_000_000u64},
        "cpu_pct": {"mean": 12.5, "max": 88.0},
        "restarts": 0, "oom_kills": 0,
        "tests": [test_json(&format!("{module}-{cycle}"), test_passed)],
    });
    if cycle > 1 {
        v["rss_growth_pct"] = json!(if status == "fail" { 62.0 } else { 3.1 });
    }
    v
}

fn pass(store: &Store, run: &RunId, stage: &str, summary: Value) -> gauntlet_store::AttemptId {
    let a = store.start_stage(run, stage).unwrap();
    store
        .finish_stage(run, stage, StageEnd::passed().with_summary(summary))
        .unwrap();
    a.id
}

fn samples(store: &Store, run: &RunId, start: i64) {
    let mut all = Vec::new();
    for (i, service) in ["api", "worker"].into_iter().enumerate() {
        for s in 0..300i64 {
            let time = start + s * 1000;
            let m = |kind: &str, value: f64, unit: &str| Measurement {
                stage: None,
                time,
                kind: kind.into(),
                subject: service.into(),
                value,
                unit: unit.into(),
            };
            let base = (100 + 50 * i as i64) as f64 * 1024.0 * 1024.0;
            all.push(m("rss", base + s as f64 * 100_000.0, "bytes"));
            all.push(m("cpu", 10.0 + (s % 7) as f64 * (i + 1) as f64, "percent"));
            all.push(m("health_latency", 1.0 + (s % 5) as f64 * 0.3, "ms"));
        }
        all.push(Measurement {
            stage: None,
            time: start + 150_000,
            kind: "restarts".into(),
            subject: service.into(),
            value: 0.0,
            unit: "count".into(),
        });
    }
    store.add_measurements(run, &all).unwrap();
}

/// The staged pipeline: up, command, four module cycles (the last fails
/// and is overridden), down; finished valid.
fn staged() -> (tempfile::TempDir, RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("gauntlet.db")).unwrap();
    let run = new_run(
        &store,
        &[
            ("start", "up"),
            ("smoke", "command"),
            ("cycle1/api", "module"),
            ("cycle1/worker", "module"),
            ("cycle2/api", "module"),
            ("cycle2/worker", "module"),
            ("stop", "down"),
        ],
    );
    let started = store.run(run.as_str()).unwrap().started_at;
    pass(
        &store,
        &run,
        "start",
        json!({"services": [
            {"name": "redis", "pid": 123, "time_to_healthy_ms": 40, "checks": 3, "p95_ms": 1.1},
            {"name": "api", "pid": 124, "time_to_healthy_ms": 230, "checks": 5, "p95_ms": 2.5},
        ]}),
    );
    let smoke = pass(
        &store,
        &run,
        "smoke",
        json!({"tests": [test_json("smoke", true), test_json("lint", true)]}),
    );
    pass(
        &store,
        &run,
        "cycle1/api",
        module_json("api", 1, "pass", &[], true),
    );
    pass(
        &store,
        &run,
        "cycle1/worker",
        module_json(
            "worker",
            1,
            "warn",
            &["p95 health latency 812 ms > warn_p95 500 ms"],
            true,
        ),
    );
    pass(
        &store,
        &run,
        "cycle2/api",
        module_json("api", 2, "pass", &[], true),
    );
    store.start_stage(&run, "cycle2/worker").unwrap();
    let mut failed = module_json(
        "worker",
        2,
        "fail",
        &["rss grew 62% > fail_rss_growth_pct 50%"],
        false,
    );
    failed["log_tail"] = json!({"worker": ["oom score 900", "<b>bold</b>"]});
    store
        .finish_stage(
            &run,
            "cycle2/worker",
            StageEnd::failed(EVIL).with_summary(failed),
        )
        .unwrap();
    store
        .override_stage(&run, "cycle2/worker", REASON, "alice")
        .unwrap();
    pass(
        &store,
        &run,
        "stop",
        json!({"stopped": ["api", "worker", "redis"]}),
    );
    store.finish_run(&run, Validity::Valid).unwrap();
    samples(&store, &run, started);
    let kill = store
        .record_fault(
            &run,
            &NewFault {
                time: started + 120_000,
                kind: "kill".into(),
                target: "worker".into(),
                value: json!({"signal": "SIGKILL"}),
            },
        )
        .unwrap();
    store.heal_fault(&run, kill, started + 150_000).unwrap();
    store
        .set_verdict(
            &run,
            "module-cycling",
            Validity::Valid,
            &json!({"valid": true, "modules": 4}),
        )
        .unwrap();
    store
        .set_verdict(
            &run,
            "linearizable",
            Validity::Invalid,
            &json!({"valid": false, "evidence": [{"key": 8, "problem": "not linearizable",
                "beside-faults": [
                    "t=24.243 s  nemesis  start-partition one: n3 ✕ n1 n2",
                    "t=28.698 s  p22      read on key 8 → null: ok (took 1 ms)   ◀"]}]}),
        )
        .unwrap();
    let log = store.artifact_dir(&run).join("stages/smoke/1/stdout.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "all good\n").unwrap();
    store
        .add_artifact(&run, Some(smoke), "stages/smoke/1/stdout.log", "log")
        .unwrap();
    let report = RunReport::load(&store, &run).unwrap();
    (dir, report)
}

/// A run held at a failed command stage.
fn held() -> (tempfile::TempDir, RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("gauntlet.db")).unwrap();
    let run = new_run(
        &store,
        &[("start", "up"), ("tests", "command"), ("stop", "down")],
    );
    pass(&store, &run, "start", json!({"services": []}));
    store.start_stage(&run, "tests").unwrap();
    store
        .finish_stage(
            &run,
            "tests",
            StageEnd::failed("1 of 2 test commands failed").with_summary(
                json!({"tests": [test_json("unit", true), test_json("integration", false)]}),
            ),
        )
        .unwrap();
    let report = RunReport::load(&store, &run).unwrap();
    (dir, report)
}

/// A run created and nothing else.
fn empty() -> (tempfile::TempDir, RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("gauntlet.db")).unwrap();
    let run = new_run(
        &store,
        &[("start", "up"), ("cycle1/api", "module"), ("stop", "down")],
    );
    let report = RunReport::load(&store, &run).unwrap();
    (dir, report)
}

/// With `GAUNTLET_REPORT_DUMP=DIR`, writes the staged, held and empty
/// reports there in every format, to look at.
#[test]
fn dump_reports_when_asked() {
    let Some(dir) = std::env::var_os("GAUNTLET_REPORT_DUMP") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    for (name, (_tmp, r)) in [("staged", staged()), ("held", held()), ("empty", empty())] {
        let out = dir.join(name);
        std::fs::create_dir_all(&out).unwrap();
        for f in Format::ALL {
            std::fs::write(out.join(f.file_name()), render(&r, f)).unwrap();
        }
    }
}

#[test]
fn the_summary_counts_stages_modules_and_tests() {
    let (_dir, r) = staged();
    let s = r.summary();
    assert_eq!(s.stages, 7);
    assert_eq!(
        (
            s.passed,
            s.failed,
            s.overridden,
            s.skipped,
            s.pending,
            s.running
        ),
        (6, 0, 1, 0, 0, 0)
    );
    assert_eq!((s.modules.pass, s.modules.warn, s.modules.fail), (2, 1, 1));
    assert_eq!((s.tests.passed, s.tests.failed), (5, 1));
    assert_eq!(s.overrides, 1);
    assert_eq!(s.result.as_str(), "pass");
    assert_eq!(s.headline, "⚠ passed with 1 override");
}

#[test]
fn the_override_reason_is_in_every_format() {
    let (_dir, r) = staged();
    for f in Format::ALL {
        let text = render(&r, f);
        assert!(text.contains(REASON), "{f}: no override reason");
        assert!(text.contains("alice"), "{f}: no override author");
    }
}

#[test]
fn json_has_the_whole_shape() {
    let (_dir, r) = staged();
    let v: Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    assert_eq!(v["format"], "gauntlet.run-report/1");
    assert_eq!(v["run"]["plan_name"], "nightly");
    assert_eq!(v["run"]["state"], "finished");
    assert_eq!(v["run"]["result"], "pass");
    assert_eq!(v["run"]["seed"], 42);
    assert_eq!(v["run"]["command"], "gauntlet run plans/nightly.toml");
    let s = &v["summary"];
    assert_eq!(s["stages"], 7);
    assert_eq!(s["passed"], 6);
    assert_eq!(s["overridden"], 1);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["pending"], 0);
    assert_eq!(s["overrides"], 1);
    assert_eq!(s["modules"], json!({"pass": 2, "warn": 1, "fail": 1}));
    assert_eq!(s["tests"], json!({"passed": 5, "failed": 1}));
    assert_eq!(s["headline"], "⚠ passed with 1 override");

    let o = &v["overrides"].as_array().unwrap()[..];
    assert_eq!(o.len(), 1);
    assert_eq!(o[0]["stage"], "cycle2/worker");
    assert_eq!(o[0]["attempt"], 1);
    assert_eq!(o[0]["who"], "alice");
    assert_eq!(o[0]["reason"], REASON);
    assert_eq!(o[0]["failure"], EVIL);
    assert!(v["hold"].is_null());

    let stages = v["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "start",
            "smoke",
            "cycle1/api",
            "cycle1/worker",
            "cycle2/api",
            "cycle2/worker",
            "stop"
        ]
    );
    assert_eq!(stages[5]["state"], "overridden");
    assert_eq!(stages[5]["override"]["who"], "alice");
    assert_eq!(stages[5]["summary"]["status"], "fail");
    assert!(stages[0]["override"].is_null());

    let modules = v["modules"].as_array().unwrap();
    let rows: Vec<(&str, u64, &str)> = modules
        .iter()
        .map(|m| {
            (
                m["module"].as_str().unwrap(),
                m["cycle"].as_u64().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("api", 1, "pass"),
            ("api", 2, "pass"),
            ("worker", 1, "warn"),
            ("worker", 2, "fail")
        ]
    );
    assert_eq!(modules[3]["rss_growth_pct"], 62.0);
    assert!(modules[0]["rss_growth_pct"].is_null(), "only from cycle 2");
    assert_eq!(modules[3]["tests_failed"], 1);

    assert_eq!(v["tests"].as_array().unwrap().len(), 6);
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 8);
    let rss_api = series
        .iter()
        .find(|s| s["kind"] == "rss" && s["subject"] == "api")
        .unwrap();
    assert_eq!(rss_api["samples"], 300);
    assert_eq!(rss_api["unit"], "bytes");
    assert_eq!(v["artifacts"][0]["path"], "stages/smoke/1/stdout.log");
}

#[test]
fn an_anomaly_beside_its_faults_is_in_every_format_a_person_reads() {
    let (_dir, r) = staged();
    for f in [Format::Markdown, Format::Html] {
        let text = render(&r, f);
        assert!(
            text.contains("linearizable at key 8: the anomaly beside its faults"),
            "{f:?}"
        );
        assert!(
            text.contains("read on key 8 → null: ok (took 1 ms)   ◀"),
            "{f:?}"
        );
    }
}

#[test]
fn markdown_has_the_module_table_and_flags_the_override() {
    let (_dir, r) = staged();
    let md = render(&r, Format::Markdown);
    assert!(md.starts_with("# Gauntlet run: nightly\n"), "{md}");
    assert!(md.contains("**⚠ passed with 1 override**"), "{md}");
    let row = |module: &str, cycle: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| `{module}` | {cycle} |")))
            .unwrap_or_else(|| panic!("no module row {module} {cycle}:\n{md}"))
            .to_owned()
    };
    assert!(row("api", "1/2").contains("| ✅ PASS |"));
    assert!(row("api", "2/2").contains("| ✅ PASS |"));
    let warn = row("worker", "1/2");
    assert!(warn.contains("| ⚠ WARN |"), "{warn}");
    assert!(warn.contains("812 ms \\> warn_p95 500 ms"), "{warn}");
    let fail = row("worker", "2/2");
    assert!(fail.contains("| ❌ FAIL (overridden) |"), "{fail}");
    assert!(fail.contains("62 %"), "{fail}");
    assert!(fail.contains("143.1 MiB"), "{fail}");
    assert!(fail.contains("0 passed, 1 failed"), "{fail}");
    // The override is near the top, before the stages.
    let over = md.find("## Overrides (1)").unwrap();
    assert!(over < md.find("## Stages").unwrap());
    // Failed tests show their tails; the malicious message is inert text.
    assert!(
        md.contains("AssertionError: rss 812 MiB \\> 500 MiB")
            || md.contains("AssertionError: rss 812 MiB > 500 MiB")
    );
    assert!(!md.contains("<script>"), "raw markup in markdown");
    assert!(md.contains("\\<script\\>"));
    // Header facts.
    for fact in [
        "**Seed:** `42`",
        "**State:** ⚠ finished",
        "**Command:** `gauntlet run plans/nightly.toml`",
    ] {
        assert!(md.contains(fact), "no {fact:?}:\n{md}");
    }
    assert!(
        md.contains("`stages/smoke/1/stdout.log`"),
        "artifact listed"
    );
    assert!(
        md.contains("| kill | `worker` | +2m | +2m30s | 30 s |"),
        "{md}"
    );
    assert!(md.contains("| `module-cycling` | ✅ pass |"), "{md}");
}

/// A small XML well-formedness checker: elements, attributes, references,
/// characters. Returns the root element.
mod xml {
    #[derive(Debug, Default)]
    pub struct El {
        pub name: String,
        pub attrs: Vec<(String, String)>,
        pub children: Vec<El>,
        pub text: String,
    }

    impl El {
        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        pub fn all<'a>(&'a self, name: &str, out: &mut Vec<&'a El>) {
            if self.name == name {
                out.push(self);
            }
            for c in &self.children {
                c.all(name, out);
            }
        }

        pub fn child(&self, name: &str) -> Option<&El> {
            self.children.iter().find(|c| c.name == name)
        }
    }

    struct P<'a> {
        s: &'a str,
        i: usize,
    }

    fn name_char(c: char, first: bool) -> bool {
        c.is_alphabetic()
            || c == '_'
            || c == ':'
            || (!first && (c.is_ascii_digit() || c == '-' || c == '.'))
    }

    impl P<'_> {
        fn rest(&self) -> &str {
            &self.s[self.i..]
        }
        fn err<T>(&self, what: &str) -> Result<T, String> {
            Err(format!(
                "{what} at byte {}: {:?}",
                self.i,
                &self.rest()[..self.rest().len().min(40)]
            ))
        }
        fn ws(&mut self) {
            while self.rest().starts_with([' ', '\n', '\t', '\r']) {
                self.i += 1;
            }
        }
        fn eat(&mut self, t: &str) -> bool {
            if self.rest().starts_with(t) {
                self.i += t.len();
                true
            } else {
                false
            }
        }
        fn name(&mut self) -> Result<String, String> {
            let mut n = String::new();
            for c in self.rest().chars() {
                if !name_char(c, n.is_empty()) {
                    break;
                }
                n.push(c);
            }
            if n.is_empty() {
                return self.err("expected a name");
            }
            self.i += n.len();
            Ok(n)
        }
        /// Text up to `end` (not included), with references decoded.
        fn chars_until(&mut self, end: &[char]) -> Result<String, String> {
            let mut out = String::new();
            while let Some(c) = self.rest().chars().next() {
                if end.contains(&c) {
                    break;
                }
                if c == '&' {
                    let semi = self.rest().find(';').ok_or("unterminated reference")?;
                    let r = &self.rest()[1..semi];
                    let ch = match r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ if r.starts_with("#x") => u32::from_str_radix(&r[2..], 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or("bad reference")?,
                        _ if r.starts_with('#') => r[1..]
                            .parse::<u32>()
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or("bad reference")?,
                        _ => return self.err("unknown entity"),
                    };
                    out.push(ch);
                    self.i += semi + 1;
                    continue;
                }
                if c == '<' {
                    return self.err("raw < in text or attribute");
                }
                if out.ends_with("]]") && c == '>' {
                    return self.err("]]> in text");
                }
                out.push(c);
                self.i += c.len_utf8();
            }
            Ok(out)
        }
        fn element(&mut self) -> Result<El, String> {
            if !self.eat("<") {
                return self.err("expected <");
            }
            let mut el = El {
                name: self.name()?,
                ..El::default()
            };
            loop {
                let before = self.i;
                self.ws();
                if self.eat("/>") {
                    return Ok(el);
                }
                if self.eat(">") {
                    break;
                }
                if self.i == before {
                    return self.err("expected space before attribute");
                }
                let n = self.name()?;
                if el.attrs.iter().any(|(a, _)| *a == n) {
                    return self.err("duplicate attribute");
                }
                self.ws();
                if !self.eat("=") {
                    return self.err("expected =");
                }
                self.ws();
                let q = match self.rest().chars().next() {
                    Some(q @ ('"' | '\'')) => q,
                    _ => return self.err("unquoted attribute"),
                };
                self.i += 1;
                let v = self.chars_until(&[q])?;
                if !self.eat(&q.to_string()) {
                    return self.err("unterminated attribute");
                }
                el.attrs.push((n, v));
            }
            loop {
                el.text.push_str(&self.chars_until(&['<'])?);
                if self.eat("</") {
                    let n = self.name()?;
                    if n != el.name {
                        return self.err(&format!("</{n}> closes <{}>", el.name));
                    }
                    self.ws();
                    if !self.eat(">") {
                        return self.err("expected >");
                    }
                    return Ok(el);
                }
                if self.rest().is_empty() {
                    return self.err("unclosed element");
                }
                let child = self.element()?;
                el.children.push(child);
            }
        }
    }

    pub fn parse(s: &str) -> Result<El, String> {
        if let Some(c) = s.chars().find(|c| {
            !matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
        }) {
            return Err(format!("character {c:?} is not allowed in XML"));
        }
        let mut p = P { s, i: 0 };
        if p.eat("<?xml") {
            let end = p.rest().find("?>").ok_or("unterminated declaration")?;
            p.i += end + 2;
        }
        p.ws();
        let root = p.element()?;
        p.ws();
        if !p.rest().is_empty() {
            return p.err("content after the root element");
        }
        Ok(root)
    }

    #[test]
    fn the_checker_refuses_what_is_not_xml() {
        assert!(parse("<a><b></a></b>").is_err());
        assert!(parse("<a x=1/>").is_err());
        assert!(parse("<a>&bogus;</a>").is_err());
        assert!(parse("<a>x & y</a>").is_err());
        assert!(parse("<a>\u{1b}</a>").is_err());
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("<a x=\"1\" x=\"2\"/>").is_err());
        let el = parse("<?xml version=\"1.0\"?>\n<a x=\"&lt;&#10;\">t&amp;<b/></a>").unwrap();
        assert_eq!(el.attr("x"), Some("<\n"));
        assert_eq!(el.text, "t&");
    }
}

fn cases(root: &xml::El) -> Vec<&xml::El> {
    let mut out = Vec::new();
    root.all("testcase", &mut out);
    out
}

fn props(el: &xml::El) -> Vec<(String, String)> {
    el.child("properties")
        .map(|p| {
            p.children
                .iter()
                .map(|c| {
                    (
                        c.attr("name").unwrap_or_default().to_owned(),
                        c.attr("value").unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn junit_is_well_formed_and_keeps_overrides_visible_but_passing() {
    let (_dir, r) = staged();
    let text = render(&r, Format::Junit);
    let root = xml::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(root.name, "testsuites");
    let suites: Vec<_> = root
        .children
        .iter()
        .filter(|c| c.name == "testsuite")
        .collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.attr("name"), Some("nightly"));
    // 7 stages + 2 smoke tests + one test per module stage.
    let all = cases(&root);
    assert_eq!(all.len(), 13);
    assert_eq!(suite.attr("tests"), Some("13"));
    assert_eq!(suite.attr("failures"), Some("0"));
    assert_eq!(suite.attr("skipped"), Some("0"));
    let stage_cases: Vec<_> = all
        .iter()
        .filter(|c| c.attr("classname") == Some("stage"))
        .collect();
    assert_eq!(stage_cases.len(), 7);
    assert!(
        all.iter()
            .any(|c| c.attr("classname") == Some("test.smoke") && c.attr("name") == Some("lint"))
    );
    assert!(
        all.iter()
            .all(|c| c.attr("time").unwrap().parse::<f64>().is_ok())
    );

    let over = stage_cases
        .iter()
        .find(|c| c.attr("name") == Some("cycle2/worker"))
        .unwrap();
    assert!(
        over.child("failure").is_none(),
        "an overridden stage passes"
    );
    let p = props(over);
    assert!(p.contains(&("overridden".into(), "true".into())), "{p:?}");
    assert!(
        p.contains(&("override.who".into(), "alice".into())),
        "{p:?}"
    );
    assert!(
        p.contains(&("override.reason".into(), REASON.into())),
        "{p:?}"
    );
    let out = &over.child("system-out").unwrap().text;
    assert!(out.starts_with("OVERRIDDEN by alice"), "{out}");
    assert!(
        out.contains(EVIL),
        "the failure is kept, escaped and parsed back: {out}"
    );
    let failed_test = all
        .iter()
        .find(|c| c.attr("classname") == Some("test.cycle2/worker"))
        .unwrap();
    assert!(failed_test.child("failure").is_none());
    assert!(
        failed_test
            .child("system-out")
            .unwrap()
            .text
            .starts_with("OVERRIDDEN")
    );
    let sp = props(suite);
    assert!(
        sp.contains(&("gauntlet.overrides".into(), "1".into())),
        "{sp:?}"
    );

    // The warned module passes with its reason on system-out.
    let warned = stage_cases
        .iter()
        .find(|c| c.attr("name") == Some("cycle1/worker"))
        .unwrap();
    assert!(
        warned
            .child("system-out")
            .unwrap()
            .text
            .starts_with("WARN: p95 health latency")
    );
}

#[test]
fn junit_marks_failures_and_pending_stages() {
    let (_dir, r) = held();
    let text = render(&r, Format::Junit);
    let root = xml::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let all = cases(&root);
    assert_eq!(all.len(), 5, "3 stages + 2 tests");
    let suite = root.child("testsuite").unwrap();
    assert_eq!(suite.attr("failures"), Some("2"));
    assert_eq!(suite.attr("skipped"), Some("1"));
    let stage = all
        .iter()
        .find(|c| c.attr("name") == Some("tests"))
        .unwrap();
    let failure = stage.child("failure").unwrap();
    assert_eq!(failure.attr("message"), Some("1 of 2 test commands failed"));
    assert!(
        failure
            .text
            .contains("AssertionError: rss 812 MiB > 500 MiB"),
        "{}",
        failure.text
    );
    let test = all
        .iter()
        .find(|c| c.attr("name") == Some("integration"))
        .unwrap();
    assert_eq!(test.attr("classname"), Some("test.tests"));
    assert_eq!(test.attr("time"), Some("1.234"));
    assert_eq!(
        test.child("failure").unwrap().attr("message"),
        Some("FAILED: exited with status 1 (exit 1)")
    );
    let stop = all.iter().find(|c| c.attr("name") == Some("stop")).unwrap();
    assert!(
        stop.child("skipped")
            .unwrap()
            .attr("message")
            .unwrap()
            .starts_with("pending")
    );
}

fn assert_no_external_resources(html: &str) {
    let lower = html.to_ascii_lowercase();
    for needle in ["src=", "href=", "url(", "@import"] {
        for (i, _) in lower.match_indices(needle) {
            let after = lower[i + needle.len()..].trim_start_matches(['"', '\'', ' ']);
            assert!(
                !after.starts_with("http:")
                    && !after.starts_with("https:")
                    && !after.starts_with("//"),
                "external resource: {}",
                &html[i..(i + 80).min(html.len())]
            );
        }
    }
    for tag in ["<script", "<link", "<iframe", "<img"] {
        assert!(!lower.contains(tag), "{tag} in the page");
    }
}

/// The part of the page from `id="ID"` to the end of its figure.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id}"));
    let end = html[start..].find("</figure>").unwrap();
    &html[start..start + end]
}

#[test]
fn html_is_self_contained_with_charts_and_escaped_text() {
    let (_dir, r) = staged();
    let html = render(&r, Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_no_external_resources(&html);
    assert!(html.contains(r#"<div class="badge warn">PASS WITH 1 OVERRIDE</div>"#));
    // The malicious message and log line are text, never markup.
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    assert!(!html.contains("<b>bold</b>"));
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));

    let rss = figure(&html, "chart-rss");
    assert!(rss.contains("<svg"), "{rss}");
    assert_eq!(
        rss.matches("<path class=\"line\"").count(),
        2,
        "one line per service"
    );
    assert!(rss.contains("data-subject=\"api\"") && rss.contains("data-subject=\"worker\""));
    assert!(rss.contains(">MiB</text>"), "bytes read in MiB");
    assert!(rss.contains(">4m</text>"), "time ticks");
    assert!(rss.contains("max 128.5 MiB"), "legend figures: {rss}");
    for id in [
        "chart-cpu",
        "chart-health_latency",
        "chart-restarts",
        "chart-stages",
    ] {
        let fig = figure(&html, id);
        assert!(fig.contains("<svg"), "{id}");
        assert!(!fig.contains("no samples"), "{id}");
    }
    assert_eq!(
        figure(&html, "chart-cpu")
            .matches("<path class=\"line\"")
            .count(),
        2
    );
    assert_eq!(
        figure(&html, "chart-stages")
            .matches("<rect class=\"stage\"")
            .count(),
        7
    );
    // The kill is shaded in every chart, and listed.
    assert_eq!(rss.matches("<rect class=\"fault\"").count(), 1);
    assert!(rss.contains("fault kill on worker at +2m (30 s)"), "{rss}");
    assert!(html.contains(r#"<section id="faults">"#));
    assert!(html.contains(r#"<section id="checks">"#));

    // Overrides, module table and the stage table are there.
    assert!(html.contains(REASON));
    assert!(html.contains(r#"<span class="pill bad">FAIL (overridden)</span>"#));
    assert!(html.contains(r#"<span class="pill warn">WARN</span>"#));
    assert!(html.contains(r#"<section id="stage-6">"#));
}

#[test]
fn a_held_run_says_how_to_go_on() {
    let (_dir, r) = held();
    let id = r.run.id.to_string();
    let retry = format!("gauntlet retry {id}");
    let over = format!("gauntlet override {id} --stage tests --reason");
    let abandon = format!("gauntlet abandon {id}");
    for f in [Format::Markdown, Format::Html, Format::Json] {
        let text = render(&r, f);
        for hint in [&retry, &over, &abandon] {
            assert!(text.contains(hint.as_str()), "{f}: no {hint:?}");
        }
    }
    let s = r.summary();
    assert_eq!(
        s.headline,
        "⏸ held at stage tests: waiting for the operator"
    );
    assert_eq!((s.passed, s.failed, s.pending), (1, 1, 1));
    assert_eq!(s.result.as_str(), "none");
    let v = r.to_json();
    assert_eq!(v["hold"]["stage"], "tests");
    let md = r.to_markdown();
    assert!(md.contains("## Held at stage tests"), "{md}");
    assert!(md.contains("AssertionError"), "failed test tails shown");
    let html = r.to_html();
    assert!(html.contains(r#"<div class="badge bad">HELD</div>"#));
}

#[test]
fn an_empty_run_renders_without_samples() {
    let (_dir, r) = empty();
    assert!(r.series.is_empty());
    for f in Format::ALL {
        assert!(!render(&r, f).is_empty());
    }
    let html = r.to_html();
    assert_no_external_resources(&html);
    for id in ["chart-rss", "chart-cpu", "chart-health_latency"] {
        assert!(figure(&html, id).contains("no samples"), "{id}");
    }
    assert!(figure(&html, "chart-stages").contains("no stage has started"));
    let s = r.summary();
    assert_eq!((s.stages, s.pending), (3, 3));
    assert_eq!((s.modules.pass, s.modules.warn, s.modules.fail), (0, 0, 0));
    assert!(s.headline.starts_with("▶ running"), "{}", s.headline);
    xml::parse(&r.to_junit()).unwrap();
    let md = r.to_markdown();
    assert!(md.contains("| `cycle1/api` | — | • pending |"), "{md}");
    assert!(md.contains("No artifacts."));
    let v = r.to_json();
    assert_eq!(v["modules"][0]["status"], Value::Null);
    assert_eq!(v["series"], json!([]));
}
