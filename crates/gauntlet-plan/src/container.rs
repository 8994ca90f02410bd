//! Services whose node is a container: `backend = "docker"` on a
//! `[[service]]` (see `docs/docker.md`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a `docker` service's container is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerService {
    pub image: ImageSource,
    /// Its command (the arguments after the entrypoint); `None`: the
    /// image's own.
    pub command: Option<Vec<String>>,
    /// Replaces the image's entrypoint (Compose's `entrypoint`).
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    pub ports: Vec<PortMapping>,
    /// The memory limit (swap included: the container cannot swap past
    /// it), in bytes.
    pub mem_limit: Option<u64>,
    pub volumes: Vec<VolumeMount>,
    /// The run's networks it joins, reached on each by its service's name
    /// (Compose's `networks`); empty: the run's one network, `default`.
    #[serde(default)]
    pub networks: Vec<String>,
    /// The working directory inside the container; `None`: the image's.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// The user it runs as (`uid[:gid]` or a name the image knows);
    /// `None`: the image's.
    #[serde(default)]
    pub user: Option<String>,
}

/// The network a container joins when its service names none.
pub const DEFAULT_NETWORK: &str = "default";

/// Where a container's image comes from. Never a registry: gauntlet pulls
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageSource {
    /// An image the engine has already (`image = "shop-api:dev"`).
    Local(String),
    /// `build = { binary = "target/debug/api", args = [...] }`: gauntlet
    /// builds `FROM scratch` with the executable and the shared libraries
    /// it loads, entrypoint the executable and `args`.
    Binary { path: PathBuf, args: Vec<String> },
    /// `build = { context = "./api", dockerfile = "Dockerfile" }` (and
    /// Compose's `build:`): the engine's builder over the context
    /// directory, offline: its `FROM` must name an image the engine has.
    Dockerfile {
        /// Absolute.
        context: PathBuf,
        /// Relative to `context`.
        dockerfile: String,
        /// `ARG` values.
        args: BTreeMap<String, String>,
    },
}

/// `ports = ["8380:8380"]`: a container port published on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// `127.0.0.1` unless the plan names another address.
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub udp: bool,
}

/// `volumes = ["data:/var/lib/shop", "./conf:/etc/shop:ro"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    pub source: VolumeSource,
    /// The path inside the container.
    pub target: String,
    pub read_only: bool,
}

/// What a volume mount mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeSource {
    /// A named volume of the run's own (made at its start, removed at its
    /// end; the engine's name carries the run id).
    Named(String),
    /// A directory of this machine (absolute; relative paths in the plan
    /// are relative to its directory).
    Bind(PathBuf),
}

impl std::fmt::Display for ImageSource {
    /// The image's name, or the executable it is built from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageSource::Local(name) => f.write_str(name),
            ImageSource::Binary { path, .. } => write!(f, "{}", path.display()),
            ImageSource::Dockerfile {
                context,
                dockerfile,
                ..
            } => write!(f, "{}", context.join(dockerfile).display()),
        }
    }
}

impl PortMapping {
    /// Parses Compose's short syntax: `[IP:]HOST:CONTAINER[/tcp|/udp]`.
    /// A lone container port is refused: its host port would be chosen
    /// by the engine, and nothing in the plan could reach it.
    pub fn parse(text: &str) -> Result<PortMapping, String> {
        let (rest, udp) = match text.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, false),
            Some((rest, "udp")) => (rest, true),
            Some((_, other)) => {
                return Err(format!("unknown protocol {other:?} (tcp or udp)"));
            }
            None => (text, false),
        };
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number"))
        };
        let (ip, host, container) = match rest.rsplitn(3, ':').collect::<Vec<_>>()[..] {
            [container, host, ip] => {
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| format!("{ip:?} is not an IP address"))?;
                (ip, port(host)?, port(container)?)
            }
            [container, host] => (IpAddr::from([127, 0, 0, 1]), port(host)?, port(container)?),
            _ => {
                return Err(
                    "give the host port too (\"8080:8080\"): a port the engine picks is one nothing in the plan can reach"
                        .to_owned(),
                );
            }
        };
        if container == 0 {
            return Err("the container port is 0".to_owned());
        }
        Ok(PortMapping {
            host_ip: ip,
            host_port: host,
            container_port: container,
            udp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_as_compose_writes_them() {
        let p = PortMapping::parse("8380:80").unwrap();
        assert_eq!(p.host_ip.to_string(), "127.0.0.1", "loopback by default");
        assert_eq!((p.host_port, p.container_port, p.udp), (8380, 80, false));
        let p = PortMapping::parse("0.0.0.0:53:5353/udp").unwrap();
        assert_eq!(p.host_ip.to_string(), "0.0.0.0");
        assert_eq!((p.host_port, p.container_port, p.udp), (53, 5353, true));
        assert!(
            PortMapping::parse("8080")
                .unwrap_err()
                .contains("host port")
        );
        assert!(
            PortMapping::parse("80:80/sctp")
                .unwrap_err()
                .contains("sctp")
        );
        assert!(PortMapping::parse("x:80").unwrap_err().contains("\"x\""));
        assert!(
            PortMapping::parse("1.2.3:80:80")
                .unwrap_err()
                .contains("IP")
        );
    }
}
