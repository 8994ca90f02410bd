//! `[[stage]]` tables: kinds, default names and each kind's keys.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::hardware::AllowedDevices;
use super::{CHECK_TIMEOUT, COMMAND_TIMEOUT, Cx, list_or_none, modules_of, sort_modules};
use crate::error::PlanError;
use crate::raw::{Entries, RawExpected, RawFigure, RawSeverity, RawStage};
use crate::{
    CheckBy, CheckStage, Command, Expect, ExpectCheck, Expectation, Figure, FigureSource, Service,
    Severity, StageKind, StageSpec, TestCommand,
};

/// A built-in `checker` reads this history unless `history` says otherwise
/// (relative to the run's directory, where `gauntlet test` writes it).
const DEFAULT_HISTORY: &str = "history.jsonl";

const KINDS: [&str; 8] = [
    "up", "command", "probe", "wait", "down", "cycle", "check", "matrix",
];

impl Cx<'_> {
    pub(super) fn stages(
        &self,
        raw: &[Spanned<RawStage>],
        services: &[Service],
        lab: Option<&crate::LabSpec>,
        allowed_devices: Option<&AllowedDevices>,
    ) -> Result<Vec<StageSpec>, PlanError> {
        // Kinds and explicit names first: default names must avoid every
        // explicit one, wherever it appears.
        let mut taken: HashSet<String> = HashSet::new();
        for r in raw {
            let s = r.get_ref();
            let kind = s.kind.get_ref().as_str();
            if !KINDS.contains(&kind) {
                return Err(self.err(
                    s.kind.span(),
                    format!(
                        "unknown stage kind \"{kind}\"; kinds are: {}",
                        KINDS.join(", ")
                    ),
                ));
            }
            let allowed = allowed_keys(kind);
            if let Some((key, span)) = s
                .present_keys()
                .into_iter()
                .find(|(k, _)| !allowed.contains(k))
            {
                let takes = if allowed.is_empty() {
                    "only `name` and `kind`".to_owned()
                } else {
                    allowed
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(self.err(
                    span,
                    format!(
                        "`{key}` does not apply to a stage of kind \"{kind}\" (it takes {takes})"
                    ),
                ));
            }
            if let Some(name) = &s.name {
                self.check_name(name, "stage")?;
                if !taken.insert(name.get_ref().clone()) {
                    return Err(self.err(
                        name.span(),
                        format!("duplicate stage name \"{}\"", name.get_ref()),
                    ));
                }
            }
        }
        let mut names = DefaultNames::new(taken);
        raw.iter()
            .map(|r| {
                let s = r.get_ref();
                let name = match &s.name {
                    Some(n) => n.get_ref().clone(),
                    None => names.next(s.kind.get_ref()),
                };
                let kind = match s.kind.get_ref().as_str() {
                    "matrix" => StageKind::Matrix(self.matrix(r, lab)?),
                    _ => self.stage_kind(r, &name, services)?,
                };
                let guards = self.guards(r, &name, allowed_devices)?;
                Ok(StageSpec { name, kind, guards })
            })
            .collect()
    }

    fn stage_kind(
        &self,
        spanned: &Spanned<RawStage>,
        name: &str,
        services: &[Service],
    ) -> Result<StageKind, PlanError> {
        let s = spanned.get_ref();
        let all: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        Ok(match s.kind.get_ref().as_str() {
            kind @ ("up" | "down") => {
                let services = match &s.services {
                    Some(list) => self.service_list(list, "services", &all)?,
                    None if all.is_empty() => {
                        return Err(self.err(
                            spanned.span(),
                            format!(
                                "a stage of kind \"{kind}\" needs services, and the plan has no [[service]]"
                            ),
                        ));
                    }
                    None => all,
                };
                if kind == "up" {
                    StageKind::Up { services }
                } else {
                    StageKind::Down { services }
                }
            }
            "command" => {
                let command = s.command.as_ref().ok_or_else(|| {
                    self.err(
                        spanned.span(),
                        format!("command stage \"{name}\" has no `command`"),
                    )
                })?;
                StageKind::Command(TestCommand {
                    name: name.to_owned(),
                    run: Command {
                        command: self.command_line(command)?,
                        cwd: self.cwd(s.cwd.as_ref(), &self.dir)?,
                        env: s
                            .env
                            .as_ref()
                            .map_or(Ok(BTreeMap::new()), |e| self.env(e.get_ref()))?,
                    },
                    timeout: self.duration_or(s.timeout.as_ref(), "timeout", COMMAND_TIMEOUT)?,
                    expect: Expect {
                        exit: s.expect_exit.as_ref().map_or(0, |e| *e.get_ref()),
                        stdout_contains: s
                            .expect_stdout
                            .as_ref()
                            .map(|e| self.expand(e))
                            .transpose()?,
                        figures: match &s.figure {
                            None => Vec::new(),
                            Some(list) => self.figures(list.get_ref())?,
                        },
                    },
                })
            }
            "check" => StageKind::Check(CheckStage {
                name: name.to_owned(),
                by: self.check_by(spanned, name)?,
            }),
            "probe" => StageKind::Probe {
                expected: match &s.expected {
                    Some(e) => self.expectations(e.get_ref())?,
                    None => Vec::new(),
                },
            },
            "wait" => {
                let duration = s.duration.as_ref().ok_or_else(|| {
                    self.err(
                        spanned.span(),
                        format!("wait stage \"{name}\" has no `duration`"),
                    )
                })?;
                StageKind::Wait {
                    duration: self.duration(duration, "duration")?,
                }
            }
            "cycle" => {
                let with_tests = modules_of(services);
                let modules = match &s.modules {
                    Some(list) => {
                        let modules = self.service_list(list, "modules", &all)?;
                        for (m, raw) in modules.iter().zip(list.get_ref()) {
                            if !with_tests.contains(m) {
                                return Err(self.err(
                                    raw.span(),
                                    format!(
                                        "module \"{m}\" has no tests to cycle; modules with tests are: {}",
                                        list_or_none(&with_tests)
                                    ),
                                ));
                            }
                        }
                        modules
                    }
                    None if with_tests.is_empty() => {
                        return Err(self.err(
                            spanned.span(),
                            format!("cycle stage \"{name}\": no service has `tests` to cycle"),
                        ));
                    }
                    None => with_tests,
                };
                let cycles = match &s.cycles {
                    Some(c) if *c.get_ref() == 0 => {
                        return Err(self.err(c.span(), "`cycles` must be at least 1"));
                    }
                    Some(c) if *c.get_ref() > crate::MAX_CYCLES => {
                        return Err(self.err(
                            c.span(),
                            format!("`cycles` is at most {}", crate::MAX_CYCLES),
                        ));
                    }
                    Some(c) => *c.get_ref(),
                    None => 1,
                };
                StageKind::Cycle {
                    modules: sort_modules(services, &modules),
                    cycles,
                }
            }
            kind => {
                return Err(self.err(
                    s.kind.span(),
                    format!(
                        "unknown stage kind \"{kind}\"; kinds are: {}",
                        KINDS.join(", ")
                    ),
                ));
            }
        })
    }

    /// A check stage's `program` (with `cwd`, `env`, `timeout`) or
    /// `checker` (with `history`): exactly one of the two.
    fn check_by(&self, spanned: &Spanned<RawStage>, name: &str) -> Result<CheckBy, PlanError> {
        let s = spanned.get_ref();
        match (&s.program, &s.checker) {
            (Some(_), Some(checker)) => Err(self.err(
                checker.span(),
                format!("check stage \"{name}\" has both `program` and `checker`; give one"),
            )),
            (None, None) => Err(self.err(
                spanned.span(),
                format!(
                    "check stage \"{name}\" has neither `program` (a checker program) nor `checker` (a built-in checker's name)"
                ),
            )),
            (Some(program), None) => {
                if let Some(h) = &s.history {
                    return Err(self.err(
                        h.span(),
                        "`history` goes with `checker`; a checker program reads the run's directory itself",
                    ));
                }
                Ok(CheckBy::Program {
                    run: Command {
                        command: self.command_line(program)?,
                        cwd: self.cwd(s.cwd.as_ref(), &self.dir)?,
                        env: s
                            .env
                            .as_ref()
                            .map_or(Ok(BTreeMap::new()), |e| self.env(e.get_ref()))?,
                    },
                    timeout: self.duration_or(s.timeout.as_ref(), "timeout", CHECK_TIMEOUT)?,
                })
            }
            (None, Some(checker)) => {
                let program_keys = [
                    ("cwd", s.cwd.as_ref().map(Spanned::span)),
                    ("env", s.env.as_ref().map(Spanned::span)),
                    ("timeout", s.timeout.as_ref().map(Spanned::span)),
                ];
                if let Some((key, Some(span))) = program_keys.into_iter().find(|(_, s)| s.is_some()) {
                    return Err(self.err(
                        span,
                        format!("`{key}` goes with `program`; a built-in `checker` takes only `history`"),
                    ));
                }
                let known = gauntlet_checkers::builtin();
                let wanted = self.expand(checker)?;
                if let Err(e) = known.get(&wanted) {
                    return Err(self.err(checker.span(), e.to_string()));
                }
                let history = match &s.history {
                    Some(h) => self.expand(h)?.into(),
                    None => PathBuf::from(DEFAULT_HISTORY),
                };
                Ok(CheckBy::Builtin {
                    checker: wanted,
                    history,
                })
            }
        }
    }

    /// A list of service names: each known, none twice, not empty.
    fn service_list(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        all: &[String],
    ) -> Result<Vec<String>, PlanError> {
        if list.get_ref().is_empty() {
            return Err(self.err(list.span(), format!("`{key}` is empty")));
        }
        let mut out: Vec<String> = Vec::new();
        for item in list.get_ref() {
            let n = item.get_ref();
            if !all.contains(n) {
                return Err(self.err(
                    item.span(),
                    format!(
                        "unknown service \"{n}\" in {key}; services are: {}",
                        list_or_none(all)
                    ),
                ));
            }
            if out.contains(n) {
                return Err(self.err(item.span(), format!("\"{n}\" is listed twice in {key}")));
            }
            out.push(n.clone());
        }
        Ok(out)
    }

    fn expectations(
        &self,
        raw: &Entries<Spanned<RawExpected>>,
    ) -> Result<Vec<Expectation>, PlanError> {
        raw.0
            .iter()
            .map(|(field, value)| {
                let (check, severity) = match value.get_ref() {
                    RawExpected::Equals(v) => (
                        ExpectCheck::Equals(self.json(v, value.span())?),
                        Severity::Critical,
                    ),
                    RawExpected::Table(t) => {
                        let set: Vec<(&str, Range<usize>)> = [
                            ("equals", t.equals.as_ref().map(Spanned::span)),
                            ("min", t.min.as_ref().map(Spanned::span)),
                            ("max", t.max.as_ref().map(Spanned::span)),
                            ("contains", t.contains.as_ref().map(Spanned::span)),
                        ]
                        .into_iter()
                        .filter_map(|(k, s)| s.map(|s| (k, s)))
                        .collect();
                        if let [(first, _), (second, span), ..] = set.as_slice() {
                            return Err(self.err(
                                span.clone(),
                                format!(
                                    "expected \"{}\" has both `{first}` and `{second}`; use exactly one of equals, min, max, contains",
                                    field.get_ref()
                                ),
                            ));
                        }
                        let check = if let Some(v) = &t.equals {
                            ExpectCheck::Equals(self.json(v.get_ref(), v.span())?)
                        } else if let Some(v) = &t.min {
                            ExpectCheck::Min(self.finite(v, "min")?)
                        } else if let Some(v) = &t.max {
                            ExpectCheck::Max(self.finite(v, "max")?)
                        } else if let Some(v) = &t.contains {
                            ExpectCheck::Contains(v.get_ref().clone())
                        } else {
                            return Err(self.err(
                                value.span(),
                                format!(
                                    "expected \"{}\" needs one of equals, min, max, contains",
                                    field.get_ref()
                                ),
                            ));
                        };
                        let severity = match t.severity {
                            None | Some(RawSeverity::Critical) => Severity::Critical,
                            Some(RawSeverity::Warning) => Severity::Warning,
                            Some(RawSeverity::Info) => Severity::Info,
                        };
                        (check, severity)
                    }
                };
                Ok(Expectation {
                    field: field.get_ref().clone(),
                    check,
                    severity,
                })
            })
            .collect()
    }

    /// `[[stage.figure]]` tables: where each number is, and its checks.
    pub(super) fn figures(&self, raw: &[Spanned<RawFigure>]) -> Result<Vec<Figure>, PlanError> {
        let mut out: Vec<Figure> = Vec::with_capacity(raw.len());
        for spanned in raw {
            let f = spanned.get_ref();
            self.check_name(&f.name, "figure")?;
            let name = f.name.get_ref().clone();
            if out.iter().any(|x| x.name == name) {
                return Err(self.err(f.name.span(), format!("two figures named \"{name}\"")));
            }
            let from = match (&f.json, &f.regex) {
                (Some(p), None) => {
                    let pointer = self.expand(p)?;
                    if !(pointer.is_empty() || pointer.starts_with('/')) {
                        return Err(self.err(
                            p.span(),
                            format!("JSON pointer {pointer:?} must start with `/` (RFC 6901: \"/jobs/0/read/iops\")"),
                        ));
                    }
                    // `~` escapes only `~0` (~) and `~1` (/): any other
                    // names nothing in any document.
                    if pointer
                        .match_indices('~')
                        .any(|(i, _)| !matches!(pointer.as_bytes().get(i + 1), Some(b'0' | b'1')))
                    {
                        return Err(self.err(
                            p.span(),
                            format!("JSON pointer {pointer:?} has a `~` that is not `~0` (a ~) or `~1` (a /), so it names nothing (RFC 6901)"),
                        ));
                    }
                    FigureSource::Json { pointer }
                }
                (None, Some(r)) => {
                    let pattern = self.expand(r)?;
                    let re = regex::Regex::new(&pattern).map_err(|e| {
                        self.err(r.span(), format!("regex {pattern:?} does not compile: {e}"))
                    })?;
                    if re.captures_len() < 2 {
                        return Err(self.err(
                            r.span(),
                            format!(
                                "regex {pattern:?} has no capture group: put the number in ( )"
                            ),
                        ));
                    }
                    FigureSource::Regex { pattern }
                }
                (Some(_), Some(r)) => {
                    return Err(self.err(r.span(), "give `json` or `regex`, not both"));
                }
                (None, None) => {
                    return Err(self.err(
                        spanned.span(),
                        format!("figure \"{name}\" needs `json` (a pointer) or `regex` (with a capture group)"),
                    ));
                }
            };
            let mut checks = Vec::new();
            if let Some(v) = &f.min {
                checks.push(ExpectCheck::Min(self.finite(v, "min")?));
            }
            if let Some(v) = &f.max {
                checks.push(ExpectCheck::Max(self.finite(v, "max")?));
            }
            if let Some(v) = &f.equals {
                if !checks.is_empty() {
                    return Err(self.err(v.span(), "`equals` goes alone, without `min` or `max`"));
                }
                // A JSON boolean reads as 1 or 0 (see `read_figure`), so
                // `equals = true` is `equals = 1`.
                let value = match self.json(v.get_ref(), v.span())? {
                    serde_json::Value::Bool(b) => serde_json::json!(u8::from(b)),
                    n if n.is_number() => n,
                    _ => {
                        return Err(self.err(
                            v.span(),
                            "a figure's `equals` is a number (or true / false)",
                        ));
                    }
                };
                checks.push(ExpectCheck::Equals(value));
            }
            out.push(Figure {
                name,
                from,
                checks,
                severity: match f.severity {
                    None | Some(RawSeverity::Critical) => Severity::Critical,
                    Some(RawSeverity::Warning) => Severity::Warning,
                    Some(RawSeverity::Info) => Severity::Info,
                },
                unit: f.unit.as_ref().map(|u| u.get_ref().clone()),
            });
        }
        Ok(out)
    }

    fn finite(&self, v: &Spanned<f64>, key: &str) -> Result<f64, PlanError> {
        let x = *v.get_ref();
        if x.is_finite() {
            Ok(x)
        } else {
            Err(self.err(v.span(), format!("`{key}` must be a finite number")))
        }
    }

    fn json(&self, v: &toml::Value, span: Range<usize>) -> Result<serde_json::Value, PlanError> {
        use serde_json::Value as J;
        Ok(match v {
            toml::Value::String(s) => J::String(s.clone()),
            toml::Value::Integer(i) => J::from(*i),
            toml::Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .ok_or_else(|| self.err(span.clone(), "expected values must be finite numbers"))?,
            toml::Value::Boolean(b) => J::Bool(*b),
            toml::Value::Datetime(d) => J::String(d.to_string()),
            toml::Value::Array(items) => J::Array(
                items
                    .iter()
                    .map(|i| self.json(i, span.clone()))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => J::Object(
                t.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v, span.clone())?)))
                    .collect::<Result<_, PlanError>>()?,
            ),
        })
    }
}

/// The keys (besides `name` and `kind`) each stage kind takes.
fn allowed_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "up" | "down" => &["services"],
        "command" => &[
            "command",
            "cwd",
            "env",
            "timeout",
            "expect_exit",
            "expect_stdout",
            "figure",
            "destructive",
            "devices",
        ],
        "probe" => &["expected"],
        "wait" => &["duration"],
        "cycle" => &["modules", "cycles"],
        "check" => &["program", "cwd", "env", "timeout", "checker", "history"],
        "matrix" => &[
            "hosts",
            "connect",
            "attempts",
            "cool_off",
            "timeout",
            "thresholds",
            "cwd",
            "env",
        ],
        _ => &[],
    }
}

/// Default stage names: the kind, then `kind-2`, `kind-3`, … skipping any
/// name the plan already uses.
pub(super) struct DefaultNames {
    taken: HashSet<String>,
}

impl DefaultNames {
    pub(super) fn new(taken: HashSet<String>) -> Self {
        DefaultNames { taken }
    }

    pub(super) fn next(&mut self, kind: &str) -> String {
        let mut n = 1;
        loop {
            let candidate = if n == 1 {
                kind.to_owned()
            } else {
                format!("{kind}-{n}")
            };
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}
