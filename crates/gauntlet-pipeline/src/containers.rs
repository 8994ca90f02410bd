//! The run's containers: a `docker` backend for every service of the
//! plan with `backend = "docker"`, on the engine `DOCKER_HOST` names (or
//! the local socket). Made before the run's services start and held to
//! its end, as the network lab is; dropping [`Containers`] removes every
//! container, network, volume and image the run made, however the run
//! ended (a stage's failure, Ctrl-C, a panic unwinding). What a killed
//! gauntlet left is removed by the next one's [`up`] (or `gauntlet clean`).

use std::collections::BTreeMap;
use std::sync::Arc;

use gauntlet_docker::{
    Attachment, ContainerSpec, DockerBackend, DockerError, Engine, Mount, Network, Ownership,
    Protocol, Publish, Volume, on_engine, on_engine_async,
};
use gauntlet_node::Backend;
use gauntlet_plan::{ContainerService, DEFAULT_NETWORK, ImageSource, Plan, Service, VolumeSource};

use crate::PipelineError;
use crate::container_net::ContainerNet;

/// The run's engine and a backend per docker service.
pub(crate) struct Containers {
    engine: Engine,
    run: String,
    /// Service name → its container's backend.
    pub backends: BTreeMap<String, Arc<dyn Backend>>,
    /// Partitions and disconnects between the containers.
    pub net: Arc<ContainerNet>,
}

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containers")
            .field("run", &self.run)
            .field("services", &self.backends.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Connects to the engine and prepares every docker service of `plan`
/// (its image, its volumes, its container's spec); `None` when the plan
/// has none. Sweeps what dead gauntlets left on the engine first.
pub(crate) async fn up(plan: &Plan, run: &str) -> Result<Option<Containers>, PipelineError> {
    let docker: Vec<(&Service, &ContainerService)> = plan
        .services
        .iter()
        .filter_map(|s| s.container.as_ref().map(|c| (s, c)))
        .collect();
    if docker.is_empty() {
        return Ok(None);
    }
    let engine = on_engine_async(async {
        let engine = Engine::connect().await?;
        engine.ping().await?;
        Ok::<_, DockerError>(engine)
    })
    .await
    .map_err(docker_error)?;
    let sweep_engine = engine.clone();
    // A sweep that fails (an engine refusing one removal) is no reason
    // not to run; what it could not remove it names in `failed`.
    let _ = on_engine_async(async move { gauntlet_docker::sweep_dead(&sweep_engine).await }).await;
    // From here on the guard removes what was made, also on an error.
    let mut containers = Containers {
        engine: engine.clone(),
        run: run.to_owned(),
        backends: BTreeMap::new(),
        net: Arc::new(ContainerNet::new(engine.clone())),
    };
    let mut net = ContainerNet::new(engine.clone());
    let own = Ownership::new(run).map_err(docker_error)?;
    // The run's own networks, as Compose makes them per project: each
    // service reached by its name on every network it joins. `default`
    // (every service that names none) is `gauntlet-<run>`; another is
    // `gauntlet-<run>-<name>`.
    let mut networks: BTreeMap<String, String> = BTreeMap::new();
    for (_, container) in &docker {
        for wanted in joined(container) {
            if networks.contains_key(wanted) {
                continue;
            }
            let full = if wanted == DEFAULT_NETWORK {
                format!("gauntlet-{run}")
            } else {
                format!("gauntlet-{run}-{wanted}")
            };
            let (engine, own) = (engine.clone(), own.clone());
            let made = on_engine_async(async move { Network::create(&engine, &own, full).await })
                .await
                .map_err(docker_error)?;
            networks.insert(wanted.to_owned(), made.name().to_owned());
        }
    }
    let mut volumes: BTreeMap<String, String> = BTreeMap::new();
    for (service, container) in docker {
        let image = image_of(&engine, &own, service, container).await?;
        let mut spec = ContainerSpec::new(&own, format!("{}-{run}", service.name), image);
        spec.command = container.command.clone().unwrap_or_default();
        spec.env = service
            .run
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        spec.ports = container
            .ports
            .iter()
            .map(|p| Publish {
                container_port: p.container_port,
                host_port: p.host_port,
                host_ip: p.host_ip,
                protocol: if p.udp { Protocol::Udp } else { Protocol::Tcp },
            })
            .collect();
        spec.memory_bytes = container.mem_limit;
        spec.networks = joined(container)
            .map(|n| Attachment {
                network: networks[n].clone(),
                aliases: vec![service.name.clone()],
            })
            .collect();
        spec.entrypoint = container.entrypoint.clone();
        spec.working_dir = container.working_dir.clone();
        spec.user = container.user.clone();
        if let Some(compose) = &plan.compose {
            spec.labels
                .insert(PROJECT_LABEL.to_owned(), compose.project.clone());
        }
        for v in &container.volumes {
            let source = match &v.source {
                VolumeSource::Bind(path) => path.display().to_string(),
                VolumeSource::Named(name) => match volumes.get(name) {
                    Some(made) => made.clone(),
                    None => {
                        // The run's own volume: never a user's of that name.
                        let (engine, own, full) =
                            (engine.clone(), own.clone(), format!("{name}-{run}"));
                        let made =
                            on_engine_async(
                                async move { Volume::create(&engine, &own, full).await },
                            )
                            .await
                            .map_err(docker_error)?;
                        volumes.insert(name.clone(), made.name().to_owned());
                        made.name().to_owned()
                    }
                },
            };
            let mut mount = Mount::new(source, v.target.clone());
            mount.read_only = v.read_only;
            spec.mounts.push(mount);
        }
        net.add(
            &service.name,
            &spec.name,
            spec.networks.iter().map(|a| a.network.clone()).collect(),
        );
        containers.backends.insert(
            service.name.clone(),
            Arc::new(DockerBackend::new(engine.clone(), spec)),
        );
    }
    containers.net = Arc::new(net);
    Ok(Some(containers))
}

/// The label naming the Compose project a container's service came from.
const PROJECT_LABEL: &str = "io.gauntlet.compose.project";

/// The networks (by the plan's names) a service's container joins.
fn joined(container: &ContainerService) -> impl Iterator<Item = &str> {
    let named = container.networks.iter().map(String::as_str);
    let default = container
        .networks
        .is_empty()
        .then_some(DEFAULT_NETWORK)
        .into_iter();
    named.chain(default)
}

/// The image a service's container runs: one the engine has (checked
/// now, so a missing one is named before anything starts), or one built
/// from an executable.
async fn image_of(
    engine: &Engine,
    own: &Ownership,
    service: &Service,
    container: &ContainerService,
) -> Result<String, PipelineError> {
    let (engine, own, source) = (engine.clone(), own.clone(), container.image.clone());
    let service = service.name.clone();
    let tag = format!("gauntlet/{service}:{}", own.run());
    on_engine_async(async move {
        let built = match source {
            ImageSource::Local(name) => {
                return match gauntlet_docker::find_image(&engine, &name).await {
                    Ok(Some(_)) => Ok(name),
                    Ok(None) => Err(PipelineError::Docker(format!(
                        "service {service}: the engine at {} has no image {name} (gauntlet pulls nothing: build it, or `docker pull` / `docker load` it first)",
                        engine.host()
                    ))),
                    Err(e) => Err(PipelineError::Docker(format!("service {service}: {e}"))),
                };
            }
            ImageSource::Binary { path, args } => {
                gauntlet_docker::build_from_binary(&engine, &own, &tag, &path, &args).await
            }
            ImageSource::Dockerfile {
                context,
                dockerfile,
                args,
            } => {
                gauntlet_docker::build_from_dockerfile(
                    &engine,
                    &own,
                    &tag,
                    &context,
                    &dockerfile,
                    &args,
                )
                .await
            }
        };
        built
            .map(|image| image.tag)
            .map_err(|e| PipelineError::Docker(format!("service {service}: {e}")))
    })
    .await
}

fn docker_error(e: DockerError) -> PipelineError {
    PipelineError::Docker(e.to_string())
}

impl Drop for Containers {
    /// Removes everything of the run from the engine (containers first,
    /// killed, then networks, volumes, images), blocking for the engine's
    /// answers: the run is over, and nothing of it may outlive it.
    fn drop(&mut self) {
        let (engine, run) = (self.engine.clone(), self.run.clone());
        let _ = on_engine(async move { gauntlet_docker::remove_run(&engine, &run).await });
    }
}
