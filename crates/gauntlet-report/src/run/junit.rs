//! `junit.xml` for CI: one `<testsuite>` named after the plan, a test case
//! per stage (`classname="stage"`) and per test command of a stage
//! (`classname="test.STAGE"`).
//!
//! - failed stage or test → `<failure>` (message, then the output tails);
//! - pending, running or skipped stage, test without a result → `<skipped>`;
//! - **overridden** stage, and the failed tests inside it → a passing test
//!   case that says so: `<properties>` with `overridden=true`,
//!   `override.who`, `override.reason`, `override.time`, and a
//!   `<system-out>` starting with `OVERRIDDEN`. The suite's properties
//!   carry the override count and the headline, so the trace is on the
//!   suite too.

use std::fmt::Write;

use gauntlet_store::{Override, Stage, StageState};

use super::RunReport;
use super::facts::{TestResult, lines_at};
use super::fmt::{junit_timestamp, utc};

enum Outcome {
    Passed,
    Failed { message: String, text: String },
    Skipped { message: String },
}

struct Case {
    classname: String,
    name: String,
    time_ms: i64,
    outcome: Outcome,
    properties: Vec<(String, String)>,
    out: Option<String>,
}

pub(crate) fn render(r: &RunReport) -> String {
    let summary = r.summary();
    let cases: Vec<Case> = r.stages.iter().flat_map(|s| stage_cases(r, s)).collect();
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
        .count();
    let time = secs(r.run.took_ms(r.generated_at.max(r.run.started_at)));
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        r#"<testsuites name="gauntlet" tests="{}" failures="{failures}" errors="0" skipped="{skipped}" time="{time}">"#,
        cases.len()
    );
    let _ = write!(
        x,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="{skipped}" time="{time}" timestamp="{}""#,
        attr(&r.run.plan_name),
        cases.len(),
        junit_timestamp(r.run.started_at),
    );
    if let Some(host) = &r.run.owner.host {
        let _ = write!(x, r#" hostname="{}""#, attr(host));
    }
    x.push_str(">\n");
    let mut props = vec![
        ("gauntlet.run".to_owned(), r.run.id.to_string()),
        ("gauntlet.state".to_owned(), r.run.state.to_string()),
        ("gauntlet.result".to_owned(), summary.result.to_string()),
        ("gauntlet.headline".to_owned(), summary.headline.clone()),
        (
            "gauntlet.overrides".to_owned(),
            r.overrides.len().to_string(),
        ),
        ("gauntlet.seed".to_owned(), r.run.seed.to_string()),
        ("gauntlet.plan_sha256".to_owned(), r.run.plan_sha256.clone()),
        (
            "gauntlet.version".to_owned(),
            r.run.gauntlet_version.clone(),
        ),
    ];
    for (i, o) in r.overrides.iter().enumerate() {
        props.push((
            format!("gauntlet.override.{}", i + 1),
            format!(
                "stage {} attempt {} by {} at {}: {}",
                o.stage,
                o.attempt,
                o.who,
                utc(o.time),
                o.reason
            ),
        ));
    }
    write_properties(&mut x, "    ", &props);
    for case in &cases {
        write_case(&mut x, case);
    }
    if !r.overrides.is_empty() {
        let _ = writeln!(
            x,
            "    <system-out>{}</system-out>",
            text(&format!("{}\n", summary.headline))
        );
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn secs(ms: i64) -> String {
    format!("{:.3}", ms.max(0) as f64 / 1000.0)
}

fn write_properties(x: &mut String, indent: &str, props: &[(String, String)]) {
    if props.is_empty() {
        return;
    }
    let _ = writeln!(x, "{indent}<properties>");
    for (name, value) in props {
        let _ = writeln!(
            x,
            r#"{indent}  <property name="{}" value="{}"/>"#,
            attr(name),
            attr(value)
        );
    }
    let _ = writeln!(x, "{indent}</properties>");
}

fn write_case(x: &mut String, c: &Case) {
    let _ = write!(
        x,
        r#"    <testcase classname="{}" name="{}" time="{}""#,
        attr(&c.classname),
        attr(&c.name),
        secs(c.time_ms)
    );
    if matches!(c.outcome, Outcome::Passed) && c.properties.is_empty() && c.out.is_none() {
        x.push_str("/>\n");
        return;
    }
    x.push_str(">\n");
    write_properties(x, "      ", &c.properties);
    match &c.outcome {
        Outcome::Passed => {}
        Outcome::Failed {
            message,
            text: body,
        } => {
            let _ = writeln!(
                x,
                r#"      <failure message="{}" type="failure">{}</failure>"#,
                attr(message),
                text(body)
            );
        }
        Outcome::Skipped { message } => {
            let _ = writeln!(x, r#"      <skipped message="{}"/>"#, attr(message));
        }
    }
    if let Some(out) = &c.out {
        let _ = writeln!(x, "      <system-out>{}</system-out>", text(out));
    }
    x.push_str("    </testcase>\n");
}

fn override_properties(o: &Override) -> Vec<(String, String)> {
    vec![
        ("overridden".into(), "true".into()),
        ("override.who".into(), o.who.clone()),
        ("override.reason".into(), o.reason.clone()),
        ("override.time".into(), utc(o.time)),
        ("override.attempt".into(), o.attempt.to_string()),
    ]
}

fn override_text(o: &Override, what: &str, failure: &str) -> String {
    format!(
        "OVERRIDDEN by {} at {}: {}\nThe {what} had failed; an operator accepted it.\n{failure}",
        o.who,
        utc(o.time),
        o.reason
    )
}

/// The stage's case, then one per test command it reported.
fn stage_cases(r: &RunReport, s: &Stage) -> Vec<Case> {
    let a = s.current();
    let time_ms = a
        .started_at
        .map_or(0, |b| a.ended_at.unwrap_or(r.generated_at) - b);
    let tests = TestResult::list(a.summary.as_ref());
    let over = (a.state == StageState::Overridden)
        .then(|| r.override_of(&s.name, a.attempt))
        .flatten();
    let message = a.message.clone();
    let details = failure_details(a.summary.as_ref(), &tests);
    let mut properties = Vec::new();
    let mut out = None;
    let outcome = match a.state {
        StageState::Passed => {
            if let Some(v) = &a.summary
                && let Some(status) = v.get("status").and_then(|s| s.as_str())
                && status != "pass"
            {
                let reasons = lines_at(v, &["reasons"]);
                out = Some(format!(
                    "{}: {}\n",
                    status.to_ascii_uppercase(),
                    reasons.join("; ")
                ));
            }
            Outcome::Passed
        }
        StageState::Failed => Outcome::Failed {
            message: message.clone().unwrap_or_else(|| "stage failed".into()),
            text: format!(
                "{}\n{details}",
                message.as_deref().unwrap_or("stage failed")
            ),
        },
        StageState::Overridden => {
            let why = format!(
                "{}\n{details}",
                message.as_deref().unwrap_or("stage failed")
            );
            match over {
                Some(o) => {
                    properties = override_properties(o);
                    out = Some(override_text(o, "stage", &why));
                }
                None => {
                    properties = vec![("overridden".into(), "true".into())];
                    out = Some(format!("OVERRIDDEN (no override record found)\n{why}"));
                }
            }
            Outcome::Passed
        }
        StageState::Pending => Outcome::Skipped {
            message: match &r.run.held_stage {
                Some(h) => format!("pending: not run (the run is {} at {h})", r.run.state),
                None => "pending: not run".into(),
            },
        },
        StageState::Running => Outcome::Skipped {
            message: "running: not finished when the report was made".into(),
        },
        StageState::Skipped => Outcome::Skipped {
            message: message.clone().unwrap_or_else(|| "skipped".into()),
        },
    };
    let mut cases = vec![Case {
        classname: "stage".into(),
        name: s.name.clone(),
        time_ms,
        outcome,
        properties,
        out,
    }];
    for t in &tests {
        cases.push(test_case(s, t, over, a.state));
    }
    cases
}

fn test_case(s: &Stage, t: &TestResult, over: Option<&Override>, state: StageState) -> Case {
    let mut properties = Vec::new();
    let mut out = None;
    let outcome = match t.passed {
        Some(true) => Outcome::Passed,
        None => Outcome::Skipped {
            message: "no result reported".into(),
        },
        Some(false) if state == StageState::Overridden => {
            let failure = test_failure_text(t);
            match over {
                Some(o) => {
                    properties = override_properties(o);
                    out = Some(override_text(o, "test", &failure));
                }
                None => {
                    properties = vec![("overridden".into(), "true".into())];
                    out = Some(format!("OVERRIDDEN\n{failure}"));
                }
            }
            Outcome::Passed
        }
        Some(false) => Outcome::Failed {
            message: format!("{} ({})", t.verdict_text(), t.exit_text()),
            text: test_failure_text(t),
        },
    };
    if let Some(cmd) = &t.command {
        properties.push(("command".into(), cmd.clone()));
    }
    Case {
        classname: format!("test.{}", s.name),
        name: t.name.clone(),
        time_ms: t.duration_ms.map_or(0, |d| d.round() as i64),
        outcome,
        properties,
        out,
    }
}

fn test_failure_text(t: &TestResult) -> String {
    let mut s = format!("{}: {} ({})\n", t.name, t.verdict_text(), t.exit_text());
    if let Some(cmd) = &t.command {
        let _ = writeln!(s, "command: {cmd}");
    }
    for label in ["stderr", "stdout"] {
        if let Some((title, lines)) = t.output(label) {
            let title = title
                .strip_prefix(&format!("{}: ", t.name))
                .unwrap_or(&title);
            let _ = writeln!(s, "--- {title} ---");
            for l in lines {
                let _ = writeln!(s, "{l}");
            }
        }
    }
    for (label, path) in [
        ("stdout", &t.stdout_artifact),
        ("stderr", &t.stderr_artifact),
    ] {
        if let Some(p) = path {
            let _ = writeln!(s, "{label} log: {p}");
        }
    }
    s
}

/// What explains a stage's failure: its failed tests' tails, its reasons
/// and its log tails.
fn failure_details(summary: Option<&serde_json::Value>, tests: &[TestResult]) -> String {
    let mut s = String::new();
    if let Some(v) = summary {
        for reason in lines_at(v, &["reasons"]) {
            let _ = writeln!(s, "reason: {reason}");
        }
    }
    for t in tests.iter().filter(|t| t.passed == Some(false)) {
        s.push_str(&test_failure_text(t));
    }
    if let Some(serde_json::Value::Object(tails)) = summary.and_then(|v| v.get("log_tail")) {
        for (service, lines) in tails {
            let _ = writeln!(s, "--- log tail: {service} ---");
            for l in lines_at(lines, &[]) {
                let _ = writeln!(s, "{l}");
            }
        }
    }
    s
}

/// Whether XML 1.0 allows the character at all.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Element text: markup escaped, characters XML forbids dropped.
pub(crate) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value (in double quotes): as [`text`], with quotes and
/// line breaks as references so they survive attribute normalization.
pub(crate) fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_drops_what_xml_forbids() {
        assert_eq!(
            text("a<b>&c ]]> \u{1b}[31mred\u{0}"),
            "a&lt;b&gt;&amp;c ]]&gt; [31mred"
        );
        assert_eq!(
            attr("say \"hi\"\n'x'"),
            "say &quot;hi&quot;&#10;&apos;x&apos;"
        );
        assert_eq!(text("\u{FFFE}ok\u{FFFF}"), "ok");
        assert_eq!(text("tab\tok"), "tab\tok");
    }
}
