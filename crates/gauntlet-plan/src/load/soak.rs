//! `[soak]`, `[users]` and `[readback]`: what `gauntlet soak` runs, the
//! simulated users and how their writes are read back. `{{…}}` templates
//! are checked here; the faults, proxies, observer and invariants are in
//! `faults.rs`.

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::{Cx, LoadOptions, list_or_none};
use crate::error::PlanError;
use crate::raw::{RawCommandLine, RawPlan, RawProgram, RawReadback, RawSoak, RawStep, RawUsers};
use crate::soak::{ALL, HttpStep, Readback, Soak, UserScenario, Users, scenario_names};
use crate::vars::valid_name;
use crate::{Command, Service};

const MINUTES: f64 = 60.0;
const WARMUP: Duration = Duration::from_secs(10);
const CALM_TIMEOUT: Duration = Duration::from_secs(60);
const USERS: u32 = 10;
const THINK_MIN: Duration = Duration::from_millis(100);
const THINK_MAX: Duration = Duration::from_millis(500);
const KEYS_PER_USER: u32 = 100;
const UNREACHABLE_AFTER: Duration = Duration::from_secs(30);
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
const EXPECT_STATUS: u16 = 200;

/// Templates every user step may use; captures add to them.
const STEP_TEMPLATES: [&str; 4] = ["user", "key", "value", "seq"];
/// Templates the readback may use.
const READBACK_TEMPLATES: [&str; 1] = ["key"];

impl Cx<'_> {
    /// The soak sections: `None` for a plan without `[soak]` (which then
    /// must have none of them, and no soak option).
    pub(super) fn soak(
        &self,
        raw: &RawPlan,
        services: &[Service],
        opts: &LoadOptions,
        lab: Option<&crate::LabSpec>,
    ) -> Result<Option<Soak>, PlanError> {
        let Some(spanned) = &raw.soak else {
            self.no_soak_sections(raw)?;
            for (given, flag) in [
                (opts.minutes.is_some(), "--minutes"),
                (opts.users.is_some(), "--users"),
                (opts.scenario.is_some(), "--scenario"),
            ] {
                if given {
                    return Err(PlanError::option(format!(
                        "{flag} applies only to a soak plan, and this plan has no [soak]"
                    )));
                }
            }
            return Ok(None);
        };
        let s: &RawSoak = spanned.get_ref();
        let duration = self.soak_duration(s, opts.minutes)?;
        let users = raw.users.as_ref().ok_or_else(|| {
            self.err(
                spanned.span(),
                "a soak plan needs [users]: the simulated users (a `program` or [[users.step]])",
            )
        })?;
        let users = self.users(users, opts.users)?;
        let readback = raw.readback.as_ref().ok_or_else(|| {
            self.err(
                spanned.span(),
                "a soak plan needs [readback]: how to read a key's final value (`http`, `command` or `program = true`)",
            )
        })?;
        let readback = self.readback(readback, &users)?;
        let proxies = self.proxies(raw.proxy.as_ref(), services)?;
        let faults = self.faults(&raw.fault, services, &proxies, lab)?;
        let known = scenario_names(&faults);
        let scenario = match (&opts.scenario, &s.scenario) {
            (Some(given), _) => {
                if !known.contains(given) {
                    return Err(PlanError::option(format!(
                        "unknown scenario \"{given}\" in --scenario; scenarios are: {}",
                        known.join(", ")
                    )));
                }
                given.clone()
            }
            (None, Some(written)) => {
                if !known.contains(written.get_ref()) {
                    return Err(self.err(
                        written.span(),
                        format!(
                            "unknown scenario \"{}\"; scenarios are: {} (a scenario is named by the faults' `scenarios`)",
                            written.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
                written.get_ref().clone()
            }
            (None, None) => ALL.to_owned(),
        };
        Ok(Some(Soak {
            duration,
            warmup: self.duration_or(s.warmup.as_ref(), "warmup", WARMUP)?,
            calm_timeout: self.duration_or(
                s.calm_timeout.as_ref(),
                "calm_timeout",
                CALM_TIMEOUT,
            )?,
            scenario,
            seed: s.seed.as_ref().map(|v| *v.get_ref()),
            users,
            readback,
            faults,
            observer: self.observer(raw.observer.as_ref())?,
            invariants: self.invariants(raw.invariants.as_ref())?,
            proxies,
        }))
    }

    /// A plan without `[soak]` must not have the other soak sections.
    fn no_soak_sections(&self, raw: &RawPlan) -> Result<(), PlanError> {
        fn span<T>(s: &Option<Spanned<T>>) -> Option<Range<usize>> {
            s.as_ref().map(Spanned::span)
        }
        let present = [
            ("[users]", span(&raw.users)),
            ("[readback]", span(&raw.readback)),
            ("[[fault]]", raw.fault.first().map(Spanned::span)),
            ("[proxy]", span(&raw.proxy)),
            ("[observer]", span(&raw.observer)),
            ("[invariants]", span(&raw.invariants)),
        ];
        match present
            .into_iter()
            .filter_map(|(k, s)| s.map(|s| (k, s)))
            .min_by_key(|(_, s)| s.start)
        {
            Some((section, span)) => Err(self.err(
                span,
                format!("{section} belongs only in a soak plan: add [soak]"),
            )),
            None => Ok(()),
        }
    }

    /// `minutes` or `duration` (not both), then `--minutes`.
    fn soak_duration(&self, s: &RawSoak, minutes: Option<f64>) -> Result<Duration, PlanError> {
        let written = match (&s.minutes, &s.duration) {
            (Some(m), Some(d)) => {
                let later = if m.span().start > d.span().start {
                    m
                } else {
                    d
                };
                return Err(self.err(
                    later.span(),
                    "[soak] has both `minutes` and `duration`; use one of them",
                ));
            }
            (Some(m), None) => {
                let value = match m.get_ref() {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    other => {
                        return Err(self.err(
                            m.span(),
                            format!("`minutes` must be a number, not {}", other.type_str()),
                        ));
                    }
                };
                minutes_to_duration(value).ok_or_else(|| {
                    self.err(
                        m.span(),
                        format!(
                            "`minutes` must be a number of minutes > 0 and at most {MAX_SOAK_MINUTES} (365 days), not {value}"
                        ),
                    )
                })?
            }
            (None, Some(d)) => {
                let duration = self.duration(d, "duration")?;
                if duration.is_zero() {
                    return Err(self.err(d.span(), "`duration` must be more than 0"));
                }
                if duration > Duration::from_secs(MAX_SOAK_MINUTES as u64 * 60) {
                    return Err(self.err(d.span(), "`duration` must be at most 365 days"));
                }
                duration
            }
            (None, None) => minutes_to_duration(MINUTES).unwrap_or_default(),
        };
        match minutes {
            None => Ok(written),
            Some(m) => minutes_to_duration(m).ok_or_else(|| {
                PlanError::option(format!(
                    "--minutes must be a number of minutes > 0 and at most {MAX_SOAK_MINUTES} (365 days), not {m}"
                ))
            }),
        }
    }

    // ----- [users] ----------------------------------------------------

    fn users(&self, spanned: &Spanned<RawUsers>, count: Option<u32>) -> Result<Users, PlanError> {
        let u = spanned.get_ref();
        let count = match (count, &u.count) {
            (Some(0), _) => return Err(PlanError::option("--users must be at least 1")),
            (Some(n), _) => n,
            (None, Some(c)) if *c.get_ref() == 0 => {
                return Err(self.err(c.span(), "`count` must be at least 1"));
            }
            (None, Some(c)) => *c.get_ref(),
            (None, None) => USERS,
        };
        let think_min = self.duration_or(u.think_min.as_ref(), "think_min", THINK_MIN)?;
        let think_max = self.duration_or(u.think_max.as_ref(), "think_max", THINK_MAX)?;
        if think_max < think_min {
            let span = u
                .think_max
                .as_ref()
                .or(u.think_min.as_ref())
                .map_or(spanned.span(), Spanned::span);
            return Err(self.err(
                span,
                format!(
                    "`think_max` ({}) must be at least `think_min` ({})",
                    crate::format_duration(think_max),
                    crate::format_duration(think_min)
                ),
            ));
        }
        let keys_per_user = match &u.keys_per_user {
            Some(k) if *k.get_ref() == 0 => {
                return Err(self.err(k.span(), "`keys_per_user` must be at least 1"));
            }
            Some(k) => *k.get_ref(),
            None => KEYS_PER_USER,
        };
        let unreachable_after = self.duration_or(
            u.unreachable_after.as_ref(),
            "unreachable_after",
            UNREACHABLE_AFTER,
        )?;
        if unreachable_after.is_zero() {
            let span = u.unreachable_after.as_ref().map_or(0..0, Spanned::span);
            return Err(self.err(span, "`unreachable_after` must be more than 0"));
        }
        let scenario = match (&u.program, &u.step) {
            (Some(p), Some(s)) => {
                let later = if p.span().start > s.span().start {
                    p.span()
                } else {
                    s.span()
                };
                return Err(self.err(
                    later,
                    "[users] has both `program` and [[users.step]]; use exactly one of them",
                ));
            }
            (Some(p), None) => UserScenario::Program(self.program(p)?),
            (None, Some(steps)) => UserScenario::Http(self.steps(steps)?),
            (None, None) => {
                return Err(self.err(
                    spanned.span(),
                    "[users] needs exactly one of `program` (a user program) or [[users.step]] (HTTP steps)",
                ));
            }
        };
        Ok(Users {
            count,
            think_min,
            think_max,
            keys_per_user,
            scenario,
            unreachable_after,
        })
    }

    /// A program: a command line, or a table with `command`, `cwd`,
    /// `env`. It runs in the plan's directory unless `cwd` says otherwise.
    fn program(&self, spanned: &Spanned<RawProgram>) -> Result<Command, PlanError> {
        match spanned.get_ref() {
            RawProgram::Line(line) => Ok(Command {
                command: self.command_line_at(line, spanned.span())?,
                cwd: self.dir.clone(),
                env: Default::default(),
            }),
            RawProgram::Table(t) => {
                let command = t
                    .command
                    .as_ref()
                    .ok_or_else(|| self.err(spanned.span(), "a program table needs `command`"))?;
                Ok(Command {
                    command: self.command_line(command)?,
                    cwd: self.cwd(t.cwd.as_ref(), &self.dir)?,
                    env: self.env(&t.env)?,
                })
            }
        }
    }

    fn steps(&self, spanned: &Spanned<Vec<Spanned<RawStep>>>) -> Result<Vec<HttpStep>, PlanError> {
        if spanned.get_ref().is_empty() {
            return Err(self.err(spanned.span(), "`step` is empty: give at least one step"));
        }
        let mut names: HashSet<String> = HashSet::new();
        let mut known: Vec<String> = STEP_TEMPLATES.iter().map(|t| (*t).to_owned()).collect();
        let mut steps = Vec::new();
        for (i, r) in spanned.get_ref().iter().enumerate() {
            let step = self.step(r, i + 1, &known)?;
            if !names.insert(step.name.clone()) {
                let span = r.get_ref().name.as_ref().map_or(r.span(), Spanned::span);
                return Err(self.err(span, format!("duplicate step name \"{}\"", step.name)));
            }
            for name in step.capture.keys() {
                if !known.contains(name) {
                    known.push(name.clone());
                }
            }
            steps.push(step);
        }
        Ok(steps)
    }

    /// Step number `n` (1-based); `known` are the templates it may use.
    fn step(
        &self,
        spanned: &Spanned<RawStep>,
        n: usize,
        known: &[String],
    ) -> Result<HttpStep, PlanError> {
        let s = spanned.get_ref();
        let name = match &s.name {
            Some(name) => {
                self.check_name(name, "step")?;
                name.get_ref().clone()
            }
            None => format!("step-{n}"),
        };
        let method = match &s.method {
            Some(m) => {
                let word = m.get_ref();
                if !is_token(word) {
                    return Err(self.err(
                        m.span(),
                        format!("`method` {word:?} is not an HTTP method (a token such as GET, PUT, POST, DELETE)"),
                    ));
                }
                word.clone()
            }
            None => "GET".to_owned(),
        };
        let url = s
            .url
            .as_ref()
            .ok_or_else(|| self.err(spanned.span(), format!("step \"{name}\" has no `url`")))?;
        let url_text = self.expand(url)?;
        if !url_text.starts_with("http://") {
            return Err(self.err(
                url.span(),
                format!("step URL {url_text:?} must start with http:// (plain HTTP)"),
            ));
        }
        let mut used = self.check_templates(&url_text, url.span(), known, "the step's `url`")?;
        let body = match &s.body {
            Some(b) => {
                let text = self.expand(b)?;
                used.extend(self.check_templates(&text, b.span(), known, "the step's `body`")?);
                Some(text)
            }
            None => None,
        };
        let write = s.write.as_ref().is_some_and(|w| *w.get_ref());
        if let Some(w) = s.write.as_ref().filter(|w| *w.get_ref()) {
            let missing: Vec<&str> = ["key", "value"]
                .into_iter()
                .filter(|t| !used.iter().any(|u| u == t))
                .collect();
            if !missing.is_empty() {
                return Err(self.err(
                    w.span(),
                    format!(
                        "a write step must send {{{{key}}}} and {{{{value}}}} (in `url` or `body`), which are journaled as written; step \"{name}\" does not use {}",
                        missing
                            .iter()
                            .map(|m| format!("{{{{{m}}}}}"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                ));
            }
        }
        let expect_status = match &s.expect_status {
            Some(code) if !(100..=599).contains(code.get_ref()) => {
                return Err(self.err(
                    code.span(),
                    format!("`expect_status` {} is not an HTTP status", code.get_ref()),
                ));
            }
            Some(code) => *code.get_ref(),
            None => EXPECT_STATUS,
        };
        let mut capture = std::collections::BTreeMap::new();
        if let Some(c) = &s.capture {
            for (key, pointer) in &c.get_ref().0 {
                let k = key.get_ref();
                if !valid_name(k) {
                    return Err(self.err(
                        key.span(),
                        format!("invalid capture name {k:?}: use letters, digits and _ (it is used as {{{{{k}}}}})"),
                    ));
                }
                if STEP_TEMPLATES.contains(&k.as_str()) {
                    return Err(self.err(
                        key.span(),
                        format!(
                            "capture name \"{k}\" is built in ({}); choose another",
                            STEP_TEMPLATES.join(", ")
                        ),
                    ));
                }
                let p = pointer.get_ref();
                if let Err(why) = check_pointer(p) {
                    return Err(self.err(
                        pointer.span(),
                        format!("capture \"{k}\": {p:?} is not a JSON pointer: {why}"),
                    ));
                }
                capture.insert(k.clone(), p.clone());
            }
        }
        let timeout = self.duration_or(s.timeout.as_ref(), "timeout", STEP_TIMEOUT)?;
        if timeout.is_zero() {
            let span = s.timeout.as_ref().map_or(0..0, Spanned::span);
            return Err(self.err(span, "`timeout` must be more than 0"));
        }
        Ok(HttpStep {
            name,
            method,
            url: url_text,
            body,
            expect_status,
            write,
            capture,
            timeout,
        })
    }

    // ----- [readback] -------------------------------------------------

    fn readback(
        &self,
        spanned: &Spanned<RawReadback>,
        users: &Users,
    ) -> Result<Readback, PlanError> {
        let r = spanned.get_ref();
        let program = r.program.as_ref().filter(|p| *p.get_ref());
        let set: Vec<(&str, Range<usize>)> = [
            ("http", r.http.as_ref().map(Spanned::span)),
            ("command", r.command.as_ref().map(Spanned::span)),
            ("program = true", program.map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
        let mut by_place = set.clone();
        by_place.sort_by_key(|(_, s)| s.start);
        if let [(first, _), (second, span), ..] = by_place.as_slice() {
            return Err(self.err(
                span.clone(),
                format!(
                    "[readback] has both `{first}` and `{second}`; use exactly one of `http`, `command`, `program = true`"
                ),
            ));
        }
        let known: Vec<String> = READBACK_TEMPLATES.iter().map(|t| (*t).to_owned()).collect();
        let needs_key = |cx: &Self, used: &[String], span: Range<usize>, what: &str| {
            if used.iter().any(|u| u == "key") {
                Ok(())
            } else {
                Err(cx.err(
                    span,
                    format!("the readback {what} must use {{{{key}}}}: it is run once per key"),
                ))
            }
        };
        if let Some(url) = &r.http {
            let text = self.expand(url)?;
            if !text.starts_with("http://") {
                return Err(self.err(
                    url.span(),
                    format!("readback URL {text:?} must start with http:// (plain HTTP)"),
                ));
            }
            let used = self.check_templates(&text, url.span(), &known, "the readback")?;
            needs_key(self, &used, url.span(), "URL")?;
            Ok(Readback::Http { url: text })
        } else if let Some(command) = &r.command {
            let used = match command.get_ref() {
                RawProgram::Line(line) => self.command_templates(line, command.span(), &known)?,
                RawProgram::Table(t) => match &t.command {
                    Some(c) => self.command_templates(c.get_ref(), c.span(), &known)?,
                    None => Vec::new(), // `program` reports the missing command
                },
            };
            let command_run = self.program(command)?;
            needs_key(self, &used, command.span(), "command")?;
            Ok(Readback::Command(command_run))
        } else if let Some(p) = program {
            if !matches!(users.scenario, UserScenario::Program(_)) {
                return Err(self.err(
                    p.span(),
                    "`program = true` reads back through the user program, but [users] has HTTP steps, not a `program`",
                ));
            }
            Ok(Readback::Program)
        } else {
            Err(self.err(
                spanned.span(),
                "[readback] needs exactly one of `http`, `command`, `program = true`",
            ))
        }
    }

    /// The templates of a command's strings (each argument on its own).
    fn command_templates(
        &self,
        line: &RawCommandLine,
        span: Range<usize>,
        known: &[String],
    ) -> Result<Vec<String>, PlanError> {
        let mut used = Vec::new();
        match line {
            RawCommandLine::Shell(s) => {
                let text = self.expand_at(s, span.clone())?;
                used.extend(self.check_templates(&text, span, known, "the readback")?);
            }
            RawCommandLine::Argv(argv) => {
                for arg in argv {
                    let text = self.expand(arg)?;
                    used.extend(self.check_templates(&text, arg.span(), known, "the readback")?);
                }
            }
        }
        Ok(used)
    }

    // ----- templates ----------------------------------------------------

    /// Checks the `{{name}}` templates of `text` (a string of the plan,
    /// already `${…}`-expanded, written at `span`) against `known`;
    /// returns the names used. Errors point at the template itself.
    fn check_templates(
        &self,
        text: &str,
        span: Range<usize>,
        known: &[String],
        what: &str,
    ) -> Result<Vec<String>, PlanError> {
        let refs = template_refs(text).map_err(|bad| {
            self.err(
                self.template_span(text, bad.at, bad.len, span.clone()),
                bad.message,
            )
        })?;
        let mut used = Vec::new();
        for (at, len, name) in refs {
            if !known.iter().any(|k| k == name) {
                return Err(self.err(
                    self.template_span(text, at, len, span),
                    format!(
                        "unknown template {{{{{name}}}}} in {what}; templates here are: {}",
                        list_or_none(known)
                    ),
                ));
            }
            used.push(name.to_owned());
        }
        Ok(used)
    }

    /// Where `text[at..at + len]` is in the file: the same occurrence of
    /// the same text inside the string's source, else the string itself
    /// (the template came from a variable).
    fn template_span(&self, text: &str, at: usize, len: usize, span: Range<usize>) -> Range<usize> {
        let needle = &text[at..at + len];
        let nth = text[..at].matches(needle).count();
        let source = self.text.get(span.clone()).unwrap_or("");
        match source.match_indices(needle).nth(nth) {
            Some((i, _)) => span.start + i..span.start + i + len,
            None => span,
        }
    }
}

/// Minutes as a duration, to the millisecond: `None` unless > 0.
/// The longest soak: 365 days, the command line's bound too.
const MAX_SOAK_MINUTES: f64 = 525_600.0;

fn minutes_to_duration(minutes: f64) -> Option<Duration> {
    let ms = (minutes * 60_000.0).round();
    (minutes.is_finite() && minutes > 0.0 && minutes <= MAX_SOAK_MINUTES && ms >= 1.0)
        .then(|| Duration::from_millis(ms as u64))
}

/// A malformed template: the bad part of the text and why.
#[derive(Debug)]
struct BadTemplate {
    at: usize,
    len: usize,
    message: String,
}

/// The `{{name}}` templates of `text` (spaces around the name allowed, as
/// the users' renderer allows them): (byte offset of the `{{`, length of
/// the whole `{{…}}`, name).
fn template_refs(text: &str) -> Result<Vec<(usize, usize, &str)>, BadTemplate> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("{{") {
        let start = from + i;
        let body = &text[start + 2..];
        let Some(end) = body.find("}}") else {
            return Err(BadTemplate {
                at: start,
                len: 2,
                message: "\"{{\" without a closing \"}}\" (templates are {{name}})".to_owned(),
            });
        };
        let name = body[..end].trim();
        let whole = &text[start..start + end + 4];
        if !valid_name(name) {
            return Err(BadTemplate {
                at: start,
                len: end + 4,
                message: format!(
                    "invalid template \"{whole}\": write {{{{name}}}} with a name of letters, digits and _"
                ),
            });
        }
        out.push((start, end + 4, name));
        from = start + end + 4;
    }
    Ok(out)
}

/// An HTTP method: a token (RFC 9110 `tchar`s).
fn is_token(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A JSON pointer (RFC 6901): empty, or `/`-separated parts where `~` is
/// only `~0` or `~1`.
fn check_pointer(p: &str) -> Result<(), &'static str> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err("it must be empty (the whole document) or start with \"/\"");
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("\"~\" must be followed by 0 or 1 (~0 is ~, ~1 is /)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_found_with_their_offsets() {
        assert_eq!(
            template_refs("/kv/{{key}}?v={{ value }}").unwrap(),
            vec![(4, 7, "key"), (14, 11, "value")]
        );
        assert_eq!(template_refs(r#"{"a":{"b":1}}"#).unwrap(), vec![]);
        assert_eq!(template_refs("x {{ k-y }}").unwrap_err().at, 2);
        assert_eq!(template_refs("x {{key").unwrap_err().at, 2);
    }

    #[test]
    fn pointers_and_tokens() {
        assert!(check_pointer("").is_ok());
        assert!(check_pointer("/a/~0b/~1c").is_ok());
        assert!(check_pointer("a").is_err());
        assert!(check_pointer("/a~2").is_err());
        assert!(is_token("PUT") && is_token("M-SEARCH"));
        assert!(!is_token("") && !is_token("GET /") && !is_token("PÜT"));
    }

    #[test]
    fn minutes() {
        assert_eq!(
            minutes_to_duration(480.0),
            Some(Duration::from_secs(28_800))
        );
        assert_eq!(minutes_to_duration(0.1), Some(Duration::from_secs(6)));
        assert_eq!(minutes_to_duration(0.0), None);
        assert_eq!(minutes_to_duration(-1.0), None);
        assert_eq!(minutes_to_duration(f64::NAN), None);
        assert_eq!(minutes_to_duration(f64::INFINITY), None);
    }
}
