//! Compose files as plans: `[compose] file = "docker-compose.yml"` makes
//! every service of the file a `docker` service of the plan (see
//! `docs/compose.md`).
//!
//! The file is read as Compose reads it — variables interpolated, merge
//! keys (`<<: *anchor`) applied — and each service becomes a [`Service`]
//! with a [`ContainerService`]. Every key is judged: the keys gauntlet
//! carries out are used; a few that change nothing under gauntlet
//! (`container_name`, `labels`, `expose`, ...) are let through with a
//! warning naming their line; `x-` extensions are skipped as Compose
//! skips them; anything else is an error naming its line, because a key
//! quietly dropped (`privileged`, `cap_add`, `network_mode`) is a test of
//! something other than what the file says.
//!
//! `depends_on` conditions are per edge in Compose; here they fold onto
//! the dependency as its [`Readiness`], which every dependent of it must
//! then agree on.

mod interpolate;
mod raw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use crate::container::DEFAULT_NETWORK;
use crate::error::PlanError;
use crate::load::{RSS_GROWTH_WARN_PCT, parse_volume, plain_name, tidy};
use crate::order::find_cycle;
use crate::units::parse_duration;
use crate::{
    Command, CommandLine, ContainerService, HealthCheck, ImageSource, Limits, PortMapping, Probe,
    Readiness, RestartPolicy, Service, VolumeMount, VolumeSource,
};
use interpolate::{interpolate, parse_env_file};
use raw::{
    KeyLines, KeyLinesFlat, ListOrMap, RawBuild, RawComposeFile, RawComposeService, RawDependsOn,
    RawPort, RawServiceNetworks, RawVolume, Scalar, StringOrList,
};

/// Where a plan's Compose services came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeSource {
    /// The Compose file (absolute).
    pub file: PathBuf,
    /// `[compose] project`, else the file's `name:`, else its directory's
    /// name, as Compose picks it. Labels every container of the project.
    pub project: String,
}

/// What a Compose file gives a plan.
#[derive(Debug)]
pub(crate) struct Imported {
    pub source: ComposeSource,
    /// In the file's order.
    pub services: Vec<Service>,
    /// Each service's line in the file, for messages about it from the
    /// plan's side.
    pub lines: BTreeMap<String, usize>,
    pub warnings: Vec<String>,
}

/// Compose's defaults for a health check.
const HC_INTERVAL: Duration = Duration::from_secs(30);
const HC_TIMEOUT: Duration = Duration::from_secs(30);
const HC_RETRIES: u32 = 3;
/// Gauntlet probes from this often, doubling up to the file's interval:
/// a test wants to know the moment a service is up, not 30 s later.
const FIRST_PROBE_WAIT: Duration = Duration::from_millis(100);
/// Compose's default `stop_grace_period`.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Keys of a service that gauntlet carries out.
const USED_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "mem_limit",
    "depends_on",
    "healthcheck",
    "restart",
    "stop_grace_period",
    "working_dir",
    "user",
];

/// Keys of a service that change nothing about how it runs under
/// gauntlet, and why.
const IGNORED_KEYS: &[(&str, &str)] = &[
    (
        "container_name",
        "gauntlet names each container <service>-<run id>, so two runs never collide",
    ),
    (
        "labels",
        "the container carries gauntlet's own labels (its run and owner)",
    ),
    (
        "expose",
        "every port of a container is reachable on its networks anyway",
    ),
    (
        "logging",
        "gauntlet captures the output itself (services/<name>.log)",
    ),
    ("pull_policy", "gauntlet never pulls"),
];

/// Reads the Compose file at `file` (absolute) for a plan whose variables
/// are `vars`. `shown` is the file as the plan names it, for messages.
pub(crate) fn import(
    file: &Path,
    shown: &Path,
    project: Option<&str>,
    vars: &BTreeMap<String, String>,
) -> Result<Imported, PlanError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let original = read(file)?;
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    // Compose's `.env` beside the file: the last place a variable is looked up.
    let dot_env = dir.join(".env");
    let dot_env_vars: BTreeMap<String, String> = if dot_env.is_file() {
        parse_env_file(&read(&dot_env)?)
            .map_err(|(line, message)| invalid(&dot_env, line, 1, message))?
            .into_iter()
            .collect()
    } else {
        BTreeMap::new()
    };
    let lookup = |name: &str| {
        vars.get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .or_else(|| dot_env_vars.get(name).cloned())
    };
    let text =
        interpolate(&original, &lookup).map_err(|e| invalid(shown, e.line, e.column, e.message))?;
    let syntax = |e: serde_saphyr::Error| {
        let (line, column) = e
            .location()
            .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
        let message = e.without_snippet().to_string();
        // The parser's own prefix repeats the place this error names.
        let message = message
            .strip_prefix("error: ")
            .unwrap_or(&message)
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("line "))
            .map_or(message.as_str(), |(_, tail)| tail)
            .to_owned();
        PlanError::Syntax {
            path: shown.to_owned(),
            line,
            column,
            message,
        }
    };
    let keys: KeyLinesFlat = serde_saphyr::from_str(&text).map_err(syntax)?;
    let raw: RawComposeFile = serde_saphyr::from_str(&text).map_err(syntax)?;

    let mut cx = ComposeCx {
        shown,
        dir,
        warnings: Vec::new(),
        env_lookup: &|name: &str| std::env::var(name).ok(),
    };
    for (key, line) in &keys.top {
        match key.as_str() {
            "services" | "volumes" | "networks" | "name" => {}
            "version" => cx.warn(*line, "`version` is obsolete; Compose ignores it too"),
            k if k.starts_with("x-") => {}
            other => {
                return Err(invalid(
                    shown,
                    *line as usize,
                    1,
                    format!(
                        "top-level `{other}` is not supported by gauntlet's Compose import (it reads services, volumes, networks and name)"
                    ),
                ));
            }
        }
    }
    let project = match (project, &raw.name) {
        (Some(p), _) => p.to_owned(),
        (None, Some(n)) if valid_project(&n.value) => n.value.clone(),
        (None, Some(n)) => {
            return Err(cx.at(
                &n.referenced,
                format!(
                    "project name {:?}: use lowercase letters, digits, '-' and '_' (as Compose does)",
                    n.value
                ),
            ));
        }
        // As Compose: the directory's name, lowercased, with what a
        // project name cannot hold left out.
        (None, None) => {
            let from_dir: String = cx
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default()
                .chars()
                .filter(|c| project_char(*c))
                .collect();
            if from_dir.is_empty() {
                "compose".to_owned()
            } else {
                from_dir
            }
        }
    };

    let volumes = cx.top_level_volumes(&raw)?;
    let networks = cx.top_level_networks(&raw)?;
    let Some(services) = &raw.services else {
        return Err(PlanError::Plan {
            path: shown.to_owned(),
            message: "the Compose file has no `services:`".to_owned(),
        });
    };
    let names: Vec<String> = services
        .value
        .0
        .iter()
        .map(|(k, _)| k.value.clone())
        .collect();
    let mut out: Vec<Service> = Vec::new();
    let mut lines = BTreeMap::new();
    let mut dependencies: Vec<Vec<Dependency>> = Vec::new();
    for ((name, service), (_, service_keys)) in services.value.0.iter().zip(&keys.services) {
        let line = name.referenced.line() as usize;
        if !plain_name(&name.value) {
            return Err(cx.at(
                &name.referenced,
                format!(
                    "invalid service name {:?}: use letters, digits, '_', '.' and '-'",
                    name.value
                ),
            ));
        }
        cx.judge_keys(&name.value, service_keys)?;
        let (svc, deps) = cx.service(&name.value, service, &names, &volumes, &networks)?;
        lines.insert(name.value.clone(), line);
        out.push(svc);
        dependencies.push(deps);
    }
    fold_readiness(&cx, &mut out, &dependencies)?;
    if let Some((cycle, entry)) = find_cycle(&out) {
        let closer = &cycle[cycle.len() - 2];
        let at = out
            .iter()
            .position(|s| &s.name == closer)
            .and_then(|i| dependencies[i].get(entry))
            .map(|d| d.location);
        let message = format!("dependency cycle in depends_on: {}", cycle.join(" → "));
        return Err(match at {
            Some(l) => cx.at(&l, message),
            None => PlanError::Plan {
                path: shown.to_owned(),
                message,
            },
        });
    }
    Ok(Imported {
        source: ComposeSource {
            file: file.to_owned(),
            project,
        },
        services: out,
        lines,
        warnings: cx.warnings,
    })
}

/// What a Compose project name may hold, as Compose says.
fn project_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_')
}

/// A project name Compose accepts: `[compose] project` and the file's
/// `name:` are held to it.
pub(crate) fn valid_project(name: &str) -> bool {
    !name.is_empty() && name.chars().all(project_char)
}

/// One `depends_on` entry: the service, the condition, where it is.
#[derive(Debug, Clone)]
struct Dependency {
    service: String,
    condition: Readiness,
    location: Location,
}

/// Sets each service's [`Readiness`] from what its dependents ask of it.
fn fold_readiness(
    cx: &ComposeCx<'_>,
    services: &mut [Service],
    dependencies: &[Vec<Dependency>],
) -> Result<(), PlanError> {
    let mut asked: BTreeMap<String, (Readiness, Location, String)> = BTreeMap::new();
    for (dependent, deps) in services.iter().zip(dependencies) {
        for d in deps {
            match asked.get(d.service.as_str()) {
                Some((first, at, by)) if *first != d.condition => {
                    return Err(cx.at(
                        &d.location,
                        format!(
                            "{} asks {} of {}, and {by} (line {}) asks {}: gauntlet waits for one condition per service",
                            dependent.name,
                            condition_name(d.condition),
                            d.service,
                            at.line(),
                            condition_name(*first)
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    asked.insert(
                        d.service.clone(),
                        (d.condition, d.location, dependent.name.clone()),
                    );
                }
            }
        }
    }
    for service in services.iter_mut() {
        let Some((condition, at, by)) = asked.get(service.name.as_str()) else {
            continue;
        };
        if *condition == Readiness::Healthy && service.health.is_none() {
            return Err(cx.at(
                at,
                format!(
                    "{by} waits for {} to be service_healthy, and {} has no healthcheck",
                    service.name, service.name
                ),
            ));
        }
        if *condition == Readiness::Completed && service.restart != RestartPolicy::Never {
            return Err(cx.at(
                at,
                format!(
                    "{by} waits for {} to complete, and its `restart` would start it again",
                    service.name
                ),
            ));
        }
        service.ready = *condition;
    }
    Ok(())
}

fn condition_name(r: Readiness) -> &'static str {
    match r {
        Readiness::Healthy => "service_healthy",
        Readiness::Started => "service_started",
        Readiness::Completed => "service_completed_successfully",
    }
}

fn invalid(path: &Path, line: usize, column: usize, message: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message: message.into(),
    }
}

/// The import's context: where errors point, where relative paths start.
struct ComposeCx<'a> {
    shown: &'a Path,
    dir: PathBuf,
    warnings: Vec<String>,
    /// `environment: [NAME]` takes NAME's value from here.
    env_lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl ComposeCx<'_> {
    fn at(&self, location: &Location, message: impl Into<String>) -> PlanError {
        invalid(
            self.shown,
            location.line() as usize,
            location.column() as usize,
            message,
        )
    }

    fn warn(&mut self, line: u64, message: &str) {
        self.warnings
            .push(format!("{}:{line}: {message}", self.shown.display()));
    }

    /// Each key of a service: used, let through with a warning, or an error.
    fn judge_keys(&mut self, service: &str, keys: &KeyLines) -> Result<(), PlanError> {
        for (key, line) in &keys.0 {
            if USED_KEYS.contains(&key.as_str()) || key.starts_with("x-") {
                continue;
            }
            if let Some((_, why)) = IGNORED_KEYS.iter().find(|(k, _)| k == key) {
                self.warn(*line, &format!("{service}: `{key}` ignored: {why}"));
                continue;
            }
            return Err(invalid(
                self.shown,
                *line as usize,
                1,
                format!(
                    "{service}: `{key}` is not supported by gauntlet's Compose import, and running without it would test something else; supported: {}",
                    USED_KEYS.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Top-level `volumes:` names; external and driver volumes refused.
    fn top_level_volumes(&self, raw: &RawComposeFile) -> Result<Vec<String>, PlanError> {
        let mut names = Vec::new();
        for (name, volume) in raw.volumes.iter().flat_map(|v| &v.0) {
            if let Some(v) = volume {
                if v.value.external.as_ref().is_some_and(|e| e.0 != "false") {
                    return Err(self.at(
                        &v.referenced,
                        format!(
                            "volume {}: `external` volumes are not a run's own, and gauntlet touches nothing a run did not make",
                            name.value
                        ),
                    ));
                }
                if v.value.driver.as_ref().is_some_and(|d| d != "local") {
                    return Err(self.at(
                        &v.referenced,
                        format!("volume {}: only the `local` driver", name.value),
                    ));
                }
                if v.value.driver_opts.is_some() {
                    return Err(self.at(
                        &v.referenced,
                        format!(
                            "volume {}: `driver_opts` (a tmpfs, an NFS share, a bind) are not supported",
                            name.value
                        ),
                    ));
                }
                if v.value.name.is_some() {
                    return Err(self.at(
                        &v.referenced,
                        format!(
                            "volume {}: a fixed `name` would be shared by every run; gauntlet names it {}-<run id>",
                            name.value, name.value
                        ),
                    ));
                }
            }
            names.push(name.value.clone());
        }
        Ok(names)
    }

    /// Top-level `networks:` names (`default` always exists).
    fn top_level_networks(&self, raw: &RawComposeFile) -> Result<Vec<String>, PlanError> {
        let mut names = vec![DEFAULT_NETWORK.to_owned()];
        for (name, network) in raw.networks.iter().flat_map(|n| &n.0) {
            if let Some(n) = network {
                let refuse =
                    |why: &str| self.at(&n.referenced, format!("network {}: {why}", name.value));
                if n.value.external.as_ref().is_some_and(|e| e.0 != "false") {
                    return Err(refuse(
                        "`external` networks are not a run's own, and gauntlet touches nothing a run did not make",
                    ));
                }
                if n.value.driver.as_ref().is_some_and(|d| d != "bridge") {
                    return Err(refuse("only the `bridge` driver"));
                }
                if n.value.internal == Some(true) {
                    return Err(refuse("`internal` networks are not supported yet"));
                }
                if n.value.name.is_some() {
                    return Err(refuse(
                        "a fixed `name` would be shared by every run; gauntlet names each run's own",
                    ));
                }
            }
            if !names.contains(&name.value) {
                names.push(name.value.clone());
            }
        }
        Ok(names)
    }

    fn service(
        &mut self,
        name: &str,
        spanned: &Spanned<RawComposeService>,
        services: &[String],
        volumes: &[String],
        networks: &[String],
    ) -> Result<(Service, Vec<Dependency>), PlanError> {
        let r = &spanned.value;
        let image = match (&r.build, &r.image) {
            (Some(build), _) => self.build(build)?,
            (None, Some(image)) if !image.value.trim().is_empty() => {
                ImageSource::Local(image.value.clone())
            }
            (None, Some(image)) => return Err(self.at(&image.referenced, "`image` is empty")),
            (None, None) => {
                return Err(self.at(
                    &spanned.referenced,
                    format!("service {name} has neither `image` nor `build`"),
                ));
            }
        };
        let command = r.command.as_ref().map(|c| self.words(c)).transpose()?;
        let entrypoint = r.entrypoint.as_ref().map(|c| self.words(c)).transpose()?;
        let env = self.environment(r)?;
        let mut ports = Vec::new();
        for p in r.ports.iter().flatten() {
            ports.push(self.port(p)?);
        }
        let mut mounts = Vec::new();
        for v in r.volumes.iter().flatten() {
            mounts.push(self.volume(v, volumes)?);
        }
        let service_networks = match &r.networks {
            None => Vec::new(),
            Some(n) => {
                let listed: Vec<String> = match &n.value {
                    RawServiceNetworks::List(l) => l.clone(),
                    RawServiceNetworks::Map(m) => {
                        if m.values().flatten().any(|n| !n.aliases.is_empty()) {
                            return Err(self.at(
                                &n.referenced,
                                "network `aliases` are not supported yet: a service is reached by its name on each of its networks",
                            ));
                        }
                        m.keys().cloned().collect()
                    }
                };
                for net in &listed {
                    if !networks.contains(net) {
                        return Err(self.at(
                            &n.referenced,
                            format!(
                                "network {net:?} is not declared under the top-level `networks:` (declared: {})",
                                networks.join(", ")
                            ),
                        ));
                    }
                }
                listed
            }
        };
        let mem_limit = r
            .mem_limit
            .as_ref()
            .map(|m| {
                compose_size(&m.value.0).ok_or_else(|| {
                    self.at(
                        &m.referenced,
                        format!(
                            "mem_limit {:?} is not a size (a number of bytes, or with b, k, m or g)",
                            m.value.0
                        ),
                    )
                })
            })
            .transpose()?;
        let (restart, max_restarts) = match &r.restart {
            None => (RestartPolicy::Never, None),
            Some(s) => match s.value.as_str() {
                "no" => (RestartPolicy::Never, None),
                "always" | "unless-stopped" => (RestartPolicy::Always, None),
                "on-failure" => (RestartPolicy::OnFailure, None),
                other => match other.strip_prefix("on-failure:").map(str::parse::<u32>) {
                    Some(Ok(n)) => (RestartPolicy::OnFailure, Some(n)),
                    _ => {
                        return Err(self.at(
                            &s.referenced,
                            format!(
                                "restart {other:?}: use no, always, unless-stopped, on-failure or on-failure:N"
                            ),
                        ));
                    }
                },
            },
        };
        let stop_timeout = match &r.stop_grace_period {
            None => STOP_GRACE,
            Some(s) => self.duration(s)?,
        };
        let health = r
            .healthcheck
            .as_ref()
            .map(|h| self.healthcheck(h))
            .transpose()?
            .flatten();
        let mut depends_on = Vec::new();
        let mut deps = Vec::new();
        if let Some(d) = &r.depends_on {
            let listed: Vec<(&str, Readiness)> = match &d.value {
                RawDependsOn::List(names) => names
                    .iter()
                    .map(|n| (n.as_str(), Readiness::Started))
                    .collect(),
                RawDependsOn::Map(map) => {
                    let mut out = Vec::new();
                    for (n, dep) in map {
                        let condition = match dep.condition.as_deref() {
                            None | Some("service_started") => Readiness::Started,
                            Some("service_healthy") => Readiness::Healthy,
                            Some("service_completed_successfully") => Readiness::Completed,
                            Some(other) => {
                                return Err(self.at(
                                    &d.referenced,
                                    format!(
                                        "{n}: unknown condition {other:?} (service_started, service_healthy or service_completed_successfully)"
                                    ),
                                ));
                            }
                        };
                        if dep.required == Some(false) && !services.iter().any(|s| s == n) {
                            self.warn(
                                d.referenced.line(),
                                &format!(
                                    "{name}: optional dependency {n} is not in the file; skipped"
                                ),
                            );
                            continue;
                        }
                        if dep.restart == Some(true) {
                            self.warn(
                                d.referenced.line(),
                                &format!(
                                    "{name}: `restart: true` on {n} ignored: gauntlet restarts a service only when it exits or a fault kills it"
                                ),
                            );
                        }
                        out.push((n.as_str(), condition));
                    }
                    out
                }
            };
            for (dep, condition) in listed {
                if !services.iter().any(|s| s == dep) {
                    return Err(self.at(
                        &d.referenced,
                        format!(
                            "unknown service {dep:?} in depends_on of {name}; services are: {}",
                            services.join(", ")
                        ),
                    ));
                }
                if dep == name {
                    return Err(self.at(&d.referenced, format!("{name} depends on itself")));
                }
                depends_on.push(dep.to_owned());
                deps.push(Dependency {
                    service: dep.to_owned(),
                    condition,
                    location: d.referenced,
                });
            }
        }
        let container = ContainerService {
            image,
            command,
            entrypoint,
            ports,
            mem_limit,
            volumes: mounts,
            networks: service_networks,
            working_dir: r.working_dir.as_ref().map(|w| w.value.clone()),
            user: r.user.as_ref().map(|u| u.value.0.clone()),
        };
        let service = Service {
            name: name.to_owned(),
            run: Command {
                command: display_command(&container),
                cwd: self.dir.clone(),
                env,
            },
            depends_on,
            ready: Readiness::default(),
            health,
            limits: Limits {
                max_restarts,
                rss_growth_warn_pct: RSS_GROWTH_WARN_PCT,
                ..Limits::default()
            },
            restart,
            stop_timeout,
            tests: Vec::new(),
            host: None,
            group: None,
            container: Some(container),
        };
        Ok((service, deps))
    }

    fn build(&self, build: &Spanned<RawBuild>) -> Result<ImageSource, PlanError> {
        let (context, dockerfile, args) = match &build.value {
            RawBuild::Context(c) => (c.clone(), None, None),
            RawBuild::Full(t) => (
                t.context.clone().unwrap_or_else(|| ".".to_owned()),
                t.dockerfile.clone(),
                t.args.clone(),
            ),
        };
        if context.contains("://") || context.starts_with("git@") {
            return Err(self.at(
                &build.referenced,
                format!("build context {context:?}: only a directory (gauntlet fetches nothing)"),
            ));
        }
        let context = tidy(&self.dir.join(&context));
        let dockerfile = dockerfile.unwrap_or_else(|| "Dockerfile".to_owned());
        if !context.join(&dockerfile).is_file() {
            return Err(self.at(
                &build.referenced,
                format!(
                    "build: no Dockerfile at {}",
                    context.join(&dockerfile).display()
                ),
            ));
        }
        let args = match args {
            None => BTreeMap::new(),
            Some(a) => self.key_values(&a, &build.referenced)?,
        };
        Ok(ImageSource::Dockerfile {
            context,
            dockerfile,
            args,
        })
    }

    /// `command` / `entrypoint`: a list as it is, a string split as a
    /// shell splits words (no shell runs it, as in Compose).
    fn words(&self, value: &Spanned<StringOrList>) -> Result<Vec<String>, PlanError> {
        match &value.value {
            StringOrList::List(l) => Ok(l.clone()),
            StringOrList::String(s) => {
                split_words(s).map_err(|why| self.at(&value.referenced, why))
            }
        }
    }

    /// `KEY=VALUE` lists and maps; a bare `KEY` takes gauntlet's own value
    /// of it (and is left out when it has none), as Compose does.
    fn key_values(
        &self,
        value: &ListOrMap,
        at: &Location,
    ) -> Result<BTreeMap<String, String>, PlanError> {
        let mut out = BTreeMap::new();
        let mut put = |key: &str, value: Option<String>| -> Result<(), PlanError> {
            if key.is_empty() || key.contains('\0') {
                return Err(self.at(at, format!("{key:?} is not a variable name")));
            }
            if let Some(v) = value.or_else(|| (self.env_lookup)(key)) {
                out.insert(key.to_owned(), v);
            }
            Ok(())
        };
        match value {
            ListOrMap::List(items) => {
                for item in items {
                    match item.split_once('=') {
                        Some((k, v)) => put(k, Some(v.to_owned()))?,
                        None => put(item, None)?,
                    }
                }
            }
            ListOrMap::Map(map) => {
                for (k, v) in map {
                    put(k, v.as_ref().map(|Scalar(s)| s.clone()))?;
                }
            }
        }
        Ok(out)
    }

    /// `env_file` first, `environment` over it.
    fn environment(&self, r: &RawComposeService) -> Result<BTreeMap<String, String>, PlanError> {
        let mut env = BTreeMap::new();
        if let Some(files) = &r.env_file {
            let files = match &files.value {
                StringOrList::String(s) => vec![s.clone()],
                StringOrList::List(l) => l.clone(),
            };
            for f in files {
                let path = tidy(&self.dir.join(&f));
                let text = std::fs::read_to_string(&path).map_err(|source| PlanError::Read {
                    path: path.clone(),
                    source,
                })?;
                let pairs = parse_env_file(&text)
                    .map_err(|(line, message)| invalid(&path, line, 1, message))?;
                env.extend(pairs);
            }
        }
        if let Some(e) = &r.environment {
            env.extend(self.key_values(&e.value, &e.referenced)?);
        }
        Ok(env)
    }

    fn port(&self, p: &Spanned<RawPort>) -> Result<PortMapping, PlanError> {
        match &p.value {
            RawPort::Short(Scalar(text)) => PortMapping::parse(text)
                .map_err(|why| self.at(&p.referenced, format!("port {text:?}: {why}"))),
            RawPort::Long(t) => {
                let published = t.published.as_ref().ok_or_else(|| {
                    self.at(
                        &p.referenced,
                        "give `published` too: a port the engine picks is one nothing in the plan can reach",
                    )
                })?;
                let proto = t.protocol.as_deref().unwrap_or("tcp");
                let host_ip = t.host_ip.as_deref().unwrap_or("127.0.0.1");
                let text = format!("{host_ip}:{}:{}/{proto}", published.0, t.target);
                PortMapping::parse(&text)
                    .map_err(|why| self.at(&p.referenced, format!("port {text:?}: {why}")))
            }
        }
    }

    fn volume(
        &self,
        v: &Spanned<RawVolume>,
        declared: &[String],
    ) -> Result<VolumeMount, PlanError> {
        let mount = match &v.value {
            RawVolume::Short(text) => {
                if !text.contains(':') {
                    return Err(self.at(
                        &v.referenced,
                        format!(
                            "volume {text:?}: an anonymous volume; give it a name (data:{text}) so a run can keep and remove it"
                        ),
                    ));
                }
                parse_volume(text, &self.dir)
                    .map_err(|why| self.at(&v.referenced, format!("volume {text:?}: {why}")))?
            }
            RawVolume::Long(t) => {
                let source = t.source.clone().ok_or_else(|| {
                    self.at(
                        &v.referenced,
                        "the volume needs a `source` (anonymous volumes are not supported)",
                    )
                })?;
                let source = match t.kind.as_str() {
                    "volume" => VolumeSource::Named(source),
                    "bind" => VolumeSource::Bind(tidy(&self.dir.join(source))),
                    other => {
                        return Err(self.at(
                            &v.referenced,
                            format!("volume type {other:?}: only `volume` and `bind`"),
                        ));
                    }
                };
                if !t.target.starts_with('/') {
                    return Err(self.at(
                        &v.referenced,
                        format!("the target {:?} is not an absolute path", t.target),
                    ));
                }
                VolumeMount {
                    source,
                    target: t.target.clone(),
                    read_only: t.read_only,
                }
            }
        };
        if let VolumeSource::Named(name) = &mount.source
            && !declared.contains(name)
        {
            return Err(self.at(
                &v.referenced,
                format!("volume {name:?} is not declared under the top-level `volumes:`"),
            ));
        }
        Ok(mount)
    }

    /// A Compose healthcheck as a check run inside the container;
    /// `None` when it is disabled.
    fn healthcheck(
        &self,
        h: &Spanned<raw::RawHealthcheck>,
    ) -> Result<Option<HealthCheck>, PlanError> {
        let hc = &h.value;
        if hc.disable {
            return Ok(None);
        }
        let argv = match &hc.test {
            None => {
                return Err(self.at(
                    &h.referenced,
                    "the healthcheck has no `test` (the image's own HEALTHCHECK is not read)",
                ));
            }
            Some(StringOrList::String(s)) => shell(s),
            Some(StringOrList::List(l)) => match l.split_first() {
                Some((first, _)) if first == "NONE" => return Ok(None),
                Some((first, rest)) if first == "CMD" && !rest.is_empty() => rest.to_vec(),
                Some((first, [command])) if first == "CMD-SHELL" => shell(command),
                _ => {
                    return Err(self.at(
                        &h.referenced,
                        "healthcheck `test` must be [\"CMD\", program, args...], [\"CMD-SHELL\", command], [\"NONE\"] or a string",
                    ));
                }
            },
        };
        let duration = |v: &Option<String>, default: Duration| -> Result<Duration, PlanError> {
            match v {
                None => Ok(default),
                Some(text) => parse_duration(text)
                    .map_err(|e| self.at(&h.referenced, format!("healthcheck: {e}"))),
            }
        };
        let interval = duration(&hc.interval, HC_INTERVAL)?;
        let probe_timeout = duration(&hc.timeout, HC_TIMEOUT)?;
        let start_period = duration(&hc.start_period, Duration::ZERO)?;
        duration(&hc.start_interval, Duration::ZERO)?;
        let retries = hc.retries.unwrap_or(HC_RETRIES).max(1);
        if interval.is_zero() || probe_timeout.is_zero() {
            return Err(self.at(
                &h.referenced,
                "healthcheck `interval` and `timeout` must be more than 0",
            ));
        }
        // Compose calls a container unhealthy after `retries` failures in a
        // row past its start period; gauntlet gives up becoming healthy
        // after as long as that takes at the most.
        let timeout = start_period + (interval + probe_timeout) * retries;
        Ok(Some(HealthCheck {
            probe: Probe::Exec { argv },
            timeout,
            interval: FIRST_PROBE_WAIT.min(interval),
            max_interval: interval,
            jitter: 0.2,
            probe_timeout,
            warn_p95: None,
        }))
    }

    fn duration(&self, s: &Spanned<String>) -> Result<Duration, PlanError> {
        parse_duration(&s.value).map_err(|e| self.at(&s.referenced, e.to_string()))
    }
}

/// What reports show of a container's service: its image and command.
pub(crate) fn display_command(container: &ContainerService) -> CommandLine {
    CommandLine::Argv(
        std::iter::once(container.image.to_string())
            .chain(container.command.iter().flatten().cloned())
            .collect(),
    )
}

fn shell(command: &str) -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned(), command.to_owned()]
}

/// Compose's byte sizes: a number of bytes, or with `b`, `k`, `m`, `g`
/// (`kb`, `mb`, `gb` alike), powers of 1024.
fn compose_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = t.split_at(digits);
    let n: u64 = number.parse().ok()?;
    let shift = match unit.strip_suffix('b').unwrap_or(unit) {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// Words as a POSIX shell splits them: blanks separate, quotes group, a
/// backslash escapes outside single quotes. No expansion of any kind.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unmatched ' in {text:?}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("unmatched \" in {text:?}")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("unmatched \" in {text:?}")),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    if words.is_empty() {
        return Err("the command is empty".to_owned());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_a_shell_splits_them() {
        assert_eq!(
            split_words(r#"redis-server --save "" --x 'a b' c\ d "e\"f""#).unwrap(),
            vec!["redis-server", "--save", "", "--x", "a b", "c d", "e\"f"]
        );
        assert!(split_words("a 'b").is_err());
        assert!(split_words("   ").is_err());
    }

    #[test]
    fn sizes_are_compose_s_powers_of_1024() {
        assert_eq!(compose_size("64m"), Some(64 << 20));
        assert_eq!(compose_size("64MB"), Some(64 << 20));
        assert_eq!(compose_size("1g"), Some(1 << 30));
        assert_eq!(compose_size("512"), Some(512));
        assert_eq!(compose_size("12x"), None);
        assert_eq!(compose_size("m"), None);
    }
}
