//! Loading a plan: TOML text → serde structs mirroring the file (`raw.rs`) → a
//! checked, resolved [`Plan`]. Every rule that can point at a key or value
//! does, so a user fixes a plan from the first message.

mod cluster;
mod compose;
mod container;

pub(crate) use container::parse_volume;
pub use fleet::{load_fleet, load_fleet_str};
pub(crate) use services::RSS_GROWTH_WARN_PCT;
mod faults;
mod fleet;
mod hardware;
mod lab;
mod matrix;
mod notify;
mod options;
mod services;
mod soak;
mod stages;
mod variables;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::error::PlanError;
use crate::order::order_services;
use crate::raw::{Entries, RawCommandLine, RawPlan};
use crate::units::{parse_duration, parse_size};
use crate::vars::{SubstError, substitute, valid_name};
use crate::{CommandLine, Plan, Service, StageKind};

/// What the command line changes in a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// `--set key=value`: overrides of `[vars]` (the key must exist there).
    pub sets: Vec<(String, String)>,
    /// `--cycles N`: rounds for every `cycle` stage.
    pub cycles: Option<u32>,
    /// `--modules a,b`: restricts every `cycle` stage to these modules.
    pub modules: Option<Vec<String>>,
    /// `--minutes M` (`SOAK_MINUTES`): how long a soak runs, replacing
    /// `[soak] minutes` / `duration`. Only for a soak plan.
    pub minutes: Option<f64>,
    /// `--users N` (`USERS`): replaces `[users] count`. Only for a soak plan.
    pub users: Option<u32>,
    /// `--scenario S` (`SCENARIO`): replaces `[soak] scenario`; `all`,
    /// `clean` or a scenario some `[[fault]]` lists. Only for a soak plan.
    pub scenario: Option<String>,
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);
/// A `check` stage's program gets this long unless `timeout` says otherwise.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads and loads the plan at `path`.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_str(&text, path, opts)
}

/// Loads a plan from `text`. `path` is used in messages (as given) and,
/// made absolute, as the plan's location: its directory is `${plan_dir}`
/// and the base of relative `cwd`s. Nothing else is read from disk,
/// except the Compose file a `[compose]` table names.
pub fn load_str(text: &str, path: &Path, opts: &LoadOptions) -> Result<Plan, PlanError> {
    let raw: RawPlan = toml::from_str(text).map_err(|e| PlanError::syntax(path, text, &e))?;
    let file = std::path::absolute(path).map_err(|source| PlanError::Read {
        path: path.to_owned(),
        source,
    })?;
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let mut cx = Cx {
        path,
        text,
        dir,
        vars: BTreeMap::new(),
    };

    let vars = cx.resolve_vars(&raw.vars, &opts.sets)?;
    let name = match &raw.name {
        Some(name) if name.get_ref().trim().is_empty() => {
            return Err(cx.err(name.span(), "the plan's `name` is empty"));
        }
        Some(name) => name.get_ref().clone(),
        None => path
            .file_stem()
            .map_or_else(|| "plan".to_owned(), |s| s.to_string_lossy().into_owned()),
    };
    let lab = cx.lab(&raw.lab())?;
    let fleet = raw
        .fleet
        .as_ref()
        .map(|f| cx.plan_fleet(f, lab.is_some()))
        .transpose()?;
    let places = match (&lab, &fleet) {
        (Some(lab), _) => Places::Lab(lab),
        (None, Some(fleet)) => Places::Fleet(fleet),
        (None, None) => Places::Here,
    };
    let compose = raw.compose.as_ref().map(|c| cx.compose(c)).transpose()?;
    let services = cx.services(&raw.service, places, compose.as_ref())?;
    let soak = cx.soak(&raw, &services, opts, lab.as_ref())?;
    let cluster = cx.cluster(&raw, &services, places)?;
    let allowed_devices = raw
        .allowed_devices
        .as_ref()
        .map(|list| cx.allowed_devices(list))
        .transpose()?;
    let mut stages = cx.stages(
        &raw.stage,
        &services,
        lab.as_ref(),
        allowed_devices.as_ref(),
    )?;
    if soak.is_some()
        && let Some((raw_stage, _)) = raw
            .stage
            .iter()
            .zip(&stages)
            .find(|(_, s)| !matches!(s.kind, StageKind::Check(_)))
    {
        // A soak's own stages are fixed (up, soak, calm, readback); checks
        // join its verdict after the readback, nothing else fits in.
        return Err(cx.err(
            raw_stage.get_ref().kind.span(),
            "a soak plan's [[stage]] entries can only be `check` stages (judged after the readback, part of the verdict)",
        ));
    }
    if soak.is_some()
        && let Some((key, span)) = raw.stage.iter().find_map(|s| {
            let s = s.get_ref();
            s.requires
                .as_ref()
                .map(|r| ("requires", r.span()))
                .or_else(|| s.max_temp_c.as_ref().map(|t| ("max_temp_c", t.span())))
        })
    {
        return Err(cx.err(
            span,
            format!("`{key}` is for a plan's stages; a soak's check stages run after its readback, whatever the machine"),
        ));
    }
    let notify = cx.notify(&raw.notify)?;
    options::apply_options(&mut stages, &services, opts)?;
    let count = crate::stages::run_stage_count(&stages);
    if count > crate::MAX_RUN_STAGES as u64 {
        return Err(PlanError::Plan {
            path: path.to_owned(),
            message: format!(
                "the plan makes {count} run stages (each cycle stage is one stage per round and module); at most {} fit in a run",
                crate::MAX_RUN_STAGES
            ),
        });
    }
    if stages.is_empty() && soak.is_none() && cluster.is_none() {
        return Err(PlanError::Plan {
            path: path.to_owned(),
            message: "the plan has no [[stage]]; add stages, or pass --cycles / --modules to cycle the modules".to_owned(),
        });
    }
    let sensors = cx.sensors(raw.sensors.as_ref(), &stages)?;
    Ok(Plan {
        name,
        description: raw.description,
        path: Some(file),
        vars,
        services,
        stages,
        soak,
        lab,
        fleet,
        cluster,
        notify,
        warnings: compose
            .as_ref()
            .map_or_else(Vec::new, |c| c.warnings.clone()),
        compose: compose.map(|c| c.source),
        sensors,
        allowed_devices: allowed_devices.map(|a| a.paths).unwrap_or_default(),
    })
}

/// Where a plan's `host` and `on` put services: nowhere but here, on the
/// hosts of its lab, or on the nodes of its fleet (never both).
#[derive(Clone, Copy)]
enum Places<'a> {
    Here,
    Lab(&'a crate::LabSpec),
    Fleet(&'a crate::Fleet),
}

impl Cx<'_> {
    /// `fleet = "fleet.toml"`: the fleet file, relative to the plan, loaded
    /// as `gauntlet nodes` loads it (its own `[vars]`; the plan's `--set`
    /// is the plan's). A plan's services run on a lab or on a fleet.
    fn plan_fleet(&self, raw: &Spanned<String>, has_lab: bool) -> Result<crate::Fleet, PlanError> {
        if has_lab {
            return Err(self.err(
                raw.span(),
                "a plan runs its services on a network lab ([[host]] tables) or on a fleet's nodes (`fleet`), not both",
            ));
        }
        let text = self.expand(raw)?;
        if text.is_empty() {
            return Err(self.err(raw.span(), "`fleet` is empty: the fleet file's path"));
        }
        let path = tidy(&self.dir.join(&text));
        if !path.is_file() {
            return Err(self.err(
                raw.span(),
                format!("fleet file {} does not exist", path.display()),
            ));
        }
        load_fleet(&path, &[])
    }
}

/// Reads the lab tables of the file at `path`: a `lab.toml`, or a plan
/// (whose other keys are let through unread).
pub fn load_lab(path: &Path) -> Result<crate::LabSpec, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_lab_str(&text, path)
}

/// [`load_lab`] from `text`; `path` is used in messages.
pub fn load_lab_str(text: &str, path: &Path) -> Result<crate::LabSpec, PlanError> {
    let raw: crate::raw::RawLabFile =
        toml::from_str(text).map_err(|e| PlanError::syntax(path, text, &e))?;
    let cx = Cx {
        path,
        text,
        dir: PathBuf::from("/"),
        vars: BTreeMap::new(),
    };
    let lab = cx.lab(&crate::raw::RawLab {
        segment: &raw.segment,
        link: &raw.link,
        nat: &raw.nat,
        host: &raw.host,
        management: raw.management.as_ref(),
    })?;
    lab.ok_or_else(|| PlanError::Plan {
        path: path.to_owned(),
        message: "no lab here: a lab file has [[segment]] and [[host]] tables (docs/lab.md)"
            .to_owned(),
    })
}

/// Parses one `--set key=value`.
pub fn parse_set(arg: &str) -> Result<(String, String), PlanError> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(PlanError::option(format!(
            "--set {arg:?}: expected key=value"
        )));
    };
    if !valid_name(key) {
        return Err(PlanError::option(format!(
            "--set {arg:?}: {key:?} is not a variable name (letters, digits and _)"
        )));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// The loading context: where errors point and what `${…}` expands to.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    dir: PathBuf,
    /// Every variable, `plan_dir` included, fully expanded.
    vars: BTreeMap<String, String>,
}

impl Cx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> PlanError {
        PlanError::invalid(self.path, self.text, span, message.into())
    }

    /// Expands `${…}` in a string of the plan, reporting at its position.
    fn expand_at(&self, text: &str, span: Range<usize>) -> Result<String, PlanError> {
        substitute(text, &self.vars)
            .map_err(|e: SubstError| self.err(span, e.describe(self.vars.keys())))
    }

    fn expand(&self, s: &Spanned<String>) -> Result<String, PlanError> {
        self.expand_at(s.get_ref(), s.span())
    }

    // ----- small values ----------------------------------------------

    fn duration(&self, value: &Spanned<toml::Value>, key: &str) -> Result<Duration, PlanError> {
        match value.get_ref() {
            toml::Value::String(s) => parse_duration(&self.expand_at(s, value.span())?)
                .map_err(|m| self.err(value.span(), format!("`{key}`: {m}"))),
            other => Err(self.err(
                value.span(),
                format!(
                    "`{key}` must be a duration string such as \"30s\", not {}",
                    other.type_str()
                ),
            )),
        }
    }

    fn duration_or(
        &self,
        value: Option<&Spanned<toml::Value>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, PlanError> {
        value.map_or(Ok(default), |v| self.duration(v, key))
    }

    fn size(&self, value: &Spanned<toml::Value>, key: &str) -> Result<u64, PlanError> {
        match value.get_ref() {
            toml::Value::String(s) => parse_size(&self.expand_at(s, value.span())?)
                .map_err(|m| self.err(value.span(), format!("`{key}`: {m}"))),
            toml::Value::Integer(n) => u64::try_from(*n)
                .map_err(|_| self.err(value.span(), format!("`{key}` must not be negative"))),
            other => Err(self.err(
                value.span(),
                format!(
                    "`{key}` must be a size such as \"256MiB\", not {}",
                    other.type_str()
                ),
            )),
        }
    }

    fn command_line(&self, raw: &Spanned<RawCommandLine>) -> Result<CommandLine, PlanError> {
        self.command_line_at(raw.get_ref(), raw.span())
    }

    fn command_line_at(
        &self,
        raw: &RawCommandLine,
        span: Range<usize>,
    ) -> Result<CommandLine, PlanError> {
        match raw {
            RawCommandLine::Shell(s) => {
                if s.trim().is_empty() {
                    return Err(self.err(span, "the command is empty"));
                }
                Ok(CommandLine::Shell(self.expand_at(s, span)?))
            }
            RawCommandLine::Argv(argv) => {
                let argv = argv
                    .iter()
                    .map(|a| self.expand(a))
                    .collect::<Result<Vec<_>, _>>()?;
                if argv[0].is_empty() {
                    return Err(self.err(span, "the command's program is empty"));
                }
                Ok(CommandLine::Argv(argv))
            }
        }
    }

    /// A `cwd` relative to the plan's directory; `default` when unset.
    fn cwd(&self, raw: Option<&Spanned<String>>, default: &Path) -> Result<PathBuf, PlanError> {
        let Some(raw) = raw else {
            return Ok(default.to_owned());
        };
        let expanded = self.expand(raw)?;
        if expanded.is_empty() {
            return Err(self.err(raw.span(), "`cwd` is empty"));
        }
        Ok(tidy(&self.dir.join(expanded)))
    }

    fn env(&self, raw: &Entries<Spanned<String>>) -> Result<BTreeMap<String, String>, PlanError> {
        let mut env = BTreeMap::new();
        for (key, value) in &raw.0 {
            let k = key.get_ref();
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(self.err(
                    key.span(),
                    format!("{k:?} is not an environment variable name"),
                ));
            }
            env.insert(k.clone(), self.expand(value)?);
        }
        Ok(env)
    }

    /// Service and stage names: safe in file names, URLs and `--stage`.
    fn check_name(&self, name: &Spanned<String>, what: &str) -> Result<(), PlanError> {
        let n = name.get_ref();
        if plain_name(n) {
            Ok(())
        } else {
            Err(self.err(
                name.span(),
                format!("invalid {what} name {n:?}: use letters, digits, '_', '.' and '-'"),
            ))
        }
    }
}

/// Services that have tests, in plan order.
fn modules_of(services: &[Service]) -> Vec<String> {
    services
        .iter()
        .filter(|s| !s.tests.is_empty())
        .map(|s| s.name.clone())
        .collect()
}

/// `modules` in dependency order among themselves.
fn sort_modules(services: &[Service], modules: &[String]) -> Vec<String> {
    order_services(services, modules)
        .into_iter()
        .filter(|s| modules.contains(s))
        .collect()
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// A command as the plan wrote it, for a default test name: the same in
/// every run whatever `--set` changes.
fn command_text(c: &RawCommandLine) -> String {
    match c {
        RawCommandLine::Shell(s) => s.clone(),
        RawCommandLine::Argv(argv) => argv
            .iter()
            .map(|a| a.get_ref().as_str())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Drops `.` components, so `cwd = "."` is the plan's directory itself.
/// `..` stays: resolving it lexically is wrong across symlinks.
/// A name safe in file names, URLs and container names: letters, digits,
/// `_`, `.` and `-` (services, stages, figures, volumes, Compose services).
pub(crate) fn plain_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub(crate) fn tidy(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}
