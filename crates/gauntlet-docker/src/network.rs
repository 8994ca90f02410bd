//! Networks a run creates, and attaching containers to them: what the
//! network-disconnect fault and Compose's `networks:` need.

use std::collections::HashMap;

use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};

use crate::{DockerError, Engine, Ownership};

/// A bridge network on an engine.
#[derive(Debug, Clone)]
pub struct Network {
    engine: Engine,
    id: String,
    name: String,
}

impl Network {
    /// Creates bridge network `name`, labelled with `ownership`. Containers
    /// on it reach each other by name (the engine's DNS on user networks).
    pub async fn create(
        engine: &Engine,
        ownership: &Ownership,
        name: impl Into<String>,
    ) -> Result<Network, DockerError> {
        let name = name.into();
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(ownership.labels(&HashMap::new())),
            ..Default::default()
        };
        let created = engine
            .client()
            .create_network(request)
            .await
            .map_err(DockerError::engine(format!("create network {name}")))?;
        Ok(Network {
            engine: engine.clone(),
            id: created.id,
            name,
        })
    }

    /// The engine's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Attaches container `container` (name or id), reachable on this
    /// network also as each of `aliases`.
    pub async fn connect(&self, container: &str, aliases: &[String]) -> Result<(), DockerError> {
        connect(&self.engine, &self.id, container, aliases)
            .await
            .map_err(DockerError::engine(format!(
                "connect container {container} to network {}",
                self.name
            )))
    }

    /// Detaches container `container`: from then on it sends and receives
    /// nothing on this network (the network-disconnect fault). `force`
    /// detaches a container that is not running, too.
    pub async fn disconnect(&self, container: &str, force: bool) -> Result<(), DockerError> {
        disconnect(&self.engine, &self.id, container, force)
            .await
            .map_err(DockerError::engine(format!(
                "disconnect container {container} from network {}",
                self.name
            )))
    }

    /// Removes the network; the engine refuses while containers are on it.
    pub async fn remove(&self) -> Result<(), DockerError> {
        self.engine
            .client()
            .remove_network(&self.id)
            .await
            .map_err(DockerError::engine(format!("remove network {}", self.name)))
    }
}

/// The engine's network connect, for [`Network::connect`] and
/// [`Container::connect`](crate::Container::connect); each names the error
/// from its own side.
pub(crate) async fn connect(
    engine: &Engine,
    network: &str,
    container: &str,
    aliases: &[String],
) -> Result<(), bollard::errors::Error> {
    let request = NetworkConnectRequest {
        container: container.to_owned(),
        endpoint_config: Some(EndpointSettings {
            aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
            ..Default::default()
        }),
    };
    engine.client().connect_network(network, request).await
}

/// The engine's network disconnect, for [`Network::disconnect`] and
/// [`Container::disconnect`](crate::Container::disconnect).
pub(crate) async fn disconnect(
    engine: &Engine,
    network: &str,
    container: &str,
    force: bool,
) -> Result<(), bollard::errors::Error> {
    let request = NetworkDisconnectRequest {
        container: container.to_owned(),
        force: Some(force),
    };
    engine.client().disconnect_network(network, request).await
}
