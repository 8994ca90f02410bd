//! Removing what runs created: one run's objects at its end
//! ([`remove_run`]), and whatever a dead gauntlet of this host left
//! ([`sweep_dead`]). Both find objects only by their ownership labels, so
//! nothing unlabelled is ever touched.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder,
};

use crate::owner::{Liveness, check_run_id};
use crate::{Container, DockerError, Engine, OWNER_LABEL, RUN_LABEL, remove_image};

/// What a cleanup removed, and what it could not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Containers (by name), killed first if they ran, with their
    /// anonymous volumes.
    pub containers: Vec<String>,
    /// Networks, by name.
    pub networks: Vec<String>,
    /// Named volumes.
    pub volumes: Vec<String>,
    /// Images, by tag (by id when untagged).
    pub images: Vec<String>,
    /// Objects that stayed, each with the engine's reason (an image another
    /// run's container still uses, a volume still mounted, ...).
    pub failed: Vec<(String, String)>,
}

/// The kinds of objects a cleanup removes, in the order it removes them.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Container,
    Network,
    Volume,
    Image,
}

impl Removed {
    /// Files one removal's result. A 404 means another cleanup (a second
    /// gauntlet sweeping at the same moment) got there first: gone is what
    /// was wanted, but not ours to report as removed.
    fn record(&mut self, kind: Kind, name: String, result: Result<(), DockerError>) {
        match result {
            Ok(()) => match kind {
                Kind::Container => self.containers.push(name),
                Kind::Network => self.networks.push(name),
                Kind::Volume => self.volumes.push(name),
                Kind::Image => self.images.push(name),
            },
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                let noun = format!("{kind:?}").to_lowercase();
                self.failed.push((format!("{noun} {name}"), e.to_string()));
            }
        }
    }

    /// Whether nothing was removed and nothing failed.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
            && self.images.is_empty()
            && self.failed.is_empty()
    }
}

/// Removes every container, network, volume and image of run `run`: the
/// normal end of a run, and what Ctrl-C and a panic do. Containers go
/// first (a network or volume in use cannot be removed), images last and
/// never forced.
pub async fn remove_run(engine: &Engine, run: &str) -> Result<Removed, DockerError> {
    check_run_id(run)?;
    remove_labelled(engine, &format!("{RUN_LABEL}={run}"), |_| true).await
}

/// Removes what gauntlet processes of this host that are no longer alive
/// left on the engine (after a SIGKILL, an OOM kill, a power loss): every
/// object whose [`OWNER_LABEL`] names this host and a pid that no longer
/// runs with that start time. Never touches an object without the label,
/// one of a live owner, or one of another host (whose pids mean nothing
/// here). Call it before a run starts.
pub async fn sweep_dead(engine: &Engine) -> Result<Removed, DockerError> {
    remove_labelled(engine, OWNER_LABEL, |labels| {
        labels
            .get(OWNER_LABEL)
            .and_then(|o| crate::owner::parse_owner_label(o))
            .is_some_and(|o| o.liveness() == Liveness::Dead)
    })
    .await
}

/// Removes the objects matching the engine's label filter `filter` for
/// which `doomed(labels)` holds, containers first.
async fn remove_labelled(
    engine: &Engine,
    filter: &str,
    doomed: impl Fn(&HashMap<String, String>) -> bool,
) -> Result<Removed, DockerError> {
    let filters = HashMap::from([("label", vec![filter])]);
    let docker = engine.client();
    let mut removed = Removed::default();

    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(DockerError::engine(format!(
            "list containers labelled {filter}"
        )))?;
    for c in containers {
        if !doomed(&c.labels.clone().unwrap_or_default()) {
            continue;
        }
        let Some(id) = c.id else { continue };
        let name = c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| id.clone());
        let result = Container::existing(engine, id).remove().await;
        removed.record(Kind::Container, name, result);
    }

    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(DockerError::engine(format!(
            "list networks labelled {filter}"
        )))?;
    for n in networks {
        if !doomed(&n.labels.clone().unwrap_or_default()) {
            continue;
        }
        let Some(id) = n.id else { continue };
        let name = n.name.unwrap_or_else(|| id.clone());
        let result = docker
            .remove_network(&id)
            .await
            .map_err(DockerError::engine(format!("remove network {name}")));
        removed.record(Kind::Network, name, result);
    }

    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(DockerError::engine(format!(
            "list volumes labelled {filter}"
        )))?;
    for v in volumes.volumes.unwrap_or_default() {
        if !doomed(&v.labels) {
            continue;
        }
        let result = docker
            .remove_volume(
                &v.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
            .map_err(DockerError::engine(format!("remove volume {}", v.name)));
        removed.record(Kind::Volume, v.name, result);
    }

    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(DockerError::engine(format!(
            "list images labelled {filter}"
        )))?;
    for i in images {
        if !doomed(&i.labels) {
            continue;
        }
        let name = i
            .repo_tags
            .iter()
            .find(|t| t.as_str() != "<none>:<none>")
            .cloned()
            .unwrap_or_else(|| i.id.clone());
        // By id: every tag of it goes, and an image in use stays (409).
        let result = remove_image(engine, &i.id).await;
        removed.record(Kind::Image, name, result);
    }
    Ok(removed)
}
