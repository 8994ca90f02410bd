//! Tolerant readers of what the runtime puts in stage summaries.
//!
//! A summary is free-form JSON written by whatever ran the stage. Every
//! reader here takes what is there and leaves out what is not: a missing
//! figure is `None` (shown as `—`), never zero.

use serde::Serialize;
use serde_json::Value;

use gauntlet_store::{Stage, StageState};

/// The value at `path` inside `v`, if every step exists.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

pub(crate) fn f64_at(v: &Value, path: &[&str]) -> Option<f64> {
    at(v, path)?.as_f64().filter(|x| x.is_finite())
}

pub(crate) fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let v = at(v, path)?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0 && x.fract() == 0.0)
            .map(|x| x as u64)
    })
}

pub(crate) fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path)?.as_str().map(str::to_owned)
}

pub(crate) fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
    at(v, path)?.as_bool()
}

/// A scalar as text: strings as they are, numbers and booleans as JSON
/// writes them; `None` for null, arrays and objects.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.as_f64().map_or_else(|| n.to_string(), super::fmt::num)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-empty string field.
fn text_at(v: &Value, key: &str) -> Option<String> {
    str_at(v, &[key]).filter(|s| !s.trim().is_empty())
}

/// An array of lines (strings; anything else as its JSON text).
pub(crate) fn lines_at(v: &Value, path: &[&str]) -> Vec<String> {
    match at(v, path) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.lines().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// One test command's result, as a `command` or `module` stage reported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct TestResult {
    pub name: String,
    pub command: Option<String>,
    /// `None` when the stage did not say.
    pub passed: Option<bool>,
    pub exit: Option<i64>,
    /// A signal number or name, when the command was killed by one.
    pub signal: Option<String>,
    pub duration_ms: Option<f64>,
    pub timed_out: bool,
    pub no_tests_found: bool,
    pub stdout_artifact: Option<String>,
    pub stderr_artifact: Option<String>,
    pub stdout_tail: Vec<String>,
    pub stderr_tail: Vec<String>,
    /// The first lines, when the runtime kept them apart from the last.
    pub stdout_head: Vec<String>,
    pub stderr_head: Vec<String>,
    /// Bytes between the first and the last lines, not kept.
    pub stdout_elided: Option<u64>,
    pub stderr_elided: Option<u64>,
    /// Why it failed, in one line, when the runtime says.
    pub failure: Option<String>,
}

impl TestResult {
    /// The `tests` array of a summary; unnamed tests are called `test N`.
    pub(crate) fn list(summary: Option<&Value>) -> Vec<TestResult> {
        let Some(Value::Array(tests)) = summary.and_then(|s| s.get("tests")) else {
            return Vec::new();
        };
        tests
            .iter()
            .enumerate()
            .map(|(i, t)| TestResult {
                name: str_at(t, &["name"]).unwrap_or_else(|| format!("test {}", i + 1)),
                command: str_at(t, &["command"]),
                passed: bool_at(t, &["passed"]),
                exit: at(t, &["exit"]).and_then(Value::as_i64),
                signal: at(t, &["signal"]).and_then(scalar_text),
                duration_ms: f64_at(t, &["duration_ms"]),
                timed_out: bool_at(t, &["timed_out"]).unwrap_or(false),
                no_tests_found: bool_at(t, &["no_tests_found"]).unwrap_or(false),
                stdout_artifact: text_at(t, "stdout_artifact"),
                stderr_artifact: text_at(t, "stderr_artifact"),
                stdout_tail: lines_at(t, &["stdout_tail"]),
                stderr_tail: lines_at(t, &["stderr_tail"]),
                stdout_head: lines_at(t, &["stdout_head"]),
                stderr_head: lines_at(t, &["stderr_head"]),
                stdout_elided: u64_at(t, &["stdout_elided"]).filter(|n| *n > 0),
                stderr_elided: u64_at(t, &["stderr_elided"]).filter(|n| *n > 0),
                failure: text_at(t, "failure"),
            })
            .collect()
    }

    /// How it ended, in a few words: `passed`, `FAILED`, `FAILED: timed
    /// out`, `FAILED: no tests found`, `FAILED: <the runtime's reason>`,
    /// `no result`.
    pub(crate) fn verdict_text(&self) -> String {
        let mut why = Vec::new();
        if let Some(f) = self
            .failure
            .as_deref()
            .filter(|_| self.passed != Some(true))
        {
            why.push(f);
        } else {
            if self.timed_out {
                why.push("timed out");
            }
            if self.no_tests_found {
                why.push("no tests found");
            }
        }
        let head = match self.passed {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "no result",
        };
        if why.is_empty() {
            head.to_owned()
        } else {
            format!("{head}: {}", why.join(", "))
        }
    }

    /// The output a person sees of one stream (`stdout` or `stderr`): a
    /// title and its lines, the first lines, a line saying how much is
    /// not shown, then the last ones; `None` when there is none.
    pub(crate) fn output(&self, stream: &str) -> Option<(String, Vec<String>)> {
        let (head, tail, elided) = match stream {
            "stdout" => (&self.stdout_head, &self.stdout_tail, self.stdout_elided),
            _ => (&self.stderr_head, &self.stderr_tail, self.stderr_elided),
        };
        if head.is_empty() && tail.is_empty() {
            return None;
        }
        if head.is_empty() && elided.is_none() {
            let title = format!(
                "{}: {stream}, last {}",
                self.name,
                super::fmt::plural(tail.len(), "line")
            );
            return Some((title, tail.clone()));
        }
        let mut lines = head.clone();
        if let Some(n) = elided {
            lines.push(format!(
                "[… {n} bytes not shown; the whole output is in its log file …]"
            ));
        }
        lines.extend(tail.iter().cloned());
        Some((
            format!("{}: {stream}, first and last lines", self.name),
            lines,
        ))
    }

    /// `exit 0`, `exit 1`, `signal 9`, or `—`.
    pub(crate) fn exit_text(&self) -> String {
        match (&self.signal, self.exit) {
            (Some(sig), _) => format!("signal {sig}"),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "—".to_owned(),
        }
    }
}

/// Passed and failed counts of a list of tests.
pub(crate) fn test_counts(tests: &[TestResult]) -> (usize, usize) {
    let passed = tests.iter().filter(|t| t.passed == Some(true)).count();
    let failed = tests.iter().filter(|t| t.passed == Some(false)).count();
    (passed, failed)
}

/// One module in one cycle: a `module` stage's figures.
///
/// Every figure is what the stage's summary says; a missing one is `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleRow {
    /// The stage, e.g. `cycle1/api`.
    pub stage: String,
    /// The state of the stage's current attempt.
    pub stage_state: StageState,
    /// The module's name; the stage's name if the summary does not say.
    pub module: String,
    pub cycle: Option<u64>,
    pub cycles: Option<u64>,
    /// `pass`, `warn` or `fail` as the runtime judged the module; `None`
    /// when the stage reported no status (it has not run, or it broke
    /// before judging).
    pub status: Option<String>,
    pub reasons: Vec<String>,
    pub health_checks: Option<u64>,
    pub health_p50_ms: Option<f64>,
    pub health_p95_ms: Option<f64>,
    pub time_to_healthy_ms: Option<f64>,
    pub rss_first_bytes: Option<f64>,
    pub rss_max_bytes: Option<f64>,
    pub rss_last_bytes: Option<f64>,
    /// Growth of RSS against the first cycle (from the second cycle on).
    pub rss_growth_pct: Option<f64>,
    pub cpu_mean_pct: Option<f64>,
    pub cpu_max_pct: Option<f64>,
    pub restarts: Option<u64>,
    pub oom_kills: Option<u64>,
    /// `None` when the summary lists no tests.
    pub tests_passed: Option<usize>,
    pub tests_failed: Option<usize>,
}

impl ModuleRow {
    /// The row of a `module` stage (from its current attempt); `None` for
    /// stages of other kinds.
    pub(crate) fn of(stage: &Stage) -> Option<ModuleRow> {
        if stage.kind != "module" {
            return None;
        }
        let null = Value::Null;
        let s = stage.current().summary.as_ref().unwrap_or(&null);
        let has_tests = matches!(s.get("tests"), Some(Value::Array(_)));
        let (passed, failed) = test_counts(&TestResult::list(Some(s)));
        Some(ModuleRow {
            stage: stage.name.clone(),
            stage_state: stage.state(),
            module: str_at(s, &["module"]).unwrap_or_else(|| stage.name.clone()),
            cycle: u64_at(s, &["cycle"]),
            cycles: u64_at(s, &["cycles"]),
            status: str_at(s, &["status"]).map(|st| st.trim().to_ascii_lowercase()),
            reasons: lines_at(s, &["reasons"]),
            health_checks: u64_at(s, &["health", "checks"]),
            health_p50_ms: f64_at(s, &["health", "p50_ms"]),
            health_p95_ms: f64_at(s, &["health", "p95_ms"]),
            time_to_healthy_ms: f64_at(s, &["health", "time_to_healthy_ms"]),
            rss_first_bytes: f64_at(s, &["rss_bytes", "first"]),
            rss_max_bytes: f64_at(s, &["rss_bytes", "max"]),
            rss_last_bytes: f64_at(s, &["rss_bytes", "last"]),
            rss_growth_pct: f64_at(s, &["rss_growth_pct"]),
            cpu_mean_pct: f64_at(s, &["cpu_pct", "mean"]),
            cpu_max_pct: f64_at(s, &["cpu_pct", "max"]),
            restarts: u64_at(s, &["restarts"]),
            oom_kills: u64_at(s, &["oom_kills"]),
            tests_passed: has_tests.then_some(passed),
            tests_failed: has_tests.then_some(failed),
        })
    }

    /// `2 passed, 1 failed`, or `—` without tests.
    pub(crate) fn tests_text(&self) -> String {
        match (self.tests_passed, self.tests_failed) {
            (Some(p), Some(f)) => format!("{p} passed, {f} failed"),
            _ => "—".to_owned(),
        }
    }
}

/// The module rows of stages, ordered by module, then cycle, then plan order,
/// so each module's cycles sit together.
pub(crate) fn module_rows(stages: &[Stage]) -> Vec<ModuleRow> {
    let mut rows: Vec<(u32, ModuleRow)> = stages
        .iter()
        .filter_map(|s| ModuleRow::of(s).map(|r| (s.ordinal, r)))
        .collect();
    rows.sort_by(|(oa, a), (ob, b)| {
        (a.module.as_str(), a.cycle.unwrap_or(u64::MAX), oa).cmp(&(
            b.module.as_str(),
            b.cycle.unwrap_or(u64::MAX),
            ob,
        ))
    });
    rows.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readers_take_what_is_there() {
        let v = json!({"a": {"b": 3, "c": "x", "d": 2.5, "e": -1}, "l": ["x", 2]});
        assert_eq!(u64_at(&v, &["a", "b"]), Some(3));
        assert_eq!(u64_at(&v, &["a", "d"]), None);
        assert_eq!(u64_at(&v, &["a", "e"]), None);
        assert_eq!(f64_at(&v, &["a", "d"]), Some(2.5));
        assert_eq!(str_at(&v, &["a", "c"]), Some("x".into()));
        assert_eq!(str_at(&v, &["a", "b"]), None);
        assert_eq!(f64_at(&v, &["a", "zz"]), None);
        assert_eq!(lines_at(&v, &["l"]), ["x", "2"]);
        assert!(lines_at(&v, &["nope"]).is_empty());
    }

    #[test]
    fn a_long_output_shows_its_first_and_last_lines_and_what_is_not_shown() {
        let s = json!({"tests": [
            {"name": "loud", "passed": false, "stdout_head": ["a1", "a2"],
             "stdout_tail": ["z1", "z2"], "stdout_elided": 1234, "stderr_tail": ["oops"],
             "stderr_elided": 0},
            {"name": "quiet", "passed": false}
        ]});
        let t = TestResult::list(Some(&s));
        let (title, lines) = t[0].output("stdout").unwrap();
        assert_eq!(title, "loud: stdout, first and last lines");
        assert_eq!(
            lines,
            [
                "a1",
                "a2",
                "[… 1234 bytes not shown; the whole output is in its log file …]",
                "z1",
                "z2"
            ]
        );
        assert_eq!(
            t[0].output("stderr").unwrap(),
            (
                "loud: stderr, last 1 line".to_owned(),
                vec!["oops".to_owned()]
            )
        );
        assert_eq!(t[1].output("stdout"), None);
    }

    #[test]
    fn tests_are_read_tolerantly() {
        let s = json!({"tests": [
            {"name": "smoke", "passed": false, "exit": null, "signal": 9, "timed_out": true},
            {"passed": true, "exit": 0, "stdout_artifact": ""},
            "garbage",
            {"name": "x", "passed": false, "failure": "exited with status 2", "timed_out": true}
        ]});
        let t = TestResult::list(Some(&s));
        assert_eq!(t.len(), 4);
        assert_eq!(t[1].stdout_artifact, None);
        assert_eq!(t[3].verdict_text(), "FAILED: exited with status 2");
        assert_eq!(t[0].exit_text(), "signal 9");
        assert_eq!(t[0].verdict_text(), "FAILED: timed out");
        assert_eq!(t[1].name, "test 2");
        assert_eq!(t[1].exit_text(), "exit 0");
        assert_eq!(t[2].verdict_text(), "no result");
        assert_eq!(test_counts(&t), (1, 2));
        assert!(TestResult::list(None).is_empty());
    }
}
