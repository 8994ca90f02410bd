//! A stage's section: its state, attempts and override, then the figures
//! of its summary. The fields the runtime is known to write (tests,
//! services, probe differences, module figures, log tails) get tables and
//! readable units; every other field is shown as it is.

use serde_json::{Map, Value};

use gauntlet_store::{Stage, StageState};

use super::RunReport;
use super::content::{Block, Cell, DASH, Section, opt, stage_status, stage_took, table};
use super::facts::{TestResult, f64_at, lines_at, scalar_text, str_at, u64_at};
use super::fmt::{bytes, duration, duration_f, num, percent, truncate, utc};
use super::summary::Tone;

pub(crate) fn stage_section(r: &RunReport, s: &Stage) -> Section {
    let a = s.current();
    let mut facts: Vec<(String, Cell)> = vec![
        ("Status".into(), stage_status(s)),
        ("Kind".into(), s.kind.as_str().into()),
    ];
    if let Some(t) = a.started_at {
        facts.push(("Started".into(), utc(t).into()));
    }
    if let Some(took) = stage_took(r, s) {
        facts.push(("Took".into(), took.into()));
    }
    if let Some(m) = &a.message {
        facts.push(("Message".into(), m.as_str().into()));
    }
    let mut blocks = vec![Block::Facts(facts)];
    if let Some(o) = r.override_of(&s.name, a.attempt) {
        blocks.push(Block::Callout {
            tone: Tone::Warn,
            title: format!("Overridden by {} at {}", o.who, utc(o.time)),
            lines: vec![format!("Reason: {}", o.reason)],
        });
    }
    if s.attempts.len() > 1 {
        let rows = s
            .attempts
            .iter()
            .map(|at| {
                vec![
                    at.attempt.to_string().into(),
                    Cell::toned(at.state.as_str(), Tone::of_stage(at.state)),
                    opt(at.started_at.map(utc)),
                    opt(at.started_at.zip(at.ended_at).map(|(b, e)| duration(e - b))),
                    opt(at.message.clone()),
                ]
            })
            .collect();
        blocks.push(table(
            &["attempt", "state", "started", "took", "message"],
            rows,
        ));
    }
    match &a.summary {
        Some(v) => blocks.extend(summary_blocks(v)),
        None if a.state == StageState::Pending => blocks.push(Block::Para("Not run yet.".into())),
        None => {}
    }
    Section {
        id: format!("stage-{}", s.ordinal + 1),
        level: 3,
        title: format!("{}. {} ({})", s.ordinal + 1, s.name, s.kind),
        blocks,
    }
}

/// Keys a module stage's summary has.
const MODULE_KEYS: &[&str] = &[
    "module",
    "cycle",
    "cycles",
    "status",
    "reasons",
    "health",
    "rss_bytes",
    "cpu_pct",
    "restarts",
    "oom_kills",
    "rss_growth_pct",
];

/// The blocks of a stage summary: what the runtime is known to write, in
/// readable form, and every other field as it is.
pub(crate) fn summary_blocks(v: &Value) -> Vec<Block> {
    let Some(obj) = v.as_object() else {
        return vec![Block::Facts(vec![(
            "Summary".into(),
            Cell::code(truncate(&v.to_string(), 400)),
        )])];
    };
    let mut blocks = Vec::new();
    let mut facts: Vec<(String, Cell)> = Vec::new();
    let mut done: Vec<&str> = Vec::new();

    if MODULE_KEYS.iter().any(|k| obj.contains_key(*k)) {
        module_facts(v, &mut facts);
        done.extend(MODULE_KEYS);
    }
    if let Some(d) = f64_at(v, &["duration_ms"]) {
        facts.push(("Duration".into(), duration_f(d).into()));
        done.push("duration_ms");
    }
    if let Some(Value::Array(stopped)) = obj.get("stopped") {
        let names: Vec<String> = stopped.iter().filter_map(scalar_text).collect();
        facts.push(("Stopped".into(), names.join(", ").into()));
        done.push("stopped");
    }
    if let Some(Value::Object(inv)) = obj.get("inventory") {
        let mut flat = Vec::new();
        flatten("", &Value::Object(inv.clone()), &mut flat);
        facts.extend(
            flat.into_iter()
                .map(|(k, c)| (format!("inventory: {k}"), c)),
        );
        done.push("inventory");
    }
    if !facts.is_empty() {
        blocks.push(Block::Facts(facts));
    }
    let reasons = lines_at(v, &["reasons"]);
    if !reasons.is_empty() {
        blocks.push(Block::Para("Reasons:".into()));
        blocks.push(Block::List(reasons));
    }
    match obj.get("services") {
        Some(Value::Array(list)) if list.is_empty() => {
            blocks.push(Block::Para("No services.".into()));
            done.push("services");
        }
        Some(Value::Object(map)) if map.is_empty() => {
            blocks.push(Block::Para("No services.".into()));
            done.push("services");
        }
        Some(Value::Array(list)) => {
            blocks.push(objects_table(
                "service",
                list.iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let name = str_at(s, &["name"]).unwrap_or_else(|| format!("#{}", i + 1));
                        (name, s)
                    })
                    .collect(),
                &["pid", "time_to_healthy_ms", "checks", "p95_ms"],
            ));
            done.push("services");
        }
        Some(Value::Object(map)) => {
            blocks.push(objects_table(
                "service",
                map.iter().map(|(k, s)| (k.clone(), s)).collect(),
                &["rss_max", "cpu_max", "restarts", "health_failures"],
            ));
            done.push("services");
        }
        _ => {}
    }
    if let Some(matrix) = obj.get("matrix") {
        blocks.extend(matrix_blocks(matrix));
        done.push("matrix");
    }
    if let Some(Value::Array(diffs)) = obj.get("differences") {
        blocks.push(differences_table(diffs));
        done.push("differences");
    }
    if obj.contains_key("tests") {
        blocks.extend(tests_blocks(&TestResult::list(Some(v))));
        done.push("tests");
    }
    if let Some(Value::Object(tails)) = obj.get("log_tail") {
        for (service, lines) in tails {
            blocks.push(Block::Output {
                title: format!("log tail: {service}"),
                lines: lines_at(lines, &[]),
            });
        }
        done.push("log_tail");
    }
    let rest: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !done.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        let mut flat = Vec::new();
        flatten("", &Value::Object(rest), &mut flat);
        blocks.push(Block::Facts(flat));
    }
    blocks
}

fn module_facts(v: &Value, facts: &mut Vec<(String, Cell)>) {
    if let Some(m) = str_at(v, &["module"]) {
        facts.push(("Module".into(), Cell::code(m)));
    }
    let cycle = u64_at(v, &["cycle"]);
    let cycles = u64_at(v, &["cycles"]);
    match (cycle, cycles) {
        (Some(c), Some(n)) => facts.push(("Cycle".into(), format!("{c} of {n}").into())),
        (Some(c), None) => facts.push(("Cycle".into(), c.to_string().into())),
        (None, Some(n)) => facts.push(("Cycles".into(), n.to_string().into())),
        (None, None) => {}
    }
    if let Some(st) = str_at(v, &["status"]) {
        let st = st.trim().to_ascii_lowercase();
        facts.push((
            "Module status".into(),
            Cell::toned(st.to_ascii_uppercase(), Tone::of_status(&st)),
        ));
    }
    if let Some(h) = v.get("health") {
        facts.push((
            "Health".into(),
            parts(
                h,
                &[
                    ("checks", "checks", Unit::Count),
                    ("p50_ms", "p50", Unit::Ms),
                    ("p95_ms", "p95", Unit::Ms),
                    ("time_to_healthy_ms", "healthy after", Unit::Ms),
                ],
            )
            .into(),
        ));
    }
    if let Some(rss) = v.get("rss_bytes") {
        facts.push((
            "RSS".into(),
            parts(
                rss,
                &[
                    ("first", "first", Unit::Bytes),
                    ("max", "max", Unit::Bytes),
                    ("last", "last", Unit::Bytes),
                ],
            )
            .into(),
        ));
    }
    if let Some(g) = f64_at(v, &["rss_growth_pct"]) {
        facts.push(("RSS growth".into(), percent(g).into()));
    }
    if let Some(cpu) = v.get("cpu_pct") {
        facts.push((
            "CPU".into(),
            parts(
                cpu,
                &[
                    ("mean", "mean", Unit::Percent),
                    ("max", "max", Unit::Percent),
                ],
            )
            .into(),
        ));
    }
    for (key, label) in [("restarts", "Restarts"), ("oom_kills", "OOM kills")] {
        if let Some(x) = v.get(key).and_then(scalar_text) {
            facts.push((label.into(), x.into()));
        }
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Count,
    Ms,
    Bytes,
    Percent,
}

/// `12 checks, p50 1.2 ms, p95 3.4 ms`: the known fields of an object in
/// order, then any others as `key value`.
fn parts(obj: &Value, known: &[(&str, &str, Unit)]) -> String {
    let Some(map) = obj.as_object() else {
        return scalar_text(obj).unwrap_or_else(|| obj.to_string());
    };
    let mut out = Vec::new();
    for (key, label, unit) in known {
        let Some(x) = f64_at(obj, &[key]) else {
            continue;
        };
        out.push(match unit {
            Unit::Count => format!("{} {label}", num(x)),
            Unit::Ms => format!("{label} {}", duration_f(x)),
            Unit::Bytes => format!("{label} {}", bytes(x)),
            Unit::Percent => format!("{label} {}", percent(x)),
        });
    }
    for (k, v) in map {
        if !known.iter().any(|(key, ..)| key == k) {
            out.push(format!("{k} {}", value_text(k, v)));
        }
    }
    if out.is_empty() {
        DASH.to_owned()
    } else {
        out.join(", ")
    }
}

/// A value for people, with the unit its key names: `*_ms` are durations,
/// `*_bytes` and `rss`/`rss_max`/... sizes, `*_pct` and `cpu`/`cpu_max`/...
/// percentages. Anything else is a plain number.
pub(crate) fn value_text(key: &str, v: &Value) -> String {
    match v {
        Value::Null => DASH.to_owned(),
        Value::Number(n) => {
            let Some(x) = n.as_f64() else {
                return n.to_string();
            };
            let key = key.to_ascii_lowercase();
            let stat = |prefix: &str| {
                key == prefix
                    || key
                        .strip_prefix(prefix)
                        .and_then(|r| r.strip_prefix('_'))
                        .is_some_and(|r| {
                            matches!(
                                r,
                                "max"
                                    | "min"
                                    | "mean"
                                    | "avg"
                                    | "first"
                                    | "last"
                                    | "p50"
                                    | "p95"
                                    | "p99"
                            )
                        })
            };
            if key.ends_with("_ms") {
                duration_f(x)
            } else if key.ends_with("_bytes") || stat("rss") {
                bytes(x)
            } else if key.ends_with("_pct") || key.ends_with("_percent") || stat("cpu") {
                percent(x)
            } else {
                num(x)
            }
        }
        Value::Array(items) if items.iter().all(|i| scalar_text(i).is_some()) => {
            let texts: Vec<String> = items.iter().filter_map(scalar_text).collect();
            truncate(&texts.join(", "), 400).into_owned()
        }
        Value::String(_) | Value::Bool(_) => scalar_text(v).unwrap_or_default(),
        _ => truncate(&v.to_string(), 400).into_owned(),
    }
}

/// At most this many facts come from flattening one object.
const MAX_FLAT: usize = 60;

/// Every leaf of `v` as `a.b.c: value` (arrays of objects by index).
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Cell)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if out.len() >= MAX_FLAT {
                    out.push(("…".into(), "more fields left out".into()));
                    return;
                }
                flatten(&key(k), child, out);
            }
        }
        Value::Array(items)
            if !items.is_empty() && items.iter().any(|i| i.is_object() || i.is_array()) =>
        {
            for (i, child) in items.iter().enumerate() {
                if out.len() >= MAX_FLAT {
                    return;
                }
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        leaf => {
            let last = prefix.rsplit('.').next().unwrap_or(prefix);
            out.push((prefix.to_owned(), value_text(last, leaf).into()));
        }
    }
}

/// Header words for a JSON key: `time_to_healthy_ms` → `time to healthy`.
fn header_of(key: &str) -> String {
    key.strip_suffix("_ms")
        .unwrap_or(key)
        .replace('_', " ")
        .to_string()
}

/// A table with one row per named object: the `preferred` keys first (if
/// any object has them), then every other key alphabetically.
fn objects_table(first: &str, items: Vec<(String, &Value)>, preferred: &[&str]) -> Block {
    let mut keys: Vec<String> = preferred
        .iter()
        .filter(|k| items.iter().any(|(_, o)| o.get(**k).is_some()))
        .map(|k| (*k).to_owned())
        .collect();
    let mut others: Vec<String> = items
        .iter()
        .filter_map(|(_, o)| o.as_object())
        .flat_map(|m| m.keys().cloned())
        .filter(|k| k != "name" && !keys.contains(k))
        .collect();
    others.sort();
    others.dedup();
    keys.extend(others);
    let mut headers = vec![first.to_owned()];
    headers.extend(keys.iter().map(|k| header_of(k)));
    let rows = items
        .iter()
        .map(|(name, o)| {
            let mut row = vec![Cell::code(name.as_str())];
            row.extend(keys.iter().map(|k| match o.get(k) {
                Some(v) => Cell::from(value_text(k, v)),
                None => Cell::from(DASH),
            }));
            row
        })
        .collect();
    Block::Table { headers, rows }
}

fn differences_table(diffs: &[Value]) -> Block {
    let rows = diffs
        .iter()
        .map(|d| {
            // The severity's case varies with the serializer: compare in lowercase.
            let severity = str_at(d, &["severity"]).map(|s| s.to_ascii_lowercase());
            let tone = match severity.as_deref() {
                Some("critical") => Tone::Bad,
                Some("warning") => Tone::Warn,
                _ => Tone::Neutral,
            };
            let text = |k: &str| opt(d.get(k).and_then(scalar_text));
            vec![
                text("field"),
                text("expected"),
                text("actual"),
                Cell::toned(severity.unwrap_or_else(|| DASH.to_owned()), tone),
            ]
        })
        .collect();
    table(&["difference", "expected", "actual", "severity"], rows)
}

/// The tests table, then the output tails of the failed tests.
pub(crate) fn tests_blocks(tests: &[TestResult]) -> Vec<Block> {
    if tests.is_empty() {
        return vec![Block::Para("No test commands reported.".into())];
    }
    let rows = tests
        .iter()
        .map(|t| {
            let tone = match t.passed {
                Some(true) => Tone::Good,
                Some(false) => Tone::Bad,
                None => Tone::Neutral,
            };
            let output: Vec<String> = [
                ("stdout", &t.stdout_artifact),
                ("stderr", &t.stderr_artifact),
            ]
            .into_iter()
            .filter_map(|(label, path)| path.as_ref().map(|p| format!("{label}: {p}")))
            .collect();
            vec![
                Cell::code(t.name.as_str()),
                Cell::toned(t.verdict_text(), tone),
                t.exit_text().into(),
                opt(t.duration_ms.map(duration_f)),
                t.command
                    .as_deref()
                    .map_or_else(|| Cell::from(DASH), Cell::code),
                opt((!output.is_empty()).then(|| output.join("; "))),
            ]
        })
        .collect();
    let mut blocks = vec![table(
        &["test", "result", "exit", "took", "command", "output"],
        rows,
    )];
    for t in tests.iter().filter(|t| t.passed == Some(false)) {
        for label in ["stderr", "stdout"] {
            if let Some((title, lines)) = t.output(label) {
                blocks.push(Block::Output { title, lines });
            }
        }
    }
    blocks
}

/// A `matrix` stage: its categories against their thresholds, then the
/// grid of ordered pairs (rows connect to columns), each cell coloured by
/// how many of its attempts connected.
fn matrix_blocks(m: &Value) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let Some(Value::Object(categories)) = m.get("categories") {
        let rows = categories
            .iter()
            .map(|(name, c)| {
                let exercised = c["exercised"].as_bool().unwrap_or(false);
                let status = match (exercised, c["met"].as_bool()) {
                    (false, _) => Cell::toned("not exercised", Tone::Neutral),
                    (true, Some(true)) => Cell::toned("met", Tone::Good),
                    (true, _) => Cell::toned("below threshold", Tone::Bad),
                };
                vec![
                    Cell::code(name.as_str()),
                    opt(u64_at(c, &["pairs"]).map(|n| n.to_string())),
                    opt(u64_at(c, &["connected"])
                        .zip(u64_at(c, &["attempts"]))
                        .map(|(k, n)| format!("{k} of {n}"))),
                    opt(f64_at(c, &["rate"]).map(|r| format!("{r:.1} %"))),
                    opt(f64_at(c, &["threshold"]).map(|t| format!("{t:.1} %"))),
                    status,
                ]
            })
            .collect();
        blocks.push(table(
            &[
                "category",
                "pairs",
                "connected",
                "rate",
                "threshold",
                "status",
            ],
            rows,
        ));
    }
    let hosts: Vec<String> = m["hosts"]
        .as_array()
        .map(|h| h.iter().filter_map(scalar_text).collect())
        .unwrap_or_default();
    let pairs = m["pairs"].as_array().cloned().unwrap_or_default();
    if !hosts.is_empty() {
        let mut headers = vec!["from \\ to".to_owned()];
        headers.extend(hosts.iter().cloned());
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let rows = hosts
            .iter()
            .map(|from| {
                let mut row = vec![Cell::code(from.as_str())];
                for to in &hosts {
                    if from == to {
                        row.push(DASH.into());
                        continue;
                    }
                    let pair = pairs
                        .iter()
                        .find(|p| p["from"].as_str() == Some(from) && p["to"].as_str() == Some(to));
                    row.push(match pair {
                        None => DASH.into(),
                        Some(p) => {
                            let connected = u64_at(p, &["connected"]).unwrap_or(0);
                            let attempts = u64_at(p, &["attempts"]).unwrap_or(0);
                            let tone = if attempts > 0 && connected == attempts {
                                Tone::Good
                            } else if connected > 0 {
                                Tone::Warn
                            } else {
                                Tone::Bad
                            };
                            let category = str_at(p, &["category"]).unwrap_or_default();
                            Cell::toned(format!("{connected}/{attempts} {category}"), tone)
                        }
                    });
                }
                row
            })
            .collect();
        blocks.push(table(&headers, rows));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts_of(blocks: &[Block]) -> Vec<(String, String)> {
        blocks
            .iter()
            .filter_map(|b| match b {
                Block::Facts(f) => Some(f.iter().map(|(k, c)| (k.clone(), c.text.clone()))),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn unknown_fields_are_shown_as_they_are() {
        let blocks = summary_blocks(&json!({"ops": 1200, "latency": {"p99_ms": 12.5}, "ok": true}));
        let facts = facts_of(&blocks);
        assert!(facts.contains(&("ops".into(), "1200".into())), "{facts:?}");
        assert!(
            facts.contains(&("latency.p99_ms".into(), "12.5 ms".into())),
            "{facts:?}"
        );
        assert!(facts.contains(&("ok".into(), "true".into())), "{facts:?}");
    }

    #[test]
    fn module_figures_read_well_and_missing_ones_are_left_out() {
        let blocks = summary_blocks(&json!({
            "module": "api", "cycle": 2, "cycles": 2, "status": "warn",
            "health": {"checks": 12, "p95_ms": 3.4},
            "rss_bytes": {"max": 104857600},
        }));
        let facts = facts_of(&blocks);
        assert!(
            facts.contains(&("Cycle".into(), "2 of 2".into())),
            "{facts:?}"
        );
        assert!(
            facts.contains(&("Module status".into(), "WARN".into())),
            "{facts:?}"
        );
        assert!(
            facts.contains(&("Health".into(), "12 checks, p95 3.4 ms".into())),
            "{facts:?}"
        );
        assert!(
            facts.contains(&("RSS".into(), "max 100.0 MiB".into())),
            "{facts:?}"
        );
        assert!(
            !facts.iter().any(|(k, _)| k == "CPU" || k == "Restarts"),
            "{facts:?}"
        );
    }

    #[test]
    fn probe_differences_are_a_table_with_severities() {
        let blocks = summary_blocks(&json!({
            "inventory": {"cpus": 2, "os": {"name": "linux"}},
            "differences": [
                {"field": "cpus", "expected": "at least 4", "actual": "2", "severity": "Critical"},
                {"field": "os.name", "expected": "linux", "actual": "linux", "severity": "info"},
            ],
        }));
        let facts = facts_of(&blocks);
        assert!(
            facts.contains(&("inventory: cpus".into(), "2".into())),
            "{facts:?}"
        );
        assert!(
            facts.contains(&("inventory: os.name".into(), "linux".into())),
            "{facts:?}"
        );
        let Some(Block::Table { headers, rows }) =
            blocks.iter().find(|b| matches!(b, Block::Table { .. }))
        else {
            panic!("no table: {blocks:?}");
        };
        assert_eq!(headers[0], "difference");
        assert_eq!(rows[0][3], Cell::toned("critical", Tone::Bad));
        assert_eq!(rows[1][3], Cell::toned("info", Tone::Neutral));
    }

    #[test]
    fn units_come_from_key_names() {
        let t = |k: &str, v: Value| value_text(k, &v);
        assert_eq!(t("cpus", json!(2)), "2");
        assert_eq!(t("cpu_count", json!(8)), "8");
        assert_eq!(t("cpu_max", json!(50)), "50 %");
        assert_eq!(t("rss", json!(2048)), "2.0 KiB");
        assert_eq!(t("rss_growth", json!(3)), "3");
        assert_eq!(t("memory_total_bytes", json!(1_073_741_824u64)), "1.00 GiB");
        assert_eq!(t("p95_ms", json!(1.5)), "1.5 ms");
        assert_eq!(t("load_pct", json!(12.5)), "12.5 %");
        assert_eq!(t("x", json!(null)), "—");
        assert_eq!(t("l", json!([1, "a"])), "1, a");
    }

    #[test]
    fn wait_services_read_with_units() {
        let blocks = summary_blocks(&json!({
            "duration_ms": 2000,
            "services": {"api": {"rss_max": 1048576, "cpu_max": 12.5, "restarts": 0,
                                 "health_failures": 0, "health_p95_ms": 1.5}},
        }));
        assert!(facts_of(&blocks).contains(&("Duration".into(), "2 s".into())));
        let Some(Block::Table { headers, rows }) =
            blocks.iter().find(|b| matches!(b, Block::Table { .. }))
        else {
            panic!("no table: {blocks:?}");
        };
        assert_eq!(
            headers,
            &[
                "service",
                "rss max",
                "cpu max",
                "restarts",
                "health failures",
                "health p95"
            ]
        );
        let texts: Vec<&str> = rows[0].iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["api", "1.0 MiB", "12.5 %", "0", "0", "1.5 ms"]);
    }

    #[test]
    fn a_summary_that_is_not_an_object_is_still_shown() {
        let facts = facts_of(&summary_blocks(&json!([1, 2])));
        assert_eq!(facts, [("Summary".into(), "[1,2]".into())]);
    }
}
