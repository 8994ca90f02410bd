//! `[[service]]` tables: commands, health checks, limits and tests.

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::{COMMAND_TIMEOUT, Cx, Places, command_text};
use crate::compose::Imported;
use crate::error::PlanError;
use crate::order::find_cycle;
use crate::raw::{RawHealth, RawLimits, RawRestart, RawService, RawTest, RawTestTable};
use crate::{Command, Expect, HealthCheck, Limits, Probe, RestartPolicy, Service, TestCommand};

const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
const HEALTH_INTERVAL: Duration = Duration::from_millis(100);
const HEALTH_MAX_INTERVAL: Duration = Duration::from_secs(2);
const HEALTH_JITTER: f64 = 0.2;
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
pub(crate) const RSS_GROWTH_WARN_PCT: f64 = 20.0;

/// A `[[service]]`'s keys besides how to run it.
pub(super) struct ServiceExtras {
    pub health: Option<HealthCheck>,
    pub tests: Vec<TestCommand>,
    pub limits: Limits,
    pub restart: RestartPolicy,
    pub stop_timeout: Duration,
}

impl Cx<'_> {
    pub(super) fn services(
        &self,
        raw: &[Spanned<RawService>],
        places: Places<'_>,
        compose: Option<&Imported>,
    ) -> Result<Vec<Service>, PlanError> {
        // A Compose file's services first, in its order.
        let mut services: Vec<Service> = compose.map_or_else(Vec::new, |c| c.services.clone());
        let imported = services.len();
        let mut extended: HashSet<&str> = HashSet::new();
        let mut groups: Vec<String> = Vec::new();
        for r in raw {
            let name = r.get_ref().name.get_ref();
            self.check_name(&r.get_ref().name, "service")?;
            if let Some(compose) = compose
                && let Some(service) = services[..imported].iter_mut().find(|s| &s.name == name)
            {
                if !extended.insert(name) {
                    return Err(self.err(
                        r.get_ref().name.span(),
                        format!("duplicate service name \"{name}\""),
                    ));
                }
                self.extend_imported(r, service, compose)?;
                continue;
            }
            let instances = match &r.get_ref().on {
                None => {
                    let mut service = self.service(r)?;
                    service.host = self.service_host(r.get_ref(), places)?;
                    self.on_node(r.get_ref(), places, &mut service)?;
                    vec![service]
                }
                Some(on) => {
                    groups.push(name.clone());
                    self.instances(r, on, places)?
                }
            };
            for service in instances {
                let clash = services
                    .iter()
                    .any(|s| s.name == service.name || s.group.as_deref() == Some(&service.name))
                    || service
                        .group
                        .as_ref()
                        .is_some_and(|g| services.iter().any(|s| &s.name == g));
                if clash {
                    return Err(self.err(
                        r.get_ref().name.span(),
                        format!("duplicate service name \"{}\"", service.name),
                    ));
                }
                services.push(service);
            }
        }
        // `depends_on` may name a group (a service with `on`): all its
        // instances.
        let group_of = |g: &str| -> Vec<String> {
            services
                .iter()
                .filter(|s| s.group.as_deref() == Some(g))
                .map(|s| s.name.clone())
                .collect()
        };
        let expanded: Vec<Vec<String>> = services
            .iter()
            .map(|s| {
                s.depends_on
                    .iter()
                    .flat_map(|d| {
                        let members = group_of(d);
                        if members.is_empty() {
                            vec![d.clone()]
                        } else {
                            members
                        }
                    })
                    .collect()
            })
            .collect();
        for (s, deps) in services.iter_mut().zip(expanded) {
            s.depends_on = deps;
        }
        let mut names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        names.extend(groups.iter().cloned());
        for r in raw {
            let owner = r.get_ref().name.get_ref();
            let mut seen = HashSet::new();
            for dep in &r.get_ref().depends_on {
                let d = dep.get_ref();
                if !names.contains(d) {
                    return Err(self.err(
                        dep.span(),
                        format!(
                            "unknown service \"{d}\" in depends_on; services are: {}",
                            names.join(", ")
                        ),
                    ));
                }
                if !seen.insert(d) {
                    return Err(self.err(
                        dep.span(),
                        format!("\"{d}\" is listed twice in depends_on of \"{owner}\""),
                    ));
                }
            }
        }
        if let Some((cycle, entry)) = find_cycle(&services) {
            let closer = &cycle[cycle.len() - 2];
            let span = raw
                .iter()
                .find(|r| r.get_ref().name.get_ref() == closer)
                .and_then(|r| r.get_ref().depends_on.get(entry))
                .map_or(0..0, Spanned::span);
            return Err(self.err(
                span,
                format!("dependency cycle in depends_on: {}", cycle.join(" → ")),
            ));
        }
        Ok(services)
    }

    /// `on = [hosts]`: one instance per host, `<name>-<host>`, its
    /// command and environment expanded with `${host}`, `${addr}` (the
    /// host's first address; a fleet node's `address`) and `${addrs}`
    /// (every instance's address, comma-separated, in `on`'s order; a
    /// fleet's selectors such as `role:test` in the fleet's order).
    fn instances(
        &self,
        r: &Spanned<RawService>,
        on: &Spanned<Vec<Spanned<String>>>,
        places: Places<'_>,
    ) -> Result<Vec<Service>, PlanError> {
        let raw = r.get_ref();
        if let Some(host) = &raw.host {
            return Err(self.err(
                host.span(),
                "`host` and `on` do not go together: `on` lists the hosts",
            ));
        }
        if on.get_ref().is_empty() {
            return Err(self.err(on.span(), "`on` lists at least one lab host or fleet node"));
        }
        let mut hosts: Vec<(String, String)> = Vec::new();
        match places {
            Places::Here => {
                return Err(self.err(
                    on.span(),
                    "`on` names lab hosts or fleet nodes, and this plan has no lab ([[segment]] and [[host]] tables) and no `fleet = \"fleet.toml\"`",
                ));
            }
            Places::Lab(lab) => {
                for h in on.get_ref() {
                    let host = self.lab_host(lab, h)?;
                    if hosts.iter().any(|(n, _)| n == h.get_ref()) {
                        return Err(self.err(
                            h.span(),
                            format!("{:?} is listed twice in `on`", h.get_ref()),
                        ));
                    }
                    hosts.push((host.name.clone(), host.address().to_string()));
                }
            }
            Places::Fleet(fleet) => {
                // The fleet file's own selection: names, role:R,
                // region:R, nat:T, all.
                for node in self.select_nodes(Some(on), &fleet.nodes)? {
                    let address = fleet
                        .node(&node)
                        .map(|n| n.ssh.address.clone())
                        .unwrap_or_default();
                    hosts.push((node, address));
                }
            }
        }
        let addrs = hosts
            .iter()
            .map(|(_, a)| a.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let name = raw.name.get_ref();
        hosts
            .iter()
            .map(|(host, addr)| {
                let mut vars = self.vars.clone();
                vars.insert("host".into(), host.clone());
                vars.insert("addr".into(), addr.clone());
                vars.insert("addrs".into(), addrs.clone());
                let cx = Cx {
                    path: self.path,
                    text: self.text,
                    dir: self.dir.clone(),
                    vars,
                };
                let mut service = cx.service(r)?;
                service.name = format!("{name}-{host}");
                service.host = Some(host.clone());
                service.group = Some(name.clone());
                // Its own `${host}` and `${addr}` in its `cwd`.
                cx.on_node(raw, places, &mut service)?;
                Ok(service)
            })
            .collect()
    }

    /// `host = "…"`: a host of the plan's lab, or a node of its fleet.
    fn service_host(
        &self,
        r: &RawService,
        places: Places<'_>,
    ) -> Result<Option<String>, PlanError> {
        let Some(host) = &r.host else {
            return Ok(None);
        };
        match places {
            Places::Here => Err(self.err(
                host.span(),
                "`host` names a lab host or a fleet node, and this plan has no lab ([[segment]] and [[host]] tables) and no `fleet = \"fleet.toml\"`",
            )),
            Places::Lab(lab) => {
                self.lab_host(lab, host)?;
                Ok(Some(host.get_ref().clone()))
            }
            Places::Fleet(fleet) => match fleet.node(host.get_ref()) {
                Some(node) => Ok(Some(node.name.clone())),
                None => Err(self.err(
                    host.span(),
                    format!(
                        "no node called {:?} in fleet {} (its nodes: {})",
                        host.get_ref(),
                        fleet.path.display(),
                        fleet
                            .nodes
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            },
        }
    }

    /// A service on a fleet node runs in a directory of the node: `cwd`
    /// is an absolute path there (the plan's directory is this
    /// machine's), `/` unless said. Its container, if any, would be this
    /// machine's engine's: refused.
    fn on_node(
        &self,
        r: &RawService,
        places: Places<'_>,
        service: &mut Service,
    ) -> Result<(), PlanError> {
        if !matches!(places, Places::Fleet(_)) || service.host.is_none() {
            return Ok(());
        }
        if service.container.is_some() {
            let span = r.host.as_ref().map_or(0..0, Spanned::span);
            return Err(self.err(
                span,
                "a service on a fleet node runs a command there over SSH; an image runs in this machine's Docker Engine",
            ));
        }
        match &r.cwd {
            None => service.run.cwd = std::path::PathBuf::from("/"),
            Some(cwd) => {
                let text = self.expand(cwd)?;
                if !text.starts_with('/') {
                    return Err(self.err(
                        cwd.span(),
                        format!("`cwd` {text:?} of a service on a fleet node is a directory on the node: an absolute path"),
                    ));
                }
                service.run.cwd = super::tidy(std::path::Path::new(&text));
            }
        }
        Ok(())
    }

    fn service(&self, spanned: &Spanned<RawService>) -> Result<Service, PlanError> {
        let r: &RawService = spanned.get_ref();
        let name = r.name.get_ref().clone();
        let container = self.container(spanned)?;
        let run = match &container {
            // What reports show of it: the image and its command. The
            // container's own command is `container.command`.
            Some(c) => Command {
                command: crate::compose::display_command(c),
                cwd: self.dir.clone(),
                env: self.env(&r.env)?,
            },
            None => {
                let command = r.command.as_ref().ok_or_else(|| {
                    self.err(
                        spanned.span(),
                        format!("service \"{name}\" has no `command`"),
                    )
                })?;
                Command {
                    command: self.command_line(command)?,
                    cwd: self.cwd(r.cwd.as_ref(), &self.dir)?,
                    env: self.env(&r.env)?,
                }
            }
        };
        let extras = self.service_extras(spanned, &run, container.is_some())?;
        Ok(Service {
            name,
            depends_on: r.depends_on.iter().map(|d| d.get_ref().clone()).collect(),
            ready: crate::Readiness::default(),
            health: extras.health,
            limits: extras.limits,
            restart: extras.restart,
            stop_timeout: extras.stop_timeout,
            tests: extras.tests,
            host: None,
            group: None,
            container,
            run,
        })
    }

    /// What a `[[service]]` says besides how to run it: its health check,
    /// tests, limits, restart policy and stop timeout. `in_container`:
    /// whether a health check may `exec` inside it.
    pub(super) fn service_extras(
        &self,
        spanned: &Spanned<RawService>,
        run: &Command,
        in_container: bool,
    ) -> Result<ServiceExtras, PlanError> {
        let r: &RawService = spanned.get_ref();
        let name = r.name.get_ref();
        let health = r
            .health
            .as_ref()
            .map(|h| self.health(h, run, in_container))
            .transpose()?;
        let mut tests: Vec<TestCommand> = Vec::with_capacity(r.tests.len());
        for t in &r.tests {
            let test = self.test(t, run)?;
            if tests.iter().any(|x| x.name == test.name) {
                return Err(self.err(
                    t.span(),
                    format!(
                        "service \"{name}\" has two tests named \"{}\"; give one a `name`",
                        test.name
                    ),
                ));
            }
            tests.push(test);
        }
        Ok(ServiceExtras {
            health,
            tests,
            limits: self.limits(r.limits.as_ref())?,
            restart: match r.restart {
                None | Some(RawRestart::Never) => RestartPolicy::Never,
                Some(RawRestart::OnFailure) => RestartPolicy::OnFailure,
                Some(RawRestart::Always) => RestartPolicy::Always,
            },
            stop_timeout: self.duration_or(
                r.stop_timeout.as_ref(),
                "stop_timeout",
                STOP_TIMEOUT,
            )?,
        })
    }

    pub(super) fn health(
        &self,
        spanned: &Spanned<RawHealth>,
        service: &Command,
        in_container: bool,
    ) -> Result<HealthCheck, PlanError> {
        let h = spanned.get_ref();
        let kinds: Vec<(&str, Range<usize>)> = [
            ("http", h.http.as_ref().map(Spanned::span)),
            ("tcp", h.tcp.as_ref().map(Spanned::span)),
            ("command", h.command.as_ref().map(Spanned::span)),
            ("exec", h.exec.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
        if let [(first, _), (second, span), ..] = kinds.as_slice() {
            return Err(self.err(
                span.clone(),
                format!(
                    "the health check has both `{first}` and `{second}`; use exactly one of `http`, `tcp`, `command`, `exec`"
                ),
            ));
        }
        if let (Some(status), None) = (&h.status, &h.http) {
            return Err(self.err(
                status.span(),
                "`status` applies only to an `http` health check",
            ));
        }
        let probe = if let Some(url) = &h.http {
            let expanded = self.expand(url)?;
            if !expanded.starts_with("http://") {
                return Err(self.err(
                    url.span(),
                    format!("health URL {expanded:?} must start with http:// (plain HTTP)"),
                ));
            }
            let status = h.status.as_ref().map_or(Ok(200), |s| {
                let code = *s.get_ref();
                if (100..=599).contains(&code) {
                    Ok(code)
                } else {
                    Err(self.err(s.span(), format!("`status` {code} is not an HTTP status")))
                }
            })?;
            Probe::Http {
                url: expanded,
                status,
            }
        } else if let Some(addr) = &h.tcp {
            let expanded = self.expand(addr)?;
            let port_ok = expanded
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(self.err(
                    addr.span(),
                    format!("tcp health address {expanded:?} must be host:port"),
                ));
            }
            Probe::Tcp { address: expanded }
        } else if let Some(cmd) = &h.command {
            Probe::Command(Command {
                command: self.command_line(cmd)?,
                cwd: service.cwd.clone(),
                env: service.env.clone(),
            })
        } else if let Some(exec) = &h.exec {
            if !in_container {
                return Err(self.err(
                    exec.span(),
                    "`exec` runs a program inside the service's container, and this service runs on this machine: use `command`",
                ));
            }
            let argv = exec
                .get_ref()
                .iter()
                .map(|a| self.expand(a))
                .collect::<Result<Vec<_>, _>>()?;
            if argv.first().is_none_or(String::is_empty) {
                return Err(self.err(exec.span(), "`exec` needs a program"));
            }
            Probe::Exec { argv }
        } else {
            return Err(self.err(
                spanned.span(),
                "the health check needs exactly one of `http`, `tcp`, `command`, `exec`",
            ));
        };

        let interval = self.duration_or(h.interval.as_ref(), "interval", HEALTH_INTERVAL)?;
        if interval.is_zero() {
            return Err(self.err(
                h.interval.as_ref().map_or(0..0, Spanned::span),
                "`interval` must be more than 0",
            ));
        }
        let max_interval =
            self.duration_or(h.max_interval.as_ref(), "max_interval", HEALTH_MAX_INTERVAL)?;
        if max_interval < interval {
            let span = h
                .max_interval
                .as_ref()
                .or(h.interval.as_ref())
                .map_or(spanned.span(), Spanned::span);
            return Err(self.err(span, "`max_interval` must be at least `interval`"));
        }
        let jitter = match &h.jitter {
            None => HEALTH_JITTER,
            Some(j) if (0.0..1.0).contains(j.get_ref()) => *j.get_ref(),
            Some(j) => {
                return Err(self.err(
                    j.span(),
                    format!("`jitter` {} must be in [0, 1)", j.get_ref()),
                ));
            }
        };
        let probe_timeout =
            self.duration_or(h.probe_timeout.as_ref(), "probe_timeout", PROBE_TIMEOUT)?;
        if probe_timeout.is_zero() {
            let span = h.probe_timeout.as_ref().map_or(0..0, Spanned::span);
            return Err(self.err(span, "`probe_timeout` must be more than 0"));
        }
        Ok(HealthCheck {
            probe,
            timeout: self.duration_or(h.timeout.as_ref(), "timeout", HEALTH_TIMEOUT)?,
            interval,
            max_interval,
            jitter,
            probe_timeout,
            warn_p95: h
                .warn_p95
                .as_ref()
                .map(|v| self.duration(v, "warn_p95"))
                .transpose()?,
        })
    }

    fn limits(&self, raw: Option<&RawLimits>) -> Result<Limits, PlanError> {
        let Some(l) = raw else {
            return Ok(Limits {
                rss_growth_warn_pct: RSS_GROWTH_WARN_PCT,
                ..Limits::default()
            });
        };
        let positive = |v: &Spanned<f64>, key: &str| {
            let x = *v.get_ref();
            if x.is_finite() && x >= 0.0 {
                Ok(x)
            } else {
                Err(self.err(v.span(), format!("`{key}` must be a number ≥ 0, not {x}")))
            }
        };
        Ok(Limits {
            max_rss: l
                .max_rss
                .as_ref()
                .map(|v| self.size(v, "max_rss"))
                .transpose()?,
            max_cpu: l
                .max_cpu
                .as_ref()
                .map(|v| positive(v, "max_cpu"))
                .transpose()?,
            max_restarts: l.max_restarts,
            rss_growth_warn_pct: l
                .rss_growth_warn_pct
                .as_ref()
                .map_or(Ok(RSS_GROWTH_WARN_PCT), |v| {
                    positive(v, "rss_growth_warn_pct")
                })?,
        })
    }

    /// A `tests` entry. It runs where the service runs, with the
    /// service's environment plus its own.
    fn test(
        &self,
        spanned: &Spanned<RawTest>,
        service: &Command,
    ) -> Result<TestCommand, PlanError> {
        match spanned.get_ref() {
            RawTest::Line(line) => Ok(TestCommand {
                name: command_text(line),
                run: Command {
                    command: self.command_line_at(line, spanned.span())?,
                    cwd: service.cwd.clone(),
                    env: service.env.clone(),
                },
                timeout: COMMAND_TIMEOUT,
                expect: Expect {
                    exit: 0,
                    stdout_contains: None,
                    figures: Vec::new(),
                },
            }),
            RawTest::Table(t) => self.test_table(t, spanned.span(), service),
        }
    }

    fn test_table(
        &self,
        t: &RawTestTable,
        span: Range<usize>,
        service: &Command,
    ) -> Result<TestCommand, PlanError> {
        let command = t
            .command
            .as_ref()
            .ok_or_else(|| self.err(span, "a test table needs `command`"))?;
        let name = match &t.name {
            Some(n) if n.get_ref().trim().is_empty() => {
                return Err(self.err(n.span(), "the test's `name` is empty"));
            }
            Some(n) => n.get_ref().clone(),
            None => command_text(command.get_ref()),
        };
        let mut env = service.env.clone();
        env.extend(self.env(&t.env)?);
        Ok(TestCommand {
            name,
            run: Command {
                command: self.command_line(command)?,
                cwd: self.cwd(t.cwd.as_ref(), &service.cwd)?,
                env,
            },
            timeout: self.duration_or(t.timeout.as_ref(), "timeout", COMMAND_TIMEOUT)?,
            expect: Expect {
                exit: t.expect_exit.unwrap_or(0),
                stdout_contains: t
                    .expect_stdout
                    .as_ref()
                    .map(|s| self.expand(s))
                    .transpose()?,
                figures: Vec::new(),
            },
        })
    }
}
