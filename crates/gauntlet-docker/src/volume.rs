//! Named volumes: what outlives a container (a power cut's restart, a
//! re-created container) until the run ends.

use std::collections::HashMap;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::RemoveVolumeOptionsBuilder;

use crate::{DockerError, Engine, Ownership};

/// A named volume on an engine.
#[derive(Debug, Clone)]
pub struct Volume {
    engine: Engine,
    name: String,
}

impl Volume {
    /// Creates local volume `name`, labelled with `ownership`.
    pub async fn create(
        engine: &Engine,
        ownership: &Ownership,
        name: impl Into<String>,
    ) -> Result<Volume, DockerError> {
        let name = name.into();
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(ownership.labels(&HashMap::new())),
            ..Default::default()
        };
        let created = engine
            .client()
            .create_volume(request)
            .await
            .map_err(DockerError::engine(format!("create volume {name}")))?;
        Ok(Volume {
            engine: engine.clone(),
            name: created.name,
        })
    }

    /// Its name (what a [`Mount`](crate::Mount) names as its source).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Removes the volume and its data; the engine refuses while a
    /// container uses it.
    pub async fn remove(&self) -> Result<(), DockerError> {
        let options = RemoveVolumeOptionsBuilder::default().force(false).build();
        self.engine
            .client()
            .remove_volume(&self.name, Some(options))
            .await
            .map_err(DockerError::engine(format!("remove volume {}", self.name)))
    }
}
