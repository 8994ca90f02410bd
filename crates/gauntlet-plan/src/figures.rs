//! Figures: the numbers a command prints, read from its stdout and judged
//! (sans-IO: text in, a value or a reason out).
//!
//! A figure that cannot be read is never a pass: the stage fails, naming
//! the pointer or pattern that found nothing, whatever the figure's
//! severity — "not measured" is not "within bounds".

use crate::{ExpectCheck, Figure, FigureSource};

/// Reads `figure` from `stdout`: the number at its JSON pointer, or its
/// regex's first capture group. `Err` says why there is none.
pub fn read_figure(stdout: &str, figure: &Figure) -> Result<f64, String> {
    match &figure.from {
        FigureSource::Json { pointer } => {
            let doc = first_json(stdout).map_err(|e| format!("{e}, so {pointer} names nothing"))?;
            let found = doc
                .pointer(pointer)
                .ok_or_else(|| format!("{pointer} names nothing in stdout's JSON"))?;
            number(found).ok_or_else(|| format!("{pointer} is {found}, not a number"))
        }
        FigureSource::Regex { pattern } => {
            // Checked when the plan loads; a plan edited by hand since is
            // told, not a panic.
            let re = regex::Regex::new(pattern).map_err(|e| format!("regex {pattern:?}: {e}"))?;
            let caps = re
                .captures(stdout)
                .ok_or_else(|| format!("regex {pattern:?} matches nothing in stdout"))?;
            let text = caps
                .get(1)
                .ok_or_else(|| format!("regex {pattern:?} has no capture group 1"))?
                .as_str();
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("regex {pattern:?} captured {text:?}, not a number"))
        }
    }
}

/// The first JSON document in `text`, after whatever a tool printed
/// before it (a banner, a warning).
fn first_json(text: &str) -> Result<serde_json::Value, String> {
    let start = text
        .find(['{', '['])
        .ok_or_else(|| "stdout holds no JSON document".to_owned())?;
    serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<serde_json::Value>()
        .next()
        .unwrap_or_else(|| Err(serde::de::Error::custom("empty")))
        .map_err(|e| format!("stdout's JSON does not parse ({e})"))
}

/// A JSON number, or a string that is one (some tools quote them).
fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        // `smart_status.passed`: a verdict a tool prints as a boolean.
        serde_json::Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// The checks `value` breaks, each in a report's words.
pub fn judge_figure(figure: &Figure, value: f64) -> Vec<String> {
    let unit = figure
        .unit
        .as_deref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    figure
        .checks
        .iter()
        .filter_map(|check| match check {
            ExpectCheck::Min(min) if value < *min => Some(format!(
                "{} = {value}{unit}, below its min {min}{unit}",
                figure.name
            )),
            ExpectCheck::Max(max) if value > *max => Some(format!(
                "{} = {value}{unit}, above its max {max}{unit}",
                figure.name
            )),
            ExpectCheck::Equals(want) if number(want) != Some(value) => {
                Some(format!("{} = {value}{unit}, not {want}{unit}", figure.name))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;

    fn figure(from: FigureSource, checks: Vec<ExpectCheck>) -> Figure {
        Figure {
            name: "iops".into(),
            from,
            checks,
            severity: Severity::Critical,
            unit: Some("iops".into()),
        }
    }

    #[test]
    fn json_pointers_and_regex_captures_read_numbers() {
        let fio =
            r#"{"jobs":[{"read":{"iops":5123.4,"clat_ns":{"percentile":{"99.000000":"880"}}}}]}"#;
        let f = figure(
            FigureSource::Json {
                pointer: "/jobs/0/read/iops".into(),
            },
            vec![],
        );
        assert_eq!(read_figure(fio, &f), Ok(5123.4));
        let banner = format!("note: a banner first\n{fio}\n");
        assert_eq!(read_figure(&banner, &f), Ok(5123.4));
        let quoted = figure(
            FigureSource::Json {
                pointer: "/jobs/0/read/clat_ns/percentile/99.000000".into(),
            },
            vec![],
        );
        assert_eq!(read_figure(fio, &quoted), Ok(880.0));
        let text = "[  5]   0.00-1.00   sec  1.10 GBytes  9.43 Gbits/sec\n";
        let f = figure(
            FigureSource::Regex {
                pattern: r"([\d.]+) Gbits/sec".into(),
            },
            vec![],
        );
        assert_eq!(read_figure(text, &f), Ok(9.43));
    }

    #[test]
    fn a_figure_that_is_not_there_is_an_error_never_a_value() {
        let f = figure(
            FigureSource::Json {
                pointer: "/jobs/1/read/iops".into(),
            },
            vec![],
        );
        assert!(
            read_figure(r#"{"jobs":[]}"#, &f)
                .unwrap_err()
                .contains("names nothing")
        );
        assert!(
            read_figure("not json", &f)
                .unwrap_err()
                .contains("no JSON document")
        );
        assert!(
            read_figure("{\"a\": ", &f)
                .unwrap_err()
                .contains("does not parse")
        );
        let f = figure(
            FigureSource::Json {
                pointer: "/a".into(),
            },
            vec![],
        );
        assert!(
            read_figure(r#"{"a":"fast"}"#, &f)
                .unwrap_err()
                .contains("not a number")
        );
        let f = figure(
            FigureSource::Regex {
                pattern: r"(\d+) Mbits".into(),
            },
            vec![],
        );
        assert!(
            read_figure("nothing here", &f)
                .unwrap_err()
                .contains("matches nothing")
        );
    }

    #[test]
    fn checks_name_what_is_broken() {
        let f = figure(
            FigureSource::Regex {
                pattern: "(x)".into(),
            },
            vec![ExpectCheck::Min(5000.0), ExpectCheck::Max(9000.0)],
        );
        assert!(judge_figure(&f, 6000.0).is_empty());
        assert_eq!(
            judge_figure(&f, 4000.0),
            ["iops = 4000 iops, below its min 5000 iops"]
        );
        assert_eq!(judge_figure(&f, 9001.0).len(), 1);
        let eq = figure(
            FigureSource::Regex {
                pattern: "(x)".into(),
            },
            vec![ExpectCheck::Equals(serde_json::json!(0))],
        );
        assert!(judge_figure(&eq, 0.0).is_empty());
        assert_eq!(judge_figure(&eq, 3.0).len(), 1);
    }
}
