//! Loading a fleet file: `[defaults]` applied to each `[[node]]`, every
//! value checked at its line.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{Cx, plain_name, tidy};
use crate::error::PlanError;
use crate::fleet::{
    BUILD_TIMEOUT, CONNECT_TIMEOUT, FIX_TIMEOUT, Fleet, FleetNode, Project, ProjectService,
    SUITE_TIMEOUT, ServiceControl, SshTarget, Suite, SuiteRuns,
};
use crate::raw::{
    RawCommandLine, RawFleet, RawNode, RawProject, RawProjectService, RawSsh, RawSuite,
};
use crate::{Command, CommandLine, Expect, NatType, TestCommand};

/// Reads and loads the fleet file at `path`; `sets` are `--set key=value`.
pub fn load_fleet(path: &Path, sets: &[(String, String)]) -> Result<Fleet, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_fleet_str(&text, path, sets)
}

/// [`load_fleet`] from `text`; `path` is used in messages and as the base
/// of relative paths.
pub fn load_fleet_str(
    text: &str,
    path: &Path,
    sets: &[(String, String)],
) -> Result<Fleet, PlanError> {
    let raw: RawFleet = toml::from_str(text).map_err(|e| PlanError::syntax(path, text, &e))?;
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
    cx.resolve_vars(&raw.vars, sets)?;
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(cx.err(n.span(), "the fleet's `name` is empty"));
        }
        Some(n) => n.get_ref().clone(),
        None => path
            .file_stem()
            .map_or_else(|| "fleet".to_owned(), |s| s.to_string_lossy().into_owned()),
    };
    let defaults = raw.defaults.as_ref().map(Spanned::get_ref);
    let mut seen = HashSet::new();
    let mut nodes = Vec::with_capacity(raw.node.len());
    for node in &raw.node {
        let n = node.get_ref();
        cx.check_name(&n.name, "node")?;
        if !seen.insert(n.name.get_ref().clone()) {
            return Err(cx.err(
                n.name.span(),
                format!("two nodes are named \"{}\"", n.name.get_ref()),
            ));
        }
        nodes.push(cx.fleet_node(node, defaults)?);
    }
    if nodes.is_empty() {
        return Err(PlanError::Plan {
            path: path.to_owned(),
            message: "the fleet has no [[node]]".to_owned(),
        });
    }
    let mut projects: Vec<Project> = Vec::with_capacity(raw.project.len());
    for project in &raw.project {
        let p = project.get_ref();
        cx.check_name(&p.name, "project")?;
        if projects.iter().any(|q| q.name == *p.name.get_ref()) {
            return Err(cx.err(
                p.name.span(),
                format!("two projects are named \"{}\"", p.name.get_ref()),
            ));
        }
        projects.push(cx.project(project, &nodes)?);
    }
    Ok(Fleet {
        name,
        path: file,
        nodes,
        projects,
        notify: cx.notify(&raw.notify)?,
    })
}

impl Cx<'_> {
    fn project(
        &self,
        spanned: &Spanned<RawProject>,
        nodes: &[FleetNode],
    ) -> Result<Project, PlanError> {
        let p = spanned.get_ref();
        let name = p.name.get_ref().clone();
        let needs =
            |key: &str| self.err(spanned.span(), format!("project \"{name}\" has no `{key}`"));
        let repo = match &p.repo {
            Some(r) => self.local_path(r)?,
            None => self.dir.clone(),
        };
        let in_repo = |raw: &Spanned<RawCommandLine>| -> Result<Command, PlanError> {
            Ok(Command {
                command: self.command_line(raw)?,
                cwd: repo.clone(),
                env: BTreeMap::new(),
            })
        };
        let build = in_repo(p.build.as_ref().ok_or_else(|| needs("build"))?)?;
        let artifact = {
            let a = p.artifact.as_ref().ok_or_else(|| needs("artifact"))?;
            let text = self.expand(a)?;
            if text.is_empty() {
                return Err(self.err(a.span(), "`artifact` is empty"));
            }
            tidy(&repo.join(text))
        };
        let install = {
            let i = p.install.as_ref().ok_or_else(|| needs("install"))?;
            let text = self.expand(i)?;
            if !text.starts_with('/') || text.ends_with('/') || text.contains("/../") {
                return Err(self.err(
                    i.span(),
                    format!("`install` {text:?} is the absolute path of the file on each node (/opt/app/bin/app)"),
                ));
            }
            text
        };
        let service = {
            let s = p.service.as_ref().ok_or_else(|| needs("service"))?;
            self.project_service(s, &repo)?
        };
        let count = |v: &Option<Spanned<i64>>, key: &str, default: u32| match v {
            None => Ok(default),
            Some(n) => u32::try_from(*n.get_ref())
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| self.err(n.span(), format!("`{key}` is between 1 and 100"))),
        };
        let defaults = gauntlet_fleet::LoopSpec::default();
        let checkpoints = match &p.checkpoints {
            None => defaults.checkpoints.clone(),
            Some(list) => {
                let mut out = Vec::new();
                for c in list.get_ref() {
                    let d = self.duration(c, "checkpoints")?;
                    if out.last().is_some_and(|last| d <= *last) {
                        return Err(self.err(
                            c.span(),
                            "`checkpoints` count from the first green test: each later than the one before",
                        ));
                    }
                    out.push(d);
                }
                out
            }
        };
        let tolerance = match &p.regression_tolerance_pct {
            None => defaults.regression_tolerance_pct,
            Some(t) if (0.0..=100.0).contains(t.get_ref()) => *t.get_ref(),
            Some(t) => {
                return Err(self.err(
                    t.span(),
                    "`regression_tolerance_pct` is a percentage between 0 and 100",
                ));
            }
        };
        Ok(Project {
            nodes: self.select_nodes(p.nodes.as_ref(), nodes)?,
            repo: repo.clone(),
            build,
            build_timeout: self.duration_or(
                p.build_timeout.as_ref(),
                "build_timeout",
                BUILD_TIMEOUT,
            )?,
            artifact,
            install,
            service,
            fix_hook: p.fix_hook.as_ref().map(in_repo).transpose()?,
            fix_timeout: self.duration_or(p.fix_timeout.as_ref(), "fix_timeout", FIX_TIMEOUT)?,
            suites: self.suites(&p.suite, &repo)?,
            check: p
                .criteria
                .as_ref()
                .and_then(|c| c.get_ref().check.as_ref().map(|check| (c, check)))
                .map(|(c, check)| -> Result<TestCommand, PlanError> {
                    Ok(TestCommand {
                        name: "check".to_owned(),
                        run: in_repo(check)?,
                        timeout: self.duration_or(
                            c.get_ref().check_timeout.as_ref(),
                            "check_timeout",
                            SUITE_TIMEOUT,
                        )?,
                        expect: Expect {
                            exit: 0,
                            stdout_contains: None,
                            figures: Vec::new(),
                        },
                    })
                })
                .transpose()?,
            loop_spec: gauntlet_fleet::LoopSpec {
                checkpoints,
                max_builds: count(&p.max_builds, "max_builds", defaults.max_builds)?,
                max_fixes: count(&p.max_fixes, "max_fixes", defaults.max_fixes)?,
                regression_tolerance_pct: tolerance,
            },
            name,
        })
    }

    /// `[[project.suite]]` tables.
    fn suites(&self, raw: &[Spanned<RawSuite>], repo: &Path) -> Result<Vec<Suite>, PlanError> {
        let mut out: Vec<Suite> = Vec::new();
        for spanned in raw {
            let s = spanned.get_ref();
            self.check_name(&s.name, "suite")?;
            let name = s.name.get_ref().clone();
            if out.iter().any(|x| x.name() == name) {
                return Err(self.err(s.name.span(), format!("two suites named \"{name}\"")));
            }
            let mut focus = Vec::new();
            for f in s.focus.iter().flat_map(|f| f.get_ref()) {
                self.check_name(f, "focus")?;
                if f.get_ref() != crate::FULL_SUITE {
                    focus.push(f.get_ref().clone());
                }
            }
            let on = match s.on.as_ref().map(|o| (o, o.get_ref().as_str())) {
                None | Some((_, "here")) => SuiteRuns::Here,
                Some((_, "nodes")) => SuiteRuns::EachNode,
                Some((o, other)) => {
                    return Err(self.err(
                        o.span(),
                        format!("suite \"{name}\": `on = {other:?}`: `here` (once, on this machine) or `nodes` (on every deployed node)"),
                    ));
                }
            };
            let command = s.command.as_ref().ok_or_else(|| {
                self.err(spanned.span(), format!("suite \"{name}\" has no `command`"))
            })?;
            // On a node, a command starts in `/`: the project's tree is here.
            let cwd = match on {
                SuiteRuns::Here => repo.to_owned(),
                SuiteRuns::EachNode => PathBuf::from("/"),
            };
            out.push(Suite {
                focus,
                on,
                test: TestCommand {
                    name,
                    run: Command {
                        command: self.command_line(command)?,
                        cwd,
                        env: BTreeMap::new(),
                    },
                    timeout: self.duration_or(s.timeout.as_ref(), "timeout", SUITE_TIMEOUT)?,
                    expect: Expect {
                        exit: 0,
                        stdout_contains: None,
                        figures: self.figures(&s.figure)?,
                    },
                },
            });
        }
        Ok(out)
    }

    fn project_service(
        &self,
        spanned: &Spanned<RawProjectService>,
        repo: &Path,
    ) -> Result<ProjectService, PlanError> {
        let s = spanned.get_ref();
        let control = match (&s.command, &s.systemd) {
            (Some(_), Some(unit)) => {
                return Err(self.err(
                    unit.span(),
                    "the service has both `command` and `systemd`; give one: a command Gauntlet supervises on the node, or a systemd unit",
                ));
            }
            (None, None) => {
                return Err(self.err(
                    spanned.span(),
                    "the service needs `command` (Gauntlet supervises it on the node) or `systemd` (a unit)",
                ));
            }
            (Some(c), None) => ServiceControl::Supervised {
                command: self.command_line(c)?,
                stop_timeout: self.duration_or(
                    s.stop_timeout.as_ref(),
                    "stop_timeout",
                    std::time::Duration::from_secs(10),
                )?,
            },
            (None, Some(unit)) => {
                let text = self.expand(unit)?;
                if !plain_name(&text.replace('@', "")) {
                    return Err(
                        self.err(unit.span(), format!("{text:?} is not a systemd unit name"))
                    );
                }
                if let Some(t) = &s.stop_timeout {
                    return Err(self.err(
                        t.span(),
                        "`stop_timeout` goes with `command`; a unit's own TimeoutStopSec applies",
                    ));
                }
                ServiceControl::Systemd { unit: text }
            }
        };
        // Checks that run here (`command`) start in the project's tree;
        // `exec` runs on the node.
        let here = Command {
            command: CommandLine::Argv(vec!["true".to_owned()]),
            cwd: repo.to_owned(),
            env: BTreeMap::new(),
        };
        let health = s
            .health
            .as_ref()
            .map(|h| self.health(h, &here, true))
            .transpose()?;
        Ok(ProjectService { control, health })
    }

    /// `nodes = [...]`: node names, `role:R`, `region:R`, `nat:T` (`nat:public`
    /// for none) or `all`; every node when absent.
    pub(super) fn select_nodes(
        &self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        nodes: &[FleetNode],
    ) -> Result<Vec<String>, PlanError> {
        let Some(list) = raw else {
            return Ok(nodes.iter().map(|n| n.name.clone()).collect());
        };
        let mut chosen = vec![false; nodes.len()];
        for item in list.get_ref() {
            let word = self.expand(item)?;
            let matches: Vec<bool> = nodes
                .iter()
                .map(|n| match word.split_once(':') {
                    None if word == "all" => true,
                    None => n.name == word,
                    Some(("role", r)) => n.role == r,
                    Some(("region", r)) => n.region.as_deref() == Some(r),
                    Some(("nat", t)) => n.nat_word() == t,
                    Some(_) => false,
                })
                .collect();
            if !matches.contains(&true) {
                return Err(self.err(
                    item.span(),
                    format!(
                        "{word:?} selects no node; use a node's name, role:R, region:R, nat:T or all (nodes: {})",
                        nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            for (c, m) in chosen.iter_mut().zip(matches) {
                *c |= m;
            }
        }
        Ok(nodes
            .iter()
            .zip(chosen)
            .filter(|(_, c)| *c)
            .map(|(n, _)| n.name.clone())
            .collect())
    }

    fn fleet_node(
        &self,
        spanned: &Spanned<RawNode>,
        defaults: Option<&RawSsh>,
    ) -> Result<FleetNode, PlanError> {
        let n = spanned.get_ref();
        let name = n.name.get_ref().clone();
        let address = match &n.address {
            Some(a) => self.host_word(a, "address")?,
            None => {
                return Err(self.err(
                    spanned.span(),
                    format!(
                        "node \"{name}\" has no `address` (a host name, an IP address or an ~/.ssh/config alias)"
                    ),
                ));
            }
        };
        let fallback_address = n
            .fallback_address
            .as_ref()
            .map(|a| self.host_word(a, "fallback_address"))
            .transpose()?;
        let port = n
            .port
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.port.as_ref()))
            .map(|p| match u16::try_from(*p.get_ref()) {
                Ok(port) if port > 0 => Ok(port),
                _ => Err(self.err(p.span(), "`port` is between 1 and 65535")),
            })
            .transpose()?;
        let user = n
            .user
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.user.as_ref()))
            .map(|u| {
                let user = self.expand(u)?;
                if plain_name(&user) {
                    Ok(user)
                } else {
                    Err(self.err(u.span(), format!("{user:?} is not a user name")))
                }
            })
            .transpose()?;
        let identity = n
            .identity
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.identity.as_ref()))
            .map(|p| self.local_path(p))
            .transpose()?;
        let known_hosts = n
            .known_hosts
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.known_hosts.as_ref()))
            .map(|p| self.local_path(p))
            .transpose()?;
        let connect_timeout = self.duration_or(
            n.connect_timeout
                .as_ref()
                .or_else(|| defaults.and_then(|d| d.connect_timeout.as_ref())),
            "connect_timeout",
            CONNECT_TIMEOUT,
        )?;
        let role = match &n.role {
            None => "test".to_owned(),
            Some(r) => {
                let role = self.expand(r)?;
                if role.is_empty()
                    || !role
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    return Err(self.err(
                        r.span(),
                        format!("role {role:?} is one word: lowercase letters, digits and '-' (bootstrap, test, monitor)"),
                    ));
                }
                role
            }
        };
        let nat = match &n.nat {
            None => None,
            Some(w) if w.get_ref() == "none" || w.get_ref() == "public" => None,
            Some(w) => Some(NatType::parse(w.get_ref()).ok_or_else(|| {
                self.err(
                    w.span(),
                    format!(
                        "unknown NAT type {:?}; types are: none, {}",
                        w.get_ref(),
                        NatType::ALL.map(NatType::name).join(", ")
                    ),
                )
            })?),
        };
        let mut labels = BTreeMap::new();
        for (key, value) in &n.labels.0 {
            if !plain_name(key.get_ref()) {
                return Err(self.err(
                    key.span(),
                    format!(
                        "label {:?}: use letters, digits, '_', '.' and '-'",
                        key.get_ref()
                    ),
                ));
            }
            labels.insert(key.get_ref().clone(), self.expand(value)?);
        }
        Ok(FleetNode {
            name,
            ssh: SshTarget {
                address,
                fallback_address,
                port,
                user,
                identity,
                known_hosts,
                connect_timeout,
            },
            role,
            region: n.region.as_ref().map(|r| self.expand(r)).transpose()?,
            nat,
            labels,
        })
    }

    /// A host name, address or alias: one word that `ssh` cannot take for
    /// an option.
    fn host_word(&self, raw: &Spanned<String>, key: &str) -> Result<String, PlanError> {
        let word = self.expand(raw)?;
        if word.is_empty()
            || word.starts_with('-')
            || word.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.err(
                raw.span(),
                format!("`{key}` {word:?} is not a host name, an address or an ssh alias"),
            ));
        }
        Ok(word)
    }

    /// A path on this machine: `~/` is the user's home, a relative path is
    /// relative to the fleet file.
    fn local_path(&self, raw: &Spanned<String>) -> Result<PathBuf, PlanError> {
        let text = self.expand(raw)?;
        if let Some(rest) = text.strip_prefix("~/") {
            let Some(home) = std::env::var_os("HOME") else {
                return Err(self.err(raw.span(), "`~/` needs $HOME, which is not set"));
            };
            return Ok(PathBuf::from(home).join(rest));
        }
        if text.is_empty() {
            return Err(self.err(raw.span(), "the path is empty"));
        }
        Ok(tidy(&self.dir.join(text)))
    }
}
