//! What a checker program's end and output mean: pure functions from how
//! it ended and what it printed to the one result shape. Every way a
//! program can fail to give a verdict is `unknown`, never a pass.

use std::time::Duration;

use gauntlet_check::{CheckResult, EVIDENCE_COUNT, Validity};
use serde_json::{Map, Value, json};

/// How a checker program ended, as far as its verdict is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited by itself with this code.
    Exited(i32),
    /// A signal killed it (`"SIGSEGV"`).
    Signaled(String),
    /// It ran past its timeout and was killed with its process group.
    TimedOut(Duration),
    /// It could not be started; the reason names the program.
    NotStarted(String),
    /// Its exit status was lost (reaped elsewhere).
    StatusLost,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Exited(code) => write!(f, "exited with code {code}"),
            Ended::Signaled(sig) => write!(f, "was killed by {sig}"),
            Ended::TimedOut(t) => write!(
                f,
                "ran past its timeout of {} s and was killed",
                t.as_secs_f64()
            ),
            Ended::NotStarted(why) => write!(f, "could not be started: {why}"),
            Ended::StatusLost => f.write_str("ended with an exit status that was lost"),
        }
    }
}

/// Why a program's stdout is not a result object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadOutput {
    /// Nothing but whitespace.
    #[error("it printed nothing on stdout; a checker prints one JSON object")]
    Empty,
    /// More than the limit; the rest was discarded.
    #[error("it printed more than {limit} bytes on stdout")]
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// Not valid UTF-8.
    #[error("its stdout is not UTF-8 text")]
    NotUtf8,
    /// Not one JSON value (or trailing text after it).
    #[error("its stdout is not one JSON object: {error}; it begins {start:?}")]
    NotJson {
        /// serde_json's message, with line and column.
        error: String,
        /// The first characters printed.
        start: String,
    },
    /// JSON, but not an object.
    #[error("its stdout is JSON but not an object (it is {0})")]
    NotAnObject(&'static str),
    /// The object has no `valid`.
    #[error("its result has no \"valid\" field; give true, false or \"unknown\"")]
    NoValid,
    /// `valid` is something else than the three values.
    #[error("its \"valid\" is {0}; give true, false or \"unknown\"")]
    BadValid(String),
    /// `checker` is there but not a string.
    #[error("its \"checker\" is {0}, not a string")]
    BadChecker(String),
    /// `evidence` is there but not an array.
    #[error("its \"evidence\" is {0}, not an array")]
    BadEvidence(String),
}

/// The verdict of a checker program registered as `name`: its result
/// object when it exited 0 and printed one, otherwise `unknown` with why
/// and the last lines of its stderr.
///
/// `stdout_truncated` says the program printed more than `stdout_limit`
/// bytes and only the first ones are in `stdout`.
pub fn judge(
    name: &str,
    program: &str,
    ended: &Ended,
    stdout: &[u8],
    stdout_truncated: bool,
    stdout_limit: usize,
    stderr_tail: &[String],
) -> CheckResult {
    let problem = match ended {
        Ended::Exited(0) if stdout_truncated => BadOutput::TooLong {
            limit: stdout_limit,
        }
        .to_string(),
        Ended::Exited(0) => match parse(name, stdout) {
            Ok(result) => return result,
            Err(bad) => bad.to_string(),
        },
        other => format!("the checker program {other}"),
    };
    let mut r = CheckResult::new(name);
    let mut item = json!({
        "problem": problem,
        "program": program,
        "stderr-tail": stderr_tail,
    });
    if let Ended::Exited(code) = ended {
        item["exit"] = json!(code);
    }
    if !stdout.is_empty() && !matches!(ended, Ended::Exited(0)) {
        item["stdout-start"] = json!(start_of(stdout));
    }
    r.undecided(item);
    r
}

/// Reads one result object: `{"valid": true | false | "unknown",
/// "checker": "...", ...figures, "evidence": [...]}`. A missing `checker`
/// is `name`; evidence beyond the cap is counted, not kept.
pub fn parse(name: &str, stdout: &[u8]) -> Result<CheckResult, BadOutput> {
    let text = std::str::from_utf8(stdout).map_err(|_| BadOutput::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(BadOutput::Empty);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| BadOutput::NotJson {
        error: e.to_string(),
        start: start_of(stdout),
    })?;
    let mut object: Map<String, Value> = match value {
        Value::Object(o) => o,
        other => return Err(BadOutput::NotAnObject(kind(&other))),
    };
    let valid = match object.remove("valid") {
        None => return Err(BadOutput::NoValid),
        Some(Value::Bool(b)) => Validity::from(b),
        Some(Value::String(s)) if s == "unknown" => Validity::Unknown,
        Some(other) => return Err(BadOutput::BadValid(other.to_string())),
    };
    let checker = match object.remove("checker") {
        None => name.to_owned(),
        Some(Value::String(s)) => s,
        Some(other) => return Err(BadOutput::BadChecker(other.to_string())),
    };
    let evidence = match object.remove("evidence") {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(BadOutput::BadEvidence(other.to_string())),
    };
    let claimed_count = object.remove(EVIDENCE_COUNT).and_then(|v| v.as_u64());
    let mut r = CheckResult::new(checker);
    r.valid = valid;
    for (k, v) in object {
        r.set(&k, v);
    }
    for item in evidence {
        r.evidence(item);
    }
    // A program that capped its own evidence says how many there were.
    if let Some(n) = claimed_count
        && n > r.evidence_count()
    {
        r.set(EVIDENCE_COUNT, n);
    }
    Ok(r)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first 120 characters of what was printed, for the evidence.
fn start_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(480)]);
    text.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(ended: Ended, stdout: &str) -> CheckResult {
        judge(
            "lease",
            "./lease.py",
            &ended,
            stdout.as_bytes(),
            false,
            1 << 20,
            &["boom".to_owned()],
        )
    }

    #[test]
    fn a_valid_result_is_kept_with_its_figures_and_evidence() {
        let r = judged(
            Ended::Exited(0),
            r#"{"valid": true, "checker": "lease-exclusivity", "leases": 12, "evidence": []}"#,
        );
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.checker, "lease-exclusivity");
        assert_eq!(r.figure("leases"), Some(&json!(12)));
        assert_eq!(r.evidence_count(), 0);
    }

    #[test]
    fn false_and_unknown_are_taken_at_their_word_and_checker_defaults_to_the_name() {
        let r = judged(
            Ended::Exited(0),
            "\n{\"valid\": false, \"evidence\": [{\"problem\": \"two holders\"}]}\n",
        );
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.checker, "lease");
        assert_eq!(r.evidence, vec![json!({"problem": "two holders"})]);
        assert_eq!(r.evidence_count(), 1);
        let r = judged(Ended::Exited(0), r#"{"valid": "unknown"}"#);
        assert_eq!(r.valid, Validity::Unknown);
    }

    #[test]
    fn evidence_is_capped_and_a_claimed_count_kept() {
        let items: Vec<Value> = (0..40).map(|i| json!(i)).collect();
        let text = json!({"valid": false, "evidence": items, "evidence-count": 100}).to_string();
        let r = judged(Ended::Exited(0), &text);
        assert_eq!(r.evidence.len(), gauntlet_check::EVIDENCE_CAP);
        assert_eq!(r.evidence_count(), 100);
    }

    fn unknown_because(ended: Ended, stdout: &str, why: &str) {
        let r = judged(ended, stdout);
        assert_eq!(r.valid, Validity::Unknown, "{stdout:?}");
        assert_eq!(r.checker, "lease");
        let item = &r.evidence[0];
        let problem = item["problem"].as_str().unwrap();
        assert!(problem.contains(why), "{problem:?} should say {why:?}");
        assert_eq!(item["stderr-tail"], json!(["boom"]));
        assert_eq!(item["program"], json!("./lease.py"));
    }

    #[test]
    fn every_way_of_not_giving_a_verdict_is_unknown() {
        let ok = r#"{"valid": true}"#;
        unknown_because(Ended::Exited(3), ok, "exited with code 3");
        unknown_because(Ended::Signaled("SIGSEGV".into()), "", "killed by SIGSEGV");
        unknown_because(
            Ended::TimedOut(Duration::from_millis(1500)),
            "",
            "timeout of 1.5 s",
        );
        unknown_because(Ended::NotStarted("no such file".into()), "", "no such file");
        unknown_because(Ended::Exited(0), "", "printed nothing");
        unknown_because(Ended::Exited(0), "  \n", "printed nothing");
        unknown_because(Ended::Exited(0), "all good!", "not one JSON object");
        unknown_because(
            Ended::Exited(0),
            "{\"valid\": true}\n{}",
            "not one JSON object",
        );
        unknown_because(Ended::Exited(0), "[true]", "not an object (it is an array)");
        unknown_because(Ended::Exited(0), r#"{"checker": "x"}"#, "no \"valid\"");
        unknown_because(Ended::Exited(0), r#"{"valid": "yes"}"#, "\"yes\"");
        unknown_because(Ended::Exited(0), r#"{"valid": 1}"#, "give true, false");
        unknown_because(Ended::Exited(0), r#"{"valid": null}"#, "give true, false");
        unknown_because(
            Ended::Exited(0),
            r#"{"valid": true, "checker": 3}"#,
            "\"checker\" is 3",
        );
        unknown_because(
            Ended::Exited(0),
            r#"{"valid": true, "evidence": "none"}"#,
            "not an array",
        );
        let r = judge(
            "lease",
            "p",
            &Ended::Exited(0),
            ok.as_bytes(),
            true,
            10,
            &[],
        );
        assert_eq!(r.valid, Validity::Unknown);
        assert!(
            r.evidence[0]["problem"]
                .as_str()
                .unwrap()
                .contains("more than 10 bytes")
        );
        let r = judge("lease", "p", &Ended::Exited(0), b"\xff\xfe", false, 10, &[]);
        assert_eq!(r.valid, Validity::Unknown);
    }

    #[test]
    fn a_non_zero_exit_is_unknown_even_with_a_passing_object() {
        let r = judged(Ended::Exited(1), r#"{"valid": true}"#);
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.evidence[0]["exit"], json!(1));
        assert_eq!(r.evidence[0]["stdout-start"], json!(r#"{"valid": true}"#));
    }
}
