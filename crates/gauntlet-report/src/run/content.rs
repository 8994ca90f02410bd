//! What the Markdown and HTML reports both show, as a small document of
//! sections and blocks; each renderer turns it into its own markup, so the
//! two never disagree on content.

use gauntlet_store::{RunKind, RunState, Stage, StageState};

use super::RunReport;
use super::facts::{ModuleRow, module_rows};
use super::fmt::{
    bytes, duration, duration_f, elapsed, percent, plural, shell_line, shell_word, short_sha,
    truncate, utc,
};
use super::stage::stage_section;
use super::summary::{Outcome, Summary, Tone};

/// One table cell or fact value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    pub text: String,
    /// Shown as a coloured status (HTML) or with a mark (Markdown).
    pub tone: Option<Tone>,
    /// Shown in a monospace font (commands, paths, ids).
    pub code: bool,
}

impl Cell {
    pub(crate) fn toned(text: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            text: text.into(),
            tone: Some(tone),
            code: false,
        }
    }

    pub(crate) fn code(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            tone: None,
            code: true,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text,
            tone: None,
            code: false,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_owned())
    }
}

/// A piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Para(String),
    /// A box that must not be missed: a hold, overrides.
    Callout {
        tone: Tone,
        title: String,
        lines: Vec<String>,
    },
    /// Shell commands to copy.
    Commands(Vec<String>),
    /// `label: value` pairs.
    Facts(Vec<(String, Cell)>),
    Table {
        headers: Vec<String>,
        rows: Vec<Vec<Cell>>,
    },
    /// Lines of program output, shown verbatim.
    Output {
        title: String,
        lines: Vec<String>,
    },
    List(Vec<String>),
}

/// A titled part of the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    /// An anchor, unique in the report.
    pub id: String,
    /// 2 for top-level sections, 3 for a stage's.
    pub level: u8,
    pub title: String,
    pub blocks: Vec<Block>,
}

pub(crate) const DASH: &str = "—";

pub(crate) fn table(headers: &[&str], rows: Vec<Vec<Cell>>) -> Block {
    Block::Table {
        headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    }
}

pub(crate) fn opt(v: Option<String>) -> Cell {
    Cell::from(v.unwrap_or_else(|| DASH.to_owned()))
}

/// The facts under the title: what ran, when, how, and how it ended.
pub(crate) fn header_facts(r: &RunReport, summary: &Summary) -> Vec<(String, Cell)> {
    let run = &r.run;
    let mut facts: Vec<(String, Cell)> = Vec::new();
    let plan = match &run.plan_path {
        Some(path) => format!("{} ({path})", run.plan_name),
        None => run.plan_name.clone(),
    };
    facts.push(("Plan".into(), plan.into()));
    facts.push(("Run".into(), Cell::code(run.id.as_str())));
    facts.push((
        "State".into(),
        Cell::toned(run.state.as_str(), summary.tone()),
    ));
    let result_tone = match summary.result {
        Outcome::Pass if summary.overrides == 0 => Tone::Good,
        Outcome::Pass | Outcome::Unknown => Tone::Warn,
        Outcome::Fail => Tone::Bad,
        Outcome::None => Tone::Neutral,
    };
    facts.push((
        "Result".into(),
        Cell::toned(summary.result.as_str(), result_tone),
    ));
    facts.push(("Started".into(), utc(run.started_at).into()));
    let took = match run.ended_at {
        Some(end) => duration(end - run.started_at),
        None => format!(
            "{} so far",
            duration(run.took_ms(r.generated_at.max(run.started_at)))
        ),
    };
    facts.push(("Took".into(), took.into()));
    if let Some(end) = run.ended_at {
        facts.push(("Ended".into(), utc(end).into()));
    }
    let version = if run.gauntlet_version.is_empty() {
        DASH.to_owned()
    } else {
        run.gauntlet_version.clone()
    };
    facts.push(("Gauntlet".into(), version.into()));
    facts.push(("Seed".into(), Cell::code(run.seed.to_string())));
    facts.push((
        "Plan sha256".into(),
        Cell::code(short_sha(&run.plan_sha256)),
    ));
    let command = if run.command_line.is_empty() {
        Cell::from(DASH)
    } else {
        Cell::code(shell_line(&run.command_line))
    };
    facts.push(("Command".into(), command));
    if let Some(msg) = &run.message {
        facts.push(("Message".into(), msg.as_str().into()));
    }
    facts
}

/// Every section, in reading order.
pub(crate) fn sections(r: &RunReport, summary: &Summary) -> Vec<Section> {
    let mut out = Vec::new();
    out.extend(hold_section(r));
    out.extend(overrides_section(r, summary));
    out.push(summary_section(r, summary));
    out.push(stages_section(r));
    out.extend(modules_section(r));
    out.push(Section {
        id: "stage-details".into(),
        level: 2,
        title: "Stage details".into(),
        blocks: Vec::new(),
    });
    out.extend(r.stages.iter().map(|s| stage_section(r, s)));
    out.extend(faults_section(r));
    out.extend(verdicts_section(r));
    out.push(artifacts_section(r));
    out
}

/// The stage that holds (or held) the run: the store's `held_stage`, else
/// the first failed stage.
fn holding_stage(r: &RunReport) -> Option<&Stage> {
    r.run
        .held_stage
        .as_deref()
        .and_then(|name| r.stages.iter().find(|s| s.name == name))
        .or_else(|| r.stages.iter().find(|s| s.state() == StageState::Failed))
}

/// The commands that let a held (or interrupted) run go on.
pub(crate) fn hold_commands(r: &RunReport) -> Vec<String> {
    let id = r.run.id.as_str();
    if r.run.kind == RunKind::Test {
        // A test run is not resumed: it is run again, or given up on.
        return vec![
            super::fmt::shell_line(&r.run.command_line),
            format!("gauntlet abandon {id}"),
        ];
    }
    let stage = holding_stage(r).map_or("STAGE", |s| s.name.as_str());
    vec![
        format!("gauntlet retry {id}"),
        format!(
            "gauntlet override {id} --stage {} --reason \"…\"",
            shell_word(stage)
        ),
        format!("gauntlet abandon {id}"),
    ]
}

fn hold_section(r: &RunReport) -> Option<Section> {
    let stage = holding_stage(r);
    let name = stage.map_or("?", |s| s.name.as_str());
    let why = stage
        .and_then(|s| s.current().message.clone())
        .or_else(|| r.run.message.clone());
    match r.run.state {
        RunState::Held | RunState::Interrupted => {
            let (title, what) = if r.run.state == RunState::Held {
                (
                    format!("Held at stage {name}"),
                    format!("Stage {name} failed; the run waits for the operator."),
                )
            } else {
                (
                    format!("Interrupted at stage {name}"),
                    if r.run.kind == RunKind::Test {
                        format!(
                            "The gauntlet process driving the run stopped during stage {name}; its checks judged what was recorded. A test run is not resumed."
                        )
                    } else {
                        format!(
                            "The gauntlet process driving the run stopped during stage {name}; `retry` resumes it."
                        )
                    },
                )
            };
            let mut lines = vec![what];
            lines.extend(why.map(|w| format!("Why: {w}")));
            Some(Section {
                id: "hold".into(),
                level: 2,
                title: title.clone(),
                blocks: vec![
                    Block::Callout {
                        tone: Tone::Bad,
                        title,
                        lines,
                    },
                    Block::Para(if r.run.kind == RunKind::Test {
                        "To go on: run the test again (same command line and seed), or abandon the run:"
                            .into()
                    } else {
                        "To go on: retry the stage, override it (accept the failure, with a reason), or abandon the run:"
                            .into()
                    }),
                    Block::Commands(hold_commands(r)),
                ],
            })
        }
        RunState::Abandoned => {
            let mut lines = vec![match stage {
                Some(s) => format!("Abandoned at stage {}.", s.name),
                None => "Abandoned.".to_owned(),
            }];
            lines.extend(r.run.message.as_ref().map(|m| format!("Reason: {m}")));
            Some(Section {
                id: "hold".into(),
                level: 2,
                title: "Abandoned".into(),
                blocks: vec![Block::Callout {
                    tone: Tone::Neutral,
                    title: "The operator gave up on this run".into(),
                    lines,
                }],
            })
        }
        RunState::Running | RunState::Finished => None,
    }
}

fn overrides_section(r: &RunReport, summary: &Summary) -> Option<Section> {
    if r.overrides.is_empty() {
        return None;
    }
    let n = plural(r.overrides.len(), "override");
    let title = match (summary.state, summary.result) {
        (RunState::Finished, Outcome::Pass) => {
            format!("Passed with {n}: failed stages were accepted by an operator")
        }
        _ => format!("{n}: failed stages were accepted by an operator"),
    };
    let lines = r
        .overrides
        .iter()
        .map(|o| {
            format!(
                "Stage {} (attempt {}) overridden by {} at {}: {}",
                o.stage,
                o.attempt,
                o.who,
                utc(o.time),
                o.reason
            )
        })
        .collect();
    let rows = r
        .overrides
        .iter()
        .map(|o| {
            let failure = r
                .stages
                .iter()
                .find(|s| s.name == o.stage)
                .and_then(|s| s.attempts.iter().find(|a| a.attempt == o.attempt))
                .and_then(|a| a.message.clone());
            vec![
                Cell::code(o.stage.as_str()),
                o.attempt.to_string().into(),
                o.who.as_str().into(),
                utc(o.time).into(),
                Cell::toned(o.reason.as_str(), Tone::Warn),
                opt(failure),
            ]
        })
        .collect();
    Some(Section {
        id: "overrides".into(),
        level: 2,
        title: format!("Overrides ({})", r.overrides.len()),
        blocks: vec![
            Block::Callout {
                tone: Tone::Warn,
                title,
                lines,
            },
            table(
                &[
                    "stage",
                    "attempt",
                    "who",
                    "when",
                    "reason",
                    "it had failed with",
                ],
                rows,
            ),
        ],
    })
}

fn count_cell(n: usize, tone: Tone) -> Cell {
    if n > 0 {
        Cell::toned(n.to_string(), tone)
    } else {
        n.to_string().into()
    }
}

fn summary_section(r: &RunReport, s: &Summary) -> Section {
    let mut blocks = vec![table(
        &[
            "stages",
            "passed",
            "failed",
            "overridden",
            "skipped",
            "pending",
            "running",
        ],
        vec![vec![
            s.stages.to_string().into(),
            count_cell(s.passed, Tone::Good),
            count_cell(s.failed, Tone::Bad),
            count_cell(s.overridden, Tone::Warn),
            s.skipped.to_string().into(),
            s.pending.to_string().into(),
            count_cell(s.running, Tone::Info),
        ]],
    )];
    if r.stages.iter().any(|st| st.kind == "module") {
        blocks.push(table(
            &["module results", "PASS", "WARN", "FAIL"],
            vec![vec![
                (s.modules.pass + s.modules.warn + s.modules.fail)
                    .to_string()
                    .into(),
                count_cell(s.modules.pass, Tone::Good),
                count_cell(s.modules.warn, Tone::Warn),
                count_cell(s.modules.fail, Tone::Bad),
            ]],
        ));
    }
    let mut facts = Vec::new();
    if s.tests.passed + s.tests.failed > 0 {
        let tone = if s.tests.failed > 0 {
            Tone::Bad
        } else {
            Tone::Good
        };
        facts.push((
            "Test commands".into(),
            Cell::toned(
                format!("{} passed, {} failed", s.tests.passed, s.tests.failed),
                tone,
            ),
        ));
    }
    if !r.verdicts.is_empty() {
        let list = r
            .verdicts
            .iter()
            .map(|v| format!("{}: {}", v.checker, validity_word(v.valid)))
            .collect::<Vec<_>>()
            .join(", ");
        facts.push(("Checks".into(), list.into()));
    }
    if !r.faults.is_empty() {
        facts.push((
            "Faults".into(),
            format!("{} injected", plural(r.faults.len(), "fault")).into(),
        ));
    }
    if !facts.is_empty() {
        blocks.push(Block::Facts(facts));
    }
    Section {
        id: "summary".into(),
        level: 2,
        title: "Summary".into(),
        blocks,
    }
}

fn validity_word(v: gauntlet_store::Validity) -> &'static str {
    Outcome::from(Some(v)).as_str()
}

/// `passed`, or `failed (attempt 2)` after a retry.
pub(crate) fn stage_status(s: &Stage) -> Cell {
    let text = if s.attempts.len() > 1 {
        format!("{} (attempt {})", s.state(), s.current().attempt)
    } else {
        s.state().to_string()
    };
    Cell::toned(text, Tone::of_stage(s.state()))
}

/// How long the stage's current attempt took (or has taken so far).
pub(crate) fn stage_took(r: &RunReport, s: &Stage) -> Option<String> {
    let a = s.current();
    let start = a.started_at?;
    Some(match a.ended_at {
        Some(end) => duration(end - start),
        None => format!("{} so far", duration(r.generated_at - start)),
    })
}

fn offset(r: &RunReport, t: Option<gauntlet_store::Millis>) -> Option<String> {
    t.map(|t| format!("+{}", elapsed(t - r.run.started_at)))
}

fn stages_section(r: &RunReport) -> Section {
    let rows = r
        .stages
        .iter()
        .map(|s| {
            vec![
                (s.ordinal + 1).to_string().into(),
                Cell::code(s.name.as_str()),
                s.kind.as_str().into(),
                stage_status(s),
                opt(offset(r, s.current().started_at)),
                opt(stage_took(r, s)),
                opt(s
                    .current()
                    .message
                    .as_deref()
                    .map(|m| truncate(m, 160).into_owned())),
            ]
        })
        .collect();
    Section {
        id: "stages".into(),
        level: 2,
        title: "Stages".into(),
        blocks: vec![table(
            &["#", "stage", "kind", "status", "started", "took", "message"],
            rows,
        )],
    }
}

/// The status cell of a module row: `PASS`, `WARN`, `FAIL (overridden)`,
/// or the stage's state when it reported none.
pub(crate) fn module_status(row: &ModuleRow) -> Cell {
    match &row.status {
        Some(st) => {
            let mut text = st.to_ascii_uppercase();
            if row.stage_state == StageState::Overridden {
                text.push_str(" (overridden)");
            }
            Cell::toned(text, Tone::of_status(st))
        }
        None => Cell::toned(row.stage_state.as_str(), Tone::of_stage(row.stage_state)),
    }
}

fn modules_section(r: &RunReport) -> Option<Section> {
    let rows = module_rows(&r.stages);
    if rows.is_empty() {
        return None;
    }
    let rows = rows
        .iter()
        .map(|m| {
            let cycle = match (m.cycle, m.cycles) {
                (Some(c), Some(n)) => format!("{c}/{n}"),
                (Some(c), None) => c.to_string(),
                _ => DASH.to_owned(),
            };
            vec![
                Cell::code(m.module.as_str()),
                cycle.into(),
                module_status(m),
                opt(m.health_p95_ms.map(duration_f)),
                opt(m.rss_max_bytes.map(bytes)),
                opt(m.rss_growth_pct.map(percent)),
                opt(m.cpu_max_pct.map(percent)),
                opt(m.restarts.map(|n| n.to_string())),
                opt(m.oom_kills.map(|n| n.to_string())),
                m.tests_text().into(),
                opt((!m.reasons.is_empty()).then(|| m.reasons.join("; "))),
            ]
        })
        .collect();
    Some(Section {
        id: "modules".into(),
        level: 2,
        title: "Modules".into(),
        blocks: vec![table(
            &[
                "module",
                "cycle",
                "status",
                "p95 health",
                "max RSS",
                "RSS growth",
                "max CPU",
                "restarts",
                "OOM kills",
                "tests",
                "reasons",
            ],
            rows,
        )],
    })
}

fn faults_section(r: &RunReport) -> Option<Section> {
    if r.faults.is_empty() {
        return None;
    }
    let rows = r
        .faults
        .iter()
        .map(|f| {
            vec![
                f.kind.as_str().into(),
                Cell::code(f.target.as_str()),
                opt(offset(r, Some(f.time))),
                f.healed_at.map_or_else(
                    || Cell::toned("not healed", Tone::Warn),
                    |h| Cell::from(offset(r, Some(h)).unwrap_or_default()),
                ),
                opt(f.healed_at.map(|h| duration(h - f.time))),
                opt((!f.value.is_null()).then(|| truncate(&f.value.to_string(), 200).into_owned())),
            ]
        })
        .collect();
    Some(Section {
        id: "faults".into(),
        level: 2,
        title: "Faults".into(),
        blocks: vec![table(
            &["fault", "target", "from", "healed", "lasted", "value"],
            rows,
        )],
    })
}

fn verdicts_section(r: &RunReport) -> Option<Section> {
    if r.verdicts.is_empty() {
        return None;
    }
    let rows = r
        .verdicts
        .iter()
        .map(|v| {
            let word = validity_word(v.valid);
            vec![
                Cell::code(v.checker.as_str()),
                Cell::toned(word, Tone::of_status(word)),
                Cell::code(truncate(&v.figures.to_string(), 300)),
            ]
        })
        .collect();
    let mut blocks = vec![table(&["checker", "valid", "figures"], rows)];
    // Each anomaly beside the faults around it, where the run put it there.
    for v in &r.verdicts {
        let evidence = v.figures.get("evidence").and_then(|e| e.as_array());
        for e in evidence.into_iter().flatten() {
            let Some(lines) = e.get("beside-faults").and_then(|l| l.as_array()) else {
                continue;
            };
            let title = match e.get("key") {
                Some(k) => format!("{} at key {k}: the anomaly beside its faults", v.checker),
                None => format!("{}: the anomaly beside its faults", v.checker),
            };
            blocks.push(Block::Output {
                title,
                lines: lines
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect(),
            });
        }
    }
    Some(Section {
        id: "checks".into(),
        level: 2,
        title: "Checks".into(),
        blocks,
    })
}

fn artifacts_section(r: &RunReport) -> Section {
    let blocks = if r.artifacts.is_empty() {
        vec![Block::Para("No artifacts.".into())]
    } else {
        let rows = r
            .artifacts
            .iter()
            .map(|a| {
                let stage = a
                    .stage
                    .and_then(|id| r.attempt_name(id))
                    .map(|(s, n)| format!("{s} #{n}"));
                vec![
                    Cell::code(a.path.as_str()),
                    a.kind.as_str().into(),
                    bytes(a.bytes as f64).into(),
                    Cell::code(short_sha(&a.sha256)),
                    opt(stage),
                ]
            })
            .collect();
        vec![
            Block::Para(format!(
                "Paths are relative to the run's artifact directory, store/{}/.",
                r.run.id
            )),
            table(&["path", "kind", "size", "sha256", "stage"], rows),
        ]
    };
    Section {
        id: "artifacts".into(),
        level: 2,
        title: "Artifacts".into(),
        blocks,
    }
}
