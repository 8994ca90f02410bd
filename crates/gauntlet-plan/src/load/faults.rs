//! `[[fault]]`, `[proxy.<service>]`, `[observer]` and `[invariants]`: the
//! soak's fault schedule and how it is judged.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use toml::Spanned;

use super::stages::DefaultNames;
use super::{Cx, list_or_none};
use crate::error::PlanError;
use crate::raw::{Entries, RawFault, RawInvariants, RawObserver, RawPartitionMode, RawProxy};
use crate::soak::{
    ALL, CLEAN, FaultKind, FaultSpec, INVARIANTS, InvariantSpec, ObserverSpec, PartitionMode,
    ProxySpec,
};
use crate::units::format_duration;
use crate::{Service, parse_duration};

const FAULT_KINDS: [&str; 13] = [
    "kill",
    "power-cut",
    "pause",
    "restart",
    "partition",
    "latency",
    "bandwidth",
    "reset",
    "timeout",
    "clock",
    "link",
    "link-down",
    "disconnect",
];
const FAULT_DURATION: Duration = Duration::from_secs(5);
const TIMEOUT_AFTER: Duration = Duration::from_secs(1);

const OBSERVER_INTERVAL: Duration = Duration::from_secs(1);
const LOG_PATTERNS: [&str; 1] = ["panic"];

const P95_MAX: Duration = Duration::from_secs(1);
const GAP_MAX: Duration = Duration::from_secs(10);
const GRACE: Duration = Duration::from_secs(30);
const RSS_SLOPE_MAX_MB_PER_HOUR: f64 = 50.0;
const RECOVER_WITHIN: Duration = Duration::from_secs(60);

/// The kinds a kind-specific key belongs to.
fn kinds_of_key(key: &str) -> &'static [&'static str] {
    match key {
        "mode" => &["partition"],
        "latency" | "jitter" => &["latency", "link"],
        "rate" => &["bandwidth"],
        "offset" => &["clock"],
        "link" | "loss" | "bandwidth" => &["link"],
        "host" => &["link-down"],
        _ => &["timeout"],
    }
}

impl Cx<'_> {
    pub(super) fn faults(
        &self,
        raw: &[Spanned<RawFault>],
        services: &[Service],
        proxies: &BTreeMap<String, ProxySpec>,
        lab: Option<&crate::LabSpec>,
    ) -> Result<Vec<FaultSpec>, PlanError> {
        // Kinds, keys and explicit names first: default names must avoid
        // every explicit one, wherever it appears.
        let mut taken: HashSet<String> = HashSet::new();
        for r in raw {
            let f = r.get_ref();
            let kind = f.kind.get_ref().as_str();
            if !FAULT_KINDS.contains(&kind) {
                return Err(self.err(
                    f.kind.span(),
                    format!(
                        "unknown fault kind \"{kind}\"; kinds are: {}",
                        FAULT_KINDS.join(", ")
                    ),
                ));
            }
            if let Some((key, span)) = f
                .kind_keys()
                .into_iter()
                .find(|(k, _)| !kinds_of_key(k).contains(&kind))
            {
                return Err(self.err(
                    span,
                    format!(
                        "`{key}` applies only to a fault of kind \"{}\", not \"{kind}\"",
                        kinds_of_key(key).join("\" or \"")
                    ),
                ));
            }
            if let Some(name) = &f.name {
                self.check_name(name, "fault")?;
                if !taken.insert(name.get_ref().clone()) {
                    return Err(self.err(
                        name.span(),
                        format!("duplicate fault name \"{}\"", name.get_ref()),
                    ));
                }
            }
        }
        let mut names = DefaultNames::new(taken);
        raw.iter()
            .map(|r| {
                let name = match &r.get_ref().name {
                    Some(n) => n.get_ref().clone(),
                    None => names.next(r.get_ref().kind.get_ref()),
                };
                self.fault(r, name, services, proxies, lab)
            })
            .collect()
    }

    fn fault(
        &self,
        spanned: &Spanned<RawFault>,
        name: String,
        services: &[Service],
        proxies: &BTreeMap<String, ProxySpec>,
        lab: Option<&crate::LabSpec>,
    ) -> Result<FaultSpec, PlanError> {
        let f = spanned.get_ref();
        let word = f.kind.get_ref().as_str();
        let kind = match word {
            "kill" => FaultKind::Kill,
            "power-cut" => FaultKind::PowerCut,
            "pause" => FaultKind::Pause,
            "restart" => FaultKind::Restart,
            "disconnect" => {
                let in_container = f.service.as_ref().is_some_and(|s| {
                    services
                        .iter()
                        .any(|x| &x.name == s.get_ref() && x.container.is_some())
                });
                if !in_container {
                    let span = f.service.as_ref().map_or(spanned.span(), Spanned::span);
                    return Err(self.err(
                        span,
                        format!("a disconnect takes a container off its networks: fault \"{name}\"'s `service` must be one with backend = \"docker\""),
                    ));
                }
                FaultKind::Disconnect
            }
            "partition" => {
                // On a lab host or in a container, without a proxy, a
                // partition is a real one (nftables in the network
                // namespace); otherwise it acts through the proxy.
                let on_host = f.service.as_ref().is_some_and(|s| {
                    services.iter().any(|x| {
                        &x.name == s.get_ref() && (x.host.is_some() || x.container.is_some())
                    })
                });
                let proxied = f
                    .service
                    .as_ref()
                    .is_some_and(|s| proxies.contains_key(s.get_ref()));
                let mode = match f.mode.as_ref().map(|m| *m.get_ref()) {
                    None if on_host && !proxied => PartitionMode::Network,
                    None | Some(RawPartitionMode::Refuse) => PartitionMode::Refuse,
                    Some(RawPartitionMode::Blackhole) => PartitionMode::Blackhole,
                    Some(RawPartitionMode::Network) => PartitionMode::Network,
                };
                if mode == PartitionMode::Network && !on_host {
                    let span = f.mode.as_ref().map_or(spanned.span(), Spanned::span);
                    return Err(self.err(
                        span,
                        format!("a network partition cuts a lab host or a container off: fault \"{name}\"'s service has no `host` and is not a container"),
                    ));
                }
                // A service with a `host` is on a lab host or a fleet node.
                if mode == PartitionMode::Network
                    && (lab.is_some() || services.iter().any(|s| s.host.is_some()))
                    && services.iter().any(|s| s.container.is_some())
                {
                    let span = f.mode.as_ref().map_or(spanned.span(), Spanned::span);
                    return Err(self.err(
                        span,
                        "a network partition in a plan with both containers and a lab or fleet nodes: gauntlet cuts one network or the other, not both yet",
                    ));
                }
                FaultKind::Partition { mode }
            }
            "latency" => {
                let latency = f.latency.as_ref().ok_or_else(|| {
                    self.err(
                        spanned.span(),
                        format!("latency fault \"{name}\" has no `latency`: the delay added to every packet, e.g. \"200ms\""),
                    )
                })?;
                FaultKind::Latency {
                    latency: self.duration(latency, "latency")?,
                    jitter: self.duration_or(f.jitter.as_ref(), "jitter", Duration::ZERO)?,
                }
            }
            "bandwidth" => {
                let rate = f.rate.as_ref().ok_or_else(|| {
                    self.err(
                        spanned.span(),
                        format!("bandwidth fault \"{name}\" has no `rate`: bytes per second, e.g. \"64KiB\""),
                    )
                })?;
                let bytes_per_sec = self.size(rate, "rate")?;
                if bytes_per_sec == 0 {
                    return Err(self.err(
                        rate.span(),
                        "`rate` must be more than 0 (for no traffic at all, use a partition)",
                    ));
                }
                FaultKind::Bandwidth { bytes_per_sec }
            }
            "reset" => FaultKind::Reset,
            "link" => FaultKind::Link {
                between: self.fault_link(spanned, lab)?,
                shape: crate::lab::LinkShape {
                    latency: self.duration_or(f.latency.as_ref(), "latency", Duration::ZERO)?,
                    jitter: self.duration_or(f.jitter.as_ref(), "jitter", Duration::ZERO)?,
                    loss_percent: match &f.loss {
                        None => 0.0,
                        Some(v) => super::lab::loss_percent(self, v)?,
                    },
                    bandwidth_bits_per_sec: match &f.bandwidth {
                        None => None,
                        Some(b) => Some(
                            super::lab::parse_bandwidth(b.get_ref())
                                .map_err(|m| self.err(b.span(), format!("`bandwidth`: {m}")))?,
                        ),
                    },
                },
            },
            "link-down" => {
                let host = f.host.as_ref().ok_or_else(|| {
                    self.err(spanned.span(), format!("link-down fault \"{name}\" has no `host`: the lab host whose link goes down"))
                })?;
                let lab = lab.ok_or_else(|| {
                    self.err(host.span(), "`host` names a lab host, and this plan has no lab ([[segment]] and [[host]] tables)")
                })?;
                FaultKind::LinkDown {
                    host: self.lab_host(lab, host)?.name.clone(),
                }
            }
            "clock" => {
                let offset = f.offset.as_ref().ok_or_else(|| {
                    self.err(
                        spanned.span(),
                        format!("clock fault \"{name}\" has no `offset`: how far its clock jumps, e.g. \"+30s\" or \"-2m\""),
                    )
                })?;
                // Without a lab, a service with a `host` is on a fleet
                // node: libfaketime is this machine's.
                if lab.is_none()
                    && let Some(target) = &f.service
                    && services
                        .iter()
                        .any(|s| &s.name == target.get_ref() && s.host.is_some())
                {
                    return Err(self.err(
                        target.span(),
                        format!("a clock fault runs its service under this machine's libfaketime, and \"{}\" runs on a fleet node", target.get_ref()),
                    ));
                }
                FaultKind::Clock {
                    offset_s: self.clock_offset(offset)?,
                }
            }
            _ => FaultKind::Timeout {
                after: self.duration_or(f.after.as_ref(), "after", TIMEOUT_AFTER)?,
            },
        };

        let target = match (&kind, &f.service) {
            // Link faults hit the network, not a service.
            (FaultKind::Link { .. } | FaultKind::LinkDown { .. }, Some(s)) => {
                return Err(self.err(
                    s.span(),
                    "a link fault acts on the lab's network: it takes `link` or `host`, not `service`",
                ));
            }
            (FaultKind::Link { .. } | FaultKind::LinkDown { .. }, None) => None,
            (FaultKind::PowerCut, Some(s)) => {
                return Err(self.err(
                    s.span(),
                    "a power-cut kills every service at once: it takes no `service`",
                ));
            }
            (FaultKind::PowerCut, None) => None,
            (_, None) => {
                return Err(self.err(
                    spanned.span(),
                    format!("{word} fault \"{name}\" has no `service`: the service it hits"),
                ));
            }
            (_, Some(s)) => {
                let target = s.get_ref();
                if !services.iter().any(|x| &x.name == target) {
                    let all: Vec<String> = services.iter().map(|x| x.name.clone()).collect();
                    return Err(self.err(
                        s.span(),
                        format!(
                            "unknown service \"{target}\" in fault \"{name}\"; services are: {}",
                            list_or_none(&all)
                        ),
                    ));
                }
                if kind.needs_proxy() && !proxies.contains_key(target) {
                    return Err(self.err(
                        s.span(),
                        format!(
                            "a {word} fault acts through the service's proxy, and \"{target}\" has none: add [proxy.{target}] with `listen` and `upstream`"
                        ),
                    ));
                }
                Some(target.clone())
            }
        };

        let every = f.every.as_ref().ok_or_else(|| {
            self.err(
                spanned.span(),
                format!("fault \"{name}\" has no `every`: the time between two injections, e.g. \"20m..40m\" or \"30m\""),
            )
        })?;
        let (every_min, every_max) = self.every(every)?;

        let scenarios = match &f.scenarios {
            None => vec![ALL.to_owned()],
            Some(list) if list.get_ref().is_empty() => {
                return Err(self.err(
                    list.span(),
                    "`scenarios` is empty; leave it out for the default [\"all\"]",
                ));
            }
            Some(list) => {
                let mut out: Vec<String> = Vec::new();
                for s in list.get_ref() {
                    self.check_name(s, "scenario")?;
                    let n = s.get_ref();
                    if n == CLEAN {
                        return Err(self.err(
                            s.span(),
                            "\"clean\" is the built-in scenario without faults; a fault cannot be in it",
                        ));
                    }
                    if out.contains(n) {
                        return Err(
                            self.err(s.span(), format!("\"{n}\" is listed twice in scenarios"))
                        );
                    }
                    out.push(n.clone());
                }
                out
            }
        };

        Ok(FaultSpec {
            name,
            kind,
            target,
            every_min,
            every_max,
            duration: self.duration_or(f.duration.as_ref(), "duration", FAULT_DURATION)?,
            scenarios,
        })
    }

    /// `link = ["a", "b"]`: a `[[link]]` of the plan's lab.
    fn fault_link(
        &self,
        spanned: &Spanned<RawFault>,
        lab: Option<&crate::LabSpec>,
    ) -> Result<[String; 2], PlanError> {
        let f = spanned.get_ref();
        let Some(link) = &f.link else {
            return Err(self.err(
                spanned.span(),
                "a link fault needs `link = [\"<segment>\", \"<segment>\"]`",
            ));
        };
        let ends: Vec<&String> = link.get_ref().iter().map(Spanned::get_ref).collect();
        let declared = lab.is_some_and(|lab| {
            ends.len() == 2
                && lab.links.iter().any(|l| {
                    l.between.contains(ends[0]) && l.between.contains(ends[1]) && ends[0] != ends[1]
                })
        });
        if !declared {
            return Err(self.err(
                link.span(),
                "`link` names two segments joined by a [[link]] of the plan's lab",
            ));
        }
        Ok([ends[0].clone(), ends[1].clone()])
    }

    /// `offset`: a sign and a whole number of seconds as a duration
    /// (`"+30s"`, `"-2m"`, `"+1h"`), at most a year either way.
    fn clock_offset(&self, value: &Spanned<String>) -> Result<i64, PlanError> {
        let text = value.get_ref().trim();
        let (sign, rest) = match text.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, text.strip_prefix('+').unwrap_or(text)),
        };
        let d =
            parse_duration(rest).map_err(|m| self.err(value.span(), format!("`offset`: {m}")))?;
        if d.subsec_nanos() != 0 || d.is_zero() || d > Duration::from_secs(366 * 86_400) {
            return Err(self.err(
                value.span(),
                "`offset` is a whole number of seconds, not 0, at most a year (\"+30s\", \"-2m\")",
            ));
        }
        Ok(sign * d.as_secs() as i64)
    }

    /// `every`: `"A..B"` (A ≤ B) or one duration; more than 0.
    fn every(&self, value: &Spanned<toml::Value>) -> Result<(Duration, Duration), PlanError> {
        let toml::Value::String(text) = value.get_ref() else {
            return Err(self.err(
                value.span(),
                format!(
                    "`every` must be a duration or a range such as \"20m..40m\", not {}",
                    value.get_ref().type_str()
                ),
            ));
        };
        let parse = |part: &str| {
            parse_duration(part.trim()).map_err(|m| self.err(value.span(), format!("`every`: {m}")))
        };
        let (min, max) = match text.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let d = parse(text)?;
                (d, d)
            }
        };
        if min.is_zero() {
            return Err(self.err(value.span(), "`every` must be more than 0"));
        }
        if max < min {
            return Err(self.err(
                value.span(),
                format!(
                    "`every` {text:?}: the range's end ({}) is before its start ({})",
                    format_duration(max),
                    format_duration(min)
                ),
            ));
        }
        Ok((min, max))
    }

    // ----- [proxy.<service>] ---------------------------------------------

    pub(super) fn proxies(
        &self,
        raw: Option<&Spanned<Entries<Spanned<RawProxy>>>>,
        services: &[Service],
    ) -> Result<BTreeMap<String, ProxySpec>, PlanError> {
        let mut proxies: BTreeMap<String, ProxySpec> = BTreeMap::new();
        let Some(raw) = raw else {
            return Ok(proxies);
        };
        let all: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        for (key, value) in &raw.get_ref().0 {
            let service = key.get_ref();
            if !all.contains(service) {
                return Err(self.err(
                    key.span(),
                    format!(
                        "[proxy.{service}]: unknown service \"{service}\"; a proxy is named after the service it fronts; services are: {}",
                        list_or_none(&all)
                    ),
                ));
            }
            let p = value.get_ref();
            let address = |field: &Option<Spanned<String>>, what: &str, meaning: &str| {
                let raw = field.as_ref().ok_or_else(|| {
                    self.err(
                        value.span(),
                        format!("[proxy.{service}] needs `{what}`: {meaning}"),
                    )
                })?;
                let text = self.expand(raw)?;
                let ok = text
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if ok {
                    Ok((text, raw.span()))
                } else {
                    Err(self.err(raw.span(), format!("`{what}` {text:?} must be host:port")))
                }
            };
            let (listen, listen_span) =
                address(&p.listen, "listen", "the host:port gauntlet listens on")?;
            let (upstream, _) = address(&p.upstream, "upstream", "the service's own host:port")?;
            if listen == upstream {
                return Err(self.err(
                    listen_span,
                    format!("[proxy.{service}] listens on its own upstream {upstream}"),
                ));
            }
            if let Some((other, _)) = proxies.iter().find(|(_, x)| x.listen == listen) {
                return Err(self.err(
                    listen_span,
                    format!("[proxy.{service}] listens on {listen}, as [proxy.{other}] does"),
                ));
            }
            proxies.insert(service.clone(), ProxySpec { listen, upstream });
        }
        Ok(proxies)
    }

    // ----- [observer], [invariants] ------------------------------------

    pub(super) fn observer(
        &self,
        raw: Option<&Spanned<RawObserver>>,
    ) -> Result<ObserverSpec, PlanError> {
        let Some(o) = raw.map(Spanned::get_ref) else {
            return Ok(ObserverSpec {
                interval: OBSERVER_INTERVAL,
                log_patterns: LOG_PATTERNS.iter().map(|p| (*p).to_owned()).collect(),
            });
        };
        let interval = self.duration_or(o.interval.as_ref(), "interval", OBSERVER_INTERVAL)?;
        if interval.is_zero() {
            let span = o.interval.as_ref().map_or(0..0, Spanned::span);
            return Err(self.err(span, "`interval` must be more than 0"));
        }
        let log_patterns = match &o.log_patterns {
            None => LOG_PATTERNS.iter().map(|p| (*p).to_owned()).collect(),
            Some(list) => {
                let mut out = Vec::new();
                for p in list.get_ref() {
                    if p.get_ref().is_empty() {
                        return Err(
                            self.err(p.span(), "an empty log pattern would match every line")
                        );
                    }
                    out.push(p.get_ref().clone());
                }
                out
            }
        };
        Ok(ObserverSpec {
            interval,
            log_patterns,
        })
    }

    pub(super) fn invariants(
        &self,
        raw: Option<&Spanned<RawInvariants>>,
    ) -> Result<InvariantSpec, PlanError> {
        let all_gates = || INVARIANTS.iter().map(|i| (*i).to_owned()).collect();
        let Some(i) = raw.map(Spanned::get_ref) else {
            return Ok(InvariantSpec {
                p95_max: P95_MAX,
                gap_max: GAP_MAX,
                grace: GRACE,
                rss_slope_max_mb_per_hour: RSS_SLOPE_MAX_MB_PER_HOUR,
                recover_within: RECOVER_WITHIN,
                restart_budget: 0,
                flap_budget: 0,
                gate: all_gates(),
            });
        };
        let rss_slope_max_mb_per_hour = match &i.rss_slope_max_mb_per_hour {
            None => RSS_SLOPE_MAX_MB_PER_HOUR,
            Some(v) if v.get_ref().is_finite() && *v.get_ref() >= 0.0 => *v.get_ref(),
            Some(v) => {
                return Err(self.err(
                    v.span(),
                    format!(
                        "`rss_slope_max_mb_per_hour` must be a number ≥ 0, not {}",
                        v.get_ref()
                    ),
                ));
            }
        };
        let gate = match &i.gate {
            None => all_gates(),
            Some(list) => {
                let mut out: Vec<String> = Vec::new();
                for g in list.get_ref() {
                    let n = g.get_ref();
                    if !INVARIANTS.contains(&n.as_str()) {
                        return Err(self.err(
                            g.span(),
                            format!(
                                "unknown invariant \"{n}\" in gate; invariants are: {}",
                                INVARIANTS.join(", ")
                            ),
                        ));
                    }
                    if out.contains(n) {
                        return Err(self.err(g.span(), format!("\"{n}\" is listed twice in gate")));
                    }
                    out.push(n.clone());
                }
                out
            }
        };
        Ok(InvariantSpec {
            p95_max: self.duration_or(i.p95_max.as_ref(), "p95_max", P95_MAX)?,
            gap_max: self.duration_or(i.gap_max.as_ref(), "gap_max", GAP_MAX)?,
            grace: self.duration_or(i.grace.as_ref(), "grace", GRACE)?,
            rss_slope_max_mb_per_hour,
            recover_within: self.duration_or(
                i.recover_within.as_ref(),
                "recover_within",
                RECOVER_WITHIN,
            )?,
            restart_budget: i.restart_budget.unwrap_or(0),
            flap_budget: i.flap_budget.unwrap_or(0),
            gate,
        })
    }
}
