//! Containers: create and start from a [`ContainerSpec`], then the verbs
//! faults and health checks need (inspect, kill, pause, stop, restart,
//! network connect and disconnect, stats, logs, exec) and removal.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder, StatsOptionsBuilder,
    StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use crate::{DockerError, Engine, Ownership};

/// What to run: the parts of `docker run` the backend and the tests use.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The run and owner labels the container carries.
    pub ownership: Ownership,
    /// The container's name; unique on the engine, so callers put the run
    /// id in it.
    pub name: String,
    /// The image (tag or id); never pulled.
    pub image: String,
    /// The program and its first arguments, replacing the image's
    /// entrypoint (Docker's `Entrypoint`); the image's when `None`. Set,
    /// the engine also drops the image's `CMD`: [`command`](Self::command)
    /// alone follows it. `Some(vec![])` clears the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments appended to the entrypoint (Docker's `Cmd`); the image's
    /// when empty.
    pub command: Vec<String>,
    /// The directory the main process starts in (created if the image
    /// lacks it); the image's when `None`.
    pub working_dir: Option<String>,
    /// The user (and group) it runs as: `name`, `uid`, `uid:gid`, ... (a
    /// name must be in the image's `/etc/passwd`); the image's when `None`.
    pub user: Option<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Published ports.
    pub ports: Vec<Publish>,
    /// The memory limit in bytes; swap is limited to the same figure, so
    /// the limit is what the processes get (cgroup v1's default would add
    /// as much swap again, and a leak would swap instead of being OOM-killed).
    pub memory_bytes: Option<u64>,
    /// The networks it is on, the first given at creation (its address
    /// is [`ContainerState::ip_address`]); the engine's default bridge
    /// when empty.
    pub networks: Vec<Attachment>,
    /// Volumes and host directories mounted into the container.
    pub mounts: Vec<Mount>,
    /// Labels added to the ownership labels (which win on a clash).
    pub labels: HashMap<String, String>,
}

impl ContainerSpec {
    /// A container named `name` from `image`, owned by `ownership`, with
    /// nothing else set.
    pub fn new(ownership: &Ownership, name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec {
            ownership: ownership.clone(),
            name: name.into(),
            image: image.into(),
            entrypoint: None,
            command: Vec::new(),
            working_dir: None,
            user: None,
            env: Vec::new(),
            ports: Vec::new(),
            memory_bytes: None,
            networks: Vec::new(),
            mounts: Vec::new(),
            labels: HashMap::new(),
        }
    }
}

/// A network a container is on, and the other names it has there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The network's name (or id).
    pub network: String,
    /// Names it is reached by on that network besides its own (a Compose
    /// service's name).
    pub aliases: Vec<String>,
}

impl Attachment {
    /// On `network`, with no alias.
    pub fn new(network: impl Into<String>) -> Attachment {
        Attachment {
            network: network.into(),
            aliases: Vec::new(),
        }
    }
}

/// A published port: `host_ip:host_port` on the engine's host forwards to
/// `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    /// The port inside the container.
    pub container_port: u16,
    /// The port on the engine's host; 0 lets the engine pick a free one
    /// ([`ContainerState::ports`] tells which).
    pub host_port: u16,
    /// The address on the engine's host; loopback unless asked otherwise,
    /// so a test's service is not reachable from the network.
    pub host_ip: IpAddr,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl Publish {
    /// TCP `127.0.0.1:host_port` → `container_port`.
    pub fn loopback(host_port: u16, container_port: u16) -> Publish {
        Publish {
            container_port,
            host_port,
            host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            protocol: Protocol::Tcp,
        }
    }
}

/// A published port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A mount: a named volume or a directory on the engine's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// A volume name, or an absolute path on the engine's host (for a
    /// remote engine, that host's file system).
    pub source: String,
    /// The path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl Mount {
    /// Volume (or host directory) `source` at `target`, writable.
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> Mount {
        Mount {
            source: source.into(),
            target: target.into(),
            read_only: false,
        }
    }

    fn bind(&self) -> String {
        let ro = if self.read_only { ":ro" } else { "" };
        format!("{}:{}{ro}", self.source, self.target)
    }
}

/// A container's state, as `docker inspect` shows it and as module cycling
/// and faults judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// The engine's id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// `created`, `running`, `paused`, `restarting`, `exited`, `dead`, ...
    pub status: String,
    /// Running (a paused container is running, too).
    pub running: bool,
    /// Frozen by a pause.
    pub paused: bool,
    /// The restart policy is restarting it.
    pub restarting: bool,
    /// The main process's exit code (137 after SIGKILL); `None` while it
    /// never ran or runs.
    pub exit_code: Option<i64>,
    /// The kernel's OOM killer ended it (`OOMKilled`).
    pub oom_killed: bool,
    /// How often the engine restarted it (`RestartCount`).
    pub restart_count: u64,
    /// The main process's pid on the engine's host, while it runs.
    pub pid: Option<u32>,
    /// Its address on its network (the one it was created on, else the
    /// first), while it runs.
    pub ip_address: Option<IpAddr>,
    /// Each network it is on, with its address there.
    pub networks: BTreeMap<String, Option<IpAddr>>,
    /// Published ports, as the engine bound them.
    pub ports: Vec<PublishedPort>,
    /// The engine's error, if starting it failed.
    pub error: Option<String>,
}

/// One published port, as bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedPort {
    /// The port inside the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Where it is reachable on the engine's host.
    pub host: SocketAddr,
}

/// One sample of a container's resources, from the engine's one-shot stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Memory in use, as `docker stats` shows it: the cgroup's usage less
    /// its inactive file cache (`total_inactive_file` under cgroup v1,
    /// `inactive_file` under v2), which the kernel reclaims before any OOM
    /// kill. `None` when the container does not run.
    pub memory_bytes: Option<u64>,
    /// The memory limit the cgroup enforces (the host's memory without one).
    pub memory_limit_bytes: Option<u64>,
    /// CPU time used since the container started, in nanoseconds,
    /// cumulative (user + system): two samples' difference over the time
    /// between them is the CPU share. A one-shot read has no previous
    /// sample, so no percentage is given.
    pub cpu_total_ns: Option<u64>,
    /// Processes (threads included) in the container.
    pub pids: Option<u64>,
}

/// A line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Which stream it came from.
    pub stream: LogStream,
    /// The line, without its newline.
    pub text: String,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A container on an engine, by id.
#[derive(Debug, Clone)]
pub struct Container {
    engine: Engine,
    id: String,
    name: String,
}

impl Container {
    /// Creates the container and starts it. If it cannot start (a port
    /// already taken, a bad mount), it is removed again and the engine's
    /// reason returned, so a failed start leaves nothing behind.
    pub async fn run(engine: &Engine, spec: &ContainerSpec) -> Result<Container, DockerError> {
        let container = Container::create(engine, spec).await?;
        if let Err(err) = container.start().await {
            let _ = container.remove().await;
            return Err(err);
        }
        Ok(container)
    }

    /// Creates the container (labelled), without starting it, on each of
    /// its networks. The engine takes one network at creation (API 1.41
    /// refuses a second endpoint there), so the others are connected
    /// before it starts; if one cannot be, the container is removed again
    /// and the engine's reason returned. The engine checks little at a
    /// connect before the start: a network that does not exist is taken
    /// and fails the start (Engine 20.10), which [`run`](Self::run)
    /// cleans up after as after any failed start.
    pub async fn create(engine: &Engine, spec: &ContainerSpec) -> Result<Container, DockerError> {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = spec
            .networks
            .iter()
            .find(|a| !seen.insert(a.network.as_str()))
        {
            // A second connect would replace the first's aliases.
            return Err(DockerError::Invalid {
                what: format!("container {}", spec.name),
                why: format!("network {} is given twice", twice.network),
            });
        }
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let container = engine
            .client()
            .create_container(Some(options), create_body(spec))
            .await
            .map(|created| Container {
                engine: engine.clone(),
                id: created.id,
                name: spec.name.clone(),
            })
            .map_err(DockerError::engine(format!(
                "create container {} from image {}",
                spec.name, spec.image
            )))?;
        for attachment in spec.networks.iter().skip(1) {
            if let Err(error) = container
                .connect(&attachment.network, &attachment.aliases)
                .await
            {
                let _ = container.remove().await;
                return Err(error);
            }
        }
        Ok(container)
    }

    /// A container that exists already (by name or id), to act on.
    pub fn existing(engine: &Engine, name_or_id: impl Into<String>) -> Container {
        let id = name_or_id.into();
        Container {
            engine: engine.clone(),
            name: id.clone(),
            id,
        }
    }

    /// The engine's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name it was created with.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn fail(&self, verb: &str) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        DockerError::engine(format!("{verb} container {}", self.name))
    }

    /// Starts it (again, after a stop or a kill: with the same file system
    /// and volumes).
    pub async fn start(&self) -> Result<(), DockerError> {
        self.engine
            .client()
            .start_container(&self.id, None)
            .await
            .map_err(self.fail("start"))
    }

    /// Attaches it to network `network` (name or id), reachable there as
    /// each of `aliases` too: the heal of [`disconnect`](Self::disconnect).
    /// It gets a new address on the network.
    pub async fn connect(&self, network: &str, aliases: &[String]) -> Result<(), DockerError> {
        crate::network::connect(&self.engine, network, &self.id, aliases)
            .await
            .map_err(DockerError::engine(format!(
                "connect container {} to network {network}",
                self.name
            )))
    }

    /// Detaches it from network `network` (name or id): from then on it
    /// sends and receives nothing there (the network-disconnect fault),
    /// while its other networks stay.
    pub async fn disconnect(&self, network: &str) -> Result<(), DockerError> {
        crate::network::disconnect(&self.engine, network, &self.id, false)
            .await
            .map_err(DockerError::engine(format!(
                "disconnect container {} from network {network}",
                self.name
            )))
    }

    /// Its state now.
    pub async fn inspect(&self) -> Result<ContainerState, DockerError> {
        let inspect = self
            .engine
            .client()
            .inspect_container(&self.id, None)
            .await
            .map_err(self.fail("inspect"))?;
        Ok(state_of(inspect))
    }

    /// Sends `signal` (`SIGKILL`, `TERM`, `9`, ...) to the main process.
    pub async fn kill(&self, signal: &str) -> Result<(), DockerError> {
        let options = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        self.engine
            .client()
            .kill_container(&self.id, Some(options))
            .await
            .map_err(self.fail(&format!("send {signal} to")))
    }

    /// Freezes every process in it (the cgroup freezer: no signal the
    /// program could see or handle).
    pub async fn pause(&self) -> Result<(), DockerError> {
        self.engine
            .client()
            .pause_container(&self.id)
            .await
            .map_err(self.fail("pause"))
    }

    /// Thaws it.
    pub async fn unpause(&self) -> Result<(), DockerError> {
        self.engine
            .client()
            .unpause_container(&self.id)
            .await
            .map_err(self.fail("unpause"))
    }

    /// Sends the stop signal (SIGTERM unless the image says otherwise),
    /// then SIGKILL after `timeout` (whole seconds).
    pub async fn stop(&self, timeout: Duration) -> Result<(), DockerError> {
        let options = StopContainerOptionsBuilder::default()
            .t(whole_seconds(timeout))
            .build();
        self.engine
            .client()
            .stop_container(&self.id, Some(options))
            .await
            .map_err(self.fail("stop"))
    }

    /// A graceful restart: stop (SIGKILL after `timeout`), then start.
    pub async fn restart(&self, timeout: Duration) -> Result<(), DockerError> {
        let options = RestartContainerOptionsBuilder::default()
            .t(whole_seconds(timeout))
            .build();
        self.engine
            .client()
            .restart_container(&self.id, Some(options))
            .await
            .map_err(self.fail("restart"))
    }

    /// Waits until it no longer runs and returns its exit code. Unbounded:
    /// the caller bounds it (`tokio::time::timeout`).
    pub async fn wait_exit(&self) -> Result<i64, DockerError> {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut waiting = self.engine.client().wait_container(&self.id, Some(options));
        match waiting.next().await {
            Some(Ok(exit)) => Ok(exit.status_code),
            // bollard turns a non-zero exit into an error.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(error)) => Err(self.fail("wait for")(error)),
            None => Ok(self.inspect().await?.exit_code.unwrap_or_default()),
        }
    }

    /// Removes it (killed first if it runs), with its anonymous volumes;
    /// named volumes stay.
    pub async fn remove(&self) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        self.engine
            .client()
            .remove_container(&self.id, Some(options))
            .await
            .map_err(self.fail("remove"))
    }

    /// One sample of its memory and CPU (a one-shot read: the engine does
    /// not wait a second for a second CPU sample).
    pub async fn stats_once(&self) -> Result<Stats, DockerError> {
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let mut samples = self.engine.client().stats(&self.id, Some(options));
        match samples.next().await {
            Some(sample) => Ok(stats_of(sample.map_err(self.fail("read stats of"))?)),
            None => Ok(Stats::default()),
        }
    }

    /// The engine it is on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The last `tail` lines of its stdout and stderr, oldest first.
    pub async fn logs(&self, tail: usize) -> Result<Vec<LogLine>, DockerError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let mut output = self.engine.client().logs(&self.id, Some(options));
        let mut lines = Vec::new();
        while let Some(chunk) = output.next().await {
            let (stream, message) = match chunk.map_err(self.fail("read logs of"))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    (LogStream::Stdout, message)
                }
                LogOutput::StdErr { message } => (LogStream::Stderr, message),
                LogOutput::StdIn { .. } => continue,
            };
            let text = String::from_utf8_lossy(&message);
            lines.extend(text.lines().map(|line| LogLine {
                stream,
                text: line.to_owned(),
            }));
        }
        Ok(lines)
    }
}

/// The figures of one stats sample: memory in use less the inactive page
/// cache (what `docker stats` shows), the limit, CPU time, processes.
pub(crate) fn stats_of(sample: bollard::models::ContainerStatsResponse) -> Stats {
    let memory = sample.memory_stats.unwrap_or_default();
    let inactive = memory.stats.as_ref().and_then(|s| {
        s.get("total_inactive_file")
            .or_else(|| s.get("inactive_file"))
            .copied()
    });
    let cpu = sample.cpu_stats.unwrap_or_default();
    Stats {
        memory_bytes: memory
            .usage
            .map(|u| u.saturating_sub(inactive.unwrap_or(0))),
        memory_limit_bytes: memory.limit,
        cpu_total_ns: cpu
            .cpu_usage
            .and_then(|u| u.total_usage)
            .filter(|&ns| ns > 0),
        pids: sample.pids_stats.and_then(|p| p.current),
    }
}

fn whole_seconds(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX)
}

fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container_port, p.protocol.as_str());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.to_string()),
                // An empty port asks the engine for a free one.
                host_port: Some(if p.host_port == 0 {
                    String::new()
                } else {
                    p.host_port.to_string()
                }),
            });
    }
    let mut exposed: Vec<String> = bindings.keys().cloned().collect();
    exposed.sort();
    let memory = spec
        .memory_bytes
        .map(|m| i64::try_from(m).unwrap_or(i64::MAX));
    let first = spec.networks.first();
    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        binds: (!spec.mounts.is_empty()).then(|| spec.mounts.iter().map(Mount::bind).collect()),
        memory,
        memory_swap: memory,
        network_mode: first.map(|a| a.network.clone()),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        labels: Some(spec.ownership.labels(&spec.labels)),
        host_config: Some(host_config),
        // The first network only: the others are connected after creation.
        networking_config: first.filter(|a| !a.aliases.is_empty()).map(|a| {
            bollard::models::NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    a.network.clone(),
                    bollard::models::EndpointSettings {
                        aliases: Some(a.aliases.clone()),
                        ..Default::default()
                    },
                )])),
            }
        }),
        ..Default::default()
    }
}

fn state_of(inspect: bollard::models::ContainerInspectResponse) -> ContainerState {
    let state = inspect.state.unwrap_or_default();
    let settings = inspect.network_settings.unwrap_or_default();
    let networks: BTreeMap<String, Option<IpAddr>> = settings
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, endpoint)| {
            let ip = endpoint.ip_address.and_then(|ip| ip.parse().ok());
            (name, ip)
        })
        .collect();
    let own_network = inspect.host_config.and_then(|h| h.network_mode);
    let ip_address = own_network
        .and_then(|n| networks.get(&n).copied().flatten())
        .or_else(|| networks.values().find_map(|ip| *ip));
    let mut ports = Vec::new();
    for (key, bound) in settings.ports.unwrap_or_default() {
        let Some((port, protocol)) = key.split_once('/') else {
            continue;
        };
        let (Ok(container_port), Some(protocol)) = (
            port.parse::<u16>(),
            match protocol {
                "tcp" => Some(Protocol::Tcp),
                "udp" => Some(Protocol::Udp),
                _ => None,
            },
        ) else {
            continue;
        };
        for binding in bound.unwrap_or_default() {
            let ip = binding.host_ip.as_deref().unwrap_or("");
            let ip: IpAddr = if ip.is_empty() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else if let Ok(ip) = ip.parse() {
                ip
            } else {
                continue;
            };
            if let Some(host_port) = binding.host_port.and_then(|p| p.parse().ok()) {
                ports.push(PublishedPort {
                    container_port,
                    protocol,
                    host: SocketAddr::new(ip, host_port),
                });
            }
        }
    }
    ports.sort_by_key(|p| (p.container_port, p.protocol, p.host));
    let running = state.running.unwrap_or(false);
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let ever_ran = state
        .finished_at
        .as_deref()
        .is_some_and(|t| !t.starts_with("0001-"));
    ContainerState {
        id: inspect.id.unwrap_or_default(),
        name: inspect
            .name
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        running,
        paused: state.paused.unwrap_or(false),
        restarting: state.restarting.unwrap_or(false),
        exit_code: (!running && ever_ran).then(|| state.exit_code.unwrap_or(0)),
        oom_killed: state.oom_killed.unwrap_or(false),
        restart_count: inspect
            .restart_count
            .and_then(|c| u64::try_from(c).ok())
            .unwrap_or(0),
        pid: state
            .pid
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p > 0),
        ip_address,
        networks,
        ports,
        error: state.error.filter(|e| !e.is_empty()),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_becomes_the_engine_s_create_body() {
        let own = Ownership::new("r1").unwrap();
        let mut spec = ContainerSpec::new(&own, "api-r1", "shop-api:dev");
        spec.command = vec!["--port".into(), "8080".into()];
        spec.env = vec![("A".into(), "1".into())];
        spec.ports = vec![Publish::loopback(0, 8080), Publish::loopback(18080, 8080)];
        spec.memory_bytes = Some(32 << 20);
        spec.networks = vec![
            Attachment {
                network: "net-r1".into(),
                aliases: vec!["api".into()],
            },
            Attachment::new("other-r1"),
        ];
        spec.entrypoint = Some(vec!["/bin/api".into()]);
        spec.working_dir = Some("/srv".into());
        spec.user = Some("1000:1000".into());
        spec.mounts = vec![Mount::new("data-r1", "/data")];
        let body = create_body(&spec);
        assert_eq!(body.entrypoint.unwrap(), ["/bin/api"]);
        assert_eq!(body.cmd.unwrap(), ["--port", "8080"]);
        assert_eq!(body.working_dir.as_deref(), Some("/srv"));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(
            endpoints.keys().collect::<Vec<_>>(),
            ["net-r1"],
            "one endpoint at creation: API 1.41 takes no more"
        );
        assert_eq!(
            endpoints["net-r1"].aliases.as_deref(),
            Some(&["api".to_owned()][..])
        );
        let host = body.host_config.unwrap();
        assert_eq!(body.exposed_ports.unwrap(), ["8080/tcp"]);
        let bound = host.port_bindings.unwrap()["8080/tcp"].clone().unwrap();
        assert_eq!(bound.len(), 2);
        assert_eq!(bound[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(bound[0].host_port.as_deref(), Some(""));
        assert_eq!(bound[1].host_port.as_deref(), Some("18080"));
        assert_eq!(host.memory, Some(32 << 20));
        assert_eq!(host.memory_swap, Some(32 << 20), "no swap beyond the limit");
        assert_eq!(host.binds.unwrap(), ["data-r1:/data"]);
        assert_eq!(host.network_mode.as_deref(), Some("net-r1"));
        assert_eq!(body.env.unwrap(), ["A=1"]);
        assert_eq!(body.labels.unwrap()[crate::RUN_LABEL], "r1");
    }
}
