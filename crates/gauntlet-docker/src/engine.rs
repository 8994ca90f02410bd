//! The connection to one Docker Engine.

use std::time::Duration;

use bollard::Docker;

use crate::DockerError;

/// Where the engine is when `DOCKER_HOST` is unset: the local socket.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long connecting (the version handshake) may take. An engine behind
/// a dead `tcp://` address would otherwise hold the caller for bollard's
/// two-minute request timeout before it learns nothing is there.
const CONNECT_BOUND: Duration = Duration::from_secs(20);

/// A Docker Engine that answered, with the API version both sides speak.
///
/// Cheap to clone (the connection pool is shared), so containers, networks
/// and volumes each hold one.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
}

/// What the engine says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// The engine's release (`20.10.24+dfsg1`).
    pub version: String,
    /// The newest API version the engine speaks (`1.41`).
    pub api_version: String,
    /// The API version this connection uses: the engine's or bollard's,
    /// whichever is older.
    pub negotiated: String,
    /// The engine's OS and architecture (`linux/amd64`).
    pub platform: String,
    /// The engine host's kernel.
    pub kernel: String,
}

impl Engine {
    /// Connects to `DOCKER_HOST` (`unix://`, `tcp://`, `ssh://user@host`),
    /// or to the local socket when it is unset, and agrees on an API
    /// version with the engine.
    ///
    /// `ssh://` runs the system's OpenSSH (`docker system dial-stdio` on
    /// the far side), so the user's ssh config, agent and keys apply. Two
    /// things bollard 0.20 decides: it asks OpenSSH for
    /// `StrictHostKeyChecking=accept-new` (a host never seen before is
    /// trusted and added to `known_hosts`; a changed host key is refused),
    /// and it cannot pass a port (`ssh://host:2222` is refused here with
    /// the way around it: a `Host` alias with its `Port` in `~/.ssh/config`).
    pub async fn connect() -> Result<Engine, DockerError> {
        Engine::connect_to(&host_from_env()).await
    }

    /// Connects to the engine at `host` (a `DOCKER_HOST` value).
    pub async fn connect_to(host: &str) -> Result<Engine, DockerError> {
        let host = host.trim().to_owned();
        if let Some(port) = ssh_port(&host) {
            return Err(DockerError::Invalid {
                what: format!("Docker host {host}"),
                why: format!(
                    "bollard's ssh transport drops the port and would ask ssh for a host \
                     named \"...:{port}\"; name the engine's host in ~/.ssh/config \
                     (Host <alias>, HostName, Port {port}) and use ssh://<alias>"
                ),
            });
        }
        let docker = match Docker::connect_with_host(&host) {
            Ok(docker) => docker,
            // bollard looks for the socket file before any request.
            Err(error @ bollard::errors::Error::SocketNotFoundError(_)) => {
                return Err(DockerError::Unreachable { host, error });
            }
            Err(error) => return Err(DockerError::BadHost { host, error }),
        };
        // bollard speaks the newest API by default; an older engine rejects
        // every request until the client steps down to the engine's version.
        let docker = match tokio::time::timeout(CONNECT_BOUND, docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(error)) => return Err(DockerError::Unreachable { host, error }),
            Err(_) => {
                return Err(DockerError::Unreachable {
                    host,
                    error: bollard::errors::Error::RequestTimeoutError,
                });
            }
        };
        Ok(Engine { docker, host })
    }

    /// Where this engine is (the `DOCKER_HOST` value used).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The bollard client, for what this crate does not wrap. Objects made
    /// through it carry no ownership labels unless the caller adds them.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Asks the engine whether it is up (`/_ping`) and what it is
    /// (`/version`).
    pub async fn ping(&self) -> Result<EngineVersion, DockerError> {
        let unreachable = |error| DockerError::Unreachable {
            host: self.host.clone(),
            error,
        };
        self.docker.ping().await.map_err(unreachable)?;
        let v = self.docker.version().await.map_err(unreachable)?;
        let negotiated = self.docker.client_version();
        Ok(EngineVersion {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            negotiated: format!("{}.{}", negotiated.major_version, negotiated.minor_version),
            platform: format!(
                "{}/{}",
                v.os.unwrap_or_default(),
                v.arch.unwrap_or_default()
            ),
            kernel: v.kernel_version.unwrap_or_default(),
        })
    }
}

/// The port of an `ssh://[user@]host:port` address, if it names one.
/// bollard 0.20 hands ssh the address without its scheme, so OpenSSH reads
/// `host:port` as a host name; refusing it early says why.
fn ssh_port(host: &str) -> Option<&str> {
    let authority = host.strip_prefix("ssh://")?;
    let authority = authority.split('/').next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (name, port) = if hostport.starts_with('[') {
        hostport.split_once("]:")?
    } else if hostport.matches(':').count() == 1 {
        hostport.split_once(':')?
    } else {
        return None; // no port, or a bare IPv6 address
    };
    (!name.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .then_some(port)
}

/// `DOCKER_HOST`, or [`DEFAULT_HOST`] when it is unset or empty (as the
/// docker CLI reads it; contexts are not read).
pub fn host_from_env() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_socket_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}/docker.sock", dir.path().display());
        let err = Engine::connect_to(&host).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("no Docker Engine at {host}: ")),
            "{text}"
        );
        assert!(text.contains("docker.sock"), "{text}");
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_a_bad_host() {
        let err = Engine::connect_to("ftp://example.invalid")
            .await
            .unwrap_err();
        assert!(matches!(err, DockerError::BadHost { .. }), "{err}");
        assert!(err.to_string().contains("ftp://example.invalid"), "{err}");
    }

    #[tokio::test]
    async fn an_ssh_port_is_refused_with_the_way_around_it() {
        assert_eq!(ssh_port("ssh://root@10.1.2.3:2222"), Some("2222"));
        assert_eq!(ssh_port("ssh://box:22"), Some("22"));
        assert_eq!(ssh_port("ssh://[::1]:2222"), Some("2222"));
        for without in [
            "ssh://root@box",
            "ssh://box",
            "ssh://::1",
            "unix:///x:1",
            "tcp://h:2375",
        ] {
            assert_eq!(ssh_port(without), None, "{without}");
        }
        let err = Engine::connect_to("ssh://root@box:2222").await.unwrap_err();
        assert!(err.to_string().contains("~/.ssh/config"), "{err}");
    }

    #[tokio::test]
    async fn nothing_listening_on_tcp_is_unreachable() {
        // A port nobody listens on: bind, learn it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("tcp://127.0.0.1:{port}");
        let err = Engine::connect_to(&host).await.unwrap_err();
        assert!(matches!(err, DockerError::Unreachable { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("no Docker Engine at {host}: ")),
            "{err}"
        );
    }
}
